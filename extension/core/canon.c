/*
 * canon.c — the canonical encoding of ledger entries and their bodies, plus
 * its validator and JSON renderer. Every byte produced here is specified in
 * docs/ledger-format.md; change one and every stored hash stops verifying.
 */
#include "canon.h"

#include <string.h>

const uint8_t sl_genesis_hash[SL_DIGEST_LEN] = {0};

void
sl_buf_init(SlBuf *b, void *(*grow) (void *old, size_t newcap))
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->grow = grow;
	b->failed = 0;
}

void
sl_buf_reserve(SlBuf *b, size_t extra)
{
	size_t		need = b->len + extra;
	size_t		cap;
	uint8_t    *p;

	if (need <= b->cap || b->failed)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = b->grow(b->data, cap);
	if (p == NULL)
	{
		b->failed = 1;
		return;
	}
	b->data = p;
	b->cap = cap;
}

void
sl_buf_put(SlBuf *b, const void *p, size_t n)
{
	sl_buf_reserve(b, n);
	if (b->failed)
		return;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

void
sl_buf_u8(SlBuf *b, uint8_t v)
{
	sl_buf_put(b, &v, 1);
}

void
sl_buf_u32(SlBuf *b, uint32_t v)
{
	uint8_t		x[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};

	sl_buf_put(b, x, 4);
}

void
sl_buf_i64(SlBuf *b, int64_t v)
{
	uint64_t	u = (uint64_t) v;
	uint8_t		x[8];

	for (int i = 7; i >= 0; i--)
	{
		x[i] = (uint8_t) u;
		u >>= 8;
	}
	sl_buf_put(b, x, 8);
}

void
sl_canon_null(SlBuf *b)
{
	sl_buf_u8(b, SL_CANON_NULL);
}

void
sl_canon_bool(SlBuf *b, int v)
{
	sl_buf_u8(b, v ? SL_CANON_TRUE : SL_CANON_FALSE);
}

void
sl_canon_number(SlBuf *b, const char *text, size_t len)
{
	sl_buf_u8(b, SL_CANON_NUMBER);
	sl_buf_u32(b, (uint32_t) len);
	sl_buf_put(b, text, len);
}

void
sl_canon_string(SlBuf *b, const char *utf8, size_t len)
{
	sl_buf_u8(b, SL_CANON_STRING);
	sl_buf_u32(b, (uint32_t) len);
	sl_buf_put(b, utf8, len);
}

void
sl_canon_array(SlBuf *b, uint32_t count)
{
	sl_buf_u8(b, SL_CANON_ARRAY);
	sl_buf_u32(b, count);
}

void
sl_canon_object(SlBuf *b, uint32_t count)
{
	sl_buf_u8(b, SL_CANON_OBJECT);
	sl_buf_u32(b, count);
}

void
sl_canon_key(SlBuf *b, const char *utf8, size_t len)
{
	sl_buf_u32(b, (uint32_t) len);
	sl_buf_put(b, utf8, len);
}

int
sl_canon_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int			c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static inline uint8_t *
PutU32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
	return p + 4;
}

/* Length-prefixed fixed-size fields: the prefix makes every field self-delimiting. */
static inline uint8_t *
PutI64Field(uint8_t *p, int64_t v)
{
	uint64_t	u = (uint64_t) v;

	p = PutU32(p, 8);
	for (int i = 7; i >= 0; i--)
	{
		p[i] = (uint8_t) u;
		u >>= 8;
	}
	return p + 8;
}

/* Written in one pass into reserved space: chain_verify runs this per entry. */
void
sl_canon_entry(SlBuf *b, const SlEntry *e)
{
	size_t		n = 1 + 5 * 12 + 5 + 4 + e->kind_len + 4 + e->body_len + SL_DIGEST_LEN;
	uint8_t    *p;

	sl_buf_reserve(b, n);
	if (b->failed)
		return;
	p = b->data + b->len;
	*p++ = SL_CANON_ENTRY_DOMAIN;
	p = PutI64Field(p, e->id);
	p = PutI64Field(p, e->operator_id);
	p = PutI64Field(p, e->seq);
	p = PutU32(p, 1);
	*p++ = e->alg;
	p = PutU32(p, (uint32_t) e->kind_len);
	memcpy(p, e->kind, e->kind_len);
	p += e->kind_len;
	p = PutI64Field(p, e->recorded_at);
	p = PutI64Field(p, e->supersedes);
	p = PutU32(p, (uint32_t) e->body_len);
	if (e->body_len > 0)
		memcpy(p, e->body, e->body_len);
	p += e->body_len;
	memcpy(p, e->prev_hash, SL_DIGEST_LEN);
	b->len += n;
}

int
sl_entry_hash(SlDigestCtx *ctx, SlBuf *scratch, const SlEntry *e, uint8_t *out)
{
	scratch->len = 0;
	sl_canon_entry(scratch, e);
	if (scratch->failed)
		return -1;
	if (sl_digest_init(ctx, (SlDigestAlg) e->alg) != 0)
		return -1;
	if (sl_digest_update(ctx, scratch->data, scratch->len) != 0)
		return -1;
	return sl_digest_final(ctx, out);
}

int
sl_canon_number_ok(const char *s, size_t len)
{
	size_t		i = 0;

	if (len == 0)
		return 0;
	if (s[0] == '-')
		i++;
	if (i >= len)
		return 0;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < len)
	{
		if (s[i] != '.' || i + 1 >= len)
			return 0;
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i != len || s[len - 1] == '0')
			return 0;
	}
	/* "-0" is not canonical; "-0.5" is */
	if (s[0] == '-' && len == 2 && s[1] == '0')
		return 0;
	return 1;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF, no NUL). */
