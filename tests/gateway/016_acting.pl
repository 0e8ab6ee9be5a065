# Systems acting for their operators over real HTTP (issue 17): a market's
# sub-system, bound by three of its vendors (two bound themselves, a
# regulator bound the third), reads each vendor's inbox and records each
# receipt, naming the vendor with ?operator= or X-Shilian-Operator; it is
# refused (403 GW403) for a fourth vendor that never bound it, asked to name
# a vendor (400 SLA01) when it names none, and refused for a vendor once the
# vendor withdraws its binding. An enterprise's own system with one binding
# needs no parameter. Regulators and admins, who have no inbox or batches of
# their own, get 403 GW403 on those lists instead of an empty list.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_acting');
my $out = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('泉城批发', 'circulation', '{wholesaler}', '370112001', 'w', '1', reg_card => 'W-1');
	select shilian.operator_register('摊位一', 'circulation', '{market_vendor}', '370102001', 'v', '1', reg_card => 'V-1');
	select shilian.operator_register('摊位二', 'circulation', '{market_vendor}', '370102001', 'v', '2', reg_card => 'V-2');
	select shilian.operator_register('摊位三', 'circulation', '{market_vendor}', '370102001', 'v', '3', reg_card => 'V-3');
	select shilian.operator_register('摊位四', 'circulation', '{market_vendor}', '370102001', 'v', '4', reg_card => 'V-4');
	select shilian.operator_register('历城加工厂', 'production', '{processor}', '370112001', 'e', '1', reg_card => 'E-1');
	select shilian.operator_activate(id) from shilian.operator order by id;
	select shilian.licence_add(1, 'JY13701020000018', '{vegetables}', '2020-01-01', '2099-12-31');
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true);
	select shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017', edible_agricultural => true);
	create temp table lot as select shilian.batch_create(1, 1, '1000 kg', date '2026-11-01') as code;
	select shilian.ship(code, b, '100 kg', date '2026-11-02') from lot, generate_series(2, 6) b;
	select shilian.api_client_add('market-qc', '泉城路市场系统', 'market');
	select shilian.api_client_add('erp-e', '历城加工厂 ERP', 'own_system');
	select shilian.api_client_key_new('market-qc') || ' ' || shilian.api_client_key_new('erp-e') || ' ' || code from lot;
});
my ($market, $erp, $code) = split ' ', (split /\n/, $out)[-1];
my ($W, $V1, $V2, $V3, $V4, $E) = (1, 2, 3, 4, 5, 6);

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my %tok = (map({ ("v$_" => make_jwt({ role => 'operator', operator_id => $_ + 1 })) } 1 .. 4),
	e => make_jwt({ role => 'operator', operator_id => $E }),
	reg102 => make_jwt({ role => 'regulator', jurisdiction => '370102' }),
	reg112 => make_jwt({ role => 'regulator', jurisdiction => '370112' }),
	admin => make_jwt({ role => 'admin' }));

# call(AUTH, METHOD, PATH, BODY, HEADERS...): AUTH is a token, or a key as ['key', K]
sub call
{
	my ($auth, $method, $path, $body, %h) = @_;
	my %a = ref $auth ? ('X-API-Key' => $auth->[1]) : (Authorization => "Bearer $auth");
	my $r = http_call($gw, $method, $path, defined $body ? (body => encode_json($body)) : (),
		headers => { %a, 'Content-Type' => 'application/json', %h });
	$r->{json} = json_body($r);
	return $r;
}

sub expect
{
	my ($r, $status, $code, $name) = @_;
	my $ok = is($r->{status}, $status, "$name: $status");
	is($r->{json}{code}, $code, "$name: $code") if defined $code;
	diag($r->{content}) unless $ok;
	return $r->{json};
}

my $mk = [ key => $market ];
my $ek = [ key => $erp ];

# ---- binding: the vendors themselves, a regulator of their jurisdiction ------
my $j = expect(call($tok{v1}, 'POST', '/v1/client-bindings', { client => 'market-qc' }), 201, undef,
	'vendor 1 binds the market system to itself');
is_deeply([ @$j{qw(client operator kind bound_by)} ], [ 'market-qc', "$V1", 'market', 'operator' ],
	'the binding names client, operator (a string), kind and who granted it');
like($j->{ledger_id}, qr/^\d+$/, 'and its ledger entry');
expect(call($tok{v2}, 'POST', '/v1/client-bindings', { client => 'market-qc', operator => $V2 }), 201, undef,
	'vendor 2 binds it');
expect(call($tok{reg112}, 'POST', '/v1/client-bindings', { client => 'market-qc', operator => $V3 }), 403, 'SLA03',
	'a regulator outside vendor 3\'s jurisdiction may not');
expect(call($tok{reg102}, 'POST', '/v1/client-bindings', { client => 'market-qc', operator => $V3 }), 201, undef,
	'vendor 3\'s own regulator binds it');
expect(call($tok{v1}, 'POST', '/v1/client-bindings', { client => 'market-qc', operator => $V4 }), 403, 'SLA03',
	'vendor 1 may not bind the market for vendor 4');
