/*
 * htmlbuf_test.c — gateway/htmlbuf.c: the one escaping function of the
 * pages and pictures (gw_buf_esc) on markup, quotes, control characters,
 * malformed UTF-8 and Chinese text, and the buffer growing past its start.
 */
#include "htmlbuf.h"
#include "unit.h"

#include <string.h>

static void
Esc(const char *in, size_t n, const char *want, const char *what)
{
	GwBuf		b = {0};

	gw_buf_escn(&b, in, n);
	CHECK(b.data != NULL ? strcmp(b.data, want) == 0 : want[0] == '\0', "%s: got [%s]", what,
		  b.data ? b.data : "");
	gw_buf_free(&b);
}

#define ESC(in, want, what) Esc(in, strlen(in), want, what)

int
main(void)
{
	GwBuf		b = {0};

	ESC("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;", "tags");
	ESC("a & b", "a &amp; b", "ampersand");
	ESC("\"x\" 'y'", "&quot;x&quot; &#39;y&#39;", "both quotes (attribute values)");
	ESC("&amp;", "&amp;amp;", "an entity is escaped again, not trusted");
	ESC("济南鲁味食品有限公司", "济南鲁味食品有限公司", "Chinese passes as it is");
	ESC("a\tb\nc\rd", "a\tb\nc\rd", "tab, newline, carriage return kept");
	ESC("a\x01" "b\x1b" "c\x7f", "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD", "control characters replaced");
	ESC("x\xC3(", "x\xEF\xBF\xBD(", "truncated UTF-8 replaced");
	ESC("\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD", "overlong UTF-8 replaced");
	ESC("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "surrogate replaced");
	ESC("\xEF\xBF\xBE", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "U+FFFE replaced");
	ESC("\xF0\x9F\x8D\x9A", "\xF0\x9F\x8D\x9A", "four-byte UTF-8 kept");
	Esc("ab<cd", 3, "ab&lt;", "escn stops at n");
	Esc("ab\0<", 4, "ab", "escn stops at NUL");

	gw_buf_esc(&b, NULL);
	CHECK(b.len == 0, "NULL appends nothing");
	for (int i = 0; i < 1000; i++)
		gw_buf_esc(&b, "<>");
	CHECK(b.len == 8000 && strncmp(b.data + 7992, "&lt;&gt;", 8) == 0 && !b.failed, "grows past 1 KB");
	gw_buf_printf(&b, "%d%s", 42, "!");
	CHECK(strcmp(b.data + 8000, "42!") == 0, "printf appends");
	gw_buf_free(&b);
	return UNIT_DONE();
}
