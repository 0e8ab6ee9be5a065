/*
 * trace_code.c — the trace_code type: the platform's 18-digit batch code
 * (6-digit GB/T 2260 region of the issuing jurisdiction, 11-digit serial,
 * Damm check digit), stored as the int64 it spells, and trace_code_next()
 * that issues codes from the sequence shilian.trace_code_serial.
 */
#include "shilian.h"

#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

#include "checkchar.h"
#include "types.h"

#define TRACE_CODE_SEND_VERSION 1

/* Check the 18 digits of a code; ereport 22P02 naming the failed rule. */
static TraceCode
TraceCodeParse(const char *str, const char *s, int len)
{
	int			nchars = LiteralCharCount(s, len);
	TraceCode	t = 0;
	char		expected;

	if (nchars != TRACE_CODE_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid length for trace_code: \"%s\"", str),
				 errdetail("A trace code has 18 digits; this one has %d characters.", nchars)));
	for (int i = 0; i < TRACE_CODE_DIGITS; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character at position %d for trace_code: \"%s\"", i + 1, str),
					 errdetail("\"%s\" is not a digit; a trace code is 18 digits.", LiteralCharAt(s, i))));
		t = t * 10 + (s[i] - '0');
	}
	expected = sl_damm_check_digit(s, TRACE_CODE_DIGITS - 1);
	if (expected != s[TRACE_CODE_DIGITS - 1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid check digit for trace_code: \"%s\", should be %c", str, expected),
				 errhint("A wrong digit or two swapped neighbours: check the code on the label.")));
	return t;
}

TraceCode
TraceCodeFromCString(const char *str)
{
	int			len;
	const char *s = LiteralTrim(str, &len);

	return TraceCodeParse(str, s, len);
}

char *
TraceCodeToCString(TraceCode t)
{
	return psprintf("%018lld", (long long) t);
}

char *
TraceCodeRegion(TraceCode t)
{
	return pnstrdup(TraceCodeToCString(t), 6);
}

TraceCode
TraceCodeMake(const char *region, int64 serial)
{
	char		body[TRACE_CODE_DIGITS + 1];
	int			rlen = strlen(region);

	if (rlen != 6 || strspn(region, "0123456789") != 6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid jurisdiction code \"%s\"", region),
				 errdetail("A trace code begins with the 6-digit GB/T 2260 code of the issuing jurisdiction.")));
	if (serial < 0 || serial > TRACE_CODE_SERIAL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("trace code serial " INT64_FORMAT " out of range", serial),
				 errdetail("The serial has 11 digits: 0 to 99999999999.")));
	snprintf(body, sizeof(body), "%s%011lld", region, (long long) serial);
	body[TRACE_CODE_DIGITS - 1] = sl_damm_check_digit(body, TRACE_CODE_DIGITS - 1);
	body[TRACE_CODE_DIGITS] = '\0';
	return TraceCodeParse(body, body, TRACE_CODE_DIGITS);
}

/* trace_code input: trimmed, 18 digits, Damm check digit. */
PG_FUNCTION_INFO_V1(trace_code_in);
Datum
trace_code_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_TRACE_CODE(TraceCodeFromCString(PG_GETARG_CSTRING(0)));
}

/* trace_code output: the 18 digits. */
PG_FUNCTION_INFO_V1(trace_code_out);
Datum
trace_code_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(TraceCodeToCString(PG_GETARG_TRACE_CODE(0)));
}

/* trace_code binary input: version byte 1, then int8; every input check re-run. */
PG_FUNCTION_INFO_V1(trace_code_recv);
Datum
trace_code_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgbyte(buf);
	int64		v;
	char	   *s;

	if (version != TRACE_CODE_SEND_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported trace_code binary format version %d", version),
				 errdetail("This library reads version %d.", TRACE_CODE_SEND_VERSION)));
	v = pq_getmsgint64(buf);
	if (v < 0 || v > INT64CONST(999999999999999999))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("trace_code binary value " INT64_FORMAT " is not an 18-digit number", v)));
	s = TraceCodeToCString(v);
	PG_RETURN_TRACE_CODE(TraceCodeParse(s, s, strlen(s)));
}

/* trace_code binary output: version byte 1, then the code as int8. */
PG_FUNCTION_INFO_V1(trace_code_send);
Datum
trace_code_send(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, TRACE_CODE_SEND_VERSION);
	pq_sendint64(&buf, PG_GETARG_TRACE_CODE(0));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* trace_code_next(jurisdiction text) → a new code from shilian.trace_code_serial. */
PG_FUNCTION_INFO_V1(trace_code_next);
Datum
trace_code_next(PG_FUNCTION_ARGS)
{
	char	   *region = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			nsp = get_namespace_oid("shilian", false);
	Oid			seq = get_relname_relid("trace_code_serial", nsp);
	int64		serial;

	/* validate before consuming a serial */
	TraceCodeMake(region, 0);
	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sequence shilian.trace_code_serial does not exist"),
				 errhint("Reinstall the shilian extension.")));
	serial = DatumGetInt64(DirectFunctionCall1(nextval_oid, ObjectIdGetDatum(seq)));
	PG_RETURN_TRACE_CODE(TraceCodeMake(region, serial));
}

/* trace_code_region(trace_code) → the 6-digit region of the issuing jurisdiction. */
PG_FUNCTION_INFO_V1(trace_code_region);
Datum
trace_code_region(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(TraceCodeRegion(PG_GETARG_TRACE_CODE(0))));
}
