/*
 * activity.c — the per-operator, per-day record counters (shilian.operator_day).
 * Every record is counted here by RecordToLedger; the counts wait in a
 * transaction-local log and are added to the table (and to operator_month)
 * once per (operator, day) just before the transaction commits, in place when
 * the row exists (see "The writes of one (operator, day)" below), so a record
 * costs a few memory writes, and a bulk import of thousands of records for one
 * operator updates its row once rather than thousands of times.
 *
 * The flush runs at XACT_EVENT_PRE_COMMIT, after the deferred triggers, so
 * it fires no trigger of its own: it writes the rows in one global order
 * (operator_day by (operator, day), then operator_month by (operator,
 * month), then station_month by (month, station, segment)), so that two
 * committing transactions never wait for each other in a cycle, and it adds
 * the station rollup's change itself (station_month, part 62) rather than
 * through row triggers that ran once per row in hash order.
 *
 * Subtransactions: each log entry carries the id of the subtransaction that
 * made it. Subtransaction ids grow in start order, so when a subtransaction
 * aborts, the entries it and its children made are exactly the tail of the
 * log with ids at or above its own; they are dropped. A released (committed)
 * subtransaction's entries simply stay.
 */
#include "shilian.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "activity.h"
#include "platform_date.h"
#include "records.h"

typedef struct ActEntry
{
	int64		operator_id;
	DateADT		day;
	SubTransactionId subid;
	int16		kind;
	bool		via_client;
	int32		n;
	int64		incoming;		/* a receipt's incoming inspection, else 0 */
} ActEntry;

static ActEntry *act_log = NULL;	/* in TopTransactionContext */
static int	act_len = 0;
static int	act_cap = 0;
static bool act_registered = false;

ActivityKind
ActivityKindOf(const char *kind)
{
	if (strcmp(kind, "batch_create") == 0)
		return ACT_BATCHES;
	if (strcmp(kind, "inspect") == 0)
		return ACT_INSPECTIONS;
	if (strcmp(kind, "ship") == 0)
		return ACT_SHIPMENTS;
	if (strcmp(kind, "receive") == 0 || strcmp(kind, "receive_first_entry") == 0)
		return ACT_RECEIPTS;
	if (strcmp(kind, "reject") == 0)
		return ACT_REJECTIONS;
	if (strcmp(kind, "transform") == 0)
		return ACT_TRANSFORMS;
	if (strcmp(kind, "consume") == 0)
		return ACT_CONSUMPTIONS;
	return ACT_NONE;
}

/* ---- the flush ------------------------------------------------------------ */

/*
 * The counts of one (operator, day): records, one per kind, via_client, and
 * receipts_complete (filled at flush).
 */
#define ACT_NCOUNTS 10
#define ACT_VIA (1 + ACT_NONE)
#define ACT_COMPLETE (2 + ACT_NONE)

/*
 * The writes of one (operator, day). Nearly always its rows exist (the
 * first record of an operator on a day inserts them, every later one adds
 * to them), and then each is updated in place of the executor: a read
 * of the row where this backend last found it (CounterAtPlace), else an
 * index probe on the primary key, and heap_update (CounterAdd, below), a
 * HOT update when the page has room (the tables' fillfactor leaves it), so
 * a commit costs two page reads and two tuple versions, not two planned
 * statements. Whenever that path cannot be sure (no row yet, a concurrent
 * update, a trigger, a stored generated column, an expression, partial,
 * exclusion or deferrable index on the table, an isolation level above read
 * committed), the same counts go through the plain upserts below, which are
 * exact in every case. CHECK and NOT NULL constraints are checked on the
 * new row version with the executor's ExecConstraints, as an UPDATE would.
 * What a table has is read once per backend and again after its relcache
 * entry is invalidated (CounterMetaOf), so an ALTER TABLE is seen by the
 * next flush. A further table kept
 * from the same counts is one more CounterTable and statement, added in
 * ActivityFlush beside these two.
 *
 * operator_day and operator_month are partitioned by month (part 58): the
 * in-place path works on the partition that holds the day or month
 * (CounterLeaf, below); their statements are an update or else an insert
 * (no key of the partitioned table for ON CONFLICT DO UPDATE), run again
 * when another transaction inserted the row first.
 *
 * The statements: scalar parameters, a plan prepared once per backend (stmt.c).
 *   day:   $1 operator, $2 day, $3 records, $4..$10 the kinds (ActivityKind
 *          order), $11 via_client, $12 receipts_complete; returns 1 when a
 *          row was updated or inserted, 0 when it must be run again.
 *   month: $1 operator, $2 month (its first day), $3 records, $4 receipts,
 *          $5 receipts_complete, $6 via_client; returns the row's new counts,
 *          no row when it must be run again.
 */
static SlStmt day_stmt = {
	"WITH u AS (UPDATE shilian.operator_day d SET records = d.records + $3,"
	"  batches = d.batches + $4, inspections = d.inspections + $5,"
	"  shipments = d.shipments + $6, receipts = d.receipts + $7,"
	"  rejections = d.rejections + $8, transforms = d.transforms + $9,"
	"  consumptions = d.consumptions + $10, via_client = d.via_client + $11,"
	"  receipts_complete = d.receipts_complete + $12"
	"  WHERE d.operator_id = $1 AND d.day = $2 RETURNING 1),"
	" i AS (INSERT INTO shilian.operator_day (operator_id, day, records, batches, inspections, shipments,"
	"  receipts, rejections, transforms, consumptions, via_client, receipts_complete)"
	"  SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE NOT EXISTS (SELECT 1 FROM u)"
	"  ON CONFLICT DO NOTHING RETURNING 1)"
	" SELECT (SELECT count(*) FROM u) + (SELECT count(*) FROM i)",
	12, {"bigint", "date", "integer", "integer", "integer", "integer", "integer", "integer", "integer",
		"integer", "integer", "integer"}
};

static SlStmt month_stmt = {
	"WITH u AS (UPDATE shilian.operator_month m SET records = m.records + $3,"
	"  receipts = m.receipts + $4, receipts_complete = m.receipts_complete + $5,"
	"  via_client = m.via_client + $6"
	"  WHERE m.operator_id = $1 AND m.month = $2"
	"  RETURNING m.records, m.receipts, m.receipts_complete, m.via_client),"
	" i AS (INSERT INTO shilian.operator_month (operator_id, month, records, receipts, receipts_complete, via_client)"
	"  SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM u)"
	"  ON CONFLICT DO NOTHING RETURNING records, receipts, receipts_complete, via_client)"
	" SELECT * FROM u UNION ALL SELECT * FROM i",
	6, {"bigint", "date", "integer", "integer", "integer", "integer"}
};

/* The day table's columns in the order of the counts (ActSum.c). */
static const char *const day_columns[] = {
	"records", "batches", "inspections", "shipments", "receipts", "rejections", "transforms",
	"consumptions", "via_client", "receipts_complete"
};
static const char *const month_columns[] = {"records", "receipts", "receipts_complete", "via_client"};

/*
 * A counters table opened for one flush: keyed by a primary key of
 * (bigint, date), with integer columns to add to. fast is false when the
 * in-place path must not be used for it (see above).
 */
typedef struct CounterTable
{
	Relation	rel;
	Relation	pk;
	bool		fast;
	/* for ExecConstraints (CHECK, NOT NULL) on the new row version, if any */
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *newslot;
	int			ncols;
	AttrNumber	att[ACT_NCOUNTS];
	/* every index of the table, opened only when an update is not HOT */
	Relation   *indexes;
	IndexInfo **infos;
	int			nindexes;
	bool		indexes_open;
	IndexScanDesc scan;
	AttrNumber	keyatt[2];		/* the primary key's columns */
	BlockNumber nblocks;		/* at the first probe by a remembered place, else InvalidBlockNumber */
} CounterTable;

