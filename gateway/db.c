/*
 * db.c — a small pool of PGconns shared by the worker threads. There are
 * many more workers than connections (a slow client holds a worker, never
 * a connection): a request takes a connection on its first query and gives
 * it back when it ends; one that waits longer than db_pool_wait_ms gets 503
 * with Retry-After. Connections are made on first use and re-made when the
 * server has gone away, so the gateway answers 503 while the database is
 * down and recovers by itself. /healthz checks the database on a connection
 * of its own, so it answers even when every pool connection is busy.
 * With read_dsn a second, smaller pool reaches hot standbys: the reads of
 * GW_REPLICA routes go there when the standby is fresh enough
 * (gw_read_choose; docs/rest.md#reads-on-hot-standbys-只读副本).
 */
#define _GNU_SOURCE
#include "gateway.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* worker stack wanted: the deepest accepted JSON (~28 KiB measured) and a request */
#define GW_MIN_STACK (64 * 1024)

/*
 * A request waiting for a connection. Waiters queue in arrival order and a
 * connection given back goes straight to the first of them (it never
 * becomes free in between): a request that arrives later cannot take it
 * first. Without the hand-over, the thread that gave a connection back
 * took it again with its connection's next request before the woken waiter
 * ran, and under load some requests waited up to a second (GET /v1/session,
 * 16 clients on 8 connections: p99 280 ms, max 1.05 s; docs/performance.md).
 * The waiter sleeps on a semaphore of its own, not a condition variable
 * of the pool's mutex: woken, a condition wait takes the mutex again,
 * which the thread that woke it still holds, so every hand-over cost the
 * waiter a second sleep and the giver a second wake-up (futex calls per
 * request, GET /v1/session under wrk, went from 7.4 to 4.8;
 * docs/rest.md#throughput-and-latency-吞吐量与延迟).
 */
typedef struct GwWaiter
{
	sem_t		handed;			/* posted once, when got is set */
	GwPoolConn *got;			/* the connection handed over, NULL until then */
	struct GwWaiter *next;
} GwWaiter;

typedef struct GwPool
{
	pthread_mutex_t lock;
	GwWaiter   *head,			/* the first waiter (FIFO) */
			   *tail;
	GwPoolConn *conns;
	int			size;
	int			in_use;
	int			waiting;
	const char *const *dsn;		/* the gw_config setting it connects with */
	int			wait_ms;		/* longest wait for a free connection */
} GwPool;

/* the primary's pool (dsn), and the read pool of hot standbys (read_dsn, h-replica) */
static GwPool pool = {PTHREAD_MUTEX_INITIALIZER, .dsn = (const char *const *) &gw_config.dsn};
static GwPool rpool = {PTHREAD_MUTEX_INITIALIZER, .dsn = (const char *const *) &gw_config.read_dsn};

/* whether the gateway has a read pool (read_dsn set) */
static bool
HasReadPool(void)
{
	return gw_config.read_dsn != NULL && gw_config.read_dsn[0] != '\0';
}

/* /healthz's own connection */
static struct
{
	pthread_mutex_t lock;
	PGconn	   *db;
} health = {PTHREAD_MUTEX_INITIALIZER};

static int
PoolInit(GwPool *p, int size, int wait_ms)
{
	p->size = size;
	p->wait_ms = wait_ms;
	p->conns = calloc((size_t) p->size, sizeof(GwPoolConn));
	if (p->conns == NULL)
		return -1;
	for (int i = 0; i < p->size; i++)
	{
		p->conns[i].pool = p;
		if ((p->conns[i].prepared = calloc(gw_nroutes, 1)) == NULL)
			return -1;
	}
	return 0;
}

static void
PoolFree(GwPool *p)
{
	for (int i = 0; i < p->size && p->conns != NULL; i++)
	{
		if (p->conns[i].db != NULL)
			PQfinish(p->conns[i].db);
		free(p->conns[i].prepared);
	}
	free(p->conns);
	p->conns = NULL;
	p->size = 0;
}

/*
 * The primary's WAL position, sampled on a connection of its own (as
 * /healthz has) at most every read_max_lag_ms / 4: a standby that has
 * replayed it has every commit acknowledged before the sample was taken.
 */
static struct
{
	pthread_mutex_t lock;		/* held while sampling (trylock: one sampler at a time) */
	pthread_mutex_t value;		/* guards lsn and at_ms */
	PGconn	   *db;
	char		lsn[32];		/* "" until a sample was taken */
	double		at_ms;			/* monotonic time the sample's query was sent */
} lsnconn = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER};

