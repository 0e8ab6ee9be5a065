# Corrections (更正) and retractions (撤销), part 83 (issue 18): correct()
# and retract() of batches, sales and inspections leave the original entry in
# the ledger, append an entry that supersedes it, and bring balances, the
# recall's recipients, the counters (equal to a recount from the records)
# and the chain and Merkle proofs to the corrected state; who may do what;
# an EPCIS errorDeclaration retracts the records of the declared event.
# Every date is a fixed past day: nothing depends on today.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ShilianTest;

my $node = shilian_node('corrections');
$node->safe_psql('postgres', q{
	set client_min_messages = warning;
	select shilian.jurisdiction_add('370000', '山东省');
	select shilian.jurisdiction_add('370100', '济南市');
	select shilian.jurisdiction_add('370112', '历城区');
	select shilian.jurisdiction_add('370112001', '洪家楼所');
	select shilian.jurisdiction_add('370200', '青岛市');
	select shilian.jurisdiction_add('370202', '市南区');
	select shilian.jurisdiction_add('370202001', '八大峡所');
	select shilian.operator_register('绿源合作社', 'production', '{farm}', '370112001', 'x', '1',
		uscc => '93370112MA3D001010');
	select shilian.operator_activate(1);
	select shilian.operator_register('七里堡市场', 'circulation', '{market_vendor}', '370112001', 'y', '2', reg_card => 'M-1');
	select shilian.operator_activate(2);
	select shilian.operator_register('青岛商行', 'circulation', '{wholesaler}', '370202001', 'z', '3', reg_card => 'Q-1');
	select shilian.operator_activate(3);
	select shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017', edible_agricultural => true);
	select shilian.api_client_add('erp-b', 'B''s ERP');
	create role op_login login in role shilian_operator;
	create role reg_login login in role shilian_regulator;
	create role sys_login login in role shilian_system;
});

# psql as a role with its request settings; returns (stdout, stderr).
sub as
{
	my ($user, $settings, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$settings\n$sql",
		extra_params => [ '-U', $user ], on_error_stop => 1);
	return ($out, $err);
}
my $farm = "set shilian.operator_id = '1';";
my $market = "set shilian.operator_id = '2';";
sub q1 { return $node->safe_psql('postgres', shift) }

# the counters as a recount from the records gives them
sub counters
{
	return q1(q{select string_agg(format('%s/%s:%s,%s,%s,%s,%s', operator_id, day, records, batches, shipments,
		inspections, via_client), ' ' order by operator_id, day) from shilian.operator_day});
}
sub same_as_rebuild
{
	my ($name) = @_;
	my $live = counters();
	my $months = q1(q{select string_agg(format('%s/%s:%s', operator_id, month, records), ' ' order by operator_id, month) from shilian.operator_month});
	my $rollup = q1(q{select string_agg(format('%s/%s/%s:%s', station, segment, month, active_operators), ' ' order by station, segment, month) from shilian.station_month});
	q1(q{select shilian.operator_day_rebuild()});
	is(counters(), $live, "$name: operator_day equals a recount from the records");
	is(q1(q{select string_agg(format('%s/%s:%s', operator_id, month, records), ' ' order by operator_id, month) from shilian.operator_month}),
		$months, "$name: operator_month too");
	is(q1(q{select string_agg(format('%s/%s/%s:%s', station, segment, month, active_operators), ' ' order by station, segment, month) from shilian.station_month}),
		$rollup, "$name: and the rollup station_month");
	return $live;
}

