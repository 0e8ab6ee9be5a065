# Nothing acknowledged is lost: a cluster with the durable settings `make
# run` uses (fsync, synchronous_commit, full_page_writes on; PostgreSQL's
# test clusters turn fsync off, so this one turns it back on) and a gateway;
# 8 writers create lots, ship and receive through the gateway, each noting
# every request answered 2xx; the postmaster is killed with SIGKILL mid-way
# and restarted. Then every acknowledged lot, sale and receipt is there,
# every hash chain and the Merkle log verify, and the activity counters and
# the regulator rollups equal their recounts. Three rounds, the gateway
# running throughout: it reconnects by itself after each restart.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ShilianTest;

my $WRITERS = 8;
my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', q{
# durable, as `make run` (tests/lib/common.sh cluster_init)
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 60
});
$node->start;
is($node->safe_psql('postgres',
	q{select string_agg(name || '=' || setting, ' ' order by name) from pg_settings
	   where name in ('fsync', 'synchronous_commit', 'full_page_writes')}),
	'fsync=on full_page_writes=on synchronous_commit=on', 'the cluster runs with the durable settings');
$node->safe_psql('postgres', 'CREATE EXTENSION shilian');

# 8 farms (one per writer) sell to 2 wholesalers that receive.
my $setup = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	create temp table f as select i, shilian.operator_register('农场' || i, 'production', '{farm}', '370112001',
		'历城', '1', reg_card => 'CR-F' || i) as id from generate_series(1, 8) i;
	create temp table w as select i, shilian.operator_register('批发' || i, 'circulation', '{wholesaler}',
		'370102001', '历下', '2', reg_card => 'CR-W' || i) as id from generate_series(1, 2) i;
	select count(shilian.operator_activate(id)) from (table f union all table w) x;
	select shilian.licence_add(w.id, l::shilian.licence_no, '{vegetables}', '2024-01-01', '2030-12-31')
	  from w join (values (1, 'JY13701020000018'), (2, 'JY13701020000026')) v(i, l) using (i);
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \gset
	select :p || ' ' || (select string_agg(id::text, ',' order by i) from f) || ' '
		|| (select string_agg(id::text, ',' order by i) from w);
});
my ($product, $farms, $whs) = split ' ', (split /\n/, $setup)[-1];
my @farm = split /,/, $farms;
my @wh = split /,/, $whs;

