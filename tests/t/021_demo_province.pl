# The demo province that `make run` loads (tests/demo/province.sql) loads
# without error, and loading it again changes nothing (it is idempotent).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('demo_province');
my $demo = "$ENV{SHILIAN_TOP}/tests/demo/province.sql";
my $counts = q{SELECT (SELECT count(*) FROM shilian.operator) || ' ' || (SELECT count(*) FROM shilian.batch)
	|| ' ' || (SELECT count(*) FROM shilian.link) || ' ' || (SELECT count(*) FROM shilian.ledger)};

my ($ret, $out, $err) = $node->psql('postgres', undef, extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', $demo]);
is($ret, 0, 'the demo province loads') or diag($err);
my $first = $node->safe_psql('postgres', $counts);
like($first, qr/^14 20 13 \d+$/, 'fourteen operators (one registered itself, docs/registration.md), twenty batches, thirteen links (eleven sales, two processing inputs; four batches and two sales by EPCIS, one of them of serialised items)');

($ret, $out, $err) = $node->psql('postgres', undef, extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', $demo]);
is($ret, 0, 'loading it again succeeds') or diag($err);
is($node->safe_psql('postgres', $counts), $first, 'and changes nothing');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM shilian.receipt_drafts((SELECT id FROM shilian.operator WHERE name = '青岛市南惠民超市'))}),
	'1', 'the supermarket has one receipt draft');
is($node->safe_psql('postgres', q{
	SELECT string_agg(r.status || ':' || coalesce(o.status, '-'), ' ' ORDER BY r.id)
	  FROM shilian.registration_request r LEFT JOIN shilian.operator o ON o.id = r.operator_id}),
	'registered:active pending:-', 'one self-registration matched and activated, one waiting for its station');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || min(c.new->>'qty') || ' ' || min(b.qty::text) || ' ' || min(g.kind)
	  FROM shilian.correction c JOIN shilian.batch b ON b.id = c.record_id JOIN shilian.ledger g ON g.id = c.supersedes}),
	'1 3200 L 3200 L batch_create', "the demo's corrected record: the milk batch, 3200 L, superseding its batch_create entry");
is($node->safe_psql('postgres', q{SELECT bool_and(v.ok) FROM shilian.operator o, LATERAL shilian.chain_verify(o.id) v}),
	't', 'every operator chain verifies');

# The demo mixes units (mass, volume, pieces) in batch, link and consumption
# and spans several cities: ANALYZE of every table of the schema succeeds on
# it (the qty btree order is total) and leaves statistics for the qty columns.
is($node->safe_psql('postgres', q{
	SELECT (SELECT count(DISTINCT shilian.qty_dimension(qty)) FROM shilian.batch) || ' '
		|| (SELECT count(DISTINCT shilian.qty_dimension(qty_shipped)) FROM shilian.link) || ' '
		|| (SELECT count(DISTINCT shilian.qty_dimension(qty)) FROM shilian.consumption) || ' '
		|| (SELECT count(DISTINCT left(station, 4)) FROM shilian.operator)}),
	'3 3 3 2', 'the demo mixes mass, volume and pieces (in each of batch, link and consumption) and two cities');
my @tables = split /\n/, $node->safe_psql('postgres', q{
	SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = 'shilian' AND c.relkind IN ('r', 'p') ORDER BY 1});
ok(@tables > 20, 'the schema\'s tables are listed');
for my $t (@tables)
{
	($ret, $out, $err) = $node->psql('postgres', "ANALYZE shilian.$t");
	is($ret, 0, "ANALYZE shilian.$t succeeds") or diag($err);
}
is($node->safe_psql('postgres', q{
	SELECT string_agg(tablename || '.' || attname, ' ' ORDER BY tablename, attname) FROM pg_stats
	 WHERE schemaname = 'shilian' AND (tablename, attname) IN (('batch', 'qty'), ('batch', 'qty_left'),
		('link', 'qty_shipped'), ('consumption', 'qty'))}),
	'batch.qty batch.qty_left consumption.qty link.qty_shipped', 'pg_stats covers the qty columns');

$node->stop;
done_testing();
