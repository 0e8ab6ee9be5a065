/*
 * jwks.c — the identity provider's public keys (RFC 7517 JWKS), read once at
 * start: RSA keys (n, e) for RS256 and EC P-256 keys (x, y) for ES256 are
 * rebuilt with OpenSSL 3 and kept as PEM, the form libjwt 1.10's jwt_decode
 * verifies with. Tokens select a key by kid (auth.c); each key is bound to
 * one algorithm, so a token can never pick HS256 with a public key as secret.
 */
#include "gateway.h"

#include <errno.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "jsonlimit.h"

#define JWKS_MAX_BYTES (1024 * 1024)
#define JWKS_MAX_KEYS 64
#define RSA_MIN_BITS 2048

static GwJwk *keys;
static int	nkeys;

/* A base64url member of the JWK, decoded; NULL (with a message) when absent or malformed. */
static unsigned char *
Member(json_t *jwk, const char *name, size_t *len, const char *path, const char *kid)
{
	json_t	   *v = json_object_get(jwk, name);
	unsigned char *bytes = NULL;

	if (!json_is_string(v) ||
		(bytes = gw_base64url_decode(json_string_value(v), json_string_length(v), len)) == NULL ||
		*len == 0)
	{
		free(bytes);
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": \"%s\" is missing or not base64url\n",
				path, kid, name);
		return NULL;
	}
	return bytes;
}

/* The public key as a PEM string (malloc'd), or NULL. */
static char *
KeyPem(EVP_PKEY *pkey)
{
	BIO		   *bio = BIO_new(BIO_s_mem());
	char	   *data, *pem = NULL;
	long		len;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
		(len = BIO_get_mem_data(bio, &data)) > 0 && (pem = malloc((size_t) len + 1)) != NULL)
	{
		memcpy(pem, data, (size_t) len);
		pem[len] = '\0';
	}
	BIO_free(bio);
	return pem;
}

/* EVP_PKEY from OSSL_PARAMs of a key type ("RSA", "EC"), public part only. */
static EVP_PKEY *
FromParams(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY   *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static char *
RsaPem(json_t *jwk, const char *path, const char *kid)
{
	size_t		nlen, elen;
	unsigned char *n = Member(jwk, "n", &nlen, path, kid);
	unsigned char *e = n ? Member(jwk, "e", &elen, path, kid) : NULL;
	BIGNUM	   *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY   *pkey = NULL;
	char	   *pem = NULL;

	if (n == NULL || e == NULL)
		goto done;
	bn_n = BN_bin2bn(n, (int) nlen, NULL);
	bn_e = BN_bin2bn(e, (int) elen, NULL);
	if (bn_n == NULL || bn_e == NULL)
		goto done;
	if (BN_num_bits(bn_n) < RSA_MIN_BITS)
	{
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": RSA modulus of %d bits; at least %d are needed\n",
				path, kid, BN_num_bits(bn_n), RSA_MIN_BITS);
		goto done;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
		(pkey = FromParams("RSA", bld)) == NULL || (pem = KeyPem(pkey)) == NULL)
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": not a valid RSA public key\n", path, kid);
done:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return pem;
}

static char *
EcPem(json_t *jwk, const char *path, const char *kid)
{
	json_t	   *crv = json_object_get(jwk, "crv");
	size_t		xlen, ylen;
	unsigned char *x = NULL, *y = NULL;
	unsigned char point[65];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY   *pkey = NULL;
	char	   *pem = NULL;

	if (!json_is_string(crv) || strcmp(json_string_value(crv), "P-256") != 0)
	{
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": only EC keys on curve P-256 (ES256) are supported\n",
				path, kid);
		return NULL;
	}
	if ((x = Member(jwk, "x", &xlen, path, kid)) == NULL || (y = Member(jwk, "y", &ylen, path, kid)) == NULL)
		goto done;
	if (xlen != 32 || ylen != 32)
	{
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": x and y of a P-256 key are 32 bytes each\n", path, kid);
		goto done;
	}
	/* uncompressed point: 0x04 || x || y; fromdata checks it lies on the curve */
	point[0] = 0x04;
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
		!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) ||
		(pkey = FromParams("EC", bld)) == NULL || (pem = KeyPem(pkey)) == NULL)
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": not a valid P-256 public key\n", path, kid);
done:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pem;
}

