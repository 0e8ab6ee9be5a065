/*
 * pages.c — the GS1 Digital Link resolver and the consumer's page behind the
 * code on a package (docs/pages.md). /01/<GTIN>/10/<lot>, /01/<GTIN>/21/<serial>
 * (and both) and /t/<trace code> answer by content negotiation (RFC 9110):
 * the page for a browser, the public trace JSON for Accept: application/json,
 * the linkset (RFC 9264) for application/linkset+json or linkType=linkset,
 * and a 307 to the link of a GS1 link type for linkType=gs1:.... Every rule
 * stays in the extension: public_lot finds the lot, public_trace decides
 * what the public sees (with the token printed next to the code).
 */
#include "gateway.h"
#include "htmlbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every page: nothing external, no script at all, inline style only. */
#define PAGE_HEADERS \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Referrer-Policy: no-referrer\r\n"

/* The consumer page: a recall shows within a minute; the representation depends on Accept. */
#define CONSUMER_CACHE "Cache-Control: private, max-age=60\r\nVary: Accept\r\n"

/* ---- shared by the pages and pictures ---------------------------------- */

PGresult *
gw_page_query(GwRequest *req, const char *sql, int nparams, const char *const *params,
			  PGresult **err, int *status)
{
	PGconn	   *db = NULL;
	PGresult   *res;

	*err = NULL;
	if ((*status = gw_tx_begin(req, &db)) != 0)
		return NULL;
	if ((*status = gw_tx_set_role(req, db)) != 0)
		return NULL;
	res = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		if (PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL)
		{
			*status = gw_reply_pg_error(req->conn, res, db);
			PQclear(res);
			gw_tx_rollback(db);
			return NULL;
		}
		gw_tx_rollback(db);
		*err = res;
		return NULL;
	}
	if ((*status = gw_tx_commit(req, db)) != 0)
	{
		PQclear(res);
		return NULL;
	}
	return res;
}

void
gw_public_base(GwRequest *req, char *buf, size_t len)
{
	const char *host = mg_get_header(req->conn, "Host");

	if (gw_config.public_base_url != NULL && gw_config.public_base_url[0] != '\0')
	{
		snprintf(buf, len, "%s", gw_config.public_base_url);
		/* no trailing slash: paths are appended */
		for (size_t n = strlen(buf); n > 0 && buf[n - 1] == '/'; n--)
			buf[n - 1] = '\0';
		return;
	}
	/* a Host header that is not a plain host[:port] is not echoed */
	if (host == NULL || host[0] == '\0' || strlen(host) > 200 ||
		strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(host))
		host = "localhost";
	snprintf(buf, len, "http://%s", host);
}

int
gw_reply_html(GwRequest *req, int status, GwBuf *page, const char *extra_headers)
{
	char		headers[1024];

	snprintf(headers, sizeof(headers), "%s%s", PAGE_HEADERS, extra_headers ? extra_headers : "");
	if (page->failed)
		return gw_reply_error(req->conn, 500, "GW500", "out of memory drawing the page", NULL, NULL, NULL);
	return gw_reply_text(req->conn, status, "text/html; charset=utf-8", page->data ? page->data : "",
						 page->len, headers);
}

const char *
gw_page_css(void)
{
	return "body{font-family:system-ui,-apple-system,\"PingFang SC\",\"Noto Sans CJK SC\",\"Microsoft YaHei\",sans-serif;"
		"margin:0;color:#1b1b1b;background:#f6f7f5;line-height:1.5;font-size:16px}"
		"header,main,footer{max-width:44rem;margin:0 auto;padding:0 1rem}"
		"header{display:flex;justify-content:space-between;align-items:baseline;flex-wrap:wrap}"
		"h1{font-size:1.25rem;margin:1rem 0 .5rem}h2{font-size:1.1rem;margin:.2rem 0 .6rem}"
		"section{background:#fff;border-radius:.5rem;padding:.8rem 1rem;margin:.8rem 0;box-shadow:0 1px 2px #0002}"
		"dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .8rem;margin:0}dt{color:#555}dd{margin:0}"
		"table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #e3e3e3}"
		"ol{padding-left:1.3rem;margin:0}li{margin:.3rem 0}"
		".pass{color:#116329;font-weight:600}.fail{color:#b00020;font-weight:600}"
		".recall{background:#b00020;color:#fff;border:3px solid #7a0016}.recall h2{font-size:1.3rem}"
		".recall a{color:#fff}.ok{background:#e9f5ec}.muted{color:#666;font-size:.9rem}"
		"a{color:#0b57d0}footer{padding-bottom:2rem}"
		"svg{max-width:100%;height:auto}";
}

