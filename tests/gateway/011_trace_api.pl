# Trace, public trace and recall over real HTTP, as each role sees them:
# a regulator traces its whole subtree, an operator one step up and down, a
# county regulator up to its border; anyone reads the consumer view with the
# lot's public token (no login), and nothing without it; a county regulator opens a recall that crosses into the next
# county, holders acknowledge their own lots only, closing is refused while
# lots are outstanding and to other jurisdictions, and the FSMA-style CSV
# lists every affected lot.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Encode ();
use JSON::PP;
use ShilianTest;

my $node = shilian_node('gw_trace');
# farm (历城 370112) → wholesaler (历下 370102) → retailer (历下); the retailer sells some.
my $ids = $node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370102', '历下区');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370102001', '泉城路所');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	create temp table ids as select
		shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', '历城', '1', uscc => '91370112MA3C00001X') as farm,
		shilian.operator_register('泉城批发', 'circulation', '{wholesaler}', '370102001', '历下', '2', uscc => '91370102MA3C00002H') as wholesaler,
		shilian.operator_register('历下超市', 'circulation', '{retailer}', '370102001', '历下', '3', uscc => '91370211MA3C00003T') as retailer;
	select shilian.operator_activate(x) from ids, unnest(array[farm, wholesaler, retailer]) x;
	select shilian.licence_add(wholesaler, 'JY13701020000018', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select shilian.licence_add(retailer, 'JY13701020000026', '{vegetables}', '2024-01-01', '2030-12-31') from ids;
	select farm || ' ' || wholesaler || ' ' || retailer from ids;
});
my ($farm, $wholesaler, $retailer) = split ' ', (split /\n/, $ids)[-1];
my $codes = $node->safe_psql('postgres', qq{
	set client_min_messages = warning;
	select shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true) as p \\gset
	select shilian.batch_create($farm, :p, '500 kg', current_date - 1) as c1 \\gset
	select shilian.ship(:'c1', $wholesaler, '200 kg') as l1 \\gset
	select shilian.receive(:l1, '200 kg', '{"inspector":"李四"}') as c2 \\gset
	select shilian.ship(:'c2', $retailer, '50 kg') as l2 \\gset
	select shilian.receive(:l2, '50 kg', '{"inspector":"王五"}') as c3 \\gset
	select shilian.consume(:'c3', '10 kg', 'retail_sold');
	select :'c1' || ' ' || :'c2' || ' ' || :'c3';
});
my ($c1, $c2, $c3) = split ' ', (split /\n/, $codes)[-1];
ok($c1 && $c2 && $c3, 'a three-step chain');

