# Gateway basics over real HTTP: /healthz (200 up, 503 down, recovery),
# /v1/version, JSON 404 and 405, and a clean SIGTERM (under valgrind in make test).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('gw_basics');
my $gw = start_gateway($node);

my $r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 200, 'healthz is 200 with the database up');
is_deeply(json_body($r), { status => 'ok', database => 'up' }, 'healthz body');
like($r->{headers}{'content-type'}, qr{^application/json}, 'healthz is JSON');

$r = http_call($gw, 'GET', '/v1/version');
is($r->{status}, 200, 'version is 200');
my $v = json_body($r);
my ($control_version) = do { open my $fh, '<', "$ENV{SHILIAN_TOP}/shilian.control" or die; join('', <$fh>) } =~ /default_version = '([^']+)'/;
is($v->{gateway}, $control_version, 'gateway version is the extension version of shilian.control');
is($v->{library}, $v->{extension}, 'library and install script agree');
like($v->{extension}, qr/^\d+\.\d+\.\d+$/, 'extension version looks like x.y.z');

for my $path ('/nope', '/v1', '/v1/version/extra', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd',
	'/v1/nothing/1%27%3Bdrop%20table%20x%3B--')
{
	$r = http_call($gw, 'GET', $path);
	is($r->{status}, 404, "unknown path $path is 404");
	my $e = json_body($r);
	is($e->{code}, 'GW404', "404 body has code for $path");
	ok(exists $e->{message} && exists $e->{details} && exists $e->{hint}, "404 body has the four error keys for $path");
}

$r = http_call($gw, 'DELETE', '/healthz');
is($r->{status}, 405, 'wrong method is 405');
is($r->{headers}{allow}, 'GET', '405 names the allowed method');
is(json_body($r)->{code}, 'GW405', '405 code');

$r = http_call($gw, 'HEAD', '/healthz');
is($r->{status}, 200, 'HEAD of a GET route works');

# Database down → 503 with the error body; back up → 200 again (reconnect).
$node->stop('fast');
$r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 503, 'healthz is 503 with the database down');
is(json_body($r)->{database}, 'down', 'healthz says the database is down');
$r = http_call($gw, 'GET', '/v1/version');
is($r->{status}, 503, 'a database route is 503 with the database down');
is(json_body($r)->{code}, 'GW503', 'and says why');
$node->start;
$r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 200, 'healthz recovers when the database returns');
is(http_call($gw, 'GET', '/v1/version')->{status}, 200, 'version works after reconnect');

stop_gateway($gw);

# Bad configuration is refused with a message, not a crash.
my ($out, $err);
my $ok = IPC::Run::run([ $ENV{SHILIAN_GATEWAY}, '--threads', 'many' ], '>', \$out, '2>', \$err);
ok(!$ok, 'a non-numeric --threads is refused');
like($err, qr/invalid value "many" for threads/, 'with a message naming the setting');
$ok = IPC::Run::run([ $ENV{SHILIAN_GATEWAY}, '--no-such-flag', 'x' ], '>', \$out, '2>', \$err);
ok(!$ok, 'an unknown flag is refused');

$node->stop;
done_testing();
