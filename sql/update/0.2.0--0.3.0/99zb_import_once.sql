-- 0.2.0 -> 0.3.0, part 99zb (issue 19: the import writes each row once).
--
-- The receipt-exception triggers of link INSERT and inspection INSERT run
-- once per statement from its transition table (receipt_exception_inserted)
-- instead of a PL/pgSQL call per row: the bulk import now inserts a sale that
-- a receipt of the same chunk receives already received (extension/import.c),
-- thousands a statement, and its incoming inspections were 8 % of its time
-- (sql/src/66_findings.sql). In C (extension/receipt_exception.c, part
-- 99za's module code): a statement with none of them returns at once.
CREATE FUNCTION receipt_exception_inserted() RETURNS trigger
	AS 'MODULE_PATHNAME', 'receipt_exception_inserted'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_inserted() IS
	'Statement trigger of link and inspection INSERT: keeps receipt_exception for the sales inserted received and the receipts an incoming inspection clears.';
REVOKE ALL ON FUNCTION receipt_exception_inserted() FROM PUBLIC;

DROP TRIGGER receipt_exception_ins ON link;
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON link REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_inserted();
DROP TRIGGER receipt_exception_ins ON inspection;
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON inspection REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_inserted();

COMMENT ON FUNCTION receipt_exception_changed() IS
	'Trigger of link UPDATE and batch: keeps receipt_exception for the receipts a statement received, retracted, re-dated or corrected.';
