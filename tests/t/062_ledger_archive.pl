# The retention archive of ledger months (issue 22, docs/operations.md
# #archiving-a-ledger-month). The server runs with its clock in March, April
# and May 2023 (libfaketime, as the regress suite's clock-ahead pass), making
# records in each month's own partition, then on the real clock: the March
# month (every lot long expired) is exported, proved offline with
# shilian-verify archive (a tampered copy fails), archived (detached), and
# afterwards every chain, the Merkle log and the proofs of archived and later
# entries still verify; the April month holds a lot that expires in 2099 and
# cannot leave: DELETE, DROP, DETACH (also in maintenance mode) and
# ledger_archive are each refused with their code. May is not checkpointed
# at first (SLL63), then archived too: a stretch in the middle of a chain.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $verify = "$ENV{SHILIAN_TOP}/shilian-verify";
my $dir = File::Temp::tempdir(DIR => $PostgreSQL::Test::Utils::tmp_check);
my $origin = 'shilian.test/ledger';
plan skip_all => 'libfaketime not found (make deps installs faketime)' unless faketime_lib();

sub write_file
{
	my ($name, $text) = @_;
	open my $fh, '>', "$dir/$name" or die;
	print $fh $text;
	close $fh;
	return "$dir/$name";
}

my $node = PostgreSQL::Test::Cluster->new('archive');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off\nsynchronous_commit = off\ntimezone = 'UTC'\n"
	. "shilian.log_origin = '$origin'\n");

# (re)start the server with its clock at a day of 2023 (UTC noon), or the real clock
sub start_at
{
	restart_at($node, @_);
	return $node->safe_psql('postgres', 'SELECT shilian.platform_today()') if $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'shilian'");
	return undef;
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub refused { return sqlstate_of($node, $_[0]) }

start_at(2023, 3, 10);
sql('CREATE EXTENSION shilian');
is(sql('SELECT shilian.platform_today()'), '2023-03-10', 'the server clock is at 10 March 2023');
sql(q{
	SET client_min_messages = warning;
	SELECT shilian.ledger_partitions_ahead(2);
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370112', '历城区');
	SELECT shilian.jurisdiction_add('370112001', '洪家楼所');
	SELECT shilian.operator_register('农场', 'production', '{farm}', '370112001', '历城', '1', reg_card => 'CR-F1');
	SELECT shilian.operator_register('批发', 'circulation', '{wholesaler}', '370112001', '历城', '2', reg_card => 'CR-W1');
	SELECT shilian.operator_activate(id) FROM shilian.operator;
	SELECT shilian.licence_add(id, 'JY13701020000018', '{vegetables}', '2020-01-01', '2030-12-31')
	  FROM shilian.operator WHERE name = '批发';
	SELECT shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10, edible_agricultural => true);
});
my ($farm, $wh) = split /\|/, sql(q{SELECT (SELECT id FROM shilian.operator WHERE name = '农场'),
	(SELECT id FROM shilian.operator WHERE name = '批发')});
my $product = sql(q{SELECT id FROM shilian.product WHERE name = '大白菜'});

# a lot made, inspected, sold and received, all in March
sub lot_round
{
	my ($expires) = @_;
	my $code = sql("SELECT shilian.batch_create($farm, $product, '100 kg', expires_on => "
		. ($expires ? "'$expires'" : 'NULL') . ')');
	sql(qq{SELECT shilian.inspect('$code', 'release', 'pass', '{"certificate_no": "C1", "inspector": "W"}')});
	my $link = sql("SELECT shilian.ship('$code', $wh, '40 kg')");
	sql("SELECT shilian.receive($link, '40 kg')");
	return $code;
}
lot_round('2023-03-20');
lot_round(undef);
sql('SELECT shilian.checkpoint()');
my $march = sql(q{SELECT count(*) FROM shilian.ledger_p202303});
ok($march >= 10, "March holds $march entries in its own partition");

