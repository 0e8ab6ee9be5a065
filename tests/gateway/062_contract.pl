# The API contract, route by route: query parameters are validated from the
# route table's declarations (unknown ones refused, each refusal naming the
# parameter and the rule); Range paging as PostgREST does (206, 416, 200 for
# the whole list); Location on every 201; ids as strings everywhere (the
# inbox's seller and product, proofs' and checkpoints' tree_size); one JSON
# spacing whether the gateway or the database made the body.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_contract2');
$node->safe_psql('postgres', q{
	select shilian.jurisdiction_add('330000', 'Zhejiang');
	select shilian.jurisdiction_add('330100', 'Hangzhou');
	select shilian.jurisdiction_add('330102', 'Shangcheng');
	select shilian.jurisdiction_add('330102001', 'Hubin');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $regulator = make_jwt({ role => 'regulator', jurisdiction => '330000' });
my $admin = make_jwt({ role => 'admin' });

sub call
{
	my ($token, $method, $path, $body, %h) = @_;
	my $r = http_call($gw, $method, $path, defined $body ? (body => JSON::PP->new->canonical->encode($body)) : (),
		headers => { ($token ? (Authorization => "Bearer $token") : ()), 'Content-Type' => 'application/json', %h });
	$r->{json} = json_body($r);
	return $r;
}

# a body in the one spacing: no whitespace between tokens outside strings
sub compact
{
	my ($text) = @_;
	(my $outside = $text) =~ s/"(?:[^"\\]|\\.)*"/""/g;
	return $outside !~ /\s/;
}

