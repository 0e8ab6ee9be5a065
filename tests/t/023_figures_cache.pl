# The month cache (sql/src/65_figures_cache.sql, docs/regulator.md "The
# month cache"): on the bench province at a small scale, the ended months
# are cached, then changes of every kind that can move an ended month are
# made, batch after batch (back-dated registry changes: suspensions, moves,
# own-system and kinds changes; back-dated licence and roll changes; late
# records dated in an ended month; receipts and rejections of sales shipped
# in one; key-category lots of licence-less producers), and after each batch
# station_figures (the cache for the clean stations, live for the marked
# ones) must give exactly the rows of station_figures_scan (always live) for
# the province, a city and a county, every ended month. A change whose mark
# were missing leaves a stale cached station: the rows would differ. Each
# batch must move the live figures (else it would prove nothing), and the
# cache must still serve most stations.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('figures_cache');
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

my @months = ('2026-01-01', '2026-02-01', '2026-03-01');
my $city = $node->safe_psql('prov', q{SELECT min(code) FROM shilian.jurisdiction WHERE level = 'city'});
my $county = $node->safe_psql('prov', qq{SELECT min(code) FROM shilian.jurisdiction WHERE level = 'county' AND parent = '$city'});

for my $m (@months)
{
	$node->safe_psql('prov', "SELECT shilian.figures_cache_refresh('$m')");
}
is($node->safe_psql('prov', q{SELECT count(DISTINCT month) || ' ' || (count(*) = 3 * (SELECT count(*) FROM shilian.jurisdiction))
	FROM shilian.figures_cache_station}), '3 true', 'three ended months cached, every jurisdiction code');
is($node->safe_psql('prov', 'SELECT count(*) FROM shilian.figures_cache_dirty'), '0', 'no mark left');

# every row of the live count, all months, the province: a fingerprint
my $live = q{SELECT md5(string_agg(f::text, ',' ORDER BY m, f::text))
	FROM unnest(ARRAY['2026-01-01', '2026-02-01', '2026-03-01']::date[]) m,
		LATERAL shilian.station_figures_scan('370000', daterange(m, (m + interval '1 month')::date)) f};

sub agree
{
	my ($when) = @_;
	for my $m (@months)
	{
		for my $code ('370000', $city, $county)
		{
			my $q = qq{
				WITH c AS (SELECT * FROM shilian.station_figures('$code', daterange('$m', ('$m'::date + interval '1 month')::date))),
				s AS (SELECT * FROM shilian.station_figures_scan('$code', daterange('$m', ('$m'::date + interval '1 month')::date)))
				SELECT (SELECT count(*) FROM s) || ' ' || (SELECT count(*) FROM (
					(SELECT * FROM c EXCEPT ALL SELECT * FROM s) UNION ALL (SELECT * FROM s EXCEPT ALL SELECT * FROM c)) d)};
			my ($rows, $diff) = split / /, $node->safe_psql('prov', $q);
			ok($rows > 0, "$when: $code $m has $rows station rows");
			is($diff, '0', "$when: $code $m: the cached figures are the live ones");
		}
	}
	# the cache still serves: most stations of March are clean
	my $clean = $node->safe_psql('prov', q{
		SELECT count(*) FROM shilian.figures_cache_station c
		 WHERE c.month = '2026-03-01' AND NOT EXISTS (SELECT 1 FROM shilian.figures_cache_dirty d
			WHERE d.station = c.station AND d.month_from <= c.month AND (d.month_to IS NULL OR d.month_to >= c.month))});
	ok($clean > 500, "$when: $clean stations of March still read from the cache");
}

agree('as cached');

# a batch of changes: it must move the live figures and mark something
sub batch
{
	my ($what, $sql) = @_;
	my $before = $node->safe_psql('prov', $live);
	my $marks = $node->safe_psql('prov', 'SELECT count(*) FROM shilian.figures_cache_dirty');
	my $done = $node->safe_psql('prov', "SET search_path = shilian, public; SET TimeZone = 'Asia/Shanghai';\n$sql");
	diag("$what: $done changes went through");
	isnt($node->safe_psql('prov', $live), $before, "$what: the live figures of the ended months moved");
	ok($node->safe_psql('prov', 'SELECT count(*) FROM shilian.figures_cache_dirty') > $marks, "$what: stations marked");
	agree($what);
}

# a helper that runs each statement of a list in its own subtransaction
# and counts those that went through (a random change may be refused by a
# record function's checks: then it changed nothing)
$node->safe_psql('prov', q{
	CREATE FUNCTION public.try_all(stmts text[]) RETURNS integer LANGUAGE plpgsql AS $$
	DECLARE s text; n integer := 0;
	BEGIN
		FOREACH s IN ARRAY stmts LOOP
			BEGIN
				EXECUTE s;
				n := n + 1;
			EXCEPTION WHEN OTHERS THEN
				NULL;
			END;
		END LOOP;
		RETURN n;
	END $$});

