/*
 * serve_auth.c -- the password check behind SMTP AUTH, IMAP LOGIN and
 * AUTHENTICATE, and POP3 USER/PASS and AUTH.
 *
 * argon2id costs ~64 MiB and tens of milliseconds, so it runs in the libuv
 * thread pool. Security: unknown users are checked against a dummy hash
 * (same cost: no probing by timing); failures feed the per-IP lockout
 * (anvil) and are answered only after smtpd_error_sleep_time; passwords
 * are wiped from every copy this file makes.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/serve.h"
#include "conf/conf.h"
#include "net/anvil.h"
#include "store/store.h"

/* An AUTH check on its way through the thread pool. */
struct auth_job {
	uv_work_t work;
	uv_timer_t delay;
	struct app *app;
	serve_auth_fn *done;
	void *ctx;
	char ip[64];
	char hash[crypto_pwhash_STRBYTES];
	char password[1025];
	bool ok;
};

/* A hash for unknown users, so that they cost the same check as known ones
   (no user probing by timing). Made on first need, in the thread pool:
   argon2id's 64 MiB at start-up would be the daemon's peak memory. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_hash_init(void)
{
	unsigned char pw[32];

	randombytes_buf(pw, sizeof(pw));
	if (crypto_pwhash_str(dummy_hash, (const char *)pw, sizeof(pw), STORE_PWHASH_OPSLIMIT,
		STORE_PWHASH_MEMLIMIT) != 0)
		die("cannot compute the dummy password hash");
	sodium_memzero(pw, sizeof(pw));
}

static void
auth_job_work(uv_work_t *w)
{
	struct auth_job *job = w->data;

	if (job->hash[0] == '\0') {
		pthread_once(&dummy_once, dummy_hash_init);
		memcpy(job->hash, dummy_hash, sizeof(job->hash));
	}
	job->ok = store_password_verify(job->hash, job->password) == 1;
	sodium_memzero(job->password, sizeof(job->password));
}

static void
auth_job_free(uv_handle_t *h)
{
	struct auth_job *job = h->data;

	sodium_memzero(job, sizeof(*job));
	free(job);
}

static void
auth_job_delayed(uv_timer_t *t)
{
	struct auth_job *job = t->data;

	job->done(job->ctx, false);
	uv_close((uv_handle_t *)&job->delay, auth_job_free);
}

/* auth_job_done - back on the loop: count failures, delay the bad news. */
static void
auth_job_done(uv_work_t *w, int status)
{
	struct auth_job *job = w->data;
	struct app *app = job->app;
	const char *ip = job->ip;

	if (status == 0 && job->ok) {
		anvil_auth_ok(app->anvil, ip);
		job->done(job->ctx, true);
		uv_close((uv_handle_t *)&job->delay, auth_job_free);
		return;
	}
	anvil_auth_fail(app->anvil, ip, uv_now(app->loop), app->conf->smtpd_auth_failure_limit,
	    app->conf->smtpd_auth_lockout_time);
	/* Postfix smtpd_error_sleep_time: slow down password guessing. */
	uv_timer_start(&job->delay, auth_job_delayed, app->conf->smtpd_error_sleep_time, 0);
}

bool
serve_auth_locked(struct app *app, const char *ip)
{
	return anvil_auth_locked(app->anvil, ip, uv_now(app->loop));
}

void
serve_auth_check(struct app *app, const char *ip, const char *user, const char *password,
    serve_auth_fn *done, void *ctx)
{
	struct auth_job *job = xcalloc(1, sizeof(*job));

	job->app = app;
	job->done = done;
	job->ctx = ctx;
	snprintf(job->ip, sizeof(job->ip), "%s", ip);
	job->work.data = job;
	uv_timer_init(app->loop, &job->delay);
	job->delay.data = job;
	snprintf(job->password, sizeof(job->password), "%s", password);
	/* Unknown user: an empty hash, which the worker replaces with the dummy. */
	if (store_user_get_hash(app->store, user, job->hash) != 1)
		job->hash[0] = '\0';
	uv_queue_work(app->loop, &job->work, auth_job_work, auth_job_done);
}
