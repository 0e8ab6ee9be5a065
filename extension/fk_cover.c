/*
 * fk_cover.c — a set write's foreign keys checked once per distinct key
 * instead of once per row.
 *
 * PostgreSQL checks a foreign key row by row: every row inserted (or
 * updated in its key) queues an AFTER ROW event whose trigger,
 * RI_FKey_check_ins, runs "SELECT 1 FROM ONLY pk x WHERE id = $1 FOR KEY
 * SHARE OF x" for that row (ri_triggers.c): an executor started and ended
 * per row. A bulk upload's chunk of 10,000 ship and receive lines ran 45,000
 * of them, about a third of its instructions (callgrind), nearly all on the
 * same few keys: the 40 operators, the one product, the 20 lots sold from.
 *
 * The set writes of import.c check them as that query does, once per
 * distinct key: SlFkKeysLock locks every key the statement will write into a
 * covered column FOR KEY SHARE (the same lock, in id order), and finds each
 * one; only then does SlExecCovered run the statement with the row checks
 * of those foreign keys not queued (the check triggers disabled in the
 * statement's own copy of the result table's triggers, as ExecInitModifyTable
 * made it). The lock, held to the end of the transaction (or rolled back
 * with the rows, in a subtransaction), keeps each referenced row from being
 * deleted or its key changed until the rows that name it commit: what the
 * row checks' locks guarantee. A key the statement names that is not locked
 * and found leaves every check to PostgreSQL (SlFkKeysLock false: the caller
 * passes no columns), so a violation fails with PostgreSQL's own error.
 * A caller may also cover a key it holds otherwise: a lot it has locked FOR
 * UPDATE (ship(): its lot, from batch_lock_stmt), or a row the statement
 * itself inserts (the new batch a receipt's link names). The record
 * functions ship() and receive() (records.c) cover their sale so, where
 * that costs less than the checks.
 *
 * Only the checks of non-deferrable single-column foreign keys onto a key
 * column id of the extension's tables, named by the caller, are skipped;
 * every other trigger (a DBA's, a deferrable or a composite key's check,
 * the ledger's) fires as before. A partitioned table's rows get their result
 * relation while the statement runs, after this hook: their checks stay.
 */
#include "fk_cover.h"

#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* the statement SlExecCovered runs: its columns, until its ExecutorStart takes them */
static const SlFkCol *armed_cols = NULL;
static int	armed_ncols = 0;
static const char *armed_sql = NULL;

static ExecutorStart_hook_type prev_start = NULL;

/*
 * The foreign keys covered, each named here once: a new batch's owner and
 * product (of inserted rows only: a statement that also updates a lot
 * leaves that row's checks alone); a sale's lot and parties; a link to a
 * new batch inserted by the same statement (to_batch: receive() covers
 * that alone, its other keys' locks would cost it more than their checks).
 */
const SlFkCol sl_fk_new_batch[2] = {
	{"batch", "owner_id", "operator", true}, {"batch", "product_id", "product", true}
};
const SlFkCol sl_fk_sale[3] = {
	{"link", "from_batch", "batch", false}, {"link", "seller_id", "operator", false},
	{"link", "buyer_id", "operator", false}
};
const SlFkCol sl_fk_made[6] = {
	{"batch", "owner_id", "operator", true}, {"batch", "product_id", "product", true},
	{"link", "from_batch", "batch", false}, {"link", "seller_id", "operator", false},
	{"link", "buyer_id", "operator", false}, {"link", "to_batch", "batch", false}
};
const SlFkCol sl_fk_receipt[1] = {
	{"link", "to_batch", "batch", false}
};

/*
 * The lock a foreign key's row check takes, on the distinct keys of one
 * table, in id order (a table with no key to lock runs none)
 */
static SlStmt lock_stmts[SL_FK_NTABLES] = {
	{"SELECT t.id FROM ONLY shilian.operator t WHERE t.id = ANY ($1) ORDER BY t.id FOR KEY SHARE OF t",
	1, {"bigint[]"}, NULL, 0, true},
	{"SELECT t.id FROM ONLY shilian.product t WHERE t.id = ANY ($1) ORDER BY t.id FOR KEY SHARE OF t",
	1, {"bigint[]"}, NULL, 0, true},
	{"SELECT t.id FROM ONLY shilian.batch t WHERE t.id = ANY ($1) ORDER BY t.id FOR KEY SHARE OF t",
	1, {"bigint[]"}, NULL, 0, true},
};

