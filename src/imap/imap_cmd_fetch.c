/*
 * imap_cmd_fetch.c -- FETCH and UID FETCH (RFC 9051 6.4.5), streamed.
 *
 * The item list is parsed and each response rendered by imap_fetch.c;
 * this file picks the messages, maps the files, sets \Seen for non-PEEK
 * body fetches (in a read-write mailbox, before the responses, so FLAGS
 * shows it), and streams: one message's response is rendered as a list of
 * pieces, the renderer's own text copied into a small buffer and the
 * message bytes referenced in the mapping (never copied to the heap), then
 * sent in chunks while the connection accepts output; when it does not
 * (1 MiB queued), the drained callback resumes. Input is paused meanwhile,
 * so a client that never reads holds one mapped message, not a copy.
 * ENVELOPE and BODYSTRUCTURE renderings are cached in the index.
 * Limits: one message response at a time (bounded by the message size
 * limit); FETCH_CHUNK bytes per write.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "imap/imap_fetch.h"
#include "imap/imap_server_int.h"
#include "net/conn.h"

#define FETCH_CHUNK (64 * 1024)

/* A mapped message file. */
struct msg_map {
	void *p;
	size_t len;
};

/* One piece of the response being sent: text in `out`, or a range of the
   mapped message. */
struct fetch_piece {
	bool mapped;
	size_t off, len;
};

struct imap_fetch_job {
	struct imap_fetch_req *req;
	uint32_t *uids; /* the messages, in view order */
	size_t n, next;
	struct buf out;	   /* the renderer's text for the current response */
	struct msg_map map; /* the current message, while its pieces are sent */
	struct fetch_piece *pieces;
	size_t npieces, cap, cur, sent; /* sent: bytes of pieces[cur] already out */
	bool unknown_cte;
};

static void unmap_msg(struct msg_map *mm);

void
imap_fetch_job_free(struct imap_fetch_job **jp)
{
	struct imap_fetch_job *j = *jp;

	if (j == NULL)
		return;
	imap_fetch_req_free(&j->req);
	free(j->uids);
	buf_deinit(&j->out);
	unmap_msg(&j->map);
	free(j->pieces);
	free(j);
	*jp = NULL;
}

/* map_msg - the message's bytes, or -1 (expunged meanwhile, I/O error). */
static int
map_msg(struct imap_sess *s, uint32_t seq, struct msg_map *mm)
{
	int fd = mailbox_view_msg_fd(s->view, seq);
	struct stat st;

	mm->p = NULL;
	mm->len = 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_size < 0) {
		close(fd);
		return -1;
	}
	mm->len = (size_t)st.st_size;
	if (mm->len > 0)
		mm->p = mmap(NULL, mm->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (mm->p == MAP_FAILED) {
		mm->p = NULL;
		return -1;
	}
	return 0;
}

static void
unmap_msg(struct msg_map *mm)
{
	if (mm->p != NULL)
		munmap(mm->p, mm->len);
	mm->p = NULL;
}

/* cached - a structure rendering from the index, computing and caching it
   when missing (needs the data). Returns a heap string or NULL. */
static char *
cached(struct imap_sess *s, uint32_t seq, const char *field, struct msg_map *mm)
{
	const char *v = mailbox_view_cache_get(s->view, seq, field);
	struct buf b;
	int rc;
	char *out;

	if (v != NULL)
		return xstrdup(v);
	if (mm->p == NULL && map_msg(s, seq, mm) < 0)
		return NULL;
	buf_init(&b, 0, 4 * 1024 * 1024);
	if (strcmp(field, "envelope") == 0)
		rc = imap_fetch_envelope(mm->p ? mm->p : "", mm->len, &b);
	else
		rc = imap_fetch_bodystructure(mm->p ? mm->p : "", mm->len,
		    strcmp(field, "bodystructure") == 0, &b);
	out = rc == 0 ? xstrndup((const char *)buf_peek(&b).p, buf_len(&b)) : NULL;
	buf_deinit(&b);
	if (out != NULL)
		mailbox_view_cache_put(s->view, seq, field, out);
	return out;
}

