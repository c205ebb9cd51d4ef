/*
 * mailbox.c -- the registry of open accounts (mailbox_store), accounts
 * (open, close, lifetime), mailbox names and paths.
 *
 * Names come from IMAP clients: untrusted. mailbox_name_valid() admits only
 * names whose Maildir++ directory (".a.b" for "a/b") stays a direct child
 * of the account directory: no '.', '\\', '"', '*', '%' or control
 * characters, no empty component, bounded length and depth. Every path is
 * built from a name that passed it (or from "INBOX"); fuzzed by
 * tests/fuzz/fuzz_mailbox_name.c.
 * An account lives while sessions, views, jobs or unflushed cache puts
 * hold it (mbx_user_unref). XXX: open accounts are a list and each holds
 * an SQLite connection (a few fds): fine for thousands, not yet tuned for
 * 100k distinct open accounts.
 * Crash safety of each write is described where the job runs; the rule is
 * that the index commit is the moment an operation happens, and that the
 * file steps around it are either undone or finished by the next load
 * (mailbox_sync.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdatomic.h>

#include "base/log.h"
#include "base/span.h"
#include "base/xalloc.h"
#include "store/mailbox_int.h"
#include "store/store_int.h"

static const struct {
	const char *name;
	unsigned special;
} default_folders[] = {
        {"INBOX", 0},
        {"Sent", MAILBOX_A_SENT},
        {"Drafts", MAILBOX_A_DRAFTS},
        {"Trash", MAILBOX_A_TRASH},
        {"Junk", MAILBOX_A_JUNK},
};

/* ---- names ---- */

bool
mailbox_name_valid(const char *name, const char **error_r)
{
	size_t len = strlen(name), comp = 0, depth = 1;

	if (len == 0 || len > MAILBOX_MAX_NAME) {
		*error_r = len == 0 ? "empty mailbox name" : "mailbox name too long";
		return false;
	}
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch == '/' || ch == '\0') {
			if (comp == 0) {
				*error_r = "empty component in mailbox name";
				return false;
			}
			if (ch == '/' && ++depth > MAILBOX_MAX_DEPTH) {
				*error_r = "mailbox name nested too deeply";
				return false;
			}
			comp = 0;
			continue;
		}
		/* '.' separates Maildir++ levels on disk; it also rules out "."
		   and ".." components. '"' '*' '%' would need quoting or read as
		   LIST wildcards (RFC 9051 5.1). */
		if (ch < 0x20 || ch == 0x7f || strchr(".\\\"*%", ch) != NULL) {
			*error_r = "mailbox name with '.', '\\', '\"', '*', '%' or a control "
			           "character";
			return false;
		}
		comp++;
	}
	return true;
}

void
mbx_name_canon(const char *name, char *out, size_t size)
{
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		snprintf(out, size, "INBOX%s", name + 5);
	else
		snprintf(out, size, "%s", name);
}

int
mbx_folder_dir(const char *udir, const char *name, char *out, size_t size)
{
	int n;

	if (strcmp(name, "INBOX") == 0)
		n = snprintf(out, size, "%s", udir);
	else
		n = snprintf(out, size, "%s/.%s", udir, name);
	if (n < 0 || (size_t)n >= size)
		return -1;
	/* "a/b" is the sibling directory ".a.b" (Maildir++). */
	for (char *p = out + strlen(udir) + 1; *p != '\0'; p++)
		if (*p == '/')
			*p = '.';
	return 0;
}

void
mbx_unique_name(const struct mailbox_store *ms, char *out, size_t size)
{
	static atomic_ulong seq;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	/* "I" keeps these apart from maildir.c's names made in the same µs. */
	snprintf(out, size, "%lld.M%ldP%ldI%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
	         (long)getpid(), atomic_fetch_add(&seq, 1) + 1, ms->host);
}

int
mbx_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* ---- the registry ---- */

