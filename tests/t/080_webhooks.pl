# Webhooks end to end (docs/webhooks.md): the outbox, the worker
# shilian-deliver and a local receiver (tests/webhooks/receiver.py) that
# answers 503 to the first two attempts of every event and holds every
# seventh request past the worker's timeout.
#   - every committed event is delivered at least once, none from a
#     rolled-back transaction, every signature verifies (the receiver checks
#     with the docs' verify(), and again here), the idempotency key is the
#     event id, and per subscription the events arrive in outbox order;
#   - kill -9 of the worker mid-delivery, and separately a restart of the
#     cluster mid-delivery, lose nothing;
#   - a recall on a small province reaches each holder's subscription with
#     its own lots only; an operator holding none gets nothing;
#   - a delivery that outlives the retry horizon is dead, and redelivered by
#     hand it arrives with the same event id.
use strict;
use warnings;
use utf8;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use ShilianTest;

my $top = $ENV{SHILIAN_TOP} // die 'SHILIAN_TOP is not set';
my $deliver = "$top/deliver/shilian-deliver";
my $dir = $PostgreSQL::Test::Utils::tmp_check;

my $node = shilian_node('webhooks');
$node->append_conf('postgresql.conf', "shilian.webhook_allow_http = on\n");
$node->reload;

# ---- a small province -------------------------------------------------------------
# F farm -> W wholesaler -> K canteen, and W -> R retailer; X an operator
# elsewhere in the chain of nobody (its own lot only).
my $ids = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	create table ids as select
		shilian.operator_register('F', 'production', '{farm}', '370102001', 'a', '1', reg_card => 'WH-F') as f,
		shilian.operator_register('W', 'circulation', '{wholesaler}', '370102001', 'a', '1', reg_card => 'WH-W') as w,
		shilian.operator_register('K', 'catering', '{school_canteen}', '370102001', 'a', '1', reg_card => 'WH-K') as k,
		shilian.operator_register('R', 'circulation', '{retailer}', '370102001', 'a', '1', reg_card => 'WH-R') as r,
		shilian.operator_register('X', 'production', '{farm}', '370102001', 'a', '1', reg_card => 'WH-X') as x;
	select shilian.operator_activate(o) from ids, unnest(array[f, w, k, r, x]) o;
	select shilian.licence_add(w, 'JY13701020000018', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.licence_add(k, 'JY33701020000026', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.licence_add(r, 'JY23701020000014', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select f || ' ' || w || ' ' || k || ' ' || r || ' ' || x from ids;
});
my ($f, $w, $k, $r, $x) = split ' ', (split /\n/, $ids)[-1];
my ($c1, $c2, $c3, $c4, $cx) = split /\|/, $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.product_register('白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \gset
	select shilian.batch_create(f, :p, '5000 kg', '2026-03-02') as c1 from ids \gset
	select shilian.receive(shilian.ship(:'c1', w, '1000 kg', '2026-03-03'), '1000 kg', '{"inspector":"李四"}', '2026-03-04 09:00+08') as c2 from ids \gset
	select shilian.receive(shilian.ship(:'c2', k, '50 kg', '2026-03-05'), '50 kg', '{"inspector":"李四"}', '2026-03-06 09:00+08') as c3 from ids \gset
	select shilian.receive(shilian.ship(:'c2', r, '60 kg', '2026-03-05'), '60 kg', '{"inspector":"李四"}', '2026-03-06 09:00+08') as c4 from ids \gset
	select shilian.batch_create(x, :p, '10 kg', '2026-03-02') as cx from ids \gset
	select :'c1' || '|' || :'c2' || '|' || :'c3' || '|' || :'c4' || '|' || :'cx';
});
chomp $cx;
ok($c1 && $c4 && $cx, 'a farm, a wholesaler, a canteen, a retailer and an unrelated farm');

# As an operator through the gateway's pattern (role and operator per transaction).
sub as_operator
{
	my ($op, $sql) = @_;
	return $node->safe_psql('postgres', qq{
		set client_min_messages = warning;
		begin; set local role shilian_operator; select set_config('shilian.operator_id', '$op', true) \\gset
		$sql
		commit;});
}

