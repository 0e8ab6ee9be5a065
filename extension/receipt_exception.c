/*
 * receipt_exception.c — keeps shilian.receipt_exception (part 66) agreeing
 * with its rule, receipt_exceptions() (SQL, the one statement of the rule),
 * as records are written: the trigger receipt_exception_changed() of link,
 * batch and inspection, and receipt_exception_sync(links, batches), which
 * the trigger, the upgrade's fill and the tests call.
 *
 * In C, not PL/pgSQL: every receipt fires the trigger twice (the link's
 * UPDATE, the incoming inspection's INSERT), and the PL/pgSQL trigger,
 * calling the PL/pgSQL sync with its three settings, cost 4.5 % of a ship +
 * receive pair (perf, tests/bench/records.sh) around the statements that do
 * the work. The statements are the same: kept once per backend with their
 * generic plans (SlStmt, generic) and planned with sequential scans off
 * (SlExec), as the PL/pgSQL sync's SET plan_cache_mode = force_generic_plan
 * and enable_seqscan = off had them, so that a plan made while
 * receipt_exception was analyzed empty still probes its unique partial
 * indexes (t/027). The rule itself is still the SQL functions, inlined into
 * the INSERTs below; only the bookkeeping around it is here.
 */
#include "records.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

/* the sales' half: delete the receipts' rows, insert those the rule gives */
static SlStmt sales_del_stmt = {
	"DELETE FROM shilian.receipt_exception e WHERE e.link_id = ANY ($1)",
	1, {"bigint[]"}, NULL, 0, true
};
static SlStmt sales_ins_stmt = {
	"INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)"
	" SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on"
	"  FROM shilian.receipt_exceptions_of_sales($1) x",
	1, {"bigint[]"}, NULL, 0, true
};

/*
 * The same for one sale (a receive(), nearly every sync): the rule's array
 * built of the one id in the statement, so that its generic plan knows it
 * has one element (the planner's estimate of unnest(ARRAY[$1])) and joins
 * the sale to its lot by a nested loop, not by a hash table built at every
 * call for the ten rows it assumes of an array parameter (a tenth of the
 * sync's time, perf of a ship + receive pair). The rule is the same
 * function, inlined the same way.
 */
static SlStmt sale_ins_stmt = {
	"INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)"
	" SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on"
	"  FROM shilian.receipt_exceptions_of_sales(ARRAY[$1]) x",
	1, {"bigint"}, NULL, 0, true
};

/* the first entries' half */
static SlStmt firsts_del_stmt = {
	"DELETE FROM shilian.receipt_exception e WHERE e.link_id IS NULL AND e.batch_id = ANY ($1)",
	1, {"bigint[]"}, NULL, 0, true
};
static SlStmt firsts_ins_stmt = {
	"INSERT INTO shilian.receipt_exception (operator_id, batch_id, link_id, received_on, uninspected, expires_on)"
	" SELECT x.operator_id, x.batch_id, x.link_id, x.received_on, x.uninspected, x.expires_on"
	"  FROM shilian.receipt_exceptions_of_first_entries($1) x",
	1, {"bigint[]"}, NULL, 0, true
};

/* has this sale, this first entry, an exception row (an inspection can only clear one) */
static SlStmt sale_has_stmt = {
	"SELECT 1 FROM shilian.receipt_exception e WHERE e.link_id = $1",
	1, {"bigint"}, NULL, 0, true
};
static SlStmt first_has_stmt = {
	"SELECT 1 FROM shilian.receipt_exception e WHERE e.link_id IS NULL AND e.batch_id = $1",
	1, {"bigint"}, NULL, 0, true
};

/* the received sales of a lot (its expiry corrected) */
static SlStmt lot_sales_stmt = {
	"SELECT l.id FROM shilian.link l WHERE l.from_batch = $1 AND l.status = 'received' AND l.kind = 'ship'",
	1, {"bigint"}, NULL, 0, true
};

static Datum
IdArray(Datum *ids, int n)
{
	return PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Make receipt_exception agree with the rule for these sales (nlinks ids in
 * links, a bigint[]) and first entries (nbatches in batches), each half run
 * only when it has receipts. SPI connected.
 */
static void
ExceptionSync(Datum links, int nlinks, Datum batches, int nbatches)
{
	if (nlinks > 0)
	{
		SlExec(&sales_del_stmt, &links, NULL, 0);
		if (nlinks == 1)
		{
			Datum	   *ids;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(links), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &ids, &nulls, &n);
			Assert(n == 1);
			SlExec(&sale_ins_stmt, ids, nulls[0] ? "n" : " ", 0);
		}
		else
			SlExec(&sales_ins_stmt, &links, NULL, 0);
	}
	if (nbatches > 0)
	{
		SlExec(&firsts_del_stmt, &batches, NULL, 0);
		SlExec(&firsts_ins_stmt, &batches, NULL, 0);
	}
}

static int
ArrayCardinality(ArrayType *a)
{
	return ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
}

