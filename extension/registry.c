/*
 * registry.c — the registry: jurisdictions, operators (register, activate,
 * suspend), licences and products. Operator and licence changes are records
 * of the operator and go to its ledger chain through RecordToLedger; the
 * jurisdiction tree and the product catalogue are reference data.
 */
#include "records.h"
#include "security.h"

#include "utils/array.h"
#include "utils/builtins.h"

#include "checkchar.h"

/* ---- jurisdiction_add --------------------------------------------------- */

static SlStmt jurisdiction_get_stmt = {
	"SELECT level, ancestors FROM shilian.jurisdiction WHERE code = $1",
	1, {"text"}
};

static SlStmt jurisdiction_insert_stmt = {
	"INSERT INTO shilian.jurisdiction (code, name, level, parent, ancestors)"
	" VALUES ($1, $2, $3, $4, $5 || $1)",
	5, {"text", "text", "text", "text", "text[]"}
};

/*
 * jurisdiction_add(code, name) → code. The level and the parent follow from
 * the code: 37xxxx province; 3701xx city under 370000; 370102 county under
 * its city (or under the province for a county-level unit directly below
 * it, when that city is not registered); nine digits a station under its
 * county.
 */
PG_FUNCTION_INFO_V1(sl_jurisdiction_add);
Datum
sl_jurisdiction_add(PG_FUNCTION_ARGS)
{
	char	   *code;
	const char *level;
	char		parent[7];
	char		city[7];
	size_t		len;
	Datum		v[5];
	char		n[6] = "     ";

	RecordRequire(fcinfo, 0, "code");
	RecordRequire(fcinfo, 1, "name");
	code = text_to_cstring(PG_GETARG_TEXT_PP(0));
	len = strlen(code);
	if ((len != 6 && len != 9) || strspn(code, "0123456789") != len || code[0] == '0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid jurisdiction code \"%s\"", code),
				 errdetail("A GB/T 2260 division has six digits; a supervision station has its county's six digits and three more.")));

	SlSpiConnect();
	v[0] = PG_GETARG_DATUM(0);
	v[1] = PG_GETARG_DATUM(1);
	if (len == 9)
	{
		level = "station";
		memcpy(parent, code, 6);
	}
	else if (strcmp(code + 2, "0000") == 0)
		level = "province";
	else if (strcmp(code + 4, "00") == 0)
	{
		level = "city";
		memcpy(parent, code, 2);
		memcpy(parent + 2, "0000", 4);
	}
	else
	{
		level = "county";
		memcpy(city, code, 4);
		memcpy(city + 4, "00", 3);
		memcpy(parent, city, 6);
		/* a county-level unit directly under the province (4190xx) */
		v[3] = CStringGetTextDatum(city);
		SlExec(&jurisdiction_get_stmt, &v[3], NULL, 1);
		if (SPI_processed == 0)
		{
			memcpy(parent, code, 2);
			memcpy(parent + 2, "0000", 4);
		}
	}
	parent[6] = '\0';

	if (strcmp(level, "province") == 0)
	{
		v[3] = (Datum) 0;
		n[3] = 'n';
		v[4] = PointerGetDatum(construct_empty_array(TEXTOID));
	}
	else
	{
		bool		isnull;

		v[3] = CStringGetTextDatum(parent);
		SlExec(&jurisdiction_get_stmt, &v[3], NULL, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(SL_UNKNOWN_JURISDICTION),
					 errmsg("unknown jurisdiction: parent %s of %s %s is not registered", parent, level, code),
					 errhint("Add jurisdictions from the province down.")));
		if (strcmp(level, "station") == 0 &&
			strcmp(TextDatumGetCString(SlGet(0, 1, NULL)), "county") != 0)
			ereport(ERROR,
					(errcode(SL_UNKNOWN_JURISDICTION),
					 errmsg("unknown jurisdiction: parent %s of station %s is not a county", parent, code)));
		v[4] = SPI_datumTransfer(SlGet(0, 2, &isnull), false, -1);
	}
	v[2] = CStringGetTextDatum(level);
	SlExec(&jurisdiction_insert_stmt, v, n, 0);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

/* ---- operator_register, operator_activate, operator_suspend ------------- */

static SlStmt station_stmt = {
	"SELECT level FROM shilian.jurisdiction WHERE code = $1",
	1, {"text"}
};

