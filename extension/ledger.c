/*
 * ledger.c — appending to and verifying the per-operator hash chains.
 * The bytes that are hashed come from core/canon.c; this file walks jsonb
 * into that encoding, takes the locks that keep chains linear, and reads
 * chains back in big batches for chain_verify().
 */
#include "shilian.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/namespace.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "access/attmap.h"
#include "parser/parse_func.h"
#include "partitioning/partbounds.h"
#include "utils/acl.h"
#include "utils/partcache.h"
#include "utils/rls.h"
#include "catalog/partition.h"
#include "partitioning/partdesc.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/inval.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "canon.h"
#include "ledger.h"
#include "ledger_internal.h"
#include "security.h"

/* Advisory lock space of per-operator chain locks (field4 of the lock tag). */
#define LEDGER_LOCK_SPACE 0x534C

/*
 * Per-backend cache of the ledger's relation, index and column numbers,
 * rebuilt when the extension is (re)created under us.
 */
static Oid	cached_ledger = InvalidOid;
static Oid	cached_seq = InvalidOid;
static Oid	cached_chain = InvalidOid;	/* ledger_chain */
static Oid	cached_chain_pkey = InvalidOid;
static Oid	cached_chain_entry = InvalidOid;
static AttrNumber chain_op_attnum,
			chain_seq_attnum,
			chain_entry_attnum,
			chain_hash_attnum;
static Oid	cached_leaf = InvalidOid;
static Oid	cached_leaf_opseq = InvalidOid;
static AttrNumber leaf_op_attnum,
			leaf_seq_attnum;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_chain_insert = NULL;
static Oid	cached_chain_link_fn = InvalidOid;	/* ledger_chain_link(), the C trigger */

/*
 * The partition that entries recorded in [target_lo, target_hi) go to (a
 * month partition, or the default one for a month without its own), found
 * once and kept until a relcache invalidation of the ledger or of that
 * partition; target_fast says whether it has the installed shape (see
 * PartitionFastOk), decided when first opened.
 */
static Oid	target_part = InvalidOid;
static bool target_default,
			target_has_lo,
			target_has_hi,
			target_checked,
			target_fast;
static TimestampTz target_lo,
			target_hi;
static uint64 inval_count = 0;	/* relcache invalidations seen of those relations */
static Oid	target_exprs_rel = InvalidOid;	/* the partition target_checks are of */

/* How ledger_chain rows are written: directly, or (a changed table) by SPI. */
typedef enum ChainPath
{
	CHAIN_UNKNOWN,
	CHAIN_FAST,
	CHAIN_SPI
} ChainPath;

static ChainPath chain_path = CHAIN_UNKNOWN;

/* How entries are written (see WritePathFor); PATH_UNKNOWN until decided. */
typedef enum WritePath
{
	PATH_UNKNOWN,
	PATH_FAST,
	PATH_SPI
} WritePath;

static WritePath write_path = PATH_UNKNOWN;

enum
{
	COL_ID, COL_OPERATOR, COL_SEQ, COL_KIND, COL_BODY, COL_ALG, COL_PREV, COL_HASH,
	COL_SUPERSEDES, COL_RECORDED, COL_SOURCE, COL_ON_DATE, NCOLS
};
static const char *const col_names[NCOLS] = {
	"id", "operator_id", "seq", "kind", "body", "alg", "prev_hash", "hash", "supersedes", "recorded_at",
	"source", "on_date"
};
static AttrNumber col_attnum[NCOLS];

static int64 LedgerAppendEntry(int64 operator_id, const char *kind, Jsonb *body, int64 supersedes,
							   const char *source, const DateADT *on_date);

static void *
PallocGrow(void *old, size_t newcap)
{
	if (old == NULL)
		return MemoryContextAlloc(TopMemoryContext, newcap);
	return repalloc(old, newcap);
}

static void *
PallocGrowLocal(void *old, size_t newcap)
{
	return old == NULL ? palloc(newcap) : repalloc(old, newcap);
}

void
LedgerBufInit(SlBuf *b)
{
	sl_buf_init(b, PallocGrowLocal);
}

void
LedgerBufInitIn(SlBuf *b, MemoryContext cxt, size_t initial)
{
	sl_buf_init(b, PallocGrowLocal);
	b->data = MemoryContextAlloc(cxt, Max(initial, 64));
	b->cap = Max(initial, 64);
}

Oid
LedgerRelid(const char *name)
{
	Oid			nsp;
	Oid			relid;

	SlCheckSchemaVersion();
	nsp = get_namespace_oid("shilian", false);
	relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation shilian.%s does not exist", name),
				 errhint("Is the shilian extension installed?")));
	return relid;
}

static void
RefreshCache(void)
{
	Oid			ledger = LedgerRelid("ledger");

	if (ledger == cached_ledger)
		return;
	cached_ledger = InvalidOid;
	cached_seq = LedgerRelid("ledger_id_seq");
	cached_chain = LedgerRelid("ledger_chain");
	cached_chain_pkey = LedgerRelid("ledger_chain_pkey");
	cached_chain_entry = LedgerRelid("ledger_chain_entry_id_key");
	chain_op_attnum = get_attnum(cached_chain, "operator_id");
	chain_seq_attnum = get_attnum(cached_chain, "seq");
	chain_entry_attnum = get_attnum(cached_chain, "entry_id");
	chain_hash_attnum = get_attnum(cached_chain, "hash");
	if (chain_op_attnum == InvalidAttrNumber || chain_seq_attnum == InvalidAttrNumber ||
		chain_entry_attnum == InvalidAttrNumber || chain_hash_attnum == InvalidAttrNumber)
		elog(ERROR, "shilian.ledger_chain lacks operator_id, seq, entry_id or hash");
	cached_leaf = LedgerRelid("ledger_leaf");
	cached_leaf_opseq = LedgerRelid("ledger_leaf_operator_seq");
	leaf_op_attnum = get_attnum(cached_leaf, "operator_id");
	leaf_seq_attnum = get_attnum(cached_leaf, "seq");
	if (leaf_op_attnum == InvalidAttrNumber || leaf_seq_attnum == InvalidAttrNumber)
		elog(ERROR, "shilian.ledger_leaf lacks operator_id or seq");
	for (int i = 0; i < NCOLS; i++)
	{
		col_attnum[i] = get_attnum(ledger, col_names[i]);
		if (col_attnum[i] == InvalidAttrNumber)
			elog(ERROR, "column shilian.ledger.%s does not exist", col_names[i]);
	}
	{
		List	   *fn = list_make2(makeString("shilian"), makeString("ledger_chain_link"));

		Oid			noargs[1] = {InvalidOid};

		cached_chain_link_fn = LookupFuncName(fn, 0, noargs, true);
	}
	if (plan_insert != NULL)
	{
		SPI_freeplan(plan_insert);
		plan_insert = NULL;
	}
	if (plan_chain_insert != NULL)
	{
		SPI_freeplan(plan_chain_insert);
		plan_chain_insert = NULL;
	}
	write_path = PATH_UNKNOWN;
	chain_path = CHAIN_UNKNOWN;
	target_part = InvalidOid;
	target_exprs_rel = InvalidOid;
	cached_ledger = ledger;
}

/*
 * The slow path, for a ledger table that got insert triggers, rules or
 * partitions in maintenance: a plain INSERT through SPI.
 */
static void
InsertViaSpi(Datum *v, bool *isnull)
{
	Datum		args[NCOLS];
	char		nulls[NCOLS];

	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_insert == NULL)
	{
		Oid			types[NCOLS] = {INT8OID, INT8OID, INT8OID, TEXTOID, BYTEAOID, INT2OID,
		BYTEAOID, BYTEAOID, INT8OID, TIMESTAMPTZOID, TEXTOID, DATEOID};

		plan_insert = SPI_prepare("INSERT INTO shilian.ledger (id, operator_id, seq, kind, body, alg, "
								  "prev_hash, hash, supersedes, recorded_at, source, on_date) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", NCOLS, types);
		if (plan_insert == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan_insert);
	}
	for (int i = 0; i < NCOLS; i++)
	{
		args[i] = v[col_attnum[i] - 1];
		nulls[i] = isnull[col_attnum[i] - 1] ? 'n' : ' ';
	}
	if (SPI_execute_plan(plan_insert, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ledger insert failed");
	SPI_finish();
}

/*
 * The fast path skips the planner, not the executor's guarantees: it calls
 * the executor's own insert routines directly, as COPY and logical
 * replication's apply worker do. The entry goes straight into the month
 * partition its recorded_at falls in (found from the ledger's partition
 * bounds once per month and kept, see OpenTarget), and its ledger_chain row
 * is written beside it (ChainPut), which is exactly what the ledger's one
 * insert trigger, ledger_chain_link, would have done. Columns the ledger
 * code does not set (added in maintenance) get the ledger's defaults
 * (build_column_default), stored generated columns are computed
 * (ExecComputeStoredGenerated), NOT NULL and CHECK constraints are checked
 * (ExecConstraints), the default partition's partition constraint too (a
 * month may have been attached since: ExecPartitionCheck, as tuple routing
 * does), and every index is maintained and checked, expression, partial and
 * exclusion ones included (ExecInsertIndexTuples); ledger_chain's keys
 * refuse a fork or a reused id as they do under the trigger. What it does
 * not run -- any other trigger (deferred unique and foreign keys are
 * triggers too), rules, a ledger not range-partitioned on recorded_at, a
 * partition whose columns differ from the ledger's, a domain-typed column
 * left to its type -- sends the entries through the SPI INSERT above
 * instead. The choice is made at first use and again after every relcache
 * invalidation of the ledger or of the partition (a trigger, constraint,
 * default, column or partition added in maintenance invalidates it), always
 * after the table lock is taken, so a change committed before it is seen.
 * Row-level security is not among the checks, on either path's behalf: the
 * entries are written by the extension's own code as the table's owner (the
 * record functions are SECURITY DEFINER, ledger_append is granted to no
 * role), whose inserts row-level security does not filter.
 */
static bool write_path_defaults = false;	/* an unset column has a default */
static bool relcache_callback_registered = false;

static void
LedgerRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached_ledger || relid == target_part)
	{
		write_path = PATH_UNKNOWN;
		target_part = InvalidOid;
		target_exprs_rel = InvalidOid;
		inval_count++;
	}
	if (relid == InvalidOid || relid == cached_chain)
		chain_path = CHAIN_UNKNOWN;
}

