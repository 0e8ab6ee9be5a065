# The size limit of an EPCIS capture (issue 18; docs/integration.md,
# "Capture"): a document larger than import_body_limit is refused with 413
# and an RFC 7807 problem document (epcisException:CaptureLimitExceededException,
# code GW413), whether its Content-Length announces it (refused before the
# body is read), its body really is that large, or it arrives chunked; never
# a 5xx, the gateway stays up, and nothing is captured. A document within
# the limit goes on to capture. (Nesting depth: 040 and 050.)
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_epcis_limits');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370112', '历城区'), ('370112001', '洪家楼所')) v(c, n);
	select shilian.operator_register('历城绿源蔬菜专业合作社', 'production', '{farm}', '370112001',
		'济南市历城区港沟街道', '0531-88100101', uscc => '93370112MA3D001010');
	select shilian.operator_activate(id) from shilian.operator;
	select shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017',
		edible_agricultural => true);
});
my $limit = 16384;
my $gw = start_gateway($node, args => [ '--import-body-limit', $limit ],
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $token = make_jwt({ role => 'operator', operator_id => 1 });
my $json = JSON::PP->new->utf8->canonical;

sub jobs { return $node->safe_psql('postgres', 'select count(*) from shilian.epcis_capture_job'); }

sub still_up
{
	my ($name) = @_;
	ok(kill(0, $gw->{pid}) && waitpid($gw->{pid}, 1) == 0, "$name: same gateway process");
	is(http_call($gw, 'GET', '/healthz')->{status}, 200, "$name: /healthz 200 after");
}

# (status, headers, decoded body) of a raw request
sub raw
{
	my ($text) = @_;
	my ($status, $reply) = raw_http($gw, $text);
	my ($head, $body) = split /\r\n\r\n/, $reply, 2;
	return ($status, $head // '', eval { JSON::PP->new->utf8->decode($body // '') } // {});
}

sub problem_413
{
	my ($status, $ctype, $e, $name) = @_;
	is($status, 413, "$name: 413");
	like($ctype, qr{^application/problem\+json}, "$name: a problem document (RFC 7807)");
	is_deeply([ @{$e}{qw(type status code title instance)} ],
		[ 'epcisException:CaptureLimitExceededException', 413, 'GW413', 'request body too large', '/epcis/capture' ],
		"$name: type, status, code, title, instance");
	like($e->{hint} // '', qr/import_body_limit/, "$name: the hint names the limit");
}

# a valid document of n events, as a GS1 client would batch them
my $doc = $json->decode(slurp_file("$top/tests/epcis/01_commissioning.jsonld"));
my $event = $doc->{epcisBody}{eventList}[0];
sub doc_of
{
	my ($n) = @_;
	my @events = map { my %e = %$event; $e{eventID} = "urn:uuid:00000000-0000-4000-8000-" . sprintf('%012d', $_);
		$e{quantityList} = [ { %{ $event->{quantityList}[0] }, epcClass => "urn:epc:class:lgtin:6970000.000001.L$_" } ];
		\%e } 1 .. $n;
	return $json->encode({ %$doc, epcisBody => { eventList => \@events } });
}
my $big = doc_of(60);
ok(length($big) > $limit, 'the large document is over the limit (' . length($big) . " bytes > $limit)");
my $before = jobs();

# Content-Length over the limit: refused before the body is read
my ($status, $head, $e) = raw("POST /epcis/capture HTTP/1.1\r\nHost: x\r\nContent-Type: application/ld+json\r\n"
	. "Authorization: Bearer $token\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n");
my ($ctype) = $head =~ /^Content-Type: (.*?)\r?$/mi;
problem_413($status, $ctype, $e, 'a declared 100 MB document');
like($e->{detail} // '', qr/^104857600 bytes; the limit is $limit$/, 'the detail names the size and the limit');
still_up('a declared 100 MB document');

# a real document over the limit
my $r = http_call($gw, 'POST', '/epcis/capture', body => $big,
	headers => { 'Content-Type' => 'application/ld+json', Authorization => "Bearer $token" });
problem_413($r->{status}, $r->{headers}{'content-type'}, json_body($r) // {}, 'a document of ' . length($big) . ' bytes');
still_up('a document over the limit');

# chunked: no Content-Length, cut off once past the limit
($status, $head, $e) = raw("POST /epcis/capture HTTP/1.1\r\nHost: x\r\nContent-Type: application/ld+json\r\n"
	. "Authorization: Bearer $token\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	. join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } unpack('(A4096)*', $big)) . "0\r\n\r\n");
($ctype) = $head =~ /^Content-Type: (.*?)\r?$/mi;
problem_413($status, $ctype, $e, 'a chunked document over the limit');
still_up('a chunked document over the limit');

is(jobs(), $before, 'nothing captured from the refused documents');

# within the limit: captured
my $small = doc_of(3);
ok(length($small) < $limit, 'a document of three events is within the limit');
$r = http_call($gw, 'POST', '/epcis/capture', body => $small,
	headers => { 'Content-Type' => 'application/ld+json', Authorization => "Bearer $token" });
is($r->{status}, 202, 'a document within the limit: 202') or diag($r->{content});
is((json_body($r) // {})->{events}, 3, 'its three events captured');

stop_gateway($gw);
$node->stop;
done_testing();
