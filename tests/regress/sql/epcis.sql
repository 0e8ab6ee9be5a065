-- epcis: GS1 EPCIS 2.0 capture and query (epcis_capture, epcis_events,
-- docs/integration.md "EPCIS 2.0"). Runs in a database of its own so that
-- the records it makes do not shift the ids the other files expect.
-- The four documents under tests/epcis/ make a chain (commissioning,
-- shipping, receiving, transformation) that the trace walks; each bad
-- document is refused with its SQLSTATE, names the event and field, and
-- leaves nothing behind.

SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE shilian_epcis_test;
\c shilian_epcis_test
SET client_min_messages = warning;
CREATE EXTENSION shilian;
SET timezone = 'Asia/Shanghai';
SET datestyle = ISO, YMD;
SET search_path = public, shilian;
\set VERBOSITY default
\set SHOW_CONTEXT never

\set d1 `cat tests/epcis/01_commissioning.jsonld`
\set d2 `cat tests/epcis/02_shipping.jsonld`
\set d3 `cat tests/epcis/03_receiving.jsonld`
\set d4 `cat tests/epcis/04_transformation.jsonld`

-- What capture may write: equal before and after means nothing written.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
	SELECT concat_ws(' ',
		(SELECT count(*) FROM shilian.batch), (SELECT count(*) FROM shilian.link),
		(SELECT count(*) FROM shilian.inspection), (SELECT count(*) FROM shilian.consumption),
		(SELECT count(*) FROM shilian.ledger), (SELECT count(*) FROM shilian.epcis_event),
		(SELECT count(*) FROM shilian.epcis_capture_job),
		(SELECT md5(string_agg(concat_ws(',', id, qty_left), ';' ORDER BY id)) FROM shilian.batch))
$$;
GRANT EXECUTE ON FUNCTION pg_temp.state() TO PUBLIC;
-- the eventIDs of a query document, in order
CREATE FUNCTION pg_temp.ids(d jsonb) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_path_query_array(d, '$.epcisBody.queryResults.resultsBody.eventList[*].eventID')
$$;
-- a document's first event with another eventID (so that it is not a repeat)
CREATE FUNCTION pg_temp.fresh(d jsonb, id text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_set(d, '{epcisBody,eventList,0,eventID}', to_jsonb('urn:uuid:' || id))
$$;

-- the registry: farm (1) and processor (2) at a Licheng station
SELECT shilian.jurisdiction_add(c, n) FROM (VALUES ('370000', '山东省'), ('370100', '济南市'),
	('370112', '历城区'), ('370112001', '洪家楼所'), ('370200', '青岛市'), ('370202', '市南区'),
	('370202001', '八大关所')) v(c, n);
SELECT shilian.operator_register('历城绿源蔬菜专业合作社', 'production', '{farm}', '370112001',
	'济南市历城区港沟街道', '0531-88100101', uscc => '93370112MA3D001010') AS farm;
SELECT shilian.operator_register('济南鲁味食品有限公司', 'production', '{processor}', '370112001',
	'济南市历城区工业北路8号', '0531-88100104', reg_card => 'LC-0002') AS processor;
SELECT shilian.operator_register('市南海鲜小馆', 'catering', '{restaurant}', '370202001',
	'青岛市市南区大学路7号', '13800100112', reg_card => 'XC370202-0112') AS restaurant;
SELECT shilian.operator_activate(id) FROM shilian.operator ORDER BY id;
SELECT shilian.product_register('番茄', 'vegetables', 15, '散装', gtin => '6970000000017',
	edible_agricultural => true) AS tomatoes;
SELECT shilian.product_register('番茄酱', 'other', 365, '500g/瓶', gtin => '6970000000024', owner => 2) AS sauce;

-- ---- vocabulary and identifiers ---------------------------------------------------
-- CBV terms in their three spellings; misspelt ones are NULL
SELECT t, shilian.epcis_cbv('bizStep', t) FROM unnest(ARRAY['shipping',
	'https://ref.gs1.org/cbv/BizStep-receiving', 'urn:epcglobal:cbv:bizstep:void_shipping', 'shiping',
	'https://ref.gs1.org/cbv/Disp-in_transit', 'urn:epcglobal:cbv:bizstep:Shipping']) t;
SELECT shilian.epcis_cbv('disposition', 'in_transit'), shilian.epcis_cbv('disposition', 'urn:epcglobal:cbv:disp:non_conformant'),
	shilian.epcis_cbv('sourceDestType', 'https://ref.gs1.org/cbv/SDT-owning_party'),
	shilian.epcis_cbv('sourceDestType', 'owner');
SELECT u, shilian.epcis_uom_unit(u) FROM unnest(ARRAY['KGM', 'GRM', 'TNE', 'LTR', 'MLT', 'H87', 'EA', 'C62', 'KGS', 'kgm']) u;
-- an LGTIN and a Digital Link name the same GTIN-14 and lot
SELECT * FROM shilian.epcis_class_parse('urn:epc:class:lgtin:6970000.000001.FQ-1120');
SELECT * FROM shilian.epcis_class_parse('https://id.gs1.org/01/06970000000017/10/FQ-1120');
SELECT shilian.epcis_class_keys('urn:epc:class:lgtin:6970000.000001.FQ-1120'),
	shilian.epcis_class_keys('https://id.gs1.org/01/6970000000017'),
	shilian.epcis_class_keys('urn:example:other');
-- malformed: 22P02 (company prefix + item reference not 13 digits; bad check digit)
SELECT * FROM shilian.epcis_class_parse('urn:epc:class:lgtin:6970000.0001.FQ');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM shilian.epcis_class_parse('https://id.gs1.org/01/06970000000018/10/FQ');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_party('urn:shilian:operator:2'), shilian.epcis_party('urn:shilian:uscc:93370112MA3D001010'),
	shilian.epcis_party('urn:example:somewhere');
-- a GLN/PGLN/SGLN resolves through GS1 master data (gs1_location, below): unknown, refused naming it
SELECT shilian.epcis_party('urn:epc:id:sgln:0614141.07346.1234');
\echo :LAST_ERROR_SQLSTATE
-- an operator that does not exist: SLE04
SELECT shilian.epcis_party('urn:shilian:operator:99');
\echo :LAST_ERROR_SQLSTATE

-- capture sets shilian.channel to epcis for its records, and only for them:
-- a trigger notes the channel of every batch as it is written
SELECT proname, proconfig FROM pg_proc WHERE proname = 'epcis_capture';
CREATE TABLE public.batch_channel (trace_code text, channel text);
GRANT INSERT ON public.batch_channel TO PUBLIC;
CREATE FUNCTION public.note_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.batch_channel VALUES (NEW.trace_code::text, current_setting('shilian.channel'));
	RETURN NEW;
END
$$;
CREATE TRIGGER note_channel AFTER INSERT ON shilian.batch FOR EACH ROW EXECUTE FUNCTION public.note_channel();

-- ---- the round trip: four documents, each by the operator it concerns ------------
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '1', false);
SELECT shilian.epcis_capture(:'d1') AS job1;
SELECT shilian.epcis_capture(:'d2') AS job2;
SELECT current_setting('shilian.channel') = '' AS channel_restored;
SELECT set_config('shilian.operator_id', '2', false);
SELECT shilian.epcis_capture(:'d3') AS job3;
SELECT shilian.epcis_capture(:'d4') AS job4;
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);

