# Tampering by a superuser with triggers off (session_replication_role =
# replica), each case asserting detection and the reported position, by
# chain_verify / log_verify in the database and by shilian-verify offline:
# a changed field, a deleted middle entry, a deleted last entry (against the
# last checkpoint), swapped sequence numbers, and a whole chain recomputed
# consistently (caught by the checkpoint root, and, once the tamperer also
# rebuilds the log, by shilian-verify holding an earlier root).
use strict;
use warnings;
use File::Temp qw(tempfile);
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $verify = "$ENV{SHILIAN_TOP}/shilian-verify";
ok(-x $verify, 'shilian-verify is built');

my $node = shilian_node('ledger_tamper');
my $db = 'postgres';

# 5 operators x 10 entries, a checkpoint (the auditor keeps its root), then
# 2 more entries each and a second checkpoint.
$node->safe_psql($db, q{
	SELECT shilian.ledger_append(op, 'batch_create', jsonb_build_object('n', i, 'lot', 'L' || i))
	  FROM generate_series(1, 10) i, generate_series(1, 5) op;
	SELECT shilian.checkpoint();
	SELECT shilian.ledger_append(op, 'inspect', jsonb_build_object('n', i, 'result', 'pass'))
	  FROM generate_series(11, 12) i, generate_series(1, 5) op;
	SELECT shilian.checkpoint();
});
my ($old_size, $old_root) = split /\|/, $node->safe_psql($db,
	"SELECT tree_size, encode(root, 'hex') FROM shilian.checkpoint WHERE tree_size = 50");
is($old_size, '50', 'first checkpoint has 50 leaves');

# Recompute an entry's hash from its fields as docs/ledger-format.md says.
$node->safe_psql($db, q{
CREATE FUNCTION public.doc_entry_hash(l shilian.ledger) RETURNS bytea LANGUAGE sql AS $$
	SELECT sha256('\x02'::bytea
		|| int4send(8) || int8send(l.id) || int4send(8) || int8send(l.operator_id)
		|| int4send(8) || int8send(l.seq) || int4send(1) || decode(lpad(to_hex(l.alg::int), 2, '0'), 'hex')
		|| int4send(octet_length(convert_to(l.kind, 'UTF8'))) || convert_to(l.kind, 'UTF8')
		|| int4send(8) || int8send((extract(epoch FROM l.recorded_at) * 1000000)::bigint)
		|| int4send(8) || int8send(coalesce(l.supersedes, 0))
		|| int4send(length(l.body)) || l.body || l.prev_hash)
$$;
});

sub export_verify
{
	my ($lines, @args) = @_;
	my ($fh, $file) = tempfile(DIR => $PostgreSQL::Test::Utils::tmp_check, SUFFIX => '.jsonl');
	print $fh "$lines\n";
	close $fh;
	my ($out, $err);
	IPC::Run::run([ $verify, @args, $file ], '>', \$out, '2>', \$err);
	chomp $out;
	return ($? >> 8, $out);
}

# Run tampering SQL and the checks in one transaction that is rolled back, so
# each case starts from the intact ledger.
sub tampered
{
	my ($tamper, $check) = @_;
	return $node->safe_psql($db,
		"BEGIN; SET LOCAL session_replication_role = replica; $tamper; $check; ROLLBACK;");
}

# The intact ledger verifies everywhere.
is($node->safe_psql($db, 'SELECT bool_and(ok) FROM shilian.chain_verify()'), 't', 'intact: chain_verify clean');
is($node->safe_psql($db, 'SELECT ok FROM shilian.log_verify()'), 't', 'intact: log_verify clean');
my ($rc, $out) = export_verify($node->safe_psql($db, 'SELECT * FROM shilian.ledger_export(1)'),
	'--old-size', $old_size, '--old-root', $old_root);
is($rc, 0, 'intact: shilian-verify exits 0');
like($out, qr/^OK: operator 1, 12 entries, chain verified, 12 included in tree 60, consistent with the old root$/,
	'intact: one OK line');

