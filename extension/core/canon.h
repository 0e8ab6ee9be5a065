/*
 * canon.h — the canonical byte encoding of ledger entries (docs/ledger-format.md).
 * Pure C, no PostgreSQL headers: the extension, shilian-verify and the unit
 * tests build and read exactly the same bytes from these functions.
 */
#ifndef SHILIAN_CANON_H
#define SHILIAN_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

/* Domain-separation byte of an entry's hash input (0x00/0x01 are Merkle leaf/node). */
#define SL_CANON_ENTRY_DOMAIN 0x02

/* Type tags of the canonical body encoding. */
#define SL_CANON_NULL 0x00
#define SL_CANON_FALSE 0x01
#define SL_CANON_TRUE 0x02
#define SL_CANON_NUMBER 0x03
#define SL_CANON_STRING 0x04
#define SL_CANON_ARRAY 0x05
#define SL_CANON_OBJECT 0x06

/* Nesting deeper than this is refused (by the validator and the renderer). */
#define SL_CANON_MAX_DEPTH 64

/*
 * A growable byte buffer. The allocator is a parameter so that the extension
 * uses palloc (freed with its memory context) and the others use malloc.
 */
typedef struct SlBuf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	void	   *(*grow) (void *old, size_t newcap);
	int			failed;		/* an allocation failed; the content is incomplete */
} SlBuf;

void		sl_buf_init(SlBuf *b, void *(*grow) (void *old, size_t newcap));
void		sl_buf_reserve(SlBuf *b, size_t extra);
void		sl_buf_put(SlBuf *b, const void *p, size_t n);
void		sl_buf_u8(SlBuf *b, uint8_t v);
void		sl_buf_u32(SlBuf *b, uint32_t v);	/* big-endian */
void		sl_buf_i64(SlBuf *b, int64_t v);	/* big-endian two's complement */

/* Body writer: a value at a time, containers announce their element count. */
void		sl_canon_null(SlBuf *b);
void		sl_canon_bool(SlBuf *b, int v);
void		sl_canon_number(SlBuf *b, const char *text, size_t len);	/* canonical decimal */
void		sl_canon_string(SlBuf *b, const char *utf8, size_t len);
void		sl_canon_array(SlBuf *b, uint32_t count);
void		sl_canon_object(SlBuf *b, uint32_t count);
void		sl_canon_key(SlBuf *b, const char *utf8, size_t len);	/* keys in byte order */

/* Byte order of object keys: memcmp, a proper prefix first. */
int			sl_canon_keycmp(const char *a, size_t alen, const char *b, size_t blen);

/* The fixed fields of an entry, in hash order. */
typedef struct SlEntry
{
	int64_t		id;
	int64_t		operator_id;
	int64_t		seq;
	uint8_t		alg;			/* SlDigestAlg */
	const char *kind;			/* UTF-8 */
	size_t		kind_len;
	int64_t		recorded_at;	/* microseconds since 1970-01-01 00:00:00 UTC */
	int64_t		supersedes;		/* 0 = none */
	const uint8_t *body;		/* canonical body bytes */
	size_t		body_len;
	const uint8_t *prev_hash;	/* SL_DIGEST_LEN bytes */
} SlEntry;

/* The prev_hash of the first entry of every chain: 32 zero bytes. */
extern const uint8_t sl_genesis_hash[SL_DIGEST_LEN];

/* Append the entry's hash input (domain byte, fields, prev_hash) to b. */
void		sl_canon_entry(SlBuf *b, const SlEntry *e);

/*
 * Hash an entry with its own algorithm, reusing ctx and scratch (scratch is
 * reset, not freed). 0 on success.
 */
int			sl_entry_hash(SlDigestCtx *ctx, SlBuf *scratch, const SlEntry *e, uint8_t *out);

/*
 * Check that bytes are one canonical body: a single object, well-formed tags
 * and lengths, keys strictly increasing in byte order, numbers in canonical
 * decimal form, valid UTF-8. NULL when valid, otherwise a static reason.
 */
const char *sl_canon_validate(const uint8_t *p, size_t len);

/* Canonical decimal text: -?(0|[1-9][0-9]*)(\.[0-9]*[1-9])? and not "-0". */
int			sl_canon_number_ok(const char *s, size_t len);

/*
 * Render a (validated) canonical body as compact JSON text with keys in
 * canonical order; NUL-terminated in out. 0 on success.
 */
int			sl_canon_to_json(const uint8_t *p, size_t len, SlBuf *out);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void		sl_hex(const uint8_t *p, size_t n, char *out);
/* Parse exactly 2n hex digits into out; 0 on success. */
int			sl_unhex(const char *s, size_t slen, uint8_t *out, size_t n);
/* The value of one hex digit (either case), or -1. */
int			sl_hex_value(char c);

#endif
