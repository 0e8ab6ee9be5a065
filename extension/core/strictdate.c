/*
 * strictdate.c — the strict reading of dates (YYYY-MM-DD) and RFC 3339
 * timestamps with an offset; see strictdate.h. Only digits in fixed places
 * are read: no month names, no "today", no two-digit years, no day-first.
 */
#include "strictdate.h"

#include <stdbool.h>

static bool
Digits(const char *s, int n, int *v)
{
	int			x = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

int
sl_days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (m < 1 || m > 12)
		return 0;
	return days[m - 1] + (m == 2 && leap);
}

/* The date part, s[0..10): syntax and range. */
static SlDateCheck
DatePart(const char *s, size_t n, SlDateTime *out, SlDateCheck syntax)
{
	if (n < 10 || s[4] != '-' || s[7] != '-' || !Digits(s, 4, &out->year) ||
		!Digits(s + 5, 2, &out->month) || !Digits(s + 8, 2, &out->day))
		return syntax;
	if (out->year < 1 || out->month < 1 || out->month > 12 || out->day < 1 ||
		out->day > sl_days_in_month(out->year, out->month))
		return syntax == SL_DATE_SYNTAX ? SL_DATE_NO_SUCH_DAY : SL_TS_RANGE;
	return SL_DATE_OK;
}

SlDateCheck
sl_date_check(const char *s, size_t n, SlDateTime *out)
{
	SlDateTime	dt = {0};
	SlDateCheck c;

	if (s == NULL || n != 10)
		return SL_DATE_SYNTAX;
	c = DatePart(s, n, &dt, SL_DATE_SYNTAX);
	if (c == SL_DATE_OK && out != NULL)
		*out = dt;
	return c;
}

SlDateCheck
sl_timestamp_check(const char *s, size_t n, SlDateTime *out)
{
	SlDateTime	dt = {0};
	SlDateCheck c;
	size_t		i;
	int			oh,
				om;

	if (s == NULL)
		return SL_TS_SYNTAX;
	c = DatePart(s, n, &dt, SL_TS_SYNTAX);
	if (c == SL_TS_SYNTAX)
		return c;
	/* a date alone, or a date and a time with nothing after: no offset */
	if (n == 10)
		return SL_TS_NO_OFFSET;
	if (n < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
		!Digits(s + 11, 2, &dt.hour) || !Digits(s + 14, 2, &dt.minute) || !Digits(s + 17, 2, &dt.second))
		return SL_TS_SYNTAX;
	i = 19;
	if (i < n && s[i] == '.')
	{
		int			digits = 0;
		long		frac = 0;

		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 9)
		{
			frac = frac * 10 + (s[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || (i < n && s[i] >= '0' && s[i] <= '9'))
			return SL_TS_SYNTAX;	/* no digit, or more than 9 */
		while (digits < 7)
			frac *= 10, digits++;
		while (digits > 7)
			frac /= 10, digits--;
		dt.usec = (int) ((frac + 5) / 10);	/* rounded half up to microseconds */
	}
	if (i == n)
		return c == SL_DATE_OK ? SL_TS_NO_OFFSET : c;
	if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n)
		dt.offset_sec = 0;
	else if ((s[i] == '+' || s[i] == '-') && n - i == 6 && s[i + 3] == ':' &&
			 Digits(s + i + 1, 2, &oh) && Digits(s + i + 4, 2, &om))
	{
		if (oh > 23 || om > 59)
			return SL_TS_RANGE;
		dt.offset_sec = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	}
	else
		return SL_TS_SYNTAX;
	if (c != SL_DATE_OK)
		return c;
	if (dt.hour > 23 || dt.minute > 59 || dt.second > 60)
		return SL_TS_RANGE;
	if (out != NULL)
		*out = dt;
	return SL_DATE_OK;
}

const char *
sl_date_check_phrase(SlDateCheck c)
{
	switch (c)
	{
		case SL_DATE_OK:
			return "is valid";
		case SL_DATE_SYNTAX:
			return "is not a date in the form YYYY-MM-DD";
		case SL_DATE_NO_SUCH_DAY:
			return "is not a date: no such month or day";
		case SL_TS_SYNTAX:
			return "is not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS with Z or an offset ±HH:MM)";
		case SL_TS_NO_OFFSET:
			return "has no UTC offset: an RFC 3339 timestamp ends with Z or ±HH:MM";
		case SL_TS_RANGE:
			return "is not a timestamp: a field is out of range";
	}
	return "is not valid";
}
