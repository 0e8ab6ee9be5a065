-- shilian install script, part 10: identifier and quantity types
-- (docs/types.md). uscc, licence_no, trace_code and qty; GS1 keys and
-- Digital Link. C in extension/{uscc,licence_no,trace_code,gs1,qty}.c.

-- ---- uscc: unified social credit code (GB 32100-2015) ----------------------

CREATE TYPE uscc;

CREATE FUNCTION uscc_in(cstring) RETURNS uscc
	AS 'MODULE_PATHNAME', 'uscc_in'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION uscc_out(uscc) RETURNS cstring
	AS 'MODULE_PATHNAME', 'uscc_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION uscc_recv(internal) RETURNS uscc
	AS 'MODULE_PATHNAME', 'uscc_recv'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION uscc_send(uscc) RETURNS bytea
	AS 'MODULE_PATHNAME', 'uscc_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE uscc (
	INPUT = uscc_in, OUTPUT = uscc_out, RECEIVE = uscc_recv, SEND = uscc_send,
	INTERNALLENGTH = 12, ALIGNMENT = int4, STORAGE = plain
);
COMMENT ON TYPE uscc IS
	'Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters from 0-9 A-H J-N P-R T U W-Y, positions 3-8 digits, MOD 31 check character; stored in 12 bytes.';
COMMENT ON FUNCTION uscc_in(cstring) IS
	'uscc input: trims, upper-cases, checks length, character set, division digits and the check character (shilian.uscc_lenient accepts a wrong check character).';
COMMENT ON FUNCTION uscc_out(uscc) IS 'uscc output: the canonical 18 characters.';
COMMENT ON FUNCTION uscc_recv(internal) IS 'uscc binary input: format version byte 1, then the 18 characters; runs every check of uscc input.';
COMMENT ON FUNCTION uscc_send(uscc) IS 'uscc binary output: format version byte 1, then the 18 characters.';

CREATE FUNCTION uscc_eq(uscc, uscc) RETURNS bool
	AS 'MODULE_PATHNAME', 'uscc_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_eq(uscc, uscc) IS 'uscc equal.';
CREATE FUNCTION uscc_ne(uscc, uscc) RETURNS bool
	AS 'MODULE_PATHNAME', 'uscc_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_ne(uscc, uscc) IS 'uscc not equal.';
CREATE FUNCTION uscc_lt(uscc, uscc) RETURNS bool
	AS 'MODULE_PATHNAME', 'uscc_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_lt(uscc, uscc) IS 'uscc less than (in text order).';
CREATE FUNCTION uscc_le(uscc, uscc) RETURNS bool
	AS 'MODULE_PATHNAME', 'uscc_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_le(uscc, uscc) IS 'uscc less than or equal (in text order).';
CREATE FUNCTION uscc_gt(uscc, uscc) RETURNS bool
	AS 'MODULE_PATHNAME', 'uscc_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_gt(uscc, uscc) IS 'uscc greater than (in text order).';
CREATE FUNCTION uscc_ge(uscc, uscc) RETURNS bool
	AS 'MODULE_PATHNAME', 'uscc_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_ge(uscc, uscc) IS 'uscc greater than or equal (in text order).';

