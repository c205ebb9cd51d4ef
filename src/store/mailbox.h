/*
 * mailbox.h -- an account's mailboxes: Maildir++ folders and the SQLite
 * index that is the authority for IMAP and POP3 state.
 *
 * On disk, per account (data_dir/mail/DOMAIN/LOCAL/): the Maildir INBOX
 * (cur/ new/ tmp/), one Maildir++ folder per other mailbox (".Sent/",
 * ".a.b/" for "a/b"), and index.db: per mailbox UIDVALIDITY, UIDNEXT,
 * HIGHESTMODSEQ, subscription; per message UID, file name, flags,
 * keywords, MODSEQ, internal date, size, and cached renderings (ENVELOPE,
 * BODYSTRUCTURE) so that FETCH of those does not reread the message.
 * SMTP delivery only links files into new/ (maildir.c); a mailbox picks
 * them up (moves them to cur/ and gives them UIDs) when it is opened or
 * poked (mailbox_store_notify()).
 *
 * Sharing: one struct mailbox_store per process holds every open account;
 * all sessions of one account share its struct mailbox_user, and all
 * sessions on one folder share its message list. Each session has its own
 * struct mailbox_view, whose sequence numbers change only when the session
 * calls mailbox_view_sync() (IMAP may send EXPUNGE only at certain times).
 *
 * Threads: everything here runs on the loop thread except the jobs' SQLite
 * and file work, which runs in the libuv thread pool, one job at a time per
 * account (so the index sees one writer). Reads come from memory.
 * Durability: a write's done callback reports status 1 only once the change
 * is durable (files fsynced, directories fsynced, SQLite committed with
 * synchronous=FULL); the engine replies OK only then.
 *
 * Names: mailbox names are UTF-8, hierarchy separator '/', "INBOX" (any
 * case) is the inbox. Refused: empty components, a leading or trailing
 * '/', '.', '\\', '"', '*', '%', control characters, components "." or
 * "..", more than MAILBOX_MAX_NAME bytes or MAILBOX_MAX_DEPTH levels. So a
 * name never leaves the account directory.
 * Status convention: 1 done, 0 not found / nothing to do, -1 error with
 * an error text (static or valid until the callback returns). Every
 * callback runs later on the loop, never inside the call that started it,
 * refusals (bad name, read-only view, "mailbox is in use") included.
 * Implementation: mailbox.c (registry, accounts, names), mailbox_folder.c,
 * mailbox_append.c, mailbox_view.c, mailbox_write.c, mailbox_sync.c,
 * mailbox_index.c, mailbox_job.c, mailbox_reindex.c; crash ordering is
 * described in each.
 */
#ifndef HIKYAKU_STORE_MAILBOX_H
#define HIKYAKU_STORE_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define MAILBOX_MAX_NAME 255
#define MAILBOX_MAX_DEPTH 16
#define MAILBOX_MAX_KEYWORDS 64 /* per mailbox, as in Dovecot's maildir */
#define MAILBOX_MAX_KEYWORD_LEN 100

/* System flags; the same bits as IMAP_F_* in imap/imap_fetch.h. */
#define MAILBOX_F_SEEN 0x01
#define MAILBOX_F_ANSWERED 0x02
#define MAILBOX_F_FLAGGED 0x04
#define MAILBOX_F_DELETED 0x08
#define MAILBOX_F_DRAFT 0x10

/* Attributes of a mailbox in a listing (RFC 9051 LIST, RFC 6154). */
#define MAILBOX_A_NOSELECT 0x001 /* a parent that exists only as a name */
#define MAILBOX_A_HASCHILDREN 0x002
#define MAILBOX_A_HASNOCHILDREN 0x004
#define MAILBOX_A_SUBSCRIBED 0x008
#define MAILBOX_A_SENT 0x010
#define MAILBOX_A_DRAFTS 0x020
#define MAILBOX_A_TRASH 0x040
#define MAILBOX_A_JUNK 0x080
#define MAILBOX_A_ARCHIVE 0x100

struct mailbox_store;
struct mailbox_user;
struct mailbox_view;

/* One message as the index knows it. Read-only to callers; valid until the
   next mailbox_view_sync() of the view it came from. */
