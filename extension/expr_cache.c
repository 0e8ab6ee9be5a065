/*
 * expr_cache.c — the planned CHECK constraints and trigger WHEN conditions
 * of the tables the extension's own statements write, kept per backend.
 *
 * PostgreSQL 15 prepares them again in every statement that writes a table:
 * ExecRelCheck reads each CHECK constraint's stored tree (stringToNode of
 * pg_constraint.conbin) and plans it (expression_planner) at the statement's
 * first row, TriggerEnabled each row trigger's WHEN condition likewise, and
 * nothing keeps them across statements. A ship + receive pair starts 24
 * such constraints and 5 such conditions (the link's, the batches', the
 * inspection's, the station rollup's): about 13 % of the pair's
 * instructions (callgrind), the reading of the trees nearly all of it.
 *
 * Here, for the statements SlExec runs (and every statement they run in
 * turn: triggers, foreign keys), while SlExec is on the stack:
 *   - at ExecutorEnd, each result relation of the statement whose
 *     constraints (or WHEN conditions) PostgreSQL built, and so built
 *     without an error, has them read and planned once more into this
 *     cache, keyed by the relation (the trigger) and holding the source text
 *     it was made from;
 *   - at ExecutorStart, each result relation whose constraints are in the
 *     cache, made from the very texts the relation has now, gets them
 *     prepared from the cached planned trees (ExecInitExpr, ExecInitQual:
 *     what ExecPrepareExpr and ExecPrepareQual do after planning), in the
 *     statement's memory, before its first row; ExecRelCheck and
 *     TriggerEnabled then find them built and use them.
 * The expression states are the statement's own, as before: only the
 * reading and planning are saved. What is evaluated is the same tree, so
 * every row passes or fails the same constraints with the same errors. A
 * table the cache has not seen (or whose constraint texts changed) is
 * prepared by PostgreSQL as before, as are the rows routed into a partition
 * (their result relation is made during the statement).
 *
 * Planning inlines SQL functions, folds immutable ones and drops domain
 * coercions of domains without constraints: any change to pg_proc, pg_type
 * or pg_constraint makes every entry stale (made again at its next
 * ExecutorEnd). A stale entry's memory may still be in use by a statement
 * running further up the stack: it is freed when the outermost SlExec
 * returns.
 *
 * Only on PostgreSQL 15, whose ExecRelCheck and TriggerEnabled this follows
 * (later servers expand virtual generated columns there, and skip
 * constraints not enforced): elsewhere the hooks are not installed.
 */
#include "shilian.h"

#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "expr_cache.h"

/* SlExec's nesting: the cache serves the statements run inside it */
static int	exec_depth = 0;

#if PG_VERSION_NUM >= 150000 && PG_VERSION_NUM < 160000
#define EXPR_CACHE_ACTIVE 1
#endif

#ifdef EXPR_CACHE_ACTIVE

typedef struct CheckEntry
{
	Oid			relid;			/* hash key */
	uint64		generation;
	MemoryContext cxt;
	int			ncheck;
	char	  **ccbin;			/* the constraints' texts, in the relation's order */
	Expr	  **expr;			/* each planned */
} CheckEntry;

typedef struct WhenEntry
{
	Oid			tgoid;			/* hash key */
	uint64		generation;
	MemoryContext cxt;
	char	   *tgqual;
	List	   *qual;			/* planned, implicit-AND, OLD/NEW as INNER/OUTER_VAR */
} WhenEntry;

static HTAB *checks = NULL;
static HTAB *whens = NULL;
static uint64 generation = 1;
/*
 * Parent of the memory of stale entries: deleted, with them, when the
 * outermost SlExec returns (a statement further up may still use them)
 */
static MemoryContext retired = NULL;

static ExecutorStart_hook_type prev_start = NULL;
static ExecutorEnd_hook_type prev_end = NULL;

static void
CatalogChanged(Datum arg, int cacheid, uint32 hashvalue)
{
	generation++;
}

