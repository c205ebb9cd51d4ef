/*
 * pop3_server.h -- the POP3 server engine: one state machine per session.
 *
 * The engine speaks RFC 1939 (USER, PASS, STAT, LIST, RETR, DELE, NOOP,
 * RSET, QUIT, TOP, UIDL) with RFC 2449 CAPA, RESP-CODES and PIPELINING,
 * RFC 2595 STLS and RFC 5034 AUTH PLAIN (initial response allowed) over a
 * struct conn. Passwords and accounts are the application's, reached
 * through struct pop3_hooks; the maildrop is the account's INBOX through
 * store/mailbox.h, the narrow message-shaped store interface (an accepted
 * deviation from "engines never include store/": POP3 needs nothing but
 * the list of messages, their files and one expunge).
 *
 * The maildrop is a snapshot taken at login: message numbers and sizes do
 * not change during the session (RFC 1939 5); mail arriving meanwhile is
 * seen by the next session. UIDL is "<uidvalidity><uid>" in 16 hex digits,
 * so it is stable across sessions and agrees with IMAP UIDs. DELE only
 * marks; QUIT (UPDATE state) stores \Deleted and expunges those messages,
 * and replies +OK only once that is durable. A session that ends any other
 * way deletes nothing (RFC 1939 6).
 *
 * Security: input is untrusted. Lines are bounded (RFC 2449: 255 octets
 * per command), and so are bad commands (hard error limit, then -ERR and
 * close) and idle time. On a listener without implicit TLS, USER, PASS and
 * AUTH are refused until STLS (RFC 2595 4), and STLS purges any pipelined
 * plaintext and resets the session (STYLE.md section 9). RETR streams the
 * file with flow control, never holding a whole message in memory.
 */
#ifndef HIKYAKU_POP3_POP3_SERVER_H
#define HIKYAKU_POP3_POP3_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct mailbox_user;
struct pop3_sess;
struct tls_server;

struct pop3_limits {
	unsigned hard_errors; /* bad commands before -ERR and close */
	uint64_t idle_ms;     /* RFC 1939 3: the autologout timer, >= 10 minutes */
};

/*
 * The application side; `app` is struct pop3_server's. Per-session
 * application state hangs off pop3_sess_set_app_data().
 */
struct pop3_hooks {
	/* New connection (before the greeting): 1 accept, -1 refuse (the
	   engine says why with -ERR [SYS/TEMP] where it can, and closes). */
	int (*connect)(void *app, struct pop3_sess *s);
	/* The session is going away; free per-session application state. */
	void (*disconnect)(void *app, struct pop3_sess *s);
	/* Is this client locked out of logins (too many failures)? */
	bool (*auth_locked)(void *app, struct pop3_sess *s);
	/* Verify credentials and open the account; must end with exactly one
	   pop3_sess_auth_result() call, possibly later from the loop. The
	   engine wipes `password` when this returns. */
	void (*auth)(void *app, struct pop3_sess *s, const char *user, const char *password);
};

/* One per listener: shared, read-only while sessions run. */
struct pop3_server {
	const char *hostname;
	const char *service_name; /* for logs: "pop3", "pop3s" */
	bool implicit_tls;	  /* pop3s: the greeting waits for the handshake */
	struct pop3_limits lim;
	struct tls_server *tls; /* NULL: STLS not offered */
	const struct pop3_hooks *hooks;
	void *app;
};

/* Takes over an accepted connection; the session frees itself when the
   connection closes. */
void pop3_sess_start(const struct pop3_server *srv, struct conn *c);

/*
 * Completion of pop3_hooks.auth. status 1: credentials valid and u the
 * open account (the engine owns it from now on and closes it with
 * mailbox_user_close); 0: wrong user or password; -1: temporary failure
 * (u NULL in both).
 */
void pop3_sess_auth_result(struct pop3_sess *s, int status, struct mailbox_user *u);

void pop3_sess_set_app_data(struct pop3_sess *s, void *data);
void *pop3_sess_app_data(const struct pop3_sess *s);
uint64_t pop3_sess_id(const struct pop3_sess *s);
const char *pop3_sess_peer_ip(const struct pop3_sess *s);

#endif