# ---- the records ------------------------------------------------------------
my ($out, $err) = as('op_login', $farm, q{
	select shilian.batch_create(1, 1, '100 kg', '2025-03-02', 'L-A') \gset a_
	select shilian.batch_create(1, 1, '10 kg', '2025-03-02', 'L-B') \gset b_
	select shilian.ship(:'a_batch_create', 2, '30 kg', '2025-03-03');
	select shilian.ship(:'a_batch_create', 2, '20 kg', '2025-03-03');
	select shilian.inspect(:'a_batch_create', 'sampling', 'pass', '{"agency": "检测站", "report_no": "R-1"}', '2025-03-04 10:00+08');
});
is($err, '', 'records made') or diag $err;
($out, $err) = as('op_login', $market, q{select shilian.receive(2, '20 kg', '{"inspector": "王"}', '2025-03-04 09:00+08')});
is($err, '', 'the second sale received') or diag $err;
my $before = counters();
like($before, qr{^1/2025-03-02:2,2,0,0,0 1/2025-03-03:2,0,2,0,0 1/2025-03-04:1,0,0,1,0 2/2025-03-04:1,}, 'counters before');
my $entries_before = q1('select count(*) from shilian.ledger');
my $orig_a = q1(q{select id || ':' || encode(hash, 'hex') from shilian.ledger where kind = 'batch_create' and on_date = '2025-03-02' order by id limit 1});

# ---- correct a batch: the quantity, balance follows ---------------------------
($out, $err) = as('op_login', $farm, q{select shilian.correct('batch', 1, '称重录入错误', '{"qty": "120 kg"}')});
is($err, '', 'batch quantity corrected') or diag $err;
is(q1('select qty || ' . "'|'" . ' || qty_left from shilian.batch where id = 1'), '120 kg|70 kg', 'qty 120, on hand 70 (50 shipped)');
is(q1(q{select kind || ':' || (supersedes = split_part('} . $orig_a . q{', ':', 1)::bigint) || ':' || (shilian.ledger_body(body)->'old'->>'qty') || '>' || (shilian.ledger_body(body)->'new'->>'qty') from shilian.ledger order by id desc limit 1}),
	'correct:true:100 kg>120 kg', 'a correction entry supersedes the batch_create entry, with old and new values');
is(q1(q{select id || ':' || encode(hash, 'hex') from shilian.ledger where kind = 'batch_create' and on_date = '2025-03-02' order by id limit 1}),
	$orig_a, 'the original entry is untouched');
($out, $err) = as('op_login', $farm, q{select shilian.correct('batch', 1, 'x', '{"qty": "45 kg"}')});
like($err, qr/SLC07: batch \S+: 50 kg of it is already shipped/, 'below what was shipped: SLC07');
($out, $err) = as('op_login', $farm, q{select shilian.correct('batch', 1, 'x', '{"owner_id": 2}')});
like($err, qr/SLC06: field "owner_id" of a batch is not corrected this way/, 'a field not corrected: SLC06');
($out, $err) = as('op_login', $farm, q{select shilian.correct('batch', 1, '  ', '{"qty": "121 kg"}')});
like($err, qr/SLC03/, 'no reason: SLC03');
($out, $err) = as('op_login', $farm, q{select shilian.correct('lot', 1, 'x', '{}')});
like($err, qr/SLC01/, 'unknown kind: SLC01');

# the production date moves the count to the new day
($out, $err) = as('op_login', $farm, q{select shilian.correct('batch', 2, '日期写错', '{"produced_on": "2025-03-01"}')});
is($err, '', 'production date corrected') or diag $err;
like(counters(), qr{^1/2025-03-01:1,1,0,0,0 1/2025-03-02:1,1,0,0,0 }, 'the batch is counted on its corrected day');

