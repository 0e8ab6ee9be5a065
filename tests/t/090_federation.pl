# Federation across provinces (docs/federation.md): three clusters, one per
# province, joined by dblink over registered peers (province_peer) that log
# in with a password as a member of shilian_peer (no superuser on the wire),
# each province with a login of its own on each peer, bound to it there
# (province_peer_login): a login may not deliver or recall as another.
#   A 370000 (Shandong): a dairy farm's raw milk
#   B 110000 (Beijing):  a yogurt maker buys it across the border, makes
#                        yogurt, sells some to a local shop and some on to
#   C 310000 (Shanghai): a school canteen, which serves part of it.
# Checked: the sale becomes the buyer's receipt draft (enter once); C is down
# during B's sale and catches up without loss or duplication (also when the
# answer of a delivery is lost); the national forward trace from the farm lot
# in A gives the same lots, depths and quantities as the same chain built in
# one database; a provincial regulator sees the other provinces' lots without
# holders; a peer down during a trace is reported, not fatal; the peer login
# can do nothing but deliver and walk. Prints the measured figures.
use strict;
use warnings;
use utf8;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Encode qw(decode_utf8);
use IPC::Run;
use Time::HiRes qw(time);
use ShilianTest;

# ---- a valid USCC for a region (GB 32100-2015 check character) ----
sub uscc
{
	my ($body) = @_;	# 17 characters
	my $cs = '0123456789ABCDEFGHJKLMNPQRTUWXY';
	my @w = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28);
	my $sum = 0;
	$sum += index($cs, substr($body, $_, 1)) * $w[$_] for 0 .. 16;
	my $c = 31 - $sum % 31;
	$c = 0 if $c == 31;
	return $body . substr($cs, $c, 1);
}
my $u_farm = uscc('91370102MA3F00001');
my $u_dairy = uscc('91110105MA0D00001');
my $u_shop = uscc('92110105MA0R00001');
my $u_canteen = uscc('12310104MB0K00001');
my $u_nobody = uscc('91310104MA0N00009');

my %prov = (A => '370000', B => '110000', C => '310000');
# the password of province P's login on the platform of Q: $pw{P}{Q}
my %pw = map { my $p = $_; ($p => { map { ($_ => "pw-$p-to-$_-" . lc($p) x 3) } qw(A B C) }) } qw(A B C);
my %node;
# province P logs in on its peers as peer_<P's code>; one more login, a
# member of shilian_peer bound to no province, for the probes
my $peer_logins = join(',', map { "peer_$_" } sort values %prov) . ',peer_unbound';
for my $p (qw(A B C))
{
	my $n = shilian_node("fed_$p");
	# the peer login authenticates with its password (scram), everyone else as before
	my $hba = $n->data_dir . '/pg_hba.conf';
	my $old = slurp_file($hba);
	open my $fh, '>', $hba or die;
	print $fh "local all $peer_logins scram-sha-256\n$old";
	close $fh;
	$n->reload;
	my $logins = join("\n", map { "CREATE ROLE peer_$prov{$_} LOGIN PASSWORD '$pw{$_}{$p}' IN ROLE shilian_peer;" }
		grep { $_ ne $p } qw(A B C));
	$n->safe_psql('postgres', qq{
		set client_min_messages = warning;
		CREATE EXTENSION dblink;
		$logins
		CREATE ROLE peer_unbound LOGIN PASSWORD 'pw-unbound' IN ROLE shilian_peer;
		CREATE ROLE national_reg LOGIN IN ROLE shilian_national;
		CREATE ROLE prov_reg LOGIN IN ROLE shilian_regulator;});
	$node{$p} = $n;
}
sub conninfo { my $n = shift; return 'host=' . $n->host . ' port=' . $n->port . ' dbname=postgres'; }
for my $p (qw(A B C))
{
	for my $q (grep { $_ ne $p } qw(A B C))
	{
		$node{$p}->safe_psql('postgres', qq{
			select shilian.province_peer('$prov{$q}', '@{[conninfo($node{$q})]}', 'peer_$prov{$p}', '$pw{$p}{$q}',
				name => 'province $q', time_limit => '3 seconds');
			select shilian.province_peer_login('$prov{$q}', 'peer_$prov{$q}')});
	}
}
is($node{A}->safe_psql('postgres', q{select string_agg(code || ' ' || server, ',' order by code) from shilian.province_peer}),
	'110000 shilian_peer_110000,310000 shilian_peer_310000', 'A registered B and C as peers');
is($node{A}->safe_psql('postgres', q{select count(*) from pg_user_mappings where srvname like 'shilian_peer_%'}),
	'2', 'one user mapping per peer');
my ($ret, $out, $err);
is($node{B}->safe_psql('postgres', q{select string_agg(login || ' ' || province, ',' order by login) from shilian.province_peer_login}),
	'peer_310000 310000,peer_370000 370000', 'B bound the login of each peer to its province');
($ret, $out, $err) = $node{B}->psql('postgres', q{select shilian.province_peer_login('370000', 'national_reg')});
like($err, qr/not a peer login \(not a member of shilian_peer\)/, 'a login that is no member of shilian_peer cannot be bound (SLN02)');
($ret, $out, $err) = $node{B}->psql('postgres', q{select shilian.province_peer_login('440000', 'peer_unbound')});
like($err, qr/no peer is registered for province 440000/, 'nor bound to a province that is no peer (SLN05)');
($ret, $out, $err) = $node{A}->psql('postgres', q{select shilian.province_peer('110000', 'host=x user=y', 'l', 'p')});
like($err, qr/SLN02|not allowed/, 'a login inside conninfo is refused (it belongs in the user mapping)');

