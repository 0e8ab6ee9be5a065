# The webhook routes over real HTTP (docs/webhooks.md): an operator
# subscribes (201 with the secret once), lists and reads only its own, reads
# the delivery log of a receipt draft its supplier's sale made, cannot
# subscribe for another operator (403) nor see another's subscription or log
# (404 SLW04); bad URLs and kinds are refused with SLW01/SLW02; a regulator
# subscribes to its subtree's alerts and not to an operator's kinds; a dead
# delivery is redelivered, a live one is not (SLW07); /metrics shows the
# outbox; removing a subscription cancels what it had pending.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_webhooks');
my $ids = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	create temp table ids as select
		shilian.operator_register('F', 'production', '{farm}', '370102001', 'a', '1', reg_card => 'GW-F') as f,
		shilian.operator_register('W', 'circulation', '{wholesaler}', '370102001', 'a', '1', reg_card => 'GW-W') as w,
		shilian.operator_register('X', 'circulation', '{retailer}', '370102001', 'a', '1', reg_card => 'GW-X') as x;
	select shilian.operator_activate(o) from ids, unnest(array[f, w, x]) o;
	select shilian.licence_add(w, 'JY13701020000018', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select f || ' ' || w || ' ' || x from ids;
});
my ($f, $w, $x) = split ' ', (split /\n/, $ids)[-1];
my $code = $node->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select shilian.batch_create($f, shilian.product_register('白菜', 'vegetables', shelf_life_days => 10,
		edible_agricultural => true), '500 kg', '2026-03-02');
});

my $gw = start_gateway($node);
my %tok = (
	w => make_jwt({ role => 'operator', operator_id => $w }),
	x => make_jwt({ role => 'operator', operator_id => $x }),
	city => make_jwt({ role => 'regulator', jurisdiction => '370100' }),
	admin => make_jwt({ role => 'admin' }),
);
sub call
{
	my ($who, $method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path, headers => { Authorization => "Bearer $tok{$who}",
		(defined $body ? ('Content-Type' => 'application/json') : ()) },
		(defined $body ? (body => encode_json($body)) : ()));
	my $j = eval { JSON::PP->new->utf8->decode($r->{content}) };
	return ($r->{status}, $j);
}

# ---- subscribing ----------------------------------------------------------------------
my ($st, $j) = call(w => POST => '/v1/webhooks', { url => 'https://erp.example.com/hooks/shilian', kinds => ['receipt_draft', 'recall'] });
is($st, 201, 'an operator subscribes: 201');
like($j->{secret}, qr/^whsec_[0-9a-f]{64}$/, 'the reply carries the signing secret');
is($j->{operator}, $w, 'owned by the acting operator (an id as a string)');
is_deeply($j->{kinds}, ['recall', 'receipt_draft'], 'its kinds, sorted');
my $sid = $j->{id};

($st, $j) = call(w => GET => '/v1/webhooks');
is($st, 200, 'list: 200');
is(scalar @$j, 1, 'W sees its subscription');
ok(!exists $j->[0]{secret}, 'the list never shows the secret');
($st, $j) = call(w => GET => "/v1/webhooks/$sid");
is($j->{url}, 'https://erp.example.com/hooks/shilian', 'one subscription by id');

($st, $j) = call(x => GET => '/v1/webhooks');
is_deeply($j, [], 'X sees none of W\'s');
($st, $j) = call(x => GET => "/v1/webhooks/$sid");
is($st, 404, 'X reading W\'s subscription: 404');
($st, $j) = call(x => GET => "/v1/webhooks/$sid/deliveries");
is("$st $j->{code}", '404 SLW04', 'X reading W\'s delivery log: 404 SLW04');
($st, $j) = call(x => DELETE => "/v1/webhooks/$sid");
is("$st $j->{code}", '404 SLW04', 'X removing W\'s: 404 SLW04');
($st, $j) = call(x => POST => '/v1/webhooks', { url => 'https://x.example.com/h', kinds => ['recall'], operator => $w });
is("$st $j->{code}", '403 42501', 'X subscribing to W\'s events: 403');

