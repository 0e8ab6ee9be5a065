# ShilianTest — helpers for TAP and gateway tests: a PostgreSQL::Test::Cluster
# node with the extension, a gateway process (under valgrind when
# SHILIAN_VALGRIND=1, failing the test on any error or leak) and HTTP calls.
package ShilianTest;

use strict;
use warnings;
use Exporter 'import';
use Digest::SHA qw(hmac_sha256 hmac_sha512);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64url);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use Time::Local qw(timegm);
use IPC::Run;

our @EXPORT = qw(shilian_node start_gateway stop_gateway http_call json_body make_jwt raw_http $JWT_SECRET
	faketime_lib restart_at sqlstate_of run_cmd security_fixture import_replay import_apply_all $LEDGER_ENTRIES);

# The HS256 key the test gateways are started with.
our $JWT_SECRET = 'test-secret-0123456789abcdef-0123456789';

# A started node with `CREATE EXTENSION shilian` in database postgres.
sub shilian_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opt);
	$node->append_conf('postgresql.conf', "fsync = off\nsynchronous_commit = off\nmax_connections = 60\n");
	# UTC on purpose: the platform's days (shilian.timezone) must not follow it
	$node->append_conf('postgresql.conf', "timezone = 'UTC'\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION shilian');
	return $node;
}

my $seq = 0;
my %running;	# gateways started and not yet stopped, by pid

# A test that dies still stops its gateways (no process is left behind).
END
{
	local $?;	# a gateway a test killed itself is reaped here: keep the test's exit status
	for my $pid (keys %running)
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
}