# ---- subscriptions ---------------------------------------------------------------
my $recv_log = "$dir/receiver.log";
my $port_file = "$dir/receiver.port";
my $secrets_file = "$dir/secrets.json";
my $recv_pid = fork() // die;
if ($recv_pid == 0)
{
	open STDOUT, '>>', "$dir/receiver.out";
	open STDERR, '>>', "$dir/receiver.out";
	exec 'python3', "$top/tests/webhooks/receiver.py", '--port-file', $port_file, '--log', $recv_log,
	  '--secrets', $secrets_file, '--fail-first', '2', '--timeout-every', '7', '--hang', '2.5'
	  or die;
}
for (1 .. 200) { last if -s $port_file; usleep(50_000); }
my $port = slurp_file($port_file);
ok($port, "the receiver listens on $port");
my $base = "http://127.0.0.1:$port";

my %sub;		# path => { id, secret }
for my $s ([ $w, '/w', '{recall,receipt_draft}' ], [ $k, '/k', '{recall}' ], [ $r, '/r', '{recall}' ],
	[ $x, '/x', '{recall,receipt_draft}' ])
{
	my ($op, $path, $kinds) = @$s;
	my $j = decode_json(as_operator($op, "select shilian.webhook_subscribe('$base$path', '$kinds');"));
	$sub{$path} = { id => $j->{id}, secret => $j->{secret} };
}
{
	open my $fh, '>', $secrets_file or die;
	print $fh encode_json({ map { $_ => $sub{$_}{secret} } keys %sub });
	close $fh;
}
like($sub{'/w'}{secret}, qr/^whsec_[0-9a-f]{64}$/, 'subscribing returns the signing secret');
is($node->psql('postgres', "begin; set local role shilian_operator; select set_config('shilian.operator_id', '$w', true);"
		. " select secret from shilian.webhook_secret; commit;"), 3,
	'the secrets table is not readable by the subscribers');

# ---- the worker ----------------------------------------------------------------------
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_deliver';
my @worker_args = ('--dsn', $dsn, '--workers', '3', '--timeout', '1', '--backoff-base', '0.1',
	'--backoff-max', '0.5', '--poll-ms', '100', '--horizon', '120', '--lease', '7');
my $worker_pid;

sub start_worker
{
	my @extra = @_;
	my $pid = fork() // die;
	if ($pid == 0)
	{
		open STDOUT, '>>', "$dir/deliver.log";
		open STDERR, '>>', "$dir/deliver.log";
		exec $deliver, @worker_args, @extra or die;
	}
	$worker_pid = $pid;
}

sub stop_worker
{
	my ($sig) = @_;
	kill $sig // 'TERM', $worker_pid;
	waitpid($worker_pid, 0);
	my $status = $? >> 8;
	undef $worker_pid;
	return $status;
}

END { local $?; if ($worker_pid) { kill 'KILL', $worker_pid; waitpid($worker_pid, 0) } if ($recv_pid) { kill 'KILL', $recv_pid; waitpid($recv_pid, 0) } }

# A logged body (characters, as the log line was decoded).
sub body_of { return JSON::PP->new->decode($_[0]) }

# The receiver's log, one hash per request.
sub requests
{
	return [] unless -e $recv_log;
	return [ map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($recv_log) ];
}

sub pending
{
	return $node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where status = 'pending'");
}

sub wait_delivered
{
	my ($what) = @_;
	for (1 .. 1200)
	{
		return pass("$what: the outbox is empty") if pending() == 0;
		usleep(100_000);
	}
	fail("$what: the outbox is empty");
	diag($node->safe_psql('postgres', "select id, subscription_id, status, attempts, last_error from shilian.webhook_delivery where status = 'pending'"));
}

# Every delivered event reached its receiver with a 200 at least once; returns
# the event ids that did not.
sub missing_at_receiver
{
	my %ok = map { $_->{event} => 1 } grep { $_->{status} == 200 } @{ requests() };
	my @ids = split /\n/, $node->safe_psql('postgres',
		"select event_id from shilian.webhook_delivery where status = 'delivered' order by id");
	return grep { !$ok{$_} } @ids;
}

