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
