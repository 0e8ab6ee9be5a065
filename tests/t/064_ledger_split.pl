# A past ledger month still in ledger_default gets a partition of its own
# (issue 22, docs/operations.md#a-month-still-in-the-default-partition). The
# server runs with its clock in January and February 2023 (libfaketime, as in
# 062) and no month partition is made, as in a ledger upgraded from 0.2.0:
# every entry goes to ledger_default. On the real clock, January cannot be
# archived (SLL60, whose hint names ledger_month_split); ledger_month_split
# moves its entries unchanged into ledger_p202301, attached like a month
# partition made ahead (keys, indexes, triggers, RLS), refusing a month not
# over, other roles, and any other removal from ledger_default (also in the
# same transaction); chains, the log and proofs verify; January is then
# archived and proved offline; a dump and restore keeps the new partition.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $verify = "$ENV{SHILIAN_TOP}/shilian-verify";
my $dir = File::Temp::tempdir(DIR => $PostgreSQL::Test::Utils::tmp_check);
plan skip_all => 'libfaketime not found (make deps installs faketime)' unless faketime_lib();

my $node = PostgreSQL::Test::Cluster->new('split');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off\nsynchronous_commit = off\ntimezone = 'UTC'\n");

sub start_at { restart_at($node, @_) }
sub sql { return $node->safe_psql('postgres', $_[0]); }

sub refused { return sqlstate_of($node, $_[0]) }

# an error's hint
sub hint
{
	my ($q) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$q");
	return $err =~ /HINT:\s+(.*)/ ? $1 : '';
}

start_at(2023, 1, 10);
sql('CREATE EXTENSION shilian');
is(sql('SELECT shilian.platform_today()'), '2023-01-10', 'the server clock is at 10 January 2023');
sql(q{
	SET client_min_messages = warning;
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
lot_round('2023-01-20');
lot_round(undef);
sql('SELECT shilian.checkpoint()');

start_at(2023, 2, 10);
lot_round('2023-02-20');
sql('SELECT shilian.checkpoint()');

my $jan_q = q{FROM shilian.ledger WHERE recorded_at >= '2023-01-01 00:00+08' AND recorded_at < '2023-02-01 00:00+08'};
my $feb_q = q{FROM shilian.ledger WHERE recorded_at >= '2023-02-01 00:00+08' AND recorded_at < '2023-03-01 00:00+08'};
my $jan = sql("SELECT count(*) $jan_q");
my $feb = sql("SELECT count(*) $feb_q");
ok($jan >= 10, "January holds $jan entries");
is($feb, '4', 'February holds 4');
is(sql(q{SELECT count(*) FROM pg_inherits WHERE inhparent = 'shilian.ledger'::regclass}), '1',
	'no month partition was made: the ledger has its default partition only');
is(sql('SELECT count(*) FROM shilian.ledger_default'), $jan + $feb, 'every entry is in ledger_default');
# what the move must keep: every column of every January entry
my $jan_rows = "SELECT md5(string_agg(concat_ws('|', id, operator_id, seq, kind, encode(body, 'hex'), alg,
	encode(prev_hash, 'hex'), encode(hash, 'hex'), supersedes, recorded_at, source, on_date), ',' ORDER BY id)) $jan_q";
my $jan_md5 = sql($jan_rows);

# the real clock
start_at();
my $today = sql('SELECT shilian.platform_today()');
ok($today ge '2026-01-01', "the real clock again ($today)");
sql('SELECT shilian.ledger_partitions_ahead(0)');
my $cur = substr($today, 0, 7) . '-01';

# ---- refusals -------------------------------------------------------------------------
is(refused("SELECT shilian.ledger_archive_export('2023-01-01')"), 'SLL60',
	'January, in ledger_default, cannot be exported (SLL60)');
like(hint("SELECT shilian.ledger_archive_export('2023-01-01')"), qr/ledger_month_split/,
	'... and the hint names ledger_month_split');
is(refused('SELECT shilian.ledger_month_split(NULL)'), 'SLL60', 'no month: SLL60');
is(refused("SELECT shilian.ledger_month_split('$cur')"), 'SLL61', 'the current month: SLL61');
is(refused("SELECT shilian.ledger_month_split('2099-01-01')"), 'SLL61', 'a future month: SLL61');
is(refused("SET ROLE shilian_operator; SELECT shilian.ledger_month_split('2023-01-01')"), '42501',
	'only shilian_admin may split a month');
