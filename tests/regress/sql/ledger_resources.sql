-- ledger_resources: the ledger code under long chains, damaged tables and
-- tables changed in maintenance (docs/ledger-format.md). Runs in a database
-- of its own: it tampers with the ledger on purpose and adds thousands of
-- entries, which must not shift the ids the other files expect.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS shilian_ledger_resources;
CREATE DATABASE shilian_ledger_resources;
\c shilian_ledger_resources
SET client_min_messages = warning;
CREATE EXTENSION shilian;
\set VERBOSITY default

-- The SQLSTATE, the message and which write path raised it: the SPI INSERT
-- leaves its statement in the error context, the executor fast path does not.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	ctx text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
	RETURN st || ': ' || msg || CASE WHEN ctx LIKE '%INSERT INTO shilian.ledger %' THEN ' [SPI INSERT]'
		ELSE ' [fast path]' END;
END
$$;

-- ---- chain_verify over a long chain of large bodies ---------------------------
-- 20,000 entries of about 3 KB each: chain_verify resets its per-entry memory
-- every 10,000 entries, and its hash-input buffer must survive the reset
-- (it once lived in the reset context: every entry after the first reset
-- was reported as "hash does not match").
SELECT count(shilian.ledger_append(7, 'bulk', jsonb_build_object('n', i, 'pad',
		(SELECT string_agg(md5(i || ':' || j), '') FROM generate_series(1, 94) j))))
  FROM generate_series(1, 20000) i;
SELECT min(length(body)) > 3000 AS bodies_over_3kb FROM shilian.ledger WHERE operator_id = 7;
-- one chain through the index, and every chain through the heap
SELECT * FROM shilian.chain_verify(7);
SELECT * FROM shilian.chain_verify();
SELECT shilian.checkpoint() IS NOT NULL AS checkpointed;
SELECT ok FROM shilian.log_verify();
SELECT shilian.verify_inclusion(shilian.inclusion_proof(id)) AS proof_ok
  FROM shilian.ledger WHERE operator_id = 7 AND seq IN (1, 10001, 20000) ORDER BY seq;
SELECT shilian.verify_consistency(shilian.consistency_proof(12345)) AS consistent;

-- ---- the executor's guarantees on the append paths ----------------------------
-- A column with a default, a NOT NULL column, a CHECK, a generated column and
-- a partial expression index, added in maintenance: appends honour each one.
-- The appends take the fast path straight into the partition the entries
-- go to (ledger_default here), writing the ledger_chain row the insert
-- trigger ledger_chain_link would; the unique expression index, which a
-- partitioned table cannot have without recorded_at, is made on that
-- partition.
SET shilian.ledger_maintenance = on;
ALTER TABLE shilian.ledger ADD COLUMN note text NOT NULL DEFAULT 'set by default';
ALTER TABLE shilian.ledger ADD CONSTRAINT kind_short CHECK (length(kind) <= 20);
ALTER TABLE shilian.ledger ADD COLUMN kind_len int GENERATED ALWAYS AS (length(kind)) STORED;
RESET shilian.ledger_maintenance;
CREATE UNIQUE INDEX ledger_kind_once ON shilian.ledger_default (lower(kind)) WHERE operator_id = 8;
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, 'first', '{"a": 1}')$$);
-- the default and the generated value are there
SELECT seq, kind, note, kind_len FROM shilian.ledger WHERE operator_id = 8 ORDER BY seq;
-- so are the entries of a bulk import (the multi-row append path)
SELECT shilian.jurisdiction_add('370000', '山东省') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370100', '济南市') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370112', '历城区') IS NOT NULL AS ok;
SELECT shilian.jurisdiction_add('370112001', '历城区洪家楼市场监管所') IS NOT NULL AS ok;
SELECT shilian.operator_register('历城绿源蔬菜合作社', 'production', '{farm}', '370112001',
	'济南市历城区港沟街道', '0531-88000001', reg_card => 'LY-0001') AS farm \gset
SELECT shilian.operator_activate(:farm) IS NOT NULL AS ok;
SELECT shilian.product_register('大白菜', 'vegetables', shelf_life_days => 10,
	edible_agricultural => true) AS cabbage \gset
SELECT shilian.import_ndjson(
	'{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "5 kg", "produced_on": "2020-11-01", "lot": "L1"}' || E'\n' ||
	'{"kind": "batch", "owner": ' || :farm || ', "product": ' || :cabbage || ', "qty": "6 kg", "produced_on": "2020-11-01", "lot": "L2"}' || E'\n') AS job \gset
