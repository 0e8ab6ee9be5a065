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

#include "jsonlimit.h"

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
	char	   *read_dsn;		/* h-replica: hot standbys for GW_REPLICA reads (NULL = none) */
	int			read_max_lag_ms;	/* staleness bound of a standby read, else the primary */
	int			read_pool_size;	/* connections of the read pool */
	int			threads;		/* civetweb worker threads (connections served at once) */
	long		body_limit;		/* bytes; larger bodies get 413 unread */
	long		import_body_limit;	/* the same for /v1/import uploads */
	long		import_line_limit;	/* longest line of an upload; longer ones are refused */
	int			import_chunk_lines;	/* lines applied per committed transaction (progress) */
	int			upload_pool_size;	/* database connections of uploads, apart from the workers' */
	long		upload_time_limit_ms;	/* longest an upload's body may take to arrive */
	long		upload_min_rate;	/* bytes/s an upload's body must average after the grace */
	int			upload_rate_grace_ms;	/* before the minimum rate applies */
	long		upload_apply_timeout_ms;	/* statement timeout of one apply step */
	int			import_sweep_ms;	/* how often jobs nobody runs are taken up */
	int			request_timeout_ms;
	char	   *pid_file;
	char	   *port_file;		/* the bound port is written here (tests) */
	char	   *jwt_secret;		/* HS256 key; unset = no bearer tokens accepted */
	char	   *jwt_secret_file;	/* or read the key from this file */
	int			db_pool_size;	/* PGconns shared by the worker threads */
	int			db_pool_wait_ms;	/* longest wait for a free one, then 503 */
	int			header_timeout_ms;	/* whole-request deadline for the request headers */
	int			client_connections;	/* connections at once from one client address */
	long		query_limit;	/* longest query string in bytes; longer is 414 */
	/* identity and throttling (auth.c, jwks.c, ratelimit.c) */
	char	   *jwt_audience;	/* when set, every token's aud must name it */
	char	   *jwks_file;		/* identity provider's public keys (RS256/ES256) */
	char	   *jwt_claim_role;	/* claim names in identity-provider tokens */
	char	   *jwt_claim_operator;
	char	   *jwt_claim_jurisdiction;
	int			apikey_fail_threshold;	/* failed API keys per address before backoff */
	int			apikey_backoff_ms;	/* first backoff; doubles with each further failure */
	int			apikey_backoff_max_ms;
	int			public_rate_limit;	/* public lookups per address per window */
	int			public_rate_window_ms;
	char	   *public_base_url;	/* h-pages: what label QR codes point to; NULL = from Host */
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
	char		client_addr[64];	/* the peer's address: shilian.client_addr (registration.md) */
	char		identity[200];	/* sub:<the bearer token's subject>: shilian.identity (registration.md) */
} GwAuth;

/* JSON body field types for a route's schema. */
typedef enum GwFieldType
{
	GW_STRING, GW_INTEGER, GW_NUMBER, GW_BOOLEAN, GW_OBJECT, GW_ARRAY, GW_ANY,
	GW_ID,						/* an id: a string of digits (an integer is taken too) */
	GW_DATE,					/* a string YYYY-MM-DD */
	GW_DATETIME					/* a string, RFC 3339 timestamp with an offset or Z */
} GwFieldType;

typedef struct GwField
{
	const char *name;
	GwFieldType type;
	bool		required;
	const char *description;
} GwField;

/*
 * A declared path, query or header parameter of a route (api.c). The
 * dispatcher validates every query parameter against the declarations
 * before the handler runs (unknown ones refused), and /openapi.json
 * describes them from the same declarations.
 */
typedef enum GwParamIn
{
	GW_IN_QUERY, GW_IN_PATH, GW_IN_HEADER
} GwParamIn;

typedef struct GwParam
{
	const char *name;
	GwParamIn	in;
	GwFieldType type;			/* GW_STRING, GW_INTEGER, GW_BOOLEAN, GW_ID, GW_DATE, GW_DATETIME */
	bool		required;
	const char *description;
	const char *pattern;		/* anchored POSIX ERE (also the OpenAPI pattern), or NULL */
	const char *const *values;	/* the allowed values (enum), NULL-terminated, or NULL */
	bool		has_min, has_max;	/* GW_INTEGER bounds */
	long long	min, max;
} GwParam;