# ---- the provinces' registries ----
my $setup_a = qq{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('370000', '山东省'), ('370100', '济南市'),
		('370102', '历下区'), ('370102001', '泉城路所')) v(c, n);
	select shilian.operator_register('牧场', 'production', '{farm}', '370102001', '济南', '0531-1',
		uscc => '$u_farm') as f \\gset
	select shilian.operator_activate(:f);
	select shilian.product_register('生牛乳', 'dairy', 3, '散装', edible_agricultural => true) as milk \\gset
};
my $setup_b = qq{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('110000', '北京市'), ('110100', '市辖区'),
		('110105', '朝阳区'), ('110105001', '朝阳所')) v(c, n);
	select shilian.operator_register('乳品厂', 'production', '{processor}', '110105001', '北京', '010-1',
		uscc => '$u_dairy') as d \\gset
	select shilian.operator_activate(:d);
	select shilian.licence_add(:d, 'SC10511010500013', '{dairy}', '2020-01-01', '2099-12-31');
	select shilian.operator_register('便利店', 'circulation', '{retailer}', '110105001', '北京', '010-2',
		uscc => '$u_shop') as r \\gset
	select shilian.operator_activate(:r);
	select shilian.product_register('酸奶', 'dairy', 21, '100g', owner => :d) as yogurt \\gset
};
my $setup_c = qq{
	set client_min_messages = warning;
	select shilian.jurisdiction_add(c, n) from (values ('310000', '上海市'), ('310100', '市辖区'),
		('310104', '徐汇区'), ('310104001', '徐汇所')) v(c, n);
	select shilian.operator_register('学校食堂', 'catering', '{school_canteen}', '310104001', '上海', '021-1',
		uscc => '$u_canteen') as k \\gset
	select shilian.operator_activate(:k);
};
$node{A}->safe_psql('postgres', $setup_a);
$node{B}->safe_psql('postgres', $setup_b);
$node{C}->safe_psql('postgres', $setup_c);
($ret, $out, $err) = $node{A}->psql('postgres', q{select shilian.province_peer('370000', 'host=x', 'l', 'p')});
like($err, qr/own/, 'a province cannot be its own peer');

my $inspection = q{'{"inspector":"王五"}'};
# the error of a statement, with its SQLSTATE
sub err_of
{
	my ($n, $sql, $db) = @_;
	my ($r, $o, $e) = $n->psql($db // 'postgres', "\\set VERBOSITY verbose\n$sql");
	return $e;
}
# ---- A: the farm's milk, 400 L of it sold to the dairy in B ----
my $t0 = time();
my $farm_lot = $node{A}->safe_psql('postgres', qq{
	select shilian.batch_create((select id from shilian.operator where name = '牧场'),
		(select id from shilian.product where name = '生牛乳'), '1000 L', '2026-03-02')});
my $sale1 = $node{A}->safe_psql('postgres', qq{
	select shilian.ship_cross_border('$farm_lot', '$u_dairy', '400 L', '2026-03-02')});
ok($sale1 > 0, 'A: the farm sells 400 L to a buyer of B named by USCC');
is($node{A}->safe_psql('postgres', qq{select qty_left from shilian.batch where trace_code::text = '$farm_lot'}),
	'600 L', 'A: the sale is recorded in the seller\'s lot (600 L left)');
is($node{A}->safe_psql('postgres', q{select count(*) from shilian.ledger l join shilian.operator o on o.id = l.operator_id
	where o.name = '牧场' and l.kind = 'ship'}), '1', 'A: and in the seller\'s ledger');
$err = err_of($node{A}, qq{select shilian.ship_cross_border('$farm_lot', '$u_farm', '1 L', '2026-03-02')});
like($err, qr/SLN03/, 'A: a buyer of A itself is refused (SLN03: use ship)');
my $u_hk = uscc('91810000MA0H00001');
$err = err_of($node{A}, qq{select shilian.ship_cross_border('$farm_lot', '$u_hk', '1 L', '2026-03-02')});
like($err, qr/SLN04/, 'A: a province without a peer is refused (SLN04)');
$err = err_of($node{A}, qq{select shilian.ship_cross_border('$farm_lot', '$u_dairy', '601 L', '2026-03-02')});
like($err, qr/SLR05/, 'A: the rules of a sale apply (over balance: SLR05)');

is($node{A}->safe_psql('postgres', q{select string_agg(province || ' ' || delivered || ' ' || pending, ',') from shilian.federation_deliver()}),
	'110000 1 0', 'A delivers the sale to B')
  or diag($node{A}->safe_psql('postgres', q{select last_error from shilian.federation_outbox}));
is(decode_utf8($node{B}->safe_psql('postgres', q{select count(*) || ' ' || min(qty::text) || ' ' || min(seller_name) || ' ' || min(from_code::text)
	from shilian.receipt_drafts((select id from shilian.operator where name = '乳品厂'))})),
	"1 400 L 牧场 $farm_lot", 'B: it is the dairy\'s receipt draft, with the seller and its lot code (enter once)');
is($node{A}->safe_psql('postgres', q{select count(*) from shilian.federation_deliver()}), '0', 'nothing is left to deliver');

# ---- B: receipt, yogurt, a local sale and a sale on to C ----
my $b_ids = $node{B}->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select id as d from shilian.operator where name = '乳品厂' \\gset
	select id as r from shilian.operator where name = '便利店' \\gset
	select shilian.receive((select link from shilian.receipt_drafts(:d)), '400 L', $inspection, '2026-03-03 09:00+08') as m \\gset
	select shilian.transform(array[:'m']::shilian.trace_code[], array['400 L']::shilian.qty[],
		(select id from shilian.product where name = '酸奶'), '2000 pcs', '2026-03-03') as y \\gset
	select shilian.receive(shilian.ship(:'y', :r, '300 pcs', '2026-03-04'), '300 pcs', $inspection, '2026-03-04 10:00+08') as s \\gset
	select :'m' || ' ' || :'y' || ' ' || :'s'});