-- every batch so far was made through EPCIS; a direct call is not
SELECT trace_code, channel FROM public.batch_channel ORDER BY trace_code;
-- what each event made
SELECT e.event_index, e.type, e.action, e.biz_step, e.disposition, e.parties, e.records, e.event_time
  FROM shilian.epcis_event e ORDER BY e.id;
SELECT b.id, b.owner_id, p.name, b.lot, b.qty, b.qty_left, b.produced_on, b.expires_on, b.origin
  FROM shilian.batch b JOIN shilian.product p ON p.id = b.product_id ORDER BY b.id;
SELECT id, kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted, status FROM shilian.link ORDER BY id;
SELECT batch_id, kind, result, report FROM shilian.inspection ORDER BY id;
-- the trace across them: the farm's lot reached the processor's and the sauce
SELECT t.depth, b.owner_id, p.name, t.qty_reached
  FROM shilian.trace_forward((SELECT trace_code FROM shilian.batch WHERE id = 1)) t
  JOIN shilian.batch b ON b.trace_code = t.batch JOIN shilian.product p ON p.id = b.product_id
 ORDER BY t.depth, b.id;
SELECT t.depth, b.owner_id, p.name
  FROM shilian.trace_backward((SELECT trace_code FROM shilian.batch WHERE id = 3)) t
  JOIN shilian.batch b ON b.trace_code = t.batch JOIN shilian.product p ON p.id = b.product_id
 ORDER BY t.depth, b.id;
SELECT jsonb_pretty(shilian.epcis_capture_status(1) - 'createdAt' - 'finishedAt');

-- ---- query ---------------------------------------------------------------------
-- all four, in eventTime order, as an EPCISQueryDocument
SELECT d ->> 'type' AS type, d ->> 'schemaVersion' AS version, d -> '@context' ->> 0 AS context,
	d #>> '{epcisBody,queryResults,queryName}' AS query,
	pg_temp.ids(d) AS ids,
	d ? 'shilian:nextPageToken' AS more
  FROM shilian.epcis_events() d;
