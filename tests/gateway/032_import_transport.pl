# Bulk uploads are all or nothing at the transport level, and slow uploads
# cannot starve the gateway (docs/integration.md, "Transport and lifecycle"):
# a chunked upload of 5,000 lines dropped after 3,000 (raw socket) applies
# nothing, its job ends failed with the reason, and the retry with the same
# Idempotency-Key is applied; the same with a body cut short of its
# Content-Length; a retry while another gateway's session still runs the
# job of the key gets 409 SLI05 (and the job shows interrupted, never
# running, once that session is gone); a client sending too slowly (chunked or not) or past the
# time limit gets 408 GW408 with its transaction rolled back (nothing open
# in pg_stat_activity); with the upload pool full of slow uploads, another
# upload gets 503 with Retry-After at once while /healthz and a batch read
# answer within a second.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(usleep time);
use ShilianTest;

my $node = shilian_node('gw_import_transport');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	create table o as select
		shilian.operator_register('卖方', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'K-1') as s,
		shilian.operator_register('买方', 'circulation', '{retailer}', '370112001', 'b', '2', reg_card => 'K-2') as b,
		shilian.product_register('面粉', 'grain', shelf_life_days => 180) as flour;
	select shilian.operator_activate(x) from o, unnest(array[s, b]) x;
	select shilian.licence_add(s, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') from o;
	select shilian.api_client_add('erp', 'ERP');
	select shilian.api_client_bind('erp', x) from o, unnest(array[s, b]) x;
	select concat_ws(' ', s, b, shilian.batch_create(s, flour, '100 t', current_date - 5),
		shilian.api_client_key_new('erp')) from o;
});
my ($s, $b, $code, $key) = split ' ', (split /\n/, $out)[-1];

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway',
	threads => 6,
	args => [ '--upload-pool-size', '2', '--upload-min-rate', '1000', '--upload-rate-grace-ms', '1500',
		'--upload-time-limit-ms', '8000', '--import-chunk-lines', '1000', '--import-sweep-ms', '600000' ]);
my ($port) = $gw->{url} =~ /:(\d+)$/;

my $json = JSON::PP->new->canonical->utf8;
my @lines = map { $json->encode({ kind => 'ship', code => $code, buyer => 0 + $b, qty => '1 g' }) } 1 .. 5000;
my $body = join('', map { "$_\n" } @lines);

sub links { $node->safe_psql('postgres', 'select count(*) from shilian.link') }

sub job_of
{
	my ($k) = @_;
	return $node->safe_psql('postgres', qq{select concat_ws('|', id, status, total, done, accepted, failure)
		from shilian.import_job where idempotency_key = '$k'});
}

# wait until the gateway has recorded the job of key $k
sub wait_job
{
	my ($k) = @_;
	for (1 .. 200)
	{
		my $j = job_of($k);
		return $j if $j ne '';
		usleep(50_000);
	}
	return '';
}

sub open_tx
{
	return $node->safe_psql('postgres', q{select count(*) from pg_stat_activity
		where backend_type = 'client backend' and xact_start is not null and pid <> pg_backend_pid()});
}

sub upload
{
	my ($data, %h) = @_;
	my $r = http_call($gw, 'POST', '/v1/import', body => $data,
		headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson', Prefer => 'wait', %h });
	$r->{json} = json_body($r);
	return $r;
}

sub connect_gw
{
	my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port, Proto => "tcp", Timeout => 30)
	  or die "connect: $!";
	return $sock;
}

sub head
{
	my ($idem, $len) = @_;
	return "POST /v1/import HTTP/1.1\r\nHost: x\r\nX-API-Key: $key\r\nContent-Type: application/x-ndjson\r\n"
	  . "Idempotency-Key: $idem\r\n"
	  . "Prefer: wait\r\n"
	  . (defined $len ? "Content-Length: $len\r\n" : "Transfer-Encoding: chunked\r\n") . "\r\n";
}

# ---- a chunked upload of 5,000 lines dropped after 3,000 -----------------------------
my $before = links();
{
	my $sock = connect_gw();
	print $sock head('cut-chunked', undef);
	for my $i (0 .. 29)
	{
		my $chunk = join('', map { "$_\n" } @lines[ $i * 100 .. $i * 100 + 99 ]);
		printf $sock "%x\r\n%s\r\n", length($chunk), $chunk;
	}
	usleep(300_000);
	close $sock;		# no terminating chunk: the client went away
}
my $j = wait_job('cut-chunked');
my ($id1, $st, $total, $done, $acc, $why) = split /\|/, $j, 6;
is($st, 'failed', 'chunked upload dropped after 3,000 of 5,000 lines: the job is failed');
like($why, qr/cut off: the connection ended after \d+ bytes \(\d+ lines\), before the chunked body's terminator/,
	'with the reason');