/* ---- the consumer page ---------------------------------------------------- */

typedef enum
{
	REP_HTML, REP_JSON, REP_LINKSET
} Representation;

/* The q of a media type under an Accept header: its most specific range's q; 0 if none matches. */
static double
AcceptQ(const char *accept, const char *type)
{
	const char *p = accept;
	const char *slash = strchr(type, '/');
	int			best_spec = -1;
	double		best_q = 0;

	while (p != NULL && *p != '\0')
	{
		const char *end = strchr(p, ',');
		size_t		n = end ? (size_t) (end - p) : strlen(p);
		char		range[128];
		char	   *semi, *r;
		double		q = 1;
		int			spec = -1;

		if (n >= sizeof(range))
			n = sizeof(range) - 1;
		memcpy(range, p, n);
		range[n] = '\0';
		p = end ? end + 1 : NULL;
		semi = strchr(range, ';');
		if (semi != NULL)
		{
			char	   *qp = semi;

			*semi = '\0';
			while ((qp = strchr(qp + 1, 'q')) != NULL)
			{
				char	   *v = qp + 1;

				while (*v == ' ')
					v++;
				if (*v == '=' && (qp[-1] == ';' || qp[-1] == ' ' || qp[-1] == '\0'))
				{
					q = strtod(v + 1, NULL);
					break;
				}
			}
		}
		r = range;
		while (*r == ' ' || *r == '\t')
			r++;
		for (size_t k = strlen(r); k > 0 && (r[k - 1] == ' ' || r[k - 1] == '\t'); k--)
			r[k - 1] = '\0';
		if (strcasecmp(r, type) == 0)
			spec = 3;
		else if (strcmp(r, "*/*") == 0)
			spec = 1;
		else if (strlen(r) == (size_t) (slash - type) + 2 && strncasecmp(r, type, slash - type + 1) == 0 &&
				 r[slash - type + 1] == '*')
			spec = 2;
		if (spec > best_spec)
		{
			best_spec = spec;
			best_q = q;
		}
	}
	return best_spec < 0 ? 0 : best_q;
}

/* RFC 9110 proactive negotiation among the three forms; the page when nothing is acceptable. */
static Representation
Negotiate(const char *accept)
{
	double		html, json, linkset;

	if (accept == NULL || accept[0] == '\0')
		return REP_HTML;
	html = AcceptQ(accept, "text/html");
	json = AcceptQ(accept, "application/json");
	linkset = AcceptQ(accept, "application/linkset+json");
	if (html >= json && html >= linkset && html > 0)
		return REP_HTML;
	if (json >= linkset && json > 0)
		return REP_JSON;
	if (linkset > 0)
		return REP_LINKSET;
	return REP_HTML;
}

typedef struct Page
{
	bool		en;
	char		code[32];
	char		token[40];		/* checked: letters and digits only */
} Page;

#define T(zh_, en_) (pg->en ? (en_) : (zh_))

static const char *
Segment(const Page *pg, const char *s)
{
	if (s == NULL)
		return "";
	if (strcmp(s, "production") == 0)
		return T("生产", "production");
	if (strcmp(s, "circulation") == 0)
		return T("流通", "distribution");
	if (strcmp(s, "catering") == 0)
		return T("餐饮", "catering");
	if (strcmp(s, "special_food") == 0)
		return T("特殊食品", "special food");
	return s;
}

static const char *
InspectionKind(const Page *pg, const char *s)
{
	if (s == NULL)
		return "";
	if (strcmp(s, "release") == 0)
		return T("出厂检验", "release inspection");
	if (strcmp(s, "incoming") == 0)
		return T("进货查验", "incoming inspection");
	if (strcmp(s, "sampling") == 0)
		return T("抽样检验", "sampling");
	return s;
}

static const char *
Category(const Page *pg, const char *s)
{
	static const char *const map[][3] = {
		{"vegetables", "蔬菜", "vegetables"}, {"fruit", "水果", "fruit"}, {"meat", "肉及肉制品", "meat"},
		{"aquatic", "水产品", "aquatic products"}, {"grain", "粮食及制品", "grain"},
		{"dairy", "乳制品", "dairy"}, {"edible_oil", "食用油", "edible oil"},
		{"infant_formula", "婴幼儿配方食品", "infant formula"}, {"health_food", "保健食品", "health food"},
		{"eggs", "蛋及蛋制品", "eggs"}, {"alcohol", "酒类", "alcohol"}, {"other", "其他", "other"},
	};

	if (s == NULL)
		return "";
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(s, map[i][0]) == 0)
			return pg->en ? map[i][2] : map[i][1];
	return s;
}