-- every returned event keeps its required fields and gets a recordTime
SELECT e ->> 'type', e ? 'eventTime' AND e ? 'eventTimeZoneOffset' AND e ? 'recordTime' AS required,
	e ->> 'action', e ->> 'bizStep'
  FROM shilian.epcis_events() d, jsonb_array_elements(d #> '{epcisBody,queryResults,resultsBody,eventList}') e;
-- filters: time window, bizStep in any spelling, class with and without lot
SELECT pg_temp.ids(shilian.epcis_events(ge_event_time => '2026-11-21 00:00+08',
	lt_event_time => '2026-11-22 00:00+08')) AS day_21;
SELECT pg_temp.ids(shilian.epcis_events(eq_biz_step => ARRAY['urn:epcglobal:cbv:bizstep:shipping', 'receiving'])) AS ship_or_receive;
SELECT pg_temp.ids(shilian.epcis_events(match_epc_class => ARRAY['https://id.gs1.org/01/06970000000017'])) AS tomatoes_any_lot;
SELECT pg_temp.ids(shilian.epcis_events(match_epc_class => ARRAY['urn:epc:class:lgtin:6970000.000002.FQJ-1122'])) AS sauce_in_quantitylist;
SELECT pg_temp.ids(shilian.epcis_events(match_any_epc_class => ARRAY['urn:epc:class:lgtin:6970000.000002.FQJ-1122'])) AS sauce_anywhere;
-- pages of three: the token leads to the fourth, the last page has none
SELECT d ->> 'shilian:nextPageToken' AS token FROM shilian.epcis_events(per_page => 3) d \gset
SELECT pg_temp.ids(shilian.epcis_events(per_page => 3)) AS page1;
SELECT pg_temp.ids(d) AS page2, d ? 'shilian:nextPageToken' AS more
  FROM shilian.epcis_events(per_page => 3, next_page_token => :'token') d;
-- what each operator may see: its own records' events (the farm: not the sauce)
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '1', false);
SELECT pg_temp.ids(shilian.epcis_events()) AS farm_sees;
SELECT count(*) AS farm_jobs FROM shilian.epcis_capture_job;
SELECT set_config('shilian.operator_id', '3', false);
SELECT pg_temp.ids(shilian.epcis_events()) AS restaurant_sees;
SELECT shilian.epcis_capture_status(1) IS NULL AS others_job_hidden;
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);
SET ROLE shilian_regulator;
SELECT set_config('shilian.jurisdiction', '370202', false);
SELECT pg_temp.ids(shilian.epcis_events()) AS qingdao_sees;
SELECT set_config('shilian.jurisdiction', '370112', false);
SELECT jsonb_array_length(shilian.epcis_events() #> '{epcisBody,queryResults,resultsBody,eventList}') AS licheng_sees;
RESET ROLE;
SELECT set_config('shilian.jurisdiction', '', false);
-- bad query parameters: 22023
SELECT shilian.epcis_events(per_page => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_events(eq_biz_step => ARRAY['shiping']);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_events(next_page_token => 'zz');
\echo :LAST_ERROR_SQLSTATE

-- ---- more mappings: inspecting, destroying, retail_selling ------------------------
SELECT shilian.epcis_capture(jsonb_set(:'d1'::jsonb, '{epcisBody,eventList}', $$[
	{"eventID": "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000005", "type": "ObjectEvent", "action": "OBSERVE",
	 "bizStep": "inspecting", "disposition": "conformant", "eventTime": "2026-11-22T16:00:00+08:00",
	 "eventTimeZoneOffset": "+08:00", "bizLocation": {"id": "urn:shilian:operator:2"},
	 "quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000002.FQJ-1122", "quantity": 2, "uom": "H87"}],
	 "shilian:report": {"certificate_no": "LW-QC-1122", "inspector": "周九"}},
	{"eventID": "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000006", "type": "ObjectEvent", "action": "OBSERVE",
	 "bizStep": "destroying", "disposition": "destroyed", "eventTime": "2026-11-22T17:00:00+08:00",
	 "eventTimeZoneOffset": "+08:00", "bizLocation": {"id": "urn:shilian:operator:2"},
	 "quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.FQ-1120", "quantity": 20, "uom": "KGM"}]},
	{"eventID": "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000007", "type": "ObjectEvent", "action": "OBSERVE",
	 "bizStep": "retail_selling", "eventTime": "2026-11-22T18:00:00+08:00",
	 "eventTimeZoneOffset": "+08:00", "bizLocation": {"id": "urn:shilian:operator:1"},
	 "quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.FQ-1120", "quantity": 500, "uom": "GRM"}]}
	]$$::jsonb)) AS job5;
SELECT event_index, biz_step, records FROM shilian.epcis_event WHERE job_id = 5 ORDER BY event_index;
SELECT batch_id, kind, result FROM shilian.inspection ORDER BY id DESC LIMIT 1;
SELECT batch_id, operator_id, qty, kind, note FROM shilian.consumption ORDER BY id;
SELECT shilian.batch_create(1, 1, '1 kg', '2026-11-20', 'DIRECT-1') AS direct_batch;
SELECT b.lot, c.channel FROM public.batch_channel c JOIN shilian.batch b ON b.trace_code::text = c.trace_code
 WHERE b.lot = 'DIRECT-1';

