# Federation over REST (docs/federation.md, issue 23): two clusters, two
# provinces joined as peers; the gateway of A. A farm's ERP sells across the
# border with POST /v1/shipments/cross-border (the buyer named by USCC), the
# sale reaches B as the dairy's receipt draft; A's regulator walks the chain
# across the border with the national trace routes (B's holders hidden from
# it) and opens a national recall whose parts it follows per province.
# Refusals keep their codes: SLN03 for a buyer of A itself, SLN04 for a
# province without a peer, 403 for an operator asking for a national walk.
# The buyer named by its GLN (PGLN) with its province instead of its USCC:
# delivered to the operator B registered that GLN for; SLN10 and SLE10 for
# a naming that is not exactly one, lacks the province or a right check digit.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

sub uscc
{
	my ($body) = @_;	# 17 characters; GB 32100-2015 check character
	my $cs = '0123456789ABCDEFGHJKLMNPQRTUWXY';
	my @w = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28);
	my $sum = 0;
	$sum += index($cs, substr($body, $_, 1)) * $w[$_] for 0 .. 16;
	my $c = 31 - $sum % 31;
	$c = 0 if $c == 31;
	return $body . substr($cs, $c, 1);
}
my $u_farm = uscc('91370102MA3F00001');
my $u_dairy = uscc('91110105MA0D00001');
my $u_hk = uscc('91810000MA0H00001');

my %prov = (A => '370000', B => '110000');
my %pw = (A => 'pw-a-Xq9', B => 'pw-b-Yr8');
my %node;
for my $p (qw(A B))
{
	my $n = shilian_node("fedapi_$p");
	my $hba = $n->data_dir . '/pg_hba.conf';
	my $old = slurp_file($hba);
	open my $fh, '>', $hba or die;
	print $fh "local all peer_370000,peer_110000 scram-sha-256\n$old";
	close $fh;
	$n->reload;
	# the other province's login here (it logs in as peer_<its code>)
	my $q = $p eq 'A' ? 'B' : 'A';
	$n->safe_psql('postgres', qq{
		set client_min_messages = warning;
		CREATE EXTENSION dblink;
		CREATE ROLE peer_$prov{$q} LOGIN PASSWORD '$pw{$q}' IN ROLE shilian_peer;});
	$node{$p} = $n;
}
sub conninfo { my $n = shift; return 'host=' . $n->host . ' port=' . $n->port . ' dbname=postgres'; }
for my $p (qw(A B))
{
	my $q = $p eq 'A' ? 'B' : 'A';
	$node{$p}->safe_psql('postgres', qq{
		select shilian.province_peer('$prov{$q}', '@{[conninfo($node{$q})]}', 'peer_$prov{$p}', '$pw{$p}',
			name => 'province $q', time_limit => '3 seconds');
		select shilian.province_peer_login('$prov{$q}', 'peer_$prov{$q}')});
}
my ($farm, $lot) = split /\|/, (split /\n/, $node{A}->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	select shilian.operator_register('牧场', 'production', '{farm}', '370102001', '济南', '0531-1',
		uscc => '$u_farm') as f \\gset
	select shilian.operator_activate(:f);
	select shilian.product_register('生牛乳', 'dairy', 3, '散装', edible_agricultural => true) as milk \\gset
	select :f || '|' || shilian.batch_create(:f, :milk, '1000 L', '2026-03-02');}))[-1];
$node{B}->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('110000', '北京市'), ('110100', '市辖区'),
		('110105', '朝阳区'), ('110105001', '朝阳所')) v(c, n);
	select shilian.operator_register('乳品厂', 'production', '{processor}', '110105001', '北京', '010-1',
		uscc => '$u_dairy') as d \\gset
	select shilian.operator_activate(:d);
	select shilian.gs1_location_register(:d, '6901234000016', '乳品厂');});

