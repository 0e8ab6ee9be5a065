/*
 * qty.c — the qty type: an exact quantity with a unit (mass, volume or
 * count), stored in 8 bytes as thousandths of the base unit (g, mL, pcs)
 * with the dimension in the low 2 bits. Arithmetic and aggregates are exact
 * integer operations that refuse to mix dimensions or overflow; comparison
 * is a total order (dimension, then amount) so that sorting never fails.
 */
#include "shilian.h"

#include "common/int.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "types.h"

#define QTY_SEND_VERSION 1

/*
 * The units: a unit is m · 10^k thousandths of its base unit (m is 1 or 5,
 * 斤 = 500 g being the only 5). ASCII names match case-insensitively.
 */
typedef struct QtyUnit
{
	const char *name;
	QtyDimension dim;
	int			m;
	int			k;
} QtyUnit;

static const QtyUnit qty_units[] = {
	{"g", QTY_MASS, 1, 3},
	{"kg", QTY_MASS, 1, 6},
	{"t", QTY_MASS, 1, 9},
	{"斤", QTY_MASS, 5, 5},
	{"克", QTY_MASS, 1, 3},
	{"千克", QTY_MASS, 1, 6},
	{"公斤", QTY_MASS, 1, 6},
	{"吨", QTY_MASS, 1, 9},
	{"mL", QTY_VOLUME, 1, 3},
	{"L", QTY_VOLUME, 1, 6},
	{"毫升", QTY_VOLUME, 1, 3},
	{"升", QTY_VOLUME, 1, 6},
	{"pcs", QTY_COUNT, 1, 3},
	{"pc", QTY_COUNT, 1, 3},
	{"件", QTY_COUNT, 1, 3},
	{"个", QTY_COUNT, 1, 3},
};

static const char *const qty_dimension_names[] = {"mass", "volume", "count"};

#define QTY_UNITS_HINT "Units: g, kg, t, 斤 (500 g), mL, L, pcs (also 克, 千克, 公斤, 吨, 毫升, 升, 件, 个)."

static const int64 pow10_tab[] = {
	INT64CONST(1), INT64CONST(10), INT64CONST(100), INT64CONST(1000), INT64CONST(10000),
	INT64CONST(100000), INT64CONST(1000000), INT64CONST(10000000), INT64CONST(100000000),
	INT64CONST(1000000000), INT64CONST(10000000000), INT64CONST(100000000000),
};

static const QtyUnit *
QtyUnitLookup(const char *name, int len)
{
	for (int i = 0; i < (int) lengthof(qty_units); i++)
		if ((int) strlen(qty_units[i].name) == len && pg_strncasecmp(name, qty_units[i].name, len) == 0)
			return &qty_units[i];
	return NULL;
}

static const QtyUnit *
QtyUnitByName(const char *name, int errcode_)
{
	int			len;
	const char *s = LiteralTrim(name, &len);
	const QtyUnit *u = QtyUnitLookup(s, len);

	if (u == NULL)
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("unknown unit \"%s\" for qty", name),
				 errhint(QTY_UNITS_HINT)));
	return u;
}

const char *
QtyDimensionName(QtyDimension d)
{
	if ((int) d < 0 || (int) d > QTY_COUNT)
		elog(ERROR, "corrupt qty dimension %d", (int) d);
	return qty_dimension_names[d];
}

static void
QtyRangeError(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("qty out of range"),
			 errdetail("A quantity stays below 10^15 base units: 10^9 t, 10^12 L or 10^15 pcs.")));
}

Qty
QtyFromMilli(QtyDimension d, int64 milli)
{
	if (milli <= -QTY_LIMIT || milli >= QTY_LIMIT)
		QtyRangeError();
	return (Qty) (((uint64) milli << 2) | (uint64) d);
}

Qty
QtyZero(QtyDimension d)
{
	return QtyFromMilli(d, 0);
}

bool
QtySameDimension(Qty a, Qty b)
{
	return QtyGetDimension(a) == QtyGetDimension(b);
}

