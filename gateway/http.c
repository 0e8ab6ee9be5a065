/*
 * http.c — JSON replies with exact lengths, the {code,message,details,hint}
 * error body, and the SQLSTATE → HTTP status map (after PostgREST's
 * mapSQLtoHTTP, with the project's own class SL as 422).
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
gw_status_text(int status)
{
	switch (status)
	{
		case 200: return "OK";
		case 201: return "Created";
		case 202: return "Accepted";
		case 204: return "No Content";
		case 206: return "Partial Content";
		case 307: return "Temporary Redirect";
		case 400: return "Bad Request";
		case 401: return "Unauthorized";
		case 403: return "Forbidden";
		case 404: return "Not Found";
		case 405: return "Method Not Allowed";
		case 408: return "Request Timeout";
		case 409: return "Conflict";
		case 411: return "Length Required";
		case 413: return "Payload Too Large";
		case 414: return "URI Too Long";
		case 415: return "Unsupported Media Type";
		case 416: return "Range Not Satisfiable";
		case 422: return "Unprocessable Entity";
		case 429: return "Too Many Requests";
		case 431: return "Request Header Fields Too Large";
		case 500: return "Internal Server Error";
		case 503: return "Service Unavailable";
		case 504: return "Gateway Timeout";
		case 505: return "HTTP Version Not Supported";
		default: return "Unknown";
	}
}

/* A reply to HEAD has the headers of GET and no body. */
static bool
IsHead(struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);

	/* civetweb's own errors can come before the request line was read */
	return ri != NULL && ri->request_method != NULL && strcmp(ri->request_method, "HEAD") == 0;
}

/*
 * The one serialisation of every JSON body the gateway sends (its own and
 * the values SQL routes return): compact, one flag set. Caller frees.
 */
char *
gw_json_text(const json_t *body)
{
	return json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
}

/*
 * The same spacing for a JSON text made elsewhere (a SQL route's value,
 * whose json and jsonb output differ): whitespace outside strings removed
 * in place, so numbers and strings stay exactly as they were. Newlines stay
 * when keep_lines (JSON lines). Returns the new length.
 */
size_t
gw_json_compact(char *text, bool keep_lines)
{
	size_t		o = 0;
	bool		in_string = false;

	for (size_t i = 0; text[i]; i++)
	{
		char		c = text[i];

		if (in_string)
		{
			text[o++] = c;
			if (c == '\\' && text[i + 1])
				text[o++] = text[++i];
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == ' ' || c == '\t' || c == '\r' || (c == '\n' && !keep_lines))
			continue;
		text[o++] = c;
	}
	text[o] = '\0';
	return o;
}

static int
ReplyJsonAs(struct mg_connection *conn, int status, const char *content_type, json_t *body,
			const char *extra_headers)
{
	char	   *text = gw_json_text(body);
	size_t		len = text ? strlen(text) : 0;

	status = gw_reply_text(conn, status, content_type, text ? text : "", len, extra_headers);
	free(text);
	json_decref(body);
	return status;
}

int
gw_reply_json(struct mg_connection *conn, int status, json_t *body, const char *extra_headers)
{
	return ReplyJsonAs(conn, status, "application/json; charset=utf-8", body, extra_headers);
}

/* Whether the request is under /epcis, whose errors are RFC 7807 problem details. */
bool
gw_is_epcis(struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);

	return ri != NULL && ri->local_uri != NULL && strncmp(ri->local_uri, "/epcis", 6) == 0 &&
		(ri->local_uri[6] == '\0' || ri->local_uri[6] == '/');
}

/* The EPCIS 2.0 REST binding's exception type for an HTTP status. */
static const char *
EpcisType(struct mg_connection *conn, int status)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);

	switch (status)
	{
		case 400:
			/* a query's parameters: on GET, and when a named query is created */
			return ri && ri->request_method && (strcmp(ri->request_method, "POST") != 0 ||
				(ri->local_uri && strcmp(ri->local_uri, "/epcis/queries") == 0)) ?
				"epcisException:QueryParameterException" : "epcisException:ValidationException";
		case 401:
		case 403: return "epcisException:SecurityException";
		case 404: return "epcisException:NoSuchResourceException";
		case 413:
			return ri && ri->request_method && strcmp(ri->request_method, "POST") != 0 ?
				"epcisException:QueryTooLargeException" : "epcisException:CaptureLimitExceededException";
		case 409:
		case 415:
		case 422: return "epcisException:ValidationException";
		default: return status >= 500 || status == 429 ? "epcisException:ImplementationException" :
				"epcisException:ValidationException";
	}
}

/*
 * An error as an RFC 7807 problem document (application/problem+json):
 * type, title (the message), status, detail, instance (the request path),
 * with the stable code and the hint as extension members. Takes err, the
 * {code,message,details,hint,...} object; other members stay.
 */
