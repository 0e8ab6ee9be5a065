-- shilian 0.2.0 -> 0.3.0, part 99n: what a receipt pays (issue 19).
-- operator_is_key becomes PL/pgSQL (body of part 62), so that the counters'
-- flush at each commit no longer plans its statement again; the rule of
-- receipt_exception (part 99h, regenerated from part 66) probes each id by
-- its key.

-- PL/pgSQL, for its plan kept per session: a SQL function with a sub-select
-- is never inlined, and PostgreSQL 15 plans its statement again at every
-- execution of the query calling it (a third of a millisecond on every
-- commit of a record, in the counters' flush).
CREATE OR REPLACE FUNCTION operator_is_key(id bigint, kinds text[]) RETURNS boolean
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	RETURN kinds OPERATOR(pg_catalog.&&) shilian.key_catering_kinds()
		OR EXISTS (SELECT 1 FROM shilian.licence li
					WHERE li.operator_id OPERATOR(pg_catalog.=) operator_is_key.id
					  AND li.scope OPERATOR(pg_catalog.&&) shilian.key_categories());
END
$$;
