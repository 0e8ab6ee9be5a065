# Self-service registration and activation in SQL (issue 24,
# docs/registration.md): a request matching the operator roll registers at
# once and moves the county's registration rate by one; one that does not
# waits for its station, which approves or refuses it, while a station
# outside its subtree may not; a licence already held is a conflict the
# station sees; throttling per client address; activation codes issued by
# the right station only, stored hashed, single use, expiring; an identity
# belongs to one operator; the station's follow-up list and its CSV.
# Each request runs as the gateway runs it: logged in as shilian_gateway,
# BEGIN, the role and the settings, the call, COMMIT.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('registration');

$node->safe_psql('postgres', q{
	SELECT shilian.jurisdiction_add('370000', '山东省');
	SELECT shilian.jurisdiction_add('370100', '济南市');
	SELECT shilian.jurisdiction_add('370102', '历下区');
	SELECT shilian.jurisdiction_add('370112', '历城区');
	SELECT shilian.jurisdiction_add('370102001', '泉城路所');
	SELECT shilian.jurisdiction_add('370112001', '洪家楼所');
	INSERT INTO shilian.operator_roll (licence_no, name, station, segment, kinds) VALUES
		('JY13701020003016', '泉城路老王菜摊', '370102001', 'circulation', '{market_vendor}'),
		('JY13701020003024', '泉城路李记水果', '370102001', 'circulation', '{market_vendor}'),
		('JY13701020003032', '泉城路超市', '370102001', 'circulation', '{retailer}'),
		('JY13701020003049', '泉城路赵家熟食', '370102001', 'circulation', '{market_vendor}'),
		('JY13701120003013', '洪家楼张三饭店', '370112001', 'catering', '{restaurant}');
	-- the supermarket is on the platform already
	SELECT shilian.operator_register('泉城路超市', 'circulation', '{retailer}', '370102001', '泉城路1号', '0531-1',
		reg_card => 'CARD-S');
	SELECT shilian.licence_add(1, 'JY13701020003032', '{other}', '2025-01-01', '2030-12-31');
});

