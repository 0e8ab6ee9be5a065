/*
 * import.c — POST /v1/import: the upload is streamed, never held whole. The
 * body is read from civetweb in pieces, under the upload's time limit and
 * minimum rate (upload_pool.c), and cut into lines here; each line goes to
 * the database at once with COPY FROM STDIN into the session's temporary
 * table shilian_import_lines, on a connection of the upload pool, and only
 * the line being cut is kept (up to import_line_limit). The upload is all or
 * nothing at the transport level: the staging transaction commits only once
 * the whole body is in (the chunked terminator seen, or Content-Length bytes
 * read); a body cut short or too slow rolls it back, and the job records the
 * failure (import_cut), so a retry with the same key starts afresh. A line
 * that cannot be a record (longer than import_line_limit, not UTF-8, with a
 * NUL byte, or a last line that ends inside a JSON value) is sent as a
 * refused line (SQLSTATE and message) and reported like any other. Then
 * import_stage_lines makes the job (or finds the one of the same
 * Idempotency-Key), the gateway takes its lease, and the staging commits;
 * the reply is 202 with the job's Location and import_job.c applies it in
 * the background, in committed steps under the lease (with Prefer: wait it
 * applies it first and answers 201 with the job's status). A text/csv
 * upload of one kind (?kind= or Import-Kind) is the same: each record
 * becomes the JSON line of its kind, with the header's column names as
 * fields.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define READ_CHUNK 65536

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
	/* CSV (text/csv): one kind, a header row, records that may span lines */
	const struct CsvKind *csv;
	char	  **columns;		/* of the header, NULL until read */
	int			ncolumns;
	char	   *rec;			/* the record being gathered */
	size_t		reclen;
	size_t		reccap;
	long		rec_line;		/* its first line, 0 when none is open */
	char		header_error[512];
} Stream;

/* The columns of a CSV upload per kind: the record function's parameters by line field name. */
typedef struct CsvKind
{
	const char *kind;
	const char *required;		/* comma-separated */
	const char *optional;
} CsvKind;

static const CsvKind csv_kinds[] = {
	{"operator", "name,segment,kinds,station,address,contact", "uscc,reg_card,own_system,regulator_contact"},
	{"licence", "operator,licence_no,scope,valid_from,valid_to", ""},
	{"product", "name,category", "shelf_life_days,spec,gtin,edible_agricultural,owner"},
	{"batch", "owner,product,qty", "produced_on,lot,expires_on,certificate"},
	{"inspection", "inspection_kind,result,report", "code,code_ref,inspected_at,operator"},
	{"ship", "buyer,qty", "code,code_ref,shipped_on,seller"},
	{"receive", "qty,inspection", "link,link_ref,received_at,reject_reason,into_batch"},
	{"transform", "inputs,qtys,product,qty", "produced_on,lot,expires_on,operator"},
	{"consume", "qty,consumption_kind", "code,code_ref,consumed_at,at,note,operator"},	/* at: 0.2.0, deprecated */
	/* first entries, rejections; code_ref above (docs/integration.md) */
	{"first_entry", "buyer,product,qty,supplier,inspection", "produced_on,received_at,lot,certificate"},
	{"reject", "reject_reason", "link,link_ref,rejected_at"},
	{NULL, NULL, NULL}
};

/* Columns whose cells are JSON (documents and arrays); the others are strings. */
static const char *const json_columns = ",kinds,scope,report,inspection,certificate,supplier,inputs,qtys,";

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
	GwJsonError err;
	json_t	   *v = gw_json_load(s, n, JSON_DECODE_ANY, 0, &err);

	if (v != NULL)
	{
		json_decref(v);
		return false;
	}
	/* too deep to parse here: the database refuses the line for that */
	return err.limit == SL_JSON_OK && err.parse.position >= (int) n;
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
SendRowAt(Stream *st, long line_no, const char *body, size_t n, const char *state, const char *msg)
{
	char		num[24];
	size_t		at = 0;

	snprintf(num, sizeof(num), "%ld", line_no);
	if (!CopyField(st, &at, num, strlen(num), false) ||
		!CopyField(st, &at, body, n, false) ||
		!CopyField(st, &at, state, state ? strlen(state) : 0, false) ||
		!CopyField(st, &at, msg, msg ? strlen(msg) : 0, true))
		return false;
	return PQputCopyData(st->db, st->copybuf, (int) at) == 1;
}

