# The bulk import appends its ledger entries in batches (LedgerAppendRecords
# through RecordsToLedger). This proves the batch appends exactly what one
# RecordToLedger call per record appends: two databases get the same setup
# and the same lines, database a through import_apply in chunks of 7 lines
# (sales received across chunk boundaries, new batches (batch, first_entry
# lines) between them, so that batch, first_entry and receive lines of one
# chunk all make batches, inspection and consume lines between them, refused
# lines),
# database b by calling the
# single-record function of every line a accepted, one by one, in line
# order. Every ledger entry then has the same id, operator, seq, kind,
# algorithm, source, event date and body (the rows' created_at timestamps
# aside), every record returns the same id or trace code, the per-operator
# counters are the same, and every chain verifies (chain_verify recomputes
# each hash and each prev_hash link). A chunk holds the advisory chain lock
# of every operator it appended for until its transaction ends.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('import_ledger_batch');

my $setup = q{
	SET client_min_messages = warning;
	SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	SELECT shilian.operator_register('operator ' || i, CASE WHEN i <= 3 THEN 'production' ELSE 'circulation' END,
		CASE WHEN i <= 3 THEN '{processor}'::text[] ELSE '{wholesaler}' END, '370102001',
		'address ' || i, 'contact ' || i, reg_card => 'CARD-' || i) FROM generate_series(1, 6) i;
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(i, ('JY1370102' || lpad(i::text, 6, '0') || '0')::shilian.licence_no,
		'{vegetables}', '2020-01-01', '2099-12-31') FROM generate_series(1, 3) i;
	SELECT shilian.product_register('大白菜', 'vegetables', 30);
	CREATE TABLE b AS SELECT i, s, shilian.batch_create(s, 1, '1 t', current_date - 2)::text AS code
		FROM generate_series(1, 6) i, LATERAL (SELECT 1 + (i - 1) % 3 AS s) x ORDER BY i;
	-- sale g: 1 kg of seller 1 + g % 3's batch to buyer 4 + (g * 7) % 3, received after sale g + 1
	-- (every fifth with 0.5 kg accepted and a reason); a consume line after sale 9, an over-balance
	-- sale after sale 13, a receipt naming that refused line after it
	CREATE TABLE lines AS
	SELECT row_number() OVER (ORDER BY k)::int AS n, line FROM (
		SELECT 2 * g AS k, json_build_object('kind', 'ship', 'code', b.code, 'buyer', 4 + (g * 7) % 3,
			'qty', '1 kg', 'shipped_on', current_date - 1)::text AS line
		  FROM generate_series(1, 24) g JOIN b ON b.i = 1 + g % 6
		UNION ALL
		SELECT 2 * g + 3, json_build_object('kind', 'receive', 'link_ref', NULL, 'g', g,
			'qty', CASE WHEN g % 5 = 0 THEN '0.5 kg' ELSE '1 kg' END,
			'reject_reason', CASE WHEN g % 5 = 0 THEN 'half spoilt' END,
			'inspection', json_build_object('inspector', 'tap ' || g),
			'received_at', (current_date - 1)::text || 'T12:00:00+08:00')::text
		  FROM generate_series(1, 24) g
		UNION ALL
		SELECT 19, json_build_object('kind', 'consume', 'code', (SELECT code FROM b WHERE i = 2),
			'qty', '3 kg', 'consumption_kind', 'sample_kept', 'at', (current_date - 1)::text || 'T18:00:00+08:00')::text
		UNION ALL
		-- batch lines (the set path too), between the receipts: the new batches of a chunk's
		-- batch and receive lines get their ids and trace codes in line order; one refused
		SELECT 4 * g + 0.5, json_build_object('kind', 'batch', 'owner', 1 + g % 3, 'product', 1,
			'qty', CASE WHEN g = 4 THEN '0 kg' ELSE g || ' kg' END, 'produced_on', current_date - 2,
			'lot', 'tap ' || g, 'certificate', CASE WHEN g = 2 THEN json_build_object('no', 'C-' || g) END)::text
		  FROM generate_series(1, 7) g
		UNION ALL
		-- inspection lines (the set path too): release inspections passed give batches 1 and 4
		-- their certificates (4's between the sale of line 6 and its receipt, in one chunk: the
		-- receipt copies it), a second one gives none; a sampling, an incoming, an unknown kind
		SELECT k, json_build_object('kind', 'inspection', 'code', (SELECT code FROM b WHERE i = bi),
			'inspection_kind', ik, 'result', res, 'report', rep,
			'inspected_at', (current_date - 1)::text || 'T09:00:00+08:00')::text
		  FROM (VALUES (3.5, 1, 'release', 'pass', '{"certificate_no": "CERT-1", "inspector": "tap"}'::json),
			(3.6, 1, 'release', 'pass', '{"certificate_no": "CERT-1b", "inspector": "tap"}'),
			(7.5, 4, 'release', 'pass', '{"certificate_no": "CERT-4", "inspector": "tap"}'),
			(10.5, 2, 'sampling', 'fail', '{"agency": "lab", "report_no": "R-2"}'),
			(12.5, 3, 'incoming', 'pass', '{"inspector": "tap"}'),
			(14.5, 3, 'final', 'pass', '{"inspector": "tap"}')) v(k, bi, ik, res, rep)
		UNION ALL
		-- first_entry and consume lines (the set path too): a first entry's new batch gets its id
		-- and trace code in line order with the batch and receive lines', its incoming inspection
		-- its id in line order with the inspection and receive lines'; consumptions move the
		-- balances the sales around them check; one of each refused (unknown product, over balance)
		SELECT k, json_build_object('kind', 'first_entry', 'buyer', buyer, 'product', product, 'qty', q,
			'supplier', json_build_object('name', '农户 ' || k, 'contact', 'tel ' || k),
			'inspection', CASE WHEN k = 8.5 THEN json_build_object('inspector', 'tap', 'result', 'fail') END,
			'lot', CASE WHEN k = 13.5 THEN 'market ' || k END,
			'certificate', CASE WHEN k = 13.5 THEN json_build_object('no', 'M-1') END,
			'produced_on', current_date - 3, 'received_at', (current_date - 1)::text || 'T08:00:00+08:00')::text
		  FROM (VALUES (8.5, 4, 1, '20 kg'), (13.5, 5, 1, '30 kg'), (17.5, 6, 999, '1 kg')) v(k, buyer, product, q)
		UNION ALL
		SELECT k, json_build_object('kind', 'consume', 'code', (SELECT code FROM b WHERE i = bi), 'qty', q,
			'consumption_kind', ck, 'consumed_at', (current_date - 1)::text || 'T19:00:00+08:00',
			'note', CASE WHEN k = 15.5 THEN 'spoilt' END, 'operator', op)::text
		  FROM (VALUES (9.5, 1, '2 kg', 'served', NULL), (15.5, 3, '1 kg', 'destroyed', 3),
			(21.5, 5, '3 t', 'retail_sold', NULL)) v(k, bi, q, ck, op)
		UNION ALL
		SELECT 27, json_build_object('kind', 'ship', 'code', (SELECT code FROM b WHERE i = 3),
			'buyer', 5, 'qty', '2 t')::text
		UNION ALL
		SELECT 28, json_build_object('kind', 'receive', 'link_ref', 'refused', 'qty', '1 kg',
			'inspection', json_build_object('inspector', 'tap'))::text) l;
	-- link_ref: the line number of the sale named (g, or the refused sale), nulls dropped
	UPDATE lines l SET line = jsonb_strip_nulls(l.line::jsonb)::text WHERE l.line::jsonb ->> 'kind' IN ('batch', 'inspection', 'first_entry', 'consume');
	UPDATE lines l SET line = (jsonb_strip_nulls(l.line::jsonb) - 'g' || jsonb_build_object('link_ref',
		CASE WHEN l.line::jsonb ->> 'link_ref' = 'refused'
			THEN (SELECT s.n FROM lines s WHERE s.line::jsonb ->> 'qty' = '2 t')
			ELSE (SELECT s.n FROM lines s WHERE s.line::jsonb ->> 'kind' = 'ship'
				AND s.line::jsonb ->> 'qty' = '1 kg'
				ORDER BY s.n OFFSET (l.line::jsonb ->> 'g')::int - 1 LIMIT 1) END))::text
	 WHERE l.line::jsonb ->> 'kind' = 'receive';
};