sub q_lit { my $s = shift // ''; $s =~ s/'/''/g; return "'$s'"; }

# $sql in a request transaction for $who = {role, jur, addr}: (stdout, stderr).
sub request
{
	my ($who, $sql) = @_;
	my $pre = sprintf("\\set VERBOSITY verbose\nBEGIN;\nSELECT set_config('role', %s, true), "
		  . "set_config('shilian.jurisdiction', %s, true), set_config('shilian.client_addr', %s, true) "
		  . "\\g /dev/null\n",
		q_lit($who->{role}), q_lit($who->{jur}), q_lit($who->{addr}));
	my ($rc, $out, $err) = $node->psql('postgres', "$pre$sql;\nCOMMIT;\n",
		extra_params => [ '-U', 'shilian_gateway', '-v', 'ON_ERROR_STOP=1' ]);
	return ($out, $err);
}

sub ok_sql
{
	my ($who, $sql, $want, $name) = @_;
	my ($out, $err) = request($who, $sql);
	$want =~ s/\n\z//;
	is("$out$err", $want, $name);
}

sub refused
{
	my ($who, $sql, $code, $name) = @_;
	my ($out, $err) = request($who, $sql);
	like($err, qr/ERROR:\s+$code:/, $name);
}

sub su { return $node->safe_psql('postgres', shift); }

my $public = { role => 'shilian_public', addr => '198.51.100.1' };
my $reg102 = { role => 'shilian_regulator', jur => '370102' };
my $reg112 = { role => 'shilian_regulator', jur => '370112' };

# a registration request's SQL: name, licence, station, card, contact
sub reg_sql
{
	my ($name, $lic, $station, $card, %o) = @_;
	return sprintf("SELECT shilian.operator_register_request(%s, 'circulation', '{market_vendor}', %s, "
		  . "'泉城路菜市场', %s, %s, '{vegetables}', '2025-01-01', '2030-12-31', reg_card => %s%s)",
		q_lit($name), q_lit($station), q_lit($o{contact} // '13800000001'), q_lit($lic), q_lit($card),
		$o{identity} ? ', identity => ' . q_lit($o{identity}) : '');
}

sub stats
{
	return su("SELECT registered || '/' || activated FROM shilian.jurisdiction_stats('370102', "
		. "daterange(shilian.platform_today(), shilian.platform_today(), '[]')) WHERE total");
}

# ---- a match registers at once ---------------------------------------------------

my $before = stats();
is($before, '1/0', 'the county: one registered (the supermarket), none active');
ok_sql($public, reg_sql('泉城路老王菜摊', 'JY13701020003016', '370102001', 'LX-0001', identity => 'phone:13800000001'),
	qq({"id": 1, "status": "registered", "operator": 2}\n),
	'a vendor on the roll registers itself through the public role: registered at once');
is(su("SELECT status || ' ' || station || ' ' || reg_card FROM shilian.operator WHERE id = 2"),
	'registered 370102001 LX-0001', 'the operator row is the one operator_register writes');
is(su("SELECT operator_id FROM shilian.licence WHERE licence_no::text = 'JY13701020003016'"), '2',
	'its licence is on the platform');
is(su("SELECT string_agg(kind, ',' ORDER BY seq) FROM shilian.ledger WHERE operator_id = 2"),
	'operator_register,licence_add,registration_decide',
	'the ledger: the registration, the licence and the match decision');
is(su("SELECT shilian.ledger_body(body)->>'decided_by' FROM shilian.ledger WHERE operator_id = 2 AND kind = 'registration_decide'"),
	'roll', 'the match is decided by the roll');
is(stats(), '2/0', 'the county\'s registration count moved by exactly one');

# ---- refused inputs ----------------------------------------------------------------

refused({ role => 'shilian_public' }, reg_sql('x', 'JY13701020003024', '370102001', 'LX-9'), 'SLQ01',
	'the public role without a client address: SLQ01');
refused($public, reg_sql('x', 'JY13701020003024', '370102001', undef) =~ s/reg_card => ''/reg_card => NULL/r,
	'SLQ03', 'neither USCC nor registration card: SLQ03');
refused($public, reg_sql('x', 'JY1370102000302', '370102001', 'LX-9'), '22P02',
	'a malformed licence number: 22P02');
refused($public, reg_sql('x', 'JY13701020003024', '370102', 'LX-9'), 'SLR19',
	'a county is no home station: SLR19');
refused($public, reg_sql('x', 'JY13701020003024', '370102001', 'LX-9', identity => 'someone'), 'SLQ04',
	'an identity that is neither phone: nor sub:: SLQ04');

# ---- no match waits for the right station ------------------------------------------

my $p2 = { role => 'shilian_public', addr => '198.51.100.2' };
ok_sql($p2, reg_sql('李记水果店', 'JY13701020003024', '370102001', 'LX-0002'),
	qq({"id": 2, "status": "pending"}\n), 'a name that differs from the roll: pending');
ok_sql($p2, reg_sql('赵家卤味', 'JY13701020003049', '370102001', 'LX-0003'),
	qq({"id": 3, "status": "pending"}\n), 'a second pending request');
is(stats(), '2/0', 'pending requests are not registrations');
ok_sql($reg102, "SELECT string_agg(id || ':' || licence_no || ':' || (closest_roll->0->>'name'), ' ') FROM shilian.registration_requests('370102')",
	"2:JY13701020003024:泉城路李记水果 3:JY13701020003049:泉城路赵家熟食\n",
	'the station\'s queue: both, each with its closest roll row');
ok_sql($reg112, "SELECT count(*) FROM shilian.registration_requests('370112')", "0\n",
	'another county\'s queue does not hold them');
refused($reg112, "SELECT shilian.registration_requests('370102')", '42501',
	'a regulator may not read a queue outside its subtree');
refused($reg112, "SELECT shilian.registration_decide(2, 'approve', '核对无误')", '42501',
	'a station outside the request\'s subtree may not decide it');
refused($reg102, "SELECT shilian.registration_decide(2, 'approve', '')", 'SLQ08', 'a decision without reason: SLQ08');
refused($reg102, "SELECT shilian.registration_decide(2, 'maybe', 'x')", 'SLQ07', 'an unknown decision: SLQ07');
refused($reg102, "SELECT shilian.registration_decide(2, 'correct', 'x', '{\"station\": \"370112001\"}')", 'SLQ11',
	'a correction of a field that is not correctable: SLQ11');
ok_sql($reg102, "SELECT shilian.registration_decide(2, 'correct', '营业执照名称为泉城路李记水果', '{\"name\": \"泉城路李记水果\"}')",
	qq({"id": 2, "status": "corrected", "operator": 3}\n), 'the right station corrects the name and registers it');
is(su("SELECT name FROM shilian.operator WHERE id = 3"), '泉城路李记水果', 'with the corrected name');
ok_sql($reg102, "SELECT shilian.registration_decide(3, 'refuse', '许可证持有人不符')",
	qq({"id": 3, "status": "refused"}\n), 'the right station refuses the other');
refused($reg102, "SELECT shilian.registration_decide(3, 'approve', 'x')", 'SLQ10', 'a decided request is not decided again: SLQ10');
is(su("SELECT shilian.ledger_body(body)->>'reason' FROM shilian.ledger WHERE operator_id = 0 AND kind = 'registration_decide'"),
	'许可证持有人不符', 'the refusal is in the ledger (platform chain), with its reason');
is(su("SELECT shilian.ledger_body(body)->>'decided_by' FROM shilian.ledger WHERE operator_id = 3 AND kind = 'registration_decide'"),
	'370102', 'the correction is in the operator\'s chain, by the station that decided');
is(stats(), '3/0', 'the approval moved the registration count by one');

# ---- nobody registers into another's licence ----------------------------------------

my $p3 = { role => 'shilian_public', addr => '198.51.100.3' };
ok_sql($p3, reg_sql('泉城路超市', 'JY13701020003032', '370102001', 'LX-0004'),
	qq({"id": 4, "error": {"code": "SLQ05", "hint": "A licence belongs to one operator; the supervision station has been shown this request.", "message": "licence JY13701020003032 is already held by a registered operator"}, "status": "conflict"}\n),
	'a licence already held by a registered operator: conflict SLQ05, even with the roll\'s name');
ok_sql($p3, reg_sql('泉城路老王菜摊', 'JY13701020003016', '370102001', 'LX-0005'),
	qq({"id": 5, "error": {"code": "SLQ05", "hint": "A licence belongs to one operator; the supervision station has been shown this request.", "message": "licence JY13701020003016 is already held by a registered operator"}, "status": "conflict"}\n),
	'registering again into a licence just registered: conflict');
ok_sql($p3, reg_sql('泉城路赵家熟食', 'JY13701020003049', '370102001', 'LX-0001'),
	qq({"id": 6, "error": {"code": "SLQ05", "hint": "An operator registers once; a further licence is added by its supervision station.", "message": "the USCC or registration card is already registered"}, "status": "conflict"}\n),
	'a registration card already registered: conflict');
ok_sql($reg102, "SELECT string_agg(id || ':' || coalesce(operator_id::text, '-'), ' ') FROM shilian.registration_requests('370102', 'conflict')",
	"4:1 5:2 6:-\n", 'the conflicts surface in the station\'s queue, with the licence\'s holder');
refused($reg102, "SELECT shilian.registration_decide(4, 'approve', 'x')", 'SLQ10', 'a conflict is not approved');
is(su("SELECT count(*) FROM shilian.operator"), '3', 'no operator was made by the conflicts');

# ---- throttling ------------------------------------------------------------------------

my $p4 = { role => 'shilian_public', addr => '203.0.113.9' };
for my $i (1 .. 5)
{
	my ($out, $err) = request($p4, reg_sql("摊位$i", 'JY13701120003013', '370112001', "HJL-$i"));
	like($out, qr/"status": "pending"/, "request $i of the hour from one address is taken");
}
refused($p4, reg_sql('摊位6', 'JY13701120003013', '370112001', 'HJL-6'), 'SLQ02',
	'the sixth request of the hour from that address: SLQ02');
ok_sql($p2, reg_sql('摊位7', 'JY13701120003013', '370112001', 'HJL-7'),
	qq({"id": 12, "status": "pending"}\n), 'another address is not held back');
is(su("SELECT n FROM shilian.registration_throttle WHERE addr = '203.0.113.9' AND kind = 'register'"), '5',
	'the throttle counts per address and hour');

# ---- the public reaches nothing else ----------------------------------------------------

refused($public, 'SELECT * FROM shilian.registration_request', '42501', 'the public reads no request');
refused($public, "SELECT shilian.registration_requests('370102')", '42501', 'nor the queue');
refused($public, "SELECT shilian.activation_code_issue(2)", '42501', 'nor issues codes');
refused($public, "SELECT shilian.operator_register_matched('x', 'circulation', '{retailer}', '370102001', 'a', 'c', reg_card => 'Z')",
	'42501', 'nor calls the trusted registration step');
refused($public, "SELECT shilian.operator_activate_bound(2)", '42501', 'nor the trusted activation step');
refused({ role => 'shilian_operator' }, "SELECT shilian.registration_decide(2, 'approve', 'x')", '42501',
	'an operator decides no request');

# ---- activation codes --------------------------------------------------------------------

refused($reg112, "SELECT shilian.activation_code_issue(2)", '42501',
	'a station outside the operator\'s subtree issues no code');
my ($out) = request($reg102, "SELECT shilian.activation_code_issue(2)->>'code'");
chomp $out;
like($out, qr/^[0-9]{10}$/, 'the right station gets a ten-digit code, shown once');
my $code = $out;
is(su("SELECT count(*) FROM shilian.activation_code WHERE code_hash = sha256(salt || convert_to('$code', 'UTF8'))"),
	'1', 'stored as the salted SHA-256 of the code');
is(su("SELECT count(*) FROM shilian.activation_code a WHERE row(a.*)::text LIKE '%$code%'"
	. " OR encode(a.code_hash, 'hex') LIKE '%$code%'"), '0', 'the code itself is nowhere in the table');
is(su("SELECT position('$code' IN string_agg(shilian.ledger_body(body)::text, '')) FROM shilian.ledger"), '0',
	'nor in the ledger');

my $wrong = $code eq '0000000000' ? '0000000001' : '0000000000';
my $p5 = { role => 'shilian_public', addr => '198.51.100.5' };
ok_sql($p5, "SELECT shilian.operator_activate_with_code('JY13701020003016', '$wrong', 'phone:13800000001')->'error'->>'code'",
	"SLQ14\n", 'a wrong code: refused SLQ14');
is(su("SELECT failures FROM shilian.activation_code WHERE operator_id = 2"), '1', 'and counted against the code');
ok_sql($p5, "SELECT shilian.operator_activate_with_code('JY13701020003024', '$code', 'phone:13800000001')->'error'->>'code'",
	"SLQ14\n", 'the code of one operator does not activate another\'s licence');
ok_sql($p5, "SELECT shilian.operator_activate_with_code('JY13701020003016', '$code', 'phone:13800000001')",
	qq({"status": "active", "identity": "phone:13800000001", "operator": 2}\n),
	'the right code with the licence number: active, identity bound');
is(su("SELECT status FROM shilian.operator WHERE id = 2"), 'active', 'the operator is active');
is(su("SELECT string_agg(kind, ',' ORDER BY seq) FROM shilian.ledger WHERE operator_id = 2 AND seq > 3"),
	'activation_code_issue,operator_identity_bind,operator_activate', 'issue, binding and activation in the ledger');
is(stats(), '3/1', 'the county\'s activation count moved by exactly one');
ok_sql($p5, "SELECT shilian.operator_activate_with_code('JY13701020003016', '$code', 'phone:13800000001')->'error'->>'code'",
	"SLQ14\n", 'a used code is refused: single use');

# expiry
($out) = request($reg102, "SELECT shilian.activation_code_issue(3, '1 hour')->>'code'");
chomp $out;
my $code3 = $out;
su("UPDATE shilian.activation_code SET expires_at = now() - interval '1 second' WHERE operator_id = 3");
ok_sql($p5, "SELECT shilian.operator_activate_with_code('JY13701020003024', '$code3', 'phone:13900000003')->'error'->>'code'",
	"SLQ15\n", 'an expired code: SLQ15');
refused($reg102, "SELECT shilian.activation_code_issue(3, '1 year')", 'SLQ13', 'a code valid for a year: SLQ13');
($out) = request($reg102, "SELECT shilian.activation_code_issue(3)->>'code'");
chomp $out;
$code3 = $out;
ok_sql($p5, "SELECT shilian.operator_activate_with_code('JY13701020003024', '$code3', 'phone:13800000001')->'error'->>'code'",
	"SLQ16\n", 'an identity bound to another operator: SLQ16');
is(su("SELECT status FROM shilian.operator WHERE id = 3"), 'registered', 'and nothing activated');

# five wrong attempts void the code
for my $i (1 .. 5)
{
	request({ role => 'shilian_public', addr => "192.0.2.$i" },
		"SELECT shilian.operator_activate_with_code('JY13701020003024', '$wrong', 'phone:13900000003')");
}
ok_sql({ role => 'shilian_public', addr => '192.0.2.9' },
	"SELECT shilian.operator_activate_with_code('JY13701020003024', '$code3', 'phone:13900000003')->'error'->>'code'",
	"SLQ14\n", 'after five wrong attempts the right code no longer works');

# activation attempts are throttled per address
my $p6 = { role => 'shilian_public', addr => '192.0.2.77' };
request($p6, "SELECT shilian.operator_activate_with_code('JY13701020003049', '0000000000', 'phone:13900000009')")
	for 1 .. 10;
refused($p6, "SELECT shilian.operator_activate_with_code('JY13701020003049', '0000000000', 'phone:13900000009')",
	'SLQ02', 'the eleventh activation attempt of the hour from one address: SLQ02');

# ---- follow-up ----------------------------------------------------------------------------

ok_sql($reg102, "SELECT string_agg(licence_no || ':' || state || ':' || coalesce(contact, '-'), ' ') FROM shilian.registration_followup('370102')",
	"JY13701020003049:unregistered:13800000001 JY13701020003024:not_active:13800000001 JY13701020003032:not_active:0531-1\n",
	'the follow-up: who has not registered, who has not activated, with contacts');
refused($reg112, "SELECT shilian.registration_followup('370102')", '42501', 'not outside the subtree');
my ($csv) = request($reg102, "SELECT shilian.registration_followup_csv('370102')");
my @lines = split /\n/, $csv;
is(scalar @lines, 4, 'the CSV: a header and three rows');
is($lines[0], 'licence_no,name,home_station,segment,state,operator_id,contact,registered_at', 'its header');
like($lines[1], qr/^JY13701020003049,泉城路赵家熟食,370102001,circulation,unregistered,,13800000001,$/, 'an unregistered row');
is(su("SELECT shilian.registration_csv_field('=1+2, \"x\"')"), q{"'=1+2, ""x"""}, 'a CSV field is quoted and defused');

done_testing();