/*
 * What the flush needs to know of a counters table (or partition), read
 * from its catalog entries once and kept per backend until its relcache
 * entry is invalidated (an ALTER TABLE, a new or dropped index or
 * constraint: the next flush, which locks the table first and so takes
 * the invalidation in, reads it again): the columns' numbers, whether the
 * in-place path may be used at all (a heap table without triggers or
 * stored generated columns, integer counts, a primary key on (bigint,
 * date), only plain immediate indexes), its primary key, and whether a
 * CHECK constraint reads a column the flush adds to (or the whole row, or
 * is not validated): only then does the in-place update run
 * ExecConstraints, which prepares every CHECK expression of a new
 * ResultRelInfo again (stringToNode and the planner's expression
 * preprocessing, a sixth of a flush in a perf profile of batch_create, for
 * operator_month's CHECK on month). An UPDATE would check a constraint on
 * unchanged columns too, but such a constraint held for the row before and
 * holds after. Reading all this at every commit (attribute and index
 * lookups, every index opened and its IndexInfo built) was a tenth of the
 * flush of one batch_create.
 */
typedef struct CounterMeta
{
	Oid			relid;			/* the hash key */
	bool		fast;			/* apart from the isolation level */
	bool		checks_see;
	int			ncols;
	AttrNumber	att[ACT_NCOUNTS];
	Oid			pk;
	AttrNumber	keyatt[2];
} CounterMeta;

static HTAB *counter_meta = NULL;

static void CounterTableOpenRel(CounterTable *t, Oid relid, const char *const *columns, int ncols);

static void
CounterMetaInval(Datum arg, Oid relid)
{
	if (counter_meta == NULL)
		return;
	if (OidIsValid(relid))
		hash_search(counter_meta, &relid, HASH_REMOVE, NULL);
	else
	{
		HASH_SEQ_STATUS it;
		CounterMeta *e;

		hash_seq_init(&it, counter_meta);
		while ((e = hash_seq_search(&it)) != NULL)
			hash_search(counter_meta, &e->relid, HASH_REMOVE, NULL);
	}
}

/* Whether a CHECK constraint of rel reads one of the ncols columns att[] (see above). */
static bool
CounterChecksSeeCounts(Relation rel, const AttrNumber *att, int ncols)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	bool		sees = false;

	for (int i = 0; constr != NULL && i < constr->num_check && !sees; i++)
	{
		Bitmapset  *attrs = NULL;

		if (!constr->check[i].ccvalid)
			return true;
		pull_varattnos(stringToNode(constr->check[i].ccbin), 1, &attrs);
		if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
			sees = true;
		for (int c = 0; c < ncols && !sees; c++)
			if (bms_is_member(att[c] - FirstLowInvalidHeapAttributeNumber, attrs))
				sees = true;
		bms_free(attrs);
	}
	return sees;
}

/* The facts of the opened (locked) rel, from the cache or read now. */
static const CounterMeta *
CounterMetaOf(Relation rel, const char *const *columns, int ncols)
{
	Oid			relid = RelationGetRelid(rel);
	CounterMeta *e;
	CounterMeta m;
	bool		found;
	List	   *ixs;
	ListCell   *lc;

	if (counter_meta == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CounterMeta);
		ctl.hcxt = TopMemoryContext;
		counter_meta = hash_create("shilian counters tables", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(CounterMetaInval, (Datum) 0);
	}
	e = hash_search(counter_meta, &relid, HASH_FIND, NULL);
	if (e != NULL && e->ncols == ncols)
		return e;

	/* read (opening indexes below may take in invalidations: the entry is entered at the end) */
	memset(&m, 0, sizeof(m));
	m.relid = relid;
	m.ncols = ncols;
	m.fast = rel->rd_rel->relkind == RELKIND_RELATION;
	/* a trigger would not run, nor a stored generated column be recomputed */
	if (rel->trigdesc != NULL)
		m.fast = false;
	if (RelationGetDescr(rel)->constr != NULL && RelationGetDescr(rel)->constr->has_generated_stored)
		m.fast = false;
	for (int c = 0; c < ncols && m.fast; c++)
	{
		m.att[c] = get_attnum(relid, columns[c]);
		if (m.att[c] == InvalidAttrNumber
			|| TupleDescAttr(RelationGetDescr(rel), m.att[c] - 1)->atttypid != INT4OID)
			m.fast = false;
	}
	m.pk = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(m.pk))
		m.fast = false;
	if (m.fast)
	{
		ixs = RelationGetIndexList(rel);
		foreach(lc, ixs)
		{
			Relation	ix = index_open(lfirst_oid(lc), RowExclusiveLock);
			IndexInfo  *ii = BuildIndexInfo(ix);

			if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL
				|| ii->ii_ExclusionOps != NULL || !ix->rd_index->indimmediate)
				m.fast = false;
			if (lfirst_oid(lc) == m.pk)
			{
				m.keyatt[0] = ix->rd_index->indkey.values[0];
				m.keyatt[1] = ix->rd_index->indkey.values[1];
			}
			if (lfirst_oid(lc) == m.pk
				&& (IndexRelationGetNumberOfKeyAttributes(ix) != 2
					|| ix->rd_index->indkey.values[0] <= 0 || ix->rd_index->indkey.values[1] <= 0
					|| TupleDescAttr(RelationGetDescr(rel), ix->rd_index->indkey.values[0] - 1)->atttypid != INT8OID
					|| TupleDescAttr(RelationGetDescr(rel), ix->rd_index->indkey.values[1] - 1)->atttypid != DATEOID))
				m.fast = false;
			index_close(ix, NoLock);
		}
		list_free(ixs);
	}
	if (m.fast && RelationGetDescr(rel)->constr != NULL)
		m.checks_see = CounterChecksSeeCounts(rel, m.att, ncols);
	e = hash_search(counter_meta, &relid, HASH_ENTER, &found);
	*e = m;
	return e;
}

static void
CounterTableOpenRel(CounterTable *t, Oid relid, const char *const *columns, int ncols)
{
	const CounterMeta *m;

	memset(t, 0, sizeof(*t));
	t->rel = table_open(relid, RowExclusiveLock);
	t->ncols = ncols;
	m = CounterMetaOf(t->rel, columns, ncols);
	t->fast = m->fast && !IsolationUsesXactSnapshot();
	if (!t->fast)
		return;
	memcpy(t->att, m->att, sizeof(t->att));
	t->keyatt[0] = m->keyatt[0];
	t->keyatt[1] = m->keyatt[1];
	t->nblocks = InvalidBlockNumber;
	t->pk = index_open(m->pk, RowExclusiveLock);
	/*
	 * CHECK and NOT NULL: checked by the executor's routine, as an UPDATE
	 * does, when a CHECK constraint may see the counts change (NOT NULL:
	 * the counts are never null and the other columns do not change).
	 */
	if (m->checks_see)
	{
		t->estate = CreateExecutorState();
		t->rri = makeNode(ResultRelInfo);
		/* not in a range table: ExecConstraints then reports the row without column filtering */
		InitResultRelInfo(t->rri, t->rel, 0, NULL, 0);
		t->newslot = MakeSingleTupleTableSlot(RelationGetDescr(t->rel), &TTSOpsHeapTuple);
	}
}

