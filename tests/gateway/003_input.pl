# Bad input over real HTTP (POST /v1/hash as the probe): malformed JSON,
# duplicate keys, wrong types, unknown and missing fields, huge bodies
# (413 before reading), huge numbers, invalid UTF-8, wrong content type,
# database-side refusals. The gateway stays up and answers correctly after.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('gw_input');
my $gw = start_gateway($node, args => [ '--body-limit', '4096' ]);

sub post
{
	my ($body, %h) = @_;
	return http_call($gw, 'POST', '/v1/hash', body => $body,
		headers => { 'Content-Type' => 'application/json', %h });
}

sub refused
{
	my ($r, $status, $code, $msg_re, $name) = @_;
	is($r->{status}, $status, "$name: $status");
	my $e = json_body($r) // {};
	is($e->{code}, $code, "$name: code $code");
	like($e->{message} // '', $msg_re, "$name: message");
	ok(exists $e->{details} && exists $e->{hint}, "$name: four error keys");
	return $e;
}

# The good case first, on the published vectors.
my $r = post('{"data_hex":"616263"}');
is($r->{status}, 200, 'sha256 of abc: 200');
is(json_body($r)->{digest_hex}, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'sha256 of abc');
$r = post('{"data_hex":"616263","algorithm":"sm3"}');
is(json_body($r)->{digest_hex}, '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0', 'sm3 of abc');

my $e = refused(post('{"data_hex":'), 400, 'GW400', qr/malformed JSON/, 'truncated JSON');
like($e->{details}, qr/line 1/, 'malformed JSON: details give the position');
refused(post('{"data_hex":"00","data_hex":"01"}'), 400, 'GW400', qr/malformed JSON/, 'duplicate keys');
$e = refused(post('{"data_hex":5}'), 400, 'GW400', qr/wrong type/, 'wrong type');
is($e->{details}, 'data_hex (expected string)', 'wrong type: names the field and the type');
$e = refused(post('{"data_hex":"00","colour":"red","size":1}'), 400, 'GW400', qr/unknown fields/, 'unknown fields');
is($e->{details}, 'colour, size', 'unknown fields: listed');
$e = refused(post('{"algorithm":"sm3"}'), 400, 'GW400', qr/missing required/, 'missing field');
is($e->{details}, 'data_hex', 'missing field: named');
refused(post('["data_hex"]'), 400, 'GW400', qr/must be a JSON object/, 'array body');
refused(post(''), 400, 'GW400', qr/malformed JSON/, 'empty body');
refused(post('{"data_hex":123456789012345678901234567890}'), 400, 'GW400', qr/malformed JSON/, 'huge integer');
refused(post('{"data_hex":"00","algorithm":1e999}'), 400, 'GW400', qr/malformed JSON/, 'huge real');
refused(post(qq({"data_hex":"\xff\xfe"})), 400, 'GW400', qr/malformed JSON/, 'invalid UTF-8');
refused(http_call($gw, 'POST', '/v1/hash', body => '{"data_hex":"00"}', headers => { 'Content-Type' => 'text/plain' }),
	415, 'GW415', qr/unsupported media type/, 'wrong content type');
refused(http_call($gw, 'POST', '/v1/hash', body => '{"data_hex":"00"}'), 415, 'GW415', qr/unsupported media type/, 'no content type');

# Database-side refusals keep the SQLSTATE as the code.
refused(post('{"data_hex":"zz"}'), 400, '22023', qr/invalid hexadecimal digit/, 'bad hex (22023 from the server)');
$e = refused(post('{"data_hex":"00","algorithm":"md5"}'), 400, '22023', qr/unknown hash algorithm "md5"/, 'unknown algorithm');
like($e->{hint}, qr/sha256/, 'the server hint is passed on');

# A body over the limit is refused from its Content-Length, before reading.
my ($status, $reply) = raw_http($gw, "POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	  . "Content-Length: 100000000\r\nConnection: close\r\n\r\n{");
is($status, 413, 'a declared 100 MB body: 413 without reading it');
like($reply, qr/"code":"GW413"/, '413 body has code GW413');
$r = post('{"data_hex":"' . ('00' x 3000) . '"}');
is($r->{status}, 413, 'a real body over the 4096-byte limit: 413');
# A chunked body over the limit is cut off while reading.
($status) = raw_http($gw, "POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	  . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", 20000, 'a' x 20000));
is($status, 413, 'a chunked body over the limit: 413');

# Garbage on the wire does not take the gateway down.
($status) = raw_http($gw, "\x00\x01\x02 nonsense\r\n\r\n");
ok($status == 0 || $status >= 400, 'binary garbage request line: refused');
($status) = raw_http($gw, "GET /" . ('a' x 70000) . " HTTP/1.1\r\nHost: x\r\n\r\n");
ok($status == 0 || $status >= 400, 'a 70 kB request line: refused');

$r = post('{"data_hex":"616263"}');
is($r->{status}, 200, 'after all the bad input a good request still works');
is(json_body($r)->{digest_hex}, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'and gives the right answer');

stop_gateway($gw);
$node->stop;
done_testing();
