-- shilian install script, part 20: the registry (jurisdictions, operators,
-- licences, products) and the trace records (batches, links, inspections,
-- consumption). Every write goes through a C function (extension/records.c)
-- that validates before it writes and appends one ledger entry; the tables
-- are plain so that trace/recall (links by index in both directions) and
-- row-level security can build on them.

-- GB/T 2260 divisions (province 370000, city 370100, county 370102) and the
-- supervision stations below counties (county code + 3 digits, 370102001).
-- ancestors holds every code from the province down to this one, so a
-- regulator's subtree is "jurisdiction code = ANY (ancestors)" (GIN-indexed).
CREATE TABLE jurisdiction (
	code        text PRIMARY KEY CHECK (code ~ '^[1-9][0-9]{5}([0-9]{3})?$'),
	name        text NOT NULL CHECK (name <> ''),
	level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'station')),
	parent      text REFERENCES jurisdiction (code),
	ancestors   text[] NOT NULL,
	CHECK ((level = 'province') = (parent IS NULL)),
	CHECK (ancestors[cardinality(ancestors)] = code)
);
CREATE INDEX jurisdiction_parent_idx ON jurisdiction (parent);
CREATE INDEX jurisdiction_ancestors_idx ON jurisdiction USING gin (ancestors);
COMMENT ON TABLE jurisdiction IS
	'GB/T 2260 divisions (province, city, county) and supervision stations below counties; ancestors lists the path from the province.';

-- Operators: enterprises by USCC, small vendors and workshops by the number
-- of their registration card. status: registered -> active -> suspended
-- (and back to active); only active operators record.
CREATE TABLE operator (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	uscc              uscc UNIQUE,
	reg_card          text UNIQUE CHECK (reg_card <> ''),
	name              text NOT NULL CHECK (name <> ''),
	address           text NOT NULL CHECK (address <> ''),
	contact           text NOT NULL CHECK (contact <> ''),
	segment           text NOT NULL
		CHECK (segment IN ('production', 'circulation', 'catering', 'special_food')),
	kinds             text[] NOT NULL CHECK (cardinality(kinds) > 0 AND kinds <@ ARRAY[
		'farm', 'processor', 'wholesaler', 'retailer', 'market_vendor', 'market',
		'restaurant', 'school_canteen', 'collective_meal', 'central_kitchen',
		'unit_canteen', 'workshop', 'importer', 'cold_storage', 'special_food_maker']),
	station           text NOT NULL REFERENCES jurisdiction (code),
	status            text NOT NULL DEFAULT 'registered'
		CHECK (status IN ('registered', 'active', 'suspended')),
	own_system        boolean NOT NULL DEFAULT false,
	regulator_contact text,
	status_reason     text,
	registered_at     timestamptz NOT NULL DEFAULT registry_now(),
	activated_at      timestamptz,
	suspended_at      timestamptz,
	CHECK (uscc IS NOT NULL OR reg_card IS NOT NULL)
);
CREATE INDEX operator_station_idx ON operator (station);
COMMENT ON TABLE operator IS
	'Food operators: USCC or registration card, segment, kinds, home supervision station, status registered/active/suspended.';

-- Licences: SC (production) or JY (business) numbers with a validity period
-- and the key categories they cover.
CREATE TABLE licence (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	licence_no  licence_no NOT NULL UNIQUE,
	operator_id bigint NOT NULL REFERENCES operator (id),
	scope       text[] NOT NULL CHECK (cardinality(scope) > 0 AND scope <@ ARRAY[
		'vegetables', 'fruit', 'aquatic', 'grain', 'meat', 'dairy', 'edible_oil',
		'alcohol', 'health_food', 'infant_formula', 'other']),
	valid_from  date NOT NULL,
	valid_to    date NOT NULL,
	added_at    timestamptz NOT NULL DEFAULT registry_now(),
	CHECK (valid_from <= valid_to)
);
CREATE INDEX licence_operator_idx ON licence (operator_id, valid_to);
COMMENT ON TABLE licence IS
	'Food production (SC) and business (JY) licences: holder, scope of categories, validity period.';

