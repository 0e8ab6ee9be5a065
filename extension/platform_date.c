/*
 * platform_date.c — one platform time zone: the day of a timestamp is taken
 * in shilian.timezone (default Asia/Shanghai), never in the session's
 * TimeZone, so a record made at 00:30 China time counts on that Chinese day
 * from a UTC gateway, a New York psql or a replica. SQL reaches the same
 * function through platform_date() and platform_today().
 */
#include "shilian.h"

#include "access/xact.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "platform_date.h"

/* The zone of shilian.timezone; set by the setting's assign hook. */
static pg_tz *platform_tz = NULL;

/* check hook of shilian.timezone: a zone the server knows (no leap seconds) */
bool
PlatformTimezoneCheck(char **newval, void **extra, GucSource source)
{
	pg_tz	   *tz = pg_tzset(*newval);
	pg_tz	  **keep;

	if (tz == NULL)
	{
		GUC_check_errdetail("\"%s\" is not a time zone name the server knows (see pg_timezone_names).", *newval);
		return false;
	}
	if (!pg_tz_acceptable(tz))
	{
		GUC_check_errdetail("Time zone \"%s\" counts leap seconds, which PostgreSQL does not support.", *newval);
		return false;
	}
	/*
	 * pg_tzset's zones live for the whole backend; extra keeps the pointer.
	 * The GUC machinery frees extra with free() (guc_malloc is not exported
	 * before PostgreSQL 16).
	 */
	keep = malloc(sizeof(pg_tz *));
	if (keep == NULL)
	{
		GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
		GUC_check_errmsg("out of memory");
		return false;
	}
	*keep = tz;
	*extra = keep;
	return true;
}

/* assign hook of shilian.timezone */
void
PlatformTimezoneAssign(const char *newval, void *extra)
{
	platform_tz = extra ? *(pg_tz **) extra : NULL;
}

static pg_tz *
PlatformTz(void)
{
	if (platform_tz == NULL)
		platform_tz = pg_tzset("Asia/Shanghai");
	return platform_tz;
}

DateADT
TimestampDate(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	DateADT		result;

	if (TIMESTAMP_IS_NOBEGIN(ts))
	{
		DATE_NOBEGIN(result);
		return result;
	}
	if (TIMESTAMP_IS_NOEND(ts))
	{
		DATE_NOEND(result);
		return result;
	}
	if (timestamp2tm(ts, &tz, &tm, &fsec, NULL, PlatformTz()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) - POSTGRES_EPOCH_JDATE;
}

DateADT
PlatformToday(void)
{
	return TimestampDate(GetCurrentTransactionStartTimestamp());
}

/* platform_date(timestamptz) → date: the day in shilian.timezone */
PG_FUNCTION_INFO_V1(platform_date);
Datum
platform_date(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(TimestampDate(PG_GETARG_TIMESTAMPTZ(0)));
}

/* platform_today() → date: today in shilian.timezone (transaction start) */
PG_FUNCTION_INFO_V1(platform_today);
Datum
platform_today(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATEADT(PlatformToday());
}
