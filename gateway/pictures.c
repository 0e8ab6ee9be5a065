/*
 * pictures.c — the regulator's pictures (docs/pages.md): a recall case as a
 * graph (operators as boxes holding their lots, grouped in bands by region,
 * links with the quantity that went along, each lot coloured by its state)
 * and the monthly report's four assessment figures per jurisdiction as bar
 * charts with the targets drawn. Each as SVG, and as a small HTML page with
 * the SVG inline beside its table. The data come from recall_graph and
 * monthly_report under the regulator's own rights; the layout is our own
 * (columns by depth of the walk, rows by region), so no layout library runs
 * inside the gateway.
 */
#include "gateway.h"
#include "htmlbuf.h"

#include <stdlib.h>
#include <string.h>

static const char *
Str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- recall graph ---------------------------------------------------------- */

#define COL_W 300				/* one column per depth of the walk */
#define BOX_W 250
#define BOX_HEAD 26
#define LOT_H 22
#define BAND_PAD 34				/* band label above its boxes */
#define BOX_GAP 14

typedef struct Operator
{
	const char *id, *name, *region, *region_name, *segment;
	int			col, nlots, x, y, h, band;
} Operator;

typedef struct Lot
{
	json_t	   *node;
	int			op, idx, x, y;	/* row of the lot: left edge x, middle y */
} Lot;

/* open (red), dealt with (green), never there (grey) */
static const char *
StateColour(const char *disposition)
{
	if (disposition == NULL)
		return "#d93025";
	if (strcmp(disposition, "not_received") == 0 || strcmp(disposition, "already_consumed") == 0)
		return "#80868b";
	return "#188038";
}

static const char *
StateName(const char *disposition)
{
	return disposition ? disposition : "outstanding";
}

