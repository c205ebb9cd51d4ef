/*
 * smtp_server_int.h -- session state shared by the engine's files
 * (smtp_server.c and the smtp_cmd_*.c command handlers). Not for other
 * modules: they use smtp_server.h.
 */
#ifndef HIKYAKU_SMTP_SERVER_INT_H
#define HIKYAKU_SMTP_SERVER_INT_H

#include "base/buf.h"
#include "base/log.h"
#include "msg/dot.h"
#include "sasl/sasl.h"
#include "smtp/smtp_lex.h"
#include "smtp/smtp_server.h"

/* Phases a command may run in (bit set, STYLE.md section 8). */
enum smtp_phase {
	SP_GREET = 1u << 0, /* before HELO/EHLO */
	SP_HELO = 1u << 1,  /* after HELO/EHLO, no transaction */
	SP_MAIL = 1u << 2,  /* MAIL accepted, no recipient yet */
	SP_RCPT = 1u << 3,  /* at least one recipient */
};
#define SP_ANY (SP_GREET | SP_HELO | SP_MAIL | SP_RCPT)

enum {
	SMTP_CMDF_PRE_TLS = 1u << 0,  /* allowed before TLS where TLS is required */
	SMTP_CMDF_PRE_AUTH = 1u << 1, /* allowed before AUTH where AUTH is required */
};

/* What the input loop is doing with incoming bytes. */
enum smtp_input {
	SI_CMD,	     /* command lines */
	SI_AUTH,     /* SASL continuation lines */
	SI_DATA,     /* DATA body up to CRLF.CRLF */
	SI_BDAT,     /* a BDAT chunk of known size */
	SI_BDAT_SKIP /* a rejected BDAT chunk: consumed, never stored */
};

enum smtp_auth_step { AUTH_NONE, AUTH_PLAIN_WAIT, AUTH_LOGIN_USER, AUTH_LOGIN_PASS };

#define SMTP_RCPT_MAX_LEN 320

struct smtp_sess {
	uint64_t id;
	const char *proto; /* for SLOG: the service name */
	const struct smtp_server *srv;
	struct conn *conn; /* NULL once the connection closed */
	void *app_data;

	unsigned phase;
	enum smtp_input input;
	struct line_framer framer;
	bool greeted;	/* 220 sent */
	bool esmtp;	/* EHLO (not HELO) */
	bool tls;	/* TLS is up on this connection */
	bool closing;	/* QUIT or fatal: no more commands */
	bool dead;	/* connection gone while a hook was pending */
	bool pending;	/* an asynchronous hook has not completed */
	unsigned errors;
	char helo[256];
	char peer_ip[64]; /* kept after the connection is gone (disconnect hook) */
	char tls_version[16]; /* TLS facts, kept likewise (statistics) */
	char tls_cipher[64];

	/* AUTH */
	enum smtp_auth_step auth_step;
	char auth_mech[8];
	char auth_login_user[SASL_MAX_FIELD + 1];
	char *auth_user; /* after success */

	/* Transaction (reset by RSET, end of message, STARTTLS, EHLO) */
	unsigned tx_seq;
	char tx_id[40];
	char *sender;
	char **rcpts;
	size_t nrcpts;
	bool tx_smtputf8;
	bool tx_8bitmime;
	bool tx_started;  /* data_begin called */
	bool tx_failed;	  /* sticky: a write failed, the end reply is 451 */
	bool bdat_used;	  /* CHUNKING transaction: DATA no longer allowed */
	bool bdat_last;	  /* this chunk ends the message */
	uint64_t bdat_left;
	struct dot_filter dot;
	struct buf dout;  /* unstuffed data on its way to data_write */
	uint64_t msg_size;
};

struct smtp_cmd {
	const char *verb;
	unsigned phases; /* where allowed; elsewhere 503 */
	unsigned flags;
	/* Runs the command and replies (now or, for asynchronous hooks, later). */
	void (*run)(struct smtp_sess *s, struct span params);
};

/* smtp_server.c */
void smtp_reply(struct smtp_sess *s, unsigned code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A reply to a bad command: counts toward the hard error limit. */
void smtp_reply_error(struct smtp_sess *s, unsigned code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Counts a failed command; at lim.hard_errors replies 421 and closes. */
void smtp_count_error(struct smtp_sess *s);
void smtp_reply_hook(struct smtp_sess *s, const struct smtp_hook_reply *r);
void smtp_sess_close(struct smtp_sess *s, const char *reason);
/* Forget the transaction (RSET, end of message, HELO). */
void smtp_tx_reset(struct smtp_sess *s);
/* Forget everything learnt in plaintext (STARTTLS). */
void smtp_sess_forget(struct smtp_sess *s);
/* Stop handling input until smtp_sess_resume() (asynchronous hooks). */
void smtp_sess_pause(struct smtp_sess *s);
/* Returns true when the session went away while paused (and frees it). */
bool smtp_sess_resume(struct smtp_sess *s);
bool smtp_sess_must_tls(const struct smtp_sess *s);
bool smtp_sess_must_auth(const struct smtp_sess *s);
bool smtp_sess_may_auth(const struct smtp_sess *s);

/* smtp_cmd_*.c */
void smtp_cmd_ehlo(struct smtp_sess *s, struct span params);
void smtp_cmd_helo(struct smtp_sess *s, struct span params);
void smtp_cmd_starttls(struct smtp_sess *s, struct span params);
void smtp_cmd_auth(struct smtp_sess *s, struct span params);
void smtp_auth_input(struct smtp_sess *s, struct span line);
/* Completion of the auth hook (after smtp_sess_resume). */
void smtp_auth_done(struct smtp_sess *s, bool ok);
void smtp_cmd_mail(struct smtp_sess *s, struct span params);
void smtp_cmd_rcpt(struct smtp_sess *s, struct span params);
void smtp_cmd_data(struct smtp_sess *s, struct span params);
void smtp_cmd_bdat(struct smtp_sess *s, struct span params);
/* Feeds buffered input to the DATA/BDAT filter. Returns true to go on
   parsing input, false to wait for more bytes or a hook. */
bool smtp_data_input(struct smtp_sess *s);
/* Completion of the data_commit hook (after smtp_sess_resume). */
void smtp_data_done(struct smtp_sess *s, bool ok, const struct smtp_hook_reply *r);
void smtp_cmd_rset(struct smtp_sess *s, struct span params);
void smtp_cmd_noop(struct smtp_sess *s, struct span params);
void smtp_cmd_quit(struct smtp_sess *s, struct span params);
void smtp_cmd_vrfy(struct smtp_sess *s, struct span params);
void smtp_cmd_help(struct smtp_sess *s, struct span params);

#endif
