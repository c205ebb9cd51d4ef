/*
 * mailbox_view.c -- a session's view of an open folder: open (load and pick
 * up), sequence numbers, sync (EXPUNGE, FETCH FLAGS, EXISTS), the cache.
 *
 * All views of a folder share its message array (sorted by UID). A view
 * stores only how much of the array it knows (`known`), which expunges it
 * has reported (`seen_expunge`) and up to which MODSEQ it reported flags.
 * Entry i shows in view v iff i < v->known and it is live or was expunged
 * after v->seen_expunge (a tombstone v has not reported yet). Tombstones
 * are freed once every view has reported them (mbx_folder_compact; `behind`
 * counts the views that have not). So an idle view costs about a hundred
 * bytes however large the folder.
 * Sequence lookups step over the (few) tombstones by their index list; only
 * a view that still shows tombstones (not synced since an expunge) scans.
 * Flag changes are kept in a bounded log (UID, MODSEQ) so that a sync costs
 * what changed, not the folder's size; a view behind the log scans.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "store/mailbox_int.h"

#define CACHE_MAX_FIELD 64
#define CACHE_MAX_VALUE (1024 * 1024)
#define CACHE_FLUSH_MS 1000
#define CACHE_FLUSH_COUNT 256

struct job_open {
	struct mbx_job j; /* first */
	int64_t folder;
	char path[MBX_PATH];
	bool full;         /* reconcile files and index (first load) */
	uint32_t from_uid; /* rows to read back */
	struct mbx_folder_row row;
	struct mbx_msg **msgs;
	size_t nmsgs;
	char **keywords;
	size_t nkeywords;
	/* open only (pickup: done == NULL) */
	bool readonly;
	mailbox_changed_fn *changed;
	mailbox_open_fn *done;
	void *ctx;
};

/* ---- the shared array ---- */

static bool
visible(const struct mailbox_view *v, size_t i)
{
	const struct mbx_msg *m = v->f->msgs[i];

	return i < v->known && (m->expunge_seq == 0 || m->expunge_seq > v->seen_expunge);
}

struct mbx_msg *
mbx_folder_msg_by_uid(struct mbx_folder *f, uint32_t uid)
{
	size_t lo = 0, hi = f->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->msgs[mid]->m.uid == uid)
			return f->msgs[mid];
		if (f->msgs[mid]->m.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
mbx_folder_merge(struct mbx_folder *f, struct mbx_msg **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* Rows read back may include ones an earlier completion added. */
		if (f->nmsgs > 0 && msgs[i]->m.uid <= f->msgs[f->nmsgs - 1]->m.uid) {
			mbx_msg_free(msgs[i]);
			msgs[i] = NULL;
			continue;
		}
		if (f->nmsgs == f->capmsgs) {
			f->capmsgs = f->capmsgs == 0 ? 64 : f->capmsgs * 2;
			f->msgs = xrealloc(f->msgs, f->capmsgs * sizeof(*f->msgs));
		}
		f->msgs[f->nmsgs++] = msgs[i];
		msgs[i] = NULL;
	}
}

/* Lists the tombstones' indexes (after they changed). */
static void
tombs_rebuild(struct mbx_folder *f)
{
	size_t k = 0;

	free(f->tombs);
	f->tombs = f->ntomb > 0 ? xmalloc(f->ntomb * sizeof(*f->tombs)) : NULL;
	for (size_t i = 0; i < f->nmsgs && k < f->ntomb; i++)
		if (f->msgs[i]->expunge_seq != 0)
			f->tombs[k++] = i;
}

void
mbx_folder_expunged(struct mbx_folder *f, const uint32_t *uids, size_t n)
{
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		struct mbx_msg *m = mbx_folder_msg_by_uid(f, uids[i]);

		if (m == NULL || m->expunge_seq != 0)
			continue;
		if (!any) {
			f->nexpunge++;
			f->behind = f->nviews; /* no view has reported this one */
		}
		any = true;
		m->expunge_seq = f->nexpunge;
		m->m.expunged = true;
		f->ntomb++;
	}
	if (any) {
		tombs_rebuild(f);
		mbx_folder_compact(f); /* views that do not show them yet */
	}
}