/* path parameter values at most this long; the query parameters of a route at most this many */
#define GW_MAX_QUERY 32

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
#define GW_ACTING	0x400		/* acts for an operator: a system client bound to several names it (auth.c) */
#define GW_PATH_REST	0x800	/* the last path parameter takes the rest of the path, slashes too (an EPCIS eventID) */
#define GW_READ_WRITE	0x1000	/* a GET whose function needs a read-write transaction (the national walks' temp table) */
#define GW_REPLICA	0x2000		/* a read (GET, gw_sql_route) a hot standby may serve (read_dsn; db.c gw_read_choose) */

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
	 * an error body the statement recorded, sent with that SQLSTATE's status),
	 * text_plain (the same resource as text/plain, sent instead when the
	 * client's Accept asks for text/plain: a signed checkpoint note).
	 */
	const char *sql;
	const char *const *args;
	/*
	 * The contract (designated initializers after the positional fields):
	 * .op the unique camelCase operationId; .params the path, query and
	 * header parameters, NULL-name terminated; .response the name of the
	 * success body's schema in schemas.c ("" for none); .location for a
	 * 201, the Location template: "{name}" is replaced by that field of the
	 * reply body.
	 */
	const char *op;
	const GwParam *params;
	const char *response;
	const char *location;
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
	/* validated query parameters, by index in route->params (NULL = absent), owned here */
	char	   *query[GW_MAX_QUERY];
	/* a Range: items request (PostgREST): first and last item, or -1 */
	long long	range_first, range_last;
} GwRequest;

/* api.c: the route table */
extern const GwRoute gw_routes[];
/*
 * The parameters every authenticated route takes besides its own: the
 * acting operator as the query parameter operator (first) or the header
 * X-Shilian-Operator (auth.c ResolveActing; docs/rest.md "The acting
 * operator"). A route that declares operator itself means its own.
 */
extern const GwParam gw_acting_params[];
/* The request header of GW_REPLICA routes: read-your-own-writes (db.c gw_read_choose). */
extern const GwParam gw_read_params[];
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
/* Decode base64url (no padding) into a new NUL-terminated buffer; NULL if malformed. */
unsigned char *gw_base64url_decode(const char *src, size_t len, size_t *outlen);

/* jwks.c: the identity provider's public keys, read once at start. */
typedef struct GwJwk
{
	char	   *kid;
	int			alg;			/* jwt_alg_t: JWT_ALG_RS256 or JWT_ALG_ES256 */
	char	   *pem;			/* SubjectPublicKeyInfo PEM, as libjwt wants it */
} GwJwk;
int			gw_jwks_load(const char *path);	/* 0, or -1 after a message on stderr */
const GwJwk *gw_jwks_find(const char *kid);
void		gw_jwks_free(void);

/* ratelimit.c: per-address throttles; each returns seconds to wait, 0 = go. */
int			gw_ratelimit_apikey_wait(const char *addr);
void		gw_ratelimit_apikey_result(const char *addr, bool ok);
int			gw_ratelimit_public(const char *addr);

/* token.c: `shilian-gateway token ...` prints a signed HS256 token; exit code. */
int			gw_token_main(int argc, char **argv);
/* routes.c: `shilian-gateway sql OP` prints a route's statement (the benchmark's pgbench side) */
int			gw_sql_main(int argc, char **argv);
/* db.c: the statement that makes each transaction the caller's ($1 role .. $7 identity) */
extern const char gw_principal_sql[];

/* request.c: body reading and schema checks; 0 or HTTP status after replying. */
int			gw_read_json_body(GwRequest *req);
/* Whether a Content-Type header value is the media type (parameters allowed). */
bool		gw_media_type_is(const char *ctype, const char *type);
int			gw_read_ndjson_body(GwRequest *req);
int			gw_read_ldjson_body(GwRequest *req);
const char *gw_query_param(GwRequest *req, const char *name, char *buf, size_t buflen);
/* Check the query string against the route's declared parameters; 0 or HTTP status after replying. */
int			gw_check_query(GwRequest *req);
/* A validated query parameter's value, or NULL when absent. */
const char *gw_query_value(const GwRequest *req, const char *name);
/* A Range request header on a paged list route (Range-Unit: items); 0 or status after replying. */
int			gw_check_range(GwRequest *req);
bool		gw_valid_date(const char *s);
bool		gw_valid_datetime(const char *s);
/* The rule a declared parameter's value breaks, or NULL when it is valid. */
const char *gw_param_rule(const GwParam *p, const char *value, char *buf, size_t len);

/*
 * db.c: a small pool of PGconns shared by the (many more) worker threads.
 * A request takes one on its first gw_db() and gives it back when the
 * dispatcher ends (gw_db_release); statements are prepared per connection.
 */
typedef struct GwPoolConn
{
	PGconn	   *db;
	unsigned char *prepared;	/* per route: prepared on this connection */
	unsigned	fixed_prepared;	/* BEGIN, COMMIT, the principal's statement... (db.c): bit set when prepared */
	bool		busy;
	bool		discard;		/* a standby's: closed when given back (GW5031) */
	struct GwPool *pool;		/* the pool it belongs to (the primary's or the read pool) */
} GwPoolConn;

