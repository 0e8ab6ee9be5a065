# trace_forward / trace_backward against reference answers on random DAGs of
# several shapes (seeded, so a failure reproduces): the set of reached
# batches against a set-form WITH RECURSIVE query, each batch's depth against
# the shortest distance from a depth-carrying WITH RECURSIVE query, and each
# qty_reached against the apportioning rule of docs/trace.md computed here in
# Perl; both directions, with and without max_depth. Pending and rejected
# links are mixed in and must never count. Then: NOTIFY on recall_open, and
# statement_timeout cancelling a long walk mid-way.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;
use Time::HiRes qw(time);

my $node = shilian_node('trace');
my $seed = $ENV{SHILIAN_TRACE_SEED} // 20261129;
srand($seed);
note("seed $seed");

$node->safe_psql('postgres', q{
	INSERT INTO shilian.jurisdiction (code, name, level, parent, ancestors)
	VALUES ('370000', '山东省', 'province', NULL, '{370000}');
	INSERT INTO shilian.operator (reg_card, name, address, contact, segment, kinds, station, status)
	VALUES ('DAG-1', 'dag operator', 'x', 'x', 'production', '{farm}', '370000', 'active');
	INSERT INTO shilian.product (name, category) VALUES ('dag product', 'other');
});

# Shapes: each returns (n, [[from, to, qty_kg, status], ...]) (node numbers
# 1..n are batch ids) and optionally each id's rank in a topological order;
# without ranks every link goes from a smaller to a larger id, so id order is
# a topological order (as on a real province: a link leads to a lot recorded
# later). The shapes 'shuffled' (links to smaller ids too, as a receipt into
# an older lot) and 'hub' (one lot's links over several leaf pages of
# link_from_idx, 1,500 lots over many) test the forward walk's sweep in id
# order (trace.c, "the forward sweep") where it leaves its usual path.
sub rnd { my ($a, $b) = @_; return $a + int(rand($b - $a + 1)); }

sub status_mix { my $r = rand(); return $r < 0.05 ? 'pending' : $r < 0.08 ? 'rejected' : 'received'; }

