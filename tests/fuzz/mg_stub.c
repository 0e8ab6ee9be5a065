/*
 * mg_stub.c — the part of civetweb's API that the gateway's request path
 * uses, over an in-memory request (fuzz_http.c): the request line, headers
 * and body come from the fuzz input, replies are collected and checked. The
 * gateway's own code (routing, framing checks, authentication, body reading,
 * JSON limits, field checks) runs unchanged; only civetweb's socket layer
 * is replaced.
 */
#include "mg_stub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct mg_request_info *
mg_get_request_info(const struct mg_connection *conn)
{
	return &conn->ri;
}

const char *
mg_get_header(const struct mg_connection *conn, const char *name)
{
	for (int i = 0; i < conn->ri.num_headers; i++)
		if (strcasecmp(conn->ri.http_headers[i].name, name) == 0)
			return conn->ri.http_headers[i].value;
	return NULL;
}

int
mg_read(struct mg_connection *conn, void *buf, size_t len)
{
	size_t		n = conn->body_len - conn->body_pos;

	if (n > len)
		n = len;
	/* at most 7 bytes a call, so every read loop meets short reads */
	if (n > 7 && (conn->body_pos & 1))
		n = 7;
	memcpy(buf, conn->body + conn->body_pos, n);
	conn->body_pos += n;
	return (int) n;
}

int
mg_write(struct mg_connection *conn, const void *buf, size_t len)
{
	if (conn->out_len + len > sizeof(conn->out) - 1)
		len = sizeof(conn->out) - 1 - conn->out_len;
	memcpy(conn->out + conn->out_len, buf, len);
	conn->out_len += len;
	conn->out[conn->out_len] = '\0';
	conn->writes++;
	return (int) len;
}

void *
mg_get_thread_pointer(const struct mg_connection *conn)
{
	return conn->thread;
}

void
mg_set_user_connection_data(const struct mg_connection *conn, void *data)
{
	((struct mg_connection *) conn)->user_data = data;
}

void *
mg_get_user_connection_data(const struct mg_connection *conn)
{
	return conn->user_data;
}

void
mg_disable_connection_keep_alive(struct mg_connection *conn)
{
}

/* civetweb's form-variable lookup: name=value pairs split by &, %XX and + decoded. */
int
mg_get_var(const char *data, size_t data_len, const char *name, char *dst, size_t dst_len)
{
	size_t		name_len = strlen(name);
	const char *p = data, *e = data + data_len;

	if (dst == NULL || dst_len == 0)
		return -2;
	dst[0] = '\0';
	if (data == NULL)
		return -1;
	for (; p + name_len < e; p++)
	{
		if ((p == data || p[-1] == '&') && p[name_len] == '=' && strncasecmp(name, p, name_len) == 0)
		{
			const char *v = p + name_len + 1, *end = memchr(v, '&', (size_t) (e - v));
			size_t		o = 0;

			if (end == NULL)
				end = e;
			for (; v < end; v++)
			{
				char		c = *v;

				if (c == '%' && end - v > 2 && strchr("0123456789abcdefABCDEF", v[1]) && strchr("0123456789abcdefABCDEF", v[2]))
				{
					char		hex[3] = {v[1], v[2], 0};

					c = (char) strtol(hex, NULL, 16);
					v += 2;
				}
				else if (c == '+')
					c = ' ';
				if (o + 1 >= dst_len)
				{
					dst[0] = '\0';
					return -2;
				}
				dst[o++] = c;
			}
			dst[o] = '\0';
			return (int) o;
		}
	}
	return -1;
}

/* civetweb's URL decoding: %XX, and + as a space in a form; -1 when dst is too small. */
int
mg_url_decode(const char *src, int src_len, char *dst, int dst_len, int is_form_url_encoded)
{
	int			i, j;

	for (i = j = 0; i < src_len && j < dst_len - 1; i++, j++)
	{
		if (src[i] == '%' && i + 2 < src_len && strchr("0123456789abcdefABCDEF", src[i + 1]) &&
			strchr("0123456789abcdefABCDEF", src[i + 2]))
		{
			char		hex[3] = {src[i + 1], src[i + 2], 0};

			dst[j] = (char) strtol(hex, NULL, 16);
			i += 2;
		}
		else if (is_form_url_encoded && src[i] == '+')
			dst[j] = ' ';
		else
			dst[j] = src[i];
	}
	dst[j] = '\0';
	return i >= src_len ? j : -1;
}
