/*
 * edge.c — what the gateway does before a request reaches its route: HTTP
 * framing that a proxy in front could read differently (duplicate or
 * conflicting Content-Length, Transfer-Encoding with Content-Length),
 * protocol upgrades, over-long query strings, civetweb's own refusals
 * rendered as the standard JSON error, a cap on connections per client
 * address, and deferred accept on the listening socket so a connection that
 * sends nothing never takes a worker.
 */
#define _GNU_SOURCE
#include "gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* Per connection (civetweb's connection data), from its first request on. */
typedef struct EdgeConn
{
	int			slot;			/* in clients[] */
	bool		over;			/* over client_connections: refused */
} EdgeConn;

/* Connections per client address; at most one entry per worker is in use. */
typedef struct ClientCount
{
	char		addr[48];
	int			count;
} ClientCount;

/*
 * When the worker began waiting for the current request's headers (the
 * connection's start, or the end of the previous request on it), so that
 * civetweb's "malformed message" can be told apart from a header deadline.
 */
static __thread struct timespec wait_start;
static __thread bool served_one;

static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;
static ClientCount *clients;
static int	nclients;

static bool
Digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/*
 * Count this connection against its address on its first request; false
 * when the address already holds client_connections connections.
 */
static bool
ClientAdmit(struct mg_connection *conn)
{
	EdgeConn   *ec = mg_get_user_connection_data(conn);
	const char *addr = mg_get_request_info(conn)->remote_addr;
	int			slot = -1, free_slot = -1;

	if (ec != NULL)
		return !ec->over;
	if ((ec = calloc(1, sizeof(EdgeConn))) == NULL)
		return true;
	pthread_mutex_lock(&clients_lock);
	if (clients == NULL)
	{
		nclients = gw_config.threads + 1;
		clients = calloc((size_t) nclients, sizeof(ClientCount));
	}
	for (int i = 0; clients != NULL && i < nclients && slot < 0; i++)
	{
		if (clients[i].count > 0 && strcmp(clients[i].addr, addr) == 0)
			slot = i;
		else if (clients[i].count == 0 && free_slot < 0)
			free_slot = i;
	}
	if (slot < 0 && free_slot >= 0)
	{
		slot = free_slot;
		snprintf(clients[slot].addr, sizeof(clients[slot].addr), "%s", addr);
	}
	if (slot >= 0)
	{
		clients[slot].count++;
		ec->over = clients[slot].count > gw_config.client_connections;
	}
	ec->slot = slot;
	pthread_mutex_unlock(&clients_lock);
	mg_set_user_connection_data(conn, ec);
	return !ec->over;
}

/* civetweb's init_connection callback (the worker took a new connection). */
int
gw_edge_init_connection(const struct mg_connection *conn, void **conn_data)
{
	clock_gettime(CLOCK_MONOTONIC, &wait_start);
	served_one = false;
	*conn_data = NULL;
	return 0;
}

/* The dispatcher's last step: the next request's headers are awaited from now. */
void
gw_edge_request_done(void)
{
	clock_gettime(CLOCK_MONOTONIC, &wait_start);
	served_one = true;
}

/* civetweb's connection_close callback: the connection no longer counts. */
void
gw_edge_connection_close(const struct mg_connection *conn)
{
	EdgeConn   *ec = mg_get_user_connection_data(conn);

	if (ec == NULL)
		return;
	pthread_mutex_lock(&clients_lock);
	if (ec->slot >= 0 && clients != NULL && clients[ec->slot].count > 0)
		clients[ec->slot].count--;
	pthread_mutex_unlock(&clients_lock);
	mg_set_user_connection_data(conn, NULL);
	free(ec);
}

/*
 * Connections counted against their client address now (/metrics): each
 * from its first request to its close, refused ones included until closed.
 */
int
gw_edge_client_connections(void)
{
	int			n = 0;

	pthread_mutex_lock(&clients_lock);
	for (int i = 0; clients != NULL && i < nclients; i++)
		n += clients[i].count;
	pthread_mutex_unlock(&clients_lock);
	return n;
}

void
gw_edge_free(void)
{
	free(clients);
	clients = NULL;
}

/* A refusal of the request's framing: the connection cannot be trusted after it. */
static int
FramingError(struct mg_connection *conn, int status, const char *code, const char *message,
			 const char *details, const char *hint)
{
	return gw_reply_error(conn, status, code, message, details, hint, "Connection: close\r\n");
}

/*
 * Checks on every request before routing: 0, or the HTTP status after
 * replying. Two Content-Length headers (even equal ones), a value that is
 * not digits, Transfer-Encoding together with Content-Length, or two
 * Transfer-Encoding headers are how requests are smuggled past a proxy that
 * reads the framing differently: all refused, and the connection closed.
 */
