# The worked examples of docs/ledger-format.md, recomputed from the
# document's own text: the fenced blocks "json worked-example NAME" and
# "jsonl worked-example export" are parsed out of the markdown, every value
# the document states is recomputed here from the inputs it states, by an
# implementation written from the document (Perl: Digest::SHA, no project
# code), and then checked by the project's code: the database's
# ledger_canonical and merkle_root, shilian-verify on the documented export
# and its signed checkpoint, and shilian-verify sign reproducing the
# documented (deterministic Ed25519) signature.
#
# SHILIAN_DOC_GENERATE=1 prints the blocks from the inputs below instead
# (how the document's examples were made; the test never uses these inputs).
use strict;
use File::Temp ();
use warnings;
use utf8;
use B;
use Digest::SHA qw(sha256 sha256_hex);
use JSON::PP;
use Math::BigFloat;
use MIME::Base64 qw(encode_base64 decode_base64);
use Time::Local qw(timegm);
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP} // '.';
my $verify = "$top/shilian-verify";
my $generate = $ENV{SHILIAN_DOC_GENERATE};
my $json = JSON::PP->new->utf8->canonical->allow_bignum;
# a directory of its own: tmp_check is shared by the files of a prove run
my $tmp = File::Temp::tempdir($generate ? (TMPDIR => 1, CLEANUP => 1) : (DIR => $PostgreSQL::Test::Utils::tmp_check));

# ---- the format, as the document defines it --------------------------------------

sub u32 { pack('N', $_[0]) }
# on a copy: numeric use would make JSON::PP write a string-valued integer as a number
sub i64 { my $v = $_[0]; pack('q>', $v) }
sub b64 { encode_base64($_[0], '') }

sub canonical_number
{
	my ($v) = @_;
	my $t = Math::BigFloat->new("$v")->bstr;
	return $t eq '-0' ? '0' : $t;
}

# the canonical body encoding (docs/ledger-format.md#body)
sub canon
{
	my ($v) = @_;
	return "\x00" unless defined $v;
	if (JSON::PP::is_bool($v)) { return $v ? "\x02" : "\x01" }
	if (ref $v eq 'HASH')
	{
		my @keys = sort { $a cmp $b } map { my $k = $_; utf8::encode($k); $k } keys %$v;
		my $out = "\x06" . u32(scalar @keys);
		for my $k (@keys)
		{
			my $ck = $k;
			utf8::decode($ck);
			$out .= u32(length $k) . $k . canon($v->{$ck});
		}
		return $out;
	}
	if (ref $v eq 'ARRAY') { return "\x05" . u32(scalar @$v) . join('', map { canon($_) } @$v) }
	if (ref $v || (B::svref_2object(\$v)->FLAGS & (B::SVp_IOK() | B::SVp_NOK())) && !(B::svref_2object(\$v)->FLAGS & B::SVp_POK()))
	{
		my $t = canonical_number($v);
		return "\x03" . u32(length $t) . $t;
	}
	my $s = $v;
	utf8::encode($s);
	return "\x04" . u32(length $s) . $s;
}

