/*
 * guc.c — every shilian.* setting, registered in one place (alphabetical),
 * followed by MarkGUCPrefixReserved so that a misspelt shilian.* name is an
 * error rather than a silently ignored placeholder.
 */
#include "shilian.h"

#include "utils/guc.h"

#include "platform_date.h"

bool		shilian_activity_counters = true;
char *shilian_channel = NULL;
char *shilian_client = NULL;
char *shilian_hash_algorithm = NULL;
char *shilian_jurisdiction = NULL;
bool		shilian_ledger_maintenance = false;
bool		shilian_license_strict = false;
char *shilian_operator_id = NULL;
char *shilian_timezone = NULL;
int			shilian_trace_max_batches = 1000000;
bool		shilian_uscc_lenient = false;

/* Empty (typed in directly or through the REST routes) or a bulk channel. */
static bool
CheckChannel(char **newval, void **extra, GucSource source)
{
	if ((*newval)[0] == '\0' || strcmp(*newval, "import") == 0 || strcmp(*newval, "epcis") == 0)
		return true;
	GUC_check_errdetail("Valid values are \"\" (none), \"import\" and \"epcis\".");
	return false;
}

static bool
CheckHashAlgorithm(char **newval, void **extra, GucSource source)
{
	if (pg_strcasecmp(*newval, "sha256") == 0 || pg_strcasecmp(*newval, "sm3") == 0)
		return true;
	GUC_check_errdetail("Valid values are \"sha256\" and \"sm3\".");
	return false;
}

/* Empty (no acting operator) or the id of an operator: digits only. */
static bool
CheckOperatorId(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	size_t		n = s ? strlen(s) : 0;

	if (n == 0)
		return true;
	if (n <= 18 && strspn(s, "0123456789") == n && s[0] != '0')
		return true;
	GUC_check_errdetail("The acting operator is the positive integer id of an operator, or empty for none.");
	return false;
}

void
ShilianDefineGucs(void)
{
	DefineCustomBoolVariable("shilian.activity_counters",
							 "Count every record in shilian.operator_day (superusers only).",
							 "Off only to measure what the counters cost, or for a bulk load "
							 "followed by operator_day_rebuild(): records made while it is off "
							 "are missing from the regulator figures until then.",
							 &shilian_activity_counters, true, PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("shilian.channel",
							   "Bulk channel a record arrives through (import or epcis), empty for none.",
							   "Set by the import and capture functions around the records they make "
							   "(epcis_capture sets epcis); stored as the source of each ledger entry.",
							   &shilian_channel, "", PGC_USERSET, 0, CheckChannel, NULL, NULL);

	/*
	 * Request context, set per transaction by the gateway with
	 * set_config(..., true) (the PostgREST pattern) and read by the
	 * row-level security policies and the write functions.
	 */
	DefineCustomStringVariable("shilian.client",
							   "API client (system) on whose behalf this transaction runs.",
							   NULL, &shilian_client, "", PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("shilian.hash_algorithm",
							   "Hash function for new ledger entries (sha256 or sm3).",
							   "Each entry stores the id of the algorithm it was hashed with, "
							   "so changing this affects new entries only.",
							   &shilian_hash_algorithm, "sha256", PGC_SUSET, 0,
							   CheckHashAlgorithm, NULL, NULL);

	DefineCustomStringVariable("shilian.jurisdiction",
							   "Jurisdiction code of the regulator on whose behalf this transaction runs.",
							   NULL, &shilian_jurisdiction, "", PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("shilian.ledger_maintenance",
							 "Allow DROP and ALTER of the ledger tables (superusers only).",
							 "Every such command is recorded in shilian.ledger_maintenance and "
							 "appended to the ledger (operator 0); see docs/ledger-format.md.",
							 &shilian_ledger_maintenance, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("shilian.license_strict",
							 "Refuse licence numbers whose check digit fails ISO/IEC 7064 MOD 11,10.",
							 "No official check-digit algorithm is published, so by default a "
							 "mismatch is accepted and license_check_ok() reports it.",
							 &shilian_license_strict, false, PGC_USERSET, 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("shilian.operator_id",
							   "Operator on whose behalf this transaction runs.",
							   "When set, every record function refuses to record for another operator.",
							   &shilian_operator_id, "", PGC_USERSET, 0,
							   CheckOperatorId, NULL, NULL);

	DefineCustomStringVariable("shilian.timezone",
							   "Time zone of the platform's days (record dates, counters, months, exports).",
							   "Every date derived from a timestamp is the day in this zone, whatever "
							   "the session's TimeZone (docs/install.md); superusers set it per "
							   "database or server, never per request.",
							   &shilian_timezone, "Asia/Shanghai", PGC_SUSET, 0,
							   PlatformTimezoneCheck, PlatformTimezoneAssign, NULL);

	DefineCustomIntVariable("shilian.trace_max_batches",
							"Most batches one trace or recall walk may reach.",
							"The walk keeps every reached batch (and up to 8 links per batch) in "
							"memory; past this bound it stops with SQLSTATE SLT01 instead.",
							&shilian_trace_max_batches, 1000000, 1, 100000000, PGC_USERSET, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("shilian.uscc_lenient",
							 "Accept unified social credit codes that fail only the check character.",
							 "Some early pilot codes do; uscc_is_strict() tells them apart.",
							 &shilian_uscc_lenient, false, PGC_USERSET, 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("shilian");
}
