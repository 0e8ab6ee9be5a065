/*
 * api.c — the route table: every REST route, who may call it, its JSON body
 * schema and, for SQL routes, the one statement it runs with where each $n
 * comes from. The rules live in the extension; these statements only call
 * its functions and shape the JSON. Ids and trace codes go out as strings.
 *
 * The table is also the API's contract: /openapi.json (openapi.c), the
 * dispatcher's parameter checks (request.c) and docs/rest.md's route table
 * (checked by tests/gateway/061_rest_doc_routes.pl) all come from it.
 * A row is
 *
 *   {METHOD, PATTERN, handler, flags, summary, body fields, roles, sql, args,
 *    .op = "camelCaseOperationId",      unique; required
 *    .params = p_xxx,                   path, query and header parameters
 *    .response = "SchemaName",          a schema of schemas.c, or a media type
 *                                       ("text/csv", "text/plain", "application/x-ndjson")
 *    .location = "/v1/things/{id}"}     a 201's Location, {name} from the reply body
 *
 * Parameters are declared with PATH(), QUERY() and HEADER() below, each
 * with its type (GW_STRING, GW_INTEGER, GW_BOOLEAN, GW_ID, GW_DATE,
 * GW_DATETIME) and its rules after the description as designated
 * initializers (.pattern = POSIX ERE also used as the OpenAPI pattern,
 * .values = an enum, .has_min/.min, .has_max/.max, .required). Every path
 * parameter of the pattern is declared in order; a query parameter a route
 * does not declare is refused with 400 GW400 naming it, and so is a value
 * that breaks its declaration. A route's "query:NAME" argument reads the
 * validated value. A route with limit= and offset= also pages by the Range
 * header (206 Partial Content, 416).
 */
#include "gateway.h"

/* ---- declared parameters (see the comment at the top) ---------------------- */

#define PATH(n, t, d, ...) {.name = (n), .in = GW_IN_PATH, .type = (t), .required = true, .description = (d), __VA_ARGS__}
#define QUERY(n, t, d, ...) {.name = (n), .in = GW_IN_QUERY, .type = (t), .description = (d), __VA_ARGS__}
#define HEADER(n, t, d, ...) {.name = (n), .in = GW_IN_HEADER, .type = (t), .description = (d), __VA_ARGS__}
#define MIN(n) .has_min = true, .min = (n)
#define RANGE(a, b) .has_min = true, .min = (a), .has_max = true, .max = (b)

#define P_ID(n) PATH(n, GW_ID, "id (digits)")
#define P_CODE PATH("code", GW_STRING, "trace code (追溯码)")
#define P_JURISDICTION PATH("code", GW_STRING, "jurisdiction code (the regulator's own or one below it)")
#define Q_LIMIT QUERY("limit", GW_INTEGER, "rows per page (default 100, at most 1000)", RANGE(0, 1000))
#define Q_OFFSET QUERY("offset", GW_INTEGER, "rows to skip; reads every skipped row, so prefer after", \
	RANGE(0, 2147483647))
#define Q_FROM QUERY("from", GW_DATE, "first day of the period (inclusive; open when left out)")
#define Q_TO QUERY("to", GW_DATE, "last day of the period (inclusive; open when left out)")
#define Q_OPERATOR QUERY("operator", GW_ID, "one operator's chain only")

static const char *const operator_status_values[] = {"registered", "active", "suspended", NULL};
static const char *const segment_values[] = {"production", "circulation", "catering", "special_food", NULL};
static const char *const direction_values[] = {"forward", "backward", NULL};
static const char *const line_status_values[] = {"accepted", "refused", "rolled_back", NULL};
static const char *const import_mode_values[] = {"apply_valid", "all_or_nothing", NULL};
static const char *const import_kind_values[] = {
	"operator", "licence", "product", "batch", "inspection", "ship", "receive", "transform", "consume", NULL
};
static const char *const record_kind_values[] = {"receipt", "first_entry", "release", "sale", "incoming", NULL};

static const GwParam p_id[] = {P_ID("id"), {NULL}};
static const GwParam p_code[] = {P_CODE, {NULL}};
static const GwParam p_link[] = {P_ID("link"), {NULL}};
static const GwParam p_client[] = {PATH("client", GW_STRING, "client id", .pattern = "^[A-Za-z0-9._-]{1,64}$"), {NULL}};
static const GwParam p_client_id[] = {
	PATH("client", GW_STRING, "client id", .pattern = "^[A-Za-z0-9._-]{1,64}$"), P_ID("id"), {NULL}
};
static const GwParam p_client_key[] = {
	PATH("client", GW_STRING, "client id", .pattern = "^[A-Za-z0-9._-]{1,64}$"),
	PATH("key_id", GW_STRING, "the key's public id"), {NULL}
};
static const GwParam p_operators[] = {
	QUERY("status", GW_STRING, "only operators of this status", .values = operator_status_values),
	QUERY("segment", GW_STRING, "only operators of this supervision segment", .values = segment_values),
	QUERY("station", GW_STRING, "only operators of this home station (jurisdiction code)"),
	Q_LIMIT, Q_OFFSET, {NULL}
};
static const GwParam p_batches[] = {
	Q_LIMIT,
	QUERY("after", GW_ID, "keyset cursor: the id of the last row of the page before (the Link rel=next of a full page carries it)"),
	Q_OFFSET,
	HEADER("Prefer", GW_STRING, "count=exact: count the total into Content-Range (PostgREST's convention); otherwise the total is *"),
	{NULL}
};
static const GwParam p_completeness[] = {
	PATH("kind", GW_STRING, "receipt (id: the received sale's link), first_entry (id: the batch), release or sale "
		 "(id: a sale link); incoming (id: an incoming inspection) is deprecated",
		 .values = record_kind_values),
	P_ID("id"), {NULL}
};
/* corrections (part 83): the record kinds correct() and retract() take */
static const char *const correction_kind_values[] = {"batch", "link", "inspection", "consumption", "transformation", NULL};
static const GwParam p_correction[] = {
	PATH("kind", GW_STRING, "batch, link (a sale), inspection, consumption or transformation (id: its output batch)",
		 .values = correction_kind_values),
	P_ID("id"), {NULL}
};
static const GwParam p_trace[] = {
	P_CODE,
	QUERY("max_depth", GW_INTEGER, "steps to follow at most (default: all)", RANGE(0, 1000)),
	QUERY("as_of", GW_DATETIME, "the chain as it stood then (default now)"),
	{NULL}
};
static const GwParam p_graph[] = {
	P_CODE,
	QUERY("direction", GW_STRING, "forward (default) or backward", .values = direction_values),
	QUERY("max_depth", GW_INTEGER, "steps to follow at most (default: all)", RANGE(0, 1000)),
	{NULL}
};
static const GwParam p_public_trace[] = {
	P_CODE,
	QUERY("t", GW_STRING, "the lot's public token, printed with the code (QR / Digital Link); without it, or with a wrong one, the reply is 404 SLP01 as for an unknown code"),
	{NULL}
};
static const GwParam p_label_sheet[] = {
	QUERY("date", GW_DATE, "the day whose lots are printed (YYYY-MM-DD)", .required = true), {NULL}
};
#define Q_TOKEN QUERY("t", GW_STRING, "the lot's public token, printed with the code (QR / Digital Link)")
#define Q_LANG QUERY("lang", GW_STRING, "en for the English page (Chinese by default)", .values = lang_values)
#define Q_LINKTYPE QUERY("linkType", GW_STRING, "a GS1 link type (gs1:pip, gs1:traceability, gs1:recallStatus): 307 to " \
	"that link; linkset or all: the linkset; another type: the default link, as the Digital Link resolver standard says")