void
SlFkKeysAdd(SlFkKeys *k, SlFkTable table, int64 id)
{
	if (k->n[table] == k->cap[table])
	{
		k->cap[table] = Max(16, k->cap[table] * 2);
		k->ids[table] = k->ids[table] == NULL ? palloc_array(int64, k->cap[table]) :
			repalloc_array(k->ids[table], int64, k->cap[table]);
	}
	k->ids[table][k->n[table]++] = id;
}

static int
Int64Cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

bool
SlFkKeysLock(SlFkKeys *k)
{
	for (int t = 0; t < SL_FK_NTABLES; t++)
	{
		int64	   *ids = k->ids[t];
		int			n = 0;
		Datum	   *d;
		Datum		v;

		if (k->n[t] == 0)
			continue;
		if (k->n[t] > 1)
			qsort(ids, k->n[t], sizeof(int64), Int64Cmp);
		d = palloc_array(Datum, k->n[t]);
		for (int i = 0; i < k->n[t]; i++)
			if (i == 0 || ids[i] != ids[i - 1])
				d[n++] = Int64GetDatum(ids[i]);
		v = PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		SlExec(&lock_stmts[t], &v, NULL, 0);
		if (SPI_processed != (uint64) n)
			return false;
	}
	return true;
}

/*
 * What Covered needs of a foreign key constraint, read once per backend
 * (every armed statement asks again for each check trigger of its result
 * tables: some 17 for a sale, reading them from the catalog cost ship()
 * more than the checks it saves). Any change to pg_constraint, pg_class or
 * pg_attribute makes every entry stale.
 */
typedef struct ConFacts
{
	Oid			conid;			/* hash key */
	uint64		generation;
	bool		single;			/* a non-deferrable foreign key of one column onto a column id */
	Oid			conrelid;
	Oid			confrelid;
	NameData	column;
} ConFacts;

static HTAB *con_facts = NULL;
static uint64 con_generation = 1;

static void
ConstraintsChanged(Datum arg, int cacheid, uint32 hashvalue)
{
	con_generation++;
}

static void
ConFactsRead(ConFacts *f)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(f->conid));
	Form_pg_constraint con;
	bool		isnull,
				isnull2;
	Datum		d,
				d2;
	Datum	   *elems;
	int			nelems;
	AttrNumber	att = InvalidAttrNumber,
				refatt = InvalidAttrNumber;

	f->single = false;
	if (!HeapTupleIsValid(tup))
		return;
	con = (Form_pg_constraint) GETSTRUCT(tup);
	f->conrelid = con->conrelid;
	f->confrelid = con->confrelid;
	d = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_conkey, &isnull);
	d2 = SysCacheGetAttr(CONSTROID, tup, Anum_pg_constraint_confkey, &isnull2);
	if (con->contype == CONSTRAINT_FOREIGN && !con->condeferrable && !isnull && !isnull2)
	{
		deconstruct_array(DatumGetArrayTypeP(d), INT2OID, 2, true, TYPALIGN_SHORT, &elems, NULL, &nelems);
		if (nelems == 1)
			att = DatumGetInt16(elems[0]);
		deconstruct_array(DatumGetArrayTypeP(d2), INT2OID, 2, true, TYPALIGN_SHORT, &elems, NULL, &nelems);
		if (nelems == 1)
			refatt = DatumGetInt16(elems[0]);
	}
	ReleaseSysCache(tup);
	if (att == InvalidAttrNumber || refatt == InvalidAttrNumber)
		return;
	namestrcpy(&f->column, get_attname(f->conrelid, att, false));
	f->single = strcmp(get_attname(f->confrelid, refatt, false), "id") == 0;
}

/*
 * Whether constraint conid of rel is one of cols: rel.column REFERENCES
 * references (id), alone, not deferrable; for an update's check
 * (insert_check false), one not covered for inserts only.
 */
