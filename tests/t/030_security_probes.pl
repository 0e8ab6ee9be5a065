# Security probes (issue 7, docs/security.md "The promise"): each probe runs
# as the gateway does — logged in as shilian_gateway, BEGIN, one SELECT of
# set_config('role', ...) and the shilian.* settings with is_local, the
# call, COMMIT — and asserts a denial (no rows, or the error it must get)
# or, for the positive cases, exactly what the role must see. Probe names
# start with the promise row they prove (O1..., R1..., S1..., P1..., A1...).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('security');

# The fixture (ShilianTest::security_fixture): counties 370102 (A, D) and
# 370112 (F, B, C); F sells to A and to B, B to C, A to D.
my %fx = security_fixture($node);
my ($F, $A, $B, $C, $D) = (1, 2, 3, 4, 5);

# ---- running as the gateway does --------------------------------------------

my $n_deny = 0;
my $n_see = 0;

sub q_lit { my $s = shift // ''; $s =~ s/'/''/g; return "'$s'"; }

# Run $sql in a request transaction for $who = {role, op, jur, client};
# returns (stdout, stderr).
sub request
{
	my ($who, $sql) = @_;
	my $pre = sprintf("\\set VERBOSITY verbose\nBEGIN;\nSELECT set_config('role', %s, true), "
		  . "set_config('shilian.operator_id', %s, true), set_config('shilian.jurisdiction', %s, true), "
		  . "set_config('shilian.client', %s, true) \\g /dev/null\n",
		q_lit($who->{role}), q_lit($who->{op}), q_lit($who->{jur}), q_lit($who->{client}));
	my ($rc, $out, $err) = $node->psql('postgres', "$pre$sql;\nCOMMIT;\n",
		extra_params => [ '-U', 'shilian_gateway', '-v', 'ON_ERROR_STOP=1' ]);
	return ($out, $err);
}

# Denial by emptiness: $sql (a count) must return 0 and raise nothing.
sub deny_rows
{
	my ($who, $sql, $name) = @_;
	my ($out, $err) = request($who, $sql);
	$n_deny++;
	ok($out eq '0' && $err eq '', "DENY $name") or diag("got '$out' / $err");
}

# Denial by error: $sql must fail with SQLSTATE $code, and the message must
# not contain any of @$secret (ids or names the caller may not learn).
sub deny_error
{
	my ($who, $sql, $code, $name, $secret) = @_;
	my ($out, $err) = request($who, $sql);
	$n_deny++;
	my $ok = $err =~ /ERROR:\s+$code\w*:/;
	for my $s (@{ $secret // [] }) { $ok = 0 if $err =~ /\Q$s\E/; }
	ok($ok, "DENY $name") or diag("got '$out' / $err");
}

# Positive: $sql as $who must return what $admin_sql returns as the superuser.
sub see_as_admin
{
	my ($who, $sql, $admin_sql, $name) = @_;
	my $want = $node->safe_psql('postgres', $admin_sql);
	my ($out, $err) = request($who, $sql);
	$n_see++;
	is("$out$err", $want, "SEE $name");
}

# Positive: $sql must return exactly $want.
sub see
{
	my ($who, $sql, $want, $name) = @_;
	my ($out, $err) = request($who, $sql);
	$n_see++;
	is("$out$err", $want, "SEE $name");
}

my $opA = { role => 'shilian_operator', op => $A };
my $opD = { role => 'shilian_operator', op => $D };
my $opC = { role => 'shilian_operator', op => $C };
my $opNone = { role => 'shilian_operator' };
my $reg102 = { role => 'shilian_regulator', jur => '370102' };
my $reg102st = { role => 'shilian_regulator', jur => '370102001' };
my $reg100 = { role => 'shilian_regulator', jur => '370100' };
my $regNone = { role => 'shilian_regulator' };
my $sysA = { role => 'shilian_system', client => 'erp-a' };
my $sysNone = { role => 'shilian_system', client => 'no-such-client' };
my $public = { role => 'shilian_public' };
my $admin = { role => 'shilian_admin' };
my $report_in = q('{"inspector": "x"}');

# ---- O: an operator ----------------------------------------------------------

# O1 own rows
see($opA, "SELECT count(*) FROM shilian.batch", '1', 'O1 operator A lists exactly its one batch');
see($opA, "SELECT string_agg(id::text, ',' ORDER BY id) FROM shilian.link",
	join(',', sort { $a <=> $b } @fx{qw(l_fa l_ad l_fa2)}), 'O1 operator A sees exactly its links as buyer and seller');
see($opA, "SELECT count(*) > 0 AND bool_and(operator_id = $A) FROM shilian.ledger", 't', 'O1 operator A sees its own ledger entries only');
see($opA, "SELECT count(*) FROM shilian.inspection", '1', 'O1 operator A sees its incoming inspection');
see($opA, "SELECT string_agg(licence_no::text, ',' ORDER BY id) FROM shilian.licence",
	'JY13701020000018,JY33701020000056', 'O1 operator A sees its licence and its customer D\'s');
see($opA, "SELECT count(*) FROM shilian.receipt_drafts($A)", '1', 'O1 operator A reads its receipt draft');
see_as_admin($opA, "SELECT * FROM shilian.record_completeness('sale', $fx{l_ad})",
	"SELECT * FROM shilian.record_completeness('sale', $fx{l_ad})",
	'O1 operator A checks its sale record, with its buyer\'s name, address and contact (as the superuser sees it)');
see_as_admin($opA, "SELECT * FROM shilian.record_completeness('receipt', $fx{l_fa})",
	"SELECT * FROM shilian.record_completeness('receipt', $fx{l_fa})",
	'O1 operator A checks its incoming record, with its supplier\'s name, address and contact (as the superuser sees it)');
see($opA, "SELECT ok AND entries > 0 FROM shilian.chain_verify($A)", 't', 'O1 operator A verifies its own chain');
see($opA, "SELECT shilian.ship('$fx{a1}', $D, '1 kg') > 0", 't', 'O1 operator A ships its own batch');
# O2 counterparties: name and licence, nothing else
see($opA, "SELECT string_agg(name, ',' ORDER BY id) FROM shilian.operator", 'F farm,A wholesaler,D retailer',
	'O2 operator A sees itself and its counterparties F and D');
deny_rows($opA, "SELECT count(*) FROM shilian.batch WHERE owner_id IN ($F, $D)", 'O2 operator A reads its counterparties\' batches');
deny_rows($opA, "SELECT count(*) FROM shilian.link WHERE id IN ($fx{l_fb}, $fx{l_bc})", 'O2 operator A reads its supplier F\'s sale to B (a counterparty\'s other customer)');
deny_rows($opA, "SELECT count(*) FROM shilian.ledger WHERE operator_id IN ($F, $D)", 'O2 operator A reads its counterparties\' ledgers');
deny_rows($opA, "SELECT count(*) FROM shilian.operator WHERE id IN ($B, $C)", 'O2 operator A reads B and C (not its counterparties)');
# O3 another operator's records: plain SELECT
deny_rows($opA, "SELECT count(*) FROM shilian.batch WHERE owner_id = $B", 'O3 operator A reads B\'s batches');
deny_rows($opA, "SELECT count(*) FROM shilian.batch WHERE trace_code OPERATOR(shilian.=) '$fx{b1}'", 'O3 operator A reads B\'s batch by its trace code');
deny_rows($opA, "SELECT count(*) FROM shilian.link WHERE seller_id = $B OR buyer_id = $B", 'O3 operator A reads B\'s links with C');
deny_rows($opA, "SELECT count(*) FROM shilian.ledger WHERE operator_id = $B", 'O3 operator A reads B\'s ledger');
deny_rows($opA, "SELECT count(*) FROM shilian.inspection WHERE operator_id IN ($B, $C)", 'O3 operator A reads B\'s and C\'s inspections');
deny_rows($opA, "SELECT count(*) FROM shilian.consumption", 'O3 operator A reads C\'s consumption');
deny_rows($opA, "SELECT count(*) FROM shilian.licence WHERE operator_id = $B", 'O3 operator A reads B\'s licence');
deny_rows($opA, "SELECT count(*) FROM shilian.product WHERE owner_id = $B", 'O3 operator A reads B\'s own product');
deny_rows($opA, "SELECT count(*) FROM shilian.api_client_operator WHERE operator_id <> $A", 'O3 operator A reads which systems serve others');
# O3 through every API function that takes an id
deny_error($opA, "SELECT * FROM shilian.receipt_drafts($C)", '42501', 'O3 operator A reads C\'s receipt drafts (B\'s pending sale)', ['B wholesaler']);
deny_error($opA, "SELECT * FROM shilian.receipt_drafts($B)", '42501', 'O3 operator A reads B\'s receipt drafts');
deny_error($opA, "SELECT * FROM shilian.record_completeness('sale', $fx{l_bc})", 'SLR22', 'O3 operator A reads B\'s sale record to C', ['C retailer']);
deny_error($opA, "SELECT * FROM shilian.record_completeness('incoming', $fx{insp_c})", 'SLR22', 'O3 operator A reads C\'s incoming record');
deny_error($opA, "SELECT * FROM shilian.record_completeness('receipt', $fx{l_bc})", 'SLR22', 'O3 operator A reads C\'s incoming record by its receipt');
deny_error($opD, "SELECT * FROM shilian.record_completeness('sale', $fx{l_ad})", 'SLR22', 'O3 buyer D reads its seller A\'s sales record');
deny_error($opA, "SELECT * FROM shilian.chain_verify($B)", '42501', 'O3 operator A verifies (reads) B\'s chain');
deny_error($opA, "SELECT * FROM shilian.chain_verify()", '42501', 'O3 operator A verifies every chain');
see($opA, "SELECT shilian.may_see($B)", 'f', 'O3 may_see(B) is false for operator A');
# O4 writing for another operator
deny_error($opA, "SELECT shilian.ship('$fx{b1}', $A, '1 kg')", 'SLR04', 'O4 operator A ships B\'s batch (with its trace code)', ["operator $B"]);
deny_error($opA, "SELECT shilian.ship('$fx{b1}', $A, '1 kg', seller => $B)", '42501', 'O4 operator A ships B\'s batch naming B as seller', ["operator $B"]);
deny_error($opA, "SELECT shilian.consume('$fx{c1}', '1 kg', 'destroyed')", 'SLR04', 'O4 operator A consumes C\'s batch', ["operator $C"]);
deny_error($opA, "SELECT shilian.inspect('$fx{b1}', 'incoming', 'fail', $report_in)", 'SLR04', 'O4 operator A inspects B\'s batch');
deny_error($opA, "SELECT shilian.transform(ARRAY['$fx{b1}']::shilian.trace_code[], ARRAY['1 kg']::shilian.qty[], 1, '1 kg')",
	'SLR04', 'O4 operator A transforms B\'s batch');
deny_error($opA, "SELECT shilian.receive($fx{l_bc2}, '20 kg', $report_in)", '42501', 'O4 operator A receives B\'s sale to C', ["operator $C"]);
deny_error($opA, "SELECT shilian.reject($fx{l_bc2}, 'no')", '42501', 'O4 operator A rejects B\'s sale to C');
deny_error($opA, "SELECT shilian.batch_create($B, 1, '1 kg')", '42501', 'O4 operator A creates a batch for B');
deny_error($opA, "SELECT shilian.receive_first_entry($B, 1, '1 kg', '{\"name\": \"x\", \"contact\": \"y\"}', $report_in)",
	'42501', 'O4 operator A records a first entry for B');
deny_error($opA, "SELECT shilian.licence_add($B, 'JY13701020000025', '{vegetables}', '2020-01-01', '2030-01-01')",
	'42501', 'O4 operator A adds a licence to B (no EXECUTE)');
deny_error($opA, "SELECT shilian.licence_add($A, 'JY13701020000025', '{meat}', '2020-01-01', '2030-01-01')",
	'42501', 'O4 operator A adds a licence to itself (regulators issue licences)');
deny_error($opA, "SELECT shilian.product_register('x', 'other', owner => $B)", '42501', 'O4 operator A registers a product for B');
deny_error($opA, "SELECT shilian.operator_suspend($B, 'x')", '42501', 'O4 operator A suspends B (no EXECUTE)');
deny_error($opA, "SELECT shilian.operator_register('x', 'circulation', '{retailer}', '370102001', 'a', 'c', reg_card => 'X-1')",
	'42501', 'O4 operator A registers an operator (no EXECUTE)');
deny_error($opA, "SELECT shilian.ledger_append($B, 'x', '{}')", '42501', 'O4 operator A appends to B\'s chain (no EXECUTE)');
deny_error($opA, "SELECT shilian.jurisdiction_add('370103', 'x')", '42501', 'O4 operator A adds a jurisdiction (no EXECUTE)');
deny_error($reg102, "SELECT shilian.jurisdiction_add('370102002', 'x')", '42501', 'R3 a regulator adds a jurisdiction (admin only)');
deny_error($opA, "INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)"
	. " SELECT trace_code, owner_id, product_id, qty, qty_left, produced_on, origin FROM shilian.batch", '42501',
	'O4 operator A writes a table directly');
deny_error($opA, "UPDATE shilian.link SET buyer_id = $A", '42501', 'O4 operator A rewrites links directly');
# O5 no acting operator: nothing
deny_rows($opNone, "SELECT count(*) FROM shilian.batch", 'O5 the operator role without shilian.operator_id reads batches');
deny_error($opNone, "SELECT shilian.ship('$fx{a1}', $D, '1 kg')", '42501', 'O5 the operator role without shilian.operator_id ships');

# ---- R: a regulator ----------------------------------------------------------

see($reg102, "SELECT string_agg(name, ',' ORDER BY id) FROM shilian.operator", 'A wholesaler,D retailer',
	'R1 county 370102 sees its operators A and D');
see($reg102, "SELECT count(*) FROM shilian.batch", '2', 'R1 county 370102 sees the batches of A and D');
see_as_admin($reg102, "SELECT string_agg(id::text, ',' ORDER BY id) FROM shilian.link",
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM shilian.link WHERE seller_id IN ($A, $D) OR buyer_id IN ($A, $D)",
	'R1 county 370102 sees exactly the links its operators are party to');
see($reg102, "SELECT count(DISTINCT operator_id) FROM shilian.ledger", '2', 'R1 county 370102 sees the ledgers of A and D');
see($reg102, "SELECT count(*) FROM shilian.receipt_drafts($A)", '1', 'R1 county 370102 reads A\'s receipt drafts');
see_as_admin($reg102, "SELECT * FROM shilian.record_completeness('receipt', $fx{l_fa})",
	"SELECT * FROM shilian.record_completeness('receipt', $fx{l_fa})",
	'R1 county 370102 checks A\'s incoming record from F across the border (as the superuser sees it)');
see_as_admin($reg102, "SELECT * FROM shilian.record_completeness('sale', $fx{l_ad})",
	"SELECT * FROM shilian.record_completeness('sale', $fx{l_ad})",
	'R1 county 370102 checks A\'s sale record');
see($reg102st, "SELECT count(*) FROM shilian.operator", '2', 'R1 station 370102001 sees its operators');
see($reg100, "SELECT count(*) FROM shilian.operator", '5', 'R1 city 370100 sees the operators of both counties');
see($reg100, "SELECT count(*) FROM shilian.batch", '6', 'R1 city 370100 sees every batch below it');
see($reg102, "SELECT shilian.operator_suspend($D, 'probe'), shilian.operator_activate($D)", '|',
	'R1 county 370102 suspends and reactivates its operator D');
deny_rows($reg102, "SELECT count(*) FROM shilian.batch WHERE owner_id IN ($F, $B, $C)", 'R2 county 370102 reads county 370112\'s batches');
deny_rows($reg102, "SELECT count(*) FROM shilian.operator WHERE station LIKE '370112%'", 'R2 county 370102 reads county 370112\'s operators');
deny_rows($reg102, "SELECT count(*) FROM shilian.link WHERE id IN ($fx{l_fb}, $fx{l_bc}, $fx{l_bc2})", 'R2 county 370102 reads links between 370112 operators');
deny_rows($reg102, "SELECT count(*) FROM shilian.ledger WHERE operator_id IN ($F, $B, $C)", 'R2 county 370102 reads county 370112\'s ledgers');
deny_rows($reg102, "SELECT count(*) FROM shilian.inspection WHERE operator_id IN ($B, $C)", 'R2 county 370102 reads county 370112\'s inspections');
deny_rows($reg102, "SELECT count(*) FROM shilian.consumption", 'R2 county 370102 reads county 370112\'s consumption');
deny_rows($reg102, "SELECT count(*) FROM shilian.licence WHERE operator_id = $B", 'R2 county 370102 reads county 370112\'s licences');
deny_rows($reg102, "SELECT count(*) FROM shilian.product WHERE owner_id = $B", 'R2 county 370102 reads county 370112\'s products');
deny_error($reg102, "SELECT * FROM shilian.receipt_drafts($C)", '42501', 'R2 county 370102 reads C\'s receipt drafts');
deny_error($reg102, "SELECT * FROM shilian.record_completeness('sale', $fx{l_bc})", 'SLR22', 'R2 county 370102 reads B\'s sale record');
deny_error($reg102, "SELECT * FROM shilian.chain_verify($B)", '42501', 'R2 county 370102 reads B\'s chain');
deny_error($reg102, "SELECT * FROM shilian.chain_verify()", '42501', 'R2 county 370102 verifies every chain (admin only)');
see($reg102, "SELECT bool_and(v.ok) AND count(*) = 2 FROM shilian.operator o, shilian.chain_verify(o.id) v", 't',
	'R1 county 370102 verifies the chains of its operators one by one');
deny_error($reg102, "SELECT shilian.operator_suspend($B, 'x')", '42501', 'R2 county 370102 suspends B of county 370112');
deny_error($reg102, "SELECT shilian.licence_add($B, 'JY13701020000025', '{vegetables}', '2020-01-01', '2030-01-01')",
	'42501', 'R2 county 370102 licenses B of county 370112');
deny_error($reg102, "SELECT shilian.operator_register('x', 'circulation', '{retailer}', '370112001', 'a', 'c', reg_card => 'X-2')",
	'42501', 'R2 county 370102 registers an operator in county 370112');
deny_error($reg102, "SELECT shilian.ship('$fx{a1}', $D, '1 kg')", '42501', 'R3 a regulator ships (no EXECUTE)');
deny_error($reg102, "SELECT shilian.consume('$fx{a1}', '1 kg', 'destroyed', operator => $A)", '42501', 'R3 a regulator records for an operator (no EXECUTE)');
deny_rows($regNone, "SELECT count(*) FROM shilian.operator", 'R4 the regulator role without shilian.jurisdiction reads operators');
# (after the counts above: these add rows)
see($reg102, "SELECT shilian.licence_add($D, 'JY13701020000025', '{fruit}', '2020-01-01', '2030-01-01') > 0", 't',
	'R1 county 370102 licenses its operator D');
see($reg102st, "SELECT shilian.operator_register('E shop', 'circulation', '{retailer}', '370102001', 'a', 'c', reg_card => 'X-3') > 0", 't',
	'R1 station 370102001 registers an operator at its station');

# ---- S: a system client ------------------------------------------------------

see($sysA, "SELECT count(*) FROM shilian.batch", '1', 'S1 client erp-a sees the batch of its operator A');
see_as_admin($sysA, "SELECT string_agg(id::text, ',' ORDER BY id) FROM shilian.link",
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM shilian.link WHERE $A IN (seller_id, buyer_id)",
	'S1 client erp-a sees exactly A\'s links');
see($sysA, "SELECT shilian.ship('$fx{a1}', $D, '1 kg') > 0", 't', 'S1 client erp-a ships for A');
see($sysA, "SELECT count(*) FROM shilian.receipt_drafts($A)", '1', 'S1 client erp-a reads A\'s receipt drafts');
deny_error($sysA, "SELECT shilian.batch_create($B, 1, '1 kg')", '42501', 'S2 client erp-a creates a batch for B (not bound)');
deny_error($sysA, "SELECT shilian.ship('$fx{b1}', $C, '1 kg')", '42501', 'S2 client erp-a ships B\'s batch');
deny_error({ %$sysA, op => $B }, "SELECT shilian.ship('$fx{b1}', $C, '1 kg')", '42501', 'S2 client erp-a naming B as acting operator ships B\'s batch');
deny_error($sysA, "SELECT shilian.receive($fx{l_bc2}, '20 kg', $report_in)", '42501', 'S2 client erp-a receives for C');
deny_error($sysA, "SELECT shilian.licence_add($B, 'JY13701020000025', '{vegetables}', '2020-01-01', '2030-01-01')", '42501', 'S2 client erp-a licenses B');
deny_error($sysA, "SELECT * FROM shilian.receipt_drafts($C)", '42501', 'S2 client erp-a reads C\'s receipt drafts');
deny_error($sysA, "SELECT * FROM shilian.record_completeness('sale', $fx{l_bc})", 'SLR22', 'S2 client erp-a reads B\'s sale record');
deny_error($sysA, "SELECT * FROM shilian.chain_verify($B)", '42501', 'S2 client erp-a reads B\'s chain');
deny_error($sysA, "SELECT count(*) FROM shilian.ledger_export($B)", '42501', 'S2 client erp-a exports B\'s chain');
deny_rows($sysA, "SELECT count(*) FROM shilian.operator WHERE id IN ($B, $C)", 'S2 client erp-a reads B and C');
deny_rows($sysA, "SELECT count(*) FROM shilian.batch WHERE owner_id <> $A", 'S2 client erp-a reads other operators\' batches');
deny_rows($sysA, "SELECT count(*) FROM shilian.link WHERE $A NOT IN (seller_id, buyer_id)", 'S2 client erp-a reads other operators\' links');
deny_rows($sysA, "SELECT count(*) FROM shilian.api_client WHERE client <> 'erp-a'", 'S2 client erp-a reads other clients');
deny_error($sysA, "SELECT shilian.api_client_bind('erp-a', $B)", '42501', 'S2 client erp-a binds itself to B (no EXECUTE)');
deny_error($sysA, "INSERT INTO shilian.api_client_operator (client, operator_id) VALUES ('erp-a', $B)", '42501',
	'S2 client erp-a binds itself to B by INSERT');
deny_error($sysNone, "SELECT shilian.batch_create($A, 1, '1 kg')", '42501', 'S3 an unknown client creates a batch');
deny_rows($sysNone, "SELECT count(*) FROM shilian.batch", 'S3 an unknown client reads batches');

# ---- P: the public -----------------------------------------------------------

my @tables = split /\n/, $node->safe_psql('postgres',
	"SELECT tablename FROM pg_tables WHERE schemaname = 'shilian' AND tablename <> 'fx' ORDER BY 1");
for my $t (@tables)
{
	deny_error($public, "SELECT count(*) FROM shilian.$t", '42501', "P1 public reads table $t directly");
}
for my $f ("shilian.receipt_drafts($A)", "shilian.record_completeness('sale', $fx{l_ad})",
	"shilian.chain_verify($A)", "shilian.ship('$fx{a1}', $D, '1 kg')", "shilian.batch_create($A, 1, '1 kg')")
{
	deny_error($public, "SELECT * FROM $f", '42501', "P1 public calls $f");
}
deny_error({ role => 'none' }, "SELECT count(*) FROM shilian.batch", '42501', 'P2 the gateway login role reads batches without a role');
see($public, "SELECT shilian.version() <> ''", 't', 'P3 public may call version() (reads no rows)');
# P4: self-registration (docs/registration.md) is the public's only way in,
# and it registers only what the roll matches; the station's side is not its
for my $f ("shilian.registration_requests('370102')", "shilian.registration_decide(1, 'approve', 'x')",
	"shilian.activation_code_issue($A)", "shilian.registration_followup('370102')",
	"shilian.operator_register_matched('x', 'circulation', '{retailer}', '370102001', 'a', 'c', reg_card => 'P4')",
	"shilian.licence_add_matched($A, 'JY13701020003016', '{other}', '2025-01-01', '2030-12-31')",
	"shilian.operator_activate_bound($A)")
{
	deny_error($public, "SELECT * FROM $f", '42501', "P4 public calls $f");
}
deny_error($public, "SELECT shilian.operator_register_request('x', 'circulation', '{retailer}', '370102001', 'a', 'c', "
	. "'JY13701020003016', '{other}', '2025-01-01', '2030-12-31', reg_card => 'P4')", 'SLQ01',
	'P4 public registers without the client address the gateway sets (SLQ01)');

# ---- A: admin ----------------------------------------------------------------

see($admin, "SELECT count(*) FROM shilian.batch", '6', 'A1 admin sees every batch');
see($admin, "SELECT count(*) FROM shilian.link", '8', 'A1 admin sees every link');

# ---- L: the ledger's proofs and export ----------------------------------------

see($admin, "SELECT tree_size > 0 FROM shilian.checkpoint()", 't', 'L1 admin publishes a checkpoint without being a superuser');
my $entryA = $node->safe_psql('postgres', "SELECT max(id) FROM shilian.ledger WHERE operator_id = $A");
my $entryB = $node->safe_psql('postgres', "SELECT max(id) FROM shilian.ledger WHERE operator_id = $B");
see($opA, "SELECT shilian.verify_inclusion(shilian.inclusion_proof($entryA))", 't', 'L1 operator A proves its own entry is in the log');
see($opA, "SELECT count(*) > 0 FROM shilian.ledger_export($A) AS l WHERE l::jsonb->>'type' = 'entry'", 't',
	'L1 operator A exports its own chain');
see($opA, "SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(shilian.inclusion_proof($entryB)) AS k",
	'alg,entry,entry_hash,leaf_index,path,root,tree_size',
	'L2 operator A\'s proof of B\'s entry holds hashes only: no operator, body or sequence number');
deny_error($opA, "SELECT count(*) FROM shilian.ledger_export($B)", '42501', 'L2 operator A exports B\'s chain');
deny_error($reg102, "SELECT count(*) FROM shilian.ledger_export($B)", '42501', 'L2 county 370102 exports B\'s chain');
see($admin, "SELECT bool_and(ok) AND count(*) = (SELECT count(DISTINCT operator_id) FROM shilian.ledger) FROM shilian.chain_verify()",
	't', 'A1 admin verifies every chain at once');
deny_error($opA, "SELECT * FROM shilian.log_verify()", '42501', 'L2 operator A rebuilds the whole log (no EXECUTE)');
deny_error($opA, "SELECT * FROM shilian.checkpoint()", '42501', 'L2 operator A publishes a checkpoint (no EXECUTE)');

# ---- definer-rights functions: each has a fixed search_path ------------------

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'shilian' AND p.prosecdef
	   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c
						WHERE c LIKE 'search\_path=pg\_catalog%' AND c LIKE '%pg\_temp')}), '0',
	'every SECURITY DEFINER function fixes search_path from pg_catalog to pg_temp (temp objects last)');
is($node->safe_psql('postgres', q{
	SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'shilian' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
	   AND c.relname NOT IN ('jurisdiction', 'merkle_node', 'checkpoint', 'idempotency_key', 'fx')}), '',
	'row-level security is on for every table whose rows belong to someone');

note("trace functions (trace_forward/backward, public_trace) are not in this branch yet: no probes for them");
note("security probes: $n_deny denials, $n_see positive cases");
done_testing();
