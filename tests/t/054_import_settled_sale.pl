# A sale that a receive line of the same chunk receives is written once,
# already received (extension/import.c: an UPDATE of a row the transaction
# inserted re-runs all its foreign-key checks), unless its buyer subscribes
# to receipt drafts: that sale is still written pending first, so the
# buyer's receipt_draft.created event is queued as for ship(). Either way
# the ledger holds the ship entry with the sale pending and the receive
# entry with it received, and the receipt exceptions (a receipt without an
# incoming inspection) are those the records give, kept by the statement
# triggers of link and inspection INSERT.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('import_settled_sale');
$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	SELECT shilian.operator_register('operator ' || i, CASE WHEN i = 1 THEN 'production' ELSE 'circulation' END,
		CASE WHEN i = 1 THEN '{processor}'::text[] ELSE '{wholesaler}' END, '370102001',
		'address ' || i, 'contact ' || i, reg_card => 'CARD-' || i) FROM generate_series(1, 3) i;
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(1, 'JY13701020000010'::shilian.licence_no, '{vegetables}', '2020-01-01', '2099-12-31');
	SELECT shilian.product_register('大白菜', 'vegetables', 30);
	CREATE TABLE b AS SELECT shilian.batch_create(1, 1, '1 t', current_date - 3)::text AS code;
	-- buyer 2 subscribes to receipt drafts, buyer 3 does not
	SELECT shilian.webhook_subscribe('https://erp.example.com/drafts', '{receipt_draft}', 2);
	CREATE TABLE lines (n int, line text);
	INSERT INTO lines
	-- pair p (lines 2p - 1, 2p): a sale of p kg to buyer 2 (pairs 1, 2) or 3
	-- (pairs 3, 4), received in full; the odd pairs' receipts without their
	-- incoming inspection (an exception each)
	SELECT n, CASE WHEN n % 2 = 1
		THEN json_build_object('kind', 'ship', 'code', (SELECT code FROM b),
			'buyer', CASE WHEN (n + 1) / 2 <= 2 THEN 2 ELSE 3 END,
			'qty', (n + 1) / 2 || ' kg', 'shipped_on', current_date - 1)
		ELSE json_build_object('kind', 'receive', 'link_ref', n - 1, 'qty', n / 2 || ' kg',
			'inspection', CASE WHEN (n / 2) % 2 = 0 THEN json_build_object('inspector', 'tap') END)
		END::text
	  FROM generate_series(1, 8) n;
});

my $out = $node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	BEGIN;
	SELECT shilian.import_ndjson(string_agg(line, E'\n' ORDER BY n)) AS job FROM lines \gset
	-- the link rows updated by the upload (a sale written pending, then received)
	SELECT 'updated ' || n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'shilian.link'::regclass;
	COMMIT;
	SELECT 'job ' || status || ' ' || accepted || ' ' || refused FROM shilian.import_job WHERE id = :job;
});
like($out, qr/^job applied 8 0$/m, 'every line accepted');
like($out, qr/^updated 2$/m, 'only the subscriber\'s two sales are written pending and then received');

is($node->safe_psql('postgres', q{
	SELECT string_agg(l.buyer_id || ' ' || l.status, ', ' ORDER BY l.id) FROM shilian.link l}),
	'2 received, 2 received, 3 received, 3 received', 'every sale received');

is($node->safe_psql('postgres', q{
	SELECT string_agg((d.data->>'buyer') || ' ' || (d.data->>'qty'), ', ' ORDER BY d.id)
	  FROM shilian.webhook_delivery d WHERE d.kind = 'receipt_draft.created'}),
	'2 1 kg, 2 2 kg', 'the subscriber gets the receipt draft of each of its sales, as from ship()');

# the ledger: a ship entry holds its sale pending, a receive entry received
is($node->safe_psql('postgres', q{
	SELECT string_agg(e.kind || ' ' || coalesce(j->>'status', j->'link'->>'status')
			|| ' ' || (coalesce(j->>'to_batch', j->'link'->>'to_batch') IS NOT NULL), ', ' ORDER BY e.id)
	  FROM shilian.ledger e, LATERAL shilian.ledger_body(e.body) j WHERE e.kind IN ('ship', 'receive')}),
	join(', ', ('ship pending false', 'receive received true') x 4),
	'the ship entries hold the sale pending, the receive entries received');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.chain_verify(NULL) WHERE NOT ok}), '0',
	'every chain verifies');

# the receipt exceptions kept by the triggers are those the records give
is($node->safe_psql('postgres', q{
	SELECT string_agg(e.link_id || ' ' || e.uninspected, ', ' ORDER BY e.link_id) FROM shilian.receipt_exception e}),
	'1 true, 3 true', 'the two receipts without an incoming inspection are exceptions');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
		(SELECT operator_id, batch_id, link_id, received_on, uninspected, expires_on FROM shilian.receipt_exception
		 EXCEPT SELECT * FROM shilian.receipt_exceptions_of_sales(ARRAY(SELECT id FROM shilian.link)))
		UNION ALL
		(SELECT * FROM shilian.receipt_exceptions_of_sales(ARRAY(SELECT id FROM shilian.link))
		 EXCEPT SELECT operator_id, batch_id, link_id, received_on, uninspected, expires_on FROM shilian.receipt_exception)) x}),
	'0', 'receipt_exception equals its recomputation from the records');

done_testing();
