/*
 * imap_cmd_append.c -- APPEND (RFC 9051 6.3.12) with flags and internal
 * date, LITERAL+ and literal8 (the parser takes both), APPENDUID
 * (RFC 4315).
 *
 * The message arrives as one literal, bounded by the parser at the
 * message size limit; the store copies it and replies only once it is
 * durable. MULTIAPPEND is not offered.
 * Security: the date is parsed strictly; the message is stored as sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xalloc.h"
#include "imap/imap_server_int.h"

/*
 * parse_date - date-time (RFC 9051 9): "dd-Mon-yyyy hh:mm:ss +zzzz", the
 * day possibly space-padded. Returns 0 with unix time and zone, or -1.
 */
static int
parse_date(const char *s, int64_t *t_r, int *tz_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm = { 0 };
	char mon[4], sign;
	int day, year, hh, mm, ss, zone, used = 0;
	const char *m;

	if (sscanf(s, "%2d-%3[A-Za-z]-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year, &hh, &mm, &ss,
		&sign, &zone, &used) != 8 || s[used] != '\0' || strlen(s) < 25 ||
	    strlen(s) > 26)
		return -1;
	m = strstr(months, mon);
	if (m == NULL || strlen(mon) != 3 || (m - months) % 3 != 0 || day < 1 || day > 31 ||
	    year < 1900 || hh > 23 || mm > 59 || ss > 60 || (sign != '+' && sign != '-') ||
	    zone < 0 || zone % 100 > 59 || hh < 0 || mm < 0 || ss < 0)
		return -1;
	tm.tm_mday = day;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*tz_r = (zone / 100 * 60 + zone % 100) * (sign == '-' ? -1 : 1);
	*t_r = (int64_t)timegm(&tm) - (int64_t)*tz_r * 60;
	return 0;
}

static void
append_done(void *ctx, int status, const char *error, uint32_t uidvalidity, uint32_t uid)
{
	struct imap_sess *s = ctx;

	if (imap_sess_resume(s))
		return;
	free(s->arg);
	s->arg = NULL;
	imap_sync(s); /* our own message shows up as EXISTS when selected */
	if (status == 1)
		imap_tagged(s, "OK", "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
	else if (status == 0)
		imap_tagged(s, "NO", "[TRYCREATE] No such mailbox");
	else
		imap_tagged(s, "NO", "%s", error ? error : "APPEND failed");
	imap_after_async(s);
}

void
imap_cmd_append(struct imap_sess *s, const struct imap_cmd *c)
{
	const char *kw[MAILBOX_MAX_KEYWORDS];
	size_t nkw = 0, i = 1;
	unsigned flags = 0;
	int64_t date = 0;
	int tz = 0;
	const struct imap_arg *msg;

	if (c->nargs < 2 || c->nargs > 4)
		goto bad;
	if (c->args[i].type == IMAP_ARG_LIST) {
		if (imap_arg_flags(&c->args[i], &flags, kw, &nkw, nitems(kw)) < 0)
			goto bad;
		i++;
	}
	if (i + 1 < c->nargs) {
		const char *d = c->args[i].type == IMAP_ARG_STRING && !c->args[i].literal
		    ? c->args[i].str : NULL;
		if (d == NULL || parse_date(d, &date, &tz) < 0)
			goto bad;
		i++;
	}
	if (i + 1 != c->nargs || c->args[i].type != IMAP_ARG_STRING)
		goto bad;
	msg = &c->args[i];
	if (msg->len == 0) {
		imap_tagged_error(s, "NO", "Empty message");
		return;
	}
	if ((s->arg = imap_arg_mailbox(s, &c->args[0])) == NULL)
		return;
	imap_sess_pause(s);
	mailbox_append(s->mbu, s->arg, msg->str, msg->len, flags, kw, nkw, date, tz, append_done,
	    s);
	return;
bad:
	imap_tagged_error(s, "BAD", "Syntax: APPEND mailbox [(flags)] [\"date-time\"] literal");
}
