/*
 * request.c — reading and checking request input: the JSON body (size limit
 * enforced before reading, media type, duplicate keys, UTF-8, the route's
 * field schema) and query parameters. Every refusal names what was wrong.
 */
#include "gateway.h"
#include "strictdate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <regex.h>

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
		case GW_ID: return "an id: a string of digits";
		case GW_DATE: return "a date string YYYY-MM-DD";
		case GW_DATETIME: return "a timestamp string";
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
		case GW_ID:
			/* the documented form is a string of digits; a number is taken too */
			return (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 19 &&
					strspn(json_string_value(v), "0123456789") == json_string_length(v)) ||
				(json_is_integer(v) && json_integer_value(v) >= 0);
		case GW_DATE:
		case GW_DATETIME:
			/* the text is parsed strictly where it is used */
			return json_is_string(v);
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

/* ---- declared parameters ---------------------------------------------------- */

static bool
AllDigits(const char *s, size_t max)
{
	size_t		n = strspn(s, "0123456789");

	return n > 0 && n <= max && s[n] == '\0';
}

/* YYYY-MM-DD, a real day of the proleptic Gregorian calendar. */
bool
gw_valid_date(const char *s)
{
	SlDateTime	dt;

	return sl_date_check(s, strlen(s), &dt) == SL_DATE_OK;
}

/* RFC 3339 date-time with its offset: the same rule as the database's (strictdate.c). */
bool
gw_valid_datetime(const char *s)
{
	SlDateTime	dt;

	return sl_timestamp_check(s, strlen(s), &dt) == SL_DATE_OK;
}

