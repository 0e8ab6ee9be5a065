/*
 * types.h — the C side of the identifier and quantity types (uscc,
 * licence_no, trace_code, qty) for the other C files of the extension: the
 * in-memory representations, Datum conversions and the helpers that parse,
 * print and do arithmetic with the same checks the SQL functions make.
 * docs/types.md describes the formats.
 */
#ifndef SHILIAN_TYPES_H
#define SHILIAN_TYPES_H

#include "postgres.h"

#include "fmgr.h"

/* ---- uscc: 18-character unified social credit code (GB 32100-2015) ------ */

/*
 * Fixed 12 bytes, passed by reference: the 18 characters as their values
 * 0..30 in 5 bits each, six characters per word, most significant first, so
 * comparing the words in order sorts like the canonical text.
 */
typedef struct Uscc
{
	uint32		w[3];
} Uscc;

#define DatumGetUsccP(d)		((Uscc *) DatumGetPointer(d))
#define UsccPGetDatum(p)		PointerGetDatum(p)
#define PG_GETARG_USCC_P(n)		DatumGetUsccP(PG_GETARG_DATUM(n))
#define PG_RETURN_USCC_P(p)		return UsccPGetDatum(p)

/* Parse (trim, upper-case, check) as uscc input does; ereport 22P02 if bad. */
extern Uscc *UsccFromCString(const char *str);
/* The canonical 18-character text, palloc'd. */
extern char *UsccToCString(const Uscc *u);
extern int	UsccCompare(const Uscc *a, const Uscc *b);

/* ---- licence_no: SC/JY licence or registration card number -------------- */

/*
 * int64, passed by value: kind * 10^14 + the 14 digits after the prefix,
 * with kinds numbered in the alphabetical order of their prefixes so that
 * integer order is text order.
 */
typedef int64 LicenseNo;

#define DatumGetLicenseNo(d)		DatumGetInt64(d)
#define LicenseNoGetDatum(x)		Int64GetDatum(x)
#define PG_GETARG_LICENSE_NO(n)		DatumGetLicenseNo(PG_GETARG_DATUM(n))
#define PG_RETURN_LICENSE_NO(x)		return LicenseNoGetDatum(x)

/* Parse as licence_no input does (honours shilian.licence_strict). */
extern LicenseNo LicenseNoFromCString(const char *str);
/* The canonical text (prefix + 14 digits), palloc'd. */
extern char *LicenseNoToCString(LicenseNo l);
/* The prefix ("SC", "JY", …) of a licence number. */
extern const char *LicenseNoKind(LicenseNo l);

/* ---- trace_code: 18-digit batch code ----------------------------------- */

/*
 * int64, passed by value: the 18-digit number itself (6-digit GB/T 2260
 * region, 11-digit serial, Damm check digit).
 */
typedef int64 TraceCode;

#define TRACE_CODE_DIGITS		18
#define TRACE_CODE_SERIAL_MAX	INT64CONST(99999999999)	/* 11 digits */

#define DatumGetTraceCode(d)		DatumGetInt64(d)
#define TraceCodeGetDatum(x)		Int64GetDatum(x)
#define PG_GETARG_TRACE_CODE(n)		DatumGetTraceCode(PG_GETARG_DATUM(n))
#define PG_RETURN_TRACE_CODE(x)		return TraceCodeGetDatum(x)

/* Parse as trace_code input does; ereport 22P02 if bad. */
extern TraceCode TraceCodeFromCString(const char *str);
/* The 18-digit text, palloc'd. */
extern char *TraceCodeToCString(TraceCode t);
/*
 * The code for a 6-digit region and a serial (0..TRACE_CODE_SERIAL_MAX),
 * check digit added; ereport 22023 if either is out of range.
 */
extern TraceCode TraceCodeMake(const char *region, int64 serial);
/* The 6-digit region (GB/T 2260 code of the issuing jurisdiction), palloc'd. */
extern char *TraceCodeRegion(TraceCode t);

/* ---- qty: an exact quantity with a unit -------------------------------- */

/*
 * int64, passed by value: the amount in thousandths of the base unit (mg,
 * µL, 1/1000 piece) shifted left by 2, with the dimension in the low 2 bits.
 * Within a dimension integer order is amount order. |amount| must stay below
 * QTY_LIMIT thousandths (10^15 base units: 10^9 t, 10^12 L, 10^15 pcs).
 */
typedef int64 Qty;

typedef enum QtyDimension
{
	QTY_MASS = 0,				/* base unit g */
	QTY_VOLUME = 1,				/* base unit mL */
	QTY_COUNT = 2				/* base unit pcs */
} QtyDimension;

#define QTY_LIMIT				INT64CONST(1000000000000000000)	/* exclusive, in thousandths */

#define DatumGetQty(d)			DatumGetInt64(d)
#define QtyGetDatum(x)			Int64GetDatum(x)
#define PG_GETARG_QTY(n)		DatumGetQty(PG_GETARG_DATUM(n))
#define PG_RETURN_QTY(x)		return QtyGetDatum(x)

static inline QtyDimension
QtyGetDimension(Qty q)
{
	return (QtyDimension) (q & 3);
}

/* The amount in thousandths of the base unit. */
static inline int64
QtyMilli(Qty q)
{
	return q >> 2;				/* arithmetic shift: gcc/clang on every platform PG supports */
}

/* "mass", "volume" or "count". */
extern const char *QtyDimensionName(QtyDimension d);
/* A quantity from thousandths of the base unit; ereport 22003 if out of range. */
extern Qty	QtyFromMilli(QtyDimension d, int64 milli);
extern Qty	QtyZero(QtyDimension d);
extern bool QtySameDimension(Qty a, Qty b);
/* -1, 0, 1; ereport 22023 if the dimensions differ. */
extern int	QtyCompare(Qty a, Qty b);
/* -1, 0, 1 by (dimension, amount): the btree order, never raises. */
extern int	QtyCompareTotal(Qty a, Qty b);
/* ereport 22023 if the dimensions differ, 22003 on overflow. */
extern Qty	QtyAdd(Qty a, Qty b);
extern Qty	QtySub(Qty a, Qty b);
/* Parse as qty input does; ereport 22P02 if bad. */
extern Qty	QtyFromCString(const char *str);
/* The output text ("12.5 kg"), palloc'd. */
extern char *QtyToCString(Qty q);

/* ---- helpers shared by the input functions (literal.c) ------------------ */

/* Skip ASCII white space at both ends; *len gets the trimmed length in bytes. */
extern const char *LiteralTrim(const char *str, int *len);
/* Number of characters (not bytes) in s[0..len). */
extern int	LiteralCharCount(const char *s, int len);
/* 1-based character position of the byte at s + bytepos. */
extern int	LiteralCharPos(const char *s, int bytepos);
/* A palloc'd copy of the (possibly multibyte) character at s + bytepos. */
extern char *LiteralCharAt(const char *s, int bytepos);

#endif
