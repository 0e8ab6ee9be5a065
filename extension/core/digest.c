/*
 * digest.c — SHA-256 and SM3 through OpenSSL's EVP interface. The message
 * digest objects are fetched once per process: a fetch per call would cost
 * more than hashing a ledger entry.
 */
#include "digest.h"

#include <openssl/evp.h>
#include <strings.h>

struct SlDigestCtx
{
	EVP_MD_CTX *md;
};

static const EVP_MD *
digest_md(SlDigestAlg alg)
{
	static EVP_MD *sha256, *sm3;

	switch (alg)
	{
		case SL_DIGEST_SHA256:
			if (sha256 == NULL)
				sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
			return sha256;
		case SL_DIGEST_SM3:
			if (sm3 == NULL)
				sm3 = EVP_MD_fetch(NULL, "SM3", NULL);
			return sm3;
		default:
			return NULL;
	}
}

SlDigestAlg
sl_digest_from_name(const char *name)
{
	if (name == NULL)
		return SL_DIGEST_INVALID;
	if (strcasecmp(name, "sha256") == 0 || strcasecmp(name, "sha-256") == 0)
		return SL_DIGEST_SHA256;
	if (strcasecmp(name, "sm3") == 0)
		return SL_DIGEST_SM3;
	return SL_DIGEST_INVALID;
}

const char *
sl_digest_name(SlDigestAlg alg)
{
	switch (alg)
	{
		case SL_DIGEST_SHA256:
			return "sha256";
		case SL_DIGEST_SM3:
			return "sm3";
		default:
			return NULL;
	}
}

int
sl_digest(SlDigestAlg alg, const void *data, size_t len, uint8_t *out)
{
	const EVP_MD *md = digest_md(alg);
	unsigned int outlen = 0;

	if (md == NULL)
		return -1;
	if (EVP_Digest(data, len, out, &outlen, md, NULL) != 1 || outlen != SL_DIGEST_LEN)
		return -1;
	return 0;
}

SlDigestCtx *
sl_digest_new(void)
{
	SlDigestCtx *ctx;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL)
		return NULL;
	ctx = OPENSSL_malloc(sizeof(*ctx));
	if (ctx == NULL)
	{
		EVP_MD_CTX_free(md);
		return NULL;
	}
	ctx->md = md;
	return ctx;
}

void
sl_digest_free(SlDigestCtx *ctx)
{
	if (ctx == NULL)
		return;
	EVP_MD_CTX_free(ctx->md);
	OPENSSL_free(ctx);
}

int
sl_digest_init(SlDigestCtx *ctx, SlDigestAlg alg)
{
	const EVP_MD *md = digest_md(alg);

	if (md == NULL)
		return -1;
	return EVP_DigestInit_ex(ctx->md, md, NULL) == 1 ? 0 : -1;
}

int
sl_digest_update(SlDigestCtx *ctx, const void *data, size_t len)
{
	return EVP_DigestUpdate(ctx->md, data, len) == 1 ? 0 : -1;
}

int
sl_digest_final(SlDigestCtx *ctx, uint8_t *out)
{
	unsigned int outlen = 0;

	if (EVP_DigestFinal_ex(ctx->md, out, &outlen) != 1 || outlen != SL_DIGEST_LEN)
		return -1;
	return 0;
}
