/*
 * note.c — C2SP signed notes and checkpoints over OpenSSL 3 EVP: Ed25519
 * (type 0x01), Ed25519 cosignature/v1 (type 0x04) and SM2 with SM3 and the
 * GB/T 32918 default distinguishing ID (type 0xff || "sm2-sm3"). The key
 * names, IDs and encodings are in docs/ledger-format.md#signed-checkpoints.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <openssl/store.h>

#include "note.h"

static const char em_dash[] = "\xe2\x80\x94 ";

char *
sl_b64(const uint8_t *data, size_t len)
{
	char	   *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out != NULL)
		EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	return out;
}

/* Strict: only the canonical encoding of its bytes (re-encoded and compared). */
int
sl_unb64(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	uint8_t    *tmp;
	int			n;
	size_t		pad = 0;
	char	   *back;
	int			ok;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap + 2)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
			  s[i] == '+' || s[i] == '/' || (s[i] == '=' && i >= len - 2)))
			return -1;
	tmp = malloc(len / 4 * 3 + 1);
	if (tmp == NULL)
		return -1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *) s, (int) len);
	if (s[len - 1] == '=')
		pad++;
	if (s[len - 2] == '=')
		pad++;
	if (n < 0 || (size_t) n < pad || (size_t) n - pad > cap)
	{
		free(tmp);
		return -1;
	}
	*outlen = (size_t) n - pad;
	memcpy(out, tmp, *outlen);
	free(tmp);
	back = sl_b64(out, *outlen);
	ok = back != NULL && strlen(back) == len && memcmp(back, s, len) == 0;
	free(back);
	return ok ? 0 : -1;
}

/* The signature type bytes of a key: 0x01, 0x04, or 0xff || "sm2-sm3". */
static size_t
TypeBytes(const SlNoteKey *k, uint8_t *out)
{
	if (k->alg == SL_KEY_SM2)
	{
		out[0] = SL_NOTE_OTHER;
		memcpy(out + 1, SL_NOTE_SM2_IDENT, strlen(SL_NOTE_SM2_IDENT));
		return 1 + strlen(SL_NOTE_SM2_IDENT);
	}
	out[0] = k->cosign ? SL_NOTE_COSIG_V1 : SL_NOTE_ED25519;
	return 1;
}

static void
ComputeId(SlNoteKey *k)
{
	uint8_t		buf[256 + 1 + 16 + 65];
	uint8_t		md[SHA256_DIGEST_LENGTH];
	size_t		n = strlen(k->name);

	memcpy(buf, k->name, n);
	buf[n++] = '\n';
	n += TypeBytes(k, buf + n);
	memcpy(buf + n, k->pub, k->publen);
	n += k->publen;
	SHA256(buf, n, md);
	k->id = (uint32_t) md[0] << 24 | (uint32_t) md[1] << 16 | (uint32_t) md[2] << 8 | md[3];
}

static const char *
CheckName(const char *name)
{
	size_t		n = strlen(name);

	if (n == 0 || n >= 256)
		return "a key name must have 1 to 255 bytes";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) name[i] <= 0x20 || name[i] == '+' || name[i] == 0x7f)
			return "a key name must not contain spaces, control characters or +";
	return NULL;
}

const char *
sl_note_key_load(const char *uri, const char *name, int cosign, SlNoteKey *k)
{
	OSSL_STORE_CTX *store;
	const char *why;

	memset(k, 0, sizeof(*k));
	if ((why = CheckName(name)) != NULL)
		return why;
	strcpy(k->name, name);
	store = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
	if (store == NULL)
		return "cannot open the private key";
	while (k->pkey == NULL && !OSSL_STORE_eof(store))
	{
		OSSL_STORE_INFO *info = OSSL_STORE_load(store);

		if (info == NULL)
			break;
		if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
			k->pkey = OSSL_STORE_INFO_get1_PKEY(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(store);
	if (k->pkey == NULL)
		return "no private key found there";
	if (EVP_PKEY_is_a(k->pkey, "ED25519"))
	{
		k->alg = SL_KEY_ED25519;
		k->publen = 32;
		if (EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &k->publen) != 1 || k->publen != 32)
			return "cannot read the Ed25519 public key";
	}
	else if (EVP_PKEY_is_a(k->pkey, "SM2"))
	{
		k->alg = SL_KEY_SM2;
		if (cosign)
			return "cosignature/v1 is defined for Ed25519 keys only";
		if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, k->pub, sizeof(k->pub),
											&k->publen) != 1 || k->publen != 65 || k->pub[0] != 0x04)
			return "cannot read the SM2 public key";
	}
	else
		return "the key is neither Ed25519 nor SM2";
	k->cosign = cosign;
	ComputeId(k);
	return NULL;
}