my ($b_milk, $b_yog, $b_shop) = split ' ', $b_ids;
is($node{B}->safe_psql('postgres', qq{select b.origin || ' ' || s.trace_code from shilian.batch b
	join shilian.link l on l.to_batch = b.id join shilian.batch s on s.id = l.from_batch where b.trace_code::text = '$b_milk'}),
	"received $farm_lot", 'B: the receipt made the dairy\'s lot, linked to the seller\'s lot in A by its code');
my $sale2 = $node{B}->safe_psql('postgres', qq{select shilian.ship_cross_border('$b_yog', '$u_canteen', '500 pcs', '2026-03-04')});

# C is down when B delivers: nothing lost, it waits
$node{C}->stop;
my $r = $node{B}->safe_psql('postgres', q{set client_min_messages = error;
	select province || ' ' || delivered || ' ' || pending || ' ' || (error is not null) from shilian.federation_deliver()});
is($r, '310000 0 1 true', 'B: C is down, the sale stays pending with the error');
is($node{B}->safe_psql('postgres', q{select attempts || ' ' || (next_attempt_at > clock_timestamp()) || ' ' || status
	from shilian.federation_outbox}), '1 true pending', 'B: one attempt counted, the next one later');
# and a national trace with C down reports it, rather than failing
my $down = $node{A}->safe_psql('postgres', qq{set client_min_messages = error;
	select string_agg(province || ' ' || status, ',' order by depth, province) from shilian.trace_forward_national('$farm_lot')});
is($down, '370000 origin,110000 depleted,110000 on_hand,110000 on_hand',
	'meanwhile a national trace gives A\'s and B\'s lots (the sale to C is not delivered yet)');
$node{C}->start;
is($node{B}->safe_psql('postgres', q{select province || ' ' || delivered || ' ' || pending from shilian.federation_deliver(due_only => false)}),
	'310000 1 0', 'B: C is back, the sale is delivered');
# the answer of a delivery lost (B crashed before marking it): sent again, accepted once
$node{B}->safe_psql('postgres', q{update shilian.federation_outbox set status = 'pending', delivered_at = null});
is($node{B}->safe_psql('postgres', q{select delivered from shilian.federation_deliver(due_only => false)}), '1',
	'B: a sale sent again is answered');
is($node{C}->safe_psql('postgres', q{select count(*) || ' ' || (select count(*) from shilian.federation_inbox)
	from shilian.link}), '1 1', 'C: one receipt draft, one inbox row: no duplicate');
is($node{B}->safe_psql('postgres', q{select status || ' ' || remote_link from shilian.federation_outbox}),
	'delivered 1', 'B: delivered, with C\'s link');
my $c_lot = $node{C}->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select id as k from shilian.operator where name = '学校食堂' \\gset
	select shilian.receive((select link from shilian.receipt_drafts(:k)), '500 pcs', $inspection, '2026-03-05 08:00+08') as c \\gset
	select shilian.consume(:'c', '100 pcs', 'served', '2026-03-05 12:00+08');
	select :'c'});
$c_lot = (split /\n/, $c_lot)[-1];
like($c_lot, qr/^310104\d{12}$/, 'C: the canteen receives the yogurt (a lot of C) and serves 100 pcs');

# ---- the same chain inside one province (a database of its own on A) ----
$node{A}->safe_psql('postgres', 'create database single');
$node{A}->safe_psql('single', 'create extension shilian');
$node{A}->safe_psql('single', qq{
	$setup_a
	select shilian.jurisdiction_add('370103', '市中区');
	select shilian.jurisdiction_add('370103001', '市中所');
	select shilian.operator_register('乳品厂', 'production', '{processor}', '370103001', '北京', '010-1', reg_card => 'S-D') as d \\gset
	select shilian.operator_activate(:d);
	select shilian.licence_add(:d, 'SC10511010500013', '{dairy}', '2020-01-01', '2099-12-31');
	select shilian.operator_register('便利店', 'circulation', '{retailer}', '370103001', '北京', '010-2', reg_card => 'S-R') as r \\gset
	select shilian.operator_activate(:r);
	select shilian.operator_register('学校食堂', 'catering', '{school_canteen}', '370103001', '上海', '021-1', reg_card => 'S-K') as k \\gset
	select shilian.operator_activate(:k);
	select shilian.product_register('酸奶', 'dairy', 21, '100g', owner => :d) as yogurt \\gset
	select shilian.batch_create(:f, :milk, '1000 L', '2026-03-02') as fl \\gset
	select shilian.receive(shilian.ship(:'fl', :d, '400 L', '2026-03-02'), '400 L', $inspection, '2026-03-03 09:00+08') as m \\gset
	select shilian.transform(array[:'m']::shilian.trace_code[], array['400 L']::shilian.qty[], :yogurt, '2000 pcs', '2026-03-03') as y \\gset
	select shilian.receive(shilian.ship(:'y', :r, '300 pcs', '2026-03-04'), '300 pcs', $inspection, '2026-03-04 10:00+08');
	select shilian.receive(shilian.ship(:'y', :k, '500 pcs', '2026-03-04'), '500 pcs', $inspection, '2026-03-05 08:00+08') as c \\gset
	select shilian.consume(:'c', '100 pcs', 'served', '2026-03-05 12:00+08');
	create table start as select :'fl'::text as code;});