int
gw_db_pool_init(void)
{
	if (PoolInit(&pool, gw_config.db_pool_size, gw_config.db_pool_wait_ms) != 0)
		return -1;
	/*
	 * The read pool waits briefly: a request that finds every standby
	 * connection busy is served by the primary rather than kept waiting.
	 */
	if (HasReadPool() &&
		PoolInit(&rpool, gw_config.read_pool_size,
				 gw_config.db_pool_wait_ms < 100 ? gw_config.db_pool_wait_ms : 100) != 0)
		return -1;
	return 0;
}

void
gw_db_pool_free(void)
{
	PoolFree(&pool);
	PoolFree(&rpool);
	if (health.db != NULL)
		PQfinish(health.db);
	health.db = NULL;
	if (lsnconn.db != NULL)
		PQfinish(lsnconn.db);
	lsnconn.db = NULL;
}

void *
gw_thread_init(const struct mg_context *ctx, int thread_type)
{
	/*
	 * civetweb 1.15 sets every thread's stack at build time (Debian: 100
	 * KiB), with no option. The deepest JSON the gateway accepts (64
	 * levels) needs about 28 KiB to parse, serialize and copy; say so at
	 * start (the master thread has the workers' stack size) if a build
	 * leaves much less.
	 */
	if (thread_type == 0)
	{
		pthread_attr_t attr;
		size_t		size = 0;

		if (pthread_getattr_np(pthread_self(), &attr) == 0)
		{
			pthread_attr_getstacksize(&attr, &size);
			pthread_attr_destroy(&attr);
		}
		if (size > 0 && size < GW_MIN_STACK)
			fprintf(stderr, "shilian-gateway: warning: civetweb threads have %zu KiB stacks, under the %d KiB "
					"that the deepest accepted JSON plus a request need\n", size / 1024, GW_MIN_STACK / 1024);
	}
	/* thread_type 1 = worker; only workers talk to the database */
	if (thread_type != 1)
		return NULL;
	return calloc(1, sizeof(GwThread));
}

void
gw_thread_exit(const struct mg_context *ctx, int thread_type, void *user)
{
	GwThread   *t = user;

	if (t != NULL)
		free(t->jwt_good);
	free(user);
}

/* A connection nobody holds, or NULL (pool->lock held). */
static GwPoolConn *
FreeConn(GwPool *pool)
{
	for (int i = 0; i < pool->size; i++)
		if (!pool->conns[i].busy)
			return &pool->conns[i];
	return NULL;
}

/*
 * A free pool connection, waiting up to db_pool_wait_ms behind the requests
 * that came first; NULL when none came.
 */
