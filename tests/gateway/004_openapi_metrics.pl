# /openapi.json describes every implemented route (the list below is the
# routes the tests exercise) and /metrics counts them in Prometheus format.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('gw_meta');
my $gw = start_gateway($node);

my @implemented = (
	[ get => '/healthz' ], [ get => '/metrics' ], [ get => '/openapi.json' ],
	[ get => '/v1/version' ], [ get => '/v1/session' ], [ post => '/v1/hash' ],
);

my $r = http_call($gw, 'GET', '/openapi.json');
is($r->{status}, 200, 'openapi: 200');
my $doc = json_body($r);
is($doc->{openapi}, '3.1.0', 'OpenAPI 3.1');
for my $route (@implemented)
{
	my ($m, $p) = @$route;
	ok($doc->{paths}{$p}{$m}, "openapi describes \U$m\E $p");
}
my $hash = $doc->{paths}{'/v1/hash'}{post}{requestBody}{content}{'application/json'}{schema};
is_deeply($hash->{required}, ['data_hex'], 'openapi: /v1/hash requires data_hex');
ok(!$hash->{additionalProperties}, 'openapi: unknown fields are not allowed');
is_deeply($doc->{paths}{'/v1/version'}{get}{security}, [], 'openapi: public routes need no token');

http_call($gw, 'GET', '/healthz') for 1 .. 3;
http_call($gw, 'GET', '/nope');
# A request is counted just after its reply is written, so the last one may
# still be finishing: poll until it shows.
for (1 .. 50)
{
	$r = http_call($gw, 'GET', '/metrics');
	last if $r->{content} =~ /route="unmatched",status="404"\} 1$/m;
	select(undef, undef, undef, 0.1);
}
is($r->{status}, 200, 'metrics: 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'metrics: Prometheus text format');
my $m = $r->{content};
like($m, qr/^shilian_http_requests_total\{method="GET",route="\/healthz",status="200"\} 3$/m, 'metrics: 3 healthz requests counted');
like($m, qr/^shilian_http_requests_total\{method="",route="unmatched",status="404"\} 1$/m, 'metrics: the 404 counted as unmatched');
like($m, qr/^shilian_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\} 3$/m, 'metrics: latency histogram');
my ($in_use) = $m =~ /^shilian_db_connections_in_use (\d+)$/m;
ok(defined $in_use && $in_use >= 1 && $in_use <= 4, 'metrics: requests in flight, this one included, within the pool');
like($m, qr/^shilian_db_connections_max 4$/m, 'metrics: pool size');
like($m, qr/^shilian_http_server_errors_total 0$/m, 'metrics: no server errors');

stop_gateway($gw);
$node->stop;
done_testing();