static void
RecallSvg(GwBuf *b, json_t *g)
{
	json_t	   *nodes = json_object_get(g, "nodes");
	json_t	   *edges = json_object_get(g, "edges");
	size_t		n = json_array_size(nodes);
	Operator   *ops = calloc(n ? n : 1, sizeof(Operator));
	Lot		   *lots = calloc(n ? n : 1, sizeof(Lot));
	const char **bands = calloc(n ? n : 1, sizeof(char *));
	int		   *bandy_ = calloc(n ? n : 1, sizeof(int)), *bandh_ = calloc(n ? n : 1, sizeof(int));
	int			nops = 0, nbands = 0, maxcol = 0, width, height, y;
	int		   *colh;
	size_t		i;
	json_t	   *x;

	if (ops == NULL || lots == NULL || bands == NULL || bandy_ == NULL || bandh_ == NULL)
	{
		b->failed = true;
		free(ops);
		free(lots);
		free(bands);
		free(bandy_);
		free(bandh_);
		return;
	}
	/* operators (first appearance, in walk order) and their leftmost column */
	json_array_foreach(nodes, i, x)
	{
		const char *holder = Str(x, "holder");
		int			depth = (int) json_integer_value(json_object_get(x, "depth"));
		int			o;

		for (o = 0; o < nops; o++)
			if (strcmp(ops[o].id, holder ? holder : "") == 0)
				break;
		if (o == nops)
		{
			ops[o].id = holder ? holder : "";
			ops[o].name = Str(x, "holder_name");
			ops[o].region = Str(x, "region");
			ops[o].region_name = Str(x, "region_name");
			ops[o].segment = Str(x, "segment");
			ops[o].col = depth;
			nops++;
		}
		if (depth < ops[o].col)
			ops[o].col = depth;
		lots[i].node = x;
		lots[i].op = o;
		lots[i].idx = ops[o].nlots++;
	}
	for (int o = 0; o < nops; o++)
	{
		int			k;

		if (ops[o].col > maxcol)
			maxcol = ops[o].col;
		for (k = 0; k < nbands; k++)
			if (strcmp(bands[k], ops[o].region ? ops[o].region : "") == 0)
				break;
		if (k == nbands)
			bands[nbands++] = ops[o].region ? ops[o].region : "";
		ops[o].band = k;
		ops[o].h = BOX_HEAD + LOT_H * ops[o].nlots + 6;
	}
	/* bands top to bottom; inside a band, boxes stacked per column */
	colh = calloc((size_t) maxcol + 1, sizeof(int));
	if (colh == NULL)
	{
		b->failed = true;
		free(ops);
		free(lots);
		free(bands);
		free(bandy_);
		free(bandh_);
		return;
	}
	y = 70;
	for (int k = 0; k < nbands; k++)
	{
		int			bandh = 0;

		memset(colh, 0, sizeof(int) * ((size_t) maxcol + 1));
		for (int o = 0; o < nops; o++)
			if (ops[o].band == k)
			{
				ops[o].x = 30 + ops[o].col * COL_W;
				ops[o].y = y + BAND_PAD + colh[ops[o].col];
				colh[ops[o].col] += ops[o].h + BOX_GAP;
				if (colh[ops[o].col] > bandh)
					bandh = colh[ops[o].col];
			}
		bandy_[k] = y;
		bandh_[k] = bandh + BAND_PAD;
		y += bandh + BAND_PAD + 16;
	}
	width = 60 + (maxcol + 1) * COL_W;
	height = y + 60;
	for (i = 0; i < n; i++)
	{
		Operator   *o = &ops[lots[i].op];

		lots[i].x = o->x + 8;
		lots[i].y = o->y + BOX_HEAD + LOT_H * lots[i].idx + LOT_H / 2;
	}

	gw_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"recall-graph\" width=\"%d\" height=\"%d\" "
				  "viewBox=\"0 0 %d %d\" font-family=\"'Noto Sans CJK SC',sans-serif\" font-size=\"12\" role=\"img\">"
				  "<title>", width, height, width, height);
	gw_buf_esc(b, "recall ");
	gw_buf_esc(b, Str(json_object_get(g, "recall"), "id"));
	gw_buf_puts(b, "</title><defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
				"markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"#555\"/></marker></defs>");
	/* legend */
	gw_buf_printf(b, "<g class=\"legend\" font-size=\"13\">"
				  "<rect x=\"30\" y=\"20\" width=\"14\" height=\"14\" fill=\"%s\"/><text x=\"50\" y=\"32\">outstanding 待处置</text>"
				  "<rect x=\"200\" y=\"20\" width=\"14\" height=\"14\" fill=\"%s\"/><text x=\"220\" y=\"32\">withdrawn / destroyed / returned 已处置</text>"
				  "<rect x=\"480\" y=\"20\" width=\"14\" height=\"14\" fill=\"%s\"/><text x=\"500\" y=\"32\">not received / consumed 未收货或已消费</text></g>",
				  StateColour(NULL), StateColour("destroyed"), StateColour("not_received"));
	/* region bands */
	for (int k = 0; k < nbands; k++)
		for (int o = 0; o < nops; o++)
		{
			if (ops[o].band != k)
				continue;
			gw_buf_printf(b, "<g class=\"region\"><rect x=\"10\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"8\" "
						  "fill=\"%s\" stroke=\"#ccd\"/><text x=\"20\" y=\"%d\" font-size=\"14\" font-weight=\"700\">",
						  bandy_[k], width - 20, bandh_[k], k % 2 ? "#f4f6fb" : "#eef3ee", bandy_[k] + 20);
			gw_buf_esc(b, ops[o].region_name);
			gw_buf_puts(b, " ");
			gw_buf_esc(b, ops[o].region);
			gw_buf_puts(b, "</text></g>");
			break;
		}
	/* links, under the boxes */
	json_array_foreach(edges, i, x)
	{
		const char *from = Str(x, "from"), *to = Str(x, "to");
		Lot		   *lf = NULL, *lt = NULL;
		int			x1, y1, x2, y2;

		for (size_t j = 0; j < n; j++)
		{
			const char *code = Str(lots[j].node, "batch");

			if (code != NULL && from != NULL && strcmp(code, from) == 0)
				lf = &lots[j];
			if (code != NULL && to != NULL && strcmp(code, to) == 0)
				lt = &lots[j];
		}
		if (lf == NULL || lt == NULL)
			continue;
		x1 = lf->x + BOX_W - 16;
		y1 = lf->y;
		x2 = lt->x - 8;
		y2 = lt->y;
		gw_buf_printf(b, "<g class=\"link\"><path d=\"M%d %dC%d %d %d %d %d %d\" fill=\"none\" stroke=\"#555\" "
					  "stroke-width=\"1.5\" marker-end=\"url(#arrow)\"%s/>"
					  "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">",
					  x1, y1, x1 + 70, y1, x2 - 70, y2, x2, y2,
					  strcmp(Str(x, "kind") ? Str(x, "kind") : "", "transform") == 0 ? " stroke-dasharray=\"5 3\"" : "",
					  (x1 + x2) / 2, (y1 + y2) / 2 - 4);
		gw_buf_esc(b, Str(x, "qty"));
		gw_buf_puts(b, "</text></g>");
	}
	/* operators with their lots */
	for (int o = 0; o < nops; o++)
	{
		gw_buf_printf(b, "<g class=\"operator\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"6\" "
					  "fill=\"#fff\" stroke=\"#667\"/><text x=\"%d\" y=\"%d\" font-weight=\"700\">",
					  ops[o].x, ops[o].y, BOX_W, ops[o].h, ops[o].x + 8, ops[o].y + 18);
		gw_buf_esc(b, ops[o].name);
		gw_buf_puts(b, "</text></g>");
	}
	for (i = 0; i < n; i++)
	{
		json_t	   *nd = lots[i].node;
		const char *disp = Str(nd, "disposition");

		gw_buf_printf(b, "<g class=\"lot\" data-state=\"%s\"><rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
					  "<text x=\"%d\" y=\"%d\">", StateName(disp), lots[i].x, lots[i].y - 5, StateColour(disp),
					  lots[i].x + 15, lots[i].y + 4);
		gw_buf_esc(b, Str(nd, "batch"));
		gw_buf_puts(b, " ");
		gw_buf_esc(b, Str(nd, "qty_on_hand"));
		gw_buf_puts(b, "</text></g>");
	}
	gw_buf_puts(b, "</svg>");
	free(colh);
	free(ops);
	free(lots);
	free(bands);
	free(bandy_);
	free(bandh_);
}