static void
QtyCheckDimensions(Qty a, Qty b, const char *what)
{
	if (!QtySameDimension(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot %s a %s and a %s", what,
						QtyDimensionName(QtyGetDimension(a)), QtyDimensionName(QtyGetDimension(b))),
				 errdetail("The quantities are \"%s\" and \"%s\".", QtyToCString(a), QtyToCString(b)),
				 errhint("Quantities of different dimensions (mass, volume, count) never mix; convert with qty_in() if a density or unit weight is known.")));
}

int
QtyCompare(Qty a, Qty b)
{
	QtyCheckDimensions(a, b, "compare");
	return a < b ? -1 : (a > b ? 1 : 0);
}

/*
 * The total order of the btree class: by dimension (mass < volume < count),
 * then by amount in the base unit. It never raises, so sorts, ANALYZE,
 * DISTINCT, merge joins and indexes work on a column that mixes units; the
 * business rules that must not mix dimensions call QtyCompare instead.
 */
int
QtyCompareTotal(Qty a, Qty b)
{
	QtyDimension da = QtyGetDimension(a);
	QtyDimension db = QtyGetDimension(b);
	int64		ma,
				mb;

	if (da != db)
		return da < db ? -1 : 1;
	ma = QtyMilli(a);
	mb = QtyMilli(b);
	return ma < mb ? -1 : (ma > mb ? 1 : 0);
}

Qty
QtyAdd(Qty a, Qty b)
{
	QtyCheckDimensions(a, b, "add");
	/* |milli| < 10^18 each, so the sum cannot overflow int64 */
	return QtyFromMilli(QtyGetDimension(a), QtyMilli(a) + QtyMilli(b));
}

Qty
QtySub(Qty a, Qty b)
{
	QtyCheckDimensions(a, b, "subtract");
	return QtyFromMilli(QtyGetDimension(a), QtyMilli(a) - QtyMilli(b));
}

/*
 * Parse "<decimal> <unit>" exactly. Syntax errors carry errcode_ (22P02 for
 * literals, 22023 for the constructor's arguments); range errors 22003.
 */
static Qty
QtyParse(const char *str, const char *unitname, int errcode_)
{
	int			len;
	const char *s = LiteralTrim(str, &len);
	const char *p = s;
	const char *end = s + len;
	bool		neg = false;
	int64		ip = 0;
	int64		fp = 0;
	int			idigits = 0;
	int			fdigits = 0;
	int			ndigits = 0;
	const QtyUnit *u;
	int64		milli;
	int64		frac;

	if (p < end && (*p == '+' || *p == '-'))
		neg = (*p++ == '-');
	while (p < end && *p == '0')
	{
		p++;
		ndigits++;
	}
	for (; p < end && *p >= '0' && *p <= '9'; p++, ndigits++)
	{
		/* more than 15 significant integer digits is ≥ 10^15 in any unit */
		if (++idigits > 15)
			QtyRangeError();
		ip = ip * 10 + (*p - '0');
	}
	if (p < end && *p == '.')
	{
		const char *fstart = ++p;
		const char *fend;

		while (p < end && *p >= '0' && *p <= '9')
			p++;
		ndigits += p - fstart;
		fend = p;
		while (fend > fstart && fend[-1] == '0')
			fend--;
		/* no unit has more than 10 exact decimals (10^9 · 5 thousandths) */
		if (fend - fstart > 10)
			ereport(ERROR,
					(errcode(errcode_),
					 errmsg("invalid precision for qty: \"%s\"", str),
					 errdetail("Quantities are exact to 0.001 g, 0.001 mL or 0.001 pcs.")));
		for (const char *q = fstart; q < fend; q++)
			fp = fp * 10 + (*q - '0');
		fdigits = fend - fstart;
	}
	if (ndigits == 0 || (p < end && (*p == '.' || *p == ',' || (*p >= '0' && *p <= '9'))))
		ereport(ERROR,
				(errcode(errcode_),
				 errmsg("invalid number at position %d for qty: \"%s\"", LiteralCharPos(s, p - s), str),
				 errdetail("A quantity is a decimal number (point, no thousands separators) and a unit, as in \"12.5 kg\".")));

	if (unitname)
		u = QtyUnitByName(unitname, errcode_);
	else
	{
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			ereport(ERROR,
					(errcode(errcode_),
					 errmsg("missing unit for qty: \"%s\"", str),
					 errhint(QTY_UNITS_HINT)));
		u = QtyUnitLookup(p, end - p);
		if (u == NULL)
			ereport(ERROR,
					(errcode(errcode_),
					 errmsg("invalid unit at position %d for qty: \"%s\"", LiteralCharPos(s, p - s), str),
					 errdetail("\"%s\" is not a known unit.", pnstrdup(p, end - p)),
					 errhint(QTY_UNITS_HINT)));
	}

	/* value = (ip + fp / 10^fdigits) · m · 10^k thousandths, exactly */
	if (fdigits > u->k)
	{
		int64		num = fp * u->m;
		int64		div = pow10_tab[fdigits - u->k];

		if (num % div != 0)
			ereport(ERROR,
					(errcode(errcode_),
					 errmsg("invalid precision for qty: \"%s\"", str),
					 errdetail("Quantities are exact to 0.001 g, 0.001 mL or 0.001 pcs; %s has more decimals than that.",
							   u->name)));
		frac = num / div;
	}
	else
		frac = fp * u->m * pow10_tab[u->k - fdigits];
	if (pg_mul_s64_overflow(ip, u->m * pow10_tab[u->k], &milli) ||
		pg_add_s64_overflow(milli, frac, &milli))
		QtyRangeError();
	return QtyFromMilli(u->dim, neg ? -milli : milli);
}