-- ---- refusals: each names the event and field, and writes nothing --------------------
SELECT pg_temp.state() AS before \gset
-- the document: required fields
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-101') - '@context');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-102'), '{type}', '"EPCISQueryDocument"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-103') - 'schemaVersion');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-104') - 'creationDate');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-105') #- '{epcisBody,eventList}');
\echo :LAST_ERROR_SQLSTATE
-- an event: required fields
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-106') #- '{epcisBody,eventList,0,eventTime}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-107') #- '{epcisBody,eventList,0,eventTimeZoneOffset}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-108') #- '{epcisBody,eventList,0,action}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(pg_temp.fresh(:'d1'::jsonb, 'r-109') #- '{epcisBody,eventList,0,type}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-110'), '{epcisBody,eventList,0,eventTimeZoneOffset}', '"+8"'));
\echo :LAST_ERROR_SQLSTATE
-- dates out of range, in eventTime and in the ilmd
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-130'), '{epcisBody,eventList,0,eventTime}', '"2026-13-45T07:00:00+08:00"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-131'), '{epcisBody,eventList,0,ilmd,cbvmda:itemExpirationDate}', '"2026-02-30"'));
\echo :LAST_ERROR_SQLSTATE
-- vocabulary: a misspelt bizStep or disposition, an unknown action or source type
SELECT shilian.epcis_capture(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,bizStep}', '"shiping"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,disposition}', '"urn:epcglobal:cbv:disp:in_transport"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-111'), '{epcisBody,eventList,0,action}', '"CREATE"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:x-9"'),
	'{epcisBody,eventList,0,destinationList,0,type}', '"buyer"'));
\echo :LAST_ERROR_SQLSTATE
-- units and identifiers: an unknown uom, an unknown GTIN, a class without lot, an unknown party
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-112'), '{epcisBody,eventList,0,quantityList,0,uom}', '"KGS"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-113'), '{epcisBody,eventList,0,quantityList,0,epcClass}',
	'"urn:epc:class:lgtin:6970000.000003.X1"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-114'), '{epcisBody,eventList,0,quantityList,0,epcClass}',
	'"https://id.gs1.org/01/06970000000017"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-115'), '{epcisBody,eventList,0,bizLocation,id}', '"urn:shilian:operator:99"'));
\echo :LAST_ERROR_SQLSTATE
-- another event under a captured eventID (here another quantity): 23505 naming the job that captured it
SELECT shilian.epcis_capture(jsonb_set(:'d1'::jsonb, '{epcisBody,eventList,0,quantityList,0,quantity}', '1999'));
\echo :LAST_ERROR_SQLSTATE
-- refused: shipping by epcList a serialised item never commissioned (SLE30; items
-- commissioned, tests/gateway/043_epcis_serial.pl, are shipped and received by
-- serial, 048_epcis_items_followed.pl; an SSCC by epcList, 044_epcis_aggregation.pl),
-- an AggregationEvent without its parentID (the logistic unit), shipping without a buyer
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d2'::jsonb, 'r-116'), '{epcisBody,eventList,0,epcList}', '["urn:epc:id:sgtin:6970000.000001.1"]'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-117'), '{epcisBody,eventList,0,type}', '"AggregationEvent"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:x-10"') #- '{epcisBody,eventList,0,destinationList}');
\echo :LAST_ERROR_SQLSTATE
-- no pending shipment to receive; a record function's own refusal (more than the lot has)
SELECT shilian.epcis_capture(jsonb_set(:'d3'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:x-11"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:x-12"'),
	'{epcisBody,eventList,0,quantityList,0,quantity}', '5000'));
