/*
 * literal.c — small helpers shared by the input functions of the identifier
 * and quantity types: trimming, and character (not byte) positions for error
 * messages, so "character at position N" counts what the user typed.
 */
#include "shilian.h"

#include "mb/pg_wchar.h"

#include "types.h"

static inline bool
IsAsciiSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

const char *
LiteralTrim(const char *str, int *len)
{
	int			n;

	while (IsAsciiSpace(*str))
		str++;
	n = strlen(str);
	while (n > 0 && IsAsciiSpace(str[n - 1]))
		n--;
	*len = n;
	return str;
}

int
LiteralCharCount(const char *s, int len)
{
	/* the common case, plain ASCII, without the multibyte machinery */
	for (int i = 0; i < len; i++)
		if (IS_HIGHBIT_SET(s[i]))
			return pg_mbstrlen_with_len(s, len);
	return len;
}

int
LiteralCharPos(const char *s, int bytepos)
{
	return pg_mbstrlen_with_len(s, bytepos) + 1;
}

char *
LiteralCharAt(const char *s, int bytepos)
{
	return pnstrdup(s + bytepos, pg_mblen(s + bytepos));
}
