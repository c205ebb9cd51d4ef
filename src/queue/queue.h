/*
 * queue.h -- the outbound spool and its scheduler.
 *
 * One durable spool, data_dir/queue/, for everything that leaves: mail that
 * submission accepts for other domains, bounces, and `hikyaku sendmail`.
 *   queue/tmp/     files being written (removed at the next queue_open()
 *                  when older than a day; a fresh one may be another
 *                  process's transaction)
 *   queue/msg/ID   the message: its bytes, CRLF, trace header included
 *   queue/env/ID   the envelope (format: queue_env_format() below); a
 *                  message is in the queue exactly when env/ID exists
 *   queue/ctl/     requests to the running scheduler: "pickup" (new mail
 *                  written by another process), "flush", "retry.ID",
 *                  "delete.ID"; the scheduler watches the directory
 *                  (uv_fs_event) and removes each request it has handled
 *   queue/sched.lock  flock(LOCK_EX) held by the scheduler: tells the CLI
 *                  whether to act on the files itself or ask the daemon
 * Durability: data written to tmp, syncfs(), renamed into msg/ and env/
 * (env last), syncfs() again, then the caller hears "queued". Envelope
 * rewrites after a delivery attempt (tmp + rename) follow the same two
 * barriers before the scheduler acts on them. Group commit: with a loop,
 * one committer thread takes every pending write as a batch, so that the
 * two barriers are shared (the approach of store/maildir.c).
 * Threads: everything here is for the loop thread (or a CLI with no loop).
 * Status convention: 1 done/found, 0 not found/nothing to do, -1 error with
 * *error_r set (static or thread-local storage, valid until the next call).
 * Standards: RFC 5321 4.5.4 (retry strategy), RFC 3461 (NOTIFY, ORCPT,
 * RET, ENVID kept per message and recipient), RFC 3464 (bounces: msg/dsn.h).
 * Security: ids are generated here and checked (queue_id_valid) before
 * they become file names; envelope files are parsed as untrusted input
 * (fuzzed by tests/fuzz/fuzz_queue_env.c).
 */
#ifndef HIKYAKU_QUEUE_QUEUE_H
#define HIKYAKU_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"

/* "<14 hex: arrival in us>.<6 hex: pid>.<4 hex: seq>": sortable by arrival. */
#define QUEUE_ID_LEN 26
#define QUEUE_MAX_RCPTS 10000
/* Longest envelope line (a recipient's last reply is truncated to fit). */
#define QUEUE_ENV_MAX_LINE 2048
#define QUEUE_ENV_MAX_SIZE (QUEUE_MAX_RCPTS * 4 * (size_t)QUEUE_ENV_MAX_LINE)
#define QUEUE_MAX_REPLY 512

/* Per-message flags. */
enum {
	QUEUE_F_SMTPUTF8 = 1 << 0,
	QUEUE_F_8BITMIME = 1 << 1,
	QUEUE_F_WARNED = 1 << 2, /* a delay warning has been sent */
};

/* RFC 3461 NOTIFY; 0 means "not given" (treated as FAILURE,DELAY). */
enum {
	QUEUE_NOTIFY_NEVER = 1 << 0,
	QUEUE_NOTIFY_SUCCESS = 1 << 1,
	QUEUE_NOTIFY_FAILURE = 1 << 2,
	QUEUE_NOTIFY_DELAY = 1 << 3,
};

enum queue_ret { QUEUE_RET_DEFAULT, QUEUE_RET_HDRS, QUEUE_RET_FULL };
enum queue_rcpt_status { QUEUE_RCPT_PENDING, QUEUE_RCPT_SENT, QUEUE_RCPT_BOUNCED };

struct queue_rcpt {
	char *addr;      /* the envelope recipient, as given */
	char *orcpt;     /* RFC 3461 ORCPT "addr-type;xtext", or NULL */
	unsigned notify; /* QUEUE_NOTIFY_* */
	enum queue_rcpt_status status;
	unsigned attempts;
	int64_t next; /* unix seconds of the next attempt (pending only) */
	char *reply;  /* last reply "550 5.1.1 text", or NULL */
	char *relay;  /* host that gave it ("mx.example[192.0.2.1]"), or NULL */
};

/* The envelope of one queued message. */
struct queue_env {
	char id[QUEUE_ID_LEN + 1];
	int64_t arrival; /* unix seconds */
	char *sender;    /* "" for the null sender <> (a bounce) */
	unsigned flags;  /* QUEUE_F_* */
	char *envid;     /* RFC 3461 ENVID (xtext as received), or NULL */
	enum queue_ret ret;
	size_t nrcpts;
	struct queue_rcpt *rcpts;
};

/* ---- envelope text (pure: no I/O) ---- */