typedef struct GwThread
{
	GwPoolConn *held;			/* the pool connection of the current request */
	bool		pool_timed_out; /* the last gw_db() found none free in time */
	char		db_error[256];	/* why the last gw_db() could not connect ("" if it did) */
	bool		want_read;		/* the next acquire is from the read pool (gw_read_choose) */
	/* headers every reply of this request carries (Shilian-Read-Source, Shilian-Commit-LSN) */
	char		reply_headers[192];
	/*
	 * The last bearer token whose signature this worker checked and found
	 * good, with the key and algorithm it was checked with (auth.c): a
	 * keep-alive client sends the same token with every request.
	 */
	char	   *jwt_good;
	size_t		jwt_good_len;
	const void *jwt_good_key;
	int			jwt_good_alg;
	/*
	 * When that token's claims passed too (jwt_claims_ok): what they made of
	 * the request's principal (role, operator, jurisdiction, client,
	 * identity), the role claim, and its times, which are checked against
	 * the clock again at every request (auth.c).
	 */
	bool		jwt_claims_ok;
	bool		jwt_has_exp, jwt_has_nbf, jwt_has_iat;
	double		jwt_exp, jwt_nbf, jwt_iat;
	char		jwt_role[32];
	GwAuth		jwt_auth;
} GwThread;

int			gw_db_pool_init(void);
void		gw_db_pool_free(void);
void	   *gw_thread_init(const struct mg_context *ctx, int thread_type);
void		gw_thread_exit(const struct mg_context *ctx, int thread_type, void *user);
PGconn	   *gw_db(struct mg_connection *conn);
void		gw_db_release(struct mg_connection *conn);
/* /healthz: the database's state, from a connection of its own. */
bool		gw_db_health(void);
void		gw_db_pool_stats(int *in_use, int *waiting);
/*
 * h-replica: for a GW_REPLICA route, hold a standby connection of the read
 * pool when the standby is within read_max_lag_ms (and has replayed the
 * client's Shilian-Min-LSN), else leave the request to the primary; either
 * way the replies carry Shilian-Read-Source. 0, or an HTTP status after
 * replying (a malformed Shilian-Min-LSN).
 */
int			gw_read_choose(GwRequest *req);
/* Replies of this request carry no extra headers yet (the dispatcher, per request). */
void		gw_reply_headers_reset(struct mg_connection *conn);
/* Those headers (http.c adds them to every reply), "" for none. */
const char *gw_reply_headers(struct mg_connection *conn);
/* Requests of GW_REPLICA routes by where they were served (/metrics). */
void		gw_read_stats(unsigned long *counts, const char *const **reasons, int *n);
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

/* jsonin.c: every JSON text the gateway parses, checked for depth and size first. */
typedef struct GwJsonError
{
	int			status;			/* 400 malformed or too deep, 413 too large */
	SlJsonLimit limit;			/* the limit passed, or SL_JSON_OK when the parser refused */
	json_error_t parse;			/* jansson's error when the parser refused */
	char		message[64];
	char		details[256];
} GwJsonError;

int			gw_json_limit(const char *text, size_t len, size_t max_size, GwJsonError *err);
json_t	   *gw_json_load(const char *text, size_t len, size_t flags, size_t max_size,
						 GwJsonError *err);
int			gw_reply_json_refused(struct mg_connection *conn, const GwJsonError *err,
								  const char *what, const char *hint);

/* edge.c: HTTP framing checks, civetweb's own errors as JSON, per-address connection caps. */
int			gw_edge_check(GwRequest *req);
int			gw_edge_http_error(struct mg_connection *conn, int status, const char *msg);
int			gw_edge_init_connection(const struct mg_connection *conn, void **conn_data);
void		gw_edge_connection_close(const struct mg_connection *conn);
void		gw_edge_request_done(void);
void		gw_edge_defer_accept(int port, int seconds);
int			gw_edge_client_connections(void);
void		gw_edge_free(void);
/* civetweb's keep_alive_timeout_ms: the next request on a connection must arrive within it */
#define GW_KEEP_ALIVE_TIMEOUT_MS 500

/* import.c: POST /v1/import, the body streamed to the database with COPY. */
int			gw_import_route(GwRequest *req);

/*
 * upload_pool.c: the database connections of uploads, a bounded pool apart
 * from the workers' (upload_pool_size), and the clock that holds an upload's
 * body to upload_time_limit_ms and upload_min_rate.
 */
typedef struct GwUpload GwUpload;