/* Every index of t, for the entries of a new row version that is not heap-only. */
static void
CounterTableOpenIndexes(CounterTable *t)
{
	List	   *ixs = RelationGetIndexList(t->rel);
	ListCell   *lc;
	int			i = 0;

	t->indexes = palloc_array(Relation, Max(list_length(ixs), 1));
	t->infos = palloc_array(IndexInfo *, Max(list_length(ixs), 1));
	foreach(lc, ixs)
	{
		t->indexes[i] = index_open(lfirst_oid(lc), RowExclusiveLock);
		t->infos[i] = BuildIndexInfo(t->indexes[i]);
		t->nindexes = ++i;
	}
	list_free(ixs);
	t->indexes_open = true;
}

static void
CounterTableClose(CounterTable *t)
{
	if (t->scan != NULL)
		index_endscan(t->scan);
	if (t->newslot != NULL)
		ExecDropSingleTupleTableSlot(t->newslot);
	if (t->estate != NULL)
		FreeExecutorState(t->estate);
	for (int i = 0; i < t->nindexes; i++)
		index_close(t->indexes[i], NoLock);
	if (t->pk != NULL)
		index_close(t->pk, NoLock);
	table_close(t->rel, NoLock);
}

/*
 * Where each counter row was last found: the place its primary key's entry
 * points to (the root of its HOT chain), per (table, operator, day or
 * month), kept per backend. While the row's updates stay HOT (the rule
 * here), that place does not change, whichever backend updates it, so the
 * next flush of that row reads its heap page directly instead of
 * descending the primary key (a third of the flush in a perf profile of
 * batch_create once the pruning was gone). The place is only a hint: the
 * row is taken from it when the block still exists, the HOT chain there
 * has a version visible to the flush's snapshot (the same test an index
 * scan makes) and that version's key is the row's; the primary key being
 * unique, that version is then the one the index would give. Otherwise
 * the index is probed. Bounded: emptied when it reaches
 * COUNTER_PLACES_MAX rows.
 */
typedef struct CounterPlaceKey
{
	Oid			relid;
	DateADT		key;
	int64		operator_id;
} CounterPlaceKey;

typedef struct CounterPlace
{
	CounterPlaceKey k;
	Oid			relfilenode;
	ItemPointerData root;		/* the root of its HOT chain (where its index entry points) */
	ItemPointerData latest;		/* its version written last here */
	Buffer		buffer;			/* the shared buffer that held their page then */
} CounterPlace;

#define COUNTER_PLACES_MAX 16384

static HTAB *counter_places = NULL;

