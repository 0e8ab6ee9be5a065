/*
 * fuzz_http.c — libFuzzer harness for the gateway's request path: the input
 * is a request ("METHOD /path?query", header lines, a blank line, the
 * body), handed to gw_dispatch over an in-memory connection (mg_stub.c).
 * Routing, the framing checks, authentication (JWT parts, API keys), body
 * reading and its limits, JSON parsing and the field checks all run; the
 * database is unreachable, so a request that gets that far is answered 503.
 * Every request must get one well-formed reply, never a crash or a leak.
 * Run with -close_fd_mask=2: the gateway logs each refused database
 * connection on stderr.
 */
#include "gateway.h"
#include "mg_stub.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *thread;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	   *args[] = {"shilian-gateway", "--dsn", "host=/nonexistent-shilian-fuzz dbname=none connect_timeout=1",
		"--jwt_secret", "fuzz-secret-0123456789abcdef-0123456789", NULL};

	if (gw_config_load(5, args) != 0)
		abort();
	json_object_seed(1);
	gw_metrics_init(gw_nroutes);
	if (gw_db_pool_init() != 0)
		abort();
	thread = gw_thread_init(NULL, 1);
	return 0;
}

/* Next line of [*p, end): NUL-terminated in place, without its CR LF. */
static char *
Line(char **p, char *end)
{
	char	   *s = *p, *nl;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', (size_t) (end - s));
	if (nl == NULL)
		nl = end;
	*p = nl < end ? nl + 1 : end;
	*nl = '\0';
	if (nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_connection *conn = calloc(1, sizeof(struct mg_connection));
	char	   *buf = malloc(size + 1), *p = buf, *end = buf + size, *line, *q;
	const char *cl;

	memcpy(buf, data, size);
	buf[size] = '\0';
	line = Line(&p, end);
	if (line == NULL || (q = strchr(line, ' ')) == NULL)
		goto done;
	*q++ = '\0';
	conn->ri.request_method = line;
	conn->ri.http_version = "1.1";
	conn->ri.request_uri = q;
	conn->ri.local_uri = q;
	conn->ri.local_uri_raw = q;
	if ((q = strchr(q, '?')) != NULL)
	{
		*q++ = '\0';
		conn->ri.query_string = q;
	}
	strcpy(conn->ri.remote_addr, "127.0.0.1");
	while ((line = Line(&p, end)) != NULL && line[0] != '\0' && conn->ri.num_headers < MG_MAX_HEADERS)
	{
		char	   *colon = strchr(line, ':');

		if (colon == NULL)
			goto done;			/* civetweb refuses such a header itself */
		*colon++ = '\0';
		while (*colon == ' ')
			colon++;
		conn->ri.http_headers[conn->ri.num_headers].name = line;
		conn->ri.http_headers[conn->ri.num_headers].value = colon;
		conn->ri.num_headers++;
	}
	conn->body = p;
	conn->body_len = (size_t) (end - p);
	cl = mg_get_header(conn, "Content-Length");
	conn->ri.content_length = cl ? strtoll(cl, NULL, 10) : (mg_get_header(conn, "Transfer-Encoding") ? -1 : 0);
	if (conn->ri.content_length > (long long) conn->body_len)
		conn->ri.content_length = (long long) conn->body_len;	/* civetweb would wait */
	conn->thread = thread;

	gw_edge_init_connection(conn, &conn->ri.conn_data);
	gw_dispatch(conn, NULL);
	gw_edge_connection_close(conn);
	if (conn->writes == 0 || strncmp(conn->out, "HTTP/1.1 ", 9) != 0 || strstr(conn->out, "\r\n\r\n") == NULL)
	{
		fprintf(stdout, "fuzz_http: no well-formed reply (%d writes): %.200s\n", conn->writes, conn->out);
		abort();
	}
done:
	free(buf);
	free(conn);
	return 0;
}
