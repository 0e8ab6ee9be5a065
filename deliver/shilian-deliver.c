/*
 * shilian-deliver — the webhook delivery worker (docs/webhooks.md). A few
 * threads, each with its own database connection, claim due deliveries from
 * the outbox (shilian.webhook_claim: leased, oldest pending per
 * subscription, SKIP LOCKED), POST them with libcurl (HTTPS with certificate
 * checks, an HMAC-SHA256 signature over timestamp and body, the event id as
 * idempotency key) and settle them (shilian.webhook_done: delivered, retried
 * with backoff, or dead). All state is in the database: a killed worker's
 * claims are taken again when their lease runs out, and a restarted
 * database is reconnected to.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

typedef struct Config
{
	const char *dsn;
	const char *name;
	const char *ca_file;
	int			workers;
	int			lease_s;
	int			timeout_s;
	int			poll_ms;
	double		horizon_s;
	double		backoff_base_s;
	double		backoff_max_s;
} Config;

static Config cfg = {
	.dsn = "dbname=postgres", .workers = 4, .lease_s = 60, .timeout_s = 10, .poll_ms = 1000,
	.horizon_s = 86400, .backoff_base_s = 1, .backoff_max_s = 3600,
};
static atomic_bool stopping;
static char worker_name[128];

static void
OnSignal(int sig)
{
	(void) sig;
	atomic_store(&stopping, true);
}

static void
Log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
Log(const char *fmt, ...)
{
	va_list		ap;
	char		line[1024];

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "shilian-deliver: %s\n", line);
}

/* Sleep ms, waking early when stopping. */
static void
Nap(int ms)
{
	for (int i = 0; i < ms / 50 && !atomic_load(&stopping); i++)
		usleep(50 * 1000);
}

/* A connection listening for new outbox rows, or NULL (the database is down). */
static PGconn *
Connect(void)
{
	PGconn	   *db = PQconnectdb(cfg.dsn);
	PGresult   *res;

	if (PQstatus(db) != CONNECTION_OK)
	{
		Log("database connection failed: %s", PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	res = PQexec(db, "LISTEN shilian_webhook");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		Log("LISTEN failed: %s", PQerrorMessage(db));
		PQclear(res);
		PQfinish(db);
		return NULL;
	}
	PQclear(res);
	return db;
}

/* Wait up to poll_ms for a notification on db; drains what arrived. */
static void
WaitForWork(PGconn *db)
{
	int			sock = PQsocket(db);
	fd_set		in;
	struct timeval tv = {cfg.poll_ms / 1000, (cfg.poll_ms % 1000) * 1000};
	PGnotify   *n;

	if (sock < 0)
		return;
	FD_ZERO(&in);
	FD_SET(sock, &in);
	if (select(sock + 1, &in, NULL, NULL, &tv) > 0)
		PQconsumeInput(db);
	while ((n = PQnotifies(db)) != NULL)
		PQfreemem(n);
}

/* Discards the receiver's reply body (its status is all we keep). */
static size_t
Discard(char *ptr, size_t size, size_t nmemb, void *user)
{
	(void) ptr;
	(void) user;
	return size * nmemb;
}

/* "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t "." body)>" */
static void
Sign(const char *secret, long t, const char *body, char *out, size_t outlen)
{
	char		prefix[32];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char		hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t		plen = (size_t) snprintf(prefix, sizeof prefix, "%ld.", t);
	size_t		blen = strlen(body);
	unsigned char *msg = malloc(plen + blen);

	memcpy(msg, prefix, plen);
	memcpy(msg + plen, body, blen);
	HMAC(EVP_sha256(), secret, (int) strlen(secret), msg, plen + blen, mac, &maclen);
	free(msg);
	for (unsigned int i = 0; i < maclen; i++)
		sprintf(hex + 2 * i, "%02x", mac[i]);
	hex[2 * maclen] = '\0';
	snprintf(out, outlen, "t=%ld,v1=%s", t, hex);
}

/*
 * POST one delivery. Returns the HTTP status, or 0 with err filled for a
 * transport failure (refused, timed out, certificate refused).
 */
static long
Post(CURL *curl, const char *url, const char *secret, const char *event_id, const char *body,
	 char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	char		line[512];
	char		sig[256];
	char		cerr[CURL_ERROR_SIZE] = "";
	long		status = 0;
	CURLcode	rc;

	Sign(secret, (long) time(NULL), body, sig, sizeof sig);
	h = curl_slist_append(h, "Content-Type: application/json");
	snprintf(line, sizeof line, "Shilian-Signature: %s", sig);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof line, "Idempotency-Key: %s", event_id);
	h = curl_slist_append(h, line);
	snprintf(line, sizeof line, "Shilian-Event-Id: %s", event_id);
	h = curl_slist_append(h, line);
	h = curl_slist_append(h, "Expect:");

	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "shilian-deliver/" DELIVER_VERSION);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) cfg.timeout_s);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) cfg.timeout_s);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* certificate and host name checks stay on (libcurl's defaults, said aloud) */
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg.ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg.ca_file);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
	if (rc == CURLE_OK && (status < 200 || status > 299))
		snprintf(err, errlen, "HTTP %ld", status);
	curl_slist_free_all(h);
	return status;
}

