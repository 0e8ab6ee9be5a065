/*
 * actor.c — the acting operator. Every write function checks, through
 * RecordCheckActor only, that the operator it records for is the one named by
 * the per-transaction setting shilian.operator_id (when that is set), so that
 * one operator cannot record for another even with the other's batch code.
 */
#include "records.h"

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"

int64
RecordActingOperator(void)
{
	const char *s = shilian_operator_id;

	if (s == NULL || s[0] == '\0')
		return 0;
	/* guc.c's check hook admits only a positive integer or the empty string */
	return pg_strtoint64(s);
}

void
RecordCheckActor(int64 operator_id, const char *action)
{
	int64		acting = RecordActingOperator();

	if (acting != 0 && acting != operator_id)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("acting operator %lld may not %s for operator %lld",
						(long long) acting, action, (long long) operator_id),
				 errdetail("The setting shilian.operator_id names the operator this transaction acts for."),
				 errhint("Record only for the operator named by shilian.operator_id.")));
}

void
RecordRequire(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument %s must not be null", name)));
}

/* ISO 8601 (YYYY-MM-DD) whatever the DateStyle, so messages read the same everywhere. */
char *
DateText(DateADT d)
{
	int			y,
				m,
				day;

	if (DATE_NOT_FINITE(d))
		return pstrdup(DATE_IS_NOBEGIN(d) ? "-infinity" : "infinity");
	j2date(d + POSTGRES_EPOCH_JDATE, &y, &m, &day);
	return psprintf("%04d-%02d-%02d", y, m, day);
}
