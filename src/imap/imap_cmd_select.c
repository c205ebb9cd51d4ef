/*
 * imap_cmd_select.c -- the selected state: SELECT, EXAMINE, CLOSE,
 * UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE (RFC 4315), CHECK, and IDLE
 * (RFC 2177).
 *
 * A view (store/mailbox.h) is this session's picture of the mailbox; its
 * sequence numbers only change in imap_sync(), i.e. when RFC 9051 7.5.1
 * allows EXPUNGE responses. During IDLE the store's poke syncs at once.
 * IDLE is bounded by the authenticated idle timeout like any other wait.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "imap/imap_server_int.h"
#include "net/conn.h"

static void
select_responses(struct imap_sess *s)
{
	struct mailbox_status st;
	const char *const *kw;
	size_t nkw = mailbox_view_keywords(s->view, &kw);
	bool ro = mailbox_view_readonly(s->view);
	struct buf b;
	char *out;

	mailbox_view_status(s->view, &st);
	buf_init(&b, 0, 64 * 1024);
	buf_append_str(&b, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (size_t i = 0; i < nkw; i++)
		buf_printf(&b, " %s", kw[i]);
	buf_append_str(&b, ")\r\n* OK [PERMANENTFLAGS (");
	if (!ro) {
		buf_append_str(&b, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
		for (size_t i = 0; i < nkw; i++)
			buf_printf(&b, " %s", kw[i]);
		if (nkw < MAILBOX_MAX_KEYWORDS)
			buf_append_str(&b, " \\*");
	}
	buf_append_str(&b, ")] Flags permitted\r\n");
	buf_printf(&b, "* %u EXISTS\r\n", mailbox_view_count(s->view));
	if (!s->rev2)
		buf_append_str(&b, "* 0 RECENT\r\n");
	buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n", st.uidvalidity);
	buf_printf(&b, "* OK [UIDNEXT %u] Predicted next UID\r\n", st.uidnext);
	if (s->rev2) { /* RFC 9051 6.3.2: the LIST response is required */
		buf_append_str(&b, "* LIST () \"/\" ");
		out = imap_mailbox_out(s, mailbox_view_name(s->view));
		imap_buf_string(&b, out, strlen(out));
		free(out);
		buf_append_str(&b, "\r\n");
	}
	buf_printf(&b, "%s OK [%s] %s completed\r\n", s->tag, ro ? "READ-ONLY" : "READ-WRITE",
	    s->op);
	imap_write(s, buf_peek(&b).p, buf_len(&b));
	buf_deinit(&b);
}

/* select_done - mailbox_open_fn */
static void
select_done(void *ctx, int status, const char *error, struct mailbox_view *v)
{
	struct imap_sess *s = ctx;

	if (imap_sess_resume(s)) {
		if (v != NULL)
			mailbox_view_close(&v);
		return;
	}
	if (status == 1 && v != NULL) {
		s->view = v;
		s->state = IS_SELECTED;
		select_responses(s);
	} else if (status == 0) {
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
	} else {
		imap_tagged(s, "NO", "%s", error ? error : "Cannot open mailbox");
	}
	free(s->arg);
	s->arg = NULL;
	imap_after_async(s);
}