/* One worker thread: claim one due delivery at a time, post it, settle it. */
static void *
Worker(void *arg)
{
	long		index = (long) arg;
	char		name[192];
	PGconn	   *db = NULL;
	CURL	   *curl = curl_easy_init();

	snprintf(name, sizeof name, "%s/%ld", worker_name, index);
	while (!atomic_load(&stopping))
	{
		const char *claim_params[3];
		char		n_s[16], lease_s[16];
		PGresult   *res;

		if (db == NULL || PQstatus(db) != CONNECTION_OK)
		{
			if (db)
				PQfinish(db);
			if ((db = Connect()) == NULL)
			{
				Nap(1000);
				continue;
			}
		}
		snprintf(n_s, sizeof n_s, "1");
		snprintf(lease_s, sizeof lease_s, "%d", cfg.lease_s);
		claim_params[0] = name;
		claim_params[1] = n_s;
		claim_params[2] = lease_s;
		res = PQexecParams(db, "select delivery, attempt, url, secret, event_id, body, "
						   "to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.USOF') "
						   "from shilian.webhook_claim($1, $2::int, $3::int)",
						   3, NULL, claim_params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			Log("claim failed: %s", PQerrorMessage(db));
			PQclear(res);
			Nap(1000);
			continue;
		}
		if (PQntuples(res) == 0)
		{
			PQclear(res);
			WaitForWork(db);
			continue;
		}
		{
			char		err[CURL_ERROR_SIZE + 32] = "";
			char		horizon[32], base[32], maxb[32], status_s[16];
			long		status = Post(curl, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
									  PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5), err, sizeof err);
			const char *done_params[9];
			PGresult   *done;

			snprintf(status_s, sizeof status_s, "%ld", status);
			snprintf(horizon, sizeof horizon, "%g", cfg.horizon_s);
			snprintf(base, sizeof base, "%g", cfg.backoff_base_s);
			snprintf(maxb, sizeof maxb, "%g", cfg.backoff_max_s);
			done_params[0] = PQgetvalue(res, 0, 0);
			done_params[1] = name;
			done_params[2] = PQgetvalue(res, 0, 1);
			done_params[3] = status ? status_s : NULL;
			done_params[4] = err[0] ? err : NULL;
			done_params[5] = PQgetvalue(res, 0, 6);
			done_params[6] = horizon;
			done_params[7] = base;
			done_params[8] = maxb;
			done = PQexecParams(db, "select shilian.webhook_done($1::bigint, $2, $3::int, $4::int, $5, "
								"$6::timestamptz, $7::float8, $8::float8, $9::float8)",
								9, NULL, done_params, NULL, NULL, 0);
			if (PQresultStatus(done) != PGRES_TUPLES_OK)
				/* the lease runs out and the delivery is claimed again */
				Log("settling delivery %s failed: %s", done_params[0], PQerrorMessage(db));
			else if (strcmp(PQgetvalue(done, 0, 0), "delivered") != 0)
				Log("delivery %s attempt %s: %s -> %s", done_params[0], done_params[2],
					err[0] ? err : "?", PQgetvalue(done, 0, 0));
			PQclear(done);
		}
		PQclear(res);
	}
	if (db)
		PQfinish(db);
	curl_easy_cleanup(curl);
	return NULL;
}

