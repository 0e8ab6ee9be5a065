/*
 * jsonlimit.h — bounds on JSON text checked before any parser sees it, so a
 * deeply nested document cannot exhaust a stack (jansson recurses once per
 * level; so does every recursive consumer). Pure C, no PostgreSQL headers:
 * shared by the gateway, the extension and the fuzz and unit tests.
 */
#ifndef SHILIAN_JSONLIMIT_H
#define SHILIAN_JSONLIMIT_H

#include <stddef.h>

/* The platform's limit: no real document of ours nests deeper than this. */
#define SL_JSON_MAX_DEPTH 64

typedef enum SlJsonLimit
{
	SL_JSON_OK = 0,
	SL_JSON_TOO_DEEP,			/* more than max_depth nested arrays/objects */
	SL_JSON_TOO_LARGE			/* more than max_size bytes */
} SlJsonLimit;

/*
 * Scan len bytes of JSON text (not necessarily valid JSON, and not
 * NUL-terminated) and say whether its nesting of [ and { outside strings
 * stays within max_depth and its length within max_size (0: no size bound).
 * The top-level value counts as depth 1. Never reads past len; linear time,
 * constant space. Validity is left to the parser that runs afterwards.
 */
SlJsonLimit sl_json_check(const char *text, size_t len, int max_depth, size_t max_size);

/* A fixed English phrase for a result, for error messages. */
const char *sl_json_limit_message(SlJsonLimit r);

#endif
