-- 0.2.0 -> 0.3.0, part 99za (issue 19: ship + receive pairs, third pass).
--
-- receipt_exception_changed() and receipt_exception_sync() in C
-- (extension/receipt_exception.c): every receipt fires the trigger twice,
-- and the PL/pgSQL trigger calling the PL/pgSQL sync with its three
-- settings cost 4.5 % of a ship + receive pair around the statements that
-- do the work. The statements and the rule (receipt_exceptions_of_sales,
-- receipt_exceptions_of_first_entries) are unchanged; the C sync keeps their
-- generic plans per backend, planned with sequential scans off, as the
-- PL/pgSQL sync's SET clauses did (sql/src/66_findings.sql).
CREATE OR REPLACE FUNCTION receipt_exception_sync(links bigint[], batches bigint[]) RETURNS void
	AS 'MODULE_PATHNAME', 'receipt_exception_sync'
	LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_sync(bigint[], bigint[]) IS
	'Recompute the receipt_exception rows of these sales and first entries from the records (receipt_exceptions).';

CREATE OR REPLACE FUNCTION receipt_exception_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'receipt_exception_changed'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_changed() IS
	'Trigger of link, batch and inspection: keeps receipt_exception for the receipts a statement received, retracted, re-dated, corrected or inspected.';
