/*
 * queue_sched.c -- the scheduler: what is due, to whom, how many at once.
 *
 * On the loop thread. At start (and every queue_run_delay, and on a
 * "pickup" request) it scans queue/env/ and keeps every message in memory.
 * A message is due when one of its pending recipients' next attempt time
 * has come; its due recipients are then grouped by domain into deliveries
 * of at most destination_recipient_limit recipients, which wait in their
 * domain's queue until fewer than destination_concurrency_limit deliveries
 * to that domain are in flight. The agent (queue_set_agent) delivers; it
 * may reuse connections across deliveries. After each delivery the
 * envelope is rewritten (group commit) before anything else happens to the
 * message: a recipient that got a 250 is recorded as sent on disk before
 * the message can be retried, finished or removed, so that a restart
 * after SIGKILL never sends to it again (RFC 5321 6.1 accepts a duplicate
 * only when the connection broke between the end of DATA and the reply).
 * Backoff (Postfix-like): minimal_backoff_time doubled per attempt, capped
 * at maximal_backoff_time. After maximal_queue_lifetime (bounce_queue_
 * lifetime for mail from <>) a deferred recipient is bounced. When every
 * recipient is sent or bounced: ONE bounce (msg/dsn.h) for the bounced
 * ones, to the sender with the null sender, never for mail from <>; then
 * the message is removed. Optional delay warnings (delay_warning_time).
 * XXX: the due scan walks every message (fine for tens of thousands);
 * a heap keyed by due time would scale further.
 * Log: one line per recipient result, key=value:
 *   queue_id=ID to=<ADDR> relay=HOST status=sent|deferred|bounced
 *   dsn=X.Y.Z attempts=N delay=SECONDS reply="..."
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "msg/dsn.h"
#include "queue/queue_int.h"

#define HASH_SIZE 4096
/* Header section read for a RET=HDRS bounce. */
#define HDRS_READ_MAX (256 * 1024)

struct qdest;

struct qmsg {
	struct queue_env env;
	struct qmsg *hnext;       /* hash chain by id */
	struct qmsg *prev, *next; /* all messages */
	char *msg_path;
	uint64_t size;
	uint8_t *busy;     /* per recipient: in a delivery */
	unsigned inflight; /* deliveries out */
	unsigned writes;   /* envelope rewrites in the committer */
	bool finishing;    /* bounce/removal under way */
	bool deleted;      /* `queue delete`: drop when idle */
	struct queue *q;
};

/* One delivery: the agent's handle. */
struct queue_delivery_handle {
	struct queue_delivery_handle *next; /* in its destination's wait list */
	struct qmsg *m;
	struct qdest *dest;
	size_t n;
	size_t *idx;
	const char **rcpts, **orcpts;
	unsigned *notify;
	struct queue_delivery d;
};

struct qdest {
	char *domain;
	struct qdest *hnext;
	unsigned active;
	struct queue_delivery_handle *head, **tail;
};

struct queue_sched {
	struct queue_params p;
	struct qmsg *hash[HASH_SIZE];
	struct qdest *dests[HASH_SIZE];
	struct qmsg *all;
	size_t nmsgs, inflight;
	uv_timer_t *timer;  /* next due message */
	uv_timer_t *rescan; /* queue_run_delay */
	uv_fs_event_t *ctl; /* queue/ctl requests */
	bool stopping;
};

void
queue_params_init(struct queue_params *p)
{
	memset(p, 0, sizeof(*p));
	p->myhostname = "localhost";
	p->minimal_backoff_time = 300;
	p->maximal_backoff_time = 4000;
	p->queue_run_delay = 300;
	p->maximal_queue_lifetime = 5 * 86400;
	p->bounce_queue_lifetime = 5 * 86400;
	p->delay_warning_time = 0;
	p->destination_concurrency_limit = 20;
	p->destination_recipient_limit = 50;
	p->dsn_max_full = DSN_MAX_FULL_DEFAULT;
}

static int64_t
now(const struct queue_sched *s)
{
	return s->p.now != NULL ? s->p.now(s->p.now_ctx) : (int64_t)time(NULL);
}

int64_t
queue_now(const struct queue *q)
{
	return q->sched != NULL ? now(q->sched) : (int64_t)time(NULL);
}

