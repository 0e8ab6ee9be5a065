/*
 * import_job.c — an import job's life on an upload connection. The gateway
 * that applies a job holds its lease (import_lease: the gateway's name and
 * until when, with the job's advisory lock for the session), renewed in a
 * transaction of its own before each apply step for longer than the step may
 * take (upload_apply_timeout_ms is the step's statement timeout). A step is
 * import_apply of import_chunk_lines lines (apply_valid) or of the whole job
 * (all_or_nothing), run as the job's caller. A job nobody runs any more (its
 * gateway was killed or stopped, or met a transient error) is taken up by
 * the sweep of any gateway, at start and every import_sweep_ms
 * (import_claim), and resumed from its staged lines, or failed when they
 * were lost. An upload answered 202 is handed over to a runner thread that
 * applies it in the background. docs/integration.md has the states.
 */
#include "gateway.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Added to the step's statement timeout: the lease outlives any step. */
#define LEASE_MARGIN_MS 30000

static char holder[160];
const char *gw_job_holder = holder;

static pthread_mutex_t sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cond = PTHREAD_COND_INITIALIZER;
static bool stopping;
static bool sweeping;
static pthread_t sweeper;

bool
gw_import_stopping(void)
{
	return __atomic_load_n(&stopping, __ATOMIC_SEQ_CST);
}

int
gw_job_lease_ms(void)
{
	long		ms = gw_config.upload_apply_timeout_ms + LEASE_MARGIN_MS;

	return ms > 2000000000L ? 2000000000 : (int) ms;
}

static bool
Ok(PGresult *res)
{
	return PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;
}

/* Errors after which the job goes on later, from its staged lines. */
static bool
Transient(const char *s)
{
	return strncmp(s, "08", 2) == 0 || strncmp(s, "40", 2) == 0 || strncmp(s, "53", 2) == 0 ||
		strcmp(s, "55P03") == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
		strcmp(s, "57P03") == 0 || strcmp(s, "SLI05") == 0;
}

/*
 * A step failed: the connection is lost, the job is left for later, or it is
 * failed with the error as its reason (staging removed). *err keeps the
 * error for the reply.
 */
static GwJobEnd
StepFailed(PGconn *db, const char *job, PGresult *res, PGresult **err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char		reason[600];
	PGresult   *r;

	if (state == NULL || PQstatus(db) != CONNECTION_OK)
	{
		PQclear(res);
		return GW_JOB_LOST;
	}
	if (PQtransactionStatus(db) != PQTRANS_IDLE)
		PQclear(PQexec(db, "ROLLBACK"));
	*err = res;
	if (Transient(state))
		return GW_JOB_LEFT;
	snprintf(reason, sizeof(reason), "applying the lines stopped on an error: %s %s%s", state,
			 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
			 strcmp(state, "57014") == 0 ? " (an apply step took longer than upload_apply_timeout_ms)" : "");
	{
		const char *p[3] = {job, holder, reason};

		r = PQexecParams(db, "select shilian.import_fail($1::bigint, $2, $3)", 3, NULL, p, NULL, NULL, 0);
	}
	if (!Ok(r))
	{
		fprintf(stderr, "shilian-gateway: import job %s: cannot record its failure: %s", job,
				PQerrorMessage(db));
		PQclear(r);
		return PQstatus(db) == CONNECTION_OK ? GW_JOB_LEFT : GW_JOB_LOST;
	}
	PQclear(r);
	return GW_JOB_FAILED;
}

GwJobEnd
gw_job_run(PGconn *db, const GwAuth *who, const char *job, bool all_or_nothing, PGresult **err)
{
	char		chunk[16], lease[16];
	int			timeout = gw_config.upload_apply_timeout_ms > 2000000000L ? 2000000000 :
		(int) gw_config.upload_apply_timeout_ms;

	*err = NULL;
	snprintf(chunk, sizeof(chunk), "%d", gw_config.import_chunk_lines > 0 ? gw_config.import_chunk_lines : 20000);
	snprintf(lease, sizeof(lease), "%d", gw_job_lease_ms());
	for (;;)
	{
		PGresult   *res;
		int			left;

		if (gw_import_stopping())
			return GW_JOB_LEFT;
		/* the lease, renewed and committed before the step: others see it cover the step */
		{
			const char *p[3] = {job, holder, lease};

			res = PQexecParams(db, "select shilian.import_lease($1::bigint, $2, $3::integer)", 3, NULL, p,
							   NULL, NULL, 0);
		}
		if (!Ok(res))
			return StepFailed(db, job, res, err);
		PQclear(res);
		res = PQexec(db, "BEGIN");
		if (!Ok(res))
			return StepFailed(db, job, res, err);
		PQclear(res);
		res = gw_set_principal(db, who, timeout);
		if (!Ok(res))
			return StepFailed(db, job, res, err);
		PQclear(res);
		{
			const char *p[2] = {job, all_or_nothing ? NULL : chunk};

			res = PQexecParams(db, "select shilian.import_apply($1::bigint, $2::integer)", 2, NULL, p,
							   NULL, NULL, 0);
		}
		if (!Ok(res))
			return StepFailed(db, job, res, err);
		left = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		res = PQexec(db, "COMMIT");
		if (!Ok(res))
			return StepFailed(db, job, res, err);
		PQclear(res);
		if (all_or_nothing || left <= 0)
			return GW_JOB_DONE;
	}
}

