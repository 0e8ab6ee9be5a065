# The per-request shortcuts of issue 19 keep every check they shortcut:
# a worker remembers the last bearer token whose signature it found good,
# and the principal its claims made (auth.c), and a token that differs in any byte, is signed with another
# secret, or has expired since, is still refused; and the pool hands a
# connection to its waiters through a semaphore each (db.c): many more
# requests than connections are all served, nobody is left counted as
# waiting, and a waiter that timed out is gone from the queue.
use strict;
use warnings;
use IO::Socket::INET;
use MIME::Base64 ();
use POSIX ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use ShilianTest;

my $node = shilian_node('gw_fast_paths');
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway';

# ---- the remembered signature -------------------------------------------
# One worker: every request below is checked by the same thread, after the
# one before it.
my $gw = start_gateway($node, threads => 1, dsn => $dsn);

sub session
{
	my ($token) = @_;
	my $r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => "Bearer $token" });
	return ($r->{status}, $r->{status} == 200 ? json_body($r) : json_body($r)->{message});
}

my $good = make_jwt({ role => 'operator', operator_id => 42 });
my ($status, $body) = session($good);
is($status, 200, 'a good token: 200');
is($body->{operator_id}, '42', 'its operator');
($status, $body) = session($good);
is($status, 200, 'the same token again (its signature remembered): 200');
is($body->{operator_id}, '42', 'the same operator');

# the remembered token with its last signature character changed
my $flipped = $good;
substr($flipped, -1, 1) = substr($good, -1, 1) eq 'A' ? 'B' : 'A';
($status, $body) = session($flipped);
is($status, 401, 'the remembered token with a changed signature: 401');
is($body, 'invalid token', 'the signature is checked');

# its payload changed, its signature kept
my @parts = split /\./, $good;
my $forged = join '.', $parts[0],
  MIME::Base64::encode_base64url('{"role":"operator","operator_id":"43","exp":' . (time() + 3600) . '}'), $parts[2];
($status, $body) = session($forged);
is($status, 401, 'another payload under the remembered signature: 401');
is($body, 'invalid token', 'the signature is checked against the new payload');

# one byte more or less
($status) = session("${good}A");
is($status, 401, 'the remembered token with a byte more: 401');
($status) = session(substr($good, 0, -1));
is($status, 401, 'the remembered token with a byte less: 401');

# the same claims signed with another secret
($status) = session(make_jwt({ role => 'operator', operator_id => 42 }, key => 'another-secret-0123456789abcdef-01234567'));
is($status, 401, 'the same claims signed with another secret: 401');

($status, $body) = session($good);
is($status, 200, 'the good token after the refusals: 200');

# its claims are remembered with it: the route's roles still apply to them
my $r = http_call($gw, 'GET', '/v1/admin/clients', headers => { Authorization => "Bearer $good" });
is($r->{status}, 403, 'the remembered token on a route not open to its role: 403');
is(json_body($r)->{code}, 'GW403', 'refused as GW403');
($status, $body) = session($good);
is($status, 200, 'and on its own route again: 200');
is($body->{operator_id}, '42', 'with its operator');

# A token that expires while remembered: the times are checked at every
# request, not only with the signature and the claims.
# (four seconds: the first request under valgrind on a loaded machine can
# take one, and exp is a whole second)
my $short_exp = int(time()) + 4;
my $short = make_jwt({ role => 'operator', operator_id => 42, exp => $short_exp });
($status) = session($short);
is($status, 200, 'a token good for a few more seconds: 200');
usleep(100_000) while time() <= $short_exp + 1;
($status, $body) = session($short);
is($status, 401, 'the same token (its signature remembered) once expired: 401');
like($body, qr/expired/, 'refused as expired');
stop_gateway($gw);

# ---- the pool: hand-overs ------------------------------------------------
# Two connections for eight workers, sixteen clients of ten requests each:
# every request is served, and the pool ends with nobody waiting.
$gw = start_gateway($node, threads => 8, dsn => $dsn, args => [ '--db-pool-size', '2' ]);
my $token = make_jwt({ role => 'operator', operator_id => 7 });
my @kids;
for my $k (1 .. 16)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $bad = 0;
		for (1 .. 10)
		{
			my $r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => "Bearer $token" });
			$bad++ unless $r->{status} == 200 && json_body($r)->{operator_id} eq '7';
		}
		# no END blocks in the child: they would stop the node and the gateway
		POSIX::_exit($bad ? 1 : 0);
	}
	push @kids, $pid;
}
my $failed = 0;
for my $pid (@kids)
{
	waitpid($pid, 0);
	$failed++ if $? != 0;
}
is($failed, 0, '16 clients x 10 requests on 2 pool connections: every one 200 with its own operator');
# A request's pool connection goes back just after its reply is written, so
# the last child's may still be on its way back: poll until it shows.
my $metrics;
for (1 .. 50)
{
	$metrics = http_call($gw, 'GET', '/metrics')->{content};
	last if $metrics =~ /^shilian_db_connections_in_use 0$/m;
	usleep(100_000);
}
like($metrics, qr/^shilian_db_pool_waiting 0$/m, 'nobody is counted as waiting afterwards');
like($metrics, qr/^shilian_db_connections_in_use 0$/m, 'every connection is back');
stop_gateway($gw);

# One connection held by a read blocked on a lock: a request that waits
# past db_pool_wait_ms leaves the queue (503), and the next request, after
# the lock is gone, is handed the connection.
$gw = start_gateway($node, threads => 4, dsn => $dsn,
	args => [ '--db-pool-size', '1', '--db-pool-wait-ms', '300' ]);
my ($port) = $gw->{url} =~ /:(\d+)$/;
my $locker = $node->background_psql('postgres');
$locker->query_safe('begin; lock table shilian.batch in access exclusive mode;');
my $held = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or die "connect: $!";
print $held "GET /v1/batches/370112000000000018 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\nConnection: close\r\n\r\n";
$held->flush;
for (1 .. 100)
{
	last if $node->safe_psql('postgres',
		q{select count(*) from pg_locks where relation = 'shilian.batch'::regclass and not granted}) > 0;
	usleep(100_000);
}
$r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => "Bearer $token" });
is($r->{status}, 503, 'the only connection is held: a waiter times out with 503');
$metrics = http_call($gw, 'GET', '/metrics')->{content};
like($metrics, qr/^shilian_db_pool_waiting 0$/m, 'the waiter that timed out left the queue');
$locker->query_safe('commit');
$locker->quit;
{
	local $/;
	my $reply = <$held> // '';
	like($reply, qr{^HTTP/1\.1 404}, 'the blocked read completes once the lock is gone (no such batch)');
}
close $held;
$r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'the next request gets the connection back');
stop_gateway($gw);

done_testing();
