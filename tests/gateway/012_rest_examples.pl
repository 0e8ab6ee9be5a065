# docs/rest.md's examples, run as written: every ```http request block is
# sent to a gateway over a database with the demo province loaded, and the
# ```http response block after it is checked: the status, and that the
# documented JSON body is contained in the actual one ("..." matches any
# value; arrays match element by element from the start). $NAME stands for
# a value of the demo (a token, an id, a trace code). Every route of the
# gateway must have at least one example.
use strict;
use File::Temp ();
use warnings;
use Encode ();
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_examples');
$node->safe_psql('postgres', slurp_file("$top/tests/demo/province.sql"));
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

# The demo's values, by name.
my %var;
for my $line (split /\n/, $node->safe_psql('postgres',
	q{select name || '|' || role || '|' || coalesce(operator_id::text, '') || '|' || coalesce(jurisdiction, '')
	    from shilian_demo.account}))
{
	my ($name, $role, $op, $jur) = split /\|/, $line, -1;
	$var{ uc $name } = make_jwt({ role => $role, operator_id => $op, jurisdiction => $jur });
	$var{ uc($name) . '_ID' } = $op if $op ne '';
}
my %sql = (
	FARM_LOT => q{select b.trace_code from shilian.batch b join shilian_demo.account a on a.operator_id = b.owner_id
		where a.name = 'farm' and b.origin = 'produced' order by b.id limit 1},
	WHOLESALER_LOT => q{select b.trace_code from shilian.batch b join shilian_demo.account a on a.operator_id = b.owner_id
		where a.name = 'wholesaler' and b.origin = 'received' order by b.id limit 1},
	CANTEEN_LOT => q{select b.trace_code from shilian.batch b join shilian_demo.account a on a.operator_id = b.owner_id
		where a.name = 'canteen' order by b.id limit 1},
	DRAFT => q{select l.id from shilian.link l join shilian_demo.account a on a.operator_id = l.buyer_id
		where a.name = 'supermarket' and l.status = 'pending' order by l.id limit 1},
	CABBAGE => q{select id from shilian.product where category = 'vegetables' order by id limit 1},
	RECALL => q{select min(id) from shilian.recall},
	FARM_ENTRY => q{select min(l.id) from shilian.ledger l join shilian_demo.account a on a.operator_id = l.operator_id
		where a.name = 'farm'},
	STATION => q{select code from shilian.jurisdiction where level = 'station' order by code limit 1},
	# the month of yesterday: the demo's latest records fall in it
	MONTH => q{select to_char(current_date - 1, 'YYYY-MM')},
	EPCIS_TIME => q{select to_char(current_date - 1, 'YYYY-MM-DD') || 'T08:00:00+08:00'},
	# pages: the mill's flour lot (a GTIN and a lot number) and the farm's lot with their tokens
	FLOUR_CODE => q{select b.trace_code from shilian.batch b join shilian.product p on p.id = b.product_id
		where p.gtin = '6901234567892' and b.origin = 'produced' order by b.id limit 1},
	FLOUR_GTIN => q{select '0' || gtin from shilian.product where gtin = '6901234567892'},
	FLOUR_LOTNO => q{select b.lot from shilian.batch b join shilian.product p on p.id = b.product_id
		where p.gtin = '6901234567892' and b.origin = 'produced' order by b.id limit 1},
	FLOUR_TOKEN => q{select shilian.public_token(b.trace_code) from shilian.batch b join shilian.product p on p.id = b.product_id
		where p.gtin = '6901234567892' and b.origin = 'produced' order by b.id limit 1},
	FARM_LOT_TOKEN => q{select shilian.public_token(b.trace_code) from shilian.batch b join shilian_demo.account a
		on a.operator_id = b.owner_id where a.name = 'farm' and b.origin = 'produced' order by b.id limit 1},
	FARM_DAY => q{select b.produced_on from shilian.batch b join shilian_demo.account a
		on a.operator_id = b.owner_id where a.name = 'farm' and b.origin = 'produced' order by b.id limit 1},
	# the market's subscription to its named query received-tomatoes (the demo's)
	EPCIS_SUBSCRIPTION => q{select min(webhook_id) from shilian.epcis_subscription where query_name = 'received-tomatoes'},
	CANTEEN_LOT_TOKEN => q{select shilian.public_token(b.trace_code) from shilian.batch b join shilian_demo.account a
		on a.operator_id = b.owner_id where a.name = 'canteen' order by b.id limit 1},
);
$var{$_} = $node->safe_psql('postgres', $sql{$_}) for keys %sql;
# A signed checkpoint of the demo and a witness's cosignature on it, made as
# the signing job and the witness make them (docs/ledger-format.md), for
# the examples of the signed-checkpoint routes.
{
	my $tmp = File::Temp::tempdir(DIR => $PostgreSQL::Test::Utils::tmp_check);
	my $v = "$top/shilian-verify";
	for my $k (qw(platform witness))
	{
		system('openssl', 'genpkey', '-algorithm', 'ed25519', '-out', "$tmp/$k.pem") == 0 or die 'openssl genpkey';
	}
	my $body = $node->safe_psql('postgres', 'select shilian.checkpoint_body()');
	$body =~ s/\n*\z/\n/;
	my ($note, $vkey, $line);
	IPC::Run::run([ $v, 'sign', '--key', "$tmp/platform.pem", '--name', 'shilian.invalid/ledger' ], '<', \$body, '>', \$note)
	  or die 'sign';
	IPC::Run::run([ $v, 'vkey', '--key', "$tmp/platform.pem", '--name', 'shilian.invalid/ledger' ], '>', \$vkey) or die 'vkey';
	chomp $vkey;
	IPC::Run::run([ $v, 'witness', '--key', "$tmp/witness.pem", '--name', 'bureau.example.gov.cn/witness',
		'--log-key', $vkey, '--state', "$tmp/witness.state" ], '<', \$note, '>', \$line) or die 'witness';
	($var{SIGNED_SIZE}) = $body =~ /\A.*\n(\d+)\n/;
	# JSON string contents (the examples put them between quotes)
	($var{SIGNED_NOTE} = JSON::PP->new->encode([ Encode::decode_utf8($note) ])) =~ s/\A\["|"\]\z//g;
	($var{COSIGNATURE} = JSON::PP->new->encode([ Encode::decode_utf8($line) ])) =~ s/\A\["|"\]\z//g;
}
my $key = $node->safe_psql('postgres', q{
	select shilian.api_client_add('demo-erp', '演示 ERP');
	select shilian.api_client_bind('demo-erp', operator_id) from shilian_demo.account where name = 'farm';
	select shilian.api_client_key_new('demo-erp')});