static void
RegisterCallback(void)
{
	if (!relcache_callback_registered)
	{
		CacheRegisterRelcacheCallback(LedgerRelcacheCallback, (Datum) 0);
		relcache_callback_registered = true;
	}
}

/* A column the ledger code fills (the columns of the installed table). */
static bool
OwnColumn(AttrNumber attnum)
{
	for (int i = 0; i < NCOLS; i++)
		if (col_attnum[i] == attnum)
			return true;
	return false;
}

/*
 * Whether the only insert trigger of a ledger table (the ledger or one of
 * its partitions) is ledger_chain_link as installed: BEFORE INSERT FOR EACH
 * ROW, firing in normal operation, without arguments or WHEN condition.
 */
static bool
OnlyChainLinkTrigger(TriggerDesc *td)
{
	int			found = 0;

	if (td == NULL || !OidIsValid(cached_chain_link_fn))
		return false;
	for (int i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (!TRIGGER_FOR_INSERT(t->tgtype))
			continue;
		if (t->tgfoid != cached_chain_link_fn || !TRIGGER_FOR_ROW(t->tgtype) ||
			!TRIGGER_FOR_BEFORE(t->tgtype) || t->tgnargs != 0 || t->tgqual != NULL ||
			(t->tgenabled != TRIGGER_FIRES_ON_ORIGIN && t->tgenabled != TRIGGER_FIRES_ALWAYS))
			return false;
		found++;
	}
	return found == 1;
}

static WritePath
WritePathFor(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	PartitionKey key;

	RegisterCallback();
	if (write_path != PATH_UNKNOWN)
		return write_path;
	write_path_defaults = false;
	write_path = PATH_SPI;
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE || rel->rd_rel->relispartition ||
		rel->rd_rules != NULL || !OnlyChainLinkTrigger(rel->trigdesc))
		return write_path;
	key = RelationGetPartitionKey(rel);
	if (key == NULL || key->strategy != PARTITION_STRATEGY_RANGE || key->partnatts != 1 ||
		key->partattrs[0] != col_attnum[COL_RECORDED])
		return write_path;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated || OwnColumn(att->attnum))
			continue;
		if (att->atthasdef || att->attidentity)
			write_path_defaults = true;
		else if (get_typtype(att->atttypid) == TYPTYPE_DOMAIN)
			return write_path;	/* a NULL there is the rewriter's to coerce and check */
	}
	write_path = PATH_FAST;
	return write_path;
}

/*
 * A partition the fast path may write: a plain table with the ledger's
 * columns in the ledger's places (no conversion map), no rules, and
 * ledger_chain_link as its only insert trigger.
 */
static bool
PartitionFastOk(Relation part, Relation parent)
{
	AttrMap    *map;

	if (part->rd_rel->relkind != RELKIND_RELATION || part->rd_rules != NULL ||
		!OnlyChainLinkTrigger(part->trigdesc))
		return false;
#if PG_VERSION_NUM >= 160000
	map = build_attrmap_by_name_if_req(RelationGetDescr(parent), RelationGetDescr(part), false);
#else
	map = build_attrmap_by_name_if_req(RelationGetDescr(parent), RelationGetDescr(part));
#endif
	if (map != NULL)
	{
		free_attrmap(map);
		return false;
	}
	return true;
}

/* Find the partition of ts from the ledger's bounds, as tuple routing does. */
static void
ResolveTarget(Relation parent, TimestampTz ts)
{
	PartitionKey key = RelationGetPartitionKey(parent);
	/* as the executor's tuple routing: partitions being detached count under snapshot isolation only */
	PartitionDesc pd = RelationGetPartitionDesc(parent, !IsolationUsesXactSnapshot());
	PartitionBoundInfo bi = pd->boundinfo;
	Datum		val = TimestampTzGetDatum(ts);
	bool		equal;
	int			off;
	int			idx;

	target_part = InvalidOid;
	if (pd->nparts == 0 || bi == NULL)
		return;
	off = partition_range_datum_bsearch(key->partsupfunc, key->partcollation, bi, 1, &val, &equal);
	idx = bi->indexes[off + 1];
	if (idx < 0)
		idx = bi->default_index;
	if (idx < 0)
		return;					/* no partition: the SPI path says so */
	target_has_lo = off >= 0 && bi->kind[off][0] == PARTITION_RANGE_DATUM_VALUE;
	if (target_has_lo)
		target_lo = DatumGetTimestampTz(bi->datums[off][0]);
	target_has_hi = off + 1 < bi->ndatums && bi->kind[off + 1][0] == PARTITION_RANGE_DATUM_VALUE;
	if (target_has_hi)
		target_hi = DatumGetTimestampTz(bi->datums[off + 1][0]);
	target_default = idx == bi->default_index;
	target_checked = false;
	target_part = pd->oids[idx];
}

/*
 * The partition an entry recorded at ts goes to, opened (RowExclusiveLock),
 * or NULL for the SPI path. The ledger is locked already; locking the
 * partition may bring invalidations in, after which it is looked up again.
 */
static Relation
OpenTarget(Relation parent, TimestampTz ts, bool *is_default)
{
	for (int attempt = 0; attempt < 3; attempt++)
	{
		uint64		seen;
		Relation	part;

		if (!OidIsValid(target_part) ||
			(target_has_lo && ts < target_lo) || (target_has_hi && ts >= target_hi))
			ResolveTarget(parent, ts);
		if (!OidIsValid(target_part))
			return NULL;
		seen = inval_count;
		part = table_open(target_part, RowExclusiveLock);
		if (seen != inval_count)
		{
			table_close(part, NoLock);	/* the lock stays; look again */
			continue;
		}
		if (!target_checked)
		{
			target_fast = PartitionFastOk(part, parent);
			target_checked = true;
		}
		if (!target_fast)
		{
			table_close(part, NoLock);
			return NULL;
		}
		*is_default = target_default;
		return part;
	}
	return NULL;
}

/*
 * The CHECK constraints of the target partition (and, for the default
 * partition, its partition constraint), compiled once per target instead of
 * by every append's executor state (ExecRelCheck and ExecPartitionCheck
 * build them when a ResultRelInfo has none, from the stored expression
 * text). A context replaced on a new target is handed to the transaction,
 * since a batch's writer may still use it until the transaction ends.
 */
static MemoryContext target_cxt = NULL;
static ExprState **target_checks = NULL;
static ExprState *target_partcheck = NULL;

