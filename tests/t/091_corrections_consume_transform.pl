# Corrections (更正) and retractions (撤销) of consumptions (消费/使用) and
# transformations (加工), part 83 (issue 18): with the ledger semantics of
# the other kinds (the original entry stays, the correction's entry
# supersedes it, correction rows keep the record before and after), the
# balances of the batches involved, the walks and the counters (equal to a
# recount from the records) follow; the rules refuse what would contradict
# later records. Every date is a fixed past day: nothing depends on today.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('corrections_ct');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.operator_register('鲁味食品', 'production', '{processor}', '370112001', 'x', '1', reg_card => 'P-1');
	select shilian.operator_activate(1);
	select shilian.operator_register('别家', 'production', '{processor}', '370112001', 'y', '2', reg_card => 'P-2');
	select shilian.operator_activate(2);
	select shilian.licence_add(1, 'SC10137011200027', '{vegetables,other}', '2024-01-01', '2028-12-31');
	select shilian.product_register('番茄', 'vegetables', 30, '散装', edible_agricultural => true, gtin => '6970000000017');
	select shilian.product_register('番茄酱', 'other', 365, '500g/瓶', owner => 1, gtin => '6970000000024');
	create role op_login login in role shilian_operator;
});

sub q1 { return $node->safe_psql('postgres', shift) }

# psql as the operator's login; returns (stdout, stderr)
sub as
{
	my ($op, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nset shilian.operator_id = '$op';\n$sql",
		extra_params => [ '-U', 'op_login' ], on_error_stop => 1);
	return ($out, $err);
}

sub counters
{
	return q1(q{select string_agg(format('%s/%s:%s,%s,%s,%s', operator_id, day, records, batches, transforms,
		consumptions), ' ' order by operator_id, day) from shilian.operator_day});
}
sub same_as_rebuild
{
	my ($name) = @_;
	my $live = counters();
	my $months = q1(q{select string_agg(format('%s/%s:%s', operator_id, month, records), ' ' order by operator_id, month) from shilian.operator_month});
	q1(q{select shilian.operator_day_rebuild()});
	is(counters(), $live, "$name: operator_day equals a recount from the records");
	is(q1(q{select string_agg(format('%s/%s:%s', operator_id, month, records), ' ' order by operator_id, month) from shilian.operator_month}),
		$months, "$name: operator_month too");
	return $live;
}
sub left_of { my ($code) = @_; return q1("select qty_left from shilian.batch where trace_code::text = '$code'"); }

# ---- the records: two lots of tomatoes, sauce made of both, some of it consumed
my ($out, $err) = as(1, q{
	select shilian.batch_create(1, 1, '100 kg', '2025-03-02', 'T-A');
	select shilian.batch_create(1, 1, '50 kg', '2025-03-02', 'T-B');
});
is($err, '', 'lots made') or diag $err;
my ($ta, $tb) = split /\n/, $out;
($out, $err) = as(1, qq{
	select shilian.transform(ARRAY['$ta', '$tb']::shilian.trace_code[], ARRAY['60 kg', '20 kg']::shilian.qty[],
		2, '100 pcs', '2025-03-03', 'S-1');
});
is($err, '', 'the sauce made') or diag $err;
my $sauce = $out;
my $sauce_id = q1("select id from shilian.batch where trace_code::text = '$sauce'");
($out, $err) = as(1, qq{
	select shilian.consume('$ta', '5 kg', 'destroyed', '2025-03-04 10:00+08');
	select shilian.consume('$sauce', '10 pcs', 'sample_kept', '2025-03-05 10:00+08');
});
is($err, '', 'consumed: tomatoes destroyed, sauce kept as samples') or diag $err;
my ($c_tom, $c_sauce) = split /\n/, $out;
is_deeply([ left_of($ta), left_of($tb), left_of($sauce) ], [ '35 kg', '30 kg', '90 pcs' ], 'the balances');
my $before = same_as_rebuild('after the records');
like($before, qr{1/2025-03-03:1,0,1,0 1/2025-03-04:1,0,0,1 1/2025-03-05:1,0,0,1}, 'a transform and two consumptions counted');