my $one = decode_utf8 $node{A}->safe_psql('single', q{
	select string_agg(t.depth || ' ' || o.name || ' ' || t.qty_reached || ' ' || t.qty_on_hand || ' ' || t.status, E'\n'
		order by t.depth, o.name)
	  from start, shilian.trace_forward(start.code::shilian.trace_code) t join shilian.operator o on o.id = t.holder});
$t0 = time();
my $nat = decode_utf8 $node{A}->safe_psql('postgres', qq{
	select string_agg(depth || ' ' || holder_name || ' ' || qty_reached || ' ' || qty_on_hand || ' ' || status, E'\n'
		order by depth, holder_name) from shilian.trace_forward_national('$farm_lot')});
my $trace_ms = (time() - $t0) * 1000;
is($nat, $one, 'the national forward trace from the farm lot in A gives the lots, depths and quantities of the same chain in one province');
like($one, qr/^0 牧场 1000 L 600 L origin\n1 乳品厂 400 L 0 mL depleted\n2 乳品厂 400 L 1200 pcs on_hand\n3 便利店 60 L 300 pcs on_hand\n3 学校食堂 100 L 400 pcs on_hand$/,
	'(that chain: 1000 L, 400 L, 400 L in 2000 pcs, 60 L in 300 pcs and 100 L in 500 pcs)');
is($node{A}->safe_psql('postgres', qq{select string_agg(province, ' ' order by depth, province)
	from shilian.trace_forward_national('$farm_lot')}), '370000 110000 110000 110000 310000',
	'each lot is reported in its own province');
is($node{A}->safe_psql('postgres', qq{select string_agg(depth || ' ' || qty_reached, ',' order by depth, qty_reached)
	from shilian.trace_forward_national('$farm_lot', max_depth => 2)}), '0 1000 L,1 400 L,2 400 L',
	'max_depth bounds the links walked across borders too');
# as_of a moment after B's receipts and before C's: the same as in one province
my $as_of = q{'2026-03-04 12:00+08'};
is(decode_utf8($node{A}->safe_psql('postgres', qq{
	select string_agg(depth || ' ' || holder_name || ' ' || qty_reached || ' ' || qty_on_hand, E'\n' order by depth, holder_name)
	  from shilian.trace_forward_national('$farm_lot', as_of => $as_of)})),
	decode_utf8($node{A}->safe_psql('single', qq{
	select string_agg(t.depth || ' ' || o.name || ' ' || t.qty_reached || ' ' || t.qty_on_hand, E'\n' order by t.depth, o.name)
	  from start, shilian.trace_forward(start.code::shilian.trace_code, as_of => $as_of) t join shilian.operator o on o.id = t.holder})),
	'as_of crosses the border too: before the canteen\'s receipt, the same lots as in one province');
# B's national trace from its yogurt reaches C as well
is($node{B}->safe_psql('postgres', qq{select string_agg(province || ' ' || qty_reached, ',' order by depth, province)
	from shilian.trace_forward_national('$b_yog')}), '110000 2000 pcs,110000 300 pcs,310000 500 pcs',
	'B: a national trace from the yogurt crosses into C');

# national backward trace from the canteen's lot in C: the same as in one province
my $back_one = decode_utf8 $node{A}->safe_psql('single', q{
	select string_agg(t.depth || ' ' || o.name || ' ' || t.qty_reached || ' ' || t.qty_on_hand || ' ' || t.status, E'\n'
		order by t.depth, o.name)
	  from shilian.trace_backward((select b.trace_code from shilian.batch b join shilian.operator o on o.id = b.owner_id
			where o.name = '学校食堂')) t join shilian.operator o on o.id = t.holder});
my $back_nat = decode_utf8 $node{C}->safe_psql('postgres', qq{
	select string_agg(depth || ' ' || holder_name || ' ' || qty_reached || ' ' || qty_on_hand || ' ' || status, E'\n'
		order by depth, holder_name) from shilian.trace_backward_national('$c_lot')});
is($back_nat, $back_one, 'the national backward trace from the canteen lot in C gives the lots, depths and quantities of the same chain in one province');
like($back_one, qr/^0 学校食堂 500 pcs 400 pcs origin\n1 乳品厂 500 pcs 1200 pcs on_hand\n2 乳品厂 100 L 0 mL depleted\n3 牧场 100 L \d+ L on_hand$/,
	'(500 pcs of yogurt, made of 100 L of the dairy\'s milk, 100 L of the farm\'s)');
is($node{C}->safe_psql('postgres', qq{select string_agg(province, ' ' order by depth) from shilian.trace_backward_national('$c_lot')}),
	'310000 110000 110000 370000', 'each lot in its own province');

