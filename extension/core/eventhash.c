/*
 * eventhash.c — the EPCIS event hash ID of eventhash.h.
 *
 * The pre-hash string follows the reference implementation step by step, so
 * that the hashes agree with the published examples (tests/data/epcis-hash/):
 *  1. the event becomes a tree of (name, value, children) nodes as its XML
 *     form would be: an array member gives one child per element, a *List
 *     becomes a list node whose elements are named without "List" (epcList
 *     -> epc, quantityList -> quantityElement, ...), a prefix bound in
 *     @context becomes {namespace}local, and a bare CBV term in bizStep,
 *     disposition, the types of bizTransaction/source/destination and a
 *     sensor report's type and exception becomes its GS1 Web URI;
 *  2. "eventType=" and the fields of the canonical property order (eventTime
 *     .. sensorElementList), each as name=value (timestamps in UTC with
 *     milliseconds, CBV URNs as Web URIs, numbers without trailing zeros, GS1
 *     identifiers as constrained canonical Digital Link URIs), the values of
 *     one name sorted, a standard field's extensions after its own fields;
 *  3. every other element (bizTransactionList, sourceList, destinationList,
 *     ilmd, user extensions; not recordTime, eventID, type, errorDeclaration)
 *     as name[=value]children, sorted, with each business transaction, source
 *     and destination written type first.
 */
#include "eventhash.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkchar.h"

typedef struct Node
{
	const char *name;			/* NULL for a pair (a transaction, source or destination) */
	const char *value;
	struct Node **kids;
	size_t		n;
	size_t		cap;
	bool		removed;
} Node;

typedef struct Ns
{
	const char *prefix;
	const char *braced;			/* "{" url "}" */
} Ns;

typedef struct Eh
{
	SlEhAlloc	alloc;
	void	   *arg;
	bool		failed;
	Ns		   *ns;
	size_t		nns;
} Eh;

/* ---- memory and strings ------------------------------------------------- */

static void *
eh_alloc(Eh *eh, size_t size)
{
	void	   *p;

	if (eh->failed)
		return NULL;
	p = eh->alloc(eh->arg, size ? size : 1);
	if (p == NULL)
		eh->failed = true;
	return p;
}