batch('back-dated registry changes (2026-02-20)', q{
	SELECT setseed(0.23);
	SET shilian.registry_time = '2026-02-20 00:00+08';
	SELECT public.try_all(ARRAY(
		SELECT format('SELECT shilian.operator_suspend(%s, %L)', o.id, 'late') FROM (
			SELECT id FROM operator WHERE status = 'active' ORDER BY random() LIMIT 6) o
		UNION ALL
		SELECT format('SELECT shilian.operator_update(%s, station => %L)', o.id,
			(SELECT j.code FROM jurisdiction j WHERE j.level = 'station' AND j.code <> o.station ORDER BY random() LIMIT 1))
		  FROM (SELECT id, station FROM operator WHERE status = 'active' ORDER BY random() LIMIT 4) o
		UNION ALL
		SELECT format('SELECT shilian.operator_update(%s, own_system => %L, kinds => %L)', o.id, NOT o.own_system,
			ARRAY['school_canteen'])
		  FROM (SELECT id, own_system FROM operator WHERE status = 'active' AND segment = 'catering'
				 ORDER BY random() LIMIT 4) o
		UNION ALL
		SELECT format('SELECT shilian.operator_activate(%s)', o.id)
		  FROM (SELECT id FROM operator WHERE status = 'registered' ORDER BY random() LIMIT 4) o));
});

batch('back-dated licence and roll changes (2026-03-05)', q{
	SELECT setseed(0.31);
	SET shilian.registry_time = '2026-03-05 00:00+08';
	SELECT public.try_all(ARRAY(
		-- key licences, from the roll's licences not on the platform, for
		-- operators of a station
		SELECT format('SELECT shilian.licence_add(%s, %L, %L, %L, %L)', o.id, r.licence_no,
			ARRAY['aquatic'], '2025-01-01', '2030-12-31')
		  FROM (SELECT id, row_number() OVER () AS n FROM (SELECT id FROM operator WHERE status = 'active'
				 AND NOT (kinds && key_catering_kinds()) ORDER BY random() LIMIT 6) x) o
		  JOIN (SELECT r.licence_no, row_number() OVER () AS n FROM (SELECT r.licence_no FROM operator_roll r
				 WHERE NOT EXISTS (SELECT 1 FROM licence li WHERE li.licence_no = r.licence_no)
				 ORDER BY random() LIMIT 6) r) r ON r.n = o.n
		UNION ALL
		-- licences that end before March (valid_to moved back) and a holder changed
		SELECT format('UPDATE shilian.licence SET valid_to = %L WHERE id = %s', '2026-02-10', li.id)
		  FROM (SELECT id FROM licence ORDER BY random() LIMIT 5) li
		UNION ALL
		SELECT format('DELETE FROM shilian.licence WHERE id = %s', li.id)
		  FROM (SELECT id FROM licence ORDER BY random() LIMIT 3) li
		UNION ALL
		-- the roll: a licence moved to another station, one dropped
		SELECT format('UPDATE shilian.operator_roll SET station = %L WHERE licence_no = %L',
			(SELECT j.code FROM jurisdiction j WHERE j.level = 'station' AND j.code <> r.station ORDER BY random() LIMIT 1),
			r.licence_no)
		  FROM (SELECT licence_no, station FROM operator_roll ORDER BY random() LIMIT 4) r
		UNION ALL
		SELECT format('DELETE FROM shilian.operator_roll WHERE licence_no = %L', r.licence_no)
		  FROM (SELECT licence_no FROM operator_roll ORDER BY random() LIMIT 3) r));
});

batch('late records dated in ended months', q{
	SELECT setseed(0.47);
	-- lots of products the operators hold a licence for, dated in February
	-- or March, by operators that recorded nothing in that month (the
	-- activity figures move), and by some that did (only the counters do)
	SELECT public.try_all(ARRAY(
		SELECT format('SELECT shilian.batch_create(%s, %s, %L, %L)', o.id, p.id, '1 kg', o.day)
		  FROM (SELECT o.id, d.day FROM operator o
				 CROSS JOIN (VALUES (date '2026-02-25'), (date '2026-03-12')) d(day)
				 WHERE o.status = 'active'
				   AND NOT EXISTS (SELECT 1 FROM operator_month m WHERE m.operator_id = o.id
									AND m.month = date_trunc('month', d.day)::date)
				 ORDER BY random() LIMIT 30) o
		  CROSS JOIN LATERAL (SELECT p.id FROM product p JOIN licence li ON li.operator_id = o.id
							   AND p.category = ANY (li.scope) ORDER BY random() LIMIT 1) p
		UNION ALL
		SELECT format('SELECT shilian.batch_create(%s, %s, %L, %L)', o.id, p.id, '1 kg', '2026-03-20')
		  FROM (SELECT id FROM operator WHERE status = 'active' ORDER BY random() LIMIT 10) o
		  CROSS JOIN LATERAL (SELECT p.id FROM product p JOIN licence li ON li.operator_id = o.id
							   AND p.category = ANY (li.scope) ORDER BY random() LIMIT 1) p));
});

