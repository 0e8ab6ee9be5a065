# transform and reject lines take the set path of the bulk import
# (RecordTransformCheck, RecordRejectCheck; one statement per kind per
# chunk) between ship, receive, batch, inspection, consume and first_entry
# lines. Two databases get the same setup and the same lines, database a
# through import_apply in chunks of 7 lines, database b by calling the
# single-record function of every line a accepted, one by one, in line
# order: every record returns the same id or trace code (a transform's new
# batch drawn in line order with the other new batches, its links' ids in
# line order with the sales'), every ledger entry is the same (id, operator,
# seq, kind, source, event date, body but for the rows' creation times), the
# per-operator counters are the same and every chain verifies. In a, the
# rows the transform and reject lines of one chunk wrote carry one
# transaction id (the chunk's set writes; line by line, each record function
# runs in a subtransaction of its own and the rows carry one each).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('import_transform_reject');

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
	SELECT shilian.product_register('腌菜', 'vegetables', 90);
	CREATE TABLE b AS SELECT i, s, shilian.batch_create(s, 1, '1 t', current_date - 3)::text AS code
		FROM generate_series(1, 6) i, LATERAL (SELECT 1 + (i - 1) % 3 AS s) x ORDER BY i;
	-- four sales of batch 1 to buyer 4, before the upload: the reject lines name them
	CREATE TABLE s AS SELECT g, shilian.ship((SELECT code FROM b WHERE i = 1), 4, g || ' kg', current_date - 2) AS link
		FROM generate_series(1, 4) g;
	CREATE FUNCTION code(int) RETURNS text LANGUAGE sql AS 'SELECT code FROM b WHERE i = $1';
	CREATE FUNCTION sale(int) RETURNS bigint LANGUAGE sql AS 'SELECT link FROM s WHERE g = $1';
	CREATE TABLE lines (n int, line text);
	INSERT INTO lines VALUES
	 (1, json_build_object('kind', 'ship', 'code', code(1), 'buyer', 4, 'qty', '1 kg', 'shipped_on', current_date - 1)),
	 (2, json_build_object('kind', 'transform', 'inputs', ARRAY[code(1), code(4)], 'qtys', ARRAY['2 kg', '3 kg'],
		'product', 2, 'qty', '4 kg', 'produced_on', current_date - 1, 'lot', 'P-2')),
	 (3, json_build_object('kind', 'reject', 'link', sale(1), 'reject_reason', 'wilted',
		'rejected_at', (current_date - 1)::text || 'T10:00:00+08:00')),
	 (4, json_build_object('kind', 'receive', 'link_ref', 1, 'qty', '1 kg',
		'inspection', json_build_object('inspector', 'tap'), 'received_at', (current_date - 1)::text || 'T12:00:00+08:00')),
	 (5, json_build_object('kind', 'batch', 'owner', 2, 'product', 1, 'qty', '10 kg', 'produced_on', current_date - 2)),
	 (6, json_build_object('kind', 'transform', 'inputs', ARRAY[code(2)], 'qtys', ARRAY['1 kg'],
		'product', 2, 'qty', '1 kg', 'produced_on', current_date - 1, 'expires_on', current_date + 10)),
	 (7, json_build_object('kind', 'reject', 'link', sale(1), 'reject_reason', 'again')),
	 (8, json_build_object('kind', 'ship', 'code', code(2), 'buyer', 5, 'qty', '2 kg', 'shipped_on', current_date - 1)),
	 (9, json_build_object('kind', 'transform', 'inputs', ARRAY[code(1)], 'qtys', ARRAY['2 t'],
		'product', 2, 'qty', '1 kg', 'produced_on', current_date - 1)),
	 (10, json_build_object('kind', 'reject', 'link', sale(2), 'reject_reason', 'late',
		'rejected_at', (current_date - 1)::text || 'T11:00:00+08:00')),
	 (11, json_build_object('kind', 'consume', 'code', code(1), 'qty', '1 kg', 'consumption_kind', 'sample_kept',
		'consumed_at', (current_date - 1)::text || 'T18:00:00+08:00')),
	 (12, json_build_object('kind', 'transform', 'inputs', ARRAY[code(6), code(3)], 'qtys', ARRAY['5 kg', '6 kg'],
		'product', 2, 'qty', '10 kg', 'produced_on', current_date - 1, 'operator', 3)),
	 (13, json_build_object('kind', 'inspection', 'code', code(3), 'inspection_kind', 'sampling', 'result', 'pass',
		'report', json_build_object('agency', 'lab', 'report_no', 'R-13'),
		'inspected_at', (current_date - 1)::text || 'T09:00:00+08:00')),
	 (14, json_build_object('kind', 'first_entry', 'buyer', 4, 'product', 1, 'qty', '20 kg',
		'supplier', json_build_object('name', '农户', 'contact', 'tel'), 'produced_on', current_date - 3,
		'received_at', (current_date - 1)::text || 'T08:00:00+08:00')),
	 (15, json_build_object('kind', 'reject', 'link', 999999, 'reject_reason', 'x')),
	 (16, json_build_object('kind', 'transform', 'inputs', ARRAY[code(4), code(1)], 'qtys', ARRAY['1 kg', '1 kg'],
		'product', 2, 'qty', '2 kg', 'produced_on', current_date - 1)),
	 (17, json_build_object('kind', 'receive', 'link_ref', 8, 'qty', '2 kg',
		'inspection', json_build_object('inspector', 'tap'), 'received_at', (current_date - 1)::text || 'T13:00:00+08:00')),
	 (18, json_build_object('kind', 'reject', 'link', sale(3), 'reject_reason', 'damp',
		'rejected_at', (current_date - 1)::text || 'T14:00:00+08:00')),
	 (19, json_build_object('kind', 'ship', 'code', code(1), 'buyer', 6, 'qty', '3 kg', 'shipped_on', current_date - 1)),
	 (20, json_build_object('kind', 'transform', 'inputs', ARRAY[code(5)], 'qtys', ARRAY['1 L'],
		'product', 2, 'qty', '1 kg', 'produced_on', current_date - 1)),
	 (21, json_build_object('kind', 'reject', 'link', sale(4), 'reject_reason', 'early',
		'rejected_at', (current_date - 9)::text || 'T08:00:00+08:00')),
	 (22, json_build_object('kind', 'transform', 'inputs', ARRAY[code(5)], 'qtys', ARRAY['7 kg'],
		'product', 2, 'qty', '7 kg', 'produced_on', current_date - 1)),
	 (23, json_build_object('kind', 'reject', 'link', sale(4), 'reject_reason', 'torn',
		'rejected_at', (current_date - 1)::text || 'T15:00:00+08:00'));
};

