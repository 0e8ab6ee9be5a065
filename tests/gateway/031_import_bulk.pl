# The set-based bulk upload over real HTTP (POST /v1/import, streamed):
# a mixed upload of ship and receive lines (each receipt naming the sale
# of its pair with link_ref) with about 1% bad lines of every refusal kind
# of ship and receive and of the line format reports exactly the bad lines
# with their SQLSTATEs and applies the rest, every chain verifying; the
# progress is visible from another session while it runs; a retry with the
# same Idempotency-Key changes nothing; CSV uploads per kind, with a
# missing column refused as a whole; a body shorter than its
# Content-Length stages nothing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(usleep);
use POSIX ();
use ShilianTest;

my $node = shilian_node('gw_import_bulk');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	create table o as select
		shilian.operator_register('卖方一', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'K-1') as s1,
		shilian.operator_register('卖方二', 'production', '{processor}', '370112001', 'b', '2', reg_card => 'K-2') as s2,
		shilian.operator_register('买方一', 'circulation', '{retailer}', '370112001', 'c', '3', reg_card => 'K-3') as b1,
		shilian.operator_register('买方二', 'circulation', '{retailer}', '370112001', 'd', '4', reg_card => 'K-4') as b2,
		shilian.operator_register('未激活', 'circulation', '{retailer}', '370112001', 'e', '5', reg_card => 'K-5') as dormant,
		shilian.operator_register('无证', 'production', '{processor}', '370112001', 'f', '6', reg_card => 'K-6') as nolic,
		shilian.operator_register('错范围', 'production', '{processor}', '370112001', 'g', '7', reg_card => 'K-7') as scope,
		shilian.operator_register('外人', 'production', '{processor}', '370112001', 'h', '8', reg_card => 'K-8') as outsider,
		shilian.product_register('面粉', 'grain', shelf_life_days => 180) as flour,
		shilian.product_register('牛奶', 'dairy', shelf_life_days => 7) as milk;
	select shilian.operator_activate(x) from o, unnest(array[s1, s2, b1, b2, nolic, scope, outsider]) x;
	select shilian.licence_add(x, l::shilian.licence_no, '{grain}', '2020-01-01', '2099-12-31')
	  from o, (values (1, 'JY13701020000018')) v(i, l), unnest(array[s1]) x;
	select shilian.licence_add(s2, 'JY13701020000034', '{grain}', '2020-01-01', '2099-12-31') from o;
	select shilian.licence_add(outsider, 'JY13701020000042', '{grain}', '2020-01-01', '2099-12-31') from o;
	select shilian.licence_add(scope, 'JY13701020000026', '{dairy}', '2020-01-01', '2099-12-31') from o;
	select shilian.api_client_add('erp', 'ERP');
	select shilian.api_client_bind('erp', x) from o, unnest(array[s1, s2, b1, b2, dormant, nolic, scope]) x;
	alter table o add a1 text, add a2 text, add old text, add nl text, add sc text, add outb text, add tiny text,
		add p1 bigint, add r1 bigint;
	update o set a1 = shilian.batch_create(s1, flour, '100 t', current_date - 5)::text,
		a2 = shilian.batch_create(s2, flour, '100 t', current_date - 5)::text,
		old = shilian.batch_create(s1, milk, '100 L', current_date - 30, expires_on => current_date - 20)::text,
		nl = shilian.batch_create(nolic, flour, '1 t', current_date - 5)::text,
		sc = shilian.batch_create(scope, flour, '1 t', current_date - 5)::text,
		outb = shilian.batch_create(outsider, flour, '1 t', current_date - 5)::text,
		tiny = shilian.batch_create(s1, flour, '1 kg', current_date - 5)::text;
	update o set p1 = shilian.ship(a1::shilian.trace_code, b1, '100 kg', current_date - 1),
		r1 = shilian.ship(a1::shilian.trace_code, b1, '100 kg', current_date - 1);
	select shilian.receive(r1, '100 kg', '{"inspector": "王五"}', now()) from o;
	select concat_ws(' ', s1, s2, b1, b2, dormant, nolic, scope, outsider, a1, a2, old, nl, sc, outb, tiny, p1, r1,
		shilian.api_client_key_new('erp'), shilian.trace_code_next('370112')) from o;
});
my ($s1, $s2, $b1, $b2, $dormant, $nolic, $scope, $outsider, $a1, $a2, $old, $nl, $sc, $outb, $tiny,
	$p1, $r1, $key, $nobatch) = split ' ', (split /\n/, $out)[-1];

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway',
	args => [ '--import-line-limit', '4096', '--import-chunk-lines', '500' ]);

