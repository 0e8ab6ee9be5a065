# Reads on replicas (issue 22; docs/operations.md#reads-on-replicas): a
# primary and a streaming hot standby, the gateway's read pool (read_dsn,
# target_session_attrs=prefer-standby) on the standby. A trace or a
# regulator figure is served by the standby within the staleness bound and
# says so in Shilian-Read-Source; with the standby's replay paused the read
# is still the standby's while the bound holds (the new lot is not there
# yet), then the primary's once the lag is over it; a write's
# Shilian-Commit-LSN sent back as Shilian-Min-LSN reads the write from the
# primary while the standby has not replayed it; writes never go to the
# standby; the standby down, reads go to the primary, never 5xx.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ShilianTest;

my $MAX_LAG = 1500;		# read_max_lag_ms of the gateway under test

my $primary = PostgreSQL::Test::Cluster->new('rr_primary');
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
my $standby = PostgreSQL::Test::Cluster->new('rr_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $dsn = 'host=' . $primary->host . ' port=' . $primary->port
  . ' dbname=postgres user=shilian_gateway connect_timeout=2 target_session_attrs=read-write';
# the standby first, the primary as the fallback of prefer-standby
my $read_dsn = 'host=' . join(',', $standby->host, $primary->host) . ' port=' . join(',', $standby->port, $primary->port)
  . ' dbname=postgres user=shilian_gateway connect_timeout=2 target_session_attrs=prefer-standby';
my $gw = start_gateway($primary, dsn => $dsn,
	args => ['--read-dsn', $read_dsn, '--read-max-lag-ms', $MAX_LAG]);
# only the standby in the read pool's connection string
my $read_only_standby = 'host=' . $standby->host . ' port=' . $standby->port
  . ' dbname=postgres user=shilian_gateway connect_timeout=2';
my $gw_standby_only = start_gateway($primary, dsn => $dsn, args => ['--read-dsn', $read_only_standby]);
my $gw_plain = start_gateway($primary, dsn => $dsn);

my %farm = (Authorization => 'Bearer ' . make_jwt({ role => 'operator', operator_id => $farm }),
	'Content-Type' => 'application/json');
my %regulator = (Authorization => 'Bearer ' . make_jwt({ role => 'regulator', jurisdiction => '370000' }));

sub lot
{
	my ($g) = @_;
	my $r = http_call($g, 'POST', '/v1/batches', body => encode_json({ product => $product, qty => '5 kg' }),
		headers => \%farm);
	is($r->{status}, 201, 'a lot is recorded') or diag($r->{content});
	return $r;
}
sub source { return $_[0]{headers}{'shilian-read-source'} // '(none)' }
sub forward
{
	my ($g, $code, %h) = @_;
	return http_call($g, 'GET', "/v1/trace/$code/forward", headers => { %farm, %h });
}

# 1. The gateway without read_dsn: as before, no new header.
my $r = lot($gw_plain);
my $lot0 = json_body($r)->{trace_code};
ok(!exists $r->{headers}{'shilian-commit-lsn'}, 'no read pool: a write has no Shilian-Commit-LSN');
$r = forward($gw_plain, $lot0);
is($r->{status}, 200, 'no read pool: a trace is served');
ok(!exists $r->{headers}{'shilian-read-source'}, 'no read pool: no Shilian-Read-Source');

# 2. A write: its WAL position comes back; the write itself never carries a read source.
$r = lot($gw);
my $lot1 = json_body($r)->{trace_code};
my $lsn1 = $r->{headers}{'shilian-commit-lsn'} // '';
like($lsn1, qr{^[0-9A-F]+/[0-9A-F]+$}, "a write returns Shilian-Commit-LSN ($lsn1)");
ok(!exists $r->{headers}{'shilian-read-source'}, 'a write is no replica read (no Shilian-Read-Source)');
# a write with an Idempotency-Key (its own transaction steps) returns it too
$r = http_call($gw, 'POST', '/v1/batches', body => encode_json({ product => $product, qty => '1 kg' }),
	headers => { %farm, 'Idempotency-Key' => 'rr-1' });
is($r->{status}, 201, 'a write with an Idempotency-Key: 201');
like($r->{headers}{'shilian-commit-lsn'} // '', qr{^[0-9A-F]+/[0-9A-F]+$}, 'and its Shilian-Commit-LSN');
$primary->wait_for_catchup($standby);

# 3. Caught up: the standby serves traces and figures, and says how stale at most.
$r = forward($gw, $lot1);
is($r->{status}, 200, 'a trace with the standby caught up: 200');
like(source($r), qr/^standby; lag-ms=(\d+)$/, 'served by the standby: ' . source($r));
my ($lag) = source($r) =~ /lag-ms=(\d+)/;
cmp_ok($lag // 1e9, '<=', $MAX_LAG, 'its stated lag is within the bound');
is((json_body($r) // [])->[0]{batch}, $lot1, 'and it is the lot');
$r = http_call($gw, 'GET', '/v1/regulator/jurisdictions/370000/stats', headers => \%regulator);
is($r->{status}, 200, 'a regulator figure: 200');
like(source($r), qr/^standby; lag-ms=\d+$/, 'a regulator figure is served by the standby: ' . source($r));
$r = http_call($gw, 'GET', '/v1/regulator/jurisdictions/370000/monthly-report.csv', headers => \%regulator);
is($r->{status}, 200, 'a CSV export: 200');
like(source($r), qr/^standby;/, 'a CSV export is served by the standby');
$r = http_call($gw, 'GET', "/v1/ledger/export?operator=$farm", headers => \%farm);
is($r->{status}, 200, 'the ledger export: 200') or diag($r->{content});
like(source($r), qr/^standby;/, 'the ledger export is served by the standby');
# a route the standby may not serve: no header, the primary's
$r = http_call($gw, 'GET', "/v1/batches/$lot1", headers => \%farm);
is($r->{status}, 200, 'a route not marked for replicas: 200');
ok(!exists $r->{headers}{'shilian-read-source'}, 'and it is not a replica read (no header)');
# a malformed Shilian-Min-LSN
$r = forward($gw, $lot1, 'Shilian-Min-LSN' => 'zz/1');
is($r->{status}, 400, 'a malformed Shilian-Min-LSN: 400');
is(json_body($r)->{code}, 'SLG03', 'SLG03');

# 4. The standby's replay paused, a new lot written on the primary.
$standby->safe_psql('postgres', 'select pg_wal_replay_pause()');
my $paused_at = time;
$r = lot($gw);
my $lot2 = json_body($r)->{trace_code};
my $lsn2 = $r->{headers}{'shilian-commit-lsn'} // '';
like($lsn2, qr{^[0-9A-F]+/[0-9A-F]+$}, 'a write while the standby is paused goes to the primary and returns its LSN');
ok(!exists $r->{headers}{'shilian-read-source'}, 'the write carries no read source: never the standby');
is($standby->safe_psql('postgres', "select count(*) from shilian.batch where trace_code::text = '$lot2'"), '0',
	'the paused standby does not have the new lot');

# read-your-own-writes: the write's LSN sent back; the standby has not replayed it
$r = forward($gw, $lot2, 'Shilian-Min-LSN' => $lsn2);
is($r->{status}, 200, 'read-your-own-writes: the new lot is found');
is(source($r), 'primary; reason=min-lsn', 'by the primary, as the standby has not replayed the write');
is((json_body($r) // [])->[0]{batch}, $lot2, 'it is the new lot');
# an older LSN the standby has replayed: the standby may serve (if the lag allows)
$r = forward($gw, $lot1, 'Shilian-Min-LSN' => $lsn1);
if (time - $paused_at < $MAX_LAG / 1000 - 0.3)
{
	like(source($r), qr/^standby;/, 'a Shilian-Min-LSN the standby has replayed: the standby may serve it');
}
else
{
	pass('(the bound passed meanwhile on a slow machine; the lag case is checked below)');
}

# within the bound, without Shilian-Min-LSN, the standby still serves: a bounded, stale read
$r = forward($gw, $lot2);
if (time - $paused_at < $MAX_LAG / 1000 - 0.3)
{
	like(source($r), qr/^standby; lag-ms=\d+$/, 'within the bound the paused standby still serves: ' . source($r));
	isnt($r->{status}, 200, 'and the new lot is not there yet (stale by at most the bound)');
}
else
{
	pass('(the bound passed meanwhile on a slow machine)') for 1 .. 2;
}

# past the bound: the primary serves
my $wait = $MAX_LAG / 1000 + 0.5 - (time - $paused_at);
usleep(int($wait * 1e6)) if $wait > 0;
$r = forward($gw, $lot2);
is($r->{status}, 200, 'past the bound the new lot is found');
is(source($r), 'primary; reason=lag', 'by the primary: the standby lags more than read_max_lag_ms');
$r = http_call($gw, 'GET', '/v1/regulator/jurisdictions/370000/stats', headers => \%regulator);
is($r->{status}, 200, 'a regulator figure past the bound: 200');
is(source($r), 'primary; reason=lag', 'also by the primary');

# 5. Replay resumed: the standby serves again.
$standby->safe_psql('postgres', 'select pg_wal_replay_resume()');
$primary->wait_for_catchup($standby);
$r = forward($gw, $lot2);
is($r->{status}, 200, 'replay resumed: the new lot is found');
like(source($r), qr/^standby; lag-ms=\d+$/, 'on the standby again');
$r = forward($gw, $lot2, 'Shilian-Min-LSN' => $lsn2);
like(source($r), qr/^standby;/, 'and with the LSN of the write, now replayed, too');

# the read pool's connections cut while idle (a standby restart): made again, no error
$standby->safe_psql('postgres', q{select count(pg_terminate_backend(pid)) from pg_stat_activity
	where usename = 'shilian_gateway'});
$r = forward($gw, $lot2);
is($r->{status}, 200, 'the read connections cut while idle: 200');
like(source($r), qr/^standby;/, 'served by the standby on a new connection');

# 6. The standby down: reads go to the primary, never a 5xx.
$standby->stop('immediate');
for my $g ($gw, $gw_standby_only)
{
	for my $i (1 .. 2)
	{
		$r = forward($g, $lot2);
		is($r->{status}, 200, "standby down, read $i: 200");
	}
	like(source($r), qr/^primary; reason=(no-standby|standby-unavailable)$/, 'by the primary: ' . source($r));
}
is(source(forward($gw, $lot2)), 'primary; reason=no-standby',
	'prefer-standby with the primary listed: it found only the primary');
is(source(forward($gw_standby_only, $lot2)), 'primary; reason=standby-unavailable',
	'only the standby listed: unavailable');
is(lot($gw)->{status}, 201, 'writes go on');

# 7. The standby back: served there again (the pool reconnects by itself).
$standby->start;
$primary->wait_for_catchup($standby);
$r = forward($gw, $lot2);
like(source($r), qr/^standby;/, 'the standby back: it serves again');
$r = forward($gw_standby_only, $lot2);
like(source($r), qr/^standby;/, 'also for the gateway whose read pool names only it');

# 8. /metrics counts the reads by source.
$r = http_call($gw, 'GET', '/metrics');
my ($standby_n) = $r->{content} =~ /^shilian_read_requests_total\{source="standby"\} (\d+)$/m;
my ($lag_n) = $r->{content} =~ /^shilian_read_requests_total\{source="primary",reason="lag"\} (\d+)$/m;
my ($min_n) = $r->{content} =~ /^shilian_read_requests_total\{source="primary",reason="min-lsn"\} (\d+)$/m;
cmp_ok($standby_n // 0, '>=', 6, "/metrics: reads served by the standby (${\($standby_n // 0)})");
cmp_ok($lag_n // 0, '>=', 2, '/metrics: reads the primary served for lag');
cmp_ok($min_n // 0, '>=', 1, '/metrics: reads the primary served for a Shilian-Min-LSN');
unlike(http_call($gw_plain, 'GET', '/metrics')->{content}, qr/shilian_read_requests_total/,
	'no read pool: no read-source metrics');

is($primary->safe_psql('postgres', q{select count(*) filter (where not ok) from shilian.chain_verify()}), '0',
	'every hash chain verifies');
stop_gateway($_) for $gw, $gw_standby_only, $gw_plain;
$standby->stop;
$primary->stop;
done_testing();
