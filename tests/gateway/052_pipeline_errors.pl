# A pool connection after errors in its pipeline (issue 19). Each request
# sends BEGIN, the caller's settings, the route's statement and COMMIT as one
# libpq pipeline of statements prepared once per connection; after an error
# the server skips the rest up to the Sync, preparations included. With one
# pool connection: requests failing in the connection's first pipeline (in
# the route's statement), and in a write, each leave the connection idle with
# no transaction open, the same backend serves the next request (no
# reconnect), and the statements whose preparation was skipped are prepared
# by the next request, which succeeds.
# Under load, 16 clients on 2 pool connections all get their replies (the
# pool hands a connection given back to the first waiter).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use POSIX ();
use ShilianTest;

my $node = shilian_node('gw_pipeline');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('pipeline farm', 'production', '{farm}', '370112001', 'x', 'x', reg_card => 'P-FARM');
	select shilian.operator_register('pipeline buyer', 'circulation', '{retailer}', '370112001', 'x', 'x', reg_card => 'P-BUYER');
	select shilian.operator_activate(id) from shilian.operator order by id;
	select shilian.product_register('pipeline cabbage', 'vegetables', shelf_life_days => 30, edible_agricultural => true);
	select shilian.batch_create(1, 1, '100 kg', shilian.platform_today() - 1);
});
my ($code) = (split /\n/, $out)[-1];

my $gw = start_gateway($node, args => [ '--db-pool-size', '1' ]);
my %op = (Authorization => 'Bearer ' . make_jwt({ role => 'operator', operator_id => '1' }));

# The gateway's pool connection: "pid state xid" (xid "-" when none).
sub pool_backend
{
	return $node->safe_psql('postgres', q{
		select pid || ' ' || state || ' ' || coalesce(backend_xid::text, '-') from pg_stat_activity
		where backend_type = 'client backend' and pid <> pg_backend_pid() and usename = current_user
		  and application_name <> 'psql'});
}

# 1. The connection's first pipeline fails in the route's statement (a
#    malformed trace code): BEGIN and the caller's statement were prepared,
#    the route's statement too, COMMIT's preparation was skipped.
my $r = http_call($gw, 'GET', '/v1/batches/not-a-code', headers => \%op);
is($r->{status}, 400, 'a malformed trace code fails in the route statement (400)');
my $first = pool_backend();
like($first, qr/^\d+ idle -$/, 'after the failed first pipeline the connection is idle, no transaction open');
my ($pid) = split ' ', $first;

$r = http_call($gw, 'GET', '/v1/session', headers => \%op);
is($r->{status}, 200, 'the next request on the same connection succeeds (COMMIT prepared now)');
is(json_body($r)->{operator_id}, '1', 'as the caller');
$r = http_call($gw, 'GET', "/v1/batches/$code", headers => \%op);
is($r->{status}, 200, 'the route whose statement failed before works with a valid code');
is(json_body($r)->{trace_code}, $code, 'and returns the batch');
is(pool_backend(), "$pid idle -", 'same backend, idle: no reconnect');

# 2. A write that fails in its statement (more than the batch holds), then one that succeeds.
my %json = (%op, 'Content-Type' => 'application/json');
$r = http_call($gw, 'POST', '/v1/shipments', headers => \%json,
	body => encode_json({ code => $code, buyer => 2, qty => '5000 kg' }));
ok($r->{status} >= 400 && $r->{status} < 500, "an over-quantity sale is refused ($r->{status})");
is(pool_backend(), "$pid idle -", 'after the failed write: same backend, idle, no transaction');
$r = http_call($gw, 'POST', '/v1/shipments', headers => \%json,
	body => encode_json({ code => $code, buyer => 2, qty => '1 kg' }));
is($r->{status}, 201, 'the next sale on the same connection is recorded') or diag($r->{content});
is($node->safe_psql('postgres', "select count(*) from shilian.link"), '1', 'exactly one sale recorded (the failed one left nothing)');

# 3. An ad hoc statement (not prepared) on the same connection after the errors.
$r = http_call($gw, 'GET', '/v1/version');
is($r->{status}, 200, 'an unprepared statement works on the connection too');
is(pool_backend(), "$pid idle -", 'same backend, idle');

# 4. Under load: 16 clients at once on 2 pool connections, each gets its reply.
stop_gateway($gw);
$gw = start_gateway($node, threads => 16, args => [ '--db-pool-size', '2' ]);
my @kids;
for my $i (1 .. 16)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my $ok = 1;
		for (1 .. 20)
		{
			my $res = http_call($gw, 'GET', "/v1/batches/$code", headers => \%op);
			if ($res->{status} != 200) { $ok = 0; print STDERR "$res->{status} $res->{content}\n"; }
		}
		POSIX::_exit($ok ? 0 : 1);	# not exit: the END blocks would stop the gateway
	}
	push @kids, $pid;
}
my $failed = 0;
for (@kids) { waitpid($_, 0); $failed++ if $? != 0; }
is($failed, 0, '16 clients x 20 requests on 2 pool connections: every reply 200');
like(http_call($gw, 'GET', '/metrics')->{content}, qr/^shilian_db_pool_waiting 0$/m, 'nobody left waiting for the pool');
stop_gateway($gw);

done_testing();
