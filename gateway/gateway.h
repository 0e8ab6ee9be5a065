/*
 * gateway.h — the REST gateway's shared declarations: configuration, the
 * per-request context, routes, the per-thread database connection and reply
 * helpers. The gateway is thin: every rule lives in the extension; this only
 * maps HTTP to SQL calls with bound parameters and SQL errors back to HTTP.
 */
#ifndef SHILIAN_GATEWAY_H
#define SHILIAN_GATEWAY_H

#include <stddef.h>
#include <stdbool.h>

#include <civetweb.h>
#include <jansson.h>
#include <libpq-fe.h>

/* the extension's version, from shilian.control (Makefile) */
#ifndef GW_VERSION
#error "GW_VERSION must be defined by the Makefile"
#endif
#define GW_MAX_PARAMS 4
#define GW_PARAM_LEN 256

typedef struct GwConfig
{
	char	   *listen;			/* host:port; port 0 picks a free one */
	char	   *dsn;			/* libpq connection string */
	int			threads;		/* civetweb worker threads = DB connections */
	long		body_limit;		/* bytes; larger bodies get 413 unread */
	long		import_body_limit;	/* the same for /v1/import uploads */
	long		import_line_limit;	/* longest line of an upload; longer ones are refused */
	int			import_chunk_lines;	/* lines applied per committed transaction (progress) */
	int			request_timeout_ms;
	char	   *pid_file;
	char	   *port_file;		/* the bound port is written here (tests) */
	char	   *jwt_secret;		/* HS256 key; unset = no bearer tokens accepted */
	char	   *jwt_secret_file;	/* or read the key from this file */
} GwConfig;

extern GwConfig gw_config;

/* config.c: defaults < file (--config / SHILIAN_GATEWAY_CONFIG) < env < flags */
int			gw_config_load(int argc, char **argv);
void		gw_config_free(void);

/* Who is calling, from a verified token (auth.c). */
typedef struct GwAuth
{
	bool		authenticated;
	char		role[64];		/* database role, e.g. shilian_operator */
	char		operator_id[32];
	char		jurisdiction[32];
	char		client[64];
} GwAuth;

/* JSON body field types for a route's schema. */
typedef enum GwFieldType
{
	GW_STRING, GW_INTEGER, GW_NUMBER, GW_BOOLEAN, GW_OBJECT, GW_ARRAY, GW_ANY
} GwFieldType;

typedef struct GwField
{
	const char *name;
	GwFieldType type;
	bool		required;
	const char *description;
} GwField;

struct GwRequest;
typedef int (*GwHandler) (struct GwRequest *req);

#define GW_PUBLIC	0x01		/* no token needed (runs as shilian_public) */
#define GW_JSON		0x02		/* takes a JSON object body */
#define GW_NOAUTH	0x04		/* infrastructure route: no token, no role */
#define GW_CREATED	0x08		/* success is 201 Created */
#define GW_CSV		0x10		/* the SQL returns text/csv, not JSON */
#define GW_NDJSON	0x20		/* the SQL returns JSON lines */
#define GW_NDJSON_BODY	0x40	/* takes an application/x-ndjson body (import_body_limit) */
#define GW_ACCEPTED	0x80		/* success is 202 Accepted */
#define GW_LDJSON_BODY	0x100	/* takes a JSON(-LD) document kept raw (import_body_limit) */
#define GW_STREAM	0x200		/* the handler reads the body itself, in chunks */

typedef struct GwRoute
{
	const char *method;
	const char *pattern;		/* "/v1/batches/{code}" */
	GwHandler	handler;
	unsigned	flags;
	const char *summary;
	const GwField *fields;		/* JSON body schema, NULL-name terminated */
	const char *const *roles;	/* roles allowed (NULL = any authenticated) */
	/*
	 * SQL routes (handler gw_sql_route): one statement returning one value,
	 * json/jsonb (or text for GW_CSV); NULL means 404. args name the source
	 * of each $n in order: "path:N" (Nth path parameter), "body:NAME"
	 * (a body field; objects/arrays as JSON text), "query:NAME",
	 * "header:NAME" (a request header), "raw" (the whole GW_NDJSON_BODY or
	 * GW_LDJSON_BODY body). Columns after the first, by name, shape the
	 * reply: content_range (Content-Range header), location (Location
	 * header), next_page_token (Link header with rel="next": this request's
	 * URI with nextPageToken set), next_after (the same with after set: a
	 * keyset page's cursor), error_sqlstate (when not null the value is
	 * an error body the statement recorded, sent with that SQLSTATE's status).
	 */
	const char *sql;
	const char *const *args;
} GwRoute;

