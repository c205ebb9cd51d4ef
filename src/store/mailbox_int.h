/*
 * mailbox_int.h -- what the mailbox_*.c files share; not for other modules.
 *
 * Memory model (loop thread only): a struct mailbox_user holds its folders;
 * a folder with open views is "loaded": it holds the message array shared
 * by all its views, sorted by UID. An expunged message stays in the array
 * as a tombstone (expunge_seq != 0) until every view has synced past it, so
 * a view keeps only three numbers: how much of the array it knows, which
 * expunges it has reported and which MODSEQ it has reported.
 * Jobs (mailbox_job.c) run in the libuv pool, one at a time per account,
 * FIFO; their completions run on the loop in the same order and are the
 * only place where memory follows the index.
 */
#ifndef HIKYAKU_STORE_MAILBOX_INT_H
#define HIKYAKU_STORE_MAILBOX_INT_H

#include <sqlite3.h>

#include "store/mailbox.h"
#include "store/store.h"

#define MBX_PATH 4096
#define MBX_CHLOG_MAX 1024 /* flag changes remembered per loaded folder */

/* A cached rendering of one message (ENVELOPE, BODYSTRUCTURE...). */
struct mbx_cache {
	struct mbx_cache *next;
	char *field, *value;
};

struct mbx_msg {
	struct mailbox_msg m; /* first: callers get &mm->m */
	char *file;           /* name in cur/ */
	uint32_t expunge_seq; /* 0 live; else the folder's expunge count then */
	struct mbx_cache *cache;
};

struct mbx_folder {
	struct mbx_folder *next;
	struct mailbox_user *u;
	int64_t id;
	char *name; /* "INBOX", "a/b" */
	char *path; /* the Maildir */
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	bool subscribed;
	unsigned special; /* MAILBOX_A_SENT ... */
	/* loaded state: only while views are open */
	bool loaded, pickup_queued;
	struct mbx_msg **msgs;
	size_t nmsgs, capmsgs, ntomb;
	size_t *tombs; /* indexes of the ntomb tombstones, ascending */
	struct mbx_change {
		uint64_t modseq;
		uint32_t uid;
	} * chlog; /* STOREs since load, MODSEQ order, bounded */
	size_t nchlog;
	uint64_t chlog_floor;  /* changes at or below it may be missing */
	uint32_t nexpunge;     /* expunges so far (tombstone stamps) */
	size_t nviews, behind; /* views, and those not synced to nexpunge */
	char **keywords;
	size_t nkeywords;
	struct mailbox_view *views;
};

struct mailbox_view {
	struct mailbox_view *next, *prev;
	struct mbx_folder *f;
	bool readonly;
	mailbox_changed_fn *changed;
	void *ctx;
	size_t known;          /* entries of f->msgs the view was told about */
	uint32_t seen_expunge; /* expunges reported up to */
	uint64_t synced_modseq;
	uint32_t count; /* messages the view shows */
};

struct mbx_job;

struct mailbox_user {
	struct mailbox_user *next;
	struct mailbox_store *ms;
	char *address; /* normalized */
	char *dir;     /* data_dir/mail/DOMAIN/LOCAL */
	int refs;
	sqlite3 *db;  /* the writer: used by one job at a time, in the pool */
	sqlite3 *rdb; /* loop-thread reads (STATUS of folders not loaded), lazy */
	struct mbx_folder *folders;
	struct mbx_job *jobs, *jobs_tail; /* queue; head runs */
	bool running;
	struct mailbox_info *list; /* mailbox_list() result */
	char **list_names;
	size_t nlist;
	/* cache puts waiting for a flush job */
	struct mbx_cache_put *puts;
	size_t nputs;
	uv_timer_t put_timer;
	bool timer_on, timer_closing;
	char err[MBX_PATH + 512];
};

struct mailbox_store {
	uv_loop_t *loop;
	char *data_dir;
	struct mailbox_user *users;
	char host[128];
};

struct mbx_cache_put {
	struct mbx_cache_put *next;
	int64_t folder;
	uint32_t uid;
	char *field, *value;
};

/* ---- jobs (mailbox_job.c) ---- */
struct mbx_job {
	struct mbx_job *next;
	uv_work_t work;
	struct mailbox_user *u;
	struct mailbox_view *v;             /* origin, NULL when closed meanwhile */
	void (*run)(struct mbx_job *);      /* pool thread: files and u->db */
	void (*complete)(struct mbx_job *); /* loop thread; frees the job */
	int status;
	char err[512];
};