-- Products: the ten key categories or other; shelf life in days (NULL: none).
-- edible_agricultural marks primary products (食用农产品), whose incoming
-- records need only name, quantity, date and supplier.
CREATE TABLE product (
	id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name                text NOT NULL CHECK (name <> ''),
	category            text NOT NULL CHECK (category IN (
		'vegetables', 'fruit', 'aquatic', 'grain', 'meat', 'dairy', 'edible_oil',
		'alcohol', 'health_food', 'infant_formula', 'other')),
	spec                text,
	gtin                text UNIQUE CHECK (gtin ~ '^[0-9]{8}([0-9]{4,6})?$'),
	shelf_life_days     integer CHECK (shelf_life_days > 0),
	edible_agricultural boolean NOT NULL DEFAULT false,
	owner_id            bigint REFERENCES operator (id),
	registered_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE product IS
	'Products: name, key category, specification, optional GTIN, shelf life in days, whether an edible agricultural product.';

-- Batches: one lot held by one operator. qty_left is what is still on hand
-- (qty minus shipments, processing inputs and consumption), kept by the
-- record functions under a row lock: it is the mass balance.
CREATE TABLE batch (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	trace_code       trace_code NOT NULL UNIQUE,
	owner_id         bigint NOT NULL REFERENCES operator (id),
	product_id       bigint NOT NULL REFERENCES product (id),
	qty              qty NOT NULL,
	qty_left         qty NOT NULL,
	produced_on      date NOT NULL,
	expires_on       date,
	lot              text,
	origin           text NOT NULL
		CHECK (origin IN ('produced', 'received', 'transformed', 'first_entry')),
	supplier         jsonb CHECK (jsonb_typeof(supplier) = 'object'),
	supplier_licence licence_no,
	certificate      jsonb CHECK (jsonb_typeof(certificate) = 'object'),
	created_at       timestamptz NOT NULL DEFAULT now(),
	-- a first entry's receipt time (receive_first_entry's received_at): its
	-- receipt date whether or not an incoming inspection was recorded
	-- (issue 18); NULL for every other origin
	received_at      timestamptz,
	CHECK (expires_on IS NULL OR expires_on >= produced_on),
	CHECK ((origin = 'first_entry') = (supplier IS NOT NULL))
);
-- (owner, created_at, id): an operator's batches newest first, paged by key
-- (GET /v1/batches?after=), read as far as the page and no further
CREATE INDEX batch_owner_idx ON batch (owner_id, created_at, id);
CREATE INDEX batch_product_idx ON batch (product_id);
COMMENT ON TABLE batch IS
	'Lots: trace code, holder, product, quantity and quantity left on hand, dates, origin (produced/received/transformed/first_entry), supplier data pre-filled on receipt.';

-- The key of a page of the acting operator's batches (newest first): the
-- creation time of its batch with the given id, the last row of the page
-- before. Read with the caller's rights; a batch that is not the acting
-- operator's is no cursor (SLP02), so a page never starts in another's rows.
CREATE FUNCTION batch_cursor(after bigint) RETURNS timestamptz
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	at timestamptz;
BEGIN
	SELECT b.created_at INTO at FROM shilian.batch b
	 WHERE b.id = batch_cursor.after AND b.owner_id = shilian.current_operator();
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLP02',
			MESSAGE = format('unknown page cursor %s', after),
			DETAIL = 'A cursor is the id of the last batch of the page before, one of the acting operator''s batches.',
			HINT = 'Follow the Link rel="next" of the page before, or leave "after" out for the first page.';
	END IF;
	RETURN at;
END;
$$;
COMMENT ON FUNCTION batch_cursor(bigint) IS
	'The creation time of the acting operator''s batch with this id, the key a page of its batches continues after (GET /v1/batches?after=); SLP02 if it is not one of its batches.';

