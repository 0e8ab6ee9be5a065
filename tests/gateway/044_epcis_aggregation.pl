# Logistic units over real HTTP (issue 18): lots and serialised items packed
# on an SSCC pallet by an AggregationEvent (tests/epcis/07_packing_sscc.jsonld),
# the pallet shipped by one ObjectEvent naming the SSCC (08: a sale per lot
# inside it, through ship()), received by one receiving event naming it (09:
# every one of those sales received through receive(), without an
# inspection), unpacked (10); the documents are checked against GS1's schema
# by 040. An error declaration of the unit's shipping gives it back to the
# shipper (its sales retracted); of a packing it is refused (SLC10).
# Refusals: SLE15 malformed SSCC, SLE16 a unit not held, SLE06 a lot
# or item the packer does not hold, SLE17 more than the lot holds.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

sub uri_escape { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; return $s; }

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_agg');
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
	select shilian.product_register('番茄汁', 'other', 180, '1L/瓶', gtin => '6970000000031', owner => 1);
	select shilian.gs1_location_register(1, 'urn:epc:id:pgln:6970000.00001', '鲁味');
	select shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00002.line-1', '灌装线');
	select shilian.gs1_location_register(2, 'urn:epc:id:pgln:6970000.00003', '泉城超市');
	select shilian.gs1_location_register(2, 'urn:epc:id:sgln:6970000.00003.wh-1', '仓库');
	select shilian.batch_create(1, 2, '200 L', '2026-11-20', 'J-1201');
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
	return q1(q{select concat_ws(' ', (select count(*) from shilian.batch), (select count(*) from shilian.link),
		(select count(*) from shilian.ledger), (select count(*) from shilian.epcis_event),
		(select string_agg(concat_ws('/', sscc, owner_id, batch_id, qty, link_id), ',' order by id) from shilian.logistic_unit))});
}
sub doc { return slurp_file("$top/tests/epcis/$_[0]") }
sub refused
{
	my ($who, $d, $code, $what, $title) = @_;
	my $before = state();
	my $r = call($who, 'POST', '/epcis/capture', ref $d ? $json->encode($d) : $d);
	is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, $code ], "$what: 422 $code") or diag($r->{content});
	like($r->{json}{title} // '', $title, "$what: the message says why") if $title;
	is(state(), $before, "$what: nothing written");
}
my $unit = '069700000000000017';

# the three jars of 06 (serialised), then the pallet: two jars and 120 L of juice
my $r = call('maker', 'POST', '/epcis/capture', doc('06_commissioning_serial.jsonld'));
is($r->{status}, 202, 'three jars commissioned') or diag($r->{content});
$r = call('maker', 'POST', '/epcis/capture', doc('07_packing_sscc.jsonld'));
is($r->{status}, 202, 'packing the pallet: 202') or diag($r->{content});
is(q1(q{select string_agg(concat_ws(' ', u.sscc, u.owner_id, b.lot, u.qty, coalesce(u.link_id::text, '-')), ', ' order by b.lot)
	from shilian.logistic_unit u join shilian.batch b on b.id = u.batch_id}),
	"$unit 1 J-1201 120 L -, $unit 1 SN-1122 2 pcs -",
	'the unit holds 120 L of the juice lot and 2 jars of the sauce lot (the SSCC as its 18 digits)');

# refusals of packing, nothing written
my $pack = $json->decode(doc('07_packing_sscc.jsonld'));
my $ev = $pack->{epcisBody}{eventList}[0];
delete $ev->{childEPCs};
$ev->{childQuantityList}[0]{quantity} = 90;
refused('maker', $pack, 'SLE17', 'packing more than the lot holds besides what is packed of it',
	qr{holds 200 L, of which 120 L is packed already: 90 L more cannot be packed});
