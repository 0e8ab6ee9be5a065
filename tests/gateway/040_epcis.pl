# GS1 EPCIS 2.0 over real HTTP (docs/integration.md "EPCIS 2.0"): the four
# documents under tests/epcis/ are captured by the operators they concern
# (202 with the job's Location), queried back with the standard's parameters
# (filters, perPage and the Link rel="next" pages), the platform's trace runs
# across the records they made, and every returned event is valid EPCIS 2.0.
# Bad documents are refused with their SQLSTATE, the event and field named,
# kept as a failed job, and write nothing else; another event under a
# captured eventID is 409, a resent document 202 reporting its events as
# captured before.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ShilianTest;

sub uri_escape { my ($s) = @_; $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge; return $s; }

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所'), ('370200', '青岛市'), ('370202', '市南区'),
		('370202001', '八大关所')) v(c, n);
	select shilian.operator_register('历城绿源蔬菜专业合作社', 'production', '{farm}', '370112001',
		'济南市历城区港沟街道', '0531-88100101', uscc => '93370112MA3D001010');
	select shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
		'济南市历城区工业北路8号', '0531-88100104', reg_card => 'LC-0002');
	select shilian.operator_register('市南海鲜小馆', 'catering', '{restaurant}', '370202001',
		'青岛市市南区大学路7号', '13800100112', reg_card => 'XC370202-0112');
	select shilian.operator_activate(id) from shilian.operator;
	select shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017',
		edible_agricultural => true);
	select shilian.product_register('番茄酱', 'other', 365, '500g/瓶', gtin => '6970000000024', owner => 2);
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my %tok = (
	farm => make_jwt({ role => 'operator', operator_id => 1 }),
	processor => make_jwt({ role => 'operator', operator_id => 2 }),
	restaurant => make_jwt({ role => 'operator', operator_id => 3 }),
	admin => make_jwt({ role => 'admin' }),
	licheng => make_jwt({ role => 'regulator', jurisdiction => '370112' }),
);
my @docs = map { slurp_file("$top/tests/epcis/$_") }
  qw(01_commissioning.jsonld 02_shipping.jsonld 03_receiving.jsonld 04_transformation.jsonld);
my $json = JSON::PP->new->utf8->canonical;

