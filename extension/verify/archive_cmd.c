/*
 * archive_cmd.c — shilian-verify archive: prove the records of an archived
 * ledger month offline (docs/operations.md#archiving-a-ledger-month). The
 * file is what shilian.ledger_archive_export() wrote: a header, the
 * checkpoint (tree size, root, its signed note when signed) and one line per
 * entry with its leaf index and inclusion proof. Checked here: every entry's
 * hash recomputed from its canonical body and fields (the code the export
 * check uses), each chain's entries of the month one unbroken stretch linked
 * by prev_hash, every entry included in the checkpoint's tree, the header's
 * figures, and with --key the note's signature over that same tree head.
 *
 *   shilian-verify archive [--key VKEY] ARCHIVE.jsonl [ENTRY_ID]
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "digest.h"
#include "merkle.h"
#include "note.h"
#include "verify.h"

typedef struct Link
{
	int64_t		operator_id,
				seq;
	uint8_t		hash[SL_DIGEST_LEN];
} Link;

static void *
Grow(void *old, size_t newcap)
{
	return realloc(old, newcap);
}

static int
LinkCmp(const void *a, const void *b)
{
	const Link *x = a,
			   *y = b;

	if (x->operator_id != y->operator_id)
		return x->operator_id < y->operator_id ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
CmdArchive(int argc, char **argv)
{
	const char *path = NULL;
	const char *vkey = NULL;
	int64_t		want = -1;
	char	   *buf,
			   *p;
	size_t		len;
	long		lineno = 0;
	int			have_header = 0,
				have_ck = 0,
				found_want = 0;
	int64_t		h_entries = 0,
				h_first = 0,
				h_last = 0,
				h_tree = 0,
				tree_size = 0;
	int64_t		first_id = INT64_MAX,
				last_id = INT64_MIN;
	char		month[16] = "";
	uint8_t		root[SL_DIGEST_LEN],
				filedigest[SL_DIGEST_LEN];
	SlDigestAlg tree_alg = SL_DIGEST_INVALID;
	char	   *note = NULL;
	Link	   *links = NULL;
	size_t		nlinks = 0,
				linkcap = 0;
	Link	   *prevs = NULL;	/* the stored prev_hash of each entry, same order */
	SlDigestCtx *ctx = sl_digest_new();
	SlBuf		scratch;
	size_t		chains = 0;
	char		signed_msg[300] = "";

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			vkey = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			Fail("usage: archive [--key VKEY] ARCHIVE.jsonl [ENTRY_ID]");
		else if (path == NULL)
			path = argv[i];
		else if (want < 0)
		{
			char	   *end;

			errno = 0;
			want = strtoll(argv[i], &end, 10);
			if (errno != 0 || *end != '\0' || want < 1)
				Fail("usage: ENTRY_ID is a ledger entry id");
		}
		else
			Fail("usage: archive [--key VKEY] ARCHIVE.jsonl [ENTRY_ID]");
	}
	if (path == NULL)
		Fail("usage: archive [--key VKEY] ARCHIVE.jsonl [ENTRY_ID]");
	if (ctx == NULL)
		Fail("cannot create a digest context");
	buf = ReadAll(path, &len);
	if (buf == NULL)
		Fail("cannot read %s: %s", path, strerror(errno));
	/* the file's SHA-256, as ledger_archive() wants it */
	if (sl_digest(SL_DIGEST_SHA256, buf, len, filedigest) != 0)
		Fail("hashing failed");
	sl_buf_init(&scratch, Grow);

	for (p = buf; *p != '\0';)
	{
		char	   *nl = strchr(p, '\n');
		size_t		ll = nl ? (size_t) (nl - p) : strlen(p);
		json_error_t err;
		json_t	   *o;
		const char *type;

		lineno++;
		if (ll == 0)
		{
			p += nl ? 1 : 0;
			if (nl == NULL)
				break;
			continue;
		}
		o = json_loadb(p, ll, JSON_REJECT_DUPLICATES, &err);
		p += ll + (nl ? 1 : 0);
		if (o == NULL || !json_is_object(o))
			Fail("line %ld is not a JSON object: %s", lineno, o ? "" : err.text);
		type = json_string_value(json_object_get(o, "type"));
		if (type == NULL)
			Fail("line %ld has no type", lineno);
		if (strcmp(type, "header") == 0)
		{
			const char *fmt = json_string_value(json_object_get(o, "format"));
			const char *m = json_string_value(json_object_get(o, "month"));
			int			n1,
						n2;

			if (have_header || lineno != 1)
				Fail("line %ld: a header that is not the first line", lineno);
			if (fmt == NULL || strcmp(fmt, "shilian-ledger-archive/1") != 0)
				Fail("line %ld: not a ledger archive (format %s)", lineno, fmt ? fmt : "missing");
			if (m == NULL || strlen(m) >= sizeof(month) ||
				GetI64(o, "entries", &h_entries, 0, NULL) || GetI64(o, "tree_size", &h_tree, 0, NULL) ||
				GetI64(o, "first_entry_id", &h_first, 1, &n1) || GetI64(o, "last_entry_id", &h_last, 1, &n2))
				Fail("line %ld: malformed header", lineno);
			strcpy(month, m);
			have_header = 1;
		}
		else if (strcmp(type, "checkpoint") == 0)
		{
			const char *alg = json_string_value(json_object_get(o, "alg"));
			json_t	   *n = json_object_get(o, "note");

			if (!have_header || have_ck)
				Fail("line %ld: a checkpoint out of place", lineno);
			if (GetI64(o, "tree_size", &tree_size, 0, NULL) || GetHash(o, "root", root) || alg == NULL ||
				(tree_alg = sl_digest_from_name(alg)) == SL_DIGEST_INVALID || (n != NULL && !json_is_null(n) && !json_is_string(n)))
				Fail("line %ld: malformed checkpoint", lineno);
			if (tree_size != h_tree)
				Fail("the checkpoint is of tree %" PRId64 ", the header names tree %" PRId64, tree_size, h_tree);
			if (json_is_string(n))
				note = strdup(json_string_value(n));
			have_ck = 1;
		}
		else if (strcmp(type, "entry") == 0)
		{
			SlEntry		e;
			SlHasher	h = {ctx, tree_alg};
			Link		x;
			uint8_t		stored_prev[SL_DIGEST_LEN],
						stored[SL_DIGEST_LEN],
						leaf[SL_DIGEST_LEN];
			uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
			int			count;
			int64_t		id,
						sup,
						leaf_index;
			int			supnull;
			const char *alg = json_string_value(json_object_get(o, "alg"));
			json_t	   *kind = json_object_get(o, "kind");
			json_t	   *body = json_object_get(o, "body_canonical");
			uint8_t    *bodybytes;
			size_t		bodylen;
			const char *why;

			if (!have_ck)
				Fail("line %ld: an entry before the checkpoint", lineno);
			if (GetI64(o, "id", &id, 0, NULL) || GetI64(o, "operator_id", &x.operator_id, 0, NULL) ||
				GetI64(o, "seq", &x.seq, 0, NULL) || GetI64(o, "recorded_at_us", &e.recorded_at, 0, NULL) ||
				GetI64(o, "supersedes", &sup, 1, &supnull) || GetI64(o, "leaf_index", &leaf_index, 0, NULL) ||
				GetHash(o, "prev_hash", stored_prev) || GetHash(o, "hash", stored) ||
				!json_is_string(kind) || !json_is_string(body) || alg == NULL ||
				GetPath(json_object_get(o, "inclusion"), proof, &count) != 0)
				Fail("line %ld: entry lacks a field or has a malformed one", lineno);
			bodylen = json_string_length(body) / 2;
			bodybytes = malloc(bodylen + 1);
			if (bodybytes == NULL ||
				sl_unhex(json_string_value(body), json_string_length(body), bodybytes, bodylen) != 0)
				Fail("entry %" PRId64 ": body_canonical is not hex", id);
			if ((why = sl_canon_validate(bodybytes, bodylen)) != NULL)
				Fail("entry %" PRId64 ": body is not canonical: %s", id, why);
			e.id = id;
			e.operator_id = x.operator_id;
			e.seq = x.seq;
			e.alg = (uint8_t) sl_digest_from_name(alg);
			if (e.alg == SL_DIGEST_INVALID)
				Fail("entry %" PRId64 ": unknown hash algorithm %s", id, alg);
			e.kind = json_string_value(kind);
			e.kind_len = json_string_length(kind);
			e.supersedes = supnull ? 0 : sup;
			e.body = bodybytes;
			e.body_len = bodylen;
			e.prev_hash = stored_prev;
			if (sl_entry_hash(ctx, &scratch, &e, x.hash) != 0)
				Fail("hashing failed (is the SM3 provider available?)");
			free(bodybytes);
			if (memcmp(x.hash, stored, SL_DIGEST_LEN) != 0)
				Fail("entry %" PRId64 " (operator %" PRId64 " seq %" PRId64 "): hash does not match its fields",
					 id, x.operator_id, x.seq);
			if (leaf_index < 0 || leaf_index >= tree_size)
				Fail("entry %" PRId64 ": leaf %" PRId64 " is outside tree %" PRId64, id, leaf_index, tree_size);
			if (sl_merkle_leaf(&h, x.hash, SL_DIGEST_LEN, leaf) != 0)
				Fail("hashing failed");
			why = sl_merkle_verify_inclusion(&h, (uint64_t) leaf_index, (uint64_t) tree_size, leaf,
											 (const uint8_t (*)[SL_DIGEST_LEN]) proof, count, root);
			if (why != NULL)
				Fail("entry %" PRId64 " (operator %" PRId64 " seq %" PRId64 ", leaf %" PRId64 "): not included in tree %" PRId64 ": %s",
					 id, x.operator_id, x.seq, leaf_index, tree_size, why);
			if (id < first_id)
				first_id = id;
			if (id > last_id)
				last_id = id;
			if (nlinks == linkcap)
			{
				linkcap = linkcap ? 2 * linkcap : 256;
				links = realloc(links, linkcap * sizeof(Link));
				prevs = realloc(prevs, linkcap * sizeof(Link));
				if (links == NULL || prevs == NULL)
					Fail("out of memory");
			}
			links[nlinks] = x;
			prevs[nlinks] = x;
			memcpy(prevs[nlinks].hash, stored_prev, SL_DIGEST_LEN);
			nlinks++;
			if (id == want)
			{
				found_want = 1;
				printf("entry %" PRId64 ": operator %" PRId64 " seq %" PRId64 ", %s, recorded at %s, hash %s: "
					   "hash recomputed, leaf %" PRId64 " included in tree %" PRId64 "\n",
					   id, x.operator_id, x.seq, e.kind,
					   json_string_value(json_object_get(o, "recorded_at")) ? json_string_value(json_object_get(o, "recorded_at")) : "?",
					   json_string_value(json_object_get(o, "hash")), leaf_index, tree_size);
			}
		}
		else
			Fail("line %ld: unknown line type \"%s\"", lineno, type);
		json_decref(o);
	}
	if (!have_header || !have_ck)
		Fail("%s: not a ledger archive (no header or no checkpoint line)", path);
	if ((int64_t) nlinks != h_entries)
		Fail("the header counts %" PRId64 " entries, the file holds %zu", h_entries, nlinks);
	if (nlinks > 0 && (first_id != h_first || last_id != h_last))
		Fail("the header names entries %" PRId64 "..%" PRId64 ", the file holds %" PRId64 "..%" PRId64,
			 h_first, h_last, first_id, last_id);
	if (want > 0 && !found_want)
		Fail("entry %" PRId64 " is not in this archive", want);

	/*
	 * Each chain's entries of the month: consecutive seqs, each prev_hash the
	 * hash of the entry before (the first one links to the month before,
	 * which its own archive or the database holds).
	 */
	{
		/* sort both arrays the same way: prevs carries the same keys */
		qsort(links, nlinks, sizeof(Link), LinkCmp);
		qsort(prevs, nlinks, sizeof(Link), LinkCmp);
		for (size_t i = 0; i < nlinks; i++)
		{
			if (i == 0 || links[i].operator_id != links[i - 1].operator_id)
			{
				chains++;
				continue;
			}
			if (links[i].seq == links[i - 1].seq)
				Fail("operator %" PRId64 " seq %" PRId64 " appears more than once", links[i].operator_id, links[i].seq);
			if (links[i].seq != links[i - 1].seq + 1)
				Fail("operator %" PRId64 ": seq %" PRId64 " follows seq %" PRId64 " (a gap in the month's stretch)",
					 links[i].operator_id, links[i].seq, links[i - 1].seq);
			if (memcmp(prevs[i].hash, links[i - 1].hash, SL_DIGEST_LEN) != 0)
				Fail("operator %" PRId64 " seq %" PRId64 ": prev_hash is not the hash of seq %" PRId64,
					 links[i].operator_id, links[i].seq, links[i - 1].seq);
		}
	}

	/* the signed note: by the log's key, over this very tree head */
	if (vkey != NULL)
	{
		SlNoteKey	k;
		SlNote		n;
		SlCheckpoint ck;
		const char *why;
		int			r;

		if (note == NULL)
			Fail("--key given but the archive's checkpoint (tree %" PRId64 ") carries no signed note", tree_size);
		if ((why = sl_note_vkey_parse(vkey, &k)) != NULL)
			Fail("usage: --key: %s", why);
		if ((why = sl_note_parse(note, strlen(note), &n)) != NULL)
			Fail("the archive's note is not a signed note: %s", why);
		r = sl_note_verify(&n, &k, NULL);
		if (r <= 0)
			Fail("the archive's checkpoint is %s by %s", r == 0 ? "not signed" : "wrongly signed", k.name);
		if ((why = sl_checkpoint_parse(n.text, n.textlen, &ck)) != NULL)
			Fail("the archive's note is not a checkpoint: %s", why);
		if ((int64_t) ck.size != tree_size || memcmp(ck.root, root, SL_DIGEST_LEN) != 0)
			Fail("the signed note is of another tree head (size %" PRIu64 ") than the archive's checkpoint (size %" PRId64 ")",
				 ck.size, tree_size);
		snprintf(signed_msg, sizeof(signed_msg), ", tree head signed by %s", k.name);
		sl_note_free(&n);
		sl_note_key_free(&k);
	}

	{
		char		hex[2 * SL_DIGEST_LEN + 1];

		for (int i = 0; i < SL_DIGEST_LEN; i++)
			sprintf(hex + 2 * i, "%02x", filedigest[i]);
		printf("OK: ledger month %s, %zu entries of %zu chains: hashes, links and inclusion in tree %" PRId64
			   " verified%s; tree_size %" PRId64 " sha256 %s\n",
			   month, nlinks, chains, tree_size, signed_msg, tree_size, hex);
	}
	free(links);
	free(prevs);
	free(note);
	free(buf);
	free(scratch.data);
	sl_digest_free(ctx);
	return 0;
}
