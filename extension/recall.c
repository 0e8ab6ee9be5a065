/*
 * recall.c — the targets of a new recall written from its walk.
 *
 * recall_open (sql/src/40_trace.sql) materializes one recall_target row
 * per lot its walk reaches: 35,000 rows for the bench's widest walk. Written
 * by INSERT ... SELECT FROM trace_targets(...) each row went through the
 * executor alone (a heap insert, then its index entries) and the holders were
 * counted by a second scan of the rows just written; that was over two
 * thirds of opening the recall (issue 19). Here the walk's nodes become rows
 * in batch id order, a thousand at a time by table_multi_insert, with the
 * column defaults, NOT NULL and CHECK constraints applied as INSERT applies
 * them; then each index gets its entries in its own key order, inserted and
 * checked (RecallIndexSorted: both installed indexes lead with the recall,
 * so they grow at their right edge); and the holders are counted from the
 * walk.
 *
 * Its statement and AFTER triggers fire as for that INSERT (the webhook
 * outbox's statement trigger reads the rows from its transition table), by
 * the executor's own calls, as COPY FROM makes them (direct_write.c, which
 * the import's report shares). That is only the same as the INSERT while
 * recall_target has its installed shape: a plain table without rules or
 * BEFORE ROW INSERT triggers, whose columns written here are of the walk's
 * types (no domain), with row-level security not applying to the writer.
 * Otherwise (a DBA's trigger that edits rows, say) the rows go through the
 * INSERT as before.
 */
#include "records.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "utils/tuplesortvariants.h"
#else
#include "utils/tuplesort.h"
#endif

#include "direct_write.h"
#include "trace.h"

/* Rows per table_multi_insert call. */
#define RECALL_MULTI_INSERT 1000

enum
{
	RC_RECALL, RC_BATCH, RC_CODE, RC_OPERATOR, RC_DEPTH, RC_VIA, RC_EXPOSED, RC_ON_HAND, RC_NCOLS
};
static const char *const rc_names[RC_NCOLS] = {
	"recall_id", "batch_id", "trace_code", "operator_id", "depth", "via_link", "qty_exposed", "qty_on_hand"
};

static int
NodeByBatchId(const void *a, const void *b)
{
	int64		x = (*(TraceNode *const *) a)->id;
	int64		y = (*(TraceNode *const *) b)->id;

	return x < y ? -1 : x > y ? 1 : 0;
}

static int
CompareInt64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * The attribute numbers of the written columns, or false when the table is
 * not in the shape the direct write assumes (see the head of the file).
 */
static bool
RecallTargetShape(Relation rel, AttrNumber *attnum)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (!SlDirectWriteShape(rel))
		return false;
	for (int c = 0; c < RC_NCOLS; c++)
	{
		AttrNumber	a = get_attnum(RelationGetRelid(rel), rc_names[c]);

		if (a == InvalidAttrNumber || get_typtype(TupleDescAttr(desc, a - 1)->atttypid) == TYPTYPE_DOMAIN)
			return false;
		attnum[c] = a;
	}
	return true;
}

/* The rows through INSERT ... SELECT FROM trace_targets, as before the direct write. */
static int64
RecallTargetsViaInsert(int64 recall, TraceCode code, const char *direction)
{
	Oid			types[3] = {INT8OID, SlTypeOid("shilian.trace_code"), TEXTOID};
	Datum		values[3];
	int			rc;

	values[0] = Int64GetDatum(recall);
	values[1] = TraceCodeGetDatum(code);
	values[2] = CStringGetTextDatum(direction);
	rc = SPI_execute_with_args(
		"INSERT INTO shilian.recall_target (recall_id, batch_id, trace_code, operator_id, depth,"
		" via_link, qty_exposed, qty_on_hand)"
		" SELECT $1, w.batch_id, w.batch, w.holder, w.depth, w.via_link, w.qty_reached, w.qty_on_hand"
		"   FROM shilian.trace_targets($2, $3) w",
		3, types, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "inserting the targets of recall " INT64_FORMAT " failed: %s",
			 recall, SPI_result_code_string(rc));
	return (int64) SPI_processed;
}

/*
 * The index entries of the rows in each index's own order. Each row's entry
 * goes into its index's sort (sorts[i], NULL for an index taking them row by
 * row); once every row is written, RecallIndexSorted inserts them in key
 * order, so that each btree grows at its right edge (the insertion's
 * fast path: no descent from the root) instead of at one random leaf per
 * row. The rows come in batch id order, the order of the primary key
 * (recall_id, batch_id); the holders' index (recall_id, operator_id) is the
 * one this saves: a descent and a leaf out of cache per row was a third of
 * opening a recall of 35,000 lots (issue 19).
 *
 * Only when every index is a plain btree whose uniqueness is checked at
 * once (the installed ones): with any other (a partial or exclusion index, a
 * deferred unique one, another access method) all entries go in row by row
 * through ExecInsertIndexTuples, as before. A duplicate key is refused by
 * the unique index's insertion, with its usual error.
 */
