/*
 * labels.c — printable labels of lots (docs/pages.md): a 40 × 30 mm label
 * with the QR code of the lot's Digital Link (public_link: what the public
 * trace needs, the token included), the trace code and the product line, as
 * SVG or PNG (203 dpi, the common thermal label printer), and an A4 sheet of
 * the labels of a day. QR codes by libqrencode at error-correction level Q.
 */
#include "gateway.h"
#include "htmlbuf.h"

#include <png.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

/*
 * Level Q restores 25 % of the code words: a label on a food package is
 * scuffed, wet, folded round a bag or printed by a worn thermal head, and
 * the URI (about 80 characters) still fits version 6 (41 modules), 0.46 mm
 * a module at the 22.4 mm the label gives the symbol — above the 0.33 mm
 * minimum GS1 sets for QR codes on consumer packages. H would push it to
 * version 8 and smaller modules for little gain.
 */
#define QR_LEVEL QR_ECLEVEL_Q
#define QR_QUIET 4				/* modules of white around the symbol (ISO/IEC 18004) */

/* The label in SVG user units of 0.1 mm. */
#define STR_(x) #x
#define STR(x) STR_(x)
#define LABEL_W 400
#define LABEL_H 300
#define QR_BOX 224				/* the symbol with its quiet zone, a square at the top left */
#define TEXT_X 232				/* the product line's column, right of the symbol */

/* PNG: 203 dpi = 7992 pixels per metre; 40 × 30 mm = 320 × 240 pixels. */
#define LABEL_PX_W 320
#define LABEL_PX_H 240
#define LABEL_PX_PER_M 7992

typedef struct Label
{
	const char *code, *product, *spec, *gtin, *lot, *produced_on, *expires_on;
	char		uri[1024];
} Label;

static void
LabelFrom(GwRequest *req, PGresult *res, int row, Label *l)
{
	char		base[256];

	l->code = PQgetvalue(res, row, 0);
	l->product = PQgetvalue(res, row, 1);
	l->spec = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2);
	l->gtin = PQgetisnull(res, row, 3) ? NULL : PQgetvalue(res, row, 3);
	l->lot = PQgetisnull(res, row, 4) ? NULL : PQgetvalue(res, row, 4);
	l->produced_on = PQgetvalue(res, row, 5);
	l->expires_on = PQgetisnull(res, row, 6) ? NULL : PQgetvalue(res, row, 6);
	gw_public_base(req, base, sizeof(base));
	snprintf(l->uri, sizeof(l->uri), "%s%s", base, PQgetvalue(res, row, 7));
}

/* Up to max code points of s (UTF-8) from *pos; advances *pos. */
static size_t
Utf8Take(const char *s, size_t *pos, int max)
{
	size_t		start = *pos, i = *pos;

	for (int n = 0; s[i] != '\0' && n < max; n++)
	{
		i++;
		while ((s[i] & 0xC0) == 0x80)
			i++;
	}
	*pos = i;
	return i - start;
}

/* The QR symbol as one path of horizontal runs, at (x, y) with `size` units for the whole box. */
static bool
QrSvg(GwBuf *b, const char *uri, double x, double y, double size)
{
	QRcode	   *qr = QRcode_encodeString(uri, 0, QR_LEVEL, QR_MODE_8, 1);
	int			w;
	double		m;

	if (qr == NULL)
		return false;
	w = qr->width;
	m = size / (w + 2 * QR_QUIET);
	gw_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#fff\"/>"
				  "<path fill=\"#000\" shape-rendering=\"crispEdges\" transform=\"translate(%.3f %.3f) scale(%.5f)\" d=\"",
				  x, y, size, size, x + QR_QUIET * m, y + QR_QUIET * m, m);
	for (int r = 0; r < w; r++)
		for (int c = 0; c < w;)
		{
			int			run = 0;

			while (c + run < w && (qr->data[r * w + c + run] & 1))
				run++;
			if (run > 0)
			{
				gw_buf_printf(b, "M%d %dh%dv1h-%dz", c, r, run, run);
				c += run;
			}
			else
				c++;
		}
	gw_buf_puts(b, "\"/>");
	QRcode_free(qr);
	return true;
}