# ---- a pending sale: corrected, then retracted --------------------------------
($out, $err) = as('op_login', $farm, q{select shilian.correct('link', 1, '少发了', '{"qty": "25 kg"}')});
is($err, '', 'pending sale quantity corrected') or diag $err;
is(q1('select qty_left from shilian.batch where id = 1'), '75 kg', 'seller on hand 75 kg');
is(q1(q{select qty from shilian.receipt_drafts(2)}), '25 kg', "the buyer's receipt draft shows the corrected quantity");
($out, $err) = as('reg_login', "set shilian.jurisdiction = '370112';", q{select shilian.correct('link', 1, 'x', '{"qty": "1 kg"}')});
like($err, qr/ERROR:\s+42501: permission denied for function correct/, 'a regulator does not correct: 42501');
($out, $err) = as('op_login', $market, q{select shilian.retract('link', 1, 'x')});
like($err, qr/SLC02: unknown record: no link has id 1/, "the buyer may not retract the seller's sale: SLC02");
($out, $err) = as('reg_login', "set shilian.jurisdiction = '370202';", q{select shilian.retract('link', 1, 'x')});
like($err, qr/SLC02/, 'a regulator elsewhere: SLC02');
($out, $err) = as('sys_login', "set shilian.client = 'erp-b';", q{select shilian.retract('batch', 2, 'x')});
like($err, qr/SLC02|42501/, 'an unbound system client: refused');
($out, $err) = as('op_login', $farm, q{select shilian.retract('link', 1, '订单取消')});
is($err, '', 'pending sale retracted') or diag $err;
is(q1('select status || ' . "'|'" . ' || (received_at is not null) from shilian.link where id = 1'), 'retracted|true', 'status retracted');
is(q1('select qty_left from shilian.batch where id = 1'), '100 kg', 'its quantity is back on hand');
is(q1(q{select count(*) from shilian.receipt_drafts(2)}), '0', 'no receipt draft any more');
($out, $err) = as('op_login', $farm, q{select shilian.retract('link', 1, 'again')});
like($err, qr/SLC04: link 1 is retracted/, 'retracted twice: SLC04');
($out, $err) = as('op_login', $farm, q{select shilian.retract('link', 2, 'x')});
like($err, qr/SLC05: sale 2 is received/, 'a received sale: SLC05');
($out, $err) = as('op_login', $market, q{select shilian.receive(1, '25 kg', '{"inspector": "王"}', '2025-03-05 09:00+08')});
like($err, qr/ERROR:\s+SLR13/, 'a retracted sale cannot be received') ;
like(counters(), qr{ 1/2025-03-03:1,0,1,0,0 }, 'one shipment counted on 2025-03-03');

# recall: the retracted sale is no recipient
($out, $err) = as('reg_login', "set role shilian_regulator; set shilian.jurisdiction = '370112';", q{
	select shilian.recall_open((select trace_code from shilian.batch where id = 1), '农残超标') \gset r_
	select shilian.recall_export(:r_recall_open);
});
is($err, '', 'recall opened') or diag $err;
like($out, qr/\n\d+,番茄 散装,120,kg,绿源合作社,x,1,,2025-03-03,L-A,,七里堡市场,120 kg,100 kg,0,\r\n/,
	'the recall shows the corrected quantity (120 kg) and, the retracted sale back on hand, 100 kg at the farm') or diag $out;
like($out, qr/\n\d+,番茄 散装,20,kg,七里堡市场,y,2,2025-03-04,,link 2,/, 'the received sale reached the market') or diag $out;
my $lines = () = $out =~ /\r\n/g;
is($lines, 3, 'a header and two lots: the retracted sale reaches nothing') or diag $out;

# ---- a received sale: retracted whole by whoever answers for both parties ---------
my $b_market = q1('select to_batch from shilian.link where id = 2');
my $fwd = q{select string_agg(batch::text, ',' order by batch::text) from shilian.trace_forward((select trace_code from shilian.batch where id = 1))};
like(q1($fwd), qr/,/, "before: the forward trace of the farm's lot reaches the market's lot");
($out, $err) = as('op_login', $market, qq{select shilian.retract('batch', $b_market, 'x')});
like($err, qr/SLC08: batch \S+ is received, not produced/, "the buyer's received batch is retracted through its sale: SLC08");
($out, $err) = as('reg_login', "set shilian.jurisdiction = '370112';", q{select shilian.retract('link', 2, '串货：记录错误 (the goods went elsewhere)')});
is($err, '', 'the regulator of both parties retracts the received sale') or diag $err;
is(q1('select status || ' . "'|'" . ' || (to_batch is null) || ' . "'|'" . ' || (qty_accepted is null) from shilian.link where id = 2'),
	'retracted|true|true', 'the sale is retracted, its receipt undone');