/* Queues j (allocated by the caller, zeroed, run/complete set). */
void mbx_job_submit(struct mailbox_user *u, struct mbx_job *j, struct mailbox_view *v);
void mbx_job_fail(struct mbx_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Is anything queued or running for u? */
bool mbx_job_busy(const struct mailbox_user *u);

/* ---- the index (mailbox_index.c; pool thread, or synchronous at open) ---- */
/* Opens (creating the schema) dir/index.db. NULL with err filled. */
sqlite3 *mbx_index_open(const char *dir, bool readonly, char *err, size_t errsize);
int mbx_db_exec(sqlite3 *db, const char *sql);
/* BEGIN IMMEDIATE; its commit is durable (synchronous=FULL) before
   mbx_db_commit() returns. */
int mbx_db_begin(sqlite3 *db);
/* Same, for rebuildable data (cache, clean-ups): synchronous=NORMAL, made
   durable by the next FULL commit. */
int mbx_db_begin_lazy(sqlite3 *db);
int mbx_db_commit(sqlite3 *db);
void mbx_db_rollback(sqlite3 *db);
sqlite3_stmt *mbx_db_prep(sqlite3 *db, const char *sql);

struct mbx_folder_row {
	int64_t id;
	char *name;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	bool subscribed;
	unsigned special;
};
/* Allocates a new UIDVALIDITY for dir (persisted in dir/uidvalidity so a
   rebuilt index never reuses one). */
uint32_t mbx_uidvalidity_next(const char *dir);
/* Inserts a folder row; 1, 0 name taken, -1. */
int mbx_index_folder_add(sqlite3 *db, const char *udir, const char *name, unsigned special,
                         int64_t *id_r);

/* Bit mask of the keywords `names` in folder (adding unknown ones when
   `add`): 1, or -1 with err (invalid, too many, database). */
int mbx_index_keyword_mask(sqlite3 *db, int64_t folder, const char *const *names, size_t n,
                           bool add, uint64_t *mask_r, char *err, size_t errsize);
int mbx_index_folder_get(sqlite3 *db, int64_t folder, struct mbx_folder_row *r);
int mbx_index_folder_set(sqlite3 *db, int64_t folder, uint32_t uidnext, uint64_t highestmodseq);
/* One statement with ?1, ?2 integers and ?3 text (NULL: unbound). 0 or -1. */
int mbx_index_run(sqlite3 *db, const char *sql, int64_t a, int64_t b, const char *text);

/* Message rows from_uid..to_uid, UID order, with their cache; *rc_r 0 or
   -1 (database error). */
struct mbx_msg **mbx_index_msgs(sqlite3 *db, int64_t folder, uint32_t from_uid, uint32_t to_uid,
                                size_t *n_r, int *rc_r);
char **mbx_index_keywords(sqlite3 *db, int64_t folder, size_t *n_r);
void mbx_msg_free(struct mbx_msg *m);
void mbx_strv_free(char **v, size_t n);

/* ---- names and paths (mailbox.c) ---- */
/* Folder directory for a valid name: udir itself for INBOX, else
   udir/.a.b for "a/b". */
int mbx_folder_dir(const char *udir, const char *name, char *out, size_t size);
/* Canonical form: a leading "inbox" component in any case becomes "INBOX". */
void mbx_name_canon(const char *name, char *out, size_t size);
struct mbx_folder *mbx_folder_find(struct mailbox_user *u, const char *name);
struct mbx_folder *mbx_folder_by_id(struct mailbox_user *u, int64_t id);
void mbx_folder_unload(struct mbx_folder *f);
void mbx_user_unref(struct mailbox_user *u);
/* Unique Maildir base name "<sec>.M<usec>P<pid>Q<seq>.<host>". */
void mbx_unique_name(const struct mailbox_store *ms, char *out, size_t size);
int mbx_fsync_dir(const char *path);
/* snprintf for paths: 0, or -1 and out = "" when it does not fit (an
   empty path fails every file call instead of naming another file). */
int mbx_path(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- sync (mailbox_sync.c; pool thread) ---- */
struct mbx_namev {
	char **v;
	size_t n, cap;
};
/* Regular files of dir not starting with '.', sorted. 0, or -1 (errno). */
int mbx_namev_read_dir(struct mbx_namev *nv, const char *dir);
bool mbx_namev_has(const struct mbx_namev *nv, const char *name);
void mbx_namev_free(struct mbx_namev *nv);
/* cur/ name of a new/ file: "NAME:2," unless it has an info part. */
void mbx_cur_name(const char *newname, char *out, size_t size);
/* Size from a Maildir++ ",S=" in the name, else 0. */
uint64_t mbx_name_size(const char *name);
/* Reconciles the folder's files with the index (first load) or just picks
   up new/ (full false). Returns 1, 0 folder gone, -1 with j->err. */
int mbx_sync_folder(struct mbx_job *j, sqlite3 *db, int64_t folder, const char *path, bool full);
/* Copies (links) `src` to dir/cur under a fresh name put in out. */
int mbx_file_link(const struct mailbox_store *ms, const char *src, const char *dir, char *out,
                  size_t size);
/* Removes a Maildir folder and its files. */
int mbx_dir_remove(const char *path);

/* ---- views (mailbox_view.c; loop thread) ---- */
/* New messages were merged into f: poke every view but `except`. */
void mbx_folder_poke(struct mbx_folder *f, const struct mailbox_view *except);
/* Merges msgs (UID order, uid >= f->uidnext-known) into a loaded folder. */
void mbx_folder_merge(struct mbx_folder *f, struct mbx_msg **msgs, size_t n);
/* Marks uids expunged (tombstones) in a loaded folder. */
void mbx_folder_expunged(struct mbx_folder *f, const uint32_t *uids, size_t n);
void mbx_folder_compact(struct mbx_folder *f);
/* A STORE changed uid (now at modseq): logged for the views' syncs. */
void mbx_folder_changed(struct mbx_folder *f, uint32_t uid, uint64_t modseq);
/* Takes the keyword list a job read (index order) into f, appending the
   new names only, so that names given out earlier stay valid. */
void mbx_folder_keywords(struct mbx_folder *f, char ***kw, size_t *n);
struct mbx_msg *mbx_folder_msg_by_uid(struct mbx_folder *f, uint32_t uid);
/* Starts a pickup job for f (coalesced). */
void mbx_folder_pickup(struct mbx_folder *f);
/* Writes the pending cache puts now (job). */
void mbx_cache_flush(struct mailbox_user *u);

#endif
