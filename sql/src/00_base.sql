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
