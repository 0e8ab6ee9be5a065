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
	{
		GwThread   *t = calloc(1, sizeof(GwThread));

		if (t != NULL)
			t->prepared = calloc(gw_nroutes, 1);
		return t;
	}
}

void
gw_thread_exit(const struct mg_context *ctx, int thread_type, void *user)
{
	GwThread   *t = user;

	if (t == NULL)
		return;
	if (t->db != NULL)
		PQfinish(t->db);
	free(t->prepared);
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
	/* statements prepared on the old connection are gone with it */
	memset(t->prepared, 0, gw_nroutes);
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

void
gw_tx_rollback(PGconn *db)
{
	if (db != NULL && PQstatus(db) == CONNECTION_OK && PQtransactionStatus(db) != PQTRANS_IDLE)
		PQclear(PQexec(db, "ROLLBACK"));
}

static int
Fail(GwRequest *req, PGconn *db, PGresult *res)
{
	int			status = gw_reply_pg_error(req->conn, res, db);

	PQclear(res);
	gw_tx_rollback(db);
	return status;
}

int
gw_tx_begin(GwRequest *req, PGconn **db)
{
	const char *method = req->ri->request_method;
	bool		readonly = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	PGresult   *res = gw_exec_first(req->conn, db, readonly ? "BEGIN READ ONLY" : "BEGIN", 0, NULL);

	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		return Fail(req, *db, res);
	PQclear(res);
	return 0;
}

/* Role and settings are transaction-local: nothing leaks to the next request. */
int
gw_tx_set_role(GwRequest *req, PGconn *db)
{
	char		timeout[24];
	const char *ctx[5];
	PGresult   *res;

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
		return Fail(req, db, res);
	PQclear(res);
	return 0;
}

/* Run a statement; route_index >= 0 prepares it once per connection. */
PGresult *
gw_tx_exec(GwRequest *req, PGconn *db, int route_index, const char *sql, int nparams,
		   const char *const *params, int *status)
{
	GwThread   *t = mg_get_thread_pointer(req->conn);
	PGresult   *res;

	if (route_index >= 0 && t != NULL)
	{
		char		name[16];

		snprintf(name, sizeof(name), "gw%d", route_index);
		if (!t->prepared[route_index])
		{
			res = PQprepare(db, name, sql, nparams, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				*status = Fail(req, db, res);
				return NULL;
			}
			PQclear(res);
			t->prepared[route_index] = 1;
		}
		res = PQexecPrepared(db, name, nparams, params, NULL, NULL, 0);
	}
	else
		res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		*status = Fail(req, db, res);
		return NULL;
	}
	return res;
}

int
gw_tx_commit(GwRequest *req, PGconn *db)
{
	PGresult   *res = PQexec(db, "COMMIT");

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return Fail(req, db, res);
	PQclear(res);
	return 0;
}

/*
 * One unit of work in one round trip (libpq pipeline mode): BEGIN, the role
 * and settings, the statement (prepared on first use when route_index >= 0),
 * COMMIT, Sync. After an error the server skips the rest up to the Sync, and
 * the failed transaction is rolled back. A connection found broken before
 * BEGIN succeeded (server restart while idle) is re-made and the whole
 * pipeline sent once more: nothing of it can have run.
 */
PGresult *
gw_call_route(GwRequest *req, int route_index, const char *sql, int nparams,
			  const char *const *params, int *status)
{
	const char *method = req->ri->request_method;
	bool		readonly = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	GwThread   *t = mg_get_thread_pointer(req->conn);
	char		timeout[24], name[16];
	const char *ctx[5];

	snprintf(timeout, sizeof(timeout), "%d", gw_config.request_timeout_ms);
	snprintf(name, sizeof(name), "gw%d", route_index);
	ctx[0] = req->auth.role;
	ctx[1] = req->auth.operator_id;
	ctx[2] = req->auth.jurisdiction;
	ctx[3] = req->auth.client;
	ctx[4] = timeout;

	for (int attempt = 0; attempt < 2; attempt++)
	{
		PGconn	   *db = gw_db(req->conn);
		bool		prepare, begun = false;
		int			ncmds, stmt_at;
		PGresult   *first_err = NULL, *stmt_res = NULL, *r;

		if (db == NULL)
			break;
		prepare = route_index >= 0 && t != NULL && !t->prepared[route_index];
		if (!PQenterPipelineMode(db))
			break;
		PQsendQueryParams(db, readonly ? "BEGIN READ ONLY" : "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
		PQsendQueryParams(db,
						  "select set_config('role', $1, true), "
						  "set_config('shilian.operator_id', $2, true), "
						  "set_config('shilian.jurisdiction', $3, true), "
						  "set_config('shilian.client', $4, true), "
						  "set_config('statement_timeout', $5, true)",
						  5, NULL, ctx, NULL, NULL, 0);
		if (prepare)
			PQsendPrepare(db, name, sql, nparams, NULL);
		if (route_index >= 0)
			PQsendQueryPrepared(db, name, nparams, params, NULL, NULL, 0);
		else
			PQsendQueryParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
		PQsendQueryParams(db, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
		PQpipelineSync(db);

		ncmds = prepare ? 5 : 4;
		stmt_at = prepare ? 3 : 2;
		for (int i = 0; i < ncmds; i++)
		{
			ExecStatusType st;

			r = PQgetResult(db);
			if (r == NULL)
				break;			/* connection lost */
			st = PQresultStatus(r);
			if (i == 0 && st == PGRES_COMMAND_OK)
				begun = true;
			if (prepare && i == 2 && st == PGRES_COMMAND_OK)
				t->prepared[route_index] = 1;
			if (st == PGRES_FATAL_ERROR && first_err == NULL)
				first_err = r;
			else if (i == stmt_at && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
				stmt_res = r;
			else
				PQclear(r);
			/* each command's results end with a NULL */
			while ((r = PQgetResult(db)) != NULL && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
				PQclear(r);
			if (r != NULL)
			{
				PQclear(r);		/* the Sync came early: nothing more to read */
				break;
			}
		}
		/* drain up to and including the Sync */
		while ((r = PQgetResult(db)) != NULL)
		{
			bool		sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;

			PQclear(r);
			if (sync)
				break;
		}
		PQexitPipelineMode(db);

		if (PQstatus(db) != CONNECTION_OK && !begun && attempt == 0)
		{
			PQclear(first_err);
			PQclear(stmt_res);
			continue;			/* broken before anything ran: reconnect and resend */
		}
		if (first_err != NULL || stmt_res == NULL)
		{
			*status = gw_reply_pg_error(req->conn, first_err, db);
			PQclear(first_err);
			PQclear(stmt_res);
			gw_tx_rollback(db);
			return NULL;
		}
		return stmt_res;
	}
	*status = gw_reply_pg_error(req->conn, NULL, NULL);
	return NULL;
}

PGresult *
gw_call(GwRequest *req, const char *sql, int nparams, const char *const *params, int *status)
{
	return gw_call_route(req, -1, sql, nparams, params, status);
}
