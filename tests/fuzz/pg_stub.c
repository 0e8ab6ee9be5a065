/*
 * pg_stub.c — a minimal backend runtime for fuzzing the extension's type
 * I/O functions outside a server: ereport(ERROR) unwinds to FuzzCall with
 * siglongjmp, palloc keeps a list freed after each input (so an error never
 * leaks as far as LeakSanitizer can tell), pg_mblen assumes UTF-8 (the
 * platform's databases are UTF-8 and the server verifies the encoding before
 * an input function sees text), and pqformat reads bounds-checked as the
 * server's does. Functions the I/O paths never reach abort loudly.
 */
#include "pg_stub.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

/* the settings the types read */
bool		shilian_licence_strict = false;
bool		shilian_license_strict_deprecated = false;
bool		shilian_uscc_lenient = false;

/* ---- memory: one list of blocks per input ---------------------------------- */

static void **blocks;
static size_t nblocks, cap;

static void *
Track(void *p)
{
	if (p == NULL)
		abort();
	if (nblocks == cap)
	{
		cap = cap ? cap * 2 : 256;
		blocks = realloc(blocks, cap * sizeof(void *));
		if (blocks == NULL)
			abort();
	}
	blocks[nblocks++] = p;
	return p;
}

void
FuzzResetMemory(void)
{
	for (size_t i = 0; i < nblocks; i++)
		free(blocks[i]);
	nblocks = 0;
}

void *
palloc(Size size)
{
	if (!AllocSizeIsValid(size))
		abort();
	return Track(malloc(size ? size : 1));
}

void *
palloc0(Size size)
{
	void	   *p = palloc(size);

	memset(p, 0, size);
	return p;
}

void *
palloc_extended(Size size, int flags)
{
	return (flags & MCXT_ALLOC_ZERO) ? palloc0(size) : palloc(size);
}

void *
repalloc(void *pointer, Size size)
{
	for (size_t i = 0; i < nblocks; i++)
		if (blocks[i] == pointer)
		{
			void	   *q = realloc(pointer, size ? size : 1);

			if (q == NULL)
				abort();
			blocks[i] = q;
			return q;
		}
	abort();
}

void
pfree(void *pointer)
{
	/* freed with the input's other blocks */
}

char *
pstrdup(const char *in)
{
	return strcpy(palloc(strlen(in) + 1), in);
}

char *
pnstrdup(const char *in, Size len)
{
	Size		n = strnlen(in, len);
	char	   *out = palloc(n + 1);

	memcpy(out, in, n);
	out[n] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out = palloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(out, n + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* ---- errors ------------------------------------------------------------------ */

static sigjmp_buf *error_jump;
static int	error_level;
static int	error_sqlstate;
static char error_sqlstate_text[6];

bool
errstart(int elevel, const char *domain)
{
	error_level = elevel;
	error_sqlstate = ERRCODE_INTERNAL_ERROR;
	return elevel >= ERROR;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level >= ERROR)
	{
		if (error_jump == NULL)
			abort();
		siglongjmp(*error_jump, 1);
	}
}

int
errcode(int sqlerrcode)
{
	error_sqlstate = sqlerrcode;
	return 0;
}

/* Format the message as the server would, so a bad argument shows here. */
static void
Format(const char *fmt, va_list ap)
{
	char		buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
}

#define FORMAT_FN(name) \
	int name(const char *fmt,...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		Format(fmt, ap); \
		va_end(ap); \
		return 0; \
	}
FORMAT_FN(errmsg)
FORMAT_FN(errmsg_internal)
FORMAT_FN(errdetail)
FORMAT_FN(errhint)

const char *
FuzzLastSqlstate(void)
{
	int			c = error_sqlstate;

	for (int i = 0; i < 5; i++)
	{
		error_sqlstate_text[i] = PGUNSIXBIT(c);
		c >>= 6;
	}
	error_sqlstate_text[5] = '\0';
	return error_sqlstate_text;
}

bool
FuzzCall(PGFunction f, Datum *args, int nargs, Datum *result)
{
	LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);
	sigjmp_buf	jump;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = false;
	}
	if (sigsetjmp(jump, 0) != 0)
	{
		error_jump = NULL;
		return false;
	}
	error_jump = &jump;
	*result = f(fcinfo);
	error_jump = NULL;
	if (fcinfo->isnull)
		abort();				/* the I/O functions never return NULL */
	return true;
}

