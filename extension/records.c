/*
 * records.c — the trace records: batch_create, inspect, ship, receive,
 * reject, receive_first_entry, transform and consume. Each function checks
 * the acting operator, runs every rule of validate.c before it writes, writes
 * with one or two cached statements and appends exactly one ledger entry
 * through RecordToLedger, all in the caller's transaction. The rules of
 * batch_create, inspect, ship and receive, in their order, are
 * RecordBatchCheck, RecordInspectCheck, RecordShipCheck and
 * RecordReceiveCheck, which read rows through an SlLookup: here one locking
 * statement per row (sql_lookup), in the bulk import its chunk's caches
 * (import.c).
 */
#include "records.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "activity.h"
#include "fk_cover.h"
#include "ledger.h"

/* ---- the one call point into the ledger -------------------------------- */

/*
 * Where the record in hand came from, NULL when typed in directly (an app on
 * an operator's login, psql): "CHANNEL" or "CHANNEL:CLIENT" where CHANNEL is
 * shilian.channel (import, epcis; set by those functions around their work)
 * or "api" when only shilian.client (the system client the gateway
 * authenticated by X-API-Key) is set.
 */
const char *
RecordSource(void)
{
	const char *channel = shilian_channel != NULL ? shilian_channel : "";
	const char *client = shilian_client != NULL ? shilian_client : "";

	if (channel[0] == '\0' && client[0] == '\0')
		return NULL;
	if (client[0] == '\0')
		return channel;
	return psprintf("%s:%s", channel[0] != '\0' ? channel : "api", client);
}

/*
 * Counts one record in shilian.operator_day (activity.c); a receipt's body
 * names its incoming inspection, checked for completeness at commit.
 */
static void
RecordCount(int64 operator_id, const char *kind, DateADT day, Jsonb *body, bool via_client)
{
	ActivityKind act = ActivityKindOf(kind);
	int64		incoming = 0;

	if (act == ACT_RECEIPTS)
	{
		JsonbValue	v;

		if (getKeyJsonValueFromContainer(&body->root, "inspection_id", strlen("inspection_id"), &v) != NULL
			&& v.type == jbvNumeric)
			incoming = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v.val.numeric)));
	}
	ActivityCount(operator_id, day, act, via_client, incoming);
}

/*
 * Appends the record's ledger entry (with its source and event date beside
 * it) and counts it in shilian.operator_day (activity.c).
 */
int64
RecordToLedger(int64 operator_id, const char *kind, DateADT day, Jsonb *body)
{
	const char *source = RecordSource();
	int64		id = LedgerAppendRecord(operator_id, kind, body, source, day);

	RecordCount(operator_id, kind, day, body, source != NULL);
	return id;
}

/*
 * The batch variant, for the bulk import: n records in array order, each
 * appended and counted exactly as RecordToLedger(operator_id, kind, on_date,
 * body) would, one after the other (LedgerAppendRecords); sets each id.
 */
void
RecordsToLedger(LedgerNewEntry *records, int n)
{
	const char *source = RecordSource();

	LedgerAppendRecords(records, n, source);
	for (int i = 0; i < n; i++)
		RecordCount(records[i].operator_id, records[i].kind, records[i].on_date, records[i].body,
					source != NULL);
}

/* ---- shared lookups ---------------------------------------------------- */

/*
 * The batch row, locked FOR UPDATE: concurrent records against one batch
 * serialize here, and only on that batch.
 */
static SlStmt batch_lock_stmt = {
	"SELECT " SL_BATCH_COLS SL_BATCH_FROM
	" WHERE b.trace_code OPERATOR(shilian.=) $1 FOR UPDATE OF b",
	1, {"shilian.trace_code"}
};

void
RecordBatchFill(SlBatch *b, TraceCode code, int row)
{
	bool		isnull;
	Datum		d;

	b->code = code;
	b->id = DatumGetInt64(SlGet(row, 1, NULL));
	b->owner = DatumGetInt64(SlGet(row, 2, NULL));
	b->product = DatumGetInt64(SlGet(row, 3, NULL));
	b->qty = DatumGetQty(SlGet(row, 4, NULL));
	b->left = DatumGetQty(SlGet(row, 5, NULL));
	b->produced = DatumGetDateADT(SlGet(row, 6, NULL));
	b->expires = DatumGetDateADT(SlGet(row, 7, &isnull));
	b->has_expiry = !isnull;
	b->category = TextDatumGetCString(SlGet(row, 8, NULL));
	b->owner_status = TextDatumGetCString(SlGet(row, 9, NULL));
	b->owner_info.id = b->owner;
	b->owner_info.farm = DatumGetBool(SlGet(row, 10, NULL));
	b->owner_info.station = TextDatumGetCString(SlGet(row, 11, NULL));
	b->agricultural = DatumGetBool(SlGet(row, 12, NULL));
	d = SlGet(row, 13, &isnull);
	b->lot = isnull ? (Datum) 0 : PointerGetDatum(DatumGetTextPCopy(d));
	d = SlGet(row, 14, &isnull);
	b->certificate = isnull ? (Datum) 0 : PointerGetDatum(DatumGetJsonbPCopy(d));
}

/* Registered (SL R01) and active (SL R02), through the lookup. */
static bool
CheckOperatorActive(SlLookup *lk, int64 id, const char *role, SlOperatorInfo *info, SlRefusal *r)
{
	char	   *status;
	SlOperatorInfo oi;

	if (!CheckKnownOperator(lk->operator_row(lk, id, &status, &oi), id, role, r))
		return false;
	if (info)
		*info = oi;
	return CheckStatusActive(id, role, status, r);
}

/*
 * The acting operator is registered and active: read with the batch when it
 * is the batch's owner (one probe fewer), looked up otherwise.
 */
static bool
CheckActorActive(SlLookup *lk, SlBatch *b, int64 actor, const char *role, SlOperatorInfo *info,
				 SlRefusal *r)
{
	if (actor != b->owner)
		return CheckOperatorActive(lk, actor, role, info, r);
	if (info)
		*info = b->owner_info;
	return CheckStatusActive(actor, role, b->owner_status, r);
}

static bool
CheckBatchKnown(SlBatch *b, TraceCode code, SlRefusal *r)
{
	if (b != NULL)
		return true;
	return Refuse(r, SL_UNKNOWN_BATCH, NULL, NULL,
				  "unknown batch: no batch has trace code %s", TraceCodeToCString(code));
}

/* ---- the record functions' lookup: one locking statement per row -------- */