static void
RecallPage(GwBuf *b, json_t *g)
{
	json_t	   *r = json_object_get(g, "recall");
	json_t	   *x;
	size_t		i;

	gw_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
				"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>");
	gw_buf_esc(b, "召回 recall ");
	gw_buf_esc(b, Str(r, "id"));
	gw_buf_printf(b, "</title><style>%s main{max-width:none}</style></head><body><main>", gw_page_css());
	gw_buf_puts(b, "<section id=\"recall-case\"><h1>");
	gw_buf_esc(b, "召回 recall ");
	gw_buf_esc(b, Str(r, "id"));
	gw_buf_puts(b, "</h1><dl>");
	{
		static const char *const rows[][2] = {
			{"code", "问题批次 suspect lot"}, {"reason", "原因 reason"}, {"direction", "方向 direction"},
			{"status", "状态 status"}, {"opened_on", "发起 opened"},
		};

		for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++)
		{
			gw_buf_puts(b, "<dt>");
			gw_buf_esc(b, rows[k][1]);
			gw_buf_printf(b, "</dt><dd id=\"recall-%s\">", rows[k][0]);
			gw_buf_esc(b, Str(r, rows[k][0]));
			gw_buf_puts(b, "</dd>");
		}
	}
	gw_buf_puts(b, "</dl></section><section>");
	RecallSvg(b, g);
	gw_buf_puts(b, "</section><section><h2>受影响批次 affected lots</h2><table id=\"targets\"><thead><tr>"
				"<th>地区 region</th><th>经营者 holder</th><th>批次 lot</th><th>产品 product</th>"
				"<th>涉及 exposed</th><th>在库 on hand</th><th>处置 disposition</th></tr></thead><tbody>");
	json_array_foreach(json_object_get(g, "nodes"), i, x)
	{
		static const char *const cols[] = {"region_name", "holder_name", "batch", "product", "qty_exposed",
		"qty_on_hand"};

		gw_buf_puts(b, "<tr>");
		for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
		{
			gw_buf_puts(b, "<td>");
			gw_buf_esc(b, Str(x, cols[k]));
			gw_buf_puts(b, "</td>");
		}
		gw_buf_printf(b, "<td style=\"color:%s;font-weight:600\">", StateColour(Str(x, "disposition")));
		gw_buf_esc(b, StateName(Str(x, "disposition")));
		gw_buf_puts(b, "</td></tr>");
	}
	gw_buf_puts(b, "</tbody></table><p class=\"muted\">CSV (FSMA 204): GET /v1/recalls/");
	gw_buf_esc(b, Str(r, "id"));
	gw_buf_puts(b, "/export</p></section></main></body></html>\n");
}

