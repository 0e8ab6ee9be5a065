# API keys of system clients over real HTTP: a key made by an admin lets its
# client act as shilian_system for the operators bound to it and no others;
# a wrong, revoked or malformed key, or one of an inactive client, is 401;
# the database keeps only the key's hash.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_keys');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	create temp table ids as select
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1', reg_card => 'K-FARM') as bound,
		shilian.operator_register('别家合作社', 'production', '{farm}', '370112001', 'x', '2', reg_card => 'K-OTHER') as other;
	select shilian.operator_activate(bound), shilian.operator_activate(other) from ids;
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true);
	select shilian.api_client_add('erp-7', '绿源 ERP');
	select shilian.api_client_bind('erp-7', bound) from ids;
	select bound || ' ' || other || ' ' || shilian.api_client_key_new('erp-7') from ids;
});
my ($bound, $other, $key) = split ' ', (split /\n/, $out)[-1];
like($key, qr/^sl_[0-9a-f]{12}_[0-9a-f]{64}$/, 'an admin makes a key: sl_<id>_<secret>');
my ($key_id) = $key =~ /^sl_([0-9a-f]{12})_/;
is($node->safe_psql('postgres', qq{select count(*) from shilian.api_client_key where key_hash = sha256(convert_to('$key', 'UTF8'))}),
	'1', 'the database keeps the key\'s SHA-256');
is($node->safe_psql('postgres', qq{select count(*) from shilian.api_client_key k where position('$key' in k::text) > 0}),
	'0', 'and never the key itself');

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $product = $node->safe_psql('postgres', 'select min(id) from shilian.product');

sub call
{
	my ($k, $method, $path, $body, %h) = @_;
	my $r = http_call($gw, $method, $path, defined $body ? (body => encode_json($body)) : (),
		headers => { (defined $k ? ('X-API-Key' => $k) : ()), 'Content-Type' => 'application/json', %h });
	$r->{json} = json_body($r);
	return $r;
}

my $r = call($key, 'GET', '/v1/session');
is($r->{status}, 200, 'the key authenticates');
is($r->{json}{role}, 'shilian_system', 'as shilian_system');
is($r->{json}{client}, 'erp-7', 'with shilian.client = the client');

$r = call($key, 'POST', '/v1/batches', { owner => $bound, product => $product, qty => '100 kg' });
is($r->{status}, 201, 'the client records a batch for its bound operator');
$r = call($key, 'POST', '/v1/batches', { owner => $other, product => $product, qty => '100 kg' });
is($r->{status}, 403, 'but not for an operator not bound to it');
is($r->{json}{code}, '42501', 'refused by the database (42501)');
$r = call($key, 'GET', '/v1/operators');
is(scalar @{ $r->{json} }, 1, 'it sees only its bound operator');

for my $bad ([ 'a wrong secret', substr($key, 0, -1) . ($key =~ /0$/ ? '1' : '0') ],
	[ 'a malformed key', 'not-a-key' ], [ 'an empty key', '' ], [ 'a very long key', 'sl_' . ('a' x 300) ])
{
	$r = call($bad->[1], 'GET', '/v1/session');
	is($r->{status}, 401, "$bad->[0]: 401");
	is($r->{json}{code}, 'GW401', "$bad->[0]: GW401");
}
$r = call($key, 'GET', '/v1/session', undef, Authorization => 'Bearer x.y.z');
is($r->{status}, 400, 'a key and a token together: 400');

$node->safe_psql('postgres', q{update shilian.api_client set active = false where client = 'erp-7'});
is(call($key, 'GET', '/v1/session')->{status}, 401, 'a key of an inactive client: 401');
$node->safe_psql('postgres', q{update shilian.api_client set active = true where client = 'erp-7'});
is(call($key, 'GET', '/v1/session')->{status}, 200, 'active again: 200');
is($node->safe_psql('postgres', "select shilian.api_client_key_revoke('$key_id')"), 't', 'an admin revokes the key by its id');
is(call($key, 'GET', '/v1/session')->{status}, 401, 'a revoked key: 401');

# Only admins make keys; only the gateway role checks them.
my ($rc, $o, $err) = $node->psql('postgres', q{set role shilian_operator; select shilian.api_client_key_new('erp-7')});
like($err, qr/permission denied/, 'an operator cannot make keys');
($rc, $o, $err) = $node->psql('postgres', q{set role shilian_system; select shilian.api_client_authenticate('x')});
like($err, qr/permission denied/, 'a system client cannot probe keys');

stop_gateway($gw);
$node->stop;
done_testing();
