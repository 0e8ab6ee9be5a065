# /openapi.json describes every implemented route (the list below is the
# routes the tests exercise) and /metrics counts them in Prometheus format.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('gw_meta');
my $gw = start_gateway($node, args => [ '--db-pool-size', '3' ]);

my @implemented = (
	[ get => '/healthz' ], [ get => '/metrics' ], [ get => '/openapi.json' ],
	[ get => '/v1/version' ], [ get => '/v1/session' ], [ post => '/v1/hash' ],
	[ post => '/v1/operators' ], [ post => '/v1/operators/{id}/activate' ], [ get => '/v1/operators/{id}' ],
	[ get => '/v1/operators' ], [ post => '/v1/licences' ], [ post => '/v1/products' ],
	[ post => '/v1/batches' ], [ get => '/v1/batches/{code}' ], [ get => '/v1/batches' ],
	[ post => '/v1/inspections' ], [ post => '/v1/shipments' ], [ get => '/v1/shipments/inbox' ],
	[ post => '/v1/shipments/{link}/reject' ], [ post => '/v1/receipts' ], [ post => '/v1/receipts/first-entry' ],
	[ post => '/v1/transformations' ], [ post => '/v1/consumptions' ],
	[ get => '/v1/records/{kind}/{id}/completeness' ], [ post => '/v1/records/{kind}/{id}/correction' ],
	[ post => '/v1/records/{kind}/{id}/retraction' ], [ get => '/v1/records/{kind}/{id}/corrections' ],
	[ get => '/v1/ledger/verify' ], [ post => '/v1/ledger/checkpoint' ], [ get => '/v1/ledger/proofs/inclusion' ],
	[ get => '/v1/ledger/proofs/consistency' ], [ get => '/v1/ledger/export' ],
	[ get => '/v1/ledger/checkpoint' ], [ get => '/v1/ledger/checkpoints/{size}' ], [ post => '/v1/ledger/checkpoints' ],
	[ post => '/v1/ledger/checkpoints/{size}/cosignatures' ], [ post => '/v1/ledger/checkpoints/{size}/refusals' ],
	[ get => '/v1/trace/{code}/forward' ], [ get => '/v1/trace/{code}/backward' ], [ get => '/v1/trace/{code}/graph' ],
	[ get => '/v1/public/trace/{code}' ], [ post => '/v1/recalls' ], [ get => '/v1/recalls/{id}' ],
	[ get => '/v1/recalls/{id}/targets' ], [ post => '/v1/recalls/{id}/ack' ], [ post => '/v1/recalls/{id}/close' ],
	[ get => '/v1/recalls/{id}/export' ],
	[ post => '/v1/import' ], [ get => '/v1/import' ], [ get => '/v1/import/{id}' ], [ get => '/v1/import/{id}/lines' ],
	[ get => '/v1/regulator/jurisdictions/{code}/stats' ], [ get => '/v1/regulator/jurisdictions/{code}/inactive' ],
	[ get => '/v1/regulator/jurisdictions/{code}/segments' ],
	[ get => '/v1/regulator/jurisdictions/{code}/monthly-report' ],
	[ get => '/v1/regulator/jurisdictions/{code}/monthly-report.csv' ],
	[ get => '/v1/regulator/jurisdictions/{code}/broken-chain' ], [ get => '/v1/regulator/jurisdictions/{code}/findings' ],
	[ get => '/v1/regulator/jurisdictions/{code}/spot-check' ], [ get => '/v1/regulator/jurisdictions/{code}/alerts' ],
	[ post => '/v1/regulator/alerts/{id}/ack' ],
	[ post => '/epcis/capture' ], [ get => '/epcis/capture/{id}' ], [ get => '/epcis/events' ], [ get => '/epcis/events/{eventID}' ], [ get => '/epcis/eventTypes' ],
	[ get => '/epcis/eventTypes/{eventType}/events' ], [ get => '/epcis/queries' ], [ post => '/epcis/queries' ],
	[ get => '/epcis/queries/{queryName}' ], [ delete => '/epcis/queries/{queryName}' ], [ get => '/epcis/queries/{queryName}/events' ],
	[ get => '/epcis/queries/{queryName}/subscriptions' ], [ post => '/epcis/queries/{queryName}/subscriptions' ],
	[ get => '/epcis/queries/{queryName}/subscriptions/{subscriptionID}' ],
	[ delete => '/epcis/queries/{queryName}/subscriptions/{subscriptionID}' ], [ get => '/v1/items/{epc}' ],
	[ post => '/v1/operators/{id}/gs1-locations' ], [ get => '/v1/operators/{id}/gs1-locations' ],
	[ get => '/v1/admin/clients' ], [ post => '/v1/admin/clients' ], [ get => '/v1/admin/clients/{client}' ],
	[ patch => '/v1/admin/clients/{client}' ], [ post => '/v1/admin/clients/{client}/operators' ],
	[ delete => '/v1/admin/clients/{client}/operators/{id}' ], [ post => '/v1/admin/clients/{client}/keys' ],
	[ delete => '/v1/admin/clients/{client}/keys/{key_id}' ],
	[ get => '/v1/licences/{id}' ], [ get => '/v1/products/{id}' ], [ get => '/v1/inspections/{id}' ],
	[ get => '/v1/shipments/{link}' ], [ get => '/v1/consumptions/{id}' ],
	# across provinces (tests/gateway/090_federation_api.pl)
	[ post => '/v1/shipments/cross-border' ], [ get => '/v1/trace/{code}/national/forward' ],
	[ get => '/v1/trace/{code}/national/backward' ], [ post => '/v1/recalls/national' ],
	[ get => '/v1/recalls/{id}/national' ],
	# registration and activation (tests/gateway/070_registration_api.pl)
	[ post => '/v1/registrations' ], [ get => '/v1/registrations' ], [ post => '/v1/registrations/{id}/decision' ],
	[ post => '/v1/operators/{id}/activation-code' ], [ post => '/v1/activations' ],
	[ get => '/v1/regulator/jurisdictions/{code}/registration-followup' ],
	[ get => '/v1/regulator/jurisdictions/{code}/registration-followup.csv' ],
	[ get => '/register' ], [ post => '/register' ], [ get => '/activate' ], [ post => '/activate' ],
	# pages, labels and pictures (tests/gateway/060_pages.pl)
	[ get => '/01/{gtin}/10/{lot}' ], [ get => '/01/{gtin}/10/{lot}/21/{serial}' ], [ get => '/01/{gtin}/21/{serial}' ],
	[ get => '/01/{gtin}' ], [ get => '/t/{code}' ], [ get => '/v1/batches/{code}/label.svg' ], [ get => '/v1/batches/{code}/label.png' ],
	[ get => '/v1/labels.svg' ], [ get => '/v1/recalls/{id}/graph.svg' ], [ get => '/v1/recalls/{id}/graph.html' ],
	[ get => '/v1/regulator/jurisdictions/{code}/monthly-report.svg' ],
	[ get => '/v1/regulator/jurisdictions/{code}/monthly-report.html' ],
	[ get => '/v1/client-bindings' ], [ post => '/v1/client-bindings' ],
	[ delete => '/v1/client-bindings/{client}/{operator}' ],
	[ get => '/v1/webhooks' ], [ post => '/v1/webhooks' ], [ get => '/v1/webhooks/{id}' ],
	[ delete => '/v1/webhooks/{id}' ], [ get => '/v1/webhooks/{id}/deliveries' ],
	[ post => '/v1/webhooks/deliveries/{id}/redeliver' ],
);

