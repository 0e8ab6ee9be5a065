/*
 * schemas.c — the one place where the JSON bodies of the REST API are
 * described: every named schema a route's .response (api.c) refers to, and
 * the error documents. /openapi.json puts them under components/schemas as
 * they are; tests/gateway/060_openapi_client.pl lints the document and
 * checks replies against them through a generated client.
 *
 * Written as JSON: SCHEMAS(...) turns its tokens into one string literal.
 * Ids and trace codes are strings (digits for ids: 64-bit safe in every
 * language); dates are "YYYY-MM-DD", timestamps RFC 3339.
 */
#include "gateway.h"

#define SCHEMAS(...) #__VA_ARGS__

const char gw_schemas_json[] = SCHEMAS({
	"Id": {"type": "string", "pattern": "^[0-9]+$", "description": "an id (digits, as a string)"},
	"NullableId": {"type": ["string", "null"], "pattern": "^[0-9]+$"},
	"TraceCode": {"type": "string", "description": "a trace code (追溯码)"},
	"Qty": {"type": "string", "description": "a quantity with its unit, e.g. 500 kg"},
	"Date": {"type": "string", "format": "date"},
	"NullableDate": {"type": ["string", "null"], "format": "date"},
	"Timestamp": {"type": "string", "format": "date-time"},
	"NullableTimestamp": {"type": ["string", "null"], "format": "date-time"},
	"Error": {
		"type": "object",
		"description": "every error outside /epcis: a stable code (GWnnn, a SQLSTATE or SLxxx, docs/errors.md) and what was wrong",
		"properties": {
			"code": {"type": "string"},
			"message": {"type": "string"},
			"details": {"type": ["string", "null"]},
			"hint": {"type": ["string", "null"]}
		},
		"required": ["code", "message", "details", "hint"]
	},
	"Problem": {
		"type": "object",
		"description": "an error under /epcis: RFC 7807 problem details, as the EPCIS 2.0 REST binding specifies; code is the stable code",
		"properties": {
			"type": {"type": "string"},
			"title": {"type": "string"},
			"status": {"type": "integer"},
			"detail": {"type": ["string", "null"]},
			"instance": {"type": "string"},
			"code": {"type": "string"}
		},
		"required": ["type", "title", "status", "instance", "code"]
	},
	"Health": {
		"type": "object",
		"properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]},
			"database": {"type": "string", "enum": ["up", "down"]}},
		"required": ["status", "database"]
	},
	"OpenApiDocument": {"type": "object", "description": "this document"},
	"Version": {
		"type": "object",
		"properties": {"gateway": {"type": "string"}, "library": {"type": "string"}, "extension": {"type": "string"}},
		"required": ["gateway", "library", "extension"]
	},
	"Session": {
		"type": "object",
		"properties": {"role": {"type": "string"}, "operator_id": {"type": "string"},
			"jurisdiction": {"type": "string"}, "client": {"type": "string"}, "read_only": {"type": "boolean"}},
		"required": ["role", "operator_id", "jurisdiction", "client", "read_only"]
	},
	"Digest": {
		"type": "object",
		"properties": {"algorithm": {"type": "string"}, "digest_hex": {"type": "string"}},
		"required": ["algorithm", "digest_hex"]
	},
	"Created": {
		"type": "object", "description": "the id of what was created",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}}, "required": ["id"]
	},
	"CreatedBatch": {
		"type": "object", "description": "the trace code of the new batch",
		"properties": {"trace_code": {"$ref": "#/components/schemas/TraceCode"}}, "required": ["trace_code"]
	},
	"CreatedLink": {
		"type": "object", "description": "the id of the sale (link), the buyer's receipt draft",
		"properties": {"link": {"$ref": "#/components/schemas/Id"}}, "required": ["link"]
	},
	"StatusChange": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "status": {"type": "string"}},
		"required": ["id", "status"]
	},
	"LinkStatus": {
		"type": "object",
		"properties": {"link": {"$ref": "#/components/schemas/Id"}, "status": {"type": "string"}},
		"required": ["link", "status"]
	},
	"Operator": {
		"type": "object",
		"properties": {
			"id": {"$ref": "#/components/schemas/Id"},
			"uscc": {"type": ["string", "null"]},
			"reg_card": {"type": ["string", "null"]},
			"name": {"type": "string"},
			"address": {"type": "string"},
			"contact": {"type": "string"},
			"segment": {"type": "string"},
			"kinds": {"type": "array", "items": {"type": "string"}},
			"station": {"type": "string"},
			"status": {"type": "string", "enum": ["registered", "active", "suspended"]},
			"own_system": {"type": "boolean"},
			"regulator_contact": {"type": ["string", "null"]},
			"status_reason": {"type": ["string", "null"]},
			"registered_at": {"$ref": "#/components/schemas/Timestamp"},
			"activated_at": {"$ref": "#/components/schemas/NullableTimestamp"},
			"suspended_at": {"$ref": "#/components/schemas/NullableTimestamp"}
		},
		"required": ["id", "name", "segment", "station", "status"]
	},
	"OperatorList": {"type": "array", "items": {"$ref": "#/components/schemas/Operator"}},
	"Licence": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "licence_no": {"type": "string"},
			"operator_id": {"$ref": "#/components/schemas/Id"}, "scope": {"type": "array", "items": {"type": "string"}},
			"valid_from": {"$ref": "#/components/schemas/Date"}, "valid_to": {"$ref": "#/components/schemas/Date"},
			"added_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["id", "licence_no", "operator_id"]
	},
	"Product": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "name": {"type": "string"},
			"category": {"type": "string"}, "spec": {"type": ["string", "null"]}, "gtin": {"type": ["string", "null"]},
			"shelf_life_days": {"type": ["integer", "null"]}, "edible_agricultural": {"type": "boolean"},
			"owner_id": {"$ref": "#/components/schemas/Id"}, "registered_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["id", "name", "category", "owner_id"]
	},
	"Inspection": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "batch_id": {"$ref": "#/components/schemas/Id"},
			"operator_id": {"$ref": "#/components/schemas/Id"}, "kind": {"type": "string", "enum": ["release", "incoming", "sampling"]},
			"result": {"type": "string"}, "report": {}, "link_id": {"$ref": "#/components/schemas/NullableId"},
			"inspected_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["id", "batch_id", "operator_id", "kind", "result"]
	},
	"Shipment": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "kind": {"type": "string"},
			"from_batch": {"$ref": "#/components/schemas/Id"}, "to_batch": {"$ref": "#/components/schemas/NullableId"},
			"seller_id": {"$ref": "#/components/schemas/Id"}, "buyer_id": {"$ref": "#/components/schemas/NullableId"},
			"qty_shipped": {"type": ["string", "null"]}, "qty_accepted": {"type": ["string", "null"]},
			"shipped_on": {"$ref": "#/components/schemas/NullableDate"},
			"received_at": {"$ref": "#/components/schemas/NullableTimestamp"},
			"status": {"type": "string", "enum": ["pending", "received", "rejected"]},
			"reject_reason": {"type": ["string", "null"]}, "seller_licence": {"type": ["string", "null"]},
			"created_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["id", "kind", "from_batch", "seller_id", "status"]
	},
	"Consumption": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "batch_id": {"$ref": "#/components/schemas/Id"},
			"operator_id": {"$ref": "#/components/schemas/Id"}, "qty": {"$ref": "#/components/schemas/Qty"},
			"kind": {"type": "string"}, "at": {"$ref": "#/components/schemas/Timestamp"}, "note": {"type": ["string", "null"]}},
		"required": ["id", "batch_id", "operator_id", "qty", "kind"]
	},
	"Batch": {
		"type": "object",
		"properties": {
			"id": {"$ref": "#/components/schemas/Id"},
			"trace_code": {"$ref": "#/components/schemas/TraceCode"},
			"owner_id": {"$ref": "#/components/schemas/Id"},
			"product_id": {"$ref": "#/components/schemas/Id"},
			"qty": {"$ref": "#/components/schemas/Qty"},
			"qty_left": {"$ref": "#/components/schemas/Qty"},
			"produced_on": {"$ref": "#/components/schemas/Date"},
			"expires_on": {"$ref": "#/components/schemas/NullableDate"},
			"lot": {"type": ["string", "null"]},
			"origin": {"type": "string"},
			"created_at": {"$ref": "#/components/schemas/Timestamp"},
			"product_name": {"type": "string"},
			"category": {"type": "string"},
			"public_token": {"type": "string"},
			"public_path": {"type": "string"}
		},
		"required": ["id", "trace_code", "owner_id", "product_id", "qty", "qty_left", "produced_on"]
	},
	"BatchList": {"type": "array", "items": {"$ref": "#/components/schemas/Batch"}},
	"ReceiptDraft": {
		"type": "object",
		"description": "a pending shipment to the acting operator, pre-filled for receive",
		"properties": {
			"link": {"$ref": "#/components/schemas/Id"},
			"from_code": {"$ref": "#/components/schemas/TraceCode"},
			"seller": {"$ref": "#/components/schemas/Id"},
			"seller_name": {"type": "string"},
			"seller_address": {"type": ["string", "null"]},
			"seller_contact": {"type": ["string", "null"]},
			"seller_licence": {"type": ["string", "null"]},
			"product": {"$ref": "#/components/schemas/Id"}
		},
		"required": ["link", "from_code", "seller", "product"]
	},
	"ReceiptDraftList": {"type": "array", "items": {"$ref": "#/components/schemas/ReceiptDraft"}},
	"CorrectionCreated": {
		"type": "object", "description": "the correction or retraction recorded (correct, retract)",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "kind": {"type": "string"},
			"record": {"$ref": "#/components/schemas/Id"},
			"action": {"type": "string", "enum": ["correct", "retract"]}},
		"required": ["id", "kind", "record", "action"]
	},
	"Correction": {
		"type": "object", "description": "one correction or retraction of a record (corrections)",
		"properties": {
			"correction": {"$ref": "#/components/schemas/Id"},
			"action": {"type": "string", "enum": ["correct", "retract"]},
			"reason": {"type": "string"},
			"old": {"type": "object", "description": "the record before"},
			"new": {"type": ["object", "null"], "description": "the record after (null: retracted)"},
			"entry": {"$ref": "#/components/schemas/Id"},
			"supersedes": {"$ref": "#/components/schemas/NullableId"},
			"corrected_by": {"type": "string"},
			"corrected_at": {"$ref": "#/components/schemas/Timestamp"}
		},
		"required": ["correction", "action", "reason", "old", "entry", "corrected_at"]
	},
	"CorrectionList": {"type": "array", "items": {"$ref": "#/components/schemas/Correction"}},
	"Completeness": {
		"type": "object",
		"properties": {"complete": {"type": "boolean"}, "missing": {"type": "array", "items": {"type": "string"}},
			"retain_until": {"$ref": "#/components/schemas/NullableDate"}},
		"required": ["complete", "missing"]
	},
	"TraceRow": {
		"type": "object",
		"properties": {
			"batch": {"$ref": "#/components/schemas/TraceCode"},
			"holder": {"$ref": "#/components/schemas/Id"},
			"depth": {"type": "integer"},
			"via_link": {"$ref": "#/components/schemas/NullableId"},
			"qty_reached": {"type": ["string", "null"]},
			"qty_on_hand": {"type": ["string", "null"]},
			"status": {"type": ["string", "null"]}
		},
		"required": ["batch", "holder", "depth"]
	},
	"TraceRowList": {"type": "array", "items": {"$ref": "#/components/schemas/TraceRow"}},
	"NationalTraceRow": {
		"type": "object", "description": "a lot of the national walk, in its own province (docs/federation.md)",
		"properties": {
			"province": {"type": "string"},
			"batch": {"$ref": "#/components/schemas/TraceCode"},
			"holder": {"$ref": "#/components/schemas/NullableId"},
			"holder_name": {"type": ["string", "null"]},
			"depth": {"type": ["integer", "null"]},
			"via_link": {"$ref": "#/components/schemas/NullableId"},
			"qty_reached": {"type": ["string", "null"]},
			"qty_on_hand": {"type": ["string", "null"]},
			"status": {"type": ["string", "null"]}
		},
		"required": ["province", "batch"]
	},
	"NationalTraceRowList": {"type": "array", "items": {"$ref": "#/components/schemas/NationalTraceRow"}},
	"NationalRecallPart": {
		"type": "object", "description": "one province's part of a national recall (recall_status_national)",
		"properties": {
			"province": {"type": "string"},
			"recall": {"$ref": "#/components/schemas/NullableId"},
			"lot": {"type": ["string", "null"]},
			"targets": {"type": ["integer", "null"]}, "acknowledged": {"type": ["integer", "null"]},
			"outstanding": {"type": ["integer", "null"]},
			"exposed": {"type": ["string", "null"]},
			"status": {"type": ["string", "null"]}
		},
		"required": ["province", "status"]
	},
	"NationalRecallStatus": {"type": "array", "items": {"$ref": "#/components/schemas/NationalRecallPart"}},
	"TraceGraph": {
		"type": "object", "description": "nodes and edges for drawing (trace_graph, docs/trace.md)",
		"properties": {"nodes": {"type": "array", "items": {"type": "object"}},
			"edges": {"type": "array", "items": {"type": "object"}}}
	},
	"PublicTrace": {"type": "object", "description": "the consumer view of a lot (public_trace, docs/trace.md)"},
	"RecallStatus": {
		"type": "object",
		"properties": {
			"status": {"type": "string", "enum": ["open", "closed"]},
			"targets": {"type": "integer"}, "acknowledged": {"type": "integer"}, "outstanding": {"type": "integer"},
			"holders": {"type": "integer"}, "holders_outstanding": {"type": "integer"},
			"on_hand_outstanding": {"type": ["array", "null"], "items": {"type": "string"}},
			"recovered": {"type": ["array", "null"], "items": {"type": "string"}}
		},
		"required": ["status", "targets", "outstanding"]
	},
	"RecallTarget": {
		"type": "object",
		"properties": {
			"batch": {"$ref": "#/components/schemas/TraceCode"},
			"holder": {"$ref": "#/components/schemas/Id"},
			"holder_name": {"type": ["string", "null"]},
			"depth": {"type": "integer"},
			"via_link": {"$ref": "#/components/schemas/NullableId"},
			"qty_exposed": {"type": ["string", "null"]},
			"qty_on_hand": {"type": ["string", "null"]},
			"disposition": {"type": ["string", "null"]},
			"qty_recovered": {"type": ["string", "null"]},
			"acked_at": {"$ref": "#/components/schemas/NullableTimestamp"}
		},
		"required": ["batch", "holder", "depth"]
	},
	"RecallTargetList": {"type": "array", "items": {"$ref": "#/components/schemas/RecallTarget"}},
	"Acknowledged": {"type": "object", "properties": {"acknowledged": {}}, "required": ["acknowledged"]},
	"Registration": {
		"type": "object", "description": "a registration request or activation: its id, status (registered, pending, approved, corrected, refused; active) and operator",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "status": {"type": "string"},
			"operator": {"$ref": "#/components/schemas/Id"}, "identity": {"type": "string"}},
		"required": ["status"]
	},
	"ActivationCode": {
		"type": "object", "description": "a one-time activation code, shown once (stored hashed)",
		"properties": {"operator": {"$ref": "#/components/schemas/Id"}, "code": {"type": "string"},
			"expires_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["operator", "code", "expires_at"]
	},
	"FigureRows": {
		"type": "array", "description": "one object per row of the regulator function (docs/regulator.md)",
		"items": {"type": "object"}
	},
	"MonthlyReport": {
		"type": "object",
		"properties": {"month": {"type": "string"}, "previous_month": {"type": "string"},
			"jurisdiction": {"type": "string"}, "figures": {}, "total": {}, "cities": {}, "counties": {}}
	},
	"AlertAck": {
		"type": "object",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "acknowledged_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["id", "acknowledged_at"]
	},
	"Client": {
		"type": "object",
		"properties": {
			"client": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
			"active": {"type": "boolean"}, "created_at": {"$ref": "#/components/schemas/Timestamp"},
			"operators": {"type": "array"}, "keys": {"type": "array"}
		},
		"required": ["client", "name", "kind", "active"]
	},
	"ClientList": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}},
	"ClientKey": {
		"type": "object", "description": "a new API key: key appears only in this reply",
		"properties": {"client": {"type": "string"}, "key_id": {"type": "string"}, "key": {"type": "string"}},
		"required": ["client", "key_id", "key"]
	},
	"ClientKeyRevoked": {
		"type": "object",
		"properties": {"client": {"type": "string"}, "key_id": {"type": "string"},
			"created_at": {"$ref": "#/components/schemas/Timestamp"},
			"revoked_at": {"$ref": "#/components/schemas/NullableTimestamp"}}
	},
	"ChainVerify": {
		"type": "object",
		"properties": {"operator": {"$ref": "#/components/schemas/Id"}, "entries": {"type": "integer"},
			"ok": {"type": "boolean"}, "first_bad_seq": {"type": ["integer", "null"]}, "reason": {"type": ["string", "null"]}},
		"required": ["operator", "entries", "ok"]
	},
	"ClientBinding": {
		"type": "object", "description": "a system client bound to an operator it acts for (api_client_bindings)",
		"properties": {"client": {"type": "string"}, "name": {"type": ["string", "null"]}, "kind": {"type": ["string", "null"]},
			"operator": {"$ref": "#/components/schemas/Id"},
			"bound_at": {"$ref": "#/components/schemas/NullableTimestamp"},
			"bound_by": {"type": ["string", "null"]}, "ledger_id": {"$ref": "#/components/schemas/NullableId"}},
		"required": ["client", "operator"]
	},
	"ClientBindingList": {"type": "array", "items": {"$ref": "#/components/schemas/ClientBinding"}},
	"ClientUnbound": {
		"type": "object",
		"properties": {"client": {"type": "string"}, "operator": {"$ref": "#/components/schemas/Id"}, "bound": {"type": "boolean"}},
		"required": ["client", "operator", "bound"]
	},
	"Webhook": {
		"type": "object", "description": "a webhook subscription (webhook_subscriptions); secret only in the reply that creates it",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "operator": {"$ref": "#/components/schemas/NullableId"},
			"url": {"type": "string"}, "kinds": {"type": "array", "items": {"type": "string"}}, "active": {"type": "boolean"},
			"secret": {"type": "string"}},
		"required": ["id"]
	},
	"WebhookList": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}},
	"WebhookDelivery": {
		"type": "object", "description": "one delivery of an event to a subscription, with its attempts (webhook_deliveries)",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "event_id": {"type": "string"}, "kind": {"type": "string"},
			"status": {"type": "string"}, "attempts": {"type": "integer"}},
		"required": ["id"]
	},
	"WebhookDeliveryList": {"type": "array", "items": {"$ref": "#/components/schemas/WebhookDelivery"}},
	"WebhookRedelivery": {
		"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"}, "status": {"type": "string"}},
		"required": ["id", "status"]
	},
	"SignedCheckpoint": {
		"type": ["object", "null"], "description": "a signed checkpoint (C2SP signed note) with its witnesses' cosignatures (checkpoint_note_json; docs/ledger-format.md)",
		"properties": {"tree_size": {"$ref": "#/components/schemas/Id"}, "origin": {"type": "string"}, "root": {"type": "string"},
			"alg": {"type": "string"}, "note": {"type": "string"}, "stored_at": {"$ref": "#/components/schemas/NullableTimestamp"},
			"cosignatures": {"type": "array", "items": {"type": "object"}}}
	},
	"CheckpointStored": {
		"type": "object", "properties": {"tree_size": {"$ref": "#/components/schemas/Id"}}, "required": ["tree_size"]
	},
	"CheckpointCosigned": {
		"type": "object", "properties": {"tree_size": {"$ref": "#/components/schemas/Id"}, "stored": {"type": "boolean"}},
		"required": ["tree_size", "stored"]
	},
	"CheckpointRefused": {
		"type": "object", "properties": {"id": {"$ref": "#/components/schemas/Id"}, "tree_size": {"$ref": "#/components/schemas/Id"}},
		"required": ["id", "tree_size"]
	},
	"ChainVerifyList": {"type": "array", "items": {"$ref": "#/components/schemas/ChainVerify"}},
	"Checkpoint": {
		"type": "object",
		"properties": {"tree_size": {"$ref": "#/components/schemas/Id"}, "root": {"type": "string"},
			"created_at": {"$ref": "#/components/schemas/Timestamp"}},
		"required": ["tree_size", "root", "created_at"]
	},
	"Proof": {
		"type": "object", "description": "an RFC 9162 proof; sizes, indexes and entry ids as strings of digits, as in the ledger export",
		"properties": {"tree_size": {"$ref": "#/components/schemas/Id"}, "root": {"type": "string"}}
	},
	"ImportJob": {
		"type": "object", "description": "an import job with its progress (import_progress): counts, times, the first refused lines' errors",
		"properties": {"id": {"$ref": "#/components/schemas/Id"}, "status": {"type": "string"},
			"mode": {"type": "string"},
			"total": {"type": ["integer", "null"]}, "done": {"type": ["integer", "null"]}, "accepted": {"type": ["integer", "null"]},
			"refused": {"type": ["integer", "null"]},
			"created_at": {"$ref": "#/components/schemas/NullableTimestamp"},
			"finished_at": {"$ref": "#/components/schemas/NullableTimestamp"},
			"failure": {"type": ["string", "null"]},
			"errors": {"type": ["array", "null"], "items": {"type": "object"}}},
		"required": ["id", "status"]
	},
	"ImportJobList": {"type": "array", "items": {"$ref": "#/components/schemas/ImportJob"}},
	"ImportLine": {
		"type": "object",
		"properties": {"line": {"type": "integer"}, "kind": {"type": ["string", "null"]},
			"status": {"type": "string", "enum": ["accepted", "refused", "rolled_back"]},
			"result": {"type": "string"}, "sqlstate": {"type": "string"}, "message": {"type": "string"},
			"detail": {"type": "string"}},
		"required": ["line", "status"]
	},
	"ImportLineList": {"type": "array", "items": {"$ref": "#/components/schemas/ImportLine"}},
	"EpcisCaptureJob": {
		"type": "object", "description": "an EPCIS 2.0 capture job (EPCISCaptureJob)",
		"properties": {"captureID": {"type": "string"}, "running": {"type": "boolean"},
			"success": {"type": "boolean"}, "errors": {}}
	},
	"EpcisQueryDocument": {"type": "object", "description": "an EPCIS 2.0 EPCISQueryDocument"},
	"Gs1Location": {
		"type": "object", "description": "a GS1 party (PGLN/GLN) or location (SGLN) of an operator, by canonical Digital Link URI",
		"properties": {"operator": {"type": "string"}, "kind": {"type": "string"}, "uri": {"type": "string"},
			"name": {"type": ["string", "null"]}},
		"required": ["operator", "uri"]
	},
	"Gs1LocationList": {"type": "array", "items": {"$ref": "#/components/schemas/Gs1Location"}},
	"EpcisNamedQuery": {
		"type": "object", "description": "an EPCIS named query (epcis_named_query_get)",
		"required": ["name", "query", "createdAt"],
		"properties": {"name": {"type": "string"}, "query": {"type": "object"}, "createdAt": {"type": "string", "format": "date-time"}}
	},
	"EpcisNamedQueryList": {"type": "array", "items": {"$ref": "#/components/schemas/EpcisNamedQuery"}},
	"Item": {
		"type": "object", "description": "a serialised item (SGTIN) and its lot (item_get)",
		"required": ["epc", "uri", "gtin", "serial", "batch"],
		"properties": {"epc": {"type": "string"}, "uri": {"type": "string"}, "gtin": {"type": "string"},
			"serial": {"type": "string"}, "batch": {"type": "string"}}
	},
	"EpcisSubscription": {
		"type": "object", "description": "an EPCIS query subscription (stream; epcis_subscription_get); secret only when subscribing without a signatureToken",
		"required": ["subscriptionID", "queryName", "dest", "stream", "createdAt"],
		"properties": {"subscriptionID": {"type": "string"}, "queryName": {"type": "string"}, "dest": {"type": "string"},
			"stream": {"type": "boolean"}, "reportIfEmpty": {"type": "boolean"},
			"createdAt": {"type": "string", "format": "date-time"},
			"lastNotifiedAt": {"type": ["string", "null"], "format": "date-time"},
			"active": {"type": "boolean"}, "removedAt": {"type": ["string", "null"], "format": "date-time"},
			"pending": {"type": "integer"}, "delivered": {"type": "integer"}, "dead": {"type": "integer"},
			"secret": {"type": "string"}}
	},
	"EpcisSubscriptionList": {"type": "array", "items": {"$ref": "#/components/schemas/EpcisSubscription"}},
	"EpcisCollection": {
		"type": "object", "description": "an EPCIS 2.0 REST collection (the event types)",
		"properties": {"type": {"type": "string"}, "member": {"type": "array", "items": {"type": "string"}}}
	}
});
