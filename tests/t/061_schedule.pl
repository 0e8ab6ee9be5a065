# Scheduled work (docs/install.md "Scheduled jobs"): without pg_cron,
# schedule_jobs() refuses with SLX02 (or SLX03 when pg_cron serves another
# database); with pg_cron it registers exactly the jobs of job_plan(), once
# each however often it runs, and pg_cron runs them as written; the monthly
# report job's function stores one report per province, city and county for
# a given past month, equal to monthly_report(), with one NOTIFY each, and
# refuses a month not ended; regulators read only their subtree's reports;
# unschedule_jobs() removes the jobs. No expected value depends on today.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $top = $ENV{SHILIAN_TOP} or die 'SHILIAN_TOP is not set';
my $node = PostgreSQL::Test::Cluster->new('schedule');
# pg_cron is Debian's package for Debian's server: a server built here (make
# test-assert's) has no pg_cron module to preload.
my $pkglibdir = $node->config_data('--pkglibdir');
plan skip_all => "pg_cron is not installed for this server ($pkglibdir)" unless -f "$pkglibdir/pg_cron.so";
$node->init;
# pg_cron in database postgres, connecting over this node's socket (trust)
$node->append_conf('postgresql.conf', "fsync = off\nshared_preload_libraries = 'pg_cron'\n"
	  . "cron.database_name = 'postgres'\ncron.host = '" . $node->host . "'\n");
$node->start;
$node->safe_psql('postgres', 'SET client_min_messages = warning; CREATE EXTENSION shilian');
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'SET client_min_messages = warning; CREATE EXTENSION shilian');

# ---- without pg_cron ------------------------------------------------------------
my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT * FROM shilian.schedule_jobs()");
like($err, qr/ERROR:  SLX02: pg_cron is not installed in this database/, 'no pg_cron here: SLX02');
like($err, qr/HINT:  Install postgresql-15-cron.*job_plan\(\)/, 'the hint says how, or what to run instead');
($ret, $out, $err) = $node->psql('other', "\\set VERBOSITY verbose\nSELECT shilian.unschedule_jobs()");
like($err, qr/ERROR:  SLX03: pg_cron serves database postgres, not other/, 'pg_cron in another database: SLX03');
like($err, qr/cron\.schedule_in_database\(jobname, schedule, command, 'other'\)/, 'the hint gives the call to run there');

my $plan = $node->safe_psql('postgres', q{SELECT string_agg(jobname || ' ' || schedule || ' ' || command, E'\n' ORDER BY jobname) FROM shilian.job_plan()});
is($plan, join("\n",
	'shilian_alerts_scan 30 18 * * * SET ROLE shilian_admin; SELECT shilian.alerts_scan()',
	'shilian_checkpoint * * * * * SET ROLE shilian_admin; SELECT shilian.checkpoint()',
	'shilian_federation * * * * * SET ROLE shilian_admin; SELECT count(*) FROM shilian.federation_deliver(); SELECT shilian.federation_recall_catch_up()',
	'shilian_figures_cache 47 * * * * SET ROLE shilian_admin; SELECT shilian.figures_cache_refresh()',
	'shilian_idempotency_prune 17 * * * * SET ROLE shilian_admin; SELECT shilian.idempotency_prune()',
	'shilian_ledger_partitions 40 18 * * * SET ROLE shilian_admin; SELECT shilian.partitions_ahead()',
	'shilian_monthly_report 30 0 5 * * SET ROLE shilian_admin; SELECT shilian.monthly_report_publish()'),
	'job_plan: the checkpoint, idempotency_prune, the daily alerts_scan and ledger partitions, the monthly report on the 5th, the federation every minute and the month cache hourly');

# ---- with pg_cron -----------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
# (two statements: the join must see the rows the function inserted)
my $registered = $node->safe_psql('postgres', q{
	CREATE TEMP TABLE s AS SELECT * FROM shilian.schedule_jobs();
	SELECT string_agg(s.jobname || ' ' || s.schedule || ' ' || s.command, E'\n' ORDER BY s.jobname)
	  FROM s JOIN cron.job j ON j.jobid = s.jobid AND j.jobname = s.jobname});
is($registered, $plan, 'schedule_jobs registers the plan with pg_cron and returns the jobs');
my $jobs = q{SELECT string_agg(jobid || ' ' || jobname || ' ' || schedule || ' ' || command || ' ' || username
		|| ' ' || database || ' ' || active, E'\n' ORDER BY jobname) FROM cron.job};
my $first = $node->safe_psql('postgres', $jobs);
is($node->safe_psql('postgres', q{
	SELECT count(*) = 7 AND bool_and(j.username = current_user AND j.database = 'postgres' AND j.active)
	  FROM cron.job j JOIN shilian.job_plan() p USING (jobname, schedule, command)}) . '|'
	  . $node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), 't|7',
	'cron.job holds exactly the seven jobs, active, owned by the caller, in this database');
$node->safe_psql('postgres', 'SELECT * FROM shilian.schedule_jobs()');
is($node->safe_psql('postgres', $jobs), $first, 'run again, schedule_jobs leaves the same jobs (same ids)');

# ---- the monthly report job's function ---------------------------------------------
($ret, $out, $err) = $node->psql('postgres', undef,
	extra_params => [ '-v', 'ON_ERROR_STOP=1', '-c', 'SET client_min_messages = warning', '-f', "$top/tests/demo/province.sql" ]);
