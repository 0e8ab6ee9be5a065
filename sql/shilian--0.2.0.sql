-- shilian install script, part 00: guard, schema-wide basics, version and hash.
-- The install script sql/shilian--<version>.sql is built by concatenating
-- sql/src/*.sql in file-name order; each area owns one file.

\echo Use "CREATE EXTENSION shilian" to load this file. \quit

CREATE FUNCTION version() RETURNS text
	AS 'MODULE_PATHNAME', 'shilian_version'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shilian.version() IS
	'Version of the loaded shilian library (for example 0.2.0).';

CREATE FUNCTION hash(data bytea, algorithm text DEFAULT 'sha256') RETURNS bytea
	AS 'MODULE_PATHNAME', 'shilian_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shilian.hash(bytea, text) IS
	'Digest of data with the ledger''s hash functions: sha256 (FIPS 180-4, default) or sm3 (GB/T 32905-2016); 32 bytes.';

-- The platform's days: every date derived from a timestamp (record dates,
-- counters, month boundaries, exports) is the day in shilian.timezone
-- (Asia/Shanghai by default), whatever the session's TimeZone. One C
-- function (extension/platform_date.c) behind both.
CREATE FUNCTION platform_date(ts timestamptz) RETURNS date
	AS 'MODULE_PATHNAME', 'platform_date'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shilian.platform_date(timestamptz) IS
	'The platform day of a moment: its date in shilian.timezone (default Asia/Shanghai), whatever the session''s TimeZone.';
CREATE FUNCTION platform_today() RETURNS date
	AS 'MODULE_PATHNAME', 'platform_today'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION shilian.platform_today() IS
	'Today on the platform: platform_date of the transaction''s start (current_date in shilian.timezone).';
-- shilian install script, part 01: refuse a database that is not UTF8.
-- Names, addresses and report documents are Chinese text, and the ledger's
-- canonical encoding is UTF-8 (docs/ledger-format.md): in a SQL_ASCII or
-- LATIN1 database the first record would fail (SLL05), so the install does.
DO $encoding$
BEGIN
	IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX01',
			MESSAGE = format('shilian needs a UTF8 database: database %I is encoded %s',
				pg_catalog.current_database(), pg_catalog.getdatabaseencoding()),
			DETAIL = 'Names, addresses and reports are Chinese text, and ledger entries are hashed over their UTF-8 bytes.',
			HINT = 'Create the database with createdb -E UTF8 -T template0 --locale=C.UTF-8 (or LC_COLLATE/LC_CTYPE of a UTF-8 locale) and install the extension there.';
	END IF;
END
$encoding$;
-- shilian install script, part 05: the platform's roles (see docs/security.md).
-- Roles are cluster-wide, so they are created only if missing (a second
-- database with the extension shares them) and survive DROP EXTENSION.
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['shilian_operator', 'shilian_regulator', 'shilian_system',
							 'shilian_public', 'shilian_admin']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	-- The gateway logs in as shilian_gateway and switches, per transaction,
	-- to the caller's role; NOINHERIT so it has no rights of its own.
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shilian_gateway') THEN
		CREATE ROLE shilian_gateway LOGIN NOINHERIT;
	END IF;
	IF NOT pg_has_role('shilian_gateway', 'shilian_public', 'MEMBER') THEN
		GRANT shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin
			TO shilian_gateway;
	END IF;
END
$roles$;

GRANT USAGE ON SCHEMA shilian
	TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin, shilian_gateway;
-- shilian install script, part 10: identifier and quantity types
-- (docs/types.md). uscc, license_no, trace_code and qty; GS1 keys and
-- Digital Link. C in extension/{uscc,license_no,trace_code,gs1,qty}.c.

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

-- ---- license_no: SC / JY licences and registration cards ------------------

CREATE TYPE license_no;

CREATE FUNCTION license_no_in(cstring) RETURNS license_no
	AS 'MODULE_PATHNAME', 'license_no_in'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION license_no_out(license_no) RETURNS cstring
	AS 'MODULE_PATHNAME', 'license_no_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION license_no_recv(internal) RETURNS license_no
	AS 'MODULE_PATHNAME', 'license_no_recv'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION license_no_send(license_no) RETURNS bytea
	AS 'MODULE_PATHNAME', 'license_no_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE license_no (
	INPUT = license_no_in, OUTPUT = license_no_out, RECEIVE = license_no_recv, SEND = license_no_send,
	LIKE = pg_catalog.int8
);
COMMENT ON TYPE license_no IS
	'Food licence number: SC (production) or JY (business) + 14 digits, or a registration card (TF, XCY, XZF + 14 digits); 8 bytes, passed by value.';
COMMENT ON FUNCTION license_no_in(cstring) IS
	'license_no input: trims, upper-cases the prefix, checks prefix, length, digits and kind digit; the MOD 11,10 check digit only under shilian.license_strict.';
COMMENT ON FUNCTION license_no_out(license_no) IS 'license_no output: prefix + 14 digits.';
COMMENT ON FUNCTION license_no_recv(internal) IS 'license_no binary input: format version byte 1, then the text; runs every check of license_no input.';
COMMENT ON FUNCTION license_no_send(license_no) IS 'license_no binary output: format version byte 1, then the text.';

CREATE FUNCTION license_no_eq(license_no, license_no) RETURNS bool
	AS 'int8eq'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_eq(license_no, license_no) IS 'license_no equal.';
CREATE FUNCTION license_no_ne(license_no, license_no) RETURNS bool
	AS 'int8ne'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_ne(license_no, license_no) IS 'license_no not equal.';
CREATE FUNCTION license_no_lt(license_no, license_no) RETURNS bool
	AS 'int8lt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_lt(license_no, license_no) IS 'license_no less than (in text order).';
CREATE FUNCTION license_no_le(license_no, license_no) RETURNS bool
	AS 'int8le'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_le(license_no, license_no) IS 'license_no less than or equal (in text order).';
CREATE FUNCTION license_no_gt(license_no, license_no) RETURNS bool
	AS 'int8gt'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_gt(license_no, license_no) IS 'license_no greater than (in text order).';
CREATE FUNCTION license_no_ge(license_no, license_no) RETURNS bool
	AS 'int8ge'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_ge(license_no, license_no) IS 'license_no greater than or equal (in text order).';

CREATE OPERATOR = (
	LEFTARG = license_no, RIGHTARG = license_no, FUNCTION = license_no_eq,
	COMMUTATOR = =, NEGATOR = <>,
	RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
COMMENT ON OPERATOR = (license_no, license_no) IS 'license_no equal';
CREATE OPERATOR <> (
	LEFTARG = license_no, RIGHTARG = license_no, FUNCTION = license_no_ne,
	COMMUTATOR = <>, NEGATOR = =,
	RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (license_no, license_no) IS 'license_no not equal';
CREATE OPERATOR < (
	LEFTARG = license_no, RIGHTARG = license_no, FUNCTION = license_no_lt,
	COMMUTATOR = >, NEGATOR = >=,
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (license_no, license_no) IS 'license_no less than (in text order)';
CREATE OPERATOR <= (
	LEFTARG = license_no, RIGHTARG = license_no, FUNCTION = license_no_le,
	COMMUTATOR = >=, NEGATOR = >,
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (license_no, license_no) IS 'license_no less than or equal (in text order)';
CREATE OPERATOR > (
	LEFTARG = license_no, RIGHTARG = license_no, FUNCTION = license_no_gt,
	COMMUTATOR = <, NEGATOR = <=,
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (license_no, license_no) IS 'license_no greater than (in text order)';
CREATE OPERATOR >= (
	LEFTARG = license_no, RIGHTARG = license_no, FUNCTION = license_no_ge,
	COMMUTATOR = <=, NEGATOR = <,
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (license_no, license_no) IS 'license_no greater than or equal (in text order)';

CREATE FUNCTION license_no_cmp(license_no, license_no) RETURNS integer
	AS 'btint8cmp'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_cmp(license_no, license_no) IS 'btree support: -1, 0 or 1, in text order.';
CREATE FUNCTION license_no_sortsupport(internal) RETURNS void
	AS 'btint8sortsupport'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION license_no_sortsupport(internal) IS 'btree sort support for license_no.';
CREATE FUNCTION license_no_hash(license_no) RETURNS integer
	AS 'hashint8'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_hash(license_no) IS 'hash support: 32-bit hash of a license_no.';
CREATE FUNCTION license_no_hash_extended(license_no, bigint) RETURNS bigint
	AS 'hashint8extended'
	LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION license_no_hash_extended(license_no, bigint) IS 'hash support: seeded 64-bit hash of a license_no.';

CREATE OPERATOR CLASS license_no_ops
	DEFAULT FOR TYPE license_no USING btree AS
		OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,
		FUNCTION 1 license_no_cmp(license_no, license_no),
		FUNCTION 2 license_no_sortsupport(internal);
COMMENT ON OPERATOR CLASS license_no_ops USING btree IS 'B-tree support for license_no, in text order.';
CREATE OPERATOR CLASS license_no_ops
	DEFAULT FOR TYPE license_no USING hash AS
		OPERATOR 1 =,
		FUNCTION 1 license_no_hash(license_no),
		FUNCTION 2 license_no_hash_extended(license_no, bigint);
COMMENT ON OPERATOR CLASS license_no_ops USING hash IS 'Hash index and hash join support for license_no.';

CREATE FUNCTION license_kind(license_no) RETURNS text
	AS 'MODULE_PATHNAME', 'license_kind'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION license_kind(license_no) IS
	'The prefix: SC (food production licence), JY (food business licence), or a registration card: TF (food vendor), XCY (small catering), XZF (food workshop).';
CREATE FUNCTION license_category(license_no) RETURNS text
	AS 'MODULE_PATHNAME', 'license_category'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION license_category(license_no) IS
	'SC: the 3-digit category code (kind 1 food / 2 additive + 2-digit food category); JY: the business type (1 sales, 2 catering, 3 unit canteen); registration cards: NULL.';
CREATE FUNCTION license_region(license_no) RETURNS text
	AS 'MODULE_PATHNAME', 'license_region'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION license_region(license_no) IS
	'The 6-digit region field of the issuing authority (usually, not always, a GB/T 2260 code).';
CREATE FUNCTION license_check_ok(license_no) RETURNS boolean
	AS 'MODULE_PATHNAME', 'license_check_ok'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION license_check_ok(license_no) IS
	'True if the last digit is the ISO/IEC 7064 MOD 11,10 check digit of the 13 digits before it (no official algorithm is published; most real numbers match).';

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
-- shilian install script, part 15: the request context (docs/security.md).
-- The gateway sets shilian.operator_id, shilian.jurisdiction and
-- shilian.client per transaction; the row-level security policies
-- (part 80) read them through these STABLE SQL functions, which the planner
-- inlines into the policy quals, so that an index on owner_id serves
-- "owner_id = current_operator()" with the setting read once per scan.
-- They come before the tables so that any part may use them.

CREATE FUNCTION current_operator() RETURNS bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN NULLIF(pg_catalog.current_setting('shilian.operator_id', true), '')::bigint;
COMMENT ON FUNCTION current_operator() IS
	'The operator this transaction acts for (setting shilian.operator_id), or NULL.';

CREATE FUNCTION current_jurisdiction() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN NULLIF(pg_catalog.current_setting('shilian.jurisdiction', true), '');
COMMENT ON FUNCTION current_jurisdiction() IS
	'The jurisdiction code of the regulator this transaction acts for (setting shilian.jurisdiction), or NULL.';

CREATE FUNCTION current_client() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN NULLIF(pg_catalog.current_setting('shilian.client', true), '');
COMMENT ON FUNCTION current_client() IS
	'The API client (system) this transaction acts for (setting shilian.client), or NULL.';

-- The write functions' rule for reading, for functions that must read with
-- definer rights (receipt_drafts): the caller's own records (operator), its
-- bound operators' (system), its subtree's (regulator), everyone's (admin).
CREATE FUNCTION may_see(operator bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_may_see'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION may_see(bigint) IS
	'Whether the calling role, with its request settings, may see the records of the operator (docs/security.md).';

CREATE FUNCTION require_see(operator bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_require_see'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION require_see(bigint) IS
	'True when may_see(operator), else error 42501: the guard of definer-rights read functions.';
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
	registered_at     timestamptz NOT NULL DEFAULT now(),
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
	licence_no  license_no NOT NULL UNIQUE,
	operator_id bigint NOT NULL REFERENCES operator (id),
	scope       text[] NOT NULL CHECK (cardinality(scope) > 0 AND scope <@ ARRAY[
		'vegetables', 'fruit', 'aquatic', 'grain', 'meat', 'dairy', 'edible_oil',
		'alcohol', 'health_food', 'infant_formula', 'other']),
	valid_from  date NOT NULL,
	valid_to    date NOT NULL,
	added_at    timestamptz NOT NULL DEFAULT now(),
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
	supplier_licence license_no,
	certificate      jsonb CHECK (jsonb_typeof(certificate) = 'object'),
	created_at       timestamptz NOT NULL DEFAULT now(),
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
-- rejected. A processing step (kind transform) is written received.
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
		CHECK (status IN ('pending', 'received', 'rejected')),
	reject_reason  text,
	seller_licence license_no,
	created_at     timestamptz NOT NULL DEFAULT now(),
	CHECK (from_batch <> to_batch),
	CHECK ((status = 'received') = (to_batch IS NOT NULL)),
	CHECK (status = 'pending' OR received_at IS NOT NULL)
);
CREATE INDEX link_from_idx ON link (from_batch);
CREATE INDEX link_to_idx ON link (to_batch);
CREATE INDEX link_buyer_pending_idx ON link (buyer_id) WHERE status = 'pending';
CREATE INDEX link_seller_idx ON link (seller_id, shipped_on);
COMMENT ON TABLE link IS
	'Trace links between batches: sales (pending until received or rejected) and processing inputs; indexed by from_batch and to_batch for walks in both directions.';

-- Inspections: release (出厂检验), incoming (进货查验, one per receipt) and
-- sampling; the report document is checked for its required keys.
CREATE TABLE inspection (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id     bigint NOT NULL REFERENCES batch (id),
	operator_id  bigint NOT NULL REFERENCES operator (id),
	kind         text NOT NULL CHECK (kind IN ('release', 'incoming', 'sampling')),
	result       text NOT NULL CHECK (result IN ('pass', 'fail')),
	report       jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object'),
	link_id      bigint REFERENCES link (id),
	inspected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inspection_batch_idx ON inspection (batch_id);
COMMENT ON TABLE inspection IS
	'Inspection records: release (出厂检验), incoming (进货查验) and sampling, with a report document.';

-- Consumption: what leaves the chain (served, sold at retail, destroyed,
-- kept as a sample).
CREATE TABLE consumption (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id    bigint NOT NULL REFERENCES batch (id),
	operator_id bigint NOT NULL REFERENCES operator (id),
	qty         qty NOT NULL,
	kind        text NOT NULL CHECK (kind IN ('served', 'retail_sold', 'destroyed', 'sample_kept')),
	at          timestamptz NOT NULL DEFAULT now(),
	note        text
);
CREATE INDEX consumption_batch_idx ON consumption (batch_id);
COMMENT ON TABLE consumption IS
	'Quantities leaving the chain: served in a canteen, sold at retail, destroyed, kept as a sample.';

SELECT pg_catalog.pg_extension_config_dump('jurisdiction', '');
SELECT pg_catalog.pg_extension_config_dump('operator', '');
SELECT pg_catalog.pg_extension_config_dump('licence', '');
SELECT pg_catalog.pg_extension_config_dump('product', '');
SELECT pg_catalog.pg_extension_config_dump('batch', '');
SELECT pg_catalog.pg_extension_config_dump('link', '');
SELECT pg_catalog.pg_extension_config_dump('inspection', '');
SELECT pg_catalog.pg_extension_config_dump('consumption', '');
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

CREATE FUNCTION licence_add(operator bigint, licence_no license_no, scope text[],
		valid_from date, valid_to date) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sl_licence_add'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION licence_add(bigint, license_no, text[], date, date) IS
	'Record an operator''s SC/JY licence with the categories it covers and its validity period; returns the licence id.';
ALTER FUNCTION licence_add(bigint, license_no, text[], date, date)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION licence_add(bigint, license_no, text[], date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION licence_add(bigint, license_no, text[], date, date) TO shilian_regulator, shilian_admin;

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

CREATE FUNCTION receive(link bigint, qty qty, inspection jsonb,
		received_at timestamptz DEFAULT now(), reject_reason text DEFAULT NULL,
		into_batch trace_code DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) IS
	'Confirm a pending sale: creates the buyer''s batch pre-filled from the seller''s (or adds to the buyer''s batch into_batch) and its incoming inspection; a smaller quantity needs reject_reason and the rest returns to the seller''s batch.';
ALTER FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION receive(bigint, qty, jsonb, timestamptz, text, trace_code) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION reject(link bigint, reason text, rejected_at timestamptz DEFAULT now()) RETURNS void
	AS 'MODULE_PATHNAME', 'sl_reject'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION reject(bigint, text, timestamptz) IS
	'Refuse a whole pending sale with a reason; the shipped quantity returns to the seller''s batch.';
ALTER FUNCTION reject(bigint, text, timestamptz) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION reject(bigint, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reject(bigint, text, timestamptz) TO shilian_operator, shilian_system, shilian_admin;

CREATE FUNCTION receive_first_entry(buyer bigint, product bigint, qty qty, supplier jsonb,
		inspection jsonb, produced_on date DEFAULT shilian.platform_today(),
		received_at timestamptz DEFAULT now(), lot text DEFAULT NULL,
		certificate jsonb DEFAULT NULL) RETURNS trace_code
	AS 'MODULE_PATHNAME', 'sl_receive_first_entry'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION receive_first_entry(bigint, bigint, qty, jsonb, jsonb, date, timestamptz, text, jsonb) IS
	'First entry into the chain of goods from a supplier without records (a farmer at a market): supplier needs name and contact; returns the new batch''s trace code.';
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

CREATE FUNCTION consume(code trace_code, qty qty, kind text, at timestamptz DEFAULT now(),
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
		seller_address text, seller_contact text, seller_licence license_no, product bigint,
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
-- the end of shelf life, or two years from the record date without one.
--   kind 'incoming' (id: an incoming inspection, i.e. a receipt or first
--     entry): name, spec, quantity, production date or lot, shelf life,
--     purchase date, supplier name, address, contact, supplier licence,
--     certificate; an edible agricultural product needs only name,
--     quantity, purchase date and supplier name.
--   kind 'release' or 'sale' (id: a sale link): name, spec, quantity,
--     production date or lot, shelf life, inspection certificate number,
--     sale date, buyer name, address, contact.
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
BEGIN
	IF kind = 'incoming' THEN
		SELECT jsonb_build_object(
				'name', p.name, 'spec', p.spec, 'quantity', b_qty.q,
				'production_date_or_lot', coalesce(b.produced_on::text, b.lot),
				'shelf_life', coalesce(p.shelf_life_days::text, b.expires_on::text, 'none'),
				'purchase_date', shilian.platform_date(i.inspected_at),
				'supplier_name', coalesce(o.name, b.supplier->>'name'),
				'supplier_address', coalesce(o.address, b.supplier->>'address'),
				'supplier_contact', coalesce(o.contact, b.supplier->>'contact'),
				'supplier_licence', coalesce(b.supplier_licence::text, b.supplier->>'licence'),
				'certificate', coalesce(b.certificate, i.report->'certificate')),
			p.edible_agricultural, shilian.platform_date(i.inspected_at), b.expires_on
		  INTO f, agri, rec_date, expiry
		  FROM shilian.inspection i
		  JOIN shilian.batch b ON b.id = i.batch_id
		  JOIN shilian.product p ON p.id = b.product_id
		  LEFT JOIN shilian.link l ON l.id = i.link_id
		  LEFT JOIN shilian.operator o ON o.id = l.seller_id
		  CROSS JOIN LATERAL (SELECT coalesce(l.qty_accepted, b.qty)::text AS q) b_qty
		 WHERE i.id = record_completeness.id AND i.kind = 'incoming' AND shilian.may_see(i.operator_id);
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'SLR22',
				MESSAGE = format('unknown record: no incoming inspection has id %s', id);
		END IF;
		need := CASE WHEN agri
			THEN ARRAY['name', 'quantity', 'purchase_date', 'supplier_name']
			ELSE ARRAY['name', 'spec', 'quantity', 'production_date_or_lot', 'shelf_life',
				'purchase_date', 'supplier_name', 'supplier_address', 'supplier_contact',
				'supplier_licence', 'certificate'] END;
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
			HINT = 'Use "incoming", "release" or "sale".';
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
	'Which legally required fields a record lacks (kind incoming: an incoming inspection id; release/sale: a sale link id) and the date until which it must be kept.';
REVOKE ALL ON FUNCTION record_completeness(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_completeness(text, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
-- shilian install script, part 40: trace and recall (docs/trace.md). The
-- walks are C (extension/trace.c); the recall case is a table of targets
-- materialized from one walk, driven to closing by acknowledgements, each step
-- appended to the ledger.

-- ---- trace ------------------------------------------------------------------

CREATE FUNCTION trace_forward(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty, status text)
	AS 'MODULE_PATHNAME', 'sl_trace_forward'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION trace_forward(trace_code, integer, timestamptz) IS
	'Every batch downstream of a batch over links received by as_of: holder, depth, first link, quantity of the suspect lot that reached it (in the suspect lot''s unit) and quantity on hand; each batch once.';
REVOKE ALL ON FUNCTION trace_forward(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_forward(trace_code, integer, timestamptz) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION trace_backward(code trace_code, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty, status text)
	AS 'MODULE_PATHNAME', 'sl_trace_backward'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION trace_backward(trace_code, integer, timestamptz) IS
	'Every batch upstream of a batch over links received by as_of: holder, depth, first link, quantity of that source lot that went into the given lot (in the source''s unit) and quantity on hand; each batch once.';
REVOKE ALL ON FUNCTION trace_backward(trace_code, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_backward(trace_code, integer, timestamptz) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- direction 'forward' or 'backward'; anything else is refused (22023).
CREATE FUNCTION trace_walk(code trace_code, direction text, max_depth integer DEFAULT NULL,
		as_of timestamptz DEFAULT now())
	RETURNS TABLE (batch trace_code, holder bigint, depth integer, via_link bigint,
		qty_reached qty, qty_on_hand qty, status text)
	LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 100
	AS $$
BEGIN
	IF direction = 'forward' THEN
		RETURN QUERY SELECT * FROM shilian.trace_forward(code, max_depth, as_of);
	ELSIF direction = 'backward' THEN
		RETURN QUERY SELECT * FROM shilian.trace_backward(code, max_depth, as_of);
	ELSE
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown trace direction "%s"', direction),
			HINT = 'Use "forward" or "backward".';
	END IF;
END;
$$;
COMMENT ON FUNCTION trace_walk(trace_code, text, integer, timestamptz) IS
	'trace_forward or trace_backward by direction (''forward'' or ''backward'').';
REVOKE ALL ON FUNCTION trace_walk(trace_code, text, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_walk(trace_code, text, integer, timestamptz) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION trace_graph(code trace_code, direction text DEFAULT 'forward',
		max_depth integer DEFAULT NULL)
	RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	BEGIN ATOMIC
	WITH t AS (
		SELECT w.*, b.id, b.product_id, p.name AS product, o.name AS holder_name
		  FROM shilian.trace_walk(code, direction, max_depth) w
		  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) w.batch
		  JOIN shilian.product p ON p.id = b.product_id
		  JOIN shilian.operator o ON o.id = w.holder)
	SELECT jsonb_build_object(
		'root', code, 'direction', direction,
		'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
				'batch', t.batch, 'holder', t.holder::text, 'holder_name', t.holder_name,
				'product', t.product, 'depth', t.depth, 'via_link', t.via_link::text,
				'qty_reached', t.qty_reached, 'qty_on_hand', t.qty_on_hand, 'status', t.status)
				ORDER BY t.depth, t.batch), '[]') FROM t),
		'edges', (SELECT coalesce(jsonb_agg(jsonb_build_object(
				'link', l.id::text, 'kind', l.kind, 'from', f.batch, 'to', d.batch,
				'qty', l.qty_accepted, 'received_at', l.received_at)
				ORDER BY l.id), '[]')
			FROM shilian.link l JOIN t f ON f.id = l.from_batch JOIN t d ON d.id = l.to_batch
			WHERE l.status = 'received' AND l.received_at <= now()));
	END;
COMMENT ON FUNCTION trace_graph(trace_code, text, integer) IS
	'The traced sub-graph for drawing: {root, direction, nodes: [batch, holder, product, depth, quantities, status], edges: [link, kind, from, to, qty]}.';
REVOKE ALL ON FUNCTION trace_graph(trace_code, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_graph(trace_code, text, integer) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- ---- public access ------------------------------------------------------------
-- The code on a package is public and its format is guessable (region,
-- serial, check digit), so the consumer's page asks for a second, keyed part:
-- the lot's token, HMAC-SHA256 of the code under a per-database secret, 50
-- bits as 10 base32 characters (extension/core/lottoken.c), printed with the
-- code in the QR / Digital Link. Without the secret no token can be made, so
-- guessing codes finds nothing (docs/security.md).

-- The secret: drawn from the server's strong random source at CREATE
-- EXTENSION; no role has any privilege on the table (definer-rights
-- functions read it). pg_dump keeps it (config dump), so printed tokens stay
-- valid after a restore: the restore's CREATE EXTENSION draws a new row and
-- the dump brings back the old one, and the oldest row is the one in use.
CREATE TABLE public_secret (
	secret     bytea PRIMARY KEY CHECK (length(secret) = 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public_secret IS
	'The key of the public lot tokens (the oldest row is in use); readable by no role, only through public_token and public_trace.';
REVOKE ALL ON public_secret FROM PUBLIC;
ALTER TABLE public_secret ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('public_secret', '');

CREATE FUNCTION lot_secret_new() RETURNS bytea
	AS 'MODULE_PATHNAME', 'sl_lot_secret_new'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION lot_secret_new() IS
	'32 bytes from the server''s strong random source (pg_strong_random): a new key for public_secret.';
REVOKE ALL ON FUNCTION lot_secret_new() FROM PUBLIC;
CREATE FUNCTION lot_token(secret bytea, code trace_code) RETURNS text
	AS 'MODULE_PATHNAME', 'sl_lot_token_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION lot_token(bytea, trace_code) IS
	'The public token of a code under a key: HMAC-SHA256(key, ''shilian-lot-token-v1'' 0x00 code), first 50 bits as 10 lower-case Crockford base32 characters.';
REVOKE ALL ON FUNCTION lot_token(bytea, trace_code) FROM PUBLIC;
CREATE FUNCTION lot_token_ok(secret bytea, code trace_code, token text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_lot_token_ok_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lot_token_ok(bytea, trace_code, text) IS
	'Whether a token (any case) is the code''s under a key, compared in constant time; false for NULLs.';
REVOKE ALL ON FUNCTION lot_token_ok(bytea, trace_code, text) FROM PUBLIC;
CREATE FUNCTION lot_secret() RETURNS bytea
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT s.secret FROM shilian.public_secret s ORDER BY s.created_at, s.secret LIMIT 1);
COMMENT ON FUNCTION lot_secret() IS
	'The key of the public tokens in use (the oldest row of public_secret); executable by no role.';
REVOKE ALL ON FUNCTION lot_secret() FROM PUBLIC;
INSERT INTO public_secret (secret) VALUES (shilian.lot_secret_new());

-- The token of a lot, for whom may see the lot: its holder, a system client
-- bound to it, a regulator above it, the admin. Any other caller is told the
-- batch is unknown, as for a code no batch has (no oracle for lots).
CREATE FUNCTION public_token(code trace_code) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	holder bigint;
BEGIN
	SELECT b.owner_id INTO holder FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	IF holder IS NULL OR NOT shilian.may_see(holder) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR03',
			MESSAGE = format('unknown batch %s', code),
			DETAIL = 'No batch has this trace code.';
	END IF;
	RETURN shilian.lot_token(shilian.lot_secret(), code);
END;
$$;
COMMENT ON FUNCTION public_token(trace_code) IS
	'The public token of a lot, to print with its code (QR / Digital Link): for the lot''s holder and those who may see it; SLR03 for anyone else, as for an unknown code.';
REVOKE ALL ON FUNCTION public_token(trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_token(trace_code) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- Where the consumer's page of a lot is, relative to the gateway:
-- /v1/public/trace/<code>?t=<token>.
CREATE FUNCTION public_path(code trace_code) RETURNS text
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	RETURN '/v1/public/trace/' || code::text || '?t=' || shilian.public_token(code);
COMMENT ON FUNCTION public_path(trace_code) IS
	'The path of a lot''s public trace page on the gateway, with its token: /v1/public/trace/<code>?t=<token> (public_token''s rules).';
REVOKE ALL ON FUNCTION public_path(trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_path(trace_code) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The consumer's view: the custody chain of this batch only (backward along
-- sales, to the lot where it was produced, processed or first entered the
-- chain), the producer and its licence, the region of origin and the
-- inspection results along the chain; no quantities, prices, customers or
-- sibling branches. Only the producer and the final seller (the holder of
-- this lot) are named; the holders between them appear by region and
-- segment. A wrong or missing token is refused exactly as an unknown code
-- (SLP01), and the token is checked before any lookup, so the answer and
-- its cost say nothing about which codes exist. SECURITY DEFINER so that
-- the public role needs only EXECUTE on this function.
CREATE FUNCTION public_trace(code trace_code, token text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	root shilian.batch;
	result jsonb;
BEGIN
	IF code IS NULL THEN
		RETURN NULL;
	END IF;
	IF shilian.lot_token_ok(shilian.lot_secret(), code, token) THEN
		SELECT * INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	END IF;
	IF root.id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLP01',
			MESSAGE = format('no public trace for %s with this token', code),
			DETAIL = 'Either no lot has this code or the token is not the one printed with it.',
			HINT = 'Scan the QR code on the package, or type the code and the token printed next to it.';
	END IF;
	-- each row: a lot of the chain and the sale it came in by (the earliest
	-- receipt of a sale, for a lot created by a receipt), followed upstream
	WITH RECURSIVE chain AS (
		SELECT b.id, b.owner_id, 0 AS step,
			CASE WHEN b.origin = 'received' THEN (SELECT l.id FROM shilian.link l
				WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
				ORDER BY l.received_at, l.id LIMIT 1) END AS in_link
		  FROM shilian.batch b WHERE b.id = root.id
		UNION ALL
		SELECT s.id, s.owner_id, c.step + 1,
			CASE WHEN s.origin = 'received' THEN (SELECT l2.id FROM shilian.link l2
				WHERE l2.to_batch = s.id AND l2.kind = 'ship' AND l2.status = 'received'
				ORDER BY l2.received_at, l2.id LIMIT 1) END
		  FROM chain c JOIN shilian.link l ON l.id = c.in_link
		  JOIN shilian.batch s ON s.id = l.from_batch
		 WHERE c.step < 1000
	)
	SELECT jsonb_build_object(
		'code', code,
		'product', (SELECT jsonb_strip_nulls(jsonb_build_object('name', p.name, 'category', p.category,
				'spec', p.spec, 'gtin', p.gtin))
			FROM shilian.product p WHERE p.id = root.product_id),
		'produced_on', root.produced_on, 'expires_on', root.expires_on,
		'producer', (SELECT jsonb_build_object('name', o.name,
				'licence', (SELECT lc.licence_no FROM shilian.licence lc
					WHERE lc.operator_id = o.id ORDER BY lc.valid_to DESC, lc.id LIMIT 1),
				'origin', ob.origin)
			FROM chain c JOIN shilian.batch ob ON ob.id = c.id JOIN shilian.operator o ON o.id = c.owner_id
			ORDER BY c.step DESC LIMIT 1),
		'origin_region', (SELECT jsonb_build_object('code', j.code, 'name', j.name)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			JOIN shilian.jurisdiction j ON j.code = left(o.station, 6)
			ORDER BY c.step DESC LIMIT 1),
		-- the producer (the last step up) and the final seller (this lot's
		-- holder) by name, the holders between them by region and segment
		'custody', (SELECT jsonb_agg(jsonb_build_object('step', mx.n - c.step,
				'segment', o.segment, 'region', left(o.station, 6),
				'received_on', (SELECT shilian.platform_date(l.received_at) FROM shilian.link l WHERE l.id = c.in_link))
				|| CASE WHEN c.step IN (0, mx.n) THEN jsonb_build_object('holder', o.name) ELSE '{}' END
				ORDER BY c.step DESC)
			FROM chain c JOIN shilian.operator o ON o.id = c.owner_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx),
		'inspections', (SELECT coalesce(jsonb_agg(jsonb_build_object('kind', i.kind,
				'result', i.result, 'on', shilian.platform_date(i.inspected_at), 'step', mx.n - c.step)
				|| CASE WHEN i.operator_id = c.owner_id AND c.step IN (0, mx.n)
					THEN jsonb_build_object('by', o.name) ELSE '{}' END
				ORDER BY i.inspected_at, i.id), '[]')
			FROM chain c JOIN shilian.inspection i ON i.batch_id = c.id
			JOIN shilian.operator o ON o.id = i.operator_id
			CROSS JOIN (SELECT max(step) AS n FROM chain) mx))
	  INTO result;
	RETURN result;
END;
$$;
COMMENT ON FUNCTION public_trace(trace_code, text) IS
	'The consumer view of a code with its token: product, producer and licence, region of origin, custody chain of this lot (holders between producer and final seller by region and segment only) and its inspection results; no quantities, prices or other customers. SLP01 for a wrong or missing token as for an unknown code.';
REVOKE ALL ON FUNCTION public_trace(trace_code, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public_trace(trace_code, text) TO shilian_public, shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- ---- recall -----------------------------------------------------------------

CREATE TABLE recall (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id      bigint NOT NULL REFERENCES batch (id),
	trace_code    trace_code NOT NULL,
	direction     text NOT NULL CHECK (direction IN ('forward', 'backward')),
	reason        text NOT NULL CHECK (reason <> ''),
	opened_by     bigint NOT NULL,		-- the acting operator, 0 for the platform (a regulator)
	-- the regulator's jurisdiction at opening: its subtree follows the recall (part 85)
	opened_jurisdiction text DEFAULT shilian.current_jurisdiction(),
	opened_at     timestamptz NOT NULL DEFAULT now(),
	status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
	closed_at     timestamptz,
	close_reason  text,
	forced        boolean NOT NULL DEFAULT false,
	CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
	CHECK (NOT forced OR close_reason IS NOT NULL)
);
CREATE INDEX recall_batch_idx ON recall (batch_id);
COMMENT ON TABLE recall IS
	'Recall cases: the suspect lot, direction, reason, who opened it, open or closed (forced closings keep their reason).';

CREATE TABLE recall_target (
	recall_id     bigint NOT NULL REFERENCES recall (id),
	batch_id      bigint NOT NULL REFERENCES batch (id),
	trace_code    trace_code NOT NULL,
	operator_id   bigint NOT NULL REFERENCES operator (id),
	depth         integer NOT NULL,
	via_link      bigint,				-- no FK: link is to be partitioned by time
	qty_exposed   qty NOT NULL,
	qty_on_hand   qty NOT NULL,
	notified_at   timestamptz NOT NULL DEFAULT now(),
	disposition   text CHECK (disposition IN ('withdrawn', 'destroyed', 'returned',
		'not_received', 'already_consumed')),
	qty_recovered qty,
	acked_at      timestamptz,
	ack_ledger_id bigint,
	PRIMARY KEY (recall_id, batch_id),
	CHECK ((disposition IS NULL) = (acked_at IS NULL))
);
CREATE INDEX recall_target_operator_idx ON recall_target (operator_id, recall_id);
COMMENT ON TABLE recall_target IS
	'One row per affected lot of a recall: holder, exposed and on-hand quantity at opening, and the holder''s acknowledgement (disposition, quantity recovered).';

-- Who follows a recall (used by recall_targets below and by the security
-- part 85): the platform admin, or a regulator at or above the jurisdiction
-- that opened it.
COMMENT ON COLUMN recall.opened_jurisdiction IS
	'Jurisdiction of the regulator that opened the recall (shilian.jurisdiction at opening); its subtree''s regulators follow the recall.';

-- Whether the calling regulator's jurisdiction is the given one or above it.
CREATE FUNCTION jurisdiction_covers(code text) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN shilian.current_jurisdiction() IS NOT NULL AND code IS NOT NULL
		AND EXISTS (SELECT 1 FROM shilian.jurisdiction j
					 WHERE j.code = jurisdiction_covers.code
					   AND shilian.current_jurisdiction() = ANY (j.ancestors));
COMMENT ON FUNCTION jurisdiction_covers(text) IS
	'True when the regulator of this transaction (shilian.jurisdiction) is at or above the given jurisdiction.';

-- Where a recall was opened, for the recall_target policy (read with definer
-- rights: the recall policy reads recall_target, and policies may not loop).
CREATE FUNCTION recall_opened_in(recall bigint) RETURNS text
	LANGUAGE sql STABLE STRICT SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT r.opened_jurisdiction FROM shilian.recall r WHERE r.id = recall_opened_in.recall);
COMMENT ON FUNCTION recall_opened_in(bigint) IS
	'The jurisdiction that opened a recall (for the row-level security policy of recall_target).';

-- The guard of the steps that follow a whole recall (close, export): the
-- platform admin, or a regulator at or above the jurisdiction that opened it.
-- Inside definer-rights code the current user is the owner, so the caller is
-- judged from the role the request switched to (the role setting) and, for
-- a bare session, from whether the session user is a superuser.
CREATE FUNCTION recall_follows(recall bigint) RETURNS boolean
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	RETURN current_setting('role') = 'shilian_admin'
		OR (current_setting('role') = 'none'
			AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper))
		OR (current_setting('role') = 'shilian_regulator'
			AND shilian.jurisdiction_covers(shilian.recall_opened_in(recall)));
COMMENT ON FUNCTION recall_follows(bigint) IS
	'Whether the caller follows the whole recall: the platform admin, or a regulator at or above the jurisdiction that opened it.';

CREATE FUNCTION recall_require_follower(recall bigint) RETURNS void
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	opened text := shilian.recall_opened_in(recall);
BEGIN
	IF shilian.recall_follows(recall) THEN
		RETURN;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
		MESSAGE = format('recall %s is followed by the jurisdiction that opened it', recall),
		DETAIL = format('It was opened by %s.', coalesce(opened, 'the platform')),
		HINT = 'A regulator at or above that jurisdiction, or the platform admin, closes and exports it.';
END
$$;
COMMENT ON FUNCTION recall_require_follower(bigint) IS
	'Error 42501 unless the caller is the platform admin or a regulator at or above the jurisdiction that opened the recall.';

SELECT pg_catalog.pg_extension_config_dump('recall', '');
SELECT pg_catalog.pg_extension_config_dump('recall_target', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.recall', 'id')::regclass, '');

-- The ledger chain a recall step by the platform is appended to: the acting
-- operator (shilian.operator_id) when set, else 0, the platform's own chain.
CREATE FUNCTION recall_actor() RETURNS bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN coalesce(nullif(current_setting('shilian.operator_id', true), '')::bigint, 0);
COMMENT ON FUNCTION recall_actor() IS
	'The ledger chain for recall steps taken by the platform: shilian.operator_id when set, else 0 (the platform).';

CREATE FUNCTION recall_open(code trace_code, reason text, direction text DEFAULT 'forward')
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	rid bigint;
	root bigint;
	n bigint;
	holders bigint;
BEGIN
	IF code IS NULL OR reason IS NULL OR reason = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'recall needs a trace code and a reason';
	END IF;
	IF direction IS NULL OR direction NOT IN ('forward', 'backward') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown trace direction "%s"', direction),
			HINT = 'Use "forward" or "backward".';
	END IF;
	SELECT b.id INTO root FROM shilian.batch b WHERE b.trace_code OPERATOR(shilian.=) code;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR03',
			MESSAGE = format('unknown batch %s', code),
			DETAIL = 'No batch has this trace code.';
	END IF;
	INSERT INTO shilian.recall (batch_id, trace_code, direction, reason, opened_by)
	VALUES (root, code, direction, reason, shilian.recall_actor())
	RETURNING id INTO rid;
	INSERT INTO shilian.recall_target (recall_id, batch_id, trace_code, operator_id, depth,
		via_link, qty_exposed, qty_on_hand)
	SELECT rid, b.id, w.batch, w.holder, w.depth, w.via_link, w.qty_reached, w.qty_on_hand
	  FROM shilian.trace_walk(code, direction) w
	  JOIN shilian.batch b ON b.trace_code OPERATOR(shilian.=) w.batch;
	GET DIAGNOSTICS n = ROW_COUNT;
	SELECT count(DISTINCT operator_id) INTO holders FROM shilian.recall_target WHERE recall_id = rid;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_open', jsonb_build_object(
		'recall', rid::text, 'batch', code, 'direction', direction, 'reason', reason,
		'targets', n, 'holders', holders));
	PERFORM pg_notify('shilian_recall', rid::text);
	RETURN rid;
END;
$$;
COMMENT ON FUNCTION recall_open(trace_code, text, text) IS
	'Open a recall of a lot: records the case, materializes every affected lot (holder, exposed and on-hand quantity) as a target, appends recall_open to the ledger and sends NOTIFY shilian_recall with the recall id; returns the id.';
REVOKE ALL ON FUNCTION recall_open(trace_code, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_open(trace_code, text, text) TO shilian_regulator, shilian_admin;

-- ---- recall steps ----------------------------------------------------------------
-- Definer rights: the walk and the targets span every jurisdiction, and
-- each step appends to the ledger.
ALTER FUNCTION recall_open(trace_code, text, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The open recall id, or an error: unknown (SLT10), closed (SLT11).
CREATE FUNCTION recall_require_open(id bigint) RETURNS shilian.recall
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	r shilian.recall;
BEGIN
	SELECT * INTO r FROM shilian.recall WHERE recall.id = recall_require_open.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	IF r.status = 'closed' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT11', MESSAGE = format('recall %s is closed', id),
			HINT = 'Open a new recall for further action.';
	END IF;
	RETURN r;
END;
$$;
COMMENT ON FUNCTION recall_require_open(bigint) IS
	'Lock and return an open recall; SLT10 if unknown, SLT11 if closed.';
REVOKE ALL ON FUNCTION recall_require_open(bigint) FROM PUBLIC;

CREATE FUNCTION recall_targets(id bigint)
	RETURNS TABLE (batch trace_code, holder bigint, holder_name text, depth integer,
		via_link bigint, qty_exposed qty, qty_on_hand qty, disposition text,
		qty_recovered qty, acked_at timestamptz)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	BEGIN ATOMIC
	SELECT t.trace_code, t.operator_id, o.name, t.depth, t.via_link, t.qty_exposed,
		t.qty_on_hand, t.disposition, t.qty_recovered, t.acked_at
	  FROM shilian.recall_target t JOIN shilian.operator o ON o.id = t.operator_id
	 WHERE t.recall_id = recall_targets.id
	   AND (shilian.recall_follows(t.recall_id) OR shilian.may_see(t.operator_id))
	 ORDER BY t.depth, t.trace_code;
	END;
COMMENT ON FUNCTION recall_targets(bigint) IS
	'The affected lots of a recall with holders, quantities at opening and acknowledgements.';
REVOKE ALL ON FUNCTION recall_targets(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_targets(bigint) TO shilian_regulator, shilian_admin;
-- targets: definer rights with the filter in the function (a holder sees its
-- own lots, a regulator its subtree's holders, a follower every holder).
ALTER FUNCTION recall_targets(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION recall_targets(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION recall_ack(id bigint, operator bigint, disposition text,
		qty_recovered qty DEFAULT NULL, batch trace_code DEFAULT NULL)
	RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	r shilian.recall;
	t shilian.recall_target;
	n integer;
	entry bigint;
	acting bigint := nullif(current_setting('shilian.operator_id', true), '')::bigint;
BEGIN
	IF id IS NULL OR operator IS NULL OR disposition IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'recall_ack needs a recall, an operator and a disposition';
	END IF;
	IF acting IS NOT NULL AND acting <> recall_ack.operator THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('acting operator %s may not acknowledge a recall for operator %s', acting, recall_ack.operator),
			DETAIL = 'The setting shilian.operator_id names the operator this transaction acts for.';
	END IF;
	IF disposition NOT IN ('withdrawn', 'destroyed', 'returned', 'not_received', 'already_consumed') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT14',
			MESSAGE = format('unknown recall disposition "%s"', disposition),
			HINT = 'Use withdrawn, destroyed, returned, not_received or already_consumed.';
	END IF;
	r := shilian.recall_require_open(id);
	SELECT count(*) INTO n FROM shilian.recall_target rt
	 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator
	   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
	IF n = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT12',
			MESSAGE = format('operator %s holds no target of recall %s', recall_ack.operator, id)
				|| CASE WHEN batch IS NULL THEN '' ELSE format(' in batch %s', batch) END,
			HINT = 'recall_targets() lists the lots and holders of a recall.';
	END IF;
	SELECT count(*) INTO n FROM shilian.recall_target rt
	 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
	   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
	IF n = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT13',
			MESSAGE = format('operator %s has already acknowledged recall %s', recall_ack.operator, id)
				|| CASE WHEN batch IS NULL THEN '' ELSE format(' for batch %s', batch) END;
	END IF;
	IF qty_recovered IS NOT NULL THEN
		IF n > 1 THEN
			RAISE EXCEPTION USING ERRCODE = 'SLT15',
				MESSAGE = format('operator %s holds %s outstanding lots of recall %s: name the batch the recovered quantity is for', recall_ack.operator, n, id),
				HINT = 'Acknowledge each lot with its batch code.';
		END IF;
		SELECT * INTO t FROM shilian.recall_target rt
		 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
		   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
		IF shilian.qty_dimension(qty_recovered) <> shilian.qty_dimension(t.qty_on_hand) THEN
			RAISE EXCEPTION USING ERRCODE = 'SLT16',
				MESSAGE = format('recovered quantity %s is a %s, lot %s is counted in %s', qty_recovered,
					shilian.qty_dimension(qty_recovered), t.trace_code, shilian.qty_dimension(t.qty_on_hand));
		END IF;
		IF qty_recovered OPERATOR(shilian.<) (t.qty_on_hand OPERATOR(shilian.-) t.qty_on_hand)
		   OR qty_recovered OPERATOR(shilian.>) t.qty_on_hand THEN
			RAISE EXCEPTION USING ERRCODE = 'SLT16',
				MESSAGE = format('recovered quantity %s is outside 0 .. %s, what lot %s had on hand when the recall opened',
					qty_recovered, t.qty_on_hand, t.trace_code);
		END IF;
	END IF;
	entry := shilian.ledger_append(recall_ack.operator, 'recall_ack', jsonb_build_object(
		'recall', id::text, 'disposition', disposition, 'qty_recovered', qty_recovered::text,
		'batches', (SELECT jsonb_agg(rt.trace_code ORDER BY rt.trace_code) FROM shilian.recall_target rt
			WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
			  AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch))));
	UPDATE shilian.recall_target rt
	   SET disposition = recall_ack.disposition, qty_recovered = recall_ack.qty_recovered,
		   acked_at = now(), ack_ledger_id = entry
	 WHERE rt.recall_id = id AND rt.operator_id = recall_ack.operator AND rt.acked_at IS NULL
	   AND (batch IS NULL OR rt.trace_code OPERATOR(shilian.=) batch);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) IS
	'A holder acknowledges its outstanding lots of a recall (or the one named by batch): disposition withdrawn, destroyed, returned, not_received or already_consumed, with the quantity recovered; appends recall_ack to its ledger chain; returns the lots acknowledged.';
REVOKE ALL ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER FUNCTION recall_ack(bigint, bigint, text, qty, trace_code) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- The aggregates of a recall span its holders: a follower (part 85) and any
-- regulator read them over every target; an operator or a system client
-- over the targets it may see (its own lots), and a recall with none of its
-- lots is unknown to it, as a recall that does not exist.
CREATE FUNCTION recall_status(id bigint,
		OUT status text, OUT targets bigint, OUT acknowledged bigint, OUT outstanding bigint,
		OUT holders bigint, OUT holders_outstanding bigint,
		OUT on_hand_outstanding qty[], OUT recovered qty[])
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	whole boolean := shilian.recall_follows(id) OR current_setting('role') = 'shilian_regulator';
BEGIN
	SELECT r.status INTO status FROM shilian.recall r WHERE r.id = recall_status.id
	   AND (whole OR EXISTS (SELECT 1 FROM shilian.recall_target t
							  WHERE t.recall_id = r.id AND shilian.may_see(t.operator_id)));
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT count(*), count(t.acked_at), count(*) - count(t.acked_at),
		   count(DISTINCT t.operator_id), count(DISTINCT t.operator_id) FILTER (WHERE t.acked_at IS NULL)
	  INTO targets, acknowledged, outstanding, holders, holders_outstanding
	  FROM shilian.recall_target t WHERE t.recall_id = recall_status.id
	   AND (whole OR shilian.may_see(t.operator_id));
	-- quantities of different dimensions cannot be added: one sum per dimension
	SELECT array_agg(s ORDER BY d) INTO on_hand_outstanding FROM (
		SELECT shilian.qty_dimension(t.qty_on_hand) d, shilian.sum(t.qty_on_hand) s
		  FROM shilian.recall_target t WHERE t.recall_id = recall_status.id AND t.acked_at IS NULL
		   AND (whole OR shilian.may_see(t.operator_id))
		 GROUP BY 1) x;
	SELECT array_agg(s ORDER BY d) INTO recovered FROM (
		SELECT shilian.qty_dimension(t.qty_recovered) d, shilian.sum(t.qty_recovered) s
		  FROM shilian.recall_target t WHERE t.recall_id = recall_status.id AND t.qty_recovered IS NOT NULL
		   AND (whole OR shilian.may_see(t.operator_id))
		 GROUP BY 1) x;
END;
$$;
COMMENT ON FUNCTION recall_status(bigint) IS
	'Progress of a recall: open/closed, targets acknowledged and outstanding, holders outstanding, on-hand quantity outstanding and quantity recovered (one sum per dimension); for an operator or a system client, over its own lots only.';
REVOKE ALL ON FUNCTION recall_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_status(bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_status(bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION recall_status(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION recall_close(id bigint, force_reason text DEFAULT NULL) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	r shilian.recall;
	n bigint;
BEGIN
	IF id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'recall_close needs a recall id';
	END IF;
	-- who may close: part 85
	PERFORM shilian.recall_require_follower(id);
	r := shilian.recall_require_open(id);
	SELECT count(*) INTO n FROM shilian.recall_target t WHERE t.recall_id = id AND t.acked_at IS NULL;
	IF n > 0 AND (force_reason IS NULL OR force_reason = '') THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT17',
			MESSAGE = format('recall %s has %s outstanding targets', id, n),
			DETAIL = 'Every holder must acknowledge its lots before the recall closes.',
			HINT = 'Wait for recall_ack from the holders, or close with force_reason.';
	END IF;
	UPDATE shilian.recall SET status = 'closed', closed_at = now(),
		close_reason = nullif(force_reason, ''), forced = n > 0
	 WHERE recall.id = recall_close.id;
	PERFORM shilian.ledger_append(shilian.recall_actor(), 'recall_close', jsonb_build_object(
		'recall', id::text, 'outstanding', n, 'forced', n > 0, 'reason', nullif(force_reason, '')));
END;
$$;
COMMENT ON FUNCTION recall_close(bigint, text) IS
	'Close a recall; refused (SLT17) while targets are outstanding unless force_reason is given; appends recall_close to the ledger.';
REVOKE ALL ON FUNCTION recall_close(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_close(bigint, text) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_close(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
CREATE FUNCTION csv_field(v text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN CASE WHEN v IS NULL THEN ''
		WHEN v ~ '[",\r\n]' THEN '"' || replace(v, '"', '""') || '"' ELSE v END;
COMMENT ON FUNCTION csv_field(text) IS 'A value as one RFC 4180 CSV field (empty for NULL).';

CREATE FUNCTION recall_export(id bigint) RETURNS text
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog, shilian
	AS $$
DECLARE
	out text;
BEGIN
	-- who may export: part 85 (the export spans every holder)
	PERFORM shilian.recall_require_follower(id);
	PERFORM 1 FROM shilian.recall r WHERE r.id = recall_export.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLT10', MESSAGE = format('unknown recall %s', id);
	END IF;
	SELECT 'traceability_lot_code,product_description,quantity,unit_of_measure,'
		|| 'location_name,location_address,operator_id,date_received,date_shipped,'
		|| 'reference_document,immediate_previous_source,subsequent_recipients,'
		|| 'qty_exposed,qty_on_hand,depth,disposition' || E'\r\n'
		|| coalesce(string_agg(concat_ws(',',
			shilian.csv_field(t.trace_code::text),
			shilian.csv_field(concat_ws(' ', p.name, p.spec)),
			shilian.csv_field(split_part(b.qty::text, ' ', 1)),
			shilian.csv_field(split_part(b.qty::text, ' ', 2)),
			shilian.csv_field(o.name),
			shilian.csv_field(o.address),
			t.operator_id::text,
			shilian.csv_field(to_char(shilian.platform_date(rin.received_at), 'YYYY-MM-DD')),
			shilian.csv_field(sh.dates),
			shilian.csv_field(coalesce('link ' || rin.id, b.lot, 'batch ' || b.trace_code::text)
				|| coalesce('; certificate ' || (b.certificate->>'certificate_no'), '')),
			shilian.csv_field(CASE b.origin
				WHEN 'received' THEN so.name || ' (' || sb.trace_code::text || ')'
				WHEN 'first_entry' THEN b.supplier->>'name'
				WHEN 'transformed' THEN (SELECT 'inputs: ' || string_agg(ib.trace_code::text, '; ' ORDER BY ib.trace_code)
					FROM shilian.link il JOIN shilian.batch ib ON ib.id = il.from_batch
					WHERE il.to_batch = b.id AND il.kind = 'transform') END),
			shilian.csv_field(sh.recipients),
			shilian.csv_field(t.qty_exposed::text),
			shilian.csv_field(t.qty_on_hand::text),
			t.depth::text,
			shilian.csv_field(t.disposition)), E'\r\n' ORDER BY t.trace_code) || E'\r\n', '')
	  INTO out
	  FROM shilian.recall_target t
	  JOIN shilian.batch b ON b.id = t.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  JOIN shilian.operator o ON o.id = t.operator_id
	  -- how the lot came in: the earliest receipt of a sale (NULL: produced here)
	  LEFT JOIN LATERAL (SELECT l.* FROM shilian.link l
		WHERE l.to_batch = b.id AND l.kind = 'ship' AND l.status = 'received'
		ORDER BY l.received_at, l.id LIMIT 1) rin ON true
	  LEFT JOIN shilian.batch sb ON sb.id = rin.from_batch
	  LEFT JOIN shilian.operator so ON so.id = rin.seller_id
	  -- where it went: every shipment out (not rejected), buyer and date
	  LEFT JOIN LATERAL (SELECT string_agg(DISTINCT bo.name, '; ') AS recipients,
			string_agg(DISTINCT to_char(l.shipped_on, 'YYYY-MM-DD'), '; ') AS dates
		FROM shilian.link l JOIN shilian.operator bo ON bo.id = l.buyer_id
		WHERE l.from_batch = b.id AND l.status <> 'rejected') sh ON true
	 WHERE t.recall_id = recall_export.id;
	RETURN out;
END;
$$;
COMMENT ON FUNCTION recall_export(bigint) IS
	'FSMA 204 style sortable CSV (RFC 4180, CRLF) of every affected lot of a recall: lot code, product, quantity and unit, location, receipt and shipment dates, reference document, previous source, recipients, exposed and on-hand quantity.';
REVOKE ALL ON FUNCTION recall_export(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION recall_export(bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION recall_export(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- shilian install script, part 50: the tamper-evident ledger
-- (docs/ledger-format.md). Per-operator hash chains, an RFC 9162 Merkle log
-- over all entries, and the protection that makes the tables insert-only.

-- One row per record. The hash covers every column but leaf placement
-- (kept in ledger_leaf, so that this table is strictly insert-only).
-- Ready for time partitioning: ids and recorded_at grow together, and
-- nothing refers to a row by its physical position.
CREATE TABLE ledger (
	id			bigint PRIMARY KEY,
	operator_id	bigint NOT NULL,
	seq			bigint NOT NULL CHECK (seq >= 1),
	kind		text NOT NULL,
	body		bytea NOT NULL,
	alg			smallint NOT NULL,
	prev_hash	bytea NOT NULL,
	hash		bytea NOT NULL,
	supersedes	bigint,
	recorded_at	timestamptz NOT NULL,
	-- outside the hashed entry: where a record came from (NULL: typed in
	-- directly; api:CLIENT, import[:CLIENT], epcis[:CLIENT]) and the date of
	-- the event it records; NULL both for entries not made by a record function
	source		text,
	on_date		date,
	-- the last line of defence against a forked chain
	CONSTRAINT ledger_operator_seq_key UNIQUE (operator_id, seq)
);
COMMENT ON TABLE ledger IS
	'Insert-only ledger: one hash-chained entry per record, per operator chain (docs/ledger-format.md).';
COMMENT ON COLUMN ledger.body IS
	'The record body in the canonical encoding that is hashed; ledger_body() renders it as jsonb.';
COMMENT ON COLUMN ledger.source IS
	'Not hashed: how a record arrived (NULL typed in directly; api:CLIENT, import, import:CLIENT, epcis, epcis:CLIENT).';
COMMENT ON COLUMN ledger.on_date IS
	'Not hashed: the date of the event a record function recorded (the day it counts on in operator_day).';
COMMENT ON COLUMN ledger.alg IS '1 = SHA-256, 2 = SM3 (shilian.hash_algorithm when appended).';
CREATE SEQUENCE ledger_id_seq AS bigint OWNED BY ledger.id;

-- Leaf placement in the Merkle log, assigned by checkpoint() in entry-id order.
CREATE TABLE ledger_leaf (
	leaf_index	bigint PRIMARY KEY CHECK (leaf_index >= 0),
	entry_id	bigint NOT NULL UNIQUE,
	operator_id	bigint NOT NULL,
	seq			bigint NOT NULL,
	hash		bytea NOT NULL
);
CREATE INDEX ledger_leaf_operator_seq ON ledger_leaf (operator_id, seq);
COMMENT ON TABLE ledger_leaf IS
	'Leaf index of every checkpointed ledger entry, with the entry hash the Merkle tree was built from.';

-- Roots of complete Merkle subtrees at levels 4, 8, 12, ... (16, 256, ... leaves):
-- a proof element costs at most 8 stored hashes, storage about n/15 rows.
CREATE TABLE merkle_node (
	level		smallint NOT NULL,
	idx			bigint NOT NULL,
	hash		bytea NOT NULL,
	PRIMARY KEY (level, idx)
);
COMMENT ON TABLE merkle_node IS
	'Stored roots of complete subtrees of the Merkle log at every fourth level.';

CREATE TABLE checkpoint (
	tree_size	bigint PRIMARY KEY CHECK (tree_size >= 0),
	root		bytea NOT NULL,
	alg			smallint NOT NULL,
	last_entry_id bigint NOT NULL,
	frontier	bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE checkpoint IS
	'Published Merkle tree heads: size, root, hash algorithm, and the right edge (frontier) to extend from.';

-- Maintenance done on ledger tables under shilian.ledger_maintenance.
CREATE TABLE ledger_maintenance (
	id			bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at			timestamptz NOT NULL DEFAULT now(),
	role		name NOT NULL DEFAULT session_user,
	command		text NOT NULL,
	object		text NOT NULL,
	query		text
);
COMMENT ON TABLE ledger_maintenance IS
	'Every DROP/ALTER of a ledger table done in maintenance mode (also appended to the ledger, operator 0).';

SELECT pg_catalog.pg_extension_config_dump('ledger', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_leaf', '');
SELECT pg_catalog.pg_extension_config_dump('merkle_node', '');
SELECT pg_catalog.pg_extension_config_dump('checkpoint', '');
SELECT pg_catalog.pg_extension_config_dump('ledger_maintenance', '');

REVOKE ALL ON ledger, ledger_leaf, merkle_node, checkpoint, ledger_maintenance FROM PUBLIC;
-- Row-level security is switched on here, before the DDL guard below exists;
-- the policies per role are in part 80 (docs/security.md).
ALTER TABLE ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_leaf ENABLE ROW LEVEL SECURITY;
ALTER TABLE ledger_maintenance ENABLE ROW LEVEL SECURITY;

-- ---- append and verify ------------------------------------------------------

CREATE FUNCTION ledger_append(operator_id bigint, kind text, body jsonb, supersedes bigint DEFAULT NULL)
	RETURNS bigint
	AS 'MODULE_PATHNAME', 'shilian_ledger_append'
	LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ledger_append(bigint, text, jsonb, bigint) IS
	'Append one entry (body: a jsonb object) to the operator''s hash chain; returns the entry id. supersedes names the entry this one corrects.';
REVOKE ALL ON FUNCTION ledger_append(bigint, text, jsonb, bigint) FROM PUBLIC;

CREATE FUNCTION ledger_body(body bytea) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'shilian_ledger_body'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger_body(bytea) IS
	'The jsonb value of a canonical ledger body (ledger.body).';

CREATE FUNCTION ledger_canonical(body jsonb) RETURNS bytea
	AS 'MODULE_PATHNAME', 'shilian_ledger_canonical'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ledger_canonical(jsonb) IS
	'The canonical encoding of a jsonb object, as hashed in ledger entries (docs/ledger-format.md).';

CREATE FUNCTION chain_verify(operator bigint DEFAULT NULL,
	OUT operator bigint, OUT entries bigint, OUT ok boolean, OUT first_bad_seq bigint, OUT reason text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'shilian_chain_verify'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1 SECURITY DEFINER;
COMMENT ON FUNCTION chain_verify(bigint) IS
	'Recompute every hash of one operator''s chain (NULL: all chains) and check sequence continuity and checkpointed tails; one row per operator.';
REVOKE ALL ON FUNCTION chain_verify(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chain_verify(bigint) TO shilian_regulator, shilian_admin;
-- chain_verify, log_verify and ledger_export run with definer rights (part
-- 50; chain_verify checks its caller in C, ledger_export with require_see):
-- fix their search_path so that pg_temp comes last.
ALTER FUNCTION chain_verify(bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION chain_verify(bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

-- ---- Merkle log ---------------------------------------------------------------

CREATE FUNCTION checkpoint(OUT tree_size bigint, OUT root bytea, OUT created_at timestamptz)
	AS 'MODULE_PATHNAME', 'shilian_checkpoint'
	LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER;
COMMENT ON FUNCTION checkpoint() IS
	'Add every committed entry not yet in the Merkle log as leaves (in entry id order) and publish the new tree head; waits for appends in flight.';
REVOKE ALL ON FUNCTION checkpoint() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION checkpoint() TO shilian_admin;
-- checkpoint() writes the Merkle log tables, which no role may write
-- directly; with definer rights shilian_admin (a cron job) runs it without
-- being a superuser.
ALTER FUNCTION checkpoint() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION inclusion_proof(entry bigint, tree_size bigint DEFAULT NULL) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'shilian_inclusion_proof'
	LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION inclusion_proof(bigint, bigint) IS
	'RFC 9162 inclusion proof of a ledger entry in the log of tree_size leaves (NULL: the latest checkpoint).';
REVOKE ALL ON FUNCTION inclusion_proof(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION inclusion_proof(bigint, bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;
-- A proof needs the hashes of neighbouring leaves, which belong to other
-- operators; the Merkle log is public to every role like a CT log (a proof
-- holds the entry id, leaf index, hashes and root: no operator, no body, no
-- count per operator), so the proof functions read it with definer rights.
-- ledger and ledger_leaf rows themselves stay behind their policies.
ALTER FUNCTION inclusion_proof(bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION inclusion_proof(bigint, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION consistency_proof(old_size bigint, new_size bigint DEFAULT NULL) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'shilian_consistency_proof'
	LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION consistency_proof(bigint, bigint) IS
	'RFC 9162 consistency proof that the log of old_size leaves is a prefix of the log of new_size leaves (NULL: the latest checkpoint).';
REVOKE ALL ON FUNCTION consistency_proof(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION consistency_proof(bigint, bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;
ALTER FUNCTION consistency_proof(bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION consistency_proof(bigint, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;

CREATE FUNCTION verify_inclusion(leaf_index bigint, tree_size bigint, leaf_hash bytea, path bytea[],
	root bytea, algorithm text DEFAULT 'sha256') RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_verify_inclusion'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_inclusion(bigint, bigint, bytea, bytea[], bytea, text) IS
	'Check an RFC 9162 inclusion proof of a leaf hash against a root; a ledger entry''s leaf hash is H(0x00 || entry hash).';

CREATE FUNCTION verify_inclusion(proof jsonb) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.verify_inclusion((proof->>'leaf_index')::bigint, (proof->>'tree_size')::bigint,
		shilian.hash('\x00'::bytea || decode(proof->>'entry_hash', 'hex'), proof->>'alg'),
		ARRAY(SELECT decode(p, 'hex') FROM jsonb_array_elements_text(proof->'path') WITH ORDINALITY AS e(p, i) ORDER BY i),
		decode(proof->>'root', 'hex'), proof->>'alg');
COMMENT ON FUNCTION verify_inclusion(jsonb) IS
	'Check an inclusion proof as returned by inclusion_proof() (its entry_hash is hashed into the leaf).';

CREATE FUNCTION verify_consistency(old_size bigint, new_size bigint, old_root bytea, new_root bytea,
	path bytea[], algorithm text DEFAULT 'sha256') RETURNS boolean
	AS 'MODULE_PATHNAME', 'shilian_verify_consistency'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_consistency(bigint, bigint, bytea, bytea, bytea[], text) IS
	'Check an RFC 9162 consistency proof between two tree heads.';

CREATE FUNCTION verify_consistency(proof jsonb) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN shilian.verify_consistency((proof->>'old_size')::bigint, (proof->>'new_size')::bigint,
		decode(proof->>'old_root', 'hex'), decode(proof->>'new_root', 'hex'),
		ARRAY(SELECT decode(p, 'hex') FROM jsonb_array_elements_text(proof->'path') WITH ORDINALITY AS e(p, i) ORDER BY i),
		proof->>'alg');
COMMENT ON FUNCTION verify_consistency(jsonb) IS
	'Check a consistency proof as returned by consistency_proof().';

CREATE FUNCTION log_verify(OUT tree_size bigint, OUT ok boolean, OUT first_bad_leaf bigint, OUT reason text)
	AS 'MODULE_PATHNAME', 'shilian_log_verify'
	LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER;
COMMENT ON FUNCTION log_verify() IS
	'Rebuild the Merkle log from the ledger''s entry hashes and compare with every published checkpoint root.';
REVOKE ALL ON FUNCTION log_verify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION log_verify() TO shilian_regulator, shilian_admin;
ALTER FUNCTION log_verify() SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION log_verify() TO shilian_admin;

-- ---- protection ---------------------------------------------------------------
-- Insert-only for everyone: privileges are revoked above, and this trigger
-- refuses UPDATE, DELETE and TRUNCATE even to the owner. A superuser can still
-- bypass it (session_replication_role = replica); chain_verify, log_verify
-- and shilian-verify detect what such a change did.

CREATE FUNCTION ledger_refuse_change() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog
	AS $$
BEGIN
	RAISE EXCEPTION USING
		ERRCODE = 'SLL30',
		MESSAGE = format('%s on shilian.%s is not allowed', lower(TG_OP), TG_TABLE_NAME),
		DETAIL = 'Ledger tables are insert-only.',
		HINT = 'A correction is a new entry: shilian.ledger_append(operator, kind, body, supersedes => entry id).';
END
$$;
COMMENT ON FUNCTION ledger_refuse_change() IS
	'Trigger function refusing UPDATE, DELETE and TRUNCATE on the ledger tables (SQLSTATE SLL30).';

CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_leaf
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON merkle_node
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoint
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_maintenance
	FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- DROP and ALTER of ledger tables (and of their triggers, rules and sequence)
-- only with shilian.ledger_maintenance = on, which only a superuser can set;
-- each such command is recorded twice: in ledger_maintenance and as a ledger
-- entry of operator 0, the platform's own chain. The objects are known by
-- identity here (pg_event_trigger_dropped_objects, pg_event_trigger_ddl_commands),
-- whatever the query text says, so dynamic SQL in a DO block is caught too.
CREATE FUNCTION ledger_guard_ddl() RETURNS event_trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog
	AS $$
DECLARE
	protected CONSTANT text[] := ARRAY['ledger', 'ledger_leaf', 'merkle_node', 'checkpoint',
		'ledger_maintenance', 'ledger_id_seq'];
	hits text[] := '{}';
	r record;
BEGIN
	IF TG_EVENT = 'sql_drop' THEN
		FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
			IF r.schema_name = 'shilian' AND r.object_type IN ('table', 'sequence') AND r.object_name = ANY (protected)
			   OR r.object_type IN ('trigger', 'rule') AND r.object_identity ~ ' on shilian\.' AND
				  split_part(r.object_identity, ' on shilian.', 2) = ANY (protected) THEN
				hits := hits || r.object_identity;
			END IF;
		END LOOP;
	ELSE
		FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
			IF r.classid = 'pg_class'::regclass AND r.schema_name = 'shilian'
				 AND (SELECT relname FROM pg_class WHERE oid = r.objid) = ANY (protected)
			   OR r.classid = 'pg_trigger'::regclass AND r.object_identity ~ ' on shilian\.' AND
				  split_part(r.object_identity, ' on shilian.', 2) = ANY (protected)
			   OR r.classid = 'pg_rewrite'::regclass AND r.object_identity ~ ' on shilian\.' AND
				  split_part(r.object_identity, ' on shilian.', 2) = ANY (protected) THEN
				hits := hits || r.object_identity;
			END IF;
		END LOOP;
	END IF;
	IF cardinality(hits) = 0 THEN
		RETURN;
	END IF;
	IF NOT (coalesce(current_setting('shilian.ledger_maintenance', true), 'off')::boolean
			AND current_setting('is_superuser')::boolean) THEN
		RAISE EXCEPTION USING
			ERRCODE = 'SLL31',
			MESSAGE = format('%s of ledger objects is not allowed', lower(TG_TAG)),
			DETAIL = format('The command touches %s.', array_to_string(hits, ', ')),
			HINT = 'A superuser can SET shilian.ledger_maintenance = on for the maintenance; it is recorded.';
	END IF;
	IF to_regclass('shilian.ledger_maintenance') IS NOT NULL THEN
		INSERT INTO shilian.ledger_maintenance (command, object, query)
			VALUES (TG_TAG, array_to_string(hits, ', '), current_query());
	END IF;
	IF to_regclass('shilian.ledger') IS NOT NULL
	   AND to_regprocedure('shilian.ledger_append(bigint,text,jsonb,bigint)') IS NOT NULL THEN
		PERFORM shilian.ledger_append(0, 'ledger_maintenance',
			jsonb_build_object('command', TG_TAG, 'objects', to_jsonb(hits), 'role', session_user::text));
	END IF;
END
$$;
COMMENT ON FUNCTION ledger_guard_ddl() IS
	'Event trigger function: DROP/ALTER of ledger objects only in recorded maintenance mode (SQLSTATE SLL31).';

-- DROP EXTENSION shilian, DROP SCHEMA shilian and DROP OWNED BY the owner
-- would drop the triggers above with everything else: they are refused before
-- they run, from the command's parse tree (C, ledger_guard.c), unless a
-- superuser set shilian.allow_drop in the same transaction; DROP EXTENSION
-- then takes the schema with it (docs/install.md#uninstalling).
CREATE FUNCTION ledger_guard_drop() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'shilian_ledger_guard_drop'
	LANGUAGE C;
COMMENT ON FUNCTION ledger_guard_drop() IS
	'Event trigger function: DROP EXTENSION shilian (or its schema, or its owner''s objects) only with shilian.allow_drop set in the transaction (SQLSTATE SLL31).';

CREATE EVENT TRIGGER shilian_ledger_guard_drop ON sql_drop
	EXECUTE FUNCTION ledger_guard_ddl();
CREATE EVENT TRIGGER shilian_ledger_guard_alter ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'ALTER SEQUENCE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE RULE')
	EXECUTE FUNCTION ledger_guard_ddl();
CREATE EVENT TRIGGER shilian_ledger_guard_extension ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION ledger_guard_drop();
-- fire even under session_replication_role = replica
ALTER EVENT TRIGGER shilian_ledger_guard_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER shilian_ledger_guard_extension ENABLE ALWAYS;
ALTER EVENT TRIGGER shilian_ledger_guard_alter ENABLE ALWAYS;

-- ---- export for the offline verifier ----------------------------------------------

CREATE FUNCTION ledger_export(operator bigint, old_size bigint DEFAULT NULL) RETURNS SETOF text
	LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
	SET search_path = pg_catalog
	AS $$
	WITH head AS (
		SELECT * FROM shilian.checkpoint ORDER BY tree_size DESC LIMIT 1
	), lines AS (
		SELECT 0 AS part, 0::bigint AS ord,
			jsonb_build_object('type', 'header', 'format', 'shilian-ledger-export/1',
				'operator', $1::text, 'exported_at', now())::text AS line
		UNION ALL
		SELECT 1, l.seq, jsonb_build_object(
			'type', 'entry',
			'id', l.id::text,
			'operator_id', l.operator_id::text,
			'seq', l.seq::text,
			'alg', CASE l.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' ELSE l.alg::text END,
			'kind', l.kind,
			'recorded_at', l.recorded_at,
			'recorded_at_us', (extract(epoch FROM l.recorded_at) * 1000000)::bigint::text,
			'supersedes', l.supersedes::text,
			'body_canonical', encode(l.body, 'hex'),
			'prev_hash', encode(l.prev_hash, 'hex'),
			'hash', encode(l.hash, 'hex'),
			'leaf_index', f.leaf_index::text,
			'inclusion', CASE WHEN f.leaf_index < h.tree_size
				THEN shilian.inclusion_proof(l.id, h.tree_size)->'path' END)::text
		FROM shilian.ledger l
		LEFT JOIN shilian.ledger_leaf f ON f.entry_id = l.id
		LEFT JOIN head h ON true
		WHERE l.operator_id = $1
		UNION ALL
		SELECT 2, 0, jsonb_build_object('type', 'checkpoint', 'tree_size', h.tree_size::text,
			'root', encode(h.root, 'hex'),
			'alg', CASE h.alg WHEN 1 THEN 'sha256' WHEN 2 THEN 'sm3' ELSE h.alg::text END,
			'created_at', h.created_at)::text
		FROM head h
		UNION ALL
		-- the operator's last checkpointed entry, as the tree recorded it: an
		-- export whose chain stops short of it has lost its tail
		SELECT 2, 1, jsonb_build_object('type', 'checkpointed_head', 'seq', f.seq::text,
			'entry_id', f.entry_id::text, 'leaf_index', f.leaf_index::text,
			'entry_hash', encode(f.hash, 'hex'),
			'inclusion', shilian.inclusion_proof(f.entry_id, h.tree_size)->'path')::text
		FROM head h, LATERAL (
			SELECT * FROM shilian.ledger_leaf lf
			WHERE lf.operator_id = $1 AND lf.leaf_index < h.tree_size
			ORDER BY lf.seq DESC LIMIT 1) f
		UNION ALL
		SELECT 3, c.size, jsonb_build_object('type', 'consistency', 'old_size', c.size::text,
			'new_size', h.tree_size::text,
			'path', shilian.consistency_proof(c.size, h.tree_size)->'path')::text
		FROM head h, (SELECT tree_size FROM shilian.checkpoint UNION SELECT $2) AS c(size)
		WHERE c.size > 0 AND c.size < h.tree_size
	)
	-- definer rights: only for a caller that may see the operator (part 15)
	SELECT line FROM lines WHERE shilian.require_see($1) ORDER BY part, ord
$$;
COMMENT ON FUNCTION ledger_export(bigint, bigint) IS
	'JSON lines for shilian-verify: a header, the operator''s entries with inclusion proofs, the latest checkpoint, the operator''s last checkpointed entry, and consistency proofs from every earlier checkpoint and from old_size.';
REVOKE ALL ON FUNCTION ledger_export(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_export(bigint, bigint) TO shilian_regulator, shilian_admin;
ALTER FUNCTION ledger_export(bigint, bigint) SET search_path = pg_catalog, pg_temp;
GRANT EXECUTE ON FUNCTION ledger_export(bigint, bigint) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
GRANT SELECT ON checkpoint TO shilian_operator, shilian_regulator, shilian_system, shilian_public, shilian_admin;
-- shilian install script, part 58: the per-operator, per-day record counters
-- that the regulator figures read (docs/regulator.md, "Counters"). Every
-- record function counts its record through RecordToLedger (extension/
-- records.c, activity.c): the counts of a transaction are added to
-- operator_day once per (operator, day) just before it commits (in place
-- when the row exists, else by an upsert), and a record undone
-- by a rolled-back savepoint or transaction is never counted.
-- operator_day_rebuild() recounts everything from the record tables.

CREATE TABLE operator_day (
	operator_id       bigint NOT NULL,
	day               date NOT NULL,
	records           integer NOT NULL DEFAULT 0,
	batches           integer NOT NULL DEFAULT 0,
	inspections       integer NOT NULL DEFAULT 0,
	shipments         integer NOT NULL DEFAULT 0,
	receipts          integer NOT NULL DEFAULT 0,
	receipts_complete integer NOT NULL DEFAULT 0,
	rejections        integer NOT NULL DEFAULT 0,
	transforms        integer NOT NULL DEFAULT 0,
	consumptions      integer NOT NULL DEFAULT 0,
	via_client        integer NOT NULL DEFAULT 0,
	PRIMARY KEY (operator_id, day)
)
-- room on every page for the next versions of its rows: a commit's upsert
-- is then a HOT update (no new entries in either index). Measured on the
-- demo province: without it 3 of 4 counter updates were not HOT.
WITH (fillfactor = 70);
CREATE INDEX operator_day_day_idx ON operator_day (day);
COMMENT ON TABLE operator_day IS
	'Records per operator per event date, kept by the record functions at commit (docs/regulator.md): all records, by kind, complete receipts, those that came through a client, import or EPCIS.';
COMMENT ON COLUMN operator_day.records IS 'Every record: the sum of the kind columns (receipts_complete and via_client are subsets).';
COMMENT ON COLUMN operator_day.batches IS 'batch_create: batches produced or harvested (dated produced_on).';
COMMENT ON COLUMN operator_day.inspections IS 'inspect: release, sampling and stand-alone incoming inspections (dated inspected_at).';
COMMENT ON COLUMN operator_day.shipments IS 'ship: sales (dated shipped_on), counted for the seller.';
COMMENT ON COLUMN operator_day.receipts IS 'receive and receive_first_entry: receipts with their incoming inspection (dated received_at), for the buyer.';
COMMENT ON COLUMN operator_day.receipts_complete IS 'Of the receipts, those whose incoming record has every field record_completeness() requires.';
COMMENT ON COLUMN operator_day.rejections IS 'reject: sales refused whole (dated rejected_at), for the buyer.';
COMMENT ON COLUMN operator_day.transforms IS 'transform: processing steps (dated produced_on).';
COMMENT ON COLUMN operator_day.consumptions IS 'consume: served, sold at retail, destroyed, kept as a sample (dated at).';
COMMENT ON COLUMN operator_day.via_client IS 'Of the records, those whose ledger entry has a source: through a system client (X-API-Key), import or EPCIS.';

SELECT pg_catalog.pg_extension_config_dump('operator_day', '');

-- The same per calendar month (month: its first day), kept by the same
-- flush: what the figures of a whole month read (700,000 rows a month
-- for a province rather than 2 million operator-days to group).
CREATE TABLE operator_month (
	operator_id       bigint NOT NULL,
	month             date NOT NULL CHECK (extract(day FROM month) = 1),
	records           integer NOT NULL DEFAULT 0,
	receipts          integer NOT NULL DEFAULT 0,
	receipts_complete integer NOT NULL DEFAULT 0,
	via_client        integer NOT NULL DEFAULT 0,
	PRIMARY KEY (operator_id, month)
)
WITH (fillfactor = 70);
CREATE INDEX operator_month_month_idx ON operator_month (month);
COMMENT ON TABLE operator_month IS
	'operator_day summed per calendar month (month = its first day): records, receipts, complete receipts, records through a client, import or EPCIS.';
SELECT pg_catalog.pg_extension_config_dump('operator_month', '');

-- Whether an incoming record is complete by the rule of
-- record_completeness('incoming', id) (part 20), from the fields that can be
-- missing (name, quantity, dates and shelf life always have a value):
-- inlined into set-based queries, for the counters (at commit, for the
-- receipts of the transaction) and the rebuild. The regress suite checks
-- that it agrees with record_completeness() on every incoming record.
CREATE FUNCTION incoming_fields_complete(agricultural boolean, spec text, supplier_name text,
		supplier_address text, supplier_contact text, supplier_licence text, certificate jsonb)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	SELECT coalesce(supplier_name, '') <> ''
		AND (coalesce(agricultural, false) OR (
			coalesce(spec, '') <> '' AND coalesce(supplier_address, '') <> ''
			AND coalesce(supplier_contact, '') <> '' AND coalesce(supplier_licence, '') <> ''
			AND certificate IS NOT NULL AND certificate <> 'null'::jsonb AND certificate <> '""'::jsonb))
	$$;
COMMENT ON FUNCTION incoming_fields_complete(boolean, text, text, text, text, text, jsonb) IS
	'The completeness rule of an incoming record (record_completeness) on the fields that can be missing; agricultural products need only the supplier name.';

-- The incoming inspections with these ids: inspecting operator, date, complete.
CREATE FUNCTION incoming_complete(ids bigint[])
	RETURNS TABLE (id bigint, operator_id bigint, on_date date, complete boolean)
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT i.id, i.operator_id, shilian.platform_date(i.inspected_at),
		shilian.incoming_fields_complete(p.edible_agricultural, p.spec, coalesce(o.name, b.supplier->>'name'),
			coalesce(o.address, b.supplier->>'address'), coalesce(o.contact, b.supplier->>'contact'),
			coalesce(b.supplier_licence::text, b.supplier->>'licence'), coalesce(b.certificate, i.report->'certificate'))
	  FROM shilian.inspection i
	  JOIN shilian.batch b ON b.id = i.batch_id
	  JOIN shilian.product p ON p.id = b.product_id
	  LEFT JOIN shilian.link l ON l.id = i.link_id
	  LEFT JOIN shilian.operator o ON o.id = l.seller_id
	 WHERE i.id = ANY (ids) AND i.kind = 'incoming'
	$$;
COMMENT ON FUNCTION incoming_complete(bigint[]) IS
	'For a few incoming inspections by id: the inspecting operator, the date, and whether record_completeness() would call the record complete.';
REVOKE ALL ON FUNCTION incoming_complete(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION incoming_complete(bigint[]) TO shilian_regulator, shilian_admin;

-- Recount operator_day from the record tables (and via_client from the
-- ledger's source column): for a DBA after a bulk load with the counters
-- off, and for the demo-data generator. Waits for (and holds off) every
-- committing transaction's counter flush, so none is lost or counted twice.
-- Dates come from timestamps as platform days (shilian.platform_date), as the
-- record functions' do, whatever the session's TimeZone.
CREATE FUNCTION operator_day_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	-- definer rights: truncates the table and reads every record and ledger
	-- row whatever the caller (EXECUTE: shilian_admin)
	SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	LOCK TABLE shilian.operator_day IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_day;
	INSERT INTO shilian.operator_day (operator_id, day, records, batches, inspections, shipments,
			receipts, receipts_complete, rejections, transforms, consumptions, via_client)
	SELECT e.operator_id, e.day,
		sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client'),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'batches'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'inspections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'shipments'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'receipts_complete'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'rejections'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'transforms'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'consumptions'), 0),
		coalesce(sum(e.n) FILTER (WHERE e.k = 'via_client'), 0)
	  FROM (
		SELECT b.owner_id AS operator_id, b.produced_on AS day,
			CASE b.origin WHEN 'produced' THEN 'batches' ELSE 'transforms' END AS k, count(*) AS n
		  FROM shilian.batch b WHERE b.origin IN ('produced', 'transformed') GROUP BY 1, 2, 3
		UNION ALL
		SELECT l.seller_id, l.shipped_on, 'shipments', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' GROUP BY 1, 2
		UNION ALL
		SELECT l.buyer_id, shilian.platform_date(l.received_at), 'rejections', count(*)
		  FROM shilian.link l WHERE l.kind = 'ship' AND l.status = 'rejected' GROUP BY 1, 2
		UNION ALL
		SELECT c.operator_id, shilian.platform_date(c.at), 'consumptions', count(*)
		  FROM shilian.consumption c GROUP BY 1, 2
		UNION ALL
		-- inspections: a receipt's incoming inspection names its sale's link;
		-- a first entry's is the first inspection of its first-entry batch;
		-- the rest were recorded with inspect()
		SELECT r.operator_id, r.day, CASE WHEN r.receipt THEN 'receipts' ELSE 'inspections' END, count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.link_id IS NOT NULL AS receipt
				  FROM shilian.inspection i
				 WHERE i.link_id IS NOT NULL
					OR i.batch_id NOT IN (SELECT b.id FROM shilian.batch b WHERE b.origin = 'first_entry')
				UNION ALL
				SELECT f.operator_id, shilian.platform_date(f.inspected_at), f.rn = 1
				  FROM (SELECT i.operator_id, i.inspected_at, i.kind,
							row_number() OVER (PARTITION BY i.batch_id ORDER BY i.id) AS rn
						  FROM shilian.inspection i JOIN shilian.batch b ON b.id = i.batch_id
						 WHERE b.origin = 'first_entry' AND i.link_id IS NULL) f) r
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT c.operator_id, c.day, 'receipts_complete', count(*)
		  FROM (SELECT i.operator_id, shilian.platform_date(i.inspected_at) AS day, i.id, i.batch_id, b.origin,
					shilian.incoming_fields_complete(p.edible_agricultural, p.spec,
						coalesce(o.name, b.supplier->>'name'), coalesce(o.address, b.supplier->>'address'),
						coalesce(o.contact, b.supplier->>'contact'),
						coalesce(b.supplier_licence::text, b.supplier->>'licence'),
						coalesce(b.certificate, i.report->'certificate')) AS complete
				  FROM shilian.inspection i
				  JOIN shilian.batch b ON b.id = i.batch_id
				  JOIN shilian.product p ON p.id = b.product_id
				  LEFT JOIN shilian.link l ON l.id = i.link_id
				  LEFT JOIN shilian.operator o ON o.id = l.seller_id
				 WHERE i.kind = 'incoming' AND (i.link_id IS NOT NULL OR b.origin = 'first_entry')) c
		 WHERE c.complete
		   AND (c.origin <> 'first_entry' OR c.id = (SELECT min(f.id) FROM shilian.inspection f
													  WHERE f.batch_id = c.batch_id))
		 GROUP BY 1, 2
		UNION ALL
		SELECT g.operator_id, g.on_date, 'via_client', count(*)
		  FROM shilian.ledger g
		 WHERE g.source IS NOT NULL AND g.on_date IS NOT NULL
		   -- the record kinds (the registry's entries are not counted)
		   AND g.kind IN ('batch_create', 'inspect', 'ship', 'receive', 'receive_first_entry', 'reject',
				'transform', 'consume')
		 GROUP BY 1, 2
	  ) e
	 GROUP BY e.operator_id, e.day
	HAVING sum(e.n) FILTER (WHERE e.k <> 'receipts_complete' AND e.k <> 'via_client') > 0;
	GET DIAGNOSTICS n = ROW_COUNT;
	LOCK TABLE shilian.operator_month IN ACCESS EXCLUSIVE MODE;
	TRUNCATE shilian.operator_month;
	-- the rollups (part 62): one recount after
	INSERT INTO shilian.operator_month (operator_id, month, records, receipts, receipts_complete, via_client)
	SELECT d.operator_id, date_trunc('month', d.day::timestamp)::date, sum(d.records), sum(d.receipts),
		sum(d.receipts_complete), sum(d.via_client)
	  FROM shilian.operator_day d GROUP BY 1, 2;
	PERFORM shilian.rollup_recount(NULL);
	RETURN n;
END
$$;
COMMENT ON FUNCTION operator_day_rebuild() IS
	'Admin: recount shilian.operator_day (and operator_month and the rollups of part 62) from the record tables and the ledger''s sources (after a load with shilian.activity_counters off); returns the (operator, day) rows written.';
REVOKE ALL ON FUNCTION operator_day_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_day_rebuild() TO shilian_admin;
-- shilian install script, part 60: the regulator side (docs/regulator.md).
-- The operator roll (the licences the regulator knows of, imported from the
-- licence register) is the denominator of the registration rate; the
-- figures are read with the caller's rights, so row-level security (part
-- 82) keeps a regulator inside its subtree, and each function refuses with
-- 42501 a jurisdiction outside it rather than answering with zeros.

-- ---- the operator roll ------------------------------------------------------

CREATE TABLE operator_roll (
	licence_no  license_no PRIMARY KEY,
	name        text NOT NULL CHECK (name <> ''),
	station     text NOT NULL REFERENCES jurisdiction (code),
	segment     text NOT NULL
		CHECK (segment IN ('production', 'circulation', 'catering', 'special_food')),
	kinds       text[] NOT NULL CHECK (cardinality(kinds) > 0 AND kinds <@ ARRAY[
		'farm', 'processor', 'wholesaler', 'retailer', 'market_vendor', 'market',
		'restaurant', 'school_canteen', 'collective_meal', 'central_kitchen',
		'unit_canteen', 'workshop', 'importer', 'cold_storage', 'special_food_maker']),
	imported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_roll_station_idx ON operator_roll (station);
COMMENT ON TABLE operator_roll IS
	'The licences known to the regulator (imported from the licence register): holder name, home station, segment, kinds; the denominator of the registration rate.';

SELECT pg_catalog.pg_extension_config_dump('operator_roll', '');

-- The shape of a staging table for roll_import: COPY the register's export
-- into a temporary table LIKE this one (row-level security forbids COPY FROM
-- straight into operator_roll for every role but its owner).
CREATE TABLE operator_roll_stage (
	licence_no  text,
	name        text,
	station     text,
	segment     text,
	kinds       text[]
);
COMMENT ON TABLE operator_roll_stage IS
	'Template of a staging table for roll_import (CREATE TEMP TABLE s (LIKE shilian.operator_roll_stage); COPY s FROM ...); holds no rows itself.';

-- Load (or refresh) the roll from a staging table with the columns of
-- operator_roll_stage: one INSERT ... SELECT, so a million rows load in
-- seconds; a licence already on the roll takes the new name, station,
-- segment and kinds. Every row is checked by the table's constraints and
-- types (a bad licence number fails the whole load with 22P02 naming it).
CREATE FUNCTION roll_import(source regclass) RETURNS bigint
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	-- source is a regclass: its text form is a quoted, existing relation
	EXECUTE format('INSERT INTO shilian.operator_roll AS r (licence_no, name, station, segment, kinds)'
				   ' SELECT s.licence_no::shilian.license_no, s.name, s.station, s.segment, s.kinds'
				   '   FROM %s AS s'
				   ' ON CONFLICT (licence_no) DO UPDATE SET name = excluded.name,'
				   ' station = excluded.station, segment = excluded.segment, kinds = excluded.kinds,'
				   ' imported_at = now()', source);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION roll_import(regclass) IS
	'Admin: load or refresh the operator roll from a staging table shaped like operator_roll_stage (licence_no, name, station, segment, kinds); returns the rows loaded.';
REVOKE ALL ON FUNCTION roll_import(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION roll_import(regclass) TO shilian_admin;

-- ---- records in time --------------------------------------------------------
-- Every record an operator made, by the date of the event it records:
-- batches it produced or transformed (produced_on), sales (shipped_on),
-- inspections including the incoming inspection of every receipt
-- (inspected_at) and consumption (at); timestamps are taken as dates in the
-- session time zone. Invoker rights and inlined: the caller's row-level
-- security applies.
CREATE FUNCTION record_events() RETURNS TABLE (operator_id bigint, on_date date)
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT b.owner_id, b.produced_on FROM shilian.batch b
	 WHERE b.origin IN ('produced', 'transformed')
	UNION ALL
	SELECT l.seller_id, l.shipped_on FROM shilian.link l WHERE l.kind = 'ship'
	UNION ALL
	SELECT i.operator_id, shilian.platform_date(i.inspected_at) FROM shilian.inspection i
	UNION ALL
	SELECT c.operator_id, shilian.platform_date(c.at) FROM shilian.consumption c
	$$;
COMMENT ON FUNCTION record_events() IS
	'Every record as (operator, event date): batches produced or transformed, sales, inspections (receipts included), consumption; as the caller may see them.';
REVOKE ALL ON FUNCTION record_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_events() TO shilian_regulator, shilian_admin;

-- ---- who may ask about a jurisdiction ---------------------------------------

CREATE FUNCTION regulator_require_subtree(code text) RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF code IS NULL OR NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.code = regulator_require_subtree.code) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLR19',
			MESSAGE = format('unknown jurisdiction: %s', coalesce(code, 'null')),
			HINT = 'Give a registered GB/T 2260 division or station code.';
	END IF;
	IF current_setting('role') = 'shilian_admin'
		OR (current_setting('role') = 'none'
			AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = session_user AND rolsuper))
		OR (current_setting('role') = 'shilian_regulator' AND shilian.jurisdiction_covers(code)) THEN
		RETURN code;
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
		MESSAGE = format('jurisdiction %s is outside the caller''s subtree', code),
		DETAIL = format('The caller regulates %s.', coalesce(shilian.current_jurisdiction(), 'no jurisdiction')),
		HINT = 'A regulator asks about its own jurisdiction or those below it; the platform admin about any.';
END
$$;
COMMENT ON FUNCTION regulator_require_subtree(text) IS
	'Returns the code when the caller is the platform admin or a regulator at or above that jurisdiction; error SLR19 for an unknown code, 42501 otherwise.';
REVOKE ALL ON FUNCTION regulator_require_subtree(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION regulator_require_subtree(text) TO shilian_regulator, shilian_admin;

-- jurisdiction_stats, segment_stats and monthly_report: part 64, after the
-- counters (part 58) they read.

-- ---- inactive_operators -----------------------------------------------------

CREATE FUNCTION inactive_operators(code text, since date)
	RETURNS TABLE (id bigint, name text, station text, segment text, status text,
		contact text, last_record date, regulator_contact text)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	WITH asked AS (
		SELECT shilian.regulator_require_subtree(inactive_operators.code) AS code
	), last AS (
		-- from the counters (part 58), not the records
		SELECT d.operator_id, max(d.day) AS last_record
		  FROM shilian.operator_day d WHERE d.records > 0 GROUP BY d.operator_id
	)
	SELECT o.id, o.name, o.station, o.segment, o.status, o.contact, l.last_record, o.regulator_contact
	  FROM shilian.operator o
	  JOIN shilian.jurisdiction s ON s.code = o.station
	  CROSS JOIN asked a
	  LEFT JOIN last l ON l.operator_id = o.id
	 WHERE a.code = ANY (s.ancestors)
	   AND o.status <> 'suspended'
	   AND (l.last_record IS NULL OR l.last_record < inactive_operators.since)
	 ORDER BY o.station, o.id
	$$;
COMMENT ON FUNCTION inactive_operators(text, date) IS
	'Registered or active operators at home in the jurisdiction''s subtree with no record dated on or after since: last record date (NULL: never) and the regulator contact. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION inactive_operators(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION inactive_operators(text, date) TO shilian_regulator, shilian_admin;
-- shilian install script, part 62: per-station rollups of the regulator
-- figures (docs/regulator.md, "Rollups"), so that a province's figures for a
-- calendar month read a few thousand station rows instead of a million
-- operators and their licences.
--
--   roll_station     the roll per (station, segment, holder's home station):
--                    licensed, registered, activated (period-independent)
--   operator_station the operators per (station, segment): all of them, the
--                    active 10+3 ones, the active own-system ones
--   station_month    per (station, segment, month): operators that recorded
--                    in the month, of them the active 10+3 ones, the active
--                    own-system ones with a record through a client, import
--                    or EPCIS, and the month's receipts and complete receipts
--
-- Kept two ways. The registry side (the roll, licences, operators) changes
-- rarely: a statement-level trigger recounts every station the statement
-- touched (rollup_recount), a few hundred rows each. The records side
-- changes with every record: the counter flush writes operator_month and
-- adds the change of each operator-month's contribution to station_month
-- (a first record in a month adds one active operator). The
-- recounts hold rollup_lock() exclusively and the flush's additions hold it
-- shared, so an addition is never lost under a concurrent recount: a
-- recount waits for the committing flushes and sees their rows, a flush
-- waits for the recount's transaction and adds to its rows.
-- rollup_rebuild() recounts everything (operator_day_rebuild calls it).

CREATE TABLE roll_station (
	station        text NOT NULL,
	segment        text NOT NULL,
	holder_station text NOT NULL,   -- '' when the licence is not on the platform
	licensed       bigint NOT NULL,
	registered     bigint NOT NULL,
	activated      bigint NOT NULL,
	PRIMARY KEY (station, segment, holder_station)
);
COMMENT ON TABLE roll_station IS
	'Rollup of operator_roll per (station, segment, home station of the licence''s holder on the platform, '''' for none): licences, registered, activated. Kept by triggers (docs/regulator.md).';

CREATE TABLE operator_station (
	station              text NOT NULL,
	segment              text NOT NULL,
	operators            bigint NOT NULL,
	key_operators        bigint NOT NULL,
	own_system_operators bigint NOT NULL,
	PRIMARY KEY (station, segment)
);
COMMENT ON TABLE operator_station IS
	'Rollup of operator per (station, segment): operators of any status, active 10+3 operators, active own-system operators. Kept by triggers (docs/regulator.md).';

CREATE TABLE station_month (
	station              text NOT NULL,
	segment              text NOT NULL,
	month                date NOT NULL CHECK (extract(day FROM month) = 1),
	active_operators     bigint NOT NULL DEFAULT 0,
	key_recorded         bigint NOT NULL DEFAULT 0,
	own_system_uploading bigint NOT NULL DEFAULT 0,
	receipts             bigint NOT NULL DEFAULT 0,
	receipts_complete    bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (month, station, segment)
);
COMMENT ON TABLE station_month IS
	'Rollup of operator_month per (station, segment, month) of the operators at home there: that recorded, of them active 10+3 ones, active own-system ones with a record through a client, import or EPCIS; receipts, complete receipts. Kept by the counter flush (docs/regulator.md).';

-- The advisory lock key of the rollups (shared: the flush's additions;
-- exclusive: recounts).
CREATE FUNCTION rollup_lock() RETURNS bigint
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN 7235861262;
COMMENT ON FUNCTION rollup_lock() IS
	'The advisory lock key that orders the rollups'' recounts (exclusive) against the counter flush''s additions (shared).';

-- Whether an operator counts for the 10+3 figures: of a key catering kind,
-- or holding a licence whose scope has one of the ten key categories.
-- (A function with a sub-select is never inlined: the queries over many
-- operators write it out.)
CREATE FUNCTION operator_is_key(id bigint, kinds text[]) RETURNS boolean
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT kinds OPERATOR(pg_catalog.&&) shilian.key_catering_kinds()
		OR EXISTS (SELECT 1 FROM shilian.licence li
					WHERE li.operator_id OPERATOR(pg_catalog.=) operator_is_key.id
					  AND li.scope OPERATOR(pg_catalog.&&) shilian.key_categories())
	$$;
COMMENT ON FUNCTION operator_is_key(bigint, text[]) IS
	'The operator deals in a key category (a licence scope) or is a school canteen, collective-meal unit or central kitchen (the 10+3 rule).';
REVOKE ALL ON FUNCTION operator_is_key(bigint, text[]) FROM PUBLIC;

-- Recount the rollups of these stations (all of them when stations is NULL)
-- from the roll, licences, operators and operator_month.
CREATE FUNCTION rollup_recount(stations text[]) RETURNS void
	LANGUAGE plpgsql VOLATILE
	-- definer rights: writes the rollups whatever the caller (a registry
	-- function, the admin's roll import); EXECUTE: nobody but the owner
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	everything boolean := stations IS NULL;
BEGIN
	IF NOT everything AND cardinality(stations) = 0 THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(shilian.rollup_lock());
	IF everything THEN
		TRUNCATE shilian.roll_station, shilian.operator_station, shilian.station_month;
	ELSE
		DELETE FROM shilian.roll_station r WHERE r.station = ANY (stations);
		DELETE FROM shilian.operator_station r WHERE r.station = ANY (stations);
		DELETE FROM shilian.station_month r WHERE r.station = ANY (stations);
	END IF;
	INSERT INTO shilian.roll_station (station, segment, holder_station, licensed, registered, activated)
	SELECT r.station, r.segment, coalesce(o.station, ''), count(*), count(o.status),
		count(*) FILTER (WHERE o.status = 'active')
	  FROM shilian.operator_roll r
	  LEFT JOIN shilian.licence li ON li.licence_no = r.licence_no
	  LEFT JOIN shilian.operator o ON o.id = li.operator_id
	 WHERE everything OR r.station = ANY (stations)
	 GROUP BY 1, 2, 3;
	INSERT INTO shilian.operator_station (station, segment, operators, key_operators, own_system_operators)
	SELECT o.station, o.segment, count(*),
		count(*) FILTER (WHERE o.status = 'active' AND (o.kinds && shilian.key_catering_kinds()
			OR EXISTS (SELECT 1 FROM shilian.licence li
						WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))),
		count(*) FILTER (WHERE o.status = 'active' AND o.own_system)
	  FROM shilian.operator o
	 WHERE everything OR o.station = ANY (stations)
	 GROUP BY 1, 2;
	INSERT INTO shilian.station_month (station, segment, month, active_operators, key_recorded,
			own_system_uploading, receipts, receipts_complete)
	SELECT o.station, o.segment, m.month, count(*),
		count(*) FILTER (WHERE o.status = 'active' AND (o.kinds && shilian.key_catering_kinds()
			OR EXISTS (SELECT 1 FROM shilian.licence li
						WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))),
		count(*) FILTER (WHERE o.status = 'active' AND o.own_system AND m.via_client > 0),
		sum(m.receipts), sum(m.receipts_complete)
	  FROM shilian.operator o
	  JOIN shilian.operator_month m ON m.operator_id = o.id AND m.records > 0
	 WHERE everything OR o.station = ANY (stations)
	 GROUP BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION rollup_recount(text[]) IS
	'Recount roll_station, operator_station and station_month for these stations (NULL: all) from the roll, licences, operators and operator_month.';
REVOKE ALL ON FUNCTION rollup_recount(text[]) FROM PUBLIC;

CREATE FUNCTION rollup_rebuild() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM shilian.rollup_recount(NULL);
	RETURN (SELECT count(*) FROM shilian.roll_station) + (SELECT count(*) FROM shilian.operator_station)
		+ (SELECT count(*) FROM shilian.station_month);
END
$$;
COMMENT ON FUNCTION rollup_rebuild() IS
	'Admin: recount every rollup of the regulator figures (roll_station, operator_station, station_month) from the roll, licences, operators and operator_month; returns the rows written.';
REVOKE ALL ON FUNCTION rollup_rebuild() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rollup_rebuild() TO shilian_admin;

-- ---- the registry side: statement triggers ------------------------------------
-- One function for the three tables and the three events (a trigger with
-- transition tables has one event): it gathers the stations whose rollups the
-- statement may have changed and recounts them.

CREATE FUNCTION rollup_registry_changed() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
DECLARE
	st text[];
BEGIN
	IF TG_TABLE_NAME = 'operator_roll' THEN
		-- the roll's rows count at their station
		IF TG_OP = 'INSERT' THEN
			st := ARRAY(SELECT DISTINCT n.station FROM new_rows n);
		ELSIF TG_OP = 'UPDATE' THEN
			st := ARRAY(SELECT n.station FROM new_rows n UNION SELECT o.station FROM old_rows o);
		ELSE
			st := ARRAY(SELECT DISTINCT o.station FROM old_rows o);
		END IF;
	ELSIF TG_TABLE_NAME = 'licence' THEN
		-- a licence counts for the roll rows of its number and for its
		-- holder's 10+3 flag
		IF TG_OP = 'INSERT' THEN
			st := ARRAY(SELECT r.station FROM shilian.operator_roll r WHERE r.licence_no IN (SELECT n.licence_no FROM new_rows n)
						UNION SELECT o.station FROM shilian.operator o WHERE o.id IN (SELECT n.operator_id FROM new_rows n));
		ELSIF TG_OP = 'UPDATE' THEN
			st := ARRAY(SELECT r.station FROM shilian.operator_roll r
						 WHERE r.licence_no IN (SELECT n.licence_no FROM new_rows n UNION SELECT o.licence_no FROM old_rows o)
						UNION SELECT o.station FROM shilian.operator o
						 WHERE o.id IN (SELECT n.operator_id FROM new_rows n UNION SELECT x.operator_id FROM old_rows x));
		ELSE
			st := ARRAY(SELECT r.station FROM shilian.operator_roll r WHERE r.licence_no IN (SELECT o.licence_no FROM old_rows o)
						UNION SELECT o.station FROM shilian.operator o WHERE o.id IN (SELECT x.operator_id FROM old_rows x));
		END IF;
	ELSE
		-- an operator counts at its station and, through its licences, for
		-- the roll rows of their numbers
		IF TG_OP = 'INSERT' THEN
			st := ARRAY(SELECT DISTINCT n.station FROM new_rows n);
		ELSIF TG_OP = 'UPDATE' THEN
			st := ARRAY(SELECT n.station FROM new_rows n UNION SELECT o.station FROM old_rows o
						UNION SELECT r.station FROM shilian.operator_roll r
						 WHERE r.licence_no IN (SELECT li.licence_no FROM shilian.licence li
												 WHERE li.operator_id IN (SELECT n.id FROM new_rows n)));
		ELSE
			st := ARRAY(SELECT DISTINCT o.station FROM old_rows o);
		END IF;
	END IF;
	-- a bulk load touches most stations: one recount of everything
	IF cardinality(st) > 500 THEN
		PERFORM shilian.rollup_recount(NULL);
	ELSE
		PERFORM shilian.rollup_recount(st);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_registry_changed() IS
	'Statement trigger of operator_roll, licence and operator: recounts the rollups of the stations the statement touched.';

CREATE TRIGGER rollup_ins AFTER INSERT ON operator_roll REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_upd AFTER UPDATE ON operator_roll REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_del AFTER DELETE ON operator_roll REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_ins AFTER INSERT ON licence REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_upd AFTER UPDATE ON licence REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_del AFTER DELETE ON licence REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_ins AFTER INSERT ON operator REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_upd AFTER UPDATE ON operator REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
CREATE TRIGGER rollup_del AFTER DELETE ON operator REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_registry_changed();
-- TRUNCATE of the roll (the owner's reload): its stations are all of them
CREATE FUNCTION rollup_roll_truncated() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(shilian.rollup_lock());
	TRUNCATE shilian.roll_station;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION rollup_roll_truncated() IS 'Statement trigger of TRUNCATE operator_roll: empties roll_station.';
CREATE TRIGGER rollup_truncate AFTER TRUNCATE ON operator_roll
	FOR EACH STATEMENT EXECUTE FUNCTION rollup_roll_truncated();

-- ---- the records side: the counter flush's additions ----------------------------
-- The counter flush (extension/activity.c) adds the change of each
-- operator-month's contribution to station_month itself, in (month, station,
-- segment) order under rollup_lock() held shared, right after it writes
-- operator_month: no trigger runs at commit, and two committing transactions
-- lock station_month rows in the same order (no deadlock).
-- shilian install script, part 64: the regulator's assessment figures
-- (docs/regulator.md): jurisdiction_stats and segment_stats per child
-- jurisdiction or segment, and the monthly report with ranks, month-on-month
-- change and targets. Everything is counted once per (station, segment) of
-- the asked subtree by station_figures, from the roll, the operators and
-- the per-day counters (operator_day, part 58), never from the records;
-- with the caller's rights, so row-level security applies to every row.

-- ---- assessment targets -----------------------------------------------------
-- The targets the province sets (configurable data, no rows by default):
-- a row for a jurisdiction applies to it and everything below it that has no
-- row of its own; a row for the province gives the standard targets, rows
-- for the national food-safety demonstration cities (demonstration = true)
-- their higher ones. docs/regulator.md lists the values the demo uses.
CREATE TABLE assessment_target (
	code              text PRIMARY KEY REFERENCES jurisdiction (code),
	demonstration     boolean NOT NULL DEFAULT false,
	registration_rate numeric NOT NULL CHECK (registration_rate BETWEEN 0 AND 1),
	activity_rate     numeric NOT NULL CHECK (activity_rate BETWEEN 0 AND 1),
	coverage_rate     numeric NOT NULL CHECK (coverage_rate BETWEEN 0 AND 1),
	upload_rate       numeric NOT NULL CHECK (upload_rate BETWEEN 0 AND 1)
);
COMMENT ON TABLE assessment_target IS
	'Targets of the four assessment figures for a jurisdiction and everything below it without a row of its own; demonstration marks a national food-safety demonstration city (higher targets).';
SELECT pg_catalog.pg_extension_config_dump('assessment_target', '');

-- ---- the ten key categories and the three catering kinds --------------------

CREATE FUNCTION key_categories() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN ARRAY['vegetables', 'fruit', 'aquatic', 'grain', 'meat', 'dairy', 'edible_oil',
		'alcohol', 'health_food', 'infant_formula'];
COMMENT ON FUNCTION key_categories() IS
	'The ten key categories of the "10 + 3" priority (licence scope values).';
CREATE FUNCTION key_catering_kinds() RETURNS text[]
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN ARRAY['school_canteen', 'collective_meal', 'central_kitchen'];
COMMENT ON FUNCTION key_catering_kinds() IS
	'The three catering kinds of the "10 + 3" priority: school canteens, collective-meal delivery units, central kitchens.';

-- ---- station_figures ----------------------------------------------------------
-- The raw counts per (station, segment) of code's subtree for period: the
-- roll (licensed, registered, activated) and the operators at home there
-- (of any status; active ones for the 10+3 and own-system figures).
CREATE FUNCTION station_figures_scan(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	-- the license_no = operator is shilian's, whatever the caller's path;
	-- room to hash a province's million operators in memory
	SET search_path = pg_catalog, shilian, pg_temp
	SET work_mem = '256MB'
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	everything boolean;
	big boolean;
	whole_month boolean;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_scan.code);
	-- the subtree's stations as a value, so that the plan is made for its size
	-- (index probes for a county, hash joins for a province); the only
	-- province of the database is every station: no filter at all
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_scan.code = ANY (j.ancestors));
	everything := (SELECT j.level = 'province' FROM shilian.jurisdiction j WHERE j.code = station_figures_scan.code)
		AND NOT EXISTS (SELECT 1 FROM shilian.jurisdiction j WHERE j.level = 'province' AND j.code <> station_figures_scan.code);
	big := everything OR cardinality(stations) > 200;
	-- a whole calendar month reads operator_month, any other period operator_day
	whole_month := NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date;
	-- planned on every call with the values above (EXECUTE), so that the
	-- branches for the other size of subtree and period fold away
	RETURN QUERY EXECUTE '
	WITH act AS (
		-- the period''s counters, per operator
		SELECT m.operator_id, m.via_client::bigint AS via_client, m.receipts::bigint AS receipts,
			m.receipts_complete::bigint AS receipts_complete
		  FROM shilian.operator_month m
		 WHERE $4 AND m.month = lower($2) AND m.records > 0
		   AND ($6 OR m.operator_id IN (SELECT o.id FROM shilian.operator o WHERE o.station = ANY ($1)))
		UNION ALL
		SELECT d.operator_id, sum(d.via_client), sum(d.receipts), sum(d.receipts_complete)
		  FROM shilian.operator_day d
		 WHERE NOT $4 AND d.day <@ $2 AND d.records > 0
		   AND ($6 OR d.operator_id IN (SELECT o.id FROM shilian.operator o WHERE o.station = ANY ($1)))
		 GROUP BY d.operator_id
	), per_op AS (
		SELECT o.station, o.segment, o.status = ''active'' AS active_status, o.own_system,
			a.operator_id IS NOT NULL AS recorded, coalesce(a.via_client, 0) AS via_client,
			coalesce(a.receipts, 0) AS receipts, coalesce(a.receipts_complete, 0) AS receipts_complete,
			-- dealing in a key category (a licence''s scope) or of a key catering kind;
			-- a big subtree hashes the holders once (IN), a small one probes
			-- the index per operator (EXISTS)
			(o.kinds && shilian.key_catering_kinds()
				OR CASE WHEN $6
					THEN o.id IN (SELECT li.operator_id FROM shilian.licence li
								   WHERE li.scope && shilian.key_categories())
					ELSE EXISTS (SELECT 1 FROM shilian.licence li
								  WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()) END) AS key,
			-- a sale to it shipped in the period still pending
			CASE WHEN $6
				THEN o.id IN (SELECT l.buyer_id FROM shilian.link l
							   WHERE l.status = ''pending'' AND l.kind = ''ship'' AND l.shipped_on <@ $2)
				ELSE EXISTS (SELECT 1 FROM shilian.link l
							  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
								AND l.shipped_on <@ $2) END AS unreceived
		  FROM shilian.operator o
		  LEFT JOIN act a ON a.operator_id = o.id
		 WHERE $5 OR o.station = ANY ($1)
		-- not pulled up: each row''s expressions above are computed once
		OFFSET 0
	), opsum AS (
		SELECT p.station, p.segment, count(*) AS operators, count(*) FILTER (WHERE p.recorded) AS active_operators,
			count(*) FILTER (WHERE p.active_status AND p.key) AS key_operators,
			count(*) FILTER (WHERE p.active_status AND p.key AND p.recorded AND NOT p.unreceived) AS key_covered,
			count(*) FILTER (WHERE p.active_status AND p.own_system) AS own_system_operators,
			count(*) FILTER (WHERE p.active_status AND p.own_system AND p.via_client > 0) AS own_system_uploading,
			sum(p.receipts) AS receipts, sum(p.receipts_complete) AS receipts_complete
		  FROM per_op p GROUP BY p.station, p.segment
	), roll AS (
		-- the roll does not depend on the period: with_roll false skips it
		SELECT r.station, r.segment, count(*) AS licensed, count(o.status) AS registered,
			count(*) FILTER (WHERE o.status = ''active'') AS activated
		  FROM shilian.operator_roll r
		  LEFT JOIN shilian.licence li ON li.licence_no = r.licence_no
		  LEFT JOIN shilian.operator o ON o.id = li.operator_id
		 WHERE $3 AND ($5 OR r.station = ANY ($1))
		 GROUP BY r.station, r.segment
	)
	SELECT coalesce(r.station, o.station), coalesce(r.segment, o.segment),
		coalesce(r.licensed, 0), coalesce(r.registered, 0), coalesce(r.activated, 0),
		coalesce(o.operators, 0), coalesce(o.active_operators, 0),
		coalesce(o.key_operators, 0), coalesce(o.key_covered, 0),
		coalesce(o.own_system_operators, 0), coalesce(o.own_system_uploading, 0),
		coalesce(o.receipts, 0)::bigint, coalesce(o.receipts_complete, 0)::bigint
	  FROM roll r FULL JOIN opsum o ON o.station = r.station AND o.segment = r.segment'
	USING stations, period, with_roll, whole_month, everything, big;
END
$$;
COMMENT ON FUNCTION station_figures_scan(text, daterange, boolean) IS
	'station_figures counted from the roll, the operators and operator_day / operator_month with the caller''s rights (any period); station_figures reads the rollups instead for a calendar month. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures_scan(text, daterange, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures_scan(text, daterange, boolean) TO shilian_regulator, shilian_admin;

-- The same for one calendar month from the rollups (part 62): a few rows per
-- station. Definer rights, after the subtree check: the rollups are read
-- for the asked subtree's stations only, and a regulator's registered and
-- activated counts keep to what row-level security lets it see (a roll
-- licence whose holder is at home outside the regulator's own subtree
-- counts as not registered for it, as in station_figures_scan).
CREATE FUNCTION station_figures_month(code text, month date, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SECURITY DEFINER SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
DECLARE
	stations text[];
	seen text[];
	first date := date_trunc('month', station_figures_month.month::timestamp)::date;
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures_month.code);
	stations := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE station_figures_month.code = ANY (j.ancestors));
	-- the home stations of the licence holders the caller may see (NULL: all)
	IF current_setting('role') = 'shilian_regulator' THEN
		seen := ARRAY(SELECT s FROM shilian.subtree_stations() AS s);
	END IF;
	-- planned with the values (EXECUTE): hashed station sets for a province
	RETURN QUERY EXECUTE '
	WITH st AS (
		SELECT DISTINCT unnest($1) AS station
	), r AS (
		SELECT r.station, r.segment, sum(r.licensed)::bigint AS licensed,
			coalesce(sum(r.registered) FILTER (WHERE $2 IS NULL OR r.holder_station = ANY ($2)), 0)::bigint AS registered,
			coalesce(sum(r.activated) FILTER (WHERE $2 IS NULL OR r.holder_station = ANY ($2)), 0)::bigint AS activated
		  FROM shilian.roll_station r JOIN st ON st.station = r.station
		 WHERE $4
		 GROUP BY r.station, r.segment
	), o AS (
		SELECT o.* FROM shilian.operator_station o JOIN st ON st.station = o.station
	), m AS (
		SELECT m.* FROM shilian.station_month m JOIN st ON st.station = m.station WHERE m.month = $3
	), p AS (
		-- of the active 10+3 operators that recorded in the month, those
		-- with a sale to them shipped in the month still pending
		-- (a big subtree joins the month''s pending buyers, a small one
		-- probes link_buyer_pending_idx per operator of the subtree)
		SELECT o.station, o.segment, count(*) AS n
		  FROM shilian.operator o JOIN st ON st.station = o.station
		 WHERE ' || CASE WHEN cardinality(stations) > 200 THEN
			'o.id IN (SELECT l.buyer_id FROM shilian.link l
					   WHERE l.status = ''pending'' AND l.kind = ''ship''
						 AND l.shipped_on >= $3 AND l.shipped_on < ($3 + interval ''1 month'')::date)'
		ELSE
			'CASE WHEN true THEN EXISTS (SELECT 1 FROM shilian.link l
					  WHERE l.buyer_id = o.id AND l.status = ''pending'' AND l.kind = ''ship''
						AND l.shipped_on >= $3 AND l.shipped_on < ($3 + interval ''1 month'')::date) END' END || '
		   AND o.status = ''active''
		   AND EXISTS (SELECT 1 FROM shilian.operator_month om
						WHERE om.operator_id = o.id AND om.month = $3 AND om.records > 0)
		   -- operator_is_key, written out (a function with a sub-select is not inlined)
		   AND (o.kinds && shilian.key_catering_kinds()
				OR EXISTS (SELECT 1 FROM shilian.licence li
							WHERE li.operator_id = o.id AND li.scope && shilian.key_categories()))
		 GROUP BY o.station, o.segment
	)
	SELECT coalesce(r.station, o.station), coalesce(r.segment, o.segment),
		coalesce(r.licensed, 0), coalesce(r.registered, 0), coalesce(r.activated, 0),
		coalesce(o.operators, 0), coalesce(m.active_operators, 0),
		coalesce(o.key_operators, 0), coalesce(m.key_recorded, 0) - coalesce(p.n, 0),
		coalesce(o.own_system_operators, 0), coalesce(m.own_system_uploading, 0),
		coalesce(m.receipts, 0), coalesce(m.receipts_complete, 0)
	  FROM r FULL JOIN o ON o.station = r.station AND o.segment = r.segment
	  LEFT JOIN m ON m.station = coalesce(r.station, o.station) AND m.segment = coalesce(r.segment, o.segment)
	  LEFT JOIN p ON p.station = coalesce(r.station, o.station) AND p.segment = coalesce(r.segment, o.segment)'
	USING stations, seen, first, with_roll;
END
$$;
COMMENT ON FUNCTION station_figures_month(text, date, boolean) IS
	'station_figures for the calendar month holding month, read from the rollups roll_station, operator_station and station_month (part 62) and the month''s pending sales. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures_month(text, date, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures_month(text, date, boolean) TO shilian_regulator, shilian_admin;

-- The raw counts per (station, segment) of code's subtree for period: from
-- the rollups for a calendar month, counted from the operators and the
-- per-day counters for any other period.
CREATE FUNCTION station_figures(code text, period daterange, with_roll boolean DEFAULT true)
	RETURNS TABLE (station text, segment text,
		licensed bigint, registered bigint, activated bigint,
		operators bigint, active_operators bigint,
		key_operators bigint, key_covered bigint,
		own_system_operators bigint, own_system_uploading bigint,
		receipts bigint, receipts_complete bigint)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- a whole calendar month reads the per-station rollups
	-- (station_figures_month), any other period counts operators
	-- (station_figures_scan); both check the subtree again, and so does
	-- this function, before either, so that the error names the function
	-- that was called:
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(station_figures.code);
	IF NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)
		AND lower(period) = date_trunc('month', lower(period)::timestamp)::date
		AND upper(period) = (lower(period) + interval '1 month')::date THEN
		RETURN QUERY SELECT * FROM shilian.station_figures_month(station_figures.code, lower(period), with_roll);
	ELSE
		RETURN QUERY SELECT * FROM shilian.station_figures_scan(station_figures.code, period, with_roll);
	END IF;
END
$$;
COMMENT ON FUNCTION station_figures(text, daterange, boolean) IS
	'Raw counts per (station, segment) of the jurisdiction''s subtree for the period, from the roll (unless with_roll is false: zeros), the operators and the counters (the per-station rollups for a calendar month); what jurisdiction_stats, segment_stats and monthly_report sum up. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION station_figures(text, daterange, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION station_figures(text, daterange, boolean) TO shilian_regulator, shilian_admin;

-- A share rounded to 4 places; NULL when nothing to divide by.
CREATE FUNCTION share(part bigint, whole bigint) RETURNS numeric
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN round(part::numeric / nullif(whole, 0), 4);
COMMENT ON FUNCTION share(bigint, bigint) IS 'part ÷ whole rounded to 4 places, NULL when whole is 0.';

-- ---- jurisdiction_stats -------------------------------------------------------

CREATE FUNCTION jurisdiction_stats(code text, period daterange)
	RETURNS TABLE (jurisdiction text, name text, total boolean,
		licensed bigint, registered bigint, activated bigint, registration_rate numeric,
		operators bigint, active_operators bigint, activity_rate numeric,
		key_operators bigint, key_covered bigint, coverage_rate numeric,
		own_system_operators bigint, own_system_uploading bigint, upload_rate numeric,
		receipts bigint, receipts_complete bigint, completeness_rate numeric)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(jurisdiction_stats.code);
	RETURN QUERY
	WITH f AS (
		SELECT f.* FROM shilian.station_figures(jurisdiction_stats.code, jurisdiction_stats.period) f
	), parts AS (
		-- each child jurisdiction, and the asked one itself as the total
		SELECT j.code, j.name, false AS total FROM shilian.jurisdiction j WHERE j.parent = jurisdiction_stats.code
		UNION ALL
		SELECT j.code, j.name, true FROM shilian.jurisdiction j WHERE j.code = jurisdiction_stats.code
	), fig AS (
		SELECT p.code, p.name, p.total,
			coalesce(sum(f.licensed), 0)::bigint AS licensed,
			coalesce(sum(f.registered), 0)::bigint AS registered,
			coalesce(sum(f.activated), 0)::bigint AS activated,
			coalesce(sum(f.operators), 0)::bigint AS operators,
			coalesce(sum(f.active_operators), 0)::bigint AS active_operators,
			coalesce(sum(f.key_operators), 0)::bigint AS key_operators,
			coalesce(sum(f.key_covered), 0)::bigint AS key_covered,
			coalesce(sum(f.own_system_operators), 0)::bigint AS own_system_operators,
			coalesce(sum(f.own_system_uploading), 0)::bigint AS own_system_uploading,
			coalesce(sum(f.receipts), 0)::bigint AS receipts,
			coalesce(sum(f.receipts_complete), 0)::bigint AS receipts_complete
		  FROM parts p
		  LEFT JOIN shilian.jurisdiction s ON p.code = ANY (s.ancestors)
			AND s.code IN (SELECT f.station FROM f)
		  LEFT JOIN f ON f.station = s.code
		 GROUP BY p.code, p.name, p.total
	)
	SELECT f.code, f.name, f.total, f.licensed, f.registered, f.activated,
		shilian.share(f.registered, f.licensed), f.operators, f.active_operators,
		shilian.share(f.active_operators, f.operators),
		f.key_operators, f.key_covered, shilian.share(f.key_covered, f.key_operators),
		f.own_system_operators, f.own_system_uploading, shilian.share(f.own_system_uploading, f.own_system_operators),
		f.receipts, f.receipts_complete, shilian.share(f.receipts_complete, f.receipts)
	  FROM fig f
	 ORDER BY f.total, f.code;
END
$$;
COMMENT ON FUNCTION jurisdiction_stats(text, daterange) IS
	'Per child jurisdiction and in total (total true): licences on the roll, registered, activated, registration rate; operators, active in the period, activity rate; 10+3 operators, covered, coverage rate; own-system operators, uploading, upload rate; receipts, complete, completeness rate. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION jurisdiction_stats(text, daterange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jurisdiction_stats(text, daterange) TO shilian_regulator, shilian_admin;

-- ---- segment_stats --------------------------------------------------------------

CREATE FUNCTION segment_stats(code text, period daterange)
	RETURNS TABLE (segment text,
		licensed bigint, registered bigint, activated bigint, registration_rate numeric,
		operators bigint, active_operators bigint, activity_rate numeric,
		key_operators bigint, key_covered bigint, coverage_rate numeric,
		own_system_operators bigint, own_system_uploading bigint, upload_rate numeric,
		receipts bigint, receipts_complete bigint, completeness_rate numeric)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(segment_stats.code);
	RETURN QUERY
	WITH g AS (
		SELECT s.segment,
			coalesce(sum(f.licensed), 0)::bigint AS licensed,
			coalesce(sum(f.registered), 0)::bigint AS registered,
			coalesce(sum(f.activated), 0)::bigint AS activated,
			coalesce(sum(f.operators), 0)::bigint AS operators,
			coalesce(sum(f.active_operators), 0)::bigint AS active_operators,
			coalesce(sum(f.key_operators), 0)::bigint AS key_operators,
			coalesce(sum(f.key_covered), 0)::bigint AS key_covered,
			coalesce(sum(f.own_system_operators), 0)::bigint AS own_system_operators,
			coalesce(sum(f.own_system_uploading), 0)::bigint AS own_system_uploading,
			coalesce(sum(f.receipts), 0)::bigint AS receipts,
			coalesce(sum(f.receipts_complete), 0)::bigint AS receipts_complete
		  FROM unnest(ARRAY['production', 'circulation', 'catering', 'special_food']) WITH ORDINALITY AS s(segment, o)
		  LEFT JOIN shilian.station_figures(segment_stats.code, segment_stats.period) f ON f.segment = s.segment
		 GROUP BY s.segment, s.o
		 ORDER BY s.o
	)
	SELECT g.segment, g.licensed, g.registered, g.activated, shilian.share(g.registered, g.licensed),
		g.operators, g.active_operators, shilian.share(g.active_operators, g.operators),
		g.key_operators, g.key_covered, shilian.share(g.key_covered, g.key_operators),
		g.own_system_operators, g.own_system_uploading, shilian.share(g.own_system_uploading, g.own_system_operators),
		g.receipts, g.receipts_complete, shilian.share(g.receipts_complete, g.receipts)
	  FROM g;
END
$$;
COMMENT ON FUNCTION segment_stats(text, daterange) IS
	'The figures of jurisdiction_stats for the whole subtree of the jurisdiction, one row per supervision segment (production, circulation, catering, special_food). Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION segment_stats(text, daterange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION segment_stats(text, daterange) TO shilian_regulator, shilian_admin;

-- ---- monthly_report -----------------------------------------------------------------
-- The four assessment figures for month (any day in it) and the month before,
-- for code and every city and county under it: value, previous value,
-- change, rank among the siblings in the report (1 = best; ties share a
-- rank), the target that applies and whether it is met.

CREATE FUNCTION monthly_report_rows(month date, code text)
	RETURNS TABLE (jurisdiction text, name text, level text, parent text, total boolean,
		demonstration boolean, figure text, value numeric, previous numeric, change numeric,
		rank bigint, target numeric, met boolean)
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	-- first, whatever the plan below would read: 42501 or SLR19, never zeros
	PERFORM shilian.regulator_require_subtree(monthly_report_rows.code);
	RETURN QUERY
	WITH m AS (
		SELECT date_trunc('month', monthly_report_rows.month::timestamp)::date AS first
	), per AS (
		SELECT 'this' AS which, daterange(m.first, (m.first + interval '1 month')::date) AS period FROM m
		UNION ALL
		SELECT 'prev', daterange((m.first - interval '1 month')::date, m.first) FROM m
	), f AS (
		SELECT p.which, f.* FROM per p, LATERAL shilian.station_figures(monthly_report_rows.code, p.period, p.which = 'this') f
	), rows AS (
		-- the asked jurisdiction and the cities and counties below it
		SELECT j.code, j.name, j.level, j.parent, j.code = monthly_report_rows.code AS total
		  FROM shilian.jurisdiction j
		 WHERE monthly_report_rows.code = ANY (j.ancestors)
		   AND (j.code = monthly_report_rows.code OR j.level IN ('city', 'county'))
	), sums AS (
		SELECT r.code, p.which,
			shilian.share(coalesce(sum(f.registered), 0)::bigint, coalesce(sum(f.licensed), 0)::bigint) AS registration_rate,
			shilian.share(coalesce(sum(f.active_operators), 0)::bigint, coalesce(sum(f.operators), 0)::bigint) AS activity_rate,
			shilian.share(coalesce(sum(f.key_covered), 0)::bigint, coalesce(sum(f.key_operators), 0)::bigint) AS coverage_rate,
			shilian.share(coalesce(sum(f.own_system_uploading), 0)::bigint,
				coalesce(sum(f.own_system_operators), 0)::bigint) AS upload_rate
		  FROM rows r CROSS JOIN (VALUES ('this'), ('prev')) p(which)
		  LEFT JOIN shilian.jurisdiction s ON r.code = ANY (s.ancestors) AND s.level = 'station'
		  LEFT JOIN f ON f.station = s.code AND f.which = p.which
		 GROUP BY r.code, p.which
	), tgt AS (
		-- the nearest row of assessment_target at or above each jurisdiction
		SELECT r.code, t.*
		  FROM rows r JOIN shilian.jurisdiction j ON j.code = r.code
		  LEFT JOIN LATERAL (
			SELECT t.demonstration, t.registration_rate, t.activity_rate, t.coverage_rate, t.upload_rate
			  FROM shilian.assessment_target t
			 WHERE t.code = ANY (j.ancestors)
			 ORDER BY array_position(j.ancestors, t.code) DESC LIMIT 1) t ON true
	), fig AS (
		SELECT r.code, r.name, r.level, r.parent, r.total, coalesce(t.demonstration, false) AS demonstration,
			x.figure, x.ord, x.value, x.previous, x.target
		  FROM rows r
		  JOIN sums a ON a.code = r.code AND a.which = 'this'
		  JOIN sums b ON b.code = r.code AND b.which = 'prev'
		  LEFT JOIN tgt t ON t.code = r.code
		  CROSS JOIN LATERAL (VALUES
			-- the roll is not dated: last month's registration rate is taken as this month's
			('registration_rate', 1, a.registration_rate, a.registration_rate, t.registration_rate),
			('activity_rate', 2, a.activity_rate, b.activity_rate, t.activity_rate),
			('coverage_rate', 3, a.coverage_rate, b.coverage_rate, t.coverage_rate),
			('upload_rate', 4, a.upload_rate, b.upload_rate, t.upload_rate)) x(figure, ord, value, previous, target)
	)
	SELECT f.code, f.name, f.level, f.parent, f.total, f.demonstration, f.figure, f.value, f.previous,
		f.value - f.previous,
		CASE WHEN NOT f.total AND f.value IS NOT NULL
			THEN rank() OVER (PARTITION BY f.parent, f.figure, f.total ORDER BY f.value DESC NULLS LAST) END,
		f.target, f.value >= f.target
	  FROM fig f
	 ORDER BY f.total DESC, f.level, f.code, f.ord;
END
$$;
COMMENT ON FUNCTION monthly_report_rows(date, text) IS
	'The monthly report as rows: per jurisdiction (the asked one, then its cities and counties) and figure, the month''s value, the previous month''s, the change, rank among siblings, target and whether met. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION monthly_report_rows(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_rows(date, text) TO shilian_regulator, shilian_admin;

CREATE FUNCTION monthly_report(month date, code text) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	WITH r AS (
		SELECT * FROM shilian.monthly_report_rows(monthly_report.month, monthly_report.code)
	), j AS (
		SELECT r.jurisdiction, r.name, r.level, r.parent, r.total, r.demonstration,
			jsonb_object_agg(r.figure, jsonb_build_object('value', r.value, 'previous', r.previous,
				'change', r.change, 'rank', r.rank, 'target', r.target, 'met', r.met)) AS figures
		  FROM r GROUP BY 1, 2, 3, 4, 5, 6
	)
	SELECT jsonb_build_object(
		'month', to_char(monthly_report.month, 'YYYY-MM'),
		'previous_month', to_char(monthly_report.month - interval '1 month', 'YYYY-MM'),
		'jurisdiction', monthly_report.code,
		'figures', jsonb_build_array('registration_rate', 'activity_rate', 'coverage_rate', 'upload_rate'),
		'total', (SELECT to_jsonb(j) - 'total' FROM j WHERE j.total),
		'cities', coalesce((SELECT jsonb_agg(to_jsonb(j) - 'total' ORDER BY j.jurisdiction)
			FROM j WHERE NOT j.total AND j.level = 'city'), '[]'),
		'counties', coalesce((SELECT jsonb_agg(to_jsonb(j) - 'total' ORDER BY j.jurisdiction)
			FROM j WHERE NOT j.total AND j.level = 'county'), '[]'))
	$$;
COMMENT ON FUNCTION monthly_report(date, text) IS
	'The four assessment figures (registration, activity, 10+3 coverage, own-system upload rate) of the month for the jurisdiction and each city and county under it, with previous month, change, rank among siblings, target and demonstration-city flag, as one JSON document. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION monthly_report(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report(date, text) TO shilian_regulator, shilian_admin;

-- The same as CSV (RFC 4180, header line, one line per jurisdiction and
-- figure), for the gateway's text/csv form.
CREATE FUNCTION monthly_report_csv(month date, code text) RETURNS text
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, shilian, pg_temp
	AS $$
	SELECT 'month,jurisdiction,name,level,parent,demonstration,figure,value,previous,change,rank,target,met' || E'\r\n'
		|| coalesce(string_agg(concat_ws(',', to_char(monthly_report_csv.month, 'YYYY-MM'), r.jurisdiction,
			'"' || replace(r.name, '"', '""') || '"', r.level, coalesce(r.parent, ''), r.demonstration::text,
			r.figure, coalesce(r.value::text, ''), coalesce(r.previous::text, ''), coalesce(r.change::text, ''),
			coalesce(r.rank::text, ''), coalesce(r.target::text, ''), coalesce(r.met::text, '')) || E'\r\n',
			'' ORDER BY r.total DESC, r.level, r.jurisdiction,
			array_position(ARRAY['registration_rate', 'activity_rate', 'coverage_rate', 'upload_rate'], r.figure)), '')
	  FROM shilian.monthly_report_rows(monthly_report_csv.month, monthly_report_csv.code) r
	$$;
COMMENT ON FUNCTION monthly_report_csv(date, text) IS
	'monthly_report as CSV with a header line: month, jurisdiction, name, level, parent, demonstration, figure, value, previous, change, rank, target, met. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION monthly_report_csv(date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_csv(date, text) TO shilian_regulator, shilian_admin;
-- shilian install script, part 66: what the regulator acts on
-- (docs/regulator.md, "Findings"): broken chains, violations of the
-- record-keeping articles, the quarterly spot-check sample and alerts.
--
-- The scans' plans are costed high (generic plans over arrays of unknown
-- size): "SET jit = off" keeps a second of JIT compilation out of calls that
-- take a fraction of it.
--
-- The findings read across borders (a receipt names a supplier registered in
-- another county; a pending sale comes from a seller elsewhere), so the
-- public functions run with definer rights, check the caller with
-- regulator_require_subtree first (SLR19, 42501) and then read only the
-- operators at home in the asked subtree; the evidence holds what the
-- operator's own records hold (the counterparty's id and name, as its
-- receipt drafts show them). The scans themselves are plain SQL over the
-- operators at home at a set of stations (or named by id), shared by
-- broken_chain, compliance_findings, spot_check_sample and alerts_scan, and
-- granted to nobody.

-- ---- indexes the scans use -----------------------------------------------------
-- Pending sales by date: the shipments never received (a small share of all
-- links, so a small index). The index carries the buyer and the link id, so that the pending sales of
-- a subtree are picked from it alone (an index-only scan) before any link
-- row is read.
CREATE INDEX link_pending_shipped_idx ON link (shipped_on) INCLUDE (buyer_id, id)
	WHERE status = 'pending' AND kind = 'ship';
-- The operators of a subtree with what the scans need of them, from the
-- index alone (an index-only scan by station).
CREATE INDEX operator_station_cover_idx ON operator (station) INCLUDE (id, segment, kinds);
-- First entries that name a supplier's licence or USCC: the only ones that
-- can point at an operator on the platform.
CREATE INDEX batch_first_entry_named_idx ON batch (owner_id)
	WHERE origin = 'first_entry' AND (supplier_licence IS NOT NULL OR supplier ?| ARRAY['licence', 'uscc']);
-- Batches an operator created itself (batch_create), by holder: a seller that
-- is no producer shows up here.
CREATE INDEX batch_produced_owner_idx ON batch (owner_id, product_id) WHERE origin = 'produced';

-- The receipts of compliance_findings, from indexes alone (index-only scans;
-- the visibility map autovacuum keeps): confirmed sales by buyer with the
-- date, the link, the lots on both sides; incoming inspections by lot, in
-- record order, with the sale they name and the date (whether a receipt has
-- its inspection, and a first entry's first one); first entries by holder
-- with their expiry. Measured at scale 0.2 (203,168 operators, 370100):
-- compliance_findings 0.90 s -> 0.35 s, no longer reading a heap page per
-- receipt for the link and the inspection.
CREATE INDEX link_received_buyer_idx ON link (buyer_id) INCLUDE (received_at, id, to_batch, from_batch)
	WHERE status = 'received' AND kind = 'ship';
CREATE INDEX inspection_incoming_idx ON inspection (batch_id, id) INCLUDE (link_id, inspected_at)
	WHERE kind = 'incoming';
CREATE INDEX batch_first_entry_owner_idx ON batch (owner_id) INCLUDE (id, expires_on, created_at)
	WHERE origin = 'first_entry';

-- A supplier document is free text: a malformed licence or USCC in it is no
-- match rather than an error. STABLE: the input rules follow settings
-- (shilian.uscc_lenient); PARALLEL RESTRICTED: the exception block is a
-- subtransaction, which parallel workers cannot start.
CREATE FUNCTION try_license_no(t text) RETURNS license_no
	LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN t::shilian.license_no;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION try_license_no(text) IS
	'The text as a license_no, or NULL when it is not a valid licence number.';
REVOKE ALL ON FUNCTION try_license_no(text) FROM PUBLIC;

CREATE FUNCTION try_uscc(t text) RETURNS uscc
	LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN t::shilian.uscc;
EXCEPTION WHEN invalid_text_representation THEN
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION try_uscc(text) IS
	'The text as a uscc, or NULL when it is not a valid unified social credit code.';
REVOKE ALL ON FUNCTION try_uscc(text) FROM PUBLIC;

-- The jurisdiction codes of a subtree (the asked one and every one below;
-- operators have stations among them): an index probe on ancestors.
CREATE FUNCTION findings_subtree(code text) RETURNS text[]
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	RETURN ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE j.ancestors @> ARRAY[findings_subtree.code]);
COMMENT ON FUNCTION findings_subtree(text) IS
	'Codes of the jurisdictions at or below the given one (no access check: internal).';
REVOKE ALL ON FUNCTION findings_subtree(text) FROM PUBLIC;

-- ---- broken chains ---------------------------------------------------------------
-- One row per (operator, kind) with every evidence row counted and the first
-- 100 (by date) listed. Kinds:
--   unlinked_receipt      a first entry (receive_first_entry) whose supplier
--                         licence or USCC belongs to another operator on the
--                         platform: the goods should have come as its sale;
--                         dated by the receipt (incoming inspection).
--   unreceived_shipment   a sale to the operator still pending pending_days
--                         after it was shipped (as of as_of), not a 10+3 receipt.
--   missing_receipt_10_3  the same for a 10+3 receipt: the product is in one of
--                         the ten key categories, or the buyer is a school
--                         canteen, collective-meal unit or central kitchen.
--   sale_without_source   a sale of a lot the seller made itself (batch_create)
--                         although it produces nothing (segment not production,
--                         no farm/processor/workshop/special_food_maker/importer
--                         kind) and never received that product.
CREATE FUNCTION findings_broken_chain(stations text[], ops bigint[], period daterange, pending_days integer,
		as_of date)
	RETURNS TABLE (operator bigint, kind text, records bigint, first_on date, last_on date, evidence jsonb)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, shilian, pg_temp
	SET jit = off
	AS $$
	WITH o AS MATERIALIZED (
		-- the operators examined: at home at one of the stations, or named
		-- (callers give one or the other; "x IS NOT NULL" gates each branch
		-- off as a whole: an index scan on "= ANY (NULL)" reads the index)
		SELECT so.id, so.kinds, so.segment FROM shilian.operator so
		 WHERE stations IS NOT NULL AND so.station = ANY (stations)
		UNION ALL
		SELECT so.id, so.kinds, so.segment FROM shilian.operator so WHERE ops IS NOT NULL AND so.id = ANY (ops)
	), pending AS MATERIALIZED (
		-- the sales to the examined operators pending since before the
		-- grace, from link_pending_shipped_idx alone
		SELECT l.id, o.kinds
		  FROM shilian.link l JOIN o ON o.id = l.buyer_id
		 WHERE l.status = 'pending' AND l.kind = 'ship'
		   AND l.shipped_on <= as_of - pending_days AND l.shipped_on <@ period
	), made AS MATERIALIZED (
		-- lots that sellers which produce nothing made themselves: few, found
		-- by one probe per such operator (materialized, so that the sales
		-- from them are looked up per lot, never by scanning all sales)
		SELECT b.id, b.owner_id, b.product_id, b.trace_code
		  FROM o JOIN shilian.batch b ON b.owner_id = o.id AND b.origin = 'produced'
		 WHERE o.segment <> 'production'
		   AND NOT o.kinds && ARRAY['farm', 'processor', 'workshop', 'special_food_maker', 'importer']
	), ev AS (
		SELECT b.owner_id AS operator, 'unlinked_receipt' AS kind, shilian.platform_date(i.inspected_at) AS on_date, b.id AS ref,
			jsonb_build_object('trace_code', b.trace_code::text, 'received_on', shilian.platform_date(i.inspected_at),
				'supplier_name', b.supplier->>'name',
				'supplier_licence', coalesce(b.supplier_licence::text, b.supplier->>'licence'),
				'supplier_uscc', b.supplier->>'uscc',
				'supplier', coalesce(li.operator_id, su.id)::text) AS e
		  FROM o
		  JOIN shilian.batch b ON b.owner_id = o.id
		  JOIN shilian.inspection i ON i.batch_id = b.id AND i.kind = 'incoming'
		  LEFT JOIN shilian.licence li
				 ON li.licence_no = coalesce(b.supplier_licence, shilian.try_license_no(b.supplier->>'licence'))
		  LEFT JOIN shilian.operator su ON su.uscc = shilian.try_uscc(b.supplier->>'uscc')
		 WHERE b.origin = 'first_entry' AND (b.supplier_licence IS NOT NULL OR b.supplier ?| ARRAY['licence', 'uscc'])
		   AND shilian.platform_date(i.inspected_at) <@ period
		   AND coalesce(li.operator_id, su.id) <> b.owner_id
		UNION ALL
		SELECT l.buyer_id,
			CASE WHEN p.category <> 'other'
					OR pd.kinds && ARRAY['school_canteen', 'collective_meal', 'central_kitchen']
				THEN 'missing_receipt_10_3' ELSE 'unreceived_shipment' END,
			l.shipped_on, l.id,
			jsonb_build_object('link', l.id::text, 'trace_code', fb.trace_code::text,
				'seller', l.seller_id::text, 'seller_name', so.name, 'product', p.name,
				'category', p.category, 'qty', l.qty_shipped::text, 'shipped_on', l.shipped_on,
				'days_pending', as_of - l.shipped_on)
		  FROM pending pd
		  JOIN shilian.link l ON l.id = pd.id
		  JOIN shilian.operator so ON so.id = l.seller_id
		  JOIN shilian.batch fb ON fb.id = l.from_batch
		  JOIN shilian.product p ON p.id = fb.product_id
		UNION ALL
		SELECT m.owner_id, 'sale_without_source', l.shipped_on, l.id,
			jsonb_build_object('link', l.id::text, 'trace_code', m.trace_code::text, 'product', p.name,
				'qty', l.qty_shipped::text, 'shipped_on', l.shipped_on, 'buyer', l.buyer_id::text)
		  FROM made m
		  JOIN shilian.link l ON l.from_batch = m.id AND l.kind = 'ship'
		  JOIN shilian.product p ON p.id = m.product_id
		 WHERE l.shipped_on <@ period
		   AND NOT EXISTS (SELECT 1 FROM shilian.batch r
							WHERE r.owner_id = m.owner_id AND r.product_id = m.product_id
							  AND r.origin IN ('received', 'first_entry'))
	), num AS (
		SELECT ev.*, row_number() OVER (PARTITION BY ev.operator, ev.kind ORDER BY ev.on_date, ev.ref) AS rn
		  FROM ev
	)
	SELECT n.operator, n.kind, count(*), min(n.on_date), max(n.on_date),
		jsonb_agg(n.e ORDER BY n.on_date, n.ref) FILTER (WHERE n.rn <= 100)
	  FROM num n
	 GROUP BY n.operator, n.kind
	$$;
COMMENT ON FUNCTION findings_broken_chain(text[], bigint[], daterange, integer, date) IS
	'Internal scan behind broken_chain: per operator (at home at one of the stations, or named in ops) and kind of break, the evidence in the period (no access check).';
REVOKE ALL ON FUNCTION findings_broken_chain(text[], bigint[], daterange, integer, date) FROM PUBLIC;

-- ---- violations of the record-keeping articles ---------------------------------
-- The article strings are the contract (docs/regulator.md); a finding that
-- lasted three months or more (first to last evidence) is serious under the
-- implementing regulations art. 67(1)(1), which the article then names too.
CREATE FUNCTION findings_compliance(stations text[], ops bigint[], period daterange)
	RETURNS TABLE (operator bigint, kind text, article text, serious boolean, records bigint,
		first_on date, last_on date, evidence jsonb)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, shilian, pg_temp
	SET jit = off
	AS $$
	WITH o AS MATERIALIZED (
		-- the operators examined: at home at one of the stations, or named
		-- (callers give one or the other; "x IS NOT NULL" gates each branch
		-- off as a whole: an index scan on "= ANY (NULL)" reads the index)
		SELECT so.id, so.kinds, so.segment FROM shilian.operator so
		 WHERE stations IS NOT NULL AND so.station = ANY (stations)
		UNION ALL
		SELECT so.id, so.kinds, so.segment FROM shilian.operator so WHERE ops IS NOT NULL AND so.id = ANY (ops)
	), rcpt AS (
		-- every receipt in the period, operator by operator (OFFSET 0 keeps
		-- each a nested loop over the operator's index entries): confirmed
		-- sales (with the expiry of the lot shipped) and first entries
		SELECT o.id AS operator, r.on_date, r.link, r.batch, r.expires_on, r.inspected
		  FROM o CROSS JOIN LATERAL (
			SELECT shilian.platform_date(l.received_at) AS on_date, l.id AS link, l.to_batch AS batch,
				(SELECT fb.expires_on FROM shilian.batch fb WHERE fb.id = l.from_batch) AS expires_on,
				EXISTS (SELECT 1 FROM shilian.inspection i
						 WHERE i.batch_id = l.to_batch AND i.link_id = l.id AND i.kind = 'incoming') AS inspected
			  FROM shilian.link l
			 WHERE l.buyer_id = o.id AND l.status = 'received' AND l.kind = 'ship'
			   AND shilian.platform_date(l.received_at) <@ period
			OFFSET 0) r
		UNION ALL
		SELECT o.id, r.on_date, NULL, r.batch, r.expires_on, r.inspected
		  FROM o CROSS JOIN LATERAL (
			SELECT shilian.platform_date(coalesce(i.inspected_at, b.created_at)) AS on_date, b.id AS batch, b.expires_on,
				i.id IS NOT NULL AS inspected
			  FROM shilian.batch b
			  LEFT JOIN LATERAL (SELECT i.id, i.inspected_at FROM shilian.inspection i
								  WHERE i.batch_id = b.id AND i.kind = 'incoming' ORDER BY i.id LIMIT 1) i ON true
			 WHERE b.owner_id = o.id AND b.origin = 'first_entry'
			   AND shilian.platform_date(coalesce(i.inspected_at, b.created_at)) <@ period
			OFFSET 0) r
	), lic AS MATERIALIZED (
		-- operators whose every licence ended before today (and before the
		-- end of the period): their last valid day
		SELECT li.operator_id, max(li.valid_to) AS valid_to
		  FROM o JOIN shilian.licence li ON li.operator_id = o.id
		 GROUP BY li.operator_id
		HAVING max(li.valid_to) < shilian.platform_today()
		   AND (upper(period) IS NULL OR max(li.valid_to) < upper(period))
	), ev AS (
		-- (the lot received, a foreign key, is looked up per evidence row: a
		-- scalar subquery is an index probe whatever the planner expects of
		-- the CTE's size)
		SELECT r.operator, 'missing_incoming_inspection' AS kind, r.on_date, r.batch AS ref,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date) AS e
		  FROM rcpt r
		 WHERE NOT r.inspected
		UNION ALL
		SELECT r.operator, 'expired_product_receipt', r.on_date, r.batch,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date, 'expires_on', r.expires_on)
		  FROM rcpt r
		 WHERE r.on_date > r.expires_on
		UNION ALL
		SELECT r.operator, 'wholesaler_without_sales_records', r.on_date, r.batch,
			jsonb_build_object('link', r.link::text,
				'trace_code', (SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch)::text,
				'received_on', r.on_date)
		  FROM rcpt r
		  JOIN o w ON w.id = r.operator
		 WHERE w.kinds @> ARRAY['wholesaler']
		   AND NOT EXISTS (SELECT 1 FROM shilian.link s
							WHERE s.seller_id = w.id AND s.kind = 'ship' AND s.shipped_on <@ period)
		UNION ALL
		SELECT x.operator, 'expired_licence_trading', x.on_date, x.ref,
			jsonb_build_object('record', x.record, 'link', x.link::text, 'trace_code', x.trace_code::text,
				'on', x.on_date, 'licence_valid_to', x.valid_to)
		  FROM (
			SELECT lic.operator_id AS operator, 'sale' AS record, s.shipped_on AS on_date, s.id AS ref,
				s.id AS link, s.trace_code, lic.valid_to
			  FROM lic CROSS JOIN LATERAL (
				SELECT s.id, s.shipped_on, b.trace_code
				  FROM shilian.link s JOIN shilian.batch b ON b.id = s.from_batch
				 WHERE s.seller_id = lic.operator_id AND s.kind = 'ship' AND s.shipped_on > lic.valid_to
				   AND s.shipped_on <@ period
				OFFSET 0) s
			UNION ALL
			SELECT lic.operator_id, 'receipt', r.on_date, r.batch, r.link,
				(SELECT tb.trace_code FROM shilian.batch tb WHERE tb.id = r.batch), lic.valid_to
			  FROM lic JOIN rcpt r ON r.operator = lic.operator_id AND r.on_date > lic.valid_to
			UNION ALL
			SELECT lic.operator_id, 'production', b.produced_on, b.id, NULL, b.trace_code, lic.valid_to
			  FROM lic CROSS JOIN LATERAL (
				SELECT b.id, b.produced_on, b.trace_code
				  FROM shilian.batch b
				 WHERE b.owner_id = lic.operator_id AND b.origin IN ('produced', 'transformed')
				   AND b.produced_on > lic.valid_to AND b.produced_on <@ period
				OFFSET 0) b
		  ) x
	), num AS (
		SELECT ev.*, row_number() OVER (PARTITION BY ev.operator, ev.kind ORDER BY ev.on_date, ev.ref) AS rn
		  FROM ev
	), agg AS (
		SELECT n.operator, n.kind, count(*) AS records, min(n.on_date) AS first_on, max(n.on_date) AS last_on,
			jsonb_agg(n.e ORDER BY n.on_date, n.ref) FILTER (WHERE n.rn <= 100) AS evidence
		  FROM num n
		 GROUP BY n.operator, n.kind
	)
	SELECT a.operator, a.kind,
		CASE a.kind
			WHEN 'missing_incoming_inspection' THEN 'Food Safety Law arts. 50, 53; art. 126(1)(3)'
			WHEN 'wholesaler_without_sales_records' THEN 'Food Safety Law art. 53(3); art. 126(1)(3)'
			WHEN 'expired_licence_trading' THEN 'Food Safety Law art. 35(1); art. 122(1)'
			WHEN 'expired_product_receipt' THEN 'Food Safety Law art. 34(10); art. 124(1)(5)'
		END || CASE WHEN a.last_on >= a.first_on + interval '3 months'
			THEN '; Implementing Regulations art. 67(1)(1)' ELSE '' END,
		a.last_on >= a.first_on + interval '3 months',
		a.records, a.first_on, a.last_on, a.evidence
	  FROM agg a
	$$;
COMMENT ON FUNCTION findings_compliance(text[], bigint[], daterange) IS
	'Internal scan behind compliance_findings: per operator (at home at one of the stations, or named in ops) and kind of violation, the article and the evidence in the period (no access check).';
REVOKE ALL ON FUNCTION findings_compliance(text[], bigint[], daterange) FROM PUBLIC;

-- ---- the public functions --------------------------------------------------------

CREATE FUNCTION broken_chain(code text, period daterange, pending_days integer DEFAULT 3)
	RETURNS TABLE (operator bigint, name text, station text, kind text, records bigint,
		first_on date, last_on date, evidence jsonb)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	IF pending_days < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('pending_days must not be negative: %s', pending_days);
	END IF;
	RETURN QUERY
	SELECT f.operator, o.name, o.station, f.kind, f.records, f.first_on, f.last_on, f.evidence
	  FROM shilian.findings_broken_chain(shilian.findings_subtree(code), NULL, period, pending_days,
			shilian.platform_today()) f
	  JOIN shilian.operator o ON o.id = f.operator
	 ORDER BY o.station, f.operator, f.kind;
END
$$;
COMMENT ON FUNCTION broken_chain(text, daterange, integer) IS
	'Operators at home in the jurisdiction with a broken chain in the period: unlinked_receipt, unreceived_shipment, missing_receipt_10_3, sale_without_source (pending_days: grace before a sale counts as never received); one row per operator and kind with the evidence. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION broken_chain(text, daterange, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION broken_chain(text, daterange, integer) TO shilian_regulator, shilian_admin;

CREATE FUNCTION compliance_findings(code text, period daterange DEFAULT '(,)')
	RETURNS TABLE (operator bigint, name text, station text, kind text, article text, serious boolean,
		records bigint, first_on date, last_on date, evidence jsonb)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	RETURN QUERY
	SELECT f.operator, o.name, o.station, f.kind, f.article, f.serious, f.records, f.first_on, f.last_on,
		f.evidence
	  FROM shilian.findings_compliance(shilian.findings_subtree(code), NULL, period) f
	  JOIN shilian.operator o ON o.id = f.operator
	 ORDER BY o.station, f.operator, f.kind;
END
$$;
COMMENT ON FUNCTION compliance_findings(text, daterange) IS
	'Operators at home in the jurisdiction violating the record-keeping articles (missing_incoming_inspection, wholesaler_without_sales_records, expired_licence_trading, expired_product_receipt), each with its article and evidence; period defaults to all records. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION compliance_findings(text, daterange) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION compliance_findings(text, daterange) TO shilian_regulator, shilian_admin;

-- ---- the quarterly spot check ------------------------------------------------------
-- Population: the operators at home in the subtree that are not suspended.
-- Strata: (the jurisdiction one level below code that holds the operator's
-- station — the station itself when code is a station —, segment).
-- Allocation: proportional, by largest remainder (Hamilton): each stratum
-- gets floor(n * N_h / N), and the seats left go one each to the strata with
-- the largest remainders (ties: by jurisdiction, then segment); n >= N takes
-- everyone. Within a stratum operators are ranked by
-- hashint8extended(id, seed), so a seed always draws the same sample.
-- Timeliness: of the operator's production, sale and receipt records dated
-- in the quarter, the share written (created_at) by the end of the day after
-- the event (created_at::date <= event date + 1). Completeness: of its
-- incoming inspections and sales in the quarter, the share record_completeness
-- finds complete. Findings: broken_chain and compliance_findings of the
-- quarter, kind and count.
CREATE FUNCTION findings_spot_pick(code text, n integer, seed bigint)
	RETURNS TABLE (operator bigint, stratum text, segment text, stratum_size bigint, stratum_sample bigint)
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
	WITH depth AS (
		SELECT cardinality(j.ancestors) AS d FROM shilian.jurisdiction j WHERE j.code = findings_spot_pick.code
	), pop AS (
		SELECT o.id, o.segment, coalesce(s.ancestors[depth.d + 1], s.code) AS stratum
		  FROM shilian.operator o
		  JOIN shilian.jurisdiction s ON s.code = o.station
		  CROSS JOIN depth
		 WHERE o.station = ANY (shilian.findings_subtree(findings_spot_pick.code))
		   AND o.status <> 'suspended'
	), strata AS (
		SELECT p.stratum, p.segment, count(*) AS size,
			n::numeric * count(*) / sum(count(*)) OVER () AS quota
		  FROM pop p GROUP BY p.stratum, p.segment
	), alloc AS (
		SELECT st.stratum, st.segment, st.size, floor(st.quota)::bigint AS base,
			row_number() OVER (ORDER BY st.quota - floor(st.quota) DESC, st.stratum, st.segment) AS remainder_rank
		  FROM strata st
	), seats AS (
		SELECT a.stratum, a.segment, a.size,
			least(a.size, a.base + CASE WHEN a.remainder_rank <= n - sum(a.base) OVER () THEN 1 ELSE 0 END) AS take
		  FROM alloc a
	), ranked AS (
		SELECT p.id, p.stratum, p.segment,
			row_number() OVER (PARTITION BY p.stratum, p.segment
							   ORDER BY pg_catalog.hashint8extended(p.id, seed), p.id) AS r
		  FROM pop p
	)
	SELECT r.id, r.stratum, r.segment, s.size, s.take
	  FROM ranked r JOIN seats s ON s.stratum = r.stratum AND s.segment = r.segment
	 WHERE r.r <= s.take
	$$;
COMMENT ON FUNCTION findings_spot_pick(text, integer, bigint) IS
	'Internal draw behind spot_check_sample: n operators of the subtree, stratified by jurisdiction below code and segment, proportional allocation by largest remainder, ranked by hashint8extended(id, seed) (no access check).';
REVOKE ALL ON FUNCTION findings_spot_pick(text, integer, bigint) FROM PUBLIC;

CREATE FUNCTION spot_check_sample(code text, quarter text, n integer, seed bigint)
	RETURNS TABLE (operator bigint, name text, station text, segment text, stratum text,
		stratum_size bigint, stratum_sample bigint, records bigint, timely bigint, timeliness numeric,
		checked bigint, complete bigint, completeness numeric, findings jsonb)
	LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $$
DECLARE
	q_start date;
	q daterange;
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	IF quarter !~ '^[0-9]{4}Q[1-4]$' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid quarter "%s"', quarter),
			HINT = 'Give the quarter as YYYYQn, e.g. 2026Q4.';
	END IF;
	IF n < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('sample size must not be negative: %s', n);
	END IF;
	q_start := make_date(left(quarter, 4)::integer, (right(quarter, 1)::integer - 1) * 3 + 1, 1);
	q := daterange(q_start, (q_start + interval '3 months')::date, '[)');

	RETURN QUERY
	WITH pick AS MATERIALIZED (
		SELECT * FROM shilian.findings_spot_pick(code, n, seed)
	), picked AS (
		SELECT ARRAY(SELECT p.operator FROM pick p) AS ids
	), fnd AS (
		SELECT f.operator, jsonb_agg(jsonb_build_object('source', f.source, 'kind', f.kind, 'article', f.article,
				'records', f.records) ORDER BY f.source, f.kind) AS findings
		  FROM (SELECT b.operator, 'broken_chain' AS source, b.kind, NULL::text AS article, b.records
				  FROM picked, shilian.findings_broken_chain(NULL, picked.ids, q, 3, shilian.platform_today()) b
				UNION ALL
				SELECT c.operator, 'compliance', c.kind, c.article, c.records
				  FROM picked, shilian.findings_compliance(NULL, picked.ids, q) c) f
		 GROUP BY f.operator
	)
	SELECT p.operator, o.name, o.station, o.segment, p.stratum, p.stratum_size, p.stratum_sample,
		t.records, t.timely, round(t.timely::numeric / nullif(t.records, 0), 4),
		c.checked, c.complete, round(c.complete::numeric / nullif(c.checked, 0), 4),
		coalesce(fnd.findings, '[]')
	  FROM pick p
	  JOIN shilian.operator o ON o.id = p.operator
	  LEFT JOIN fnd ON fnd.operator = p.operator
	  CROSS JOIN LATERAL (
		SELECT count(*) AS records, count(*) FILTER (WHERE w.written <= w.event + 1) AS timely
		  FROM (SELECT b.produced_on AS event, shilian.platform_date(b.created_at) AS written
				  FROM shilian.batch b
				 WHERE b.owner_id = p.operator AND b.origin IN ('produced', 'transformed') AND b.produced_on <@ q
				UNION ALL
				SELECT l.shipped_on, shilian.platform_date(l.created_at)
				  FROM shilian.link l
				 WHERE l.seller_id = p.operator AND l.kind = 'ship' AND l.shipped_on <@ q
				UNION ALL
				SELECT r.event, shilian.platform_date(b.created_at)
				  FROM shilian.batch b
				  CROSS JOIN LATERAL (
					SELECT shilian.platform_date(min(i.inspected_at)) AS event FROM shilian.inspection i
					 WHERE i.batch_id = b.id AND i.kind = 'incoming') r
				 WHERE b.owner_id = p.operator AND b.origin IN ('received', 'first_entry') AND r.event <@ q) w
	  ) t
	  CROSS JOIN LATERAL (
		SELECT count(*) AS checked,
			count(*) FILTER (WHERE (shilian.record_completeness(x.kind, x.id)).complete) AS complete
		  FROM (SELECT 'incoming' AS kind, i.id
				  FROM shilian.batch b
				  JOIN shilian.inspection i ON i.batch_id = b.id
				 WHERE b.owner_id = p.operator AND i.operator_id = p.operator AND i.kind = 'incoming'
				   AND shilian.platform_date(i.inspected_at) <@ q
				UNION ALL
				SELECT 'sale', l.id
				  FROM shilian.link l
				 WHERE l.seller_id = p.operator AND l.kind = 'ship' AND l.shipped_on <@ q) x
	  ) c
	 ORDER BY p.stratum, o.segment, p.operator;
END
$$;
COMMENT ON FUNCTION spot_check_sample(text, text, integer, bigint) IS
	'Quarterly spot check: a reproducible sample of n operators (seed) stratified by jurisdiction and segment with proportional allocation, each with timeliness, completeness and its findings in the quarter (YYYYQn). Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION spot_check_sample(text, text, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION spot_check_sample(text, text, integer, bigint) TO shilian_regulator, shilian_admin;

-- ---- alerts ------------------------------------------------------------------------
-- What an app pushes to the regulator on duty (and the operator concerned):
-- raised by alerts_scan (a daily job), one open alert per (kind, operator,
-- subject) at most, closed by alert_ack. jurisdiction is the operator's home
-- station when the alert was raised.
CREATE TABLE alert (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind            text NOT NULL
		CHECK (kind IN ('licence_expiring', 'broken_chain', 'inactive_30d', 'compliance')),
	operator_id     bigint NOT NULL REFERENCES operator (id),
	jurisdiction    text NOT NULL REFERENCES jurisdiction (code),
	subject         text NOT NULL,
	detail          jsonb NOT NULL CHECK (jsonb_typeof(detail) = 'object'),
	raised_at       timestamptz NOT NULL DEFAULT now(),
	acknowledged_at timestamptz,
	acknowledged_by text,
	CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);
CREATE UNIQUE INDEX alert_open_key ON alert (kind, operator_id, subject) WHERE acknowledged_at IS NULL;
CREATE INDEX alert_jurisdiction_idx ON alert (jurisdiction, raised_at);
CREATE INDEX alert_operator_idx ON alert (operator_id);
COMMENT ON TABLE alert IS
	'Alerts for regulators and operators: licence_expiring, broken_chain, inactive_30d, compliance; open until acknowledged (alerts_scan, alert_ack).';
COMMENT ON COLUMN alert.subject IS
	'What the alert is about within its kind (the licence number, the finding kind; empty for inactive_30d): one open alert per kind, operator and subject.';
SELECT pg_catalog.pg_extension_config_dump('alert', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.alert', 'id')::regclass, '');

-- Raise the alerts that hold on as_of and are not open already; one
-- NOTIFY shilian_alert per new alert, payload {"id","kind","operator",
-- "jurisdiction"} (delivered when the transaction commits). Scans:
--   licence_expiring  a licence whose valid_to falls within as_of .. as_of + 30
--                     and that no other licence of the same kind (SC/JY) of
--                     its holder outlasts (subject: the licence number);
--   broken_chain      broken_chain over the 30 days up to as_of (subject: the kind);
--   compliance        compliance_findings over the same 30 days (subject: the kind);
--   inactive_30d      an active operator, activated 30 days or more before
--                     as_of, with no record dated in the 30 days up to as_of
--                     (subject: empty).
-- Returns the number of alerts raised.
CREATE FUNCTION alerts_scan(as_of date DEFAULT shilian.platform_today()) RETURNS integer
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, shilian, pg_temp
	SET jit = off
	AS $$
DECLARE
	everywhere text[] := ARRAY(SELECT j.code FROM shilian.jurisdiction j WHERE j.level = 'station');
	win daterange := daterange(as_of - 29, as_of, '[]');
	raised integer;
BEGIN
	WITH cand AS (
		SELECT 'licence_expiring' AS kind, li.operator_id, li.licence_no::text AS subject,
			jsonb_build_object('licence_no', li.licence_no::text, 'valid_to', li.valid_to,
				'days_left', li.valid_to - as_of) AS detail
		  FROM shilian.licence li
		  JOIN shilian.operator o ON o.id = li.operator_id
		 WHERE li.valid_to BETWEEN as_of AND as_of + 30 AND o.status <> 'suspended'
		   AND NOT EXISTS (SELECT 1 FROM shilian.licence l2
							WHERE l2.operator_id = li.operator_id AND l2.id <> li.id
							  AND left(l2.licence_no::text, 2) = left(li.licence_no::text, 2)
							  AND l2.valid_to > li.valid_to AND l2.valid_from <= li.valid_to + 1)
		UNION ALL
		SELECT 'broken_chain', b.operator, b.kind,
			jsonb_build_object('finding', b.kind, 'records', b.records, 'first_on', b.first_on,
				'last_on', b.last_on, 'evidence', jsonb_path_query_array(b.evidence, '$[0 to 9]'))
		  FROM shilian.findings_broken_chain(everywhere, NULL, win, 3, as_of) b
		UNION ALL
		SELECT 'compliance', c.operator, c.kind,
			jsonb_build_object('finding', c.kind, 'article', c.article, 'records', c.records,
				'first_on', c.first_on, 'last_on', c.last_on,
				'evidence', jsonb_path_query_array(c.evidence, '$[0 to 9]'))
		  FROM shilian.findings_compliance(everywhere, NULL, win) c
		UNION ALL
		-- from the per-operator-per-day counters (part 62), one index probe
		-- per active operator rather than a scan of every record
		SELECT 'inactive_30d', o.id, '',
			jsonb_build_object('last_record', (SELECT max(d.day) FROM shilian.operator_day d
												WHERE d.operator_id = o.id AND d.day <= as_of AND d.records > 0),
				'since', as_of - 29)
		  FROM shilian.operator o
		 WHERE o.status = 'active' AND shilian.platform_date(o.activated_at) <= as_of - 30
		   AND NOT EXISTS (SELECT 1 FROM shilian.operator_day d
							WHERE d.operator_id = o.id AND d.day BETWEEN as_of - 29 AND as_of AND d.records > 0)
	), ins AS (
		INSERT INTO shilian.alert AS a (kind, operator_id, jurisdiction, subject, detail)
		SELECT c.kind, c.operator_id, o.station, c.subject, c.detail
		  FROM cand c JOIN shilian.operator o ON o.id = c.operator_id
		 ORDER BY c.kind, c.operator_id, c.subject
		ON CONFLICT (kind, operator_id, subject) WHERE acknowledged_at IS NULL DO NOTHING
		RETURNING a.id, a.kind, a.operator_id, a.jurisdiction
	)
	SELECT count(pg_notify('shilian_alert', json_build_object('id', i.id::text, 'kind', i.kind,
			'operator', i.operator_id::text, 'jurisdiction', i.jurisdiction)::text))
	  INTO raised
	  FROM (SELECT * FROM ins ORDER BY id) i;
	RETURN raised;
END
$$;
COMMENT ON FUNCTION alerts_scan(date) IS
	'Admin (a daily job): raise the alerts holding on as_of (licence_expiring within 30 days, broken_chain and compliance over the last 30 days, inactive_30d) that are not open already; NOTIFY shilian_alert per new alert; returns how many.';
REVOKE ALL ON FUNCTION alerts_scan(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts_scan(date) TO shilian_admin;

-- Alerts at home in a jurisdiction's subtree, open ones only unless asked.
CREATE FUNCTION alerts(code text, include_acknowledged boolean DEFAULT false)
	RETURNS SETOF alert
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	PERFORM shilian.regulator_require_subtree(code);
	RETURN QUERY
	SELECT a.* FROM shilian.alert a
	 WHERE a.jurisdiction = ANY (ARRAY(SELECT j.code FROM shilian.jurisdiction j
										WHERE j.ancestors @> ARRAY[alerts.code]))
	   AND (include_acknowledged OR a.acknowledged_at IS NULL)
	 ORDER BY a.raised_at DESC, a.id DESC;
END
$$;
COMMENT ON FUNCTION alerts(text, boolean) IS
	'Alerts of the operators at home in the jurisdiction, newest first; open ones only unless include_acknowledged. Regulators: own subtree only (42501).';
REVOKE ALL ON FUNCTION alerts(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alerts(text, boolean) TO shilian_regulator, shilian_admin;

CREATE FUNCTION alert_ack(id bigint) RETURNS timestamptz
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	a shilian.alert;
	at timestamptz;
BEGIN
	SELECT * INTO a FROM shilian.alert x WHERE x.id = alert_ack.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'SLF01',
			MESSAGE = format('unknown alert: no alert has id %s', id);
	END IF;
	PERFORM shilian.regulator_require_subtree(a.jurisdiction);
	IF a.acknowledged_at IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLF02',
			MESSAGE = format('alert already acknowledged by %s', a.acknowledged_by),
			DETAIL = 'An alert is acknowledged once; alerts_scan raises a new one while its condition holds.';
	END IF;
	UPDATE shilian.alert x SET acknowledged_at = now(),
		acknowledged_by = coalesce(shilian.current_jurisdiction(), current_setting('role'))
	 WHERE x.id = alert_ack.id
	RETURNING x.acknowledged_at INTO at;
	RETURN at;
END
$$;
COMMENT ON FUNCTION alert_ack(bigint) IS
	'Acknowledge an open alert (a regulator at or above its station, or the admin); SLF01 unknown, SLF02 already acknowledged, 42501 outside the caller''s subtree.';
REVOKE ALL ON FUNCTION alert_ack(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alert_ack(bigint) TO shilian_regulator, shilian_admin;
-- shilian install script, part 70: bulk upload (docs/integration.md).
-- import_ndjson applies one record per line by calling the record function
-- its kind names, each line in its own subtransaction, and keeps a report
-- per line (accepted with the new id or trace code, or refused with SQLSTATE
-- and message). The record functions check the caller themselves
-- (RecordCheckActor reads the outer role and the request settings), so the
-- upload runs with definer rights only to write its own report tables.

CREATE TABLE import_job (
	id              bigserial PRIMARY KEY,
	role_name       text NOT NULL,		-- the calling role (shilian_system, shilian_operator, ...)
	operator_id     bigint,				-- shilian.operator_id of the caller
	client          text,				-- shilian.client of the caller
	jurisdiction    text,				-- shilian.jurisdiction of the caller
	mode            text NOT NULL CHECK (mode IN ('all_or_nothing', 'apply_valid')),
	idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
	principal       text NOT NULL,		-- role|operator|client|jurisdiction: scope of the key
	body_hash       bytea,				-- sha256 of the upload; NULL when no whole body arrived
	total           integer NOT NULL DEFAULT 0,
	done            integer NOT NULL DEFAULT 0,
	accepted        integer NOT NULL DEFAULT 0,
	refused         integer NOT NULL DEFAULT 0,
	status          text NOT NULL DEFAULT 'running'
	                CHECK (status IN ('running', 'applied', 'rolled_back', 'failed')),
	created_at      timestamptz NOT NULL DEFAULT now(),
	finished_at     timestamptz,
	failure         text,				-- failed: why (the upload was cut off, its staged lines were lost, ...)
	lease_holder    text,				-- the gateway that runs the job (NULL: run from SQL by its caller)
	lease_until     timestamptz			-- until when that gateway's lease holds; renewed before each apply step
);
CREATE UNIQUE INDEX import_job_key_idx ON import_job (principal, idempotency_key)
	WHERE idempotency_key IS NOT NULL;
CREATE INDEX import_job_client_idx ON import_job (client) WHERE client IS NOT NULL;
CREATE INDEX import_job_operator_idx ON import_job (operator_id) WHERE operator_id IS NOT NULL;
COMMENT ON TABLE import_job IS
	'Bulk uploads (import_ndjson, POST /v1/import): who uploaded, mode, idempotency key, line counts, outcome (running, applied, rolled_back, failed with the reason) and the lease of the gateway that runs it.';

CREATE TABLE import_line (
	job_id      bigint NOT NULL REFERENCES import_job (id) ON DELETE CASCADE,
	line_no     integer NOT NULL,
	kind        text,
	status      text NOT NULL CHECK (status IN ('accepted', 'refused', 'rolled_back')),
	result      text,		-- accepted: the new id or trace code
	sqlstate    text,		-- refused: the SQLSTATE
	message     text,		-- refused: the message
	detail      text,		-- refused: the detail, if any
	PRIMARY KEY (job_id, line_no)
);
COMMENT ON TABLE import_line IS
	'Per-line report of a bulk upload: accepted with the new id or trace code, refused with SQLSTATE and message, or rolled_back (valid, but an all_or_nothing upload had a refused line).';

SELECT pg_catalog.pg_extension_config_dump('import_job', '');
SELECT pg_catalog.pg_extension_config_dump('import_line', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.import_job', 'id')::regclass, '');

-- The record function behind each kind, and the line fields renamed because
-- "kind" names the record kind itself.
CREATE FUNCTION import_kind_function(kind text) RETURNS regprocedure
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN CASE kind
	WHEN 'operator' THEN 'shilian.operator_register(text,text,text[],text,text,text,shilian.uscc,text,boolean,text)'
	WHEN 'licence' THEN 'shilian.licence_add(bigint,shilian.license_no,text[],date,date)'
	WHEN 'product' THEN 'shilian.product_register(text,text,integer,text,text,boolean,bigint)'
	WHEN 'batch' THEN 'shilian.batch_create(bigint,bigint,shilian.qty,date,text,date,jsonb)'
	WHEN 'inspection' THEN 'shilian.inspect(shilian.trace_code,text,text,jsonb,timestamptz,bigint)'
	WHEN 'ship' THEN 'shilian.ship(shilian.trace_code,bigint,shilian.qty,date,bigint)'
	WHEN 'receive' THEN 'shilian.receive(bigint,shilian.qty,jsonb,timestamptz,text,shilian.trace_code)'
	WHEN 'transform' THEN 'shilian.transform(shilian.trace_code[],shilian.qty[],bigint,shilian.qty,date,text,date,bigint)'
	WHEN 'consume' THEN 'shilian.consume(shilian.trace_code,shilian.qty,text,timestamptz,text,bigint)'
	END::regprocedure;
COMMENT ON FUNCTION import_kind_function(text) IS
	'The record function an NDJSON line of the given kind calls (operator, licence, product, batch, inspection, ship, receive, transform, consume), or NULL for an unknown kind.';

-- The SELECT that applies one line: the record function called with named
-- arguments, each taken from the line ($1) by its field name and cast to the
-- parameter's type. Field and argument names come from the catalogue (checked
-- against the function's parameter names), never from the line itself.
CREATE FUNCTION import_line_call(kind text, line jsonb) RETURNS text
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	fn regprocedure := shilian.import_kind_function(kind);
	p pg_proc;
	field text;
	arg text;
	typ oid;
	args text[] := '{}';
	i int;
	renamed text := CASE kind WHEN 'inspection' THEN 'inspection_kind'
	                          WHEN 'consume' THEN 'consumption_kind' END;
BEGIN
	IF fn IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown record kind "%s"', kind),
			HINT = 'Use operator, licence, product, batch, inspection, ship, receive, transform or consume.';
	END IF;
	SELECT * INTO p FROM pg_proc WHERE oid = fn;
	-- every field must name a parameter
	FOR field IN SELECT k FROM jsonb_object_keys(line) k WHERE k <> 'kind' ORDER BY k LOOP
		arg := CASE WHEN field = renamed THEN 'kind' ELSE field END;
		IF arg = 'kind' AND field <> renamed OR NOT (arg = ANY (p.proargnames)) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown field "%s" for kind %s', field, kind),
				HINT = format('The fields of %s are the parameters of %s.', kind, fn::text);
		END IF;
	END LOOP;
	FOR i IN 1 .. p.pronargs LOOP
		arg := p.proargnames[i];
		field := CASE WHEN arg = 'kind' THEN renamed ELSE arg END;
		typ := p.proargtypes[i - 1];
		IF line -> field IS NULL OR jsonb_typeof(line -> field) = 'null' THEN
			IF i <= p.pronargs - p.pronargdefaults THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = format('missing field "%s" for kind %s', field, kind);
			END IF;
			CONTINUE;
		END IF;
		args := args || CASE
			WHEN typ = 'jsonb'::regtype THEN format('%I => $1 -> %L', arg, field)
			WHEN (SELECT t.typcategory = 'A' FROM pg_type t WHERE t.oid = typ) THEN
				format('%I => ARRAY(SELECT jsonb_array_elements_text($1 -> %L))::%s',
					arg, field, format_type(typ, NULL))
			ELSE format('%I => ($1 ->> %L)::%s', arg, field, format_type(typ, NULL))
			END;
	END LOOP;
	RETURN format('SELECT %s(%s)::text', fn::oid::regproc::text, array_to_string(args, ', '));
END
$$;
COMMENT ON FUNCTION import_line_call(text, jsonb) IS
	'The statement that applies one NDJSON line (the line is its parameter $1); refuses an unknown kind, an unknown field or a missing required field with 22023.';
REVOKE ALL ON FUNCTION import_line_call(text, jsonb) FROM PUBLIC;

-- Staged lines of a job not applied yet: filled by import_ndjson (the body
-- split into lines) or by the gateway (COPY of a streamed upload), emptied by
-- import_apply as it goes. A line refused while loading (too long, not
-- UTF-8, cut off, a CSV row of the wrong shape) comes with its SQLSTATE and
-- message instead of a body. Unlogged: a crash of the database server
-- empties it; the job whose lines were lost is then failed by the gateway
-- (import_claim), and a retry with the same idempotency key stages again the
-- lines not applied yet.
CREATE UNLOGGED TABLE import_stage (
	job_id   bigint NOT NULL REFERENCES import_job (id) ON DELETE CASCADE,
	line_no  integer NOT NULL,
	body     text,
	sqlstate text CHECK (sqlstate ~ '^[0-9A-Z]{5}$'),
	message  text,
	PRIMARY KEY (job_id, line_no),
	CHECK ((body IS NULL) = (sqlstate IS NOT NULL))
);
COMMENT ON TABLE import_stage IS
	'Lines of running bulk uploads not applied yet (import_apply takes them in line order); a line refused while loading carries its SQLSTATE and message instead of a body.';

-- ---- who runs a job ------------------------------------------------------------
-- A job the gateway runs has a lease: the row names the gateway
-- (lease_holder) and until when it holds (lease_until, renewed before each
-- apply step), and the database session that applies it holds the job's
-- advisory lock (two-key form: 21321, 'SI', and the job id modulo 2^31-1)
-- for as long as it runs it, so a gateway that dies lets go at once: its
-- sessions end with it. A job nobody runs (the lock free, or the lease
-- lapsed) is resumed or failed by import_claim; a job with no lease is run
-- from SQL by its caller. Correctness does not rest on the lease: import_apply
-- locks the job row, so two sessions never apply the same lines.

-- The session holding a job's lock: 'held' (by any session), 'take' (for this
-- session, unless it holds it already; false when another session does),
-- 'release' (this session's, if it holds it).
CREATE FUNCTION import_job_lock(job bigint, action text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k integer := (job % 2147483647)::integer;
	mine boolean;
	held boolean;
BEGIN
	SELECT coalesce(bool_or(l.pid = pg_backend_pid()), false), count(*) > 0 INTO mine, held
	  FROM pg_locks l
	 WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 21321 AND l.objid = k::oid
	   AND l.objsubid = 2
	   AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
	CASE action
		WHEN 'held' THEN
			RETURN held;
		WHEN 'take' THEN
			RETURN mine OR pg_try_advisory_lock(21321, k);
		WHEN 'release' THEN
			IF mine THEN
				PERFORM pg_advisory_unlock(21321, k);
			END IF;
			RETURN mine;
	END CASE;
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
		MESSAGE = format('unknown lock action "%s"', action);
END
$$;
COMMENT ON FUNCTION import_job_lock(bigint, text) IS
	'The advisory lock a session holds while it runs a gateway import job: held (by any session), take (for this session) or release (internal).';
REVOKE ALL ON FUNCTION import_job_lock(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_job_lock(bigint, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- Whether somebody runs a running job: its caller (no lease: from SQL), or a
-- gateway whose lease holds and whose session holds the job's lock.
CREATE FUNCTION import_job_running(job import_job) RETURNS boolean
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN job.status = 'running' AND (job.lease_holder IS NULL
	OR (job.lease_until >= clock_timestamp() AND shilian.import_job_lock(job.id, 'held')));
COMMENT ON FUNCTION import_job_running(import_job) IS
	'Whether a running import job is being run: by its SQL caller (no lease), or by a gateway whose lease holds and whose session holds the job''s lock; false for a job nobody runs (internal).';
REVOKE ALL ON FUNCTION import_job_running(import_job) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_job_running(import_job) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The caller an import job is kept for: role|operator|client|jurisdiction.
CREATE FUNCTION import_principal() RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
RETURN concat_ws('|', CASE WHEN current_setting('role') = 'none' THEN session_user::text
                           ELSE current_setting('role') END,
	shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction());
COMMENT ON FUNCTION import_principal() IS
	'The caller an import job and its idempotency key belong to: role, operator, client and jurisdiction joined by | (internal).';
REVOKE ALL ON FUNCTION import_principal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_principal() TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- One line through its record function (the path of every kind import_apply
-- does not validate itself): the checks of import_line_call, then the call.
CREATE FUNCTION import_line_exec(line jsonb) RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	res text;
BEGIN
	EXECUTE shilian.import_line_call(line ->> 'kind', line) INTO res USING line;
	RETURN res;
END
$$;
COMMENT ON FUNCTION import_line_exec(jsonb) IS
	'Apply one NDJSON line (a JSON object with its kind) by calling the record function of its kind; returns the new id or trace code (internal, not granted).';
REVOKE ALL ON FUNCTION import_line_exec(jsonb) FROM PUBLIC;

CREATE FUNCTION import_apply(job bigint, max_lines integer DEFAULT NULL) RETURNS integer
	AS 'MODULE_PATHNAME', 'sl_import_apply'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION import_apply(bigint, integer) IS
	'Apply up to max_lines (all when null) staged lines of a running import job in line order, set-based: ship and receive lines validated in memory by the record functions'' rules and written a chunk at a time, other kinds through their record function; returns the lines still staged. An all_or_nothing job is applied whole and rolled back if any line is refused.';
REVOKE ALL ON FUNCTION import_apply(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_apply(bigint, integer) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- A new job for the caller, or the job an earlier upload with the same
-- idempotency key made: replayed = true when that one was applied or rolled
-- back, refused with SLI01 if it had another body or mode, with SLI05 while
-- somebody still runs it. A job of the key that failed, or that nobody runs
-- any more, is taken up again (replayed = false, its staged lines removed):
-- the caller stages this upload's lines not applied yet (import_line has the
-- others) and they are applied under the same job; when nothing of that job
-- was applied, this upload may have another body or mode.
CREATE FUNCTION import_open(mode text, idempotency_key text, body_hash bytea, total integer,
		OUT job bigint, OUT replayed boolean)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	who text := shilian.import_principal();
	old shilian.import_job;
BEGIN
	IF mode IS NULL OR mode NOT IN ('all_or_nothing', 'apply_valid') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown import mode "%s"', mode),
			HINT = 'Use all_or_nothing or apply_valid.';
	END IF;
	replayed := false;
	INSERT INTO shilian.import_job AS j (role_name, operator_id, client, jurisdiction, mode,
			idempotency_key, principal, body_hash, total)
	VALUES (caller, shilian.current_operator(), shilian.current_client(),
			shilian.current_jurisdiction(), import_open.mode, import_open.idempotency_key,
			who, import_open.body_hash, import_open.total)
	ON CONFLICT (principal, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING j.id INTO job;
	IF job IS NOT NULL THEN
		RETURN;
	END IF;
	-- the job of the key; locked by an apply step (or a gateway taking it up) means it runs
	SELECT * INTO old FROM shilian.import_job j
	 WHERE j.principal = who AND j.idempotency_key = import_open.idempotency_key
	   FOR UPDATE SKIP LOCKED;
	IF NOT FOUND OR shilian.import_job_running(old) THEN
		SELECT * INTO old FROM shilian.import_job j
		 WHERE j.principal = who AND j.idempotency_key = import_open.idempotency_key;
		RAISE EXCEPTION USING ERRCODE = 'SLI05',
			MESSAGE = format('the upload of idempotency key "%s" is still being applied', idempotency_key),
			DETAIL = format('Import job %s has %s of %s lines done.', old.id, old.done, old.total),
			HINT = 'Wait for it (GET /v1/import/{id}) and retry later with the same key.';
	END IF;
	IF NOT (old.status = 'failed' AND old.done = 0)
			AND (old.body_hash IS DISTINCT FROM import_open.body_hash OR old.mode <> import_open.mode) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI01',
			MESSAGE = format('idempotency key "%s" was used for another upload', idempotency_key),
			DETAIL = format('Import job %s was made with this key from a different body or mode.', old.id),
			HINT = 'Use a new key for a new upload.';
	END IF;
	job := old.id;
	IF old.status IN ('applied', 'rolled_back') THEN
		replayed := true;
		RETURN;
	END IF;
	-- failed, or running with nobody running it: this upload takes it up again
	UPDATE shilian.import_job j SET status = 'running', failure = NULL, finished_at = NULL,
			lease_holder = NULL, lease_until = NULL, mode = import_open.mode,
			body_hash = import_open.body_hash, total = import_open.total
	 WHERE j.id = old.id;
	DELETE FROM shilian.import_stage s WHERE s.job_id = old.id;
END
$$;
COMMENT ON FUNCTION import_open(text, text, bytea, integer) IS
	'A new import job for the caller (internal), or the earlier job of the same idempotency key: replayed true when it was applied or rolled back, SLI01 if it had another body or mode, SLI05 while it is still being applied; a failed job, or one nobody runs, is taken up again for the lines not applied yet.';
REVOKE ALL ON FUNCTION import_open(text, text, bytea, integer) FROM PUBLIC;

-- The hash an upload is known by for its idempotency key: SHA-256 over its
-- non-blank lines as staged, each as line number, tab, text (or SQLSTATE for
-- a line refused while loading) and a newline.
CREATE FUNCTION import_hash(line_nos integer[], bodies text[], states text[]) RETURNS bytea
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT sha256(convert_to(coalesce(string_agg(u.n || E'\t' || coalesce(u.b, u.s) || E'\n', ''
		ORDER BY u.n), ''), 'UTF8'))
	FROM unnest(line_nos, bodies, states) AS u(n, b, s));
COMMENT ON FUNCTION import_hash(integer[], text[], text[]) IS
	'SHA-256 of staged upload lines (line number, tab, text or SQLSTATE, newline, in line order): what an idempotency key is checked against.';
REVOKE ALL ON FUNCTION import_hash(integer[], text[], text[]) FROM PUBLIC;

CREATE FUNCTION import_ndjson(body text, mode text DEFAULT 'apply_valid',
		idempotency_key text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	nums int[];
	bodies text[];
BEGIN
	IF body IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'the upload body is null';
	END IF;
	-- lines split at \n, a \r before it ignored, blank lines skipped (but counted)
	SELECT coalesce(array_agg(l.n ORDER BY l.n), '{}'), coalesce(array_agg(l.t ORDER BY l.n), '{}')
	  INTO nums, bodies
	  FROM (SELECT n::int, rtrim(t, E'\r') AS t
	          FROM regexp_split_to_table(body, E'\n') WITH ORDINALITY AS x(t, n)) l
	 WHERE btrim(l.t, E' \t\r') <> '';
	o := shilian.import_open(mode, idempotency_key,
		shilian.import_hash(nums, bodies, array_fill(NULL::text, ARRAY[cardinality(nums)])),
		cardinality(nums));
	IF o.replayed THEN
		RETURN o.job;
	END IF;
	-- the lines not applied yet (all of them, unless a failed job of the key is taken up again)
	INSERT INTO shilian.import_stage (job_id, line_no, body)
	SELECT o.job, u.n, u.t FROM unnest(nums, bodies) AS u(n, t)
	 WHERE NOT EXISTS (SELECT 1 FROM shilian.import_line r WHERE r.job_id = o.job AND r.line_no = u.n);
	PERFORM shilian.import_apply(o.job, NULL);
	RETURN o.job;
END
$$;
COMMENT ON FUNCTION import_ndjson(text, text, text) IS
	'Bulk upload: one record per line (JSON object with a kind and the record function''s arguments by name), staged and applied set-based by import_apply with the caller''s rights; mode apply_valid keeps the valid lines, all_or_nothing applies none if any is refused. A repeated idempotency key returns the first job and applies nothing. Returns the import job id; the per-line report is in import_line.';
REVOKE ALL ON FUNCTION import_ndjson(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_ndjson(text, text, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The gateway's streamed upload: the lines it COPYed into the session's
-- temporary table pg_temp.shilian_import_lines (line_no, body, sqlstate,
-- message) become a job's staged lines; answered as import_status plus
-- "replayed". The lines are applied afterwards by import_apply, in chunks
-- that commit (progress) for apply_valid, at once for all_or_nothing.
CREATE FUNCTION import_stage_lines(mode text DEFAULT 'apply_valid',
		idempotency_key text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	h bytea;
	n int;
BEGIN
	SELECT shilian.import_hash(array_agg(l.line_no ORDER BY l.line_no), array_agg(l.body ORDER BY l.line_no),
			array_agg(l.sqlstate ORDER BY l.line_no)), count(*)
	  INTO h, n FROM pg_temp.shilian_import_lines l;
	o := shilian.import_open(mode, idempotency_key, h, n);
	IF NOT o.replayed THEN
		INSERT INTO shilian.import_stage (job_id, line_no, body, sqlstate, message)
		SELECT o.job, l.line_no, l.body, l.sqlstate, l.message FROM pg_temp.shilian_import_lines l
		 WHERE NOT EXISTS (SELECT 1 FROM shilian.import_line r WHERE r.job_id = o.job AND r.line_no = l.line_no);
	END IF;
	RETURN shilian.import_status(o.job) || jsonb_build_object('replayed', o.replayed);
END
$$;
COMMENT ON FUNCTION import_stage_lines(text, text) IS
	'Stage the lines of a streamed upload (the session''s temporary table shilian_import_lines, filled by COPY) as a new import job, or answer the earlier job of the same idempotency key; returns the job as import_status with replayed.';
REVOKE ALL ON FUNCTION import_stage_lines(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_stage_lines(text, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- A running job nobody runs (its gateway stopped) shows as interrupted until
-- a gateway takes it up (import_claim) or a retry with its key does.
CREATE FUNCTION import_status(id bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('id', j.id::text, 'mode', j.mode,
		'status', CASE WHEN j.status = 'running' AND NOT shilian.import_job_running(j) THEN 'interrupted'
		               ELSE j.status END,
		'total', j.total, 'done', j.done, 'accepted', j.accepted, 'refused', j.refused,
		'idempotency_key', j.idempotency_key, 'created_at', j.created_at, 'finished_at', j.finished_at)
	|| CASE WHEN j.failure IS NULL THEN '{}' ELSE jsonb_build_object('failure', j.failure) END
	FROM shilian.import_job j WHERE j.id = import_status.id);
COMMENT ON FUNCTION import_status(bigint) IS
	'An import job the caller may see, as JSON with its counts (total, done, accepted, refused), status (running, interrupted when nobody runs it, applied, rolled_back, failed) and the failure reason; NULL if unknown or not visible.';
REVOKE ALL ON FUNCTION import_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_status(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

CREATE FUNCTION import_lines(id bigint, status text DEFAULT NULL) RETURNS jsonb
	LANGUAGE sql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('line', l.line_no, 'kind', l.kind,
		'status', l.status, 'result', l.result, 'sqlstate', l.sqlstate, 'message', l.message,
		'detail', l.detail)) ORDER BY l.line_no), '[]')
	FROM shilian.import_line l
	WHERE l.job_id = import_lines.id AND (import_lines.status IS NULL OR l.status = import_lines.status));
COMMENT ON FUNCTION import_lines(bigint, text) IS
	'The per-line report of an import job the caller may see, as a JSON array in line order, optionally only the lines of one status (accepted, refused, rolled_back).';
REVOKE ALL ON FUNCTION import_lines(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_lines(bigint, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- ---- the gateway's side of a job's life ------------------------------------------
-- An upload whose body did not arrive whole (the connection ended before the
-- chunked terminator or Content-Length bytes, or the client sent too
-- slowly): nothing was staged; the caller's job of the key (a new one, or
-- one of the key that failed with nothing applied) records it as failed with
-- the reason, so that a retry with the same key is a fresh upload. A job of
-- the key in any other state is left as it is.
CREATE FUNCTION import_cut(mode text, idempotency_key text, lines integer, reason text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	who text := shilian.import_principal();
	job bigint;
BEGIN
	IF mode IS NULL OR mode NOT IN ('all_or_nothing', 'apply_valid') THEN
		mode := 'apply_valid';
	END IF;
	INSERT INTO shilian.import_job AS j (role_name, operator_id, client, jurisdiction, mode,
			idempotency_key, principal, body_hash, total, status, failure, finished_at)
	VALUES (caller, shilian.current_operator(), shilian.current_client(),
			shilian.current_jurisdiction(), import_cut.mode, import_cut.idempotency_key,
			who, NULL, coalesce(lines, 0), 'failed', reason, clock_timestamp())
	ON CONFLICT (principal, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
	RETURNING j.id INTO job;
	IF job IS NULL THEN
		UPDATE shilian.import_job j SET mode = import_cut.mode, body_hash = NULL,
				total = coalesce(lines, 0), failure = reason, finished_at = clock_timestamp()
		 WHERE j.principal = who AND j.idempotency_key = import_cut.idempotency_key
		   AND j.status = 'failed' AND j.done = 0
		RETURNING j.id INTO job;
	END IF;
	IF job IS NULL THEN
		SELECT j.id INTO job FROM shilian.import_job j
		 WHERE j.principal = who AND j.idempotency_key = import_cut.idempotency_key;
	END IF;
	RETURN shilian.import_status(job);
END
$$;
COMMENT ON FUNCTION import_cut(text, text, integer, text) IS
	'The gateway''s record of an upload whose body did not arrive whole: a failed job with the reason and the lines received (or the failed job of the same idempotency key, updated), nothing staged; returns the job as import_status.';
REVOKE ALL ON FUNCTION import_cut(text, text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_cut(text, text, integer, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- The lease of a running job, taken or renewed by the gateway that applies
-- it (holder), for lease_ms from now, with the job's lock for this session;
-- SLI05 if another gateway runs it. The gateway renews it in a transaction
-- of its own before each apply step, for longer than the step may take.
CREATE FUNCTION import_lease(job bigint, holder text, lease_ms integer) RETURNS timestamptz
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j shilian.import_job;
	until timestamptz;
BEGIN
	SELECT * INTO j FROM shilian.import_job WHERE id = job FOR UPDATE;
	IF NOT FOUND OR j.status <> 'running' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI05',
			MESSAGE = format('import job %s is not running', job);
	END IF;
	IF j.lease_holder IS NOT NULL AND j.lease_holder <> holder AND shilian.import_job_running(j) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLI05',
			MESSAGE = format('import job %s is being applied by another gateway', job),
			DETAIL = format('%s holds it until %s.', j.lease_holder, j.lease_until);
	END IF;
	UPDATE shilian.import_job SET lease_holder = holder,
			lease_until = clock_timestamp() + lease_ms * interval '1 millisecond'
	 WHERE id = job RETURNING lease_until INTO until;
	PERFORM shilian.import_job_lock(job, 'take');
	RETURN until;
END
$$;
COMMENT ON FUNCTION import_lease(bigint, text, integer) IS
	'Gateway only: take or renew the lease of a running import job for lease_ms milliseconds, with the job''s lock for this session; SLI05 if another gateway runs it.';
REVOKE ALL ON FUNCTION import_lease(bigint, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_lease(bigint, text, integer) TO shilian_gateway, shilian_admin;

-- The gateway lets go of a job: its lock, and the lease of a job it stopped
-- running before the end (lapsed at once, so another gateway takes it up).
CREATE FUNCTION import_release(job bigint, holder text) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE shilian.import_job j SET lease_until = clock_timestamp()
	 WHERE j.id = job AND j.lease_holder = holder AND j.status = 'running';
	PERFORM shilian.import_job_lock(job, 'release');
END
$$;
COMMENT ON FUNCTION import_release(bigint, text) IS
	'Gateway only: release an import job''s lock; a job left running gets its lease lapsed so that another gateway resumes it.';
REVOKE ALL ON FUNCTION import_release(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_release(bigint, text) TO shilian_gateway, shilian_admin;

-- A job that cannot go on (an error that is not transient): failed with the
-- reason, its staged lines removed. What it applied stays, and a retry with
-- the same key applies the rest.
CREATE FUNCTION import_fail(job bigint, holder text, reason text) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE shilian.import_job j SET status = 'failed', failure = reason, finished_at = clock_timestamp()
	 WHERE j.id = job AND j.status = 'running' AND j.lease_holder = holder;
	IF FOUND THEN
		DELETE FROM shilian.import_stage s WHERE s.job_id = job;
	END IF;
	PERFORM shilian.import_job_lock(job, 'release');
END
$$;
COMMENT ON FUNCTION import_fail(bigint, text, text) IS
	'Gateway only: fail a running import job the holder runs, with the reason, removing its staged lines (what it applied stays; a retry with the same key applies the rest).';
REVOKE ALL ON FUNCTION import_fail(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_fail(bigint, text, text) TO shilian_gateway, shilian_admin;

-- A gateway's sweep (at start and every import_sweep_ms): the first running
-- job nobody runs, taken for holder with its lock and a lease of lease_ms,
-- with the caller it runs as; none when there is no such job. A job whose
-- staged lines are not all there any more (a crash of the database server
-- empties the unlogged import_stage) is failed on the way, its staging removed.
CREATE FUNCTION import_claim(holder text, lease_ms integer,
		OUT job bigint, OUT role_name text, OUT operator_id bigint, OUT client text,
		OUT jurisdiction text, OUT mode text)
	RETURNS SETOF record
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j shilian.import_job;
	staged integer;
BEGIN
	FOR j IN SELECT * FROM shilian.import_job x WHERE x.status = 'running' AND x.lease_holder IS NOT NULL
			ORDER BY x.id FOR UPDATE SKIP LOCKED LOOP
		CONTINUE WHEN shilian.import_job_running(j);
		PERFORM shilian.import_job_lock(j.id, 'take');
		SELECT count(*) INTO staged FROM shilian.import_stage s WHERE s.job_id = j.id;
		IF staged <> j.total - j.done THEN
			UPDATE shilian.import_job x SET status = 'failed', finished_at = clock_timestamp(),
					failure = format('%s of the %s lines not applied yet were lost from the staging (the database server restarted); upload again with the same Idempotency-Key to apply them',
						j.total - j.done - staged, j.total - j.done)
			 WHERE x.id = j.id;
			DELETE FROM shilian.import_stage s WHERE s.job_id = j.id;
			PERFORM shilian.import_job_lock(j.id, 'release');
			CONTINUE;
		END IF;
		UPDATE shilian.import_job x SET lease_holder = holder,
				lease_until = clock_timestamp() + lease_ms * interval '1 millisecond'
		 WHERE x.id = j.id;
		job := j.id;
		role_name := j.role_name;
		operator_id := j.operator_id;
		client := j.client;
		jurisdiction := j.jurisdiction;
		mode := j.mode;
		RETURN NEXT;
		RETURN;
	END LOOP;
END
$$;
COMMENT ON FUNCTION import_claim(text, integer) IS
	'Gateway only: take up the first running import job nobody runs (lease lapsed or lock free) for holder, with its lock and a lease of lease_ms; returns it with the caller it runs as. A job whose staged lines were lost is failed instead.';
REVOKE ALL ON FUNCTION import_claim(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_claim(text, integer) TO shilian_gateway, shilian_admin;

-- The gateway's POST /v1/import: the upload, answered with the job's status
-- (a statement of its own, so that it sees the job import_ndjson wrote).
CREATE FUNCTION import_upload(body text, mode text DEFAULT 'apply_valid',
		idempotency_key text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job bigint := shilian.import_ndjson(body, mode, idempotency_key);
BEGIN
	RETURN shilian.import_status(job);
END
$$;
COMMENT ON FUNCTION import_upload(text, text, text) IS
	'import_ndjson answered as import_status (the job with its counts): what POST /v1/import returns.';
REVOKE ALL ON FUNCTION import_upload(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION import_upload(text, text, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
-- shilian install script, part 75: GS1 EPCIS 2.0 capture and query
-- (docs/integration.md, "EPCIS 2.0"). epcis_capture validates an
-- EPCISDocument (JSON-LD) and maps each event onto the record functions
-- (batch_create, ship, receive, inspect, transform, consume), all or nothing
-- per document; the events are kept in epcis_event with the records they
-- made, so that a repeated eventID is refused and epcis_events can answer
-- the standard's SimpleEventQuery. The record functions check the caller
-- themselves (RecordCheckActor reads the outer role and the request
-- settings); capture runs with definer rights only to write its own tables
-- and to find the batches and pending shipments the events name.
-- Who sees which events and jobs: part 89.

CREATE TABLE epcis_capture_job (
	id           bigserial PRIMARY KEY,
	role_name    text NOT NULL,		-- the calling role (shilian_system, shilian_operator, ...)
	operator_id  bigint,			-- shilian.operator_id of the caller
	client       text,				-- shilian.client of the caller
	jurisdiction text,				-- shilian.jurisdiction of the caller
	doc_hash     bytea NOT NULL,	-- sha256 of the document as captured (jsonb text)
	success      boolean NOT NULL,
	events       integer NOT NULL DEFAULT 0,
	sqlstate     text,				-- a failed capture: the error
	message      text,
	detail       text,
	hint         text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	finished_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
	CHECK (success = (sqlstate IS NULL))
);
CREATE INDEX epcis_capture_job_operator_idx ON epcis_capture_job (operator_id) WHERE operator_id IS NOT NULL;
CREATE INDEX epcis_capture_job_client_idx ON epcis_capture_job (client) WHERE client IS NOT NULL;
COMMENT ON TABLE epcis_capture_job IS
	'EPCIS capture jobs: who captured, success with the number of events, or the error that rolled the whole document back.';

CREATE TABLE epcis_event (
	id          bigserial PRIMARY KEY,
	job_id      bigint NOT NULL REFERENCES epcis_capture_job (id),
	event_index integer NOT NULL,		-- position in the document's eventList (from 0)
	event_id    text NOT NULL UNIQUE,	-- the event's eventID (urn:uuid:... when it had none)
	event_hash  bytea NOT NULL,			-- sha256 of the event as captured (jsonb text)
	type        text NOT NULL CHECK (type IN ('ObjectEvent', 'TransformationEvent')),
	action      text CHECK (action IN ('ADD', 'OBSERVE', 'DELETE')),
	event_time  timestamptz NOT NULL,
	biz_step    text,					-- CBV short name (shipping, receiving, ...)
	disposition text,					-- CBV short name
	epc_classes text[] NOT NULL,		-- quantityList classes as Digital Link keys, with and without lot
	any_classes text[] NOT NULL,		-- the same over quantityList, inputQuantityList, outputQuantityList
	parties     bigint[] NOT NULL,		-- operators whose records the event made or touched
	records     jsonb NOT NULL,			-- what it made: {"batches": [...], "links": [...], ...}
	event       jsonb NOT NULL,			-- the event as captured (eventID added when absent)
	record_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX epcis_event_time_idx ON epcis_event (event_time, id);
CREATE INDEX epcis_event_job_idx ON epcis_event (job_id);
CREATE INDEX epcis_event_classes_idx ON epcis_event USING gin (epc_classes);
CREATE INDEX epcis_event_any_classes_idx ON epcis_event USING gin (any_classes);
CREATE INDEX epcis_event_parties_idx ON epcis_event USING gin (parties);
COMMENT ON TABLE epcis_event IS
	'Captured EPCIS events: eventID (unique), hash, type, eventTime, bizStep, classes, the operators concerned, the records each made and the event itself.';

-- EPCIS names a lot by GTIN and lot number, and every shipping, inspecting,
-- destroying and transformation event looks up the operator's batch by them:
-- without this index the lookup reads every batch of the product.
CREATE INDEX batch_owner_lot_idx ON batch (owner_id, product_id, lot) WHERE lot IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('epcis_capture_job', '');
SELECT pg_catalog.pg_extension_config_dump('epcis_event', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.epcis_capture_job', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shilian.epcis_event', 'id')::regclass, '');

-- ---- vocabulary --------------------------------------------------------------

-- A CBV 2.0 term as its short name: the bare name ("shipping"), the GS1 Web
-- URI (https://ref.gs1.org/cbv/BizStep-shipping) or the URN
-- (urn:epcglobal:cbv:bizstep:shipping); NULL when it is none of them.
CREATE FUNCTION epcis_cbv(vocabulary text, term text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (
	WITH v(web, urn, names) AS (
		SELECT * FROM (VALUES
			('BizStep-', 'urn:epcglobal:cbv:bizstep:', ARRAY['accepting', 'arriving', 'assembling',
				'collecting', 'commissioning', 'consigning', 'creating_class_instance', 'cycle_counting',
				'decommissioning', 'departing', 'destroying', 'disassembling', 'dispensing', 'encoding',
				'entering_exiting', 'holding', 'inspecting', 'installing', 'killing', 'loading', 'other',
				'packing', 'picking', 'receiving', 'removing', 'repackaging', 'repairing', 'replacing',
				'reserving', 'retail_selling', 'sampling', 'sensor_reporting', 'shipping',
				'staging_outbound', 'stock_taking', 'stocking', 'storing', 'transporting', 'unloading',
				'unpacking', 'void_shipping']),
			('Disp-', 'urn:epcglobal:cbv:disp:', ARRAY['active', 'available', 'completeness_inferred',
				'completeness_verified', 'conformant', 'container_closed', 'container_open', 'damaged',
				'destroyed', 'dispensed', 'disposed', 'encoded', 'expired', 'in_progress', 'in_transit',
				'inactive', 'mismatch_class', 'mismatch_instance', 'mismatch_quantity',
				'needs_replacement', 'no_pedigree_match', 'non_conformant', 'non_sellable_other',
				'partially_dispensed', 'recalled', 'reserved', 'retail_sold', 'returned',
				'sellable_accessible', 'sellable_not_accessible', 'stolen', 'unavailable', 'unknown']),
			('SDT-', 'urn:epcglobal:cbv:sdt:', ARRAY['owning_party', 'possessing_party', 'location'])
		) AS t(web, urn, names)
		WHERE t.web = CASE vocabulary WHEN 'bizStep' THEN 'BizStep-' WHEN 'disposition' THEN 'Disp-'
			WHEN 'sourceDestType' THEN 'SDT-' END
	)
	SELECT n FROM v, unnest(v.names) n
	 WHERE term IN (n, 'https://ref.gs1.org/cbv/' || v.web || n, v.urn || n)
);
COMMENT ON FUNCTION epcis_cbv(text, text) IS
	'The CBV 2.0 short name of a bizStep, disposition or sourceDestType term given bare, as https://ref.gs1.org/cbv/… URI or as urn:epcglobal:cbv:… URN; NULL if not in the vocabulary.';

-- UN/CEFACT Recommendation 20 codes (the uom of a quantityElement) as qty units.
CREATE FUNCTION epcis_uom_unit(uom text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE uom
	WHEN 'KGM' THEN 'kg' WHEN 'GRM' THEN 'g' WHEN 'TNE' THEN 't'
	WHEN 'LTR' THEN 'L' WHEN 'MLT' THEN 'mL'
	WHEN 'H87' THEN 'pcs' WHEN 'EA' THEN 'pcs' WHEN 'C62' THEN 'pcs'
	END;
COMMENT ON FUNCTION epcis_uom_unit(text) IS
	'The qty unit of a UN/CEFACT unit code: KGM kg, GRM g, TNE t, LTR L, MLT mL, H87/EA/C62 pieces; NULL for any other code.';

-- ---- identifiers ---------------------------------------------------------------

-- A class-level identifier as GTIN-14 and lot: an LGTIN EPC URN
-- (urn:epc:class:lgtin:<company prefix>.<indicator+item ref>.<lot>) or a GS1
-- Digital Link URI (https://id.gs1.org/01/<GTIN>[/10/<lot>]). NULL when it is
-- neither form; 22P02 when it is one of them but malformed.
CREATE FUNCTION epcis_class_parse(uri text, OUT gtin text, OUT lot text)
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m text[];
	d text;
	s int := 0;
BEGIN
	IF uri LIKE 'urn:epc:class:lgtin:%' THEN
		m := regexp_match(uri, '^urn:epc:class:lgtin:([0-9]+)\.([0-9]+)\.(.+)$');
		IF m IS NULL OR length(m[1]) + length(m[2]) <> 13 OR length(m[1]) NOT BETWEEN 6 AND 12 THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_text_representation',
				MESSAGE = format('invalid LGTIN EPC URN: "%s"', uri),
				DETAIL = 'An LGTIN is urn:epc:class:lgtin:<company prefix>.<indicator and item reference>.<lot>, the two numbers 13 digits together.';
		END IF;
		-- GTIN-14: indicator digit, company prefix, item reference, check digit
		d := substr(m[2], 1, 1) || m[1] || substr(m[2], 2);
		FOR i IN 1 .. 13 LOOP
			s := s + substr(d, i, 1)::int * CASE WHEN i % 2 = 1 THEN 3 ELSE 1 END;
		END LOOP;
		gtin := d || ((10 - s % 10) % 10)::text;
		lot := m[3];
		-- the lot as gs1_digital_link would accept it (1-20 chars of set 82)
		PERFORM shilian.gs1_digital_link(gtin, lot);
		RETURN;
	END IF;
	IF uri ~ '^https?://[^/]+/(.*/)?(01|gtin)/' THEN
		SELECT p.gtin, p.lot INTO gtin, lot FROM shilian.gs1_parse_digital_link(uri) p;
		RETURN;
	END IF;
	gtin := NULL;
	lot := NULL;
