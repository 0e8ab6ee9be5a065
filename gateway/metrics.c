/*
 * metrics.c — Prometheus text metrics: requests by route and status, a
 * latency histogram per route, requests in flight (database connections in
 * use) and server errors. Counters are C11 atomics: no lock on the hot path.
 */
#include "gateway.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int tracked_status[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503, 504};
#define NSTATUS (sizeof(tracked_status) / sizeof(tracked_status[0]) + 1)	/* + other */
static const double buckets_ms[] = {1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000};
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))

typedef struct RouteStats
{
	atomic_ulong by_status[NSTATUS];
	atomic_ulong bucket[NBUCKETS];
	atomic_ulong count;
	atomic_ullong sum_us;
} RouteStats;

/* The webhook figures' own connection (as /healthz has), so /metrics never waits for the pool. */
static struct
{
	pthread_mutex_t lock;
	PGconn	   *db;
} webhook = {PTHREAD_MUTEX_INITIALIZER, NULL};

static RouteStats *stats;		/* nroutes + 1 (unmatched) */
static size_t nstats;
static atomic_long in_flight;
static atomic_ulong errors_total;

void
gw_metrics_init(size_t nroutes)
{
	nstats = nroutes + 1;
	stats = calloc(nstats, sizeof(RouteStats));
}

void
gw_metrics_free(void)
{
	free(stats);
	stats = NULL;
	PQfinish(webhook.db);
	webhook.db = NULL;
}

void
gw_metrics_begin(void)
{
	atomic_fetch_add(&in_flight, 1);
}

void
gw_metrics_end(int route_index, int status, double ms)
{
	RouteStats *s = &stats[route_index < 0 ? (int) nstats - 1 : route_index];
	size_t		si = NSTATUS - 1;

	atomic_fetch_sub(&in_flight, 1);
	for (size_t i = 0; i < NSTATUS - 1; i++)
		if (tracked_status[i] == status)
			si = i;
	atomic_fetch_add(&s->by_status[si], 1);
	for (size_t b = 0; b < NBUCKETS; b++)
		if (ms <= buckets_ms[b])
			atomic_fetch_add(&s->bucket[b], 1);
	atomic_fetch_add(&s->count, 1);
	atomic_fetch_add(&s->sum_us, (unsigned long long) (ms * 1000.0));
	if (status >= 500)
		atomic_fetch_add(&errors_total, 1);
}

/* Appends to a growing buffer. */
typedef struct Buf
{
	char	   *data;
	size_t		len, cap;
} Buf;

static void
Put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
Put(Buf *b, const char *fmt, ...)
{
	va_list		ap;
	int			n;

	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t) n < b->cap - b->len)
		{
			b->len += (size_t) n;
			return;
		}
		b->cap = b->cap * 2 + (size_t) n;
		b->data = realloc(b->data, b->cap);
	}
}

/*
 * The webhook outbox's figures (h-webhooks), from the database: the worker
 * is a separate process (shilian-deliver), so what it did is read from the
 * outbox it settles. Left out when the database does not answer.
 */
static void
WebhookMetrics(Buf *b)
{
	PGresult   *res = NULL;

	/* a scrape while another is reading the outbox leaves the figures out */
	if (pthread_mutex_trylock(&webhook.lock) != 0)
		return;
	for (int attempt = 0; attempt < 2 && res == NULL; attempt++)
	{
		if (webhook.db == NULL || PQstatus(webhook.db) != CONNECTION_OK)
		{
			PQfinish(webhook.db);
			webhook.db = PQconnectdb(gw_config.dsn);
		}
		if (PQstatus(webhook.db) != CONNECTION_OK)
			break;
		res = PQexec(webhook.db, "select delivered, retried, dead, pending, lag_seconds "
					 "from shilian.webhook_metrics()");
		if (PQresultStatus(res) != PGRES_TUPLES_OK && PQstatus(webhook.db) != CONNECTION_OK)
		{
			/* broken while idle (server restart): made again once */
			PQclear(res);
			res = NULL;
		}
	}
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		Put(b, "# HELP shilian_webhook_delivered_total Webhook events delivered (2xx).\n"
			"# TYPE shilian_webhook_delivered_total counter\nshilian_webhook_delivered_total %s\n",
			PQgetvalue(res, 0, 0));
		Put(b, "# HELP shilian_webhook_retried_total Webhook attempts that failed (each is retried or the delivery dies).\n"
			"# TYPE shilian_webhook_retried_total counter\nshilian_webhook_retried_total %s\n",
			PQgetvalue(res, 0, 1));
		Put(b, "# HELP shilian_webhook_dead Webhook deliveries dead (retries exhausted; redeliver by hand).\n"
			"# TYPE shilian_webhook_dead gauge\nshilian_webhook_dead %s\n", PQgetvalue(res, 0, 2));
		Put(b, "# HELP shilian_webhook_pending Webhook deliveries waiting.\n"
			"# TYPE shilian_webhook_pending gauge\nshilian_webhook_pending %s\n", PQgetvalue(res, 0, 3));
		Put(b, "# HELP shilian_webhook_lag_seconds Age of the oldest pending webhook event.\n"
			"# TYPE shilian_webhook_lag_seconds gauge\nshilian_webhook_lag_seconds %s\n", PQgetvalue(res, 0, 4));
	}
	PQclear(res);
	pthread_mutex_unlock(&webhook.lock);
}