my %shapes = (
	# tiers farm -> processor -> wholesaler -> retailer with fan-out and fan-in
	tiers => sub {
		my @tier = (40, 30, 30, 100);
		my (@first, $n, @e);
		$n = 0;
		for my $t (@tier) { push @first, $n + 1; $n += $t; }
		for my $t (1 .. $#tier)
		{
			for my $v ($first[$t] .. $first[$t] + $tier[$t] - 1)
			{
				for (1 .. rnd(1, 4))
				{
					my $u = $first[$t - 1] + int(rand($tier[$t - 1]));
					push @e, [ $u, $v, rnd(1, 50), status_mix() ];
				}
			}
		}
		return ($n, \@e);
	},
	# any earlier node may feed any later one
	random => sub {
		my $n = 250;
		my @e;
		for my $v (2 .. $n) { for (1 .. rnd(0, 4)) { push @e, [ 1 + int(rand($v - 1)), $v, rnd(1, 50), status_mix() ]; } }
		return ($n, \@e);
	},
	# a lattice of diamonds: every node feeds the next two of the next row
	diamonds => sub {
		my ($w, $h) = (12, 20);
		my @e;
		for my $r (0 .. $h - 2)
		{
			for my $c (0 .. $w - 1)
			{
				my $u = $r * $w + $c + 1;
				push @e, [ $u, ($r + 1) * $w + $c + 1, rnd(1, 50), status_mix() ];
				push @e, [ $u, ($r + 1) * $w + ($c + 1) % $w + 1, rnd(1, 50), status_mix() ] if $w > 1;
			}
		}
		return ($w * $h, \@e);
	},
	# a random DAG whose ids are shuffled: links lead to smaller ids as often
	# as to larger ones
	shuffled => sub {
		my $n = 300;
		my @perm = (1 .. $n);
		for my $i (reverse 1 .. $#perm) { my $j = int(rand($i + 1)); @perm[ $i, $j ] = @perm[ $j, $i ]; }
		my (@e, @rank);
		$rank[ $perm[$_] ] = $_ for 0 .. $#perm;
		for my $v (1 .. $n - 1)
		{
			for (1 .. rnd(0, 4)) { push @e, [ $perm[ int(rand($v)) ], $perm[$v], rnd(1, 50), status_mix() ]; }
		}
		return ($n, \@e, \@rank);
	},
	# a hub lot with 700 sales (its index entries span several leaf pages),
	# each buyer's lot sold on to a few of 800 more
	hub => sub {
		my @e;
		push @e, [ 1, $_, rnd(1, 5), $_ % 50 ? 'received' : 'pending' ] for 2 .. 701;
		for my $u (2 .. 701) { for (1 .. rnd(0, 2)) { push @e, [ $u, 702 + int(rand(800)), rnd(1, 5), status_mix() ]; } }
		return (1501, \@e);
	},
	# production lines where each lot carries residue of the previous one,
	# each lot shipped on to a few customers' lots
	carryover => sub {
		my ($lines, $lots) = (4, 40);
		my (@e, @lot);
		my $n = 0;
		for my $l (1 .. $lines) { for my $k (1 .. $lots) { push @{ $lot[$l] }, ++$n; } }
		for my $l (1 .. $lines)
		{
			for my $k (1 .. $lots - 1)
			{
				push @e, [ $lot[$l][ $k - 1 ], $lot[$l][$k], rnd(1, 5), 'received' ] if rand() < 0.95;
			}
		}
		my $first_cust = $n + 1;
		$n += 150;
		for my $l (1 .. $lines)
		{
			for my $k (0 .. $lots - 1)
			{
				for (1 .. rnd(1, 3)) { push @e, [ $lot[$l][$k], $first_cust + int(rand(150)), rnd(1, 20), status_mix() ]; }
			}
		}
		return ($n, \@e);
	},
);

my $checks = 0;
my $vacuum = 0;
for my $shape (sort keys %shapes)
{
	my ($n, $edges, $rank) = $shapes{$shape}->();
	$rank //= [ 0 .. $n ];
	# a lot's quantity: what it ships plus some left over
	my @qty = (0) x ($n + 1);
	$qty[ $_->[0] ] += $_->[2] for @$edges;
	$qty[$_] += rnd(1, 30) for 1 .. $n;
	my $qtys = join(',', @qty[ 1 .. $n ]);
	my ($ef, $et, $eq, $es) = map { my $i = $_; join(',', map { $i == 3 ? "'$_->[$i]'" : $_->[$i] } @$edges) } 0 .. 3;
	$node->safe_psql('postgres', qq{
		TRUNCATE shilian.link, shilian.batch, shilian.recall, shilian.recall_target RESTART IDENTITY CASCADE;
		INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
		SELECT shilian.trace_code_next('370000'), 1, 1, shilian.qty(q, 'kg'), shilian.qty(q, 'kg'), '2026-01-01', 'produced'
		  FROM unnest(ARRAY[$qtys]::numeric[]) WITH ORDINALITY AS t(q, i) ORDER BY i;
		INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
			shipped_on, received_at, status)
		SELECT 'ship', f, CASE WHEN s = 'received' THEN t END, 1, 1, shilian.qty(q, 'kg'),
			CASE WHEN s = 'received' THEN shilian.qty(q, 'kg') END, '2026-01-02',
			CASE WHEN s <> 'pending' THEN timestamptz '2026-01-02 10:00+08' END, s
		  FROM unnest(ARRAY[$ef]::bigint[], ARRAY[$et]::bigint[], ARRAY[$eq]::numeric[], ARRAY[$es]::text[]) AS u(f, t, q, s);
		ANALYZE shilian.batch; ANALYZE shilian.link;
	});
	# every other shape on a vacuumed table: the walk then reads the links
	# index-only (the visibility map says all-visible), else from the heap
	$node->safe_psql('postgres', 'VACUUM shilian.link') if $vacuum++ % 2;

	# adjacency over received links only
	my (%out, %in);
	for my $e (@$edges)
	{
		next unless $e->[3] eq 'received';
		push @{ $out{ $e->[0] } }, $e;
		push @{ $in{ $e->[1] } }, $e;
	}

	for my $dir ('forward', 'backward')
	{
		my $fwd = $dir eq 'forward';
		my @roots = map { 1 + int(rand($n)) } 1 .. 4;
		# a root with something to reach in this direction
		push @roots, ($fwd ? $edges->[0][0] : $edges->[-1][1]);
		for my $root (@roots)
		{
			for my $maxd (undef, 1, 3)
			{
				# expected: BFS distances, then shares in topological order
				my %dist = ($root => 0);
				my @queue = ($root);
				while (@queue)
				{
					my $u = shift @queue;
					next if defined $maxd && $dist{$u} >= $maxd;
					for my $e (@{ ($fwd ? $out{$u} : $in{$u}) // [] })
					{
						my $v = $fwd ? $e->[1] : $e->[0];
						next if exists $dist{$v};
						$dist{$v} = $dist{$u} + 1;
						push @queue, $v;
					}
				}
				my %val = ($root => $qty[$root]);
				my @order = sort { $fwd ? $rank->[$a] <=> $rank->[$b] : $rank->[$b] <=> $rank->[$a] } keys %dist;
				for my $u (@order)
				{
					next if defined $maxd && $dist{$u} >= $maxd;
					for my $e (@{ ($fwd ? $out{$u} : $in{$u}) // [] })
					{
						my $v = $fwd ? $e->[1] : $e->[0];
						# forward: share of the root's quantity; backward: of the source lot
						$val{$v} += $fwd ? $val{$u} * $e->[2] / $qty[$u] : $val{$u} / $qty[$u] * $e->[2];
					}
				}
				my $md = defined $maxd ? $maxd : 'NULL';
				my $got = $node->safe_psql('postgres', qq{
					SELECT b.id || ':' || t.depth || ':' || shilian.qty_in(t.qty_reached, 'kg')
					  FROM shilian.trace_$dir((SELECT trace_code FROM shilian.batch WHERE id = $root), $md) t
					  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) t.batch ORDER BY b.id});
				my ($from, $to) = $fwd ? ('from_batch', 'to_batch') : ('to_batch', 'from_batch');
				my $depth_cond = defined $maxd ? "WHERE r.d < $maxd" : '';
				my $ref = $node->safe_psql('postgres', qq{
					WITH RECURSIVE r(id, d) AS (SELECT ${root}::bigint, 0
						UNION SELECT l.$to, r.d + 1 FROM r JOIN shilian.link l ON l.$from = r.id
						 AND l.status = 'received' $depth_cond)
					SELECT id || ':' || min(d) FROM r GROUP BY id ORDER BY id});
				my $set = $node->safe_psql('postgres', qq{
					WITH RECURSIVE r(id) AS (SELECT ${root}::bigint
						UNION SELECT l.$to FROM r JOIN shilian.link l ON l.$from = r.id AND l.status = 'received')
					SELECT string_agg(id::text, ',' ORDER BY id) FROM r});
				my (@gid, @gdepth, $qty_ok);
				$qty_ok = 1;
				for my $line (split /\n/, $got)
				{
					my ($id, $d, $q) = split /:/, $line;
					push @gid, $id;
					push @gdepth, "$id:$d";
					if (abs($q - $val{$id}) > 0.002)
					{
						$qty_ok = 0;
						diag("$shape $dir root $root max $md batch $id: qty_reached $q, expected $val{$id}");
					}
				}
				my $label = "$shape $dir from $root, max_depth $md";
				is(join("\n", @gdepth), $ref, "$label: batches and depths = WITH RECURSIVE");
				is(join(',', @gid), $set, "$label: same set as the set-form WITH RECURSIVE") unless defined $maxd;
				ok($qty_ok, "$label: qty_reached by the apportioning rule");
				# forward without a depth limit the walk sweeps in id order;
				# with one it goes level by level: the same rows in the same
				# order, first links included
				if ($fwd && !defined $maxd)
				{
					my $rows = "SET client_min_messages = debug1; SELECT * FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = $root)";
					my (undef, $sweep, $sweep_err) = $node->psql('postgres', "$rows)", on_error_die => 1);
					my (undef, $levels, $levels_err) = $node->psql('postgres', "$rows, 2147483647)", on_error_die => 1);
					is($sweep, $levels, "$label: the sweep's rows = the level walk's, in order");
					like($sweep_err, qr/one sweep in id order over \d+ lots/, "$label: the walk swept");
					unlike($levels_err, qr/one sweep in id order/, "$label: with a depth limit it went level by level");
				}
				$checks++;
			}
		}
	}
}
note("$checks walks compared");

# batch_pkey with posting lists. A snapshot held open keeps every version of
# the lots' rows: updated again and again, they fill their heap pages, the
# later versions go to other pages with entries of their own in batch_pkey,
# and btree deduplicates one key's entries into a posting list rather than
# split the page. The sweep reads each reached lot's row through batch_pkey
# as it goes: through a posting list it must find the one version its
# snapshot sees, and return the rows the level walk returns (which reads
# batch_pkey by an ordinary index scan).
{
	$node->safe_psql('postgres', q{
		TRUNCATE shilian.link, shilian.batch, shilian.recall, shilian.recall_target RESTART IDENTITY CASCADE;
		INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
		SELECT shilian.trace_code_next('370000'), 1, 1, shilian.qty(100, 'kg'), shilian.qty(100 - i % 7, 'kg'), '2026-01-01', 'produced'
		  FROM generate_series(1, 600) i;
		-- a fan (1 to 2 .. 40), then each lot to the next two
		INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
			shipped_on, received_at, status)
		SELECT 'ship', f, t, 1, 1, shilian.qty(1, 'kg'), shilian.qty(1, 'kg'), '2026-01-02', timestamptz '2026-01-02 10:00+08', 'received'
		  FROM (SELECT 1 AS f, t FROM generate_series(2, 40) t
				UNION ALL SELECT f, f + d FROM generate_series(40, 597) f, generate_series(1, 2) d) x;
		CREATE EXTENSION IF NOT EXISTS pageinspect;
	});
	my $holder = $node->background_psql('postgres');
	$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM shilian.batch;');
	# qty_left changes, and stays what the last update wrote: 100 - i % 7 - 12
	$node->safe_psql('postgres', q{SET session_replication_role = replica;
		UPDATE shilian.batch SET qty_left = shilian.qty(shilian.qty_in(qty_left, 'kg') - 1, 'kg');})
		for 1 .. 12;
	my $postings = $node->safe_psql('postgres', q{
		SELECT count(*) FROM generate_series(1, (pg_relation_size('shilian.batch_pkey') / 8192)::int - 1) b,
			LATERAL bt_page_items('shilian.batch_pkey', b) i
		 WHERE cardinality(i.tids) > 1});
	cmp_ok($postings, '>', 100, "batch_pkey holds posting lists ($postings keys): versions an open snapshot keeps");
	for my $root (1, 40, 300)
	{
		my $rows = "SET client_min_messages = debug1; SELECT batch, holder, depth, via_link, qty_reached, qty_on_hand, status"
			. " FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = $root)";
		my (undef, $sweep, $sweep_err) = $node->psql('postgres', "$rows)", on_error_die => 1);
		my (undef, $levels) = $node->psql('postgres', "$rows, 2147483647)", on_error_die => 1);
		is($sweep, $levels, "posting lists, forward from $root: the sweep's rows = the level walk's, in order");
		like($sweep_err, qr/one sweep in id order over \d+ lots: .*; their rows: \d+ descents of batch_pkey/,
			"posting lists, forward from $root: the sweep read the lots' rows through batch_pkey");
		my $left = $node->safe_psql('postgres', qq{
			SELECT count(*) FILTER (WHERE shilian.qty_in(t.qty_on_hand, 'kg') = 100 - b.id % 7 - 12) || '/' || count(*)
			  FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = $root)) t
			  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) t.batch});
		my ($ok, $all) = split m{/}, $left;
		ok($all > 1 && $ok == $all, "posting lists, forward from $root: every lot's on-hand is its newest version's ($left)");
	}
	$holder->query_safe('COMMIT;');
	$holder->quit;
}