static const char *
Str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* <dt>label</dt><dd>value</dd> when the value is there */
static void
Row(GwBuf *b, const char *label, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	gw_buf_puts(b, "<dt>");
	gw_buf_esc(b, label);
	gw_buf_puts(b, "</dt><dd>");
	gw_buf_esc(b, value);
	gw_buf_puts(b, "</dd>");
}

static void
PageStart(GwBuf *b, const Page *pg, const char *title)
{
	gw_buf_printf(b, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
				  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\">"
				  "<meta name=\"referrer\" content=\"no-referrer\"><title>", pg->en ? "en" : "zh-CN");
	gw_buf_esc(b, title);
	gw_buf_printf(b, "</title><style>%s</style></head><body>", gw_page_css());
}

/* The link to this lot's page in the other language (or in this one: lang = NULL). */
static void
LangLink(GwBuf *b, const Page *pg)
{
	gw_buf_puts(b, "<nav><a id=\"lang\" href=\"/t/");
	gw_buf_esc(b, pg->code);
	gw_buf_puts(b, "?t=");
	gw_buf_esc(b, pg->token);
	if (pg->en)
		gw_buf_puts(b, "\" hreflang=\"zh-CN\" lang=\"zh-CN\">中文</a></nav>");
	else
		gw_buf_puts(b, "&amp;lang=en\" hreflang=\"en\" lang=\"en\">English</a></nav>");
}

static void
RecallSection(GwBuf *b, const Page *pg, json_t *recalls)
{
	size_t		i;
	json_t	   *r;
	bool		this_lot = false;

	if (!json_is_array(recalls) || json_array_size(recalls) == 0)
	{
		gw_buf_printf(b, "<section id=\"no-recall\" class=\"ok\"><p>%s</p></section>",
					  T("目前没有涉及该批次或其原料的召回。", "No open recall concerns this lot or its ingredients."));
		return;
	}
	json_array_foreach(recalls, i, r)
		this_lot |= json_is_true(json_object_get(r, "this_lot"));
	gw_buf_printf(b, "<section id=\"recall\" class=\"recall\" role=\"alert\"><h2>&#9888; %s</h2>",
				  this_lot ? T("召回警示：该批次产品正在召回", "Recall: this lot is being recalled")
				  : T("召回警示：该产品所用原料批次正在召回", "Recall: an ingredient lot of this product is being recalled"));
	gw_buf_puts(b, "<ul>");
	json_array_foreach(recalls, i, r)
	{
		gw_buf_puts(b, "<li>");
		gw_buf_esc(b, T("召回原因：", "Reason: "));
		gw_buf_esc(b, Str(r, "reason"));
		gw_buf_puts(b, " (");
		gw_buf_esc(b, T("发布于 ", "since "));
		gw_buf_esc(b, Str(r, "opened_on"));
		gw_buf_puts(b, ")</li>");
	}
	gw_buf_puts(b, "</ul><p><strong>");
	gw_buf_esc(b, T("请您：", "What to do:"));
	gw_buf_puts(b, "</strong></p><ol>");
	gw_buf_printf(b, "<li>%s</li><li>%s</li><li>%s</li><li>%s</li>",
				  T("立即停止食用，不要转送他人。", "Stop eating it now and do not give it to anyone."),
				  T("保留包装和购物凭证，退回购买地点或联系经营者办理退货。",
					"Keep the package and the receipt; return it to where you bought it for a refund."),
				  T("如食用后身体不适，请及时就医。", "If you feel unwell after eating it, see a doctor."),
				  T("可拨打 12315 热线咨询或投诉举报。", "You can call the 12315 hotline for advice or to complain."));
	gw_buf_puts(b, "</ol></section>");
}

