/*
 * auth.c — who is calling. A bearer token is a JWT: HS256 signed with the
 * gateway's own secret (minted by `shilian-gateway token`), or RS256/ES256
 * from an identity provider whose keys are in the JWKS file, picked by kid.
 * Before libjwt (and jansson inside it) sees a token, its parts are decoded
 * here and held to the JSON limits, so no token can drive a parser deep.
 * The algorithm must be the one of its key (never "none", never HS256 under
 * a JWKS kid); exp, nbf, iat and (when configured) aud are checked. System
 * clients may instead send an API key (X-API-Key), checked by the database;
 * failed keys back off per address (ratelimit.c). Provenance (the client)
 * comes only from an API key or a system token made with the gateway's own
 * secret: any other token naming a client is refused. A system client acts
 * for one of the operators bound to it, named by ?operator= or the header
 * X-Shilian-Operator (ResolveActing); the database checks the binding again
 * when the request's settings are made (set_acting_operator).
 */
#include "gateway.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "jsonlimit.h"

static const char *const known_roles[] = {"operator", "regulator", "system", "admin", "public", "national", NULL};

/* Longest Authorization header read; a real token is well under 2 KB. */
#define AUTH_HEADER_MAX 8192
/* Clock skew allowed for nbf and iat, in seconds. */
#define CLOCK_SKEW 30
/* Routes under this prefix are the public lookup, throttled per address. */
#define PUBLIC_LOOKUP_PREFIX "/v1/public/"

#define BEARER_CHALLENGE(err) "WWW-Authenticate: Bearer realm=\"shilian\", error=\"" err "\"\r\n"

static int
Unauthorized(GwRequest *req, const char *message, const char *details, const char *hint)
{
	return gw_reply_error(req->conn, 401, "GW401", message, details, hint,
						  BEARER_CHALLENGE("invalid_token"));
}

static int
Throttled(GwRequest *req, int seconds, const char *message, const char *hint)
{
	char		hdr[64], details[64];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", seconds);
	snprintf(details, sizeof(details), "retry after %d s", seconds);
	return gw_reply_error(req->conn, 429, "GW429", message, details, hint, hdr);
}

