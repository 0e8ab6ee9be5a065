-- part 25 (sql/src/10_types.sql): qty comparison is a total order by
-- (dimension, amount), so ANALYZE, sorts, DISTINCT and merge joins work on
-- columns mixing units; min/max keep refusing mixed dimensions (no SORTOP).
COMMENT ON FUNCTION qty_lt(qty, qty) IS 'qty less than in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_le(qty, qty) IS 'qty less than or equal in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_gt(qty, qty) IS 'qty greater than in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_ge(qty, qty) IS 'qty greater than or equal in the btree order (dimension mass < volume < count, then amount).';
COMMENT ON FUNCTION qty_eq(qty, qty) IS 'qty equal (same dimension and amount; a mass never equals a volume).';
COMMENT ON FUNCTION qty_ne(qty, qty) IS 'qty not equal (true for quantities of two dimensions).';
COMMENT ON OPERATOR = (qty, qty) IS 'qty equal (false across dimensions)';
COMMENT ON OPERATOR <> (qty, qty) IS 'qty not equal (true across dimensions)';
COMMENT ON OPERATOR < (qty, qty) IS 'qty less than in the btree order (mass < volume < count, then amount)';
COMMENT ON OPERATOR <= (qty, qty) IS 'qty less than or equal in the btree order (mass < volume < count, then amount)';
COMMENT ON OPERATOR > (qty, qty) IS 'qty greater than in the btree order (mass < volume < count, then amount)';
COMMENT ON OPERATOR >= (qty, qty) IS 'qty greater than or equal in the btree order (mass < volume < count, then amount)';
COMMENT ON FUNCTION qty_cmp(qty, qty) IS 'btree support: -1, 0 or 1 in the total order by dimension (mass < volume < count), then amount in the base unit; never an error.';
COMMENT ON OPERATOR CLASS qty_ops USING btree IS 'B-tree support for qty: a total order by dimension (mass < volume < count), then amount, so columns mixing units sort, index and analyze.';
DROP AGGREGATE min(qty);
DROP AGGREGATE max(qty);
-- min and max refuse mixed dimensions like sum; without a SORTOP the planner
-- never answers them from the btree order (which would not refuse).
CREATE AGGREGATE min(qty) (
	SFUNC = qty_smaller, STYPE = qty, COMBINEFUNC = qty_smaller, PARALLEL = SAFE
);
COMMENT ON AGGREGATE min(qty) IS 'The smallest quantity (one dimension; an error if they mix).';
CREATE AGGREGATE max(qty) (
	SFUNC = qty_larger, STYPE = qty, COMBINEFUNC = qty_larger, PARALLEL = SAFE
);
COMMENT ON AGGREGATE max(qty) IS 'The largest quantity (one dimension; an error if they mix).';