for my $db ('a', 'b')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION shilian');
	$node->safe_psql($db, $setup);
}
is($node->safe_psql('a', 'SELECT count(*) FROM lines'), '70', '70 lines');
# a DBA's row triggers on the report rows, one named before the report's
# foreign-key trigger (RI_ConstraintTrigger_...) and one after it, one with a
# WHEN condition: the report write checks that key once per write, with the
# other triggers as they are (issue 19, seventh pass)
$node->safe_psql('a', q{
	CREATE TABLE fired (trigger text, line_no int);
	CREATE FUNCTION fired() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.fired VALUES (TG_NAME, NEW.line_no);
		RETURN NULL;
	END $$;
	CREATE TRIGGER "A_refused" AFTER INSERT ON shilian.import_line FOR EACH ROW
		WHEN (NEW.status = 'refused') EXECUTE FUNCTION fired();
	CREATE TRIGGER z_every AFTER INSERT ON shilian.import_line FOR EACH ROW EXECUTE FUNCTION fired();
});

# a: staged and applied 7 lines at a time, each call its own transaction
my $job = $node->safe_psql('a', q{
	SELECT (shilian.import_open('apply_valid', NULL, '\x00', (SELECT count(*)::int FROM lines))).job});
$node->safe_psql('a', "INSERT INTO shilian.import_stage (job_id, line_no, body) SELECT $job, n, line FROM lines");
# the first chunk: every operator it appended for is chain-locked until commit
is($node->safe_psql('a', qq{
	BEGIN;
	SELECT max(id) AS m FROM shilian.ledger \\gset
	SELECT shilian.import_apply($job, 7) > 0 AS more;
	SELECT (SELECT count(DISTINCT operator_id) FROM shilian.ledger WHERE id > :m) AS ops,
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
			AND objsubid = 21324 AND mode = 'ExclusiveLock' AND granted) AS locks;
	COMMIT;
}), "t\n4|4", 'the first chunk appended for 4 operators and holds their 4 chain locks');
my $calls = 1 + import_apply_all($node, 'a', $job, 7);
is($calls, 10, 'applied in 10 calls of 7 lines');
is($node->safe_psql('a', qq{SELECT status, accepted, refused FROM shilian.import_job WHERE id = $job}),
	'applied|64|6', '64 lines accepted; the unknown inspection kind, the batch of 0 kg, the first entry of an unknown product, the over-balance consumption, the over-balance sale and its receipt refused');
