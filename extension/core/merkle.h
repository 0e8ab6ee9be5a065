/*
 * merkle.h — the RFC 9162 (Certificate Transparency v2) Merkle log of the
 * ledger: tree heads, inclusion and consistency proofs and their checks.
 * Pure C: the extension, shilian-verify and the unit tests share it.
 */
#ifndef SHILIAN_MERKLE_H
#define SHILIAN_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

#define SL_MERKLE_MAX_PROOF 64	/* log2 of any tree size that fits 63 bits, with room */

/* A hash function and a reusable context: every call hashes with these. */
typedef struct SlHasher
{
	SlDigestCtx *ctx;
	SlDigestAlg alg;
} SlHasher;

/* H(0x00 || data) and H(0x01 || left || right); 0 on success. */
int			sl_merkle_leaf(SlHasher *h, const void *data, size_t len, uint8_t *out);
int			sl_merkle_node(SlHasher *h, const uint8_t *left, const uint8_t *right, uint8_t *out);
/* The root of the empty tree, H(""). */
int			sl_merkle_empty(SlHasher *h, uint8_t *out);

/*
 * The right edge of a tree: the roots of the complete subtrees its size
 * decomposes into (one per set bit of size, largest first). Enough to extend
 * the tree leaf by leaf and to compute its root.
 */
typedef struct SlFrontier
{
	uint64_t	size;
	int			count;
	uint8_t		hash[64][SL_DIGEST_LEN];
} SlFrontier;

/* Called for every complete subtree a new leaf completes: level >= 1, idx its position at that level. */
typedef int (*SlEmitFn) (void *arg, int level, uint64_t idx, const uint8_t *hash);

void		sl_frontier_init(SlFrontier *f);
/* From size and count*32 bytes (as stored); -1 if count != popcount(size). */
int			sl_frontier_load(SlFrontier *f, uint64_t size, const uint8_t *bytes, size_t len);
int			sl_frontier_append(SlFrontier *f, SlHasher *h, const uint8_t *leaf_hash,
							   SlEmitFn emit, void *arg);
int			sl_frontier_root(const SlFrontier *f, SlHasher *h, uint8_t *out);

/*
 * The hash of the complete subtree at (level, idx): leaves
 * [idx * 2^level, (idx + 1) * 2^level). Level 0 is a leaf hash. 0 on success.
 */
typedef int (*SlNodeFn) (void *arg, int level, uint64_t idx, uint8_t *out);

/* MTH(D[lo:hi]) from complete subtrees, hi > lo. */
int			sl_merkle_range(SlHasher *h, SlNodeFn fn, void *arg, uint64_t lo, uint64_t hi, uint8_t *out);

/* PATH(index, D[size]) into proof[]; *count set. 0 on success. */
int			sl_merkle_inclusion_proof(SlHasher *h, SlNodeFn fn, void *arg, uint64_t index, uint64_t size,
									  uint8_t proof[][SL_DIGEST_LEN], int *count);
/* PROOF(old_size, D[new_size]) into proof[]; *count set. 0 on success. */
int			sl_merkle_consistency_proof(SlHasher *h, SlNodeFn fn, void *arg, uint64_t old_size,
										uint64_t new_size, uint8_t proof[][SL_DIGEST_LEN], int *count);

/*
 * RFC 9162 sections 2.1.3.2 and 2.1.4.2. NULL when the proof holds, otherwise
 * a static one-line reason.
 */
const char *sl_merkle_verify_inclusion(SlHasher *h, uint64_t index, uint64_t size,
									   const uint8_t *leaf_hash, const uint8_t proof[][SL_DIGEST_LEN],
									   int count, const uint8_t *root);
const char *sl_merkle_verify_consistency(SlHasher *h, uint64_t old_size, uint64_t new_size,
										 const uint8_t *old_root, const uint8_t *new_root,
										 const uint8_t proof[][SL_DIGEST_LEN], int count);

#endif