/* The entry of a row, new (no place yet: relfilenode invalid) or not. */
static CounterPlace *
CounterPlaceFind(Oid relid, int64 operator_id, DateADT key)
{
	CounterPlaceKey k;
	CounterPlace *p;
	bool		found;

	if (counter_places == NULL || hash_get_num_entries(counter_places) >= COUNTER_PLACES_MAX)
	{
		HASHCTL		ctl;

		if (counter_places != NULL)
			hash_destroy(counter_places);
		ctl.keysize = sizeof(CounterPlaceKey);
		ctl.entrysize = sizeof(CounterPlace);
		ctl.hcxt = TopMemoryContext;
		counter_places = hash_create("shilian counter rows", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&k, 0, sizeof(k));
	k.relid = relid;
	k.key = key;
	k.operator_id = operator_id;
	p = hash_search(counter_places, &k, HASH_ENTER, &found);
	if (!found)
		p->relfilenode = InvalidOid;
	return p;
}

/*
 * The visible version of the row (operator_id, key) of t at its
 * remembered place, with *buf pinned and share-locked and *tid its
 * place; false (nothing pinned) when the place is not (or no longer) it.
 */
static bool
CounterKeyIs(const CounterTable *t, HeapTuple tup, int64 operator_id, DateADT key)
{
	TupleDesc	desc = RelationGetDescr(t->rel);
	bool		null0;
	bool		null1;
	int64		o = DatumGetInt64(heap_getattr(tup, t->keyatt[0], desc, &null0));
	DateADT		d = DatumGetDateADT(heap_getattr(tup, t->keyatt[1], desc, &null1));

	return !null0 && !null1 && o == operator_id && d == key;
}

static bool
CounterAtPlace(CounterTable *t, Snapshot snap, int64 operator_id, DateADT key, const CounterPlace *p,
			   Buffer *buf, ItemPointer tid, HeapTuple old)
{
	/* the row's versions are all on its root's page (HOT) */
	BlockNumber blk = ItemPointerGetBlockNumber(&p->root);
	OffsetNumber off = ItemPointerGetOffsetNumber(&p->latest);
	Page		page;
	ItemId		lp;

	if (p->relfilenode != t->rel->rd_node.relNode)
		return false;
	/*
	 * The buffer that held the page, when it still does (a truncation
	 * would have dropped it); else the page, when it still exists (a VACUUM
	 * may have truncated the table since: not while it is locked here).
	 */
	if (BufferIsValid(p->buffer) && ReadRecentBuffer(t->rel->rd_node, MAIN_FORKNUM, blk, p->buffer))
		*buf = p->buffer;
	else
	{
		if (t->nblocks == InvalidBlockNumber)
			t->nblocks = RelationGetNumberOfBlocks(t->rel);
		if (blk >= t->nblocks)
			return false;
		*buf = ReadBuffer(t->rel, blk);
	}
	LockBuffer(*buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(*buf);
	TestForOldSnapshot(snap, t->rel, page);
	/* the version written last here, when no other transaction updated the row since (as heap_fetch) */
	if (ItemPointerGetBlockNumber(&p->latest) == blk && off >= FirstOffsetNumber
		&& off <= PageGetMaxOffsetNumber(page) && ItemIdIsNormal(lp = PageGetItemId(page, off)))
	{
		old->t_data = (HeapTupleHeader) PageGetItem(page, lp);
		old->t_len = ItemIdGetLength(lp);
		old->t_tableOid = RelationGetRelid(t->rel);
		old->t_self = p->latest;
		if (HeapTupleSatisfiesVisibility(old, snap, *buf) && CounterKeyIs(t, old, operator_id, key))
		{
			*tid = p->latest;
			return true;
		}
	}
	/* else the visible member of its HOT chain */
	*tid = p->root;
	if (heap_hot_search_buffer(tid, t->rel, *buf, snap, old, NULL, true)
		&& CounterKeyIs(t, old, operator_id, key))
		return true;
	UnlockReleaseBuffer(*buf);
	*buf = InvalidBuffer;
	return false;
}

/*
 * Add adds[] to the row (operator_id, key) of t in place, as the latest
 * committed (or this transaction's) version seen by snap; newv[] receives
 * the row's new counts. False when there is no such row or it was updated
 * concurrently (nothing is written then: the caller runs the upsert).
 *
 * The row is found as an index scan does (the primary key's entries, then
 * the visible member of each one's HOT chain), but without the index
 * scan's opportunistic pruning of the heap page: that prunes whenever the
 * page's free space is below the fillfactor's reserve, which on a page
 * filled to its fillfactor by inserts is at every visit once a row of it
 * was updated, so every commit pruned the whole page of each of its two
 * rows (heap_page_prune over 70 to 95 tuples: a quarter of the flush in a
 * perf profile of batch_create). Here the page is pruned (by the same
 * heap_page_prune_opt) only when the new row version would not fit on it,
 * which keeps the update HOT and prunes a page once per few dozen updates
 * of it; the dead versions in between cost a step each of the HOT chain
 * walk.
 */
static bool
CounterAdd(CounterTable *t, Snapshot snap, int64 operator_id, DateADT key, const int32 *adds, int32 *newv)
{
	ScanKeyData sk[2];
	ItemPointer tidp;
	ItemPointerData tid;
	Buffer		buf = InvalidBuffer;
	HeapTupleData old;
	HeapTuple	tup;
	TupleDesc	desc = RelationGetDescr(t->rel);
	Datum		values[ACT_NCOUNTS];
	Datum	   *nv;
	bool	   *nn;
	bool	   *repl;
	int			natts = desc->natts;
	TM_Result	res;
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		found = false;
	Page		page;
	CounterPlace *place;
	ItemPointerData root;
	Buffer		fetched;

	if (!t->fast)
		return false;
	place = CounterPlaceFind(RelationGetRelid(t->rel), operator_id, key);
	if (OidIsValid(place->relfilenode) && CounterAtPlace(t, snap, operator_id, key, place, &buf, &tid, &old))
	{
		found = true;
		root = place->root;
	}
	else
	{
		ScanKeyInit(&sk[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(operator_id));
		ScanKeyInit(&sk[1], 2, BTEqualStrategyNumber, F_DATE_EQ, DateADTGetDatum(key));
		if (t->scan == NULL)
			t->scan = index_beginscan(t->rel, t->pk, snap, 2, 0);
		index_rescan(t->scan, sk, 2, NULL, 0);
	}
	while (!found && (tidp = index_getnext_tid(t->scan, ForwardScanDirection)) != NULL)
	{
		bool		all_dead = false;

		tid = root = *tidp;
		buf = ReleaseAndReadBuffer(buf, t->rel, ItemPointerGetBlockNumber(&tid));
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		found = heap_hot_search_buffer(&tid, t->rel, buf, snap, &old, &all_dead, true);
		/* as index_fetch_heap: a chain dead to everyone marks its index entry dead */
		if (!t->scan->xactStartedInRecovery)
			t->scan->kill_prior_tuple = all_dead;
		if (found)
			break;
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	}
	if (!found)
	{
		if (BufferIsValid(buf))
			ReleaseBuffer(buf);
		return false;
	}
	/* the visible version, read under the buffer's share lock */
	for (int c = 0; c < t->ncols; c++)
	{
		bool		isnull;
		int32		v = DatumGetInt32(heap_getattr(&old, t->att[c], desc, &isnull));

		if (isnull)
		{
			UnlockReleaseBuffer(buf);
			return false;
		}
		if (pg_add_s32_overflow(v, adds[c], &v))
		{
			UnlockReleaseBuffer(buf);
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("integer out of range")));
		}
		values[c] = Int32GetDatum(v);
		newv[c] = v;
	}
	nv = palloc0_array(Datum, natts);
	nn = palloc0_array(bool, natts);
	repl = palloc0_array(bool, natts);
	for (int c = 0; c < t->ncols; c++)
	{
		nv[t->att[c] - 1] = values[c];
		repl[t->att[c] - 1] = true;
	}
	tup = heap_modify_tuple(&old, desc, nv, nn, repl);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	/* room for the new version on its page (HOT), by pruning only when there is none */
	page = BufferGetPage(buf);
	if (PageIsFull(page) || PageGetHeapFreeSpace(page) < MAXALIGN(tup->t_len))
		heap_page_prune_opt(t->rel, buf);
	fetched = buf;
	ReleaseBuffer(buf);
	if (t->rri != NULL)
	{
		ExecStoreHeapTuple(tup, t->newslot, false);
		ExecConstraints(t->rri, t->newslot, t->estate);
		ExecClearTuple(t->newslot);
		ResetPerTupleExprContext(t->estate);
	}
	res = heap_update(t->rel, &tid, tup, GetCurrentCommandId(true), InvalidSnapshot, true,
					  &tmfd, &lockmode);
	if (res != TM_Ok)
	{
		heap_freetuple(tup);
		return false;
	}
	/* the row's place for the next flush: its chain's root, or the new version when it starts a chain */
	if (!HeapTupleIsHeapOnly(tup))
		root = tup->t_self;
	place->relfilenode = t->rel->rd_node.relNode;
	place->root = root;
	place->latest = tup->t_self;
	place->buffer = HeapTupleIsHeapOnly(tup) ? fetched : InvalidBuffer;
	if (!HeapTupleIsHeapOnly(tup))
	{
		TupleTableSlot *ns = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);

		if (!t->indexes_open)
			CounterTableOpenIndexes(t);
		ExecStoreHeapTuple(tup, ns, false);
		for (int i = 0; i < t->nindexes; i++)
		{
			Datum		iv[INDEX_MAX_KEYS];
			bool		in[INDEX_MAX_KEYS];

			/* as ExecInsertIndexTuples: an index still being built concurrently takes no entries yet */
			if (!t->infos[i]->ii_ReadyForInserts)
				continue;
			FormIndexDatum(t->infos[i], ns, NULL, iv, in);
			index_insert(t->indexes[i], iv, in, &tup->t_self, t->rel,
						 t->indexes[i]->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, t->infos[i]);
		}
		ExecDropSingleTupleTableSlot(ns);
	}
	heap_freetuple(tup);
	pfree(nv);
	pfree(nn);
	pfree(repl);
	return true;
}

/*
 * operator_day and operator_month are partitioned by RANGE of their date
 * column (part 58): the in-place path works on the partition that holds a
 * day (or month), found as the executor's tuple
 * routing does (the bound search of get_partition_for_tuple for one range
 * key, else the default partition) and opened on first use in a flush.
 */
typedef struct CounterLeaves
{
	Relation	parent;			/* opened by CounterTableOpenRel, not fast */
	int			n;
	int			max;
	Oid		   *oids;
	CounterTable *tables;
} CounterLeaves;

