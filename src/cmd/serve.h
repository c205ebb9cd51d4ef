/*
 * serve.h -- the state of `hikyaku serve`, shared by the files that wire
 * each protocol engine to the store and the queue (cmd_serve.c for SMTP,
 * serve_*.c for the others), and the password check they all use.
 *
 * Everything here lives on the loop thread.
 */
#ifndef HIKYAKU_CMD_SERVE_H
#define HIKYAKU_CMD_SERVE_H

#include <stdbool.h>

#include <uv.h>

#include "cmd/deliver.h"
#include "smtp/smtp_server.h"
#include "pop3/pop3_server.h"
#include "imap/imap_server.h"

struct anvil;
struct conf;
struct listener;
struct mailbox_store;
struct queue;
struct serve_pickup;
struct stats;
struct store;
struct tls_server;

struct app {
	uv_loop_t *loop;
	const struct conf *conf;
	struct store *store;
	struct mailbox_store *mailboxes; /* IMAP and POP3 views, delivery pokes */
	unsigned mailbox_users;		 /* accounts opened by sessions, not yet closed */
	struct queue *queue;
	struct serve_pickup *pickup; /* maildrop to queue (serve_pickup.c) */
	struct deliver deliver;
	struct tls_server *tls;
	struct anvil *anvil;
	struct stats *stats; /* session statistics, or NULL (src/stats) */
	struct smtp_server srv[3];
	struct pop3_server pop3_srv[2]; /* pop3 (STLS), pop3s (serve_pop3.c) */
	struct imap_server imap_srv[2]; /* imap (STARTTLS), imaps (serve_imap.c) */
	struct listener **listeners;
	size_t nlisteners;
	uv_signal_t sig_hup, sig_term, sig_int;
};

/* Binds one listener for `service`; dies on failure (still root). */
void serve_listen(struct app *app, const char *service, const struct sockaddr_storage *sa,
                  bool implicit_tls, void (*accept)(void *ctx, struct listener *l,
                                                    struct conn *c),
                  void *ctx);

/* The maildrop pickup: started once the queue runs; stopped (no new work)
   before queue_close(), freed after it (pending commits have reported). */
void serve_pickup_start(struct app *app);
void serve_pickup_stop(struct app *app);
void serve_pickup_free(struct app *app);

/* Too many failed logins from ip lately (smtpd_auth_failure_limit)? */
bool serve_auth_locked(struct app *app, const char *ip);

/* ok: user and password match. */
typedef void serve_auth_fn(void *ctx, bool ok);
/*
 * Checks a password in the thread pool (argon2id). An unknown user costs
 * the same as a known one, so users cannot be probed by timing; failures
 * count towards ip's lockout and are reported only after
 * smtpd_error_sleep_time. `password` is copied and the copy wiped; the
 * caller wipes its own. done runs exactly once, later, on the loop: the
 * caller must keep ctx alive until then (engines pin the session).
 */
void serve_auth_check(struct app *app, const char *ip, const char *user, const char *password,
                      serve_auth_fn *done, void *ctx);

/* Binds pop3_listen and pop3s_listen (serve_pop3.c); dies on failure
   (still root). */
void serve_pop3_listen(struct app *app);

/* Binds imap_listen and imaps_listen (serve_imap.c); dies on failure
   (still root). */
void serve_imap_listen(struct app *app);

#endif