$ev->{childQuantityList}[0] = { epcClass => 'urn:epc:class:lgtin:6970000.000003.J-9999', quantity => 1, uom => 'LTR' };
refused('maker', $pack, 'SLE06', 'packing a lot the packer does not hold', qr{no batch of urn:epc:class:lgtin:6970000\.000003\.J-9999});
delete $ev->{childQuantityList};
$ev->{childEPCs} = [ 'urn:epc:id:sgtin:6970000.000002.S0099' ];
refused('maker', $pack, 'SLE06', 'packing an item never commissioned', qr{no item urn:epc:id:sgtin:6970000\.000002\.S0099});
$ev->{parentID} = 'https://id.gs1.org/00/069700000000000018';
refused('maker', $pack, 'SLE15', 'an SSCC with a wrong check digit', qr{not an SSCC: https://id\.gs1\.org/00/069700000000000018});
$ev->{parentID} = 'urn:epc:id:sgtin:6970000.000002.S0003';
refused('maker', $pack, 'SLE15', 'a parentID that is no SSCC');
$ev->{parentID} = "https://id.gs1.org/00/$unit";
delete @{$ev}{qw(readPoint bizLocation)};
refused('shop', $pack, 'SLE16', 'packing a unit another operator holds', qr{held by another operator or in transit});

# shipping the unit: a sale of each lot inside it to the shop
$r = call('maker', 'POST', '/epcis/capture', doc('08_shipping_sscc.jsonld'));
is($r->{status}, 202, 'shipping the pallet by its SSCC: 202') or diag($r->{content});
is(q1(q{select string_agg(concat_ws(' ', l.seller_id, l.buyer_id, b.lot, l.qty_shipped, l.status), ', ' order by b.lot)
	from shilian.link l join shilian.batch b on b.id = l.from_batch}),
	'1 2 J-1201 120 L pending, 1 2 SN-1122 2 pcs pending', 'one pending sale per lot on the pallet');
is(q1(q{select count(*) from shilian.logistic_unit where link_id is null}), 0, 'the unit is in transit');
is(q1(q{select string_agg(qty_left::text, ' ' order by lot) from shilian.batch where owner_id = 1}), '80 L 1 pcs',
	'the maker holds the rest of each lot');

# an error declaration of the shipping event retracts its sales: the unit is back with the maker, shipped again
my $decl = $json->decode(doc('08_shipping_sscc.jsonld'));
$decl->{epcisBody}{eventList}[0]{eventID} = q1(q{select event_id from shilian.epcis_event where biz_step = 'shipping'});
$decl->{epcisBody}{eventList}[0]{errorDeclaration} = { declarationTime => '2026-11-22T10:30:00.000+08:00', reason => 'incorrect_data' };
$r = call('maker', 'POST', '/epcis/capture', $json->encode($decl));
is($r->{status}, 202, 'the shipping of the unit declared wrong: 202') or diag($r->{content});
is(q1(q{select string_agg(status, ' ') from shilian.link}), 'retracted retracted', 'both its sales retracted');
my $again = $json->decode(doc('08_shipping_sscc.jsonld'));
$again->{epcisBody}{eventList}[0]{eventTime} = '2026-11-22T11:00:00.000+08:00';
$r = call('maker', 'POST', '/epcis/capture', $json->encode($again));
is($r->{status}, 202, 'the unit, back with the maker, shipped again: 202') or diag($r->{content});
is(q1(q{select string_agg(concat_ws(' ', b.lot, l.qty_shipped), ', ' order by b.lot)
	from shilian.link l join shilian.batch b on b.id = l.from_batch where l.status = 'pending'}),
	'J-1201 120 L, SN-1122 2 pcs', 'two new pending sales');
is(q1(q{select string_agg(qty_left::text, ' ' order by lot) from shilian.batch where owner_id = 1}), '80 L 1 pcs',
	'the maker holds the rest of each lot, as before');
my $inbox = call('shop', 'GET', '/v1/shipments/inbox');
is($inbox->{status}, 200, "the shop's receipt drafts") or diag($inbox->{content});
is(join(', ', map { "$_->{lot} $_->{qty}" } sort { $a->{lot} cmp $b->{lot} } @{ $inbox->{json} // [] }),
	'J-1201 120 L, SN-1122 2 pcs', 'one pallet scan: a receipt draft for each lot on it, pre-filled');
my $packdecl = $json->decode(doc('07_packing_sscc.jsonld'));
$packdecl->{epcisBody}{eventList}[0]{eventID} = q1(q{select event_id from shilian.epcis_event where type = 'AggregationEvent'});
$packdecl->{epcisBody}{eventList}[0]{errorDeclaration} = { declarationTime => '2026-11-22T10:30:00.000+08:00' };
refused('maker', $packdecl, 'SLC10', 'an error declaration of a packing event', qr{is not retracted this way});

my $ship = $json->decode(doc('08_shipping_sscc.jsonld'));
$ship->{epcisBody}{eventList}[0]{epcList} = [ 'urn:epc:id:sscc:6970000.0000000002' ];
refused('maker', $ship, 'SLE16', 'shipping a unit nothing is packed on', qr{holds nothing packed on SSCC 069700000000000024});
$ship->{epcisBody}{eventList}[0]{epcList} = [ "https://id.gs1.org/00/$unit" ];
$ship->{epcisBody}{eventList}[0]{eventID} = 'urn:uuid:0b7e3c5e-7f4a-4a52-9d57-2d0c8f1a0002';
refused('maker', $ship, 'SLE16', 'shipping a unit in transit');
# an item packed on the unit goes with it, not alone (items are followed: 048)
$ship->{epcisBody}{eventList}[0]{epcList} = [ 'urn:epc:id:sgtin:6970000.000002.S0001' ];
refused('maker', $ship, 'SLE30', 'shipping alone an item packed on the unit', qr{item not held.*S0001});
is(q1(q{select string_agg(i.serial, ',' order by i.serial) from shilian.item_link il join shilian.batch_item i on i.id = il.item_id
	join shilian.link l on l.id = il.link_id where l.status = 'pending'}), 'S0001,S0002', 'the two items packed travel on the unit\'s sale');

# receiving the unit: one scan receives both sales (no incoming inspection: recorded, incomplete)
my $recv = $json->decode(doc('09_receiving_sscc.jsonld'));
$recv->{epcisBody}{eventList}[0]{sourceList}[0]{source} = 'urn:epc:id:pgln:6970000.00003';
refused('shop', $recv, 'SLE16', 'receiving a unit from a seller who did not ship it', qr{no pending shipment of SSCC $unit from operator 2 to operator 2});
$r = call('shop', 'POST', '/epcis/capture', doc('09_receiving_sscc.jsonld'));
is($r->{status}, 202, 'receiving the pallet by its SSCC: 202') or diag($r->{content});
is(q1(q{select string_agg(concat_ws(' ', b.lot, l.qty_accepted, l.status, t.owner_id, t.qty, t.origin), ', ' order by b.lot)
	from shilian.link l join shilian.batch b on b.id = l.from_batch join shilian.batch t on t.id = l.to_batch
	where l.status <> 'retracted'}),
	'J-1201 120 L received 2 120 L received, SN-1122 2 pcs received 2 2 pcs received',
	'both sales received: the shop holds a batch of each lot');
is(q1(q{select string_agg(concat_ws(' ', b.owner_id, b.lot, u.qty), ', ' order by b.lot)
	from shilian.logistic_unit u join shilian.batch b on b.id = u.batch_id where u.link_id is null}),
	'2 J-1201 120 L, 2 SN-1122 2 pcs', q{the unit now holds the shop's received batches});
is(q1(q{select shilian.item_batch('urn:epc:id:sgtin:6970000.000002.S0001')::text = t.trace_code::text from shilian.link l
	join shilian.batch t on t.id = l.to_batch join shilian.batch f on f.id = l.from_batch
	where l.status = 'received' and f.lot = 'SN-1122'}), 't', 'an item packed on it is now in the shop\'s batch (item_batch)');
is(q1(q{select count(*) from shilian.link l, shilian.record_completeness('receipt', l.id) c
	where l.status = 'received' and 'incoming_inspection' = any(c.missing)}), 2, 'both receipts lack their incoming inspection (record_completeness)');
my $before = state();
$r = call('shop', 'POST', '/epcis/capture', doc('09_receiving_sscc.jsonld'));
is($r->{status}, 202, 'the receiving document resent: 202');
is(state(), $before, 'resent (no eventID: the event hash): nothing recorded again');

# the query: AggregationEvents, MATCH_parentID in any spelling
my $q = call('maker', 'GET', '/epcis/events?eventType=AggregationEvent&MATCH_parentID=' . uri_escape("https://id.gs1.org/00/$unit"));
is($q->{status}, 200, 'query by parentID') or diag($q->{content});
is_deeply([ map { $_->{parentID} } @{ $q->{json}{epcisBody}{queryResults}{resultsBody}{eventList} // [] } ],
	[ 'urn:epc:id:sscc:6970000.0000000001' ], 'the packing event, found by the Digital Link of its SSCC');
$q = call('maker', 'GET', '/epcis/events?MATCH_epc=' . uri_escape('urn:epc:id:sscc:6970000.0000000001'));
is_deeply([ map { $_->{bizStep} } @{ $q->{json}{epcisBody}{queryResults}{resultsBody}{eventList} // [] } ],
	[ 'shipping', 'shipping', 'receiving' ], 'MATCH_epc of the SSCC: the shipping events (the one declared wrong kept) and the receiving event naming the unit');

# unpacking empties the unit; then it is unknown
$r = call('shop', 'POST', '/epcis/capture', doc('10_unpacking_sscc.jsonld'));
is($r->{status}, 202, 'unpacking: 202') or diag($r->{content});
is(q1(q{select count(*) from shilian.logistic_unit}), 0, 'the unit is empty');
my $unpack = $json->decode(doc('10_unpacking_sscc.jsonld'));
$unpack->{epcisBody}{eventList}[0]{eventID} = 'urn:uuid:0b7e3c5e-7f4a-4a52-9d57-2d0c8f1a0001';
refused('shop', $unpack, 'SLE16', 'unpacking an empty unit', qr{unknown logistic unit});
$unpack->{epcisBody}{eventList}[0]{action} = 'OBSERVE';
refused('shop', $unpack, 'SLE05', 'an AggregationEvent OBSERVE', qr{AggregationEvent with action OBSERVE is not recorded});

stop_gateway($gw);
$node->stop;
done_testing();