$var{API_KEY} = (split /\n/, $key)[-1];
# the demo's market sub-system, bound to two stalls (docs/rest.md "Systems acting for operators")
$var{MARKET_KEY} = $node->safe_psql('postgres', q{select shilian.api_client_key_new('quancheng-market')});
$var{GANGGOU_ID} = $node->safe_psql('postgres', q{select id from shilian.operator where name = '历城港沟蔬菜批发部'});

sub subst
{
	my ($text) = @_;
	$text =~ s/\$([A-Z][A-Z0-9_]*)/exists $var{$1} ? $var{$1} : "\$$1"/ge;
	return $text;
}

# documented ⊆ actual
sub contains
{
	my ($doc, $act, $path) = @_;
	return 1 if !ref $doc && defined $doc && $doc eq '...';
	# a $NAME not known yet is learnt from the response (a new id, a new code)
	if (!ref $doc && defined $doc && $doc =~ /^\$([A-Z][A-Z0-9_]*)$/ && !exists $var{$1})
	{
		return "$path: missing (to learn \$$1)" unless defined $act && !ref $act;
		$var{$1} = $act;
		return 1;
	}
	if (ref $doc eq 'HASH')
	{
		return "$path: expected an object" unless ref $act eq 'HASH';
		for my $k (sort keys %$doc)
		{
			return "$path.$k: missing" unless exists $act->{$k};
			my $r = contains($doc->{$k}, $act->{$k}, "$path.$k");
			return $r unless $r eq '1';
		}
		return 1;
	}
	if (ref $doc eq 'ARRAY')
	{
		return "$path: expected an array" unless ref $act eq 'ARRAY';
		return "$path: fewer elements than documented" if @$act < @$doc;
		for my $i (0 .. $#$doc)
		{
			my $r = contains($doc->[$i], $act->[$i], "$path\[$i]");
			return $r unless $r eq '1';
		}
		return 1;
	}
	return 1 if !defined $doc && !defined $act;
	if (JSON::PP::is_bool($doc) || JSON::PP::is_bool($act))
	{
		return 1 if JSON::PP::is_bool($doc) && JSON::PP::is_bool($act) && !!$doc == !!$act;
		return "$path: documented " . (defined $doc ? "$doc" : 'null') . ', got ' . (defined $act ? "$act" : 'null');
	}
	return "$path: documented " . (defined $doc ? $doc : 'null') . ', got ' . (defined $act ? (ref $act ? 'a structure' : $act) : 'null')
	  unless defined $doc && defined $act && !ref $act && "$doc" eq "$act";
	return 1;
}

my $doc = Encode::decode_utf8(slurp_file("$top/docs/rest.md"));
my @blocks = $doc =~ /^```http\n(.*?)^```$/msg;
ok(@blocks >= 2 && @blocks % 2 == 0, 'docs/rest.md has request/response pairs (' . scalar(@blocks) . ' blocks)');
my %covered;
while (my ($req, $res) = splice @blocks, 0, 2)
{
	my ($head, $body) = split /\n\n/, $req, 2;
	my ($reqline, @hdrs) = split /\n/, $head;
	my ($method, $path) = $reqline =~ /^(GET|POST|HEAD|DELETE|PATCH|PUT) (\S+) HTTP\/1\.1$/
	  or BAIL_OUT("not a request line in docs/rest.md: $reqline");
	my %h = map { my ($k, $v) = /^([^:]+):\s*(.*)$/; ($k => Encode::encode_utf8(subst($v))) } @hdrs;
	my ($rhead, $rbody) = split /\n\n/, $res, 2;
	my ($status) = $rhead =~ /^HTTP\/1\.1 (\d{3})/ or BAIL_OUT("not a status line in docs/rest.md: $rhead");
	my $url = subst($path);
	my $r = http_call($gw, $method, $url, headers => \%h,
		defined $body ? (body => Encode::encode_utf8(subst($body))) : ());
	my $name = "$method $path";
	is($r->{status}, $status, "$name: $status") or diag($r->{content});
	if (defined $rbody && $rbody =~ /\S/)
	{
		my $want = eval { JSON::PP->new->decode(subst($rbody)) };
		BAIL_OUT("documented body of $name is not JSON: $@") unless defined $want;
		# learn first: values named in the body may be used later in it
		contains($want, eval { JSON::PP->new->utf8->decode($r->{content}) }, 'body')
		  if $r->{content} =~ /^\s*[\[{]/;
		$want = JSON::PP->new->decode(subst($rbody));
		BAIL_OUT("documented body of $name is not JSON: $@") unless defined $want;
		my $got = eval { JSON::PP->new->utf8->decode($r->{content}) };
		my $c = defined $got ? contains($want, $got, 'body') : 'not JSON';
		ok($c eq '1', "$name: body as documented") or diag("$c\n$r->{content}");
	}
	(my $pattern = $path) =~ s/\?.*//;
	$covered{"$method $pattern"} = 1;
}

# Every route has an example: the route table is what /openapi.json lists.
my $api = json_body(http_call($gw, 'GET', '/openapi.json'));
for my $p (sort keys %{ $api->{paths} })
{
	for my $m (sort keys %{ $api->{paths}{$p} })
	{
		my $route = uc($m) . " $p";
		(my $re = quotemeta $route) =~ s/\\\{[^}]*\\\}/[^\/]+/g;
		ok((grep { /^$re$/ } keys %covered), "docs/rest.md has an example of $route");
	}
}

stop_gateway($gw);
$node->stop;
done_testing();