for my $db ('a', 'b')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION shilian');
	$node->safe_psql($db, $setup);
}
is($node->safe_psql('a', 'SELECT count(*) FROM lines'), '23', '23 lines');

# a: staged and applied 7 lines at a time, each call its own transaction
my $job = $node->safe_psql('a', q{
	SELECT (shilian.import_open('apply_valid', NULL, '\x00', (SELECT count(*)::int FROM lines))).job});
$node->safe_psql('a', "INSERT INTO shilian.import_stage (job_id, line_no, body) SELECT $job, n, line FROM lines");
my $calls = import_apply_all($node, 'a', $job, 7);
is($calls, 4, 'applied in 4 calls of 7 lines');
is($node->safe_psql('a', qq{SELECT status, accepted, refused FROM shilian.import_job WHERE id = $job}),
	'applied|18|5', '18 lines accepted, 5 refused');
is($node->safe_psql('a', qq{SELECT string_agg(line_no || ' ' || sqlstate, ', ' ORDER BY line_no)
	FROM shilian.import_line WHERE job_id = $job AND status = 'refused'}), '7 SLR13, 9 SLR05, 15 SLR14, 20 SLR06, 21 SLR07',
	'the refusals: a sale rejected twice, a transform over balance, an unknown sale, an input in the wrong unit, a rejection before the sale');

# b: the single-record function of every line a accepted, in line order, as
# the import channel, each line in a subtransaction of its own
is(import_replay($node, $job, subtransactions => 1), '18', 'every record got the same id or trace code one by one as in the import');

