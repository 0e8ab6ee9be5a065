# EPCIS named queries under /epcis/queries (issue 18): create (the parameters
# validated by epcis_query, the same code as /epcis/events: a bad one is a
# 400 QueryParameterException at creation), list, get, run (the same result
# document and pages as /epcis/events with the same parameters), delete; a
# name taken is 409; another operator neither sees nor runs it (404 SLE19).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_queries');
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
sub events { return [ map { $_->{eventID} } @{ $_[0]{json}{epcisBody}{queryResults}{resultsBody}{eventList} // [] } ] }
sub count_queries { return $node->safe_psql('postgres', 'select count(*) from shilian.epcis_named_query') }

for my $d ('06_commissioning_serial.jsonld', '07_packing_sscc.jsonld')
{
	my $r = http_call($gw, 'POST', '/epcis/capture', headers => { Authorization => "Bearer $tok{maker}",
		'Content-Type' => 'application/ld+json' }, body => slurp_file("$top/tests/epcis/$d"));
	is($r->{status}, 202, "$d captured") or diag($r->{content});
}

# create: 201 with Location, the query as stored
my %q = (eventType => 'ObjectEvent|AggregationEvent', orderBy => 'eventTime', orderDirection => 'ASC', perPage => '1');
my $r = call('maker', 'POST', '/epcis/queries', { name => 'all-mine', query => \%q });
is($r->{status}, 201, 'create: 201') or diag($r->{content});
is($r->{headers}{location}, '/epcis/queries/all-mine', 'create: Location names the query');
is_deeply([ $r->{json}{name}, $r->{json}{query} ], [ 'all-mine', \%q ], 'create: the name and parameters as given');
$r = call('maker', 'POST', '/epcis/queries', { name => 'packing', query => { EQ_bizStep => 'packing' } });
is($r->{status}, 201, 'a second query') or diag($r->{content});

# list and get
$r = call('maker', 'GET', '/epcis/queries');
is_deeply([ map { $_->{name} } @{ $r->{json} } ], [ 'all-mine', 'packing' ], 'list: the caller\'s queries by name');
$r = call('maker', 'GET', '/epcis/queries/all-mine');
is_deeply([ $r->{status}, $r->{json}{query} ], [ 200, \%q ], 'get: the parameters');

# run: the same events and pages as /epcis/events with the same parameters
my $qs = 'eventType=ObjectEvent%7CAggregationEvent&orderBy=eventTime&orderDirection=ASC&perPage=1';
my $direct = call('maker', 'GET', "/epcis/events?$qs");
my $run = call('maker', 'GET', '/epcis/queries/all-mine/events');
is($run->{status}, 200, 'run: 200') or diag($run->{content});
is($run->{json}{type}, 'EPCISQueryDocument', 'run: an EPCISQueryDocument');
is(scalar @{ events($run) }, 1, 'run: one event on the first page (perPage 1)');
is_deeply(events($run), events($direct), 'run: the first page equals /epcis/events with the same parameters');
my ($tok_run) = ($run->{headers}{link} // '') =~ /nextPageToken=([^&>]+)/;
my ($tok_direct) = ($direct->{headers}{link} // '') =~ /nextPageToken=([^&>]+)/;
ok(defined $tok_run, 'run: Link rel=next to the second page') or diag($run->{headers}{link});
my $all_run = [ @{ events($run) } ];
my $all_direct = [ @{ events($direct) } ];
for (1 .. 10)
{
	last unless defined $tok_run;
	$run = call('maker', 'GET', "/epcis/queries/all-mine/events?nextPageToken=$tok_run");
	push @$all_run, @{ events($run) };
	($tok_run) = ($run->{headers}{link} // '') =~ /nextPageToken=([^&>]+)/;
	$direct = call('maker', 'GET', "/epcis/events?$qs&nextPageToken=$tok_direct");
	push @$all_direct, @{ events($direct) };
	($tok_direct) = ($direct->{headers}{link} // '') =~ /nextPageToken=([^&>]+)/;
}
my $n_events = $node->safe_psql('postgres', 'select count(*) from shilian.epcis_event');
is(scalar @$all_run, $n_events, 'run: every page read, every captured event once');
is_deeply($all_run, $all_direct, 'run: all pages equal those of /epcis/events');
$r = call('maker', 'GET', '/epcis/queries/packing/events?perPage=1000');
is_deeply(events($r), events(call('maker', 'GET', '/epcis/events?EQ_bizStep=packing')),
	'run: the packing query equals /epcis/events?EQ_bizStep=packing');
is(scalar @{ events($r) }, 1, 'run: the one packing event');

# another operator: neither sees nor runs nor deletes it
$r = call('shop', 'GET', '/epcis/queries');
is_deeply($r->{json}, [], 'another operator lists none');
for my $p ([ 'GET', '/epcis/queries/all-mine' ], [ 'GET', '/epcis/queries/all-mine/events' ],
	[ 'DELETE', '/epcis/queries/all-mine' ])
{
	$r = call('shop', @$p);
	is_deeply([ $r->{status}, $r->{json}{code}, $r->{json}{type} ], [ 404, 'SLE19', 'epcisException:NoSuchResourceException' ],
		"another operator: $p->[0] $p->[1] is 404 SLE19");
}
$r = call('shop', 'POST', '/epcis/queries', { name => 'all-mine', query => {} });
is($r->{status}, 201, 'another operator may use the same name for its own query') or diag($r->{content});
is($node->safe_psql('postgres', q{select string_agg(owner || '/' || name, ' ' order by owner, name) from shilian.epcis_named_query}),
	'operator:1/all-mine operator:1/packing operator:2/all-mine', 'each operator its own queries');

# a system client bound to the maker: its own queries, not the maker's (nor the maker its)
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
is_deeply(sys_call('GET', '/epcis/queries')->{json}, [], 'a system client bound to the maker lists none of the maker\'s');
is(sys_call('GET', '/epcis/queries/all-mine/events')->{status}, 404, 'a system client cannot run the maker\'s query');
$r = sys_call('POST', '/epcis/queries', { name => 'erp-packing', query => { EQ_bizStep => 'packing' } });
is($r->{status}, 201, 'a system client creates its own') or diag($r->{content});
$r = sys_call('GET', '/epcis/queries/erp-packing/events');
is_deeply(events($r), events(call('maker', 'GET', '/epcis/events?EQ_bizStep=packing')),
	'the client\'s query runs over its bound operator\'s events');
is(call('maker', 'GET', '/epcis/queries/erp-packing')->{status}, 404, 'the maker does not see the client\'s query');

# refusals at creation, nothing stored
my $before = count_queries();
for my $bad ([ { GE_eventTime => 'yesterday' }, 'GE_eventTime' ], [ { EQ_quantity => '5' }, 'EQ_quantity' ],
	[ { eventCountLimit => '5' }, 'eventCountLimit' ], [ { perPage => '0' }, 'perPage' ],
	[ { nextPageToken => 'x' }, 'nextPageToken' ])
{
	$r = call('maker', 'POST', '/epcis/queries', { name => 'bad', query => $bad->[0] });
	is_deeply([ $r->{status}, $r->{json}{code}, $r->{json}{type} ], [ 400, 'SLE07', 'epcisException:QueryParameterException' ],
		"creation with a bad $bad->[1]: 400 QueryParameterException") or diag($r->{content});
	like($r->{json}{title} // '', qr/\Q$bad->[1]\E/, "creation with a bad $bad->[1]: the title names it");
}
$r = call('maker', 'POST', '/epcis/queries', { name => 'x y', query => {} });
is_deeply([ $r->{status}, $r->{json}{code} ], [ 422, 'SLE18' ], 'a malformed name: 422 SLE18') or diag($r->{content});
$r = call('maker', 'POST', '/epcis/queries', { name => 'all-mine', query => { EQ_action => 'ADD' } });
is($r->{status}, 409, 'a name taken: 409') or diag($r->{content});
like($r->{json}{title} // '', qr/named query "all-mine" exists/, 'a name taken: the message says so');
is(count_queries(), $before, 'nothing stored by a refused creation');
is_deeply(call('maker', 'GET', '/epcis/queries/all-mine')->{json}{query}, \%q, 'the query of that name unchanged');

# delete
$r = call('maker', 'DELETE', '/epcis/queries/all-mine');
is_deeply([ $r->{status}, $r->{json}{name} ], [ 200, 'all-mine' ], 'delete: 200 with the query');
$r = call('maker', 'GET', '/epcis/queries/all-mine/events');
is_deeply([ $r->{status}, $r->{json}{code} ], [ 404, 'SLE19' ], 'deleted: running it is 404');
is_deeply([ map { $_->{name} } @{ call('maker', 'GET', '/epcis/queries')->{json} } ], [ 'packing' ], 'deleted: no longer listed');
is(call('shop', 'GET', '/epcis/queries/all-mine')->{status}, 200, 'the other operator\'s query of that name stays');

done_testing();