struct mailbox_msg {
	uint32_t uid;
	unsigned flags;    /* MAILBOX_F_* */
	uint64_t keywords; /* bit i: keyword i of mailbox_view_keywords() */
	uint64_t modseq;
	int64_t internaldate; /* unix seconds */
	int internaldate_tz;  /* minutes east of UTC */
	uint64_t size;        /* bytes of the file (CRLF), RFC822.SIZE */
	bool expunged;        /* gone from the folder; the view still shows it
	                         until mailbox_view_sync() reports it */
};

struct mailbox_info {
	const char *name;
	unsigned attrs; /* MAILBOX_A_* */
};

struct mailbox_status {
	uint32_t messages, unseen, uidvalidity, uidnext;
	uint64_t highestmodseq, size;
	uint32_t deleted;
};

/* Completions. status: 1 done (durable), 0 not found, -1 error. */
typedef void mailbox_done_fn(void *ctx, int status, const char *error);
/* APPEND: the new message's UIDVALIDITY and UID (RFC 4315 APPENDUID). */
typedef void mailbox_append_fn(void *ctx, int status, const char *error, uint32_t uidvalidity,
                               uint32_t uid);
/* COPY/MOVE: source and destination UIDs, same order (COPYUID). */
typedef void mailbox_copy_fn(void *ctx, int status, const char *error, uint32_t uidvalidity,
                             const uint32_t *src_uids, const uint32_t *dst_uids, size_t n);
/* A shared change happened (new mail, flags, expunge by another session):
   the engine should call mailbox_view_sync() when it may send untagged
   responses (at once when in IDLE). Never called from inside a mailbox_*
   call made by the same view. */
typedef void mailbox_changed_fn(void *ctx);

/* What mailbox_view_sync() reports, in this order: expunges (highest
   sequence number first, each renumbering the later ones, as EXPUNGE
   responses must), then flag changes, then the new message count. */
struct mailbox_sync_cb {
	void (*expunge)(void *ctx, uint32_t seq);
	void (*flags)(void *ctx, uint32_t seq, const struct mailbox_msg *m);
	void (*exists)(void *ctx, uint32_t count);
};

/* --- the process-wide registry --- */
struct mailbox_store *mailbox_store_new(uv_loop_t *loop, const char *data_dir);
/* Waits for running jobs, then frees; every user must be closed. */
void mailbox_store_free(struct mailbox_store **ms);
/* New files were linked into ADDRESS's FOLDER/new/ (NULL folder: INBOX):
   if that account is open, pick them up soon and tell its views. */
void mailbox_store_notify(struct mailbox_store *ms, const char *address, const char *folder);

/* --- accounts --- */
/* Opens (or shares) the account of an existing user: creates the default
   folders (INBOX, Sent, Drafts, Trash, Junk with their SPECIAL-USE) and
   index.db when missing. Synchronous (runs once per account per process).
   The account's directory (made by store_user_add()) must exist. NULL
   with *error_r on failure. */
struct mailbox_user *mailbox_user_open(struct mailbox_store *ms, const char *address,
                                       const char **error_r);
void mailbox_user_close(struct mailbox_user **u);
const char *mailbox_user_address(const struct mailbox_user *u);

/* Every mailbox, sorted by name, INBOX first; the array is valid until the
   next mailbox_* call on u. Includes \Noselect parents of nested names. */
size_t mailbox_list(struct mailbox_user *u, const struct mailbox_info **v);
/* Is `name` acceptable (see Names above)? *error_r says why not. */
bool mailbox_name_valid(const char *name, const char **error_r);
/* STATUS of a mailbox, open or not (may read the index). 1, 0 no such
   mailbox, -1 error. */
int mailbox_status(struct mailbox_user *u, const char *name, struct mailbox_status *st,
                   const char **error_r);

/* Missing parents are not created: they list as \Noselect. -1 "mailbox
   already exists" or a name error. */
void mailbox_create(struct mailbox_user *u, const char *name, mailbox_done_fn *done, void *ctx);
/* INBOX cannot be deleted; deleting a folder with children keeps the
   children (RFC 9051 6.3.5: it becomes \Noselect). A folder that has open
   views is refused (-1 "mailbox is in use"), for DELETE and RENAME. */
void mailbox_delete(struct mailbox_user *u, const char *name, mailbox_done_fn *done, void *ctx);
/* Renaming INBOX moves its messages to the new folder (RFC 9051 6.3.6). */
void mailbox_rename(struct mailbox_user *u, const char *from, const char *to, mailbox_done_fn *done,
                    void *ctx);
