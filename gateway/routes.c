/*
 * routes.c — the dispatcher and the infrastructure routes' handlers. civetweb hands every
 * request to gw_dispatch (one catch-all handler, so no path ever reaches
 * civetweb's file serving); the table (api.c) maps method + path pattern to
 * a handler, and anything else gets a JSON 404, or 405 with Allow. The
 * dispatcher authenticates, reads and checks the JSON body, calls the
 * handler, and records metrics and one log line.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * GET /healthz: 200 when the database answers, 503 otherwise. It needs no
 * pool connection (gw_db_health keeps one of its own), so it answers while
 * every pool connection is busy.
 */
int
gw_healthz_route(GwRequest *req)
{
	bool		up = gw_db_health();

	return gw_reply_json(req->conn, up ? 200 : 503,
						 json_pack("{s:s, s:s}", "status", up ? "ok" : "unavailable",
								   "database", up ? "up" : "down"), NULL);
}

/* GET /v1/version: the gateway's, the loaded library's and the SQL script's. */
int
gw_version_route(GwRequest *req)
{
	int			status;
	PGresult   *res = gw_call(req,
							  "select shilian.version(), extversion from pg_extension where extname = $1",
							  1, (const char *[]) {"shilian"}, &status);
	json_t	   *body;

	if (res == NULL)
		return status;
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		return gw_reply_error(req->conn, 503, "GW503", "the shilian extension is not installed",
							  NULL, "Run CREATE EXTENSION shilian in the database.", NULL);
	}
	body = json_pack("{s:s, s:s, s:s}", "gateway", GW_VERSION,
					 "library", PQgetvalue(res, 0, 0), "extension", PQgetvalue(res, 0, 1));
	PQclear(res);
	return gw_reply_json(req->conn, 200, body, NULL);
}

#define SESSION_SQL \
	"select current_user, current_setting('shilian.operator_id'), " \
	"current_setting('shilian.jurisdiction'), current_setting('shilian.client'), " \
	"current_setting('transaction_read_only')"

/* Whether jansson would write s as it is between quotes: printable ASCII, no quote, no backslash. */
static bool
PlainJsonText(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f || *s == '"' || *s == '\\')
			return false;
	return true;
}

/* GET /v1/session: who the database thinks the caller is (role and settings). */
int
gw_session_route(GwRequest *req)
{
	static const char *const keys[] = {"{\"role\":\"", "\",\"operator_id\":\"", "\",\"jurisdiction\":\"",
	"\",\"client\":\""};
	int			status;
	/* the route's one statement: prepared once per connection, under the route's name */
	PGresult   *res = gw_call_route(req, req->route_index, SESSION_SQL, 0, NULL, &status);
	json_t	   *body;
	bool		read_only;
	char		text[512];
	size_t		n = 0;

	if (res == NULL)
		return status;
	read_only = strcmp(PQgetvalue(res, 0, 4), "on") == 0;

	/*
	 * The body is what json_pack and the serialisation below make of the
	 * same values, written directly when they need no escaping (role names,
	 * ids and codes always): building and serialising a jansson object was
	 * a fifth of the gateway's own instructions for this route.
	 */
	for (int i = 0; i < 4 && n < sizeof(text); i++)
	{
		const char *v = PQgetvalue(res, 0, i);
		size_t		klen = strlen(keys[i]), vlen = strlen(v);

		if (!PlainJsonText(v) || n + klen + vlen >= sizeof(text))
		{
			n = sizeof(text);	/* the general way below */
			break;
		}
		memcpy(text + n, keys[i], klen);
		memcpy(text + n + klen, v, vlen);
		n += klen + vlen;
	}
	if (n + 32 < sizeof(text))
	{
		const char *last = read_only ? "\",\"read_only\":true}" : "\",\"read_only\":false}";

		memcpy(text + n, last, strlen(last));
		n += strlen(last);
		PQclear(res);
		return gw_reply_text(req->conn, 200, "application/json; charset=utf-8", text, n, NULL);
	}
	body = json_pack("{s:s, s:s, s:s, s:s, s:b}", "role", PQgetvalue(res, 0, 0),
					 "operator_id", PQgetvalue(res, 0, 1), "jurisdiction", PQgetvalue(res, 0, 2),
					 "client", PQgetvalue(res, 0, 3),
					 "read_only", read_only);
	PQclear(res);
	return gw_reply_json(req->conn, 200, body, NULL);
}