static void
ShareTargetExprs(ResultRelInfo *rri, Relation part, bool partcheck)
{
#if PG_VERSION_NUM < 180000			/* later releases skip unenforced CHECKs there */
	TupleConstr *constr = RelationGetDescr(part)->constr;

	if (RelationGetRelid(part) != target_part)
		return;					/* looked up again since: the executor's own */
	if (target_exprs_rel != target_part)
	{
		MemoryContext old;

		if (target_cxt != NULL)
			MemoryContextSetParent(target_cxt, TopTransactionContext);
		target_exprs_rel = InvalidOid;
		target_cxt = AllocSetContextCreate(TopMemoryContext, "shilian ledger partition checks",
										   ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(target_cxt);
		target_checks = NULL;
		if (constr != NULL && constr->num_check > 0)
		{
			target_checks = palloc(sizeof(ExprState *) * constr->num_check);
			for (int i = 0; i < constr->num_check; i++)
				target_checks[i] = ExecInitExpr(expression_planner((Expr *) stringToNode(constr->check[i].ccbin)),
												NULL);
		}
		target_partcheck = NULL;
		if (target_default)
			target_partcheck = ExecInitCheck((List *) expression_planner((Expr *) RelationGetPartitionQual(part)),
											 NULL);
		MemoryContextSwitchTo(old);
		target_exprs_rel = target_part;
	}
	rri->ri_ConstraintExprs = target_checks;
	if (partcheck && target_default)
		rri->ri_PartitionCheckExpr = target_partcheck;
#endif
}

/* The executor state of one fast-path write (one append, or one batch). */
typedef struct LedgerWriter
{
	Relation	rel;			/* the partition written */
	EState	   *estate;
	ResultRelInfo *rri;
	CommandId	cid;
	int			ndefaults;
	AttrNumber *defattnum;
	ExprState **defexpr;
	bool		generated;
	bool		partcheck;		/* the default partition: check its constraint */
} LedgerWriter;

/* parent: the ledger, whose column defaults apply as in INSERT INTO shilian.ledger */
static void
WriterBegin(LedgerWriter *w, Relation rel, Relation parent, bool partcheck)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old;

	w->rel = rel;
	w->estate = CreateExecutorState();
	w->cid = GetCurrentCommandId(true);
	w->estate->es_output_cid = w->cid;
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	w->rri = makeNode(ResultRelInfo);
	/* range table index 0: not part of a query; error details then name no columns by privilege */
	InitResultRelInfo(w->rri, rel, 0, NULL, 0);
	ShareTargetExprs(w->rri, rel, partcheck);
	ExecOpenIndices(w->rri, false);
	w->generated = desc->constr != NULL && desc->constr->has_generated_stored;
	w->partcheck = partcheck;
	w->ndefaults = 0;
	w->defattnum = NULL;
	w->defexpr = NULL;
	if (write_path_defaults)
	{
		w->defattnum = palloc(sizeof(AttrNumber) * desc->natts);
		w->defexpr = palloc(sizeof(ExprState *) * desc->natts);
		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);
			Node	   *def;

			if (att->attisdropped || att->attgenerated || OwnColumn(att->attnum))
				continue;
			def = build_column_default(parent, att->attnum);
			if (def == NULL)
				continue;
			w->defattnum[w->ndefaults] = att->attnum;
			w->defexpr[w->ndefaults] = ExecInitExpr(expression_planner((Expr *) def), NULL);
			w->ndefaults++;
		}
	}
	MemoryContextSwitchTo(old);
}

static void
WriterEnd(LedgerWriter *w)
{
	ExecCloseIndices(w->rri);
	FreeExecutorState(w->estate);
}

/*
 * One row into slot, as INSERT would make it: the values, the defaults of
 * the unset columns, generated columns, then NOT NULL and CHECK constraints.
 * The slot owns its values afterwards (materialized), so it may wait for a
 * multi-row insert.
 */
static void
WriterFill(LedgerWriter *w, TupleTableSlot *slot, Datum *v, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	ExprContext *econtext = GetPerTupleExprContext(w->estate);

	ExecClearTuple(slot);
	memcpy(slot->tts_values, v, sizeof(Datum) * desc->natts);
	memcpy(slot->tts_isnull, isnull, sizeof(bool) * desc->natts);
	for (int i = 0; i < w->ndefaults; i++)
	{
		AttrNumber	a = w->defattnum[i] - 1;

		slot->tts_values[a] = ExecEvalExpr(w->defexpr[i], econtext, &slot->tts_isnull[a]);
	}
	ExecStoreVirtualTuple(slot);
	if (w->generated)
		ExecComputeStoredGenerated(w->rri, w->estate, slot, CMD_INSERT);
	if (desc->constr != NULL)
		ExecConstraints(w->rri, slot, w->estate);
	if (w->partcheck)
		(void) ExecPartitionCheck(w->rri, slot, w->estate, true);
	ExecMaterializeSlot(slot);
	ResetPerTupleExprContext(w->estate);
}

/* The index entries of rows just written (each checked: unique, exclusion). */
static void
WriterIndex(LedgerWriter *w, TupleTableSlot *slot)
{
	List	   *recheck;

	if (w->rri->ri_NumIndices == 0)
		return;
#if PG_VERSION_NUM >= 160000
	recheck = ExecInsertIndexTuples(w->rri, slot, w->estate, false, false, NULL, NIL, false);
#else
	recheck = ExecInsertIndexTuples(w->rri, slot, w->estate, false, false, NULL, NIL);
#endif
	/* deferred checks come with a trigger, which sends writes to the SPI path */
	if (recheck != NIL)
		elog(ERROR, "shilian.%s has a deferred index constraint but no recheck trigger",
			 RelationGetRelationName(w->rel));
	ResetPerTupleExprContext(w->estate);
}

/* ---- ledger_chain rows ---------------------------------------------------------- */

/*
 * ledger_chain is written directly (heap and index insertion, every key
 * checked) while it has its installed shape: a plain table of its four
 * columns without rules or insert triggers; otherwise by an SPI INSERT.
 */
static bool
ChainFast(Relation chain)
{
	TriggerDesc *td = chain->trigdesc;
	TupleDesc	desc = RelationGetDescr(chain);

	RegisterCallback();
	if (chain_path != CHAIN_UNKNOWN)
		return chain_path == CHAIN_FAST;
	chain_path = CHAIN_SPI;
	if (chain->rd_rel->relkind != RELKIND_RELATION || chain->rd_rules != NULL ||
		(td != NULL && (td->trig_insert_before_row || td->trig_insert_after_row ||
						td->trig_insert_instead_row || td->trig_insert_before_statement ||
						td->trig_insert_after_statement || td->trig_insert_new_table)))
		return false;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->attnum != chain_op_attnum && att->attnum != chain_seq_attnum &&
			att->attnum != chain_entry_attnum && att->attnum != chain_hash_attnum)
			return false;
	}
	chain_path = CHAIN_FAST;
	return true;
}

/* Inserting ledger_chain rows: one append's, a batch's, or a trigger's. */
typedef struct ChainWriter
{
	Relation	rel;
	bool		fast;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	CommandId	cid;
} ChainWriter;

/*
 * as_caller: the rows are written for an INSERT of the caller's (the
 * trigger), so the caller's privileges and row-level security decide, as
 * for the INSERT the trigger used to run: a caller they would refuse is left
 * to the SPI path, which refuses. The extension's own appends write as the
 * ledger's owner.
 */
