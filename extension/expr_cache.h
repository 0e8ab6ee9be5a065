/*
 * expr_cache.h — the planned CHECK constraints and trigger WHEN conditions
 * of the tables the extension's statements write, kept per backend
 * (expr_cache.c).
 */
#ifndef SHILIAN_EXPR_CACHE_H
#define SHILIAN_EXPR_CACHE_H

/* Installs the executor hooks (_PG_init). */
extern void ExprCacheInit(void);
/* Around each statement SlExec runs: the cache serves what runs inside. */
extern void ExprCacheEnter(void);
extern void ExprCacheLeave(void);

#endif