# ---- refusals ---------------------------------------------------------------------------
for my $bad ('ftp://erp.example.com/h', 'http://erp.example.com/h', 'https://user:pw@erp.example.com/h',
	'https://erp.example.com/h#frag', 'http://127.0.0.1:9/h')
{
	($st, $j) = call(w => POST => '/v1/webhooks', { url => $bad, kinds => ['recall'] });
	is("$st $j->{code}", '422 SLW01', "URL $bad refused: SLW01");
}
($st, $j) = call(w => POST => '/v1/webhooks', { url => 'https://erp.example.com/h', kinds => ['alert'] });
is("$st $j->{code}", '422 SLW02', 'an operator may not subscribe to alerts: SLW02');
($st, $j) = call(w => POST => '/v1/webhooks', { url => 'https://erp.example.com/h', kinds => ['epcis_query'] });
is("$st $j->{code}", '422 SLW02', 'EPCIS named queries are not a kind (yet): SLW02');
($st, $j) = call(w => POST => '/v1/webhooks', { url => 'https://erp.example.com/h', kinds => [] });
is("$st $j->{code}", '422 SLW02', 'no kind: SLW02');
($st, $j) = call(w => POST => '/v1/webhooks', { url => 'https://erp.example.com/h' });
is($st, 400, 'kinds missing: 400');

# ---- a regulator ------------------------------------------------------------------------
($st, $j) = call(city => POST => '/v1/webhooks', { url => 'https://city.example.gov.cn/alerts', kinds => ['alert'] });
is($st, 201, 'a regulator subscribes to its subtree\'s alerts');
is($j->{jurisdiction}, '370100', 'owned by its jurisdiction');
my $city_sid = $j->{id};
($st, $j) = call(city => POST => '/v1/webhooks', { url => 'https://city.example.gov.cn/r', kinds => ['recall'] });
is("$st $j->{code}", '422 SLW02', 'a jurisdiction subscribes to alerts only');
($st, $j) = call(city => POST => '/v1/webhooks', { url => 'https://city.example.gov.cn/r', kinds => ['alert'], jurisdiction => '370000' });
is("$st $j->{code}", '403 42501', 'not to the province above it');
($st, $j) = call(w => GET => "/v1/webhooks/$city_sid");
is($st, 404, 'an operator does not see the regulator\'s subscription');

# ---- the delivery log --------------------------------------------------------------------
my $link = $node->safe_psql('postgres', "select shilian.ship('$code', $w, '10 kg', '2026-03-03')");
($st, $j) = call(w => GET => "/v1/webhooks/$sid/deliveries");
is($st, 200, 'delivery log: 200');
is(scalar @$j, 1, 'one event: the receipt draft');
is($j->[0]{status}, 'pending', 'pending (no worker runs here)');
is($j->[0]{body}{kind}, 'receipt_draft.created', 'its kind');
is($j->[0]{body}{data}{link}, $link, 'the sale it announces');
is($j->[0]{body}{id}, $j->[0]{event_id}, 'the body\'s id is the event id');
my $did = $j->[0]{id};
($st, $j) = call(w => GET => "/v1/webhooks/$sid/deliveries?status=bogus");
is("$st $j->{code}", '400 GW400', 'an unknown status filter: GW400 (the declared values; SLW06 in SQL)');
($st, $j) = call(w => GET => "/v1/webhooks/$sid/deliveries?status=dead");
is_deeply($j, [], 'no dead ones');

my $r = http_call($gw, 'GET', '/metrics');
like($r->{content}, qr/^shilian_webhook_pending 1$/m, 'metrics: one pending delivery');
like($r->{content}, qr/^shilian_webhook_lag_seconds [0-9.e+-]+$/m, 'metrics: the lag');

($st, $j) = call(w => POST => "/v1/webhooks/deliveries/$did/redeliver");
is("$st $j->{code}", '422 SLW07', 'a pending delivery is not redelivered: SLW07');
$node->safe_psql('postgres', "update shilian.webhook_delivery set status = 'dead', attempts = 9 where id = $did");
($st, $j) = call(x => POST => "/v1/webhooks/deliveries/$did/redeliver");
is("$st $j->{code}", '404 SLW05', 'X redelivering W\'s: 404 SLW05');
($st, $j) = call(w => POST => "/v1/webhooks/deliveries/$did/redeliver");
is("$st $j->{status}", '200 pending', 'W redelivers its dead delivery');
is($node->safe_psql('postgres', "select attempts from shilian.webhook_delivery where id = $did"), 0, 'its retries start over');