static void
Usage(FILE *out)
{
	fprintf(out,
			"Usage: shilian-deliver [options]\n"
			"Delivers shilian webhook events from the outbox (docs/webhooks.md).\n"
			"  --dsn=CONNINFO        database to deliver from (env SHILIAN_DELIVER_DSN; default dbname=postgres)\n"
			"  --workers=N           deliveries in flight at once, one connection each (default 4)\n"
			"  --timeout=SECONDS     per attempt: connect and whole request (default 10)\n"
			"  --lease=SECONDS       how long a claim is held before another worker may take it (default 60)\n"
			"  --horizon=SECONDS     retry until this long after the event, then dead (default 86400)\n"
			"  --backoff-base=SECONDS first retry delay, doubled per attempt, jittered (default 1)\n"
			"  --backoff-max=SECONDS  longest retry delay (default 3600)\n"
			"  --poll-ms=MS          longest wait between outbox checks without a notification (default 1000)\n"
			"  --ca-file=PATH        CA certificates to check receivers against (default: the system's)\n"
			"  --name=NAME           worker name in leases and the delivery log (default host:pid)\n");
}

static double
NumberArg(const char *opt, const char *v, double min, double max)
{
	char	   *end;
	double		d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || d < min || d > max)
	{
		fprintf(stderr, "shilian-deliver: --%s must be a number from %g to %g\n", opt, min, max);
		exit(2);
	}
	return d;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dsn", required_argument, NULL, 'd'}, {"workers", required_argument, NULL, 'w'},
		{"timeout", required_argument, NULL, 't'}, {"lease", required_argument, NULL, 'l'},
		{"horizon", required_argument, NULL, 'H'}, {"backoff-base", required_argument, NULL, 'b'},
		{"backoff-max", required_argument, NULL, 'm'}, {"poll-ms", required_argument, NULL, 'p'},
		{"ca-file", required_argument, NULL, 'c'}, {"name", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}
	};
	pthread_t  *threads;
	struct sigaction sa;
	int			c;
	char		host[64] = "host";

	if (getenv("SHILIAN_DELIVER_DSN"))
		cfg.dsn = getenv("SHILIAN_DELIVER_DSN");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd': cfg.dsn = optarg; break;
			case 'w': cfg.workers = (int) NumberArg("workers", optarg, 1, 256); break;
			case 't': cfg.timeout_s = (int) NumberArg("timeout", optarg, 1, 600); break;
			case 'l': cfg.lease_s = (int) NumberArg("lease", optarg, 1, 86400); break;
			case 'H': cfg.horizon_s = NumberArg("horizon", optarg, 0, 365 * 86400.0); break;
			case 'b': cfg.backoff_base_s = NumberArg("backoff-base", optarg, 0.001, 86400); break;
			case 'm': cfg.backoff_max_s = NumberArg("backoff-max", optarg, 0.001, 86400); break;
			case 'p': cfg.poll_ms = (int) NumberArg("poll-ms", optarg, 10, 60000); break;
			case 'c': cfg.ca_file = optarg; break;
			case 'n': cfg.name = optarg; break;
			case 'h': Usage(stdout); return 0;
			default: Usage(stderr); return 2;
		}
	}
	if (optind < argc)
	{
		Usage(stderr);
		return 2;
	}
	/* a claim must outlive the attempt it covers */
	if (cfg.lease_s < cfg.timeout_s * 2 + 5)
		cfg.lease_s = cfg.timeout_s * 2 + 5;
	gethostname(host, sizeof host - 1);
	if (cfg.name)
		snprintf(worker_name, sizeof worker_name, "%s", cfg.name);
	else
		snprintf(worker_name, sizeof worker_name, "%s:%ld", host, (long) getpid());

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
	{
		Log("libcurl initialisation failed");
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = OnSignal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	Log("%s delivering with %d workers (lease %ds, timeout %ds, horizon %gs)", worker_name, cfg.workers,
		cfg.lease_s, cfg.timeout_s, cfg.horizon_s);
	threads = calloc((size_t) cfg.workers, sizeof *threads);
	for (long i = 0; i < cfg.workers; i++)
		pthread_create(&threads[i], NULL, Worker, (void *) i);
	for (int i = 0; i < cfg.workers; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	curl_global_cleanup();
	Log("stopped");
	return 0;
}
