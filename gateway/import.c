/*
 * import.c — POST /v1/import: the upload is streamed, never held whole. The
 * body is read from civetweb in chunks and cut into lines here; each line
 * goes to the database at once with COPY FROM STDIN into the session's
 * temporary table shilian_import_lines, and only the line being cut is kept
 * (up to import_line_limit). A line that cannot be a record — longer than
 * import_line_limit, not UTF-8, with a NUL byte, or cut off at the end of
 * the body — is sent as a refused line (SQLSTATE and message) and reported
 * like any other. Then import_stage_lines makes the job (or finds the one of
 * the same Idempotency-Key) and the staging commits, so GET /v1/import/{id}
 * shows the total; import_apply then runs in chunks of IMPORT_CHUNK lines,
 * each its own transaction, so done/accepted/refused grow visibly while a
 * large upload runs (all_or_nothing: one transaction, visible at the end).
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define READ_CHUNK 65536
#define IMPORT_CHUNK "20000"

typedef struct Stream
{
	GwRequest  *req;
	PGconn	   *db;
	char	   *line;			/* the line being cut, up to the line limit */
	size_t		len;
	size_t		cap;
	bool		too_long;
	size_t		line_bytes;		/* of the current line, also past the limit */
	long		line_no;
	char	   *copybuf;		/* COPY text of one row */
	size_t		copycap;
	bool		failed;
} Stream;

/* Whether s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
static bool
Utf8Valid(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		k;
		unsigned	cp;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			k = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			k = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			k = 3, cp = c & 0x07;
		else
			return false;
		for (size_t j = 1; j <= k; j++)
		{
			if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
			(k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * Whether the last line (no newline after it) stops in the middle of a JSON
 * value: the parser runs out of input rather than meeting a wrong character.
 */
static bool
CutOff(const char *s, size_t n)
{
	json_error_t err;
	json_t	   *v = json_loadb(s, n, JSON_DECODE_ANY, &err);

	if (v != NULL)
	{
		json_decref(v);
		return false;
	}
	return err.position >= (int) n;
}

/* Append one COPY text field (escaped) or \N. */
static bool
CopyField(Stream *st, size_t *at, const char *v, size_t n, bool last)
{
	size_t		need = *at + (v ? 2 * n : 2) + 2;

	if (need > st->copycap)
	{
		char	   *b = realloc(st->copybuf, need * 2);

		if (b == NULL)
			return false;
		st->copybuf = b;
		st->copycap = need * 2;
	}
	if (v == NULL)
	{
		memcpy(st->copybuf + *at, "\\N", 2);
		*at += 2;
	}
	else
		for (size_t i = 0; i < n; i++)
		{
			char		c = v[i];

			if (c == '\\' || c == '\t' || c == '\n' || c == '\r')
			{
				st->copybuf[(*at)++] = '\\';
				c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
			}
			st->copybuf[(*at)++] = c;
		}
	st->copybuf[(*at)++] = last ? '\n' : '\t';
	return true;
}

static bool
SendRow(Stream *st, const char *body, size_t n, const char *state, const char *msg)
{
	char		num[24];
	size_t		at = 0;

	snprintf(num, sizeof(num), "%ld", st->line_no);
	if (!CopyField(st, &at, num, strlen(num), false) ||
		!CopyField(st, &at, body, n, false) ||
		!CopyField(st, &at, state, state ? strlen(state) : 0, false) ||
		!CopyField(st, &at, msg, msg ? strlen(msg) : 0, true))
		return false;
	return PQputCopyData(st->db, st->copybuf, (int) at) == 1;
}

