# pg_dump and restore of the registry's history (docs/regulator.md, "The
# registry's history"): a restore loads operator, licence and operator_roll
# (whose insert triggers open history versions of their own from the rows'
# dates) and the history tables themselves, in whatever order the dump has
# them. After a restore, plain and custom format, the three history tables
# are exactly the dumped ones (no version twice, none overlapping another of
# the same operator, licence or roll licence), and the closed months'
# figures are what they were.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('history_dump');
my $dir = $node->basedir;

# A small province whose registry changes are dated in 2026 (January to
# April): registrations, activations, a suspension, a station and an
# own-system change, licences, two roll imports and a roll row deleted.
$node->safe_psql('postgres', q{
SET client_min_messages = warning;
SET timezone = 'Asia/Shanghai';
SET search_path = public, shilian;
SELECT count(*) FROM (VALUES ('530000', '云南省'), ('530100', '昆明市'),
	('530102', '五华区'), ('530102001', '五华所'), ('530103', '盘龙区'), ('530103001', '盘龙所'),
	('530103002', '盘龙二所')) v(c, n), LATERAL shilian.jurisdiction_add(c, n);
SET shilian.registry_time = '2026-01-05 09:00+08';
CREATE TEMP TABLE ids AS
SELECT k, shilian.operator_register(n, seg, k2::text[], st, addr, '0871-' || k, reg_card => 'YN-' || k,
	own_system => k = 'A') AS id
  FROM (VALUES ('A', '五华批发', 'circulation', '{wholesaler}', '530102001', '五华1号'),
	('B', '五华超市', 'circulation', '{retailer}', '530102001', '五华2号'),
	('C', '盘龙一小食堂', 'catering', '{school_canteen}', '530103001', '盘龙3号'),
	('D', '盘龙便利店', 'circulation', '{retailer}', '530103001', '盘龙4号')) v(k, n, seg, k2, st, addr);
SELECT count(*) FROM ids, LATERAL shilian.operator_activate(ids.id) WHERE k IN ('A', 'B', 'C');
SELECT count(*) FROM (VALUES ('A', 'JY15301020000016', '{vegetables}'), ('B', 'JY15301020000024', '{other}'),
	('C', 'JY35301030000015', '{other}'), ('D', 'JY15301030000023', '{fruit}')) v(k, l, sc)
	JOIN ids USING (k), LATERAL shilian.licence_add(ids.id, l::shilian.licence_no, sc::text[], '2025-06-01', '2029-12-31');
CREATE TEMP TABLE roll_stage (LIKE shilian.operator_roll_stage);
INSERT INTO roll_stage VALUES
	('JY15301020000016', 'A', '530102001', 'circulation', '{wholesaler}'),
	('JY15301020000024', 'B', '530102001', 'circulation', '{retailer}'),
	('JY35301030000015', 'C', '530103001', 'catering', '{school_canteen}'),
	('JY15301030000023', 'D', '530103001', 'circulation', '{retailer}'),
	('JY15301030000031', 'N1', '530103001', 'circulation', '{retailer}');
SELECT shilian.roll_import('roll_stage');
SET shilian.registry_time = '2026-02-10 09:00+08';
SELECT shilian.operator_activate(id) FROM ids WHERE k = 'D';
SELECT shilian.operator_suspend(id, 'no cold chain') FROM ids WHERE k = 'A';
SET shilian.registry_time = '2026-03-03 09:00+08';
SELECT shilian.operator_update(id, station => '530103002') FROM ids WHERE k = 'D';
SELECT shilian.operator_update(id, own_system => true) FROM ids WHERE k = 'B';
SELECT shilian.licence_add(id, 'SC15301020000013', '{meat}', '2026-03-01', '2030-02-28') FROM ids WHERE k = 'B';
TRUNCATE roll_stage;
INSERT INTO roll_stage VALUES
	('JY15301020000016', 'A', '530102001', 'circulation', '{wholesaler}'),
	('JY15301020000024', 'B', '530102001', 'circulation', '{retailer,market_vendor}'),
	('JY35301030000015', 'C', '530103001', 'catering', '{school_canteen}'),
	('JY15301030000023', 'D', '530103002', 'circulation', '{retailer}'),
	('JY15301030000031', 'N1', '530103001', 'circulation', '{retailer}'),
	('JY15301030000049', 'N3', '530103002', 'circulation', '{retailer}');
SELECT shilian.roll_import('roll_stage');
SET shilian.registry_time = '2026-04-02 09:00+08';
DELETE FROM shilian.operator_roll WHERE licence_no = 'JY15301030000031';
SELECT shilian.operator_activate(id) FROM ids WHERE k = 'A';
});

