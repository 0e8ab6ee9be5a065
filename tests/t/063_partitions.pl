# Inspections and consumption partitioned by Asia/Shanghai month, the
# counters (operator_day) by month of their day, the per-month counters
# (operator_month, station_month, figures_frozen_month) by their month
# (issue 22, parts 20, 54, 58, 62 and 64): a record lands in the partition of its Beijing month
# whatever the session's time zone (2026-01-31 23:30 +08 is January,
# 2026-01-31 16:30 UTC is February), a month without a partition goes to the
# default partition, and a month with rows in the default partition gets no
# partition of its own; partitions_ahead() makes this month and the next
# three of every partitioned table (ledger, inspection, consumption,
# operator_day, operator_month, station_month, figures_frozen_month), each a
# copy of its default partition's keys, indexes and row-level security, and
# makes nothing the second time; lookups by id, corrections and the
# operators' row-level security work across partitions; a pg_dump/pg_restore
# keeps the partitions, their rows and the identity sequences. The record
# dates are fixed past days; the months ahead are computed from
# platform_today() in SQL, so nothing depends on today.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('partitions');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('鲁味食品', 'production', '{processor}', '370112001', 'x', '1', reg_card => 'P-1');
	select shilian.operator_activate(1);
	select shilian.operator_register('别家', 'production', '{processor}', '370112001', 'y', '2', reg_card => 'P-2');
	select shilian.operator_activate(2);
	select shilian.licence_add(1, 'SC10137011200027', '{vegetables,other}', '2024-01-01', '2028-12-31');
	select shilian.product_register('番茄酱', 'other', 365, '500g/pcs', owner => 1, gtin => '6970000000024');
	create role op_login login in role shilian_operator;
	create role admin_login login in role shilian_admin;
});

sub q1 { my ($sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql) }

# psql as the operator's login, in a session time zone far from Beijing's
sub as
{
	my ($op, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nset shilian.operator_id = '$op';\nset timezone = 'America/New_York';\n$sql",
		extra_params => [ '-U', 'op_login' ], on_error_stop => 1);
	return ($out, $err);
}

# the partition a row is in
sub where_is { my ($table, $id) = @_; return q1("select tableoid::regclass from shilian.$table where id = $id") }

# ---- January and February 2026 have partitions, December 2025 has none ---------
is(q1(q{select shilian.partition_month_make('shilian.inspection', '2026-01-01'),
		shilian.partition_month_make('shilian.inspection', '2026-02-01'),
		shilian.partition_month_make('shilian.consumption', '2026-01-01'),
		shilian.partition_month_make('shilian.consumption', '2026-02-01'),
		shilian.partition_month_make('shilian.consumption', '2026-02-01'),
		shilian.partition_month_make('shilian.operator_day', '2026-01-01'),
		shilian.partition_month_make('shilian.operator_day', '2026-02-01')}),
	't|t|t|t|f|t|t', 'month partitions made (the second time: nothing)');
is(q1(q{select string_agg(shilian.partition_month_make(t, m)::text, '|' order by t, m)
		  from unnest('{shilian.operator_month,shilian.station_month,shilian.figures_frozen_month}'::regclass[]) t,
			   unnest('{2026-01-01,2026-02-01}'::date[]) m}),
	'true|true|true|true|true|true', 'and of the per-month counters');
is(q1(q{select string_agg(pg_get_expr(c.relpartbound, c.oid), ' ') from pg_class c
		where c.relname = 'inspection_p202601'}),
	q{FOR VALUES FROM ('2025-12-31 16:00:00+00') TO ('2026-01-31 16:00:00+00')},
	'inspection_p202601 holds January 2026 in Beijing time (bounds shown in UTC)');

my ($out, $err) = as(1, q{select shilian.batch_create(1, 1, '100 pcs', '2025-12-01', 'S-1')});
is($err, '', 'a lot produced on 2025-12-01') or diag $err;
my $code = $out;