# a lot of another province, traced from A: its own province answers
is($node{A}->safe_psql('postgres', qq{select string_agg(province || ' ' || qty_reached, ',' order by depth, province)
	from shilian.trace_forward_national('$b_yog')}), '110000 2000 pcs,110000 300 pcs,310000 500 pcs',
	'A: a national trace of a lot of B asks B, as B itself does');
($ret, $out, $err) = $node{A}->psql('postgres', q{select * from shilian.trace_forward_national('440100000000000017')});
like($err, qr/SLR03|unknown batch|invalid/, 'an unknown lot of a province without a peer is the caller\'s error');

# ---- a national recall ----
my $rid = $node{A}->safe_psql('postgres', qq{set client_min_messages = warning;
	select shilian.recall_open_national('$farm_lot', '抗生素残留')});
is($node{A}->safe_psql('postgres', qq{select string_agg(province || ' ' || targets || ' ' || outstanding || ' ' || exposed || ' ' || status, ',' order by province desc)
	from shilian.recall_status_national($rid)}),
	'370000 1 1 1000 L open,310000 1 1 100 L open,110000 3 3 860 L open',
	'a recall opened in A reaches B and C (B\'s part asks C): targets and exposed quantities per province');
my $targets_q = q{select string_agg(t.depth || ' ' || t.holder_name || ' ' || t.qty_exposed || ' ' || t.qty_on_hand, E'\n' order by t.depth, t.holder_name)
	from shilian.recall_targets(%s) t};
my %rid = (A => $rid);
$rid{B} = $node{B}->safe_psql('postgres', q{select recall_id from shilian.federation_recall where direction = 'in'});
$rid{C} = $node{C}->safe_psql('postgres', q{select recall_id from shilian.federation_recall where direction = 'in'});
my $all = join("\n", grep { length } map { decode_utf8($node{$_}->safe_psql('postgres', sprintf($targets_q, $rid{$_}))) } qw(A B C));
$all = join("\n", sort split /\n/, $all);
my $single = decode_utf8($node{A}->safe_psql('single', q{set client_min_messages = warning;
	select shilian.recall_open(code::shilian.trace_code, 'x') as r from start \gset
	} . sprintf($targets_q, ':r')));
is($all, join("\n", sort split /\n/, $single), 'the targets of the three parts are the lots, holders, depths and exposed quantities of the same recall in one province');
$node{B}->safe_psql('postgres', qq{
	select shilian.recall_ack($rid{B}, (select id from shilian.operator where name = '乳品厂'), 'withdrawn');
	select shilian.recall_ack($rid{B}, (select id from shilian.operator where name = '便利店'), 'withdrawn');});
$node{C}->safe_psql('postgres', qq{
	select shilian.recall_ack($rid{C}, (select id from shilian.operator where name = '学校食堂'), 'destroyed', '400 pcs');});
is($node{A}->safe_psql('postgres', qq{select string_agg(province || ' ' || acknowledged || ' ' || outstanding, ',' order by province desc)
	from shilian.recall_status_national($rid)}), '370000 0 1,310000 1 0,110000 3 0',
	'the holders acknowledge in their own provinces; A collects their acknowledgements');
is($node{A}->safe_psql('postgres', qq{set client_min_messages = warning; select shilian.federation_recall_spread($rid)}), '1',
	'spreading again asks B again');
is(join(' ', map { $node{$_}->safe_psql('postgres', 'select count(*) from shilian.recall') } qw(A B C)), '1 1 1',
	'and opens nothing twice, in B or in C');

# ---- privacy ----
my $reg = decode_utf8 $node{A}->safe_psql('postgres', qq{
	begin; set local role prov_reg; set local shilian.jurisdiction = '370000';
	select string_agg(province || ' ' || coalesce(holder_name, '-') || ' ' || coalesce(qty_on_hand::text, '-') || ' '
		|| qty_reached || ' ' || status, ',' order by depth, province, qty_reached)
	  from shilian.trace_forward_national('$farm_lot'); commit;});
is($reg, '370000 牧场 600 L 1000 L origin,110000 - - 400 L other_province,110000 - - 400 L other_province,'
	. '110000 - - 60 L other_province,310000 - - 100 L other_province',
	'a provincial regulator sees where its lot went and how much, not who holds it across the border');
is($node{A}->safe_psql('postgres', qq{
	begin; set local role national_reg;
	select count(*) filter (where holder_name is not null and qty_on_hand is not null)
	  from shilian.trace_forward_national('$farm_lot'); commit;}), '5', 'the national regulator sees every holder');
($ret, $out, $err) = $node{A}->psql('postgres', qq{
	begin; set local role shilian_operator; set local shilian.operator_id = '1';
	select * from shilian.trace_forward_national('$farm_lot');});
