# The findings routes over real HTTP (docs/regulator.md, "Findings"):
# broken-chain, findings, spot-check, alerts and alert ack, for a city and a
# county regulator; a county regulator is refused the neighbouring county
# (403, the functions' 42501) and another county's alert; an operator the
# routes themselves. And the alert channel: a session that LISTENs on
# shilian_alert receives one notification per alert alerts_scan raises.
# The city, by hand (济南 370100):
#   历下 370102001: W wholesaler (licence JY13701020000018), K school canteen
#     (licence ends in 10 days), N retailer (no record).
#   历城 370112001: F farm, R retailer.
#   F harvests cabbage on 2026-03-02, sells 200 kg to W on 03-03 (W receives
#   03-04) and 50 kg to K on 03-05 (never received: K missing_receipt_10_3).
#   R takes cabbage as a first entry on 03-06 from a supplier naming W's
#   licence (R unlinked_receipt). W records no sale in March (W
#   wholesaler_without_sales_records, 1 receipt).
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_findings');
my $ids = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	set timezone = 'Asia/Shanghai';
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370112', '历城区'), ('370102001', '泉城路所'), ('370112001', '洪家楼所')) v(c, n);
	create temp table ids as select
		shilian.operator_register('泉城批发', 'circulation', '{wholesaler}', '370102001', '历下', '1', reg_card => 'GF-W') as w,
		shilian.operator_register('历下小学食堂', 'catering', '{school_canteen}', '370102001', '历下', '2', reg_card => 'GF-K') as k,
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', '历城', '3', reg_card => 'GF-F') as f,
		shilian.operator_register('洪家楼超市', 'circulation', '{retailer}', '370112001', '历城', '4', reg_card => 'GF-R') as r;
	select shilian.operator_activate(x) from ids, unnest(array[w, k, f, r]) x;
	select shilian.licence_add(w, 'JY13701020000018', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.licence_add(k, 'JY33701020000026', '{vegetables}', '2024-01-01', current_date + 10) from ids;
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \gset
	select shilian.batch_create(f, :p, '500 kg', '2026-03-02') as c1 from ids \gset
	select shilian.receive(shilian.ship(:'c1', w, '200 kg', '2026-03-03'), '200 kg',
		'{"inspector":"李四"}', '2026-03-04 09:00+08') from ids;
	select shilian.ship(:'c1', k, '50 kg', '2026-03-05') from ids;
	select shilian.receive_first_entry(r, :p, '20 kg', '{"name": "泉城批发", "contact": "1", "licence": "JY13701020000018"}',
		'{"inspector":"王五"}', '2026-03-06', '2026-03-06 10:00+08') from ids;
	select w || ' ' || k || ' ' || f || ' ' || r from ids;
});
my ($w, $k, $f, $r) = split ' ', (split /\n/, $ids)[-1];
ok($w && $r, 'a small city with broken chains and a violation');

# ---- the alert channel ---------------------------------------------------------------
# A listener in its own session; the scan runs in another. As of 2026-03-31:
# K missing_receipt_10_3 and R unlinked_receipt (broken_chain), W's
# violation (compliance); then as of today K's licence expiring in 10 days.
my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN shilian_alert');
is($node->safe_psql('postgres', "select shilian.alerts_scan('2026-03-31')"), '3', 'the scan raises three alerts');
my $heard = $listener->query_safe('select 1');
my @payloads = map { decode_json($_) } ($heard =~ /with payload "(\{.*?\})" received/g);
is(scalar @payloads, 3, 'the listener hears one notification per new alert');
is_deeply([ sort map { "$_->{kind} $_->{operator}" } @payloads ],
	[ sort("broken_chain $k", "broken_chain $r", "compliance $w") ],
	'each names the kind and the operator (ids as strings)');
ok((grep { $_->{jurisdiction} eq '370102001' && $_->{id} =~ /^\d+$/ } @payloads) == 2,
	'and the alert id and the home station');
is($node->safe_psql('postgres', "select shilian.alerts_scan('2026-03-31')"), '0',
	'a second scan raises nothing: open alerts are not duplicated');
