# Client bindings in SQL (issue 17, docs/security.md "System clients"): who
# may bind a system client to an operator (the operator itself, a regulator
# of its home jurisdiction, the admin; never the client, never another
# operator, never a regulator elsewhere), the ledger entries of each grant
# and withdrawal, what each role reads of the bindings (row-level security),
# and set_acting_operator, which lets a system client's request act only for
# an operator bound to it. Each request runs as the gateway runs it: logged
# in as shilian_gateway, BEGIN, the role and the settings, the call, COMMIT.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('bindings');

# Counties 370102 (A, D) and 370112 (B). Clients: a market and an ERP.
$node->safe_psql('postgres', q{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370112', '历城区');
	SELECT shilian.jurisdiction_add('370102001', '泉城路所');
	SELECT shilian.jurisdiction_add('370112001', '洪家楼所');
	SELECT shilian.operator_register('A vendor', 'circulation', '{market_vendor}', '370102001', 'addr A', 'tel A', reg_card => 'CARD-A');
	SELECT shilian.operator_register('B vendor', 'circulation', '{market_vendor}', '370112001', 'addr B', 'tel B', reg_card => 'CARD-B');
	SELECT shilian.operator_register('D vendor', 'circulation', '{market_vendor}', '370102001', 'addr D', 'tel D', reg_card => 'CARD-D');
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.api_client_add('market', 'Quancheng market system', 'market');
	SELECT shilian.api_client_add('erp-b', 'B''s ERP', 'own_system');
});
my ($A, $B, $D) = (1, 2, 3);

