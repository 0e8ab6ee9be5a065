/*
 * platform_date.h — the platform's days (shilian.timezone, Asia/Shanghai by
 * default): every date derived from a timestamp goes through TimestampDate,
 * and "today" is PlatformToday, whatever the session's TimeZone.
 */
#ifndef SHILIAN_PLATFORM_DATE_H
#define SHILIAN_PLATFORM_DATE_H

#include "datatype/timestamp.h"
#include "utils/date.h"
#include "utils/guc.h"

/* The day of ts in the platform time zone: a record's event date. */
extern DateADT TimestampDate(TimestampTz ts);
/* The platform day of the transaction's start (current_date's moment). */
extern DateADT PlatformToday(void);
/* shilian.timezone's hooks (guc.c registers the setting). */
extern bool PlatformTimezoneCheck(char **newval, void **extra, GucSource source);
extern void PlatformTimezoneAssign(const char *newval, void *extra);

#endif
