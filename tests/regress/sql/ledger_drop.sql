-- ledger_drop: the DDL guard knows its targets by identity, not by the query
-- text, and DROP EXTENSION works, completely, when a superuser allows it in
-- the transaction (docs/install.md#uninstalling). Runs in a database of its
-- own, which it uninstalls.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
DROP DATABASE IF EXISTS shilian_ledger_drop;
CREATE DATABASE shilian_ledger_drop;
\c shilian_ledger_drop
SET client_min_messages = warning;
CREATE EXTENSION shilian;
\set VERBOSITY default
SELECT shilian.ledger_append(1, 'kept', '{}') > 0 AS appended;

-- ---- refused, however the command is written --------------------------------
DROP EXTENSION shilian;
\echo :LAST_ERROR_SQLSTATE
DROP EXTENSION IF EXISTS hstore, shilian CASCADE;
\echo :LAST_ERROR_SQLSTATE
-- the schema, or every object of the extension's owner, would take it too
DROP SCHEMA shilian CASCADE;
\echo :LAST_ERROR_SQLSTATE
DROP OWNED BY CURRENT_USER;
\echo :LAST_ERROR_SQLSTATE
-- dynamic SQL in a DO block hides the name from the query text: still refused
DO $$ BEGIN EXECUTE 'DROP EXTENSION ' || 'shil' || 'ian'; END $$;
\echo :LAST_ERROR_SQLSTATE
DO $$ BEGIN EXECUTE format('DROP TRIGGER ledger_insert_only ON %I.%I', 'shilian', 'checkpoint'); END $$;
\echo :LAST_ERROR_SQLSTATE
DO $$
BEGIN
	EXECUTE 'ALTER EXTENSION shilian DROP TABLE shilian.ledger_leaf';
	EXECUTE format('DROP TABLE %I.%I', 'shilian', 'ledger_leaf');
END
$$;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS leaf_table_member FROM pg_depend
 WHERE objid = 'shilian.ledger_leaf'::regclass AND deptype = 'e';
DO $$ BEGIN EXECUTE format('ALTER TABLE %I.%I DISABLE TRIGGER ALL', 'shilian', 'ledger'); END $$;
\echo :LAST_ERROR_SQLSTATE
DO $$ BEGIN EXECUTE format('TRUNCATE %I.%I', 'shilian', 'checkpoint'); END $$;
\echo :LAST_ERROR_SQLSTATE
-- maintenance mode is for the ledger tables, not for dropping them all
SET shilian.ledger_maintenance = on;
DROP EXTENSION shilian;
\echo :LAST_ERROR_SQLSTATE
RESET shilian.ledger_maintenance;

-- ---- unrelated statements that mention the name pass ----------------------------
DROP EXTENSION IF EXISTS hstore /* not shilian */;
CREATE SCHEMA shilian_notes;
CREATE TABLE shilian_notes.ledger (note text);
DROP TABLE shilian_notes.ledger /* shilian.ledger stays */;
DROP SCHEMA shilian_notes;
SELECT 'DROP EXTENSION shilian' AS just_text;

-- ---- shilian.allow_drop: a superuser's decision for one transaction ------------
-- set for the session in an earlier transaction: not enough
SET shilian.allow_drop = on;
DROP EXTENSION shilian;
\echo :LAST_ERROR_SQLSTATE
RESET shilian.allow_drop;
-- nor in a new session, where the value is set before the library is loaded
-- (by the guard itself, at the DROP) and carried over to the setting
\c shilian_ledger_drop
SET shilian.allow_drop = on;
DROP EXTENSION shilian;
\echo :LAST_ERROR_SQLSTATE
RESET shilian.allow_drop;
-- never a standing default
ALTER DATABASE shilian_ledger_drop SET shilian.allow_drop = on;
\echo :LAST_ERROR_SQLSTATE
ALTER ROLE CURRENT_USER SET shilian.allow_drop = on;
\echo :LAST_ERROR_SQLSTATE
-- and only for a superuser
CREATE ROLE ledger_drop_intruder;
SET ROLE ledger_drop_intruder;
BEGIN;
SET LOCAL shilian.allow_drop = on;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
RESET ROLE;
DROP ROLE ledger_drop_intruder;
-- objects others put in the schema stop a DROP EXTENSION without CASCADE,
-- and a failed drop leaves everything as it was
CREATE TABLE shilian.scratch (x int);
BEGIN;
SET LOCAL shilian.allow_drop = on;
DROP EXTENSION shilian;
ROLLBACK;
SELECT count(*) AS ledger_entries FROM shilian.ledger;
SELECT count(*) AS schema_members FROM pg_depend
 WHERE classid = 'pg_namespace'::regclass AND refclassid = 'pg_extension'::regclass;
DROP TABLE shilian.scratch;

-- ---- DROP EXTENSION, allowed: everything goes, the schema included ---------------
-- (in a new session: the library is first loaded by the guard, in the drop)
\c shilian_ledger_drop
SELECT count(*) > 0 AS has_event_triggers FROM pg_event_trigger WHERE evtname LIKE 'shilian%';
BEGIN;
SET LOCAL shilian.allow_drop = on;
DROP EXTENSION shilian;
COMMIT;
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'shilian';
SELECT count(*) AS event_triggers FROM pg_event_trigger WHERE evtname LIKE 'shilian%';
SELECT count(*) AS functions FROM pg_proc WHERE probin LIKE '%shilian%';
SELECT count(*) AS types FROM pg_type WHERE typname IN ('qty', 'trace_code', 'uscc', 'licence_no');
-- the roles are cluster-wide and stay (docs/install.md says how to remove them)
SELECT count(*) AS roles FROM pg_roles WHERE rolname IN ('shilian_operator', 'shilian_regulator',
	'shilian_system', 'shilian_public', 'shilian_admin', 'shilian_gateway');
-- and it installs again, in the same session
CREATE EXTENSION shilian;
SELECT shilian.ledger_append(1, 'again', '{}') > 0 AS appended;
SELECT seq, kind FROM shilian.ledger;
SELECT ok FROM shilian.chain_verify(1);

\c :regress_db
DROP DATABASE shilian_ledger_drop;
