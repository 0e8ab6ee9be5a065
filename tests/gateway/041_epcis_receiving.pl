# A standard GS1 receiving event over real HTTP (issue 18): an ObjectEvent
# with bizStep receiving, PGLN parties and SGLN locations from GS1 master
# data, no eventID and no shilian: field at all (tests/epcis/
# 05_receiving_gs1.jsonld, which 040 checks against GS1's schema) is
# captured: the receipt is recorded and linked like any other, without an
# incoming inspection (进货查验). The gap is the regulator's finding, not a
# capture error: record_completeness lacks incoming_inspection, the counters
# count no complete receipt, compliance_findings lists
# missing_incoming_inspection. An inspection that is given but incomplete
# is still refused (SLR15), and writes nothing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_recv');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	select shilian.operator_register('历城绿源蔬菜专业合作社', 'production', '{farm}', '370112001',
		'济南市历城区港沟街道', '0531-88100101', uscc => '93370112MA3D001010');
	select shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
		'济南市历城区工业北路8号', '0531-88100104', reg_card => 'LC-0002');
	select shilian.operator_activate(id) from shilian.operator;
	select shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017',
		edible_agricultural => true);
	-- the farm's PGLN and field (GS1 master data, part 75)
	select shilian.gs1_location_register(1, 'urn:epc:id:pgln:6970000.00001', '历城绿源蔬菜专业合作社');
	select shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00001.field-3', '3号地块');
	-- the lot and its sale to the processor, dated before the receipt
	select shilian.ship(shilian.batch_create(1, 1, '1000 kg', '2026-11-20', lot => 'FQ-1121'), 2, '300 kg',
		'2026-11-21');
	-- and another lot's, received over REST below
	select shilian.ship(shilian.batch_create(1, 1, '100 kg', '2026-11-20', lot => 'FQ-1122'), 2, '40 kg',
		'2026-11-21');
});
my ($link, $link2) = split /\n/, $node->safe_psql('postgres', q{select id from shilian.link order by id});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my %tok = (
	processor => make_jwt({ role => 'operator', operator_id => 2 }),
	licheng => make_jwt({ role => 'regulator', jurisdiction => '370112' }),
);
my $json = JSON::PP->new->utf8->canonical;

