# A role that is both an operator and a regulator (docs/security.md, "A role
# in several groups"): a database role granted shilian_operator and
# shilian_regulator, with shilian.operator_id and shilian.jurisdiction both
# set. Its reads must be exactly the union of what each binding allows: for
# every read below, the rows the dual role gets equal the union of the rows
# a pure operator role (the same operator) and a pure regulator role (the
# same jurisdiction) get. Before 0.3.0's fix every such read failed with
# "stack depth limit exceeded": the policy on operator read link, whose
# regulator policy read operator again (through subtree_operators()).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('dual');

# The fixture of t/030 (ShilianTest::security_fixture). Counties 370102 (A, D)
# and 370112 (F, B, C). F sells to A and to B; B sells to C; A sells to D.
my %fx = security_fixture($node);
$node->safe_psql('postgres', q{
	-- the dual role: a member of both groups (inheriting their rights, so
	-- both groups' policies apply); the gateway may switch to it
	CREATE ROLE shilian_test_dual NOLOGIN;
	GRANT shilian_operator, shilian_regulator TO shilian_test_dual;
	GRANT shilian_test_dual TO shilian_gateway;
	CREATE ROLE shilian_test_dual_sys NOLOGIN;
	GRANT shilian_system, shilian_regulator TO shilian_test_dual_sys;
	GRANT shilian_test_dual_sys TO shilian_gateway;
});
my ($F, $A, $B, $C, $D) = (1, 2, 3, 4, 5);
# a recall of F's lot, opened by the provincial regulator
$node->safe_psql('postgres', qq{
	BEGIN;
	SET LOCAL role shilian_regulator;
	SELECT set_config('shilian.jurisdiction', '370000', true);
	SELECT shilian.recall_open('$fx{f1}', 'dual-role probe');
	COMMIT;
});

sub q_lit { my $s = shift // ''; $s =~ s/'/''/g; return "'$s'"; }

# Run $sql as the gateway does, for $who = {role, op, jur}: the rows as a
# sorted list of lines, or undef and the error.
sub request
{
	my ($who, $sql) = @_;
	my $pre = sprintf("BEGIN;\nSELECT set_config('role', %s, true), "
		  . "set_config('shilian.operator_id', %s, true), set_config('shilian.jurisdiction', %s, true), "
		  . "set_config('shilian.client', %s, true) \\g /dev/null\n",
		q_lit($who->{role}), q_lit($who->{op}), q_lit($who->{jur}), q_lit($who->{client}));
	my ($rc, $out, $err) = $node->psql('postgres', "$pre$sql;\nCOMMIT;\n",
		extra_params => [ '-U', 'shilian_gateway', '-v', 'ON_ERROR_STOP=1' ]);
	return (undef, $err) if $rc != 0 || $err ne '';
	return ([ sort grep { $_ ne '' } split /\n/, $out ], '');
}

# The reads: every table a request may read (each row as text), and the
# functions that read for the caller.
my @tables = qw(operator licence product batch link inspection consumption ledger ledger_leaf
	api_client api_client_operator recall recall_target epcis_event correction alert
	gs1_location batch_item item_link logistic_unit import_job);
my @reads = map { ["table $_", "SELECT t::text FROM shilian.$_ t"] } @tables;
for my $lot (qw(f1 a1 b1 c1 d1 b2))
{
	push @reads, ["trace_forward($lot)",
		"SELECT t::text FROM shilian.trace_forward('$fx{$lot}') t"];
	push @reads, ["trace_backward($lot)",
		"SELECT t::text FROM shilian.trace_backward('$fx{$lot}') t"];
	push @reads, ["public_token($lot)", "SELECT shilian.public_token('$fx{$lot}')"];
}
for my $op ($F, $A, $B, $C, $D)
{
	push @reads, ["receipt_drafts($op)", "SELECT t::text FROM shilian.receipt_drafts($op) t"];
	push @reads, ["chain_verify($op)", "SELECT t::text FROM shilian.chain_verify($op) t"];
	push @reads, ["api_client_bindings($op)", "SELECT t::text FROM shilian.api_client_bindings($op) t"];
	push @reads, ["may_see($op)", "SELECT $op WHERE shilian.may_see($op)"];
}
push @reads, ["record_completeness(sale $_)",
	"SELECT t::text FROM shilian.record_completeness('sale', $fx{$_}) t"] for qw(l_fa l_fb l_bc l_ad);

# Rows: the union of the two lists.
sub union
{
	my %u = map { $_ => 1 } map { @{ $_ // [] } } @_;
	return keys %u;
}

# A walk (trace_forward, trace_backward) runs over the rows the caller sees,
# so the dual role's walk runs over the union of links and lots: it reaches
# every lot either binding's walk reaches, and may go on where a link of one
# binding continues a path of the other (a lot neither walk alone reaches
# from that start). Each row is (batch, holder, depth, via_link,
# qty_reached, qty_on_hand, status): a lot whose batch row the caller sees
# is whole, any other is shown by code and holder only (other_holder), as
# for a pure role. Returns what is wrong, if anything.
sub walk_check
{
	my ($d, $o, $g, $visible) = @_;
	my (@bad, %dual);
	return ('refused, but a binding walks') if !defined $d;
	for my $row (@$d)
	{
		my ($code) = $row =~ /^\((\d+),/ or return ("walk row $row");
		$dual{$code} = $row;
		my $whole = $row !~ /,other_holder\)$/;
		push @bad, "lot $code " . ($whole ? 'whole, but its batch row is not visible'
			: 'by code only, but its batch row is visible')
		  if $whole != !!$visible->{$code};
	}
	for my $row (map { @{ $_ // [] } } $o, $g)
	{
		my ($code) = $row =~ /^\((\d+),/;
		if (!exists $dual{$code}) { push @bad, "lot $code of a binding's walk is missing"; next; }
		push @bad, "lot $code: $dual{$code}, a binding sees $row"
		  if $row !~ /,other_holder\)$/ && $row ne $dual{$code};
	}
	return @bad;
}

# The codes of the batch rows a caller sees.
my %codes_of;
sub batch_codes
{
	my $who = shift;
	my $key = join '|', map { $who->{$_} // '' } qw(role op jur client);
	return $codes_of{$key} //= { map { $_ => 1 } @{ (request($who, 'SELECT trace_code FROM shilian.batch'))[0] } };
}

# Dual bindings: one whose two views touch (operator A at home in 370102, its
# own regulator) and two whose views are apart (operator C with the
# regulator of 370102; operator A with the regulator of 370112, whose
# operator F supplies A).
# A system client that is also a regulator (a second role, granted
# shilian_system and shilian_regulator): erp-b (bound to B) with the
# regulator of 370102, whose operator A buys from B's supplier F.
for my $pair ([$A, '370102'], [$C, '370102'], [$A, '370112'], [$D, '370000'], ['erp-b', '370102'])
{
	my ($op, $jur) = @$pair;
	my $sys = $op !~ /^\d+$/;
	my $dual = $sys ? { role => 'shilian_test_dual_sys', client => $op, jur => $jur }
		: { role => 'shilian_test_dual', op => $op, jur => $jur };
	my $pure_op = $sys ? { role => 'shilian_system', client => $op } : { role => 'shilian_operator', op => $op };
	my $pure_reg = { role => 'shilian_regulator', jur => $jur };
	for my $r (@reads)
	{
		my ($name, $sql) = @$r;
		my ($o, $oerr) = request($pure_op, $sql);
		my ($g, $gerr) = request($pure_reg, $sql);
		my ($d, $derr) = request($dual, $sql);
		my $label = ($sys ? "client $op" : "operator $op") . " + regulator $jur: $name";
		if (!defined $o && !defined $g)
		{
			ok(!defined $d, "$label: refused as both are")
			  or diag("dual got rows: @{ $d // [] }; operator: $oerr; regulator: $gerr");
			next;
		}
		if ($name =~ /^trace_/)
		{
			my @bad = walk_check($d, $o, $g, batch_codes($dual));
			ok(!@bad, "$label: the walk over the union")
			  or diag(join("\n", @bad, "dual: " . join(' ; ', @{ $d // [$derr] }),
				"operator: " . join(' ; ', @{ $o // [$oerr] }),
				"regulator: " . join(' ; ', @{ $g // [$gerr] })));
			next;
		}
		is_deeply($d, [ sort(union($o, $g)) ], "$label: the union")
		  or diag("dual error: $derr\noperator: " . join(' ; ', @{ $o // [$oerr] })
			. "\nregulator: " . join(' ; ', @{ $g // [$gerr] }));
	}
}

# The union is no more than the union: operator C with the regulator of
# 370102 does not see F (a counterparty of A, at home in 370112), which the
# policy on operator would show if it read link with the dual role's rights.
my ($rows) = request({ role => 'shilian_test_dual', op => $C, jur => '370102' },
	'SELECT id FROM shilian.operator');
is_deeply($rows, [ sort $A, $B, $C, $D ], 'operator C + regulator 370102: operators B, C (own) and A, D (subtree), not F');

# The walk over the union goes on where one binding's link continues the
# other's path: operator A with the regulator of 370112 walks from F's lot
# (its regulator's) to its own lot a1 (whole: its own row) and on to D's lot
# d1 over its own sale (by code and holder only: D is neither).
($rows) = request({ role => 'shilian_test_dual', op => $A, jur => '370112' },
	"SELECT batch || ' ' || holder || ' ' || depth || ' ' || status FROM shilian.trace_forward('$fx{f1}')");
is_deeply($rows, [ sort "$fx{f1} $F 0 origin", "$fx{a1} $A 1 on_hand", "$fx{b1} $B 1 on_hand",
	"$fx{c1} $C 2 on_hand", "$fx{d1} $D 2 other_holder" ],
	'operator A + regulator 370112: trace_forward of F\'s lot goes on through A\'s own sale');

# The system client's counterparties come through client_counterparties:
# erp-b (B) with the regulator of 370102 sees B, B's counterparties F and C
# (its binding), and A, D (the subtree).
($rows) = request({ role => 'shilian_test_dual_sys', client => 'erp-b', jur => '370102' },
	'SELECT id FROM shilian.operator');
is_deeply($rows, [ sort $F, $A, $B, $C, $D ], 'client erp-b + regulator 370102: B and its counterparties F, C; A, D');

# Both settings empty: nothing (O5, R4 hold for the dual role too).
for my $t (qw(operator batch link))
{
	my ($r, $e) = request({ role => 'shilian_test_dual' }, "SELECT count(*) FROM shilian.$t");
	is_deeply($r, ['0'], "dual role without settings: no $t row") or diag($e);
}

done_testing();
