-- base: version() and hash() on the published vectors (tests/data/hash-vectors.json,
-- a copy of shared/data/hash-vectors.json: FIPS 180-4 and GB/T 32905-2016).

-- The library and the install script agree on the version.
SELECT shilian.version() = extversion AS version_matches
  FROM pg_extension WHERE extname = 'shilian';

\set vectors `cat tests/data/hash-vectors.json`

-- Every vector, both algorithms, including the empty message.
SELECT v->>'name' AS name,
       encode(shilian.hash(decode(v->>'message_hex', 'hex')), 'hex') = v->>'sha256' AS sha256_default_ok,
       encode(shilian.hash(decode(v->>'message_hex', 'hex'), 'sha256'), 'hex') = v->>'sha256' AS sha256_ok,
       encode(shilian.hash(decode(v->>'message_hex', 'hex'), 'SM3'), 'hex') = v->>'sm3' AS sm3_ok
  FROM jsonb_array_elements((:'vectors')::jsonb->'vectors') AS v
 ORDER BY 1;

-- The vectors file is not empty (a vacuous pass above would hide that).
SELECT jsonb_array_length((:'vectors')::jsonb->'vectors') AS vector_count;

-- Agrees with PostgreSQL's own sha256().
SELECT shilian.hash('shilian') = sha256('shilian') AS same_as_core;

-- An unknown algorithm is refused with 22023 and a hint.
\set VERBOSITY default
SELECT shilian.hash('abc', 'md5');
\echo :LAST_ERROR_SQLSTATE

-- NULL in, NULL out (STRICT).
SELECT shilian.hash(NULL) IS NULL AS strict_null;

-- Settings: the hash algorithm GUC exists and refuses bad values; a misspelt
-- shilian.* setting is an error (the prefix is reserved).
SHOW shilian.hash_algorithm;
SET shilian.hash_algorithm = 'md5';
SET shilian.hash_algoritm = 'sha256';