static GwPoolConn *
Acquire(GwPool *pool)
{
	struct timespec deadline;
	GwWaiter	w = {.got = NULL, .next = NULL};
	GwPoolConn *c = NULL;
	int			rc;

	pthread_mutex_lock(&pool->lock);
	/* a free connection, when nobody waits for one: the common case, no wait */
	if (pool->head == NULL && (c = FreeConn(pool)) != NULL)
	{
		c->busy = true;
		pool->in_use++;
		pthread_mutex_unlock(&pool->lock);
		return c;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += pool->wait_ms / 1000;
	deadline.tv_nsec += (long) (pool->wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
		deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
	sem_init(&w.handed, 0, 0);
	if (pool->tail != NULL)
		pool->tail->next = &w;
	else
		pool->head = &w;
	pool->tail = &w;
	pool->waiting++;
	pthread_mutex_unlock(&pool->lock);

	/* waits are measured on the monotonic clock: a clock step cannot stretch them */
	while ((rc = sem_clockwait(&w.handed, CLOCK_MONOTONIC, &deadline)) != 0 && errno == EINTR)
		;
	if (rc != 0)
	{
		bool		handed;

		pthread_mutex_lock(&pool->lock);
		/* timed out, unless a hand-over came with the timeout: then it is taken */
		if (!(handed = (w.got != NULL)))
		{
			GwWaiter  **pp = &pool->head,
					   *prev = NULL;

			while (*pp != &w)
				prev = *pp, pp = &(*pp)->next;
			*pp = w.next;
			if (pool->tail == &w)
				pool->tail = prev;
			pool->waiting--;
		}
		pthread_mutex_unlock(&pool->lock);
		/*
		 * The giver set got under the lock and posts after letting it go
		 * (Release): its post is on its way, and the semaphore must outlive
		 * it. The wait is short (the giver is between its unlock and its
		 * post) and cannot fail for good.
		 */
		if (handed)
			while (sem_wait(&w.handed) != 0 && errno == EINTR)
				;
	}
	/*
	 * A connection handed over is busy and counted in in_use already; got
	 * was set under the pool's lock, before the post this thread's wait
	 * returned from. glibc lets a semaphore be destroyed as soon as a wait
	 * on it has returned.
	 */
	c = w.got;
	sem_destroy(&w.handed);
	return c;
}

/*
 * Give a connection back: to the first waiter, or free (pool->lock taken
 * here). The waiter is taken off the queue and given the connection under
 * the lock, and woken after it is let go: posted under the lock, the woken
 * waiter (on the giver's core, as the scheduler prefers) preempted the giver
 * while it still held the lock, and every other worker's Acquire or Release
 * in that time slept on the lock and had to be woken too (perf record of
 * sys_enter_futex, GET /v1/session, 16 clients on 4 connections: a third
 * of the gateway's futex calls were on pool.lock).
 */
static void
Release(GwPoolConn *c)
{
	GwPool	   *pool = c->pool;
	GwWaiter   *w;

	pthread_mutex_lock(&pool->lock);
	if ((w = pool->head) != NULL)
	{
		pool->head = w->next;
		if (pool->head == NULL)
			pool->tail = NULL;
		pool->waiting--;
		w->got = c;
	}
	else
	{
		c->busy = false;
		pool->in_use--;
	}
	pthread_mutex_unlock(&pool->lock);
	/*
	 * w stays valid until this post: a waiter that timed out meanwhile sees
	 * got set and waits for it (Acquire).
	 */
	if (w != NULL)
		sem_post(&w->handed);
}

/*
 * The request's connection, ready for a query, or NULL if none can be had
 * (the pool stayed busy: pool_timed_out is set; or the database is down).
 */
PGconn *
gw_db(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);
	GwPoolConn *c;

	if (t == NULL)
		return NULL;
	t->pool_timed_out = false;
	t->db_error[0] = '\0';
	if (t->held == NULL && (t->held = Acquire(t->want_read ? &rpool : &pool)) == NULL)
	{
		t->pool_timed_out = true;
		return NULL;
	}
	c = t->held;
	if (c->db != NULL && PQstatus(c->db) == CONNECTION_OK &&
		PQtransactionStatus(c->db) == PQTRANS_IDLE)
		return c->db;
	if (c->db != NULL)
	{
		PQfinish(c->db);
		c->db = NULL;
	}
	/* statements prepared on the old connection are gone with it */
	memset(c->prepared, 0, gw_nroutes);
	c->fixed_prepared = 0;
	c->db = PQconnectdb(*c->pool->dsn);
	if (PQstatus(c->db) != CONNECTION_OK)
	{
		fprintf(stderr, "shilian-gateway: database connection failed: %s", PQerrorMessage(c->db));
		/* the reply's details: libpq's reason, e.g. every host answered read-only */
		snprintf(t->db_error, sizeof(t->db_error), "%s", PQerrorMessage(c->db));
		t->db_error[strcspn(t->db_error, "\n")] = '\0';
		PQfinish(c->db);
		c->db = NULL;
		return NULL;
	}
	return c->db;
}

/*
 * Give the request's connection back (the dispatcher, once per request). A
 * connection left inside a transaction or a COPY is rolled back, or closed
 * when that fails, so the next request starts clean.
 */
void
gw_db_release(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);
	GwPoolConn *c = t ? t->held : NULL;

	if (c == NULL)
		return;
	t->held = NULL;
	if (c->db != NULL && PQstatus(c->db) == CONNECTION_OK &&
		PQtransactionStatus(c->db) == PQTRANS_INTRANS)
		PQclear(PQexec(c->db, "ROLLBACK"));
	/*
	 * A connection to a server that refused a write as read-only (a standby,
	 * or a demoted primary) is closed: the next request's connection follows
	 * the connection string (target_session_attrs=read-write) to the primary.
	 */
	if (c->db != NULL && (c->discard || PQstatus(c->db) != CONNECTION_OK ||
						  PQtransactionStatus(c->db) != PQTRANS_IDLE))
	{
		PQfinish(c->db);
		c->db = NULL;
		memset(c->prepared, 0, gw_nroutes);
		c->fixed_prepared = 0;
	}
	c->discard = false;
	Release(c);
}

