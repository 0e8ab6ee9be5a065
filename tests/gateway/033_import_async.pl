# Imports followable over REST (docs/integration.md, "Following an upload"):
# POST /v1/import answers 202 Accepted with Location: /v1/import/{id} as soon
# as the body is staged, and applies it in the background; GET on the
# Location, from other requests, shows the counts growing (seen strictly
# between 0 and the total at least once) and the refused lines' errors, and
# ends with exact counts; GET /v1/import lists the caller's jobs newest first
# (limit, offset); another client's job is 404 and not listed; Prefer: wait
# keeps the synchronous 201 with Location and Preference-Applied: wait.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(usleep time);
use ShilianTest;

my $node = shilian_node('gw_import_async');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	create table o as select
		shilian.operator_register('卖方', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'Q-1') as s,
		shilian.operator_register('买方', 'circulation', '{retailer}', '370112001', 'b', '2', reg_card => 'Q-2') as b,
		shilian.operator_register('别家', 'production', '{processor}', '370112001', 'c', '3', reg_card => 'Q-3') as other,
		shilian.product_register('面粉', 'grain', shelf_life_days => 180) as flour;
	select shilian.operator_activate(x) from o, unnest(array[s, b, other]) x;
	select shilian.licence_add(s, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') from o;
	select shilian.api_client_add('erp', 'ERP');
	select shilian.api_client_bind('erp', x) from o, unnest(array[s, b]) x;
	select shilian.api_client_add('erp-other', '别家 ERP');
	select shilian.api_client_bind('erp-other', other) from o;
	select concat_ws(' ', s, b, shilian.batch_create(s, flour, '500 t', current_date - 5),
		shilian.api_client_key_new('erp'), shilian.api_client_key_new('erp-other')) from o;
});
my ($s, $b, $code, $key, $other_key) = split ' ', (split /\n/, $out)[-1];
my $json = JSON::PP->new->canonical->utf8;
my $total = 100_000;
# every 10,000th line sells to an operator that does not exist: refused
my @bad = map { $_ * 10_000 } 1 .. 10;
my %bad = map { $_ => 1 } @bad;
my $body = join('', map { $json->encode({ kind => 'ship', code => $code, buyer => $bad{$_} ? 999999 : 0 + $b,
	qty => '1 g' }) . "\n" } 1 .. $total);

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway',
	args => [ '--import-chunk-lines', '5000' ]);

sub get
{
	my ($k, $path) = @_;
	my $r = http_call($gw, 'GET', $path, headers => { 'X-API-Key' => $k });
	$r->{json} = json_body($r);
	return $r;
}

my $links0 = $node->safe_psql('postgres', 'select count(*) from shilian.link');