($out, $err) = as(1, qq{
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-1", "inspector": "王"}', '2026-01-31 23:30+08');
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-2", "inspector": "王"}', '2026-01-31 16:30+00');
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-3", "inspector": "王"}', '2026-01-31 15:59:59+00');
	select shilian.inspect('$code', 'release', 'fail', '{"certificate_no": "C-4", "inspector": "王"}', '2025-12-20 10:00+08');
});
is($err, '', 'four inspections recorded') or diag $err;
my @insp = split /\n/, $out;
is(where_is('inspection', $insp[0]), 'shilian.inspection_p202601', '2026-01-31 23:30 +08: January');
is(where_is('inspection', $insp[1]), 'shilian.inspection_p202602', '2026-01-31 16:30 UTC (00:30 on 1 February in Beijing): February');
is(where_is('inspection', $insp[2]), 'shilian.inspection_p202601', '2026-01-31 15:59:59 UTC (23:59:59 in Beijing): January');
is(where_is('inspection', $insp[3]), 'shilian.inspection_default', 'a month without a partition: the default partition');

($out, $err) = as(1, qq{
	select shilian.consume('$code', '1 pcs', 'destroyed', '2026-01-31 23:30+08');
	select shilian.consume('$code', '2 pcs', 'sample_kept', '2026-02-01 00:00+08');
	select shilian.consume('$code', '3 pcs', 'destroyed', '2025-12-21 10:00+08');
});
is($err, '', 'three consumptions recorded') or diag $err;
my @cons = split /\n/, $out;
is(where_is('consumption', $cons[0]), 'shilian.consumption_p202601', 'consumption at 2026-01-31 23:30 +08: January');
is(where_is('consumption', $cons[1]), 'shilian.consumption_p202602', 'at 2026-02-01 00:00 +08: February');
is(where_is('consumption', $cons[2]), 'shilian.consumption_default', 'in December 2025: the default partition');

# a month with rows in the default partition gets no partition (rows are never moved)
is(q1(q{select shilian.partition_month_make('shilian.inspection', '2025-12-01'),
		to_regclass('shilian.inspection_p202512') is null}),
	'f|t', 'December 2025 has an inspection in the default partition: no partition made for it');

# ---- ids, lookups, corrections across partitions --------------------------------
is(q1(q{select count(*) = count(distinct id) from shilian.inspection}), 't', 'inspection ids unique across partitions');
is(q1("select certificate from (select report ->> 'certificate_no' as certificate from shilian.inspection where id = $insp[1]) x"),
	'C-2', 'an inspection found by id in its partition');
($out, $err) = as(1, qq{select shilian.correct('inspection', $insp[0], '笔误', '{"result": "fail"}')});
is($err, '', 'an inspection in a month partition corrected') or diag $err;
is(q1("select result || ':' || tableoid::regclass from shilian.inspection where id = $insp[0]"),
	'fail:shilian.inspection_p202601', 'the corrected row stays in its partition');
($out, $err) = as(1, qq{select shilian.correct('consumption', $cons[1], '称重有误', '{"qty": "4 pcs"}')});
is($err, '', 'a consumption in a month partition corrected') or diag $err;
($out, $err) = as(1, qq{select shilian.retract('consumption', $cons[0], '误录')});
is($err, '', 'a consumption in a month partition retracted') or diag $err;
is(q1("select qty_left from shilian.batch where trace_code::text = '$code'"), '93 pcs',
	'the batch balance follows (100 - 4 - 3)');
my $days = q{select string_agg(day || ':' || inspections || ',' || consumptions || ':' || tableoid::regclass, ' ' order by day)
	  from shilian.operator_day where operator_id = 1 and (inspections > 0 or consumptions > 0)};
is(q1($days), '2025-12-20:1,0:shilian.operator_day_default 2025-12-21:0,1:shilian.operator_day_default '
	. '2026-01-31:2,0:shilian.operator_day_p202601 2026-02-01:1,1:shilian.operator_day_p202602',
	'the counters (operator_day, partitioned by month of day) count on the Beijing days, corrections followed');
q1('select shilian.operator_day_rebuild()');
is(q1($days), '2025-12-20:1,0:shilian.operator_day_default 2025-12-21:0,1:shilian.operator_day_default '
	. '2026-01-31:2,0:shilian.operator_day_p202601 2026-02-01:1,1:shilian.operator_day_p202602',
	'and equal a recount from the partitioned records');
