# Managing system clients over REST (/v1/admin/clients): an admin registers a
# client with its kind, binds operators, makes and revokes keys, switches it
# off; the key made over HTTP works at once and stops working when revoked or
# when the client is switched off; bad input is 400 with a clear message, an
# unknown client 404, a duplicate 409, and no one but the admin gets in.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_clients');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	create temp table ids as select
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1', reg_card => 'K-FARM') as farm,
		shilian.operator_register('别家合作社', 'production', '{farm}', '370112001', 'x', '2', reg_card => 'K-OTHER') as other;
	select shilian.operator_activate(farm), shilian.operator_activate(other) from ids;
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true);
	select farm || ' ' || other from ids;
});
my ($farm, $other) = split ' ', (split /\n/, $out)[-1];
my $product = $node->safe_psql('postgres', 'select min(id) from shilian.product');

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $admin = make_jwt({ role => 'admin' });
my $op = make_jwt({ role => 'operator', operator_id => "$farm" });
my $reg = make_jwt({ role => 'regulator', jurisdiction => '370000' });

sub call
{
	my ($auth, $method, $path, $body) = @_;
	my %h = ('Content-Type' => 'application/json');
	if (defined $auth && $auth =~ /^sl_/) { $h{'X-API-Key'} = $auth }
	elsif (defined $auth) { $h{Authorization} = "Bearer $auth" }
	my $r = http_call($gw, $method, $path, defined $body ? (body => encode_json($body)) : (), headers => \%h);
	$r->{json} = json_body($r);
	return $r;
}

# ---- register -------------------------------------------------------------
my $r = call($admin, 'POST', '/v1/admin/clients', { client => 'erp-9', name => '绿源 ERP', kind => 'own_system' });
is($r->{status}, 201, 'an admin registers a client');
is_deeply([ @{ $r->{json} }{qw(client name kind active)} ], [ 'erp-9', '绿源 ERP', 'own_system', JSON::PP::true ],
	'the reply is the client: id, name, kind, active');
is_deeply($r->{json}{operators}, [], 'bound to no operator yet');
is_deeply($r->{json}{keys}, [], 'with no key yet');
is($node->safe_psql('postgres', q{select kind from shilian.api_client where client = 'erp-9'}), 'own_system',
	'the kind is stored');

$r = call($admin, 'POST', '/v1/admin/clients', { client => 'market-1', name => '农贸市场子系统' });
is($r->{json}{kind}, 'other', 'kind defaults to other');

$r = call($admin, 'POST', '/v1/admin/clients', { client => 'erp-9', name => 'again' });
is($r->{status}, 409, 'a client id registered twice: 409');
is($r->{json}{code}, '23505', 'unique violation');
$r = call($admin, 'POST', '/v1/admin/clients', { client => 'bad id!', name => 'x' });
is($r->{status}, 400, 'a malformed client id: 400');
like($r->{json}{message}, qr/invalid system client id "bad id!"/, 'naming the id');
$r = call($admin, 'POST', '/v1/admin/clients', { client => 'erp-x', name => 'x', kind => 'ownsystem' });
is($r->{status}, 400, 'an unknown kind: 400');
like($r->{json}{message}, qr/unknown system client kind "ownsystem"/, 'naming the kind');
like($r->{json}{hint}, qr/own_system, market, canteen or other/, 'with the kinds in the hint');
$r = call($admin, 'POST', '/v1/admin/clients', { client => 'erp-x' });
is($r->{status}, 400, 'a missing name: 400 from the body schema');
is($node->safe_psql('postgres', q{select count(*) from shilian.api_client where client = 'erp-x'}), '0',
	'and none of the refused ones was stored');

# ---- bind ------------------------------------------------------------------
$r = call($admin, 'POST', '/v1/admin/clients/erp-9/operators', { operator => $farm });
is($r->{status}, 200, 'an admin binds an operator');
is_deeply($r->{json}{operators}, ["$farm"], 'the client now lists it');
$r = call($admin, 'POST', '/v1/admin/clients/erp-9/operators', { operator => $farm });
is_deeply($r->{json}{operators}, ["$farm"], 'binding twice is harmless');
$r = call($admin, 'POST', '/v1/admin/clients/erp-9/operators', { operator => 999999 });
is($r->{status}, 404, 'an unknown operator: 404');
like($r->{json}{message}, qr/unknown operator 999999/, 'naming it');
$r = call($admin, 'POST', '/v1/admin/clients/nobody/operators', { operator => $farm });
is($r->{status}, 404, 'an unknown client: 404');
like($r->{json}{message}, qr/unknown system client "nobody"/, 'naming it');

