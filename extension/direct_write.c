/*
 * direct_write.c — rows written into a table as COPY FROM writes them.
 *
 * Two writers make many rows of one plain table at once from values they
 * hold in C: recall_open's targets (recall.c, 35,000 rows for the bench's
 * widest walk) and the bulk upload's per-line report (import.c, a row per
 * line). Through INSERT ... SELECT each row went through the executor alone
 * (a projection, a slot, a heap insert, its index entries). Here, as
 * copyfrom.c does: the rows are built in slots by the caller, the column
 * constraints checked (ExecConstraints), the heap written a batch at a time
 * (table_multi_insert), then each row's index entries (or, with sorts, the
 * caller's sorted build of them) and its AFTER ROW trigger events; the
 * statement triggers, with their transition tables, fire around it all.
 *
 * That is only the same as the INSERT while the table is in the shape
 * SlDirectWriteShape checks: a plain table without rules or BEFORE /
 * INSTEAD OF ROW INSERT triggers (which could change or skip a row), row-
 * level security not applying to the writer, no generated column. The
 * callers check their columns besides, and insert through SQL otherwise.
 */
#include "direct_write.h"

#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/memutils.h"
#include "utils/rls.h"

/* Whether rel can be written here (see above); the caller checks its columns. */
bool
SlDirectWriteShape(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL)
		return false;
	/* a BEFORE ROW trigger could change or skip a row: the INSERT runs it */
	if (rel->trigdesc != NULL && (rel->trigdesc->trig_insert_before_row || rel->trigdesc->trig_insert_instead_row))
		return false;
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		return false;
	if (desc->constr != NULL && desc->constr->has_generated_stored)
		return false;
	return true;
}

/*
 * Open the write into rel (opened by the caller with RowExclusiveLock): an
 * executor state with a range table of the one relation, whose result
 * relation has its indexes open and fires the triggers; the BEFORE
 * STATEMENT triggers fired.
 */
void
SlDirectWriteBegin(SlDirectWrite *dw, Relation rel)
{
	RangeTblEntry *rte;
	MemoryContext old;

	dw->rel = rel;
	dw->estate = CreateExecutorState();
	dw->cid = GetCurrentCommandId(true);
	dw->estate->es_output_cid = dw->cid;
	old = MemoryContextSwitchTo(dw->estate->es_query_cxt);
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
#if PG_VERSION_NUM >= 160000
	ExecInitRangeTable(dw->estate, list_make1(rte), NIL);
#else
	ExecInitRangeTable(dw->estate, list_make1(rte));
#endif
	dw->rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(dw->estate, dw->rri, 1);
	CheckValidResultRel(dw->rri, CMD_INSERT);
	ExecOpenIndices(dw->rri, false);
	MemoryContextSwitchTo(old);

	AfterTriggerBeginQuery();
	dw->tcs = MakeTransitionCaptureState(rel->trigdesc, RelationGetRelid(rel), CMD_INSERT);
	ExecBSInsertTriggers(dw->estate, dw->rri);
}

/*
 * Write the *nslots rows waiting in slots (built, constraints checked,
 * materialized), then each one's index entries (into sorts[i] for index i
 * when sorts is given: the caller builds them after) and AFTER ROW trigger
 * events; the slots cleared, *nslots 0.
 */
void
SlDirectWriteFlush(SlDirectWrite *dw, Tuplesortstate **sorts, TupleTableSlot **slots, int *nslots)
{
	EState	   *estate = dw->estate;
	ResultRelInfo *rri = dw->rri;

	if (*nslots == 0)
		return;
	table_multi_insert(dw->rel, slots, *nslots, dw->cid, 0, NULL);
	for (int k = 0; k < *nslots; k++)
	{
		List	   *recheck = NIL;

		GetPerTupleExprContext(estate)->ecxt_scantuple = slots[k];
		for (int i = 0; sorts != NULL && i < rri->ri_NumIndices; i++)
		{
			Datum		values[INDEX_MAX_KEYS];
			bool		isnull[INDEX_MAX_KEYS];

			FormIndexDatum(rri->ri_IndexRelationInfo[i], slots[k], estate, values, isnull);
			tuplesort_putindextuplevalues(sorts[i], rri->ri_IndexRelationDescs[i], &slots[k]->tts_tid,
										  values, isnull);
		}
		if (sorts == NULL && rri->ri_NumIndices > 0)
#if PG_VERSION_NUM >= 160000
			recheck = ExecInsertIndexTuples(rri, slots[k], estate, false, false, NULL, NIL, false);
#else
			recheck = ExecInsertIndexTuples(rri, slots[k], estate, false, false, NULL, NIL);
#endif
		/* a deferred unique check needs its trigger event, which only the INSERT queues */
		if (recheck != NIL)
			elog(ERROR, "shilian.%s has a deferred index constraint", RelationGetRelationName(dw->rel));
		ExecARInsertTriggers(estate, rri, slots[k], NIL, dw->tcs);
		ResetPerTupleExprContext(estate);
		ExecClearTuple(slots[k]);
	}
	*nslots = 0;
}

/*
 * End the write (every row flushed, the caller's slots dropped): the AFTER
 * STATEMENT triggers fired, the queued AFTER events run, the slots the
 * AFTER ROW triggers were given the rows in released (as COPY FROM releases
 * them: a DBA's AFTER ROW trigger otherwise left a TupleDesc reference
 * leak), the relations closed. The caller closes rel and makes the rows
 * visible to its next statements (CommandCounterIncrement).
 */
void
SlDirectWriteEnd(SlDirectWrite *dw)
{
	ExecASInsertTriggers(dw->estate, dw->rri, dw->tcs);
	AfterTriggerEndQuery(dw->estate);
	ExecResetTupleTable(dw->estate->es_tupleTable, false);
	ExecCloseResultRelations(dw->estate);
	ExecCloseRangeTableRelations(dw->estate);
	FreeExecutorState(dw->estate);
	dw->estate = NULL;
}
