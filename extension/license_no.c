/*
 * license_no.c — the license_no type: food production licence (SC), food
 * business licence (JY) and provincial registration card numbers (prefix
 * table below), stored as one int64, with the ISO/IEC 7064 MOD 11,10 check
 * digit reported (or, with shilian.license_strict, enforced).
 */
#include "shilian.h"

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"

#include "checkchar.h"
#include "types.h"

#define LICENSE_SEND_VERSION 1
#define LICENSE_DIGITS 14
#define LICENSE_KIND_BASE INT64CONST(100000000000000)	/* 10^14 */

/*
 * The prefix table, in alphabetical order of prefix so that the stored
 * integer (kind · 10^14 + digits) sorts like the text. Kind numbers are
 * stored: append new prefixes only where the order stays alphabetical, and
 * never renumber (docs/types.md lists the table).
 */
typedef struct LicenseKindInfo
{
	const char *prefix;
	/* length of the category field after the prefix (0: none) */
	int			category_len;
	/* offset and length of the region field in the 14 digits */
	int			region_off;
	/* the allowed values of the first digit, or NULL if any */
	const char *first_digits;
	const char *first_digit_rule;
} LicenseKindInfo;

static const LicenseKindInfo license_kinds[] = {
	{NULL, 0, 0, NULL, NULL},	/* 0: never stored */
	/* JY + business type (1 sales, 2 catering, 3 unit canteen) + 6 region + 6 sequence + check */
	{"JY", 1, 1, "123", "The digit after JY is the business type: 1 (sales), 2 (catering) or 3 (unit canteen)."},
	/* SC + kind (1 food, 2 additive) + 2 category + 6 region + 4 sequence + check */
	{"SC", 3, 3, "12", "The digit after SC is the kind: 1 (food) or 2 (food additive)."},
	/* registration cards: prefix + 6 region + 7 sequence + check */
	{"TF", 0, 0, NULL, NULL},	/* 食品摊贩登记卡: food vendor card */
	{"XCY", 0, 0, NULL, NULL},	/* 小餐饮登记证: small catering registration */
	{"XZF", 0, 0, NULL, NULL},	/* 食品小作坊登记证: food workshop registration */
};

#define LICENSE_NKINDS ((int) lengthof(license_kinds))

static int
LicenseKindOf(LicenseNo l)
{
	return (int) (l / LICENSE_KIND_BASE);
}

static void
LicenseDigits(LicenseNo l, char out[LICENSE_DIGITS + 1])
{
	snprintf(out, LICENSE_DIGITS + 1, "%014lld", (long long) (l % LICENSE_KIND_BASE));
}

/* Parse and check str; ereport 22P02 naming the failed rule. */
static LicenseNo
LicenseParse(const char *str, bool strict)
{
	int			len;
	const char *s = LiteralTrim(str, &len);
	int			kind = 0;
	int			plen = 0;
	int			nchars;
	const LicenseKindInfo *k;
	int64		digits = 0;
	char		expected;

	for (int i = 1; i < LICENSE_NKINDS; i++)
	{
		int			n = strlen(license_kinds[i].prefix);

		if (len >= n && pg_strncasecmp(s, license_kinds[i].prefix, n) == 0)
		{
			kind = i;
			plen = n;
			break;
		}
	}
	if (kind == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid prefix for licence_no: \"%s\"", str),
				 errdetail("A licence number starts with SC (food production), JY (food business) or a registration card prefix (TF, XCY, XZF).")));
	k = &license_kinds[kind];

	nchars = LiteralCharCount(s + plen, len - plen);
	if (nchars != LICENSE_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid length for licence_no: \"%s\"", str),
				 errdetail("A %s number has 14 digits after the prefix; this one has %d characters.",
						   k->prefix, nchars)));

	for (int i = 0; i < LICENSE_DIGITS; i++)
	{
		char		c = s[plen + i];

		if (c < '0' || c > '9')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid character at position %d for licence_no: \"%s\"", plen + i + 1, str),
					 errdetail("\"%s\" is not a digit; the prefix is followed by 14 digits.",
							   LiteralCharAt(s, plen + i))));
		digits = digits * 10 + (c - '0');
	}

	if (k->first_digits && strchr(k->first_digits, s[plen]) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid character at position %d for licence_no: \"%s\"", plen + 1, str),
				 errdetail("%s", k->first_digit_rule)));

	expected = sl_mod11_10_check_digit(s + plen, LICENSE_DIGITS - 1);
	if (strict && expected != s[plen + LICENSE_DIGITS - 1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid check digit for licence_no: \"%s\", should be %c", str, expected),
				 errhint("No official algorithm is published; shilian.licence_strict = off accepts the number and licence_check_ok() reports the mismatch.")));

	return kind * LICENSE_KIND_BASE + digits;
}

