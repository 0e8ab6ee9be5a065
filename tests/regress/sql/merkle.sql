-- merkle: verify_inclusion() and verify_consistency() on the RFC 6962 vectors
-- (tests/data/rfc6962-vectors.json, a copy of shared/data/rfc6962-vectors.json)
-- and the corruption probes of transparency-dev/merkle proof/verify_test.go.

\set vectors `cat tests/data/rfc6962-vectors.json`
CREATE TEMP TABLE v AS SELECT (:'vectors')::jsonb AS j;
CREATE TEMP TABLE incl AS
SELECT (e->>'leaf_index')::bigint AS idx, (e->>'tree_size')::bigint AS size,
       decode(e->>'leaf_hash', 'hex') AS leaf, decode(e->>'root', 'hex') AS root,
       ARRAY(SELECT decode(p, 'hex') FROM jsonb_array_elements_text(e->'path') WITH ORDINALITY AS x(p, i) ORDER BY i) AS path
  FROM v, jsonb_array_elements(j->'inclusion') AS e;
CREATE TEMP TABLE cons AS
SELECT (e->>'old_size')::bigint AS m, (e->>'new_size')::bigint AS n,
       decode(e->>'old_root', 'hex') AS r1, decode(e->>'new_root', 'hex') AS r2,
       ARRAY(SELECT decode(p, 'hex') FROM jsonb_array_elements_text(e->'proof') WITH ORDINALITY AS x(p, i) ORDER BY i) AS path
  FROM v, jsonb_array_elements(j->'consistency') AS e;

-- The vectors are all there (a vacuous pass would hide an empty file).
SELECT (SELECT count(*) FROM incl) AS inclusion_vectors, (SELECT count(*) FROM cons) AS consistency_vectors;

-- Leaf hashes of the published leaves are H(0x00 || data); the empty tree's root is H('').
SELECT bool_and(shilian.hash('\x00'::bytea || decode(l, 'hex')) = i.leaf) AS leaf_hashes_ok
  FROM v, jsonb_array_elements_text(j->'leaves_hex') WITH ORDINALITY AS x(l, n)
  JOIN incl i ON i.idx = x.n - 1;
SELECT shilian.hash('') = decode(j->'roots'->>'0', 'hex') AS empty_root_ok FROM v;

-- Every published inclusion proof verifies.
SELECT count(*) FILTER (WHERE shilian.verify_inclusion(idx, size, leaf, path, root)) AS verified,
       count(*) AS total
  FROM incl;

-- Every corruption is rejected: index +-1, size *2 and /2, each element with a
-- flipped bit, each element removed, an element added at either end.
SELECT count(*) AS accepted_corruptions FROM (
	SELECT shilian.verify_inclusion(idx + 1, size, leaf, path, root) AS ok FROM incl
	UNION ALL SELECT shilian.verify_inclusion(idx - 1, size, leaf, path, root) FROM incl WHERE idx > 0
	UNION ALL SELECT shilian.verify_inclusion(idx, size * 2, leaf, path, root) FROM incl
	UNION ALL SELECT shilian.verify_inclusion(idx, size / 2, leaf, path, root) FROM incl
	UNION ALL SELECT shilian.verify_inclusion(idx, size, leaf,
		path[:k - 1] || set_bit(path[k], k * 13 % 256, 1 - get_bit(path[k], k * 13 % 256)) || path[k + 1:], root)
		FROM incl, generate_series(1, cardinality(path)) k
	UNION ALL SELECT shilian.verify_inclusion(idx, size, leaf, path[:k - 1] || path[k + 1:], root)
		FROM incl, generate_series(1, cardinality(path)) k
	UNION ALL SELECT shilian.verify_inclusion(idx, size, leaf, path || leaf, root) FROM incl
	UNION ALL SELECT shilian.verify_inclusion(idx, size, leaf, root || path, root) FROM incl
) probes WHERE ok;
-- ...and the probes above are not vacuous: how many were tried.
SELECT sum(4 + 2 * cardinality(path) + 2) - count(*) FILTER (WHERE idx = 0) AS inclusion_probes FROM incl;

-- Every published consistency proof verifies, and its corruptions do not.
SELECT count(*) FILTER (WHERE shilian.verify_consistency(m, n, r1, r2, path)) AS verified, count(*) AS total
  FROM cons;
SELECT count(*) AS accepted_corruptions FROM (
	SELECT shilian.verify_consistency(m + 1, n, r1, r2, path) AS ok FROM cons
	UNION ALL SELECT shilian.verify_consistency(m - 1, n, r1, r2, path) FROM cons WHERE m > 1
	UNION ALL SELECT shilian.verify_consistency(m, n * 2, r1, r2, path) FROM cons
	UNION ALL SELECT shilian.verify_consistency(m, n / 2, r1, r2, path) FROM cons
	UNION ALL SELECT shilian.verify_consistency(m, n, r2, r1, path) FROM cons
	UNION ALL SELECT shilian.verify_consistency(m, n, r1, r2,
		path[:k - 1] || set_bit(path[k], k * 7 % 256, 1 - get_bit(path[k], k * 7 % 256)) || path[k + 1:])
		FROM cons, generate_series(1, cardinality(path)) k
	UNION ALL SELECT shilian.verify_consistency(m, n, r1, r2, path[:k - 1] || path[k + 1:])
		FROM cons, generate_series(1, cardinality(path)) k
	UNION ALL SELECT shilian.verify_consistency(m, n, r1, r2, path || r1) FROM cons
	UNION ALL SELECT shilian.verify_consistency(m, n, r1, r2, r2 || path) FROM cons
) probes WHERE ok;

-- Malformed input is "not verified", never an error: a short hash, a null element.
SELECT shilian.verify_inclusion(0, 2, '\x00', ARRAY['\x00'::bytea], '\x00') AS short_hashes,
       shilian.verify_inclusion(idx, size, leaf, path || NULL::bytea, root) AS null_element
  FROM incl WHERE idx = 0 AND size = 2;
-- An unknown algorithm is an error.
SELECT shilian.verify_consistency(1, 2, '\x00', '\x00', '{}', 'md5');
\echo :LAST_ERROR_SQLSTATE