batch('receipts and rejections of sales shipped in ended months', q{
	SELECT setseed(0.59);
	SELECT public.try_all(ARRAY(
		-- received or rejected now (a record of this month: only the sale's
		-- status moves the ended month) or the day after shipping
		SELECT CASE WHEN random() < 0.5
			THEN format('SELECT shilian.receive(%s, %L, %L)', l.id, l.qty_shipped::text, '{"inspector": "late"}')
			WHEN random() < 0.5 THEN format('SELECT shilian.reject(%s, %L)', l.id, 'late')
			ELSE format('SELECT shilian.reject(%s, %L, %L)', l.id, 'late',
				(l.shipped_on + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' + interval '10 hours') END
		  FROM (SELECT * FROM link WHERE kind = 'ship' AND status = 'pending' AND shipped_on < '2026-04-01'
				 ORDER BY random() LIMIT 40) l));
});

batch('key lots of licence-less producers', q{
	SELECT setseed(0.71);
	SELECT public.try_all(ARRAY(
		SELECT format('SELECT shilian.batch_create(%s, %s, %L, %L)', o.id, p.id, '3 kg', '2026-02-05')
		  FROM (SELECT id FROM operator o WHERE status = 'active' AND NOT (kinds && key_catering_kinds())
				   AND NOT EXISTS (SELECT 1 FROM licence li WHERE li.operator_id = o.id)
				 ORDER BY random() LIMIT 10) o
		  CROSS JOIN LATERAL (SELECT p.id FROM product p WHERE p.edible_agricultural
							   AND p.category = ANY (key_categories()) ORDER BY random() LIMIT 1) p));
});

# key lots given to other owners (a direct UPDATE, as a DBA's fix writes
# it): operators active at March's end, of no key kind, holding no licence
# valid in March and no key lot, each become the owner of a key lot of
# February or March, and so a 10+3 operator in March. The batch's UPDATE
# trigger, which fires only when a column it compares is set, marks the old
# and the new owner's stations from the lot's month on.
batch('key lots given to licence-less operators', q{
	SELECT public.try_all(ARRAY(
		SELECT format('UPDATE shilian.batch SET owner_id = %s WHERE id = %s', n.id, k.id)
		  FROM (SELECT o.id, row_number() OVER (ORDER BY o.id) AS r
				  FROM operator o
				 WHERE EXISTS (SELECT 1 FROM operator_history h WHERE h.operator_id = o.id
								AND h.valid @> '2026-03-31 12:00+08'::timestamptz AND h.status = 'active'
								AND NOT (h.kinds && key_catering_kinds()))
				   AND NOT EXISTS (SELECT 1 FROM licence_history li
									WHERE li.operator_id = o.id AND li.valid_to >= '2026-03-01')
				   AND NOT EXISTS (SELECT 1 FROM batch b JOIN product p ON p.id = b.product_id
									WHERE b.owner_id = o.id AND b.origin = 'produced' AND p.edible_agricultural
									  AND p.category = ANY (key_categories()))) n
		  JOIN (SELECT b.id, row_number() OVER (ORDER BY b.id) AS r
				  FROM batch b JOIN product p ON p.id = b.product_id
				 WHERE b.origin = 'produced' AND p.edible_agricultural AND p.category = ANY (key_categories())
				   AND b.produced_on < '2026-04-01') k ON k.r = n.r
		 ORDER BY n.r LIMIT 3));
});

# a change recorded now cannot move an ended month: no mark
my $marks = $node->safe_psql('prov', 'SELECT count(*) FROM shilian.figures_cache_dirty');
$node->safe_psql('prov', q{
	SELECT shilian.licence_add(o.id, 'SC19999990000011', '{aquatic}', '2025-01-01', '2030-12-31')
	  FROM (SELECT id FROM shilian.operator WHERE status = 'active' ORDER BY id DESC LIMIT 1) o;
	SELECT shilian.operator_suspend(o.id, 'now')
	  FROM (SELECT id FROM shilian.operator WHERE status = 'active' ORDER BY id LIMIT 1) o});
is($node->safe_psql('prov', 'SELECT count(*) FROM shilian.figures_cache_dirty'), $marks,
	'a licence and a suspension recorded now mark nothing: recorded after the months ended');

# the refresh consumes the marks; the cache is whole and right again
$node->safe_psql('prov', 'SELECT shilian.figures_cache_refresh()');
$node->safe_psql('prov', "SELECT shilian.figures_cache_refresh('2026-01-01')");
is($node->safe_psql('prov', 'SELECT count(*) FROM shilian.figures_cache_dirty'), '0', 'the refresh consumed the marks');
agree('refreshed');

# reads never write: in a read-only transaction
is($node->safe_psql('prov', qq{
	BEGIN TRANSACTION READ ONLY;
	SELECT count(*) > 0 FROM shilian.jurisdiction_stats('370000', '[2026-03-01,2026-03-31]');
	COMMIT;}), 't', 'jurisdiction_stats reads the cache in a read-only transaction');

done_testing();