my $json = JSON::PP->new->canonical->utf8;
sub ship { $json->encode({ kind => 'ship', @_ }) }
sub receipt { $json->encode({ kind => 'receive', inspection => { inspector => '李四' }, @_ }) }

sub upload
{
	my ($body, %h) = @_;
	my $r = http_call($gw, 'POST', '/v1/import' . (delete $h{query} // ''), body => $body,
		headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson', Prefer => 'wait', %h });
	$r->{json} = json_body($r);
	return $r;
}

sub get
{
	my $r = http_call($gw, 'GET', shift, headers => { 'X-API-Key' => $key });
	$r->{json} = json_body($r);
	return $r;
}

sub state
{
	return $node->safe_psql('postgres', q{select concat_ws(' ', (select count(*) from shilian.batch),
		(select count(*) from shilian.link), (select count(*) from shilian.inspection),
		(select count(*) from shilian.ledger), (select string_agg(qty_left::text, ',' order by id) from shilian.batch))});
}

# ---- a mixed upload with 1% bad lines of every kind --------------------------
my $bad_ref;		# the line number of the last bad line, for a link_ref to it
my @bad = (
	[ SLR01 => sub { ship(code => $a1, buyer => 999999, qty => '1 kg') } ],
	[ SLR02 => sub { ship(code => $a1, buyer => 0 + $dormant, qty => '1 kg') } ],
	[ SLR03 => sub { ship(code => $nobatch, buyer => 0 + $b1, qty => '1 kg') } ],
	[ SLR04 => sub { ship(code => $a1, buyer => 0 + $b1, qty => '1 kg', seller => 0 + $s2) } ],
	[ SLR05 => sub { ship(code => $tiny, buyer => 0 + $b1, qty => '5 kg') } ],
	[ SLR06 => sub { ship(code => $a1, buyer => 0 + $b1, qty => '1 L') } ],
	[ SLR07 => sub { ship(code => $a1, buyer => 0 + $b1, qty => '1 kg', shipped_on => '2000-01-01') } ],
	[ SLR08 => sub { ship(code => $old, buyer => 0 + $b1, qty => '1 L') } ],
	[ SLR09 => sub { ship(code => $nl, buyer => 0 + $b1, qty => '1 kg') } ],
	[ SLR10 => sub { ship(code => $sc, buyer => 0 + $b1, qty => '1 kg') } ],
	[ SLR11 => sub { ship(code => $a1, buyer => 0 + $s1, qty => '1 kg') } ],
	[ SLR16 => sub { ship(code => $a1, buyer => 0 + $b1, qty => '0 kg') } ],
	[ SLR13 => sub { receipt(link => 0 + $r1, qty => '100 kg') } ],
	[ SLR14 => sub { receipt(link => 999999, qty => '1 kg') } ],
	[ SLR15 => sub { $json->encode({ kind => 'receive', link => 0 + $p1, qty => '100 kg', inspection => {} }) } ],
	[ SLR17 => sub { receipt(link => 0 + $p1, qty => '200 kg') } ],
	[ SLR16 => sub { receipt(link => 0 + $p1, qty => '-1 kg') } ],
	[ SLR06 => sub { receipt(link => 0 + $p1, qty => '1 L') } ],
	[ SLR07 => sub { receipt(link => 0 + $p1, qty => '100 kg', received_at => '2000-01-01T12:00:00+08:00') } ],
	[ '42501' => sub { ship(code => $outb, buyer => 0 + $b1, qty => '1 kg') } ],
	[ '22P02' => sub { '{"kind": "ship", "code": ' } ],
	[ '22P02' => sub { ship(code => $a1, buyer => 0 + $b1, qty => '10 kgs') } ],
	[ '22023' => sub { ship(code => $a1, qty => '1 kg') } ],
	[ '22023' => sub { ship(code => $a1, buyer => 0 + $b1, qty => '1 kg', colour => 'red') } ],
	[ '22023' => sub { '[1, 2]' } ],
	[ '22023' => sub { '{"kind": "harvest"}' } ],
	[ SLI03 => sub { receipt(link_ref => $bad_ref, qty => '1 kg') } ],
	[ '54000' => sub { ship(code => $a1, buyer => 0 + $b1, qty => '1 kg', seller => 'x' x 5000) } ],
	[ '22021' => sub { "{\"kind\": \"ship\", \"code\": \"\xff\xfe\"}" } ],
);
my (@lines, %expect);
my $pairs = 3000;
my $k = 0;
for my $i (1 .. $pairs)
{
	if ($i % 50 == 0)
	{
		my ($st, $gen) = @{ $bad[ $k++ % @bad ] };
		push @lines, $gen->();
		$expect{ scalar @lines } = $st;
		$bad_ref = scalar @lines;
	}
	push @lines, ship(code => $i % 2 ? $a1 : $a2, buyer => 0 + ($i % 2 ? $b1 : $b2), qty => '1 kg');
	my $ship_line = scalar @lines;
	push @lines, receipt(link_ref => $ship_line, qty => '1 kg');
}
push @lines, '{"kind": "ship", "code": "' . $a1 . '", "buyer": ';	# the body ends inside this line
$expect{ scalar @lines } = 'SLI04';
my $body = join("\n", @lines);
cmp_ok(scalar(keys %expect) / scalar(@lines), '>=', 0.009, 'about 1% of the lines are bad');
my %kinds = map { $_->[0] => 1 } @bad;
is_deeply({ map { $_ => 1 } values %expect }, { %kinds, SLI04 => 1 }, 'every kind of refusal is in the upload');

# the poller: what another session sees of the job while the upload runs
my $seen = "$PostgreSQL::Test::Utils::tmp_check/progress.txt";
my $stop = "$PostgreSQL::Test::Utils::tmp_check/progress.stop";
unlink $seen, $stop;
my $poller = fork();
if ($poller == 0)
{
	open my $fh, '>', $seen or POSIX::_exit(1);
	$fh->autoflush(1);
	while (!-e $stop)
	{
		my $row = `psql -XAtq -h @{[ $node->host ]} -p @{[ $node->port ]} -d postgres -U postgres -c "select status || ' ' || done || ' ' || total from shilian.import_job order by id desc limit 1" 2>/dev/null`;
		print $fh $row if $row;
		usleep(30_000);
	}
	POSIX::_exit(0);
}
my $r = upload($body, 'Idempotency-Key' => 'bulk-1');
open my $stopfh, '>', $stop; close $stopfh;
waitpid($poller, 0);
is($r->{status}, 201, 'the mixed upload: 201');
my $job = $r->{json}{id};
my $nbad = scalar keys %expect;
is_deeply([ @{ $r->{json} }{qw(status total done accepted refused)} ],
	[ 'applied', scalar @lines, scalar @lines, @lines - $nbad, $nbad ], 'counts: every good line accepted, the bad ones refused');
my $refused = get("/v1/import/$job/lines?status=refused")->{json};
is_deeply({ map { $_->{line} => $_->{sqlstate} } @$refused }, \%expect,
	'exactly the bad lines are reported, each with the SQLSTATE of its refusal');
ok(!(grep { !$_->{message} } @$refused), 'each with a message');
is($node->safe_psql('postgres', qq{select count(*) from shilian.link l join shilian.import_line i
	on i.result::bigint = l.id where i.job_id = $job and i.kind = 'ship' and i.status = 'accepted' and l.status = 'received'}),
	$pairs, 'every sale of the upload was received by the line that named it');
is($node->safe_psql('postgres', q{select count(*) from shilian.chain_verify(NULL) where not ok}), '0',
	'every hash chain verifies');
is($node->safe_psql('postgres', qq{select count(*) from shilian.ledger where kind in ('ship', 'receive')
	and recorded_at >= (select created_at from shilian.import_job where id = $job)}), 2 * $pairs,
	'one ledger entry per applied line');
is($node->safe_psql('postgres', qq{
	with b as materialized (select operator_id, seq, case kind when 'ship' then shilian.ledger_body(body) ->> 'id'
			else shilian.ledger_body(body) -> 'batch' ->> 'trace_code' end as k, kind
		from shilian.ledger where kind in ('ship', 'receive')),
	e as (select i.line_no, b.operator_id, b.seq from shilian.import_line i join b on b.kind = i.kind and b.k = i.result
		where i.job_id = $job and i.status = 'accepted')
	select count(*) || ' ' || bool_and(ok) from (select line_no > coalesce(lag(line_no) over w, 0) as ok
		from e window w as (partition by operator_id order by seq)) t}), 2 * $pairs . ' true',
	'each operator\'s chain holds its entries in the order of the lines');
open my $sfh, '<', $seen; my @obs = <$sfh>; close $sfh;
ok((grep { /^running (\d+) (\d+)$/ && $1 > 0 && $1 < $2 } @obs),
	'another session saw the job running with part of the lines done') or diag(join '', @obs[0 .. 5]);

# ---- the retry with the same Idempotency-Key -------------------------------------
my $before = state();
$r = upload($body, 'Idempotency-Key' => 'bulk-1');
is_deeply([ $r->{status}, $r->{json}{id}, $r->{headers}{'idempotent-replayed'} ], [ 201, $job, 'true' ],
	'the retry answers with the first job, marked replayed');
is(state(), $before, 'and writes nothing');
$r = upload($lines[0] . "\n", 'Idempotency-Key' => 'bulk-1');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLI01' ], 'the key with another body: SLI01');

# ---- CSV per kind -------------------------------------------------------------------
sub csv
{
	my ($kind, $text) = @_;
	my $r = http_call($gw, 'POST', "/v1/import?kind=$kind", body => $text,
		headers => { 'X-API-Key' => $key, 'Content-Type' => 'text/csv', Prefer => 'wait' });
	$r->{json} = json_body($r);
	return $r;
}
$r = csv('ship', "code,buyer,qty,shipped_on\r\n$a1,$b1,2 kg,\r\n$a2,$b2,\"3 kg\",\r\n$a1,$b1,1 kg\r\n$a1,$b1,400 t,\r\n");
is_deeply([ @{ $r->{json} }{qw(status total accepted refused)} ], [ 'applied', 4, 2, 2 ], 'a ship CSV: two rows applied');
my %csvbad = map { $_->{line} => "$_->{sqlstate} $_->{message}" } @{ get("/v1/import/$r->{json}{id}/lines?status=refused")->{json} };
is($csvbad{4}, '22P04 line 4 has 3 fields, the header has 4', 'a row of the wrong width: 22P04');
like($csvbad{5}, qr/^SLR05 quantity over balance/, 'a row breaking a rule: its SLR code');
my @links = map { $_->{result} } @{ get("/v1/import/$r->{json}{id}/lines?status=accepted")->{json} };
$r = csv('receive', "link,qty,inspection\n$links[0],2 kg,\"{\"\"inspector\"\":\n \"\"赵六\"\"}\"\n$links[1],3 kg,not json\n");
is_deeply([ @{ $r->{json} }{qw(accepted refused)} ], [ 1, 1 ], 'a receive CSV: a JSON cell over two lines applied');
is(get("/v1/import/$r->{json}{id}/lines?status=refused")->{json}[0]{sqlstate}, '22P02', 'a cell that is not JSON: 22P02');
$before = state();
$r = csv('ship', "code,qty,colour\n$a1,1 kg,red\n");
is_deeply([ $r->{status}, $r->{json}{code}, $r->{json}{details} ],
	[ 400, 'GW400', 'missing columns: buyer; unknown columns: colour' ], 'CSV header lacking a column: 400 naming it');
$r = csv('harvest', "a\n1\n");
is_deeply([ $r->{status}, $r->{json}{code} ], [ 400, 'GW400' ], 'CSV of an unknown kind: 400');
is(state(), $before, 'refused CSV uploads wrote nothing');

# ---- a body shorter than its Content-Length --------------------------------------------
my ($port) = $gw->{url} =~ /:(\d+)$/;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 30) or die $!;
my $part = ship(code => $a1, buyer => 0 + $b1, qty => '1 kg') . "\n";
print $s "POST /v1/import HTTP/1.1\r\nHost: x\r\nX-API-Key: $key\r\nContent-Type: application/x-ndjson\r\n"
  . "Content-Length: " . (length($part) + 100) . "\r\n\r\n$part";
shutdown($s, 1);
my $reply = do { local $/; <$s> } // '';
close $s;
like($reply, qr{^HTTP/1\.[01] 400 .*truncated request body}s, 'a body cut short of its Content-Length: 400');
is(state(), $before, 'and nothing staged or applied');

stop_gateway($gw);
$node->stop;
done_testing();
