# The regulator routes over real HTTP: jurisdiction_stats, segment_stats,
# inactive_operators and the monthly report (JSON and CSV) for a province, a
# city and a county regulator and the
# platform admin; a county regulator is refused its city and neighbour
# (403, the function's 42501), an operator the routes themselves (403), an
# unknown jurisdiction is 422 (SLR19). Figures (docs/regulator.md), by hand:
# roll 5 licences: 4 at 历下 (370102001), 1 at 历城 (370112001).
# Platform: 历下 W (active, licence on roll), R (active, licence on roll),
# N (registered only, no licence); 历城 F (active farm, no licence).
# Records: F produces on 2026-03-02 and ships to W on 03-03, W receives on
# 03-04; R receives from a farmer on 2026-02-15 (10:00 in Shanghai, still
# the 15th in UTC, the gateway's session time zone here).
# March, 济南 (370100): 历下 licensed 4, registered 2, activated 2, rate 0.5,
#   operators 3, active W = 1, 0.3333; 历城 licensed 1, registered 0, rate 0,
#   operators 1, active F = 1, 1.0; total licensed 5, registered 2, 0.4,
#   operators 4, active 2, 0.5.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Encode qw(decode);
use ShilianTest;

my $node = shilian_node('gw_regulator');
my $ids = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	set timezone = 'Asia/Shanghai';
	-- the registry as of 2026-01-01 (the admin's dated entry): the figures of
	-- a month read the registry as it stood at the month's end
	set shilian.registry_time = '2026-01-01 00:00+08';
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	copy shilian.operator_roll (licence_no, name, station, segment, kinds) from stdin;
JY13701020000018	泉城批发	370102001	circulation	{wholesaler}
JY13701020000026	历下超市	370102001	circulation	{retailer}
JY13701020000034	历下饭店	370102001	catering	{restaurant}
JY13701020000042	历下食堂	370102001	catering	{school_canteen}
JY13701120000023	洪家楼超市	370112001	circulation	{retailer}
\.
	create temp table ids as select
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', '历城', '1', reg_card => 'GW-F',
			regulator_contact => '洪家楼所 王一 0531-1') as farm,
		shilian.operator_register('泉城批发', 'circulation', '{wholesaler}', '370102001', '历下', '2', reg_card => 'GW-W',
			regulator_contact => '泉城路所 李二 0531-2') as wholesaler,
		shilian.operator_register('历下超市', 'circulation', '{retailer}', '370102001', '历下', '3', reg_card => 'GW-R',
			regulator_contact => '泉城路所 李二 0531-2') as retailer,
		shilian.operator_register('新开小店', 'circulation', '{retailer}', '370102001', '历下', '4', reg_card => 'GW-N',
			regulator_contact => '泉城路所 赵三 0531-3') as newcomer;
	select shilian.operator_activate(x) from ids, unnest(array[farm, wholesaler, retailer]) x;
	select shilian.licence_add(wholesaler, 'JY13701020000018', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.licence_add(retailer, 'JY13701020000026', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \gset
	select shilian.batch_create(farm, :p, '500 kg', '2026-03-02') as c1 from ids \gset
	select shilian.receive(shilian.ship(:'c1', wholesaler, '200 kg', '2026-03-03'), '200 kg',
		'{"inspector":"李四"}', '2026-03-04 09:00+08') from ids;
	select shilian.receive_first_entry(retailer, :p, '20 kg', '{"name": "赵农", "contact": "139"}',
		'{"inspector":"王五"}', '2026-02-15', '2026-02-15 10:00+08') from ids;
	select farm || ' ' || wholesaler || ' ' || retailer || ' ' || newcomer from ids;
});
my ($farm, $wholesaler, $retailer, $newcomer) = split ' ', (split /\n/, $ids)[-1];
ok($farm && $newcomer, 'a small city with a roll and records');

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	province => make_jwt({ role => 'regulator', jurisdiction => '370000' }),
	city => make_jwt({ role => 'regulator', jurisdiction => '370100' }),
	lixia => make_jwt({ role => 'regulator', jurisdiction => '370102' }),
	admin => make_jwt({ role => 'admin' }),
	wholesaler => make_jwt({ role => 'operator', operator_id => $wholesaler }),
);

