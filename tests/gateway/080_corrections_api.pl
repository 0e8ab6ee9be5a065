# Corrections (更正) and retractions (撤销) over HTTP (issue 18): POST
# /v1/records/{kind}/{id}/correction and /retraction, GET .../corrections.
# A farm corrects a batch's quantity and a pending sale, then retracts the
# sale: the balance, the buyer's inbox and the farm's counters follow, the
# chain verifies over the API; the buyer, another operator's token, a
# regulator correcting, the public: refused; a retry with the same
# Idempotency-Key replays the first answer and corrects nothing twice.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_corrections');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.jurisdiction_add('370200', '青岛市');
	select shilian.jurisdiction_add('370202', '市南区');
	select shilian.jurisdiction_add('370202001', '八大峡所');
	select shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1', reg_card => 'F-1');
	select shilian.operator_activate(1);
	select shilian.operator_register('七里堡市场', 'circulation', '{market_vendor}', '370112001', 'y', '2', reg_card => 'M-1');
	select shilian.operator_activate(2);
	select shilian.product_register('番茄', 'vegetables', 15, '散装', edible_agricultural => true);
	select shilian.batch_create(1, 1, '100 kg', '2025-03-02', 'L-A');
	select shilian.ship((select trace_code from shilian.batch where id = 1), 2, '30 kg', '2025-03-03');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my $farm = make_jwt({ role => 'operator', operator_id => 1 });
my $market = make_jwt({ role => 'operator', operator_id => 2 });
my $reg = make_jwt({ role => 'regulator', jurisdiction => '370112' });
my $reg_far = make_jwt({ role => 'regulator', jurisdiction => '370202' });

sub call
{
	my ($token, $method, $path, $body, %h) = @_;
	my $r = http_call($gw, $method, $path,
		defined $body ? (body => ref $body ? encode_json($body) : $body) : (),
		headers => { defined $token ? (Authorization => "Bearer $token") : (), 'Content-Type' => 'application/json', %h });
	$r->{json} = json_body($r);
	return $r;
}
sub expect
{
	my ($r, $status, $name) = @_;
	is($r->{status}, $status, "$name: $status") or diag($r->{content});
	return $r->{json};
}
sub q1 { return $node->safe_psql('postgres', shift) }
my $code = q1('select trace_code from shilian.batch where id = 1');

# ---- correct the batch ----------------------------------------------------------
# the same bytes each time (a retry sends the same request)
my $fix = encode_json({ reason => '称重录入错误', changes => { qty => '120 kg' } });
my $r = call($farm, 'POST', '/v1/records/batch/1/correction', $fix, 'Idempotency-Key' => 'fix-1');
my $j = expect($r, 201, 'farm corrects its batch');
like($j->{id}, qr/^\d+$/, 'the correction id, a string of digits');
is_deeply([ @$j{qw(kind record action)} ], [ 'batch', '1', 'correct' ], 'kind, record, action');
is($r->{headers}{location}, '/v1/records/batch/1/corrections', "Location names the record's corrections");
$r = call($farm, 'POST', '/v1/records/batch/1/correction', $fix, 'Idempotency-Key' => 'fix-1');
is($r->{status}, 201, 'a retry with the same key: 201');
is($r->{headers}{'idempotent-replayed'}, 'true', 'a replay');
is(q1('select count(*) from shilian.correction'), '1', 'corrected once');
$j = expect(call($farm, 'GET', "/v1/batches/$code"), 200, 'the batch');
is("$j->{qty}|$j->{qty_left}", '120 kg|90 kg', 'qty 120 kg, on hand 90 kg (30 kg shipped)');

$j = expect(call($farm, 'POST', '/v1/records/batch/1/correction', { reason => 'x', changes => { qty => '20 kg' } }), 422, 'below what was shipped');
is($j->{code}, 'SLC07', 'SLC07');
$j = expect(call($farm, 'POST', '/v1/records/batch/1/correction', { reason => 'x', changes => { owner_id => 2 } }), 422, 'a field not corrected');
is($j->{code}, 'SLC06', 'SLC06');
expect(call($farm, 'POST', '/v1/records/batch/1/correction', { reason => 'x' }), 400, 'no changes');
expect(call($farm, 'POST', '/v1/records/lot/1/correction', { reason => 'x', changes => {} }), 400, 'an unknown kind');
$j = expect(call($market, 'POST', '/v1/records/batch/1/correction', { reason => 'x', changes => { lot => 'y' } }), 404, "another operator's batch");
is($j->{code}, 'SLC02', 'SLC02, as for an unknown record');
expect(call($reg, 'POST', '/v1/records/batch/1/correction', { reason => 'x', changes => { lot => 'y' } }), 403, 'a regulator does not correct');
expect(call(undef, 'POST', '/v1/records/batch/1/correction', { reason => 'x', changes => { lot => 'y' } }), 401, 'no token');