END
$$;
COMMENT ON FUNCTION epcis_class_parse(text) IS
	'GTIN-14 and lot of an LGTIN EPC URN or a GS1 Digital Link class URI; NULLs for any other URI, 22P02 for a malformed one.';

-- The keys an event's class is found by: the Digital Link with the lot and
-- the one without (so a query for a GTIN matches every lot of it).
CREATE FUNCTION epcis_class_keys(uri text) RETURNS text[]
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT CASE WHEN c.gtin IS NULL THEN ARRAY[uri]
		WHEN c.lot IS NULL THEN ARRAY[shilian.gs1_digital_link(c.gtin)]
		ELSE ARRAY[shilian.gs1_digital_link(c.gtin, c.lot), shilian.gs1_digital_link(c.gtin)] END
	FROM shilian.epcis_class_parse(uri) c);
COMMENT ON FUNCTION epcis_class_keys(text) IS
	'Digital Link keys of a class URI: with its lot (if any) first, then the GTIN alone; other URIs as they are.';

-- A party (readPoint, bizLocation, source, destination): urn:shilian:operator:<id>
-- or urn:shilian:uscc:<unified social credit code>. NULL when the URI is not
-- one of these forms; SLE04 when it names no operator.
CREATE FUNCTION epcis_party(uri text, idx int DEFAULT NULL, field text DEFAULT NULL) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	op bigint;
BEGIN
	IF uri IS NULL THEN
		RETURN NULL;
	ELSIF uri ~ '^urn:shilian:operator:[1-9][0-9]{0,17}$' THEN
		SELECT o.id INTO op FROM shilian.operator o WHERE o.id = substr(uri, 22)::bigint;
	ELSIF uri LIKE 'urn:shilian:uscc:%' THEN
		SELECT o.id INTO op FROM shilian.operator o
		 WHERE o.uscc OPERATOR(shilian.=) substr(uri, 18)::shilian.uscc;
	ELSE
		RETURN NULL;
	END IF;
	IF op IS NULL AND idx IS NOT NULL THEN
		PERFORM shilian.epcis_refuse('SLE04', idx, field, format('unknown party: no operator is %s', uri),
			'Name a registered operator: urn:shilian:operator:<id> or urn:shilian:uscc:<USCC>.');
	ELSIF op IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE04',
			MESSAGE = format('unknown party: no operator is %s', uri);
	END IF;
	RETURN op;