/* Host part of our Maildir names, without '/', ':' or ','. */
static void
store_host(char *dst, size_t size)
{
	char host[256] = "";
	size_t o = 0;

	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	for (const char *p = host; *p != '\0' && o + 1 < size; p++)
		dst[o++] = (*p == '/' || *p == ':' || *p == ',' || (unsigned char)*p < 0x21 ||
		            (unsigned char)*p > 0x7e)
		                   ? '_'
		                   : *p;
	dst[o] = '\0';
}

struct mailbox_store *
mailbox_store_new(uv_loop_t *loop, const char *data_dir)
{
	struct mailbox_store *ms = xcalloc(1, sizeof(*ms));

	ms->loop = loop;
	ms->data_dir = xstrdup(data_dir);
	store_host(ms->host, sizeof(ms->host));
	return ms;
}

void
mailbox_store_free(struct mailbox_store **msp)
{
	struct mailbox_store *ms = *msp;

	if (ms == NULL)
		return;
	/* Users closed but with jobs or a cache flush still going finish;
	   one still open is the caller's bug, left (leaked) rather than
	   waited for forever. */
	for (;;) {
		bool waiting = false, open = false;

		for (struct mailbox_user *u = ms->users; u != NULL; u = u->next) {
			waiting = true;
			open |= u->refs > 0 && !mbx_job_busy(u) && !u->timer_closing;
		}
		if (!waiting || open)
			break;
		uv_run(ms->loop, UV_RUN_ONCE);
	}
	if (ms->users != NULL) {
		log_warnx("event=mailbox-error error=\"accounts still open at shutdown\"");
		return;
	}
	free(ms->data_dir);
	free(ms);
	*msp = NULL;
}

static struct mailbox_user *
user_find(struct mailbox_store *ms, const char *addr)
{
	for (struct mailbox_user *u = ms->users; u != NULL; u = u->next)
		if (strcmp(u->address, addr) == 0)
			return u;
	return NULL;
}

void
mailbox_store_notify(struct mailbox_store *ms, const char *address, const char *folder)
{
	char addr[STORE_MAX_ADDRESS + 1], name[MAILBOX_MAX_NAME + 8];
	const char *error;
	struct mailbox_user *u;
	struct mbx_folder *f;

	if (ms == NULL || store_address_normalize(address, addr, &error) < 0 ||
	    (u = user_find(ms, addr)) == NULL || u->refs == 0)
		return;
	mbx_name_canon(folder != NULL ? folder : "INBOX", name, sizeof(name));
	if ((f = mbx_folder_find(u, name)) != NULL)
		mbx_folder_pickup(f);
}

/* ---- folders in memory ---- */

struct mbx_folder *
mbx_folder_find(struct mailbox_user *u, const char *name)
{
	char canon[MAILBOX_MAX_NAME + 8];

	mbx_name_canon(name, canon, sizeof(canon));
	for (struct mbx_folder *f = u->folders; f != NULL; f = f->next)
		if (strcmp(f->name, canon) == 0)
			return f;
	return NULL;
}