my $r = http_call($gw, 'GET', '/openapi.json');
is($r->{status}, 200, 'openapi: 200');
my $doc = json_body($r);
is($doc->{openapi}, '3.1.0', 'OpenAPI 3.1');
for my $route (@implemented)
{
	my ($m, $p) = @$route;
	ok($doc->{paths}{$p}{$m}, "openapi describes \U$m\E $p");
}
my $hash = $doc->{paths}{'/v1/hash'}{post}{requestBody}{content}{'application/json'}{schema};
is_deeply($hash->{required}, ['data_hex'], 'openapi: /v1/hash requires data_hex');
ok($doc->{paths}{'/v1/import'}{post}{requestBody}{content}{'application/x-ndjson'},
	'openapi: /v1/import takes application/x-ndjson');
ok($doc->{paths}{'/v1/import'}{post}{responses}{202}, 'openapi: /v1/import answers 202 Accepted');
ok(!$hash->{additionalProperties}, 'openapi: unknown fields are not allowed');
my $capture = $doc->{paths}{'/epcis/capture'}{post};
ok($capture->{requestBody}{content}{'application/ld+json'} && $capture->{requestBody}{content}{'application/json'},
	'openapi: /epcis/capture takes application/ld+json and application/json');
ok($capture->{responses}{202} && !$capture->{responses}{200}, 'openapi: /epcis/capture answers 202 Accepted');
ok($doc->{paths}{'/v1/batches'}{post}{responses}{201}, 'openapi: a create route answers 201 Created');
is_deeply($doc->{paths}{'/v1/version'}{get}{security}, [], 'openapi: public routes need no token');
is(scalar(map { keys %$_ } values %{ $doc->{paths} }), scalar @implemented, 'openapi describes no route beyond these');
is_deeply([ map { $_->{name} } grep { $_->{in} eq 'path' } @{ $doc->{paths}{'/v1/records/{kind}/{id}/completeness'}{get}{parameters} } ],
	[ 'kind', 'id' ], 'openapi: path parameters in order');