/* Reply an SQL error as JSON (these are API routes with a picture as the answer). */
static int
Failed(GwRequest *req, PGresult *err, int status)
{
	if (err == NULL)
		return status;
	status = gw_reply_pg_error(req->conn, err, NULL);
	PQclear(err);
	return status;
}

static int
ReplyPicture(GwRequest *req, GwBuf *b, bool html)
{
	int			rc;

	if (html)
		rc = gw_reply_html(req, 200, b, NULL);
	else if (b->failed)
		rc = gw_reply_error(req->conn, 500, "GW500", "out of memory drawing the picture", NULL, NULL, NULL);
	else
		rc = gw_reply_text(req->conn, 200, "image/svg+xml", b->data, b->len,
						   "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
						   "X-Content-Type-Options: nosniff\r\n");
	gw_buf_free(b);
	return rc;
}

/* GET /v1/recalls/{id}/graph.svg and graph.html */
int
gw_recall_graph_route(GwRequest *req)
{
	const char *p[1] = {req->params[0]};
	bool		html = strstr(req->route->pattern, ".html") != NULL;
	PGresult   *res, *err;
	int			status;
	json_t	   *g;
	GwJsonError jerr;
	GwBuf		b = {0};

	res = gw_page_query(req, "select shilian.recall_graph($1::bigint)", 1, p, &err, &status);
	if (res == NULL)
		return Failed(req, err, status);
	g = gw_json_load(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0), 0, 256 * 1024 * 1024, &jerr);
	PQclear(res);
	if (g == NULL)
		return gw_reply_error(req->conn, 500, "GW500", "the recall graph could not be read", NULL, NULL, NULL);
	if (html)
		RecallPage(&b, g);
	else
	{
		gw_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
		RecallSvg(&b, g);
		gw_buf_puts(&b, "\n");
	}
	json_decref(g);
	return ReplyPicture(req, &b, html);
}

/* ---- monthly report charts -------------------------------------------------- */

static const char *const figures[][3] = {
	{"registration_rate", "注册率", "registration rate"},
	{"activity_rate", "活跃率", "activity rate"},
	{"coverage_rate", "10+3 覆盖率", "10+3 coverage"},
	{"upload_rate", "自建系统上传率", "own-system upload rate"},
};

#define BAR_ROW 22
#define BAR_LABEL 170
#define BAR_LEN 420