/* 0 when no such mailbox exists. */
void mailbox_subscribe(struct mailbox_user *u, const char *name, bool on, mailbox_done_fn *done,
                       void *ctx);

/* Stores a new message (data copied; CRLF line endings expected) with its
   flags, keywords and internal date (0: now). An unknown mailbox: 0. */
void mailbox_append(struct mailbox_user *u, const char *name, const void *data, size_t len,
                    unsigned flags, const char *const *keywords, size_t nkeywords,
                    int64_t internaldate, int tz_minutes, mailbox_append_fn *done, void *ctx);

/* --- a session's view of one open mailbox --- */
/* Opens a view: picks up new/ first, then calls done (status 1) with the
   view ready, or 0 (no such mailbox) / -1. `changed` is the poke. */
typedef void mailbox_open_fn(void *ctx, int status, const char *error, struct mailbox_view *v);
void mailbox_view_open(struct mailbox_user *u, const char *name, bool readonly,
                       mailbox_changed_fn *changed, mailbox_open_fn *done, void *ctx);
void mailbox_view_close(struct mailbox_view **v);

const char *mailbox_view_name(const struct mailbox_view *v);
bool mailbox_view_readonly(const struct mailbox_view *v);
void mailbox_view_status(const struct mailbox_view *v, struct mailbox_status *st);
/* Messages in the view; seq is 1-based; NULL when out of range. */
uint32_t mailbox_view_count(const struct mailbox_view *v);
const struct mailbox_msg *mailbox_view_msg(const struct mailbox_view *v, uint32_t seq);
/* Sequence number of uid in the view, 0 when absent. */
uint32_t mailbox_view_seq(const struct mailbox_view *v, uint32_t uid);
/* Keyword names of the mailbox (index = bit in mailbox_msg.keywords). */
size_t mailbox_view_keywords(const struct mailbox_view *v, const char *const **names);
/* Applies what other sessions and deliveries changed, reporting it. */
void mailbox_view_sync(struct mailbox_view *v, const struct mailbox_sync_cb *cb, void *ctx);

/* Opens the message file read-only (the engine mmaps or reads it). Returns
   an fd, or -1 (e.g. expunged meanwhile). */
int mailbox_view_msg_fd(struct mailbox_view *v, uint32_t seq);
/* Cached renderings (NULL when none yet), and filling them: the cache is
   rebuildable, so puts are batched and not synced before replies. */
const char *mailbox_view_cache_get(struct mailbox_view *v, uint32_t seq, const char *field);
void mailbox_view_cache_put(struct mailbox_view *v, uint32_t seq, const char *field,
                            const char *value);

enum mailbox_flags_op { MAILBOX_FLAGS_SET, MAILBOX_FLAGS_ADD, MAILBOX_FLAGS_REMOVE };
/* STORE on the given UIDs (absent ones are skipped). Unknown keywords are
   added to the mailbox (NO past MAILBOX_MAX_KEYWORDS). The session's own
   changes show in its view when done runs; other views are poked. */
void mailbox_view_store(struct mailbox_view *v, const uint32_t *uids, size_t n,
                        enum mailbox_flags_op op, unsigned flags, const char *const *keywords,
                        size_t nkeywords, mailbox_done_fn *done, void *ctx);
/* COPY, or MOVE (copy then expunge from this view's mailbox, one job).
   A missing destination fails with an error starting "[TRYCREATE]". */
void mailbox_view_copy(struct mailbox_view *v, const uint32_t *uids, size_t n, const char *dest,
                       bool move, mailbox_copy_fn *done, void *ctx);
/* Expunges the given UIDs that carry \Deleted (uids NULL: every \Deleted
   message). The expunged messages leave this view at its next sync. */
void mailbox_view_expunge(struct mailbox_view *v, const uint32_t *uids, size_t n,
                          mailbox_done_fn *done, void *ctx);

/* --- recovery --- */
/* `hikyaku reindex ACCOUNT`: rebuilds index.db from the Maildir files,
   keeping UIDs where the old index still knows the file, else giving the
   mailbox a new UIDVALIDITY. Synchronous; not while the daemon serves the
   account. 1 done (*error_r then points to a summary, "folders=N kept=N
   added=N dropped=N"), -1 error. */
int mailbox_reindex(const char *data_dir, const char *address, const char **error_r);

#endif