static char *
eh_strndup(Eh *eh, const char *s, size_t len)
{
	char	   *p = eh_alloc(eh, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static char *
eh_cat(Eh *eh, const char *a, const char *b)
{
	size_t		la = strlen(a),
				lb = strlen(b);
	char	   *p = eh_alloc(eh, la + lb + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, a, la);
	memcpy(p + la, b, lb + 1);
	return p;
}

static Node *
node_new(Eh *eh, const char *name, const char *value)
{
	Node	   *nd = eh_alloc(eh, sizeof(Node));

	if (nd == NULL)
		return NULL;
	memset(nd, 0, sizeof(Node));
	nd->name = name;
	nd->value = value ? value : "";
	return nd;
}

static void
node_add(Eh *eh, Node *parent, Node *kid)
{
	if (parent == NULL || kid == NULL)
		return;
	if (parent->n == parent->cap)
	{
		size_t		cap = parent->cap ? parent->cap * 2 : 4;
		Node	  **k = eh_alloc(eh, cap * sizeof(Node *));

		if (k == NULL)
			return;
		if (parent->n)
			memcpy(k, parent->kids, parent->n * sizeof(Node *));
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
}

static size_t
node_alive(const Node *nd)
{
	size_t		c = 0;

	for (size_t i = 0; i < nd->n; i++)
		if (!nd->kids[i]->removed)
			c++;
	return c;
}

/* A growable string. */
typedef struct Str
{
	char	   *p;
	size_t		len;
	size_t		cap;
} Str;

static void
str_put(Eh *eh, Str *s, const char *t)
{
	size_t		lt = strlen(t);

	if (s->len + lt + 1 > s->cap)
	{
		size_t		cap = s->cap ? s->cap : 64;
		char	   *p;

		while (cap < s->len + lt + 1)
			cap *= 2;
		p = eh_alloc(eh, cap);
		if (p == NULL)
			return;
		if (s->len)
			memcpy(p, s->p, s->len);
		s->p = p;
		s->cap = cap;
	}
	memcpy(s->p + s->len, t, lt + 1);
	s->len += lt;
}

static const char *
str_get(Str *s)
{
	return s->p ? s->p : "";
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* ---- namespaces --------------------------------------------------------- */

static void
ns_add(Eh *eh, const char *prefix, const char *url)
{
	Ns		   *n;

	/* a later binding of the same prefix wins, as in a dictionary */
	for (size_t i = 0; i < eh->nns; i++)
		if (strcmp(eh->ns[i].prefix, prefix) == 0)
		{
			eh->ns[i].braced = eh_cat(eh, eh_cat(eh, "{", url), "}");
			return;
		}
	n = eh_alloc(eh, (eh->nns + 1) * sizeof(Ns));
	if (n == NULL)
		return;
	if (eh->nns)
		memcpy(n, eh->ns, eh->nns * sizeof(Ns));
	n[eh->nns].prefix = prefix;
	n[eh->nns].braced = eh_cat(eh, eh_cat(eh, "{", url), "}");
	eh->ns = n;
	eh->nns++;
}

static void
ns_collect(Eh *eh, const SlJson *ctx)
{
	if (ctx == NULL || ctx->type != SL_JSON_ARRAY)
		return;
	for (size_t i = 0; i < ctx->n; i++)
	{
		const SlJson *c = &ctx->items[i];

		if (c->type == SL_JSON_STRING)
			ns_add(eh, c->str, c->str);
		else if (c->type == SL_JSON_OBJECT)
			for (size_t j = 0; j < c->n; j++)
				if (c->items[j].type == SL_JSON_STRING)
					ns_add(eh, c->items[j].key, c->items[j].str);
	}
}

/* prefix:local with a bound prefix: {url}local for a name, urllocal for a value */
static const char *
ns_replace(Eh *eh, const char *text, bool is_value)
{
	const char *colon = strchr(text, ':');

	if (colon == NULL)
		return text;
	for (size_t i = 0; i < eh->nns; i++)
	{
		const char *pfx = eh->ns[i].prefix;

		if (strlen(pfx) == (size_t) (colon - text) && strncmp(pfx, text, colon - text) == 0)
		{
			const char *b = eh->ns[i].braced;

			if (is_value)
				return eh_cat(eh, eh_strndup(eh, b + 1, strlen(b) - 2), colon + 1);
			return eh_cat(eh, b, colon + 1);
		}
	}
	return text;
}

/* ---- JSON to the XML-shaped tree ---------------------------------------- */

#define CBV "https://ref.gs1.org/cbv/"
#define GS1VOC "https://gs1.org/voc/"

/* The Web URI prefix of a bare term in member key of an object held by ctx. */
static const char *
vocab_prefix(const char *ctx, const char *key, int depth)
{
	if (depth == 0 && strcmp(key, "bizStep") == 0)
		return CBV "BizStep-";
	if (depth == 0 && strcmp(key, "disposition") == 0)
		return CBV "Disp-";
	if (ctx == NULL)
		return NULL;
	if (strcmp(ctx, "persistentDisposition") == 0 && (strcmp(key, "set") == 0 || strcmp(key, "unset") == 0))
		return CBV "Disp-";
	if (strcmp(ctx, "bizTransactionList") == 0 && strcmp(key, "type") == 0)
		return CBV "BTT-";
	if ((strcmp(ctx, "sourceList") == 0 || strcmp(ctx, "destinationList") == 0) && strcmp(key, "type") == 0)
		return CBV "SDT-";
	if (strcmp(ctx, "sensorReport") == 0 && (strcmp(key, "type") == 0 || strcmp(key, "exception") == 0))
		return GS1VOC;
	return NULL;
}

static Node *json_to_node(Eh *eh, const SlJson *j, const char *vocab, const char *ctx, int depth);

static const char *
scalar_text(Eh *eh, const SlJson *j, const char *vocab)
{
	switch (j->type)
	{
		case SL_JSON_NULL:
			return "None";
		case SL_JSON_TRUE:
			return "True";
		case SL_JSON_FALSE:
			return "False";
		case SL_JSON_NUMBER:
			return j->str;
		case SL_JSON_STRING:
			if (vocab && j->str[0] != '\0' && strchr(j->str, ':') == NULL)
				return eh_cat(eh, vocab, j->str);
			return ns_replace(eh, j->str, true);
		default:
			return "";
	}
}

static Node *
json_to_node(Eh *eh, const SlJson *j, const char *vocab, const char *ctx, int depth)
{
	Node	   *nd;

	if (j->type == SL_JSON_ARRAY)
	{
		nd = node_new(eh, "", "");
		for (size_t i = 0; i < j->n; i++)
			node_add(eh, nd, json_to_node(eh, &j->items[i], vocab, ctx, depth + 1));
		return nd;
	}
	if (j->type != SL_JSON_OBJECT)
		return node_new(eh, "", scalar_text(eh, j, vocab));

	nd = node_new(eh, "", "");
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->items[i].key, "type") == 0 && j->items[i].type == SL_JSON_STRING)
			nd->name = j->items[i].str;
	for (size_t i = 0; i < j->n; i++)
	{
		const SlJson *m = &j->items[i];
		const char *key = m->key;
		const char *v = vocab_prefix(ctx, key, depth);
		const char *name;

		if (strcmp(key, "#text") == 0 || strcmp(key, "rdfs:comment") == 0 || strcmp(key, "comment") == 0
			|| strncmp(key, "@xmlns", 6) == 0)
			continue;
		name = ns_replace(eh, key, false);
		if (m->type == SL_JSON_ARRAY)
		{
			for (size_t k = 0; k < m->n; k++)
			{
				Node	   *e = json_to_node(eh, &m->items[k], v, key, depth + 1);

				if (e)
					e->name = name;
				node_add(eh, nd, e);
			}
		}
		else
		{
			Node	   *c = json_to_node(eh, m, v, key, depth + 1);

			if (c)
				c->name = name;
			node_add(eh, nd, c);
		}
	}
	return nd;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s),
				lf = strlen(suffix);

	return ls >= lf && strcmp(s + ls - lf, suffix) == 0;
}

static bool
is_party_list(const char *name)
{
	return strcmp(name, "sourceList") == 0 || strcmp(name, "destinationList") == 0
		|| strcmp(name, "bizTransactionList") == 0;
}

/* The XML model: list nodes, childEPCs, the renamed elements. */
static void
correct(Eh *eh, Node *nd)
{
	Node	  **old = nd->kids;
	size_t		n = nd->n;
	Node	   *lists[64];
	size_t		nlists = 0;
	Node	   *child_epcs = NULL;

	nd->kids = NULL;
	nd->n = nd->cap = 0;
	for (size_t i = 0; i < n; i++)
	{
		Node	   *k = old[i];

		if (k->name && strlen(k->name) > 4 && ends_with(k->name, "List"))
		{
			Node	   *list = NULL;

			for (size_t l = 0; l < nlists; l++)
				if (strcmp(lists[l]->name, k->name) == 0)
					list = lists[l];
			if (list == NULL && nlists < 64)
				list = lists[nlists++] = node_new(eh, k->name, "");
			if (list == NULL)
				continue;
			if (is_party_list(k->name))
			{
				/* the pair of the element's first two fields (type first in the standard's order) */
				Node	   *pair = node_new(eh, NULL, "");

				for (size_t c = 0; c < k->n && c < 2; c++)
					node_add(eh, pair, k->kids[c]);
				node_add(eh, list, pair);
			}
			else
			{
				k->name = eh_strndup(eh, k->name, strlen(k->name) - 4);
				node_add(eh, list, k);
			}
		}
		else if (k->name && strcmp(k->name, "childEPCs") == 0)
		{
			if (child_epcs == NULL)
				child_epcs = node_new(eh, "childEPCs", "");
			node_add(eh, child_epcs, node_new(eh, "epc", k->value));
		}
		else
			node_add(eh, nd, k);
	}
	for (size_t l = 0; l < nlists; l++)
		node_add(eh, nd, lists[l]);
	if (child_epcs)
		node_add(eh, nd, child_epcs);
	for (size_t i = 0; i < nd->n; i++)
	{
		Node	   *k = nd->kids[i];

		if (k->name == NULL || is_party_list(k->name))
			continue;
		correct(eh, k);
	}
	if (nd->name)
	{
		if (strcmp(nd->name, "inputEPC") == 0 || strcmp(nd->name, "outputEPC") == 0)
			nd->name = "epc";
		else if (strcmp(nd->name, "inputQuantity") == 0 || strcmp(nd->name, "outputQuantity") == 0
				 || strcmp(nd->name, "childQuantity") == 0
				 || (strcmp(nd->name, "quantity") == 0 && nd->n > 0))
			nd->name = "quantityElement";
	}
}

/* ---- value canonicalisation --------------------------------------------- */

static const char *
strip(Eh *eh, const char *s)
{
	const char *e;

	while (*s && isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		e--;
	return eh_strndup(eh, s, e - s);
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	unsigned	yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t) doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t		era;
	unsigned	doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned) (z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = (int64_t) yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y += *m <= 2;
}

static int
digits(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* A date-time with its offset in UTC with milliseconds (the 4th decimal rounds); NULL if not one. */
static const char *
fix_time(Eh *eh, const char *t)
{
	int			Y,
				M,
				D,
				h,
				mi,
				s = 0,
				ms = 0,
				off = 0;
	const char *p = t;
	int64_t		secs,
				y;
	char		buf[80];

	if (strlen(t) < 16 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't' && t[10] != ' ')
		|| t[13] != ':')
		return NULL;
	Y = digits(t, 4);
	M = digits(t + 5, 2);
	D = digits(t + 8, 2);
	h = digits(t + 11, 2);
	mi = digits(t + 14, 2);
	if (Y < 0 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 24 || mi < 0 || mi > 59)
		return NULL;
	p = t + 16;
	if (*p == ':')
	{
		s = digits(p + 1, 2);
		if (s < 0 || s > 60)
			return NULL;
		p += 3;
		if (*p == '.' || *p == ',')
		{
			int			nd = 0;

			p++;
			while (isdigit((unsigned char) p[nd]))
				nd++;
			if (nd == 0)
				return NULL;
			for (int i = 0; i < 3; i++)
				ms = ms * 10 + (i < nd ? p[i] - '0' : 0);
			if (nd > 3 && p[3] >= '5')
				ms++;
			p += nd;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			oh = digits(p + 1, 2),
					om;
		const char *q = p + 3;

		if (*q == ':')
			q++;
		om = digits(q, 2);
		if (oh < 0 || om < 0)
			return NULL;
		off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p = q + 2;
	}
	else
		return NULL;				/* no offset: a local time the algorithm cannot place */
	if (*p != '\0')
		return NULL;
	secs = days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + s - off * 60;
	if (ms >= 1000)
	{
		ms -= 1000;
		secs++;
	}
	{
		int64_t		days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
		int64_t		rem = secs - days * 86400;

		civil_from_days(days, &y, &M, &D);
		snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long) y, M, D,
				 (int) (rem / 3600), (int) (rem % 3600 / 60), (int) (rem % 60), ms);
	}
	return eh_strndup(eh, buf, strlen(buf));
}

