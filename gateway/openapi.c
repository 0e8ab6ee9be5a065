/*
 * openapi.c — /openapi.json (OpenAPI 3.1) generated from the route table,
 * so every implemented route is described and none is described that is
 * not: its operationId, path/query/header parameters with their rules (the
 * same declarations the dispatcher validates against), request body and
 * media types, success reply with its schema (schemas.c) and every error
 * reply with the error schema.
 */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

static json_t *
FieldSchema(GwFieldType t)
{
	switch (t)
	{
		case GW_STRING: return json_pack("{s:s}", "type", "string");
		case GW_INTEGER: return json_pack("{s:s}", "type", "integer");
		case GW_NUMBER: return json_pack("{s:s}", "type", "number");
		case GW_BOOLEAN: return json_pack("{s:s}", "type", "boolean");
		case GW_OBJECT: return json_pack("{s:s}", "type", "object");
		case GW_ARRAY: return json_pack("{s:s}", "type", "array");
		case GW_ID:
			/* a string of digits; an integer is taken too (older clients) */
			return json_pack("{s:[s,s], s:s, s:i}", "type", "string", "integer", "pattern", "^[0-9]+$",
							 "minimum", 0);
		case GW_DATE: return json_pack("{s:s, s:s}", "type", "string", "format", "date");
		case GW_DATETIME: return json_pack("{s:s, s:s}", "type", "string", "format", "date-time");
		default: return json_object();
	}
}

static json_t *
ParamSchema(const GwParam *p)
{
	json_t	   *schema;

	if (p->type == GW_ID)
		schema = json_pack("{s:s, s:s}", "type", "string", "pattern", "^[0-9]+$");
	else
		schema = FieldSchema(p->type);
	if (p->pattern)
		json_object_set_new(schema, "pattern", json_string(p->pattern));
	if (p->values)
	{
		json_t	   *e = json_array();

		for (const char *const *v = p->values; *v; v++)
			json_array_append_new(e, json_string(*v));
		json_object_set_new(schema, "enum", e);
	}
	if (p->has_min)
		json_object_set_new(schema, "minimum", json_integer(p->min));
	if (p->has_max)
		json_object_set_new(schema, "maximum", json_integer(p->max));
	return schema;
}

static const char *
InName(GwParamIn in)
{
	return in == GW_IN_PATH ? "path" : in == GW_IN_HEADER ? "header" : "query";
}

static bool
Paged(const GwRoute *r)
{
	bool		limit = false, offset = false;

	for (const GwParam *p = r->params; p && p->name; p++)
	{
		limit = limit || (p->in == GW_IN_QUERY && strcmp(p->name, "limit") == 0);
		offset = offset || (p->in == GW_IN_QUERY && strcmp(p->name, "offset") == 0);
	}
	return limit && offset;
}

static json_t *
Ref(const char *kind, const char *name)
{
	return json_pack("{s:s+++}", "$ref", "#/components/", kind, "/", name);
}

/* The success reply: a schema of schemas.c as JSON, or a media type's text. */
static json_t *
Success(const GwRoute *r, const char *description)
{
	json_t	   *content = json_object();
	json_t	   *reply = json_pack("{s:s}", "description", description);
	const char *resp = r->response ? r->response : "";

	if (strchr(resp, '/') != NULL)
		json_object_set_new(content, resp, json_pack("{s:{s:s}}", "schema", "type", "string"));
	else if (resp[0])
		json_object_set_new(content, "application/json", json_pack("{s:o}", "schema", Ref("schemas", resp)));
	json_object_set_new(reply, "content", content);
	return reply;
}

