/*
 * sqlroute.c — the one handler behind every SQL route: gather the route's
 * parameters (path, body fields, query) as bound text parameters, run its
 * statement in the caller's transaction, and send the JSON (or CSV) value
 * the statement returns as it is. POSTs with an Idempotency-Key claim the key
 * in the same transaction and store the response before COMMIT, so a retry
 * replays the first response.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_MAX_ARGS 40

static int	SendValue(GwRequest *req, int status, const char *value, const char *extra);

/* Text for a JSON body value as a bound parameter; NULL for null/absent. */
static char *
JsonParam(json_t *v)
{
	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_true(v))
		return strdup("true");
	if (json_is_false(v))
		return strdup("false");
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Fill params from the route's arg sources; returns the count or -1 (replied). */
static int
GatherParams(GwRequest *req, char **params, int *status)
{
	const char *const *args = req->route->args;
	int			n = 0;

	for (; args && args[n]; n++)
	{
		const char *a = args[n];

		if (n >= GW_MAX_ARGS)
			break;
		params[n] = NULL;
		if (strncmp(a, "path:", 5) == 0)
		{
			int			i = atoi(a + 5);

			if (i < req->nparams)
				params[n] = strdup(req->params[i]);
		}
		else if (strncmp(a, "body:", 5) == 0)
			params[n] = JsonParam(req->body ? json_object_get(req->body, a + 5) : NULL);
		else if (strncmp(a, "header:", 7) == 0)
		{
			const char *h = mg_get_header(req->conn, a + 7);

			if (h != NULL)
				params[n] = strdup(h);
		}
		else if (strcmp(a, "raw") == 0 && req->raw_body != NULL)
			params[n] = strdup(req->raw_body);
		else if (strncmp(a, "query:", 6) == 0)
		{
			/* validated by the dispatcher against the route's declaration */
			const char *v = gw_query_value(req, a + 6);

			if (v != NULL)
				params[n] = strdup(v);
		}
	}
	return n;
}

static void
FreeParams(char **params, int n)
{
	for (int i = 0; i < n; i++)
		free(params[i]);
}

/* The column of a result named name, or -1. */
static int
Column(PGresult *res, const char *name)
{
	for (int i = 1; i < PQnfields(res); i++)
		if (strcmp(PQfname(res, i), name) == 0 && !PQgetisnull(res, 0, i))
			return i;
	return -1;
}

/* The reply's status: the route's, or for a recorded error its SQLSTATE's. */
static int
ResultStatus(PGresult *res, int ok_status)
{
	int			c = Column(res, "error_sqlstate");

	return c < 0 ? ok_status : gw_http_status_for_sqlstate(PQgetvalue(res, 0, c));
}

/* Append one header line to a malloc'd buffer. */
static void
AddHeader(char **buf, const char *name, const char *value)
{
	size_t		old = *buf ? strlen(*buf) : 0;
	size_t		len = old + strlen(name) + strlen(value) + 5;
	char	   *b = realloc(*buf, len);

	if (b == NULL)
		return;
	snprintf(b + old, len - old, "%s: %s\r\n", name, value);
	*buf = b;
}

/*
 * The next page of a list: this request's URI and query with the paging
 * parameter (nextPageToken for EPCIS, after for keyset pages) replaced, as a
 * Link header with rel="next" (RFC 8288, the EPCIS 2.0 REST binding's paging).
 */
static void
AddNextLink(GwRequest *req, char **buf, const char *param, const char *token)
{
	const char *qs = req->ri->query_string ? req->ri->query_string : "";
	size_t		plen0 = strlen(param);
	size_t		len = strlen(req->ri->local_uri) + strlen(qs) + strlen(token) + plen0 + 64;
	char	   *link = malloc(len);
	size_t		n;
	const char *p = qs;

	if (link == NULL)
		return;
	n = (size_t) snprintf(link, len, "<%s?", req->ri->local_uri);
	while (*p)
	{
		const char *end = strchr(p, '&');
		size_t		plen = end ? (size_t) (end - p) : strlen(p);

		if (!(plen > plen0 && strncmp(p, param, plen0) == 0 && p[plen0] == '=') && plen > 0)
			n += (size_t) snprintf(link + n, len - n, "%.*s&", (int) plen, p);
		p += plen + (end ? 1 : 0);
	}
	snprintf(link + n, len - n, "%s=%s>; rel=\"next\"", param, token);
	AddHeader(buf, "Link", link);
	free(link);
}

/*
 * A list's content_range becomes Content-Range, location Location,
 * next_page_token and next_after a Link to the next page.
 */
