/*
 * conf.c -- the parameter table and the hikyaku.conf parser.
 *
 * The table below is the single source of truth: name, type, storage,
 * default (as text, read by the same parser as the file) and bounds.
 * Postfix names and meanings wherever Postfix has the knob (main.cf(5),
 * postconf(5)); times without a suffix are seconds as in Postfix.
 * Limits: CONF_MAX_LINE, CONF_MAX_FILE, CONF_MAX_ITEMS (conf.h).
 * Security: no allocation grows with input beyond those bounds; every
 * number is overflow-checked; messages quote at most 64 bytes of input.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/span.h"
#include "base/xalloc.h"
#include "conf/conf.h"

enum conf_type { CT_STR, CT_UINT, CT_SIZE, CT_TIME, CT_BOOL, CT_ENUM, CT_LIST, CT_LISTEN };

#define MSG_MAX 256
typedef int conf_check_fn(const char *value, char msg[MSG_MAX]);

struct conf_param {
	const char *name;
	enum conf_type type;
	size_t off;
	const char *def;   /* NULL: computed (myhostname) */
	uint64_t min, max; /* UINT, SIZE; TIME in ms */
	const char *const *enum_names;
	conf_check_fn *check; /* STR: further validation */
};

static conf_check_fn check_hostname, check_abs_path, check_abs_path_or_empty, check_user,
        check_dns_server, check_hostname_or_empty;

static const char *const tls_level_names[] = {"none", "may", "encrypt", "verify", "secure", NULL};

#define OFF(f) offsetof(struct conf, f)
#define SEC 1000ull
#define DAY (86400 * SEC)

/* One constructor per type, so that every field of every entry is set. */
/* clang-format off */
#define P_STR(n, f, def, chk) { n, CT_STR, OFF(f), def, 0, 0, NULL, chk }
#define P_NUM(n, t, f, def, lo, hi) { n, t, OFF(f), def, lo, hi, NULL, NULL }
#define P_OF(n, t, f, def) { n, t, OFF(f), def, 0, 0, NULL, NULL }
#define P_ENUM(n, f, def, names) { n, CT_ENUM, OFF(f), def, 0, 0, names, NULL }

