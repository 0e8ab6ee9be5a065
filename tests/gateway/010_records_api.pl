# The registry, records and ledger routes over real HTTP, each called as the
# role that would call it: a regulator registers and activates operators, a
# farm sells to a wholesaler, the wholesaler receives from its inbox (the
# sale pre-fills the receipt), processes, destroys; the ledger verifies,
# checkpoints and exports a chain that shilian-verify accepts offline. Main
# refusals: rule violations (422 with the SL code), other operators' batches
# (403/404), bad literals (400), role limits (403), retries (Idempotency-Key).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_records');
$node->safe_psql('postgres', q{
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my $regulator = make_jwt({ role => 'regulator', jurisdiction => '370000' });

sub call
{
	my ($token, $method, $path, $body, %h) = @_;
	my $r = http_call($gw, $method, $path,
		defined $body ? (body => ref $body ? encode_json($body) : $body) : (),
		headers => { Authorization => "Bearer $token", 'Content-Type' => 'application/json', %h });
	$r->{json} = json_body($r);
	return $r;
}

sub expect
{
	my ($r, $status, $name) = @_;
	is($r->{status}, $status, "$name: $status") or diag($r->{content});
	return $r->{json};
}

# ---- registry: regulator registers and activates -------------------------
my %op;
for my $o ([ farm => '历城绿源蔬菜合作社', 'production', ['farm'], '370112001', '91370112MA3C00001X' ],
	[ wholesaler => '济南泉城农产品批发有限公司', 'circulation', ['wholesaler'], '370102001', '91370102MA3C00002H' ],
	[ canteen => '历下实验小学食堂', 'catering', ['school_canteen'], '370102001', '12370102MB2800005H' ])
{
	my ($key, $name, $segment, $kinds, $station, $uscc) = @$o;
	my $j = expect(call($regulator, 'POST', '/v1/operators', { name => $name, segment => $segment,
		kinds => $kinds, station => $station, address => '济南', contact => '0531-1', uscc => $uscc }),
		201, "register $key");
	like($j->{id}, qr/^\d+$/, "$key id is a string of digits");
	$op{$key} = $j->{id};
	expect(call($regulator, 'POST', "/v1/operators/$op{$key}/activate"), 200, "activate $key");
}
my %tok = map { $_ => make_jwt({ role => 'operator', operator_id => $op{$_} }) } keys %op;

my $j = expect(call($tok{farm}, 'POST', '/v1/operators', { name => 'x', segment => 'production', kinds => ['farm'],
	station => '370112001', address => 'x', contact => 'x' }), 403, 'an operator cannot register operators');
is($j->{code}, '42501', 'and the code is the SQLSTATE 42501');
$j = expect(call($regulator, 'POST', '/v1/operators', { name => 'x', segment => 'production', kinds => ['farm'],
	station => '370112001', address => 'x', contact => 'x', uscc => '914403001922038217' }), 400, 'a bad USCC');
is($j->{code}, '22P02', 'bad USCC: 22P02');
like($j->{message}, qr/check character/, 'bad USCC: the message names the check character');

$j = expect(call($regulator, 'GET', '/v1/operators?status=active&limit=2'), 200, 'list operators');
is(scalar @$j, 2, 'limit 2 gives 2');
$j = call($regulator, 'GET', '/v1/operators?status=active&limit=2');
is($j->{headers}{'content-range'}, '0-1/3', 'Content-Range of the page');
$j = call($regulator, 'GET', '/v1/operators?status=active&offset=5');
is($j->{headers}{'content-range'}, '*/3', 'Content-Range past the end');

# ---- licences and products ------------------------------------------------
# Licences come from the licence register: a regulator records them (an
# operator adding its own could invent one to pass the sale's licence check).
$j = expect(call($tok{wholesaler}, 'POST', '/v1/licences', { licence_no => 'JY13701020000018',
	scope => ['vegetables'], valid_from => '2024-01-01', valid_to => '2030-12-31' }), 403, 'an operator cannot add its own licence');
expect(call($regulator, 'POST', '/v1/licences', { operator => $op{wholesaler}, licence_no => 'JY13701020000018',
	scope => ['vegetables', 'grain'], valid_from => '2024-01-01', valid_to => '2030-12-31' }), 201, 'wholesaler licence');
expect(call($regulator, 'POST', '/v1/licences', { operator => $op{canteen}, licence_no => 'JY33701020000056',
	scope => ['vegetables'], valid_from => '2024-01-01', valid_to => '2030-12-31' }), 201, 'canteen licence');
my $cabbage = expect(call($tok{farm}, 'POST', '/v1/products', { name => '大白菜', category => 'vegetables',
	shelf_life_days => 10, edible_agricultural => JSON::PP::true }), 201, 'farm product')->{id};
my $salad = expect(call($tok{wholesaler}, 'POST', '/v1/products', { name => '净菜', category => 'vegetables',
	shelf_life_days => 3 }), 201, 'wholesaler product')->{id};

# ---- batches ---------------------------------------------------------------
$j = expect(call($tok{farm}, 'POST', '/v1/batches', { product => $cabbage, qty => '500 kg' }), 201, 'farm batch');
my $code = $j->{trace_code};
like($code, qr/^370112\d+$/, 'the trace code starts with the farm\'s county');
expect(call($tok{farm}, 'POST', '/v1/batches', { qty => '5 kg' }), 400, 'batch without product');
$j = expect(call($tok{farm}, 'GET', "/v1/batches/$code"), 200, 'farm reads its batch');
is($j->{product_name}, '大白菜', 'with the product name');
is($j->{qty_left}, '500 kg', 'and the quantity left');
$j = expect(call($tok{wholesaler}, 'GET', "/v1/batches/$code"), 404, 'the wholesaler cannot see the farm\'s batch');
is($j->{code}, 'GW404', 'because row-level security hides the row (not an error)');
$j = expect(call($tok{farm}, 'GET', '/v1/batches/12345'), 400, 'a malformed trace code in the path');
is($j->{code}, '22P02', 'malformed trace code: 22P02');
expect(call($tok{farm}, 'GET', '/v1/batches/1%27%3Bdrop%20table%20shilian.batch%3B--'), 400, 'SQL text in the path is just a bad literal');
$j = call($tok{farm}, 'GET', '/v1/batches', undef, Prefer => 'count=exact');
is($j->{status}, 200, 'list own batches');
is($j->{headers}{'content-range'}, '0-0/1', 'one batch (counted on Prefer: count=exact)');
is(call($tok{farm}, 'GET', '/v1/batches')->{headers}{'content-range'}, '0-0/*',
	'without Prefer: count=exact the total is not counted');

# ---- sale → receipt draft → receipt ------------------------------------------
my $sale = { code => $code, buyer => $op{wholesaler}, qty => '200 kg' };
$j = expect(call($tok{farm}, 'POST', '/v1/shipments', $sale, 'Idempotency-Key' => 'sale-1'), 201, 'ship 200 kg');
my $link = $j->{link};
my $r = call($tok{farm}, 'POST', '/v1/shipments', $sale, 'Idempotency-Key' => 'sale-1');
is($r->{status}, 201, 'retried sale: 201');
is($r->{headers}{'idempotent-replayed'}, 'true', 'retried sale is a replay');
is($r->{json}{link}, $link, 'with the same link');
is($node->safe_psql('postgres', 'select count(*) from shilian.link'), '1', 'one link, not two');

$j = expect(call($tok{farm}, 'POST', '/v1/shipments', { %$sale, qty => '400 kg' }), 422, 'ship over the balance');
is($j->{code}, 'SLR05', 'over balance: SLR05');
$j = expect(call($tok{farm}, 'POST', '/v1/shipments', { %$sale, qty => '2 L' }), 422, 'ship litres of a batch in kg');
is($j->{code}, 'SLR06', 'dimension mismatch: SLR06');
$j = call($tok{wholesaler}, 'POST', '/v1/shipments', { %$sale, buyer => $op{canteen} });
ok($j->{status} == 403 || $j->{status} == 422, 'the wholesaler cannot ship the farm\'s batch');

$j = expect(call($tok{wholesaler}, 'GET', '/v1/shipments/inbox'), 200, 'wholesaler inbox');
is(scalar @$j, 1, 'one receipt draft');
is($j->[0]{link}, $link, 'for the sale');
is($j->[0]{from_code}, $code, 'pre-filled with the seller\'s trace code');
is($j->[0]{product_name}, '大白菜', 'and product');
is(scalar @{ call($tok{canteen}, 'GET', '/v1/shipments/inbox')->{json} }, 0, 'the canteen has no draft');

$j = expect(call($tok{wholesaler}, 'POST', '/v1/receipts', { link => $link, qty => '200 kg',
	inspection => { inspector => '李四', result => 'pass' } }), 201, 'receive');
my $wcode = $j->{trace_code};
like($wcode, qr/^\d+$/, 'the receipt makes the wholesaler\'s batch');
$j = expect(call($tok{wholesaler}, 'POST', '/v1/receipts', { link => $link, qty => '200 kg',
	inspection => { inspector => '李四' } }), 422, 'receive twice');
is($j->{code}, 'SLR13', 'double receipt: SLR13');
$j = expect(call($tok{wholesaler}, 'GET', "/v1/batches/$wcode"), 200, 'the wholesaler reads its new batch');
is($j->{product_name}, '大白菜', 'pre-filled product');

# ---- inspection, processing, consumption, first entry, rejection ------------------
expect(call($tok{wholesaler}, 'POST', '/v1/inspections', { code => $wcode, kind => 'sampling', result => 'pass',
	report => { agency => '济南市食品检验所', report_no => 'JN-2026-1' } }), 201, 'sampling inspection');
$j = expect(call($tok{wholesaler}, 'POST', '/v1/inspections', { code => $wcode, kind => 'sampling', result => 'pass',
	report => { agency => 'x' } }), 422, 'inspection report missing a key');
is($j->{code}, 'SLR15', 'missing report key: SLR15');
$j = expect(call($tok{wholesaler}, 'POST', '/v1/transformations', { inputs => [$wcode], qtys => ['50 kg'],
	product => $salad, qty => '45 kg' }), 201, 'transform');
my $scode = $j->{trace_code};
expect(call($tok{wholesaler}, 'POST', '/v1/consumptions', { code => $wcode, qty => '5 kg', kind => 'destroyed' }),
	201, 'destroy 5 kg');
$j = expect(call($tok{wholesaler}, 'GET', "/v1/batches/$wcode"), 200, 'balance after processing and destruction');
is($j->{qty_left}, '145 kg', '200 - 50 - 5 = 145 kg left');
like($j->{id}, qr/^\d+$/, 'the batch id is a string of digits') or diag explain $j;
# The farm's sale record: the law asks a seller's sales record for the buyer,
# the sale date and the product; the farm's own batch has no certificate.
$j = expect(call($tok{farm}, 'GET', "/v1/records/sale/$link/completeness"), 200, 'completeness of a sale record');
ok(exists $j->{complete} && ref $j->{missing} eq 'ARRAY' && $j->{retain_until} =~ /^\d{4}-\d\d-\d\d$/,
	'completeness gives complete, missing and the retention date') or diag explain $j;
expect(call($tok{farm}, 'GET', "/v1/records/nonsense/$link/completeness"), 400, 'completeness of an unknown record kind');

$j = expect(call($tok{canteen}, 'POST', '/v1/receipts/first-entry', { product => $cabbage, qty => '20 kg',
	supplier => { name => '张大爷', contact => '13900000000' }, inspection => { inspector => '王五' } }),
	201, 'first entry from a farmer');
# without its incoming inspection (issue 18): recorded, incomplete; a given but
# incomplete inspection is still refused
$j = expect(call($tok{canteen}, 'POST', '/v1/receipts/first-entry', { product => $cabbage, qty => '5 kg',
	supplier => { name => '张大爷', contact => '13900000000' } }), 201, 'first entry without an inspection');
my $bare = $node->safe_psql('postgres', "select id from shilian.batch where trace_code::text = '$j->{trace_code}'");
is($node->safe_psql('postgres', "select count(*) from shilian.inspection where batch_id = $bare"), '0',
	'no inspection written');
$j = expect(call($tok{canteen}, 'GET', "/v1/records/first_entry/$bare/completeness"), 200,
	'completeness of the first entry');
ok(!$j->{complete} && grep({ $_ eq 'incoming_inspection' } @{ $j->{missing} }),
	'it lacks incoming_inspection') or diag explain $j;
$j = expect(call($tok{canteen}, 'POST', '/v1/receipts/first-entry', { product => $cabbage, qty => '5 kg',
	supplier => { name => '张大爷', contact => '13900000000' }, inspection => {} }), 422,
	'first entry with an incomplete inspection');
is($j->{code}, 'SLR15', 'incomplete inspection: SLR15');
$j = expect(call($tok{wholesaler}, 'POST', '/v1/shipments', { code => $scode, buyer => $op{canteen}, qty => '10 kg' }),
	201, 'ship salad to the canteen');
my $link2 = $j->{link};
expect(call($tok{canteen}, 'POST', "/v1/shipments/$link2/reject", { reason => '包装破损' }), 200, 'the canteen rejects');
$j = expect(call($tok{canteen}, 'POST', "/v1/shipments/$link2/reject", { reason => 'again' }), 422, 'reject twice');
is($j->{code}, 'SLR13', 'reject twice: SLR13');

# ---- ledger ------------------------------------------------------------------------
$j = expect(call($tok{farm}, 'GET', "/v1/ledger/verify?operator=$op{farm}"), 200, 'verify the farm\'s chain');
ok(@$j == 1 && $j->[0]{ok} && $j->[0]{entries} > 0, 'the farm\'s chain verifies');
expect(call($tok{farm}, 'POST', '/v1/ledger/checkpoint'), 403, 'an operator cannot sign off checkpoints');
expect(call($regulator, 'POST', '/v1/ledger/checkpoint'), 403, 'nor can a regulator');
$j = expect(call(make_jwt({ role => 'admin' }), 'POST', '/v1/ledger/checkpoint'), 201, 'the platform admin makes a checkpoint');
my $size = $j->{tree_size};
ok($size > 0 && $j->{root} =~ /^[0-9a-f]{64}$/, 'checkpoint: tree size and root');
my $entry = $node->safe_psql('postgres', "select min(id) from shilian.ledger where operator_id = $op{farm}");
$j = expect(call($tok{farm}, 'GET', "/v1/ledger/proofs/inclusion?entry=$entry&tree_size=$size"), 200, 'inclusion proof');
is($node->safe_psql('postgres', "select shilian.verify_inclusion('" . encode_json($j) . "'::jsonb)"), 't',
	'the inclusion proof verifies');
expect(call($tok{farm}, 'GET', "/v1/ledger/proofs/consistency?old_size=1&new_size=$size"), 200, 'consistency proof');
$r = call($tok{farm}, 'GET', "/v1/ledger/export?operator=$op{farm}");
is($r->{status}, 200, 'export the farm\'s chain');
is($r->{headers}{'content-type'}, 'application/x-ndjson', 'as JSON lines');
my $bundle = "$PostgreSQL::Test::Utils::tmp_check/farm.jsonl";
open my $fh, '>', $bundle or die;
print $fh $r->{content};
close $fh;
my ($out, $err);
my $ok = IPC::Run::run([ "$ENV{SHILIAN_TOP}/shilian-verify", $bundle ], '>', \$out, '2>', \$err);
ok($ok, 'shilian-verify accepts the exported chain offline') or diag("$out$err");

stop_gateway($gw);
$node->stop;
done_testing();
