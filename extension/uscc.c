/*
 * uscc.c — the uscc type: the 18-character unified social credit code of
 * GB 32100-2015, stored in 12 bytes (5 bits a character), checked on input
 * with the MOD 31 check character of extension/core/checkchar.c.
 */
#include "shilian.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "checkchar.h"
#include "types.h"

#define USCC_SEND_VERSION 1

/* Parse str into the 18 character values; ereport 22P02 naming the failed rule. */
static void
UsccParse(const char *str, int values[SL_USCC_LEN], bool lenient)
{
	int			len;
	const char *s = LiteralTrim(str, &len);
	int			nchars = LiteralCharCount(s, len);
	char		canon[SL_USCC_LEN + 1];
	char		expected;

	if (nchars != SL_USCC_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid length for uscc: \"%s\"", str),
				 errdetail("A unified social credit code has 18 characters; this one has %d.", nchars)));

	/* 18 characters: any multibyte one is found (and refused) below before overrunning */
	for (int i = 0; i < SL_USCC_LEN; i++)
	{
		unsigned char c = (unsigned char) s[i];
		bool		division = (i >= 2 && i < 8);

		if (c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		values[i] = sl_uscc_char_value(c);
		if (division && !(c >= '0' && c <= '9'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character at position %d for uscc: \"%s\"", i + 1, str),
					 errdetail("Positions 3 to 8 are the division code of the registering authority and must be digits, not \"%s\".",
							   LiteralCharAt(s, i))));
		/* a check character outside the set: name the one expected if the body is valid */
		if (values[i] < 0 && i == SL_USCC_LEN - 1)
		{
			canon[i] = '\0';
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid check character for uscc: \"%s\", should be %c", str, sl_uscc_check_char(canon)),
					 errdetail("\"%s\" at position 18 is not in the character set of the code: 0-9 A-H J-N P-R T U W-Y (no I, O, S, V or Z).",
							   LiteralCharAt(s, i))));
		}
		if (values[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character at position %d for uscc: \"%s\"", i + 1, str),
					 errdetail("\"%s\" is not in the character set of the code: 0-9 A-H J-N P-R T U W-Y (no I, O, S, V or Z).",
							   LiteralCharAt(s, i))));
		canon[i] = (char) c;
	}
	canon[SL_USCC_LEN] = '\0';

	expected = sl_uscc_check_char(canon);
	if (expected != canon[SL_USCC_LEN - 1] && !lenient)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid check character for uscc: \"%s\", should be %c", str, expected),
				 errhint("Check the code against the certificate; set shilian.uscc_lenient to accept codes that fail only the check character.")));
}

static Uscc *
UsccFromValues(const int values[SL_USCC_LEN])
{
	Uscc	   *u = palloc0(sizeof(Uscc));

	for (int i = 0; i < SL_USCC_LEN; i++)
		u->w[i / 6] |= (uint32) values[i] << (5 * (5 - i % 6));
	return u;
}

Uscc *
UsccFromCString(const char *str)
{
	int			values[SL_USCC_LEN];

	UsccParse(str, values, shilian_uscc_lenient);
	return UsccFromValues(values);
}

char *
UsccToCString(const Uscc *u)
{
	char	   *out = palloc(SL_USCC_LEN + 1);

	for (int i = 0; i < SL_USCC_LEN; i++)
		out[i] = sl_uscc_charset[(u->w[i / 6] >> (5 * (5 - i % 6))) & 31];
	out[SL_USCC_LEN] = '\0';
	return out;
}

int
UsccCompare(const Uscc *a, const Uscc *b)
{
	for (int i = 0; i < 3; i++)
		if (a->w[i] != b->w[i])
			return a->w[i] < b->w[i] ? -1 : 1;
	return 0;
}

/* uscc input: trimmed, upper-cased, every rule checked. */
PG_FUNCTION_INFO_V1(uscc_in);
Datum
uscc_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_USCC_P(UsccFromCString(PG_GETARG_CSTRING(0)));
}

/* uscc output: the canonical 18 characters. */
PG_FUNCTION_INFO_V1(uscc_out);
Datum
uscc_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(UsccToCString(PG_GETARG_USCC_P(0)));
}

/* uscc binary input: version byte 1, then the 18 characters; every input check re-run. */
PG_FUNCTION_INFO_V1(uscc_recv);
Datum
uscc_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgbyte(buf);
	char	   *str;
	int			nbytes;

	if (version != USCC_SEND_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported uscc binary format version %d", version),
				 errdetail("This library reads version %d.", USCC_SEND_VERSION)));
	str = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_USCC_P(UsccFromCString(str));
}

/* uscc binary output: version byte 1, then the 18 characters. */
PG_FUNCTION_INFO_V1(uscc_send);
Datum
uscc_send(PG_FUNCTION_ARGS)
{
	Uscc	   *u = PG_GETARG_USCC_P(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, USCC_SEND_VERSION);
	pq_sendtext(&buf, UsccToCString(u), SL_USCC_LEN);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* btree support: -1, 0, 1 in canonical text order. */
PG_FUNCTION_INFO_V1(uscc_cmp);
Datum
uscc_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(UsccCompare(PG_GETARG_USCC_P(0), PG_GETARG_USCC_P(1)));
}

#define USCC_CMP_FN(name, op) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		PG_RETURN_BOOL(UsccCompare(PG_GETARG_USCC_P(0), PG_GETARG_USCC_P(1)) op 0); \
	}

/* The six comparison operators' functions. */
USCC_CMP_FN(uscc_eq, ==)
USCC_CMP_FN(uscc_ne, !=)
USCC_CMP_FN(uscc_lt, <)
USCC_CMP_FN(uscc_le, <=)
USCC_CMP_FN(uscc_gt, >)
USCC_CMP_FN(uscc_ge, >=)

/* hash support: hash of the 12 stored bytes. */
PG_FUNCTION_INFO_V1(uscc_hash);
Datum
uscc_hash(PG_FUNCTION_ARGS)
{
	return hash_any((const unsigned char *) PG_GETARG_USCC_P(0), sizeof(Uscc));
}

/* hash support (64-bit, seeded). */
PG_FUNCTION_INFO_V1(uscc_hash_extended);
Datum
uscc_hash_extended(PG_FUNCTION_ARGS)
{
	return hash_any_extended((const unsigned char *) PG_GETARG_USCC_P(0), sizeof(Uscc),
							 PG_GETARG_INT64(1));
}

/* uscc_division(uscc) → the 6-digit division code, positions 3-8. */
PG_FUNCTION_INFO_V1(uscc_division);
Datum
uscc_division(PG_FUNCTION_ARGS)
{
	char	   *s = UsccToCString(PG_GETARG_USCC_P(0));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s + 2, 6));
}

/* uscc_category(uscc) → registration authority and organisation category, positions 1-2. */
PG_FUNCTION_INFO_V1(uscc_category);
Datum
uscc_category(PG_FUNCTION_ARGS)
{
	char	   *s = UsccToCString(PG_GETARG_USCC_P(0));

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s, 2));
}

/* uscc_is_strict(uscc) → whether the check character is right (false only for lenient input). */
PG_FUNCTION_INFO_V1(uscc_is_strict);
Datum
uscc_is_strict(PG_FUNCTION_ARGS)
{
	char	   *s = UsccToCString(PG_GETARG_USCC_P(0));

	PG_RETURN_BOOL(sl_uscc_check_char(s) == s[SL_USCC_LEN - 1]);
}
