/*
 * gs1.c — GS1 keys for batches that carry a GTIN: the GS1 mod 10 check
 * digit, and GS1 Digital Link URIs (https://id.gs1.org/01/<GTIN-14>/10/<lot>)
 * built and parsed with the GTIN and lot validated.
 */
#include "shilian.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "checkchar.h"
#include "types.h"
#include "canon.h"

#define GS1_LOT_MAX 20

/* A GTIN-8/12/13/14 with a correct check digit, as GTIN-14; ereport 22P02 otherwise. */
static void
GtinNormalise(const char *s, int len, const char *shown, char out[15])
{
	for (int i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character at position %d for GTIN: \"%s\"", LiteralCharPos(s, i), shown),
					 errdetail("\"%s\" is not a digit.", LiteralCharAt(s, i))));
	if (len != 8 && len != 12 && len != 13 && len != 14)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid length for GTIN: \"%s\"", shown),
				 errdetail("A GTIN has 8, 12, 13 or 14 digits; this one has %d.", len)));
	if (!sl_gs1_valid(s, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid check digit for GTIN: \"%s\", should be %c", shown, sl_gs1_check_digit(s, len - 1))));
	memset(out, '0', 14 - len);
	memcpy(out + 14 - len, s, len);
	out[14] = '\0';
}

/* The 82 characters GS1 allows in a lot (GS1 General Specifications, figure 7.11-1). */
static bool
IsCset82(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		(c != 0 && strchr("!\"%&'()*+,-./:;<=>?_", c) != NULL);
}

static void
LotCheck(const char *lot, int len, const char *shown)
{
	int			nchars = LiteralCharCount(lot, len);

	if (nchars < 1 || nchars > GS1_LOT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid length for GS1 lot: \"%s\"", shown),
				 errdetail("A lot (AI 10) has 1 to 20 characters; this one has %d.", nchars)));
	for (int i = 0; i < len; i++)
		if (!IsCset82((unsigned char) lot[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character at position %d for GS1 lot: \"%s\"", LiteralCharPos(lot, i), shown),
					 errdetail("\"%s\" is not in GS1 character set 82 (letters, digits and !\"%%&'()*+,-./:;<=>?_).",
							   LiteralCharAt(lot, i))));
}

static bool
IsUnreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '.' || c == '_' || c == '~';
}


/*
 * Percent-decode a path segment (RFC 3986); NULL if an escape is malformed,
 * decodes to NUL, or the result is not valid text in the database encoding.
 */
static char *
PercentDecode(const char *s)
{
	int			len = strlen(s);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < len; i++)
	{
		if (s[i] == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= len)
				return NULL;
			hi = sl_hex_value(s[i + 1]);
			lo = hi < 0 ? -1 : sl_hex_value(s[i + 2]);
			if (lo < 0 || (hi == 0 && lo == 0))
				return NULL;
			appendStringInfoChar(&buf, (char) (hi * 16 + lo));
			i += 2;
		}
		else
			appendStringInfoChar(&buf, s[i]);
	}
	if (!pg_verifymbstr(buf.data, buf.len, true))
		return NULL;
	return buf.data;
}

/* gtin_check_ok(text) → true iff a GTIN-8/12/13/14 with a correct GS1 check digit. */
PG_FUNCTION_INFO_V1(gtin_check_ok);
Datum
gtin_check_ok(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);

	PG_RETURN_BOOL((len == 8 || len == 12 || len == 13 || len == 14) &&
				   (int) strspn(text_to_cstring(t), "0123456789") == len && sl_gs1_valid(s, len));
}