sub created
{
	my ($r, $location_re, $name) = @_;
	is($r->{status}, 201, "$name: 201") or diag($r->{content});
	like($r->{headers}{location} // '', $location_re, "$name: Location");
	ok(compact($r->{content}), "$name: compact JSON") or diag($r->{content});
	my $got = call($admin, 'GET', $r->{headers}{location} // '/none');
	is($got->{status}, 200, "$name: its Location reads it") or diag($got->{content});
	return $r->{json};
}

my %op;
for my $o ([ farm => 'production', ['farm'], '91330102MA2C00001P' ],
	[ shop => 'circulation', ['retailer'], '91330102MA2C00002T' ])
{
	my ($key, $segment, $kinds, $uscc) = @$o;
	my $j = created(call($regulator, 'POST', '/v1/operators', { name => "$key co", segment => $segment,
		kinds => $kinds, station => '330102001', address => 'Hangzhou', contact => '0571-1', uscc => $uscc }),
		qr{^/v1/operators/\d+$}, "register $key");
	$op{$key} = $j->{id};
	call($regulator, 'POST', "/v1/operators/$op{$key}/activate");
}
my %tok = map { $_ => make_jwt({ role => 'operator', operator_id => $op{$_} }) } keys %op;

created(call($regulator, 'POST', '/v1/licences', { operator => $op{shop}, licence_no => 'JY13301020000011',
	scope => ['vegetables'], valid_from => '2025-01-01', valid_to => '2029-12-31' }),
	qr{^/v1/licences/\d+$}, 'licence');
my $product = created(call($tok{farm}, 'POST', '/v1/products', { name => 'cabbage', category => 'vegetables', edible_agricultural => JSON::PP::true }),
	qr{^/v1/products/\d+$}, 'product')->{id};
my $code = created(call($tok{farm}, 'POST', '/v1/batches', { product => $product, qty => '500 kg',
	produced_on => '2025-06-01' }), qr{^/v1/batches/\S+$}, 'batch')->{trace_code};
created(call($tok{farm}, 'POST', '/v1/inspections', { code => $code, kind => 'release', result => 'pass',
	report => { certificate_no => 'QC-1', inspector => 'Zhang' } }), qr{^/v1/inspections/\d+$}, 'inspection');
my $link = created(call($tok{farm}, 'POST', '/v1/shipments', { code => $code, buyer => $op{shop}, qty => '100 kg' }),
	qr{^/v1/shipments/\d+$}, 'shipment')->{link};
my $r = call($tok{farm}, 'POST', '/v1/shipments', { code => $code, buyer => $op{shop}, qty => '1 kg' },
	'Idempotency-Key' => 'contract-1');
my $replay = call($tok{farm}, 'POST', '/v1/shipments', { code => $code, buyer => $op{shop}, qty => '1 kg' },
	'Idempotency-Key' => 'contract-1');
is($r->{status}, 201, 'a sale with an Idempotency-Key') or diag($r->{content});
is($replay->{headers}{'idempotent-replayed'}, 'true', 'a replay') or diag($replay->{status} . ' ' . $replay->{content});
is($replay->{headers}{location}, $r->{headers}{location}, 'a replayed 201 has the same Location');
created(call($tok{farm}, 'POST', '/v1/consumptions', { code => $code, qty => '5 kg', kind => 'destroyed' }),
	qr{^/v1/consumptions/\d+$}, 'consumption');
created(call($regulator, 'POST', '/v1/recalls', { code => $code, reason => 'test' }), qr{^/v1/recalls/\d+$}, 'recall');
created(call($admin, 'POST', '/v1/admin/clients', { client => 'erp-1', name => 'ERP' }),
	qr{^/v1/admin/clients/erp-1$}, 'client');

# ---- ids as strings -------------------------------------------------------------------
my $inbox = call($tok{shop}, 'GET', '/v1/shipments/inbox');
is($inbox->{status}, 200, 'inbox: 200');
my ($draft) = grep { $_->{link} eq $link } @{ $inbox->{json} };
ok($draft, 'inbox: the sale is a draft');
# JSON::PP keeps the JSON type: a string stays a string through a round trip
is(encode_json([ @$draft{qw(link seller product)} ]), encode_json([ "$link", "$op{farm}", "$product" ]),
	'inbox: link, seller and product are strings');
ok(compact($inbox->{content}), 'inbox: compact JSON');
my $cp = call($admin, 'POST', '/v1/ledger/checkpoint');
is($cp->{status}, 201, 'checkpoint: 201');
like($cp->{content}, qr/"tree_size":"\d+"/, 'checkpoint: tree_size is a string');
my $entry = $node->safe_psql('postgres', 'select min(id) from shilian.ledger');
my $proof = call($tok{farm}, 'GET', "/v1/ledger/proofs/inclusion?entry=$entry");
is($proof->{status}, 200, 'inclusion proof: 200') or diag($proof->{content});
like($proof->{content}, qr/"tree_size":"\d+"/, 'inclusion proof: tree_size is a string, as in the export');
like($proof->{content}, qr/"leaf_index":"\d+"/, 'inclusion proof: leaf_index is a string');
is($node->safe_psql('postgres', "select shilian.verify_inclusion('" . $proof->{content} . "'::jsonb)"), 't',
	'the proof with strings still verifies');

# ids in bodies: a string of digits (or a number, for older clients), nothing else
$r = call($tok{farm}, 'POST', '/v1/batches', { product => 'abc', qty => '1 kg' });
is_deeply([ $r->{status}, $r->{json}{code}, $r->{json}{details} ],
	[ 400, 'GW400', 'product (expected an id: a string of digits)' ], 'an id that is not digits: 400 naming the field');
is(call($tok{farm}, 'POST', '/v1/batches', { product => 0 + $product, qty => '1 kg', produced_on => '2025-06-01' })->{status},
	201, 'an id as a number is still taken');

# ---- one spacing ------------------------------------------------------------------------
for my $p ('/v1/version', "/v1/operators/$op{farm}", "/v1/batches/$code", '/v1/operators?limit=2',
	"/v1/trace/$code/forward", "/v1/trace/$code/graph")
{
	my $x = call($regulator, 'GET', $p);
	ok(compact($x->{content}), "$p: compact JSON") or diag($x->{content});
}
ok(compact(call($regulator, 'GET', '/v1/nope')->{content}), 'an error: compact JSON');

# ---- query parameters ---------------------------------------------------------------------
for my $c ([ '/v1/operators?sort=name', 'unknown query parameter', 'sort' ],
	[ '/v1/operators?limit=-1', 'invalid query parameter', 'limit: must be an integer from 0 to 1000' ],
	[ '/v1/operators?limit=1001', 'invalid query parameter', 'limit: must be an integer from 0 to 1000' ],
	[ '/v1/operators?limit=ten', 'invalid query parameter', 'limit: must be an integer' ],
	[ '/v1/operators?status=bogus', 'invalid query parameter', 'status: must be one of registered, active, suspended' ],
	[ '/v1/operators?limit=1&limit=2', 'query parameter given twice', 'limit' ],
	[ '/v1/version?x=1', 'unknown query parameter', 'x' ],
	[ "/v1/trace/$code/forward?as_of=yesterday", 'invalid query parameter', qr/^as_of: must be an RFC 3339 timestamp/ ],
	[ "/v1/trace/$code/forward?as_of=2026-01-01T00:00:00", 'invalid query parameter', qr/^as_of: must be an RFC 3339/ ],
	[ '/v1/regulator/jurisdictions/330000/stats?from=01/12/2026', 'invalid query parameter', 'from: must be a date YYYY-MM-DD' ],
	[ '/v1/regulator/jurisdictions/330000/stats?from=2026-02-30', 'invalid query parameter', 'from: must be a date YYYY-MM-DD' ],
	[ '/v1/ledger/proofs/inclusion', 'missing required query parameter', 'entry' ],
	[ '/v1/operators/abc', 'invalid path parameter', 'id: must be an id: digits' ])
{
	my ($path, $message, $details) = @$c;
	my $x = call($regulator, 'GET', $path);
	is_deeply([ $x->{status}, $x->{json}{code}, $x->{json}{message} ], [ 400, 'GW400', $message ], "$path: 400 GW400 $message");
	if (ref $details) { like($x->{json}{details}, $details, "$path: names the parameter and the rule") }
	else { is($x->{json}{details}, $details, "$path: names the parameter and the rule") }
}
is(call($regulator, 'GET', "/v1/trace/$code/forward?as_of=2026-01-01T00:00:00%2B08:00&max_depth=2")->{status}, 200,
	'a timestamp with an offset and an integer in range: 200');
is(call($regulator, 'GET', '/v1/regulator/jurisdictions/330000/stats?from=2024-02-29&to=2024-03-31')->{status}, 200,
	'valid dates: 200');

# ---- Range (PostgREST) ----------------------------------------------------------------------
$r = call($regulator, 'GET', '/v1/operators', undef, Range => '0-0', 'Range-Unit' => 'items');
is($r->{status}, 206, 'Range 0-0: 206 Partial Content');
is($r->{headers}{'content-range'}, '0-0/2', 'Range 0-0: Content-Range 0-0/2');
is(scalar @{ $r->{json} }, 1, 'Range 0-0: one row');
$r = call($regulator, 'GET', '/v1/operators', undef, Range => 'items=1-');
is_deeply([ $r->{status}, $r->{headers}{'content-range'}, scalar @{ $r->{json} } ], [ 206, '1-1/2', 1 ],
	'Range items=1-: 206, the rest');
$r = call($regulator, 'GET', '/v1/operators', undef, Range => '0-9');
is_deeply([ $r->{status}, $r->{headers}{'content-range'} ], [ 200, '0-1/2' ], 'a Range covering the whole list: 200');
$r = call($regulator, 'GET', '/v1/operators', undef, Range => '5-9');
is_deeply([ $r->{status}, $r->{json}{code}, $r->{headers}{'content-range'} ], [ 416, 'GW416', '*/2' ],
	'a Range past the end: 416 GW416 with Content-Range */2');
$r = call($regulator, 'GET', '/v1/operators', undef, Range => '3-1');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 416, 'GW416' ], 'last before first: 416');
$r = call($regulator, 'GET', '/v1/operators?limit=1', undef, Range => '0-0');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 400, 'GW400' ], 'Range with limit=: 400');
$r = call($regulator, 'GET', '/v1/operators', undef, Range => '0-0', 'Range-Unit' => 'bytes');
is($r->{status}, 200, 'another Range-Unit: ignored');
$r = call($tok{farm}, 'GET', '/v1/batches', undef, Range => '0-0');
is_deeply([ $r->{status}, $r->{headers}{'content-range'} ], [ 206, '0-0/*' ], '/v1/batches with Range: 206');

