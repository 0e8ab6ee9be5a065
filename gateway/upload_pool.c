/*
 * upload_pool.c — the database connections of streamed uploads (POST
 * /v1/import): a pool of its own, upload_pool_size connections apart from
 * the workers', taken without waiting (a full pool is a 503 at once, never a
 * worker blocked), and the clock that holds each upload's body to
 * upload_time_limit_ms and to upload_min_rate bytes/s after
 * upload_rate_grace_ms. civetweb's mg_read blocks until it has the length
 * asked for, however slowly the bytes trickle in, and civetweb gives no
 * handle on the socket; so a watcher thread finds the client's socket of an
 * upload stuck in mg_read past its deadline (by its addresses, among the
 * process's descriptors) and shuts its reading side: mg_read returns at
 * once, the upload ends with 408, and nothing more is read from that client.
 */
#include "gateway.h"

#include <dirent.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WATCH_TICK_MS 100

struct GwUpload
{
	PGconn	   *db;
	bool		in_use;
	/* the body clock (under pool_lock) */
	bool		clock_on;
	bool		in_read;		/* the worker is in mg_read */
	bool		expired;		/* over the time limit or under the minimum rate */
	bool		shut;			/* the client's socket is shut for reading */
	char		peer[48];		/* the client's address and port, and the server's port */
	int			peer_port;
	int			server_port;
	double		start_ms;
	long long	bytes;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cond = PTHREAD_COND_INITIALIZER;
static GwUpload *slots;
static int	nslots;
static bool watching;
static pthread_t watcher;

static double
NowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * One read asks for about a second's worth of bytes at the minimum rate, so
 * that a worker in mg_read has at most one read's bytes not yet counted.
 */
static size_t
Piece(void)
{
	long		p = gw_config.upload_min_rate;

	return (size_t) (p < 1024 ? 1024 : p > 65536 ? 65536 : p);
}

/*
 * Whether an upload is past its time limit, or below the minimum rate: the
 * bytes it has (plus one read's worth it may be receiving) must have taken
 * at most grace + bytes / min_rate.
 */
static bool
Over(const GwUpload *u, double now)
{
	double		elapsed = now - u->start_ms;
	double		allowed = gw_config.upload_rate_grace_ms +
		(double) (u->bytes + (long long) Piece()) * 1000.0 / (double) gw_config.upload_min_rate;

	return elapsed > (double) gw_config.upload_time_limit_ms || elapsed > allowed;
}

/* The descriptor of the client's connection of an upload: its peer and local ports and address. */
static int
ClientSocket(const GwUpload *u)
{
	DIR		   *d = opendir("/proc/self/fd");
	struct dirent *e;
	int			found = -1;

	while (d != NULL && found < 0 && (e = readdir(d)) != NULL)
	{
		struct sockaddr_storage peer, self;
		socklen_t	plen = sizeof(peer), slen = sizeof(self);
		char		host[64], port[16], lport[16];
		int			fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (getpeername(fd, (struct sockaddr *) &peer, &plen) != 0 ||
			getsockname(fd, (struct sockaddr *) &self, &slen) != 0 ||
			getnameinfo((struct sockaddr *) &peer, plen, host, sizeof(host), port, sizeof(port),
						NI_NUMERICHOST | NI_NUMERICSERV) != 0 ||
			getnameinfo((struct sockaddr *) &self, slen, NULL, 0, lport, sizeof(lport), NI_NUMERICSERV) != 0)
			continue;
		if (strcmp(host, u->peer) == 0 && atoi(port) == u->peer_port && atoi(lport) == u->server_port)
			found = fd;
	}
	if (d != NULL)
		closedir(d);
	return found;
}

static void *
Watch(void *arg)
{
	pthread_mutex_lock(&pool_lock);
	while (watching)
	{
		struct timespec until;
		double		now = NowMs();

		for (int i = 0; i < nslots; i++)
		{
			GwUpload   *u = &slots[i];

			/*
			 * Under pool_lock the worker stays in (or just out of) mg_read,
			 * so the connection and its descriptor are still the upload's.
			 */
			if (u->in_use && u->clock_on && u->in_read && !u->shut && Over(u, now))
			{
				int			fd = ClientSocket(u);

				u->expired = true;
				u->shut = true;
				if (fd < 0 || shutdown(fd, SHUT_RD) != 0)
					fprintf(stderr, "shilian-gateway: cannot stop reading the slow upload from %s:%d\n",
							u->peer, u->peer_port);
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCH_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L)
			until.tv_sec++, until.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&watch_cond, &pool_lock, &until);
	}
	pthread_mutex_unlock(&pool_lock);
	return NULL;
}

int
gw_upload_pool_start(void)
{
	nslots = gw_config.upload_pool_size;
	slots = calloc((size_t) nslots, sizeof(GwUpload));
	if (slots == NULL)
		return -1;
	watching = true;
	if (pthread_create(&watcher, NULL, Watch, NULL) != 0)
	{
		watching = false;
		free(slots);
		slots = NULL;
		return -1;
	}
	return 0;
}

void
gw_upload_pool_stop(void)
{
	if (slots == NULL)
		return;
	pthread_mutex_lock(&pool_lock);
	watching = false;
	pthread_cond_signal(&watch_cond);
	pthread_mutex_unlock(&pool_lock);
	pthread_join(watcher, NULL);
	for (int i = 0; i < nslots; i++)
		if (slots[i].db != NULL)
			PQfinish(slots[i].db);
	free(slots);
	slots = NULL;
}

/*
 * A fresh connection's session settings: a backend notices within a second
 * that the gateway has gone (kill -9) even while it runs a statement, so it
 * lets go of its job's lock and rolls back at once; and it never stays idle
 * inside a transaction.
 */
static PGconn *
Connect(void)
{
	PGconn	   *db = PQconnectdb(gw_config.dsn);
	PGresult   *res;

	if (PQstatus(db) != CONNECTION_OK)
	{
		fprintf(stderr, "shilian-gateway: upload connection failed: %s", PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	res = PQexec(db, "select set_config('client_connection_check_interval', '1000', false), "
				 "set_config('idle_in_transaction_session_timeout', '60000', false)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "shilian-gateway: upload connection settings: %s", PQerrorMessage(db));
		PQclear(res);
		PQfinish(db);
		return NULL;
	}
	PQclear(res);
	return db;
}

GwUpload *
gw_upload_acquire(bool *busy)
{
	GwUpload   *u = NULL;

	*busy = false;
	pthread_mutex_lock(&pool_lock);
	for (int i = 0; i < nslots && u == NULL; i++)
		if (!slots[i].in_use)
		{
			u = &slots[i];
			u->in_use = true;
			u->clock_on = false;
			u->in_read = false;
			u->expired = false;
		}
	pthread_mutex_unlock(&pool_lock);
	if (u == NULL)
	{
		*busy = true;
		return NULL;
	}
	/*
	 * made or re-made outside the lock: a slow connect holds no other upload;
	 * PQconsumeInput notices an idle connection the server closed (restart)
	 */
	if (u->db != NULL && (PQconsumeInput(u->db) == 0 || PQstatus(u->db) != CONNECTION_OK ||
						  PQtransactionStatus(u->db) != PQTRANS_IDLE))
	{
		PQfinish(u->db);
		u->db = NULL;
	}
	if (u->db == NULL && (u->db = Connect()) == NULL)
	{
		gw_upload_release(u);
		return NULL;
	}
	return u;
}

PGconn *
gw_upload_db(GwUpload *u)
{
	return u->db;
}

void
gw_upload_release(GwUpload *u)
{
	gw_upload_release_ex(u, false);
}

/* close: the connection is not kept for the next upload (a sweep that found nothing to do) */
void
gw_upload_release_ex(GwUpload *u, bool close)
{
	if (u == NULL)
		return;
	/* a connection left inside a transaction (or broken) is not handed on */
	if (u->db != NULL && (close || PQstatus(u->db) != CONNECTION_OK ||
						  PQtransactionStatus(u->db) != PQTRANS_IDLE))
	{
		PQfinish(u->db);
		u->db = NULL;
	}
	pthread_mutex_lock(&pool_lock);
	u->clock_on = false;
	u->in_read = false;
	u->in_use = false;
	pthread_mutex_unlock(&pool_lock);
}

void
gw_upload_clock_start(GwUpload *u, struct mg_connection *conn)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);

	pthread_mutex_lock(&pool_lock);
	snprintf(u->peer, sizeof(u->peer), "%s", ri->remote_addr);
	u->peer_port = ri->remote_port;
	u->server_port = ri->server_port;
	u->shut = false;
	u->start_ms = NowMs();
	u->bytes = 0;
	u->expired = false;
	u->in_read = false;
	u->clock_on = true;
	pthread_mutex_unlock(&pool_lock);
}

void
gw_upload_clock_stop(GwUpload *u)
{
	pthread_mutex_lock(&pool_lock);
	u->clock_on = false;
	u->in_read = false;
	pthread_mutex_unlock(&pool_lock);
}

int
gw_upload_read(GwUpload *u, struct mg_connection *conn, char *buf, size_t len)
{
	int			n;
	size_t		piece = Piece();
	bool		go;

	pthread_mutex_lock(&pool_lock);
	if (!u->expired && Over(u, NowMs()))
		u->expired = true;
	go = u->in_read = !u->expired;
	pthread_mutex_unlock(&pool_lock);
	if (!go)
		return -1;
	n = mg_read(conn, buf, len < piece ? len : piece);
	pthread_mutex_lock(&pool_lock);
	u->in_read = false;
	if (n > 0)
		u->bytes += n;
	if (!u->expired && Over(u, NowMs()))
		u->expired = true;
	go = !u->expired;
	pthread_mutex_unlock(&pool_lock);
	return go ? n : -1;
}

bool
gw_upload_too_slow(GwUpload *u, char *why, size_t whylen)
{
	bool		expired;
	double		elapsed;
	long long	bytes;

	pthread_mutex_lock(&pool_lock);
	expired = u->expired;
	elapsed = NowMs() - u->start_ms;
	bytes = u->bytes;
	pthread_mutex_unlock(&pool_lock);
	if (expired && why != NULL)
	{
		if (elapsed > (double) gw_config.upload_time_limit_ms)
			snprintf(why, whylen, "%lld bytes arrived in %.1f s: over the time limit of %ld ms "
					 "(upload_time_limit_ms)", bytes, elapsed / 1000.0, gw_config.upload_time_limit_ms);
		else
			snprintf(why, whylen, "%lld bytes arrived in %.1f s: under the minimum rate of %ld bytes/s "
					 "after %d ms (upload_min_rate, upload_rate_grace_ms)", bytes, elapsed / 1000.0,
					 gw_config.upload_min_rate, gw_config.upload_rate_grace_ms);
	}
	return expired;
}