static EVP_PKEY *
PublicKey(const SlNoteKey *k)
{
	if (k->alg == SL_KEY_ED25519)
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub, 32);
	else
	{
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
		EVP_PKEY   *pkey = NULL;
		OSSL_PARAM	params[3];

		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) "SM2", 0);
		params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *) k->pub, k->publen);
		params[2] = OSSL_PARAM_construct_end();
		if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
			EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
			pkey = NULL;
		EVP_PKEY_CTX_free(ctx);
		return pkey;
	}
}

const char *
sl_note_vkey_parse(const char *vkey, SlNoteKey *k)
{
	const char *p1 = strchr(vkey, '+'),
			   *p2;
	uint8_t		raw[128];
	size_t		rawlen;
	char		idhex[9];
	uint32_t	id;
	const char *why;

	memset(k, 0, sizeof(*k));
	if (p1 == NULL || (p2 = strchr(p1 + 1, '+')) == NULL || p2 - p1 != 9 || (size_t) (p1 - vkey) >= sizeof(k->name))
		return "a verifier key is name+hex(key id)+base64(type || public key)";
	memcpy(k->name, vkey, p1 - vkey);
	if ((why = CheckName(k->name)) != NULL)
		return why;
	memcpy(idhex, p1 + 1, 8);
	idhex[8] = '\0';
	for (int i = 0; i < 8; i++)
		if (!((idhex[i] >= '0' && idhex[i] <= '9') || (idhex[i] >= 'a' && idhex[i] <= 'f')))
			return "the key id of a verifier key is 8 lowercase hex digits";
	id = (uint32_t) strtoul(idhex, NULL, 16);
	if (sl_unb64(p2 + 1, strlen(p2 + 1), raw, sizeof(raw), &rawlen) != 0 || rawlen < 1)
		return "the key material of a verifier key is not base64";
	if ((raw[0] == SL_NOTE_ED25519 || raw[0] == SL_NOTE_COSIG_V1) && rawlen == 33)
	{
		k->alg = SL_KEY_ED25519;
		k->cosign = raw[0] == SL_NOTE_COSIG_V1;
		memcpy(k->pub, raw + 1, 32);
		k->publen = 32;
	}
	else if (raw[0] == SL_NOTE_OTHER && rawlen == 1 + strlen(SL_NOTE_SM2_IDENT) + 65 &&
			 memcmp(raw + 1, SL_NOTE_SM2_IDENT, strlen(SL_NOTE_SM2_IDENT)) == 0)
	{
		k->alg = SL_KEY_SM2;
		memcpy(k->pub, raw + 1 + strlen(SL_NOTE_SM2_IDENT), 65);
		k->publen = 65;
	}
	else
		return "unsupported verifier key type (0x01 Ed25519, 0x04 cosignature/v1, 0xff sm2-sm3)";
	ComputeId(k);
	if (k->id != id)
		return "the key id of the verifier key does not match its name and key";
	k->pkey = PublicKey(k);
	if (k->pkey == NULL)
		return "the public key of the verifier key is not a valid key";
	return NULL;
}

char *
sl_note_vkey(const SlNoteKey *k)
{
	uint8_t		raw[128];
	size_t		n = TypeBytes(k, raw);
	char	   *b64,
			   *out;

	memcpy(raw + n, k->pub, k->publen);
	b64 = sl_b64(raw, n + k->publen);
	if (b64 == NULL)
		return NULL;
	out = malloc(strlen(k->name) + strlen(b64) + 12);
	if (out != NULL)
		sprintf(out, "%s+%08" PRIx32 "+%s", k->name, k->id, b64);
	free(b64);
	return out;
}

void
sl_note_key_free(SlNoteKey *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
}

/* The bytes a key signs: the text, or for cosignature/v1 its two header lines first. */
static char *
SignedMessage(const SlNoteKey *k, const char *text, size_t textlen, uint64_t ts, size_t *len)
{
	char		head[64] = "";
	size_t		hl;
	char	   *msg;

	if (k->cosign)
		snprintf(head, sizeof(head), "cosignature/v1\ntime %" PRIu64 "\n", ts);
	hl = strlen(head);
	msg = malloc(hl + textlen + 1);
	if (msg == NULL)
		return NULL;
	memcpy(msg, head, hl);
	memcpy(msg + hl, text, textlen);
	*len = hl + textlen;
	return msg;
}