# ---- a pending sale: corrected, then retracted ------------------------------------
expect(call($farm, 'POST', '/v1/records/link/1/correction', { reason => '少发了', changes => { qty => '25 kg' } }), 201, 'the pending sale corrected');
$j = expect(call($market, 'GET', '/v1/shipments/inbox'), 200, "the buyer's inbox");
is($j->[0]{qty}, '25 kg', 'its receipt draft shows 25 kg');
$j = expect(call($market, 'POST', '/v1/records/link/1/retraction', { reason => 'x' }), 404, "the buyer may not retract the seller's sale");
$j = expect(call($reg_far, 'POST', '/v1/records/link/1/retraction', { reason => 'x' }), 404, 'a regulator elsewhere');
$j = expect(call($farm, 'POST', '/v1/records/link/1/retraction', { reason => '订单取消' }), 201, 'the farm retracts the sale');
is($j->{action}, 'retract', 'action retract');
$j = expect(call($market, 'GET', '/v1/shipments/inbox'), 200, 'the inbox again');
is(scalar @$j, 0, 'no receipt draft left');
$j = expect(call($farm, 'GET', '/v1/shipments/1'), 200, 'the sale');
is($j->{status}, 'retracted', 'status retracted');
$j = expect(call($farm, 'GET', "/v1/batches/$code"), 200, 'the batch again');
is($j->{qty_left}, '120 kg', 'everything back on hand');
$j = expect(call($farm, 'POST', '/v1/records/link/1/retraction', { reason => 'x' }), 422, 'retracted twice');
is($j->{code}, 'SLC04', 'SLC04');
is(q1(q{select shipments from shilian.operator_day where operator_id = 1 and day = '2025-03-03'}) || '0', '0',
	"the farm's shipment is no longer counted");

# ---- the regulator retracts, every step is listed ------------------------------------
expect(call($farm, 'POST', '/v1/batches', { product => '1', qty => '5 kg', produced_on => '2025-03-02', lot => 'L-B' }), 201, 'a second batch');
expect(call($reg, 'POST', '/v1/records/batch/2/retraction', { reason => '虚假记录' }), 201, 'the regulator retracts it');
$j = expect(call($farm, 'GET', '/v1/records/link/1/corrections'), 200, "the sale's corrections");
is(join(',', map { $_->{action} } @$j), 'correct,retract', 'correct then retract');
is($j->[0]{old}{qty_shipped} . '>' . $j->[0]{new}{qty_shipped}, '30 kg>25 kg', 'the original and the corrected values');
ok(!defined $j->[1]{new}, 'a retraction has no new values');
like($j->[1]{supersedes}, qr/^\d+$/, 'it supersedes an entry');
is($j->[1]{supersedes}, $j->[0]{entry}, 'the retraction supersedes the correction');
$j = expect(call($market, 'GET', '/v1/records/link/1/corrections'), 200, 'the buyer asks');
is(scalar @$j, 0, "the buyer sees none of the seller's corrections");
# ---- a consumption (消费/使用) corrected and retracted over the same routes ---------
$j = expect(call($farm, 'POST', '/v1/consumptions', { code => $code, qty => '4 kg', kind => 'destroyed',
	at => '2025-03-05T10:00:00+08:00' }), 201, 'a consumption');
my $cid = $j->{id};
expect(call($farm, 'POST', "/v1/records/consumption/$cid/correction", { reason => '称重有误', changes => { qty => '6 kg' } }),
	201, 'the consumption corrected');
is(expect(call($farm, 'GET', "/v1/batches/$code"), 200, 'the batch')->{qty_left}, '114 kg', 'its balance follows');
expect(call($farm, 'POST', "/v1/records/consumption/$cid/retraction", { reason => '误录' }), 201, 'the consumption retracted');
is(expect(call($farm, 'GET', "/v1/batches/$code"), 200, 'the batch')->{qty_left}, '120 kg', 'all of it back');
$j = expect(call($farm, 'GET', "/v1/records/consumption/$cid/corrections"), 200, "the consumption's corrections");
is(join(',', map { $_->{action} } @$j), 'correct,retract', 'correct then retract');
$j = expect(call($farm, 'POST', '/v1/records/transformation/999999/retraction', { reason => 'x' }), 404,
	'kind transformation: an unknown output batch is 404');

$j = expect(call($farm, 'GET', '/v1/ledger/verify?operator=1'), 200, "the farm's chain");
ok((ref $j eq 'ARRAY' ? $j->[0] : $j)->{ok}, 'verifies') or diag explain $j;

done_testing();
