# GET /v1/batches pages by key: after= continues from the last row of the
# page before (Link rel=next), every batch comes once in order however the
# pages fall (ties in created_at included), and a page reads as many rows
# as it returns: the total is counted only on Prefer: count=exact
# (PostgREST's convention). auto_explain logs each statement's plan with
# its actual row counts, so the test sees what the first page read (the
# count's subquery is folded away, or left as an InitPlan that never runs).
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ShilianTest;

my $N = 1500;
my $node = PostgreSQL::Test::Cluster->new('gw_keyset');
$node->init;
# Generic plans (what a prepared statement may settle on) are the harder
# case: no parameter value is known when the plan is made.
$node->append_conf('postgresql.conf', qq{fsync = off
plan_cache_mode = force_generic_plan
session_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_timing = off
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION shilian');
# one operator with N batches made in three transactions (so created_at has
# three values, and ties within each), and one with a batch of its own
my $ids = $node->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('大户农场', 'production', '{farm}', '370112001', '历城', '1', reg_card => 'K-1') as f \\gset
	select shilian.operator_register('邻居农场', 'production', '{farm}', '370112001', '历城', '2', reg_card => 'K-2') as g \\gset
	select shilian.operator_activate(:f), shilian.operator_activate(:g);
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \\gset
	select :f || ' ' || :g || ' ' || :p;
});
my ($farm, $other, $product) = split ' ', (split /\n/, $ids)[-1];
for my $part (1 .. 3)
{
	$node->safe_psql('postgres', "select count(shilian.batch_create($farm, $product, '5 kg', current_date - 1)) from generate_series(1, $N / 3)");
}
$node->safe_psql('postgres', "select shilian.batch_create($other, $product, '5 kg', current_date - 1)");
$node->safe_psql('postgres', 'analyze');
my @want = split /\n/, $node->safe_psql('postgres',
	"select id from shilian.batch where owner_id = $farm order by created_at desc, id desc");
is(scalar @want, $N, "$N batches of one operator");

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $tok = make_jwt({ role => 'operator', operator_id => $farm });
sub call
{
	my ($path, %h) = @_;
	my $r = http_call($gw, 'GET', $path, headers => { Authorization => "Bearer $tok", %h });
	$r->{json} = json_body($r);
	return $r;
}

# ---- every batch once, in order, following Link rel=next ----------------------------
my (@got, $pages);
my $path = '/v1/batches?limit=200';
while (defined $path)
{
	my $r = call($path);
	is($r->{status}, 200, "page " . ($pages // 0)) or last;
	push @got, map { $_->{id} } @{ $r->{json} };
	$pages++;
	my $link = $r->{headers}{link};
	($path) = defined $link ? $link =~ /^<([^>]+)>; rel="next"$/ : ();
	last if $pages > $N;
}
is($pages, 8, '1500 rows in pages of 200: 7 full pages and a last one of 100 without a next link');
is_deeply(\@got, \@want, 'every batch once, newest first, ties broken by id');

my $r = call('/v1/batches?limit=10');
is($r->{headers}{'content-range'}, '0-9/*', 'first page: Content-Range without a total');
like($r->{headers}{link}, qr{^</v1/batches\?limit=10&after=$want[9]>; rel="next"$}, 'Link to the next page, after its last row');
$r = call("/v1/batches?limit=10&after=$want[9]");
is_deeply([ map { $_->{id} } @{ $r->{json} } ], [ @want[10 .. 19] ], 'the second page starts after the cursor');
$r = call('/v1/batches?limit=10', Prefer => 'count=exact');
is($r->{headers}{'content-range'}, "0-9/$N", 'Prefer: count=exact counts the total');
$r = call("/v1/batches?limit=10&after=$want[9]", Prefer => 'return=minimal, count=exact');
is($r->{headers}{'content-range'}, '0-9/' . ($N - 10), 'after a cursor, the total of the rows after it');
$r = call("/v1/batches?limit=10&after=$want[-1]");
is($r->{headers}{'content-range'}, '*/*', 'past the last row: an empty page');
ok(!defined $r->{headers}{link}, 'with no next link');

# the cursor is one of the caller's batches, nothing else
my $foreign = $node->safe_psql('postgres', "select id from shilian.batch where owner_id = $other");
$r = call("/v1/batches?after=$foreign");
is($r->{status}, 422, 'another operator\'s batch is no cursor');
is($r->{json}{code}, 'SLP02', 'SLP02');
is(call('/v1/batches?after=x')->{status}, 400, 'a cursor that is not a number: 400');

# ---- what a first page reads ---------------------------------------------------------
# The most rows any plan node of the route's statement returned or read.
sub rows_read
{
	my ($path, %h) = @_;
	my $from = -s $node->logfile;
	my $res = call($path, %h);
	is($res->{status}, 200, 'page read');
	my $log;
	for (1 .. 100)
	{
		$log = slurp_file($node->logfile, $from);
		last if $log =~ /Query Text: with f as not materialized.*?(?=\n\S|\z)/s;
		usleep(50_000);
	}
	my ($plan) = $log =~ /(Query Text: with f as not materialized.*?)(?=\n\d{4}-\d\d-\d\d |\z)/s;
	# rows a node returned, and rows it read and dropped by a filter
	my $max = 0;
	$max = $_ > $max ? $_ : $max for ($plan // '') =~ /(?:actual rows=|Rows Removed by Filter: )(\d+)/g;
	return ($max, $plan // '');
}
my ($max, $plan) = rows_read('/v1/batches?limit=10');
ok($max > 0 && $max <= 10, "first page without a count: no plan node reads more than the page ($max rows)")
  or diag($plan);
like($plan, qr/Index Scan Backward using batch_owner_idx on batch b .*\(actual rows=10 loops=1\)/,
	'the page is read from the index, newest first, ten rows') or diag($plan);
# a page deep down starts at its key: no row before it is read
($max, $plan) = rows_read("/v1/batches?limit=10&after=$want[-21]");
ok($max > 0 && $max <= 10, "the next-to-last page reads no more than the page either ($max rows)") or diag($plan);
($max, $plan) = rows_read('/v1/batches?limit=10', Prefer => 'count=exact');
cmp_ok($max, '>=', $N, "with Prefer: count=exact every row is counted ($max rows)") or diag($plan);

stop_gateway($gw);
$node->stop;
done_testing();