struct mbx_folder *
mbx_folder_by_id(struct mailbox_user *u, int64_t id)
{
	for (struct mbx_folder *f = u->folders; f != NULL; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

static struct mbx_folder *
folder_new(struct mailbox_user *u, const struct mbx_folder_row *r)
{
	struct mbx_folder *f = xcalloc(1, sizeof(*f));
	char path[MBX_PATH];

	f->u = u;
	f->id = r->id;
	f->name = xstrdup(r->name);
	if (mbx_folder_dir(u->dir, r->name, path, sizeof(path)) < 0)
		path[0] = '\0';
	f->path = xstrdup(path);
	f->uidvalidity = r->uidvalidity;
	f->uidnext = r->uidnext;
	f->highestmodseq = r->highestmodseq;
	f->subscribed = r->subscribed;
	f->special = r->special;
	f->next = u->folders;
	u->folders = f;
	return f;
}

void
mbx_folder_unload(struct mbx_folder *f)
{
	for (size_t i = 0; i < f->nmsgs; i++)
		mbx_msg_free(f->msgs[i]);
	free(f->msgs);
	f->msgs = NULL;
	f->nmsgs = f->capmsgs = f->ntomb = 0;
	f->nviews = f->behind = 0;
	free(f->tombs);
	f->tombs = NULL;
	free(f->chlog);
	f->chlog = NULL;
	f->nchlog = 0;
	mbx_strv_free(f->keywords, f->nkeywords);
	f->keywords = NULL;
	f->nkeywords = 0;
	f->loaded = false;
}

static void
folder_free(struct mbx_folder *f)
{
	BUG_ON(f->views != NULL);
	mbx_folder_unload(f);
	free(f->name);
	free(f->path);
	free(f);
}

/* ---- accounts ---- */

/* Finishes folder directory renames that a crash interrupted. */
static int
user_finish_renames(struct mailbox_user *u)
{
	sqlite3_stmt *st = mbx_db_prep(u->db, "SELECT old, new FROM renames ORDER BY seq");
	char from[MBX_PATH], to[MBX_PATH];
	struct stat sb;
	int n = 0;

	if (st == NULL)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		mbx_path(from, sizeof(from), "%s/%s", u->dir, sqlite3_column_text(st, 0));
		mbx_path(to, sizeof(to), "%s/%s", u->dir, sqlite3_column_text(st, 1));
		if (stat(to, &sb) < 0 && rename(from, to) < 0 && errno != ENOENT)
			log_warn("event=mailbox-rename-finish from=%s", from);
		n++;
	}
	sqlite3_finalize(st);
	if (n > 0 && mbx_fsync_dir(u->dir) == 0)
		mbx_db_exec(u->db, "DELETE FROM renames");
	return 0;
}

static int
user_load_folders(struct mailbox_user *u)
{
	sqlite3_stmt *st = mbx_db_prep(u->db, "SELECT id, name, uidvalidity, uidnext,"
	                                      " highestmodseq, subscribed, special FROM folders");
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mbx_folder_row r = {
		        .id = sqlite3_column_int64(st, 0),
		        .name = (char *)sqlite3_column_text(st, 1),
		        .uidvalidity = (uint32_t)sqlite3_column_int64(st, 2),
		        .uidnext = (uint32_t)sqlite3_column_int64(st, 3),
		        .highestmodseq = (uint64_t)sqlite3_column_int64(st, 4),
		        .subscribed = sqlite3_column_int(st, 5) != 0,
		        .special = (unsigned)sqlite3_column_int(st, 6),
		};
		const char *error;

		/* A row from an older or damaged index is skipped, not trusted. */
		if (strcmp(r.name, "INBOX") != 0 && !mailbox_name_valid(r.name, &error))
			continue;
		folder_new(u, &r);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* A fresh index gets the default folders (RFC 6154 SPECIAL-USE). */
static int
user_default_folders(struct mailbox_user *u)
{
	bool fresh = u->folders == NULL;
	int64_t id;

	if (!fresh && mbx_folder_find(u, "INBOX") != NULL)
		return 0;
	if (mbx_db_begin(u->db) < 0)
		return -1;
	/* A fresh index gets them all; an old one only a missing INBOX. */
	for (size_t i = 0; i < (fresh ? nitems(default_folders) : 1); i++) {
		if (mbx_index_folder_add(u->db, u->dir, default_folders[i].name,
		                         default_folders[i].special, &id) < 0) {
			mbx_db_rollback(u->db);
			return -1;
		}
	}
	if ((fresh && mbx_db_exec(u->db, "UPDATE folders SET subscribed = 1") < 0) ||
	    mbx_db_commit(u->db) < 0)
		return -1;
	while (u->folders != NULL) {
		struct mbx_folder *f = u->folders;

		u->folders = f->next;
		folder_free(f);
	}
	return user_load_folders(u);
}

/* Every folder has its Maildir (a missing one is made again, empty). */
static int
user_folder_dirs(struct mailbox_user *u)
{
	for (struct mbx_folder *f = u->folders; f != NULL; f = f->next)
		if (f->path[0] == '\0' || maildir_create(f->path) < 0)
			return -1;
	return 0;
}

static void
user_free(struct mailbox_user *u)
{
	struct mailbox_store *ms = u->ms;

	for (struct mailbox_user **pp = &ms->users; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			break;
		}
	}
	while (u->folders != NULL) {
		struct mbx_folder *f = u->folders;

		u->folders = f->next;
		folder_free(f);
	}
	sqlite3_close(u->db);
	sqlite3_close(u->rdb);
	free(u->list);
	mbx_strv_free(u->list_names, u->nlist);
	free(u->address);
	free(u->dir);
	free(u);
}

static void
user_timer_closed(uv_handle_t *h)
{
	struct mailbox_user *u = h->data;

	u->timer_closing = false;
	mbx_user_unref(u);
}

/* Called whenever a reference goes: the last one (no session, no job, no
   pending cache put) frees the account. */
void
mbx_user_unref(struct mailbox_user *u)
{
	if (--u->refs > 0)
		return;
	if (u->nputs > 0) {
		u->refs++;
		mbx_cache_flush(u); /* its job holds a reference */
		mbx_user_unref(u);
		return;
	}
	if (u->timer_on) {
		u->timer_on = false;
		u->timer_closing = true;
		u->refs++;
		uv_close((uv_handle_t *)&u->put_timer, user_timer_closed);
		return;
	}
	if (u->timer_closing || mbx_job_busy(u))
		return;
	user_free(u);
}

static struct mailbox_user *
user_open_fail(struct mailbox_user *u, const char **error_r)
{
	static _Thread_local char err[sizeof(u->err)];

	snprintf(err, sizeof(err), "%s", u->err);
	*error_r = err;
	u->refs = 1;
	mbx_user_unref(u);
	return NULL;
}

struct mailbox_user *
mailbox_user_open(struct mailbox_store *ms, const char *address, const char **error_r)
{
	char addr[STORE_MAX_ADDRESS + 1], dir[MBX_PATH], *at;
	struct mailbox_user *u;
	struct stat st;

	if (store_address_normalize(address, addr, error_r) < 0)
		return NULL;
	if ((u = user_find(ms, addr)) != NULL) {
		u->refs++;
		return u;
	}
	at = strrchr(addr, '@');
	mbx_path(dir, sizeof(dir), "%s/mail/%s/%.*s", ms->data_dir, at + 1, (int)(at - addr), addr);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*error_r = "no such account";
		return NULL;
	}
	u = xcalloc(1, sizeof(*u));
	u->ms = ms;
	u->address = xstrdup(addr);
	u->dir = xstrdup(dir);
	u->next = ms->users;
	ms->users = u;
	if ((u->db = mbx_index_open(dir, false, u->err, sizeof(u->err))) == NULL)
		return user_open_fail(u, error_r);
	if (user_finish_renames(u) < 0 || user_load_folders(u) < 0 || user_default_folders(u) < 0 ||
	    user_folder_dirs(u) < 0) {
		snprintf(u->err, sizeof(u->err), "%s: index: %s", dir, sqlite3_errmsg(u->db));
		return user_open_fail(u, error_r);
	}
	u->refs = 1;
	/* Mail that came while the account was closed. */
	mbx_folder_pickup(mbx_folder_find(u, "INBOX"));
	return u;
}

void
mailbox_user_close(struct mailbox_user **up)
{
	if (*up == NULL)
		return;
	mbx_user_unref(*up);
	*up = NULL;
}

const char *
mailbox_user_address(const struct mailbox_user *u)
{
	return u->address;
}
