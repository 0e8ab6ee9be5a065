/*
 * strictdate_test.c — extension/core/strictdate.c: dates are YYYY-MM-DD only
 * (with real days, leap years by the Gregorian rule), timestamps RFC 3339
 * with an offset; every loose form the platform used to take is refused
 * with the reason.
 */
#include "strictdate.h"
#include "unit.h"

#include <string.h>

static SlDateCheck
D(const char *s, SlDateTime *out)
{
	return sl_date_check(s, strlen(s), out);
}

static SlDateCheck
T(const char *s, SlDateTime *out)
{
	return sl_timestamp_check(s, strlen(s), out);
}

int
main(void)
{
	SlDateTime	dt;
	static const char *const not_dates[] = {
		"01/12/2026", "2026-1-2", "2026-01-2", "yesterday", "today", "now", "", "2026", "2026-01",
		"20260112", "2026/01/12", " 2026-01-12", "2026-01-12 ", "2026-01-12T00:00:00Z", "+2026-01-12",
		"2026-01-1x", "26-01-12", "12-01-2026", "2026-O1-12", "2026-01-12\n", "epoch", "infinity",
		"Jan 12 2026", "2026.01.12", NULL
	};
	static const char *const no_such_days[] = {
		"2026-02-30", "2026-02-29", "2026-13-01", "2026-00-10", "2026-01-00", "2026-04-31", "0000-01-01",
		"1900-02-29", "2026-01-32", NULL
	};
	static const char *const not_timestamps[] = {
		"yesterday", "now", "2026-01-12T10:00", "2026-01-12T10:00Z", "2026-01-12T1:00:00Z",
		"2026-01-12T10:00:00+08", "2026-01-12T10:00:00+0800", "2026-01-12T10:00:00 +08:00",
		"2026-01-12T10:00:00.Z", "2026-01-12T10:00:00.1234567890Z", "2026-01-12T10:00:00ZZ",
		"2026-01-12T10:00:00UTC", "01/12/2026 10:00:00Z", "2026-01-12X10:00:00Z", "2026-01-12  10:00:00Z",
		"2026-1-12T10:00:00Z", "2026-01-12T10:00:00+08:00 ", "", "2026-01-12T10:00:00-8:00", NULL
	};
	static const char *const no_offsets[] = {
		"2026-01-12", "2026-01-12T10:00:00", "2026-01-12 10:00:00", "2026-01-12T10:00:00.5", NULL
	};
	static const char *const out_of_range[] = {
		"2026-01-12T24:00:00Z", "2026-01-12T10:60:00Z", "2026-01-12T10:00:61Z", "2026-02-30T10:00:00Z",
		"2026-01-12T10:00:00+24:00", "2026-01-12T10:00:00+08:60", NULL
	};

	/* ---- dates ---- */
	CHECK(D("2026-01-12", &dt) == SL_DATE_OK && dt.year == 2026 && dt.month == 1 && dt.day == 12,
		  "2026-01-12 is 2026, 1, 12");
	CHECK(D("2024-02-29", &dt) == SL_DATE_OK, "2024-02-29: a leap day");
	CHECK(D("2000-02-29", &dt) == SL_DATE_OK, "2000-02-29: divisible by 400");
	CHECK(D("0001-01-01", &dt) == SL_DATE_OK && D("9999-12-31", &dt) == SL_DATE_OK, "years 0001 to 9999");
	for (int i = 0; not_dates[i]; i++)
		CHECK(D(not_dates[i], NULL) == SL_DATE_SYNTAX, "\"%s\" is not YYYY-MM-DD", not_dates[i]);
	for (int i = 0; no_such_days[i]; i++)
		CHECK(D(no_such_days[i], NULL) == SL_DATE_NO_SUCH_DAY, "\"%s\": no such day", no_such_days[i]);
	CHECK(sl_date_check(NULL, 0, NULL) == SL_DATE_SYNTAX, "NULL is not a date");
	CHECK(sl_date_check("2026-01-12xyz", 10, &dt) == SL_DATE_OK, "only the n bytes given are read");
	CHECK(sl_days_in_month(2026, 2) == 28 && sl_days_in_month(2028, 2) == 29 && sl_days_in_month(2100, 2) == 28 &&
		  sl_days_in_month(2026, 13) == 0, "days in a month");

	/* ---- timestamps ---- */
	CHECK(T("2026-01-12T10:20:30Z", &dt) == SL_DATE_OK && dt.hour == 10 && dt.minute == 20 && dt.second == 30 &&
		  dt.offset_sec == 0 && dt.usec == 0, "Z: UTC");
	CHECK(T("2026-01-12T10:20:30+08:00", &dt) == SL_DATE_OK && dt.offset_sec == 8 * 3600, "+08:00");
	CHECK(T("2026-01-12T10:20:30-05:30", &dt) == SL_DATE_OK && dt.offset_sec == -(5 * 3600 + 30 * 60), "-05:30");
	CHECK(T("2026-01-12t10:20:30z", &dt) == SL_DATE_OK, "lower-case t and z (RFC 3339 5.6)");
	CHECK(T("2026-01-12 10:20:30+08:00", &dt) == SL_DATE_OK, "a space for T (RFC 3339 5.6 note)");
	CHECK(T("2026-01-12T10:20:30.5Z", &dt) == SL_DATE_OK && dt.usec == 500000, "a fraction: .5");
	CHECK(T("2026-01-12T10:20:30.123456Z", &dt) == SL_DATE_OK && dt.usec == 123456, "microseconds");
	CHECK(T("2026-01-12T10:20:30.1234565Z", &dt) == SL_DATE_OK && dt.usec == 123457, "rounded half up");
	CHECK(T("2026-01-12T10:20:30.999999999Z", &dt) == SL_DATE_OK && dt.usec == 1000000,
		  "nine digits, rounded up to the next second");
	CHECK(T("2026-12-31T23:59:60Z", &dt) == SL_DATE_OK && dt.second == 60, "a leap second");
	CHECK(T("2026-01-12T10:20:30-00:00", &dt) == SL_DATE_OK && dt.offset_sec == 0, "-00:00");
	for (int i = 0; not_timestamps[i]; i++)
		CHECK(T(not_timestamps[i], NULL) == SL_TS_SYNTAX, "\"%s\" is not RFC 3339", not_timestamps[i]);
	for (int i = 0; no_offsets[i]; i++)
		CHECK(T(no_offsets[i], NULL) == SL_TS_NO_OFFSET, "\"%s\": no offset", no_offsets[i]);
	for (int i = 0; out_of_range[i]; i++)
		CHECK(T(out_of_range[i], NULL) == SL_TS_RANGE, "\"%s\": out of range", out_of_range[i]);
	CHECK(strstr(sl_date_check_phrase(SL_TS_NO_OFFSET), "offset") != NULL, "the phrase names the rule");
	return UNIT_DONE();
}
