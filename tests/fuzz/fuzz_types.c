/*
 * fuzz_types.c — libFuzzer harness for the input, output, send and receive
 * functions of uscc, license_no, trace_code and qty, run as the server runs
 * them (pg_stub.c). The first byte picks the type and text or binary input;
 * whatever parses must print, parse again to the same text, and survive a
 * send/receive round trip; whatever is refused must be refused with an error,
 * never a crash or an out-of-bounds read.
 */
#include "pg_stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

extern Datum uscc_in(PG_FUNCTION_ARGS);
extern Datum uscc_out(PG_FUNCTION_ARGS);
extern Datum uscc_recv(PG_FUNCTION_ARGS);
extern Datum uscc_send(PG_FUNCTION_ARGS);
extern Datum license_no_in(PG_FUNCTION_ARGS);
extern Datum license_no_out(PG_FUNCTION_ARGS);
extern Datum license_no_recv(PG_FUNCTION_ARGS);
extern Datum license_no_send(PG_FUNCTION_ARGS);
extern Datum trace_code_in(PG_FUNCTION_ARGS);
extern Datum trace_code_out(PG_FUNCTION_ARGS);
extern Datum trace_code_recv(PG_FUNCTION_ARGS);
extern Datum trace_code_send(PG_FUNCTION_ARGS);
extern Datum qty_input(PG_FUNCTION_ARGS);
extern Datum qty_output(PG_FUNCTION_ARGS);
extern Datum qty_recv(PG_FUNCTION_ARGS);
extern Datum qty_send(PG_FUNCTION_ARGS);

typedef struct TypeIO
{
	const char *name;
	PGFunction	in, out, recv, send;
} TypeIO;

static const TypeIO types[] = {
	{"uscc", uscc_in, uscc_out, uscc_recv, uscc_send},
	{"license_no", license_no_in, license_no_out, license_no_recv, license_no_send},
	{"trace_code", trace_code_in, trace_code_out, trace_code_recv, trace_code_send},
	{"qty", qty_input, qty_output, qty_recv, qty_send},
};

static void
Fail(const TypeIO *t, const char *what, const char *text)
{
	fprintf(stderr, "fuzz_types: %s: %s (\"%s\", last error %s)\n", t->name, what,
			text ? text : "", FuzzLastSqlstate());
	abort();
}

/* out(v), then in(out(v)) must succeed and print the same; send/recv too. */
static void
RoundTrip(const TypeIO *t, Datum v)
{
	Datum		text, again, text2, bytes, back, text3;
	StringInfoData buf;
	bytea	   *b;

	if (!FuzzCall(t->out, &v, 1, &text))
		Fail(t, "output refused a value its input accepted", NULL);
	if (!FuzzCall(t->in, &text, 1, &again))
		Fail(t, "input refused its own output", DatumGetCString(text));
	if (!FuzzCall(t->out, &again, 1, &text2) || strcmp(DatumGetCString(text), DatumGetCString(text2)) != 0)
		Fail(t, "output is not stable under input", DatumGetCString(text));
	if (!FuzzCall(t->send, &v, 1, &bytes))
		Fail(t, "send refused a value", DatumGetCString(text));
	b = (bytea *) DatumGetPointer(bytes);
	buf.data = VARDATA(b);
	buf.len = VARSIZE(b) - VARHDRSZ;
	buf.maxlen = buf.len;
	buf.cursor = 0;
	back = PointerGetDatum(&buf);
	if (!FuzzCall(t->recv, &back, 1, &back))
		Fail(t, "receive refused what send wrote", DatumGetCString(text));
	if (!FuzzCall(t->out, &back, 1, &text3) || strcmp(DatumGetCString(text), DatumGetCString(text3)) != 0)
		Fail(t, "send/receive changed the value", DatumGetCString(text));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const TypeIO *t;
	bool		binary;
	Datum		arg, v;

	if (size < 1)
		return 0;
	t = &types[(data[0] & 0x7f) % 4];
	binary = (data[0] & 0x80) != 0;
	data++;
	size--;
	if (!binary)
	{
		char	   *s;
		size_t		n = strnlen((const char *) data, size);

		/* the server hands input functions verified text of its encoding */
		if (pg_encoding_verifymbstr(PG_UTF8, (const char *) data, (int) n) != (int) n)
			return 0;
		s = palloc(n + 1);
		memcpy(s, data, n);
		s[n] = '\0';
		arg = CStringGetDatum(s);
		if (FuzzCall(t->in, &arg, 1, &v))
			RoundTrip(t, v);
	}
	else
	{
		StringInfoData buf;

		/* as the server's receive buffer: a copy with a NUL after it */
		buf.data = palloc(size + 1);
		memcpy(buf.data, data, size);
		buf.data[size] = '\0';
		buf.len = (int) size;
		buf.maxlen = (int) size + 1;
		buf.cursor = 0;
		arg = PointerGetDatum(&buf);
		if (FuzzCall(t->recv, &arg, 1, &v))
			RoundTrip(t, v);
	}
	FuzzResetMemory();
	return 0;
}
