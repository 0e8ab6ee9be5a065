# Idempotency-Key on POST: a retry with the same key and request replays the
# first response (and says so), the same key with another request is 422,
# keys are per caller, a failed request releases its key, and the stored
# responses are readable by the gateway role only.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('gw_idem');
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my $op1 = make_jwt({ role => 'operator', operator_id => 1 });
my $op2 = make_jwt({ role => 'operator', operator_id => 2 });

sub post
{
	my ($token, $key, $body) = @_;
	return http_call($gw, 'POST', '/v1/hash', body => $body,
		headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $token",
			defined $key ? ('Idempotency-Key' => $key) : () });
}

my $r1 = post($op1, 'k1', '{"data_hex":"616263"}');
is($r1->{status}, 200, 'first request with a key: 200');
ok(!$r1->{headers}{'idempotent-replayed'}, 'first request is not a replay');
my $r2 = post($op1, 'k1', '{"data_hex":"616263"}');
is($r2->{status}, 200, 'retry: 200');
is($r2->{headers}{'idempotent-replayed'}, 'true', 'retry says it is a replay');
is($r2->{content}, $r1->{content}, 'retry returns the first response');

my $r = post($op1, 'k1', '{"data_hex":"00"}');
is($r->{status}, 422, 'same key, different request: 422');
is(json_body($r)->{code}, 'GW422', 'GW422');

$r = post($op2, 'k1', '{"data_hex":"00"}');
is($r->{status}, 200, 'the same key from another caller is a new request');
ok(!$r->{headers}{'idempotent-replayed'}, 'and not a replay');

is($node->safe_psql('postgres', 'select count(*) from shilian.idempotency_key'), '2', 'two keys stored');

# A failed request does not keep its key: the corrected retry runs.
$r = post($op1, 'k2', '{"data_hex":"zz"}');
is($r->{status}, 400, 'failing request with a key: 400');
$r = post($op1, 'k2', '{"data_hex":"00"}');
is($r->{status}, 200, 'the key of a failed request can be used again');
ok(!$r->{headers}{'idempotent-replayed'}, 'and it is not a replay');

# Without a key every request runs (nothing stored).
post($op1, undef, '{"data_hex":"00"}') for 1 .. 2;
is($node->safe_psql('postgres', 'select count(*) from shilian.idempotency_key'), '3', 'requests without a key store nothing');

# Over-long keys are refused by the database (400), not stored.
$r = post($op1, 'x' x 300, '{"data_hex":"00"}');
is($r->{status}, 400, 'a 300-character key: 400');

# The platform roles cannot read or forge stored responses.
my ($rc, $out, $err) = $node->psql('postgres', 'set role shilian_operator; select * from shilian.idempotency_key');
like($err, qr/permission denied/, 'shilian_operator cannot read stored responses');
($rc, $out, $err) = $node->psql('postgres', q{set role shilian_operator; select shilian.idempotency_claim('a', 'b', 'c')});
like($err, qr/permission denied/, 'shilian_operator cannot claim keys');

stop_gateway($gw);
$node->stop;
done_testing();