/* emit_piece - a piece of the response, in order: inside the mapping it is
   referenced, else copied (the renderer's scratch is only valid now). */
static int
emit_piece(void *ctx, const void *p, size_t n)
{
	struct imap_fetch_job *j = ctx;
	const char *base = j->map.p, *q = p;
	bool mapped = base != NULL && q >= base && q + n <= base + j->map.len;
	size_t off = mapped ? (size_t)(q - base) : buf_len(&j->out);
	struct fetch_piece *last = j->npieces > 0 ? &j->pieces[j->npieces - 1] : NULL;

	if (!mapped && buf_append(&j->out, p, n) < 0)
		return -1;
	if (last != NULL && last->mapped == mapped && last->off + last->len == off) {
		last->len += n;
		return 0;
	}
	if (j->npieces == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 16;
		j->pieces = xrealloc(j->pieces, j->cap * sizeof(*j->pieces));
	}
	j->pieces[j->npieces++] = (struct fetch_piece){ mapped, off, n };
	return 0;
}

/* render_one - the response for one message into j->out. -1: fatal. */
static int
render_one(struct imap_sess *s, struct imap_fetch_job *j, uint32_t uid)
{
	uint32_t seq = mailbox_view_seq(s->view, uid);
	const struct mailbox_msg *m = seq ? mailbox_view_msg(s->view, seq) : NULL;
	const char *kwv[64], *const *names;
	size_t nk = mailbox_view_keywords(s->view, &names), nkw = 0;
	struct imap_fetch_msg fm = { 0 };
	struct msg_map *mm = &j->map;
	char *env = NULL, *bs = NULL, *body = NULL;
	int rc = 0;

	if (m == NULL)
		return 0;
	for (size_t i = 0; i < nk && i < 64; i++)
		if (m->keywords & (1ull << i))
			kwv[nkw++] = names[i];
	fm = (struct imap_fetch_msg){ .seq = seq, .uid = uid, .flags = m->flags,
		.keywords = kwv, .nkeywords = nkw, .internaldate = m->internaldate,
		.internaldate_tz = m->internaldate_tz, .size = m->size, .modseq = m->modseq };
	if (imap_fetch_needs_structure(j->req)) {
		unsigned want = imap_fetch_structures(j->req);

		/* Only what is asked: each one missing from the cache costs a
		   MIME parse of the message. */
		if (want & IMAP_FETCH_S_ENVELOPE)
			fm.envelope = env = cached(s, seq, "envelope", mm);
		if (want & IMAP_FETCH_S_BODYSTRUCTURE)
			fm.bodystructure = bs = cached(s, seq, "bodystructure", mm);
		if (want & IMAP_FETCH_S_BODY)
			fm.body = body = cached(s, seq, "body", mm);
	} else if (imap_fetch_needs_data(j->req) && map_msg(s, seq, mm) < 0) {
		return 0; /* expunged meanwhile: nothing to show */
	}
	if (imap_fetch_needs_data(j->req) && !imap_fetch_needs_structure(j->req)) {
		fm.data = mm->p ? mm->p : "";
		fm.len = mm->len;
	}
	rc = imap_fetch_render(j->req, &fm, s->rev2, emit_piece, j);
	if (rc == -2) {
		j->unknown_cte = true;
		rc = 0;
	}
	free(env);
	free(bs);
	free(body);
	return rc;
}

