/*
 * spf_received.c -- the Received-SPF header field (RFC 7208 9.1).
 *
 * Every value in it comes from the peer (HELO, MAIL FROM) or from remote
 * DNS (mechanism, reason), so each is written as a dot-atom when it is one
 * and as a quoted-string otherwise, with anything but printable ASCII
 * replaced by '?', and cut to SPF_HDR_VALUE_MAX octets: a header line can
 * neither be split nor grown without bound by what we were sent.
 * Standards: RFC 7208 9.1; RFC 5322 3.2.3-3.2.4 (dot-atom, quoted-string,
 * comments), 2.2.3 (folding).
 */
#include <string.h>

#include "msgauth/spf.h"

#define SPF_HDR_VALUE_MAX 256

static bool
spf_is_atext(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL);
}

/* spf_is_dot_atom - RFC 5322 3.2.3: atext runs separated by single dots. */
static bool
spf_is_dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!spf_is_atext(s[i]) && !(s[i] == '.' && s[i + 1] != '.'))
			return false;
	return true;
}

/* spf_put_text - printable ASCII as is, `special` characters escaped with
   a backslash, anything else as '?'. */
static int
spf_put_text(struct buf *out, const char *s, size_t n, const char *special)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if ((unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e)
			ch = '?';
		if (strchr(special, ch) != NULL && buf_append(out, "\\", 1) < 0)
			return -1;
		if (buf_append(out, &ch, 1) < 0)
			return -1;
	}
	return 0;
}

/* spf_put_value - a dot-atom as is, anything else as a quoted-string. */
static int
spf_put_value(struct buf *out, const char *value)
{
	size_t n = value != NULL ? strnlen(value, SPF_HDR_VALUE_MAX) : 0;

	if (n > 0 && spf_is_dot_atom(value, n))
		return buf_append(out, value, n);
	if (buf_append(out, "\"", 1) < 0 || spf_put_text(out, value != NULL ? value : "", n, "\"\\") < 0)
		return -1;
	return buf_append(out, "\"", 1);
}

/* spf_put_pair - "; KEY=VALUE" on a folded line. */
static int
spf_put_pair(struct buf *out, const char *key, const char *value)
{
	if (buf_printf(out, ";\r\n\t%s=", key) < 0)
		return -1;
	return spf_put_value(out, value);
}

static const char *
spf_comment_text(enum spf_result r)
{
	switch (r) {
	case SPF_PASS:
		return "domain of %s designates %s as permitted sender";
	case SPF_FAIL:
		return "domain of %s does not designate %s as permitted sender";
	case SPF_SOFTFAIL:
		return "domain of transitioning %s does not designate %s as permitted sender";
	case SPF_NEUTRAL:
		return "domain of %s neither permits nor denies %s";
	case SPF_NONE:
		return "domain of %s publishes no SPF policy to check %s against";
	case SPF_TEMPERROR:
		return "temporary error looking up the policy of %s for %s";
	case SPF_PERMERROR:
		return "permanent error in the policy of %s for %s";
	}
	return "%s %s";
}

/* spf_put_comment - "(receiver: text)" with the peer's strings escaped. */
static int
spf_put_comment(struct buf *out, const struct spf_verdict *v, const struct spf_request *req)
{
	const char *fmt = spf_comment_text(v->result), *pct = strstr(fmt, "%s");
	const char *receiver = req->receiver != NULL ? req->receiver : "unknown";
	const char *args[2] = { v->sender, req->ip };

	if (buf_append(out, " (", 2) < 0 ||
	    spf_put_text(out, receiver, strnlen(receiver, SPF_HDR_VALUE_MAX), "()\\") < 0 ||
	    buf_append(out, ": ", 2) < 0)
		return -1;
	for (int i = 0; i < 2 && pct != NULL; i++) {
		const char *a = args[i] != NULL ? args[i] : "";

		if (buf_append(out, fmt, (size_t)(pct - fmt)) < 0 ||
		    spf_put_text(out, a, strnlen(a, SPF_HDR_VALUE_MAX), "()\\") < 0)
			return -1;
		fmt = pct + 2;
		pct = strstr(fmt, "%s");
	}
	return buf_printf(out, "%s)", fmt);
}

int
spf_received_header(const struct spf_verdict *v, const struct spf_request *req, struct buf *out)
{
	bool error = v->result == SPF_TEMPERROR || v->result == SPF_PERMERROR;

	if (buf_printf(out, "Received-SPF: %s", spf_result_name(v->result)) < 0 ||
	    spf_put_comment(out, v, req) < 0)
		return -1;
	/* The first pair follows the comment without a ';' (RFC 7208 9.1). */
	if (buf_append_str(out, "\r\n\tclient-ip=") < 0 ||
	    spf_put_value(out, req->ip) < 0 ||
	    spf_put_pair(out, "envelope-from", v->sender) < 0 ||
	    spf_put_pair(out, "helo", req->helo != NULL ? req->helo : "") < 0 ||
	    (req->receiver != NULL && spf_put_pair(out, "receiver", req->receiver) < 0) ||
	    spf_put_pair(out, "identity", v->identity) < 0)
		return -1;
	if (error && spf_put_pair(out, "problem", v->reason) < 0)
		return -1;
	if (!error && v->mechanism != NULL && v->mechanism[0] != '\0' &&
	    spf_put_pair(out, "mechanism", v->mechanism) < 0)
		return -1;
	return buf_append_str(out, "\r\n");
}
