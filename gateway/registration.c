/*
 * registration.c — the phone page for self-service registration (注册) and
 * activation (激活), docs/registration.md. Served like the consumer page
 * (pages.c): server-rendered, Chinese, no script and nothing external; the
 * only difference in its policy is form-action 'self', so that its two forms
 * post back to it. GET /register and GET /activate draw the forms; a POST
 * of a form (application/x-www-form-urlencoded) calls the same functions as
 * POST /v1/registrations and POST /v1/activations, with the same throttle
 * (the client address is set for every request, db.c), and draws the
 * answer. Every rule stays in the extension.
 */
#include "gateway.h"
#include "htmlbuf.h"

#include <stdlib.h>
#include <string.h>

#define FORM_HEADERS \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; " \
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Referrer-Policy: no-referrer\r\n" \
	"Cache-Control: no-store\r\n"

#define FORM_BODY_MAX 8192

static const char *const register_fields[] = {
	"name", "segment", "kinds", "station", "address", "contact", "licence_no", "scope",
	"valid_from", "valid_to", "reg_card", "uscc", NULL
};

static const char *const activate_fields[] = {"licence_no", "code", "phone", NULL};

static void
Start(GwBuf *b, const char *title)
{
	gw_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
				"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>");
	gw_buf_esc(b, title);
	gw_buf_printf(b, "</title><style>%s"
				  "label{display:block;margin:.5rem 0 .15rem;color:#333}"
				  "input,select{width:100%%;box-sizing:border-box;font-size:1rem;padding:.45rem;"
				  "border:1px solid #bbb;border-radius:.3rem;background:#fff}"
				  "button{margin-top:1rem;width:100%%;font-size:1.05rem;padding:.6rem;border:0;"
				  "border-radius:.4rem;background:#0b57d0;color:#fff}</style></head><body>"
				  "<header><h1>", gw_page_css());
	gw_buf_esc(b, title);
	gw_buf_puts(b, "</h1><a href=\"/register\">注册</a> <a href=\"/activate\">激活</a></header><main>");
}

static int
Reply(GwRequest *req, int status, GwBuf *b)
{
	int			rc;

	gw_buf_puts(b, "</main><footer><p class=\"muted\">食品安全追溯平台 · Food traceability platform</p>"
				"</footer></body></html>\n");
	if (b->failed)
		rc = gw_reply_error(req->conn, 500, "GW500", "out of memory drawing the page", NULL, NULL, NULL);
	else
		rc = gw_reply_text(req->conn, status, "text/html; charset=utf-8", b->data, b->len, FORM_HEADERS);
	gw_buf_free(b);
	return rc;
}

static void
Input(GwBuf *b, const char *name, const char *label, const char *type, bool required)
{
	gw_buf_printf(b, "<label for=\"%s\">", name);
	gw_buf_esc(b, label);
	gw_buf_printf(b, "</label><input id=\"%s\" name=\"%s\" type=\"%s\"%s>", name, name, type,
				  required ? " required" : "");
}