static const char *
replace_prefix(Eh *eh, const char *t, const char *from, const char *to)
{
	size_t		lf = strlen(from);

	if (strncmp(t, from, lf) == 0)
		return eh_cat(eh, to, t + lf);
	return t;
}

static const char *
web_vocabulary(Eh *eh, const char *t)
{
	t = replace_prefix(eh, t, "urn:epcglobal:cbv:bizstep:", CBV "BizStep-");
	t = replace_prefix(eh, t, "urn:epcglobal:cbv:disp:", CBV "Disp-");
	t = replace_prefix(eh, t, "urn:epcglobal:cbv:btt:", CBV "BTT-");
	t = replace_prefix(eh, t, "urn:epcglobal:cbv:sdt:", CBV "SDT-");
	t = replace_prefix(eh, t, "urn:epcglobal:cbv:er:", CBV "ER-");
	return t;
}

/* A decimal number written without trailing zeros (as Python's str(float)); t when not one. */
static const char *
numeric(Eh *eh, const char *t)
{
	const char *p = t;
	char	   *end;
	double		v;
	char		buf[400];
	bool		dig = false;

	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char) *p))
		p++, dig = true;
	if (*p == '.')
	{
		p++;
		while (isdigit((unsigned char) *p))
			p++, dig = true;
	}
	if (!dig)
		return t;
	if (*p == 'e' || *p == 'E')
	{
		const char *q = p + 1;

		if (*q == '+' || *q == '-')
			q++;
		if (!isdigit((unsigned char) *q))
			return t;
		while (isdigit((unsigned char) *q))
			q++;
		p = q;
	}
	if (*p != '\0')
		return t;
	v = strtod(t, &end);
	if (!isfinite(v))
		return eh_strndup(eh, v > 0 ? "inf" : "-inf", v > 0 ? 3 : 4);
	if (v == 0)
		return "0";
	if (v == floor(v))
		snprintf(buf, sizeof buf, "%.0f", v);
	else
	{
		int			prec,
					exp10;
		char		e[64];

		for (prec = 1; prec <= 17; prec++)
		{
			snprintf(e, sizeof e, "%.*e", prec - 1, v);
			if (strtod(e, NULL) == v)
				break;
		}
		exp10 = atoi(strchr(e, 'e') + 1);
		if (exp10 >= -4 && exp10 < 16)
			snprintf(buf, sizeof buf, "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, v);
		else
		{
			/* Python's exponent form: mantissa, e, sign, at least two digits */
			char	   *ep = strchr(e, 'e');

			*ep = '\0';
			snprintf(buf, sizeof buf, "%se%c%02d", e, exp10 < 0 ? '-' : '+', abs(exp10));
		}
	}
	return eh_strndup(eh, buf, strlen(buf));
}

