# The API contract end to end: /openapi.json from a running gateway is linted
# by a real OpenAPI linter (Redocly CLI, recommended rules) with zero errors,
# a client is generated from it by a standard generator (@hey-api/openapi-ts,
# compiled by tsc) and node calls routes of the demo through that client:
# the version, a POST that creates a batch (201 with Location), the batch by
# its code, and the list with Range paging (206). The tools are installed by
# `make deps` into tests/node (package.json and package-lock.json there); a
# missing tool fails this test, it never skips.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use File::Path qw(make_path);
use ShilianTest;

my $top = "$ENV{SHILIAN_TOP}";
$top = '.' unless $top;
my $bin = "$top/tests/node/node_modules/.bin";
for my $tool (qw(redocly openapi-ts tsc))
{
	ok(-x "$bin/$tool", "$tool installed by make deps (tests/node)")
	  or BAIL_OUT("$bin/$tool missing: run make deps");
}

my $node = shilian_node('gw_contract');
$node->safe_psql('postgres', q{
	select shilian.jurisdiction_add('330000', '浙江省');
	select shilian.jurisdiction_add('330100', '杭州市');
	select shilian.jurisdiction_add('330102', '上城区');
	select shilian.jurisdiction_add('330102001', '湖滨所');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $regulator = make_jwt({ role => 'regulator', jurisdiction => '330000' });
sub call
{
	my ($token, $method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path, defined $body ? (body => encode_json($body)) : (),
		headers => { Authorization => "Bearer $token", 'Content-Type' => 'application/json' });
	$r->{json} = json_body($r);
	return $r;
}
my $farm = call($regulator, 'POST', '/v1/operators', { name => 'Hubin vegetable cooperative', segment => 'production',
	kinds => ['farm'], station => '330102001', address => '杭州', contact => '0571-1',
	uscc => '91330102MA2C00001P' });
is($farm->{status}, 201, 'demo: a farm registered') or diag($farm->{content});
my $farm_id = $farm->{json}{id};
call($regulator, 'POST', "/v1/operators/$farm_id/activate");
my $token = make_jwt({ role => 'operator', operator_id => $farm_id });
my $product = call($token, 'POST', '/v1/products', { name => 'bok choy', category => 'vegetables' })->{json}{id};
like($product, qr/^\d+$/, 'demo: a product');

# ---- lint -------------------------------------------------------------------
my $dir = "$PostgreSQL::Test::Utils::tmp_check/contract";
make_path($dir);
my $r = http_call($gw, 'GET', '/openapi.json');
is($r->{status}, 200, 'openapi.json: 200');
open my $fh, '>', "$dir/openapi.json" or die;
print $fh $r->{content};
close $fh;
local $ENV{REDOCLY_TELEMETRY} = 'off';
local $ENV{REDOCLY_SUPPRESS_UPDATE_NOTICE} = 'true';
local $ENV{NO_UPDATE_NOTIFIER} = '1';
my $lint = `cd $dir && "$bin/redocly" lint --format=json openapi.json 2>lint.err`;
my $lint_rc = $? >> 8;
my $report = eval { decode_json($lint) } // {};
my @errors = grep { $_->{severity} eq 'error' } @{ $report->{problems} // [] };
is($lint_rc, 0, 'redocly lint: exit 0') or diag($lint);
is(scalar @errors, 0, 'redocly lint: zero errors')
  or diag(join "\n", map { "$_->{ruleId}: $_->{message} at " . ($_->{location}[0]{pointer} // '') } @errors);
ok(defined $report->{totals}, 'redocly lint: a report was read') or diag($lint);

# ---- generate, compile, call --------------------------------------------------
my $gen = `cd $dir && "$bin/openapi-ts" -i openapi.json -o client -c \@hey-api/client-fetch 2>&1`;
is($? >> 8, 0, 'openapi-ts generated a client') or diag($gen);
ok(-f "$dir/client/sdk.gen.ts", 'the client has an SDK module') or diag(`ls -R $dir/client`);
my $tsc = `cd $dir && "$bin/tsc" --outDir js --module nodenext --moduleResolution nodenext --target es2022 --lib es2022,dom,dom.iterable --strict --skipLibCheck client/index.ts 2>&1`;
is($? >> 8, 0, 'tsc compiled the generated client') or diag($tsc);

# tsc emits CommonJS (no "type": "module" here); the ES module script imports it
open $fh, '>', "$dir/js/call.mjs" or die;
print $fh <<'JS';
import * as api from './index.js';
import { client } from './client.gen.js';
const [baseUrl, token, product] = process.argv.slice(2);
// the bearer scheme gets the token; the apiKey scheme gets nothing (one credential per request)
client.setConfig({ baseUrl, auth: (scheme) => (scheme.scheme === 'bearer' ? token : undefined) });
const out = {};
let r = await api.getVersion();
out.version = { status: r.response.status, body: r.data };
r = await api.createBatch({ body: { product, qty: '120 kg', produced_on: '2025-06-01' } });
out.create = { status: r.response.status, body: r.data, location: r.response.headers.get('location') };
out.create.error = r.error;
r = await api.getBatch({ path: { code: out.create.body?.trace_code ?? 'none' } });
out.get = { status: r.response.status, body: r.data };
await api.createBatch({ body: { product, qty: '5 kg', produced_on: '2025-06-02' } });
r = await api.listBatches({ headers: { Range: '0-0', 'Range-Unit': 'items' } });
out.page = { status: r.response.status, body: r.data, range: r.response.headers.get('content-range') };
r = await api.listOperators({ query: { status: 'bogus' } });
out.refused = { status: r.response.status, body: r.error };
console.log(JSON.stringify(out));
JS
close $fh;
my $ran = `cd $dir/js && node call.mjs "$gw->{url}" "$token" "$product" 2>&1`;
is($? >> 8, 0, 'node ran the generated client') or diag($ran);
my $out = eval { decode_json($ran) } // {};
is($out->{version}{status}, 200, 'getVersion: 200');
like($out->{version}{body}{gateway} // '', qr/^\d+\.\d+\.\d+/, 'getVersion: the gateway version');
is($out->{create}{status}, 201, "createBatch: 201") or diag(explain($out->{create}));
my $code = $out->{create}{body}{trace_code} // '';
ok($code ne '', 'createBatch: a trace code');
is($out->{create}{location}, "/v1/batches/$code", 'createBatch: Location names the batch');
is($out->{get}{status}, 200, 'getBatch: 200');
is($out->{get}{body}{trace_code}, $code, 'getBatch: the batch created');
is($out->{get}{body}{product_id}, $product, 'getBatch: ids are strings');
is($out->{get}{body}{qty}, '120 kg', 'getBatch: its quantity');
is($out->{page}{status}, 206, 'listBatches with Range: 206 Partial Content');
is(scalar @{ $out->{page}{body} // [] }, 1, 'listBatches with Range 0-0: one row');
is($out->{page}{range}, '0-0/*', 'listBatches: Content-Range');
is($out->{refused}{status}, 400, 'listOperators status=bogus: 400');
is($out->{refused}{body}{code}, 'GW400', 'listOperators status=bogus: GW400');
like($out->{refused}{body}{details} // '', qr/^status: must be one of/, 'the refusal names the parameter and the rule');

stop_gateway($gw);
$node->stop;
done_testing();
