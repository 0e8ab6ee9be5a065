/*
 * trace.c — the forward and backward walk over the batch graph (links), in
 * C: breadth-first with one SPI query per level (the whole frontier as one
 * bigint[] through link_from_idx / link_to_idx), each batch visited once (a
 * hash table keyed by batch id), then the quantity shares propagated over the
 * reached sub-graph in topological order. docs/trace.md states the rules.
 */
#include "records.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "trace.h"

/* The links the walk may hold per batch it may hold (shilian.trace_max_batches). */
#define TRACE_LINKS_PER_BATCH	8

typedef struct TraceHashEntry
{
	int64		id;				/* batch id: the key */
	int32		idx;			/* index into TraceWalk.nodes */
} TraceHashEntry;

typedef struct TraceEdge
{
	int32		u;				/* walked from (node index) */
	int32		v;				/* walked to */
	int64		link;
	Qty			q;				/* qty_accepted: in the source batch's unit */
} TraceEdge;

/* One level's links in walk direction, before the new batches are looked up. */
static SlStmt forward_level_stmt = {
	"SELECT l.id, l.from_batch, l.to_batch, l.qty_accepted FROM shilian.link l"
	" WHERE l.from_batch = ANY ($1) AND l.status = 'received' AND l.received_at <= $2",
	2, {"bigint[]", "timestamptz"}
};

static SlStmt backward_level_stmt = {
	"SELECT l.id, l.to_batch, l.from_batch, l.qty_accepted FROM shilian.link l"
	" WHERE l.to_batch = ANY ($1) AND l.status = 'received' AND l.received_at <= $2",
	2, {"bigint[]", "timestamptz"}
};

static SlStmt batches_stmt = {
	"SELECT b.id, b.trace_code, b.owner_id, b.qty, b.qty_left FROM shilian.batch b"
	" WHERE b.id = ANY ($1)",
	1, {"bigint[]"}
};

static SlStmt root_stmt = {
	"SELECT b.id, b.trace_code, b.owner_id, b.qty, b.qty_left FROM shilian.batch b"
	" WHERE b.trace_code OPERATOR(shilian.=) $1",
	1, {"shilian.trace_code"}
};

/*
 * On hand as of a past moment: what the records after that moment changed in
 * qty_left, per batch, to be added back (docs/trace.md, "on hand").
 *  - a sale or processing input removes qty_shipped on shipped_on and gives
 *    back what was not accepted (all of it if rejected) at received_at;
 *  - consumption removes its quantity at its time;
 *  - a receipt into an existing batch adds qty_accepted at received_at.
 */
static SlStmt as_of_stmt = {
	"SELECT l.from_batch,"
	"  (CASE l.status WHEN 'received' THEN l.qty_accepted WHEN 'pending' THEN l.qty_shipped"
	"    ELSE l.qty_shipped OPERATOR(shilian.-) l.qty_shipped END)"
	"  OPERATOR(shilian.-) (CASE WHEN l.shipped_on <= $2::date THEN l.qty_shipped"
	"    ELSE l.qty_shipped OPERATOR(shilian.-) l.qty_shipped END)"
	"  OPERATOR(shilian.+) (CASE WHEN l.status <> 'pending' AND l.received_at <= $2"
	"    THEN l.qty_shipped OPERATOR(shilian.-) coalesce(l.qty_accepted, l.qty_shipped OPERATOR(shilian.-) l.qty_shipped)"
	"    ELSE l.qty_shipped OPERATOR(shilian.-) l.qty_shipped END)"
	" FROM shilian.link l WHERE l.from_batch = ANY ($1) AND (l.shipped_on > $2::date OR l.received_at > $2)"
	" UNION ALL"
	" SELECT c.batch_id, c.qty FROM shilian.consumption c WHERE c.batch_id = ANY ($1) AND c.at > $2"
	" UNION ALL"
	" SELECT l.to_batch, OPERATOR(shilian.-) l.qty_accepted FROM shilian.link l"
	" WHERE l.to_batch = ANY ($1) AND l.status = 'received' AND l.received_at > $2",
	2, {"bigint[]", "timestamptz"}
};

/*
 * Run a walk statement. Prepared once per backend with a generic plan: a
 * custom plan would be re-planned for every level, and the planner's
 * selectivity estimate of "= ANY (array)" costs time per array element.
 */
