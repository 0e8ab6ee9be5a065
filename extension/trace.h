/*
 * trace.h — the walk over the batch graph (trace.c), shared with the recall
 * functions: one node per reached batch with its depth, the link it was
 * first reached by and its quantities; and the SQLSTATEs of trace and recall
 * (class SL, area T; docs/errors.md).
 */
#ifndef SHILIAN_TRACE_H
#define SHILIAN_TRACE_H

#include "shilian.h"

#include "datatype/timestamp.h"
#include "utils/palloc.h"

#include "types.h"

#define SL_TRACE_TOO_LARGE		SL_ERRCODE('T', '0', '1')

typedef struct TraceNode
{
	int64		id;				/* batch id */
	TraceCode	code;
	int64		owner;			/* holder */
	Qty			qty;			/* the lot's whole quantity */
	Qty			qty_left;		/* on hand now */
	Qty			on_hand;		/* on hand as of the walk's moment */
	int32		depth;
	int64		via_link;		/* first reached by (0 for the root) */
	double		share;			/* see TracePropagate in trace.c */
	Qty			reached;		/* qty_reached */
	bool		loaded;			/* the batch row was read */
	bool		hidden;			/* another holder's lot the caller may not read */
} TraceNode;

typedef struct TraceWalk
{
	bool		forward;
	int32		n;				/* nodes[0 .. n): in the order reached, so by depth */
	int32		cap;
	TraceNode  *nodes;
} TraceWalk;

/*
 * Walk from root (forward: downstream, else upstream) over links received by
 * as_of, at most max_depth links deep (-1: no bound). The caller is connected
 * to SPI; the nodes are allocated in result_cxt so that they outlive
 * SPI_finish. Errors SL T01 past shilian.trace_max_batches.
 */
extern void TraceWalkRun(TraceWalk *w, TraceCode root, bool forward, int max_depth,
						 TimestampTz as_of, MemoryContext result_cxt);
extern const char *TraceNodeStatus(const TraceNode *n);

#endif