sub call
{
	my ($who, $method, $path, $body, $ctype) = @_;
	my $r = http_call($gw, $method, $path, headers => {
		Authorization => "Bearer $tok{$who}",
		defined $body ? ('Content-Type' => $ctype // 'application/ld+json') : () },
		defined $body ? (body => $body) : ());
	$r->{json} = json_body($r);
	return $r;
}

sub state
{
	return $node->safe_psql('postgres', q{select concat_ws(' ', (select count(*) from shilian.batch),
		(select count(*) from shilian.link), (select count(*) from shilian.inspection),
		(select count(*) from shilian.ledger), (select count(*) from shilian.epcis_event))});
}

sub event_ids
{
	my ($doc) = @_;
	return [ map { $_->{eventID} } @{ $doc->{epcisBody}{queryResults}{resultsBody}{eventList} // [] } ];
}
my @id = map { "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-00000000000$_" } 1 .. 4;

# ---- capture: 202 Accepted, Location of the job, the job done ---------------------
my @by = qw(farm farm processor processor);
for my $i (0 .. 3)
{
	my $r = call($by[$i], 'POST', '/epcis/capture', $docs[$i], $i % 2 ? 'application/json' : undef);
	is($r->{status}, 202, "capture of document $i: 202 Accepted") or diag($r->{content});
	my $job = $r->{json}{captureID};
	is($r->{headers}{location}, "/epcis/capture/$job", "document $i: Location of its capture job");
	ok($r->{json}{success} && !$r->{json}{running}, "document $i: the job succeeded");
	my $j = call($by[$i], 'GET', $r->{headers}{location});
	is($j->{status}, 200, "GET the job of document $i");
	is_deeply([ @{ $j->{json} }{qw(captureID success running captureErrorBehaviour events)} ],
		[ $job, JSON::PP::true, JSON::PP::false, 'rollback', 1 ], "document $i: job as EPCISCaptureJob");
	is_deeply($j->{json}{errors}, [], "document $i: no errors");
}
is(call('restaurant', 'GET', '/epcis/capture/1')->{status}, 404, 'another operator does not see the job');

# ---- the trace across the records the events made ---------------------------------
my ($farm_lot, $sauce) = split /\|/, $node->safe_psql('postgres',
	q{select (select trace_code from shilian.batch where owner_id = 1 and origin = 'produced') || '|' ||
	         (select trace_code from shilian.batch where origin = 'transformed')});
my $f = call('licheng', 'GET', "/v1/trace/$farm_lot/forward");
is($f->{status}, 200, 'trace forward from the commissioned lot');
is_deeply([ sort map { $_->{depth} } @{ $f->{json} } ], [ 0, 1, 2 ], 'forward: the lot, the received lot, the sauce');
ok((grep { $_->{batch} eq $sauce && $_->{qty_reached} eq '500 kg' } @{ $f->{json} }),
	'forward reaches the sauce with the 500 kg of tomatoes that went in');
my $b = call('licheng', 'GET', "/v1/trace/$sauce/backward");
ok((grep { $_->{batch} eq $farm_lot && $_->{depth} == 2 } @{ $b->{json} }), 'backward from the sauce reaches the farm lot');

# ---- query: EPCISQueryDocument, visibility, filters ---------------------------------------
my $q = call('admin', 'GET', '/epcis/events');
is($q->{status}, 200, 'GET /epcis/events');
is_deeply(event_ids($q->{json}), \@id, 'all four events, in eventTime order');
my $d = $q->{json};
ok($d->{'@context'} && $d->{type} eq 'EPCISQueryDocument' && $d->{schemaVersion} eq '2.0' && $d->{creationDate},
	'query document: @context, type, schemaVersion, creationDate');
is($d->{epcisBody}{queryResults}{queryName}, 'SimpleEventQuery', 'query document: queryName');
for my $e (@{ $d->{epcisBody}{queryResults}{resultsBody}{eventList} })
{
	ok($e->{type} =~ /^(ObjectEvent|TransformationEvent)$/ && $e->{eventTime} =~ /^\d{4}-\d\d-\d\dT/
		&& $e->{eventTimeZoneOffset} =~ /^[+-]\d\d:\d\d$/ && $e->{recordTime} && $e->{eventID} =~ /^urn:uuid:/
		&& ($e->{type} ne 'ObjectEvent' || $e->{action} =~ /^(ADD|OBSERVE|DELETE)$/),
		"event $e->{eventID}: required fields of its type");
}
# the same against the schema file with Debian's JSON schema validator
# (python3-jsonschema, installed by make deps)
SKIP:
{
	skip 'python3-jsonschema is not installed (make deps)', 1
	  if system('/usr/bin/python3', '-c', 'import jsonschema') != 0;
	my $file = "$PostgreSQL::Test::Utils::tmp_check/epcis_query.json";
	open my $fh, '>', $file or die $!;
	print $fh $q->{content};
	close $fh;
	is(system('/usr/bin/python3', '-c', 'import json, sys, jsonschema; '
		. 'jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), '
		. 'format_checker=jsonschema.FormatChecker())', $file, "$top/tests/epcis/query-document.schema.json"),
		0, 'the query document validates against tests/epcis/query-document.schema.json');
}
# every test document, and the query document, validate against GS1's EPCIS 2.0 JSON schema
# (tests/epcis/EPCIS-JSON-Schema.json, from github.com/gs1/EPCIS)
SKIP:
{
	my @files = map { s{.*/}{}r } sort glob("$top/tests/epcis/*.jsonld");
	skip 'python3-jsonschema is not installed (make deps)', 4 + @files
	  if system('/usr/bin/python3', '-c', 'import jsonschema') != 0;
	my $validate = 'import json, sys, jsonschema; '
	  . 'v = jsonschema.Draft7Validator(json.load(open(sys.argv[2])), format_checker=jsonschema.FormatChecker()); '
	  . 'errs = list(v.iter_errors(json.load(open(sys.argv[1])))); '
	  . '[print(list(e.path), e.message[:300], file=sys.stderr) for e in errs]; sys.exit(1 if errs else 0)';
	my $schema = "$top/tests/epcis/EPCIS-JSON-Schema.json";
	# every document there (05_receiving_gs1.jsonld: tests/gateway/041_epcis_receiving.pl)
	ok(@files >= 5, 'the documents of tests/epcis/');
	for my $f (@files)
	{
		is(system('/usr/bin/python3', '-c', $validate, "$top/tests/epcis/$f", $schema), 0,
			"tests/epcis/$f validates against GS1's EPCIS 2.0 JSON schema");
	}
	my $file = "$PostgreSQL::Test::Utils::tmp_check/epcis_query_gs1.json";
	open my $fh, '>', $file or die $!;
	print $fh $q->{content};
	close $fh;
	is(system('/usr/bin/python3', '-c', $validate, $file, $schema), 0,
		"the query document validates against GS1's EPCIS 2.0 JSON schema");
	# the schema has teeth: the URN form of a bizStep is not EPCIS 2.0 JSON
	my $urn = $json->decode($docs[2]);
	$urn->{epcisBody}{eventList}[0]{bizStep} = 'urn:epcglobal:cbv:bizstep:receiving';
	open $fh, '>', "$file.urn" or die $!;
	print $fh $json->encode($urn);
	close $fh;
	isnt(system('/usr/bin/python3', '-c', $validate . '', "$file.urn", $schema), 0,
		'a bizStep as URN fails the schema (what tests/epcis/03_receiving.jsonld had)');
	ok(1, 'schema checks ran');
}
is_deeply(event_ids(call('farm', 'GET', '/epcis/events')->{json}), [ @id[0 .. 2] ],
	'the farm sees the events of its records: not the sauce');
is_deeply(event_ids(call('processor', 'GET', '/epcis/events')->{json}), [ @id[1 .. 3] ],
	'the processor sees its own: not the farm\'s commissioning');
is_deeply(event_ids(call('restaurant', 'GET', '/epcis/events')->{json}), [], 'an unrelated operator sees none');
is_deeply(event_ids(call('licheng', 'GET', '/epcis/events')->{json}), \@id, 'the county regulator sees its subtree');
my $key = (split /\n/, $node->safe_psql('postgres', q{
	select shilian.api_client_add('sauce-erp', '鲁味 ERP');
	select shilian.api_client_bind('sauce-erp', 2);
	select shilian.api_client_key_new('sauce-erp')}))[-1];
my $sys = http_call($gw, 'GET', '/epcis/events', headers => { 'X-API-Key' => $key });
is_deeply(event_ids(json_body($sys)), [ @id[1 .. 3] ], 'a system client sees the events of its bound operator');
is_deeply(event_ids(call('admin', 'GET', '/epcis/events?EQ_bizStep=shipping|urn:epcglobal:cbv:bizstep:receiving')->{json}),
	[ @id[1, 2] ], 'EQ_bizStep with two values in two spellings');
is_deeply(event_ids(call('admin', 'GET', '/epcis/events?GE_eventTime=2026-11-21T01:00:00Z&LT_eventTime='
	. uri_escape('2026-11-21T15:00:00+08:00'))->{json}), [ $id[1] ], 'GE_eventTime / LT_eventTime window');
is_deeply(event_ids(call('admin', 'GET', '/epcis/events?MATCH_epcClass='
	. uri_escape('https://id.gs1.org/01/06970000000017'))->{json}), [ @id[0 .. 2] ],
	'MATCH_epcClass with a GTIN matches every lot of it in quantityList');
is_deeply(event_ids(call('admin', 'GET', '/epcis/events?MATCH_anyEPCClass=urn:epc:class:lgtin:6970000.000002.FQJ-1122')->{json}),
	[ $id[3] ], 'MATCH_anyEPCClass finds the transformation output');
my $bad = call('admin', 'GET', '/epcis/events?EQ_bizStep=shiping');
is($bad->{status}, 400, 'an unknown bizStep in a query: 400');
is_deeply([ @{ $bad->{json} }{qw(code type)} ], [ 'SLE07', 'epcisException:QueryParameterException' ],
	'query parameter error: SLE07, QueryParameterException');

# ---- every standard query parameter: supported (with its answer) or refused ----------
my $farm_class = 'urn:epc:class:lgtin:6970000.000001.FQ-1120';
my @params = (
	[ 'eventType=TransformationEvent', [ $id[3] ] ],
	[ 'GE_eventTime=' . uri_escape('2026-11-21T01:00:00Z') . '&LT_eventTime=' . uri_escape('2026-11-21T15:00:00+08:00'), [ $id[1] ] ],
	[ 'GE_recordTime=' . uri_escape('2000-01-01T00:00:00Z'), \@id ],
	[ 'LT_recordTime=' . uri_escape('2000-01-01T00:00:00Z'), [] ],
	[ 'EQ_action=ADD', [ $id[0] ] ],
	[ 'EQ_bizStep=' . uri_escape('https://ref.gs1.org/cbv/BizStep-receiving'), [ $id[2] ] ],
	[ 'EQ_disposition=in_transit', [ $id[1] ] ],
	[ 'EQ_readPoint=' . uri_escape('urn:shilian:uscc:93370112MA3D001010') . '&EQ_action=ADD', [ $id[0] ] ],
	[ 'WD_readPoint=' . uri_escape('urn:shilian:uscc:93370112MA3D001010') . '&EQ_action=ADD', [ $id[0] ] ],
	[ 'EQ_bizLocation=' . uri_escape('urn:shilian:operator:99'), [] ],
	[ 'WD_bizLocation=' . uri_escape('urn:shilian:operator:99'), [] ],
	[ 'EQ_transformationID=' . uri_escape('urn:example:t'), [] ],
	[ 'MATCH_epc=' . uri_escape('urn:epc:id:sgtin:6970000.000001.1'), [] ],
	[ 'MATCH_parentID=' . uri_escape('urn:epc:id:sscc:6970000.0000000001'), [] ],
	[ 'MATCH_inputEPC=' . uri_escape('urn:epc:idpat:sgtin:6970000.000001.*'), [] ],
	[ 'MATCH_outputEPC=' . uri_escape('urn:epc:id:sgtin:6970000.000002.1'), [] ],
	[ 'MATCH_anyEPC=' . uri_escape('urn:epc:id:sgtin:6970000.000001.1'), [] ],
	[ 'MATCH_epcClass=' . uri_escape($farm_class), [ @id[0 .. 2] ] ],
	[ 'MATCH_inputEPCClass=' . uri_escape($farm_class), [ $id[3] ] ],
	[ 'MATCH_outputEPCClass=' . uri_escape('https://id.gs1.org/01/06970000000024'), [ $id[3] ] ],
	[ 'MATCH_anyEPCClass=' . uri_escape('urn:epc:class:lgtin:6970000.000002.FQJ-1122'), [ $id[3] ] ],
	[ 'EQ_eventID=' . uri_escape("$id[1]|$id[3]"), [ @id[1, 3] ] ],
	[ 'EXISTS_errorDeclaration=', [] ],
	[ 'orderBy=eventTime', [ reverse @id ] ],
	[ 'orderBy=recordTime&orderDirection=ASC', \@id ],
	[ 'orderBy=eventTime&eventCountLimit=1', [ $id[3] ] ],
	[ 'maxEventCount=4', \@id ],
	[ 'perPage=4', \@id ],
);
my %tried;
for my $c (@params)
{
	my ($q, $want) = @$c;
	my $r = call('admin', 'GET', "/epcis/events?$q");
	is($r->{status}, 200, "query $q: 200") or diag($r->{content});
	is_deeply(event_ids($r->{json}), $want, "query $q: the events it names");
	$tried{$_}++ for map { (split /=/, $_)[0] } split /&/, $q;
}
$tried{nextPageToken}++;		# the pages below
my @refused = (
	[ 'GE_eventTime=yesterday', 'SLE07', qr/GE_eventTime: "yesterday" is not an RFC 3339/ ],
	[ 'eventType=Event', 'SLE07', qr/unknown event type/ ],
	[ 'EQ_action=UPDATE', 'SLE07', qr/unknown action/ ],
	[ 'orderBy=bizStep', 'SLE07', qr/cannot order by/ ],
	[ 'orderDirection=UP', 'SLE07', qr/neither ASC nor DESC/ ],
	[ 'eventCountLimit=2', 'SLE07', qr/needs orderBy/ ],
	[ 'EQ_quantity=5', 'GW400', qr/unknown query parameter/ ],
	[ 'EQ_bizStepp=shipping', 'GW400', qr/unknown query parameter/ ],
	[ 'MATCH_epc=' . uri_escape('urn:epc:idpat:sgtin:1.*'), 'SLE07', qr/malformed EPC pattern/ ],
);
for my $c (@refused)
{
	my ($q, $code, $msg) = @$c;
	my $r = call('admin', 'GET', "/epcis/events?$q");
	is_deeply([ $r->{status}, @{ $r->{json} }{qw(type code)} ], [ 400, 'epcisException:QueryParameterException', $code ],
		"query $q: 400 QueryParameterException $code");
	like($r->{json}{title}, $msg, "query $q: the message names it");
}
my $big = call('admin', 'GET', '/epcis/events?maxEventCount=3');
is_deeply([ $big->{status}, @{ $big->{json} }{qw(type code)} ], [ 413, 'epcisException:QueryTooLargeException', 'SLE08' ],
	'more events than maxEventCount: 413 QueryTooLargeException');
my @standard = qw(eventType GE_eventTime LT_eventTime GE_recordTime LT_recordTime EQ_action EQ_bizStep
	EQ_disposition EQ_readPoint WD_readPoint EQ_bizLocation WD_bizLocation EQ_transformationID MATCH_epc
	MATCH_parentID MATCH_inputEPC MATCH_outputEPC MATCH_anyEPC MATCH_epcClass MATCH_inputEPCClass
	MATCH_outputEPCClass MATCH_anyEPCClass EQ_eventID EXISTS_errorDeclaration orderBy orderDirection
	eventCountLimit maxEventCount perPage nextPageToken);
is_deeply([ grep { !$tried{$_} } @standard ], [], 'every supported standard parameter was tried');

# ---- one event, the event types, the versions ------------------------------------
my $one = call('processor', 'GET', '/epcis/events/' . uri_escape($id[2]));
is($one->{status}, 200, 'GET /epcis/events/{eventID}');
is_deeply(event_ids($one->{json}), [ $id[2] ], 'the one event');
is(call('restaurant', 'GET', '/epcis/events/' . uri_escape($id[2]))->{status}, 404, "another operator's event: 404");
my $none = call('admin', 'GET', '/epcis/events/' . uri_escape('urn:uuid:none'));
is_deeply([ $none->{status}, @{ $none->{json} }{qw(type code)} ], [ 404, 'epcisException:NoSuchResourceException', 'SLE09' ],
	'an unknown eventID: 404 NoSuchResourceException');
my $types = call('admin', 'GET', '/epcis/eventTypes');
is_deeply($types->{json}{member}, [qw(ObjectEvent AggregationEvent TransactionEvent TransformationEvent AssociationEvent)],
	'GET /epcis/eventTypes');
is_deeply(event_ids(call('admin', 'GET', '/epcis/eventTypes/TransformationEvent/events')->{json}), [ $id[3] ],
	'GET /epcis/eventTypes/{type}/events');
is_deeply(event_ids(call('admin', 'GET', '/epcis/eventTypes/ObjectEvent/events?EQ_bizStep=shipping')->{json}), [ $id[1] ],
	'with the query parameters');
is(call('admin', 'GET', '/epcis/eventTypes/Event/events')->{status}, 400, 'an unknown type: 400');
is_deeply([ @{ $types->{headers} }{qw(gs1-epcis-version gs1-cbv-version)} ], [ '2.0.0', '2.0.0' ],
	'GS1-EPCIS-Version and GS1-CBV-Version headers');
is($none->{headers}{'gs1-epcis-version'}, '2.0.0', 'on an error too');


# ---- pages: perPage and the Link header with rel="next" --------------------------
my @seen;
my $path = '/epcis/events?perPage=3';
my $pages = 0;
while (defined $path && $pages < 5)
{
	my $r = call('admin', 'GET', $path);
	is($r->{status}, 200, "page " . ($pages + 1));
	push @seen, @{ event_ids($r->{json}) };
	$pages++;
	undef $path;
	if (my $link = $r->{headers}{link})
	{
		($path) = $link =~ /^<([^>]+)>; rel="next"$/;
		like($path, qr{^/epcis/events\?perPage=3&nextPageToken=[0-9a-f]+$}, 'Link rel="next" keeps perPage, adds nextPageToken');
	}
}
is($pages, 2, 'four events in pages of three: two pages');
is_deeply(\@seen, \@id, 'the pages together: every event once, in order');
is(call('admin', 'GET', '/epcis/events?nextPageToken=zz')->{status}, 400, 'a bad nextPageToken: 400');

# ---- bad documents: the error names the event and field, a failed job, nothing written ----
my $before = state();
sub doc_with
{
	my ($change) = @_;
	my $d = $json->decode($docs[0]);
	$d->{epcisBody}{eventList}[0]{eventID} = 'urn:uuid:bad-' . int(rand(1e9));
	$change->($d, $d->{epcisBody}{eventList}[0]);
	return $json->encode($d);
}
my @bad = (
	[ 'missing @context', sub { delete $_[0]{'@context'} }, 422, 'SLE01', qr/missing field "\@context"/ ],
	[ 'missing eventTime', sub { delete $_[1]{eventTime} }, 422, 'SLE01', qr/EPCIS event 0: missing field "eventTime"/ ],
	[ 'missing eventTimeZoneOffset', sub { delete $_[1]{eventTimeZoneOffset} }, 422, 'SLE01', qr/eventTimeZoneOffset/ ],
	[ 'missing action', sub { delete $_[1]{action} }, 422, 'SLE01', qr/missing field "action"/ ],
	[ 'unknown bizStep', sub { $_[1]{bizStep} = 'comissioning' }, 422, 'SLE02', qr/unknown bizStep "comissioning"/ ],
	[ 'bad uom', sub { $_[1]{quantityList}[0]{uom} = 'KGS' }, 422, 'SLE03', qr/unknown unit of measure "KGS"/ ],
	[ 'unknown product', sub { $_[1]{quantityList}[0]{epcClass} = 'urn:epc:class:lgtin:6970000.000003.X' },
		422, 'SLE04', qr/unknown product: no product has GTIN 06970000000031/ ],
	[ 'unknown party', sub { $_[1]{bizLocation}{id} = 'urn:shilian:operator:42' }, 422, 'SLE04', qr/unknown party/ ],
	[ 'another event under a captured eventID', sub { $_[1]{eventID} = $id[0]; $_[1]{quantityList}[0]{quantity} = 1999 },
		409, '23505', qr/duplicate eventID/ ],
);
for my $c (@bad)
{
	my ($name, $change, $status, $code, $msg) = @$c;
	my $r = call('farm', 'POST', '/epcis/capture', doc_with($change));
	is($r->{status}, $status, "$name: $status") or diag($r->{content});
	is($r->{json}{code}, $code, "$name: code $code");
	# RFC 7807 problem details, as the EPCIS 2.0 REST binding specifies
	like($r->{headers}{'content-type'}, qr{^application/problem\+json}, "$name: application/problem+json");
	like($r->{json}{title}, $msg, "$name: title (the message)");
	is($r->{json}{status}, $status, "$name: status");
	is($r->{json}{instance}, '/epcis/capture', "$name: instance");
	like($r->{json}{type}, qr/^epcisException:(Validation|Security)Exception$/, "$name: an EPCIS exception type");
	ok(exists $r->{json}{detail} && exists $r->{json}{hint}, "$name: the problem keys");
	my $job = call('farm', 'GET', $r->{headers}{location} // '/none')->{json};
	ok($job && !$job->{success} && $job->{errors}[0]{code} eq $code, "$name: kept as a failed job with the error");
}
like(call('farm', 'POST', '/epcis/capture', doc_with(sub { delete $_[1]{eventTime} }))->{json}{detail},
	qr{^At /epcisBody/eventList/0/eventTime\.$}, 'details name the field');
my $r = call('farm', 'POST', '/epcis/capture', '{"type": "EPCISDocument",');
is($r->{status}, 400, 'not JSON: 400');
is($r->{json}{code}, '22P02', 'not JSON: 22P02');
$r = call('farm', 'POST', '/epcis/capture', $docs[0], 'text/plain');
is($r->{status}, 415, 'another media type: 415');
is_deeply([ @{ $r->{json} }{qw(type status code)} ], [ 'epcisException:ValidationException', 415, 'GW415' ],
	'a gateway error under /epcis is a problem document too');
$r = call('farm', 'GET', '/epcis/events?perPage=0');
is_deeply([ $r->{status}, @{ $r->{json} }{qw(type code detail)} ],
	[ 400, 'epcisException:QueryParameterException', 'GW400', 'perPage: must be an integer from 1 to 1000' ],
	'a query parameter out of range: QueryParameterException naming it');
$r = call('processor', 'POST', '/epcis/capture', doc_with(sub { }));
is($r->{status}, 403, "capturing at another operator's location: 403");
is(state(), $before, 'nothing written by the refused documents');

# ---- a resent document: accepted, nothing recorded again, its events reported ----
$r = call('farm', 'POST', '/epcis/capture', $docs[0]);
is($r->{status}, 202, 'the first document again: 202') or diag($r->{content});
is_deeply([ @{ $r->{json} }{qw(success events)}, $r->{json}{'shilian:alreadyCaptured'} ],
	[ JSON::PP::true, 0, [ $id[0] ] ], 'the job: success, no event recorded, the event reported as captured before');
is(state(), $before, 'nothing recorded by the resend');

# an event captured without eventID is named by its hash ID, found under it by path (slashes URL-encoded)
my $noid = $json->decode($docs[0]);
delete $noid->{epcisBody}{eventList}[0]{eventID};
$noid->{epcisBody}{eventList}[0]{quantityList}[0]{epcClass} = 'urn:epc:class:lgtin:6970000.000001.NOID-1';
my $cap = call('farm', 'POST', '/epcis/capture', $json->encode($noid));
is($cap->{status}, 202, 'an event without eventID: captured') or diag($cap->{content});
my ($hid) = $node->safe_psql('postgres', q{select event_id from shilian.epcis_event order by id desc limit 1});
like($hid, qr{^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$}, 'named by its event hash ID');
is_deeply(event_ids(call('farm', 'GET', '/epcis/events/' . uri_escape($hid))->{json}), [ $hid ],
	'GET /epcis/events/{hash ID}');
is_deeply(call('farm', 'POST', '/epcis/capture', $json->encode($noid))->{json}{'shilian:alreadyCaptured'}, [ $hid ],
	'sent again: reported as captured before');

# limits answer 4xx, never 500: a document nested 200,000 deep, and an event nested 100 deep
my $deep = '{"type": "EPCISDocument", "x": ' . ('[' x 200000) . (']' x 200000) . '}';
my $dr = call('farm', 'POST', '/epcis/capture', $deep);
ok($dr->{status} >= 400 && $dr->{status} < 500, "200,000 nested arrays: $dr->{status}, not a 5xx");
my $deepev = $json->decode($docs[0]);
$deepev->{epcisBody}{eventList}[0]{'shilian:x'} = 'PLACEHOLDER';
my $deeptext = $json->encode($deepev);
my $nest = ('[' x 100) . (']' x 100);
$deeptext =~ s/"PLACEHOLDER"/$nest/;
$dr = call('farm', 'POST', '/epcis/capture', $deeptext);
ok($dr->{status} >= 400 && $dr->{status} < 500, "an event nested 100 deep: $dr->{status}, not a 5xx");

# GS1 master data over REST: the farm registers its PGLN; the processor may not; a wrong check digit is 422
my $reg = call('farm', 'POST', '/v1/operators/1/gs1-locations', '{"identifier": "6970000000017", "name": "farm"}', 'application/json');
is($reg->{status}, 201, 'POST /v1/operators/1/gs1-locations: 201') or diag($reg->{content});
is_deeply($reg->{json}, { operator => '1', uri => 'https://id.gs1.org/417/6970000000017' }, 'the canonical PGLN URI');
is($reg->{headers}{location}, '/v1/operators/1/gs1-locations', 'Location');
is(call('processor', 'POST', '/v1/operators/1/gs1-locations', '{"identifier": "urn:epc:id:sgln:6970000.00001.x"}', 'application/json')->{status},
	403, "another operator's GLN: 403");
my $cd = call('farm', 'POST', '/v1/operators/1/gs1-locations', '{"identifier": "6970000000018"}', 'application/json');
is_deeply([ $cd->{status}, $cd->{json}{code} ], [ 422, 'SLE10' ], 'a wrong check digit: 422 SLE10');
is_deeply([ map { $_->{uri} } @{ call('licheng', 'GET', '/v1/operators/1/gs1-locations')->{json} } ],
	[ 'https://id.gs1.org/417/6970000000017' ], 'GET /v1/operators/1/gs1-locations (the regulator)');

stop_gateway($gw);
$node->stop;
done_testing();
