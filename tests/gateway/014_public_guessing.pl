# The public trace cannot be enumerated and discloses only what a consumer
# needs (docs/security.md#public-access), on the demo province:
# - 10,000 unauthenticated guesses of codes with valid check digits around
#   the demo's serials (every real code among them), with no token, a
#   random one or another lot's, find nothing: every answer is the same 404
#   SLP01, body identical but for the code asked about;
# - the page of every demo lot, read with its token, names the producer
#   and the final seller and no other operator of the demo.
use strict;
use warnings;
use Encode ();
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $top = $ENV{SHILIAN_TOP};
my $node = shilian_node('gw_public');
$node->safe_psql('postgres', slurp_file("$top/tests/demo/province.sql"));
# 10,000 requests: without valgrind (011_trace_api.pl runs this route under
# it), and with the per-address throttle of the public route opened wide
# (it would answer 429 long before; docs/rest.md).
my $gw = start_gateway($node, no_valgrind => 1, env => { SHILIAN_PUBLIC_RATE_LIMIT => 1000000 },
	dsn => 'host=' . $node->host . ' port=' . $node->port . ' dbname=postgres user=shilian_gateway');
my $ua = HTTP::Tiny->new(timeout => 60, keep_alive => 1);

# code|token|owner, for every demo lot (the test reads the tokens as the
# superuser; a guesser cannot)
my %token;
for (split /\n/, $node->safe_psql('postgres',
	'select trace_code || \'|\' || shilian.public_token(trace_code) from shilian.batch order by id'))
{
	my ($c, $t) = split /\|/;
	$token{$c} = $t;
}
my @codes = sort keys %token;
is(scalar @codes, 20, 'the demo has 20 lots');

# ---- the Damm check digit, as on the label --------------------------------------------
my @damm = ([0,3,1,7,5,9,8,6,4,2], [7,0,9,2,1,5,4,8,6,3], [4,2,0,6,8,7,1,3,5,9], [1,7,5,0,9,8,3,4,2,6],
	[6,1,2,3,0,4,5,9,7,8], [3,6,7,4,2,0,9,5,8,1], [5,8,6,9,7,2,0,1,3,4], [8,9,4,5,3,6,2,0,1,7],
	[9,4,3,8,6,1,7,2,0,5], [2,5,8,1,4,3,6,7,9,0]);
sub with_check { my $s = shift; my $i = 0; $i = $damm[$i][$_] for split //, $s; return $s . $i; }
is_deeply([ map { with_check(substr($_, 0, 17)) } @codes ], \@codes, 'the guesser\'s check digits are the platform\'s');

# ---- 10,000 guesses ---------------------------------------------------------------------
my %regions = map { substr($_, 0, 6) => 1 } @codes;
my $max = 0;
for (@codes) { my $s = 0 + substr($_, 6, 11); $max = $s if $s > $max; }
my @alphabet = split //, '0123456789abcdefghjkmnpqrstvwxyz';
srand(20261202);
my @guesses = map { [ $_, '' ] } @codes;	# every real code, no token
push @guesses, map { [ $_, '?t=' ] } @codes;	# an empty token
# another lot's token (the next one's)
push @guesses, map { [ $codes[$_], '?t=' . $token{ $codes[ ($_ + 1) % @codes ] } ] } 0 .. $#codes;
my @regions = sort keys %regions;
while (@guesses < 10_000)
{
	my $code = with_check($regions[ rand @regions ] . sprintf('%011d', 1 + int(rand($max + 200))));
	my $kind = rand;
	my $q = $kind < 0.3 ? '' : '?t=' . join('', map { $alphabet[ rand @alphabet ] } 1 .. 10);
	$q = '?t=' . $token{ $codes[ rand @codes ] } if $kind > 0.9;
	# another lot's token is no token for this code (a real code may draw its own: skip it)
	next if $q ne '' && exists $token{$code} && $q eq "?t=$token{$code}";
	push @guesses, [ $code, $q ];
}
my (%answers, $found, $real);
for my $g (@guesses)
{
	my $r = $ua->get("$gw->{url}/v1/public/trace/$g->[0]$g->[1]");
	(my $body = $r->{content}) =~ s/$g->[0]/CODE/g;
	$answers{"$r->{status} $body"}++;
	$found++ if $r->{status} == 200;
	$real++ if exists $token{ $g->[0] };
}
is(scalar @guesses, 10_000, '10,000 guesses');
cmp_ok($real, '>=', 3 * 20, "$real of them at real lots' codes");
ok(!$found, 'no guess found a lot');
is(scalar keys %answers, 1, 'every answer is the same') or diag(join "\n", keys %answers);
my ($answer) = keys %answers;
like($answer, qr/^404 \{"code":"SLP01","message":"no public trace for CODE with this token"/, 'a 404 SLP01');

# ---- every demo lot's page: producer and final seller, no other name ----------------------
my @names = split /\n/, $node->safe_psql('postgres', 'select name from shilian.operator order by length(name) desc');
is(scalar @names, 14, 'the demo has 14 operators');
my $middle = 0;
for my $code (@codes)
{
	my $r = $ua->get("$gw->{url}/v1/public/trace/$code?t=$token{$code}");
	is($r->{status}, 200, "$code: the page opens with its token") or next;
	my $page = Encode::decode_utf8($r->{content});
	my $j = JSON::PP->new->decode($page);
	# the final seller holds the lot; the producer is found by following the
	# sale each lot came in by, up to the lot that was not received
	my ($seller, $producer) = split /\|/, Encode::decode_utf8($node->safe_psql('postgres', qq{
		set search_path = shilian, pg_catalog;
		with recursive up as (
			select b.id, b.owner_id, b.origin, 0 as n from shilian.batch b where b.trace_code = '$code'
			union all
			select s.id, s.owner_id, s.origin, u.n + 1 from up u
			  join lateral (select l.from_batch from shilian.link l where l.to_batch = u.id and l.kind = 'ship'
				and l.status = 'received' order by l.received_at, l.id limit 1) l on u.origin = 'received'
			  join shilian.batch s on s.id = l.from_batch)
		select (select o.name from up join shilian.operator o on o.id = up.owner_id where n = 0) || '|' ||
		       (select o.name from up join shilian.operator o on o.id = up.owner_id order by n desc limit 1)}));
	is($j->{producer}{name}, $producer, "$code: the producer named is the lot's producer");
	my @custody = @{ $j->{custody} };
	is($custody[-1]{holder}, $seller, "$code: the last holder named is the final seller");
	$middle += @custody - 2 if @custody > 2;
	ok(!grep({ defined $custody[$_]{holder} } 1 .. $#custody - 1), "$code: no holder between them named");
	(my $rest = $page) =~ s/\Q$_\E//g for grep { defined } $producer, $seller;
	my @leaked = grep { index($rest, $_) >= 0 } @names;
	is_deeply(\@leaked, [], "$code: no other operator's name on the page");
}
cmp_ok($middle, '>=', 2, "the demo has lots with holders between producer and final seller ($middle)");

stop_gateway($gw);
$node->stop;
done_testing();