start_worker();

# ---- committed and rolled-back changes ---------------------------------------------
# Twenty sales to W, one transaction each, and three rolled back; a recall
# opened and rolled back.
my @links;
for my $i (1 .. 20)
{
	push @links, $node->safe_psql('postgres', "select shilian.ship('$c1', $w, '1 kg', '2026-03-07')");
}
my @rolled_back;
for my $i (1 .. 3)
{
	my $out = $node->safe_psql('postgres', "begin; select shilian.ship('$c1', $w, '1 kg', '2026-03-07'); rollback;");
	push @rolled_back, (split /\n/, $out)[0];
}
$node->safe_psql('postgres', "begin; set local role shilian_regulator; select set_config('shilian.jurisdiction', '370100', true);"
	. " select shilian.recall_open('$c1', 'never'); rollback;");
is($node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where kind = 'receipt_draft.created'"),
	20, 'one outbox row per committed sale to the subscriber');
wait_delivered('20 sales');

my $reqs = requests();
my @w_events = grep { $_->{path} eq '/w' } @$reqs;
my %link_seen = map { body_of($_->{body})->{data}{link} => 1 } grep { $_->{status} == 200 } @w_events;
is(scalar(grep { $link_seen{$_} } @links), 20, 'every committed sale reached W with a 200');
is(scalar(grep { $link_seen{$_} } @rolled_back), 0, 'no sale of a rolled-back transaction was announced');
ok(!grep({ body_of($_->{body})->{kind} =~ /^recall/ } @$reqs), 'nor the rolled-back recall');
ok(scalar(grep { $_->{status} == 503 } @w_events) >= 40, 'the receiver refused the first two attempts of each');
ok(scalar(grep { $_->{status} == 0 } @$reqs) >= 1, 'and held some past the worker\'s timeout');
ok($node->safe_psql('postgres', "select count(*) from shilian.webhook_attempt where error ~* 'timed? ?out'") >= 1,
	'the delivery log names the timeouts');

# Signatures: t=...,v1=hex HMAC-SHA256(secret, t "." body), checked twice.
my ($bad, $checked) = (0, 0);
for my $q (@$reqs)
{
	my ($t, $v1) = $q->{signature} =~ /^t=(\d+),v1=([0-9a-f]{64})$/ or do { $bad++; next };
	my $secret = $sub{ $q->{path} }{secret};
	my $body = $q->{body};
	utf8::encode($body);
	$bad++ unless hmac_sha256_hex("$t.$body", $secret) eq $v1 && $q->{sig_ok};
	$bad++ unless $q->{idempotency_key} eq $q->{event} && body_of($q->{body})->{id} eq $q->{event};
	$checked++;
}
ok($checked >= 60, "$checked requests checked");
is($bad, 0, 'every signature verifies (receiver and test) and the idempotency key is the event id');

# Order: a subscription's requests carry non-decreasing delivery ids (a
# retry repeats one; the next goes only after it is settled).
sub in_order
{
	my ($path) = @_;
	my $last = 0;
	for my $q (grep { $_->{path} eq $path } @{ requests() })
	{
		my $d = body_of($q->{body})->{delivery};
		return 0 if $d < $last;
		$last = $d;
	}
	return 1;
}
ok(in_order('/w'), 'W\'s events arrived in outbox order');
is(missing_at_receiver(), 0, 'every delivered event reached the receiver');

# ---- kill -9 of the worker mid-delivery --------------------------------------------------
my $before = scalar @{ requests() };
$node->safe_psql('postgres', "select shilian.ship('$c1', $w, '1 kg', '2026-03-08') from generate_series(1, 15)");
for (1 .. 200) { last if scalar(@{ requests() }) >= $before + 4; usleep(50_000); }
stop_worker('KILL');
my $left = pending();
ok($left > 0, "the worker killed with $left deliveries outstanding");
start_worker();
wait_delivered('after kill -9');
is($node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where kind = 'receipt_draft.created' and status = 'delivered'"),
	35, 'all 35 sales delivered');
