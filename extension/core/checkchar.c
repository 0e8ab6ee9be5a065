/*
 * checkchar.c — the check-character algorithms of checkchar.h. Each takes
 * plain characters and returns a character, so callers can name the expected
 * check character in their error messages.
 */
#include "checkchar.h"

const char	sl_uscc_charset[32] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* value + 1 of each character of the set, 0 for every other byte */
static const unsigned char uscc_value_plus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
	['F'] = 16, ['G'] = 17, ['H'] = 18, ['J'] = 19, ['K'] = 20, ['L'] = 21, ['M'] = 22,
	['N'] = 23, ['P'] = 24, ['Q'] = 25, ['R'] = 26, ['T'] = 27, ['U'] = 28, ['W'] = 29,
	['X'] = 30, ['Y'] = 31
};

int
sl_uscc_char_value(int c)
{
	if (c < 0 || c > 255)
		return -1;
	return (int) uscc_value_plus1[c] - 1;
}

/* 3^(i-1) mod 31 for i = 1..17 (GB 32100-2015, table 3) */
static const unsigned char uscc_weights[SL_USCC_LEN - 1] = {
	1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
};

char
sl_uscc_check_char(const char *first17)
{
	int			sum = 0;

	for (int i = 0; i < SL_USCC_LEN - 1; i++)
	{
		int			v = (int) uscc_value_plus1[(unsigned char) first17[i]] - 1;

		if (v < 0)
			return 0;
		sum += v * uscc_weights[i];
	}
	return sl_uscc_charset[(31 - sum % 31) % 31];
}

char
sl_mod11_10_check_digit(const char *digits, size_t n)
{
	int			p = 10;

	for (size_t i = 0; i < n; i++)
	{
		int			s;

		if (digits[i] < '0' || digits[i] > '9')
			return 0;
		s = (p + digits[i] - '0') % 10;
		if (s == 0)
			s = 10;
		p = s * 2 % 11;
	}
	/* the check digit c makes (p + c) mod 10 == 1 */
	return (char) ('0' + (11 - p) % 10);
}

/* H. Michael Damm's totally anti-symmetric quasigroup of order 10 (2004). */
static const unsigned char damm_table[10][10] = {
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
};

/* The Damm interim digit of n digits; -1 if one is not a digit. */
static int
DammInterim(const char *digits, size_t n)
{
	int			interim = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (digits[i] < '0' || digits[i] > '9')
			return -1;
		interim = damm_table[interim][digits[i] - '0'];
	}
	return interim;
}

char
sl_damm_check_digit(const char *digits, size_t n)
{
	int			interim = DammInterim(digits, n);

	/* the table has a zero diagonal, so appending the interim gives 0 */
	return interim < 0 ? 0 : (char) ('0' + interim);
}

bool
sl_damm_valid(const char *digits, size_t n)
{
	return n > 0 && DammInterim(digits, n) == 0;
}

char
sl_gs1_check_digit(const char *digits, size_t n)
{
	int			sum = 0;

	for (size_t i = 0; i < n; i++)
	{
		const char	d = digits[n - 1 - i];

		if (d < '0' || d > '9')
			return 0;
		sum += (d - '0') * (i % 2 == 0 ? 3 : 1);
	}
	return (char) ('0' + (10 - sum % 10) % 10);
}

bool
sl_gs1_valid(const char *digits, size_t n)
{
	return n >= 2 && sl_gs1_check_digit(digits, n - 1) == digits[n - 1];
}