# Under row-level security the walk reads through SQL, so policies apply: a
# role that sees only even-numbered links gets what WITH RECURSIVE gets as
# that role, which differs from the full walk.
$node->safe_psql('postgres', q{
	CREATE ROLE walker;
	GRANT USAGE ON SCHEMA shilian TO walker;
	GRANT SELECT ON shilian.link, shilian.batch TO walker;
	GRANT EXECUTE ON FUNCTION shilian.trace_forward(shilian.trace_code, integer, timestamptz),
		shilian.trace_backward(shilian.trace_code, integer, timestamptz) TO walker;
	ALTER TABLE shilian.link ENABLE ROW LEVEL SECURITY;
	CREATE POLICY even_links ON shilian.link FOR SELECT TO walker USING (id % 2 = 0);
	-- batch has row-level security too (part 80): walker sees every batch
	CREATE POLICY walker_batches ON shilian.batch FOR SELECT TO walker USING (true);
});
for my $dir ('forward', 'backward')
{
	my ($from, $to) = $dir eq 'forward' ? ('from_batch', 'to_batch') : ('to_batch', 'from_batch');
	my $root = $dir eq 'forward' ? 1 : 200;
	my $walk = qq{SELECT string_agg(b.id || ':' || t.depth, ',' ORDER BY b.id)
		FROM shilian.trace_$dir((SELECT trace_code FROM shilian.batch WHERE id = $root)) t
		JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) t.batch};
	my $ref = qq{WITH RECURSIVE r(id, d) AS (SELECT ${root}::bigint, 0
		UNION SELECT l.$to, r.d + 1 FROM r JOIN shilian.link l ON l.$from = r.id AND l.status = 'received')
		SELECT string_agg(id || ':' || d, ',' ORDER BY id) FROM (SELECT id, min(d) d FROM r GROUP BY id) x};
	my $as_walker = $node->safe_psql('postgres', "SET ROLE walker; $walk");
	is($as_walker, $node->safe_psql('postgres', "SET ROLE walker; $ref"),
		"$dir walk under row-level security = WITH RECURSIVE as the same role");
	isnt($as_walker, $node->safe_psql('postgres', $walk), "$dir: the policy hid part of the graph");
}
$node->safe_psql('postgres', q{
	DROP POLICY even_links ON shilian.link;
	ALTER TABLE shilian.link DISABLE ROW LEVEL SECURITY;
});

