# Hostile HTTP over raw sockets (issue 14), with the gateway under valgrind
# in make test: JSON nested 1,000 and 200,000 levels deep in bodies of
# several routes (unauthenticated /v1/hash included), in a CSV cell and an
# NDJSON line of an upload and in an EPCIS document; duplicate, invalid and
# conflicting Content-Length / Transfer-Encoding; an over-long query string
# (414) and a long one that is never dropped; WebSocket and other upgrades;
# a request line and headers sent one byte at a time (408 at the header
# deadline); a pool connection held by a blocked request (503 with
# Retry-After after db_pool_wait_ms, /healthz still 200); one address over
# client_connections (503) while another address is served. After each
# probe the gateway is the same process and /healthz answers 200.
# (The JWT path, where JSON also arrives in a header, is tested in 002_auth.)
use strict;
use warnings;
use IO::Socket::INET;
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use ShilianTest;

my $node = shilian_node('gw_hostile');
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

my $gw = start_gateway($node, args => [ '--header-timeout-ms', '3000' ]);
my ($port) = $gw->{url} =~ /:(\d+)$/;

# The gateway is the same process and answers /healthz.
sub still_up
{
	my ($name) = @_;
	ok(kill(0, $gw->{pid}) && waitpid($gw->{pid}, 1) == 0, "$name: same gateway process");
	is(http_call($gw, 'GET', '/healthz')->{status}, 200, "$name: /healthz 200 after");
}

