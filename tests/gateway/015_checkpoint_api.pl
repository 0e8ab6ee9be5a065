# Signed checkpoints over HTTP (docs/rest.md#ledger): the signing job stores
# a note (POST /v1/ledger/checkpoints, admins), anyone reads the latest and
# a given size as JSON or as the C2SP note (Accept: text/plain), a witness
# posts its cosignature and a refusal (regulators), and the REST export
# carries the signed checkpoint that shilian-verify checks with the key.
use strict;
use File::Temp ();
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Encode qw(decode);
use JSON::PP;
use ShilianTest;

my $verify = "$ENV{SHILIAN_TOP}/shilian-verify";
# a directory of its own: tmp_check is shared by the files of a prove run
my $dir = File::Temp::tempdir(DIR => $PostgreSQL::Test::Utils::tmp_check);
my $origin = 'gw.test/ledger';

my $node = shilian_node('gw_checkpoint');
$node->append_conf('postgresql.conf', "shilian.log_origin = '$origin'\n");
$node->reload;
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $admin = make_jwt({ role => 'admin' });
my $regulator = make_jwt({ role => 'regulator', jurisdiction => '370000' });
$node->safe_psql('postgres', "select shilian.jurisdiction_add('370000', '山东省')");

sub call
{
	my ($token, $method, $path, $body, %h) = @_;
	my $r = http_call($gw, $method, $path,
		defined $body ? (body => ref $body ? encode_json($body) : $body) : (),
		headers => { defined $token ? (Authorization => "Bearer $token") : (),
			'Content-Type' => 'application/json', %h });
	$r->{json} = eval { json_body($r) };
	return $r;
}

sub expect
{
	my ($r, $status, $name) = @_;
	is($r->{status}, $status, "$name: $status") or diag($r->{content});
	return $r->{json};
}

expect(call(undef, 'GET', '/v1/ledger/checkpoint'), 404, 'nothing signed yet');

for my $k (qw(log witness))
{
	my ($rc) = run_cmd([ 'openssl', 'genpkey', '-algorithm', 'ed25519', '-out', "$dir/$k.pem" ]);
	is($rc, 0, "$k key");
}
my (undef, $vkey) = run_cmd([ $verify, 'vkey', '--key', "$dir/log.pem", '--name', $origin ]);
my (undef, $wvkey) = run_cmd([ $verify, 'vkey', '--key', "$dir/witness.pem", '--name', 'w.test/w1', '--cosign' ]);
chomp($vkey, $wvkey);

$node->safe_psql('postgres', q{
	SELECT shilian.ledger_append(op, 'batch_create', jsonb_build_object('n', i))
	  FROM generate_series(1, 3) i, generate_series(1, 2) op;
});
my $j = expect(call($admin, 'POST', '/v1/ledger/checkpoint'), 201, 'a checkpoint');
is($j->{tree_size}, '6', 'its tree size is a JSON string');

# the signing job, through the REST API
my $body = $node->safe_psql('postgres', 'SELECT shilian.checkpoint_to_sign()');
$body =~ s/\n*\z/\n/;
my ($rc, $note) = run_cmd([ $verify, 'sign', '--key', "$dir/log.pem", '--name', $origin ], $body);
is($rc, 0, 'signed');
expect(call($regulator, 'POST', '/v1/ledger/checkpoints', { note => decode('UTF-8', $note) }), 403, 'a regulator cannot store notes');
$j = expect(call($admin, 'POST', '/v1/ledger/checkpoints', { note => decode('UTF-8', $note) }), 201, 'the admin stores the note');
is($j->{tree_size}, '6', '...for tree size 6');
$j = expect(call($admin, 'POST', '/v1/ledger/checkpoints', { note => "x\n\n— a b\n" }), 422, 'a note that is not a checkpoint');
is($j->{code}, 'SLL40', '...SLL40') or diag(explain $j);