/* Let go of a job: its lock, and its lease if it is still running. */
void
gw_job_release(PGconn *db, const char *job)
{
	const char *p[2] = {job, holder};

	if (PQstatus(db) == CONNECTION_OK)
		PQclear(PQexecParams(db, "select shilian.import_release($1::bigint, $2)", 2, NULL, p, NULL, NULL, 0));
}

static const char *
EndName(GwJobEnd end)
{
	switch (end)
	{
		case GW_JOB_DONE: return "finished";
		case GW_JOB_FAILED: return "failed";
		case GW_JOB_LEFT: return "left for later";
		case GW_JOB_LOST: return "lost its connection";
	}
	return "?";
}

/* Take up the jobs nobody runs, one at a time, while an upload connection is free. */
static void
SweepOnce(void)
{
	while (!gw_import_stopping())
	{
		bool		busy;
		GwUpload   *u = gw_upload_acquire(&busy);
		PGconn	   *db;
		PGresult   *res, *err = NULL;
		GwAuth		who;
		char		job[32];
		bool		all;
		GwJobEnd	end;

		if (u == NULL)
			return;
		db = gw_upload_db(u);
		{
			char		lease[16];
			const char *p[2] = {holder, lease};

			snprintf(lease, sizeof(lease), "%d", gw_job_lease_ms());
			res = PQexecParams(db, "select job, role_name, operator_id, client, jurisdiction, mode "
							   "from shilian.import_claim($1, $2::integer)", 2, NULL, p, NULL, NULL, 0);
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0)
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			/* quiet where the extension is not (yet) installed */
			if (PQresultStatus(res) != PGRES_TUPLES_OK &&
				(state == NULL || (strcmp(state, "42883") != 0 && strcmp(state, "3F000") != 0)))
				fprintf(stderr, "shilian-gateway: import sweep: %s", PQerrorMessage(db));
			PQclear(res);
			/* nothing to do: no connection is kept idle for the sweep's sake */
			gw_upload_release_ex(u, true);
			return;
		}
		memset(&who, 0, sizeof(who));
		who.authenticated = true;
		snprintf(job, sizeof(job), "%s", PQgetvalue(res, 0, 0));
		snprintf(who.role, sizeof(who.role), "%s", PQgetvalue(res, 0, 1));
		snprintf(who.operator_id, sizeof(who.operator_id), "%s", PQgetvalue(res, 0, 2));
		snprintf(who.client, sizeof(who.client), "%s", PQgetvalue(res, 0, 3));
		snprintf(who.jurisdiction, sizeof(who.jurisdiction), "%s", PQgetvalue(res, 0, 4));
		all = strcmp(PQgetvalue(res, 0, 5), "all_or_nothing") == 0;
		PQclear(res);
		fprintf(stderr, "shilian-gateway: import job %s: nobody ran it, resuming it\n", job);
		end = gw_job_run(db, &who, job, all, &err);
		fprintf(stderr, "shilian-gateway: import job %s: %s%s%s\n", job, EndName(end), err ? ": " : "",
				err ? PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY) : "");
		PQclear(err);
		if (end != GW_JOB_LOST)
			gw_job_release(db, job);
		gw_upload_release(u);
	}
}

static void *
Sweep(void *arg)
{
	pthread_mutex_lock(&sweep_lock);
	while (!stopping)
	{
		struct timespec until;

		pthread_mutex_unlock(&sweep_lock);
		SweepOnce();
		pthread_mutex_lock(&sweep_lock);
		if (stopping)
			break;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += gw_config.import_sweep_ms / 1000;
		until.tv_nsec += (gw_config.import_sweep_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L)
			until.tv_sec++, until.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&sweep_cond, &sweep_lock, &until);
	}
	pthread_mutex_unlock(&sweep_lock);
	return NULL;
}