is(q1('select qty_left from shilian.batch where id = 1'), '120 kg', "the accepted 20 kg are back on the farm's lot");
is(q1("select qty_left from shilian.batch where id = $b_market"), '0 g', "the market's lot holds nothing");
is(q1($fwd), q1('select trace_code from shilian.batch where id = 1'), 'the forward trace no longer walks the retracted sale');
is(q1(qq{select string_agg(c.kind || ':' || c.operator_id || ':' || g.kind, ',' order by c.id) from shilian.correction c
	join shilian.ledger g on g.id = c.supersedes where c.kind in ('link', 'batch') and c.record_id in (2, $b_market) and c.action = 'retract'}),
	'link:1:ship,batch:2:receive', "two retractions in operator order: the seller's superseding its ship entry, the buyer's its receive entry");
like(counters(), qr{ 1/2025-03-03:0,0,0,0,0 | 1/2025-03-04}, 'no shipment of the farm is counted any more') ;
unlike(counters(), qr{^2/|\s2/}, "nor the market's receipt");

# ---- inspection: corrected ------------------------------------------------------
($out, $err) = as('op_login', $farm, q{select shilian.correct('inspection', 1, '结果录错', '{"result": "fail", "report": {"report_no": "R-1b"}}')});
is($err, '', 'inspection corrected') or diag $err;
is(q1(q{select result || ' ' || (report->>'report_no') || ' ' || (report->>'agency') from shilian.inspection where id = 1}), 'fail R-1b 检测站', 'result and report key replaced, other keys kept');
($out, $err) = as('op_login', $farm, q{select shilian.correct('inspection', 1, 'x', '{"report": {"agency": ""}}')});
like($err, qr/SLC07/, 'a report key emptied: SLC07');
($out, $err) = as('op_login', $farm, q{select shilian.retract('inspection', 1, 'x')});
like($err, qr/SLC08/, 'an inspection is not retracted: SLC08');
is(q1(q{select string_agg(action || ':' || (old->>'result') || '>' || (new->>'result'), ',') from shilian.corrections('inspection', 1)}),
	'correct:pass>fail', 'corrections() shows the original and the corrected values');

# ---- retract a batch ----------------------------------------------------------
($out, $err) = as('op_login', $farm, q{select shilian.retract('batch', 1, 'x')});
like($err, qr/SLC05: batch \S+ has later records/, 'a batch with later records: SLC05');
($out, $err) = as('reg_login', "set shilian.jurisdiction = '370112';", q{select shilian.retract('batch', 2, '虚假记录')});
is($err, '', 'the regulator of its jurisdiction retracts a batch') or diag $err;
is(q1('select qty_left from shilian.batch where id = 2'), '0 g', 'a retracted batch holds nothing');
($out, $err) = as('op_login', $farm, q{select shilian.ship((select trace_code from shilian.batch where id = 2), 2, '1 kg', '2025-03-05')});
like($err, qr/ERROR:\s+SLR05/, 'nothing ships from it');
($out, $err) = as('op_login', $farm, q{select shilian.correct('batch', 2, 'x', '{"lot": "y"}')});
like($err, qr/SLC04/, 'a retracted batch is not corrected: SLC04');
like(counters(), qr{^1/2025-03-02:1,1,0,0,0 }, 'the retracted batch is no longer counted');
is(q1(q{select string_agg(action || ':' || corrected_by, ',' order by correction) from shilian.corrections('batch', 2)}),
	'correct:op_login,retract:reg_login', 'both steps of batch 2 with who took them');

# ---- ledger ----------------------------------------------------------------------
is(q1(qq{select count(*) from shilian.ledger where id > 0 and kind in ('correct', 'retract')}), 8, 'eight correction entries appended');
cmp_ok(q1('select count(*) from shilian.ledger'), '>', $entries_before + 8, 'nothing removed');
is(q1(q{select bool_and(ok) and count(*) >= 2 from shilian.chain_verify()}), 't', 'every chain verifies');
is(q1(q{select count(*) from shilian.ledger g join shilian.correction c on c.entry_id = g.id
	where g.kind = c.action and g.supersedes is not distinct from c.supersedes and c.supersedes is not null}), '8',
	'each correction row names its entry and the entry it supersedes');