int
gw_reply_problem(struct mg_connection *conn, int status, json_t *err, const char *extra_headers)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	json_t	   *doc = json_pack("{s:s, s:O, s:i, s:O, s:s}", "type", EpcisType(conn, status),
								"title", json_object_get(err, "message") ? json_object_get(err, "message") : json_null(),
								"status", status,
								"detail", json_object_get(err, "details") ? json_object_get(err, "details") : json_null(),
								"instance", ri && ri->local_uri ? ri->local_uri : "");

	json_object_del(err, "message");
	json_object_del(err, "details");
	json_object_update_missing(doc, err);
	json_decref(err);
	return ReplyJsonAs(conn, status, "application/problem+json; charset=utf-8", doc, extra_headers);
}

static json_t *
StrOrNull(const char *s)
{
	return (s != NULL && *s != '\0') ? json_string(s) : json_null();
}

int
gw_reply_error(struct mg_connection *conn, int status, const char *code, const char *message,
			   const char *details, const char *hint, const char *extra_headers)
{
	json_t	   *body = json_object();

	json_object_set_new(body, "code", json_string(code));
	json_object_set_new(body, "message", StrOrNull(message));
	json_object_set_new(body, "details", StrOrNull(details));
	json_object_set_new(body, "hint", StrOrNull(hint));
	if (gw_is_epcis(conn))
		return gw_reply_problem(conn, status, body, extra_headers);
	return gw_reply_json(conn, status, body, extra_headers);
}

int
gw_http_status_for_sqlstate(const char *s)
{
	if (s == NULL || strlen(s) != 5)
		return 500;
	/* the public trace's refusal: no lot for this code and token (a 404, never an oracle) */
	if (strcmp(s, "SLP01") == 0)
		return 404;
	/* malformed input, as 22* is: a date or timestamp not in its strict form, a bad page of jobs */
	if (strncmp(s, "SLD", 3) == 0 || strcmp(s, "SLI06") == 0)
		return 400;
	/* acting for an operator: not named (400), not bound, not the binder (403) */
	if (strcmp(s, "SLA01") == 0)
		return 400;
	if (strcmp(s, "SLA02") == 0 || strcmp(s, "SLA03") == 0)
		return 403;
	/* an unknown (or invisible) webhook subscription or delivery */
	if (strcmp(s, "SLW04") == 0 || strcmp(s, "SLW05") == 0)
		return 404;
	/* registration and activation (docs/registration.md) */
	if (strcmp(s, "SLQ02") == 0)
		return 429;
	if (strcmp(s, "SLQ05") == 0 || strcmp(s, "SLQ10") == 0 || strcmp(s, "SLQ12") == 0 ||
		strcmp(s, "SLQ16") == 0)
		return 409;
	if (strcmp(s, "SLQ09") == 0)
		return 404;
	if (strcmp(s, "SLQ14") == 0 || strcmp(s, "SLQ15") == 0)
		return 403;
	/* an unknown (or invisible) serialised item (GET /v1/items/{epc}) */
	if (strcmp(s, "SLE14") == 0)
		return 404;
	/* an unknown (or invisible) record to correct or retract */
	if (strcmp(s, "SLC02") == 0)
		return 404;
	/* EPCIS query: a bad parameter (QueryParameterException), too many events (QueryTooLargeException), no such event, named query or subscription */
	if (strcmp(s, "SLE07") == 0)
		return 400;
	if (strcmp(s, "SLE08") == 0)
		return 413;
	if (strcmp(s, "SLE09") == 0 || strcmp(s, "SLE19") == 0 || strcmp(s, "SLE23") == 0)
		return 404;
	if (strncmp(s, "SL", 2) == 0)
		return 422;
	if (strcmp(s, "23503") == 0 || strcmp(s, "23505") == 0 || strcmp(s, "40001") == 0)
		return 409;
	if (strcmp(s, "42501") == 0)
		return 403;
	if (strcmp(s, "P0001") == 0 || strncmp(s, "22", 2) == 0 || strncmp(s, "23", 2) == 0)
		return 400;
	if (strcmp(s, "P0002") == 0)
		return 404;
	if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 || strcmp(s, "57P01") == 0 ||
		strcmp(s, "57P03") == 0)
		return 503;
	if (strcmp(s, "57014") == 0)
		return 504;
	return 500;
}

