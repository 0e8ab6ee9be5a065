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
	faketime_lib restart_at sqlstate_of run_cmd);

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

1;