like($err, qr/permission denied/, 'an operator may not run a national trace');
# a statement on B as a peer login: A's (peer_370000) unless named
my %login_pw = (peer_370000 => $pw{A}{B}, peer_310000 => $pw{C}{B}, peer_unbound => 'pw-unbound');
sub as_peer
{
	my ($sql, $password, $login) = @_;
	$login //= 'peer_370000';
	local $ENV{PGPASSWORD} = $password // $login_pw{$login};
	my $conn = 'host=' . $node{B}->host . ' port=' . $node{B}->port . " dbname=postgres user=$login";
	my ($stdout, $stderr) = run_command(['psql', '-X', '-At', '-v', 'VERBOSITY=verbose', '-d', $conn, '-c', $sql]);
	return $stdout . $stderr;
}
for my $probe ('select count(*) from shilian.batch', 'select count(*) from shilian.operator',
	"select * from shilian.trace_forward('$b_yog')", "select shilian.ship('$b_yog', 1, '1 pcs')",
	'select * from shilian.federation_outbox', "select shilian.province_peer('440000', 'host=x', 'a', 'b')")
{
	like(as_peer($probe), qr/permission denied/, "the peer login may not: $probe");
}
unlike(as_peer('select umoptions from pg_user_mappings'), qr/password/, 'the peer login reads no password');
like(as_peer('select 1', 'wrong'), qr/password authentication failed/, 'the peer login needs its password');
is(as_peer("select count(*) from shilian.federation_trace('$b_yog')"), '2', 'the peer login may walk (federation_trace)');
like(as_peer(qq{select shilian.federation_accept('{"origin":"440000","sale_id":1,"lot":{"code":"$farm_lot"},"qty":"1 L","buyer_uscc":"$u_dairy"}')}),
	qr/SLN05|no registered peer/, 'a sale from a province that is no peer of B is refused');
like(as_peer(qq{select shilian.federation_accept('{"origin":"310000","sale_id":1,"lot":{"code":"$farm_lot"},"qty":"1 L","buyer_uscc":"$u_dairy"}')},
	undef, 'peer_310000'), qr/not a lot of province 310000/, 'a lot of another province than the origin is refused');
# a peer login acts only for its own province (province_peer_login, SLN09)
my $b_state = q{select (select count(*) from shilian.federation_inbox) || ' ' || (select count(*) from shilian.link)
	|| ' ' || (select count(*) from shilian.batch) || ' ' || (select count(*) from shilian.operator)
	|| ' ' || (select count(*) from shilian.ledger) || ' ' || (select count(*) from shilian.recall)};
my $before = $node{B}->safe_psql('postgres', $b_state);
like(as_peer(qq{select shilian.federation_accept('{"origin":"310000","sale_id":7,"seller":{"uscc":"$u_canteen","name":"x"},"lot":{"code":"$c_lot"},"qty":"1 pcs","buyer_uscc":"$u_dairy","product":{"name":"酸奶","category":"dairy"},"shipped_on":"2026-03-05"}')}),
	qr/SLN09.*login peer_370000 is the login of province 370000: it may not act for province 310000/,
	'A\'s login may not deliver a sale claiming origin 310000 (SLN09)');
like(as_peer(qq{select shilian.federation_recall_accept('310000', 1, '$c_lot', 'x', 1, 'pcs', 1)}),
	qr/SLN09.*may not act for province 310000/, 'nor open a recall part as province 310000');
like(as_peer(qq{select shilian.federation_accept('{"origin":"370000","sale_id":8,"seller":{"uscc":"$u_farm"},"lot":{"code":"$farm_lot"},"qty":"1 L","buyer_uscc":"$u_dairy","product":{"name":"生牛乳","category":"dairy"},"shipped_on":"2026-03-05"}')},
	undef, 'peer_unbound'), qr/SLN09.*login peer_unbound is bound to no peer province/,
	'a member of shilian_peer bound to no province may not deliver at all');
is($node{B}->safe_psql('postgres', $b_state), $before, 'B: nothing was written by the refused deliveries and recall');
like(as_peer(qq{select province || ' ' || targets from shilian.federation_recall_status($rid{B})}), qr/^110000 3\b/m,
	'A\'s login reads the progress of the recall part B opened for A');
like(as_peer(qq{select * from shilian.federation_recall_status($rid{B})}, undef, 'peer_310000'), qr/SLT10.*unknown recall/,
	'C\'s login does not: the part is A\'s (SLT10, as an unknown recall)');
# a buyer the peer does not know: refused for good, not retried
my $sale3 = $node{A}->safe_psql('postgres', qq{select shilian.ship_cross_border('$farm_lot', '$u_nobody', '1 L', '2026-03-02')});
is($node{A}->safe_psql('postgres', q{select refused from shilian.federation_deliver()}), '1', 'a buyer C does not know: refused');
like($node{A}->safe_psql('postgres', qq{select status || ' ' || last_error from shilian.federation_outbox where id = $sale3}),
	qr/^refused buyer .* not registered/, 'with C\'s reason, and not retried');

# ---- an operator sells across the border through the gateway's pattern ----
my ($farm_id, $other_id) = split /\|/, (split /\n/, $node{A}->safe_psql('postgres', q{set client_min_messages = warning;
	select shilian.operator_register('邻场', 'production', '{farm}', '370102001', '济南', '0531-2', reg_card => 'A-X') as x \gset
	select shilian.operator_activate(:x);
	select (select id from shilian.operator where name = '牧场') || '|' || :x}))[-1];
my $op_lot = $node{A}->safe_psql('postgres', qq{select shilian.batch_create($farm_id,
	(select id from shilian.product where name = '生牛乳'), '50 L', '2026-03-07')});
sub as_operator
{
	my ($op, $sql) = @_;
	return err_of($node{A}, qq{begin; set local role shilian_operator; set local shilian.operator_id = '$op';
		$sql; commit;});
}
like(as_operator($other_id, qq{select shilian.ship_cross_border('$op_lot', '$u_dairy', '10 L', '2026-03-07')}),
	qr/SLR04/, 'an operator may not sell another\'s lot across the border (SLR04, the rule of ship)');