is($node->safe_psql('a', qq{SELECT string_agg(line_no || ' ' || sqlstate, ', ' ORDER BY line_no)
	FROM shilian.import_line WHERE job_id = $job AND status = 'refused'}), '24 22023, 28 SLR16, 30 SLR18, 37 SLR05, 45 SLR05, 47 SLI03',
	'the refusals');
is($node->safe_psql('a', qq{SELECT string_agg(trigger || ' ' || n, ', ' ORDER BY trigger)
	FROM (SELECT trigger, count(*) AS n FROM fired GROUP BY trigger) f}), 'A_refused 6, z_every 70',
	'the DBA\'s triggers fired for every report row (with its WHEN condition for 6), chunk by chunk');
is($node->safe_psql('a', qq{SELECT string_agg(line_no::text, ', ' ORDER BY line_no) FROM fired WHERE trigger = 'A_refused'}),
	'24, 28, 30, 37, 45, 47', 'the WHEN condition selected the refused lines');

# b: the single-record function of every line a accepted, in line order, as the import channel
is(import_replay($node, $job), '64', 'every record got the same id or trace code one by one as in the import');

# the ledgers, entry by entry (ShilianTest's $LEDGER_ENTRIES)
my $la = $node->safe_psql('a', $LEDGER_ENTRIES);
my $lb = $node->safe_psql('b', $LEDGER_ENTRIES);
is($la, $lb, 'the same ledger entries: ids, operators, seqs, kinds, sources, dates and bodies');
like($la, qr/^\d+\n/, 'ledger listed');
is($node->safe_psql('a', q{SELECT count(*) FROM shilian.ledger WHERE source = 'import'}), '64',
	'one import entry per accepted line');
