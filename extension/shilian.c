/*
 * shilian.c — module entry point of the shilian extension: the module magic,
 * _PG_init and the version function. Everything else lives in a file named
 * after the one thing it holds.
 */
#include "shilian.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "expr_cache.h"
#include "fk_cover.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void
_PG_init(void)
{
	ShilianDefineGucs();
	ExprCacheInit();
	FkCoverInit();
}

/* The version of the loaded shared library (the SQL script has its own). */
PG_FUNCTION_INFO_V1(shilian_version);
Datum
shilian_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(SHILIAN_VERSION));
}