int
gw_metrics_reply(struct mg_connection *conn)
{
	Buf			b = {malloc(8192), 0, 8192};
	int			status;

	Put(&b, "# HELP shilian_http_requests_total Requests by route and status.\n"
		"# TYPE shilian_http_requests_total counter\n");
	for (size_t r = 0; r < nstats; r++)
	{
		const char *route = r < gw_nroutes ? gw_routes[r].pattern : "unmatched";
		const char *method = r < gw_nroutes ? gw_routes[r].method : "";

		for (size_t i = 0; i < NSTATUS; i++)
		{
			unsigned long n = atomic_load(&stats[r].by_status[i]);

			if (n == 0)
				continue;
			if (i < NSTATUS - 1)
				Put(&b, "shilian_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %lu\n",
					method, route, tracked_status[i], n);
			else
				Put(&b, "shilian_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %lu\n",
					method, route, n);
		}
	}
	Put(&b, "# HELP shilian_http_request_duration_seconds Request latency.\n"
		"# TYPE shilian_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r < nstats; r++)
	{
		const char *route = r < gw_nroutes ? gw_routes[r].pattern : "unmatched";
		const char *method = r < gw_nroutes ? gw_routes[r].method : "";
		unsigned long count = atomic_load(&stats[r].count);

		if (count == 0)
			continue;
		for (size_t k = 0; k < NBUCKETS; k++)
			Put(&b, "shilian_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %lu\n",
				method, route, buckets_ms[k] / 1000.0, atomic_load(&stats[r].bucket[k]));
		Put(&b, "shilian_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %lu\n",
			method, route, count);
		Put(&b, "shilian_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
			method, route, atomic_load(&stats[r].sum_us) / 1e6);
		Put(&b, "shilian_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %lu\n",
			method, route, count);
	}
	{
		int			in_use, waiting;

		gw_db_pool_stats(&in_use, &waiting);
		Put(&b, "# HELP shilian_db_connections_in_use Pool connections held by requests.\n"
			"# TYPE shilian_db_connections_in_use gauge\nshilian_db_connections_in_use %d\n", in_use);
		Put(&b, "# HELP shilian_db_connections_max Pool size (db_pool_size).\n"
			"# TYPE shilian_db_connections_max gauge\nshilian_db_connections_max %d\n", gw_config.db_pool_size);
		Put(&b, "# HELP shilian_db_pool_waiting Requests waiting for a pool connection.\n"
			"# TYPE shilian_db_pool_waiting gauge\nshilian_db_pool_waiting %d\n", waiting);
		/* this request itself is in flight */
		Put(&b, "# HELP shilian_http_requests_in_flight Requests being handled.\n"
			"# TYPE shilian_http_requests_in_flight gauge\nshilian_http_requests_in_flight %ld\n",
			atomic_load(&in_flight));
		Put(&b, "# HELP shilian_http_client_connections Connections counted against their client address "
			"(client_connections each), from the first request to the close.\n"
			"# TYPE shilian_http_client_connections gauge\nshilian_http_client_connections %d\n",
			gw_edge_client_connections());
		Put(&b, "# HELP shilian_http_threads Worker threads (connections served at once).\n"
			"# TYPE shilian_http_threads gauge\nshilian_http_threads %d\n", gw_config.threads);
	}
	{
		/* h-replica: GW_REPLICA requests by where they were served (only with a read pool) */
		unsigned long counts[16];
		const char *const *reasons;
		int			n;

		gw_read_stats(counts, &reasons, &n);
		if (n > 0)
			Put(&b, "# HELP shilian_read_requests_total Reads a hot standby may serve, by where they were served "
				"(reason: why the primary served it).\n# TYPE shilian_read_requests_total counter\n");
		for (int i = 0; i < n; i++)
		{
			if (i == 0)
				Put(&b, "shilian_read_requests_total{source=\"standby\"} %lu\n", counts[i]);
			else
				Put(&b, "shilian_read_requests_total{source=\"primary\",reason=\"%s\"} %lu\n", reasons[i], counts[i]);
		}
	}
	WebhookMetrics(&b);
	Put(&b, "# HELP shilian_http_server_errors_total Replies with status 500 or more.\n"
		"# TYPE shilian_http_server_errors_total counter\nshilian_http_server_errors_total %lu\n",
		atomic_load(&errors_total));
	status = gw_reply_text(conn, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len, NULL);
	free(b.data);
	return status;
}