Qty
QtyFromCString(const char *str)
{
	return QtyParse(str, NULL, ERRCODE_INVALID_TEXT_REPRESENTATION);
}

/* milli / (m · 10^k) as exact decimal text with no trailing zeros. */
static char *
QtyFormatIn(int64 milli, const QtyUnit *u)
{
	uint64		a = milli < 0 ? (uint64) -milli : (uint64) milli;
	int			k = u->k;
	uint64		scale;
	uint64		ip,
				fp;
	char		fbuf[24];
	int			n;

	if (u->m == 5)
	{
		a *= 2;					/* x / (5 · 10^k) = 2x / 10^(k+1); a < 2 · 10^18 */
		k++;
	}
	scale = (uint64) pow10_tab[k];
	ip = a / scale;
	fp = a % scale;
	if (fp == 0)
		return psprintf("%s%llu", milli < 0 ? "-" : "", (unsigned long long) ip);
	snprintf(fbuf, sizeof(fbuf), "%0*llu", k, (unsigned long long) fp);
	n = strlen(fbuf);
	while (n > 0 && fbuf[n - 1] == '0')
		fbuf[--n] = '\0';
	return psprintf("%s%llu.%s", milli < 0 ? "-" : "", (unsigned long long) ip, fbuf);
}

/* The display unit: the largest of g/kg/t (mL/L) not above the amount. */
static const QtyUnit *
QtyDisplayUnit(Qty q)
{
	int64		milli = QtyMilli(q);
	uint64		a = milli < 0 ? (uint64) -milli : (uint64) milli;

	switch (QtyGetDimension(q))
	{
		case QTY_MASS:
			return a >= UINT64CONST(1000000000) ? &qty_units[2] :
				a >= UINT64CONST(1000000) ? &qty_units[1] : &qty_units[0];
		case QTY_VOLUME:
			return a >= UINT64CONST(1000000) ? &qty_units[9] : &qty_units[8];
		case QTY_COUNT:
			return &qty_units[12];
	}
	elog(ERROR, "corrupt qty value " INT64_FORMAT, q);
	return NULL;
}

char *
QtyToCString(Qty q)
{
	const QtyUnit *u = QtyDisplayUnit(q);

	return psprintf("%s %s", QtyFormatIn(QtyMilli(q), u), u->name);
}

/* qty input: "<decimal> <unit>", exact or refused. */
PG_FUNCTION_INFO_V1(qty_input);
Datum
qty_input(PG_FUNCTION_ARGS)
{
	PG_RETURN_QTY(QtyFromCString(PG_GETARG_CSTRING(0)));
}