#define P_GTIN PATH("gtin", GW_STRING, "GTIN-8, -12, -13 or -14 (digits)")
#define P_LOT PATH("lot", GW_STRING, "the lot or batch number (AI 10)")
#define P_SERIAL PATH("serial", GW_STRING, "the serial (AI 21): the lot's trace code")
static const char *const lang_values[] = {"zh", "en", NULL};
static const GwParam p_dl_lot[] = {P_GTIN, P_LOT, Q_TOKEN, Q_LANG, Q_LINKTYPE, {NULL}};
static const GwParam p_dl_lot_serial[] = {P_GTIN, P_LOT, P_SERIAL, Q_TOKEN, Q_LANG, Q_LINKTYPE, {NULL}};
static const GwParam p_dl_serial[] = {P_GTIN, P_SERIAL, Q_TOKEN, Q_LANG, Q_LINKTYPE, {NULL}};
static const GwParam p_dl_gtin[] = {P_GTIN, Q_TOKEN, Q_LANG, Q_LINKTYPE, {NULL}};
static const GwParam p_dl_code[] = {P_CODE, Q_TOKEN, Q_LANG, Q_LINKTYPE, {NULL}};
const GwParam gw_acting_params[] = {
	QUERY("operator", GW_ID, "the operator this request acts for: needed by a system client bound to several operators "
		  "(400 SLA01 without it), checked against its bindings (403 GW403); an operator's own token may name only itself"),
	HEADER("X-Shilian-Operator", GW_ID, "the acting operator, as the operator query parameter (the two must agree)"),
	{NULL}
};
const GwParam gw_read_params[] = {
	HEADER("Shilian-Min-LSN", GW_STRING, "read-your-own-writes: a write's Shilian-Commit-LSN; a hot standby serves "
		   "the read only once it has replayed it, else the primary does (400 SLG03 if malformed)",
		   .pattern = "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"),
	{NULL}
};
static const GwParam p_bindings[] = {
	QUERY("operator", GW_ID, "only the bindings of this operator (for an operator: itself)"), {NULL}
};
static const GwParam p_binding[] = {
	PATH("client", GW_STRING, "client id", .pattern = "^[A-Za-z0-9._-]{1,64}$"), P_ID("operator"), {NULL}
};
static const char *const delivery_status_values[] = {"pending", "delivered", "dead", "cancelled", NULL};
static const GwParam p_webhooks[] = {
	QUERY("all", GW_BOOLEAN, "true: removed subscriptions too"), {NULL}
};
static const GwParam p_webhook_log[] = {
	P_ID("id"),
	QUERY("status", GW_STRING, "only deliveries of this status", .values = delivery_status_values),
	QUERY("limit", GW_INTEGER, "deliveries per page (default 100)", RANGE(1, 1000)),
	QUERY("before", GW_ID, "keyset cursor: deliveries with a smaller id"),
	{NULL}
};
static const GwParam p_accept_note[] = {
	HEADER("Accept", GW_STRING, "text/plain for the signed note itself (C2SP tlog-checkpoint), else JSON"), {NULL}
};
static const GwParam p_note_size[] = {
	P_ID("size"),
	HEADER("Accept", GW_STRING, "text/plain for the signed note itself (C2SP tlog-checkpoint), else JSON"), {NULL}
};
static const GwParam p_period[] = {P_JURISDICTION, Q_FROM, Q_TO, {NULL}};
static const GwParam p_inactive[] = {
	P_JURISDICTION, QUERY("since", GW_DATE, "no record since this day (default 30 days ago)"), {NULL}
};
static const GwParam p_report[] = {
	P_JURISDICTION,
	QUERY("month", GW_STRING, "YYYY-MM (default the previous month)", .pattern = "^[0-9]{4}-(0[1-9]|1[0-2])$"),
	{NULL}
};
static const GwParam p_broken[] = {
	P_JURISDICTION, Q_FROM, Q_TO,
	QUERY("pending_days", GW_INTEGER, "days a shipment may stay unreceived (default 3)", RANGE(0, 2147483647)),
	{NULL}
};
static const GwParam p_spot[] = {
	P_JURISDICTION,
	QUERY("quarter", GW_STRING, "YYYYQn (default this quarter)", .pattern = "^[0-9]{4}Q[1-4]$"),
	QUERY("n", GW_INTEGER, "operators in the sample (default 10)", RANGE(0, 10000)),
	QUERY("seed", GW_INTEGER, "seed of the draw (default 0)", RANGE(0, 2147483647)),
	{NULL}
};
static const GwParam p_alerts[] = {
	P_JURISDICTION, QUERY("all", GW_BOOLEAN, "true: acknowledged alerts too"), {NULL}
};
static const GwParam p_verify[] = {Q_OPERATOR, {NULL}};
static const GwParam p_inclusion[] = {
	QUERY("entry", GW_ID, "the ledger entry", .required = true),
	QUERY("tree_size", GW_ID, "the log size (default: the latest checkpoint)"),
	{NULL}
};
static const GwParam p_consistency[] = {
	QUERY("old_size", GW_ID, "the earlier log size", .required = true),
	QUERY("new_size", GW_ID, "the later log size (default: the latest checkpoint)"),
	{NULL}
};
static const GwParam p_export[] = {
	QUERY("operator", GW_ID, "the operator whose chain to export", .required = true),
	QUERY("old_size", GW_ID, "a log size the verifier trusts: adds a consistency proof from it"),
	{NULL}
};
static const GwParam p_import[] = {
	QUERY("mode", GW_STRING, "apply_valid (default: keep the valid lines) or all_or_nothing",
		  .values = import_mode_values),
	QUERY("kind", GW_STRING, "the record kind of a text/csv upload (or the Import-Kind header)",
		  .values = import_kind_values),
	HEADER("Idempotency-Key", GW_STRING, "a retry with the same key answers the first job"),
	HEADER("Prefer", GW_STRING, "wait (or wait=N): answer 201 when the upload is applied instead of 202 once it is staged"),
	{NULL}
};
static const GwParam p_import_list[] = {
	QUERY("limit", GW_INTEGER, "jobs per page (default 50)", RANGE(1, 1000)),
	Q_OFFSET, {NULL}
};
static const GwParam p_import_lines[] = {
	P_ID("id"), QUERY("status", GW_STRING, "only lines of this status", .values = line_status_values), {NULL}
};
/* SimpleEventQuery: every standard parameter epcis_query supports; others are refused as unknown */
static const GwParam p_epcis_events[] = {
	QUERY("eventType", GW_STRING, "event types, separated by |"),
	QUERY("GE_eventTime", GW_STRING, "events at or after this time (RFC 3339 with offset)"),
	QUERY("LT_eventTime", GW_STRING, "events before this time"),
	QUERY("GE_recordTime", GW_STRING, "events recorded at or after this time"),
	QUERY("LT_recordTime", GW_STRING, "events recorded before this time"),
	QUERY("EQ_action", GW_STRING, "ADD, OBSERVE, DELETE, separated by |"),
	QUERY("EQ_bizStep", GW_STRING, "business steps (CBV term in any spelling, or an extension URI), separated by |"),
	QUERY("EQ_disposition", GW_STRING, "dispositions, separated by |"),
	QUERY("EQ_readPoint", GW_STRING, "read points, separated by |"),
	QUERY("WD_readPoint", GW_STRING, "read points (no hierarchy: as EQ_readPoint)"),
	QUERY("EQ_bizLocation", GW_STRING, "business locations, separated by |"),
	QUERY("WD_bizLocation", GW_STRING, "business locations (no hierarchy: as EQ_bizLocation)"),
	QUERY("EQ_transformationID", GW_STRING, "transformation ids, separated by |"),
	QUERY("MATCH_epc", GW_STRING, "EPCs or EPC patterns in epcList/childEPCs"),
	QUERY("MATCH_parentID", GW_STRING, "parent ids (SSCC, ...)"),
	QUERY("MATCH_inputEPC", GW_STRING, "EPCs in inputEPCList"),
	QUERY("MATCH_outputEPC", GW_STRING, "EPCs in outputEPCList"),
	QUERY("MATCH_anyEPC", GW_STRING, "EPCs in any role"),
	QUERY("MATCH_epcClass", GW_STRING, "EPC classes (LGTIN URIs), separated by |"),
	QUERY("MATCH_inputEPCClass", GW_STRING, "EPC classes in inputQuantityList"),
	QUERY("MATCH_outputEPCClass", GW_STRING, "EPC classes in outputQuantityList"),
	QUERY("MATCH_anyEPCClass", GW_STRING, "EPC classes in any role, separated by |"),
	QUERY("EQ_eventID", GW_STRING, "eventIDs, separated by |"),
	QUERY("EXISTS_errorDeclaration", GW_STRING, "only events with an error declaration (no value)"),
	QUERY("orderBy", GW_STRING, "eventTime or recordTime"),
	QUERY("orderDirection", GW_STRING, "ASC or DESC (DESC with orderBy)"),
	QUERY("eventCountLimit", GW_STRING, "at most this many events, the first in orderBy order"),
	QUERY("maxEventCount", GW_STRING, "refuse (413) a query matching more events"),
	QUERY("perPage", GW_INTEGER, "events per page (default 30)", RANGE(1, 1000)),
	QUERY("nextPageToken", GW_STRING, "the token of the Link rel=next"),
	{NULL}
};
static const GwParam p_epcis_type_events[] = {
	PATH("eventType", GW_STRING, "ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent or AssociationEvent"),
	QUERY("GE_eventTime", GW_STRING, "events at or after this time (RFC 3339 with offset)"),
	QUERY("LT_eventTime", GW_STRING, "events before this time"),
	QUERY("GE_recordTime", GW_STRING, "events recorded at or after this time"),
	QUERY("LT_recordTime", GW_STRING, "events recorded before this time"),
	QUERY("EQ_action", GW_STRING, "ADD, OBSERVE, DELETE, separated by |"),
	QUERY("EQ_bizStep", GW_STRING, "business steps (CBV term in any spelling, or an extension URI), separated by |"),
	QUERY("EQ_disposition", GW_STRING, "dispositions, separated by |"),
	QUERY("EQ_readPoint", GW_STRING, "read points, separated by |"),
	QUERY("WD_readPoint", GW_STRING, "read points (no hierarchy: as EQ_readPoint)"),
	QUERY("EQ_bizLocation", GW_STRING, "business locations, separated by |"),
	QUERY("WD_bizLocation", GW_STRING, "business locations (no hierarchy: as EQ_bizLocation)"),
	QUERY("EQ_transformationID", GW_STRING, "transformation ids, separated by |"),
	QUERY("MATCH_epc", GW_STRING, "EPCs or EPC patterns in epcList/childEPCs"),
	QUERY("MATCH_parentID", GW_STRING, "parent ids (SSCC, ...)"),
	QUERY("MATCH_inputEPC", GW_STRING, "EPCs in inputEPCList"),
	QUERY("MATCH_outputEPC", GW_STRING, "EPCs in outputEPCList"),
	QUERY("MATCH_anyEPC", GW_STRING, "EPCs in any role"),
	QUERY("MATCH_epcClass", GW_STRING, "EPC classes (LGTIN URIs), separated by |"),
	QUERY("MATCH_inputEPCClass", GW_STRING, "EPC classes in inputQuantityList"),
	QUERY("MATCH_outputEPCClass", GW_STRING, "EPC classes in outputQuantityList"),
	QUERY("MATCH_anyEPCClass", GW_STRING, "EPC classes in any role, separated by |"),
	QUERY("EQ_eventID", GW_STRING, "eventIDs, separated by |"),
	QUERY("EXISTS_errorDeclaration", GW_STRING, "only events with an error declaration (no value)"),
	QUERY("orderBy", GW_STRING, "eventTime or recordTime"),
	QUERY("orderDirection", GW_STRING, "ASC or DESC (DESC with orderBy)"),
	QUERY("eventCountLimit", GW_STRING, "at most this many events, the first in orderBy order"),
	QUERY("maxEventCount", GW_STRING, "refuse (413) a query matching more events"),
	QUERY("perPage", GW_INTEGER, "events per page (default 30)", RANGE(1, 1000)),
	QUERY("nextPageToken", GW_STRING, "the token of the Link rel=next"),
	{NULL}
};
static const GwParam p_epcis_event[] = {PATH("eventID", GW_STRING, "the eventID (URL-encoded)"), {NULL}};
static const GwParam p_epcis_query_name[] = {
	PATH("queryName", GW_STRING, "the named query's name", .pattern = "^[A-Za-z0-9._-]{1,64}$"), {NULL}
};
static const GwParam p_item[] = {
	PATH("epc", GW_STRING, "the item's SGTIN: urn:epc:id:sgtin:... or a GS1 Digital Link .../01/<GTIN>/21/<serial> (URL-encoded)"),
	{NULL}
};
static const GwParam p_epcis_subscription[] = {
	PATH("queryName", GW_STRING, "the named query's name", .pattern = "^[A-Za-z0-9._-]{1,64}$"),
	PATH("subscriptionID", GW_STRING, "the subscription's id"),
	{NULL}
};
static const GwParam p_epcis_query_run[] = {
	PATH("queryName", GW_STRING, "the named query's name", .pattern = "^[A-Za-z0-9._-]{1,64}$"),
	QUERY("perPage", GW_INTEGER, "events per page (default: the query's, else 30)", RANGE(1, 1000)),
	QUERY("nextPageToken", GW_STRING, "the token of the Link rel=next"),
	{NULL}
};

#define ACTING "nullif(current_setting('shilian.operator_id'), '')::bigint"
#define LIMIT(n) "least(greatest(coalesce(" n "::int, 100), 0), 1000)"
#define OFFSET(n) "greatest(coalesce(" n "::int, 0), 0)"

/* ---- infrastructure ---------------------------------------------------- */

static const GwField hash_fields[] = {
	{"data_hex", GW_STRING, true, "the bytes to hash, hex-encoded"},
	{"algorithm", GW_STRING, false, "sha256 (default) or sm3"},
	{NULL}
};
static const char *const hash_args[] = {"body:data_hex", "body:algorithm", NULL};

/* GS1 master data: a GLN/PGLN or SGLN of an operator (gs1_location_register) */
static const GwField gs1_location_fields[] = {
	{"identifier", GW_STRING, true, "a GLN (13 digits), urn:epc:id:pgln:..., urn:epc:id:sgln:... or a Digital Link (AI 417/414)"},
	{"name", GW_STRING, false, "what it names (a field, a warehouse)"},
	{NULL}
};
static const char *const gs1_location_args[] = {"path:0", "body:identifier", "body:name", NULL};
static const char *const gs1_location_roles[] = {"operator", "regulator", "admin", NULL};

/* ---- registry ------------------------------------------------------------ */

static const GwField operator_fields[] = {
	{"name", GW_STRING, true, "registered name"},
	{"segment", GW_STRING, true, "production, circulation, catering or special_food"},
	{"kinds", GW_ARRAY, true, "e.g. [\"wholesaler\"], [\"school_canteen\"]"},
	{"station", GW_STRING, true, "home supervision station (jurisdiction code)"},
	{"address", GW_STRING, true, NULL},
	{"contact", GW_STRING, true, NULL},
	{"uscc", GW_STRING, false, "unified social credit code (enterprises)"},
	{"reg_card", GW_STRING, false, "registration card number (small vendors)"},
	{"own_system", GW_BOOLEAN, false, "runs its own traceability system"},
	{"regulator_contact", GW_STRING, false, NULL},
	{NULL}
};
static const char *const operator_args[] = {
	"body:name", "body:segment", "body:kinds", "body:station", "body:address", "body:contact",
	"body:uscc", "body:reg_card", "body:own_system", "body:regulator_contact", NULL
};

static const char *const path0[] = {"path:0", NULL};
static const char *const operator_list_args[] = {
	"query:status", "query:segment", "query:station", "query:limit", "query:offset", NULL
};

static const GwField licence_fields[] = {
	{"operator", GW_ID, false, "operator id (default: the acting operator)"},
	{"licence_no", GW_STRING, true, "SC or JY + 14 digits"},
	{"scope", GW_ARRAY, true, "categories covered"},
	{"valid_from", GW_DATE, true, "date"},
	{"valid_to", GW_DATE, true, "date"},
	{NULL}
};
static const char *const licence_args[] = {
	"body:operator", "body:licence_no", "body:scope", "body:valid_from", "body:valid_to", NULL
};