static json_t *
Operation(const GwRoute *r)
{
	json_t	   *op = json_object();
	json_t	   *params = json_array();
	json_t	   *responses = json_object();
	bool		epcis = strncmp(r->pattern, "/epcis", 6) == 0;
	const char *err = epcis ? "Problem" : "Error";
	int			ok = (r->flags & GW_CREATED) ? 201 : (r->flags & GW_ACCEPTED) ? 202 : 200;
	char		code[8];

	json_object_set_new(op, "operationId", json_string(r->op ? r->op : ""));
	json_object_set_new(op, "summary", json_string(r->summary ? r->summary : ""));
	json_object_set_new(op, "description", json_string(r->summary ? r->summary : ""));
	for (const GwParam *p = r->params; p && p->name; p++)
	{
		json_t	   *param = json_pack("{s:s, s:s, s:b, s:o}", "name", p->name, "in", InName(p->in),
									  "required", p->in == GW_IN_PATH || p->required, "schema", ParamSchema(p));

		if (p->description)
			json_object_set_new(param, "description", json_string(p->description));
		json_array_append_new(params, param);
	}
	if (!(r->flags & (GW_PUBLIC | GW_NOAUTH)))
	{
		bool		own = false;

		for (const GwParam *p = r->params; p && p->name; p++)
			own |= strcmp(p->name, gw_acting_params[0].name) == 0;
		for (const GwParam *p = gw_acting_params; p->name && !own; p++)
			json_array_append_new(params, Ref("parameters", p->name));
	}
	if (r->flags & GW_REPLICA)
		for (const GwParam *p = gw_read_params; p->name; p++)
			json_array_append_new(params, Ref("parameters", p->name));
	if (json_array_size(params) > 0)
		json_object_set_new(op, "parameters", params);
	else
		json_decref(params);

	/* the request body and its media types */
	if (r->flags & GW_JSON)
	{
		json_t	   *props = json_object();
		json_t	   *required = json_array();

		for (const GwField *f = r->fields; f && f->name; f++)
		{
			json_t	   *schema = FieldSchema(f->type);

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
							json_pack("{s:b, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:s}}}}", "required", 1, "content",
									  "application/x-ndjson", "schema", "type", "string",
									  "description", "one JSON object per line, each with a kind "
									  "(docs/integration.md)",
									  "text/csv", "schema", "type", "string",
									  "description", "one record per line of the kind named by kind= or "
									  "the Import-Kind header, a header line first (docs/integration.md)"));
	if (r->flags & GW_LDJSON_BODY)
	{
		json_t	   *doc = json_pack("{s:{s:s, s:s}}", "schema", "type", "object", "description",
									"a GS1 EPCIS 2.0 EPCISDocument (docs/integration.md)");

		json_object_set_new(op, "requestBody",
							json_pack("{s:b, s:{s:O, s:o}}", "required", 1, "content",
									  "application/ld+json", doc, "application/json", doc));
	}

	/* replies: success, partial pages, every error with the error schema */
	snprintf(code, sizeof(code), "%d", ok);
	json_object_set_new(responses, code, Success(r, ok == 201 ? "created" : ok == 202 ? "accepted" : "success"));
	if (r->location)
		json_object_set_new(json_object_get(responses, code), "headers",
							json_pack("{s:{s:s, s:{s:s}}}", "Location", "description", "the new resource",
									  "schema", "type", "string"));
	if (Paged(r))
	{
		json_t	   *partial = Success(r, "a page of the list (Range: items)");

		json_object_set_new(partial, "headers",
							json_pack("{s:{s:s, s:{s:s}}}", "Content-Range", "description",
									  "FIRST-LAST/TOTAL (TOTAL * when not counted)", "schema", "type", "string"));
		json_object_set_new(responses, "206", partial);
		json_object_set_new(responses, "416", Ref("responses", err));
	}
	json_object_set_new(responses, "400", Ref("responses", err));
	if (!(r->flags & (GW_PUBLIC | GW_NOAUTH)))
	{
		json_object_set_new(responses, "401", Ref("responses", err));
		json_object_set_new(responses, "403", Ref("responses", err));
	}
	json_object_set_new(responses, "404", Ref("responses", err));
	if (r->flags & (GW_JSON | GW_NDJSON_BODY | GW_LDJSON_BODY))
	{
		json_object_set_new(responses, "413", Ref("responses", err));
		json_object_set_new(responses, "415", Ref("responses", err));
	}
	if (!(r->flags & GW_NOAUTH))
	{
		json_object_set_new(responses, "409", Ref("responses", err));
		json_object_set_new(responses, "422", Ref("responses", err));
		json_object_set_new(responses, "429", Ref("responses", err));
	}
	json_object_set_new(responses, "503", Ref("responses", err));
	json_object_set_new(responses, "default", Ref("responses", err));
	json_object_set_new(op, "responses", responses);
	if (r->flags & (GW_PUBLIC | GW_NOAUTH))
		json_object_set_new(op, "security", json_array());
	return op;
}

/* The whole document; NULL when the schemas do not parse (a build error). */
json_t *
gw_openapi_document(void)
{
	json_t	   *paths = json_object();
	json_t	   *schemas = json_loads(gw_schemas_json, 0, NULL);
	json_t	   *doc;
	json_t	   *acting;

	if (schemas == NULL)
	{
		json_decref(paths);
		return NULL;
	}
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
	acting = json_object();
	for (const GwParam *p = gw_read_params; p->name; p++)
		json_object_set_new(acting, p->name, json_pack("{s:s, s:s, s:b, s:o, s:s}", "name", p->name, "in", InName(p->in),
													   "required", false, "schema", ParamSchema(p),
													   "description", p->description));
	for (const GwParam *p = gw_acting_params; p->name; p++)
		json_object_set_new(acting, p->name, json_pack("{s:s, s:s, s:b, s:o, s:s}", "name", p->name, "in", InName(p->in),
													   "required", false, "schema", ParamSchema(p),
													   "description", p->description));
	doc = json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:s}], s:o, "
					"s:{s:{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}}, s:o, s:o, "
					"s:{s:{s:s, s:{s:{s:{s:s}}}}, s:{s:s, s:{s:{s:{s:s}}}}}}, s:[{s:[]}, {s:[]}]}",
					"openapi", "3.1.0",
					"info", "title", "shilian REST API", "version", GW_VERSION,
					"description", "Food-safety traceability (食链): the REST gateway of the shilian "
					"PostgreSQL extension (docs/rest.md). Ids are strings of digits. Errors are "
					"{code,message,details,hint}; under /epcis RFC 7807 problem details.",
					"servers", "url", "http://127.0.0.1:8080", "description", "the gateway's default listen address",
					"paths", paths,
					"components", "securitySchemes",
					"bearer", "type", "http", "scheme", "bearer", "bearerFormat", "JWT",
					"description", "a signed token (HS256, or RS256/ES256 of the identity provider)",
					"apiKey", "type", "apiKey", "in", "header", "name", "X-API-Key",
					"description", "a system client's API key (docs/rest.md#authentication)",
					"schemas", schemas,
					"parameters", acting,
					"responses",
					"Error", "description", "the error, with its stable code (docs/errors.md)",
					"content", "application/json", "schema", "$ref", "#/components/schemas/Error",
					"Problem", "description", "RFC 7807 problem details, with the stable code",
					"content", "application/problem+json", "schema", "$ref", "#/components/schemas/Problem",
					"security", "bearer", "apiKey");
	return doc;
}