like($la, qr/\|receive\|1\|import\|/, 'receipts are in the comparison');
like($la, qr/\|batch_create\|1\|import\|[-0-9]+\|\{"id": \d+, "lot": "tap 2", .*"certificate": \{"no": "C-2"\}/,
	'new batches of batch lines are in the comparison');
like($la, qr/\|inspect\|1\|import\|[-0-9]+\|\{"id": \d+, "kind": "sampling", /, 'inspections are in the comparison');
like($la, qr/\|receive\|1\|import\|.*"certificate": \{"inspection_id": \d+, "certificate_no": "CERT-4"\}/,
	'a receipt after the release inspection of its batch in the same chunk copies the certificate it gave');
unlike($la, qr/"certificate": \{[^}]*CERT-1b/, 'a second release inspection gives no certificate');
like($la, qr/\|receive_first_entry\|1\|import\|[-0-9]+\|\{"batch": \{.*"origin": "first_entry", .*\}, "inspection_id": \d+\}/,
	'first entries with their incoming inspection are in the comparison');
like($la, qr/\|receive_first_entry\|1\|import\|.*"lot": "market 13.5", .*"inspection_id": null\}/,
	'first entries without one are in the comparison');
like($la, qr/\|consume\|1\|import\|[-0-9]+\|\{"id": \d+, .*"kind": "destroyed", "note": "spoilt", /,
	'consumptions are in the comparison');
for my $db ('a', 'b')
{
	is($node->safe_psql($db, q{SELECT count(*) || ' ' || count(*) FILTER (WHERE ok) FROM shilian.chain_verify(NULL)}),
		'6 6', "$db: every chain verifies (hashes recomputed, prev_hash links, seqs without gaps)");
}
my $counters = q{SELECT string_agg(d::text, E'\n' ORDER BY operator_id, day) FROM shilian.operator_day d};
is($node->safe_psql('a', $counters), $node->safe_psql('b', $counters),
	'the same per-operator, per-day counters (records, shipments, receipts, complete receipts, via_client)');
like($node->safe_psql('a', $counters), qr/^\(4,[-0-9]+,9,0,0,0,9,/m, 'counters listed: buyer 4 received 8 sales and a first entry');

# A DBA's column of a type the import's row encoder does not convert
# (numeric): the batch lines' entries are then built by to_jsonb of the rows
# their INSERT returns (batch_many_json_stmt), in line order, and are still
# the entries batch_create appends.
for my $db ('a', 'b')
{
	$node->safe_psql($db, q{
		ALTER TABLE shilian.batch ADD COLUMN grade numeric DEFAULT 1.5;
		TRUNCATE lines;
		INSERT INTO lines SELECT g, json_build_object('kind', 'batch', 'owner', 1 + g % 3, 'product', 1,
			'qty', g || ' kg', 'produced_on', current_date - 1, 'lot', 'graded ' || g)::text
		  FROM generate_series(1, 9) g;
	});
}
$node->safe_psql('b', 'DROP TABLE acc, res');
my $job2 = $node->safe_psql('a', q{SELECT (shilian.import_open('apply_valid', NULL, '\x01', 9)).job});
$node->safe_psql('a', "INSERT INTO shilian.import_stage (job_id, line_no, body) SELECT $job2, n, line FROM lines");
import_apply_all($node, 'a', $job2, 5);
is($node->safe_psql('a', qq{SELECT status, accepted FROM shilian.import_job WHERE id = $job2}), 'applied|9',
	'nine batch lines accepted with a numeric column added to batch');
is(import_replay($node, $job2), '9', 'every batch got the same id and trace code one by one');
$la = $node->safe_psql('a', $LEDGER_ENTRIES);
is($la, $node->safe_psql('b', $LEDGER_ENTRIES), 'the same ledger entries, the new column in the batches\' bodies');
like($la, qr/\|batch_create\|1\|import\|[-0-9]+\|\{"id": \d+, "lot": "graded 9", .*"grade": 1\.5, /,
	'the added column is in the imported batches\' entries');
is($node->safe_psql('a', q{SELECT count(*) || ' ' || count(*) FILTER (WHERE ok) FROM shilian.chain_verify(NULL)}),
	'6 6', 'every chain verifies');

$node->stop;
done_testing();
