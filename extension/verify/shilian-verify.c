/*
 * shilian-verify — check a ledger export offline, without the database:
 * every entry's hash recomputed from its fields (docs/ledger-format.md), the
 * chain linear from the genesis value, every checkpointed entry included in
 * the exported tree head, and that head consistent with an earlier root the
 * auditor kept. Prints one line; exit status 0 (verified) or 1.
 *
 *   psql -Atc "select * from shilian.ledger_export(42)" > op42.jsonl
 *   shilian-verify [--old-size N --old-root HEX] op42.jsonl
 *
 * An archived ledger month (shilian.ledger_archive_export()) is checked by
 * the archive subcommand (archive_cmd.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "digest.h"
#include "merkle.h"
#include "note.h"
#include "verify.h"

void
Fail(const char *fmt, ...)
{
	va_list		ap;

	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	exit(1);
}

static void *
MallocGrow(void *old, size_t newcap)
{
	return realloc(old, newcap);
}

char *
ReadAll(const char *path, size_t *len)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char	   *buf = NULL;
	size_t		cap = 0,
				n = 0;

	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t		got;

		if (cap - n < 4096)
		{
			char	   *nb = realloc(buf, cap ? 2 * cap : 8192);

			if (nb == NULL)
			{
				free(buf);
				return NULL;
			}
			buf = nb;
			cap = cap ? 2 * cap : 8192;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* int64 fields travel as JSON strings (JavaScript readers lose precision past 2^53). */
int
GetI64(json_t *o, const char *key, int64_t *out, int nullable, int *isnull)
{
	json_t	   *v = json_object_get(o, key);
	const char *s;
	char	   *end;

	if (isnull)
		*isnull = 0;
	if (v == NULL || json_is_null(v))
	{
		if (nullable && isnull)
		{
			*isnull = 1;
			return 0;
		}
		return -1;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	return 0;
}

int
GetHash(json_t *o, const char *key, uint8_t *out)
{
	json_t	   *v = json_object_get(o, key);

	if (!json_is_string(v))
		return -1;
	return sl_unhex(json_string_value(v), json_string_length(v), out, SL_DIGEST_LEN);
}

int
GetPath(json_t *arr, uint8_t proof[][SL_DIGEST_LEN], int *count)
{
	size_t		i;
	json_t	   *v;

	if (!json_is_array(arr) || json_array_size(arr) > SL_MERKLE_MAX_PROOF)
		return -1;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v) || sl_unhex(json_string_value(v), json_string_length(v), proof[i], SL_DIGEST_LEN) != 0)
			return -1;
	}
	*count = (int) json_array_size(arr);
	return 0;
}

typedef struct Entry
{
	int64_t		id,
				seq,
				leaf_index;
	int			has_leaf;
	int			archived;		/* inside an archived stretch, before its last entry: no hash here */
	uint8_t		hash[SL_DIGEST_LEN];	/* recomputed */
	json_t	   *inclusion;
} Entry;