/*
 * Parses an envelope file. Format, one `key value` per line, LF endings:
 *   hikyaku-queue 1
 *   id ID / arrival SECONDS / sender ADDRESS or <> / flags WORD... /
 *   envid XTEXT / ret hdrs|full
 *   then per recipient: rcpt ADDRESS / orcpt TYPE;XTEXT / notify WORD,... /
 *   status pending|sent|bounced / attempts N / next SECONDS /
 *   relay HOST / reply TEXT
 *   end
 * Values are printable (no control characters); unknown keys are errors.
 * Returns 1 with *env filled (free with queue_env_deinit), or -1 with
 * *error_r (static) and *env empty.
 */
int queue_env_parse(const void *data, size_t len, struct queue_env *env, const char **error_r);
/* Appends the envelope text to out. Returns 0, or -1 when out is full. */
int queue_env_format(const struct queue_env *env, struct buf *out);
void queue_env_deinit(struct queue_env *env);
/* True when s is a well-formed queue id (and so a safe file name). */
bool queue_id_valid(const char *s);
/* "pending", "sent", "bounced". */
const char *queue_rcpt_status_name(enum queue_rcpt_status st);
/* "failure,delay" for a NOTIFY set ("" when 0). */
void queue_notify_format(unsigned notify, char *dst, size_t size);

/* ---- the spool ---- */

struct queue;
struct queue_tx;

/*
 * Opens data_dir/queue/ (creating it and its subdirectories). With a loop,
 * a committer thread makes commits asynchronous and batched; with NULL
 * (CLI use) they complete before queue_tx_commit() returns. Returns NULL
 * with *error_r (thread-local storage) on failure.
 */
struct queue *queue_open(const char *data_dir, uv_loop_t *loop, const char **error_r);
/* Stops the scheduler and the committer (finishing pending commits, whose
   callbacks run), frees everything; *q = NULL. The delivery agent must not
   hold a delivery any more (see queue_set_agent). NULL is fine. */
void queue_close(struct queue **q);
const char *queue_dir(const struct queue *q);

/* Starts a message from sender ("" or "<>" for the null sender). Returns
   NULL with *error_r on failure (the temp file could not be made). */
struct queue_tx *queue_tx_begin(struct queue *q, const char *sender, const char **error_r);
/* QUEUE_F_SMTPUTF8 / QUEUE_F_8BITMIME; envid and ret as in MAIL FROM
   (envid NULL when not given). */
void queue_tx_set_options(struct queue_tx *tx, unsigned flags, const char *envid,
                          enum queue_ret ret);
/* Adds a recipient (orcpt NULL when not given, notify QUEUE_NOTIFY_* or 0).
   Returns 0, or -1 (empty address, control characters, too many). */
int queue_tx_add_rcpt(struct queue_tx *tx, const char *rcpt, const char *orcpt, unsigned notify);
/* Buffered append. Returns 0, or -1; an error is sticky and fails the commit. */
int queue_tx_write(struct queue_tx *tx, const void *p, size_t n);
/*
 * At commit, the spooled message becomes `prefix` followed by what was
 * written from offset `skip` on (skip <= bytes written so far): e.g. the
 * DKIM-Signature fields, prepended once at queue entry (see
 * base/wfile_prefix.h for how and what it costs). The prefix is copied, at
 * most QUEUE_MAX_PREFIX bytes. Returns 0, or -1 (skip past the data,
 * prefix too long).
 */
#define QUEUE_MAX_PREFIX (1024 * 1024)
int queue_tx_set_prefix(struct queue_tx *tx, const void *prefix, size_t n, uint64_t skip);

/* status 1: queued durably, id_or_error is the queue id; -1: failed,
   nothing queued, id_or_error says why. */
typedef void queue_done_fn(void *ctx, int status, const char *id_or_error);
/* Makes the message durable, then calls done: later on the loop when the
   queue has one, else before returning. The tx is consumed. A tx without
   recipients fails. With a running scheduler the message is due at once. */
void queue_tx_commit(struct queue_tx *tx, queue_done_fn *done, void *ctx);
/* Drops the message and its temp file; *tx = NULL. NULL is fine. */
void queue_tx_abort(struct queue_tx **tx);
/* The queue id the tx will have. */
const char *queue_tx_id(const struct queue_tx *tx);

/* ---- reading the spool (CLI) ---- */

typedef void queue_list_fn(void *ctx, const struct queue_env *env, uint64_t size);
/* Calls cb for each queued message in id (arrival) order; unreadable
   envelopes are reported on stderr-free terms: skipped and counted.
   Returns the number skipped, or -1 (cannot read the directory). */
