/*
 * api.c — the route table: every REST route, who may call it, its JSON body
 * schema and, for SQL routes, the one statement it runs with where each $n
 * comes from. The rules live in the extension; these statements only call
 * its functions and shape the JSON. Ids and trace codes go out as strings.
 */
#include "gateway.h"

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
	{"operator", GW_ANY, false, "operator id (default: the acting operator)"},
	{"licence_no", GW_STRING, true, "SC or JY + 14 digits"},
	{"scope", GW_ARRAY, true, "categories covered"},
	{"valid_from", GW_STRING, true, "date"},
	{"valid_to", GW_STRING, true, "date"},
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
	{"owner", GW_ANY, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const product_args[] = {
	"body:name", "body:category", "body:shelf_life_days", "body:spec", "body:gtin",
	"body:edible_agricultural", "body:owner", NULL
};

/* ---- records ------------------------------------------------------------- */

static const GwField batch_fields[] = {
	{"owner", GW_ANY, false, "operator id (default: the acting operator)"},
	{"product", GW_ANY, true, "product id"},
	{"qty", GW_STRING, true, "quantity with unit, e.g. \"500 kg\""},
	{"produced_on", GW_STRING, false, "date (default today)"},
	{"lot", GW_STRING, false, NULL},
	{"expires_on", GW_STRING, false, "date"},
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
	{"inspected_at", GW_STRING, false, "timestamp (default now)"},
	{"operator", GW_ANY, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const inspect_args[] = {
	"body:code", "body:kind", "body:result", "body:report", "body:inspected_at", "body:operator", NULL
};

static const GwField ship_fields[] = {
	{"code", GW_STRING, true, "trace code of the batch sold"},
	{"buyer", GW_ANY, true, "buyer operator id"},
	{"qty", GW_STRING, true, "quantity with unit"},
	{"shipped_on", GW_STRING, false, "date (default today)"},
	{"seller", GW_ANY, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const ship_args[] = {
	"body:code", "body:buyer", "body:qty", "body:shipped_on", "body:seller", NULL
};

static const GwField receive_fields[] = {
	{"link", GW_ANY, true, "the pending shipment (link id)"},
	{"qty", GW_STRING, true, "accepted quantity"},
	{"inspection", GW_OBJECT, true, "incoming inspection record (进货查验)"},
	{"received_at", GW_STRING, false, "timestamp (default now)"},
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
	{"rejected_at", GW_STRING, false, "timestamp (default now)"},
	{NULL}
};
static const char *const reject_args[] = {"path:0", "body:reason", "body:rejected_at", NULL};

static const GwField first_entry_fields[] = {
	{"buyer", GW_ANY, false, "operator id (default: the acting operator)"},
	{"product", GW_ANY, true, "product id"},
	{"qty", GW_STRING, true, "quantity with unit"},
	{"supplier", GW_OBJECT, true, "the supplier's identity (name, address, contact, ...)"},
	{"inspection", GW_OBJECT, true, "incoming inspection record"},
	{"produced_on", GW_STRING, false, "date (default today)"},
	{"received_at", GW_STRING, false, "timestamp (default now)"},
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
	{"product", GW_ANY, true, "product id of the output"},
	{"qty", GW_STRING, true, "output quantity"},
	{"produced_on", GW_STRING, false, "date (default today)"},
	{"lot", GW_STRING, false, NULL},
	{"expires_on", GW_STRING, false, "date"},
	{"operator", GW_ANY, false, "operator id (default: the acting operator)"},
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
	{"at", GW_STRING, false, "timestamp (default now)"},
	{"note", GW_STRING, false, NULL},
	{"operator", GW_ANY, false, "operator id (default: the acting operator)"},
	{NULL}
};
static const char *const consume_args[] = {
	"body:code", "body:qty", "body:kind", "body:at", "body:note", "body:operator", NULL
};

static const char *const completeness_args[] = {"path:0", "path:1", NULL};

/* ---- trace and recall ------------------------------------------------------ */

#define TRACE_ROWS(fn) \
	"select coalesce(jsonb_agg(jsonb_build_object('batch', t.batch::text, 'holder', t.holder::text, " \
	"'depth', t.depth, 'via_link', t.via_link::text, 'qty_reached', t.qty_reached::text, " \
	"'qty_on_hand', t.qty_on_hand::text, 'status', t.status)), '[]') " \
	"from shilian." fn "($1::shilian.trace_code, $2::int, coalesce($3::timestamptz, now())) t"
static const char *const public_trace_args[] = {"path:0", "query:t", NULL};
static const char *const trace_args[] = {"path:0", "query:max_depth", "query:as_of", NULL};
static const char *const graph_args[] = {"path:0", "query:direction", "query:max_depth", NULL};

static const GwField recall_fields[] = {
	{"code", GW_STRING, true, "trace code of the suspect lot"},
	{"reason", GW_STRING, true, NULL},
	{"direction", GW_STRING, false, "forward (default: where it went) or backward (its sources)"},
	{NULL}
};
static const char *const recall_args[] = {"body:code", "body:reason", "body:direction", NULL};
static const GwField ack_fields[] = {
	{"operator", GW_ANY, false, "holder (default: the acting operator)"},
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
static const char *const import_lines_args[] = {"path:0", "query:status", NULL};
/* ---- GS1 EPCIS 2.0 ----------------------------------------------------------- */

static const char *const epcis_capture_args[] = {"raw", NULL};
static const char *const epcis_events_args[] = {
	"query:GE_eventTime", "query:LT_eventTime", "query:EQ_bizStep", "query:MATCH_epcClass",
	"query:MATCH_anyEPCClass", "query:perPage", "query:nextPageToken", NULL
};
/* a list parameter: values separated by "|" (the EPCIS REST binding's form) */
#define EPCIS_LIST(n) "string_to_array(" n ", '|')"

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
	{"operator", GW_ANY, true, "operator id the client may see and record for"},
	{NULL}
};
static const char *const client_bind_args[] = {"path:0", "body:operator", NULL};
static const char *const path01[] = {"path:0", "path:1", NULL};

static const char *const regulators[] = {"regulator", "admin", NULL};
static const char *const admins[] = {"admin", NULL};

const GwRoute gw_routes[] = {
	{"GET", "/healthz", gw_healthz_route, GW_NOAUTH, "Liveness and database check"},
	{"GET", "/metrics", gw_metrics_route, GW_NOAUTH, "Prometheus metrics"},
	{"GET", "/openapi.json", gw_openapi_route, GW_NOAUTH, "This API description (OpenAPI 3.1)"},
	{"GET", "/v1/version", gw_version_route, GW_PUBLIC, "Versions of the gateway, library and extension"},
	{"GET", "/v1/session", gw_session_route, 0, "The caller's role and settings as the database sees them"},
	{"POST", "/v1/hash", gw_sql_route, GW_PUBLIC | GW_JSON, "Hash bytes with the ledger's hash function",
		hash_fields, NULL,
		"select json_build_object('algorithm', coalesce($2, 'sha256'), 'digest_hex', "
		"encode(shilian.hash(decode($1, 'hex'), coalesce($2, 'sha256')), 'hex'))", hash_args},

	/* registry */
	{"POST", "/v1/operators", gw_sql_route, GW_JSON | GW_CREATED, "Register an operator (operator_register)",
		operator_fields, NULL,
		"select json_build_object('id', shilian.operator_register(name => $1, segment => $2, "
		"kinds => array(select jsonb_array_elements_text($3::jsonb)), station => $4, address => $5, "
		"contact => $6, uscc => $7::shilian.uscc, reg_card => $8, own_system => coalesce($9::boolean, false), "
		"regulator_contact => $10)::text)", operator_args},
	{"POST", "/v1/operators/{id}/activate", gw_sql_route, 0, "Activate a registered operator (operator_activate)",
		NULL, regulators,
		"select json_build_object('id', $1::bigint::text, 'status', 'active') "
		"from (select shilian.operator_activate($1::bigint)) a", path0},
	{"GET", "/v1/operators/{id}", gw_sql_route, 0, "One operator",
		NULL, NULL,
		"select jsonb_set(to_jsonb(o), '{id}', to_jsonb(o.id::text)) from shilian.operator o "
		"where o.id = $1::bigint", path0},
	{"GET", "/v1/operators", gw_sql_route, 0, "Operators, filtered by status, segment, station; limit/offset",
		NULL, NULL,
		"with f as (select o.* from shilian.operator o where ($1::text is null or o.status = $1) "
		"and ($2::text is null or o.segment = $2) and ($3::text is null or o.station = $3)), "
		"p as (select * from f order by id limit " LIMIT("$4") " offset " OFFSET("$5") ") "
		"select coalesce((select jsonb_agg(jsonb_set(to_jsonb(p), '{id}', to_jsonb(p.id::text)) order by p.id) from p), '[]'), "
		"case when (select count(*) from p) = 0 then '*/' || (select count(*) from f) "
		"else " OFFSET("$5") " || '-' || (" OFFSET("$5") " + (select count(*) from p) - 1) || '/' || (select count(*) from f) end "
		"as content_range", operator_list_args},
	{"POST", "/v1/licences", gw_sql_route, GW_JSON | GW_CREATED, "Add a licence (licence_add)",
		licence_fields, NULL,
		"select json_build_object('id', shilian.licence_add(coalesce($1::bigint, " ACTING "), "
		"$2::shilian.license_no, array(select jsonb_array_elements_text($3::jsonb)), $4::date, $5::date)::text)",
		licence_args},
	{"POST", "/v1/products", gw_sql_route, GW_JSON | GW_CREATED, "Register a product (product_register)",
		product_fields, NULL,
		"select json_build_object('id', shilian.product_register(name => $1, category => $2, "
		"shelf_life_days => $3::int, spec => $4, gtin => $5, edible_agricultural => coalesce($6::boolean, false), "
		"owner => coalesce($7::bigint, " ACTING "))::text)", product_args},

	/* records */
	{"POST", "/v1/batches", gw_sql_route, GW_JSON | GW_CREATED, "Create a batch: production, harvest, import (batch_create)",
		batch_fields, NULL,
		"select json_build_object('trace_code', shilian.batch_create(owner => coalesce($1::bigint, " ACTING "), "
		"product => $2::bigint, qty => $3::shilian.qty, produced_on => coalesce($4::date, shilian.platform_today()), "
		"lot => $5, expires_on => $6::date, certificate => $7::jsonb)::text)", batch_args},
	{"GET", "/v1/batches/{code}", gw_sql_route, 0, "One batch by trace code",
		NULL, NULL,
		"select to_jsonb(b) || jsonb_build_object('id', b.id::text, 'trace_code', b.trace_code::text, "
		"'owner_id', b.owner_id::text, 'product_id', b.product_id::text, "
		"'product_name', p.name, 'category', p.category, "
		"'public_token', shilian.public_token(b.trace_code), 'public_path', shilian.public_path(b.trace_code)) "
		"from shilian.batch b join shilian.product p on p.id = b.product_id "
		"where b.trace_code = $1::shilian.trace_code", path0},
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
	{"GET", "/v1/batches", gw_sql_route, 0,
		"The acting operator's batches, newest first; limit=, after= (keyset cursor, Link rel=next), "
		"total in Content-Range only with Prefer: count=exact",
		NULL, NULL,
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
		"(select p.id from p order by p.created_at, p.id limit 1)::text end as next_after", page_args},
	{"POST", "/v1/inspections", gw_sql_route, GW_JSON | GW_CREATED, "Record an inspection (inspect)",
		inspect_fields, NULL,
		"select json_build_object('id', shilian.inspect($1::shilian.trace_code, $2, $3, $4::jsonb, "
		"coalesce($5::timestamptz, now()), coalesce($6::bigint, " ACTING "))::text)", inspect_args},
	{"POST", "/v1/shipments", gw_sql_route, GW_JSON | GW_CREATED, "Record a sale; the buyer gets a receipt draft (ship)",
		ship_fields, NULL,
		"select json_build_object('link', shilian.ship($1::shilian.trace_code, $2::bigint, $3::shilian.qty, "
		"coalesce($4::date, shilian.platform_today()), coalesce($5::bigint, " ACTING "))::text)", ship_args},
	{"GET", "/v1/shipments/inbox", gw_sql_route, 0, "The acting operator's receipt drafts (pending shipments to it)",
		NULL, NULL,
		"select coalesce(jsonb_agg(to_jsonb(d) || jsonb_build_object('link', d.link::text, "
		"'from_code', d.from_code::text) order by d.link), '[]') "
		"from shilian.receipt_drafts(" ACTING ") d", NULL},
	{"POST", "/v1/shipments/{link}/reject", gw_sql_route, GW_JSON, "Refuse a whole shipment (reject)",
		reject_fields, NULL,
		"select json_build_object('link', $1::bigint::text, 'status', 'rejected') "
		"from (select shilian.reject($1::bigint, $2, coalesce($3::timestamptz, now()))) r", reject_args},
	{"POST", "/v1/receipts", gw_sql_route, GW_JSON | GW_CREATED, "Confirm a receipt; creates the buyer's batch (receive)",
		receive_fields, NULL,
		"select json_build_object('trace_code', shilian.receive($1::bigint, $2::shilian.qty, $3::jsonb, "
		"coalesce($4::timestamptz, now()), $5, $6::shilian.trace_code)::text)", receive_args},
	{"POST", "/v1/receipts/first-entry", gw_sql_route, GW_JSON | GW_CREATED,
		"Receive from a supplier without records, e.g. a farmer (receive_first_entry)",
		first_entry_fields, NULL,
		"select json_build_object('trace_code', shilian.receive_first_entry(coalesce($1::bigint, " ACTING "), "
		"$2::bigint, $3::shilian.qty, $4::jsonb, $5::jsonb, coalesce($6::date, shilian.platform_today()), "
		"coalesce($7::timestamptz, now()), $8, $9::jsonb)::text)", first_entry_args},
	{"POST", "/v1/transformations", gw_sql_route, GW_JSON | GW_CREATED, "Process inputs into one output batch (transform)",
		transform_fields, NULL,
		"select json_build_object('trace_code', shilian.transform("
		"array(select jsonb_array_elements_text($1::jsonb))::shilian.trace_code[], "
		"array(select jsonb_array_elements_text($2::jsonb))::shilian.qty[], $3::bigint, $4::shilian.qty, "
		"coalesce($5::date, shilian.platform_today()), $6, $7::date, coalesce($8::bigint, " ACTING "))::text)", transform_args},
	{"POST", "/v1/consumptions", gw_sql_route, GW_JSON | GW_CREATED,
		"Record use: served, sold at retail, destroyed, sample kept (consume)",
		consume_fields, NULL,
		"select json_build_object('id', shilian.consume($1::shilian.trace_code, $2::shilian.qty, $3, "
		"coalesce($4::timestamptz, now()), $5, coalesce($6::bigint, " ACTING "))::text)", consume_args},
	{"GET", "/v1/records/{kind}/{id}/completeness", gw_sql_route, 0,
		"Which legally required fields a record lacks, and its retention date (record_completeness)",
		NULL, NULL,
		"select to_jsonb(c) from shilian.record_completeness($1, $2::bigint) c", completeness_args},

	/* trace and recall */
	{"GET", "/v1/trace/{code}/forward", gw_sql_route, 0,
		"Every batch the lot reached, with the share of it and what is on hand (trace_forward; max_depth=, as_of=)",
		NULL, NULL, TRACE_ROWS("trace_forward"), trace_args},
	{"GET", "/v1/trace/{code}/backward", gw_sql_route, 0,
		"Every source of the lot (trace_backward; max_depth=, as_of=)",
		NULL, NULL, TRACE_ROWS("trace_backward"), trace_args},
	{"GET", "/v1/trace/{code}/graph", gw_sql_route, 0, "Nodes and edges for drawing (trace_graph; direction=, max_depth=)",
		NULL, NULL, "select shilian.trace_graph($1::shilian.trace_code, coalesce($2, 'forward'), $3::int)", graph_args},
	{"GET", "/v1/public/trace/{code}", gw_sql_route, GW_PUBLIC,
		"The consumer view of a code on a package with its token t= (printed with the code): product, producer, "
		"origin, inspections, custody; 404 SLP01 alike for a wrong token and an unknown code (public_trace)",
		NULL, NULL, "select shilian.public_trace($1::shilian.trace_code, $2)", public_trace_args},
	{"POST", "/v1/recalls", gw_sql_route, GW_JSON | GW_CREATED, "Open a recall; every holder is a target (recall_open)",
		recall_fields, regulators,
		"select json_build_object('id', shilian.recall_open($1::shilian.trace_code, $2, coalesce($3, 'forward'))::text)",
		recall_args},
	{"GET", "/v1/recalls/{id}", gw_sql_route, 0, "Counts and quantities outstanding (recall_status)",
		NULL, NULL, "select to_jsonb(s) from shilian.recall_status($1::bigint) s where s.status is not null", path0},
	{"GET", "/v1/recalls/{id}/targets", gw_sql_route, 0, "Affected lots and holders, as the caller may see them (recall_targets)",
		NULL, NULL,
		"select coalesce(jsonb_agg(to_jsonb(t) || jsonb_build_object('batch', t.batch::text, 'holder', t.holder::text, "
		"'via_link', t.via_link::text) order by t.depth, t.batch), '[]') from shilian.recall_targets($1::bigint) t",
		path0},
	{"POST", "/v1/recalls/{id}/ack", gw_sql_route, GW_JSON, "A holder's action on a recall (recall_ack)",
		ack_fields, NULL,
		"select json_build_object('acknowledged', shilian.recall_ack($1::bigint, coalesce($2::bigint, " ACTING "), $3, "
		"$4::shilian.qty, $5::shilian.trace_code))", ack_args},
	{"POST", "/v1/recalls/{id}/close", gw_sql_route, GW_JSON, "Close a recall; refused while targets are outstanding unless forced (recall_close)",
		close_fields, regulators,
		"select json_build_object('id', $1::bigint::text, 'status', 'closed') "
		"from (select shilian.recall_close($1::bigint, $2)) c", close_args},
	{"GET", "/v1/recalls/{id}/export", gw_sql_route, GW_CSV, "Every affected lot as a sortable CSV, FSMA 204 style (recall_export)",
		NULL, NULL, "select shilian.recall_export($1::bigint)", path0},

	/* regulator */
	{"GET", "/v1/regulator/jurisdictions/{code}/stats", gw_sql_route, 0,
		"Registration, activity, 10+3 coverage, own-system upload and receipt completeness figures per child "
		"jurisdiction and in total (jurisdiction_stats; from=, to= inclusive dates, open when left out)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(s) order by s.total, s.jurisdiction), '[]') "
		"from shilian.jurisdiction_stats($1, daterange($2::date, $3::date, '[]')) s", stats_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/segments", gw_sql_route, 0,
		"The figures of the stats route for the whole subtree, one row per supervision segment "
		"(segment_stats; from=, to= inclusive dates)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(s) - 'n' order by s.n), '[]') "
		"from shilian.segment_stats($1, daterange($2::date, $3::date, '[]')) with ordinality s(segment, licensed, registered, activated, registration_rate, operators, "
		"active_operators, activity_rate, key_operators, key_covered, coverage_rate, own_system_operators, "
		"own_system_uploading, upload_rate, receipts, receipts_complete, completeness_rate, n)", stats_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/inactive", gw_sql_route, 0,
		"Operators with no record since a date, with their regulator contact "
		"(inactive_operators; since= defaults to 30 days ago)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(i) || jsonb_build_object('id', i.id::text) "
		"order by i.station, i.id), '[]') "
		"from shilian.inactive_operators($1, coalesce($2::date, shilian.platform_today() - 30)) i", inactive_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/monthly-report", gw_sql_route, 0,
		"The four assessment figures per city and county with rank, month-on-month change and target "
		"(monthly_report; month=YYYY-MM, the previous month when left out; Accept: text/csv for CSV)",
		NULL, regulators,
		"select shilian.monthly_report(coalesce(($2 || '-01')::date, "
		"(date_trunc('month', shilian.platform_today()::timestamp) - interval '1 month')::date), $1)", report_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/monthly-report.csv", gw_sql_route, GW_CSV,
		"The monthly report as CSV, one line per jurisdiction and figure (monthly_report_csv; month=YYYY-MM)",
		NULL, regulators,
		"select shilian.monthly_report_csv(coalesce(($2 || '-01')::date, "
		"(date_trunc('month', shilian.platform_today()::timestamp) - interval '1 month')::date), $1)", report_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/broken-chain", gw_sql_route, 0,
		"Operators with a broken chain in the period, one row per operator and kind with the evidence "
		"(broken_chain; from=, to= inclusive dates, pending_days= grace, default 3)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(b) || jsonb_build_object('operator', b.operator::text) "
		"order by b.station, b.operator, b.kind), '[]') "
		"from shilian.broken_chain($1, daterange($2::date, $3::date, '[]'), coalesce($4::int, 3)) b", broken_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/findings", gw_sql_route, 0,
		"Violations of the record-keeping articles, each with its article and evidence "
		"(compliance_findings; from=, to= inclusive dates, open when left out)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(c) || jsonb_build_object('operator', c.operator::text) "
		"order by c.station, c.operator, c.kind), '[]') "
		"from shilian.compliance_findings($1, daterange($2::date, $3::date, '[]')) c", stats_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/spot-check", gw_sql_route, 0,
		"A reproducible stratified sample of operators with timeliness, completeness and findings "
		"(spot_check_sample; quarter=YYYYQn default this quarter, n= default 10, seed= default 0)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(s) || jsonb_build_object('operator', s.operator::text) "
		"order by s.stratum, s.segment, s.operator), '[]') "
		"from shilian.spot_check_sample($1, coalesce($2, to_char(shilian.platform_today(), 'YYYY\"Q\"Q')), "
		"coalesce($3::int, 10), coalesce($4::bigint, 0)) s", spot_args},
	{"GET", "/v1/regulator/jurisdictions/{code}/alerts", gw_sql_route, 0,
		"Open alerts of the jurisdiction's operators, newest first (alerts; all=true to include acknowledged ones)",
		NULL, regulators,
		"select coalesce(jsonb_agg(to_jsonb(a) || jsonb_build_object('id', a.id::text, "
		"'operator_id', a.operator_id::text) order by a.raised_at desc, a.id desc), '[]') "
		"from shilian.alerts($1, coalesce($2::boolean, false)) a", alerts_args},
	{"POST", "/v1/regulator/alerts/{id}/ack", gw_sql_route, 0, "Acknowledge an alert (alert_ack)",
		NULL, regulators,
		"select json_build_object('id', $1::bigint::text, 'acknowledged_at', shilian.alert_ack($1::bigint))", path0},

	/* system clients (admins); api_client_info is VOLATILE to see the change before it */
	{"GET", "/v1/admin/clients", gw_sql_route, 0,
		"Every system client with kind, active flag, bound operators and keys by public id (api_clients)",
		NULL, admins, "select shilian.api_clients()", NULL},
	{"POST", "/v1/admin/clients", gw_sql_route, GW_JSON | GW_CREATED,
		"Register a system client: an enterprise's own system, a market or canteen sub-system (api_client_add)",
		client_fields, admins,
		"select shilian.api_client_info($1) from (select shilian.api_client_add($1, $2, coalesce($3, 'other'))) a",
		client_add_args},
	{"GET", "/v1/admin/clients/{client}", gw_sql_route, 0, "One system client (api_client_info)",
		NULL, admins, "select shilian.api_client_info($1)", path0},
	{"PATCH", "/v1/admin/clients/{client}", gw_sql_route, GW_JSON,
		"Rename a system client, change its kind or switch it off or on (api_client_update)",
		client_patch_fields, admins, "select shilian.api_client_update($1, $2, $3, $4::boolean)",
		client_patch_args},
	{"POST", "/v1/admin/clients/{client}/operators", gw_sql_route, GW_JSON,
		"Let a system client see and record for an operator (api_client_bind)",
		client_bind_fields, admins,
		"select shilian.api_client_info($1) from (select shilian.api_client_bind($1, $2::bigint)) a",
		client_bind_args},
	{"DELETE", "/v1/admin/clients/{client}/operators/{id}", gw_sql_route, 0,
		"Withdraw a system client's right to an operator (api_client_unbind)",
		NULL, admins,
		"select shilian.api_client_info($1) from (select shilian.api_client_unbind($1, $2::bigint)) a",
		path01},
	{"POST", "/v1/admin/clients/{client}/keys", gw_sql_route, GW_CREATED,
		"Make an API key for a system client; the key is in this reply only (api_client_key_new)",
		NULL, admins,
		"select json_build_object('client', $1::text, 'key_id', split_part(k, '_', 2), 'key', k) "
		"from shilian.api_client_key_new($1) k", path0},
	{"DELETE", "/v1/admin/clients/{client}/keys/{key_id}", gw_sql_route, 0,
		"Revoke one API key of a system client (api_client_key_revoke)",
		NULL, admins, "select shilian.api_client_key_revoke($1, $2)", path01},

	/* ledger */
	{"GET", "/v1/ledger/verify", gw_sql_route, 0, "Recompute hash chains (chain_verify); operator= for one",
		NULL, NULL,
		"select coalesce(jsonb_agg(jsonb_build_object('operator', v.operator::text, 'entries', v.entries, "
		"'ok', v.ok, 'first_bad_seq', v.first_bad_seq, 'reason', v.reason) order by v.operator), '[]') "
		"from shilian.chain_verify($1::bigint) v", verify_args},
	{"POST", "/v1/ledger/checkpoint", gw_sql_route, GW_CREATED, "Sign off a Merkle checkpoint (checkpoint; platform admins)",
		NULL, admins,
		"select json_build_object('tree_size', c.tree_size::text, 'root', encode(c.root, 'hex'), "
		"'created_at', c.created_at) from shilian.checkpoint() c", NULL},
	{"GET", "/v1/ledger/proofs/inclusion", gw_sql_route, 0, "RFC 9162 inclusion proof of an entry (entry=, tree_size=)",
		NULL, NULL, "select shilian.inclusion_proof($1::bigint, $2::bigint)", inclusion_args},
	{"GET", "/v1/ledger/proofs/consistency", gw_sql_route, 0, "RFC 9162 consistency proof (old_size=, new_size=)",
		NULL, NULL, "select shilian.consistency_proof($1::bigint, $2::bigint)", consistency_args},
	{"GET", "/v1/ledger/checkpoint", gw_sql_route, GW_PUBLIC,
		"The latest signed checkpoint with its cosignatures (checkpoint_note_json; Accept: text/plain for the C2SP note)",
		NULL, NULL, "select shilian.checkpoint_note_json(null), shilian.checkpoint_note(null) as text_plain", NULL},
	{"GET", "/v1/ledger/checkpoints/{size}", gw_sql_route, GW_PUBLIC,
		"A signed checkpoint by tree size, with its cosignatures (checkpoint_note_json; Accept: text/plain for the note)",
		NULL, NULL, "select shilian.checkpoint_note_json($1::bigint), shilian.checkpoint_note($1::bigint) as text_plain",
		path0},
	{"POST", "/v1/ledger/checkpoints", gw_sql_route, GW_JSON | GW_CREATED,
		"Store a signed checkpoint made by the signing job (checkpoint_note_store; platform admins)",
		note_fields, admins,
		"select json_build_object('tree_size', s::text) from shilian.checkpoint_note_store($1) s", note_args},
	{"POST", "/v1/ledger/checkpoints/{size}/cosignatures", gw_sql_route, GW_JSON | GW_CREATED,
		"A witness's cosignature on a signed checkpoint (checkpoint_cosign; regulators, admins)",
		cosign_fields, regulators,
		"select json_build_object('tree_size', $1::bigint::text, 'stored', shilian.checkpoint_cosign($1::bigint, $2))",
		cosign_args},
	{"POST", "/v1/ledger/checkpoints/{size}/refusals", gw_sql_route, GW_JSON | GW_CREATED,
		"A witness refused a checkpoint: recorded and announced on shilian_alert (checkpoint_witness_refused)",
		refusal_fields, regulators,
		"select json_build_object('id', shilian.checkpoint_witness_refused($1, $2::bigint, $3, $4)::text)",
		refusal_args},
	/* bulk upload */
	{"POST", "/v1/import", gw_import_route, GW_NDJSON_BODY | GW_STREAM | GW_CREATED,
		"Bulk upload, streamed: one record per line, each applied or refused on its own "
		"(COPY into staging, import_apply in committed chunks; mode=, Idempotency-Key)",
		NULL, NULL, NULL, NULL},
	{"GET", "/v1/import/{id}", gw_sql_route, 0, "An upload's status and counts total/done/accepted/refused (import_status)",
		NULL, NULL, "select shilian.import_status($1::bigint)", import_get_args},
	{"GET", "/v1/import/{id}/lines", gw_sql_route, 0,
		"An upload's per-line report: accepted with the new id, refused with SQLSTATE and message (import_lines; status=)",
		NULL, NULL,
		"select shilian.import_lines($1::bigint, $2) where shilian.import_status($1::bigint) is not null",
		import_lines_args},

	/* GS1 EPCIS 2.0 */
	{"POST", "/epcis/capture", gw_sql_route, GW_LDJSON_BODY | GW_ACCEPTED,
		"Capture an EPCISDocument: every event recorded through the record functions, all or nothing "
		"(epcis_capture); 202 with the job's Location, or the error with the failed job's captureID",
		NULL, NULL,
		"select s.body, s.location, s.error_sqlstate from shilian.epcis_capture_submit($1::jsonb) s",
		epcis_capture_args},
	{"GET", "/epcis/capture/{id}", gw_sql_route, 0, "An EPCIS capture job: running, success, errors (epcis_capture_status)",
		NULL, NULL, "select shilian.epcis_capture_status($1::bigint)", path0},
	{"GET", "/epcis/events", gw_sql_route, 0,
		"Captured events the caller may see as an EPCISQueryDocument (epcis_events; GE_eventTime, LT_eventTime, "
		"EQ_bizStep, MATCH_epcClass, MATCH_anyEPCClass, perPage, nextPageToken; Link rel=next)",
		NULL, NULL,
		"select d - 'shilian:nextPageToken', d ->> 'shilian:nextPageToken' as next_page_token "
		"from shilian.epcis_events($1::timestamptz, $2::timestamptz, " EPCIS_LIST("$3") ", "
		EPCIS_LIST("$4") ", " EPCIS_LIST("$5") ", $6::int, $7) d", epcis_events_args},

	{"GET", "/v1/ledger/export", gw_sql_route, GW_NDJSON,
		"An operator's chain with checkpoint and proofs, as JSON lines for shilian-verify (operator=, old_size=)",
		NULL, NULL,
		"select string_agg(l, E'\\n') || E'\\n' from shilian.ledger_export($1::bigint, $2::bigint) l",
		export_args},
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);