# Under the platform's own policies (part 80) the walk applies row-level
# security itself (trace.c, TraceRls): on random graphs whose lots belong to
# operators in several jurisdictions, every role (regulators of a province,
# cities, counties and a station; operators; a system client; the admin)
# gets from trace_forward /
# trace_backward the batches and depths WITH RECURSIVE gets as that role,
# and the same rows, to the last quantity and status, as the walk that lets
# PostgreSQL apply the policies (one SQL query per level), which it falls
# back to when a policy it does not recognise applies.
{
	$node->safe_psql('postgres', q{
		ALTER TABLE shilian.link ENABLE ROW LEVEL SECURITY;
		SELECT shilian.jurisdiction_add(c, 'j ' || c) FROM unnest(ARRAY['370100', '370200',
			'370101', '370102', '370201', '370101001', '370101002', '370102001', '370201001']) c;
		INSERT INTO shilian.operator (reg_card, name, address, contact, segment, kinds, station, status)
		SELECT 'RLS-' || i, 'rls operator ' || i, 'x', 'x', 'circulation', '{wholesaler}',
			(ARRAY['370101001', '370101002', '370102001', '370201001'])[1 + i % 4], 'active'
		  FROM generate_series(2, 9) i;
		SELECT shilian.api_client_add('sys-a', 'system a');
		SELECT shilian.api_client_add('sys-b', 'system b (inactive)');
		UPDATE shilian.api_client SET active = false WHERE client = 'sys-b';
		INSERT INTO shilian.api_client_operator (client, operator_id)
		VALUES ('sys-a', 2), ('sys-a', 3), ('sys-a', 7), ('sys-b', 4);
	});
	my $nops = 9;
	# role, settings: regulators down the tree, operators, a client, the admin
	my @roles = (
		[ 'regulator 370000', 'shilian_regulator', jurisdiction => '370000' ],
		[ 'regulator 370100', 'shilian_regulator', jurisdiction => '370100' ],
		[ 'regulator 370102', 'shilian_regulator', jurisdiction => '370102' ],
		[ 'regulator 370201001', 'shilian_regulator', jurisdiction => '370201001' ],
		[ 'operator 2', 'shilian_operator', operator_id => 2 ],
		[ 'operator 5', 'shilian_operator', operator_id => 5 ],
		[ 'system sys-a', 'shilian_system', client => 'sys-a' ],
		[ 'admin', 'shilian_admin' ],
	);
	my $as = sub {
		my ($r, $sql) = @_;
		my ($label, $role, %set) = @$r;
		my $pre = join('', map { "SET shilian.$_ = '$set{$_}'; " } sort keys %set);
		return "${pre}SET ROLE $role; $sql";
	};
	my $cmp = 0;
	for my $shape ('shuffled', 'tiers', 'random')
	{
		my ($n, $edges) = $shapes{$shape}->();
		my @owner = map { 1 + int(rand($nops)) } 0 .. $n;
		my @qty = (0) x ($n + 1);
		$qty[ $_->[0] ] += $_->[2] for @$edges;
		$qty[$_] += rnd(1, 30) for 1 .. $n;
		# seller and buyer: the lots' holders, one link in ten other parties
		my (@sel, @buy);
		for my $e (@$edges)
		{
			my $odd = rand() < 0.1;
			push @sel, $odd ? 1 + int(rand($nops)) : $owner[ $e->[0] ];
			push @buy, $odd ? 1 + int(rand($nops)) : $owner[ $e->[1] ];
		}
		my $qtys = join(',', @qty[ 1 .. $n ]);
		my $owners = join(',', @owner[ 1 .. $n ]);
		my ($ef, $et, $eq, $es) = map { my $i = $_; join(',', map { $i == 3 ? "'$_->[$i]'" : $_->[$i] } @$edges) } 0 .. 3;
		my ($es_, $eb) = (join(',', @sel), join(',', @buy));
		$node->safe_psql('postgres', qq{
			TRUNCATE shilian.link, shilian.batch, shilian.recall, shilian.recall_target RESTART IDENTITY CASCADE;
			INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
			SELECT shilian.trace_code_next('370000'), o, 1, shilian.qty(q, 'kg'), shilian.qty(q, 'kg'), '2026-01-01', 'produced'
			  FROM unnest(ARRAY[$qtys]::numeric[], ARRAY[$owners]::bigint[]) WITH ORDINALITY AS t(q, o, i) ORDER BY i;
			INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
				shipped_on, received_at, status)
			SELECT 'ship', f, CASE WHEN s = 'received' THEN t END, se, bu, shilian.qty(q, 'kg'),
				CASE WHEN s = 'received' THEN shilian.qty(q, 'kg') END, '2026-01-02',
				CASE WHEN s <> 'pending' THEN timestamptz '2026-01-02 10:00+08' END, s
			  FROM unnest(ARRAY[$ef]::bigint[], ARRAY[$et]::bigint[], ARRAY[$eq]::numeric[], ARRAY[$es]::text[],
				ARRAY[$es_]::bigint[], ARRAY[$eb]::bigint[]) AS u(f, t, q, s, se, bu);
			ANALYZE shilian.batch; ANALYZE shilian.link;
		});
		# links read index-only (seller and buyer from the index entry) on the
		# vacuumed table, from the heap on the other
		$node->safe_psql('postgres', 'VACUUM shilian.link') if $shape eq 'tiers';
		my %id_of = split /[|\n]/, $node->safe_psql('postgres', 'SELECT trace_code, id FROM shilian.batch');
		# each role's walks: (label, C walk SQL, reference SQL) with roots it may see
		my @walks;
		for my $r (@roles)
		{
			my @mine = split /\n/, $node->safe_psql('postgres', $as->($r, 'SELECT id FROM shilian.batch ORDER BY id'));
			next unless @mine;
			for my $dir ('forward', 'backward')
			{
				my ($from, $to) = $dir eq 'forward' ? ('from_batch', 'to_batch') : ('to_batch', 'from_batch');
				for my $root (map { $mine[ int(rand(@mine)) ] } 1 .. 3)
				{
					for my $maxd (undef, 2)
					{
						my $md = defined $maxd ? $maxd : 'NULL';
						my $depth_cond = defined $maxd ? "WHERE r.d < $maxd" : '';
						push @walks, [ "$shape, $r->[0], $dir from $root, max_depth $md", $r,
							qq{SELECT t.batch || ':' || t.depth || ':' || coalesce(t.via_link::text, '-') || ':'
									|| shilian.qty_in(t.qty_reached, 'kg') || ':'
									|| coalesce(shilian.qty_in(t.qty_on_hand, 'kg')::text, '-') || ':' || t.status
								 FROM shilian.trace_$dir((SELECT trace_code FROM shilian.batch WHERE id = $root), $md) t},
							qq{WITH RECURSIVE r(id, d) AS (SELECT ${root}::bigint, 0
									UNION SELECT l.$to, r.d + 1 FROM r JOIN shilian.link l ON l.$from = r.id
									 AND l.status = 'received' $depth_cond)
								SELECT id || ':' || min(d) FROM r GROUP BY id ORDER BY id} ];
					}
				}
			}
		}
		# the walk applying the policies itself, then with a policy it does
		# not recognise (admits nothing more: no link has a negative id)
		my (%fast, %how);
		for my $pass ('C', 'SQL')
		{
			$node->safe_psql('postgres', 'CREATE POLICY rls_unknown ON shilian.link FOR SELECT USING (id < 0)')
				if $pass eq 'SQL';
			for my $w (@walks)
			{
				my ($label, $r, $walk, $ref) = @$w;
				my ($rc, $out, $err) = $node->psql('postgres',
					$as->($r, "SET client_min_messages = debug1; $walk"), on_error_die => 1);
				my @rows = sort split /\n/, $out;
				my $how = $err =~ /row-level security applied in the walk/ ? 'C'
					: $err =~ /row-level security through SQL/ ? 'SQL' : 'none';
				if ($pass eq 'C')
				{
					$fast{$label} = \@rows;
					# the admin's policy is "true": no filter to apply, no message
					is($how, $r->[1] eq 'shilian_admin' ? 'none' : 'C', "$label: policies applied in the walk");
					my @got = map { my @f = split /:/; "$id_of{$f[0]}:$f[1]" } @rows;
					@got = sort { (split /:/, $a)[0] <=> (split /:/, $b)[0] } @got;
					is(join("\n", @got), $node->safe_psql('postgres', $as->($r, $ref)),
						"$label: batches and depths = WITH RECURSIVE as the role");
					$cmp++;
				}
				else
				{
					is($how, 'SQL', "$label: an unrecognised policy: the walk falls back to SQL");
					is(join("\n", @rows), join("\n", @{ $fast{$label} }), "$label: same rows as the walk applying the policies");
				}
			}
			$node->safe_psql('postgres', 'DROP POLICY rls_unknown ON shilian.link') if $pass eq 'SQL';
		}
	}
	note("$cmp walks under row-level security compared");
	# a restrictive policy, even one that admits everything, is not applied
	# in C either; nor is an altered platform policy
	$node->safe_psql('postgres', q{CREATE POLICY rls_restrictive ON shilian.batch AS RESTRICTIVE FOR SELECT USING (true)});
	my $probe = "SET shilian.jurisdiction = '370100'; SET ROLE shilian_regulator; SET client_min_messages = debug1;"
		. " SELECT count(*) FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch ORDER BY id LIMIT 1))";
	my ($rc, $out, $err) = $node->psql('postgres', $probe);
	like($err, qr/through SQL.*rls_restrictive/, 'a restrictive policy: the walk falls back to SQL');
	$node->safe_psql('postgres', q{DROP POLICY rls_restrictive ON shilian.batch;
		ALTER POLICY link_regulator ON shilian.link
			USING (seller_id IN (SELECT s FROM shilian.subtree_operators() AS s) OR buyer_id > 0)});
	($rc, $out, $err) = $node->psql('postgres', $probe);
	like($err, qr/through SQL.*link_regulator/, 'an altered platform policy: the walk falls back to SQL');
	$node->safe_psql('postgres', q{ALTER POLICY link_regulator ON shilian.link
			USING (seller_id IN (SELECT s FROM shilian.subtree_operators() AS s)
				OR buyer_id IN (SELECT s FROM shilian.subtree_operators() AS s))});
	($rc, $out, $err) = $node->psql('postgres', $probe);
	like($err, qr/applied in the walk/, 'the platform policy restored: applied in the walk again');
}