static SlStmt operator_insert_stmt = {
	"INSERT INTO shilian.operator (name, segment, kinds, station, address, contact, uscc, reg_card,"
	" own_system, regulator_contact)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, to_jsonb(operator.*)",
	10, {"text", "text", "text[]", "text", "text", "text", "shilian.uscc", "text", "boolean", "text"}
};

static const char *const segments[] = {"production", "circulation", "catering", "special_food", NULL};

static bool
InList(const char *s, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/*
 * operator_register(name, segment, kinds, station, address, contact, uscc,
 * reg_card, own_system, regulator_contact) → operator id, status registered.
 */
static Datum OperatorRegister(FunctionCallInfo fcinfo, bool check_caller);

PG_FUNCTION_INFO_V1(sl_operator_register);
Datum
sl_operator_register(PG_FUNCTION_ARGS)
{
	return OperatorRegister(fcinfo, true);
}

/*
 * operator_register_matched(...): the same registration (same checks, same
 * row, same ledger entry) for a self-registration that the platform has
 * matched against the licence roll (sql/src/83_registration.sql). It does not
 * ask who the caller is: only the extension's owner may execute it, that is
 * the definer-rights functions of part 83 that decide the match.
 */
PG_FUNCTION_INFO_V1(sl_operator_register_matched);
Datum
sl_operator_register_matched(PG_FUNCTION_ARGS)
{
	return OperatorRegister(fcinfo, false);
}

static Datum
OperatorRegister(FunctionCallInfo fcinfo, bool check_caller)
{
	char	   *segment;
	char	   *station;
	Datum		v[10];
	char		n[11] = "          ";
	int64		id;

	RecordRequire(fcinfo, 0, "name");
	RecordRequire(fcinfo, 1, "segment");
	RecordRequire(fcinfo, 2, "kinds");
	RecordRequire(fcinfo, 3, "station");
	RecordRequire(fcinfo, 4, "address");
	RecordRequire(fcinfo, 5, "contact");
	RecordRequire(fcinfo, 8, "own_system");
	if (PG_ARGISNULL(6) && PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument uscc or reg_card must not be null"),
				 errdetail("An enterprise registers with its unified social credit code, a small vendor with its registration card number.")));
	segment = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!InList(segment, segments))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown segment \"%s\"", segment),
				 errhint("Use \"production\", \"circulation\", \"catering\" or \"special_food\".")));
	station = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (check_caller)
		SecurityCheckStation(station, "register an operator");

	SlSpiConnect();
	v[0] = PG_GETARG_DATUM(3);
	SlExec(&station_stmt, v, NULL, 1);
	if (SPI_processed == 0 || strcmp(TextDatumGetCString(SlGet(0, 1, NULL)), "station") != 0)
		ereport(ERROR,
				(errcode(SL_UNKNOWN_JURISDICTION),
				 errmsg("unknown jurisdiction: %s is not a registered supervision station", station),
				 errdetail("Every operator has exactly one home supervision station.")));
	for (int i = 0; i < 10; i++)
	{
		v[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		n[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	SlExec(&operator_insert_stmt, v, n, 0);
	id = DatumGetInt64(SlGet(0, 1, NULL));
	RecordToLedger(id, "operator_register", PlatformToday(), DatumGetJsonbP(SlGet(0, 2, NULL)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

static SlStmt operator_status_stmt = {
	"SELECT status FROM shilian.operator WHERE id = $1 FOR UPDATE",
	1, {"bigint"}
};

static SlStmt operator_set_status_stmt = {
	"UPDATE shilian.operator SET status = $2, status_reason = $3,"
	" activated_at = CASE WHEN $2 = 'active' THEN shilian.registry_now() ELSE activated_at END,"
	" suspended_at = CASE WHEN $2 = 'suspended' THEN shilian.registry_now() ELSE suspended_at END"
	" WHERE id = $1"
	" RETURNING jsonb_build_object('operator_id', id, 'status', status, 'reason', status_reason)",
	3, {"bigint", "text", "text"}
};

/* registered/suspended → active, registered/active → suspended. */
static void
SetStatus(FunctionCallInfo fcinfo, const char *to, const char *kind, bool check_caller)
{
	int64		id = PG_GETARG_INT64(0);
	char	   *from;
	Datum		v[3];
	char		n[4] = "   ";

	if (check_caller)
		RecordCheckActor(id, kind);
	SlSpiConnect();
	v[0] = Int64GetDatum(id);
	SlExec(&operator_status_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(SL_UNKNOWN_OPERATOR),
				 errmsg("unknown operator: operator %lld is not registered", (long long) id)));
	from = TextDatumGetCString(SlGet(0, 1, NULL));
	if (strcmp(from, to) == 0)
		ereport(ERROR,
				(errcode(SL_STATUS_TRANSITION),
				 errmsg("status transition refused: operator %lld is already %s", (long long) id, to)));
	v[1] = CStringGetTextDatum(to);
	v[2] = PG_NARGS() > 1 ? PG_GETARG_DATUM(1) : (Datum) 0;
	n[2] = PG_NARGS() > 1 ? ' ' : 'n';
	SlExec(&operator_set_status_stmt, v, n, 0);
	RecordToLedger(id, kind, PlatformToday(), DatumGetJsonbP(SlGet(0, 1, NULL)));
	SPI_finish();
}

/* operator_activate(id): the operator starts recording. */
PG_FUNCTION_INFO_V1(sl_operator_activate);
Datum
sl_operator_activate(PG_FUNCTION_ARGS)
{
	RecordRequire(fcinfo, 0, "id");
	SetStatus(fcinfo, "active", "operator_activate", true);
	PG_RETURN_VOID();
}

/*
 * operator_activate_bound(id): the same activation for an operator that
 * bound its identity with a valid activation code (part 83); executable by
 * the extension's owner only, like operator_register_matched.
 */
PG_FUNCTION_INFO_V1(sl_operator_activate_bound);
Datum
sl_operator_activate_bound(PG_FUNCTION_ARGS)
{
	RecordRequire(fcinfo, 0, "id");
	SetStatus(fcinfo, "active", "operator_activate", false);
	PG_RETURN_VOID();
}

/* operator_suspend(id, reason): the operator may no longer record. */
PG_FUNCTION_INFO_V1(sl_operator_suspend);
Datum
sl_operator_suspend(PG_FUNCTION_ARGS)
{
	RecordRequire(fcinfo, 0, "id");
	RecordRequire(fcinfo, 1, "reason");
	SetStatus(fcinfo, "suspended", "operator_suspend", true);
	PG_RETURN_VOID();
}

/* ---- operator_update ---------------------------------------------------- */

static SlStmt operator_lock_stmt = {
	"SELECT station FROM shilian.operator WHERE id = $1 FOR UPDATE",
	1, {"bigint"}
};

/*
 * One UPDATE: a NULL argument keeps the field; the ledger body names the
 * fields given. The history (operator_history, part 63) follows from the
 * statement trigger on operator.
 */
static SlStmt operator_update_stmt = {
	"UPDATE shilian.operator o SET name = coalesce($2, o.name), address = coalesce($3, o.address),"
	" contact = coalesce($4, o.contact), segment = coalesce($5, o.segment), kinds = coalesce($6, o.kinds),"
	" station = coalesce($7, o.station), own_system = coalesce($8, o.own_system),"
	" regulator_contact = coalesce($9, o.regulator_contact)"
	" WHERE o.id = $1"
	" RETURNING jsonb_strip_nulls(jsonb_build_object('operator_id', o.id, 'name', $2::text, 'address', $3::text,"
	" 'contact', $4::text, 'segment', $5::text, 'kinds', $6::text[], 'station', $7::text,"
	" 'own_system', $8::boolean, 'regulator_contact', $9::text))",
	9, {"bigint", "text", "text", "text", "text", "text[]", "text", "boolean", "text"}
};

static const char *const kind_names[] = {
	"farm", "processor", "wholesaler", "retailer", "market_vendor", "market",
	"restaurant", "school_canteen", "collective_meal", "central_kitchen",
	"unit_canteen", "workshop", "importer", "cold_storage", "special_food_maker", NULL
};

/*
 * operator_update(id, name, address, contact, segment, kinds, station,
 * own_system, regulator_contact): change the given fields (NULL: keep).
 * The operator itself (or a system client bound to it) changes its address
 * and contact; a regulator of its home station, or the admin, any field,
 * a new station only inside the regulator's own subtree
 * (docs/security.md). Errors: SLR01 unknown operator, SLH05 nothing to
 * change, 42501, 22023 for an unknown segment or kind.
 */
PG_FUNCTION_INFO_V1(sl_operator_update);
Datum
sl_operator_update(PG_FUNCTION_ARGS)
{
	int64		id;
	Datum		v[9];
	char		n[10] = "         ";
	bool		any = false;
	bool		registry_fields = false;
	SlCaller	caller = SecurityCaller();

	RecordRequire(fcinfo, 0, "id");
	id = PG_GETARG_INT64(0);
	for (int i = 1; i < 9; i++)
	{
		if (PG_ARGISNULL(i))
			continue;
		any = true;
		/* name, segment, kinds, station, own_system, regulator_contact */
		if (i != 2 && i != 3)
			registry_fields = true;
	}
	if (!any)
		ereport(ERROR,
				(errcode(SL_ERRCODE('H', '0', '5')),
				 errmsg("nothing to change: operator_update names no field"),
				 errhint("Give at least one of name, address, contact, segment, kinds, station, own_system, regulator_contact.")));
	if (!PG_ARGISNULL(4) && !InList(text_to_cstring(PG_GETARG_TEXT_PP(4)), segments))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown segment \"%s\"", text_to_cstring(PG_GETARG_TEXT_PP(4))),
				 errhint("Use \"production\", \"circulation\", \"catering\" or \"special_food\".")));
	if (!PG_ARGISNULL(5))
	{
		Datum	   *k;
		bool	   *kn;
		int			nk;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(5), TEXTOID, -1, false, TYPALIGN_INT, &k, &kn, &nk);
		if (nk == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("an operator has at least one kind")));
		for (int i = 0; i < nk; i++)
			if (kn[i] || !InList(TextDatumGetCString(k[i]), kind_names))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown operator kind \"%s\"", kn[i] ? "null" : TextDatumGetCString(k[i])),
						 errhint("Use the kinds of operator_register (farm, processor, wholesaler, retailer, ...).")));
	}
	if (registry_fields && (caller == SL_CALLER_OPERATOR || caller == SL_CALLER_SYSTEM))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("an operator may change only its address and contact"),
				 errdetail("Name, segment, kinds, home station, own-system flag and regulator contact are the registry's: its regulator changes them.")));
	RecordCheckActor(id, "operator_update");
	if (!PG_ARGISNULL(6))
		SecurityCheckStation(text_to_cstring(PG_GETARG_TEXT_PP(6)), "move an operator");

	SlSpiConnect();
	v[0] = Int64GetDatum(id);
	SlExec(&operator_lock_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(SL_UNKNOWN_OPERATOR),
				 errmsg("unknown operator: operator %lld is not registered", (long long) id)));
	if (!PG_ARGISNULL(6))
	{
		SlExec(&station_stmt, &PG_GETARG_DATUM(6), NULL, 1);
		if (SPI_processed == 0 || strcmp(TextDatumGetCString(SlGet(0, 1, NULL)), "station") != 0)
			ereport(ERROR,
					(errcode(SL_UNKNOWN_JURISDICTION),
					 errmsg("unknown jurisdiction: %s is not a registered supervision station",
							text_to_cstring(PG_GETARG_TEXT_PP(6)))));
	}
	for (int i = 0; i < 9; i++)
	{
		v[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		n[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	SlExec(&operator_update_stmt, v, n, 0);
	RecordToLedger(id, "operator_update", PlatformToday(), DatumGetJsonbP(SlGet(0, 1, NULL)));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---- licence_add -------------------------------------------------------- */

static const char *const categories[] = {
	"vegetables", "fruit", "aquatic", "grain", "meat", "dairy", "edible_oil",
	"alcohol", "health_food", "infant_formula", "other", NULL
};

static void
ValidateCategory(const char *c)
{
	if (!InList(c, categories))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown category \"%s\"", c),
				 errhint("Use one of the ten key categories (vegetables, fruit, aquatic, grain, meat, dairy, edible_oil, alcohol, health_food, infant_formula) or \"other\".")));
}