my $la = $node->safe_psql('a', $LEDGER_ENTRIES);
is($la, $node->safe_psql('b', $LEDGER_ENTRIES), 'the same ledger entries: ids, operators, seqs, kinds, sources, dates and bodies');
is($node->safe_psql('a', q{SELECT string_agg(kind || ' ' || n, ', ' ORDER BY kind) FROM (SELECT kind, count(*) AS n
	FROM shilian.ledger WHERE source = 'import' GROUP BY kind) k}),
	'batch_create 1, consume 1, inspect 1, receive 2, receive_first_entry 1, reject 4, ship 3, transform 5',
	'one import entry per accepted line, of every kind');
like($la, qr/\|transform\|1\|import\|[-0-9]+\|\{"batch": \{.*"origin": "transformed", .*\}, "inputs": \[\{.*"kind": "transform", .*\}, \{.*\}\]\}/,
	'transformations with their input links are in the comparison');
like($la, qr/\|reject\|1\|import\|[-0-9]+\|\{"id": \d+, .*"status": "rejected", .*"reject_reason": "wilted"/,
	'rejections are in the comparison');
my $links = q{SELECT string_agg(concat_ws('|', id, kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped,
	qty_accepted, shipped_on, received_at, status, reject_reason), E'\n' ORDER BY id) FROM shilian.link};
is($node->safe_psql('a', $links), $node->safe_psql('b', $links), 'the same links (ids, times, statuses)');
my $batches = q{SELECT string_agg(concat_ws('|', id, trace_code, owner_id, product_id, qty, qty_left, produced_on,
	expires_on, lot, origin), E'\n' ORDER BY id) FROM shilian.batch};
is($node->safe_psql('a', $batches), $node->safe_psql('b', $batches), 'the same batches and balances');
for my $db ('a', 'b')
{
	is($node->safe_psql($db, q{SELECT count(*) || ' ' || count(*) FILTER (WHERE ok) FROM shilian.chain_verify(NULL)}),
		'6 6', "$db: every chain verifies");
}
my $counters = q{SELECT string_agg(d::text, E'\n' ORDER BY operator_id, day) FROM shilian.operator_day d};
is($node->safe_psql('a', $counters), $node->safe_psql('b', $counters),
	'the same per-operator, per-day counters (transformations and rejections among them)');

# the set path wrote them: per chunk of 7 lines, the rows of its transform and
# reject lines (new batches, their links, the rejected sales) carry one
# transaction id; in b, one per line
my $xids = q{
	WITH w AS (
		SELECT r.n, b.xmin::text AS x FROM %1$s r JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) r.result::shilian.trace_code
		 WHERE (SELECT line::jsonb ->> 'kind' FROM lines WHERE lines.n = r.n) = 'transform'
		UNION ALL
		SELECT r.n, l.xmin::text FROM %1$s r JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) r.result::shilian.trace_code
		  JOIN shilian.link l ON l.to_batch = b.id
		 WHERE (SELECT line::jsonb ->> 'kind' FROM lines WHERE lines.n = r.n) = 'transform'
		UNION ALL
		SELECT r.n, l.xmin::text FROM %1$s r JOIN lines ON lines.n = r.n
		  JOIN shilian.link l ON l.id = (lines.line::jsonb ->> 'link')::bigint
		 WHERE lines.line::jsonb ->> 'kind' = 'reject')
	SELECT string_agg(c::text, ' ' ORDER BY k) FROM (
		SELECT (n - 1) / 7 AS k, count(DISTINCT n) || ':' || count(DISTINCT x) AS c FROM w GROUP BY 1) g};
is($node->safe_psql('a', sprintf($xids, "(SELECT line_no AS n, result FROM shilian.import_line WHERE job_id = $job AND status = 'accepted')")),
	'3:1 2:1 2:1 2:1', 'a: the transform and reject lines of each chunk wrote their rows in one transaction id');
is($node->safe_psql('b', sprintf($xids, 'res')), '3:3 2:2 2:2 2:2', 'b: one per line');

$node->stop;
done_testing();
