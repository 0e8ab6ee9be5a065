# The demo's neighbouring province (tests/demo/neighbour.sql, loaded by
# `make run` after the demo province): a second database of the same
# cluster as Beijing (110000), the two registered as peers with their own
# bound logins, the farm's cabbage sold to Beijing's wholesale market named
# by its GLN, delivered and received there; a national trace of the farm lot
# crosses into Beijing. Loading it again changes nothing.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Encode qw(decode_utf8);
use Time::HiRes qw(time);
use ShilianTest;

my $node = shilian_node('demo_federation');
my $top = $ENV{SHILIAN_TOP};
my ($ret, $out, $err) = $node->psql('postgres', undef,
	extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', "$top/tests/demo/province.sql"]);
is($ret, 0, 'the demo province loads') or diag($err);
my $t0 = time();
($ret, $out, $err) = $node->psql('postgres', undef,
	extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', "$top/tests/demo/neighbour.sql"]);
my $secs = time() - $t0;
is($ret, 0, 'the neighbouring province loads') or diag($err);
diag(sprintf('the neighbouring province loaded in %.1f s', $secs));
like($out, qr/demo: a national trace of \d{18} reaches 1 lot\(s\) in province 110000/, 'it says so');

my $farm_lot = $node->safe_psql('postgres', q{select b.trace_code from shilian.batch b join shilian.operator o on o.id = b.owner_id
	where o.uscc::text = '93370112MA3D001010' and b.origin = 'produced' order by b.id limit 1});
is($node->safe_psql('postgres', q{select count(*) || ' ' || min(status) || ' ' || min(buyer_gln) || ' ' || min(province)
	from shilian.federation_outbox}), '1 delivered 6970001000016 110000',
	'one sale to Beijing, named by GLN, delivered');
is(decode_utf8($node->safe_psql('shilian_beijing', q{select o.name || ' ' || b.qty || ' ' || s.trace_code
	from shilian.batch b join shilian.operator o on o.id = b.owner_id
	join shilian.link l on l.to_batch = b.id join shilian.batch s on s.id = l.from_batch
	where o.uscc::text = '91110106MA0X00201N'})), "北京新发地农产品批发市场 200 kg $farm_lot",
	'Beijing: the market received it, its lot linked to the farm lot by its code');
is($node->safe_psql('postgres', qq{select string_agg(province || ' ' || depth || ' ' || qty_reached, ',' order by depth, batch)
	from shilian.trace_forward_national('$farm_lot') where province = '110000'}), '110000 1 200 kg',
	'a national trace of the farm lot reaches the market\'s lot in Beijing');
is($node->safe_psql('postgres', q{select string_agg(login || ' ' || province, ',') from shilian.province_peer_login}),
	'peer_110000 110000', 'the province binds Beijing\'s login');
is($node->safe_psql('shilian_beijing', q{select string_agg(login || ' ' || province, ',') from shilian.province_peer_login}),
	'peer_370000 370000', 'and Beijing the province\'s');

my $counts = q{select (select count(*) from shilian.federation_outbox) || ' ' || (select count(*) from shilian.link)
	|| ' ' || (select count(*) from shilian.batch)};
my %before = map { ($_ => $node->safe_psql($_, $counts)) } qw(postgres shilian_beijing);
($ret, $out, $err) = $node->psql('postgres', undef,
	extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', "$top/tests/demo/neighbour.sql"]);
is($ret, 0, 'loading it again succeeds') or diag($err);
is($node->safe_psql($_, $counts), $before{$_}, "and changes nothing in $_") for qw(postgres shilian_beijing);

done_testing();
