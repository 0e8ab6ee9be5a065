/*
 * pg_stub.h — the few backend services that the extension's type input,
 * output, send and receive functions use, reimplemented for libFuzzer
 * harnesses that run those functions outside a server (pg_stub.c).
 */
#ifndef SHILIAN_PG_STUB_H
#define SHILIAN_PG_STUB_H

#include "postgres.h"

#include "fmgr.h"

/*
 * Run f(fcinfo) as the backend would: an ereport(ERROR) inside returns false
 * (the message is kept for the harness), success returns true and *result.
 */
extern bool FuzzCall(PGFunction f, Datum *args, int nargs, Datum *result);

/* Free everything palloc'd since the last call (one fuzz input's memory). */
extern void FuzzResetMemory(void);

/* The SQLSTATE of the last error, as the 5-character text. */
extern const char *FuzzLastSqlstate(void);

#endif
