/*
 * strictdate.h — the one syntax check of dates and timestamps read from
 * users: a date is YYYY-MM-DD (ISO 8601 calendar date, four-digit year) and
 * nothing else; a timestamp is RFC 3339 date-time with its offset (Z or
 * ±HH:MM), never read in a session or server zone. Pure C, no PostgreSQL
 * headers: the extension converts what passes (strict_input.c), the unit
 * tests check the rules.
 */
#ifndef SHILIAN_STRICTDATE_H
#define SHILIAN_STRICTDATE_H

#include <stddef.h>

typedef enum SlDateCheck
{
	SL_DATE_OK = 0,
	SL_DATE_SYNTAX,				/* not YYYY-MM-DD */
	SL_DATE_NO_SUCH_DAY,		/* YYYY-MM-DD, but no such month or day (2026-02-30) */
	SL_TS_SYNTAX,				/* not RFC 3339 date-time */
	SL_TS_NO_OFFSET,			/* a date-time without Z or ±HH:MM */
	SL_TS_RANGE					/* RFC 3339 form, but a field out of range (25:00, +24:00, 02-30) */
} SlDateCheck;

typedef struct SlDateTime
{
	int			year;			/* 1..9999 */
	int			month;			/* 1..12 */
	int			day;			/* 1..days in the month */
	int			hour;			/* 0..23 */
	int			minute;			/* 0..59 */
	int			second;			/* 0..60 (60: a leap second, RFC 3339 5.7) */
	int			usec;			/* 0..1000000: the fraction rounded to microseconds */
	int			offset_sec;		/* east of UTC, -86340..86340 */
} SlDateTime;

/* Days in month m (1..12) of year y (proleptic Gregorian). */
int			sl_days_in_month(int y, int m);

/* s[0..n) as YYYY-MM-DD: out->year, month, day set (the rest zero). */
SlDateCheck sl_date_check(const char *s, size_t n, SlDateTime *out);

/*
 * s[0..n) as RFC 3339 date-time: YYYY-MM-DD, T (or t, or one space as RFC
 * 3339 allows for readability), HH:MM:SS, an optional fraction of 1 to 9
 * digits, then Z (z) or ±HH:MM.
 */
SlDateCheck sl_timestamp_check(const char *s, size_t n, SlDateTime *out);

/* What a check result means, as a phrase for messages ("is not a date in the form YYYY-MM-DD"). */
const char *sl_date_check_phrase(SlDateCheck c);

#endif
