-- 0.2.0 -> 0.3.0, part 99z (issue 19: ship + receive pairs, second pass).
--
-- figures_cache_horizon() in C (extension/activity.c): the month cache's
-- WHEN conditions call it, prepared again by every statement that writes
-- link or batch, and the SQL function was inlined (its body read from the
-- catalog and parsed) each time. The UPDATE triggers of the month cache
-- and the batch's receipt-exception trigger name the columns their WHEN
-- compares, so that an UPDATE setting none of them (a sale's update of the
-- lot's quantity left) queues nothing and prepares no condition
-- (sql/src/65_figures_cache.sql, sql/src/66_findings.sql).
CREATE OR REPLACE FUNCTION figures_cache_horizon() RETURNS date
	AS 'MODULE_PATHNAME', 'figures_cache_horizon'
	LANGUAGE C STABLE PARALLEL SAFE;

DROP TRIGGER figures_cache_upd ON link;
CREATE TRIGGER figures_cache_upd AFTER UPDATE OF status, shipped_on, buyer_id, kind ON link FOR EACH ROW
	WHEN ((OLD.kind = 'ship' OR NEW.kind = 'ship')
		AND least(OLD.shipped_on, NEW.shipped_on) < shilian.figures_cache_horizon()
		AND (OLD.status, OLD.shipped_on, OLD.buyer_id, OLD.kind)
			IS DISTINCT FROM (NEW.status, NEW.shipped_on, NEW.buyer_id, NEW.kind))
	EXECUTE FUNCTION figures_cache_link_changed();
DROP TRIGGER figures_cache_upd ON batch;
CREATE TRIGGER figures_cache_upd AFTER UPDATE OF produced_on, product_id, owner_id, origin ON batch FOR EACH ROW
	WHEN ((OLD.origin = 'produced' OR NEW.origin = 'produced')
		AND least(OLD.produced_on, NEW.produced_on) < shilian.figures_cache_horizon()
		AND (OLD.produced_on, OLD.product_id, OLD.owner_id, OLD.origin)
			IS DISTINCT FROM (NEW.produced_on, NEW.product_id, NEW.owner_id, NEW.origin))
	EXECUTE FUNCTION figures_cache_batch_changed();
DROP TRIGGER receipt_exception_upd ON batch;
CREATE TRIGGER receipt_exception_upd AFTER UPDATE OF expires_on, received_at ON batch
	FOR EACH ROW WHEN (OLD.expires_on IS DISTINCT FROM NEW.expires_on OR OLD.received_at IS DISTINCT FROM NEW.received_at)
	EXECUTE FUNCTION receipt_exception_changed();