END
$$;
COMMENT ON FUNCTION epcis_party(text, int, text) IS
	'The operator a party URI names (urn:shilian:operator:<id> or urn:shilian:uscc:<USCC>); NULL for other URIs, SLE04 if no operator matches (naming the event and field when given).';
REVOKE ALL ON FUNCTION epcis_party(text, int, text) FROM PUBLIC;

-- ---- capture -----------------------------------------------------------------

-- Raise an EPCIS refusal about one event's field.
CREATE FUNCTION epcis_refuse(code text, idx int, field text, msg text, hint text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
	IF hint IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = code,
			MESSAGE = format('EPCIS event %s: %s', idx, msg),
			DETAIL = format('At /epcisBody/eventList/%s%s.', idx, coalesce('/' || field, ''));
	END IF;
	RAISE EXCEPTION USING ERRCODE = code,
		MESSAGE = format('EPCIS event %s: %s', idx, msg),
		DETAIL = format('At /epcisBody/eventList/%s%s.', idx, coalesce('/' || field, '')),
		HINT = hint;
END
$$;
COMMENT ON FUNCTION epcis_refuse(text, int, text, text, text) IS
	'Raise an EPCIS capture refusal naming the event index and field (internal).';

-- A quantityElement as qty: quantity a positive JSON number, uom a UN/CEFACT code
-- (absent: pieces).
CREATE FUNCTION epcis_qty(q jsonb, idx int, field text) RETURNS qty
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	unit text;
BEGIN
	IF jsonb_typeof(q -> 'quantity') IS DISTINCT FROM 'number' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, field || '/quantity',
			'a quantityElement needs a numeric "quantity"');
	END IF;
	IF q ? 'uom' THEN
		unit := shilian.epcis_uom_unit(q ->> 'uom');
		IF unit IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE03', idx, field || '/uom',
				format('unknown unit of measure "%s"', q ->> 'uom'),
				'Use a UN/CEFACT code: KGM, GRM, TNE (mass), LTR, MLT (volume), H87, EA, C62 (pieces).');
		END IF;
	ELSE
		unit := 'pcs';
	END IF;
	RETURN shilian.qty((q ->> 'quantity')::numeric, unit);