LicenseNo
LicenseNoFromCString(const char *str)
{
	return LicenseParse(str, shilian_licence_strict || shilian_license_strict_deprecated);
}

char *
LicenseNoToCString(LicenseNo l)
{
	char		digits[LICENSE_DIGITS + 1];

	LicenseDigits(l, digits);
	return psprintf("%s%s", LicenseNoKind(l), digits);
}

const char *
LicenseNoKind(LicenseNo l)
{
	int			kind = LicenseKindOf(l);

	if (kind <= 0 || kind >= LICENSE_NKINDS)
		elog(ERROR, "corrupt licence_no value " INT64_FORMAT, l);
	return license_kinds[kind].prefix;
}

/* license_no input: trimmed, prefix upper-cased, every rule checked. */
PG_FUNCTION_INFO_V1(license_no_in);
Datum
license_no_in(PG_FUNCTION_ARGS)
{
	PG_RETURN_LICENSE_NO(LicenseNoFromCString(PG_GETARG_CSTRING(0)));
}

/* license_no output: prefix + 14 digits. */
PG_FUNCTION_INFO_V1(license_no_out);
Datum
license_no_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(LicenseNoToCString(PG_GETARG_LICENSE_NO(0)));
}

/* license_no binary input: version byte 1, then the text; every input check re-run. */
PG_FUNCTION_INFO_V1(license_no_recv);
Datum
license_no_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgbyte(buf);
	int			nbytes;

	if (version != LICENSE_SEND_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported licence_no binary format version %d", version),
				 errdetail("This library reads version %d.", LICENSE_SEND_VERSION)));
	PG_RETURN_LICENSE_NO(LicenseNoFromCString(pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes)));
}

/* license_no binary output: version byte 1, then the text (the kind numbers stay internal). */
PG_FUNCTION_INFO_V1(license_no_send);
Datum
license_no_send(PG_FUNCTION_ARGS)
{
	char	   *s = LicenseNoToCString(PG_GETARG_LICENSE_NO(0));
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, LICENSE_SEND_VERSION);
	pq_sendtext(&buf, s, strlen(s));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* license_kind(license_no) → the prefix: SC, JY, or a registration card prefix. */
PG_FUNCTION_INFO_V1(license_kind);
Datum
license_kind(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(LicenseNoKind(PG_GETARG_LICENSE_NO(0))));
}

/* license_category(license_no) → SC: kind + food category (3 digits); JY: business type; cards: NULL. */
PG_FUNCTION_INFO_V1(license_category);
Datum
license_category(PG_FUNCTION_ARGS)
{
	LicenseNo	l = PG_GETARG_LICENSE_NO(0);
	const LicenseKindInfo *k;
	char		digits[LICENSE_DIGITS + 1];

	LicenseNoKind(l);			/* checks the kind */
	k = &license_kinds[LicenseKindOf(l)];
	if (k->category_len == 0)
		PG_RETURN_NULL();
	LicenseDigits(l, digits);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(digits, k->category_len));
}

/* license_region(license_no) → the 6-digit region field (not always a GB/T 2260 code). */
PG_FUNCTION_INFO_V1(license_region);
Datum
license_region(PG_FUNCTION_ARGS)
{
	LicenseNo	l = PG_GETARG_LICENSE_NO(0);
	char		digits[LICENSE_DIGITS + 1];

	LicenseNoKind(l);
	LicenseDigits(l, digits);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(digits + license_kinds[LicenseKindOf(l)].region_off, 6));
}

/* license_check_ok(license_no) → whether the last digit is the ISO/IEC 7064 MOD 11,10 check digit. */
PG_FUNCTION_INFO_V1(license_check_ok);
Datum
license_check_ok(PG_FUNCTION_ARGS)
{
	char		digits[LICENSE_DIGITS + 1];

	LicenseDigits(PG_GETARG_LICENSE_NO(0), digits);
	PG_RETURN_BOOL(sl_mod11_10_check_digit(digits, LICENSE_DIGITS - 1) == digits[LICENSE_DIGITS - 1]);
}