my $gw = start_gateway($node{A},
	dsn => 'host=' . $node{A}->host . ' port=' . $node{A}->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	farm => make_jwt({ role => 'operator', operator_id => $farm }),
	reg => make_jwt({ role => 'regulator', jurisdiction => '370000' }),
	national => make_jwt({ role => 'national' }),
);
sub call
{
	my ($who, $method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path,
		headers => { 'Content-Type' => 'application/json', Authorization => "Bearer $tok{$who}" },
		defined $body ? (body => JSON::PP->new->utf8->canonical->encode($body)) : ());
	$r->{json} = json_body($r);
	return $r;
}

# ---- a sale across the border ----------------------------------------------------------------
my $r = call('farm', 'POST', '/v1/shipments/cross-border',
	{ code => $lot, buyer_uscc => $u_dairy, qty => '400 L', shipped_on => '2026-03-02', buyer_name => '乳品厂' });
is($r->{status}, 201, 'POST /v1/shipments/cross-border: 201') or diag $r->{content};
my $link = $r->{json}{link};
like($link, qr/^[0-9]+$/, 'the sale (link) id, as a string');
is($r->{headers}{location}, "/v1/shipments/$link", 'Location names the sale');
is($node{A}->safe_psql('postgres', "select qty_left from shilian.batch where trace_code::text = '$lot'"), '600 L',
	"the seller's lot holds 600 L");
$r = call('farm', 'POST', '/v1/shipments/cross-border', { code => $lot, buyer_uscc => $u_farm, qty => '1 L' });
is("$r->{status} $r->{json}{code}", '422 SLN03', 'a buyer of this province: 422 SLN03 (use /v1/shipments)');
$r = call('farm', 'POST', '/v1/shipments/cross-border', { code => $lot, buyer_uscc => $u_hk, qty => '1 L' });
is("$r->{status} $r->{json}{code}", '422 SLN04', 'a province without a peer: 422 SLN04');
$r = call('farm', 'POST', '/v1/shipments/cross-border', { code => $lot, buyer_uscc => 'not-a-uscc', qty => '1 L' });
is($r->{status}, 400, 'a malformed USCC: 400');
$r = call('farm', 'POST', '/v1/shipments/cross-border', { code => $lot, buyer_uscc => $u_dairy, qty => '601 L', shipped_on => '2026-03-02' });
is("$r->{status} $r->{json}{code}", '422 SLR05', "the rules of a sale apply (over the lot's balance: SLR05)");

is($node{A}->safe_psql('postgres', q{select province || ' ' || delivered || ' ' || pending from shilian.federation_deliver()}),
	'110000 1 0', 'the delivery job sends it to B');
my $b_lot = $node{B}->safe_psql('postgres', q{
	set client_min_messages = warning;
	select id as d from shilian.operator where name = '乳品厂' \gset
	select shilian.receive((select link from shilian.receipt_drafts(:d)), '400 L', '{"inspector": "王五"}',
		'2026-03-03 09:00+08')});

# ---- the national walks ------------------------------------------------------------------------
$r = call('reg', 'GET', "/v1/trace/$lot/national/forward");
is($r->{status}, 200, 'GET /v1/trace/{code}/national/forward: 200') or diag $r->{content};
is(join(',', map { "$_->{province} $_->{batch} $_->{depth} $_->{qty_reached}" } @{ $r->{json} }),
	"370000 $lot 0 1000 L,110000 $b_lot 1 400 L", "the farm lot here and the dairy's lot in B, with the quantity that reached it");
my ($there) = grep { $_->{province} eq '110000' } @{ $r->{json} };
ok(!defined $there->{holder} && !defined $there->{holder_name}, "A's regulator does not see who holds the lot in B");
$r = call('national', 'GET', "/v1/trace/$lot/national/forward");
is($r->{status}, 200, 'the national regulator (role national) walks it too');
($there) = grep { $_->{province} eq '110000' } @{ $r->{json} };
is($there->{holder_name}, '乳品厂', 'and sees who holds the lot in B');
$r = call('national', 'GET', "/v1/shipments/inbox");
is($r->{status}, 403, 'the national role acts for no operator');
$r = call('national', 'GET', "/v1/batches/$lot");
is($r->{status}, 403, 'and reads no record table (42501 → 403)');
$r = call('national', 'GET', '/v1/operators');
is($r->{status}, 403, 'nor the registry');
$r = call('reg', 'GET', "/v1/trace/$b_lot/national/backward");
is(join(',', map { "$_->{province} $_->{batch} $_->{depth}" } @{ $r->{json} }),
	"110000 $b_lot 0,370000 $lot 1", "backward from B's lot (asked of B): back to the farm lot here");