/*
 * Jobs answered 202 (POST /v1/import without Prefer: wait): each is handed
 * over, staged and leased, with the upload connection that holds its lock,
 * and a runner applies it in the background. There are as many runners as
 * upload connections, so a handed job never waits behind another.
 */
typedef struct Handed
{
	struct Handed *next;
	GwUpload   *up;
	GwAuth		who;
	char		job[32];
	bool		all;
} Handed;

static Handed *handed_head, *handed_tail;
static pthread_cond_t handed_cond = PTHREAD_COND_INITIALIZER;
static pthread_t *runners;
static int	nrunners;

/* A handed job nobody will run here: its lease and lock let go, for the sweep of any gateway. */
static void
LetGo(Handed *h)
{
	gw_job_release(gw_upload_db(h->up), h->job);
	gw_upload_release(h->up);
	free(h);
}

static void *
Runner(void *arg)
{
	(void) arg;
	for (;;)
	{
		Handed	   *h;
		PGresult   *err = NULL;
		GwJobEnd	end;

		pthread_mutex_lock(&sweep_lock);
		while (!stopping && handed_head == NULL)
			pthread_cond_wait(&handed_cond, &sweep_lock);
		if (stopping)
		{
			pthread_mutex_unlock(&sweep_lock);
			return NULL;
		}
		h = handed_head;
		handed_head = h->next;
		if (handed_head == NULL)
			handed_tail = NULL;
		pthread_mutex_unlock(&sweep_lock);

		end = gw_job_run(gw_upload_db(h->up), &h->who, h->job, h->all, &err);
		if (end != GW_JOB_DONE)
			fprintf(stderr, "shilian-gateway: import job %s: %s%s%s\n", h->job, EndName(end), err ? ": " : "",
					err ? PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY) : "");
		PQclear(err);
		if (end != GW_JOB_LOST)
			gw_job_release(gw_upload_db(h->up), h->job);
		gw_upload_release(h->up);
		free(h);
	}
}

void
gw_job_hand_over(GwUpload *up, const GwAuth *who, const char *job, bool all_or_nothing)
{
	Handed	   *h = calloc(1, sizeof(Handed));

	if (h == NULL)
	{
		gw_job_release(gw_upload_db(up), job);
		gw_upload_release(up);
		return;
	}
	h->up = up;
	h->who = *who;
	snprintf(h->job, sizeof(h->job), "%s", job);
	h->all = all_or_nothing;
	pthread_mutex_lock(&sweep_lock);
	if (stopping || nrunners == 0)
	{
		pthread_mutex_unlock(&sweep_lock);
		LetGo(h);
		return;
	}
	if (handed_tail)
		handed_tail->next = h;
	else
		handed_head = h;
	handed_tail = h;
	pthread_cond_signal(&handed_cond);
	pthread_mutex_unlock(&sweep_lock);
}

int
gw_import_jobs_start(void)
{
	char		host[64] = "localhost";
	int			want = gw_config.upload_pool_size > 0 ? gw_config.upload_pool_size : 1;

	gethostname(host, sizeof(host) - 1);
	snprintf(holder, sizeof(holder), "gateway %s:%ld started %ld", host, (long) getpid(), (long) time(NULL));
	runners = calloc((size_t) want, sizeof(pthread_t));
	if (runners == NULL)
		return -1;
	/* under the lock: a request may hand a job over while the runners start */
	pthread_mutex_lock(&sweep_lock);
	while (nrunners < want && pthread_create(&runners[nrunners], NULL, Runner, NULL) == 0)
		nrunners++;
	pthread_mutex_unlock(&sweep_lock);
	if (nrunners < want)
		return -1;
	sweeping = pthread_create(&sweeper, NULL, Sweep, NULL) == 0;
	return sweeping ? 0 : -1;
}

/* Stop the sweep, and every job's apply after its current step. */
void
gw_import_jobs_stop(void)
{
	pthread_mutex_lock(&sweep_lock);
	__atomic_store_n(&stopping, true, __ATOMIC_SEQ_CST);
	pthread_cond_signal(&sweep_cond);
	pthread_cond_broadcast(&handed_cond);
	pthread_mutex_unlock(&sweep_lock);
	if (sweeping)
		pthread_join(sweeper, NULL);
	sweeping = false;
	/* the runners stop after their job's current step; jobs not begun are let go */
	for (int i = 0; i < nrunners; i++)
		pthread_join(runners[i], NULL);
	pthread_mutex_lock(&sweep_lock);
	nrunners = 0;
	while (handed_head != NULL)
	{
		Handed	   *h = handed_head;

		handed_head = h->next;
		LetGo(h);
	}
	handed_tail = NULL;
	pthread_mutex_unlock(&sweep_lock);
	free(runners);
	runners = NULL;
}