/* ---- text and encoding -------------------------------------------------------- */

int
pg_mblen(const char *mbstr)
{
	return pg_utf_mblen((const unsigned char *) mbstr);
}

int
pg_mbstrlen_with_len(const char *mbstr, int limit)
{
	int			len = 0;

	while (limit > 0 && *mbstr)
	{
		int			l = pg_mblen(mbstr);

		limit -= l;
		mbstr += l;
		len++;
	}
	return len;
}

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *t = palloc(len + VARHDRSZ);

	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return t;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

char *
text_to_cstring(const text *t)
{
	return pnstrdup(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	return datum;				/* the harness passes plain 4-byte-header values */
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	return datum;
}

/* ---- StringInfo and pqformat (bounds-checked like the server's) --------------- */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0 || ((Size) needed) >= (MaxAllocSize - (Size) str->len))
		abort();
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
pq_begintypsend(StringInfo buf)
{
	initStringInfo(buf);
	appendBinaryStringInfo(buf, "\0\0\0\0", 4);
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

void
pq_sendtext(StringInfo buf, const char *str, int slen)
{
	appendBinaryStringInfo(buf, str, slen);	/* UTF-8 server and client */
}

int
pq_getmsgbyte(StringInfo msg)
{
	if (msg->cursor >= msg->len)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("no data left in message")));
	return (unsigned char) msg->data[msg->cursor++];
}

int64
pq_getmsgint64(StringInfo msg)
{
	uint64		n = 0;

	if (msg->cursor < 0 || 8 > msg->len - msg->cursor)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("insufficient data left in message")));
	for (int i = 0; i < 8; i++)
		n = (n << 8) | (unsigned char) msg->data[msg->cursor++];
	return (int64) n;
}

char *
pq_getmsgtext(StringInfo msg, int rawbytes, int *nbytes)
{
	char	   *p;

	if (rawbytes < 0 || rawbytes > (msg->len - msg->cursor))
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION), errmsg("insufficient data left in message")));
	p = pnstrdup(&msg->data[msg->cursor], rawbytes);
	msg->cursor += rawbytes;
	*nbytes = strlen(p);
	return p;
}

/* ---- never on an I/O path: loud if reached ------------------------------------ */

#define UNREACHED(ret, name, args) \
	ret name args \
	{ \
		fprintf(stderr, "fuzz: %s reached from a type I/O function\n", #name); \
		abort(); \
	}
UNREACHED(Datum, DirectFunctionCall1Coll, (PGFunction func, Oid collation, Datum arg1))
UNREACHED(Datum, DirectFunctionCall2Coll, (PGFunction func, Oid collation, Datum arg1, Datum arg2))
UNREACHED(Datum, DirectFunctionCall3Coll, (PGFunction func, Oid collation, Datum arg1, Datum arg2, Datum arg3))
UNREACHED(Oid, get_namespace_oid, (const char *nspname, bool missing_ok))
UNREACHED(Oid, get_relname_relid, (const char *relname, Oid relnamespace))
UNREACHED(Datum, nextval_oid, (PG_FUNCTION_ARGS))
UNREACHED(Datum, int8_numeric, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_abs, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_cmp, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_div, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_in, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_int8, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_mul, (PG_FUNCTION_ARGS))
UNREACHED(Datum, numeric_round, (PG_FUNCTION_ARGS))
UNREACHED(bool, numeric_is_inf, (Numeric num))
UNREACHED(bool, numeric_is_nan, (Numeric num))
UNREACHED(char *, numeric_normalize, (Numeric num))