$heard = $listener->query_safe('select 1');
unlike($heard, qr/Asynchronous notification/, 'and notifies nothing');
is($node->safe_psql('postgres', 'select shilian.alerts_scan()'), '1', 'as of today: K\'s licence expires in 10 days');
$heard = $listener->query_safe('select 1');
like($heard, qr/"kind" ?: ?"licence_expiring"/, 'heard as licence_expiring');
$listener->quit;

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	city => make_jwt({ role => 'regulator', jurisdiction => '370100' }),
	lixia => make_jwt({ role => 'regulator', jurisdiction => '370102' }),
	admin => make_jwt({ role => 'admin' }),
	canteen => make_jwt({ role => 'operator', operator_id => $k }),
);

sub call
{
	my ($who, $method, $path) = @_;
	my $res = http_call($gw, $method, $path, headers => { Authorization => "Bearer $tok{$who}" });
	$res->{json} = json_body($res);
	return $res;
}

# ---- broken-chain -------------------------------------------------------------------------
my $march = 'from=2026-03-01&to=2026-03-31';
my $res = call('city', 'GET', "/v1/regulator/jurisdictions/370100/broken-chain?$march");
is($res->{status}, 200, 'city regulator: broken chains of its city');
is_deeply([ map { "$_->{operator} $_->{kind} $_->{records}" } @{ $res->{json} } ],
	[ "$k missing_receipt_10_3 1", "$r unlinked_receipt 1" ],
	'K\'s unreceived 10+3 sale and R\'s first entry from W, operator ids as strings');
is($res->{json}[0]{evidence}[0]{shipped_on}, '2026-03-05', 'the evidence: the sale\'s date');
like($res->{json}[0]{evidence}[0]{link}, qr/^\d+$/, 'its link id');
is($res->{json}[1]{evidence}[0]{supplier_licence}, 'JY13701020000018', 'the licence the first entry named');
is($res->{json}[1]{evidence}[0]{supplier}, "$w", 'which is W\'s');
$res = call('city', 'GET', '/v1/regulator/jurisdictions/370100/broken-chain?from=2026-03-06&to=2026-03-31');
is_deeply([ map { $_->{kind} } @{ $res->{json} } ], ['unlinked_receipt'], 'the period bounds the evidence dates');
$res = call('lixia', 'GET', "/v1/regulator/jurisdictions/370102/broken-chain?$march&pending_days=100000");
is_deeply($res->{json}, [], 'pending_days: a longer grace leaves K\'s sale out');
$res = call('lixia', 'GET', "/v1/regulator/jurisdictions/370112/broken-chain?$march");
is($res->{status}, 403, 'a county regulator may not read the neighbouring county\'s broken chains');
is($res->{json}{code}, '42501', 'the error carries 42501');
is(call('lixia', 'GET', '/v1/regulator/jurisdictions/370102/broken-chain?pending_days=-1')->{status}, 400,
	'a negative grace: 400');

# ---- findings --------------------------------------------------------------------------
$res = call('lixia', 'GET', "/v1/regulator/jurisdictions/370102/findings?$march");
is($res->{status}, 200, 'county regulator: findings of its county');
is(scalar @{ $res->{json} }, 1, 'one');
is($res->{json}[0]{operator}, "$w", 'W');
is($res->{json}[0]{kind}, 'wholesaler_without_sales_records', 'a wholesaler without sales records');
is($res->{json}[0]{article}, 'Food Safety Law art. 53(3); art. 126(1)(3)', 'citing its article');
is($res->{json}[0]{evidence}[0]{received_on}, '2026-03-04', 'with the receipt as evidence');
is(call('lixia', 'GET', '/v1/regulator/jurisdictions/370112/findings')->{status}, 403,
	'not the neighbouring county\'s');
is(call('canteen', 'GET', '/v1/regulator/jurisdictions/370102/findings')->{status}, 403,
	'an operator may not call the regulator routes');

# ---- spot-check ------------------------------------------------------------------------
$res = call('city', 'GET', '/v1/regulator/jurisdictions/370100/spot-check?quarter=2026Q1&n=2&seed=5');
is($res->{status}, 200, 'city regulator: a spot-check sample');
is(scalar @{ $res->{json} }, 2, 'of two operators');
# strata: 历下 circulation 1 (W), 历下 catering 1 (K), 历城 circulation 1 (R),
# 历城 production 1 (F): quotas 0.5 each, the two seats to the first two by
# jurisdiction then segment: 历下 catering and 历下 circulation.
is_deeply([ sort map { $_->{operator} } @{ $res->{json} } ], [ sort("$w", "$k") ],
	'proportional allocation, ties to the first strata: K and W');
