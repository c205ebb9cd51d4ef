/*
 * pop3_cmd_msg.c -- the TRANSACTION state commands on the maildrop
 * snapshot: STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP (RFC 1939 5, 7).
 *
 * Message numbers index the snapshot taken at login; DELE marks in this
 * session only (pop3_cmd_quit.c applies the marks). Sizes are the octets
 * of the stored file (CRLF line endings), as RFC 1939 11 asks; the
 * byte-stuffing added on the wire is not counted.
 */
#include <inttypes.h>

#include "net/conn.h"
#include "pop3/pop3_server_int.h"
#include "store/mailbox.h"

void
pop3_cmd_stat(struct pop3_sess *s, const struct pop3_cmd *c)
{
	uint64_t size = 0;
	uint32_t n = 0;

	(void)c;
	for (uint32_t i = 1; i <= s->nmsgs; i++) {
		const struct mailbox_msg *m = mailbox_view_msg(s->view, i);

		if (m != NULL && !s->deleted[i - 1]) {
			n++;
			size += m->size;
		}
	}
	pop3_reply_ok(s, "%" PRIu32 " %" PRIu64, n, size);
}

/* pop3_listing - LIST or UIDL: one message, or every one (streamed). */
static void
pop3_listing(struct pop3_sess *s, const struct pop3_cmd *c, enum pop3_stream kind)
{
	const struct mailbox_msg *m;
	char uidl[17];

	if (!c->has_msg) {
		pop3_reply_ok(s, "%s follows", kind == PS_LIST ? "Scan list" : "Unique-id list");
		pop3_stream_list(s, kind);
		return;
	}
	if ((m = pop3_msg(s, c->msg)) == NULL)
		return;
	if (kind == PS_LIST) {
		pop3_reply_ok(s, "%" PRIu32 " %" PRIu64, c->msg, m->size);
	} else {
		pop3_uidl(s, m->uid, uidl);
		pop3_reply_ok(s, "%" PRIu32 " %s", c->msg, uidl);
	}
}

void
pop3_cmd_list(struct pop3_sess *s, const struct pop3_cmd *c)
{
	pop3_listing(s, c, PS_LIST);
}

void
pop3_cmd_uidl(struct pop3_sess *s, const struct pop3_cmd *c)
{
	pop3_listing(s, c, PS_UIDL);
}

/* pop3_cmd_retr - RETR msg, and TOP msg n (RFC 1939 7). */
void
pop3_cmd_retr(struct pop3_sess *s, const struct pop3_cmd *c)
{
	const struct mailbox_msg *m;
	int fd;

	if ((m = pop3_msg(s, c->msg)) == NULL)
		return;
	if ((fd = mailbox_view_msg_fd(s->view, c->msg)) < 0) {
		pop3_reply_fail(s, "[SYS/TEMP] Message %" PRIu32 " cannot be read now", c->msg);
		return;
	}
	if (c->verb == POP3_TOP)
		pop3_reply_ok(s, "Top of message follows");
	else
		pop3_reply_ok(s, "%" PRIu64 " octets", m->size);
	pop3_stream_file(s, fd, c->verb == POP3_TOP, c->lines);
}

void
pop3_cmd_dele(struct pop3_sess *s, const struct pop3_cmd *c)
{
	if (pop3_msg(s, c->msg) == NULL)
		return;
	s->deleted[c->msg - 1] = true;
	pop3_reply_ok(s, "Message %" PRIu32 " marked for deletion", c->msg);
}

void
pop3_cmd_rset(struct pop3_sess *s, const struct pop3_cmd *c)
{
	(void)c;
	for (uint32_t i = 0; i < s->nmsgs; i++)
		s->deleted[i] = false;
	pop3_reply_ok(s, "%" PRIu32 " messages", s->nmsgs);
}

void
pop3_cmd_noop(struct pop3_sess *s, const struct pop3_cmd *c)
{
	(void)c;
	pop3_reply_ok(s, "Still here");
}