# ---- a consumption corrected: 5 kg were 8 kg; its kind ------------------------
($out, $err) = as(1, qq{select shilian.correct('consumption', $c_tom, '称重有误', '{"qty": "8 kg"}')});
is($err, '', 'correct(consumption, qty)') or diag $err;
is(left_of($ta), '32 kg', 'the batch balance follows (3 kg more left it)');
is(q1("select qty from shilian.consumption where id = $c_tom"), '8 kg', 'the consumption holds the corrected quantity');
is(q1(qq{select g.kind || ':' || (g.supersedes = o.id) || ':' || (shilian.ledger_body(g.body) #>> '{old,qty}') || '>'
	|| (shilian.ledger_body(g.body) #>> '{new,qty}')
	from shilian.correction c join shilian.ledger g on g.id = c.entry_id join shilian.ledger o on o.id = c.supersedes
	where c.kind = 'consumption' and c.record_id = $c_tom and o.kind = 'consume'}),
	'correct:true:5 kg>8 kg', 'its entry supersedes the consume entry, with old and new values');
($out, $err) = as(1, qq{select shilian.correct('consumption', $c_tom, '用途有误', '{"kind": "sample_kept", "note": "留样"}')});
is($err, '', 'correct(consumption, kind, note)') or diag $err;
is(q1("select kind || ',' || note from shilian.consumption where id = $c_tom"), 'sample_kept,留样', 'kind and note corrected');
(undef, $err) = as(1, qq{select shilian.correct('consumption', $c_tom, 'x', '{"qty": "41 kg"}')});
like($err, qr/SLC07: batch $ta holds 40 kg, less than 41 kg/, 'more than the batch held: SLC07');
(undef, $err) = as(1, qq{select shilian.correct('consumption', $c_tom, 'x', '{"kind": "eaten"}')});
like($err, qr/SLC07.*unknown consumption kind/, 'an unknown kind: SLC07');
(undef, $err) = as(1, qq{select shilian.correct('consumption', $c_tom, 'x', '{"consumed_at": "2025-03-01"}')});
like($err, qr/SLC06.*field "consumed_at" of a consumption/, 'a field not corrected this way: SLC06');
(undef, $err) = as(2, qq{select shilian.retract('consumption', $c_tom, 'x')});
like($err, qr/SLC02/, "another operator's consumption: SLC02 (as unknown)");

# ---- the sauce samples retracted: the quantity returns, not counted -----------
($out, $err) = as(1, qq{select shilian.retract('consumption', $c_sauce, '误录')});
is($err, '', 'retract(consumption)') or diag $err;
is(left_of($sauce), '100 pcs', 'the sauce is whole again');
(undef, $err) = as(1, qq{select shilian.retract('consumption', $c_sauce, 'again')});
like($err, qr/SLC04/, 'retracted once: SLC04');
is(q1(qq{select string_agg(action || ':' || (new is null), ',' order by correction) from shilian.corrections('consumption', $c_sauce)}),
	'retract:true', 'corrections(consumption): the retraction, the record before it kept');
my $now = same_as_rebuild('after the consumption corrections');
like($now, qr{1/2025-03-04:1,0,0,1}, 'the corrected consumption still counts');
unlike($now, qr{1/2025-03-05}, 'the retracted one is no longer counted');
# on hand as of a past moment: the walks count a retracted consumption as none
is(q1(qq{select qty_on_hand from shilian.trace_forward('$sauce', 0, '2025-03-06 00:00+08')}), '100 pcs',
	'on hand as of a day after the retracted consumption: all of it');

# ---- the transformation corrected: the inputs and the output -------------------
($out, $err) = as(1, qq{select shilian.correct('transformation', $sauce_id, '投料记录有误',
	'{"inputs": {"$tb": "25 kg"}, "qty": "120 pcs", "lot": "S-1A"}')});
is($err, '', 'correct(transformation, inputs, qty, lot)') or diag $err;
is_deeply([ left_of($ta), left_of($tb), left_of($sauce) ], [ '32 kg', '25 kg', '120 pcs' ],
	'balances: 5 kg more left T-B, the sauce holds 120');
is(q1(qq{select string_agg(b.lot || '=' || l.qty_shipped || '/' || l.qty_accepted, ',' order by b.lot) from shilian.link l
	join shilian.batch b on b.id = l.from_batch where l.to_batch = $sauce_id}), 'T-A=60 kg/60 kg,T-B=25 kg/25 kg',
	'the input links hold the corrected quantities');
is(q1(qq{select qty_reached from shilian.trace_forward('$tb') where batch::text = '$sauce'}), '25 kg',
	'trace forward from T-B: 25 kg reach the sauce');
is(q1(qq{select g.kind || ':' || (o.kind) || ':' || (shilian.ledger_body(g.body) ->> 'record') || ':' || (c.old #>> '{batch,lot}') || '>' || (c.new #>> '{batch,lot}')
	from shilian.correction c join shilian.ledger g on g.id = c.entry_id join shilian.ledger o on o.id = c.supersedes
	where c.kind = 'transformation' and c.record_id = $sauce_id}),
	'correct:transform:transformation:S-1>S-1A', 'its entry supersedes the transform entry; the rows before and after');
(undef, $err) = as(1, qq{select shilian.correct('transformation', $sauce_id, 'x', '{"inputs": {"370112000000000099": "1 kg"}}')});
like($err, qr/SLC07.*not an input of transformation/, 'a batch that is not an input: SLC07');
(undef, $err) = as(1, qq{select shilian.correct('transformation', $sauce_id, 'x', '{"inputs": {"$ta": "93 kg"}}')});
like($err, qr/SLC07.*holds 92 kg, less than 93 kg/, 'more of an input than it held: SLC07');
(undef, $err) = as(1, qq{select shilian.correct('transformation', $sauce_id, 'x', '{"produced_on": "2025-03-02"}')});
like($err, qr/SLC06/, 'the production day is not corrected this way: SLC06');
(undef, $err) = as(1, qq{select shilian.correct('transformation', (select id from shilian.batch where trace_code::text = '$ta'), 'x', '{"lot": "Z"}')});
like($err, qr/SLC08.*not the output of a transformation/, 'a produced lot is no transformation: SLC08');
(undef, $err) = as(1, qq{select shilian.correct('batch', $sauce_id, 'x', '{"lot": "Z"}')});
like($err, qr/SLC08.*kind "transformation"/s, 'the sauce as kind batch: SLC08 naming kind transformation');

# ---- the transformation retracted: blocked by a later record, then whole ------
($out, $err) = as(1, qq{select shilian.consume('$sauce', '1 pcs', 'sample_kept', '2025-03-06 10:00+08')});
my $c_late = $out;
(undef, $err) = as(1, qq{select shilian.retract('transformation', $sauce_id, '未生产')});
like($err, qr/SLC05.*has later records/, 'sauce consumed since: SLC05');
as(1, qq{select shilian.retract('consumption', $c_late, '误录')});
($out, $err) = as(1, qq{select shilian.retract('transformation', $sauce_id, '未生产')});
is($err, '', 'retract(transformation) once its output is untouched') or diag $err;
is_deeply([ left_of($ta), left_of($tb), left_of($sauce) ], [ '92 kg', '50 kg', '0 pcs' ],
	'every input gets back what went in; the sauce holds nothing');
is(q1(qq{select count(*) from shilian.trace_forward('$ta') where batch::text = '$sauce'}), '0', 'trace forward no longer reaches the sauce');
is(q1(qq{select count(*) from shilian.trace_backward('$sauce')}), '1', 'trace backward from the sauce: itself only');
is(q1(qq{select string_agg(status, ',') from shilian.link where from_batch in (select id from shilian.batch where lot like 'T-%')}),
	'retracted,retracted', 'the input links are retracted');
is(q1(qq{select jsonb_array_length(old -> 'inputs') || ':' || (new is null) from shilian.correction
	where kind = 'transformation' and record_id = $sauce_id and action = 'retract'}), '2:true',
	'the retraction keeps the transformation with its inputs as it was');
$now = same_as_rebuild('after the transformation retracted');
unlike($now, qr{1/2025-03-03}, 'the retracted transformation is no longer counted');
(undef, $err) = as(1, qq{select shilian.correct('transformation', $sauce_id, 'x', '{"lot": "Z"}')});
like($err, qr/SLC04/, 'a retracted transformation is not corrected: SLC04');
is(q1(q{select bool_and(ok) from shilian.chain_verify()}), 't', 'every chain verifies');
is(q1(q{select count(*) from shilian.ledger where kind in ('consume', 'transform')}), '4',
	'the original entries stay in the ledger');

# ---- EPCIS errorDeclaration of a destroying and of a transformation event -----------
my $ctx = '"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-03-10T09:00:00+08:00"';
my $doc = sub { return "{$ctx, \"epcisBody\": {\"eventList\": [" . join(',', @_) . ']}}' };
my $at = '"eventTimeZoneOffset": "+08:00", "bizLocation": {"id": "urn:shilian:operator:1"}';
my $commission = qq{{"eventID": "urn:uuid:e-1", "type": "ObjectEvent", "eventTime": "2025-03-10T07:00:00+08:00", $at,
	"action": "ADD", "bizStep": "commissioning",
	"quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.E-1", "quantity": 100, "uom": "KGM"}]}};
my $destroy = qq{{"eventID": "urn:uuid:e-2", "type": "ObjectEvent", "eventTime": "2025-03-10T08:00:00+08:00", $at,
	"action": "DELETE", "bizStep": "destroying",
	"quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.E-1", "quantity": 10, "uom": "KGM"}]}};