http_call($gw, 'GET', '/healthz') for 1 .. 3;
http_call($gw, 'GET', '/nope');
# A request is counted just after its reply is written, so the last one may
# still be finishing: poll until it shows.
for (1 .. 50)
{
	$r = http_call($gw, 'GET', '/metrics');
	last if $r->{content} =~ /route="unmatched",status="404"\} 1$/m;
	select(undef, undef, undef, 0.1);
}
is($r->{status}, 200, 'metrics: 200');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'metrics: Prometheus text format');
my $m = $r->{content};
like($m, qr/^shilian_http_requests_total\{method="GET",route="\/healthz",status="200"\} 3$/m, 'metrics: 3 healthz requests counted');
like($m, qr/^shilian_http_requests_total\{method="",route="unmatched",status="404"\} 1$/m, 'metrics: the 404 counted as unmatched');
like($m, qr/^shilian_http_request_duration_seconds_bucket\{method="GET",route="\/healthz",le="\+Inf"\} 3$/m, 'metrics: latency histogram');
my ($in_flight) = $m =~ /^shilian_http_requests_in_flight (\d+)$/m;
ok(defined $in_flight && $in_flight >= 1 && $in_flight <= 4, 'metrics: requests in flight, this one included, within the threads');
# /metrics holds no pool connection, and nothing else runs now
like($m, qr/^shilian_db_connections_in_use 0$/m, 'metrics: pool connections in use');
like($m, qr/^shilian_db_connections_max 3$/m, 'metrics: pool size (db_pool_size)');
like($m, qr/^shilian_db_pool_waiting 0$/m, 'metrics: nobody waits for the pool');
like($m, qr/^shilian_http_threads 4$/m, 'metrics: worker threads');
like($m, qr/^shilian_http_client_connections [1-9]\d*$/m, 'metrics: connections counted against client addresses, this one included');
like($m, qr/^shilian_http_server_errors_total 0$/m, 'metrics: no server errors');
# the webhook outbox's figures (docs/webhooks.md), nothing sent here
like($m, qr/^shilian_webhook_delivered_total 0$/m, 'metrics: webhook events delivered');
like($m, qr/^shilian_webhook_pending 0$/m, 'metrics: webhook deliveries pending');
like($m, qr/^shilian_webhook_lag_seconds 0$/m, 'metrics: webhook lag');

stop_gateway($gw);
$node->stop;
done_testing();
