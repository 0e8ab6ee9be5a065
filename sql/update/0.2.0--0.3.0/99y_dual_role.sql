-- 0.2.0 -> 0.3.0, part 99y: a role that is both an operator and a
-- regulator (a member of shilian_operator and shilian_regulator, with both
-- settings) failed every read with "stack depth limit exceeded": the
-- operator's policy on operator read link, and the regulator's policy on
-- link read operator again through subtree_operators(). subtree_operators()
-- reads with definer rights now, and the operator's and system client's
-- policies on operator name their counterparties through definer-rights
-- sets of their own settings, so that a role in several groups sees the
-- union of what each allows, no more (sql/src/80_security.sql,
-- docs/security.md "A role in several groups").
CREATE OR REPLACE FUNCTION subtree_operators() RETURNS SETOF bigint
	LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT o.id FROM shilian.operator o
	 WHERE o.station = ANY (ARRAY(SELECT s FROM shilian.subtree_stations() AS s))
	$$;
COMMENT ON FUNCTION subtree_operators() IS
	'Ids of the operators whose home station lies at or below shilian.jurisdiction (definer rights, for the regulator''s policies).';
REVOKE ALL ON FUNCTION subtree_operators() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION subtree_operators() TO shilian_regulator;

CREATE FUNCTION link_counterparties(operators bigint[]) RETURNS SETOF bigint
	LANGUAGE sql STABLE PARALLEL SAFE
	AS $$
	SELECT l.buyer_id FROM shilian.link l WHERE l.seller_id = ANY (operators)
	UNION
	SELECT l.seller_id FROM shilian.link l WHERE l.buyer_id = ANY (operators)
	$$;
COMMENT ON FUNCTION link_counterparties(bigint[]) IS
	'Internal: the other parties of the links a set of operators is party to (seller or buyer).';
REVOKE ALL ON FUNCTION link_counterparties(bigint[]) FROM PUBLIC;

CREATE FUNCTION operator_counterparties() RETURNS SETOF bigint
	LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c FROM shilian.link_counterparties(ARRAY[shilian.current_operator()]) AS c
	$$;
COMMENT ON FUNCTION operator_counterparties() IS
	'Ids of the counterparties of shilian.operator_id: the other party of each of its links (definer rights, for the operator''s policy on operator).';
REVOKE ALL ON FUNCTION operator_counterparties() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION operator_counterparties() TO shilian_operator;

CREATE FUNCTION client_counterparties() RETURNS SETOF bigint
	LANGUAGE sql STABLE SECURITY DEFINER PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
	SELECT c FROM shilian.link_counterparties(ARRAY(SELECT o FROM shilian.client_operators() AS o)) AS c
	$$;
COMMENT ON FUNCTION client_counterparties() IS
	'Ids of the counterparties of the operators bound to the active system client: the other party of each of their links (definer rights, for the system client''s policy on operator).';
REVOKE ALL ON FUNCTION client_counterparties() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION client_counterparties() TO shilian_system;

ALTER POLICY operator_operator ON operator
	USING (id = shilian.current_operator()
		OR id IN (SELECT c FROM shilian.operator_counterparties() AS c));
ALTER POLICY operator_system ON operator
	USING (id IN (SELECT c FROM shilian.client_operators() AS c)
		OR id IN (SELECT c FROM shilian.client_counterparties() AS c));