static unsigned
hash_str(const char *str)
{
	unsigned h = 2166136261u;

	for (; *str != '\0'; str++)
		h = (h ^ (unsigned char)*str) * 16777619u;
	return h % HASH_SIZE;
}

/* ---- messages in memory ---- */

static struct qmsg *
msg_find(struct queue_sched *s, const char *id)
{
	for (struct qmsg *m = s->hash[hash_str(id)]; m != NULL; m = m->hnext)
		if (strcmp(m->env.id, id) == 0)
			return m;
	return NULL;
}

/* Takes over env. */
static struct qmsg *
msg_add(struct queue *q, struct queue_env *env)
{
	struct queue_sched *s = q->sched;
	struct qmsg *m = xcalloc(1, sizeof(*m));
	unsigned h = hash_str(env->id);
	char path[4096];
	int64_t size = queue_msg_size(q, env->id);

	m->env = *env;
	memset(env, 0, sizeof(*env));
	m->q = q;
	queue_msg_path(q, m->env.id, path, sizeof(path));
	m->msg_path = xstrdup(path);
	m->size = size > 0 ? (uint64_t)size : 0;
	m->busy = xcalloc(m->env.nrcpts, 1);
	m->hnext = s->hash[h];
	s->hash[h] = m;
	m->next = s->all;
	if (s->all != NULL)
		s->all->prev = m;
	s->all = m;
	s->nmsgs++;
	return m;
}

static void
msg_free(struct queue_sched *s, struct qmsg *m)
{
	struct qmsg **pp = &s->hash[hash_str(m->env.id)];

	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		s->all = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	s->nmsgs--;
	queue_env_deinit(&m->env);
	free(m->msg_path);
	free(m->busy);
	free(m);
}

static bool
msg_idle(const struct qmsg *m)
{
	return m->inflight == 0 && m->writes == 0 && !m->finishing;
}

static bool
msg_all_final(const struct qmsg *m)
{
	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->env.rcpts[i].status == QUEUE_RCPT_PENDING)
			return false;
	return true;
}

/* Lower-case domain of an address ("" when none). */
static const char *
rcpt_domain(const char *addr, char *dst, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t i = 0;

	if (at != NULL)
		for (at++; *at != '\0' && i + 1 < size; at++)
			dst[i++] = (*at >= 'A' && *at <= 'Z') ? (char)(*at + 32) : *at;
	dst[i] = '\0';
	return dst;
}

/* ---- destinations ---- */