static void
ChainBegin(ChainWriter *cw, bool as_caller)
{
	MemoryContext old;

	cw->rel = table_open(cached_chain, RowExclusiveLock);
	cw->fast = ChainFast(cw->rel);
	if (cw->fast && as_caller &&
		(pg_class_aclcheck(cached_chain, GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		 check_enable_rls(cached_chain, InvalidOid, true) == RLS_ENABLED))
		cw->fast = false;
	if (!cw->fast)
		return;
	cw->estate = CreateExecutorState();
	cw->cid = GetCurrentCommandId(true);
	cw->estate->es_output_cid = cw->cid;
	old = MemoryContextSwitchTo(cw->estate->es_query_cxt);
	cw->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(cw->rri, cw->rel, 0, NULL, 0);
	ExecOpenIndices(cw->rri, false);
	cw->slot = MakeSingleTupleTableSlot(RelationGetDescr(cw->rel), table_slot_callbacks(cw->rel));
	MemoryContextSwitchTo(old);
}

static void
ChainPutViaSpi(Datum *v, bool *isnull)
{
	char		nulls[4];

	if (SlSpiConnect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_chain_insert == NULL)
	{
		Oid			types[4] = {INT8OID, INT8OID, INT8OID, BYTEAOID};

		plan_chain_insert = SPI_prepare("INSERT INTO shilian.ledger_chain (operator_id, seq, entry_id, hash) "
										"VALUES ($1, $2, $3, $4)", 4, types);
		if (plan_chain_insert == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan_chain_insert);
	}
	for (int i = 0; i < 4; i++)
		nulls[i] = isnull[i] ? 'n' : ' ';
	if (SPI_execute_plan(plan_chain_insert, v, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ledger_chain insert failed");
	SPI_finish();
}

/* v, isnull: operator_id, seq, entry_id, hash */
static void
ChainPut(ChainWriter *cw, Datum *v, bool *isnull)
{
	TupleTableSlot *slot = cw->slot;
	TupleDesc	desc;
	List	   *recheck;
	const AttrNumber att[4] = {chain_op_attnum, chain_seq_attnum, chain_entry_attnum, chain_hash_attnum};

	if (!cw->fast)
	{
		ChainPutViaSpi(v, isnull);
		return;
	}
	desc = RelationGetDescr(cw->rel);
	ExecClearTuple(slot);
	for (int i = 0; i < desc->natts; i++)
		slot->tts_isnull[i] = true;
	for (int i = 0; i < 4; i++)
	{
		slot->tts_values[att[i] - 1] = v[i];
		slot->tts_isnull[att[i] - 1] = isnull[i];
	}
	ExecStoreVirtualTuple(slot);
	if (desc->constr != NULL)
		ExecConstraints(cw->rri, slot, cw->estate);
	table_tuple_insert(cw->rel, slot, cw->cid, 0, NULL);
#if PG_VERSION_NUM >= 160000
	recheck = ExecInsertIndexTuples(cw->rri, slot, cw->estate, false, false, NULL, NIL, false);
#else
	recheck = ExecInsertIndexTuples(cw->rri, slot, cw->estate, false, false, NULL, NIL);
#endif
	if (recheck != NIL)
		elog(ERROR, "shilian.ledger_chain has a deferred index constraint but no recheck trigger");
	ExecClearTuple(slot);
	ResetPerTupleExprContext(cw->estate);
}

static void
ChainEnd(ChainWriter *cw)
{
	if (cw->fast)
	{
		ExecDropSingleTupleTableSlot(cw->slot);
		ExecCloseIndices(cw->rri);
		FreeExecutorState(cw->estate);
	}
	table_close(cw->rel, NoLock);
}

/* The ledger_chain row of a ledger row (v, isnull as the ledger's columns). */
static void
ChainValues(Datum *v, bool *isnull, Datum *cv, bool *cnull)
{
	const int	cols[4] = {COL_OPERATOR, COL_SEQ, COL_ID, COL_HASH};

	for (int i = 0; i < 4; i++)
	{
		cv[i] = v[col_attnum[cols[i]] - 1];
		cnull[i] = isnull[col_attnum[cols[i]] - 1];
	}
}

/* Insert one entry (ledger_chain's keys are checked either way). */
static void
InsertEntry(Relation rel, Datum *v, bool *isnull)
{
	Relation	part = NULL;
	bool		is_default = false;

	if (WritePathFor(rel) == PATH_FAST)
		part = OpenTarget(rel, DatumGetTimestampTz(v[col_attnum[COL_RECORDED] - 1]), &is_default);
	if (part != NULL)
	{
		LedgerWriter w;
		ChainWriter cw;
		Datum		cv[4];
		bool		cnull[4];
		TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(part), table_slot_callbacks(part));

		/* the chain row first, as the BEFORE INSERT trigger does */
		ChainValues(v, isnull, cv, cnull);
		ChainBegin(&cw, false);
		ChainPut(&cw, cv, cnull);
		ChainEnd(&cw);
		WriterBegin(&w, part, rel, is_default);
		WriterFill(&w, slot, v, isnull);
		table_tuple_insert(part, slot, w.cid, 0, NULL);
		WriterIndex(&w, slot);
		WriterEnd(&w);
		ExecDropSingleTupleTableSlot(slot);
		table_close(part, NoLock);
	}
	else
		InsertViaSpi(v, isnull);
	/* later appends in this transaction must see this entry */
	CommandCounterIncrement();
}

/*
 * ledger_chain_link(): the insert trigger of the ledger (cloned to every
 * partition). It fires for every insert that is not an append's fast path
 * (which writes the same row itself): an append on the SPI path, a
 * restore's COPY into a partition, an INSERT by a superuser.
 */
PG_FUNCTION_INFO_V1(shilian_ledger_chain_link);
Datum
shilian_ledger_chain_link(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	static const char *const names[4] = {"operator_id", "seq", "id", "hash"};
	TupleDesc	desc;
	Datum		cv[4];
	bool		cnull[4];
	ChainWriter cw;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_INSERT(td->tg_event) ||
		!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("ledger_chain_link() must be fired BEFORE INSERT FOR EACH ROW")));
	RefreshCache();
	/* by name: a partition's columns may sit in other places than the ledger's */
	desc = RelationGetDescr(td->tg_relation);
	for (int i = 0; i < 4; i++)
	{
		int			a = SPI_fnumber(desc, names[i]);

		if (a <= 0)
			elog(ERROR, "shilian.%s has no column %s", RelationGetRelationName(td->tg_relation), names[i]);
		cv[i] = heap_getattr(td->tg_trigtuple, a, desc, &cnull[i]);
	}
	ChainBegin(&cw, true);
	ChainPut(&cw, cv, cnull);
	ChainEnd(&cw);
	return PointerGetDatum(td->tg_trigtuple);
}

SlDigestAlg
LedgerCurrentAlg(void)
{
	SlDigestAlg alg = sl_digest_from_name(shilian_hash_algorithm);

	if (alg == SL_DIGEST_INVALID)
		elog(ERROR, "invalid shilian.hash_algorithm \"%s\"", shilian_hash_algorithm);
	return alg;
}

/* ---- jsonb to the canonical body encoding ----------------------------------- */

typedef struct Member
{
	const char *key;
	int			keylen;
	size_t		off;			/* value bytes in the scratch buffer */
	size_t		len;
} Member;

static int
MemberCmp(const void *a, const void *b)
{
	const Member *x = a,
			   *y = b;

	return sl_canon_keycmp(x->key, x->keylen, y->key, y->keylen);
}

static void EncodeContainer(SlBuf *out, JsonbContainer *jc, int depth);

static void
EncodeValue(SlBuf *out, JsonbValue *v, int depth)
{
	/*
	 * v sits at depth + 1: scalars count as containers do, as in the
	 * decoder shilian-verify uses (sl_canon_validate), so that every body
	 * the ledger accepts verifies offline.
	 */
	if (depth + 1 > SL_CANON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '1')),
				 errmsg("ledger body nests deeper than %d levels", SL_CANON_MAX_DEPTH)));
	switch (v->type)
	{
		case jbvNull:
			sl_canon_null(out);
			break;
		case jbvBool:
			sl_canon_bool(out, v->val.boolean);
			break;
		case jbvNumeric:
			{
				char	   *t = numeric_normalize(v->val.numeric);

				sl_canon_number(out, t, strlen(t));
				pfree(t);
				break;
			}
		case jbvString:
			{
				sl_canon_string(out, v->val.string.val, v->val.string.len);
				break;
			}
		case jbvBinary:
			EncodeContainer(out, v->val.binary.data, depth + 1);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

static void
EncodeContainer(SlBuf *out, JsonbContainer *jc, int depth)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken r;

	check_stack_depth();
	if (depth > SL_CANON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '1')),
				 errmsg("ledger body nests deeper than %d levels", SL_CANON_MAX_DEPTH)));
	r = JsonbIteratorNext(&it, &v, true);
	if (r == WJB_BEGIN_ARRAY)
	{
		if (v.val.array.rawScalar)
		{
			r = JsonbIteratorNext(&it, &v, true);
			EncodeValue(out, &v, depth);
			return;
		}
		sl_canon_array(out, (uint32) v.val.array.nElems);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (r == WJB_ELEM)
				EncodeValue(out, &v, depth);
	}
	else if (r == WJB_BEGIN_OBJECT)
	{
		int			n = v.val.object.nPairs;
		Member	   *m = palloc(sizeof(Member) * Max(n, 1));
		SlBuf		vals;
		int			i = 0;

		sl_buf_init(&vals, PallocGrowLocal);
		while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (r == WJB_KEY)
			{
				m[i].key = v.val.string.val;
				m[i].keylen = v.val.string.len;
			}
			else if (r == WJB_VALUE)
			{
				m[i].off = vals.len;
				EncodeValue(&vals, &v, depth);
				m[i].len = vals.len - m[i].off;
				i++;
			}
		}
		/*
		 * jsonb orders keys by length first; the encoding wants plain byte
		 * order. An insertion sort up to 32 keys (a row's body has a dozen
		 * or two), where qsort's calls through a comparison pointer cost
		 * more than the moves (2 % of a bulk import); qsort past that, so a
		 * large report object stays O(n log n).
		 */
		if (i > 32)
			qsort(m, i, sizeof(Member), MemberCmp);
		for (int k = 1; k < i && i <= 32; k++)
		{
			Member		x = m[k];
			int			j = k;

			while (j > 0 && sl_canon_keycmp(m[j - 1].key, m[j - 1].keylen, x.key, x.keylen) > 0)
			{
				m[j] = m[j - 1];
				j--;
			}
			m[j] = x;
		}
		sl_canon_object(out, (uint32) i);
		for (int k = 0; k < i; k++)
		{
			sl_canon_key(out, m[k].key, m[k].keylen);
			sl_buf_put(out, vals.data + m[k].off, m[k].len);
		}
		if (vals.data)
			pfree(vals.data);
		pfree(m);
	}
	else
		elog(ERROR, "unexpected jsonb iterator token %d", (int) r);
}

void
LedgerCanonicalBody(Jsonb *body, SlBuf *out)
{
	/* the documented encoding is UTF-8: no conversion step to get wrong */
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '5')),
				 errmsg("the shilian ledger needs a UTF8 database"),
				 errdetail("The database encoding is %s.", GetDatabaseEncodingName())));
	if (!JB_ROOT_IS_OBJECT(body))
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '1')),
				 errmsg("ledger body must be a jsonb object"),
				 errdetail("Every ledger entry records one object; arrays and scalars have no named fields.")));
	EncodeContainer(out, &body->root, 0);
}

/* ---- append ---------------------------------------------------------------- */

static void
LockOperatorChain(int64 operator_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) ((uint64) operator_id >> 32),
						 (uint32) operator_id, LEDGER_LOCK_SPACE);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

bytea *
LedgerBytea(const void *p, size_t n)
{
	bytea	   *b = palloc(VARHDRSZ + n);

	SET_VARSIZE(b, VARHDRSZ + n);
	memcpy(VARDATA(b), p, n);
	return b;
}

int64
LedgerAppend(int64 operator_id, const char *kind, Jsonb *body, int64 supersedes)
{
	return LedgerAppendEntry(operator_id, kind, body, supersedes, NULL, NULL);
}