is(as_operator($farm_id, qq{select shilian.ship_cross_border('$op_lot', '$u_dairy', '10 L', '2026-03-07')}), '',
	'the holder, acting for itself, may');
is($node{A}->safe_psql('postgres', q{select province || ' ' || delivered from shilian.federation_deliver()}), '110000 1',
	'and its sale is delivered');
# B unbinds A's login: A's next sale waits (not refused) and goes once B binds it again
$node{B}->safe_psql('postgres', q{select shilian.province_peer_login_drop('peer_370000')});
my $sale4 = $node{A}->safe_psql('postgres', qq{select shilian.ship_cross_border('$op_lot', '$u_dairy', '5 L', '2026-03-07')});
is($node{A}->safe_psql('postgres', q{set client_min_messages = error;
	select province || ' ' || delivered || ' ' || refused || ' ' || pending from shilian.federation_deliver()}), '110000 0 0 1',
	'B unbound A\'s login: A\'s sale is neither delivered nor refused');
like($node{A}->safe_psql('postgres', qq{select status || ' ' || last_error from shilian.federation_outbox where id = $sale4}),
	qr/^pending SLN09: login peer_370000 is bound to no peer province/, 'it waits, with B\'s reason');
$node{B}->safe_psql('postgres', q{select shilian.province_peer_login('370000', 'peer_370000')});
is($node{A}->safe_psql('postgres', q{select province || ' ' || delivered || ' ' || pending from shilian.federation_deliver(due_only => false)}),
	'110000 1 0', 'bound again, the sale is delivered');

# ---- the buyer named by GLN (PGLN) and province ----
my $gln_dairy = '6901234000016';
$node{B}->safe_psql('postgres', qq{select shilian.gs1_location_register((select id from shilian.operator where name = '乳品厂'), '$gln_dairy')});
my $sale5 = $node{A}->safe_psql('postgres', qq{select shilian.ship_cross_border('$op_lot', null, '3 L', '2026-03-07',
	buyer_gln => 'urn:epc:id:pgln:6901234.00001', buyer_province => '110000')});
is($node{A}->safe_psql('postgres', qq{select coalesce(x.buyer_uscc::text, '-') || ' ' || x.buyer_gln || ' ' || x.province
	|| ' ' || (x.payload ? 'buyer_uscc') || ' ' || o.name || ' ' || fp.party_key || ' ' || g.uri || ' ' || g.registered_by
	from shilian.federation_outbox x join shilian.link l on l.id = x.link_id join shilian.operator o on o.id = l.buyer_id
	join shilian.federation_party fp on fp.operator_id = o.id join shilian.gs1_location g on g.operator_id = o.id
	where x.id = $sale5}),
	"- $gln_dairy 110000 false GLN $gln_dairy gln:$gln_dairy https://id.gs1.org/417/$gln_dairy federation",
	'A: a sale to a buyer of B named by PGLN (EPC URI): the outbox and the counterpart carry its GLN');
is($node{A}->safe_psql('postgres', q{select province || ' ' || delivered || ' ' || refused from shilian.federation_deliver()}),
	'110000 1 0', 'A delivers it');
is(decode_utf8($node{B}->safe_psql('postgres', qq{select count(*) || ' ' || min(d.qty::text) from shilian.receipt_drafts(
	(select id from shilian.operator where name = '乳品厂')) d where d.from_code::text = '$op_lot' and d.qty::text = '3 L'})),
	'1 3 L', 'B resolves the GLN to the dairy: its receipt draft');
my %gln_refusal = (
	"'$u_dairy', '1 L', buyer_gln => '$gln_dairy', buyer_province => '110000'" => [ 'SLN10', 'both a USCC and a GLN' ],
	"null, '1 L'" => [ 'SLN10', 'neither a USCC nor a GLN' ],
	"null, '1 L', buyer_gln => '$gln_dairy'" => [ 'SLN10', 'a GLN without the buyer\'s province' ],
	"null, '1 L', buyer_gln => '$gln_dairy', buyer_province => '1100'" => [ 'SLN10', 'a GLN with a malformed province' ],
	"null, '1 L', buyer_gln => '6901234000017', buyer_province => '110000'" => [ 'SLE10.*wrong check digit', 'a GLN with a wrong check digit' ],
	"null, '1 L', buyer_gln => 'urn:epc:id:sgln:6901234.00001.0', buyer_province => '110000'" => [ 'SLN10.*location', 'an SGLN (a location, not a party)' ],
	"'$u_dairy', '1 L', buyer_province => '310000'" => [ 'SLN10.*of province 110000, not 310000', 'a USCC and another province' ],
	"null, '1 L', buyer_gln => '6901234000023', buyer_province => '440000'" => [ 'SLN04', 'a GLN of a province without a peer' ],
	"null, '1 L', buyer_gln => '6901234000030', buyer_province => '370000'" => [ 'SLN03', 'a GLN with this province' ]);
$node{A}->safe_psql('postgres', qq{select shilian.gs1_location_register($farm_id, '6901234000047')});
$gln_refusal{"null, '1 L', buyer_gln => '6901234000047', buyer_province => '110000'"} = [ 'SLN03', 'the GLN of an operator of A' ];
for my $args (sort keys %gln_refusal)
{
	my ($code, $what) = @{ $gln_refusal{$args} };
	like(err_of($node{A}, qq{select shilian.ship_cross_border('$op_lot', $args, shipped_on => '2026-03-07')}), qr/$code/,
		"A: $what is refused ($code)");
}
# a GLN B does not know: refused there for good, as an unknown USCC
my $sale6 = $node{A}->safe_psql('postgres', qq{select shilian.ship_cross_border('$op_lot', null, '1 L', '2026-03-07',
	buyer_gln => '6901234000023', buyer_province => '110000')});
