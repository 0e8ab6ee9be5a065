/*
 * jsonin.c — the one way the gateway parses JSON text. Every text is first
 * scanned by sl_json_check (extension/core/jsonlimit.c) for nesting depth
 * and size, so no request can drive jansson's recursive parser, or a
 * recursive consumer after it, deep enough to exhaust a worker's stack.
 */
#include "gateway.h"

#include <stdio.h>
#include <string.h>

/* 0 when text is within the limits, else the HTTP status (400 deep, 413 large). */
int
gw_json_limit(const char *text, size_t len, size_t max_size, GwJsonError *err)
{
	SlJsonLimit r = sl_json_check(text, len, SL_JSON_MAX_DEPTH, max_size);

	memset(err, 0, sizeof(*err));
	err->limit = r;
	switch (r)
	{
		case SL_JSON_OK:
			return 0;
		case SL_JSON_TOO_DEEP:
			err->status = 400;
			snprintf(err->message, sizeof(err->message), "%s", sl_json_limit_message(r));
			snprintf(err->details, sizeof(err->details),
					 "more than %d levels of nested arrays and objects", SL_JSON_MAX_DEPTH);
			return err->status;
		case SL_JSON_TOO_LARGE:
			err->status = 413;
			snprintf(err->message, sizeof(err->message), "%s", sl_json_limit_message(r));
			snprintf(err->details, sizeof(err->details), "%zu bytes; the limit is %zu", len, max_size);
			return err->status;
	}
	return 0;
}

/*
 * Parse len bytes of JSON with jansson's flags, after the limit check
 * (max_size 0: no size bound). NULL with err filled when refused: status
 * 400 (malformed or too deep) or 413 (too large); err->parse holds
 * jansson's error when the parser refused.
 */
json_t *
gw_json_load(const char *text, size_t len, size_t flags, size_t max_size, GwJsonError *err)
{
	json_t	   *v;

	if (gw_json_limit(text, len, max_size, err) != 0)
		return NULL;
	v = json_loadb(text, len, flags, &err->parse);
	if (v == NULL)
	{
		err->status = 400;
		snprintf(err->message, sizeof(err->message), "malformed JSON");
		snprintf(err->details, sizeof(err->details), "%s (line %d, column %d)", err->parse.text,
				 err->parse.line, err->parse.column);
	}
	return v;
}

/*
 * The standard error reply for a refused JSON text; what names the text
 * ("body"): "malformed JSON body", or the limit's message with what in the
 * details.
 */
int
gw_reply_json_refused(struct mg_connection *conn, const GwJsonError *err, const char *what,
					  const char *hint)
{
	char		message[128], details[320];

	if (err->limit == SL_JSON_OK)
	{
		snprintf(message, sizeof(message), "%s %s", err->message, what);
		return gw_reply_error(conn, 400, "GW400", message, err->details, hint, NULL);
	}
	snprintf(details, sizeof(details), "%s: %s", what, err->details);
	return gw_reply_error(conn, err->status, err->status == 413 ? "GW413" : "GW400", err->message,
						  details, hint, NULL);
}
