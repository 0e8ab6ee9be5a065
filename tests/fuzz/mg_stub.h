/*
 * mg_stub.h — the in-memory civetweb connection of the gateway's fuzz
 * harness (mg_stub.c, fuzz_http.c).
 */
#ifndef SHILIAN_MG_STUB_H
#define SHILIAN_MG_STUB_H

#include <stddef.h>

#include <civetweb.h>

struct mg_connection
{
	struct mg_request_info ri;
	const char *body;
	size_t		body_len;
	size_t		body_pos;
	void	   *thread;
	void	   *user_data;
	char		out[65536];
	size_t		out_len;
	int			writes;
};

#endif
