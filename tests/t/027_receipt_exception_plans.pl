# receipt_exception_sync keeps its plans for the session (PL/pgSQL, generic
# plans): they must probe receipt_exception by its unique partial indexes
# whatever the statistics said when they were made. The trap (commit
# 9c77aaa): VACUUM ANALYZE of the still-empty table (relpages 0), then a
# session whose first sync plans the DELETE as a scan of the whole table,
# and a bulk statement whose every receipt scans the rows the earlier ones
# wrote (200,000 received sales: over 20 minutes). Here the first sync of a
# session runs on the analyzed empty table, then 3,000 received sales are
# inserted in one statement and first entries recorded without their
# inspection: no sequential scan of receipt_exception in the transaction
# (pg_stat_xact_user_tables), each receipt's DELETE an index probe, and
# the table equal to a recount by the rule.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('receipt_exception_plans');
my $n = 3000;

$node->safe_psql('postgres', q{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370102001', '所');
	INSERT INTO shilian.operator (name, segment, kinds, station, status, address, contact, reg_card)
	SELECT 'op ' || i, 'circulation', '{retailer}', '370102001', 'active', 'a', 'c', 'CARD-' || i
	  FROM generate_series(1, 20) i;
	SELECT shilian.product_register('大白菜', 'vegetables', 10, '散装', edible_agricultural => true);
});
$node->safe_psql('postgres', qq{
	INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
	SELECT shilian.trace_code_next('370102'), o.id, (SELECT id FROM shilian.product), '100 kg', '100 kg',
		current_date, 'produced'
	  FROM shilian.operator o, generate_series(1, $n / 10) g;
});
$node->safe_psql('postgres', 'VACUUM ANALYZE');
is($node->safe_psql('postgres',
	"SELECT relpages, reltuples, (SELECT count(*) FROM shilian.receipt_exception) FROM pg_class WHERE oid = 'shilian.receipt_exception'::regclass"),
	'0|0|0', 'receipt_exception analyzed empty');

# one session: its first syncs plan the statements on the empty table, the
# bulk statement follows
my $out = $node->safe_psql('postgres', qq{
	BEGIN;
	-- both halves' statements planned on the empty table
	SELECT shilian.receipt_exception_sync('{-1}', '{-1}');
	SELECT shilian.receive_first_entry((SELECT min(id) FROM shilian.operator), (SELECT id FROM shilian.product),
		'1 kg', '{"name": "农户", "contact": "1"}', NULL, current_date, now()) IS NOT NULL;
	INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
		shipped_on, received_at, status)
	SELECT 'ship', f.id, t.id, f.owner_id, t.owner_id, '1 kg', '1 kg', current_date, now(), 'received'
	  FROM (SELECT b.*, row_number() OVER (ORDER BY b.id) AS k FROM shilian.batch b WHERE b.origin = 'produced') f
	  JOIN (SELECT b.*, row_number() OVER (ORDER BY b.id DESC) AS k FROM shilian.batch b WHERE b.origin = 'produced') t
		ON t.k = f.k
	 WHERE f.owner_id <> t.owner_id;
	SELECT count(shilian.receive_first_entry(o.id, (SELECT id FROM shilian.product), '1 kg',
		'{"name": "农户", "contact": "1"}', NULL, current_date, now()))
	  FROM shilian.operator o;
	SELECT 'scans', seq_scan, idx_scan >= $n FROM pg_stat_xact_user_tables
	 WHERE relid = 'shilian.receipt_exception'::regclass;
	SELECT 'rows', count(*), count(*) FILTER (WHERE link_id IS NULL) FROM shilian.receipt_exception;
	COMMIT;
});
like($out, qr/^scans\|0\|t$/m, 'no sequential scan of receipt_exception: each receipt an index probe');
my ($rows) = $out =~ /^rows\|(\d+\|\d+)$/m;
my $links = $node->safe_psql('postgres', "SELECT count(*) FROM shilian.link WHERE status = 'received'");
cmp_ok($links, '>=', $n * 0.9, 'the bulk statement received the sales');
is($rows, ($links + 21) . '|21', 'every receipt without its inspection has its exception row');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		(SELECT operator_id, batch_id, link_id, received_on, uninspected, expires_on FROM shilian.receipt_exception
		 EXCEPT ALL SELECT * FROM shilian.receipt_exceptions(ARRAY(SELECT id FROM shilian.link),
			ARRAY(SELECT id FROM shilian.batch)))
		UNION ALL
		(SELECT * FROM shilian.receipt_exceptions(ARRAY(SELECT id FROM shilian.link), ARRAY(SELECT id FROM shilian.batch))
		 EXCEPT ALL SELECT operator_id, batch_id, link_id, received_on, uninspected, expires_on FROM shilian.receipt_exception)) d}),
	'0', 'receipt_exception equals a recount by the rule');

$node->stop;
done_testing();
