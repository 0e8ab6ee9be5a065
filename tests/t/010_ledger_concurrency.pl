# Ledger under concurrency: 16 sessions append to 4 operators (single appends
# and two-chain transactions) while checkpoints run; every chain must come out
# linear with no gap, chain_verify and log_verify clean, and every entry a
# leaf exactly once, in entry id order. Then a transaction that commits late
# is neither skipped nor reordered by a checkpoint that waits for it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('ledger_concurrency');
my $seconds = $ENV{SHILIAN_LEDGER_SECONDS} // 15;

$node->pgbench(
	"--no-vacuum --client=16 --jobs=4 --time=$seconds",
	0,
	[qr{processed: [1-9]}],
	[qr{^$}],
	'16 sessions append to 4 operators while checkpoints run',
	{
		'010_append@60' => q{
\set op random(1, 4)
SELECT shilian.ledger_append(:op, 'concurrency', '{"by": "pgbench", "n": 1}');
},
		# two chains in one transaction, in operator order (no deadlock)
		'010_pair@30' => q{
\set a random(1, 3)
\set b :a + 1
BEGIN;
SELECT shilian.ledger_append(:a, 'pair', '{"leg": "out"}');
SELECT shilian.ledger_append(:b, 'pair', '{"leg": "in"}');
COMMIT;
},
		'010_checkpoint@1' => q{
SELECT tree_size FROM shilian.checkpoint();
},
	});

my $total = $node->safe_psql('postgres', 'SELECT count(*) FROM shilian.ledger');
cmp_ok($total, '>', 1000, "many entries appended ($total)");

is($node->safe_psql('postgres',
	'SELECT count(*) FROM (SELECT operator_id FROM shilian.ledger GROUP BY 1
	  HAVING min(seq) = 1 AND max(seq) = count(*) AND count(DISTINCT seq) = count(*)) c'),
	'4', 'each of the 4 chains runs 1..n with no gap and no repeat');
is($node->safe_psql('postgres',
	'SELECT count(*) FROM shilian.ledger l JOIN shilian.ledger p
	   ON p.operator_id = l.operator_id AND p.seq = l.seq - 1 WHERE l.prev_hash <> p.hash'),
	'0', 'every prev_hash is the hash of the entry before it: no fork');
is($node->safe_psql('postgres',
	'SELECT count(*) FROM shilian.ledger l JOIN shilian.ledger p
	   ON p.operator_id = l.operator_id AND p.seq = l.seq - 1 WHERE l.id < p.id'),
	'0', 'within a chain, entry ids grow with seq');
is($node->safe_psql('postgres',
	'SELECT count(*) FILTER (WHERE ok) || \'/\' || count(*) || \' \' || (sum(entries) = (SELECT count(*) FROM shilian.ledger))
	   FROM shilian.chain_verify()'),
	'4/4 true', 'chain_verify: all 4 chains clean, every entry counted')
  or diag($node->safe_psql('postgres', 'SELECT * FROM shilian.chain_verify()'));

my $checkpoints = $node->safe_psql('postgres', 'SELECT count(*) FROM shilian.checkpoint');
cmp_ok($checkpoints, '>', 1, "checkpoints ran during the appends ($checkpoints)");
$node->safe_psql('postgres', 'SELECT shilian.checkpoint()');
is($node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM shilian.ledger_leaf) = (SELECT count(*) FROM shilian.ledger)
	    AND (SELECT count(DISTINCT entry_id) FROM shilian.ledger_leaf) = (SELECT count(*) FROM shilian.ledger)'),
	't', 'every entry is a leaf exactly once');
is($node->safe_psql('postgres',
	'SELECT count(*) FROM (SELECT entry_id, lag(entry_id) OVER (ORDER BY leaf_index) AS prev
	   FROM shilian.ledger_leaf) x WHERE entry_id <= prev'),
	'0', 'leaf order is entry id order across all checkpoints');
is($node->safe_psql('postgres', 'SELECT ok FROM shilian.log_verify()'), 't',
	'log_verify: the tree rebuilt from the ledger matches every published root');

# A late commit: A appends and holds its transaction open; B appends after it
# (a larger id) and commits; a checkpoint must wait for A rather than publish
# B's entry without A's, then include both in id order.
my $a = $node->background_psql('postgres');
$a->query_safe("BEGIN; SELECT shilian.ledger_append(7, 'late', '{\"who\": \"A\"}');");
my $b_id = $node->safe_psql('postgres', "SELECT shilian.ledger_append(8, 'early', '{\"who\": \"B\"}')");
my $c = $node->background_psql('postgres');
$c->query_until(qr/started/, "\\echo started\nSELECT tree_size FROM shilian.checkpoint();\n");
ok($node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND relation = 'shilian.ledger'::regclass)"),
	'the checkpoint waits for the open appending transaction');
is($node->safe_psql('postgres', "SELECT count(*) FROM shilian.ledger_leaf WHERE entry_id = $b_id"),
	'0', 'the later entry is not published ahead of the open one');
$a->query_safe('COMMIT;');
$a->quit;
$c->quit;
my $a_id = $node->safe_psql('postgres', "SELECT id FROM shilian.ledger WHERE operator_id = 7");
cmp_ok($a_id, '<', $b_id, 'the late-committing entry has the smaller id');
is($node->safe_psql('postgres',
	"SELECT string_agg(entry_id::text, ',' ORDER BY leaf_index) FROM shilian.ledger_leaf WHERE entry_id IN ($a_id, $b_id)"),
	"$a_id,$b_id", 'after the wait both are leaves, the late commit first (id order)');
is($node->safe_psql('postgres', 'SELECT ok FROM shilian.log_verify()'), 't', 'log still verifies');

# REPEATABLE READ: a transaction whose snapshot predates another session's
# append still links to that entry instead of forking the chain.
my $rr = $node->background_psql('postgres');
$rr->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM shilian.ledger;");
$node->safe_psql('postgres', "SELECT shilian.ledger_append(9, 'first', '{}')");
$rr->query_safe("SELECT shilian.ledger_append(9, 'second', '{}'); COMMIT;");
$rr->quit;
is($node->safe_psql('postgres', "SELECT string_agg(seq || ':' || kind, ',' ORDER BY seq) FROM shilian.ledger WHERE operator_id = 9"),
	'1:first,2:second', 'an append at REPEATABLE READ links to the entry committed after its snapshot');
is($node->safe_psql('postgres', 'SELECT ok FROM shilian.chain_verify(9)'), 't', 'and the chain verifies');

$node->stop;
done_testing();
