/*
 * smtp_cmd_misc.c -- RSET, NOOP, QUIT, VRFY, HELP (RFC 5321 4.1.1.5-4.1.1.10).
 *
 * VRFY never confirms an address (RFC 5321 section 7.3: a server may
 * decline to reveal its users); 252 is the answer the RFC allows.
 */
#include "smtp/smtp_server_int.h"

void
smtp_cmd_rset(struct smtp_sess *s, struct span params)
{
	if (params.n != 0) {
		smtp_reply_error(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	smtp_tx_reset(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

void
smtp_cmd_noop(struct smtp_sess *s, struct span params)
{
	(void)params;
	smtp_reply(s, 250, "2.0.0", "Ok");
}

void
smtp_cmd_quit(struct smtp_sess *s, struct span params)
{
	(void)params;
	smtp_reply(s, 221, "2.0.0", "Bye");
	smtp_sess_close(s, "quit");
}

void
smtp_cmd_vrfy(struct smtp_sess *s, struct span params)
{
	(void)params;
	smtp_reply(s, 252, "2.5.2", "Cannot VRFY user; send mail and we will try");
}

void
smtp_cmd_help(struct smtp_sess *s, struct span params)
{
	(void)params;
	smtp_reply(s, 214, "2.0.0", "See RFC 5321; hikyaku");
}
