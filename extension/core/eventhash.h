/*
 * eventhash.h — the EPCIS 2.0 event hash ID (CBV 2.0 section 8.9, "EPCIS
 * Event Hash ID"; reference implementation github.com/RalphTro/
 * epcis-event-hash-generator): the canonical pre-hash string of an event and
 * its ni:///sha-256;<hex>?ver=CBV2.0 URI. Pure C, no PostgreSQL headers: the
 * extension (epcis_event_hash) and the unit tests compute the same string.
 *
 * The input is a JSON value tree (SlJson) that the caller builds from its own
 * parser (jsonb in the extension, a generated initializer in the tests).
 */
#ifndef SHILIAN_EVENTHASH_H
#define SHILIAN_EVENTHASH_H

#include <stddef.h>

typedef enum SlJsonType
{
	SL_JSON_NULL,
	SL_JSON_FALSE,
	SL_JSON_TRUE,
	SL_JSON_NUMBER,				/* str: the number's text */
	SL_JSON_STRING,				/* str: the UTF-8 string (NUL-terminated) */
	SL_JSON_ARRAY,				/* items[n] */
	SL_JSON_OBJECT				/* items[n], each with its key */
} SlJsonType;

typedef struct SlJson
{
	SlJsonType	type;
	const char *key;			/* member name inside an object, else NULL */
	const char *str;
	size_t		n;
	const struct SlJson *items;
} SlJson;

/* Memory for the result and the working tree: never freed one by one. */
typedef void *(*SlEhAlloc) (void *arg, size_t size);

/*
 * The pre-hash string of one event (a JSON object), given the document's
 * @context (a string, an object or an array of them; NULL when none), whose
 * prefixes expand compact names and values. Returns a NUL-terminated string
 * from alloc, or NULL when the event is not an object or memory ran out.
 */
char	   *sl_eventhash_prehash(const SlJson *context, const SlJson *event,
								 SlEhAlloc alloc, void *arg);

/*
 * The constrained canonical GS1 Digital Link URI of an EPC URI, EPC class
 * URI, EPC pattern URI or GS1 Digital Link URI (into out, cap bytes); 0 when
 * the text is none of them (or out is too small), else the length.
 */
size_t		sl_eventhash_dl(const char *uri, char *out, size_t cap);

/* Length of "ni:///sha-256;" + 64 hex + "?ver=CBV2.0" + NUL. */
#define SL_EVENTHASH_NI_LEN (14 + 64 + 11 + 1)

/* The ni URI of a SHA-256 digest (32 bytes) into out[SL_EVENTHASH_NI_LEN]. */
void		sl_eventhash_ni(const unsigned char *digest, char *out);

#endif
