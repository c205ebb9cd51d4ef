/*
 * serve_pickup.c -- the daemon's pickup: moves maildrop files (written by
 * `hikyaku sendmail` for users who cannot write the spool) into the queue.
 *
 * Wakes on a uv_fs_event of data_dir/maildrop (the writer's rename), at
 * start, and every PICKUP_SCAN_MS in case an event was missed. One file at
 * a time: read, check (queue_drop_read/parse), queue with a Received line
 * naming the file owner's uid, and only once the queue reports the message
 * durable, unlink the drop file. A crash between the two leaves the file to
 * be queued again: a duplicate, never a loss (as with Postfix's pickup).
 * A file that can never be valid is logged and removed.
 * Limits: message_size_limit per message; PICKUP_BATCH names per scan.
 * Reads happen on the loop thread (bounded by message_size_limit).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/serve.h"
#include "conf/conf.h"
#include "msg/dsn.h"
#include "queue/queue.h"
#include "queue/queue_drop.h"

#define PICKUP_SCAN_MS (60 * 1000)
#define PICKUP_BATCH 1000

struct serve_pickup {
	struct app *app;
	int dfd;
	uv_fs_event_t ev;
	uv_timer_t timer;
	char **names; /* this scan's files, taken one at a time */
	size_t n, next;
	bool busy;     /* a message is being committed */
	bool rescan;   /* an event came while busy */
	bool stopping;
	char current[QUEUE_DROP_NAME_LEN + 1];
	struct buf data;
};

static void pickup_next(struct serve_pickup *p);

static void
pickup_forget_names(struct serve_pickup *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->names[i]);
	free(p->names);
	p->names = NULL;
	p->n = p->next = 0;
}

/* pickup_stale - a writer that died before its rename leaves NAME.tmp:
   removed after a day (a younger one may still be being written). */