static bool
Covered(Relation rel, Oid conid, Oid nsp, const SlFkCol *cols, int ncols, bool insert_check)
{
	bool		found;
	ConFacts   *f;

	if (con_facts == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ConFacts);
		con_facts = hash_create("shilian foreign keys covered", 64, &ctl, HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(CONSTROID, ConstraintsChanged, (Datum) 0);
		CacheRegisterSyscacheCallback(RELOID, ConstraintsChanged, (Datum) 0);
		CacheRegisterSyscacheCallback(ATTNUM, ConstraintsChanged, (Datum) 0);
	}
	f = hash_search(con_facts, &conid, HASH_ENTER, &found);
	if (!found || f->generation != con_generation)
	{
		/* stale until read whole (a read that fails is tried again) */
		f->generation = 0;
		ConFactsRead(f);
		f->generation = con_generation;
	}
	if (!f->single || f->conrelid != RelationGetRelid(rel))
		return false;
	for (int i = 0; i < ncols; i++)
		if ((insert_check || !cols[i].inserts_only) &&
			strcmp(RelationGetRelationName(rel), cols[i].table) == 0 &&
			strcmp(NameStr(f->column), cols[i].column) == 0 &&
			f->confrelid == get_relname_relid(cols[i].references, nsp))
			return true;
	return false;
}

TriggerDesc *
SlFkTriggersWithout(Relation rel, TriggerDesc *td, const SlFkCol *cols, int ncols)
{
	Oid			nsp = get_namespace_oid("shilian", false);
	TriggerDesc *copy = NULL;

	if (td == NULL || RelationGetNamespace(rel) != nsp)
		return NULL;
	for (int i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if ((t->tgfoid != F_RI_FKEY_CHECK_INS && t->tgfoid != F_RI_FKEY_CHECK_UPD) || !t->tgisinternal ||
			!OidIsValid(t->tgconstraint) || t->tgdeferrable || t->tgenabled == TRIGGER_DISABLED)
			continue;
		if (!Covered(rel, t->tgconstraint, nsp, cols, ncols, t->tgfoid == F_RI_FKEY_CHECK_INS))
			continue;
		if (copy == NULL)
			copy = CopyTriggerDesc(td);
		/* in its place: TriggerEnabled finds a trigger's WHEN condition by its place */
		copy->triggers[i].tgenabled = TRIGGER_DISABLED;
	}
	return copy;
}

/* The statement's result tables' row checks of cols disabled, in its own copies of their triggers. */
static void
Cover(EState *estate, const SlFkCol *cols, int ncols)
{
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	ListCell   *lc;

	foreach(lc, estate->es_opened_result_relations)
	{
		ResultRelInfo *rri = lfirst(lc);
		TriggerDesc *copy = SlFkTriggersWithout(rri->ri_RelationDesc, rri->ri_TrigDesc, cols, ncols);

		if (copy != NULL)
			rri->ri_TrigDesc = copy;
	}
	MemoryContextSwitchTo(old);
}

static void
FkCoverStart(QueryDesc *queryDesc, int eflags)
{
	const SlFkCol *cols = NULL;
	int			ncols = 0;

	/* the armed statement's own start only: not one run by its planning or its triggers */
	if (armed_cols != NULL && queryDesc->sourceText != NULL && strcmp(queryDesc->sourceText, armed_sql) == 0)
	{
		cols = armed_cols;
		ncols = armed_ncols;
		armed_cols = NULL;
	}
	if (prev_start)
		prev_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (cols != NULL && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		Cover(queryDesc->estate, cols, ncols);
}

int
SlExecCovered(SlStmt *stmt, Datum *values, const char *nulls, long count, const SlFkCol *cols, int ncols)
{
	int			rc;

	if (ncols == 0)
		return SlExec(stmt, values, nulls, count);
	Assert(armed_cols == NULL);
	armed_cols = cols;
	armed_ncols = ncols;
	armed_sql = stmt->sql;
	PG_TRY();
	{
		rc = SlExec(stmt, values, nulls, count);
	}
	PG_FINALLY();
	{
		armed_cols = NULL;
	}
	PG_END_TRY();
	return rc;
}

void
FkCoverInit(void)
{
	prev_start = ExecutorStart_hook;
	ExecutorStart_hook = FkCoverStart;
}
