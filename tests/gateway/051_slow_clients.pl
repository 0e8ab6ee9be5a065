# Slow clients cannot take the gateway off the air (issue 14): 64
# connections opened and left silent plus 16 clients sending one header byte
# a second, from several addresses (each under client_connections), while
# /healthz and a batch read (GET /v1/batches/{code} with an operator token)
# from 127.0.0.1 each answer within a second, on the gateway's default
# threads, pool and deadlines. Before the fix (8 workers, one database
# connection each) the 16 slow clients alone held every worker.
#
# The gateway runs without valgrind here: under valgrind every thread is
# serialized on one core and a request takes several hundred milliseconds
# by itself, so a one-second bound would measure valgrind, not the
# gateway. 050_hostile_http runs the same code paths under valgrind.
use strict;
use warnings;
use IO::Socket::INET;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use ShilianTest;

my $node = shilian_node('gw_slow');
$node->safe_psql('postgres', q{
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
});
my $farm = $node->safe_psql('postgres', q{
	select shilian.operator_register('历城绿源蔬菜合作社', 'production', '{farm}', '370112001',
		'济南', '0531-1', uscc => '91370112MA3C00001X');
});
$node->safe_psql('postgres', "select shilian.operator_activate($farm)");
my $cabbage = $node->safe_psql('postgres',
	q{select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true)});
my $code = $node->safe_psql('postgres', "select shilian.batch_create($farm, $cabbage, '50 kg', '2026-11-01')");
my $token = make_jwt({ role => 'operator', operator_id => $farm });

# the defaults (threads 128, db_pool_size 2 per core, header_timeout_ms 10000,
# client_connections 32), not the harness's 4 threads
my $gw = start_gateway($node, no_valgrind => 1, threads => 128);
my ($port) = $gw->{url} =~ /:(\d+)$/;

# Whether 127.0.0.N can be a source address here (Linux routes all of 127/8 to lo).
my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, LocalAddr => '127.0.0.2', Proto => 'tcp');
my @addrs = $probe ? map { "127.0.0.$_" } 2 .. 9 : ('127.0.0.1');
close $probe if $probe;
# one address only: the cap must not be what the test runs into
my @extra = $probe ? () : ('--client-connections', '200');
if (@extra)
{
	stop_gateway($gw);
	$gw = start_gateway($node, no_valgrind => 1, threads => 128, args => \@extra);
	($port) = $gw->{url} =~ /:(\d+)$/;
}

sub connect_from
{
	my ($i) = @_;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
		LocalAddr => $addrs[$i % @addrs]) or die "connect: $!";
	return $s;
}

# Timed calls from 127.0.0.1: (status, seconds).
sub timed
{
	my ($path, %h) = @_;
	my $t0 = time;
	my $r = http_call($gw, 'GET', $path, headers => \%h);
	return ($r->{status}, time - $t0);
}

my ($status, $secs) = timed("/v1/batches/$code", Authorization => "Bearer $token");
is($status, 200, 'the batch read works before the slow clients come');

local $SIG{PIPE} = 'IGNORE';
my @silent = map { connect_from($_) } 0 .. 63;
my @slow = map { connect_from($_ + 64) } 0 .. 15;
my $request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " . ('a' x 200) . "\r\n\r\n";
my $sent = 0;

# Six rounds, one second apart: each slow client sends its next byte, then
# /healthz and the batch read are timed. The slow requests never complete
# within the rounds (about 6 of their 230 bytes arrive).
my (@health, @read);
for my $round (1 .. 6)
{
	my $t0 = time;
	for my $s (@slow) { syswrite($s, substr($request, $sent, 1)); }
	$sent++;
	my ($hs, $ht) = timed('/healthz');
	my ($rs, $rt) = timed("/v1/batches/$code", Authorization => "Bearer $token");
	push @health, [ $hs, $ht ];
	push @read, [ $rs, $rt ];
	my $rest = 1 - (time - $t0);
	usleep($rest * 1e6) if $rest > 0;
}
for my $i (0 .. $#health)
{
	my $n = $i + 1;
	is($health[$i][0], 200, "round $n: /healthz 200 with 64 silent and 16 slow clients");
	ok($health[$i][1] < 1, sprintf('round %d: /healthz within a second (%.3f s)', $n, $health[$i][1]));
	is($read[$i][0], 200, "round $n: the batch read is 200");
	ok($read[$i][1] < 1, sprintf('round %d: the batch read within a second (%.3f s)', $n, $read[$i][1]));
}

# The slow clients were still hanging on (their connections open, no reply yet).
my $open = 0;
for my $s (@slow)
{
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	$open++ if select(my $rout = $rin, undef, undef, 0) == 0;
}
is($open, 16, 'the 16 slow clients were still connected and unanswered through the rounds');

# They do not hold on past the header deadline: each gets 408 and is closed.
my $answered = 0;
my $deadline = time + 20;
for my $s (@slow)
{
	my $reply = '';
	while (time < $deadline)
	{
		my $rin = '';
		vec($rin, fileno($s), 1) = 1;
		last unless select(my $rout = $rin, undef, undef, $deadline - time) > 0;
		last unless sysread($s, my $buf, 4096);
		$reply .= $buf;
	}
	$answered++ if $reply =~ m{^HTTP/1\.1 408 } && $reply =~ /"code":"GW408"/;
}
is($answered, 16, 'past header_timeout_ms each slow client got 408 with the JSON error');
close $_ for @slow, @silent;

is((timed('/healthz'))[0], 200, '/healthz 200 after they are gone');
ok(kill(0, $gw->{pid}) && waitpid($gw->{pid}, 1) == 0, 'the same gateway process throughout');
stop_gateway($gw);
$node->stop;
done_testing();