# ---- 202 at once, applied in the background ---------------------------------------------
my $t0 = time;
my $r = http_call($gw, 'POST', '/v1/import', body => $body,
	headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson' });
my $accepted = json_body($r) // {};
is($r->{status}, 202, 'POST /v1/import: 202 Accepted') or diag($r->{content});
my $job = $accepted->{id};
like($job // '', qr/^[1-9][0-9]*$/, 'the job id, as a JSON string');
ok(!ref($accepted->{id}) && JSON::PP->new->encode([$accepted->{id}]) =~ /^\["/, 'the id is a string, not a number');
is($r->{headers}{location}, "/v1/import/$job", 'Location names the job');
is($accepted->{status}, 'running', 'the body says running');
is($accepted->{total}, $total, 'with the lines read');
ok(!exists $r->{headers}{'preference-applied'}, 'no Preference-Applied without Prefer: wait');

# the job is staged and committed when the 202 is sent: its lines are all there or applied
is($node->safe_psql('postgres', "select total from shilian.import_job where id = $job"), $total,
	'the job exists, committed, with its total, when the 202 arrives');

# ---- followed from other requests -------------------------------------------------------
my ($between, $last, @seen) = (0, undef);
for (1 .. 6000)
{
	$r = get($key, "/v1/import/$job");
	last unless $r->{status} == 200;
	$last = $r->{json};
	push @seen, "$last->{status}:$last->{done}" if !@seen || $seen[-1] ne "$last->{status}:$last->{done}";
	$between++ if $last->{done} > 0 && $last->{done} < $total && $last->{status} eq 'running';
	last if $last->{status} ne 'running';
	usleep(20_000);
}
is($r->{status}, 200, 'GET /v1/import/{id}: 200');
ok($between > 0, 'progress seen strictly between 0 and the total while running') or diag("@seen");
is($last->{status}, 'applied', 'the job ends applied') or diag(explain($last));
is_deeply([ @{$last}{qw(total done accepted refused)} ], [ $total, $total, $total - 10, 10 ],
	'exact final counts: lines read, done, applied, refused');
ok($last->{created_at} && $last->{finished_at}, 'with its timestamps');
is_deeply([ map { $_->{line} } @{ $last->{errors} } ], \@bad, 'the refused lines, by line number') or diag(explain($last->{errors}[0]));
ok(!grep({ !$_->{sqlstate} || !$_->{message} } @{ $last->{errors} }), 'each with its SQLSTATE and message');
is($node->safe_psql('postgres', 'select count(*) from shilian.link') - $links0, $total - 10,
	'exactly the valid lines recorded');
is($node->safe_psql('postgres', "select count(*) from shilian.import_stage where job_id = $job"), '0',
	'nothing left staged');

# ---- the caller's jobs ----------------------------------------------------------------------
$r = http_call($gw, 'POST', '/v1/import', body => $json->encode({ kind => 'ship', code => $code,
	buyer => 0 + $b, qty => '1 g' }) . "\n",
	headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson', Prefer => 'wait' });
my $wait = json_body($r) // {};
is($r->{status}, 201, 'Prefer: wait: 201 once applied');
is($r->{headers}{'preference-applied'}, 'wait', 'with Preference-Applied: wait');
is($r->{headers}{location}, "/v1/import/$wait->{id}", 'and Location');
is_deeply([ @{$wait}{qw(status total accepted)} ], [ 'applied', 1, 1 ], 'the answer is the applied job');

$r = get($key, '/v1/import');
is($r->{status}, 200, 'GET /v1/import: 200');
is_deeply([ map { $_->{id} } @{ $r->{json} } ], [ $wait->{id}, $job ], "the caller's jobs, newest first");
is_deeply([ map { $_->{id} } @{ get($key, '/v1/import?limit=1')->{json} } ], [ $wait->{id} ], 'limit=1');
is_deeply([ map { $_->{id} } @{ get($key, '/v1/import?limit=1&offset=1')->{json} } ], [ $job ], 'offset=1');
$r = get($key, '/v1/import?limit=0');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 400, 'GW400' ], 'limit=0: 400 GW400 (the declared range; SLI06 in SQL)');
$r = get($key, '/v1/import?offset=-1');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 400, 'GW400' ], 'offset=-1: 400 GW400 (the declared range)');

# ---- another client sees none of them -----------------------------------------------------
is(get($other_key, "/v1/import/$job")->{status}, 404, "another client's job: 404");
is(get($other_key, "/v1/import/$job/lines")->{status}, 404, "nor its lines");
is_deeply(get($other_key, '/v1/import')->{json}, [], 'nor listed');
is(http_call($gw, 'GET', '/v1/import')->{status}, 401, 'without credentials: 401');

# ---- a gateway stopped after the 202, mid-apply: the job is not lost ---------------------------
# Its runner lets the job go after the current step; the next gateway's sweep
# resumes it from the staged lines, with exact counts.
my $n2 = 40_000;
my $body2 = join('', map { $json->encode({ kind => 'ship', code => $code, buyer => 0 + $b, qty => '1 g' }) . "\n" }
	1 .. $n2);
$links0 = $node->safe_psql('postgres', 'select count(*) from shilian.link');
$r = http_call($gw, 'POST', '/v1/import', body => $body2,
	headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson', 'Idempotency-Key' => 'stop-1' });
is($r->{status}, 202, 'a second upload: 202');
my $job2 = (json_body($r) // {})->{id};
my $done2 = 0;
for (1 .. 6000)
{
	$done2 = $node->safe_psql('postgres', "select done from shilian.import_job where id = $job2");
	last if $done2 > 0;
	usleep(10_000);
}
stop_gateway($gw);
my ($st2, $d2) = split ' ', $node->safe_psql('postgres',
	"select concat_ws(' ', shilian.import_status($job2) ->> 'status', done) from shilian.import_job where id = $job2");
ok(($st2 eq 'interrupted' && $d2 < $n2) || $st2 eq 'applied', "the gateway stopped with the job $st2 at $d2 of $n2");
$gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway',
	args => [ '--import-chunk-lines', '5000', '--import-sweep-ms', '500' ]);
for (1 .. 1200)
{
	$last = get($key, "/v1/import/$job2")->{json};
	last if ($last->{status} // '') eq 'applied';
	usleep(100_000);
}
is_deeply([ @{$last}{qw(status total done accepted refused)} ], [ 'applied', $n2, $n2, $n2, 0 ],
	'the next gateway resumed it: applied, exact counts');
is($node->safe_psql('postgres', 'select count(*) from shilian.link') - $links0, $n2, 'each line recorded once');

stop_gateway($gw);
$node->stop;
done_testing();
