/*
 * imap_server.h -- the IMAP server engine: one state machine per session.
 *
 * Speaks IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) with STARTTLS and
 * LOGINDISABLED on 143, implicit TLS on 993 (RFC 8314), LITERAL+ (7888),
 * SASL-IR (4959), ENABLE (5161), IDLE (2177), UIDPLUS (4315), MOVE (6851),
 * SPECIAL-USE (6154), NAMESPACE (2342), UNSELECT (3691), ID (2971), BINARY
 * (3516), LIST-EXTENDED basics (5258), ESEARCH responses (4731).
 * Accounts and passwords are the application's, reached through struct
 * imap_hooks; mailboxes come from the store's narrow, message-shaped
 * interface (store/mailbox.h), which the engine calls directly.
 * Security: input is untrusted. Lines, literals, nesting, errors and idle
 * time are bounded (struct imap_limits); no password is accepted without
 * TLS; STARTTLS drops pipelined plaintext and recreates the parser.
 */
#ifndef HIKYAKU_IMAP_SERVER_H
#define HIKYAKU_IMAP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct imap_sess;
struct mailbox_user;
struct tls_server;

struct imap_limits {
	size_t line_max;      /* bytes per command line, CRLF included */
	uint64_t literal_max; /* bytes per literal (APPEND: the message size limit) */
	unsigned hard_errors; /* bad commands before BYE */
	uint64_t idle_ms;     /* autologout after authentication (RFC 9051 5.4: >= 30 min) */
	uint64_t login_ms;    /* the same before authentication */
};

/*
 * The application side; app is struct imap_server.app. Per-session state
 * hangs off imap_sess_set_app_data().
 */
struct imap_hooks {
	/* New connection: per-client limits. 1 accept, -1 refuse. */
	int (*connect)(void *app, struct imap_sess *s);
	/* The session is going away. */
	void (*disconnect)(void *app, struct imap_sess *s);
	/* Is this client locked out of logins (too many failures)? */
	bool (*auth_locked)(void *app, struct imap_sess *s);
	/* Verify a password; must end with exactly one imap_sess_auth_result(),
	   normally later from the loop. `password` is wiped when this returns. */
	void (*auth)(void *app, struct imap_sess *s, const char *user, const char *password);
	/* After a successful check: the account's mailboxes (the engine closes
	   it with mailbox_user_close), or NULL with *error_r. */
	struct mailbox_user *(*user_open)(void *app, struct imap_sess *s, const char *user,
	    const char **error_r);
};

/* One per listener: shared, read-only while sessions run. */
struct imap_server {
	const char *hostname;
	const char *service_name; /* for logs: "imap", "imaps" */
	bool implicit_tls;
	struct imap_limits lim;
	struct tls_server *tls;
	const struct imap_hooks *hooks;
	void *app;
};

/* Takes over an accepted connection; the session frees itself when the
   connection closes. On implicit TLS the greeting waits for the handshake. */
void imap_sess_start(const struct imap_server *srv, struct conn *c);

/* Completion of imap_hooks.auth. */
void imap_sess_auth_result(struct imap_sess *s, bool ok);

void imap_sess_set_app_data(struct imap_sess *s, void *data);
void *imap_sess_app_data(const struct imap_sess *s);
uint64_t imap_sess_id(const struct imap_sess *s);
const char *imap_sess_peer_ip(const struct imap_sess *s);
/* The logged-in user, or NULL. */
const char *imap_sess_user(const struct imap_sess *s);

#endif