int
gw_edge_check(GwRequest *req)
{
	const struct mg_request_info *ri = req->ri;
	int			ncl = 0, nte = 0;
	const char *cl = NULL;

	if (!ClientAdmit(req->conn))
	{
		char		details[96];

		snprintf(details, sizeof(details), "%s already has %d connections open", ri->remote_addr,
				 gw_config.client_connections);
		return gw_reply_error(req->conn, 503, "GW503", "too many connections from this address", details,
							  "Reuse fewer connections at once (see client_connections).",
							  "Retry-After: 1\r\nConnection: close\r\n");
	}
	for (int i = 0; i < ri->num_headers; i++)
	{
		if (strcasecmp(ri->http_headers[i].name, "Content-Length") == 0)
			ncl++, cl = ri->http_headers[i].value;
		else if (strcasecmp(ri->http_headers[i].name, "Transfer-Encoding") == 0)
			nte++;
	}
	if (ncl > 1)
		return FramingError(req->conn, 400, "GW400", "more than one Content-Length header", NULL,
							"Send one Content-Length, or none with Transfer-Encoding: chunked.");
	if (ncl == 1 && !Digits(cl))
		return FramingError(req->conn, 400, "GW400", "invalid Content-Length", cl,
							"Content-Length is a number of bytes, digits only.");
	if (nte > 1 || (nte == 1 && ncl == 1))
		return FramingError(req->conn, 400, "GW400",
							nte > 1 ? "more than one Transfer-Encoding header" :
							"both Transfer-Encoding and Content-Length",
							NULL, "Send Content-Length, or Transfer-Encoding: chunked, not both.");
	if (mg_get_header(req->conn, "Upgrade") != NULL)
		return FramingError(req->conn, 400, "GW400", "protocol upgrade not supported",
							mg_get_header(req->conn, "Upgrade"),
							"This API speaks HTTP/1.1 only: send the request without Upgrade.");
	if (ri->query_string != NULL && strlen(ri->query_string) > (size_t) gw_config.query_limit)
	{
		char		details[96];

		snprintf(details, sizeof(details), "%zu bytes; the limit is %ld", strlen(ri->query_string),
				 gw_config.query_limit);
		return gw_reply_error(req->conn, 414, "GW414", "query string too long", details,
							  "Send fewer or shorter query parameters.", NULL);
	}
	return 0;
}

/*
 * civetweb's http_error callback: the errors civetweb makes itself (the
 * request never reached a route) get a status line and the JSON error
 * body like every other reply. Returns 0: handled.
 */
int
gw_edge_http_error(struct mg_connection *conn, int status, const char *msg)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	const char *upgrade = ri != NULL && ri->request_method != NULL ? mg_get_header(conn, "Upgrade") : NULL;

	mg_disable_connection_keep_alive(conn);
	if (upgrade != NULL)		/* a WebSocket request: civetweb has no handler for it */
		return FramingError(conn, 400, "GW400", "protocol upgrade not supported", upgrade,
							"This API speaks HTTP/1.1 only: send the request without Upgrade."), 0;
	switch (status)
	{
		case 411:				/* civetweb: Content-Length is not a number */
			FramingError(conn, 400, "GW400", "invalid Content-Length", NULL,
						 "Content-Length is a number of bytes, digits only.");
			break;
		case 505:
			FramingError(conn, 400, "GW400", "unsupported HTTP version", msg, "Use HTTP/1.1.");
			break;
		case 400:
			/*
			 * "Malformed message": the request line and headers were not
			 * complete when civetweb stopped waiting (header_timeout_ms for
			 * a new connection, keep_alive_timeout_ms for the next request
			 * on one), or they held bytes that are not HTTP.
			 */
			if (ri == NULL || ri->request_method == NULL)
			{
				struct timespec now;
				long		waited, deadline = served_one ? GW_KEEP_ALIVE_TIMEOUT_MS :
					(gw_config.header_timeout_ms < gw_config.request_timeout_ms ?
					 gw_config.header_timeout_ms : gw_config.request_timeout_ms);

				clock_gettime(CLOCK_MONOTONIC, &now);
				waited = (now.tv_sec - wait_start.tv_sec) * 1000L + (now.tv_nsec - wait_start.tv_nsec) / 1000000L;
				if (waited + 50 >= deadline)
				{
					char		details[96];

					snprintf(details, sizeof(details), "the headers were not complete after %ld ms", deadline);
					FramingError(conn, 408, "GW408", "request headers not received in time", details,
								 "Send the request line and headers without pauses.");
				}
				else
					FramingError(conn, 400, "GW400", "malformed request",
								 "the request line and headers are not HTTP, or longer than 65536 bytes",
								 "Send HTTP/1.1 with a request line and headers under 64 KiB.");
			}
			else
				FramingError(conn, 400, "GW400", "malformed request", msg, NULL);
			break;
		default:
			FramingError(conn, status >= 500 ? 500 : 400, status >= 500 ? "GW500" : "GW400",
						 "request refused", msg, NULL);
			break;
	}
	return 0;
}

/*
 * Deferred accept (Linux TCP_DEFER_ACCEPT, as nginx's "deferred"): the
 * kernel hands a connection to civetweb only once its first bytes arrived
 * (or seconds later), so connections opened and left silent wait in the
 * kernel, not in a worker thread. civetweb 1.15 has no option for it: the
 * listening socket is found among our descriptors by its port.
 */
void
gw_edge_defer_accept(int port, int seconds)
{
	for (int fd = 0; fd < 1024; fd++)
	{
		int			listening = 0;
		socklen_t	len = sizeof(listening);
		struct sockaddr_in sa;
		socklen_t	salen = sizeof(sa);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
			continue;
		if (getsockname(fd, (struct sockaddr *) &sa, &salen) != 0 || sa.sin_family != AF_INET ||
			ntohs(sa.sin_port) != port)
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof(seconds)) != 0)
			perror("shilian-gateway: TCP_DEFER_ACCEPT");
	}
}
