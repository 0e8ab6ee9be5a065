# Subscriptions to EPCIS named queries (issue 18; the EPCIS 2.0 REST binding's
# POST /queries/{name}/subscriptions, stream), over HTTP with the delivery
# worker and a local receiver (tests/webhooks/receiver.py, which verifies
# every signature): a capture's events that match the subscribed query reach
# the subscriber as one EPCISQueryDocument per capture, signed with its
# signatureToken, and the non-matching ones (of the same document too) do not; another operator's subscription to a
# query matching everything gets none of them (it may not see them); a
# removed subscription gets nothing; another operator neither sees nor
# removes a subscription (404 SLE23); refusals name their reason; deleting
# the named query removes its subscriptions.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Encode ();
use Time::HiRes qw(usleep);
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $node = shilian_node('gw_epcis_subscriptions');
$node->append_conf('postgresql.conf', "shilian.webhook_allow_http = on\n");
$node->reload;
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	select shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
		'济南市历城区工业北路8号', '0531-88100104', reg_card => 'LC-0002');
	select shilian.operator_register('泉城超市', 'circulation', '{retailer}', '370112001',
		'济南市历城区', '0531-1', reg_card => 'LC-0003');
	select shilian.operator_activate(id) from shilian.operator;
	select shilian.licence_add(1, 'SC10137011200027', '{other}', '2024-01-01', '2099-12-31');
	select shilian.product_register('番茄酱', 'other', 365, '500g/瓶', gtin => '6970000000024', owner => 1);
	select shilian.product_register('番茄汁', 'other', 180, '1L/瓶', gtin => '6970000000031', owner => 1);
	select shilian.gs1_location_register(1, 'urn:epc:id:pgln:6970000.00001', '鲁味');
	select shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00002.line-1', '灌装线');
	select shilian.batch_create(1, 2, '200 L', '2026-11-20', 'J-1201');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	maker => make_jwt({ role => 'operator', operator_id => 1 }),
	shop => make_jwt({ role => 'operator', operator_id => 2 }),
	county => make_jwt({ role => 'regulator', jurisdiction => '370112' }),
);
my $json = JSON::PP->new->utf8->canonical;

sub call
{
	my ($who, $method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path, headers => {
		Authorization => "Bearer $tok{$who}", defined $body ? ('Content-Type' => 'application/json') : () },
		defined $body ? (body => ref $body ? $json->encode($body) : $body) : ());
	$r->{json} = json_body($r);
	return $r;
}

# ---- the receiver and the worker ---------------------------------------------------
my $recv_log = "$dir/epcis_receiver.log";
my $port_file = "$dir/epcis_receiver.port";
my $secrets_file = "$dir/epcis_secrets.json";
my ($recv_pid, $worker_pid);
END { local $?; for my $p ($worker_pid, $recv_pid) { if ($p) { kill 'KILL', $p; waitpid($p, 0) } } }
$recv_pid = fork() // die;
if ($recv_pid == 0)
{
	open STDOUT, '>>', "$dir/epcis_receiver.out";
	open STDERR, '>>', "$dir/epcis_receiver.out";
	exec 'python3', "$top/tests/webhooks/receiver.py", '--port-file', $port_file, '--log', $recv_log,
	  '--secrets', $secrets_file or die;
}
for (1 .. 200) { last if -s $port_file; usleep(50_000); }
my $port = slurp_file($port_file);
ok($port, "the receiver listens on $port");
my $base = "http://127.0.0.1:$port";

