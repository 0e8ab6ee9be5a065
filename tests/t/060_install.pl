# Install-time guard rails and operations, as docs/install.md promises them:
# CREATE EXTENSION refuses a non-UTF8 database (SLX01) and leaves nothing;
# the shilian.* prefix is reserved (misspelt names are errors; the gateway's
# request settings still work, also with session_preload_libraries); the
# settings table of docs/install.md is exactly pg_settings; the gateway's
# settings in --help, the docs table, the man page and the example config
# agree; a dump restores with chains and the Merkle log verifying; the
# documented uninstall leaves no object the extension made (every catalog
# compared with before CREATE EXTENSION) and the documented DROP ROLE leaves
# no role.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP} or die 'SHILIAN_TOP is not set';
my $install_md = slurp_file("$top/docs/install.md");
my ($version) = slurp_file("$top/shilian.control") =~ /default_version = '([^']+)'/;

my $node = PostgreSQL::Test::Cluster->new('install');
$node->init;
$node->append_conf('postgresql.conf', "fsync = off\n");
$node->start;

# ---- catalog snapshot before anything of shilian exists ------------------------
# Every catalog row with an oid (database-local and shared), and the row counts
# of the catalogs without one.
my $oid_catalogs = $node->safe_psql('postgres', q{
	SELECT string_agg(format('SELECT %L || '':'' || oid FROM pg_catalog.%I', c.relname, c.relname), ' UNION ALL ')
	  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'oid'
	 WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r'});
my $count_catalogs = q{
	SELECT 'pg_depend', count(*) FROM pg_depend UNION ALL SELECT 'pg_shdepend', count(*) FROM pg_shdepend
	UNION ALL SELECT 'pg_description', count(*) FROM pg_description
	UNION ALL SELECT 'pg_shdescription', count(*) FROM pg_shdescription
	UNION ALL SELECT 'pg_init_privs', count(*) FROM pg_init_privs
	UNION ALL SELECT 'pg_db_role_setting', count(*) FROM pg_db_role_setting
	UNION ALL SELECT 'pg_auth_members', count(*) FROM pg_auth_members
	UNION ALL SELECT 'pg_seclabel', count(*) FROM pg_seclabel
	UNION ALL SELECT 'pg_inherits', count(*) FROM pg_inherits ORDER BY 1};
$node->safe_psql('postgres', 'CREATE DATABASE app');
sub snapshot
{
	my %rows = map { $_ => 1 } split /\n/, $node->safe_psql('app', $oid_catalogs);
	return (\%rows, $node->safe_psql('app', $count_catalogs));
}
my ($before, $before_counts) = snapshot();

# ---- UTF8 only -------------------------------------------------------------------
for my $enc ('SQL_ASCII', 'LATIN1')
{
	my $db = lc "db_$enc";
	$node->safe_psql('postgres',
		"CREATE DATABASE $db TEMPLATE template0 ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C'");
	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\nCREATE EXTENSION shilian");
	like($err, qr/ERROR:  SLX01: shilian needs a UTF8 database: database $db is encoded $enc/,
		"CREATE EXTENSION in a $enc database: SLX01 naming the database and its encoding");
	like($err, qr/HINT:  Create the database with createdb -E UTF8 -T template0/, "$enc: the hint says how");
	is($node->safe_psql($db, q{SELECT count(*) FROM pg_namespace WHERE nspname = 'shilian'}), '0',
		"$enc: no schema is left behind");
	$node->safe_psql('postgres', "DROP DATABASE $db");
}
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname LIKE 'shilian%'}), '0',
	'a refused CREATE EXTENSION creates no role');

$node->safe_psql('app', 'SET client_min_messages = warning; CREATE EXTENSION shilian');