-- Links: "qty_accepted of batch from_batch became part of batch to_batch".
-- A sale (kind ship) starts pending with to_batch NULL: it is the buyer's
-- receipt draft; the receipt sets to_batch and status received, or status
-- rejected. A processing step (kind transform) is written received. A
-- pending sale retracted by its seller (part 83) is status retracted, its
-- received_at the time of the retraction.
CREATE TABLE link (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind           text NOT NULL CHECK (kind IN ('ship', 'transform')),
	from_batch     bigint NOT NULL REFERENCES batch (id),
	to_batch       bigint REFERENCES batch (id),
	seller_id      bigint NOT NULL REFERENCES operator (id),
	buyer_id       bigint NOT NULL REFERENCES operator (id),
	qty_shipped    qty NOT NULL,
	qty_accepted   qty,
	shipped_on     date NOT NULL,
	received_at    timestamptz,
	status         text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'received', 'rejected', 'retracted')),
	reject_reason  text,
	seller_licence licence_no,
	created_at     timestamptz NOT NULL DEFAULT now(),
	CHECK (from_batch <> to_batch),
	CHECK ((status = 'received') = (to_batch IS NOT NULL)),
	CHECK (status = 'pending' OR received_at IS NOT NULL)
);
-- The trace walk (extension/trace.c) reads links index-only from these two:
-- each carries the other end, the link id, qty_accepted and received_at (a
-- link is received exactly when to_batch is set, so status is not needed),
-- and seller_id and buyer_id, the columns of link's row-level security
-- policies (part 80), which the walk applies itself.
CREATE INDEX link_from_idx ON link (from_batch) INCLUDE (to_batch, id, qty_accepted, received_at, seller_id, buyer_id);
CREATE INDEX link_to_idx ON link (to_batch) INCLUDE (from_batch, id, qty_accepted, received_at, seller_id, buyer_id);
CREATE INDEX link_buyer_pending_idx ON link (buyer_id) WHERE status = 'pending';
CREATE INDEX link_seller_idx ON link (seller_id, shipped_on);
COMMENT ON TABLE link IS
	'Trace links between batches: sales (pending until received or rejected) and processing inputs; indexed by from_batch and to_batch for walks in both directions.';

