# Serialised items over real HTTP (issue 18): a commissioning ObjectEvent
# with an epcList of SGTINs (tests/epcis/06_commissioning_serial.jsonld,
# checked against GS1's schema by 040) makes one lot of the GTIN, its lot
# number from ilmd, with the items recorded as its members; each item is
# found by its serial in any spelling (item_batch) and the walks go on from
# its lot; MATCH_epc finds the event. An item is commissioned once (SLE13);
# an epcList in an event other than commissioning, shipping and receiving
# (tests/gateway/048) is refused (SLE05).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

sub uri_escape { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; return $s; }

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_serial');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	select shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
		'济南市历城区工业北路8号', '0531-88100104', reg_card => 'LC-0002');
	select shilian.operator_register('泉城超市', 'circulation', '{retailer}', '370112001',
		'济南市历城区', '0531-1', reg_card => 'LC-0003');
	select shilian.operator_activate(id) from shilian.operator;
	select shilian.licence_add(1, 'SC10137011200027', '{other}', '2024-01-01', '2099-12-31');
	select shilian.product_register('番茄酱', 'other', 365, '500g/瓶', gtin => '6970000000024', owner => 1);
	select shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00002.line-1', '灌装线');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	maker => make_jwt({ role => 'operator', operator_id => 1 }),
	shop => make_jwt({ role => 'operator', operator_id => 2 }),
);
my $json = JSON::PP->new->utf8->canonical;

sub call
{
	my ($who, $method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path, headers => {
		Authorization => "Bearer $tok{$who}", defined $body ? ('Content-Type' => 'application/ld+json') : () },
		defined $body ? (body => $body) : ());
	$r->{json} = json_body($r);
	return $r;
}
sub q1 { return $node->safe_psql('postgres', shift) }
sub state
{
	return q1(q{select concat_ws(' ', (select count(*) from shilian.batch), (select count(*) from shilian.batch_item),
		(select count(*) from shilian.ledger), (select count(*) from shilian.epcis_event))});
}

my $doc = slurp_file("$top/tests/epcis/06_commissioning_serial.jsonld");
my $r = call('maker', 'POST', '/epcis/capture', $doc);
is($r->{status}, 202, 'the commissioning of three serialised jars: 202') or diag($r->{content});
my ($code, $lot, $qty, $expires) = split /\|/, q1(q{select trace_code || '|' || lot || '|' || qty || '|' || expires_on
	from shilian.batch where owner_id = 1});
is_deeply([ $lot, $qty, $expires ], [ 'SN-1122', '3 pcs', '2027-11-21' ], 'one lot: its lot number and expiry from ilmd, 3 pieces');
is(q1(q{select string_agg(gtin || '/' || serial, ',' order by serial) from shilian.batch_item}),
	'06970000000024/S0001,06970000000024/S0002,06970000000024/S0003', 'the three items, members of it');
for my $epc ('urn:epc:id:sgtin:6970000.000002.S0001', 'https://id.gs1.org/01/06970000000024/21/S0003',
	'https://example.com/01/06970000000024/21/S0002')
{
	is(q1("select shilian.item_batch('$epc')"), $code, "item_batch($epc): the lot");
}

# the walk by serial: part of the lot sold and received, trace forward from the item's lot reaches it
q1(qq{select shilian.receive(shilian.ship('$code', 2, '2 pcs', '2026-11-23'), '2 pcs', '{"inspector": "周"}',
	'2026-11-23 10:00+08')});
is(q1(q{select string_agg(t.holder::text, ',' order by t.depth) from shilian.trace_forward(
	shilian.item_batch('urn:epc:id:sgtin:6970000.000002.S0002')) t}), '1,2',
	'trace forward from a serial: its lot, then the shop');