# ---- the OpenAPI description carries the declarations ---------------------------------------
my $doc = call(undef, 'GET', '/openapi.json')->{json};
my %params = map { $_->{name} => $_ } @{ $doc->{paths}{'/v1/operators'}{get}{parameters} };
is_deeply($params{limit}{schema}, { type => 'integer', minimum => 0, maximum => 1000 }, 'openapi: limit with its bounds');
is_deeply($params{status}{schema}{enum}, [qw(registered active suspended)], 'openapi: status with its enum');
is($doc->{paths}{'/v1/operators'}{get}{operationId}, 'listOperators', 'openapi: camelCase operationId');
ok($doc->{paths}{'/v1/operators'}{get}{responses}{206}, 'openapi: 206 on a paged list');
is($doc->{paths}{'/v1/batches'}{post}{responses}{201}{headers}{Location}{schema}{type}, 'string', 'openapi: Location on 201');
is($doc->{components}{securitySchemes}{apiKey}{name}, 'X-API-Key', 'openapi: the apiKey scheme');
is($doc->{paths}{'/epcis/events'}{get}{responses}{400}{'$ref'}, '#/components/responses/Problem',
	'openapi: /epcis errors are problem documents');
ok($doc->{paths}{'/v1/import'}{post}{requestBody}{content}{'text/csv'}, 'openapi: /v1/import takes text/csv');
is_deeply($doc->{paths}{'/v1/batches'}{post}{requestBody}{content}{'application/json'}{schema}{properties}{product}{type},
	[ 'string', 'integer' ], 'openapi: a body id is typed (digits string, or integer)');
is($doc->{paths}{'/v1/batches'}{post}{requestBody}{content}{'application/json'}{schema}{properties}{produced_on}{format},
	'date', 'openapi: a body date has format date');
my %ops;
$ops{ $_->{operationId} }++ for map { values %$_ } values %{ $doc->{paths} };
is(scalar(grep { $ops{$_} > 1 || !/^[a-z][A-Za-z0-9]*$/ } keys %ops), 0, 'openapi: operationIds unique and camelCase');

stop_gateway($gw);
$node->stop;
done_testing();
