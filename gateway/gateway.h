/*
 * gateway.h — the REST gateway's shared declarations: configuration, the
 * per-request context, the per-thread database connection and reply helpers.
 * The gateway is thin: every rule lives in the extension; this only maps
 * HTTP to SQL calls with bound parameters and SQL errors back to HTTP.
 */
#ifndef SHILIAN_GATEWAY_H
#define SHILIAN_GATEWAY_H

#include <stddef.h>
#include <stdbool.h>

#include <civetweb.h>
#include <jansson.h>
#include <libpq-fe.h>

#define GW_VERSION "0.1.0"

typedef struct GwConfig
{
	char	   *listen;			/* host:port; port 0 picks a free one */
	char	   *dsn;			/* libpq connection string */
	int			threads;		/* civetweb worker threads = DB connections */
	long		body_limit;		/* bytes; larger bodies get 413 unread */
	int			request_timeout_ms;
	char	   *pid_file;
	char	   *port_file;		/* the bound port is written here (tests) */
} GwConfig;

extern GwConfig gw_config;

/* config.c: defaults < file (--config / SHILIAN_GATEWAY_CONFIG) < env < flags */
int			gw_config_load(int argc, char **argv);
void		gw_config_free(void);

/* db.c: one PGconn per worker thread, (re)connected lazily. */
typedef struct GwThread
{
	PGconn	   *db;
} GwThread;

void	   *gw_thread_init(const struct mg_context *ctx, int thread_type);
void		gw_thread_exit(const struct mg_context *ctx, int thread_type, void *user);
PGconn	   *gw_db(struct mg_connection *conn);
PGresult   *gw_exec_first(struct mg_connection *conn, PGconn **dbp, const char *sql,
						  int nparams, const char *const *params);

/* http.c: replies always carry an exact Content-Length (keep-alive). */
int			gw_reply_json(struct mg_connection *conn, int status, json_t *body,
						  const char *extra_headers);
int			gw_reply_error(struct mg_connection *conn, int status, const char *code,
						   const char *message, const char *details, const char *hint,
						   const char *extra_headers);
int			gw_reply_pg_error(struct mg_connection *conn, const PGresult *res, PGconn *db);
int			gw_http_status_for_sqlstate(const char *sqlstate);
const char *gw_status_text(int status);

/* routes.c */
int			gw_dispatch(struct mg_connection *conn, void *cbdata);

#endif