/* gs1_check_ok(text) → true iff all digits (2 or more) and the last is the GS1 mod 10 check digit. */
PG_FUNCTION_INFO_V1(gs1_check_ok);
Datum
gs1_check_ok(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(sl_gs1_valid(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* gs1_digital_link(gtin text, lot text) → https://id.gs1.org/01/<GTIN-14>[/10/<lot>]. */
PG_FUNCTION_INFO_V1(gs1_digital_link);
Datum
gs1_digital_link(PG_FUNCTION_ARGS)
{
	char	   *gtin;
	char		gtin14[15];
	int			len;
	const char *s;
	StringInfoData buf;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	gtin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	s = LiteralTrim(gtin, &len);
	GtinNormalise(s, len, gtin, gtin14);

	initStringInfo(&buf);
	appendStringInfo(&buf, "https://id.gs1.org/01/%s", gtin14);
	if (!PG_ARGISNULL(1))
	{
		char	   *lot = text_to_cstring(PG_GETARG_TEXT_PP(1));
		int			lotlen = strlen(lot);

		LotCheck(lot, lotlen, lot);
		appendStringInfoString(&buf, "/10/");
		for (int i = 0; i < lotlen; i++)
		{
			unsigned char c = (unsigned char) lot[i];

			if (IsUnreserved(c))
				appendStringInfoChar(&buf, (char) c);
			else
				appendStringInfo(&buf, "%%%02X", c);
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

static void
BadLink(const char *uri, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid GS1 Digital Link URI: \"%s\"", uri),
			 errdetail("%s", why),
			 errhint("The expected form is https://<host>[/<prefix>]/01/<GTIN>[/22/<variant>][/10/<lot>][/21/<serial>].")));
}

/*
 * gs1_parse_digital_link(uri) → (gtin, lot): the GTIN-14 and the lot (NULL
 * if the link has none) of an uncompressed GS1 Digital Link URI on any host.
 */
PG_FUNCTION_INFO_V1(gs1_parse_digital_link);
Datum
gs1_parse_digital_link(PG_FUNCTION_ARGS)
{
	char	   *uri = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			len;
	const char *s = LiteralTrim(uri, &len);
	const char *end;
	const char *p;
	char	   *path;
	char	   *segs[64];
	int			nseg = 0;
	int			i;
	char		gtin14[15];
	char	   *lot = NULL;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (len >= 8 && pg_strncasecmp(s, "https://", 8) == 0)
		p = s + 8;
	else if (len >= 7 && pg_strncasecmp(s, "http://", 7) == 0)
		p = s + 7;
	else
		BadLink(uri, "The URI does not start with https:// or http://.");
	end = s + len;
	/* the query and fragment carry attributes, not the key */
	for (const char *q = p; q < end; q++)
		if (*q == '?' || *q == '#')
		{
			end = q;
			break;
		}
	{
		const char *slash = memchr(p, '/', end - p);

		if (slash == NULL || slash == p)
			BadLink(uri, "The URI has no host or no path.");
		path = pnstrdup(slash + 1, end - slash - 1);
	}
	for (char *tok = path;;)
	{
		char	   *sl = strchr(tok, '/');

		if (nseg == lengthof(segs))
			BadLink(uri, "The path has too many segments.");
		segs[nseg++] = tok;
		if (sl == NULL)
			break;
		*sl = '\0';
		tok = sl + 1;
	}
	for (i = 0; i < nseg; i++)
		if (strcmp(segs[i], "01") == 0 || strcmp(segs[i], "gtin") == 0)
			break;
	if (i + 1 >= nseg)
		BadLink(uri, "The path has no GTIN (01/<GTIN>).");
	{
		char	   *g = PercentDecode(segs[i + 1]);

		if (g == NULL)
			BadLink(uri, "A percent escape is malformed or decodes to invalid text.");
		GtinNormalise(g, strlen(g), g, gtin14);
	}
	i += 2;
	/* key qualifiers in the order GS1 Digital Link fixes: 22, 10, 21 */
	if (i + 1 < nseg && strcmp(segs[i], "22") == 0)
		i += 2;
	if (i + 1 < nseg && (strcmp(segs[i], "10") == 0 || strcmp(segs[i], "lot") == 0))
	{
		lot = PercentDecode(segs[i + 1]);
		if (lot == NULL)
			BadLink(uri, "A percent escape is malformed or decodes to invalid text.");
		LotCheck(lot, strlen(lot), lot);
		i += 2;
	}
	if (i + 1 < nseg && strcmp(segs[i], "21") == 0)
		i += 2;
	if (i < nseg && !(i == nseg - 1 && segs[i][0] == '\0'))
		BadLink(uri, psprintf("Unexpected path segment \"%s\" after the GTIN.", segs[i]));

	values[0] = CStringGetTextDatum(gtin14);
	if (lot)
		values[1] = CStringGetTextDatum(lot);
	else
		nulls[1] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