/* The page of a lot from public_trace's JSON. */
static void
ConsumerPage(GwBuf *b, const Page *pg, json_t *t)
{
	json_t	   *product = json_object_get(t, "product");
	json_t	   *producer = json_object_get(t, "producer");
	json_t	   *region = json_object_get(t, "origin_region");
	json_t	   *list, *x;
	size_t		i;
	const char *name = Str(product, "name");

	PageStart(b, pg, name ? name : T("食品追溯", "Food traceability"));
	gw_buf_printf(b, "<header><h1>%s</h1>", T("食品安全追溯", "Food traceability"));
	LangLink(b, pg);
	gw_buf_puts(b, "</header><main>");
	RecallSection(b, pg, json_object_get(t, "recalls"));

	gw_buf_puts(b, "<section id=\"product\"><h2>");
	gw_buf_esc(b, name);
	gw_buf_puts(b, "</h2><dl>");
	Row(b, T("规格", "Specification"), Str(product, "spec"));
	Row(b, T("类别", "Category"), Category(pg, Str(product, "category")));
	Row(b, T("追溯码", "Trace code"), pg->code);
	Row(b, "GTIN", Str(product, "gtin"));
	Row(b, T("生产日期", "Produced on"), Str(t, "produced_on"));
	Row(b, T("保质期至", "Best before"), Str(t, "expires_on"));
	gw_buf_puts(b, "</dl></section>");

	gw_buf_printf(b, "<section id=\"producer\"><h2>%s</h2><dl>", T("生产者", "Producer"));
	Row(b, T("名称", "Name"), Str(producer, "name"));
	Row(b, T("许可证编号", "Licence"), Str(producer, "licence"));
	Row(b, T("产地", "Region of origin"), Str(region, "name"));
	gw_buf_puts(b, "</dl></section>");

	gw_buf_printf(b, "<section id=\"inspections\"><h2>%s</h2>", T("检验记录", "Inspections"));
	list = json_object_get(t, "inspections");
	if (json_array_size(list) == 0)
		gw_buf_printf(b, "<p class=\"muted\">%s</p>", T("暂无检验记录。", "No inspection recorded."));
	else
	{
		gw_buf_printf(b, "<table><thead><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>",
					  T("日期", "Date"), T("类型", "Kind"), T("结果", "Result"), T("检验方", "By"));
		json_array_foreach(list, i, x)
		{
			const char *result = Str(x, "result");
			bool		pass = result != NULL && strcmp(result, "pass") == 0;

			gw_buf_puts(b, "<tr><td>");
			gw_buf_esc(b, Str(x, "on"));
			gw_buf_puts(b, "</td><td>");
			gw_buf_esc(b, InspectionKind(pg, Str(x, "kind")));
			gw_buf_printf(b, "</td><td class=\"%s\">", pass ? "pass" : "fail");
			gw_buf_esc(b, pass ? T("合格", "pass") : T("不合格", "fail"));
			gw_buf_puts(b, "</td><td>");
			gw_buf_esc(b, Str(x, "by"));
			gw_buf_puts(b, "</td></tr>");
		}
		gw_buf_puts(b, "</tbody></table>");
	}
	gw_buf_puts(b, "</section>");

	/* custody: by region and segment; only producer and final seller are named (public_trace) */
	gw_buf_printf(b, "<section id=\"custody\"><h2>%s</h2><ol>", T("流通环节", "Custody"));
	list = json_object_get(t, "custody");
	json_array_foreach(list, i, x)
	{
		const char *holder = Str(x, "holder");
		const char *rname = Str(x, "region_name");

		gw_buf_puts(b, "<li>");
		gw_buf_esc(b, Segment(pg, Str(x, "segment")));
		gw_buf_puts(b, " · ");
		gw_buf_esc(b, rname ? rname : Str(x, "region"));
		if (holder != NULL)
		{
			gw_buf_puts(b, " · ");
			gw_buf_esc(b, holder);
		}
		if (Str(x, "received_on") != NULL)
		{
			gw_buf_puts(b, " <span class=\"muted\">");
			gw_buf_esc(b, T("收货 ", "received "));
			gw_buf_esc(b, Str(x, "received_on"));
			gw_buf_puts(b, "</span>");
		}
		gw_buf_puts(b, "</li>");
	}
	gw_buf_puts(b, "</ol></section></main><footer><p class=\"muted\">");
	gw_buf_esc(b, T("数据来自食品安全追溯平台；中间环节经营者仅显示地区和环节。",
					"From the food traceability platform; the businesses between producer and seller are shown by region and segment only."));
	gw_buf_puts(b, " <a href=\"/v1/public/trace/");
	gw_buf_esc(b, pg->code);
	gw_buf_puts(b, "?t=");
	gw_buf_esc(b, pg->token);
	gw_buf_puts(b, "\" type=\"application/json\">JSON</a></p></footer></body></html>\n");
}

