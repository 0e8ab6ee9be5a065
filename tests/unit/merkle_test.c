/*
 * merkle_test.c — extension/core/merkle.c on the RFC 6962 vectors
 * (tests/data/rfc6962-vectors.json, turned into a C include by the Makefile),
 * the corruption probes of transparency-dev/merkle proof/verify_test.go, and
 * every proof of every tree up to 70 leaves.
 */
#include "merkle.h"
#include "canon.h"
#include "unit.h"

#include <string.h>

#include "rfc6962_vectors.inc"

#define MAXLEAVES 70

typedef uint8_t Hash[SL_DIGEST_LEN];

static SlHasher H;

static void
Unhex32(const char *s, uint8_t *out)
{
	if (sl_unhex(s, strlen(s), out, SL_DIGEST_LEN) != 0)
	{
		printf("Bail out! bad hex in vectors: %s\n", s);
		exit(2);
	}
}

/* Leaves in memory: complete subtree hashes computed from them. */
typedef struct Mem
{
	Hash		leaf[MAXLEAVES];
	uint64_t	n;
} Mem;

static int
MemNode(void *arg, int level, uint64_t idx, uint8_t *out)
{
	Mem		   *m = arg;
	Hash		l,
				r;

	if (((idx + 1) << level) > m->n)
		return -1;
	if (level == 0)
	{
		memcpy(out, m->leaf[idx], SL_DIGEST_LEN);
		return 0;
	}
	if (MemNode(arg, level - 1, 2 * idx, l) != 0 || MemNode(arg, level - 1, 2 * idx + 1, r) != 0)
		return -1;
	return sl_merkle_node(&H, l, r, out);
}

static int
CheckEmit(void *arg, int level, uint64_t idx, const uint8_t *hash)
{
	Hash		want;
	Mem		   *m = arg;
	uint64_t	saved = m->n;
	int			ok;

	m->n = MAXLEAVES;
	ok = MemNode(m, level, idx, want) == 0 && memcmp(want, hash, SL_DIGEST_LEN) == 0;
	m->n = saved;
	return ok ? 0 : -1;
}

/* Every corruption of an inclusion proof must be rejected. */
static int
InclusionProbesRejected(uint64_t index, uint64_t size, const uint8_t *leaf, Hash *proof, int n,
						const uint8_t *root)
{
	Hash		p[SL_MERKLE_MAX_PROOF + 1];
	int			bad = 0;

	if (sl_merkle_verify_inclusion(&H, index + 1, size, leaf, (const uint8_t (*)[32]) proof, n, root) == NULL)
		bad++;
	if (index > 0 && sl_merkle_verify_inclusion(&H, index - 1, size, leaf, (const uint8_t (*)[32]) proof, n, root) == NULL)
		bad++;
	if (sl_merkle_verify_inclusion(&H, index, size * 2, leaf, (const uint8_t (*)[32]) proof, n, root) == NULL)
		bad++;
	if (sl_merkle_verify_inclusion(&H, index, size / 2, leaf, (const uint8_t (*)[32]) proof, n, root) == NULL)
		bad++;
	for (int i = 0; i < n; i++)
	{
		memcpy(p, proof, sizeof(Hash) * n);
		p[i][i % SL_DIGEST_LEN] ^= 1 << (i % 8);
		if (sl_merkle_verify_inclusion(&H, index, size, leaf, (const uint8_t (*)[32]) p, n, root) == NULL)
			bad++;
		/* element i removed */
		memcpy(p, proof, sizeof(Hash) * n);
		memmove(p[i], p[i + 1], sizeof(Hash) * (n - i - 1));
		if (sl_merkle_verify_inclusion(&H, index, size, leaf, (const uint8_t (*)[32]) p, n - 1, root) == NULL)
			bad++;
	}
	/* an element added at the end and at the front */
	memcpy(p, proof, sizeof(Hash) * n);
	memcpy(p[n], leaf, SL_DIGEST_LEN);
	if (sl_merkle_verify_inclusion(&H, index, size, leaf, (const uint8_t (*)[32]) p, n + 1, root) == NULL)
		bad++;
	memcpy(p[0], root, SL_DIGEST_LEN);
	memcpy(p[1], proof, sizeof(Hash) * n);
	if (sl_merkle_verify_inclusion(&H, index, size, leaf, (const uint8_t (*)[32]) p, n + 1, root) == NULL)
		bad++;
	/* a wrong leaf and a wrong root */
	{
		Hash		x;

		memcpy(x, leaf, SL_DIGEST_LEN);
		x[0] ^= 0x80;
		if (sl_merkle_verify_inclusion(&H, index, size, x, (const uint8_t (*)[32]) proof, n, root) == NULL)
			bad++;
		memcpy(x, root, SL_DIGEST_LEN);
		x[31] ^= 0x01;
		if (sl_merkle_verify_inclusion(&H, index, size, leaf, (const uint8_t (*)[32]) proof, n, x) == NULL)
			bad++;
	}
	return bad == 0;
}

