/*
 * stmt.c — SPI statements prepared once per backend and kept (SPI_keepplan),
 * so that every validation rule and every write of the record functions is
 * one planned index probe, not a parse and plan per call.
 */
#include "records.h"

#include "parser/parse_type.h"
#include "utils/builtins.h"

/* The OID of a SQL type name such as "bigint" or "shilian.qty[]". */
Oid
SlTypeOid(const char *name)
{
	Oid			oid;
	int32		typmod;

	parseTypeString(name, &oid, &typmod, false);
	return oid;
}

int
SlExec(SlStmt *stmt, Datum *values, const char *nulls, long count)
{
	int			rc;

	if (stmt->plan == NULL)
	{
		Oid			types[lengthof(stmt->argtypes)];
		SPIPlanPtr	plan;

		Assert(stmt->nargs <= (int) lengthof(stmt->argtypes));
		for (int i = 0; i < stmt->nargs; i++)
			types[i] = SlTypeOid(stmt->argtypes[i]);
		plan = SPI_prepare(stmt->sql, stmt->nargs, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), stmt->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		stmt->plan = plan;
	}
	rc = SPI_execute_plan(stmt->plan, values, nulls, false, count);
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
