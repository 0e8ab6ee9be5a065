/*
 * lot_token.c — SQL access to the per-lot public token (core/lottoken.c):
 * the per-database secret drawn at CREATE EXTENSION from the server's strong
 * random source, the token of a code and its constant-time check. Only the
 * definer-rights functions of sql/src/40_trace.sql call these, with the
 * secret they alone can read (docs/security.md).
 */
#include "shilian.h"

#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "lottoken.h"
#include "types.h"

/* lot_secret_new() → 32 bytes from pg_strong_random, for shilian.public_secret. */
PG_FUNCTION_INFO_V1(sl_lot_secret_new);
Datum
sl_lot_secret_new(PG_FUNCTION_ARGS)
{
	bytea	   *result = palloc(VARHDRSZ + SL_LOT_SECRET_LEN);

	SET_VARSIZE(result, VARHDRSZ + SL_LOT_SECRET_LEN);
	if (!pg_strong_random(VARDATA(result), SL_LOT_SECRET_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random secret for the public tokens")));
	PG_RETURN_BYTEA_P(result);
}

/* The secret argument, refused unless it has the length lot_secret_new gives. */
static bytea *
SecretArg(FunctionCallInfo fcinfo, int n)
{
	bytea	   *secret = PG_GETARG_BYTEA_PP(n);

	if (VARSIZE_ANY_EXHDR(secret) != SL_LOT_SECRET_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a public-token secret has %d bytes, not %d", SL_LOT_SECRET_LEN,
						(int) VARSIZE_ANY_EXHDR(secret))));
	return secret;
}

/* lot_token(secret bytea, code trace_code) → the 10-character token. */
PG_FUNCTION_INFO_V1(sl_lot_token_sql);
Datum
sl_lot_token_sql(PG_FUNCTION_ARGS)
{
	bytea	   *secret = SecretArg(fcinfo, 0);
	char	   *code = TraceCodeToCString(PG_GETARG_TRACE_CODE(1));
	char		token[SL_LOT_TOKEN_LEN + 1];

	if (sl_lot_token((const uint8_t *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), code, token) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute the public token of %s", code)));
	PG_FREE_IF_COPY(secret, 0);
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

/*
 * lot_token_ok(secret bytea, code trace_code, token text) → whether token is
 * the code's; false for a NULL token, in the same time as a wrong one.
 */
PG_FUNCTION_INFO_V1(sl_lot_token_ok_sql);
Datum
sl_lot_token_ok_sql(PG_FUNCTION_ARGS)
{
	bytea	   *secret;
	char	   *code;
	const char *token = "";
	size_t		len = 0;
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	secret = SecretArg(fcinfo, 0);
	code = TraceCodeToCString(PG_GETARG_TRACE_CODE(1));
	if (!PG_ARGISNULL(2))
	{
		text	   *t = PG_GETARG_TEXT_PP(2);

		token = VARDATA_ANY(t);
		len = VARSIZE_ANY_EXHDR(t);
	}
	ok = sl_lot_token_ok((const uint8_t *) VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret), code,
						 token, len) == 1;
	PG_RETURN_BOOL(ok);
}