# 1. One field of one entry changed: each field in turn.
for my $case (
	[ 'body', q{body = shilian.ledger_canonical('{"n": 999, "lot": "L5"}')} ],
	[ 'kind', q{kind = 'destroy'} ],
	[ 'recorded_at', q{recorded_at = recorded_at + interval '1 microsecond'} ],
	[ 'supersedes', q{supersedes = 1} ],
	[ 'alg', q{alg = 2} ],
	[ 'operator_id', q{operator_id = 1, seq = 100} ])
{
	my ($field, $set) = @$case;
	my $r = tampered("UPDATE shilian.ledger SET $set WHERE operator_id = 1 AND seq = 5",
		"SELECT ok, first_bad_seq, reason FROM shilian.chain_verify(1)");
	if ($field eq 'operator_id')
	{
		like($r, qr/^f\|5\|sequence gap: seq 5 is missing/, "moved to another chain: operator 1 has a gap at seq 5");
		next;
	}
	like($r, qr/^f\|5\|hash does not match the entry's recomputed hash$/, "changed $field: chain_verify reports seq 5");
}
($rc, $out) = export_verify(tampered(
	q{UPDATE shilian.ledger SET body = shilian.ledger_canonical('{"n": 999, "lot": "L5"}') WHERE operator_id = 1 AND seq = 5},
	'SELECT * FROM shilian.ledger_export(1)'));
is($rc, 1, 'changed body: shilian-verify exits 1');
like($out, qr/^FAIL: operator 1 seq 5 \(entry id \d+\): hash does not match its fields$/,
	'changed body: shilian-verify names seq 5');
is(tampered(q{UPDATE shilian.ledger SET body = shilian.ledger_canonical('{"n": 999}') WHERE operator_id = 1 AND seq = 5},
	'SELECT ok, first_bad_seq FROM shilian.chain_verify() ORDER BY operator'), "f|5\nt|\nt|\nt|\nt|",
	'chain_verify(NULL) flags only the damaged chain');

# 2. An entry in the middle deleted.
my $leaf5 = $node->safe_psql($db, 'SELECT leaf_index FROM shilian.ledger_leaf WHERE operator_id = 1 AND seq = 5');
is(tampered('DELETE FROM shilian.ledger WHERE operator_id = 1 AND seq = 5',
	'SELECT ok, first_bad_seq, reason FROM shilian.chain_verify(1)'),
	'f|5|sequence gap: seq 5 is missing, next is seq 6', 'deleted middle: chain_verify reports seq 5');
like(tampered('DELETE FROM shilian.ledger WHERE operator_id = 1 AND seq = 5',
	'SELECT ok, first_bad_leaf, reason FROM shilian.log_verify()'),
	qr/^f\|$leaf5\|entry \d+ \(operator 1 seq 5\) of leaf $leaf5 is missing from the ledger$/,
	'deleted middle: log_verify reports its leaf');
($rc, $out) = export_verify(tampered('DELETE FROM shilian.ledger WHERE operator_id = 1 AND seq = 5',
	'SELECT * FROM shilian.ledger_export(1)'));
is($rc, 1, 'deleted middle: shilian-verify exits 1');
like($out, qr/^FAIL: operator 1 seq 6: expected seq 5/, 'deleted middle: shilian-verify names seq 5');

# 3. The last entry deleted: only the last checkpoint knows it existed.
is(tampered('DELETE FROM shilian.ledger WHERE operator_id = 1 AND seq = 12',
	'SELECT ok, first_bad_seq, reason FROM shilian.chain_verify(1)'),
	'f|12|chain ends at seq 11 but seq 12 was checkpointed', 'deleted last: chain_verify reports seq 12');
($rc, $out) = export_verify(tampered('DELETE FROM shilian.ledger WHERE operator_id = 1 AND seq = 12',
	'SELECT * FROM shilian.ledger_export(1)'));
is($rc, 1, 'deleted last: shilian-verify exits 1');
like($out, qr/^FAIL: operator 1: tree 60 holds seq 12 \(leaf \d+\) but the chain ends at seq 11: its tail was removed$/,
	'deleted last: shilian-verify reports the removed tail');
is(tampered('DELETE FROM shilian.ledger WHERE operator_id = 1',
	'SELECT ok, first_bad_seq, reason FROM shilian.chain_verify() WHERE operator = 1'),
	'f|1|chain ends at seq 0 but seq 12 was checkpointed', 'whole chain deleted: chain_verify still reports it');

# 4. Two entries' sequence numbers swapped.
my $swap = 'UPDATE shilian.ledger SET seq = 1000003 WHERE operator_id = 1 AND seq = 3;
	UPDATE shilian.ledger SET seq = 3 WHERE operator_id = 1 AND seq = 6;
	UPDATE shilian.ledger SET seq = 6 WHERE operator_id = 1 AND seq = 1000003';
is(tampered($swap, 'SELECT ok, first_bad_seq, reason FROM shilian.chain_verify(1)'),
	'f|3|prev_hash does not match the hash of seq 2', 'swapped seq 3 and 6: chain_verify reports seq 3');
($rc, $out) = export_verify(tampered($swap, 'SELECT * FROM shilian.ledger_export(1)'));
is($rc, 1, 'swapped: shilian-verify exits 1');
like($out, qr/^FAIL: operator 1 seq 3: prev_hash is not the hash of the entry before$/,
	'swapped: shilian-verify names seq 3');

# 5. A whole chain rewritten consistently: operator 2's seq 4 changed and every
# hash from there on recomputed. The chain alone cannot tell.
my $rewrite = q{
DO $$
DECLARE
	r shilian.ledger;
	prev bytea;
BEGIN
	UPDATE shilian.ledger SET body = shilian.ledger_canonical('{"n": 4, "lot": "FORGED"}')
	 WHERE operator_id = 2 AND seq = 4;
	FOR r IN SELECT * FROM shilian.ledger WHERE operator_id = 2 AND seq >= 4 ORDER BY seq LOOP
		IF prev IS NOT NULL THEN
			UPDATE shilian.ledger SET prev_hash = prev WHERE id = r.id;
			r.prev_hash := prev;
		END IF;
		prev := public.doc_entry_hash(r);
		UPDATE shilian.ledger SET hash = prev WHERE id = r.id;
	END LOOP;
END $$};
my $leaf24 = $node->safe_psql($db, 'SELECT leaf_index FROM shilian.ledger_leaf WHERE operator_id = 2 AND seq = 4');
is(tampered($rewrite, 'SELECT ok FROM shilian.chain_verify(2)'), 't',
	'rewritten chain: chain_verify alone finds it consistent (as designed: the log catches it)');
is(tampered($rewrite, 'SELECT ok, first_bad_leaf, reason FROM shilian.log_verify()'),
	"f|$leaf24|entry " . $node->safe_psql($db, 'SELECT id FROM shilian.ledger WHERE operator_id = 2 AND seq = 4')
	  . " (operator 2 seq 4) differs from what leaf $leaf24 recorded",
	'rewritten chain: log_verify reports the first rewritten leaf');
# ...and if the tamperer also rewrites the leaf hashes, the published roots disagree
like(tampered("$rewrite; UPDATE shilian.ledger_leaf f SET hash = l.hash FROM shilian.ledger l WHERE l.id = f.entry_id",
	'SELECT ok, first_bad_leaf, reason FROM shilian.log_verify()'),
	qr/^f\|0\|root of checkpoint 50 does not match the leaves: a leaf from 0 on was changed$/,
	'rewritten chain and leaves: log_verify reports the first checkpoint root that no longer matches');
($rc, $out) = export_verify(tampered($rewrite, 'SELECT * FROM shilian.ledger_export(2)'));
is($rc, 1, 'rewritten chain: shilian-verify exits 1');
like($out, qr/^FAIL: operator 2 seq 4 \(leaf $leaf24\): not included in tree 60: /,
	'rewritten chain: shilian-verify names seq 4, not in the published tree');

# Now for good: the tamperer rewrites the chain and rebuilds the whole log, so
# the database agrees with itself again. Only an earlier root kept outside
# the database shows the history was rewritten.
$node->safe_psql($db, "SET session_replication_role = replica; $rewrite;
	DELETE FROM shilian.ledger_leaf; DELETE FROM shilian.merkle_node; DELETE FROM shilian.checkpoint;
	SET session_replication_role = origin; SELECT shilian.checkpoint();");
is($node->safe_psql($db, 'SELECT bool_and(ok) FROM shilian.chain_verify()'), 't', 'rebuilt: chain_verify clean');
is($node->safe_psql($db, 'SELECT ok FROM shilian.log_verify()'), 't', 'rebuilt: log_verify clean');
my $export = $node->safe_psql($db, 'SELECT * FROM shilian.ledger_export(2)');
($rc, $out) = export_verify($export);
is($rc, 0, 'rebuilt: without an earlier root the export is self-consistent');
($rc, $out) = export_verify($export, '--old-size', $old_size, '--old-root', $old_root);
is($rc, 1, 'rebuilt: the old tree head is gone from the database, and shilian-verify exits 1');
is($out, 'FAIL: the export has no consistency proof from tree size 50', '...saying the proof is missing');
# the auditor asks for a proof from the size it holds
$export = $node->safe_psql($db, "SELECT * FROM shilian.ledger_export(2, $old_size)");
($rc, $out) = export_verify($export, '--old-size', $old_size, '--old-root', $old_root);
is($rc, 1, 'rebuilt: shilian-verify with the earlier root exits 1');
is($out, 'FAIL: tree 60 is not consistent with the old root of tree 50: consistency proof does not lead to the old root',
	'rebuilt: shilian-verify reports the broken consistency with tree 50');
is($node->safe_psql($db, "SELECT shilian.verify_consistency(50, 60, '\\x$old_root',
	(SELECT root FROM shilian.checkpoint WHERE tree_size = 60), ARRAY(SELECT decode(p, 'hex')
	FROM jsonb_array_elements_text(shilian.consistency_proof(50, 60)->'path') WITH ORDINALITY e(p, i) ORDER BY i))"),
	'f', 'rebuilt: verify_consistency in SQL with the earlier root is false too');

# Usage errors are one line and exit 1 as well.
($rc, $out) = export_verify($export, '--old-size', '50');
is($rc, 1, 'usage error exits 1');
like($out, qr/^FAIL: usage: --old-size and --old-root go together$/, 'usage error is one line');

$node->stop;
done_testing();