/* The prepared-statement flags of the request's connection (NULL if it holds none). */
static unsigned char *
Prepared(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);

	return (t != NULL && t->held != NULL) ? t->held->prepared : NULL;
}

/* Pool connections held by requests, and requests waiting for one (/metrics). */
void
gw_db_pool_stats(int *in_use, int *waiting)
{
	pthread_mutex_lock(&pool.lock);
	*in_use = pool.in_use;
	*waiting = pool.waiting;
	pthread_mutex_unlock(&pool.lock);
}

/* ---- reads on hot standbys (h-replica; docs/operations.md#reads-on-replicas) ---- */

/* where a GW_REPLICA request was served, and why not by a standby: /metrics labels */
enum
{
	READ_STANDBY, READ_LAG, READ_MIN_LSN, READ_UNAVAILABLE, READ_NO_STANDBY, READ_BUSY, READ_NREASONS
};
static const char *const read_reasons[READ_NREASONS] = {
	"standby", "lag", "min-lsn", "standby-unavailable", "no-standby", "standby-busy"
};
static unsigned long read_counts[READ_NREASONS];

void
gw_read_stats(unsigned long *counts, const char *const **reasons, int *n)
{
	for (int i = 0; i < READ_NREASONS; i++)
		counts[i] = __atomic_load_n(&read_counts[i], __ATOMIC_RELAXED);
	*reasons = read_reasons;
	*n = HasReadPool() ? READ_NREASONS : 0;
}

static double
MonoMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void
gw_reply_headers_reset(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);

	if (t != NULL)
		t->reply_headers[0] = '\0';
}

/* Add one header line to every reply of the request. */
static void
ReplyHeader(struct mg_connection *conn, const char *name, const char *value)
{
	GwThread   *t = mg_get_thread_pointer(conn);
	size_t		n;

	if (t == NULL)
		return;
	n = strlen(t->reply_headers);
	snprintf(t->reply_headers + n, sizeof(t->reply_headers) - n, "%s: %s\r\n", name, value);
}

const char *
gw_reply_headers(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);

	return t != NULL ? t->reply_headers : "";
}

/*
 * The primary's flushed WAL position and its age in ms, into lsn (""
 * when none was ever had). Refreshed when older than read_max_lag_ms / 4;
 * while another thread refreshes, the last sample is used (older, so the
 * bound it gives is only looser). Every commit acknowledged to a client
 * (synchronous_commit local or higher) was flushed before it returned.
 */
static double
PrimaryLsn(char *lsn, size_t len)
{
	double		now = MonoMs(), age;

	pthread_mutex_lock(&lsnconn.value);
	age = lsnconn.lsn[0] ? now - lsnconn.at_ms : -1;
	pthread_mutex_unlock(&lsnconn.value);
	if ((age < 0 || age > gw_config.read_max_lag_ms / 4.0) && pthread_mutex_trylock(&lsnconn.lock) == 0)
	{
		for (int attempt = 0; attempt < 2; attempt++)
		{
			PGresult   *res;
			double		sent;

			if (lsnconn.db == NULL || PQstatus(lsnconn.db) != CONNECTION_OK)
			{
				if (lsnconn.db != NULL)
					PQfinish(lsnconn.db);
				lsnconn.db = PQconnectdb(gw_config.dsn);
				if (PQstatus(lsnconn.db) != CONNECTION_OK)
					break;
			}
			sent = MonoMs();
			/* on a standby (a demoted primary) this fails: no sample */
			res = PQexec(lsnconn.db, "select pg_current_wal_flush_lsn()::text");
			if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			{
				pthread_mutex_lock(&lsnconn.value);
				snprintf(lsnconn.lsn, sizeof(lsnconn.lsn), "%s", PQgetvalue(res, 0, 0));
				lsnconn.at_ms = sent;
				pthread_mutex_unlock(&lsnconn.value);
			}
			PQclear(res);
			if (PQstatus(lsnconn.db) == CONNECTION_OK)
				break;
			/* broken while idle (server restart): made again once */
		}
		pthread_mutex_unlock(&lsnconn.lock);
	}
	pthread_mutex_lock(&lsnconn.value);
	snprintf(lsn, len, "%s", lsnconn.lsn);
	age = lsnconn.lsn[0] ? MonoMs() - lsnconn.at_ms : -1;
	pthread_mutex_unlock(&lsnconn.value);
	return age;
}

