/*
 * ratelimit.c — per-address throttles: exponential backoff after repeated
 * failed API keys, and a fixed-window rate limit on the public lookup. One
 * fixed-size table keyed by the client address, under one mutex: memory
 * never grows with the number of addresses; when a probe run is full, the
 * least recently seen entry in it gives way.
 */
#include "gateway.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define RL_SLOTS 4096			/* power of two */
#define RL_PROBE 16				/* slots looked at per address */
#define RL_FORGET_MS (15 * 60 * 1000)	/* failures forgotten after this long without one */

typedef struct RlEntry
{
	char		addr[48];		/* as civetweb prints it; "" = free */
	int64_t		last_seen;		/* ms, monotonic */
	/* failed API keys */
	int			fails;
	int64_t		last_fail;
	int64_t		blocked_until;
	/* public lookups: requests in the window starting at window_start */
	int64_t		window_start;
	int			window_count;
} RlEntry;

static RlEntry table[RL_SLOTS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t
NowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* FNV-1a over the address text. */
static uint32_t
Hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

/* Whole seconds to wait until `until` (at least 1): the Retry-After value. */
static int
SecondsUntil(int64_t until, int64_t now)
{
	int64_t		ms = until - now;

	return ms <= 0 ? 1 : (int) ((ms + 999) / 1000);
}

/*
 * The entry for addr, found or made (the caller holds the lock). A new
 * address takes a free slot of its probe run, or else the one seen least
 * recently: an attacker cycling addresses can push entries out, but cannot
 * make the table grow.
 */
static RlEntry *
Lookup(const char *addr, int64_t now)
{
	uint32_t	h = Hash(addr);
	RlEntry    *victim = NULL;

	for (int i = 0; i < RL_PROBE; i++)
	{
		RlEntry    *e = &table[(h + (uint32_t) i) & (RL_SLOTS - 1)];

		if (strcmp(e->addr, addr) == 0 && e->addr[0] != '\0')
		{
			e->last_seen = now;
			return e;
		}
		if (victim == NULL || (victim->addr[0] != '\0' &&
							   (e->addr[0] == '\0' || e->last_seen < victim->last_seen)))
			victim = e;
	}
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->addr, sizeof(victim->addr), "%s", addr);
	victim->last_seen = now;
	return victim;
}

int
gw_ratelimit_apikey_wait(const char *addr)
{
	int64_t		now = NowMs();
	int			wait = 0;
	RlEntry    *e;

	pthread_mutex_lock(&table_lock);
	e = Lookup(addr, now);
	if (e->blocked_until > now)
		wait = SecondsUntil(e->blocked_until, now);
	pthread_mutex_unlock(&table_lock);
	return wait;
}

void
gw_ratelimit_apikey_result(const char *addr, bool ok)
{
	int64_t		now = NowMs();
	RlEntry    *e;

	pthread_mutex_lock(&table_lock);
	e = Lookup(addr, now);
	if (ok)
	{
		e->fails = 0;
		e->blocked_until = 0;
	}
	else
	{
		if (e->fails > 0 && now - e->last_fail > RL_FORGET_MS)
			e->fails = 0;
		if (e->fails < 1000000)
			e->fails++;
		e->last_fail = now;
		if (e->fails >= gw_config.apikey_fail_threshold)
		{
			/* base × 2^(failures past the threshold), capped */
			int64_t		delay = gw_config.apikey_backoff_ms;
			int			doublings = e->fails - gw_config.apikey_fail_threshold;

			while (doublings-- > 0 && delay < gw_config.apikey_backoff_max_ms)
				delay *= 2;
			if (delay > gw_config.apikey_backoff_max_ms)
				delay = gw_config.apikey_backoff_max_ms;
			e->blocked_until = now + delay;
		}
	}
	pthread_mutex_unlock(&table_lock);
}

int
gw_ratelimit_public(const char *addr)
{
	int64_t		now = NowMs();
	int			wait = 0;
	RlEntry    *e;

	pthread_mutex_lock(&table_lock);
	e = Lookup(addr, now);
	if (e->window_start == 0 || now - e->window_start >= gw_config.public_rate_window_ms)
	{
		e->window_start = now;
		e->window_count = 0;
	}
	if (e->window_count >= gw_config.public_rate_limit)
		wait = SecondsUntil(e->window_start + gw_config.public_rate_window_ms, now);
	else
		e->window_count++;
	pthread_mutex_unlock(&table_lock);
	return wait;
}
