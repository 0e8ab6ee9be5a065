/*
 * guc.c — every shilian.* setting, registered in one place (alphabetical),
 * followed by MarkGUCPrefixReserved so that a misspelt shilian.* name is an
 * error rather than a silently ignored placeholder.
 */
#include "shilian.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"

#include "platform_date.h"

bool		shilian_activity_counters = true;
bool		shilian_allow_drop = false;
char *shilian_channel = NULL;
char *shilian_client = NULL;
static char *shilian_client_addr = NULL;
static char *shilian_identity = NULL;
char *shilian_hash_algorithm = NULL;
char *shilian_jurisdiction = NULL;
bool		shilian_ledger_maintenance = false;
/* the origin line of the signed checkpoints */
static char *shilian_log_origin = NULL;
bool		shilian_licence_strict = false;
bool		shilian_license_strict_deprecated = false;
char *shilian_operator_id = NULL;
char *shilian_timezone = NULL;
/* h-history: the registry's effective time (shilian.registry_now()) */
char *shilian_registry_time = NULL;
int			shilian_trace_max_batches = 1000000;
bool		shilian_uscc_lenient = false;
bool		shilian_webhook_allow_http = false;

/* True while the extension itself sets shilian.channel (ShilianSetOwnChannel). */
static bool own_channel = false;

/*
 * The provenance settings (shilian.channel, shilian.client) become the
 * source of ledger entries, so a session may not claim them: a non-empty
 * value is taken only from the gateway (its login role, shilian_gateway or a
 * member, sets them per transaction after authenticating the caller), from
 * the extension's own work (the import, epcis_capture's SET clause, which
 * runs as the superuser owning it), from a superuser session, or from the
 * server's configuration. Anyone else gets SLS01 (docs/security.md).
 */
static bool
CheckProvenance(const char *name, const char *value, GucSource source)
{
	Oid			gateway;

	if (value[0] == '\0' || source <= PGC_S_GLOBAL || own_channel || InitializingParallelWorker)
		return true;
	/* no catalog to ask (session_preload_libraries, say): refuse */
	if (IsTransactionState())
	{
		if (superuser() || superuser_arg(GetSessionUserId()))
			return true;
		gateway = get_role_oid("shilian_gateway", true);
		if (OidIsValid(gateway) && is_member_of_role(GetSessionUserId(), gateway))
			return true;
	}
	GUC_check_errcode(SL_ERRCODE('S', '0', '1'));
	GUC_check_errmsg("%s is set only by the gateway and by shilian's own functions", name);
	GUC_check_errdetail("It becomes the source of ledger entries; a session may not claim one.");
	GUC_check_errhint("System clients authenticate at the gateway (X-API-Key); import and epcis_capture set their channel themselves.");
	return false;
}

/*
 * shilian.allow_drop is a decision for one transaction, never a standing
 * default: on only from SET / SET LOCAL / set_config (not from a file,
 * ALTER SYSTEM, ALTER DATABASE/ROLE SET or connection options); the guard
 * (ledger_guard.c) counts it only in the transaction that set it.
 */
static bool
CheckAllowDrop(bool *newval, void **extra, GucSource source)
{
	if (!*newval || source == PGC_S_SESSION)
		return true;
	GUC_check_errdetail("shilian.allow_drop can only be switched on with SET LOCAL in the transaction that drops the extension.");
	return false;
}

/* Empty (typed in directly or through the REST routes) or a bulk channel. */
static bool
CheckChannel(char **newval, void **extra, GucSource source)
{
	if ((*newval)[0] != '\0' && strcmp(*newval, "import") != 0 && strcmp(*newval, "epcis") != 0)
	{
		GUC_check_errdetail("Valid values are \"\" (none), \"import\" and \"epcis\".");
		return false;
	}
	return CheckProvenance("shilian.channel", *newval, source);
}

/* A C2SP checkpoint origin: non-empty, no spaces, no plus, no control characters. */
static bool
CheckLogOrigin(char **newval, void **extra, GucSource source)
{
	const unsigned char *p = (const unsigned char *) *newval;

	if (*p == '\0' || strlen(*newval) > 255)
	{
		GUC_check_errdetail("The origin has 1 to 255 bytes.");
		return false;
	}
	for (; *p; p++)
		if (*p <= 0x20 || *p == '+' || *p == 0x7f)
		{
			GUC_check_errdetail("The origin contains no spaces, control characters or \"+\" (c2sp.org/tlog-checkpoint).");
			return false;
		}
	return true;
}

/* The login (sub:<token subject>) the gateway authenticated, or empty. */
static bool
CheckIdentity(char **newval, void **extra, GucSource source)
{
	return CheckProvenance("shilian.identity", *newval, source);
}

/* The system client the gateway authenticated, or empty. */
static bool
CheckClient(char **newval, void **extra, GucSource source)
{
	return CheckProvenance("shilian.client", *newval, source);
}