/* One label as an SVG group at (ox, oy) in 0.1 mm units. */
static bool
LabelSvg(GwBuf *b, const Label *l, int ox, int oy)
{
	size_t		pos = 0;
	int			y = 40;

	gw_buf_printf(b, "<g class=\"label\" transform=\"translate(%d %d)\">"
				  "<rect width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#bbb\" stroke-width=\"2\" rx=\"12\"/>",
				  ox, oy, LABEL_W, LABEL_H);
	if (!QrSvg(b, l->uri, 4, 4, QR_BOX))
		return false;
	/* the product line: name in up to three lines of six characters, then spec, lot, dates */
	gw_buf_puts(b, "<g font-family=\"'Noto Sans CJK SC','Source Han Sans SC','PingFang SC',sans-serif\" fill=\"#000\">");
	for (int line = 0; line < 3 && l->product[pos] != '\0'; line++, y += 32)
	{
		size_t		start = pos;
		size_t		n = Utf8Take(l->product, &pos, 6);

		gw_buf_printf(b, "<text x=\"" STR(TEXT_X) "\" y=\"%d\" font-size=\"28\" font-weight=\"700\">", y);
		gw_buf_escn(b, l->product + start, n);
		if (line == 2 && l->product[pos] != '\0')
			gw_buf_puts(b, "…");
		gw_buf_puts(b, "</text>");
	}
	if (l->spec != NULL)
	{
		gw_buf_printf(b, "<text x=\"" STR(TEXT_X) "\" y=\"%d\" font-size=\"22\">", y);
		gw_buf_esc(b, l->spec);
		gw_buf_puts(b, "</text>");
		y += 27;
	}
	if (l->lot != NULL)
	{
		gw_buf_printf(b, "<text x=\"" STR(TEXT_X) "\" y=\"%d\" font-size=\"19\">批号 ", y);
		gw_buf_esc(b, l->lot);
		gw_buf_puts(b, "</text>");
		y += 25;
	}
	gw_buf_printf(b, "<text x=\"" STR(TEXT_X) "\" y=\"%d\" font-size=\"19\">生产 ", y);
	gw_buf_esc(b, l->produced_on);
	gw_buf_puts(b, "</text>");
	y += 25;
	if (l->expires_on != NULL)
	{
		gw_buf_printf(b, "<text x=\"" STR(TEXT_X) "\" y=\"%d\" font-size=\"19\">保质至 ", y);
		gw_buf_esc(b, l->expires_on);
		gw_buf_puts(b, "</text>");
	}
	/* the trace code, human-readable under the symbol, in groups of 6 */
	gw_buf_puts(b, "<text class=\"code\" x=\"200\" y=\"274\" text-anchor=\"middle\" font-size=\"30\" "
				"font-family=\"'DejaVu Sans Mono',monospace\">");
	gw_buf_escn(b, l->code, 6);
	gw_buf_puts(b, " ");
	gw_buf_escn(b, l->code + 6, 6);
	gw_buf_puts(b, " ");
	gw_buf_esc(b, l->code + 12);
	gw_buf_puts(b, "</text></g></g>");
	return true;
}

static void
SvgStart(GwBuf *b, int w, int h, const char *title)
{
	gw_buf_printf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%gmm\" height=\"%gmm\" viewBox=\"0 0 %d %d\">"
				  "<title>", w / 10.0, h / 10.0, w, h);
	gw_buf_esc(b, title);
	gw_buf_puts(b, "</title>");
}

#define SVG_HEADERS "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n" \
	"X-Content-Type-Options: nosniff\r\n"

static int
ReplySvg(GwRequest *req, GwBuf *b, const char *filename)
{
	char		headers[300];
	int			rc;

	if (b->failed)
		rc = gw_reply_error(req->conn, 500, "GW500", "out of memory drawing the label", NULL, NULL, NULL);
	else
	{
		snprintf(headers, sizeof(headers), SVG_HEADERS "Content-Disposition: inline; filename=\"%s\"\r\n",
				 filename);
		rc = gw_reply_text(req->conn, 200, "image/svg+xml", b->data, b->len, headers);
	}
	gw_buf_free(b);
	return rc;
}

