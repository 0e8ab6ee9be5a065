-- 0.2.0 -> 0.3.0, part 99j: the trace walk reads links index-only (issue 19).
-- link_from_idx and link_to_idx carry the other end, the link id,
-- qty_accepted and received_at (part 20).
DROP INDEX link_from_idx;
CREATE INDEX link_from_idx ON link (from_batch) INCLUDE (to_batch, id, qty_accepted, received_at);
DROP INDEX link_to_idx;
CREATE INDEX link_to_idx ON link (to_batch) INCLUDE (from_batch, id, qty_accepted, received_at);