# raw_http with the reply split: (status, headers, decoded JSON body).
sub raw
{
	my ($text) = @_;
	my ($status, $reply) = raw_http($gw, $text);
	my ($head, $body) = split /\r\n\r\n/, $reply, 2;
	my $json = eval { JSON::PP->new->utf8->decode($body // '') };
	return ($status, $head // '', $json // {});
}

sub refused
{
	my ($r, $status, $code_re, $msg_re, $name) = @_;
	is($r->{status}, $status, "$name: $status") or diag($r->{content});
	my $e = json_body($r) // {};
	like($e->{code} // '', $code_re, "$name: code");
	if ($name =~ m{ /epcis/})
	{
		# under /epcis: RFC 7807 problem details (title = the message, detail = the details)
		like($r->{headers}{'content-type'}, qr{^application/problem\+json}, "$name: a problem document");
		like($e->{title} // '', $msg_re, "$name: title");
		ok(exists $e->{detail} && exists $e->{hint} && $e->{status} == $status && exists $e->{instance},
			"$name: the problem keys");
	}
	else
	{
		like($e->{message} // '', $msg_re, "$name: message");
		ok(exists $e->{details} && exists $e->{hint}, "$name: four error keys");
	}
	still_up($name);
}

sub nest { my ($n) = @_; return ('[' x $n) . (']' x $n); }

# ---- JSON nested too deeply ----------------------------------------------
for my $depth (1_000, 200_000)
{
	refused(http_call($gw, 'POST', '/v1/hash', body => nest($depth), headers => { 'Content-Type' => 'application/json' }),
		400, qr/^GW400$/, qr/nested too deeply/, "/v1/hash, $depth levels, no token");
	refused(http_call($gw, 'POST', '/v1/hash', body => '{"data_hex":' . nest($depth) . '}',
			headers => { 'Content-Type' => 'application/json' }),
		400, qr/^GW400$/, qr/nested too deeply/, "/v1/hash, $depth levels inside a field");
	refused(http_call($gw, 'POST', '/v1/batches',
			body => qq({"owner":$farm,"product":$cabbage,"qty":"1 kg","certificate":{"a":) . nest($depth) . '}}',
			headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $token" }),
		400, qr/^GW400$/, qr/nested too deeply/, "POST /v1/batches, $depth levels in the certificate");
	refused(http_call($gw, 'POST', '/epcis/capture', body => '{"type":"EPCISDocument","x":' . nest($depth) . '}',
			headers => { 'Content-Type' => 'application/ld+json', Authorization => "Bearer $token" }),
		400, qr/^GW400$/, qr/nested too deeply/, "POST /epcis/capture, $depth levels");
	# chunked: no Content-Length to refuse by, the scan runs on what arrived
	my ($status, $head, $e) = raw("POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		  . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  . sprintf("%x\r\n%s\r\n0\r\n\r\n", 2 * $depth, nest($depth)));
	is($status, 400, "/v1/hash chunked, $depth levels: 400");
	like($e->{message} // '', qr/nested too deeply/, "/v1/hash chunked, $depth levels: too deep");
	still_up("/v1/hash chunked, $depth levels");
}
# The limit is 64 levels in all: 64 parse (and fail the schema), 65 do not.
my $r = http_call($gw, 'POST', '/v1/hash', body => '{"data_hex":' . nest(63) . '}',
	headers => { 'Content-Type' => 'application/json' });
like(json_body($r)->{message}, qr/wrong type/, '64 levels in all: parsed, refused by the schema');
$r = http_call($gw, 'POST', '/v1/hash', body => '{"data_hex":' . nest(64) . '}',
	headers => { 'Content-Type' => 'application/json' });
like(json_body($r)->{message}, qr/nested too deeply/, '65 levels in all: too deep');
# The deepest accepted document goes all the way: parsed, re-serialized as a
# parameter, stored and sent back (the worst case a worker's stack sees).
$r = http_call($gw, 'POST', '/v1/batches',
	body => qq({"owner":$farm,"product":$cabbage,"qty":"1 kg","certificate":{"a":) . nest(62) . '}}',
	headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $token" });
is($r->{status}, 201, 'a certificate nested to the 64-level limit: the batch is made') or diag($r->{content});
$r = http_call($gw, 'GET', '/v1/batches/' . (json_body($r) // {})->{trace_code},
	headers => { Authorization => "Bearer $token" });
is($r->{content} =~ tr/[//, 62, 'and read back whole');
still_up('64 levels accepted');

# In uploads: the line (parsed by the extension) and the CSV cell (by the
# gateway) are refused with 54000, the other lines are applied.
for my $depth (1_000, 200_000)
{
	my $ok = qq({"kind":"batch","owner":$farm,"product":$cabbage,"qty":"1 kg"});
	$r = http_call($gw, 'POST', '/v1/import',
		body => join("\n", $ok, qq({"kind":"batch","owner":$farm,"product":$cabbage,"qty":"1 kg","certificate":)
			  . nest($depth) . '}', nest($depth), $ok) . "\n",
		headers => { 'Content-Type' => 'application/x-ndjson', Authorization => "Bearer $token", Prefer => 'wait' });
	is($r->{status}, 201, "NDJSON upload with $depth-level lines: 201") or diag($r->{content});
	my $job = json_body($r) // {};
	is_deeply([ $job->{accepted}, $job->{refused} ], [ 2, 2 ], "NDJSON, $depth levels: 2 applied, 2 refused");
	my $lines = json_body(http_call($gw, 'GET', "/v1/import/$job->{id}/lines?status=refused",
		headers => { Authorization => "Bearer $token" })) // [];
	is_deeply([ map { $_->{sqlstate} } @$lines ], [ '54000', '54000' ], "NDJSON, $depth levels: refused with 54000");
	like($lines->[0]{message} // '', qr/nested too deeply/, "NDJSON, $depth levels: the message says why");
	still_up("NDJSON upload, $depth levels");

	my $cell = nest($depth);
	$r = http_call($gw, 'POST', '/v1/import?kind=batch',
		body => "owner,product,qty,certificate\n$farm,$cabbage,1 kg,\n$farm,$cabbage,1 kg,\"$cell\"\n",
		headers => { 'Content-Type' => 'text/csv', Authorization => "Bearer $token", Prefer => 'wait' });
	is($r->{status}, 201, "CSV upload with a $depth-level cell: 201") or diag($r->{content});
	$job = json_body($r) // {};
	is_deeply([ $job->{accepted}, $job->{refused} ], [ 1, 1 ], "CSV, $depth levels: 1 applied, 1 refused");
	$lines = json_body(http_call($gw, 'GET', "/v1/import/$job->{id}/lines?status=refused",
		headers => { Authorization => "Bearer $token" })) // [];
	is($lines->[0]{sqlstate}, '54000', "CSV, $depth levels: refused with 54000");
	like($lines->[0]{message} // '', qr/column certificate: JSON nested too deeply/, "CSV, $depth levels: names the column");
	still_up("CSV upload, $depth levels");
}

# ---- framing: Content-Length and Transfer-Encoding -------------------------
my $hash = qq({"data_hex":"00"});
my $len = length $hash;
for my $case ([ "Content-Length: $len\r\nContent-Length: 5\r\n", qr/more than one Content-Length/, 'two differing Content-Length' ],
	[ "Content-Length: $len\r\nContent-Length: $len\r\n", qr/more than one Content-Length/, 'two equal Content-Length' ],
	[ "Content-Length: $len, $len\r\n", qr/invalid Content-Length/, 'a Content-Length list' ],
	[ "Content-Length: +$len\r\n", qr/invalid Content-Length/, 'a signed Content-Length' ],
	[ "Content-Length: $len\r\nTransfer-Encoding: chunked\r\n", qr/both Transfer-Encoding and Content-Length/, 'Transfer-Encoding and Content-Length' ],
	[ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", qr/more than one Transfer-Encoding/, 'two Transfer-Encoding' ])
{
	my ($headers, $msg_re, $name) = @$case;
	my ($status, $head, $e) = raw("POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n$headers\r\n$hash");
	is($status, 400, "$name: 400");
	is($e->{code}, 'GW400', "$name: GW400");
	like($e->{message} // '', $msg_re, "$name: says why");
	like($head, qr/^Connection: close\r?$/mi, "$name: the connection is closed");
	still_up($name);
}

# ---- query strings -------------------------------------------------------
$r = http_call($gw, 'GET', '/v1/batches?status=' . ('a' x 5000), headers => { Authorization => "Bearer $token" });
refused($r, 414, qr/^GW414$/, qr/query string too long/, 'a 5,000-byte query string');
# a 2,000-byte value (over civetweb's old 1,023-byte cut) reaches the database, not dropped
$r = http_call($gw, 'GET', '/v1/batches?limit=' . ('9' x 2000), headers => { Authorization => "Bearer $token" });
is($r->{status}, 400, 'a 2,000-digit limit: refused by the database (400), not dropped');
isnt(json_body($r)->{code}, 'GW414', 'and not a length refusal');
$r = http_call($gw, 'GET', '/v1/batches?limit=1', headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, 'a short query still works');

# ---- protocol upgrades -----------------------------------------------------
for my $up ([ "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n", 'websocket' ],
	[ "Connection: Upgrade\r\nUpgrade: h2c\r\n", 'h2c' ],
	[ "Connection: Upgrade\r\nUpgrade: foo/1\r\n", 'foo/1' ])
{
	my ($headers, $name) = @$up;
	for my $path ('/healthz', '/v1/batches', '/nowhere')
	{
		my ($status, $head, $e) = raw("GET $path HTTP/1.1\r\nHost: x\r\n$headers\r\n");
		is($status, 400, "Upgrade: $name on $path: a status line with 400");
		is($e->{code}, 'GW400', "Upgrade: $name on $path: GW400");
		like($e->{message} // '', qr/upgrade not supported/, "Upgrade: $name on $path: says why");
	}
	still_up("Upgrade: $name");
}

# ---- the header deadline (header_timeout_ms = 3000) -----------------------
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or die "connect: $!";
	my $start = time;
	my $text = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " . ('a' x 40) . "\r\n\r\n";
	local $SIG{PIPE} = 'IGNORE';
	for my $ch (split //, $text)
	{
		last unless print $s $ch;
		$s->flush;
		usleep(250_000);
		last if time - $start > 15;
	}
	local $/;
	my $reply = <$s> // '';
	my $elapsed = time - $start;
	like($reply, qr{^HTTP/1\.1 408 }, 'one header byte every 250 ms: 408 at the header deadline');
	like($reply, qr/"code":"GW408"/, 'the 408 has the JSON error');
	ok($elapsed >= 2.5 && $elapsed < 12, sprintf('cut off after the 3 s deadline, not later (%.1f s)', $elapsed));
	still_up('slow headers');
}

# Garbage and an oversized header block get a status line and JSON too.
my ($status, $head, $e) = raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " . ('a' x 70000) . "\r\n\r\n");
is($status, 400, 'a 70 kB header block: 400 with a status line');
is($e->{code}, 'GW400', 'a 70 kB header block: GW400');
($status, $head, $e) = raw("\x00\x01\x02 nonsense\r\n\r\n");
is($status, 400, 'binary garbage: 400 with a status line');
still_up('oversized headers and garbage');
stop_gateway($gw);

# ---- the pool: a request waits at most db_pool_wait_ms -------------------
# One pool connection, held by a read blocked on a table lock; the next
# request that needs the database gets 503 with Retry-After, /healthz (its
# own connection) still answers, and the blocked read completes afterwards.
$gw = start_gateway($node, args => [ '--db-pool-size', '1', '--db-pool-wait-ms', '500' ]);
($port) = $gw->{url} =~ /:(\d+)$/;
my $locker = $node->background_psql('postgres');
$locker->query_safe('begin; lock table shilian.batch in access exclusive mode;');
my $held = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or die "connect: $!";
print $held "GET /v1/batches/$code HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $token\r\nConnection: close\r\n\r\n";
$held->flush;
my $t0 = time;
for (1 .. 100)
{
	last if $node->safe_psql('postgres',
		q{select count(*) from pg_locks where relation = 'shilian.batch'::regclass and not granted}) > 0;
	usleep(100_000);
}
$r = http_call($gw, 'GET', "/v1/batches/$code", headers => { Authorization => "Bearer $token" });
my $waited = time - $t0;
is($r->{status}, 503, 'the pool connection is held: the next request gets 503');
is(json_body($r)->{code}, 'GW503', 'GW503');
like(json_body($r)->{message}, qr/no database connection free/, 'says the pool was busy');
is($r->{headers}{'retry-after'}, '1', 'with Retry-After');
$t0 = time;
$r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 200, '/healthz is 200 while the only pool connection is busy');
ok(time - $t0 < 1, sprintf('and answers at once (%.2f s)', time - $t0));

$locker->query_safe('commit;');
$locker->quit;
{
	local $/;
	my $reply = <$held> // '';
	like($reply, qr{^HTTP/1\.1 200 }, 'the blocked read completes once the lock is gone');
	close $held;
}
is(http_call($gw, 'GET', "/v1/batches/$code", headers => { Authorization => "Bearer $token" })->{status}, 200,
	'the pool serves again');
stop_gateway($gw);

# ---- client_connections = 2: a third connection from one address -----------
# Two requests whose bodies never come hold two connections of 127.0.0.1;
# a third from 127.0.0.1 is refused, while 127.0.0.2 is served.
$gw = start_gateway($node, args => [ '--client-connections', '2' ]);
($port) = $gw->{url} =~ /:(\d+)$/;
my @slow = map {
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or die "connect: $!";
	print $s "POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
	$s->flush;
	$s
} 1 .. 2;
# Both count once a worker has read their headers (valgrind is slow). A
# request from 127.0.0.1 before then would count first and take a place:
# wait, asking from 127.0.0.2, until /metrics counts both and the asking
# connection itself.
my $ua2 = HTTP::Tiny->new(timeout => 60, keep_alive => 0, local_address => '127.0.0.2');
my $counted = 0;
for (1 .. 200)
{
	my $m = $ua2->get("$gw->{url}/metrics");
	($counted) = ($m->{content} // '') =~ /^shilian_http_client_connections (\d+)$/m;
	last if ($counted // 0) >= 3;
	usleep(50_000);
}
is($counted, 3, 'metrics: the two held connections of 127.0.0.1 and the asking one of 127.0.0.2 are counted');
$r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 503, 'a third connection from 127.0.0.1: 503');
like(json_body($r)->{message}, qr/too many connections from this address/, 'says why');
ok(exists json_body($r)->{hint}, 'with the standard error body');
my $other = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, LocalAddr => '127.0.0.2', Proto => 'tcp');
SKIP:
{
	skip 'no 127.0.0.2 on this machine', 1 unless $other;
	print $other "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	local $/;
	like(<$other> // '', qr{^HTTP/1\.1 200 }, 'a connection from 127.0.0.2 is served');
	close $other;
}
close $_ for @slow;
# the gateway counts a connection off when it sees it closed: ask until it has
for (1 .. 100)
{
	$r = http_call($gw, 'GET', '/healthz');
	last if $r->{status} == 200;
	usleep(100_000);
}
is($r->{status}, 200, 'once they close, 127.0.0.1 is served again');
still_up('client_connections');
stop_gateway($gw);

$node->stop;
done_testing();
