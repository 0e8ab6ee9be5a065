/*
 * security.c — the caller checks behind row-level security. The record
 * functions run with definer rights (their validation must see rows the
 * caller may not, such as the buyer's status or the whole batch graph), so
 * they ask here, through RecordCheckActor, whether the calling role may
 * record for the operator concerned; shilian.may_see answers the same
 * question for reading. docs/security.md states the rules.
 */
#include "records.h"
#include "security.h"

#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

static bool
MemberOf(Oid user, const char *role)
{
	Oid			r = get_role_oid(role, true);

	return OidIsValid(r) && has_privs_of_role(user, r);
}

/*
 * The outer role is the one SET ROLE (or the gateway's set_config('role'))
 * chose; inside a SECURITY DEFINER function the current user is the owner,
 * so it cannot tell callers apart. A role in several groups gets the first
 * match, most privileged first: the gateway switches to exactly one.
 */
SlCaller
SecurityCaller(void)
{
	Oid			user = GetOuterUserId();

	if (superuser_arg(user) || MemberOf(user, "shilian_admin"))
		return SL_CALLER_ADMIN;
	if (MemberOf(user, "shilian_operator"))
		return SL_CALLER_OPERATOR;
	if (MemberOf(user, "shilian_system"))
		return SL_CALLER_SYSTEM;
	if (MemberOf(user, "shilian_regulator"))
		return SL_CALLER_REGULATOR;
	return SL_CALLER_NONE;
}

static SlStmt bound_stmt = {
	"SELECT EXISTS (SELECT 1 FROM shilian.api_client_operator b"
	" JOIN shilian.api_client c ON c.client = b.client"
	" WHERE b.client = $1 AND b.operator_id = $2 AND c.active)",
	2, {"text", "bigint"}
};

static SlStmt oversees_stmt = {
	"SELECT EXISTS (SELECT 1 FROM shilian.operator o"
	" JOIN shilian.jurisdiction j ON j.code = o.station"
	" WHERE o.id = $1 AND j.ancestors @> ARRAY[$2::text])",
	2, {"bigint", "text"}
};

static SlStmt station_in_stmt = {
	"SELECT EXISTS (SELECT 1 FROM shilian.jurisdiction j"
	" WHERE j.code = $1 AND j.ancestors @> ARRAY[$2::text])",
	2, {"text", "text"}
};

static bool
Exists(SlStmt *stmt, Datum a, Datum b)
{
	Datum		v[2] = {a, b};
	bool		found;

	SlSpiConnect();
	SlExec(stmt, v, NULL, 1);
	found = DatumGetBool(SlGet(0, 1, NULL));
	SPI_finish();
	return found;
}

static const char *
Setting(const char *s)
{
	return (s != NULL && s[0] != '\0') ? s : NULL;
}

/* The system client is bound to the operator (api_client_operator). */
static bool
Bound(int64 operator_id)
{
	const char *client = Setting(shilian_client);

	return client != NULL &&
		Exists(&bound_stmt, CStringGetTextDatum(client), Int64GetDatum(operator_id));
}

/* The operator's home station lies in the regulator's subtree. */
static bool
Oversees(int64 operator_id)
{
	const char *j = Setting(shilian_jurisdiction);

	return j != NULL &&
		Exists(&oversees_stmt, Int64GetDatum(operator_id), CStringGetTextDatum(j));
}

static bool
OversightAction(const char *action)
{
	return strcmp(action, "operator_activate") == 0 ||
		strcmp(action, "operator_suspend") == 0 ||
		strcmp(action, "add a licence") == 0 ||
		strcmp(action, "operator_update") == 0;	/* h-history */
}

static bool
Deny(SlRefusal *r, const char *who, const char *action, const char *detail)
{
	/*
	 * The message never names the operator refused: a caller probing ids
	 * (links, batches) must not learn who is party to them.
	 */
	return Refuse(r, ERRCODE_INSUFFICIENT_PRIVILEGE, detail, NULL,
				  "%s may not %s for this operator", who, action);
}