# recall_open notifies listeners on channel shilian_recall with the recall id.
my ($rc, $stdout, $stderr) = $node->psql('postgres', q{
	LISTEN shilian_recall;
	SELECT shilian.recall_open((SELECT trace_code FROM shilian.batch WHERE id = 1), 'test');
	SELECT 1;});
like($stdout, qr/Asynchronous notification "shilian_recall" with payload "1" received/,
	'recall_open sends NOTIFY shilian_recall with the recall id');

# recall_open writes its targets in C (recall.c): whichever path writes them
# (the direct one, or INSERT ... SELECT when a BEFORE ROW trigger must see
# each row), the rows are the walk's, the holders counted are the rows'
# holders, and a statement trigger on recall_target sees every row in its
# transition table, as for an INSERT.
$node->safe_psql('postgres', q{
	CREATE TABLE public.seen (recall_id bigint, n bigint);
	CREATE FUNCTION public.count_new() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO public.seen SELECT recall_id, count(*) FROM new_rows GROUP BY recall_id;
		RETURN NULL;
	END $$;
	CREATE TRIGGER count_new AFTER INSERT ON shilian.recall_target REFERENCING NEW TABLE AS new_rows
		FOR EACH STATEMENT EXECUTE FUNCTION public.count_new();
	CREATE FUNCTION public.keep_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
});
for my $case (['forward', 'SELECT min(id) FROM shilian.batch'], ['backward', 'SELECT max(id) FROM shilian.batch']) {
	my ($dir, $rootq) = @$case;
	my $code = $node->safe_psql('postgres', "SELECT trace_code FROM shilian.batch WHERE id = ($rootq)");
	my $rows = sub {
		$node->safe_psql('postgres', qq{SELECT string_agg(concat_ws(':', batch_id, trace_code, operator_id, depth,
			via_link, qty_exposed, qty_on_hand, disposition IS NULL), ',' ORDER BY batch_id)
			FROM shilian.recall_target WHERE recall_id = $_[0]});
	};
	my $summary = sub {
		$node->safe_psql('postgres', qq{SELECT (SELECT n FROM public.seen WHERE recall_id = $_[0])
			|| ' ' || (SELECT count(*) FROM shilian.recall_target WHERE recall_id = $_[0])
			|| ' ' || (SELECT shilian.ledger_body(body)->>'holders' FROM shilian.ledger
				WHERE kind = 'recall_open' AND shilian.ledger_body(body)->>'recall' = '$_[0]')
			|| ' ' || (SELECT count(DISTINCT operator_id) FROM shilian.recall_target WHERE recall_id = $_[0])});
	};
	my $walk = $node->safe_psql('postgres', qq{SELECT string_agg(concat_ws(':', batch_id, batch, holder, depth,
		via_link, qty_reached, qty_on_hand, true), ',' ORDER BY batch_id) FROM shilian.trace_targets('$code', '$dir')});
	my $fast = $node->safe_psql('postgres', "SELECT shilian.recall_open('$code', 'direct', '$dir')");
	my $slow = $node->safe_psql('postgres', qq{
		CREATE TRIGGER keep_row BEFORE INSERT ON shilian.recall_target FOR EACH ROW EXECUTE FUNCTION public.keep_row();
		SELECT shilian.recall_open('$code', 'through INSERT', '$dir');
		DROP TRIGGER keep_row ON shilian.recall_target;});
	my $n = () = $walk =~ /,/g;
	cmp_ok($n, '>', 0, "$dir recall: the walk reaches more than its root");
	is($rows->($fast), $walk, "$dir recall, direct write: the targets are the walk's rows");
	is($rows->($slow), $walk, "$dir recall through INSERT (a BEFORE ROW trigger): the same rows");
	my ($seen, $count, $holders, $distinct) = split / /, $summary->($fast);
	is("$seen $holders", "$count $distinct",
		"$dir recall, direct write: the statement trigger saw every row, the ledger entry counts the holders");
	is($summary->($slow), $summary->($fast), "$dir recall through INSERT: the same counts");
}
$node->safe_psql('postgres', q{DROP TRIGGER count_new ON shilian.recall_target; DROP TABLE public.seen});