static int
ConsistencyProbesRejected(uint64_t m, uint64_t n, const uint8_t *r1, const uint8_t *r2, Hash *proof, int c)
{
	Hash		p[SL_MERKLE_MAX_PROOF + 1];
	int			bad = 0;

	if (sl_merkle_verify_consistency(&H, m + 1, n, r1, r2, (const uint8_t (*)[32]) proof, c) == NULL)
		bad++;
	if (m > 1 && sl_merkle_verify_consistency(&H, m - 1, n, r1, r2, (const uint8_t (*)[32]) proof, c) == NULL)
		bad++;
	if (sl_merkle_verify_consistency(&H, m, n * 2, r1, r2, (const uint8_t (*)[32]) proof, c) == NULL)
		bad++;
	if (sl_merkle_verify_consistency(&H, m, n / 2, r1, r2, (const uint8_t (*)[32]) proof, c) == NULL)
		bad++;
	if (sl_merkle_verify_consistency(&H, m, n, r2, r1, (const uint8_t (*)[32]) proof, c) == NULL)
		bad++;
	for (int i = 0; i < c; i++)
	{
		memcpy(p, proof, sizeof(Hash) * c);
		p[i][(i * 7) % SL_DIGEST_LEN] ^= 1 << (i % 8);
		if (sl_merkle_verify_consistency(&H, m, n, r1, r2, (const uint8_t (*)[32]) p, c) == NULL)
			bad++;
		memcpy(p, proof, sizeof(Hash) * c);
		memmove(p[i], p[i + 1], sizeof(Hash) * (c - i - 1));
		if (sl_merkle_verify_consistency(&H, m, n, r1, r2, (const uint8_t (*)[32]) p, c - 1) == NULL)
			bad++;
	}
	memcpy(p, proof, sizeof(Hash) * c);
	memcpy(p[c], r1, SL_DIGEST_LEN);
	if (sl_merkle_verify_consistency(&H, m, n, r1, r2, (const uint8_t (*)[32]) p, c + 1) == NULL)
		bad++;
	memcpy(p[0], r2, SL_DIGEST_LEN);
	memcpy(p[1], proof, sizeof(Hash) * c);
	if (sl_merkle_verify_consistency(&H, m, n, r1, r2, (const uint8_t (*)[32]) p, c + 1) == NULL)
		bad++;
	return bad == 0;
}