is(refused("SET ROLE shilian_admin; SELECT shilian.ledger_split_allow('shilian.ledger_default', '-infinity', 'infinity')"),
	'42501', 'nor call the guard\'s allow function');
is(refused(q{DELETE FROM shilian.ledger_default WHERE recorded_at < '2023-02-01'}), 'SLL30',
	'DELETE from ledger_default is refused (SLL30)');
is(refused(q{BEGIN; SELECT shilian.ledger_month_split('2023-02-01');
	DELETE FROM shilian.ledger_default WHERE recorded_at < '2023-02-01'; COMMIT}), 'SLL30',
	'in the transaction that splits February, a DELETE of January from ledger_default is still refused');
is(sql("SELECT count(*) $feb_q") . ' ' . sql(q{SELECT to_regclass('shilian.ledger_p202302') IS NULL}), '4 t',
	'that transaction left nothing: February is still in ledger_default, with no partition');
is(refused(q{BEGIN; CREATE TABLE shilian.ledger_p202206 (LIKE shilian.ledger INCLUDING CONSTRAINTS);
	INSERT INTO shilian.ledger_p202206 (id, operator_id, seq, kind, body, alg, prev_hash, hash, recorded_at)
		VALUES (999999, 1, 1, 'x', '\x00', 1, '\x00', '\x00', '2022-06-05');
	ALTER TABLE shilian.ledger ATTACH PARTITION shilian.ledger_p202206 FOR VALUES FROM ('2022-06-01') TO ('2022-07-01');
	COMMIT}),
	'SLL31', 'attaching a month partition that holds rows is refused (SLL31): only the split brings rows');

# ---- the split --------------------------------------------------------------------------
is(sql("SET ROLE shilian_admin; SELECT shilian.ledger_month_split('2023-01-17')"), $jan,
	'shilian_admin moves January (any day of it names the month): every entry moved');
is(sql(q{SELECT count(*) FROM pg_inherits WHERE inhrelid = 'shilian.ledger_p202301'::regclass
	AND inhparent = 'shilian.ledger'::regclass}), '1', 'ledger_p202301 is a partition of the ledger');
is(sql(q{SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'shilian.ledger_p202301'::regclass}),
	q{FOR VALUES FROM ('2022-12-31 16:00:00+00') TO ('2023-01-31 16:00:00+00')}, 'bounded by the Asia/Shanghai month');
is(sql('SELECT count(*) FROM shilian.ledger_p202301'), $jan, 'it holds the month\'s entries');
is(sql($jan_rows), $jan_md5, 'unchanged: ids, chains, hashes, bodies, times, sources');
is(sql(q{SELECT count(*) FROM shilian.ledger_default WHERE recorded_at < '2023-02-01 00:00+08'}), '0',
	'ledger_default no longer holds January');
is(sql("SELECT count(*) FROM shilian.ledger_default"), '4', 'it still holds February');
# made like a month partition made ahead: same keys, indexes, triggers, RLS
my $shape = q{SELECT concat_ws(' ; ',
	(SELECT string_agg(replace(pg_get_indexdef(indexrelid), '%1$s', 'P'), ', ' ORDER BY pg_get_indexdef(indexrelid))
	   FROM pg_index WHERE indrelid = 'shilian.%1$s'::regclass),
	(SELECT string_agg(conname || ' ' || contype::text, ', ' ORDER BY conname) FROM pg_constraint
	  WHERE conrelid = 'shilian.%1$s'::regclass AND contype IN ('p', 'u')),
	(SELECT string_agg(tgname || ' ' || tgtype::text || ' ' || tgfoid::regproc::text, ', ' ORDER BY tgname) FROM pg_trigger
	  WHERE tgrelid = 'shilian.%1$s'::regclass),
	(SELECT relrowsecurity FROM pg_class WHERE oid = 'shilian.%1$s'::regclass))};
