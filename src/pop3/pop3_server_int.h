/*
 * pop3_server_int.h -- session state shared by the engine's files
 * (pop3_server.c and the pop3_cmd_*.c command handlers). Not for other
 * modules: they use pop3_server.h.
 */
#ifndef HIKYAKU_POP3_POP3_SERVER_INT_H
#define HIKYAKU_POP3_POP3_SERVER_INT_H

#include "base/buf.h"
#include "base/log.h"
#include "pop3/pop3_parse.h"
#include "pop3/pop3_server.h"
#include "sasl/sasl.h"
#include "smtp/smtp_lex.h"

struct mailbox_view;

/* RFC 1939 states, as bits so that a command lists where it may run. */
enum pop3_state {
	P3_AUTHORIZATION = 1u << 0,
	P3_TRANSACTION = 1u << 1,
	P3_UPDATE = 1u << 2, /* QUIT received: committing the deletions */
};

enum {
	POP3_CMDF_PRE_TLS = 1u << 0, /* allowed before STLS on port 110 */
};

/* What the input loop is doing with incoming bytes. */
enum pop3_input {
	PI_CMD,	   /* command lines */
	PI_AUTH,   /* the SASL PLAIN response line */
	PI_STREAM, /* a multi-line response is being sent: input waits */
};

/* What a multi-line response in progress is made of. */
enum pop3_stream {
	PS_FILE, /* RETR, TOP: a message file, byte-stuffed */
	PS_LIST, /* LIST: "n size" lines */
	PS_UIDL, /* UIDL: "n uidl" lines */
};

/* Bytes read from a message file per step, and queued per drain. */
#define POP3_READ_CHUNK (32 * 1024)
#define POP3_STREAM_BATCH (256 * 1024)

struct pop3_sess {
	uint64_t id;
	const char *proto; /* for SLOG: the service name */
	const struct pop3_server *srv;
	struct conn *conn; /* NULL once the connection closed */
	void *app_data;

	unsigned state;
	enum pop3_input input;
	struct line_framer framer;
	bool greeted; /* +OK greeting sent */
	bool tls;     /* TLS is up on this connection */
	bool closing; /* QUIT or fatal: no more commands */
	bool dead;    /* connection gone while a hook was pending */
	bool pending; /* an asynchronous hook has not completed */
	unsigned errors;
	char peer_ip[64]; /* kept after the connection is gone (disconnect hook) */

	/* AUTHORIZATION */
	char user[SASL_MAX_FIELD + 1]; /* USER argument, or the name being checked */
	bool have_user;		       /* USER accepted, PASS may follow */
	char *auth_user;	       /* after success */

	/* TRANSACTION: the maildrop snapshot */
	struct mailbox_user *mbu;
	struct mailbox_view *view;
	uint32_t uidvalidity;
	uint32_t nmsgs;
	bool *deleted; /* [nmsgs], by DELE until RSET */

	/* A multi-line response in progress */
	enum pop3_stream stream;
	uint32_t next_msg; /* LIST, UIDL: the next line's message */
	int fd;		   /* RETR, TOP */
	struct pop3_stuff stuff;
	uint8_t *chunk; /* POP3_READ_CHUNK in, POP3_STUFF_OUT of it out */

	/* UPDATE: UIDs being expunged */
	uint32_t *upd_uids;
	size_t upd_n;
};

struct pop3_cmd_def {
	enum pop3_verb verb;
	unsigned states; /* where allowed; elsewhere -ERR */
	unsigned flags;
	void (*run)(struct pop3_sess *s, const struct pop3_cmd *c);
};

/* pop3_server.c */
void pop3_reply_ok(struct pop3_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* -ERR that counts toward the hard error limit. */
void pop3_reply_err(struct pop3_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* -ERR for a refusal that is no client error (e.g. [SYS/TEMP]). */
void pop3_reply_fail(struct pop3_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queues raw bytes (multi-line responses); false once the session closes. */
bool pop3_write(struct pop3_sess *s, const void *p, size_t n);
void pop3_count_error(struct pop3_sess *s);
void pop3_sess_close(struct pop3_sess *s, const char *reason);
/* Forget everything learnt in plaintext (STLS). */
void pop3_sess_forget(struct pop3_sess *s);
/* Stop handling input until pop3_sess_resume() (asynchronous hooks). */
void pop3_sess_pause(struct pop3_sess *s);
/* Returns true when the session went away while paused (and frees it). */
bool pop3_sess_resume(struct pop3_sess *s);
/* After a completion: flush, and take input again unless closing. */
void pop3_after_hook(struct pop3_sess *s);
bool pop3_sess_must_tls(const struct pop3_sess *s);
/* The message of a number argument, or NULL after replying -ERR (absent,
   deleted in this session, or expunged by another). */
const struct mailbox_msg *pop3_msg(struct pop3_sess *s, uint32_t msg);

/* pop3_cmd_*.c */
void pop3_cmd_capa(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_stls(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_user(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_pass(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_auth(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_auth_input(struct pop3_sess *s, struct span line);
void pop3_cmd_stat(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_list(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_uidl(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_dele(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_rset(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_noop(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_retr(struct pop3_sess *s, const struct pop3_cmd *c);
void pop3_cmd_quit(struct pop3_sess *s, const struct pop3_cmd *c);

/* pop3_stream.c: multi-line responses too big to queue at once, sent in
   batches of POP3_STREAM_BATCH bytes, one per drain of the output. The
   status line is already queued. The fd is the session's from now on. */
void pop3_stream_file(struct pop3_sess *s, int fd, bool top, uint32_t lines);
void pop3_stream_list(struct pop3_sess *s, enum pop3_stream kind);
/* Queue the next batch; called again on each drain. */
void pop3_stream_more(struct pop3_sess *s);
/* Ends a stream early (the session is going away). */
void pop3_stream_abort(struct pop3_sess *s);
/* The UIDL of a message: 16 hex digits, UIDVALIDITY then UID. */
void pop3_uidl(const struct pop3_sess *s, uint32_t uid, char out[17]);

#endif