static void
pickup_stale(struct serve_pickup *p, const char *name)
{
	size_t n = strlen(name);
	struct stat st;

	if (n < 5 || strcmp(name + n - 4, ".tmp") != 0 ||
	    fstatat(p->dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_mtime > time(NULL) - 24 * 3600)
		return;
	log_info("event=pickup-stale file=%s", name);
	unlinkat(p->dfd, name, 0);
}

/* pickup_scan - the complete drop files present now, in directory order. */
static void
pickup_scan(struct serve_pickup *p)
{
	int fd = dup(p->dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	pickup_forget_names(p);
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		log_warnx("event=pickup-error error=\"opendir: %s\"", strerror(errno));
		return;
	}
	rewinddir(d); /* the dup shares its offset with the last scan's */
	while ((e = readdir(d)) != NULL && p->n < PICKUP_BATCH) {
		if (!queue_drop_name_valid(e->d_name)) {
			pickup_stale(p, e->d_name);
			continue;
		}
		p->names = xrealloc(p->names, (p->n + 1) * sizeof(*p->names));
		p->names[p->n++] = xstrdup(e->d_name);
	}
	closedir(d);
}

static void
pickup_drop_file(struct serve_pickup *p, const char *name)
{
	if (unlinkat(p->dfd, name, 0) < 0 && errno != ENOENT)
		log_warnx("event=pickup-error file=%s error=\"unlink: %s\"", name, strerror(errno));
}

static void
pickup_done(void *ctx, int status, const char *id_or_error)
{
	struct serve_pickup *p = ctx;

	p->busy = false;
	if (status == 1) {
		log_info("event=pickup file=%s queue_id=%s", p->current, id_or_error);
		pickup_drop_file(p, p->current);
	} else {
		/* Kept: the next scan tries again. */
		log_warnx("event=pickup-error file=%s error=\"%s\"", p->current, id_or_error);
	}
	if (!p->stopping)
		pickup_next(p);
}

/* pickup_trace - the Received line: the uid is the file's owner. */
static int
pickup_trace(struct serve_pickup *p, struct queue_tx *tx, uid_t uid)
{
	struct passwd *pw = getpwuid(uid);
	char date[40];
	struct buf h;
	int rc;

	dsn_format_date((int64_t)time(NULL), date, sizeof(date));
	buf_init(&h, 512, 4096);
	buf_printf(&h, "Received: by %s (hikyaku pickup, from userid %lu%s%s)\r\n\tid %s; %s\r\n",
	           p->app->conf->myhostname, (unsigned long)uid, pw != NULL ? " " : "",
	           pw != NULL ? pw->pw_name : "", queue_tx_id(tx), date);
	rc = queue_tx_write(tx, buf_peek(&h).p, buf_len(&h));
	buf_deinit(&h);
	return rc;
}

/* pickup_queue - one parsed drop file into the queue. 0, or -1 (error set). */
static int
pickup_queue(struct serve_pickup *p, uid_t uid, const char **error_r)
{
	struct span d = buf_peek(&p->data);
	struct queue_env env;
	struct queue_tx *tx;
	size_t off;
	int rc = 0;

	if (queue_drop_parse(d.p, d.n, &env, &off, error_r) < 0)
		return -1;
	if (d.n - off > p->app->conf->message_size_limit) {
		queue_env_deinit(&env);
		return *error_r = "message too large", -1;
	}
	if ((tx = queue_tx_begin(p->app->queue, env.sender, error_r)) == NULL) {
		queue_env_deinit(&env);
		return -1;
	}
	queue_tx_set_options(tx, env.flags & (QUEUE_F_SMTPUTF8 | QUEUE_F_8BITMIME), env.envid,
	                     env.ret);
	for (size_t i = 0; i < env.nrcpts && rc == 0; i++)
		rc = queue_tx_add_rcpt(tx, env.rcpts[i].addr, env.rcpts[i].orcpt,
		                       env.rcpts[i].notify);
	queue_env_deinit(&env);
	if (rc < 0 || pickup_trace(p, tx, uid) < 0 ||
	    queue_tx_write(tx, d.p + off, d.n - off) < 0) {
		queue_tx_abort(&tx);
		return *error_r = "cannot write to the queue", -1;
	}
	p->busy = true;
	queue_tx_commit(tx, pickup_done, p);
	return 0;
}

/* pickup_next - the next file of the scan, or a new scan when asked. */
static void
pickup_next(struct serve_pickup *p)
{
	const char *error = NULL;
	uid_t uid;

	while (!p->busy) {
		if (p->next == p->n) {
			if (!p->rescan)
				return;
			p->rescan = false;
			pickup_scan(p);
			if (p->n == 0)
				return;
		}
		snprintf(p->current, sizeof(p->current), "%s", p->names[p->next++]);
		switch (queue_drop_read(p->dfd, p->current, p->app->conf->message_size_limit,
		                        &p->data, &uid, &error)) {
		case 0:
			continue;
		case 1:
			if (pickup_queue(p, uid, &error) == 0)
				continue;
			break;
		}
		log_warnx("event=pickup-reject file=%s error=\"%s\"", p->current, error);
		pickup_drop_file(p, p->current);
	}
}

static void
pickup_kick(struct serve_pickup *p)
{
	p->rescan = true;
	pickup_next(p);
}

static void
pickup_on_event(uv_fs_event_t *h, const char *name, int events, int status)
{
	(void)name;
	(void)events;
	(void)status;
	pickup_kick(h->data);
}

static void
pickup_on_timer(uv_timer_t *t)
{
	pickup_kick(t->data);
}

void
serve_pickup_start(struct app *app)
{
	struct serve_pickup *p = xcalloc(1, sizeof(*p));
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/%s", app->conf->data_dir, QUEUE_DROP_DIR);
	p->app = app;
	p->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dfd < 0) {
		log_warnx("event=pickup-error error=\"%s: %s\" (sendmail by ordinary users "
		          "will not be picked up)", dir, strerror(errno));
		free(p);
		return;
	}
	buf_init(&p->data, 64 * 1024, app->conf->message_size_limit + QUEUE_ENV_MAX_SIZE);
	uv_fs_event_init(app->loop, &p->ev);
	p->ev.data = p;
	if (uv_fs_event_start(&p->ev, pickup_on_event, dir, 0) < 0)
		log_warnx("event=pickup-warning error=\"cannot watch %s\" (scanning every %ds)",
		          dir, PICKUP_SCAN_MS / 1000);
	uv_timer_init(app->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, pickup_on_timer, PICKUP_SCAN_MS, PICKUP_SCAN_MS);
	uv_unref((uv_handle_t *)&p->timer);
	uv_unref((uv_handle_t *)&p->ev);
	app->pickup = p;
	pickup_kick(p);
}

void
serve_pickup_stop(struct app *app)
{
	struct serve_pickup *p = app->pickup;

	if (p == NULL)
		return;
	p->stopping = true;
	uv_fs_event_stop(&p->ev);
	uv_timer_stop(&p->timer);
}

void
serve_pickup_free(struct app *app)
{
	struct serve_pickup *p = app->pickup;

	if (p == NULL)
		return;
	app->pickup = NULL;
	uv_close((uv_handle_t *)&p->ev, NULL);
	uv_close((uv_handle_t *)&p->timer, NULL);
	uv_run(app->loop, UV_RUN_NOWAIT); /* the close callbacks, before free */
	pickup_forget_names(p);
	buf_deinit(&p->data);
	close(p->dfd);
	free(p);
}
