-- 0.2.0 -> 0.3.0, part 99zd (issue 19: one definition of a receipt-draft
-- subscriber). The bulk import (part 99zb) asks which buyers subscribe to
-- receipt drafts, as webhook_on_link does twice: the three read
-- receipt_draft_subscriptions() (sql/src/94_webhooks.sql).
-- The active subscriptions to receipt drafts, with their operators: a
-- pending sale to one of them is an event for it (webhook_on_link), and the
-- bulk import writes such a buyer's sales pending first rather than already
-- received (extension/import.c). The one definition of a subscriber, which
-- both read; an inlined SQL function, read with the caller's rights.
CREATE FUNCTION receipt_draft_subscriptions() RETURNS TABLE (id bigint, operator_id bigint)
	LANGUAGE sql STABLE
	AS $$ SELECT s.id, s.operator_id FROM shilian.webhook_subscription s
		   WHERE s.active AND 'receipt_draft' = ANY (s.kinds) $$;
COMMENT ON FUNCTION receipt_draft_subscriptions() IS
	'The active webhook subscriptions to receipt_draft events and their operators (the buyers a pending sale notifies).';

-- A sale (ship, a bulk upload's ship lines): the buyer's receipt draft.
CREATE OR REPLACE FUNCTION webhook_on_link() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM shilian.receipt_draft_subscriptions()) THEN
		RETURN NULL;
	END IF;
	INSERT INTO shilian.webhook_delivery (subscription_id, kind, data)
	SELECT s.id, 'receipt_draft.created',
		jsonb_build_object('link', l.id::text, 'buyer', l.buyer_id::text, 'seller', l.seller_id::text,
			'seller_name', o.name, 'from_code', b.trace_code::text, 'qty', l.qty_shipped::text,
			'shipped_on', l.shipped_on)
	  FROM new_rows l
	  JOIN shilian.batch b ON b.id = l.from_batch
	  JOIN shilian.operator o ON o.id = l.seller_id
	  JOIN shilian.receipt_draft_subscriptions() s ON s.operator_id = l.buyer_id
	 WHERE l.kind = 'ship' AND l.status = 'pending'
	 ORDER BY s.id, l.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('shilian_webhook', '');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION webhook_on_link() IS
	'Trigger: a pending sale becomes a receipt_draft.created event for the buyer''s subscriptions.';
ALTER FUNCTION webhook_on_link() SECURITY DEFINER;
REVOKE ALL ON FUNCTION webhook_on_link() FROM PUBLIC;