bool
SecurityMayWrite(int64 operator_id, const char *action, SlRefusal *r)
{
	int64		acting = RecordActingOperator();

	switch (SecurityCaller())
	{
		case SL_CALLER_ADMIN:
			/* as before roles existed: the setting, when set, still binds */
			if (acting != 0 && acting != operator_id)
				return Refuse(r, ERRCODE_INSUFFICIENT_PRIVILEGE,
							  "The setting shilian.operator_id names the operator this transaction acts for.",
							  "Record only for the operator named by shilian.operator_id.",
							  "acting operator %lld may not %s for operator %lld",
							  (long long) acting, action, (long long) operator_id);
			return true;
		case SL_CALLER_OPERATOR:
			if (acting == 0)
				return Deny(r, "an operator without shilian.operator_id", action,
					 "The role shilian_operator records only for the operator named by shilian.operator_id.");
			if (acting != operator_id)
				return Deny(r, psprintf("acting operator %lld", (long long) acting), action,
					 "An operator records only for itself.");
			return true;
		case SL_CALLER_SYSTEM:
			if (acting != 0 && acting != operator_id)
				return Deny(r, psprintf("acting operator %lld", (long long) acting), action,
					 "The setting shilian.operator_id names the operator this transaction acts for.");
			if (!Bound(operator_id))
				return Deny(r, Setting(shilian_client)
					 ? psprintf("client \"%s\"", shilian_client)
					 : "a system client without shilian.client",
					 action,
					 "A system client records only for the operators bound to it (api_client_operator).");
			return true;
		case SL_CALLER_REGULATOR:
			if (!OversightAction(action))
				return Deny(r, "a regulator", action,
					 "Regulators activate, suspend and license operators; the operators record for themselves.");
			if (!Oversees(operator_id))
				return Deny(r, Setting(shilian_jurisdiction)
					 ? psprintf("the regulator of %s", shilian_jurisdiction)
					 : "a regulator without shilian.jurisdiction",
					 action,
					 "A regulator acts only for operators whose home station lies in its jurisdiction.");
			return true;
		case SL_CALLER_NONE:
			break;
	}
	return Deny(r, "this role", action,
		 "Only the roles shilian_operator, shilian_system, shilian_regulator and shilian_admin record.");
}

void
SecurityCheckWrite(int64 operator_id, const char *action)
{
	SlRefusal	r;

	if (!SecurityMayWrite(operator_id, action, &r))
		RecordRaise(&r);
}

void
SecurityCheckStation(const char *station, const char *action)
{
	const char *j = Setting(shilian_jurisdiction);

	switch (SecurityCaller())
	{
		case SL_CALLER_ADMIN:
			return;
		case SL_CALLER_REGULATOR:
			if (j != NULL &&
				Exists(&station_in_stmt, CStringGetTextDatum(station), CStringGetTextDatum(j)))
				return;
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the regulator of %s may not %s at station %s",
							j ? j : "no jurisdiction", action, station),
					 errdetail("A regulator acts only within its jurisdiction (shilian.jurisdiction).")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("this role may not %s", action),
					 errdetail("Operators are registered by a regulator of their home station or by an admin.")));
	}
}

/*
 * Reading is the union of the caller's groups, as the permissive policies of
 * each group give it on the tables (docs/security.md, "A role in several
 * groups"): a role that is an operator and a regulator sees its own records
 * and its subtree's. Only writing takes the first group (SecurityCaller).
 */
bool
SecurityMaySee(int64 operator_id)
{
	Oid			user = GetOuterUserId();
	int64		acting = RecordActingOperator();

	if (superuser_arg(user) || MemberOf(user, "shilian_admin"))
		return true;
	if (MemberOf(user, "shilian_operator") && acting != 0 && acting == operator_id)
		return true;
	if (MemberOf(user, "shilian_system") && (acting == 0 || acting == operator_id) &&
		Bound(operator_id))
		return true;
	if (MemberOf(user, "shilian_regulator") && Oversees(operator_id))
		return true;
	return false;
}

/* may_see(operator) → whether the calling role may see that operator's records. */
PG_FUNCTION_INFO_V1(sl_may_see);
Datum
sl_may_see(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(SecurityMaySee(PG_GETARG_INT64(0)));
}

/* require_see(operator) → true, or 42501 when may_see is false. */
PG_FUNCTION_INFO_V1(sl_require_see);
Datum
sl_require_see(PG_FUNCTION_ARGS)
{
	int64		op = PG_GETARG_INT64(0);

	if (!SecurityMaySee(op))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for the records of operator %lld", (long long) op),
				 errdetail("An operator sees its own records, a system client those of its bound operators, a regulator those in its jurisdiction.")));
	PG_RETURN_BOOL(true);
}
