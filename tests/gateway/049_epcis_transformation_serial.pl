# A serialised transformation over real HTTP (issue 18): a TransformationEvent
# whose inputs and outputs are serialised items (tests/epcis/
# 13_transformation_serial.jsonld, checked against GS1's schema by 040):
# two jars (inputEPCList) packed into a gift box (outputEPCList, one item of
# another GTIN, its lot number and best-before date from ilmd). The jars'
# lot gives a piece each to the new lot through transform(), like any
# processing step; the jars are used up (they are in the box now:
# item_batch follows them there, and they can be neither shipped nor used
# again, SLE30), the box is an item of the new lot, shipped on by serial;
# the walk backward from the box reaches the jars' lot. Refusals write
# nothing: an input not held (SLE30), an output commissioned before (SLE13),
# outputs of two GTINs or none (SLE05).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_tserial');
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
	select shilian.product_register('番茄酱礼盒', 'other', 180, '2瓶/盒', gtin => '6970000000048', owner => 1);
	select shilian.product_register('番茄汁', 'other', 180, '1L/瓶', gtin => '6970000000031', owner => 1);
	select shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00002.line-1', '灌装线');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (maker => make_jwt({ role => 'operator', operator_id => 1 }));
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
		(select count(*) from shilian.batch_item), (select count(*) from shilian.item_link),
		(select count(*) from shilian.ledger), (select count(*) from shilian.epcis_event))});
}
sub refused
{
	my ($doc, $code, $what, $title) = @_;
	my $before = state();
	my $r = call('maker', 'POST', '/epcis/capture', $json->encode($doc));
	is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, $code ], "$what: 422 $code") or diag($r->{content});
	like($r->{json}{title} // '', $title, "$what: the message says why") if $title;
	is(state(), $before, "$what: nothing written");
}

my $r = call('maker', 'POST', '/epcis/capture', slurp_file("$top/tests/epcis/06_commissioning_serial.jsonld"));
is($r->{status}, 202, 'three jars commissioned by serial') or diag($r->{content});
my $jars = q1(q{select trace_code from shilian.batch where owner_id = 1});
my $doc = $json->decode(slurp_file("$top/tests/epcis/13_transformation_serial.jsonld"));

# refusals first
my $bad = $json->decode($json->encode($doc));
$bad->{epcisBody}{eventList}[0]{inputEPCList}[1] = 'urn:epc:id:sgtin:6970000.000002.S0009';
refused($bad, 'SLE30', 'an input item never commissioned', qr{item not held.*S0009 free to use});
$bad = $json->decode($json->encode($doc));
$bad->{epcisBody}{eventList}[0]{inputEPCList}[1] = 'urn:epc:id:sgtin:6970000.000002.S0001';
refused($bad, 'SLE30', 'an input item listed twice', qr{listed twice});
$bad = $json->decode($json->encode($doc));
$bad->{epcisBody}{eventList}[0]{outputEPCList} = [ 'urn:epc:id:sgtin:6970000.000002.S0003' ];
refused($bad, 'SLE13', 'an output item commissioned before', qr{was commissioned before});
$bad = $json->decode($json->encode($doc));
push @{ $bad->{epcisBody}{eventList}[0]{outputEPCList} }, 'urn:epc:id:sgtin:6970000.000003.J0001';
refused($bad, 'SLE05', 'outputs of two GTINs', qr{exactly one output lot});
$bad = $json->decode($json->encode($doc));
$bad->{epcisBody}{eventList}[0]{outputEPCList} = [];
refused($bad, 'SLE05', 'no output', qr{exactly one output lot});

# the transformation: two jars into one gift box
$r = call('maker', 'POST', '/epcis/capture', $json->encode($doc));
is($r->{status}, 202, 'the serialised transformation: 202') or diag($r->{content});
my ($box, $boxlot, $boxqty, $boxexp) = split /\|/, q1(q{select trace_code || '|' || lot || '|' || qty || '|' || expires_on
	from shilian.batch where origin = 'transformed'});
