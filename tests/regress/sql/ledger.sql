-- ledger: appends, the canonical body encoding, chain_verify and the
-- protection of the ledger tables (docs/ledger-format.md).
\set VERBOSITY default

-- The ledger tables are registered for pg_dump.
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS cfg(oid)
  JOIN pg_class c ON c.oid = cfg.oid
 WHERE e.extname = 'shilian' ORDER BY 1;

-- Appends to two chains; each returns the new entry id.
SELECT shilian.ledger_append(101, 'batch_create', '{"code": "370102A1", "qty": 1.50, "ok": true}') > 0 AS appended;
SELECT shilian.ledger_append(101, 'inspect', '{"result": "pass", "items": [1, 2.0, null, {"b": 1, "a": "x"}]}') > 0 AS appended;
SELECT shilian.ledger_append(202, 'batch_create', '{}') > 0 AS appended;
SELECT operator_id, seq, kind, alg, shilian.ledger_body(body) AS body,
       prev_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea AS genesis,
       length(hash) AS hash_len, supersedes
  FROM shilian.ledger ORDER BY id;

-- Each entry's prev_hash is the previous entry's hash in the same chain.
SELECT bool_and(l.prev_hash = p.hash) AS linked
  FROM shilian.ledger l JOIN shilian.ledger p ON p.operator_id = l.operator_id AND p.seq = l.seq - 1;

-- A correction supersedes an entry of the same chain.
SELECT shilian.ledger_append(101, 'inspect', '{"result": "fail"}',
       (SELECT id FROM shilian.ledger WHERE operator_id = 101 AND seq = 2)) > 0 AS corrected;
SELECT seq, supersedes = (SELECT id FROM shilian.ledger WHERE operator_id = 101 AND seq = 2) AS points_back
  FROM shilian.ledger WHERE operator_id = 101 AND seq = 3;

-- Canonical encoding: keys in byte order, numbers without insignificant zeros,
-- equal jsonb values give equal bytes.
SELECT encode(shilian.ledger_canonical('{"b": 1, "a": "x", "aa": null, "B": [true, false]}'), 'hex') AS canon;
SELECT shilian.ledger_canonical('{"q": 1.50}') = shilian.ledger_canonical('{"q": 1.5}') AS scale_insensitive,
       encode(shilian.ledger_canonical('{"q": 1.50}'), 'escape') AS canon_text;
SELECT shilian.ledger_canonical('{"n": -0.000, "e": 1e3, "f": 12.3400}') = shilian.ledger_canonical('{"n": 0, "e": 1000, "f": 12.34}') AS numbers_normalized;
-- the body renders back to the same jsonb
SELECT shilian.ledger_body(shilian.ledger_canonical(j)) = j AS round_trip
  FROM (VALUES ('{"a": [1, "два", {"z": null, "é": false}], "": "empty key", "\"q\\": "\n"}'::jsonb)) AS v(j);

-- chain_verify: both chains clean, one row per operator; NULL means all.
SELECT * FROM shilian.chain_verify() ORDER BY operator;
SELECT * FROM shilian.chain_verify(101);
-- an operator with no entries has an empty, valid chain
SELECT * FROM shilian.chain_verify(999);

-- SM3 entries carry their algorithm id and verify alongside SHA-256 ones.
SET shilian.hash_algorithm = 'sm3';
SELECT shilian.ledger_append(202, 'inspect', '{"result": "pass"}') > 0 AS appended_sm3;
RESET shilian.hash_algorithm;
SELECT seq, alg FROM shilian.ledger WHERE operator_id = 202 ORDER BY seq;
SELECT * FROM shilian.chain_verify(202);