static int
SendResult(GwRequest *req, int status, PGresult *res)
{
	char	   *hdr = NULL;
	int			c;

	if ((c = Column(res, "content_range")) > 0)
		AddHeader(&hdr, "Content-Range", PQgetvalue(res, 0, c));
	if ((c = Column(res, "location")) > 0)
		AddHeader(&hdr, "Location", PQgetvalue(res, 0, c));
	if ((c = Column(res, "next_page_token")) > 0)
		AddNextLink(req, &hdr, "nextPageToken", PQgetvalue(res, 0, c));
	if ((c = Column(res, "next_after")) > 0)
		AddNextLink(req, &hdr, "after", PQgetvalue(res, 0, c));
	status = ResultStatus(res, status);
	if (req->range_first >= 0 && status == 200 && (c = Column(res, "content_range")) > 0)
	{
		/* a Range request (PostgREST): 206, or 416 past the end, or 200 when it is everything */
		const char *cr = PQgetvalue(res, 0, c);
		const char *slash = strchr(cr, '/');
		long long	total = slash && slash[1] != '*' ? atoll(slash + 1) : -1;

		if (cr[0] == '*' && req->range_first > 0)
		{
			char		h[96];

			snprintf(h, sizeof(h), "Content-Range: %s\r\n", cr);
			free(hdr);
			return gw_reply_error(req->conn, 416, "GW416", "range not satisfiable", cr,
								  "The first item asked for is past the end of the list.", h);
		}
		if (!(req->range_first == 0 && total >= 0 && cr[0] != '*' &&
			  atoll(strchr(cr, '-') ? strchr(cr, '-') + 1 : "0") == total - 1))
			status = 206;
	}
	/* text_plain: the same resource as text, for a client whose Accept asks text/plain (a signed note) */
	if ((c = Column(res, "text_plain")) > 0 && mg_get_header(req->conn, "Accept") != NULL &&
		strstr(mg_get_header(req->conn, "Accept"), "text/plain") != NULL)
		status = gw_reply_text(req->conn, status, "text/plain; charset=utf-8",
							   PQgetvalue(res, 0, c), strlen(PQgetvalue(res, 0, c)), hdr);
	else
		status = SendValue(req, status, PQgetvalue(res, 0, 0), hdr);
	free(hdr);
	return status;
}