static void
Retire(MemoryContext cxt)
{
	if (cxt == NULL)
		return;
	if (retired == NULL)
		retired = AllocSetContextCreate(TopMemoryContext, "shilian expr cache (retired)",
										ALLOCSET_SMALL_SIZES);
	MemoryContextSetParent(cxt, retired);
}

static MemoryContext
EntryContext(void)
{
	return AllocSetContextCreate(CacheMemoryContext, "shilian expr cache", ALLOCSET_SMALL_SIZES);
}

static bool
CheckEntryMatches(CheckEntry *e, TupleConstr *constr)
{
	if (e->generation != generation || e->ncheck != constr->num_check)
		return false;
	for (int i = 0; i < e->ncheck; i++)
		if (strcmp(e->ccbin[i], constr->check[i].ccbin) != 0)
			return false;
	return true;
}

/* The relation's constraints read and planned as ExecRelCheck does, into a new entry. */
static void
CheckEntryMake(Relation rel)
{
	TupleConstr *constr = rel->rd_att->constr;
	Oid			relid = RelationGetRelid(rel);
	bool		found;
	CheckEntry *e;
	MemoryContext cxt = EntryContext();
	MemoryContext old = MemoryContextSwitchTo(cxt);
	int			n = constr->num_check;
	char	  **ccbin = palloc_array(char *, n);
	Expr	  **expr = palloc_array(Expr *, n);

	for (int i = 0; i < n; i++)
	{
		ccbin[i] = pstrdup(constr->check[i].ccbin);
		expr[i] = expression_planner((Expr *) stringToNode(constr->check[i].ccbin));
	}
	MemoryContextSwitchTo(old);
	e = hash_search(checks, &relid, HASH_ENTER, &found);
	if (found)
		Retire(e->cxt);
	e->generation = generation;
	e->cxt = cxt;
	e->ncheck = n;
	e->ccbin = ccbin;
	e->expr = expr;
}

/* The trigger's WHEN condition read and planned as TriggerEnabled does, into a new entry. */
static void
WhenEntryMake(Trigger *tg)
{
	bool		found;
	WhenEntry  *e;
	MemoryContext cxt = EntryContext();
	MemoryContext old = MemoryContextSwitchTo(cxt);
	char	   *text = pstrdup(tg->tgqual);
	Node	   *tgqual = stringToNode(tg->tgqual);
	List	   *qual;

	ChangeVarNodes(tgqual, PRS2_OLD_VARNO, INNER_VAR, 0);
	ChangeVarNodes(tgqual, PRS2_NEW_VARNO, OUTER_VAR, 0);
	qual = (List *) expression_planner((Expr *) make_ands_implicit((Expr *) tgqual));
	MemoryContextSwitchTo(old);
	e = hash_search(whens, &tg->tgoid, HASH_ENTER, &found);
	if (found)
		Retire(e->cxt);
	e->generation = generation;
	e->cxt = cxt;
	e->tgqual = text;
	e->qual = qual;
}