is($node{A}->safe_psql('postgres', q{select province || ' ' || delivered || ' ' || refused from shilian.federation_deliver()}),
	'110000 0 1', 'a GLN B does not know: refused');
like($node{A}->safe_psql('postgres', qq{select status || ' ' || last_error from shilian.federation_outbox where id = $sale6}),
	qr/^refused buyer GLN 6901234000023 is not registered on this platform$/, 'with B\'s reason, and not retried');
my $extra = 3;

# ---- measured figures ----
my $n = 200;
$node{A}->safe_psql('postgres', qq{
	select shilian.batch_create((select id from shilian.operator where name = '牧场'),
		(select id from shilian.product where name = '生牛乳'), '100000 L', '2026-03-06') as big \\gset
	select count(shilian.ship_cross_border(:'big', '$u_dairy', '1 L', '2026-03-06')) from generate_series(1, $n);});
$t0 = time();
is($node{A}->safe_psql('postgres', q{select delivered from shilian.federation_deliver() where province = '110000'}),
	$n, "$n sales delivered in one run");
my $rate = $n / (time() - $t0);
is($node{B}->safe_psql('postgres', q{select count(*) from shilian.federation_inbox where origin = '370000'}),
	$n + 1 + $extra, 'each once');
# a peer down during a national trace: reported, within its time limit
$node{C}->stop;
$t0 = time();
is($node{A}->safe_psql('postgres', qq{set client_min_messages = error;
	select string_agg(province || ' ' || status, ',' order by depth, province, status) from shilian.trace_forward_national('$farm_lot')}),
	'370000 origin,110000 depleted,110000 on_hand,310000 peer_unreachable,110000 on_hand',
	'C down: its part is one row peer_unreachable (the lot sold to it, at that lot\'s depth), the rest as before');
my $down_ms = (time() - $t0) * 1000;
ok($down_ms < 10_000, 'within the time limit');
# a recall opened while C is down: C's part waits, and catches up
my $rid2 = $node{A}->safe_psql('postgres', qq{set client_min_messages = error;
	select shilian.recall_open_national('$farm_lot', '复查')});
like($node{A}->safe_psql('postgres', qq{set client_min_messages = error; select string_agg(province || ' ' || status, ',' order by province desc)
	from shilian.recall_status_national($rid2)}), qr/^370000 open,310000 unreachable: .*,110000 open$/,
	'a recall opened while C is down: B\'s part is open, C\'s unreachable (as B reports it)');
$node{C}->start;
$node{A}->safe_psql('postgres', qq{set client_min_messages = error; select shilian.federation_recall_spread($rid2)});
is($node{A}->safe_psql('postgres', qq{select string_agg(province || ' ' || targets || ' ' || exposed || ' ' || status, ',' order by province desc)
	from shilian.recall_status_national($rid2)}), '370000 1 1000 L open,310000 1 100 L open,110000 3 860 L open',
	'C is back: spreading again opens its part, with the same quantities');
# two deliverers at once: every sale once
$node{A}->safe_psql('postgres', qq{
	select shilian.batch_create((select id from shilian.operator where name = '牧场'),
		(select id from shilian.product where name = '生牛乳'), '100000 L', '2026-03-06') as big \\gset
	select count(shilian.ship_cross_border(:'big', '$u_dairy', '2 L', '2026-03-06')) from generate_series(1, 100);});
my @h;
for (1 .. 2)
{
	push @h, IPC::Run::start(['psql', '-X', '-At', '-d', $node{A}->connstr('postgres'),
		'-c', 'select delivered from shilian.federation_deliver()'], '>', \my $o, '2>', \my $e);
}
$_->finish for @h;
is($node{A}->safe_psql('postgres', q{select count(*) filter (where status = 'delivered') || ' ' || count(*) filter (where status = 'pending')
	from shilian.federation_outbox where province = '110000'}), ($n + 101 + $extra) . ' 0', 'two deliverers at once deliver every sale');
is($node{B}->safe_psql('postgres', q{select count(*) || ' ' || count(distinct link_id) from shilian.federation_inbox where origin = '370000'}),
	($n + 101 + $extra) . ' ' . ($n + 101 + $extra), 'and each one once');
is($node{B}->safe_psql('postgres', q{select count(*) from shilian.link l join shilian.federation_party p on p.operator_id = l.seller_id
	where p.province = '370000'}), $n + 101 + $extra, 'one receipt draft per sale');

# a peer dropped: no new sale to its province
$node{A}->safe_psql('postgres', q{select shilian.province_peer_drop('310000')});
like(err_of($node{A}, qq{select shilian.ship_cross_border('$farm_lot', '$u_canteen', '1 L', '2026-03-02')}), qr/SLN04/,
	'after province_peer_drop a sale to that province is refused (SLN04)');
is($node{A}->safe_psql('postgres', q{select count(*) from pg_foreign_server where srvname = 'shilian_peer_310000'}), '0',
	'and its server and user mapping are gone');

diag(sprintf('measured: %.0f cross-border sales/s delivered (one connection per peer and run); national trace over three provinces %.0f ms, with one peer down %.0f ms', $rate, $trace_ms, $down_ms));

done_testing();
