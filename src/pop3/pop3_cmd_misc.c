/*
 * pop3_cmd_misc.c -- CAPA (RFC 2449 5), STLS (RFC 2595 4, the fixed
 * recipe of STYLE.md section 9) and QUIT with the UPDATE state (RFC 1939
 * 6).
 *
 * STLS: anything the client pipelined behind it arrived in plaintext and
 * may have been injected by a man in the middle (CVE-2011-0411 class), so
 * it is dropped unparsed and logged; the session forgets its USER.
 * QUIT in TRANSACTION stores \Deleted on the marked messages and expunges
 * exactly those (mailbox.h), and answers +OK only once that is durable.
 * Once QUIT has arrived the update runs to its end even if the client
 * goes away meanwhile; a session that ends without QUIT deletes nothing.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "net/conn.h"
#include "pop3/pop3_server_int.h"
#include "store/mailbox.h"

static void
pop3_write_str(struct pop3_sess *s, const char *str)
{
	pop3_write(s, str, strlen(str));
}

void
pop3_cmd_capa(struct pop3_sess *s, const struct pop3_cmd *c)
{
	(void)c;
	pop3_reply_ok(s, "Capability list follows");
	pop3_write_str(s, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == P3_AUTHORIZATION) {
		/* RFC 2595 4: no clear-text login mechanism before STLS. */
		if (s->tls)
			pop3_write_str(s, "USER\r\nSASL PLAIN\r\n");
		else if (s->srv->tls != NULL)
			pop3_write_str(s, "STLS\r\n");
	}
	pop3_write_str(s, "IMPLEMENTATION hikyaku\r\n.\r\n");
}

void
pop3_cmd_stls(struct pop3_sess *s, const struct pop3_cmd *c)
{
	size_t dropped;

	(void)c;
	if (s->tls) {
		pop3_reply_err(s, "TLS already active");
		return;
	}
	if (s->srv->tls == NULL) {
		pop3_reply_err(s, "TLS not available");
		return;
	}
	pop3_reply_ok(s, "Begin TLS negotiation");
	dropped = conn_starttls(s->conn, s->srv->tls);
	if (dropped > 0)
		SLOG(s, "event=starttls-pipelined discarded=%zu", dropped);
	pop3_sess_forget(s);
	/* From here on TLS: no plaintext byte can reach the parser again. */
	s->tls = true;
}

/* pop3_update_end - the deletions are durable (or failed): answer, close. */
static void
pop3_update_end(struct pop3_sess *s, int status, const char *error)
{
	size_t n = s->upd_n;

	if (status != 1)
		log_warnx("sid=%016" PRIx64 " proto=%s event=store-error op=expunge error=\"%s\"",
		    s->id, s->proto, error != NULL ? error : "unknown");
	else
		SLOG(s, "event=update user=%s deleted=%zu", s->auth_user, n);
	if (pop3_sess_resume(s))
		return;
	if (status == 1)
		pop3_reply_ok(s, "Logging out, %zu messages deleted", n);
	else
		pop3_reply_fail(s, "[SYS/TEMP] Some deleted messages not removed");
	pop3_sess_close(s, "quit");
}

static void
pop3_expunge_done(void *ctx, int status, const char *error)
{
	pop3_update_end(ctx, status, error);
}

static void
pop3_store_done(void *ctx, int status, const char *error)
{
	struct pop3_sess *s = ctx;

	if (status != 1) {
		pop3_update_end(s, -1, error);
		return;
	}
	/* Expunges only these UIDs: \Deleted set by IMAP on others stays. */
	mailbox_view_expunge(s->view, s->upd_uids, s->upd_n, pop3_expunge_done, s);
}

/* pop3_update - RFC 1939 6: remove the messages marked as deleted. */
static void
pop3_update(struct pop3_sess *s)
{
	s->upd_uids = xcalloc(s->nmsgs + 1, sizeof(*s->upd_uids));
	for (uint32_t i = 1; i <= s->nmsgs; i++) {
		const struct mailbox_msg *m = mailbox_view_msg(s->view, i);

		if (s->deleted[i - 1] && m != NULL && !m->expunged)
			s->upd_uids[s->upd_n++] = m->uid;
	}
	if (s->upd_n == 0) {
		pop3_reply_ok(s, "Logging out");
		pop3_sess_close(s, "quit");
		return;
	}
	s->state = P3_UPDATE;
	pop3_sess_pause(s);
	mailbox_view_store(s->view, s->upd_uids, s->upd_n, MAILBOX_FLAGS_ADD, MAILBOX_F_DELETED,
	    NULL, 0, pop3_store_done, s);
}

void
pop3_cmd_quit(struct pop3_sess *s, const struct pop3_cmd *c)
{
	(void)c;
	if (s->state == P3_TRANSACTION) {
		pop3_update(s);
		return;
	}
	pop3_reply_ok(s, "Logging out");
	pop3_sess_close(s, "quit");
}
