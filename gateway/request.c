/*
 * request.c — reading and checking request input: the JSON body (size limit
 * enforced before reading, media type, duplicate keys, UTF-8, the route's
 * field schema) and query parameters. Every refusal names what was wrong.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *
TypeName(GwFieldType t)
{
	switch (t)
	{
		case GW_STRING: return "string";
		case GW_INTEGER: return "integer";
		case GW_NUMBER: return "number";
		case GW_BOOLEAN: return "boolean";
		case GW_OBJECT: return "object";
		case GW_ARRAY: return "array";
		default: return "any";
	}
}

static bool
TypeMatches(GwFieldType t, json_t *v)
{
	switch (t)
	{
		case GW_STRING: return json_is_string(v);
		case GW_INTEGER: return json_is_integer(v);
		case GW_NUMBER: return json_is_number(v);
		case GW_BOOLEAN: return json_is_boolean(v);
		case GW_OBJECT: return json_is_object(v);
		case GW_ARRAY: return json_is_array(v);
		default: return true;
	}
}

/* Append "name" to a comma-separated list in buf. */
static void
ListAdd(char *buf, size_t len, const char *name)
{
	size_t		used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
}

/* Check the body against the route's schema: unknown, missing, wrong type. */
static int
CheckFields(GwRequest *req)
{
	const GwField *fields = req->route->fields;
	char		unknown[512] = "", missing[512] = "", wrong[512] = "";
	const char *key;
	json_t	   *value;

	json_object_foreach(req->body, key, value)
	{
		const GwField *f = NULL;

		for (const GwField *g = fields; g && g->name; g++)
			if (strcmp(g->name, key) == 0)
				f = g;
		if (f == NULL)
			ListAdd(unknown, sizeof(unknown), key);
		else if (!json_is_null(value) && !TypeMatches(f->type, value))
		{
			char		item[160];

			snprintf(item, sizeof(item), "%s (expected %s)", f->name, TypeName(f->type));
			ListAdd(wrong, sizeof(wrong), item);
		}
	}
	for (const GwField *g = fields; g && g->name; g++)
	{
		json_t	   *v = json_object_get(req->body, g->name);

		if (g->required && (v == NULL || json_is_null(v)))
			ListAdd(missing, sizeof(missing), g->name);
	}
	if (unknown[0])
		return gw_reply_error(req->conn, 400, "GW400", "unknown fields in request body", unknown,
							  "See /openapi.json for this route's fields.", NULL);
	if (missing[0])
		return gw_reply_error(req->conn, 400, "GW400", "missing required fields", missing, NULL, NULL);
	if (wrong[0])
		return gw_reply_error(req->conn, 400, "GW400", "fields of the wrong type", wrong, NULL, NULL);
	return 0;
}

/*
 * Read the body, at most limit bytes: refused before reading when
 * Content-Length says more, or as soon as a chunked body passes the limit.
 * 0, or the HTTP status after replying.
 */
static int
ReadBody(GwRequest *req, long body_limit, const char *hint)
{
	long long	clen = req->ri->content_length;
	size_t		cap, got = 0, limit;
	int			n;

	/* Refuse before reading: the unread body makes the connection unusable. */
	if (clen > body_limit)
	{
		char		details[96];

		snprintf(details, sizeof(details), "%lld bytes; the limit is %ld", clen, body_limit);
		return gw_reply_error(req->conn, 413, "GW413", "request body too large", details,
							  hint, "Connection: close\r\n");
	}
	/* Unknown length (chunked): grow up to one byte past the limit. */
	limit = (size_t) body_limit;
	cap = clen >= 0 ? (size_t) clen : (limit < 65536 ? limit + 1 : 65536);
	req->raw_body = malloc(cap + 1);
	if (req->raw_body == NULL)
		return gw_reply_error(req->conn, 503, "GW503", "out of memory", NULL, NULL, NULL);
	while (got < cap && (n = mg_read(req->conn, req->raw_body + got, cap - got)) > 0)
	{
		got += (size_t) n;
		if (clen < 0 && got > limit)
			return gw_reply_error(req->conn, 413, "GW413", "request body too large", NULL,
								  hint, "Connection: close\r\n");
		if (got == cap && clen < 0)
		{
			char	   *bigger;

			cap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
			if ((bigger = realloc(req->raw_body, cap + 1)) == NULL)
				return gw_reply_error(req->conn, 503, "GW503", "out of memory", NULL, NULL, NULL);
			req->raw_body = bigger;
		}
	}
	if (clen >= 0 && (long long) got != clen)
		return gw_reply_error(req->conn, 400, "GW400", "truncated request body", NULL, NULL, "Connection: close\r\n");
	req->raw_body[got] = '\0';
	req->raw_len = got;
	return 0;
}