start_at(2023, 4, 12);
my $long_lot = lot_round('2099-12-31');
sql('SELECT shilian.checkpoint()');
is(sql(q{SELECT count(*) FROM shilian.ledger_p202304}), '4', 'April holds the 4 entries of a lot expiring in 2099');

start_at(2023, 5, 15);
lot_round('2023-05-25');
is(sql(q{SELECT count(*) FROM shilian.ledger_p202305}), '4', 'May holds 4 entries, not checkpointed');

# the real clock
start_at();
my $today = sql('SELECT shilian.platform_today()');
ok($today ge '2026-01-01', "the real clock again ($today)");
sql('SELECT shilian.ledger_partitions_ahead(0)');

# ---- the retention rule, written once ------------------------------------------
is(sql(q{SELECT string_agg(DISTINCT shilian.ledger_retained_until(kind, shilian.ledger_body(body), recorded_at)::text, ',')
	FROM shilian.ledger_p202304 WHERE operator_id <> 0}), '2100-06-30',
	'every April record about the 2099 lot is kept until its expiry plus six months');
is(sql(q{SELECT shilian.ledger_retained_until('operator_register', '{"name": "x"}', '2023-03-31 17:00+00')}),
	'2025-04-01', 'a record about no lot: two years after its Asia/Shanghai date (1 April there)');
is(sql(qq{SELECT shilian.ledger_retained_until(kind, shilian.ledger_body(body), recorded_at)
	FROM shilian.ledger_p202303 WHERE kind = 'batch_create' ORDER BY id LIMIT 1}), '2023-09-20',
	'a batch_create record: the lot expiry (20 March) plus six months');

