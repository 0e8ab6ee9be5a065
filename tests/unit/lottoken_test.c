/*
 * lottoken_test.c — extension/core/lottoken.c against vectors computed
 * independently (Python's hmac module over the construction in
 * docs/security.md), and the checks of sl_lot_token_ok: any case, Crockford's
 * look-alike letters, and refusal of every wrong, short, long or empty token.
 */
#include "lottoken.h"
#include "unit.h"

#include <string.h>

int
main(void)
{
	uint8_t		key[SL_LOT_SECRET_LEN], ff[SL_LOT_SECRET_LEN];
	char		t[SL_LOT_TOKEN_LEN + 1], buf[32];
	int			caught = 0, tries = 0;

	for (int i = 0; i < SL_LOT_SECRET_LEN; i++)
		key[i] = (uint8_t) i;
	memset(ff, 0xff, sizeof(ff));

	CHECK(sl_lot_token(key, sizeof(key), "370102000000000012", t) == 0 && strcmp(t, "bmfekp7gj5") == 0,
		  "vector 1: %s", t);
	CHECK(sl_lot_token(ff, sizeof(ff), "370102000000000021", t) == 0 && strcmp(t, "p1gpjkyq7b") == 0,
		  "vector 2: %s", t);
	CHECK(sl_lot_token(key, 0, "370102000000000012", t) != 0, "an empty key is refused");

	CHECK(sl_lot_token_ok(key, sizeof(key), "370102000000000012", "bmfekp7gj5", 10), "the token is accepted");
	CHECK(sl_lot_token_ok(key, sizeof(key), "370102000000000012", "BMFEKP7GJ5", 10), "in upper case too");
	CHECK(sl_lot_token_ok(ff, sizeof(ff), "370102000000000021", "PIGPJKYQ7B", 10), "I is read as 1");
	CHECK(!sl_lot_token_ok(key, sizeof(key), "370102000000000012", "bmfekp7gj", 9), "a short token is refused");
	CHECK(!sl_lot_token_ok(key, sizeof(key), "370102000000000012", "bmfekp7gj55", 11), "a long token is refused");
	CHECK(!sl_lot_token_ok(key, sizeof(key), "370102000000000012", "", 0), "an empty token is refused");
	CHECK(!sl_lot_token_ok(ff, sizeof(ff), "370102000000000012", "bmfekp7gj5", 10), "another key's token is refused");
	CHECK(!sl_lot_token_ok(key, sizeof(key), "370102000000000029", "bmfekp7gj5", 10), "another code's token is refused");
	/* every single-character change of the token is refused */
	for (int i = 0; i < SL_LOT_TOKEN_LEN; i++)
		for (const char *c = "0123456789abcdefghjkmnpqrstvwxyz"; *c; c++)
		{
			memcpy(buf, "bmfekp7gj5", 11);
			if (buf[i] == *c)
				continue;
			buf[i] = *c;
			tries++;
			caught += !sl_lot_token_ok(key, sizeof(key), "370102000000000012", buf, 10);
		}
	CHECK(caught == tries, "every one-character change refused (%d of %d)", caught, tries);
	return UNIT_DONE();
}
