-- 0.2.0 -> 0.3.0, part 99o: the trace walk applies the caller's row-level
-- security policies itself (issue 19, docs/trace.md): link_from_idx and
-- link_to_idx also carry seller_id and buyer_id, the columns of link's
-- policies, so that a regulator's or operator's walk reads links
-- index-only too (part 20).
DROP INDEX link_from_idx;
CREATE INDEX link_from_idx ON link (from_batch) INCLUDE (to_batch, id, qty_accepted, received_at, seller_id, buyer_id);
DROP INDEX link_to_idx;
CREATE INDEX link_to_idx ON link (to_batch) INCLUDE (from_batch, id, qty_accepted, received_at, seller_id, buyer_id);