/* One horizontal bar chart: a row per jurisdiction, the bar its value, a tick its target. */
static void
FigureSvg(GwBuf *b, json_t *rows, int f)
{
	size_t		n = json_array_size(rows), i;
	int			h = 50 + (int) n * BAR_ROW + 30;
	json_t	   *j;

	gw_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"chart-%s\" width=\"%d\" height=\"%d\" "
				  "viewBox=\"0 0 %d %d\" font-family=\"'Noto Sans CJK SC',sans-serif\" font-size=\"12\" role=\"img\">"
				  "<title>%s %s</title><text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"700\">%s · %s</text>",
				  figures[f][0], BAR_LABEL + BAR_LEN + 80, h, BAR_LABEL + BAR_LEN + 80, h,
				  figures[f][1], figures[f][2], figures[f][1], figures[f][2]);
	/* the axis: 0, 50 %, 100 % */
	for (int t = 0; t <= 100; t += 50)
		gw_buf_printf(b, "<line x1=\"%d\" y1=\"35\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
					  "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">%d%%</text>",
					  BAR_LABEL + BAR_LEN * t / 100, BAR_LABEL + BAR_LEN * t / 100, 40 + (int) n * BAR_ROW,
					  BAR_LABEL + BAR_LEN * t / 100, 55 + (int) n * BAR_ROW, t);
	json_array_foreach(rows, i, j)
	{
		json_t	   *fig = json_object_get(json_object_get(j, "figures"), figures[f][0]);
		json_t	   *v = json_object_get(fig, "value"), *tg = json_object_get(fig, "target");
		json_t	   *met = json_object_get(fig, "met");
		int			y = 40 + (int) i * BAR_ROW;
		const char *colour = json_is_true(met) ? "#188038" : json_is_false(met) ? "#e37400" : "#9aa0a6";

		gw_buf_printf(b, "<g class=\"bar\" data-jurisdiction=\"");
		gw_buf_esc(b, Str(j, "jurisdiction"));
		gw_buf_printf(b, "\" data-met=\"%s\"><text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
					  json_is_true(met) ? "true" : json_is_false(met) ? "false" : "", BAR_LABEL - 6, y + 15);
		gw_buf_esc(b, Str(j, "name"));
		gw_buf_puts(b, "</text>");
		if (json_is_number(v))
		{
			double		val = json_number_value(v);

			gw_buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
						  "<text x=\"%.1f\" y=\"%d\">%.1f%%</text>",
						  BAR_LABEL, y + 3, BAR_LEN * (val < 0 ? 0 : val > 1 ? 1 : val), BAR_ROW - 6, colour,
						  BAR_LABEL + BAR_LEN * (val < 0 ? 0 : val > 1 ? 1 : val) + 4, y + 15, val * 100);
		}
		else
			gw_buf_printf(b, "<text x=\"%d\" y=\"%d\" fill=\"#666\">—</text>", BAR_LABEL + 4, y + 15);
		if (json_is_number(tg))
			gw_buf_printf(b, "<line class=\"target\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#1a1a1a\" "
						  "stroke-width=\"2.5\"><title>target %.1f%%</title></line>",
						  BAR_LABEL + BAR_LEN * json_number_value(tg), y + 1,
						  BAR_LABEL + BAR_LEN * json_number_value(tg), y + BAR_ROW - 1,
						  json_number_value(tg) * 100);
		gw_buf_puts(b, "</g>");
	}
	gw_buf_puts(b, "</svg>");
}

/* The rows charted: the jurisdiction's cities, else its counties (its children). */
static json_t *
ChildRows(json_t *report)
{
	json_t	   *cities = json_object_get(report, "cities");

	return json_array_size(cities) > 0 ? cities : json_object_get(report, "counties");
}