static const char *
canonize(Eh *eh, const char *t)
{
	char		dl[512];

	t = web_vocabulary(eh, t);
	t = numeric(eh, t);
	if (sl_eventhash_dl(t, dl, sizeof dl))
		return eh_strndup(eh, dl, strlen(dl));
	return t;
}

/* ---- GS1 identifiers as Digital Link ------------------------------------ */

typedef struct Out
{
	char	   *p;
	size_t		len;
	size_t		cap;
	bool		over;
} Out;

static void
out_put(Out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap)
	{
		o->over = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
out_str(Out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* digits then the GS1 check digit */
static void
out_key(Out *o, const char *d, size_t n)
{
	char		c = sl_gs1_check_digit(d, n);

	out_put(o, d, n);
	out_put(o, &c, 1);
}

/* The Web URI encoding of an EPC component (Digital Link table 7-1). */
static void
out_component(Out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];
		char		pct[4];

		if (strchr("!()*+,:", c))
		{
			snprintf(pct, sizeof pct, "%%%02X", (unsigned char) c);
			out_put(o, pct, 3);
		}
		else
			out_put(o, &c, 1);
	}
}

static bool
all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char) s[i]))
			return false;
	return n > 0;
}

/* The EPC URI's characters (GS1 AI encodable character set 82, %-escaped). */
static bool
epc_chars(const char *s, size_t n, size_t maxlen)
{
	if (n == 0 || n > 3 * maxlen)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char) s[i]) || strchr("!')(*+,.:;=_-%", s[i])))
			return false;
	return true;
}

/*
 * Split "CP.REF[.REST]" after a scheme: a company prefix of 6-12 digits, a
 * reference of total-len(CP) characters; rest is what follows the second dot
 * (NULL when there is none).
 */
static bool
epc_split(const char *s, int total, const char **cp, size_t *cplen, const char **ref, size_t *reflen,
		  const char **rest)
{
	const char *dot = strchr(s, '.');
	const char *dot2;

	if (dot == NULL)
		return false;
	*cp = s;
	*cplen = dot - s;
	if (*cplen < 6 || *cplen > 12 || !all_digits(s, *cplen))
		return false;
	*ref = dot + 1;
	dot2 = strchr(*ref, '.');
	*reflen = dot2 ? (size_t) (dot2 - *ref) : strlen(*ref);
	*rest = dot2 ? dot2 + 1 : NULL;
	return total < 0 || *reflen == (size_t) (total - (int) *cplen);
}