sub requests
{
	return [] unless -e $recv_log;
	return [ map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($recv_log) ];
}
sub pending { return $node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where status = 'pending'") }
sub wait_delivered
{
	my ($what) = @_;
	for (1 .. 600)
	{
		return pass("$what: the outbox is empty") if pending() == 0;
		usleep(100_000);
	}
	fail("$what: the outbox is empty");
}

# ---- named queries and subscriptions ----------------------------------------------------
my $r = call('maker', 'POST', '/epcis/queries', { name => 'packing', query => { EQ_bizStep => 'packing' } });
is($r->{status}, 201, 'the maker\'s named query "packing"') or diag($r->{content});
$r = call('shop', 'POST', '/epcis/queries', { name => 'everything', query => {} });
is($r->{status}, 201, 'the shop\'s named query "everything"') or diag($r->{content});

my $token = 'tok-' . ('9f3a' x 8);
$r = call('maker', 'POST', '/epcis/queries/packing/subscriptions',
	{ dest => "$base/maker", signatureToken => $token, stream => JSON::PP::true });
is($r->{status}, 201, 'subscribe: 201') or diag($r->{content});
my $sid = $r->{json}{subscriptionID};
is($r->{headers}{location}, "/epcis/queries/packing/subscriptions/$sid", 'subscribe: Location names the subscription');
is_deeply([ @{ $r->{json} }{qw(queryName dest stream)}, exists $r->{json}{secret} ? 'secret' : 'no secret' ],
	[ 'packing', "$base/maker", JSON::PP::true, 'no secret' ], 'subscribe: the query, dest, stream; a client token is not echoed');

$r = call('maker', 'POST', '/epcis/queries/packing/subscriptions', { dest => "$base/removed", stream => JSON::PP::true });
is($r->{status}, 201, 'a second subscription, without a token') or diag($r->{content});
my $sid_removed = $r->{json}{subscriptionID};
like($r->{json}{secret} // '', qr/^whsec_[0-9a-f]{64}$/, 'without a signatureToken a secret is made and returned once');

$r = call('shop', 'POST', '/epcis/queries/everything/subscriptions', { dest => "$base/shop", stream => JSON::PP::true });
is($r->{status}, 201, 'the shop subscribes to its query') or diag($r->{content});
my $shop_secret = $r->{json}{secret};
# a system client bound to the maker and the county regulator follow queries of their own
my $key = (split /\n/, $node->safe_psql('postgres', q{
	select shilian.api_client_add('sauce-erp', '鲁味 ERP');
	select shilian.api_client_bind('sauce-erp', 1);
	select shilian.api_client_key_new('sauce-erp')}))[-1];
sub sys_call
{
	my ($method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path, headers => { 'X-API-Key' => $key,
		defined $body ? ('Content-Type' => 'application/json') : () }, defined $body ? (body => $json->encode($body)) : ());
	$r->{json} = json_body($r);
	return $r;
}
$r = sys_call('POST', '/epcis/queries', { name => 'erp-packing', query => { EQ_bizStep => 'packing' } });
is($r->{status}, 201, 'the system client\'s named query') or diag($r->{content});
$r = sys_call('POST', '/epcis/queries/erp-packing/subscriptions', { dest => "$base/erp", stream => JSON::PP::true });
is($r->{status}, 201, 'the system client subscribes to it') or diag($r->{content});
my $erp_secret = $r->{json}{secret};
is(sys_call('GET', '/epcis/queries/packing/subscriptions')->{status}, 404,
	'the system client does not see the maker\'s query or subscriptions (its own are its own)');
$r = call('county', 'POST', '/epcis/queries', { name => 'county-packing', query => { EQ_bizStep => 'packing' } });
is($r->{status}, 201, 'the county regulator\'s named query') or diag($r->{content});
$r = call('county', 'POST', '/epcis/queries/county-packing/subscriptions', { dest => "$base/county", stream => JSON::PP::true });
is($r->{status}, 201, 'the county regulator subscribes to it') or diag($r->{content});
my $county_secret = $r->{json}{secret};
{
	open my $fh, '>', $secrets_file or die;
	print $fh encode_json({ '/maker' => $token, '/shop' => $shop_secret, '/erp' => $erp_secret, '/county' => $county_secret });
	close $fh;
}

$r = call('maker', 'GET', '/epcis/queries/packing/subscriptions');
is_deeply([ map { $_->{subscriptionID} } @{ $r->{json} } ], [ $sid, $sid_removed ], 'list: the two subscriptions');
$r = call('maker', 'GET', "/epcis/queries/packing/subscriptions/$sid");
is_deeply([ $r->{status}, $r->{json}{dest}, exists $r->{json}{secret} ? 1 : 0 ], [ 200, "$base/maker", 0 ],
	'get: the subscription, never its secret');

# another operator neither sees nor removes it
for my $p ([ 'GET', "/epcis/queries/packing/subscriptions/$sid" ], [ 'DELETE', "/epcis/queries/packing/subscriptions/$sid" ],
	[ 'GET', '/epcis/queries/packing/subscriptions' ])
{
	$r = call('shop', @$p);
	is($r->{status}, 404, "the shop: $p->[0] $p->[1] is 404") or diag($r->{content});
}
$r = call('shop', 'POST', '/epcis/queries', { name => 'packing', query => {} });
is($r->{status}, 201, 'the shop makes a query of the same name');
for my $m ('GET', 'DELETE')
{
	$r = call('shop', $m, "/epcis/queries/packing/subscriptions/$sid");
	is_deeply([ $r->{status}, $r->{json}{code}, $r->{json}{type} ], [ 404, 'SLE23', 'epcisException:NoSuchResourceException' ],
		"the shop: $m of the maker's subscription under its own query of that name is 404 SLE23");
}
is_deeply(call('shop', 'GET', '/epcis/queries/packing/subscriptions')->{json}, [], 'the shop lists none under its own');
is($node->psql('postgres', "begin; set local role shilian_operator; select set_config('shilian.operator_id', '2', true);"
		. " select count(*) from shilian.epcis_subscription; commit;", on_error_stop => 0) =~ /^0$/m ? 1 : 0, 1,
	'the table shows the shop none of the maker\'s subscriptions (RLS)');

# refusals
for my $bad ([ { dest => "$base/x" }, 422, 'SLE20', 'stream missing' ],
	[ { dest => "$base/x", stream => JSON::PP::false }, 422, 'SLE20', 'stream false' ],
	[ { dest => "$base/x", stream => JSON::PP::true, reportIfEmpty => JSON::PP::true }, 422, 'SLE20', 'reportIfEmpty on a stream' ],
	[ { dest => "$base/x", schedule => { hour => '1', minute => '5' } }, 422, 'SLE21', 'a schedule' ],
	[ { dest => "$base/x", stream => JSON::PP::true, initialRecordTime => '2026-01-01T00:00:00Z' }, 422, 'SLE21', 'initialRecordTime' ],
	[ { dest => "$base/x", stream => JSON::PP::true, signatureToken => 'short' }, 422, 'SLE22', 'a short signatureToken' ],
	[ { dest => 'ftp://example.com/x', stream => JSON::PP::true }, 422, 'SLW01', 'a dest that is no https URL' ],
	[ { dest => 'http://example.com/x', stream => JSON::PP::true }, 422, 'SLW01', 'a plain http dest off loopback' ])
{
	$r = call('maker', 'POST', '/epcis/queries/packing/subscriptions', $bad->[0]);
	is_deeply([ $r->{status}, $r->{json}{code} ], [ $bad->[1], $bad->[2] ], "$bad->[3]: $bad->[1] $bad->[2]") or diag($r->{content});
}
$r = call('maker', 'POST', '/epcis/queries/nosuch/subscriptions', { dest => "$base/x", stream => JSON::PP::true });
is_deeply([ $r->{status}, $r->{json}{code} ], [ 404, 'SLE19' ], 'an unknown named query: 404 SLE19');
$r = call('maker', 'POST', '/epcis/queries/packing/subscriptions', { dest => "$base/x", stream => JSON::PP::true, extra => 1 });
is($r->{status}, 400, 'an unknown field: 400');
is($node->safe_psql('postgres', 'select count(*) from shilian.epcis_subscription'), 5, 'nothing stored by a refusal');

# remove the second one before the captures
$r = call('maker', 'DELETE', "/epcis/queries/packing/subscriptions/$sid_removed");
is_deeply([ $r->{status}, $r->{json}{active} ], [ 200, JSON::PP::false ], 'unsubscribe: 200, inactive');
is(call('maker', 'GET', "/epcis/queries/packing/subscriptions/$sid_removed")->{json}{active}, JSON::PP::false,
	'get after unsubscribe: inactive');
is_deeply([ map { $_->{subscriptionID} } @{ call('maker', 'GET', '/epcis/queries/packing/subscriptions')->{json} } ], [ $sid ],
	'list after unsubscribe: only the active one');

# ---- captures: a non-matching (commissioning) and a matching (packing) document ---------------
my $deliver = "$top/deliver/shilian-deliver";
my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_deliver';
$worker_pid = fork() // die;
if ($worker_pid == 0)
{
	open STDOUT, '>>', "$dir/epcis_deliver.log";
	open STDERR, '>>', "$dir/epcis_deliver.log";
	exec $deliver, '--dsn', $dsn, '--workers', '2', '--timeout', '2', '--poll-ms', '100', '--backoff-base', '0.1' or die;
}
for my $d ('06_commissioning_serial.jsonld', '07_packing_sscc.jsonld')
{
	$r = http_call($gw, 'POST', '/epcis/capture', headers => { Authorization => "Bearer $tok{maker}",
		'Content-Type' => 'application/ld+json' }, body => slurp_file("$top/tests/epcis/$d"));
	is($r->{status}, 202, "$d captured") or diag($r->{content});
}
wait_delivered('the captures');
my $packing_id = $node->safe_psql('postgres', "select event_id from shilian.epcis_event where biz_step = 'packing'");
my $n_events = $node->safe_psql('postgres', 'select count(*) from shilian.epcis_event');
ok($n_events >= 2 && $packing_id, "$n_events events captured, one of them packing");

my @maker = grep { $_->{path} eq '/maker' } @{ requests() };
is(scalar @maker, 1, 'the maker\'s subscription got one notification');
my $doc = decode_json(Encode::encode_utf8($maker[0]{body} // '{}'));
is($doc->{type}, 'EPCISQueryDocument', 'it is an EPCISQueryDocument');
is_deeply([ map { $_->{eventID} } @{ $doc->{epcisBody}{queryResults}{resultsBody}{eventList} // [] } ], [ $packing_id ],
	'with exactly the matching (packing) event, not the commissioning one');
is($doc->{epcisBody}{queryResults}{subscriptionID}, $sid, 'naming the subscription');
ok($maker[0]{sig_ok}, 'signed with the subscriber\'s signatureToken (verified by the receiver)');
is(scalar(grep { $_->{path} eq '/removed' } @{ requests() }), 0, 'the removed subscription got nothing');
is($node->safe_psql('postgres', "select count(*) from shilian.webhook_delivery where subscription_id = $sid_removed"), 0,
	'and nothing was queued for it');
is(scalar(grep { $_->{path} eq '/shop' } @{ requests() }), 0,
	'the shop\'s query matching everything got none of the maker\'s events (it may not see them)');

# the event as the query run shows it
$r = call('maker', 'GET', '/epcis/queries/packing/events');
is_deeply($doc->{epcisBody}{queryResults}{resultsBody}{eventList}, $r->{json}{epcisBody}{queryResults}{resultsBody}{eventList},
	'the notified event equals the named query\'s run');
$r = call('maker', 'GET', "/epcis/queries/packing/subscriptions/$sid");
ok($r->{json}{lastNotifiedAt} && $r->{json}{delivered} == 1, 'get: lastNotifiedAt and one delivered');

# one document, two events (an unpacking and a packing): one notification with the matching one only
my $two = decode_json(slurp_file("$top/tests/epcis/07_packing_sscc.jsonld"));
my $repack = $two->{epcisBody}{eventList}[0];
delete $repack->{childEPCs};
$repack->{childQuantityList}[0]{quantity} = 10;
$repack->{eventTime} = '2026-11-22T09:40:00.000+08:00';
my $unpack = { %$repack, action => 'DELETE', bizStep => 'unpacking', eventTime => '2026-11-22T09:30:00.000+08:00' };
delete $unpack->{childQuantityList};
$two->{epcisBody}{eventList} = [ $unpack, $repack ];
$r = http_call($gw, 'POST', '/epcis/capture', headers => { Authorization => "Bearer $tok{maker}",
	'Content-Type' => 'application/ld+json' }, body => $json->encode($two));
is($r->{status}, 202, 'a document with an unpacking and a packing event captured') or diag($r->{content});
wait_delivered('the second capture');
@maker = grep { $_->{path} eq '/maker' } @{ requests() };
is(scalar @maker, 2, 'the maker\'s subscription got one more notification for the whole document');
$doc = decode_json(Encode::encode_utf8($maker[1]{body} // '{}'));
my $repacked = $node->safe_psql('postgres',
	"select event_id from shilian.epcis_event where biz_step = 'packing' and event_id <> '$packing_id'");
is_deeply([ map { $_->{eventID} } @{ $doc->{epcisBody}{queryResults}{resultsBody}{eventList} // [] } ], [ $repacked ],
	'with the packing event only, not the unpacking one');
ok($maker[1]{sig_ok}, 'signed as well');
is(scalar(grep { $_->{path} eq '/removed' || $_->{path} eq '/shop' } @{ requests() }), 0,
	'still nothing for the removed subscription or the shop');
for my $who ('/erp', '/county')
{
	my @got = grep { $_->{path} eq $who } @{ requests() };
	is_deeply([ map { [ map { $_->{eventID} } @{ decode_json(Encode::encode_utf8($_->{body}))->{epcisBody}{queryResults}{resultsBody}{eventList} } ] } @got ],
		[ [ $packing_id ], [ $repacked ] ], "$who (a client bound to the maker, the maker's county regulator): the same two notifications");
	ok(!grep({ !$_->{sig_ok} } @got), "$who: signed with its own secret");
}

# deleting the named query removes its subscriptions
$r = call('maker', 'DELETE', '/epcis/queries/packing');
is($r->{status}, 200, 'the named query deleted');
is($node->safe_psql('postgres', "select active from shilian.webhook_subscription where id = $sid"), 'f',
	'its subscription is removed with it');

done_testing();
