# Serialised items followed after commissioning, over real HTTP (issue 18):
# a shipping event whose epcList names SGTINs (tests/epcis/
# 11_shipping_items.jsonld, checked against GS1's schema by 040) ships one
# sale per lot holding them, of as many pieces, and records each item on
# its sale; a receiving event naming any of them (12_receiving_items.jsonld)
# receives those sales in full, and the items are then in the buyer's
# batch, which the buyer can ship on item by item. item_batch() follows an
# item to the last batch the caller may see; the walks go on from there. An
# item not held (unknown, another's, in transit) is SLE30, one on no pending
# sale to the receiver SLE31, and nothing is written. A sale carrying items
# received by another path (receive()) moves them too; a retracted one
# leaves them with the seller.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_items');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	select shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
		'济南市历城区工业北路8号', '0531-88100104', reg_card => 'LC-0002');
	select shilian.operator_register('历城副食品批发部', 'circulation', '{wholesaler}', '370112001',
		'济南市历城区', '0531-2', reg_card => 'LC-0004');
	select shilian.operator_register('泉城超市', 'circulation', '{retailer}', '370112001',
		'济南市历城区', '0531-1', reg_card => 'LC-0003');
	select shilian.operator_activate(id) from shilian.operator;
	select shilian.licence_add(1, 'SC10137011200027', '{other}', '2024-01-01', '2099-12-31');
	select shilian.licence_add(2, 'JY13701120000041', '{other}', '2024-01-01', '2099-12-31');
	select shilian.product_register('番茄酱', 'other', 365, '500g/瓶', gtin => '6970000000024', owner => 1);
	select shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00002.line-1', '灌装线');
	select shilian.gs1_location_register(1, 'urn:epc:id:pgln:6970000.00002', '济南鲁味食品有限公司');
	select shilian.gs1_location_register(2, 'urn:epc:id:pgln:6970000.00004', '历城副食品批发部');
	select shilian.gs1_location_register(3, 'urn:epc:id:pgln:6970000.00005', '泉城超市');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	maker => make_jwt({ role => 'operator', operator_id => 1 }),
	whole => make_jwt({ role => 'operator', operator_id => 2 }),
	shop => make_jwt({ role => 'operator', operator_id => 3 }),
);
my %opid = (maker => 1, whole => 2, shop => 3);
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
# item_batch as an operator sees it
sub item_as
{
	my ($who, $epc) = @_;
	return q1("set role shilian_operator; set shilian.operator_id = $opid{$who}; select shilian.item_batch('$epc')");
}
sub state
{
	return q1(q{select concat_ws(' ', (select count(*) from shilian.batch), (select count(*) from shilian.link),
		(select count(*) from shilian.item_link), (select count(*) from shilian.ledger), (select count(*) from shilian.epcis_event))});
}
# a shipping or receiving event of these items between two parties
my %pgln = (maker => 'urn:epc:id:pgln:6970000.00002', whole => 'urn:epc:id:pgln:6970000.00004',
	shop => 'urn:epc:id:pgln:6970000.00005');
sub event
{
	my ($step, $from, $to, $day, @epcs) = @_;
	return $json->encode({ '@context' => ['https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld'],
		type => 'EPCISDocument', schemaVersion => '2.0', creationDate => "${day}T12:00:00+08:00",
		epcisBody => { eventList => [ { type => 'ObjectEvent', action => 'OBSERVE', bizStep => $step,
			eventTime => "${day}T10:00:00+08:00", eventTimeZoneOffset => '+08:00', epcList => [@epcs],
			sourceList => [ { type => 'owning_party', source => $pgln{$from} } ],
			destinationList => [ { type => 'owning_party', destination => $pgln{$to} } ] } ] } });
}
my $s1 = 'urn:epc:id:sgtin:6970000.000002.S0001';
my $s2 = 'https://id.gs1.org/01/06970000000024/21/S0002';
my $s3 = 'urn:epc:id:sgtin:6970000.000002.S0003';

# three jars commissioned by the maker
my $r = call('maker', 'POST', '/epcis/capture', slurp_file("$top/tests/epcis/06_commissioning_serial.jsonld"));
is($r->{status}, 202, 'three serialised jars commissioned') or diag($r->{content});
my $lot = q1(q{select trace_code from shilian.batch where owner_id = 1});

# the maker ships two of them by serial: one sale of 2 pcs from its lot, the items on it
$r = call('maker', 'POST', '/epcis/capture', slurp_file("$top/tests/epcis/11_shipping_items.jsonld"));
is($r->{status}, 202, 'a shipping event naming two items: 202') or diag($r->{content});
is(q1(q{select concat_ws(' ', b.trace_code, l.buyer_id, l.qty_shipped, l.status) from shilian.link l
	join shilian.batch b on b.id = l.from_batch}), "$lot 2 2 pcs pending", 'one sale of 2 pcs from the lot, to the wholesaler, pending');
is(q1(q{select string_agg(i.serial, ',' order by i.serial) from shilian.item_link il join shilian.batch_item i on i.id = il.item_id}),
	'S0001,S0002', 'both items on it');
is(q1(q{select balance from (select qty_left::text as balance from shilian.batch where owner_id = 1) x}), '1 pcs',
	'the lot holds the one jar left');
is(item_as('maker', $s1), $lot, 'in transit, the item is still in the maker\'s lot for it');

# refusals: in transit, not held, unknown, twice; on no pending sale; nothing written
my $before = state();
$r = call('maker', 'POST', '/epcis/capture', event('shipping', 'maker', 'shop', '2026-11-23', $s1));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE30' ], 'shipping an item in transit again: 422 SLE30')
	or diag($r->{content});