static SlBatch *
SqlBatch(SlLookup *self, TraceCode code)
{
	Datum		v[1] = {TraceCodeGetDatum(code)};
	SlBatch    *b;

	SlExec(&batch_lock_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		return NULL;
	b = palloc0_object(SlBatch);
	RecordBatchFill(b, code, 0);
	return b;
}

static bool
SqlOperator(SlLookup *self, int64 id, char **status, SlOperatorInfo *info)
{
	return ValidateLookupOperator(id, status, info);
}

static bool
SqlLicence(SlLookup *self, int64 seller, const char *category, DateADT on, LicenseNo *lic,
		   SlRefusal *r)
{
	return CheckLicence(seller, category, on, lic, r);
}

static bool
SqlMayAct(SlLookup *self, int64 operator_id, const char *action, SlRefusal *r)
{
	return RecordMayAct(operator_id, action, r);
}

static bool SqlSale(SlLookup *self, int64 key, SlSale *p);
static bool SqlProduct(SlLookup *self, int64 id, bool *has_shelf, int32 *shelf);

static SlLookup sql_lookup = {SqlBatch, SqlOperator, SqlLicence, SqlMayAct, SqlSale, SqlProduct};

static void
BatchLock(TraceCode code, SlBatch *b)
{
	SlBatch    *found = SqlBatch(&sql_lookup, code);
	SlRefusal	r;

	if (!CheckBatchKnown(found, code, &r))
		RecordRaise(&r);
	*b = *found;
}

/* The 6-digit GB/T 2260 region of a station (county code + 3 digits). */
static text *
RegionOf(const char *station)
{
	return cstring_to_text_with_len(station, 6);
}

static Jsonb *
JsonbResult(int row, int col)
{
	return DatumGetJsonbP(SlGet(row, col, NULL));
}

const char *const record_incoming_keys[] = {"inspector", NULL};

/* result of an incoming inspection document: "pass" unless it says "fail" (SL R15 otherwise). */
bool
CheckInspectionResult(Jsonb *doc, text **res, SlRefusal *r)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = "result";
	k.val.string.len = 6;
	v = findJsonbValueFromContainer(&doc->root, JB_FOBJECT, &k);
	if (v == NULL)
	{
		*res = cstring_to_text("pass");
		return true;
	}
	if (v->type == jbvString &&
		((v->val.string.len == 4 && memcmp(v->val.string.val, "pass", 4) == 0) ||
		 (v->val.string.len == 4 && memcmp(v->val.string.val, "fail", 4) == 0)))
	{
		*res = cstring_to_text_with_len(v->val.string.val, 4);
		return true;
	}
	return Refuse(r, SL_DOCUMENT_INCOMPLETE, NULL, NULL,
				  "document incomplete: inspection result must be \"pass\" or \"fail\"");
}

/* ---- batch_create ------------------------------------------------------- */

static SlStmt product_stmt = {
	"SELECT shelf_life_days, category FROM shilian.product WHERE id = $1",
	1, {"bigint"}
};

bool
RecordLookupProduct(int64 id, bool *has_shelf, int32 *shelf)
{
	Datum		v[1] = {Int64GetDatum(id)};
	bool		isnull;

	SlExec(&product_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		return false;
	*shelf = DatumGetInt32(SlGet(0, 1, &isnull));
	*has_shelf = !isnull;
	return true;
}

static bool
SqlProduct(SlLookup *self, int64 id, bool *has_shelf, int32 *shelf)
{
	return RecordLookupProduct(id, has_shelf, shelf);
}

/* Registered (SL R18), through the lookup; *has_shelf and *shelf its shelf life. */
static bool
CheckProductKnown(SlLookup *lk, int64 product, bool *has_shelf, int32 *shelf, SlRefusal *r)
{
	if (lk->product(lk, product, has_shelf, shelf))
		return true;
	return Refuse(r, SL_UNKNOWN_PRODUCT, NULL, "Register the product with product_register first.",
				  "unknown product: product %lld is not registered", (long long) product);
}

/*
 * The rules of a new batch, in their order (the bulk import gives a refused
 * line the very refusal batch_create() raises): the owner may record, is
 * registered and active, the product is registered, the quantity positive,
 * the production date not in the future and not after the expiry date
 * (which defaults to the production date plus the product's shelf life),
 * and the certificate, if any, a JSON object.
 */
bool
RecordBatchCheck(SlLookup *lk, SlBatchNew *s, SlRefusal *r)
{
	bool		has_shelf;
	int32		shelf;

	if (!lk->may_act(lk, s->owner, "create a batch", r) ||
		!CheckOperatorActive(lk, s->owner, "owner", &s->owner_info, r) ||
		!CheckProductKnown(lk, s->product, &has_shelf, &shelf, r) ||
		!CheckPositive(s->q, "the batch quantity", r) ||
		!CheckNotFuture(s->produced, r))
		return false;
	if (s->has_expiry)
	{
		if (!CheckDateOrder("production date", s->produced, "expiry date", s->expires, r))
			return false;
	}
	else if (has_shelf)
	{
		s->has_expiry = true;
		s->expires = s->produced + shelf;
	}
	return s->certificate == NULL ||
		CheckDocument(s->certificate, "certificate", (const char *const[]) {NULL}, r);
}

static SlStmt batch_insert_stmt = {
	"INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left, produced_on,"
	" expires_on, lot, origin, certificate, supplier)"
	" VALUES (shilian.trace_code_next($1), $2, $3, $4, $4, $5, $6, $7, $8, $9, $10)"
	" RETURNING id, trace_code, to_jsonb(batch.*)",
	10, {"text", "bigint", "bigint", "shilian.qty", "date", "date", "text", "text", "jsonb", "jsonb"}
};

/* batch_create(owner, product, qty, produced_on, lot, expires_on, certificate) → trace_code */
PG_FUNCTION_INFO_V1(sl_batch_create);
Datum
sl_batch_create(PG_FUNCTION_ARGS)
{
	SlBatchNew	s;
	SlRefusal	r;
	Datum		v[10];
	char		n[11] = "          ";
	TraceCode	code;

	RecordRequire(fcinfo, 0, "owner");
	RecordRequire(fcinfo, 1, "product");
	RecordRequire(fcinfo, 2, "qty");
	RecordRequire(fcinfo, 3, "produced_on");
	memset(&s, 0, sizeof(s));
	s.owner = PG_GETARG_INT64(0);
	s.product = PG_GETARG_INT64(1);
	s.q = PG_GETARG_QTY(2);
	s.produced = PG_GETARG_DATEADT(3);
	s.has_expiry = !PG_ARGISNULL(5);
	s.expires = s.has_expiry ? PG_GETARG_DATEADT(5) : 0;
	s.certificate = PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);

	SlSpiConnect();
	if (!RecordBatchCheck(&sql_lookup, &s, &r))
		RecordRaise(&r);

	v[0] = PointerGetDatum(RegionOf(s.owner_info.station));
	v[1] = Int64GetDatum(s.owner);
	v[2] = Int64GetDatum(s.product);
	v[3] = QtyGetDatum(s.q);
	v[4] = DateADTGetDatum(s.produced);
	v[5] = DateADTGetDatum(s.expires);
	n[5] = s.has_expiry ? ' ' : 'n';
	v[6] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	n[6] = PG_ARGISNULL(4) ? 'n' : ' ';
	v[7] = CStringGetTextDatum("produced");
	v[8] = PG_ARGISNULL(6) ? (Datum) 0 : PG_GETARG_DATUM(6);
	n[8] = PG_ARGISNULL(6) ? 'n' : ' ';
	v[9] = (Datum) 0;
	n[9] = 'n';
	SlExec(&batch_insert_stmt, v, n, 0);
	code = DatumGetTraceCode(SlGet(0, 2, NULL));
	RecordToLedger(s.owner, "batch_create", s.produced, JsonbResult(0, 3));
	SPI_finish();
	PG_RETURN_TRACE_CODE(code);
}

/* ---- inspect ------------------------------------------------------------ */

static SlStmt inspect_stmt = {
	"WITH i AS (INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, inspected_at)"
	"  VALUES ($1, $2, $3, $4, $5, $6) RETURNING *),"
	" c AS (UPDATE shilian.batch SET certificate = jsonb_build_object("
	"    'certificate_no', $5->'certificate_no', 'inspection_id', (SELECT id FROM i))"
	"  WHERE id = $1 AND $3 = 'release' AND $4 = 'pass' AND certificate IS NULL)"
	" SELECT id, to_jsonb(i.*) FROM i",
	6, {"bigint", "bigint", "text", "text", "jsonb", "timestamptz"}
};