# A DBA's AFTER ROW trigger on recall_target keeps the direct write (only a
# BEFORE ROW one sends the rows through INSERT): it fires once per target,
# and the write releases the slots it gave the trigger the rows in, as COPY
# FROM does (without that, each recall warned of a TupleDesc reference leak).
{
	my $code = $node->safe_psql('postgres', 'SELECT trace_code FROM shilian.batch WHERE id = 1');
	$node->safe_psql('postgres', q{
		CREATE TABLE public.seen_rows (recall_id bigint);
		CREATE FUNCTION public.seen_row() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO public.seen_rows VALUES (NEW.recall_id);
			RETURN NULL;
		END $$;
		CREATE TRIGGER seen_row AFTER INSERT ON shilian.recall_target FOR EACH ROW EXECUTE FUNCTION public.seen_row();});
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT shilian.recall_open('$code', 'after row', 'forward')");
	is($rc, 0, 'recall_open with an AFTER ROW trigger on recall_target');
	unlike($err, qr/WARNING|leak/, 'recall_open with an AFTER ROW trigger: no warning (the slots released)');
	is($node->safe_psql('postgres', qq{SELECT (SELECT count(*) FROM public.seen_rows WHERE recall_id = $out)
		= (SELECT count(*) FROM shilian.recall_target WHERE recall_id = $out)
		AND (SELECT count(*) FROM public.seen_rows WHERE recall_id = $out) > 0}), 't',
		'the AFTER ROW trigger fired once for every target row');
	$node->safe_psql('postgres', q{DROP TRIGGER seen_row ON shilian.recall_target;
		DROP FUNCTION public.seen_row(); DROP TABLE public.seen_rows});
}

