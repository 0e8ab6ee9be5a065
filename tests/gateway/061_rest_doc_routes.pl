# docs/rest.md's routes are the gateway's routes: every route of the route
# table (as /openapi.json describes it) is documented, in the table of
# "The SQL API over HTTP" or as a "### `METHOD path`" section, and nothing is
# documented that the gateway does not have; a table row's query string
# names exactly the query parameters the route declares.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP} || '.';
my $node = shilian_node('gw_docroutes');
my $gw = start_gateway($node);
my $doc = json_body(http_call($gw, 'GET', '/openapi.json'));
ok($doc && $doc->{paths}, 'openapi.json read');

my (%routes, %declared);
for my $path (keys %{ $doc->{paths} })
{
	for my $m (keys %{ $doc->{paths}{$path} })
	{
		my $key = uc($m) . " $path";
		$routes{$key} = 1;
		$declared{$key} = join ',', sort map { $_->{name} }
		  grep { $_->{in} eq 'query' } @{ $doc->{paths}{$path}{$m}{parameters} // [] };
	}
}

open my $fh, '<', "$top/docs/rest.md" or die "docs/rest.md: $!";
my (%documented, %doc_query);
while (my $line = <$fh>)
{
	if ($line =~ /^\| `(GET|POST|PUT|PATCH|DELETE) ([^`?\s]+)(?:\?([^`]*))?`/)
	{
		my $key = "$1 $2";
		$documented{$key}++;
		$doc_query{$key} = join ',', sort map { (split /=/, $_)[0] } grep { length } split /&/, ($3 // '');
	}
	elsif ($line =~ /^### `(GET|POST|PUT|PATCH|DELETE) ([^`?\s]+)`/)
	{
		$documented{"$1 $2"}++;
		$doc_query{"$1 $2"} = undef;
	}
}
close $fh;

for my $key (sort keys %routes)
{
	ok($documented{$key}, "documented in docs/rest.md: $key");
	next unless $documented{$key} && defined $doc_query{$key};
	is($doc_query{$key}, $declared{$key}, "$key: the documented query parameters are the declared ones");
}
for my $key (sort keys %documented)
{
	ok($routes{$key}, "docs/rest.md documents a route the gateway has: $key");
	is($documented{$key}, 1, "documented once: $key");
}
ok(scalar(keys %routes) > 60, 'the route table has its routes');

stop_gateway($gw);
$node->stop;
done_testing();
