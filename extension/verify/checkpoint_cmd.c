/*
 * checkpoint_cmd.c — shilian-verify's key and note subcommands: print a
 * key's verifier key (vkey), sign a checkpoint (the platform's signing job),
 * verify any signed note against verifier keys, and act as a witness that
 * cosigns a checkpoint only if it is consistent with the last one it
 * cosigned (docs/ledger-format.md#signed-checkpoints).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "note.h"
#include "verify.h"

typedef struct Opts
{
	const char *key;
	const char *name;
	const char *vkeys[16];
	int			nvkeys;
	const char *log_key;
	const char *state;
	const char *proof;
	const char *input;
	int			cosign;
	int			any_text;
} Opts;

static void
ParseOpts(int argc, char **argv, Opts *o)
{
	memset(o, 0, sizeof(*o));
	o->input = "-";
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
		{
			o->key = argv[++i];
			if (o->nvkeys == 16)
				Fail("usage: at most 16 keys");
			o->vkeys[o->nvkeys++] = o->key;
		}
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			o->name = argv[++i];
		else if (strcmp(argv[i], "--log-key") == 0 && i + 1 < argc)
			o->log_key = argv[++i];
		else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			o->state = argv[++i];
		else if (strcmp(argv[i], "--proof") == 0 && i + 1 < argc)
			o->proof = argv[++i];
		else if (strcmp(argv[i], "--cosign") == 0)
			o->cosign = 1;
		else if (strcmp(argv[i], "--any-text") == 0)
			o->any_text = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			Fail("usage: unknown option %s (see --help)", argv[i]);
		else
			o->input = argv[i];
	}
}

static void
LoadKey(const Opts *o, int cosign, SlNoteKey *k)
{
	const char *why;

	if (o->key == NULL || o->name == NULL)
		Fail("usage: --key PRIVATE-KEY-FILE-OR-URI and --name KEY-NAME are required");
	if ((why = sl_note_key_load(o->key, o->name, cosign, k)) != NULL)
		Fail("key %s: %s", o->key, why);
}

int
CmdVkey(int argc, char **argv)
{
	Opts		o;
	SlNoteKey	k;
	char	   *v;

	ParseOpts(argc, argv, &o);
	LoadKey(&o, o.cosign, &k);
	v = sl_note_vkey(&k);
	if (v == NULL)
		Fail("out of memory");
	printf("%s\n", v);
	free(v);
	sl_note_key_free(&k);
	return 0;
}

/*
 * Sign a checkpoint: the input is the checkpoint text (checkpoint_body()) or
 * a note already signed by others; the output is the note with one more
 * signature line.
 */
int
CmdSign(int argc, char **argv)
{
	Opts		o;
	SlNoteKey	k;
	size_t		len;
	char	   *in,
			   *line;
	SlNote		n;
	SlCheckpoint ck;
	const char *why;
	int			signed_already;

	ParseOpts(argc, argv, &o);
	LoadKey(&o, 0, &k);
	in = ReadAll(o.input, &len);
	if (in == NULL)
		Fail("cannot read %s: %s", o.input, strerror(errno));
	signed_already = sl_note_parse(in, len, &n) == NULL;
	if (!signed_already)
	{
		n.text = in;
		n.textlen = len;
	}
	if (!o.any_text && (why = sl_checkpoint_parse(n.text, n.textlen, &ck)) != NULL)
		Fail("not a checkpoint: %s", why);
	if (o.any_text && (n.textlen == 0 || n.text[n.textlen - 1] != '\n'))
		Fail("a note's text ends with a newline");
	line = sl_note_sign(&k, n.text, n.textlen, 0);
	if (line == NULL)
		Fail("signing failed");
	if (signed_already)
		printf("%s%s", in, line);
	else
		printf("%s\n%s", in, line);
	free(line);
	free(in);
	sl_note_free(&n);
	sl_note_key_free(&k);
	return 0;
}

/* Verify a signed note against one or more verifier keys: all must sign it. */
int
CmdNote(int argc, char **argv)
{
	Opts		o;
	size_t		len;
	char	   *in;
	SlNote		n;
	SlCheckpoint ck;
	const char *why;

	ParseOpts(argc, argv, &o);
	if (o.nvkeys == 0)
		Fail("usage: note --key VKEY [--key VKEY]... [NOTE|-]");
	in = ReadAll(o.input, &len);
	if (in == NULL)
		Fail("cannot read %s: %s", o.input, strerror(errno));
	if ((why = sl_note_parse(in, len, &n)) != NULL)
		Fail("not a signed note: %s", why);
	for (int i = 0; i < o.nvkeys; i++)
	{
		SlNoteKey	k;
		int			r;

		if ((why = sl_note_vkey_parse(o.vkeys[i], &k)) != NULL)
			Fail("usage: --key %s: %s", o.vkeys[i], why);
		r = sl_note_verify(&n, &k, NULL);
		if (r == 0)
			Fail("the note has no signature by %s (key id %08" PRIx32 ")", k.name, k.id);
		if (r < 0)
			Fail("the signature by %s does not verify", k.name);
		sl_note_key_free(&k);
	}
	if (sl_checkpoint_parse(n.text, n.textlen, &ck) == NULL)
		printf("OK: checkpoint %s size %" PRIu64 ", %d signature(s) verified\n", ck.origin, ck.size, o.nvkeys);
	else
		printf("OK: note verified by %d key(s)\n", o.nvkeys);
	sl_note_free(&n);
	free(in);
	return 0;
}

