# Commit-time counters without deadlock: 8 sessions commit, for about 30
# seconds, transactions that each record receipts for 8 operators (one at
# each of 8 stations) in 3 months, half of the sessions walking the stations
# in ascending order and half in descending order. Every commit's counter
# flush writes operator_day, operator_month and the station rollup
# (station_month rows shared by all sessions); it must write them in one
# global key order (activity.c), so that no two commits ever wait for each
# other in a cycle: no session may fail, and the counts must be exact
# afterwards (the records, and the rollup's recount). The counters are
# partitioned by month (part 58): February 2020 has partitions of its own
# (the in-place path and the statements on a month partition), January and
# March are in the default partitions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use ShilianTest;

my $node = shilian_node('counters_order');
my ($sessions, $stations, $months, $seconds) = (8, 8, 3, 30);

$node->safe_psql('postgres', qq{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('37010200' || s, '所 ' || s) FROM generate_series(1, $stations) s;
	-- operator (session s, station k): id = s * $stations + k (ids from 1)
	SELECT shilian.operator_register('op ' || s || '-' || k, 'catering', '{restaurant}', '37010200' || k,
		'address', 'contact', reg_card => 'CARD-' || s || '-' || k)
	  FROM generate_series(0, $sessions - 1) s, generate_series(1, $stations) k ORDER BY s, k;
	SELECT count(shilian.operator_activate(id)) FROM shilian.operator;
	SELECT shilian.product_register('大白菜', 'vegetables', 10, '散装', edible_agricultural => true);
	SELECT shilian.partition_month_make(t, '2020-02-01')
	  FROM unnest('{shilian.operator_day,shilian.operator_month,shilian.station_month}'::regclass[]) t;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM shilian.operator'), $sessions * $stations,
	'64 operators, 8 per station');

my @runs;
for my $s (0 .. $sessions - 1)
{
	my $order = $s % 2 ? 'DESC' : 'ASC';
	my $sql = qq{
DO \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
	ops bigint[] := ARRAY(SELECT $s * $stations + k FROM generate_series(1, $stations) k ORDER BY k $order);
	op bigint;
	n integer := 0;
BEGIN
	WHILE clock_timestamp() < t0 + interval '$seconds seconds' LOOP
		FOREACH op IN ARRAY ops LOOP
			FOR m IN 0 .. $months - 1 LOOP
				PERFORM shilian.receive_first_entry(op, 1, '1 kg', '{"name": "农户", "contact": "1"}',
					'{"inspector": "甲"}', date '2020-01-01' + 31 * m, timestamptz '2020-01-02 10:00+08' + 31 * m * interval '1 day');
			END LOOP;
		END LOOP;
		COMMIT;
		n := n + 1;
	END LOOP;
	RAISE NOTICE 'commits: %', n;
END
\$\$;
};
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port,
		  '-d', 'postgres', '-c', $sql ],
		'>', \$out, '2>', \$err);
	push @runs, { h => $h, out => \$out, err => \$err, s => $s };
}

my $commits = 0;
for my $r (@runs)
{
	$r->{h}->finish;
	my $err = ${ $r->{err} };
	is($r->{h}->result(0), 0, "session $r->{s} ran to the end") or diag($err);
	unlike($err, qr/deadlock/, "session $r->{s} saw no deadlock");
	my ($n) = $err =~ /commits: (\d+)/;
	ok(defined $n && $n > 0, "session $r->{s} committed " . ($n // 0) . ' transactions');
	$commits += $n // 0;
}
ok($commits >= $sessions, "$commits commits in all");
diag("$commits commits of $stations operators x $months months each");

# exact counts: every receipt once, per operator-day and per month
my $per_commit = $stations * $months;
is($node->safe_psql('postgres', 'SELECT sum(receipts) FROM shilian.operator_day'), $commits * $months * $stations,
	'operator_day counts every receipt once');
is($node->safe_psql('postgres', 'SELECT sum(receipts) FROM shilian.operator_month'), $commits * $months * $stations,
	'operator_month too');
is($node->safe_psql('postgres', q{SELECT count(*) FROM shilian.batch WHERE origin = 'first_entry'}),
	$commits * $per_commit, 'as many batches as receipts');
is($node->safe_psql('postgres', 'SELECT sum(receipts) FROM shilian.station_month'), $commits * $months * $stations,
	'station_month adds them up');
is($node->safe_psql('postgres', 'SELECT count(*) FROM shilian.station_month'), $months * $stations,
	'one station_month row per station and month');
is($node->safe_psql('postgres', 'SELECT min(active_operators) || \' \' || max(active_operators) FROM shilian.station_month'),
	"$sessions $sessions", 'each counting the 8 operators that recorded there that month');

is($node->safe_psql('postgres', q{SELECT string_agg(t, ' ' ORDER BY t) FROM (
	SELECT DISTINCT to_char(month, 'MM') || ':' || tableoid::regclass AS t FROM shilian.operator_month
	UNION SELECT DISTINCT to_char(month, 'MM') || ':' || tableoid::regclass FROM shilian.station_month) x}),
	'01:shilian.operator_month_default 01:shilian.station_month_default 02:shilian.operator_month_p202002 '
	. '02:shilian.station_month_p202002 03:shilian.operator_month_default 03:shilian.station_month_default',
	'February counted in its month partitions, January and March in the default partitions');

# the same as recounted from the record tables (every receipt is an incoming
# inspection of the buyer), and as the rollup's recount from operator_month
is($node->safe_psql('postgres', q{SELECT string_agg(concat_ws(',', operator_id, day, receipts), ' ' ORDER BY operator_id, day)
	FROM shilian.operator_day}),
	$node->safe_psql('postgres', q{SELECT string_agg(concat_ws(',', operator_id, day, n), ' ' ORDER BY operator_id, day)
	FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, count(*) AS n
			FROM shilian.inspection i WHERE i.kind = 'incoming' GROUP BY 1, 2) x}),
	'operator_day holds each operator-day\'s receipts');
my $roll = q{SELECT string_agg(concat_ws(',', month, station, segment, active_operators, key_recorded,
	own_system_uploading, receipts, receipts_complete), ' ' ORDER BY month, station, segment) FROM shilian.station_month};
my $kept_roll = $node->safe_psql('postgres', $roll);
$node->safe_psql('postgres', 'SELECT shilian.rollup_rebuild()');
is($node->safe_psql('postgres', $roll), $kept_roll, 'the rollup recount gives the same station_month');

$node->stop;
done_testing();