# the per-month counters: the Beijing month of each record (2026-01-31
# 16:30 UTC counts in February), December 2025 (no partition) in the
# default partitions
my $months = q{select string_agg(month || ':' || records || ':' || tableoid::regclass, ' ' order by month)
	  from shilian.operator_month where operator_id = 1};
my $stmonths = q{select string_agg(month || ':' || active_operators || ':' || tableoid::regclass, ' ' order by month)
	  from shilian.station_month where station = '370112001'};
my $months_kept = '2025-12-01:3:shilian.operator_month_default 2026-01-01:2:shilian.operator_month_p202601 '
	. '2026-02-01:2:shilian.operator_month_p202602';
is(q1("select shilian.operator_day_rebuild() > 0; $months"), "t\n$months_kept",
	'operator_month: each month in its partition (the rebuild writes the same)');
is(q1($stmonths), '2025-12-01:1:shilian.station_month_default 2026-01-01:1:shilian.station_month_p202601 '
	. '2026-02-01:1:shilian.station_month_p202602', 'station_month: the station\'s months in their partitions');
# the flush adds to the month partitions in place (one more record each)
($out, $err) = as(1, qq{
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-6", "inspector": "王"}', '2026-01-31 23:00+08');
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-7", "inspector": "王"}', '2026-02-28 23:00+08');
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-8", "inspector": "王"}', '2025-12-31 23:00+08');
});
is($err, '', 'three more inspections, one in each month') or diag $err;
is(q1($months), '2025-12-01:4:shilian.operator_month_default 2026-01-01:3:shilian.operator_month_p202601 '
	. '2026-02-01:3:shilian.operator_month_p202602', 'added to the rows of their months');
my $live_m = q1('select string_agg(format(\'%s/%s/%s/%s/%s/%s/%s\', tableoid::regclass, operator_id, month, records,
	receipts, receipts_complete, via_client), \' \' order by operator_id, month) from shilian.operator_month');
my $live_s = q1('select string_agg(format(\'%s/%s/%s/%s/%s\', tableoid::regclass, station, segment, month,
	active_operators), \' \' order by month, station, segment) from shilian.station_month');
q1('select shilian.operator_day_rebuild()');
is(q1('select string_agg(format(\'%s/%s/%s/%s/%s/%s/%s\', tableoid::regclass, operator_id, month, records,
	receipts, receipts_complete, via_client), \' \' order by operator_id, month) from shilian.operator_month'),
	$live_m, 'operator_month equals a recount');
is(q1('select string_agg(format(\'%s/%s/%s/%s/%s\', tableoid::regclass, station, segment, month,
	active_operators), \' \' order by month, station, segment) from shilian.station_month'),
	$live_s, 'and station_month its rollup\'s recount');
# a frozen month lands in its partition
is(q1(q{select shilian.figures_freeze('2026-01-15') >= 0; select shilian.figures_freeze('2025-12-01') >= 0;
		select string_agg(month || ':' || tableoid::regclass, ' ' order by month) from shilian.figures_frozen_month}),
	"t\nt\n2025-12-01:shilian.figures_frozen_month_default 2026-01-01:shilian.figures_frozen_month_p202601",
	'figures_frozen_month: January 2026 frozen in its partition, December 2025 in the default partition');
is(q1(q{select shilian.figures_freeze('2026-01-01')}), '0', 'a month frozen once stays (ON CONFLICT DO NOTHING on the partition)');

