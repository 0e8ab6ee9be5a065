-- 0.2.0 -> 0.3.0, part 99zb (issue 19: the import writes each row once).
--
-- The receipt-exception triggers of link INSERT and inspection INSERT run
-- once per statement from its transition table (receipt_exception_inserted)
-- instead of a PL/pgSQL call per row: the bulk import now inserts a sale that
-- a receipt of the same chunk receives already received (extension/import.c),
-- thousands a statement, and its incoming inspections were 8 % of its time
-- (sql/src/66_findings.sql).
CREATE FUNCTION receipt_exception_inserted() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	links bigint[];
	batches bigint[] := '{}';
BEGIN
	IF TG_TABLE_NAME = 'link' THEN
		links := ARRAY(SELECT n.id FROM new_rows n WHERE n.kind = 'ship' AND n.status = 'received');
	ELSE
		links := ARRAY(SELECT DISTINCT n.link_id FROM new_rows n
						WHERE n.kind = 'incoming' AND n.link_id IS NOT NULL
						  AND EXISTS (SELECT 1 FROM shilian.receipt_exception e WHERE e.link_id = n.link_id));
		batches := ARRAY(SELECT DISTINCT n.batch_id FROM new_rows n
						  WHERE n.kind = 'incoming' AND n.link_id IS NULL
							AND EXISTS (SELECT 1 FROM shilian.receipt_exception e
										 WHERE e.link_id IS NULL AND e.batch_id = n.batch_id));
	END IF;
	IF cardinality(links) > 0 OR cardinality(batches) > 0 THEN
		PERFORM shilian.receipt_exception_sync(links, batches);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION receipt_exception_inserted() IS
	'Statement trigger of link and inspection INSERT: keeps receipt_exception for the sales inserted received and the receipts an incoming inspection clears.';
REVOKE ALL ON FUNCTION receipt_exception_inserted() FROM PUBLIC;

DROP TRIGGER receipt_exception_ins ON link;
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON link REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_inserted();
DROP TRIGGER receipt_exception_ins ON inspection;
CREATE TRIGGER receipt_exception_ins AFTER INSERT ON inspection REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION receipt_exception_inserted();