unsigned char *
gw_base64url_decode(const char *src, size_t len, size_t *outlen)
{
	unsigned char *out;
	unsigned	acc = 0;
	int			bits = 0;
	size_t		n = 0;

	if (len % 4 == 1)
		return NULL;
	out = malloc(len * 3 / 4 + 2);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
	{
		char		c = src[i];
		int			v;

		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '-')
			v = 62;
		else if (c == '_')
			v = 63;
		else
		{
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/*
 * One part of the token decoded and parsed as a JSON object, after the
 * nesting and size limits; NULL with *why set otherwise.
 */
static json_t *
TokenPart(const char *text, size_t len, const char **why)
{
	size_t		n;
	unsigned char *bytes = gw_base64url_decode(text, len, &n);
	SlJsonLimit lim;
	json_t	   *v;

	if (bytes == NULL)
	{
		*why = "not base64url";
		return NULL;
	}
	lim = sl_json_check((const char *) bytes, n, SL_JSON_MAX_DEPTH, AUTH_HEADER_MAX);
	if (lim != SL_JSON_OK)
	{
		free(bytes);
		*why = sl_json_limit_message(lim);
		return NULL;
	}
	v = json_loadb((const char *) bytes, n, JSON_REJECT_DUPLICATES, NULL);
	free(bytes);
	if (!json_is_object(v))
	{
		json_decref(v);
		*why = "not a JSON object (or a duplicate key)";
		return NULL;
	}
	return v;
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

/* 0 when the route is open to the role, else the status after replying 403. */
static int
CheckRouteRole(GwRequest *req, const char *role)
{
	if (req->route->roles == NULL)
		return 0;
	for (int i = 0; req->route->roles[i] != NULL; i++)
		if (strcmp(req->route->roles[i], role) == 0)
			return 0;
	return gw_reply_error(req->conn, 403, "GW403", "this route is not open to your role", role, NULL, NULL);
}

/*
 * X-API-Key: a system client's key, checked by the database (which keeps
 * only its hash) as the gateway's own login role, before any role switch.
 * Repeated failures from one address make it wait (429), doubling each time.
 */
static int
AuthenticateApiKey(GwRequest *req, const char *key)
{
	const char *addr = req->ri->remote_addr;
	PGconn	   *db;
	PGresult   *res;
	int			status = 0, wait;

	if ((wait = gw_ratelimit_apikey_wait(addr)) > 0)
		return Throttled(req, wait, "too many failed API keys from this address",
						 "Wait for Retry-After seconds, then send a valid key.");
	if (strlen(key) > 200)
	{
		gw_ratelimit_apikey_result(addr, false);
		return Unauthorized(req, "invalid API key", NULL, NULL);
	}
	res = gw_exec_first(req->conn, &db, "select shilian.api_client_authenticate($1)", 1,
						(const char *[]) {key});
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		status = gw_reply_pg_error(req->conn, res, db);
	else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
			 PQgetlength(res, 0, 0) >= (int) sizeof(req->auth.client))
	{
		gw_ratelimit_apikey_result(addr, false);
		status = Unauthorized(req, "invalid API key", NULL,
							  "The key is wrong, revoked, or its client is inactive.");
	}
	else
	{
		gw_ratelimit_apikey_result(addr, true);
		strcpy(req->auth.client, PQgetvalue(res, 0, 0));
		strcpy(req->auth.role, "shilian_system");
		req->auth.authenticated = true;
	}
	PQclear(res);
	if (status == 0)
		status = CheckRouteRole(req, "system");
	return status;
}

/* A NumericDate claim: absent (true, *present false), a number, or refused. */
static bool
TimeClaim(json_t *claims, const char *name, double *value, bool *present)
{
	json_t	   *v = json_object_get(claims, name);

	*present = v != NULL;
	if (v == NULL)
		return true;
	if (!json_is_number(v))
		return false;
	*value = json_number_value(v);
	return true;
}

/* aud: one string or an array of strings, one of which must be the audience. */
static bool
AudienceMatches(json_t *aud, const char *audience)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	if (json_is_array(aud))
	{
		size_t		i;
		json_t	   *v;

		json_array_foreach(aud, i, v)
			if (json_is_string(v) && strcmp(json_string_value(v), audience) == 0)
			return true;
	}
	return false;
}

/*
 * exp, nbf and iat (read from the claims, or remembered with the token:
 * ClaimsKnownGood) against the gateway's clock; 0 or the status after replying.
 */
static int
CheckTimeValues(GwRequest *req, bool has_exp, double exp, bool has_nbf, double nbf,
				bool has_iat, double iat)
{
	double		now = (double) time(NULL);
	char		details[96];

	if (!has_exp)
		return Unauthorized(req, "token has no exp claim", NULL, "Get a token that expires.");
	if (exp <= now)
		return Unauthorized(req, "token expired", NULL, "Get a new token.");
	if (has_nbf && nbf > now + CLOCK_SKEW)
	{
		snprintf(details, sizeof(details), "nbf is %.0f s ahead of the gateway's clock", nbf - now);
		return Unauthorized(req, "token not valid yet", details,
							"Use the token from its nbf time on; check the issuer's clock.");
	}
	if (has_iat && iat > now + CLOCK_SKEW)
	{
		snprintf(details, sizeof(details), "iat is %.0f s ahead of the gateway's clock", iat - now);
		return Unauthorized(req, "token issued in the future", details,
							"Check the issuer's clock (30 s of skew are allowed).");
	}
	return 0;
}

/* exp, nbf, iat and aud; 0 or the status after replying. The times are kept in t. */
static int
CheckTimes(GwRequest *req, json_t *claims, GwThread *t)
{
	double		exp = 0, nbf = 0, iat = 0;
	bool		has_exp, has_nbf, has_iat;
	int			status;

	if (!TimeClaim(claims, "exp", &exp, &has_exp) || !TimeClaim(claims, "nbf", &nbf, &has_nbf) ||
		!TimeClaim(claims, "iat", &iat, &has_iat))
		return Unauthorized(req, "invalid token claims", NULL,
							"exp, nbf and iat are numbers of seconds since 1970 (NumericDate).");
	if ((status = CheckTimeValues(req, has_exp, exp, has_nbf, nbf, has_iat, iat)) != 0)
		return status;
	if (gw_config.jwt_audience != NULL)
	{
		json_t	   *aud = json_object_get(claims, "aud");

		if (aud == NULL)
			return Unauthorized(req, "token has no aud claim", gw_config.jwt_audience,
								"This gateway accepts only tokens issued for its audience.");
		if (!AudienceMatches(aud, gw_config.jwt_audience))
			return Unauthorized(req, "token is for another audience", gw_config.jwt_audience,
								"This gateway accepts only tokens issued for its audience.");
	}
	if (t != NULL)
	{
		t->jwt_has_exp = has_exp, t->jwt_exp = exp;
		t->jwt_has_nbf = has_nbf, t->jwt_nbf = nbf;
		t->jwt_has_iat = has_iat, t->jwt_iat = iat;
	}
	return 0;
}

/*
 * Whether this worker checked the signature of exactly this token, with
 * this key and algorithm, and found it good: jwt_decode's verdict on the
 * same bytes and the same key (keys are read once at start), without its
 * second parse and its HMAC or RSA check, which were a sixth of the
 * gateway's time per request (docs/rest.md#throughput-and-latency-吞吐量与延迟).
 * The comparison takes the same time wherever the tokens differ: the
 * remembered one is another client's credential.
 */
static bool
SignatureKnownGood(GwThread *t, const char *token, const unsigned char *key, int alg)
{
	size_t		len = strlen(token);

	return t != NULL && t->jwt_good != NULL && t->jwt_good_len == len &&
		t->jwt_good_key == (const void *) key && t->jwt_good_alg == alg &&
		CRYPTO_memcmp(t->jwt_good, token, len) == 0;
}

/* Remember a token whose signature jwt_decode has just found good (this worker's last one). */
static void
RememberGoodSignature(GwThread *t, const char *token, const unsigned char *key, int alg)
{
	size_t		len = strlen(token);
	char	   *copy;

	if (t == NULL || (copy = malloc(len + 1)) == NULL)
		return;
	memcpy(copy, token, len + 1);
	free(t->jwt_good);
	t->jwt_good = copy;
	t->jwt_good_len = len;
	t->jwt_good_key = key;
	t->jwt_good_alg = alg;
	t->jwt_claims_ok = false;
}

/*
 * The remembered token's claims, when these are its very bytes and its
 * claims passed: everything AuthenticateBearer reads from a token but its
 * times is a function of the token's bytes and of the configuration, read
 * once at start (the secret, the JWKS keys, the audience, the claim
 * names), so the same bytes come to the same principal. Decoding and
 * parsing its header and payload again (base64url, the JSON limits,
 * jansson) was a third of the gateway's instructions per GET /v1/session. Its times are checked
 * against the clock again here, at the place the full check has them
 * (after the signature, before the claims); the route's roles after.
 */
static bool
ClaimsKnownGood(GwThread *t, const char *token)
{
	size_t		len = strlen(token);

	return t != NULL && t->jwt_claims_ok && t->jwt_good != NULL && t->jwt_good_len == len &&
		CRYPTO_memcmp(t->jwt_good, token, len) == 0;
}

/*
 * Verify the token and fill req->auth from its claims; 0 or the status
 * after replying.
 */
static int
AuthenticateBearer(GwRequest *req, const char *token)
{
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	const char *why = NULL, *alg, *kid;
	json_t	   *header = NULL, *claims = NULL;
	const GwJwk *jwk = NULL;
	const unsigned char *key;
	int			keylen, expected, status = 0, rc;
	const char *claim_role = "role", *claim_operator = "operator_id", *claim_jurisdiction = "jurisdiction";
	jwt_t	   *jwt = NULL;
	char		role[32], sub[sizeof(req->auth.identity) - 4];
	GwThread   *t = mg_get_thread_pointer(req->conn);
	bool		held;

	if (ClaimsKnownGood(t, token))
	{
		if ((status = CheckTimeValues(req, t->jwt_has_exp, t->jwt_exp, t->jwt_has_nbf, t->jwt_nbf,
									  t->jwt_has_iat, t->jwt_iat)) != 0)
			return status;
		memcpy(req->auth.role, t->jwt_auth.role, sizeof(req->auth.role));
		memcpy(req->auth.operator_id, t->jwt_auth.operator_id, sizeof(req->auth.operator_id));
		memcpy(req->auth.jurisdiction, t->jwt_auth.jurisdiction, sizeof(req->auth.jurisdiction));
		memcpy(req->auth.client, t->jwt_auth.client, sizeof(req->auth.client));
		memcpy(req->auth.identity, t->jwt_auth.identity, sizeof(req->auth.identity));
		req->auth.authenticated = true;
		return CheckRouteRole(req, t->jwt_role);
	}
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		return Unauthorized(req, "invalid token", "a JWT has three parts separated by dots", NULL);
	if ((header = TokenPart(token, (size_t) (dot1 - token), &why)) == NULL)
		return Unauthorized(req, "invalid token header", why, NULL);
	if ((claims = TokenPart(dot1 + 1, (size_t) (dot2 - dot1 - 1), &why)) == NULL)
	{
		status = Unauthorized(req, "invalid token payload", why, NULL);
		goto done;
	}
	alg = json_string_value(json_object_get(header, "alg"));
	kid = json_string_value(json_object_get(header, "kid"));
	if (alg == NULL || strcmp(alg, "none") == 0)
	{
		status = Unauthorized(req, "invalid token algorithm", alg ? alg : "no alg",
							  "Unsigned tokens are refused.");
		goto done;
	}
	if (json_object_get(header, "kid") != NULL)
	{
		/* identity provider: the kid names the key, the key the algorithm */
		if (kid == NULL || (jwk = gw_jwks_find(kid)) == NULL)
		{
			status = Unauthorized(req, "unknown token key id", kid,
								  gw_config.jwks_file ? "The kid is not in the gateway's JWKS file."
								  : "This gateway has no JWKS file (jwks_file).");
			goto done;
		}
		expected = jwk->alg;
		if (strcmp(alg, jwt_alg_str((jwt_alg_t) expected)) != 0)
		{
			status = Unauthorized(req, "token algorithm does not match its key", alg,
								  jwk->alg == JWT_ALG_RS256 ? "This key signs RS256." : "This key signs ES256.");
			goto done;
		}
		key = (const unsigned char *) jwk->pem;
		keylen = (int) strlen(jwk->pem);
		claim_role = gw_config.jwt_claim_role;
		claim_operator = gw_config.jwt_claim_operator;
		claim_jurisdiction = gw_config.jwt_claim_jurisdiction;
	}
	else
	{
		expected = JWT_ALG_HS256;
		if (strcmp(alg, "HS256") != 0)
		{
			status = Unauthorized(req, "invalid token algorithm", alg,
								  "Tokens are HS256 with the gateway's secret, or RS256/ES256 with a kid from its JWKS.");
			goto done;
		}
		if (gw_config.jwt_secret == NULL)
		{
			status = Unauthorized(req, "bearer tokens are not configured on this gateway", NULL,
								  "Set jwt_secret in the gateway configuration.");
			goto done;
		}
		key = (const unsigned char *) gw_config.jwt_secret;
		keylen = (int) strlen(gw_config.jwt_secret);
	}

	if (!SignatureKnownGood(t, token, key, expected))
	{
		rc = jwt_decode(&jwt, token, key, keylen);
		if (rc != 0 || jwt == NULL || jwt_get_alg(jwt) != (jwt_alg_t) expected)
		{
			status = Unauthorized(req, "invalid token", NULL, "The signature or the format is wrong.");
			goto done;
		}
		RememberGoodSignature(t, token, key, expected);
	}
	/* t holds this token now (unless its copy failed): its times and claims are kept with it */
	held = SignatureKnownGood(t, token, key, expected);
	if ((status = CheckTimes(req, claims, held ? t : NULL)) != 0)
		goto done;
	if (!ClaimText(claims, claim_role, role, sizeof(role)) ||
		!ClaimText(claims, claim_operator, req->auth.operator_id, sizeof(req->auth.operator_id)) ||
		!ClaimText(claims, claim_jurisdiction, req->auth.jurisdiction, sizeof(req->auth.jurisdiction)) ||
		(jwk == NULL && !ClaimText(claims, "client", req->auth.client, sizeof(req->auth.client))) ||
		!ClaimText(claims, "sub", sub, sizeof(sub)))
	{
		status = Unauthorized(req, "invalid token claims", NULL,
							  "role, operator, jurisdiction and client claims are strings or integers; "
							  "sub is at most 195 bytes.");
		goto done;
	}
	/* the person's login (shilian.identity): what registration and activation bind */
	if (sub[0] != '\0')
		snprintf(req->auth.identity, sizeof(req->auth.identity), "sub:%s", sub);
	for (int i = 0;; i++)
	{
		if (known_roles[i] == NULL)
		{
			status = gw_reply_error(req->conn, 403, "GW403", "unknown role in token", role,
									"The role claim is one of operator, regulator, system, admin, public, national.", NULL);
			goto done;
		}
		if (strcmp(role, known_roles[i]) == 0)
			break;
	}
	/*
	 * The client is provenance (the source of ledger entries): only a system
	 * token from the gateway's own secret may name one, never a person's.
	 */
	if (req->auth.client[0] != '\0' && strcmp(role, "system") != 0)
	{
		req->auth.client[0] = '\0';
		status = Unauthorized(req, "the client claim is only for system tokens", role,
							  "A system client authenticates with its API key (X-API-Key).");
		goto done;
	}
	snprintf(req->auth.role, sizeof(req->auth.role), "shilian_%s", role);
	req->auth.authenticated = true;
	/* the claims passed: remembered with the token (ClaimsKnownGood) */
	if (held)
	{
		t->jwt_auth = req->auth;
		memcpy(t->jwt_role, role, sizeof(t->jwt_role));
		t->jwt_claims_ok = true;
	}
	status = CheckRouteRole(req, role);
done:
	if (jwt != NULL)
		jwt_free(jwt);
	json_decref(header);
	json_decref(claims);
	return status;
}

/* An operator id as the acting operator: 1 to 18 digits, no leading zero (shilian.operator_id). */
static bool
OperatorIdValid(const char *s)
{
	size_t		n = strlen(s);

	return n >= 1 && n <= 18 && strspn(s, "0123456789") == n && s[0] != '0';
}

/*
 * The operator a request acts for. Named by the query parameter operator or
 * the header X-Shilian-Operator (both: they must agree). An operator's token
 * names its operator: naming another is refused. A system client acts for a
 * bound operator (api_client_acting): the named one, else its only binding;
 * a route that acts for an operator (GW_ACTING) needs one, so a client bound
 * to several must name it (400 SLA01) and one bound to none is refused.
 * Regulators and admins are not operators: the parameter is left to the
 * route (the operator a ledger route is asked about).
 */
static int
ResolveActing(GwRequest *req)
{
	const char *hdr = mg_get_header(req->conn, "X-Shilian-Operator");
	char		qbuf[64], details[160];
	const char *q = gw_query_param(req, "operator", qbuf, sizeof(qbuf));
	const char *named = q != NULL ? q : hdr;
	bool		system = strcmp(req->auth.role, "shilian_system") == 0;
	PGconn	   *db;
	PGresult   *res;
	int			status = 0;
	long long	bindings;

	if (!system && strcmp(req->auth.role, "shilian_operator") != 0)
		return 0;
	if (q != NULL && hdr != NULL && strcmp(q, hdr) != 0)
		return gw_reply_error(req->conn, 400, "GW400", "the operator parameter and X-Shilian-Operator differ",
							  NULL, "Name the acting operator once.", NULL);
	if (named != NULL && !OperatorIdValid(named))
		return gw_reply_error(req->conn, 400, "GW400", "invalid acting operator", named,
							  "operator (or X-Shilian-Operator) is an operator id: digits, no leading zero.", NULL);
	/*
	 * An operator's token that names no operator (an identity provider's,
	 * for a person): the operator its login is bound to, bound and activated
	 * on the first login after its registration (identity_operator).
	 */
	if (!system && req->auth.operator_id[0] == '\0' && req->auth.identity[0] != '\0')
	{
		res = gw_exec_first(req->conn, &db, "select shilian.identity_operator($1)", 1,
							(const char *[]) {req->auth.identity});
		if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			status = gw_reply_pg_error(req->conn, res, db);
			PQclear(res);
			return status;
		}
		if (!PQgetisnull(res, 0, 0))
			snprintf(req->auth.operator_id, sizeof(req->auth.operator_id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (!system)
	{
		if (named != NULL && strcmp(named, req->auth.operator_id) != 0)
			return gw_reply_error(req->conn, 403, "GW403", "an operator acts only for itself", named,
								  "Leave out operator, or name the operator of your token.", NULL);
		return 0;
	}
	/* a system token may name its operator: the request may then act only for it */
	if (req->auth.operator_id[0] != '\0')
	{
		if (named != NULL && strcmp(named, req->auth.operator_id) != 0)
			return gw_reply_error(req->conn, 403, "GW403", "this token acts for another operator", named,
								  "Leave out operator, or name the operator of your token.", NULL);
		named = req->auth.operator_id;
	}
	if (req->auth.client[0] == '\0')
	{
		if (named != NULL || (req->route->flags & GW_ACTING))
			return gw_reply_error(req->conn, 403, "GW403", "a system token without a client acts for no operator",
								  NULL, "A system client authenticates with its API key (X-API-Key).", NULL);
		return 0;
	}
	res = gw_exec_first(req->conn, &db, "select acting, bindings from shilian.api_client_acting($1, $2::bigint)",
						2, (const char *[]) {req->auth.client, named});
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		status = gw_reply_pg_error(req->conn, res, db);
		PQclear(res);
		return status;
	}
	bindings = atoll(PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 0))
		snprintf(req->auth.operator_id, sizeof(req->auth.operator_id), "%s", PQgetvalue(res, 0, 0));
	else if (named != NULL)
	{
		snprintf(details, sizeof(details), "client \"%s\", operator %s", req->auth.client, named);
		status = gw_reply_error(req->conn, 403, "GW403", "this system client is not bound to the operator",
								details, "The operator, or a regulator of its jurisdiction, binds the client "
								"(POST /v1/client-bindings).", NULL);
	}
	else if ((req->route->flags & GW_ACTING) && bindings == 0)
		status = gw_reply_error(req->conn, 403, "GW403", "this system client is bound to no operator",
								req->auth.client, "The operator, or a regulator of its jurisdiction, binds the client "
								"(POST /v1/client-bindings).", NULL);
	else if (req->route->flags & GW_ACTING)
	{
		snprintf(details, sizeof(details), "client \"%s\" is bound to %lld operators", req->auth.client, bindings);
		status = gw_reply_error(req->conn, 400, "SLA01", "name the operator this request acts for", details,
								"Send ?operator=<operator id> or the header X-Shilian-Operator.", NULL);
	}
	PQclear(res);
	return status;
}

int
gw_authenticate(GwRequest *req)
{
	const char *hdr = mg_get_header(req->conn, "Authorization");
	const char *apikey = mg_get_header(req->conn, "X-API-Key");
	const char *token;
	int			status;
	size_t		addrlen;

	memset(&req->auth, 0, sizeof(req->auth));
	/* the peer's address (req->auth is all zeros: it stays NUL-terminated) */
	addrlen = strnlen(req->ri->remote_addr, sizeof(req->ri->remote_addr));
	memcpy(req->auth.client_addr, req->ri->remote_addr,
		   addrlen < sizeof(req->auth.client_addr) ? addrlen : sizeof(req->auth.client_addr) - 1);
	/* the Digital Link resolver (/01/..., /t/...) is the same lookup (pages.c) */
	if (strncmp(req->route->pattern, PUBLIC_LOOKUP_PREFIX, strlen(PUBLIC_LOOKUP_PREFIX)) == 0 ||
		strncmp(req->route->pattern, "/01/", 4) == 0 || strncmp(req->route->pattern, "/t/", 3) == 0)
	{
		int			wait = gw_ratelimit_public(req->ri->remote_addr);

		if (wait > 0)
			return Throttled(req, wait, "too many public lookups from this address",
							 "Wait for Retry-After seconds.");
	}
	if (apikey != NULL)
	{
		if (hdr != NULL)
			return gw_reply_error(req->conn, 400, "GW400", "send a bearer token or an API key, not both",
								  NULL, NULL, NULL);
		status = AuthenticateApiKey(req, apikey);
		return status != 0 ? status : ResolveActing(req);
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
	if (strlen(hdr) > AUTH_HEADER_MAX)
		return Unauthorized(req, "authorization header too long", NULL,
							"A token is at most 8192 bytes.");
	if (strncasecmp(hdr, "Bearer ", 7) != 0)
		return Unauthorized(req, "unsupported authorization scheme", NULL, "Use Bearer tokens.");
	token = hdr + 7;
	while (*token == ' ')
		token++;
	status = AuthenticateBearer(req, token);
	return status != 0 ? status : ResolveActing(req);
}