expect(call($mk, 'POST', '/v1/client-bindings', { client => 'market-qc', operator => $V4 }), 403, 'GW403',
	'the market system may not bind itself');
expect(call($tok{e}, 'POST', '/v1/client-bindings', { client => 'erp-e' }), 201, undef,
	'the enterprise binds its own system');
is($node->safe_psql('postgres', "select string_agg(operator_id || ':' || kind, ' ' order by id) from shilian.ledger where kind like 'client_%'"),
	"$V1:client_bind $V2:client_bind $V3:client_bind $E:client_bind", 'each grant is on the operator\'s ledger chain');
$j = expect(call($tok{v1}, 'GET', '/v1/client-bindings'), 200, undef, 'vendor 1 lists its bindings');
is_deeply([ map { "$_->{client}:$_->{operator}" } @$j ], [ "market-qc:$V1" ], 'only its own');
$j = expect(call($tok{reg102}, 'GET', '/v1/client-bindings'), 200, undef, 'the regulator lists its jurisdiction\'s');
is_deeply([ map { "$_->{client}:$_->{operator}" } @$j ], [ map { "market-qc:$_" } $V1, $V2, $V3 ], 'the three vendors\'');

# ---- the market acts for each vendor ------------------------------------------
$j = expect(call($mk, 'GET', '/v1/shipments/inbox'), 400, 'SLA01', 'a client bound to three, naming none');
like($j->{details}, qr/bound to 3 operators/, 'the details say how many');
like($j->{hint}, qr/operator=.*X-Shilian-Operator/, 'the hint says how to name one');
for my $v ($V1, $V2, $V3)
{
	my $inbox = expect(call($mk, 'GET', "/v1/shipments/inbox?operator=$v"), 200, undef, "the market reads vendor $v\'s inbox");
	is(scalar @$inbox, 1, "one draft for vendor $v");
	my $link = $inbox->[0]{link};
	my ($qs, %hdr) = $v == $V2 ? ('', 'X-Shilian-Operator' => "$v") : ("?operator=$v");
	$j = expect(call($mk, 'POST', "/v1/receipts$qs", { link => $link, qty => '100 kg',
		inspection => { inspector => "vendor $v" }, received_at => '2026-11-02T10:00:00+08:00' }, %hdr),
		201, undef, "the market records vendor $v\'s receipt" . ($v == $V2 ? ' (header)' : ''));
	like($j->{trace_code}, qr/^\d{18}$/, 'a new lot');
	is($node->safe_psql('postgres', "select owner_id from shilian.batch where trace_code::text = '$j->{trace_code}'"), "$v",
		"held by vendor $v");
	$j = expect(call($mk, 'GET', "/v1/batches?operator=$v"), 200, undef, "the market lists vendor $v\'s batches");
	is(scalar @$j, 1, 'its one batch');
}
is($node->safe_psql('postgres', "select string_agg(source, ',' order by id) from shilian.ledger where kind = 'receive'"),
	'api:market-qc,api:market-qc,api:market-qc', 'each receipt\'s ledger entry names the market system');
my $v1lot = $node->safe_psql('postgres', "select trace_code from shilian.batch where owner_id = $V1");
$j = expect(call($mk, 'GET', "/v1/trace/$v1lot/backward?operator=$V1"), 200, undef, 'it traces a vendor\'s lot');
ok((grep { $_->{batch} eq $code } @$j), 'back to the wholesaler\'s lot');
expect(call($mk, 'GET', "/v1/trace/$v1lot/backward?operator=$V4"), 403, 'GW403', 'not as vendor 4');

# a bulk upload for one vendor (line without operator: the acting one)
my $r = http_call($gw, 'POST', "/v1/import?operator=$V1",
	body => encode_json({ kind => 'consume', code => $v1lot, qty => '5 kg', consumption_kind => 'retail_sold',
		at => '2026-11-03T09:00:00+08:00' }) . "\n",
	headers => { 'X-API-Key' => $market, 'Content-Type' => 'application/x-ndjson', Prefer => 'wait' });
is($r->{status}, 201, 'the market uploads for vendor 1') or diag($r->{content});
is(json_body($r)->{accepted}, 1, 'and the line is accepted');
is($node->safe_psql('postgres', "select operator_id from shilian.consumption"), "$V1", 'as vendor 1\'s record');