typedef struct GwRequest
{
	struct mg_connection *conn;
	const struct mg_request_info *ri;
	const GwRoute *route;
	int			route_index;
	int			nparams;
	char		params[GW_MAX_PARAMS][GW_PARAM_LEN];
	GwAuth		auth;
	json_t	   *body;			/* parsed body (GW_JSON routes), owned here */
	char	   *raw_body;		/* the body as read, owned here */
	size_t		raw_len;
} GwRequest;

/* api.c: the route table */
extern const GwRoute gw_routes[];
extern const size_t gw_nroutes;

/* routes.c: the dispatcher and the handlers of infrastructure routes */
int			gw_dispatch(struct mg_connection *conn, void *cbdata);
int			gw_healthz_route(GwRequest *req);
int			gw_version_route(GwRequest *req);
int			gw_session_route(GwRequest *req);
int			gw_metrics_route(GwRequest *req);
int			gw_openapi_route(GwRequest *req);

/* auth.c: 0 and auth filled, or an HTTP status after replying. */
int			gw_authenticate(GwRequest *req);

/* request.c: body reading and schema checks; 0 or HTTP status after replying. */
int			gw_read_json_body(GwRequest *req);
/* Whether a Content-Type header value is the media type (parameters allowed). */
bool		gw_media_type_is(const char *ctype, const char *type);
int			gw_read_ndjson_body(GwRequest *req);
int			gw_read_ldjson_body(GwRequest *req);
const char *gw_query_param(GwRequest *req, const char *name, char *buf, size_t buflen);

/* db.c: one PGconn per worker thread, (re)connected lazily. */
typedef struct GwThread
{
	PGconn	   *db;
	unsigned char *prepared;	/* per route: prepared on this connection */
} GwThread;

void	   *gw_thread_init(const struct mg_context *ctx, int thread_type);
void		gw_thread_exit(const struct mg_context *ctx, int thread_type, void *user);
PGconn	   *gw_db(struct mg_connection *conn);
PGresult   *gw_exec_first(struct mg_connection *conn, PGconn **dbp, const char *sql,
						  int nparams, const char *const *params);

/*
 * Run one SQL call for the request in its own transaction, as the caller's
 * role and with its shilian.* settings (the PostgREST pattern). On success
 * returns the call's result (caller PQclears); on failure replies with the
 * error and returns NULL with *status set.
 */
PGresult   *gw_call(GwRequest *req, const char *sql, int nparams, const char *const *params,
					int *status);

/* gw_call for a route's own statement, prepared once per connection. */
PGresult   *gw_call_route(GwRequest *req, int route_index, const char *sql, int nparams,
						  const char *const *params, int *status);

/* The steps of gw_call, for handlers that need more in one transaction. */
int			gw_tx_begin(GwRequest *req, PGconn **db);
int			gw_tx_set_role(GwRequest *req, PGconn *db);
PGresult   *gw_tx_exec(GwRequest *req, PGconn *db, int route_index, const char *sql,
					   int nparams, const char *const *params, int *status);
int			gw_tx_commit(GwRequest *req, PGconn *db);
void		gw_tx_rollback(PGconn *db);

/* import.c: POST /v1/import, the body streamed to the database with COPY. */
int			gw_import_route(GwRequest *req);

/* sqlroute.c: the generic handler of SQL routes (with Idempotency-Key). */
int			gw_sql_route(GwRequest *req);

/* http.c: replies always carry an exact Content-Length (keep-alive). */
int			gw_reply_json(struct mg_connection *conn, int status, json_t *body,
						  const char *extra_headers);
int			gw_reply_text(struct mg_connection *conn, int status, const char *content_type,
						  const char *text, size_t len, const char *extra_headers);
int			gw_reply_error(struct mg_connection *conn, int status, const char *code,
						   const char *message, const char *details, const char *hint,
						   const char *extra_headers);
int			gw_reply_pg_error(struct mg_connection *conn, const PGresult *res, PGconn *db);
int			gw_http_status_for_sqlstate(const char *sqlstate);
const char *gw_status_text(int status);

/* metrics.c */
void		gw_metrics_init(size_t nroutes);
void		gw_metrics_begin(void);
void		gw_metrics_end(int route_index, int status, double ms);
void		gw_metrics_free(void);
int			gw_metrics_reply(struct mg_connection *conn);

/* openapi.c */
int			gw_openapi_reply(struct mg_connection *conn);

#endif