/* ---- PNG ------------------------------------------------------------------ */

/* 5 × 7 digits for the trace code under the symbol (a PNG has no fonts). */
static const unsigned char digits5x7[10][7] = {
	{0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
	{0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
	{0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
	{0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	{0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
};

static void
PngWrite(png_structp png, png_bytep data, png_size_t len)
{
	gw_buf_put((GwBuf *) png_get_io_ptr(png), (const char *) data, len);
}

static void
PngFlush(png_structp png)
{
}

/* An 8-bit grey image of LABEL_PX_W × LABEL_PX_H as PNG (libpng reports errors by longjmp). */
static bool
PngEncode(const unsigned char *img, GwBuf *out)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop	info;

	if (png == NULL)
		return false;
	info = png_create_info_struct(png);
	if (info == NULL)
	{
		png_destroy_write_struct(&png, NULL);
		return false;
	}
	if (setjmp(png_jmpbuf(png)) != 0)
	{
		png_destroy_write_struct(&png, &info);
		return false;
	}
	png_set_write_fn(png, out, PngWrite, PngFlush);
	png_set_IHDR(png, info, LABEL_PX_W, LABEL_PX_H, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
				 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_pHYs(png, info, LABEL_PX_PER_M, LABEL_PX_PER_M, PNG_RESOLUTION_METER);
	png_write_info(png, info);
	for (int y = 0; y < LABEL_PX_H; y++)
		png_write_row(png, (png_const_bytep) img + (size_t) y * LABEL_PX_W);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return !out->failed;
}

/* The label as a grey PNG: the symbol at the top left, the code under it. */
static bool
LabelPng(const Label *l, GwBuf *out)
{
	QRcode	   *qr = QRcode_encodeString(l->uri, 0, QR_LEVEL, QR_MODE_8, 1);
	unsigned char *img;
	int			m, side;
	bool		ok;

	if (qr == NULL)
		return false;
	img = malloc(LABEL_PX_W * LABEL_PX_H);
	if (img == NULL)
	{
		QRcode_free(qr);
		return false;
	}
	memset(img, 255, LABEL_PX_W * LABEL_PX_H);
	/* whole pixels per module (a blurred module is what scanners misread) */
	m = 196 / (qr->width + 2 * QR_QUIET);
	if (m < 1)
		m = 1;
	side = m * (qr->width + 2 * QR_QUIET);
	for (int r = 0; r < qr->width; r++)
		for (int c = 0; c < qr->width; c++)
			if (qr->data[r * qr->width + c] & 1)
				for (int dy = 0; dy < m; dy++)
					memset(img + (size_t) ((QR_QUIET + r) * m + dy + 2) * LABEL_PX_W + (QR_QUIET + c) * m + 2, 0, m);
	/* the 18 digits at twice 5 × 7, 12 pixels a digit */
	for (size_t i = 0; l->code[i] != '\0' && i < 24; i++)
	{
		int			d = l->code[i] - '0';
		int			x0 = 52 + (int) i * 12 + (int) (i / 6) * 6;
		int			y0 = side + 12;

		if (d < 0 || d > 9 || x0 + 10 >= LABEL_PX_W || y0 + 14 >= LABEL_PX_H)
			continue;
		for (int row = 0; row < 7; row++)
			for (int col = 0; col < 5; col++)
				if (digits5x7[d][row] & (0x10 >> col))
					for (int dy = 0; dy < 2; dy++)
						memset(img + (size_t) (y0 + row * 2 + dy) * LABEL_PX_W + x0 + col * 2, 0, 2);
	}
	QRcode_free(qr);
	ok = PngEncode(img, out);
	free(img);
	return ok;
}

/* ---- routes --------------------------------------------------------------- */

#define LABEL_COLUMNS "trace_code, product, spec, gtin, lot, produced_on::text, expires_on::text, link"

/* GET /v1/batches/{code}/label.svg and label.png */
int
gw_label_route(GwRequest *req)
{
	const char *p[1] = {req->params[0]};
	bool		png_wanted = strstr(req->route->pattern, ".png") != NULL;
	PGresult   *res, *err;
	int			status;
	Label		l;
	GwBuf		b = {0};
	char		filename[64];

	res = gw_page_query(req, "select " LABEL_COLUMNS " from shilian.lot_label($1::shilian.trace_code)",
						1, p, &err, &status);
	if (res == NULL)
	{
		if (err == NULL)
			return status;
		status = gw_reply_pg_error(req->conn, err, NULL);
		PQclear(err);
		return status;
	}
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		return gw_reply_error(req->conn, 404, "GW404", "no such batch", req->params[0], NULL, NULL);
	}
	LabelFrom(req, res, 0, &l);
	snprintf(filename, sizeof(filename), "%s.%s", l.code, png_wanted ? "png" : "svg");
	if (png_wanted)
	{
		char		headers[200];

		if (!LabelPng(&l, &b))
			status = gw_reply_error(req->conn, 500, "GW500", "the label could not be drawn", NULL, NULL, NULL);
		else
		{
			snprintf(headers, sizeof(headers), "X-Content-Type-Options: nosniff\r\n"
					 "Content-Disposition: inline; filename=\"%s\"\r\n", filename);
			status = gw_reply_text(req->conn, 200, "image/png", b.data, b.len, headers);
		}
		gw_buf_free(&b);
	}
	else
	{
		SvgStart(&b, LABEL_W, LABEL_H, l.code);
		if (!LabelSvg(&b, &l, 0, 0))
		{
			gw_buf_free(&b);
			status = gw_reply_error(req->conn, 500, "GW500", "the label could not be drawn", NULL, NULL, NULL);
		}
		else
		{
			gw_buf_puts(&b, "</svg>\n");
			status = ReplySvg(req, &b, filename);
		}
	}
	PQclear(res);
	return status;
}

/* GET /v1/labels.svg?date=YYYY-MM-DD: an A4-wide sheet, 5 labels a row, 2 mm apart */
int
gw_label_sheet_route(GwRequest *req)
{
	char		date[32];
	const char *d = gw_query_param(req, "date", date, sizeof(date));
	const char *p[1] = {d};
	PGresult   *res, *err;
	int			status, n, rows;
	GwBuf		b = {0};
	char		title[64];

	/* YYYY-MM-DD only (the database checks the day exists) */
	if (d == NULL || strlen(d) != 10 || strspn(d, "0123456789-") != 10 || d[4] != '-' || d[7] != '-' ||
		strchr(d + 5, '-') != d + 7)
		return gw_reply_error(req->conn, 400, "SLG01", "date= must be a day as YYYY-MM-DD", d,
							  "Ask for the labels of a day: /v1/labels.svg?date=2026-03-01.", NULL);
	res = gw_page_query(req, "select " LABEL_COLUMNS " from shilian.lot_labels($1::date)",
						1, p, &err, &status);
	if (res == NULL)
	{
		if (err == NULL)
			return status;
		status = gw_reply_pg_error(req->conn, err, NULL);
		PQclear(err);
		return status;
	}
	n = PQntuples(res);
	rows = n == 0 ? 1 : (n + 4) / 5;
	snprintf(title, sizeof(title), "labels %s (%d)", d, n);
	SvgStart(&b, 100 + 5 * (LABEL_W + 20), 100 + rows * (LABEL_H + 20), title);
	for (int i = 0; i < n; i++)
	{
		Label		l;

		LabelFrom(req, res, i, &l);
		if (!LabelSvg(&b, &l, 50 + (i % 5) * (LABEL_W + 20), 50 + (i / 5) * (LABEL_H + 20)))
		{
			PQclear(res);
			gw_buf_free(&b);
			return gw_reply_error(req->conn, 500, "GW500", "a label could not be drawn", NULL, NULL, NULL);
		}
	}
	gw_buf_puts(&b, "</svg>\n");
	PQclear(res);
	snprintf(title, sizeof(title), "labels-%s.svg", d);
	return ReplySvg(req, &b, title);
}