/*
 * `shilian-gateway sql NAME`: the statement the gateway sends for the route
 * whose operationId is NAME, or for "principal" the one that makes each
 * transaction the caller's ($1 role .. $7 identity, gateway/db.c). The
 * gateway benchmark runs exactly these under pgbench (tests/bench/gateway.sh).
 */
int
gw_sql_main(int argc, char **argv)
{
	if (argc != 2)
	{
		fprintf(stderr, "usage: shilian-gateway sql OPERATION-ID | principal\n");
		return 2;
	}
	if (strcmp(argv[1], "principal") == 0)
	{
		printf("%s\n", gw_principal_sql);
		return 0;
	}
	if (strcmp(argv[1], "getSession") == 0)
	{
		printf("%s\n", SESSION_SQL);
		return 0;
	}
	for (size_t i = 0; i < gw_nroutes; i++)
		if (gw_routes[i].op != NULL && strcmp(gw_routes[i].op, argv[1]) == 0 && gw_routes[i].sql != NULL)
		{
			printf("%s\n", gw_routes[i].sql);
			return 0;
		}
	fprintf(stderr, "shilian-gateway: no SQL route with operationId \"%s\"\n", argv[1]);
	return 1;
}

int
gw_metrics_route(GwRequest *req)
{
	return gw_metrics_reply(req->conn);
}

int
gw_openapi_route(GwRequest *req)
{
	return gw_openapi_reply(req->conn);
}


/*
 * Match path against pattern, capturing {name} segments into req->params.
 * Returns 1 on match, 0 on no match, -1 if a parameter is too long.
 */
static int
MatchPattern(const char *pattern, const char *path, GwRequest *req, bool rest)
{
	const char *p = pattern, *s = path;

	req->nparams = 0;
	while (*p && *s)
	{
		if (*p == '{')
		{
			const char *pend = strchr(p, '}');
			/* the last parameter of a GW_PATH_REST route: slashes and all (civetweb decoded %2F) */
			const char *send = rest && pend && pend[1] == '\0' ? NULL : strchr(s, '/');
			size_t		len = send ? (size_t) (send - s) : strlen(s);

			if (pend == NULL || len == 0 || req->nparams >= GW_MAX_PARAMS)
				return 0;
			if (len >= GW_PARAM_LEN)
				return -1;
			memcpy(req->params[req->nparams], s, len);
			req->params[req->nparams][len] = '\0';
			req->nparams++;
			p = pend + 1;
			s += len;
			continue;
		}
		if (*p != *s)
			return 0;
		p++, s++;
	}
	return *p == '\0' && *s == '\0';
}

/*
 * The last parameter of a GW_PATH_REST route read again from the raw URI:
 * civetweb's decoded local_uri has double slashes removed, which an eventID
 * (ni:///sha-256;...) has. The pattern's text before the parameter has no
 * escapes, so the raw URI has it at the same place.
 */
static void
RawRestParam(const GwRoute *route, const char *raw, GwRequest *req)
{
	const char *brace = strrchr(route->pattern, '{');
	size_t		prefix = brace ? (size_t) (brace - route->pattern) : 0;
	size_t		len;

	if (brace == NULL || strlen(raw) <= prefix || strncmp(raw, route->pattern, prefix) != 0)
		return;
	len = strlen(raw + prefix);
	if (len >= GW_PARAM_LEN)
		return;
	mg_url_decode(raw + prefix, (int) len, req->params[req->nparams - 1], GW_PARAM_LEN, 0);
}