static bool
SendRow(Stream *st, const char *body, size_t n, const char *state, const char *msg)
{
	return SendRowAt(st, st->line_no, body, n, state, msg);
}

static bool CsvLine(Stream *st, const char *line, size_t n, const char *state, const char *msg,
					bool final);

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
	if (st->csv != NULL)
	{
		const char *state = NULL;

		msg[0] = '\0';
		if (st->too_long)
			snprintf(msg, sizeof(msg), "line %ld is %zu bytes long, over the limit of %ld bytes",
					 st->line_no, st->line_bytes, gw_config.import_line_limit), state = "54000";
		else if (memchr(st->line, '\0', n) != NULL)
			snprintf(msg, sizeof(msg), "line %ld contains a NUL byte at byte %zu", st->line_no,
					 (size_t) ((char *) memchr(st->line, '\0', n) - st->line) + 1), state = "22021";
		else if (!Utf8Valid((const unsigned char *) st->line, n))
			snprintf(msg, sizeof(msg), "line %ld is not valid UTF-8", st->line_no), state = "22021";
		ok = (blank && st->rec_line == 0 && state == NULL) ? true :
			CsvLine(st, st->line, n, state, msg, final);
	}
	else if (st->too_long)
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

/* Whether name is in the comma-separated list. */
static bool
InList(const char *list, const char *name)
{
	size_t		n = strlen(name);

	for (const char *p = list; *p;)
	{
		const char *e = strchr(p, ',');
		size_t		len = e ? (size_t) (e - p) : strlen(p);

		if (len == n && strncmp(p, name, n) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

/* Split a CSV record (RFC 4180: "" inside quotes) into cells; returns the count or -1. */
static int
CsvSplit(const char *rec, size_t n, char ***cells_out)
{
	char	  **cells = NULL;
	int			ncells = 0;
	size_t		i = 0;

	for (;;)
	{
		char	   *cell = malloc(n + 1);
		size_t		len = 0;
		char	  **more;

		if (cell == NULL)
			goto fail;
		if (i < n && rec[i] == '"')
		{
			i++;
			for (;;)
			{
				if (i >= n)
				{
					free(cell);
					goto fail;	/* unterminated quote */
				}
				if (rec[i] == '"')
				{
					if (i + 1 < n && rec[i + 1] == '"')
					{
						cell[len++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				cell[len++] = rec[i++];
			}
			if (i < n && rec[i] != ',')
			{
				free(cell);
				goto fail;		/* text after the closing quote */
			}
		}
		else
			while (i < n && rec[i] != ',')
				cell[len++] = rec[i++];
		cell[len] = '\0';
		more = realloc(cells, sizeof(char *) * (ncells + 1));
		if (more == NULL)
		{
			free(cell);
			goto fail;
		}
		cells = more;
		cells[ncells++] = cell;
		if (i >= n)
			break;
		i++;					/* the comma */
	}
	*cells_out = cells;
	return ncells;
fail:
	for (int k = 0; k < ncells; k++)
		free(cells[k]);
	free(cells);
	return -1;
}

static void
FreeCells(char **cells, int n)
{
	for (int k = 0; k < n; k++)
		free(cells[k]);
	free(cells);
}

/* The header row: the kind's required columns all there, no column it does not take. */
static void
CsvHeader(Stream *st, char **cells, int n)
{
	const CsvKind *k = st->csv;
	char		missing[256] = "",
				unknown[256] = "";
	char		req[256];
	char	   *save = NULL;

	for (int i = 0; i < n; i++)
		if (!InList(k->required, cells[i]) && !InList(k->optional, cells[i]))
			snprintf(unknown + strlen(unknown), sizeof(unknown) - strlen(unknown), "%s%s",
					 unknown[0] ? ", " : "", cells[i]);
	snprintf(req, sizeof(req), "%s", k->required);
	for (char *c = strtok_r(req, ",", &save); c; c = strtok_r(NULL, ",", &save))
	{
		bool		have = false;

		for (int i = 0; i < n && !have; i++)
			have = strcmp(cells[i], c) == 0;
		if (!have)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
					 missing[0] ? ", " : "", c);
	}
	if (strcmp(k->kind, "receive") == 0)
	{
		bool		link = false;

		for (int i = 0; i < n; i++)
			link = link || strcmp(cells[i], "link") == 0 || strcmp(cells[i], "link_ref") == 0;
		if (!link)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
					 missing[0] ? ", " : "", "link (or link_ref)");
	}
	if (missing[0] || unknown[0])
	{
		snprintf(st->header_error, sizeof(st->header_error), "%s%s%s%s%s",
				 missing[0] ? "missing columns: " : "", missing,
				 missing[0] && unknown[0] ? "; " : "",
				 unknown[0] ? "unknown columns: " : "", unknown);
		return;
	}
	st->columns = cells;
	st->ncolumns = n;
}

/* A complete CSV record: the header, or a row sent as the JSON line of its kind. */
static bool
CsvRecord(Stream *st, long line_no, const char *rec, size_t n)
{
	char	  **cells;
	int			ncells = CsvSplit(rec, n, &cells);
	char		msg[200];
	json_t	   *obj;
	char	   *text;
	bool		ok;

	if (ncells < 0)
	{
		snprintf(msg, sizeof(msg), "line %ld is not a CSV record: a quote is not closed or text follows it",
				 line_no);
		return st->columns ? SendRowAt(st, line_no, NULL, 0, "22P04", msg) :
			(snprintf(st->header_error, sizeof(st->header_error), "%s", msg), true);
	}
	if (st->columns == NULL)
	{
		CsvHeader(st, cells, ncells);
		if (st->columns == NULL)
			FreeCells(cells, ncells);
		return true;
	}
	if (ncells != st->ncolumns)
	{
		snprintf(msg, sizeof(msg), "line %ld has %d fields, the header has %d", line_no, ncells,
				 st->ncolumns);
		FreeCells(cells, ncells);
		return SendRowAt(st, line_no, NULL, 0, "22P04", msg);
	}
	obj = json_object();
	json_object_set_new(obj, "kind", json_string(st->csv->kind));
	for (int i = 0; i < ncells; i++)
	{
		char		pat[80];
		json_t	   *v;

		if (cells[i][0] == '\0')
			continue;			/* an empty cell: the parameter's default */
		snprintf(pat, sizeof(pat), ",%s,", st->columns[i]);
		if (strstr(json_columns, pat) != NULL)
		{
			GwJsonError err;

			v = gw_json_load(cells[i], strlen(cells[i]), JSON_DECODE_ANY, 0, &err);
			if (v == NULL)
			{
				if (err.limit != SL_JSON_OK)
					snprintf(msg, sizeof(msg), "line %ld: column %.40s: %.40s (%.80s)", line_no,
							 st->columns[i], err.message, err.details);
				else
					snprintf(msg, sizeof(msg), "line %ld: column %s is not JSON: %s", line_no,
							 st->columns[i], err.parse.text);
				json_decref(obj);
				FreeCells(cells, ncells);
				return SendRowAt(st, line_no, NULL, 0, err.limit != SL_JSON_OK ? "54000" : "22P02", msg);
			}
		}
		else
			v = json_string(cells[i]);
		json_object_set_new(obj, st->columns[i], v);
	}
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ok = text != NULL && SendRowAt(st, line_no, text, strlen(text), NULL, NULL);
	free(text);
	json_decref(obj);
	FreeCells(cells, ncells);
	return ok;
}

/*
 * A physical line of a CSV upload: added to the open record, which is
 * complete when its quotes balance (a quoted cell may hold newlines).
 */
static bool
CsvLine(Stream *st, const char *line, size_t n, const char *state, const char *msg, bool final)
{
	size_t		quotes = 0;

	if (st->header_error[0])
		return true;
	if (st->rec_line == 0)
	{
		st->rec_line = st->line_no;
		st->reclen = 0;
	}
	if (state != NULL)
	{
		long		at = st->rec_line;

		st->rec_line = 0;
		if (st->columns == NULL)
		{
			snprintf(st->header_error, sizeof(st->header_error), "%s", msg);
			return true;
		}
		return SendRowAt(st, at, NULL, 0, state, msg);
	}
	if (st->reclen + n + 1 > (size_t) gw_config.import_line_limit)
	{
		char		m[160];
		long		at = st->rec_line;

		snprintf(m, sizeof(m), "the record of line %ld is over the limit of %ld bytes", at,
				 gw_config.import_line_limit);
		st->rec_line = 0;
		return SendRowAt(st, at, NULL, 0, "54000", m);
	}
	if (st->reclen + n + 1 > st->reccap)
	{
		size_t		cap = (st->reclen + n + 1) * 2;
		char	   *b = realloc(st->rec, cap);

		if (b == NULL)
			return false;
		st->rec = b;
		st->reccap = cap;
	}
	if (st->reclen > 0)
		st->rec[st->reclen++] = '\n';
	memcpy(st->rec + st->reclen, line, n);
	st->reclen += n;
	for (size_t i = 0; i < st->reclen; i++)
		quotes += st->rec[i] == '"';
	if (quotes % 2 == 1 && !final)
		return true;			/* a quoted cell goes on */
	{
		long		at = st->rec_line;

		st->rec_line = 0;
		if (quotes % 2 == 1)
		{
			char		m[160];

			snprintf(m, sizeof(m), "line %ld is cut off: the upload ends inside a quoted cell", at);
			return SendRowAt(st, at, NULL, 0, "SLI04", m);
		}
		return CsvRecord(st, at, st->rec, st->reclen);
	}
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

/* A failed statement on the upload connection: the error as the reply, the transaction rolled back. */
static int
Fail(GwRequest *req, PGconn *db, PGresult *res)
{
	int			status = gw_reply_pg_error(req->conn, res, db);

	PQclear(res);
	gw_tx_rollback(db);
	return status;
}

/* Give up the COPY of an upload: the staging transaction is rolled back. */
static void
CopyAbandon(PGconn *db, const char *why)
{
	PGresult   *r;

	PQputCopyEnd(db, why);
	while ((r = PQgetResult(db)) != NULL)
		PQclear(r);
	gw_tx_rollback(db);
}

/* One statement as the caller, in a transaction of its own on the upload connection: its one value. */
static char *
CallValue(GwRequest *req, PGconn *db, const char *sql, int n, const char *const *params, int *status)
{
	PGresult   *res = PQexec(db, "BEGIN");
	char	   *v;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return (*status = Fail(req, db, res)), NULL;
	PQclear(res);
	res = gw_set_principal(db, &req->auth, gw_config.request_timeout_ms);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return (*status = Fail(req, db, res)), NULL;
	PQclear(res);
	res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return (*status = Fail(req, db, res)), NULL;
	v = strdup(PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
	PQclear(res);
	res = PQexec(db, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		free(v);
		return (*status = Fail(req, db, res)), NULL;
	}
	PQclear(res);
	return v;
}

/*
 * The body did not arrive whole (the connection ended before the chunked
 * terminator or Content-Length bytes, or the client was too slow): nothing
 * is staged, the COPY is rolled back, and the job records the failure with
 * its reason (import_cut), so that a retry with the same key starts afresh.
 */
static int
Cut(GwRequest *req, PGconn *db, const char *mode, const char *key, long lines, int status,
	const char *code, const char *message, const char *reason)
{
	char		nlines[24], details[700];
	const char *p[4] = {mode, key, nlines, reason};
	char	   *job;
	int			st = 0;

	CopyAbandon(db, "the upload did not arrive whole");
	snprintf(nlines, sizeof(nlines), "%ld", lines);
	job = CallValue(req, db, "select j ->> 'id' || ' ' || (j ->> 'status') "
					"from shilian.import_cut($1, $2, $3::integer, $4) j", 4, p, &st);
	mg_disable_connection_keep_alive(req->conn);	/* the rest of the body is never read */
	if (job == NULL)
		return st;
	{
		char	   *sp = strchr(job, ' ');

		if (sp != NULL)
			*sp++ = '\0';
		if (sp != NULL && strcmp(sp, "failed") == 0)
			snprintf(details, sizeof(details), "Nothing was staged or applied; import job %s is failed: %s.",
					 job, reason);
		else
			snprintf(details, sizeof(details), "Nothing was staged or applied (%s); import job %s of this "
					 "Idempotency-Key is unchanged (%s).", reason, job, sp ? sp : "");
	}
	free(job);
	return gw_reply_error(req->conn, status, code, message, details,
						  "Send the whole upload again with the same Idempotency-Key.", "Connection: close\r\n");
}

/* SLI05 (the upload of this key is still being applied): 409, to be retried later. */
static int
Busy(GwRequest *req, PGconn *db, PGresult *res)
{
	int			status = gw_reply_error(req->conn, 409, "SLI05",
										PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
										PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL),
										PQresultErrorField(res, PG_DIAG_MESSAGE_HINT), "Retry-After: 5\r\n");

	PQclear(res);
	gw_tx_rollback(db);
	return status;
}

static bool
IsBusy(PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s != NULL && strcmp(s, "SLI05") == 0;
}

/* How a job's apply ended when it did not finish: the reply, with the job named. */
static int
JobEndReply(GwRequest *req, GwJobEnd end, const char *job, PGresult *err)
{
	char		details[600];
	const char *state = err ? PQresultErrorField(err, PG_DIAG_SQLSTATE) : NULL;

	if (end == GW_JOB_FAILED && state != NULL)
	{
		snprintf(details, sizeof(details), "Import job %s is failed: %s%s%s", job,
				 PQresultErrorField(err, PG_DIAG_MESSAGE_DETAIL) ? PQresultErrorField(err, PG_DIAG_MESSAGE_DETAIL) : "",
				 PQresultErrorField(err, PG_DIAG_MESSAGE_DETAIL) ? " " : "",
				 "Its staged lines are removed; what it applied stays.");
		return gw_reply_error(req->conn, gw_http_status_for_sqlstate(state), state,
							  PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY), details,
							  "Retry with the same Idempotency-Key to apply the lines not applied yet.", NULL);
	}
	snprintf(details, sizeof(details), "Import job %s is not finished: %s; a gateway resumes it from its "
			 "staged lines (GET /v1/import/%s shows it).", job,
			 end == GW_JOB_LOST ? "the database connection was lost while applying it" :
			 state != NULL ? PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY) : "the gateway is stopping", job);
	return gw_reply_error(req->conn, 503, "GW503", "the upload is not applied yet", details,
						  "Wait for the job, or retry with the same Idempotency-Key.", "Retry-After: 5\r\n");
}

/*
 * Prefer: wait (RFC 7240; also wait=N): the synchronous upload, answered
 * when applied. The header may name several preferences, comma-separated.
 */
static bool
PreferWait(const char *prefer)
{
	for (const char *p = prefer; p && *p;)
	{
		size_t		n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ",;= \t");
		if (n == 4 && strncasecmp(p, "wait", 4) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

int
gw_import_route(GwRequest *req)
{
	const char *ctype = mg_get_header(req->conn, "Content-Type");
	const char *key = mg_get_header(req->conn, "Idempotency-Key");
	long long	clen = req->ri->content_length;
	bool		chunked = clen < 0;	/* civetweb: -1 only for a chunked body */
	char		mode[32] = "apply_valid";
	char	   *buf = NULL;
	char	   *staged = NULL;
	char	   *final = NULL;
	Stream		st;
	GwUpload   *up = NULL;
	PGconn	   *db = NULL;
	PGresult   *res;
	size_t		total = 0;
	int			status = 0,
				n = 0;
	bool		replayed,
				busy;
	bool		wait = PreferWait(mg_get_header(req->conn, "Prefer"));
	long		total_lines = 0;
	char		id[32];

	memset(&st, 0, sizeof(st));
	if (gw_media_type_is(ctype, "text/csv"))
	{
		char		kind[32] = "";
		const char *h = mg_get_header(req->conn, "Import-Kind");

		if (gw_query_param(req, "kind", kind, sizeof(kind)) == NULL && h != NULL)
			snprintf(kind, sizeof(kind), "%s", h);
		for (const CsvKind *k = csv_kinds; k->kind && st.csv == NULL; k++)
			if (strcmp(k->kind, kind) == 0)
				st.csv = k;
		if (st.csv == NULL)
			return gw_reply_error(req->conn, 400, "GW400",
								  kind[0] ? "unknown record kind for a CSV upload" : "a CSV upload needs its kind",
								  kind[0] ? kind : "no kind= parameter and no Import-Kind header",
								  "Name the kind with ?kind= or the Import-Kind header: operator, licence, product, "
								  "batch, inspection, ship, receive, transform or consume.", "Connection: close\r\n");
	}
	else if (!gw_media_type_is(ctype, "application/x-ndjson"))
		return gw_reply_error(req->conn, 415, "GW415", "unsupported media type",
							  ctype ? ctype : "no Content-Type",
							  "Send Content-Type: application/x-ndjson, or text/csv with ?kind=.", NULL);
	if (clen > gw_config.import_body_limit)
	{
		char		details[96];

		snprintf(details, sizeof(details), "%lld bytes; the limit is %ld", clen, gw_config.import_body_limit);
		mg_disable_connection_keep_alive(req->conn);
		return gw_reply_error(req->conn, 413, "GW413", "request body too large", details,
							  "Split the upload into several (see import_body_limit).", "Connection: close\r\n");
	}
	if (gw_query_param(req, "mode", mode, sizeof(mode)) == NULL)
		strcpy(mode, "apply_valid");

	/* ---- an upload connection, or 503 at once: an upload never waits for one ---- */
	up = gw_upload_acquire(&busy);
	if (up == NULL)
	{
		char		details[96];

		snprintf(details, sizeof(details), "upload_pool_size is %d", gw_config.upload_pool_size);
		mg_disable_connection_keep_alive(req->conn);
		return gw_reply_error(req->conn, 503, "GW503",
							  busy ? "all upload connections are busy" : "database unavailable",
							  busy ? details : NULL, "Retry after the Retry-After delay.",
							  "Retry-After: 5\r\nConnection: close\r\n");
	}
	db = gw_upload_db(up);
	gw_upload_clock_start(up, req->conn);

	/*
	 * ---- stage: COPY the lines as they arrive, in one transaction that
	 * commits only once the whole body is in (chunked terminator seen, or
	 * Content-Length bytes read); the statements may last as long as the
	 * upload's time limit, no longer ----
	 */
	res = PQexec(db, "BEGIN");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);
	res = gw_set_principal(db, &req->auth,
							   gw_config.upload_time_limit_ms + 60000 > 2000000000L ? 2000000000 :
							   (int) (gw_config.upload_time_limit_ms + 60000));
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);
	res = PQexec(db, "create temporary table shilian_import_lines (line_no integer, body text, "
				 "sqlstate text, message text) on commit drop");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);
	res = PQexec(db, "copy shilian_import_lines from stdin");
	if (PQresultStatus(res) != PGRES_COPY_IN)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);
	st.req = req;
	st.db = db;
	buf = malloc(READ_CHUNK);
	if (buf == NULL)
		st.failed = true;
	while (!st.failed && (n = gw_upload_read(up, req->conn, buf, READ_CHUNK)) > 0)
	{
		total += (size_t) n;
		if ((long) total > gw_config.import_body_limit)
		{
			CopyAbandon(db, "upload over import_body_limit");
			mg_disable_connection_keep_alive(req->conn);
			status = gw_reply_error(req->conn, 413, "GW413", "request body too large", NULL,
									"Split the upload into several (see import_body_limit).",
									"Connection: close\r\n");
			goto done;
		}
		if (!Feed(&st, buf, (size_t) n))
			st.failed = true;
		if (st.header_error[0])
			break;
	}
	gw_upload_clock_stop(up);
	/* mg_read gives 0 only at the end: after the chunked terminator, or at Content-Length */
	if (!st.failed && !st.header_error[0] && (n != 0 || (!chunked && (long long) total != clen)))
	{
		char		why[300], reason[500];

		if (gw_upload_too_slow(up, why, sizeof(why)))
		{
			snprintf(reason, sizeof(reason), "the upload was too slow: %s", why);
			status = Cut(req, db, mode, key, st.line_no, 408, "GW408", "upload too slow", reason);
		}
		else
		{
			if (chunked)
				snprintf(reason, sizeof(reason), "the upload was cut off: the connection ended after %zu bytes "
						 "(%ld lines), before the chunked body's terminator", total, st.line_no);
			else
				snprintf(reason, sizeof(reason), "the upload was cut off: the connection ended after %zu of "
						 "the %lld bytes of its Content-Length (%ld lines)", total, clen, st.line_no);
			status = Cut(req, db, mode, key, st.line_no, 400, "GW400", "truncated request body", reason);
		}
		goto done;
	}
	if (!st.failed && !st.header_error[0] && (st.len > 0 || st.too_long))
		st.failed = !EndLine(&st, true);
	if (!st.failed && st.csv != NULL && st.rec_line != 0 && !st.header_error[0])
		st.failed = !CsvLine(&st, "", 0, NULL, NULL, true);
	if (!st.failed && st.csv != NULL && st.columns == NULL && !st.header_error[0])
		snprintf(st.header_error, sizeof(st.header_error), "the upload has no header row");
	if (st.header_error[0])
	{
		char		what[64];

		CopyAbandon(db, "bad CSV header");
		mg_disable_connection_keep_alive(req->conn);
		snprintf(what, sizeof(what), "bad CSV header for kind %s", st.csv->kind);
		status = gw_reply_error(req->conn, 400, "GW400", what, st.header_error,
								"The first row names the columns: the parameters of the kind's record function "
								"(docs/integration.md).", "Connection: close\r\n");
		goto done;
	}
	if (st.failed || PQputCopyEnd(db, NULL) != 1)
	{
		PQputCopyEnd(db, "gateway could not send the upload");
		status = Fail(req, db, PQgetResult(db));
		while ((res = PQgetResult(db)) != NULL)
			PQclear(res);
		gw_tx_rollback(db);
		goto done;
	}
	res = PQgetResult(db);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);
	while ((res = PQgetResult(db)) != NULL)
		PQclear(res);
	{
		const char *p[2] = {mode, key};

		res = PQexecParams(db, "select shilian.import_stage_lines($1, $2)", 2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			status = IsBusy(res) ? Busy(req, db, res) : Fail(req, db, res);
			goto done;
		}
		staged = strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	{
		GwJsonError err;
		json_t	   *j = gw_json_load(staged, strlen(staged), 0, 0, &err);

		replayed = json_is_true(json_object_get(j, "replayed"));
		total_lines = (long) json_integer_value(json_object_get(j, "total"));
		snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")) ?
				 json_string_value(json_object_get(j, "id")) : "0");
		json_decref(j);
	}
	if (!replayed)
	{
		/* the lease and the job's lock, before the staging commits: the job is never seen unheld */
		char		lease[16];
		const char *p[3] = {id, gw_job_holder, lease};

		snprintf(lease, sizeof(lease), "%d", gw_job_lease_ms());
		/* as the gateway itself (the lease is the gateway's, not the caller's) */
		res = PQexec(db, "select set_config('role', 'none', true)");
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			PQclear(res);
			res = PQexecParams(db, "select shilian.import_lease($1::bigint, $2, $3::integer)", 3, NULL, p,
							   NULL, NULL, 0);
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			status = IsBusy(res) ? Busy(req, db, res) : Fail(req, db, res);
			goto done;
		}
		PQclear(res);
	}
	res = PQexec(db, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		status = Fail(req, db, res);
		goto done;
	}
	PQclear(res);

	/*
	 * ---- without Prefer: wait, 202 now: the job is staged and committed,
	 * leased by this gateway with its lock on the upload connection, which a
	 * runner takes over to apply it in the background ----
	 */
	if (!replayed && !wait)
	{
		char		body[200], headers[120];

		snprintf(body, sizeof(body), "{\"id\":\"%s\",\"status\":\"running\",\"mode\":\"%s\",\"total\":%ld}",
				 id, mode, total_lines);
		snprintf(headers, sizeof(headers), "Location: /v1/import/%s\r\n", id);
		status = gw_reply_text(req->conn, 202, "application/json; charset=utf-8", body, strlen(body), headers);
		gw_job_hand_over(up, &req->auth, id, strcmp(mode, "all_or_nothing") == 0);
		up = NULL;
		goto done;
	}

	/* ---- Prefer: wait: apply in steps, each committed, under the job's lease ---- */
	if (!replayed)
	{
		PGresult   *err = NULL;
		GwJobEnd	end = gw_job_run(db, &req->auth, id, strcmp(mode, "all_or_nothing") == 0, &err);

		if (end != GW_JOB_LOST)
			gw_job_release(db, id);
		if (end != GW_JOB_DONE)
		{
			status = JobEndReply(req, end, id, err);
			PQclear(err);
			goto done;
		}
	}
	{
		const char *p[1] = {id};

		final = CallValue(req, db, "select shilian.import_status($1::bigint)", 1, p, &status);
		if (final == NULL)
			goto done;
	}
	{
		/* Location on the 201, the one JSON spacing (docs/rest.md) */
		char		headers[200];

		snprintf(headers, sizeof(headers), "Location: /v1/import/%s\r\n%s%s", id,
				 wait ? "Preference-Applied: wait\r\n" : "", replayed ? "Idempotent-Replayed: true\r\n" : "");
		status = gw_reply_text(req->conn, 201, "application/json; charset=utf-8", final,
							   gw_json_compact(final, false), headers);
	}

done:
	if (up != NULL)
		gw_upload_release(up);
	if (st.columns)
		FreeCells(st.columns, st.ncolumns);
	free(st.rec);
	free(buf);
	free(st.line);
	free(st.copybuf);
	free(staged);
	free(final);
	return status;
}