/* receipt_exception_sync(links bigint[], batches bigint[]) → void */
PG_FUNCTION_INFO_V1(receipt_exception_sync);
Datum
receipt_exception_sync(PG_FUNCTION_ARGS)
{
	ArrayType  *links = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *batches = PG_GETARG_ARRAYTYPE_P(1);

	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ExceptionSync(PointerGetDatum(links), ArrayCardinality(links),
				  PointerGetDatum(batches), ArrayCardinality(batches));
	SPI_finish();
	PG_RETURN_VOID();
}

/* One row of a link transition table: what decides whether its receipt changed. */
typedef struct LinkRow
{
	int64		id;
	bool		ship;
	bool		received;
	char	   *status;
	bool		at_null;
	TimestampTz at;
	bool		to_null;
	int64		to_batch;
	int64		from_batch;
} LinkRow;

static int
LinkRowCmp(const void *a, const void *b)
{
	int64		x = ((const LinkRow *) a)->id;
	int64		y = ((const LinkRow *) b)->id;

	return (x > y) - (x < y);
}

static bool
TextIs(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/* The rows of a transition table, read through a read pointer of its own. */
static LinkRow *
LinkRows(Tuplestorestate *ts, TupleDesc desc, int *n)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	int			a_id = SPI_fnumber(desc, "id");
	int			a_kind = SPI_fnumber(desc, "kind");
	int			a_status = SPI_fnumber(desc, "status");
	int			a_at = SPI_fnumber(desc, "received_at");
	int			a_to = SPI_fnumber(desc, "to_batch");
	int			a_from = SPI_fnumber(desc, "from_batch");
	int			cap = 16;
	int			len = 0;
	LinkRow    *rows = palloc_array(LinkRow, cap);
	int			ptr;

	if (a_id <= 0 || a_kind <= 0 || a_status <= 0 || a_at <= 0 || a_to <= 0 || a_from <= 0)
		elog(ERROR, "receipt_exception_changed: link lacks a column it reads");
	ptr = tuplestore_alloc_read_pointer(ts, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(ts, ptr);
	tuplestore_rescan(ts);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		LinkRow    *r;
		bool		isnull;
		Datum		d;

		if (len == cap)
		{
			cap *= 2;
			rows = repalloc_array(rows, LinkRow, cap);
		}
		r = &rows[len++];
		r->id = DatumGetInt64(slot_getattr(slot, a_id, &isnull));
		d = slot_getattr(slot, a_kind, &isnull);
		r->ship = !isnull && TextIs(d, "ship");
		d = slot_getattr(slot, a_status, &isnull);
		r->status = isnull ? NULL : TextDatumGetCString(d);
		r->received = r->status != NULL && strcmp(r->status, "received") == 0;
		r->at = DatumGetTimestampTz(slot_getattr(slot, a_at, &r->at_null));
		r->to_batch = DatumGetInt64(slot_getattr(slot, a_to, &r->to_null));
		r->from_batch = DatumGetInt64(slot_getattr(slot, a_from, &isnull));
	}
	ExecDropSingleTupleTableSlot(slot);
	/* each reader selects its own pointer: pointer 0 made the active one again */
	tuplestore_select_read_pointer(ts, 0);
	*n = len;
	return rows;
}

static bool
TextDistinct(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) != (b == NULL);
	return strcmp(a, b) != 0;
}

/*
 * The link UPDATE statement's receipts that changed: a sale received before
 * or after, whose status, receipt time or batches changed (the new rows
 * joined to the old by id).
 */
static void
LinkStatementChanged(TriggerData *td)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			nold;
	int			nnew;
	LinkRow    *old_rows = LinkRows(td->tg_oldtable, desc, &nold);
	LinkRow    *new_rows = LinkRows(td->tg_newtable, desc, &nnew);
	Datum	   *links = palloc_array(Datum, Max(nnew, 1));
	int			nlinks = 0;
	int			cap = Max(nnew, 1);

	if (nold > 1)
		qsort(old_rows, nold, sizeof(LinkRow), LinkRowCmp);
	for (int i = 0; i < nnew; i++)
	{
		LinkRow    *n = &new_rows[i];
		LinkRow    *o;
		int			lo = 0;
		int			hi = nold;

		if (!n->ship)
			continue;
		/* the first old row of this id */
		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (old_rows[mid].id < n->id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (o = &old_rows[lo]; o < old_rows + nold && o->id == n->id; o++)
		{
			if (!(n->received || o->received))
				continue;
			if (TextDistinct(n->status, o->status) ||
				n->at_null != o->at_null || (!n->at_null && n->at != o->at) ||
				n->to_null != o->to_null || (!n->to_null && n->to_batch != o->to_batch) ||
				n->from_batch != o->from_batch)
			{
				if (nlinks == cap)
				{
					cap *= 2;
					links = repalloc_array(links, Datum, cap);
				}
				links[nlinks++] = Int64GetDatum(n->id);
			}
		}
	}
	if (nlinks > 0)
		ExceptionSync(IdArray(links, nlinks), nlinks, (Datum) 0, 0);
}

