# Bulk upload over real HTTP (POST /v1/import, docs/integration.md): a system
# client uploads 20 NDJSON lines, 5 of them bad in different ways; exactly the
# bad lines are reported with their SQLSTATEs and the rest are applied. In
# all_or_nothing mode the same upload applies nothing; a retry with the same
# Idempotency-Key creates nothing new; the job and its report are visible to
# the client that uploaded only. Body checks: media type, size limit, an
# unknown mode; lines that cannot be records (not UTF-8, a NUL, over
# import_line_limit, cut off at the end) are refused one by one.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_import');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	create table ids as select
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1', reg_card => 'I-FARM') as farm,
		shilian.operator_register('泉城批发', 'circulation', '{wholesaler}', '370112001', 'y', '2', reg_card => 'I-WH') as wh,
		shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as cabbage;
	select shilian.operator_activate(farm), shilian.operator_activate(wh) from ids;
	select shilian.licence_add(wh, 'JY13701020000018', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.api_client_add('erp-1', '绿源 ERP');
	select shilian.api_client_bind('erp-1', farm), shilian.api_client_bind('erp-1', wh) from ids;
	select shilian.api_client_add('erp-2', '别家 ERP');
	alter table ids add a text, add link bigint;
	update ids set a = shilian.batch_create(farm, cabbage, '1 t', current_date - 1, lot => 'A')::text;
	update ids set link = shilian.ship(a::shilian.trace_code, wh, '100 kg', current_date);
	select farm || ' ' || wh || ' ' || cabbage || ' ' || a || ' ' || link || ' '
		|| shilian.api_client_key_new('erp-1') || ' ' || shilian.api_client_key_new('erp-2')
		|| ' ' || shilian.trace_code_next('370112') from ids;
});
my ($farm, $wh, $cabbage, $a, $link, $key1, $key2, $unknown) = split ' ', (split /\n/, $out)[-1];

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway',
	args => [ '--import-body-limit', '8192', '--import-line-limit', '2048' ]);

