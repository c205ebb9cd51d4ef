/*
 * test_mailbox.c -- the mailbox store on a mkdtemp data_dir with a real
 * libuv loop and thread pool: names (hostile ones too), folders, APPEND,
 * STORE, COPY, MOVE, EXPUNGE with UIDs and MODSEQ, two views seeing each
 * other's changes, pick up of new/, the keyword limit, the cache, reindex,
 * and a crash test: a forked child appends, stores and expunges until it
 * is SIGKILLed at a random moment; the reopened account must hold exactly
 * what was acknowledged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "harness.h"
#include "store/mailbox.h"
#include "store/store.h"

static char tmpdir[64];
static char data_dir[128];
static uv_loop_t *loop;

/* ---- plumbing ---- */

struct res {
	bool fired;
	int status;
	char err[256];
	uint32_t uidvalidity, uid;
	uint32_t src[64], dst[64];
	size_t n;
	struct mailbox_view *v;
};

/* Runs the loop until r fires; bounded in rounds and in time. */
static void
wait_for(struct res *r)
{
	time_t end = time(NULL) + 30;

	for (int i = 0; i < 100000 && !r->fired && time(NULL) < end; i++)
		uv_run(loop, UV_RUN_ONCE);
	if (!r->fired)
		t_fail(__FILE__, __LINE__, "callback never came");
}

static void
on_done(void *ctx, int status, const char *error)
{
	struct res *r = ctx;

	r->fired = true;
	r->status = status;
	snprintf(r->err, sizeof(r->err), "%s", error != NULL ? error : "");
}

static void
on_append(void *ctx, int status, const char *error, uint32_t uidvalidity, uint32_t uid)
{
	struct res *r = ctx;

	on_done(ctx, status, error);
	r->uidvalidity = uidvalidity;
	r->uid = uid;
}

static void
on_copy(void *ctx, int status, const char *error, uint32_t uidvalidity, const uint32_t *src,
        const uint32_t *dst, size_t n)
{
	struct res *r = ctx;

	on_done(ctx, status, error);
	r->uidvalidity = uidvalidity;
	r->n = n;
	for (size_t i = 0; i < n && i < 64; i++) {
		r->src[i] = src[i];
		r->dst[i] = dst[i];
	}
}

static void
on_open(void *ctx, int status, const char *error, struct mailbox_view *v)
{
	struct res *r = ctx;

	on_done(ctx, status, error);
	r->v = v;
}

/* A view's context: the open result, then its pokes. */
struct vctx {
	struct res r; /* first: on_open gets it as a struct res */
	int pokes;
};

static void
on_changed(void *ctx)
{
	((struct vctx *)ctx)->pokes++;
}

static int
do_create(struct mailbox_user *u, const char *name)
{
	struct res r = {0};

	mailbox_create(u, name, on_done, &r);
	wait_for(&r);
	return r.status;
}