# The direct write inserts each index's entries in that index's key order
# after the rows (recall.c, RecallIndexSorted): every row is in every index
# (amcheck's heapallindexed), the entries are in order, and each index finds
# the rows a sequential scan finds. A unique index is still checked there
# (one target per holder is not true of this graph: 23505, nothing written),
# and with an index that is not a plain btree (hash) every entry goes in row
# by row, as before, with the same rows.
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
my $root = $node->safe_psql('postgres', 'SELECT trace_code FROM shilian.batch WHERE id = (SELECT min(id) FROM shilian.batch)');
my $by_index = sub {
	my ($rid, $settings) = @_;
	$node->safe_psql('postgres', qq{SET enable_seqscan = off; SET enable_bitmapscan = off; $settings
		SELECT count(*) || ':' || count(DISTINCT operator_id) FROM shilian.recall_target WHERE recall_id = $rid});
};
for my $sorted (0, 1) {
	my $label = $sorted ? 'btree indexes only (sorted entries)' : 'with a hash index (row by row)';
	$node->safe_psql('postgres', 'CREATE INDEX recall_target_hash ON shilian.recall_target USING hash (trace_code)')
		unless $sorted;
	my $rid = $node->safe_psql('postgres', "SELECT shilian.recall_open('$root', 'indexes', 'forward')");
	my $seq = $node->safe_psql('postgres', qq{SET enable_indexscan = off; SET enable_bitmapscan = off;
		SELECT count(*) || ':' || count(DISTINCT operator_id) FROM shilian.recall_target WHERE recall_id = $rid});
	like($seq, qr/^[1-9][0-9]*:[1-9]/, "$label: the recall has targets");
	is($by_index->($rid, ''), $seq, "$label: the primary key finds every target");
	my $holders = $node->safe_psql('postgres', qq{SET enable_seqscan = off; SET enable_bitmapscan = off;
		SELECT count(*) FROM (SELECT DISTINCT operator_id FROM shilian.recall_target WHERE recall_id = $rid) h});
	is($holders, (split /:/, $seq)[1], "$label: the holders' index finds every holder");
	is($node->safe_psql('postgres', q{SELECT bt_index_check('shilian.recall_target_pkey', true)::text
		|| bt_index_check('shilian.recall_target_operator_idx', true)::text}), '',
		"$label: amcheck finds both btrees in order and every row in them");
	unless ($sorted) {
		is($node->safe_psql('postgres', qq{SET enable_seqscan = off; SET enable_bitmapscan = off;
			SELECT count(*) FROM shilian.recall_target t JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) t.trace_code
			 WHERE t.recall_id = $rid}), (split /:/, $seq)[0], "$label: the hash index has every row");
		$node->safe_psql('postgres', 'DROP INDEX shilian.recall_target_hash');
	}
}
# (the earlier recalls' targets are gone first: they have holders twice too)
$node->safe_psql('postgres', 'DELETE FROM shilian.recall_target;
	CREATE UNIQUE INDEX recall_one_per_holder ON shilian.recall_target (recall_id, operator_id)');
my $before = $node->safe_psql('postgres', q{SELECT count(*) || ' ' || (SELECT count(*) FROM shilian.recall) FROM shilian.recall_target});
($rc, $stdout, $stderr) = $node->psql('postgres', "SELECT shilian.recall_open('$root', 'unique', 'forward')");
like($stderr, qr/duplicate key value violates unique constraint "recall_one_per_holder"/,
	'a unique index is checked on the sorted path (23505)');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || (SELECT count(*) FROM shilian.recall) FROM shilian.recall_target}),
	$before, 'the refused recall left no row');