-- Refusals, each with its SQLSTATE:
-- the body must be an object
SELECT shilian.ledger_append(101, 'inspect', '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
-- the kind must not be empty
SELECT shilian.ledger_append(101, '', '{}');
\echo :LAST_ERROR_SQLSTATE
-- a superseded entry must exist
SELECT shilian.ledger_append(101, 'inspect', '{}', 999999);
\echo :LAST_ERROR_SQLSTATE
-- and belong to the same operator
SELECT shilian.ledger_append(202, 'inspect', '{}', (SELECT min(id) FROM shilian.ledger WHERE operator_id = 101));
\echo :LAST_ERROR_SQLSTATE
-- a canonical body that is not canonical is refused by ledger_body
SELECT shilian.ledger_body('\x0600000002000000016200000000016100'::bytea);
\echo :LAST_ERROR_SQLSTATE

-- ---- the documented encoding, recomputed in plain SQL with sha256() ----------
-- docs/ledger-format.md: body = 0x06 || u32 count || (u32 len || key || value)*
-- with keys in byte order, strings 0x04 || u32 len || UTF-8, numbers 0x03 ||
-- u32 len || canonical decimal, true 0x02, false 0x01, null 0x00; entry =
-- 0x02 || (u32 len || field)* for id, operator_id, seq, alg, kind, recorded_at
-- (UTC microseconds since 1970), supersedes (0 = none), body; then prev_hash.
SELECT shilian.ledger_append(303, 'inspect', '{"result": "pass", "lot": "L-7", "qty": 12.50, "ok": true, "note": null, "产地": "济南"}') AS e303 \gset
CREATE FUNCTION pg_temp.canon_flat(b jsonb) RETURNS bytea LANGUAGE sql AS $$
	SELECT '\x06'::bytea || int4send(count(*)::int) || coalesce(string_agg(
		int4send(octet_length(convert_to(key, 'UTF8'))) || convert_to(key, 'UTF8') ||
		CASE jsonb_typeof(value)
			WHEN 'string' THEN '\x04'::bytea || int4send(octet_length(convert_to(value #>> '{}', 'UTF8'))) || convert_to(value #>> '{}', 'UTF8')
			WHEN 'number' THEN '\x03'::bytea || int4send(length(trim_scale((value #>> '{}')::numeric)::text)) || convert_to(trim_scale((value #>> '{}')::numeric)::text, 'UTF8')
			WHEN 'boolean' THEN CASE WHEN value::boolean THEN '\x02'::bytea ELSE '\x01'::bytea END
			WHEN 'null' THEN '\x00'::bytea
		END, ''::bytea ORDER BY convert_to(key, 'UTF8')), '')
	FROM jsonb_each(b)
$$;
CREATE FUNCTION pg_temp.entry_hash(l shilian.ledger, body bytea) RETURNS bytea LANGUAGE sql AS $$
	SELECT sha256('\x02'::bytea
		|| int4send(8) || int8send(l.id)
		|| int4send(8) || int8send(l.operator_id)
		|| int4send(8) || int8send(l.seq)
		|| int4send(1) || decode(lpad(to_hex(l.alg::int), 2, '0'), 'hex')
		|| int4send(octet_length(convert_to(l.kind, 'UTF8'))) || convert_to(l.kind, 'UTF8')
		|| int4send(8) || int8send((extract(epoch FROM l.recorded_at) * 1000000)::bigint)
		|| int4send(8) || int8send(coalesce(l.supersedes, 0))
		|| int4send(length(body)) || body
		|| l.prev_hash)
$$;
-- the body bytes from the jsonb the caller passed, and the entry hash from them
SELECT pg_temp.canon_flat('{"result": "pass", "lot": "L-7", "qty": 12.50, "ok": true, "note": null, "产地": "济南"}') = l.body AS body_recomputed,
       pg_temp.entry_hash(l, pg_temp.canon_flat('{"result": "pass", "lot": "L-7", "qty": 12.50, "ok": true, "note": null, "产地": "济南"}')) = l.hash AS hash_recomputed
  FROM shilian.ledger l WHERE id = :e303;
-- ...and for every SHA-256 entry so far, from the stored body bytes
SELECT count(*) FILTER (WHERE pg_temp.entry_hash(l, l.body) = l.hash) AS recomputed, count(*) AS sha256_entries
  FROM shilian.ledger l WHERE alg = 1;
-- and the SM3 entry with shilian.hash(..., 'sm3') in place of sha256()
SELECT shilian.hash('\x02'::bytea
		|| int4send(8) || int8send(l.id) || int4send(8) || int8send(l.operator_id)
		|| int4send(8) || int8send(l.seq) || int4send(1) || '\x02'::bytea
		|| int4send(octet_length(convert_to(l.kind, 'UTF8'))) || convert_to(l.kind, 'UTF8')
		|| int4send(8) || int8send((extract(epoch FROM l.recorded_at) * 1000000)::bigint)
		|| int4send(8) || int8send(coalesce(l.supersedes, 0))
		|| int4send(length(l.body)) || l.body || l.prev_hash, 'sm3') = l.hash AS sm3_recomputed
  FROM shilian.ledger l WHERE alg = 2;

-- ---- checkpoints and proofs ---------------------------------------------------
-- Nothing is in the log before the first checkpoint.
SELECT shilian.inclusion_proof(:e303);
\echo :LAST_ERROR_SQLSTATE
SELECT tree_size, length(root) AS root_len FROM shilian.checkpoint();
-- Entries become leaves in entry id order.
SELECT bool_and(f.entry_id = l.id) AS id_order, count(*) AS leaves
  FROM (SELECT entry_id, row_number() OVER (ORDER BY leaf_index) AS r FROM shilian.ledger_leaf) f
  JOIN (SELECT id, row_number() OVER (ORDER BY id) AS r FROM shilian.ledger) l USING (r);
-- A checkpoint with nothing new publishes nothing new.
SELECT tree_size FROM shilian.checkpoint();
SELECT count(*) AS checkpoints FROM shilian.checkpoint;
-- 40 more entries over 3 operators, then a second tree head.
SELECT count(shilian.ledger_append(400 + i % 3, 'batch_create', jsonb_build_object('n', i))) FROM generate_series(1, 40) i;
SELECT tree_size FROM shilian.checkpoint();
-- Every entry's inclusion proof verifies in both trees it is part of.
SELECT count(*) FILTER (WHERE shilian.verify_inclusion(shilian.inclusion_proof(id))) AS in_latest,
       count(*) FILTER (WHERE f.leaf_index < 9 AND shilian.verify_inclusion(shilian.inclusion_proof(id, 9))) AS in_first,
       count(*) AS entries
  FROM shilian.ledger l JOIN shilian.ledger_leaf f ON f.entry_id = l.id;
-- The proof names the published root.
SELECT (shilian.inclusion_proof(:e303)->>'root') = encode(root, 'hex') AS names_root
  FROM shilian.checkpoint ORDER BY tree_size DESC LIMIT 1;
-- Consistency between every pair of sizes up to the latest.
SELECT count(*) FILTER (WHERE shilian.verify_consistency(shilian.consistency_proof(m, n))) AS consistent, count(*) AS pairs
  FROM generate_series(0, (SELECT max(tree_size) FROM shilian.checkpoint)) m,
       generate_series(0, (SELECT max(tree_size) FROM shilian.checkpoint)) n WHERE m <= n;
-- A tampered proof is refused.
SELECT shilian.verify_inclusion(jsonb_set(shilian.inclusion_proof(:e303), '{leaf_index}', to_jsonb((shilian.inclusion_proof(:e303)->>'leaf_index')::int + 1))) AS shifted_index;
-- The log rebuilt from the ledger matches every published root.
SELECT * FROM shilian.log_verify();
-- Proofs for sizes beyond the latest checkpoint are refused.
SELECT shilian.inclusion_proof(:e303, 1000);
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.consistency_proof(10, 9);
\echo :LAST_ERROR_SQLSTATE
-- checkpoint() refuses a transaction snapshot that could miss late commits
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT shilian.checkpoint();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- ---- protection ---------------------------------------------------------------
-- UPDATE, DELETE and TRUNCATE are refused on every ledger table, even to a superuser.
UPDATE shilian.ledger SET kind = 'x' WHERE id = :e303;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM shilian.ledger_leaf;
\echo :LAST_ERROR_SQLSTATE
TRUNCATE shilian.checkpoint;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM shilian.merkle_node;
\echo :LAST_ERROR_SQLSTATE
-- DROP and ALTER need the maintenance setting ...
ALTER TABLE shilian.ledger DISABLE TRIGGER ledger_insert_only;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER ledger_insert_only ON shilian.checkpoint;
\echo :LAST_ERROR_SQLSTATE
CREATE RULE keep AS ON DELETE TO shilian.ledger DO INSTEAD NOTHING;
\echo :LAST_ERROR_SQLSTATE
-- dropping the extension would drop the ledger: refused as well
DROP EXTENSION shilian;
\echo :LAST_ERROR_SQLSTATE
-- ... which only a superuser can set
CREATE ROLE ledger_intruder IN ROLE shilian_regulator;
SET ROLE ledger_intruder;
SET shilian.ledger_maintenance = on;
-- appending directly or changing the tables: not for this role; reading
-- shows no row (row-level security: no jurisdiction set, docs/security.md)
SELECT shilian.ledger_append(1, 'x', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM shilian.ledger;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM shilian.checkpoint;
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.checkpoint();
\echo :LAST_ERROR_SQLSTATE
-- but a regulator verifies the log, and anyone reads tree heads and proofs;
-- every chain at once is for an admin (a regulator verifies its operators' chains)
SELECT count(*) FILTER (WHERE ok) = count(*) AS chains_ok FROM shilian.chain_verify();
\echo :LAST_ERROR_SQLSTATE
SELECT ok FROM shilian.log_verify();
SELECT shilian.verify_inclusion(shilian.inclusion_proof(:e303)) AS proof_ok;
SELECT count(*) > 0 AS sees_tree_heads FROM shilian.checkpoint;
RESET ROLE;
DROP ROLE ledger_intruder;
-- In maintenance mode the change goes through and is recorded twice.
SET shilian.ledger_maintenance = on;
ALTER TABLE shilian.ledger ALTER COLUMN kind SET STATISTICS 500;
RESET shilian.ledger_maintenance;
SELECT command, object, role FROM shilian.ledger_maintenance;
SELECT kind, shilian.ledger_body(body) AS body FROM shilian.ledger WHERE operator_id = 0;
SELECT * FROM shilian.chain_verify(0);
