# Failover with pg_auto_failover (docs/operations.md#failover): a monitor, a
# primary and a secondary on local ports, synchronous replication (the
# secondary in the write quorum), durable settings; the gateway's dsn names
# both nodes with target_session_attrs=read-write. 8 writers create lots,
# ship and receive through the gateway, each noting every request answered
# 2xx; the primary node (its pg_autoctl and its postmaster) is killed with
# SIGKILL. The monitor promotes the secondary, the running gateway follows
# it, and then every acknowledged lot, sale and receipt is on the new
# primary and every hash chain and the Merkle log verify. The old primary's
# pg_autoctl, started again, rejoins as a secondary. The write outage (from
# the kill to the first 2xx after it), the throughput before the kill and the
# replication lag under that load are printed (and kept in
# tmp_check/failover_figures.txt).
use strict;
use warnings;
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ShilianTest;

my $autoctl = '/usr/bin/pg_autoctl';
plan skip_all => 'pg_autoctl is not installed (make deps installs postgresql-15-auto-failover)' unless -x $autoctl;
my $pgctl = ($ENV{SHILIAN_BINDIR} // '/usr/lib/postgresql/15/bin') . '/pg_ctl';
my $WRITERS = 8;
my $dir = $PostgreSQL::Test::Utils::tmp_check;
# pg_autoctl keeps its configuration and state under XDG directories: the test's own
$ENV{XDG_CONFIG_HOME} = "$dir/xdg/config";
$ENV{XDG_DATA_HOME} = "$dir/xdg/data";
$ENV{XDG_RUNTIME_DIR} = "$dir/xdg/run";
mkdir "$dir/xdg"; mkdir $ENV{$_} for qw(XDG_CONFIG_HOME XDG_DATA_HOME XDG_RUNTIME_DIR);
delete $ENV{$_} for qw(PGHOST PGPORT PGDATA PGDATABASE PGUSER);

my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } qw(monitor node1 node2);
my %pgdata = map { $_ => "$dir/ha_$_" } qw(monitor node1 node2);
my %proc;	# name => pid of its `pg_autoctl run` (a process group of its own)
my $parent = $$;
my @writers;

sub run_ok
{
	my ($what, @cmd) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run(\@cmd, '>', \$out, '2>', \$err);
	ok($ok, $what) or BAIL_OUT("@cmd\n$out$err");
	return $ok;
}

# `pg_autoctl run` for a node, in a process group of its own (kill -9 of the
# node is a kill of that group and of its postmaster).
sub start_node
{
	my ($name, @create) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		POSIX::setpgid(0, 0);
		open STDOUT, '>>', "$dir/autoctl_$name.log" or die;
		open STDERR, '>&', \*STDOUT or die;
		exec $autoctl, @create ? (@create, '--run') : ('run', '--pgdata', $pgdata{$name}) or die "exec: $!";
	}
	$proc{$name} = $pid;
}

sub postmaster_pid
{
	my ($name) = @_;
	open my $fh, '<', "$pgdata{$name}/postmaster.pid" or return undef;
	my $pid = <$fh>;
	chomp $pid;
	return $pid;
}

sub kill_node
{
	my ($name, $sig) = @_;
	my $pm = postmaster_pid($name);
	kill $sig, -$proc{$name} if $proc{$name};
	kill $sig, $pm if $pm && $sig eq 'KILL';
	waitpid($proc{$name}, 0) if $proc{$name};
	delete $proc{$name};
	return $pm;
}

# Everything started here stops, even when the test dies.
END
{
	if ($$ == $parent)
	{
		local $?;
		kill 'KILL', @writers;
		waitpid($_, 0) for @writers;
		for my $n (qw(node2 node1 monitor))
		{
			next unless $proc{$n};
			kill 'TERM', $proc{$n};
			my $until = time + 60;
			usleep(100_000) while waitpid($proc{$n}, POSIX::WNOHANG()) == 0 && time < $until;
			kill 'KILL', -$proc{$n};
			waitpid($proc{$n}, 0);
		}
		for my $n (qw(node2 node1 monitor))
		{
			system($pgctl, '-D', $pgdata{$n}, '-m', 'immediate', 'stop') if -f "$pgdata{$n}/postmaster.pid";
		}
	}
}