like($r->{json}{title}, qr/item not held.*S0001/, 'the message names the item');
$r = call('whole', 'POST', '/epcis/capture', event('shipping', 'whole', 'shop', '2026-11-23', $s3));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE30' ], 'shipping an item another holds: 422 SLE30');
$r = call('maker', 'POST', '/epcis/capture', event('shipping', 'maker', 'shop', '2026-11-23',
	'urn:epc:id:sgtin:6970000.000002.S0009'));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE30' ], 'shipping an item never commissioned: 422 SLE30');
$r = call('maker', 'POST', '/epcis/capture', event('shipping', 'maker', 'shop', '2026-11-23', $s3, $s3));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE30' ], 'an item listed twice: 422 SLE30');
$r = call('shop', 'POST', '/epcis/capture', event('receiving', 'maker', 'shop', '2026-11-24', $s1));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE31' ], 'receiving an item shipped to another: 422 SLE31');
$r = call('whole', 'POST', '/epcis/capture', event('receiving', 'maker', 'whole', '2026-11-24', $s3));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE31' ], 'receiving an item not shipped: 422 SLE31');
$r = call('maker', 'POST', '/epcis/capture', event('shipping', 'maker', 'shop', '2026-11-23',
	'urn:epc:id:grai:6970000.00001.7'));
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE05' ], 'another kind of identifier: 422 SLE05');
is(state(), $before, 'nothing written by the refused documents');

# the wholesaler scans one of the two: the sale is received in full, both items move
$r = call('whole', 'POST', '/epcis/capture', slurp_file("$top/tests/epcis/12_receiving_items.jsonld"));
is($r->{status}, 202, 'a receiving event naming one item: 202') or diag($r->{content});
my $wlot = q1(q{select trace_code from shilian.batch where owner_id = 2});
is(q1(q{select concat_ws(' ', status, qty_accepted) from shilian.link}), 'received 2 pcs', 'the sale received in full');
is(item_as('whole', $s1), $wlot, 'the wholesaler finds both items in its batch');
is(item_as('whole', $s2), $wlot, '(the one scanned too)');
is(item_as('maker', $s3), $lot, 'the third stays in the maker\'s lot');

# on to the shop, item by item: the wholesaler ships one, the shop receives it
$r = call('whole', 'POST', '/epcis/capture', event('shipping', 'whole', 'shop', '2026-11-25', $s1));
is($r->{status}, 202, 'the wholesaler ships an item it received') or diag($r->{content});
$r = call('shop', 'POST', '/epcis/capture', event('receiving', 'whole', 'shop', '2026-11-26', $s1));
is($r->{status}, 202, 'the shop receives it') or diag($r->{content});
my $slot = q1(q{select trace_code from shilian.batch where owner_id = 3});
is(item_as('shop', $s1), $slot, 'the shop finds the item in its batch');
my $g = call('shop', 'GET', '/v1/items/' . $s1 =~ s/:/%3A/gr);
is_deeply([ $g->{status}, $g->{json}{batch} ], [ 200, $slot ], 'GET /v1/items/{epc} as the shop: its batch') or diag($g->{content});
$g = call('maker', 'GET', '/v1/items/' . $s1 =~ s/:/%3A/gr);
is_deeply([ $g->{status}, $g->{json}{batch} ], [ 200, $lot ], 'as the maker: its own lot');
is(item_as('whole', $s1), $wlot, 'the wholesaler, which may not see the shop\'s batch, finds it in its own');
is(q1("select string_agg(holder::text, ',' order by depth) from shilian.trace_backward(shilian.item_batch('$s1'))"),
	'3,2,1', 'trace backward from the item, as the platform sees it: shop, wholesaler, maker');
is(q1("select shilian.item_batch('$s1')"), $slot, 'the platform sees it at the shop');

# a sale of items received by another path moves them; a retracted one does not
$r = call('maker', 'POST', '/epcis/capture', event('shipping', 'maker', 'shop', '2026-11-27', $s3));
is($r->{status}, 202, 'the maker ships the third item to the shop') or diag($r->{content});
my $l3 = q1(q{select max(id) from shilian.link});
q1(qq{select shilian.receive($l3, '1 pcs', '{"inspector": "周"}', '2026-11-28 09:00+08')});
is(item_as('shop', $s3), q1("select b.trace_code from shilian.link l join shilian.batch b on b.id = l.to_batch where l.id = $l3"),
	'received by receive() (as through REST): the item is in the shop\'s new batch');

$r = call('whole', 'POST', '/epcis/capture', event('shipping', 'whole', 'shop', '2026-11-27', $s2));
is($r->{status}, 202, 'the wholesaler ships the second item') or diag($r->{content});
my $l2 = q1(q{select max(id) from shilian.link});
q1(qq{select shilian.retract('link', $l2, '发错货')});
is(item_as('whole', $s2), $wlot, 'the sale retracted: the item is back in the wholesaler\'s batch');
$r = call('whole', 'POST', '/epcis/capture', event('shipping', 'whole', 'shop', '2026-11-28', $s2));
is($r->{status}, 202, 'and can be shipped again') or diag($r->{content});

# row-level security: the item's sales as each party sees them
is(q1(q{set role shilian_operator; set shilian.operator_id = 1; select count(*) from shilian.item_link}), '3',
	'the maker sees the items on its own sales only');
is(q1(q{select count(*) from shilian.item_link}), '6', '(of the six item moves)');
ok(q1(q{select shilian.chain_verify(o) from generate_series(1, 3) o}) !~ /f/, 'every chain verifies');

stop_gateway($gw);
$node->stop;
done_testing();