# Start the gateway against $node; returns a hash with url, pid, log.
sub start_gateway
{
	my ($node, %opt) = @_;
	my $dir = $PostgreSQL::Test::Utils::tmp_check;
	$seq++;
	my $portfile = "$dir/gateway$seq.port";
	my $log = "$dir/gateway$seq.log";
	my $vglog = "$dir/gateway$seq.valgrind";
	unlink $portfile;
	my $dsn = $opt{dsn} // 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres';
	my @cmd = ($ENV{SHILIAN_GATEWAY}, '--listen', '127.0.0.1:0', '--port-file', $portfile,
		'--dsn', $dsn, '--threads', $opt{threads} // 4, '--jwt-secret', $JWT_SECRET,
		@{ $opt{args} // [] });
	my $valgrind = ($ENV{SHILIAN_VALGRIND} // 0) eq '1' && !$opt{no_valgrind};
	unshift @cmd, 'valgrind', '--quiet', '--leak-check=full', '--show-leak-kinds=definite,indirect',
		'--errors-for-leak-kinds=definite,indirect', '--error-exitcode=99', "--log-file=$vglog"
	  if $valgrind;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open STDOUT, '>>', $log or die;
		open STDERR, '>>', $log or die;
		%ENV = (%ENV, %{ $opt{env} // {} });
		exec @cmd or die "exec: $!";
	}
	my $port;
	for (1 .. 600)
	{
		if (-s $portfile) { open my $fh, '<', $portfile; $port = <$fh>; chomp $port; last; }
		last if waitpid($pid, 1) == $pid;
		usleep(50_000);
	}
	$running{$pid} = 1;
	BAIL_OUT("gateway did not start; see $log") unless $port;
	return { url => "http://127.0.0.1:$port", pid => $pid, log => $log, vglog => $vglog,
		valgrind => $valgrind };
}

# SIGTERM, wait, and check the exit status (valgrind's 99 means errors/leaks).
sub stop_gateway
{
	my ($gw) = @_;
	kill 'TERM', $gw->{pid};
	my $waited = 0;
	while (waitpid($gw->{pid}, 1) == 0 && $waited < 600) { usleep(50_000); $waited++; }
	my $status = $? >> 8;
	delete $running{ $gw->{pid} };
	if ($waited >= 600) { kill 'KILL', $gw->{pid}; waitpid($gw->{pid}, 0); fail('gateway stops on SIGTERM'); return; }
	is($status, 0, 'gateway exits cleanly on SIGTERM' . ($gw->{valgrind} ? ' with no valgrind errors or leaks' : ''))
	  or diag(slurp_file($gw->{valgrind} ? $gw->{vglog} : $gw->{log}));
}

# http_call($gw, METHOD, PATH, body => ..., headers => {...}) → HTTP::Tiny response
sub http_call
{
	my ($gw, $method, $path, %opt) = @_;
	my $ua = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
	my %req = (headers => $opt{headers} // {});
	$req{content} = $opt{body} if defined $opt{body};
	return $ua->request($method, $gw->{url} . $path, \%req);
}

# make_jwt(\%claims, alg => 'HS256', key => ..., header => {...}): a signed token;
# alg 'none' gives an unsigned one. exp defaults to an hour from now.
sub make_jwt
{
	my ($claims, %opt) = @_;
	my $alg = $opt{alg} // 'HS256';
	my $key = $opt{key} // $JWT_SECRET;
	my %c = (exp => time() + 3600, %$claims);
	delete $c{exp} if exists $claims->{exp} && !defined $claims->{exp};
	my $json = JSON::PP->new->canonical;
	my $h = encode_base64url($json->encode({ alg => $alg, typ => 'JWT', %{ $opt{header} // {} } }));
	my $p = encode_base64url($json->encode(\%c));
	my $sig = $alg eq 'HS256' ? hmac_sha256("$h.$p", $key)
	  : $alg eq 'HS512' ? hmac_sha512("$h.$p", $key) : '';
	return "$h.$p." . encode_base64url($sig);
}

# raw_http($gw, $text): send bytes as they are, return (status, whole reply).
sub raw_http
{
	my ($gw, $text) = @_;
	my ($port) = $gw->{url} =~ /:(\d+)$/;
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 30)
	  or die "connect: $!";
	print $s $text;
	local $/;
	my $reply = <$s> // '';
	close $s;
	my ($status) = $reply =~ m{^HTTP/1\.[01] (\d+)};
	return ($status // 0, $reply);
}

sub json_body
{
	my ($res) = @_;
	my $j = eval { JSON::PP->new->utf8->decode($res->{content}) };
	return $j;
}


# libfaketime's library, or undef (make deps installs faketime).
sub faketime_lib
{
	my ($lib) = grep { -f } map { "$_/faketime/libfaketime.so.1" }
		qw(/usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib);
	return $lib;
}

# (Re)start a node with its clock at a day (UTC noon), or on the real clock
# when no year is given: the server's clock alone moves (libfaketime).
sub restart_at
{
	my ($node, $y, $m, $d) = @_;
	$node->stop if $node->{_pid};
	local $ENV{LD_PRELOAD} = $y ? faketime_lib() : '';
	local $ENV{FAKETIME} = $y ? '-' . (time() - timegm(0, 0, 12, $d, $m - 1, $y)) . 's' : '';
	local $ENV{FAKETIME_DONT_FAKE_MONOTONIC} = 1;
	$node->start;
	return;
}

# 'accepted', or the SQLSTATE an SQL script failed with (psql, VERBOSITY verbose).
sub sqlstate_of
{
	my ($node, $q) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$q");
	return $ret == 0 ? 'accepted' : ($err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : $err);
}

# Run a command with stdin text: (exit status, stdout, stderr).
sub run_cmd
{
	my ($cmd, $in) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run($cmd, '<', \($in // ''), '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# The security fixture of t/028 and t/030, written as the superuser that ran
# CREATE EXTENSION: counties 370102 (A, D) and 370112 (F, B, C); operators
# 1..5 = F, A, B, C, D. F sells to A and to B; B sells to C; A sells to D.
# So A and B share a supplier, and F's sale to B is "a counterparty's other
# customer" for A. System clients erp-a (bound to A) and erp-b (to B).
# Returns the fixture's names (lots, links, inspections) => values.
sub security_fixture
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370112', '历城区');
	SELECT shilian.jurisdiction_add('370102001', '泉城路所');
	SELECT shilian.jurisdiction_add('370112001', '洪家楼所');
	SELECT shilian.operator_register('F farm', 'production', '{farm}', '370112001', 'addr F', 'tel F', reg_card => 'CARD-F');
	SELECT shilian.operator_register('A wholesaler', 'circulation', '{wholesaler}', '370102001', 'addr A', 'tel A', reg_card => 'CARD-A');
	SELECT shilian.operator_register('B wholesaler', 'circulation', '{wholesaler}', '370112001', 'addr B', 'tel B', reg_card => 'CARD-B');
	SELECT shilian.operator_register('C retailer', 'circulation', '{retailer}', '370112001', 'addr C', 'tel C', reg_card => 'CARD-C');
	SELECT shilian.operator_register('D retailer', 'circulation', '{retailer}', '370102001', 'addr D', 'tel D', reg_card => 'CARD-D');
	SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
	SELECT shilian.licence_add(2, 'JY13701020000018', '{vegetables,other}', '2020-01-01', '2099-12-31');
	SELECT shilian.licence_add(3, 'JY23701020000049', '{vegetables,other}', '2020-01-01', '2099-12-31');
	SELECT shilian.licence_add(5, 'JY33701020000056', '{vegetables}', '2020-01-01', '2099-12-31');
	SELECT shilian.product_register('cabbage', 'vegetables', shelf_life_days => 30, edible_agricultural => true);
	SELECT shilian.product_register('B pickles', 'other', shelf_life_days => 300, owner => 3);
	CREATE TABLE fx (name text PRIMARY KEY, v text);
	INSERT INTO fx SELECT 'f1', shilian.batch_create(1, 1, '1 t', current_date - 2);
	INSERT INTO fx SELECT 'l_fa', shilian.ship((SELECT v FROM fx WHERE name = 'f1')::shilian.trace_code, 2, '300 kg');
	INSERT INTO fx SELECT 'a1', shilian.receive((SELECT v FROM fx WHERE name = 'l_fa')::bigint, '300 kg', '{"inspector": "a"}');
	INSERT INTO fx SELECT 'l_fb', shilian.ship((SELECT v FROM fx WHERE name = 'f1')::shilian.trace_code, 3, '300 kg');
	INSERT INTO fx SELECT 'b1', shilian.receive((SELECT v FROM fx WHERE name = 'l_fb')::bigint, '300 kg', '{"inspector": "b"}');
	INSERT INTO fx SELECT 'l_bc', shilian.ship((SELECT v FROM fx WHERE name = 'b1')::shilian.trace_code, 4, '100 kg');
	INSERT INTO fx SELECT 'c1', shilian.receive((SELECT v FROM fx WHERE name = 'l_bc')::bigint, '100 kg', '{"inspector": "c"}');
	INSERT INTO fx SELECT 'l_ad', shilian.ship((SELECT v FROM fx WHERE name = 'a1')::shilian.trace_code, 5, '50 kg');
	INSERT INTO fx SELECT 'd1', shilian.receive((SELECT v FROM fx WHERE name = 'l_ad')::bigint, '50 kg', '{"inspector": "d"}');
	-- pending sales: B -> C (C's draft), F -> A (A's draft)
	INSERT INTO fx SELECT 'l_bc2', shilian.ship((SELECT v FROM fx WHERE name = 'b1')::shilian.trace_code, 4, '20 kg');
	INSERT INTO fx SELECT 'l_fa2', shilian.ship((SELECT v FROM fx WHERE name = 'f1')::shilian.trace_code, 2, '10 kg');
	INSERT INTO fx SELECT 'b2', shilian.batch_create(3, 2, '10 kg', current_date - 1);
	INSERT INTO fx SELECT 'cons_c', shilian.consume((SELECT v FROM fx WHERE name = 'c1')::shilian.trace_code, '10 kg', 'retail_sold');
	INSERT INTO fx SELECT 'insp_c', (SELECT max(id) FROM shilian.inspection WHERE operator_id = 4);
	INSERT INTO fx SELECT 'insp_a', (SELECT max(id) FROM shilian.inspection WHERE operator_id = 2);
	SELECT shilian.api_client_add('erp-a', 'A''s ERP');
	SELECT shilian.api_client_bind('erp-a', 2);
	SELECT shilian.api_client_add('erp-b', 'B''s ERP');
	SELECT shilian.api_client_bind('erp-b', 3);
});
	return map { split /\|/ } split /\n/, $node->safe_psql('postgres', q{SELECT name || '|' || v FROM fx});
}

# The import tests' comparison (t/051, t/053): database a applied the lines of
# table `lines` (n, line) through the bulk import, job $job; database b gets
# every line a accepted, in line order, through the single-record function of
# the import channel (import_line_exec), a sale named by link_ref taking the
# link b's own line made; with $subtransactions each line in a
# subtransaction of its own, as the import's line-by-line path runs it.
# Leaves b's results in table res (n, result), a's in acc; returns how many
# results were the same id or trace code in both.
sub import_replay
{
	my ($node, $job, %opt) = @_;
	my $exec = 'INSERT INTO res VALUES (r.n, shilian.import_line_exec(j));';
	$exec = "BEGIN $exec EXCEPTION WHEN division_by_zero THEN RAISE; END;" if $opt{subtransactions};
	my $accepted = $node->safe_psql('a', qq{SELECT string_agg(format('(%s, %L)', line_no, result), ', '
		ORDER BY line_no) FROM shilian.import_line WHERE job_id = $job AND status = 'accepted'});
	$node->safe_psql('b', qq{
		CREATE TABLE acc (n int, result text);
		INSERT INTO acc VALUES $accepted;
		CREATE TABLE res (n int, result text);
		SET shilian.channel = 'import';
		DO \$\$
		DECLARE
			r record;
			j jsonb;
		BEGIN
			FOR r IN SELECT l.n, l.line::jsonb AS j FROM lines l JOIN acc USING (n) ORDER BY l.n LOOP
				j := r.j;
				IF j ? 'link_ref' THEN
					j := j - 'link_ref' || jsonb_build_object('link',
						(SELECT result::bigint FROM res WHERE n = (r.j ->> 'link_ref')::int));
				END IF;
				$exec
			END LOOP;
		END
		\$\$;
	});
	return $node->safe_psql('b', q{SELECT count(*) FROM res JOIN acc USING (n) WHERE res.result IS NOT DISTINCT FROM acc.result});
}

# import_apply($job, $chunk) called until it reports nothing left: how many calls.
sub import_apply_all
{
	my ($node, $db, $job, $chunk) = @_;
	my $calls = 0;
	for (;;)
	{
		$calls++;
		last if $node->safe_psql($db, "SELECT shilian.import_apply($job, $chunk)") eq '0';
		die 'import_apply does not finish' if $calls > 100;
	}
	return $calls;
}

# Every ledger entry: count, then one line each with everything but the times
# the rows were made (created_at, registered_at, activated_at, added_at: the
# clock of each database), to compare two databases entry by entry.
our $LEDGER_ENTRIES = q{
	SELECT count(*) || E'\n' || string_agg(concat_ws('|', id, operator_id, seq, kind, alg, supersedes, source, on_date,
		regexp_replace(shilian.ledger_body(body)::text, '"(created|registered|activated|added)_at": "[^"]*"', '"\1_at": "T"', 'g')),
		E'\n' ORDER BY id)
	FROM shilian.ledger};

1;
