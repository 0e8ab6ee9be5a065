# Strict dates and timestamps over REST (docs/errors.md "Dates and
# timestamps"): a body field or query parameter that is a date takes
# YYYY-MM-DD only, a time RFC 3339 with its offset only; anything else is
# 400 with the SLD code and a message naming the field, and writes nothing.
# The same rule refuses the lines of an NDJSON or CSV upload one by one,
# and an EPCIS event. A time with its offset is the same instant whatever
# the zone of the database session.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
sub uri_escape { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; return $s; }
use ShilianTest;

my $node = shilian_node('gw_strict_input');
$node->append_conf('postgresql.conf', "timezone = 'Pacific/Kiritimati'");
$node->restart;
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	create table o as select
		shilian.operator_register('卖方', 'production', '{processor}', '370112001', 'a', '1', reg_card => 'D-1') as s,
		shilian.operator_register('买方', 'circulation', '{retailer}', '370112001', 'b', '2', reg_card => 'D-2') as b,
		shilian.product_register('面粉', 'grain') as flour;
	select shilian.operator_activate(x) from o, unnest(array[s, b]) x;
	select shilian.licence_add(s, 'JY13701020000018', '{grain}', '2020-01-01', '2099-12-31') from o;
	select shilian.licence_add(b, 'JY13701020000026', '{grain}', '2020-01-01', '2099-12-31') from o;
	select concat_ws(' ', s, b, flour, shilian.batch_create(s, flour, '500 t', '2026-01-01')) from o;
});
my ($s, $b, $flour, $code) = split ' ', (split /\n/, $out)[-1];

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (s => make_jwt({ role => 'operator', operator_id => $s }), b => make_jwt({ role => 'operator', operator_id => $b }),
	reg => make_jwt({ role => 'regulator', jurisdiction => '370000' }));

sub call
{
	my ($who, $method, $path, $body, %h) = @_;
	my $r = http_call($gw, $method, $path, defined $body ? (body => ref $body ? encode_json($body) : $body) : (),
		headers => { Authorization => "Bearer $tok{$who}", 'Content-Type' => 'application/json', %h });
	$r->{json} = json_body($r);
	return $r;
}

sub state
{
	return $node->safe_psql('postgres', q{select concat_ws(' ', (select count(*) from shilian.batch),
		(select count(*) from shilian.link), (select count(*) from shilian.consumption),
		(select count(*) from shilian.ledger))});
}