is(missing_at_receiver(), 0, 'each reached the receiver');
ok(in_order('/w'), 'still in order');

# ---- restart of the cluster mid-delivery -------------------------------------------------
$before = scalar @{ requests() };
$node->safe_psql('postgres', "select shilian.ship('$c1', $w, '1 kg', '2026-03-09') from generate_series(1, 15)");
for (1 .. 200) { last if scalar(@{ requests() }) >= $before + 4; usleep(50_000); }
$node->restart;
ok(pending() > 0, 'the cluster restarted with deliveries outstanding');
wait_delivered('after the restart');
is($node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where kind = 'receipt_draft.created' and status = 'delivered'"),
	50, 'all 50 sales delivered');
is(missing_at_receiver(), 0, 'each reached the receiver');
ok(in_order('/w'), 'still in order');

# ---- a recall reaches each holder with its own lots ------------------------------------
$before = scalar @{ requests() };
$node->safe_psql('postgres', "begin; set local role shilian_regulator; select set_config('shilian.jurisdiction', '370100', true);"
	. " select shilian.recall_open('$c1', '农残超标'); commit;");
wait_delivered('the recall');
my @recall = grep { $_->{status} == 200 && body_of($_->{body})->{kind} eq 'recall.opened' } @{ requests() };
my %lots;
for my $q (@recall)
{
	my $b = body_of($q->{body});
	push @{ $lots{ $q->{path} } }, map { $_->{batch} } @{ $b->{data}{lots} };
	is($b->{data}{operator}, { '/w' => $w, '/k' => $k, '/r' => $r }->{ $q->{path} } // 'none',
		"the recall event at $q->{path} is for its owner");
}
is_deeply($lots{'/w'}, [$c2], 'W hears of its own lot only');
is_deeply($lots{'/k'}, [$c3], 'K hears of its lot only');
is_deeply($lots{'/r'}, [$c4], 'R hears of its lot only');
ok(!exists $lots{'/x'}, 'X, holding nothing, hears nothing');
ok(!grep({ $_->{path} eq '/x' } @{ requests() }), 'X\'s subscription got no request at all');

# ---- dead letter and redelivery --------------------------------------------------------------
stop_worker('TERM');
my $dead_sub = decode_json(as_operator($k, "select shilian.webhook_subscribe('http://127.0.0.1:1/closed', '{receipt_draft}');"));
$node->safe_psql('postgres', "select shilian.ship('$c2', $k, '1 kg', '2026-03-09')");
start_worker('--horizon', '1');
for (1 .. 200)
{
	last if $node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where status = 'dead'") == 1;
	usleep(100_000);
}
my $dead = $node->safe_psql('postgres', "select id || '|' || event_id from shilian.webhook_delivery where status = 'dead'");
ok($dead, 'a delivery past the horizon is dead');
my ($dead_id, $dead_event) = split /\|/, $dead;
stop_worker('TERM');
# the receiver is back (the URL fixed by hand), and the owner redelivers
$node->safe_psql('postgres', "update shilian.webhook_subscription set url = '$base/k2' where id = $dead_sub->{id}");
{
	open my $fh, '>', $secrets_file or die;
	print $fh encode_json({ (map { $_ => $sub{$_}{secret} } keys %sub), '/k2' => $dead_sub->{secret} });
	close $fh;
}
like(as_operator($k, "select shilian.webhook_redeliver($dead_id);"), qr/"pending"/, 'the owner redelivers it');
start_worker();
wait_delivered('the redelivery');
my @k2 = grep { $_->{path} eq '/k2' && $_->{status} == 200 } @{ requests() };
is(scalar(@k2) >= 1 && $k2[0]{event}, $dead_event, 'it arrives with its event id');
ok($k2[0]{sig_ok}, 'signed with that subscription\'s secret');
is(stop_worker('TERM'), 0, 'the worker stops cleanly on SIGTERM');

done_testing();
