# Self-service registration and activation over REST (issue 24,
# docs/registration.md): a new vendor on the roll registers itself without a
# token and is active after the station's activation code, and its county's
# registered and activated counts in jurisdiction_stats move by exactly one
# each; a request that does not match waits, is refused to a station outside
# its subtree and approved by the right one; a licence already held is 409
# SLQ05; the per-address throttle answers 429 SLQ02; a code is single use,
# expires, and is stored hashed; the follow-up list in JSON and CSV.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Encode qw(decode encode);
use ShilianTest;

my $node = shilian_node('gw_registration');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	insert into shilian.operator_roll (licence_no, name, station, segment, kinds) values
		('JY13701020003016', '泉城路老王菜摊', '370102001', 'circulation', '{market_vendor}'),
		('JY13701020003024', '泉城路李记水果', '370102001', 'circulation', '{market_vendor}'),
		('JY13701020003032', '泉城路超市', '370102001', 'circulation', '{retailer}'),
		('JY13701120003013', '洪家楼张三饭店', '370112001', 'catering', '{restaurant}');
	select shilian.operator_register('泉城路超市', 'circulation', '{retailer}', '370102001', '泉城路1号', '0531-1',
		reg_card => 'CARD-S');
	select shilian.licence_add(1, 'JY13701020003032', '{other}', '2025-01-01', '2030-12-31');
});
my $today = $node->safe_psql('postgres', 'select shilian.platform_today()');

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	lixia => make_jwt({ role => 'regulator', jurisdiction => '370102' }),
	licheng => make_jwt({ role => 'regulator', jurisdiction => '370112' }),
);

sub call
{
	my ($who, $method, $path, $body) = @_;
	my %h = ('Content-Type' => 'application/json');
	if ($who && $who =~ /^key:(.*)/) { $h{'X-API-Key'} = $1 }
	elsif ($who) { $h{Authorization} = "Bearer $tok{$who}" }
	my $r = http_call($gw, $method, $path, headers => \%h,
		defined $body ? (body => JSON::PP->new->utf8->canonical->encode($body)) : ());
	$r->{json} = json_body($r);
	return $r;
}

