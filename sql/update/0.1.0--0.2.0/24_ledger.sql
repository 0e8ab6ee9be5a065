-- part 24 (sql/src/50_ledger.sql): the DROP EXTENSION guard reads the
-- command's parse tree (ledger_guard_drop(), C) instead of matching the query
-- text; ledger_guard_ddl() keeps only the sql_drop and ddl_command_end checks.
CREATE FUNCTION shilian.ledger_guard_drop() RETURNS event_trigger
	AS 'MODULE_PATHNAME', 'shilian_ledger_guard_drop'
	LANGUAGE C;
COMMENT ON FUNCTION shilian.ledger_guard_drop() IS
	'Event trigger function: DROP EXTENSION shilian (or its schema, or its owner''s objects) only with shilian.allow_drop set in the transaction (SQLSTATE SLL31).';

DROP EVENT TRIGGER shilian_ledger_guard_extension;
CREATE EVENT TRIGGER shilian_ledger_guard_extension ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION shilian.ledger_guard_drop();
ALTER EVENT TRIGGER shilian_ledger_guard_extension ENABLE ALWAYS;

CREATE OR REPLACE FUNCTION shilian.ledger_guard_ddl() RETURNS event_trigger
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
COMMENT ON FUNCTION shilian.ledger_guard_ddl() IS
	'Event trigger function: DROP/ALTER of ledger objects only in recorded maintenance mode (SQLSTATE SLL31).';
