# pg_dump and restore of the identifier and quantity types: values survive
# in both the plain and the custom formats, the trace code
# sequence keeps its position (no serial is issued twice after a restore),
# codes accepted under shilian.uscc_lenient restore only with the
# setting on, as docs/types.md says, and the public tokens printed before
# the dump stay valid after the restore (docs/security.md#public-access).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('types_dump');
my $dir = $node->basedir;

$node->safe_psql('postgres', q{
SET search_path = shilian, public;
CREATE TABLE public.held (id int PRIMARY KEY, u uscc, l licence_no, c trace_code, q qty);
INSERT INTO public.held
SELECT i, (ARRAY['914403001922038216', '91440300708461136T', '91350100M000100Y43'])[1 + i % 3]::uscc,
       (ARRAY['SC11834020305037', 'JY23501110153674', 'XZF37010200000011'])[1 + i % 3]::licence_no,
       trace_code_next('370102'), qty(i * 0.125, (ARRAY['kg', 'L', 'pcs'])[1 + i % 3])
  FROM generate_series(1, 50) i;
});
my $before = $node->safe_psql('postgres', 'select string_agg(held::text, E\'\n\' order by id) from held');
my $last = $node->safe_psql('postgres', 'select max(c::text) from held');
# the public tokens of the held codes (the key is read as the superuser)
my $tokens_sql = 'select string_agg(shilian.lot_token(shilian.lot_secret(), c), \',\' order by id) from held';
my $tokens = $node->safe_psql('postgres', $tokens_sql);

for my $format ('p', 'c')
{
	my $db = "restored_$format";
	my $file = "$dir/dump.$format";
	$node->command_ok([ 'pg_dump', '-F', $format, '-f', $file, '-d', $node->connstr('postgres') ],
		"pg_dump -F $format");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq 'p')
	{
		$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $file, '-d', $node->connstr($db) ],
			'plain dump restores');
	}
	else
	{
		$node->command_ok([ 'pg_restore', '-d', $node->connstr($db), $file ], 'custom dump restores');
	}
	is($node->safe_psql($db, 'select string_agg(held::text, E\'\n\' order by id) from held'), $before,
		"-F $format: every value restored identically");
	my $next = $node->safe_psql($db, "select shilian.trace_code_next('370102')::text");
	cmp_ok($next, 'gt', $last, "-F $format: the restored sequence issues codes after the last one ($next > $last)");
	is($node->safe_psql($db, "select count(*) from held where c OPERATOR(shilian.=) '$next'"), '0',
		"-F $format: the new code is none of the restored ones");
	# the restore's CREATE EXTENSION drew a key of its own; the restored, older one is in use
	is($node->safe_psql($db, 'select count(*) from shilian.public_secret'), '2',
		"-F $format: the public-token key is restored next to the one CREATE EXTENSION drew");
	is($node->safe_psql($db, $tokens_sql), $tokens, "-F $format: printed public tokens stay valid");
}

# A code accepted under shilian.uscc_lenient: the dump restores only with the setting on.
$node->safe_psql('postgres', q{
	SET shilian.uscc_lenient = on;
	CREATE TABLE public.pilot (u shilian.uscc);
	INSERT INTO public.pilot VALUES ('914403001922038217');
});
my $file = "$dir/pilot.sql";
$node->command_ok([ 'pg_dump', '-t', 'public.pilot', '-f', $file, '-d', $node->connstr('postgres') ], 'pg_dump of lenient codes');
$node->safe_psql('postgres', 'CREATE DATABASE pilot_strict; CREATE DATABASE pilot_lenient');
$node->safe_psql($_, 'CREATE EXTENSION shilian') for qw(pilot_strict pilot_lenient);
my ($ret, $out, $err) = $node->psql('pilot_strict', PostgreSQL::Test::Utils::slurp_file($file), on_error_stop => 1);
isnt($ret, 0, 'restoring a lenient code without the setting fails');
like($err, qr/invalid check character for uscc: "914403001922038217", should be 6/, 'naming the check character');
{
	local $ENV{PGOPTIONS} = '-c shilian.uscc_lenient=on';
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $file, '-d', $node->connstr('pilot_lenient') ],
		'restoring with PGOPTIONS=-c shilian.uscc_lenient=on works');
}
is($node->safe_psql('pilot_lenient', 'select u::text || \' \' || shilian.uscc_is_strict(u) from pilot'),
	'914403001922038217 false', 'the lenient code is back, still marked not strict');

$node->stop;
done_testing();