static void
ReportPage(GwBuf *b, json_t *report, const char *code)
{
	json_t	   *rows = ChildRows(report);
	json_t	   *total = json_object_get(report, "total");

	gw_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
				"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>");
	gw_buf_esc(b, Str(total, "name"));
	gw_buf_puts(b, " ");
	gw_buf_esc(b, Str(report, "month"));
	gw_buf_printf(b, " 月报 monthly report</title><style>%s .charts{display:flex;flex-wrap:wrap;gap:1rem}"
				  "main{max-width:none}</style></head><body><main><section id=\"report\"><h1>", gw_page_css());
	gw_buf_esc(b, Str(total, "name"));
	gw_buf_puts(b, " · ");
	gw_buf_esc(b, Str(report, "month"));
	gw_buf_puts(b, " 月度考核 monthly assessment</h1><p class=\"muted\">");
	gw_buf_puts(b, "柱为当月数值，黑线为目标；绿色达标，橙色未达标。Bars are the month's values, black ticks the targets; "
				"green met, orange not met. CSV: GET /v1/regulator/jurisdictions/");
	gw_buf_esc(b, code);
	gw_buf_puts(b, "/monthly-report.csv?month=");
	gw_buf_esc(b, Str(report, "month"));
	gw_buf_puts(b, "</p><div class=\"charts\">");
	for (int f = 0; f < 4; f++)
		FigureSvg(b, rows, f);
	gw_buf_puts(b, "</div></section><section><h2>数值 figures</h2><table id=\"figures\"><thead><tr><th>地区 jurisdiction</th>");
	for (int f = 0; f < 4; f++)
		gw_buf_printf(b, "<th>%s %s</th>", figures[f][1], figures[f][2]);
	gw_buf_puts(b, "</tr></thead><tbody>");
	{
		size_t		i;
		json_t	   *j;

		json_array_foreach(rows, i, j)
		{
			gw_buf_puts(b, "<tr><td>");
			gw_buf_esc(b, Str(j, "name"));
			gw_buf_puts(b, "</td>");
			for (int f = 0; f < 4; f++)
			{
				json_t	   *fig = json_object_get(json_object_get(j, "figures"), figures[f][0]);
				json_t	   *v = json_object_get(fig, "value"), *tg = json_object_get(fig, "target");

				if (json_is_number(v))
					gw_buf_printf(b, "<td>%.1f%%", json_number_value(v) * 100);
				else
					gw_buf_puts(b, "<td>—");
				if (json_is_number(tg))
					gw_buf_printf(b, " / %.0f%%", json_number_value(tg) * 100);
				gw_buf_puts(b, "</td>");
			}
			gw_buf_puts(b, "</tr>");
		}
	}
	gw_buf_puts(b, "</tbody></table></section></main></body></html>\n");
}

/* GET /v1/regulator/jurisdictions/{code}/monthly-report.svg and .html (month=YYYY-MM) */
int
gw_report_chart_route(GwRequest *req)
{
	char		mbuf[16];
	const char *month = gw_query_param(req, "month", mbuf, sizeof(mbuf));
	const char *p[2] = {req->params[0], month};
	bool		html = strstr(req->route->pattern, ".html") != NULL;
	PGresult   *res, *err;
	int			status;
	json_t	   *report;
	GwJsonError jerr;
	GwBuf		b = {0};

	if (month != NULL && (strlen(month) != 7 || month[4] != '-' || strspn(month, "0123456789-") != 7 ||
						  strchr(month, '-') != month + 4))
		return gw_reply_error(req->conn, 400, "SLG02", "month= must be a month as YYYY-MM", month,
							  "For example month=2026-03; left out, the month before this one.", NULL);
	/* the same statement as the JSON route (api.c), the month defaulting alike */
	res = gw_page_query(req, "select shilian.monthly_report(coalesce(($2 || '-01')::date, "
						"(date_trunc('month', shilian.platform_today()::timestamp) - interval '1 month')::date), $1)",
						2, p, &err, &status);
	if (res == NULL)
		return Failed(req, err, status);
	report = gw_json_load(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0), 0, 256 * 1024 * 1024, &jerr);
	PQclear(res);
	if (report == NULL)
		return gw_reply_error(req->conn, 500, "GW500", "the report could not be read", NULL, NULL, NULL);
	if (html)
		ReportPage(&b, report, req->params[0]);
	else
	{
		int			h;

		gw_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
		h = 4 * (50 + (int) json_array_size(ChildRows(report)) * BAR_ROW + 30);
		gw_buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\">",
					  BAR_LABEL + BAR_LEN + 80, h);
		for (int f = 0, y = 0; f < 4; f++)
		{
			gw_buf_printf(&b, "<g transform=\"translate(0 %d)\">", y);
			FigureSvg(&b, ChildRows(report), f);
			gw_buf_puts(&b, "</g>");
			y += 50 + (int) json_array_size(ChildRows(report)) * BAR_ROW + 30;
		}
		gw_buf_puts(&b, "</svg>\n");
	}
	json_decref(report);
	return ReplyPicture(req, &b, html);
}