sub call
{
	my ($who, $path) = @_;
	my $r = http_call($gw, 'GET', $path, headers => { Authorization => "Bearer $tok{$who}" });
	$r->{json} = json_body($r);
	return $r;
}
sub row { my ($r, $code) = @_; my ($x) = grep { $_->{jurisdiction} eq $code } @{ $r->{json} // [] }; return $x; }

# ---- jurisdiction_stats -------------------------------------------------------------
my $march = 'from=2026-03-01&to=2026-03-31';
my $r = call('city', "/v1/regulator/jurisdictions/370100/stats?$march");
is($r->{status}, 200, 'city regulator: stats of its city');
is(scalar @{ $r->{json} }, 3, 'two counties and the total');
my $lixia = row($r, '370102');
# (the activity rate counts the operators active for part of the period: the
# newcomer, registered but never activated, is not one of them)
is_deeply([ @$lixia{qw(licensed registered activated operators active_operators)} ], [ 4, 2, 2, 2, 1 ],
	'历下: 4 licensed, 2 registered and activated, 2 operators active in March, 1 recorded');
is($lixia->{registration_rate} + 0, 0.5, '历下: registration rate 2/4');
is($lixia->{activity_rate} + 0, 0.5, '历下: activity rate 1/2');
my $licheng = row($r, '370112');
is_deeply([ @$licheng{qw(licensed registered operators active_operators)} ], [ 1, 0, 1, 1 ],
	'历城: its one licence is not on the platform; the farm (no licence) is active');
my $total = row($r, '370100');
ok($total->{total} && !$lixia->{total}, 'the total row is marked');
is_deeply([ @$total{qw(licensed registered operators active_operators)} ], [ 5, 2, 3, 2 ], 'total: 5, 2, 3, 2');
is($total->{registration_rate} + 0, 0.4, 'total registration rate 2/5');
is($total->{activity_rate} + 0, 0.6667, 'total activity rate 2/3');

$r = call('city', '/v1/regulator/jurisdictions/370100/stats?from=2026-02-01&to=2026-02-28');
is(row($r, '370100')->{active_operators}, 1, 'February: only the retailer recorded');
$r = call('province', "/v1/regulator/jurisdictions/370000/stats?$march");
is(row($r, '370000')->{licensed}, 5, 'the province regulator sees the same totals');
$r = call('admin', "/v1/regulator/jurisdictions/370000/stats?$march");
is(row($r, '370100')->{active_operators}, 2, 'the platform admin asks about any jurisdiction');

# ---- inactive_operators --------------------------------------------------------------
$r = call('lixia', '/v1/regulator/jurisdictions/370102/inactive?since=2026-03-01');
is($r->{status}, 200, 'county regulator: inactive operators of its county');
is_deeply([ map { $_->{id} } @{ $r->{json} } ], [ "$retailer", "$newcomer" ],
	'the retailer (last record in February) and the newcomer (never), ids as strings');
is($r->{json}[0]{last_record}, '2026-02-15', 'with the date of the last record');
is($r->{json}[1]{last_record}, undef, 'none for an operator that never recorded');
is($r->{json}[1]{regulator_contact}, '泉城路所 赵三 0531-3', 'and each one\'s regulator contact');
$r = call('lixia', '/v1/regulator/jurisdictions/370102/inactive');
is(scalar @{ $r->{json} }, 3, 'since defaults to 30 days ago: every 历下 operator (records are from March)');

# ---- who may ask ---------------------------------------------------------------------
is(call('lixia', "/v1/regulator/jurisdictions/370100/stats?$march")->{status}, 403,
	'a county regulator may not ask about its city');
$r = call('lixia', '/v1/regulator/jurisdictions/370112/inactive?since=2026-03-01');
is($r->{status}, 403, 'nor about the neighbouring county');
is($r->{json}{code}, '42501', 'the error carries the SQLSTATE');
is(call('wholesaler', "/v1/regulator/jurisdictions/370102/stats?$march")->{status}, 403,
	'an operator may not call the regulator routes');
$r = call('province', "/v1/regulator/jurisdictions/379999/stats?$march");
is($r->{status}, 422, 'an unknown jurisdiction: 422');
is($r->{json}{code}, 'SLR19', 'SLR19');
is(call('city', '/v1/regulator/jurisdictions/370100/stats?from=yesterday-ish')->{status}, 400,
	'a malformed date: 400');

# ---- segment_stats ----------------------------------------------------------------------
# March, 济南 by segment: circulation roll 3 (泉城批发, 历下超市, 洪家楼超市), registered
# and activated W, R = 2; operators W, R, N = 3, active W = 1; the 10+3 operators W and
# R (vegetables licences), covered W (R recorded in February only). production: F alone,
# no licence, active, and a 10+3 operator by its products (it harvests 大白菜, an
# edible agricultural product of a key category). catering: roll 2, nobody
# registered. The newcomer N is not counted: never active.
$r = call('city', "/v1/regulator/jurisdictions/370100/segments?$march");
is($r->{status}, 200, 'segments: 200');
is_deeply([ map { $_->{segment} } @{ $r->{json} } ], [qw(production circulation catering special_food)],
	'one row per segment, in order');
my ($circ) = grep { $_->{segment} eq 'circulation' } @{ $r->{json} };
is_deeply([ @$circ{qw(licensed registered activated operators active_operators key_operators key_covered)} ],
	[ 3, 2, 2, 2, 1, 2, 1 ], 'circulation: 3 licensed, 2 registered, 2 operators, 1 active, 10+3 2, covered 1');
my ($prod) = grep { $_->{segment} eq 'production' } @{ $r->{json} };
is_deeply([ @$prod{qw(operators active_operators key_operators key_covered)} ], [ 1, 1, 1, 1 ],
	'production: the licence-less farm counts for 10+3 by what it harvests, covered');
is($circ->{coverage_rate} + 0, 0.5, 'circulation 10+3 coverage 1/2');
is(call('lixia', "/v1/regulator/jurisdictions/370100/segments?$march")->{status}, 403,
	'segments: a county regulator may not ask about its city');

# ---- monthly report ------------------------------------------------------------------------
# Targets: the province standard, 济南 a demonstration city (higher targets).
$node->safe_psql('postgres', q{
	insert into shilian.assessment_target values ('370000', false, 0.90, 0.80, 0.95, 0.80),
		('370100', true, 0.98, 0.90, 1.00, 0.95);
});
# March against February, 济南: registration 历下 2/4 = 0.5 (#1), 历城 0/1 = 0 (#2), city
# 2/5 = 0.4, unchanged (the registry is the same at both months' ends); activity over
# the operators active in the month: 历下 1/2 both months (change 0, #2), 历城 1/1
# against 0/1 (+1, #1), city 2/3 = 0.6667 against 1/3 = 0.3333 (+0.3334); 10+3
# coverage 历下 1/2 both months (W in March, R in February), 历城 1/1 in March (the
# farm, by its products), city 2/3; no own-system operator: upload rate NULL.
$r = call('city', '/v1/regulator/jurisdictions/370100/monthly-report?month=2026-03');
is($r->{status}, 200, 'monthly report: 200');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8', 'as JSON');
my $rep = $r->{json};
is_deeply([ $rep->{month}, $rep->{previous_month}, $rep->{jurisdiction} ], [ '2026-03', '2026-02', '370100' ],
	'the month, the month before, the jurisdiction');
is_deeply($rep->{cities}, [], 'a city\'s report has no cities');
is_deeply([ map { $_->{jurisdiction} } @{ $rep->{counties} } ], [ '370102', '370112' ], 'its two counties');
my ($lx, $lc) = @{ $rep->{counties} };
is($lx->{figures}{registration_rate}{rank}, 1, '历下 ranks first for registration');
is($lc->{figures}{activity_rate}{rank}, 1, '历城 ranks first for activity');
is($lc->{figures}{activity_rate}{change} + 0, 1, '历城 activity +1 on February');
is($lx->{figures}{activity_rate}{change} + 0, 0, '历下 activity unchanged');
is($lc->{figures}{coverage_rate}{value} + 0, 1, '历城: the farm is its 10+3 operator, covered');
is($lc->{figures}{coverage_rate}{rank}, 1, '... and ranks first');
my $tot = $rep->{total};
ok($tot->{demonstration} && $lx->{demonstration}, '济南 and its counties are flagged demonstration');
is($tot->{figures}{activity_rate}{value} + 0, 0.6667, 'city activity 2/3');
is($tot->{figures}{activity_rate}{change} + 0, 0.3334, '+0.3334 on February');
is($tot->{figures}{registration_rate}{target} + 0, 0.98, 'the demonstration target applies');
ok(!$tot->{figures}{registration_rate}{met}, 'and is not met');
is($tot->{figures}{upload_rate}{value}, undef, 'no own-system operator: no upload rate');

# The CSV form: by Accept or by the .csv path, the same document.
my $csv = http_call($gw, 'GET', '/v1/regulator/jurisdictions/370100/monthly-report?month=2026-03',
	headers => { Authorization => "Bearer $tok{city}", Accept => 'text/csv' });
is($csv->{status}, 200, 'Accept: text/csv: 200');
is($csv->{headers}{'content-type'}, 'text/csv; charset=utf-8', 'as CSV');
my @lines = split /\r\n/, $csv->{content};
is($lines[0], 'month,jurisdiction,name,level,parent,demonstration,figure,value,previous,change,rank,target,met',
	'a header line');
is(scalar @lines, 13, 'and a line per jurisdiction and figure: 3 x 4');
like(decode('UTF-8', $csv->{content}), qr/^2026-03,370112,"历城区",county,370100,true,activity_rate,1\.0000,0\.0000,1\.0000,1,0\.90,true\r$/m,
	'历城 activity: value, previous, change, rank, target, met');
my $csv2 = http_call($gw, 'GET', '/v1/regulator/jurisdictions/370100/monthly-report.csv?month=2026-03',
	headers => { Authorization => "Bearer $tok{city}" });
is($csv2->{status}, 200, '.csv path: 200');
is($csv2->{content}, $csv->{content}, 'the same CSV as with Accept');

# Who may ask: a county regulator its own county only.
$r = call('lixia', '/v1/regulator/jurisdictions/370102/monthly-report?month=2026-03');
is($r->{status}, 200, 'a county regulator: its own county');
is_deeply([ scalar @{ $r->{json}{counties} }, $r->{json}{total}{jurisdiction} ], [ 0, '370102' ],
	'the county\'s own row');
$r = call('lixia', '/v1/regulator/jurisdictions/370112/monthly-report?month=2026-03');
is($r->{status}, 403, 'not the neighbouring county');
is($r->{json}{code}, '42501', 'the error carries 42501');
$csv = http_call($gw, 'GET', '/v1/regulator/jurisdictions/370112/monthly-report.csv?month=2026-03',
	headers => { Authorization => "Bearer $tok{lixia}" });
is($csv->{status}, 403, 'nor its CSV');
is(call('lixia', '/v1/regulator/jurisdictions/370100/monthly-report?month=2026-03')->{status}, 403,
	'nor its city');
is(call('wholesaler', '/v1/regulator/jurisdictions/370102/monthly-report?month=2026-03')->{status}, 403,
	'operators may not ask');
is(call('city', '/v1/regulator/jurisdictions/370100/monthly-report?month=March')->{status}, 400,
	'a malformed month: 400');
is(call('province', '/v1/regulator/jurisdictions/379999/monthly-report?month=2026-03')->{status}, 422,
	'an unknown jurisdiction: 422');

stop_gateway($gw);
$node->stop;
done_testing();
