# Tokens beyond the signature (issues 14, 15, 16): nbf and iat (30 s of
# skew), aud when jwt_audience is set, JWT parts held to the JSON limits
# before any parser sees them (deep nesting in the header or payload is a 401
# and the gateway lives on), the size bound of the Authorization header, the
# client claim (provenance) refused on any token but a system one, and
# `shilian-gateway token` minting tokens a running gateway accepts.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA;
use IPC::Run;
use JSON::PP;
use POSIX qw(strftime);
use MIME::Base64 qw(encode_base64url decode_base64url);
use ShilianTest;

my $node = shilian_node('gw_tokens');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	create temp table ids as select
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1', reg_card => 'T-FARM') as farm;
	select shilian.operator_activate(farm) from ids;
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true);
	select shilian.api_client_add('erp-7', '绿源 ERP');
	select shilian.api_client_bind('erp-7', farm) from ids;
	select farm || ' ' || shilian.api_client_key_new('erp-7') from ids;
});
my ($farm, $key) = split ' ', (split /\n/, $out)[-1];
my $product = $node->safe_psql('postgres', 'select min(id) from shilian.product');

my $gw = start_gateway($node, threads => 2,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

sub session
{
	my ($g, $token) = @_;
	my $r = http_call($g, 'GET', '/v1/session', headers => { Authorization => "Bearer $token" });
	$r->{json} = json_body($r);
	return $r;
}

sub refused
{
	my ($r, $message, $name) = @_;
	is($r->{status}, 401, "$name: 401");
	is($r->{json}{code}, 'GW401', "$name: GW401");
	like($r->{json}{message} // '', $message, "$name: says why") or diag explain $r->{json};
	like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, "$name: WWW-Authenticate");
}

sub alive
{
	my ($g, $name) = @_;
	ok(kill(0, $g->{pid}), "$name: the gateway process (same pid) is alive");
	is(http_call($g, 'GET', '/healthz')->{status}, 200, "$name: /healthz answers 200");
}

my $now = time();

# ---- nbf and iat --------------------------------------------------------
refused(session($gw, make_jwt({ role => 'admin', nbf => $now + 120 })), qr/not valid yet/, 'nbf two minutes ahead');
is(session($gw, make_jwt({ role => 'admin', nbf => $now - 10 }))->{status}, 200, 'nbf in the past: 200');
is(session($gw, make_jwt({ role => 'admin', nbf => $now + 5 }))->{status}, 200, 'nbf 5 s ahead (within the skew): 200');
refused(session($gw, make_jwt({ role => 'admin', iat => $now + 120 })), qr/issued in the future/, 'iat two minutes ahead');
is(session($gw, make_jwt({ role => 'admin', iat => $now - 60 }))->{status}, 200, 'iat a minute ago: 200');
is(session($gw, make_jwt({ role => 'admin', iat => $now + 5 }))->{status}, 200, 'iat 5 s ahead (within the skew): 200');
refused(session($gw, make_jwt({ role => 'admin', nbf => 'tomorrow' })), qr/invalid token claims/, 'nbf not a number');
refused(session($gw, make_jwt({ role => 'admin', exp => "$now" })), qr/invalid token claims/, 'exp as a string');
# no audience configured: an aud claim is not checked
is(session($gw, make_jwt({ role => 'admin', aud => 'elsewhere' }))->{status}, 200, 'aud ignored when jwt_audience is not set');

# ---- JSON limits on the parts, and the header size ----------------------
my $deep = '[' x 1000 . ']' x 1000;
my $deep_obj = '{"a":' x 1000 . '1' . '}' x 1000;
my $claims = encode_base64url(encode_json({ role => 'admin', exp => $now + 3600 }));
my $hs = encode_base64url('{"alg":"HS256","typ":"JWT"}');
for my $case (
	[ 'header of 1000 nested arrays', encode_base64url($deep) . ".$claims.c2ln" ],
	[ 'payload of 1000 nested arrays', "$hs." . encode_base64url($deep) . '.c2ln' ],
	[ 'payload of 1000 nested objects', "$hs." . encode_base64url($deep_obj) . '.c2ln' ],
	[ 'header of 65 nested arrays', encode_base64url('[' x 65 . ']' x 65) . ".$claims.c2ln" ])
{
	my $r = session($gw, $case->[1]);
	refused($r, qr/invalid token (header|payload)/, $case->[0]);
	like($r->{json}{details} // '', qr/nest/i, "$case->[0]: the details name the nesting");
	alive($gw, $case->[0]);
}
# a signed token whose payload nests deep: refused before the signature matters
{
	my $p = encode_base64url('{"role":"admin","exp":' . ($now + 3600) . ',"x":' . $deep . '}');
	my $sig = encode_base64url(Digest::SHA::hmac_sha256("$hs.$p", $JWT_SECRET));
	refused(session($gw, "$hs.$p.$sig"), qr/invalid token payload/, 'validly signed token with a deep claim');
	alive($gw, 'validly signed deep claim');
}
{
	my $r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => 'Bearer ' . ('a' x 9000) });
	is($r->{status}, 401, 'Authorization header over 8192 bytes: 401');
	like(json_body($r)->{message}, qr/too long/, 'the header is too long');
	alive($gw, 'long header');
}
refused(session($gw, 'a.b'), qr/invalid token/, 'two parts');
refused(session($gw, 'a.b.c.d'), qr/invalid token/, 'four parts');
refused(session($gw, '!!!.' . $claims . '.x'), qr/invalid token header/, 'header not base64url');
refused(session($gw, make_jwt({ role => 'admin' }, header => { kid => 'k1' })), qr/unknown token key id/,
	'HS256 token with a kid and no JWKS');