is($done, 0, 'no line of it done');
is(links(), $before, 'nothing applied (no sale recorded)');
is($node->safe_psql('postgres', "select count(*) from shilian.import_stage where job_id = $id1"), 0,
	'nothing staged');
is(open_tx(), 0, 'no transaction left open');
my $r = upload($body, 'Idempotency-Key' => 'cut-chunked');
is_deeply([ $r->{status}, @{ $r->{json} }{qw(id status total accepted refused)} ],
	[ 201, $id1, 'applied', 5000, 5000, 0 ], 'the retry with the same key: 201, the same job applied whole');
ok(!exists $r->{json}{failure}, 'with no failure left on it');
is(links(), $before + 5000, 'every line of the retry applied once');

# ---- a body cut short of its Content-Length -------------------------------------------------
$before = links();
{
	my $sock = connect_gw();
	my $part = join('', map { "$_\n" } @lines[ 0 .. 2999 ]);
	print $sock head('cut-length', length $body) . $part;
	shutdown($sock, 1);
	my $reply = do { local $/; <$sock> } // '';
	close $sock;
	like($reply, qr{^HTTP/1\.1 400 .*"code":"GW400".*truncated request body}s, 'a body cut short of its Content-Length: 400');
	like($reply, qr{Connection: close}, 'and the connection closed');
}
($id1, $st, $total, $done, $acc, $why) = split /\|/, wait_job('cut-length'), 6;
is_deeply([ $st, $total, $done ], [ 'failed', 3000, 0 ], 'the job is failed with the 3,000 lines received, none done');
like($why, qr/cut off: the connection ended after \d+ of the \d+ bytes of its Content-Length \(3000 lines\)/, 'with the reason');
is(links(), $before, 'nothing applied');
is(open_tx(), 0, 'no transaction left open');
$r = upload($body, 'Idempotency-Key' => 'cut-length');
is_deeply([ $r->{status}, @{ $r->{json} }{qw(id status accepted)} ], [ 201, $id1, 'applied', 5000 ],
	'the retry with the same key: applied');
is(links(), $before + 5000, 'every line applied once');
$r = upload($body, 'Idempotency-Key' => 'cut-length');
is_deeply([ $r->{status}, $r->{headers}{'idempotent-replayed'}, $r->{json}{id} ], [ 201, 'true', $id1 ],
	'a further retry replays the applied job');
is(links(), $before + 5000, 'and applies nothing');

# ---- the job of the key still being applied by somebody: 409 SLI05 -----------------------
# a job made running by hand, with a lease held by another gateway's session (its lock)
my $busy = upload($lines[0] . "\n", 'Idempotency-Key' => 'busy')->{json}{id};
$node->safe_psql('postgres', qq{update shilian.import_job set status = 'running', finished_at = null,
	lease_holder = 'another gateway', lease_until = now() + interval '1 hour' where id = $busy});
my $holder = fork();
if ($holder == 0)
{
	exec('psql', '-XAtq', '-h', $node->host, '-p', $node->port, '-d', 'postgres',
		'-c', "select pg_advisory_lock(21321, $busy)", '-c', 'select pg_sleep(4)');
}
is(wait_for_locked($busy), 1, 'another session holds the job\'s lock');
$r = http_call($gw, 'GET', "/v1/import/$busy", headers => { 'X-API-Key' => $key });
is(json_body($r)->{status}, 'running', 'GET: running while its gateway holds it');
$r = upload($lines[0] . "\n", 'Idempotency-Key' => 'busy');
is_deeply([ $r->{status}, $r->{json}{code}, $r->{headers}{'retry-after'} ], [ 409, 'SLI05', 5 ],
	'a retry while the job of the key is being applied: 409 SLI05 with Retry-After');
waitpid($holder, 0);
# the client has exited; its backend ends (and drops the lock) a moment
# later, later still on a slow server (the assert-enabled one): wait for it
is(wait_for_unlocked($busy), 1, 'the holding session is gone (its lock with it)');
$r = http_call($gw, 'GET', "/v1/import/$busy", headers => { 'X-API-Key' => $key });
is(json_body($r)->{status}, 'interrupted', 'once that session is gone: interrupted, not running');

sub wait_for_locked
{
	my ($id) = @_;
	for (1 .. 100)
	{
		return 1 if $node->safe_psql('postgres', qq{select count(*) from pg_locks
			where locktype = 'advisory' and classid = 21321 and objid = $id and granted}) eq '1';
		usleep(50_000);
	}
	return 0;
}

sub wait_for_unlocked
{
	my ($id) = @_;
	for (1 .. 200)
	{
		return 1 if $node->safe_psql('postgres', qq{select count(*) from pg_locks
			where locktype = 'advisory' and classid = 21321 and objid = $id}) eq '0';
		usleep(50_000);
	}
	return 0;
}

