/*
 * direct_write.h — rows written into a table as COPY FROM writes them
 * (direct_write.c): recall_open's targets (recall.c) and the bulk upload's
 * per-line report (import.c).
 */
#ifndef SHILIAN_DIRECT_WRITE_H
#define SHILIAN_DIRECT_WRITE_H

#include "postgres.h"

#include "commands/trigger.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"
#if PG_VERSION_NUM >= 160000
#include "utils/tuplesortvariants.h"
#else
#include "utils/tuplesort.h"
#endif

typedef struct SlDirectWrite
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;			/* the indexes open, the triggers to fire */
	TransitionCaptureState *tcs;
	CommandId	cid;
} SlDirectWrite;

extern bool SlDirectWriteShape(Relation rel);
extern void SlDirectWriteBegin(SlDirectWrite *dw, Relation rel);
extern void SlDirectWriteFlush(SlDirectWrite *dw, Tuplesortstate **sorts, TupleTableSlot **slots, int *nslots);
extern void SlDirectWriteEnd(SlDirectWrite *dw);

#endif							/* SHILIAN_DIRECT_WRITE_H */