sub call
{
	my ($who, $method, $path, $body, $ctype) = @_;
	my $r = http_call($gw, $method, $path, headers => {
		Authorization => "Bearer $tok{$who}",
		defined $body ? ('Content-Type' => $ctype // 'application/ld+json') : () },
		defined $body ? (body => $body) : ());
	$r->{json} = json_body($r);
	return $r;
}

sub state
{
	return $node->safe_psql('postgres', q{select concat_ws(' ', (select count(*) from shilian.batch),
		(select string_agg(status, ',' order by id) from shilian.link), (select count(*) from shilian.inspection),
		(select count(*) from shilian.ledger), (select count(*) from shilian.epcis_event))});
}

# the processor registers its PGLN, warehouse and dock over REST
for my $gln ('urn:epc:id:pgln:6970000.00002', 'urn:epc:id:sgln:6970000.00002.wh-1', 'urn:epc:id:sgln:6970000.00002.dock-1')
{
	my $r = call('processor', 'POST', '/v1/operators/2/gs1-locations', $json->encode({ identifier => $gln }),
		'application/json');
	is($r->{status}, 201, "the processor registers $gln") or diag($r->{content});
}

my $doc = slurp_file("$top/tests/epcis/05_receiving_gs1.jsonld");
unlike($doc, qr/shilian/, 'the document has no proprietary field or identifier');

# a given but incomplete inspection: refused (SLR15), nothing written
my $before = state();
my $bad = $json->decode($doc);
push @{ $bad->{'@context'} }, { shilian => 'urn:shilian:epcis:' };
$bad->{epcisBody}{eventList}[0]{'shilian:inspection'} = { rapid_test => '农残速测合格' };
my $r = call('processor', 'POST', '/epcis/capture', $json->encode($bad));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLR15' ], 'an inspection without inspector: 422 SLR15')
  or diag($r->{content});
like($r->{json}{title}, qr/incoming inspection lacks inspector/, 'SLR15 names what the inspection lacks');
like($r->{headers}{'content-type'}, qr{^application/problem\+json}, 'as an RFC 7807 problem document');
is(state(), $before, 'the refused document wrote nothing');

# the standard document: captured, the receipt recorded without inspection
$r = call('processor', 'POST', '/epcis/capture', $doc);
is($r->{status}, 202, 'the standard receiving document: 202 Accepted') or diag($r->{content});
ok($r->{json}{success} && $r->{json}{events} == 1, 'the job succeeded with its one event');
my ($status, $to_owner, $qty, $insp) = split /\|/, $node->safe_psql('postgres', qq{
	select l.status || '|' || b.owner_id || '|' || l.qty_accepted || '|'
		|| (select count(*) from shilian.inspection i where i.link_id = l.id)
	  from shilian.link l join shilian.batch b on b.id = l.to_batch where l.id = $link});
is_deeply([ $status, $to_owner, $qty, $insp ], [ 'received', 2, '300 kg', 0 ],
	'the sale is received into a batch of the processor, 300 kg, with no incoming inspection');
my ($event_id, $records) = split /\|/, $node->safe_psql('postgres',
	q{select event_id || '|' || (records -> 'links' ->> 0) from shilian.epcis_event order by id desc limit 1});
like($event_id, qr{^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$}, 'the event is named by its hash ID');
is($records, $link, 'the event names the sale it received');

# the trace follows the receipt
my $farm_lot = $node->safe_psql('postgres', q{select trace_code from shilian.batch where owner_id = 1 and lot = 'FQ-1121'});
my $f = call('licheng', 'GET', "/v1/trace/$farm_lot/forward");
is_deeply([ sort map { "$_->{depth}:$_->{holder}" } @{ $f->{json} } ], [ '0:1', '1:2' ],
	'trace forward from the farm lot reaches the processor');

# the legal gap: record_completeness, the counters, the findings
my $c = call('processor', 'GET', "/v1/records/receipt/$link/completeness");
is($c->{status}, 200, 'GET the completeness of the receipt') or diag($c->{content});
is_deeply([ $c->{json}{complete}, $c->{json}{missing} ], [ JSON::PP::false, ['incoming_inspection'] ],
	'the receipt lacks its incoming inspection (进货查验)');
is($node->safe_psql('postgres', q{select receipts || ' ' || receipts_complete from shilian.operator_day
	where operator_id = 2 and day = '2026-11-21'}), '1 0', 'counted as a receipt, not as a complete one');
is($node->safe_psql('postgres', q{select receipts || ' ' || receipts_complete from shilian.operator_month
	where operator_id = 2 and month = '2026-11-01'}), '1 0', 'the month too');
my $fi = call('licheng', 'GET', '/v1/regulator/jurisdictions/370112/findings?from=2026-11-01&to=2026-11-30');
is($fi->{status}, 200, 'GET the findings of the county') or diag($fi->{content});
my ($m) = grep { $_->{kind} eq 'missing_incoming_inspection' } @{ $fi->{json} // [] };
ok($m, 'a missing_incoming_inspection finding');
is_deeply([ $m->{operator}, $m->{records}, $m->{evidence}[0]{link}, $m->{evidence}[0]{received_on} ],
	[ '2', 1, $link, '2026-11-21' ], 'the finding names the processor, the sale and the day');

# the same over REST: POST /v1/receipts without an inspection (receive)
$r = call('processor', 'POST', '/v1/receipts', $json->encode({ link => $link2, qty => '40 kg',
	received_at => '2026-11-21T17:00:00+08:00' }), 'application/json');
is($r->{status}, 201, 'POST /v1/receipts without inspection: 201') or diag($r->{content});
is_deeply(call('processor', 'GET', "/v1/records/receipt/$link2/completeness")->{json}{missing}, ['incoming_inspection'],
	'that receipt lacks its incoming inspection too');
is($node->safe_psql('postgres', q{select receipts || ' ' || receipts_complete from shilian.operator_day
	where operator_id = 2 and day = '2026-11-21'}), '2 0', 'two receipts that day, none complete');

# resent: recognised by its hash, nothing recorded again
$before = state();
$r = call('processor', 'POST', '/epcis/capture', $doc);
is_deeply([ $r->{status}, $r->{json}{events}, $r->{json}{'shilian:alreadyCaptured'} ], [ 202, 0, [ $event_id ] ],
	'the document again: 202, no event, reported as captured before');
is(state(), $before, 'nothing recorded by the resend');

stop_gateway($gw);
$node->stop;
done_testing();