my $gw = start_gateway($node,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my %tok = (
	province => make_jwt({ role => 'regulator', jurisdiction => '370000' }),
	licheng => make_jwt({ role => 'regulator', jurisdiction => '370112' }),
	lixia => make_jwt({ role => 'regulator', jurisdiction => '370102' }),
	farm => make_jwt({ role => 'operator', operator_id => $farm }),
	wholesaler => make_jwt({ role => 'operator', operator_id => $wholesaler }),
	retailer => make_jwt({ role => 'operator', operator_id => $retailer }),
);

sub call
{
	my ($who, $method, $path, $body) = @_;
	my $r = http_call($gw, $method, $path, defined $body ? (body => encode_json($body)) : (),
		headers => { ($who ? (Authorization => "Bearer $tok{$who}") : ()), 'Content-Type' => 'application/json' });
	$r->{json} = json_body($r);
	return $r;
}
sub reached { my ($r) = @_; return join ' ', sort map { $_->{batch} } @{ $r->{json} // [] }; }

# ---- trace, as each role sees it -------------------------------------------------
my $r = call('province', 'GET', "/v1/trace/$c1/forward");
is($r->{status}, 200, 'province regulator: forward trace');
is(reached($r), join(' ', sort $c1, $c2, $c3), 'reaches the farm lot, the wholesaler\'s and the retailer\'s');
my ($at3) = grep { $_->{batch} eq $c3 } @{ $r->{json} };
is($at3->{qty_reached}, '50 kg', 'the retailer received 50 kg of the farm lot');
is($at3->{qty_on_hand}, '40 kg', 'and has 40 kg on hand after selling 10');
is($at3->{depth}, 2, 'two steps from the farm');
$r = call('province', 'GET', "/v1/trace/$c3/backward");
is(reached($r), join(' ', sort $c1, $c2, $c3), 'backward from the retailer reaches the farm');
$r = call('province', 'GET', "/v1/trace/$c1/forward?max_depth=1");
is(reached($r), join(' ', sort $c1, $c2), 'max_depth=1 stops after one step');
$r = call('province', 'GET', "/v1/trace/$c1/graph");
is($r->{status}, 200, 'graph');
is(scalar @{ $r->{json}{nodes} }, 3, 'graph: three nodes');
is(scalar @{ $r->{json}{edges} }, 2, 'graph: two edges');

$r = call('farm', 'GET', "/v1/trace/$c1/forward");
is($r->{status}, 200, 'the farm traces its own lot');
unlike(reached($r), qr/$c3/, 'the farm does not see its customer\'s customer');
$r = call('licheng', 'GET', "/v1/trace/$c1/forward");
unlike(reached($r), qr/$c3/, 'the farm\'s county regulator stops at its border');
# ISO 22005: each party sees one step up and one step down from its own lots.
$r = call('wholesaler', 'GET', "/v1/trace/$c2/backward");
is(reached($r), join(' ', sort $c1, $c2), 'the wholesaler traces its lot back to its supplier\'s lot');
$r = call('wholesaler', 'GET', "/v1/trace/$c2/forward");
is(reached($r), join(' ', sort $c2, $c3), 'and forward to its customer\'s lot');
$r = call('retailer', 'GET', "/v1/trace/$c3/backward");
is(reached($r), join(' ', sort $c2, $c3), 'the retailer sees its supplier\'s lot but not the farm behind it');
my ($sup) = grep { $_->{batch} eq $c2 } @{ $r->{json} };
is($sup->{status}, 'other_holder', 'the supplier\'s lot is another holder\'s');
ok(!defined $sup->{qty_on_hand}, 'and its stock on hand is not shown');
is($sup->{holder}, $wholesaler, 'but its holder is named');
is(call('retailer', 'GET', "/v1/batches/$c2")->{status}, 404, 'the supplier\'s batch row itself stays private');
$r = call('farm', 'GET', "/v1/trace/$c3/forward");
is($r->{status}, 422, 'a lot two steps away is invisible: an unknown batch');
is($r->{json}{code}, 'SLR03', 'SLR03, the same as a lot that does not exist');
is(call('farm', 'GET', '/v1/trace/123/forward')->{status}, 400, 'a malformed trace code: 400');

# ---- the consumer view, no login, the lot's public token ------------------------------
# The holder reads its lot's token and the page's path (printed in the QR).
$r = call('retailer', 'GET', "/v1/batches/$c3");
my $t3 = $r->{json}{public_token};
like($t3, qr/^[0-9a-hjkmnp-tv-z]{10}$/, 'the holder\'s batch read carries the public token');
is($r->{json}{public_path}, "/v1/public/trace/$c3?t=$t3", 'and the public page\'s path with it');
is($t3, $node->safe_psql('postgres', "SELECT shilian.public_token('$c3')"), 'the token is public_token\'s');
# The token is computed once per read (an HMAC and a may_see), not once for
# each of the two fields: counted by the statistics of the PL/pgSQL
# function, which the gateway's session reports when it goes idle.
$node->safe_psql('postgres', "ALTER SYSTEM SET track_functions = 'pl'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $token_calls = sub {
	$node->safe_psql('postgres', "SELECT coalesce((SELECT calls FROM pg_stat_user_functions"
		. " WHERE schemaname = 'shilian' AND funcname = 'public_token'), 0)");
};
sleep 1;	# the gateway's sessions take the reload at their next command
call('retailer', 'GET', "/v1/batches/$c3");	# (and report any earlier calls)
my $calls0 = $token_calls->();
for (1 .. 40) { last if $token_calls->() != $calls0; usleep(250_000); }
$calls0 = $token_calls->();
is(call('retailer', 'GET', "/v1/batches/$c3")->{json}{public_token}, $t3, 'the same token read again');
my $calls1 = $calls0;
for (1 .. 60) { $calls1 = $token_calls->(); last if $calls1 != $calls0; usleep(250_000); }
is($calls1 - $calls0, 1, 'GET /v1/batches/{code} computes the token once');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET track_functions');
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
$r = call(undef, 'GET', "/v1/public/trace/$c3?t=$t3");
is($r->{status}, 200, 'public trace with the lot\'s token, no login');
like($r->{content}, qr/大白菜/, 'names the product');
unlike($r->{content}, qr/\bkg\b/, 'shows no quantities');
my @custody = map { $_->{holder} } @{ $r->{json}{custody} // [] };
# (the JSON is decoded to characters; this file's literals are UTF-8 bytes)
is_deeply(\@custody, [ Encode::decode_utf8('绿源合作社'), undef, Encode::decode_utf8('历下超市') ],
	'the chain of custody of this lot, farm to shelf: producer and final seller named, the wholesaler not');
is_deeply([ map { $_->{segment} . ' ' . $_->{region} } @{ $r->{json}{custody} } ],
	[ 'production 370112', 'circulation 370102', 'circulation 370102' ], 'every holder by segment and region');
unlike($r->{content}, qr/泉城批发/, 'the wholesaler\'s name appears nowhere on the page');
# Without the token, with another lot's, or for a code no lot has: one answer.
my $c1t = call('farm', 'GET', "/v1/batches/$c1")->{json}{public_token};
my %seen;
for my $try ([ $c3, '' ], [ $c3, '?t=' ], [ $c3, "?t=$c1t" ], [ $c3, '?t=' . ('0' x 10) ], [ $c1, "?t=$t3" ])
{
	my $x = call(undef, 'GET', "/v1/public/trace/$try->[0]$try->[1]");
	(my $body = $x->{content}) =~ s/$try->[0]/CODE/g;
	$seen{"$x->{status} $body"}++;
}
is(scalar keys %seen, 1, 'no token, an empty one, another lot\'s, a wrong one: all the same reply');
my ($one) = keys %seen;
like($one, qr/^404 .*"code":\s*"SLP01"/s, 'a 404 with SLP01');
is(call('wholesaler', 'GET', "/v1/batches/$c3")->{status}, 404, 'another operator gets no token (the row is hidden)');
my $has_qty;
my $walk;
$walk = sub { my $v = shift; if (ref $v eq 'HASH') { for (keys %$v) { $has_qty = 1 if /qty|quantity|price/; $walk->($v->{$_}) } } elsif (ref $v eq 'ARRAY') { $walk->($_) for @$v } };
$walk->($r->{json});
ok(!$has_qty, 'no quantity or price field anywhere in the consumer view');
is(call(undef, 'GET', "/v1/trace/$c1/forward")->{status}, 401, 'the full trace needs a token');

# ---- recall -------------------------------------------------------------------------
is(call('farm', 'POST', '/v1/recalls', { code => $c1, reason => 'x' })->{status}, 403, 'an operator cannot open a recall');
$r = call('licheng', 'POST', '/v1/recalls', { code => $c1, reason => '农药残留超标' });
is($r->{status}, 201, 'the farm\'s county regulator opens a recall');
my $rid = $r->{json}{id};
like($rid, qr/^\d+$/, 'recall id');

$r = call('licheng', 'GET', "/v1/recalls/$rid/targets");
is(join(' ', sort map { $_->{batch} } @{ $r->{json} }), join(' ', sort $c1, $c2, $c3),
	'the opening regulator sees every target, across the county border');
$r = call('retailer', 'GET', "/v1/recalls/$rid/targets");
is(join(' ', map { $_->{batch} } @{ $r->{json} }), $c3, 'a holder sees only its own lot');
$r = call('lixia', 'GET', "/v1/recalls/$rid/targets");
is(join(' ', sort map { $_->{batch} } @{ $r->{json} }), join(' ', sort $c2, $c3), 'the next county sees its own holders\' lots');
$r = call('licheng', 'GET', "/v1/recalls/$rid");
is($r->{json}{outstanding}, 3, 'three lots outstanding');
is($r->{json}{holders}, 3, 'held by three operators');
$r = call('retailer', 'GET', "/v1/recalls/$rid");
is_deeply([ @{ $r->{json} }{qw(targets outstanding holders)} ], [ 1, 1, 1 ],
	'a holder reads the recall\'s figures over its own lot only, not the other holders\'');
is_deeply($r->{json}{on_hand_outstanding}, ['40 kg'], 'and only its own quantity on hand');

$r = call('retailer', 'POST', "/v1/recalls/$rid/ack", { operator => $wholesaler, disposition => 'withdrawn' });
is($r->{status}, 403, 'a holder cannot acknowledge for another');
$r = call('retailer', 'POST', "/v1/recalls/$rid/ack", { disposition => 'withdrawn', qty_recovered => '40 kg' });
is($r->{status}, 200, 'the retailer withdraws its 40 kg');
is($r->{json}{acknowledged}, 1, 'one lot acknowledged');
$r = call('retailer', 'POST', "/v1/recalls/$rid/ack", { disposition => 'withdrawn' });
is($r->{status}, 422, 'acknowledging twice: 422');
is($r->{json}{code}, 'SLT13', 'with its code');

is(call('lixia', 'POST', "/v1/recalls/$rid/close", {})->{status}, 403, 'another county cannot close the recall');
$r = call('licheng', 'POST', "/v1/recalls/$rid/close", {});
is($r->{status}, 422, 'closing with lots outstanding: 422');
is($r->{json}{code}, 'SLT17', 'with its code');

$r = call('licheng', 'GET', "/v1/recalls/$rid/export");
is($r->{status}, 200, 'export');
like($r->{headers}{'content-type'}, qr{^text/csv}, 'as CSV');
my @lines = split /\r?\n/, $r->{content};
like($lines[0], qr/^traceability_lot_code,product_description,quantity/, 'FSMA 204 header');
is(scalar @lines, 4, 'one line per affected lot');

$r = call('licheng', 'POST', "/v1/recalls/$rid/close", { force_reason => '批发商已下架, 农户无库存' });
is($r->{status}, 200, 'a forced close with a reason');
is(call('licheng', 'GET', "/v1/recalls/$rid")->{json}{status}, 'closed', 'the recall is closed');

is($node->safe_psql('postgres', q{select count(*) from shilian.ledger where kind like 'recall%'}), '3',
	'open, acknowledgement and close are in the ledger');

stop_gateway($gw);
$node->stop;
done_testing();