static void
select_open(struct imap_sess *s, const struct imap_cmd *c, bool readonly)
{
	s->op = readonly ? "EXAMINE" : "SELECT";
	if (c->nargs != 1) { /* no CONDSTORE/QRESYNC parameters */
		imap_tagged_error(s, "BAD", "Syntax: %s mailbox", s->op);
		return;
	}
	/* RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected, so
	   the old one is closed first. */
	if (s->view != NULL) {
		imap_unselect(s);
		imap_printf(s, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	if ((s->arg = imap_arg_mailbox(s, &c->args[0])) == NULL)
		return;
	imap_sess_pause(s);
	mailbox_view_open(s->mbu, s->arg, readonly, imap_view_changed, select_done, s);
}

void
imap_cmd_select(struct imap_sess *s, const struct imap_cmd *c)
{
	select_open(s, c, false);
}

void
imap_cmd_examine(struct imap_sess *s, const struct imap_cmd *c)
{
	select_open(s, c, true);
}

void
imap_cmd_unselect(struct imap_sess *s, const struct imap_cmd *c)
{
	if (c->nargs != 0) {
		imap_tagged_error(s, "BAD", "UNSELECT takes no arguments");
		return;
	}
	imap_unselect(s);
	imap_tagged(s, "OK", "UNSELECT completed");
}

void
imap_cmd_check(struct imap_sess *s, const struct imap_cmd *c)
{
	(void)c;
	imap_sync(s);
	imap_tagged(s, "OK", "CHECK completed");
}

/* close_done - CLOSE expunged silently (no EXPUNGE responses). */
static void
close_done(void *ctx, int status, const char *error)
{
	struct imap_sess *s = ctx;

	(void)error;
	if (imap_sess_resume(s))
		return;
	imap_unselect(s);
	if (status < 0)
		imap_tagged(s, "NO", "CLOSE: expunge failed, mailbox closed");
	else
		imap_tagged(s, "OK", "CLOSE completed");
	imap_after_async(s);
}

void
imap_cmd_close(struct imap_sess *s, const struct imap_cmd *c)
{
	if (c->nargs != 0) {
		imap_tagged_error(s, "BAD", "CLOSE takes no arguments");
		return;
	}
	if (mailbox_view_readonly(s->view)) {
		imap_unselect(s);
		imap_tagged(s, "OK", "CLOSE completed");
		return;
	}
	imap_sess_pause(s);
	mailbox_view_expunge(s->view, NULL, 0, close_done, s);
}

static void
expunge_done(void *ctx, int status, const char *error)
{
	struct imap_sess *s = ctx;

	if (imap_sess_resume(s))
		return;
	free(s->uids);
	s->uids = NULL;
	imap_sync(s); /* the EXPUNGE responses */
	if (status < 0)
		imap_tagged(s, "NO", "%s", error ? error : "EXPUNGE failed");
	else
		imap_tagged(s, "OK", "EXPUNGE completed");
	imap_after_async(s);
}

void
imap_cmd_expunge(struct imap_sess *s, const struct imap_cmd *c)
{
	if (c->nargs != (s->uid ? 1u : 0u)) {
		imap_tagged_error(s, "BAD", "Syntax: EXPUNGE or UID EXPUNGE set");
		return;
	}
	if (mailbox_view_readonly(s->view)) {
		imap_tagged(s, "NO", "[READ-ONLY] Mailbox is read-only");
		return;
	}
	if (s->uid && imap_set_uids(s, &c->args[0], &s->uids, &s->nuids) < 0)
		return;
	if (s->uid && s->nuids == 0) {
		free(s->uids);
		s->uids = NULL;
		imap_sync(s);
		imap_tagged(s, "OK", "EXPUNGE completed");
		return;
	}
	imap_sess_pause(s);
	mailbox_view_expunge(s->view, s->uids, s->nuids, expunge_done, s);
}

void
imap_cmd_idle(struct imap_sess *s, const struct imap_cmd *c)
{
	if (c->nargs != 0) {
		imap_tagged_error(s, "BAD", "IDLE takes no arguments");
		return;
	}
	s->input = II_IDLE;
	imap_write(s, "+ idling\r\n", 10);
	imap_sync(s); /* what happened before IDLE began */
}

void
imap_idle_input(struct imap_sess *s, struct span line)
{
	s->input = II_CMD;
	if (!span_eq_ci(line, "DONE")) {
		imap_tagged_error(s, "BAD", "Expected DONE");
		return;
	}
	imap_sync(s);
	imap_tagged(s, "OK", "IDLE terminated");
}