/* Nanoseconds on the monotonic clock. */
static long long
NowNs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
gw_dispatch(struct mg_connection *conn, void *cbdata)
{
	GwRequest	req;
	const char *method, *path;
	long long	start = NowNs();
	char		allow[128] = "";
	int			status = 0, route_index = -1;

	memset(&req, 0, sizeof(req));
	req.range_first = req.range_last = -1;
	req.conn = conn;
	req.ri = mg_get_request_info(conn);
	method = req.ri->request_method;
	path = req.ri->local_uri ? req.ri->local_uri : "";
	gw_metrics_begin();
	gw_reply_headers_reset(conn);

	/* framing, upgrades, query length and the per-address cap, before any route */
	status = gw_edge_check(&req);

	for (size_t i = 0; i < gw_nroutes && status == 0; i++)
	{
		int			m = MatchPattern(gw_routes[i].pattern, path, &req, (gw_routes[i].flags & GW_PATH_REST) != 0);

		if (m < 0)
			status = gw_reply_error(conn, 404, "GW404", "path parameter too long", NULL, NULL, NULL);
		if (m <= 0)
			continue;
		if (strcmp(gw_routes[i].method, method) == 0 ||
			(strcmp(method, "HEAD") == 0 && strcmp(gw_routes[i].method, "GET") == 0))
		{
			route_index = (int) i;
			req.route = &gw_routes[i];
			req.route_index = route_index;
			if ((gw_routes[i].flags & GW_PATH_REST) != 0 && req.nparams > 0 && req.ri->local_uri_raw != NULL)
				RawRestParam(&gw_routes[i], req.ri->local_uri_raw, &req);
			break;
		}
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", gw_routes[i].method);
	}

	/*
	 * Content negotiation: a JSON route whose twin "PATTERN.csv" is a CSV
	 * route answers as the twin when the client's Accept asks for text/csv.
	 */
	if (status == 0 && req.route != NULL && !(req.route->flags & GW_CSV))
	{
		const char *accept = mg_get_header(conn, "Accept");

		if (accept != NULL && strstr(accept, "text/csv") != NULL)
		{
			for (size_t i = 0; i < gw_nroutes; i++)
			{
				size_t		plen = strlen(req.route->pattern);

				if ((gw_routes[i].flags & GW_CSV) && strcmp(gw_routes[i].method, req.route->method) == 0 &&
					strncmp(gw_routes[i].pattern, req.route->pattern, plen) == 0 &&
					strcmp(gw_routes[i].pattern + plen, ".csv") == 0)
				{
					route_index = (int) i;
					req.route = &gw_routes[i];
					req.route_index = route_index;
					break;
				}
			}
		}
	}

	if (status == 0 && req.route != NULL)
	{
		if (!(req.route->flags & GW_NOAUTH))
			status = gw_authenticate(&req);
		if (status == 0)
			status = gw_check_query(&req);
		if (status == 0)
			status = gw_check_range(&req);
		if (status == 0 && (req.route->flags & GW_JSON))
			status = gw_read_json_body(&req);
		if (status == 0 && (req.route->flags & GW_NDJSON_BODY) && !(req.route->flags & GW_STREAM))
			status = gw_read_ndjson_body(&req);
		if (status == 0 && (req.route->flags & GW_LDJSON_BODY))
			status = gw_read_ldjson_body(&req);
		if (status == 0)
			status = req.route->handler(&req);
	}
	else if (status == 0 && allow[0] != '\0')
	{
		char		hdr[160];

		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		status = gw_reply_error(conn, 405, "GW405", "method not allowed", NULL,
								"See the Allow header.", hdr);
	}
	else if (status == 0)
		status = gw_reply_error(conn, 404, "GW404", "no such route", path,
								"See /openapi.json for the routes.", NULL);

	/* the pool connection goes back before the next request on this connection */
	gw_db_release(conn);
	gw_reply_headers_reset(conn);
	gw_edge_request_done();
	json_decref(req.body);
	free(req.raw_body);
	for (int i = 0; i < GW_MAX_QUERY; i++)
		free(req.query[i]);
	{
		long long	ns = NowNs() - start;
		/* the duration in tenths of a millisecond, rounded */
		long long	tenths = (ns + 50000) / 100000;
		char		line[512], sbuf[24], tbuf[24];
		const char *parts[] = {method, " ", path, " ", gw_decimal((unsigned long long) status, sbuf), " ",
		gw_decimal((unsigned long long) (tenths / 10), tbuf), "."};
		size_t		n = 0, len;
		bool		fits = status >= 0;

		gw_metrics_end(route_index, status, ns / 1e6);
		/*
		 * One write(2) of the whole line: no stdio lock (stderr's, which the
		 * workers queued on under load), and lines of concurrent requests
		 * never interleave (one write to a pipe or file of at most PIPE_BUF).
		 * "METHOD PATH STATUS 1.2ms", put together without a formatted print
		 * (which was a twentieth of the gateway's own instructions per GET
		 * /v1/session).
		 */
		for (size_t i = 0; fits && i < sizeof(parts) / sizeof(parts[0]); i++)
		{
			len = strlen(parts[i]);
			if (n + len + 8 > sizeof(line))
				fits = false;
			else
			{
				memcpy(line + n, parts[i], len);
				n += len;
			}
		}
		if (fits)
		{
			line[n++] = (char) ('0' + tenths % 10);
			memcpy(line + n, "ms\n", 3);
			n += 3;
			if (write(STDERR_FILENO, line, n) < 0)
			{
				/* nowhere to say it */
			}
		}
		else
			fprintf(stderr, "%s %s %d %lld.%lldms\n", method, path, status, tenths / 10, tenths % 10);
	}
	return status;
}