static void
ExprCacheStart(QueryDesc *queryDesc, int eflags)
{
	EState	   *estate;
	ListCell   *lc;

	if (prev_start)
		prev_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (exec_depth == 0 || (eflags & EXEC_FLAG_EXPLAIN_ONLY) || checks == NULL)
		return;
	estate = queryDesc->estate;
	foreach(lc, estate->es_opened_result_relations)
	{
		ResultRelInfo *rri = (ResultRelInfo *) lfirst(lc);
		Relation	rel = rri->ri_RelationDesc;
		TupleConstr *constr = rel->rd_att->constr;
		TriggerDesc *td = rri->ri_TrigDesc;

		if (constr != NULL && constr->num_check > 0 && rri->ri_ConstraintExprs == NULL)
		{
			Oid			relid = RelationGetRelid(rel);
			CheckEntry *e = hash_search(checks, &relid, HASH_FIND, NULL);

			if (e != NULL && CheckEntryMatches(e, constr))
			{
				MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
				ExprState **states = palloc_array(ExprState *, e->ncheck);

				for (int i = 0; i < e->ncheck; i++)
					states[i] = ExecInitExpr(e->expr[i], NULL);
				rri->ri_ConstraintExprs = states;
				MemoryContextSwitchTo(old);
			}
		}
		if (td != NULL && rri->ri_TrigWhenExprs != NULL)
		{
			for (int i = 0; i < td->numtriggers; i++)
			{
				Trigger    *tg = &td->triggers[i];
				WhenEntry  *e;

				if (tg->tgqual == NULL || rri->ri_TrigWhenExprs[i] != NULL)
					continue;
				e = hash_search(whens, &tg->tgoid, HASH_FIND, NULL);
				if (e != NULL && e->generation == generation && strcmp(e->tgqual, tg->tgqual) == 0)
				{
					MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

					rri->ri_TrigWhenExprs[i] = ExecInitQual(e->qual, NULL);
					MemoryContextSwitchTo(old);
				}
			}
		}
	}
}

static void
ExprCacheEnd(QueryDesc *queryDesc)
{
	if (exec_depth > 0 && checks != NULL)
	{
		ListCell   *lc;

		foreach(lc, queryDesc->estate->es_opened_result_relations)
		{
			ResultRelInfo *rri = (ResultRelInfo *) lfirst(lc);
			Relation	rel = rri->ri_RelationDesc;
			TupleConstr *constr = rel->rd_att->constr;
			TriggerDesc *td = rri->ri_TrigDesc;

			/* built by ExecRelCheck (or from the cache) without an error */
			if (constr != NULL && constr->num_check > 0 && rri->ri_ConstraintExprs != NULL)
			{
				Oid			relid = RelationGetRelid(rel);
				CheckEntry *e = hash_search(checks, &relid, HASH_FIND, NULL);

				if (e == NULL || !CheckEntryMatches(e, constr))
					CheckEntryMake(rel);
			}
			if (td != NULL && rri->ri_TrigWhenExprs != NULL)
			{
				for (int i = 0; i < td->numtriggers; i++)
				{
					Trigger    *tg = &td->triggers[i];
					WhenEntry  *e;

					if (tg->tgqual == NULL || rri->ri_TrigWhenExprs[i] == NULL)
						continue;
					e = hash_search(whens, &tg->tgoid, HASH_FIND, NULL);
					if (e == NULL || e->generation != generation || strcmp(e->tgqual, tg->tgqual) != 0)
						WhenEntryMake(tg);
				}
			}
		}
	}
	if (prev_end)
		prev_end(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

#endif							/* EXPR_CACHE_ACTIVE */

void
ExprCacheInit(void)
{
#ifdef EXPR_CACHE_ACTIVE
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(CheckEntry);
	checks = hash_create("shilian check constraints", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(WhenEntry);
	whens = hash_create("shilian trigger conditions", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	CacheRegisterSyscacheCallback(PROCOID, CatalogChanged, (Datum) 0);
	CacheRegisterSyscacheCallback(TYPEOID, CatalogChanged, (Datum) 0);
	CacheRegisterSyscacheCallback(CONSTROID, CatalogChanged, (Datum) 0);
	prev_start = ExecutorStart_hook;
	ExecutorStart_hook = ExprCacheStart;
	prev_end = ExecutorEnd_hook;
	ExecutorEnd_hook = ExprCacheEnd;
#endif
}

void
ExprCacheEnter(void)
{
	exec_depth++;
}

/* Leaving SlExec (normally or by an error): the outermost frees the stale entries' memory. */
void
ExprCacheLeave(void)
{
	Assert(exec_depth > 0);
	if (--exec_depth > 0)
		return;
#ifdef EXPR_CACHE_ACTIVE
	if (retired != NULL)
	{
		MemoryContextDelete(retired);
		retired = NULL;
	}
#endif
}
