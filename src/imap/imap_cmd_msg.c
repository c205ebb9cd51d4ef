/*
 * imap_cmd_msg.c -- STORE, COPY, MOVE (RFC 6851) and SEARCH, with their
 * UID forms (RFC 9051 6.4.4, 6.4.6, 6.4.7, 6.4.8; COPYUID per RFC 4315;
 * ESEARCH per RFC 4731 / 9051 when requested or IMAP4rev2 is enabled).
 *
 * Sequence sets become UID lists first (imap_set_uids), so a store
 * completion never depends on sequence numbers that may have moved.
 * SEARCH on header keys (SUBJECT, FROM, HEADER, SENT*...) reads only the
 * header section, and keeps it in the mailbox cache ("header"), so that a
 * client's repeated searches touch no file; BODY and TEXT map the message.
 * XXX those reads happen on the loop thread; large mailboxes with body
 * searches would want the thread pool.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "imap/imap_search.h"
#include "imap/imap_server_int.h"
#include "net/conn.h"

/* ---- STORE ---- */

static void
store_done(void *ctx, int status, const char *error)
{
	struct imap_sess *s = ctx;
	struct buf b;

	if (imap_sess_resume(s))
		return;
	buf_init(&b, 0, 64 * 1024);
	for (size_t i = 0; i < s->nuids && status == 1 && !s->store_silent; i++) {
		uint32_t seq = mailbox_view_seq(s->view, s->uids[i]);

		if (seq == 0)
			continue;
		buf_clear(&b);
		buf_printf(&b, "* %u FETCH (FLAGS ", seq);
		imap_buf_flags(s, &b, mailbox_view_msg(s->view, seq));
		if (s->uid)
			buf_printf(&b, " UID %u", s->uids[i]);
		buf_append_str(&b, ")\r\n");
		imap_write(s, buf_peek(&b).p, buf_len(&b));
	}
	buf_deinit(&b);
	free(s->uids);
	s->uids = NULL;
	if (status < 0)
		imap_tagged(s, "NO", "%s", error ? error : "STORE failed");
	else
		imap_tagged(s, "OK", "STORE completed");
	imap_after_async(s);
}

void
imap_cmd_store(struct imap_sess *s, const struct imap_cmd *c)
{
	const char *kw[MAILBOX_MAX_KEYWORDS], *item;
	struct imap_arg flags;
	enum mailbox_flags_op op = MAILBOX_FLAGS_SET;
	unsigned bits;
	size_t nkw;

	if (c->nargs < 3 || c->args[1].type != IMAP_ARG_ATOM)
		goto bad;
	item = c->args[1].str;
	if (*item == '+' || *item == '-') {
		op = *item == '+' ? MAILBOX_FLAGS_ADD : MAILBOX_FLAGS_REMOVE;
		item++;
	}
	if (strcasecmp(item, "FLAGS") != 0 && strcasecmp(item, "FLAGS.SILENT") != 0)
		goto bad;
	s->store_silent = strcasecmp(item, "FLAGS.SILENT") == 0;
	/* A list, or (RFC 3501) flags separated by spaces. */
	flags = c->nargs == 3 && c->args[2].type == IMAP_ARG_LIST
	    ? c->args[2]
	    : (struct imap_arg){ .type = IMAP_ARG_LIST, .list = c->args + 2, .n = c->nargs - 2 };
	if (imap_arg_flags(&flags, &bits, kw, &nkw, nitems(kw)) < 0)
		goto bad;
	if (mailbox_view_readonly(s->view)) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (imap_set_uids(s, &c->args[0], &s->uids, &s->nuids) < 0)
		return;
	if (s->nuids == 0) {
		free(s->uids);
		s->uids = NULL;
		imap_tagged(s, "OK", "STORE completed");
		return;
	}
	imap_sess_pause(s);
	mailbox_view_store(s->view, s->uids, s->nuids, op, bits, kw, nkw, store_done, s);
	return;
bad:
	imap_tagged_error(s, "BAD", "Syntax: STORE set [+|-]FLAGS[.SILENT] (flags)");
}

/* ---- COPY, MOVE ---- */

