/*
 * mailbox_job.c -- the per-account job queue on the libuv thread pool.
 *
 * Every write (files or index) is a job. An account runs one job at a time,
 * in submission order, so its index has exactly one writer and completions
 * come back to the loop in the order the changes were made: memory then
 * follows the index step by step. A job's run function must not touch
 * loop-thread state; its complete function runs on the loop and frees it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "base/log.h"
#include "store/mailbox_int.h"

static void job_start(struct mailbox_user *u);

static void
job_work(uv_work_t *w)
{
	struct mbx_job *j = w->data;

	if (j->run != NULL) /* NULL: refused before it ran */
		j->run(j);
}

static void
job_after(uv_work_t *w, int status)
{
	struct mbx_job *j = w->data;
	struct mailbox_user *u = j->u;

	if (status == UV_ECANCELED && j->status == 0)
		mbx_job_fail(j, "cancelled");
	u->jobs = j->next;
	if (u->jobs == NULL)
		u->jobs_tail = NULL;
	u->running = false;
	j->complete(j);
	job_start(u);
	/* The job held a reference: the user may go now. */
	mbx_user_unref(u);
}

static void
job_start(struct mailbox_user *u)
{
	struct mbx_job *j = u->jobs;

	if (u->running || j == NULL)
		return;
	u->running = true;
	j->work.data = j;
	/* Fails only for a NULL callback: our bug. */
	if (uv_queue_work(u->ms->loop, &j->work, job_work, job_after) != 0)
		panic("uv_queue_work failed");
}

void
mbx_job_submit(struct mailbox_user *u, struct mbx_job *j, struct mailbox_view *v)
{
	j->u = u;
	j->v = v;
	j->next = NULL;
	u->refs++;
	if (u->jobs_tail != NULL)
		u->jobs_tail->next = j;
	else
		u->jobs = j;
	u->jobs_tail = j;
	job_start(u);
}

void
mbx_job_fail(struct mbx_job *j, const char *fmt, ...)
{
	va_list ap;

	if (j->status == -1)
		return; /* keep the first reason */
	j->status = -1;
	va_start(ap, fmt);
	vsnprintf(j->err, sizeof(j->err), fmt, ap);
	va_end(ap);
}

bool
mbx_job_busy(const struct mailbox_user *u)
{
	return u->jobs != NULL;
}
