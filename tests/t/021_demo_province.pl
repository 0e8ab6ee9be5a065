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
like($first, qr/^12 15 11 \d+$/, 'twelve operators, fifteen batches, eleven links (nine sales, two processing inputs; two batches and a sale by EPCIS)');

($ret, $out, $err) = $node->psql('postgres', undef, extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', $demo]);
is($ret, 0, 'loading it again succeeds') or diag($err);
is($node->safe_psql('postgres', $counts), $first, 'and changes nothing');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM shilian.receipt_drafts((SELECT id FROM shilian.operator WHERE name = '青岛市南惠民超市'))}),
	'1', 'the supermarket has one receipt draft');
is($node->safe_psql('postgres', q{SELECT bool_and(v.ok) FROM shilian.operator o, LATERAL shilian.chain_verify(o.id) v}),
	't', 'every operator chain verifies');

$node->stop;
done_testing();