/* Whether value matches an anchored POSIX extended regular expression. */
static bool
Matches(const char *pattern, const char *value)
{
	regex_t		re;
	bool		ok;

	if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&re, value, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

const char *
gw_param_rule(const GwParam *p, const char *v, char *buf, size_t len)
{
	switch (p->type)
	{
		case GW_INTEGER:
			{
				const char *digits = (v[0] == '-') ? v + 1 : v;
				long long	n;

				if (!AllDigits(digits, 18))
				{
					snprintf(buf, len, "must be an integer");
					return buf;
				}
				n = strtoll(v, NULL, 10);
				if ((p->has_min && n < p->min) || (p->has_max && n > p->max))
				{
					if (p->has_min && p->has_max)
						snprintf(buf, len, "must be an integer from %lld to %lld", p->min, p->max);
					else if (p->has_min)
						snprintf(buf, len, "must be an integer of at least %lld", p->min);
					else
						snprintf(buf, len, "must be an integer of at most %lld", p->max);
					return buf;
				}
				break;
			}
		case GW_ID:
			if (!AllDigits(v, 19) || (strlen(v) == 19 && strcmp(v, "9223372036854775807") > 0))
				return "must be an id: digits";
			break;
		case GW_BOOLEAN:
			if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
				return "must be true or false";
			break;
		case GW_DATE:
			if (!gw_valid_date(v))
				return "must be a date YYYY-MM-DD";
			break;
		case GW_DATETIME:
			if (!gw_valid_datetime(v))
				return "must be an RFC 3339 timestamp with an offset or Z, e.g. 2026-03-01T08:00:00+08:00";
			break;
		default:
			break;
	}
	if (p->values != NULL)
	{
		bool		found = false;

		for (const char *const *e = p->values; *e; e++)
			found = found || strcmp(*e, v) == 0;
		if (!found)
		{
			size_t		used = (size_t) snprintf(buf, len, "must be one of");

			for (const char *const *e = p->values; *e && used < len; e++)
				used += (size_t) snprintf(buf + used, len - used, "%s %s", e == p->values ? "" : ",", *e);
			return buf;
		}
	}
	if (p->pattern != NULL && !Matches(p->pattern, v))
	{
		snprintf(buf, len, "must match %s", p->pattern);
		return buf;
	}
	return NULL;
}

static int
ParamRefused(GwRequest *req, const char *message, const char *name, const char *rule)
{
	char		details[512];

	snprintf(details, sizeof(details), "%s%s%s", name, rule ? ": " : "", rule ? rule : "");
	/* refused before the body was read: the connection cannot carry another request */
	return gw_reply_error(req->conn, 400, "GW400", message, details,
						  "See this route's parameters in /openapi.json.",
						  req->ri->content_length > 0 || mg_get_header(req->conn, "Transfer-Encoding") ?
						  "Connection: close\r\n" : NULL);
}

/*
 * Every query parameter must be declared by the route and valid by its
 * declaration; the values are kept (decoded) in req->query for the handler.
 * Path parameters are checked by their declarations too.
 */
int
gw_check_query(GwRequest *req)
{
	const GwParam *params = req->route->params;
	const char *qs = req->ri->query_string;
	char		rule[256];
	int			pathi = 0;
	bool		acting_named = false;
	/* operator= (the acting operator) is common to every authenticated route: gw_acting_params */
	bool		acting_common = !(req->route->flags & (GW_PUBLIC | GW_NOAUTH));

	for (int i = 0; params && params[i].name; i++)
	{
		if (params[i].in != GW_IN_PATH)
			continue;
		if (pathi < req->nparams)
		{
			const char *why = gw_param_rule(&params[i], req->params[pathi], rule, sizeof(rule));

			if (why != NULL)
				return ParamRefused(req, "invalid path parameter", params[i].name, why);
		}
		pathi++;
	}
	while (qs != NULL && *qs)
	{
		const char *end = strchr(qs, '&');
		size_t		plen = end ? (size_t) (end - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', plen);
		size_t		nlen = eq ? (size_t) (eq - qs) : plen;
		char	   *name = malloc(nlen + 1), *value = malloc(plen + 1);
		int			idx = -1, status = 0;

		if (name == NULL || value == NULL)
		{
			free(name), free(value);
			return gw_reply_error(req->conn, 503, "GW503", "out of memory", NULL, NULL, NULL);
		}
		mg_url_decode(qs, (int) nlen, name, (int) nlen + 1, 1);
		if (eq)
			mg_url_decode(eq + 1, (int) (plen - nlen - 1), value, (int) plen + 1, 1);
		else
			value[0] = '\0';
		for (int i = 0; params && params[i].name && i < GW_MAX_QUERY; i++)
			if (params[i].in == GW_IN_QUERY && strcmp(params[i].name, name) == 0)
				idx = i;
		if (plen == 0)
			;					/* "a=1&&b=2": an empty piece is nothing */
		else if (idx < 0 && acting_common && strcmp(name, gw_acting_params[0].name) == 0)
		{
			/* read by the authentication (ResolveActing), checked here as declared */
			const char *why = gw_param_rule(&gw_acting_params[0], value, rule, sizeof(rule));

			if (acting_named)
				status = ParamRefused(req, "query parameter given twice", name, NULL);
			else if (why != NULL)
				status = ParamRefused(req, "invalid query parameter", name, why);
			acting_named = true;
		}
		else if (idx < 0)
			status = ParamRefused(req, "unknown query parameter", name, NULL);
		else if (req->query[idx] != NULL)
			status = ParamRefused(req, "query parameter given twice", name, NULL);
		else
		{
			const char *why = gw_param_rule(&params[idx], value, rule, sizeof(rule));

			if (why != NULL)
				status = ParamRefused(req, "invalid query parameter", name, why);
			else
			{
				req->query[idx] = value;
				value = NULL;
			}
		}
		free(name);
		free(value);
		if (status != 0)
			return status;
		qs += plen + (end ? 1 : 0);
	}
	for (int i = 0; params && params[i].name && i < GW_MAX_QUERY; i++)
		if (params[i].in == GW_IN_QUERY && params[i].required && req->query[i] == NULL)
			return ParamRefused(req, "missing required query parameter", params[i].name, NULL);
	return 0;
}

const char *
gw_query_value(const GwRequest *req, const char *name)
{
	const GwParam *params = req->route ? req->route->params : NULL;

	for (int i = 0; params && params[i].name && i < GW_MAX_QUERY; i++)
		if (params[i].in == GW_IN_QUERY && strcmp(params[i].name, name) == 0)
			return req->query[i];
	return NULL;
}

static int
QueryIndex(const GwRequest *req, const char *name)
{
	const GwParam *params = req->route->params;

	for (int i = 0; params && params[i].name && i < GW_MAX_QUERY; i++)
		if (params[i].in == GW_IN_QUERY && strcmp(params[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * PostgREST's paging by header: "Range: 0-24" (or "items=0-24") with
 * "Range-Unit: items" (or none) on a route with limit= and offset= sets
 * them; the reply is 206 Partial Content with Content-Range, and 416 when
 * the first item is past the end. Another Range-Unit is ignored (RFC 9110).
 */
int
gw_check_range(GwRequest *req)
{
	const char *range = mg_get_header(req->conn, "Range");
	const char *unit = mg_get_header(req->conn, "Range-Unit");
	int			li, oi;
	long long	first, last = -1;
	char	   *end;
	char		num[32];

	req->range_first = req->range_last = -1;
	if (range == NULL || (unit != NULL && strcasecmp(unit, "items") != 0) || strcmp(req->ri->request_method, "GET") != 0)
		return 0;
	li = QueryIndex(req, "limit");
	oi = QueryIndex(req, "offset");
	if (li < 0 || oi < 0)
		return 0;
	if (strncasecmp(range, "items=", 6) == 0)
		range += 6;
	first = strtoll(range, &end, 10);
	if (end == range || range[0] == '-' || *end != '-' ||
		(end[1] != '\0' && ((last = strtoll(end + 1, &end, 10)) < first || *end != '\0')))
		return gw_reply_error(req->conn, 416, "GW416", "range not satisfiable", range,
							  "Send Range: FIRST-LAST (items, from 0), e.g. Range: 0-24.",
							  "Content-Range: */*\r\n");
	if (req->query[li] != NULL || req->query[oi] != NULL)
		return gw_reply_error(req->conn, 400, "GW400", "Range with limit or offset", NULL,
							  "Page with the Range header or with limit=/offset=, not both.", NULL);
	if (last < 0 || last - first + 1 > 1000)
		last = first + 999;		/* the most rows a page has (limit) */
	snprintf(num, sizeof(num), "%lld", first);
	req->query[oi] = strdup(num);
	snprintf(num, sizeof(num), "%lld", last - first + 1);
	req->query[li] = strdup(num);
	req->range_first = first;
	req->range_last = last;
	return 0;
}
