/*
 * guc.c — every shilian.* setting, registered in one place (alphabetical),
 * followed by MarkGUCPrefixReserved so that a misspelt shilian.* name is an
 * error rather than a silently ignored placeholder.
 */
#include "shilian.h"

#include "utils/guc.h"

char *shilian_client = NULL;
char *shilian_hash_algorithm = NULL;
char *shilian_jurisdiction = NULL;
bool shilian_ledger_maintenance = false;
char *shilian_operator_id = NULL;

static bool
CheckHashAlgorithm(char **newval, void **extra, GucSource source)
{
	if (pg_strcasecmp(*newval, "sha256") == 0 || pg_strcasecmp(*newval, "sm3") == 0)
		return true;
	GUC_check_errdetail("Valid values are \"sha256\" and \"sm3\".");
	return false;
}

void
ShilianDefineGucs(void)
{
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

	DefineCustomStringVariable("shilian.operator_id",
							   "Operator on whose behalf this transaction runs.",
							   NULL, &shilian_operator_id, "", PGC_USERSET, 0, NULL, NULL, NULL);

	MarkGUCPrefixReserved("shilian");
}