sub upload
{
	my ($key, $body, $query, %h) = @_;
	my $r = http_call($gw, 'POST', '/v1/import' . ($query // ''), body => $body,
		headers => { 'X-API-Key' => $key, 'Content-Type' => 'application/x-ndjson', Prefer => 'wait', %h });
	$r->{json} = json_body($r);
	return $r;
}

sub get
{
	my ($key, $path) = @_;
	my $r = http_call($gw, 'GET', $path, headers => { 'X-API-Key' => $key });
	$r->{json} = json_body($r);
	return $r;
}

# What the record functions write; equal before and after means nothing written.
sub state
{
	return $node->safe_psql('postgres', q{select concat_ws(' ', (select count(*) from shilian.batch),
		(select count(*) from shilian.link), (select count(*) from shilian.inspection),
		(select count(*) from shilian.consumption), (select count(*) from shilian.ledger),
		(select string_agg(qty_left::text, ',' order by id) from shilian.batch))});
}

my $json = JSON::PP->new->canonical->utf8;
my @lines;
push @lines, $json->encode({ kind => 'batch', owner => 0 + $farm, product => 0 + $cabbage, qty => "${_}0 kg", lot => "B$_" })
  for 1 .. 5;
push @lines, $json->encode({ kind => 'ship', code => $a, buyer => 0 + $wh, qty => '10 kg' }) for 1 .. 4;
push @lines, $json->encode({ kind => 'ship', code => $a, buyer => 0 + $wh, qty => '2 t' });			# 10: over balance
push @lines, $json->encode({ kind => 'ship', code => $unknown, buyer => 0 + $wh, qty => '1 kg' });	# 11: unknown batch
push @lines, $json->encode({ kind => 'ship', code => $a, buyer => 0 + $wh, qty => '10 kgs' });		# 12: bad qty literal
push @lines, '{"kind": "ship", "code": "' . $a . '", "buyer": ';									# 13: malformed JSON
push @lines, $json->encode({ kind => 'harvest', owner => 0 + $farm });								# 14: unknown kind
push @lines, $json->encode({ kind => 'consume', code => $a, qty => '1 kg', consumption_kind => 'sample_kept' }) for 1 .. 2;
push @lines, $json->encode({ kind => 'inspection', code => $a, inspection_kind => 'release', result => 'pass',
	report => { certificate_no => 'QC-1', inspector => '赵六' } });
push @lines, $json->encode({ kind => 'receive', link => 0 + $link, qty => '100 kg', inspection => { inspector => '李四' } });
push @lines, $json->encode({ kind => 'transform', inputs => [$a], qtys => ['5 kg'], product => 0 + $cabbage,
	qty => '5 kg', operator => 0 + $farm });
push @lines, $json->encode({ kind => 'batch', owner => 0 + $wh, product => 0 + $cabbage, qty => '3 kg', lot => 'C1',
	produced_on => '2026-11-01' });
is(scalar @lines, 20, '20 lines');
my $body = join("\n", @lines) . "\n";
my %bad = (10 => 'SLR05', 11 => 'SLR03', 12 => '22P02', 13 => '22P02', 14 => '22023');

# ---- all_or_nothing: nothing applied, the report kept ------------------------
my $before = state();
my $r = upload($key1, $body, '?mode=all_or_nothing');
is($r->{status}, 201, 'all_or_nothing upload: 201');
is($r->{headers}{location}, "/v1/import/$r->{json}{id}", 'the 201 names the job in Location');
unlike($r->{content}, qr/[:,] /, 'the job in the one JSON spacing');
is($r->{json}{status}, 'rolled_back', 'a refused line rolls the upload back');
is_deeply([ @{ $r->{json} }{qw(total done accepted refused)} ], [ 20, 20, 0, 5 ], 'counts: 20 lines, none applied, 5 refused');
is(state(), $before, 'all_or_nothing wrote no record');
my $lines = get($key1, "/v1/import/$r->{json}{id}/lines");
is(scalar(grep { $_->{status} eq 'rolled_back' } @{ $lines->{json} }), 15, 'the 15 valid lines are reported rolled_back');

# ---- apply_valid ---------------------------------------------------------------
$r = upload($key1, $body);
is($r->{status}, 201, 'apply_valid upload: 201 Created');
my $job = $r->{json}{id};
like($job, qr/^\d+$/, 'the answer names the job');
is_deeply([ @{ $r->{json} }{qw(status total done accepted refused)} ], [ 'applied', 20, 20, 15, 5 ],
	'counts: 20 lines, 15 accepted, 5 refused');
$r = get($key1, "/v1/import/$job/lines?status=refused");
is($r->{status}, 200, 'the refused lines: 200');
is_deeply({ map { $_->{line} => $_->{sqlstate} } @{ $r->{json} } }, \%bad,
	'exactly the bad lines are refused, each with its SQLSTATE');
like($r->{json}[0]{message}, qr/^quantity over balance/, 'with the rule\'s message');
$r = get($key1, "/v1/import/$job/lines?status=accepted");
is(scalar @{ $r->{json} }, 15, 'the other 15 are accepted');
like($r->{json}[0]{result}, qr/^\d{18}$/, 'an accepted batch line carries its new trace code');
is($node->safe_psql('postgres', qq{select count(*) from shilian.batch where lot in ('B1','B2','B3','B4','B5')}),
	'5', 'the batches were created');
is($node->safe_psql('postgres', qq{select qty_left from shilian.batch where trace_code::text = '$a'}), '853 kg',
	'batch A: 1 t less 100 + 4 x 10 kg shipped, 2 kg kept as samples, 5 kg processed');
is($node->safe_psql('postgres', qq{select status from shilian.link where id = $link}), 'received', 'the pending sale was received');
$r = get($key1, "/v1/import/$job");
is_deeply([ $r->{status}, @{ $r->{json} }{qw(total done accepted refused)} ], [ 200, 20, 20, 15, 5 ],
	'GET /v1/import/{id}: the counts');

# ---- Idempotency-Key -------------------------------------------------------------
my $small = $json->encode({ kind => 'batch', owner => 0 + $farm, product => 0 + $cabbage, qty => '7 kg', lot => 'IDEM' }) . "\n";
$r = upload($key1, $small, undef, 'Idempotency-Key' => 'upload-1');
is($r->{status}, 201, 'an upload with an Idempotency-Key');
my $first = $r->{json}{id};
$before = state();
$r = upload($key1, $small, undef, 'Idempotency-Key' => 'upload-1');
is($r->{status}, 201, 'the retry: 201');
is($r->{json}{id}, $first, 'the retry answers with the first job');
is($r->{headers}{'idempotent-replayed'}, 'true', 'marked as a replay');
is(state(), $before, 'the retry created nothing');
is($node->safe_psql('postgres', q{select count(*) from shilian.batch where lot = 'IDEM'}), '1', 'one batch, not two');
is($node->safe_psql('postgres', qq{select idempotency_key from shilian.import_job where id = $first}), 'upload-1',
	'the job records its key');

# ---- who sees the job --------------------------------------------------------------
$r = get($key2, "/v1/import/$job");
is($r->{status}, 404, 'another client does not see the job');
$r = get($key2, "/v1/import/$job/lines");
is($r->{status}, 404, 'nor its report');
$r = upload($key2, $small);
is_deeply([ @{ $r->{json} }{qw(accepted refused)} ], [ 0, 1 ], 'another client records nothing for erp-1\'s operators');
is(get($key2, "/v1/import/$r->{json}{id}/lines")->{json}[0]{sqlstate}, '42501', 'refused with 42501');
is(get($key1, '/v1/import/999999')->{status}, 404, 'an unknown job: 404');
is(get($key1, '/v1/import/x1')->{status}, 400, 'a malformed job id: 400');
is(http_call($gw, 'POST', '/v1/import', body => $small,
	headers => { 'Content-Type' => 'application/x-ndjson' })->{status}, 401, 'no credentials: 401');

# ---- the body --------------------------------------------------------------------
$before = state();
$r = upload($key1, $small, undef, 'Content-Type' => 'application/json');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 415, 'GW415' ], 'another media type: 415');
$r = upload($key1, $small x 200);
is_deeply([ $r->{status}, $r->{json}{code} ], [ 413, 'GW413' ], 'over import_body_limit: 413');
$r = upload($key1, $small, '?mode=best_effort');
# mode= is declared in the route table: the gateway refuses it, naming the parameter
is_deeply([ $r->{status}, $r->{json}{code}, $r->{json}{details} ],
	[ 400, 'GW400', 'mode: must be one of apply_valid, all_or_nothing' ], 'an unknown mode: 400 (GW400)');