static struct qdest *
dest_get(struct queue_sched *s, const char *domain)
{
	unsigned h = hash_str(domain);
	struct qdest *d;

	for (d = s->dests[h]; d != NULL; d = d->hnext)
		if (strcmp(d->domain, domain) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->domain = xstrdup(domain);
	d->tail = &d->head;
	d->hnext = s->dests[h];
	s->dests[h] = d;
	return d;
}

static void
handle_free(struct queue_delivery_handle *h)
{
	free(h->idx);
	free(h->rcpts);
	free(h->orcpts);
	free(h->notify);
	free(h);
}

/* Starts waiting deliveries of d while under its concurrency limit. */
static void
dest_pump(struct queue *q, struct qdest *d)
{
	struct queue_sched *s = q->sched;

	while (d->head != NULL && d->active < s->p.destination_concurrency_limit &&
	       q->agent != NULL && !s->stopping) {
		struct queue_delivery_handle *h = d->head;

		d->head = h->next;
		if (d->head == NULL)
			d->tail = &d->head;
		d->active++;
		s->inflight++;
		q->agent(q->agent_ctx, q, h, &h->d);
	}
}

static void
pump_all(struct queue *q)
{
	for (size_t i = 0; i < HASH_SIZE; i++)
		for (struct qdest *d = q->sched->dests[i]; d != NULL; d = d->hnext)
			dest_pump(q, d);
}

/* ---- dispatch ---- */

static struct queue_delivery_handle *
handle_new(struct qmsg *m, struct qdest *dest, const size_t *idx, size_t n)
{
	struct queue_delivery_handle *h = xcalloc(1, sizeof(*h));

	h->m = m;
	h->dest = dest;
	h->n = n;
	h->idx = xcalloc(n, sizeof(*h->idx));
	h->rcpts = xcalloc(n, sizeof(*h->rcpts));
	h->orcpts = xcalloc(n, sizeof(*h->orcpts));
	h->notify = xcalloc(n, sizeof(*h->notify));
	for (size_t i = 0; i < n; i++) {
		const struct queue_rcpt *r = &m->env.rcpts[idx[i]];

		h->idx[i] = idx[i];
		h->rcpts[i] = r->addr;
		h->orcpts[i] = r->orcpt;
		h->notify[i] = r->notify;
		m->busy[idx[i]] = 1;
	}
	h->d = (struct queue_delivery){
	        .id = m->env.id,
	        .domain = dest->domain,
	        .sender = m->env.sender,
	        .msg_path = m->msg_path,
	        .size = m->size,
	        .flags = m->env.flags & (QUEUE_F_SMTPUTF8 | QUEUE_F_8BITMIME),
	        .envid = m->env.envid,
	        .ret = m->env.ret,
	        .nrcpts = n,
	        .rcpts = h->rcpts,
	        .orcpts = h->orcpts,
	        .notify = h->notify,
	};
	m->inflight++;
	return h;
}

/* For sorting a message's due recipients by domain. */
struct rcpt_key {
	char domain[256];
	size_t idx;
};

static int
cmp_key(const void *a, const void *b)
{
	const struct rcpt_key *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Groups the due recipients of m by domain into deliveries. Returns the
   number of deliveries made. */
static size_t
msg_dispatch(struct queue *q, struct qmsg *m, bool force)
{
	struct queue_sched *s = q->sched;
	struct rcpt_key *keys = xcalloc(m->env.nrcpts, sizeof(*keys));
	size_t *idx = xcalloc(m->env.nrcpts, sizeof(*idx));
	size_t nk = 0, made = 0, limit = MAX(s->p.destination_recipient_limit, 1u);
	int64_t t = now(s);

	for (size_t i = 0; i < m->env.nrcpts; i++) {
		const struct queue_rcpt *r = &m->env.rcpts[i];

		if (r->status == QUEUE_RCPT_PENDING && !m->busy[i] && (force || r->next <= t)) {
			rcpt_domain(r->addr, keys[nk].domain, sizeof(keys[nk].domain));
			keys[nk++].idx = i;
		}
	}
	qsort(keys, nk, sizeof(*keys), cmp_key);
	for (size_t i = 0; i < nk;) {
		struct qdest *d = dest_get(s, keys[i].domain);
		struct queue_delivery_handle *h;
		size_t n = 0;

		while (i + n < nk && n < limit && strcmp(keys[i + n].domain, keys[i].domain) == 0) {
			idx[n] = keys[i + n].idx;
			n++;
		}
		h = handle_new(m, d, idx, n);
		*d->tail = h;
		d->tail = &h->next;
		made++;
		i += n;
	}
	free(keys);
	free(idx);
	return made;
}

static void msg_finish(struct queue *q, struct qmsg *m);
static void maybe_warn(struct queue *q, struct qmsg *m);
static void arm_timer(struct queue *q);

/* Dispatches every idle message that is due (or all, with force). */
static void
run_due(struct queue *q, bool force)
{
	struct queue_sched *s = q->sched;
	struct qmsg *next;

	for (struct qmsg *m = s->all; m != NULL; m = next) {
		next = m->next;
		if (!msg_idle(m))
			continue;
		if (m->deleted || msg_all_final(m)) {
			msg_finish(q, m);
			continue;
		}
		maybe_warn(q, m);
		msg_dispatch(q, m, force);
	}
	pump_all(q);
	arm_timer(q);
}

void
queue_run(struct queue *q)
{
	if (q->sched != NULL)
		run_due(q, false);
}

void
queue_flush(struct queue *q)
{
	if (q->sched != NULL)
		run_due(q, true);
}

void
queue_stats(const struct queue *q, size_t *nmsgs_r, size_t *inflight_r)
{
	*nmsgs_r = q->sched != NULL ? q->sched->nmsgs : 0;
	*inflight_r = q->sched != NULL ? q->sched->inflight : 0;
}

/* ---- timers ---- */

static void
on_timer(uv_timer_t *t)
{
	queue_run(t->data);
}

/* Earliest due time of an idle message's pending recipient. */
static void
arm_timer(struct queue *q)
{
	struct queue_sched *s = q->sched;
	int64_t t = now(s), best = INT64_MAX;

	if (s->stopping)
		return;
	for (struct qmsg *m = s->all; m != NULL; m = m->next) {
		if (!msg_idle(m))
			continue;
		for (size_t i = 0; i < m->env.nrcpts; i++)
			if (m->env.rcpts[i].status == QUEUE_RCPT_PENDING && !m->busy[i])
				best = MIN(best, m->env.rcpts[i].next);
	}
	if (best == INT64_MAX) {
		uv_timer_stop(s->timer);
		return;
	}
	uv_timer_start(s->timer, on_timer, best <= t ? 0 : (uint64_t)(best - t) * 1000, 0);
}

/* ---- results ---- */

static unsigned
backoff(const struct queue_params *p, unsigned attempts)
{
	uint64_t d = p->minimal_backoff_time;

	for (unsigned i = 1; i < attempts && d < p->maximal_backoff_time; i++)
		d *= 2;
	return (unsigned)MIN(d, (uint64_t)p->maximal_backoff_time);
}

static unsigned
lifetime(const struct queue_sched *s, const struct qmsg *m)
{
	return m->env.sender[0] == '\0' ? s->p.bounce_queue_lifetime : s->p.maximal_queue_lifetime;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

/* "550 5.1.1 text" from a result, printable, bounded. */
static void
reply_text(const struct queue_rcpt_result *res, char *dst, size_t size)
{
	size_t o;

	if (res->code != 0)
		snprintf(dst, size, "%u%s%s %s", res->code, res->enhanced[0] ? " " : "",
		         res->enhanced, res->text);
	else
		snprintf(dst, size, "%s", res->text);
	for (o = 0; dst[o] != '\0'; o++)
		if ((unsigned char)dst[o] < 0x20 || dst[o] == 0x7f)
			dst[o] = ' ';
}

static void
log_result(const struct qmsg *m, const struct queue_rcpt *r, const char *status,
           const struct queue_rcpt_result *res, int64_t t)
{
	char to[600], relay[300], reply[700], tls[128];

	log_value(to, sizeof(to), r->addr, strlen(r->addr));
	log_value(relay, sizeof(relay), res->relay[0] ? res->relay : "none",
	          strlen(res->relay[0] ? res->relay : "none"));
	log_value(reply, sizeof(reply), r->reply ? r->reply : "", r->reply ? strlen(r->reply) : 0);
	/* The facts `hikyaku report tls` and admins grep for, as Postfix logs them. */
	if (res->tls_version[0] != '\0')
		snprintf(tls, sizeof(tls), "tls=%s cipher=%s peer=%s", res->tls_version,
		         res->tls_cipher, res->tls_peer);
	else
		snprintf(tls, sizeof(tls), "tls=none");
	log_info("queue_id=%s to=<%s> relay=%s status=%s %s dsn=%s attempts=%u delay=%lld "
	         "reply=%s",
	         m->env.id, to, relay, status, tls,
	         res->enhanced[0] ? res->enhanced
	                          : (res->status == QR_SENT    ? "2.0.0"
	                             : res->status == QR_DEFER ? "4.0.0"
	                                                       : "5.0.0"),
	         r->attempts, (long long)(t - m->env.arrival), reply);
}

/* Applies one recipient's result to the in-memory envelope. */
static void
apply_result(struct queue_sched *s, struct qmsg *m, struct queue_rcpt *r,
             const struct queue_rcpt_result *res, int64_t t)
{
	char reply[QUEUE_MAX_REPLY + 40];
	const char *status = "sent";

	reply_text(res, reply, sizeof(reply));
	set_str(&r->reply, reply);
	set_str(&r->relay, res->relay);
	r->attempts++;
	switch (res->status) {
	case QR_SENT:
		r->status = QUEUE_RCPT_SENT;
		break;
	case QR_BOUNCE:
		r->status = QUEUE_RCPT_BOUNCED;
		status = "bounced";
		break;
	case QR_DEFER:
		status = "deferred";
		r->next = t + backoff(&s->p, r->attempts);
		/* Too old to try again: the last reason goes back to the sender. */
		if (t - m->env.arrival >= (int64_t)lifetime(s, m)) {
			r->status = QUEUE_RCPT_BOUNCED;
			status = "bounced";
			snprintf(reply, sizeof(reply), "%s (delivery time expired)",
			         r->reply ? r->reply : "no reply");
			set_str(&r->reply, reply);
		}
		break;
	}
	log_result(m, r, status, res, t);
}

/* The rewrite after a delivery is durable: decide what comes next. */
static void
on_rewritten(struct queue_job *job)
{
	struct qmsg *m = job->ctx;
	struct queue *q = m->q;

	if (job->status != 1)
		log_warnx("queue_id=%s event=envelope-write-failed error=\"%s\"", m->env.id,
		          job->err);
	queue_job_free(job);
	m->writes--;
	if (q->sched->stopping)
		return;
	if (msg_idle(m) && (m->deleted || msg_all_final(m)))
		msg_finish(q, m);
	else
		arm_timer(q);
}

/* Writes m's envelope as it is now, durably (batched). */
static void
msg_rewrite(struct queue *q, struct qmsg *m)
{
	m->writes++;
	queue_job_submit(q, queue_job_new(QJ_REWRITE, &m->env, on_rewritten, m));
}

/* A delivery's destination slot, held until its results are durable. */
struct slot_release {
	struct qmsg *m;
	struct qdest *dest;
};

/*
 * on_delivered_durable - the envelope now records the delivery: only now
 * may the destination take its next message. Were the slot freed at once,
 * a reused connection would start the next transaction while the last
 * one's 250 is still only in memory, and one SIGKILL could then resend
 * several messages; this way at most one transaction per slot is in the
 * RFC 5321 6.1 window (its 250 received, not yet recorded).
 */
static void
on_delivered_durable(struct queue_job *job)
{
	struct slot_release *r = job->ctx;
	struct queue *q = r->m->q;

	job->ctx = r->m;
	if (!q->sched->stopping) { /* stopping: the dests are gone already */
		r->dest->active--;
		dest_pump(q, r->dest);
	}
	free(r);
	on_rewritten(job);
}

void
queue_delivery_done(struct queue *q, struct queue_delivery_handle *h,
                    const struct queue_rcpt_result *results)
{
	struct queue_sched *s = q->sched;
	struct qmsg *m = h->m;
	int64_t t = now(s);

	for (size_t i = 0; i < h->n; i++) {
		m->busy[h->idx[i]] = 0;
		if (!m->deleted)
			apply_result(s, m, &m->env.rcpts[h->idx[i]], &results[i], t);
	}
	m->inflight--;
	s->inflight--;
	if (!m->deleted) {
		struct slot_release *r = xcalloc(1, sizeof(*r));

		r->m = m;
		r->dest = h->dest;
		m->writes++;
		queue_job_submit(q, queue_job_new(QJ_REWRITE, &m->env, on_delivered_durable, r));
	} else {
		h->dest->active--;
		if (msg_idle(m))
			msg_finish(q, m);
		dest_pump(q, h->dest);
	}
	handle_free(h);
}

void
queue_delivery_abandon(struct queue *q, struct queue_delivery_handle *h)
{
	struct queue_sched *s = q->sched;

	/* Nothing is written: the envelope on disk still says pending, so the
	   next start delivers these recipients (RFC 5321 6.1 allows the rare
	   duplicate when a connection broke after the end of DATA). */
	for (size_t i = 0; i < h->n; i++)
		h->m->busy[h->idx[i]] = 0;
	h->m->inflight--;
	h->dest->active--;
	s->inflight--;
	handle_free(h);
}

void
queue_set_agent(struct queue *q, queue_agent_fn *agent, void *ctx)
{
	q->agent = agent;
	q->agent_ctx = ctx;
	if (q->sched != NULL)
		pump_all(q);
}

/* ---- finishing: one bounce, then removal ---- */

static void
on_removed(struct queue_job *job)
{
	struct qmsg *m = job->ctx;
	struct queue_sched *s = m->q->sched;

	if (job->status != 1)
		log_warnx("queue_id=%s event=remove-failed error=\"%s\"", m->env.id, job->err);
	else
		log_info("queue_id=%s event=removed", m->env.id);
	queue_job_free(job);
	msg_free(s, m);
}

static void
msg_remove(struct queue *q, struct qmsg *m)
{
	m->finishing = true;
	queue_job_submit(q, queue_job_new(QJ_REMOVE, &m->env, on_removed, m));
}

/* Whether a recipient wants this kind of notice (RFC 3461 4.1). */
static bool
wants(const struct queue_rcpt *r, unsigned what)
{
	return r->notify == 0 ? true : (r->notify & what) != 0;
}

/* Reads the start of the original (or all of it for RET=FULL). */
static char *
read_original(const struct qmsg *m, size_t max, size_t *len_r)
{
	int fd = open(m->msg_path, O_RDONLY | O_CLOEXEC);
	char *data = xmalloc(max + 1);
	size_t n = 0;
	ssize_t r;

	while (fd >= 0 && n < max && (r = read(fd, data + n, max - n)) > 0)
		n += (size_t)r;
	if (fd >= 0)
		close(fd);
	*len_r = n;
	return data;
}

struct bounce_ctx {
	struct queue *q;
	struct qmsg *m; /* NULL for a delay warning */
};

static void
on_bounce_queued(void *ctx, int status, const char *id_or_error)
{
	struct bounce_ctx *bc = ctx;
	struct qmsg *m = bc->m;

	if (status != 1)
		log_warnx("event=dsn-failed error=\"%s\"", id_or_error);
	else if (m != NULL)
		log_info("queue_id=%s event=bounce dsn_id=%s", m->env.id, id_or_error);
	if (m != NULL && !bc->q->sched->stopping) {
		m->finishing = false;
		if (status == 1)
			msg_remove(bc->q, m);
		else
			arm_timer(bc->q); /* tried again at the next run */
	}
	free(bc);
}

/* Builds the DSN for m's recipients in `which` and queues it from <>.
   Returns 1 queued (done comes later), 0 nothing to report, -1 error. */
static int
queue_dsn(struct queue *q, struct qmsg *m, enum dsn_action action, struct bounce_ctx *bc)
{
	struct queue_sched *s = q->sched;
	struct dsn_rcpt *dr = xcalloc(m->env.nrcpts, sizeof(*dr));
	struct dsn_report rep = {.action = action};
	char boundary[64], msgid[320];
	const char *error = NULL;
	size_t n = 0, len;
	bool full = m->env.ret == QUEUE_RET_FULL && m->size <= s->p.dsn_max_full;
	struct queue_tx *tx;
	struct buf out;
	char *orig;

	for (size_t i = 0; i < m->env.nrcpts; i++) {
		struct queue_rcpt *r = &m->env.rcpts[i];
		bool fits =
		        action == DSN_FAILED
		                ? r->status == QUEUE_RCPT_BOUNCED && wants(r, QUEUE_NOTIFY_FAILURE)
		                : r->status == QUEUE_RCPT_PENDING && wants(r, QUEUE_NOTIFY_DELAY);
		if (!fits)
			continue;
		dr[n].final_rcpt = r->addr;
		dr[n].orcpt = r->orcpt;
		dr[n].diag = r->reply;
		dr[n].remote_mta = r->relay;
		/* The enhanced code is the reply's second word when it has one. */
		dr[n].status = action == DSN_FAILED ? "5.0.0" : "4.0.0";
		n++;
	}
	if (n == 0) {
		free(dr);
		return 0;
	}
	/* Status per recipient from its reply ("550 5.1.1 ..."). */
	char(*codes)[16] = xcalloc(n, sizeof(*codes));
	for (size_t i = 0; i < n; i++) {
		const char *d = dr[i].diag;
		if (d != NULL && strlen(d) > 9 && d[3] == ' ' && (d[4] == '4' || d[4] == '5') &&
		    d[5] == '.') {
			size_t w = strcspn(d + 4, " ");
			if (w < sizeof(codes[i])) {
				memcpy(codes[i], d + 4, w);
				if (action == DSN_FAILED)
					codes[i][0] = '5';
				dr[i].status = codes[i];
			}
		}
	}
	orig = read_original(m, full ? m->size : MIN(m->size, (uint64_t)HDRS_READ_MAX), &len);
	tx = queue_tx_begin(q, "", &error);
	if (tx != NULL) {
		snprintf(boundary, sizeof(boundary), "%s/%s", queue_tx_id(tx), "dsn");
		snprintf(msgid, sizeof(msgid), "%s@%s", queue_tx_id(tx), s->p.myhostname);
	}
	rep.reporting_mta = s->p.myhostname;
	rep.sender = m->env.sender;
	rep.envid = m->env.envid;
	rep.arrival = m->env.arrival;
	rep.now = now(s);
	rep.retry_until = m->env.arrival + lifetime(s, m);
	rep.boundary = boundary;
	rep.message_id = msgid;
	rep.full = full;
	rep.max_full = s->p.dsn_max_full;
	rep.msg = (struct span){(const uint8_t *)orig, len};
	rep.nrcpts = n;
	rep.rcpts = dr;
	buf_init(&out, 4096, s->p.dsn_max_full + 256 * 1024);
	if (tx != NULL && (dsn_build(&rep, &out, &error) < 0 ||
	                   queue_tx_add_rcpt(tx, m->env.sender, NULL, QUEUE_NOTIFY_NEVER) < 0 ||
	                   queue_tx_write(tx, buf_peek(&out).p, buf_peek(&out).n) < 0)) {
		queue_tx_abort(&tx);
		if (error == NULL)
			error = "cannot queue the notification";
	}
	if (tx != NULL) {
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)orig[i] >= 0x80) {
				queue_tx_set_options(tx, QUEUE_F_8BITMIME, NULL, QUEUE_RET_DEFAULT);
				break;
			}
		queue_tx_commit(tx, on_bounce_queued, bc);
	}
	buf_deinit(&out);
	free(orig);
	free(codes);
	free(dr);
	if (tx == NULL)
		log_warnx("queue_id=%s event=dsn-failed error=\"%s\"", m->env.id, error);
	return tx != NULL ? 1 : -1;
}

/* Every recipient final (or the message deleted): bounce if needed, remove. */
static void
msg_finish(struct queue *q, struct qmsg *m)
{
	struct bounce_ctx *bc;
	int rc;

	if (m->deleted || m->env.sender[0] == '\0') {
		msg_remove(q, m);
		return;
	}
	bc = xcalloc(1, sizeof(*bc));
	bc->q = q;
	bc->m = m;
	m->finishing = true;
	rc = queue_dsn(q, m, DSN_FAILED, bc);
	if (rc == 1)
		return;
	free(bc);
	m->finishing = false;
	if (rc == 0)
		msg_remove(q, m);
	/* rc < 0: kept; run_due tries again later. XXX: forever, if it
	   keeps failing. */
}

/* A delay warning, once, when delay_warning_time has passed. */
static void
maybe_warn(struct queue *q, struct qmsg *m)
{
	struct queue_sched *s = q->sched;
	struct bounce_ctx *bc;

	if (s->p.delay_warning_time == 0 || (m->env.flags & QUEUE_F_WARNED) ||
	    m->env.sender[0] == '\0' || now(s) - m->env.arrival < (int64_t)s->p.delay_warning_time)
		return;
	m->env.flags |= QUEUE_F_WARNED;
	bc = xcalloc(1, sizeof(*bc));
	bc->q = q;
	if (queue_dsn(q, m, DSN_DELAYED, bc) != 1)
		free(bc);
	msg_rewrite(q, m);
}

/* ---- scanning and requests ---- */

/* Loads every envelope not yet in memory. */
static void
scan_spool(struct queue *q)
{
	char **ids = NULL;
	ssize_t n = queue_list_ids(q, &ids);

	for (ssize_t i = 0; i < n; i++) {
		struct queue_env env;
		const char *error;

		if (msg_find(q->sched, ids[i]) == NULL) {
			int rc = queue_env_load(q, ids[i], &env, &error);

			if (rc == 1)
				msg_add(q, &env);
			else if (rc < 0)
				log_warnx("queue_id=%s event=bad-envelope error=\"%s\"", ids[i],
				          error);
		}
		free(ids[i]);
	}
	free(ids);
}

void
queue_sched_added(struct queue *q, struct queue_env *env)
{
	struct qmsg *m;

	if (q->sched == NULL || q->sched->stopping || msg_find(q->sched, env->id) != NULL) {
		queue_env_deinit(env);
		return;
	}
	m = msg_add(q, env);
	msg_dispatch(q, m, false);
	pump_all(q);
}

void
queue_sched_request(struct queue *q, const char *name)
{
	struct queue_sched *s = q->sched;
	const char *dot = strchr(name, '.');
	struct qmsg *m = dot != NULL && queue_id_valid(dot + 1) ? msg_find(s, dot + 1) : NULL;
	char v[128];

	log_info("event=queue-request request=%s", log_value(v, sizeof(v), name, strlen(name)));
	if (strcmp(name, "flush") == 0) {
		scan_spool(q);
		queue_flush(q);
	} else if (strcmp(name, "pickup") == 0) {
		scan_spool(q);
		queue_run(q);
	} else if (strncmp(name, "retry.", 6) == 0 && m != NULL) {
		for (size_t i = 0; i < m->env.nrcpts; i++)
			m->env.rcpts[i].next = 0;
		queue_run(q);
	} else if (strncmp(name, "delete.", 7) == 0 && m != NULL) {
		m->deleted = true;
		if (msg_idle(m))
			msg_remove(q, m);
	} else if (strncmp(name, "delete.", 7) == 0 && dot != NULL && queue_id_valid(dot + 1)) {
		/* Not in memory (unreadable envelope): remove the files all the same. */
		struct queue_env env = {0};

		memcpy(env.id, dot + 1, sizeof(env.id));
		queue_job_submit(q, queue_job_new(QJ_REMOVE, &env, queue_job_free, NULL));
	}
}

/* Handles and removes every request file in queue/ctl/. */
static void
process_ctl(struct queue *q)
{
	int dfd = dup(q->ctl_fd);
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) > 40)
			continue;
		queue_sched_request(q, de->d_name);
		unlinkat(q->ctl_fd, de->d_name, 0);
	}
	closedir(d);
}