# ---- removing ------------------------------------------------------------------------------
($st, $j) = call(w => DELETE => "/v1/webhooks/$sid");
is("$st $j->{active}", '200 0', 'W removes its subscription');
is($node->safe_psql('postgres', "select status from shilian.webhook_delivery where id = $did"), 'cancelled',
	'its pending delivery is cancelled');
$node->safe_psql('postgres', "select shilian.ship('$code', $w, '10 kg', '2026-03-03')");
is($node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery"), 1, 'and no new event is written for it');
($st, $j) = call(w => GET => '/v1/webhooks');
is_deeply($j, [], 'the list leaves it out');
($st, $j) = call(w => GET => '/v1/webhooks?all=true');
is(scalar @$j, 1, 'all=true shows it, removed');
($st, $j) = call(admin => GET => '/v1/webhooks?all=true');
is(scalar @$j, 2, 'the admin sees every subscription');

# ---- the other outbox writers (what the worker would send: 080_webhooks.pl) ---------------
# A bulk upload made for W with a refused line; an alert in the city; a
# recall acknowledged and closed.
($st, $j) = call(w => POST => '/v1/webhooks', { url => 'https://erp.example.com/w2', kinds => ['import_refused', 'recall'] });
my $sid2 = $j->{id};
$node->safe_psql('postgres', qq{
	begin; set local role shilian_operator; select set_config('shilian.operator_id', '$w', true);
	select shilian.import_ndjson('{"kind":"product","name":"W 的菜","category":"vegetables","owner":$w}' || chr(10)
		|| '{"kind":"nonsense"}' || chr(10));
	commit;});
my $imp = JSON::PP->new->decode($node->safe_psql('postgres',
	"select data from shilian.webhook_delivery where subscription_id = $sid2 and kind = 'import.refused'"));
is_deeply([ map { $_->{line} } @{ $imp->{lines} } ], [2], 'import.refused: the refused line only, for W');
is($imp->{operator}, $w, 'of W\'s upload');

$node->safe_psql('postgres', "select shilian.licence_add($x, 'JY23701020000014', '{vegetables}', '2024-01-01', current_date + 10)");
$node->safe_psql('postgres', 'select shilian.alerts_scan(current_date)');
is($node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where subscription_id = $city_sid "
	. "and kind = 'alert.raised' and data ->> 'operator' = '$x' and data ->> 'kind' = 'licence_expiring'"), 1,
	'alert.raised reaches the city\'s subscription');

my $c2 = $node->safe_psql('postgres', "select shilian.receive(l.id, '10 kg', '{\"inspector\":\"a\"}', '2026-03-04 09:00+08') "
	. "from shilian.link l where l.buyer_id = $w and l.status = 'pending' order by l.id limit 1");
my $rid = $node->safe_psql('postgres', "begin; set local role shilian_regulator; select set_config('shilian.jurisdiction', '370100', true) \\gset
"
	. "select shilian.recall_open('$code', 'test'); commit;");
$node->safe_psql('postgres', "select shilian.recall_ack($rid, $w, 'withdrawn', '10 kg')");
$node->safe_psql('postgres', "select shilian.recall_close($rid, 'done')");
my @ev = map { JSON::PP->new->decode($_) } split /\n/, $node->safe_psql('postgres',
	"select jsonb_build_object('kind', kind, 'data', data) from shilian.webhook_delivery where subscription_id = $sid2 and kind like 'recall.%' order by id");
is_deeply([ map { $_->{kind} } @ev ], [ 'recall.opened', 'recall.updated', 'recall.updated' ], 'recall: opened, acknowledged, closed');
is_deeply([ map { $_->{batch} } @{ $ev[0]{data}{lots} } ], [$c2], 'W\'s own lot only');
is($ev[1]{data}{lots}[0]{disposition}, 'withdrawn', 'the acknowledgement');
is($ev[2]{data}{status}, 'closed', 'the closing');

stop_gateway($gw);
done_testing();
