# Nested logistic units over real HTTP (issue 18): two cases (SSCCs A and B)
# packed with lots and serialised items, then packed by their SSCCs
# (childEPCs) onto a pallet P; shipping P by one ObjectEvent ships every lot
# inside it at any depth (a sale each, through ship()), receiving P receives
# every one of them (receive()), and the nesting goes to the buyer with it;
# unpacking P leaves the cases packed. Refusals (SLE16): a case on two
# pallets, a unit inside itself, shipping a case that is on a pallet,
# packing another operator's unit, an unknown unit.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

sub uri_escape { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; return $s; }

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_nested');
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
		(select count(*) from shilian.epcis_event),
		(select string_agg(concat_ws('/', sscc, owner_id, batch_id, qty, link_id), ',' order by id) from shilian.logistic_unit),
		(select string_agg(concat_ws('/', inner_sscc, outer_sscc, owner_id), ',' order by inner_sscc) from shilian.logistic_unit_nest))});
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
sub captured
{
	my ($who, $d, $what) = @_;
	my $r = call($who, 'POST', '/epcis/capture', ref $d ? $json->encode($d) : $d);
	is($r->{status}, 202, "$what: 202") or diag($r->{content});
}
# the 18 digits of an SSCC as the database reads it
sub digits { return q1("select substr(shilian.epcis_gs1_uri('$_[0]'), 23)") }
my ($A, $B, $P, $Q) = map { "urn:epc:id:sscc:6970000.000000000$_" } (1, 2, 8, 9);
my ($a, $b, $p) = map { digits($_) } ($A, $B, $P);
like("$a $b $p", qr/^\d{18} \d{18} \d{18}$/, "the SSCCs: $a $b $p");

captured('maker', doc('06_commissioning_serial.jsonld'), 'three jars commissioned');
captured('maker', doc('07_packing_sscc.jsonld'), 'case A: two jars and 120 L of juice');
my $pack = $json->decode(doc('07_packing_sscc.jsonld'));
my $ev = $pack->{epcisBody}{eventList}[0];
$ev->{parentID} = $B;
delete $ev->{childEPCs};
$ev->{childQuantityList}[0]{quantity} = 50;
$ev->{eventTime} = '2026-11-22T09:10:00.000+08:00';
captured('maker', $pack, 'case B: 50 L of juice');
delete $ev->{childQuantityList};
$ev->{parentID} = $P;
$ev->{childEPCs} = [ $A, "https://id.gs1.org/00/$b" ];
$ev->{eventTime} = '2026-11-22T09:20:00.000+08:00';
captured('maker', $pack, 'pallet P: the cases A and B by their SSCCs');
is(q1(q{select string_agg(inner_sscc || ' on ' || outer_sscc || ' ' || owner_id, ', ' order by inner_sscc) from shilian.logistic_unit_nest}),
	"$a on $p 1, $b on $p 1", 'both cases are on the pallet, the maker\'s');
is(q1(qq{select string_agg(t, ' ') from shilian.epcis_unit_tree('$p') t}), "$p $a $b", 'the pallet\'s tree: itself, then its cases');
my $classes = q1(q{select epc_classes::text from shilian.epcis_event where type = 'AggregationEvent' order by id desc limit 1});
like($classes, qr{06970000000031/10/J-1201}, 'the pallet\'s packing event names the lots inside its cases (MATCH_epcClass finds it)');

# refusals, nothing written
$ev->{parentID} = $Q;
$ev->{childEPCs} = [ $A ];
refused('maker', $pack, 'SLE16', 'a case packed on a second pallet', qr{packed on $p already});
$ev->{parentID} = $A;
$ev->{childEPCs} = [ $P ];
refused('maker', $pack, 'SLE16', 'the pallet packed into one of its own cases', qr{is inside it});
$ev->{parentID} = $P;
$ev->{childEPCs} = [ $P ];
refused('maker', $pack, 'SLE16', 'a unit packed on itself', qr{is inside it});
$ev->{parentID} = $Q;
$ev->{childEPCs} = [ 'urn:epc:id:sscc:6970000.0000000007' ];
refused('maker', $pack, 'SLE16', 'an unknown unit', qr{not held by operator 1});
$ev->{childEPCs} = [ 'urn:epc:id:sscc:6970000.0000000001x' ];
refused('maker', $pack, 'SLE06', 'a child that is neither an item nor an SSCC');
delete @{$ev}{qw(readPoint bizLocation)};
$ev->{childEPCs} = [ $P ];
refused('shop', $pack, 'SLE16', 'another operator packing the maker\'s pallet', qr{not held by operator 2});
my $ship = $json->decode(doc('08_shipping_sscc.jsonld'));
$ship->{epcisBody}{eventList}[0]{epcList} = [ $A ];
refused('maker', $ship, 'SLE16', 'shipping a case that is on the pallet', qr{is packed on $p});

# shipping the pallet ships everything in its cases
$ship->{epcisBody}{eventList}[0]{epcList} = [ $P ];
captured('maker', $ship, 'shipping the pallet by its SSCC');
is(q1(q{select string_agg(concat_ws(' ', l.seller_id, l.buyer_id, b.lot, l.qty_shipped, l.status), ', ' order by b.lot, l.qty_shipped)
	from shilian.link l join shilian.batch b on b.id = l.from_batch}),
	'1 2 J-1201 50 L pending, 1 2 J-1201 120 L pending, 1 2 SN-1122 2 pcs pending', 'one pending sale per lot in each case');
is(q1(q{select count(*) from shilian.logistic_unit where link_id is null}), 0, 'every case is in transit');
my $inbox = call('shop', 'GET', '/v1/shipments/inbox');
is(scalar @{ $inbox->{json} // [] }, 3, 'one pallet scan: three receipt drafts for the shop');

# receiving the pallet receives them all; the nesting is the shop's
my $recv = $json->decode(doc('09_receiving_sscc.jsonld'));
$recv->{epcisBody}{eventList}[0]{epcList} = [ "https://id.gs1.org/00/$p" ];
captured('shop', $recv, 'receiving the pallet by its SSCC');
is(q1(q{select string_agg(status, ' ') from shilian.link}), 'received received received', 'all three sales received');
is(q1(q{select string_agg(concat_ws(' ', u.sscc, u.owner_id, b.owner_id, b.lot, u.qty), ', ' order by u.sscc, b.lot)
	from shilian.logistic_unit u join shilian.batch b on b.id = u.batch_id}),
	"$a 2 2 J-1201 120 L, $a 2 2 SN-1122 2 pcs, $b 2 2 J-1201 50 L", 'the cases hold the shop\'s received batches');
is(q1(q{select string_agg(owner_id::text, ' ') from shilian.logistic_unit_nest}), '2 2', 'the cases are on the pallet, the shop\'s');

# unpacking the pallet: the cases come off, still packed
my $unpack = $json->decode(doc('10_unpacking_sscc.jsonld'));
$unpack->{epcisBody}{eventList}[0]{parentID} = $P;
captured('shop', $unpack, 'unpacking the pallet');
is(q1(q{select count(*) from shilian.logistic_unit_nest}), 0, 'no case on the pallet any more');
is(q1(q{select count(distinct sscc) from shilian.logistic_unit where owner_id = 2}), 2, 'each case still holds its lots');
$unpack->{epcisBody}{eventList}[0]{eventTime} = '2026-11-23T09:30:00.000+08:00';
refused('shop', $unpack, 'SLE16', 'unpacking the empty pallet again', qr{holds nothing packed});

done_testing();