# ---- refusals --------------------------------------------------------------------
my $cur = substr($today, 0, 7) . '-01';
is(refused("SELECT shilian.ledger_archive_export('$cur')"), 'SLL61', 'the current month is refused (SLL61)');
is(refused("SELECT shilian.ledger_archive_export('2099-01-01')"), 'SLL61', 'a future month is refused (SLL61)');
is(refused("SELECT shilian.ledger_archive_export('2023-02-01')"), 'SLL60', 'a month without a partition is refused (SLL60)');
is(refused("SELECT shilian.ledger_archive_export('2023-05-01')"), 'SLL63', 'a month not fully checkpointed is refused (SLL63)');
is(refused("SELECT shilian.ledger_archive_export('2023-04-01')"), 'SLL62', 'a month inside retention cannot be exported (SLL62)');
is(refused("SELECT shilian.ledger_archive('2023-04-01', 1, sha256(''))"), 'SLL62', 'nor archived (SLL62)');
is(refused('DELETE FROM shilian.ledger_p202304'), 'SLL30', 'DELETE of the month is refused (SLL30)');
is(refused("DELETE FROM shilian.ledger WHERE recorded_at < '2023-05-01'"), 'SLL30', 'DELETE through the ledger too');
is(refused('TRUNCATE shilian.ledger_p202304'), 'SLL30', 'TRUNCATE too');
is(refused('DROP TABLE shilian.ledger_p202304'), 'SLL31', 'DROP of the month is refused (SLL31)');
is(refused('ALTER TABLE shilian.ledger DETACH PARTITION shilian.ledger_p202304'), 'SLL31', 'DETACH is refused (SLL31)');
is(refused("BEGIN; SET LOCAL shilian.ledger_maintenance = on;
	ALTER TABLE shilian.ledger DETACH PARTITION shilian.ledger_p202304; COMMIT"), 'SLL66',
	'DETACH in maintenance mode is refused too: only ledger_archive detaches a month (SLL66)');
is(refused("SELECT shilian.ledger_archive_allow('shilian.ledger_p202304')"), 'accepted',
	'(a superuser may call the guard\'s allow function...)');
is(refused("SET ROLE shilian_admin; SELECT shilian.ledger_archive_allow('shilian.ledger_p202304')"), '42501',
	'... which no other role may');
is(sql('SELECT count(*) FROM shilian.ledger_p202304'), '4', 'April still holds its 4 entries');

# ---- export, offline proof, archive of March ---------------------------------------
# a signed checkpoint over everything, as the signing job makes
sql('SELECT shilian.checkpoint()');
is(refused("SELECT shilian.ledger_archive_export('2023-05-01')"), 'accepted', 'May, now checkpointed, can be exported');
run_cmd([ 'openssl', 'genpkey', '-algorithm', 'ed25519', '-out', "$dir/log.pem" ]);
my (undef, $vkey) = run_cmd([ $verify, 'vkey', '--key', "$dir/log.pem", '--name', $origin ]);
chomp $vkey;
{
	local $ENV{SHILIAN_VERIFY} = $verify;
	my ($rc, $out, $err) = run_cmd([ "$ENV{SHILIAN_TOP}/extension/verify/sign-checkpoint.sh",
		'--key', "$dir/log.pem", '--name', $origin, '-d', $node->connstr('postgres') ]);
	is($rc, 0, "the signing job signed the checkpoint $out$err");
}
# more checkpoints after it: the export takes the latest signed one
sql("SELECT shilian.ledger_append(0, 'note', '{\"n\": 1}'); SELECT shilian.checkpoint()");

my $export = sql("SELECT line FROM shilian.ledger_archive_export('2023-03-01') AS e(line)") . "\n";
my $file = write_file('ledger_p202303.jsonl', $export);
my @lines = split /\n/, $export;
is(scalar(@lines), $march + 2, 'the archive: a header, a checkpoint and one line per entry');
like($lines[0], qr/"format": "shilian-ledger-archive\/1"/, 'the header names the format');
my ($tree) = $lines[0] =~ /"tree_size": "(\d+)"/;
is($tree, sql('SELECT max(tree_size) FROM shilian.checkpoint_note'), 'the checkpoint is the latest signed one');
like($lines[1], qr/"note": "\Q$origin\E\\n$tree\\n/, 'the checkpoint line carries its signed note');
is(sql("SET timezone = 'America/New_York'; SELECT string_agg(line, E'\\n') FROM shilian.ledger_archive_export('2023-03-01') AS e(line)") . "\n",
	$export, 'the export is the same twice (nothing in it depends on when or in which time zone)');

my ($rc, $out) = run_cmd([ $verify, 'archive', '--key', $vkey, $file ]);
like($out, qr/^OK: ledger month 2023-03, $march entries of 2 chains: hashes, links and inclusion in tree $tree verified, tree head signed by \Q$origin\E; tree_size $tree sha256 ([0-9a-f]{64})$/,
	'shilian-verify archive proves every entry of the month offline');
is($rc, 0, 'exit status 0');
my ($sha) = $out =~ /sha256 ([0-9a-f]{64})/;
my (undef, $sha_cli) = run_cmd([ 'sha256sum', $file ]);
is($sha, substr($sha_cli, 0, 64), 'the sha256 it prints is the file\'s');
my $entry = sql(q{SELECT min(id) FROM shilian.ledger_p202303 WHERE kind = 'receive'});
($rc, $out) = run_cmd([ $verify, 'archive', $file, $entry ]);
like($out, qr/^entry $entry: operator $wh seq \d+, receive, recorded at 2023-03-10T[0-9:.]+Z, hash [0-9a-f]{64}: hash recomputed, leaf \d+ included in tree $tree\nOK: /,
	'one record proved offline by its entry id');

# tampered copies fail
my %tamper = (
	'a body changed' => sub { $_[0] =~ s/("kind": "receive".*?"body_canonical": "[0-9a-f]{20})([0-9a-f])/$1 . ($2 eq '0' ? '1' : '0')/e },
	'an entry left out' => sub { my @l = split /\n/, $_[0]; splice @l, 4, 1; $_[0] = join("\n", @l) . "\n" },
	'a proof changed' => sub { $_[0] =~ s/("inclusion": \[")([0-9a-f])/$1 . ($2 eq 'a' ? 'b' : 'a')/e },
	'another root' => sub { $_[0] =~ s/("root": ")([0-9a-f])/$1 . ($2 eq 'a' ? 'b' : 'a')/e },
);
for my $what (sort keys %tamper)
{
	my $copy = $export;
	$tamper{$what}->($copy);
	isnt($copy, $export, "tampered: $what");
	($rc, $out) = run_cmd([ $verify, 'archive', write_file('tampered.jsonl', $copy) ]);
	is($rc, 1, "shilian-verify archive refuses the copy with $what");
	like($out, qr/^FAIL: /, "... and says why: $out");
}
($rc, $out) = run_cmd([ $verify, 'archive', '--key', 'rogue+01020304+AQ' . ('A' x 42) . '=', $file ]);
is($rc, 1, 'a wrong key: the signed note does not verify');

is(refused("SET ROLE shilian_admin; SELECT shilian.ledger_archive('2023-03-01', $tree, '\\x" . ('0' x 64) . "')"),
	'SLL65', 'archiving with another file\'s digest is refused (SLL65)');
is(sql("SET ROLE shilian_admin; SELECT shilian.ledger_archive('2023-03-01', $tree, '\\x$sha')"), $march,
	'shilian_admin archives March with the file\'s digest');
is(sql(q{SELECT to_regclass('shilian.ledger_p202303') IS NULL, (SELECT count(*) FROM pg_inherits
	WHERE inhrelid = 'shilian.ledger_archived_p202303'::regclass)}), 't|0',
	'the partition is detached, as ledger_archived_p202303');
is(sql(q{SELECT month || ' ' || partition || ' ' || entries || ' ' || tree_size || ' ' || encode(archive_sha256, 'hex')
	FROM shilian.ledger_archived}), "2023-03-01 ledger_p202303 $march $tree $sha", 'ledger_archived records it');
is(sql(q{SELECT kind || ' ' || (shilian.ledger_body(body) ->> 'month') FROM shilian.ledger
	WHERE operator_id = 0 ORDER BY id DESC LIMIT 1}), 'ledger_archive 2023-03', 'and the ledger itself (operator 0)');
is(sql(q{SELECT count(*) FROM shilian.ledger WHERE recorded_at < '2023-04-01'}), '0', 'no March entry is in the ledger now');
is(refused("SELECT shilian.ledger_archive_export('2023-03-01')"), 'SLL60', 'March cannot be archived twice (SLL60)');
is(refused('DROP TABLE shilian.ledger_archived_p202303'), 'accepted', 'the DBA drops the detached table');

# ---- after the archive ----------------------------------------------------------------
is(sql(q{SELECT string_agg(operator || ':' || ok || coalesce(':' || reason, ''), ' ' ORDER BY operator)
	FROM shilian.chain_verify()}), "0:true $farm:true $wh:true", 'chain_verify: every chain verifies from its archived head');
is(sql("SELECT ok FROM shilian.chain_verify($wh)"), 't', 'chain_verify of one chain too');
is(sql('SELECT ok FROM shilian.log_verify()'), 't', 'log_verify: the Merkle log still verifies');
is(sql("SELECT shilian.verify_inclusion(shilian.inclusion_proof($entry))"), 't',
	'the inclusion proof of an archived entry still verifies against the latest checkpoint');
my $later = sql(q{SELECT min(id) FROM shilian.ledger_p202304});
is(sql("SELECT shilian.verify_inclusion(shilian.inclusion_proof($later))"), 't', 'so does that of a later entry');

# May (a stretch in the middle of each chain: April stays) goes too
$export = sql("SELECT line FROM shilian.ledger_archive_export('2023-05-01') AS e(line)") . "\n";
$file = write_file('ledger_p202305.jsonl', $export);
($rc, $out) = run_cmd([ $verify, 'archive', $file ]);
is($rc, 0, "May's archive verifies offline: $out");
($tree, $sha) = $out =~ /tree_size (\d+) sha256 ([0-9a-f]{64})/;
is(sql("SELECT shilian.ledger_archive('2023-05-01', $tree, '\\x$sha')"), '4', 'May archived');

# new records go on the chains as before
lot_round(undef);
sql('SELECT shilian.checkpoint()');
is(sql(q{SELECT string_agg(operator || ':' || ok || coalesce(':' || reason, ''), ' ' ORDER BY operator)
	FROM shilian.chain_verify()}), "0:true $farm:true $wh:true", 'chain_verify after a middle stretch is archived and new records');
is(sql('SELECT ok FROM shilian.log_verify()'), 't', 'log_verify too');

# an operator's export (ledger_export) lists the archived stretches of its
# chain: shilian-verify goes on from each one's last hash, proved in the tree
for my $op ($farm, $wh)
{
	my $lines = sql("SELECT * FROM shilian.ledger_export($op)");
	is(scalar(() = $lines =~ /"type": "archived"/g), 2, "operator $op: the export names March and May as archived");
	($rc, $out) = run_cmd([ $verify, '--key', $vkey, write_file("export$op.jsonl", "$lines\n") ]);
	like($out, qr/^OK: operator $op, \d+ entries \(\d+ of them archived\), chain verified, .*signed/,
		"operator $op: shilian-verify checks the export across the archived months: $out");
	my $bad = $lines =~ s/("type": "archived".*?"last_hash": ")([0-9a-f])/$1 . ($2 eq 'a' ? 'b' : 'a')/er;
	($rc, $out) = run_cmd([ $verify, write_file("export$op.bad.jsonl", "$bad\n") ]);
	like($out, qr/^FAIL: /, "operator $op: another last hash of an archived stretch fails: $out");
}

# a dump keeps the archive's bookkeeping: the restored database's chains and
# log verify, and the next record goes on each chain (not back to seq 1)
my $dump = "$dir/archived.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump -Fc');
sql(q{CREATE DATABASE restored TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'});
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore into a new database');
is($node->safe_psql('restored', q{SELECT (SELECT count(*) FROM shilian.ledger_archived) || ' '
	|| (SELECT string_agg(operator || ':' || ok || coalesce(':' || reason, ''), ' ' ORDER BY operator) FROM shilian.chain_verify())
	|| ' ' || (SELECT ok FROM shilian.log_verify())}), "2 0:true $farm:true $wh:true true",
	'restored: both archived months recorded, every chain and the log verify');
is($node->safe_psql('restored', q{SELECT count(*) FROM shilian.ledger_chain}), sql('SELECT count(*) FROM shilian.ledger_chain'),
	'restored: ledger_chain has as many rows as before the dump');
is($node->safe_psql('restored', qq{SELECT shilian.ledger_append($wh, 'note', '{"n": 2}') > 0;
	SELECT l.seq = (SELECT max(seq) FROM shilian.ledger_chain WHERE operator_id = $wh) AND l.seq > 1
	  FROM shilian.ledger l WHERE l.operator_id = $wh ORDER BY l.id DESC LIMIT 1;
	SELECT ok FROM shilian.chain_verify($wh)}), "t\nt\nt", 'restored: the next entry goes on the chain after its archived stretches');

# a live entry removed behind the guard's back is still found
sql(qq{SET session_replication_role = replica; DELETE FROM shilian.ledger_p202304 WHERE seq = (SELECT min(seq)
	FROM shilian.ledger_p202304 WHERE operator_id = $farm) AND operator_id = $farm});
like(sql("SELECT ok || ' ' || reason FROM shilian.chain_verify($farm)"), qr/^false sequence gap/,
	'a missing entry that was not archived still breaks the chain');

done_testing();
