/*
 * test_queue.c -- the outbound spool and its scheduler, in a mkdtemp
 * directory: envelope format round trip and malformed envelopes (every
 * truncation, bad version, huge lines, ...); commits without and with a
 * loop (group commit), reopen recovery, abort; the scheduler with a fake
 * agent on a real libuv loop and an injected clock: grouping by domain,
 * recipients per delivery, the concurrency cap, the backoff sequence,
 * lifetime expiry turning into one bounce from <> (original removed), no
 * bounce for a bounce, and sent recipients never retried after a reopen.
 * The maildrop: a drop file written, read back and parsed; forged or
 * malformed drop files refused (links, FIFOs, bad addresses, no end).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "harness.h"
#include "queue/queue.h"
#include "queue/queue_drop.h"

static char tmpdir[64];

/* ---- helpers ---- */

static char *
fresh_dir(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	mkdir(path, 0700);
	return path;
}

/* Number of entries in data_dir/queue/SUB. */
static int
count_files(const char *data_dir, const char *sub)
{
	char path[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/queue/%s", data_dir, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

struct done_rec {
	int calls, status;
	char id[QUEUE_ID_LEN + 1];
};

static void
on_done(void *ctx, int status, const char *id_or_error)
{
	struct done_rec *r = ctx;

	r->calls++;
	r->status = status;
	if (status == 1)
		snprintf(r->id, sizeof(r->id), "%s", id_or_error);
}

/* Queues one message synchronously or through the loop. */
static void
put_msg(struct queue *q, uv_loop_t *loop, const char *sender, const char *const *rcpts, size_t n,
        const char *body, struct done_rec *rec)
{
	const char *error = NULL;
	struct queue_tx *tx = queue_tx_begin(q, sender, &error);

	CHECK(tx != NULL);
	if (tx == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		CHECK_INT(queue_tx_add_rcpt(tx, rcpts[i], NULL, 0), 0);
	CHECK_INT(queue_tx_write(tx, body, strlen(body)), 0);
	queue_tx_commit(tx, on_done, rec);
	for (int i = 0; loop != NULL && rec->calls == 0 && i < 10000; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	CHECK_INT(rec->calls, 1);
	CHECK_INT(rec->status, 1);
}

/* ---- envelope format ---- */

static void
test_env_roundtrip(void)
{
	struct queue_rcpt rcpts[2] = {
	        {.addr = "bob@remote.test",
	         .orcpt = "rfc822;bob@remote.test",
	         .notify = QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY,
	         .status = QUEUE_RCPT_PENDING,
	         .attempts = 3,
	         .next = 1700000300,
	         .relay = "mx.remote.test[192.0.2.1]",
	         .reply = "451 4.3.0 try later"},
	        {.addr = "c@remote.test",
	         .status = QUEUE_RCPT_SENT,
	         .attempts = 1,
	         .reply = "250 2.0.0 ok"},
	};
	struct queue_env env = {.id = "0005F2A3B4C5D6.00ABCD.0001",
	                        .arrival = 1700000000,
	                        .sender = "alice@example.test",
	                        .flags = QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8,
	                        .envid = "abc+2Bx",
	                        .ret = QUEUE_RET_FULL,
	                        .nrcpts = 2,
	                        .rcpts = rcpts};
	struct queue_env back;
	struct buf a, b;
	const char *error = NULL;

	buf_init(&a, 256, 1 << 20);
	buf_init(&b, 256, 1 << 20);
	CHECK_INT(queue_env_format(&env, &a), 0);
	CHECK_INT(queue_env_parse(buf_peek(&a).p, buf_len(&a), &back, &error), 1);
	CHECK_STR(back.id, env.id);
	CHECK_INT(back.arrival, 1700000000);
	CHECK_STR(back.sender, "alice@example.test");
	CHECK_INT(back.flags, QUEUE_F_8BITMIME | QUEUE_F_SMTPUTF8);
	CHECK_STR(back.envid, "abc+2Bx");
	CHECK_INT(back.ret, QUEUE_RET_FULL);
	CHECK_INT(back.nrcpts, 2);
	if (back.nrcpts == 2) {
		CHECK_STR(back.rcpts[0].orcpt, "rfc822;bob@remote.test");
		CHECK_INT(back.rcpts[0].notify, QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
		CHECK_INT(back.rcpts[0].attempts, 3);
		CHECK_INT(back.rcpts[0].next, 1700000300);
		CHECK_STR(back.rcpts[0].relay, "mx.remote.test[192.0.2.1]");
		CHECK_STR(back.rcpts[0].reply, "451 4.3.0 try later");
		CHECK_INT(back.rcpts[1].status, QUEUE_RCPT_SENT);
		CHECK(back.rcpts[1].orcpt == NULL && back.rcpts[1].relay == NULL);
	}
	CHECK_INT(queue_env_format(&back, &b), 0);
	CHECK(buf_len(&a) == buf_len(&b) &&
	      memcmp(buf_peek(&a).p, buf_peek(&b).p, buf_len(&a)) == 0);
	queue_env_deinit(&back);

	/* The null sender is written <> and read back as "". */
	env.sender = "";
	buf_clear(&a);
	CHECK_INT(queue_env_format(&env, &a), 0);
	CHECK(memmem(buf_peek(&a).p, buf_len(&a), "\nsender <>\n", 11) != NULL);
	CHECK_INT(queue_env_parse(buf_peek(&a).p, buf_len(&a), &back, &error), 1);
	CHECK_STR(back.sender, "");
	queue_env_deinit(&back);

	/* Every proper prefix is rejected: a torn write is never half a queue. */
	env.sender = "alice@example.test";
	buf_clear(&a);
	queue_env_format(&env, &a);
	for (size_t n = 0; n < buf_len(&a); n++) {
		if (queue_env_parse(buf_peek(&a).p, n, &back, &error) != -1) {
			t_fail(__FILE__, __LINE__, "a truncated envelope parsed");
			queue_env_deinit(&back);
			break;
		}
	}
	buf_deinit(&a);
	buf_deinit(&b);
}

#define GOOD_HEAD "hikyaku-queue 1\nid 0005F2A3B4C5D6.00ABCD.0001\narrival 1\nsender a@b.test\n"

static const struct bad_env {
	const char *in, *why;
} bad_envs[] = {
        {"", "truncated (no end line)"},
        {"hikyaku-queue 2\n", "not a version 1 envelope"},
        {"hikyaku-queue 1", "truncated (no final newline)"},
        {GOOD_HEAD "rcpt x@y.test\n", "truncated (no end line)"},
        {GOOD_HEAD "rcpt x@y.test\nend", "truncated (no final newline)"},
        {GOOD_HEAD "end\n", "id, sender or recipients missing"},
        {GOOD_HEAD "rcpt x@y.test\nend\nrcpt z@y.test\n", "data after end"},
        {GOOD_HEAD "rcpt x@y.test\nfoo bar\nend\n", "unknown key"},
        {GOOD_HEAD "rcpt x@y.test\nstatus gone\nend\n", "bad status"},
        {GOOD_HEAD "rcpt x@y.test\nstatus sent\nstatus sent\nend\n", "repeated key"},
        {GOOD_HEAD "rcpt x@y.test\nnotify never,failure\nend\n", "bad notify"},
        {GOOD_HEAD "rcpt x@y.test\nattempts 12345678901234567890\nend\n", "bad attempts"},
        {GOOD_HEAD "rcpt x@y.test\nnext -5\nend\n", "bad next time"},
        {GOOD_HEAD "rcpt x@y.test\nreply a\rb\nend\n", "control character"},
        {GOOD_HEAD "envid x\nrcpt x@y.test\nenvid y\nend\n", "message key after rcpt"},
        {GOOD_HEAD "flags smtputf8 smtputf8\nrcpt x@y.test\nend\n", "bad flags"},
        {"hikyaku-queue 1\nid ../../etc/passwd\n", "bad queue id"},
        {GOOD_HEAD "rcpt \nend\n", "empty recipient"},
        {GOOD_HEAD "rcpt x@y.test\nend extra\n", "bad end line"},
};

static void
test_env_malformed(void)
{
	struct queue_env env;
	const char *error = NULL;
	static char huge[QUEUE_ENV_MAX_LINE + 400];
	size_t big = QUEUE_ENV_MAX_LINE + 100, off;

	for (size_t i = 0; i < nitems(bad_envs); i++) {
		error = NULL;
		CHECK_INT(queue_env_parse(bad_envs[i].in, strlen(bad_envs[i].in), &env, &error),
		          -1);
		CHECK_STR(error, bad_envs[i].why);
		CHECK(env.nrcpts == 0 && env.rcpts == NULL && env.sender == NULL);
	}
	/* A line longer than the limit. */
	snprintf(huge, sizeof(huge), GOOD_HEAD "rcpt x@y.test\nreply ");
	off = strlen(huge);
	memset(huge + off, 'x', big);
	snprintf(huge + off + big, sizeof(huge) - off - big, "\nend\n");
	CHECK_INT(queue_env_parse(huge, strlen(huge), &env, &error), -1);
	CHECK_STR(error, "line too long");
	/* NUL inside. */
	CHECK_INT(
	        queue_env_parse(GOOD_HEAD "rcpt x\0y\nend\n", sizeof(GOOD_HEAD) + 12, &env, &error),
	        -1);
	CHECK(!queue_id_valid("0005f2a3b4c5d6.00ABCD.0001")); /* lower case: not ours */
	CHECK(queue_id_valid("0005F2A3B4C5D6.00ABCD.0001"));
}

/* ---- spool ---- */

static void
test_spool_sync_commit_and_reopen(void)
{
	char *dir = fresh_dir("sync");
	const char *error = NULL;
	static const char *const rcpts[] = {"bob@remote.test", "carol@other.test"};
	const char *body = "Subject: t\r\n\r\nhello\r\n";
	struct done_rec rec = {0};
	struct queue *q = queue_open(dir, NULL, &error);
	struct queue_env env;
	struct queue_tx *tx;
	char path[512], got[256] = "";
	int fd;

	CHECK(q != NULL);
	if (q == NULL)
		return;
	put_msg(q, NULL, "alice@example.test", rcpts, 2, body, &rec);
	CHECK(queue_id_valid(rec.id));
	CHECK_INT(count_files(dir, "env"), 1);
	CHECK_INT(count_files(dir, "msg"), 1);
	CHECK_INT(count_files(dir, "tmp"), 0);
	/* abort leaves nothing; a commit without recipients fails. */
	tx = queue_tx_begin(q, "a@b.test", &error);
	queue_tx_write(tx, "x", 1);
	queue_tx_abort(&tx);
	CHECK(tx == NULL);
	tx = queue_tx_begin(q, "a@b.test", &error);
	struct done_rec rec2 = {0};
	queue_tx_commit(tx, on_done, &rec2);
	CHECK_INT(rec2.calls, 1);
	CHECK_INT(rec2.status, -1);
	CHECK_INT(count_files(dir, "tmp"), 0);
	CHECK_INT(count_files(dir, "env"), 1);
	/* A bad recipient is refused. */
	tx = queue_tx_begin(q, "a@b.test", &error);
	CHECK_INT(queue_tx_add_rcpt(tx, "a\r\nb@x", NULL, 0), -1);
	CHECK_INT(queue_tx_add_rcpt(tx, "a@x", NULL, QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_DELAY), -1);
	queue_tx_abort(&tx);
	queue_close(&q);

	/* Reopen: the message is there, bytes and envelope intact. */
	q = queue_open(dir, NULL, &error);
	CHECK_INT(queue_env_read(q, rec.id, &env, &error), 1);
	CHECK_STR(env.sender, "alice@example.test");
	CHECK_INT(env.nrcpts, 2);
	CHECK_STR(env.rcpts[1].addr, "carol@other.test");
	CHECK_INT(env.rcpts[0].status, QUEUE_RCPT_PENDING);
	queue_env_deinit(&env);
	queue_msg_path(q, rec.id, path, sizeof(path));
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && read(fd, got, sizeof(got) - 1) == (ssize_t)strlen(body));
	CHECK_STR(got, body);
	close(fd);
	/* delete without a daemon removes the files at once. */
	CHECK_INT(queue_request(q, "delete", rec.id, 0, &error), 1);
	CHECK_INT(count_files(dir, "env"), 0);
	CHECK_INT(count_files(dir, "msg"), 0);
	CHECK_INT(queue_request(q, "delete", rec.id, 0, &error), 0);
	queue_close(&q);
}

static void
count_cb(void *ctx, const struct queue_env *env, uint64_t size)
{
	(*(int *)ctx)++;
	CHECK(size > 0 && env->nrcpts == 1);
}

static void
test_spool_group_commit(void)
{
	char *dir = fresh_dir("group");
	const char *error = NULL;
	static const char *const rcpt[] = {"x@remote.test"};
	struct done_rec rec[40] = {0};
	uv_loop_t loop;
	struct queue *q;
	int calls = 0, listed = 0;

	uv_loop_init(&loop);
	q = queue_open(dir, &loop, &error);
	CHECK(q != NULL);
	if (q == NULL)
		return;
	for (size_t i = 0; i < nitems(rec); i++) {
		struct queue_tx *tx = queue_tx_begin(q, "a@example.test", &error);

		queue_tx_add_rcpt(tx, rcpt[0], NULL, 0);
		queue_tx_write(tx, "Subject: x\r\n\r\nbody\r\n", 20);
		queue_tx_commit(tx, on_done, &rec[i]);
		/* Asynchronous: never from inside commit. */
		CHECK_INT(rec[i].calls, 0);
	}
	for (int t = 0; t < 10000 && calls < (int)nitems(rec); t++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
		calls = 0;
		for (size_t i = 0; i < nitems(rec); i++)
			calls += rec[i].calls;
	}
	CHECK_INT(calls, nitems(rec));
	for (size_t i = 0; i < nitems(rec); i++)
		CHECK_INT(rec[i].status, 1);
	CHECK_INT(queue_list(q, count_cb, &listed), 0);
	CHECK_INT(listed, nitems(rec));
	queue_close(&q);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
}

/* ---- scheduler with a fake agent ---- */

#define MAX_DELIV 64

struct deliv {
	struct queue_delivery_handle *h;
	char id[QUEUE_ID_LEN + 1];
	char domain[256];
	char sender[64];
	size_t n;
	char rcpts[64][64];
	bool done;
};

static struct {
	struct deliv d[MAX_DELIV];
	size_t n;
	int64_t now;
} fx;

static int64_t
fake_now(void *ctx)
{
	(void)ctx;
	return fx.now;
}

static void
fake_agent(void *ctx, struct queue *q, struct queue_delivery_handle *h,
           const struct queue_delivery *d)
{
	struct deliv *v;

	(void)ctx;
	(void)q;
	if (fx.n == MAX_DELIV) {
		t_fail(__FILE__, __LINE__, "too many deliveries");
		return;
	}
	v = &fx.d[fx.n++];
	memset(v, 0, sizeof(*v));
	v->h = h;
	snprintf(v->id, sizeof(v->id), "%s", d->id);
	snprintf(v->domain, sizeof(v->domain), "%s", d->domain);
	snprintf(v->sender, sizeof(v->sender), "%s", d->sender);
	v->n = d->nrcpts;
	for (size_t i = 0; i < d->nrcpts && i < 64; i++)
		snprintf(v->rcpts[i], sizeof(v->rcpts[i]), "%s", d->rcpts[i]);
	CHECK(access(d->msg_path, R_OK) == 0);
}

/* Completes delivery i with one status for all its recipients. */
static void
finish(struct queue *q, size_t i, int status, unsigned code, const char *enh, const char *text)
{
	struct queue_rcpt_result res[64];

	for (size_t k = 0; k < fx.d[i].n; k++) {
		memset(&res[k], 0, sizeof(res[k]));
		res[k].status = status;
		res[k].code = code;
		snprintf(res[k].enhanced, sizeof(res[k].enhanced), "%s", enh);
		snprintf(res[k].text, sizeof(res[k].text), "%s", text);
		snprintf(res[k].relay, sizeof(res[k].relay), "mx.%s[192.0.2.1]", fx.d[i].domain);
	}
	fx.d[i].done = true;
	queue_delivery_done(q, fx.d[i].h, res);
}

/* Runs the loop until cond holds (bounded: 10 s). */
static bool
spin(uv_loop_t *loop, bool (*cond)(void *), void *ctx)
{
	for (int t = 0; t < 10000; t++) {
		if (cond(ctx))
			return true;
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	return cond(ctx);
}

struct env_wait {
	const char *dir;
	int want;
};

static bool
env_count_is(void *ctx)
{
	struct env_wait *w = ctx;
	return count_files(w->dir, "env") == w->want;
}

static bool
fx_has_5(void *ctx)
{
	(void)ctx;
	return fx.n == 5;
}

static bool
idle(void *ctx)
{
	size_t n, inflight;

	queue_stats(ctx, &n, &inflight);
	return inflight == 0;
}

static struct queue *
sched_open(const char *dir, uv_loop_t *loop, struct queue_params *p)
{
	const char *error = NULL;
	struct queue *q;

	uv_loop_init(loop);
	q = queue_open(dir, loop, &error);
	CHECK(q != NULL);
	if (q == NULL)
		return NULL;
	queue_set_agent(q, fake_agent, NULL);
	CHECK_INT(queue_start(q, p, &error), 0);
	return q;
}

static void
sched_close(struct queue **q, uv_loop_t *loop)
{
	queue_close(q);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(loop), 0);
}

static void
params(struct queue_params *p)
{
	queue_params_init(p);
	p->myhostname = "mx.example.test";
	p->now = fake_now;
	p->destination_concurrency_limit = 2;
}

/* Rewrites are durable and the scheduler has settled. */
static void
settle(uv_loop_t *loop)
{
	for (int i = 0; i < 50; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static void
test_sched_grouping_and_cap(void)
{
	char *dir = fresh_dir("group-sched");
	char addrs[130][64];
	const char *rcpts[130];
	struct done_rec rec = {0};
	struct queue_params p;
	uv_loop_t loop;
	struct queue *q;
	size_t nz = 0, nx = 0;

	memset(&fx, 0, sizeof(fx));
	fx.now = 1700000000;
	params(&p);
	q = sched_open(dir, &loop, &p);
	if (q == NULL)
		return;
	snprintf(addrs[0], 64, "a@X.test");
	snprintf(addrs[1], 64, "b@x.test");
	snprintf(addrs[2], 64, "c@y.test");
	for (int i = 3; i < 130; i++)
		snprintf(addrs[i], 64, "u%d@z.test", i);
	for (int i = 0; i < 130; i++)
		rcpts[i] = addrs[i];
	put_msg(q, &loop, "alice@example.test", rcpts, 130, "Subject: g\r\n\r\nb\r\n", &rec);
	/* x.test: one delivery of 2 (case-folded); y.test: 1; z.test: 127
	   recipients = 50 + 50 + 27, but only 2 at once. */
	CHECK_INT(fx.n, 4);
	for (size_t i = 0; i < fx.n; i++) {
		if (strcmp(fx.d[i].domain, "z.test") == 0) {
			nz++;
			CHECK_INT(fx.d[i].n, 50);
		} else if (strcmp(fx.d[i].domain, "x.test") == 0) {
			nx++;
			CHECK_INT(fx.d[i].n, 2);
		} else {
			CHECK_STR(fx.d[i].domain, "y.test");
			CHECK_STR(fx.d[i].rcpts[0], "c@y.test");
		}
	}
	CHECK_INT(nz, 2);
	CHECK_INT(nx, 1);
	/* One z.test delivery done: the third starts, once that result is
	   durable (the slot is held until then). */
	for (size_t i = 0; i < 4; i++)
		if (strcmp(fx.d[i].domain, "z.test") == 0) {
			finish(q, i, QR_SENT, 250, "2.0.0", "ok");
			break;
		}
	CHECK_INT(fx.n, 4);
	CHECK(spin(&loop, fx_has_5, NULL));
	CHECK_INT(fx.n, 5);
	CHECK_STR(fx.d[4].domain, "z.test");
	CHECK_INT(fx.d[4].n, 27);
	for (size_t i = 0; i < fx.n; i++)
		if (!fx.d[i].done)
			finish(q, i, QR_SENT, 250, "2.0.0", "ok");
	/* All sent: removed, no bounce. */
	struct env_wait w = {dir, 0};
	CHECK(spin(&loop, env_count_is, &w));
	CHECK(spin(&loop, idle, q));
	settle(&loop);
	CHECK_INT(count_files(dir, "msg"), 0);
	CHECK_INT(fx.n, 5);
	sched_close(&q, &loop);
}

static int64_t
rcpt_next(const char *dir, const char *id, size_t i, unsigned *attempts)
{
	const char *error = NULL;
	struct queue *q = queue_open(dir, NULL, &error);
	struct queue_env env;
	int64_t next = -1;

	if (q != NULL && queue_env_read(q, id, &env, &error) == 1) {
		next = env.rcpts[i].status == QUEUE_RCPT_PENDING ? env.rcpts[i].next : -2;
		*attempts = env.rcpts[i].attempts;
		queue_env_deinit(&env);
	}
	queue_close(&q);
	return next;
}

static void
test_sched_backoff_and_expiry(void)
{
	static const unsigned want[] = {300, 600, 1200, 2400, 4000, 4000};
	char *dir = fresh_dir("backoff");
	static const char *const rcpt[] = {"bob@remote.test"};
	struct done_rec rec = {0};
	struct queue_params p;
	uv_loop_t loop;
	struct queue *q;
	int64_t t0 = 1700000000;
	unsigned attempts = 0;

	memset(&fx, 0, sizeof(fx));
	fx.now = t0;
	params(&p);
	p.maximal_queue_lifetime = 20000;
	q = sched_open(dir, &loop, &p);
	if (q == NULL)
		return;
	put_msg(q, &loop, "alice@example.test", rcpt, 1, "Subject: b\r\n\r\nbody\r\n", &rec);
	for (size_t k = 0; k < nitems(want); k++) {
		CHECK_INT(fx.n, k + 1);
		if (fx.n != k + 1)
			break;
		finish(q, k, QR_DEFER, 451, "4.3.0", "later");
		settle(&loop);
		CHECK_INT(rcpt_next(dir, rec.id, 0, &attempts), fx.now + want[k]);
		CHECK_INT(attempts, k + 1);
		/* Not yet due one second before. */
		fx.now += want[k] - 1;
		queue_run(q);
		CHECK_INT(fx.n, k + 1);
		fx.now += 1;
		queue_run(q);
	}
	/* 300+600+1200+2400+4000+4000 = 12500 s; jump past the lifetime. */
	fx.now = t0 + 20000;
	CHECK_INT(fx.n, 7);
	if (fx.n == 7)
		finish(q, 6, QR_DEFER, 451, "4.3.0", "still later");
	/* The original is removed, a bounce from <> to alice is queued and
	   handed to the agent. */
	struct env_wait w = {dir, 1};
	CHECK(spin(&loop, env_count_is, &w));
	settle(&loop);
	CHECK_INT(fx.n, 8);
	CHECK_STR(fx.d[7].sender, "");
	CHECK_STR(fx.d[7].domain, "example.test");
	CHECK_STR(fx.d[7].rcpts[0], "alice@example.test");
	CHECK(strcmp(fx.d[7].id, rec.id) != 0);
	CHECK_INT(rcpt_next(dir, rec.id, 0, &attempts), -1); /* gone */
	{
		const char *error = NULL;
		struct queue *r = queue_open(dir, NULL, &error);
		char path[512], buf[8192] = "";
		struct queue_env env;
		int fd;

		CHECK_INT(queue_env_read(r, fx.d[7].id, &env, &error), 1);
		CHECK_STR(env.sender, "");
		CHECK_INT(env.nrcpts, 1);
		queue_env_deinit(&env);
		queue_msg_path(r, fx.d[7].id, path, sizeof(path));
		fd = open(path, O_RDONLY);
		CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
		close(fd);
		CHECK(strstr(buf, "From: MAILER-DAEMON@mx.example.test") != NULL);
		CHECK(strstr(buf, "To: <alice@example.test>\r\n") != NULL);
		CHECK(strstr(buf, "Final-Recipient: rfc822; bob@remote.test\r\n") != NULL);
		CHECK(strstr(buf, "Action: failed\r\n") != NULL);
		CHECK(strstr(buf, "Status: 5.3.0\r\n") != NULL);
		CHECK(strstr(buf, "delivery time expired") != NULL);
		CHECK(strstr(buf, "Subject: b\r\n") != NULL);
		queue_close(&r);
	}
	/* The bounce bounces: dropped, never a bounce for a bounce. */
	if (fx.n == 8)
		finish(q, 7, QR_BOUNCE, 550, "5.1.1", "no such user");
	w.want = 0;
	CHECK(spin(&loop, env_count_is, &w));
	settle(&loop);
	CHECK_INT(fx.n, 8);
	CHECK_INT(count_files(dir, "msg"), 0);
	sched_close(&q, &loop);
}

static void
test_sched_sent_never_retried(void)
{
	char *dir = fresh_dir("sent");
	static const char *const rcpts[] = {"bob@one.test", "carol@two.test"};
	struct done_rec rec = {0};
	struct queue_params p;
	uv_loop_t loop;
	struct queue *q;
	unsigned attempts;

	memset(&fx, 0, sizeof(fx));
	fx.now = 1700000000;
	params(&p);
	q = sched_open(dir, &loop, &p);
	if (q == NULL)
		return;
	put_msg(q, &loop, "alice@example.test", rcpts, 2, "Subject: s\r\n\r\nbody\r\n", &rec);
	CHECK_INT(fx.n, 2);
	for (size_t i = 0; i < fx.n; i++)
		finish(q, i, strcmp(fx.d[i].domain, "one.test") == 0 ? QR_SENT : QR_DEFER,
		       strcmp(fx.d[i].domain, "one.test") == 0 ? 250 : 421, "", "x");
	settle(&loop);
	CHECK_INT(rcpt_next(dir, rec.id, 0, &attempts), -2); /* sent, on disk */
	sched_close(&q, &loop);

	/* "Restart": a new scheduler finds the message and, flushed, tries
	   only carol. */
	memset(&fx, 0, sizeof(fx));
	fx.now = 1700000001;
	q = sched_open(dir, &loop, &p);
	CHECK_INT(fx.n, 0); /* carol not due yet */
	queue_flush(q);
	CHECK_INT(fx.n, 1);
	CHECK_INT(fx.d[0].n, 1);
	CHECK_STR(fx.d[0].rcpts[0], "carol@two.test");
	finish(q, 0, QR_SENT, 250, "2.0.0", "ok");
	struct env_wait w = {dir, 0};
	CHECK(spin(&loop, env_count_is, &w));
	settle(&loop);
	sched_close(&q, &loop);
}

static void
test_sched_requests(void)
{
	char *dir = fresh_dir("requests");
	static const char *const rcpts[] = {"bob@one.test"};
	struct done_rec rec = {0};
	struct queue_params p;
	uv_loop_t loop;
	struct queue *q, *cli;
	const char *error = NULL;

	memset(&fx, 0, sizeof(fx));
	fx.now = 1700000000;
	params(&p);
	q = sched_open(dir, &loop, &p);
	if (q == NULL)
		return;
	/* A CLI writer (no loop) while the scheduler runs: picked up. */
	cli = queue_open(dir, NULL, &error);
	put_msg(cli, NULL, "alice@example.test", rcpts, 1, "Subject: r\r\n\r\nbody\r\n", &rec);
	CHECK_INT(queue_request(cli, "pickup", NULL, 0, &error), 0);
	for (int i = 0; i < 3000 && fx.n == 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	CHECK_INT(fx.n, 1);
	finish(q, 0, QR_DEFER, 421, "4.4.2", "timeout");
	settle(&loop);
	/* delete through the daemon: removed, no bounce. */
	char name[512];
	snprintf(name, sizeof(name), "%s/queue/ctl/delete.%s", dir, rec.id);
	close(open(name, O_CREAT | O_WRONLY, 0600));
	struct env_wait w = {dir, 0};
	CHECK(spin(&loop, env_count_is, &w));
	settle(&loop);
	CHECK_INT(fx.n, 1);
	CHECK_INT(count_files(dir, "ctl"), 0);
	queue_close(&cli);
	sched_close(&q, &loop);
}

/* ---- maildrop ---- */

static const char drop_ok[] = "hikyaku-queue 1\nid 00000000000000.000000.0000\narrival 0\n"
                              "sender a@example.test\nflags\nrcpt b@remote.test\nnotify never\n"
                              "status pending\nattempts 0\nnext 0\nend\n\nSubject: x\r\n\r\nbody\r\n";

static void
test_drop_roundtrip(void)
{
	char *dd = fresh_dir("drop"), dir[300], name[256] = "";
	struct queue_rcpt r = {.addr = "b@remote.test", .notify = QUEUE_NOTIFY_FAILURE};
	struct queue_env env = {.id = "00000000000000.000000.0000", .sender = "a@example.test",
	                        .nrcpts = 1, .rcpts = &r};
	const char *err = NULL;
	struct dirent *e;
	struct buf b;
	struct queue_env got;
	size_t off;
	uid_t uid;
	DIR *d;
	int dfd;

	snprintf(dir, sizeof(dir), "%s/%s", dd, QUEUE_DROP_DIR);
	CHECK_INT(mkdir(dir, 01733), 0);
	CHECK_INT(queue_drop_put(dd, &env, "Subject: x\r\n\r\nhi\r\n", 19, &err), 0);
	d = opendir(dir);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(d);
	CHECK(queue_drop_name_valid(name));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	buf_init(&b, 1024, 1 << 20);
	CHECK_INT(queue_drop_read(dfd, name, 1000, &b, &uid, &err), 1);
	CHECK_INT(uid, getuid());
	CHECK_INT(queue_drop_parse(buf_peek(&b).p, buf_len(&b), &got, &off, &err), 0);
	CHECK_STR(got.sender, "a@example.test");
	CHECK_INT(got.nrcpts, 1);
	CHECK_STR(got.rcpts[0].addr, "b@remote.test");
	CHECK_INT(got.rcpts[0].notify, QUEUE_NOTIFY_FAILURE);
	CHECK_INT(buf_len(&b) - off, 19);
	CHECK(memcmp(buf_peek(&b).p + off, "Subject: x\r\n\r\nhi\r\n", 19) == 0);
	queue_env_deinit(&got);
	/* Gone (taken by another pickup): 0. A link or a FIFO: refused. */
	CHECK_INT(queue_drop_read(dfd, "0123456789abcdef0123456789abcdef", 1000, &b, &uid, &err), 0);
	CHECK_INT(linkat(dfd, name, dfd, "0123456789abcdef0123456789abcdef", 0), 0);
	CHECK_INT(queue_drop_read(dfd, name, 1000, &b, &uid, &err), -1);
	CHECK_INT(mkfifoat(dfd, "fifofifofifofifofifofifofifofifo", 0644), 0);
	CHECK_INT(queue_drop_read(dfd, "fifofifofifofifofifofifofifofifo", 1000, &b, &uid, &err), -1);
	CHECK_INT(unlinkat(dfd, "0123456789abcdef0123456789abcdef", 0), 0);
	buf_deinit(&b);
	close(dfd);
	CHECK(!queue_drop_name_valid("0123456789abcdef0123456789abcdef.tmp"));
	CHECK(!queue_drop_name_valid("0123456789ABCDEF0123456789abcdef"));
	CHECK(!queue_drop_name_valid("../etc/passwd"));
}

static void
test_drop_malformed(void)
{
	static const struct {
		const char *from, *to;
	} bad[] = {
		{"end\n\n", "end\n"},                  /* no end of envelope */
		{"sender a@example.test", "sender a@@x"}, /* bad sender */
		{"rcpt b@remote.test", "rcpt b@"},        /* bad recipient */
		{"rcpt b@remote.test", "rcpt <>"},        /* empty recipient */
		{"hikyaku-queue 1", "hikyaku-queue 9"},   /* not our format */
		{"arrival 0\n", "arrival 0\nbogus 1\n"},  /* unknown key */
	};
	struct queue_env env;
	const char *err = NULL;
	size_t off;

	CHECK_INT(queue_drop_parse(drop_ok, strlen(drop_ok), &env, &off, &err), 0);
	queue_env_deinit(&env);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024];
		const char *at = strstr(drop_ok, bad[i].from);

		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - drop_ok), drop_ok, bad[i].to,
		         at + strlen(bad[i].from));
		err = NULL;
		CHECK_INT(queue_drop_parse(text, strlen(text), &env, &off, &err), -1);
		CHECK(err != NULL);
		CHECK(env.rcpts == NULL && env.sender == NULL);
	}
	/* Every truncation of a valid file either parses or fails cleanly. */
	for (size_t n = 0; n < strlen(drop_ok); n++)
		if (queue_drop_parse(drop_ok, n, &env, &off, &err) == 0) {
			CHECK(off <= n);
			queue_env_deinit(&env);
		}
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_queue.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		abort();
}

static void
test_setup(void)
{
	setup();
}

static void
test_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	CHECK_INT(system(cmd), 0);
}

static const struct t_test tests[] = {
        T(test_setup),
        T(test_env_roundtrip),
        T(test_env_malformed),
        T(test_spool_sync_commit_and_reopen),
        T(test_spool_group_commit),
        T(test_sched_grouping_and_cap),
        T(test_sched_backoff_and_expiry),
        T(test_sched_sent_never_retried),
        T(test_sched_requests),
        T(test_drop_roundtrip),
        T(test_drop_malformed),
        T(test_cleanup),
        {0},
};

T_MAIN(tests)