/* An EVP_MD_CTX ready to sign or verify with k (SM2: SM3 and the default ID). */
static EVP_MD_CTX *
SigCtx(const SlNoteKey *k, EVP_PKEY *pkey, int sign, EVP_PKEY_CTX **owned)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int			ok;

	*owned = NULL;
	if (md == NULL)
		return NULL;
	if (k->alg == SL_KEY_SM2)
	{
		EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new(pkey, NULL);

		ok = pctx != NULL && EVP_PKEY_CTX_set1_id(pctx, SL_NOTE_SM2_ID, strlen(SL_NOTE_SM2_ID)) == 1;
		if (ok)
		{
			EVP_MD_CTX_set_pkey_ctx(md, pctx);
			ok = (sign ? EVP_DigestSignInit(md, NULL, EVP_sm3(), NULL, pkey)
				  : EVP_DigestVerifyInit(md, NULL, EVP_sm3(), NULL, pkey)) == 1;
		}
		/* the MD context does not own a context set with set_pkey_ctx */
		if (!ok)
		{
			EVP_MD_CTX_free(md);
			EVP_PKEY_CTX_free(pctx);
			return NULL;
		}
		*owned = pctx;
		return md;
	}
	ok = (sign ? EVP_DigestSignInit(md, NULL, NULL, NULL, pkey)
		  : EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey)) == 1;
	if (!ok)
	{
		EVP_MD_CTX_free(md);
		return NULL;
	}
	return md;
}

/* EVP_MD_CTX_set_pkey_ctx does not hand the context over: both are freed here */
static void
SigCtxFree(EVP_MD_CTX *md, EVP_PKEY_CTX *owned)
{
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(owned);
}

char *
sl_note_sign(const SlNoteKey *k, const char *text, size_t textlen, uint64_t ts)
{
	size_t		msglen,
				siglen = 0;
	char	   *msg = SignedMessage(k, text, textlen, ts, &msglen);
	uint8_t		raw[4 + 8 + 256];
	size_t		off = 4;
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pctx;
	char	   *b64,
			   *line = NULL;
	int			ok;

	if (msg == NULL || k->pkey == NULL)
	{
		free(msg);
		return NULL;
	}
	raw[0] = k->id >> 24;
	raw[1] = k->id >> 16;
	raw[2] = k->id >> 8;
	raw[3] = k->id;
	if (k->cosign)
	{
		for (int i = 0; i < 8; i++)
			raw[4 + i] = (uint8_t) (ts >> (56 - 8 * i));
		off += 8;
	}
	md = SigCtx(k, k->pkey, 1, &pctx);
	ok = md != NULL && EVP_DigestSign(md, NULL, &siglen, (const unsigned char *) msg, msglen) == 1 &&
		siglen <= sizeof(raw) - off &&
		EVP_DigestSign(md, raw + off, &siglen, (const unsigned char *) msg, msglen) == 1;
	SigCtxFree(md, pctx);
	free(msg);
	if (!ok)
		return NULL;
	b64 = sl_b64(raw, off + siglen);
	if (b64 != NULL && (line = malloc(strlen(k->name) + strlen(b64) + 8)) != NULL)
		sprintf(line, "%s%s %s\n", em_dash, k->name, b64);
	free(b64);
	return line;
}

/* Well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
static int
ValidUtf8(const unsigned char *p, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = p[i];
		int			n;
		uint32_t	cp;

		if (c < 0x80)
		{
			i++;
			continue;
		}
		else if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (int k = 1; k <= n; k++)
		{
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

const char *
sl_note_parse(const char *note, size_t len, SlNote *n)
{
	size_t		sep = 0;
	const char *p,
			   *end = note + len;

	memset(n, 0, sizeof(*n));
	if (len == 0 || note[len - 1] != '\n')
		return "a note ends with a newline";
	if (!ValidUtf8((const unsigned char *) note, len))
		return "a note is UTF-8";
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) note[i];

		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return "a note must not contain control characters other than newline";
	}
	/* the text ends at the last blank line */
	for (size_t i = len - 1; i > 0; i--)
		if (note[i] == '\n' && note[i - 1] == '\n')
		{
			sep = i;
			break;
		}
	if (sep == 0)
		return "a note has a blank line between its text and its signatures";
	n->text = note;
	n->textlen = sep;
	n->sigs = calloc(SL_NOTE_MAX_SIGS, sizeof(*n->sigs));
	if (n->sigs == NULL)
		return "out of memory";
	for (p = note + sep + 1; p < end;)
	{
		const char *nl = memchr(p, '\n', end - p),
				   *sp;
		size_t		namelen;

		if (n->nsigs == SL_NOTE_MAX_SIGS)
			return "too many signatures";
		if ((size_t) (nl - p) < strlen(em_dash) || memcmp(p, em_dash, strlen(em_dash)) != 0)
			return "a signature line starts with an em dash and a space";
		sp = memchr(p + strlen(em_dash), ' ', nl - p - strlen(em_dash));
		if (sp == NULL)
			return "a signature line is: em dash, space, key name, space, base64 signature";
		namelen = sp - (p + strlen(em_dash));
		if (namelen == 0 || namelen >= sizeof(n->sigs[0].name))
			return "a key name must have 1 to 255 bytes";
		memcpy(n->sigs[n->nsigs].name, p + strlen(em_dash), namelen);
		if (CheckName(n->sigs[n->nsigs].name) != NULL)
			return "a key name must not contain spaces or +";
		if (sl_unb64(sp + 1, nl - sp - 1, n->sigs[n->nsigs].sig, sizeof(n->sigs[0].sig),
					 &n->sigs[n->nsigs].siglen) != 0 || n->sigs[n->nsigs].siglen < 5)
			return "a signature is the base64 of a key id and at least one byte";
		n->sigs[n->nsigs].line = p;
		n->sigs[n->nsigs].linelen = nl + 1 - p;
		n->nsigs++;
		p = nl + 1;
	}
	if (n->nsigs == 0)
		return "a signed note has at least one signature line";
	return NULL;
}