static const char *const release_keys[] = {"certificate_no", "inspector", NULL};
static const char *const sampling_keys[] = {"agency", "report_no", NULL};

/*
 * The rules of an inspection, in their order (the bulk import gives a refused
 * line the very refusal inspect() raises): the kind and result, the batch,
 * the operator (the argument, else the acting operator, else the holder) may
 * record, is active and holds the batch, the date, and the report's keys.
 */
bool
RecordInspectCheck(SlLookup *lk, SlInspect *s, SlRefusal *r)
{
	const char *const *keys;
	SlBatch    *b;

	if (strcmp(s->kind, "release") == 0)
		keys = release_keys;
	else if (strcmp(s->kind, "incoming") == 0)
		keys = record_incoming_keys;
	else if (strcmp(s->kind, "sampling") == 0)
		keys = sampling_keys;
	else
		return Refuse(r, ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					  "Use \"release\" (出厂检验), \"incoming\" (进货查验) or \"sampling\".",
					  "unknown inspection kind \"%s\"", s->kind);
	if (strcmp(s->result, "pass") != 0 && strcmp(s->result, "fail") != 0)
		return Refuse(r, ERRCODE_INVALID_PARAMETER_VALUE, NULL, "Use \"pass\" or \"fail\".",
					  "unknown inspection result \"%s\"", s->result);
	b = lk->batch(lk, s->code);
	if (!CheckBatchKnown(b, s->code, r))
		return false;
	s->batch = b;
	if (!s->has_operator)
	{
		int64		acting = RecordActingOperator();

		s->operator_id = acting != 0 ? acting : b->owner;
	}
	return lk->may_act(lk, s->operator_id, "inspect a batch", r) &&
		CheckActorActive(lk, b, s->operator_id, "operator", NULL, r) &&
		CheckOwner(s->code, b->owner, s->operator_id, "operator", r) &&
		CheckDateOrder("production date", b->produced, "inspection date", TimestampDate(s->at), r) &&
		CheckDocument(s->report, "inspection report", keys, r);
}