# everything the history holds, in one canonical order
my %history = (
	operator_history => 'operator_id, valid, status, station, segment, kinds, own_system',
	licence_history => 'licence_id, licence_no, operator_id, scope, valid_from, valid_to, recorded',
	operator_roll_history => 'licence_no, name, station, segment, kinds, recorded',
);
sub history_of
{
	my ($db) = @_;
	my %h;
	for my $t (sort keys %history)
	{
		$h{$t} = $node->safe_psql($db, "SET timezone = 'UTC'; SELECT string_agg(x::text, E'\\n' ORDER BY x::text)
			FROM (SELECT $history{$t} FROM shilian.$t) x");
	}
	return \%h;
}
# versions of one key that overlap in time (never, in a kept history)
my $overlaps = q{SELECT
	(SELECT count(*) FROM shilian.operator_history a JOIN shilian.operator_history b
		ON a.operator_id = b.operator_id AND a.valid && b.valid AND a.ctid <> b.ctid)
	+ (SELECT count(*) FROM shilian.licence_history a JOIN shilian.licence_history b
		ON a.licence_id = b.licence_id AND a.recorded && b.recorded AND a.ctid <> b.ctid)
	+ (SELECT count(*) FROM shilian.operator_roll_history a JOIN shilian.operator_roll_history b
		ON a.licence_no::text = b.licence_no::text AND a.recorded && b.recorded AND a.ctid <> b.ctid)};
# the closed months' figures and the registry as of instants
my $figures = q{SELECT (SELECT string_agg(x::text, E'\n' ORDER BY x::text)
	  FROM (SELECT m, s.* FROM generate_series(date '2026-01-01', date '2026-03-01', interval '1 month') m,
		LATERAL shilian.jurisdiction_stats('530000', daterange(m::date, (m + interval '1 month')::date)) s) x)
	|| E'\n' || (SELECT string_agg(x::text, E'\n' ORDER BY x::text)
	  FROM (SELECT m, r.* FROM generate_series(date '2026-02-01', date '2026-03-01', interval '1 month') m,
		LATERAL shilian.monthly_report_rows(m::date, '530000') r) x)};

my $before = history_of('postgres');
my $figures_before = $node->safe_psql('postgres', $figures);
is($node->safe_psql('postgres', $overlaps), '0', 'the kept history has no overlapping versions');
like($before->{operator_history}, qr/suspended/, 'the history has the suspension');

# p and c: the dump's own order (operator before operator_history, licence
# before licence_history, operator_roll before operator_roll_history); h: a
# custom dump restored with the history's data first (pg_restore -L)
for my $format ('p', 'c', 'h')
{
	my $db = "restored_$format";
	my $file = "$dir/dump.$format";
	$node->command_ok([ 'pg_dump', '-F', $format eq 'p' ? 'p' : 'c', '-f', $file, '-d', $node->connstr('postgres') ],
		"pg_dump ($format)");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq 'p')
	{
		$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $file, '-d', $node->connstr($db) ],
			'plain dump restores');
	}
	elsif ($format eq 'c')
	{
		$node->command_ok([ 'pg_restore', '-d', $node->connstr($db), $file ], 'custom dump restores');
	}
	else
	{
		my ($list) = run_command([ 'pg_restore', '-l', $file ]);
		my @lines = split /\n/, $list;
		my @first = grep { /TABLE DATA shilian (operator|licence|operator_roll)_history / } @lines;
		is(scalar @first, 3, 'the dump has the data of the three history tables');
		my @rest = grep { !/TABLE DATA shilian (operator|licence|operator_roll)_history / } @lines;
		# the history's data right after the schema, before any other data
		my ($at) = grep { $rest[$_] =~ /TABLE DATA/ } 0 .. $#rest;
		splice @rest, $at, 0, @first;
		PostgreSQL::Test::Utils::append_to_file("$dir/list.h", join("\n", @rest) . "\n");
		$node->command_ok([ 'pg_restore', '-L', "$dir/list.h", '-d', $node->connstr($db), $file ],
			'custom dump restores with the history first');
	}
	is($node->safe_psql($db, $overlaps), '0', "-F $format: no overlapping history versions after the restore");
	my $after = history_of($db);
	is($after->{$_}, $before->{$_}, "-F $format: $_ restored exactly") for sort keys %history;
	is($node->safe_psql($db, $figures), $figures_before, "-F $format: the closed months' figures are unchanged");
	# the restored history goes on: a change after the restore closes the
	# restored open version of that operator and opens one
	$node->safe_psql($db, q{SELECT shilian.operator_suspend(o.id, 'after the restore')
		FROM shilian.operator o WHERE o.reg_card = 'YN-C'});
	is($node->safe_psql($db, $overlaps), '0', "-F $format: a change after the restore keeps the history apart");
	is($node->safe_psql($db, q{SELECT string_agg(h.status || ':' || upper_inf(h.valid), ',' ORDER BY lower(h.valid))
		FROM shilian.operator_history h JOIN shilian.operator o ON o.id = h.operator_id WHERE o.reg_card = 'YN-C'}),
		'active:false,suspended:true', "-F $format: the operator's versions follow on");
}

$node->stop;
done_testing();