$node->safe_psql('postgres', 'DROP INDEX shilian.recall_one_per_holder; DROP EXTENSION amcheck');

# Cancellation mid-walk: a 100,000-lot chain is 100,000 levels of the walk;
# statement_timeout stops it long before the end.
$node->safe_psql('postgres', q{
	TRUNCATE shilian.link, shilian.batch, shilian.recall, shilian.recall_target RESTART IDENTITY CASCADE;
	INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
	SELECT shilian.trace_code_next('370000'), 1, 1, '1 kg', '1 kg', '2026-01-01', 'produced'
	  FROM generate_series(1, 100000);
	INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
		shipped_on, received_at, status)
	SELECT 'ship', i, i + 1, 1, 1, '1 kg', '1 kg', '2026-01-02', '2026-01-02 10:00+08', 'received'
	  FROM generate_series(1, 99999) i;
	ANALYZE shilian.batch; ANALYZE shilian.link;
});
# the whole chain is reachable without a timeout (at depth 99999); the
# time it takes here sets the timeout below: a fixed one (it was 100 ms)
# let a fast machine finish the walk before it fired
my ($reached, $walk_ms) = split /\|/, $node->safe_psql('postgres', q{
	SELECT r, round(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)
	  FROM (SELECT count(*) || ' ' || max(depth) AS r
			  FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = 1))) w});
is($reached, '100000 99999', 'the chain walks to the end without a timeout');
# a quarter of the whole walk: the statement is cancelled mid-walk
my $timeout_ms = int($walk_ms / 4) > 1 ? int($walk_ms / 4) : 1;
my $t0 = time();
($rc, $stdout, $stderr) = $node->psql('postgres', qq{
	SET statement_timeout = '${timeout_ms}ms';
	SELECT count(*) FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = 1));});
my $elapsed = time() - $t0;
like($stderr, qr/canceling statement due to statement timeout/,
	"statement_timeout cancels the walk (${timeout_ms} ms, a quarter of the whole walk's ${walk_ms} ms)");
cmp_ok($elapsed, '<', 5, "the walk stopped soon after the timeout (${elapsed}s)");
# a walk whose rows exceed work_mem keeps them in a store sized to them
# (TraceSrf): the same rows as when they fit in work_mem
my $rows_md5 = q{SELECT md5(string_agg(concat_ws(':', batch, holder, depth, via_link, qty_reached, qty_on_hand, status),
	',' ORDER BY depth)) FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = 1))};
is($node->safe_psql('postgres', "SET work_mem = '64kB'; $rows_md5"),
	$node->safe_psql('postgres', "SET work_mem = '256MB'; $rows_md5"),
	'100,000 rows over work_mem: the same rows as within it');

$node->stop;
done_testing();
