/*
 * digest_test.c — extension/core/digest.c on the published SHA-256 and SM3
 * vectors (tests/data/hash-vectors.json, copied inline here so the test has
 * no JSON dependency), and incremental hashing equal to one-shot hashing.
 */
#include "digest.h"
#include "unit.h"

#include <string.h>

static void
Hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SL_DIGEST_LEN; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

int
main(void)
{
	static const struct { const char *msg, *sha256, *sm3; } v[] = {
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		 "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		 "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"},
		{"abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd",
		 "625b41490b883891943c5fa54ad45d7c900b9b6e91e159334e320b1f5215a209",
		 "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"},
	};
	uint8_t		d[SL_DIGEST_LEN];
	char		hex[2 * SL_DIGEST_LEN + 1];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
	{
		CHECK(sl_digest(SL_DIGEST_SHA256, v[i].msg, strlen(v[i].msg), d) == 0, "sha256 runs");
		Hex(d, hex);
		CHECK(strcmp(hex, v[i].sha256) == 0, "sha256(\"%.8s\") matches FIPS 180-4", v[i].msg);
		CHECK(sl_digest(SL_DIGEST_SM3, v[i].msg, strlen(v[i].msg), d) == 0, "sm3 runs");
		Hex(d, hex);
		CHECK(strcmp(hex, v[i].sm3) == 0, "sm3(\"%.8s\") matches GB/T 32905", v[i].msg);
	}

	/* incremental = one-shot, byte by byte */
	{
		SlDigestCtx *ctx = sl_digest_new();
		uint8_t		d2[SL_DIGEST_LEN];
		const char *m = v[2].msg;

		CHECK(ctx != NULL && sl_digest_init(ctx, SL_DIGEST_SM3) == 0, "sm3 context");
		for (size_t i = 0; i < strlen(m); i++)
			sl_digest_update(ctx, m + i, 1);
		sl_digest_final(ctx, d2);
		sl_digest(SL_DIGEST_SM3, m, strlen(m), d);
		CHECK(memcmp(d, d2, SL_DIGEST_LEN) == 0, "incremental sm3 equals one-shot");
		sl_digest_free(ctx);
	}

	CHECK(sl_digest_from_name("SM3") == SL_DIGEST_SM3, "names are case-insensitive");
	CHECK(sl_digest_from_name("md5") == SL_DIGEST_INVALID, "unknown names are refused");
	CHECK(sl_digest(SL_DIGEST_INVALID, "", 0, d) != 0, "an invalid id fails");
	return UNIT_DONE();
}
