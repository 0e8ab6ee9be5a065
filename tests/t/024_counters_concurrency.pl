# The counters under contention: 8 sessions record batches of one operator on
# the same few days at once, one record per transaction, so every commit's
# flush meets rows that other sessions are updating. The flush updates an
# existing row in place (activity.c, CounterAdd) and falls back to the upsert
# when the row is missing or was updated concurrently; either way no count
# may be lost or doubled: operator_day and operator_month must equal the
# batches written and operator_day_rebuild's recount.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('counters_concurrency');
my $conn = '-h ' . $node->host . ' -p ' . $node->port;

$node->safe_psql('postgres', q{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370102001', '泉城路所');
	SELECT shilian.operator_register('operator ' || i, 'circulation', '{wholesaler}', '370102001',
		'address', 'contact', reg_card => 'CARD-' || i) FROM generate_series(1, 2) i;
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(1, 'JY13701020000018', '{vegetables}', '2020-01-01', '2099-12-31');
	SELECT shilian.product_register('大白菜', 'vegetables');
});

# 8 clients x 60 transactions of one batch_create, over three days of two
# months (2026-02-28, 2026-03-01, 2026-03-02): every row is contended.
$node->pgbench("$conn --no-vacuum --client=8 --jobs=8 --transactions=60", 0,
	[qr{processed: 480/480}], [qr{^$}], '8 sessions record batches of one operator at once',
	{ '024_counters' => q{
		\set d random(0, 2)
		SELECT shilian.batch_create(1, 1, '1 kg', date '2026-02-28' + :d);
	} }, 'postgres');

my $want = q{SELECT string_agg(produced_on || ':' || n, ' ' ORDER BY produced_on)
	FROM (SELECT produced_on, count(*) AS n FROM shilian.batch WHERE owner_id = 1 GROUP BY 1) b};
my $got = q{SELECT string_agg(day || ':' || records, ' ' ORDER BY day)
	FROM shilian.operator_day WHERE operator_id = 1 AND records = batches};
is($node->safe_psql('postgres', $got), $node->safe_psql('postgres', $want),
	'operator_day counts every batch of the three days once');
is($node->safe_psql('postgres', q{SELECT sum(records) FROM shilian.operator_day}), '480',
	'480 records counted in all');
is($node->safe_psql('postgres', q{
		SELECT string_agg(month || ':' || records, ' ' ORDER BY month) FROM shilian.operator_month}),
	$node->safe_psql('postgres', q{
		SELECT string_agg(m || ':' || n, ' ' ORDER BY m)
		  FROM (SELECT date_trunc('month', produced_on)::date AS m, count(*) AS n
				  FROM shilian.batch WHERE owner_id = 1 GROUP BY 1) b}),
	'operator_month holds the same per month');

# A row locked by another transaction: the flush waits for it, and counts
# once whether that transaction commits (its update wins, the flush falls
# back to the upsert) or rolls back (the in-place update goes through).
for my $end ('COMMIT', 'ROLLBACK')
{
	my $before = $node->safe_psql('postgres',
		q{SELECT records FROM shilian.operator_day WHERE operator_id = 1 AND day = '2026-03-01'});
	my $locker = $node->background_psql('postgres');
	$locker->query_safe(q{BEGIN});
	$locker->query_safe(q{UPDATE shilian.operator_day SET via_client = via_client
		WHERE operator_id = 1 AND day = '2026-03-01'});
	my $recorder = $node->background_psql('postgres');
	$recorder->query_until(qr/started/, q{\echo started
SELECT shilian.batch_create(1, 1, '1 kg', '2026-03-01') IS NOT NULL;
});
	# the recorder's commit waits on the row lock
	ok($node->poll_query_until('postgres',
			q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%batch_create%'}),
		"the recorder's flush waits for the row ($end)");
	$locker->query_safe($end);
	$locker->quit;
	$recorder->quit;
	is($node->safe_psql('postgres',
			q{SELECT records FROM shilian.operator_day WHERE operator_id = 1 AND day = '2026-03-01'}),
		$before + 1, "a record whose row was locked by a transaction that ended in $end counts once");
}

# The rebuild recounts the same from the records.
my $snapshot = q{SELECT string_agg(concat_ws(',', operator_id, day, records, batches, via_client), ' '
	ORDER BY operator_id, day) FROM shilian.operator_day};
my $kept = $node->safe_psql('postgres', $snapshot);
my $kept_m = $node->safe_psql('postgres', q{SELECT string_agg(concat_ws(',', operator_id, month, records),
	' ' ORDER BY operator_id, month) FROM shilian.operator_month});
$node->safe_psql('postgres', q{SELECT shilian.operator_day_rebuild()});
is($node->safe_psql('postgres', $snapshot), $kept, 'operator_day_rebuild recounts the same operator_day');
is($node->safe_psql('postgres', q{SELECT string_agg(concat_ws(',', operator_id, month, records),
	' ' ORDER BY operator_id, month) FROM shilian.operator_month}), $kept_m,
	'and the same operator_month');

$node->stop;
done_testing();