static const struct conf_param conf_params[] = {
	P_STR("myhostname", myhostname, NULL, check_hostname),
	P_STR("data_dir", data_dir, "/var/lib/hikyaku", check_abs_path),
	P_STR("run_user", run_user, "", check_user),
	P_STR("log_file", log_file, "", check_abs_path_or_empty),
	P_OF("smtp_listen", CT_LISTEN, smtp_listen, ""),
	P_OF("submission_listen", CT_LISTEN, submission_listen, ""),
	P_OF("submissions_listen", CT_LISTEN, submissions_listen, ""),
	P_OF("imap_listen", CT_LISTEN, imap_listen, ""),
	P_OF("imaps_listen", CT_LISTEN, imaps_listen, ""),
	P_OF("pop3_listen", CT_LISTEN, pop3_listen, ""),
	P_OF("pop3s_listen", CT_LISTEN, pop3s_listen, ""),
	P_OF("smtpd_tls_cert_file", CT_LIST, smtpd_tls_cert_file, ""),
	P_OF("smtpd_tls_key_file", CT_LIST, smtpd_tls_key_file, ""),
	P_ENUM("smtp_tls_security_level", smtp_tls_security_level, "may", tls_level_names),
	P_STR("smtp_tls_CAfile", smtp_tls_CAfile, "/etc/ssl/certs/ca-certificates.crt", NULL),
	P_NUM("smtp_tls_loglevel", CT_UINT, smtp_tls_loglevel, "1", 0, 4),
	P_STR("smtp_tls_policy_maps", smtp_tls_policy_maps, "", NULL),
	P_NUM("relay_port", CT_UINT, relay_port, "25", 1, 65535),
	P_STR("dns_server", dns_server, "", check_dns_server),
	P_NUM("message_size_limit", CT_SIZE, message_size_limit, "52428800", 1024, 1ull << 34),
	/* SMTP server limits: Postfix names and meanings (postconf(5)). */
	P_NUM("smtpd_command_line_limit", CT_SIZE, smtpd_command_line_limit, "4096", 512, 65536),
	P_NUM("smtpd_recipient_limit", CT_UINT, smtpd_recipient_limit, "1000", 1, 100000),
	P_NUM("smtpd_hard_error_limit", CT_UINT, smtpd_hard_error_limit, "20", 1, 1000),
	P_NUM("smtpd_timeout", CT_TIME, smtpd_timeout, "300s", 1 * SEC, 3600 * SEC),
	P_NUM("smtpd_client_connection_count_limit", CT_UINT, smtpd_client_connection_count_limit,
	    "50", 0, 1000000),
	/* Not in Postfix: AUTH failures per client IP before a lockout. */
	P_NUM("smtpd_auth_failure_limit", CT_UINT, smtpd_auth_failure_limit, "5", 1, 1000),
	P_NUM("smtpd_auth_lockout_time", CT_TIME, smtpd_auth_lockout_time, "600s", 0, 86400 * SEC),
	/* The delay before replying to a failed AUTH. */
	P_NUM("smtpd_error_sleep_time", CT_TIME, smtpd_error_sleep_time, "1s", 0, 60 * SEC),
	P_OF("smtpd_forbid_bare_newline", CT_BOOL, smtpd_forbid_bare_newline, "yes"),
	/* Not in Postfix. RFC 1939 3: the autologout timer "MUST be of at least
	   10 minutes"; lower values are for tests. */
	P_NUM("pop3d_timeout", CT_TIME, pop3d_timeout, "600s", 1 * SEC, 3600 * SEC),
	/* Not in Postfix; Dovecot's names where it has them. RFC 9051 5.4: the
	   autologout timer after login "MUST be at least 30 minutes"; lower
	   values are for tests. */
	P_NUM("imapd_timeout", CT_TIME, imapd_timeout, "1800s", 1 * SEC, 86400 * SEC),
	P_NUM("imapd_login_timeout", CT_TIME, imapd_login_timeout, "180s", 1 * SEC, 3600 * SEC),
	P_NUM("imap_max_line_length", CT_SIZE, imap_max_line_length, "65536", 1024, 1048576),
	/* Outbound: Postfix names, meanings and defaults (postconf(5)). */
	P_NUM("smtp_mx_address_limit", CT_UINT, smtp_mx_address_limit, "5", 1, 100),
	/* Not in Postfix, which has one per step: covers them all. */
	P_NUM("smtp_reply_timeout", CT_TIME, smtp_reply_timeout, "300s", 1 * SEC, 3600 * SEC),
	P_NUM("maximal_queue_lifetime", CT_TIME, maximal_queue_lifetime, "5d", 0, 100 * DAY),
	P_NUM("bounce_queue_lifetime", CT_TIME, bounce_queue_lifetime, "5d", 0, 100 * DAY),
	P_NUM("minimal_backoff_time", CT_TIME, minimal_backoff_time, "300s", 1 * SEC, 1 * DAY),
	P_NUM("maximal_backoff_time", CT_TIME, maximal_backoff_time, "4000s", 1 * SEC, 7 * DAY),
	P_NUM("queue_run_delay", CT_TIME, queue_run_delay, "300s", 1 * SEC, 1 * DAY),
	P_NUM("delay_warning_time", CT_TIME, delay_warning_time, "0", 0, 100 * DAY),
	P_NUM("default_destination_concurrency_limit", CT_UINT,
	    default_destination_concurrency_limit, "20", 1, 1000),
	P_NUM("default_destination_recipient_limit", CT_UINT,
	    default_destination_recipient_limit, "50", 1, 10000),
	/* `hikyaku report tls`: records older than this are pruned. */
	P_NUM("tls_report_retention", CT_TIME, tls_report_retention, "400d", 0, 3660 * DAY),
	/* Not in Postfix. RFC 8601 2.5: the authserv-id names our domain; the
	   default "" means myhostname. */
	P_STR("authserv_id", authserv_id, "", check_hostname_or_empty),
	/* RFC 7489 6.7: receivers apply the policy "to the extent possible";
	   "no" only records the result in Authentication-Results. */
	P_OF("dmarc_enforce", CT_BOOL, dmarc_enforce, "yes"),
	/* RFC 7489 6.7 local policy: From domains (e.g. mailing lists that
	   break DKIM) whose DMARC failures are recorded but not enforced. */
	P_OF("dmarc_override_domains", CT_LIST, dmarc_override_domains, ""),
};
/* clang-format on */