static void
on_ctl(uv_fs_event_t *h, const char *filename, int events, int status)
{
	process_ctl(h->data);
}

static void
on_rescan(uv_timer_t *t)
{
	struct queue *q = t->data;

	scan_spool(q);
	queue_run(q);
}

int
queue_start(struct queue *q, const struct queue_params *p, const char **error_r)
{
	struct queue_sched *s;
	char ctl[4096];

	if (q->loop == NULL || q->sched != NULL) {
		*error_r = "the scheduler needs a loop and runs once";
		return -1;
	}
	if (queue_lock_sched(q) < 0) {
		*error_r = "another scheduler runs on this queue (queue/sched.lock)";
		return -1;
	}
	s = q->sched = xcalloc(1, sizeof(*s));
	s->p = *p;
	s->timer = xcalloc(1, sizeof(*s->timer));
	s->rescan = xcalloc(1, sizeof(*s->rescan));
	s->ctl = xcalloc(1, sizeof(*s->ctl));
	uv_timer_init(q->loop, s->timer);
	uv_timer_init(q->loop, s->rescan);
	uv_fs_event_init(q->loop, s->ctl);
	s->timer->data = s->rescan->data = s->ctl->data = q;
	snprintf(ctl, sizeof(ctl), "%s/ctl", q->dir);
	if (uv_fs_event_start(s->ctl, on_ctl, ctl, 0) != 0)
		log_warnx("event=queue-ctl-watch-failed dir=%s", ctl);
	if (p->queue_run_delay > 0)
		uv_timer_start(s->rescan, on_rescan, (uint64_t)p->queue_run_delay * 1000,
		               (uint64_t)p->queue_run_delay * 1000);
	scan_spool(q);
	log_info("event=queue-start messages=%zu", s->nmsgs);
	process_ctl(q);
	queue_run(q);
	return 0;
}

static void
free_handle(uv_handle_t *h)
{
	free(h);
}

void
queue_sched_stop(struct queue *q)
{
	struct queue_sched *s = q->sched;

	if (s == NULL)
		return;
	s->stopping = true;
	uv_close((uv_handle_t *)s->timer, free_handle);
	uv_close((uv_handle_t *)s->rescan, free_handle);
	uv_close((uv_handle_t *)s->ctl, free_handle);
	/* Outstanding bounce and rewrite callbacks still point at messages:
	   the committer finishes them (queue_close stops it after this). They
	   see `stopping` and touch nothing but their own job. */
	for (size_t i = 0; i < HASH_SIZE; i++) {
		while (s->dests[i] != NULL) {
			struct qdest *d = s->dests[i];

			s->dests[i] = d->hnext;
			while (d->head != NULL) {
				struct queue_delivery_handle *h = d->head;
				d->head = h->next;
				handle_free(h);
			}
			free(d->domain);
			free(d);
		}
	}
}

/* After the committer has stopped: the messages themselves. */
void
queue_sched_free(struct queue *q)
{
	struct queue_sched *s = q->sched;

	if (s == NULL)
		return;
	while (s->all != NULL)
		msg_free(s, s->all);
	free(s);
	q->sched = NULL;
}