static Oid
CounterLeafFor(Relation parent, DateADT day)
{
	PartitionKey key;
	PartitionDesc pd;
	PartitionBoundInfo bi;
	Datum		v = DateADTGetDatum(day);
	bool		equal;
	int			off;
	int			idx;

	if (parent->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return InvalidOid;
	key = RelationGetPartitionKey(parent);
	if (key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1
		|| key->parttypid[0] != DATEOID)
		return InvalidOid;
	pd = RelationGetPartitionDesc(parent, true);
	bi = pd->boundinfo;
	if (pd->nparts == 0 || bi == NULL)
		return InvalidOid;
	off = partition_range_datum_bsearch(key->partsupfunc, key->partcollation, bi, 1, &v, &equal);
	idx = bi->indexes[off + 1];
	if (idx < 0)
		idx = bi->default_index;
	if (idx < 0)
		return InvalidOid;
	/* a leaf: a sub-partitioned partition is left to the statement */
	if (pd->is_leaf != NULL && !pd->is_leaf[idx])
		return InvalidOid;
	return pd->oids[idx];
}

/* The opened partition of leaves->parent holding day, or NULL (the statement path). */
static CounterTable *
CounterLeaf(CounterLeaves *leaves, DateADT day, const char *const *columns, int ncols)
{
	Oid			leaf = CounterLeafFor(leaves->parent, day);

	if (!OidIsValid(leaf))
		return NULL;
	for (int i = 0; i < leaves->n; i++)
		if (leaves->oids[i] == leaf)
			return &leaves->tables[i];
	if (leaves->n == leaves->max)
	{
		leaves->max = Max(4, leaves->max * 2);
		leaves->oids = leaves->oids == NULL ? palloc_array(Oid, leaves->max)
			: repalloc_array(leaves->oids, Oid, leaves->max);
		leaves->tables = leaves->tables == NULL ? palloc_array(CounterTable, leaves->max)
			: repalloc_array(leaves->tables, CounterTable, leaves->max);
	}
	CounterTableOpenRel(&leaves->tables[leaves->n], leaf, columns, ncols);
	leaves->oids[leaves->n] = leaf;
	return &leaves->tables[leaves->n++];
}

/* The first day of the month of day (date_trunc('month', day)::date). */
static DateADT
MonthOf(DateADT day)
{
	int			y,
				m,
				d;

	j2date(day + POSTGRES_EPOCH_JDATE, &y, &m, &d);
	return date2j(y, m, 1) - POSTGRES_EPOCH_JDATE;
}

/*
 * The transaction's receipts that are complete, per (operator, day): the
 * rule of record_completeness('receipt', id) (incoming_fields_complete,
 * inlined), run only when the transaction made receipts. Each inspection is
 * probed by its id alone (LATERAL ... LIMIT 1, leading each month
 * partition's key) and its kind tested after: the saved generic plan of
 * "i.id = ANY ($1) AND i.kind = 'incoming'" scanned the partial index of
 * incoming inspections whole at every commit (a bulk upload's chunks slowed
 * from 2 s to 16 s as the table grew). Always its generic plan (generic):
 * left to the plan cache it was planned again at every commit that made a
 * receipt, a five-way join, 30 % of a ship + receive pair's time (perf).
 * A row per complete receipt, counted by the flush, and the ids given
 * distinct (ActivityFlush): a DISTINCT and a GROUP BY here were a hash
 * table and a sort to set up at every such commit (a quarter of the
 * statement's time, which was 4 % of a pair's).
 */
#define COMPLETE_INSPECTION \
	"SELECT i.id, i.operator_id, i.inspected_at, i.batch_id, i.link_id, i.kind, i.report" \
	" FROM shilian.inspection i"
#define COMPLETE_RULE \
	" JOIN shilian.batch b ON b.id = i.batch_id" \
	" JOIN shilian.product p ON p.id = b.product_id" \
	" LEFT JOIN shilian.link l ON l.id = i.link_id" \
	" LEFT JOIN shilian.operator o ON o.id = l.seller_id" \
	" WHERE i.kind = 'incoming'" \
	"  AND shilian.incoming_fields_complete(p.edible_agricultural, p.spec," \
	"   coalesce(o.name, b.supplier->>'name'), coalesce(o.address, b.supplier->>'address')," \
	"   coalesce(o.contact, b.supplier->>'contact')," \
	"   coalesce(b.supplier_licence::text, b.supplier->>'licence')," \
	"   coalesce(b.certificate, i.report->'certificate'))"
static SlStmt complete_stmt = {
	"SELECT i.operator_id, shilian.platform_date(i.inspected_at)"
	" FROM unnest($1) AS k (id)"
	" CROSS JOIN LATERAL (" COMPLETE_INSPECTION " WHERE i.id = k.id LIMIT 1) i"
	COMPLETE_RULE,
	1, {"bigint[]"}, NULL, 0, true
};

/*
 * The same for one inspection (a commit of one receipt, nearly every one):
 * its id a scalar, no unnest and no LATERAL, so the generic plan is a chain
 * of key probes without the function scan's tuplestore and the two Memoize
 * nodes the array's plan sets up at every commit (the completeness query
 * was 4.5 % of a ship + receive pair, half of it starting its plan).
 */
static SlStmt complete_one_stmt = {
	"SELECT i.operator_id, shilian.platform_date(i.inspected_at)"
	" FROM (" COMPLETE_INSPECTION " WHERE i.id = $1 LIMIT 1) i"
	COMPLETE_RULE,
	1, {"bigint"}, NULL, 0, true
};

typedef struct ActKey
{
	int64		operator_id;
	DateADT		day;
} ActKey;

typedef struct ActSum
{
	ActKey		key;
	int32		c[ACT_NCOUNTS];
} ActSum;

/* Ascending int8 Datums (qsort). */
static int
DatumInt64Cmp(const void *a, const void *b)
{
	int64		x = DatumGetInt64(*(const Datum *) a);
	int64		y = DatumGetInt64(*(const Datum *) b);

	return (x > y) - (x < y);
}

/* The flush's one order: by operator, then day (or month). */
static int
ActSumCmp(const void *a, const void *b)
{
	const ActKey *x = &((const ActSum *) a)->key;
	const ActKey *y = &((const ActSum *) b)->key;

	if (x->operator_id != y->operator_id)
		return x->operator_id < y->operator_id ? -1 : 1;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return 0;
}

/*
 * Sort the n sums of arr by key and add up those of one key, in place;
 * returns how many keys remain. (Sorting then merging rather than a hash
 * table: two hash tables created per commit were a twentieth of the
 * flush of one batch_create.)
 */
static int
ActSumsMerge(ActSum *arr, int n)
{
	int			m = 0;

	if (n > 1)
		qsort(arr, n, sizeof(ActSum), ActSumCmp);
	for (int i = 0; i < n; i++)
	{
		if (m > 0 && ActSumCmp(&arr[m - 1], &arr[i]) == 0)
		{
			for (int c = 0; c < ACT_NCOUNTS; c++)
				arr[m - 1].c[c] += arr[i].c[c];
		}
		else if (m++ != i)
			arr[m - 1] = arr[i];
	}
	return m;
}

/*
 * The station rollup (station_month, 62_rollup.sql) of the operator-months
 * the flush wrote: each operator-month contributes, at its operator's home
 * station and segment, one active operator when it has records (one 10+3
 * operator when the operator is active and key, one uploading own-system
 * operator when active, own-system and via_client > 0), and its receipts
 * and complete receipts. The flush knows each row's counts before and after
 * its addition, so it adds the difference itself: per (month, station,
 * segment), in that order, under the rollup lock held shared (recounts hold
 * it exclusively). rollup_stmt sums the changes per (month, station,
 * segment), in that order (each operator probed by its key, LATERAL ...
 * LIMIT 1: its generic plan, always used, would otherwise hash-join the
 * whole operator table; operator_is_key, PL/pgSQL, asked only of a row
 * whose records term changes, as a receipt's flush rarely does), and
 * station_upd_stmt (else station_ins_stmt) adds each row's: $1 operators,
 * $2 months, $3..$6 the changes of the records (0/1), uploading (0/1),
 * receipts and complete receipts terms.
 */
static SlStmt rollup_lock_stmt = {
	"SELECT pg_catalog.pg_advisory_xact_lock_shared(shilian.rollup_lock())", 0, {NULL}
};
#define ROLLUP_OPERATOR \
	"SELECT o.id, o.station, o.segment, o.status, o.kinds, o.own_system FROM shilian.operator o WHERE o.id = "
#define ROLLUP_KEY(rec) \
	"CASE WHEN " rec " <> 0 AND o.status = 'active' AND shilian.operator_is_key(o.id, o.kinds) THEN " rec " ELSE 0 END"
#define ROLLUP_UP(up) "CASE WHEN o.status = 'active' AND o.own_system THEN " up " ELSE 0 END"
static SlStmt rollup_stmt = {
	"SELECT o.station, o.segment, d.month, sum(d.rec)::bigint,"
	"  sum(" ROLLUP_KEY("d.rec") ")::bigint,"
	"  sum(" ROLLUP_UP("d.up") ")::bigint,"
	"  sum(d.rc)::bigint, sum(d.rcc)::bigint"
	" FROM unnest($1::bigint[], $2::date[], $3::integer[], $4::integer[], $5::integer[], $6::integer[])"
	"   AS d (operator_id, month, rec, up, rc, rcc)"
	" CROSS JOIN LATERAL (" ROLLUP_OPERATOR "d.operator_id LIMIT 1) o"
	" GROUP BY o.station, o.segment, d.month"
	" ORDER BY d.month, o.station, o.segment",
	6, {"bigint[]", "date[]", "integer[]", "integer[]", "integer[]", "integer[]"}, NULL, 0, true
};

/*
 * The same for one operator-month (a commit of one receipt): its one row,
 * the sums of one row its terms, with no unnest, aggregate or sort to set
 * up (those were a tenth of the commit's flush, perf of a ship + receive
 * pair).
 */
static SlStmt rollup_one_stmt = {
	"SELECT o.station, o.segment, $2, $3::bigint,"
	"  (" ROLLUP_KEY("$3") ")::bigint,"
	"  (" ROLLUP_UP("$4") ")::bigint,"
	"  $5::bigint, $6::bigint"
	" FROM (" ROLLUP_OPERATOR "$1 LIMIT 1) o",
	6, {"bigint", "date", "integer", "integer", "integer", "integer"}, NULL, 0, true
};

/*
 * The frozen months this backend has seen (figures_frozen_month): a month
 * frozen stays frozen, so its late records need no mark and no statement
 * (a pgbench of late batch_creates paid a tenth of its time for the
 * marks' statement). Only another transaction's freeze is taken in (its
 * frozen_at is not this transaction's now()): one of this transaction's
 * own may still roll back.
 */
static DateADT cache_frozen[64];
static int	cache_nfrozen = 0;

static bool
CacheMonthFrozen(DateADT month)
{
	for (int i = 0; i < cache_nfrozen; i++)
		if (cache_frozen[i] == month)
			return true;
	return false;
}

static void
CacheMonthFrozenAdd(DateADT month)
{
	if (cache_nfrozen < (int) lengthof(cache_frozen) && !CacheMonthFrozen(month))
		cache_frozen[cache_nfrozen++] = month;
}

/*
 * The first day of the current platform month: the months before it have
 * ended, and only a write dated in one of them can move the month cache
 * (part 65). figures_cache_horizon() in SQL, the flush's own test below.
 */
static DateADT
FiguresCacheHorizon(void)
{
	return MonthOf(PlatformToday());
}

/*
 * figures_cache_horizon() → date. In C, not a SQL function: the figures
 * cache triggers' WHEN conditions call it, and each statement that writes
 * link or batch prepares those conditions again; a SQL function was inlined
 * each time (its body read from the catalog and parsed: 1 % of a ship +
 * receive pair, perf).
 */
PG_FUNCTION_INFO_V1(figures_cache_horizon);
Datum
figures_cache_horizon(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(FiguresCacheHorizon());
}

static SlStmt frozen_months_stmt = {
	"SELECT f.month FROM shilian.figures_frozen_month f"
	" WHERE f.month = ANY ($1) AND f.frozen_at <> pg_catalog.now()",
	1, {"date[]"}, NULL, 0, true
};

/*
 * The month cache's dirty marks (part 65, figures_cache_dirty) for counter
 * rows of ended months: each operator's home stations, for that month;
 * none for a frozen month (its figures are stored for good and never read
 * the cache: records dated in it after its report cost no write here). Its
 * generic plan is kept (a function around it was planned again at every
 * call: a third of a late batch_create's time).
 */
static SlStmt cache_mark_stmt = {
	"INSERT INTO shilian.figures_cache_dirty (station, month_from, month_to)"
	" SELECT DISTINCT h.station, u.mon, u.mon"
	" FROM unnest($1, $2) AS u(op, mon)"
	" JOIN shilian.operator_history h ON h.operator_id = u.op"
	" WHERE NOT EXISTS (SELECT 1 FROM shilian.figures_frozen_month f WHERE f.month = u.mon)",
	2, {"bigint[]", "date[]"}, NULL, 0, true
};

/*
 * One (station, segment, month) row of the rollup's changes, added by an
 * update or else an insert (station_month is partitioned by month, its key
 * each partition's own): $1 station, $2 segment, $3 month, $4..$8 the
 * changes. Two statements, the insert run only when the update found no
 * row, and both run again when the insert found the row another
 * transaction inserted first. Nearly every flush finds its row: one
 * statement of one table to start, not the update and the insert with its
 * conflict arbiter of one WITH statement (3.5 % of a ship + receive pair,
 * perf).
 */
static SlStmt station_upd_stmt = {
	"UPDATE shilian.station_month s SET active_operators = s.active_operators + $4,"
	"  key_recorded = s.key_recorded + $5, own_system_uploading = s.own_system_uploading + $6,"
	"  receipts = s.receipts + $7, receipts_complete = s.receipts_complete + $8"
	"  WHERE s.month = $3 AND s.station = $1 AND s.segment = $2",
	8, {"text", "text", "date", "bigint", "bigint", "bigint", "bigint", "bigint"}
};
static SlStmt station_ins_stmt = {
	"INSERT INTO shilian.station_month (station, segment, month, active_operators, key_recorded,"
	"  own_system_uploading, receipts, receipts_complete)"
	"  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
	8, {"text", "text", "date", "bigint", "bigint", "bigint", "bigint", "bigint"}
};

/*
 * The change of one operator-month's rollup terms (rec, up, rc, rcc) when
 * its counts (records, receipts, receipts_complete, via_client) went from
 * newv - adds (all 0: no row) to newv. True when anything changed.
 */
static bool
RollupDelta(const int32 *newv, const int32 *adds, int32 *d)
{
	int32		o_records = newv[0] - adds[0];
	int32		o_rc = newv[1] - adds[1];
	int32		o_rcc = newv[2] - adds[2];
	int32		o_via = newv[3] - adds[3];
	bool		was = o_records > 0;
	bool		is = newv[0] > 0;

	d[0] = (int32) is - (int32) was;
	d[1] = (int32) (is && newv[3] > 0) - (int32) (was && o_via > 0);
	d[2] = (is ? newv[1] : 0) - (was ? o_rc : 0);
	d[3] = (is ? newv[2] : 0) - (was ? o_rcc : 0);
	return d[0] != 0 || d[1] != 0 || d[2] != 0 || d[3] != 0;
}

/*
 * The counters tables (shilian.operator_day, operator_month) and the owner
 * of operator_day, as whom the flush writes (operators may not): looked up
 * once per backend, again after any change to pg_class or pg_namespace.
 */
static Oid	counters_day = InvalidOid;
static Oid	counters_month = InvalidOid;
static Oid	counters_owner = InvalidOid;
static bool counters_callback = false;

static void
CountersRelsInval(Datum arg, int cacheid, uint32 hashvalue)
{
	counters_day = counters_month = counters_owner = InvalidOid;
}

static Oid
CounterRelid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation shilian.%s does not exist", name),
				 errhint("Is the shilian extension installed?")));
	return relid;
}

