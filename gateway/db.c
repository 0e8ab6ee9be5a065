/*
 * db.c — one PGconn per civetweb worker thread. Connections are made on
 * first use and re-made when the server has gone away, so the gateway
 * answers 503 while the database is down and recovers by itself.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>

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