is_deeply([ $boxlot, $boxqty, $boxexp ], [ 'GB-1123', '1 pcs', '2027-05-23' ], 'one new lot: lot number and best-before from ilmd, one piece');
is(q1(q{select concat_ws(' ', f.trace_code, l.qty_shipped, l.kind) from shilian.link l join shilian.batch f on f.id = l.from_batch}),
	"$jars 2 pcs transform", 'the jars\' lot gave two pieces to it (a processing link)');
is(q1(q{select qty_left from shilian.batch where id = (select min(id) from shilian.batch)}), '1 pcs', 'one jar left in their lot');
is(q1(q{select string_agg(gtin || '/' || serial, ',') from shilian.batch_item where batch_id = (select id from shilian.batch where origin = 'transformed')}),
	'06970000000048/B0001', 'the box is an item of the new lot');
is(q1(q{select shilian.item_batch('urn:epc:id:sgtin:6970000.000004.B0001')}), $box, 'item_batch of the box: its lot');
is(q1(q{select shilian.item_batch('urn:epc:id:sgtin:6970000.000002.S0001')}), $box, 'item_batch of a jar used: the box\'s lot, where it went');
is(q1(q{select shilian.item_batch('urn:epc:id:sgtin:6970000.000002.S0003')}), $jars, 'the jar not used stays in its lot');
is(q1("select string_agg(batch::text, ',' order by depth) from shilian.trace_backward(shilian.item_batch('urn:epc:id:sgtin:6970000.000004.B0001'))"),
	"$box,$jars", 'trace backward from the box reaches the jars\' lot');
my $ev = call('maker', 'GET', '/epcis/events?MATCH_inputEPC=urn%3Aepc%3Aid%3Asgtin%3A6970000.000002.S0002');
is(scalar @{ $ev->{json}{epcisBody}{queryResults}{resultsBody}{eventList} // [] }, 1, 'MATCH_inputEPC finds the transformation');

# a jar used up is neither used again nor shipped
# (the same document again is a resend: recognised by its event hash, nothing recorded)
$r = call('maker', 'POST', '/epcis/capture', $json->encode($doc));
is_deeply([ $r->{status}, scalar @{ $r->{json}{'shilian:alreadyCaptured'} // [] } ], [ 202, 1 ], 'the document resent: already captured');
my $again = $json->decode($json->encode($doc));
$again->{epcisBody}{eventList}[0]{outputEPCList} = [ 'urn:epc:id:sgtin:6970000.000004.B0002' ];
refused($again, 'SLE30', 'the same jars into another box', qr{item not held.*S0001 free to use});
my $ship = { '@context' => ['https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld'], type => 'EPCISDocument',
	schemaVersion => '2.0', creationDate => '2026-11-24T09:00:00+08:00',
	epcisBody => { eventList => [ { type => 'ObjectEvent', action => 'OBSERVE', bizStep => 'shipping',
		eventTime => '2026-11-24T08:00:00+08:00', eventTimeZoneOffset => '+08:00',
		epcList => [ 'urn:epc:id:sgtin:6970000.000002.S0002' ],
		bizLocation => { id => 'urn:shilian:operator:1' },
		destinationList => [ { type => 'owning_party', destination => 'urn:shilian:operator:2' } ] } ] } };
refused($ship, 'SLE30', 'shipping a jar used up', qr{item not held.*S0002});
# the box ships on by serial
$ship->{epcisBody}{eventList}[0]{epcList} = [ 'https://id.gs1.org/01/06970000000048/21/B0001' ];
$r = call('maker', 'POST', '/epcis/capture', $json->encode($ship));
is($r->{status}, 202, 'the box shipped by its serial') or diag($r->{content});
is(q1(q{select concat_ws(' ', b.trace_code, l.buyer_id, l.qty_shipped) from shilian.link l join shilian.batch b on b.id = l.from_batch
	where l.kind = 'ship'}), "$box 2 1 pcs", 'a sale of the box\'s lot, one piece');
ok(q1(q{select bool_and(v.ok) from shilian.operator o, lateral shilian.chain_verify(o.id) v}) eq 't', 'every chain verifies');

stop_gateway($gw);
$node->stop;
done_testing();
