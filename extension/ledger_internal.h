/*
 * ledger_internal.h — helpers shared by the ledger's C files (ledger.c,
 * merkle_log.c, ledger_export.c); not part of the append interface.
 */
#ifndef SHILIAN_LEDGER_INTERNAL_H
#define SHILIAN_LEDGER_INTERNAL_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "canon.h"

/* Unix epoch minus the PostgreSQL epoch, in microseconds. */
#define UNIX_TO_PG_USECS INT64CONST(946684800000000)

extern void LedgerBufInit(SlBuf *b);	/* palloc'd in the current context */
/*
 * A buffer owned by cxt for its whole life: its first block is allocated
 * there at once, and repalloc keeps every later one in the same context. Use
 * it for a buffer that outlives a context reset around its users.
 */
extern void LedgerBufInitIn(SlBuf *b, MemoryContext cxt, size_t initial);
/* The backend's digest context (hash.c): never freed, never leaked. */
extern SlDigestCtx *LedgerDigestCtx(void);
extern Oid	LedgerRelid(const char *name);	/* shilian.<name>, or ERROR */
extern SlDigestAlg LedgerCurrentAlg(void);	/* shilian.hash_algorithm */
extern void LedgerCanonicalBody(Jsonb *body, SlBuf *out);
extern bytea *LedgerBytea(const void *p, size_t n);

#endif
