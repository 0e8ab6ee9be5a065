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