/* A line is complete (final: the body ended without a newline after it). */
static bool
EndLine(Stream *st, bool final)
{
	char		msg[160];
	size_t		n = st->len;
	bool		ok;
	bool		blank = true;

	st->line_no++;
	if (!st->too_long && n > 0 && st->line[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n && blank; i++)
		blank = st->line[i] == ' ' || st->line[i] == '\t' || st->line[i] == '\r';
	if (st->too_long)
	{
		snprintf(msg, sizeof(msg), "line %ld is %zu bytes long, over the limit of %ld bytes",
				 st->line_no, st->line_bytes, gw_config.import_line_limit);
		ok = SendRow(st, NULL, 0, "54000", msg);
	}
	else if (blank)
		ok = true;				/* skipped, but counted */
	else if (memchr(st->line, '\0', n) != NULL)
	{
		snprintf(msg, sizeof(msg), "line %ld contains a NUL byte at byte %zu", st->line_no,
				 (size_t) ((char *) memchr(st->line, '\0', n) - st->line) + 1);
		ok = SendRow(st, NULL, 0, "22021", msg);
	}
	else if (!Utf8Valid((const unsigned char *) st->line, n))
	{
		snprintf(msg, sizeof(msg), "line %ld is not valid UTF-8", st->line_no);
		ok = SendRow(st, NULL, 0, "22021", msg);
	}
	else if (final && CutOff(st->line, n))
	{
		snprintf(msg, sizeof(msg), "line %ld is cut off: the upload ends inside it", st->line_no);
		ok = SendRow(st, NULL, 0, "SLI04", msg);
	}
	else
		ok = SendRow(st, st->line, n, NULL, NULL);
	st->len = 0;
	st->line_bytes = 0;
	st->too_long = false;
	return ok;
}

/* Feed a chunk of the body: cut lines, send the complete ones. */
static bool
Feed(Stream *st, const char *buf, size_t n)
{
	size_t		limit = (size_t) gw_config.import_line_limit;

	while (n > 0)
	{
		const char *nl = memchr(buf, '\n', n);
		size_t		take = nl ? (size_t) (nl - buf) : n;

		st->line_bytes += take;
		if (!st->too_long)
		{
			if (st->len + take > limit)
				st->too_long = true;	/* the rest of the line is read and dropped */
			else
			{
				if (st->len + take > st->cap)
				{
					size_t		cap = st->cap ? st->cap : 4096;
					char	   *b;

					while (cap < st->len + take)
						cap *= 2;
					if ((b = realloc(st->line, cap)) == NULL)
						return false;
					st->line = b;
					st->cap = cap;
				}
				memcpy(st->line + st->len, buf, take);
				st->len += take;
			}
		}
		if (nl == NULL)
			return true;
		if (!EndLine(st, false))
			return false;
		buf += take + 1;
		n -= take + 1;
	}
	return true;
}

static int
Fail(GwRequest *req, PGconn *db, PGresult *res)
{
	int			status = gw_reply_pg_error(req->conn, res, db);

	PQclear(res);
	gw_tx_rollback(db);
	return status;
}

/* One statement returning one value, in a transaction of its own as the caller. */
static char *
CallValue(GwRequest *req, const char *sql, int n, const char *const *params, int *status)
{
	PGresult   *res = gw_call(req, sql, n, params, status);
	char	   *v;

	if (res == NULL)
		return NULL;
	v = strdup(PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static bool
MediaTypeIs(const char *ctype, const char *type)
{
	size_t		len = strlen(type);

	return ctype != NULL && strncasecmp(ctype, type, len) == 0 &&
		(ctype[len] == '\0' || ctype[len] == ';' || ctype[len] == ' ');
}

int
gw_import_route(GwRequest *req)
{
	const char *ctype = mg_get_header(req->conn, "Content-Type");
	const char *key = mg_get_header(req->conn, "Idempotency-Key");
	long long	clen = req->ri->content_length;
	char		mode[32] = "apply_valid";
	char	   *buf = NULL;
	char	   *staged = NULL;
	char	   *final = NULL;
	Stream		st;
	PGconn	   *db = NULL;
	PGresult   *res;
	size_t		total = 0;
	int			status = 0,
				n;
	bool		replayed;
	char		id[32];

	memset(&st, 0, sizeof(st));
	if (!MediaTypeIs(ctype, "application/x-ndjson"))
		return gw_reply_error(req->conn, 415, "GW415", "unsupported media type",
							  ctype ? ctype : "no Content-Type", "Send Content-Type: application/x-ndjson.", NULL);
	if (clen > gw_config.import_body_limit)
	{
		char		details[96];

		snprintf(details, sizeof(details), "%lld bytes; the limit is %ld", clen, gw_config.import_body_limit);
		return gw_reply_error(req->conn, 413, "GW413", "request body too large", details,
							  "Split the upload into several (see import_body_limit).", "Connection: close\r\n");
	}
	if (gw_query_param(req, "mode", mode, sizeof(mode)) == NULL)
		strcpy(mode, "apply_valid");

	/* ---- stage: COPY the lines as they arrive, then make the job; commit ---- */
	if ((status = gw_tx_begin(req, &db)) != 0 || (status = gw_tx_set_role(req, db)) != 0)
		return status;
	res = PQexec(db, "create temporary table shilian_import_lines (line_no integer, body text, "
				 "sqlstate text, message text) on commit drop");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return Fail(req, db, res);
	PQclear(res);
	res = PQexec(db, "copy shilian_import_lines from stdin");
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return Fail(req, db, res);
	PQclear(res);
	st.req = req;
	st.db = db;
	buf = malloc(READ_CHUNK);
	if (buf == NULL)
		st.failed = true;
	while (!st.failed && (n = mg_read(req->conn, buf, READ_CHUNK)) > 0)
	{
		total += (size_t) n;
		if ((long) total > gw_config.import_body_limit)
		{
			PQputCopyEnd(db, "upload over import_body_limit");
			PQclear(PQgetResult(db));
			gw_tx_rollback(db);
			status = gw_reply_error(req->conn, 413, "GW413", "request body too large", NULL,
									"Split the upload into several (see import_body_limit).",
									"Connection: close\r\n");
			goto done;
		}
		if (!Feed(&st, buf, (size_t) n))
			st.failed = true;
	}
	if (!st.failed && clen >= 0 && (long long) total != clen)
	{
		PQputCopyEnd(db, "truncated request body");
		PQclear(PQgetResult(db));
		gw_tx_rollback(db);
		status = gw_reply_error(req->conn, 400, "GW400", "truncated request body",
								"The connection ended before Content-Length bytes arrived; nothing was staged.",
								"Send the upload again (with the same Idempotency-Key).", "Connection: close\r\n");
		goto done;
	}
	if (!st.failed && (st.len > 0 || st.too_long))
		st.failed = !EndLine(&st, true);
	if (st.failed || PQputCopyEnd(db, NULL) != 1)
	{
		PQputCopyEnd(db, "gateway could not send the upload");
		status = Fail(req, db, PQgetResult(db));
		goto done;
	}
	res = PQgetResult(db);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);
	{
		const char *p[2] = {mode, key};

		res = gw_tx_exec(req, db, -1, "select shilian.import_stage_lines($1, $2)", 2, p, &status);
		if (res == NULL)
			goto done;
		staged = strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if ((status = gw_tx_commit(req, db)) != 0)
		goto done;
	{
		json_t	   *j = json_loads(staged, 0, NULL);

		replayed = json_is_true(json_object_get(j, "replayed"));
		snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")) ?
				 json_string_value(json_object_get(j, "id")) : "0");
		json_decref(j);
	}

	/* ---- apply in chunks, each committed: progress visible meanwhile ---- */
	if (!replayed)
	{
		bool		all = strcmp(mode, "all_or_nothing") == 0;
		const char *p[2] = {id, all ? NULL : IMPORT_CHUNK};

		for (;;)
		{
			char	   *left = CallValue(req, "select shilian.import_apply($1::bigint, $2::int)", 2, p, &status);

			if (left == NULL)
				goto done;
			n = atoi(left);
			free(left);
			if (n <= 0)
				break;
		}
	}
	{
		const char *p[1] = {id};

		final = CallValue(req, "select shilian.import_status($1::bigint) - 'replayed'", 1, p, &status);
		if (final == NULL)
			goto done;
	}
	status = gw_reply_text(req->conn, 201, "application/json; charset=utf-8", final, strlen(final),
						   replayed ? "Idempotent-Replayed: true\r\n" : NULL);

done:
	free(buf);
	free(st.line);
	free(st.copybuf);
	free(staged);
	free(final);
	return status;
}
