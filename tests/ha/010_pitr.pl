# Point-in-time recovery with pgBackRest (docs/operations.md#backups-and-
# point-in-time-recovery): a repository in the test's directory, WAL
# archived by archive-push, a full backup; then records are written and
# checkpointed, a point is noted between two commits (a named restore point,
# and a timestamp between two other commits), more records come. Each
# restore into a fresh data directory brings back exactly the records
# committed before its point: every hash chain and the Merkle log verify in
# the restored database, and shilian-verify, offline, checks each operator's
# export against the root of the checkpoint taken before the point.
use strict;
use warnings;
use File::Path qw(make_path);
use File::Temp qw(tempfile);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use ShilianTest;

my $verify = "$ENV{SHILIAN_TOP}/shilian-verify";
my $pgbackrest = '/usr/bin/pgbackrest';
plan skip_all => 'pgbackrest is not installed (make deps installs it)' unless -x $pgbackrest;

my $dir = $PostgreSQL::Test::Utils::tmp_check;
my $stanza = 'shilian';
my $conf = "$dir/pgbackrest.conf";

my $node = PostgreSQL::Test::Cluster->new('pitr');
$node->init(allows_streaming => 1);
# The documented settings (docs/operations.md): the repository, and the
# server's WAL archived into it.
make_path("$dir/pgbackrest/repo", "$dir/pgbackrest/log", "$dir/pgbackrest/lock", "$dir/pgbackrest/spool");
open my $fh, '>', $conf or die;
print $fh <<CONF;
[global]
repo1-path=$dir/pgbackrest/repo
repo1-retention-full=2
log-path=$dir/pgbackrest/log
lock-path=$dir/pgbackrest/lock
spool-path=$dir/pgbackrest/spool
log-level-console=warn
log-level-file=info
start-fast=y
compress-type=lz4

[$stanza]
pg1-path=@{[ $node->data_dir ]}
pg1-socket-path=@{[ $node->host ]}
pg1-port=@{[ $node->port ]}
CONF
close $fh;
$node->append_conf('postgresql.conf', qq{
timezone = 'UTC'
archive_mode = on
archive_command = '$pgbackrest --config=$conf --stanza=$stanza archive-push %p'
archive_timeout = 60
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION shilian');

sub backrest
{
	my (@args) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ $pgbackrest, "--config=$conf", "--stanza=$stanza", @args ], '>', \$out, '2>', \$err);
	diag("pgbackrest @args: $out$err") unless $ok;
	return $ok;
}

ok(backrest('stanza-create'), 'pgbackrest stanza-create');
ok(backrest('check'), 'pgbackrest check: the archive receives WAL');

# Some records before the backup, then the full backup.
$node->safe_psql('postgres', q{
	SELECT shilian.ledger_append(op, 'batch_create', jsonb_build_object('n', i, 'lot', 'B' || op || '-' || i))
	  FROM generate_series(1, 5) i, generate_series(1, 3) op;
});
ok(backrest('--type=full', 'backup'), 'pgbackrest full backup');

# After the backup: more records, a checkpoint (its root is what an auditor
# keeps), more records in their own commits.
$node->safe_psql('postgres', q{
	SELECT shilian.ledger_append(op, 'inspect', jsonb_build_object('n', i, 'result', 'pass'))
	  FROM generate_series(6, 10) i, generate_series(1, 3) op;
	SELECT shilian.checkpoint();
});
my ($cp_size, $cp_root) = split /\|/, $node->safe_psql('postgres',
	q{SELECT tree_size, encode(root, 'hex') FROM shilian.checkpoint ORDER BY tree_size DESC LIMIT 1});
is($cp_size, 30, 'the checkpoint before the points covers 30 records');

# The ledger as it stands: one line per record (operator, seq, hash).
my $LEDGER = q{SELECT string_agg(operator_id || ':' || seq || ':' || encode(hash, 'hex'), ' ' ORDER BY operator_id, seq)
	FROM shilian.ledger};
my $COUNT = q{SELECT count(*) FROM shilian.ledger};

