# Input fuzzing of uscc, licence_no, trace_code and qty (after pgvector
# test/t/037_inputs.pl): 100,000 mutated literals per type, fed in one COPY
# per type and tried one by one in PL/pgSQL. Proves that the backend never
# crashes, that every refusal is 22P02 (or 22003 for an out-of-range qty)
# with a message naming a rule, that every accepted value round-trips text →
# value → text → value and through binary send/recv (COPY BINARY), and, for
# the three identifiers, that the server accepts exactly the literals an
# independent Perl implementation of the rules accepts. The GS1 Digital Link
# parser gets 50,000 mutated URIs the same way.
use strict;
use warnings;
use utf8;
use Encode qw(encode_utf8);
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $PER_TYPE = 100_000;
srand($ENV{SHILIAN_FUZZ_SEED} // 20261129);
note('seed ' . ($ENV{SHILIAN_FUZZ_SEED} // 20261129));

my $node = shilian_node('types_fuzz');
my $pid0 = $node->safe_psql('postgres', 'select pg_postmaster_start_time()');

# ---- independent Perl implementation of the identifier rules -------------

my @USCC_SET = split //, '0123456789ABCDEFGHJKLMNPQRTUWXY';
my %USCC_VAL = map { $USCC_SET[$_] => $_ } 0 .. 30;

sub trim_ascii { my $s = shift; $s =~ s/^[ \t\n\r\f\x0B]+//; $s =~ s/[ \t\n\r\f\x0B]+$//; return $s; }

sub uscc_check
{
	my ($body) = @_;
	my ($sum, $w) = (0, 1);
	for my $c (split //, $body) { $sum += $USCC_VAL{$c} * $w; $w = $w * 3 % 31; }
	return $USCC_SET[(31 - $sum % 31) % 31];
}

sub uscc_ok
{
	my ($s, $lenient) = @_;
	$s = trim_ascii($s);
	$s =~ tr/a-z/A-Z/;
	return 0 unless length($s) == 18;
	for my $i (0 .. 17)
	{
		my $c = substr($s, $i, 1);
		return 0 unless exists $USCC_VAL{$c};
		return 0 if $i >= 2 && $i < 8 && $c !~ /^[0-9]$/;
	}
	return 1 if $lenient;
	return uscc_check(substr($s, 0, 17)) eq substr($s, 17, 1) ? 1 : 0;
}

my @DAMM = ([0,3,1,7,5,9,8,6,4,2], [7,0,9,2,1,5,4,8,6,3], [4,2,0,6,8,7,1,3,5,9],
	[1,7,5,0,9,8,3,4,2,6], [6,1,2,3,0,4,5,9,7,8], [3,6,7,4,2,0,9,5,8,1],
	[5,8,6,9,7,2,0,1,3,4], [8,9,4,5,3,6,2,0,1,7], [9,4,3,8,6,1,7,2,0,5],
	[2,5,8,1,4,3,6,7,9,0]);

sub damm { my $i = 0; $i = $DAMM[$i][$_] for split //, shift; return $i; }

sub trace_ok
{
	my $s = trim_ascii(shift);
	return $s =~ /^[0-9]{18}\z/ && damm($s) == 0 ? 1 : 0;
}

sub mod11_10
{
	my $p = 10;
	for my $d (split //, shift) { my $x = ($p + $d) % 10; $x = 10 if $x == 0; $p = $x * 2 % 11; }
	return (11 - $p) % 10;
}

sub license_ok
{
	my ($s, $strict) = @_;
	$s = trim_ascii($s);
	my ($p, $d) = $s =~ /^(SC|JY|TF|XCY|XZF)([0-9]{14})\z/i or return 0;
	$p = uc $p;
	return 0 if $p eq 'SC' && $d !~ /^[12]/;
	return 0 if $p eq 'JY' && $d !~ /^[123]/;
	return 0 if $strict && mod11_10(substr($d, 0, 13)) != substr($d, 13, 1);
	return 1;
}

# ---- mutation ------------------------------------------------------------

my @POOL = (('0' .. '9') x 4, 'A' .. 'Z', 'a' .. 'z', ' ', "\t", "\n", '.', ',', '-', '+', '%', '\\',
	'"', "'", '/', 'I', 'O', 'S', 'V', 'Z', '中', '斤', '克', '升', '件', '０', '１', "\x{3000}", 'é',
	"\x{1F600}", "\x{7F}", "\x{1}", "\x{1F}");

sub rand_char { return $POOL[ int rand @POOL ]; }

sub mutate
{
	my ($s) = @_;
	my $n = 1 + int rand 3;
	for (1 .. $n)
	{
		my $op = int rand 12;
		my $len = length $s;
		my $i = $len ? int rand $len : 0;
		if    ($op <= 2) { substr($s, $i, 1) = rand_char() if $len; }           # replace
		elsif ($op <= 4) { substr($s, $i, 0) = rand_char(); }                    # insert
		elsif ($op == 5) { substr($s, $i, 1) = '' if $len; }                     # delete
		elsif ($op == 6) { substr($s, $i, 2) = reverse substr($s, $i, 2) if $i + 1 < $len; } # swap
		elsif ($op == 7) { $s = ($op % 2 ? ' ' : "\t") . $s . ' '; }             # padding
		elsif ($op == 8) { $s = ($s =~ /[a-z]/) ? uc $s : lc $s; }               # case
		elsif ($op == 9) { $s = substr($s, 0, int rand($len + 1)); }             # truncate
		elsif ($op == 10) { $s = join '', map { rand_char() } 1 .. int rand 40; } # random
		else { $s = $s x (1 + int rand 60); }                                     # long
	}
	return $s;
}

sub copy_escape
{
	my ($s) = @_;
	$s =~ s/\\/\\\\/g;
	$s =~ s/\t/\\t/g;
	$s =~ s/\n/\\n/g;
	$s =~ s/\r/\\r/g;
	return $s;
}

# Seeds: valid literals (and, for the identifiers, fresh valid ones so that
# many mutants keep a correct structure).
my %seeds = (
	uscc => [ '914403001922038216', '91440300708461136T', '91350100M000100Y43', ' 91440300708461136t ' ],
	licence_no => [ 'SC11834020305037', 'SC12744040400094', 'JY13301080111719', 'JY23501110153674',
		'XZF37010200000011', 'TF37048100000050', 'xcy37020200001236' ],
	trace_code => [ '370102000000000012' ],
	qty => [ '12.5 kg', '500g', '3 pcs', '2 斤', '1.5 L', '250 mL', '0.001 g', '-7 t', '999999999.999999 t',
		'1 公斤', '.5 L', '0.000002 斤', '12 KG', '3 件' ],
);
for (1 .. 40)
{
	my $body = join '', map { $USCC_SET[ int rand 31 ] } 1 .. 2;
	$body .= join '', map { int rand 10 } 1 .. 6;
	$body .= join '', map { $USCC_SET[ int rand 31 ] } 1 .. 9;
	push @{ $seeds{uscc} }, $body . uscc_check($body);
	my $t = join '', map { int rand 10 } 1 .. 17;
	my $c = 0;
	$c++ while damm($t . $c) != 0;
	push @{ $seeds{trace_code} }, $t . $c;
}

# ---- run -----------------------------------------------------------------

# Operators live in schema shilian, as for any application.
$node->safe_psql('postgres', 'ALTER DATABASE postgres SET search_path = shilian, public');
$node->safe_psql('postgres', q{
CREATE TABLE lits (typ text, id int, lit text, PRIMARY KEY (typ, id));
CREATE TABLE verdict (typ text, id int, ok bool);
CREATE TABLE acc_uscc (id int, v shilian.uscc);
CREATE TABLE acc_licence_no (id int, v shilian.licence_no);
CREATE TABLE acc_trace_code (id int, v shilian.trace_code);
CREATE TABLE acc_qty (id int, v shilian.qty);
-- One fuzz function per type; the type names are ours, so format(%s) is safe.
DO $do$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['uscc', 'licence_no', 'trace_code', 'qty'] LOOP
		EXECUTE format($f$
CREATE FUNCTION fuzz_%1$s(OUT tried int, OUT accepted int, OUT refused int, OUT mismatched int, OUT unexpected text[])
LANGUAGE plpgsql AS $body$
DECLARE
	r record;
	v shilian.%1$s;
	txt text;
	ok bool;
BEGIN
	tried := 0; accepted := 0; refused := 0; mismatched := 0; unexpected := '{}';
	FOR r IN SELECT id, lit FROM lits WHERE typ = %1$L ORDER BY id LOOP
		tried := tried + 1;
		BEGIN
			v := r.lit::shilian.%1$s;
			ok := true;
		EXCEPTION
			WHEN invalid_text_representation OR numeric_value_out_of_range THEN
				ok := false;
				IF SQLERRM !~ '^(invalid (length|prefix|precision|check character|check digit|character at position [0-9]+|number at position [0-9]+|unit at position [0-9]+) for %1$s: |missing unit for qty: |qty out of range$)' THEN
					unexpected := unexpected || (SQLSTATE || ' ' || SQLERRM);
				END IF;
			WHEN OTHERS THEN
				ok := NULL;
				unexpected := unexpected || (SQLSTATE || ' ' || SQLERRM);
		END;
		INSERT INTO verdict VALUES (%1$L, r.id, ok);
		IF ok THEN
			accepted := accepted + 1;
			txt := v::text;
			IF txt::shilian.%1$s <> v OR txt::shilian.%1$s::text <> txt THEN
				mismatched := mismatched + 1;
			END IF;
			INSERT INTO acc_%1$s VALUES (r.id, v);
		ELSIF ok IS NOT NULL THEN
			refused := refused + 1;
		END IF;
	END LOOP;
END $body$;
$f$, t);
	END LOOP;
END $do$;
});

my %lits;

# Try every literal of a type under the given settings; check the refusals,
# the round trips and the agreement with the Perl rules ($judge).
sub fuzz_pass
{
	my ($type, $label, $settings, $judge) = @_;
	my $lits = $lits{$type};
	my $res = $node->safe_psql('postgres', "delete from verdict where typ = '$type'; delete from acc_$type; $settings "
		  . "select tried, accepted, refused, mismatched, array_length(unexpected, 1), "
		  . "array_to_string(unexpected[1:5], E'\\n') from fuzz_$type()");
	my ($tried, $accepted, $refused, $mismatched, $nunexpected, $examples) = split /\|/, $res, 6;
	note("$label: tried $tried, accepted $accepted, refused $refused");
	is($tried, $PER_TYPE, "$label: every literal tried");
	is($node->safe_psql('postgres', 'select 1'), '1', "$label: the server still answers");
	is($accepted + $refused, $PER_TYPE, "$label: every literal accepted or refused with 22P02/22003");
	is($nunexpected || 0, 0, "$label: every refusal names a rule") or diag($examples);
	cmp_ok($accepted, '>=', 1000, "$label: enough literals accepted to test round trips");
	cmp_ok($refused, '>=', 1000, "$label: enough literals refused");
	is($mismatched, 0, "$label: text → value → text → value is identical");
	return unless $judge;
	my %server = map { split /\|/ } split /\n/,
	  $node->safe_psql('postgres', "select id, ok::int from verdict where typ = '$type'");
	my @disagree = grep { ($server{$_} // -1) != $judge->($lits->[$_]) } 0 .. $#$lits;
	is(scalar @disagree, 0, "$label: server and independent Perl rules agree on every literal")
	  or diag(join "\n", map { encode_utf8("'$lits->[$_]' server=" . ($server{$_} // 'none')) } @disagree[0 .. 9]);
}

my %judge = (
	uscc => sub { uscc_ok($_[0], 0) },
	licence_no => sub { license_ok($_[0], 0) },
	trace_code => \&trace_ok,
	qty => undef,
);

for my $type (qw(uscc licence_no trace_code qty))
{
	my @lits;
	my $seedlist = $seeds{$type};
	push @lits, @$seedlist;
	push @lits, mutate($seedlist->[ int rand @$seedlist ]) while @lits < $PER_TYPE;
	$lits{$type} = \@lits;

	my $copy = "COPY lits (typ, id, lit) FROM STDIN;\n";
	$copy .= "$type\t$_\t" . copy_escape($lits[$_]) . "\n" for 0 .. $#lits;
	$copy .= "\\.\n";
	$node->safe_psql('postgres', encode_utf8($copy));
	is($node->safe_psql('postgres', "select count(*) from lits where typ = '$type'"), $PER_TYPE,
		"$type: $PER_TYPE literals loaded");

	fuzz_pass($type, $type, '', $judge{$type});

	# binary send/recv: COPY BINARY out and back in, every value identical
	my $file = $node->basedir . "/acc_$type.bin";
	$node->safe_psql('postgres', qq{
		COPY acc_$type TO '$file' (FORMAT binary);
		CREATE TABLE back_$type (LIKE acc_$type);
		COPY back_$type FROM '$file' (FORMAT binary);
	});
	is($node->safe_psql('postgres', qq{
		select count(*) from acc_$type a full join back_$type b using (id)
		 where b.id is null or a.id is null or a.v::text <> b.v::text or a.v <> b.v}), '0',
		"$type: every accepted value round-trips through send/recv");
}

# The lenient and strict settings, on the same literals: a wrong USCC check
# character is accepted only with shilian.uscc_lenient, a wrong licence check
# digit refused only with shilian.licence_strict; every other rule holds.
fuzz_pass('uscc', 'uscc (lenient)', 'set shilian.uscc_lenient = on;', sub { uscc_ok($_[0], 1) });
is($node->safe_psql('postgres', 'set shilian.uscc_lenient = on; select count(*) from acc_uscc where not shilian.uscc_is_strict(v)')
	  > 0 ? 1 : 0, 1, 'uscc (lenient): some accepted codes are not strict');
fuzz_pass('licence_no', 'licence_no (strict)', 'set shilian.licence_strict = on;', sub { license_ok($_[0], 1) });
is($node->safe_psql('postgres', 'select count(*) from acc_licence_no where not shilian.licence_check_ok(v)'), '0',
	'licence_no (strict): every accepted number passes licence_check_ok');

# The GS1 Digital Link parser: 50,000 mutated URIs. Refusals are 22P02 with
# the rule named; every accepted URI gives a GTIN-14 and a lot that
# gs1_digital_link() turns back into a URI that parses to the same pair.
{
	my @seeds = ('https://id.gs1.org/01/09506000134352/10/ABC123', 'http://example.com/res/01/96385074/10/A%2FB',
		'https://id.gs1.org/01/036000291452', 'https://id.gs1.org/01/4006381333931/22/1/10/L%2F1/21/S?x=1#f',
		'https://id.gs1.org/gtin/6901234567892/lot/X-1', 'HTTPS://shop.example.cn/01/9436465792104/10/%E4%B8%AD');
	my @uris = @seeds;
	push @uris, mutate($seeds[ int rand @seeds ]) while @uris < 50_000;
	my $copy = "COPY lits (typ, id, lit) FROM STDIN;\n";
	$copy .= "gs1\t$_\t" . copy_escape($uris[$_]) . "\n" for 0 .. $#uris;
	$copy .= "\\.\n";
	$node->safe_psql('postgres', encode_utf8($copy));
	my $res = $node->safe_psql('postgres', q{
CREATE FUNCTION fuzz_gs1(OUT tried int, OUT accepted int, OUT refused int, OUT mismatched int, OUT unexpected text[])
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	g text; l text; g2 text; l2 text; link text;
	ok bool;
BEGIN
	tried := 0; accepted := 0; refused := 0; mismatched := 0; unexpected := '{}';
	FOR r IN SELECT id, lit FROM lits WHERE typ = 'gs1' ORDER BY id LOOP
		tried := tried + 1;
		BEGIN
			SELECT p.gtin, p.lot INTO g, l FROM shilian.gs1_parse_digital_link(r.lit) p;
			ok := true;
		EXCEPTION
			WHEN invalid_text_representation THEN
				ok := false;
				IF SQLERRM !~ '^invalid (GS1 Digital Link URI|check digit for GTIN|length for GTIN|character at position [0-9]+ for GTIN|length for GS1 lot|character at position [0-9]+ for GS1 lot): ' THEN
					unexpected := unexpected || (SQLSTATE || ' ' || SQLERRM);
				END IF;
			WHEN OTHERS THEN
				ok := NULL;
				unexpected := unexpected || (SQLSTATE || ' ' || SQLERRM);
		END;
		IF ok THEN
			accepted := accepted + 1;
			link := shilian.gs1_digital_link(g, l);
			SELECT p.gtin, p.lot INTO g2, l2 FROM shilian.gs1_parse_digital_link(link) p;
			IF g !~ '^[0-9]{14}$' OR NOT shilian.gtin_check_ok(g) OR g2 IS DISTINCT FROM g OR l2 IS DISTINCT FROM l THEN
				mismatched := mismatched + 1;
			END IF;
		ELSIF ok IS NOT NULL THEN
			refused := refused + 1;
		END IF;
	END LOOP;
END $$;
select tried, accepted, refused, mismatched, array_length(unexpected, 1), array_to_string(unexpected[1:5], E'\n') from fuzz_gs1();
});
	my ($tried, $accepted, $refused, $mismatched, $nunexpected, $examples) = split /\|/, $res, 6;
	note("gs1 digital link: tried $tried, accepted $accepted, refused $refused");
	is($accepted + $refused, 50_000, 'gs1: every URI accepted or refused with 22P02');
	is($nunexpected || 0, 0, 'gs1: every refusal names a rule') or diag($examples);
	cmp_ok($accepted, '>=', 1000, 'gs1: enough URIs accepted');
	is($mismatched, 0, 'gs1: parse → build → parse gives the same GTIN-14 and lot');
	is($node->safe_psql('postgres', 'select 1'), '1', 'gs1: the server still answers');
}

# Hand-made binary input: wrong version bytes and out-of-range payloads are
# refused by recv (22P03), never stored.
sub copy_bin
{
	my ($payload) = @_;
	# PGCOPY header, one tuple of one field, trailer
	return "PGCOPY\n\377\r\n\0" . pack('NN', 0, 0) . pack('n', 1) . pack('N', length $payload) . $payload . pack('n', 0xFFFF);
}
my @bad_bin = (
	[ 'uscc', "\x02" . '914403001922038216', 'unsupported uscc binary format version 2' ],
	[ 'uscc', "\x01" . '914403001922038217', 'invalid check character' ],
	[ 'uscc', "\x01" . '9144030019', 'invalid length' ],
	[ 'licence_no', "\x00" . 'SC11834020305037', 'unsupported licence_no binary format version 0' ],
	[ 'licence_no', "\x01" . 'SX11834020305037', 'invalid prefix' ],
	[ 'trace_code', "\x01" . pack('q>', -1), 'is not an 18-digit number' ],
	[ 'trace_code', "\x01" . pack('q>', 370102000000000018), 'invalid check digit' ],
	[ 'trace_code', "\x09" . pack('q>', 370102000000000012), 'unsupported trace_code binary format version 9' ],
	[ 'qty', "\x01\x03" . pack('q>', 1000), 'invalid qty dimension 3' ],
	[ 'qty', "\x01\x00" . pack('q>', 1000000000000000000), 'qty out of range' ],
	[ 'qty', "\x02\x00" . pack('q>', 1000), 'unsupported qty binary format version 2' ],
	[ 'qty', "\x01\x00", 'insufficient data' ],
);
for my $case (@bad_bin)
{
	my ($type, $payload, $want) = @$case;
	my $file = $node->basedir . '/bad.bin';
	open my $fh, '>:raw', $file or die; print $fh copy_bin($payload); close $fh;
	chmod 0644, $file;
	my ($ret, $out, $err) = $node->psql('postgres', "COPY back_$type (v) FROM '$file' (FORMAT binary)");
	isnt($ret, 0, "recv refuses bad $type input ($want)");
	like($err, qr/\Q$want\E/, "with the message \"$want\"");
}
my $good = $node->basedir . '/good.bin';
open my $gh, '>:raw', $good or die; print $gh copy_bin("\x01\x02" . pack('q>', 3000)); close $gh;
chmod 0644, $good;
$node->safe_psql('postgres', "truncate back_qty; COPY back_qty (v) FROM '$good' (FORMAT binary)");
is($node->safe_psql('postgres', 'select v from back_qty'), '3 pcs', 'recv reads a hand-made qty (2 = count, 3000 thousandths)');

is($node->safe_psql('postgres', 'select pg_postmaster_start_time()'), $pid0, 'the postmaster never restarted');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated|exited with exit code [1-9]|all server processes terminated/,
	'no backend crashed (server log)');
$node->stop;
done_testing();