\echo :LAST_ERROR_SQLSTATE
-- all or nothing: a good event before a bad one is not kept
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-118'), '{epcisBody,eventList}',
	jsonb_build_array(jsonb_set(:'d1'::jsonb #> '{epcisBody,eventList,0}', '{eventID}', '"urn:uuid:x-13"'),
		jsonb_set(:'d1'::jsonb #> '{epcisBody,eventList,0}', '{bizStep}', '"comissioning"'))));
\echo :LAST_ERROR_SQLSTATE
-- an operator capturing for another one: 42501
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '2', false);
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-119'), '{epcisBody,eventList,0,eventID}', '"urn:uuid:x-14"'));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);
SELECT pg_temp.state() = :'before' AS nothing_written;

-- ---- event identity: GS1's event hash ID (CBV 2.0 section 8.9) ----------------------
-- a published example of the reference implementation (tests/data/epcis-hash/
-- epcisDocWithSingleEvent.jsonld): its pre-hash string and hash, from jsonb
\set single `cat tests/data/epcis-hash/epcisDocWithSingleEvent.jsonld`
SELECT shilian.epcis_event_prehash(:'single'::jsonb #> '{epcisBody,eventList,0}', :'single'::jsonb -> '@context');
SELECT shilian.epcis_event_hash(:'single'::jsonb #> '{epcisBody,eventList,0}', :'single'::jsonb -> '@context')
	= 'ni:///sha-256;ffa491b16867e34a7791a8d5389d826afc24e63a121026b6a4004ace38631b4b?ver=CBV2.0' AS published_hash;
-- the same event written otherwise (URN vocabulary, EPC URIs as Digital Link,
-- eventTime in UTC, members in another order, an eventID) has the same hash
SELECT shilian.epcis_event_hash(jsonb_build_object('eventID', 'urn:uuid:x', 'type', 'ObjectEvent',
		'eventTime', '2022-02-17T02:33:31.116Z', 'eventTimeZoneOffset', '-06:00', 'action', 'OBSERVE',
		'bizStep', 'urn:epcglobal:cbv:bizstep:shipping', 'disposition', 'https://ref.gs1.org/cbv/Disp-in_transit',
		'epcList', jsonb_build_array('https://id.gs1.org/01/10614141073464/21/2018', 'urn:epc:id:sgtin:0614141.107346.2017'),
		'readPoint', jsonb_build_object('id', 'https://id.gs1.org/414/0614141073467/254/1234'),
		'bizTransactionList', jsonb_build_array(jsonb_build_object('bizTransaction', 'http://transaction.acme.com/po/12345678',
			'type', 'urn:epcglobal:cbv:btt:po'))))
	= shilian.epcis_event_hash(:'single'::jsonb #> '{epcisBody,eventList,0}', :'single'::jsonb -> '@context') AS same_event_same_hash;
SELECT shilian.epcis_event_hash(:'single'::jsonb #> '{epcisBody,eventList,0}' || '{"disposition": "in_progress"}', :'single'::jsonb -> '@context')
	<> shilian.epcis_event_hash(:'single'::jsonb #> '{epcisBody,eventList,0}', :'single'::jsonb -> '@context') AS changed_event_other_hash;
-- the example of docs/integration.md (numbers without trailing zeros, the time in UTC)
SELECT shilian.epcis_event_prehash('{"type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
  "eventTime": "2026-11-20T07:00:00+08:00", "eventTimeZoneOffset": "+08:00",
  "quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.FQ-1120", "quantity": 2000.0, "uom": "KGM"}]}');
SELECT shilian.epcis_event_hash('[1]'::jsonb);
\echo :LAST_ERROR_SQLSTATE

SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '1', false);
-- a resent document: success, nothing recorded again, its events reported as captured before
SELECT shilian.epcis_capture(:'d1') AS resent \gset
SELECT jsonb_pretty(shilian.epcis_capture_status(:resent) - 'createdAt' - 'finishedAt' - 'captureID');
-- events without an eventID are named by their hash; sending them again records nothing new
\set noid `cat tests/epcis/01_commissioning.jsonld`
SELECT jsonb_set(:'noid'::jsonb #- '{epcisBody,eventList,0,eventID}', '{epcisBody,eventList,0,quantityList,0,epcClass}',
	'"urn:epc:class:lgtin:6970000.000001.HASH-1"') AS noid \gset
SELECT jsonb_set(:'noid'::jsonb, '{epcisBody,eventList,1}', :'noid'::jsonb #> '{epcisBody,eventList,0}'
	|| '{"quantityList": [{"epcClass": "urn:epc:class:lgtin:6970000.000001.HASH-2", "quantity": 5, "uom": "KGM"}]}') AS noid \gset
SELECT count(*) AS batches_before FROM shilian.batch \gset
SELECT shilian.epcis_capture(:'noid') AS first_send \gset
SELECT count(*) - :batches_before AS new_batches FROM shilian.batch;
SELECT event_index, event_id = shilian.epcis_event_hash(event - 'eventID', :'noid'::jsonb -> '@context') AS named_by_hash,
	event_id LIKE 'ni:///sha-256;%?ver=CBV2.0' AS ni_uri
  FROM shilian.epcis_event WHERE job_id = :first_send ORDER BY event_index;
SELECT shilian.epcis_capture(:'noid') AS second_send \gset
SELECT count(*) - :batches_before AS new_batches_after_resend FROM shilian.batch;
SELECT (shilian.epcis_capture_status(:second_send) -> 'events')::int AS events,
	jsonb_array_length(shilian.epcis_capture_status(:second_send) -> 'shilian:alreadyCaptured') AS already_captured;
-- one event of them again beside a new one: only the new one is recorded
SELECT shilian.epcis_capture(jsonb_set(:'noid'::jsonb, '{epcisBody,eventList,1,quantityList,0,epcClass}',
	'"urn:epc:class:lgtin:6970000.000001.HASH-3"')) AS third_send \gset
SELECT count(*) - :batches_before AS new_batches_after_third FROM shilian.batch;
SELECT (shilian.epcis_capture_status(:third_send) -> 'events')::int AS events,
	jsonb_array_length(shilian.epcis_capture_status(:third_send) -> 'shilian:alreadyCaptured') AS already_captured;
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);

-- epcis_capture_submit (POST /epcis/capture) keeps a refused document as a failed job
SELECT body - 'captureID' AS body, location, error_sqlstate
  FROM shilian.epcis_capture_submit(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,bizStep}', '"shiping"'));
SELECT jsonb_pretty(shilian.epcis_capture_status(max(id)) - 'createdAt' - 'finishedAt') FROM shilian.epcis_capture_job;
SELECT count(*) AS events_of_failed_jobs FROM shilian.epcis_event e JOIN shilian.epcis_capture_job j ON j.id = e.job_id
 WHERE NOT j.success;

-- strict forms (strict_timestamptz, strict_date), refused like the dates out of
-- range above: an eventTime without its offset or its seconds, a creationDate
-- without its offset, an ilmd date not in YYYY-MM-DD
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-132'), '{epcisBody,eventList,0,eventTime}', '"2026-11-20T07:00:00"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-133'), '{epcisBody,eventList,0,eventTime}', '"2026-11-20T07:00+08:00"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-134'), '{creationDate}', '"2026-11-20 07:30:00"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(pg_temp.fresh(:'d1'::jsonb, 'r-135'), '{epcisBody,eventList,0,ilmd,cbvmda:itemExpirationDate}', '"2026-12-5"'));
\echo :LAST_ERROR_SQLSTATE

-- an extension disposition (a URI outside the CBV) is kept as written; an extension
-- bizStep too, refused only because no record maps to it; a misspelt CBV URI stays unknown
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '1', false);
SELECT shilian.epcis_capture(jsonb_set(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:ext-1"'),
	'{epcisBody,eventList,0,disposition}', '"https://example.com/disp/washed"')) AS ext_job \gset
SELECT biz_step, disposition, event ->> 'disposition' AS as_written FROM shilian.epcis_event WHERE job_id = :ext_job;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_disposition": "https://example.com/disp/washed"}')) AS by_extension_disposition;
SELECT shilian.epcis_capture(jsonb_set(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:ext-2"'),
	'{epcisBody,eventList,0,bizStep}', '"https://example.com/bizstep/washing"'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_capture(jsonb_set(jsonb_set(:'d2'::jsonb, '{epcisBody,eventList,0,eventID}', '"urn:uuid:ext-3"'),
	'{epcisBody,eventList,0,bizStep}', '"https://ref.gs1.org/cbv/BizStep-shiping"'));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);

-- ---- GS1 master data: GLN/PGLN for an operator, SGLNs for its sites ----------------
SELECT shilian.gs1_location_uri('6970000000017') AS gln, shilian.gs1_location_uri('urn:epc:id:sgln:6970000.00001.field-3') AS sgln,
	shilian.gs1_location_uri('https://example.com/414/6970000000024') AS dl_gln;
SELECT shilian.gs1_location_uri('6970000000014');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.gs1_location_uri('urn:epc:id:sgtin:6970000.000001.1');
\echo :LAST_ERROR_SQLSTATE
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '1', false);
-- the farm registers its PGLN and its field; not the processor's
SELECT shilian.gs1_location_register(1, '6970000000017', '历城绿源蔬菜专业合作社') AS farm_pgln;
SELECT shilian.gs1_location_register(1, 'urn:epc:id:sgln:6970000.00001.field-3', '3号地块') AS farm_field;
SELECT shilian.gs1_location_register(1, 'https://id.gs1.org/414/6970000000017', '农场') AS farm_site;
SELECT shilian.gs1_location_register(2, 'urn:epc:id:pgln:6970000.00002');
\echo :LAST_ERROR_SQLSTATE
SELECT set_config('shilian.operator_id', '2', false);
SELECT shilian.gs1_location_register(2, 'urn:epc:id:pgln:6970000.00002', '济南鲁味食品有限公司') AS processor_pgln;
SELECT shilian.gs1_location_register(2, '6970000000017');
\echo :LAST_ERROR_SQLSTATE
SELECT operator_id, kind, uri, name FROM shilian.gs1_location ORDER BY id;
SELECT set_config('shilian.operator_id', '1', false);
SELECT operator_id, kind, uri FROM shilian.gs1_location ORDER BY id;
-- a standard shipping event: GS1 parties and locations, no eventID, no proprietary field
SELECT shilian.epcis_capture(jsonb_build_object('@context', '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'::jsonb,
	'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-11-22T09:00:00+08:00',
	'epcisBody', jsonb_build_object('eventList', jsonb_build_array(jsonb_build_object(
		'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'shipping', 'disposition', 'in_transit',
		'eventTime', '2026-11-22T08:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
		'readPoint', jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00001.field-3'),
		'bizLocation', jsonb_build_object('id', 'https://id.gs1.org/414/6970000000017'),
		'quantityList', jsonb_build_array(jsonb_build_object('epcClass', 'urn:epc:class:lgtin:6970000.000001.FQ-1120',
			'quantity', 10, 'uom', 'KGM')),
		'sourceList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'source', 'urn:epc:id:pgln:6970000.00001')),
		'destinationList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'destination', 'urn:epc:id:pgln:6970000.00002'))))))) AS gs1_job \gset
SELECT e.event_id LIKE 'ni:///sha-256;%' AS hash_named, e.parties, l.seller_id, l.buyer_id, l.qty_shipped
  FROM shilian.epcis_event e JOIN shilian.link l ON l.id = (e.records -> 'links' ->> 0)::bigint WHERE e.job_id = :gs1_job;
-- an unknown GLN: refused, naming it
SELECT shilian.epcis_capture(jsonb_build_object('@context', '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'::jsonb,
	'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-11-22T09:00:00+08:00',
	'epcisBody', jsonb_build_object('eventList', jsonb_build_array(jsonb_build_object(
		'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'shipping', 'disposition', 'in_transit',
		'eventTime', '2026-11-22T08:30:00+08:00', 'eventTimeZoneOffset', '+08:00',
		'bizLocation', jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00001.field-3'),
		'quantityList', jsonb_build_array(jsonb_build_object('epcClass', 'urn:epc:class:lgtin:6970000.000001.FQ-1120',
			'quantity', 10, 'uom', 'KGM')),
		'destinationList', jsonb_build_array(jsonb_build_object('type', 'owning_party', 'destination', 'urn:epc:id:pgln:6970000.00009')))))));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);

-- GLNs registered by the document's own master data (epcisHeader.epcisMasterData), then named by its event
SET ROLE shilian_operator;
SELECT set_config('shilian.operator_id', '2', false);
SELECT shilian.epcis_capture(jsonb_build_object('@context', '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'::jsonb,
	'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-11-23T09:00:00+08:00',
	'epcisHeader', jsonb_build_object('epcisMasterData', jsonb_build_object('vocabularyList', jsonb_build_array(
		jsonb_build_object('type', 'urn:epcglobal:epcis:vtype:BusinessLocation', 'vocabularyElementList', jsonb_build_array(
			jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00002.wh-1',
				'attributes', jsonb_build_array(jsonb_build_object('id', 'urn:epcglobal:cbv:mda#name', 'attribute', '原料仓'))),
			jsonb_build_object('id', 'urn:example:not-a-gln')))))),
	'epcisBody', jsonb_build_object('eventList', jsonb_build_array(jsonb_build_object(
		'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'inspecting', 'disposition', 'conformant',
		'eventTime', '2026-11-23T08:00:00+08:00', 'eventTimeZoneOffset', '+08:00',
		'bizLocation', jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00002.wh-1'),
		'shilian:report', jsonb_build_object('certificate_no', 'JC-2026-1123', 'inspector', '王检'),
		'quantityList', jsonb_build_array(jsonb_build_object('epcClass', 'urn:epc:class:lgtin:6970000.000001.FQ-1120',
			'quantity', 1, 'uom', 'KGM'))))))) AS md_job \gset
SELECT operator_id, kind, uri, name, registered_by FROM shilian.gs1_location WHERE uri LIKE '%wh-1';
SELECT e.parties, e.records ? 'inspections' AS inspected FROM shilian.epcis_event e WHERE e.job_id = :md_job;
-- another operator's GLN in master data: refused, nothing registered
SELECT shilian.epcis_capture(jsonb_build_object('@context', '["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]'::jsonb,
	'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-11-23T09:00:00+08:00',
	'epcisHeader', jsonb_build_object('epcisMasterData', jsonb_build_object('vocabularyList', jsonb_build_array(
		jsonb_build_object('type', 'urn:epcglobal:epcis:vtype:BusinessLocation', 'vocabularyElementList', jsonb_build_array(
			jsonb_build_object('id', 'urn:epc:id:sgln:6970000.00001.field-3')))))),
	'epcisBody', jsonb_build_object('eventList', '[]'::jsonb)));
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT set_config('shilian.operator_id', '', false);

-- ---- epcis_query: every SimpleEventQuery parameter, supported or refused ----------
-- (as superuser: every event; visibility is the same RLS as epcis_events above)
SELECT pg_temp.ids(shilian.epcis_query()) AS everything;
SELECT pg_temp.ids(shilian.epcis_query('{"eventType": "TransformationEvent"}')) AS transformations;
SELECT pg_temp.ids(shilian.epcis_query('{"eventType": ["ObjectEvent"], "EQ_bizStep": "shipping"}')) AS object_shipping;
SELECT pg_temp.ids(shilian.epcis_query('{"GE_eventTime": "2026-11-21T01:00:00Z", "LT_eventTime": "2026-11-21T15:00:00+08:00"}')) AS time_window;
SELECT jsonb_array_length(shilian.epcis_query(jsonb_build_object('GE_recordTime', to_char(now() - interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SSOF') || ':00'))
	#> '{epcisBody,queryResults,resultsBody,eventList}') = (SELECT count(*) FROM shilian.epcis_event) AS recorded_since_an_hour_all;
SELECT pg_temp.ids(shilian.epcis_query(jsonb_build_object('LT_recordTime', '2000-01-01T00:00:00Z'))) AS recorded_before_2000;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_action": "ADD|DELETE", "eventType": "ObjectEvent"}')) AS add_or_delete;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_bizStep": ["urn:epcglobal:cbv:bizstep:receiving", "https://ref.gs1.org/cbv/BizStep-inspecting"]}')) AS receiving_or_inspecting;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_disposition": "in_transit"}')) AS in_transit;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_readPoint": "urn:shilian:uscc:93370112MA3D001010", "EQ_bizStep": "commissioning"}')) AS at_the_farm;
SELECT pg_temp.ids(shilian.epcis_query('{"WD_readPoint": "urn:shilian:uscc:93370112MA3D001010", "EQ_bizStep": "commissioning"}')) AS at_the_farm_wd;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_bizLocation": "urn:shilian:operator:99"}')) AS nowhere;
SELECT pg_temp.ids(shilian.epcis_query('{"WD_bizLocation": "urn:shilian:operator:99"}')) AS nowhere_wd;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_transformationID": "urn:example:t1"}')) AS no_transformation_id;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_epc": "urn:epc:id:sgtin:6970000.000001.1"}')) AS by_serial_none;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_parentID": "urn:epc:id:sscc:6970000.0000000001"}')) AS by_parent_none;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_inputEPC": "urn:epc:idpat:sgtin:6970000.000001.*"}')) AS by_input_pattern_none;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_outputEPC": "https://id.gs1.org/01/06970000000024/21/1"}')) AS by_output_none;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_anyEPC": "urn:epc:id:sgtin:6970000.000001.1"}')) AS by_any_none;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_epcClass": "https://id.gs1.org/01/06970000000017", "eventType": "ObjectEvent", "EQ_bizStep": "shipping|receiving"}')) AS tomatoes_shipped_received;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_inputEPCClass": "urn:epc:class:lgtin:6970000.000001.FQ-1120"}')) AS tomatoes_in;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_outputEPCClass": "https://id.gs1.org/01/06970000000024"}')) AS sauce_out;
SELECT pg_temp.ids(shilian.epcis_query('{"MATCH_anyEPCClass": "urn:epc:class:lgtin:6970000.000002.FQJ-1122"}')) AS sauce_anywhere;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_eventID": "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000002|urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000004"}')) AS two_ids;
SELECT pg_temp.ids(shilian.epcis_query('{"EXISTS_errorDeclaration": ""}')) AS declared_errors;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_source_owning_party": "urn:shilian:operator:1", "EQ_bizStep": "shipping"}')) AS sold_by_the_farm;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_destination_urn:epcglobal:cbv:sdt:owning_party": "urn:shilian:operator:2"}')) AS bought_by_2;
-- instance identifiers compare in any spelling (EPC URI, Digital Link, another domain), patterns match every serial
SELECT shilian.epcis_query_match('["urn:epc:id:sgtin:0614141.107346.2017"]', ARRAY['https://id.gs1.org/01/10614141073464/21/2017'], '{}') AS epc_uri_as_dl,
	shilian.epcis_query_match('"https://example.com/01/10614141073464/21/2017?x"', shilian.epcis_query_ids('{urn:epc:id:sgtin:0614141.107346.2017}'), '{}') AS dl_as_epc_uri,
	shilian.epcis_query_match('["urn:epc:id:sgtin:0614141.107346.2018"]', '{}', ARRAY[shilian.epcis_gs1_uri('urn:epc:idpat:sgtin:0614141.107346.*') || '/']) AS under_pattern,
	shilian.epcis_query_match('["urn:epc:id:sgtin:0614141.107347.2018"]', '{}', ARRAY[shilian.epcis_gs1_uri('urn:epc:idpat:sgtin:0614141.107346.*') || '/']) AS other_item_not;
