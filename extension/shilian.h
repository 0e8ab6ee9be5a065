/*
 * shilian.h — declarations shared by the extension's C files: settings
 * (GUCs) and the project's own SQLSTATE class "SL" for business-rule refusals
 * (documented in docs/errors.md).
 */
#ifndef SHILIAN_H
#define SHILIAN_H

#include "postgres.h"

/* Business-rule refusals: class SL, one code per rule (docs/errors.md). */
#define SL_ERRCODE(c1, c2, c3) MAKE_SQLSTATE('S', 'L', c1, c2, c3)

/* Settings, registered in guc.c. */
extern bool shilian_activity_counters;
extern bool shilian_allow_drop;
extern char *shilian_channel;
extern char *shilian_client;
extern char *shilian_hash_algorithm;
extern char *shilian_jurisdiction;
extern bool shilian_ledger_maintenance;
extern bool shilian_licence_strict;
extern bool shilian_license_strict_deprecated;
extern char *shilian_operator_id;
extern int	shilian_trace_max_batches;
extern char *shilian_timezone;
extern bool shilian_uscc_lenient;

extern void ShilianDefineGucs(void);
/* Set shilian.channel for the extension's own work (the import), at the caller's nest level. */
extern void ShilianSetOwnChannel(const char *channel);

/* The installed schema's version is the library's (schema_version.c). */
extern void SlCheckSchemaVersion(void);
extern int	SlSpiConnect(void);

#endif
