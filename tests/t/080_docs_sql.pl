# Every SQL example in docs/*.md runs as written (docs/development.md,
# "SQL examples in the docs"). Each page's ```sql blocks run in order in one
# psql session, in a database copied from the demo province
# (tests/demo/province.sql), so variables a block sets with \gset serve the
# blocks after it. The info string of a fence says how a block runs:
#   ```sql          runs; any error fails the page
#   ```sql setup    the same; it defines what the page's examples use
#   ```sql error    every statement fails, with the errors its "-- ERROR:"
#                   comments give, in order (and no other error)
#   ```sql fresh    runs in database shilian of a second cluster without the
#                   extension and with pg_cron preloaded (installing,
#                   scheduling, upgrading and removing the extension)
# A fence of another language (```text for signatures) is not SQL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Temp qw(tempdir);
use ShilianTest;

my $top = $ENV{SHILIAN_TOP} or die 'SHILIAN_TOP is not set';
my $tmp = tempdir(CLEANUP => 1);

# Blocks of a page: [info words, body, line].
sub blocks
{
	my ($path) = @_;
	open my $fh, '<', $path or die "$path: $!";
	my @lines = <$fh>;
	my (@out, $cur);
	for my $i (0 .. $#lines)
	{
		my $l = $lines[$i];
		if (!$cur && $l =~ /^```(\S+)(.*)$/)
		{
			my ($lang, @words) = ($1, split ' ', $2);
			$cur = { lang => $lang, words => \@words, body => '', line => $i + 1 };
		}
		elsif ($cur && $l =~ /^```\s*$/)
		{
			push @out, $cur if $cur->{lang} eq 'sql';
			undef $cur;
		}
		elsif ($cur)
		{
			$cur->{body} .= $l;
		}
	}
	die "$path: a fence is not closed (line $cur->{line})" if $cur;
	return @out;
}

sub has { my ($b, $w) = @_; return scalar grep { $_ eq $w } @{ $b->{words} }; }

my @pages = sort glob("$top/docs/*.md");
my (%demo_blocks, %fresh_blocks, $count);
for my $page (@pages)
{
	my $name = ($page =~ m{([^/]+)\.md$})[0];
	for my $b (blocks($page))
	{
		my @bad = grep { !/^(setup|error|fresh)$/ } @{ $b->{words} };
		ok(!@bad, "docs/$name.md:$b->{line}: known fence words") or diag("unknown: @bad");
		if (has($b, 'fresh')) { push @{ $fresh_blocks{$name} }, $b; }
		else { push @{ $demo_blocks{$name} }, $b; }
		$count++;
	}
}
ok($count > 40, "the docs hold $count SQL examples");

# Run one page's blocks as one psql script; returns (ret, stderr, expected errors).
sub run_page
{
	my ($node, $db, $name, $blocks) = @_;
	my $script = "\\set ON_ERROR_STOP on\n";
	my @expect;
	for my $b (@$blocks)
	{
		my $error = has($b, 'error');
		$script .= "\\echo '-- docs/$name.md:$b->{line}'\n";
		$script .= "\\set ON_ERROR_STOP off\n" if $error;
		$script .= $b->{body};
		$script .= "\n\\set ON_ERROR_STOP on\n" if $error;
		if ($error)
		{
			my @e = $b->{body} =~ /^--\s*ERROR:\s+(.*?)\s*$/mg;
			ok(@e > 0, "docs/$name.md:$b->{line}: an error block says which errors");
			push @expect, @e;
		}
	}
	my $file = "$tmp/$name.sql";
	open my $fh, '>', $file or die $!;
	print $fh $script;
	close $fh;
	my ($ret, $out, $err) = $node->psql($db, undef,
		extra_params => ['-X', '-q', '-v', 'VERBOSITY=default', '-f', $file],
		on_error_stop => 0);
	return ($ret, $out, $err, \@expect);
}

sub check_page
{
	my ($node, $db, $name, $blocks) = @_;
	my ($ret, $out, $err, $expect) = run_page($node, $db, $name, $blocks);
	is($ret, 0, "docs/$name.md: every example runs") or diag("$err\n$out");
	my @got = $err =~ /ERROR:\s+(.*?)\s*$/mg;
	is_deeply(\@got, $expect, "docs/$name.md: exactly the errors its error blocks name")
		or diag($err);
}

# ---- the demo database ------------------------------------------------------------
my $node = shilian_node('docs_sql');
$node->safe_psql('postgres', 'CREATE DATABASE demo');
$node->safe_psql('demo', 'SET client_min_messages = warning; CREATE EXTENSION shilian');
my ($ret, $out, $err) = $node->psql('demo', undef,
	extra_params => ['-v', 'ON_ERROR_STOP=1', '-f', "$top/tests/demo/province.sql"]);
is($ret, 0, 'the demo province loads in database demo') or diag($err);

# files the examples write (the recall export) land here
chdir $tmp or die $!;
for my $name (sort keys %demo_blocks)
{
	my $db = "docs_$name";
	$db =~ s/-/_/g;
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db" TEMPLATE demo});
	check_page($node, $db, $name, $demo_blocks{$name});
}

# docs/trace.md's export is a file a spreadsheet opens: UTF-8 with a byte
# order mark, the header, CRLF line ends (real ones, not the two characters
# COPY's text format would write), every row of the header's 16 fields
# (RFC 4180 quoting), one row per target of the recall.
{
	open my $fh, '<:raw', "$tmp/recall.csv" or die "docs/trace.md wrote no recall.csv: $!";
	my $csv = do { local $/; <$fh> };
	like($csv, qr/^\xEF\xBB\xBFtraceability_lot_code,product_description,/, 'recall.csv: BOM and header');
	unlike($csv, qr/\\r\\n/, 'recall.csv: no escaped line ends');
	$csv =~ s/^\xEF\xBB\xBF//;
	$csv =~ s/\n\z// if $csv =~ /\r\n\n\z/;	# psql's own line end after the value
	like($csv, qr/\r\n\z/, 'recall.csv: CRLF after the last row');
	# RFC 4180 fields: quoted (quotes doubled) or bare
	my (@rows, @row);
	while ($csv =~ /\G(?:"((?:[^"]|"")*)"|([^,"\r\n]*))(,|\r\n)/gc)
	{
		push @row, defined $1 ? $1 =~ s/""/"/gr : $2;
		if ($3 ne ',') { push @rows, [@row]; @row = (); }
	}
	is(pos($csv) // 0, length($csv), 'recall.csv: every field is RFC 4180');
	is_deeply([ grep { @$_ != 16 } @rows ], [], 'recall.csv: 16 fields in every row');
	my $targets = $node->safe_psql('docs_trace', 'SELECT count(*) FROM shilian.recall_target WHERE recall_id = (SELECT min(id) FROM shilian.recall)');
	is(scalar(@rows) - 1, $targets, "recall.csv: one row per target ($targets)");
}
$node->stop;

# ---- installing, scheduling and removing: a second cluster ---------------------------
SKIP:
{
	my $fresh = PostgreSQL::Test::Cluster->new('docs_sql_fresh');
	my $pkglibdir = $fresh->config_data('--pkglibdir');
	skip "pg_cron is not installed for this server ($pkglibdir)", 2 * scalar(keys %fresh_blocks)
	  unless -f "$pkglibdir/pg_cron.so";
	$fresh->init;
	$fresh->append_conf('postgresql.conf', "fsync = off\nshared_preload_libraries = 'pg_cron'\n"
		  . "cron.database_name = 'shilian'\ncron.host = '" . $fresh->host . "'\n");
	$fresh->start;
	$fresh->safe_psql('postgres', 'CREATE DATABASE shilian');
	check_page($fresh, 'shilian', $_, $fresh_blocks{$_}) for sort keys %fresh_blocks;
	$fresh->stop;
}

done_testing();