int
main(int argc, char **argv)
{
	const char *path = "-";
	int64_t		old_size = -1;
	const char *old_root_hex = NULL;
	uint8_t		old_root[SL_DIGEST_LEN];
	FILE	   *in;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		lineno = 0;
	int64_t		operator_id = 0;
	int			have_header = 0,
				have_ck = 0;
	int64_t		tree_size = 0;
	uint8_t		root[SL_DIGEST_LEN];
	SlDigestAlg tree_alg = SL_DIGEST_INVALID;
	uint8_t		prev[SL_DIGEST_LEN];
	int64_t		expect_seq = 1;
	Entry	   *entries = NULL;
	size_t		nentries = 0,
				entcap = 0;
	json_t	   *cons = NULL;
	json_t	   *ckhead = NULL;
	SlDigestCtx *ctx = sl_digest_new();
	SlBuf		scratch;
	size_t		in_tree = 0;
	int64_t		narchived = 0;
	const char *log_vkey = NULL;
	const char *witness_vkeys[16];
	int			nwitness = 0;
	json_t	   *cons_all = json_object();
	json_t	   *signedck = NULL;
	char		signed_msg[600] = "";
	char		archived_msg[64] = "";

	if (argc > 1 && strcmp(argv[1], "vkey") == 0)
		return CmdVkey(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "sign") == 0)
		return CmdSign(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "note") == 0)
		return CmdNote(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "witness") == 0)
		return CmdWitness(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "archive") == 0)
		return CmdArchive(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
			log_vkey = argv[++i];
		else if (strcmp(argv[i], "--witness") == 0 && i + 1 < argc)
		{
			if (nwitness == 16)
				Fail("usage: at most 16 --witness keys");
			witness_vkeys[nwitness++] = argv[++i];
		}
		else if (strcmp(argv[i], "--old-size") == 0 && i + 1 < argc)
		{
			char	   *end;

			old_size = strtoll(argv[++i], &end, 10);
			if (*end != '\0' || old_size < 0)
				Fail("usage: --old-size wants a tree size");
		}
		else if (strcmp(argv[i], "--old-root") == 0 && i + 1 < argc)
			old_root_hex = argv[++i];
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			printf("usage: shilian-verify [--key VKEY [--witness VKEY]...] [--old-size N --old-root HEX] [EXPORT.jsonl|-]\n"
				   "       shilian-verify vkey --key PRIVATE --name NAME [--cosign]\n"
				   "       shilian-verify sign --key PRIVATE --name NAME [--any-text] [CHECKPOINT|-]\n"
				   "       shilian-verify note --key VKEY [--key VKEY]... [NOTE|-]\n"
				   "       shilian-verify witness --key PRIVATE --name NAME --log-key VKEY --state FILE\n"
				   "                              [--proof CONSISTENCY.json] [NOTE|-]\n"
				   "       shilian-verify archive [--key VKEY] ARCHIVE.jsonl [ENTRY_ID]\n"
				   "(docs/ledger-format.md)\n");
			return 0;
		}
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			Fail("usage: unknown option %s (see --help)", argv[i]);
		else
			path = argv[i];
	}
	if (nwitness > 0 && log_vkey == NULL)
		Fail("usage: --witness needs the log's --key");
	if ((old_size >= 0) != (old_root_hex != NULL))
		Fail("usage: --old-size and --old-root go together");
	if (old_root_hex && sl_unhex(old_root_hex, strlen(old_root_hex), old_root, SL_DIGEST_LEN) != 0)
		Fail("usage: --old-root must be 64 hex digits");
	if (ctx == NULL)
		Fail("cannot create a digest context");
	sl_buf_init(&scratch, MallocGrow);

	in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (in == NULL)
		Fail("cannot open %s: %s", path, strerror(errno));
	memcpy(prev, sl_genesis_hash, SL_DIGEST_LEN);

	while ((len = getline(&line, &cap, in)) != -1)
	{
		json_error_t err;
		json_t	   *o;
		const char *type;

		lineno++;
		if (len <= 1)
			continue;
		o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
		if (o == NULL || !json_is_object(o))
			Fail("line %ld is not a JSON object: %s", lineno, o ? "" : err.text);
		type = json_string_value(json_object_get(o, "type"));
		if (type == NULL)
			Fail("line %ld has no type", lineno);

		if (strcmp(type, "header") == 0)
		{
			const char *fmt = json_string_value(json_object_get(o, "format"));

			if (fmt == NULL || strcmp(fmt, "shilian-ledger-export/1") != 0)
				Fail("line %ld: unknown export format", lineno);
			if (GetI64(o, "operator", &operator_id, 0, NULL) != 0)
				Fail("line %ld: header has no operator", lineno);
			have_header = 1;
			json_decref(o);
		}
		else if (strcmp(type, "entry") == 0)
		{
			SlEntry		e;
			Entry		x;
			uint8_t		stored_prev[SL_DIGEST_LEN],
						stored[SL_DIGEST_LEN];
			int64_t		op,
						sup;
			int			supnull,
						leafnull;
			const char *alg = json_string_value(json_object_get(o, "alg"));
			json_t	   *kind = json_object_get(o, "kind");
			json_t	   *body = json_object_get(o, "body_canonical");
			uint8_t    *bodybytes;
			size_t		bodylen;
			const char *why;

			if (!have_header)
				Fail("line %ld: entry before the header", lineno);
			memset(&x, 0, sizeof(x));
			if (GetI64(o, "id", &x.id, 0, NULL) || GetI64(o, "operator_id", &op, 0, NULL) ||
				GetI64(o, "seq", &x.seq, 0, NULL) || GetI64(o, "recorded_at_us", &e.recorded_at, 0, NULL) ||
				GetI64(o, "supersedes", &sup, 1, &supnull) || GetI64(o, "leaf_index", &x.leaf_index, 1, &leafnull) ||
				GetHash(o, "prev_hash", stored_prev) || GetHash(o, "hash", stored) ||
				!json_is_string(kind) || !json_is_string(body) || alg == NULL)
				Fail("line %ld: entry lacks a field or has a malformed one", lineno);
			if (op != operator_id)
				Fail("entry id %" PRId64 " belongs to operator %" PRId64 ", not %" PRId64, x.id, op, operator_id);
			if (x.seq != expect_seq)
				Fail("operator %" PRId64 " seq %" PRId64 ": expected seq %" PRId64 " (a gap or a reordering)",
					 operator_id, x.seq, expect_seq);
			if (memcmp(stored_prev, prev, SL_DIGEST_LEN) != 0)
				Fail("operator %" PRId64 " seq %" PRId64 ": prev_hash is not the hash of the entry before",
					 operator_id, x.seq);
			bodylen = json_string_length(body) / 2;
			bodybytes = malloc(bodylen + 1);
			if (bodybytes == NULL ||
				sl_unhex(json_string_value(body), json_string_length(body), bodybytes, bodylen) != 0)
				Fail("operator %" PRId64 " seq %" PRId64 ": body_canonical is not hex", operator_id, x.seq);
			if ((why = sl_canon_validate(bodybytes, bodylen)) != NULL)
				Fail("operator %" PRId64 " seq %" PRId64 ": body is not canonical: %s", operator_id, x.seq, why);
			e.id = x.id;
			e.operator_id = op;
			e.seq = x.seq;
			e.alg = (uint8_t) sl_digest_from_name(alg);
			if (e.alg == SL_DIGEST_INVALID)
				Fail("operator %" PRId64 " seq %" PRId64 ": unknown hash algorithm %s", operator_id, x.seq, alg);
			e.kind = json_string_value(kind);
			e.kind_len = json_string_length(kind);
			e.supersedes = supnull ? 0 : sup;
			e.body = bodybytes;
			e.body_len = bodylen;
			e.prev_hash = prev;
			if (sl_entry_hash(ctx, &scratch, &e, x.hash) != 0)
				Fail("hashing failed (is the SM3 provider available?)");
			free(bodybytes);
			if (memcmp(x.hash, stored, SL_DIGEST_LEN) != 0)
				Fail("operator %" PRId64 " seq %" PRId64 " (entry id %" PRId64 "): hash does not match its fields",
					 operator_id, x.seq, x.id);
			memcpy(prev, x.hash, SL_DIGEST_LEN);
			expect_seq++;
			x.has_leaf = !leafnull;
			if (x.has_leaf)
			{
				if (nentries > 0 && !entries[nentries - 1].has_leaf)
					Fail("operator %" PRId64 " seq %" PRId64 ": checkpointed after an entry that is not",
						 operator_id, x.seq);
				x.inclusion = json_incref(json_object_get(o, "inclusion"));
			}
			if (nentries == entcap)
			{
				entcap = entcap ? 2 * entcap : 64;
				entries = realloc(entries, entcap * sizeof(Entry));
				if (entries == NULL)
					Fail("out of memory");
			}
			entries[nentries++] = x;
			json_decref(o);
		}
		else if (strcmp(type, "archived") == 0)
		{
			/*
			 * a stretch of the chain whose month was archived (its own file
			 * proves each entry, shilian-verify archive): the chain goes on
			 * from the hash of its last entry, which the tree holds
			 */
			int64_t		first,
						last,
						leaf;
			uint8_t		lh[SL_DIGEST_LEN];

			if (!have_header)
				Fail("line %ld: an archived stretch before the header", lineno);
			if (GetI64(o, "first_seq", &first, 0, NULL) || GetI64(o, "last_seq", &last, 0, NULL) ||
				GetI64(o, "leaf_index", &leaf, 0, NULL) || GetHash(o, "last_hash", lh) || last < first)
				Fail("line %ld: malformed archived stretch", lineno);
			if (first != expect_seq)
				Fail("operator %" PRId64 ": the archived stretch seq %" PRId64 "..%" PRId64 " does not follow seq %" PRId64,
					 operator_id, first, last, expect_seq - 1);
			for (int64_t q = first; q <= last; q++)
			{
				Entry		x;

				memset(&x, 0, sizeof(x));
				x.seq = q;
				x.has_leaf = 1;
				x.leaf_index = leaf;
				x.archived = q < last;
				if (q == last)
				{
					memcpy(x.hash, lh, SL_DIGEST_LEN);
					x.inclusion = json_incref(json_object_get(o, "inclusion"));
				}
				if (nentries == entcap)
				{
					entcap = entcap ? 2 * entcap : 64;
					while (entcap < nentries + 1)
						entcap *= 2;
					entries = realloc(entries, entcap * sizeof(Entry));
					if (entries == NULL)
						Fail("out of memory");
				}
				entries[nentries++] = x;
			}
			memcpy(prev, lh, SL_DIGEST_LEN);
			expect_seq = last + 1;
			narchived += last - first + 1;
			json_decref(o);
		}
		else if (strcmp(type, "checkpoint") == 0)
		{
			const char *alg = json_string_value(json_object_get(o, "alg"));

			if (GetI64(o, "tree_size", &tree_size, 0, NULL) || GetHash(o, "root", root) || alg == NULL ||
				(tree_alg = sl_digest_from_name(alg)) == SL_DIGEST_INVALID)
				Fail("line %ld: malformed checkpoint", lineno);
			have_ck = 1;
			json_decref(o);
		}
		else if (strcmp(type, "signed_checkpoint") == 0)
		{
			json_decref(signedck);
			signedck = o;
		}
		else if (strcmp(type, "checkpointed_head") == 0)
		{
			json_decref(ckhead);
			ckhead = o;
		}
		else if (strcmp(type, "consistency") == 0)
		{
			int64_t		m;

			if (GetI64(o, "old_size", &m, 0, NULL))
				Fail("line %ld: malformed consistency proof", lineno);
			{
				char		k[24];

				snprintf(k, sizeof(k), "%" PRId64, m);
				json_object_set(cons_all, k, json_object_get(o, "path"));
			}
			if (old_size >= 0 && m == old_size)
			{
				json_decref(cons);
				cons = o;
			}
			else
				json_decref(o);
		}
		else
			Fail("line %ld: unknown line type \"%s\"", lineno, type);
	}
	free(line);
	if (in != stdin)
		fclose(in);
	if (!have_header)
		Fail("no header line: not a ledger export");

	/* inclusion of every checkpointed entry in the exported tree head */
	if (have_ck)
	{
		SlHasher	h = {ctx, tree_alg};

		for (size_t i = 0; i < nentries; i++)
		{
			uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
			uint8_t		leaf[SL_DIGEST_LEN];
			int			count;
			const char *why;

			if (!entries[i].has_leaf || entries[i].archived)
				continue;
			if (entries[i].leaf_index >= tree_size)
				continue;		/* placed after the exported head */
			if (GetPath(entries[i].inclusion, proof, &count) != 0)
				Fail("operator %" PRId64 " seq %" PRId64 ": malformed inclusion proof", operator_id, entries[i].seq);
			if (sl_merkle_leaf(&h, entries[i].hash, SL_DIGEST_LEN, leaf) != 0)
				Fail("hashing failed");
			why = sl_merkle_verify_inclusion(&h, (uint64_t) entries[i].leaf_index, (uint64_t) tree_size, leaf,
											 (const uint8_t (*)[SL_DIGEST_LEN]) proof, count, root);
			if (why != NULL)
				Fail("operator %" PRId64 " seq %" PRId64 " (leaf %" PRId64 "): not included in tree %" PRId64 ": %s",
					 operator_id, entries[i].seq, entries[i].leaf_index, tree_size, why);
			in_tree++;
		}
	}
	else if (nentries > 0 && entries[0].has_leaf)
		Fail("entries carry leaf indices but the export has no checkpoint");

	/*
	 * The chain must reach the last entry the tree holds for this operator:
	 * that entry's inclusion proves it was published, so an export that
	 * stops before it lost its tail.
	 */
	if (ckhead != NULL)
	{
		SlHasher	h = {ctx, tree_alg};
		int64_t		hseq,
					hleaf;
		uint8_t		hhash[SL_DIGEST_LEN],
					leaf[SL_DIGEST_LEN];
		uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
		int			count;
		const char *why;

		if (!have_ck || GetI64(ckhead, "seq", &hseq, 0, NULL) || GetI64(ckhead, "leaf_index", &hleaf, 0, NULL) ||
			GetHash(ckhead, "entry_hash", hhash) || GetPath(json_object_get(ckhead, "inclusion"), proof, &count))
			Fail("malformed checkpointed_head line");
		if (sl_merkle_leaf(&h, hhash, SL_DIGEST_LEN, leaf) != 0)
			Fail("hashing failed");
		why = sl_merkle_verify_inclusion(&h, (uint64_t) hleaf, (uint64_t) tree_size, leaf,
										 (const uint8_t (*)[SL_DIGEST_LEN]) proof, count, root);
		if (why != NULL)
			Fail("operator %" PRId64 ": the checkpointed head (seq %" PRId64 ") is not in tree %" PRId64 ": %s",
				 operator_id, hseq, tree_size, why);
		if (hseq > (int64_t) nentries)
			Fail("operator %" PRId64 ": tree %" PRId64 " holds seq %" PRId64 " (leaf %" PRId64
				 ") but the chain ends at seq %zu: its tail was removed",
				 operator_id, tree_size, hseq, hleaf, nentries);
		if (hseq < 1 || memcmp(entries[hseq - 1].hash, hhash, SL_DIGEST_LEN) != 0)
			Fail("operator %" PRId64 " seq %" PRId64 ": differs from the entry the tree holds at leaf %" PRId64,
				 operator_id, hseq, hleaf);
	}

	if (old_size >= 0)
	{
		SlHasher	h = {ctx, tree_alg};
		const char *why;

		if (!have_ck)
			Fail("no checkpoint in the export to compare with the old root");
		if (old_size > tree_size)
			Fail("the exported tree (size %" PRId64 ") is smaller than the old one (size %" PRId64 "): the log was truncated",
				 tree_size, old_size);
		if (old_size == tree_size || old_size == 0)
			why = sl_merkle_verify_consistency(&h, (uint64_t) old_size, (uint64_t) tree_size, old_root, root, NULL, 0);
		else
		{
			uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
			int			count;

			if (cons == NULL)
				Fail("the export has no consistency proof from tree size %" PRId64, old_size);
			if (GetPath(json_object_get(cons, "path"), proof, &count) != 0)
				Fail("malformed consistency proof from tree size %" PRId64, old_size);
			why = sl_merkle_verify_consistency(&h, (uint64_t) old_size, (uint64_t) tree_size, old_root, root,
											   (const uint8_t (*)[SL_DIGEST_LEN]) proof, count);
		}
		if (why != NULL)
			Fail("tree %" PRId64 " is not consistent with the old root of tree %" PRId64 ": %s",
				 tree_size, old_size, why);
	}

	if (log_vkey != NULL)
	{
		SignedCheck sc = {operator_id, have_ck, tree_size, root, tree_alg, cons_all, ctx};
		Head	   *heads = malloc((nentries + 1) * sizeof(Head));

		if (heads == NULL)
			Fail("out of memory");
		for (size_t i = 0; i < nentries; i++)
		{
			heads[i].seq = entries[i].seq;
			heads[i].has_leaf = entries[i].has_leaf;
			heads[i].leaf_index = entries[i].leaf_index;
			memcpy(heads[i].hash, entries[i].hash, SL_DIGEST_LEN);
		}
		CheckSigned(&sc, signedck, log_vkey, witness_vkeys, nwitness, heads, nentries, signed_msg,
					sizeof(signed_msg));
		free(heads);
	}
	if (narchived > 0)
		snprintf(archived_msg, sizeof(archived_msg), " (%" PRId64 " of them archived)", narchived);
	printf("OK: operator %" PRId64 ", %zu entries%s, chain verified, %zu included in tree %" PRId64 "%s%s\n",
		   operator_id, nentries, archived_msg, in_tree, tree_size,
		   old_size >= 0 ? ", consistent with the old root" : "", signed_msg);
	for (size_t i = 0; i < nentries; i++)
		json_decref(entries[i].inclusion);
	free(entries);
	json_decref(cons);
	json_decref(cons_all);
	json_decref(signedck);
	json_decref(ckhead);
	free(scratch.data);
	sl_digest_free(ctx);
	return 0;
}