static const GwField product_fields[] = {
	{"name", GW_STRING, true, NULL},
	{"category", GW_STRING, true, "one of the ten key categories or other"},
	{"shelf_life_days", GW_INTEGER, false, NULL},
	{"spec", GW_STRING, false, "specification"},
	{"gtin", GW_STRING, false, "GTIN-8/12/13/14"},
	{"edible_agricultural", GW_BOOLEAN, false, NULL},
	{"owner", GW_ID, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const product_args[] = {
	"body:name", "body:category", "body:shelf_life_days", "body:spec", "body:gtin",
	"body:edible_agricultural", "body:owner", NULL
};

/* ---- records ------------------------------------------------------------- */

static const GwField batch_fields[] = {
	{"owner", GW_ID, false, "operator id (default: the acting operator)"},
	{"product", GW_ID, true, "product id"},
	{"qty", GW_STRING, true, "quantity with unit, e.g. \"500 kg\""},
	{"produced_on", GW_DATE, false, "date (default today)"},
	{"lot", GW_STRING, false, NULL},
	{"expires_on", GW_DATE, false, "date"},
	{"certificate", GW_OBJECT, false, "certificate or inspection report"},
	{NULL}
};
static const char *const batch_args[] = {
	"body:owner", "body:product", "body:qty", "body:produced_on", "body:lot", "body:expires_on",
	"body:certificate", NULL
};
static const char *const page_args[] = {"query:limit", "query:after", "query:offset", "header:Prefer", NULL};

static const GwField inspect_fields[] = {
	{"code", GW_STRING, true, "trace code"},
	{"kind", GW_STRING, true, "release (出厂检验), incoming (进货查验) or sampling"},
	{"result", GW_STRING, true, "pass or fail"},
	{"report", GW_OBJECT, true, "the inspection report"},
	{"inspected_at", GW_DATETIME, false, "timestamp (default now)"},
	{"operator", GW_ID, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const inspect_args[] = {
	"body:code", "body:kind", "body:result", "body:report", "body:inspected_at", "body:operator", NULL
};

static const GwField ship_fields[] = {
	{"code", GW_STRING, true, "trace code of the batch sold"},
	{"buyer", GW_ID, true, "buyer operator id"},
	{"qty", GW_STRING, true, "quantity with unit"},
	{"shipped_on", GW_DATE, false, "date (default today)"},
	{"seller", GW_ID, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const ship_args[] = {
	"body:code", "body:buyer", "body:qty", "body:shipped_on", "body:seller", NULL
};

static const GwField receive_fields[] = {
	{"link", GW_ID, true, "the pending shipment (link id)"},
	{"qty", GW_STRING, true, "accepted quantity"},
	{"inspection", GW_OBJECT, false, "incoming inspection record (进货查验; without it the receipt is recorded "
		"but incomplete in record_completeness)"},
	{"received_at", GW_DATETIME, false, "timestamp (default now)"},
	{"reject_reason", GW_STRING, false, "why less than shipped was accepted"},
	{"into_batch", GW_STRING, false, "an existing batch of the buyer to add to"},
	{NULL}
};
static const char *const receive_args[] = {
	"body:link", "body:qty", "body:inspection", "body:received_at", "body:reject_reason",
	"body:into_batch", NULL
};

static const GwField reject_fields[] = {
	{"reason", GW_STRING, true, NULL},
	{"rejected_at", GW_DATETIME, false, "timestamp (default now)"},
	{NULL}
};
static const char *const reject_args[] = {"path:0", "body:reason", "body:rejected_at", NULL};

static const GwField first_entry_fields[] = {
	{"buyer", GW_ID, false, "operator id (default: the acting operator)"},
	{"product", GW_ID, true, "product id"},
	{"qty", GW_STRING, true, "quantity with unit"},
	{"supplier", GW_OBJECT, true, "the supplier's identity (name, address, contact, ...)"},
	{"inspection", GW_OBJECT, false, "incoming inspection record (进货查验; without it the first entry is recorded "
		"but incomplete in record_completeness)"},
	{"produced_on", GW_DATE, false, "date (default today)"},
	{"received_at", GW_DATETIME, false, "timestamp (default now)"},
	{"lot", GW_STRING, false, NULL},
	{"certificate", GW_OBJECT, false, NULL},
	{NULL}
};
static const char *const first_entry_args[] = {
	"body:buyer", "body:product", "body:qty", "body:supplier", "body:inspection",
	"body:produced_on", "body:received_at", "body:lot", "body:certificate", NULL
};

static const GwField transform_fields[] = {
	{"inputs", GW_ARRAY, true, "trace codes of the input batches"},
	{"qtys", GW_ARRAY, true, "quantity taken from each input"},
	{"product", GW_ID, true, "product id of the output"},
	{"qty", GW_STRING, true, "output quantity"},
	{"produced_on", GW_DATE, false, "date (default today)"},
	{"lot", GW_STRING, false, NULL},
	{"expires_on", GW_DATE, false, "date"},
	{"operator", GW_ID, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const transform_args[] = {
	"body:inputs", "body:qtys", "body:product", "body:qty", "body:produced_on", "body:lot",
	"body:expires_on", "body:operator", NULL
};

static const GwField consume_fields[] = {
	{"code", GW_STRING, true, "trace code"},
	{"qty", GW_STRING, true, "quantity with unit"},
	{"kind", GW_STRING, true, "served, retail_sold, destroyed or sample_kept"},
	{"at", GW_DATETIME, false, "timestamp (default now)"},
	{"note", GW_STRING, false, NULL},
	{"operator", GW_ID, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const consume_args[] = {
	"body:code", "body:qty", "body:kind", "body:at", "body:note", "body:operator", NULL
};

static const char *const completeness_args[] = {"path:0", "path:1", NULL};

static const GwField correction_fields[] = {
	{"reason", GW_STRING, true, "why the record was wrong (kept in the ledger)"},
	{"changes", GW_OBJECT, true, "the new values: batch qty, produced_on, expires_on, lot; "
		"link (a pending sale) qty, shipped_on; inspection result, report (keys added or replaced)"},
	{NULL}
};
static const char *const correction_args[] = {"path:0", "path:1", "body:reason", "body:changes", NULL};
static const GwField retraction_fields[] = {
	{"reason", GW_STRING, true, "why the record should not exist (kept in the ledger)"},
	{NULL}
};
static const char *const retraction_args[] = {"path:0", "path:1", "body:reason", NULL};

/* ---- trace and recall ------------------------------------------------------ */

#define TRACE_ROWS(fn) \
	"select coalesce(jsonb_agg(jsonb_build_object('batch', t.batch::text, 'holder', t.holder::text, " \
	"'depth', t.depth, 'via_link', t.via_link::text, 'qty_reached', t.qty_reached::text, " \
	"'qty_on_hand', t.qty_on_hand::text, 'status', t.status)), '[]') " \
	"from shilian." fn "($1::shilian.trace_code, $2::int, coalesce(shilian.strict_timestamptz($3, 'as_of'), now())) t"
static const char *const public_trace_args[] = {"path:0", "query:t", NULL};
static const char *const trace_args[] = {"path:0", "query:max_depth", "query:as_of", NULL};
static const char *const graph_args[] = {"path:0", "query:direction", "query:max_depth", NULL};

/* sales to another province and the national walks (docs/federation.md) */
static const GwField cross_border_fields[] = {
	{"code", GW_STRING, true, "trace code of the batch sold"},
	{"buyer_uscc", GW_STRING, false, "the buyer's unified social credit code (统一社会信用代码), of another province "
		"(this or buyer_gln)"},
	{"qty", GW_STRING, true, "quantity with unit"},
	{"shipped_on", GW_DATE, false, "date (default today)"},
	{"seller", GW_ID, false, "operator id (default: the acting operator)"},
	{"buyer_name", GW_STRING, false, "the buyer's name as the seller knows it"},
	{"buyer_gln", GW_STRING, false, "the buyer's GLN (PGLN: 13 digits, urn:epc:id:pgln:… or https://id.gs1.org/417/…), "
		"instead of buyer_uscc"},
	{"buyer_province", GW_STRING, false, "the buyer's GB/T 2260 province code (needed with buyer_gln)"},
	{NULL}
};
static const char *const cross_border_args[] = {
	"body:code", "body:buyer_uscc", "body:qty", "body:shipped_on", "body:seller", "body:buyer_name",
	"body:buyer_gln", "body:buyer_province", NULL
};
#define NATIONAL_TRACE_ROWS(fn) \
	"select coalesce(jsonb_agg(jsonb_build_object('province', t.province, 'batch', t.batch::text, " \
	"'holder', t.holder::text, 'holder_name', t.holder_name, 'depth', t.depth, 'via_link', t.via_link::text, " \
	"'qty_reached', t.qty_reached::text, 'qty_on_hand', t.qty_on_hand::text, 'status', t.status)), '[]') " \
	"from shilian." fn "($1::shilian.trace_code, $2::int, coalesce(shilian.strict_timestamptz($3, 'as_of'), now())) t"
static const GwField national_recall_fields[] = {
	{"code", GW_STRING, true, "trace code of the suspect lot"},
	{"reason", GW_STRING, true, NULL},
	{NULL}
};
static const char *const national_recall_args[] = {"body:code", "body:reason", NULL};

static const GwField recall_fields[] = {
	{"code", GW_STRING, true, "trace code of the suspect lot"},
	{"reason", GW_STRING, true, NULL},
	{"direction", GW_STRING, false, "forward (default: where it went) or backward (its sources)"},
	{NULL}
};
static const char *const recall_args[] = {"body:code", "body:reason", "body:direction", NULL};
static const GwField ack_fields[] = {
	{"operator", GW_ID, false, "holder (default: the acting operator)"},
	{"disposition", GW_STRING, true, "withdrawn, destroyed, returned, not_received or already_consumed"},
	{"qty_recovered", GW_STRING, false, "quantity with unit"},
	{"batch", GW_STRING, false, "the lot, when the holder has several"},
	{NULL}
};
static const char *const ack_args[] = {"path:0", "body:operator", "body:disposition", "body:qty_recovered", "body:batch", NULL};
static const GwField close_fields[] = {
	{"force_reason", GW_STRING, false, "close with targets outstanding, for this reason"},
	{NULL}
};
static const char *const close_args[] = {"path:0", "body:force_reason", NULL};

/* ---- ledger -------------------------------------------------------------- */

/* a proof with its sizes, indexes and entry id as strings, as the ledger export has them */
static const char *const verify_args[] = {"query:operator", NULL};
static const char *const inclusion_args[] = {"query:entry", "query:tree_size", NULL};
static const char *const consistency_args[] = {"query:old_size", "query:new_size", NULL};
static const char *const export_args[] = {"query:operator", "query:old_size", NULL};
/* h-checkpoint: signed checkpoints (docs/ledger-format.md#signed-checkpoints) */
static const GwField note_fields[] = {
	{"note", GW_STRING, true, "the signed note: checkpoint_body(size), a blank line, signature lines"},
	{NULL}
};
static const char *const note_args[] = {"body:note", NULL};
static const GwField cosign_fields[] = {
	{"signature", GW_STRING, true, "the witness's cosignature line, \"\u2014 <key name> <base64>\""},
	{NULL}
};
static const char *const cosign_args[] = {"path:0", "body:signature", NULL};
static const GwField refusal_fields[] = {
	{"witness", GW_STRING, true, "the witness's key name"},
	{"reason", GW_STRING, true, "why it refused (shilian-verify witness's FAIL line)"},
	{"note", GW_STRING, false, "the refused signed note"},
	{NULL}
};
static const char *const refusal_args[] = {"body:witness", "path:0", "body:reason", "body:note", NULL};

/* ---- bulk upload ----------------------------------------------------------- */

static const char *const import_get_args[] = {"path:0", NULL};
/* GET /v1/import: query parameters limit (1-1000, default 50) and offset (0 or more, default 0) */
static const char *const import_list_args[] = {"query:limit", "query:offset", NULL};
static const char *const import_lines_args[] = {"path:0", "query:status", NULL};
/* ---- GS1 EPCIS 2.0 ----------------------------------------------------------- */

static const char *const epcis_capture_args[] = {"raw", NULL};
static const char *const epcis_events_args[] = {
	"query:eventType", "query:GE_eventTime", "query:LT_eventTime", "query:GE_recordTime", "query:LT_recordTime", "query:EQ_action", "query:EQ_bizStep", "query:EQ_disposition", "query:EQ_readPoint", "query:WD_readPoint", "query:EQ_bizLocation", "query:WD_bizLocation", "query:EQ_transformationID", "query:MATCH_epc", "query:MATCH_parentID", "query:MATCH_inputEPC", "query:MATCH_outputEPC", "query:MATCH_anyEPC", "query:MATCH_epcClass", "query:MATCH_inputEPCClass", "query:MATCH_outputEPCClass", "query:MATCH_anyEPCClass", "query:EQ_eventID", "query:EXISTS_errorDeclaration", "query:orderBy", "query:orderDirection", "query:eventCountLimit", "query:maxEventCount", "query:perPage", "query:nextPageToken", NULL
};
static const char *const epcis_type_events_args[] = {
	"path:0", "query:GE_eventTime", "query:LT_eventTime", "query:GE_recordTime", "query:LT_recordTime", "query:EQ_action", "query:EQ_bizStep", "query:EQ_disposition", "query:EQ_readPoint", "query:WD_readPoint", "query:EQ_bizLocation", "query:WD_bizLocation", "query:EQ_transformationID", "query:MATCH_epc", "query:MATCH_parentID", "query:MATCH_inputEPC", "query:MATCH_outputEPC", "query:MATCH_anyEPC", "query:MATCH_epcClass", "query:MATCH_inputEPCClass", "query:MATCH_outputEPCClass", "query:MATCH_anyEPCClass", "query:EQ_eventID", "query:EXISTS_errorDeclaration", "query:orderBy", "query:orderDirection", "query:eventCountLimit", "query:maxEventCount", "query:perPage", "query:nextPageToken", NULL
};
/* named queries (EPCIS 2.0 REST binding: /queries) */
static const GwField epcis_query_fields[] = {
	{"name", GW_STRING, true, "1-64 letters, digits, '.', '_' or '-'"},
	{"query", GW_OBJECT, true, "the SimpleEventQuery parameters, as for GET /epcis/events (values strings or arrays)"},
	{NULL}
};
static const char *const epcis_query_create_args[] = {"body:name", "body:query", NULL};
/* query subscriptions (EPCIS 2.0 REST binding: /queries/{name}/subscriptions) */
static const GwField epcis_subscription_fields[] = {
	{"dest", GW_STRING, true, "the URL notifications are POSTed to (https; the webhook URL rule)"},
	{"signatureToken", GW_STRING, false, "the HMAC-SHA256 key of the notifications' Shilian-Signature (16-200 printable characters); "
		"without it a secret is made and returned once"},
	{"stream", GW_BOOLEAN, false, "must be true: notified of each newly captured event that matches"},
	{"reportIfEmpty", GW_BOOLEAN, false, "scheduled subscriptions only (not offered): false or absent"},
	{"schedule", GW_OBJECT, false, "not offered (SLE21)"},
	{"initialRecordTime", GW_STRING, false, "not offered (SLE21)"},
	{NULL}
};
static const char *const epcis_subscribe_args[] = {"path:0", "body:dest", "body:signatureToken", "body:stream",
	"body:reportIfEmpty", "body:schedule", "body:initialRecordTime", NULL};
static const char *const epcis_query_run_args[] = {"path:0", "query:perPage", "query:nextPageToken", NULL};
/* the query parameters as epcis_query's object (absent ones left out) */
#define EPCIS_QUERY_OBJECT "jsonb_strip_nulls(jsonb_build_object('eventType', $1::text, 'GE_eventTime', $2::text, 'LT_eventTime', $3::text, 'GE_recordTime', $4::text, 'LT_recordTime', $5::text, 'EQ_action', $6::text, 'EQ_bizStep', $7::text, 'EQ_disposition', $8::text, 'EQ_readPoint', $9::text, 'WD_readPoint', $10::text, 'EQ_bizLocation', $11::text, 'WD_bizLocation', $12::text, 'EQ_transformationID', $13::text, 'MATCH_epc', $14::text, 'MATCH_parentID', $15::text, 'MATCH_inputEPC', $16::text, 'MATCH_outputEPC', $17::text, 'MATCH_anyEPC', $18::text, 'MATCH_epcClass', $19::text, 'MATCH_inputEPCClass', $20::text, 'MATCH_outputEPCClass', $21::text, 'MATCH_anyEPCClass', $22::text, 'EQ_eventID', $23::text, 'EXISTS_errorDeclaration', $24::text, 'orderBy', $25::text, 'orderDirection', $26::text, 'eventCountLimit', $27::text, 'maxEventCount', $28::text, 'perPage', $29::text, 'nextPageToken', $30::text))"


/* ---- regulator ------------------------------------------------------------ */

static const char *const stats_args[] = {"path:0", "query:from", "query:to", NULL};
static const char *const inactive_args[] = {"path:0", "query:since", NULL};
static const char *const report_args[] = {"path:0", "query:month", NULL};
static const char *const broken_args[] = {"path:0", "query:from", "query:to", "query:pending_days", NULL};
static const char *const spot_args[] = {"path:0", "query:quarter", "query:n", "query:seed", NULL};
static const char *const alerts_args[] = {"path:0", "query:all", NULL};

/* ---- system clients (admins) ---------------------------------------------- */

static const GwField client_fields[] = {
	{"client", GW_STRING, true, "client id: 1-64 letters, digits, '.', '_' or '-'; what X-API-Key callers act as"},
	{"name", GW_STRING, true, NULL},
	{"kind", GW_STRING, false, "own_system (an enterprise's own system, 自建系统), market, canteen or other (default)"},
	{NULL}
};
static const char *const client_add_args[] = {"body:client", "body:name", "body:kind", NULL};
static const GwField client_patch_fields[] = {
	{"name", GW_STRING, false, NULL},
	{"kind", GW_STRING, false, "own_system, market, canteen or other"},
	{"active", GW_BOOLEAN, false, "false switches the client off: its keys are refused at once"},
	{NULL}
};
static const char *const client_patch_args[] = {"path:0", "body:name", "body:kind", "body:active", NULL};
static const GwField client_bind_fields[] = {
	{"operator", GW_ID, true, "operator id the client may see and record for"},
	{NULL}
};
static const char *const client_bind_args[] = {"path:0", "body:operator", NULL};
static const char *const path01[] = {"path:0", "path:1", NULL};

/* ---- client bindings (operators, regulators, admins) ------------------------ */

static const GwField binding_fields[] = {
	{"client", GW_STRING, true, "the system client's id (a market's or canteen's sub-system, an enterprise's own system)"},
	{"operator", GW_ANY, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const binding_args[] = {"body:client", "body:operator", NULL};
static const char *const bindings_list_args[] = {"query:operator", NULL};
#define BINDING_ROW(b) \
	"jsonb_build_object('client', " b ".client, 'name', " b ".name, 'kind', " b ".kind, " \
	"'operator', " b ".operator::text, 'bound_at', " b ".bound_at, 'bound_by', " b ".bound_by, " \
	"'ledger_id', " b ".ledger_id::text)"

/* ---- webhooks (h-webhooks; docs/webhooks.md) -------------------------------- */

static const GwField webhook_fields[] = {
	{"url", GW_STRING, true, "https URL the events are POSTed to"},
	{"kinds", GW_ARRAY, true, "operator: recall, receipt_draft, import_refused; jurisdiction: alert"},
	{"operator", GW_ANY, false, "owner operator id (default: the acting operator)"},
	{"jurisdiction", GW_STRING, false, "owner jurisdiction (default for a regulator: its own)"},
	{NULL}
};
static const char *const webhook_args[] = {"body:url", "body:kinds", "body:operator", "body:jurisdiction", NULL};
/* query parameters: all (boolean) */
static const char *const webhook_list_args[] = {"query:all", NULL};
/* query parameters: status (pending|delivered|dead|cancelled), limit (1..1000), before (delivery id) */
static const char *const webhook_log_args[] = {"path:0", "query:status", "query:limit", "query:before", NULL};

/* ---- self-service registration and activation (docs/registration.md) ------- */

static const GwField registration_fields[] = {
	{"name", GW_STRING, true, "the holder's name as on the licence (许可证)"},
	{"segment", GW_STRING, true, "production, circulation, catering or special_food"},
	{"kinds", GW_ARRAY, true, "e.g. [\"market_vendor\"]"},
	{"station", GW_STRING, true, "home supervision station (jurisdiction code)"},
	{"address", GW_STRING, true, NULL},
	{"contact", GW_STRING, true, "phone number or other contact"},
	{"licence_no", GW_STRING, true, "SC or JY + 14 digits"},
	{"scope", GW_ARRAY, true, "categories the licence covers"},
	{"valid_from", GW_DATE, true, "the licence's first day"},
	{"valid_to", GW_DATE, true, "the licence's last day"},
	{"uscc", GW_STRING, false, "unified social credit code (enterprises)"},
	{"reg_card", GW_STRING, false, "registration card number (small vendors)"},
	{"identity", GW_STRING, false, "phone:<number> or sub:<token subject> of the person registering"},
	{NULL}
};
static const char *const registration_args[] = {
	"body:name", "body:segment", "body:kinds", "body:station", "body:address", "body:contact",
	"body:licence_no", "body:scope", "body:valid_from", "body:valid_to", "body:uscc", "body:reg_card",
	"body:identity", NULL
};
/* an answered refusal (conflict, wrong code) as the error body with its SQLSTATE's status */
#define REGISTRATION_REPLY(call) \
	"select case when r ? 'error' then (r->'error') || jsonb_build_object('details', " \
	"case when r ? 'id' then 'registration request ' || (r->>'id') end) " \
	"else jsonb_strip_nulls(jsonb_build_object('id', r->>'id', 'status', r->>'status', " \
	"'operator', r->>'operator', 'identity', r->>'identity')) end, " \
	"r->'error'->>'code' as error_sqlstate from " call " r"
static const char *const request_status_values[] = {
	"pending", "conflict", "registered", "approved", "corrected", "refused", NULL
};
static const GwParam p_registrations[] = {
	QUERY("station", GW_STRING, "jurisdiction code: the requests at home in its subtree", .required = true),
	QUERY("status", GW_STRING, "pending (default), conflict, registered, approved, corrected or refused",
		  .values = request_status_values),
	{NULL}
};
static const char *const registrations_args[] = {"query:station", "query:status", NULL};
static const GwField decision_fields[] = {
	{"decision", GW_STRING, true, "approve, correct or refuse"},
	{"reason", GW_STRING, true, NULL},
	{"corrections", GW_OBJECT, false, "with correct: the corrected fields (name, licence_no, ...)"},
	{NULL}
};
static const char *const decision_args[] = {"path:0", "body:decision", "body:reason", "body:corrections", NULL};
static const GwField activation_fields[] = {
	{"licence_no", GW_STRING, true, "the licence number of the registered operator"},
	{"code", GW_STRING, true, "the one-time activation code (激活码) from the station"},
	{"identity", GW_STRING, true, "phone:<number> or sub:<token subject> to bind"},
	{NULL}
};
static const char *const activation_args[] = {"body:licence_no", "body:code", "body:identity", NULL};
static const GwParam p_followup[] = {P_JURISDICTION, {NULL}};

static const char *const regulators[] = {"regulator", "admin", NULL};
/* the national walks and recalls: the provinces' regulators and the national regulator (docs/federation.md) */
static const char *const national_walkers[] = {"regulator", "national", "admin", NULL};
/* lists of one operator's own records: the roles that act for an operator (GW403 for the rest) */
static const char *const acting_roles[] = {"operator", "system", NULL};
static const char *const binders[] = {"operator", "regulator", "admin", NULL};
static const char *const admins[] = {"admin", NULL};

const GwRoute gw_routes[] = {
	{"GET", "/healthz", gw_healthz_route, GW_NOAUTH, "Liveness and database check",
		.op = "getHealth", .response = "Health"},
	{"GET", "/metrics", gw_metrics_route, GW_NOAUTH, "Prometheus metrics",
		.op = "getMetrics", .response = "text/plain"},
	{"GET", "/openapi.json", gw_openapi_route, GW_NOAUTH, "This API description (OpenAPI 3.1)",
		.op = "getOpenApi", .response = "OpenApiDocument"},
	{"GET", "/v1/version", gw_version_route, GW_PUBLIC, "Versions of the gateway, library and extension",
		.op = "getVersion", .response = "Version"},
	{"GET", "/v1/session", gw_session_route, 0, "The caller's role and settings as the database sees them",
		.op = "getSession", .response = "Session"},
	{"POST", "/v1/hash", gw_sql_route, GW_PUBLIC | GW_JSON, "Hash bytes with the ledger's hash function",
		hash_fields, NULL,
		"select json_build_object('algorithm', coalesce($2, 'sha256'), 'digest_hex', "
		"encode(shilian.hash(decode($1, 'hex'), coalesce($2, 'sha256')), 'hex'))", hash_args,
		.op = "hashBytes", .response = "Digest"},

	/* registry */
	{"POST", "/v1/operators", gw_sql_route, GW_JSON | GW_CREATED, "Register an operator (operator_register)",
		operator_fields, NULL,
		"select json_build_object('id', shilian.operator_register(name => $1, segment => $2, "
		"kinds => array(select jsonb_array_elements_text($3::jsonb)), station => $4, address => $5, "
		"contact => $6, uscc => $7::shilian.uscc, reg_card => $8, own_system => coalesce($9::boolean, false), "
		"regulator_contact => $10)::text)", operator_args,
		.op = "registerOperator", .response = "Created", .location = "/v1/operators/{id}"},
	{"POST", "/v1/operators/{id}/gs1-locations", gw_sql_route, GW_JSON | GW_CREATED,
		"Register a GLN/PGLN or SGLN of an operator (gs1_location_register): the operator itself, its regulator, an admin",
		gs1_location_fields, gs1_location_roles,
		"select json_build_object('operator', $1::bigint::text, 'uri', shilian.gs1_location_register($1::bigint, $2, $3))",
		gs1_location_args,
		.op = "registerGs1Location", .params = p_id, .response = "Gs1Location",
		.location = "/v1/operators/{operator}/gs1-locations"},
	{"GET", "/v1/operators/{id}/gs1-locations", gw_sql_route, 0,
		"The GLN/PGLN and SGLNs registered for an operator (gs1_location)",
		NULL, NULL,
		"select coalesce(jsonb_agg(jsonb_build_object('operator', l.operator_id::text, 'kind', l.kind, 'uri', l.uri, "
		"'name', l.name) order by l.id), '[]') from shilian.gs1_location l where l.operator_id = $1::bigint", path0,
		.op = "listGs1Locations", .params = p_id, .response = "Gs1LocationList"},
	{"POST", "/v1/operators/{id}/activate", gw_sql_route, 0, "Activate a registered operator (operator_activate)",
		NULL, regulators,
		"select json_build_object('id', $1::bigint::text, 'status', 'active') "
		"from (select shilian.operator_activate($1::bigint)) a", path0,
		.op = "activateOperator", .params = p_id, .response = "StatusChange"},
	{"GET", "/v1/operators/{id}", gw_sql_route, 0, "One operator",
		NULL, NULL,
		"select jsonb_set(to_jsonb(o), '{id}', to_jsonb(o.id::text)) from shilian.operator o "
		"where o.id = $1::bigint", path0,
		.op = "getOperator", .params = p_id, .response = "Operator"},
	{"GET", "/v1/operators", gw_sql_route, 0, "Operators, filtered by status, segment, station; limit/offset",
		NULL, NULL,
		"with f as (select o.* from shilian.operator o where ($1::text is null or o.status = $1) "
		"and ($2::text is null or o.segment = $2) and ($3::text is null or o.station = $3)), "
		"p as (select * from f order by id limit " LIMIT("$4") " offset " OFFSET("$5") ") "
		"select coalesce((select jsonb_agg(jsonb_set(to_jsonb(p), '{id}', to_jsonb(p.id::text)) order by p.id) from p), '[]'), "
		"case when (select count(*) from p) = 0 then '*/' || (select count(*) from f) "
		"else " OFFSET("$5") " || '-' || (" OFFSET("$5") " + (select count(*) from p) - 1) || '/' || (select count(*) from f) end "
		"as content_range", operator_list_args,
		.op = "listOperators", .params = p_operators, .response = "OperatorList"},
	{"POST", "/v1/licences", gw_sql_route, GW_JSON | GW_CREATED, "Add a licence (licence_add)",
		licence_fields, NULL,
		"select json_build_object('id', shilian.licence_add(coalesce($1::bigint, " ACTING "), "
		"$2::shilian.licence_no, array(select jsonb_array_elements_text($3::jsonb)), shilian.strict_date($4, 'valid_from'), shilian.strict_date($5, 'valid_to'))::text)",
		licence_args,
		.op = "addLicence", .response = "Created", .location = "/v1/licences/{id}"},
	{"POST", "/v1/products", gw_sql_route, GW_JSON | GW_CREATED, "Register a product (product_register)",
		product_fields, NULL,
		"select json_build_object('id', shilian.product_register(name => $1, category => $2, "
		"shelf_life_days => $3::int, spec => $4, gtin => $5, edible_agricultural => coalesce($6::boolean, false), "
		"owner => coalesce($7::bigint, " ACTING "))::text)", product_args,
		.op = "registerProduct", .response = "Created", .location = "/v1/products/{id}"},

	/* self-service registration (注册) and activation (激活), docs/registration.md */
	{"POST", "/v1/registrations", gw_sql_route, GW_PUBLIC | GW_JSON,
		"Register oneself (operator_register_request): registered at once when licence, name and station "
		"match the roll, else pending for the station; 409 SLQ05 for a licence already held; throttled per address",
		registration_fields, NULL,
		REGISTRATION_REPLY("shilian.operator_register_request(name => $1, segment => $2, "
		"kinds => array(select jsonb_array_elements_text($3::jsonb)), station => $4, address => $5, contact => $6, "
		"licence_no => $7, scope => array(select jsonb_array_elements_text($8::jsonb)), "
		"valid_from => shilian.strict_date($9, 'valid_from'), valid_to => shilian.strict_date($10, 'valid_to'), "
		"uscc => $11, reg_card => $12, identity => $13)"), registration_args,
		.op = "requestRegistration", .response = "Registration"},
	{"GET", "/v1/registrations", gw_sql_route, 0,
		"The station's queue: registration requests at home in its subtree with the closest roll rows "
		"(registration_requests)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(q) || jsonb_build_object('id', q.id::text, 'operator_id', q.operator_id::text) "
		"order by q.created_at, q.id), '[]') from shilian.registration_requests($1, coalesce($2, 'pending')) q",
		registrations_args,
		.op = "listRegistrations", .params = p_registrations, .response = "FigureRows"},
	{"POST", "/v1/registrations/{id}/decision", gw_sql_route, GW_JSON,
		"Approve, correct or refuse a registration request with a reason (registration_decide)",
		decision_fields, regulators,
		"select jsonb_strip_nulls(jsonb_build_object('id', d->>'id', 'status', d->>'status', 'operator', d->>'operator')) "
		"from shilian.registration_decide($1::bigint, $2, $3, $4::jsonb) d", decision_args,
		.op = "decideRegistration", .params = p_id, .response = "Registration"},
	{"POST", "/v1/operators/{id}/activation-code", gw_sql_route, 0,
		"A one-time activation code for the operator, shown once, valid 7 days (activation_code_issue)",
		NULL, regulators,
		"select jsonb_build_object('operator', c->>'operator', 'code', c->>'code', 'expires_at', c->'expires_at') "
		"from shilian.activation_code_issue($1::bigint) c", path0,
		.op = "issueActivationCode", .params = p_id, .response = "ActivationCode"},
	{"POST", "/v1/activations", gw_sql_route, GW_PUBLIC | GW_JSON,
		"Activate with the station's code: binds the identity and makes the operator active "
		"(operator_activate_with_code); 403 SLQ14/SLQ15 for a wrong or expired code; throttled per address",
		activation_fields, NULL,
		REGISTRATION_REPLY("shilian.operator_activate_with_code($1, $2, $3)"), activation_args,
		.op = "activateWithCode", .response = "Registration"},
	{"GET", "/v1/regulator/jurisdictions/{code}/registration-followup", gw_sql_route, 0,
		"Roll licences not registered, and operators registered but not active, with contacts (registration_followup)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(f) || jsonb_build_object('operator_id', f.operator_id::text)), '[]') "
		"from shilian.registration_followup($1) f", path0,
		.op = "listRegistrationFollowup", .params = p_followup, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/registration-followup.csv", gw_sql_route, GW_CSV,
		"The follow-up list as CSV for the station's rounds (registration_followup_csv)",
		NULL, regulators,
		"select shilian.registration_followup_csv($1)", path0,
		.op = "getRegistrationFollowupCsv", .params = p_followup, .response = "text/csv"},

	/* records */
	{"POST", "/v1/batches", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING, "Create a batch: production, harvest, import (batch_create)",
		batch_fields, NULL,
		"select json_build_object('trace_code', shilian.batch_create(owner => coalesce($1::bigint, " ACTING "), "
		"product => $2::bigint, qty => $3::shilian.qty, produced_on => coalesce(shilian.strict_date($4, 'produced_on'), shilian.platform_today()), "
		"lot => $5, expires_on => shilian.strict_date($6, 'expires_on'), certificate => $7::jsonb)::text)", batch_args,
		.op = "createBatch", .response = "CreatedBatch", .location = "/v1/batches/{trace_code}"},
	/*
	 * The lot's token once per request (an HMAC under the platform secret,
	 * behind may_see): public_path carries it as its t= parameter, so the
	 * token is read back from the path rather than computed a second time
	 * (OFFSET 0 keeps the planner from copying the call into both fields).
	 */
	{"GET", "/v1/batches/{code}", gw_sql_route, 0, "One batch by trace code",
		NULL, NULL,
		"select to_jsonb(b) || jsonb_build_object('id', b.id::text, 'trace_code', b.trace_code::text, "
		"'owner_id', b.owner_id::text, 'product_id', b.product_id::text, "
		"'product_name', p.name, 'category', p.category, "
		"'public_token', split_part(t.path, '?t=', 2), 'public_path', t.path) "
		"from shilian.batch b join shilian.product p on p.id = b.product_id "
		"cross join lateral (select shilian.public_path(b.trace_code) as path offset 0) t "
		"where b.trace_code = $1::shilian.trace_code", path0,
		.op = "getBatch", .params = p_code, .response = "Batch"},
	/*
	 * Paged by key: after= is the id of the last row of the page before, so
	 * a page reads its rows from batch_owner_idx and no further, at any
	 * table size. The key condition is one row comparison with the key
	 * from scalar subqueries (the first page's key is "after everything"):
	 * a plain parameter to the planner, so under row-level security, where
	 * only leakproof conditions may go into the index scan, it stays an
	 * index condition in a generic plan too. The total is counted only on
	 * Prefer: count=exact (PostgREST's convention); the count's subquery is
	 * an InitPlan, run only when the CASE asks for it.
	 */
	{"GET", "/v1/batches", gw_sql_route, GW_ACTING,
		"The acting operator's batches, newest first; limit=, after= (keyset cursor, Link rel=next), "
		"total in Content-Range only with Prefer: count=exact",
		NULL, acting_roles,
		"with f as not materialized (select b.* from shilian.batch b where b.owner_id = " ACTING " "
		"and (b.created_at, b.id) < ((select coalesce(shilian.batch_cursor($2::bigint), 'infinity'::timestamptz)), "
		"(select coalesce($2::bigint, 9223372036854775807)))), "
		"p as (select * from f order by created_at desc, id desc limit " LIMIT("$1") " offset " OFFSET("$3") ") "
		"select coalesce((select jsonb_agg(to_jsonb(p) || jsonb_build_object('id', p.id::text, "
		"'trace_code', p.trace_code::text, 'owner_id', p.owner_id::text, 'product_id', p.product_id::text) "
		"order by p.created_at desc, p.id desc) from p), '[]'), "
		"case when (select count(*) from p) = 0 then '*' "
		"else " OFFSET("$3") " || '-' || (" OFFSET("$3") " + (select count(*) from p) - 1) end || '/' || "
		"case when $4 ~* '(^|[,;[:space:]])count=exact([,;[:space:]]|$)' then (select count(*) from f)::text "
		"else '*' end as content_range, "
		"case when (select count(*) from p) = " LIMIT("$1") " and " LIMIT("$1") " > 0 then "
		"(select p.id from p order by p.created_at, p.id limit 1)::text end as next_after", page_args,
		.op = "listBatches", .params = p_batches, .response = "BatchList"},
	{"POST", "/v1/inspections", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING, "Record an inspection (inspect)",
		inspect_fields, NULL,
		"select json_build_object('id', shilian.inspect($1::shilian.trace_code, $2, $3, $4::jsonb, "
		"coalesce(shilian.strict_timestamptz($5, 'inspected_at'), now()), coalesce($6::bigint, " ACTING "))::text)", inspect_args,
		.op = "recordInspection", .response = "Created", .location = "/v1/inspections/{id}"},
	{"POST", "/v1/shipments", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING, "Record a sale; the buyer gets a receipt draft (ship)",
		ship_fields, NULL,
		"select json_build_object('link', shilian.ship($1::shilian.trace_code, $2::bigint, $3::shilian.qty, "
		"coalesce(shilian.strict_date($4, 'shipped_on'), shilian.platform_today()), coalesce($5::bigint, " ACTING "))::text)", ship_args,
		.op = "shipBatch", .response = "CreatedLink", .location = "/v1/shipments/{link}"},
	{"POST", "/v1/shipments/cross-border", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING,
		"Record a sale to a buyer of another province named by its USCC or its GLN; its platform gets it as a "
		"receipt draft (ship_cross_border)",
		cross_border_fields, NULL,
		"select json_build_object('link', shilian.ship_cross_border($1::shilian.trace_code, $2::shilian.uscc, "
		"$3::shilian.qty, coalesce(shilian.strict_date($4, 'shipped_on'), shilian.platform_today()), "
		"coalesce($5::bigint, " ACTING "), $6, buyer_gln => $7, buyer_province => $8)::text)", cross_border_args,
		.op = "shipCrossBorder", .response = "CreatedLink", .location = "/v1/shipments/{link}"},
	{"GET", "/v1/shipments/inbox", gw_sql_route, GW_ACTING, "The acting operator's receipt drafts (pending shipments to it)",
		NULL, acting_roles,
		"select coalesce(jsonb_agg(to_jsonb(d) || jsonb_build_object('link', d.link::text, "
		"'from_code', d.from_code::text, 'seller', d.seller::text, 'product', d.product::text) order by d.link), '[]') "
		"from shilian.receipt_drafts(" ACTING ") d", NULL,
		.op = "listInbox", .response = "ReceiptDraftList"},
	{"POST", "/v1/shipments/{link}/reject", gw_sql_route, GW_JSON | GW_ACTING, "Refuse a whole shipment (reject)",
		reject_fields, NULL,
		"select json_build_object('link', $1::bigint::text, 'status', 'rejected') "
		"from (select shilian.reject($1::bigint, $2, coalesce(shilian.strict_timestamptz($3, 'rejected_at'), now()))) r", reject_args,
		.op = "rejectShipment", .params = p_link, .response = "LinkStatus"},
	{"POST", "/v1/receipts", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING, "Confirm a receipt; creates the buyer's batch (receive)",
		receive_fields, NULL,
		"select json_build_object('trace_code', shilian.receive($1::bigint, $2::shilian.qty, $3::jsonb, "
		"coalesce(shilian.strict_timestamptz($4, 'received_at'), now()), $5, $6::shilian.trace_code)::text)", receive_args,
		.op = "receiveShipment", .response = "CreatedBatch", .location = "/v1/batches/{trace_code}"},
	{"POST", "/v1/receipts/first-entry", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING,
		"Receive from a supplier without records, e.g. a farmer (receive_first_entry)",
		first_entry_fields, NULL,
		"select json_build_object('trace_code', shilian.receive_first_entry(coalesce($1::bigint, " ACTING "), "
		"$2::bigint, $3::shilian.qty, $4::jsonb, $5::jsonb, coalesce(shilian.strict_date($6, 'produced_on'), shilian.platform_today()), "
		"coalesce(shilian.strict_timestamptz($7, 'received_at'), now()), $8, $9::jsonb)::text)", first_entry_args,
		.op = "receiveFirstEntry", .response = "CreatedBatch", .location = "/v1/batches/{trace_code}"},
	{"POST", "/v1/transformations", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING, "Process inputs into one output batch (transform)",
		transform_fields, NULL,
		"select json_build_object('trace_code', shilian.transform("
		"array(select jsonb_array_elements_text($1::jsonb))::shilian.trace_code[], "
		"array(select jsonb_array_elements_text($2::jsonb))::shilian.qty[], $3::bigint, $4::shilian.qty, "
		"coalesce(shilian.strict_date($5, 'produced_on'), shilian.platform_today()), $6, shilian.strict_date($7, 'expires_on'), coalesce($8::bigint, " ACTING "))::text)", transform_args,
		.op = "transformBatches", .response = "CreatedBatch", .location = "/v1/batches/{trace_code}"},
	{"POST", "/v1/consumptions", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING,
		"Record use: served, sold at retail, destroyed, sample kept (consume)",
		consume_fields, NULL,
		"select json_build_object('id', shilian.consume($1::shilian.trace_code, $2::shilian.qty, $3, "
		"coalesce(shilian.strict_timestamptz($4, 'at'), now()), $5, coalesce($6::bigint, " ACTING "))::text)", consume_args,
		.op = "recordConsumption", .response = "Created", .location = "/v1/consumptions/{id}"},
	{"GET", "/v1/records/{kind}/{id}/completeness", gw_sql_route, 0,
		"Which legally required fields a record lacks, and its retention date (record_completeness)",
		NULL, NULL,
		"select to_jsonb(c) from shilian.record_completeness($1, $2::bigint) c", completeness_args,
		.op = "getRecordCompleteness", .params = p_completeness, .response = "Completeness"},
	{"POST", "/v1/records/{kind}/{id}/correction", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING,
		"Correct a record (更正, correct): the original stays in the ledger, a correction entry supersedes it",
		correction_fields, NULL,
		"select json_build_object('id', shilian.correct($1, $2::bigint, $3, $4::jsonb)::text, "
		"'kind', $1, 'record', $2::bigint::text, 'action', 'correct')", correction_args,
		.op = "correctRecord", .params = p_correction, .response = "CorrectionCreated",
		.location = "/v1/records/{kind}/{record}/corrections"},
	{"POST", "/v1/records/{kind}/{id}/retraction", gw_sql_route, GW_JSON | GW_CREATED | GW_ACTING,
		"Retract a record (撤销, retract): the original stays in the ledger, a retraction entry supersedes it",
		retraction_fields, NULL,
		"select json_build_object('id', shilian.retract($1, $2::bigint, $3)::text, "
		"'kind', $1, 'record', $2::bigint::text, 'action', 'retract')", retraction_args,
		.op = "retractRecord", .params = p_correction, .response = "CorrectionCreated",
		.location = "/v1/records/{kind}/{record}/corrections"},
	{"GET", "/v1/records/{kind}/{id}/corrections", gw_sql_route, 0,
		"A record's corrections and retraction, oldest first, with its values before and after each (corrections)",
		NULL, NULL,
		"select coalesce(jsonb_agg(to_jsonb(c) || jsonb_build_object('correction', c.correction::text, "
		"'entry', c.entry::text, 'supersedes', c.supersedes::text) order by c.correction), '[]') "
		"from shilian.corrections($1, $2::bigint) c", completeness_args,
		.op = "listRecordCorrections", .params = p_correction, .response = "CorrectionList"},

	/* one record by id: what a 201's Location names (as RLS allows) */
	{"GET", "/v1/licences/{id}", gw_sql_route, 0, "One licence",
		NULL, NULL,
		"select to_jsonb(l) || jsonb_build_object('id', l.id::text, 'operator_id', l.operator_id::text) "
		"from shilian.licence l where l.id = $1::bigint", path0,
		.op = "getLicence", .params = p_id, .response = "Licence"},
	{"GET", "/v1/products/{id}", gw_sql_route, 0, "One product",
		NULL, NULL,
		"select to_jsonb(p) || jsonb_build_object('id', p.id::text, 'owner_id', p.owner_id::text) "
		"from shilian.product p where p.id = $1::bigint", path0,
		.op = "getProduct", .params = p_id, .response = "Product"},
	{"GET", "/v1/inspections/{id}", gw_sql_route, 0, "One inspection",
		NULL, NULL,
		"select to_jsonb(i) || jsonb_build_object('id', i.id::text, 'batch_id', i.batch_id::text, "
		"'operator_id', i.operator_id::text, 'link_id', i.link_id::text) "
		"from shilian.inspection i where i.id = $1::bigint", path0,
		.op = "getInspection", .params = p_id, .response = "Inspection"},
	{"GET", "/v1/shipments/{link}", gw_sql_route, 0, "One shipment (link): sale, receipt or rejection",
		NULL, NULL,
		"select to_jsonb(l) || jsonb_build_object('id', l.id::text, 'from_batch', l.from_batch::text, "
		"'to_batch', l.to_batch::text, 'seller_id', l.seller_id::text, 'buyer_id', l.buyer_id::text) "
		"from shilian.link l where l.id = $1::bigint", path0,
		.op = "getShipment", .params = p_link, .response = "Shipment"},
	{"GET", "/v1/consumptions/{id}", gw_sql_route, 0, "One consumption",
		NULL, NULL,
		"select to_jsonb(c) || jsonb_build_object('id', c.id::text, 'batch_id', c.batch_id::text, "
		"'operator_id', c.operator_id::text) "
		"from shilian.consumption c where c.id = $1::bigint", path0,
		.op = "getConsumption", .params = p_id, .response = "Consumption"},

	/* trace and recall */
	{"GET", "/v1/trace/{code}/forward", gw_sql_route, GW_REPLICA,
		"Every batch the lot reached, with the share of it and what is on hand (trace_forward; max_depth=, as_of=)",
		NULL, NULL, TRACE_ROWS("trace_forward"), trace_args,
		.op = "traceForward", .params = p_trace, .response = "TraceRowList"},
	{"GET", "/v1/trace/{code}/backward", gw_sql_route, GW_REPLICA,
		"Every source of the lot (trace_backward; max_depth=, as_of=)",
		NULL, NULL, TRACE_ROWS("trace_backward"), trace_args,
		.op = "traceBackward", .params = p_trace, .response = "TraceRowList"},
	{"GET", "/v1/trace/{code}/national/forward", gw_sql_route, GW_READ_WRITE,
		"Forward trace across provinces, asking each peer for its part (trace_forward_national; max_depth=, as_of=)",
		NULL, national_walkers, NATIONAL_TRACE_ROWS("trace_forward_national"), trace_args,
		.op = "traceForwardNational", .params = p_trace, .response = "NationalTraceRowList"},
	{"GET", "/v1/trace/{code}/national/backward", gw_sql_route, GW_READ_WRITE,
		"Backward trace across provinces (trace_backward_national; max_depth=, as_of=)",
		NULL, national_walkers, NATIONAL_TRACE_ROWS("trace_backward_national"), trace_args,
		.op = "traceBackwardNational", .params = p_trace, .response = "NationalTraceRowList"},
	{"GET", "/v1/trace/{code}/graph", gw_sql_route, GW_REPLICA, "Nodes and edges for drawing (trace_graph; direction=, max_depth=)",
		NULL, NULL, "select shilian.trace_graph($1::shilian.trace_code, coalesce($2, 'forward'), $3::int)", graph_args,
		.op = "traceGraph", .params = p_graph, .response = "TraceGraph"},
	/* labels (lot_label, lot_labels; labels.c) */
	{"GET", "/v1/batches/{code}/label.svg", gw_label_route, 0,
		"A 40x30 mm label: QR code of the lot's Digital Link with its token, trace code, product line (lot_label)",
		NULL, NULL,
		.op = "getLabelSvg", .params = p_code, .response = "image/svg+xml"},
	{"GET", "/v1/batches/{code}/label.png", gw_label_route, 0,
		"The label as a 203 dpi PNG: QR code and trace code (lot_label)", NULL, NULL,
		.op = "getLabelPng", .params = p_code, .response = "image/png"},
	{"GET", "/v1/labels.svg", gw_label_sheet_route, 0,
		"A sheet of the labels of the acting operator's lots of a day (lot_labels; date=YYYY-MM-DD)", NULL, NULL,
		.op = "getLabelSheet", .params = p_label_sheet, .response = "image/svg+xml"},
	{"GET", "/v1/public/trace/{code}", gw_sql_route, GW_PUBLIC,
		"The consumer view of a code on a package with its token t= (printed with the code): product, producer, "
		"origin, inspections, custody; 404 SLP01 alike for a wrong token and an unknown code (public_trace)",
		NULL, NULL, "select shilian.public_trace($1::shilian.trace_code, $2)", public_trace_args,
		.op = "getPublicTrace", .params = p_public_trace, .response = "PublicTrace"},
	{"POST", "/v1/recalls", gw_sql_route, GW_JSON | GW_CREATED, "Open a recall; every holder is a target (recall_open)",
		recall_fields, regulators,
		"select json_build_object('id', shilian.recall_open($1::shilian.trace_code, $2, coalesce($3, 'forward'))::text)",
		recall_args,
		.op = "openRecall", .response = "Created", .location = "/v1/recalls/{id}"},
	{"POST", "/v1/recalls/national", gw_sql_route, GW_JSON | GW_CREATED,
		"Open a forward recall here and its parts in every province the lot's material reached (recall_open_national)",
		national_recall_fields, national_walkers,
		"select json_build_object('id', shilian.recall_open_national($1::shilian.trace_code, $2)::text)",
		national_recall_args,
		.op = "openNationalRecall", .response = "Created", .location = "/v1/recalls/{id}/national"},
	{"GET", "/v1/recalls/{id}/national", gw_sql_route, 0,
		"A recall's parts across provinces: targets, acknowledgements, exposed quantities (recall_status_national)",
		NULL, national_walkers,
		"select coalesce(jsonb_agg(jsonb_build_object('province', s.province, 'recall', s.recall::text, "
		"'lot', s.lot::text, 'targets', s.targets, 'acknowledged', s.acknowledged, 'outstanding', s.outstanding, "
		"'exposed', s.exposed::text, 'status', s.status)), '[]') from shilian.recall_status_national($1::bigint) s",
		path0, .op = "getNationalRecall", .params = p_id, .response = "NationalRecallStatus"},
	{"GET", "/v1/recalls/{id}", gw_sql_route, 0, "Counts and quantities outstanding (recall_status)",
		NULL, NULL, "select to_jsonb(s) from shilian.recall_status($1::bigint) s where s.status is not null", path0,
		.op = "getRecall", .params = p_id, .response = "RecallStatus"},
	{"GET", "/v1/recalls/{id}/targets", gw_sql_route, 0, "Affected lots and holders, as the caller may see them (recall_targets)",
		NULL, NULL,
		"select coalesce(jsonb_agg(to_jsonb(t) || jsonb_build_object('batch', t.batch::text, 'holder', t.holder::text, "
		"'via_link', t.via_link::text) order by t.depth, t.batch), '[]') from shilian.recall_targets($1::bigint) t",
		path0,
		.op = "listRecallTargets", .params = p_id, .response = "RecallTargetList"},
	{"POST", "/v1/recalls/{id}/ack", gw_sql_route, GW_JSON | GW_ACTING, "A holder's action on a recall (recall_ack)",
		ack_fields, NULL,
		"select json_build_object('acknowledged', shilian.recall_ack($1::bigint, coalesce($2::bigint, " ACTING "), $3, "
		"$4::shilian.qty, $5::shilian.trace_code))", ack_args,
		.op = "acknowledgeRecall", .params = p_id, .response = "Acknowledged"},
	{"POST", "/v1/recalls/{id}/close", gw_sql_route, GW_JSON, "Close a recall; refused while targets are outstanding unless forced (recall_close)",
		close_fields, regulators,
		"select json_build_object('id', $1::bigint::text, 'status', 'closed') "
		"from (select shilian.recall_close($1::bigint, $2)) c", close_args,
		.op = "closeRecall", .params = p_id, .response = "StatusChange"},
	{"GET", "/v1/recalls/{id}/export", gw_sql_route, GW_CSV | GW_REPLICA, "Every affected lot as a sortable CSV, FSMA 204 style (recall_export)",
		NULL, NULL, "select shilian.recall_export($1::bigint)", path0,
		.op = "exportRecall", .params = p_id, .response = "text/csv"},
	/* the recall graph (recall_graph; pictures.c) */
	{"GET", "/v1/recalls/{id}/graph.svg", gw_recall_graph_route, 0,
		"The recall as a graph: holders grouped by region, lots coloured by state, links with quantities (recall_graph)",
		NULL, regulators,
		.op = "getRecallGraphSvg", .params = p_id, .response = "image/svg+xml"},
	{"GET", "/v1/recalls/{id}/graph.html", gw_recall_graph_route, 0,
		"The recall graph in a page with the table of affected lots (recall_graph)",
		NULL, regulators,
		.op = "getRecallGraphPage", .params = p_id, .response = "text/html"},

	/* regulator */
	{"GET", "/v1/regulator/jurisdictions/{code}/stats", gw_sql_route, GW_REPLICA,
		"Registration, activity, 10+3 coverage, own-system upload and receipt completeness figures per child "
		"jurisdiction and in total (jurisdiction_stats; from=, to= inclusive dates, open when left out)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(s) order by s.total, s.jurisdiction), '[]') "
		"from shilian.jurisdiction_stats($1, daterange(shilian.strict_date($2, 'from'), shilian.strict_date($3, 'to'), '[]')) s", stats_args,
		.op = "getJurisdictionStats", .params = p_period, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/segments", gw_sql_route, GW_REPLICA,
		"The figures of the stats route for the whole subtree, one row per supervision segment "
		"(segment_stats; from=, to= inclusive dates)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(s) - 'n' order by s.n), '[]') "
		"from shilian.segment_stats($1, daterange(shilian.strict_date($2, 'from'), shilian.strict_date($3, 'to'), '[]')) with ordinality s(segment, licensed, registered, activated, registration_rate, operators, "
		"active_operators, activity_rate, key_operators, key_covered, coverage_rate, own_system_operators, "
		"own_system_uploading, upload_rate, receipts, receipts_complete, completeness_rate, n)", stats_args,
		.op = "getSegmentStats", .params = p_period, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/inactive", gw_sql_route, GW_REPLICA,
		"Operators with no record since a date, with their regulator contact "
		"(inactive_operators; since= defaults to 30 days ago)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(i) || jsonb_build_object('id', i.id::text) "
		"order by i.station, i.id), '[]') "
		"from shilian.inactive_operators($1, coalesce(shilian.strict_date($2, 'since'), shilian.platform_today() - 30)) i", inactive_args,
		.op = "listInactiveOperators", .params = p_inactive, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/monthly-report", gw_sql_route, GW_REPLICA,
		"The four assessment figures per city and county with rank, month-on-month change and target "
		"(monthly_report; month=YYYY-MM, the previous month when left out; Accept: text/csv for CSV)",
		NULL, regulators,
		"select shilian.monthly_report(coalesce(shilian.strict_date($2 || '-01', 'month'), "
		"(date_trunc('month', shilian.platform_today()::timestamp) - interval '1 month')::date), $1)", report_args,
		.op = "getMonthlyReport", .params = p_report, .response = "MonthlyReport"},
	{"GET", "/v1/regulator/jurisdictions/{code}/monthly-report.csv", gw_sql_route, GW_CSV | GW_REPLICA,
		"The monthly report as CSV, one line per jurisdiction and figure (monthly_report_csv; month=YYYY-MM)",
		NULL, regulators,
		"select shilian.monthly_report_csv(coalesce(shilian.strict_date($2 || '-01', 'month'), "
		"(date_trunc('month', shilian.platform_today()::timestamp) - interval '1 month')::date), $1)", report_args,
		.op = "getMonthlyReportCsv", .params = p_report, .response = "text/csv"},
	{"GET", "/v1/regulator/jurisdictions/{code}/broken-chain", gw_sql_route, GW_REPLICA,
		"Operators with a broken chain in the period, one row per operator and kind with the evidence "
		"(broken_chain; from=, to= inclusive dates, pending_days= grace, default 3)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(b) || jsonb_build_object('operator', b.operator::text) "
		"order by b.station, b.operator, b.kind), '[]') "
		"from shilian.broken_chain($1, daterange(shilian.strict_date($2, 'from'), shilian.strict_date($3, 'to'), '[]'), coalesce($4::int, 3)) b", broken_args,
		.op = "listBrokenChain", .params = p_broken, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/findings", gw_sql_route, GW_REPLICA,
		"Violations of the record-keeping articles, each with its article and evidence "
		"(compliance_findings; from=, to= inclusive dates, open when left out)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(c) || jsonb_build_object('operator', c.operator::text) "
		"order by c.station, c.operator, c.kind), '[]') "
		"from shilian.compliance_findings($1, daterange(shilian.strict_date($2, 'from'), shilian.strict_date($3, 'to'), '[]')) c", stats_args,
		.op = "listFindings", .params = p_period, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/spot-check", gw_sql_route, GW_REPLICA,
		"A reproducible stratified sample of operators with timeliness, completeness and findings "
		"(spot_check_sample; quarter=YYYYQn default this quarter, n= default 10, seed= default 0)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(s) || jsonb_build_object('operator', s.operator::text) "
		"order by s.stratum, s.segment, s.operator), '[]') "
		"from shilian.spot_check_sample($1, coalesce($2, to_char(shilian.platform_today(), 'YYYY\"Q\"Q')), "
		"coalesce($3::int, 10), coalesce($4::bigint, 0)) s", spot_args,
		.op = "getSpotCheck", .params = p_spot, .response = "FigureRows"},
	{"GET", "/v1/regulator/jurisdictions/{code}/alerts", gw_sql_route, 0,
		"Open alerts of the jurisdiction's operators, newest first (alerts; all=true to include acknowledged ones)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(a) || jsonb_build_object('id', a.id::text, "
		"'operator_id', a.operator_id::text) order by a.raised_at desc, a.id desc), '[]') "
		"from shilian.alerts($1, coalesce($2::boolean, false)) a", alerts_args,
		.op = "listAlerts", .params = p_alerts, .response = "FigureRows"},
	{"POST", "/v1/regulator/alerts/{id}/ack", gw_sql_route, 0, "Acknowledge an alert (alert_ack)",
		NULL, regulators,
		"select json_build_object('id', $1::bigint::text, 'acknowledged_at', shilian.alert_ack($1::bigint))", path0,
		.op = "acknowledgeAlert", .params = p_id, .response = "AlertAck"},
	/* the monthly report's charts (monthly_report; pictures.c) */
	{"GET", "/v1/regulator/jurisdictions/{code}/monthly-report.svg", gw_report_chart_route, 0,
		"The four assessment figures per child jurisdiction as bar charts with targets (monthly_report; month=YYYY-MM)",
		NULL, regulators,
		.op = "getMonthlyReportChart", .params = p_report, .response = "image/svg+xml"},
	{"GET", "/v1/regulator/jurisdictions/{code}/monthly-report.html", gw_report_chart_route, 0,
		"The monthly report's charts and figures in a page (monthly_report; month=YYYY-MM)",
		NULL, regulators,
		.op = "getMonthlyReportPage", .params = p_report, .response = "text/html"},

	/* system clients (admins); api_client_info is VOLATILE to see the change before it */
	{"GET", "/v1/admin/clients", gw_sql_route, 0,
		"Every system client with kind, active flag, bound operators and keys by public id (api_clients)",
		NULL, admins, "select shilian.api_clients()", NULL,
		.op = "listClients", .response = "ClientList"},
	{"POST", "/v1/admin/clients", gw_sql_route, GW_JSON | GW_CREATED,
		"Register a system client: an enterprise's own system, a market or canteen sub-system (api_client_add)",
		client_fields, admins,
		"select shilian.api_client_info($1) from (select shilian.api_client_add($1, $2, coalesce($3, 'other'))) a",
		client_add_args,
		.op = "addClient", .response = "Client", .location = "/v1/admin/clients/{client}"},
	{"GET", "/v1/admin/clients/{client}", gw_sql_route, 0, "One system client (api_client_info)",
		NULL, admins, "select shilian.api_client_info($1)", path0,
		.op = "getClient", .params = p_client, .response = "Client"},
	{"PATCH", "/v1/admin/clients/{client}", gw_sql_route, GW_JSON,
		"Rename a system client, change its kind or switch it off or on (api_client_update)",
		client_patch_fields, admins, "select shilian.api_client_update($1, $2, $3, $4::boolean)",
		client_patch_args,
		.op = "updateClient", .params = p_client, .response = "Client"},
	{"POST", "/v1/admin/clients/{client}/operators", gw_sql_route, GW_JSON,
		"Let a system client see and record for an operator (api_client_bind)",
		client_bind_fields, admins,
		"select shilian.api_client_info($1) from (select shilian.api_client_bind($1, $2::bigint)) a",
		client_bind_args,
		.op = "bindClientOperator", .params = p_client, .response = "Client"},
	{"DELETE", "/v1/admin/clients/{client}/operators/{id}", gw_sql_route, 0,
		"Withdraw a system client's right to an operator (api_client_unbind)",
		NULL, admins,
		"select shilian.api_client_info($1) from (select shilian.api_client_unbind($1, $2::bigint)) a",
		path01,
		.op = "unbindClientOperator", .params = p_client_id, .response = "Client"},
	{"POST", "/v1/admin/clients/{client}/keys", gw_sql_route, GW_CREATED,
		"Make an API key for a system client; the key is in this reply only (api_client_key_new)",
		NULL, admins,
		"select json_build_object('client', $1::text, 'key_id', split_part(k, '_', 2), 'key', k) "
		"from shilian.api_client_key_new($1) k", path0,
		.op = "createClientKey", .params = p_client, .response = "ClientKey", .location = "/v1/admin/clients/{client}"},
	{"DELETE", "/v1/admin/clients/{client}/keys/{key_id}", gw_sql_route, 0,
		"Revoke one API key of a system client (api_client_key_revoke)",
		NULL, admins, "select shilian.api_client_key_revoke($1, $2)", path01,
		.op = "revokeClientKey", .params = p_client_key, .response = "ClientKeyRevoked"},

	/* client bindings: who acts for an operator (operator, regulator of its jurisdiction, admin) */
	{"GET", "/v1/client-bindings", gw_sql_route, 0,
		"The system client bindings the caller may see: an operator its own, a regulator its jurisdiction's, "
		"a system client its own (api_client_bindings; operator= for one operator)",
		NULL, NULL,
		"select coalesce(jsonb_agg(" BINDING_ROW("b") " order by b.operator, b.client), '[]') "
		"from shilian.api_client_bindings($1::bigint) b", bindings_list_args,
		.op = "listClientBindings", .params = p_bindings, .response = "ClientBindingList"},
	{"POST", "/v1/client-bindings", gw_sql_route, GW_JSON | GW_CREATED,
		"Bind a system client to an operator, recorded on the operator's ledger chain (api_client_bind)",
		binding_fields, binders,
		"select " BINDING_ROW("b") " from (select shilian.api_client_bind($1, coalesce($2::bigint, " ACTING "))) a, "
		"shilian.api_client_bindings(coalesce($2::bigint, " ACTING ")) b where b.client = $1", binding_args,
		.op = "createClientBinding", .response = "ClientBinding", .location = "/v1/client-bindings?operator={operator}"},
	{"DELETE", "/v1/client-bindings/{client}/{operator}", gw_sql_route, 0,
		"Withdraw a system client's binding to an operator, recorded on its ledger chain (api_client_unbind)",
		NULL, binders,
		"select json_build_object('client', $1::text, 'operator', $2::bigint::text, 'bound', false) "
		"from (select shilian.api_client_unbind($1, $2::bigint)) a", path01,
		.op = "deleteClientBinding", .params = p_binding, .response = "ClientUnbound"},

	/* ledger */
	{"GET", "/v1/ledger/verify", gw_sql_route, 0, "Recompute hash chains (chain_verify); operator= for one",
		NULL, NULL,
		"select coalesce(jsonb_agg(jsonb_build_object('operator', v.operator::text, 'entries', v.entries, "
		"'ok', v.ok, 'first_bad_seq', v.first_bad_seq, 'reason', v.reason) order by v.operator), '[]') "
		"from shilian.chain_verify($1::bigint) v", verify_args,
		.op = "verifyLedger", .params = p_verify, .response = "ChainVerifyList"},
	{"POST", "/v1/ledger/checkpoint", gw_sql_route, GW_CREATED, "Sign off a Merkle checkpoint (checkpoint; platform admins)",
		NULL, admins,
		"select json_build_object('tree_size', c.tree_size::text, 'root', encode(c.root, 'hex'), "
		"'created_at', c.created_at) from shilian.checkpoint() c", NULL,
		.op = "createCheckpoint", .response = "Checkpoint", .location = "/v1/ledger/proofs/consistency?old_size={tree_size}"},
	{"GET", "/v1/ledger/proofs/inclusion", gw_sql_route, 0, "RFC 9162 inclusion proof of an entry (entry=, tree_size=)",
		NULL, NULL, "select shilian.inclusion_proof($1::bigint, $2::bigint)", inclusion_args,
		.op = "getInclusionProof", .params = p_inclusion, .response = "Proof"},
	{"GET", "/v1/ledger/proofs/consistency", gw_sql_route, 0, "RFC 9162 consistency proof (old_size=, new_size=)",
		NULL, NULL, "select shilian.consistency_proof($1::bigint, $2::bigint)", consistency_args,
		.op = "getConsistencyProof", .params = p_consistency, .response = "Proof"},
	{"GET", "/v1/ledger/checkpoint", gw_sql_route, GW_PUBLIC,
		"The latest signed checkpoint with its cosignatures (checkpoint_note_json; Accept: text/plain for the C2SP note)",
		NULL, NULL, "select shilian.checkpoint_note_json(null), shilian.checkpoint_note(null) as text_plain", NULL,
		.op = "getSignedCheckpoint", .params = p_accept_note, .response = "SignedCheckpoint"},
	{"GET", "/v1/ledger/checkpoints/{size}", gw_sql_route, GW_PUBLIC,
		"A signed checkpoint by tree size, with its cosignatures (checkpoint_note_json; Accept: text/plain for the note)",
		NULL, NULL, "select shilian.checkpoint_note_json($1::bigint), shilian.checkpoint_note($1::bigint) as text_plain",
		path0,
		.op = "getSignedCheckpointBySize", .params = p_note_size, .response = "SignedCheckpoint"},
	{"POST", "/v1/ledger/checkpoints", gw_sql_route, GW_JSON | GW_CREATED,
		"Store a signed checkpoint made by the signing job (checkpoint_note_store; platform admins)",
		note_fields, admins,
		"select json_build_object('tree_size', s::text) from shilian.checkpoint_note_store($1) s", note_args,
		.op = "storeSignedCheckpoint", .response = "CheckpointStored", .location = "/v1/ledger/checkpoints/{tree_size}"},
	{"POST", "/v1/ledger/checkpoints/{size}/cosignatures", gw_sql_route, GW_JSON | GW_CREATED,
		"A witness's cosignature on a signed checkpoint (checkpoint_cosign; regulators, admins)",
		cosign_fields, regulators,
		"select json_build_object('tree_size', $1::bigint::text, 'stored', shilian.checkpoint_cosign($1::bigint, $2))",
		cosign_args,
		.op = "cosignCheckpoint", .params = p_note_size, .response = "CheckpointCosigned",
		.location = "/v1/ledger/checkpoints/{tree_size}"},
	{"POST", "/v1/ledger/checkpoints/{size}/refusals", gw_sql_route, GW_JSON | GW_CREATED,
		"A witness refused a checkpoint: recorded and announced on shilian_alert (checkpoint_witness_refused)",
		refusal_fields, regulators,
		"select json_build_object('id', shilian.checkpoint_witness_refused($1, $2::bigint, $3, $4)::text, "
		"'tree_size', $2::bigint::text)",
		refusal_args,
		.op = "refuseCheckpoint", .params = p_note_size, .response = "CheckpointRefused",
		.location = "/v1/ledger/checkpoints/{tree_size}"},
	/* bulk upload */
	{"POST", "/v1/import", gw_import_route, GW_NDJSON_BODY | GW_STREAM | GW_ACCEPTED,
		"Bulk upload, streamed: one record per line, each applied or refused on its own; 202 with "
		"Location once staged, applied in the background (Prefer: wait: 201 when applied) "
		"(COPY into staging, import_apply in committed chunks; mode=, Idempotency-Key)",
		NULL, NULL, NULL, NULL,
		.op = "importRecords", .params = p_import, .response = "ImportJob", .location = "/v1/import/{id}"},
	{"GET", "/v1/import", gw_sql_route, 0,
		"The caller's uploads, newest first, each as import_status (import_jobs; limit=, offset=)",
		NULL, NULL, "select shilian.import_jobs(coalesce($1::integer, 50), coalesce($2::integer, 0))",
		import_list_args,
		.op = "listImports", .params = p_import_list, .response = "ImportJobList"},
	{"GET", "/v1/import/{id}", gw_sql_route, 0,
		"An upload's progress: status, counts total/done/accepted/refused, times, and its first refused "
		"lines' errors (import_progress)",
		NULL, NULL, "select shilian.import_progress($1::bigint)", import_get_args,
		.op = "getImport", .params = p_id, .response = "ImportJob"},
	{"GET", "/v1/import/{id}/lines", gw_sql_route, 0,
		"An upload's per-line report: accepted with the new id, refused with SQLSTATE and message (import_lines; status=)",
		NULL, NULL,
		"select shilian.import_lines($1::bigint, $2) where shilian.import_status($1::bigint) is not null",
		import_lines_args,
		.op = "listImportLines", .params = p_import_lines, .response = "ImportLineList"},

	/* GS1 EPCIS 2.0 */
	{"POST", "/epcis/capture", gw_sql_route, GW_LDJSON_BODY | GW_ACCEPTED,
		"Capture an EPCISDocument: every event recorded through the record functions, all or nothing "
		"(epcis_capture); 202 with the job's Location, or the error with the failed job's captureID",
		NULL, NULL,
		"select s.body, s.location, s.error_sqlstate from shilian.epcis_capture_submit($1::jsonb) s",
		epcis_capture_args,
		.op = "captureEpcis", .response = "EpcisCaptureJob"},
	{"GET", "/epcis/capture/{id}", gw_sql_route, 0, "An EPCIS capture job: running, success, errors (epcis_capture_status)",
		NULL, NULL, "select shilian.epcis_capture_status($1::bigint)", path0,
		.op = "getEpcisCapture", .params = p_id, .response = "EpcisCaptureJob"},
	{"GET", "/epcis/events", gw_sql_route, 0,
		"Captured events the caller may see as an EPCISQueryDocument (epcis_query: every SimpleEventQuery "
		"parameter, an unknown or malformed one a QueryParameterException; Link rel=next)",
		NULL, NULL,
		"select d - 'shilian:nextPageToken', d ->> 'shilian:nextPageToken' as next_page_token "
		"from shilian.epcis_query(" EPCIS_QUERY_OBJECT ") d", epcis_events_args,
		.op = "queryEpcisEvents", .params = p_epcis_events, .response = "EpcisQueryDocument"},
	{"GET", "/epcis/events/{eventID}", gw_sql_route, GW_PATH_REST,
		"One captured event by its eventID, as an EPCISQueryDocument (epcis_event_get); 404 when unknown or not visible",
		NULL, NULL, "select shilian.epcis_event_get($1)", path0,
		.op = "getEpcisEvent", .params = p_epcis_event, .response = "EpcisQueryDocument"},
	{"GET", "/epcis/eventTypes", gw_sql_route, 0, "The EPCIS event types (epcis_event_types)",
		NULL, NULL, "select shilian.epcis_event_types()", NULL,
		.op = "listEpcisEventTypes", .response = "EpcisCollection"},
	{"GET", "/epcis/eventTypes/{eventType}/events", gw_sql_route, 0,
		"The captured events of one type, with the query parameters of /epcis/events (epcis_query)",
		NULL, NULL,
		"select d - 'shilian:nextPageToken', d ->> 'shilian:nextPageToken' as next_page_token "
		"from shilian.epcis_query(" EPCIS_QUERY_OBJECT ") d", epcis_type_events_args,
		.op = "queryEpcisEventsOfType", .params = p_epcis_type_events, .response = "EpcisQueryDocument"},
	{"GET", "/epcis/queries", gw_sql_route, 0, "The caller's named queries (epcis_named_queries)",
		NULL, NULL, "select shilian.epcis_named_queries()", NULL,
		.op = "listEpcisQueries", .response = "EpcisNamedQueryList"},
	{"POST", "/epcis/queries", gw_sql_route, GW_JSON | GW_CREATED,
		"Create a named query (createQuery): its parameters validated as on /epcis/events, a bad one a "
		"QueryParameterException (epcis_named_query_create); 409 for a name taken",
		epcis_query_fields, NULL, "select shilian.epcis_named_query_create($1, $2::jsonb)", epcis_query_create_args,
		.op = "createEpcisQuery", .response = "EpcisNamedQuery", .location = "/epcis/queries/{name}"},
	{"GET", "/epcis/queries/{queryName}", gw_sql_route, 0, "One of the caller's named queries (epcis_named_query_get)",
		NULL, NULL, "select shilian.epcis_named_query_get($1)", path0,
		.op = "getEpcisQuery", .params = p_epcis_query_name, .response = "EpcisNamedQuery"},
	{"DELETE", "/epcis/queries/{queryName}", gw_sql_route, 0, "Delete one of the caller's named queries (epcis_named_query_delete)",
		NULL, NULL, "select shilian.epcis_named_query_delete($1)", path0,
		.op = "deleteEpcisQuery", .params = p_epcis_query_name, .response = "EpcisNamedQuery"},
	{"GET", "/epcis/queries/{queryName}/subscriptions", gw_sql_route, 0,
		"The caller's active subscriptions of its named query (epcis_subscriptions)",
		NULL, NULL, "select shilian.epcis_subscriptions($1)", path0,
		.op = "listEpcisSubscriptions", .params = p_epcis_query_name, .response = "EpcisSubscriptionList"},
	{"POST", "/epcis/queries/{queryName}/subscriptions", gw_sql_route, GW_JSON | GW_CREATED,
		"Subscribe a URL to a named query (stream: each capture's new matching events POSTed as an "
		"EPCISQueryDocument through the webhook outbox; epcis_subscribe)",
		epcis_subscription_fields, NULL,
		"select shilian.epcis_subscribe($1, $2, $3, $4::boolean, $5::boolean, $6::jsonb, $7)", epcis_subscribe_args,
		.op = "createEpcisSubscription", .params = p_epcis_query_name, .response = "EpcisSubscription",
		.location = "/epcis/queries/{queryName}/subscriptions/{subscriptionID}"},
	{"GET", "/epcis/queries/{queryName}/subscriptions/{subscriptionID}", gw_sql_route, 0,
		"One of the caller's subscriptions of its named query (epcis_subscription_get); 404 when unknown or another's",
		NULL, NULL, "select shilian.epcis_subscription_get($1, $2)", path01,
		.op = "getEpcisSubscription", .params = p_epcis_subscription, .response = "EpcisSubscription"},
	{"DELETE", "/epcis/queries/{queryName}/subscriptions/{subscriptionID}", gw_sql_route, 0,
		"Unsubscribe (epcis_unsubscribe): no new notification, pending ones cancelled; 404 when unknown or another's",
		NULL, NULL, "select shilian.epcis_unsubscribe($1, $2)", path01,
		.op = "deleteEpcisSubscription", .params = p_epcis_subscription, .response = "EpcisSubscription"},
	{"GET", "/epcis/queries/{queryName}/events", gw_sql_route, 0,
		"Run a named query: its events as on /epcis/events, same pages (epcis_named_query_run; Link rel=next)",
		NULL, NULL,
		"select d - 'shilian:nextPageToken', d ->> 'shilian:nextPageToken' as next_page_token "
		"from shilian.epcis_named_query_run($1, $2::text, $3) d", epcis_query_run_args,
		.op = "runEpcisQuery", .params = p_epcis_query_run, .response = "EpcisQueryDocument"},

	/* serialised items (SGTIN) commissioned by EPCIS */
	{"GET", "/v1/items/{epc}", gw_sql_route, GW_PATH_REST,
		"A serialised item (SGTIN, any spelling) with the lot it was commissioned in (item_get, item_batch's rule); "
		"404 when unknown or its lot's holder is not visible, 422 when not an SGTIN",
		NULL, NULL, "select shilian.item_get($1)", path0,
		.op = "getItem", .params = p_item, .response = "Item"},

	{"GET", "/v1/ledger/export", gw_sql_route, GW_NDJSON | GW_REPLICA,
		"An operator's chain with checkpoint and proofs, as JSON lines for shilian-verify (operator=, old_size=)",
		NULL, NULL,
		"select string_agg(l, E'\\n') || E'\\n' from shilian.ledger_export($1::bigint, $2::bigint) l",
		export_args,
		.op = "exportLedger", .params = p_export, .response = "application/x-ndjson"},
	/* webhooks (docs/webhooks.md) */
	{"GET", "/v1/webhooks", gw_sql_route, 0,
		"The webhook subscriptions the caller may see, with pending/delivered/dead counts (webhook_subscriptions; all=true with removed ones)",
		NULL, NULL, "select shilian.webhook_subscriptions(coalesce($1::boolean, false))", webhook_list_args,
		.op = "listWebhooks", .params = p_webhooks, .response = "WebhookList"},
	{"POST", "/v1/webhooks", gw_sql_route, GW_JSON | GW_CREATED,
		"Subscribe a URL to event kinds of an operator or a jurisdiction; the signing secret is in this reply only (webhook_subscribe)",
		webhook_fields, NULL,
		"select shilian.webhook_subscribe($1, array(select jsonb_array_elements_text($2::jsonb)), $3::bigint, $4)",
		webhook_args,
		.op = "createWebhook", .response = "Webhook", .location = "/v1/webhooks/{id}"},
	{"GET", "/v1/webhooks/{id}", gw_sql_route, 0, "One webhook subscription (webhook_subscriptions)",
		NULL, NULL,
		"select e from jsonb_array_elements(shilian.webhook_subscriptions(true)) e where e ->> 'id' = $1::bigint::text",
		path0,
		.op = "getWebhook", .params = p_id, .response = "Webhook"},
	{"DELETE", "/v1/webhooks/{id}", gw_sql_route, 0,
		"Remove a webhook subscription: pending deliveries cancelled, the log kept (webhook_unsubscribe)",
		NULL, NULL, "select shilian.webhook_unsubscribe($1::bigint)", path0,
		.op = "deleteWebhook", .params = p_id, .response = "Webhook"},
	{"GET", "/v1/webhooks/{id}/deliveries", gw_sql_route, 0,
		"A subscription's delivery log, newest first: body, status, attempts with HTTP status or error "
		"(webhook_deliveries; status=, limit=, before=)",
		NULL, NULL,
		"select shilian.webhook_deliveries($1::bigint, $2, coalesce($3::int, 100), $4::bigint)", webhook_log_args,
		.op = "listWebhookDeliveries", .params = p_webhook_log, .response = "WebhookDeliveryList"},
	{"POST", "/v1/webhooks/deliveries/{id}/redeliver", gw_sql_route, 0,
		"Send a dead delivery again, same event id (webhook_redeliver)",
		NULL, NULL, "select shilian.webhook_redeliver($1::bigint)", path0,
		.op = "redeliverWebhookDelivery", .params = p_id, .response = "WebhookRedelivery"},

	/*
	 * the GS1 Digital Link resolver and the consumer page (pages.c): page,
	 * public trace JSON or linkset by Accept; linkType= answers a 307
	 */
	{"GET", "/01/{gtin}/10/{lot}", gw_page_route, GW_PUBLIC,
		"GS1 Digital Link of a lot (public_lot, public_trace): the consumer page, JSON or linkset by Accept",
		.op = "resolveLot", .params = p_dl_lot, .response = "text/html"},
	{"GET", "/01/{gtin}/10/{lot}/21/{serial}", gw_page_route, GW_PUBLIC,
		"GS1 Digital Link of a serialised item: its lot's page (public_lot, public_trace)",
		.op = "resolveLotSerial", .params = p_dl_lot_serial, .response = "text/html"},
	{"GET", "/01/{gtin}/21/{serial}", gw_page_route, GW_PUBLIC,
		"GS1 Digital Link with a serial, the lot's trace code (public_lot, public_trace)",
		.op = "resolveSerial", .params = p_dl_serial, .response = "text/html"},
	{"GET", "/01/{gtin}", gw_page_route, GW_PUBLIC,
		"A GTIN alone names no lot: the 404 page that says a lot or serial is needed (public_lot)",
		.op = "resolveGtin", .params = p_dl_gtin, .response = "text/html"},
	{"GET", "/t/{code}", gw_page_route, GW_PUBLIC,
		"The consumer page of a trace code (public_trace): page, JSON or linkset by Accept",
		.op = "resolveTraceCode", .params = p_dl_code, .response = "text/html"},

	/* the phone page for registration and activation (registration.c, docs/registration.md) */
	{"GET", "/register", gw_registration_page_route, GW_PUBLIC,
		"The registration page (注册): a form for phones, server-rendered, no script",
		.op = "registrationPage", .response = "text/html"},
	{"POST", "/register", gw_registration_page_route, GW_PUBLIC,
		"The registration form posted (application/x-www-form-urlencoded): operator_register_request, the answer as a page",
		.op = "submitRegistrationPage", .response = "text/html"},
	{"GET", "/activate", gw_registration_page_route, GW_PUBLIC,
		"The activation page (激活): licence number, the station's code, phone number",
		.op = "activationPage", .response = "text/html"},
	{"POST", "/activate", gw_registration_page_route, GW_PUBLIC,
		"The activation form posted: operator_activate_with_code, the answer as a page",
		.op = "submitActivationPage", .response = "text/html"},
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);
