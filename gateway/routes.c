/*
 * routes.c — the route table and the dispatcher. civetweb hands every
 * request to gw_dispatch (one catch-all handler, so no path ever reaches
 * civetweb's file serving); the table maps method + path to a handler, and
 * anything else gets a JSON 404 or 405 with Allow.
 */
#include "gateway.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef int (*GwHandler) (struct mg_connection *conn);

typedef struct Route
{
	const char *method;
	const char *path;
	GwHandler	handler;
} Route;

/* GET /healthz: 200 when the database answers a query, 503 otherwise. */
static int
HandleHealthz(struct mg_connection *conn)
{
	PGconn	   *db;
	PGresult   *res = gw_exec_first(conn, &db, "select 1", 0, NULL);
	json_t	   *body;
	bool		up;

	up = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	body = json_pack("{s:s, s:s}", "status", up ? "ok" : "unavailable",
					 "database", up ? "up" : "down");
	return gw_reply_json(conn, up ? 200 : 503, body, NULL);
}

/* GET /v1/version: the gateway's, the loaded library's and the SQL script's. */
static int
HandleVersion(struct mg_connection *conn)
{
	PGconn	   *db;
	PGresult   *res;
	json_t	   *body;
	int			status;

	res = gw_exec_first(conn, &db,
						"select shilian.version(), extversion from pg_extension where extname = $1",
						1, (const char *[]) {"shilian"});
	if (res == NULL)
		return gw_reply_pg_error(conn, NULL, db);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		status = gw_reply_pg_error(conn, res, db);
		PQclear(res);
		return status;
	}
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		return gw_reply_error(conn, 503, "GW503", "the shilian extension is not installed",
							  NULL, "Run CREATE EXTENSION shilian in the database.", NULL);
	}
	body = json_pack("{s:s, s:s, s:s}", "gateway", GW_VERSION,
					 "library", PQgetvalue(res, 0, 0), "extension", PQgetvalue(res, 0, 1));
	PQclear(res);
	return gw_reply_json(conn, 200, body, NULL);
}

static const Route routes[] = {
	{"GET", "/healthz", HandleHealthz},
	{"GET", "/v1/version", HandleVersion},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static double
NowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
gw_dispatch(struct mg_connection *conn, void *cbdata)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *method = ri->request_method;
	const char *path = ri->local_uri ? ri->local_uri : "";
	double		start = NowMs();
	char		allow[128] = "";
	int			status = 0;

	for (size_t i = 0; i < NROUTES; i++)
	{
		if (strcmp(routes[i].path, path) != 0)
			continue;
		if (strcmp(routes[i].method, method) == 0 ||
			(strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0))
		{
			status = routes[i].handler(conn);
			break;
		}
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", routes[i].method);
	}
	if (status == 0 && allow[0] != '\0')
	{
		char		hdr[160];

		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		status = gw_reply_error(conn, 405, "GW405", "method not allowed", NULL,
								"See the Allow header.", hdr);
	}
	else if (status == 0)
		status = gw_reply_error(conn, 404, "GW404", "no such route", path,
								"See /openapi.json for the routes.", NULL);

	fprintf(stderr, "%s %s %d %.1fms\n", method, path, status, NowMs() - start);
	return status;
}
