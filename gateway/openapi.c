/*
 * openapi.c — /openapi.json (OpenAPI 3.1) generated from the route table, so
 * every implemented route is described and none is described that is not.
 */
#include "gateway.h"

#include <string.h>

static const char *
SchemaType(GwFieldType t)
{
	switch (t)
	{
		case GW_STRING: return "string";
		case GW_INTEGER: return "integer";
		case GW_NUMBER: return "number";
		case GW_BOOLEAN: return "boolean";
		case GW_OBJECT: return "object";
		case GW_ARRAY: return "array";
		default: return NULL;
	}
}

/* What some query and header parameters mean; the others are named only. */
static const struct
{
	const char *name;
	const char *description;
}			param_docs[] = {
	{"after", "keyset cursor: the id of the last row of the page before (the Link rel=next of a full page carries it)"},
	{"limit", "rows per page (default 100, at most 1000)"},
	{"offset", "rows to skip; reads every skipped row, so prefer after"},
	{"Prefer", "count=exact: count the total into Content-Range (PostgREST's convention); otherwise the total is *"},
	{"t", "the lot's public token, printed with the code (QR / Digital Link)"},
};

/* The query and header parameters of a route, from its argument sources. */
static void
ArgParams(const GwRoute *r, json_t *params)
{
	for (const char *const *a = r->args; a && *a; a++)
	{
		const char *in = strncmp(*a, "query:", 6) == 0 ? "query" : strncmp(*a, "header:", 7) == 0 ? "header" : NULL;
		const char *name;
		json_t	   *param;

		if (in == NULL)
			continue;
		name = strchr(*a, ':') + 1;
		param = json_pack("{s:s, s:s, s:{s:s}}", "name", name, "in", in, "schema", "type", "string");
		for (size_t i = 0; i < sizeof(param_docs) / sizeof(param_docs[0]); i++)
			if (strcmp(param_docs[i].name, name) == 0)
				json_object_set_new(param, "description", json_string(param_docs[i].description));
		json_array_append_new(params, param);
	}
}

static json_t *
Operation(const GwRoute *r)
{
	json_t	   *op = json_object();
	json_t	   *params = json_array();
	json_t	   *responses = json_object();
	const char *p = r->pattern;

	json_object_set_new(op, "summary", json_string(r->summary ? r->summary : ""));
	json_object_set_new(op, "operationId", json_sprintf("%s %s", r->method, r->pattern));
	while ((p = strchr(p, '{')) != NULL)
	{
		const char *end = strchr(p, '}');

		if (end == NULL)
			break;
		json_array_append_new(params,
							  json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1, (size_t) (end - p - 1),
										"in", "path", "required", 1, "schema", "type", "string"));
		p = end + 1;
	}
	ArgParams(r, params);
	if (json_array_size(params) > 0)
		json_object_set_new(op, "parameters", params);
	else
		json_decref(params);
	if (r->flags & GW_JSON)
	{
		json_t	   *props = json_object();
		json_t	   *required = json_array();

		for (const GwField *f = r->fields; f && f->name; f++)
		{
			json_t	   *schema = json_object();
			const char *t = SchemaType(f->type);

			if (t)
				json_object_set_new(schema, "type", json_string(t));
			if (f->description)
				json_object_set_new(schema, "description", json_string(f->description));
			json_object_set_new(props, f->name, schema);
			if (f->required)
				json_array_append_new(required, json_string(f->name));
		}
		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:{s:{s:s, s:o, s:o, s:b}}}}", "required", 1, "content",
									  "application/json", "schema", "type", "object",
									  "properties", props, "required", required,
									  "additionalProperties", 0));
	}
	if (r->flags & GW_NDJSON_BODY)
		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:{s:{s:s, s:s}}}}", "required", 1, "content",
									  "application/x-ndjson", "schema", "type", "string",
									  "description", "one JSON object per line, each with a kind "
									  "(docs/integration.md)"));
	if (r->flags & GW_LDJSON_BODY)
	{
		json_t	   *doc = json_pack("{s:{s:s, s:s}}", "schema", "type", "object", "description",
									"a GS1 EPCIS 2.0 EPCISDocument (docs/integration.md)");

		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:O, s:o}}", "required", 1, "content",
									  "application/ld+json", doc, "application/json", doc));
	}
	json_object_set_new(responses, (r->flags & GW_CREATED) ? "201" : (r->flags & GW_ACCEPTED) ? "202" : "200",
						json_pack("{s:s}", "description", "success"));
	json_object_set_new(responses, "default",
						json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", "error",
								  "content", "application/json", "schema", "$ref",
								  "#/components/schemas/Error"));
	json_object_set_new(op, "responses", responses);
	if (r->flags & GW_PUBLIC)
		json_object_set_new(op, "security", json_array());
	return op;
}

int
gw_openapi_reply(struct mg_connection *conn)
{
	json_t	   *paths = json_object();
	json_t	   *doc;

	for (size_t i = 0; i < gw_nroutes; i++)
	{
		const GwRoute *r = &gw_routes[i];
		json_t	   *item = json_object_get(paths, r->pattern);
		char		method[16];
		size_t		k;

		if (item == NULL)
		{
			item = json_object();
			json_object_set_new(paths, r->pattern, item);
		}
		for (k = 0; r->method[k] && k < sizeof(method) - 1; k++)
			method[k] = (char) (r->method[k] | 0x20);	/* lower case */
		method[k] = '\0';
		json_object_set_new(item, method, Operation(r));
	}
	doc = json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s}}, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:[s,s]}, s:{s:[s,s]}}, s:[s,s]}}}, s:[{s:[]}]}",
					"openapi", "3.1.0",
					"info", "title", "shilian REST API", "version", GW_VERSION,
					"description", "Food-safety traceability (食链). Errors are {code,message,details,hint}.",
					"paths", paths,
					"components", "securitySchemes", "bearer", "type", "http", "scheme", "bearer",
					"bearerFormat", "JWT",
					"schemas", "Error", "type", "object", "properties",
					"code", "type", "string", "message", "type", "string",
					"details", "type", "string", "null", "hint", "type", "string", "null",
					"required", "code", "message",
					"security", "bearer");
	if (doc == NULL)
		return gw_reply_error(conn, 500, "GW500", "could not build the OpenAPI document", NULL, NULL, NULL);
	return gw_reply_json(conn, 200, doc, NULL);
}