static SlStmt licence_insert_stmt = {
	"INSERT INTO shilian.licence (operator_id, licence_no, scope, valid_from, valid_to)"
	" VALUES ($1, $2, $3, $4, $5) RETURNING id, to_jsonb(licence.*)",
	5, {"bigint", "shilian.licence_no", "text[]", "date", "date"}
};

/* licence_add(operator, licence_no, scope, valid_from, valid_to) → licence id */
static Datum LicenceAdd(FunctionCallInfo fcinfo, bool check_caller);

PG_FUNCTION_INFO_V1(sl_licence_add);
Datum
sl_licence_add(PG_FUNCTION_ARGS)
{
	return LicenceAdd(fcinfo, true);
}

/*
 * licence_add_matched(...): the same for the licence of a self-registration
 * matched against the roll or approved by its station (part 83); owner only.
 */
PG_FUNCTION_INFO_V1(sl_licence_add_matched);
Datum
sl_licence_add_matched(PG_FUNCTION_ARGS)
{
	return LicenceAdd(fcinfo, false);
}

static Datum
LicenceAdd(FunctionCallInfo fcinfo, bool check_caller)
{
	int64		op;
	ArrayType  *scope;
	Datum	   *cats;
	bool	   *nulls;
	int			ncats;
	Datum		v[5];
	int64		id;

	for (int i = 0; i < 5; i++)
		RecordRequire(fcinfo, i, (const char *[]) {"operator", "licence_no", "scope", "valid_from", "valid_to"}[i]);
	op = PG_GETARG_INT64(0);
	scope = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(scope, TEXTOID, -1, false, TYPALIGN_INT, &cats, &nulls, &ncats);
	if (ncats == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a licence scope lists at least one category")));
	for (int i = 0; i < ncats; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("argument scope must not contain nulls")));
		ValidateCategory(TextDatumGetCString(cats[i]));
	}
	if (check_caller)
		RecordCheckActor(op, "add a licence");

	SlSpiConnect();
	ValidateOperatorExists(op, "operator");
	ValidateDateOrder("valid_from", PG_GETARG_DATEADT(3), "valid_to", PG_GETARG_DATEADT(4));
	for (int i = 0; i < 5; i++)
		v[i] = PG_GETARG_DATUM(i);
	SlExec(&licence_insert_stmt, v, NULL, 0);
	id = DatumGetInt64(SlGet(0, 1, NULL));
	RecordToLedger(op, "licence_add", PlatformToday(), DatumGetJsonbP(SlGet(0, 2, NULL)));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---- product_register --------------------------------------------------- */