/*
 * Set shilian.channel for the extension's own work, saved at the caller's
 * GUC nest level (NewGUCNestLevel/AtEOXact_GUC restore it), whoever calls.
 */
void
ShilianSetOwnChannel(const char *channel)
{
	own_channel = true;
	PG_TRY();
	{
		(void) set_config_option("shilian.channel", channel, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	PG_FINALLY();
	{
		own_channel = false;
	}
	PG_END_TRY();
}

static bool
CheckHashAlgorithm(char **newval, void **extra, GucSource source)
{
	if (pg_strcasecmp(*newval, "sha256") == 0 || pg_strcasecmp(*newval, "sm3") == 0)
		return true;
	GUC_check_errdetail("Valid values are \"sha256\" and \"sm3\".");
	return false;
}

/*
 * shilian.license_strict is the 0.2.0 spelling of shilian.licence_strict,
 * kept one version: setting it still works and warns. The value at start-up
 * (the boot value) passes silently so that loading the library says nothing.
 */
static bool
LicenseStrictDeprecatedCheck(bool *newval, void **extra, GucSource source)
{
	if (source != PGC_S_DEFAULT)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING_DEPRECATED_FEATURE),
				 errmsg("shilian.license_strict is deprecated and will be removed in 0.4.0"),
				 errhint("Use shilian.licence_strict.")));
	return true;
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

	DefineCustomBoolVariable("shilian.allow_drop",
							 "Allow DROP EXTENSION shilian, which drops the ledger (superusers only).",
							 "Counts only in the transaction that set it: "
							 "BEGIN; SET LOCAL shilian.allow_drop = on; DROP EXTENSION shilian; COMMIT.",
							 &shilian_allow_drop, false, PGC_SUSET,
							 GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE | GUC_DISALLOW_IN_AUTO_FILE,
							 CheckAllowDrop, NULL, NULL);

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
							   "Set by the gateway for requests with an API key; stored in the source of each ledger entry.",
							   &shilian_client, "", PGC_USERSET, 0, CheckClient, NULL, NULL);

	DefineCustomStringVariable("shilian.client_addr",
							   "Network address of the client of this request.",
							   "Set by the gateway per transaction; self-registration and activation "
							   "attempts are throttled per address (docs/registration.md).",
							   &shilian_client_addr, "", PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("shilian.identity",
							   "Login (sub:<token subject>) of the person on whose behalf this transaction runs.",
							   "Set by the gateway per transaction from a bearer token's subject; a registration "
							   "request made with it is that login's, and its first login activates the "
							   "operator (docs/registration.md).",
							   &shilian_identity, "", PGC_USERSET, 0, CheckIdentity, NULL, NULL);

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

	DefineCustomBoolVariable("shilian.licence_strict",
							 "Refuse licence numbers whose check digit fails ISO/IEC 7064 MOD 11,10.",
							 "No official check-digit algorithm is published, so by default a "
							 "mismatch is accepted and licence_check_ok() reports it.",
							 &shilian_licence_strict, false, PGC_USERSET, 0,
							 NULL, NULL, NULL);

	/* The 0.2.0 spelling, accepted for one version (docs/development.md). */
	DefineCustomBoolVariable("shilian.license_strict",
							 "DEPRECATED: use shilian.licence_strict (removed in 0.4.0).",
							 "While on, licence numbers are checked strictly whatever "
							 "shilian.licence_strict says.",
							 &shilian_license_strict_deprecated, false, PGC_USERSET, 0,
							 LicenseStrictDeprecatedCheck, NULL, NULL);

	DefineCustomStringVariable("shilian.log_origin",
							   "Origin line of the ledger's signed checkpoints (a schema-less URL naming the log).",
							   "Part of every checkpoint text that is signed (docs/ledger-format.md); "
							   "set it once per database before the first checkpoint is signed.",
							   &shilian_log_origin, "shilian.invalid/ledger", PGC_SUSET, 0,
							   CheckLogOrigin, NULL, NULL);

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

	/*
	 * h-history: the effective time of registry changes (docs/regulator.md,
	 * "The registry's history"), read by shilian.registry_now(), which
	 * checks who set it and that the registry's time only moves forward.
	 */
	DefineCustomStringVariable("shilian.registry_time",
							   "Effective time of the registry changes of this session (empty: now()).",
							   "The platform admin sets it to enter registry changes that took effect "
							   "earlier (a migration from the paper register), in time order and after "
							   "the last issued monthly report; registry_now() refuses anything else.",
							   &shilian_registry_time, "", PGC_USERSET, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("shilian.webhook_allow_http",
							 "Accept plain http webhook URLs to a loopback host (superusers only).",
							 "For tests and a receiver on the database's own machine; every other "
							 "webhook URL must be https (docs/webhooks.md).",
							 &shilian_webhook_allow_http, false, PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/* PostgreSQL 15 reserves the prefix; before it, placeholders only warned. */
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("shilian");
#else
	EmitWarningsOnPlaceholders("shilian");
#endif
}
