/*
 * verify.h — what the parts of shilian-verify share: the one-line failure
 * exit, whole-file reading and the JSON field readers of the export lines.
 */
#ifndef SHILIAN_VERIFY_H
#define SHILIAN_VERIFY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "merkle.h"

/* "FAIL: ..." on stdout, exit status 1 */
void		Fail(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));
/* a whole file ("-": stdin), NUL-terminated; NULL with errno set */
char	   *ReadAll(const char *path, size_t *len);
int			GetI64(json_t *o, const char *key, int64_t *out, int nullable, int *isnull);
int			GetHash(json_t *o, const char *key, uint8_t *out);
int			GetPath(json_t *arr, uint8_t proof[][SL_DIGEST_LEN], int *count);

/* what the signed-checkpoint check needs from the export (signed_export.c) */
typedef struct Head
{
	int64_t		seq;
	int			has_leaf;
	int64_t		leaf_index;
	uint8_t		hash[SL_DIGEST_LEN];	/* recomputed */
} Head;

typedef struct SignedCheck
{
	int64_t		operator_id;
	int			have_ck;
	int64_t		tree_size;		/* the export's latest tree head */
	const uint8_t *root;
	SlDigestAlg alg;
	json_t	   *cons;			/* old_size (text) -> consistency path */
	SlDigestCtx *ctx;
} SignedCheck;

/*
 * The export's signed_checkpoint line: signed by the log key, cosigned by
 * each witness key, consistent with the export's tree head, and its heads
 * commitment holding the operator's last entry in the signed tree, which the
 * chain must reach. Fails or appends a summary to msg.
 */
void		CheckSigned(const SignedCheck *sc, json_t *line, const char *log_vkey,
						const char *const *witness_vkeys, int nwitness,
						const Head *entries, size_t nentries, char *msg, size_t msgcap);
/* a head's digest H(i64(seq) || i64(leaf index) || entry hash); 0 on success */
int			HeadDigest(SlDigestAlg alg, int64_t seq, int64_t leaf, const uint8_t *hash, uint8_t *out);

/* the subcommands beside the export check (checkpoint_cmd.c) */
int			CmdVkey(int argc, char **argv);
int			CmdSign(int argc, char **argv);
int			CmdNote(int argc, char **argv);
int			CmdWitness(int argc, char **argv);
/* an archived ledger month (archive_cmd.c) */
int			CmdArchive(int argc, char **argv);

#endif