-- Inspections: release (出厂检验), incoming (进货查验, one per receipt) and
-- sampling; the report document is checked for its required keys.
-- Inspections and consumption grow without bound: both are partitioned by
-- Asia/Shanghai month of their time (inspection_pYYYYMM holds
-- [YYYY-MM-01, next month) in Beijing time), with a DEFAULT partition so
-- that a record never fails for want of a partition; partitions_ahead()
-- (part 54, the daily job) makes the months, each a copy of the default
-- partition's keys, indexes, storage options and row-level security. Nothing
-- references them by foreign key, so the primary key is each partition's own
-- (id, time): a partitioned table's unique keys must contain its partition
-- key, and keys of the partitioned table itself would be made again by a
-- restore's ATTACH PARTITION before the dump's own (as for the ledger). The
-- ids stay unique: they come from the one identity sequence.
CREATE TABLE inspection (
	id           bigint GENERATED ALWAYS AS IDENTITY,
	batch_id     bigint NOT NULL REFERENCES batch (id),
	operator_id  bigint NOT NULL REFERENCES operator (id),
	kind         text NOT NULL CHECK (kind IN ('release', 'incoming', 'sampling')),
	result       text NOT NULL CHECK (result IN ('pass', 'fail')),
	report       jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object'),
	link_id      bigint REFERENCES link (id),
	inspected_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (inspected_at);
COMMENT ON TABLE inspection IS
	'Inspection records: release (出厂检验), incoming (进货查验) and sampling, with a report document; partitioned by Asia/Shanghai month of inspected_at.';
CREATE TABLE inspection_default PARTITION OF inspection DEFAULT;
ALTER TABLE inspection_default ADD CONSTRAINT inspection_default_pkey PRIMARY KEY (id, inspected_at);
CREATE INDEX inspection_default_batch_idx ON inspection_default (batch_id);
COMMENT ON TABLE inspection_default IS
	'Default partition of shilian.inspection: inspections of months that had no partition of their own when recorded; the template of the month partitions.';

-- Consumption: what leaves the chain (served, sold at retail, destroyed,
-- kept as a sample); partitioned as inspections are.
CREATE TABLE consumption (
	id          bigint GENERATED ALWAYS AS IDENTITY,
	batch_id    bigint NOT NULL REFERENCES batch (id),
	operator_id bigint NOT NULL REFERENCES operator (id),
	qty         qty NOT NULL,
	kind        text NOT NULL CHECK (kind IN ('served', 'retail_sold', 'destroyed', 'sample_kept')),
	consumed_at timestamptz NOT NULL DEFAULT now(),
	note        text
) PARTITION BY RANGE (consumed_at);
COMMENT ON TABLE consumption IS
	'Quantities leaving the chain: served in a canteen, sold at retail, destroyed, kept as a sample; partitioned by Asia/Shanghai month of consumed_at.';
CREATE TABLE consumption_default PARTITION OF consumption DEFAULT;
ALTER TABLE consumption_default ADD CONSTRAINT consumption_default_pkey PRIMARY KEY (id, consumed_at);
CREATE INDEX consumption_default_batch_idx ON consumption_default (batch_id);
COMMENT ON TABLE consumption_default IS
	'Default partition of shilian.consumption: consumption of months that had no partition of their own when recorded; the template of the month partitions.';

SELECT pg_catalog.pg_extension_config_dump('jurisdiction', '');
SELECT pg_catalog.pg_extension_config_dump('operator', '');
SELECT pg_catalog.pg_extension_config_dump('licence', '');
SELECT pg_catalog.pg_extension_config_dump('product', '');
SELECT pg_catalog.pg_extension_config_dump('batch', '');
SELECT pg_catalog.pg_extension_config_dump('link', '');
SELECT pg_catalog.pg_extension_config_dump('inspection', '');
SELECT pg_catalog.pg_extension_config_dump('consumption', '');
SELECT pg_catalog.pg_extension_config_dump('inspection_default', '');
SELECT pg_catalog.pg_extension_config_dump('consumption_default', '');
-- the identity sequences too, so that a restored database goes on numbering
-- after the restored rows
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.operator', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.licence', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.product', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.batch', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.link', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.inspection', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.consumption', 'id')::regclass, '');

-- ---- registry functions (extension/registry.c) -----------------------------

CREATE FUNCTION jurisdiction_add(code text, name text) RETURNS text
	AS 'MODULE_PATHNAME', 'sl_jurisdiction_add'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION jurisdiction_add(text, text) IS
	'Add a GB/T 2260 division (6 digits) or supervision station (county code + 3 digits); level and parent follow from the code.';

ALTER FUNCTION jurisdiction_add(text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION jurisdiction_add(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jurisdiction_add(text, text) TO shilian_admin;

CREATE FUNCTION operator_register(name text, segment text, kinds text[], station text,
		address text, contact text, uscc uscc DEFAULT NULL, reg_card text DEFAULT NULL,
		own_system boolean DEFAULT false, regulator_contact text DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_operator_register'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION operator_register(text, text, text[], text, text, text, uscc, text, boolean, text) IS
	'Register an operator (status registered) at its home supervision station, by USCC or registration card; returns its id.';
ALTER FUNCTION operator_register(text, text, text[], text, text, text, uscc, text, boolean, text)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION operator_register(text, text, text[], text, text, text, uscc, text, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_register(text, text, text[], text, text, text, uscc, text, boolean, text) TO shilian_regulator, shilian_admin;

CREATE FUNCTION operator_activate(id bigint) RETURNS void
	AS 'MODULE_PATHNAME', 'sl_operator_activate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION operator_activate(bigint) IS
	'Activate a registered or suspended operator: only active operators record.';
ALTER FUNCTION operator_activate(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION operator_activate(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_activate(bigint) TO shilian_regulator, shilian_admin;

CREATE FUNCTION operator_suspend(id bigint, reason text) RETURNS void
	AS 'MODULE_PATHNAME', 'sl_operator_suspend'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION operator_suspend(bigint, text) IS
	'Suspend an operator with a reason: it can no longer ship, receive or record until activated again.';
ALTER FUNCTION operator_suspend(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION operator_suspend(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_suspend(bigint, text) TO shilian_regulator, shilian_admin;

CREATE FUNCTION licence_add(operator bigint, licence_no licence_no, scope text[],
		valid_from date, valid_to date) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_licence_add'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION licence_add(bigint, licence_no, text[], date, date) IS
	'Record an operator''s SC/JY licence with the categories it covers and its validity period; returns the licence id.';
ALTER FUNCTION licence_add(bigint, licence_no, text[], date, date)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION licence_add(bigint, licence_no, text[], date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION licence_add(bigint, licence_no, text[], date, date) TO shilian_regulator, shilian_admin;

CREATE FUNCTION product_register(name text, category text, shelf_life_days integer DEFAULT NULL,
		spec text DEFAULT NULL, gtin text DEFAULT NULL, edible_agricultural boolean DEFAULT false,
		owner bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_product_register'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION product_register(text, text, integer, text, text, boolean, bigint) IS
	'Register a product: name, key category or other, shelf life in days, specification, optional GTIN; returns its id.';
ALTER FUNCTION product_register(text, text, integer, text, text, boolean, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION product_register(text, text, integer, text, text, boolean, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION product_register(text, text, integer, text, text, boolean, bigint) TO shilian_operator, shilian_system, shilian_admin;

-- ---- record functions (extension/records.c) --------------------------------

CREATE FUNCTION batch_create(owner bigint, product bigint, qty qty,
		produced_on date DEFAULT shilian.platform_today(), lot text DEFAULT NULL,
		expires_on date DEFAULT NULL, certificate jsonb DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_batch_create'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION batch_create(bigint, bigint, qty, date, text, date, jsonb) IS
	'Record a produced or harvested batch; expiry defaults to production date + shelf life; returns its new trace code.';
ALTER FUNCTION batch_create(bigint, bigint, qty, date, text, date, jsonb)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION batch_create(bigint, bigint, qty, date, text, date, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION batch_create(bigint, bigint, qty, date, text, date, jsonb) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION inspect(code trace_code, kind text, result text, report jsonb,
		inspected_at timestamptz DEFAULT now(), operator bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_inspect'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION inspect(trace_code, text, text, jsonb, timestamptz, bigint) IS
	'Record an inspection of a batch: release (出厂检验, report needs certificate_no and inspector), incoming (进货查验, inspector) or sampling (agency, report_no); result pass or fail.';
ALTER FUNCTION inspect(trace_code, text, text, jsonb, timestamptz, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION inspect(trace_code, text, text, jsonb, timestamptz, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION inspect(trace_code, text, text, jsonb, timestamptz, bigint) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION ship(code trace_code, buyer bigint, qty qty,
		shipped_on date DEFAULT shilian.platform_today(), seller bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_ship'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION ship(trace_code, bigint, qty, date, bigint) IS
	'Record a sale of part of a batch to a buyer after every link rule passes; returns the pending link id, which is the buyer''s receipt draft.';
ALTER FUNCTION ship(trace_code, bigint, qty, date, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION ship(trace_code, bigint, qty, date, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ship(trace_code, bigint, qty, date, bigint) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION receive(link bigint, qty qty, inspection jsonb DEFAULT NULL,
		received_at timestamptz DEFAULT now(), reject_reason text DEFAULT NULL,
		into_batch trace_code DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) IS
	'Confirm a pending sale: creates the buyer''s batch pre-filled from the seller''s (or adds to the buyer''s batch into_batch) and its incoming inspection (optional: without one the receipt is recorded but incomplete in record_completeness); a smaller quantity needs reject_reason and the rest returns to the seller''s batch.';
ALTER FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION reject(link bigint, reject_reason text, rejected_at timestamptz DEFAULT now()) RETURNS void
	AS 'MODULE_PATHNAME', 'sl_reject'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION reject(bigint, text, timestamptz) IS
	'Refuse a whole pending sale with a reason; the shipped quantity returns to the seller''s batch.';
ALTER FUNCTION reject(bigint, text, timestamptz) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION reject(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reject(bigint, text, timestamptz) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION receive_first_entry(buyer bigint, product bigint, qty qty, supplier jsonb,
		inspection jsonb DEFAULT NULL, produced_on date DEFAULT shilian.platform_today(),
		received_at timestamptz DEFAULT now(), lot text DEFAULT NULL,
		certificate jsonb DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive_first_entry'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb) IS
	'First entry into the chain of goods from a supplier without records (a farmer at a market): supplier needs name and contact; the incoming inspection is optional (without one the first entry is recorded but incomplete in record_completeness); returns the new batch''s trace code.';
ALTER FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION transform(inputs trace_code[], qtys qty[], product bigint, qty qty,
		produced_on date DEFAULT shilian.platform_today(), lot text DEFAULT NULL,
		expires_on date DEFAULT NULL, operator bigint DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_transform'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION transform(trace_code[], qty[], bigint, qty, date, text, date, bigint) IS
	'Processing or mixing: the given quantities of the input batches become one new batch of product; returns its trace code.';
ALTER FUNCTION transform(trace_code[], qty[], bigint, qty, date, text, date, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION transform(trace_code[], qty[], bigint, qty, date, text, date, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION transform(trace_code[], qty[], bigint, qty, date, text, date, bigint) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION consume(code trace_code, qty qty, kind text, consumed_at timestamptz DEFAULT now(),
		note text DEFAULT NULL, operator bigint DEFAULT NULL) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_consume'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint) IS
	'Record quantity leaving the chain: served (canteen), retail_sold, destroyed or sample_kept; returns the consumption id.';
ALTER FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION consume(trace_code, qty, text, timestamptz, text, bigint) TO shilian_operator, shilian_system, shilian_admin;

-- ---- reading: receipt drafts and record completeness -----------------------

-- The buyer's receipt drafts: every pending sale to it, with the fields its
-- incoming record needs already filled from the seller's data.
CREATE FUNCTION receipt_drafts(buyer bigint)
	RETURNS TABLE (link bigint, from_code trace_code, seller bigint, seller_name text,
		seller_address text, seller_contact text, seller_licence licence_no, product bigint,
		product_name text, spec text, category text, qty qty, shipped_on date,
		produced_on date, expires_on date, lot text, certificate jsonb)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	-- definer rights: the buyer sees these fields of the seller's batch, not
	-- the batch row (docs/security.md); require_see admits only the buyer
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT l.id, b.trace_code, l.seller_id, o.name, o.address, o.contact, l.seller_licence,
		p.id, p.name, p.spec, p.category, l.qty_shipped, l.shipped_on,
		b.produced_on, b.expires_on, b.lot, b.certificate
	  FROM shilian.link l
	  JOIN shilian.batch b ON b.id = l.from_batch
	  JOIN shilian.product p ON p.id = b.product_id
	  JOIN shilian.operator o ON o.id = l.seller_id
	 WHERE l.buyer_id = receipt_drafts.buyer AND l.status = 'pending' AND l.kind = 'ship'
	   AND shilian.require_see(receipt_drafts.buyer)
	 ORDER BY l.id;
	END;
COMMENT ON FUNCTION receipt_drafts(bigint) IS
	'Pending sales to a buyer, pre-filled from the seller''s batch and licence: what receive() will record.';
REVOKE ALL ON FUNCTION receipt_drafts(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION receipt_drafts(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- Which fields the law requires are missing from a record (Food Safety Law
-- arts. 50, 51, 53, 65), and how long the record must be kept: six months past
-- the end of shelf life, or two years from the record date without one. The
-- id is always the id of the record the kind names:
--   kind 'receipt' (id: the link of the received sale) and 'first_entry'
--     (id: the first-entry batch): the incoming record (进货查验记录): name,
--     spec, quantity, production date or lot, shelf life, purchase date,
--     supplier name, address, contact, supplier licence, certificate, and
--     the incoming inspection itself (进货查验: receive() without one records
--     the receipt, which then lacks incoming_inspection); an edible
--     agricultural product needs only name, quantity, purchase date,
--     supplier name and the incoming inspection.
--   kind 'sale' or 'release' (id: the link of the sale): name, spec,
--     quantity, production date or lot, shelf life, inspection certificate
--     number, sale date, buyer name, address, contact.
--   kind 'incoming' (id: the incoming inspection): the 0.2.0 form of the
--     incoming record, deprecated (a WARNING; removed in 0.4.0).
-- A product without shelf life (shelf_life_days NULL, no expiry) records
-- "none" as its shelf life.
CREATE FUNCTION record_completeness(kind text, id bigint,
		OUT complete boolean, OUT missing text[], OUT retain_until date)
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	-- definer rights: the record names its counterparty, which a regulator
	-- across the border cannot see; may_see admits the record's owner only
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	f jsonb;
	need text[];
	agri boolean;
	rec_date date;
	expiry date;
	insp bigint;
BEGIN
	-- the incoming record of a receipt or a first entry is kept with its
	-- incoming inspection: find it, then read it as the 0.2.0 kind did
	IF kind = 'incoming' THEN
		RAISE WARNING USING ERRCODE = '01P01',
			MESSAGE = 'record_completeness kind "incoming" (an inspection id) is deprecated and will be removed in 0.4.0',
			HINT = 'Use kind "receipt" with the link id of the sale, or "first_entry" with the batch id.';
		insp := id;
	ELSIF kind = 'receipt' THEN
		-- through the buyer's batch the receipt made (an index-only probe of
		-- inspection_incoming_idx); a retracted receipt no longer names it,
		-- and only then are the inspections searched by link
		SELECT i.id INTO insp FROM shilian.link l
		  JOIN shilian.inspection i ON i.batch_id = l.to_batch AND i.link_id = l.id
		 WHERE l.id = record_completeness.id AND i.kind = 'incoming'
		 ORDER BY i.id LIMIT 1;
		IF insp IS NULL AND EXISTS (SELECT 1 FROM shilian.link l
									 WHERE l.id = record_completeness.id AND l.to_batch IS NULL) THEN
			SELECT i.id INTO insp FROM shilian.inspection i
			 WHERE i.link_id = record_completeness.id AND i.kind = 'incoming'
			 ORDER BY i.id LIMIT 1;
		END IF;
	ELSIF kind = 'first_entry' THEN
		SELECT i.id INTO insp FROM shilian.inspection i
		  JOIN shilian.batch b ON b.id = i.batch_id
		 WHERE b.id = record_completeness.id AND b.origin = 'first_entry' AND i.kind = 'incoming'
		 ORDER BY i.id LIMIT 1;
	END IF;
	IF kind IN ('incoming', 'receipt', 'first_entry') THEN
		-- the incoming inspection, or a receipt recorded without one (its
		-- link: the receipt date and the buyer's batch)
		SELECT jsonb_build_object(
				'name', p.name, 'spec', p.spec, 'quantity', b_qty.q,
				'production_date_or_lot', coalesce(b.produced_on::text, b.lot),
				'shelf_life', coalesce(p.shelf_life_days::text, b.expires_on::text, 'none'),
				'purchase_date', shilian.platform_date(i.inspected_at),
				'supplier_name', coalesce(o.name, b.supplier->>'name'),
				'supplier_address', coalesce(o.address, b.supplier->>'address'),
				'supplier_contact', coalesce(o.contact, b.supplier->>'contact'),
				'supplier_licence', coalesce(b.supplier_licence::text, b.supplier->>'licence'),
				'certificate', coalesce(b.certificate, i.report->'certificate'),
				'incoming_inspection', i.id),
			p.edible_agricultural, shilian.platform_date(i.inspected_at), b.expires_on
		  INTO f, agri, rec_date, expiry
		  FROM (SELECT x.id, x.batch_id, x.link_id, x.inspected_at, x.report, x.operator_id
				  FROM shilian.inspection x
				 WHERE x.id = insp AND x.kind = 'incoming'
				UNION ALL
				SELECT NULL, x.to_batch, x.id, x.received_at, NULL, x.buyer_id
				  FROM shilian.link x
				 WHERE insp IS NULL AND record_completeness.kind = 'receipt' AND x.id = record_completeness.id
				   AND x.kind = 'ship' AND x.status = 'received'
				UNION ALL
				SELECT NULL, x.id, NULL, x.received_at, NULL, x.owner_id
				  FROM shilian.batch x
				 WHERE insp IS NULL AND record_completeness.kind = 'first_entry' AND x.id = record_completeness.id
				   AND x.origin = 'first_entry') i
		  JOIN shilian.batch b ON b.id = i.batch_id
		  JOIN shilian.product p ON p.id = b.product_id
		  LEFT JOIN shilian.link l ON l.id = i.link_id
		  LEFT JOIN shilian.operator o ON o.id = l.seller_id
		  CROSS JOIN LATERAL (SELECT coalesce(l.qty_accepted, b.qty)::text AS q) b_qty
		 WHERE shilian.may_see(i.operator_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no %s has id %s', CASE kind
					WHEN 'incoming' THEN 'incoming inspection' WHEN 'receipt' THEN 'receipt (link)'
					ELSE 'first-entry batch' END, id);
		END IF;
		need := CASE WHEN agri
			THEN ARRAY['name', 'quantity', 'purchase_date', 'supplier_name', 'incoming_inspection']
			ELSE ARRAY['name', 'spec', 'quantity', 'production_date_or_lot', 'shelf_life',
				'purchase_date', 'supplier_name', 'supplier_address', 'supplier_contact',
				'supplier_licence', 'certificate', 'incoming_inspection'] END;
	ELSIF kind IN ('release', 'sale') THEN
		SELECT jsonb_build_object(
				'name', p.name, 'spec', p.spec, 'quantity', l.qty_shipped::text,
				'production_date_or_lot', coalesce(b.produced_on::text, b.lot),
				'shelf_life', coalesce(p.shelf_life_days::text, b.expires_on::text, 'none'),
				'certificate_no', b.certificate->>'certificate_no',
				'sale_date', l.shipped_on,
				'buyer_name', o.name, 'buyer_address', o.address, 'buyer_contact', o.contact),
			l.shipped_on, b.expires_on
		  INTO f, rec_date, expiry
		  FROM shilian.link l
		  JOIN shilian.batch b ON b.id = l.from_batch
		  JOIN shilian.product p ON p.id = b.product_id
		  JOIN shilian.operator o ON o.id = l.buyer_id
		 WHERE l.id = record_completeness.id AND l.kind = 'ship' AND shilian.may_see(l.seller_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no sale has link id %s', id);
		END IF;
		need := ARRAY['name', 'spec', 'quantity', 'production_date_or_lot', 'shelf_life',
			'certificate_no', 'sale_date', 'buyer_name', 'buyer_address', 'buyer_contact'];
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use "receipt" (link id), "first_entry" (batch id), "sale" or "release" (link id).';
	END IF;
	SELECT coalesce(array_agg(k ORDER BY o), '{}')
	  INTO missing
	  FROM unnest(need) WITH ORDINALITY AS n(k, o)
	 WHERE f->k IS NULL OR f->k = 'null'::jsonb OR f->>k = '';
	complete := cardinality(missing) = 0;
	retain_until := CASE WHEN expiry IS NOT NULL THEN (expiry + interval '6 months')::date
		ELSE (rec_date + interval '2 years')::date END;
END;
$$;
COMMENT ON FUNCTION record_completeness(text, bigint) IS
	'Which legally required fields a record lacks and the date until which it must be kept; id is the id of the record kind names: receipt (the link of the received sale), first_entry (the batch), sale or release (the link of the sale); incoming (an inspection id) is deprecated.';
REVOKE ALL ON FUNCTION record_completeness(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_completeness(text, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