static int
RegisterForm(GwRequest *req)
{
	GwBuf		b = {0};

	Start(&b, "经营者注册");
	gw_buf_puts(&b, "<section><p>持食品经营（生产）许可证的经营者在此注册。许可证号、名称与所在监管所与许可证底册一致时立即注册成功；"
				"否则由监管所审核。<span class=\"muted\">Operators with a food licence register here.</span></p>"
				"<form id=\"register\" method=\"post\" action=\"/register\">");
	Input(&b, "name", "名称（与许可证一致）", "text", true);
	Input(&b, "licence_no", "许可证号（JY/SC + 14 位数字）", "text", true);
	Input(&b, "reg_card", "登记卡号（小摊贩）", "text", false);
	Input(&b, "uscc", "统一社会信用代码（企业）", "text", false);
	gw_buf_puts(&b, "<label for=\"segment\">环节</label><select id=\"segment\" name=\"segment\">"
				"<option value=\"circulation\">流通</option><option value=\"catering\">餐饮</option>"
				"<option value=\"production\">生产</option><option value=\"special_food\">特殊食品</option></select>"
				"<label for=\"kinds\">类型</label><select id=\"kinds\" name=\"kinds\">"
				"<option value=\"market_vendor\">市场摊位</option><option value=\"retailer\">零售</option>"
				"<option value=\"restaurant\">餐馆</option><option value=\"wholesaler\">批发</option>"
				"<option value=\"processor\">加工</option><option value=\"farm\">种养殖</option></select>"
				"<label for=\"scope\">经营类别</label><select id=\"scope\" name=\"scope\">"
				"<option value=\"vegetables\">蔬菜</option><option value=\"fruit\">水果</option>"
				"<option value=\"meat\">肉类</option><option value=\"aquatic\">水产</option>"
				"<option value=\"grain\">粮食</option><option value=\"other\">其他</option></select>");
	Input(&b, "valid_from", "许可证有效期起", "date", true);
	Input(&b, "valid_to", "许可证有效期至", "date", true);
	Input(&b, "station", "所属监管所代码", "text", true);
	Input(&b, "address", "经营地址", "text", true);
	Input(&b, "contact", "手机号", "tel", true);
	gw_buf_puts(&b, "<button type=\"submit\">提交注册</button></form></section>");
	return Reply(req, 200, &b);
}

static int
ActivateForm(GwRequest *req)
{
	GwBuf		b = {0};

	Start(&b, "经营者激活");
	gw_buf_puts(&b, "<section><p>输入许可证号和监管所给您的激活码，绑定您的手机号。"
				"<span class=\"muted\">Activate with the code from your supervision station.</span></p>"
				"<form id=\"activate\" method=\"post\" action=\"/activate\">");
	Input(&b, "licence_no", "许可证号", "text", true);
	Input(&b, "code", "激活码", "text", true);
	Input(&b, "phone", "手机号", "tel", true);
	gw_buf_puts(&b, "<button type=\"submit\">激活</button></form></section>");
	return Reply(req, 200, &b);
}

/* The form's fields, decoded and without trailing white space, in the order of names (empty for a missing one). */
static int
ReadForm(GwRequest *req, const char *const *names, char values[][256])
{
	char	   *body = malloc(FORM_BODY_MAX + 1);
	int			got = 0,
				n;

	if (body == NULL)
		return gw_reply_error(req->conn, 503, "GW503", "out of memory", NULL, NULL, NULL);
	while (got < FORM_BODY_MAX && (n = mg_read(req->conn, body + got, FORM_BODY_MAX - got)) > 0)
		got += n;
	body[got] = '\0';
	for (int i = 0; names[i]; i++)
	{
		size_t		len;

		if (mg_get_var(body, (size_t) got, names[i], values[i], 256) < 0)
			values[i][0] = '\0';
		/* a field typed on a phone may end in a space or a line break */
		for (len = strlen(values[i]); len > 0 && strchr(" \t\r\n", values[i][len - 1]) != NULL; len--)
			values[i][len - 1] = '\0';
	}
	free(body);
	return 0;
}