static int
TraceExec(SlStmt *stmt, Datum *values)
{
	int			rc;

	if (stmt->plan == NULL)
	{
		Oid			types[lengthof(stmt->argtypes)];
		SPIPlanPtr	plan;

		for (int i = 0; i < stmt->nargs; i++)
			types[i] = SlTypeOid(stmt->argtypes[i]);
		plan = SPI_prepare_cursor(stmt->sql, stmt->nargs, types, CURSOR_OPT_GENERIC_PLAN);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), stmt->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		stmt->plan = plan;
	}
	rc = SPI_execute_plan(stmt->plan, values, NULL, true, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), stmt->sql);
	return rc;
}

static void
TraceLimitError(int64 limit, const char *what)
{
	ereport(ERROR,
			(errcode(SL_TRACE_TOO_LARGE),
			 errmsg("trace reaches more than %lld %s", (long long) limit, what),
			 errdetail("The walk holds every reached batch and link in memory, bounded by shilian.trace_max_batches (%d) batches and %d links per batch.",
					   shilian_trace_max_batches, TRACE_LINKS_PER_BATCH),
			 errhint("Bound the walk with max_depth, or raise shilian.trace_max_batches.")));
}

static ArrayType *
IdArray(int64 *ids, int n)
{
	return construct_array((Datum *) ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

static int32
NodeAdd(TraceWalk *w, HTAB *hash, int64 id, int depth, int64 via)
{
	TraceHashEntry *e;
	bool		found;

	e = hash_search(hash, &id, HASH_ENTER, &found);
	if (found)
		return e->idx;
	if (w->n >= shilian_trace_max_batches)
		TraceLimitError(shilian_trace_max_batches, "batches");
	if (w->n == w->cap)
	{
		w->cap *= 2;
		w->nodes = repalloc_huge(w->nodes, sizeof(TraceNode) * w->cap);
	}
	e->idx = w->n;
	memset(&w->nodes[w->n], 0, sizeof(TraceNode));
	w->nodes[w->n].id = id;
	w->nodes[w->n].depth = depth;
	w->nodes[w->n].via_link = via;
	return w->n++;
}

static int32
NodeFind(HTAB *hash, int64 id)
{
	TraceHashEntry *e = hash_search(hash, &id, HASH_FIND, NULL);

	if (e == NULL)
		elog(ERROR, "trace walk lost batch %lld", (long long) id);
	return e->idx;
}

/* Fill code, owner, qty, qty_left of nodes [from, to) by one query. */
static void
NodesLoad(TraceWalk *w, HTAB *hash, int32 from, int32 to)
{
	int64	   *ids;
	Datum		arg;

	if (from >= to)
		return;
	ids = palloc(sizeof(int64) * (to - from));
	for (int32 i = from; i < to; i++)
		ids[i - from] = w->nodes[i].id;
	arg = PointerGetDatum(IdArray(ids, to - from));
	TraceExec(&batches_stmt, &arg);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		TraceNode  *n = &w->nodes[NodeFind(hash, DatumGetInt64(SlGet(r, 1, NULL)))];

		n->code = DatumGetTraceCode(SlGet(r, 2, NULL));
		n->owner = DatumGetInt64(SlGet(r, 3, NULL));
		n->qty = DatumGetQty(SlGet(r, 4, NULL));
		n->qty_left = DatumGetQty(SlGet(r, 5, NULL));
		n->on_hand = n->qty_left;
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(ids);
}

/* a / b for two quantities of one dimension (0 when b is not positive). */
static double
QtyShare(Qty a, Qty b)
{
	int64		bm = QtyMilli(b);

	if (bm <= 0)
		return 0.0;
	return (double) QtyMilli(a) / (double) bm;
}

/*
 * Propagate the shares in topological order of the reached sub-graph (Kahn):
 * a batch's share is final once every reached link into it has been summed,
 * so a batch reached by several paths gets the sum over all of them.
 *   forward:  share(v) += share(u) * q / qty(u)   (fraction of the suspect lot in v)
 *   backward: share(v) += share(u) * q / qty(v)   (fraction of v that went into the suspect lot)
 */
static void
TracePropagate(TraceWalk *w, TraceEdge *edges, int64 nedges)
{
	int32	   *indeg = palloc0(sizeof(int32) * w->n);
	int64	   *start = palloc0(sizeof(int64) * (w->n + 1));
	int64	   *order = palloc(sizeof(int64) * Max(nedges, 1));
	int32	   *queue = palloc(sizeof(int32) * w->n);
	int32		head = 0,
				tail = 0;

	/* edges grouped by u (counting sort) */
	for (int64 e = 0; e < nedges; e++)
	{
		start[edges[e].u + 1]++;
		indeg[edges[e].v]++;
	}
	for (int32 i = 0; i < w->n; i++)
		start[i + 1] += start[i];
	{
		int64	   *fill = palloc(sizeof(int64) * w->n);

		memcpy(fill, start, sizeof(int64) * w->n);
		for (int64 e = 0; e < nedges; e++)
			order[fill[edges[e].u]++] = e;
		pfree(fill);
	}

	w->nodes[0].share = 1.0;
	for (int32 i = 0; i < w->n; i++)
		if (indeg[i] == 0)
			queue[tail++] = i;
	while (head < tail)
	{
		int32		u = queue[head++];

		if ((head & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 k = start[u]; k < start[u + 1]; k++)
		{
			TraceEdge  *e = &edges[order[k]];
			TraceNode  *from = &w->nodes[u];
			TraceNode  *to = &w->nodes[e->v];

			to->share += from->share * QtyShare(e->q, w->forward ? from->qty : to->qty);
			if (--indeg[e->v] == 0)
				queue[tail++] = e->v;
		}
	}
	/* the graph is acyclic (records refuse cycles), so every batch was reached */
	if (tail != w->n)
		elog(ERROR, "trace found a cycle in the batch graph");
	pfree(indeg);
	pfree(start);
	pfree(order);
	pfree(queue);
}

/* On hand as of a past moment, for every reached batch: one query. */
static void
TraceOnHandAsOf(TraceWalk *w, HTAB *hash, TimestampTz as_of)
{
	int64	   *ids = palloc(sizeof(int64) * w->n);
	Datum		args[2];

	for (int32 i = 0; i < w->n; i++)
		ids[i] = w->nodes[i].id;
	args[0] = PointerGetDatum(IdArray(ids, w->n));
	args[1] = TimestampTzGetDatum(as_of);
	TraceExec(&as_of_stmt, args);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		TraceNode  *n = &w->nodes[NodeFind(hash, DatumGetInt64(SlGet(r, 1, NULL)))];
		Qty			d = DatumGetQty(SlGet(r, 2, NULL));

		if (QtySameDimension(n->on_hand, d))
			n->on_hand = QtyAdd(n->on_hand, d);
	}
	SPI_freetuptable(SPI_tuptable);
	for (int32 i = 0; i < w->n; i++)
	{
		TraceNode  *n = &w->nodes[i];

		if (QtyMilli(n->on_hand) < 0)
			n->on_hand = QtyZero(QtyGetDimension(n->on_hand));
		if (QtyMilli(n->on_hand) > QtyMilli(n->qty))
			n->on_hand = n->qty;
	}
	pfree(ids);
}

static int
NodeOrder(const void *a, const void *b)
{
	const TraceNode *x = a;
	const TraceNode *y = b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	if (x->code != y->code)
		return x->code < y->code ? -1 : 1;
	return 0;
}

void
TraceWalkRun(TraceWalk *w, TraceCode root, bool forward, int max_depth, TimestampTz as_of,
			 MemoryContext result_cxt)
{
	HASHCTL		ctl;
	HTAB	   *hash;
	SlStmt	   *level = forward ? &forward_level_stmt : &backward_level_stmt;
	int64		max_edges = (int64) shilian_trace_max_batches * TRACE_LINKS_PER_BATCH;
	int64		nedges = 0,
				edge_cap = 1024;
	TraceEdge  *edges;
	int32		level_from,
				level_to,
				depth = 0;
	Datum		arg;

	memset(w, 0, sizeof(*w));
	w->forward = forward;
	w->cap = 1024;
	/* the nodes outlive SPI_finish; edges, hash and query results do not */
	w->nodes = MemoryContextAllocExtended(result_cxt, sizeof(TraceNode) * w->cap, MCXT_ALLOC_HUGE);
	edges = palloc_extended(sizeof(TraceEdge) * edge_cap, MCXT_ALLOC_HUGE);

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(TraceHashEntry);
	ctl.hcxt = CurrentMemoryContext;
	hash = hash_create("shilian trace", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	arg = TraceCodeGetDatum(root);
	TraceExec(&root_stmt, &arg);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(SL_UNKNOWN_BATCH),
				 errmsg("unknown batch %s", TraceCodeToCString(root)),
				 errdetail("No batch has this trace code.")));
	NodeAdd(w, hash, DatumGetInt64(SlGet(0, 1, NULL)), 0, 0);
	SPI_freetuptable(SPI_tuptable);
	NodesLoad(w, hash, 0, 1);

	level_from = 0;
	level_to = 1;
	while (level_from < level_to && (max_depth < 0 || depth < max_depth))
	{
		int64	   *ids = palloc(sizeof(int64) * (level_to - level_from));
		Datum		args[2];

		CHECK_FOR_INTERRUPTS();
		for (int32 i = level_from; i < level_to; i++)
			ids[i - level_from] = w->nodes[i].id;
		args[0] = PointerGetDatum(IdArray(ids, level_to - level_from));
		args[1] = TimestampTzGetDatum(as_of);
		TraceExec(level, args);
		pfree(ids);
		pfree(DatumGetPointer(args[0]));

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			int64		link = DatumGetInt64(SlGet(r, 1, NULL));
			int64		vid = DatumGetInt64(SlGet(r, 3, NULL));
			int32		u,
						v;

			if ((r & 1023) == 1023)
				CHECK_FOR_INTERRUPTS();
			u = NodeFind(hash, DatumGetInt64(SlGet(r, 2, NULL)));
			v = NodeAdd(w, hash, vid, depth + 1, link);
			/* first reached by: the lowest depth, then the lowest link id */
			if (w->nodes[v].depth == depth + 1 && link < w->nodes[v].via_link)
				w->nodes[v].via_link = link;
			if (nedges >= max_edges)
				TraceLimitError(max_edges, "links");
			if (nedges == edge_cap)
			{
				edge_cap *= 2;
				edges = repalloc_huge(edges, sizeof(TraceEdge) * edge_cap);
			}
			edges[nedges].u = u;
			edges[nedges].v = v;
			edges[nedges].link = link;
			edges[nedges].q = DatumGetQty(SlGet(r, 4, NULL));
			nedges++;
		}
		SPI_freetuptable(SPI_tuptable);
		level_from = level_to;
		level_to = w->n;
		depth++;
	}
	/* the reached batches' rows, in one scan over ids in order (the root's is loaded) */
	NodesLoad(w, hash, 1, w->n);

	TracePropagate(w, edges, nedges);
	if (as_of < GetCurrentTransactionStartTimestamp())
		TraceOnHandAsOf(w, hash, as_of);
	for (int32 i = 0; i < w->n; i++)
	{
		TraceNode  *n = &w->nodes[i];
		Qty			unit = forward ? w->nodes[0].qty : n->qty;
		double		m = n->share * (double) QtyMilli(unit);

		n->reached = QtyFromMilli(QtyGetDimension(unit), (int64) llround(m));
	}
	qsort(w->nodes, w->n, sizeof(TraceNode), NodeOrder);
	pfree(edges);
	hash_destroy(hash);
}