my $gw = start_gateway($node, threads => 8,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $dir = $PostgreSQL::Test::Utils::tmp_check;

# One writer: lot, sale, receipt, again and again, until the stop file
# appears; every 2xx is appended to its file at once.
sub writer
{
	my ($i, $round) = @_;
	my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
	my $ftok = make_jwt({ role => 'operator', operator_id => $farm[$i] });
	my $wid = $wh[ $i % 2 ];
	my $wtok = make_jwt({ role => 'operator', operator_id => $wid });
	open my $log, '>>', "$dir/acked.$round.$i" or die;
	$log->autoflush(1);
	my $post = sub {
		my ($tok, $path, $body) = @_;
		my $r = $ua->post("$gw->{url}$path", { content => encode_json($body),
			headers => { Authorization => "Bearer $tok", 'Content-Type' => 'application/json' } });
		return $r->{status} =~ /^2/ ? decode_json($r->{content}) : undef;
	};
	until (-e "$dir/stop.$round")
	{
		my $b = $post->($ftok, '/v1/batches', { product => $product, qty => '100 kg' });
		unless ($b) { usleep(50_000); next; }
		print $log "batch $b->{trace_code}\n";
		my $s = $post->($ftok, '/v1/shipments', { code => $b->{trace_code}, buyer => $wid, qty => '10 kg' }) or next;
		print $log "ship $s->{link} $b->{trace_code}\n";
		my $rc = $post->($wtok, '/v1/receipts', { link => $s->{link}, qty => '10 kg', inspection => { inspector => '张三' } })
		  or next;
		print $log "receive $s->{link} $rc->{trace_code}\n";
	}
	# no END blocks in a writer (ShilianTest's would stop the gateway)
	POSIX::_exit(0);
}

# A test that dies leaves no writer behind.
my $parent = $$;
my @writers;
END { if ($$ == $parent) { kill 'KILL', @writers; waitpid($_, 0) for @writers; } }

# After kill -9 of the postmaster: wait until it is gone and its backends
# have noticed and exited (they hold the shared memory), then start again.
sub restart_after_kill
{
	my ($pid) = @_;
	wait_for('postmaster gone', sub { !kill(0, $pid) }, 60);
	for (1 .. 60)
	{
		return 1 if $node->start(fail_ok => 1);
		$node->{_pid} = undef;	# a failed start may have read the old pid file
		sleep 1;
	}
	return 0;
}

sub acked
{
	my ($round) = @_;
	my @lines;
	for my $i (0 .. $WRITERS - 1)
	{
		my $f = "$dir/acked.$round.$i";
		push @lines, split /\n/, slurp_file($f) if -e $f;
	}
	return @lines;
}

sub wait_for
{
	my ($what, $cond, $secs) = @_;
	my $until = time + $secs;
	until ($cond->()) { return 0 if time > $until; usleep(100_000); }
	return 1;
}

# Rows that differ between a table as it is and after a rebuild (rolled back).
sub rebuild_diff
{
	my ($rebuild, @tables) = @_;
	my $keep = join '', map { "create temp table k_$_ as select * from shilian.$_;\n" } @tables;
	my $diff = join ' + ', map { "(select count(*) from ((table k_$_ except all table shilian.$_) "
		  . "union all (table shilian.$_ except all table k_$_)) d)" } @tables;
	my $out = $node->safe_psql('postgres', "begin;\n${keep}select $rebuild;\nselect $diff;\nrollback;");
	return (split /\n/, $out)[-1];
}

for my $round (1 .. 3)
{
	@writers = ();
	for my $i (0 .. $WRITERS - 1)
	{
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		writer($i, $round) if $pid == 0;
		push @writers, $pid;
	}
	ok(wait_for('writes', sub { acked($round) >= 40 }, 120), "round $round: writers under way (" . scalar(acked($round)) . ' acknowledged)');
	my $postmaster = $node->{_pid};
	$node->kill9;
	my $at_kill = acked($round);
	ok(restart_after_kill($postmaster), "round $round: the cluster restarts after kill -9 (crash recovery)");
	ok(wait_for('more writes', sub { acked($round) >= $at_kill + 30 }, 120),
		"round $round: the gateway reconnects and acknowledges writes again (" . (acked($round) - $at_kill) . ' more)');
	open my $stop, '>', "$dir/stop.$round" or die;
	close $stop;
	waitpid($_, 0) for @writers;
	@writers = ();

	my @acked = acked($round);
	my (%code, %ship, %recv);
	for (@acked)
	{
		my @f = split ' ';
		$code{ $f[1] } = 1 if $f[0] eq 'batch';
		$ship{ $f[1] } = $f[2] if $f[0] eq 'ship';
		if ($f[0] eq 'receive') { $recv{ $f[1] } = $f[2]; $code{ $f[2] } = 1; }
	}
	my $codes = join ',', sort keys %code;
	is($node->safe_psql('postgres', "select count(*) from shilian.batch where trace_code::text = any ('{$codes}')"),
		scalar(keys %code), "round $round: every acknowledged lot is there (" . scalar(keys %code) . ')');
	my $ships = join ',', map { "($_, '$ship{$_}')" } sort keys %ship;
	is($node->safe_psql('postgres', "select count(*) from (values $ships) v(link, code)
		join shilian.link l on l.id = v.link join shilian.batch b on b.id = l.from_batch and b.trace_code::text = v.code"),
		scalar(keys %ship), "round $round: every acknowledged sale is there, from its lot (" . scalar(keys %ship) . ')');
	my $recvs = join ',', map { "($_, '$recv{$_}')" } sort keys %recv;
	is($node->safe_psql('postgres', "select count(*) from (values $recvs) v(link, code)
		join shilian.link l on l.id = v.link and l.status = 'received'
		join shilian.batch b on b.id = l.to_batch and b.trace_code::text = v.code"),
		scalar(keys %recv), "round $round: every acknowledged receipt is there, with its lot (" . scalar(keys %recv) . ')');
	is($node->safe_psql('postgres', q{select count(*) filter (where not ok) || ' of ' || count(*) from shilian.chain_verify()}),
		'0 of ' . (2 + @farm), "round $round: every hash chain verifies");
	is($node->safe_psql('postgres', q{select ok from shilian.log_verify()}), 't', "round $round: the Merkle log verifies");
	is(rebuild_diff('shilian.operator_day_rebuild()', 'operator_day', 'operator_month'), '0',
		"round $round: the activity counters equal their recount");
	is(rebuild_diff('shilian.rollup_rebuild()', 'roll_station', 'operator_station', 'station_month'), '0',
		"round $round: the regulator rollups equal their recount");
}

stop_gateway($gw);
$node->stop;
done_testing();