/*
 * One JWK: 1 when added, 0 when skipped as not for us (another use or
 * algorithm; told on stderr), -1 when malformed.
 */
static int
AddKey(json_t *jwk, const char *path, int index)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *kid = json_string_value(json_object_get(jwk, "kid"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	int			jalg;
	char	   *pem;

	if (!json_is_object(jwk) || kty == NULL || kid == NULL || kid[0] == '\0' || strlen(kid) > 200)
	{
		fprintf(stderr, "shilian-gateway: %s: key %d: every key needs a string kty and a kid (1-200 characters)\n",
				path, index);
		return -1;
	}
	if ((use != NULL && strcmp(use, "sig") != 0) ||
		(alg != NULL && strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0) ||
		(strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0))
	{
		fprintf(stderr, "shilian-gateway: %s: key \"%s\" skipped: only signing keys for RS256 (kty RSA) and ES256 (kty EC) are used\n",
				path, kid);
		return 0;
	}
	jalg = strcmp(kty, "RSA") == 0 ? JWT_ALG_RS256 : JWT_ALG_ES256;
	if (alg != NULL && strcmp(alg, jwt_alg_str((jwt_alg_t) jalg)) != 0)
	{
		fprintf(stderr, "shilian-gateway: %s: key \"%s\": alg %s does not fit kty %s\n", path, kid, alg, kty);
		return -1;
	}
	if (gw_jwks_find(kid) != NULL)
	{
		fprintf(stderr, "shilian-gateway: %s: key id \"%s\" appears twice\n", path, kid);
		return -1;
	}
	pem = jalg == JWT_ALG_RS256 ? RsaPem(jwk, path, kid) : EcPem(jwk, path, kid);
	if (pem == NULL)
		return -1;
	keys[nkeys].kid = strdup(kid);
	keys[nkeys].alg = jalg;
	keys[nkeys].pem = pem;
	nkeys++;
	return 1;
}

int
gw_jwks_load(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *text = NULL;
	size_t		len = 0;
	json_t	   *doc = NULL, *list;
	json_error_t err;
	SlJsonLimit lim;
	int			rc = -1;

	gw_jwks_free();
	if (f == NULL)
	{
		fprintf(stderr, "shilian-gateway: cannot open jwks_file \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	text = malloc(JWKS_MAX_BYTES + 1);
	if (text != NULL)
		len = fread(text, 1, JWKS_MAX_BYTES + 1, f);
	fclose(f);
	if (text == NULL)
		return -1;
	lim = sl_json_check(text, len, SL_JSON_MAX_DEPTH, JWKS_MAX_BYTES);
	if (lim != SL_JSON_OK)
	{
		fprintf(stderr, "shilian-gateway: %s: %s\n", path, sl_json_limit_message(lim));
		goto done;
	}
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	list = json_object_get(doc, "keys");
	if (doc == NULL || !json_is_array(list))
	{
		fprintf(stderr, "shilian-gateway: %s: not a JWKS (an object with a \"keys\" array)%s%s\n", path,
				doc == NULL ? ": " : "", doc == NULL ? err.text : "");
		goto done;
	}
	if (json_array_size(list) > JWKS_MAX_KEYS)
	{
		fprintf(stderr, "shilian-gateway: %s: more than %d keys\n", path, JWKS_MAX_KEYS);
		goto done;
	}
	keys = calloc(json_array_size(list) + 1, sizeof(GwJwk));
	if (keys == NULL)
		goto done;
	for (size_t i = 0; i < json_array_size(list); i++)
		if (AddKey(json_array_get(list, i), path, (int) i) < 0)
			goto done;
	if (nkeys == 0)
	{
		fprintf(stderr, "shilian-gateway: %s: no RS256 or ES256 signing key\n", path);
		goto done;
	}
	rc = 0;
done:
	json_decref(doc);
	free(text);
	if (rc != 0)
		gw_jwks_free();
	return rc;
}

const GwJwk *
gw_jwks_find(const char *kid)
{
	for (int i = 0; i < nkeys; i++)
		if (strcmp(keys[i].kid, kid) == 0)
			return &keys[i];
	return NULL;
}

void
gw_jwks_free(void)
{
	for (int i = 0; i < nkeys; i++)
	{
		free(keys[i].kid);
		free(keys[i].pem);
	}
	free(keys);
	keys = NULL;
	nkeys = 0;
}