/* uid_list - "1:3,7" for sorted values, else a plain comma list. */
static void
uid_list(struct buf *b, const uint32_t *v, size_t n)
{
	bool sorted = true;

	for (size_t i = 1; i < n && sorted; i++)
		sorted = v[i] > v[i - 1];
	if (sorted) {
		imap_seqset_format(v, n, b);
		return;
	}
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%u", i ? "," : "", v[i]);
}

static void
copy_done(void *ctx, int status, const char *error, uint32_t uidvalidity,
    const uint32_t *src, const uint32_t *dst, size_t n)
{
	struct imap_sess *s = ctx;
	struct buf b;

	if (imap_sess_resume(s))
		return;
	free(s->uids);
	s->uids = NULL;
	free(s->arg);
	s->arg = NULL;
	if (status != 1) {
		if (status == 0)
			imap_tagged(s, "NO", "[TRYCREATE] No such mailbox");
		else
			imap_tagged(s, "NO", "%s", error ? error : "Failed");
		imap_after_async(s);
		return;
	}
	buf_init(&b, 0, 4 * 1024 * 1024);
	if (n > 0) {
		buf_printf(&b, "[COPYUID %u ", uidvalidity);
		uid_list(&b, src, n);
		buf_append_str(&b, " ");
		uid_list(&b, dst, n);
		buf_append_str(&b, "] ");
	}
	if (strcmp(s->op, "MOVE") == 0) {
		/* RFC 6851 4.3: COPYUID in an untagged OK, then the EXPUNGEs. */
		imap_printf(s, "* OK %.*sMoved\r\n", (int)buf_len(&b), (const char *)buf_peek(&b).p);
		imap_sync(s);
		imap_tagged(s, "OK", "MOVE completed");
	} else {
		imap_printf(s, "%s OK %.*sCOPY completed\r\n", s->tag, (int)buf_len(&b),
		    (const char *)buf_peek(&b).p);
	}
	buf_deinit(&b);
	imap_after_async(s);
}

static void
copy_or_move(struct imap_sess *s, const struct imap_cmd *c, bool move)
{
	s->op = move ? "MOVE" : "COPY";
	if (c->nargs != 2) {
		imap_tagged_error(s, "BAD", "Syntax: %s set mailbox", s->op);
		return;
	}
	if (move && mailbox_view_readonly(s->view)) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if ((s->arg = imap_arg_mailbox(s, &c->args[1])) == NULL)
		return;
	if (imap_set_uids(s, &c->args[0], &s->uids, &s->nuids) < 0) {
		free(s->arg);
		s->arg = NULL;
		return;
	}
	imap_sess_pause(s);
	mailbox_view_copy(s->view, s->uids, s->nuids, s->arg, move, copy_done, s);
}

void
imap_cmd_copy(struct imap_sess *s, const struct imap_cmd *c)
{
	copy_or_move(s, c, false);
}

void
imap_cmd_move(struct imap_sess *s, const struct imap_cmd *c)
{
	copy_or_move(s, c, true);
}

/* ---- SEARCH ---- */

#define SEARCH_HEADER_MAX (64 * 1024) /* larger header sections: map the file */

/*
 * search_header - the header section of message seq (with its empty line)
 * into b: from the cache, else read from the file (bounded) and cached.
 * Returns 0, or -1 when it cannot be had this way (too long, no end,
 * unreadable): the caller maps the whole message instead.
 */
static int
search_header(struct imap_sess *s, uint32_t seq, struct buf *b)
{
	const char *cached = mailbox_view_cache_get(s->view, seq, "header");
	const uint8_t *end = NULL;
	int fd;

	if (cached != NULL)
		return buf_append(b, cached, strlen(cached));
	if ((fd = mailbox_view_msg_fd(s->view, seq)) < 0)
		return -1;
	while (end == NULL && buf_len(b) < SEARCH_HEADER_MAX) {
		size_t avail;
		uint8_t *w = buf_reserve(b, 8192, &avail);
		ssize_t n = w != NULL ? read(fd, w, avail) : -1;

		if (n <= 0)
			break;
		buf_commit(b, (size_t)n);
		end = memmem(buf_peek(b).p, buf_len(b), "\r\n\r\n", 4);
	}
	close(fd);
	if (end == NULL)
		return -1;
	buf_truncate(b, (size_t)(end - buf_peek(b).p) + 4);
	/* Header text is ASCII in practice; one with a NUL is not cached. */
	if (memchr(buf_peek(b).p, 0, buf_len(b)) == NULL && buf_append(b, "", 1) == 0) {
		mailbox_view_cache_put(s->view, seq, "header", (const char *)buf_peek(b).p);
		buf_truncate(b, buf_len(b) - 1);
	}
	return 0;
}

