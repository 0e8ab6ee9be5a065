# Tokens from an identity provider (issue 16): RS256 and ES256 tokens whose
# kid names a key of the JWKS file. Keys are made with the openssl CLI, the
# JWKS written from them, tokens signed here (ES256 signatures converted
# from DER to the raw R||S that JOSE uses). Accepted: each key's own
# algorithm, with the configured claim names. Refused (401): a key not in
# the JWKS, an unknown kid, alg none, HS256 under a JWKS kid (with the
# public key or the gateway secret as HMAC key), the other key type's
# algorithm, a tampered payload, an expired token.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(hmac_sha256);
use IPC::Run;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use ShilianTest;

my $dir = $PostgreSQL::Test::Utils::tmp_check;

sub openssl
{
	my (@args) = @_;
	my ($out, $err);
	IPC::Run::run([ 'openssl', @args ], '>', \$out, '2>', \$err)
	  or die "openssl @args: $err";
	return $out;
}

sub slurp_bin
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	return scalar <$fh>;
}

# keys: two RSA (one of them left out of the JWKS) and one EC P-256
openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$dir/rsa1.pem");
openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', "$dir/rsa2.pem");
openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', "$dir/ec1.pem");
openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', "$dir/rsa_small.pem");

sub rsa_jwk
{
	my ($pem, $kid, %extra) = @_;
	my ($hex) = openssl('rsa', '-in', $pem, '-noout', '-modulus') =~ /Modulus=([0-9A-F]+)/;
	return { kty => 'RSA', kid => $kid, use => 'sig', alg => 'RS256',
		n => encode_base64url(pack('H*', $hex)), e => encode_base64url(pack('N', 65537) =~ s/^\0+//r), %extra };
}

sub ec_jwk
{
	my ($pem, $kid) = @_;
	openssl('pkey', '-in', $pem, '-pubout', '-outform', 'DER', '-out', "$dir/$kid.der");
	my $point = substr(slurp_bin("$dir/$kid.der"), -65);
	die 'not an uncompressed point' unless substr($point, 0, 1) eq "\x04";
	return { kty => 'EC', kid => $kid, crv => 'P-256',
		x => encode_base64url(substr($point, 1, 32)), y => encode_base64url(substr($point, 33, 32)) };
}

sub write_json
{
	my ($path, $doc) = @_;
	open my $fh, '>', $path or die;
	print $fh encode_json($doc);
	close $fh;
}

my $rsa1_pub = openssl('pkey', '-in', "$dir/rsa1.pem", '-pubout');
write_json("$dir/jwks.json", { keys => [
	rsa_jwk("$dir/rsa1.pem", 'rsa-1'),
	ec_jwk("$dir/ec1.pem", 'ec-1'),
	{ kty => 'oct', kid => 'hmac-1', k => encode_base64url('x' x 32) },	# not for us: skipped
	{ %{ rsa_jwk("$dir/rsa2.pem", 'enc-1') }, use => 'enc', alg => 'RSA-OAEP' },	# skipped too
] });

# Sign header.payload with a PEM key: RS256 (PKCS#1 v1.5) or ES256 (raw R||S).
sub sign_pem
{
	my ($alg, $pem, $input) = @_;
	open my $fh, '>:raw', "$dir/input" or die;
	print $fh $input;
	close $fh;
	openssl('dgst', '-sha256', '-sign', $pem, '-out', "$dir/sig", "$dir/input");
	my $sig = slurp_bin("$dir/sig");
	return $sig if $alg eq 'RS256';
	# DER: 30 len 02 rlen r 02 slen s; each integer to 32 bytes, unsigned
	my ($rlen) = unpack('x3 C', $sig);
	my $r = substr($sig, 4, $rlen);
	my ($slen) = unpack('C', substr($sig, 5 + $rlen, 1));
	my $s = substr($sig, 6 + $rlen, $slen);
	($r, $s) = map { my $v = $_ =~ s/^\0+//r; ("\0" x (32 - length $v)) . $v } ($r, $s);
	return $r . $s;
}

sub idp_token
{
	my ($claims, %opt) = @_;
	my $alg = $opt{alg};
	my %h = (alg => $alg, typ => 'JWT', (defined $opt{kid} ? (kid => $opt{kid}) : ()));
	my $c = { exp => time() + 600, %$claims };
	my $input = encode_base64url(JSON::PP->new->canonical->encode(\%h)) . '.'
	  . encode_base64url(JSON::PP->new->canonical->encode($c));
	my $sig = $alg eq 'none' ? ''
	  : $alg eq 'HS256' ? hmac_sha256($input, $opt{hmac_key})
	  : sign_pem($alg, $opt{pem}, $input);
	return "$input." . encode_base64url($sig);
}

my $node = shilian_node('gw_jwks');
my $gw = start_gateway($node, args => [ '--jwks-file', "$dir/jwks.json",
	'--jwt-claim-role', 'shilian_role', '--jwt-claim-operator', 'org_id', '--jwt-claim-jurisdiction', 'region' ]);

sub session
{
	my ($token) = @_;
	my $r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => "Bearer $token" });
	$r->{json} = json_body($r);
	return $r;
}

sub refused
{
	my ($token, $message, $name) = @_;
	my $r = session($token);
	is($r->{status}, 401, "$name: 401");
	is($r->{json}{code}, 'GW401', "$name: GW401");
	like($r->{json}{message} // '', $message, "$name: says why") or diag explain $r->{json};
}

# ---- accepted ----------------------------------------------------------------
my $r = session(idp_token({ shilian_role => 'operator', org_id => '5' }, alg => 'RS256', kid => 'rsa-1', pem => "$dir/rsa1.pem"));
is($r->{status}, 200, 'RS256 token with the JWKS kid: 200') or diag explain $r->{json};
is_deeply([ @{ $r->{json} }{qw(role operator_id)} ], [ 'shilian_operator', '5' ], 'with the configured claim names (shilian_role, org_id)');

$r = session(idp_token({ shilian_role => 'regulator', region => '370112' }, alg => 'ES256', kid => 'ec-1', pem => "$dir/ec1.pem"));
is($r->{status}, 200, 'ES256 token with the JWKS kid: 200') or diag explain $r->{json};
is_deeply([ @{ $r->{json} }{qw(role jurisdiction)} ], [ 'shilian_regulator', '370112' ], 'ES256: regulator of its region claim');

$r = session(idp_token({ shilian_role => 'system', client => 'erp-x' }, alg => 'RS256', kid => 'rsa-1', pem => "$dir/rsa1.pem"));
is($r->{json}{client}, '', 'a client claim of an identity-provider token is never provenance');

$r = session(idp_token({ role => 'admin' }, alg => 'RS256', kid => 'rsa-1', pem => "$dir/rsa1.pem"));
is($r->{status}, 403, 'the default claim name "role" is not read when another is configured (no role: 403)');

is(session(make_jwt({ role => 'admin' }))->{status}, 200, 'HS256 tokens of the gateway secret still work beside the JWKS');

# ---- refused ------------------------------------------------------------------
refused(idp_token({ shilian_role => 'admin' }, alg => 'RS256', kid => 'rsa-1', pem => "$dir/rsa2.pem"),
	qr/^invalid token$/, 'RS256 signed by a key not in the JWKS, claiming its kid');
refused(idp_token({ shilian_role => 'admin' }, alg => 'RS256', kid => 'rsa-2', pem => "$dir/rsa2.pem"),
	qr/unknown token key id/, 'unknown kid');
refused(idp_token({ shilian_role => 'admin' }, alg => 'RS256', kid => 'hmac-1', pem => "$dir/rsa1.pem"),
	qr/unknown token key id/, 'kid of a skipped (oct) key');
refused(idp_token({ shilian_role => 'admin' }, alg => 'RS256', pem => "$dir/rsa1.pem"),
	qr/invalid token algorithm/, 'RS256 without a kid');
refused(idp_token({ shilian_role => 'admin' }, alg => 'none', kid => 'rsa-1'),
	qr/invalid token algorithm/, 'alg none with a JWKS kid');
refused(idp_token({ shilian_role => 'admin' }, alg => 'HS256', kid => 'rsa-1', hmac_key => $rsa1_pub),
	qr/does not match its key/, 'HS256 with the public key PEM as HMAC secret (algorithm confusion)');
refused(idp_token({ shilian_role => 'admin' }, alg => 'HS256', kid => 'rsa-1', hmac_key => $JWT_SECRET),
	qr/does not match its key/, 'HS256 with the gateway secret, claiming a JWKS kid');
refused(idp_token({ shilian_role => 'admin' }, alg => 'ES256', kid => 'rsa-1', pem => "$dir/ec1.pem"),
	qr/does not match its key/, 'ES256 under an RSA kid');
refused(idp_token({ shilian_role => 'admin' }, alg => 'RS256', kid => 'ec-1', pem => "$dir/rsa1.pem"),
	qr/does not match its key/, 'RS256 under an EC kid');
refused(idp_token({ shilian_role => 'admin', exp => time() - 5 }, alg => 'ES256', kid => 'ec-1', pem => "$dir/ec1.pem"),
	qr/expired/, 'expired ES256 token');
refused(idp_token({ shilian_role => 'admin', nbf => time() + 300 }, alg => 'RS256', kid => 'rsa-1', pem => "$dir/rsa1.pem"),
	qr/not valid yet/, 'RS256 token before its nbf');
{
	my @p = split /\./, idp_token({ shilian_role => 'operator', org_id => '5' }, alg => 'ES256', kid => 'ec-1', pem => "$dir/ec1.pem");
	$p[1] = encode_base64url(encode_json({ shilian_role => 'admin', exp => time() + 600 }));
	refused(join('.', @p), qr/^invalid token$/, 'ES256 token with a tampered payload');
	my $sig = MIME::Base64::decode_base64url($p[2]);
	$p[1] = encode_base64url(encode_json({ shilian_role => 'operator', org_id => '5', exp => time() + 600 }));
	$p[2] = encode_base64url(substr($sig, 0, 63));
	refused(join('.', @p), qr/^invalid token$/, 'ES256 signature one byte short');
}
is(http_call($gw, 'GET', '/healthz')->{status}, 200, 'the gateway is up after the refusals');
stop_gateway($gw);

# ---- JWKS files the gateway refuses to start with --------------------------
sub start_fails
{
	my ($doc, $message, $name) = @_;
	write_json("$dir/bad.json", $doc) if ref $doc;
	my ($out, $err);
	my $ok = IPC::Run::run([ $ENV{SHILIAN_GATEWAY}, '--listen', '127.0.0.1:0', '--jwt-secret', $JWT_SECRET,
		'--jwks-file', ref $doc ? "$dir/bad.json" : $doc ], '>', \$out, '2>', \$err);
	ok(!$ok, "$name: the gateway does not start");
	like($err, $message, "$name: and says why") or diag $err;
}
start_fails({ keys => [ rsa_jwk("$dir/rsa_small.pem", 'small') ] }, qr/at least 2048/, 'RSA key of 1024 bits');
start_fails({ keys => [ { %{ rsa_jwk("$dir/rsa1.pem", 'r') }, n => 'not base64!' } ] }, qr/"n" is missing or not base64url/, 'bad modulus');
start_fails({ keys => [ { %{ ec_jwk("$dir/ec1.pem", 'e') }, y => encode_base64url("\x01" x 32) } ] }, qr/not a valid P-256/, 'point off the curve');
start_fails({ keys => [ { %{ ec_jwk("$dir/ec1.pem", 'e') }, crv => 'P-384' } ] }, qr/P-256/, 'another curve');
start_fails({ keys => [ rsa_jwk("$dir/rsa1.pem", 'k'), rsa_jwk("$dir/rsa2.pem", 'k') ] }, qr/appears twice/, 'duplicate kid');
start_fails({ keys => [ { %{ rsa_jwk("$dir/rsa1.pem", 'k') }, alg => 'ES256' } ] }, qr/does not fit/, 'alg not of its kty');
start_fails({ keys => [ { kty => 'oct', kid => 'h', k => 'eA' } ] }, qr/no RS256 or ES256/, 'no usable key');
start_fails({ nokeys => [] }, qr/not a JWKS/, 'not a JWKS');
start_fails({ keys => [ ('[' x 100) . (']' x 100) ] }, qr/not a JWKS|kid/, 'a key that is a string');
start_fails("$dir/no-such-file.json", qr/cannot open jwks_file/, 'missing file');
{
	open my $fh, '>', "$dir/deep.json" or die;
	print $fh '{"keys":' . ('[' x 1000) . (']' x 1000) . '}';
	close $fh;
	start_fails("$dir/deep.json", qr/nest/i, 'JWKS nested 1000 deep');
}

$node->stop;
done_testing();