int
main(void)
{
	Mem			mem;
	Hash		got,
				want;
	SlFrontier	f;
	int			nvec_leaves = (int) (sizeof(V_LEAVES) / sizeof(V_LEAVES[0]));

	H.ctx = sl_digest_new();
	H.alg = SL_DIGEST_SHA256;

	/* the hashers of RFC 6962 (domain bytes 0x00 and 0x01) */
	sl_merkle_leaf(&H, "L123456", 7, got);
	Unhex32(V_LEAF_CHECK, want);
	CHECK(memcmp(got, want, 32) == 0, "leaf hash H(0x00 || data)");
	{
		/* the check vector hashes the raw strings "N123" and "N456", not digests */
		uint8_t		buf[9] = {0x01, 'N', '1', '2', '3', 'N', '4', '5', '6'};

		sl_digest(SL_DIGEST_SHA256, buf, sizeof(buf), got);
		Unhex32(V_NODE_CHECK, want);
		CHECK(memcmp(got, want, 32) == 0, "node hash H(0x01 || left || right)");
	}

	/* roots of 0..8 leaves, built incrementally through the frontier */
	sl_frontier_init(&f);
	mem.n = 0;
	for (int n = 0; n <= nvec_leaves; n++)
	{
		sl_frontier_root(&f, &H, got);
		Unhex32(V_ROOTS[n], want);
		CHECK(memcmp(got, want, 32) == 0, "root of %d leaves", n);
		if (n < nvec_leaves)
		{
			uint8_t		data[64];
			size_t		len = strlen(V_LEAVES[n]) / 2;

			sl_unhex(V_LEAVES[n], 2 * len, data, len);
			sl_merkle_leaf(&H, data, len, mem.leaf[n]);
			mem.n = n + 1;
			sl_frontier_append(&f, &H, mem.leaf[n], NULL, NULL);
		}
	}

	/* every published inclusion proof: accepted, regenerated identically, probes rejected */
	for (size_t v = 0; v < sizeof(V_INCL) / sizeof(V_INCL[0]); v++)
	{
		const VIncl *t = &V_INCL[v];
		Hash		proof[SL_MERKLE_MAX_PROOF + 1],
					gen[SL_MERKLE_MAX_PROOF],
					leaf,
					root;
		int			count;
		Mem			sub = mem;

		Unhex32(t->leaf, leaf);
		Unhex32(t->root, root);
		for (int i = 0; i < t->n; i++)
			Unhex32(t->path[i], proof[i]);
		CHECK(sl_merkle_verify_inclusion(&H, t->index, t->size, leaf, (const uint8_t (*)[32]) proof, t->n, root) == NULL,
			  "inclusion of leaf %llu in tree %llu verifies", t->index, t->size);
		sub.n = t->size;
		CHECK(sl_merkle_inclusion_proof(&H, MemNode, &sub, t->index, t->size, gen, &count) == 0 &&
			  count == t->n && memcmp(gen, proof, sizeof(Hash) * count) == 0,
			  "inclusion proof %llu/%llu regenerated as published", t->index, t->size);
		CHECK(InclusionProbesRejected(t->index, t->size, leaf, proof, t->n, root),
			  "inclusion %llu/%llu: index +-1, size *2 and /2, flipped bits, removed/added elements rejected",
			  t->index, t->size);
	}

	for (size_t v = 0; v < sizeof(V_CONS) / sizeof(V_CONS[0]); v++)
	{
		const VCons *t = &V_CONS[v];
		Hash		proof[SL_MERKLE_MAX_PROOF + 1],
					gen[SL_MERKLE_MAX_PROOF],
					r1,
					r2;
		int			count;
		Mem			sub = mem;

		Unhex32(t->old_root, r1);
		Unhex32(t->new_root, r2);
		for (int i = 0; i < t->count; i++)
			Unhex32(t->proof[i], proof[i]);
		CHECK(sl_merkle_verify_consistency(&H, t->m, t->n, r1, r2, (const uint8_t (*)[32]) proof, t->count) == NULL,
			  "consistency %llu -> %llu verifies", t->m, t->n);
		sub.n = t->n;
		CHECK(sl_merkle_consistency_proof(&H, MemNode, &sub, t->m, t->n, gen, &count) == 0 &&
			  count == t->count && memcmp(gen, proof, sizeof(Hash) * count) == 0,
			  "consistency proof %llu -> %llu regenerated as published", t->m, t->n);
		CHECK(ConsistencyProbesRejected(t->m, t->n, r1, r2, proof, t->count),
			  "consistency %llu -> %llu: sizes +-1, *2, /2, swapped roots, flipped bits, removed/added elements rejected",
			  t->m, t->n);
	}

	/* Every tree up to MAXLEAVES leaves: the frontier's emitted subtrees are right,
	 * every inclusion and consistency proof verifies and survives no corruption. */
	{
		Mem			big;
		Hash		roots[MAXLEAVES + 1];
		int			incl_ok = 1,
					cons_ok = 1,
					emit_ok = 1,
					probes_ok = 1;

		for (int i = 0; i < MAXLEAVES; i++)
		{
			uint8_t		d[4] = {(uint8_t) i, 0xAB, (uint8_t) (i * 3), 0x5C};

			sl_merkle_leaf(&H, d, sizeof(d), big.leaf[i]);
		}
		big.n = MAXLEAVES;
		sl_frontier_init(&f);
		sl_frontier_root(&f, &H, roots[0]);
		for (int i = 0; i < MAXLEAVES; i++)
		{
			if (sl_frontier_append(&f, &H, big.leaf[i], CheckEmit, &big) != 0)
				emit_ok = 0;
			sl_frontier_root(&f, &H, roots[i + 1]);
		}
		CHECK(emit_ok, "every completed subtree the frontier emits equals the directly computed one");
		{
			Mem			sub = big;
			Hash		whole;

			sub.n = MAXLEAVES;
			sl_merkle_range(&H, MemNode, &sub, 0, MAXLEAVES, whole);
			CHECK(memcmp(whole, roots[MAXLEAVES], 32) == 0, "frontier root equals MTH of %d leaves", MAXLEAVES);
		}
		for (uint64_t n = 1; n <= MAXLEAVES; n++)
		{
			Mem			sub = big;

			sub.n = n;
			for (uint64_t i = 0; i < n; i++)
			{
				Hash		p[SL_MERKLE_MAX_PROOF + 1];
				int			c;

				if (sl_merkle_inclusion_proof(&H, MemNode, &sub, i, n, p, &c) != 0 ||
					sl_merkle_verify_inclusion(&H, i, n, big.leaf[i], (const uint8_t (*)[32]) p, c, roots[n]) != NULL)
					incl_ok = 0;
				else if (n % 7 == 0 && !InclusionProbesRejected(i, n, big.leaf[i], p, c, roots[n]))
					probes_ok = 0;
			}
			for (uint64_t m = 1; m <= n; m++)
			{
				Hash		p[SL_MERKLE_MAX_PROOF + 1];
				int			c;

				if (sl_merkle_consistency_proof(&H, MemNode, &sub, m, n, p, &c) != 0 ||
					sl_merkle_verify_consistency(&H, m, n, roots[m], roots[n], (const uint8_t (*)[32]) p, c) != NULL)
					cons_ok = 0;
				else if (m < n && n % 5 == 0 && !ConsistencyProbesRejected(m, n, roots[m], roots[n], p, c))
					probes_ok = 0;
			}
		}
		CHECK(incl_ok, "every inclusion proof of every tree of 1..%d leaves verifies", MAXLEAVES);
		CHECK(cons_ok, "every consistency proof between trees of 1..%d leaves verifies", MAXLEAVES);
		CHECK(probes_ok, "corruption probes rejected on larger trees");
		CHECK(sl_merkle_verify_consistency(&H, 0, 5, roots[0], roots[5], NULL, 0) == NULL,
			  "the empty tree is consistent with any tree (empty proof)");
		CHECK(sl_merkle_verify_consistency(&H, 5, 5, roots[5], roots[4], NULL, 0) != NULL,
			  "equal sizes with different roots are inconsistent");
		CHECK(sl_merkle_verify_consistency(&H, 6, 5, roots[6], roots[5], NULL, 0) != NULL,
			  "a shrinking tree is inconsistent");
	}

	/* frontier load: count must match popcount(size) */
	{
		uint8_t		bytes[3 * 32] = {0};
		SlFrontier	g;

		CHECK(sl_frontier_load(&g, 7, bytes, 96) == 0 && sl_frontier_load(&g, 8, bytes, 96) != 0,
			  "a stored frontier must have one hash per set bit of the size");
	}

	/* canonical numbers */
	{
		static const char *good[] = {"0", "1", "-1", "1.5", "-0.25", "123456789012345678901234567890", "0.001"};
		static const char *bad[] = {"", "-", "-0", "01", "1.", "1.50", ".5", "1e3", "+1", "0.0", "1.0"};
		int			ok = 1;

		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
			ok &= sl_canon_number_ok(good[i], strlen(good[i]));
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ok &= !sl_canon_number_ok(bad[i], strlen(bad[i]));
		CHECK(ok, "canonical decimal numbers accepted, every other spelling refused");
	}

	sl_digest_free(H.ctx);
	return UNIT_DONE();
}