static void
CountersRels(void)
{
	Oid			nsp;
	Oid			day;
	Oid			month;
	HeapTuple	tup;
	Oid			owner;

	if (!counters_callback)
	{
		CacheRegisterSyscacheCallback(RELOID, CountersRelsInval, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, CountersRelsInval, (Datum) 0);
		counters_callback = true;
	}
	if (OidIsValid(counters_owner))
		return;
	nsp = get_namespace_oid("shilian", false);
	day = CounterRelid(nsp, "operator_day");
	month = CounterRelid(nsp, "operator_month");
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(day));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", day);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	counters_day = day;
	counters_month = month;
	counters_owner = owner;
}

/*
 * The flush's SPI connection, made when its first statement needs it (a
 * commit whose counter rows are all updated in place runs none), with
 * enable_seqscan and jit off once for all its statements (stmt.c).
 */
static void
FlushConnect(bool *spi, int *nest)
{
	if (*spi)
		return;
	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	*spi = true;
	*nest = SlPlanSettingsBegin();
}

static void
ActivityFlush(void)
{
	ActEntry   *log = act_log;
	int			len = act_len;
	ActSum	   *s;
	ActSum	   *days;
	ActSum	   *mons;
	int			ndays;
	int			nmons;
	Datum	   *incoming;
	int			nincoming = 0;
	Oid			save_user;
	int			save_sec;
	bool		spi = false;
	CounterTable day_t;
	CounterLeaves leaves;
	CounterTable month_t;
	CounterLeaves month_leaves;
	Snapshot	snap;
	Oid			day_relid;
	Oid			month_relid;
	Datum	   *r_op;
	Datum	   *r_month;
	Datum	   *r_d[4];
	int			nroll = 0;
	int			nest = 0;

	/* taken first: nothing below may count twice */
	act_log = NULL;
	act_len = act_cap = 0;

	/* the (operator, day) rows in order, each summed */
	days = palloc0_array(ActSum, Max(len, 1));
	incoming = palloc_array(Datum, len);
	for (int i = 0; i < len; i++)
	{
		s = &days[i];
		s->key.operator_id = log[i].operator_id;
		s->key.day = log[i].day;
		s->c[0] += log[i].n;
		s->c[1 + log[i].kind] += log[i].n;
		if (log[i].via_client)
			s->c[ACT_VIA] += log[i].n;
		if (log[i].incoming != 0)
			incoming[nincoming++] = Int64GetDatum(log[i].incoming);
	}
	ndays = ActSumsMerge(days, len);

	/* as the table's owner: operators and systems hold no privilege on it */
	GetUserIdAndSecContext(&save_user, &save_sec);
	CountersRels();
	/* kept: a statement below may take in an invalidation that clears them */
	day_relid = counters_day;
	month_relid = counters_month;
	SetUserIdAndSecContext(counters_owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PushActiveSnapshot(GetTransactionSnapshot());

	if (nincoming > 0)
	{
		Datum		ids;
		int			n = 1;

		/* each inspection once (a receipt is logged once: this only makes sure) */
		qsort(incoming, nincoming, sizeof(Datum), DatumInt64Cmp);
		for (int i = 1; i < nincoming; i++)
			if (DatumGetInt64(incoming[i]) != DatumGetInt64(incoming[n - 1]))
				incoming[n++] = incoming[i];
		nincoming = n;

		FlushConnect(&spi, &nest);
		if (nincoming == 1)
			SlExec(&complete_one_stmt, incoming, NULL, 0);
		else
		{
			ids = PointerGetDatum(construct_array(incoming, nincoming, INT8OID, 8,
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			SlExec(&complete_stmt, &ids, NULL, 0);
		}
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			ActSum		k;

			memset(&k, 0, sizeof(k));
			k.key.operator_id = DatumGetInt64(SlGet(r, 1, NULL));
			k.key.day = DatumGetDateADT(SlGet(r, 2, NULL));
			s = bsearch(&k, days, ndays, sizeof(ActSum), ActSumCmp);
			if (s != NULL)
				s->c[ACT_COMPLETE]++;
		}
	}

	/* their months (the first day, or the day itself when not finite), summed, in order */
	mons = palloc0_array(ActSum, Max(ndays, 1));
	for (int i = 0; i < ndays; i++)
	{
		ActSum	   *m = &mons[i];

		s = &days[i];
		m->key.operator_id = s->key.operator_id;
		m->key.day = DATE_NOT_FINITE(s->key.day) ? s->key.day : MonthOf(s->key.day);
		m->c[0] = s->c[0];
		m->c[1] = s->c[1 + ACT_RECEIPTS];
		m->c[2] = s->c[ACT_COMPLETE];
		m->c[3] = s->c[ACT_VIA];
	}
	nmons = ActSumsMerge(mons, ndays);

	/*
	 * The tables are opened (and locked) before the snapshot is taken: a
	 * rebuild that holds them is over, and seen, by then.
	 */
	CounterTableOpenRel(&day_t, day_relid, day_columns, lengthof(day_columns));
	CounterTableOpenRel(&month_t, month_relid, month_columns, lengthof(month_columns));
	memset(&leaves, 0, sizeof(leaves));
	leaves.parent = day_t.rel;
	memset(&month_leaves, 0, sizeof(month_leaves));
	month_leaves.parent = month_t.rel;
	/* what this transaction wrote before is seen (and its rows are not touched twice at one command id) */
	CommandCounterIncrement();
	snap = RegisterSnapshot(GetLatestSnapshot());
	for (int i = 0; i < ndays; i++)
	{
		int32		newv[ACT_NCOUNTS];
		CounterTable *leaf = NULL;

		s = &days[i];
		if (!DATE_NOT_FINITE(s->key.day))
			leaf = day_t.fast ? &day_t : CounterLeaf(&leaves, s->key.day, day_columns, lengthof(day_columns));
		if (leaf == NULL || !CounterAdd(leaf, snap, s->key.operator_id, s->key.day, s->c, newv))
		{
			Datum		v[12];

			v[0] = Int64GetDatum(s->key.operator_id);
			v[1] = DateADTGetDatum(s->key.day);
			for (int c = 0; c < ACT_NCOUNTS; c++)
				v[2 + c] = Int32GetDatum(s->c[c]);
			FlushConnect(&spi, &nest);
			/*
			 * operator_day is partitioned, its key each partition's own: no
			 * ON CONFLICT DO UPDATE. The update finds the row, or the insert
			 * makes it; neither when another transaction inserted it after
			 * this statement's snapshot (the insert waited for it to commit):
			 * then again, with a new snapshot that sees it. At repeatable
			 * read the insert itself fails with a serialization failure.
			 */
			for (int attempt = 0;; attempt++)
			{
				bool		isnull;

				SlExec(&day_stmt, v, NULL, 0);
				if (SPI_processed == 1 && DatumGetInt64(SlGet(0, 1, &isnull)) == 1)
					break;
				if (attempt >= 3)
					elog(ERROR, "operator_day: no row updated or inserted for operator " INT64_FORMAT " after %d attempts",
						 s->key.operator_id, attempt + 1);
				CommandCounterIncrement();
			}
		}
	}
	r_op = palloc_array(Datum, Max(nmons, 1));
	r_month = palloc_array(Datum, Max(nmons, 1));
	for (int c = 0; c < 4; c++)
		r_d[c] = palloc_array(Datum, Max(nmons, 1));
	for (int i = 0; i < nmons; i++)
	{
		int32		newv[ACT_NCOUNTS];
		int32		d[4];
		CounterTable *leaf = NULL;

		s = &mons[i];
		if (!DATE_NOT_FINITE(s->key.day))
			leaf = month_t.fast ? &month_t
				: CounterLeaf(&month_leaves, s->key.day, month_columns, lengthof(month_columns));
		if (leaf == NULL || !CounterAdd(leaf, snap, s->key.operator_id, s->key.day, s->c, newv))
		{
			Datum		v[6];

			v[0] = Int64GetDatum(s->key.operator_id);
			v[1] = DateADTGetDatum(s->key.day);
			for (int c = 0; c < 4; c++)
				v[2 + c] = Int32GetDatum(s->c[c]);
			FlushConnect(&spi, &nest);
			/* update or insert, again when another transaction inserted the row first (as for the day) */
			for (int attempt = 0;; attempt++)
			{
				SlExec(&month_stmt, v, NULL, 0);
				if (SPI_processed == 1)
					break;
				if (SPI_processed > 1 || attempt >= 3)
					elog(ERROR, "operator_month: " UINT64_FORMAT " rows updated or inserted for operator " INT64_FORMAT " after %d attempts",
						 SPI_processed, s->key.operator_id, attempt + 1);
				CommandCounterIncrement();
			}
			for (int c = 0; c < 4; c++)
				newv[c] = DatumGetInt32(SlGet(0, 1 + c, NULL));
		}
		/* the station rollup's part of this operator-month (its month is a first day) */
		if (!DATE_NOT_FINITE(s->key.day) && RollupDelta(newv, s->c, d))
		{
			r_op[nroll] = Int64GetDatum(s->key.operator_id);
			r_month[nroll] = DateADTGetDatum(s->key.day);
			for (int c = 0; c < 4; c++)
				r_d[c][nroll] = Int32GetDatum(d[c]);
			nroll++;
		}
	}
	for (int i = 0; i < month_leaves.n; i++)
		CounterTableClose(&month_leaves.tables[i]);
	CounterTableClose(&month_t);
	for (int i = 0; i < leaves.n; i++)
		CounterTableClose(&leaves.tables[i]);
	CounterTableClose(&day_t);
	UnregisterSnapshot(snap);

	if (nroll > 0)
	{
		Datum		v[6];

		FlushConnect(&spi, &nest);
		SlExec(&rollup_lock_stmt, NULL, NULL, 0);
		if (nroll == 1)
		{
			v[0] = r_op[0];
			v[1] = r_month[0];
			for (int c = 0; c < 4; c++)
				v[2 + c] = r_d[c][0];
			SlExec(&rollup_one_stmt, v, NULL, 0);
		}
		else
		{
			v[0] = PointerGetDatum(construct_array(r_op, nroll, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			v[1] = PointerGetDatum(construct_array(r_month, nroll, DATEOID, 4, true, TYPALIGN_INT));
			for (int c = 0; c < 4; c++)
				v[2 + c] = PointerGetDatum(construct_array(r_d[c], nroll, INT4OID, 4, true, TYPALIGN_INT));
			SlExec(&rollup_stmt, v, NULL, 0);
		}
		/* its rows, in (month, station, segment) order, one at a time (kept until SPI_finish) */
		{
			SPITupleTable *tt = SPI_tuptable;
			uint64		nrows = SPI_processed;

			for (uint64 r = 0; r < nrows; r++)
			{
				Datum		sv[8];

				for (int c = 0; c < 8; c++)
				{
					bool		isnull;

					sv[c] = SPI_getbinval(tt->vals[r], tt->tupdesc, 1 + c, &isnull);
					if (isnull)
						elog(ERROR, "station_month: a null in the rollup's change");
				}
				for (int attempt = 0;; attempt++)
				{
					SlExec(&station_upd_stmt, sv, NULL, 0);
					if (SPI_processed == 1)
						break;
					SlExec(&station_ins_stmt, sv, NULL, 0);
					if (SPI_processed == 1)
						break;
					if (attempt >= 3)
						elog(ERROR, "station_month: no row updated or inserted after %d attempts", attempt + 1);
					CommandCounterIncrement();
				}
			}
		}
	}
	/*
	 * Rows of ended months (a late record): the month cache (part 65) of
	 * those operators' stations is no longer theirs. The current month's
	 * rows, nearly all of them, cost this comparison only.
	 */
	{
		DateADT		horizon = FiguresCacheHorizon();
		int			nlate = 0;
		bool		unknown = false;

		/* the months not known frozen: asked once (a frozen month stays frozen) */
		for (int i = 0; i < nmons; i++)
			if (!DATE_NOT_FINITE(mons[i].key.day) && mons[i].key.day < horizon
				&& !CacheMonthFrozen(mons[i].key.day))
			{
				r_month[nlate++] = DateADTGetDatum(mons[i].key.day);
				unknown = true;
			}
		if (unknown)
		{
			Datum		v = PointerGetDatum(construct_array(r_month, nlate, DATEOID, 4, true, TYPALIGN_INT));

			FlushConnect(&spi, &nest);
			SlExec(&frozen_months_stmt, &v, NULL, 0);
			for (uint64 r = 0; r < SPI_processed; r++)
				CacheMonthFrozenAdd(DatumGetDateADT(SlGet(r, 1, NULL)));
		}
		nlate = 0;
		for (int i = 0; i < nmons; i++)
			if (!DATE_NOT_FINITE(mons[i].key.day) && mons[i].key.day < horizon
				&& !CacheMonthFrozen(mons[i].key.day))
			{
				r_op[nlate] = Int64GetDatum(mons[i].key.operator_id);
				r_month[nlate] = DateADTGetDatum(mons[i].key.day);
				nlate++;
			}
		if (nlate > 0)
		{
			Datum		v[2];

			v[0] = PointerGetDatum(construct_array(r_op, nlate, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			v[1] = PointerGetDatum(construct_array(r_month, nlate, DATEOID, 4, true, TYPALIGN_INT));
			FlushConnect(&spi, &nest);
			SlExec(&cache_mark_stmt, v, NULL, 0);
		}
	}
	/*
	 * A further table kept from the same counts: a loop like these (its own
	 * sorted sums when its key is coarser than (operator, day), so that each
	 * of its rows is written once per flush, in key order), through
	 * CounterAdd or its statement.
	 */

	if (spi)
	{
		SlPlanSettingsEnd(nest);
		SPI_finish();
	}
	PopActiveSnapshot();
	SetUserIdAndSecContext(save_user, save_sec);
}

/* ---- transaction events ------------------------------------------------- */

static void
ActivityXact(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (act_len > 0)
				ActivityFlush();
			break;
		default:
			/* committed (flushed above), aborted or prepared: the log's memory is gone */
			act_log = NULL;
			act_len = act_cap = 0;
			break;
	}
}

static void
ActivitySubXact(SubXactEvent event, SubTransactionId mySubid,
				SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	while (act_len > 0 && act_log[act_len - 1].subid >= mySubid)
		act_len--;
}

void
ActivityCount(int64 operator_id, DateADT day, ActivityKind kind, bool via_client, int64 incoming)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	ActEntry   *last;

	if (!shilian_activity_counters || kind == ACT_NONE)
		return;
	if (!act_registered)
	{
		RegisterXactCallback(ActivityXact, NULL);
		RegisterSubXactCallback(ActivitySubXact, NULL);
		act_registered = true;
	}
	last = act_len > 0 ? &act_log[act_len - 1] : NULL;
	if (last != NULL && incoming == 0 && last->incoming == 0 && last->operator_id == operator_id && last->day == day &&
		last->kind == (int16) kind && last->via_client == via_client && last->subid == subid)
	{
		last->n++;
		return;
	}
	if (act_len == act_cap)
	{
		int			cap = act_cap == 0 ? 16 : act_cap * 2;

		act_log = act_log == NULL
			? MemoryContextAlloc(TopTransactionContext, sizeof(ActEntry) * cap)
			: repalloc(act_log, sizeof(ActEntry) * cap);
		act_cap = cap;
	}
	last = &act_log[act_len++];
	last->operator_id = operator_id;
	last->day = day;
	last->subid = subid;
	last->kind = (int16) kind;
	last->via_client = via_client;
	last->n = 1;
	last->incoming = incoming;
}
