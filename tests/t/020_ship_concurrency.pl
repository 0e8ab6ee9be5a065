# Concurrent shipments from one batch: 8 sessions ship from the same batch at
# once and the total shipped never exceeds what the batch holds (ship() locks
# the batch row FOR UPDATE and checks the balance under the lock); 8 sessions
# receive the same pending sale at once and exactly one receipt is written.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('ship_concurrency');
my $conn = '-h ' . $node->host . ' -p ' . $node->port;

# A seller with a licence, 8 buyers, one product and a batch of 100 kg.
$node->safe_psql('postgres', q{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370102001', '泉城路所');
	SELECT shilian.operator_register('operator ' || i, 'circulation', '{wholesaler}', '370102001',
		'address', 'contact', reg_card => 'CARD-' || i) FROM generate_series(1, 9) i;
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(1, 'JY13701020000018', '{vegetables}', '2020-01-01', '2099-12-31');
	SELECT shilian.product_register('大白菜', 'vegetables');
	SELECT shilian.batch_create(1, 1, '100 kg');
	SELECT shilian.batch_create(1, 1, '50 kg');
	-- a refusal for lack of balance is an expected outcome here, not a failure
	CREATE FUNCTION try_ship(b_id bigint, buyer_id bigint, q shilian.qty) RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM shilian.ship((SELECT trace_code FROM shilian.batch WHERE id = b_id), buyer_id, q);
		RETURN true;
	EXCEPTION WHEN SQLSTATE 'SLR05' THEN
		RETURN false;
	END $$;
	CREATE FUNCTION try_receive(link_id bigint) RETURNS boolean
	LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM shilian.receive(link_id, (SELECT qty_shipped FROM shilian.link l WHERE l.id = link_id),
			'{"inspector": "tap"}');
		RETURN true;
	EXCEPTION WHEN SQLSTATE 'SLR13' THEN
		RETURN false;
	END $$;
	CREATE TABLE outcome (what text, ok boolean);
});

# 8 clients x 25 shipments of 1 kg = 200 kg wanted from 100 kg.
$node->pgbench("$conn --no-vacuum --client=8 --jobs=8 --transactions=25", 0,
	[qr{processed: 200/200}], [qr{^$}], '8 sessions ship 1 kg each, 200 times, at once',
	{ '020_ship_1kg' => q{
		INSERT INTO outcome SELECT 'fixed', try_ship(1, 2 + :client_id, '1 kg');
	} }, 'postgres');

is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE ok) FROM outcome WHERE what = 'fixed'}),
	'100', 'exactly 100 of the 200 shipments of 1 kg were accepted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.link WHERE from_batch = 1}),
	'100', 'one link per accepted shipment');
is($node->safe_psql('postgres', q{
		SET search_path = shilian, public;
		SELECT sum(qty_shipped)::text || ' / ' || b.qty_left::text
		  FROM shilian.link l JOIN shilian.batch b ON b.id = l.from_batch WHERE b.id = 1 GROUP BY b.qty_left}),
	'100 kg / 0 g', 'total shipped equals the batch and nothing is left');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.ledger WHERE kind = 'ship'}),
	'100', 'one ledger entry per accepted shipment, none for a refused one');

# Random sizes from 1 g to 5 kg against 50 kg: the balance never goes negative
# and always equals the batch less what was shipped.
$node->pgbench("$conn --no-vacuum --client=8 --jobs=8 --transactions=40", 0,
	[qr{processed: 320/320}], [qr{^$}], '8 sessions ship random quantities at once',
	{ '020_ship_random' => q{
		\set g random(1, 5000)
		INSERT INTO outcome SELECT 'random', try_ship(2, 2 + :client_id, (:g || ' g')::shilian.qty);
	} }, 'postgres');

my ($shipped, $left, $ok) = split /\|/, $node->safe_psql('postgres', q{
	SET search_path = shilian, public;
	SELECT sum(l.qty_shipped) <= b.qty, b.qty_left = b.qty - sum(l.qty_shipped),
	       count(*) = (SELECT count(*) FILTER (WHERE ok) FROM outcome WHERE what = 'random')
	  FROM shilian.link l JOIN shilian.batch b ON b.id = l.from_batch WHERE b.id = 2 GROUP BY b.qty, b.qty_left});
is($shipped, 't', 'random sizes: total shipped never exceeds the batch');
is($left, 't', 'random sizes: what is left is the batch less what was shipped');
is($ok, 't', 'random sizes: one link per accepted shipment');
ok($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE NOT ok) FROM outcome WHERE what = 'random'}) > 0,
	'random sizes: the batch ran out, so some shipments were refused');

# One pending sale, 8 sessions receive it at once: one receipt, one new batch.
my $link = $node->safe_psql('postgres', q{
	SELECT shilian.ship(shilian.batch_create(1, 1, '10 kg'), 3, '1 kg')});
my $batches = $node->safe_psql('postgres', 'SELECT count(*) FROM shilian.batch');
$node->pgbench("$conn --no-vacuum --client=8 --jobs=8 --transactions=1", 0,
	[qr{processed: 8/8}], [qr{^$}], '8 sessions receive the same sale at once',
	{ '020_receive' => "INSERT INTO outcome SELECT 'receive', try_receive($link);" }, 'postgres');
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE ok) || '/' || count(*) FROM outcome WHERE what = 'receive'}),
	'1/8', 'exactly one of 8 concurrent receipts of one sale succeeds');
is($node->safe_psql('postgres', 'SELECT count(*) FROM shilian.batch'), $batches + 1,
	'and exactly one batch is created for it');

# The kept statements survive DROP and CREATE EXTENSION in one session (the
# types get new OIDs): the record functions prepare them again.
is($node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	SELECT shilian.product_register('before', 'other') > 0;
	SELECT shilian.batch_create(1, 1, '1 kg') IS NOT NULL;
	BEGIN;
	SET LOCAL shilian.allow_drop = on;
	DROP EXTENSION shilian CASCADE;
	COMMIT;
	CREATE EXTENSION shilian;
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370102001', '泉城路所');
	SELECT shilian.operator_activate(shilian.operator_register('again', 'production', '{farm}',
		'370102001', 'a', 'c', reg_card => 'AGAIN'));
	SELECT shilian.batch_create(1, shilian.product_register('after', 'vegetables', edible_agricultural => true),
		'2 kg') IS NOT NULL;
}), "t\nt\n370000\n370100\n370102\n370102001\n\nt",
	'record functions work after DROP and CREATE EXTENSION in the same session');

$node->stop;
done_testing();
