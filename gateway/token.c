/*
 * token.c — `shilian-gateway token`: mint an HS256 token with the gateway's
 * own secret, read exactly as the server reads its configuration (file,
 * environment, flags), so a DBA issues the first admin token without any
 * other tool. The claims are the ones auth.c reads for such tokens.
 */
#define _GNU_SOURCE
#include "gateway.h"

#include <ctype.h>
#include <errno.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
TokenUsage(FILE *out)
{
	fprintf(out,
			"usage: shilian-gateway token --role ROLE --expires DURATION|TIME\n"
			"           [--operator ID] [--jurisdiction CODE] [--client ID]\n"
			"           [--config FILE] [--NAME VALUE]...\n"
			"Prints an HS256 token signed with the gateway's jwt_secret (or jwt_secret_file),\n"
			"read from the same file, environment and flags as the server.\n"
			"  --role          operator, regulator, system, admin or public\n"
			"  --operator      operator id (required for operator)\n"
			"  --jurisdiction  jurisdiction code (required for regulator)\n"
			"  --client        system client id (system tokens only)\n"
			"  --expires       a duration from now: 3600, 90s, 30m, 12h, 30d, 2w;\n"
			"                  or a time: 2027-01-31, 2027-01-31T18:00:00Z, 2027-01-31T18:00:00+08:00\n");
}

/* Seconds for "N" or "N" followed by s, m, h, d or w; -1 when not a duration. */
static long long
Duration(const char *s)
{
	char	   *end;
	long long	n;

	if (!isdigit((unsigned char) s[0]))
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || n <= 0 || n > 100LL * 366 * 86400)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		return n;
	if (strcmp(end, "m") == 0)
		return n * 60;
	if (strcmp(end, "h") == 0)
		return n * 3600;
	if (strcmp(end, "d") == 0)
		return n * 86400;
	if (strcmp(end, "w") == 0)
		return n * 7 * 86400;
	return -1;
}

/*
 * Unix time for YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SS followed by Z
 * or +hh:mm / -hh:mm; -1 when not such a time.
 */