sub entry_bytes
{
	my ($e) = @_;
	my $body = pack('H*', $e->{body_canonical});
	my $kind = $e->{kind};
	utf8::encode($kind);
	return "\x02" . u32(8) . i64($e->{id}) . u32(8) . i64($e->{operator_id}) . u32(8) . i64($e->{seq})
	  . u32(1) . pack('C', $e->{alg} eq 'sha256' ? 1 : 2)
	  . u32(length $kind) . $kind . u32(8) . i64($e->{recorded_at_us})
	  . u32(8) . i64($e->{supersedes} // 0) . u32(length $body) . $body;
}

# RFC 9162 2.1
sub leaf_hash { sha256("\x00" . $_[0]) }
sub node_hash { sha256("\x01" . $_[0] . $_[1]) }
sub split_k { my $n = shift; my $k = 1; $k <<= 1 while $k * 2 < $n; return $k }
sub mth
{
	my @d = @_;
	return sha256('') if @d == 0;
	return leaf_hash($d[0]) if @d == 1;
	my $k = split_k(scalar @d);
	return node_hash(mth(@d[0 .. $k - 1]), mth(@d[$k .. $#d]));
}
sub path
{
	my ($m, @d) = @_;
	return () if @d <= 1;
	my $k = split_k(scalar @d);
	return $m < $k ? (path($m, @d[0 .. $k - 1]), mth(@d[$k .. $#d]))
	  : (path($m - $k, @d[$k .. $#d]), mth(@d[0 .. $k - 1]));
}
sub subproof
{
	my ($m, $b, @d) = @_;
	my $n = @d;
	return $b ? () : (mth(@d)) if $m == $n;
	my $k = split_k($n);
	return $m <= $k ? (subproof($m, $b, @d[0 .. $k - 1]), mth(@d[$k .. $#d]))
	  : (subproof($m - $k, 0, @d[$k .. $#d]), mth(@d[0 .. $k - 1]));
}
sub proof { my ($m, @d) = @_; return ($m == 0 || $m == @d) ? () : subproof($m, 1, @d) }
sub hexs { [ map { unpack('H*', $_) } @_ ] }

sub recorded_at_us
{
	my ($t) = @_;
	my ($Y, $M, $D, $h, $m, $s, $f) = $t =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00:00$/
	  or die "not a UTC timestamp: $t";
	return timegm($s, $m, $h, $D, $M - 1, $Y) * 1000000 + substr(($f // '') . '000000', 0, 6);
}

# every value of the chain block from its inputs
sub compute_chain
{
	my ($inputs) = @_;
	my %prev;
	my @out;
	for my $in (@$inputs)
	{
		my %e = map { $_ => $in->{$_} } qw(id operator_id seq alg kind recorded_at supersedes body);
		$e{recorded_at_us} = '' . recorded_at_us($e{recorded_at});
		$e{body_canonical} = unpack('H*', canon($e{body}));
		$e{entry_bytes} = unpack('H*', entry_bytes(\%e));
		my $prev = $prev{ $e{operator_id} } // ("\x00" x 32);
		$e{prev_hash} = unpack('H*', $prev);
		my $hash = sha256(entry_bytes(\%e) . $prev);
		$e{hash} = unpack('H*', $hash);
		$prev{ $e{operator_id} } = $hash;
		# 64-bit integers are JSON strings (a fresh string value: numeric use above marks the old one)
		$e{$_} = "$e{$_}" for qw(id operator_id seq recorded_at_us);
		push @out, \%e;
	}
	return { entries => \@out };
}

# the tree block: leaves in entry-id order
sub compute_tree
{
	my ($chain) = @_;
	my @e = sort { my ($x, $y) = ($a->{id}, $b->{id}); $x <=> $y } @{ $chain->{entries} };
	my @d = map { pack('H*', $_->{hash}) } @e;
	my $n = @d;
	return {
		leaves => [ map { { leaf_index => "$_", entry_id => $e[$_]{id}, entry_hash => $e[$_]{hash},
			leaf_hash => unpack('H*', leaf_hash($d[$_])) } } 0 .. $n - 1 ],
		roots => [ map { { tree_size => "$_", root => unpack('H*', mth(@d[0 .. $_ - 1])) } } 0 .. $n ],
		node_0_2 => unpack('H*', mth(@d[0, 1])),
		inclusion => [ map { my $m = $_; { leaf_index => "$m", tree_size => "$n", path => hexs(path($m, @d)) } } 0 .. $n - 1 ],
		consistency => [ map { { old_size => "$_", new_size => "$n", path => hexs(proof($_, @d)) } } 0 .. $n ],
	};
}

sub ed25519_key_file
{
	my ($seed_hex, $file) = @_;
	open my $fh, '>', $file or die;
	binmode $fh;
	print $fh pack('H*', '302e020100300506032b657004220420' . $seed_hex);
	close $fh;
	my $pem = "$file.pem";
	system('openssl', 'pkey', '-inform', 'DER', '-in', $file, '-out', $pem) == 0 or die 'openssl pkey';
	my $pub = `openssl pkey -in $pem -pubout -outform DER`;
	return ($pem, substr($pub, -32));
}

# the checkpoint block: heads, heads root, text, key, note
sub compute_checkpoint
{
	my ($chain, $tree, $in) = @_;
	my @e = sort { my ($x, $y) = ($a->{id}, $b->{id}); $x <=> $y } @{ $chain->{entries} };
	my $size = scalar @e;
	my %last;
	for my $i (0 .. $#e) { $last{ $e[$i]{operator_id} } = [ $i, $e[$i] ] }
	my @heads;
	for my $op (sort { $a <=> $b } keys %last)
	{
		my ($leaf, $x) = @{ $last{$op} };
		my $digest = sha256(i64($x->{seq}) . i64($leaf) . pack('H*', $x->{hash}));
		my $data = i64($op) . $digest;
		push @heads, { operator_id => "$op", seq => "$x->{seq}", leaf_index => "$leaf", entry_hash => $x->{hash},
			head_digest => unpack('H*', $digest), leaf_data => unpack('H*', $data),
			leaf_hash => unpack('H*', leaf_hash($data)) };
	}
	my @hd = map { pack('H*', $_->{leaf_data}) } @heads;
	my $root = pack('H*', $tree->{roots}[-1]{root});
	my $text = "$in->{origin}\n$size\n" . b64($root) . "\nheads sha256 " . b64(mth(@hd)) . "\n";
	my ($pem, $pub) = ed25519_key_file($in->{key_seed}, "$tmp/doc-example-key.der");
	my $id = unpack('H8', sha256("$in->{key_name}\n\x01$pub"));
	my ($rc, $note) = run_cmd([ $verify, 'sign', '--key', $pem, '--name', $in->{key_name} ], $text);
	die "sign: $note" if $rc;
	utf8::decode($note);
	return { origin => $in->{origin}, key_name => $in->{key_name}, key_seed => $in->{key_seed},
		heads => \@heads, heads_root => unpack('H*', mth(@hd)),
		heads_paths => [ map { my $m = $_; hexs(path($m, @hd)) } 0 .. $#hd ],
		text => $text, key_id => $id, vkey => "$in->{key_name}+$id+" . b64("\x01$pub"), note => $note };
}

# the export of one operator (docs/ledger-format.md#export-and-offline-verification)
sub compute_export
{
	my ($chain, $tree, $ck, $op) = @_;
	my @all = sort { my ($x, $y) = ($a->{id}, $b->{id}); $x <=> $y } @{ $chain->{entries} };
	my %leaf = map { $all[$_]{id} => $_ } 0 .. $#all;
	my $n = @all;
	my @lines = ({ type => 'header', format => 'shilian-ledger-export/1', operator => "$op",
		exported_at => '2024-01-01T08:05:00+08:00' });
	my @mine = grep { $_->{operator_id} eq "$op" } @{ $chain->{entries} };
	for my $e (@mine)
	{
		my %l = (type => 'entry', map { $_ => $e->{$_} }
			qw(id operator_id seq alg kind recorded_at recorded_at_us supersedes body_canonical prev_hash hash));
		$l{leaf_index} = "$leaf{$e->{id}}";
		$l{inclusion} = $tree->{inclusion}[ $leaf{ $e->{id} } ]{path};
		push @lines, \%l;
	}
	push @lines, { type => 'checkpoint', tree_size => "$n", root => $tree->{roots}[-1]{root}, alg => 'sha256',
		created_at => '2024-01-01T08:02:00+08:00' };
	my $last = $mine[-1];
	push @lines, { type => 'checkpointed_head', seq => $last->{seq}, entry_id => $last->{id},
		leaf_index => "$leaf{$last->{id}}", entry_hash => $last->{hash}, inclusion => $tree->{inclusion}[ $leaf{ $last->{id} } ]{path} };
	my ($hi) = grep { $ck->{heads}[$_]{operator_id} eq "$op" } 0 .. $#{ $ck->{heads} };
	my $h = $ck->{heads}[$hi];
	push @lines, { type => 'signed_checkpoint', tree_size => "$n", note => $ck->{note},
		heads_size => '' . scalar @{ $ck->{heads} },
		heads => [ { index => "$hi", operator_id => "$op", seq => $h->{seq}, leaf_index => $h->{leaf_index},
			entry_hash => $h->{entry_hash}, head_digest => $h->{head_digest}, path => $ck->{heads_paths}[$hi] } ] };
	for my $m (1 .. $n - 1)
	{
		push @lines, { type => 'consistency', old_size => "$m", new_size => "$n", path => $tree->{consistency}[$m]{path} };
	}
	return join('', map { $json->encode($_) . "\n" } @lines);
}

# ---- generate (once, for the document) --------------------------------------------

if ($generate)
{
	my $chain = compute_chain([
		{ id => '1', operator_id => '7', seq => '1', alg => 'sha256', kind => 'batch_create',
			recorded_at => '2024-01-01T00:00:00+00:00', supersedes => undef,
			body => { lot => 'L1', qty => '10 kg', product => '大白菜' } },
		{ id => '2', operator_id => '8', seq => '1', alg => 'sha256', kind => 'batch_create',
			recorded_at => '2024-01-01T00:00:30.25+00:00', supersedes => undef,
			body => { lot => 'M9', organic => JSON::PP::true, note => undef } },
		{ id => '3', operator_id => '7', seq => '2', alg => 'sha256', kind => 'sale',
			recorded_at => '2024-01-01T00:01:00.5+00:00', supersedes => undef,
			body => { buyer => '8', lot => 'L1', price => Math::BigFloat->new('12.50'), qty => [ 2, 'kg' ] } },
	]);
	my $tree = compute_tree($chain);
	my $ck = compute_checkpoint($chain, $tree, { origin => 'example.org/ledger', key_name => 'example.org/ledger',
		key_seed => '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60' });
	my $pretty = JSON::PP->new->canonical->pretty->indent_length(2)->allow_bignum;
	binmode STDOUT, ':encoding(UTF-8)';
	print "```json worked-example chain\n" . $pretty->encode($chain) . "```\n\n";
	print "```json worked-example tree\n" . $pretty->encode($tree) . "```\n\n";
	print "```json worked-example checkpoint\n" . $pretty->encode($ck) . "```\n\n";
	my $export = compute_export($chain, $tree, $ck, 7);
	utf8::decode($export);
	print "```jsonl worked-example export\n" . $export . "```\n";
	exit 0;
}

# ---- test: the document's blocks, recomputed ---------------------------------------

open my $fh, '<:raw', "$top/docs/ledger-format.md" or die "docs/ledger-format.md: $!";
my $doc = do { local $/; <$fh> };
close $fh;
my %block;
while ($doc =~ /^```(json|jsonl) worked-example (\w+)\n(.*?)^```$/msg)
{
	ok(!exists $block{$2}, "one block named $2");
	$block{$2} = $3;
}
is_deeply([ sort keys %block ], [qw(chain checkpoint export tree)], 'the document has the four worked-example blocks');
my $dec = JSON::PP->new->allow_bignum;	# bytes in: the blocks are UTF-8
my $chain_doc = $dec->utf8->decode($block{chain});
my $tree_doc = $dec->decode($block{tree});
my $ck_doc = $dec->decode($block{checkpoint});

# inputs as the document states them -> every value recomputed
my $chain = compute_chain($chain_doc->{entries});
is_deeply($chain, $chain_doc, 'chain: body encodings, entry bytes, prev_hash and hashes recompute from the inputs');
my $tree = compute_tree($chain);
is_deeply($tree, $tree_doc, 'tree: leaf hashes, the inner node, every root, inclusion and consistency paths recompute');
ok(@{ $tree->{leaves} } == 3, 'a three-leaf tree');
ok((grep { $_->{operator_id} eq '7' } @{ $chain->{entries} }) == 2, 'a two-entry chain (operator 7)');
my $ck = compute_checkpoint($chain, $tree, $ck_doc);
is_deeply($ck, $ck_doc, 'checkpoint: heads, heads root, text, key id, vkey and the Ed25519 note recompute');
my $export = compute_export($chain, $tree, $ck, 7);
is_deeply([ map { $dec->decode($_) } split /\n/, $export ], [ map { $dec->decode($_) } split /\n/, $block{export} ],
	'export: the documented lines are the recomputed ones');

# the project's own code agrees
my $note_bytes = $ck_doc->{note};
utf8::encode($note_bytes);
my ($rc, $out) = run_cmd([ $verify, 'note', '--key', $ck_doc->{vkey} ], $note_bytes);
is($out, "OK: checkpoint example.org/ledger size 3, 1 signature(s) verified\n", 'shilian-verify: the documented note verifies with the documented vkey');
open my $efh, '>:raw', "$tmp/doc-export.jsonl" or die;
print $efh $block{export};
close $efh;
($rc, $out) = run_cmd([ $verify, '--key', $ck_doc->{vkey}, '--old-size', '2', '--old-root', $tree_doc->{roots}[2]{root},
	"$tmp/doc-export.jsonl" ]);
is($out, "OK: operator 7, 2 entries, chain verified, 2 included in tree 3, consistent with the old root, signed checkpoint 3 by example.org/ledger\n",
	'shilian-verify: the documented export verifies');
(my $bad = $block{export}) =~ s/"seq":"2"/"seq":"3"/;
open $efh, '>:raw', "$tmp/doc-export-bad.jsonl" or die;
print $efh $bad;
close $efh;
($rc, $out) = run_cmd([ $verify, "$tmp/doc-export-bad.jsonl" ]);
is($rc, 1, 'shilian-verify: a changed seq in the documented export fails');

my $node = shilian_node('doc_examples');
for my $e (@{ $chain_doc->{entries} })
{
	my $body = JSON::PP->new->canonical->allow_bignum->encode($e->{body});
	$body =~ s/'/''/g;
	is($node->safe_psql('postgres', "SELECT encode(shilian.ledger_canonical('$body'::jsonb), 'hex')"),
		$e->{body_canonical}, "ledger_canonical gives the documented bytes of entry $e->{id}");
}
is($node->safe_psql('postgres', 'SELECT encode(shilian.merkle_root(ARRAY['
	. join(', ', map { "'\\x$_->{leaf_data}'::bytea" } @{ $ck_doc->{heads} }) . "]), 'hex')"),
	$ck_doc->{heads_root}, 'merkle_root gives the documented heads root');
is($node->safe_psql('postgres', 'SELECT encode(shilian.merkle_root(ARRAY['
	. join(', ', map { "'\\x$_->{entry_hash}'::bytea" } @{ $tree_doc->{leaves} }) . "]), 'hex')"),
	$tree_doc->{roots}[3]{root}, 'merkle_root over the entry hashes gives the documented root of the three-leaf tree');
is($node->safe_psql('postgres', "SELECT shilian.verify_consistency(2, 3, '\\x$tree_doc->{roots}[2]{root}', '\\x$tree_doc->{roots}[3]{root}', "
	. "ARRAY['\\x$tree_doc->{consistency}[2]{path}[0]'::bytea], 'sha256')"), 't',
	'verify_consistency accepts the documented proof from 2 to 3');
# the nesting rule: a value at depth 64 is accepted and verifies offline, one at 65 is refused
my $deep = sub { my $d = shift; '{"a": ' . ('[' x ($d - 1)) . '1' . (']' x ($d - 1)) . '}' };
is($node->safe_psql('postgres', "SELECT shilian.ledger_body(shilian.ledger_canonical('" . $deep->(64) . "'))::text = '"
	. $deep->(64) . "'"), 't', 'a scalar at depth 64 is encoded and decodes back');
my ($ret, undef, $err) = $node->psql('postgres', "SELECT shilian.ledger_canonical('" . $deep->(65) . "')");
like($err, qr/nests deeper than 64 levels/, 'a scalar at depth 65 is refused (SLL01)');
($ret, undef, $err) = $node->psql('postgres', "SELECT shilian.ledger_canonical('[1]')");
like($err, qr/must be a jsonb object/, 'ledger_canonical takes an object only');
$node->stop;

done_testing();