END
$$;
COMMENT ON FUNCTION epcis_qty(jsonb, int, text) IS
	'The qty of an EPCIS quantityElement (quantity and UN/CEFACT uom; pieces without uom); SLE01/SLE03 naming the event and field (internal).';

-- The quantityList elements of an event field as (product, lot, qty, class).
CREATE FUNCTION epcis_quantities(ev jsonb, idx int, field text)
	RETURNS TABLE (product bigint, lot text, qty qty, epc_class text, keys text[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q jsonb;
	k int := 0;
	c record;
	f text;
BEGIN
	IF jsonb_typeof(ev -> field) IS DISTINCT FROM 'array' OR jsonb_array_length(ev -> field) = 0 THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, field, format('missing field "%s"', field),
			'This platform records lots: give each lot as a quantityElement (epcClass, quantity, uom).');
	END IF;
	FOR q IN SELECT e FROM jsonb_array_elements(ev -> field) e LOOP
		f := field || '/' || k;
		IF jsonb_typeof(q -> 'epcClass') IS DISTINCT FROM 'string' THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, f || '/epcClass', 'a quantityElement needs an "epcClass"');
		END IF;
		SELECT * INTO c FROM shilian.epcis_class_parse(q ->> 'epcClass');
		IF c.gtin IS NULL OR c.lot IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE04', idx, f || '/epcClass',
				format('unsupported class identifier "%s"', q ->> 'epcClass'),
				'Name a lot: urn:epc:class:lgtin:<company prefix>.<item reference>.<lot> or https://id.gs1.org/01/<GTIN>/10/<lot>.');
		END IF;
		product := NULL;
		SELECT p.id INTO product FROM shilian.product p
		 WHERE p.gtin IN (c.gtin, substr(c.gtin, 2), substr(c.gtin, 3), substr(c.gtin, 7))
		   AND lpad(p.gtin, 14, '0') = c.gtin;
		IF product IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE04', idx, f || '/epcClass',
				format('unknown product: no product has GTIN %s', c.gtin),
				'Register the product with its GTIN first (product_register).');
		END IF;
		lot := c.lot;
		qty := shilian.epcis_qty(q, idx, f);
		epc_class := q ->> 'epcClass';
		keys := ARRAY[shilian.gs1_digital_link(c.gtin, c.lot), shilian.gs1_digital_link(c.gtin)];
		RETURN NEXT;
		k := k + 1;
	END LOOP;