CREATE OPERATOR = (
	LEFTARG = uscc, RIGHTARG = uscc, FUNCTION = uscc_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
COMMENT ON OPERATOR = (uscc, uscc) IS 'uscc equal';
CREATE OPERATOR <> (
	LEFTARG = uscc, RIGHTARG = uscc, FUNCTION = uscc_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (uscc, uscc) IS 'uscc not equal';
CREATE OPERATOR < (
	LEFTARG = uscc, RIGHTARG = uscc, FUNCTION = uscc_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (uscc, uscc) IS 'uscc less than (in text order)';
CREATE OPERATOR <= (
	LEFTARG = uscc, RIGHTARG = uscc, FUNCTION = uscc_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (uscc, uscc) IS 'uscc less than or equal (in text order)';
CREATE OPERATOR > (
	LEFTARG = uscc, RIGHTARG = uscc, FUNCTION = uscc_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (uscc, uscc) IS 'uscc greater than (in text order)';
CREATE OPERATOR >= (
	LEFTARG = uscc, RIGHTARG = uscc, FUNCTION = uscc_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (uscc, uscc) IS 'uscc greater than or equal (in text order)';

CREATE FUNCTION uscc_cmp(uscc, uscc) RETURNS integer
	AS 'MODULE_PATHNAME', 'uscc_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_cmp(uscc, uscc) IS 'btree support: -1, 0 or 1, in the order of the canonical text.';
CREATE FUNCTION uscc_hash(uscc) RETURNS integer
	AS 'MODULE_PATHNAME', 'uscc_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_hash(uscc) IS 'hash support: 32-bit hash of a uscc.';
CREATE FUNCTION uscc_hash_extended(uscc, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'uscc_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION uscc_hash_extended(uscc, bigint) IS 'hash support: seeded 64-bit hash of a uscc.';

CREATE OPERATOR CLASS uscc_ops
	DEFAULT FOR TYPE uscc USING btree AS
		OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
		FUNCTION 1 uscc_cmp(uscc, uscc);
COMMENT ON OPERATOR CLASS uscc_ops USING btree IS 'B-tree support for uscc, in the order of the canonical text.';
CREATE OPERATOR CLASS uscc_ops
	DEFAULT FOR TYPE uscc USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 uscc_hash(uscc),
		FUNCTION 2 uscc_hash_extended(uscc, bigint);
COMMENT ON OPERATOR CLASS uscc_ops USING hash IS 'Hash index and hash join support for uscc.';

CREATE FUNCTION uscc_division(uscc) RETURNS text
	AS 'MODULE_PATHNAME', 'uscc_division'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION uscc_division(uscc) IS
	'Positions 3-8 of a unified social credit code: the GB/T 2260 division code of the registering authority.';
CREATE FUNCTION uscc_category(uscc) RETURNS text
	AS 'MODULE_PATHNAME', 'uscc_category'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION uscc_category(uscc) IS
	'Positions 1-2 of a unified social credit code: registration authority (9 = market regulation) and organisation category (1 = enterprise, 2 = individual business, 3 = farmers'' co-operative).';
CREATE FUNCTION uscc_is_strict(uscc) RETURNS boolean
	AS 'MODULE_PATHNAME', 'uscc_is_strict'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION uscc_is_strict(uscc) IS
	'True if the check character is right; false only for codes accepted under shilian.uscc_lenient.';

-- ---- licence_no: SC / JY licences and registration cards ------------------

CREATE TYPE licence_no;

CREATE FUNCTION licence_no_in(cstring) RETURNS licence_no
	AS 'MODULE_PATHNAME', 'license_no_in'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION licence_no_out(licence_no) RETURNS cstring
	AS 'MODULE_PATHNAME', 'license_no_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION licence_no_recv(internal) RETURNS licence_no
	AS 'MODULE_PATHNAME', 'license_no_recv'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION licence_no_send(licence_no) RETURNS bytea
	AS 'MODULE_PATHNAME', 'license_no_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE licence_no (
	INPUT = licence_no_in, OUTPUT = licence_no_out, RECEIVE = licence_no_recv, SEND = licence_no_send,
	LIKE = pg_catalog.int8
);
COMMENT ON TYPE licence_no IS
	'Food licence number: SC (production) or JY (business) + 14 digits, or a registration card (TF, XCY, XZF + 14 digits); 8 bytes, passed by value.';
COMMENT ON FUNCTION licence_no_in(cstring) IS
	'licence_no input: trims, upper-cases the prefix, checks prefix, length, digits and kind digit; the MOD 11,10 check digit only under shilian.licence_strict.';
COMMENT ON FUNCTION licence_no_out(licence_no) IS 'licence_no output: prefix + 14 digits.';
COMMENT ON FUNCTION licence_no_recv(internal) IS 'licence_no binary input: format version byte 1, then the text; runs every check of licence_no input.';
COMMENT ON FUNCTION licence_no_send(licence_no) IS 'licence_no binary output: format version byte 1, then the text.';

CREATE FUNCTION licence_no_eq(licence_no, licence_no) RETURNS bool
	AS 'int8eq'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_eq(licence_no, licence_no) IS 'licence_no equal.';
CREATE FUNCTION licence_no_ne(licence_no, licence_no) RETURNS bool
	AS 'int8ne'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_ne(licence_no, licence_no) IS 'licence_no not equal.';
CREATE FUNCTION licence_no_lt(licence_no, licence_no) RETURNS bool
	AS 'int8lt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_lt(licence_no, licence_no) IS 'licence_no less than (in text order).';
CREATE FUNCTION licence_no_le(licence_no, licence_no) RETURNS bool
	AS 'int8le'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_le(licence_no, licence_no) IS 'licence_no less than or equal (in text order).';
CREATE FUNCTION licence_no_gt(licence_no, licence_no) RETURNS bool
	AS 'int8gt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_gt(licence_no, licence_no) IS 'licence_no greater than (in text order).';
CREATE FUNCTION licence_no_ge(licence_no, licence_no) RETURNS bool
	AS 'int8ge'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_ge(licence_no, licence_no) IS 'licence_no greater than or equal (in text order).';

CREATE OPERATOR = (
	LEFTARG = licence_no, RIGHTARG = licence_no, FUNCTION = licence_no_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
COMMENT ON OPERATOR = (licence_no, licence_no) IS 'licence_no equal';
CREATE OPERATOR <> (
	LEFTARG = licence_no, RIGHTARG = licence_no, FUNCTION = licence_no_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (licence_no, licence_no) IS 'licence_no not equal';
CREATE OPERATOR < (
	LEFTARG = licence_no, RIGHTARG = licence_no, FUNCTION = licence_no_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (licence_no, licence_no) IS 'licence_no less than (in text order)';
CREATE OPERATOR <= (
	LEFTARG = licence_no, RIGHTARG = licence_no, FUNCTION = licence_no_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (licence_no, licence_no) IS 'licence_no less than or equal (in text order)';
CREATE OPERATOR > (
	LEFTARG = licence_no, RIGHTARG = licence_no, FUNCTION = licence_no_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (licence_no, licence_no) IS 'licence_no greater than (in text order)';
CREATE OPERATOR >= (
	LEFTARG = licence_no, RIGHTARG = licence_no, FUNCTION = licence_no_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (licence_no, licence_no) IS 'licence_no greater than or equal (in text order)';

CREATE FUNCTION licence_no_cmp(licence_no, licence_no) RETURNS integer
	AS 'btint8cmp'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_cmp(licence_no, licence_no) IS 'btree support: -1, 0 or 1, in text order.';
CREATE FUNCTION licence_no_sortsupport(internal) RETURNS void
	AS 'btint8sortsupport'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION licence_no_sortsupport(internal) IS 'btree sort support for licence_no.';
CREATE FUNCTION licence_no_hash(licence_no) RETURNS integer
	AS 'hashint8'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_hash(licence_no) IS 'hash support: 32-bit hash of a licence_no.';
CREATE FUNCTION licence_no_hash_extended(licence_no, bigint) RETURNS bigint
	AS 'hashint8extended'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION licence_no_hash_extended(licence_no, bigint) IS 'hash support: seeded 64-bit hash of a licence_no.';

CREATE OPERATOR CLASS licence_no_ops
	DEFAULT FOR TYPE licence_no USING btree AS
		OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
		FUNCTION 1 licence_no_cmp(licence_no, licence_no),
		FUNCTION 2 licence_no_sortsupport(internal);
COMMENT ON OPERATOR CLASS licence_no_ops USING btree IS 'B-tree support for licence_no, in text order.';
CREATE OPERATOR CLASS licence_no_ops
	DEFAULT FOR TYPE licence_no USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 licence_no_hash(licence_no),
		FUNCTION 2 licence_no_hash_extended(licence_no, bigint);
COMMENT ON OPERATOR CLASS licence_no_ops USING hash IS 'Hash index and hash join support for licence_no.';

CREATE FUNCTION licence_kind(licence_no) RETURNS text
	AS 'MODULE_PATHNAME', 'license_kind'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION licence_kind(licence_no) IS
	'The prefix: SC (food production licence), JY (food business licence), or a registration card: TF (food vendor), XCY (small catering), XZF (food workshop).';
CREATE FUNCTION licence_category(licence_no) RETURNS text
	AS 'MODULE_PATHNAME', 'license_category'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION licence_category(licence_no) IS
	'SC: the 3-digit category code (kind 1 food / 2 additive + 2-digit food category); JY: the business type (1 sales, 2 catering, 3 unit canteen); registration cards: NULL.';
CREATE FUNCTION licence_region(licence_no) RETURNS text
	AS 'MODULE_PATHNAME', 'license_region'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION licence_region(licence_no) IS
	'The 6-digit region field of the issuing authority (usually, not always, a GB/T 2260 code).';
CREATE FUNCTION licence_check_ok(licence_no) RETURNS boolean
	AS 'MODULE_PATHNAME', 'license_check_ok'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION licence_check_ok(licence_no) IS
	'True if the last digit is the ISO/IEC 7064 MOD 11,10 check digit of the 13 digits before it (no official algorithm is published; most real numbers match).';

-- The 0.2.0 spelling "license", kept as deprecated aliases for one version
-- (removed in 0.4.0; docs/development.md, deprecation policy): the type name
-- as a domain over licence_no, so a value or a column declared license_no is a
-- licence_no to every function and operator; the functions as wrappers.
CREATE DOMAIN license_no AS licence_no;
COMMENT ON DOMAIN license_no IS
	'DEPRECATED (removed in 0.4.0): use licence_no. A domain over licence_no without constraints.';
CREATE FUNCTION license_kind(licence_no) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_kind($1);
COMMENT ON FUNCTION license_kind(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_kind.';
CREATE FUNCTION license_category(licence_no) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_category($1);
COMMENT ON FUNCTION license_category(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_category.';
CREATE FUNCTION license_region(licence_no) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_region($1);
COMMENT ON FUNCTION license_region(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_region.';
CREATE FUNCTION license_check_ok(licence_no) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.licence_check_ok($1);
COMMENT ON FUNCTION license_check_ok(licence_no) IS
	'DEPRECATED (removed in 0.4.0): use licence_check_ok.';

-- ---- trace_code: 18-digit batch code ---------------------------------------

CREATE TYPE trace_code;

CREATE FUNCTION trace_code_in(cstring) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'trace_code_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION trace_code_out(trace_code) RETURNS cstring
	AS 'MODULE_PATHNAME', 'trace_code_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION trace_code_recv(internal) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'trace_code_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION trace_code_send(trace_code) RETURNS bytea
	AS 'MODULE_PATHNAME', 'trace_code_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE trace_code (
	INPUT = trace_code_in, OUTPUT = trace_code_out, RECEIVE = trace_code_recv, SEND = trace_code_send,
	LIKE = pg_catalog.int8
);
COMMENT ON TYPE trace_code IS
	'Batch trace code: 18 digits = 6-digit GB/T 2260 code of the issuing jurisdiction + 11-digit serial + Damm check digit; 8 bytes, passed by value.';
COMMENT ON FUNCTION trace_code_in(cstring) IS
	'trace_code input: trims, checks length (18), digits and the Damm check digit.';
COMMENT ON FUNCTION trace_code_out(trace_code) IS 'trace_code output: the 18 digits.';
COMMENT ON FUNCTION trace_code_recv(internal) IS 'trace_code binary input: format version byte 1, then the code as int8; runs every check of trace_code input.';
COMMENT ON FUNCTION trace_code_send(trace_code) IS 'trace_code binary output: format version byte 1, then the code as int8.';

CREATE FUNCTION trace_code_eq(trace_code, trace_code) RETURNS bool
	AS 'int8eq'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_eq(trace_code, trace_code) IS 'trace_code equal.';
CREATE FUNCTION trace_code_ne(trace_code, trace_code) RETURNS bool
	AS 'int8ne'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_ne(trace_code, trace_code) IS 'trace_code not equal.';
CREATE FUNCTION trace_code_lt(trace_code, trace_code) RETURNS bool
	AS 'int8lt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_lt(trace_code, trace_code) IS 'trace_code less than (in numeric order, which is text order).';
CREATE FUNCTION trace_code_le(trace_code, trace_code) RETURNS bool
	AS 'int8le'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_le(trace_code, trace_code) IS 'trace_code less than or equal (in numeric order, which is text order).';
CREATE FUNCTION trace_code_gt(trace_code, trace_code) RETURNS bool
	AS 'int8gt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_gt(trace_code, trace_code) IS 'trace_code greater than (in numeric order, which is text order).';
CREATE FUNCTION trace_code_ge(trace_code, trace_code) RETURNS bool
	AS 'int8ge'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_ge(trace_code, trace_code) IS 'trace_code greater than or equal (in numeric order, which is text order).';

CREATE OPERATOR = (
	LEFTARG = trace_code, RIGHTARG = trace_code, FUNCTION = trace_code_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
COMMENT ON OPERATOR = (trace_code, trace_code) IS 'trace_code equal';
CREATE OPERATOR <> (
	LEFTARG = trace_code, RIGHTARG = trace_code, FUNCTION = trace_code_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (trace_code, trace_code) IS 'trace_code not equal';
CREATE OPERATOR < (
	LEFTARG = trace_code, RIGHTARG = trace_code, FUNCTION = trace_code_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (trace_code, trace_code) IS 'trace_code less than (in numeric order, which is text order)';
CREATE OPERATOR <= (
	LEFTARG = trace_code, RIGHTARG = trace_code, FUNCTION = trace_code_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (trace_code, trace_code) IS 'trace_code less than or equal (in numeric order, which is text order)';
CREATE OPERATOR > (
	LEFTARG = trace_code, RIGHTARG = trace_code, FUNCTION = trace_code_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (trace_code, trace_code) IS 'trace_code greater than (in numeric order, which is text order)';
CREATE OPERATOR >= (
	LEFTARG = trace_code, RIGHTARG = trace_code, FUNCTION = trace_code_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (trace_code, trace_code) IS 'trace_code greater than or equal (in numeric order, which is text order)';

CREATE FUNCTION trace_code_cmp(trace_code, trace_code) RETURNS integer
	AS 'btint8cmp'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_cmp(trace_code, trace_code) IS 'btree support: -1, 0 or 1.';
CREATE FUNCTION trace_code_sortsupport(internal) RETURNS void
	AS 'btint8sortsupport'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trace_code_sortsupport(internal) IS 'btree sort support for trace_code.';
CREATE FUNCTION trace_code_hash(trace_code) RETURNS integer
	AS 'hashint8'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_hash(trace_code) IS 'hash support: 32-bit hash of a trace_code.';
CREATE FUNCTION trace_code_hash_extended(trace_code, bigint) RETURNS bigint
	AS 'hashint8extended'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION trace_code_hash_extended(trace_code, bigint) IS 'hash support: seeded 64-bit hash of a trace_code.';

CREATE OPERATOR CLASS trace_code_ops
	DEFAULT FOR TYPE trace_code USING btree AS
		OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
		FUNCTION 1 trace_code_cmp(trace_code, trace_code),
		FUNCTION 2 trace_code_sortsupport(internal);
COMMENT ON OPERATOR CLASS trace_code_ops USING btree IS 'B-tree support for trace_code.';
CREATE OPERATOR CLASS trace_code_ops
	DEFAULT FOR TYPE trace_code USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 trace_code_hash(trace_code),
		FUNCTION 2 trace_code_hash_extended(trace_code, bigint);
COMMENT ON OPERATOR CLASS trace_code_ops USING hash IS 'Hash index and hash join support for trace_code.';

CREATE SEQUENCE trace_code_serial MINVALUE 1 MAXVALUE 99999999999 NO CYCLE;
COMMENT ON SEQUENCE trace_code_serial IS
	'Serials of trace_code_next(): one sequence for all jurisdictions, so a serial is never reused (11 digits).';
SELECT pg_catalog.pg_extension_config_dump('trace_code_serial', '');
-- Those who create batches draw serials; regulators and the public do not.
GRANT USAGE ON SEQUENCE trace_code_serial TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION trace_code_next(jurisdiction text) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'trace_code_next'
	LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION trace_code_next(text) IS
	'A new trace code for a 6-digit GB/T 2260 jurisdiction code, serial from shilian.trace_code_serial (USAGE granted to shilian_operator, shilian_system and shilian_admin).';
CREATE FUNCTION trace_code_region(trace_code) RETURNS text
	AS 'MODULE_PATHNAME', 'trace_code_region'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION trace_code_region(trace_code) IS
	'The first 6 digits of a trace code: the GB/T 2260 code of the issuing jurisdiction (its first 2 digits route to the province).';

-- ---- GS1 keys and Digital Link ---------------------------------------------

CREATE FUNCTION gtin_check_ok(gtin text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'gtin_check_ok'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gtin_check_ok(text) IS
	'True if gtin is a GTIN-8, -12, -13 or -14 (digits only) with a correct GS1 mod 10 check digit.';
CREATE FUNCTION gs1_check_ok(key text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'gs1_check_ok'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gs1_check_ok(text) IS
	'True if key is 2 or more digits whose last is the GS1 mod 10 check digit (GTIN, GLN, SSCC, GSIN).';
CREATE FUNCTION gs1_digital_link(gtin text, lot text DEFAULT NULL) RETURNS text
	AS 'MODULE_PATHNAME', 'gs1_digital_link'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gs1_digital_link(text, text) IS
	'GS1 Digital Link URI https://id.gs1.org/01/<GTIN-14>/10/<lot> (without /10/ when lot is NULL); the GTIN check digit and the lot (1-20 characters of GS1 set 82) are validated.';
CREATE FUNCTION gs1_parse_digital_link(uri text, OUT gtin text, OUT lot text)
	AS 'MODULE_PATHNAME', 'gs1_parse_digital_link'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gs1_parse_digital_link(text) IS
	'The GTIN-14 and lot (NULL if none) of an uncompressed GS1 Digital Link URI on any host; both validated.';

-- ---- qty: exact quantity with a unit --------------------------------------

CREATE TYPE qty;

CREATE FUNCTION qty_input(cstring) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_input'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION qty_output(qty) RETURNS cstring
	AS 'MODULE_PATHNAME', 'qty_output'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION qty_recv(internal) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION qty_send(qty) RETURNS bytea
	AS 'MODULE_PATHNAME', 'qty_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE qty (
	INPUT = qty_input, OUTPUT = qty_output, RECEIVE = qty_recv, SEND = qty_send,
	LIKE = pg_catalog.int8
);
COMMENT ON TYPE qty IS
	'Exact quantity with a unit: mass (g, kg, t, 斤), volume (mL, L) or count (pcs), kept in thousandths of g, mL or pcs; below 10^15 base units; 8 bytes, passed by value.';
COMMENT ON FUNCTION qty_input(cstring) IS
	'qty input: a decimal number and a unit, as in ''12.5 kg'', ''500g'', ''2 斤''; refused if not exact to 0.001 of the base unit.';
COMMENT ON FUNCTION qty_output(qty) IS 'qty output: exact decimal in t, kg or g; L or mL; pcs (the largest unit not above the amount).';
COMMENT ON FUNCTION qty_recv(internal) IS 'qty binary input: format version byte 1, dimension byte (0 mass, 1 volume, 2 count), int8 thousandths of g, mL or pcs; range checked.';
COMMENT ON FUNCTION qty_send(qty) IS 'qty binary output: format version byte 1, dimension byte (0 mass, 1 volume, 2 count), int8 thousandths of g, mL or pcs.';

CREATE FUNCTION qty_eq(qty, qty) RETURNS bool
	AS 'MODULE_PATHNAME', 'qty_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_eq(qty, qty) IS 'qty equal (same dimension and amount; a mass never equals a volume).';
CREATE FUNCTION qty_ne(qty, qty) RETURNS bool
	AS 'MODULE_PATHNAME', 'qty_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_ne(qty, qty) IS 'qty not equal (true for quantities of two dimensions).';
CREATE FUNCTION qty_lt(qty, qty) RETURNS bool
	AS 'MODULE_PATHNAME', 'qty_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_lt(qty, qty) IS 'qty less than in the btree order (dimension mass < volume < count, then amount).';
CREATE FUNCTION qty_le(qty, qty) RETURNS bool
	AS 'MODULE_PATHNAME', 'qty_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_le(qty, qty) IS 'qty less than or equal in the btree order (dimension mass < volume < count, then amount).';
CREATE FUNCTION qty_gt(qty, qty) RETURNS bool
	AS 'MODULE_PATHNAME', 'qty_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_gt(qty, qty) IS 'qty greater than in the btree order (dimension mass < volume < count, then amount).';
CREATE FUNCTION qty_ge(qty, qty) RETURNS bool
	AS 'MODULE_PATHNAME', 'qty_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_ge(qty, qty) IS 'qty greater than or equal in the btree order (dimension mass < volume < count, then amount).';

CREATE OPERATOR = (
	LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
COMMENT ON OPERATOR = (qty, qty) IS 'qty equal (false across dimensions)';
CREATE OPERATOR <> (
	LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (qty, qty) IS 'qty not equal (true across dimensions)';
CREATE OPERATOR < (
	LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (qty, qty) IS 'qty less than in the btree order (mass < volume < count, then amount)';
CREATE OPERATOR <= (
	LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (qty, qty) IS 'qty less than or equal in the btree order (mass < volume < count, then amount)';
CREATE OPERATOR > (
	LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (qty, qty) IS 'qty greater than in the btree order (mass < volume < count, then amount)';
CREATE OPERATOR >= (
	LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (qty, qty) IS 'qty greater than or equal in the btree order (mass < volume < count, then amount)';

CREATE FUNCTION qty_cmp(qty, qty) RETURNS integer
	AS 'MODULE_PATHNAME', 'qty_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_cmp(qty, qty) IS 'btree support: -1, 0 or 1 in the total order by dimension (mass < volume < count), then amount in the base unit; never an error.';
CREATE FUNCTION qty_hash(qty) RETURNS integer
	AS 'hashint8'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION qty_hash(qty) IS 'hash support: 32-bit hash of a qty (equal quantities have one representation).';
CREATE FUNCTION qty_hash_extended(qty, bigint) RETURNS bigint
	AS 'hashint8extended'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION qty_hash_extended(qty, bigint) IS 'hash support: seeded 64-bit hash of a qty.';

CREATE OPERATOR CLASS qty_ops
	DEFAULT FOR TYPE qty USING btree AS
		OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
		FUNCTION 1 qty_cmp(qty, qty);
COMMENT ON OPERATOR CLASS qty_ops USING btree IS 'B-tree support for qty: a total order by dimension (mass < volume < count), then amount, so columns mixing units sort, index and analyze.';
CREATE OPERATOR CLASS qty_ops
	DEFAULT FOR TYPE qty USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 qty_hash(qty),
		FUNCTION 2 qty_hash_extended(qty, bigint);
COMMENT ON OPERATOR CLASS qty_ops USING hash IS 'Hash index and hash join support for qty.';

CREATE FUNCTION qty(amount numeric, unit text) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_make'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty(numeric, text) IS
	'A quantity from an amount and a unit (g, kg, t, 斤, mL, L, pcs, …); refused if not exact to 0.001 of the base unit.';
CREATE FUNCTION qty_in(q qty, unit text) RETURNS numeric
	AS 'MODULE_PATHNAME', 'qty_in_unit'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_in(qty, text) IS
	'The exact amount of a quantity in a unit of its dimension, as in qty_in(''1.5 kg'', ''g'') = 1500.';
CREATE FUNCTION qty_dimension(qty) RETURNS text
	AS 'MODULE_PATHNAME', 'qty_dimension'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_dimension(qty) IS 'The dimension of a quantity: mass, volume or count.';

CREATE FUNCTION qty_add(qty, qty) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_add'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_add(qty, qty) IS 'Exact sum of two quantities of one dimension.';
CREATE FUNCTION qty_sub(qty, qty) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_sub'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_sub(qty, qty) IS 'Exact difference of two quantities of one dimension.';
CREATE FUNCTION qty_neg(qty) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_neg'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_neg(qty) IS 'The negated quantity.';
CREATE FUNCTION qty_mul(qty, numeric) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_mul'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_mul(qty, numeric) IS 'A quantity times a number, rounded half away from zero to 0.001 of the base unit.';
CREATE FUNCTION numeric_mul_qty(numeric, qty) RETURNS qty
	AS 'MODULE_PATHNAME', 'numeric_mul_qty'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION numeric_mul_qty(numeric, qty) IS 'A number times a quantity, rounded half away from zero to 0.001 of the base unit.';
CREATE FUNCTION qty_div(qty, numeric) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_div'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_div(qty, numeric) IS 'A quantity divided by a number, rounded half away from zero to 0.001 of the base unit.';
CREATE FUNCTION qty_ratio(qty, qty) RETURNS numeric
	AS 'MODULE_PATHNAME', 'qty_ratio'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_ratio(qty, qty) IS 'The ratio of two quantities of one dimension, as numeric.';

CREATE OPERATOR + (LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_add, COMMUTATOR = +);
COMMENT ON OPERATOR + (qty, qty) IS 'exact sum (same dimension)';
CREATE OPERATOR - (LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_sub);
COMMENT ON OPERATOR - (qty, qty) IS 'exact difference (same dimension)';
CREATE OPERATOR - (RIGHTARG = qty, FUNCTION = qty_neg);
COMMENT ON OPERATOR - (NONE, qty) IS 'negation';
CREATE OPERATOR * (LEFTARG = qty, RIGHTARG = numeric, FUNCTION = qty_mul, COMMUTATOR = *);
COMMENT ON OPERATOR * (qty, numeric) IS 'quantity times number (rounded to 0.001 of the base unit)';
CREATE OPERATOR * (LEFTARG = numeric, RIGHTARG = qty, FUNCTION = numeric_mul_qty, COMMUTATOR = *);
COMMENT ON OPERATOR * (numeric, qty) IS 'number times quantity (rounded to 0.001 of the base unit)';
CREATE OPERATOR / (LEFTARG = qty, RIGHTARG = numeric, FUNCTION = qty_div);
COMMENT ON OPERATOR / (qty, numeric) IS 'quantity divided by number (rounded to 0.001 of the base unit)';
CREATE OPERATOR / (LEFTARG = qty, RIGHTARG = qty, FUNCTION = qty_ratio);
COMMENT ON OPERATOR / (qty, qty) IS 'ratio of two quantities of one dimension';

CREATE FUNCTION qty_smaller(qty, qty) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_smaller'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_smaller(qty, qty) IS 'The smaller of two quantities of one dimension (min() support).';
CREATE FUNCTION qty_larger(qty, qty) RETURNS qty
	AS 'MODULE_PATHNAME', 'qty_larger'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION qty_larger(qty, qty) IS 'The larger of two quantities of one dimension (max() support).';

CREATE AGGREGATE sum(qty) (
	SFUNC = qty_add, STYPE = qty, COMBINEFUNC = qty_add, PARALLEL = SAFE
);
COMMENT ON AGGREGATE sum(qty) IS 'Exact sum of quantities of one dimension (an error if they mix); NULL for no rows.';
-- min and max refuse mixed dimensions like sum; without a SORTOP the planner
-- never answers them from the btree order (which would not refuse).
CREATE AGGREGATE min(qty) (
	SFUNC = qty_smaller, STYPE = qty, COMBINEFUNC = qty_smaller, PARALLEL = SAFE
);
COMMENT ON AGGREGATE min(qty) IS 'The smallest quantity (one dimension; an error if they mix).';
CREATE AGGREGATE max(qty) (
	SFUNC = qty_larger, STYPE = qty, COMBINEFUNC = qty_larger, PARALLEL = SAFE
);
COMMENT ON AGGREGATE max(qty) IS 'The largest quantity (one dimension; an error if they mix).';

-- ---- strict dates and timestamps (extension/core/strictdate.c) -------------------
-- The one reading of user text as a date or timestamptz: YYYY-MM-DD only;
-- RFC 3339 with Z or ±HH:MM only (never read in the session's zone).
-- Bulk import, the record functions' JSON lines, EPCIS capture and the
-- gateway's SQL all go through these (SLD01-SLD05 naming the field).
CREATE FUNCTION strict_date(value text, field text DEFAULT NULL) RETURNS date
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'sl_strict_date';
COMMENT ON FUNCTION strict_date(text, text) IS
	'value as a date, only in the form YYYY-MM-DD with a real day (SLD01 otherwise, SLD02 for no such day, e.g. 2026-02-30); field names the input in the message; NULL gives NULL.';

CREATE FUNCTION strict_timestamptz(value text, field text DEFAULT NULL) RETURNS timestamptz
	LANGUAGE C IMMUTABLE PARALLEL SAFE
	AS 'MODULE_PATHNAME', 'sl_strict_timestamptz';
COMMENT ON FUNCTION strict_timestamptz(text, text) IS
	'value as a timestamptz, only as an RFC 3339 date-time with Z or ±HH:MM (SLD03 not RFC 3339, SLD04 no offset, SLD05 a field out of range); never read in the session''s TimeZone; field names the input in the message; NULL gives NULL.';

-- ---- implicit casts from plain values ----------------------------------------
-- So that array literals need no casts: transform(ARRAY['37...', '37...'],
-- ARRAY['2 kg', '1 kg'], ...) builds text[] (and ARRAY[370102...] bigint[]),
-- which reach trace_code[] and qty[] only through an implicit element cast.
-- Through the types' input functions: every check of the input applies.
CREATE CAST (text AS trace_code) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (text AS trace_code) IS 'A trace code from its 18 digits as text (trace_code input; implicit, for array literals).';
CREATE CAST (bigint AS trace_code) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (bigint AS trace_code) IS 'A trace code from its 18 digits as a number (trace_code input; implicit, for array literals).';
CREATE CAST (text AS qty) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (text AS qty) IS 'A quantity from its text, e.g. ''2.5 kg'' (qty input; implicit, for array literals).';
