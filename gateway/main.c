/*
 * main.c — shilian-gateway: start civetweb with one catch-all JSON handler
 * and no file serving, then wait for SIGTERM/SIGINT and stop cleanly
 * (mg_stop lets in-flight requests finish).
 */
#include "gateway.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;

static void
OnSignal(int sig)
{
	stop_requested = 1;
}

static int
OnLog(const struct mg_connection *conn, const char *message)
{
	fprintf(stderr, "civetweb: %s\n", message);
	return 1;
}

static int
WriteFile(const char *path, long value)
{
	FILE	   *f = fopen(path, "w");

	if (f == NULL)
	{
		fprintf(stderr, "shilian-gateway: cannot write \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", value);
	fclose(f);
	return 0;
}

/* civetweb's authorization step: every request goes on to gw_dispatch, which authenticates it. */
static int
AuthorizedByDispatcher(struct mg_connection *conn, void *cbdata)
{
	return 1;
}

int
main(int argc, char **argv)
{
	struct mg_callbacks callbacks;
	struct mg_context *ctx;
	struct mg_server_port ports[4];
	char		threads[16], timeout[16], keepalive[16];
	struct sigaction sa;
	sigset_t	block, waitmask;
	int			nports;

	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return gw_token_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "sql") == 0)
		return gw_sql_main(argc - 1, argv + 1);
	if (gw_config_load(argc, argv) != 0)
		return 2;
	if (gw_routes_check() != 0)
		return 2;
	/*
	 * The connection string is libpq's, checked here rather than at the
	 * first request: several hosts (host=a,b port=5432,5432) with
	 * target_session_attrs=read-write follow the primary across a failover
	 * (docs/operations.md).
	 */
	for (int k = 0; k < 2; k++)
	{
		/* and the read pool's (h-replica): target_session_attrs=prefer-standby */
		const char *dsn = k == 0 ? gw_config.dsn : gw_config.read_dsn;
		char	   *err = NULL;
		PQconninfoOption *opts;

		if (dsn == NULL || (k == 1 && dsn[0] == '\0'))
			continue;
		if ((opts = PQconninfoParse(dsn, &err)) == NULL)
		{
			fprintf(stderr, "shilian-gateway: invalid %s: %s", k == 0 ? "dsn" : "read_dsn",
					err ? err : "out of memory\n");
			PQfreemem(err);
			gw_config_free();
			return 2;
		}
		PQconninfoFree(opts);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = OnSignal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals in every thread (civetweb's inherit the mask);
	 * main waits for them in sigsuspend, so none is lost between checks. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	json_object_seed(0);
	mg_init_library(0);
	gw_metrics_init(gw_nroutes);
	if (gw_db_pool_init() != 0)
	{
		fprintf(stderr, "shilian-gateway: out of memory\n");
		return 1;
	}
	if (gw_upload_pool_start() != 0)
	{
		fprintf(stderr, "shilian-gateway: cannot start the upload pool\n");
		mg_exit_library();
		gw_metrics_free();
		gw_db_pool_free();
		gw_config_free();
		return 1;
	}

	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.init_thread = gw_thread_init;
	callbacks.exit_thread = gw_thread_exit;
	callbacks.log_message = OnLog;
	callbacks.http_error = gw_edge_http_error;
	callbacks.init_connection = gw_edge_init_connection;
	callbacks.connection_close = gw_edge_connection_close;

	snprintf(threads, sizeof(threads), "%d", gw_config.threads);
	/*
	 * civetweb's request_timeout_ms is a deadline for the whole request
	 * line and headers (from when the worker starts waiting) and bounds each
	 * body read: the header deadline, unless request_timeout_ms is shorter.
	 */
	snprintf(timeout, sizeof(timeout), "%d", gw_config.header_timeout_ms < gw_config.request_timeout_ms ?
			 gw_config.header_timeout_ms : gw_config.request_timeout_ms);
	snprintf(keepalive, sizeof(keepalive), "%d", GW_KEEP_ALIVE_TIMEOUT_MS);
	{
		const char *options[] = {
			"listening_ports", gw_config.listen,
			"num_threads", threads,
			"request_timeout_ms", timeout,
			"keep_alive_timeout_ms", keepalive,
			"enable_keep_alive", "yes",
			"max_request_size", "65536",
			"enable_directory_listing", "no",
			"tcp_nodelay", "1",
			NULL
		};

		ctx = mg_start(&callbacks, NULL, options);
	}
	if (ctx == NULL)
	{
		fprintf(stderr, "shilian-gateway: cannot listen on %s\n", gw_config.listen);
		gw_upload_pool_stop();
		mg_exit_library();
		gw_db_pool_free();
		gw_config_free();
		return 1;
	}
	/* One catch-all handler: every path is routed (or 404'd) as JSON. */
	mg_set_request_handler(ctx, "**", gw_dispatch, NULL);
	/*
	 * Authentication is the dispatcher's (auth.c). Without an authorization
	 * handler of its own civetweb looks for a .htpasswd file (a stat of
	 * "/.htpasswd") at every request, which this gateway never has.
	 */
	mg_set_auth_handler(ctx, "**", AuthorizedByDispatcher, NULL);

	nports = mg_get_server_ports(ctx, 4, ports);
	if (nports < 1)
	{
		fprintf(stderr, "shilian-gateway: no listening port\n");
		mg_stop(ctx);
		gw_upload_pool_stop();
		return 1;
	}
	/* a connection that sends nothing waits in the kernel, not in a worker */
	for (int i = 0; i < nports; i++)
		gw_edge_defer_accept(ports[i].port, (gw_config.header_timeout_ms + 999) / 1000);
	if (gw_config.port_file && WriteFile(gw_config.port_file, ports[0].port) != 0)
		stop_requested = 1;
	if (gw_config.pid_file && WriteFile(gw_config.pid_file, (long) getpid()) != 0)
		stop_requested = 1;
	fprintf(stderr, "shilian-gateway %s listening on %s (port %d), %d threads, %d database connections, %d for uploads\n",
			GW_VERSION, gw_config.listen, ports[0].port, gw_config.threads, gw_config.db_pool_size,
			gw_config.upload_pool_size);
	/* import jobs nobody runs (a gateway killed mid-apply) are taken up now and every import_sweep_ms */
	if (gw_import_jobs_start() != 0)
		stop_requested = 1;

	while (!stop_requested)
		sigsuspend(&waitmask);

	fprintf(stderr, "shilian-gateway: stopping\n");
	/* uploads being applied stop after their current step, their jobs left for the next gateway */
	gw_import_jobs_stop();
	mg_stop(ctx);
	gw_upload_pool_stop();
	mg_exit_library();
	gw_metrics_free();
	gw_db_pool_free();
	gw_edge_free();
	if (gw_config.pid_file)
		unlink(gw_config.pid_file);
	gw_config_free();
	return 0;
}
