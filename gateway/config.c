/*
 * config.c — gateway settings from defaults, a key = value file, the
 * environment (SHILIAN_*) and command-line flags, later sources winning.
 */
#define _GNU_SOURCE
#include "gateway.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

GwConfig	gw_config;

typedef enum { OPT_STR, OPT_INT, OPT_LONG } OptKind;

typedef struct Option
{
	const char *name;			/* file key; flag is --name with _ as - */
	const char *env;
	OptKind		kind;
	void	   *target;
	const char *help;
} Option;

static Option options[] = {
	{"listen", "SHILIAN_LISTEN", OPT_STR, &gw_config.listen, "address to listen on (127.0.0.1:8080)"},
	{"dsn", "SHILIAN_DSN", OPT_STR, &gw_config.dsn, "libpq connection string"},
	{"read_dsn", "SHILIAN_READ_DSN", OPT_STR, &gw_config.read_dsn, "libpq connection string of hot standbys for reads of figures, traces and exports (none)"},
	{"read_max_lag_ms", "SHILIAN_READ_MAX_LAG_MS", OPT_INT, &gw_config.read_max_lag_ms, "staleness bound of a standby read, else the primary serves it (5000)"},
	{"read_pool_size", "SHILIAN_READ_POOL_SIZE", OPT_INT, &gw_config.read_pool_size, "database connections of the read pool (4)"},
	{"threads", "SHILIAN_THREADS", OPT_INT, &gw_config.threads, "worker threads: connections served at once (128)"},
	{"body_limit", "SHILIAN_BODY_LIMIT", OPT_LONG, &gw_config.body_limit, "largest request body in bytes (1048576)"},
	{"import_body_limit", "SHILIAN_IMPORT_BODY_LIMIT", OPT_LONG, &gw_config.import_body_limit, "largest /v1/import upload in bytes (67108864)"},
	{"import_line_limit", "SHILIAN_IMPORT_LINE_LIMIT", OPT_LONG, &gw_config.import_line_limit, "longest line of a /v1/import upload in bytes (1048576)"},
	{"import_chunk_lines", "SHILIAN_IMPORT_CHUNK_LINES", OPT_INT, &gw_config.import_chunk_lines, "lines of an upload applied per committed transaction (20000)"},
	{"upload_pool_size", "SHILIAN_UPLOAD_POOL_SIZE", OPT_INT, &gw_config.upload_pool_size, "database connections of /v1/import uploads, apart from the workers' (3)"},
	{"upload_time_limit_ms", "SHILIAN_UPLOAD_TIME_LIMIT_MS", OPT_LONG, &gw_config.upload_time_limit_ms, "longest an upload's body may take to arrive (600000)"},
	{"upload_min_rate", "SHILIAN_UPLOAD_MIN_RATE", OPT_LONG, &gw_config.upload_min_rate, "bytes/s an upload's body must average after the grace (10240)"},
	{"upload_rate_grace_ms", "SHILIAN_UPLOAD_RATE_GRACE_MS", OPT_INT, &gw_config.upload_rate_grace_ms, "time before the minimum rate applies (10000)"},
	{"upload_apply_timeout_ms", "SHILIAN_UPLOAD_APPLY_TIMEOUT_MS", OPT_LONG, &gw_config.upload_apply_timeout_ms, "statement timeout of one apply step of an upload (300000)"},
	{"import_sweep_ms", "SHILIAN_IMPORT_SWEEP_MS", OPT_INT, &gw_config.import_sweep_ms, "how often import jobs nobody runs are taken up (10000)"},
	{"request_timeout_ms", "SHILIAN_REQUEST_TIMEOUT_MS", OPT_INT, &gw_config.request_timeout_ms, "request timeout (30000)"},
	{"pid_file", "SHILIAN_PID_FILE", OPT_STR, &gw_config.pid_file, "write the process id here"},
	{"port_file", "SHILIAN_PORT_FILE", OPT_STR, &gw_config.port_file, "write the bound port here"},
	{"jwt_secret", "SHILIAN_JWT_SECRET", OPT_STR, &gw_config.jwt_secret, "HS256 key for bearer tokens"},
	{"jwt_secret_file", "SHILIAN_JWT_SECRET_FILE", OPT_STR, &gw_config.jwt_secret_file, "file holding the HS256 key"},
	{"db_pool_size", "SHILIAN_DB_POOL_SIZE", OPT_INT, &gw_config.db_pool_size, "database connections shared by the workers (2 per CPU core the gateway may run on)"},
	{"db_pool_wait_ms", "SHILIAN_DB_POOL_WAIT_MS", OPT_INT, &gw_config.db_pool_wait_ms, "longest wait for a free database connection, then 503 (5000)"},
	{"header_timeout_ms", "SHILIAN_HEADER_TIMEOUT_MS", OPT_INT, &gw_config.header_timeout_ms, "deadline for a request's line and headers, then 408 (10000)"},
	{"client_connections", "SHILIAN_CLIENT_CONNECTIONS", OPT_INT, &gw_config.client_connections, "connections at once from one client address (32)"},
	{"query_limit", "SHILIAN_QUERY_LIMIT", OPT_LONG, &gw_config.query_limit, "longest query string in bytes, then 414 (4096)"},
	{"jwt_audience", "SHILIAN_JWT_AUDIENCE", OPT_STR, &gw_config.jwt_audience, "when set, tokens must carry this aud"},
	{"jwks_file", "SHILIAN_JWKS_FILE", OPT_STR, &gw_config.jwks_file, "identity provider's public keys (JWKS, RS256/ES256)"},
	{"jwt_claim_role", "SHILIAN_JWT_CLAIM_ROLE", OPT_STR, &gw_config.jwt_claim_role, "role claim of JWKS tokens (role)"},
	{"jwt_claim_operator", "SHILIAN_JWT_CLAIM_OPERATOR", OPT_STR, &gw_config.jwt_claim_operator, "operator claim of JWKS tokens (operator_id)"},
	{"jwt_claim_jurisdiction", "SHILIAN_JWT_CLAIM_JURISDICTION", OPT_STR, &gw_config.jwt_claim_jurisdiction, "jurisdiction claim of JWKS tokens (jurisdiction)"},
	{"apikey_fail_threshold", "SHILIAN_APIKEY_FAIL_THRESHOLD", OPT_INT, &gw_config.apikey_fail_threshold, "failed API keys per address before backoff (10)"},
	{"apikey_backoff_ms", "SHILIAN_APIKEY_BACKOFF_MS", OPT_INT, &gw_config.apikey_backoff_ms, "first backoff after failed API keys, doubling (1000)"},
	{"apikey_backoff_max_ms", "SHILIAN_APIKEY_BACKOFF_MAX_MS", OPT_INT, &gw_config.apikey_backoff_max_ms, "longest backoff after failed API keys (300000)"},
	{"public_rate_limit", "SHILIAN_PUBLIC_RATE_LIMIT", OPT_INT, &gw_config.public_rate_limit, "public lookups per address per window (60)"},
	{"public_rate_window_ms", "SHILIAN_PUBLIC_RATE_WINDOW_MS", OPT_INT, &gw_config.public_rate_window_ms, "window of public_rate_limit (60000)"},
	/* h-pages: labels and the resolver */
	{"public_base_url", "SHILIAN_PUBLIC_BASE_URL", OPT_STR, &gw_config.public_base_url, "scheme and host the labels' QR codes point to (http://<Host header>)"},
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static int
SetOption(Option *opt, const char *value, const char *source)
{
	char	   *end;

	switch (opt->kind)
	{
		case OPT_STR:
			free(*(char **) opt->target);
			*(char **) opt->target = strdup(value);
			return 0;
		case OPT_INT:
		case OPT_LONG:
			{
				long		v;

				errno = 0;
				v = strtol(value, &end, 10);
				if (errno != 0 || end == value || *end != '\0' || v <= 0 ||
					(opt->kind == OPT_INT && v > 1000000))
				{
					fprintf(stderr, "shilian-gateway: invalid value \"%s\" for %s (from %s): expected a positive integer%s\n",
							value, opt->name, source, opt->kind == OPT_INT ? " up to 1000000" : "");
					return -1;
				}
				if (opt->kind == OPT_INT)
					*(int *) opt->target = (int) v;
				else
					*(long *) opt->target = v;
				return 0;
			}
	}
	return -1;
}

static Option *
FindOption(const char *name)
{
	for (size_t i = 0; i < NOPTIONS; i++)
	{
		const char *a = options[i].name, *b = name;

		while (*a && (*a == *b || (*a == '_' && *b == '-')))
			a++, b++;
		if (*a == '\0' && *b == '\0')
			return &options[i];
	}
	return NULL;
}

static char *
Trim(char *s)
{
	char	   *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
LoadFile(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char	   *line = NULL;
	size_t		cap = 0;
	int			lineno = 0, rc = 0;

	if (f == NULL)
	{
		fprintf(stderr, "shilian-gateway: cannot open config file \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) != -1)
	{
		char	   *s = Trim(line), *eq, *key, *val;
		Option	   *opt;

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL)
		{
			fprintf(stderr, "shilian-gateway: %s:%d: expected key = value\n", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = Trim(s);
		val = Trim(eq + 1);
		if ((opt = FindOption(key)) == NULL)
		{
			fprintf(stderr, "shilian-gateway: %s:%d: unknown setting \"%s\"\n", path, lineno, key);
			rc = -1;
			break;
		}
		if (SetOption(opt, val, path) != 0)
		{
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

static void
Usage(void)
{
	fprintf(stderr, "usage: shilian-gateway [--config FILE] [--NAME VALUE]...\n"
			"       shilian-gateway token --role ROLE --expires DURATION|TIME [options] (token --help)\n"
			"settings (file key, environment variable, flag):\n");
	for (size_t i = 0; i < NOPTIONS; i++)
		fprintf(stderr, "  %-23s %-31s %s\n", options[i].name, options[i].env, options[i].help);
}

/*
 * The default db_pool_size: 2 connections per CPU core this process may run
 * on (its affinity mask, as taskset or a cgroup cpuset leaves it), at least
 * 2. The pool is the gateway's admission limit: requests beyond it wait in
 * the gateway, in arrival order, instead of as backends that share the
 * server's cores and hold row locks while descheduled. Two per core keeps
 * a core busy while the other connection's results travel. Measured on
 * POST /v1/shipments (16 clients, every sale from one batch, the server on
 * one core): p99 18.6 and 19.4 ms with 2 connections, 19.8 and 27.6 ms with
 * 4, 37.6 and 52.3 ms with 8 (the old default), 135 and 190 ms with 16
 * (docs/rest.md#throughput-and-latency-吞吐量与延迟). The cores counted are
 * the gateway's host's: when the database runs elsewhere, set it to 2 per
 * database core.
 */
static int
DefaultPoolSize(void)
{
	cpu_set_t	set;
	int			n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	return n >= 1 ? 2 * n : 2;
}

int
gw_config_load(int argc, char **argv)
{
	const char *file = getenv("SHILIAN_GATEWAY_CONFIG");

	gw_config.listen = strdup("127.0.0.1:8080");
	gw_config.dsn = strdup("dbname=shilian");
	gw_config.threads = 128;
	gw_config.read_max_lag_ms = 5000;
	gw_config.read_pool_size = 4;
	gw_config.db_pool_size = DefaultPoolSize();
	gw_config.db_pool_wait_ms = 5000;
	gw_config.header_timeout_ms = 10000;
	gw_config.client_connections = 32;
	gw_config.query_limit = 4096;
	gw_config.body_limit = 1048576;
	gw_config.import_body_limit = 67108864;
	gw_config.import_line_limit = 1048576;
	gw_config.import_chunk_lines = 20000;
	gw_config.request_timeout_ms = 30000;
	gw_config.jwt_claim_role = strdup("role");
	gw_config.jwt_claim_operator = strdup("operator_id");
	gw_config.jwt_claim_jurisdiction = strdup("jurisdiction");
	gw_config.apikey_fail_threshold = 10;
	gw_config.apikey_backoff_ms = 1000;
	gw_config.apikey_backoff_max_ms = 300000;
	gw_config.public_rate_limit = 60;
	gw_config.public_rate_window_ms = 60000;
	gw_config.upload_pool_size = 3;
	gw_config.upload_time_limit_ms = 600000;
	gw_config.upload_min_rate = 10240;
	gw_config.upload_rate_grace_ms = 10000;
	gw_config.upload_apply_timeout_ms = 300000;
	gw_config.import_sweep_ms = 10000;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			Usage();
			exit(0);
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[i + 1];
	}
	if (file != NULL && LoadFile(file) != 0)
		return -1;
	for (size_t i = 0; i < NOPTIONS; i++)
	{
		const char *v = getenv(options[i].env);

		if (v != NULL && SetOption(&options[i], v, options[i].env) != 0)
			return -1;
	}
	for (int i = 1; i < argc; i++)
	{
		Option	   *opt;

		if (strcmp(argv[i], "--config") == 0)
		{
			i++;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0 || (opt = FindOption(argv[i] + 2)) == NULL || i + 1 >= argc)
		{
			fprintf(stderr, "shilian-gateway: unknown or incomplete option \"%s\"\n", argv[i]);
			Usage();
			return -1;
		}
		if (SetOption(opt, argv[++i], "command line") != 0)
			return -1;
	}
	if (gw_config.jwt_secret_file != NULL && gw_config.jwt_secret == NULL)
	{
		FILE	   *f = fopen(gw_config.jwt_secret_file, "r");
		char	   *line = NULL;
		size_t		cap = 0;

		if (f == NULL || getline(&line, &cap, f) < 0)
		{
			fprintf(stderr, "shilian-gateway: cannot read jwt_secret_file \"%s\"\n", gw_config.jwt_secret_file);
			if (f)
				fclose(f);
			free(line);
			return -1;
		}
		fclose(f);
		gw_config.jwt_secret = strdup(Trim(line));
		free(line);
	}
	if (gw_config.jwt_secret != NULL && strlen(gw_config.jwt_secret) < 32)
	{
		fprintf(stderr, "shilian-gateway: jwt_secret must be at least 32 characters (HS256 wants a 256-bit key)\n");
		return -1;
	}
	if (gw_config.apikey_backoff_max_ms < gw_config.apikey_backoff_ms)
	{
		fprintf(stderr, "shilian-gateway: apikey_backoff_max_ms must be at least apikey_backoff_ms\n");
		return -1;
	}
	if (gw_config.jwks_file != NULL && gw_jwks_load(gw_config.jwks_file) != 0)
		return -1;
	return 0;
}

void
gw_config_free(void)
{
	gw_jwks_free();
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].kind == OPT_STR)
		{
			free(*(char **) options[i].target);
			*(char **) options[i].target = NULL;
		}
}