sub psql_at
{
	my ($port, $sql, $db) = @_;
	my ($out, $err);
	my $ok = eval { IPC::Run::run([ 'psql', '-X', '-qAt', '-h', '127.0.0.1', '-p', $port, '-U', 'postgres',
		'-d', $db // 'postgres', '-v', 'ON_ERROR_STOP=1' ], '<', \$sql, '>', \$out, '2>', \$err) };
	return undef unless $ok;
	chomp $out;
	return $out;
}

sub wait_for
{
	my ($cond, $secs) = @_;
	my $until = time + $secs;
	until ($cond->()) { return 0 if time > $until; usleep(200_000); }
	return 1;
}

# The monitor's view: "node1:primary/primary node2:secondary/secondary"
sub states
{
	return psql_at($port{monitor}, q{select string_agg(nodename || ':' || reportedstate || '/' || goalstate, ' ' order by nodename)
		from pgautofailover.node}, 'pg_auto_failover') // '';
}

# 1. The monitor, with health checks tuned for a quick test (docs/operations.md
# gives the production values).
my @common = ('--pgctl', $pgctl, '--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl');
run_ok('pg_autoctl create monitor', $autoctl, 'create', 'monitor', '--pgdata', $pgdata{monitor},
	'--pgport', $port{monitor}, @common);
start_node('monitor');
ok(wait_for(sub { defined psql_at($port{monitor}, 'select 1', 'pg_auto_failover') }, 60), 'the monitor runs');
psql_at($port{monitor}, q{
	alter system set pgautofailover.health_check_period = 1000;
	alter system set pgautofailover.health_check_timeout = 1000;
	alter system set pgautofailover.health_check_max_retries = 1;
	alter system set pgautofailover.health_check_retry_delay = 500;
	alter system set pgautofailover.node_considered_unhealthy_timeout = 3000;
	alter system set pgautofailover.primary_demote_timeout = 5000;
	select pg_reload_conf();
}, 'pg_auto_failover');
my $monitor_uri = "postgres://autoctl_node\@127.0.0.1:$port{monitor}/pg_auto_failover?sslmode=disable";

# 2. The primary, then the secondary (a base backup of it).
sub create_node
{
	my ($name) = @_;
	start_node($name, 'create', 'postgres', '--pgdata', $pgdata{$name},
		'--pgport', $port{$name}, '--pghost', '127.0.0.1', '--listen', '127.0.0.1', '--name', $name,
		'--monitor', $monitor_uri, '--dbname', 'postgres', @common);
}
create_node('node1');
ok(wait_for(sub { states() =~ /node1:single\/single/ && defined psql_at($port{node1}, 'select 1') }, 120),
	'node1 runs alone (single)') or diag(states());
psql_at($port{node1}, q{
	alter system set timezone = 'UTC';
	alter system set fsync = on;
	alter system set synchronous_commit = on;
	alter system set full_page_writes = on;
	select pg_reload_conf();
}) // die 'settings';
create_node('node2');
ok(wait_for(sub { states() eq 'node1:primary/primary node2:secondary/secondary' }, 180),
	'node2 joins as a secondary') or diag(states());
is(psql_at($port{node1}, q{select current_setting('synchronous_standby_names') <> ''
	and (select sync_state from pg_stat_replication limit 1) in ('sync', 'quorum')}), 't',
	'the secondary is a synchronous standby: a commit waits for it');

# 3. The schema, operators and products on the primary (replicated).
psql_at($port{node1}, 'create extension shilian') // die 'create extension';
my $setup = psql_at($port{node1}, q{
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
	select count(shilian.licence_add(w.id, l::shilian.licence_no, '{vegetables}', '2024-01-01', '2030-12-31'))
	  from w join (values (1, 'JY13701020000018'), (2, 'JY13701020000026')) v(i, l) using (i);
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true)
		|| ' ' || (select string_agg(id::text, ',' order by i) from f) || ' '
		|| (select string_agg(id::text, ',' order by i) from w);
}) // die 'setup';
my ($product, $farms, $whs) = split ' ', (split /\n/, $setup)[-1];
my @farm = split /,/, $farms;
my @wh = split /,/, $whs;

my $gw = start_gateway(undef, threads => 8, no_valgrind => 1,
	dsn => "host=127.0.0.1,127.0.0.1 port=$port{node1},$port{node2} dbname=postgres user=shilian_gateway "
	  . 'target_session_attrs=read-write connect_timeout=2');

# One writer: lot, sale, receipt, again and again until the stop file;
# every 2xx is appended at once, with the times its request was sent and
# answered.
sub writer
{
	my ($i) = @_;
	my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
	my $ftok = make_jwt({ role => 'operator', operator_id => $farm[$i] });
	my $wid = $wh[ $i % 2 ];
	my $wtok = make_jwt({ role => 'operator', operator_id => $wid });
	open my $log, '>>', "$dir/acked.$i" or die;
	$log->autoflush(1);
	my $sent;
	my $post = sub {
		my ($tok, $path, $body) = @_;
		$sent = time;
		my $r = $ua->post("$gw->{url}$path", { content => encode_json($body),
			headers => { Authorization => "Bearer $tok", 'Content-Type' => 'application/json' } });
		return $r->{status} =~ /^2/ ? decode_json($r->{content}) : undef;
	};
	until (-e "$dir/stop")
	{
		my $b = $post->($ftok, '/v1/batches', { product => $product, qty => '100 kg' });
		unless ($b) { usleep(50_000); next; }
		printf $log "%.3f %.3f batch %s\n", $sent, time, $b->{trace_code};
		my $s = $post->($ftok, '/v1/shipments', { code => $b->{trace_code}, buyer => $wid, qty => '10 kg' }) or next;
		printf $log "%.3f %.3f ship %s %s\n", $sent, time, $s->{link}, $b->{trace_code};
		my $rc = $post->($wtok, '/v1/receipts', { link => $s->{link}, qty => '10 kg', inspection => { inspector => '张三' } })
		  or next;
		printf $log "%.3f %.3f receive %s %s\n", $sent, time, $s->{link}, $rc->{trace_code};
	}
	POSIX::_exit(0);
}

sub acked
{
	my @lines;
	for my $i (0 .. $WRITERS - 1)
	{
		my $f = "$dir/acked.$i";
		push @lines, split /\n/, slurp_file($f) if -e $f;
	}
	return @lines;
}

for my $i (0 .. $WRITERS - 1)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	writer($i) if $pid == 0;
	push @writers, $pid;
}
ok(wait_for(sub { acked() >= 40 }, 120), 'writers under way through the gateway (' . scalar(acked()) . ' acknowledged)');
# Throughput and replication lag under this load, over 10 seconds.
my ($t0, $n0) = (time, scalar(acked()));
my @lag;
for (1 .. 10)
{
	sleep 1;
	my $l = psql_at($port{node1}, q{select coalesce(extract(epoch from replay_lag) * 1000, 0)::int || ' '
		|| pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) from pg_stat_replication limit 1});
	push @lag, [ split ' ', $l ] if defined $l && $l ne '';
}
my $rate = (acked() - $n0) / (time - $t0);
my @lag_ms = sort { $a <=> $b } map { $_->[0] } @lag;
my @lag_bytes = sort { $a <=> $b } map { $_->[1] } @lag;