/* NEW's column name (by name: the partitions of inspection may order them otherwise) */
static Datum
Column(Relation rel, HeapTuple tup, const char *name, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			att = SPI_fnumber(desc, name);

	if (att <= 0)
		elog(ERROR, "receipt_exception_changed: %s has no column %s", RelationGetRelationName(rel), name);
	return heap_getattr(tup, att, desc, isnull);
}

/*
 * receipt_exception_changed() → trigger. What can change a receipt's
 * exception (66_findings.sql lists the triggers):
 *   link, per statement (UPDATE): the sales received before or after whose
 *     receipt changed;
 *   batch, per row (INSERT of a first entry, UPDATE of the expiry or the
 *     receipt time): on UPDATE the sales received of that lot, and the
 *     batch if a first entry;
 *   inspection (any partition), per row (INSERT of an incoming inspection):
 *     it can only clear an exception, so only a receipt that has one.
 * Per row on inspection, not per statement: a statement trigger of the
 * partitioned table does not fire for rows written into a partition
 * directly, as pg_restore writes them (t/060). link's INSERT is
 * receipt_exception_inserted's, per statement (below).
 */
PG_FUNCTION_INFO_V1(receipt_exception_changed);
Datum
receipt_exception_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;
	HeapTuple	row;
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "receipt_exception_changed: not called as an AFTER trigger");
	table = RelationGetRelationName(td->tg_relation);
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (strcmp(table, "link") == 0 && TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
	{
		if (td->tg_oldtable == NULL || td->tg_newtable == NULL)
			elog(ERROR, "receipt_exception_changed: the link statement trigger needs both transition tables");
		LinkStatementChanged(td);
	}
	else if (TRIGGER_FIRED_FOR_STATEMENT(td->tg_event))
		elog(ERROR, "receipt_exception_changed: a statement trigger only on link");
	else if (strcmp(table, "batch") == 0)
	{
		Datum		id = Column(td->tg_relation, row, "id", &isnull);
		Datum		origin = Column(td->tg_relation, row, "origin", &isnull);
		bool		first = !isnull && TextIs(origin, "first_entry");
		Datum	   *links = NULL;
		int			nlinks = 0;

		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		{
			SlExec(&lot_sales_stmt, &id, NULL, 0);
			links = palloc_array(Datum, Max(SPI_processed, 1));
			for (uint64 r = 0; r < SPI_processed; r++)
				links[nlinks++] = SlGet(r, 1, NULL);
		}
		ExceptionSync(nlinks > 0 ? IdArray(links, nlinks) : (Datum) 0, nlinks,
					  first ? IdArray(&id, 1) : (Datum) 0, first ? 1 : 0);
	}
	else if (strcmp(table, "link") == 0)
		elog(ERROR, "receipt_exception_changed: link's INSERT is receipt_exception_inserted's");
	else
	{
		Datum		link = Column(td->tg_relation, row, "link_id", &isnull);

		if (!isnull)
		{
			SlExec(&sale_has_stmt, &link, NULL, 1);
			if (SPI_processed > 0)
				ExceptionSync(IdArray(&link, 1), 1, (Datum) 0, 0);
		}
		else
		{
			Datum		batch = Column(td->tg_relation, row, "batch_id", &isnull);

			/* batch_id is NOT NULL; a null would match no row, as "batch_id = NULL" */
			if (!isnull)
			{
				SlExec(&first_has_stmt, &batch, NULL, 1);
				if (SPI_processed > 0)
					ExceptionSync((Datum) 0, 0, IdArray(&batch, 1), 1);
			}
		}
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * receipt_exception_inserted() → trigger, AFTER INSERT FOR EACH STATEMENT of
 * link, with the statement's new rows (66_findings.sql): the sales inserted
 * received (a restore, or an import writing a sale with its receipt), all at
 * once, recomputed as the row trigger did one by one (ExceptionSync). A
 * statement with none (a ship() of a pending sale) returns without
 * connecting to SPI.
 */
PG_FUNCTION_INFO_V1(receipt_exception_inserted);
Datum
receipt_exception_inserted(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	int			n;
	LinkRow    *rows;
	Datum	   *links;
	int			nlinks = 0;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		td->tg_newtable == NULL || strcmp(RelationGetRelationName(td->tg_relation), "link") != 0)
		elog(ERROR, "receipt_exception_inserted: not called as an AFTER INSERT statement trigger of link with its new table");
	rows = LinkRows(td->tg_newtable, RelationGetDescr(td->tg_relation), &n);
	links = palloc_array(Datum, Max(n, 1));
	for (int i = 0; i < n; i++)
		if (rows[i].ship && rows[i].received)
			links[nlinks++] = Int64GetDatum(rows[i].id);
	if (nlinks == 0)
		return PointerGetDatum(NULL);
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ExceptionSync(IdArray(links, nlinks), nlinks, (Datum) 0, 0);
	SPI_finish();
	return PointerGetDatum(NULL);
}
