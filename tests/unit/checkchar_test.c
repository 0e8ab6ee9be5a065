/*
 * checkchar_test.c — extension/core/checkchar.c on the published vectors
 * (tests/data/identifier-vectors.json, copied inline) and, for Damm, an
 * exhaustive proof on sample codes that every single-digit error and every
 * adjacent transposition is detected.
 */
#include "checkchar.h"
#include "unit.h"

#include <string.h>

/* Every single-digit substitution and adjacent transposition of a valid code is invalid. */
static void
DammExhaustive(const char *code)
{
	size_t		n = strlen(code);
	char		buf[64];
	int			singles = 0,
				singles_caught = 0,
				swaps = 0,
				swaps_caught = 0;

	CHECK(sl_damm_valid(code, n), "damm: %s is valid", code);
	for (size_t i = 0; i < n; i++)
		for (char d = '0'; d <= '9'; d++)
		{
			if (d == code[i])
				continue;
			memcpy(buf, code, n + 1);
			buf[i] = d;
			singles++;
			singles_caught += !sl_damm_valid(buf, n);
		}
	for (size_t i = 0; i + 1 < n; i++)
	{
		if (code[i] == code[i + 1])
			continue;
		memcpy(buf, code, n + 1);
		buf[i] = code[i + 1];
		buf[i + 1] = code[i];
		swaps++;
		swaps_caught += !sl_damm_valid(buf, n);
	}
	CHECK(singles == 9 * (int) n && singles_caught == singles,
		  "damm: all %d single-digit errors of %s detected", singles, code);
	CHECK(swaps > 0 && swaps_caught == swaps,
		  "damm: all %d adjacent transpositions of %s detected", swaps, code);
}