/*
 * The witness: verify the log's signature, check that the checkpoint extends
 * the last one this witness cosigned (kept in the state file, a checkpoint
 * text), with the platform's consistency proof when it grew; then remember
 * it and print the cosignature line (cosignature/v1 for an Ed25519 key).
 */
int
CmdWitness(int argc, char **argv)
{
	Opts		o;
	SlNoteKey	wk,
				lk;
	size_t		len,
				slen = 0;
	char	   *in,
			   *st,
			   *line;
	SlNote		n;
	SlCheckpoint ck,
				old;
	const char *why;
	int			have_old = 0;
	int			r;

	ParseOpts(argc, argv, &o);
	if (o.log_key == NULL || o.state == NULL)
		Fail("usage: witness --key PRIVATE --name NAME --log-key VKEY --state FILE [--proof JSON] [NOTE|-]");
	LoadKey(&o, 1, &wk);
	if ((why = sl_note_vkey_parse(o.log_key, &lk)) != NULL)
		Fail("usage: --log-key: %s", why);
	in = ReadAll(o.input, &len);
	if (in == NULL)
		Fail("cannot read %s: %s", o.input, strerror(errno));
	if ((why = sl_note_parse(in, len, &n)) != NULL)
		Fail("not a signed note: %s", why);
	r = sl_note_verify(&n, &lk, NULL);
	if (r <= 0)
		Fail("refused: the checkpoint is %s by the log key %s", r == 0 ? "not signed" : "wrongly signed", lk.name);
	if ((why = sl_checkpoint_parse(n.text, n.textlen, &ck)) != NULL)
		Fail("refused: not a checkpoint: %s", why);
	st = ReadAll(o.state, &slen);
	if (st == NULL && errno != ENOENT)
		Fail("cannot read the state file %s: %s", o.state, strerror(errno));
	if (st != NULL && slen > 0)
	{
		if ((why = sl_checkpoint_parse(st, slen, &old)) != NULL)
			Fail("the state file %s is not a checkpoint: %s", o.state, why);
		have_old = 1;
	}
	if (have_old)
	{
		SlDigestCtx *ctx = sl_digest_new();
		SlHasher	h = {ctx, ck.has_heads ? ck.alg : SL_DIGEST_SHA256};

		if (strcmp(old.origin, ck.origin) != 0)
			Fail("refused: the checkpoint is for origin %s, the witness follows %s", ck.origin, old.origin);
		if (ck.size < old.size)
			Fail("refused: tree size %" PRIu64 " is smaller than the cosigned size %" PRIu64 " (a rollback or a fork)",
				 ck.size, old.size);
		if (ck.size == old.size || old.size == 0)
			why = sl_merkle_verify_consistency(&h, old.size, ck.size, old.root, ck.root, NULL, 0);
		else
		{
			json_error_t err;
			json_t	   *p;
			int64_t		m,
						nn;
			uint8_t		proof[SL_MERKLE_MAX_PROOF][SL_DIGEST_LEN];
			int			count;

			if (o.proof == NULL)
				Fail("refused: a consistency proof from size %" PRIu64 " to %" PRIu64 " is needed (--proof)",
					 old.size, ck.size);
			p = json_load_file(o.proof, JSON_REJECT_DUPLICATES, &err);
			if (p == NULL || GetI64(p, "old_size", &m, 0, NULL) || GetI64(p, "new_size", &nn, 0, NULL) ||
				GetPath(json_object_get(p, "path"), proof, &count))
				Fail("refused: malformed consistency proof %s", o.proof);
			if ((uint64_t) m != old.size || (uint64_t) nn != ck.size)
				Fail("refused: the consistency proof is from %" PRId64 " to %" PRId64 ", not from %" PRIu64
					 " to %" PRIu64, m, nn, old.size, ck.size);
			why = sl_merkle_verify_consistency(&h, old.size, ck.size, old.root, ck.root,
											   (const uint8_t (*)[SL_DIGEST_LEN]) proof, count);
			json_decref(p);
		}
		sl_digest_free(ctx);
		if (why != NULL)
			Fail("refused: tree %" PRIu64 " is not consistent with the cosigned tree %" PRIu64 " (a fork): %s",
				 ck.size, old.size, why);
	}
	line = sl_note_sign(&wk, n.text, n.textlen, (uint64_t) time(NULL));
	if (line == NULL)
		Fail("signing failed");
	/* remember the newest size only: a witness never goes back */
	if (!have_old || ck.size > old.size)
	{
		char		tmp[4096];
		FILE	   *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", o.state);
		f = fopen(tmp, "w");
		if (f == NULL || fwrite(n.text, 1, n.textlen, f) != n.textlen || fclose(f) != 0 || rename(tmp, o.state) != 0)
			Fail("cannot write the state file %s: %s", o.state, strerror(errno));
	}
	fputs(line, stdout);
	free(line);
	free(st);
	free(in);
	sl_note_free(&n);
	sl_note_key_free(&wk);
	sl_note_key_free(&lk);
	return 0;
}