int64
LedgerAppendRecord(int64 operator_id, const char *kind, Jsonb *body, const char *source, DateADT on_date)
{
	return LedgerAppendEntry(operator_id, kind, body, 0, source, &on_date);
}

/*
 * The backend's hash-input scratch buffer for appends, made on first use in
 * TopMemoryContext (PallocGrow) and kept: appends run in many different
 * caller contexts, none of which may own it.
 */
static bool append_scratch_made = false;
static SlBuf append_scratch;

static void
AppendCtxInit(void)
{
	if (append_scratch_made)
		return;
	sl_buf_init(&append_scratch, PallocGrow);
	append_scratch_made = true;
}

static void
CheckKind(const char *kind)
{
	if (kind == NULL || kind[0] == '\0')
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '2')),
				 errmsg("ledger entry kind must not be empty")));
}

/*
 * The chain head: the highest seq of this operator and its hash (seq 0 and
 * the genesis value for an empty chain), from ledger_chain, which the
 * append (or the ledger's insert trigger) writes in the inserting
 * transaction (and which keeps the heads of archived months). Not through
 * the statement's snapshot, which may predate the commit of the previous
 * lock holder (and under REPEATABLE READ does): with the chain lock held
 * no other transaction can be writing this chain, so a dirty snapshot
 * (committed rows plus our own, no aborted ones) sees exactly the chain as
 * it stands, without the cost of a new MVCC snapshot.
 */
static void
ChainHead(int64 operator_id, int64 *seq, uint8_t *prev)
{
	/*
	 * RowExclusiveLock, the mode the append's write of ledger_chain takes
	 * anyway: one lock per relation for the transaction, not two
	 */
	Relation	rel = table_open(cached_chain, RowExclusiveLock);
	Relation	idx = index_open(cached_chain_pkey, RowExclusiveLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	t;
	SnapshotData dirty;

	InitDirtySnapshot(dirty);
	ScanKeyInit(&key, chain_op_attnum, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(operator_id));
	scan = systable_beginscan_ordered(rel, idx, &dirty, 1, &key);
	t = systable_getnext_ordered(scan, BackwardScanDirection);
	if (!HeapTupleIsValid(t))
	{
		*seq = 0;
		memcpy(prev, sl_genesis_hash, SL_DIGEST_LEN);
	}
	else
	{
		bool		null;
		bytea	   *h;

		*seq = DatumGetInt64(heap_getattr(t, chain_seq_attnum, RelationGetDescr(rel), &null));
		h = DatumGetByteaPP(heap_getattr(t, chain_hash_attnum, RelationGetDescr(rel), &null));
		if (null || VARSIZE_ANY_EXHDR(h) != SL_DIGEST_LEN)
			ereport(ERROR,
					(errcode(SL_ERRCODE('L', '1', '0')),
					 errmsg("ledger chain of operator %lld is damaged", (long long) operator_id),
					 errdetail("The hash of entry seq %lld is not %d bytes long.",
							   (long long) *seq, SL_DIGEST_LEN),
					 errhint("Run shilian.chain_verify(%lld).", (long long) operator_id)));
		memcpy(prev, VARDATA_ANY(h), SL_DIGEST_LEN);
	}
	systable_endscan_ordered(scan);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
}

/*
 * Hash one entry (id, seq and prev fixed by the caller, recorded now) and
 * fill the row's columns; v and isnull are sized for the relation.
 */
static void
EntryRow(TupleDesc desc, SlDigestAlg alg, int64 id, int64 operator_id, int64 seq, const char *kind,
		 const SlBuf *canon, const uint8_t *prev, int64 supersedes, const char *source,
		 const DateADT *on_date, uint8_t *hash, Datum *v, bool *isnull)
{
	SlEntry		e;
	TimestampTz now = GetCurrentTimestamp();

	e.id = id;
	e.operator_id = operator_id;
	e.seq = seq;
	e.alg = (uint8_t) alg;
	e.kind = kind;
	e.kind_len = strlen(kind);
	e.recorded_at = now + UNIX_TO_PG_USECS;
	e.supersedes = supersedes;
	e.body = canon->data;
	e.body_len = canon->len;
	e.prev_hash = prev;
	if (sl_entry_hash(LedgerDigestCtx(), &append_scratch, &e, hash) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not compute %s digest", sl_digest_name(alg)),
				 errdetail("OpenSSL refused the operation; is the SM3 provider available?")));

	memset(v, 0, sizeof(Datum) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
		isnull[i] = true;		/* columns added in maintenance stay null */
#define SETCOL(c, d) (v[col_attnum[c] - 1] = (d), isnull[col_attnum[c] - 1] = false)
	SETCOL(COL_ID, Int64GetDatum(id));
	SETCOL(COL_OPERATOR, Int64GetDatum(operator_id));
	SETCOL(COL_SEQ, Int64GetDatum(seq));
	SETCOL(COL_KIND, PointerGetDatum(cstring_to_text(kind)));
	SETCOL(COL_BODY, PointerGetDatum(LedgerBytea(canon->data, canon->len)));
	SETCOL(COL_ALG, Int16GetDatum((int16) alg));
	SETCOL(COL_PREV, PointerGetDatum(LedgerBytea(prev, SL_DIGEST_LEN)));
	SETCOL(COL_HASH, PointerGetDatum(LedgerBytea(hash, SL_DIGEST_LEN)));
	if (supersedes != 0)
		SETCOL(COL_SUPERSEDES, Int64GetDatum(supersedes));
	SETCOL(COL_RECORDED, TimestampTzGetDatum(now));
	if (source != NULL)
		SETCOL(COL_SOURCE, PointerGetDatum(cstring_to_text(source)));
	if (on_date != NULL)
		SETCOL(COL_ON_DATE, DateADTGetDatum(*on_date));
#undef SETCOL
}

/*
 * source and on_date (may be NULL) go to columns outside the hashed entry:
 * where the record came from and the date of the event it records.
 */
static int64
LedgerAppendEntry(int64 operator_id, const char *kind, Jsonb *body, int64 supersedes,
				  const char *source, const DateADT *on_date)
{
	SlBuf		canon;
	uint8_t		prev[SL_DIGEST_LEN];
	uint8_t		hash[SL_DIGEST_LEN];
	int64		id;
	int64		seq;
	SlDigestAlg alg = LedgerCurrentAlg();
	Relation	rel;
	TupleDesc	desc;
	Datum	   *v;
	bool	   *isnull;

	CheckKind(kind);
	if (supersedes < 0)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '3')),
				 errmsg("superseded entry %lld does not exist", (long long) supersedes)));

	/* encode before taking any lock: the walk can be the longest part */
	LedgerBufInit(&canon);
	LedgerCanonicalBody(body, &canon);

	AppendCtxInit();
	RefreshCache();

	/*
	 * The table lock first: checkpoint() takes a lock that conflicts with it,
	 * so no entry id can be allocated while a checkpoint assigns leaves. Then
	 * the operator's chain lock, then the id: within one chain ids grow with
	 * seq, and both locks are held to the end of the transaction.
	 */
	rel = table_open(cached_ledger, RowExclusiveLock);
	LockOperatorChain(operator_id);

	if (supersedes > 0)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	t;
		bool		null;
		int64		owner_op = 0;
		bool		found;
		Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());

		Relation	chain = table_open(cached_chain, AccessShareLock);

		/* ledger_chain has every entry id, archived months' too */
		ScanKeyInit(&key, chain_entry_attnum, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(supersedes));
		scan = systable_beginscan(chain, cached_chain_entry, true, snap, 1, &key);
		t = systable_getnext(scan);
		found = HeapTupleIsValid(t);
		if (found)
			owner_op = DatumGetInt64(heap_getattr(t, chain_op_attnum, RelationGetDescr(chain), &null));
		systable_endscan(scan);
		table_close(chain, AccessShareLock);
		UnregisterSnapshot(snap);
		if (!found)
			ereport(ERROR,
					(errcode(SL_ERRCODE('L', '0', '3')),
					 errmsg("superseded entry %lld does not exist", (long long) supersedes)));
		if (owner_op != operator_id)
			ereport(ERROR,
					(errcode(SL_ERRCODE('L', '0', '4')),
					 errmsg("entry %lld belongs to another operator", (long long) supersedes),
					 errdetail("A correction must be appended to the chain of the entry it supersedes.")));
	}

	id = nextval_internal(cached_seq, false);
	ChainHead(operator_id, &seq, prev);
	seq++;

	desc = RelationGetDescr(rel);
	v = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	EntryRow(desc, alg, id, operator_id, seq, kind, &canon, prev, supersedes, source, on_date,
			 hash, v, isnull);
	InsertEntry(rel, v, isnull);
	table_close(rel, NoLock);
	return id;
}

/* A chain's head as a batch append moves it: per operator, in memory. */
typedef struct BatchHead
{
	int64		operator_id;	/* hash key */
	int64		seq;
	uint8_t		hash[SL_DIGEST_LEN];
} BatchHead;

/* Rows of a batch append written per heap_multi_insert call. */
#define LEDGER_MULTI_INSERT 1000

