/*
 * merkle.c — RFC 9162 section 2.1: tree hashing, the incremental right edge
 * used by checkpoint(), and the generation and verification of inclusion and
 * consistency proofs. Proof generation asks a callback for the hashes of
 * complete subtrees, so the same code runs over stored nodes (extension) and
 * over leaves in memory (tests).
 */
#include "merkle.h"

#include <string.h>

int
sl_merkle_leaf(SlHasher *h, const void *data, size_t len, uint8_t *out)
{
	static const uint8_t zero = 0x00;

	if (sl_digest_init(h->ctx, h->alg) != 0 || sl_digest_update(h->ctx, &zero, 1) != 0 ||
		sl_digest_update(h->ctx, data, len) != 0)
		return -1;
	return sl_digest_final(h->ctx, out);
}

int
sl_merkle_node(SlHasher *h, const uint8_t *left, const uint8_t *right, uint8_t *out)
{
	uint8_t		buf[1 + 2 * SL_DIGEST_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, SL_DIGEST_LEN);
	memcpy(buf + 1 + SL_DIGEST_LEN, right, SL_DIGEST_LEN);
	if (sl_digest_init(h->ctx, h->alg) != 0 || sl_digest_update(h->ctx, buf, sizeof(buf)) != 0)
		return -1;
	return sl_digest_final(h->ctx, out);
}

int
sl_merkle_empty(SlHasher *h, uint8_t *out)
{
	if (sl_digest_init(h->ctx, h->alg) != 0)
		return -1;
	return sl_digest_final(h->ctx, out);
}

static int
Popcount(uint64_t x)
{
	int			n = 0;

	while (x)
	{
		x &= x - 1;
		n++;
	}
	return n;
}

void
sl_frontier_init(SlFrontier *f)
{
	f->size = 0;
	f->count = 0;
}

int
sl_frontier_load(SlFrontier *f, uint64_t size, const uint8_t *bytes, size_t len)
{
	int			count = Popcount(size);

	if (len != (size_t) count * SL_DIGEST_LEN)
		return -1;
	f->size = size;
	f->count = count;
	memcpy(f->hash, bytes, len);
	return 0;
}

int
sl_frontier_append(SlFrontier *f, SlHasher *h, const uint8_t *leaf_hash, SlEmitFn emit, void *arg)
{
	uint64_t	size = f->size;
	int			level = 0;

	if (f->count >= 64)
		return -1;
	memcpy(f->hash[f->count++], leaf_hash, SL_DIGEST_LEN);
	/* each trailing 1 bit of the old size is a subtree the new leaf completes a parent of */
	while (size & 1)
	{
		uint8_t		parent[SL_DIGEST_LEN];

		if (sl_merkle_node(h, f->hash[f->count - 2], f->hash[f->count - 1], parent) != 0)
			return -1;
		f->count--;
		memcpy(f->hash[f->count - 1], parent, SL_DIGEST_LEN);
		size >>= 1;
		level++;
		if (emit != NULL && emit(arg, level, f->size >> level, parent) != 0)
			return -1;
	}
	f->size++;
	return 0;
}

int
sl_frontier_root(const SlFrontier *f, SlHasher *h, uint8_t *out)
{
	uint8_t		r[SL_DIGEST_LEN];

	if (f->count == 0)
		return sl_merkle_empty(h, out);
	/* MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n])): fold the edge from the right */
	memcpy(r, f->hash[f->count - 1], SL_DIGEST_LEN);
	for (int i = f->count - 2; i >= 0; i--)
		if (sl_merkle_node(h, f->hash[i], r, r) != 0)
			return -1;
	memcpy(out, r, SL_DIGEST_LEN);
	return 0;
}