sub request_body
{
	my ($name, $lic, %o) = @_;
	return { name => $name, segment => 'circulation', kinds => ['market_vendor'], station => $o{station} // '370102001',
		address => '泉城路菜市场', contact => '13800000001', licence_no => $lic, scope => ['vegetables'],
		valid_from => '2025-01-01', valid_to => '2030-12-31', reg_card => $o{card}, %{ $o{extra} // {} } };
}

sub counts
{
	my $r = call('lixia', 'GET', "/v1/regulator/jurisdictions/370102/stats?from=$today&to=$today");
	ref $r->{json} eq 'ARRAY' or return "$r->{status} $r->{content}";
	my ($t) = grep { $_->{total} } @{ $r->{json} };
	return "$t->{registered}/$t->{activated}";
}

# ---- a vendor on the roll registers itself and activates ------------------------------

is(counts(), '1/0', 'the county before: the supermarket registered, nobody active');
my $r = call(undef, 'POST', '/v1/registrations', request_body('泉城路老王菜摊', 'JY13701020003016', card => 'LX-0001'));
is($r->{status}, 200, 'POST /v1/registrations without a token: 200');
is_deeply($r->{json}, { id => '1', status => 'registered', operator => '2' }, 'matched the roll: registered at once');
is(counts(), '2/0', 'the county\'s registered count moved by exactly one');

$r = call('licheng', 'POST', '/v1/operators/2/activation-code');
is($r->{status}, 403, 'a station outside the operator\'s subtree issues no code (403)');
$r = call('lixia', 'POST', '/v1/operators/2/activation-code');
is($r->{status}, 200, 'the right station issues an activation code');
my $code = $r->{json}{code};
like($code // '', qr/^[0-9]{10}$/, 'ten digits, shown once');
is($node->safe_psql('postgres', "select count(*) from shilian.activation_code "
	. "where code_hash = sha256(salt || convert_to('$code', 'UTF8')) and position('$code' in row(activation_code.*)::text) = 0"),
	'1', 'stored as a salted hash, never in the clear');

my $wrong = $code eq '0000000000' ? '0000000001' : '0000000000';
$r = call(undef, 'POST', '/v1/activations', { licence_no => 'JY13701020003016', code => $wrong, identity => 'phone:13800000001' });
is($r->{status}, 403, 'a wrong code: 403');
is($r->{json}{code}, 'SLQ14', 'SLQ14');
$r = call(undef, 'POST', '/v1/activations', { licence_no => 'JY13701020003016', code => $code, identity => 'phone:13800000001' });
is($r->{status}, 200, 'the right code: 200');
is_deeply($r->{json}, { status => 'active', operator => '2', identity => 'phone:13800000001' }, 'active, identity bound');
is(counts(), '2/1', 'the county\'s activated count moved by exactly one');
$r = call(undef, 'POST', '/v1/activations', { licence_no => 'JY13701020003016', code => $code, identity => 'phone:13800000001' });
is($r->{json}{code}, 'SLQ14', 'the code is single use');
is($node->safe_psql('postgres', "select failures from shilian.activation_code where operator_id = 2"), '1',
	'the wrong attempt was counted though it was refused');

# ---- a request that does not match -------------------------------------------------------

$r = call(undef, 'POST', '/v1/registrations', request_body('李记水果店', 'JY13701020003024', card => 'LX-0002'));
is_deeply($r->{json}, { id => '2', status => 'pending' }, 'a name that differs from the roll: pending');
$r = call('lixia', 'GET', '/v1/registrations?station=370102');
is($r->{status}, 200, 'the station reads its queue');
is(scalar @{ $r->{json} }, 1, 'one pending request');
is($r->{json}[0]{closest_roll}[0]{name}, '泉城路李记水果', 'with the closest roll row');
$r = call('licheng', 'GET', '/v1/registrations?station=370102');
is($r->{status}, 403, 'another county may not read the queue');
$r = call('licheng', 'POST', '/v1/registrations/2/decision', { decision => 'approve', reason => '核对无误' });
is($r->{status}, 403, 'a station outside the subtree may not decide (403)');
$r = call(undef, 'POST', '/v1/registrations/2/decision', { decision => 'approve', reason => '核对无误' });
is($r->{status}, 401, 'nor the public');
$r = call('lixia', 'POST', '/v1/registrations/2/decision',
	{ decision => 'correct', reason => '名称以许可证为准', corrections => { name => '泉城路李记水果' } });
is($r->{status}, 200, 'the right station corrects and registers');
is_deeply($r->{json}, { id => '2', status => 'corrected', operator => '3' }, 'operator 3');
is(counts(), '3/1', 'the registration moved the count by one');
$r = call('lixia', 'POST', '/v1/registrations/2/decision', { decision => 'refuse', reason => 'x' });
is($r->{status}, 409, 'a decided request: 409');
is($r->{json}{code}, 'SLQ10', 'SLQ10');

# ---- a duplicate licence -----------------------------------------------------------------

$r = call(undef, 'POST', '/v1/registrations', request_body('泉城路超市', 'JY13701020003032', card => 'LX-0003'));
is($r->{status}, 409, 'a licence already held by a registered operator: 409');
is($r->{json}{code}, 'SLQ05', 'SLQ05');
is($r->{json}{details}, 'registration request 3', 'naming the request kept for the station');
$r = call('lixia', 'GET', '/v1/registrations?station=370102&status=conflict');
is($r->{json}[0]{operator_id}, '1', 'the station sees the conflict with the licence\'s holder');

# ---- throttling --------------------------------------------------------------------------

# the first request, the pending one and the conflict came from 127.0.0.1: two more
for my $i (1 .. 2)
{
	$r = call(undef, 'POST', '/v1/registrations', request_body("摊位$i", 'JY13701120003013', station => '370112001', card => "HJL-$i"));
	is($r->{status}, 200, "request " . (3 + $i) . " of the hour is taken");
}
$r = call(undef, 'POST', '/v1/registrations', request_body('摊位3', 'JY13701120003013', station => '370112001', card => 'HJL-3'));
is($r->{status}, 429, 'the sixth request of the hour from one address: 429');
is($r->{json}{code}, 'SLQ02', 'SLQ02');

# ---- expiry ------------------------------------------------------------------------------

$r = call('lixia', 'POST', '/v1/operators/3/activation-code');
my $code3 = $r->{json}{code};
$node->safe_psql('postgres', "update shilian.activation_code set expires_at = now() - interval '1 second' where operator_id = 3");
$r = call(undef, 'POST', '/v1/activations', { licence_no => 'JY13701020003024', code => $code3, identity => 'phone:13900000003' });
is($r->{status}, 403, 'an expired code: 403');
is($r->{json}{code}, 'SLQ15', 'SLQ15');

# ---- follow-up ---------------------------------------------------------------------------

$r = call('lixia', 'GET', '/v1/regulator/jurisdictions/370102/registration-followup');
is($r->{status}, 200, 'the follow-up list');
is(join(' ', map { "$_->{licence_no}:$_->{state}" } @{ $r->{json} }),
	'JY13701020003024:not_active JY13701020003032:not_active', 'registered but not active, with nobody unregistered left');
$r = call('lixia', 'GET', '/v1/regulator/jurisdictions/370102/registration-followup.csv');
is($r->{status}, 200, 'the CSV');
like($r->{headers}{'content-type'}, qr{^text/csv}, 'as text/csv');
like(decode('UTF-8', $r->{content}), qr/^licence_no,name,home_station,segment,state,operator_id,contact,registered_at\nJY13701020003024,泉城路李记水果,370102001,/,
	'a header line and the rows');
$r = call('licheng', 'GET', '/v1/regulator/jurisdictions/370102/registration-followup.csv');
is($r->{status}, 403, 'not for another county');

# ---- the first login (首次登录激活): a request made with a login is that login's -------------
# An identity provider's token for a person names no operator; the request it
# makes carries its subject as a verified identity. Once the station approves
# the request, the first request with that token binds the login and
# activates the operator. A roll match alone does not (the licence hangs on
# the wall): that operator activates with the station's code, after which the
# login it bound acts for it.
$node->safe_psql('postgres', q{
	delete from shilian.registration_throttle;
	insert into shilian.operator_roll (licence_no, name, station, segment, kinds) values
		('JY13701020003067', '泉城路钱记干货', '370102001', 'circulation', '{market_vendor}')});
$tok{zhao} = make_jwt({ role => 'operator', sub => 'idp|zhao' });
$tok{qian} = make_jwt({ role => 'operator', sub => 'idp|qian' });
$tok{mallory} = make_jwt({ role => 'operator', sub => 'idp|mallory' });
$r = call('zhao', 'GET', '/v1/session');
is($r->{json}{operator_id}, '', 'before registering, the login acts for no operator');
$r = call('zhao', 'POST', '/v1/registrations', request_body('泉城路赵记粮油', 'JY13701020003059', card => 'QCL-ZHAO',
	extra => { identity => 'sub:idp|mallory' }));
is($r->{status}, 422, "a login registers itself, not another identity");
is($r->{json}{code}, 'SLQ04', 'SLQ04');
$r = call('zhao', 'POST', '/v1/registrations', request_body('泉城路赵记粮油', 'JY13701020003059', card => 'QCL-ZHAO'));
is($r->{json}{status}, 'pending', 'a stall not on the roll: the request waits for the station');
my $zreq = $r->{json}{id};
is($node->safe_psql('postgres', qq{select identity || ' ' || identity_verified from shilian.registration_request
	where id = $zreq}), 'sub:idp|zhao true', 'the request keeps the token subject as a verified identity');
$r = call('zhao', 'GET', '/v1/session');
is($r->{json}{operator_id}, '', 'pending: still no operator');
$r = call('lixia', 'POST', "/v1/registrations/$zreq/decision", { decision => 'approve', reason => '现场核实' });
is($r->{json}{status}, 'approved', 'the station approves it');
my $zhao = $r->{json}{operator};
is($node->safe_psql('postgres', "select status from shilian.operator where id = $zhao"), 'registered', 'registered, not active yet');
$r = call('mallory', 'GET', '/v1/session');
is($r->{json}{operator_id}, '', 'another login does not get the operator');
$r = call('zhao', 'GET', '/v1/session');
is($r->{json}{operator_id}, $zhao, 'the first login acts for the approved operator');
is($node->safe_psql('postgres', "select status from shilian.operator where id = $zhao"), 'active', 'and activated it');
is($node->safe_psql('postgres', qq{select count(*) || ' ' || min(shilian.ledger_body(body)->>'via') from shilian.ledger
	where operator_id = $zhao and kind = 'operator_identity_bind'}), '1 first_login', 'one binding in its chain, by the first login');
$r = call('zhao', 'GET', '/v1/session');
is($r->{json}{operator_id}, $zhao, 'later logins act for it too');
is($node->safe_psql('postgres', qq{select count(*) from shilian.ledger where operator_id = $zhao and kind = 'operator_identity_bind'}),
	'1', 'without binding again');
$r = call('zhao', 'GET', "/v1/operators/$zhao");
is($r->{status}, 200, 'its own row over REST');
# matched on the roll with a login: registered, but only the code activates
my ($r0, $a0) = split m{/}, counts();
$r = call('qian', 'POST', '/v1/registrations', request_body('泉城路钱记干货', 'JY13701020003067', card => 'QCL-QIAN'));
is($r->{json}{status}, 'registered', 'a login registers a stall on the roll: matched');
my $qian = $r->{json}{operator};
$r = call('qian', 'GET', '/v1/session');
is($r->{json}{operator_id}, '', 'a roll match is no activation: the login acts for no operator');
is($node->safe_psql('postgres', "select status from shilian.operator where id = $qian"), 'registered', 'still registered');
$r = call('lixia', 'POST', "/v1/operators/$qian/activation-code");
$r = call(undef, 'POST', '/v1/activations', { licence_no => 'JY13701020003067', code => $r->{json}{code}, identity => 'sub:idp|qian' });
is($r->{json}{status}, 'active', "activated with the station's code, binding the login");
$r = call('qian', 'GET', '/v1/session');
is($r->{json}{operator_id}, $qian, 'the bound login acts for it');
is(counts(), ($r0 + 1) . '/' . ($a0 + 1), "the county's registered and activated counts (of the roll) moved by one each");
# ---- a market's sub-system registers its vendors (市场代报) ---------------------------------
# The request a system client makes binds it to the vendor once registered
# (matched on the roll or approved), so the market records for its stalls.
my $mkey = (split /\n/, $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	delete from shilian.registration_throttle;
	insert into shilian.operator_roll (licence_no, name, station, segment, kinds) values
		('JY13701020003075', '泉城路孙记豆腐', '370102001', 'circulation', '{market_vendor}');
	select shilian.api_client_add('market-qcl', '泉城路市场子系统');
	select shilian.api_client_key_new('market-qcl');}))[-1];
$r = call("key:$mkey", 'POST', '/v1/registrations', request_body('泉城路孙记豆腐', 'JY13701020003075', card => 'QCL-SUN'));
is($r->{json}{status}, 'registered', "the market's client registers a stall on the roll");
my $sun = $r->{json}{operator};
is($node->safe_psql('postgres', qq{select b.bound_by || ' ' || (g.kind = 'client_bind' and g.operator_id = $sun)
	from shilian.api_client_operator b join shilian.ledger g on g.id = b.ledger_id
	where b.client = 'market-qcl' and b.operator_id = $sun}), 'registration:' . $r->{json}{id} . ' true',
	"the client is bound to the stall by its request, a client_bind entry in the stall's chain");
$r = call("key:$mkey", 'GET', "/v1/operators/$sun");
is($r->{status}, 200, 'and sees it');
$r = call("key:$mkey", 'POST', '/v1/registrations', request_body('泉城路周记面食', 'JY13701020003083', card => 'QCL-ZHOU'));
is($r->{json}{status}, 'pending', 'a stall not on the roll waits for the station');
my $zhou_req = $r->{json}{id};
is($node->safe_psql('postgres', q{select count(*) from shilian.api_client_operator where client = 'market-qcl'}), '1',
	'pending: no binding yet');
$r = call('lixia', 'POST', "/v1/registrations/$zhou_req/decision", { decision => 'approve', reason => '市场出具摊位证明' });
my $zhou = $r->{json}{operator};
is($node->safe_psql('postgres', qq{select bound_by from shilian.api_client_operator where client = 'market-qcl' and operator_id = $zhou}),
	"registration:$zhou_req", 'approved: bound by the request');
$r = call(undef, 'POST', '/v1/registrations', request_body('泉城路吴记熟食', 'JY13701020003091', card => 'QCL-WU'));
is($node->safe_psql('postgres', qq{select client is null from shilian.registration_request where id = $r->{json}{id}}), 't',
	'a request without a client binds none');

# (a SQL session may not claim a login: tests/t/031_provenance_settings.pl)

stop_gateway($gw);
done_testing();
