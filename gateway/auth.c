/*
 * auth.c — bearer-token authentication. Tokens are JWTs signed with HS256
 * and the configured secret (libjwt verifies the signature); the algorithm
 * is checked here too, so a token with "alg": "none" or any other algorithm
 * is refused, and so is one without a future "exp". Claims: role, operator_id,
 * jurisdiction, client. The role claim names one of the platform's roles; the
 * database role is shilian_<role>. System clients may instead send an API key
 * (X-API-Key), which the database checks against the hash it keeps.
 */
#include "gateway.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const known_roles[] = {"operator", "regulator", "system", "admin", "public", NULL};

#define BEARER_CHALLENGE(err) "WWW-Authenticate: Bearer realm=\"shilian\", error=\"" err "\"\r\n"

static int
Unauthorized(GwRequest *req, const char *message, const char *hint)
{
	return gw_reply_error(req->conn, 401, "GW401", message, NULL, hint,
						  BEARER_CHALLENGE("invalid_token"));
}

/* Copy a string or integer claim into dst; false if present with another type or too long. */
static bool
ClaimText(json_t *claims, const char *name, char *dst, size_t dstlen)
{
	json_t	   *v = json_object_get(claims, name);

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return true;
	if (json_is_string(v))
	{
		if (json_string_length(v) >= dstlen || strlen(json_string_value(v)) != json_string_length(v))
			return false;
		memcpy(dst, json_string_value(v), json_string_length(v) + 1);
		return true;
	}
	if (json_is_integer(v))
	{
		snprintf(dst, dstlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return true;
	}
	return false;
}

/*
 * X-API-Key: a system client's key, checked by the database (which keeps
 * only its hash) as the gateway's own login role, before any role switch.
 */
static int
AuthenticateApiKey(GwRequest *req, const char *key)
{
	PGconn	   *db;
	PGresult   *res;
	int			status = 0;

	if (strlen(key) > 200)
		return Unauthorized(req, "invalid API key", NULL);
	res = gw_exec_first(req->conn, &db, "select shilian.api_client_authenticate($1)", 1,
						(const char *[]) {key});
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		status = gw_reply_pg_error(req->conn, res, db);
	else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
			 PQgetlength(res, 0, 0) >= (int) sizeof(req->auth.client))
		status = gw_reply_error(req->conn, 401, "GW401", "invalid API key", NULL,
								"The key is wrong, revoked, or its client is inactive.",
								"WWW-Authenticate: Bearer realm=\"shilian\", error=\"invalid_token\"\r\n");
	else
	{
		strcpy(req->auth.client, PQgetvalue(res, 0, 0));
		strcpy(req->auth.role, "shilian_system");
		req->auth.authenticated = true;
	}
	PQclear(res);
	if (status == 0 && req->route->roles != NULL)
	{
		for (int i = 0;; i++)
		{
			if (req->route->roles[i] == NULL)
				return gw_reply_error(req->conn, 403, "GW403", "this route is not open to your role",
									  "system", NULL, NULL);
			if (strcmp(req->route->roles[i], "system") == 0)
				break;
		}
	}
	return status;
}

int
gw_authenticate(GwRequest *req)
{
	const char *hdr = mg_get_header(req->conn, "Authorization");
	const char *apikey = mg_get_header(req->conn, "X-API-Key");
	const char *token;
	jwt_t	   *jwt = NULL;
	char	   *grants;
	json_t	   *claims;
	json_t	   *exp;
	char		role[32];
	int			rc;

	memset(&req->auth, 0, sizeof(req->auth));
	if (apikey != NULL)
	{
		if (hdr != NULL)
			return gw_reply_error(req->conn, 400, "GW400", "send a bearer token or an API key, not both",
								  NULL, NULL, NULL);
		return AuthenticateApiKey(req, apikey);
	}
	if (hdr == NULL)
	{
		if (req->route->flags & GW_PUBLIC)
		{
			strcpy(req->auth.role, "shilian_public");
			return 0;
		}
		return gw_reply_error(req->conn, 401, "GW401", "authentication required", NULL,
							  "Send Authorization: Bearer <token>.",
							  "WWW-Authenticate: Bearer realm=\"shilian\"\r\n");
	}
	if (strncasecmp(hdr, "Bearer ", 7) != 0)
		return Unauthorized(req, "unsupported authorization scheme", "Use Bearer tokens.");
	token = hdr + 7;
	while (*token == ' ')
		token++;
	if (gw_config.jwt_secret == NULL)
		return Unauthorized(req, "bearer tokens are not configured on this gateway",
							"Set jwt_secret in the gateway configuration.");

	rc = jwt_decode(&jwt, token, (const unsigned char *) gw_config.jwt_secret,
					(int) strlen(gw_config.jwt_secret));
	if (rc != 0 || jwt == NULL)
	{
		if (jwt)
			jwt_free(jwt);
		return Unauthorized(req, "invalid token", "The signature or the format is wrong.");
	}
	if (jwt_get_alg(jwt) != JWT_ALG_HS256)
	{
		jwt_free(jwt);
		return Unauthorized(req, "invalid token algorithm", "Only HS256 tokens are accepted.");
	}
	grants = jwt_get_grants_json(jwt, NULL);
	jwt_free(jwt);
	claims = grants ? json_loads(grants, JSON_REJECT_DUPLICATES, NULL) : NULL;
	free(grants);
	if (!json_is_object(claims))
	{
		json_decref(claims);
		return Unauthorized(req, "invalid token claims", NULL);
	}

	exp = json_object_get(claims, "exp");
	if (!json_is_integer(exp) || json_integer_value(exp) <= (json_int_t) time(NULL))
	{
		bool		has_exp = json_is_integer(exp);

		json_decref(claims);
		return Unauthorized(req, has_exp ? "token expired" : "token has no exp claim",
							"Get a new token.");
	}
	if (!ClaimText(claims, "role", role, sizeof(role)) ||
		!ClaimText(claims, "operator_id", req->auth.operator_id, sizeof(req->auth.operator_id)) ||
		!ClaimText(claims, "jurisdiction", req->auth.jurisdiction, sizeof(req->auth.jurisdiction)) ||
		!ClaimText(claims, "client", req->auth.client, sizeof(req->auth.client)))
	{
		json_decref(claims);
		return Unauthorized(req, "invalid token claims", "role, operator_id, jurisdiction and client are strings or integers.");
	}
	json_decref(claims);

	for (int i = 0;; i++)
	{
		if (known_roles[i] == NULL)
			return gw_reply_error(req->conn, 403, "GW403", "unknown role in token", role,
								  "The role claim is one of operator, regulator, system, admin, public.", NULL);
		if (strcmp(role, known_roles[i]) == 0)
			break;
	}
	snprintf(req->auth.role, sizeof(req->auth.role), "shilian_%s", role);
	req->auth.authenticated = true;

	if (req->route->roles != NULL)
	{
		for (int i = 0;; i++)
		{
			if (req->route->roles[i] == NULL)
				return gw_reply_error(req->conn, 403, "GW403", "this route is not open to your role",
									  role, NULL, NULL);
			if (strcmp(req->route->roles[i], role) == 0)
				break;
		}
	}
	return 0;
}