static int
Utf8Ok(const uint8_t *p, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		uint8_t		c = p[i];
		size_t		n;
		uint32_t	cp;

		if (c == 0)
			return 0;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		if (len - i <= n)
			return 0;
		for (size_t k = 1; k <= n; k++)
		{
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
			(n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return 0;
		i += n + 1;
	}
	return 1;
}

typedef struct Reader
{
	const uint8_t *p;
	size_t		len;
	size_t		pos;
} Reader;

static int
ReadU32(Reader *r, uint32_t *v)
{
	if (r->len - r->pos < 4)
		return -1;
	*v = ((uint32_t) r->p[r->pos] << 24) | ((uint32_t) r->p[r->pos + 1] << 16) |
		((uint32_t) r->p[r->pos + 2] << 8) | r->p[r->pos + 3];
	r->pos += 4;
	return 0;
}

/* A JSON string: escape only '"', '\\' and control characters (UTF-8 passes through). */
static void
RenderString(SlBuf *out, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	sl_buf_u8(out, '"');
	for (size_t i = 0; i < n; i++)
	{
		uint8_t		c = s[i];

		if (c == '"' || c == '\\')
		{
			sl_buf_u8(out, '\\');
			sl_buf_u8(out, c);
		}
		else if (c < 0x20)
		{
			char		esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			sl_buf_put(out, esc, 6);
		}
		else
			sl_buf_u8(out, c);
	}
	sl_buf_u8(out, '"');
}

/* One value; on success r->pos is past it. Renders JSON into out when not NULL. */
static const char *
ReadValue(Reader *r, int depth, SlBuf *out)
{
	uint8_t		tag;
	uint32_t	n;

	if (depth > SL_CANON_MAX_DEPTH)
		return "nesting too deep";
	if (r->pos >= r->len)
		return "truncated value";
	tag = r->p[r->pos++];
	switch (tag)
	{
		case SL_CANON_NULL:
			if (out)
				sl_buf_put(out, "null", 4);
			return NULL;
		case SL_CANON_FALSE:
			if (out)
				sl_buf_put(out, "false", 5);
			return NULL;
		case SL_CANON_TRUE:
			if (out)
				sl_buf_put(out, "true", 4);
			return NULL;
		case SL_CANON_NUMBER:
			if (ReadU32(r, &n) != 0 || r->len - r->pos < n)
				return "truncated number";
			if (!sl_canon_number_ok((const char *) r->p + r->pos, n))
				return "number not in canonical decimal form";
			if (out)
				sl_buf_put(out, r->p + r->pos, n);
			r->pos += n;
			return NULL;
		case SL_CANON_STRING:
			if (ReadU32(r, &n) != 0 || r->len - r->pos < n)
				return "truncated string";
			if (!Utf8Ok(r->p + r->pos, n))
				return "string is not valid UTF-8";
			if (out)
				RenderString(out, r->p + r->pos, n);
			r->pos += n;
			return NULL;
		case SL_CANON_ARRAY:
			if (ReadU32(r, &n) != 0)
				return "truncated array";
			if (out)
				sl_buf_u8(out, '[');
			for (uint32_t i = 0; i < n; i++)
			{
				const char *err;

				if (out && i > 0)
					sl_buf_u8(out, ',');
				if ((err = ReadValue(r, depth + 1, out)) != NULL)
					return err;
			}
			if (out)
				sl_buf_u8(out, ']');
			return NULL;
		case SL_CANON_OBJECT:
			{
				const uint8_t *prev = NULL;
				uint32_t	prevlen = 0;

				if (ReadU32(r, &n) != 0)
					return "truncated object";
				if (out)
					sl_buf_u8(out, '{');
				for (uint32_t i = 0; i < n; i++)
				{
					uint32_t	klen;
					const uint8_t *key;
					const char *err;

					if (ReadU32(r, &klen) != 0 || r->len - r->pos < klen)
						return "truncated key";
					key = r->p + r->pos;
					if (!Utf8Ok(key, klen))
						return "key is not valid UTF-8";
					if (prev != NULL &&
						sl_canon_keycmp((const char *) prev, prevlen, (const char *) key, klen) >= 0)
						return "object keys not in strictly increasing byte order";
					if (out)
					{
						if (i > 0)
							sl_buf_u8(out, ',');
						RenderString(out, key, klen);
						sl_buf_u8(out, ':');
					}
					r->pos += klen;
					prev = key;
					prevlen = klen;
					if ((err = ReadValue(r, depth + 1, out)) != NULL)
						return err;
				}
				if (out)
					sl_buf_u8(out, '}');
				return NULL;
			}
		default:
			return "unknown type tag";
	}
}

const char *
sl_canon_validate(const uint8_t *p, size_t len)
{
	Reader		r = {p, len, 0};
	const char *err;

	if (len == 0 || p[0] != SL_CANON_OBJECT)
		return "body is not an object";
	if ((err = ReadValue(&r, 0, NULL)) != NULL)
		return err;
	if (r.pos != len)
		return "trailing bytes after the body";
	return NULL;
}

int
sl_canon_to_json(const uint8_t *p, size_t len, SlBuf *out)
{
	Reader		r = {p, len, 0};

	if (ReadValue(&r, 0, out) != NULL || r.pos != len)
		return -1;
	sl_buf_u8(out, 0);
	if (out->failed)
		return -1;
	out->len--;
	return 0;
}

void
sl_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = 0;
}

int
sl_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
sl_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		int			hi = sl_hex_value(s[2 * i]),
					lo = sl_hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t) (hi << 4 | lo);
	}
	return 0;
}
