/*
 * actor.c — the acting operator. Every write function checks, through
 * RecordCheckActor only, that the caller may record for the operator: the one
 * named by shilian.operator_id for an operator, a bound operator for a system
 * client (security.c), so that one operator cannot record for another even
 * with the other's batch code.
 */
#include "records.h"
#include "security.h"

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

/*
 * The rule per calling role (operator, system client, regulator, admin)
 * lives in security.c, next to the row-level security it mirrors.
 */
void
RecordCheckActor(int64 operator_id, const char *action)
{
	SecurityCheckWrite(operator_id, action);
}

bool
RecordMayAct(int64 operator_id, const char *action, SlRefusal *r)
{
	return SecurityMayWrite(operator_id, action, r);
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
