-- The demo province loaded by `make run` (idempotent). Each area of the
-- platform adds its part here so that a newcomer sees it working.
SELECT 'demo: shilian ' || shilian.version() AS loaded;

-- Ledger (docs/ledger-format.md): a short demo chain for operator 900001 and
-- a published tree head, written once. Try:
--   SELECT * FROM shilian.chain_verify(900001);
--   SELECT shilian.verify_inclusion(shilian.inclusion_proof(id)) FROM shilian.ledger WHERE operator_id = 900001;
DO $$
DECLARE
	shipped bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM shilian.ledger WHERE operator_id = 900001) THEN
		RETURN;
	END IF;
	PERFORM shilian.ledger_append(900001, 'batch_create',
		'{"product": "菠菜 spinach", "lot": "L20261128-01", "qty": 120.5, "unit": "kg", "produced": "2026-11-28"}');
	PERFORM shilian.ledger_append(900001, 'inspect',
		'{"lot": "L20261128-01", "kind": "factory_release", "result": "pass", "report": "R-3701-0001"}');
	shipped := shilian.ledger_append(900001, 'ship',
		'{"lot": "L20261128-01", "buyer": "370102-market-7", "qty": 40, "unit": "kg"}');
	PERFORM shilian.ledger_append(900001, 'ship',
		'{"lot": "L20261128-01", "buyer": "370102-market-7", "qty": 45, "unit": "kg", "note": "quantity corrected"}',
		shipped);
	PERFORM shilian.checkpoint();
END
$$;
SELECT 'demo: ledger ' || entries || ' entries, chain ok = ' || ok AS ledger FROM shilian.chain_verify(900001);
