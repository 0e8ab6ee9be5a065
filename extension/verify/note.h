/*
 * note.h — C2SP signed notes (c2sp.org/signed-note) and checkpoints
 * (c2sp.org/tlog-checkpoint) for shilian-verify: keys (Ed25519, SM2),
 * verifier keys, signing, cosigning (c2sp.org/tlog-cosignature) and
 * verification. OpenSSL 3 EVP only; docs/ledger-format.md#signed-checkpoints.
 */
#ifndef SHILIAN_NOTE_H
#define SHILIAN_NOTE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "digest.h"

/* signature type bytes (C2SP signed-note "Signature types") */
#define SL_NOTE_ED25519 0x01
#define SL_NOTE_COSIG_V1 0x04	/* timestamped Ed25519 cosignature */
#define SL_NOTE_OTHER 0xff		/* followed by a longer identifier */
/* our identifier after 0xff for SM2 with SM3 and the GB/T 32918 default ID */
#define SL_NOTE_SM2_IDENT "sm2-sm3"
#define SL_NOTE_SM2_ID "1234567812345678"
#define SL_NOTE_MAX_SIGS 64

typedef enum SlKeyAlg
{
	SL_KEY_ED25519 = 1,
	SL_KEY_SM2 = 2
} SlKeyAlg;

typedef struct SlNoteKey
{
	char		name[256];
	SlKeyAlg	alg;
	int			cosign;			/* Ed25519 only: cosignature/v1 (type 0x04) */
	uint32_t	id;
	uint8_t		pub[65];		/* Ed25519: 32 bytes; SM2: 0x04 || X || Y */
	size_t		publen;
	EVP_PKEY   *pkey;			/* private when loaded for signing */
} SlNoteKey;

/* A private key from a file or an OSSL_STORE URI (pkcs11:... with a provider). */
const char *sl_note_key_load(const char *uri, const char *name, int cosign, SlNoteKey *k);
/* A verifier key "name+hex(id)+base64(type || pub)". */
const char *sl_note_vkey_parse(const char *vkey, SlNoteKey *k);
/* The vkey text of a key (malloc'd). */
char	   *sl_note_vkey(const SlNoteKey *k);
void		sl_note_key_free(SlNoteKey *k);

/*
 * A signature line "— name base64(id || sig)\n" over text (malloc'd), NULL
 * on failure; timestamp is used by cosignature/v1 keys only.
 */
char	   *sl_note_sign(const SlNoteKey *k, const char *text, size_t textlen, uint64_t timestamp);

/* A note split into its text and signature lines. */
typedef struct SlNote
{
	const char *text;			/* points into the input, includes the final newline */
	size_t		textlen;
	int			nsigs;
	struct
	{
		char		name[256];
		uint8_t		sig[8192];
		size_t		siglen;
		const char *line;		/* start of the line in the input */
		size_t		linelen;	/* with its newline */
	}		   *sigs;
} SlNote;

const char *sl_note_parse(const char *note, size_t len, SlNote *n);
void		sl_note_free(SlNote *n);
/*
 * Whether the note carries a valid signature of k: 1 verified, 0 no
 * signature by that name and id, -1 a signature by that key that does not
 * verify. *timestamp gets a cosignature's time.
 */
int			sl_note_verify(const SlNote *n, const SlNoteKey *k, uint64_t *timestamp);

/* A checkpoint body: origin, size, root, and our "heads ALG BASE64" line. */
typedef struct SlCheckpoint
{
	char		origin[256];
	uint64_t	size;
	uint8_t		root[SL_DIGEST_LEN];
	int			has_heads;
	SlDigestAlg alg;
	uint8_t		heads[SL_DIGEST_LEN];
} SlCheckpoint;

const char *sl_checkpoint_parse(const char *text, size_t len, SlCheckpoint *c);

/* Standard base64 (RFC 4648 section 4). */
char	   *sl_b64(const uint8_t *data, size_t len);
int			sl_unb64(const char *s, size_t len, uint8_t *out, size_t cap, size_t *outlen);

#endif
