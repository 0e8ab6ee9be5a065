/*
 * signed_export.c — shilian-verify's check of an export against the signed
 * checkpoint it carries (docs/ledger-format.md#signed-checkpoints): the
 * platform's signature and the witnesses' cosignatures, consistency of the
 * export's tree head with the signed one, and the heads commitment that
 * says which entry is the operator's last in the signed tree, so that an
 * export cut short (its checkpointed_head rewritten too) is refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "note.h"
#include "verify.h"

static void
PutI64(uint8_t *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) ((uint64_t) v >> (56 - 8 * i));
}

int
HeadDigest(SlDigestAlg alg, int64_t seq, int64_t leaf, const uint8_t *hash, uint8_t *out)
{
	uint8_t		buf[16 + SL_DIGEST_LEN];

	PutI64(buf, seq);
	PutI64(buf + 8, leaf);
	memcpy(buf + 16, hash, SL_DIGEST_LEN);
	return sl_digest(alg, buf, sizeof(buf), out);
}

typedef struct HeadProof
{
	int64_t		index,
				op,
				seq,
				leaf;
	uint8_t		hash[SL_DIGEST_LEN];
	uint8_t		digest[SL_DIGEST_LEN];
} HeadProof;

void
CheckSigned(const SignedCheck *sc, json_t *line, const char *log_vkey, const char *const *witness_vkeys,
			int nwitness, const Head *entries, size_t nentries, char *msg, size_t msgcap)
{
	SlNoteKey	key;
	SlNote		note;
	SlCheckpoint ck;
	const char *why;
	const char *text;
	int			r;
	json_t	   *heads,
			   *v;
	size_t		i;
	int64_t		heads_size;
	HeadProof	hp[2];
	int			nhp = 0;
	SlHasher	h = {sc->ctx, sc->alg};
	const HeadProof *own = NULL;

	if (line == NULL)
		Fail("the export carries no signed checkpoint (run the signing job, docs/ledger-format.md)");
	text = json_string_value(json_object_get(line, "note"));
	if (text == NULL)
		Fail("malformed signed_checkpoint line");
	if ((why = sl_note_vkey_parse(log_vkey, &key)) != NULL)
		Fail("usage: --key: %s", why);
	if ((why = sl_note_parse(text, strlen(text), &note)) != NULL)
		Fail("the signed checkpoint is not a signed note: %s", why);
	r = sl_note_verify(&note, &key, NULL);
	if (r == 0)
		Fail("the checkpoint is not signed by %s (key id %08" PRIx32 ")", key.name, key.id);
	if (r < 0)
		Fail("the signature of %s on the checkpoint does not verify", key.name);
	if ((why = sl_checkpoint_parse(note.text, note.textlen, &ck)) != NULL)
		Fail("the signed note is not a checkpoint: %s", why);
	if (!ck.has_heads)
		Fail("the signed checkpoint has no heads line");
	for (int w = 0; w < nwitness; w++)
	{
		SlNoteKey	wk;

		if ((why = sl_note_vkey_parse(witness_vkeys[w], &wk)) != NULL)
			Fail("usage: --witness: %s", why);
		r = sl_note_verify(&note, &wk, NULL);
		if (r <= 0)
			Fail("the checkpoint of size %" PRIu64 " is %s by witness %s", ck.size,
				 r == 0 ? "not cosigned" : "wrongly cosigned", wk.name);
		sl_note_key_free(&wk);
	}
	if (!sc->have_ck)
		Fail("the export has a signed checkpoint but no tree head");
	if (ck.alg != sc->alg)
		Fail("the signed checkpoint's hash algorithm is not the export's");
	if ((int64_t) ck.size > sc->tree_size)
		Fail("the signed checkpoint (size %" PRIu64 ") is beyond the export's tree head (size %" PRId64 ")",
			 ck.size, sc->tree_size);
	if ((int64_t) ck.size == sc->tree_size || ck.size == 0)
		why = sl_merkle_verify_consistency(&h, ck.size, (uint64_t) sc->tree_size, ck.root, sc->root, NULL, 0);
	else
	{
		uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
		int			count;
		char		k[24];

		snprintf(k, sizeof(k), "%" PRIu64, ck.size);
		if (GetPath(json_object_get(sc->cons, k), proof, &count) != 0)
			Fail("the export has no consistency proof from the signed tree size %" PRIu64, ck.size);
		why = sl_merkle_verify_consistency(&h, ck.size, (uint64_t) sc->tree_size, ck.root, sc->root,
										   (const uint8_t (*)[SL_DIGEST_LEN]) proof, count);
	}
	if (why != NULL)
		Fail("the export's tree %" PRId64 " is not consistent with the signed checkpoint of size %" PRIu64 ": %s",
			 sc->tree_size, ck.size, why);

	/* the heads commitment: the operator's record, or its two neighbours */
	heads = json_object_get(line, "heads");
	if (GetI64(line, "heads_size", &heads_size, 0, NULL) != 0 || heads_size < 0 || !json_is_array(heads) ||
		json_array_size(heads) > 2)
		Fail("malformed heads proof in the signed_checkpoint line");
	json_array_foreach(heads, i, v)
	{
		uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
		uint8_t		rec[8 + SL_DIGEST_LEN],
					leaf[SL_DIGEST_LEN];
		int			count;

		if (GetI64(v, "index", &hp[i].index, 0, NULL) || GetI64(v, "operator_id", &hp[i].op, 0, NULL) ||
			GetPath(json_object_get(v, "path"), proof, &count) || hp[i].index < 0 || hp[i].index >= heads_size)
			Fail("malformed heads proof in the signed_checkpoint line");
		if (hp[i].op == sc->operator_id)
		{
			/* the operator's own head: its digest is recomputed from the fields */
			if (GetI64(v, "seq", &hp[i].seq, 0, NULL) || GetI64(v, "leaf_index", &hp[i].leaf, 0, NULL) ||
				GetHash(v, "entry_hash", hp[i].hash) ||
				HeadDigest(sc->alg, hp[i].seq, hp[i].leaf, hp[i].hash, hp[i].digest) != 0)
				Fail("malformed heads proof in the signed_checkpoint line");
		}
		else if (GetHash(v, "head_digest", hp[i].digest))
			Fail("malformed heads proof in the signed_checkpoint line");
		PutI64(rec, hp[i].op);
		memcpy(rec + 8, hp[i].digest, SL_DIGEST_LEN);
		if (sl_merkle_leaf(&h, rec, sizeof(rec), leaf) != 0)
			Fail("hashing failed");
		why = sl_merkle_verify_inclusion(&h, (uint64_t) hp[i].index, (uint64_t) heads_size, leaf,
										 (const uint8_t (*)[SL_DIGEST_LEN]) proof, count, ck.heads);
		if (why != NULL)
			Fail("the heads proof for operator %" PRId64 " does not lead to the signed heads root: %s",
				 hp[i].op, why);
		if (hp[i].op == sc->operator_id)
			own = &hp[i];
		nhp++;
	}
	if (own != NULL)
	{
		const Head *e;

		if (own->seq < 1)
			Fail("malformed heads proof in the signed_checkpoint line");
		if (own->seq > (int64_t) nentries)
			Fail("operator %" PRId64 ": the signed checkpoint of size %" PRIu64 " holds seq %" PRId64
				 " but the chain ends at seq %zu: its tail was removed",
				 sc->operator_id, ck.size, own->seq, nentries);
		e = &entries[own->seq - 1];
		if (memcmp(e->hash, own->hash, SL_DIGEST_LEN) != 0 || !e->has_leaf ||
			e->leaf_index != own->leaf)
			Fail("operator %" PRId64 " seq %" PRId64 ": differs from the entry the signed checkpoint holds",
				 sc->operator_id, own->seq);
		for (size_t k = (size_t) own->seq; k < nentries; k++)
			if (entries[k].has_leaf && entries[k].leaf_index < (int64_t) ck.size)
				Fail("operator %" PRId64 " seq %" PRId64 ": in the signed tree after the head it commits to",
					 sc->operator_id, entries[k].seq);
	}
	else
	{
		/* absent: neighbours around the operator id, or the empty list */
		int			ok;

		if (nhp == 0)
			ok = heads_size == 0;
		else if (nhp == 1)
			ok = (hp[0].index == 0 && hp[0].op > sc->operator_id) ||
				(hp[0].index == heads_size - 1 && hp[0].op < sc->operator_id);
		else
			ok = hp[1].index == hp[0].index + 1 && hp[0].op < sc->operator_id && hp[1].op > sc->operator_id;
		if (!ok)
			Fail("operator %" PRId64 ": the heads proof neither holds its head nor proves it absent",
				 sc->operator_id);
		for (size_t k = 0; k < nentries; k++)
			if (entries[k].has_leaf && entries[k].leaf_index < (int64_t) ck.size)
				Fail("operator %" PRId64 " seq %" PRId64 ": in the signed tree, which holds no entry of the operator",
					 sc->operator_id, entries[k].seq);
	}
	snprintf(msg, msgcap, ", signed checkpoint %" PRIu64 " by %s%s", ck.size, key.name,
			 nwitness > 0 ? " and its witnesses" : "");
	sl_note_key_free(&key);
	sl_note_free(&note);
}
