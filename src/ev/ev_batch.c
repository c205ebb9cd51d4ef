/*
 * ev_batch.c -- one worker thread, a pending list and a done list under
 * one mutex, and a uv_async_t to wake the loop (see ev_batch.h).
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/xalloc.h"
#include "ev/ev_batch.h"

struct ev_batch {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ev_batch_job *pending, **pending_tail;
	struct ev_batch_job *done, **done_tail;
	bool stopping;
	uv_async_t *async;
	ev_batch_fn *run, *complete;
	void *ctx;
};

static void *
ev_batch_main(void *arg)
{
	struct ev_batch *b = arg;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct ev_batch_job *batch;

		while (b->pending == NULL && !b->stopping)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->pending == NULL)
			break;
		batch = b->pending;
		b->pending = NULL;
		b->pending_tail = &b->pending;
		pthread_mutex_unlock(&b->mu);

		b->run(b->ctx, batch);

		pthread_mutex_lock(&b->mu);
		*b->done_tail = batch;
		while (*b->done_tail != NULL)
			b->done_tail = &(*b->done_tail)->next;
		uv_async_send(b->async);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* ev_batch_take_done - the finished jobs, for the loop thread. */
static struct ev_batch_job *
ev_batch_take_done(struct ev_batch *b)
{
	struct ev_batch_job *list;

	pthread_mutex_lock(&b->mu);
	list = b->done;
	b->done = NULL;
	b->done_tail = &b->done;
	pthread_mutex_unlock(&b->mu);
	return list;
}

static void
ev_batch_on_async(uv_async_t *h)
{
	struct ev_batch *b = h->data;
	struct ev_batch_job *list = ev_batch_take_done(b);

	if (list != NULL)
		b->complete(b->ctx, list);
}

static void
ev_batch_free_handle(uv_handle_t *h)
{
	free(h);
}

struct ev_batch *
ev_batch_new(uv_loop_t *loop, ev_batch_fn *run, ev_batch_fn *complete, void *ctx)
{
	struct ev_batch *b = xcalloc(1, sizeof(*b));
	sigset_t all, old;
	int rc;

	b->pending_tail = &b->pending;
	b->done_tail = &b->done;
	b->run = run;
	b->complete = complete;
	b->ctx = ctx;
	b->async = xcalloc(1, sizeof(*b->async));
	b->async->data = b;
	if (uv_async_init(loop, b->async, ev_batch_on_async) != 0) {
		free(b->async);
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	/* Signals are the loop thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&b->thread, NULL, ev_batch_main, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		uv_close((uv_handle_t *)b->async, ev_batch_free_handle);
		pthread_mutex_destroy(&b->mu);
		pthread_cond_destroy(&b->cv);
		free(b);
		return NULL;
	}
	return b;
}

void
ev_batch_submit(struct ev_batch *b, struct ev_batch_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&b->mu);
	*b->pending_tail = job;
	b->pending_tail = &job->next;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

void
ev_batch_free(struct ev_batch **bp)
{
	struct ev_batch *b = *bp;
	struct ev_batch_job *list;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stopping = true;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL); /* the worker drains `pending` first */
	if ((list = ev_batch_take_done(b)) != NULL)
		b->complete(b->ctx, list);
	/* The handle's memory goes with its close callback, whenever the loop
	   next runs; the loop keeps it reachable until then. */
	uv_close((uv_handle_t *)b->async, ev_batch_free_handle);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
	*bp = NULL;
}