/* Write the rows waiting in slots to the writer's partition, with their index entries. */
static void
FlushBatch(LedgerWriter *w, TupleTableSlot **slots, int *nslots)
{
	if (*nslots == 0)
		return;
	table_multi_insert(w->rel, slots, *nslots, w->cid, 0, NULL);
	for (int k = 0; k < *nslots; k++)
	{
		WriterIndex(w, slots[k]);
		ExecClearTuple(slots[k]);
	}
	*nslots = 0;
}

/*
 * Append n record entries in array order, as n calls of LedgerAppendRecord
 * in that order would: the same locks taken in the same order (the table,
 * then each operator's chain lock at its first entry), ids drawn in array
 * order, each chain's seq and prev_hash continuing from its head, the same
 * bodies and hashes. What it saves: the chain head is read once per
 * operator (and then kept in memory), the rows go into their month
 * partition with heap_multi_insert a thousand at a time (each index entry
 * still inserted and checked), each with its ledger_chain row written
 * directly (whose keys still guard against a fork or a reused id), and one
 * command counter increment ends the whole batch.
 */
void
LedgerAppendRecords(LedgerNewEntry *entries, int n, const char *source)
{
	SlDigestAlg alg = LedgerCurrentAlg();
	SlBuf	   *canon;
	HTAB	   *heads;
	HASHCTL		ctl;
	Relation	rel;
	TupleDesc	desc;
	LedgerWriter w;
	ChainWriter cw;
	Datum		cv[4];
	bool		cnull[4];
	bool		simple;
	Relation	part = NULL;	/* the partition the slots wait for */
	TupleTableSlot **slots = NULL;
	int			nslots = 0;
	Datum	   *v;
	bool	   *isnull;

	if (n <= 0)
		return;
	canon = palloc_array(SlBuf, n);
	for (int i = 0; i < n; i++)
	{
		CheckKind(entries[i].kind);
		LedgerBufInit(&canon[i]);
		LedgerCanonicalBody(entries[i].body, &canon[i]);
	}
	AppendCtxInit();
	RefreshCache();

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(BatchHead);
	ctl.hcxt = CurrentMemoryContext;
	heads = hash_create("shilian ledger batch heads", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	rel = table_open(cached_ledger, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	simple = WritePathFor(rel) == PATH_FAST;
	if (simple)
		ChainBegin(&cw, false);
	v = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);

	for (int i = 0; i < n; i++)
	{
		LedgerNewEntry *en = &entries[i];
		bool		found;
		BatchHead  *h = hash_search(heads, &en->operator_id, HASH_ENTER, &found);
		int64		id;
		uint8_t		hash[SL_DIGEST_LEN];
		Relation	target = NULL;
		bool		is_default = false;

		if (!found)
			LockOperatorChain(en->operator_id);
		id = nextval_internal(cached_seq, false);
		if (!found)
			ChainHead(en->operator_id, &h->seq, h->hash);
		h->seq++;
		EntryRow(desc, alg, id, en->operator_id, h->seq, en->kind, &canon[i], h->hash, 0, source,
				 &en->on_date, hash, v, isnull);
		memcpy(h->hash, hash, SL_DIGEST_LEN);
		en->id = id;
		if (simple)
			target = OpenTarget(rel, DatumGetTimestampTz(v[col_attnum[COL_RECORDED] - 1]), &is_default);
		/* a new partition (a month began): what waits goes to the one before */
		if (part != NULL && (target == NULL || RelationGetRelid(target) != RelationGetRelid(part)))
		{
			FlushBatch(&w, slots, &nslots);
			WriterEnd(&w);
			table_close(part, NoLock);
			part = NULL;
		}
		if (target == NULL)
		{
			InsertViaSpi(v, isnull);
			continue;
		}
		if (part == NULL)
		{
			part = target;
			WriterBegin(&w, part, rel, is_default);
			if (slots == NULL)
			{
				slots = palloc_array(TupleTableSlot *, Min(n, LEDGER_MULTI_INSERT));
				for (int k = 0; k < Min(n, LEDGER_MULTI_INSERT); k++)
					slots[k] = MakeSingleTupleTableSlot(RelationGetDescr(part), table_slot_callbacks(part));
			}
		}
		else
			table_close(target, NoLock);	/* opened twice */
		ChainValues(v, isnull, cv, cnull);
		ChainPut(&cw, cv, cnull);
		WriterFill(&w, slots[nslots], v, isnull);
		if (++nslots == LEDGER_MULTI_INSERT)
			FlushBatch(&w, slots, &nslots);
	}
	if (part != NULL)
	{
		FlushBatch(&w, slots, &nslots);
		WriterEnd(&w);
		table_close(part, NoLock);
	}
	if (slots != NULL)
		for (int i = 0; i < Min(n, LEDGER_MULTI_INSERT); i++)
			ExecDropSingleTupleTableSlot(slots[i]);
	if (simple)
		ChainEnd(&cw);
	/* later appends in this transaction must see these entries */
	CommandCounterIncrement();
	table_close(rel, NoLock);
	hash_destroy(heads);
}

/* ledger_append(operator_id, kind, body, supersedes) → entry id */
PG_FUNCTION_INFO_V1(shilian_ledger_append);
Datum
shilian_ledger_append(PG_FUNCTION_ARGS)
{
	int64		supersedes = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("operator_id, kind and body of a ledger entry must not be null")));
	if (!PG_ARGISNULL(3) && supersedes == 0)
		ereport(ERROR,
				(errcode(SL_ERRCODE('L', '0', '3')),
				 errmsg("superseded entry 0 does not exist")));
	PG_RETURN_INT64(LedgerAppend(PG_GETARG_INT64(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
								 PG_GETARG_JSONB_P(2), supersedes));
}

/* ledger_canonical(jsonb) → the canonical body bytes */
PG_FUNCTION_INFO_V1(shilian_ledger_canonical);
Datum
shilian_ledger_canonical(PG_FUNCTION_ARGS)
{
	SlBuf		b;

	LedgerBufInit(&b);
	LedgerCanonicalBody(PG_GETARG_JSONB_P(0), &b);
	PG_RETURN_BYTEA_P(LedgerBytea(b.data, b.len));
}

/* ledger_body(bytea) → jsonb, refusing bytes that are not one canonical body */
PG_FUNCTION_INFO_V1(shilian_ledger_body);
Datum
shilian_ledger_body(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const uint8_t *p = (const uint8_t *) VARDATA_ANY(b);
	size_t		len = VARSIZE_ANY_EXHDR(b);
	const char *err = sl_canon_validate(p, len);
	SlBuf		json;

	if (err != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid canonical ledger body: %s", err)));
	LedgerBufInit(&json);
	if (sl_canon_to_json(p, len, &json) != 0)
		elog(ERROR, "could not render canonical ledger body");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum((char *) json.data)));
}

/* ---- chain_verify ---------------------------------------------------------- */

/*
 * Every entry's hash is checked on its own (it covers the stored prev_hash),
 * so entries can be read in physical order, at sequential-scan speed. The
 * links between them are checked per operator as its entries arrive: one in
 * seq order links at once; one that arrives early waits in a short pending
 * list (heap order is nearly seq order within a chain). The first bad
 * position of a chain is the smallest seq at which any check fails.
 */
typedef struct Pend
{
	int64		seq;
	uint8_t		prev[SL_DIGEST_LEN];
	uint8_t		hash[SL_DIGEST_LEN];
} Pend;

/* At one seq, report the failure an in-order walk would meet first. */
typedef enum BadRank
{
	BAD_GAP, BAD_DUPLICATE, BAD_LENGTH, BAD_LINK, BAD_ALG, BAD_HASH, BAD_TAIL
} BadRank;

/* A stretch of a chain that left with an archived month (ledger_archived_range). */
typedef struct Archived
{
	int64		first,
				last;
	uint8_t		hash[SL_DIGEST_LEN];	/* of seq last, as ledger_chain keeps it */
} Archived;

typedef struct OpState
{
	int64		op;				/* hash key */
	char		status;			/* simplehash */
	int64		entries;
	int64		next_seq;
	int64		bad_seq;		/* PG_INT64_MAX while the chain is good */
	int			bad_rank;		/* which check failed there (BadRank) */
	char	   *reason;
	int64		checkpointed;	/* highest seq in ledger_leaf, 0 if none */
	uint8_t		last[SL_DIGEST_LEN];
	int			npend,
				cappend;
	Pend	   *pend;
	int			narch,			/* archived stretches, in seq order */
				iarch;			/* the next one to skip */
	Archived   *arch;
} OpState;

/* A 64-bit finalizer (splitmix64): operator ids are often dense. */
static inline uint32
OpHash(int64 k)
{
	uint64		x = (uint64) k;

	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return (uint32) x;
}

#define SH_PREFIX opstate
#define SH_ELEMENT_TYPE OpState
#define SH_KEY_TYPE int64
#define SH_KEY op
#define SH_HASH_KEY(tb, key) OpHash(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct VerifyCtx
{
	opstate_hash *ops;
	MemoryContext cxt;			/* for reasons and pending lists */
} VerifyCtx;