sub q_lit { my $s = shift // ''; $s =~ s/'/''/g; return "'$s'"; }

# $sql in a request transaction for $who = {role, op, jur, client}: (stdout, stderr).
sub request
{
	my ($who, $sql) = @_;
	my $pre = sprintf("\\set VERBOSITY verbose\nBEGIN;\nSELECT set_config('role', %s, true), "
		  . "set_config('shilian.jurisdiction', %s, true), set_config('shilian.client', %s, true), "
		  . "shilian.set_acting_operator(%s) \\g /dev/null\n",
		q_lit($who->{role}), q_lit($who->{jur}), q_lit($who->{client}), q_lit($who->{op}));
	my ($rc, $out, $err) = $node->psql('postgres', "$pre$sql;\nCOMMIT;\n",
		extra_params => [ '-U', 'shilian_gateway', '-v', 'ON_ERROR_STOP=1' ]);
	return ($out, $err);
}

sub ok_sql
{
	my ($who, $sql, $want, $name) = @_;
	my ($out, $err) = request($who, $sql);
	is("$out$err", $want, $name);
}

sub refused
{
	my ($who, $sql, $code, $name) = @_;
	my ($out, $err) = request($who, $sql);
	like($err, qr/ERROR:\s+$code:/, $name);
}

my $opA = { role => 'shilian_operator', op => $A };
my $opB = { role => 'shilian_operator', op => $B };
my $reg102 = { role => 'shilian_regulator', jur => '370102' };
my $reg112 = { role => 'shilian_regulator', jur => '370112' };
my $market = { role => 'shilian_system', client => 'market' };
my $public = { role => 'shilian_public' };
my $admin = { role => 'shilian_admin' };

# ---- granting ---------------------------------------------------------------

ok_sql($opA, "SELECT shilian.api_client_bind('market', $A)", '', 'an operator binds a market system to itself');
refused($opA, "SELECT shilian.api_client_bind('market', $B)", 'SLA03',
	'an operator may not bind a client for another operator');
refused($opA, "SELECT shilian.api_client_bind('erp-b', $B)", 'SLA03',
	'nor bind someone else\'s client for another operator');
refused($opA, "SELECT shilian.api_client_bind('market', 999999)", 'SLA03',
	'an unknown operator is refused like any other (no existence oracle)');
refused($reg112, "SELECT shilian.api_client_bind('market', $D)", 'SLA03',
	'a regulator outside the operator\'s jurisdiction may not grant');
ok_sql($reg102, "SELECT shilian.api_client_bind('market', $D)", '', 'a regulator of its jurisdiction grants');
ok_sql($opB, "SELECT shilian.api_client_bind('erp-b', $B)", '', 'an enterprise binds its own system');
refused($market, "SELECT shilian.api_client_bind('market', $B)", '42501',
	'a system client may not bind itself (no EXECUTE)');
refused($public, "SELECT shilian.api_client_bind('market', $B)", '42501', 'nor the public');
refused($opA, "SELECT shilian.api_client_bind('nobody', $A)", 'P0002', 'an unknown client: P0002');
ok_sql($opA, "SELECT shilian.api_client_bind('market', $A)", '', 'binding twice is harmless');

is($node->safe_psql('postgres', q{SELECT string_agg(client || ':' || operator_id || ':' || bound_by, ' '
	ORDER BY operator_id, client) FROM shilian.api_client_operator}),
	"market:$A:operator erp-b:$B:operator market:$D:regulator:370102", 'each binding names who granted it');
is($node->safe_psql('postgres', q{SELECT string_agg(l.operator_id || ':' || l.kind || ':' || (shilian.ledger_body(l.body) ->> 'client')
	|| ':' || (shilian.ledger_body(l.body) ->> 'by'), ' ' ORDER BY l.id) FROM shilian.ledger l}),
	"$A:client_bind:market:operator $D:client_bind:market:regulator:370102 $B:client_bind:erp-b:operator",
	'each grant is one client_bind entry on the operator\'s own chain (none for the repeat)');
is($node->safe_psql('postgres', q{SELECT bool_and(b.ledger_id = l.id) FROM shilian.api_client_operator b
	JOIN shilian.ledger l ON l.operator_id = b.operator_id AND l.kind = 'client_bind'}), 't',
	'the binding points at its ledger entry');

# ---- reading (row-level security) -------------------------------------------

ok_sql($opA, 'SELECT string_agg(client || \':\' || operator, \' \') FROM shilian.api_client_bindings()', "market:$A",
	'an operator reads its own bindings');
ok_sql($opA, 'SELECT count(*) FROM shilian.api_client_operator', '1', 'and no other row of api_client_operator');
ok_sql($opA, 'SELECT string_agg(client, \' \') FROM shilian.api_client', 'market',
	'it reads the clients bound to it, not the others');
ok_sql($opA, "SELECT count(*) FROM shilian.api_client_bindings($B)", '0', 'asking for another operator\'s bindings: nothing');
ok_sql($reg102, 'SELECT string_agg(client || \':\' || operator, \' \') FROM shilian.api_client_bindings()',
	"market:$A market:$D", 'a regulator reads the bindings of its jurisdiction only');
ok_sql($market, 'SELECT string_agg(client || \':\' || operator, \' \') FROM shilian.api_client_bindings()',
	"market:$A market:$D", 'a system client reads its own bindings');
ok_sql($admin, 'SELECT count(*) FROM shilian.api_client_bindings()', '3', 'the admin reads all');

# ---- the acting operator ------------------------------------------------------

ok_sql({ %$market, op => $A }, "SELECT current_setting('shilian.operator_id')", "$A",
	'a system client acts for a bound operator');
refused({ %$market, op => $B }, 'SELECT 1', 'SLA02', 'set_acting_operator refuses an operator not bound to the client');
refused({ role => 'shilian_system', client => 'erp-b', op => $A }, 'SELECT 1', 'SLA02',
	'nor another client\'s operator');
refused({ role => 'shilian_system', op => $A }, 'SELECT 1', 'SLA02', 'nor any operator without shilian.client');
ok_sql($opB, "SELECT current_setting('shilian.operator_id')", "$B", 'an operator acts for its own id');
ok_sql({ %$market, op => $A }, "SELECT count(*) FROM shilian.receipt_drafts($A)", '0',
	'the bound operator\'s drafts are readable');
refused({ %$market, op => $A }, "SELECT count(*) FROM shilian.receipt_drafts($D)", '42501',
	'but only the acting operator\'s, though the client is bound to both');

# ---- withdrawing --------------------------------------------------------------

refused($opA, "SELECT shilian.api_client_unbind('market', $D)", 'SLA03', 'an operator may not unbind another\'s binding');
refused($reg112, "SELECT shilian.api_client_unbind('market', $D)", 'SLA03', 'nor a regulator elsewhere');
ok_sql($opA, "SELECT shilian.api_client_unbind('market', $A)", '', 'an operator withdraws its binding');
refused({ %$market, op => $A }, 'SELECT 1', 'SLA02', 'after which the client may no longer act for it');
ok_sql($opA, "SELECT shilian.api_client_unbind('market', $A)", '', 'withdrawing twice is harmless');
is($node->safe_psql('postgres', qq{SELECT string_agg(kind || ':' || (shilian.ledger_body(body) ->> 'by'), ' ' ORDER BY id)
	FROM shilian.ledger WHERE operator_id = $A}), 'client_bind:operator client_unbind:operator',
	'the withdrawal is one client_unbind entry on the operator\'s chain');
is($node->safe_psql('postgres', 'SELECT bool_and(ok) FROM shilian.chain_verify()'), 't', 'the chains verify');

done_testing();