# publication: public, JSON by default, the note as text/plain
$j = expect(call(undef, 'GET', '/v1/ledger/checkpoint'), 200, 'the latest signed checkpoint, without a token');
is_deeply([ @$j{qw(tree_size origin alg note)} ], [ '6', $origin, 'sha256', decode('UTF-8', $note) ], 'JSON: size, origin, alg, note');
like($j->{root}, qr/^[0-9a-f]{64}$/, 'JSON: hex root');
is_deeply($j->{cosignatures}, [], 'no cosignatures yet');
my $r = call(undef, 'GET', '/v1/ledger/checkpoint', undef, Accept => 'text/plain');
is($r->{status}, 200, 'text/plain: 200');
is($r->{headers}{'content-type'}, 'text/plain; charset=utf-8', 'text/plain: the content type');
is($r->{content}, $note, 'text/plain: the note itself');
($rc, my $out) = run_cmd([ $verify, 'note', '--key', $vkey ], $r->{content});
is($rc, 0, 'the served note verifies with the platform key');
expect(call(undef, 'GET', '/v1/ledger/checkpoints/6'), 200, 'by size');
expect(call(undef, 'GET', '/v1/ledger/checkpoints/5'), 404, 'an unsigned size: 404');
expect(call(undef, 'GET', '/v1/ledger/checkpoints/abc'), 400, 'not a size: 400');

# the witness cosigns and posts its line; it is served with the note
my $state = "$dir/w.state";
($rc, my $line) = run_cmd([ $verify, 'witness', '--key', "$dir/witness.pem", '--name', 'w.test/w1',
	'--log-key', $vkey, '--state', $state ], $r->{content});
is($rc, 0, 'the witness cosigns');
expect(call(make_jwt({ role => 'operator', operator_id => '1' }), 'POST', '/v1/ledger/checkpoints/6/cosignatures',
	{ signature => decode('UTF-8', $line) }), 403, 'an operator cannot post cosignatures');
$j = expect(call($regulator, 'POST', '/v1/ledger/checkpoints/6/cosignatures', { signature => decode('UTF-8', $line) }), 201,
	'the witness (a regulator) posts its cosignature');
is($j->{stored}, JSON::PP::true, 'stored');
$j = expect(call($regulator, 'POST', '/v1/ledger/checkpoints/6/cosignatures', { signature => 'junk' }), 422,
	'a malformed cosignature');
is($j->{code}, 'SLK01', '...SLK01');
$r = call(undef, 'GET', '/v1/ledger/checkpoints/6', undef, Accept => 'text/plain');
is($r->{content}, $note . $line, 'the note is served with the cosignature');
($rc, $out) = run_cmd([ $verify, 'note', '--key', $vkey, '--key', $wvkey ], $r->{content});
is($rc, 0, 'platform signature and cosignature verify');
$j = expect(call(undef, 'GET', '/v1/ledger/checkpoint'), 200, 'JSON with cosignatures');
is($j->{cosignatures}[0]{witness}, 'w.test/w1', 'the cosignature by witness name');
$j = expect(call($regulator, 'POST', '/v1/ledger/checkpoints/7/refusals',
	{ witness => 'w.test/w1', reason => 'FAIL: refused: a fork' }), 201, 'a witness reports a refusal');
like($j->{id}, qr/^\d+$/, '...recorded');

# the REST export carries the signed checkpoint
$r = call($admin, 'GET', '/v1/ledger/export?operator=1');
is($r->{status}, 200, 'export');
open my $fh, '>', "$dir/op1.jsonl" or die;
print $fh $r->{content};
close $fh;
($rc, $out) = run_cmd([ $verify, '--key', $vkey, '--witness', $wvkey, "$dir/op1.jsonl" ]);
is($out, "OK: operator 1, 3 entries, chain verified, 3 included in tree 6, signed checkpoint 6 by $origin and its witnesses\n",
	'shilian-verify checks the REST export against the key and the witness');

stop_gateway($gw);
$node->stop;
done_testing();