/* Whether the Content-Type header is the media type (parameters allowed). */
bool
gw_media_type_is(const char *ctype, const char *type)
{
	size_t		len = strlen(type);

	return ctype != NULL && strncasecmp(ctype, type, len) == 0 &&
		(ctype[len] == '\0' || ctype[len] == ';' || ctype[len] == ' ');
}

int
gw_read_json_body(GwRequest *req)
{
	const char *ctype = mg_get_header(req->conn, "Content-Type");
	GwJsonError err;
	int			status;

	if (!gw_media_type_is(ctype, "application/json"))
		return gw_reply_error(req->conn, 415, "GW415", "unsupported media type",
							  ctype ? ctype : "no Content-Type", "Send Content-Type: application/json.", NULL);
	if ((status = ReadBody(req, gw_config.body_limit,
						   "Split the request, or use /v1/import for bulk data.")) != 0)
		return status;
	req->body = gw_json_load(req->raw_body, req->raw_len, JSON_REJECT_DUPLICATES,
							 (size_t) gw_config.body_limit, &err);
	if (req->body == NULL)
		return gw_reply_json_refused(req->conn, &err, "body",
									 err.limit == SL_JSON_OK ? "Send one JSON object, UTF-8, with no duplicate keys." :
									 "Send a flatter document.");
	if (!json_is_object(req->body))
		return gw_reply_error(req->conn, 400, "GW400", "the request body must be a JSON object", NULL, NULL, NULL);
	return CheckFields(req);
}

/*
 * The body of a bulk upload (/v1/import): application/x-ndjson, up to
 * import_body_limit bytes, kept as read in req->raw_body. It goes to the
 * database as one text parameter, so a NUL byte (which would cut it short)
 * is refused here; the encoding is checked by the server (22021).
 */
int
gw_read_ndjson_body(GwRequest *req)
{
	const char *ctype = mg_get_header(req->conn, "Content-Type");
	int			status;

	if (!gw_media_type_is(ctype, "application/x-ndjson"))
		return gw_reply_error(req->conn, 415, "GW415", "unsupported media type",
							  ctype ? ctype : "no Content-Type", "Send Content-Type: application/x-ndjson.", NULL);
	if ((status = ReadBody(req, gw_config.import_body_limit,
						   "Split the upload into several (see import_body_limit).")) != 0)
		return status;
	if (memchr(req->raw_body, '\0', req->raw_len) != NULL)
	{
		char		details[64];

		snprintf(details, sizeof(details), "at byte %zu",
				 (size_t) ((char *) memchr(req->raw_body, '\0', req->raw_len) - req->raw_body));
		return gw_reply_error(req->conn, 400, "GW400", "NUL byte in the upload", details,
							  "Send UTF-8 text, one JSON object per line.", NULL);
	}
	return 0;
}

/*
 * A query-string parameter (URL-decoded), or NULL when absent. A value that
 * does not fit buf is never dropped as if absent (the filter would vanish):
 * it comes back as "", which no parameter accepts as a valid value. The
 * dispatcher has already refused query strings over query_limit (414).
 */
const char *
gw_query_param(GwRequest *req, const char *name, char *buf, size_t buflen)
{
	const char *qs = req->ri->query_string;
	int			n;

	if (qs == NULL)
		return NULL;
	n = mg_get_var(qs, strlen(qs), name, buf, buflen);
	if (n == -2 && buflen > 0)
	{
		buf[0] = '\0';
		return buf;
	}
	if (n < 0)
		return NULL;
	return buf;
}

/*
 * A JSON-LD document kept as read (EPCIS capture): application/ld+json or
 * application/json, up to import_body_limit bytes; the database parses it
 * (jsonb), so a NUL byte, which would cut the text parameter short, is
 * refused here.
 */
int
gw_read_ldjson_body(GwRequest *req)
{
	const char *ctype = mg_get_header(req->conn, "Content-Type");
	int			status;

	if (!gw_media_type_is(ctype, "application/ld+json") && !gw_media_type_is(ctype, "application/json"))
		return gw_reply_error(req->conn, 415, "GW415", "unsupported media type",
							  ctype ? ctype : "no Content-Type",
							  "Send Content-Type: application/ld+json or application/json.", NULL);
	if ((status = ReadBody(req, gw_config.import_body_limit,
						   "Split the document into several (see import_body_limit).")) != 0)
		return status;
	if (memchr(req->raw_body, '\0', req->raw_len) != NULL)
		return gw_reply_error(req->conn, 400, "GW400", "NUL byte in the document", NULL,
							  "Send one JSON document, UTF-8.", NULL);
	/* the database parses it, but within the same limits as any JSON we take */
	{
		GwJsonError err;

		if (gw_json_limit(req->raw_body, req->raw_len, (size_t) gw_config.import_body_limit, &err) != 0)
			return gw_reply_json_refused(req->conn, &err, "document", "Send a flatter document.");
	}
	return 0;
}