# ---- row-level security: through the partitioned tables only ---------------------
($out, $err) = as(2, q{select count(*) from shilian.inspection; select count(*) from shilian.consumption});
is($out, "0\n0", "another operator sees none of operator 1's inspections and consumption");
($out, $err) = as(1, q{select count(*) from shilian.inspection; select count(*) from shilian.consumption});
is($out, "7\n3", 'the operator sees its own in every partition');
(undef, $err) = as(1, q{select count(*) from shilian.inspection_p202601});
like($err, qr/permission denied for table inspection_p202601/, 'a partition read directly: permission denied');
(undef, $err) = as(1, q{select count(*) from shilian.consumption_default});
like($err, qr/permission denied for table consumption_default/, 'the default partition too');
# the per-month counters: a regulator reads operator_month through the
# partitioned table and its policy only; the partitions have row-level
# security on and no grant
$node->safe_psql('postgres', q{create role reg_login login in role shilian_regulator});
sub as_reg
{
	my ($code, $sql) = @_;
	my ($rc, $o, $e) = $node->psql('postgres', "set shilian.jurisdiction = '$code';\n$sql",
		extra_params => [ '-U', 'reg_login' ]);
	return ($o, $e);
}
my ($rout, $rerr) = as_reg('370112', 'select count(*) from shilian.operator_month');
is($rout, '3', 'a regulator of the district reads the operator\'s three months through operator_month') or diag $rerr;
($rout, $rerr) = as_reg('370000', q{select count(*) from shilian.operator_month where tableoid = 'shilian.operator_month_p202601'::regclass});
is($rout, '1', 'the province\'s regulator too, in the month partition') or diag $rerr;
for my $t (qw(operator_month_p202601 operator_month_default station_month_p202601 figures_frozen_month_p202601))
{
	($rout, $rerr) = as_reg('370112', "select count(*) from shilian.$t");
	like($rerr, qr/permission denied for table $t/, "$t read directly: permission denied");
}
is(q1(q{select string_agg(c.relname || ':' || c.relrowsecurity || ':' || coalesce(c.relacl::text, '-'), ' ' order by c.relname)
		  from pg_class c where c.relname ~ '^(operator_month|station_month|figures_frozen_month)_(default|p202601)$'}),
	'figures_frozen_month_default:true:- figures_frozen_month_p202601:true:- operator_month_default:true:- '
	. 'operator_month_p202601:true:- station_month_default:true:- station_month_p202601:true:-',
	'every partition of the per-month counters: row-level security on, no grant');

# ---- partitions_ahead: every partitioned table, this month and three ahead -------
# (the ledger's month partitions from next month: this month's entries so far
# are in ledger_default, which keeps them)
my $missing = q{select coalesce(string_agg(n, ',' order by n), 'none') from (
		select t || '_p' || to_char(date_trunc('month', shilian.platform_today()) + make_interval(months => i), 'YYYYMM') as n
		  from unnest(array['consumption', 'inspection', 'ledger', 'operator_day', 'operator_month', 'station_month',
			'figures_frozen_month']) t, generate_series(0, 3) i
		 where t <> 'ledger' or i > 0) x
	 where to_regclass('shilian.' || n) is null};
isnt(q1($missing), 'none', 'before: the months ahead do not exist');
my ($rc, $made, $e2) = $node->psql('postgres', 'select shilian.partitions_ahead()', extra_params => [ '-U', 'admin_login' ]);
is($e2, '', 'partitions_ahead() as shilian_admin (the daily job)');
cmp_ok($made, '>=', 27, 'it made the months of the ledger, inspection, consumption, operator_day and the per-month counters');
is(q1($missing), 'none', 'this month and the three ahead exist for every partitioned table, the three ahead for the ledger');
($rc, $made, $e2) = $node->psql('postgres', 'select shilian.partitions_ahead()', extra_params => [ '-U', 'admin_login' ]);
is($made, '0', 'the second time it makes nothing (idempotent)');
($rc, $out, $e2) = $node->psql('postgres', 'select shilian.partitions_ahead(25)', extra_params => [ '-U', 'admin_login' ]);
like($e2, qr/SLL50|cannot make ledger partitions 25 months ahead/, 'more than 24 months ahead: SLL50');
($rc, $out, $e2) = $node->psql('postgres', 'select shilian.partitions_ahead()', extra_params => [ '-U', 'op_login' ]);
like($e2, qr/permission denied for function partitions_ahead/, 'an operator may not make partitions');

