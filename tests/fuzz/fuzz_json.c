/*
 * fuzz_json.c — libFuzzer harness for what stands before every JSON parser
 * of the gateway: the nesting/size scan (extension/core/jsonlimit.c), then
 * jansson with the gateway's flags on whatever the scan lets through. Within
 * the limit no input may crash the parser (a deep document that got past the
 * scan would overflow the fuzzer's stack as it did the gateway's).
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "jsonlimit.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t	   *v;

	if (sl_json_check((const char *) data, size, SL_JSON_MAX_DEPTH, 1 << 20) != SL_JSON_OK)
		return 0;
	v = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (v != NULL)
	{
		/* what parsed can be written again (the gateway echoes bodies in errors) */
		char	   *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (s == NULL)
			abort();
		free(s);
		json_decref(v);
	}
	return 0;
}