# 4. The primary node dies: its pg_autoctl and its postmaster, SIGKILL.
kill_node('node1', 'KILL');
my $kill_at = time;
my $at_kill = acked();
ok(wait_for(sub { states() =~ /node2:(wait_primary|primary)\/(wait_primary|primary)/ }, 120),
	'the monitor promotes node2') or diag(states());
my $promoted_at = time;
ok(wait_for(sub { acked() >= $at_kill + 30 }, 120),
	'the running gateway writes to the new primary (' . (acked() - $at_kill) . ' more acknowledged)');
# the outage: from the kill to the first 2xx of a request sent after it
my ($first_after) = sort { $a <=> $b } map { $_->[1] } grep { $_->[0] > $kill_at } map { [ split ' ' ] } acked();
my $outage = defined $first_after ? $first_after - $kill_at : -1;
ok($outage > 0, sprintf('write outage: %.1f s from the kill to the first 2xx of a request sent after it', $outage));

open my $stop, '>', "$dir/stop" or die;
close $stop;
waitpid($_, 0) for @writers;
@writers = ();

# 5. Nothing acknowledged is lost: everything is on the new primary.
my @acked = acked();
my (%code, %ship, %recv);
for (@acked)
{
	my @f = (split ' ')[ 1 .. 4 ];
	$code{ $f[2] } = 1 if $f[1] eq 'batch';
	$ship{ $f[2] } = $f[3] if $f[1] eq 'ship';
	if ($f[1] eq 'receive') { $recv{ $f[2] } = $f[3]; $code{ $f[3] } = 1; }
}
my $p2 = $port{node2};
my $codes = join ',', sort keys %code;
is(psql_at($p2, "select count(*) from shilian.batch where trace_code::text = any ('{$codes}')"),
	scalar(keys %code), 'every acknowledged lot is on the new primary (' . scalar(keys %code) . ')');