static uint32_t
do_append(struct mailbox_user *u, const char *box, const char *text, unsigned flags)
{
	struct res r = {0};

	mailbox_append(u, box, text, strlen(text), flags, NULL, 0, 0, 0, on_append, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	return r.uid;
}

/* Opens a view; c must live as long as the view. */
static struct mailbox_view *
do_open(struct mailbox_user *u, const char *box, struct vctx *c)
{
	*c = (struct vctx){0};
	mailbox_view_open(u, box, false, on_changed, on_open, c);
	wait_for(&c->r);
	return c->r.status == 1 ? c->r.v : NULL;
}

static int
do_store(struct mailbox_view *v, uint32_t uid, enum mailbox_flags_op op, unsigned flags,
         const char *const *kw, size_t nkw, char *err)
{
	struct res r = {0};

	mailbox_view_store(v, &uid, 1, op, flags, kw, nkw, on_done, &r);
	wait_for(&r);
	if (err != NULL)
		snprintf(err, 256, "%s", r.err);
	return r.status;
}

static int
do_expunge(struct mailbox_view *v)
{
	struct res r = {0};

	mailbox_view_expunge(v, NULL, 0, on_done, &r);
	wait_for(&r);
	return r.status;
}

/* What a sync reported, as text: "E3 E1 F2:0x8 X5 ". */
struct synclog {
	char s[1024];
};

static void
sl_expunge(void *ctx, uint32_t seq)
{
	struct synclog *l = ctx;

	snprintf(l->s + strlen(l->s), sizeof(l->s) - strlen(l->s), "E%u ", seq);
}

static void
sl_flags(void *ctx, uint32_t seq, const struct mailbox_msg *m)
{
	struct synclog *l = ctx;

	snprintf(l->s + strlen(l->s), sizeof(l->s) - strlen(l->s), "F%u:%#x ", seq, m->flags);
}

static void
sl_exists(void *ctx, uint32_t n)
{
	struct synclog *l = ctx;

	snprintf(l->s + strlen(l->s), sizeof(l->s) - strlen(l->s), "X%u ", n);
}

static const struct mailbox_sync_cb sync_cb = {sl_expunge, sl_flags, sl_exists};

static const char *
do_sync(struct mailbox_view *v, struct synclog *l)
{
	l->s[0] = '\0';
	mailbox_view_sync(v, &sync_cb, l);
	return l->s;
}

/* A fresh account per test: "NAME@example.org". */
static struct mailbox_user *
account(struct mailbox_store *ms, struct store *s, const char *local)
{
	char addr[128];
	const char *error = NULL;
	struct mailbox_user *u;

	snprintf(addr, sizeof(addr), "%s@example.org", local);
	CHECK_INT(store_user_add(s, addr, "password123", &error), 1);
	u = mailbox_user_open(ms, addr, &error);
	if (u == NULL)
		t_fail(__FILE__, __LINE__, error);
	return u;
}

static struct store *the_store;
static struct mailbox_store *the_ms;

static void
user_dir(const char *local, const char *sub, char *out, size_t size)
{
	snprintf(out, size, "%s/mail/example.org/%s%s%s", data_dir, local, sub[0] ? "/" : "", sub);
}

static int
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Entries of dir but "." and "..". */
static int
count_all(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* ---- names ---- */

static const struct name_case {
	const char *name;
	bool ok;
} name_cases[] = {
        {"INBOX", true},
        {"a", true},
        {"a/b/c", true},
        {"Entw\xc3\xbcrfe", true},
        {"with space", true},
        {"", false},
        {"..", false},
        {".", false},
        {"a/../b", false},
        {"/x", false},
        {"x/", false},
        {"a//b", false},
        {".hidden", false},
        {"a.b", false},
        {"a\\b", false},
        {"tab\there", false},
        {"nl\nx", false},
        {"del\x7f", false},
        {"q\"uote", false},
        {"star*", false},
        {"per%cent", false},
        {"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", true},    /* 16 levels */
        {"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", false}, /* 17 */
};

static void
test_mailbox_names(void)
{
	char longname[301];
	const char *error;

	for (size_t i = 0; i < nitems(name_cases); i++) {
		error = NULL;
		bool ok = mailbox_name_valid(name_cases[i].name, &error);

		if (ok != name_cases[i].ok)
			t_fail(__FILE__, __LINE__, name_cases[i].name);
		if (!ok)
			CHECK(error != NULL);
	}
	memset(longname, 'x', 300);
	longname[300] = '\0';
	CHECK(!mailbox_name_valid(longname, &error));
	longname[MAILBOX_MAX_NAME] = '\0';
	CHECK(mailbox_name_valid(longname, &error));
}

/* ---- folders ---- */

static unsigned
attrs_of(struct mailbox_user *u, const char *name)
{
	const struct mailbox_info *v;
	size_t n = mailbox_list(u, &v);

	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].attrs | 0x10000;
	return 0;
}

static void
test_mailbox_folders(void)
{
	struct mailbox_user *u = account(the_ms, the_store, "folders");
	const struct mailbox_info *v;
	char path[512], list[512] = "";
	struct res r = {0};
	struct stat st;
	size_t n;
	int before, before_domain;

	if (u == NULL)
		return;
	n = mailbox_list(u, &v);
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s ", v[i].name);
	CHECK_STR(list, "INBOX Drafts Junk Sent Trash ");
	CHECK(attrs_of(u, "Sent") & MAILBOX_A_SENT);
	CHECK(attrs_of(u, "Trash") & MAILBOX_A_TRASH);
	CHECK(attrs_of(u, "Junk") & MAILBOX_A_JUNK);
	CHECK(attrs_of(u, "Drafts") & MAILBOX_A_DRAFTS);
	CHECK(attrs_of(u, "INBOX") & MAILBOX_A_SUBSCRIBED);

	/* Hostile names never reach the file system. */
	user_dir("folders", "", path, sizeof(path));
	before = count_all(path);
	snprintf(path, sizeof(path), "%s/mail/example.org", data_dir);
	before_domain = count_all(path);
	static const char *const bad[] = {"..",      "a/../b", "/x",          "a//b",
	                                  ".hidden", "c\x01",  "../../../etc"};
	for (size_t i = 0; i < nitems(bad); i++)
		CHECK_INT(do_create(u, bad[i]), -1);
	user_dir("folders", "", path, sizeof(path));
	CHECK_INT(count_all(path), before);
	snprintf(path, sizeof(path), "%s/mail/example.org", data_dir);
	CHECK_INT(count_all(path), before_domain);
	snprintf(path, sizeof(path), "%s/mail", data_dir);
	CHECK_INT(count_all(path), 1);

	CHECK_INT(do_create(u, "a/b"), 1);
	CHECK_INT(do_create(u, "a/b"), -1);
	CHECK_INT(do_create(u, "inbox"), -1);
	user_dir("folders", ".a.b/cur", path, sizeof(path));
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(attrs_of(u, "a") & MAILBOX_A_NOSELECT);
	CHECK(attrs_of(u, "a") & MAILBOX_A_HASCHILDREN);
	CHECK(attrs_of(u, "a/b") & MAILBOX_A_HASNOCHILDREN);
	CHECK(!(attrs_of(u, "a/b") & MAILBOX_A_SUBSCRIBED));

	mailbox_subscribe(u, "a/b", true, on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	CHECK(attrs_of(u, "a/b") & MAILBOX_A_SUBSCRIBED);

	do_append(u, "a/b", "Subject: x\r\n\r\nbody\r\n", 0);
	r = (struct res){0};
	mailbox_rename(u, "a", "c", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 0); /* "a" is only a \Noselect name */
	r = (struct res){0};
	mailbox_create(u, "a", on_done, &r);
	wait_for(&r);
	r = (struct res){0};
	mailbox_rename(u, "a", "c", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	CHECK(attrs_of(u, "c/b") != 0);
	CHECK(attrs_of(u, "a/b") == 0);
	user_dir("folders", ".c.b/cur", path, sizeof(path));
	CHECK_INT(count_files(path), 1);
	r = (struct res){0};
	mailbox_rename(u, "c", "c/x", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, -1);

	struct mailbox_status ms;
	const char *error;
	CHECK_INT(mailbox_status(u, "c/b", &ms, &error), 1);
	CHECK_INT(ms.messages, 1);
	CHECK_INT(ms.unseen, 1);
	CHECK_INT(ms.uidnext, 2);
	CHECK_INT(mailbox_status(u, "nope", &ms, &error), 0);

	/* INBOX cannot be deleted; a parent's children survive it. */
	r = (struct res){0};
	mailbox_delete(u, "INBOX", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, -1);
	r = (struct res){0};
	mailbox_delete(u, "c", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	CHECK(attrs_of(u, "c") & MAILBOX_A_NOSELECT);
	r = (struct res){0};
	mailbox_delete(u, "c/b", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	user_dir("folders", ".c.b", path, sizeof(path));
	CHECK(stat(path, &st) < 0);
	CHECK(attrs_of(u, "c") == 0);
	r = (struct res){0};
	mailbox_delete(u, "c/b", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 0);

	/* Renaming INBOX moves its messages. */
	do_append(u, "INBOX", "Subject: in\r\n\r\nx\r\n", 0);
	r = (struct res){0};
	mailbox_rename(u, "INBOX", "Old", on_done, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	CHECK_INT(mailbox_status(u, "Old", &ms, &error), 1);
	CHECK_INT(ms.messages, 1);
	CHECK_INT(mailbox_status(u, "INBOX", &ms, &error), 1);
	CHECK_INT(ms.messages, 0);
	mailbox_user_close(&u);
}

/* ---- messages ---- */

static void
test_mailbox_append_store_expunge(void)
{
	static struct vctx vc;
	struct mailbox_user *u = account(the_ms, the_store, "msgs");
	struct mailbox_view *v;
	struct mailbox_status st;
	struct synclog l;
	const struct mailbox_msg *m;
	uint64_t ms0;
	char path[512], buf[64];
	int fd;

	if (u == NULL)
		return;
	CHECK_INT(do_append(u, "INBOX", "A\r\n", MAILBOX_F_SEEN), 1);
	CHECK_INT(do_append(u, "INBOX", "BB\r\n", 0), 2);
	CHECK_INT(do_append(u, "INBOX", "CCC\r\n", MAILBOX_F_FLAGGED), 3);
	if ((v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	CHECK_INT(mailbox_view_count(v), 3);
	mailbox_view_status(v, &st);
	CHECK_INT(st.uidnext, 4);
	CHECK_INT(st.unseen, 2);
	CHECK_INT(st.size, 3 + 4 + 5);
	m = mailbox_view_msg(v, 3);
	CHECK(m != NULL && m->uid == 3 && m->flags == MAILBOX_F_FLAGGED && m->size == 5);
	CHECK(mailbox_view_msg(v, 4) == NULL);
	CHECK(mailbox_view_msg(v, 0) == NULL);
	CHECK_INT(mailbox_view_seq(v, 2), 2);
	CHECK_INT(mailbox_view_seq(v, 9), 0);
	fd = mailbox_view_msg_fd(v, 2);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(read(fd, buf, sizeof(buf)), 4);
		CHECK(memcmp(buf, "BB\r\n", 4) == 0);
		close(fd);
	}

	ms0 = st.highestmodseq;
	CHECK_INT(do_store(v, 2, MAILBOX_FLAGS_ADD, MAILBOX_F_DELETED | MAILBOX_F_SEEN, NULL, 0,
	                   NULL),
	          1);
	m = mailbox_view_msg(v, 2);
	CHECK(m->flags == (MAILBOX_F_DELETED | MAILBOX_F_SEEN));
	CHECK(m->modseq == ms0 + 1);
	mailbox_view_status(v, &st);
	CHECK(st.highestmodseq == ms0 + 1);
	/* The session's own change is not reported again. */
	CHECK_STR(do_sync(v, &l), "");
	/* No change, no new MODSEQ. */
	CHECK_INT(do_store(v, 2, MAILBOX_FLAGS_ADD, MAILBOX_F_SEEN, NULL, 0, NULL), 1);
	CHECK(mailbox_view_msg(v, 2)->modseq == ms0 + 1);
	CHECK_INT(do_store(v, 3, MAILBOX_FLAGS_REMOVE, MAILBOX_F_FLAGGED, NULL, 0, NULL), 1);
	CHECK(mailbox_view_msg(v, 3)->flags == 0 && mailbox_view_msg(v, 3)->modseq == ms0 + 2);

	CHECK_INT(do_expunge(v), 1);
	/* Still there until the sync reports it. */
	CHECK_INT(mailbox_view_count(v), 3);
	CHECK(mailbox_view_msg(v, 2)->expunged);
	CHECK_STR(do_sync(v, &l), "E2 ");
	CHECK_INT(mailbox_view_count(v), 2);
	CHECK_INT(mailbox_view_msg(v, 2)->uid, 3);
	CHECK_INT(mailbox_view_seq(v, 3), 2);
	user_dir("msgs", "cur", path, sizeof(path));
	CHECK_INT(count_files(path), 2);
	mailbox_view_status(v, &st);
	CHECK(st.highestmodseq == ms0 + 3);

	/* Read-only views refuse writes. */
	struct res r = {0};
	mailbox_view_open(u, "INBOX", true, NULL, on_open, &r);
	wait_for(&r);
	if (r.v != NULL) {
		CHECK(mailbox_view_readonly(r.v));
		CHECK_INT(do_store(r.v, 1, MAILBOX_FLAGS_ADD, MAILBOX_F_DELETED, NULL, 0, NULL),
		          -1);
		mailbox_view_close(&r.v);
	}
	r = (struct res){0};
	mailbox_view_open(u, "NoSuch", false, NULL, on_open, &r);
	wait_for(&r);
	CHECK_INT(r.status, 0);
	mailbox_view_close(&v);
	mailbox_user_close(&u);
}

static void
test_mailbox_two_views(void)
{
	struct mailbox_user *u = account(the_ms, the_store, "twoviews");
	struct mailbox_view *a, *b;
	struct synclog l;
	static struct vctx ac, bc;

	if (u == NULL)
		return;
	for (int i = 0; i < 5; i++)
		do_append(u, "INBOX", "m\r\n", 0);
	a = do_open(u, "INBOX", &ac);
	b = do_open(u, "INBOX", &bc);
	if (a == NULL || b == NULL)
		return;

	/* A deletes 1, 3 and 5; B sees the flags, then the expunges. */
	uint32_t del[] = {1, 3, 5};
	struct res sr = {0};
	mailbox_view_store(a, del, 3, MAILBOX_FLAGS_ADD, MAILBOX_F_DELETED, NULL, 0, on_done, &sr);
	wait_for(&sr);
	CHECK_INT(bc.pokes, 1); /* B was poked, A (the actor) not */
	CHECK_INT(ac.pokes, 0);
	CHECK_STR(do_sync(b, &l), "F1:0x8 F3:0x8 F5:0x8 ");
	CHECK_STR(do_sync(a, &l), "");
	CHECK_INT(do_expunge(a), 1);
	/* New mail meanwhile. */
	do_append(u, "INBOX", "new\r\n", 0);
	/* Highest first, each renumbering the later ones: 5, 3, 1. */
	CHECK_STR(do_sync(b, &l), "E5 E3 E1 X3 ");
	CHECK_INT(mailbox_view_count(b), 3);
	CHECK_INT(mailbox_view_msg(b, 1)->uid, 2);
	CHECK_INT(mailbox_view_msg(b, 3)->uid, 6);
	/* A has not synced: it still shows 5 messages. */
	CHECK_INT(mailbox_view_count(a), 5);
	CHECK_INT(mailbox_view_msg(a, 5)->uid, 5);
	CHECK_INT(mailbox_view_seq(a, 4), 4);
	CHECK_STR(do_sync(a, &l), "E5 E3 E1 X3 ");
	CHECK_INT(mailbox_view_seq(a, 6), 3);

	/* B expunges what A has not seen yet: a new message expunged before A
	   synced is never shown to A. */
	do_append(u, "INBOX", "gone\r\n", MAILBOX_F_DELETED);
	CHECK_STR(do_sync(b, &l), "X4 ");
	CHECK_INT(do_expunge(b), 1);
	do_append(u, "INBOX", "after\r\n", 0);
	CHECK_STR(do_sync(a, &l), "X4 ");
	CHECK_INT(mailbox_view_count(a), 4);
	/* B has not reported the expunge: the tombstone is still in the
	   shared array, and A steps over it. */
	CHECK_INT(mailbox_view_msg(a, 3)->uid, 6);
	CHECK_INT(mailbox_view_msg(a, 4)->uid, 8);
	CHECK_INT(mailbox_view_seq(a, 8), 4);
	CHECK_INT(mailbox_view_seq(a, 7), 0);
	CHECK_INT(mailbox_view_msg(b, 4)->uid, 7);
	CHECK(mailbox_view_msg(b, 4)->expunged);
	CHECK_STR(do_sync(b, &l), "E4 X4 ");
	CHECK_INT(mailbox_view_msg(b, 4)->uid, 8);
	/* C opens while A is the only view, and A closes before C's open
	   completes: C must still see every message. */
	static struct vctx cc;
	mailbox_view_close(&b);
	cc = (struct vctx){0};
	mailbox_view_open(u, "INBOX", false, on_changed, on_open, &cc);
	mailbox_view_close(&a);
	wait_for(&cc.r);
	CHECK_INT(cc.r.status, 1);
	if (cc.r.v != NULL) {
		CHECK_INT(mailbox_view_count(cc.r.v), 4);
		mailbox_view_close(&cc.r.v);
	}
	mailbox_user_close(&u);
}

/* More flag changes than the change log keeps: a view that fell behind
   it still hears of every change (by scanning), one that kept up uses it. */
static void
test_mailbox_sync_log(void)
{
	struct mailbox_user *u = account(the_ms, the_store, "synclog");
	struct mailbox_view *a, *b, *c;
	static struct vctx ac, bc, cc;
	struct synclog l;
	uint32_t uids[10];

	if (u == NULL)
		return;
	for (int i = 0; i < 10; i++)
		uids[i] = do_append(u, "INBOX", "m\r\n", 0);
	if ((a = do_open(u, "INBOX", &ac)) == NULL || (b = do_open(u, "INBOX", &bc)) == NULL ||
	    (c = do_open(u, "INBOX", &cc)) == NULL)
		return;
	for (int round = 0; round < 120; round++) {
		struct res r = {0};

		mailbox_view_store(a, uids, 10, round % 2 ? MAILBOX_FLAGS_REMOVE : MAILBOX_FLAGS_ADD,
		                   MAILBOX_F_FLAGGED, NULL, 0, on_done, &r);
		wait_for(&r);
		CHECK_INT(r.status, 1);
		if (round == 118)
			do_sync(c, &l); /* C keeps up until the last change */
	}
	/* The last STORE removed \Flagged from all ten. */
	CHECK_STR(do_sync(b, &l), "F1:0 F2:0 F3:0 F4:0 F5:0 F6:0 F7:0 F8:0 F9:0 F10:0 ");
	CHECK_STR(do_sync(c, &l), "F1:0 F2:0 F3:0 F4:0 F5:0 F6:0 F7:0 F8:0 F9:0 F10:0 ");
	CHECK_STR(do_sync(c, &l), "");
	mailbox_view_close(&a);
	mailbox_view_close(&b);
	mailbox_view_close(&c);
	mailbox_user_close(&u);
}

static void
test_mailbox_copy_move(void)
{
	static struct vctx vc, tc;
	struct mailbox_user *u = account(the_ms, the_store, "copy");
	struct mailbox_view *v, *t;
	struct mailbox_status st;
	struct synclog l;
	struct res r = {0};
	const char *error;
	const char *kw[] = {"$Important"};
	uint32_t uids[] = {1, 2, 7};

	if (u == NULL)
		return;
	do_append(u, "INBOX", "one\r\n", MAILBOX_F_SEEN);
	do_append(u, "INBOX", "two\r\n", 0);
	do_append(u, "Trash", "t\r\n", 0);
	if ((v = do_open(u, "INBOX", &vc)) == NULL || (t = do_open(u, "Trash", &tc)) == NULL)
		return;
	CHECK_INT(do_store(v, 2, MAILBOX_FLAGS_ADD, 0, kw, 1, NULL), 1);
	mailbox_view_cache_put(v, 1, "envelope", "(NIL \"one\")");
	mailbox_view_copy(v, uids, 3, "Trash", false, on_copy, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	CHECK_INT(r.n, 2);
	CHECK(r.src[0] == 1 && r.src[1] == 2 && r.dst[0] == 2 && r.dst[1] == 3);
	CHECK_INT(mailbox_status(u, "Trash", &st, &error), 1);
	CHECK_INT(r.uidvalidity, st.uidvalidity);
	CHECK_STR(do_sync(t, &l), "X3 ");
	CHECK(mailbox_view_msg(t, 2)->flags == MAILBOX_F_SEEN);
	{
		const char *const *names;
		size_t nk = mailbox_view_keywords(t, &names);
		const struct mailbox_msg *m3 = mailbox_view_msg(t, 3);

		CHECK(nk == 1 && strcmp(names[0], "$Important") == 0 && m3->keywords == 1);
	}

	r = (struct res){0};
	mailbox_view_copy(v, uids, 1, "Nowhere", false, on_copy, &r);
	wait_for(&r);
	CHECK_INT(r.status, -1);
	CHECK(strstr(r.err, "TRYCREATE") != NULL);

	r = (struct res){0};
	mailbox_view_copy(v, uids, 2, "Junk", true, on_copy, &r);
	wait_for(&r);
	CHECK_INT(r.status, 1);
	CHECK(r.n == 2 && r.dst[0] == 1 && r.dst[1] == 2);
	CHECK_STR(do_sync(v, &l), "E2 E1 ");
	CHECK_INT(mailbox_status(u, "Junk", &st, &error), 1);
	CHECK_INT(st.messages, 2);
	CHECK_INT(mailbox_status(u, "INBOX", &st, &error), 1);
	CHECK_INT(st.messages, 0);
	{
		char path[512];

		user_dir("copy", "cur", path, sizeof(path));
		CHECK_INT(count_files(path), 0);
		user_dir("copy", ".Junk/cur", path, sizeof(path));
		CHECK_INT(count_files(path), 2);
	}
	mailbox_view_close(&v);
	mailbox_view_close(&t);
	mailbox_user_close(&u);
}

/* A delivered file in new/, as maildir.c makes them. */
static void
drop_new(const char *local, const char *name, const char *text, time_t mtime)
{
	char path[512];
	struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};
	int fd;

	snprintf(path, sizeof(path), "%s/mail/example.org/%s/new/%s", data_dir, local, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	utimes(path, tv);
}

static void
test_mailbox_pickup(void)
{
	static struct vctx vc;
	struct mailbox_user *u = account(the_ms, the_store, "pickup");
	struct mailbox_view *v;
	struct synclog l;
	char path[512];
	time_t end;

	if (u == NULL)
		return;
	drop_new("pickup", "1000.M1P1Q2.h,S=7", "second\n", 1000000000);
	drop_new("pickup", "1000.M1P1Q1.h,S=99", "first\n", 1000000000);
	if ((v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	CHECK_INT(mailbox_view_count(v), 2);
	/* Name order: Q1 before Q2; size from ",S=". */
	CHECK(mailbox_view_msg(v, 1)->size == 99);
	CHECK(mailbox_view_msg(v, 2)->size == 7);
	CHECK(mailbox_view_msg(v, 2)->internaldate == 1000000000);
	user_dir("pickup", "new", path, sizeof(path));
	CHECK_INT(count_files(path), 0);

	vc.pokes = 0;
	drop_new("pickup", "2000.M1P1Q3.h", "third!\n", 1100000000);
	mailbox_store_notify(the_ms, "PICKUP@example.org", NULL);
	end = time(NULL) + 30;
	for (int i = 0; i < 10000 && vc.pokes == 0 && time(NULL) < end; i++)
		uv_run(loop, UV_RUN_ONCE);
	CHECK_INT(vc.pokes, 1);
	CHECK_STR(do_sync(v, &l), "X3 ");
	CHECK(mailbox_view_msg(v, 3)->uid == 3 && mailbox_view_msg(v, 3)->size == 7);
	/* A notify for an account nobody has open is a no-op. */
	mailbox_store_notify(the_ms, "nobody@example.org", NULL);
	mailbox_store_notify(the_ms, "not an address", "../x");
	mailbox_view_close(&v);
	mailbox_user_close(&u);
}

static void
test_mailbox_keywords_limit(void)
{
	static struct vctx vc;
	struct mailbox_user *u = account(the_ms, the_store, "keywords");
	struct mailbox_view *v;
	char names[MAILBOX_MAX_KEYWORDS + 1][16], err[256];
	const char *kw[MAILBOX_MAX_KEYWORDS + 1];
	const char *const *have;

	if (u == NULL)
		return;
	do_append(u, "INBOX", "x\r\n", 0);
	if ((v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	for (int i = 0; i <= MAILBOX_MAX_KEYWORDS; i++) {
		snprintf(names[i], sizeof(names[i]), "kw%d", i);
		kw[i] = names[i];
	}
	CHECK_INT(do_store(v, 1, MAILBOX_FLAGS_SET, 0, kw, MAILBOX_MAX_KEYWORDS, NULL), 1);
	CHECK(mailbox_view_msg(v, 1)->keywords == UINT64_MAX);
	CHECK_INT(mailbox_view_keywords(v, &have), MAILBOX_MAX_KEYWORDS);
	CHECK_INT(do_store(v, 1, MAILBOX_FLAGS_ADD, 0, &kw[MAILBOX_MAX_KEYWORDS], 1, err), -1);
	CHECK(strstr(err, "too many keywords") != NULL);
	/* Case-insensitive; removing an unknown keyword is fine. */
	const char *upper[] = {"KW3", "nothere"};
	CHECK_INT(do_store(v, 1, MAILBOX_FLAGS_REMOVE, 0, upper, 2, NULL), 1);
	CHECK(mailbox_view_msg(v, 1)->keywords == (UINT64_MAX & ~(UINT64_C(1) << 3)));
	/* Names handed out before later STOREs stay valid (ASan watches). */
	CHECK_STR(have[3], "kw3");
	CHECK_STR(have[MAILBOX_MAX_KEYWORDS - 1], "kw63");
	const char *bad[] = {"has space"};
	CHECK_INT(do_store(v, 1, MAILBOX_FLAGS_ADD, 0, bad, 1, NULL), -1);
	mailbox_view_close(&v);
	mailbox_user_close(&u);
}

static void
test_mailbox_cache(void)
{
	static struct vctx vc;
	struct mailbox_user *u = account(the_ms, the_store, "cache");
	struct mailbox_view *v;
	const char *error;

	if (u == NULL)
		return;
	do_append(u, "INBOX", "x\r\n", 0);
	if ((v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	CHECK(mailbox_view_cache_get(v, 1, "envelope") == NULL);
	mailbox_view_cache_put(v, 1, "envelope", "old");
	mailbox_view_cache_put(v, 1, "envelope", "(\"env\")");
	mailbox_view_cache_put(v, 1, "bodystructure", "(\"text\" \"plain\")");
	mailbox_view_cache_put(v, 9, "envelope", "ignored");
	CHECK_STR(mailbox_view_cache_get(v, 1, "envelope"), "(\"env\")");
	mailbox_view_close(&v);
	mailbox_user_close(&u);
	/* Closing flushed it: a fresh load reads it from the index. */
	for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
		;
	u = mailbox_user_open(the_ms, "cache@example.org", &error);
	if (u == NULL || (v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	CHECK_STR(mailbox_view_cache_get(v, 1, "envelope"), "(\"env\")");
	CHECK_STR(mailbox_view_cache_get(v, 1, "bodystructure"), "(\"text\" \"plain\")");
	mailbox_view_close(&v);
	mailbox_user_close(&u);
}

/* Lets every closing account finish (flush, jobs). */
static void
drain(void)
{
	for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
		usleep(1000);
}

static void
test_mailbox_reindex(void)
{
	static struct vctx vc;
	struct mailbox_user *u = account(the_ms, the_store, "reindex");
	struct mailbox_view *v;
	struct mailbox_status st;
	const char *error;
	uint32_t uidv;
	char path[512], p2[600];
	FILE *fp;

	if (u == NULL)
		return;
	do_append(u, "INBOX", "1\r\n", 0);
	do_append(u, "INBOX", "2\r\n", MAILBOX_F_FLAGGED);
	do_append(u, "INBOX", "3\r\n", 0);
	if ((v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	CHECK_INT(do_store(v, 1, MAILBOX_FLAGS_ADD, MAILBOX_F_DELETED, NULL, 0, NULL), 1);
	CHECK_INT(do_expunge(v), 1);
	mailbox_view_close(&v);
	CHECK_INT(mailbox_status(u, "INBOX", &st, &error), 1);
	uidv = st.uidvalidity;
	mailbox_user_close(&u);
	drain();

	/* Same files: same UIDs, flags, UIDVALIDITY. */
	CHECK_INT(mailbox_reindex(data_dir, "reindex@example.org", &error), 1);
	/* A file the index does not know (e.g. restored from backup). */
	user_dir("reindex", "cur/5000.M1P1Q1.h,S=3:2,S", path, sizeof(path));
	if ((fp = fopen(path, "w")) != NULL) {
		fputs("4\r\n", fp);
		fclose(fp);
	}
	CHECK_INT(mailbox_reindex(data_dir, "reindex@example.org", &error), 1);
	CHECK(strstr(error, "added=1") != NULL);
	u = mailbox_user_open(the_ms, "reindex@example.org", &error);
	if (u == NULL || (v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	mailbox_view_status(v, &st);
	CHECK_INT(st.uidvalidity, uidv);
	CHECK_INT(mailbox_view_count(v), 3);
	CHECK_INT(mailbox_view_msg(v, 1)->uid, 2);
	CHECK_INT(mailbox_view_msg(v, 1)->flags, MAILBOX_F_FLAGGED);
	CHECK_INT(mailbox_view_msg(v, 3)->uid, 4);
	CHECK_INT(mailbox_view_msg(v, 3)->flags, MAILBOX_F_SEEN);
	mailbox_view_close(&v);
	mailbox_user_close(&u);
	drain();

	/* The index is lost: new UIDVALIDITY, greater than the old one. */
	user_dir("reindex", "index.db", path, sizeof(path));
	if ((fp = fopen(path, "w")) != NULL) {
		fputs("this is not a database, just garbage of some length......\n", fp);
		fclose(fp);
	}
	snprintf(p2, sizeof(p2), "%s-wal", path);
	unlink(p2);
	CHECK_INT(mailbox_reindex(data_dir, "reindex@example.org", &error), 1);
	u = mailbox_user_open(the_ms, "reindex@example.org", &error);
	if (u == NULL || (v = do_open(u, "INBOX", &vc)) == NULL)
		return;
	mailbox_view_status(v, &st);
	CHECK(st.uidvalidity > uidv);
	CHECK_INT(mailbox_view_count(v), 3);
	CHECK_INT(mailbox_view_msg(v, 1)->uid, 1);
	CHECK_INT(mailbox_status(u, "Sent", &st, &error), 1);
	mailbox_view_close(&v);
	mailbox_user_close(&u);
	CHECK_INT(mailbox_reindex(data_dir, "nobody@example.org", &error), -1);
	CHECK_INT(mailbox_reindex(data_dir, "../x@example.org", &error), -1);
	drain();
}

/* ---- crash test ---- */

#define CRASH_ROUNDS 8
#define CRASH_MAX_IDS 100000

/* What the child reports on its pipe, one line per acknowledged step:
   "A id uid" appended, "D uid" \Deleted stored, "X uid" expunged,
   "N id" delivered into new/ (as maildir.c does: tmp, fsync, rename). */
static void
child_report(int fd, char kind, unsigned a, unsigned b)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%c %u %u\n", kind, a, b);

	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

struct child {
	int fd;
	struct res r;
};

static void
child_deliver(const char *udir, unsigned id)
{
	char tmp[600], dst[600], text[64];
	int fd, n = snprintf(text, sizeof(text), "Message-Id: <%u>\r\n\r\nnew\r\n", id);

	snprintf(tmp, sizeof(tmp), "%s/tmp/d%u", udir, id);
	snprintf(dst, sizeof(dst), "%s/new/%u.M0P%dQ%u.crash,S=%d", udir, id, (int)getpid(), id, n);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, (size_t)n) != n || fsync(fd) < 0 || rename(tmp, dst) < 0)
		_exit(4);
	close(fd);
	snprintf(tmp, sizeof(tmp), "%s/new", udir);
	fd = open(tmp, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || fsync(fd) < 0)
		_exit(4);
	close(fd);
}

/* The child: append, store, expunge and deliver until killed. */
static void __attribute__((noreturn)) crash_child(int fd, unsigned round)
{
	uv_loop_t l;
	struct mailbox_store *ms;
	struct mailbox_user *u;
	struct mailbox_view *v;
	static struct vctx vc;
	const char *error;
	uint32_t acked[4096];
	size_t nacked = 0;
	char udir[512];

	uv_loop_init(&l);
	loop = &l;
	ms = mailbox_store_new(&l, data_dir);
	if ((u = mailbox_user_open(ms, "crash@example.org", &error)) == NULL ||
	    (v = do_open(u, "INBOX", &vc)) == NULL)
		_exit(2);
	user_dir("crash", "", udir, sizeof(udir));
	for (unsigned i = 0; i < 4000; i++) {
		unsigned id = round * 10000 + i;
		char text[64];
		struct res r = {0};

		if (i % 5 == 4) {
			child_deliver(udir, id);
			child_report(fd, 'N', id, 0);
			mailbox_store_notify(ms, "crash@example.org", NULL);
			continue;
		}
		snprintf(text, sizeof(text), "Message-Id: <%u>\r\n\r\nbody\r\n", id);
		mailbox_append(u, "INBOX", text, strlen(text), 0, NULL, 0, 0, 0, on_append, &r);
		wait_for(&r);
		if (r.status != 1)
			_exit(5);
		child_report(fd, 'A', id, r.uid);
		if (nacked < nitems(acked))
			acked[nacked++] = r.uid;
		if (i % 7 == 6 && nacked >= 2) {
			uint32_t uid = acked[(size_t)rand() % nacked];
			struct res mr = {0};

			/* MOVE: the message is in exactly one folder at any time. */
			mailbox_view_copy(v, &uid, 1, "Trash", true, on_copy, &mr);
			wait_for(&mr);
			if (mr.status != 1)
				_exit(8);
			if (mr.n == 1)
				child_report(fd, 'M', uid, mr.dst[0]);
			continue;
		}
		if (i % 3 == 2 && nacked >= 2) {
			uint32_t uid = acked[(size_t)rand() % nacked];
			struct res sr = {0};

			mailbox_view_store(v, &uid, 1, MAILBOX_FLAGS_ADD, MAILBOX_F_DELETED, NULL,
			                   0, on_done, &sr);
			wait_for(&sr);
			if (sr.status != 1)
				_exit(6);
			child_report(fd, 'D', uid, 0);
			if (rand() % 2 == 0) {
				sr = (struct res){0};
				mailbox_view_expunge(v, &uid, 1, on_done, &sr);
				wait_for(&sr);
				if (sr.status != 1)
					_exit(7);
				child_report(fd, 'X', uid, 0);
			}
		}
	}
	_exit(0);
}

/* Message-Id number of a message file. */
static long
msg_id(struct mailbox_view *v, uint32_t seq)
{
	char buf[64] = "";
	int fd = mailbox_view_msg_fd(v, seq);
	unsigned id;

	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return sscanf(buf, "Message-Id: <%u>", &id) == 1 ? (long)id : -1;
}

struct crash_log {
	/* per id: uid it got (0: none acknowledged); per uid: state */
	uint32_t *id_uid;
	bool *id_new;
	unsigned char *uid_state; /* INBOX UIDs: 1 \\Deleted acked, 2 expunge acked,
	                             4 maybe expunged, 8 moved to Trash */
};

static void
crash_parse(struct crash_log *cl, const char *buf)
{
	const char *p = buf;
	char kind;
	unsigned a, b, last_d = 0;
	int used;

	while (sscanf(p, "%c %u %u\n%n", &kind, &a, &b, &used) == 3) {
		if (a >= CRASH_MAX_IDS || b >= CRASH_MAX_IDS)
			break;
		if (kind == 'A')
			cl->id_uid[a] = b;
		else if (kind == 'N')
			cl->id_new[a] = true;
		else if (kind == 'D')
			cl->uid_state[last_d = a] |= 1;
		else if (kind == 'X')
			cl->uid_state[a] |= 2;
		else if (kind == 'M')
			cl->uid_state[a] |= 8;
		p += used;
	}
	/* The child may have been killed during the expunge that follows its
	   last acknowledged \Deleted: that message may or may not be there. */
	if (last_d != 0 && !(cl->uid_state[last_d] & 2))
		cl->uid_state[last_d] |= 4;
}

/* Records the ids of one folder's messages and checks INBOX ones. */
static void
crash_scan(struct crash_log *cl, struct mailbox_view *v, bool inbox, unsigned char *seen,
           unsigned round)
{
	char msg[160];

	for (uint32_t seq = 1; seq <= mailbox_view_count(v); seq++) {
		const struct mailbox_msg *m = mailbox_view_msg(v, seq);
		long id = msg_id(v, seq);

		if (id < 0 || id >= CRASH_MAX_IDS || seen[id]) {
			snprintf(msg, sizeof(msg), "round %u: %s uid %u: bad or duplicate id %ld",
			         round, inbox ? "INBOX" : "Trash", m->uid, id);
			t_fail(__FILE__, __LINE__, msg);
			continue;
		}
		seen[id] = inbox ? 1 : 2;
		if (!inbox)
			continue;
		if (cl->id_uid[id] != 0 && cl->id_uid[id] != m->uid)
			t_fail(__FILE__, __LINE__, "acknowledged UID changed");
		if (cl->uid_state[m->uid] & 2)
			t_fail(__FILE__, __LINE__, "acknowledged expunge came back");
		if (cl->uid_state[m->uid] & 8)
			t_fail(__FILE__, __LINE__, "acknowledged MOVE left it in INBOX");
		if ((cl->uid_state[m->uid] & 1) && !(m->flags & MAILBOX_F_DELETED))
			t_fail(__FILE__, __LINE__, "acknowledged \\Deleted lost");
	}
}

/* Index and files agree: as many files in cur/ as messages, new/ empty. */
static void
crash_files(const char *sub, struct mailbox_view *v)
{
	char dir[512], cur[600], new[600];

	user_dir("crash", sub, dir, sizeof(dir));
	snprintf(cur, sizeof(cur), "%s/cur", dir);
	snprintf(new, sizeof(new), "%s/new", dir);
	CHECK_INT(count_files(cur), mailbox_view_count(v));
	CHECK_INT(count_files(new), 0);
}

/* Every acknowledged step is there, nothing twice (not even across
   folders), index = files. */
static void
crash_check(struct crash_log *cl, unsigned round)
{
	struct mailbox_user *u;
	struct mailbox_view *v, *t;
	static struct vctx vc, tc;
	const char *error;
	unsigned char *seen = calloc(CRASH_MAX_IDS, 1);
	char msg[128];

	if ((u = mailbox_user_open(the_ms, "crash@example.org", &error)) == NULL ||
	    (v = do_open(u, "INBOX", &vc)) == NULL || (t = do_open(u, "Trash", &tc)) == NULL) {
		t_fail(__FILE__, __LINE__, "reopen after crash");
		free(seen);
		return;
	}
	crash_scan(cl, v, true, seen, round);
	crash_scan(cl, t, false, seen, round);
	for (unsigned id = 0; id < CRASH_MAX_IDS; id++) {
		uint32_t uid = cl->id_uid[id];
		bool want = (uid != 0 && !(cl->uid_state[uid] & 6)) || cl->id_new[id];

		if (want && !seen[id]) {
			snprintf(msg, sizeof(msg),
			         "round %u: acknowledged message %u (uid %u) lost", round, id, uid);
			t_fail(__FILE__, __LINE__, msg);
		}
		if (uid != 0 && (cl->uid_state[uid] & 8) && seen[id] == 1)
			t_fail(__FILE__, __LINE__, "moved message still in INBOX");
	}
	crash_files("", v);
	crash_files(".Trash", t);
	mailbox_view_close(&v);
	mailbox_view_close(&t);
	mailbox_user_close(&u);
	drain();
	free(seen);
}

static void
test_mailbox_crash(void)
{
	struct mailbox_user *u = account(the_ms, the_store, "crash");
	struct crash_log cl = {
	        .id_uid = calloc(CRASH_MAX_IDS, sizeof(uint32_t)),
	        .id_new = calloc(CRASH_MAX_IDS, sizeof(bool)),
	        .uid_state = calloc(CRASH_MAX_IDS, 1),
	};
	unsigned seed = (unsigned)time(NULL);

	mailbox_user_close(&u);
	drain();
	srand(seed);
	for (unsigned round = 1; round <= CRASH_ROUNDS; round++) {
		static char buf[1 << 20];
		size_t got = 0;
		int pfd[2], status;
		pid_t pid;
		ssize_t n;

		if (pipe(pfd) < 0)
			break;
		if ((pid = fork()) == 0) {
			close(pfd[0]);
			srand(seed + round);
			crash_child(pfd[1], round);
		}
		close(pfd[1]);
		/* Kill it at some point: early (opening), or mid-way. */
		usleep((useconds_t)(rand() % 300) * 1000);
		kill(pid, SIGKILL);
		while (got < sizeof(buf) - 1 &&
		       (n = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		close(pfd[0]);
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) > 0) {
			char msg[64];

			snprintf(msg, sizeof(msg), "crash child failed: exit %d (seed %u)",
			         WEXITSTATUS(status), seed);
			t_fail(__FILE__, __LINE__, msg);
		}
		if (getenv("HK_CRASH_LOG") != NULL) {
			FILE *fp = fopen(getenv("HK_CRASH_LOG"), "a");

			if (fp != NULL) {
				fprintf(fp, "--- round %u\n%s", round, buf);
				fclose(fp);
			}
		}
		crash_parse(&cl, buf);
		crash_check(&cl, round);
	}
	free(cl.id_uid);
	free(cl.id_new);
	free(cl.uid_state);
}

static const struct t_test tests[] = {
        T(test_mailbox_names),
        T(test_mailbox_folders),
        T(test_mailbox_append_store_expunge),
        T(test_mailbox_two_views),
        T(test_mailbox_sync_log),
        T(test_mailbox_copy_move),
        T(test_mailbox_pickup),
        T(test_mailbox_keywords_limit),
        T(test_mailbox_cache),
        T(test_mailbox_reindex),
        T(test_mailbox_crash),
        {0},
};

int
main(void)
{
	const char *error = NULL;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hk-mailbox-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(data_dir, sizeof(data_dir), "%s/data", tmpdir);
	loop = uv_default_loop();
	if ((the_store = store_open(data_dir, true, &error)) == NULL ||
	    store_domain_add(the_store, "example.org", &error) < 0) {
		fprintf(stderr, "setup: %s\n", error);
		return 1;
	}
	the_ms = mailbox_store_new(loop, data_dir);
	rc = t_run(tests);
	mailbox_store_free(&the_ms);
	store_close(&the_store);
	uv_loop_close(loop);
	if (rc == 0) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