static SlStmt product_insert_stmt = {
	"INSERT INTO shilian.product (name, category, shelf_life_days, spec, gtin, edible_agricultural, owner_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
	7, {"text", "text", "integer", "text", "text", "boolean", "bigint"}
};

/*
 * product_register(name, category, shelf_life_days, spec, gtin,
 * edible_agricultural, owner) → product id. Catalogue data: no ledger entry.
 */
PG_FUNCTION_INFO_V1(sl_product_register);
Datum
sl_product_register(PG_FUNCTION_ARGS)
{
	Datum		v[7];
	char		n[8] = "       ";
	int64		id;

	RecordRequire(fcinfo, 0, "name");
	RecordRequire(fcinfo, 1, "category");
	RecordRequire(fcinfo, 5, "edible_agricultural");
	ValidateCategory(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shelf life must be a positive number of days, not %d", PG_GETARG_INT32(2))));
	if (!PG_ARGISNULL(4))
	{
		char	   *g = text_to_cstring(PG_GETARG_TEXT_PP(4));
		size_t		len = strlen(g);

		if ((len != 8 && len != 12 && len != 13 && len != 14) ||
			strspn(g, "0123456789") != len || !sl_gs1_valid(g, len))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid GTIN \"%s\"", g),
					 errdetail("A GTIN has 8, 12, 13 or 14 digits ending in the GS1 mod 10 check digit.")));
	}
	if (!PG_ARGISNULL(6))
		RecordCheckActor(PG_GETARG_INT64(6), "register a product");

	SlSpiConnect();
	if (!PG_ARGISNULL(6))
		ValidateOperatorExists(PG_GETARG_INT64(6), "owner");
	for (int i = 0; i < 7; i++)
	{
		v[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		n[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	SlExec(&product_insert_stmt, v, n, 0);
	id = DatumGetInt64(SlGet(0, 1, NULL));
	SPI_finish();
	PG_RETURN_INT64(id);
}
