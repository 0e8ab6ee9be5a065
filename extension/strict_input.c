/*
 * strict_input.c — strict_date(text, field) and strict_timestamptz(text,
 * field): user text becomes a date or timestamptz only through the strict
 * check of extension/core/strictdate.c, here and wherever the extension
 * reads such text (bulk import, the record functions' JSON lines, EPCIS
 * capture, the gateway's SQL). A timestamp always carries its offset, so
 * the value never depends on the session's or the server's TimeZone.
 */
#include "shilian.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

#include "strict_input.h"
#include "strictdate.h"

PG_FUNCTION_INFO_V1(sl_strict_date);
PG_FUNCTION_INFO_V1(sl_strict_timestamptz);

static int
CodeOf(SlDateCheck c)
{
	switch (c)
	{
		case SL_DATE_SYNTAX: return SL_ERRCODE('D', '0', '1');
		case SL_DATE_NO_SUCH_DAY: return SL_ERRCODE('D', '0', '2');
		case SL_TS_SYNTAX: return SL_ERRCODE('D', '0', '3');
		case SL_TS_NO_OFFSET: return SL_ERRCODE('D', '0', '4');
		default: return SL_ERRCODE('D', '0', '5');
	}
}

static void
Refuse(SlDateCheck c, const char *text, const char *field, bool date)
{
	ereport(ERROR,
			(errcode(CodeOf(c)),
			 field ? errmsg("%s: \"%s\" %s", field, text, sl_date_check_phrase(c)) :
			 errmsg("\"%s\" %s", text, sl_date_check_phrase(c)),
			 date ? errhint("Write dates as YYYY-MM-DD, for example 2026-01-12.") :
			 errhint("Write timestamps in RFC 3339 with their offset, for example 2026-01-12T08:30:00+08:00 "
					 "or 2026-01-12T00:30:00Z.")));
}

DateADT
SlStrictDate(const char *text, const char *field)
{
	SlDateTime	dt;
	SlDateCheck c = sl_date_check(text, strlen(text), &dt);

	if (c != SL_DATE_OK)
		Refuse(c, text, field, true);
	return (DateADT) (date2j(dt.year, dt.month, dt.day) - POSTGRES_EPOCH_JDATE);
}

TimestampTz
SlStrictTimestamptz(const char *text, const char *field)
{
	SlDateTime	dt;
	SlDateCheck c = sl_timestamp_check(text, strlen(text), &dt);
	struct pg_tm tm;
	int			tz;
	TimestampTz result;

	if (c != SL_DATE_OK)
		Refuse(c, text, field, false);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = dt.year;
	tm.tm_mon = dt.month;
	tm.tm_mday = dt.day;
	tm.tm_hour = dt.hour;
	tm.tm_min = dt.minute;
	tm.tm_sec = dt.second;
	tz = -dt.offset_sec;		/* PostgreSQL counts zones west of UTC */
	if (tm2timestamp(&tm, dt.usec, &tz, &result) != 0 || !IS_VALID_TIMESTAMP(result))
		Refuse(SL_TS_RANGE, text, field, false);
	return result;
}

static char *
OptText(FunctionCallInfo fcinfo, int n)
{
	return PG_NARGS() > n && !PG_ARGISNULL(n) ? text_to_cstring(PG_GETARG_TEXT_PP(n)) : NULL;
}

Datum
sl_strict_date(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_DATEADT(SlStrictDate(text_to_cstring(PG_GETARG_TEXT_PP(0)), OptText(fcinfo, 1)));
}

Datum
sl_strict_timestamptz(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(SlStrictTimestamptz(text_to_cstring(PG_GETARG_TEXT_PP(0)), OptText(fcinfo, 1)));
}