sub refused
{
	my ($r, $code, $field, $name) = @_;
	is_deeply([ $r->{status}, $r->{json}{code} ], [ 400, $code ], "$name: 400 $code") or diag($r->{content});
	like($r->{json}{message} // '', qr/^\Q$field\E: "/, "$name: the message names $field");
}

my $before = state();
# ---- body dates ------------------------------------------------------------------------------
for my $bad ('01/12/2026', '2026-1-2', 'yesterday', 'today')
{
	refused(call('s', 'POST', '/v1/batches', { product => 0 + $flour, qty => '1 kg', produced_on => $bad }),
		'SLD01', 'produced_on', "produced_on \"$bad\"");
}
refused(call('s', 'POST', '/v1/batches', { product => 0 + $flour, qty => '1 kg', produced_on => '2026-02-30' }),
	'SLD02', 'produced_on', 'produced_on "2026-02-30"');
refused(call('s', 'POST', '/v1/batches', { product => 0 + $flour, qty => '1 kg', produced_on => '2026-01-05',
	expires_on => '2026/06/30' }), 'SLD01', 'expires_on', 'expires_on "2026/06/30"');
refused(call('s', 'POST', '/v1/shipments', { code => $code, buyer => 0 + $b, qty => '1 kg', shipped_on => '2026-1-6' }),
	'SLD01', 'shipped_on', 'shipped_on "2026-1-6"');
refused(call('reg', 'POST', '/v1/licences', { operator => 0 + $b, licence_no => 'JY13701020000034', scope => ['grain'],
	valid_from => '1.1.2024', valid_to => '2030-12-31' }), 'SLD01', 'valid_from', 'valid_from "1.1.2024"');
is(state(), $before, 'nothing written by the refused requests');

# ---- body timestamps ---------------------------------------------------------------------------
my $r = call('s', 'POST', '/v1/shipments', { code => $code, buyer => 0 + $b, qty => '10 kg', shipped_on => '2026-01-06' });
is($r->{status}, 201, 'a sale with a strict date: 201') or diag($r->{content});
my $link = $r->{json}{link};
$before = state();
for my $bad ('2026-01-06 10:00:00', '2026-01-06T10:00:00', '2026-01-06')
{
	refused(call('b', 'POST', '/v1/receipts', { link => $link, qty => '10 kg', inspection => { inspector => '李四' },
		received_at => $bad }), 'SLD04', 'received_at', "received_at \"$bad\" (no offset)");
}
refused(call('b', 'POST', '/v1/receipts', { link => $link, qty => '10 kg', inspection => { inspector => '李四' },
	received_at => '2026-01-06 10:00+08' }), 'SLD03', 'received_at', 'received_at with a short offset');
refused(call('b', 'POST', '/v1/receipts', { link => $link, qty => '10 kg', inspection => { inspector => '李四' },
	received_at => 'now' }), 'SLD03', 'received_at', 'received_at "now"');
refused(call('s', 'POST', '/v1/consumptions', { code => $code, qty => '1 kg', kind => 'sample_kept',
	at => '2026-01-06T25:00:00Z' }), 'SLD05', 'at', 'at with hour 25');
is(state(), $before, 'nothing written by the refused requests');
$r = call('b', 'POST', '/v1/receipts', { link => $link, qty => '10 kg', inspection => { inspector => '李四' },
	received_at => '2026-01-06T10:00:00+08:00' });
is($r->{status}, 201, 'received_at with its offset: 201') or diag($r->{content});
is($node->safe_psql('postgres', "set timezone = 'UTC'; select received_at from shilian.link where id = $link"),
	'2026-01-06 02:00:00+00', 'the instant given, not read in the server zone (+14)');

# ---- query parameters --------------------------------------------------------------------------
# declared date and date-time parameters: the dispatcher's check (the same
# strict parser, extension/core/strictdate.c) answers GW400 naming the
# parameter and its rule before any SQL
sub refused_param
{
	my ($r, $field, $name) = @_;
	is_deeply([ $r->{status}, $r->{json}{code} ], [ 400, 'GW400' ], "$name: 400 GW400") or diag($r->{content});
	like($r->{json}{details} // '', qr/^\Q$field\E: must be /, "$name: the details name $field and the rule");
}
$r = call('reg', 'GET', '/v1/regulator/jurisdictions/370112/stats?from=2026-1-1&to=2026-01-31');
refused_param($r, 'from', 'from=2026-1-1');
$r = call('reg', 'GET', '/v1/regulator/jurisdictions/370112/stats?from=2026-01-01&to=2026-02-30');
refused_param($r, 'to', 'to=2026-02-30');
$r = call('reg', 'GET', '/v1/regulator/jurisdictions/370112/inactive?since=yesterday');
refused_param($r, 'since', 'since=yesterday');
is(call('reg', 'GET', '/v1/regulator/jurisdictions/370112/stats?from=2026-01-01&to=2026-01-31')->{status}, 200,
	'strict dates: 200');
$r = call('s', 'GET', "/v1/trace/$code/forward?as_of=" . uri_escape('2026-01-07 00:00:00'));
refused_param($r, 'as_of', 'as_of without offset');
is(call('s', 'GET', "/v1/trace/$code/forward?as_of=" . uri_escape('2026-01-07T00:00:00+08:00'))->{status}, 200,
	'as_of with its offset: 200');
$r = call('s', 'GET', '/epcis/events?GE_eventTime=2026-01-01');
is($r->{status}, 400, 'GE_eventTime without a time: 400');
like($r->{content}, qr/query parameter GE_eventTime: .*is not an RFC 3339 date-time with its offset/,
	'naming GE_eventTime and the rule');
like($r->{content}, qr/"type":"epcisException:QueryParameterException"/, 'as the EPCIS QueryParameterException');

# ---- uploads: the same rule per line ---------------------------------------------------------------
$r = http_call($gw, 'POST', '/v1/import?kind=batch',
	body => "product,qty,produced_on,owner\n$flour,1 kg,2026-01-05,$s\n$flour,1 kg,01/05/2026,$s\n$flour,1 kg,2026-02-30,$s\n",
	headers => { Authorization => "Bearer $tok{s}", 'Content-Type' => 'text/csv', Prefer => 'wait' });
is($r->{status}, 201, 'CSV upload: 201') or diag($r->{content});
my $job = json_body($r);
is_deeply([ @{$job}{qw(accepted refused)} ], [ 1, 2 ], 'CSV: the strict line applied, the two others refused');
my $lines = json_body(http_call($gw, 'GET', "/v1/import/$job->{id}/lines?status=refused",
	headers => { Authorization => "Bearer $tok{s}" }));
is_deeply([ map { "$_->{line} $_->{sqlstate}" } @$lines ], [ '3 SLD01', '4 SLD02' ], 'CSV: lines 3 and 4, SLD01 and SLD02');
like($lines->[0]{message}, qr/^produced_on: "01\/05\/2026" is not a date in the form YYYY-MM-DD/, 'CSV: the message names the field');

$r = http_call($gw, 'POST', '/v1/import',
	body => encode_json({ kind => 'ship', code => $code, buyer => 0 + $b, qty => '1 kg', shipped_on => 'today' }) . "\n"
	  . encode_json({ kind => 'receive', link => 0 + $link, qty => '1 kg', inspection => {}, received_at => '2026-01-06T10:00' }) . "\n",
	headers => { Authorization => "Bearer $tok{s}", 'Content-Type' => 'application/x-ndjson', Prefer => 'wait' });
$job = json_body($r);
$lines = json_body(http_call($gw, 'GET', "/v1/import/$job->{id}/lines?status=refused",
	headers => { Authorization => "Bearer $tok{s}" }));
is_deeply([ map { "$_->{line} $_->{sqlstate}" } @$lines ], [ '1 SLD01', '2 SLD03' ], 'NDJSON: ship today SLD01, receive without seconds SLD03');

stop_gateway($gw);
$node->stop;
done_testing();
