/*
 * queue_int.h -- what queue.c (spool, committer) and queue_sched.c
 * (scheduler) share; not for other modules.
 */
#ifndef HIKYAKU_QUEUE_QUEUE_INT_H
#define HIKYAKU_QUEUE_QUEUE_INT_H

#include <sys/types.h>

#include "ev/ev_batch.h"
#include "queue/queue.h"

struct ev_batch;
struct queue_sched;

struct queue {
	char *data_dir;
	char *dir;   /* data_dir/queue */
	int dir_fd;  /* data_dir/queue */
	int tmp_fd;  /* queue/tmp */
	int msg_fd;  /* queue/msg */
	int env_fd;  /* queue/env */
	int ctl_fd;  /* queue/ctl */
	int lock_fd; /* queue/sched.lock while the scheduler runs, else -1 */
	uv_loop_t *loop;
	struct ev_batch *committer; /* NULL: commits run inline */
	struct queue_sched *sched;
	queue_agent_fn *agent; /* set before or after queue_start() */
	void *agent_ctx;
};

/* A unit of work for the committer: a new message, an envelope rewrite or
   a removal. Processed in submission order; complete() runs on the loop
   thread (or inline without a loop) with status 1 or -1 and err set. */
enum queue_job_kind { QJ_NEW, QJ_REWRITE, QJ_REMOVE };

struct queue_job {
	struct ev_batch_job link; /* first: the committer's lists */
	enum queue_job_kind kind;
	char id[QUEUE_ID_LEN + 1];
	struct buf env_text; /* envelope to write (NEW, REWRITE) */
	char env_tmp[64];    /* its temp name in queue/tmp */
	int status;
	char err[256];
	void (*complete)(struct queue_job *job);
	void *ctx;
};

/* Queues job (with env_text filled) for durable writing. */
void queue_job_submit(struct queue *q, struct queue_job *job);
/* A REWRITE (env formatted into it) or REMOVE job, heap-allocated; its
   complete() must free it with queue_job_free(). */
struct queue_job *queue_job_new(enum queue_job_kind kind, const struct queue_env *env,
                                void (*complete)(struct queue_job *), void *ctx);
void queue_job_free(struct queue_job *job);

/* Reads and parses env/ID. 1, 0 (no such file), -1 with *error_r. */
int queue_env_load(struct queue *q, const char *id, struct queue_env *env, const char **error_r);
/* Size of msg/ID, or -1. */
int64_t queue_msg_size(struct queue *q, const char *id);

/* The ids in env/, sorted (heap strings). Returns the count, or -1. */
ssize_t queue_list_ids(struct queue *q, char ***ids_r);
/* Takes queue/sched.lock for the scheduler. 0, or -1 when held elsewhere. */
int queue_lock_sched(struct queue *q);

/* Unix seconds by the scheduler's clock (queue_params.now), else time(). */
int64_t queue_now(const struct queue *q);

/* Scheduler hooks called by the spool. added takes over env. */
void queue_sched_added(struct queue *q, struct queue_env *env);
/* Stops timers and dispatch (before the committer stops)... */
void queue_sched_stop(struct queue *q);
/* ...and frees the messages (after: pending callbacks still use them). */
void queue_sched_free(struct queue *q);
/* Handles one ctl request name ("flush", "retry.ID", ...). */
void queue_sched_request(struct queue *q, const char *name);

#endif
