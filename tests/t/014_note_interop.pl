# shilian-verify against the published signed-note vectors
# (tests/data/signed-note/README.md cites them): the C2SP example and the Go
# reference implementation's notes verify, Go's malformed notes are refused,
# and signing with Go's published test key reproduces Go's signature byte
# for byte (Ed25519 is deterministic). SM2 signatures verify with OpenSSL's
# own command line (SM3, GB/T 32918 default ID), not only with our reader.
use strict;
use File::Temp ();
use warnings;
use MIME::Base64 qw(decode_base64);
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest qw(run_cmd);

my $top = $ENV{SHILIAN_TOP};
my $verify = "$top/shilian-verify";
my $data = "$top/tests/data/signed-note";
# a directory of its own: tmp_check is shared by the files of a prove run
my $dir = File::Temp::tempdir(DIR => $PostgreSQL::Test::Utils::tmp_check);

sub slurp
{
	open my $fh, '<:raw', $_[0] or die "$_[0]: $!";
	local $/;
	return scalar <$fh>;
}

sub key { my $k = slurp("$data/$_[0]"); chomp $k; return $k }

my ($rc, $out) = run_cmd([ $verify, 'note', '--key', key('c2sp-example.vkey'), "$data/c2sp-example.note" ]);
is($out, "OK: note verified by 1 key(s)\n", 'the C2SP signed-note example verifies');
($rc, $out) = run_cmd([ $verify, 'note', '--key', key('go-peter.vkey'), '--key', key('go-enoch.vkey'), "$data/go-peter-enoch.note" ]);
is($out, "OK: note verified by 2 key(s)\n", 'Go\'s note signed by PeterNeumann and EnochRoot verifies with both keys');
($rc, $out) = run_cmd([ $verify, 'note', '--key', key('go-enoch.vkey'), "$data/go-peter-enoch.note" ]);
is($rc, 0, '...and with one of them (the other signature is ignored, as the spec says)');
($rc, $out) = run_cmd([ $verify, 'note', '--key', key('go-peter.vkey'), "$data/c2sp-example.note" ]);
is($out, "FAIL: the note has no signature by PeterNeumann (key id c74f20a3)\n", 'a key that did not sign: refused');

my $note = slurp("$data/go-peter-enoch.note");
my ($text) = $note =~ /\A(.*?\n)\n/s;
my ($peter_sig) = $note =~ /^(— PeterNeumann .*\n)/m;
my ($enoch_sig) = $note =~ /^(— EnochRoot .*\n)/m;
(my $changed = $note) =~ s/cryptography/cryptograph!/;
($rc, $out) = run_cmd([ $verify, 'note', '--key', key('go-peter.vkey') ], $changed);
is($out, "FAIL: the signature by PeterNeumann does not verify\n", 'a changed text: the signature fails');
# Go's TestOpen: a signature with "ABCD" inserted is invalid
($rc, $out) = run_cmd([ $verify, 'note', '--key', key('go-peter.vkey') ],
	"$text\n" . substr($peter_sig, 0, 60) . 'ABCD' . substr($peter_sig, 60));
is($rc, 1, 'Go\'s invalid signature (ABCD inserted): refused');
# Go's TestOpen badMsgs: every one is a malformed note
my $i = 0;
for my $bad ($text, "$text\n", "$text\n" . substr($peter_sig, 0, -1), "\x01$text\n$peter_sig", "\xff$text\n$peter_sig",
	"$text\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
	"$text\n${peter_sig}Unexpected line.\n")
{
	$i++;
	($rc, $out) = run_cmd([ $verify, 'note', '--key', key('go-peter.vkey') ], $bad);
	like($out, qr/^FAIL: not a signed note: /, "Go's malformed note $i is refused");
}

# signing with Go's published test key reproduces Go's note byte for byte
my $skey = key('go-peter.skey');
my (undef, undef, $name, $id, $b64) = split /\+/, $skey, 5;
my $raw = decode_base64($b64);
is(length($raw), 33, 'the Go signer key: 0x01 and a 32-byte seed');
open my $fh, '>:raw', "$dir/peter.der" or die;
print $fh pack('H*', '302e020100300506032b657004220420') . substr($raw, 1);
close $fh;
($rc) = run_cmd([ 'openssl', 'pkey', '-inform', 'DER', '-in', "$dir/peter.der", '-out', "$dir/peter.pem" ]);
is($rc, 0, 'the seed as a PKCS#8 key file');
($rc, $out) = run_cmd([ $verify, 'vkey', '--key', "$dir/peter.pem", '--name', $name ]);
is($out, key('go-peter.vkey') . "\n", 'shilian-verify vkey gives Go\'s verifier key');
($rc, $out) = run_cmd([ $verify, 'sign', '--any-text', '--key', "$dir/peter.pem", '--name', $name ], $text);
is($out, "$text\n$peter_sig", 'shilian-verify sign gives Go\'s signed note (TestSign)');
($rc, $out) = run_cmd([ $verify, 'sign', '--key', "$dir/peter.pem", '--name', $name ], $text);
is($out, "FAIL: not a checkpoint: the tree size is a decimal number without leading zeros\n",
	'without --any-text it signs checkpoints only');

# SM2: our signature verifies with OpenSSL's command line (SM3, default ID)
($rc) = run_cmd([ 'openssl', 'genpkey', '-algorithm', 'SM2', '-out', "$dir/sm2.pem" ]);
run_cmd([ 'openssl', 'pkey', '-in', "$dir/sm2.pem", '-pubout', '-out', "$dir/sm2pub.pem" ]);
my $ck = "sm2.test/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
($rc, $out) = run_cmd([ $verify, 'sign', '--key', "$dir/sm2.pem", '--name', 'sm2.test/log' ], $ck);
is($rc, 0, 'an SM2 signature on the empty tree\'s checkpoint');
my ($sig) = $out =~ /^— sm2\.test\/log (\S+)$/m;
open $fh, '>:raw', "$dir/sm2.sig" or die;
print $fh substr(decode_base64($sig), 4);
close $fh;
open $fh, '>:raw', "$dir/ck.txt" or die;
print $fh $ck;
close $fh;
($rc, my $o) = run_cmd([ 'openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', "$dir/sm2pub.pem", '-rawin', '-digest', 'sm3',
	'-pkeyopt', 'distid:1234567812345678', '-in', "$dir/ck.txt", '-sigfile', "$dir/sm2.sig" ]);
is($rc, 0, 'openssl pkeyutl verifies it (SM2 with SM3, ID 1234567812345678)');
($rc, $o) = run_cmd([ 'openssl', 'pkeyutl', '-verify', '-pubin', '-inkey', "$dir/sm2pub.pem", '-rawin', '-digest', 'sm3',
	'-pkeyopt', 'distid:1234567812345679', '-in', "$dir/ck.txt", '-sigfile', "$dir/sm2.sig" ]);
is($rc, 1, '...and not with another distinguishing ID');
(undef, my $vkey) = run_cmd([ $verify, 'vkey', '--key', "$dir/sm2.pem", '--name', 'sm2.test/log' ]);
chomp $vkey;
($rc, $o) = run_cmd([ $verify, 'note', '--key', $vkey ], $out);
is($o, "OK: checkpoint sm2.test/log size 0, 1 signature(s) verified\n", 'shilian-verify note verifies it with the SM2 vkey');
(my $bad = $out) =~ s/\n0\n/\n1\n/;
($rc, $o) = run_cmd([ $verify, 'note', '--key', $vkey ], $bad);
is($rc, 1, 'a changed SM2-signed checkpoint: refused');

done_testing();
