/*
 * imap_server_int.h -- session state shared by the engine's files
 * (imap_server.c and the imap_cmd_*.c command handlers). Not for other
 * modules: they use imap_server.h.
 */
#ifndef HIKYAKU_IMAP_SERVER_INT_H
#define HIKYAKU_IMAP_SERVER_INT_H

#include "base/buf.h"
#include "base/log.h"
#include "imap/imap_parse.h"
#include "imap/imap_seqset.h"
#include "imap/imap_server.h"
#include "sasl/sasl.h"
#include "store/mailbox.h"

/* RFC 9051 section 3 states, as bits: where a command may run. */
enum imap_state {
	IS_NOAUTH = 1u << 0,
	IS_AUTH = 1u << 1,
	IS_SELECTED = 1u << 2,
};
#define IS_ANY (IS_NOAUTH | IS_AUTH | IS_SELECTED)
#define IS_LOGGED (IS_AUTH | IS_SELECTED)

/* What the input loop does with incoming bytes. */
enum imap_input {
	II_CMD,	 /* commands */
	II_AUTH, /* an AUTHENTICATE response line */
	II_IDLE, /* IDLE: waiting for DONE */
};

struct imap_fetch_job; /* imap_cmd_fetch.c */

struct imap_sess {
	uint64_t id;
	const char *proto; /* for SLOG: the service name */
	const struct imap_server *srv;
	struct conn *conn; /* NULL once the connection closed */
	void *app_data;
	char peer_ip[64];

	struct imap_parser *parser;
	unsigned state;
	enum imap_input input;
	bool greeted;
	bool tls;
	bool closing; /* LOGOUT or fatal: no more commands */
	bool dead;    /* connection gone while a store call or hook was pending */
	bool pending; /* an asynchronous call has not completed */
	unsigned errors;
	char tag[IMAP_TAG_MAX + 1]; /* of the command in progress */
	bool uid;		    /* the command came as UID <cmd> */
	bool sync_ok;		    /* EXPUNGE responses allowed before its tagged reply */

	/* authentication */
	char auth_try[SASL_MAX_FIELD + 1]; /* the user being checked */
	char *user;
	struct mailbox_user *mbu;

	/* ENABLE */
	bool rev2; /* IMAP4rev2: UTF-8 names, ESEARCH, no \Recent */
	bool utf8; /* UTF8=ACCEPT or IMAP4rev2: names are not modified UTF-7 */

	/* selected mailbox */
	struct mailbox_view *view;
	bool changed; /* the store poked the view: sync when allowed */

	/* an asynchronous command's leftovers */
	struct imap_fetch_job *fetch;
	bool store_silent;
	uint32_t *uids;
	size_t nuids;
	char *arg; /* a mailbox name or similar kept for the completion */
	char *arg2;	/* RENAME's new name */
	const char *op; /* the command's name for its completion text */
};

enum {
	IMAP_CMDF_UID = 1u << 0,	/* may follow UID */
	IMAP_CMDF_NO_EXPUNGE = 1u << 1, /* no EXPUNGE in its responses (RFC 9051
					   7.5.1: FETCH, STORE, SEARCH without UID) */
};

/* One command: where it may run and what runs it. */
struct imap_cmd_def {
	const char *name;
	unsigned states;
	unsigned flags; /* IMAP_CMDF_* */
	void (*run)(struct imap_sess *s, const struct imap_cmd *c);
};

/* imap_server.c: output */
/* Raw bytes; closes the session on output overflow. */
void imap_write(struct imap_sess *s, const void *p, size_t n);
void imap_printf(struct imap_sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "TAG OK text" etc. for the command in progress. */
void imap_tagged(struct imap_sess *s, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A BAD or NO to a bad command: counts toward the hard error limit. */
void imap_tagged_error(struct imap_sess *s, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void imap_count_error(struct imap_sess *s);
/* Appends an IMAP string (quoted, or a literal when it must be) to out. */
void imap_buf_string(struct buf *out, const char *str, size_t len);
/* The CAPABILITY list for the session's state, without "CAPABILITY". */
const char *imap_capabilities(const struct imap_sess *s);
void imap_sess_close(struct imap_sess *s, const char *reason);
/* Pin the session while an asynchronous call runs (input paused). */
void imap_sess_pause(struct imap_sess *s);
/* Unpin; returns true when the session went away meanwhile (freed). */
bool imap_sess_resume(struct imap_sess *s);
/* The common tail of a completion: flush, resume input. */
void imap_after_async(struct imap_sess *s);
/* Report store changes (EXPUNGE/FETCH/EXISTS) when RFC 9051 7.5.1 allows. */
void imap_sync(struct imap_sess *s);
/* "(\Seen $Label)" for a message. */
void imap_buf_flags(struct imap_sess *s, struct buf *out, const struct mailbox_msg *m);
/* The store's poke for the selected view (mailbox_changed_fn). */
void imap_view_changed(void *ctx);
/* Forget what was learnt in plaintext (STARTTLS). */
void imap_sess_forget(struct imap_sess *s);
/* Close the selected mailbox, if any. */
void imap_unselect(struct imap_sess *s);
/* After a successful login. */
void imap_logged_in(struct imap_sess *s);

/* Argument helpers (imap_cmd_mailbox.c). */
/* An astring argument (atom or string) as C text; NULL if not one or if it
   holds a NUL. */
const char *imap_arg_astring(const struct imap_arg *a);
/* A mailbox argument converted to the store's UTF-8 name; NULL with a
   tagged BAD already sent. */
char *imap_arg_mailbox(struct imap_sess *s, const struct imap_arg *a);
/* A store name as the client sees it (modified UTF-7 for IMAP4rev1). */
char *imap_mailbox_out(const struct imap_sess *s, const char *name);
/* Flags of a list (or one flag) into bits and keyword names. -1 if bad. */
int imap_arg_flags(const struct imap_arg *a, unsigned *flags_r, const char **kw,
    size_t *nkw_r, size_t kwmax);
/* The UIDs a sequence set (or UID set with s->uid) names, in view order. */
int imap_set_uids(struct imap_sess *s, const struct imap_arg *a, uint32_t **uids_r,
    size_t *n_r);

/* imap_cmd_*.c */
void imap_cmd_capability(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_noop(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_logout(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_id(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_enable(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_namespace(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_starttls(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_login(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_authenticate(struct imap_sess *s, const struct imap_cmd *c);
void imap_auth_input(struct imap_sess *s, struct span line);
void imap_auth_done(struct imap_sess *s, bool ok);
void imap_cmd_create(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_delete(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_rename(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_subscribe(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_unsubscribe(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_list(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_lsub(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_status(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_select(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_examine(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_close(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_unselect(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_expunge(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_check(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_idle(struct imap_sess *s, const struct imap_cmd *c);
void imap_idle_input(struct imap_sess *s, struct span line);
void imap_cmd_append(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_fetch(struct imap_sess *s, const struct imap_cmd *c);
/* Flow control: the output drained, send the next part of a FETCH. */
void imap_fetch_drained(struct imap_sess *s);
void imap_fetch_job_free(struct imap_fetch_job **j);
void imap_cmd_store(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_copy(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_move(struct imap_sess *s, const struct imap_cmd *c);
void imap_cmd_search(struct imap_sess *s, const struct imap_cmd *c);

#endif