SELECT pg_temp.ids(shilian.epcis_query('{"EQ_bizTransaction_po": "urn:example:po:1"}')) AS by_po_none;
-- order, limits, pages
SELECT pg_temp.ids(shilian.epcis_query('{"orderBy": "eventTime", "eventCountLimit": "2"}')) AS latest_two;
SELECT pg_temp.ids(shilian.epcis_query('{"orderBy": "eventTime", "orderDirection": "ASC", "eventCountLimit": 2}')) AS first_two;
SELECT pg_temp.ids(shilian.epcis_query('{"orderBy": "recordTime", "orderDirection": "DESC", "EQ_eventID": ["urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000001", "urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000004"]}')) AS by_record_time_desc;
SELECT pg_temp.ids(shilian.epcis_query('{"maxEventCount": "1000", "eventType": "TransformationEvent"}')) AS under_max;
SELECT d ->> 'shilian:nextPageToken' AS tok FROM shilian.epcis_query('{"orderBy": "eventTime", "perPage": "2", "eventCountLimit": "3"}') d \gset
SELECT pg_temp.ids(d) AS page2, d ? 'shilian:nextPageToken' AS more
  FROM shilian.epcis_query(jsonb_build_object('orderBy', 'eventTime', 'perPage', '2', 'eventCountLimit', '3', 'nextPageToken', :'tok')) d;
