# A gateway killed (kill -9) in the middle of applying a large upload
# (60,000 lines, in committed steps of 5,000) strands nothing
# (docs/integration.md, "Transport and lifecycle"): once its sessions are
# gone the job shows "interrupted", never "running"; the restarted gateway's
# sweep resumes it from its staged lines to "applied" with exact counts
# (every line applied once, no staging left, chains verifying), and a retry
# with the same key replays it. When the staging is lost as well (the
# database server crashes too: import_stage is unlogged), the sweep fails
# the job with the reason and its staging removed, and the retry with the
# same key applies exactly the lines not applied yet.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(usleep);
use ShilianTest;

my $node = shilian_node('import_gateway_crash');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	create table o as select
		shilian.operator_register('卖方', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'K-1') as s,
		shilian.operator_register('买方', 'circulation', '{retailer}', '370112001', 'b', '2', reg_card => 'K-2') as b,
		shilian.product_register('面粉', 'grain', shelf_life_days => 180) as flour;
	select shilian.operator_activate(x) from o, unnest(array[s, b]) x;
	select shilian.licence_add(s, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') from o;
	select shilian.api_client_add('erp', 'ERP');
	select shilian.api_client_bind('erp', x) from o, unnest(array[s, b]) x;
	select concat_ws(' ', s, b, shilian.batch_create(s, flour, '500 t', current_date - 5),
		shilian.api_client_key_new('erp')) from o;
});
my ($s, $b, $code, $key) = split ' ', (split /\n/, $out)[-1];
my $json = JSON::PP->new->canonical->utf8;
my $body = join('', map { $json->encode({ kind => 'ship', code => $code, buyer => 0 + $b, qty => '1 g' }) . "\n" }
	1 .. 60000);
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway';
my @args = ('--import-chunk-lines', '5000', '--import-sweep-ms', '1000');

sub sql { $node->safe_psql('postgres', shift) }

