# Per-address throttles (issue 14): failed API keys back off exponentially
# per client address (429 GW429 with Retry-After, even for a good key while
# it lasts), and the public lookup /v1/public/trace/... is rate limited per
# address. Other addresses are untouched: the test also calls from
# 127.0.0.2 (Linux routes all of 127/8 to the loopback). Small limits are
# configured so that the windows pass within the test.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use HTTP::Tiny;
use Time::HiRes qw(sleep time);
use ShilianTest;

my $node = shilian_node('gw_throttle');
my $key = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.api_client_add('erp-t', 'throttle test');
	select shilian.api_client_key_new('erp-t');
});
$key = (split /\n/, $key)[-1];

my $gw = start_gateway($node, threads => 2, args => [
	'--apikey-fail-threshold', '3', '--apikey-backoff-ms', '3000', '--apikey-backoff-max-ms', '12000',
	'--public-rate-limit', '3', '--public-rate-window-ms', '5000' ]);

sub from
{
	my ($addr, $path, %headers) = @_;
	my $ua = HTTP::Tiny->new(timeout => 60, keep_alive => 0, local_address => $addr);
	my $r = $ua->request('GET', $gw->{url} . $path, { headers => \%headers });
	$r->{json} = json_body($r);
	return $r;
}

sub throttled
{
	my ($r, $max_wait, $name) = @_;
	is($r->{status}, 429, "$name: 429");
	is($r->{json}{code}, 'GW429', "$name: GW429");
	my $ra = $r->{headers}{'retry-after'} // '';
	ok($ra =~ /^\d+$/ && $ra >= 1 && $ra <= $max_wait, "$name: Retry-After $ra (1..$max_wait)");
	return $ra;
}

my $bad = 'sl_000000000000_' . ('0' x 64);

# ---- failed API keys --------------------------------------------------------
is(from('127.0.0.2', '/v1/session', 'X-API-Key' => $key)->{status}, 200, 'the key works');
for my $i (1 .. 3)
{
	is(from('127.0.0.1', '/v1/session', 'X-API-Key' => $bad)->{status}, 401, "bad key $i from 127.0.0.1: 401");
}
throttled(from('127.0.0.1', '/v1/session', 'X-API-Key' => $bad), 3, 'a 4th bad key at once');
throttled(from('127.0.0.1', '/v1/session', 'X-API-Key' => $key), 3, 'even a good key from that address, while it waits');
is(from('127.0.0.2', '/v1/session', 'X-API-Key' => $key)->{status}, 200, 'a good key from 127.0.0.2: 200');
is(from('127.0.0.2', '/v1/session', 'X-API-Key' => $bad)->{status}, 401, 'a bad key from 127.0.0.2 is its own first failure: 401');
is(from('127.0.0.1', '/v1/session', Authorization => 'Bearer ' . make_jwt({ role => 'admin' }))->{status}, 200,
	'bearer tokens from 127.0.0.1 are not held back');

sleep 3.2;
is(from('127.0.0.1', '/v1/session', 'X-API-Key' => $key)->{status}, 200, 'after Retry-After the good key works again');
# the success forgot the failures: three more before the backoff, which then doubles
for my $i (1 .. 3)
{
	is(from('127.0.0.1', '/v1/session', 'X-API-Key' => $bad)->{status}, 401, "after the success, bad key $i: 401");
}
throttled(from('127.0.0.1', '/v1/session', 'X-API-Key' => $bad), 3, 'backoff again after the 3rd');
sleep 3.2;
is(from('127.0.0.1', '/v1/session', 'X-API-Key' => $bad)->{status}, 401, 'the next bad key is checked (401)');
my $ra = throttled(from('127.0.0.1', '/v1/session', 'X-API-Key' => $bad), 6, 'and the backoff doubles');
cmp_ok($ra, '>=', 4, 'to about 6 s');

# ---- the public lookup ---------------------------------------------------------
my $code = '/v1/public/trace/370112000000000000';
my $start = time();
for my $i (1 .. 3)
{
	isnt(from('127.0.0.1', $code)->{status}, 429, "public lookup $i from 127.0.0.1: answered");
}
throttled(from('127.0.0.1', $code), 5, 'the 4th public lookup in the window');
isnt(from('127.0.0.2', $code)->{status}, 429, 'a lookup from 127.0.0.2: answered');
is(from('127.0.0.1', '/v1/version')->{status}, 200, 'other public routes are not limited');
is(http_call($gw, 'GET', '/healthz')->{status}, 200, '/healthz answers');
# the window began when the gateway took the first lookup, a little after
# $start (later under valgrind on a loaded machine): a second of margin
sleep(6 - (time() - $start)) if time() - $start < 6;
isnt(from('127.0.0.1', $code)->{status}, 429, 'after the window, lookups from 127.0.0.1 are answered again');

stop_gateway($gw);
$node->stop;
done_testing();