END
$$;
COMMENT ON FUNCTION epcis_quantities(jsonb, int, text) IS
	'The quantityElements of an event list field as product (by GTIN), lot, qty, class and its Digital Link keys (with and without lot); refuses with SLE01/SLE03/SLE04 (internal).';
REVOKE ALL ON FUNCTION epcis_quantities(jsonb, int, text) FROM PUBLIC;

-- The operator's newest batch of a product and lot.
CREATE FUNCTION epcis_batch(op bigint, product bigint, lot text, idx int, epc_class text)
	RETURNS trace_code
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	code shilian.trace_code;
BEGIN
	SELECT b.trace_code INTO code FROM shilian.batch b
	 WHERE b.product_id = epcis_batch.product AND b.owner_id = op AND b.lot = epcis_batch.lot
	 ORDER BY b.id DESC LIMIT 1;
	IF code IS NULL THEN
		PERFORM shilian.epcis_refuse('SLE06', idx, NULL,
			format('no batch of %s held by operator %s', epc_class, op),
			'Capture its commissioning (or receiving) event first.');
	END IF;
	RETURN code;
END
$$;
COMMENT ON FUNCTION epcis_batch(bigint, bigint, text, int, text) IS
	'The newest batch an operator holds of a product and lot, or SLE06 naming the event (internal).';
