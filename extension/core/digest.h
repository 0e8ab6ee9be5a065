/*
 * digest.h — the hash functions of the ledger (SHA-256, SM3) over OpenSSL EVP.
 * Pure C, no PostgreSQL headers: shared by the extension, shilian-verify and
 * the unit tests. The numeric ids are stored with every ledger entry.
 */
#ifndef SHILIAN_DIGEST_H
#define SHILIAN_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define SL_DIGEST_LEN 32 /* both SHA-256 and SM3 give 32 bytes */

typedef enum SlDigestAlg
{
	SL_DIGEST_INVALID = 0,
	SL_DIGEST_SHA256 = 1,
	SL_DIGEST_SM3 = 2
} SlDigestAlg;

/* Incremental hashing; the context is opaque (an EVP_MD_CTX). */
typedef struct SlDigestCtx SlDigestCtx;

/* "sha256" / "sm3" (case-insensitive) to an id; SL_DIGEST_INVALID if unknown. */
SlDigestAlg sl_digest_from_name(const char *name);
const char *sl_digest_name(SlDigestAlg alg);

/* One-shot digest of len bytes into out[SL_DIGEST_LEN]; 0 on success. */
int sl_digest(SlDigestAlg alg, const void *data, size_t len, uint8_t *out);

/* NULL on failure (unknown algorithm or out of memory). */
SlDigestCtx *sl_digest_new(void);
void sl_digest_free(SlDigestCtx *ctx);
int sl_digest_init(SlDigestCtx *ctx, SlDigestAlg alg);
int sl_digest_update(SlDigestCtx *ctx, const void *data, size_t len);
int sl_digest_final(SlDigestCtx *ctx, uint8_t *out);

#endif
