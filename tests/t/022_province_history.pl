# The bench province (tests/bench/province_gen.sh) at a small scale: its
# operators register over the four months before its records, so the
# registration rate, read as of each month's end from the registry's
# history (docs/regulator.md), rises month over month, and a month's report
# shows the rise against the month before (issue 25). Also: the generated
# history agrees with the registry as it is now, and registering one more
# roll licence now leaves the past months' rates as they were.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('province_history');
$node->safe_psql('postgres', 'CREATE DATABASE prov');
$node->safe_psql('prov', 'CREATE EXTENSION shilian');
{
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = 'prov';
	local $ENV{SHILIAN_GEN_SCALE} = '0.002';
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', "$ENV{SHILIAN_TOP}/tests/bench/province_gen.sh" ], '>', \$out, '2>', \$err);
	is($?, 0, 'the bench province generates at scale 0.002') or diag($err);
}

# the province's registration rate as of the end of each month, October to
# February (the generator's records start on 2026-02-15; registrations run
# from 120 to 10 days before)
my $rates = q{
	SELECT string_agg(coalesce(s.registration_rate::text, 'null'), ' ' ORDER BY m)
	  FROM generate_series(date '2025-10-01', date '2026-02-01', interval '1 month') m,
		LATERAL shilian.jurisdiction_stats('370000', daterange(m::date, (m + interval '1 month')::date)) s
	 WHERE s.total};
my @r = split / /, $node->safe_psql('prov', $rates);
is(scalar @r, 5, 'five months');
ok($r[0] > 0, "registrations begin in October ($r[0])");
ok((!grep { $r[$_] <= $r[$_ - 1] } 1 .. $#r), "the registration rate rises month over month: @r");
ok($r[-1] > 0.7, "and ends near the counties' registration rates ($r[-1])");

is($node->safe_psql('prov', q{
	SELECT (f->>'value')::numeric > (f->>'previous')::numeric AND (f->>'change')::numeric > 0
	  FROM (SELECT shilian.monthly_report('2026-01-01', '370000')->'total'->'figures'->'registration_rate' AS f) x}),
	't', "January's report: the registration rate's change on December is positive");

# the history now equals the registry now
is($node->safe_psql('prov', q{
	SELECT count(*) FROM (
		(SELECT id, status, station, segment, kinds, own_system FROM shilian.operator
		 EXCEPT SELECT * FROM shilian.operator_as_of(now()))
		UNION ALL
		(SELECT * FROM shilian.operator_as_of(now())
		 EXCEPT SELECT id, status, station, segment, kinds, own_system FROM shilian.operator)) d}),
	'0', 'operator_as_of(now()) is the operator table');

# One definition, two plans (sql/src/64_figures.sql, station_figures_scan):
# the province hashes the history, the licences, the lots and the pending
# sales once, a city or county probes the indexes per operator. Both give
# the same counts for every station, for calendar months, other ranges and
# open periods, before and after registry changes made now (suspensions, a
# station move, an own-system change, a licence).
my $paths = q{
	WITH p(p) AS (SELECT unnest(ARRAY['[2025-12-01,2025-12-31]', '[2026-02-01,2026-02-28]', '[2026-03-01,2026-03-31]',
			'[2026-02-20,2026-03-05]', '[2026-03-01,)', '(,)']::daterange[])),
	prov AS (SELECT p.p, f.* FROM p, LATERAL shilian.station_figures_scan('370000', p.p) f),
	part AS (SELECT p.p, f.* FROM p, shilian.jurisdiction j, LATERAL shilian.station_figures_scan(j.code, p.p) f
			  WHERE j.level = $$LEVEL$$)
	SELECT (SELECT count(*) FROM prov) || ' ' || (SELECT count(*) FROM (
		(SELECT * FROM prov EXCEPT ALL SELECT * FROM part) UNION ALL (SELECT * FROM part EXCEPT ALL SELECT * FROM prov)) d)};
sub paths_agree
{
	my ($when) = @_;
	for my $level ('county', 'city')
	{
		(my $q = $paths) =~ s/\$\$LEVEL\$\$/'$level'/;
		my ($rows, $diff) = split / /, $node->safe_psql('prov', $q);
		ok($rows > 100, "$when: the province has $rows station rows over the periods");
		is($diff, '0', "$when: each ${level}'s figures (index probes) are the province's (hashes) for its stations");
	}
}
paths_agree('as generated');
$node->safe_psql('prov', q{
	SET search_path = shilian, public;
	SELECT count(shilian.operator_suspend(o.id, 'check')) FROM (SELECT id FROM shilian.operator
		WHERE status = 'active' ORDER BY id LIMIT 5) o;
	SELECT shilian.operator_update(o.id, station => (SELECT j.code FROM shilian.jurisdiction j
		WHERE j.level = 'station' AND j.code <> o.station ORDER BY j.code LIMIT 1), own_system => NOT o.own_system)
	  FROM (SELECT id, station, own_system FROM shilian.operator WHERE status = 'active' ORDER BY id DESC LIMIT 3) o;
	SELECT shilian.licence_add(o.id, 'SC19999990000011', '{aquatic}', '2025-01-01', '2030-12-31')
	  FROM (SELECT id FROM shilian.operator WHERE status = 'active' ORDER BY id DESC OFFSET 10 LIMIT 1) o;
});
paths_agree('after registry changes');

# a registration now: the past months do not move, an open period does
my $before = $node->safe_psql('prov', $rates);
my $open = q{SELECT registered FROM shilian.jurisdiction_stats('370000', '[2026-02-01,)') WHERE total};
my $open_before = $node->safe_psql('prov', $open);
$node->safe_psql('prov', q{
	SET search_path = shilian, public;
	SELECT shilian.licence_add(shilian.operator_register('新登记', r.segment, r.kinds, r.station, '地址', '1',
		reg_card => 'NEW-1'), r.licence_no, '{vegetables}', '2025-01-01', '2030-12-31')
	  FROM shilian.operator_roll r
	 WHERE NOT EXISTS (SELECT 1 FROM shilian.licence li WHERE li.licence_no = r.licence_no)
	 ORDER BY r.licence_no LIMIT 1});
is($node->safe_psql('prov', $rates), $before, 'a registration now leaves the closed months as they were');
is($node->safe_psql('prov', $open), $open_before + 1, 'and counts in a period that runs to now');

done_testing();