my $make = qq{{"eventID": "urn:uuid:e-3", "type": "TransformationEvent", "eventTime": "2025-03-10T09:00:00+08:00", $at,
	"inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.E-1", "quantity": 20, "uom": "KGM"}],
	"outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000002.ES-1", "quantity": 30, "uom": "EA"}]}};
($out, $err) = as(1, "select shilian.epcis_capture(\$j\$" . $doc->($commission, $destroy, $make) . "\$j\$)");
is($err, '', 'commissioning, destroying and a transformation captured') or diag $err;
my $e1 = q1(q{select trace_code from shilian.batch where lot = 'E-1'});
is(left_of($e1), '70 kg', 'E-1: 10 kg destroyed, 20 kg processed');
my $decl = sub {
	my ($ev) = @_;
	return $ev =~ s/"type"/"errorDeclaration": {"declarationTime": "2025-03-10T12:00:00+08:00", "reason": "incorrect_data"}, "type"/r;
};
($out, $err) = as(1, "select shilian.epcis_capture(\$j\$" . $doc->($decl->($destroy)) . "\$j\$)");
is($err, '', 'an errorDeclaration of the destroying event') or diag $err;
is(left_of($e1), '80 kg', 'its consumption is retracted: 10 kg back');
is(q1(q{select c.kind || '|' || (c.epcis ->> 'reason') || '|' || (c.epcis ->> 'eventID') from shilian.correction c
	where c.kind = 'consumption' and c.epcis is not null}), 'consumption|incorrect_data|urn:uuid:e-2',
	'the retraction keeps the declaration');
($out, $err) = as(1, "select shilian.epcis_capture(\$j\$" . $doc->($decl->($make)) . "\$j\$)");
is($err, '', 'an errorDeclaration of the transformation event') or diag $err;
is(left_of($e1), '100 kg', 'the transformation is retracted: its input whole again');
is(q1(q{select qty_left from shilian.batch where lot = 'ES-1'}), '0 pcs', 'its output holds nothing');
is(q1(q{select count(*) from shilian.correction where kind = 'transformation' and epcis ->> 'eventID' = 'urn:uuid:e-3'}), '1',
	'one transformation retraction, from the declaration');
same_as_rebuild('after the EPCIS declarations');

$node->stop;
done_testing();