is(state(), $before, 'refused uploads wrote nothing');

# ---- lines that cannot be records: refused one by one, the rest applied ------
my $ok1 = $json->encode({ kind => 'batch', owner => 0 + $farm, product => 0 + $cabbage, qty => '1 kg', lot => 'S1' });
my $ok2 = $json->encode({ kind => 'batch', owner => 0 + $farm, product => 0 + $cabbage, qty => '2 kg', lot => 'S2' });
$r = upload($key1, "$ok1\n\xff\xfe$small\0$ok2\n" . ('{"kind": "batch", "lot": "' . ('x' x 3000) . '"}') . "\n\n$ok2\n"
	. '{"kind": "ship", "code": "' . $a . '", "buyer": ');
is($r->{status}, 201, 'an upload with bad lines: 201');
is_deeply([ @{ $r->{json} }{qw(total accepted refused)} ], [ 6, 2, 4 ], 'six lines (the blank one skipped), two applied');
my %why = map { $_->{line} => "$_->{sqlstate} $_->{message}" } @{ get($key1, "/v1/import/$r->{json}{id}/lines?status=refused")->{json} };
is_deeply(\%why, {
	2 => '22021 line 2 is not valid UTF-8',
	3 => '22021 line 3 contains a NUL byte at byte 1',
	4 => '54000 line 4 is 3028 bytes long, over the limit of 2048 bytes',
	7 => 'SLI04 line 7 is cut off: the upload ends inside it' },
	'each bad line refused with its own SQLSTATE and message: encoding, NUL, length, cut off');
is($node->safe_psql('postgres', q{select count(*) from shilian.batch where lot in ('S1', 'S2')}), '2',
	'the good lines around them were applied');

stop_gateway($gw);
$node->stop;
done_testing();
