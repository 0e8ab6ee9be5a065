# The gateway and a primary that goes away (docs/operations.md#the-gateway-
# across-a-failover), without pg_auto_failover: a primary and a streaming
# standby, the gateway's dsn naming both hosts. Without
# target_session_attrs=read-write a write that lands on the standby is 503
# GW5031 (Retry-After); with it writes go to the primary. With the primary
# stopped every request is 503 GW503 with Retry-After and /healthz says the
# database is down; the primary back, the gateway reconnects by itself; the
# standby promoted in its place, the same running gateway writes there.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $primary = PostgreSQL::Test::Cluster->new('gw_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "timezone = 'UTC'\nmax_connections = 60\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION shilian');
my ($product, $farm) = split /\|/, (split /\n/, $primary->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('农场', 'production', '{farm}', '370112001', '历城', '1', reg_card => 'CR-F1') as f \gset
	select shilian.operator_activate(:f);
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \gset
	select :p || '|' || :f;
}))[-1];

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('gw_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $hosts = join ',', $standby->host, $primary->host;
my $ports = join ',', $standby->port, $primary->port;
my $plain = "host=$hosts port=$ports dbname=postgres user=shilian_gateway connect_timeout=2";
my $gw_plain = start_gateway($primary, dsn => $plain);
my $gw = start_gateway($primary, dsn => "$plain target_session_attrs=read-write");

my $tok = make_jwt({ role => 'operator', operator_id => $farm });
my %auth = (Authorization => "Bearer $tok", 'Content-Type' => 'application/json');
my @acked;
sub lot
{
	my ($g) = @_;
	my $r = http_call($g, 'POST', '/v1/batches', body => encode_json({ product => $product, qty => '5 kg' }),
		headers => \%auth);
	push @acked, json_body($r)->{trace_code} if $r->{status} == 201;
	return $r;
}

# 1. The standby first in the list: without target_session_attrs the write
# reaches it and is refused as read-only.
my $r = lot($gw_plain);
is($r->{status}, 503, 'a write on the standby (no target_session_attrs): 503');
is(json_body($r)->{code}, 'GW5031', 'GW5031: the server is read-only');
is($r->{headers}{'retry-after'}, '2', 'with Retry-After: 2');
is(http_call($gw_plain, 'GET', '/v1/batches', headers => \%auth)->{status}, 200,
	'reads still work there (a read-only transaction on the standby)');

# 2. With target_session_attrs=read-write the same list reaches the primary.
$r = lot($gw);
is($r->{status}, 201, 'target_session_attrs=read-write: the write reaches the primary');
is(lot($gw)->{status}, 201, 'and the next one');

# 3. The primary stopped: no primary is reachable.
$primary->stop('immediate');
$r = lot($gw);
is($r->{status}, 503, 'no primary: a write is 503');
is(json_body($r)->{code}, 'GW503', 'GW503: the database is unavailable');
is($r->{headers}{'retry-after'}, '5', 'with Retry-After: 5');
# the pool's connection to the old primary is found broken; the next request
# connects anew and finds only the standby
$r = lot($gw);
is($r->{status}, 503, 'the next write: 503 again');
like(json_body($r)->{details} // '', qr/read-only/, 'details say why: the only server that answers is read-only')
  or diag(json_body($r)->{details});
$r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 503, '/healthz is 503 while no primary is reachable');
is(http_call($gw, 'GET', '/v1/version')->{status}, 503, 'a read is 503 too (the pool connects to the primary only)');

# 4. The primary back: the running gateway reconnects.
$primary->start;
$r = lot($gw);
is($r->{status}, 201, 'the primary back: the gateway reconnects by itself and writes');
is(http_call($gw, 'GET', '/healthz')->{status}, 200, '/healthz is 200 again');
$primary->wait_for_catchup($standby);

# 5. The primary lost for good, the standby promoted: the same gateway
# follows the connection string to the new primary.
$primary->stop('immediate');
is(lot($gw)->{status}, 503, 'primary lost: 503 until a standby is promoted');
$standby->promote;
$r = lot($gw);
is($r->{status}, 201, 'standby promoted: the same running gateway writes to it');
is(lot($gw_plain)->{status}, 201, 'and so does the gateway without target_session_attrs (its first host is now the primary)');

my $codes = join ',', @acked;
is($standby->safe_psql('postgres', "select count(*) from shilian.batch where trace_code::text = any ('{$codes}')"),
	scalar(@acked), 'every acknowledged lot is on the new primary (' . scalar(@acked) . ')');
is($standby->safe_psql('postgres', q{select count(*) filter (where not ok) from shilian.chain_verify()}), '0',
	'every hash chain verifies');

stop_gateway($gw_plain);
stop_gateway($gw);
$standby->stop;
done_testing();
