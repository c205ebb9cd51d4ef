/*
 * smtp_cmd_mail.c -- MAIL FROM and RCPT TO (RFC 5321 4.1.1.2, 4.1.1.3;
 * RFC 1870 SIZE; RFC 6152 BODY; RFC 6531 SMTPUTF8).
 *
 * Syntax is checked here (smtp_lex, msg/addr); policy (who may send as
 * whom, which recipients are ours, relay refusal) is the application's
 * mail and rcpt hooks. Recipients are bounded by lim.max_rcpts and
 * de-duplicated so that one message is never delivered twice to a mailbox.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "msg/addr.h"
#include "smtp/smtp_server_int.h"

/* smtp_path_reply - map a parse failure to its reply; counts as an error. */
static void
smtp_path_reply(struct smtp_sess *s, enum smtp_parse_rc rc, const char *error)
{
	if (rc == SMTP_PARSE_PARAM)
		smtp_reply_error(s, 555, "5.5.4", "Error: %s", error);
	else
		smtp_reply_error(s, 501, "5.5.4", "Syntax error: %s", error);
}

/* smtp_mail_policy - ESMTP parameters we cannot honour; false if replied. */
static bool
smtp_mail_policy(struct smtp_sess *s, const struct smtp_path_args *m)
{
	if (m->body == SMTP_BODY_BINARYMIME) {
		smtp_reply_error(s, 555, "5.5.4", "Error: BINARYMIME not supported");
		return false;
	}
	if (m->has_size && m->size > s->srv->lim.message_size) {
		smtp_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return false;
	}
	return true;
}

void
smtp_cmd_mail(struct smtp_sess *s, struct span params)
{
	struct smtp_path_args m;
	struct smtp_hook_reply r = { 0 };
	struct mailbox mb;
	char addr[ADDR_MAX_PATH + 1] = "";
	const char *error;
	enum smtp_parse_rc rc;

	if ((rc = smtp_parse_mail(params, &m, &error)) != SMTP_PARSE_OK) {
		smtp_path_reply(s, rc, error);
		return;
	}
	if (m.path.n > 0) {
		if (addr_parse_mailbox(m.path, m.smtputf8, &mb, &error) < 0) {
			smtp_reply_error(s, 501, "5.1.7", "Bad sender address syntax: %s", error);
			return;
		}
		addr_format(&mb, addr, sizeof(addr));
	}
	if (!smtp_mail_policy(s, &m))
		return;
	if (s->srv->hooks->mail(s->srv->app, s, addr, &r) < 0) {
		char v[ADDR_MAX_PATH + 8];

		SLOG(s, "event=reject stage=mail code=%u from=%s", r.code,
		    log_value(v, sizeof(v), addr, strlen(addr)));
		smtp_reply_hook(s, &r);
		smtp_count_error(s);
		return;
	}
	s->sender = xstrdup(addr);
	s->tx_smtputf8 = m.smtputf8;
	s->tx_8bitmime = m.body == SMTP_BODY_8BITMIME;
	s->tx_seq++;
	snprintf(s->tx_id, sizeof(s->tx_id), "%016llx.%u", (unsigned long long)s->id, s->tx_seq);
	s->phase = SP_MAIL;
	smtp_reply(s, 250, "2.1.0", "Ok");
}

static bool
smtp_rcpt_known(const struct smtp_sess *s, const char *addr)
{
	for (size_t i = 0; i < s->nrcpts; i++)
		if (strcasecmp(s->rcpts[i], addr) == 0)
			return true;
	return false;
}

void
smtp_cmd_rcpt(struct smtp_sess *s, struct span params)
{
	struct smtp_path_args ra;
	struct smtp_hook_reply r = { 0 };
	struct mailbox mb;
	char addr[ADDR_MAX_PATH + 1];
	const char *error;
	enum smtp_parse_rc rc;

	if ((rc = smtp_parse_rcpt(params, &ra, &error)) != SMTP_PARSE_OK) {
		smtp_path_reply(s, rc, error);
		return;
	}
	if (ra.path.n == 0 || addr_parse_mailbox(ra.path, s->tx_smtputf8, &mb, &error) < 0) {
		smtp_reply_error(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	if (s->nrcpts >= s->srv->lim.max_rcpts) {
		smtp_reply(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	addr_format(&mb, addr, sizeof(addr));
	if (s->srv->hooks->rcpt(s->srv->app, s, addr, &r) < 0) {
		char v[ADDR_MAX_PATH + 8];

		SLOG(s, "event=reject stage=rcpt code=%u to=%s", r.code,
		    log_value(v, sizeof(v), addr, strlen(addr)));
		smtp_reply_hook(s, &r);
		if (r.code >= 500)
			smtp_count_error(s);
		return;
	}
	if (!smtp_rcpt_known(s, addr)) {
		s->rcpts = xrealloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
		s->rcpts[s->nrcpts++] = xstrdup(addr);
	}
	s->phase = SP_RCPT;
	smtp_reply(s, 250, "2.1.5", "Ok");
}