int			gw_upload_pool_start(void);
void		gw_upload_pool_stop(void);
/* A free upload connection, ready; NULL when all are busy (*busy) or the database is down. */
GwUpload   *gw_upload_acquire(bool *busy);
PGconn	   *gw_upload_db(GwUpload *u);
void		gw_upload_release(GwUpload *u);
void		gw_upload_release_ex(GwUpload *u, bool close);
/* The body clock: mg_read under the time limit and minimum rate (-1 once over, see gw_upload_too_slow). */
void		gw_upload_clock_start(GwUpload *u, struct mg_connection *conn);
void		gw_upload_clock_stop(GwUpload *u);
int			gw_upload_read(GwUpload *u, struct mg_connection *conn, char *buf, size_t len);
bool		gw_upload_too_slow(GwUpload *u, char *why, size_t whylen);

/*
 * import_job.c: an import job's life on an upload connection: its lease,
 * the apply in steps, and the sweep that takes up jobs nobody runs.
 */
typedef enum GwJobEnd
{
	GW_JOB_DONE,				/* no longer running: applied or rolled back */
	GW_JOB_FAILED,				/* failed (import_fail): *err says why */
	GW_JOB_LEFT,				/* let go while running (stopping, transient error): resumed later */
	GW_JOB_LOST					/* the database connection broke: resumed later */
} GwJobEnd;

extern const char *gw_job_holder;
int			gw_import_jobs_start(void);
void		gw_import_jobs_stop(void);
bool		gw_import_stopping(void);
int			gw_job_lease_ms(void);
/* The statement that makes a transaction the caller's (db.c): role, settings, timeout. */
PGresult   *gw_set_principal(PGconn *db, const GwAuth *who, int timeout_ms);
GwJobEnd	gw_job_run(PGconn *db, const GwAuth *who, const char *job, bool all_or_nothing,
					   PGresult **err);
void		gw_job_release(PGconn *db, const char *job);
/* h-import: an upload answered 202, staged and leased, applied in the background on its connection */
void		gw_job_hand_over(GwUpload *up, const GwAuth *who, const char *job, bool all_or_nothing);

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
/* The decimal digits of v, written at the end of buf (24 bytes): where they begin. */
const char *gw_decimal(unsigned long long v, char *buf);
const char *gw_status_text(int status);

/* metrics.c */
void		gw_metrics_init(size_t nroutes);
void		gw_metrics_begin(void);
void		gw_metrics_end(int route_index, int status, double ms);
void		gw_metrics_free(void);
int			gw_metrics_reply(struct mg_connection *conn);

/* openapi.c */
int			gw_openapi_reply(struct mg_connection *conn);
json_t	   *gw_openapi_document(void);
/* The route table declares every route's contract (api.c); 0, or -1 after messages. */
int			gw_routes_check(void);
/* schemas.c: every named schema of request and reply bodies, one JSON object */
extern const char gw_schemas_json[];
/* http.c: the one serialisation of every JSON body */
char	   *gw_json_text(const json_t *body);
size_t		gw_json_compact(char *text, bool keep_lines);
/* An error under /epcis as RFC 7807 problem details (takes the error object). */
int			gw_reply_problem(struct mg_connection *conn, int status, json_t *err, const char *extra_headers);
bool		gw_is_epcis(struct mg_connection *conn);

/*
 * h-pages: pages.c, labels.c, pictures.c — the Digital Link resolver and the
 * consumer page, printable labels with QR codes, the regulator's recall graph
 * and report charts (docs/pages.md). HTML and SVG are built in a GwBuf
 * (htmlbuf.h) where every database value goes through gw_buf_esc.
 */
struct GwBuf;
int			gw_page_route(GwRequest *req);
int			gw_registration_page_route(GwRequest *req);
int			gw_label_route(GwRequest *req);
int			gw_label_sheet_route(GwRequest *req);
int			gw_recall_graph_route(GwRequest *req);
int			gw_report_chart_route(GwRequest *req);
/* One read statement as the caller: the result; or NULL with *err the failed
 * result (caller PQclears) for an SQL error, or NULL, *err NULL and *status
 * after the reply for a failure of the database itself. */
PGresult   *gw_page_query(GwRequest *req, const char *sql, int nparams, const char *const *params,
						  PGresult **err, int *status);
/* public_base_url, or http:// and the Host header */
void		gw_public_base(GwRequest *req, char *buf, size_t len);
int			gw_reply_html(GwRequest *req, int status, struct GwBuf *page, const char *extra_headers);
int			gw_page_error(GwRequest *req, bool en, int status, const char *what, const char *hint);
const char *gw_page_css(void);

#endif