int
main(void)
{
	/* USCC (GB 32100-2015): valid codes and the check character of invalid ones */
	static const char *uscc_valid[] = {"914403001922038216", "91440300708461136T", "91350100M000100Y43"};
	char		buf[64];

	for (size_t i = 0; i < 3; i++)
		CHECK(sl_uscc_check_char(uscc_valid[i]) == uscc_valid[i][17], "uscc %s checks out", uscc_valid[i]);
	CHECK(sl_uscc_check_char("91350100M000100Y4Z") == '3', "uscc 91350100M000100Y4Z should end in 3");
	CHECK(sl_uscc_check_char("914403001922038217") == '6', "uscc 914403001922038217 should end in 6");
	CHECK(sl_uscc_check_char("914403001922O38216") == 0, "uscc with O has no check character");
	CHECK(strlen(sl_uscc_charset) == 31, "uscc charset has 31 characters");
	/* against a direct transcription of the formula, on unit vectors */
	{
		int			all = 1,
					w = 1;

		for (int i = 0; i < 17; i++)
		{
			for (int v = 1; v < 31; v++)
			{
				memset(buf, '0', 17);
				buf[i] = sl_uscc_charset[v];
				buf[17] = '\0';
				if (sl_uscc_check_char(buf) != sl_uscc_charset[(31 - v * w % 31) % 31])
					all = 0;
			}
			w = w * 3 % 31;
		}
		CHECK(all, "uscc check character is (31 - sum(value * 3^(i-1) mod 31) mod 31) mod 31");
	}
	for (int v = 0; v < 31; v++)
		if (sl_uscc_char_value(sl_uscc_charset[v]) != v)
			CHECK(0, "uscc value of %c", sl_uscc_charset[v]);
	CHECK(sl_uscc_char_value('I') < 0 && sl_uscc_char_value('O') < 0 && sl_uscc_char_value('S') < 0 &&
		  sl_uscc_char_value('V') < 0 && sl_uscc_char_value('Z') < 0 && sl_uscc_char_value('a') < 0,
		  "uscc: I O S V Z and lower case are outside the set");
	/* charset in ASCII order, so value order sorts like text */
	for (int v = 1; v < 31; v++)
		if (sl_uscc_charset[v - 1] >= sl_uscc_charset[v])
			CHECK(0, "uscc charset ascending at %d", v);
	/* every single-character error in the body changes the check character */
	{
		const char *base = "91350100M000100Y43";
		int			all = 1;

		for (int i = 0; i < 17; i++)
			for (int v = 0; v < 31; v++)
			{
				if (sl_uscc_charset[v] == base[i])
					continue;
				memcpy(buf, base, 19);
				buf[i] = sl_uscc_charset[v];
				if (sl_uscc_check_char(buf) == base[17])
					all = 0;
			}
		CHECK(all, "uscc: every single-character change of the body changes the check character");
	}

	/* ISO/IEC 7064 MOD 11,10 on the licence vectors (13 digits after the prefix) */
	static const char *lic[] = {"SC11834020305037", "SC12744040400094", "JY13301080111719", "JY23501110153674"};

	for (size_t i = 0; i < 4; i++)
		CHECK(sl_mod11_10_check_digit(lic[i] + 2, 13) == lic[i][15], "mod 11,10 of %s", lic[i]);
	CHECK(sl_mod11_10_check_digit("0794", 4) == '5', "mod 11,10 of 0794 is 5 (ISO/IEC 7064 example)");
	CHECK(sl_mod11_10_check_digit("12A", 3) == 0, "mod 11,10 refuses a non-digit");

	/* Damm: the published example and exhaustive detection on sample codes */
	CHECK(sl_damm_check_digit("572", 3) == '4', "damm of 572 is 4 (Damm 2004 example)");
	CHECK(sl_damm_valid("5724", 4) && !sl_damm_valid("5274", 4), "damm 5724 valid, 5274 not");
	CHECK(sl_damm_check_digit("57a", 3) == 0 && !sl_damm_valid("", 0), "damm refuses non-digits and empty input");
	{
		static const char *bodies[] = {"37010200000000001", "37028112345678901", "11000099999999999",
									   "82000000000000000", "37048101234567890", "37020209876543210"};

		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		{
			size_t		n = strlen(bodies[i]);

			memcpy(buf, bodies[i], n);
			buf[n] = sl_damm_check_digit(bodies[i], n);
			buf[n + 1] = '\0';
			DammExhaustive(buf);
		}
	}
	/* and for every 4-digit body: all single errors and transpositions */
	{
		int			missed = 0;

		for (int x = 0; x < 10000; x++)
		{
			char		code[6],
						mut[6];

			code[0] = (char) ('0' + x / 1000);
			code[1] = (char) ('0' + x / 100 % 10);
			code[2] = (char) ('0' + x / 10 % 10);
			code[3] = (char) ('0' + x % 10);
			code[4] = sl_damm_check_digit(code, 4);
			code[5] = '\0';
			for (int i = 0; i < 5; i++)
			{
				for (char d = '0'; d <= '9'; d++)
				{
					if (d == code[i])
						continue;
					memcpy(mut, code, 6);
					mut[i] = d;
					missed += sl_damm_valid(mut, 5);
				}
				if (i < 4 && code[i] != code[i + 1])
				{
					memcpy(mut, code, 6);
					mut[i] = code[i + 1];
					mut[i + 1] = code[i];
					missed += sl_damm_valid(mut, 5);
				}
			}
		}
		CHECK(missed == 0, "damm: all 10000 5-digit codes catch every single error and adjacent transposition");
	}

	/* GS1 mod 10 on the GS1 vectors */
	static const char *gs1_valid[] = {"6901234567892", "4006381333931", "09506000134352", "036000291452",
									  "96385074", "106141411234567897", "9436465792104"};
	static const char *gs1_invalid[] = {"6901234567893", "106141411234567898", "6901234567B92"};

	for (size_t i = 0; i < 7; i++)
		CHECK(sl_gs1_valid(gs1_valid[i], strlen(gs1_valid[i])), "gs1 %s valid", gs1_valid[i]);
	for (size_t i = 0; i < 3; i++)
		CHECK(!sl_gs1_valid(gs1_invalid[i], strlen(gs1_invalid[i])), "gs1 %s invalid", gs1_invalid[i]);
	CHECK(sl_gs1_check_digit("690123456789", 12) == '2', "gs1 check digit of 690123456789 is 2");

	return UNIT_DONE();
}