int queue_list(struct queue *q, queue_list_fn *cb, void *ctx);
/* Reads one envelope. 1 found, 0 no such id, -1 error. */
int queue_env_read(struct queue *q, const char *id, struct queue_env *env, const char **error_r);
/* Path of the message file of id (size >= PATH_MAX recommended). */
int queue_msg_path(const struct queue *q, const char *id, char *dst, size_t size);

/*
 * Administrative requests (`hikyaku queue flush|retry|delete`). When a
 * scheduler is running on this data_dir (it holds queue/sched.lock), the
 * request is dropped into queue/ctl/ and the scheduler carries it out;
 * then these wait up to wait_ms for it to be consumed and return 1 done,
 * or 0 still waiting (the daemon will act later). Without a scheduler,
 * retry and delete act on the files directly and flush does nothing.
 * Returns -1 with *error_r on failure, 0 for an unknown id (retry/delete
 * without a scheduler).
 */
int queue_request(struct queue *q, const char *what, const char *id, unsigned wait_ms,
                  const char **error_r);

/* ---- the scheduler (queue_sched.c) ---- */

/* Postfix names and defaults (seconds). */
struct queue_params {
	const char *myhostname;                 /* Reporting-MTA, MAILER-DAEMON@ */
	unsigned minimal_backoff_time;          /* 300 */
	unsigned maximal_backoff_time;          /* 4000 */
	unsigned queue_run_delay;               /* 300: spool rescan interval */
	unsigned maximal_queue_lifetime;        /* 5 days */
	unsigned bounce_queue_lifetime;         /* 5 days: for mail from <> */
	unsigned delay_warning_time;            /* 0: no delay warnings */
	unsigned destination_concurrency_limit; /* 20 deliveries in flight per domain */
	unsigned destination_recipient_limit;   /* 50 recipients per delivery */
	uint64_t dsn_max_full;                  /* RET=FULL copy bound, 1 MiB */
	/* The clock (unix seconds); NULL: time(NULL). Tests inject one. */
	int64_t (*now)(void *ctx);
	void *now_ctx;
};

void queue_params_init(struct queue_params *p);

struct queue_rcpt_result {
	unsigned code;     /* SMTP reply code, 0 when no reply (connection failure) */
	char enhanced[16]; /* "5.1.1", or "" */
	char text[QUEUE_MAX_REPLY];
	char relay[256]; /* "mx.example[192.0.2.1]", or "" (none reached) */
	enum { QR_SENT, QR_DEFER, QR_BOUNCE } status;
	/* The connection's TLS facts for the status line, "" without TLS:
	   "TLSv1.3", the cipher, and Postfix's peer word ("Verified"...). */
	char tls_version[16];
	char tls_cipher[64];
	char tls_peer[16];
};

struct queue_delivery {
	const char *id;
	const char *domain; /* lower-case; all recipients are in it */
	const char *sender; /* "" for <> */
	const char *msg_path;
	uint64_t size;
	unsigned flags; /* QUEUE_F_SMTPUTF8 | QUEUE_F_8BITMIME */
	const char *envid;
	enum queue_ret ret;
	size_t nrcpts;
	const char **rcpts;
	const char **orcpts;    /* each NULL when not given */
	const unsigned *notify; /* QUEUE_NOTIFY_* each */
};

struct queue_delivery_handle;

/* The agent delivers d (valid until queue_delivery_done) and calls
   queue_delivery_done(q, h, results[d->nrcpts]) exactly once, later, on the
   loop thread; never from inside this call. */
typedef void queue_agent_fn(void *ctx, struct queue *q, struct queue_delivery_handle *h,
                            const struct queue_delivery *d);

void queue_set_agent(struct queue *q, queue_agent_fn *agent, void *ctx);
/* Shutdown: the agent gives a delivery back without a result (the
   recipients stay pending on disk). Must come before queue_close(). */
void queue_delivery_abandon(struct queue *q, struct queue_delivery_handle *h);
/* Results in the order of d->rcpts. The handle is consumed. */
void queue_delivery_done(struct queue *q, struct queue_delivery_handle *h,
                         const struct queue_rcpt_result *results);

/* Scans the spool (crash recovery), watches queue/ctl/, and starts
   dispatching to the agent. Needs a loop. Returns 0, or -1 with *error_r. */
int queue_start(struct queue *q, const struct queue_params *p, const char **error_r);
/* Everything pending is due now (SIGUSR1, `queue flush`). */
void queue_flush(struct queue *q);
/* Looks at the clock again: what has become due is dispatched (the timer
   does this by itself; tests with an injected clock call it). */
void queue_run(struct queue *q);
/* Counts for tests and status: messages known, deliveries in flight. */
void queue_stats(const struct queue *q, size_t *nmsgs_r, size_t *inflight_r);

#endif
