/*
 * smtp_server.h -- the SMTP server engine: one state machine per session.
 *
 * The engine speaks RFC 5321 (with RFC 1870 SIZE, 2920 PIPELINING, 3030
 * CHUNKING, 3207 STARTTLS, 4954 AUTH, 6152 8BITMIME, 6531 SMTPUTF8, 2034
 * ENHANCEDSTATUSCODES) over a struct conn and never touches the queue, the
 * mailbox store or the account database: it asks the application through
 * struct smtp_hooks. Hooks that block (password hashing, fsync) complete
 * asynchronously through smtp_sess_auth_result() and smtp_sess_data_result().
 *
 * Security: input is untrusted. Every line, message, recipient count, error
 * count and idle period is bounded by struct smtp_limits. STARTTLS purges
 * any pipelined plaintext and resets the session (STYLE.md section 9). AUTH
 * is refused without TLS.
 */
#ifndef HIKYAKU_SMTP_SERVER_H
#define HIKYAKU_SMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct tls_server;
struct smtp_sess;

enum smtp_service {
	SMTP_SVC_MX,	      /* port 25: STARTTLS offered, no AUTH, local domains only */
	SMTP_SVC_SUBMISSION,  /* port 587: STARTTLS before AUTH, AUTH before MAIL */
	SMTP_SVC_SUBMISSIONS, /* port 465: implicit TLS, AUTH before MAIL */
};

/* Defaults (conf/) follow Postfix and RFC 5321 section 4.5.3. */
struct smtp_limits {
	size_t cmd_line;	 /* bytes, CRLF included (RFC minimum 512) */
	uint64_t message_size;	 /* bytes after dot-unstuffing; advertised in SIZE */
	unsigned max_rcpts;	 /* per transaction (RFC minimum 100) */
	unsigned hard_errors;	 /* bad commands before 421 and close */
	uint64_t idle_ms;	 /* no input for this long: 421 and close */
	bool forbid_bare_newline; /* reject bare CR/LF in message data */
};

/* A reply chosen by a hook: "550", "5.1.1", "User unknown". */
struct smtp_hook_reply {
	unsigned code;
	const char *enhanced;
	const char *text;
};

/*
 * The application side. Every function gets the app pointer given in
 * struct smtp_server and the session; per-session application state hangs
 * off smtp_sess_set_app_data(). Return convention: 1 accept, -1 refuse with
 * *r filled in.
 */
struct smtp_hooks {
	/* New connection (before the greeting): per-client limits. */
	int (*connect)(void *app, struct smtp_sess *s, struct smtp_hook_reply *r);
	/* The session is going away; free per-session application state. */
	void (*disconnect)(void *app, struct smtp_sess *s);
	/* Is this client locked out of AUTH (too many failures)? */
	bool (*auth_locked)(void *app, struct smtp_sess *s);
	/* Verify credentials; must end with exactly one smtp_sess_auth_result()
	   call, possibly later from the loop. The engine wipes `password` when
	   this returns: copy it if the check is asynchronous. */
	void (*auth)(void *app, struct smtp_sess *s, const char *user, const char *password);
	/* MAIL FROM (sender "" for the null path), already syntax-checked. */
	int (*mail)(void *app, struct smtp_sess *s, const char *sender, struct smtp_hook_reply *r);
	/* RCPT TO, already syntax-checked, domain lower-cased. */
	int (*rcpt)(void *app, struct smtp_sess *s, const char *rcpt, struct smtp_hook_reply *r);
	/* Message data: begin (once, before any data), write (unstuffed bytes,
	   CRLF as received), commit (ends with one smtp_sess_data_result()),
	   abort (nothing must remain). begin and write return 0 or -1. */
	int (*data_begin)(void *app, struct smtp_sess *s);
	int (*data_write)(void *app, struct smtp_sess *s, const void *p, size_t n);
	void (*data_commit)(void *app, struct smtp_sess *s);
	void (*data_abort)(void *app, struct smtp_sess *s);
};

/* One per listener: shared, read-only while sessions run. */
struct smtp_server {
	const char *hostname;
	enum smtp_service service;
	const char *service_name; /* for logs: "smtp", "submission", "submissions" */
	struct smtp_limits lim;
	struct tls_server *tls; /* NULL: STARTTLS not offered */
	const struct smtp_hooks *hooks;
	void *app;
};

/* Takes over an accepted connection; the session frees itself when the
   connection closes. For implicit-TLS listeners the greeting waits for the
   handshake. */
void smtp_sess_start(const struct smtp_server *srv, struct conn *c);

/* Completion of smtp_hooks.auth: ok true for valid credentials. */
void smtp_sess_auth_result(struct smtp_sess *s, bool ok);
/* Completion of smtp_hooks.data_commit: ok true when the message is durable
   for every recipient; otherwise r (may be NULL) is the reply to send. */
void smtp_sess_data_result(struct smtp_sess *s, bool ok, const struct smtp_hook_reply *r);

void smtp_sess_set_app_data(struct smtp_sess *s, void *data);
void *smtp_sess_app_data(const struct smtp_sess *s);
uint64_t smtp_sess_id(const struct smtp_sess *s);
const char *smtp_sess_peer_ip(const struct smtp_sess *s);
const struct smtp_server *smtp_sess_server(const struct smtp_sess *s);
/* Authenticated user, or NULL. */
const char *smtp_sess_auth_user(const struct smtp_sess *s);
/* Recipients accepted in the current transaction. */
size_t smtp_sess_rcpt_count(const struct smtp_sess *s);
const char *smtp_sess_rcpt(const struct smtp_sess *s, size_t i);
const char *smtp_sess_sender(const struct smtp_sess *s);
/* The transaction's MAIL FROM parameters: SMTPUTF8, BODY=8BITMIME. */
bool smtp_sess_smtputf8(const struct smtp_sess *s);
bool smtp_sess_8bitmime(const struct smtp_sess *s);
/* Transaction id for logs and the Received header: "<sid>.<n>". */
const char *smtp_sess_tx_id(const struct smtp_sess *s);
/* TLS facts, still valid in the disconnect hook: is TLS up, its protocol
   ("TLSv1.3") and OpenSSL cipher name (NULL without TLS). */
bool smtp_sess_is_tls(const struct smtp_sess *s);
const char *smtp_sess_tls_version(const struct smtp_sess *s);
const char *smtp_sess_tls_cipher(const struct smtp_sess *s);
/* The HELO/EHLO name as given (printable, see smtp_cmd_helo.c), or ""
   before one. */
const char *smtp_sess_helo(const struct smtp_sess *s);

#endif
