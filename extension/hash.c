/*
 * hash.c — the ledger's hash functions (SHA-256, SM3) inside the server: the
 * backend's one digest context, and SQL access so that anyone can recompute
 * an entry's hash from its documented encoding in SQL.
 */
#include "shilian.h"

#include "fmgr.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "digest.h"
#include "ledger_internal.h"

/*
 * One OpenSSL digest context per backend, made on first use and kept for the
 * life of the process. Every digest taken with it runs init, update and final
 * with no PostgreSQL call in between (no palloc, no SPI, no ereport), so two
 * users can never interleave on it, and an error raised anywhere else finds it
 * idle: nothing to free, nothing leaked. A context made per call and freed at
 * the end would leak whenever an error escaped in between.
 */
static SlDigestCtx *backend_digest = NULL;

SlDigestCtx *
LedgerDigestCtx(void)
{
	if (backend_digest == NULL)
	{
		backend_digest = sl_digest_new();
		if (backend_digest == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory"),
							errdetail("OpenSSL could not allocate a digest context.")));
	}
	return backend_digest;
}

static int
SlDigestOnce(SlDigestCtx *ctx, SlDigestAlg alg, const void *data, size_t len, uint8_t *out)
{
	if (sl_digest_init(ctx, alg) != 0 || sl_digest_update(ctx, data, len) != 0)
		return -1;
	return sl_digest_final(ctx, out);
}

/* shilian.hash(data bytea, algorithm text) → the 32-byte digest. */
PG_FUNCTION_INFO_V1(shilian_hash);
Datum
shilian_hash(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	text	   *algtext = PG_GETARG_TEXT_PP(1);
	char	   *algname = text_to_cstring(algtext);
	SlDigestAlg alg = sl_digest_from_name(algname);
	bytea	   *result;

	if (alg == SL_DIGEST_INVALID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown hash algorithm \"%s\"", algname),
				 errhint("Use \"sha256\" or \"sm3\".")));

	result = palloc(VARHDRSZ + SL_DIGEST_LEN);
	SET_VARSIZE(result, VARHDRSZ + SL_DIGEST_LEN);
	if (SlDigestOnce(LedgerDigestCtx(), alg, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
					 (uint8_t *) VARDATA(result)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not compute %s digest", algname),
				 errdetail("OpenSSL refused the operation; is the SM3 provider available?")));

	pfree(algname);
	PG_FREE_IF_COPY(data, 0);
	PG_RETURN_BYTEA_P(result);
}
