# Concurrent bulk uploads over the same batches: 8 sessions each upload 10
# times, half of them naming batch X first and half batch Y first, sales and
# their receipts (link_ref). import_apply reads and locks a chunk's sales
# and batches at once in id order, so the sessions wait for each other and
# never deadlock; every line is applied, the balances add up and every
# chain verifies.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('import_concurrency');
my $conn = '-h ' . $node->host . ' -p ' . $node->port;

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	SELECT shilian.operator_register('operator ' || i, 'circulation', '{wholesaler}', '370102001',
		'address', 'contact', reg_card => 'CARD-' || i) FROM generate_series(1, 3) i;
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(1, 'JY13701020000018', '{vegetables}', '2020-01-01', '2099-12-31');
	SELECT shilian.product_register('大白菜', 'vegetables');
	CREATE TABLE b AS SELECT shilian.batch_create(1, 1, '10 t', current_date - 1)::text AS x,
		shilian.batch_create(1, 1, '10 t', current_date - 1)::text AS y;
	-- 40 lines: a sale of 1 kg from one batch, its receipt, a sale from the other, its receipt, ...
	CREATE TABLE bodies AS
	SELECT k, string_agg(line, E'\n' ORDER BY n) AS body FROM (
		SELECT k, n, CASE WHEN n % 2 = 1
			THEN json_build_object('kind', 'ship', 'buyer', 2 + (n / 2) % 2, 'qty', '1 kg',
				'code', CASE WHEN ((n + 1) / 2 % 2 = 1) = (k = 'xy') THEN b.x ELSE b.y END)::text
			ELSE json_build_object('kind', 'receive', 'link_ref', n - 1, 'qty', '1 kg',
				'inspection', json_build_object('inspector', 'tap'))::text END AS line
		  FROM b, (VALUES ('xy'), ('yx')) v(k), generate_series(1, 40) n) l
	 GROUP BY k;
});

$node->pgbench("$conn --no-vacuum --client=8 --jobs=8 --transactions=10", 0,
	[qr{processed: 80/80}], [qr{^$}], '8 sessions upload 10 times each at once, in opposite batch orders',
	{ '050_import' => q{
		SELECT shilian.import_ndjson(body) FROM bodies WHERE k = CASE WHEN :client_id % 2 = 0 THEN 'xy' ELSE 'yx' END;
	} }, 'postgres');

is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || sum(accepted) || ' ' || sum(refused)
	FROM shilian.import_job WHERE status = 'applied'}), '80 3200 0', 'all 80 uploads applied, every line accepted');
is($node->safe_psql('postgres', q{SELECT string_agg(qty_left::text, ' ' ORDER BY id) FROM shilian.batch
	WHERE trace_code::text IN (SELECT x FROM b UNION SELECT y FROM b)}), '9.2 t 9.2 t',
	'each batch gave exactly 80 x 10 kg');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.link WHERE status = 'received'}), '1600',
	'every sale received by the line that named it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.chain_verify(NULL) WHERE NOT ok}), '0',
	'every chain verifies');

$node->stop;
done_testing();