static size_t
dl_from_epc(const char *uri, Out *o)
{
	const char *cp,
			   *ref,
			   *rest;
	size_t		cplen,
				reflen;
	char		key[40];
	const char *orig = uri;

#define SCHEME(s) (strncmp(uri, s, strlen(s)) == 0 ? (uri += strlen(s), true) : false)
	if (SCHEME("urn:epc:id:sgtin:") || SCHEME("urn:epc:class:lgtin:") || SCHEME("urn:epc:id:upui:"))
	{
		bool		lot = strncmp(orig, "urn:epc:class:lgtin:", 20) == 0;
		bool		upui = strncmp(orig, "urn:epc:id:upui:", 16) == 0;

		if (!epc_split(uri, 13, &cp, &cplen, &ref, &reflen, &rest) || !all_digits(ref, reflen) || rest == NULL
			|| !epc_chars(rest, strlen(rest), upui ? 28 : 20))
			return 0;
		key[0] = ref[0];
		memcpy(key + 1, cp, cplen);
		memcpy(key + 1 + cplen, ref + 1, reflen - 1);
		out_str(o, "https://id.gs1.org/01/");
		out_key(o, key, 13);
		out_str(o, lot ? "/10/" : upui ? "/235/" : "/21/");
		out_component(o, rest, strlen(rest));
		return o->len;
	}
	if (SCHEME("urn:epc:idpat:sgtin:") || SCHEME("urn:epc:idpat:upui:"))
	{
		if (!epc_split(uri, 13, &cp, &cplen, &ref, &reflen, &rest) || !all_digits(ref, reflen) || rest == NULL
			|| strcmp(rest, "*") != 0)
			return 0;
		key[0] = ref[0];
		memcpy(key + 1, cp, cplen);
		memcpy(key + 1 + cplen, ref + 1, reflen - 1);
		out_str(o, "https://id.gs1.org/01/");
		out_key(o, key, 13);
		return o->len;
	}
	if (SCHEME("urn:epc:id:sscc:"))
	{
		if (!epc_split(uri, 17, &cp, &cplen, &ref, &reflen, &rest) || !all_digits(ref, reflen) || rest)
			return 0;
		key[0] = ref[0];
		memcpy(key + 1, cp, cplen);
		memcpy(key + 1 + cplen, ref + 1, reflen - 1);
		out_str(o, "https://id.gs1.org/00/");
		out_key(o, key, 17);
		return o->len;
	}
	if (SCHEME("urn:epc:id:sgln:") || SCHEME("urn:epc:id:pgln:"))
	{
		bool		party = uri[-5] == 'p';

		if (!epc_split(uri, 12, &cp, &cplen, &ref, &reflen, &rest) || (reflen && !all_digits(ref, reflen))
			|| (party ? rest != NULL : (rest == NULL || !epc_chars(rest, strlen(rest), 20))))
			return 0;
		memcpy(key, cp, cplen);
		memcpy(key + cplen, ref, reflen);
		out_str(o, party ? "https://id.gs1.org/417/" : "https://id.gs1.org/414/");
		out_key(o, key, 12);
		if (!party && strcmp(rest, "0") != 0)
		{
			out_str(o, "/254/");
			out_component(o, rest, strlen(rest));
		}
		return o->len;
	}
	if (SCHEME("urn:epc:id:grai:") || SCHEME("urn:epc:id:gdti:") || SCHEME("urn:epc:id:sgcn:"))
	{
		char		k = uri[-4];	/* 'r' grai, 'd' gdti, 'g' sgcn */

		if (!epc_split(uri, 12, &cp, &cplen, &ref, &reflen, &rest) || (reflen && !all_digits(ref, reflen))
			|| rest == NULL || !epc_chars(rest, strlen(rest), 20))
			return 0;
		if (k == 'r')
		{
			key[0] = '0';
			memcpy(key + 1, cp, cplen);
			memcpy(key + 1 + cplen, ref, reflen);
			out_str(o, "https://id.gs1.org/8003/");
			out_key(o, key, 13);
		}
		else
		{
			memcpy(key, cp, cplen);
			memcpy(key + cplen, ref, reflen);
			out_str(o, k == 'd' ? "https://id.gs1.org/253/" : "https://id.gs1.org/255/");
			out_key(o, key, 12);
		}
		out_component(o, rest, strlen(rest));
		return o->len;
	}
	if (SCHEME("urn:epc:id:giai:") || SCHEME("urn:epc:id:ginc:"))
	{
		bool		giai = uri[-3] == 'a';
		const char *dot = strchr(uri, '.');

		if (dot == NULL || dot - uri < 6 || dot - uri > 12 || !all_digits(uri, dot - uri)
			|| !epc_chars(dot + 1, strlen(dot + 1), 30))
			return 0;
		out_str(o, giai ? "https://id.gs1.org/8004/" : "https://id.gs1.org/401/");
		out_put(o, uri, dot - uri);
		out_component(o, dot + 1, strlen(dot + 1));
		return o->len;
	}
	if (SCHEME("urn:epc:id:gsrnp:") || SCHEME("urn:epc:id:gsrn:") || SCHEME("urn:epc:id:gsin:"))
	{
		bool		gsin = uri[-3] == 'i';
		bool		gsrnp = uri[-2] == 'p';

		if (!epc_split(uri, gsin ? 16 : 17, &cp, &cplen, &ref, &reflen, &rest) || !all_digits(ref, reflen) || rest)
			return 0;
		memcpy(key, cp, cplen);
		memcpy(key + cplen, ref, reflen);
		out_str(o, gsin ? "https://id.gs1.org/402/" : gsrnp ? "https://id.gs1.org/8017/" : "https://id.gs1.org/8018/");
		out_key(o, key, gsin ? 16 : 17);
		return o->len;
	}
	if (SCHEME("urn:epc:id:itip:") || SCHEME("urn:epc:idpat:itip:"))
	{
		bool		pat = orig[8] == 'i' && orig[9] == 'd' && orig[10] == 'p';

		/* CP.ITEMREF.PP.TT.SERIAL: GTIN, piece and total, then the serial */
		if (!epc_split(uri, 13, &cp, &cplen, &ref, &reflen, &rest) || !all_digits(ref, reflen) || rest == NULL
			|| strlen(rest) < 7 || !all_digits(rest, 2) || rest[2] != '.' || !all_digits(rest + 3, 2)
			|| rest[5] != '.')
			return 0;
		if (pat ? strcmp(rest + 6, "*") != 0 : !epc_chars(rest + 6, strlen(rest + 6), 20))
			return 0;
		key[0] = ref[0];
		memcpy(key + 1, cp, cplen);
		memcpy(key + 1 + cplen, ref + 1, reflen - 1);
		out_str(o, "https://id.gs1.org/8006/");
		out_key(o, key, 13);
		out_put(o, rest, 2);
		out_put(o, rest + 3, 2);
		if (!pat)
		{
			out_str(o, "/21/");
			out_component(o, rest + 6, strlen(rest + 6));
		}
		return o->len;
	}
	if (SCHEME("urn:epc:id:cpi:") || SCHEME("urn:epc:idpat:cpi:"))
	{
		const char *dot = strchr(uri, '.');
		const char *last = strrchr(uri, '.');
		bool		pat = orig[8] == 'i' && orig[9] == 'd' && orig[10] == 'p';

		if (dot == NULL || last == dot || dot - uri < 6 || dot - uri > 12 || !all_digits(uri, dot - uri)
			|| (pat ? strcmp(last + 1, "*") != 0 : !all_digits(last + 1, strlen(last + 1))))
			return 0;
		out_str(o, "https://id.gs1.org/8010/");
		out_put(o, uri, dot - uri);
		out_component(o, dot + 1, last - dot - 1);
		if (!pat)
		{
			out_str(o, "/8011/");
			out_str(o, last + 1);
		}
		return o->len;
	}
	if (SCHEME("urn:epc:idpat:grai:") || SCHEME("urn:epc:idpat:gdti:") || SCHEME("urn:epc:idpat:sgcn:"))
	{
		char		k = orig[14];	/* 'g' grai or gdti, 's' sgcn */

		if (!epc_split(uri, 12, &cp, &cplen, &ref, &reflen, &rest) || (reflen && !all_digits(ref, reflen))
			|| rest == NULL || strcmp(rest, "*") != 0)
			return 0;
		if (k == 'g' && orig[15] == 'r')
		{
			key[0] = '0';
			memcpy(key + 1, cp, cplen);
			memcpy(key + 1 + cplen, ref, reflen);
			out_str(o, "https://id.gs1.org/8003/");
			out_key(o, key, 13);
		}
		else
		{
			memcpy(key, cp, cplen);
			memcpy(key + cplen, ref, reflen);
			out_str(o, k == 'g' ? "https://id.gs1.org/253/" : "https://id.gs1.org/255/");
			out_key(o, key, 12);
		}
		return o->len;
	}
#undef SCHEME
	return 0;
}