/* A WAL position as PostgreSQL prints pg_lsn: two hex numbers of 1-8 digits with a slash. */
static bool
ValidLsn(const char *s)
{
	size_t		a = strspn(s, "0123456789ABCDEFabcdef"), b;

	if (a < 1 || a > 8 || s[a] != '/')
		return false;
	b = strspn(s + a + 1, "0123456789ABCDEFabcdef");
	return b >= 1 && b <= 8 && s[a + 1 + b] == '\0';
}

/*
 * The standby's state in one statement: whether it is one, whether it has
 * replayed the primary's sampled position ($1) and the client's
 * Shilian-Min-LSN ($2; null = none asked), and the age of the last commit
 * it replayed (ms, by its clock; null when it replayed none since start).
 */
#define STANDBY_SQL \
	"select pg_is_in_recovery(), pg_last_wal_replay_lsn() >= $1::pg_lsn, " \
	"(extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::bigint, " \
	"coalesce(pg_last_wal_replay_lsn() >= $2::pg_lsn, true)"

int
gw_read_choose(GwRequest *req)
{
	GwThread   *t = mg_get_thread_pointer(req->conn);
	const char *min_lsn = mg_get_header(req->conn, "Shilian-Min-LSN");
	char		sample[32], value[96];
	const char *params[2];
	double		age;
	long long	lag = -1;
	int			reason;
	PGconn	   *db = NULL;
	PGresult   *res;

	if (!HasReadPool() || t == NULL || req->route == NULL || !(req->route->flags & GW_REPLICA))
		return 0;
	if (min_lsn != NULL && !ValidLsn(min_lsn))
		return gw_reply_error(req->conn, 400, "SLG03", "malformed Shilian-Min-LSN", min_lsn,
							  "Send back a write's Shilian-Commit-LSN as it came, e.g. 0/16B3748.", NULL);
	age = PrimaryLsn(sample, sizeof(sample));
	params[0] = sample[0] ? sample : NULL;
	params[1] = min_lsn;
	t->want_read = true;
	res = gw_exec_first(req->conn, &db, STANDBY_SQL, 2, params);
	t->want_read = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		reason = t->pool_timed_out ? READ_BUSY : READ_UNAVAILABLE;
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		reason = READ_NO_STANDBY;	/* prefer-standby found only a primary */
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		reason = READ_MIN_LSN;
	else
	{
		/*
		 * Two upper bounds of the staleness. Caught up with the sample: it
		 * misses at most what was committed since the sample was taken. The
		 * age of the last commit replayed: what it misses was committed
		 * after that one (an idle primary makes this one grow, not the
		 * first).
		 */
		bool		caught_up = !PQgetisnull(res, 0, 1) && strcmp(PQgetvalue(res, 0, 1), "t") == 0;

		if (!PQgetisnull(res, 0, 2))
		{
			lag = atoll(PQgetvalue(res, 0, 2));
			if (lag < 0)
				lag = 0;		/* clocks a little apart */
		}
		if (caught_up && (lag < 0 || (long long) age < lag))
			lag = (long long) age;
		reason = (lag < 0 || lag > gw_config.read_max_lag_ms) ? READ_LAG : READ_STANDBY;
	}
	PQclear(res);
	__atomic_fetch_add(&read_counts[reason], 1, __ATOMIC_RELAXED);
	if (reason == READ_STANDBY)
	{
		snprintf(value, sizeof(value), "standby; lag-ms=%lld", lag);
		ReplyHeader(req->conn, "Shilian-Read-Source", value);
		return 0;
	}
	/* the primary serves it: the read connection goes back (closed if it failed or is no standby) */
	if (t->held != NULL)
	{
		if (reason == READ_UNAVAILABLE || reason == READ_NO_STANDBY)
			t->held->discard = true;
		gw_db_release(req->conn);
	}
	snprintf(value, sizeof(value), "primary; reason=%s", read_reasons[reason]);
	ReplyHeader(req->conn, "Shilian-Read-Source", value);
	return 0;
}

/*
 * The request holds a read-pool connection that broke: give it back (closed)
 * and leave the request to the primary. Whether it did.
 */
static bool
ReadFallback(struct mg_connection *conn)
{
	GwThread   *t = mg_get_thread_pointer(conn);

	if (t == NULL || t->held == NULL || t->held->pool != &rpool)
		return false;
	t->held->discard = true;
	gw_db_release(conn);
	__atomic_fetch_sub(&read_counts[READ_STANDBY], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&read_counts[READ_UNAVAILABLE], 1, __ATOMIC_RELAXED);
	t->reply_headers[0] = '\0';	/* before the reply: only the read source is there */
	ReplyHeader(conn, "Shilian-Read-Source", "primary; reason=standby-unavailable");
	return true;
}