my $ships = join ',', map { "($_, '$ship{$_}')" } sort keys %ship;
is(psql_at($p2, "select count(*) from (values $ships) v(link, code)
	join shilian.link l on l.id = v.link join shilian.batch b on b.id = l.from_batch and b.trace_code::text = v.code"),
	scalar(keys %ship), 'every acknowledged sale is there, from its lot (' . scalar(keys %ship) . ')');
my $recvs = join ',', map { "($_, '$recv{$_}')" } sort keys %recv;
is(psql_at($p2, "select count(*) from (values $recvs) v(link, code)
	join shilian.link l on l.id = v.link and l.status = 'received'
	join shilian.batch b on b.id = l.to_batch and b.trace_code::text = v.code"),
	scalar(keys %recv), 'every acknowledged receipt is there, with its lot (' . scalar(keys %recv) . ')');
is(psql_at($p2, q{select count(*) filter (where not ok) || ' of ' || count(*) from shilian.chain_verify()}),
	'0 of ' . (@farm + @wh), 'every hash chain verifies on the new primary');
psql_at($p2, 'select shilian.checkpoint()');
is(psql_at($p2, q{select ok from shilian.log_verify()}), 't', 'the Merkle log verifies, with a checkpoint taken after the failover');

# 6. The old primary rejoins as a secondary (pg_rewind if needed).
start_node('node1');
ok(wait_for(sub { states() eq 'node1:secondary/secondary node2:primary/primary' }, 180),
	'the old primary rejoins as a secondary') or diag(states());
is(psql_at($port{node1}, 'select pg_is_in_recovery()'), 't', 'node1 is a standby now');
my $n_new = psql_at($p2, 'select count(*) from shilian.ledger');
ok(wait_for(sub { (psql_at($port{node1}, 'select count(*) from shilian.ledger') // -1) eq $n_new }, 60),
	"node1 replays the new primary's ledger ($n_new records)");

my $figures = sprintf("records/s (lot, sale and receipt requests answered 2xx, 8 writers, synchronous replication): %.1f\n"
	  . "replication replay lag under that load: median %d ms, max %d ms; WAL behind: median %d bytes, max %d bytes\n"
	  . "write outage (kill -9 of the primary node to the first 2xx of a request sent after it): %.1f s; the monitor showed the promotion by %.1f s\n",
	$rate, $lag_ms[ $#lag_ms / 2 ] // -1, $lag_ms[-1] // -1, $lag_bytes[ $#lag_bytes / 2 ] // -1,
	$lag_bytes[-1] // -1, $outage, $promoted_at - $kill_at);
diag($figures);
open my $ff, '>', "$dir/failover_figures.txt" or die;
print $ff $figures;
close $ff;

stop_gateway($gw);
done_testing();