refused(session($gw, encode_base64url('{"alg":"HS256","alg":"none"}') . ".$claims.x"), qr/invalid token header/,
	'duplicate alg in the header');

# ---- provenance: the client claim ----------------------------------------
# An operator token naming a client is refused; the only client is the one
# an API key (or a system token from the gateway's own secret) authenticates.
my $forged = make_jwt({ role => 'operator', operator_id => $farm, client => 'x' });
my $r = http_call($gw, 'POST', '/v1/batches', body => encode_json({ product => $product, qty => '5 kg' }),
	headers => { Authorization => "Bearer $forged", 'Content-Type' => 'application/json' });
is($r->{status}, 401, 'operator token with a client claim: 401');
like(json_body($r)->{message}, qr/client claim is only for system tokens/, 'the client claim is named');
refused(session($gw, make_jwt({ role => 'admin', client => 'x' })), qr/client claim/, 'admin token with a client claim');
is(session($gw, make_jwt({ role => 'system', client => 'erp-7' }))->{json}{client}, 'erp-7',
	'a system token from the gateway secret keeps its client');

my $optoken = make_jwt({ role => 'operator', operator_id => $farm });
$r = http_call($gw, 'POST', '/v1/batches', body => encode_json({ product => $product, qty => '5 kg' }),
	headers => { Authorization => "Bearer $optoken", 'Content-Type' => 'application/json' });
is($r->{status}, 201, 'the operator records with its plain token');
$r = http_call($gw, 'POST', '/v1/batches', body => encode_json({ owner => $farm, product => $product, qty => '6 kg' }),
	headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/json' });
is($r->{status}, 201, 'its ERP records with the API key');
is($node->safe_psql('postgres', "select string_agg(coalesce(source, '-'), ',' order by id) from shilian.ledger where operator_id = $farm and kind = 'batch_create'"),
	'-,api:erp-7', 'ledger sources: none for the operator, api:erp-7 for the key; never api:x');
is($node->safe_psql('postgres', "select count(*) from shilian.ledger where source like '%:x'"), '0',
	'no ledger entry carries the forged client');

# ---- shilian-gateway token ----------------------------------------------
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $conf = "$dir/token-gateway.conf";
open my $fh, '>', $conf or die;
print $fh "# as the server reads it\njwt_secret = $JWT_SECRET\n";
close $fh;

sub mint
{
	my (@args) = @_;
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ $ENV{SHILIAN_GATEWAY}, 'token', @args ], '>', \$stdout, '2>', \$stderr);
	chomp $stdout;
	return ($ok, $stdout, $stderr);
}

