# The phone page for registration (注册) and activation (激活), in headless
# Chromium as a vendor uses it (docs/registration.md): the form is filled and
# submitted, the answer read; a vendor on the roll is registered at once, a
# name that differs waits for the station; with the station's code the vendor
# activates, and the code does not work twice. The page is Chinese first,
# needs no script, loads nothing external and fits a phone's width; its
# policy allows posting its forms to itself only.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IPC::Run;
use Encode qw(decode);
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_registration_page');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	insert into shilian.operator_roll (licence_no, name, station, segment, kinds) values
		('JY13701020003016', '泉城路老王菜摊', '370102001', 'circulation', '{market_vendor}'),
		('JY13701020003024', '泉城路李记水果', '370102001', 'circulation', '{market_vendor}');
});
my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');

my $r = http_call($gw, 'GET', '/register');
is($r->{status}, 200, 'GET /register: 200');
like($r->{headers}{'content-security-policy'}, qr/default-src 'none'.*form-action 'self'/,
	'the consumer page\'s policy, with its forms posting to itself only');
unlike($r->{content}, qr/<script|https?:\/\//, 'no script, nothing external');

sub browse
{
	my @jobs = @_;
	my ($out, $err) = ('', '');
	my $json = JSON::PP->new->encode(\@jobs);
	IPC::Run::run([ 'node', "$top/tests/lib/browser.js", "$top/.tmp/pages" ], '<', \$json, '>', \$out, '2>', \$err,
		IPC::Run::timeout(600))
	  or BAIL_OUT("the browser failed: $err");
	my %seen = map { $_->{name} => $_ } @{ JSON::PP->new->utf8->decode($out) };
	for my $name (sort keys %seen)
	{
		my $p = $seen{$name};
		my @errors = grep { !($_->{source} eq 'network' && $p->{status} >= 400
				&& index($_->{text}, "status of $p->{status}") >= 0 && ($_->{url} // '') !~ /favicon/) }
		  @{ $p->{console} };
		is_deeply(\@errors, [], "$name: no console error") or diag explain $p->{console};
		ok($p->{scroll_width} <= $p->{viewport_width}, "$name: no sideways scrolling");
	}
	return %seen;
}

my %vendor = (name => '泉城路老王菜摊', licence_no => 'JY13701020003016', reg_card => 'LX-0001',
	valid_from => '2025-01-01', valid_to => '2030-12-31', station => '370102001',
	address => '泉城路菜市场 A-12', contact => '13800000016');
my %seen = browse(
	{ name => 'register-form', url => "$gw->{url}/register", mobile => JSON::PP::true },
	{ name => 'register-match', url => "$gw->{url}/register", mobile => JSON::PP::true,
		fill => \%vendor, submit => 'register' },
	{ name => 'register-pending', url => "$gw->{url}/register", mobile => JSON::PP::true,
		fill => { %vendor, name => '李记水果店', licence_no => 'JY13701020003024', reg_card => 'LX-0002',
			contact => '13800000024', scope => 'fruit' }, submit => 'register' },
	{ name => 'register-again', url => "$gw->{url}/register", mobile => JSON::PP::true,
		fill => { %vendor, reg_card => 'LX-0009' }, submit => 'register' },
);
is($seen{'register-form'}{lang}, 'zh-CN', 'the form: Chinese first');
like($seen{'register-form'}{text}, qr/许可证号/, 'the form asks for the licence number');
is($seen{'register-match'}{status}, 200, 'a vendor on the roll submits the form: 200');
like($seen{'register-match'}{text}, qr/注册成功/, 'and reads that it is registered');
like($seen{'register-match'}{text}, qr/状态\s+registered/, 'status registered');
like($seen{'register-pending'}{text}, qr/已提交，等待监管所审核/, 'a name that differs: waits for the station');
is($seen{'register-again'}{status}, 409, 'the same licence again: 409');
like($seen{'register-again'}{text}, qr/该许可证已被注册.*SLQ05/s, 'and says so, with its code');
is(decode('UTF-8', $node->safe_psql('postgres', q{select string_agg(o.status || ' ' || o.name, ',') from shilian.operator o})),
	'registered 泉城路老王菜摊', 'the database holds the registered vendor');

my $code = $node->safe_psql('postgres', q{
	select shilian.activation_code_issue(o.id)->>'code' from shilian.operator o where o.name = '泉城路老王菜摊'});
like($code, qr/^[0-9]{10}$/, 'the station issues a code');
my %act = (licence_no => 'JY13701020003016', code => $code, phone => '13800000016');
%seen = browse(
	{ name => 'activate-form', url => "$gw->{url}/activate", mobile => JSON::PP::true },
	{ name => 'activate-ok', url => "$gw->{url}/activate", mobile => JSON::PP::true, fill => \%act, submit => 'activate' },
	{ name => 'activate-again', url => "$gw->{url}/activate", mobile => JSON::PP::true, fill => \%act, submit => 'activate' },
);
like($seen{'activate-form'}{text}, qr/激活码/, 'the activation form asks for the code');
is($seen{'activate-ok'}{status}, 200, 'activation with the code: 200');
like($seen{'activate-ok'}{text}, qr/激活成功/, 'and reads that it is active');
is($seen{'activate-again'}{status}, 403, 'the code a second time: 403');
like($seen{'activate-again'}{text}, qr/许可证号或激活码不正确.*SLQ14/s, 'the code is single use');
is($node->safe_psql('postgres', q{
	select o.status || ' ' || i.identity from shilian.operator o join shilian.operator_identity i on i.operator_id = o.id}),
	'active phone:13800000016', 'the vendor is active, bound to its phone');

stop_gateway($gw);
done_testing();
