/*
 * htmlbuf.c — the growing buffer of the pages and pictures and the escaping
 * of database values into HTML and SVG (htmlbuf.h).
 */
#include "htmlbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
Reserve(GwBuf *b, size_t more)
{
	size_t		need = b->len + more + 1;

	if (b->failed)
		return false;
	if (need > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 1024;
		char	   *d;

		while (cap < need)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
		{
			b->failed = true;
			return false;
		}
		b->data = d;
		b->cap = cap;
	}
	return true;
}

void
gw_buf_put(GwBuf *b, const char *s, size_t n)
{
	if (!Reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
gw_buf_puts(GwBuf *b, const char *s)
{
	if (s != NULL)
		gw_buf_put(b, s, strlen(s));
}

void
gw_buf_printf(GwBuf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !Reserve(b, (size_t) n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), 0 if malformed. */
static size_t
Utf8Len(const unsigned char *s, size_t n)
{
	size_t		len;
	unsigned	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1F;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0F;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates and beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		(cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	/* U+FFFE and U+FFFF are not XML characters either */
	if (cp == 0xFFFE || cp == 0xFFFF)
		return 0;
	return len;
}

void
gw_buf_escn(GwBuf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t		i = 0,
				run = 0;		/* bytes at p[i - run .. i) to copy as they are */

	if (s == NULL)
		return;
	while (i < n && p[i] != '\0')
	{
		const char *ent = NULL;
		size_t		len = 1;

		switch (p[i])
		{
			case '&': ent = "&amp;"; break;
			case '<': ent = "&lt;"; break;
			case '>': ent = "&gt;"; break;
			case '"': ent = "&quot;"; break;
			case '\'': ent = "&#39;"; break;
			default:
				if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
					ent = "\xEF\xBF\xBD";
				else if (p[i] == 0x7F)
					ent = "\xEF\xBF\xBD";
				else if (p[i] >= 0x80 && (len = Utf8Len(p + i, n - i)) == 0)
				{
					ent = "\xEF\xBF\xBD";
					len = 1;
				}
				break;
		}
		if (ent != NULL)
		{
			gw_buf_put(b, (const char *) p + i - run, run);
			run = 0;
			gw_buf_puts(b, ent);
			i += len;
		}
		else
		{
			run += len;
			i += len;
		}
	}
	gw_buf_put(b, (const char *) p + i - run, run);
}

void
gw_buf_esc(GwBuf *b, const char *s)
{
	if (s != NULL)
		gw_buf_escn(b, s, strlen(s));
}

void
gw_buf_free(GwBuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