/* The primary keys of a Digital Link path, longest-standing alias first. */
static const char *const dl_aliases[][2] = {
	{"/gtin/", "/01/"}, {"/itip/", "/8006/"}, {"/cpid/", "/8010/"}, {"/gln/", "/414/"},
	{"/party/", "/417/"}, {"/gsrnp/", "/8017/"}, {"/gsrn/", "/8018/"}, {"/gcn/", "/255/"},
	{"/sscc/", "/00/"}, {"/gdti/", "/253/"}, {"/ginc/", "/401/"}, {"/gsin/", "/402/"},
	{"/grai/", "/8003/"}, {"/giai/", "/8004/"}, {"/cpv/", "/22/"}, {"/lot/", "/10/"}, {"/ser/", "/21/"},
};
static const char *const dl_keys[] = {
	"/00/", "/01/", "/253/", "/255/", "/401/", "/402/", "/414/", "/417/", "/8003/", "/8004/",
	"/8006/", "/8010/", "/8017/", "/8018/",
};

static size_t
dl_from_uri(const char *uri, Out *o)
{
	char		path[512];
	char		tmp[600];
	const char *start = NULL;
	char	   *q;
	const char *p;
	size_t		i;

	if (strncmp(uri, "https://", 8) == 0)
		p = uri + 8;
	else if (strncmp(uri, "http://", 7) == 0)
		p = uri + 7;
	else
		return 0;
	p = strchr(p, '/');
	if (p == NULL || strlen(p) >= sizeof path)
		return 0;
	strcpy(path, p);
	if ((q = strpbrk(path, "?#")) != NULL)
		*q = '\0';
	for (i = 0; i < sizeof dl_aliases / sizeof dl_aliases[0]; i++)
	{
		char	   *a;

		while ((a = strstr(path, dl_aliases[i][0])) != NULL)
		{
			snprintf(tmp, sizeof tmp, "%.*s%s%s", (int) (a - path), path, dl_aliases[i][1],
					 a + strlen(dl_aliases[i][0]));
			if (strlen(tmp) >= sizeof path)
				return 0;
			memcpy(path, tmp, strlen(tmp) + 1);
		}
	}
	for (i = 0; i < sizeof dl_keys / sizeof dl_keys[0] && start == NULL; i++)
	{
		const char *k = strstr(path, dl_keys[i]);

		/* a key followed by at least four digits */
		if (k && all_digits(k + strlen(dl_keys[i]), 4))
			start = k;
	}
	if (start == NULL)
		return 0;
	memmove(path, start, strlen(start) + 1);
	if (strlen(path) > 1 && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if (strncmp(path, "/01/", 4) == 0)
	{
		size_t		nd = 0;

		while (isdigit((unsigned char) path[4 + nd]))
			nd++;
		if (nd == 13 || nd == 12 || nd == 8)
		{
			snprintf(tmp, sizeof tmp, "/01/%.*s%s", (int) (14 - nd), "000000", path + 4);
			if (strlen(tmp) >= sizeof path)
				return 0;
			memcpy(path, tmp, strlen(tmp) + 1);
		}
	}
	if (strncmp(path, "/01/", 4) == 0 || strncmp(path, "/8006/", 6) == 0)
	{
		char	   *c;

		/* the finest level only: no consumer product variant, no lot beside a serial */
		if ((c = strstr(path, "/22/")) != NULL)
		{
			char	   *next = strchr(c + 4, '/');

			memmove(c, next ? next : c + strlen(c), strlen(next ? next : c + strlen(c)) + 1);
		}
		if ((c = strstr(path, "/10/")) != NULL)
		{
			char	   *next = strchr(c + 4, '/');

			if (next && strncmp(next, "/21/", 4) == 0)
				memmove(c, next, strlen(next) + 1);
		}
	}
	out_str(o, "https://id.gs1.org");
	out_str(o, path);
	return o->len;
}

size_t
sl_eventhash_dl(const char *uri, char *out, size_t cap)
{
	Out			o = {out, 0, cap, false};
	size_t		n;

	if (cap == 0 || strchr(uri, '.') == NULL)
		return 0;
	out[0] = '\0';
	n = strncmp(uri, "urn:epc:", 8) == 0 ? dl_from_epc(uri, &o) : dl_from_uri(uri, &o);
	return o.over ? 0 : n;
}

/* ---- the pre-hash string ------------------------------------------------ */

typedef struct Ord
{
	const char *name;
	const struct Ord *sub;		/* children's order; NULL: a plain value */
} Ord;

static const Ord ord_end = {NULL, NULL};
static const Ord ord_epc[] = {{"epc", NULL}, {NULL, NULL}};
static const Ord ord_qty_el[] = {{"epcClass", NULL}, {"quantity", NULL}, {"uom", NULL}, {NULL, NULL}};
static const Ord ord_qty[] = {{"quantityElement", ord_qty_el}, {NULL, NULL}};
static const Ord ord_persist[] = {{"set", NULL}, {"unset", NULL}, {NULL, NULL}};
static const Ord ord_id[] = {{"id", NULL}, {NULL, NULL}};
static const Ord ord_meta[] = {
	{"time", NULL}, {"startTime", NULL}, {"endTime", NULL}, {"deviceID", NULL}, {"deviceMetadata", NULL},
	{"rawData", NULL}, {"dataProcessingMethod", NULL}, {"bizRules", NULL}, {NULL, NULL}};
static const Ord ord_report[] = {
	{"type", NULL}, {"exception", NULL}, {"deviceID", NULL}, {"deviceMetadata", NULL}, {"rawData", NULL},
	{"dataProcessingMethod", NULL}, {"time", NULL}, {"microorganism", NULL}, {"chemicalSubstance", NULL},
	{"value", NULL}, {"component", NULL}, {"stringValue", NULL}, {"booleanValue", NULL},
	{"hexBinaryValue", NULL}, {"uriValue", NULL}, {"minValue", NULL}, {"maxValue", NULL},
	{"meanValue", NULL}, {"sDev", NULL}, {"percRank", NULL}, {"percValue", NULL}, {"uom", NULL},
	{"coordinateReferenceSystem", NULL}, {NULL, NULL}};
static const Ord ord_sensor_el[] = {{"sensorMetadata", ord_meta}, {"sensorReport", ord_report}, {NULL, NULL}};
static const Ord ord_sensor[] = {{"sensorElement", ord_sensor_el}, {NULL, NULL}};
static const Ord ord_event[] = {
	{"eventTime", NULL}, {"eventTimeZoneOffset", NULL}, {"certificationInfo", NULL}, {"parentID", NULL},
	{"epcList", ord_epc}, {"inputEPCList", ord_epc}, {"childEPCs", ord_epc},
	{"quantityList", ord_qty}, {"childQuantityList", ord_qty}, {"inputQuantityList", ord_qty},
	{"outputEPCList", ord_epc}, {"outputQuantityList", ord_qty},
	{"action", NULL}, {"transformationID", NULL}, {"bizStep", NULL}, {"disposition", NULL},
	{"persistentDisposition", ord_persist}, {"readPoint", ord_id}, {"bizLocation", ord_id},
	/* business transactions, sources and destinations are pairs: the generic part writes them */
	{"bizTransactionList", &ord_end}, {"sourceList", &ord_end}, {"destinationList", &ord_end},
	{"sensorElementList", ord_sensor}, {NULL, NULL}};

static const char *generic(Eh *eh, Node **kids, size_t n);

static bool
is_extension_name(const char *name)
{
	return name && strchr(name, '{') && strstr(name, "/}");
}

static const char *ordered(Eh *eh, Node *parent, const Ord *order);

static const char *
child_prehash(Eh *eh, Node *child, const Ord *sub)
{
	const char *grand = sub ? ordered(eh, child, sub) : "";
	const char *text = strip(eh, child->value);
	Str			s = {0};

	if (eh->failed)
		return "";
	if (*text)
	{
		char	   *lower = eh_strndup(eh, child->name, strlen(child->name));

		for (char *c = lower; c && *c; c++)
			*c = (char) tolower((unsigned char) *c);
		if (lower && strstr(lower, "time") && !strstr(lower, "offset"))
		{
			const char *fixed = fix_time(eh, text);

			text = fixed ? fixed : text;
		}
		else
			text = canonize(eh, text);
		text = eh_cat(eh, "=", text);
	}
	if (eh->failed || (*text == '\0' && *grand == '\0'))
		return "";
	str_put(eh, &s, child->name);
	str_put(eh, &s, text);
	str_put(eh, &s, grand);
	return str_get(&s);
}

static const char *
ordered(Eh *eh, Node *parent, const Ord *order)
{
	Str			pre = {0};
	Node	  **ext = NULL;
	size_t		next = 0;
	size_t		alive = node_alive(parent);
	bool		top = false;

	/* a standard field's own extensions come after its fields (not at event level) */
	if (alive > 1)
	{
		for (size_t i = 0; i < parent->n; i++)
		{
			Node	   *k = parent->kids[i];

			if (!k->removed && k->name && (strstr(k->name, "eventTime") || strstr(k->name, "action")))
				top = true;
		}
		if (!top)
		{
			ext = eh_alloc(eh, alive * sizeof(Node *));
			for (size_t i = 0; ext && i < parent->n; i++)
			{
				Node	   *k = parent->kids[i];

				if (!k->removed && is_extension_name(k->name))
				{
					ext[next++] = k;
					k->removed = true;
				}
			}
		}
	}
	for (const Ord *o = order; o->name; o++)
	{
		const char **vals = eh_alloc(eh, (parent->n + 1) * sizeof(char *));
		size_t		nv = 0;

		if (vals == NULL)
			return "";
		for (size_t i = 0; i < parent->n; i++)
		{
			Node	   *k = parent->kids[i];
			const char *s;

			if (k->removed || k->name == NULL || strcmp(k->name, o->name) != 0)
				continue;
			s = child_prehash(eh, k, o->sub);
			if (*s)
				vals[nv++] = s;
			if (node_alive(k) == 0)
				k->removed = true;
		}
		qsort(vals, nv, sizeof(char *), cmp_strp);
		for (size_t i = 0; i < nv; i++)
			str_put(eh, &pre, vals[i]);
	}
	if (next)
	{
		/* generic() reads removed flags: give it the extensions as live nodes */
		for (size_t i = 0; i < next; i++)
			ext[i]->removed = false;
		str_put(eh, &pre, generic(eh, ext, next));
		for (size_t i = 0; i < next; i++)
			ext[i]->removed = true;
	}
	return str_get(&pre);
}

static const char *
generic(Eh *eh, Node **kids, size_t n)
{
	const char **vals = eh_alloc(eh, (n + 1) * sizeof(char *));
	size_t		nv = 0;
	bool		sort = true;
	Str			s = {0};

	if (vals == NULL)
		return "";
	for (size_t i = 0; i < n; i++)
	{
		Node	   *k = kids[i];
		Str			one = {0};

		if (k->removed)
			continue;
		if (k->name && (strcmp(k->name, "bizTransaction") == 0 || strcmp(k->name, "source") == 0
						|| strcmp(k->name, "destination") == 0))
			sort = false;
		if (k->name == NULL)
		{
			vals[nv++] = generic(eh, k->kids, k->n);
			continue;
		}
		str_put(eh, &one, k->name);
		{
			const char *text = strip(eh, k->value);

			if (text && *text)
			{
				str_put(eh, &one, "=");
				str_put(eh, &one, canonize(eh, text));
			}
		}
		str_put(eh, &one, generic(eh, k->kids, k->n));
		vals[nv++] = str_get(&one);
	}
	if (nv > 1 && sort)
		qsort(vals, nv, sizeof(char *), cmp_strp);
	for (size_t i = 0; i < nv; i++)
		str_put(eh, &s, vals[i]);
	return str_get(&s);
}

char *
sl_eventhash_prehash(const SlJson *context, const SlJson *event, SlEhAlloc alloc, void *arg)
{
	Eh			eh = {alloc, arg, false, NULL, 0};
	Node	   *root;
	Str			s = {0};
	Node	  **rest;
	size_t		nrest = 0;

	if (event == NULL || event->type != SL_JSON_OBJECT)
		return NULL;
	ns_collect(&eh, context);
	root = json_to_node(&eh, event, NULL, NULL, 0);
	if (root == NULL || eh.failed)
		return NULL;
	correct(&eh, root);
	str_put(&eh, &s, "eventType=");
	str_put(&eh, &s, root->name ? root->name : "");
	str_put(&eh, &s, ordered(&eh, root, ord_event));
	rest = eh_alloc(&eh, (root->n + 1) * sizeof(Node *));
	for (size_t i = 0; rest && i < root->n; i++)
	{
		Node	   *k = root->kids[i];

		if (k->removed || k->name == NULL || strcmp(k->name, "recordTime") == 0 || strcmp(k->name, "eventID") == 0
			|| strcmp(k->name, "type") == 0 || strcmp(k->name, "errorDeclaration") == 0)
			continue;
		rest[nrest++] = k;
	}
	if (nrest)
		str_put(&eh, &s, generic(&eh, rest, nrest));
	if (eh.failed)
		return NULL;
	return eh_strndup(&eh, str_get(&s), s.len);
}

void
sl_eventhash_ni(const unsigned char *digest, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = out;

	memcpy(p, "ni:///sha-256;", 14);
	p += 14;
	for (int i = 0; i < 32; i++)
	{
		*p++ = hex[digest[i] >> 4];
		*p++ = hex[digest[i] & 15];
	}
	memcpy(p, "?ver=CBV2.0", 12);
}