# Commit 1, the named restore point, commit 2.
$node->safe_psql('postgres', q{
	SELECT shilian.ledger_append(op, 'ship', jsonb_build_object('n', 11, 'to', 'W1')) FROM generate_series(1, 3) op;
});
my $at_point = $node->safe_psql('postgres', $LEDGER);
$node->safe_psql('postgres', q{SELECT pg_create_restore_point('before_recall')});
$node->safe_psql('postgres', q{
	SELECT shilian.ledger_append(op, 'recall', jsonb_build_object('n', 12)) FROM generate_series(1, 3) op;
});
# Commit 3, a timestamp, commit 4 (the server's clock, and a pause on each
# side so the commits' times differ from it).
usleep(1_100_000);
my $at_time = $node->safe_psql('postgres', $LEDGER);
my $time = $node->safe_psql('postgres', q{SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'});
usleep(1_100_000);
$node->safe_psql('postgres', q{
	SELECT shilian.ledger_append(op, 'consume', jsonb_build_object('n', 13)) FROM generate_series(1, 3) op;
	SELECT shilian.checkpoint();
});
my $at_end = $node->safe_psql('postgres', $COUNT);
is($at_end, 39, 'the primary ends with 39 records');
# The last commits reach the archive (a segment switch, then archive-push).
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(backrest('check'), 'the WAL of the last commits is archived');

# Restore into a fresh node's data directory; it promotes at the target.
sub restore_to
{
	my ($name, @target) = @_;
	my $r = PostgreSQL::Test::Cluster->new($name);
	my $data = $r->data_dir;
	make_path($data);
	chmod 0700, $data;
	ok(backrest("--pg1-path=$data", @target, '--target-action=promote', 'restore'),
		"$name: pgbackrest restore @target");
	# the restored node listens on its own port and socket, and archives nothing
	$r->append_conf('postgresql.conf', "port = @{[ $r->port ]}\nunix_socket_directories = '@{[ $r->host ]}'\n"
		  . "archive_mode = off\n");
	$r->start;
	$r->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die "$name did not promote";
	return $r;
}

sub export_verify
{
	my ($r, $op) = @_;
	my ($fh, $file) = tempfile(DIR => $dir, SUFFIX => '.jsonl');
	print $fh $r->safe_psql('postgres', "SELECT * FROM shilian.ledger_export($op)"), "\n";
	close $fh;
	my ($out, $err);
	IPC::Run::run([ $verify, '--old-size', $cp_size, '--old-root', $cp_root, $file ], '>', \$out, '2>', \$err);
	chomp $out;
	return ($? >> 8, $out);
}

for my $case ([ 'restored_name', [ '--type=name', '--target=before_recall' ], $at_point, 33 ],
	[ 'restored_time', [ '--type=time', "--target=$time" ], $at_time, 36 ])
{
	my ($name, $target, $want, $n) = @$case;
	my $r = restore_to($name, @$target);
	is($r->safe_psql('postgres', $COUNT), $n, "$name: $n records, not the $at_end of the primary");
	is($r->safe_psql('postgres', $LEDGER), $want,
		"$name: exactly the records committed before the point (operator, seq and hash of each)");
	is($r->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE NOT ok) || ' of ' || count(*) FROM shilian.chain_verify()}),
		'0 of 3', "$name: every hash chain verifies");
	is($r->safe_psql('postgres', 'SELECT ok FROM shilian.log_verify()'), 't', "$name: the Merkle log verifies");
	is($r->safe_psql('postgres', q{SELECT max(tree_size) || ' ' || encode((array_agg(root ORDER BY tree_size DESC))[1], 'hex')
		FROM shilian.checkpoint}), "$cp_size $cp_root", "$name: the checkpoint before the point is the last one, root unchanged");
	# A checkpoint of the restored ledger, consistent with the one before the
	# point: every record is proved included, offline.
	$r->safe_psql('postgres', 'SELECT shilian.checkpoint()');
	for my $op (1 .. 3)
	{
		my ($rc, $out) = export_verify($r, $op);
		is($rc, 0, "$name: shilian-verify accepts operator ${op}'s export")
		  or diag($out);
		like($out, qr/^OK: operator $op, (\d+) entries, chain verified, \1 included in tree $n, consistent with the old root$/,
			"$name: operator $op: chain, inclusion in the new tree and consistency with the root before the point");
	}
	$r->stop;
}

$node->stop;
done_testing();
