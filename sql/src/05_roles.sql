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