REVOKE ALL ON FUNCTION epcis_batch(bigint, bigint, text, int, text) FROM PUBLIC;

-- The first party of a sourceList/destinationList by type preference.
CREATE FUNCTION epcis_list_party(ev jsonb, idx int, field text, key text) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e jsonb;
	k int := 0;
	t text;
	op bigint;
	best bigint;
	best_rank int := 99;
BEGIN
	IF ev -> field IS NULL THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(ev -> field) <> 'array' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, field, format('"%s" must be an array', field));
	END IF;
	FOR e IN SELECT x FROM jsonb_array_elements(ev -> field) x LOOP
		t := shilian.epcis_cbv('sourceDestType', e ->> 'type');
		IF t IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, field || '/' || k || '/type',
				format('unknown %s type "%s"', key, coalesce(e ->> 'type', 'null')),
				'Use owning_party, possessing_party or location (CBV 2.0).');
		END IF;
		IF jsonb_typeof(e -> key) IS DISTINCT FROM 'string' THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, field || '/' || k, format('missing field "%s"', key));
		END IF;
		op := shilian.epcis_party(e ->> key, idx, field || '/' || k || '/' || key);
		IF op IS NOT NULL AND array_position(ARRAY['owning_party', 'possessing_party', 'location'], t) < best_rank THEN
			best := op;
			best_rank := array_position(ARRAY['owning_party', 'possessing_party', 'location'], t);
		END IF;
		k := k + 1;
	END LOOP;
	RETURN best;
