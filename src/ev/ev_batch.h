/*
 * ev_batch.h -- group commit on a libuv loop: one worker thread takes every
 * job submitted since it last looked and runs them as ONE batch (so that
 * the expensive part, a syncfs() barrier, is paid once per batch, not per
 * job); the finished batch is handed back to the loop thread.
 *
 * Jobs are intrusive: a struct embeds `struct ev_batch_job` as its FIRST
 * member and is converted back with a cast. The run function must not touch
 * loop-thread state (SQLite, sessions); the complete function runs on the
 * loop thread and usually frees the jobs.
 * Used by store/maildir.c and queue/queue.c.
 */
#ifndef HIKYAKU_EV_EV_BATCH_H
#define HIKYAKU_EV_EV_BATCH_H

#include <uv.h>

struct ev_batch_job {
	struct ev_batch_job *next;
};

/* Called with a NULL-terminated list, in submission order. */
typedef void ev_batch_fn(void *ctx, struct ev_batch_job *list);

struct ev_batch;

/* Starts the worker thread (signals blocked in it) and the loop's wake-up
   handle. Returns NULL if either cannot be had. */
struct ev_batch *ev_batch_new(uv_loop_t *loop, ev_batch_fn *run, ev_batch_fn *complete,
    void *ctx);
/* Queues a job (loop thread). */
void ev_batch_submit(struct ev_batch *b, struct ev_batch_job *job);
/* Runs what is pending, completes every finished job (on the calling
   thread), stops the worker and frees; *b = NULL. Accepts NULL. */
void ev_batch_free(struct ev_batch **b);

#endif