-- refused, each naming the parameter (SLE07, QueryParameterException; SLE08 QueryTooLargeException)
SELECT shilian.epcis_query('{"GE_eventTime": "yesterday"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"LT_recordTime": "2026-11-20"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_bizStepp": "shipping"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_quantity": "5"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"eventType": "Event"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_action": "UPDATE"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_bizStep": "shiping"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_disposition": "broken"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"MATCH_epc": "urn:epc:idpat:sgtin:12.*"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"orderBy": "bizStep"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"orderDirection": "UP"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"eventCountLimit": "2"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"orderBy": "eventTime", "eventCountLimit": "2", "maxEventCount": "5"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"maxEventCount": "0"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"perPage": "1001"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"nextPageToken": "zz"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query(jsonb_build_object('orderBy', 'recordTime', 'nextPageToken', :'tok'));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_source_nonsense": "urn:shilian:operator:1"}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_eventID": ""}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"EQ_eventID": [1]}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_query('{"maxEventCount": "1"}');
\echo :LAST_ERROR_SQLSTATE
-- one event by its eventID; none
SELECT pg_temp.ids(shilian.epcis_event_get('urn:uuid:5b0a9c1e-3f2d-4c7a-9e51-000000000003')) AS one_event;
SELECT shilian.epcis_event_get('urn:uuid:none');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.epcis_event_types();

\c :regress_db
DROP DATABASE shilian_epcis_test;