/* A page that says what went wrong: 404 for no such lot (or wrong token), 400 for a malformed code. */
int
gw_page_error(GwRequest *req, bool en, int status, const char *what, const char *hint)
{
	GwBuf		b = {0};
	Page		pgv = {.en = en};
	const Page *pg = &pgv;
	int			rc;

	PageStart(&b, pg, T("未找到", "Not found"));
	gw_buf_printf(&b, "<header><h1>%s</h1></header><main><section id=\"error\"><h2>",
				  T("食品安全追溯", "Food traceability"));
	gw_buf_esc(&b, status == 404 ? T("没有找到该追溯码对应的产品", "No product found for this code")
			   : status == 400 ? T("追溯码格式不正确", "This code is not valid")
			   : T("暂时无法查询，请稍后再试", "The lookup failed; please try again later"));
	gw_buf_puts(&b, "</h2><p>");
	gw_buf_esc(&b, what);
	gw_buf_puts(&b, "</p><p class=\"muted\">");
	gw_buf_esc(&b, hint);
	gw_buf_printf(&b, "</p><p class=\"muted\">HTTP %d</p></section></main></body></html>\n", status);
	rc = gw_reply_html(req, status, &b, "Cache-Control: no-store\r\nVary: Accept\r\n");
	gw_buf_free(&b);
	return rc;
}

/* The failed lookup in the form asked for. */
static int
LookupFailed(GwRequest *req, Representation rep, bool en, PGresult *err)
{
	const char *sqlstate = PQresultErrorField(err, PG_DIAG_SQLSTATE);
	int			status = gw_http_status_for_sqlstate(sqlstate);
	int			rc;
	const Page	pgv = {.en = en};
	const Page *pg = &pgv;

	if (rep != REP_HTML)
		rc = gw_reply_pg_error(req->conn, err, NULL);
	else if (status == 404)
		rc = gw_page_error(req, en, 404,
						   T("请核对包装上的追溯码和查询码；扫描二维码可直接打开本页。",
							 "Check the code and the token printed next to it; scanning the QR code opens this page directly."),
						   T("追溯码或查询码有误，或该批次未在平台登记。",
							 "Either the code or its token is wrong, or no lot with this code is registered."));
	else if (status == 400)
		rc = gw_page_error(req, en, 400, PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY),
						   T("追溯码为 18 位数字；GS1 数字链接为 /01/商品条码/10/批号。",
							 "A trace code has 18 digits; a GS1 Digital Link is /01/<GTIN>/10/<lot>."));
	else
		rc = gw_page_error(req, en, status >= 500 ? status : 500, "", "");
	PQclear(err);
	return rc;
}

static bool
TokenChars(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char) *s))
			return false;
	return true;
}

static int
Linkset(GwRequest *req, const Page *pg)
{
	char		base[256], pip[512], trace[512], recall[600], anchor[768];
	json_t	   *links;

	gw_public_base(req, base, sizeof(base));
	snprintf(pip, sizeof(pip), "%s/t/%s?t=%s", base, pg->code, pg->token);
	snprintf(trace, sizeof(trace), "%s/v1/public/trace/%s?t=%s", base, pg->code, pg->token);
	snprintf(recall, sizeof(recall), "%s#recall", pip);
	snprintf(anchor, sizeof(anchor), "%s%s", base, req->ri->local_uri);
	links = json_pack("{s:[{s:s, s:[{s:s, s:s, s:s, s:[s,s]}], s:[{s:s, s:s, s:s}], s:[{s:s, s:s, s:s}], "
					  "s:[{s:s, s:s, s:s}]}]}",
					  "linkset", "anchor", anchor,
					  "https://gs1.org/voc/pip", "href", pip, "title", "产品信息与追溯 / product and traceability",
					  "type", "text/html", "hreflang", "zh", "en",
					  "https://gs1.org/voc/traceability", "href", trace, "title", "public trace", "type",
					  "application/json",
					  "https://gs1.org/voc/recallStatus", "href", recall, "title", "recall status", "type",
					  "text/html",
					  "https://gs1.org/voc/defaultLink", "href", pip, "title", "product and traceability",
					  "type", "text/html");
	{
		char	   *text = json_dumps(links, JSON_COMPACT);
		int			rc = gw_reply_text(req->conn, 200, "application/linkset+json", text ? text : "",
									   text ? strlen(text) : 0,
									   CONSUMER_CACHE);

		free(text);
		json_decref(links);
		return rc;
	}
}