my ($ok, $tok, $err) = mint('--role', 'operator', '--operator', $farm, '--expires', '1h', '--config', $conf);
ok($ok, 'token: exit 0') or diag $err;
like($tok, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'token: one JWT on stdout');
my $c = decode_json(decode_base64url((split /\./, $tok)[1]));
is($c->{role}, 'operator', 'token: role claim');
is($c->{operator_id}, $farm, 'token: operator_id claim');
ok(abs($c->{exp} - ($now + 3600)) < 120 && abs($c->{iat} - $now) < 120, 'token: exp an hour on, iat now');
is(decode_json(decode_base64url((split /\./, $tok)[0]))->{alg}, 'HS256', 'token: HS256');
$r = session($gw, $tok);
is($r->{status}, 200, 'a minted token is accepted by the running gateway');
is_deeply([ @{ $r->{json} }{qw(role operator_id)} ], [ 'shilian_operator', $farm ], 'as the operator');

($ok, $tok, $err) = mint('--role', 'admin', '--expires', '2020-01-01T00:00:00Z', '--config', $conf);
ok($ok, 'token with a past expiry is made') or diag $err;
like($err, qr/already expired/, 'with a warning');
refused(session($gw, $tok), qr/token expired/, 'a minted expired token');

# the secret from the environment, as the server takes it
{
	local $ENV{SHILIAN_JWT_SECRET} = $JWT_SECRET;
	my $when = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($now + 30 * 86400));
	($ok, $tok, $err) = mint('--role', 'regulator', '--jurisdiction', '370112', '--expires', $when);
	$r = session($gw, $tok);
	ok($ok && $r->{status} == 200 && $r->{json}{jurisdiction} eq '370112',
		'secret from SHILIAN_JWT_SECRET, absolute expiry: accepted as the regulator') or diag $err;
}
($ok, $tok, $err) = mint('--role', 'admin', '--expires', '1h', '--jwt-secret', 'another-secret-0123456789abcdef-xyz');
refused(session($gw, $tok), qr/invalid token/, 'a token minted with another secret');

for my $bad (
	[ 'no --expires', [ '--role', 'admin' ] ],
	[ 'unknown role', [ '--role', 'root', '--expires', '1h' ] ],
	[ 'operator without --operator', [ '--role', 'operator', '--expires', '1h' ] ],
	[ 'client on an operator token', [ '--role', 'operator', '--operator', '1', '--client', 'x', '--expires', '1h' ] ],
	[ 'bad duration', [ '--role', 'admin', '--expires', 'soon' ] ],
	[ 'impossible date', [ '--role', 'admin', '--expires', '2027-02-31' ] ],
	[ 'no secret', [ '--role', 'admin', '--expires', '1h' ], 1 ],
	[ 'unknown setting', [ '--role', 'admin', '--expires', '1h', '--config', $conf, '--no-such', 'x' ] ])
{
	my @args = @{ $bad->[1] };
	push @args, '--config', $conf unless $bad->[2] || grep { $_ eq '--config' } @args;
	my ($bok, $bout, $berr) = mint(@args);
	ok(!$bok && $bout eq '' && $berr ne '', "token refuses: $bad->[0]") or diag "$bout / $berr";
}

stop_gateway($gw);

# ---- aud, when jwt_audience is set ----------------------------------------
open $fh, '>>', $conf or die;
print $fh "jwt_audience = shilian-test\n";
close $fh;
my $gwa = start_gateway($node, args => [ '--config', $conf ]);
refused(session($gwa, make_jwt({ role => 'admin' })), qr/no aud claim/, 'audience set: token without aud');
refused(session($gwa, make_jwt({ role => 'admin', aud => 'other' })), qr/another audience/, 'audience set: another aud');
refused(session($gwa, make_jwt({ role => 'admin', aud => [ 'a', 'b' ] })), qr/another audience/, 'audience set: aud list without it');
is(session($gwa, make_jwt({ role => 'admin', aud => 'shilian-test' }))->{status}, 200, 'audience set: aud matches');
is(session($gwa, make_jwt({ role => 'admin', aud => [ 'x', 'shilian-test' ] }))->{status}, 200, 'audience set: aud list with it');
($ok, $tok, $err) = mint('--role', 'admin', '--expires', '10m', '--config', $conf);
is(decode_json(decode_base64url((split /\./, $tok)[1]))->{aud}, 'shilian-test', 'a minted token carries the configured aud');
is(session($gwa, $tok)->{status}, 200, 'and is accepted');
stop_gateway($gwa);

$node->stop;
done_testing();
