-- shilian install script, part 15: the request context (docs/security.md).
-- The gateway sets shilian.operator_id, shilian.jurisdiction and
-- shilian.client per transaction; the row-level security policies
-- (part 80) read them through these STABLE SQL functions, which the planner
-- inlines into the policy quals, so that an index on owner_id serves
-- "owner_id = current_operator()" with the setting read once per scan.
-- They come before the tables so that any part may use them.

CREATE FUNCTION current_operator() RETURNS bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN NULLIF(pg_catalog.current_setting('shilian.operator_id', true), '')::bigint;
COMMENT ON FUNCTION current_operator() IS
	'The operator this transaction acts for (setting shilian.operator_id), or NULL.';

CREATE FUNCTION current_jurisdiction() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN NULLIF(pg_catalog.current_setting('shilian.jurisdiction', true), '');
COMMENT ON FUNCTION current_jurisdiction() IS
	'The jurisdiction code of the regulator this transaction acts for (setting shilian.jurisdiction), or NULL.';

CREATE FUNCTION current_client() RETURNS text
	LANGUAGE sql STABLE PARALLEL SAFE
	RETURN NULLIF(pg_catalog.current_setting('shilian.client', true), '');
COMMENT ON FUNCTION current_client() IS
	'The API client (system) this transaction acts for (setting shilian.client), or NULL.';

-- The write functions' rule for reading, for functions that must read with
-- definer rights (receipt_drafts): the caller's own records (operator), its
-- bound operators' (system), its subtree's (regulator), everyone's (admin).
CREATE FUNCTION may_see(operator bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_may_see'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION may_see(bigint) IS
	'Whether the calling role, with its request settings, may see the records of the operator (docs/security.md).';

CREATE FUNCTION require_see(operator bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sl_require_see'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION require_see(bigint) IS
	'True when may_see(operator), else error 42501: the guard of definer-rights read functions.';
