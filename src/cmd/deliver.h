/*
 * deliver.h -- the queue's delivery agent (local Maildir, remote SMTP with
 * TLS policy, idle SMTP sessions reused per destination). See deliver.c.
 */
#ifndef HIKYAKU_CMD_DELIVER_H
#define HIKYAKU_CMD_DELIVER_H

#include <stdbool.h>
#include <uv.h>

#include "conf/conf_policy.h"

struct attempt;
struct cached_conn;
struct conf;
struct dns;
struct mailbox_store;
struct queue;
struct stats;
struct store;
struct tls_client;

struct deliver {
	uv_loop_t *loop;
	const struct conf *conf;
	struct store *store;
	struct queue *queue;
	struct dns *dns;
	struct tls_client *tls;
	struct conf_policy policy; /* smtp_tls_policy_maps */
	struct attempt *attempts;  /* in flight */
	size_t inflight;
	struct cached_conn *idle; /* idle SMTP sessions, newest first */
	bool stopping;
	struct stats *stats; /* outbound session statistics, or NULL */
	struct mailbox_store *mailboxes; /* poked after a local delivery, or NULL */
};

/* Sets up DNS, the TLS client context and the policy table, and becomes
   q's agent. Returns 0, or -1 with *error_r. */
int deliver_init(struct deliver *dl, uv_loop_t *loop, const struct conf *conf,
    struct store *store, struct queue *q, const char **error_r);
/* Shutdown, before store_commit_stop() and queue_close(): no new
   deliveries; remote ones in flight are given back to the queue unfinished
   (still pending on disk: delivered after a restart); local ones report
   their result when the store finishes its commits; idle SMTP sessions are
   released (QUIT). */
void deliver_stop(struct deliver *dl);
void deliver_deinit(struct deliver *dl);

#endif
