-- 0.2.0 -> 0.3.0, part 99zb (issue 19: the import writes each row once).
--
-- The receipt-exception trigger of link INSERT runs once per statement from
-- its transition table (receipt_exception_inserted) instead of once per
-- received sale: the bulk import now inserts a sale that a receipt of the
-- same chunk receives already received (extension/import.c), thousands a
-- statement (sql/src/66_findings.sql). In C (extension/receipt_exception.c,
-- part 99za's module code): a statement with no received sale returns at
-- once. inspection's INSERT trigger stays per row: a statement trigger of
-- the partitioned table would not fire for rows pg_restore writes into its
-- partitions.
CREATE FUNCTION receipt_exception_inserted() RETURNS trigger
	AS 'MODULE_PATHNAME', 'receipt_exception_inserted'
	LANGUAGE C SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION receipt_exception_inserted() IS
	'Statement trigger of link INSERT: keeps receipt_exception for the sales inserted received.';
REVOKE ALL ON FUNCTION receipt_exception_inserted() FROM PUBLIC;

DROP TRIGGER receipt_exception_ins ON link;
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON link REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_inserted();