static bool
RecallIndexSortable(Relation index, IndexInfo *ii)
{
	return index->rd_rel->relam == BTREE_AM_OID && ii->ii_Predicate == NIL &&
		ii->ii_ExclusionOps == NULL && (!ii->ii_Unique || index->rd_index->indimmediate);
}

static void
RecallIndexSorted(ResultRelInfo *rri, Relation rel, Tuplesortstate **sorts)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];
		IndexTuple	itup;

		tuplesort_performsort(sorts[i]);
		while ((itup = tuplesort_getindextuple(sorts[i], true)) != NULL)
		{
			CHECK_FOR_INTERRUPTS();
			index_deform_tuple(itup, RelationGetDescr(index), values, isnull);
			index_insert(index, values, isnull, &itup->t_tid, rel,
						 ii->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false, ii);
		}
		tuplesort_end(sorts[i]);
		sorts[i] = NULL;
	}
}

/*
 * recall_targets_write(recall, code, direction) -> (targets, holders): the
 * targets of recall as its walk (trace_targets(code, direction)) finds
 * them, written into recall_target; how many rows, and how many distinct
 * holders they name.
 */
PG_FUNCTION_INFO_V1(sl_recall_targets_write);
Datum
sl_recall_targets_write(PG_FUNCTION_ARGS)
{
	int64		recall;
	TraceCode	code;
	char	   *direction;
	bool		forward;
	TupleDesc	rdesc;
	Datum		result[2];
	bool		rnull[2] = {false, false};
	TraceWalk	w;
	Oid			relid;
	Relation	rel;
	AttrNumber	attnum[RC_NCOLS];
	int64		targets;
	int64		holders = 0;
	AclResult	acl;
	MemoryContext caller_cxt = CurrentMemoryContext;

	RecordRequire(fcinfo, 0, "recall");
	RecordRequire(fcinfo, 1, "code");
	RecordRequire(fcinfo, 2, "direction");
	recall = PG_GETARG_INT64(0);
	code = PG_GETARG_TRACE_CODE(1);
	direction = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(direction, "forward") == 0)
		forward = true;
	else if (strcmp(direction, "backward") == 0)
		forward = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown trace direction \"%s\"", direction),
				 errhint("Use \"forward\" or \"backward\".")));
	if (get_call_result_type(fcinfo, NULL, &rdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "recall_targets_write must return a record");
	rdesc = BlessTupleDesc(rdesc);

	relid = get_relname_relid("recall_target", get_namespace_oid("shilian", false));
	if (!OidIsValid(relid))
		elog(ERROR, "relation shilian.recall_target is missing");
	acl = pg_class_aclcheck(relid, GetUserId(), ACL_INSERT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, "recall_target");

	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rel = table_open(relid, RowExclusiveLock);
	if (!RecallTargetShape(rel, attnum))
	{
		table_close(rel, NoLock);
		targets = RecallTargetsViaInsert(recall, code, direction);
		if (SPI_execute_with_args("SELECT count(DISTINCT operator_id) FROM shilian.recall_target"
								  " WHERE recall_id = $1", 1, (Oid[]) {INT8OID},
								  (Datum[]) {Int64GetDatum(recall)}, NULL, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "counting the holders of recall " INT64_FORMAT " failed", recall);
		holders = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &rnull[1]));
		SPI_finish();
	}
	else
	{
		TupleDesc	desc = RelationGetDescr(rel);
		SlDirectWrite dw;
		EState	   *estate;
		ResultRelInfo *rri;
		TupleTableSlot **slots;
		Tuplesortstate **sorts;
		int			nslots = 0;
		int			ndefaults = 0;
		AttrNumber *defattnum;
		ExprState **defexpr;
		TraceNode **order;
		int64	   *owners;
		MemoryContext old;

		TraceWalkRun(&w, code, forward, -1, GetCurrentTransactionStartTimestamp(), caller_cxt);
		SPI_finish();

		/* in the caller's context: SPI's went with SPI_finish */
		SlDirectWriteBegin(&dw, rel);
		estate = dw.estate;
		rri = dw.rri;
		old = MemoryContextSwitchTo(estate->es_query_cxt);
		/* each index's entries sorted, when every index allows it (RecallIndexSorted) */
		sorts = palloc0(sizeof(Tuplesortstate *) * Max(rri->ri_NumIndices, 1));
		for (int i = 0; i < rri->ri_NumIndices; i++)
			if (!RecallIndexSortable(rri->ri_IndexRelationDescs[i], rri->ri_IndexRelationInfo[i]))
			{
				pfree(sorts);
				sorts = NULL;
				break;
			}
		for (int i = 0; sorts != NULL && i < rri->ri_NumIndices; i++)
			sorts[i] = tuplesort_begin_index_btree(rel, rri->ri_IndexRelationDescs[i], false, false,
												   maintenance_work_mem, NULL, TUPLESORT_NONE);
		/* the defaults of the columns not written (notified_at: now()), as INSERT evaluates them */
		defattnum = palloc(sizeof(AttrNumber) * desc->natts);
		defexpr = palloc(sizeof(ExprState *) * desc->natts);
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			bool		written = false;
			Node	   *def;

			for (int c = 0; c < RC_NCOLS; c++)
				written |= attnum[c] == att->attnum;
			if (att->attisdropped || written)
				continue;
			def = build_column_default(rel, att->attnum);
			if (def == NULL)
				continue;
			defattnum[ndefaults] = att->attnum;
			defexpr[ndefaults] = ExecInitExpr(expression_planner((Expr *) def), NULL);
			ndefaults++;
		}
		MemoryContextSwitchTo(old);

		order = palloc(sizeof(TraceNode *) * Max(w.n, 1));
		owners = palloc(sizeof(int64) * Max(w.n, 1));
		for (int32 i = 0; i < w.n; i++)
		{
			order[i] = &w.nodes[i];
			owners[i] = w.nodes[i].owner;
		}
		qsort(order, w.n, sizeof(TraceNode *), NodeByBatchId);
		qsort(owners, w.n, sizeof(int64), CompareInt64);
		for (int32 i = 0; i < w.n; i++)
			if (i == 0 || owners[i] != owners[i - 1])
				holders++;

		slots = palloc(sizeof(TupleTableSlot *) * RECALL_MULTI_INSERT);
		for (int k = 0; k < RECALL_MULTI_INSERT && k < w.n; k++)
			slots[k] = MakeSingleTupleTableSlot(desc, table_slot_callbacks(rel));
		for (int32 i = 0; i < w.n; i++)
		{
			TraceNode  *n = order[i];
			TupleTableSlot *slot = slots[nslots];
			ExprContext *econtext = GetPerTupleExprContext(estate);

			ExecClearTuple(slot);
			memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
			slot->tts_values[attnum[RC_RECALL] - 1] = Int64GetDatum(recall);
			slot->tts_values[attnum[RC_BATCH] - 1] = Int64GetDatum(n->id);
			slot->tts_values[attnum[RC_CODE] - 1] = TraceCodeGetDatum(n->code);
			slot->tts_values[attnum[RC_OPERATOR] - 1] = Int64GetDatum(n->owner);
			slot->tts_values[attnum[RC_DEPTH] - 1] = Int32GetDatum(n->depth);
			slot->tts_values[attnum[RC_VIA] - 1] = Int64GetDatum(n->via_link);
			slot->tts_values[attnum[RC_EXPOSED] - 1] = QtyGetDatum(n->reached);
			slot->tts_values[attnum[RC_ON_HAND] - 1] = QtyGetDatum(n->on_hand);
			for (int c = 0; c < RC_NCOLS; c++)
				slot->tts_isnull[attnum[c] - 1] = false;
			slot->tts_isnull[attnum[RC_VIA] - 1] = n->depth == 0;
			slot->tts_isnull[attnum[RC_ON_HAND] - 1] = n->hidden;
			for (int d = 0; d < ndefaults; d++)
			{
				AttrNumber	a = defattnum[d] - 1;

				slot->tts_values[a] = ExecEvalExpr(defexpr[d], econtext, &slot->tts_isnull[a]);
			}
			ExecStoreVirtualTuple(slot);
			if (desc->constr != NULL)
				ExecConstraints(rri, slot, estate);
			ExecMaterializeSlot(slot);
			ResetPerTupleExprContext(estate);
			if (++nslots == RECALL_MULTI_INSERT)
				SlDirectWriteFlush(&dw, sorts, slots, &nslots);
		}
		SlDirectWriteFlush(&dw, sorts, slots, &nslots);
		if (sorts != NULL)
			RecallIndexSorted(rri, rel, sorts);
		for (int k = 0; k < RECALL_MULTI_INSERT && k < w.n; k++)
			ExecDropSingleTupleTableSlot(slots[k]);
		SlDirectWriteEnd(&dw);
		table_close(rel, NoLock);
		targets = w.n;
		/* the recall's later statements (its ledger entry, a count) see the rows */
		CommandCounterIncrement();
	}

	result[0] = Int64GetDatum(targets);
	result[1] = Int64GetDatum(holders);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(rdesc, result, rnull)));
}