/* qty output: exact decimal in the display unit. */
PG_FUNCTION_INFO_V1(qty_output);
Datum
qty_output(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(QtyToCString(PG_GETARG_QTY(0)));
}

/* qty binary input: version byte 1, dimension byte, int8 thousandths; checked. */
PG_FUNCTION_INFO_V1(qty_recv);
Datum
qty_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgbyte(buf);
	int			dim;
	int64		milli;

	if (version != QTY_SEND_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported qty binary format version %d", version),
				 errdetail("This library reads version %d.", QTY_SEND_VERSION)));
	dim = pq_getmsgbyte(buf);
	milli = pq_getmsgint64(buf);
	if (dim < QTY_MASS || dim > QTY_COUNT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid qty dimension %d in binary input", dim),
				 errdetail("Dimensions are 0 (mass), 1 (volume) and 2 (count).")));
	PG_RETURN_QTY(QtyFromMilli((QtyDimension) dim, milli));
}

/* qty binary output: version byte 1, dimension byte (0 mass, 1 volume, 2 count), int8 thousandths of g/mL/pcs. */
PG_FUNCTION_INFO_V1(qty_send);
Datum
qty_send(PG_FUNCTION_ARGS)
{
	Qty			q = PG_GETARG_QTY(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbyte(&buf, QTY_SEND_VERSION);
	pq_sendbyte(&buf, (int) QtyGetDimension(q));
	pq_sendint64(&buf, QtyMilli(q));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* qty(amount numeric, unit text): constructor, exact or refused. */
PG_FUNCTION_INFO_V1(qty_make);
Datum
qty_make(PG_FUNCTION_ARGS)
{
	Numeric		n = PG_GETARG_NUMERIC(0);
	char	   *unit = text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (numeric_is_nan(n) || numeric_is_inf(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("qty amount must be a finite number")));
	PG_RETURN_QTY(QtyParse(numeric_normalize(n), unit, ERRCODE_INVALID_PARAMETER_VALUE));
}

/* qty_in(qty, unit text) → the amount in that unit, exact. */
PG_FUNCTION_INFO_V1(qty_in_unit);
Datum
qty_in_unit(PG_FUNCTION_ARGS)
{
	Qty			q = PG_GETARG_QTY(0);
	char	   *unit = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const QtyUnit *u = QtyUnitByName(unit, ERRCODE_INVALID_PARAMETER_VALUE);

	if (u->dim != QtyGetDimension(q))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot express a %s in %s, a unit of %s",
						QtyDimensionName(QtyGetDimension(q)), u->name, QtyDimensionName(u->dim)),
				 errdetail("The quantity is \"%s\".", QtyToCString(q))));
	PG_RETURN_DATUM(DirectFunctionCall3(numeric_in, CStringGetDatum(QtyFormatIn(QtyMilli(q), u)),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* qty_dimension(qty) → 'mass', 'volume' or 'count'. */
PG_FUNCTION_INFO_V1(qty_dimension);
Datum
qty_dimension(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(QtyDimensionName(QtyGetDimension(PG_GETARG_QTY(0)))));
}

/* qty + qty */
PG_FUNCTION_INFO_V1(qty_add);
Datum
qty_add(PG_FUNCTION_ARGS)
{
	PG_RETURN_QTY(QtyAdd(PG_GETARG_QTY(0), PG_GETARG_QTY(1)));
}

/* qty - qty */
PG_FUNCTION_INFO_V1(qty_sub);
Datum
qty_sub(PG_FUNCTION_ARGS)
{
	PG_RETURN_QTY(QtySub(PG_GETARG_QTY(0), PG_GETARG_QTY(1)));
}

/* - qty */
PG_FUNCTION_INFO_V1(qty_neg);
Datum
qty_neg(PG_FUNCTION_ARGS)
{
	Qty			q = PG_GETARG_QTY(0);

	PG_RETURN_QTY(QtyFromMilli(QtyGetDimension(q), -QtyMilli(q)));
}

/* thousandths · factor (or / divisor), rounded half away from zero to a thousandth. */
static Qty
QtyScale(Qty q, Numeric factor, bool divide)
{
	Datum		milli = DirectFunctionCall1(int8_numeric, Int64GetDatum(QtyMilli(q)));
	Datum		r;
	Datum		limit = DirectFunctionCall1(int8_numeric, Int64GetDatum(QTY_LIMIT));

	if (numeric_is_nan(factor) || numeric_is_inf(factor))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot scale a qty by %s", numeric_normalize(factor))));
	r = DirectFunctionCall2(divide ? numeric_div : numeric_mul, milli, NumericGetDatum(factor));
	r = DirectFunctionCall2(numeric_round, r, Int32GetDatum(0));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, DirectFunctionCall1(numeric_abs, r), limit)) >= 0)
		QtyRangeError();
	return QtyFromMilli(QtyGetDimension(q), DatumGetInt64(DirectFunctionCall1(numeric_int8, r)));
}