my $made = 'ledger_p' . substr($today, 0, 4) . substr($today, 5, 2);
my $shape_split = sql(sprintf($shape, 'ledger_p202301'));
my $shape_made = sql(sprintf($shape, $made));
$shape_split =~ s/ledger_p202301/P/g;
$shape_made =~ s/$made/P/g;
is($shape_split, $shape_made, "its keys, indexes, triggers and RLS are those of $made, made ahead");
is(refused('DELETE FROM shilian.ledger_p202301'), 'SLL30', 'DELETE of the new partition is refused (SLL30)');
is(refused('TRUNCATE shilian.ledger_p202301'), 'SLL30', 'TRUNCATE too');
is(refused(q{DELETE FROM shilian.ledger_default WHERE recorded_at >= '2023-02-01'}), 'SLL30',
	'and another transaction cannot delete from ledger_default');
is(sql(q{SELECT kind || ' ' || (shilian.ledger_body(body) ->> 'month') || ' ' || (shilian.ledger_body(body) ->> 'entries')
	FROM shilian.ledger WHERE operator_id = 0 ORDER BY id DESC LIMIT 1}), "ledger_month_split 2023-01 $jan",
	'the move is itself a ledger entry (operator 0)');
is(sql("SELECT shilian.ledger_month_split('2023-01-01')"), '0', 'splitting January again moves nothing');
is(sql("SELECT shilian.ledger_month_split('2022-12-01') || ' ' || (to_regclass('shilian.ledger_p202212') IS NULL)"), '0 true',
	'a month with no entries: nothing moved, no partition made');
is(sql(q{SELECT string_agg(operator || ':' || ok || coalesce(':' || reason, ''), ' ' ORDER BY operator)
	FROM shilian.chain_verify()}), "0:true $farm:true $wh:true", 'chain_verify: every chain verifies');
is(sql('SELECT ok FROM shilian.log_verify()'), 't', 'log_verify: the Merkle log verifies');
my $entry = sql(q{SELECT min(id) FROM shilian.ledger_p202301 WHERE kind = 'receive'});
is(sql("SELECT shilian.verify_inclusion(shilian.inclusion_proof($entry))"), 't', 'a moved entry\'s inclusion proof verifies');

# ---- then January is archived like any month ----------------------------------------------
sql('SELECT shilian.checkpoint()');
my $export = sql("SELECT line FROM shilian.ledger_archive_export('2023-01-01') AS e(line)") . "\n";
open my $fh, '>', "$dir/ledger_p202301.jsonl" or die;
print $fh $export;
close $fh;
my ($rc, $out) = run_cmd([ $verify, 'archive', "$dir/ledger_p202301.jsonl" ]);
like($out, qr/^OK: ledger month 2023-01, $jan entries of 2 chains: hashes, links and inclusion in tree \d+ verified/,
	'the moved month exports and shilian-verify archive proves it offline');
my ($tree, $sha) = $out =~ /tree_size (\d+) sha256 ([0-9a-f]{64})/;
is(sql("SET ROLE shilian_admin; SELECT shilian.ledger_archive('2023-01-01', $tree, '\\x$sha')"), $jan, 'January archived');
is(sql(q{SELECT string_agg(operator || ':' || ok || coalesce(':' || reason, ''), ' ' ORDER BY operator)
	FROM shilian.chain_verify()}), "0:true $farm:true $wh:true", 'chain_verify after the archive');

# ---- February moved too; a dump and restore keeps it ------------------------------------------
is(sql("SELECT shilian.ledger_month_split('2023-02-01')"), '4', 'February moved');
is(sql('SELECT count(*) FROM shilian.ledger_default'), '0', 'ledger_default is empty');
lot_round(undef);
my $dump = "$dir/split.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump -Fc');
sql(q{CREATE DATABASE restored TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'});
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore into a new database');
is($node->safe_psql('restored', q{SELECT (SELECT count(*) FROM shilian.ledger_p202302) || ' '
	|| (SELECT string_agg(operator || ':' || ok, ' ' ORDER BY operator) FROM shilian.chain_verify())
	|| ' ' || (SELECT ok FROM shilian.log_verify())}), "4 0:true $farm:true $wh:true true",
	'restored: February\'s partition, every chain and the log');

done_testing();