END
$$;
COMMENT ON FUNCTION epcis_list_party(jsonb, int, text, text) IS
	'The operator a sourceList or destinationList names (owning_party before possessing_party before location); checks the CBV types (internal).';
REVOKE ALL ON FUNCTION epcis_list_party(jsonb, int, text, text) FROM PUBLIC;

-- The lot's expiry from the event's ilmd (CBV master data): itemExpirationDate,
-- else bestBeforeDate; NULL when neither is given.
CREATE FUNCTION epcis_expiry(ev jsonb, idx int) RETURNS date
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f text := CASE WHEN ev #> '{ilmd,cbvmda:itemExpirationDate}' IS NOT NULL THEN 'cbvmda:itemExpirationDate'
	               ELSE 'cbvmda:bestBeforeDate' END;
BEGIN
	IF ev #> ARRAY['ilmd', f] IS NULL THEN
		RETURN NULL;
	END IF;
	IF ev #>> ARRAY['ilmd', f] !~ '^\d{4}-\d{2}-\d{2}$' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'ilmd/' || f,
			format('invalid %s "%s"', f, ev #>> ARRAY['ilmd', f]), 'Write the date as YYYY-MM-DD.');
	END IF;
	RETURN (ev #>> ARRAY['ilmd', f])::date;
EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
	PERFORM shilian.epcis_refuse('SLE01', idx, 'ilmd/' || f,
		format('invalid %s "%s"', f, ev #>> ARRAY['ilmd', f]), 'The date is out of range.');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION epcis_expiry(jsonb, int) IS
	'The expiry date an event''s ilmd gives (cbvmda:itemExpirationDate, else cbvmda:bestBeforeDate), NULL if none; SLE01 naming the event for a malformed date (internal).';

-- Apply one event: check its fields and vocabulary, call the record functions,
-- keep it in epcis_event.
CREATE FUNCTION epcis_apply_event(job bigint, idx int, ev jsonb) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	typ text;
	act text;
	step text;
	disp text;
	t timestamptz;
	tz text;
	local_day date;
	eid text;
	prior bigint;
	op bigint;
	other bigint;
	q record;
	code shilian.trace_code;
	lnk bigint;
	expires date;
	batches text[] := '{}';
	links text[] := '{}';
	inspections text[] := '{}';
	consumptions text[] := '{}';
	classes text[] := '{}';
	anyc text[] := '{}';
	inputs shilian.trace_code[] := '{}';
	qtys shilian.qty[] := '{}';
	outp record;
	n int;
BEGIN
	IF jsonb_typeof(ev) IS DISTINCT FROM 'object' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, NULL, 'an event must be a JSON object');
	END IF;
	-- required fields of every event
	typ := ev ->> 'type';
	IF typ IS NULL THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'type', 'missing field "type"');
	END IF;
	IF typ NOT IN ('ObjectEvent', 'AggregationEvent', 'TransactionEvent', 'TransformationEvent', 'AssociationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE02', idx, 'type', format('unknown event type "%s"', typ));
	END IF;
	IF jsonb_typeof(ev -> 'eventTime') IS DISTINCT FROM 'string' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime', 'missing field "eventTime"');
	END IF;
	IF jsonb_typeof(ev -> 'eventTimeZoneOffset') IS DISTINCT FROM 'string' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTimeZoneOffset', 'missing field "eventTimeZoneOffset"');
	END IF;
	tz := ev ->> 'eventTimeZoneOffset';
	IF tz !~ '^[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00)$' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTimeZoneOffset',
			format('invalid eventTimeZoneOffset "%s"', tz), 'Write it as +hh:mm or -hh:mm, e.g. +08:00.');
	END IF;
	IF ev ->> 'eventTime' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$' THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime',
			format('invalid eventTime "%s"', ev ->> 'eventTime'),
			'Write an ISO 8601 date-time with its offset, e.g. 2026-11-20T08:00:00+08:00.');
	END IF;
	BEGIN
		t := (ev ->> 'eventTime')::timestamptz;
	EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
		PERFORM shilian.epcis_refuse('SLE01', idx, 'eventTime',
			format('invalid eventTime "%s"', ev ->> 'eventTime'), 'The date or time is out of range.');
	END;
	-- the platform's day of the event (shilian.timezone), as for every record
	local_day := shilian.platform_date(t);
	IF typ = 'ObjectEvent' THEN
		act := ev ->> 'action';
		IF act IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, 'action', 'missing field "action"');
		END IF;
		IF act NOT IN ('ADD', 'OBSERVE', 'DELETE') THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'action', format('unknown action "%s"', act),
				'Use ADD, OBSERVE or DELETE.');
		END IF;
	END IF;
	IF ev ? 'bizStep' THEN
		step := shilian.epcis_cbv('bizStep', ev ->> 'bizStep');
		IF step IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'bizStep', format('unknown bizStep "%s"', ev ->> 'bizStep'),
				'Use a CBV 2.0 business step: a bare name such as "shipping", https://ref.gs1.org/cbv/BizStep-shipping or urn:epcglobal:cbv:bizstep:shipping.');
		END IF;
	END IF;
	IF ev ? 'disposition' THEN
		disp := shilian.epcis_cbv('disposition', ev ->> 'disposition');
		IF disp IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE02', idx, 'disposition',
				format('unknown disposition "%s"', ev ->> 'disposition'),
				'Use a CBV 2.0 disposition: a bare name such as "in_transit", https://ref.gs1.org/cbv/Disp-in_transit or urn:epcglobal:cbv:disp:in_transit.');
		END IF;
	END IF;
	IF jsonb_typeof(ev -> 'epcList') = 'array' AND jsonb_array_length(ev -> 'epcList') > 0 THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'epcList', 'instance-level identifiers (epcList) are not recorded',
			'This platform records lots: give each lot as a quantityElement (epcClass, quantity, uom).');
	END IF;
	IF typ NOT IN ('ObjectEvent', 'TransformationEvent') THEN
		PERFORM shilian.epcis_refuse('SLE05', idx, 'type', format('%s is not recorded', typ),
			'Capture ObjectEvents and TransformationEvents (docs/integration.md lists the mapping).');
	END IF;

	-- the eventID: a repeat of a captured one is refused
	IF ev ? 'eventID' THEN
		IF jsonb_typeof(ev -> 'eventID') <> 'string' OR ev ->> 'eventID' !~ '^[A-Za-z][A-Za-z0-9+.-]*:' THEN
			PERFORM shilian.epcis_refuse('SLE01', idx, 'eventID', 'the eventID must be a URI');
		END IF;
		eid := ev ->> 'eventID';
		SELECT e.job_id INTO prior FROM shilian.epcis_event e WHERE e.event_id = eid;
		IF FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'unique_violation',
				MESSAGE = format('EPCIS event %s: duplicate eventID "%s"', idx, eid),
				DETAIL = format('The event was captured before, by capture job %s.', prior),
				HINT = 'An event is captured once; a correction is a new event with its own eventID.';
		END IF;
	ELSE
		eid := 'urn:uuid:' || gen_random_uuid();
	END IF;

	-- the acting operator: bizLocation, else readPoint, else the caller's
	op := coalesce(shilian.epcis_party(ev #>> '{bizLocation,id}', idx, 'bizLocation/id'),
		shilian.epcis_party(ev #>> '{readPoint,id}', idx, 'readPoint/id'),
		shilian.current_operator());
	IF op IS NULL THEN
		PERFORM shilian.epcis_refuse('SLE04', idx, 'bizLocation', 'no operator named',
			'Set bizLocation (or readPoint) id to urn:shilian:operator:<id> or urn:shilian:uscc:<USCC>.');
	END IF;
	-- nothing about another operator's batches before the caller is known to be admitted
	PERFORM shilian.require_see(op);

	IF typ = 'TransformationEvent' THEN
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'inputQuantityList') LOOP
			inputs := inputs || shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			qtys := qtys || q.qty;
			anyc := anyc || q.keys;
		END LOOP;
		SELECT count(*) INTO n FROM jsonb_array_elements(ev -> 'outputQuantityList');
		IF n <> 1 THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'outputQuantityList',
				'a TransformationEvent is recorded with exactly one output lot',
				'Split a transformation with several outputs into one event per output lot.');
		END IF;
		SELECT * INTO outp FROM shilian.epcis_quantities(ev, idx, 'outputQuantityList');
		anyc := anyc || outp.keys;
		expires := shilian.epcis_expiry(ev, idx);
		code := shilian.transform(inputs, qtys, outp.product, outp.qty, local_day, outp.lot, expires, op);
		batches := batches || code::text;
	ELSIF act = 'ADD' AND step = 'commissioning' THEN
		expires := shilian.epcis_expiry(ev, idx);
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.batch_create(op, q.product, q.qty, local_day, q.lot, expires,
				ev -> 'shilian:certificate');
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act = 'OBSERVE' AND step = 'shipping' THEN
		-- the seller: sourceList owning party if given, else the acting operator
		op := coalesce(shilian.epcis_list_party(ev, idx, 'sourceList', 'source'), op);
		PERFORM shilian.require_see(op);
		other := shilian.epcis_list_party(ev, idx, 'destinationList', 'destination');
		IF other IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'destinationList', 'shipping needs the buyer in destinationList',
				'Add {"type": "owning_party", "destination": "urn:shilian:operator:<id>"}.');
		END IF;
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			lnk := shilian.ship(code, other, q.qty, local_day, op);
			links := links || lnk::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act = 'OBSERVE' AND step IN ('receiving', 'accepting') THEN
		-- the seller from sourceList; the buyer is the acting operator
		other := shilian.epcis_list_party(ev, idx, 'sourceList', 'source');
		IF other IS NULL THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'sourceList', format('%s needs the seller in sourceList', step),
				'Add {"type": "owning_party", "source": "urn:shilian:operator:<id>"}.');
		END IF;
		op := coalesce(shilian.epcis_list_party(ev, idx, 'destinationList', 'destination'), op);
		PERFORM shilian.require_see(op);
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			-- the pending sale of this lot from that seller: the one of this
			-- quantity if there is one, else the oldest
			SELECT l.id INTO lnk FROM shilian.link l JOIN shilian.batch b ON b.id = l.from_batch
			 WHERE l.buyer_id = op AND l.seller_id = other AND l.status = 'pending' AND l.kind = 'ship'
			   AND b.product_id = q.product AND b.lot = q.lot
			 ORDER BY l.qty_shipped OPERATOR(shilian.=) q.qty DESC, l.id LIMIT 1;
			IF NOT FOUND THEN
				PERFORM shilian.epcis_refuse('SLE06', idx, 'quantityList',
					format('no pending shipment of %s from operator %s to operator %s', q.epc_class, other, op),
					'Capture the seller''s shipping event first.');
			END IF;
			code := shilian.receive(lnk, q.qty, coalesce(ev -> 'shilian:inspection', '{}'), t,
				ev ->> 'shilian:rejectReason');
			links := links || lnk::text;
			batches := batches || code::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act IN ('OBSERVE', 'DELETE') AND step IN ('destroying', 'retail_selling') THEN
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			consumptions := consumptions || shilian.consume(code, q.qty,
				CASE step WHEN 'destroying' THEN 'destroyed' ELSE 'retail_sold' END, t, eid, op)::text;
			classes := classes || q.keys;
		END LOOP;
	ELSIF act = 'OBSERVE' AND step = 'inspecting' THEN
		IF disp IS NULL OR disp NOT IN ('conformant', 'non_conformant') THEN
			PERFORM shilian.epcis_refuse('SLE05', idx, 'disposition',
				'inspecting needs disposition conformant or non_conformant (the result)');
		END IF;
		FOR q IN SELECT * FROM shilian.epcis_quantities(ev, idx, 'quantityList') LOOP
			code := shilian.epcis_batch(op, q.product, q.lot, idx, q.epc_class);
			inspections := inspections || shilian.inspect(code, coalesce(ev ->> 'shilian:inspectionKind', 'release'),
				CASE disp WHEN 'conformant' THEN 'pass' ELSE 'fail' END,
				coalesce(ev -> 'shilian:report', '{}'), t, op)::text;
			classes := classes || q.keys;
		END LOOP;
	ELSE
		PERFORM shilian.epcis_refuse('SLE05', idx, 'bizStep',
			format('no record for an %s with action %s and bizStep %s', typ, coalesce(act, 'null'), coalesce(step, 'null')),
			'Recorded: ADD commissioning, OBSERVE shipping, OBSERVE receiving/accepting, OBSERVE inspecting, OBSERVE/DELETE destroying or retail_selling, and TransformationEvents.');
	END IF;

	IF typ = 'ObjectEvent' THEN
		anyc := classes;
	END IF;
	INSERT INTO shilian.epcis_event (job_id, event_index, event_id, event_hash, type, action, event_time,
		biz_step, disposition, epc_classes, any_classes, parties, records, event)
	VALUES (job, idx, eid, sha256(convert_to(ev::text, 'UTF8')), typ, act, t,
		step, disp, classes, anyc,
		ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[op, other]) x WHERE x IS NOT NULL ORDER BY 1),
		jsonb_strip_nulls(jsonb_build_object(
			'batches', nullif(batches, '{}'), 'links', nullif(links, '{}'),
			'inspections', nullif(inspections, '{}'), 'consumptions', nullif(consumptions, '{}'))),
		ev || jsonb_build_object('eventID', eid));
END
$$;
COMMENT ON FUNCTION epcis_apply_event(bigint, int, jsonb) IS
	'Validate one EPCIS event and record it through the record functions (internal to epcis_capture).';
REVOKE ALL ON FUNCTION epcis_apply_event(bigint, int, jsonb) FROM PUBLIC;

CREATE FUNCTION epcis_capture(doc jsonb) RETURNS bigint
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET shilian.channel = 'epcis'
AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	job bigint;
	n int;
	missing text;
BEGIN
	IF doc IS NULL OR jsonb_typeof(doc) <> 'object' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01', MESSAGE = 'invalid EPCIS document: not a JSON object';
	END IF;
	SELECT f INTO missing FROM unnest(ARRAY['@context', 'type', 'schemaVersion', 'creationDate', 'epcisBody']) f
	 WHERE NOT doc ? f LIMIT 1;
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: missing field "%s"', missing),
			HINT = 'An EPCISDocument has @context, type, schemaVersion, creationDate and epcisBody.eventList.';
	END IF;
	IF doc ->> 'type' IS DISTINCT FROM 'EPCISDocument' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: type is %s, not EPCISDocument', doc -> 'type');
	END IF;
	IF jsonb_typeof(doc -> 'schemaVersion') IS DISTINCT FROM 'string' OR doc ->> 'schemaVersion' !~ '^2\.[0-9]+$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: schemaVersion %s is not 2.x', doc -> 'schemaVersion');
	END IF;
	IF jsonb_typeof(doc -> 'creationDate') IS DISTINCT FROM 'string'
	   OR doc ->> 'creationDate' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = format('invalid EPCIS document: creationDate %s is not an ISO 8601 date-time', doc -> 'creationDate');
	END IF;
	IF jsonb_typeof(doc #> '{epcisBody,eventList}') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = 'invalid EPCIS document: missing field "epcisBody.eventList"';
	END IF;
	IF NOT (SELECT bool_and(jsonb_typeof(c) = 'string' OR jsonb_typeof(c) = 'object')
	          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(doc -> '@context') = 'array'
	                                         THEN doc -> '@context' ELSE jsonb_build_array(doc -> '@context') END) c) THEN
		RAISE EXCEPTION USING ERRCODE = 'SLE01',
			MESSAGE = 'invalid EPCIS document: @context must be a URI, an object or an array of them';
	END IF;

	n := jsonb_array_length(doc #> '{epcisBody,eventList}');
	INSERT INTO shilian.epcis_capture_job (role_name, operator_id, client, jurisdiction, doc_hash, success, events)
	VALUES (caller, shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction(),
		sha256(convert_to(doc::text, 'UTF8')), true, n)
	RETURNING id INTO job;
	FOR i IN 0 .. n - 1 LOOP
		PERFORM shilian.epcis_apply_event(job, i, doc #> ARRAY['epcisBody', 'eventList', i::text]);
	END LOOP;
	UPDATE shilian.epcis_capture_job SET finished_at = clock_timestamp() WHERE id = job;
	RETURN job;
END
$$;
COMMENT ON FUNCTION epcis_capture(jsonb) IS
	'Capture a GS1 EPCIS 2.0 EPCISDocument: validate it and record every event through the record functions (ADD commissioning -> batch_create, OBSERVE shipping -> ship, receiving/accepting -> receive, inspecting -> inspect, destroying -> consume, TransformationEvent -> transform), all or nothing; returns the capture job id. Refusals: SLE01-SLE06, 23505 for a repeated eventID, and those of the record functions.';
REVOKE ALL ON FUNCTION epcis_capture(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_capture(jsonb) TO shilian_operator, shilian_system, shilian_admin;

-- What GET /epcis/capture/{id} answers: the job as the standard's EPCISCaptureJob.
CREATE FUNCTION epcis_capture_status(id bigint) RETURNS jsonb
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
RETURN (SELECT jsonb_build_object('captureID', j.id::text, 'createdAt', j.created_at,
		'finishedAt', j.finished_at, 'running', false, 'success', j.success,
		'captureErrorBehaviour', 'rollback', 'events', CASE WHEN j.success THEN j.events ELSE 0 END,
		'errors', CASE WHEN j.success THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
			'type', CASE WHEN j.sqlstate LIKE 'SLE%' OR j.sqlstate LIKE '22%'
				THEN 'https://ref.gs1.org/standards/epcis/exceptions#ValidationException'
				ELSE 'urn:shilian:sqlstate:' || j.sqlstate END,
			'title', j.message, 'code', j.sqlstate, 'detail', j.detail, 'hint', j.hint))) END)
	FROM shilian.epcis_capture_job j WHERE j.id = epcis_capture_status.id);
COMMENT ON FUNCTION epcis_capture_status(bigint) IS
	'An EPCIS capture job the caller may see, as an EPCISCaptureJob (captureID, createdAt, finishedAt, running, success, captureErrorBehaviour rollback, errors); NULL if unknown or not visible.';
REVOKE ALL ON FUNCTION epcis_capture_status(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_capture_status(bigint) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

-- What POST /epcis/capture runs: epcis_capture in a subtransaction; a refused
-- document is kept as a failed job (its events roll back) and answered as an
-- error that names the job.
CREATE FUNCTION epcis_capture_submit(doc jsonb,
		OUT body jsonb, OUT location text, OUT error_sqlstate text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller text := CASE WHEN current_setting('role') = 'none' THEN session_user::text
	                    ELSE current_setting('role') END;
	job bigint;
	st text;
	msg text;
	det text;
	hnt text;
BEGIN
	BEGIN
		job := shilian.epcis_capture(doc);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
			hnt = PG_EXCEPTION_HINT;
		INSERT INTO shilian.epcis_capture_job (role_name, operator_id, client, jurisdiction, doc_hash,
			success, sqlstate, message, detail, hint)
		VALUES (caller, shilian.current_operator(), shilian.current_client(), shilian.current_jurisdiction(),
			sha256(convert_to(coalesce(doc::text, ''), 'UTF8')), false, st, msg, nullif(det, ''), nullif(hnt, ''))
		RETURNING id INTO job;
		body := jsonb_build_object('code', st, 'message', msg, 'details', nullif(det, ''),
			'hint', nullif(hnt, ''), 'captureID', job::text);
		location := '/epcis/capture/' || job;
		error_sqlstate := st;
		RETURN;
	END;
	body := shilian.epcis_capture_status(job);
	location := '/epcis/capture/' || job;
END
$$;
COMMENT ON FUNCTION epcis_capture_submit(jsonb) IS
	'epcis_capture for POST /epcis/capture: the capture job (body), its Location, and for a refused document the error (kept as a failed job, nothing else written).';
REVOKE ALL ON FUNCTION epcis_capture_submit(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_capture_submit(jsonb) TO shilian_operator, shilian_system, shilian_admin;

-- ---- query ------------------------------------------------------------------------

CREATE FUNCTION epcis_events(ge_event_time timestamptz DEFAULT NULL, lt_event_time timestamptz DEFAULT NULL,
		eq_biz_step text[] DEFAULT NULL, match_epc_class text[] DEFAULT NULL,
		match_any_epc_class text[] DEFAULT NULL, per_page int DEFAULT NULL,
		next_page_token text DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	steps text[];
	cls text[];
	anyc text[];
	n int := coalesce(per_page, 30);
	after_id bigint;
	after_time timestamptz;
	evs jsonb;
	cnt int;
	last_id bigint;
	tok text;
BEGIN
	IF n NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('perPage %s is out of range', n), HINT = 'Ask for 1 to 1000 events a page.';
	END IF;
	IF eq_biz_step IS NOT NULL THEN
		SELECT array_agg(coalesce(shilian.epcis_cbv('bizStep', s), '?' || s)) INTO steps FROM unnest(eq_biz_step) s;
		IF EXISTS (SELECT 1 FROM unnest(steps) s WHERE s LIKE '?%') THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('unknown bizStep in EQ_bizStep: %s',
					(SELECT string_agg(substr(s, 2), ', ') FROM unnest(steps) s WHERE s LIKE '?%'));
		END IF;
	END IF;
	IF match_epc_class IS NOT NULL THEN
		SELECT array_agg((shilian.epcis_class_keys(c))[1]) INTO cls FROM unnest(match_epc_class) c;
	END IF;
	IF match_any_epc_class IS NOT NULL THEN
		SELECT array_agg((shilian.epcis_class_keys(c))[1]) INTO anyc FROM unnest(match_any_epc_class) c;
	END IF;
	IF next_page_token IS NOT NULL THEN
		BEGIN
			after_id := substr(convert_from(decode(next_page_token, 'hex'), 'UTF8'), 4)::bigint;
			IF convert_from(decode(next_page_token, 'hex'), 'UTF8') NOT LIKE 'v1|%' THEN
				RAISE EXCEPTION 'bad';
			END IF;
		EXCEPTION WHEN OTHERS THEN
			after_id := NULL;
		END;
		SELECT e.event_time INTO after_time FROM shilian.epcis_event e WHERE e.id = after_id;
		IF after_time IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
				MESSAGE = format('invalid nextPageToken "%s"', next_page_token),
				HINT = 'Pass the token of the previous page''s Link header with the same query parameters.';
		END IF;
	END IF;

	SELECT coalesce(jsonb_agg(p.ev ORDER BY p.event_time, p.id) FILTER (WHERE p.rn <= n), '[]'),
	       count(*), max(p.id) FILTER (WHERE p.rn = n)
	  INTO evs, cnt, last_id
	  FROM (SELECT e.id, e.event_time,
	               e.event || jsonb_build_object('recordTime', e.record_time) AS ev,
	               row_number() OVER (ORDER BY e.event_time, e.id) AS rn
	          FROM shilian.epcis_event e
	         WHERE (ge_event_time IS NULL OR e.event_time >= ge_event_time)
	           AND (lt_event_time IS NULL OR e.event_time < lt_event_time)
	           AND (steps IS NULL OR e.biz_step = ANY (steps))
	           AND (cls IS NULL OR e.epc_classes && cls)
	           AND (anyc IS NULL OR e.any_classes && anyc)
	           AND (after_id IS NULL OR (e.event_time, e.id) > (after_time, after_id))
	         ORDER BY e.event_time, e.id
	         LIMIT n + 1) p;
	IF cnt > n THEN
		tok := encode(convert_to('v1|' || last_id, 'UTF8'), 'hex');
	END IF;
	RETURN jsonb_strip_nulls(jsonb_build_object(
		'@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
			jsonb_build_object('shilian', 'urn:shilian:epcis:', 'cbvmda', 'urn:epcglobal:cbv:mda:')),
		'type', 'EPCISQueryDocument',
		'schemaVersion', '2.0',
		'creationDate', now(),
		'epcisBody', jsonb_build_object('queryResults', jsonb_build_object(
			'queryName', 'SimpleEventQuery',
			'resultsBody', jsonb_build_object('eventList', evs))),
		'shilian:nextPageToken', tok));
END
$$;
COMMENT ON FUNCTION epcis_events(timestamptz, timestamptz, text[], text[], text[], int, text) IS
	'SimpleEventQuery over the captured EPCIS events the caller may see: GE_eventTime, LT_eventTime, EQ_bizStep, MATCH_epcClass, MATCH_anyEPCClass (a class without lot matches every lot), perPage (30, at most 1000) and nextPageToken; returns an EPCISQueryDocument, ordered by eventTime, with shilian:nextPageToken when there is a next page.';
REVOKE ALL ON FUNCTION epcis_events(timestamptz, timestamptz, text[], text[], text[], int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION epcis_events(timestamptz, timestamptz, text[], text[], text[], int, text) TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
-- shilian install script, part 80: who sees what (docs/security.md).
-- Runs after every part that creates tables. Row-level security on every
-- table whose rows belong to an operator, one policy per role, keyed on the
-- request settings read through current_operator(), current_client() and
-- current_jurisdiction() (part 15). Tables are granted SELECT only: every
-- write goes through a record function that runs with definer rights
-- (its validation must see rows the caller may not) and checks the caller
-- in C (RecordCheckActor -> security.c). Each function's own rights
-- (SECURITY DEFINER, search_path, REVOKE/GRANT EXECUTE) stand next to its
-- CREATE FUNCTION, wherever it is defined, so that a function reads whole
-- and an upgrade step is a readable diff.

-- ---- system clients and the operators they upload for --------------------

CREATE TABLE api_client (
	client      text PRIMARY KEY CHECK (client ~ '^[A-Za-z0-9._-]{1,64}$'),
	name        text NOT NULL CHECK (name <> ''),
	-- own_system: an enterprise's own traceability system (自建系统), the
	-- numerator of the regulator's self-built upload rate; market and canteen:
	-- the platform's market and canteen sub-systems
	kind        text NOT NULL DEFAULT 'other'
		CHECK (kind IN ('own_system', 'market', 'canteen', 'other')),
	active      boolean NOT NULL DEFAULT true,
	created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE api_client IS
	'External systems (enterprise own systems, market and canteen sub-systems) that call as shilian_system with shilian.client set to client.';

CREATE TABLE api_client_operator (
	client      text NOT NULL REFERENCES api_client (client) ON DELETE CASCADE,
	operator_id bigint NOT NULL REFERENCES operator (id),
	bound_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (client, operator_id)
);
CREATE INDEX api_client_operator_operator_idx ON api_client_operator (operator_id);
COMMENT ON TABLE api_client_operator IS
	'Which operators a system client sees and records for.';

SELECT pg_catalog.pg_extension_config_dump('api_client', '');
SELECT pg_catalog.pg_extension_config_dump('api_client_operator', '');

CREATE FUNCTION api_client_add(client text, name text, kind text DEFAULT 'other') RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF client !~ '^[A-Za-z0-9._-]{1,64}$' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid system client id "%s"', client),
			HINT = 'Use 1 to 64 letters, digits, dots, underscores or hyphens.';
	END IF;
	IF kind NOT IN ('own_system', 'market', 'canteen', 'other') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown system client kind "%s"', kind),
			HINT = 'Use own_system, market, canteen or other.';
	END IF;
	IF btrim(name) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a system client needs a name';
	END IF;
	INSERT INTO shilian.api_client (client, name, kind)
	VALUES (api_client_add.client, api_client_add.name, api_client_add.kind);
END
$$;
COMMENT ON FUNCTION api_client_add(text, text, text) IS
	'Admin: register a system client (its id is what shilian.client is set to for its requests) of kind own_system, market, canteen or other.';
REVOKE ALL ON FUNCTION api_client_add(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_add(text, text, text) TO shilian_admin;

CREATE FUNCTION api_client_bind(client text, operator bigint) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_bind.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client),
			HINT = 'Register it with shilian.api_client_add first.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM shilian.operator o WHERE o.id = api_client_bind.operator) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown operator %s', operator);
	END IF;
	INSERT INTO shilian.api_client_operator (client, operator_id)
	VALUES (api_client_bind.client, api_client_bind.operator) ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION api_client_bind(text, bigint) IS
	'Admin: let a system client see and record for an operator (P0002 for an unknown client or operator; binding twice is harmless).';
REVOKE ALL ON FUNCTION api_client_bind(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_bind(text, bigint) TO shilian_admin;

CREATE FUNCTION api_client_unbind(client text, operator bigint) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_unbind.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client);
	END IF;
	DELETE FROM shilian.api_client_operator b
	 WHERE b.client = api_client_unbind.client AND b.operator_id = api_client_unbind.operator;
END
$$;
COMMENT ON FUNCTION api_client_unbind(text, bigint) IS
	'Admin: withdraw a system client''s right to an operator (P0002 for an unknown client; unbinding an operator not bound is harmless).';
REVOKE ALL ON FUNCTION api_client_unbind(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_unbind(text, bigint) TO shilian_admin;

-- ---- the sets the policies test membership in -----------------------------
-- Plain STABLE SQL, inlined into the policies (no SECURITY DEFINER, no SET),
-- so the planner sees through them. A policy's sub-select stays a subplan
-- (it is not pulled up into a join), so the small side is built once per
-- query: the stations of the subtree as an array (an index probe on
-- operator_station_idx), then the operator ids hashed for the big tables.

-- The regulator's subtree: every jurisdiction whose ancestors (province ...
-- itself, kept by jurisdiction_add) include shilian.jurisdiction. GIN index
-- jurisdiction_ancestors_idx serves the @>; a county has tens of stations,
-- a province a few thousand, so this side is always small.
CREATE FUNCTION subtree_stations() RETURNS SETOF text
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT j.code FROM shilian.jurisdiction j
	 WHERE j.ancestors @> ARRAY[shilian.current_jurisdiction()]
	$$;
COMMENT ON FUNCTION subtree_stations() IS
	'Codes of the jurisdictions at or below shilian.jurisdiction (empty when unset).';

CREATE FUNCTION subtree_operators() RETURNS SETOF bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT o.id FROM shilian.operator o
	 WHERE o.station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s))
	$$;
COMMENT ON FUNCTION subtree_operators() IS
	'Ids of the operators whose home station lies at or below shilian.jurisdiction.';

CREATE FUNCTION client_operators() RETURNS SETOF bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT b.operator_id FROM shilian.api_client_operator b
	  JOIN shilian.api_client c ON c.client = b.client
	 WHERE b.client = shilian.current_client() AND c.active
	$$;
COMMENT ON FUNCTION client_operators() IS
	'Ids of the operators bound to the active system client named by shilian.client.';

-- The buyer side of links is searched by every operator's policy (the
-- existing index covers only pending sales).
CREATE INDEX link_buyer_idx ON link (buyer_id);

-- ---- table privileges -------------------------------------------------------
-- SELECT only, filtered by the policies below; nothing for shilian_public
-- (it reads public_trace only) nor for the gateway login role itself.

GRANT SELECT ON jurisdiction, operator, licence, product, batch, link, inspection,
	consumption, ledger, ledger_leaf, merkle_node, checkpoint, api_client, api_client_operator
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;
GRANT SELECT ON ledger_maintenance TO shilian_admin;
GRANT INSERT, UPDATE, DELETE ON api_client, api_client_operator TO shilian_admin;

-- ---- row-level security -----------------------------------------------------
-- Not FORCEd: the table owner (the superuser who ran CREATE EXTENSION) is
-- the definer of the record functions, whose validation must see every row;
-- no request ever runs as the owner. jurisdiction, merkle_node and
-- checkpoint belong to nobody (published reference data and tree heads);
-- idempotency_key (part 90) is granted to the gateway and admin only.

ALTER TABLE operator ENABLE ROW LEVEL SECURITY;
ALTER TABLE licence ENABLE ROW LEVEL SECURITY;
ALTER TABLE product ENABLE ROW LEVEL SECURITY;
ALTER TABLE batch ENABLE ROW LEVEL SECURITY;
ALTER TABLE link ENABLE ROW LEVEL SECURITY;
ALTER TABLE inspection ENABLE ROW LEVEL SECURITY;
ALTER TABLE consumption ENABLE ROW LEVEL SECURITY;
-- ledger, ledger_leaf, ledger_maintenance: enabled in part 50, before its
-- DDL guard (which refuses ALTER TABLE on ledger tables).
ALTER TABLE api_client ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_client_operator ENABLE ROW LEVEL SECURITY;

-- Admin sees every row of every table it is granted.
DO $admin$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['operator', 'licence', 'product', 'batch', 'link', 'inspection',
							 'consumption', 'ledger', 'ledger_leaf', 'ledger_maintenance',
							 'api_client', 'api_client_operator']
	LOOP
		EXECUTE format('CREATE POLICY %I ON shilian.%I TO shilian_admin USING (true) WITH CHECK (true)',
					   t || '_admin', t);
	END LOOP;
END
$admin$;

-- Rows owned by one operator through one column: its own, its bound
-- operators' (system), its subtree's (regulator).
DO $owned$
DECLARE
	t text[];
BEGIN
	FOREACH t SLICE 1 IN ARRAY ARRAY[
		['batch', 'owner_id'], ['inspection', 'operator_id'], ['consumption', 'operator_id'],
		['ledger', 'operator_id'], ['ledger_leaf', 'operator_id']]
	LOOP
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_operator'
					   ' USING (%I = shilian.current_operator())', t[1] || '_operator', t[1], t[2]);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_system'
					   ' USING (%I IN (SELECT c FROM shilian.client_operators() AS c))',
					   t[1] || '_system', t[1], t[2]);
		EXECUTE format('CREATE POLICY %I ON shilian.%I FOR SELECT TO shilian_regulator'
					   ' USING (%I IN (SELECT s FROM shilian.subtree_operators() AS s))',
					   t[1] || '_regulator', t[1], t[2]);
	END LOOP;