/* A failed query's error fields as the error body; a lost connection is 503. */
int
gw_reply_pg_error(struct mg_connection *conn, const PGresult *res, PGconn *db)
{
	const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (sqlstate == NULL)
	{
		GwThread   *t = mg_get_thread_pointer(conn);

		if (t != NULL && t->pool_timed_out)
		{
			char		details[96];

			snprintf(details, sizeof(details), "all %d database connections stayed busy for %d ms",
					 gw_config.db_pool_size, gw_config.db_pool_wait_ms);
			return gw_reply_error(conn, 503, "GW503", "no database connection free", details,
								  "Retry after the number of seconds in Retry-After.", "Retry-After: 1\r\n");
		}
		return gw_reply_error(conn, 503, "GW503", "database unavailable",
							  db ? PQerrorMessage(db) : (t != NULL && t->db_error[0] ? t->db_error : NULL),
							  "Retry later.", "Retry-After: 5\r\n");
	}
	/*
	 * A write refused because the server is read-only: the connection went
	 * to a standby (a connection string without target_session_attrs=
	 * read-write) or to a primary being demoted. Not the caller's fault and
	 * not lasting: 503 with a short Retry-After, and the connection is closed
	 * so that the next request connects to whichever server is the primary.
	 */
	if (strcmp(sqlstate, "25006") == 0)
	{
		GwThread   *t = mg_get_thread_pointer(conn);

		if (t != NULL && t->held != NULL)
			t->held->discard = true;
		return gw_reply_error(conn, 503, "GW5031", "no writable database server: the server is read-only",
							  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
							  "A standby or a failover under way; retry after the number of seconds in Retry-After.",
							  "Retry-After: 2\r\n");
	}
	return gw_reply_error(conn, gw_http_status_for_sqlstate(sqlstate), sqlstate,
						  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
						  PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
						  PQresultErrorField(res, PG_DIAG_MESSAGE_HINT), NULL);
}

/* The decimal digits of v, written backwards from the end of buf[24]: the first one. */
const char *
gw_decimal(unsigned long long v, char *buf)
{
	char	   *p = buf + 23;

	*p = '\0';
	do
		*--p = (char) ('0' + v % 10);
	while ((v /= 10) != 0);
	return p;
}

/*
 * Headers and body go out in one write: two small writes meet Nagle's
 * algorithm and the client's delayed ACK and cost 40 ms a reply. The
 * header lines are copied in (every reply passes here: a formatted print
 * of them, twice to size the buffer, was a tenth of the gateway's own
 * instructions per GET /v1/session).
 */
int
gw_reply_text(struct mg_connection *conn, int status, const char *content_type, const char *text,
			  size_t len, const char *extra_headers)
{
	const char *cache = "Cache-Control: no-store\r\n";
	/* the EPCIS 2.0 REST binding: every reply under /epcis names the versions it speaks */
	const char *versions = gw_is_epcis(conn) ? "GS1-EPCIS-Version: 2.0.0\r\nGS1-CBV-Version: 2.0.0\r\n" : "";
	/* the request's own: Shilian-Read-Source, Shilian-Commit-LSN (db.c, h-replica) */
	const char *own = gw_reply_headers(conn);
	char		codebuf[24], lenbuf[24];
	const char *code, *clen;
	const char *parts[12];
	size_t		lens[12], blen = 0;
	int			nparts = 0;
	char	   *buf, *p;

	if (IsHead(conn))
		len = 0;
	if (extra_headers == NULL)
		extra_headers = "";
	/* no-store unless the reply says otherwise (the consumer page, pages.c) */
	if (strstr(extra_headers, "Cache-Control:") != NULL)
		cache = "";
	/* a reply that says so closes the connection (civetweb would keep it) */
	if (strstr(extra_headers, "Connection: close") != NULL)
		mg_disable_connection_keep_alive(conn);
	if (status >= 0)
		code = gw_decimal((unsigned long long) status, codebuf);
	else
	{
		snprintf(codebuf, sizeof(codebuf), "%d", status);
		code = codebuf;
	}
	clen = gw_decimal(len, lenbuf);
	/* HTTP/1.1 STATUS TEXT, Content-Type, Content-Length, the other headers, an empty line */
	parts[nparts++] = "HTTP/1.1 ";
	parts[nparts++] = code;
	parts[nparts++] = " ";
	parts[nparts++] = gw_status_text(status);
	parts[nparts++] = "\r\nContent-Type: ";
	parts[nparts++] = content_type;
	parts[nparts++] = "\r\nContent-Length: ";
	parts[nparts++] = clen;
	parts[nparts++] = "\r\n";
	parts[nparts++] = cache;
	parts[nparts++] = versions;
	parts[nparts++] = extra_headers;
	for (int i = 0; i < nparts; i++)
		blen += (lens[i] = strlen(parts[i]));
	blen += strlen(own) + 2 + len;
	buf = malloc(blen + 1);
	if (buf == NULL)
		return status;
	p = buf;
	for (int i = 0; i < nparts; i++)
	{
		memcpy(p, parts[i], lens[i]);
		p += lens[i];
	}
	memcpy(p, own, strlen(own));
	p += strlen(own);
	memcpy(p, "\r\n", 2);
	p += 2;
	if (len)
		memcpy(p, text, len);
	mg_write(conn, buf, blen);
	free(buf);
	return status;
}