/* A 201's Location: the route's template with {name} from the reply body. */
static void
AddLocation(GwRequest *req, char **hdr, const char *value)
{
	const char *t = req->route->location;
	json_t	   *body = json_loads(value, JSON_DECODE_ANY, NULL);
	char		loc[512];
	size_t		n = 0;

	while (*t && n < sizeof(loc) - 1)
	{
		const char *end = *t == '{' ? strchr(t, '}') : NULL;

		if (end != NULL)
		{
			char		name[64];
			json_t	   *v;

			snprintf(name, sizeof(name), "%.*s", (int) (end - t - 1), t + 1);
			v = json_object_get(body, name);
			if (json_is_string(v))
				n += (size_t) snprintf(loc + n, sizeof(loc) - n, "%s", json_string_value(v));
			else if (json_is_integer(v))
				n += (size_t) snprintf(loc + n, sizeof(loc) - n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			t = end + 1;
		}
		else
			loc[n++] = *t++;
	}
	loc[n < sizeof(loc) ? n : sizeof(loc) - 1] = '\0';
	json_decref(body);
	AddHeader(hdr, "Location", loc);
}

/*
 * Send a route's value: CSV and JSON lines as they are, JSON with the one
 * spacing (gw_json_compact); a 201 with its Location; an error under /epcis
 * as RFC 7807 problem details.
 */
static int
SendValue(GwRequest *req, int status, const char *value, const char *extra)
{
	char	   *text, *hdr = NULL;
	size_t		len;

	if (req->route->flags & GW_CSV)
		return gw_reply_text(req->conn, status, "text/csv; charset=utf-8", value, strlen(value), extra);
	if ((text = strdup(value)) == NULL)
		return gw_reply_error(req->conn, 503, "GW503", "out of memory", NULL, NULL, NULL);
	len = gw_json_compact(text, (req->route->flags & GW_NDJSON) != 0);
	if (req->route->flags & GW_NDJSON)
		status = gw_reply_text(req->conn, status, "application/x-ndjson", text, len, extra);
	else if (status >= 400 && gw_is_epcis(req->conn))
	{
		json_t	   *err = json_loads(text, 0, NULL);

		if (json_is_object(err))
			status = gw_reply_problem(req->conn, status, err, extra);	/* takes err */
		else
		{
			json_decref(err);
			status = gw_reply_text(req->conn, status, "application/json; charset=utf-8", text, len, extra);
		}
	}
	else
	{
		if (status == 201 && req->route->location != NULL &&
			(extra == NULL || strstr(extra, "Location:") == NULL))
		{
			hdr = extra ? strdup(extra) : NULL;
			AddLocation(req, &hdr, text);
			extra = hdr;
		}
		status = gw_reply_text(req->conn, status, "application/json; charset=utf-8", text, len, extra);
	}
	free(hdr);
	free(text);
	return status;
}

int
gw_sql_route(GwRequest *req)
{
	char	   *params[GW_MAX_ARGS];
	int			n, status = 0;
	int			ok_status = (req->route->flags & GW_CREATED) ? 201 : (req->route->flags & GW_ACCEPTED) ? 202 : 200;
	const char *idem_key = NULL;
	char		principal[256];
	char	   *fingerprint = NULL;
	PGconn	   *db = NULL;
	PGresult   *res;

	n = GatherParams(req, params, &status);
	/* a read a hot standby may serve: hold its connection, or leave it to the primary */
	if ((status = gw_read_choose(req)) != 0)
		goto done;
	if (strcmp(req->ri->request_method, "POST") == 0)
		idem_key = mg_get_header(req->conn, "Idempotency-Key");

	if (idem_key == NULL)
	{
		/* the common case: one round trip */
		res = gw_call_route(req, req->route_index, req->route->sql, n, (const char *const *) params,
							&status);
		if (res == NULL)
			goto done;
		if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
			status = gw_reply_error(req->conn, 404, "GW404", "not found", req->ri->local_uri, NULL, NULL);
		else
			status = SendResult(req, ok_status, res);
		PQclear(res);
		goto done;
	}

	if ((status = gw_tx_begin(req, &db)) != 0)
		goto done;

	if (idem_key != NULL)
	{
		size_t		flen = strlen(req->ri->local_uri) + req->raw_len + 16;
		const char *cparams[3];

		snprintf(principal, sizeof(principal), "%s|%s|%s|%s", req->auth.role, req->auth.operator_id,
				 req->auth.client, req->auth.jurisdiction);
		fingerprint = malloc(flen);
		snprintf(fingerprint, flen, "POST %s\n%.*s", req->ri->local_uri, (int) req->raw_len,
				 req->raw_body ? req->raw_body : "");
		cparams[0] = principal;
		cparams[1] = idem_key;
		cparams[2] = fingerprint;
		res = gw_tx_exec(req, db, -1,
						 "select claimed, same_request, status, response "
						 "from shilian.idempotency_claim($1, $2, $3)", 3, cparams, &status);
		if (res == NULL)
			goto done;
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		{
			/* a replay: the first request committed with this key */
			if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
				status = gw_reply_error(req->conn, 422, "GW422",
										"Idempotency-Key reused with a different request", idem_key,
										"Use a new key for a new request.", NULL);
			else
				status = SendValue(req, atoi(PQgetvalue(res, 0, 2)), PQgetvalue(res, 0, 3),
								   "Idempotent-Replayed: true\r\n");
			PQclear(res);
			gw_tx_rollback(db);
			goto done;
		}
		PQclear(res);
	}

	if ((status = gw_tx_set_role(req, db)) != 0)
		goto done;
	res = gw_tx_exec(req, db, req->route_index, req->route->sql, n, (const char *const *) params, &status);
	if (res == NULL)
		goto done;
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		gw_tx_rollback(db);
		status = gw_reply_error(req->conn, 404, "GW404", "not found", req->ri->local_uri, NULL, NULL);
		goto done;
	}
	if (idem_key != NULL)
	{
		char		st[8];
		const char *sparams[4] = {principal, idem_key, st, PQgetvalue(res, 0, 0)};
		PGresult   *r2;

		snprintf(st, sizeof(st), "%d", ResultStatus(res, ok_status));
		/*
		 * Back to the gateway's own role, which alone may store responses
		 * (a statement of its own: privileges are checked before it runs).
		 */
		r2 = gw_tx_exec(req, db, -1, "select set_config('role', 'none', true)", 0, NULL, &status);
		if (r2 != NULL)
		{
			PQclear(r2);
			r2 = gw_tx_exec(req, db, -1, "select shilian.idempotency_store($1, $2, $3::int, $4)",
							4, sparams, &status);
		}
		if (r2 == NULL)
		{
			PQclear(res);
			goto done;
		}
		PQclear(r2);
	}
	if ((status = gw_tx_commit(req, db)) != 0)
	{
		PQclear(res);
		goto done;
	}
	status = SendResult(req, ok_status, res);
	PQclear(res);

done:
	free(fingerprint);
	FreeParams(params, n);
	return status;
}