int
gw_openapi_reply(struct mg_connection *conn)
{
	json_t	   *doc = gw_openapi_document();

	if (doc == NULL)
		return gw_reply_error(conn, 500, "GW500", "could not build the OpenAPI document", NULL, NULL, NULL);
	return gw_reply_json(conn, 200, doc, NULL);
}

/*
 * The route table's contract, checked once at start (main.c): every route
 * has a unique camelCase operationId and a response; every {name} of its
 * pattern is declared, in order, as a path parameter and nothing else is;
 * every "query:NAME" argument is a declared query parameter; at most
 * GW_MAX_QUERY parameters. A route added without its declarations stops the
 * gateway with a message naming it, so it cannot go out undescribed.
 * Returns 0, or -1 after messages on stderr.
 */
int
gw_routes_check(void)
{
	int			bad = 0;

	for (size_t i = 0; i < gw_nroutes; i++)
	{
		const GwRoute *r = &gw_routes[i];
		const char *p = r->pattern;
		const GwParam *param = r->params;
		int			n = 0;

#define ROUTE_BAD(...) do { fprintf(stderr, "shilian-gateway: route %s %s: ", r->method, r->pattern); \
		fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); bad = 1; } while (0)
		if (r->op == NULL || r->op[0] < 'a' || r->op[0] > 'z' || strspn(r->op, "abcdefghijklmnopqrstuvwxyz"
																	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(r->op))
			ROUTE_BAD("no camelCase .op (operationId)");
		for (size_t k = 0; k < i && r->op; k++)
			if (gw_routes[k].op && strcmp(gw_routes[k].op, r->op) == 0)
				ROUTE_BAD("operationId %s is also %s %s's", r->op, gw_routes[k].method, gw_routes[k].pattern);
		if (r->response == NULL)
			ROUTE_BAD("no .response (a schema of schemas.c or a media type)");
		/* a standby serves only reads that write nothing (h-replica) */
		if ((r->flags & GW_REPLICA) &&
			(strcmp(r->method, "GET") != 0 || r->handler != gw_sql_route || (r->flags & GW_READ_WRITE)))
			ROUTE_BAD("GW_REPLICA on a route that is not a read-only GET SQL route");
		while ((p = strchr(p, '{')) != NULL)
		{
			const char *end = strchr(p, '}');

			while (param && param->name && param->in != GW_IN_PATH)
				param++;
			if (end == NULL || param == NULL || param->name == NULL ||
				strncmp(param->name, p + 1, (size_t) (end - p - 1)) != 0 || param->name[end - p - 1] != '\0')
				ROUTE_BAD("path parameter %d is not declared in .params in order", n);
			else
				param++;
			n++;
			p = end ? end + 1 : p + 1;
		}
		while (param && param->name && param->in != GW_IN_PATH)
			param++;
		if (param && param->name)
			ROUTE_BAD("path parameter %s is not in the pattern", param->name);
		n = 0;
		for (const GwParam *q = r->params; q && q->name; q++)
			n++;
		if (n > GW_MAX_QUERY)
			ROUTE_BAD("more than %d parameters", GW_MAX_QUERY);
		for (const char *const *a = r->args; a && *a; a++)
		{
			bool		found = false;

			if (strncmp(*a, "query:", 6) != 0)
				continue;
			for (const GwParam *q = r->params; q && q->name; q++)
				found = found || (q->in == GW_IN_QUERY && strcmp(q->name, *a + 6) == 0);
			if (!found)
				ROUTE_BAD("argument %s is not a declared query parameter", *a);
		}
#undef ROUTE_BAD
	}
	return bad ? -1 : 0;
}