q1('select shilian.checkpoint()');
is(q1(q{select bool_and(shilian.verify_inclusion(shilian.inclusion_proof(x))) from
	(select c.entry_id from shilian.correction c union all select c.supersedes from shilian.correction c) s(x)}),
	't', 'inclusion proofs of the corrections and of the originals verify');

# ---- counters equal a recount -------------------------------------------------------
same_as_rebuild('after corrections');

# ---- EPCIS errorDeclaration ----------------------------------------------------------
my $ev = q{{"eventID": "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-0000000000c1", "type": "ObjectEvent",
	"eventTime": "2025-03-06T07:00:00.000+08:00", "eventTimeZoneOffset": "+08:00", "action": "ADD",
	"bizStep": "commissioning", "disposition": "active",
	"quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.FQ-0306", "quantity": 50, "uom": "KGM"}],
	"bizLocation": {"id": "urn:shilian:operator:1"}}};
(my $decl = $ev) =~ s/"bizLocation"/"errorDeclaration": {"declarationTime": "2025-03-06T09:00:00.000+08:00", "reason": "incorrect_data", "correctiveEventIDs": ["urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-0000000000c2"]}, "bizLocation"/;
(my $fix = $ev) =~ s/0000000000c1/0000000000c2/;
$fix =~ s/"quantity": 50/"quantity": 5/;
my $doc = sub { return '{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-03-06T09:00:00+08:00", "epcisBody": {"eventList": [' . join(',', @_) . ']}}' };
($out, $err) = as('op_login', $farm, "select shilian.epcis_capture(\$j\$" . $doc->($ev) . "\$j\$)");
is($err, '', 'commissioning captured') or diag $err;
my $cb = q1(q{select id from shilian.batch where lot = 'FQ-0306'});
($out, $err) = as('op_login', $farm, "select shilian.epcis_capture(\$j\$" . $doc->($decl, $fix) . "\$j\$)");
is($err, '', 'error declaration with its corrective event captured') or diag $err;
is(q1(qq{select action || '|' || (epcis->>'reason') || '|' || (reason ~ '0000000000c2') from shilian.correction where kind = 'batch' and record_id = $cb}),
	'retract|incorrect_data|true', "the declared event's batch is retracted, naming the corrective event");
is(q1(q{select string_agg(qty::text || '/' || qty_left::text, ',' order by id) from shilian.batch where lot = 'FQ-0306'}),
	'50 kg/0 g,5 kg/5 kg', 'the corrective event made the corrected batch');
($out, $err) = as('op_login', $farm, "select shilian.epcis_capture(\$j\$" . $doc->($decl, $fix) . "\$j\$)");
is($err, '', 'the same document resent: no error') or diag $err;
is(q1(qq{select array_to_string(already_captured, ',') from shilian.epcis_capture_job where id = (select max(id) from shilian.epcis_capture_job)}),
	'urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-0000000000c1,urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-0000000000c2',
	'both events reported as captured before');
is(q1(qq{select count(*) from shilian.correction where kind = 'batch' and record_id = $cb}) . ' '
	. q1(q{select count(*) from shilian.batch where lot = 'FQ-0306'}), '1 2',
	'a resent declaration retracts nothing again and the corrective event makes no second batch');
($out, $err) = as('op_login', $farm, "select shilian.epcis_capture(\$j\$" . $doc->($decl =~ s/0000000000c1/0000000000c9/r) . "\$j\$)");
like($err, qr/SLC10: EPCIS event 0: errorDeclaration for an unknown eventID/, 'declaring an unknown event: SLC10');
same_as_rebuild('after EPCIS');

done_testing();
