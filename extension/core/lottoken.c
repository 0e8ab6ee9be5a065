/*
 * lottoken.c — the per-lot public token (lottoken.h): HMAC-SHA256 of the
 * trace code under the database's secret, truncated to 50 bits, written in
 * Crockford's base32 so that it reads well on a label and in a URL.
 */
#include "lottoken.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char crockford[] = "0123456789abcdefghjkmnpqrstvwxyz";
static const char domain[] = "shilian-lot-token-v1";

int
sl_lot_token(const uint8_t *secret, size_t secret_len, const char *code,
			 char out[SL_LOT_TOKEN_LEN + 1])
{
	uint8_t		msg[sizeof(domain) + 64];
	uint8_t		mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t		clen = strlen(code);
	uint64_t	bits = 0;

	if (secret_len == 0 || clen > 64)
		return -1;
	/* the domain string with its NUL, then the code */
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), code, clen);
	if (HMAC(EVP_sha256(), secret, (int) secret_len, msg, sizeof(domain) + clen, mac, &maclen) == NULL
		|| maclen < 8)
		return -1;
	for (int i = 0; i < 8; i++)
		bits = (bits << 8) | mac[i];
	/* the first 50 bits, five at a time, most significant first */
	for (int i = 0; i < SL_LOT_TOKEN_LEN; i++)
		out[i] = crockford[(bits >> (64 - 5 * (i + 1))) & 31];
	out[SL_LOT_TOKEN_LEN] = '\0';
	return 0;
}

/* A token character as the canonical one (lower case, i/l → 1, o → 0). */
static char
Canonical(char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (char) (c - 'A' + 'a');
	if (c == 'i' || c == 'l')
		return '1';
	if (c == 'o')
		return '0';
	return c;
}

int
sl_lot_token_ok(const uint8_t *secret, size_t secret_len, const char *code,
				const char *token, size_t len)
{
	char		want[SL_LOT_TOKEN_LEN + 1];
	unsigned	diff;

	if (sl_lot_token(secret, secret_len, code, want) != 0)
		return 0;
	/* every position is compared whatever the length, so the time is the same */
	diff = len != SL_LOT_TOKEN_LEN;
	for (size_t i = 0; i < SL_LOT_TOKEN_LEN; i++)
		diff |= (unsigned) (unsigned char) (Canonical(i < len ? token[i] : '\0') ^ want[i]);
	return diff == 0;
}
