-- 0.2.0 -> 0.3.0, part 99u (issue 19).
--
-- The holders' index of recall_target leads with the recall (part 40):
-- every query by holder names the recall, and a new recall's entries then
-- go to the index's right edge, in key order (recall.c), instead of one
-- random leaf per target.
DROP INDEX recall_target_operator_idx;
CREATE INDEX recall_target_operator_idx ON recall_target (recall_id, operator_id);