/* fetch_pump - send what the connection takes; true when all is sent. */
static bool
fetch_pump(struct imap_sess *s)
{
	struct imap_fetch_job *j = s->fetch;

	for (;;) {
		while (j->cur < j->npieces) {
			const struct fetch_piece *pc = &j->pieces[j->cur];
			const uint8_t *base = pc->mapped ? (const uint8_t *)j->map.p : buf_peek(&j->out).p;
			size_t n = MIN(pc->len - j->sent, (size_t)FETCH_CHUNK);

			if (s->conn == NULL || s->closing)
				return false;
			if (conn_write(s->conn, base + pc->off + j->sent, n) < 0) {
				conn_flush(s->conn); /* imap_on_drained calls back */
				return false;
			}
			j->sent += n;
			if (j->sent == pc->len) {
				j->cur++;
				j->sent = 0;
			}
		}
		/* The response is out: its text and mapping can go. */
		j->npieces = j->cur = 0;
		buf_clear(&j->out);
		unmap_msg(&j->map);
		if (j->next == j->n)
			return true;
		if (render_one(s, j, j->uids[j->next++]) < 0) {
			imap_printf(s, "* BYE Internal error while fetching\r\n");
			imap_sess_close(s, "fetch-error");
			return false;
		}
	}
}

void
imap_fetch_drained(struct imap_sess *s)
{
	bool cte;

	if (!fetch_pump(s))
		return;
	cte = s->fetch->unknown_cte;
	imap_fetch_job_free(&s->fetch);
	if (cte)
		imap_tagged(s, "NO", "[UNKNOWN-CTE] Cannot decode a part");
	else
		imap_tagged(s, "OK", "FETCH completed");
	imap_after_async(s);
}

static void
fetch_start(struct imap_sess *s)
{
	conn_pause(s->conn);
	imap_fetch_drained(s);
}

/* seen_done - \Seen was set for non-PEEK body fetches. */
static void
seen_done(void *ctx, int status, const char *error)
{
	struct imap_sess *s = ctx;

	(void)status;
	(void)error; /* a failed \Seen does not fail the FETCH */
	if (imap_sess_resume(s))
		return;
	fetch_start(s);
}

void
imap_cmd_fetch(struct imap_sess *s, const struct imap_cmd *c)
{
	struct imap_fetch_job *j;
	const char *err;
	uint32_t *unseen;
	size_t nunseen = 0;

	if (c->nargs < 2) {
		imap_tagged_error(s, "BAD", "Syntax: FETCH set items");
		return;
	}
	j = xcalloc(1, sizeof(*j));
	if (imap_fetch_parse(c->args + 1, c->nargs - 1, s->uid, &j->req, &err) < 0) {
		imap_fetch_job_free(&j);
		imap_tagged_error(s, "BAD", "%s", err);
		return;
	}
	if (imap_set_uids(s, &c->args[0], &j->uids, &j->n) < 0) {
		imap_fetch_job_free(&j);
		return;
	}
	/* The renderer's own text (not message bytes): structures, headers
	   filtered by HEADER.FIELDS, decoded BINARY parts. */
	buf_init(&j->out, 0, (size_t)s->srv->lim.literal_max * 2 + 1024 * 1024);
	s->fetch = j;
	if (!imap_fetch_sets_seen(j->req) || mailbox_view_readonly(s->view)) {
		fetch_start(s);
		return;
	}
	unseen = xcalloc(j->n ? j->n : 1, sizeof(*unseen));
	for (size_t i = 0; i < j->n; i++) {
		uint32_t seq = mailbox_view_seq(s->view, j->uids[i]);
		if (seq && !(mailbox_view_msg(s->view, seq)->flags & MAILBOX_F_SEEN))
			unseen[nunseen++] = j->uids[i];
	}
	imap_fetch_req_add_flags(j->req);
	free(s->uids);
	s->uids = unseen; /* kept until the store is done */
	s->nuids = nunseen;
	if (nunseen == 0) {
		fetch_start(s);
		return;
	}
	imap_sess_pause(s);
	mailbox_view_store(s->view, unseen, nunseen, MAILBOX_FLAGS_ADD, MAILBOX_F_SEEN, NULL, 0,
	    seen_done, s);
}