END
$owned$;

-- Links: the ones the operator is party to, as seller or buyer — never its
-- counterparties' other links.
CREATE POLICY link_operator ON link FOR SELECT TO shilian_operator
	USING (seller_id = shilian.current_operator() OR buyer_id = shilian.current_operator());
CREATE POLICY link_system ON link FOR SELECT TO shilian_system
	USING (seller_id IN (SELECT c FROM shilian.client_operators() AS c)
		OR buyer_id IN (SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY link_regulator ON link FOR SELECT TO shilian_regulator
	USING (seller_id IN (SELECT s FROM shilian.subtree_operators() AS s)
		OR buyer_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- Operators: its own row, and the rows of its counterparties (the parties
-- of the links it sees: the link policy above does the filtering), whose
-- name, address, contact and licence its records must carry. A regulator:
-- the operators at home in its subtree.
CREATE POLICY operator_operator ON operator FOR SELECT TO shilian_operator
	USING (id = shilian.current_operator()
		OR id IN (SELECT l.seller_id FROM shilian.link l UNION ALL SELECT l.buyer_id FROM shilian.link l));
CREATE POLICY operator_system ON operator FOR SELECT TO shilian_system
	USING (id IN (SELECT c FROM shilian.client_operators() AS c)
		OR id IN (SELECT l.seller_id FROM shilian.link l UNION ALL SELECT l.buyer_id FROM shilian.link l));
CREATE POLICY operator_regulator ON operator FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

-- Licences: of the operators it sees (itself and its counterparties).
CREATE POLICY licence_operator ON licence FOR SELECT TO shilian_operator
	USING (operator_id IN (SELECT o.id FROM shilian.operator o));
CREATE POLICY licence_system ON licence FOR SELECT TO shilian_system
	USING (operator_id IN (SELECT o.id FROM shilian.operator o));
CREATE POLICY licence_regulator ON licence FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- Products: the shared catalogue (no owner), its own, and those of the
-- batches it sees (a received batch keeps the seller's product).
CREATE POLICY product_operator ON product FOR SELECT TO shilian_operator
	USING (owner_id IS NULL OR owner_id = shilian.current_operator()
		OR id IN (SELECT b.product_id FROM shilian.batch b));
CREATE POLICY product_system ON product FOR SELECT TO shilian_system
	USING (owner_id IS NULL OR owner_id IN (SELECT c FROM shilian.client_operators() AS c)
		OR id IN (SELECT b.product_id FROM shilian.batch b));
CREATE POLICY product_regulator ON product FOR SELECT TO shilian_regulator
	USING (owner_id IS NULL OR owner_id IN (SELECT s FROM shilian.subtree_operators() AS s)
		OR id IN (SELECT b.product_id FROM shilian.batch b));

-- System clients: their own client row and bindings; an operator sees which
-- clients are bound to it, a regulator the bindings in its subtree.
CREATE POLICY api_client_system ON api_client FOR SELECT TO shilian_system
	USING (client = shilian.current_client());
CREATE POLICY api_client_operator_system ON api_client_operator FOR SELECT TO shilian_system
	USING (client = shilian.current_client());
CREATE POLICY api_client_operator_operator ON api_client_operator FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
CREATE POLICY api_client_operator_regulator ON api_client_operator FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));

-- The public reads no table directly (docs/security.md, P1); tree heads
-- reach it through the proof functions.
REVOKE SELECT ON checkpoint FROM shilian_public;
-- shilian install script, part 82: the regulator side (part 60) under the
-- security model (part 80; docs/security.md). The roll is reference data of
-- the regulators: a regulator reads the licences whose home station lies in
-- its subtree, the platform admin reads and loads all of it; operators,
-- systems and the public see none of it.

GRANT SELECT ON operator_roll TO shilian_regulator, shilian_admin;
GRANT INSERT, UPDATE, DELETE ON operator_roll TO shilian_admin;
GRANT SELECT ON operator_roll_stage TO shilian_admin;

ALTER TABLE operator_roll ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_roll_stage ENABLE ROW LEVEL SECURITY;

CREATE POLICY operator_roll_admin ON operator_roll TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY operator_roll_stage_admin ON operator_roll_stage TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY operator_roll_regulator ON operator_roll FOR SELECT TO shilian_regulator
	USING (station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

-- The counters (part 58): written only by the record functions' commit-time
-- flush, which runs as the table's owner; a regulator reads the rows of the
-- operators at home in its subtree, the admin all of them and rebuilds them.
GRANT SELECT ON operator_day TO shilian_regulator, shilian_admin;
ALTER TABLE operator_day ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_day_admin ON operator_day FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_day_regulator ON operator_day FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
GRANT SELECT ON operator_month TO shilian_regulator, shilian_admin;
ALTER TABLE operator_month ENABLE ROW LEVEL SECURITY;
CREATE POLICY operator_month_admin ON operator_month FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_month_regulator ON operator_month FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s));
GRANT SELECT ON assessment_target TO shilian_regulator, shilian_admin;
GRANT INSERT, UPDATE, DELETE ON assessment_target TO shilian_admin;
ALTER TABLE assessment_target ENABLE ROW LEVEL SECURITY;
CREATE POLICY assessment_target_admin ON assessment_target TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY assessment_target_regulator ON assessment_target FOR SELECT TO shilian_regulator USING (true);
GRANT SELECT ON roll_station, operator_station, station_month TO shilian_admin;
ALTER TABLE roll_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_station ENABLE ROW LEVEL SECURITY;
ALTER TABLE station_month ENABLE ROW LEVEL SECURITY;
CREATE POLICY roll_station_admin ON roll_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY operator_station_admin ON operator_station FOR SELECT TO shilian_admin USING (true);
CREATE POLICY station_month_admin ON station_month FOR SELECT TO shilian_admin USING (true);
-- shilian install script, part 85: trace and recall (part 40) under the
-- security model (part 80; docs/security.md).
--
-- The trace functions read batches and links with the caller's rights, so
-- row-level security decides how far each role sees: an operator sees the
-- links it is party to, so its trace stops at its direct neighbours; a
-- regulator's stops at the border of its subtree. A recall is different:
-- it must reach every holder wherever they are, so opening, acknowledging
-- and closing run with definer rights, open to the roles that take those
-- steps, and the regulator that opened a recall (or one above it) sees all
-- of its targets across borders.

-- ---- trace ----------------------------------------------------------------------
-- The walk reads links and batches as the caller, so it reaches batches only
-- through links its caller may see; a lot at the far end of such a link that
-- row-level security hides (a counterparty's, or across a regulator's border)
-- is looked up here, by code, holder and size only, and reported without its
-- stock on hand (status other_holder). An operator's walk thus ends one step
-- up and one step down, naming its neighbours' lots, never reading them.
CREATE FUNCTION trace_link_end(ids bigint[])
	RETURNS TABLE (id bigint, trace_code trace_code, owner_id bigint, qty qty)
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT b.id, b.trace_code, b.owner_id, b.qty
	  FROM shilian.batch b
	 WHERE b.id = ANY (ids)
	   AND EXISTS (SELECT 1 FROM shilian.link l
				    WHERE (l.from_batch = b.id OR l.to_batch = b.id)
					  AND (shilian.may_see(l.seller_id) OR shilian.may_see(l.buyer_id)))
$$;
COMMENT ON FUNCTION trace_link_end(bigint[]) IS
	'For the trace walk: code, holder and size of the lots at the far end of links the caller may see (definer rights; nothing else of them).';
REVOKE ALL ON FUNCTION trace_link_end(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trace_link_end(bigint[]) TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
-- public_trace is the consumer view: definer rights, nothing private in it,
-- nothing without the lot's token (part 40).

-- ---- recall tables ------------------------------------------------------------
GRANT SELECT ON recall, recall_target TO shilian_operator, shilian_system, shilian_regulator, shilian_admin;
ALTER TABLE recall ENABLE ROW LEVEL SECURITY;
ALTER TABLE recall_target ENABLE ROW LEVEL SECURITY;

CREATE POLICY recall_admin ON recall TO shilian_admin USING (true) WITH CHECK (true);
CREATE POLICY recall_target_admin ON recall_target TO shilian_admin USING (true) WITH CHECK (true);

-- A regulator: the recalls its subtree opened, and those that reach a
-- holder in its subtree (its local holders must act too).
CREATE POLICY recall_regulator ON recall FOR SELECT TO shilian_regulator
	USING (shilian.jurisdiction_covers(opened_jurisdiction)
		OR EXISTS (SELECT 1 FROM shilian.recall_target t
					WHERE t.recall_id = recall.id
					  AND t.operator_id IN (SELECT s FROM shilian.subtree_operators() AS s)));
CREATE POLICY recall_target_regulator ON recall_target FOR SELECT TO shilian_regulator
	USING (operator_id IN (SELECT s FROM shilian.subtree_operators() AS s)
		OR shilian.jurisdiction_covers(shilian.recall_opened_in(recall_id)));

-- An operator or a system client: the recalls it holds lots of, and only
-- its own targets (never the other holders).
CREATE POLICY recall_target_operator ON recall_target FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
CREATE POLICY recall_operator ON recall FOR SELECT TO shilian_operator
	USING (EXISTS (SELECT 1 FROM shilian.recall_target t
					WHERE t.recall_id = recall.id AND t.operator_id = shilian.current_operator()));
CREATE POLICY recall_target_system ON recall_target FOR SELECT TO shilian_system
	USING (operator_id IN (SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY recall_system ON recall FOR SELECT TO shilian_system
	USING (EXISTS (SELECT 1 FROM shilian.recall_target t
					WHERE t.recall_id = recall.id
					  AND t.operator_id IN (SELECT c FROM shilian.client_operators() AS c)));

-- The guard of acknowledgements (definer rights), from the request settings:
-- an operator acknowledges only for itself (recall_ack checks that too); a
-- regulator only for holders it may see or for recalls it follows.
CREATE FUNCTION recall_ack_guard() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j text := shilian.current_jurisdiction();
	op bigint := shilian.current_operator();
BEGIN
	IF op IS NOT NULL AND op <> NEW.operator_id THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('acting operator %s may not acknowledge for operator %s', op, NEW.operator_id);
	END IF;
	IF op IS NULL AND j IS NOT NULL
	   AND NOT shilian.jurisdiction_covers(shilian.recall_opened_in(NEW.recall_id))
	   AND NOT EXISTS (SELECT 1 FROM shilian.operator o
						JOIN shilian.jurisdiction s ON s.code = o.station
					   WHERE o.id = NEW.operator_id AND j = ANY (s.ancestors)) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('regulator of %s may not acknowledge recall %s for operator %s', j, NEW.recall_id, NEW.operator_id);
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION recall_ack_guard() IS
	'Trigger: who may acknowledge a recall target, judged from the request settings.';
CREATE TRIGGER recall_ack_guard BEFORE UPDATE ON recall_target FOR EACH ROW EXECUTE FUNCTION recall_ack_guard();
-- shilian install script, part 86: the findings and alerts (part 66) under
-- the security model (part 80; docs/security.md). The finding functions run
-- with definer rights behind regulator_require_subtree; the scans they share
-- are granted to nobody. Alerts: a regulator reads those at home in its
-- subtree, an operator its own, the admin all; nobody writes them but
-- alerts_scan and alert_ack.

GRANT SELECT ON alert TO shilian_regulator, shilian_operator, shilian_admin;
ALTER TABLE alert ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_admin ON alert FOR SELECT TO shilian_admin USING (true);
CREATE POLICY alert_regulator ON alert FOR SELECT TO shilian_regulator
	USING (jurisdiction = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));
CREATE POLICY alert_operator ON alert FOR SELECT TO shilian_operator
	USING (operator_id = shilian.current_operator());
-- shilian install script, part 88: who sees which bulk uploads (part 70).
-- A caller sees the import jobs it made and their per-line reports: a system
-- client by shilian.client, an operator by shilian.operator_id, a regulator
-- by shilian.jurisdiction; an admin sees all. Only import_ndjson writes them.

GRANT SELECT ON import_job, import_line
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

ALTER TABLE import_job ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_line ENABLE ROW LEVEL SECURITY;

CREATE POLICY import_job_admin ON import_job FOR SELECT TO shilian_admin USING (true);
CREATE POLICY import_job_operator ON import_job FOR SELECT TO shilian_operator
	USING (role_name = 'shilian_operator' AND operator_id = shilian.current_operator());
CREATE POLICY import_job_system ON import_job FOR SELECT TO shilian_system
	USING (role_name = 'shilian_system' AND client = shilian.current_client());
CREATE POLICY import_job_regulator ON import_job FOR SELECT TO shilian_regulator
	USING (role_name = 'shilian_regulator' AND jurisdiction = shilian.current_jurisdiction());

-- A line is visible with its job (the job policy above does the filtering).
CREATE POLICY import_line_visible ON import_line FOR SELECT
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin
	USING (job_id IN (SELECT j.id FROM shilian.import_job j));

-- Staged lines: no role reads or writes them; only the import functions
-- (definer rights) do, so row-level security is on with no policy.
ALTER TABLE import_stage ENABLE ROW LEVEL SECURITY;
-- shilian install script, part 89: who sees which EPCIS events and capture
-- jobs (part 75). An event is visible as the records it made are: to the
-- operators concerned (parties: the owner, or seller and buyer of a sale),
-- to the system clients bound to one of them, to the regulators of one of
-- them; an admin sees all. A capture job is visible to whoever captured it,
-- as an import job is (part 88). Only epcis_capture writes them.

GRANT SELECT ON epcis_capture_job, epcis_event
	TO shilian_operator, shilian_regulator, shilian_system, shilian_admin;

ALTER TABLE epcis_capture_job ENABLE ROW LEVEL SECURITY;
ALTER TABLE epcis_event ENABLE ROW LEVEL SECURITY;

CREATE POLICY epcis_capture_job_admin ON epcis_capture_job FOR SELECT TO shilian_admin USING (true);
CREATE POLICY epcis_capture_job_operator ON epcis_capture_job FOR SELECT TO shilian_operator
	USING (role_name = 'shilian_operator' AND operator_id = shilian.current_operator());
CREATE POLICY epcis_capture_job_system ON epcis_capture_job FOR SELECT TO shilian_system
	USING (role_name = 'shilian_system' AND client = shilian.current_client());
CREATE POLICY epcis_capture_job_regulator ON epcis_capture_job FOR SELECT TO shilian_regulator
	USING (role_name = 'shilian_regulator' AND jurisdiction = shilian.current_jurisdiction());

CREATE POLICY epcis_event_admin ON epcis_event FOR SELECT TO shilian_admin USING (true);
CREATE POLICY epcis_event_operator ON epcis_event FOR SELECT TO shilian_operator
	USING (parties @> ARRAY[shilian.current_operator()]);
CREATE POLICY epcis_event_system ON epcis_event FOR SELECT TO shilian_system
	USING (parties && ARRAY(SELECT c FROM shilian.client_operators() AS c));
CREATE POLICY epcis_event_regulator ON epcis_event FOR SELECT TO shilian_regulator
	USING (parties && ARRAY(SELECT s FROM shilian.subtree_operators() AS s));
-- shilian install script, part 90: state kept for the REST gateway.
-- Idempotency keys: a POST retried with the same Idempotency-Key and the same
-- request returns the first response instead of making a second record. The
-- key is claimed in the request's own transaction, so a concurrent retry waits
-- for the first and then replays it; a failed request releases its key.

CREATE TABLE idempotency_key (
	principal    text NOT NULL,		-- role|operator|client|jurisdiction of the caller
	key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
	request_hash bytea NOT NULL,		-- sha256 of method, path and body
	status       int,
	response     text,
	created_at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (principal, key)
);
COMMENT ON TABLE idempotency_key IS
	'Responses to POST requests sent with an Idempotency-Key header, replayed on retry (gateway state; prune with idempotency_prune).';

CREATE FUNCTION idempotency_claim(principal text, key text, request text,
	OUT claimed boolean, OUT same_request boolean, OUT status int, OUT response text)
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	h bytea := sha256(convert_to(request, 'UTF8'));
BEGIN
	INSERT INTO shilian.idempotency_key AS k (principal, key, request_hash)
	VALUES (idempotency_claim.principal, idempotency_claim.key, h)
	ON CONFLICT DO NOTHING;
	IF FOUND THEN
		claimed := true; same_request := true;
		RETURN;
	END IF;
	SELECT false, k.request_hash = h, k.status, k.response
	  INTO claimed, same_request, status, response
	  FROM shilian.idempotency_key k
	 WHERE k.principal = idempotency_claim.principal AND k.key = idempotency_claim.key;
END
$$;
COMMENT ON FUNCTION idempotency_claim(text, text, text) IS
	'Gateway only: claim an idempotency key for a request, or return the stored response of the first request with that key.';
REVOKE ALL ON FUNCTION idempotency_claim(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_claim(text, text, text) TO shilian_gateway;

CREATE FUNCTION idempotency_store(principal text, key text, status int, response text)
	RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE shilian.idempotency_key k SET status = $3, response = $4
	 WHERE k.principal = $1 AND k.key = $2;
$$;
COMMENT ON FUNCTION idempotency_store(text, text, int, text) IS
	'Gateway only: store the response of the request that claimed an idempotency key.';
REVOKE ALL ON FUNCTION idempotency_store(text, text, int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_store(text, text, int, text) TO shilian_gateway;

CREATE FUNCTION idempotency_prune(older_than interval DEFAULT '24 hours') RETURNS bigint
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
	WITH d AS (DELETE FROM shilian.idempotency_key WHERE created_at < now() - $1 RETURNING 1)
	SELECT count(*) FROM d;
$$;
COMMENT ON FUNCTION idempotency_prune(interval) IS
	'Delete idempotency keys older than the given age (default 24 hours); returns how many. Run it from cron.';
REVOKE ALL ON FUNCTION idempotency_prune(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idempotency_prune(interval) TO shilian_admin;
GRANT SELECT, INSERT, UPDATE ON idempotency_key TO shilian_gateway;
GRANT DELETE ON idempotency_key TO shilian_admin;
GRANT SELECT ON idempotency_key TO shilian_admin;

-- ---- API keys of system clients -----------------------------------------------
-- A key is shown once, when made; the database keeps its SHA-256 only. The
-- key carries a public id (sl_<id>_<secret>) so it is found by index and can
-- be named in logs and revoked without being known.
CREATE TABLE api_client_key (
	key_id      text PRIMARY KEY,
	client      text NOT NULL REFERENCES api_client (client) ON DELETE CASCADE,
	key_hash    bytea NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	revoked_at  timestamptz
);
CREATE INDEX api_client_key_client_idx ON api_client_key (client);
COMMENT ON TABLE api_client_key IS
	'API keys of system clients: public id, SHA-256 of the key (the key itself is never stored), revocation.';
SELECT pg_catalog.pg_extension_config_dump('api_client_key', '');

CREATE FUNCTION api_client_key_new(client text) RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id text := substr(replace(gen_random_uuid()::text, '-', ''), 1, 12);
	secret text := replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
	key text := 'sl_' || id || '_' || secret;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.api_client c WHERE c.client = api_client_key_new.client) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown system client "%s"', client),
			HINT = 'Register it with shilian.api_client_add first.';
	END IF;
	INSERT INTO shilian.api_client_key (key_id, client, key_hash)
	VALUES (id, api_client_key_new.client, sha256(convert_to(key, 'UTF8')));
	RETURN key;
END
$$;
COMMENT ON FUNCTION api_client_key_new(text) IS
	'Admin: make an API key for a system client and return it; it is shown this once (only its hash is kept).';
REVOKE ALL ON FUNCTION api_client_key_new(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_new(text) TO shilian_admin;

CREATE FUNCTION api_client_key_revoke(key_id text) RETURNS boolean
	LANGUAGE sql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	WITH r AS (UPDATE shilian.api_client_key k SET revoked_at = now()
				WHERE k.key_id = api_client_key_revoke.key_id AND k.revoked_at IS NULL RETURNING 1)
	SELECT count(*) > 0 FROM r;
$$;
COMMENT ON FUNCTION api_client_key_revoke(text) IS
	'Admin: revoke an API key by its public id (the part after sl_); true if it was live.';
REVOKE ALL ON FUNCTION api_client_key_revoke(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_revoke(text) TO shilian_admin;

-- The gateway's check of an X-API-Key: the client id, or NULL for a wrong,
-- revoked or malformed key or an inactive client.
CREATE FUNCTION api_client_authenticate(key text) RETURNS text
	LANGUAGE sql STABLE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $$
	SELECT k.client FROM shilian.api_client_key k JOIN shilian.api_client c ON c.client = k.client
	 WHERE k.key_id = split_part(key, '_', 2) AND key LIKE 'sl\_%\_%'
	   AND k.key_hash = sha256(convert_to(key, 'UTF8'))
	   AND k.revoked_at IS NULL AND c.active;
$$;
COMMENT ON FUNCTION api_client_authenticate(text) IS
	'Gateway only: the system client an API key belongs to, or NULL (wrong, revoked, malformed key or inactive client).';
REVOKE ALL ON FUNCTION api_client_authenticate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_authenticate(text) TO shilian_gateway;
-- admins list keys (ids and dates, never keys); RLS like the other tables
ALTER TABLE api_client_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_client_key_admin ON api_client_key TO shilian_admin USING (true);
GRANT SELECT (key_id, client, created_at, revoked_at) ON api_client_key TO shilian_admin;

-- ---- managing system clients (admins; REST under /v1/admin/clients) ---------
-- Invoker rights: the platform admin reads api_client and api_client_operator
-- through its policies and the key table's public columns (never key_hash).

GRANT SELECT (key_id, client, created_at, revoked_at) ON api_client_key TO shilian_admin;

-- One client as a document: id, name, kind, active, when registered, the
-- operators it is bound to and its keys by public id (NULL: no such client).
-- VOLATILE, so that it takes a fresh snapshot: the REST routes call it in the
-- statement that has just bound, unbound or registered (read-only otherwise).
CREATE FUNCTION api_client_info(client text) RETURNS jsonb
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT jsonb_build_object(
			'client', c.client, 'name', c.name, 'kind', c.kind, 'active', c.active,
			'created_at', c.created_at,
			'operators', coalesce((SELECT jsonb_agg(b.operator_id::text ORDER BY b.operator_id)
									 FROM shilian.api_client_operator b WHERE b.client = c.client), '[]'),
			'keys', coalesce((SELECT jsonb_agg(jsonb_build_object('key_id', k.key_id,
									 'created_at', k.created_at, 'revoked_at', k.revoked_at)
									 ORDER BY k.created_at, k.key_id)
								FROM shilian.api_client_key k WHERE k.client = c.client), '[]'))
	  FROM shilian.api_client c
	 WHERE c.client = api_client_info.client;
	END;
COMMENT ON FUNCTION api_client_info(text) IS
	'Admin: a system client as jsonb (client, name, kind, active, created_at, bound operators, keys by public id with revocation); NULL when unknown.';
REVOKE ALL ON FUNCTION api_client_info(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_info(text) TO shilian_admin;

CREATE FUNCTION api_clients() RETURNS jsonb
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp
	BEGIN ATOMIC
	SELECT coalesce(jsonb_agg(shilian.api_client_info(c.client) ORDER BY c.client), '[]')
	  FROM shilian.api_client c;
	END;
COMMENT ON FUNCTION api_clients() IS
	'Admin: every system client as api_client_info documents, ordered by client id.';
REVOKE ALL ON FUNCTION api_clients() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_clients() TO shilian_admin;

-- Change a client's name, kind or active flag (NULL: keep). Switching a
-- client off refuses its keys at once (api_client_authenticate checks it).
CREATE FUNCTION api_client_update(client text, name text DEFAULT NULL, kind text DEFAULT NULL,
		active boolean DEFAULT NULL) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF kind IS NOT NULL AND kind NOT IN ('own_system', 'market', 'canteen', 'other') THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('unknown system client kind "%s"', kind),
			HINT = 'Use own_system, market, canteen or other.';
	END IF;
	IF name IS NOT NULL AND btrim(name) = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = 'a system client needs a name';
	END IF;
	UPDATE shilian.api_client c
	   SET name = coalesce(api_client_update.name, c.name),
		   kind = coalesce(api_client_update.kind, c.kind),
		   active = coalesce(api_client_update.active, c.active)
	 WHERE c.client = api_client_update.client;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN shilian.api_client_info(client);
END
$$;
COMMENT ON FUNCTION api_client_update(text, text, text, boolean) IS
	'Admin: change a system client''s name, kind or active flag (NULL keeps the value); returns api_client_info, NULL when unknown.';
REVOKE ALL ON FUNCTION api_client_update(text, text, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_update(text, text, text, boolean) TO shilian_admin;

-- Revoke one key of one client: the key document, NULL when the client has
-- no such key (already revoked keys answer with their revocation time).
CREATE FUNCTION api_client_key_revoke(client text, key_id text) RETURNS jsonb
	LANGUAGE plpgsql VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	r record;
BEGIN
	UPDATE shilian.api_client_key k SET revoked_at = coalesce(k.revoked_at, now())
	 WHERE k.client = api_client_key_revoke.client AND k.key_id = api_client_key_revoke.key_id
	RETURNING k.key_id, k.client, k.created_at, k.revoked_at INTO r;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN jsonb_build_object('client', r.client, 'key_id', r.key_id,
							  'created_at', r.created_at, 'revoked_at', r.revoked_at);
END
$$;
COMMENT ON FUNCTION api_client_key_revoke(text, text) IS
	'Admin: revoke key key_id of a system client; returns the key document, NULL when the client has no such key.';
REVOKE ALL ON FUNCTION api_client_key_revoke(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_client_key_revoke(text, text) TO shilian_admin;
-- shilian install script, part 92: scheduled work (docs/install.md#scheduled-jobs).
-- job_plan() is the one list of periodic jobs; schedule_jobs() registers it
-- with pg_cron when that is installed (optional: Debian postgresql-15-cron),
-- and without pg_cron a DBA runs the same commands from any scheduler. The
-- monthly report due on the 5th (每月5日通报) is stored here, one row per
-- jurisdiction and month, and announced with NOTIFY.

-- ---- the monthly report, as issued -------------------------------------------------
CREATE TABLE monthly_report_issue (
	jurisdiction text NOT NULL REFERENCES jurisdiction (code),
	month        date NOT NULL CHECK (extract(day FROM month) = 1),
	report       jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object'),
	issued_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (jurisdiction, month)
);
COMMENT ON TABLE monthly_report_issue IS
	'The monthly report as issued (每月5日通报): monthly_report(month, jurisdiction) of every province, city and county, stored by monthly_report_publish.';
COMMENT ON COLUMN monthly_report_issue.month IS
	'First day of the month the report is about.';
COMMENT ON COLUMN monthly_report_issue.issued_at IS
	'When this report was stored; a later run for the same month replaces it only if the figures changed.';
SELECT pg_catalog.pg_extension_config_dump('monthly_report_issue', '');
REVOKE ALL ON monthly_report_issue FROM PUBLIC;
-- Regulators read the reports of their subtree, the admin all; nobody writes
-- them but monthly_report_publish.
GRANT SELECT ON monthly_report_issue TO shilian_regulator, shilian_admin;
ALTER TABLE monthly_report_issue ENABLE ROW LEVEL SECURITY;
CREATE POLICY monthly_report_issue_admin ON monthly_report_issue FOR SELECT TO shilian_admin
	USING (true);
CREATE POLICY monthly_report_issue_regulator ON monthly_report_issue FOR SELECT TO shilian_regulator
	USING (jurisdiction = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s)));

-- Store monthly_report(month, code) for every province, city and county and
-- send NOTIFY shilian_report {"jurisdiction","month"} for each row stored or
-- changed (delivered at commit). month: any day of it; NULL is the month
-- before today's. A month that has not ended is refused (SLX04): its figures
-- would still move. Returns how many rows were stored or changed.
CREATE FUNCTION monthly_report_publish(month date DEFAULT NULL) RETURNS integer
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	first date := date_trunc('month', coalesce(monthly_report_publish.month,
		(date_trunc('month', shilian.platform_today()) - interval '1 month')::date))::date;
	issued integer;
BEGIN
	IF first + interval '1 month' > shilian.platform_today() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX04',
			MESSAGE = format('month not ended: %s runs until %s', to_char(first, 'YYYY-MM'),
				(first + interval '1 month' - interval '1 day')::date),
			HINT = 'Publish a month after its last day; the scheduled job publishes last month''s on the 5th.';
	END IF;
	WITH up AS (
		INSERT INTO shilian.monthly_report_issue AS r (jurisdiction, month, report)
		SELECT j.code, first, shilian.monthly_report(first, j.code)
		  FROM shilian.jurisdiction j
		 WHERE j.level IN ('province', 'city', 'county')
		 ORDER BY j.code
		ON CONFLICT ON CONSTRAINT monthly_report_issue_pkey DO UPDATE SET report = excluded.report, issued_at = now()
			WHERE r.report IS DISTINCT FROM excluded.report
		RETURNING r.jurisdiction, r.month
	)
	SELECT count(pg_notify('shilian_report', json_build_object('jurisdiction', u.jurisdiction,
			'month', to_char(u.month, 'YYYY-MM'))::text))
	  INTO issued
	  FROM (SELECT * FROM up ORDER BY jurisdiction) u;
	RETURN issued;
END
$$;
COMMENT ON FUNCTION monthly_report_publish(date) IS
	'Admin (the monthly job, on the 5th): store monthly_report of the month (NULL: last month) for every province, city and county in monthly_report_issue and NOTIFY shilian_report per row stored or changed; returns how many. SLX04 for a month not ended.';
REVOKE ALL ON FUNCTION monthly_report_publish(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION monthly_report_publish(date) TO shilian_admin;

-- ---- the periodic jobs ----------------------------------------------------------
-- Schedules are cron expressions in UTC (pg_cron 1.4 of Debian 12 runs them in
-- GMT): 18:30 UTC is 02:30 and 00:30 UTC is 08:30 in Asia/Shanghai. Each job
-- runs as shilian_admin, the role its functions are granted to.
CREATE FUNCTION job_plan(OUT jobname text, OUT schedule text, OUT command text, OUT purpose text)
	RETURNS SETOF record
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$
	VALUES
		('shilian_checkpoint', '* * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.checkpoint()',
		 'every minute: publish a Merkle tree head over the entries committed since the last one'),
		('shilian_idempotency_prune', '17 * * * *',
		 'SET ROLE shilian_admin; SELECT shilian.idempotency_prune()',
		 'hourly: delete the gateway''s idempotency keys older than 24 hours'),
		('shilian_alerts_scan', '30 18 * * *',
		 'SET ROLE shilian_admin; SELECT shilian.alerts_scan()',
		 'daily at 02:30 Asia/Shanghai: raise the day''s alerts and NOTIFY shilian_alert'),
		('shilian_monthly_report', '30 0 5 * *',
		 'SET ROLE shilian_admin; SELECT shilian.monthly_report_publish()',
		 'on the 5th at 08:30 Asia/Shanghai: store last month''s report of every province, city and county and NOTIFY shilian_report')
	$$;
COMMENT ON FUNCTION job_plan() IS
	'The periodic jobs: name, cron schedule (UTC), SQL command and purpose. schedule_jobs() registers them with pg_cron; without pg_cron, run the commands from another scheduler.';

-- SLX02/SLX03 unless pg_cron is installed in this database.
CREATE FUNCTION schedule_require_cron() RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	crondb text := current_setting('cron.database_name', true);
BEGIN
	IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RETURN;
	END IF;
	IF crondb IS NOT NULL AND crondb <> current_database() THEN
		RAISE EXCEPTION USING ERRCODE = 'SLX03',
			MESSAGE = format('pg_cron serves database %s, not %s', crondb, current_database()),
			DETAIL = 'pg_cron keeps its jobs in the one database named by cron.database_name.',
			HINT = format('Set cron.database_name = %L and restart, then CREATE EXTENSION pg_cron here; or, in database %s, register the rows of shilian.job_plan() with cron.schedule_in_database(jobname, schedule, command, %L).',
				current_database(), crondb, current_database());
	END IF;
	RAISE EXCEPTION USING ERRCODE = 'SLX02',
		MESSAGE = 'pg_cron is not installed in this database',
		DETAIL = 'The jobs of shilian.job_plan() are not scheduled.',
		HINT = format('Install postgresql-15-cron, set shared_preload_libraries = ''pg_cron'' and cron.database_name = %L, restart and CREATE EXTENSION pg_cron; or run the commands of SELECT * FROM shilian.job_plan() from another scheduler (docs/install.md, scheduled jobs).',
			current_database());
END
$$;
COMMENT ON FUNCTION schedule_require_cron() IS
	'Error SLX02 (pg_cron not installed here) or SLX03 (pg_cron serves another database) unless pg_cron is installed in this database.';
REVOKE ALL ON FUNCTION schedule_require_cron() FROM PUBLIC;

-- Runs with the caller's rights: the jobs belong to the caller (a superuser,
-- or a role allowed to use pg_cron and to SET ROLE shilian_admin).
CREATE FUNCTION schedule_jobs()
	RETURNS TABLE (jobid bigint, jobname text, schedule text, command text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
#variable_conflict use_column
BEGIN
	PERFORM shilian.schedule_require_cron();
	-- cron.schedule with a name replaces that job, so running this again
	-- (after an upgrade changed the plan) leaves one job per name.
	RETURN QUERY
	SELECT cron.schedule(p.jobname, p.schedule, p.command), p.jobname, p.schedule, p.command
	  FROM shilian.job_plan() p
	 ORDER BY p.jobname;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
	'Register (or update) the jobs of job_plan() with pg_cron, owned by the caller; returns them with their pg_cron job ids. SLX02/SLX03 without pg_cron in this database.';
REVOKE ALL ON FUNCTION schedule_jobs() FROM PUBLIC;

CREATE FUNCTION unschedule_jobs() RETURNS integer
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n integer;
BEGIN
	PERFORM shilian.schedule_require_cron();
	SELECT count(*) FILTER (WHERE cron.unschedule(j.jobid)) INTO n
	  FROM cron.job j
	 WHERE j.jobname IN (SELECT p.jobname FROM shilian.job_plan() p) AND j.username = current_user;
	RETURN n;
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
	'Remove the caller''s pg_cron jobs named in job_plan() (before DROP EXTENSION); returns how many. SLX02/SLX03 without pg_cron in this database.';
REVOKE ALL ON FUNCTION unschedule_jobs() FROM PUBLIC;
