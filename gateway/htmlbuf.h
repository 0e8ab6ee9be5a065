/*
 * htmlbuf.h — a growing text buffer for the pages, labels and pictures the
 * gateway draws (HTML and SVG), with the one escaping function every value
 * from the database goes through. Pure C (no civetweb, no libpq): the unit
 * test tests/unit/htmlbuf_test.c links it alone.
 */
#ifndef SHILIAN_HTMLBUF_H
#define SHILIAN_HTMLBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct GwBuf
{
	char	   *data;			/* NUL-terminated; NULL until the first append */
	size_t		len;
	size_t		cap;
	bool		failed;			/* an allocation failed: the text is incomplete */
} GwBuf;

void		gw_buf_put(GwBuf *b, const char *s, size_t n);
void		gw_buf_puts(GwBuf *b, const char *s);
void		gw_buf_printf(GwBuf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/*
 * Append text escaped for HTML and XML, in element content and in quoted
 * attribute values alike: & < > " ' become entities; control characters
 * other than tab, newline and carriage return (not allowed in XML 1.0) and
 * malformed UTF-8 bytes become U+FFFD, so a database value can neither open
 * markup nor make an SVG unparsable. NULL appends nothing.
 */
void		gw_buf_esc(GwBuf *b, const char *s);
/* The same for at most n bytes of s. */
void		gw_buf_escn(GwBuf *b, const char *s, size_t n);
void		gw_buf_free(GwBuf *b);

#endif