/* After a committed write: its WAL position, for the client's Shilian-Min-LSN. */
static void
CommitLsnHeader(struct mg_connection *conn, const char *lsn)
{
	ReplyHeader(conn, "Shilian-Commit-LSN", lsn);
}

/*
 * The database's state for /healthz, from a connection used by nothing
 * else: a busy pool never makes the health check wait. While one check is
 * under way (a slow or unreachable server), others answer its last result.
 */
bool
gw_db_health(void)
{
	static bool up;
	PGconn	   *db;
	bool		result = false;

	if (pthread_mutex_trylock(&health.lock) != 0)
		return __atomic_load_n(&up, __ATOMIC_ACQUIRE);
	db = health.db;
	for (int attempt = 0; attempt < 2; attempt++)
	{
		PGresult   *res;

		if (db == NULL || PQstatus(db) != CONNECTION_OK)
		{
			if (db != NULL)
				PQfinish(db);
			db = PQconnectdb(gw_config.dsn);
		}
		res = PQstatus(db) == CONNECTION_OK ? PQexec(db, "select 1") : NULL;
		result = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;
		PQclear(res);
		if (result || PQstatus(db) == CONNECTION_OK)
			break;
		/* broken while idle (server restart): made again once */
	}
	health.db = db;
	__atomic_store_n(&up, result, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&health.lock);
	return result;
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
	bool		readonly = (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
		!(req->route != NULL && (req->route->flags & GW_READ_WRITE));
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
	PGresult   *res = gw_set_principal(db, &req->auth, gw_config.request_timeout_ms);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return Fail(req, db, res);
	PQclear(res);
	return 0;
}

/*
 * The statement that makes a transaction the caller's ($1 role, $2 acting
 * operator, $3 jurisdiction, $4 client, $5 statement timeout, $6 the
 * client's network address, for the registration throttle, $7 the login,
 * sub:<subject> of a bearer token, for registration), evaluated
 * left to right: the acting operator is set last of the request settings by
 * set_acting_operator, which refuses (SLA02) a system client an operator not
 * bound to it, so the database checks what auth.c chose.
 */
#define PRINCIPAL_SQL \
	"select set_config('role', $1, true), " \
	"set_config('shilian.jurisdiction', $3, true), " \
	"set_config('shilian.client', $4, true), " \
	"set_config('shilian.client_addr', $6, true), " \
	"set_config('shilian.identity', $7, true), " \
	"shilian.set_acting_operator($2), " \
	"set_config('statement_timeout', $5, true), " \
	"set_config('search_path', 'pg_catalog, shilian', true)"

const char	gw_principal_sql[] = PRINCIPAL_SQL;

/*
 * The one statement that makes a transaction the caller's: role, request
 * settings, statement timeout and search_path, all transaction-local. Used
 * for every request (gw_tx_set_role) and for import jobs on the upload
 * connections, for a request or for the caller a job was made by.
 */
#define PRINCIPAL_NPARAMS 7

/* PRINCIPAL_SQL's parameters for who, timeout its statement timeout (ms, as text). */
static void
PrincipalParams(const GwAuth *who, const char *timeout, const char *p[PRINCIPAL_NPARAMS])
{
	p[0] = who->role;
	p[1] = who->operator_id;
	p[2] = who->jurisdiction;
	p[3] = who->client;
	p[4] = timeout;
	p[5] = who->client_addr;
	p[6] = who->identity;
}

PGresult *
gw_set_principal(PGconn *db, const GwAuth *who, int timeout_ms)
{
	char		timeout[24];
	const char *p[PRINCIPAL_NPARAMS];

	snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
	PrincipalParams(who, timeout, p);
	return PQexecParams(db, PRINCIPAL_SQL, PRINCIPAL_NPARAMS, NULL, p, NULL, NULL, 0);
}

/* Run a statement; route_index >= 0 prepares it once per connection. */
PGresult *
gw_tx_exec(GwRequest *req, PGconn *db, int route_index, const char *sql, int nparams,
		   const char *const *params, int *status)
{
	unsigned char *prepared = Prepared(req->conn);
	PGresult   *res;

	if (route_index >= 0 && prepared != NULL)
	{
		char		name[16];

		snprintf(name, sizeof(name), "gw%d", route_index);
		if (!prepared[route_index])
		{
			res = PQprepare(db, name, sql, nparams, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				*status = Fail(req, db, res);
				return NULL;
			}
			PQclear(res);
			prepared[route_index] = 1;
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
	const char *method = req->ri->request_method;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return Fail(req, db, res);
	PQclear(res);
	if (HasReadPool() && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
	{
		res = PQexec(db, "select pg_current_wal_insert_lsn()::text");
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			CommitLsnHeader(req->conn, PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	return 0;
}

/*
 * The fixed statements of every unit of work, prepared once per connection
 * (as pgbench -M prepared does) when first sent: the server parses and plans
 * them once instead of once per request. Their names start with "gw_", the
 * routes' with "gw" and a number.
 */
enum
{
	FIX_BEGIN_RO, FIX_BEGIN, FIX_PRINCIPAL, FIX_COMMIT, FIX_LSN, NFIXED
};
static const struct
{
	const char *name;
	const char *sql;
	int			nparams;
}			fixed[NFIXED] = {
	[FIX_BEGIN_RO] = {"gw_begin_ro", "BEGIN READ ONLY", 0},
	[FIX_BEGIN] = {"gw_begin", "BEGIN", 0},
	[FIX_PRINCIPAL] = {"gw_principal", PRINCIPAL_SQL, PRINCIPAL_NPARAMS},
	[FIX_COMMIT] = {"gw_commit", "COMMIT", 0},
	[FIX_LSN] = {"gw_lsn", "select pg_current_wal_insert_lsn()::text", 0},
};

/* what each command of a pipeline is, to read its result */
typedef enum
{
	CMD_PREPARE_FIXED, CMD_PREPARE_ROUTE, CMD_BEGIN, CMD_PRINCIPAL, CMD_STMT, CMD_COMMIT, CMD_LSN
} CmdKind;

typedef struct
{
	CmdKind		kind;
	int			fix;			/* CMD_PREPARE_FIXED: which */
} Cmd;

#define MAX_CMDS 12

/*
 * Queue fixed statement f with its parameters (prepared first when this
 * connection has not prepared it: a Parse the server skips after an
 * earlier error is sent again by the next request).
 */
static void
SendFixed(PGconn *db, GwPoolConn *c, int f, const char *const *params, CmdKind kind, Cmd *cmds, int *n)
{
	if (c == NULL)
	{
		PQsendQueryParams(db, fixed[f].sql, fixed[f].nparams, NULL, params, NULL, NULL, 0);
		cmds[(*n)++] = (Cmd) {kind, f};
		return;
	}
	if (!(c->fixed_prepared & (1u << f)))
	{
		PQsendPrepare(db, fixed[f].name, fixed[f].sql, fixed[f].nparams, NULL);
		cmds[(*n)++] = (Cmd) {CMD_PREPARE_FIXED, f};
	}
	PQsendQueryPrepared(db, fixed[f].name, fixed[f].nparams, params, NULL, NULL, 0);
	cmds[(*n)++] = (Cmd) {kind, f};
}

/*
 * One unit of work in one round trip (libpq pipeline mode): BEGIN, the role
 * and settings, the statement (prepared on first use when route_index >= 0),
 * COMMIT, Sync; every statement but an ad hoc one (route_index < 0) is
 * prepared once per connection. After an error the server skips the rest up
 * to the Sync, and the failed transaction is rolled back. A connection found
 * broken before BEGIN succeeded (server restart while idle) is re-made and
 * the whole pipeline sent once more: nothing of it can have run.
 */
PGresult *
gw_call_route(GwRequest *req, int route_index, const char *sql, int nparams,
			  const char *const *params, int *status)
{
	const char *method = req->ri->request_method;
	bool		readonly = (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) &&
		!(req->route != NULL && (req->route->flags & GW_READ_WRITE));
	char		timeout[24], digits[24], name[32], lsn[32] = "";
	const char *ctx[PRINCIPAL_NPARAMS];
	bool		want_lsn = !readonly && HasReadPool();
	GwThread   *t = mg_get_thread_pointer(req->conn);

	/* the timeout as text and the statement's name "gw<route>", without a formatted print */
	if (gw_config.request_timeout_ms >= 0)
		PrincipalParams(&req->auth, gw_decimal((unsigned long long) gw_config.request_timeout_ms, timeout), ctx);
	else
	{
		snprintf(timeout, sizeof(timeout), "%d", gw_config.request_timeout_ms);
		PrincipalParams(&req->auth, timeout, ctx);
	}
	name[0] = '\0';
	if (route_index >= 0)
	{
		memcpy(name, "gw", 2);
		strcpy(name + 2, gw_decimal((unsigned long long) route_index, digits));
	}

	for (int attempt = 0; attempt < 2; attempt++)
	{
		PGconn	   *db = gw_db(req->conn);
		GwPoolConn *c = (t != NULL && t->held != NULL) ? t->held : NULL;
		bool		begun = false;
		Cmd			cmds[MAX_CMDS];
		int			ncmds = 0;
		PGresult   *first_err = NULL, *stmt_res = NULL, *r;

		if (db == NULL)
			break;
		if (!PQenterPipelineMode(db))
			break;
		SendFixed(db, c, readonly ? FIX_BEGIN_RO : FIX_BEGIN, NULL, CMD_BEGIN, cmds, &ncmds);
		SendFixed(db, c, FIX_PRINCIPAL, ctx, CMD_PRINCIPAL, cmds, &ncmds);
		if (route_index >= 0 && c != NULL)
		{
			if (!c->prepared[route_index])
			{
				PQsendPrepare(db, name, sql, nparams, NULL);
				cmds[ncmds++] = (Cmd) {CMD_PREPARE_ROUTE, 0};
			}
			PQsendQueryPrepared(db, name, nparams, params, NULL, NULL, 0);
		}
		else
			PQsendQueryParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
		cmds[ncmds++] = (Cmd) {CMD_STMT, 0};
		SendFixed(db, c, FIX_COMMIT, NULL, CMD_COMMIT, cmds, &ncmds);
		/*
		 * With a read pool, a write's WAL position after its commit: the
		 * client sends it back as Shilian-Min-LSN to read its own write.
		 */
		if (want_lsn)
			SendFixed(db, c, FIX_LSN, NULL, CMD_LSN, cmds, &ncmds);
		PQpipelineSync(db);

		for (int i = 0; i < ncmds; i++)
		{
			ExecStatusType st;

			r = PQgetResult(db);
			if (r == NULL)
				break;			/* connection lost */
			st = PQresultStatus(r);
			switch (cmds[i].kind)
			{
				case CMD_PREPARE_FIXED:
					if (st == PGRES_COMMAND_OK)
						c->fixed_prepared |= 1u << cmds[i].fix;
					break;
				case CMD_PREPARE_ROUTE:
					if (st == PGRES_COMMAND_OK)
						c->prepared[route_index] = 1;
					break;
				case CMD_BEGIN:
					begun = st == PGRES_COMMAND_OK;
					break;
				case CMD_LSN:
					if (st == PGRES_TUPLES_OK && first_err == NULL && PQntuples(r) == 1)
						snprintf(lsn, sizeof(lsn), "%s", PQgetvalue(r, 0, 0));
					break;
				default:
					break;
			}
			if (st == PGRES_FATAL_ERROR && first_err == NULL)
				first_err = r;
			else if (cmds[i].kind == CMD_STMT && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
				stmt_res = r;
			else
				PQclear(r);
			/* each command's results end with a NULL */
			while ((r = PQgetResult(db)) != NULL && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
				PQclear(r);
			if (r != NULL)
			{
				PQclear(r);		/* the Sync came early: nothing more to read */
				goto synced;
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
synced:
		PQexitPipelineMode(db);

		/*
		 * A standby lost between gw_read_choose's check and the read: the
		 * read (GW_REPLICA routes write nothing) runs again on the primary.
		 */
		if (PQstatus(db) != CONNECTION_OK && ReadFallback(req->conn))
		{
			PQclear(first_err);
			PQclear(stmt_res);
			attempt = -1;		/* the primary's attempts; this happens at most once */
			continue;
		}
		if (PQstatus(db) != CONNECTION_OK && !begun && attempt == 0)
		{
			PQclear(first_err);
			PQclear(stmt_res);
			continue;			/* broken before anything ran: reconnect and resend */
		}
		if (first_err != NULL || stmt_res == NULL)
		{
			const char *state = first_err ? PQresultErrorField(first_err, PG_DIAG_SQLSTATE) : NULL;

			/*
			 * A statement this connection counts as prepared is not there
			 * (26000: someone deallocated it): the connection is closed when
			 * given back, and the next one prepares everything again.
			 */
			if (c != NULL && state != NULL && strcmp(state, "26000") == 0)
				c->discard = true;
			*status = gw_reply_pg_error(req->conn, first_err, db);
			PQclear(first_err);
			PQclear(stmt_res);
			gw_tx_rollback(db);
			return NULL;
		}
		if (lsn[0])
			CommitLsnHeader(req->conn, lsn);
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