# ---- the settings table of docs/install.md is pg_settings -------------------------
my ($settings_section) = $install_md =~ /^## Settings\n(.*?)^## /ms;
my %doc;
for my $line (split /\n/, $settings_section // '')
{
	next unless $line =~ /^\| `(shilian\.[a-z_]+)` \| ([^|]+) \| ([^|]+) \|/;
	my ($name, $default, $who) = ($1, $2, $3);
	$default =~ s/^\s+|\s+$//g;
	$default = $default eq 'empty' ? '' : $default =~ /^`(.*)`$/ ? $1 : "?$default";
	$doc{$name} = join '|', $name, $default, $who =~ /^superuser/ ? 'superuser' : $who =~ /^anyone/ ? 'user' : "?$who";
}
my $docs_settings = join "\n", map { $doc{$_} } sort keys %doc;
# pg_settings lists the library's settings once it is loaded in the session
my $pg_settings = $node->safe_psql('app', q{
	LOAD 'shilian';
	SELECT string_agg(name || '|' || boot_val || '|' || context, E'\n' ORDER BY name)
	  FROM pg_settings WHERE name LIKE 'shilian.%'});
is($docs_settings, $pg_settings,
	'docs/install.md lists every shilian.* setting, each with its default and who may set it (pg_settings)');
cmp_ok(scalar(keys %doc), '>=', 10, 'and the table is read (10 settings or more)');

# ---- the prefix is reserved ---------------------------------------------------------
my ($ret, $out, $err) = $node->psql('app', q{SELECT shilian.version(); SET shilian.hash_algoritm = 'sm3'});
like($err, qr/invalid configuration parameter name "shilian.hash_algoritm"/,
	'a misspelt setting is an error once the library is loaded');
($ret, $out, $err) = $node->psql('app', q{SELECT shilian.version(); SELECT set_config('shilian.operatorid', '5', true)});
like($err, qr/"shilian" is a reserved prefix/, 'also through set_config');
($ret, $out, $err) = $node->psql('app', q{SELECT shilian.version(); ALTER DATABASE app SET shilian.hashalgorithm = 'sm3'});
like($err, qr/invalid configuration parameter name "shilian.hashalgorithm"/, 'also in ALTER DATABASE SET');
($ret, $out, $err) = $node->psql('app', q{SET shilian.hash_algoritm = 'sm3'; SELECT shilian.version()});
like($err, qr/WARNING:  invalid configuration parameter name "shilian.hash_algoritm", removing it/,
	'set before the library loads, a misspelt name is removed with a warning when it loads');
is($node->safe_psql('app', q{
	SELECT set_config('shilian.operator_id', '42', true), set_config('shilian.jurisdiction', '370102', true),
		set_config('shilian.client', 'erp', true), shilian.version(),
		current_setting('shilian.operator_id'), current_setting('shilian.jurisdiction')}),
	"42|370102|erp|$version|42|370102",
	'the request settings the gateway sets before the library loads are registered settings, kept when it loads');

# With session_preload_libraries (docs/install.md) the prefix holds from the first statement.
$node->safe_psql('app', q{ALTER DATABASE app SET session_preload_libraries = 'shilian'});
($ret, $out, $err) = $node->psql('app', q{SET shilian.hash_algoritm = 'sm3'});
like($err, qr/ERROR:  invalid configuration parameter name "shilian.hash_algoritm"/,
	'with session_preload_libraries a misspelt setting is an error from the first statement');
my $gw = start_gateway($node, threads => 2,
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=app user=shilian_gateway');
my $r = http_call($gw, 'GET', '/v1/session',
	headers => { Authorization => 'Bearer ' . make_jwt({ role => 'regulator', jurisdiction => '370102' }) });
is($r->{status}, 200, 'the gateway works with the library preloaded and the prefix reserved');
is(json_body($r)->{jurisdiction}, '370102', 'and sets the request settings');
$r = http_call($gw, 'GET', '/healthz');
is($r->{status}, 200, '/healthz');
stop_gateway($gw);

# ---- gateway settings: --help, docs, man page and example config agree ----------------
my $help = `$ENV{SHILIAN_GATEWAY} --help 2>&1`;
my %help = map { $_->[0] => $_->[1] } map { [/^\s+([a-z_]+)\s+(SHILIAN_[A-Z_]+)\s/] } grep { /^\s+[a-z_]+\s+SHILIAN_[A-Z_]+\s/ } split /\n/, $help;
cmp_ok(scalar(keys %help), '>=', 12, 'shilian-gateway --help lists its settings');
my ($gw_section) = $install_md =~ /^### Gateway settings\n(.*?)^## /ms;
my %doc_gw = map { $_->[0] => $_->[1] } map { [/^\| `([a-z_]+)` \| `(SHILIAN_[A-Z_]+)` \|/] } grep { /^\| `[a-z_]+` \| `SHILIAN_/ } split /\n/, $gw_section // '';
is(join(',', map { "$_=$doc_gw{$_}" } sort keys %doc_gw), join(',', map { "$_=$help{$_}" } sort keys %help),
	'docs/install.md "Gateway settings" lists exactly the settings of --help, with their variables');
my $man = slurp_file("$top/gateway/dist/shilian-gateway.8");
my %man = map { $_->[0] => $_->[1] } map { [/^\.BR ([a-z_]+) " \(" (SHILIAN_[A-Z_]+) \)$/] } grep { /^\.BR [a-z_]+ " \(" SHILIAN_/ } split /\n/, $man;
is(join(',', map { "$_=$man{$_}" } sort keys %man), join(',', map { "$_=$help{$_}" } sort keys %help),
	'man shilian-gateway lists exactly the settings of --help');
my $conf = slurp_file("$top/gateway/dist/gateway.conf");
my %conf = map { $_ => 1 } $conf =~ /^#? ?([a-z_]+) = /mg;
is(join(',', sort keys %conf), join(',', sort keys %help),
	'the example gateway.conf names exactly the settings of --help (set or commented out)');
my $unit = slurp_file("$top/gateway/dist/shilian-gateway.service.in");
like($unit, qr{^ExecStart=\@bindir\@/shilian-gateway --config \@confdir\@/gateway.conf$}m,
	'the unit starts the gateway with the config docs/install.md describes');
like($install_md, qr{/usr/bin/shilian-gateway --config /etc/shilian/gateway.conf}, 'and the docs give that command');

# ---- backup and restore, as docs/install.md has them -----------------------------------
$node->safe_psql('app', q{ALTER DATABASE app RESET session_preload_libraries});
# the month partitions of the ledger, inspections and consumption, as the
# daily job makes them: they are not members of the extension, so the dump
# has them (CREATE TABLE, ATTACH PARTITION, owner, keys and TRUNCATE
# trigger), which the DDL guard lets the restore run (docs/operations.md,
# partitioning)
is($node->safe_psql('app', q{SELECT shilian.partitions_ahead() >= 11}), 't',
	'partitions_ahead makes the months ahead (ledger, inspection, consumption)');
my $demo = "$top/tests/demo/province.sql";
($ret, $out, $err) = $node->psql('app', undef,
	extra_params => [ '-v', 'ON_ERROR_STOP=1', '-c', 'SET client_min_messages = warning', '-f', $demo ]);
is($ret, 0, 'the demo province loads') or diag($err);
my $dump = $node->basedir . '/app.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('app') ], 'pg_dump -Fc');
$node->safe_psql('postgres', q{CREATE DATABASE restored TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'});
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore into a new UTF8 database');
is($node->safe_psql('restored', q{
	SELECT (SELECT count(*) FROM shilian.chain_verify() WHERE NOT ok),
		(SELECT bool_and(ok) FROM shilian.log_verify()),
		(SELECT count(*) FROM shilian.ledger) = (SELECT max(tree_size) FROM shilian.checkpoint)}),
	'0|t|t', 'after the restore every chain and the Merkle log verify (the checks docs/install.md lists)');
is($node->safe_psql('restored', 'SELECT string_agg(root::text, \',\' ORDER BY tree_size) FROM shilian.checkpoint'),
	$node->safe_psql('app', 'SELECT string_agg(root::text, \',\' ORDER BY tree_size) FROM shilian.checkpoint'),
	'and the published tree heads are the same');
# (entries per partition by tableoid: no XML functions, which a server built
# without libxml lacks, as the assert-enabled one of make test-assert)
my $parts = q{SELECT string_agg(c.relname || ':' || coalesce(n.n, 0), ',' ORDER BY c.relname)
	  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	  LEFT JOIN (SELECT l.tableoid, count(*) AS n FROM shilian.ledger l GROUP BY l.tableoid) n ON n.tableoid = c.oid
	 WHERE i.inhparent = 'shilian.ledger'::regclass};
is($node->safe_psql('restored', $parts), $node->safe_psql('app', $parts),
	'the ledger has the same partitions with the same entries after the restore');
my $records = q{SELECT string_agg(c.relname || ':' || coalesce(n.n, 0), ',' ORDER BY c.relname)
	  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	  LEFT JOIN (SELECT x.tableoid, count(*) AS n FROM shilian.inspection x GROUP BY x.tableoid
				 UNION ALL SELECT y.tableoid, count(*) FROM shilian.consumption y GROUP BY y.tableoid) n ON n.tableoid = c.oid
	 WHERE i.inhparent IN ('shilian.inspection'::regclass, 'shilian.consumption'::regclass)};
is($node->safe_psql('restored', $records), $node->safe_psql('app', $records),
	'inspections and consumption have the same partitions with the same rows after the restore');
is($node->safe_psql('restored', q{SELECT (SELECT count(*) FROM shilian.ledger_chain) = (SELECT count(*) FROM shilian.ledger)}),
	't', 'and ledger_chain was refilled from the restored entries');
# receipt_exception is derived and not dumped: the triggers refill it as the
# restore loads batches, links and inspections (the demo has receipts
# without their incoming inspection)
my $rx = q{SELECT count(*) || ':' || coalesce(string_agg(concat_ws('/', b.trace_code, l.id IS NOT NULL, e.received_on,
		e.uninspected, e.expires_on), ',' ORDER BY b.trace_code), '')
	  FROM shilian.receipt_exception e JOIN shilian.batch b ON b.id = e.batch_id
	  LEFT JOIN shilian.link l ON l.id = e.link_id};
my $rx_app = $node->safe_psql('app', $rx);
unlike($rx_app, qr/^0:/, 'the demo has receipts that break the rules of receipt_exception');
is($node->safe_psql('restored', $rx), $rx_app, 'and receipt_exception is refilled by the restore, the same');
$node->safe_psql('postgres', 'DROP DATABASE restored');
$node->safe_psql('app', 'DROP SCHEMA shilian_demo CASCADE');

# ---- uninstall, as docs/install.md has it ---------------------------------------------
# (pg_cron is not loaded here: unschedule_jobs is checked in 061_schedule.pl.)
my ($uninstall) = $install_md =~ /^## Uninstall\n.*?```sql fresh\n(.*?)```/ms;
$uninstall =~ s/^SELECT shilian.unschedule_jobs\(\);.*\n//m;
$uninstall =~ s/ALTER DATABASE shilian /ALTER DATABASE app /;
($ret, $out, $err) = $node->psql('app', "SET client_min_messages = warning;\n$uninstall", on_error_stop => 1);
is($ret, 0, 'the uninstall statements of docs/install.md run') or diag($err);
my ($after, $after_counts) = snapshot();
my @left = grep { !$before->{$_} } sort keys %$after;
my @roles = grep { /^pg_authid:/ } @left;
my @other = grep { !/^pg_authid:/ } @left;
is(join(' ', map { my ($cat, $oid) = split /:/; $node->safe_psql('app',
	"SELECT coalesce(pg_describe_object('pg_catalog.$cat'::regclass, $oid, 0), '$cat $oid')") } @other), '',
	'after DROP EXTENSION and DROP SCHEMA no object made by the extension is left in any catalog');
is(scalar(@roles), 9, 'only the nine roles are left (cluster-wide, kept by DROP EXTENSION)');
my ($drop_roles) = $install_md =~ /^## Uninstall\n.*?```sql fresh\n.*?```.*?```sql fresh\n(.*?)```/ms;
like($drop_roles, qr/^DROP ROLE /, 'docs/install.md gives the DROP ROLE statement');
$node->safe_psql('app', $drop_roles);
($after, $after_counts) = snapshot();
is(join(' ', grep { !$before->{$_} } sort keys %$after), '', 'after the documented DROP ROLE no role is left either');
is($after_counts, $before_counts,
	'and the catalogs without oids (dependencies, comments, privileges, settings, memberships) are as before');

done_testing();