# ---- slow clients: 408, the transaction rolled back ---------------------------------
$before = links();
# send $text a few bytes at a time, $per_s bytes a second, until the gateway answers
sub trickle
{
	my ($sock, $text, $per_s, $step) = @_;
	$step //= 10;
	my $start = time;
	my $sent = 0;
	$sock->blocking(0);
	my $reply = '';
	while (time - $start < 30)
	{
		if ($sent < length $text)
		{
			my $n = syswrite($sock, substr($text, $sent, $step));
			$sent += $n if defined $n && $n > 0;
		}
		my $got = sysread($sock, my $in, 65536);
		$reply .= $in if $got;
		last if (defined $got && $got == 0) || $reply =~ /\r\n\r\n.*\}/s;
		usleep(1e6 * $step / $per_s);
	}
	close $sock;
	return ($reply, time - $start);
}

my ($reply, $took) = trickle(do { my $x = connect_gw(); print $x head('slow-length', length $body); $x },
	$body, 50);
like($reply, qr{^HTTP/1\.1 408 .*"code":"GW408".*upload too slow}s, 'a body at 50 bytes/s: 408 GW408');
like($reply, qr/under the minimum rate of 1000 bytes\/s/, 'naming the minimum rate');
cmp_ok($took, '<', 6, 'soon after the grace');
like((split /\|/, wait_job('slow-length'), 6)[5], qr/the upload was too slow/, 'the job is failed as too slow');
is(open_tx(), 0, 'no transaction left open (pg_stat_activity)');

($reply, $took) = trickle(do { my $x = connect_gw(); print $x head('slow-chunked', undef); $x },
	sprintf("%x\r\n%s\r\n", length($body), $body), 50);
like($reply, qr{^HTTP/1\.1 408 .*"code":"GW408"}s, 'a chunked body at 50 bytes/s: 408 GW408');
is(open_tx(), 0, 'no transaction left open');

($reply, $took) = trickle(do { my $x = connect_gw(); print $x head('slow-long', length $body); $x },
	$body, 2000, 200);
like($reply, qr{^HTTP/1\.1 408 .*over the time limit of 8000 ms}s,
	'a body fast enough but longer than upload_time_limit_ms: 408');
cmp_ok($took, '>=', 7.5, 'at the time limit');
is(open_tx(), 0, 'no transaction left open');
is(links(), $before, 'the slow uploads applied nothing');

# ---- the upload pool full of slow uploads: ordinary requests still answer ------------------
my @slow = map { my $x = connect_gw(); print $x head("held-$_", length $body); $x->blocking(0); $x } 1 .. 2;
my ($sent, $checks, $late, $t0) = (0, 0, 0, time);
my ($third, $third_took, $health_max, $read_max) = (undef, 0, 0, 0);
while (time - $t0 < 5)
{
	# both held uploads stay above the minimum rate (1,500 bytes/s)
	syswrite($_, substr($body, $sent, 150)) for @slow;
	$sent += 150;
	if (time - $t0 > 1 && $checks < 6)
	{
		$checks++;
		my $t = time;
		my $h = http_call($gw, 'GET', '/healthz');
		my $dt = time - $t;
		$health_max = $dt if $dt > $health_max;
		$late++ unless $h->{status} == 200;
		$t = time;
		my $g = http_call($gw, 'GET', "/v1/batches/$code", headers => { 'X-API-Key' => $key });
		$dt = time - $t;
		$read_max = $dt if $dt > $read_max;
		$late++ unless $g->{status} == 200;
		if (!defined $third)
		{
			$t = time;
			$third = upload($lines[0] . "\n", 'Idempotency-Key' => 'third');
			$third_took = time - $t;
		}
	}
	usleep(100_000);
}
is($late, 0, '/healthz and a batch read answer 200 while both upload connections are held');
cmp_ok($health_max, '<', 1, '/healthz within a second');
cmp_ok($read_max, '<', 1, 'a batch read within a second');
is_deeply([ $third->{status}, $third->{json}{code}, $third->{headers}{'retry-after'} ], [ 503, 'GW503', 5 ],
	'a third upload: 503 with Retry-After');
cmp_ok($third_took, '<', 1, 'answered at once');
like($third->{json}{message}, qr/all upload connections are busy/, 'saying why');
close $_ for @slow;
for (1 .. 100) { last if job_of('held-1') ne '' && job_of('held-2') ne ''; usleep(50_000); }
is(open_tx(), 0, 'the dropped held uploads left no transaction open');
is($node->safe_psql('postgres', q{select string_agg(status, ',' order by idempotency_key) from shilian.import_job
	where idempotency_key like 'held-%'}), 'failed,failed', 'their jobs are failed');
$r = upload($lines[0] . "\n", 'Idempotency-Key' => 'after');
is($r->{status}, 201, 'with the pool free again, an upload is taken');

stop_gateway($gw);
$node->stop;
done_testing();