# MATCH_epc (any spelling) finds the commissioning event
my $ev = call('maker', 'GET', '/epcis/events?MATCH_epc=' . uri_escape('urn:epc:id:sgtin:6970000.000002.S0003'));
is($ev->{status}, 200, 'MATCH_epc') or diag($ev->{content});
is(scalar @{ $ev->{json}{epcisBody}{queryResults}{resultsBody}{eventList} // [] }, 1, 'MATCH_epc finds the commissioning');
is(scalar @{ call('maker', 'GET', '/epcis/events?MATCH_epc=' . uri_escape('urn:epc:id:sgtin:6970000.000002.S0009'))
	->{json}{epcisBody}{queryResults}{resultsBody}{eventList} // [] }, 0, 'another serial: none');

# refusals, nothing written
my $before = state();
my $again = $json->decode($doc);
$again->{epcisBody}{eventList}[0]{epcList} = [ 'urn:epc:id:sgtin:6970000.000002.S0004',
	'https://id.gs1.org/01/06970000000024/21/S0001' ];
$r = call('maker', 'POST', '/epcis/capture', $json->encode($again));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE13' ], 'an item commissioned before: 422 SLE13');
like($r->{json}{title}, qr{item https://id\.gs1\.org/01/06970000000024/21/S0001 was commissioned before}, 'naming it');
$again->{epcisBody}{eventList}[0]{epcList} = [ 'urn:epc:id:sgtin:6970000.000002.S0005', 'urn:epc:id:sgtin:6970000.000002.S0005' ];
$r = call('maker', 'POST', '/epcis/capture', $json->encode($again));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE13' ], 'a serial listed twice: 422 SLE13');
$again->{epcisBody}{eventList}[0]{epcList} = [ 'urn:epc:id:sgtin:6970000.000003.S1' ];
$r = call('maker', 'POST', '/epcis/capture', $json->encode($again));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE04' ], 'a GTIN no product has: 422 SLE04');
$again->{epcisBody}{eventList}[0]{epcList} = [ 'urn:epc:id:sscc:6970000.0000000001' ];
$r = call('maker', 'POST', '/epcis/capture', $json->encode($again));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE04' ], 'not an SGTIN: 422 SLE04');
$again->{epcisBody}{eventList}[0]{epcList} = [];
$r = call('maker', 'POST', '/epcis/capture', $json->encode($again));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE01' ], 'an empty epcList and no quantityList: 422 SLE01');
# items are followed by shipping and receiving events (048); other events name lots
my $insp = $json->decode($doc);
$insp->{epcisBody}{eventList}[0]{action} = 'OBSERVE';
$insp->{epcisBody}{eventList}[0]{bizStep} = 'inspecting';
$insp->{epcisBody}{eventList}[0]{disposition} = 'conformant';
$r = call('maker', 'POST', '/epcis/capture', $json->encode($insp));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE05' ], 'an epcList in an inspecting event: 422 SLE05');
is(state(), $before, 'nothing written by the refused documents');
my ($rc, $o, $e) = $node->psql('postgres', q{select shilian.item_batch('urn:epc:id:sgtin:6970000.000002.S0099')});
like($e, qr/unknown item/, 'item_batch of an unknown serial: SLE14 unknown item');

is_deeply([ $node->psql('postgres', q{select shilian.item_batch('urn:epc:id:sscc:6970000.0000000001')}) ]->[2] =~ /SGTIN/ ? 1 : 0, 1,
	'item_batch of something that is no SGTIN: SLE24, not an unknown item');

# GET /v1/items/{epc}: the item and its lot, by item_batch's rule
for my $epc ('urn:epc:id:sgtin:6970000.000002.S0001', 'https://example.com/01/06970000000024/21/S0001')
{
	$r = call('maker', 'GET', '/v1/items/' . uri_escape($epc));
	is($r->{status}, 200, "GET /v1/items/$epc: 200") or diag($r->{content});
	is_deeply($r->{json}, { epc => $epc, uri => 'https://id.gs1.org/01/06970000000024/21/S0001', gtin => '06970000000024',
		serial => 'S0001', batch => $code }, "GET /v1/items/$epc: the item and its lot");
}
$r = call('maker', 'GET', '/v1/items/https://id.gs1.org/01/06970000000024/21/S0003');
is_deeply([ $r->{status}, $r->{json}{batch} ], [ 200, $code ], 'a Digital Link unescaped in the path (slashes and all)');
$r = call('shop', 'GET', '/v1/items/' . uri_escape('urn:epc:id:sgtin:6970000.000002.S0002'));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 404, 'SLE14' ],
	'the shop, which may not see the maker\'s lot (it holds its own received one): 404 SLE14, as item_batch');
$r = call('maker', 'GET', '/v1/items/' . uri_escape('urn:epc:id:sgtin:6970000.000002.S0099'));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 404, 'SLE14' ], 'an unknown serial: 404 SLE14');
for my $bad ('urn:epc:id:sgtin:bogus', 'urn:epc:id:sscc:6970000.0000000001', 'https://id.gs1.org/01/06970000000025/21/S1', 'S0001')
{
	$r = call('maker', 'GET', '/v1/items/' . uri_escape($bad));
	is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE24' ], "not an SGTIN ($bad): 422 SLE24") or diag($r->{content});
}
$r = http_call($gw, 'GET', '/v1/items/' . uri_escape('urn:epc:id:sgtin:6970000.000002.S0001'));
is($r->{status}, 401, 'without a token: 401');

stop_gateway($gw);
$node->stop;
done_testing();