# every month partition is a copy of its default partition: keys and indexes
# (same names after the prefix), row-level security on, granted to no role
my $shape = q{select string_agg(format('%s:%s:%s:%s', c.relname, c.relrowsecurity, coalesce(c.relacl::text, '-'),
		(select string_agg(substr(x.relname, length(c.relname) + 1) || '=' ||
			regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', ''), ';' order by x.relname)
		   from pg_index i join pg_class x on x.oid = i.indexrelid where i.indrelid = c.oid)), E'\n' order by c.relname)
	  from pg_class c where c.relname ~ '^(inspection|consumption|operator_month|station_month|figures_frozen_month)_(default|p[0-9]{6})$'};
my @shape = split /\n/, q1($shape);
my %by_table;
for (@shape)
{
	my ($rel, $rest) = /^([a-z_]+?)_(?:default|p\d{6}):(.*)$/ or next;
	$by_table{$rel}{$rest}++;
}
is(scalar(keys %{ $by_table{inspection} }) . ',' . scalar(keys %{ $by_table{consumption} }), '1,1',
	'every partition of inspection and of consumption has the keys, indexes and security of its default partition');
is(join(',', map { scalar(keys %{ $by_table{$_} }) } qw(operator_month station_month figures_frozen_month)), '1,1,1',
	'and every partition of the per-month counters');
ok((grep { /^operator_month_default:t:-:_month_idx=btree \(month\);_pkey=btree \(operator_id, month\)$/ } @shape),
	'operator_month: primary key (operator_id, month) and the month index');
ok((grep { /^station_month_default:t:-:_pkey=btree \(month, station, segment\)$/ } @shape),
	'station_month: primary key (month, station, segment)');
is(q1(q{select string_agg(c.relname || ':' || coalesce(array_to_string(c.reloptions, ','), '-'), ' ' order by c.relname)
		  from pg_class c where c.relname in ('operator_month_default', 'operator_month_p202601')}),
	'operator_month_default:fillfactor=70 operator_month_p202601:fillfactor=70', 'operator_month\'s fillfactor copied');
# dumped as the template: operator_month's and figures_frozen_month's
# partitions are plain tables (pg_dump writes them with their rows),
# station_month's are members of the extension (its rows are not dumped)
is(q1(q{select string_agg(c.relname, ' ' order by c.relname) from pg_depend d join pg_class c on c.oid = d.objid
		 where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_extension'::regclass and d.deptype = 'e'
		   and c.relname ~ '_(default|p202601)$' and c.relname ~ '^(operator_month|station_month|figures_frozen_month)'}),
	'figures_frozen_month_default operator_month_default station_month_default station_month_p202601',
	'extension members: the default partitions and station_month\'s month partitions');
like($shape[0], qr/^consumption_default:t:-:_batch_idx=btree \(batch_id\);_pkey=btree \(id, consumed_at\)$/,
	'consumption: primary key (id, consumed_at) and the batch index, row-level security on, no grant');
ok((grep { /^inspection_default:t:-:_batch_idx=btree \(batch_id\);_incoming_idx=btree \(batch_id, id\) INCLUDE \(link_id, inspected_at\) WHERE \(kind = 'incoming'::text\);_pkey=btree \(id, inspected_at\)$/ } @shape),
	'inspection: primary key (id, inspected_at), the batch and incoming-inspection indexes');

# a table partitioned by a date column (as the counters would be): date
# bounds, and the default partition's storage options copied too
is(q1(q{set client_min_messages = warning;
	create table shilian.t_day (k bigint not null, d date not null, n integer not null) partition by range (d);
	create table shilian.t_day_default partition of shilian.t_day default with (fillfactor = 70);
	alter table shilian.t_day_default add constraint t_day_default_pkey primary key (k, d);
	create index t_day_default_d_idx on shilian.t_day_default (d);
	select shilian.partition_month_make('shilian.t_day', '2026-03-01');
	select (select pg_get_expr(c.relpartbound, c.oid) || ' ' || array_to_string(c.reloptions, ',') from pg_class c
		  where c.relname = 't_day_p202603'),
		(select string_agg(c.relname, ',' order by c.relname) from pg_index i join pg_class c on c.oid = i.indexrelid
		  where i.indrelid = 'shilian.t_day_p202603'::regclass);
	drop table shilian.t_day}),
	"t\nFOR VALUES FROM ('2026-03-01') TO ('2026-04-01') fillfactor=70|t_day_p202603_d_idx,t_day_p202603_pkey",
	'a date-partitioned table: the month in dates, with the template\'s options, key and index');
my ($rcx, $ox, $ex) = $node->psql('postgres', q{select shilian.partition_month_make('shilian.inspection', '2026-03-15')});
like($ex, qr/not the first day of a month/, 'partition_month_make refuses a day that does not start a month');

# ---- dump and restore ----------------------------------------------------------------
my $parts = q{select string_agg(c.relname || ':' || coalesce(n.n, 0), ',' order by c.relname)
	  from pg_inherits i join pg_class c on c.oid = i.inhrelid
	  left join (select tableoid, count(*) as n from shilian.inspection group by 1
				 union all select tableoid, count(*) from shilian.consumption group by 1) n on n.tableoid = c.oid
	 where i.inhparent in ('shilian.inspection'::regclass, 'shilian.consumption'::regclass)};
my $day_parts = q{select string_agg(tableoid::regclass || '/' || operator_id || '/' || day || '/' || records, ' ' order by operator_id, day)
	  from shilian.operator_day};
my $rows = q{select (select string_agg(format('%s/%s/%s/%s', id, tableoid::regclass, inspected_at, result), ' ' order by id) from shilian.inspection)
	|| ' ' || (select string_agg(format('%s/%s/%s/%s', id, tableoid::regclass, consumed_at, qty), ' ' order by id) from shilian.consumption)};
my $dump = $node->basedir . '/partitions.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump -Fc');
$node->safe_psql('postgres', q{CREATE DATABASE restored TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'});
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a new database, without an error');
is(q1($parts, 'restored'), q1($parts), 'the same partitions of inspection and consumption with the same rows');
is(q1($rows, 'restored'), q1($rows), 'the same rows, ids and times');
is(q1($day_parts, 'restored'), q1($day_parts), 'operator_day: the same rows in the same partitions');
my $month_parts = q{select (select string_agg(format('%s/%s/%s/%s/%s/%s/%s', tableoid::regclass, operator_id, month, records,
		receipts, receipts_complete, via_client), ' ' order by operator_id, month) from shilian.operator_month)
	|| ' ' || (select string_agg(format('%s/%s/%s', tableoid::regclass, month, frozen_at), ' ' order by month)
		  from shilian.figures_frozen_month)};
is(q1($month_parts, 'restored'), q1($month_parts), 'operator_month and figures_frozen_month: the same rows in the same partitions');
# station_month is not dumped (docs/regulator.md): rollup_rebuild() after the
# restore gives the same rollup, in the default partition (the restore has
# no month partition of station_month; partitions_ahead() makes them anew)
my $st = q{select string_agg(format('%s/%s/%s/%s/%s/%s', station, segment, month, active_operators, receipts,
	receipts_complete), ' ' order by month, station, segment) from shilian.station_month};
is(q1("select shilian.rollup_rebuild() > 0; $st", 'restored'), "t\n" . q1($st), 'station_month: rollup_rebuild() gives the same rollup');
is(q1(q{select count(*) from pg_policy where polrelid in ('shilian.inspection'::regclass, 'shilian.consumption'::regclass)}, 'restored'),
	'8', 'the policies are there');
is(q1($shape, 'restored'), join("\n", grep { !/^station_month_p/ } @shape),
	'every partition keeps its keys, indexes and security (station_month\'s month partitions are not dumped)');
my $max = q1('select max(id) from shilian.inspection');
my ($rc2, $o2, $e3) = $node->psql('restored', qq{set shilian.operator_id = '1';
	select shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C-5", "inspector": "王"}', '2026-02-10 10:00+08')},
	extra_params => [ '-U', 'op_login' ]);
is($e3, '', 'an inspection recorded in the restored database') or diag $e3;
cmp_ok($o2, '>', $max, 'with a new id: the identity sequence went on after the restored rows');
is(q1("select tableoid::regclass from shilian.inspection where id = $o2", 'restored'), 'shilian.inspection_p202602',
	'in its month partition');
$node->safe_psql('postgres', 'DROP DATABASE restored');

done_testing();