static OpState *
OpGet(VerifyCtx *vc, int64 op)
{
	bool		found;
	OpState    *st = opstate_insert(vc->ops, op, &found);

	if (!found)
	{
		st->entries = 0;
		st->next_seq = 1;
		st->bad_seq = PG_INT64_MAX;
		st->bad_rank = 0;
		st->reason = NULL;
		st->checkpointed = 0;
		memcpy(st->last, sl_genesis_hash, SL_DIGEST_LEN);
		st->npend = st->cappend = 0;
		st->pend = NULL;
		st->narch = st->iarch = 0;
		st->arch = NULL;
	}
	return st;
}

/*
 * Archived stretches that start where the chain now stands: the walk goes on
 * after them from the hash of their last entry (the archive file proves the
 * stretch itself, offline).
 */
static void
OpSkipArchived(OpState *st)
{
	while (st->iarch < st->narch && st->arch[st->iarch].first <= st->next_seq)
	{
		if (st->arch[st->iarch].first == st->next_seq)
		{
			memcpy(st->last, st->arch[st->iarch].hash, SL_DIGEST_LEN);
			st->next_seq = st->arch[st->iarch].last + 1;
		}
		st->iarch++;
	}
}

/* The archived stretches of one chain (only) or of all, from ledger_archived_range. */
static void
LoadArchived(VerifyCtx *vc, bool all, int64 only)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(only)};
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT operator_id, first_seq, last_seq, last_hash FROM shilian.ledger_archived_range"
							   " WHERE $1 IS NULL OR operator_id = $1 ORDER BY operator_id, first_seq",
							   1, argtypes, args, all ? "n" : " ", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading shilian.ledger_archived_range failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		OpState    *st = OpGet(vc, DatumGetInt64(SPI_getbinval(t, d, 1, &isnull)));
		bytea	   *h = DatumGetByteaPP(SPI_getbinval(t, d, 4, &isnull));
		Archived   *a;

		if (st->narch % 8 == 0)
			st->arch = st->arch ? repalloc(st->arch, sizeof(Archived) * (st->narch + 8))
				: MemoryContextAlloc(vc->cxt, sizeof(Archived) * 8);
		a = &st->arch[st->narch++];
		a->first = DatumGetInt64(SPI_getbinval(t, d, 2, &isnull));
		a->last = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
		memset(a->hash, 0, SL_DIGEST_LEN);
		if (VARSIZE_ANY_EXHDR(h) == SL_DIGEST_LEN)
			memcpy(a->hash, VARDATA_ANY(h), SL_DIGEST_LEN);
	}
	SPI_finish();
	/* a chain whose first stretch was archived starts after it */
	{
		opstate_iterator it;
		OpState    *st;

		opstate_start_iterate(vc->ops, &it);
		while ((st = opstate_iterate(vc->ops, &it)) != NULL)
			OpSkipArchived(st);
	}
}

static void
OpBad(VerifyCtx *vc, OpState *st, int64 seq, BadRank rank, const char *fmt, int64 a, int64 b)
{
	if (seq > st->bad_seq || (seq == st->bad_seq && (int) rank >= st->bad_rank))
		return;
	st->bad_seq = seq;
	st->bad_rank = (int) rank;
	st->reason = MemoryContextStrdup(vc->cxt, psprintf(fmt, (long long) a, (long long) b));
}

static void
OpLink(VerifyCtx *vc, OpState *st, int64 seq, const uint8_t *prev, const uint8_t *hash)
{
	if (memcmp(prev, st->last, SL_DIGEST_LEN) != 0)
	{
		if (seq == 1)
			OpBad(vc, st, 1, BAD_LINK, "prev_hash of seq %lld is not the genesis value", 1, 0);
		else
			OpBad(vc, st, seq, BAD_LINK, "prev_hash does not match the hash of seq %lld", seq - 1, 0);
	}
	memcpy(st->last, hash, SL_DIGEST_LEN);
	st->next_seq = seq + 1;
	OpSkipArchived(st);
}

static void
OpEntry(VerifyCtx *vc, OpState *st, int64 seq, const uint8_t *prev, const uint8_t *hash)
{
	if (seq < st->next_seq)
	{
		OpBad(vc, st, seq, BAD_DUPLICATE, "seq %lld appears more than once", seq, 0);
		return;
	}
	if (seq > st->next_seq)
	{
		for (int i = 0; i < st->npend; i++)
			if (st->pend[i].seq == seq)
			{
				OpBad(vc, st, seq, BAD_DUPLICATE, "seq %lld appears more than once", seq, 0);
				return;
			}
		if (st->npend == st->cappend)
		{
			st->cappend = st->cappend ? 2 * st->cappend : 8;
			st->pend = st->pend ? repalloc(st->pend, sizeof(Pend) * st->cappend)
				: MemoryContextAlloc(vc->cxt, sizeof(Pend) * st->cappend);
		}
		st->pend[st->npend].seq = seq;
		memcpy(st->pend[st->npend].prev, prev, SL_DIGEST_LEN);
		memcpy(st->pend[st->npend].hash, hash, SL_DIGEST_LEN);
		st->npend++;
		return;
	}
	OpLink(vc, st, seq, prev, hash);
	/* entries that arrived early and are now next */
	for (int i = 0; i < st->npend;)
	{
		if (st->pend[i].seq == st->next_seq)
		{
			Pend		p = st->pend[i];

			st->pend[i] = st->pend[--st->npend];
			OpLink(vc, st, p.seq, p.prev, p.hash);
			i = 0;
		}
		else
			i++;
	}
}