SELECT total, accepted, refused, status FROM shilian.import_job WHERE id = :job;
SELECT seq, kind, source, note, kind_len FROM shilian.ledger WHERE operator_id = :farm ORDER BY seq;
-- a row violating the CHECK is refused, before anything is written
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, repeat('k', 30), '{}')$$);
-- the expression index is maintained and its uniqueness checked
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, 'FIRST', '{}')$$);
-- NOT NULL: without its default the new column would be null in the next
-- entry; that entry is the maintenance record of the ALTER that drops the
-- default (appended by the DDL guard), so the ALTER itself is refused
SET shilian.ledger_maintenance = on;
SELECT pg_temp.try($$ALTER TABLE shilian.ledger ALTER COLUMN note DROP DEFAULT$$);
RESET shilian.ledger_maintenance;
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, 'second', '{}')$$);
-- an insert trigger other than ledger_chain_link (the fast path does not run
-- one; the relcache invalidation sends the next append through the SPI INSERT) is fired
CREATE FUNCTION pg_temp.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.note := NEW.note || ' (trigger)';
	RETURN NEW;
END
$$;
SET shilian.ledger_maintenance = on;
CREATE TRIGGER stamp BEFORE INSERT ON shilian.ledger FOR EACH ROW EXECUTE FUNCTION pg_temp.stamp();
RESET shilian.ledger_maintenance;
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, 'fourth', '{}')$$);
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, repeat('k', 30), '{}')$$);
SET shilian.ledger_maintenance = on;
DROP TRIGGER stamp ON shilian.ledger;
RESET shilian.ledger_maintenance;
-- and without it again
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, repeat('k', 30), '{}')$$);
SELECT pg_temp.try($$SELECT shilian.ledger_append(8, 'fifth', '{}')$$);
SELECT seq, kind, note, kind_len FROM shilian.ledger WHERE operator_id = 8 ORDER BY seq;
-- the chains stay clean: the added columns are outside the hashed entry
SELECT operator, entries, ok FROM shilian.chain_verify() ORDER BY operator;