# an EPCIS capture for one vendor: the event names no party, the acting vendor is it
sub commission
{
	my ($n, $qs) = @_;
	my $doc = { '@context' => [ 'https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld' ],
		type => 'EPCISDocument', schemaVersion => '2.0', creationDate => '2026-11-20T07:30:00.000+08:00',
		epcisBody => { eventList => [ { eventID => "urn:uuid:0a0a0a0a-0000-4000-8000-00000000000$n",
			type => 'ObjectEvent', eventTime => '2026-11-20T07:00:00.000+08:00', eventTimeZoneOffset => '+08:00',
			action => 'ADD', bizStep => 'commissioning', disposition => 'active',
			quantityList => [ { epcClass => "urn:epc:class:lgtin:6970000.000001.MK-$n", quantity => 20, uom => 'KGM' } ] } ] } };
	my $r = http_call($gw, 'POST', "/epcis/capture$qs", body => encode_json($doc),
		headers => { 'X-API-Key' => $market, 'Content-Type' => 'application/ld+json' });
	$r->{json} = json_body($r);
	return $r;
}
$r = commission(1, "?operator=$V3");
is($r->{status}, 202, 'the market captures an EPCIS event for vendor 3') or diag($r->{content});
is($node->safe_psql('postgres', "select owner_id from shilian.batch where lot = 'MK-1'"), "$V3", 'vendor 3\'s new lot');
expect(commission(2, "?operator=$V4"), 403, 'GW403', 'not for vendor 4');

# ---- refused -------------------------------------------------------------------
expect(call($mk, 'GET', "/v1/shipments/inbox?operator=$V4"), 403, 'GW403', 'vendor 4 never bound it: refused');
expect(call($mk, 'POST', "/v1/receipts?operator=$V4", { link => 5, qty => '100 kg', inspection => { inspector => 'x' } }),
	403, 'GW403', 'it may not record vendor 4\'s receipt');
expect(call($mk, 'POST', '/v1/receipts', { link => 5, qty => '100 kg', inspection => { inspector => 'x' } },
	'X-Shilian-Operator' => "$V4"), 403, 'GW403', 'not with the header either');
is($node->safe_psql('postgres', "select status from shilian.link where buyer_id = $V4"), 'pending', 'vendor 4\'s sale is still pending');
expect(call($mk, 'GET', "/v1/shipments/inbox?operator=$V1", undef, 'X-Shilian-Operator' => "$V2"), 400, 'GW400',
	'parameter and header naming different vendors');
expect(call($mk, 'GET', '/v1/shipments/inbox?operator=abc'), 400, 'GW400', 'an operator that is not an id');
expect(call($mk, 'GET', '/v1/shipments/inbox?operator=02'), 400, 'GW400', 'nor with a leading zero');

# ---- a vendor withdraws -------------------------------------------------------
expect(call($tok{v1}, 'DELETE', "/v1/client-bindings/market-qc/$V2"), 403, 'SLA03', 'vendor 1 may not unbind vendor 2');
$j = expect(call($tok{v2}, 'DELETE', "/v1/client-bindings/market-qc/$V2"), 200, undef, 'vendor 2 withdraws its binding');
is($j->{bound}, JSON::PP::false, 'no longer bound');
is($node->safe_psql('postgres', "select count(*) from shilian.ledger where operator_id = $V2 and kind = 'client_unbind'"), '1',
	'the withdrawal is on vendor 2\'s chain');
expect(call($mk, 'GET', "/v1/shipments/inbox?operator=$V2"), 403, 'GW403', 'the market is then refused for vendor 2');
expect(call($mk, 'GET', "/v1/batches?operator=$V2"), 403, 'GW403', 'its batches too');
expect(call($mk, 'GET', '/v1/shipments/inbox'), 400, 'SLA01', 'still bound to two: it must name one');

# ---- an enterprise's own system, one binding: implied ----------------------------
$j = expect(call($ek, 'GET', '/v1/session'), 200, undef, 'the enterprise system\'s session');
is($j->{operator_id}, "$E", 'acts for its one operator without a parameter');
my $inbox = expect(call($ek, 'GET', '/v1/shipments/inbox'), 200, undef, 'it reads its inbox');
is(scalar @$inbox, 1, 'with its draft');
expect(call($ek, 'POST', '/v1/receipts', { link => $inbox->[0]{link}, qty => '100 kg',
	inspection => { inspector => 'E' }, received_at => '2026-11-02T11:00:00+08:00' }), 201, undef, 'and records the receipt');
expect(call($ek, 'GET', "/v1/shipments/inbox?operator=$V1"), 403, 'GW403', 'but not for another operator');

# ---- operators act only for themselves; roles without the list: 403 -----------------
expect(call($tok{v1}, 'GET', "/v1/shipments/inbox?operator=$V1"), 200, undef, 'an operator may name itself');
expect(call($tok{v1}, 'GET', "/v1/shipments/inbox?operator=$V3"), 403, 'GW403', 'never another');
for my $who (qw(reg102 admin))
{
	for my $path ('/v1/shipments/inbox', '/v1/batches')
	{
		expect(call($tok{$who}, 'GET', $path), 403, 'GW403', "$who on $path");
	}
}

# ---- the database checks it too ------------------------------------------------------
my ($rc, $o, $err) = $node->psql('postgres', qq{begin;
	select set_config('role', 'shilian_system', true), set_config('shilian.client', 'market-qc', true),
		shilian.set_acting_operator('$V4');},
	extra_params => [ '-U', 'shilian_gateway' ]);
like($err, qr/system client "market-qc" is not bound to operator $V4/,
	'the setting function refuses an unbound operator (SLA02) whatever the gateway sends');

stop_gateway($gw);
done_testing();