/* The text of a node's status: origin, on_hand or depleted. */
const char *
TraceNodeStatus(const TraceNode *n)
{
	if (n->depth == 0)
		return "origin";
	return QtyMilli(n->on_hand) > 0 ? "on_hand" : "depleted";
}

static Datum
TraceSrf(FunctionCallInfo fcinfo, bool forward)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TraceCode	root;
	int			max_depth = -1;
	TimestampTz as_of;
	TraceWalk	w;
	MemoryContext caller_cxt;

	RecordRequire(fcinfo, 0, "code");
	root = PG_GETARG_TRACE_CODE(0);
	if (!PG_ARGISNULL(1))
	{
		max_depth = PG_GETARG_INT32(1);
		if (max_depth < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("max_depth must not be negative"),
					 errhint("Pass NULL for a walk without a depth bound.")));
	}
	as_of = PG_ARGISNULL(2) ? GetCurrentTransactionStartTimestamp() : PG_GETARG_TIMESTAMPTZ(2);

	InitMaterializedSRF(fcinfo, 0);
	caller_cxt = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	TraceWalkRun(&w, root, forward, max_depth, as_of, caller_cxt);
	SPI_finish();

	for (int32 i = 0; i < w.n; i++)
	{
		TraceNode  *n = &w.nodes[i];
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = TraceCodeGetDatum(n->code);
		values[1] = Int64GetDatum(n->owner);
		values[2] = Int32GetDatum(n->depth);
		values[3] = Int64GetDatum(n->via_link);
		nulls[3] = n->depth == 0;
		values[4] = QtyGetDatum(n->reached);
		values[5] = QtyGetDatum(n->on_hand);
		values[6] = CStringGetTextDatum(TraceNodeStatus(n));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(w.nodes);
	return (Datum) 0;
}

/* trace_forward(code, max_depth, as_of): every batch downstream of code. */
PG_FUNCTION_INFO_V1(sl_trace_forward);
Datum
sl_trace_forward(PG_FUNCTION_ARGS)
{
	return TraceSrf(fcinfo, true);
}

/* trace_backward(code, max_depth, as_of): every batch upstream of code. */
PG_FUNCTION_INFO_V1(sl_trace_backward);
Datum
sl_trace_backward(PG_FUNCTION_ARGS)
{
	return TraceSrf(fcinfo, false);
}