/* Entries of rm (ascending) below x. */
static size_t
count_below(const size_t *rm, size_t n, size_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rm[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
mbx_folder_compact(struct mbx_folder *f)
{
	uint32_t min_seen = f->nexpunge;
	size_t *rm, nrm = 0, o = 0;

	/* Only once every view has reported every expunge: an O(1) test on
	   each sync, the O(n) work once per expunge. */
	if (f->ntomb == 0 || f->behind > 0)
		return;
	rm = xmalloc(f->ntomb * sizeof(*rm));
	for (size_t i = 0; i < f->nmsgs; i++) {
		struct mbx_msg *m = f->msgs[i];

		/* Reported by every view (or by none that could show it). */
		if (m->expunge_seq != 0 && m->expunge_seq <= min_seen) {
			rm[nrm++] = i;
			mbx_msg_free(m);
			continue;
		}
		f->msgs[o++] = m;
	}
	for (struct mailbox_view *v = f->views; v != NULL; v = v->next)
		v->known -= count_below(rm, nrm, v->known);
	f->ntomb -= nrm;
	f->nmsgs = o;
	free(rm);
	if (nrm > 0)
		tombs_rebuild(f);
}

void
mbx_folder_changed(struct mbx_folder *f, uint32_t uid, uint64_t modseq)
{
	if (f->nchlog == MBX_CHLOG_MAX) {
		/* Forget the older half: views behind it scan instead. */
		size_t drop = MBX_CHLOG_MAX / 2;

		f->chlog_floor = f->chlog[drop - 1].modseq;
		memmove(f->chlog, f->chlog + drop, (f->nchlog - drop) * sizeof(*f->chlog));
		f->nchlog -= drop;
	}
	if (f->chlog == NULL)
		f->chlog = xmalloc(MBX_CHLOG_MAX * sizeof(*f->chlog));
	f->chlog[f->nchlog].uid = uid;
	f->chlog[f->nchlog++].modseq = modseq;
}

void
mbx_folder_keywords(struct mbx_folder *f, char ***kw, size_t *n)
{
	if (*kw == NULL)
		return;
	if (f->keywords == NULL) {
		f->keywords = *kw;
		f->nkeywords = *n;
		*kw = NULL;
		*n = 0;
		return;
	}
	/* Keywords are only ever added, at the end, and the array has room
	   for MAILBOX_MAX_KEYWORDS: names handed out stay valid. */
	for (size_t i = f->nkeywords; i < *n && i < MAILBOX_MAX_KEYWORDS; i++) {
		f->keywords[i] = (*kw)[i];
		(*kw)[i] = NULL;
	}
	if (*n > f->nkeywords)
		f->nkeywords = *n;
}

void
mbx_folder_poke(struct mbx_folder *f, const struct mailbox_view *except)
{
	for (struct mailbox_view *v = f->views; v != NULL; v = v->next)
		if (v != except && v->changed != NULL)
			v->changed(v->ctx);
}

/* ---- sequence numbers ---- */

/* Array index of seq in v, or SIZE_MAX. */
static size_t
view_index(const struct mailbox_view *v, uint32_t seq)
{
	uint32_t s = 0;

	if (seq == 0 || seq > v->count)
		return SIZE_MAX;
	if (v->f->ntomb == 0)
		return seq - 1; /* no tombstones: the array is the view */
	if (v->seen_expunge == v->f->nexpunge) {
		/* It shows no tombstone: step over them (they are few). */
		size_t i = seq - 1;

		for (size_t k = 0; k < v->f->ntomb && v->f->tombs[k] <= i; k++)
			i++;
		return i;
	}
	for (size_t i = 0; i < v->known; i++)
		if (visible(v, i) && ++s == seq)
			return i;
	return SIZE_MAX;
}

uint32_t
mailbox_view_count(const struct mailbox_view *v)
{
	return v->count;
}

const struct mailbox_msg *
mailbox_view_msg(const struct mailbox_view *v, uint32_t seq)
{
	size_t i = view_index(v, seq);

	return i == SIZE_MAX ? NULL : &v->f->msgs[i]->m;
}

uint32_t
mailbox_view_seq(const struct mailbox_view *v, uint32_t uid)
{
	const struct mbx_folder *f = v->f;
	size_t lo = 0, hi = v->known;
	uint32_t seq = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->msgs[mid]->m.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= v->known || f->msgs[lo]->m.uid != uid || !visible(v, lo))
		return 0;
	if (f->ntomb == 0)
		return (uint32_t)lo + 1;
	if (v->seen_expunge == f->nexpunge) {
		size_t below = 0;

		while (below < f->ntomb && f->tombs[below] < lo)
			below++;
		return (uint32_t)(lo - below) + 1;
	}
	for (size_t i = 0; i <= lo; i++)
		seq += visible(v, i);
	return seq;
}

const char *
mailbox_view_name(const struct mailbox_view *v)
{
	return v->f->name;
}

bool
mailbox_view_readonly(const struct mailbox_view *v)
{
	return v->readonly;
}

size_t
mailbox_view_keywords(const struct mailbox_view *v, const char *const **names)
{
	*names = (const char *const *)v->f->keywords;
	return v->f->nkeywords;
}

void
mailbox_view_status(const struct mailbox_view *v, struct mailbox_status *st)
{
	const struct mbx_folder *f = v->f;

	*st = (struct mailbox_status){.messages = v->count,
	                              .uidvalidity = f->uidvalidity,
	                              .uidnext = f->uidnext,
	                              .highestmodseq = f->highestmodseq};
	for (uint32_t seq = 1; seq <= v->count; seq++) {
		const struct mailbox_msg *m = mailbox_view_msg(v, seq);

		st->unseen += !(m->flags & MAILBOX_F_SEEN);
		st->deleted += (m->flags & MAILBOX_F_DELETED) != 0;
		st->size += m->size;
	}
}

/* ---- sync ---- */

/* Reports unreported expunges, highest sequence number first. The
   tombstone list gives their places: seq = index + 1 - tombstones before
   it that this view no longer shows. */
static void
sync_expunges(struct mailbox_view *v, const struct mailbox_sync_cb *cb, void *ctx)
{
	struct mbx_folder *f = v->f;
	uint32_t *seqs;
	size_t n = 0, hidden = 0;

	if (v->seen_expunge == f->nexpunge)
		return;
	seqs = xmalloc((f->ntomb + 1) * sizeof(*seqs));
	for (size_t k = 0; k < f->ntomb && f->tombs[k] < v->known; k++) {
		size_t t = f->tombs[k];

		if (f->msgs[t]->expunge_seq <= v->seen_expunge)
			hidden++;
		else
			seqs[n++] = (uint32_t)(t + 1 - hidden);
	}
	v->seen_expunge = f->nexpunge;
	v->count -= (uint32_t)n;
	f->behind--;
	/* Descending: each EXPUNGE leaves the lower numbers as they are. */
	while (n > 0) {
		n--;
		if (cb != NULL && cb->expunge != NULL)
			cb->expunge(ctx, seqs[n]);
	}
	free(seqs);
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Flag changes from the folder's change log; false when the log no longer
   reaches back to what v has reported (then the caller scans). */
static bool
sync_flags_log(struct mailbox_view *v, const struct mailbox_sync_cb *cb, void *ctx)
{
	struct mbx_folder *f = v->f;
	uint32_t *seqs;
	size_t n = 0;

	if (v->synced_modseq < f->chlog_floor)
		return false;
	seqs = xmalloc((f->nchlog + 1) * sizeof(*seqs));
	for (size_t i = f->nchlog; i > 0 && f->chlog[i - 1].modseq > v->synced_modseq; i--) {
		uint32_t seq = mailbox_view_seq(v, f->chlog[i - 1].uid);

		if (seq != 0)
			seqs[n++] = seq;
	}
	if (n > 1)
		qsort(seqs, n, sizeof(*seqs), u32_cmp);
	for (size_t i = 0; i < n; i++)
		if ((i == 0 || seqs[i] != seqs[i - 1]) && cb != NULL && cb->flags != NULL)
			cb->flags(ctx, seqs[i], mailbox_view_msg(v, seqs[i]));
	free(seqs);
	return true;
}

static void
sync_flags(struct mailbox_view *v, const struct mailbox_sync_cb *cb, void *ctx)
{
	struct mbx_folder *f = v->f;
	uint32_t seq = 0;

	if (v->synced_modseq >= f->highestmodseq)
		return;
	if (!sync_flags_log(v, cb, ctx)) {
		for (size_t i = 0; i < v->known; i++) {
			const struct mbx_msg *m = f->msgs[i];

			if (!visible(v, i))
				continue;
			seq++;
			if (m->m.modseq > v->synced_modseq && cb != NULL && cb->flags != NULL)
				cb->flags(ctx, seq, &m->m);
		}
	}
	v->synced_modseq = f->highestmodseq;
}

void
mailbox_view_sync(struct mailbox_view *v, const struct mailbox_sync_cb *cb, void *ctx)
{
	struct mbx_folder *f = v->f;
	uint32_t added = 0;

	sync_expunges(v, cb, ctx);
	sync_flags(v, cb, ctx);
	/* New entries: live ones become visible; expunged ones never will. */
	for (size_t i = v->known; i < f->nmsgs; i++)
		added += f->msgs[i]->expunge_seq == 0;
	v->known = f->nmsgs;
	if (added > 0) {
		v->count += added;
		if (cb != NULL && cb->exists != NULL)
			cb->exists(ctx, v->count);
	}
	mbx_folder_compact(f);
}

/* ---- open and pick up ---- */

static void
open_run(struct mbx_job *j)
{
	struct job_open *jo = (struct job_open *)j;
	sqlite3 *db = j->u->db;
	int rc;

	if (jo->folder < 0) {
		j->status = 0;
		return;
	}
	if ((rc = mbx_sync_folder(j, db, jo->folder, jo->path, jo->full)) <= 0) {
		j->status = rc;
		return;
	}
	if (mbx_index_folder_get(db, jo->folder, &jo->row) <= 0) {
		mbx_job_fail(j, "index: %s", sqlite3_errmsg(db));
		return;
	}
	jo->msgs = mbx_index_msgs(db, jo->folder, jo->full ? 0 : jo->from_uid, UINT32_MAX,
	                          &jo->nmsgs, &rc);
	if (rc < 0) {
		mbx_job_fail(j, "index: %s", sqlite3_errmsg(db));
		return;
	}
	jo->keywords = mbx_index_keywords(db, jo->folder, &jo->nkeywords);
	j->status = 1;
}

/* Memory takes what the job read. New messages poke the views. */
static void
open_apply(struct job_open *jo, struct mbx_folder *f)
{
	size_t before = f->nmsgs;

	f->uidvalidity = jo->row.uidvalidity;
	f->uidnext = jo->row.uidnext;
	if (jo->row.highestmodseq > f->highestmodseq)
		f->highestmodseq = jo->row.highestmodseq;
	if (!f->loaded && jo->full) {
		f->loaded = true;
		f->nexpunge = 0;
		f->chlog_floor = f->highestmodseq; /* the log starts now */
	} else if (!f->loaded) {
		return; /* nobody looks: the index has it */
	}
	mbx_folder_keywords(f, &jo->keywords, &jo->nkeywords);
	mbx_folder_merge(f, jo->msgs, jo->nmsgs);
	if (f->nmsgs > before)
		mbx_folder_poke(f, NULL);
}

static struct mailbox_view *
view_new(struct mbx_folder *f, struct job_open *jo)
{
	struct mailbox_view *v = xcalloc(1, sizeof(*v));

	v->f = f;
	v->readonly = jo->readonly;
	v->changed = jo->changed;
	v->ctx = jo->ctx;
	v->known = f->nmsgs;
	v->seen_expunge = f->nexpunge;
	v->synced_modseq = f->highestmodseq;
	f->nviews++;
	for (size_t i = 0; i < f->nmsgs; i++)
		v->count += f->msgs[i]->expunge_seq == 0;
	v->next = f->views;
	if (f->views != NULL)
		f->views->prev = v;
	f->views = v;
	f->u->refs++;
	return v;
}

static struct job_open *open_job(struct mbx_folder *f);

static void
open_free(struct job_open *jo)
{
	for (size_t i = 0; i < jo->nmsgs; i++)
		mbx_msg_free(jo->msgs[i]);
	free(jo->msgs);
	mbx_strv_free(jo->keywords, jo->nkeywords);
	free(jo);
}

static void
open_complete(struct mbx_job *j)
{
	struct job_open *jo = (struct job_open *)j;
	struct mbx_folder *f = jo->folder >= 0 ? mbx_folder_by_id(j->u, jo->folder) : NULL;
	struct mailbox_view *v = NULL;

	if (f != NULL && jo->done == NULL)
		f->pickup_queued = false;
	if (j->status == 1 && f != NULL && jo->done != NULL && !jo->full && !f->loaded) {
		/* Its folder was unloaded (the last other view closed) since it
		   was queued: it must load everything after all. */
		struct job_open *again = open_job(f);

		again->readonly = jo->readonly;
		again->changed = jo->changed;
		again->done = jo->done;
		again->ctx = jo->ctx;
		mbx_job_submit(j->u, &again->j, NULL);
		open_free(jo);
		return;
	}
	if (j->status == 1 && f != NULL) {
		open_apply(jo, f);
		if (jo->done != NULL)
			v = view_new(f, jo);
	} else if (j->status == 1) {
		j->status = 0; /* deleted meanwhile */
	}
	if (j->status < 0)
		log_warnx("event=mailbox-error account=%s error=\"%s\"", j->u->address, j->err);
	if (jo->done != NULL)
		jo->done(jo->ctx, j->status, j->status < 0 ? j->err : NULL, v);
	open_free(jo);
}

static struct job_open *
open_job(struct mbx_folder *f)
{
	struct job_open *jo = xcalloc(1, sizeof(*jo));

	jo->j.run = open_run;
	jo->j.complete = open_complete;
	jo->folder = f != NULL ? f->id : -1;
	if (f != NULL) {
		snprintf(jo->path, sizeof(jo->path), "%s", f->path);
		jo->full = !f->loaded;
		jo->from_uid = f->uidnext;
	}
	return jo;
}

void
mbx_folder_pickup(struct mbx_folder *f)
{
	struct job_open *jo;

	if (f == NULL || f->pickup_queued)
		return;
	f->pickup_queued = true;
	jo = open_job(f);
	jo->full = false; /* new/ only: a first load reconciles */
	mbx_job_submit(f->u, &jo->j, NULL);
}

void
mailbox_view_open(struct mailbox_user *u, const char *name, bool readonly,
                  mailbox_changed_fn *changed, mailbox_open_fn *done, void *ctx)
{
	struct job_open *jo = open_job(mbx_folder_find(u, name));

	jo->readonly = readonly;
	jo->changed = changed;
	jo->done = done;
	jo->ctx = ctx;
	mbx_job_submit(u, &jo->j, NULL);
}

void
mailbox_view_close(struct mailbox_view **vp)
{
	struct mailbox_view *v = *vp;
	struct mbx_folder *f;

	if (v == NULL)
		return;
	f = v->f;
	/* Jobs it started still complete, without it. */
	for (struct mbx_job *j = f->u->jobs; j != NULL; j = j->next)
		if (j->v == v)
			j->v = NULL;
	if (v->prev != NULL)
		v->prev->next = v->next;
	else
		f->views = v->next;
	if (v->next != NULL)
		v->next->prev = v->prev;
	f->nviews--;
	if (v->seen_expunge != f->nexpunge)
		f->behind--;
	if (f->views == NULL)
		mbx_folder_unload(f);
	else
		mbx_folder_compact(f);
	free(v);
	*vp = NULL;
	mbx_user_unref(f->u);
}

int
mailbox_view_msg_fd(struct mailbox_view *v, uint32_t seq)
{
	size_t i = view_index(v, seq);
	char p[MBX_PATH];

	if (i == SIZE_MAX)
		return -1;
	mbx_path(p, sizeof(p), "%s/cur/%s", v->f->path, v->f->msgs[i]->file);
	return open(p, O_RDONLY | O_CLOEXEC);
}

/* ---- the cache ---- */

const char *
mailbox_view_cache_get(struct mailbox_view *v, uint32_t seq, const char *field)
{
	size_t i = view_index(v, seq);

	if (i == SIZE_MAX)
		return NULL;
	for (const struct mbx_cache *c = v->f->msgs[i]->cache; c != NULL; c = c->next)
		if (strcmp(c->field, field) == 0)
			return c->value;
	return NULL;
}

struct job_cache {
	struct mbx_job j; /* first */
	struct mbx_cache_put *puts;
};

static void
cache_run(struct mbx_job *j)
{
	struct job_cache *jc = (struct job_cache *)j;
	sqlite3 *db = j->u->db;
	sqlite3_stmt *st;

	/* Rebuildable: one NORMAL commit for the batch; a row of an expunged
	   message simply finds no message when loaded. */
	if (mbx_db_begin_lazy(db) < 0)
		return;
	st = mbx_db_prep(db, "INSERT OR REPLACE INTO cache(folder, uid, field, value)"
	                     " SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM messages"
	                     " WHERE folder = ?1 AND uid = ?2)");
	for (struct mbx_cache_put *p = jc->puts; st != NULL && p != NULL; p = p->next) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, p->folder);
		sqlite3_bind_int64(st, 2, p->uid);
		sqlite3_bind_text(st, 3, p->field, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, p->value, -1, SQLITE_STATIC);
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	j->status = mbx_db_commit(db) == 0 ? 1 : -1;
}

static void
cache_complete(struct mbx_job *j)
{
	struct job_cache *jc = (struct job_cache *)j;
	struct mbx_cache_put *p, *next;

	for (p = jc->puts; p != NULL; p = next) {
		next = p->next;
		free(p->field);
		free(p->value);
		free(p);
	}
	free(jc);
}

void
mbx_cache_flush(struct mailbox_user *u)
{
	struct job_cache *jc;

	if (u->nputs == 0)
		return;
	jc = xcalloc(1, sizeof(*jc));
	jc->j.run = cache_run;
	jc->j.complete = cache_complete;
	/* Oldest first, so that the last put of a field wins. */
	for (struct mbx_cache_put *p = u->puts, *next; p != NULL; p = next) {
		next = p->next;
		p->next = jc->puts;
		jc->puts = p;
	}
	u->puts = NULL;
	u->nputs = 0;
	if (u->timer_on)
		uv_timer_stop(&u->put_timer);
	mbx_job_submit(u, &jc->j, NULL);
}

static void
cache_timer(uv_timer_t *t)
{
	mbx_cache_flush(t->data);
}

static void
cache_schedule(struct mailbox_user *u)
{
	/* A handle being closed cannot be armed again: flush at once then. */
	if (u->nputs >= CACHE_FLUSH_COUNT || u->timer_closing) {
		mbx_cache_flush(u);
		return;
	}
	if (!u->timer_on) {
		uv_timer_init(u->ms->loop, &u->put_timer);
		u->put_timer.data = u;
		u->timer_on = true;
	}
	if (!uv_is_active((uv_handle_t *)&u->put_timer))
		uv_timer_start(&u->put_timer, cache_timer, CACHE_FLUSH_MS, 0);
}

void
mailbox_view_cache_put(struct mailbox_view *v, uint32_t seq, const char *field, const char *value)
{
	size_t i = view_index(v, seq);
	struct mbx_msg *m;
	struct mbx_cache *c;
	struct mbx_cache_put *p;

	if (i == SIZE_MAX || strlen(field) > CACHE_MAX_FIELD || strlen(value) > CACHE_MAX_VALUE)
		return;
	m = v->f->msgs[i];
	for (c = m->cache; c != NULL && strcmp(c->field, field) != 0; c = c->next)
		;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		c->field = xstrdup(field);
		c->next = m->cache;
		m->cache = c;
	} else if (strcmp(c->value, value) == 0) {
		return;
	}
	free(c->value);
	c->value = xstrdup(value);
	p = xcalloc(1, sizeof(*p));
	p->folder = v->f->id;
	p->uid = m->m.uid;
	p->field = xstrdup(field);
	p->value = xstrdup(value);
	p->next = v->f->u->puts;
	v->f->u->puts = p;
	v->f->u->nputs++;
	cache_schedule(v->f->u);
}
