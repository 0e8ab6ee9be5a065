/*
 * fuzz_canon.c — libFuzzer harness for the canonical-body reader that
 * shilian-verify runs on exported ledgers (hostile input by design): a body
 * the validator accepts must render as JSON, and nothing may read out of
 * bounds. The second half fuzzes the RFC 9162 proof checks with arbitrary
 * sizes, indexes and paths: they must answer, never crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "merkle.h"

static void *
Grow(void *old, size_t newcap)
{
	return realloc(old, newcap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static SlHasher h;

	if (h.ctx == NULL)
	{
		h.ctx = sl_digest_new();
		h.alg = SL_DIGEST_SHA256;
	}
	if (size > 0 && (data[0] & 1) == 0)
	{
		SlBuf		out;

		if (sl_canon_validate(data + 1, size - 1) == NULL)
		{
			sl_buf_init(&out, Grow);
			if (sl_canon_to_json(data + 1, size - 1, &out) != 0 || out.failed)
				abort();		/* validated but not renderable */
			free(out.data);
		}
		(void) sl_canon_number_ok((const char *) data + 1, size - 1);
	}
	else if (size >= 1 + 8 + 8 + 32 + 32)
	{
		uint64_t	a, b;
		const uint8_t *p = data + 1;
		uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
		int			count;

		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		count = (int) ((size - 1 - 80) / SL_DIGEST_LEN);
		if (count > SL_MERKLE_MAX_PROOF)
			count = SL_MERKLE_MAX_PROOF;
		memcpy(proof, p + 80, (size_t) count * SL_DIGEST_LEN);
		(void) sl_merkle_verify_inclusion(&h, a, b, p + 16, (const uint8_t (*)[SL_DIGEST_LEN]) proof, count, p + 48);
		(void) sl_merkle_verify_consistency(&h, a, b, p + 16, p + 48, (const uint8_t (*)[SL_DIGEST_LEN]) proof, count);
	}
	return 0;
}
