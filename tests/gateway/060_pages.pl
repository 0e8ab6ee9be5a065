# What people look at (docs/pages.md), in a real browser on the demo
# province (tests/demo/province.sql): headless Chromium loads the consumer
# page of a normal lot (by its GS1 Digital Link), of a recalled lot, of an
# unknown and a malformed code, the recall page and the report page; the DOM
# must show the facts and must not show the demo's buyers, the console must
# stay clean, and the screenshots are kept under .tmp/pages/. The label's QR
# code decoded by zbarimg leads back to the lot's page. Content negotiation,
# GS1 link types and the linkset, the headers (CSP, no cookies, caching) and
# the escaping of hostile names are checked over plain HTTP.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use Encode ();
use File::Temp ();
use IPC::Run ();
use JSON::PP;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP} // '.';
for my $tool ('/usr/bin/chromium', '/usr/bin/zbarimg', '/usr/bin/node')
{
	BAIL_OUT("$tool is missing: make deps installs it (tests/lib/deps.sh)") unless -x $tool;
}

my $node = shilian_node('gw_pages');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $node->host, '-p', $node->port,
	'-d', 'postgres', '-c', 'set client_min_messages = warning', '-f', "$top/tests/demo/province.sql" ],
	'the demo province loads');

# a producer with a hostile name: the page must show it as text, never as markup
my $hostile = q{<script>alert("x")</script><img src=x onerror=alert(1)>&'};
my $q_hostile = $hostile =~ s/'/''/gr;
$node->safe_psql('postgres', qq{
	select shilian.operator_register('$q_hostile', 'production', '{processor}', '370112001', '历城', '0531-1',
		reg_card => 'LX370112-0999') as op \\gset
	select shilian.operator_activate(:op);
	select shilian.product_register('$q_hostile', 'grain', 30, '1kg', owner => :op) as p \\gset
	select shilian.batch_create(:op, :p, '10 kg', current_date - 2, 'H-1') as c \\gset
	select shilian.inspect(:'c', 'release', 'pass', '{"certificate_no": "H-QC-1", "inspector": "x"}', now() - interval '1 day', :op);
});

# The lots of the demo, as the admin sees them: code, holder, lot, the link its label carries.
sub lots
{
	my ($where) = @_;
	my $out = $node->safe_psql('postgres', Encode::encode('UTF-8', qq{
		set role shilian_admin;
		select b.trace_code, b.owner_id, o.name, shilian.public_link(b.trace_code)
		  from shilian.batch b join shilian.product p on p.id = b.product_id
		  join shilian.operator o on o.id = b.owner_id where $where order by b.id}));
	return map { [ split /\|/ ] } grep { length } split /\n/, Encode::decode('UTF-8', $out);
}
my ($flour) = lots(q{p.name = '小麦粉' and o.name = '青岛黄岛面粉有限公司'});	# not recalled, has a GTIN
my ($dumplings) = lots(q{p.name = '白菜猪肉水饺' and o.name = '济南鲁味食品有限公司'});	# a target of the demo recall
my ($evil) = lots(q{b.lot = 'H-1'});
ok($flour && $dumplings && $evil, 'demo lots found');
like($flour->[3], qr{^/01/06901234567892/10/MF-\d{4}\?t=[0-9a-z]{10}$}, 'a lot with a GTIN and lot number gets a Digital Link');
like($dumplings->[3], qr{^/t/$dumplings->[0]\?t=[0-9a-z]{10}$}, 'a lot without a GTIN gets /t/<code>');
my ($dumplings_token) = $dumplings->[3] =~ /t=(\w+)/;

# Who bought from these lots, downstream: none of them may appear on the lots' public pages.
sub buyers_downstream
{
	my ($code) = @_;
	my $out = $node->safe_psql('postgres', qq{
		with recursive down(id) as (
			select id from shilian.batch where trace_code::text = '$code'
			union select l.to_batch from down join shilian.link l on l.from_batch = down.id where l.to_batch is not null)
		select distinct o.name from down join shilian.link l on l.from_batch = down.id
		  join shilian.operator o on o.id = l.buyer_id});
	return grep { length } split /\n/, Encode::decode('UTF-8', $out);
}
my @flour_buyers = buyers_downstream($flour->[0]);
my @dumpling_buyers = buyers_downstream($dumplings->[0]);
ok(@flour_buyers >= 1 && @dumpling_buyers >= 3, 'the demo lots have buyers: ' . scalar(@dumpling_buyers));

my $gw = start_gateway($node, args => [ '--public-rate-limit', '1000' ]);
my $regulator = make_jwt({ role => 'regulator', jurisdiction => '370000' });
my $mill = make_jwt({ role => 'operator', operator_id => $flour->[1] });
my %as_regulator = (Authorization => "Bearer $regulator");

# ---- plain HTTP: negotiation, link types, headers ---------------------------------

my $page = http_call($gw, 'GET', $flour->[3]);
is($page->{status}, 200, 'the Digital Link answers a browser');
like($page->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, '... with HTML');
my $csp = $page->{headers}{'content-security-policy'} // '';
like($csp, qr/default-src 'none'/, 'CSP: nothing by default');
like($csp, qr/style-src 'unsafe-inline'/, 'CSP: inline style only');
like($csp, qr/img-src 'self' data:/, 'CSP: images from here or data: only');
unlike($csp, qr/script-src/, 'CSP: no script source at all');
ok(!exists $page->{headers}{'set-cookie'}, 'no cookie');
like($page->{headers}{'cache-control'}, qr/max-age=60/, 'cached for a minute (a recall shows within one)');
like($page->{headers}{vary}, qr/Accept/, 'Vary: Accept');
unlike($page->{content}, qr/<script|src="http|href="http/i, 'nothing external, no script');

my $json = http_call($gw, 'GET', $flour->[3], headers => { Accept => 'application/json' });
my ($flour_token) = $flour->[3] =~ /t=(\w+)/;
my $api = http_call($gw, 'GET', "/v1/public/trace/$flour->[0]?t=$flour_token");
is($json->{status}, 200, 'Accept: application/json gets JSON');
is_deeply(json_body($json), json_body($api), '... the public trace, as /v1/public/trace has it');
is(json_body($json)->{code}, $flour->[0], '... of the lot the Digital Link and token name');
is_deeply(json_body($json)->{recalls}, [], '... with no open recall');
is(json_body(http_call($gw, 'GET', $flour->[3], headers => { Accept => 'text/html;q=0.5, application/json' }))->{code},
	$flour->[0], 'q-values decide: JSON preferred over HTML');
like(http_call($gw, 'GET', $flour->[3], headers => { Accept => 'text/*' })->{headers}{'content-type'},
	qr{^text/html}, 'text/* gets the page');

my $ls = http_call($gw, 'GET', "$flour->[3]&linkType=linkset");
is($ls->{headers}{'content-type'}, 'application/linkset+json', 'linkType=linkset: the linkset (RFC 9264)');
my $set = json_body($ls)->{linkset}[0];
like($set->{anchor}, qr{/01/06901234567892/10/MF-\d{4}$}, '... anchored at the Digital Link');
for my $t ('pip', 'traceability', 'recallStatus', 'defaultLink')
{
	ok($set->{"https://gs1.org/voc/$t"}[0]{href}, "... with a gs1:$t link");
}
is(json_body(http_call($gw, 'GET', $flour->[3], headers => { Accept => 'application/linkset+json' }))->{linkset}[0]{anchor},
	$set->{anchor}, 'Accept: application/linkset+json gets the linkset too');
my %want = ('gs1:traceability' => qr{^/v1/public/trace/$flour->[0]\?t=$flour_token$},
	'gs1:pip' => qr{^/t/$flour->[0]\?t=$flour_token$},
	'gs1:recallStatus' => qr{^/t/$flour->[0]\?t=$flour_token#recall$},
	'gs1:certificationInfo' => qr{^/t/$flour->[0]\?t=$flour_token$});
for my $type (sort keys %want)
{
	my $ua = HTTP::Tiny->new(max_redirect => 0);
	my $r = $ua->get("$gw->{url}$flour->[3]&linkType=$type");
	is($r->{status}, 307, "linkType=$type redirects (307)");
	like($r->{headers}{location}, $want{$type}, '... to ' . ($type eq 'gs1:certificationInfo' ? 'the default link' : 'its link'));
}
my $ua_follow = HTTP::Tiny->new;
is(json_body($ua_follow->get("$gw->{url}$flour->[3]&linkType=gs1:traceability"))->{code}, $flour->[0],
	'following gs1:traceability ends at the public trace JSON');

my ($lot) = $flour->[3] =~ m{/10/([^?]+)};
is(http_call($gw, 'GET', "/01/6901234567892/10/$lot?t=$flour_token")->{status}, 200, 'a GTIN-13 resolves like its GTIN-14');
is(http_call($gw, 'GET', "/01/06901234567892/10/$lot/21/ITEM-0001?t=$flour_token")->{status}, 200,
	'with a serial after the lot: the lot decides');
is(http_call($gw, 'GET', "/01/06901234567892/21/$flour->[0]?t=$flour_token")->{status}, 200,
	'a serial alone is the lot\'s trace code');
is(http_call($gw, 'GET', "/01/06901234567892/10/$lot?t=aaaaaaaaaa")->{status}, 404, 'a wrong token: 404');
is(http_call($gw, 'GET', "/01/06901234567892/10/$lot")->{status}, 404, 'no token: 404');
is(http_call($gw, 'GET', "/01/06901234567892/10/NOSUCHLOT?t=$flour_token")->{status}, 404, 'an unknown lot: 404');
is(http_call($gw, 'GET', "/01/06901234567893/10/$lot?t=$flour_token")->{status}, 400, 'a bad GTIN check digit: 400');
my $gtin_only = http_call($gw, 'GET', "/01/06901234567892?t=$flour_token");
is($gtin_only->{status}, 404, 'a GTIN alone names no lot: 404');
like($gtin_only->{headers}{'content-type'}, qr{^text/html}, '... as a page');
my $err = http_call($gw, 'GET', "/t/12345?t=$flour_token", headers => { Accept => 'application/json' });
is($err->{status}, 400, 'a malformed trace code asked as JSON: 400');
is(json_body($err)->{code}, '22P02', '... with the SQLSTATE as /v1/public/trace has it');
is(json_body(http_call($gw, 'GET', "/t/$flour->[0]?t=aaaaaaaaaa", headers => { Accept => 'application/json' }))->{code},
	'SLP01', 'a wrong token asked as JSON: SLP01, as /v1/public/trace');

# escaping: the hostile producer's lot
my $evil_page = http_call($gw, 'GET', $evil->[3]);
is($evil_page->{status}, 200, 'the hostile-named lot has a page');
my $evil_html = Encode::decode('UTF-8', $evil_page->{content});
unlike($evil_html, qr/<script|<img/i, 'its name opens no markup');
like($evil_html, qr{&lt;script&gt;alert\(&quot;x&quot;\)&lt;/script&gt;&lt;img src=x onerror=alert\(1\)&gt;&amp;&#39;},
	'its name is escaped');

# ---- labels and the QR round trip -----------------------------------------------

my $tmp = File::Temp->newdir();
my $png = http_call($gw, 'GET', "/v1/batches/$flour->[0]/label.png", headers => { Authorization => "Bearer $mill" });
is($png->{status}, 200, 'the label as PNG');
is($png->{headers}{'content-type'}, 'image/png', '... image/png');
open my $fh, '>:raw', "$tmp/label.png" or die;
print $fh $png->{content};
close $fh;
my ($zout, $zerr) = ('', '');
IPC::Run::run([ 'zbarimg', '--quiet', '--raw', "$tmp/label.png" ], '>', \$zout, '2>', \$zerr);
chomp $zout;
is($zout, "$gw->{url}$flour->[3]", 'zbarimg decodes the QR code to the Digital Link with the token');
my $scanned = HTTP::Tiny->new->get($zout);
is($scanned->{status}, 200, 'the decoded URI opens a page');
like(Encode::decode('UTF-8', $scanned->{content}), qr{<dd>$flour->[0]</dd>}, '... the page of that lot');
my $svg = http_call($gw, 'GET', "/v1/batches/$flour->[0]/label.svg", headers => { Authorization => "Bearer $mill" });
is($svg->{headers}{'content-type'}, 'image/svg+xml', 'the label as SVG');
like($svg->{content}, qr{width="40mm" height="30mm"}, '... 40 x 30 mm');
like(Encode::decode('UTF-8', $svg->{content}), qr{小麦粉}, '... with the product line');
like($svg->{content}, qr{>\Q@{[substr($flour->[0], 0, 6)]}\E \Q@{[substr($flour->[0], 6, 6)]}\E \Q@{[substr($flour->[0], 12)]}\E<},
	'... and the trace code readable');
is(http_call($gw, 'GET', "/v1/batches/$dumplings->[0]/label.svg", headers => { Authorization => "Bearer $mill" })->{status},
	422, 'no label of another\'s lot (SLR03, as an unknown batch)');
is(http_call($gw, 'GET', "/v1/batches/$flour->[0]/label.svg")->{status}, 401, 'labels need a login');
my $day = $node->safe_psql('postgres', "select produced_on from shilian.batch where trace_code::text = '$flour->[0]'");
my $n_day = $node->safe_psql('postgres',
	"select count(*) from shilian.batch where owner_id = $flour->[1] and produced_on = '$day'");
my $sheet = http_call($gw, 'GET', "/v1/labels.svg?date=$day", headers => { Authorization => "Bearer $mill" });
is($sheet->{status}, 200, 'a sheet of the day\'s labels');
is(scalar(() = $sheet->{content} =~ /class="label"/g), $n_day, "... one label per lot of the day ($n_day)");
like($sheet->{content}, qr{\Q@{[substr($flour->[0], 12)]}\E<}, '... the flour among them');
is(http_call($gw, 'GET', "/v1/labels.svg?date=yesterday", headers => { Authorization => "Bearer $mill" })->{status},
	400, 'a sheet needs a day as YYYY-MM-DD');

# ---- the regulator's pictures ----------------------------------------------------

my $recall = $node->safe_psql('postgres', 'select min(id) from shilian.recall');
my $graph = http_call($gw, 'GET', "/v1/recalls/$recall/graph.svg", headers => \%as_regulator);
is($graph->{status}, 200, 'the recall graph as SVG');
my $targets = json_body(http_call($gw, 'GET', "/v1/recalls/$recall/targets", headers => \%as_regulator));
is(scalar(() = $graph->{content} =~ /class="lot"/g), scalar(@$targets), '... a node per affected lot (' . scalar(@$targets) . ')');
is(scalar(() = $graph->{content} =~ /data-state="outstanding"/g), scalar(grep { !defined $_->{disposition} } @$targets),
	'... outstanding lots marked so');
is(http_call($gw, 'GET', "/v1/recalls/$recall/graph.svg", headers => { Authorization => "Bearer $mill" })->{status},
	403, 'an operator gets no recall graph');
my $county = make_jwt({ role => 'regulator', jurisdiction => '370211' });
is(http_call($gw, 'GET', "/v1/recalls/$recall/graph.svg", headers => { Authorization => "Bearer $county" })->{status},
	403, 'nor a regulator below the one that opened the recall (42501)');
my $month = $node->safe_psql('postgres', "select to_char(current_date - 6, 'YYYY-MM')");
my $report = json_body(http_call($gw, 'GET', "/v1/regulator/jurisdictions/370000/monthly-report?month=$month",
	headers => \%as_regulator));
my $chart = http_call($gw, 'GET', "/v1/regulator/jurisdictions/370000/monthly-report.svg?month=$month",
	headers => \%as_regulator);
is($chart->{status}, 200, 'the report charts as SVG');
my $cities = scalar @{ $report->{cities} };
is(scalar(() = $chart->{content} =~ /class="bar"/g), 4 * $cities, "... four charts, a bar per city ($cities)");
my $n_targets = 0;
for my $c (@{ $report->{cities} })
{
	$n_targets += grep { defined $c->{figures}{$_}{target} } qw(registration_rate activity_rate coverage_rate upload_rate);
}
is(scalar(() = $chart->{content} =~ /class="target"/g), $n_targets, "... a target drawn wherever one applies ($n_targets)");
is(http_call($gw, 'GET', "/v1/regulator/jurisdictions/370000/monthly-report.svg?month=2026-13x",
	headers => \%as_regulator)->{status}, 400, 'a malformed month: 400');
is(http_call($gw, 'GET', "/v1/regulator/jurisdictions/370000/monthly-report.svg?month=$month",
	headers => { Authorization => "Bearer $county" })->{status}, 403, 'a county regulator gets no province chart');

# ---- in the browser --------------------------------------------------------------

my @jobs = (
	{ name => 'consumer-normal', url => "$gw->{url}$flour->[3]", mobile => JSON::PP::true },
	{ name => 'consumer-recalled', url => "$gw->{url}$dumplings->[3]", mobile => JSON::PP::true },
	{ name => 'consumer-recalled-en', url => "$gw->{url}$dumplings->[3]&lang=en", mobile => JSON::PP::true },
	{ name => 'consumer-unknown', url => "$gw->{url}/t/$dumplings->[0]?t=aaaaaaaaaa", mobile => JSON::PP::true },
	{ name => 'consumer-malformed', url => "$gw->{url}/t/12345", mobile => JSON::PP::true },
	{ name => 'consumer-hostile', url => "$gw->{url}$evil->[3]", mobile => JSON::PP::true },
	{ name => 'recall', url => "$gw->{url}/v1/recalls/$recall/graph.html", headers => \%as_regulator },
	{ name => 'report', url => "$gw->{url}/v1/regulator/jurisdictions/370000/monthly-report.html?month=$month",
		headers => \%as_regulator },
);
my $outdir = "$top/.tmp/pages";
my ($bout, $berr) = ('', '');
my $jobs_json = JSON::PP->new->encode(\@jobs);
IPC::Run::run([ 'node', "$top/tests/lib/browser.js", $outdir ], '<', \$jobs_json, '>', \$bout, '2>', \$berr,
	IPC::Run::timeout(600))
  or BAIL_OUT("the browser failed: $berr");
my %seen = map { $_->{name} => $_ } @{ JSON::PP->new->utf8->decode($bout) };

for my $name (sort keys %seen)
{
	my $p = $seen{$name};
	ok(-s $p->{screenshot}, "$name: screenshot kept in $p->{screenshot}");
	# a page meant as 4xx is reported by the browser as a failed load of itself; nothing else may fail
	my @errors = grep { !($_->{source} eq 'network' && $p->{status} >= 400 && index($_->{text}, "status of $p->{status}") >= 0
			&& ($_->{url} // '') !~ /favicon/) } @{ $p->{console} };
	is_deeply(\@errors, [], "$name: no console error") or diag explain $p->{console};
	ok($p->{scroll_width} <= $p->{viewport_width}, "$name: no sideways scrolling ($p->{scroll_width} <= $p->{viewport_width})")
	  if $name =~ /^consumer/;
}

my $normal = $seen{'consumer-normal'};
is($normal->{status}, 200, 'normal lot: 200');
is($normal->{lang}, 'zh-CN', 'normal lot: Chinese first');
like($normal->{text}, qr/小麦粉/, 'normal lot: the product');
like($normal->{text}, qr/青岛黄岛面粉有限公司/, 'normal lot: the producer');
like($normal->{text}, qr/SC10537021101054/, 'normal lot: the producer\'s licence');
like($normal->{text}, qr/出厂检验\s+合格/, 'normal lot: the release inspection passed');
like($normal->{text}, qr/生产日期\s+\d{4}-\d\d-\d\d/, 'normal lot: the production date');
like($normal->{text}, qr/保质期至\s+\d{4}-\d\d-\d\d/, 'normal lot: the expiry date');
like($normal->{text}, qr/黄岛区/, 'normal lot: custody by region');
like($normal->{html}, qr/id="no-recall"/, 'normal lot: says no recall concerns it');
unlike($normal->{html}, qr/id="recall"/, 'normal lot: no recall warning');
for my $buyer (@flour_buyers)
{
	unlike($normal->{text} . $normal->{html}, qr/\Q$buyer\E/, "normal lot: its buyer $buyer does not appear");
}

my $recalled = $seen{'consumer-recalled'};
is($recalled->{status}, 200, 'recalled lot: 200');
like($recalled->{html}, qr/<section id="recall" class="recall" role="alert">/, 'recalled lot: the warning, as an alert');
like($recalled->{text}, qr/召回警示：该批次产品正在召回/, 'recalled lot: says this lot is recalled');
like($recalled->{text}, qr/演示：大白菜农残快检超标/, 'recalled lot: the reason');
like($recalled->{text}, qr/立即停止食用/, 'recalled lot: what to do');
like($recalled->{text}, qr/12315/, 'recalled lot: whom to call');
ok(index($recalled->{text}, '召回警示') < index($recalled->{text}, '白菜猪肉水饺'), 'recalled lot: the warning comes first');
for my $buyer (@dumpling_buyers)
{
	unlike($recalled->{text} . $recalled->{html}, qr/\Q$buyer\E/, "recalled lot: its buyer $buyer does not appear");
}
# the lot's own quantities and those of its sales
my @qtys = grep { length } split /\n/, $node->safe_psql('postgres', qq{
	select distinct q from (select b.qty::text q, b.qty_left::text q2 from shilian.batch b where b.trace_code::text = '$dumplings->[0]') x
	union select b.qty_left::text from shilian.batch b where b.trace_code::text = '$dumplings->[0]'
	union select l.qty_shipped::text from shilian.link l join shilian.batch b on b.id = l.from_batch
	 where b.trace_code::text = '$dumplings->[0]'});
ok(@qtys >= 3, 'the recalled lot\'s quantities: ' . join(', ', @qtys));
for my $q (@qtys)
{
	unlike($recalled->{text}, qr/\Q$q\E/, "recalled lot: the quantity $q does not appear");
}
my $en = $seen{'consumer-recalled-en'};
is($en->{lang}, 'en', 'English on request');
like($en->{text}, qr/Recall: this lot is being recalled/, '... the warning in English');
like($en->{text}, qr/Stop eating it/, '... and what to do');
like($en->{html}, qr{href="/t/$dumplings->[0]\?t=$dumplings_token" hreflang="zh-CN"}, '... with a link back to Chinese');
like($recalled->{html}, qr{href="/t/$dumplings->[0]\?t=$dumplings_token&amp;lang=en"}, 'the Chinese page links to English');

my $unknown = $seen{'consumer-unknown'};
is($unknown->{status}, 404, 'unknown code: 404');
like($unknown->{text}, qr/没有找到该追溯码对应的产品/, 'unknown code: says so');
unlike($unknown->{text}, qr/白菜猪肉水饺/, 'unknown code: nothing about the lot');
my $malformed = $seen{'consumer-malformed'};
is($malformed->{status}, 400, 'malformed code: 400');
like($malformed->{text}, qr/追溯码格式不正确/, 'malformed code: says so');

my $hostile_page = $seen{'consumer-hostile'};
like($hostile_page->{text}, qr/\Q$hostile\E/, 'the hostile name shows as text');
unlike($hostile_page->{html}, qr/<script|<img/i, '... and made no element');

my $rp = $seen{recall};
is($rp->{status}, 200, 'recall page: 200');
like($rp->{html}, qr/<svg[^>]+id="recall-graph"/, 'recall page: the graph inline');
like($rp->{text}, qr/演示：大白菜农残快检超标/, 'recall page: the reason');
for my $t (@$targets)
{
	like($rp->{text}, qr/\Q$t->{batch}\E/, "recall page: lot $t->{batch}");
	like($rp->{text}, qr/\Q$t->{holder_name}\E/, "recall page: holder $t->{holder_name}");
}
like($rp->{text}, qr/destroyed/, 'recall page: the canteen\'s destroyed lot');
like($rp->{text}, qr/outstanding/, 'recall page: outstanding lots');

my $rep = $seen{report};
is($rep->{status}, 200, 'report page: 200');
is(scalar(() = $rep->{html} =~ /<svg[^>]+class="chart"/g), 4, 'report page: four charts');
for my $c (@{ $report->{cities} })
{
	like($rep->{text}, qr/\Q$c->{name}\E/, "report page: $c->{name}");
}
like($rep->{text}, qr/monthly-report\.csv/, 'report page: the CSV beside it');

stop_gateway($gw);
done_testing();