sub upload
{
	my ($gw, $k) = @_;
	my $r = http_call($gw, 'POST', '/v1/import', body => $body,
		headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson', 'Idempotency-Key' => $k, Prefer => 'wait' });
	$r->{json} = json_body($r);
	return $r;
}

# start the upload in a child, kill -9 the gateway once $at lines are done; the job's id
sub upload_and_kill
{
	my ($gw, $k, $at) = @_;
	my $child = fork();
	if ($child == 0)
	{
		upload($gw, $k);
		POSIX::_exit(0);
	}
	my $job;
	for (1 .. 2400)
	{
		my $row = sql("select id || ' ' || done from shilian.import_job where idempotency_key = '$k'");
		my ($id, $done) = split ' ', $row;
		if (defined $done && $done >= $at) { $job = $id; last; }
		usleep(50_000);
	}
	kill 'KILL', $gw->{pid};
	waitpid($gw->{pid}, 0);
	waitpid($child, 0);
	return $job;
}

sub wait_for
{
	my ($query, $want, $tries) = @_;
	my $got = '';
	for (1 .. ($tries // 600))
	{
		$got = sql($query);
		return $got if $got eq $want;
		usleep(100_000);
	}
	return $got;
}

# ---- killed mid-apply, resumed from the staging ---------------------------------------
my $links0 = sql('select count(*) from shilian.link');
my $gw1 = start_gateway($node, dsn => $dsn, args => \@args, no_valgrind => 1);
my $job = upload_and_kill($gw1, 'crash-1', 10000);
ok($job, 'the gateway was killed with part of the upload applied');
my ($stored, $done, $total, $staged) = split ' ', sql(qq{select concat_ws(' ', status, done, total,
	(select count(*) from shilian.import_stage where job_id = $job)) from shilian.import_job where id = $job});
ok($stored eq 'running' && $done >= 10000 && $done < 60000 && $total == 60000,
	"killed at $done of $total lines done") or diag("$stored $done $total");
is($staged, $total - $done, 'the lines not applied are still staged');
is(wait_for("select shilian.import_status($job) ->> 'status'", 'interrupted'), 'interrupted',
	'once the gateway\'s sessions are gone, the job shows interrupted, not running');
is(wait_for(q{select count(*) from pg_stat_activity where usename = 'shilian_gateway'}, '0'), '0',
	'no session of the killed gateway is left');

my $gw2 = start_gateway($node, dsn => $dsn, args => \@args);
is(wait_for("select status from shilian.import_job where id = $job", 'applied', 1800), 'applied',
	'the restarted gateway resumed the job to applied');
is(sql(qq{select concat_ws(' ', total, done, accepted, refused, failure is null,
	(select count(*) from shilian.import_stage where job_id = $job),
	(select count(distinct line_no) from shilian.import_line where job_id = $job and status = 'accepted'))
	from shilian.import_job where id = $job}), '60000 60000 60000 0 t 0 60000',
	'exact counts: every line accepted once, nothing staged');
is(sql('select count(*) from shilian.link') - $links0, 60000, 'exactly 60,000 sales recorded');
is(sql(qq{select count(*) from shilian.link l join shilian.import_line i on i.result::bigint = l.id
	where i.job_id = $job}), 60000, 'each the sale of its line');
is(sql('select count(*) from shilian.chain_verify(NULL) where not ok'), '0', 'every chain verifies');
my $r = http_call($gw2, 'GET', "/v1/import/$job", headers => { 'X-API-Key' => $key });
is(json_body($r)->{status}, 'applied', 'GET /v1/import/{id}: applied');
$r = upload($gw2, 'crash-1');
is_deeply([ $r->{status}, $r->{headers}{'idempotent-replayed'}, $r->{json}{id}, $r->{json}{accepted} ],
	[ 201, 'true', $job, 60000 ], 'the retry with the same key replays the job');
is(sql('select count(*) from shilian.link') - $links0, 60000, 'and records nothing');

# ---- killed, and the database server crashes too: the staging is lost -------------------
my $links1 = sql('select count(*) from shilian.link');
$job = upload_and_kill($gw2, 'crash-2', 10000);
$done = sql("select done from shilian.import_job where id = $job");
ok($done >= 10000 && $done < 60000, "killed at $done of 60000 lines done");
$node->stop('immediate');
$node->start;
# the test cluster commits asynchronously: the last steps may be lost with the crash, whole
$done = sql("select done from shilian.import_job where id = $job");
is(sql("select count(*) from shilian.import_line where job_id = $job"), $done,
	'after the crash the job\'s count matches its report');
is(sql("select count(*) from shilian.import_stage where job_id = $job"), '0',
	'crash recovery emptied the unlogged staging');
my $gw3 = start_gateway($node, dsn => $dsn, args => \@args);
is(wait_for("select status from shilian.import_job where id = $job", 'failed', 1800), 'failed',
	'the sweep fails the job whose staged lines were lost');
like(sql("select failure from shilian.import_job where id = $job"),
	qr/^\d+ of the \d+ lines not applied yet were lost from the staging .*same Idempotency-Key/,
	'with the reason');
$r = http_call($gw3, 'GET', "/v1/import/$job", headers => { 'X-API-Key' => $key });
is_deeply([ @{ json_body($r) }{qw(status done)} ], [ 'failed', $done ], 'GET /v1/import/{id}: failed, with what it did');
is(sql('select count(*) from shilian.link') - $links1, $done, 'the lines applied before the crash stay');
$r = upload($gw3, 'crash-2');
is_deeply([ $r->{status}, @{ $r->{json} }{qw(id status total done accepted refused)} ],
	[ 201, $job, 'applied', 60000, 60000, 60000, 0 ],
	'the retry with the same key applies the rest under the same job');
is(sql('select count(*) from shilian.link') - $links1, 60000, 'exactly 60,000 sales in all: none twice');
is(sql(qq{select count(distinct line_no) from shilian.import_line where job_id = $job and status = 'accepted'}),
	60000, 'one report per line');
is(sql('select count(*) from shilian.chain_verify(NULL) where not ok'), '0', 'every chain verifies');

stop_gateway($gw3);
$node->stop;
done_testing();
