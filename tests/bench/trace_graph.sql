-- Deterministic supply-chain graph for tests/bench/trace.sh: plain set-based
-- inserts straight into shilian.batch and shilian.link (no record functions,
-- no validation, FK triggers off), sources picked by a seeded hash
-- (hashint8extended) with locality so that reach sizes look like a province.
-- psql variables: scale (1.0 = 1,000,000 batches, about 3,000,000 links), seed.
--
-- Tiers (batch ids in this order):
--   farm lots        20%   ids 1 ..            (lots 1..100*scale are ingredient hubs)
--   processor lots   15%   on lines of 75 lots; 95% of the lots carry residue
--                          of the previous lot on the same line (carry-over);
--                          plants of 8 lines share intermediate products
--   wholesaler lots  25%
--   retail/canteen   40%
-- Links: farm -> processor 4 per processor lot (near farms; an ingredient
-- lot feeds 6 consecutive runs of a line) plus each hub to 20 processor lots;
-- intermediate products: each processor lot takes two inputs from earlier
-- lots on earlier lines of the same plant; carry-over; processor -> wholesaler 3 per lot;
-- farm -> wholesaler 1.2 per lot (fresh produce); wholesaler -> retail 3 per lot.

\set ON_ERROR_STOP 1
SET session_replication_role = replica;	-- no FK triggers: the bench writes a valid graph itself
SET synchronous_commit = off;
SET max_parallel_workers_per_gather = 0;

CREATE TEMP TABLE tier AS
SELECT round(200000 * :scale)::bigint AS nf, round(150000 * :scale / 75)::bigint * 75 AS np,
	   round(250000 * :scale)::bigint AS nw, round(400000 * :scale)::bigint AS nr,
	   greatest(round(100 * :scale), 1)::bigint AS nhub, :seed::bigint AS seed;

INSERT INTO shilian.jurisdiction (code, name, level, parent, ancestors)
VALUES ('370000', '山东省', 'province', NULL, '{370000}');
INSERT INTO shilian.operator (reg_card, name, address, contact, segment, kinds, station, status)
SELECT 'BENCH-' || k, k || ' operator', 'x', 'x',
	   CASE WHEN k IN ('farm', 'processor') THEN 'production' ELSE 'circulation' END, ARRAY[k], '370000', 'active'
  FROM unnest(ARRAY['farm', 'processor', 'wholesaler', 'retailer']) k;
INSERT INTO shilian.product (name, category) VALUES ('bench product', 'other');

-- 1. batches, in tier order (ids 1..N as generated)
INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on, origin)
SELECT shilian.trace_code_next('370000'),
	   CASE WHEN g <= t.nf THEN 1 WHEN g <= t.nf + t.np THEN 2 WHEN g <= t.nf + t.np + t.nw THEN 3 ELSE 4 END,
	   1, '1000 kg', '400 kg', '2026-01-01',
	   CASE WHEN g <= t.nf THEN 'produced' WHEN g <= t.nf + t.np THEN 'transformed' ELSE 'received' END
  FROM tier t, generate_series(1, t.nf + t.np + t.nw + t.nr) g
 ORDER BY g;

-- 2. links: (from, to, kind) by tier, one statement
INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped, qty_accepted,
	shipped_on, received_at, status)
SELECT e.kind, e.f, e.t, 1, 1, q.q, q.q, '2026-01-02', '2026-01-02 10:00+08', 'received'
  FROM tier t
 CROSS JOIN LATERAL (
	-- farm -> processor: 4 inputs from farms near the processor lot's
	-- position; an ingredient lot lasts 6 consecutive runs of a line, so a
	-- line's lots are reached both directly and through the residue chain
	SELECT 'transform' AS kind,
		   1 + (j * t.nf / t.np + abs(hashint8extended(((j + 2 * k) / 6) * 8 + k, t.seed)) % 2000) % t.nf AS f,
		   t.nf + 1 + j AS t
	  FROM generate_series(0, t.np - 1) j, generate_series(1, 4) k
	UNION ALL
	-- ingredient hubs: each of the first lots feeds 20 processor lots anywhere
	SELECT 'transform', h, t.nf + 1 + abs(hashint8extended(h * 1000 + m, t.seed + 1)) % t.np
	  FROM generate_series(1, t.nhub) h, generate_series(1, 20) m
	UNION ALL
	-- intermediate products inside a plant (8 lines of 75 lots): every lot
	-- uses two lots made a little earlier on earlier lines of the same plant
	SELECT 'transform', t.nf + 1 + j - 75 * (1 + abs(hashint8extended(j * 2 + k, t.seed + 7)) % 7)
			- 1 - abs(hashint8extended(j * 2 + k, t.seed + 8)) % 3,
		   t.nf + 1 + j
	  FROM generate_series(0, t.np - 1) j, generate_series(0, 1) k
	 WHERE j - 75 * (1 + abs(hashint8extended(j * 2 + k, t.seed + 7)) % 7) - 1
			- abs(hashint8extended(j * 2 + k, t.seed + 8)) % 3 >= (j / 600) * 600
	UNION ALL
	-- carry-over: residue of the previous lot on the same line (95%)
	SELECT 'transform', t.nf + j, t.nf + 1 + j
	  FROM generate_series(1, t.np - 1) j
	 WHERE j % 75 <> 0 AND abs(hashint8extended(j, t.seed + 2)) % 100 < 95
	UNION ALL
	-- processor -> wholesaler: 3 per wholesaler lot, near its position
	SELECT 'ship', t.nf + 1 + (w * t.np / t.nw + abs(hashint8extended(w * 4 + k, t.seed + 3)) % 500) % t.np,
		   t.nf + t.np + 1 + w
	  FROM generate_series(0, t.nw - 1) w, generate_series(1, 3) k
	UNION ALL
	-- farm -> wholesaler (fresh produce): 1 per lot, a second for every fifth
	SELECT 'ship', 1 + (w * t.nf / t.nw + abs(hashint8extended(w * 2 + k, t.seed + 4)) % 2000) % t.nf,
		   t.nf + t.np + 1 + w
	  FROM generate_series(0, t.nw - 1) w, generate_series(1, 2) k
	 WHERE k = 1 OR w % 5 = 0
	UNION ALL
	-- wholesaler -> retail/canteen: 3 per lot, near its position
	SELECT 'ship', t.nf + t.np + 1 + (r * t.nw / t.nr + abs(hashint8extended(r * 4 + k, t.seed + 5)) % 1000) % t.nw,
		   t.nf + t.np + t.nw + 1 + r
	  FROM generate_series(0, t.nr - 1) r, generate_series(1, 3) k
 ) e
 CROSS JOIN LATERAL (SELECT shilian.qty(10 + abs(hashint8extended(e.f * 31 + e.t, t.seed + 6)) % 90, 'kg') AS q) q;

RESET session_replication_role;
-- (vacuumed by tests/bench/trace.sh until the visibility map covers them)