/* The largest power of two strictly below n (n >= 2). */
static uint64_t
SplitPoint(uint64_t n)
{
	uint64_t	k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

int
sl_merkle_range(SlHasher *h, SlNodeFn fn, void *arg, uint64_t lo, uint64_t hi, uint8_t *out)
{
	uint64_t	n = hi - lo;
	uint8_t		left[SL_DIGEST_LEN],
				right[SL_DIGEST_LEN];
	uint64_t	k;

	if (hi <= lo)
		return -1;
	if ((n & (n - 1)) == 0 && lo % n == 0)
	{
		int			level = 0;

		while (((uint64_t) 1 << level) < n)
			level++;
		return fn(arg, level, lo >> level, out);
	}
	k = SplitPoint(n);
	if (sl_merkle_range(h, fn, arg, lo, lo + k, left) != 0 ||
		sl_merkle_range(h, fn, arg, lo + k, hi, right) != 0)
		return -1;
	return sl_merkle_node(h, left, right, out);
}

static int
Path(SlHasher *h, SlNodeFn fn, void *arg, uint64_t m, uint64_t lo, uint64_t hi,
	 uint8_t proof[][SL_DIGEST_LEN], int *count)
{
	uint64_t	n = hi - lo,
				k;

	if (n == 1)
		return 0;
	k = SplitPoint(n);
	if (m < k)
	{
		if (Path(h, fn, arg, m, lo, lo + k, proof, count) != 0)
			return -1;
		return *count < SL_MERKLE_MAX_PROOF ? sl_merkle_range(h, fn, arg, lo + k, hi, proof[(*count)++]) : -1;
	}
	if (Path(h, fn, arg, m - k, lo + k, hi, proof, count) != 0)
		return -1;
	return *count < SL_MERKLE_MAX_PROOF ? sl_merkle_range(h, fn, arg, lo, lo + k, proof[(*count)++]) : -1;
}

int
sl_merkle_inclusion_proof(SlHasher *h, SlNodeFn fn, void *arg, uint64_t index, uint64_t size,
						  uint8_t proof[][SL_DIGEST_LEN], int *count)
{
	*count = 0;
	if (index >= size)
		return -1;
	return Path(h, fn, arg, index, 0, size, proof, count);
}

static int
SubProof(SlHasher *h, SlNodeFn fn, void *arg, uint64_t m, uint64_t lo, uint64_t hi, int whole,
		 uint8_t proof[][SL_DIGEST_LEN], int *count)
{
	uint64_t	n = hi - lo,
				k;

	if (m == n)
	{
		if (whole)
			return 0;
		return *count < SL_MERKLE_MAX_PROOF ? sl_merkle_range(h, fn, arg, lo, hi, proof[(*count)++]) : -1;
	}
	k = SplitPoint(n);
	if (m <= k)
	{
		if (SubProof(h, fn, arg, m, lo, lo + k, whole, proof, count) != 0)
			return -1;
		return *count < SL_MERKLE_MAX_PROOF ? sl_merkle_range(h, fn, arg, lo + k, hi, proof[(*count)++]) : -1;
	}
	if (SubProof(h, fn, arg, m - k, lo + k, hi, 0, proof, count) != 0)
		return -1;
	return *count < SL_MERKLE_MAX_PROOF ? sl_merkle_range(h, fn, arg, lo, lo + k, proof[(*count)++]) : -1;
}

int
sl_merkle_consistency_proof(SlHasher *h, SlNodeFn fn, void *arg, uint64_t old_size, uint64_t new_size,
							uint8_t proof[][SL_DIGEST_LEN], int *count)
{
	*count = 0;
	if (old_size > new_size)
		return -1;
	if (old_size == 0 || old_size == new_size)
		return 0;
	return SubProof(h, fn, arg, old_size, 0, new_size, 1, proof, count);
}

const char *
sl_merkle_verify_inclusion(SlHasher *h, uint64_t index, uint64_t size, const uint8_t *leaf_hash,
						   const uint8_t proof[][SL_DIGEST_LEN], int count, const uint8_t *root)
{
	uint64_t	fn = index,
				sn;
	uint8_t		r[SL_DIGEST_LEN];

	if (index >= size)
		return "leaf index is not below the tree size";
	sn = size - 1;
	memcpy(r, leaf_hash, SL_DIGEST_LEN);
	for (int i = 0; i < count; i++)
	{
		if (sn == 0)
			return "inclusion proof is too long";
		if ((fn & 1) || fn == sn)
		{
			if (sl_merkle_node(h, proof[i], r, r) != 0)
				return "hashing failed";
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0)
				{
					fn >>= 1;
					sn >>= 1;
				}
		}
		else if (sl_merkle_node(h, r, proof[i], r) != 0)
			return "hashing failed";
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return "inclusion proof is too short";
	if (memcmp(r, root, SL_DIGEST_LEN) != 0)
		return "inclusion proof does not lead to the root";
	return NULL;
}

const char *
sl_merkle_verify_consistency(SlHasher *h, uint64_t old_size, uint64_t new_size,
							 const uint8_t *old_root, const uint8_t *new_root,
							 const uint8_t proof[][SL_DIGEST_LEN], int count)
{
	uint64_t	fn,
				sn;
	uint8_t		fr[SL_DIGEST_LEN],
				sr[SL_DIGEST_LEN];
	int			i = 0;

	if (old_size > new_size)
		return "old tree size is larger than the new one";
	if (old_size == new_size)
	{
		if (count != 0)
			return "consistency proof between equal sizes must be empty";
		return memcmp(old_root, new_root, SL_DIGEST_LEN) == 0 ? NULL : "roots of equal-size trees differ";
	}
	if (old_size == 0)
		return count == 0 ? NULL : "consistency proof from the empty tree must be empty";
	if (count == 0)
		return "consistency proof is empty";

	fn = old_size - 1;
	sn = new_size - 1;
	/* an old tree that is a complete subtree is its own first proof element */
	if ((old_size & (old_size - 1)) == 0)
	{
		memcpy(fr, old_root, SL_DIGEST_LEN);
		memcpy(sr, old_root, SL_DIGEST_LEN);
	}
	else
	{
		memcpy(fr, proof[0], SL_DIGEST_LEN);
		memcpy(sr, proof[0], SL_DIGEST_LEN);
		i = 1;
	}
	while (fn & 1)
	{
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < count; i++)
	{
		if (sn == 0)
			return "consistency proof is too long";
		if ((fn & 1) || fn == sn)
		{
			if (sl_merkle_node(h, proof[i], fr, fr) != 0 || sl_merkle_node(h, proof[i], sr, sr) != 0)
				return "hashing failed";
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0)
				{
					fn >>= 1;
					sn >>= 1;
				}
		}
		else if (sl_merkle_node(h, sr, proof[i], sr) != 0)
			return "hashing failed";
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return "consistency proof is too short";
	if (memcmp(fr, old_root, SL_DIGEST_LEN) != 0)
		return "consistency proof does not lead to the old root";
	if (memcmp(sr, new_root, SL_DIGEST_LEN) != 0)
		return "consistency proof does not lead to the new root";
	return NULL;
}