is($ret, 0, 'the demo province loads') or diag($err);
my $levels = $node->safe_psql('postgres',
	q{SELECT string_agg(code, ',' ORDER BY code) FROM shilian.jurisdiction WHERE level IN ('province', 'city', 'county')});
my $n = scalar(split /,/, $levels);
cmp_ok($n, '>=', 3, "the demo has a province with cities and counties ($levels)");

($ret, $out, $err) = $node->psql('postgres',
	q{LISTEN shilian_report; SELECT shilian.monthly_report_publish('2024-03-17');});
my @lines = split /\n/, $out;
is($lines[0], $n, 'monthly_report_publish of a past month stores one report per province, city and county');
my @notified = map { /payload "(.*)" received/ ? $1 : () } @lines;
is(join("\n", @notified), join("\n", map { qq({"jurisdiction" : "$_", "month" : "2024-03"}) } split /,/, $levels),
	'and sends NOTIFY shilian_report {"jurisdiction","month"} for each, in code order');
is($node->safe_psql('postgres', q{
	SELECT string_agg(jurisdiction, ',' ORDER BY jurisdiction) FROM shilian.monthly_report_issue WHERE month = '2024-03-01'}),
	$levels, 'the rows are keyed by jurisdiction and the first day of the month');
is($node->safe_psql('postgres', q{
	SELECT bool_and(r.report = shilian.monthly_report('2024-03-01', r.jurisdiction)) AND bool_and(r.report->>'month' = '2024-03')
	  FROM shilian.monthly_report_issue r}), 't', 'each stored report is monthly_report(month, jurisdiction)');
($ret, $out, $err) = $node->psql('postgres',
	q{LISTEN shilian_report; SELECT shilian.monthly_report_publish('2024-03-01');});
is($out, '0', 'published again with the same figures: nothing stored, no NOTIFY');

# the job's call: last month (computed in SQL, compared as a boolean)
is($node->safe_psql('postgres', q{
	CREATE TEMP TABLE p AS SELECT shilian.monthly_report_publish() AS n;
	SELECT (SELECT n FROM p) = (SELECT count(*) FROM shilian.jurisdiction WHERE level <> 'station')
	   AND (SELECT count(*) FROM shilian.monthly_report_issue
			 WHERE month = (date_trunc('month', current_date) - interval '1 month')::date)
		 = (SELECT count(*) FROM shilian.jurisdiction WHERE level <> 'station')}), 't',
	'without an argument it publishes last month (the scheduled call)');
($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT shilian.monthly_report_publish(current_date)");
like($err, qr/ERROR:  SLX04: month not ended: \d{4}-\d\d runs until \d{4}-\d\d-\d\d/, 'the current month is refused (SLX04)');

# who may read and publish
is($node->safe_psql('postgres', q{
	SET ROLE shilian_regulator; SELECT set_config('shilian.jurisdiction', '370102', false);
	SELECT string_agg(DISTINCT jurisdiction, ',') FROM shilian.monthly_report_issue}), "370102\n370102",
	'a county regulator reads only its own reports');
($ret, $out, $err) = $node->psql('postgres', q{SET ROLE shilian_regulator; SELECT shilian.monthly_report_publish('2024-04-01')});
like($err, qr/permission denied for function monthly_report_publish/, 'a regulator cannot publish');
is($node->safe_psql('postgres', q{SET ROLE shilian_admin; SELECT shilian.monthly_report_publish('2024-04-01')}), $n,
	'the admin can (the role the job runs as)');

# ---- pg_cron runs the jobs as written --------------------------------------------------
# The checkpoint job runs every minute; wait for a run after the demo's last entry.
my $done = '';
for (1 .. 150)
{
	$done = $node->safe_psql('postgres', q{
		SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		 WHERE j.jobname = 'shilian_checkpoint' AND d.end_time IS NOT NULL ORDER BY d.runid DESC LIMIT 1});
	last if $done ne '';
	usleep(1_000_000);
}
is($done, 'succeeded', 'pg_cron ran the checkpoint job (SET ROLE shilian_admin; SELECT shilian.checkpoint()) and it succeeded')
  or diag($node->safe_psql('postgres', 'SELECT status, return_message FROM cron.job_run_details'));
is($node->safe_psql('postgres', q{SELECT max(tree_size) = (SELECT count(*) FROM shilian.ledger) FROM shilian.checkpoint}), 't',
	'and its tree head covers every ledger entry');

# the federation job runs every minute too, and without peers (or dblink) does nothing, successfully
$done = '';
for (1 .. 150)
{
	$done = $node->safe_psql('postgres', q{
		SELECT d.status FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		 WHERE j.jobname = 'shilian_federation' AND d.end_time IS NOT NULL ORDER BY d.runid DESC LIMIT 1});
	last if $done ne '';
	usleep(1_000_000);
}
is($done, 'succeeded', 'pg_cron ran the federation job and it succeeded (no peers: nothing to do)')
  or diag($node->safe_psql('postgres', 'SELECT status, return_message FROM cron.job_run_details'));

# ---- unschedule ----------------------------------------------------------------------
is($node->safe_psql('postgres', 'SELECT shilian.unschedule_jobs()'), '7', 'unschedule_jobs removes the seven jobs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job'), '0', 'and none is left');

done_testing();