# ---- keys --------------------------------------------------------------------
$r = call($admin, 'POST', '/v1/admin/clients/erp-9/keys');
is($r->{status}, 201, 'an admin makes a key');
my $key = $r->{json}{key};
like($key, qr/^sl_[0-9a-f]{12}_[0-9a-f]{64}$/, 'the key is in the reply');
my $key_id = $r->{json}{key_id};
like($key, qr/^sl_\Q$key_id\E_/, 'with its public id');
$r = call($admin, 'GET', '/v1/admin/clients/erp-9');
is($r->{json}{keys}[0]{key_id}, $key_id, 'the client lists the key by its id');
unlike(encode_json($r->{json}), qr/\Q$key\E|key_hash/, 'never the key or its hash');
$r = call($admin, 'POST', '/v1/admin/clients/nobody/keys');
is($r->{status}, 404, 'a key for an unknown client: 404');

$r = call($key, 'POST', '/v1/batches', { owner => $farm, product => $product, qty => '10 kg' });
is($r->{status}, 201, 'the new key records for the bound operator at once');
$r = call($key, 'POST', '/v1/batches', { owner => $other, product => $product, qty => '10 kg' });
is($r->{status}, 403, 'but not for an operator it is not bound to');

# ---- switch off and on -----------------------------------------------------------
$r = call($admin, 'PATCH', '/v1/admin/clients/erp-9', { active => JSON::PP::false });
is($r->{status}, 200, 'an admin switches the client off');
is($r->{json}{active}, JSON::PP::false, 'active is false');
is($r->{json}{kind}, 'own_system', 'the kind is kept');
$r = call($key, 'GET', '/v1/session');
is($r->{status}, 401, 'its key is refused at once');
$r = call($admin, 'PATCH', '/v1/admin/clients/erp-9', { active => JSON::PP::true, name => '绿源 ERP 2' });
is($r->{json}{name}, '绿源 ERP 2', 'renamed');
$r = call($key, 'GET', '/v1/session');
is($r->{status}, 200, 'switched on again, the key works');
$r = call($admin, 'PATCH', '/v1/admin/clients/erp-9', { kind => 'farm' });
is($r->{status}, 400, 'an unknown kind in a change: 400');
$r = call($admin, 'PATCH', '/v1/admin/clients/erp-9', { active => 'no' });
is($r->{status}, 400, 'active must be a boolean: 400');
$r = call($admin, 'PATCH', '/v1/admin/clients/nobody', { active => JSON::PP::false });
is($r->{status}, 404, 'changing an unknown client: 404');

# ---- unbind and revoke ---------------------------------------------------------------
$r = call($admin, 'DELETE', "/v1/admin/clients/erp-9/operators/$farm");
is($r->{status}, 200, 'an admin unbinds the operator');
is_deeply($r->{json}{operators}, [], 'the client lists none');
$r = call($key, 'POST', '/v1/batches', { owner => $farm, product => $product, qty => '10 kg' });
is($r->{status}, 403, 'the key can no longer record for it');
$r = call($admin, 'DELETE', "/v1/admin/clients/erp-9/keys/$key_id");
is($r->{status}, 200, 'an admin revokes the key');
ok(defined $r->{json}{revoked_at}, 'with its revocation time');
$r = call($key, 'GET', '/v1/session');
is($r->{status}, 401, 'the revoked key is refused');
$r = call($admin, 'DELETE', '/v1/admin/clients/market-1/keys/' . $key_id);
is($r->{status}, 404, 'a key of another client: 404');

$r = call($admin, 'GET', '/v1/admin/clients');
is_deeply([ map { $_->{client} } @{ $r->{json} } ], [ 'erp-9', 'market-1' ], 'the list has both clients, ordered');

# ---- only the admin -----------------------------------------------------------------------
my $key2 = call($admin, 'POST', '/v1/admin/clients/market-1/keys')->{json}{key};
is(call($key2, 'GET', '/v1/session')->{status}, 200, 'a working key of another client');
for my $who ([ operator => $op ], [ regulator => $reg ], [ 'system client' => $key2 ])
{
	$r = call($who->[1], 'GET', '/v1/admin/clients');
	is($r->{status}, 403, "$who->[0] cannot list clients");
	$r = call($who->[1], 'POST', '/v1/admin/clients', { client => 'sneaky', name => 'x' });
	is($r->{status}, 403, "$who->[0] cannot register a client");
}
is($node->safe_psql('postgres', q{select count(*) from shilian.api_client where client = 'sneaky'}), '0',
	'nothing was registered by them');
# and in SQL, the same functions refuse the other roles
my ($rc, $o, $err) = $node->psql('postgres', q{set role shilian_operator; select shilian.api_clients()});
like($err, qr/permission denied/, 'an operator cannot call api_clients() in SQL');
($rc, $o, $err) = $node->psql('postgres', q{set role shilian_regulator; select key_hash from shilian.api_client_key});
like($err, qr/permission denied/, 'a regulator cannot read key hashes');
($rc, $o, $err) = $node->psql('postgres', q{set role shilian_admin; select key_hash from shilian.api_client_key});
like($err, qr/permission denied/, 'nor can the admin: only the public columns');

stop_gateway($gw);
done_testing();