static long long
PointInTime(const char *s)
{
	struct tm	tm;
	int			y, mo, d, h = 0, mi = 0, sec = 0, n = 0, oh = 0, om = 0;
	char		sign = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	s += n;
	if (*s == 'T')
	{
		if (sscanf(s, "T%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3 || n != 9)
			return -1;
		s += n;
		if (*s == 'Z')
			s++;
		else if ((*s == '+' || *s == '-') && sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5)
		{
			sign = *s;
			s += 6;
		}
		else
			return -1;
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
		oh > 14 || om > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	{
		long long	t = (long long) timegm(&tm);
		long long	off = (oh * 3600LL + om * 60LL) * (sign == '-' ? -1 : 1);

		/* timegm normalises 2027-02-31 into March: refuse what it moved */
		if (tm.tm_mday != d || tm.tm_mon != mo - 1)
			return -1;
		return t - off;
	}
}

static bool
AllDigits(const char *s, size_t maxlen)
{
	size_t		n = strlen(s);

	return n > 0 && n <= maxlen && strspn(s, "0123456789") == n;
}

int
gw_token_main(int argc, char **argv)
{
	const char *role = NULL, *operator_id = NULL, *jurisdiction = NULL, *client = NULL, *expires = NULL;
	char	  **rest = calloc((size_t) argc + 1, sizeof(char *));
	int			nrest = 0, rc = 2;
	long long	now = (long long) time(NULL), exp;
	jwt_t	   *jwt = NULL;
	char	   *out = NULL;

	if (rest == NULL)
		return 2;
	rest[nrest++] = "shilian-gateway token";
	for (int i = 1; i < argc; i++)
	{
		const char **target = NULL;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			TokenUsage(stdout);
			free(rest);
			return 0;
		}
		if (strcmp(argv[i], "--role") == 0)
			target = &role;
		else if (strcmp(argv[i], "--operator") == 0)
			target = &operator_id;
		else if (strcmp(argv[i], "--jurisdiction") == 0)
			target = &jurisdiction;
		else if (strcmp(argv[i], "--client") == 0)
			target = &client;
		else if (strcmp(argv[i], "--expires") == 0)
			target = &expires;
		if (target != NULL)
		{
			if (i + 1 >= argc)
			{
				fprintf(stderr, "shilian-gateway token: %s needs a value\n", argv[i]);
				goto done;
			}
			*target = argv[++i];
		}
		else
			rest[nrest++] = argv[i];	/* a configuration flag: gw_config_load's */
	}
	if (role == NULL || expires == NULL)
	{
		fprintf(stderr, "shilian-gateway token: --role and --expires are required\n");
		TokenUsage(stderr);
		goto done;
	}
	if (strcmp(role, "operator") != 0 && strcmp(role, "regulator") != 0 && strcmp(role, "system") != 0 &&
		strcmp(role, "admin") != 0 && strcmp(role, "public") != 0)
	{
		fprintf(stderr, "shilian-gateway token: unknown role \"%s\": operator, regulator, system, admin or public\n", role);
		goto done;
	}
	if (operator_id != NULL && (!AllDigits(operator_id, 18) || operator_id[0] == '0'))
	{
		fprintf(stderr, "shilian-gateway token: --operator is an operator id (a positive integer)\n");
		goto done;
	}
	if (strcmp(role, "operator") == 0 && operator_id == NULL)
	{
		fprintf(stderr, "shilian-gateway token: an operator token needs --operator\n");
		goto done;
	}
	if (jurisdiction != NULL && !AllDigits(jurisdiction, 12))
	{
		fprintf(stderr, "shilian-gateway token: --jurisdiction is a jurisdiction code (6 or more digits)\n");
		goto done;
	}
	if (strcmp(role, "regulator") == 0 && jurisdiction == NULL)
	{
		fprintf(stderr, "shilian-gateway token: a regulator token needs --jurisdiction\n");
		goto done;
	}
	if (client != NULL && strcmp(role, "system") != 0)
	{
		fprintf(stderr, "shilian-gateway token: --client is for system tokens only (it is the source of their records)\n");
		goto done;
	}
	if (client != NULL && (client[0] == '\0' || strlen(client) > 63))
	{
		fprintf(stderr, "shilian-gateway token: --client is a client id of 1 to 63 characters\n");
		goto done;
	}
	if ((exp = Duration(expires)) > 0)
		exp += now;
	else if ((exp = PointInTime(expires)) < 0)
	{
		fprintf(stderr, "shilian-gateway token: --expires \"%s\" is neither a duration (30d, 12h, 3600) nor a time (2027-01-31T18:00:00Z)\n",
				expires);
		goto done;
	}
	if (exp <= now)
		fprintf(stderr, "shilian-gateway token: warning: this token has already expired\n");

	if (gw_config_load(nrest, rest) != 0)
		goto done;
	if (gw_config.jwt_secret == NULL)
	{
		fprintf(stderr, "shilian-gateway token: no jwt_secret (or jwt_secret_file) configured\n");
		goto done;
	}
	if (jwt_new(&jwt) != 0 ||
		jwt_add_grant(jwt, "role", role) != 0 ||
		(operator_id && jwt_add_grant(jwt, "operator_id", operator_id) != 0) ||
		(jurisdiction && jwt_add_grant(jwt, "jurisdiction", jurisdiction) != 0) ||
		(client && jwt_add_grant(jwt, "client", client) != 0) ||
		(gw_config.jwt_audience && jwt_add_grant(jwt, "aud", gw_config.jwt_audience) != 0) ||
		jwt_add_grant_int(jwt, "iat", (long) now) != 0 ||
		jwt_add_grant_int(jwt, "exp", (long) exp) != 0 ||
		jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *) gw_config.jwt_secret,
					(int) strlen(gw_config.jwt_secret)) != 0 ||
		(out = jwt_encode_str(jwt)) == NULL)
	{
		fprintf(stderr, "shilian-gateway token: cannot sign the token\n");
		goto done;
	}
	printf("%s\n", out);
	rc = 0;
done:
	free(out);
	if (jwt)
		jwt_free(jwt);
	free(rest);
	gw_config_free();
	return rc;
}
