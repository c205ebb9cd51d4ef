/*
 * imap_cmd_any.c -- the commands valid in any state and the small
 * authenticated ones: CAPABILITY, NOOP, LOGOUT, ID (RFC 2971), STARTTLS,
 * ENABLE (RFC 5161), NAMESPACE (RFC 2342).
 *
 * STARTTLS follows STYLE.md section 9: "OK" is queued, every plaintext byte
 * the client pipelined behind the command is dropped unparsed and logged
 * (RFC 9051 6.2.1, the CVE-2011-0411 class), and the parser is recreated,
 * so nothing learnt in plaintext survives.
 */
#include <string.h>

#include "imap/imap_server_int.h"
#include "net/conn.h"

/* no_args - true when the command has none; else a BAD is sent. */
static bool
no_args(struct imap_sess *s, const struct imap_cmd *c)
{
	if (c->nargs == 0)
		return true;
	imap_tagged_error(s, "BAD", "%s takes no arguments", c->name);
	return false;
}

void
imap_cmd_capability(struct imap_sess *s, const struct imap_cmd *c)
{
	if (!no_args(s, c))
		return;
	imap_printf(s, "* CAPABILITY %s\r\n", imap_capabilities(s));
	imap_tagged(s, "OK", "CAPABILITY completed");
}

void
imap_cmd_noop(struct imap_sess *s, const struct imap_cmd *c)
{
	if (!no_args(s, c))
		return;
	imap_sync(s);
	imap_tagged(s, "OK", "NOOP completed");
}

void
imap_cmd_logout(struct imap_sess *s, const struct imap_cmd *c)
{
	if (!no_args(s, c))
		return;
	imap_printf(s, "* BYE Logging out\r\n");
	imap_tagged(s, "OK", "LOGOUT completed");
	if (s->user != NULL)
		SLOG(s, "event=logout user=%s", s->user);
	imap_sess_close(s, "logout");
}

void
imap_cmd_id(struct imap_sess *s, const struct imap_cmd *c)
{
	/* The client's parameters are only checked for shape, never logged
	   raw: they are free text. */
	if (c->nargs != 1 || (c->args[0].type != IMAP_ARG_LIST && c->args[0].type != IMAP_ARG_NIL)) {
		imap_tagged_error(s, "BAD", "Syntax: ID (params) or ID NIL");
		return;
	}
	imap_printf(s, "* ID (\"name\" \"hikyaku\")\r\n");
	imap_tagged(s, "OK", "ID completed");
}

void
imap_cmd_enable(struct imap_sess *s, const struct imap_cmd *c)
{
	char enabled[64] = "";

	if (c->nargs == 0) {
		imap_tagged_error(s, "BAD", "Syntax: ENABLE capability...");
		return;
	}
	for (size_t i = 0; i < c->nargs; i++) {
		const struct imap_arg *a = &c->args[i];

		if (a->type != IMAP_ARG_ATOM)
			continue;
		if (strcasecmp(a->str, "IMAP4rev2") == 0 && !s->rev2) {
			s->rev2 = s->utf8 = true;
			strcat(enabled, " IMAP4rev2");
		} else if (strcasecmp(a->str, "UTF8=ACCEPT") == 0 && !strstr(enabled, "UTF8")) {
			s->utf8 = true;
			strcat(enabled, " UTF8=ACCEPT");
		}
	}
	/* RFC 5161 3.1: unknown capabilities are ignored. */
	imap_printf(s, "* ENABLED%s\r\n", enabled);
	imap_tagged(s, "OK", "ENABLE completed");
}

void
imap_cmd_namespace(struct imap_sess *s, const struct imap_cmd *c)
{
	if (!no_args(s, c))
		return;
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_tagged(s, "OK", "NAMESPACE completed");
}

void
imap_cmd_starttls(struct imap_sess *s, const struct imap_cmd *c)
{
	size_t dropped;

	if (!no_args(s, c))
		return;
	if (s->tls) {
		imap_tagged_error(s, "BAD", "TLS is already active");
		return;
	}
	if (s->srv->tls == NULL) {
		imap_tagged_error(s, "NO", "TLS is not available");
		return;
	}
	imap_tagged(s, "OK", "Begin TLS negotiation now");
	dropped = conn_starttls(s->conn, s->srv->tls);
	if (dropped > 0)
		SLOG(s, "event=starttls-pipelined discarded=%zu", dropped);
	imap_sess_forget(s);
	/* From here on TLS: no plaintext byte can reach the parser again. */
	s->tls = true;
}