-- ---- damaged ledger tables -----------------------------------------------------
-- A superuser can bypass the insert-only triggers (session_replication_role);
-- what such a change breaks is reported with its own code, not a crash.
SELECT shilian.ledger_append(9, 'a', '{}') > 0 AS appended, shilian.ledger_append(9, 'b', '{}') > 0 AS appended;
SELECT tree_size > 0 AS checkpointed FROM shilian.checkpoint();
SELECT shilian.ledger_append(9, 'c', '{}') > 0 AS appended;
SET session_replication_role = replica;
-- SLL24: a leaf of the Merkle log is gone
DELETE FROM shilian.ledger_leaf WHERE leaf_index = 0;
SELECT shilian.inclusion_proof((SELECT entry_id FROM shilian.ledger_leaf WHERE leaf_index = 1));
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.consistency_proof(3);
\echo :LAST_ERROR_SQLSTATE
-- SLL10: the head of operator 9's chain has a hash of the wrong length
-- (the append reads the head in ledger_chain)
UPDATE shilian.ledger SET hash = '\x00' WHERE operator_id = 9 AND seq = 3;
UPDATE shilian.ledger_chain SET hash = '\x00' WHERE operator_id = 9 AND seq = 3;
SELECT shilian.ledger_append(9, 'd', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT shilian.checkpoint();
\echo :LAST_ERROR_SQLSTATE
-- SLL24: the latest checkpoint's frontier does not fit its tree size
UPDATE shilian.checkpoint SET frontier = '\x' WHERE tree_size = (SELECT max(tree_size) FROM shilian.checkpoint);
SELECT shilian.checkpoint();
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT operator, ok, first_bad_seq, reason FROM shilian.chain_verify(9);

\c :regress_db
DROP DATABASE shilian_ledger_resources;

-- ---- month partitions (docs/operations.md#partitioning-分区) -------------------
-- In a database of its own (the partitions' names carry the month); nothing
-- printed depends on the date.
CREATE DATABASE shilian_ledger_partitions;
\c shilian_ledger_partitions
SET client_min_messages = warning;
CREATE EXTENSION shilian;
RESET client_min_messages;
-- SQLSTATE and, for a unique violation, the key that refused it
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	con text;
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, con = CONSTRAINT_NAME;
	RETURN st || coalesce(' ' || nullif(con, ''), '');
END
$$;
-- the current month and three ahead; again, nothing to make
SELECT shilian.ledger_partitions_ahead() AS made;
SELECT shilian.ledger_partitions_ahead() AS made_again;
SELECT pg_temp.try('SELECT shilian.ledger_partitions_ahead(25)') AS too_far;
-- each one an Asia/Shanghai month, named by it
SELECT count(*) AS months,
	bool_and(c.relname = 'ledger_p' || to_char(lower(b.r) AT TIME ZONE 'Asia/Shanghai', 'YYYYMM')
		AND (lower(b.r) AT TIME ZONE 'Asia/Shanghai')::time = '00:00'
		AND extract(day FROM lower(b.r) AT TIME ZONE 'Asia/Shanghai') = 1
		AND upper(b.r) AT TIME ZONE 'Asia/Shanghai' = (lower(b.r) AT TIME ZONE 'Asia/Shanghai') + interval '1 month') AS asia_shanghai_months
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
	LATERAL (SELECT tstzrange(x[1]::timestamptz, x[2]::timestamptz) AS r
			   FROM regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)') x) b
 WHERE i.inhparent = 'shilian.ledger'::regclass AND c.relname <> 'ledger_default';
-- the entries go to this month's partition, not to the default one
SELECT shilian.ledger_append(11, 'a', '{}') > 0 AS a, shilian.ledger_append(11, 'b', '{}') > 0 AS b,
	shilian.ledger_append(12, 'a', '{"x": 1}') > 0 AS c;
SELECT 'ledger_p' || to_char(shilian.platform_today(), 'YYYYMM') AS part \gset
SELECT tableoid::regclass::text = 'shilian.' || :'part' AS in_month_partition, count(*) FROM shilian.ledger GROUP BY 1;
SELECT shilian.checkpoint() IS NOT NULL AS checkpointed;
-- insert-only for every partition, named directly too
SELECT pg_temp.try(format('DELETE FROM shilian.%I', :'part')) AS delete_partition;
SELECT pg_temp.try(format('UPDATE shilian.%I SET kind = kind', :'part')) AS update_partition;
SELECT pg_temp.try(format('TRUNCATE shilian.%I', :'part')) AS truncate_partition;
SELECT pg_temp.try('TRUNCATE shilian.ledger_default') AS truncate_default;
SELECT pg_temp.try('DELETE FROM shilian.ledger_chain') AS delete_chain;
-- nor dropped, detached or changed
SELECT pg_temp.try(format('DROP TABLE shilian.%I', :'part')) AS drop_partition;
SELECT pg_temp.try(format('ALTER TABLE shilian.ledger DETACH PARTITION shilian.%I', :'part')) AS detach_partition;
SELECT pg_temp.try(format('ALTER TABLE shilian.%I DISABLE TRIGGER USER', :'part')) AS disable_triggers;
SELECT pg_temp.try(format('ALTER TABLE shilian.%I RENAME TO kept_elsewhere', :'part')) AS rename_partition;
SELECT pg_temp.try(format('DROP TRIGGER ledger_insert_only ON shilian.%I', :'part')) AS drop_truncate_guard;
SELECT pg_temp.try('ALTER TABLE shilian.ledger ADD COLUMN extra int') AS alter_ledger;
-- attaching: an empty ledger_pYYYYMM only (what a restore does), nothing else
CREATE TABLE shilian.ledger_p200001 (LIKE shilian.ledger INCLUDING ALL);
SELECT pg_temp.try($$ALTER TABLE shilian.ledger ATTACH PARTITION shilian.ledger_p200001
	FOR VALUES FROM ('2000-01-01 00:00+08') TO ('2000-02-01 00:00+08')$$) AS attach_empty;
CREATE TABLE shilian.ledger_p200002 (LIKE shilian.ledger INCLUDING ALL);
INSERT INTO shilian.ledger_p200002 SELECT id + 2000, operator_id, seq + 1, kind, body, alg, prev_hash, hash, supersedes,
	'2000-02-10 12:00+08', source, on_date FROM shilian.ledger WHERE operator_id = 12;
SELECT pg_temp.try($$ALTER TABLE shilian.ledger ATTACH PARTITION shilian.ledger_p200002
	FOR VALUES FROM ('2000-02-01 00:00+08') TO ('2000-03-01 00:00+08')$$) AS attach_filled;
CREATE TABLE shilian.other_name (LIKE shilian.ledger INCLUDING ALL);
SELECT pg_temp.try($$ALTER TABLE shilian.ledger ATTACH PARTITION shilian.other_name
	FOR VALUES FROM ('2000-03-01 00:00+08') TO ('2000-04-01 00:00+08')$$) AS attach_other_name;
-- the fork defence: a second entry at a seq of a chain, written directly by
-- the owner, in the same partition or in another month's, or an entry id
-- used again, is refused by ledger_chain's keys
SELECT pg_temp.try($$INSERT INTO shilian.ledger SELECT id + 1000, operator_id, seq, kind, body, alg, prev_hash, hash,
	supersedes, recorded_at, source, on_date FROM shilian.ledger WHERE operator_id = 11 AND seq = 2$$) AS fork_same_month;
SELECT pg_temp.try($$INSERT INTO shilian.ledger SELECT id + 1000, operator_id, seq, kind, body, alg, prev_hash, hash,
	supersedes, recorded_at + interval '1 month', source, on_date FROM shilian.ledger WHERE operator_id = 11 AND seq = 2$$) AS fork_next_month;
SELECT pg_temp.try($$INSERT INTO shilian.ledger SELECT id, operator_id, seq + 1, kind, body, alg, prev_hash, hash,
	supersedes, recorded_at + interval '1 month', source, on_date FROM shilian.ledger WHERE operator_id = 11 AND seq = 2$$) AS id_again;
-- the append's fast path writes its ledger_chain row itself, checked by the
-- same keys: an entry id drawn again (the sequence set back by a superuser)
-- is refused there
SELECT setval('shilian.ledger_id_seq', (SELECT max(id) FROM shilian.ledger) - 1) > 0 AS set_back;
SELECT pg_temp.try($$SELECT shilian.ledger_append(11, 'again', '{}')$$) AS append_id_again;
SELECT setval('shilian.ledger_id_seq', (SELECT max(id) FROM shilian.ledger)) > 0 AS set_forward;
-- the appends go on; every chain, the Merkle log and the proofs verify
-- across the partitions (and the one attached)
SELECT shilian.ledger_append(11, 'c', '{}', supersedes => (SELECT id FROM shilian.ledger WHERE operator_id = 11 AND seq = 1)) > 0 AS corrected;
SELECT pg_temp.try($$SELECT shilian.ledger_append(12, 'c', '{}', supersedes => (SELECT id FROM shilian.ledger WHERE operator_id = 11 AND seq = 1))$$) AS other_chain;
SELECT operator, entries, ok FROM shilian.chain_verify() ORDER BY operator;
SELECT operator, entries, ok FROM shilian.chain_verify(11);
SELECT (SELECT count(*) FROM shilian.ledger) AS entries, (SELECT count(*) FROM shilian.ledger_chain) AS chain_rows;
SELECT shilian.checkpoint() IS NOT NULL AS checkpointed;
SELECT ok FROM shilian.log_verify();
SELECT bool_and(shilian.verify_inclusion(shilian.inclusion_proof(id))) AS proofs_ok FROM shilian.ledger;
-- the guard is about schema shilian: a role without USAGE on it changes its
-- own tables as before
CREATE ROLE regress_ledger_outsider;
CREATE TABLE public.outsider_table (a int);
ALTER TABLE public.outsider_table OWNER TO regress_ledger_outsider;
SET ROLE regress_ledger_outsider;
SELECT pg_temp.try('ALTER TABLE public.outsider_table ADD COLUMN b int') AS outsider_alter;
SELECT pg_temp.try('CREATE TRIGGER t BEFORE INSERT ON public.outsider_table FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()') AS outsider_trigger;
SELECT pg_temp.try('DROP TABLE public.outsider_table') AS outsider_drop;
RESET ROLE;
DROP ROLE regress_ledger_outsider;
\c :regress_db
DROP DATABASE shilian_ledger_partitions;

-- ---- SLL05: the ledger needs a UTF8 database ---------------------------------------
-- The canonical encoding is UTF-8; in another database encoding the body
-- function refuses instead of hashing converted bytes. (The library's function
-- is declared directly, so this holds whether or not CREATE EXTENSION itself
-- refuses such a database.)
DROP DATABASE IF EXISTS shilian_ledger_ascii;
CREATE DATABASE shilian_ledger_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c shilian_ledger_ascii
CREATE FUNCTION pg_temp.canonical(jsonb) RETURNS bytea
	AS '$libdir/shilian', 'shilian_ledger_canonical' LANGUAGE C STRICT;
SELECT pg_temp.canonical('{"a": 1}');
\echo :LAST_ERROR_SQLSTATE
\c :regress_db
DROP DATABASE shilian_ledger_ascii;