/* One entry: its own hash, then its place in the chain. */
static void
VerifyTuple(VerifyCtx *vc, HeapTuple t, TupleDesc desc, Datum *v, bool *nulls,
			SlDigestCtx *ctx, SlBuf *scratch)
{
	SlEntry		e;
	uint8_t		h[SL_DIGEST_LEN];
	bytea	   *kind,
			   *body,
			   *prevb,
			   *hashb;
	OpState    *st;

	heap_deform_tuple(t, desc, v, nulls);
	e.operator_id = DatumGetInt64(v[col_attnum[COL_OPERATOR] - 1]);
	st = OpGet(vc, e.operator_id);
	st->entries++;
	e.id = DatumGetInt64(v[col_attnum[COL_ID] - 1]);
	e.seq = DatumGetInt64(v[col_attnum[COL_SEQ] - 1]);
	if (e.seq > st->bad_seq)
		return;					/* a smaller position is already reported */
	e.alg = (uint8_t) DatumGetInt16(v[col_attnum[COL_ALG] - 1]);
	kind = DatumGetByteaPP(v[col_attnum[COL_KIND] - 1]);
	e.kind = VARDATA_ANY(kind);
	e.kind_len = VARSIZE_ANY_EXHDR(kind);
	e.recorded_at = DatumGetTimestampTz(v[col_attnum[COL_RECORDED] - 1]) + UNIX_TO_PG_USECS;
	e.supersedes = nulls[col_attnum[COL_SUPERSEDES] - 1] ? 0 : DatumGetInt64(v[col_attnum[COL_SUPERSEDES] - 1]);
	body = DatumGetByteaPP(v[col_attnum[COL_BODY] - 1]);
	e.body = (const uint8_t *) VARDATA_ANY(body);
	e.body_len = VARSIZE_ANY_EXHDR(body);
	prevb = DatumGetByteaPP(v[col_attnum[COL_PREV] - 1]);
	hashb = DatumGetByteaPP(v[col_attnum[COL_HASH] - 1]);
	e.prev_hash = (const uint8_t *) VARDATA_ANY(prevb);

	if (VARSIZE_ANY_EXHDR(prevb) != SL_DIGEST_LEN || VARSIZE_ANY_EXHDR(hashb) != SL_DIGEST_LEN)
	{
		OpBad(vc, st, e.seq, BAD_LENGTH, "prev_hash or hash of seq %lld is not 32 bytes long", e.seq, 0);
		return;
	}
	if (e.alg != SL_DIGEST_SHA256 && e.alg != SL_DIGEST_SM3)
		OpBad(vc, st, e.seq, BAD_ALG, "unknown hash algorithm id %lld", e.alg, 0);
	else
	{
		if (sl_entry_hash(ctx, scratch, &e, h) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not compute %s digest", sl_digest_name((SlDigestAlg) e.alg))));
		if (memcmp(h, VARDATA_ANY(hashb), SL_DIGEST_LEN) != 0)
			OpBad(vc, st, e.seq, BAD_HASH, "hash does not match the entry's recomputed hash", 0, 0);
	}
	OpEntry(vc, st, e.seq, e.prev_hash, (const uint8_t *) VARDATA_ANY(hashb));
}

/*
 * The tables that hold the ledger's rows, in the order of the partition
 * bounds (month by month, the DEFAULT partition last): rel itself when it is
 * not partitioned.
 */
static List *
LedgerLeaves(Relation rel, List *acc)
{
	PartitionDesc pd;

	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return lappend_oid(acc, RelationGetRelid(rel));
	pd = RelationGetPartitionDesc(rel, true);
	for (int i = 0; i < pd->nparts; i++)
	{
		if (pd->is_leaf[i])
			acc = lappend_oid(acc, pd->oids[i]);
		else
		{
			Relation	sub = table_open(pd->oids[i], AccessShareLock);

			acc = LedgerLeaves(sub, acc);
			table_close(sub, NoLock);
		}
	}
	return acc;
}

/* chain_verify(operator_id) → (operator, entries, ok, first_bad_seq, reason) */
PG_FUNCTION_INFO_V1(shilian_chain_verify);
Datum
shilian_chain_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = PG_ARGISNULL(0);
	int64		only = all ? 0 : PG_GETARG_INT64(0);
	VerifyCtx	vc;
	SlDigestCtx *ctx;
	SlBuf		scratch;
	MemoryContext batchcxt,
				oldcxt;
	Relation	parent,
				rel;
	TupleDesc	desc;
	Datum	   *v;
	bool	   *nulls;
	HeapTuple	t;
	int			batch = 0;
	List	   *leaves;
	ListCell   *lc;
	AttrNumber	saved_attnum[NCOLS];
	Oid			ledger_oid;
	opstate_iterator it;
	OpState    *st;

	/*
	 * The chains are read below the executor, where row-level security does
	 * not reach: one chain only for a caller that may see its operator, all
	 * chains only for an admin (security.c, docs/security.md).
	 */
	if (all ? SecurityCaller() != SL_CALLER_ADMIN : !SecurityMaySee(only))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the chain of %s",
						all ? "every operator" : psprintf("operator %lld", (long long) only)),
				 errdetail("An operator verifies its own chain, a system client its bound operators', a regulator those in its jurisdiction; only an admin verifies every chain at once.")));

	InitMaterializedSRF(fcinfo, 0);
	RefreshCache();

	ctx = LedgerDigestCtx();
	/*
	 * The scratch buffer lives as long as this call, across every reset of
	 * batchcxt below: it is owned by the function's context from its first
	 * byte (a first allocation made lazily while batchcxt was current would
	 * be freed by the reset and then reused).
	 */
	LedgerBufInitIn(&scratch, CurrentMemoryContext, 8192);

	vc.cxt = CurrentMemoryContext;
	vc.ops = opstate_create(CurrentMemoryContext, 1024, NULL);
	if (!all)
		(void) OpGet(&vc, only);
	LoadArchived(&vc, all, only);

	/*
	 * The last checkpointed seq of each chain: a chain may not end before
	 * it. ledger_leaf is read directly (a GROUP BY through the executor cost
	 * more than the hashing).
	 */
	{
		Relation	leaf = table_open(cached_leaf, AccessShareLock);
		TupleDesc	ld = RelationGetDescr(leaf);

		if (all)
		{
			TableScanDesc scan = table_beginscan(leaf, GetActiveSnapshot(), 0, NULL);

			while ((t = heap_getnext(scan, ForwardScanDirection)) != NULL)
			{
				bool		n1,
							n2;
				int64		op = DatumGetInt64(heap_getattr(t, leaf_op_attnum, ld, &n1));
				int64		seq = DatumGetInt64(heap_getattr(t, leaf_seq_attnum, ld, &n2));

				st = OpGet(&vc, op);
				if (seq > st->checkpointed)
					st->checkpointed = seq;
			}
			table_endscan(scan);
		}
		else
		{
			Relation	idx = index_open(cached_leaf_opseq, AccessShareLock);
			ScanKeyData key;
			SysScanDesc scan;

			ScanKeyInit(&key, leaf_op_attnum, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(only));
			scan = systable_beginscan_ordered(leaf, idx, GetActiveSnapshot(), 1, &key);
			if ((t = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
			{
				bool		n;

				OpGet(&vc, only)->checkpointed = DatumGetInt64(heap_getattr(t, leaf_seq_attnum, ld, &n));
			}
			systable_endscan_ordered(scan);
			index_close(idx, AccessShareLock);
		}
		table_close(leaf, AccessShareLock);
	}

	/*
	 * The ledger is partitioned by month: its partitions are read one by one
	 * in the order of their bounds (the DEFAULT partition last), each with
	 * its own column numbers (a partition may have been made with another
	 * layout and attached). The pending list of OpEntry puts entries that
	 * come early back in seq order.
	 */
	ledger_oid = cached_ledger;
	parent = table_open(ledger_oid, AccessShareLock);
	leaves = LedgerLeaves(parent, NIL);
	memcpy(saved_attnum, col_attnum, sizeof(col_attnum));
	/* col_attnum follows each partition below: an error there leaves the cache to be rebuilt */
	cached_ledger = InvalidOid;
	/* per-entry garbage (detoasted values, psprintf) goes to batchcxt; scan state must not */
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "chain_verify batch", ALLOCSET_DEFAULT_SIZES);
	oldcxt = CurrentMemoryContext;
	foreach(lc, leaves)
	{
		Oid			part = lfirst_oid(lc);

		rel = part == ledger_oid ? parent : table_open(part, AccessShareLock);
		desc = RelationGetDescr(rel);
		for (int i = 0; i < NCOLS; i++)
		{
			col_attnum[i] = get_attnum(part, col_names[i]);
			if (col_attnum[i] == InvalidAttrNumber)
				elog(ERROR, "column %s.%s does not exist", get_rel_name(part), col_names[i]);
		}
		v = palloc(sizeof(Datum) * desc->natts);
		nulls = palloc(sizeof(bool) * desc->natts);
		if (all)
		{
			/* everything: the heap in physical order */
			TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);

			while ((t = heap_getnext(scan, ForwardScanDirection)) != NULL)
			{
				MemoryContextSwitchTo(batchcxt);
				VerifyTuple(&vc, t, desc, v, nulls, ctx, &scratch);
				MemoryContextSwitchTo(oldcxt);
				if (++batch == 10000)
				{
					MemoryContextReset(batchcxt);
					batch = 0;
					CHECK_FOR_INTERRUPTS();
				}
			}
			table_endscan(scan);
		}
		else
		{
			/*
			 * one chain: its entries through the partition's own
			 * (operator_id, seq) index, <partition>_operator_seq; a
			 * partition without one (attached in maintenance) is read whole
			 */
			Oid			idxoid = get_relname_relid(psprintf("%s_operator_seq", RelationGetRelationName(rel)),
												   RelationGetNamespace(rel));

			if (OidIsValid(idxoid))
			{
				Relation	idx = index_open(idxoid, AccessShareLock);
				ScanKeyData key;
				SysScanDesc scan;

				ScanKeyInit(&key, col_attnum[COL_OPERATOR], BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(only));
				scan = systable_beginscan_ordered(rel, idx, GetActiveSnapshot(), 1, &key);
				while ((t = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
				{
					MemoryContextSwitchTo(batchcxt);
					VerifyTuple(&vc, t, desc, v, nulls, ctx, &scratch);
					MemoryContextSwitchTo(oldcxt);
					if (++batch == 10000)
					{
						MemoryContextReset(batchcxt);
						batch = 0;
						CHECK_FOR_INTERRUPTS();
					}
				}
				systable_endscan_ordered(scan);
				index_close(idx, AccessShareLock);
			}
			else
			{
				TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);

				while ((t = heap_getnext(scan, ForwardScanDirection)) != NULL)
				{
					bool		isnull;

					if (DatumGetInt64(heap_getattr(t, col_attnum[COL_OPERATOR], desc, &isnull)) != only)
						continue;
					MemoryContextSwitchTo(batchcxt);
					VerifyTuple(&vc, t, desc, v, nulls, ctx, &scratch);
					MemoryContextSwitchTo(oldcxt);
					if (++batch == 10000)
					{
						MemoryContextReset(batchcxt);
						batch = 0;
						CHECK_FOR_INTERRUPTS();
					}
				}
				table_endscan(scan);
			}
		}
		pfree(v);
		pfree(nulls);
		if (rel != parent)
			table_close(rel, AccessShareLock);
	}
	memcpy(col_attnum, saved_attnum, sizeof(col_attnum));
	cached_ledger = ledger_oid;
	MemoryContextDelete(batchcxt);
	table_close(parent, AccessShareLock);
	pfree(scratch.data);

	opstate_start_iterate(vc.ops, &it);
	while ((st = opstate_iterate(vc.ops, &it)) != NULL)
	{
		Datum		out[5];
		bool		n[5] = {false, false, false, false, false};
		bool		ok;

		if (st->npend > 0)
		{
			int64		m = PG_INT64_MAX;

			for (int i = 0; i < st->npend; i++)
				m = Min(m, st->pend[i].seq);
			OpBad(&vc, st, st->next_seq, BAD_GAP, "sequence gap: seq %lld is missing, next is seq %lld", st->next_seq, m);
		}
		if (st->checkpointed > st->next_seq - 1)
			OpBad(&vc, st, st->next_seq, BAD_TAIL, "chain ends at seq %lld but seq %lld was checkpointed",
				  st->next_seq - 1, st->checkpointed);
		ok = st->bad_seq == PG_INT64_MAX;
		out[0] = Int64GetDatum(st->op);
		out[1] = Int64GetDatum(st->entries);
		out[2] = BoolGetDatum(ok);
		out[3] = Int64GetDatum(st->bad_seq);
		n[3] = ok;
		out[4] = ok ? (Datum) 0 : CStringGetTextDatum(st->reason);
		n[4] = ok;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, out, n);
	}
	return (Datum) 0;
}
