/*
 * db.c — one PGconn per civetweb worker thread. Connections are made on
 * first use and re-made when the server has gone away, so the gateway
 * answers 503 while the database is down and recovers by itself.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
gw_thread_init(const struct mg_context *ctx, int thread_type)
{
	/* thread_type 1 = worker; only workers talk to the database */
	if (thread_type != 1)
		return NULL;
	return calloc(1, sizeof(GwThread));
}

void
gw_thread_exit(const struct mg_context *ctx, int thread_type, void *user)
{
	GwThread   *t = user;

	if (t == NULL)
		return;
	if (t->db != NULL)
		PQfinish(t->db);
	free(t);
}

/* The thread's connection, ready for a query, or NULL if none can be made. */
PGconn *
gw_db(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);

	if (t == NULL)
		return NULL;
	if (t->db != NULL && PQstatus(t->db) == CONNECTION_OK &&
		PQtransactionStatus(t->db) == PQTRANS_IDLE)
		return t->db;
	if (t->db != NULL)
	{
		PQfinish(t->db);
		t->db = NULL;
	}
	t->db = PQconnectdb(gw_config.dsn);
	if (PQstatus(t->db) != CONNECTION_OK)
	{
		fprintf(stderr, "shilian-gateway: database connection failed: %s", PQerrorMessage(t->db));
		PQfinish(t->db);
		t->db = NULL;
		return NULL;
	}
	return t->db;
}

/*
 * Run one statement with bound text parameters. A connection that broke
 * while idle (server restart) fails the first statement with no SQLSTATE:
 * it is then re-made and the statement retried once. Callers retry only
 * statements that open a unit of work (BEGIN, a single read), never a
 * statement in the middle of a transaction.
 */
PGresult *
gw_exec_first(struct mg_connection *conn, PGconn **dbp, const char *sql, int nparams,
			  const char *const *params)
{
	for (int attempt = 0; attempt < 2; attempt++)
	{
		PGconn	   *db = gw_db(conn);
		PGresult   *res;

		*dbp = db;
		if (db == NULL)
			return NULL;
		res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_FATAL_ERROR || PQstatus(db) == CONNECTION_OK)
			return res;
		PQclear(res);
		/* broken connection: gw_db() reconnects on the next round */
	}
	return NULL;
}

static void
Rollback(PGconn *db)
{
	PQclear(PQexec(db, "ROLLBACK"));
}

PGresult *
gw_call(GwRequest *req, const char *sql, int nparams, const char *const *params, int *status)
{
	const char *method = req->ri->request_method;
	bool		readonly = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	char		timeout[24];
	const char *ctx[5];
	PGconn	   *db;
	PGresult   *res;

	res = gw_exec_first(req->conn, &db, readonly ? "BEGIN READ ONLY" : "BEGIN", 0, NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		*status = gw_reply_pg_error(req->conn, res, db);
		PQclear(res);
		return NULL;
	}
	PQclear(res);

	/* Role and settings are transaction-local: nothing leaks to the next request. */
	snprintf(timeout, sizeof(timeout), "%d", gw_config.request_timeout_ms);
	ctx[0] = req->auth.role;
	ctx[1] = req->auth.operator_id;
	ctx[2] = req->auth.jurisdiction;
	ctx[3] = req->auth.client;
	ctx[4] = timeout;
	res = PQexecParams(db,
					   "select set_config('role', $1, true), "
					   "set_config('shilian.operator_id', $2, true), "
					   "set_config('shilian.jurisdiction', $3, true), "
					   "set_config('shilian.client', $4, true), "
					   "set_config('statement_timeout', $5, true)",
					   5, NULL, ctx, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto fail;
	PQclear(res);

	res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		goto fail;
	{
		PGresult   *commit = PQexec(db, "COMMIT");

		if (PQresultStatus(commit) != PGRES_COMMAND_OK)
		{
			PQclear(res);
			res = commit;
			goto fail;
		}
		PQclear(commit);
	}
	return res;

fail:
	*status = gw_reply_pg_error(req->conn, res, db);
	PQclear(res);
	if (PQstatus(db) == CONNECTION_OK && PQtransactionStatus(db) != PQTRANS_IDLE)
		Rollback(db);
	return NULL;
}