my ($wrow) = grep { $_->{operator} eq "$w" } @{ $res->{json} };
is($wrow->{records}, 1, 'W: one record in the quarter (its receipt)');
is($wrow->{timeliness} + 0, 0, 'written today, long after March: not timely');
is($wrow->{completeness} + 0, 1, 'complete');
is($wrow->{findings}[0]{kind}, 'wholesaler_without_sales_records', 'with its finding');
my $again = call('city', 'GET', '/v1/regulator/jurisdictions/370100/spot-check?quarter=2026Q1&n=3&seed=5');
my $same = call('city', 'GET', '/v1/regulator/jurisdictions/370100/spot-check?quarter=2026Q1&n=3&seed=5');
is_deeply([ map { $_->{operator} } @{ $again->{json} } ], [ map { $_->{operator} } @{ $same->{json} } ],
	'the same seed draws the same sample');
$res = call('city', 'GET', '/v1/regulator/jurisdictions/370100/spot-check?quarter=2026Q7');
is($res->{status}, 400, 'a malformed quarter: 400');
# declared in the route table (quarter: YYYYQn): refused by the gateway, naming the parameter
is($res->{json}{code}, 'GW400', 'the error carries GW400');
like($res->{json}{details}, qr/^quarter: must match/, 'naming the parameter and its rule');
is(call('lixia', 'GET', '/v1/regulator/jurisdictions/370100/spot-check?quarter=2026Q1')->{status}, 403,
	'a county regulator may not sample its city');

# ---- alerts ------------------------------------------------------------------------------
$res = call('lixia', 'GET', '/v1/regulator/jurisdictions/370102/alerts');
is($res->{status}, 200, 'county regulator: open alerts of its county');
is_deeply([ sort map { "$_->{kind} $_->{operator_id}" } @{ $res->{json} } ],
	[ sort("broken_chain $k", "compliance $w", "licence_expiring $k") ], 'K\'s two and W\'s, none of 历城');
my ($lic) = grep { $_->{kind} eq 'licence_expiring' } @{ $res->{json} };
is($lic->{detail}{days_left}, 10, 'the licence has 10 days left');
$res = call('lixia', 'POST', "/v1/regulator/alerts/$lic->{id}/ack");
is($res->{status}, 200, 'acknowledged');
ok($res->{json}{acknowledged_at}, 'with the time');
is(scalar @{ call('lixia', 'GET', '/v1/regulator/jurisdictions/370102/alerts')->{json} }, 2, 'it leaves the open list');
is(scalar @{ call('lixia', 'GET', '/v1/regulator/jurisdictions/370102/alerts?all=true')->{json} }, 3,
	'all=true shows it');
$res = call('lixia', 'POST', "/v1/regulator/alerts/$lic->{id}/ack");
is($res->{status}, 422, 'acknowledged twice: 422');
is($res->{json}{code}, 'SLF02', 'the error carries SLF02');
my ($r_alert) = map { $_->{id} } grep { $_->{operator_id} eq "$r" }
	@{ call('city', 'GET', '/v1/regulator/jurisdictions/370100/alerts')->{json} };
ok($r_alert, 'the city regulator sees R\'s alert (历城)');
$res = call('lixia', 'POST', "/v1/regulator/alerts/$r_alert/ack");
is($res->{status}, 403, 'the 历下 regulator may not acknowledge it');
is($res->{json}{code}, '42501', 'the error carries 42501');
$res = call('lixia', 'POST', '/v1/regulator/alerts/999999/ack');
is($res->{status}, 422, 'an unknown alert: 422');
is($res->{json}{code}, 'SLF01', 'the error carries SLF01');
is(call('lixia', 'GET', '/v1/regulator/jurisdictions/370112/alerts')->{status}, 403, 'nor list 历城\'s alerts');
is(call('canteen', 'POST', "/v1/regulator/alerts/$r_alert/ack")->{status}, 403, 'an operator may not acknowledge');

stop_gateway($gw);
$node->stop;
done_testing();