/* The answer to a POST: the function's jsonb, or the error it raised. */
static int
Answer(GwRequest *req, const char *title, const char *sql, int n, const char *const *params)
{
	PGresult   *err = NULL;
	int			status = 0;
	PGresult   *res = gw_page_query(req, sql, n, params, &err, &status);
	GwBuf		b = {0};
	json_t	   *j = NULL;
	const char *st = NULL;
	const char *message = NULL;
	const char *code = NULL;
	int			http = 200;

	if (res == NULL && err == NULL)
		return status;
	Start(&b, title);
	if (res != NULL)
	{
		j = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		st = json_string_value(json_object_get(j, "status"));
		if (json_is_object(json_object_get(j, "error")))
		{
			message = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
			code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
		}
	}
	else
	{
		message = PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY);
		code = PQresultErrorField(err, PG_DIAG_SQLSTATE);
	}
	if (code != NULL)
	{
		http = gw_http_status_for_sqlstate(code);
		gw_buf_puts(&b, "<section id=\"result\" class=\"fail\"><h2>");
		gw_buf_esc(&b, code && strcmp(code, "SLQ05") == 0 ? "该许可证已被注册，已转监管所核查"
				   : code && strcmp(code, "SLQ02") == 0 ? "提交过于频繁，请一小时后再试"
				   : code && strcmp(code, "SLQ14") == 0 ? "许可证号或激活码不正确"
				   : code && strcmp(code, "SLQ15") == 0 ? "激活码已过期，请向监管所重新申请"
				   : "未能办理");
		gw_buf_puts(&b, "</h2><p class=\"muted\">");
		gw_buf_esc(&b, message);
		gw_buf_puts(&b, " (");
		gw_buf_esc(&b, code);
		gw_buf_puts(&b, ")</p></section>");
	}
	else
	{
		gw_buf_puts(&b, "<section id=\"result\" class=\"ok\"><h2>");
		gw_buf_esc(&b, st && strcmp(st, "registered") == 0 ? "注册成功，请向监管所领取激活码"
				   : st && strcmp(st, "pending") == 0 ? "已提交，等待监管所审核"
				   : st && strcmp(st, "active") == 0 ? "激活成功" : st);
		gw_buf_puts(&b, "</h2><dl>");
		if (json_is_integer(json_object_get(j, "operator")))
			gw_buf_printf(&b, "<dt>经营者编号</dt><dd id=\"operator\">%lld</dd>",
						  (long long) json_integer_value(json_object_get(j, "operator")));
		if (json_is_integer(json_object_get(j, "id")))
			gw_buf_printf(&b, "<dt>申请编号</dt><dd id=\"request\">%lld</dd>",
						  (long long) json_integer_value(json_object_get(j, "id")));
		gw_buf_puts(&b, "<dt>状态</dt><dd id=\"status\">");
		gw_buf_esc(&b, st);
		gw_buf_puts(&b, "</dd></dl></section>");
	}
	json_decref(j);
	PQclear(res);
	PQclear(err);
	return Reply(req, http, &b);
}

int
gw_registration_page_route(GwRequest *req)
{
	bool		post = strcmp(req->ri->request_method, "POST") == 0;
	bool		activate = strcmp(req->route->pattern, "/activate") == 0;

	if (!post)
		return activate ? ActivateForm(req) : RegisterForm(req);
	if (activate)
	{
		char		v[3][256];
		const char *p[3];
		int			rc = ReadForm(req, activate_fields, v);

		if (rc != 0)
			return rc;
		for (int i = 0; i < 3; i++)
			p[i] = v[i];
		return Answer(req, "经营者激活",
					  "select shilian.operator_activate_with_code(nullif($1, ''), nullif($2, ''), "
					  "'phone:' || nullif($3, ''))::text", 3, p);
	}
	else
	{
		char		v[12][256];
		const char *p[12];
		int			rc = ReadForm(req, register_fields, v);

		if (rc != 0)
			return rc;
		for (int i = 0; i < 12; i++)
			p[i] = v[i];
		return Answer(req, "经营者注册",
					  "select shilian.operator_register_request(name => nullif($1, ''), segment => nullif($2, ''), "
					  "kinds => array[nullif($3, '')], station => nullif($4, ''), address => nullif($5, ''), "
					  "contact => nullif($6, ''), licence_no => nullif($7, ''), scope => array[nullif($8, '')], "
					  "valid_from => shilian.strict_date(nullif($9, ''), 'valid_from'), "
					  "valid_to => shilian.strict_date(nullif($10, ''), 'valid_to'), reg_card => nullif($11, ''), "
					  "uscc => nullif($12, ''), identity => 'phone:' || nullif($6, ''))::text", 12, p);
	}
}
