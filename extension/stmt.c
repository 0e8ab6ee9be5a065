/*
 * stmt.c — SPI statements prepared once per backend and kept (SPI_keepplan),
 * so that every validation rule and every write of the record functions is
 * one planned index probe, not a parse and plan per call.
 */
#include "records.h"

#include "jit/jit.h"
#include "optimizer/cost.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "expr_cache.h"

/*
 * Kept plans name the extension's types by OID. When types change (DROP and
 * CREATE EXTENSION in one session, say) the plans are prepared again: the
 * plan cache alone would re-plan with the dropped types' OIDs.
 */
static uint64 plan_generation = 1;
static bool inval_registered = false;

static void
TypesChanged(Datum arg, int cacheid, uint32 hashvalue)
{
	plan_generation++;
}

/* The OID of a SQL type name such as "bigint" or "shilian.qty[]". */
Oid
SlTypeOid(const char *name)
{
	Oid			oid;
	int32		typmod;

	parseTypeString(name, &oid, &typmod, false);
	return oid;
}

/*
 * enable_seqscan and jit off until SlPlanSettingsEnd (or the (sub)transaction's
 * abort on error), for the statements SlExec plans and runs.
 */
int
SlPlanSettingsBegin(void)
{
	int			nest;

	/*
	 * Every statement here is meant to be an index probe, and is planned
	 * (again, by the plan cache, after any ANALYZE) with sequential scans
	 * off. On tables the planner sees as tiny it would otherwise scan every
	 * row, and in a transaction of many subtransactions (an import of many
	 * lines, each under its own savepoint) every row of operator and batch
	 * carries a MultiXact that grows with each subtransaction that
	 * key-share-locked it (the foreign keys of link, batch, inspection):
	 * a scan of 40 operators then resolves 40 ever longer member lists per
	 * probe. Measured: 4,000 import lines after VACUUM ANALYZE, 17.8 s with
	 * seq scans, 2.4 s without. The setting is undone when the statement
	 * returns (or by the (sub)transaction abort on error).
	 *
	 * Nor are they worth compiling: the set-based import's statements over
	 * arrays of thousands of rows have costs past jit_above_cost, and JIT
	 * with inlining and optimisation took longer than running them.
	 *
	 * A statement run from inside another's (a trigger of a record
	 * function's write, such as receipt_exception_changed) finds both off
	 * already, and sets nothing: the outer statement's level undoes them
	 * (each setting and undoing was 1.3 % of a ship + receive pair, perf).
	 * For the same reason a record function (ship, receive) and the
	 * counters' flush take one level around all their statements
	 * (SlPlanSettingsBegin ... End) instead of one per statement: ship ran
	 * four, the flush of a receipt four, each setting both and undoing them
	 * (1.1 % of a pair, perf). Their own C code between the statements
	 * plans nothing.
	 *
	 * Returns the level to give SlPlanSettingsEnd, 0 when both were off
	 * already (nothing set, nothing to undo).
	 */
	if (!enable_seqscan && !jit_enabled)
		return 0;
	nest = NewGUCNestLevel();
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Undoes SlPlanSettingsBegin's settings (nest its result; 0: nothing was set). */
void
SlPlanSettingsEnd(int nest)
{
	if (nest > 0)
		AtEOXact_GUC(true, nest);
}

int
SlExec(SlStmt *stmt, Datum *values, const char *nulls, long count)
{
	int			rc;
	int			nest;

	SlCheckSchemaVersion();
	if (!inval_registered)
	{
		CacheRegisterSyscacheCallback(TYPEOID, TypesChanged, (Datum) 0);
		inval_registered = true;
	}
	if (stmt->plan != NULL && stmt->generation != plan_generation)
	{
		SPI_freeplan(stmt->plan);
		stmt->plan = NULL;
	}
	if (stmt->plan == NULL)
	{
		Oid			types[lengthof(stmt->argtypes)];
		SPIPlanPtr	plan;

		Assert(stmt->nargs <= (int) lengthof(stmt->argtypes));
		for (int i = 0; i < stmt->nargs; i++)
			types[i] = SlTypeOid(stmt->argtypes[i]);
		plan = SPI_prepare_cursor(stmt->sql, stmt->nargs, types,
								  stmt->generic ? CURSOR_OPT_GENERIC_PLAN : 0);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), stmt->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		stmt->plan = plan;
		stmt->generation = plan_generation;
	}
	nest = SlPlanSettingsBegin();
	ExprCacheEnter();
	PG_TRY();
	{
		rc = SPI_execute_plan(stmt->plan, values, nulls, false, count);
	}
	PG_FINALLY();
	{
		ExprCacheLeave();
	}
	PG_END_TRY();
	SlPlanSettingsEnd(nest);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed (%s) for: %s",
			 SPI_result_code_string(rc), stmt->sql);
	return rc;
}

Datum
SlGet(int row, int col, bool *isnull)
{
	bool		dummy;

	Assert(SPI_tuptable != NULL && (uint64) row < SPI_processed);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col,
						 isnull ? isnull : &dummy);
}