/* qty * numeric */
PG_FUNCTION_INFO_V1(qty_mul);
Datum
qty_mul(PG_FUNCTION_ARGS)
{
	PG_RETURN_QTY(QtyScale(PG_GETARG_QTY(0), PG_GETARG_NUMERIC(1), false));
}

/* numeric * qty */
PG_FUNCTION_INFO_V1(numeric_mul_qty);
Datum
numeric_mul_qty(PG_FUNCTION_ARGS)
{
	PG_RETURN_QTY(QtyScale(PG_GETARG_QTY(1), PG_GETARG_NUMERIC(0), false));
}

/* qty / numeric */
PG_FUNCTION_INFO_V1(qty_div);
Datum
qty_div(PG_FUNCTION_ARGS)
{
	PG_RETURN_QTY(QtyScale(PG_GETARG_QTY(0), PG_GETARG_NUMERIC(1), true));
}

/* qty / qty → numeric ratio (same dimension) */
PG_FUNCTION_INFO_V1(qty_ratio);
Datum
qty_ratio(PG_FUNCTION_ARGS)
{
	Qty			a = PG_GETARG_QTY(0);
	Qty			b = PG_GETARG_QTY(1);

	QtyCheckDimensions(a, b, "divide");
	PG_RETURN_DATUM(DirectFunctionCall2(numeric_div,
										DirectFunctionCall1(int8_numeric, Int64GetDatum(QtyMilli(a))),
										DirectFunctionCall1(int8_numeric, Int64GetDatum(QtyMilli(b)))));
}

/* btree support: -1, 0, 1 in the total order (dimension, then amount) */
PG_FUNCTION_INFO_V1(qty_cmp);
Datum
qty_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(QtyCompareTotal(PG_GETARG_QTY(0), PG_GETARG_QTY(1)));
}

#define QTY_CMP_FN(name, op) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		PG_RETURN_BOOL(QtyCompareTotal(PG_GETARG_QTY(0), PG_GETARG_QTY(1)) op 0); \
	}

/*
 * The six comparison operators' functions: the btree class's members, so
 * they follow its total order (a mass is below every volume; quantities of
 * two dimensions are never equal) and agree with an index scan.
 */
QTY_CMP_FN(qty_eq, ==)
QTY_CMP_FN(qty_ne, !=)
QTY_CMP_FN(qty_lt, <)
QTY_CMP_FN(qty_le, <=)
QTY_CMP_FN(qty_gt, >)
QTY_CMP_FN(qty_ge, >=)

/* min() support: the smaller of two quantities of one dimension */
PG_FUNCTION_INFO_V1(qty_smaller);
Datum
qty_smaller(PG_FUNCTION_ARGS)
{
	Qty			a = PG_GETARG_QTY(0);
	Qty			b = PG_GETARG_QTY(1);

	PG_RETURN_QTY(QtyCompare(a, b) <= 0 ? a : b);
}

/* max() support: the larger of two quantities of one dimension */
PG_FUNCTION_INFO_V1(qty_larger);
Datum
qty_larger(PG_FUNCTION_ARGS)
{
	Qty			a = PG_GETARG_QTY(0);
	Qty			b = PG_GETARG_QTY(1);

	PG_RETURN_QTY(QtyCompare(a, b) >= 0 ? a : b);
}