/* inspect(code, kind, result, report, inspected_at, operator) → inspection id */
PG_FUNCTION_INFO_V1(sl_inspect);
Datum
sl_inspect(PG_FUNCTION_ARGS)
{
	SlInspect	s;
	SlRefusal	r;
	int64		id;
	Datum		v[6];

	RecordRequire(fcinfo, 0, "code");
	RecordRequire(fcinfo, 1, "kind");
	RecordRequire(fcinfo, 2, "result");
	RecordRequire(fcinfo, 3, "report");
	RecordRequire(fcinfo, 4, "inspected_at");
	memset(&s, 0, sizeof(s));
	s.code = PG_GETARG_TRACE_CODE(0);
	s.kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	s.result = text_to_cstring(PG_GETARG_TEXT_PP(2));
	s.report = PG_GETARG_JSONB_P(3);
	s.at = PG_GETARG_TIMESTAMPTZ(4);
	s.has_operator = !PG_ARGISNULL(5);
	s.operator_id = s.has_operator ? PG_GETARG_INT64(5) : 0;

	SlSpiConnect();
	if (!RecordInspectCheck(&sql_lookup, &s, &r))
		RecordRaise(&r);

	v[0] = Int64GetDatum(s.batch->id);
	v[1] = Int64GetDatum(s.operator_id);
	v[2] = CStringGetTextDatum(s.kind);
	v[3] = CStringGetTextDatum(s.result);
	v[4] = JsonbPGetDatum(s.report);
	v[5] = TimestampTzGetDatum(s.at);
	SlExec(&inspect_stmt, v, NULL, 0);
	id = DatumGetInt64(SlGet(0, 1, NULL));
	RecordToLedger(s.operator_id, "inspect", TimestampDate(s.at), JsonbResult(0, 2));
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---- ship --------------------------------------------------------------- */

static SlStmt ship_stmt = {
	"WITH l AS (INSERT INTO shilian.link (kind, from_batch, seller_id, buyer_id, qty_shipped,"
	"   shipped_on, seller_licence)"
	"  VALUES ('ship', $1, $2, $3, $4, $5, $6) RETURNING *),"
	" u AS (UPDATE shilian.batch SET qty_left = $7 WHERE id = $1)"
	" SELECT id, to_jsonb(l.*) FROM l",
	7, {"bigint", "bigint", "bigint", "shilian.qty", "date", "shilian.licence_no", "shilian.qty"}
};

/*
 * The rules of a sale, in their order (the bulk import gives a refused line
 * the very refusal ship() raises): the batch, the seller (the argument, else
 * the acting operator, else the holder) may record, both parties active, the
 * seller holds the batch, no sale to itself, quantity, unit, dates, licence
 * (a farm selling its own edible agricultural products needs none, Food
 * Safety Law art. 35), and last the balance.
 */
bool
RecordShipCheck(SlLookup *lk, SlShip *s, SlRefusal *r)
{
	SlBatch    *b = lk->batch(lk, s->code);
	SlOperatorInfo sinfo;

	if (!CheckBatchKnown(b, s->code, r))
		return false;
	if (!s->has_seller)
	{
		int64		acting = RecordActingOperator();

		s->seller = acting != 0 ? acting : b->owner;
	}
	s->batch = b;
	if (!lk->may_act(lk, s->seller, "ship", r) ||
		!CheckActorActive(lk, b, s->seller, "seller", &sinfo, r) ||
		!CheckOperatorActive(lk, s->buyer, "buyer", NULL, r) ||
		!CheckOwner(s->code, b->owner, s->seller, "seller", r) ||
		!CheckNotSelfShip(s->code, s->seller, s->buyer, r) ||
		!CheckPositive(s->q, "the shipped quantity", r) ||
		!CheckDimension(s->code, b->qty, s->q, r) ||
		!CheckDateOrder("production date", b->produced, "ship date", s->shipped, r) ||
		!CheckNotExpired(s->code, b->has_expiry, b->expires, "ship date", s->shipped, r))
		return false;
	s->has_licence = !(sinfo.farm && b->agricultural);
	s->licence = 0;
	if (s->has_licence && !lk->licence(lk, s->seller, b->category, s->shipped, &s->licence, r))
		return false;
	return CheckBalance(s->code, b->left, s->q, r);
}

/* ship(code, buyer, qty, shipped_on, seller) → link id (a pending link: the buyer's receipt draft) */
PG_FUNCTION_INFO_V1(sl_ship);
Datum
sl_ship(PG_FUNCTION_ARGS)
{
	SlShip		s;
	SlRefusal	r;
	Datum		v[7];
	char		n[8] = "       ";
	int64		id;
	int			nest;

	RecordRequire(fcinfo, 0, "code");
	RecordRequire(fcinfo, 1, "buyer");
	RecordRequire(fcinfo, 2, "qty");
	RecordRequire(fcinfo, 3, "shipped_on");
	memset(&s, 0, sizeof(s));
	s.code = PG_GETARG_TRACE_CODE(0);
	s.buyer = PG_GETARG_INT64(1);
	s.q = PG_GETARG_QTY(2);
	s.shipped = PG_GETARG_DATEADT(3);
	s.has_seller = !PG_ARGISNULL(4);
	s.seller = s.has_seller ? PG_GETARG_INT64(4) : 0;

	SlSpiConnect();
	/* one level for all its statements (stmt.c) */
	nest = SlPlanSettingsBegin();
	if (!RecordShipCheck(&sql_lookup, &s, &r))
		RecordRaise(&r);

	v[0] = Int64GetDatum(s.batch->id);
	v[1] = Int64GetDatum(s.seller);
	v[2] = Int64GetDatum(s.buyer);
	v[3] = QtyGetDatum(s.q);
	v[4] = DateADTGetDatum(s.shipped);
	v[5] = LicenseNoGetDatum(s.licence);
	n[5] = s.has_licence ? ' ' : 'n';
	v[6] = QtyGetDatum(QtySub(s.batch->left, s.q));
	/*
	 * the sale's parties locked as its foreign keys' checks lock them, in
	 * one statement instead of two (fk_cover.c); its lot is held FOR UPDATE
	 * since batch_lock_stmt, as strong a hold as its check's
	 */
	{
		SlFkKeys	keys = {0};

		SlFkKeysAdd(&keys, SL_FK_OPERATOR, s.seller);
		SlFkKeysAdd(&keys, SL_FK_OPERATOR, s.buyer);
		SlExecCovered(&ship_stmt, v, n, 0, sl_fk_sale, SlFkKeysLock(&keys) ? lengthof(sl_fk_sale) : 0);
	}
	id = DatumGetInt64(SlGet(0, 1, NULL));
	RecordToLedger(s.seller, "ship", s.shipped, JsonbResult(0, 2));
	SlPlanSettingsEnd(nest);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* ---- receive and reject ------------------------------------------------- */

static SlStmt link_lock_stmt = {
	"SELECT l.from_batch, l.seller_id, l.buyer_id, l.qty_shipped, l.shipped_on, l.status,"
	" b.trace_code, b.expires_on, b.product_id, l.seller_licence, s.status, u.status, u.station"
	" FROM shilian.link l JOIN shilian.batch b ON b.id = l.from_batch"
	" JOIN shilian.operator s ON s.id = l.seller_id JOIN shilian.operator u ON u.id = l.buyer_id"
	" WHERE l.id = $1 AND l.kind = 'ship' FOR UPDATE OF l",
	1, {"bigint"}
};

/* Lock a sale's link (a receipt and a rejection of one link serialize here). */
static bool
SqlSale(SlLookup *self, int64 id, SlSale *p)
{
	Datum		v[1] = {Int64GetDatum(id)};
	bool		isnull;

	SlExec(&link_lock_stmt, v, NULL, 1);
	if (SPI_processed == 0)
		return false;
	p->id = id;
	p->from_batch = DatumGetInt64(SlGet(0, 1, NULL));
	p->seller = DatumGetInt64(SlGet(0, 2, NULL));
	p->buyer = DatumGetInt64(SlGet(0, 3, NULL));
	p->shipped_qty = DatumGetQty(SlGet(0, 4, NULL));
	p->shipped = DatumGetDateADT(SlGet(0, 5, NULL));
	p->status = TextDatumGetCString(SlGet(0, 6, NULL));
	p->from_code = DatumGetTraceCode(SlGet(0, 7, NULL));
	p->expires = DatumGetDateADT(SlGet(0, 8, &isnull));
	p->has_expiry = !isnull;
	p->product = DatumGetInt64(SlGet(0, 9, NULL));
	p->licence = DatumGetLicenseNo(SlGet(0, 10, &isnull));
	p->has_licence = !isnull;
	p->seller_status = TextDatumGetCString(SlGet(0, 11, NULL));
	p->buyer_status = TextDatumGetCString(SlGet(0, 12, NULL));
	p->buyer_station = TextDatumGetCString(SlGet(0, 13, NULL));
	return true;
}

static bool
CheckSale(bool found, int64 id, SlRefusal *r)
{
	if (found)
		return true;
	return Refuse(r, SL_UNKNOWN_LINK, NULL, NULL, "unknown link: no sale has link id %lld", (long long) id);
}

/*
 * A receipt's incoming inspection (进货查验) is optional: without one the
 * receipt is recorded, record_completeness() reports it incomplete and the
 * regulator's findings list it (missing_incoming_inspection); a legal gap
 * is a finding, not a capture error (issue 18). Given, it is complete.
 * The same rule for a receipt of a sale and a first entry.
 */
static bool
CheckIncoming(Jsonb *inspection, SlRefusal *r)
{
	return inspection == NULL || CheckDocument(inspection, "incoming inspection", record_incoming_keys, r);
}

/*
 * The rules of a receipt, in their order: the sale, the buyer may record,
 * the sale still pending, both parties active, quantity, unit, accepted
 * against shipped, dates, expiry, the incoming inspection document if any
 * and its result.
 */
bool
RecordReceiveCheck(SlLookup *lk, SlReceive *s, SlRefusal *r)
{
	SlSale	   *p = &s->sale;

	s->day = TimestampDate(s->at);
	if (!CheckSale(lk->sale(lk, s->link, p), s->link, r))
		return false;
	return lk->may_act(lk, p->buyer, "receive", r) &&
		CheckLinkPending(p->id, p->status, r) &&
		CheckStatusActive(p->seller, "seller", p->seller_status, r) &&
		CheckStatusActive(p->buyer, "buyer", p->buyer_status, r) &&
		CheckPositive(s->q, "the accepted quantity", r) &&
		CheckDimension(p->from_code, p->shipped_qty, s->q, r) &&
		CheckAccepted(p->id, p->shipped_qty, s->q, s->has_reason, &s->cmp, r) &&
		CheckDateOrder("ship date", p->shipped, "receipt date", s->day, r) &&
		CheckNotExpired(p->from_code, p->has_expiry, p->expires, "receipt date", s->day, r) &&
		CheckIncoming(s->inspection, r) &&
		(s->inspection == NULL || CheckInspectionResult(s->inspection, &s->result, r));
}

/*
 * The new batch is pre-filled from the seller's batch (product, production
 * date, lot, expiry, certificate) and the sale (seller's licence); the part
 * not accepted goes back to the seller's batch (qty_left), where the seller
 * records what becomes of it (consume ... 'destroyed', or a new sale).
 */
static SlStmt receive_stmt = {
	"WITH nb AS (INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left,"
	"   produced_on, expires_on, lot, origin, supplier_licence, certificate)"
	"  SELECT shilian.trace_code_next($2), $3, s.product_id, $4, $4, s.produced_on, s.expires_on,"
	"   s.lot, 'received', $5, s.certificate FROM shilian.batch s WHERE s.id = $1"
	"  RETURNING *),"
	" ul AS (UPDATE shilian.link SET to_batch = (SELECT id FROM nb), qty_accepted = $4,"
	"   received_at = $6, status = 'received', reject_reason = $7 WHERE id = $8 RETURNING *),"
	" back AS (UPDATE shilian.batch SET qty_left = qty_left OPERATOR(shilian.+) $9 WHERE id = $1 AND $9 IS NOT NULL),"
	" ins AS (INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, link_id, inspected_at)"
	"  SELECT nb.id, $3, 'incoming', $10, $11, $8, $6 FROM nb WHERE $11 IS NOT NULL RETURNING id)"
	" SELECT nb.trace_code, jsonb_build_object('link', to_jsonb(ul.*), 'batch', to_jsonb(nb.*),"
	"   'inspection_id', ins.id) FROM nb CROSS JOIN ul LEFT JOIN ins ON true",
	11, {"bigint", "text", "bigint", "shilian.qty", "shilian.licence_no", "timestamptz", "text",
		"bigint", "shilian.qty", "text", "jsonb"}
};

/* Receipt into a batch the buyer already holds (commingled stock). */
static SlStmt receive_into_stmt = {
	"WITH nb AS (UPDATE shilian.batch SET qty = qty OPERATOR(shilian.+) $4, qty_left = qty_left OPERATOR(shilian.+) $4"
	"  WHERE id = $2 RETURNING *),"
	" ul AS (UPDATE shilian.link SET to_batch = $2, qty_accepted = $4,"
	"   received_at = $6, status = 'received', reject_reason = $7 WHERE id = $8 RETURNING *),"
	" back AS (UPDATE shilian.batch SET qty_left = qty_left OPERATOR(shilian.+) $9 WHERE id = $1 AND $9 IS NOT NULL),"
	" ins AS (INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, link_id, inspected_at)"
	"  SELECT $2, $3, 'incoming', $10, $11, $8, $6 WHERE $11 IS NOT NULL RETURNING id)"
	" SELECT nb.trace_code, jsonb_build_object('link', to_jsonb(ul.*), 'batch', to_jsonb(nb.*),"
	"   'inspection_id', ins.id) FROM nb CROSS JOIN ul LEFT JOIN ins ON true",
	11, {"bigint", "bigint", "bigint", "shilian.qty", "shilian.licence_no", "timestamptz", "text",
		"bigint", "shilian.qty", "text", "jsonb"}
};

/* Serializes receipts into existing batches ("SL", "RC": the two-key advisory lock space). */
static SlStmt cycle_lock_stmt = {
	"SELECT pg_catalog.pg_advisory_xact_lock(21324, 21059)",
	0, {NULL}
};

/* receive(link, qty, inspection, received_at, reject_reason, into) → the buyer's trace_code */
PG_FUNCTION_INFO_V1(sl_receive);
Datum
sl_receive(PG_FUNCTION_ARGS)
{
	int64		link;
	Qty			q;
	Jsonb	   *inspection;
	TimestampTz at;
	DateADT		day;
	SlReceive	s;
	SlSale	   *pp = &s.sale;
	SlRefusal	r;
	int			cmp;
	Datum		v[11];
	char		n[12] = "           ";
	TraceCode	code;
	int			nest;

	RecordRequire(fcinfo, 0, "link");
	RecordRequire(fcinfo, 1, "qty");
	RecordRequire(fcinfo, 3, "received_at");
	link = PG_GETARG_INT64(0);
	q = PG_GETARG_QTY(1);
	/* optional (RecordReceiveCheck): NULL records the receipt without one */
	inspection = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	at = PG_GETARG_TIMESTAMPTZ(3);

	SlSpiConnect();
	/* one level for all its statements (stmt.c) */
	nest = SlPlanSettingsBegin();
	memset(&s, 0, sizeof(s));
	s.link = link;
	s.q = q;
	s.inspection = inspection;
	s.at = at;
	s.has_reason = !PG_ARGISNULL(4);
	if (!RecordReceiveCheck(&sql_lookup, &s, &r))
		RecordRaise(&r);
	day = s.day;
	cmp = s.cmp;

	v[0] = Int64GetDatum(pp->from_batch);
	v[2] = Int64GetDatum(pp->buyer);
	v[3] = QtyGetDatum(q);
	v[4] = LicenseNoGetDatum(pp->licence);
	n[4] = pp->has_licence ? ' ' : 'n';
	v[5] = TimestampTzGetDatum(at);
	v[6] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	n[6] = PG_ARGISNULL(4) ? 'n' : ' ';
	v[7] = Int64GetDatum(link);
	v[8] = QtyGetDatum(QtySub(pp->shipped_qty, q));
	n[8] = cmp < 0 ? ' ' : 'n';
	if (inspection != NULL)
	{
		v[9] = PointerGetDatum(s.result);
		v[10] = JsonbPGetDatum(inspection);
	}
	else
	{
		v[9] = v[10] = (Datum) 0;
		n[9] = n[10] = 'n';
	}

	if (PG_ARGISNULL(5))
	{
		v[1] = PointerGetDatum(RegionOf(pp->buyer_station));
		/* the sale's new batch is inserted by the same statement: no check to run for it (fk_cover.c) */
		SlExecCovered(&receive_stmt, v, n, 0, sl_fk_receipt, lengthof(sl_fk_receipt));
	}
	else
	{
		TraceCode	into = PG_GETARG_TRACE_CODE(5);
		SlBatch		t;

		BatchLock(into, &t);
		ValidateOwner(into, t.owner, pp->buyer, "buyer");
		if (t.product != pp->product)
			ereport(ERROR,
					(errcode(SL_PRODUCT_MISMATCH),
					 errmsg("product mismatch: batch %s holds product %lld, the sale is of product %lld",
							TraceCodeToCString(into), (long long) t.product, (long long) pp->product)));
		ValidateDimension(into, t.qty, q);
		/*
		 * Only a receipt into an existing batch can close a cycle (every
		 * other record links to a new batch), so these receipts take turns:
		 * two of them cannot each miss the link the other is adding.
		 */
		SlExec(&cycle_lock_stmt, NULL, NULL, 0);
		ValidateAcyclic(pp->from_batch, pp->from_code, t.id, into);
		v[1] = Int64GetDatum(t.id);
		SlExec(&receive_into_stmt, v, n, 0);
	}
	code = DatumGetTraceCode(SlGet(0, 1, NULL));
	RecordToLedger(pp->buyer, "receive", day, JsonbResult(0, 2));
	SlPlanSettingsEnd(nest);
	SPI_finish();
	PG_RETURN_TRACE_CODE(code);
}

static SlStmt reject_stmt = {
	"WITH ul AS (UPDATE shilian.link SET received_at = $2, status = 'rejected', reject_reason = $3"
	"  WHERE id = $1 RETURNING *),"
	" back AS (UPDATE shilian.batch SET qty_left = qty_left OPERATOR(shilian.+) $5 WHERE id = $4)"
	" SELECT to_jsonb(ul.*) FROM ul",
	5, {"bigint", "timestamptz", "text", "bigint", "shilian.qty"}
};

/*
 * The rules of a rejection, in their order (the bulk import gives a refused
 * line the very refusal reject() raises): the sale, the buyer may record,
 * the sale still pending, the buyer active, the rejection not before the
 * ship date.
 */
bool
RecordRejectCheck(SlLookup *lk, SlReject *s, SlRefusal *r)
{
	SlSale	   *p = &s->sale;

	s->day = TimestampDate(s->at);
	if (!CheckSale(lk->sale(lk, s->link, p), s->link, r))
		return false;
	return lk->may_act(lk, p->buyer, "reject", r) &&
		CheckLinkPending(p->id, p->status, r) &&
		CheckStatusActive(p->buyer, "buyer", p->buyer_status, r) &&
		CheckDateOrder("ship date", p->shipped, "rejection date", s->day, r);
}

/* reject(link, reject_reason, rejected_at): the buyer refuses a whole sale; the quantity returns to the seller's batch. */
PG_FUNCTION_INFO_V1(sl_reject);
Datum
sl_reject(PG_FUNCTION_ARGS)
{
	int64		link;
	TimestampTz at;
	SlReject	s;
	SlSale	   *pp = &s.sale;
	SlRefusal	r;
	Datum		v[5];

	RecordRequire(fcinfo, 0, "link");
	RecordRequire(fcinfo, 1, "reject_reason");
	RecordRequire(fcinfo, 2, "rejected_at");
	link = PG_GETARG_INT64(0);
	at = PG_GETARG_TIMESTAMPTZ(2);

	SlSpiConnect();
	memset(&s, 0, sizeof(s));
	s.link = link;
	s.at = at;
	if (!RecordRejectCheck(&sql_lookup, &s, &r))
		RecordRaise(&r);

	v[0] = Int64GetDatum(link);
	v[1] = TimestampTzGetDatum(at);
	v[2] = PG_GETARG_DATUM(1);
	v[3] = Int64GetDatum(pp->from_batch);
	v[4] = QtyGetDatum(pp->shipped_qty);
	SlExec(&reject_stmt, v, NULL, 0);
	RecordToLedger(pp->buyer, "reject", s.day, JsonbResult(0, 1));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---- receive_first_entry ------------------------------------------------ */

static const char *const supplier_keys[] = {"name", "contact", NULL};

static SlStmt first_entry_stmt = {
	"WITH nb AS (INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left,"
	"   produced_on, expires_on, lot, origin, supplier, certificate, received_at)"
	"  VALUES (shilian.trace_code_next($1), $2, $3, $4, $4, $5, $6, $7, 'first_entry', $8, $9, $12)"
	"  RETURNING *),"
	" ins AS (INSERT INTO shilian.inspection (batch_id, operator_id, kind, result, report, inspected_at)"
	"  SELECT nb.id, $2, 'incoming', $10, $11, $12 FROM nb WHERE $11 IS NOT NULL RETURNING id)"
	" SELECT nb.trace_code, jsonb_build_object('batch', to_jsonb(nb.*), 'inspection_id', ins.id)"
	" FROM nb LEFT JOIN ins ON true",
	12, {"text", "bigint", "bigint", "shilian.qty", "date", "date", "text", "jsonb", "jsonb",
		"text", "jsonb", "timestamptz"}
};

/*
 * The rules of a first entry, in their order (the bulk import gives a refused
 * line the very refusal receive_first_entry() raises): the buyer may record,
 * is registered and active, the product is registered, the quantity
 * positive, the supplier's identity and the incoming inspection (if any)
 * complete, the production date not after the receipt, the goods not
 * expired on receipt (production date plus shelf life), the certificate (if
 * any) a JSON object, and the inspection's result.
 */
bool
RecordFirstEntryCheck(SlLookup *lk, SlFirstEntry *s, SlRefusal *r)
{
	int32		shelf;

	s->day = TimestampDate(s->at);
	s->expires = 0;
	s->result = NULL;
	if (!lk->may_act(lk, s->buyer, "receive", r) ||
		!CheckOperatorActive(lk, s->buyer, "buyer", &s->buyer_info, r) ||
		!CheckProductKnown(lk, s->product, &s->has_expiry, &shelf, r) ||
		!CheckPositive(s->q, "the received quantity", r) ||
		!CheckDocument(s->supplier, "supplier", supplier_keys, r) ||
		!CheckIncoming(s->inspection, r) ||
		!CheckDateOrder("production date", s->produced, "receipt date", s->day, r))
		return false;
	if (s->has_expiry)
	{
		s->expires = s->produced + shelf;
		if (s->day > s->expires)
			return Refuse(r, SL_BATCH_EXPIRED, NULL, NULL,
						  "batch expired: goods produced on %s expired on %s, receipt date is %s",
						  DateText(s->produced), DateText(s->expires), DateText(s->day));
	}
	if (s->certificate != NULL &&
		!CheckDocument(s->certificate, "certificate", (const char *const[]) {NULL}, r))
		return false;
	return s->inspection == NULL || CheckInspectionResult(s->inspection, &s->result, r);
}

/*
 * receive_first_entry(buyer, product, qty, supplier, inspection, produced_on,
 * received_at, lot, certificate) → trace_code: goods from a supplier without
 * records of its own (a farmer at a market); the supplier's identity is kept
 * on the batch.
 */
PG_FUNCTION_INFO_V1(sl_receive_first_entry);
Datum
sl_receive_first_entry(PG_FUNCTION_ARGS)
{
	SlFirstEntry s;
	SlRefusal	refusal;
	Datum		v[12];
	char		n[13] = "            ";
	TraceCode	code;

	RecordRequire(fcinfo, 0, "buyer");
	RecordRequire(fcinfo, 1, "product");
	RecordRequire(fcinfo, 2, "qty");
	RecordRequire(fcinfo, 3, "supplier");
	RecordRequire(fcinfo, 5, "produced_on");
	RecordRequire(fcinfo, 6, "received_at");
	memset(&s, 0, sizeof(s));
	s.buyer = PG_GETARG_INT64(0);
	s.product = PG_GETARG_INT64(1);
	s.q = PG_GETARG_QTY(2);
	s.supplier = PG_GETARG_JSONB_P(3);
	/* optional (CheckIncoming): NULL records the first entry without one */
	s.inspection = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	s.produced = PG_GETARG_DATEADT(5);
	s.at = PG_GETARG_TIMESTAMPTZ(6);
	s.certificate = PG_ARGISNULL(8) ? NULL : PG_GETARG_JSONB_P(8);

	SlSpiConnect();
	if (!RecordFirstEntryCheck(&sql_lookup, &s, &refusal))
		RecordRaise(&refusal);

	v[0] = PointerGetDatum(RegionOf(s.buyer_info.station));
	v[1] = Int64GetDatum(s.buyer);
	v[2] = Int64GetDatum(s.product);
	v[3] = QtyGetDatum(s.q);
	v[4] = DateADTGetDatum(s.produced);
	v[5] = DateADTGetDatum(s.expires);
	n[5] = s.has_expiry ? ' ' : 'n';
	v[6] = PG_ARGISNULL(7) ? (Datum) 0 : PG_GETARG_DATUM(7);
	n[6] = PG_ARGISNULL(7) ? 'n' : ' ';
	v[7] = JsonbPGetDatum(s.supplier);
	v[8] = s.certificate ? JsonbPGetDatum(s.certificate) : (Datum) 0;
	n[8] = s.certificate ? ' ' : 'n';
	if (s.inspection != NULL)
	{
		v[9] = PointerGetDatum(s.result);
		v[10] = JsonbPGetDatum(s.inspection);
	}
	else
	{
		v[9] = v[10] = (Datum) 0;
		n[9] = n[10] = 'n';
	}
	v[11] = TimestampTzGetDatum(s.at);
	SlExec(&first_entry_stmt, v, n, 0);
	code = DatumGetTraceCode(SlGet(0, 1, NULL));
	RecordToLedger(s.buyer, "receive_first_entry", s.day, JsonbResult(0, 2));
	SPI_finish();
	PG_RETURN_TRACE_CODE(code);
}

/* ---- transform ---------------------------------------------------------- */

/* Inputs locked in id order, so two transforms sharing inputs cannot deadlock. */
static SlStmt inputs_lock_stmt = {
	"SELECT " SL_BATCH_COLS ", b.trace_code" SL_BATCH_FROM
	" WHERE b.trace_code OPERATOR(shilian.=) ANY ($1) ORDER BY b.id FOR UPDATE OF b",
	1, {"shilian.trace_code[]"}
};

static SlStmt transform_stmt = {
	"WITH nb AS (INSERT INTO shilian.batch (trace_code, owner_id, product_id, qty, qty_left,"
	"   produced_on, expires_on, lot, origin)"
	"  VALUES (shilian.trace_code_next($1), $2, $3, $4, $4, $5, $6, $7, 'transformed') RETURNING *),"
	" li AS (INSERT INTO shilian.link (kind, from_batch, to_batch, seller_id, buyer_id, qty_shipped,"
	"   qty_accepted, shipped_on, received_at, status)"
	"  SELECT 'transform', u.id, nb.id, $2, $2, u.q, u.q, $5, at.t, 'received'"
	"  FROM nb, unnest($8::bigint[], $9::shilian.qty[]) AS u(id, q), (" SL_TRANSFORM_AT("$5", "$8", "$10") ") AS at(t)"
	"  RETURNING *),"
	" ub AS (UPDATE shilian.batch b SET qty_left = u.l FROM unnest($8::bigint[], $11::shilian.qty[]) AS u(id, l)"
	"  WHERE b.id = u.id)"
	" SELECT nb.trace_code, jsonb_build_object('batch', to_jsonb(nb.*),"
	"   'inputs', (SELECT jsonb_agg(to_jsonb(li.*) ORDER BY li.from_batch) FROM li))"
	" FROM nb",
	11, {"text", "bigint", "bigint", "shilian.qty", "date", "date", "text", "bigint[]",
		"shilian.qty[]", "timestamptz", "shilian.qty[]"}
};

/*
 * The rules of a transformation, in their order (the bulk import gives a
 * refused line the very refusal transform() raises): the inputs and
 * quantities (non-empty, as many of each, no nulls, no input twice), every
 * input known, the operator (the argument, else the acting operator, else
 * the first input's holder) may record and is active, the product known, the
 * output quantity positive, the production date not in the future and not
 * after the expiry date given, then each input in turn: held by the
 * operator, its quantity positive and in its unit, produced no later than
 * the output, not expired on the production date, its balance.
 */
bool
RecordTransformCheck(SlLookup *lk, SlTransform *s, SlRefusal *r)
{
	bool		has_shelf;
	int32		shelf;

	if (s->ncodes == 0 || s->ncodes != s->nqtys)
	{
		Refuse(r, ERRCODE_INVALID_PARAMETER_VALUE, NULL, NULL,
			   "inputs and qtys must be non-empty arrays of the same length");
		r->detail = psprintf("There are %d inputs and %d quantities.", s->ncodes, s->nqtys);
		return false;
	}
	for (int i = 0; i < s->ncodes; i++)
	{
		if (s->code_null[i] || s->qty_null[i])
			return Refuse(r, ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL, NULL,
						  "argument %s must not contain nulls", s->code_null[i] ? "inputs" : "qtys");
		for (int j = 0; j < i; j++)
			if (s->codes[j] == s->codes[i])
				return Refuse(r, ERRCODE_INVALID_PARAMETER_VALUE, NULL, NULL,
							  "input batch %s is listed twice", TraceCodeToCString(s->codes[i]));
	}
	s->in = palloc0_array(SlBatch *, s->ncodes);
	for (int i = 0; i < s->ncodes; i++)
	{
		s->in[i] = lk->batch(lk, s->codes[i]);
		if (!CheckBatchKnown(s->in[i], s->codes[i], r))
			return false;
	}
	if (!s->has_operator)
	{
		int64		acting = RecordActingOperator();

		s->operator_id = acting != 0 ? acting : s->in[0]->owner;
	}
	if (!lk->may_act(lk, s->operator_id, "transform", r) ||
		!CheckActorActive(lk, s->in[0], s->operator_id, "operator", &s->op_info, r) ||
		!CheckProductKnown(lk, s->product, &has_shelf, &shelf, r) ||
		!CheckPositive(s->q, "the output quantity", r) ||
		!CheckNotFuture(s->produced, r))
		return false;
	if (s->has_expiry)
	{
		if (!CheckDateOrder("production date", s->produced, "expiry date", s->expires, r))
			return false;
	}
	else if (has_shelf)
	{
		s->has_expiry = true;
		s->expires = s->produced + shelf;
	}
	for (int i = 0; i < s->ncodes; i++)
	{
		SlBatch    *b = s->in[i];
		Qty			q = s->qtys[i];

		if (!CheckOwner(b->code, b->owner, s->operator_id, "operator", r) ||
			!CheckPositive(q, "an input quantity", r) ||
			!CheckDimension(b->code, b->qty, q, r) ||
			!CheckDateOrder("input production date", b->produced, "production date", s->produced, r) ||
			!CheckNotExpired(b->code, b->has_expiry, b->expires, "production date", s->produced, r) ||
			!CheckBalance(b->code, b->left, q, r))
			return false;
	}
	return true;
}

/* transform()'s lookup: the inputs locked by inputs_lock_stmt; the rest as the record functions read it. */
typedef struct TransformLookup
{
	SlLookup	base;
	SlBatch    *in;
	int			n;
} TransformLookup;

static SlBatch *
TransformBatch(SlLookup *self, TraceCode code)
{
	TransformLookup *t = (TransformLookup *) self;

	for (int i = 0; i < t->n; i++)
		if (t->in[i].id != 0 && t->in[i].code == code)
			return &t->in[i];
	return NULL;
}

/*
 * transform(inputs, qtys, product, qty, produced_on, lot, expires_on,
 * operator) → trace_code: processing or mixing several input batches into
 * one new batch; each input quantity leaves that input's balance.
 */
PG_FUNCTION_INFO_V1(sl_transform);
Datum
sl_transform(PG_FUNCTION_ARGS)
{
	ArrayType  *codes_a;
	ArrayType  *qtys_a;
	Datum	   *codes;
	Datum	   *qtys;
	Oid			qtyoid;
	SlTransform s;
	SlRefusal	refusal;
	TransformLookup lk;
	Datum	   *ids;
	Datum	   *lefts;
	Datum		v[11];
	char		n[12] = "           ";
	TraceCode	code;

	RecordRequire(fcinfo, 0, "inputs");
	RecordRequire(fcinfo, 1, "qtys");
	RecordRequire(fcinfo, 2, "product");
	RecordRequire(fcinfo, 3, "qty");
	RecordRequire(fcinfo, 4, "produced_on");
	codes_a = PG_GETARG_ARRAYTYPE_P(0);
	qtys_a = PG_GETARG_ARRAYTYPE_P(1);
	qtyoid = ARR_ELEMTYPE(qtys_a);
	memset(&s, 0, sizeof(s));
	deconstruct_array(codes_a, ARR_ELEMTYPE(codes_a), 8, true, TYPALIGN_DOUBLE, &codes, &s.code_null, &s.ncodes);
	deconstruct_array(qtys_a, qtyoid, 8, true, TYPALIGN_DOUBLE, &qtys, &s.qty_null, &s.nqtys);
	s.codes = palloc_array(TraceCode, Max(s.ncodes, 1));
	for (int i = 0; i < s.ncodes; i++)
		s.codes[i] = s.code_null[i] ? 0 : DatumGetTraceCode(codes[i]);
	s.qtys = palloc_array(Qty, Max(s.nqtys, 1));
	for (int i = 0; i < s.nqtys; i++)
		s.qtys[i] = s.qty_null[i] ? 0 : DatumGetQty(qtys[i]);
	s.product = PG_GETARG_INT64(2);
	s.q = PG_GETARG_QTY(3);
	s.produced = PG_GETARG_DATEADT(4);
	s.has_expiry = !PG_ARGISNULL(6);
	s.expires = s.has_expiry ? PG_GETARG_DATEADT(6) : 0;
	s.has_operator = !PG_ARGISNULL(7);
	s.operator_id = s.has_operator ? PG_GETARG_INT64(7) : 0;

	SlSpiConnect();
	lk.base = sql_lookup;
	lk.base.batch = TransformBatch;
	lk.in = NULL;
	lk.n = 0;
	/* the inputs, locked at once in id order, once the arrays are known good */
	if (s.ncodes > 0 && s.ncodes == s.nqtys &&
		!array_contains_nulls(codes_a) && !array_contains_nulls(qtys_a))
	{
		v[0] = PG_GETARG_DATUM(0);
		SlExec(&inputs_lock_stmt, v, NULL, 0);
		lk.in = palloc0_array(SlBatch, s.ncodes);
		lk.n = s.ncodes;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			TraceCode	c = DatumGetTraceCode(SlGet(r, 15, NULL));

			for (int i = 0; i < s.ncodes; i++)
				if (s.codes[i] == c)
					RecordBatchFill(&lk.in[i], c, r);
		}
	}
	if (!RecordTransformCheck(&lk.base, &s, &refusal))
		RecordRaise(&refusal);

	ids = palloc_array(Datum, s.ncodes);
	lefts = palloc_array(Datum, s.ncodes);
	for (int i = 0; i < s.ncodes; i++)
	{
		ids[i] = Int64GetDatum(s.in[i]->id);
		lefts[i] = QtyGetDatum(QtySub(s.in[i]->left, s.qtys[i]));
	}
	v[0] = PointerGetDatum(RegionOf(s.op_info.station));
	v[1] = Int64GetDatum(s.operator_id);
	v[2] = Int64GetDatum(s.product);
	v[3] = QtyGetDatum(s.q);
	v[4] = DateADTGetDatum(s.produced);
	v[5] = DateADTGetDatum(s.expires);
	n[5] = s.has_expiry ? ' ' : 'n';
	v[6] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	n[6] = PG_ARGISNULL(5) ? 'n' : ' ';
	v[7] = PointerGetDatum(construct_array(ids, s.ncodes, INT8OID, 8, true, TYPALIGN_DOUBLE));
	v[8] = PointerGetDatum(construct_array(qtys, s.ncodes, qtyoid, 8, true, TYPALIGN_DOUBLE));
	v[9] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	v[10] = PointerGetDatum(construct_array(lefts, s.ncodes, qtyoid, 8, true, TYPALIGN_DOUBLE));
	SlExec(&transform_stmt, v, n, 0);
	code = DatumGetTraceCode(SlGet(0, 1, NULL));
	RecordToLedger(s.operator_id, "transform", s.produced, JsonbResult(0, 2));
	SPI_finish();
	PG_RETURN_TRACE_CODE(code);
}

/* ---- consume ------------------------------------------------------------ */

static SlStmt consume_stmt = {
	"WITH c AS (INSERT INTO shilian.consumption (batch_id, operator_id, qty, kind, consumed_at, note)"
	"  VALUES ($1, $2, $3, $4, $5, $6) RETURNING *),"
	" u AS (UPDATE shilian.batch SET qty_left = $7 WHERE id = $1)"
	" SELECT id, to_jsonb(c.*) FROM c",
	7, {"bigint", "bigint", "shilian.qty", "text", "timestamptz", "text", "shilian.qty"}
};

/*
 * The rules of a consumption, in their order (the bulk import gives a
 * refused line the very refusal consume() raises): the kind, the batch, the
 * operator (the argument, else the acting operator, else the holder) may
 * record, is active and holds the batch, the quantity (positive, the
 * batch's unit), the date, the expiry (expired food may still be destroyed
 * or kept as a sample, never served or sold) and the balance.
 */
bool
RecordConsumeCheck(SlLookup *lk, SlConsume *s, SlRefusal *r)
{
	SlBatch    *b;

	s->day = TimestampDate(s->at);
	if (strcmp(s->kind, "served") != 0 && strcmp(s->kind, "retail_sold") != 0 &&
		strcmp(s->kind, "destroyed") != 0 && strcmp(s->kind, "sample_kept") != 0)
		return Refuse(r, ERRCODE_INVALID_PARAMETER_VALUE, NULL,
					  "Use \"served\", \"retail_sold\", \"destroyed\" or \"sample_kept\".",
					  "unknown consumption kind \"%s\"", s->kind);
	b = lk->batch(lk, s->code);
	if (!CheckBatchKnown(b, s->code, r))
		return false;
	s->batch = b;
	if (!s->has_operator)
	{
		int64		acting = RecordActingOperator();

		s->operator_id = acting != 0 ? acting : b->owner;
	}
	return lk->may_act(lk, s->operator_id, "consume", r) &&
		CheckActorActive(lk, b, s->operator_id, "operator", NULL, r) &&
		CheckOwner(s->code, b->owner, s->operator_id, "operator", r) &&
		CheckPositive(s->q, "the consumed quantity", r) &&
		CheckDimension(s->code, b->qty, s->q, r) &&
		CheckDateOrder("production date", b->produced, "consumption date", s->day, r) &&
		((strcmp(s->kind, "served") != 0 && strcmp(s->kind, "retail_sold") != 0) ||
		 CheckNotExpired(s->code, b->has_expiry, b->expires, "consumption date", s->day, r)) &&
		CheckBalance(s->code, b->left, s->q, r);
}

/* consume(code, qty, kind, consumed_at, note, operator) → consumption id */
PG_FUNCTION_INFO_V1(sl_consume);
Datum
sl_consume(PG_FUNCTION_ARGS)
{
	SlConsume	s;
	SlRefusal	r;
	Datum		v[7];
	char		n[8] = "       ";
	int64		id;

	RecordRequire(fcinfo, 0, "code");
	RecordRequire(fcinfo, 1, "qty");
	RecordRequire(fcinfo, 2, "kind");
	RecordRequire(fcinfo, 3, "consumed_at");
	memset(&s, 0, sizeof(s));
	s.code = PG_GETARG_TRACE_CODE(0);
	s.q = PG_GETARG_QTY(1);
	s.kind = text_to_cstring(PG_GETARG_TEXT_PP(2));
	s.at = PG_GETARG_TIMESTAMPTZ(3);
	s.has_operator = !PG_ARGISNULL(5);
	s.operator_id = s.has_operator ? PG_GETARG_INT64(5) : 0;

	SlSpiConnect();
	if (!RecordConsumeCheck(&sql_lookup, &s, &r))
		RecordRaise(&r);

	v[0] = Int64GetDatum(s.batch->id);
	v[1] = Int64GetDatum(s.operator_id);
	v[2] = QtyGetDatum(s.q);
	v[3] = CStringGetTextDatum(s.kind);
	v[4] = TimestampTzGetDatum(s.at);
	v[5] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	n[5] = PG_ARGISNULL(4) ? 'n' : ' ';
	v[6] = QtyGetDatum(QtySub(s.batch->left, s.q));
	SlExec(&consume_stmt, v, n, 0);
	id = DatumGetInt64(SlGet(0, 1, NULL));
	RecordToLedger(s.operator_id, "consume", s.day, JsonbResult(0, 2));
	SPI_finish();
	PG_RETURN_INT64(id);
}