$r = call('reg', 'GET', "/v1/trace/$lot/national/forward?max_depth=0");
is(scalar @{ $r->{json} }, 1, 'max_depth=0: the lot itself');
$r = call('farm', 'GET', "/v1/trace/$lot/national/forward");
is($r->{status}, 403, 'an operator may not walk the national chain: 403');

# ---- a national recall ---------------------------------------------------------------------------
$r = call('reg', 'POST', '/v1/recalls/national', { code => $lot, reason => '抗生素残留超标' });
is($r->{status}, 201, 'POST /v1/recalls/national: 201') or diag $r->{content};
my $recall = $r->{json}{id};
is($r->{headers}{location}, "/v1/recalls/$recall/national", 'Location names its national status');
$r = call('reg', 'GET', "/v1/recalls/$recall/national");
is($r->{status}, 200, 'GET /v1/recalls/{id}/national: 200') or diag $r->{content};
is(join(',', map { "$_->{province} $_->{lot} $_->{targets} $_->{outstanding} $_->{status}" } @{ $r->{json} }),
	"370000 $lot 1 1 open,110000 $lot 1 1 open", "a part per province (each of the recalled lot), each with its targets outstanding");
$r = call('national', 'GET', "/v1/recalls/$recall/national");
is(join(',', map { "$_->{province} $_->{targets}" } @{ $r->{json} }), '370000 1,110000 1', 'the national regulator follows it');
$r = call('farm', 'POST', '/v1/recalls/national', { code => $lot, reason => 'x' });
is($r->{status}, 403, 'an operator may not open one: 403');

# ---- the buyer named by GLN ------------------------------------------------------------------
my $gln_lot = $node{A}->safe_psql('postgres', qq{select shilian.batch_create($farm,
	(select id from shilian.product where name = '生牛乳'), '100 L', '2026-03-06')});
$r = call('farm', 'POST', '/v1/shipments/cross-border',
	{ code => $gln_lot, buyer_gln => 'urn:epc:id:pgln:6901234.00001', buyer_province => '110000', qty => '30 L',
	  shipped_on => '2026-03-06' });
is($r->{status}, 201, 'POST /v1/shipments/cross-border with buyer_gln (a PGLN) and buyer_province: 201') or diag $r->{content};
is($node{A}->safe_psql('postgres', qq{select coalesce(buyer_uscc::text, '-') || ' ' || buyer_gln || ' ' || province
	from shilian.federation_outbox where id = $r->{json}{link}}), '- 6901234000016 110000',
	'the outbox names the buyer by its GLN (13 digits)');
is($node{A}->safe_psql('postgres', q{select province || ' ' || delivered from shilian.federation_deliver()}), '110000 1',
	'delivered to B');
is($node{B}->safe_psql('postgres', qq{select qty || ' ' || from_code from shilian.receipt_drafts(
	(select id from shilian.operator where name = '乳品厂'))}), "30 L $gln_lot",
	'B resolved the GLN to the dairy: its receipt draft');
for my $case ([ { buyer_uscc => $u_dairy, buyer_gln => '6901234000016', buyer_province => '110000' }, '422 SLN10', 'both USCC and GLN' ],
	[ {}, '422 SLN10', 'neither' ],
	[ { buyer_gln => '6901234000016' }, '422 SLN10', 'a GLN without buyer_province' ],
	[ { buyer_gln => '6901234000017', buyer_province => '110000' }, '422 SLE10', 'a GLN with a wrong check digit' ])
{
	$r = call('farm', 'POST', '/v1/shipments/cross-border', { code => $gln_lot, qty => '1 L', %{ $case->[0] } });
	is("$r->{status} $r->{json}{code}", $case->[1], "$case->[2]: $case->[1]");
}

stop_gateway($gw);
done_testing();
