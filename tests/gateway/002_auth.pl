# Authentication over real HTTP: HS256 JWTs with exp, the caller's role and
# settings reaching the database per transaction (and not leaking to the
# next request on the same connection), and every bad token refused with 401.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('gw_auth');
# One worker thread: every request reuses the same database connection, so a
# leaked setting would show up in the next request.
my $gw = start_gateway($node, threads => 1,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

sub session
{
	my ($token) = @_;
	return http_call($gw, 'GET', '/v1/session',
		headers => defined $token ? { Authorization => "Bearer $token" } : {});
}

my $r = session(undef);
is($r->{status}, 401, 'no token: 401');
like($r->{headers}{'www-authenticate'}, qr/^Bearer/, 'no token: WWW-Authenticate: Bearer');
is(json_body($r)->{code}, 'GW401', 'no token: GW401');

$r = session(make_jwt({ role => 'operator', operator_id => 42 }));
is($r->{status}, 200, 'operator token: 200');
my $s = json_body($r);
is($s->{role}, 'shilian_operator', 'the transaction runs as shilian_operator');
is($s->{operator_id}, '42', 'shilian.operator_id is set from the token (integer claim)');
is($s->{jurisdiction}, '', 'no jurisdiction claim: empty setting');
ok($s->{read_only}, 'a GET runs in a read-only transaction');

$r = session(make_jwt({ role => 'regulator', jurisdiction => '370102' }));
$s = json_body($r);
is($s->{role}, 'shilian_regulator', 'regulator token: role');
is($s->{jurisdiction}, '370102', 'regulator token: jurisdiction');
is($s->{operator_id}, '', 'the previous request\'s operator_id did not leak');

# A system token's operator must be bound to its client (issue 17): bind one.
my $bound = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.api_client_add('erp-7', 'ERP 7');
	select shilian.api_client_bind('erp-7', shilian.operator_register('甲', 'circulation', '{retailer}', '370102001', 'a', '1', reg_card => 'R-1'));
	select operator_id from shilian.api_client_operator});
$bound = (split /\n/, $bound)[-1];
$r = session(make_jwt({ role => 'system', client => 'erp-7', operator_id => "$bound" }));
$s = json_body($r);
is_deeply([ @$s{qw(role client operator_id)} ], [ 'shilian_system', 'erp-7', $bound ], 'system token: role, client, operator (string claim)');
$r = session(make_jwt({ role => 'system', client => 'erp-7', operator_id => '999' }));
is($r->{status}, 403, 'a system token naming an operator not bound to its client: 403');

# The login role itself is back after the request (the role was SET LOCAL).
is($node->safe_psql('postgres', q{select count(*) from pg_stat_activity where usename = 'shilian_gateway'}), '1',
	'the gateway holds one connection as shilian_gateway');

# Refusals: each is 401 with the challenge header, and the gateway stays up.
my @bad = (
	[ 'alg none', make_jwt({ role => 'admin' }, alg => 'none') ],
	[ 'HS512 with the right key', make_jwt({ role => 'admin' }, alg => 'HS512') ],
	[ 'wrong key', make_jwt({ role => 'admin' }, key => 'another-secret-0123456789abcdef-xyz') ],
	[ 'expired', make_jwt({ role => 'admin', exp => time() - 10 }) ],
	[ 'no exp', make_jwt({ role => 'admin', exp => undef }) ],
	[ 'garbage', 'not.a.token' ],
	[ 'empty', '' ],
	[ 'claims of the wrong type', make_jwt({ role => 'operator', operator_id => { x => 1 } }) ],
	[ 'tampered payload', do { my $t = make_jwt({ role => 'operator', operator_id => 1 }); my @p = split /\./, $t; $p[1] = MIME::Base64::encode_base64url('{"role":"admin","exp":9999999999}'); join '.', @p } ],
);
for my $b (@bad)
{
	$r = session($b->[1]);
	is($r->{status}, 401, "$b->[0]: 401");
	like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/, "$b->[0]: WWW-Authenticate");
	my $e = json_body($r);
	is($e->{code}, 'GW401', "$b->[0]: GW401") or diag explain $e;
}

$r = http_call($gw, 'GET', '/v1/session', headers => { Authorization => 'Basic dXNlcjpwYXNz' });
is($r->{status}, 401, 'Basic auth: 401');

$r = session(make_jwt({ role => 'superuser' }));
is($r->{status}, 403, 'unknown role claim: 403');
is(json_body($r)->{code}, 'GW403', 'unknown role: GW403');

# Public routes work without a token, and as shilian_public.
$r = http_call($gw, 'GET', '/v1/version');
is($r->{status}, 200, 'public route without a token: 200');
# A bad token on a public route is still refused (it is not silently ignored).
$r = http_call($gw, 'GET', '/v1/version', headers => { Authorization => 'Bearer x.y.z' });
is($r->{status}, 401, 'bad token on a public route: 401');

$r = session(make_jwt({ role => 'admin' }));
is($r->{status}, 200, 'after all the refusals a good token still works');

stop_gateway($gw);
$node->stop;
done_testing();