/* search_one - does message seq match? Maps the file when needed. */
static int
search_one(struct imap_sess *s, const struct imap_search *srch, uint32_t seq, uint32_t count,
    uint32_t maxuid)
{
	const struct mailbox_msg *m = mailbox_view_msg(s->view, seq);
	const char *kwv[64], *const *names;
	size_t nk = mailbox_view_keywords(s->view, &names), nkw = 0;
	struct imap_search_msg sm;
	void *p = NULL;
	size_t len = 0;
	struct buf hdr;
	int rc;

	for (size_t i = 0; i < nk && i < 64; i++)
		if (m->keywords & (1ull << i))
			kwv[nkw++] = names[i];
	sm = (struct imap_search_msg){ .seq = seq, .uid = m->uid, .max_seq = count,
		.max_uid = maxuid, .flags = m->flags, .keywords = kwv, .nkeywords = nkw,
		.internaldate = m->internaldate, .internaldate_tz = m->internaldate_tz,
		.size = m->size };
	buf_init(&hdr, 0, SEARCH_HEADER_MAX + 8192);
	if (imap_search_needs_data(srch) && !imap_search_needs_body(srch) &&
	    search_header(s, seq, &hdr) == 0) {
		sm.data = (const char *)buf_peek(&hdr).p;
		sm.len = buf_len(&hdr);
	} else if (imap_search_needs_data(srch)) {
		int fd = mailbox_view_msg_fd(s->view, seq);
		struct stat st;

		if (fd < 0)
			return 0;
		if (fstat(fd, &st) == 0 && st.st_size > 0) {
			len = (size_t)st.st_size;
			p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		}
		close(fd);
		if (p == MAP_FAILED) {
			buf_deinit(&hdr);
			return 0;
		}
		sm.data = p ? p : "";
		sm.len = p ? len : 0;
	}
	rc = imap_search_match(srch, &sm);
	if (p != NULL)
		munmap(p, len);
	buf_deinit(&hdr);
	return rc;
}

/* search_reply - "* SEARCH ...", or ESEARCH under IMAP4rev2. */
static void
search_reply(struct imap_sess *s, const struct imap_search *srch, const uint32_t *v, size_t n)
{
	struct buf b;

	buf_init(&b, 0, 16 * 1024 * 1024);
	if (s->rev2 && !imap_search_is_esearch(srch)) {
		buf_append_str(&b, "* ESEARCH (TAG ");
		imap_buf_string(&b, s->tag, strlen(s->tag));
		buf_append_str(&b, ")");
		if (s->uid)
			buf_append_str(&b, " UID");
		if (n > 0) {
			buf_append_str(&b, " ALL ");
			imap_seqset_format(v, n, &b);
		}
		buf_append_str(&b, "\r\n");
	} else if (imap_search_format(srch, s->tag, s->uid, v, n, &b) < 0) {
		buf_clear(&b);
	}
	imap_write(s, buf_peek(&b).p, buf_len(&b));
	buf_deinit(&b);
}

void
imap_cmd_search(struct imap_sess *s, const struct imap_cmd *c)
{
	struct imap_search *srch;
	uint32_t count = mailbox_view_count(s->view), maxuid, *v;
	const char *err;
	size_t n = 0;
	int rc;

	if ((rc = imap_search_parse(c->args, c->nargs, &srch, &err)) < 0) {
		imap_tagged_error(s, rc == -2 ? "NO" : "BAD", "%s", err);
		return;
	}
	maxuid = count ? mailbox_view_msg(s->view, count)->uid : 0;
	v = xcalloc(count ? count : 1, sizeof(*v));
	for (uint32_t seq = 1; seq <= count; seq++)
		if (search_one(s, srch, seq, count, maxuid) == 1)
			v[n++] = s->uid ? mailbox_view_msg(s->view, seq)->uid : seq;
	search_reply(s, srch, v, n);
	free(v);
	imap_search_free(&srch);
	imap_tagged(s, "OK", "SEARCH completed");
}