/* linkType=...: 307 to the link of that type; an unknown type goes to the default link. */
static int
RedirectLinkType(GwRequest *req, const Page *pg, const char *type)
{
	char		hdr[600];
	const char *path = "/t/", *frag = "", *lang = pg->en ? "&lang=en" : "";

	if (strcmp(type, "gs1:traceability") == 0)
		path = "/v1/public/trace/", lang = "";
	else if (strcmp(type, "gs1:recallStatus") == 0)
		frag = "#recall";
	snprintf(hdr, sizeof(hdr), "Location: %s%s?t=%s%s%s\r\n" CONSUMER_CACHE, path, pg->code, pg->token, lang,
			 frag);
	return gw_reply_text(req->conn, 307, "text/plain; charset=utf-8", "", 0, hdr);
}

int
gw_page_route(GwRequest *req)
{
	char		tok[64], lang[8], link_type[64];
	const char *token = gw_query_param(req, "t", tok, sizeof(tok));
	const char *lt = gw_query_param(req, "linkType", link_type, sizeof(link_type));
	Page		pg = {0};
	Representation rep = Negotiate(mg_get_header(req->conn, "Accept"));
	const char *pattern = req->route->pattern;
	PGresult   *res, *err;
	int			status;
	json_t	   *trace;
	GwJsonError jerr;

	pg.en = gw_query_param(req, "lang", lang, sizeof(lang)) != NULL && strcmp(lang, "en") == 0;
	/* linkType decides over Accept: linkset (or all) is the list, any other a redirect */
	if (lt != NULL && (strcmp(lt, "linkset") == 0 || strcmp(lt, "all") == 0))
	{
		rep = REP_LINKSET;
		lt = NULL;
	}
	/* a token is letters and digits; anything else is no token (the same 404) */
	if (token != NULL && !TokenChars(token))
		token = NULL;

	if (strncmp(pattern, "/t/", 3) == 0)
	{
		const char *p[2] = {req->params[0], token};

		res = gw_page_query(req, "select $1::shilian.trace_code::text, "
							"shilian.public_trace($1::shilian.trace_code, $2)", 2, p, &err, &status);
	}
	else
	{
		/* /01/{gtin}/10/{lot}, /01/{gtin}/21/{serial}, /01/{gtin}/10/{lot}/21/{serial}; /01/{gtin} names no lot */
		bool		has_lot = strstr(pattern, "/10/") != NULL;
		bool		has_serial = strstr(pattern, "/21/") != NULL;
		const char *p[4] = {req->params[0], has_lot ? req->params[1] : NULL,
			has_serial ? req->params[has_lot ? 2 : 1] : NULL, token};

		res = gw_page_query(req, "select c::text, shilian.public_trace(c, $4) "
							"from shilian.public_lot($1, $2, $3, $4) c", 4, p, &err, &status);
	}
	if (res == NULL)
		return err != NULL ? LookupFailed(req, rep, pg.en, err) : status;
	snprintf(pg.code, sizeof(pg.code), "%s", PQgetvalue(res, 0, 0));
	snprintf(pg.token, sizeof(pg.token), "%s", token ? token : "");

	if (lt != NULL)
	{
		PQclear(res);
		return RedirectLinkType(req, &pg, lt);
	}
	if (rep == REP_LINKSET)
	{
		PQclear(res);
		return Linkset(req, &pg);
	}
	if (rep == REP_JSON)
	{
		status = gw_reply_text(req->conn, 200, "application/json; charset=utf-8", PQgetvalue(res, 0, 1),
							   (size_t) PQgetlength(res, 0, 1), CONSUMER_CACHE);
		PQclear(res);
		return status;
	}
	trace = gw_json_load(PQgetvalue(res, 0, 1), (size_t) PQgetlength(res, 0, 1), 0, 16 * 1024 * 1024, &jerr);
	PQclear(res);
	if (trace == NULL)
		return gw_page_error(req, pg.en, 500, "", "");
	{
		GwBuf		b = {0};
		char		link[200];

		ConsumerPage(&b, &pg, trace);
		json_decref(trace);
		snprintf(link, sizeof(link),
				 "Link: </t/%s?t=%s&linkType=linkset>; rel=\"linkset\"; type=\"application/linkset+json\"\r\n",
				 pg.code, pg.token);
		{
			char		headers[400];

			snprintf(headers, sizeof(headers), "%s%s", CONSUMER_CACHE, link);
			status = gw_reply_html(req, 200, &b, headers);
		}
		gw_buf_free(&b);
	}
	return status;
}
