/*
 * lottoken.h — the per-lot public token: a keyed tag of a trace code that the
 * code's public trace page asks for, so that the public lookup cannot be
 * enumerated from the (public) code format. Pure C over OpenSSL, no
 * PostgreSQL headers: the extension and the unit tests share it.
 * docs/security.md describes the construction.
 */
#ifndef SHILIAN_LOTTOKEN_H
#define SHILIAN_LOTTOKEN_H

#include <stddef.h>
#include <stdint.h>

#define SL_LOT_TOKEN_LEN 10		/* Crockford base32 characters: 50 bits */
#define SL_LOT_SECRET_LEN 32	/* bytes of the per-database key */

/*
 * The token of a code (its 18-digit text) under a secret:
 * HMAC-SHA256(secret, "shilian-lot-token-v1" 0x00 code), the first 50 bits
 * as 10 lower-case Crockford base32 characters into out (NUL-terminated).
 * 0 on success, -1 on failure.
 */
int sl_lot_token(const uint8_t *secret, size_t secret_len, const char *code,
				 char out[SL_LOT_TOKEN_LEN + 1]);

/*
 * 1 when token (len bytes, any case; Crockford's i/l read as 1 and o as 0)
 * is the code's token, else 0. The comparison takes the same time whatever
 * the token holds, so no answer tells how much of a guess was right.
 */
int sl_lot_token_ok(const uint8_t *secret, size_t secret_len, const char *code,
					const char *token, size_t len);

#endif