#define NPARAMS nitems(conf_params)

/* Parser state for one buffer. */
struct parser {
	struct conf *c;
	const char *name;
	unsigned line;
	unsigned set_line[NPARAMS]; /* 0: not in the file */
	char *err;
	size_t errsize;
};

/* ---- small helpers ---- */

static void *
field(const struct conf *c, const struct conf_param *pp)
{
	return (char *)c + pp->off;
}

static bool
is_ws(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Trims whitespace at both ends. */
static struct span
trim(struct span s)
{
	while (s.n > 0 && is_ws(s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_ws(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* Decimal digits only, no sign, no spaces; -1 on overflow or no digits. */
static int
parse_u64(const char *s, size_t n, uint64_t *r)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*r = v;
	return 0;
}

/* Multiplies without wrapping; -1 on overflow. */
static int
mul_u64(uint64_t a, uint64_t b, uint64_t *r)
{
	if (a != 0 && b > UINT64_MAX / a)
		return -1;
	*r = a * b;
	return 0;
}

/* Splits off the next word (separated by spaces, tabs or commas). */
static bool
next_word(const char **pos, const char **w, size_t *wn)
{
	const char *p = *pos;

	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	if (*p == '\0')
		return false;
	*w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
		p++;
	*wn = (size_t)(p - *w);
	*pos = p;
	return true;
}

/* Prints a time in the largest unit that divides it exactly. */
static void
fmt_time(char *dst, size_t size, uint64_t ms)
{
	static const struct {
		uint64_t ms;
		char unit;
	} units[] = {{86400 * SEC, 'd'}, {3600 * SEC, 'h'}, {60 * SEC, 'm'}};

	for (size_t i = 0; i < nitems(units); i++) {
		if (ms != 0 && ms % units[i].ms == 0) {
			snprintf(dst, size, "%llu%c", (unsigned long long)(ms / units[i].ms),
			         units[i].unit);
			return;
		}
	}
	snprintf(dst, size, "%llus", (unsigned long long)(ms / SEC));
}

const char *
conf_tls_level_name(int level)
{
	if (level < 0 || (size_t)level >= nitems(tls_level_names) - 1)
		return "?";
	return tls_level_names[level];
}

/* ---- validators for STR parameters ---- */

static bool
is_hostname(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		           (ch >= '0' && ch <= '9') || (ch == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static int
check_hostname(const char *v, char msg[MSG_MAX])
{
	if (is_hostname(v))
		return 0;
	snprintf(msg, MSG_MAX, "bad host name \"%.64s\" (letters, digits, '-' and '.')", v);
	return -1;
}

static int
check_abs_path(const char *v, char msg[MSG_MAX])
{
	if (v[0] == '/')
		return 0;
	snprintf(msg, MSG_MAX, "\"%.64s\" is not an absolute path", v);
	return -1;
}

static int
check_abs_path_or_empty(const char *v, char msg[MSG_MAX])
{
	return v[0] == '\0' ? 0 : check_abs_path(v, msg);
}

/* authserv_id: empty (myhostname) or a host name; RFC 8601 2.5 wants a
   token naming our domain, and a host name is always one. */
static int
check_hostname_or_empty(const char *v, char msg[MSG_MAX])
{
	return v[0] == '\0' ? 0 : check_hostname(v, msg);
}

/* POSIX portable user names (letters, digits, '.', '_', '-'; no leading '-'). */
static int
check_user(const char *v, char msg[MSG_MAX])
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

	if (v[n] == '\0' && v[0] != '-' && n <= 32)
		return 0;
	snprintf(msg, MSG_MAX, "bad user name \"%.64s\"", v);
	return -1;
}

/* "ADDR" or "ADDR@PORT", ADDR an IPv4 or IPv6 literal (libunbound's syntax). */
static int
check_dns_server(const char *v, char msg[MSG_MAX])
{
	char host[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	const char *at = strchr(v, '@');
	size_t hn = at != NULL ? (size_t)(at - v) : strlen(v);
	uint64_t port = 53;

	if (v[0] == '\0')
		return 0;
	if (hn >= sizeof(host))
		goto bad;
	memcpy(host, v, hn);
	host[hn] = '\0';
	if (inet_pton(AF_INET, host, &a6) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
		goto bad;
	if (at != NULL &&
	    (parse_u64(at + 1, strlen(at + 1), &port) < 0 || port == 0 || port > 65535))
		goto bad;
	return 0;
bad:
	snprintf(msg, MSG_MAX, "bad server \"%.64s\" (IP address, optionally @PORT)", v);
	return -1;
}

/* ---- value parsers, one per type ---- */

static int
out_of_range(const struct conf_param *pp, uint64_t v, char msg[MSG_MAX])
{
	char a[32], lo[32], hi[32];

	if (v >= pp->min && v <= pp->max)
		return 0;
	if (pp->type == CT_TIME) {
		fmt_time(a, sizeof(a), v);
		fmt_time(lo, sizeof(lo), pp->min);
		fmt_time(hi, sizeof(hi), pp->max);
	} else {
		snprintf(a, sizeof(a), "%llu", (unsigned long long)v);
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)pp->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)pp->max);
	}
	snprintf(msg, MSG_MAX, "value %s out of range %s..%s", a, lo, hi);
	return -1;
}

/* Number with an optional one-letter suffix from `units`, scaled by `mult`. */
static int
parse_scaled(const char *v, const char *units, const uint64_t *mult, uint64_t *r)
{
	size_t n = strlen(v);
	uint64_t m = mult[0], num;
	const char *u;

	if (n > 1 && (u = strchr(units, v[n - 1])) != NULL) {
		m = mult[u - units + 1];
		n--;
	}
	if (parse_u64(v, n, &num) < 0 || mul_u64(num, m, r) < 0)
		return -1;
	return 0;
}

static int
set_number(const struct conf_param *pp, void *f, const char *v, char msg[MSG_MAX])
{
	/* SIZE: binary multiples. TIME: stored as ms, bare number = seconds. */
	static const uint64_t size_mult[] = {1,       1 << 10, 1 << 10, 1 << 20,
	                                     1 << 20, 1 << 30, 1 << 30};
	static const uint64_t time_mult[] = {SEC, SEC, 60 * SEC, 3600 * SEC, 86400 * SEC};
	static const uint64_t uint_mult[] = {1};
	uint64_t val;
	int rc;

	if (v[0] == '\0') {
		snprintf(msg, MSG_MAX, "missing value");
		return -1;
	}
	if (pp->type == CT_SIZE)
		rc = parse_scaled(v, "kKmMgG", size_mult, &val);
	else if (pp->type == CT_TIME)
		rc = parse_scaled(v, "smhd", time_mult, &val);
	else
		rc = parse_scaled(v, "", uint_mult, &val);
	if (rc < 0) {
		snprintf(msg, MSG_MAX, "bad %s \"%.64s\"%s",
		         pp->type == CT_SIZE   ? "size"
		         : pp->type == CT_TIME ? "time"
		                               : "number",
		         v,
		         pp->type == CT_SIZE   ? " (bytes, or a number with k, m or g)"
		         : pp->type == CT_TIME ? " (seconds, or a number with s, m, h or d)"
		                               : "");
		return -1;
	}
	if (out_of_range(pp, val, msg) < 0)
		return -1;
	if (pp->type == CT_UINT)
		*(unsigned *)f = (unsigned)val;
	else
		*(uint64_t *)f = val;
	return 0;
}

static int
set_bool(const struct conf_param *pp, void *f, const char *v, char msg[MSG_MAX])
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
		*(bool *)f = true;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
		*(bool *)f = false;
	else {
		snprintf(msg, MSG_MAX, "bad boolean \"%.64s\" (yes, no, true or false)", v);
		return -1;
	}
	return 0;
}

static int
set_enum(const struct conf_param *pp, void *f, const char *v, char msg[MSG_MAX])
{
	size_t o = 0;

	for (int i = 0; pp->enum_names[i] != NULL; i++) {
		if (strcasecmp(v, pp->enum_names[i]) == 0) {
			*(int *)f = i;
			return 0;
		}
	}
	o = (size_t)snprintf(msg, MSG_MAX, "bad value \"%.64s\" (", v);
	for (int i = 0; pp->enum_names[i] != NULL && o < MSG_MAX; i++)
		o += (size_t)snprintf(msg + o, MSG_MAX - o, "%s%s", i > 0 ? ", " : "",
		                      pp->enum_names[i]);
	if (o < MSG_MAX)
		snprintf(msg + o, MSG_MAX - o, ")");
	return -1;
}

static int
set_str(const struct conf_param *pp, void *f, const char *v, char msg[MSG_MAX])
{
	char **s = f;

	if (pp->check != NULL && pp->check(v, msg) < 0)
		return -1;
	free(*s);
	*s = xstrdup(v);
	return 0;
}

static void
list_free(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
set_list(const struct conf_param *pp, void *f, const char *v, char msg[MSG_MAX])
{
	struct conf_list nl = {0, NULL};
	const char *pos = v, *w;
	size_t wn;

	while (next_word(&pos, &w, &wn)) {
		if (nl.n == CONF_MAX_ITEMS) {
			list_free(&nl);
			snprintf(msg, MSG_MAX, "more than %d items", CONF_MAX_ITEMS);
			return -1;
		}
		nl.v = xrealloc(nl.v, (nl.n + 1) * sizeof(*nl.v));
		nl.v[nl.n++] = xstrndup(w, wn);
	}
	list_free(f);
	*(struct conf_list *)f = nl;
	return 0;
}

/* Parses "A.B.C.D:PORT" or "[IPV6]:PORT". */
static int
parse_listen_item(const char *w, size_t wn, struct sockaddr_storage *ss, char msg[MSG_MAX])
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *hs = w;
	size_t hn;
	uint64_t port;

	if (wn > 0 && w[0] == '[') {
		const char *close = memchr(w, ']', wn);

		if (close == NULL || close + 1 == w + wn || close[1] != ':')
			goto bad;
		hs = w + 1;
		hn = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = memchr(w, ':', wn);
		if (colon == NULL || memchr(colon + 1, ':', (size_t)(w + wn - colon - 1)) != NULL)
			goto bad;
		hn = (size_t)(colon - w);
	}
	if (hn >= sizeof(host))
		goto bad;
	memcpy(host, hs, hn);
	host[hn] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hs == w) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad;
	}
	if (parse_u64(colon + 1, (size_t)(w + wn - colon - 1), &port) < 0 || port == 0 ||
	    port > 65535) {
		snprintf(msg, MSG_MAX, "bad port in \"%.*s\" (1..65535)", (int)MIN(wn, 64), w);
		return -1;
	}
	/* sin_port and sin6_port sit at the same offset. */
	((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
bad:
	snprintf(msg, MSG_MAX, "bad address \"%.*s\" (ADDR:PORT or [IPv6]:PORT)", (int)MIN(wn, 64),
	         w);
	return -1;
}

static bool
sockaddr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* Formats one listener address as the file writes it. */
static void
fmt_sockaddr(char *dst, size_t size, const struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(dst, size, "%s:%u", host, ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(dst, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	}
}

static int
set_listen(const struct conf_param *pp, void *f, const char *v, char msg[MSG_MAX])
{
	struct conf_listen *l = f;
	struct sockaddr_storage addrs[CONF_MAX_ITEMS];
	const char *pos = v, *w;
	size_t n = 0, wn;

	while (next_word(&pos, &w, &wn)) {
		if (n == CONF_MAX_ITEMS) {
			snprintf(msg, MSG_MAX, "more than %d addresses", CONF_MAX_ITEMS);
			return -1;
		}
		if (parse_listen_item(w, wn, &addrs[n], msg) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			if (sockaddr_equal(&addrs[i], &addrs[n])) {
				snprintf(msg, MSG_MAX, "\"%.*s\" listed twice", (int)MIN(wn, 64),
				         w);
				return -1;
			}
		}
		n++;
	}
	free(l->addrs);
	l->addrs = n > 0 ? xmalloc(n * sizeof(*l->addrs)) : NULL;
	if (n > 0)
		memcpy(l->addrs, addrs, n * sizeof(*l->addrs));
	l->n = n;
	return 0;
}

/* Parses v into the parameter's field; -1 with msg (without key) on error. */
static int
set_value(struct conf *c, const struct conf_param *pp, const char *v, char msg[MSG_MAX])
{
	void *f = field(c, pp);

	switch (pp->type) {
	case CT_STR:
		return set_str(pp, f, v, msg);
	case CT_UINT:
	case CT_SIZE:
	case CT_TIME:
		return set_number(pp, f, v, msg);
	case CT_BOOL:
		return set_bool(pp, f, v, msg);
	case CT_ENUM:
		return set_enum(pp, f, v, msg);
	case CT_LIST:
		return set_list(pp, f, v, msg);
	case CT_LISTEN:
		return set_listen(pp, f, v, msg);
	}
	panic("conf: bad type %d", (int)pp->type);
}

/* ---- defaults and release ---- */

/* gethostname(), or "localhost" when that is not a usable host name. */
static void
default_hostname(char *dst, size_t size)
{
	if (gethostname(dst, size) != 0 || memchr(dst, '\0', size) == NULL || !is_hostname(dst))
		snprintf(dst, size, "localhost");
}

void
conf_init_defaults(struct conf *c)
{
	char host[256], msg[MSG_MAX];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NPARAMS; i++) {
		const char *def = conf_params[i].def;

		if (def == NULL) {
			default_hostname(host, sizeof(host));
			def = host;
		}
		if (set_value(c, &conf_params[i], def, msg) < 0)
			panic("conf: default of %s: %s", conf_params[i].name, msg);
	}
}

void
conf_free(struct conf *c)
{
	for (size_t i = 0; i < NPARAMS; i++) {
		void *f = field(c, &conf_params[i]);

		if (conf_params[i].type == CT_STR)
			free(*(char **)f);
		else if (conf_params[i].type == CT_LIST)
			list_free(f);
		else if (conf_params[i].type == CT_LISTEN)
			free(((struct conf_listen *)f)->addrs);
	}
	free(c->path);
	memset(c, 0, sizeof(*c));
}

/* ---- the line parser ---- */

static int perr(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats "NAME:LINE: message" into p->err and returns -1. */
static int
perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(p->err, p->errsize, "%s:%u: ", p->name, p->line);
	if (n < 0 || (size_t)n >= p->errsize)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errsize - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static const struct conf_param *
find_param(struct span key, size_t *idx_r)
{
	for (size_t i = 0; i < NPARAMS; i++) {
		if (span_eq(key, conf_params[i].name)) {
			*idx_r = i;
			return &conf_params[i];
		}
	}
	return NULL;
}

/* Rejects NUL and control characters other than tab in a (trimmed) line. */
static int
check_bytes(struct parser *p, struct span s)
{
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] == '\0')
			return perr(p, "NUL byte in line");
		if ((s.p[i] < 0x20 && s.p[i] != '\t') || s.p[i] == 0x7f)
			return perr(p, "control character in line");
	}
	return 0;
}

/* One line: blank, comment or "key = value". */
static int
parse_line(struct parser *p, struct span line)
{
	struct span key, val;
	const struct conf_param *pp;
	char msg[MSG_MAX], *v;
	size_t i = 0, idx;
	int rc;

	line = trim(line);
	if (line.n == 0 || line.p[0] == '#')
		return 0;
	if (check_bytes(p, line) < 0)
		return -1;
	while (i < line.n && line.p[i] != '=' && !is_ws(line.p[i]))
		i++;
	key = (struct span){line.p, i};
	while (i < line.n && is_ws(line.p[i]))
		i++;
	if (key.n == 0)
		return perr(p, "missing parameter name before \"=\"");
	if (i == line.n || line.p[i] != '=')
		return perr(p, "missing \"=\" after \"%.*s\"", (int)MIN(key.n, 64), key.p);
	if ((pp = find_param(key, &idx)) == NULL)
		return perr(p, "unknown parameter \"%.*s\"", (int)MIN(key.n, 64), key.p);
	if (p->set_line[idx] != 0)
		return perr(p, "duplicate parameter \"%s\" (first set at line %u)", pp->name,
		            p->set_line[idx]);
	val = trim((struct span){line.p + i + 1, line.n - i - 1});
	v = xstrndup((const char *)val.p, val.n);
	rc = set_value(p->c, pp, v, msg);
	free(v);
	if (rc < 0)
		return perr(p, "%s: %s", pp->name, msg);
	p->set_line[idx] = p->line;
	return 0;
}

static size_t
param_index(const char *name)
{
	size_t idx;

	if (find_param(span_str(name), &idx) == NULL)
		panic("conf: no parameter %s", name);
	return idx;
}

/* Each certificate needs its key: same count, checked where the later of the
   two keys was set. */
static int
check_cert_key(struct parser *p)
{
	size_t ci = param_index("smtpd_tls_cert_file"), ki = param_index("smtpd_tls_key_file");
	size_t nc = p->c->smtpd_tls_cert_file.n, nk = p->c->smtpd_tls_key_file.n;

	if (nc == nk)
		return 0;
	p->line = MAX(p->set_line[ci], p->set_line[ki]);
	return perr(p,
	            "smtpd_tls_cert_file and smtpd_tls_key_file must list the same number of files "
	            "(%zu and %zu)",
	            nc, nk);
}

/* Two services on one address would share its connections (SO_REUSEPORT):
   refuse, where the later of the two keys was set. */
static int
check_listen_unique(struct parser *p)
{
	for (size_t i = 0; i < NPARAMS; i++) {
		const struct conf_listen *a = field(p->c, &conf_params[i]);

		if (conf_params[i].type != CT_LISTEN)
			continue;
		for (size_t j = i + 1; j < NPARAMS; j++) {
			const struct conf_listen *b = field(p->c, &conf_params[j]);

			if (conf_params[j].type != CT_LISTEN)
				continue;
			for (size_t x = 0; x < a->n; x++) {
				for (size_t y = 0; y < b->n; y++) {
					char s[INET6_ADDRSTRLEN + 16];
					bool later = p->set_line[j] > p->set_line[i];

					if (!sockaddr_equal(&a->addrs[x], &b->addrs[y]))
						continue;
					fmt_sockaddr(s, sizeof(s), &a->addrs[x]);
					p->line = later ? p->set_line[j] : p->set_line[i];
					return perr(p, "%s: %s is also in %s",
					            conf_params[later ? j : i].name, s,
					            conf_params[later ? i : j].name);
				}
			}
		}
	}
	return 0;
}

int
conf_parse_buffer(struct conf *c, const char *name, const void *data, size_t len, char *err,
                  size_t errsize)
{
	struct parser p = {.c = c, .name = name, .err = err, .errsize = errsize};
	const uint8_t *d = data;
	size_t pos = 0;

	conf_init_defaults(c);
	c->path = xstrdup(name);
	if (errsize > 0)
		err[0] = '\0';
	if (len > CONF_MAX_FILE) {
		snprintf(err, errsize, "%s: file too large (max %d bytes)", name, CONF_MAX_FILE);
		return -1;
	}
	while (pos < len) {
		const uint8_t *nl = memchr(d + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (d + pos)) : len - pos;

		p.line++;
		if (n > CONF_MAX_LINE)
			return perr(&p, "line too long (max %d bytes)", CONF_MAX_LINE);
		if (parse_line(&p, (struct span){d + pos, n}) < 0)
			return -1;
		pos += n + 1;
	}
	if (check_cert_key(&p) < 0 || check_listen_unique(&p) < 0)
		return -1;
	return 0;
}

/* Reads the whole file, bounded by CONF_MAX_FILE. */
static int
read_file(const char *path, char **data_r, size_t *len_r, char *err, size_t errsize)
{
	struct stat st;
	ssize_t r;
	size_t len = 0;
	char *data;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CONF_MAX_FILE) {
		snprintf(err, errsize, "%s: %s", path,
		         S_ISREG(st.st_mode) ? "file too large (max 1048576 bytes)"
		                             : "not a regular file");
		close(fd);
		return -1;
	}
	/* One extra byte to notice a file that grew since fstat(). */
	data = xmalloc((size_t)st.st_size + 1);
	while ((r = read(fd, data + len, (size_t)st.st_size + 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	if (r < 0 || len > (size_t)st.st_size) {
		snprintf(err, errsize, "%s: %s", path,
		         r < 0 ? strerror(errno) : "file changed while being read");
		free(data);
		return -1;
	}
	*data_r = data;
	*len_r = len;
	return 0;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errsize)
{
	char *data;
	size_t len;
	int rc;

	if (read_file(path, &data, &len, err, errsize) < 0) {
		conf_init_defaults(c);
		c->path = xstrdup(path);
		return -1;
	}
	rc = conf_parse_buffer(c, path, data, len, err, errsize);
	free(data);
	return rc;
}

/* ---- dump ---- */

/* Appends the value of one parameter in the file's syntax. */
static void
fmt_value(struct buf *b, const struct conf *c, const struct conf_param *pp)
{
	const void *f = field(c, pp);
	char tmp[INET6_ADDRSTRLEN + 16];

	switch (pp->type) {
	case CT_STR:
		buf_append_str(b, *(char *const *)f);
		break;
	case CT_UINT:
		buf_printf(b, "%u", *(const unsigned *)f);
		break;
	case CT_SIZE:
		buf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)f);
		break;
	case CT_TIME:
		fmt_time(tmp, sizeof(tmp), *(const uint64_t *)f);
		buf_append_str(b, tmp);
		break;
	case CT_BOOL:
		buf_append_str(b, *(const bool *)f ? "yes" : "no");
		break;
	case CT_ENUM:
		buf_append_str(b, pp->enum_names[*(const int *)f]);
		break;
	case CT_LIST:
		for (size_t i = 0; i < ((const struct conf_list *)f)->n; i++)
			buf_printf(b, "%s%s", i > 0 ? " " : "",
			           ((const struct conf_list *)f)->v[i]);
		break;
	case CT_LISTEN:
		for (size_t i = 0; i < ((const struct conf_listen *)f)->n; i++) {
			fmt_sockaddr(tmp, sizeof(tmp), &((const struct conf_listen *)f)->addrs[i]);
			buf_printf(b, "%s%s", i > 0 ? " " : "", tmp);
		}
		break;
	}
}

void
conf_dump(FILE *fp, const struct conf *c, bool only_non_default)
{
	struct conf def;
	struct buf v, d;

	conf_init_defaults(&def);
	/* A list holds at most CONF_MAX_ITEMS words of at most one line each. */
	buf_init(&v, 256, (CONF_MAX_ITEMS + 1) * (CONF_MAX_LINE + 1));
	buf_init(&d, 256, (CONF_MAX_ITEMS + 1) * (CONF_MAX_LINE + 1));
	for (size_t i = 0; i < NPARAMS; i++) {
		struct span vs, ds;

		buf_clear(&v);
		buf_clear(&d);
		fmt_value(&v, c, &conf_params[i]);
		fmt_value(&d, &def, &conf_params[i]);
		vs = buf_peek(&v);
		ds = buf_peek(&d);
		if (only_non_default && vs.n == ds.n &&
		    (vs.n == 0 || memcmp(vs.p, ds.p, vs.n) == 0))
			continue;
		fprintf(fp, "%s =%s%.*s\n", conf_params[i].name, vs.n > 0 ? " " : "", (int)vs.n,
		        (const char *)vs.p);
	}
	buf_deinit(&v);
	buf_deinit(&d);
	conf_free(&def);
}
