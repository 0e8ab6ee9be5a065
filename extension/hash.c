/*
 * hash.c — SQL access to the ledger's hash functions (SHA-256, SM3), so that
 * anyone can recompute an entry's hash from its documented encoding in SQL.
 */
#include "shilian.h"

#include "fmgr.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "digest.h"

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
	if (sl_digest(alg, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data),
				  (uint8_t *) VARDATA(result)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("could not compute %s digest", algname),
				 errdetail("OpenSSL refused the operation; is the SM3 provider available?")));

	PG_FREE_IF_COPY(data, 0);
	PG_RETURN_BYTEA_P(result);
}