void
sl_note_free(SlNote *n)
{
	free(n->sigs);
	n->sigs = NULL;
}

int
sl_note_verify(const SlNote *n, const SlNoteKey *k, uint64_t *timestamp)
{
	int			result = 0;

	for (int i = 0; i < n->nsigs; i++)
	{
		const uint8_t *s = n->sigs[i].sig;
		uint32_t	id = (uint32_t) s[0] << 24 | (uint32_t) s[1] << 16 | (uint32_t) s[2] << 8 | s[3];
		size_t		off = 4,
					msglen;
		uint64_t	ts = 0;
		char	   *msg;
		EVP_MD_CTX *md;
		EVP_PKEY_CTX *pctx = NULL;
		int			ok;

		if (strcmp(n->sigs[i].name, k->name) != 0 || id != k->id)
			continue;			/* someone else's signature: ignored, as the spec says */
		if (k->cosign)
		{
			if (n->sigs[i].siglen < off + 8)
				return -1;
			for (int j = 0; j < 8; j++)
				ts = ts << 8 | s[4 + j];
			if (ts > INT64_MAX)
				return -1;
			off += 8;
		}
		msg = SignedMessage(k, n->text, n->textlen, ts, &msglen);
		md = msg ? SigCtx(k, k->pkey, 0, &pctx) : NULL;
		ok = md != NULL && EVP_DigestVerify(md, s + off, n->sigs[i].siglen - off, (const unsigned char *) msg,
											msglen) == 1;
		SigCtxFree(md, pctx);
		free(msg);
		if (!ok)
			return -1;
		if (timestamp)
			*timestamp = ts;
		result = 1;
	}
	return result;
}

const char *
sl_checkpoint_parse(const char *text, size_t len, SlCheckpoint *c)
{
	const char *p = text,
			   *end = text + len,
			   *nl;
	int			line = 0;

	memset(c, 0, sizeof(*c));
	while (p < end)
	{
		size_t		l;

		nl = memchr(p, '\n', end - p);
		if (nl == NULL)
			return "a checkpoint's lines end with a newline";
		l = nl - p;
		if (l == 0)
			return "a checkpoint has no empty lines";
		if (line == 0)
		{
			if (l >= sizeof(c->origin))
				return "the origin line is too long";
			memcpy(c->origin, p, l);
		}
		else if (line == 1)
		{
			char		buf[24];

			if (l > 19 || (l > 1 && p[0] == '0'))
				return "the tree size is a decimal number without leading zeros";
			memcpy(buf, p, l);
			buf[l] = '\0';
			for (size_t i = 0; i < l; i++)
				if (buf[i] < '0' || buf[i] > '9')
					return "the tree size is a decimal number without leading zeros";
			c->size = strtoull(buf, NULL, 10);
		}
		else if (line == 2)
		{
			size_t		got;

			if (sl_unb64(p, l, c->root, SL_DIGEST_LEN, &got) != 0 || got != SL_DIGEST_LEN)
				return "the root hash line is not the base64 of 32 bytes";
		}
		else if (l > 6 && memcmp(p, "heads ", 6) == 0)
		{
			const char *sp = memchr(p + 6, ' ', l - 6);
			char		alg[16];
			size_t		got;

			if (c->has_heads || sp == NULL || (size_t) (sp - p - 6) >= sizeof(alg))
				return "malformed heads line";
			memcpy(alg, p + 6, sp - p - 6);
			alg[sp - p - 6] = '\0';
			c->alg = sl_digest_from_name(alg);
			if (c->alg == SL_DIGEST_INVALID || strcmp(alg, sl_digest_name(c->alg)) != 0)
				return "the heads line names an unknown hash algorithm";
			if (sl_unb64(sp + 1, nl - sp - 1, c->heads, SL_DIGEST_LEN, &got) != 0 || got != SL_DIGEST_LEN)
				return "the heads line's hash is not the base64 of 32 bytes";
			c->has_heads = 1;
		}
		/* other extension lines are opaque */
		line++;
		p = nl + 1;
	}
	if (line < 3)
		return "a checkpoint has an origin, a tree size and a root hash line";
	return NULL;
}
