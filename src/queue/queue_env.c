/*
 * queue_env.c -- the envelope file format: parse and format (pure).
 *
 * A small line format (queue.h has the grammar) that an admin can read with
 * cat and a script with awk. The parser treats the file as untrusted: a
 * disk error, a crash or a hand edit must give an error, never a crash.
 * Limits: QUEUE_ENV_MAX_LINE per line, QUEUE_ENV_MAX_SIZE per file,
 * QUEUE_MAX_RCPTS recipients; numbers at most 18 digits (no overflow).
 * Security: fuzzed by tests/fuzz/fuzz_queue_env.c (parse, format, parse:
 * a fixpoint).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "queue/queue.h"

#define ENV_MAGIC "hikyaku-queue 1"

static const char *const status_names[] = {"pending", "sent", "bounced"};
static const char *const notify_names[] = {"never", "success", "failure", "delay"};

const char *
queue_rcpt_status_name(enum queue_rcpt_status st)
{
	return (unsigned)st < nitems(status_names) ? status_names[st] : "?";
}

bool
queue_id_valid(const char *s)
{
	static const char shape[] = "HHHHHHHHHHHHHH.HHHHHH.HHHH";

	if (strlen(s) != QUEUE_ID_LEN)
		return false;
	for (size_t i = 0; i < QUEUE_ID_LEN; i++) {
		char c = s[i];

		if (shape[i] == '.' ? c != '.'
		                    : !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

void
queue_notify_format(unsigned notify, char *dst, size_t size)
{
	size_t o = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < nitems(notify_names); i++) {
		if (!(notify & (1u << i)))
			continue;
		int n = snprintf(dst + o, size - o, "%s%s", o ? "," : "", notify_names[i]);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
}

void
queue_env_deinit(struct queue_env *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		struct queue_rcpt *r = &env->rcpts[i];

		free(r->addr);
		free(r->orcpt);
		free(r->reply);
		free(r->relay);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	memset(env, 0, sizeof(*env));
}

/* ---- parsing ---- */

/* Parser state: which keys were seen (bit per key) for the current part. */
struct env_parse {
	struct queue_env *env;
	struct queue_rcpt *r; /* current recipient, NULL in the message part */
	unsigned seen;
	bool ended;
};

/* A number: 1..18 digits. Returns 0 or -1. */
static int
parse_num(const char *v, int64_t *out)
{
	size_t n = strlen(v);
	int64_t x = 0;

	if (n == 0 || n > 18)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

/* "failure,delay" or "never". Returns 0 or -1. */
static int
parse_notify(const char *v, unsigned *out)
{
	const char *p = v;

	*out = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		size_t i;

		for (i = 0; i < nitems(notify_names); i++)
			if (strlen(notify_names[i]) == n && strncmp(p, notify_names[i], n) == 0)
				break;
		if (i == nitems(notify_names) || (*out & (1u << i)))
			return -1;
		*out |= 1u << i;
		p += n;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	/* RFC 3461 4.1: NEVER stands alone. */
	if (*out == 0 || ((*out & QUEUE_NOTIFY_NEVER) && *out != QUEUE_NOTIFY_NEVER))
		return -1;
	return 0;
}

static int
parse_flags(const char *v, unsigned *out)
{
	static const char *const names[] = {"smtputf8", "8bitmime", "warned"};
	const char *p = v;

	*out = 0;
	while (*p != '\0') {
		size_t n = strcspn(p, " ");
		size_t i;

		for (i = 0; i < nitems(names); i++)
			if (strlen(names[i]) == n && strncmp(p, names[i], n) == 0)
				break;
		if (i == nitems(names) || (*out & (1u << i)))
			return -1;
		*out |= 1u << i;
		p += n;
		if (*p == ' ' && *++p == '\0')
			return -1;
	}
	return 0;
}

enum env_key {
	K_ID,
	K_ARRIVAL,
	K_SENDER,
	K_FLAGS,
	K_ENVID,
	K_RET,
	K_RCPT,
	K_ORCPT,
	K_NOTIFY,
	K_STATUS,
	K_ATTEMPTS,
	K_NEXT,
	K_RELAY,
	K_REPLY,
	K_END,
};

static const char *const key_names[] = {
        "id",     "arrival", "sender",   "flags", "envid", "ret",   "rcpt", "orcpt",
        "notify", "status",  "attempts", "next",  "relay", "reply", "end",
};

/* One message-part key. Returns 0 or -1 with *error_r. */
static int
parse_msg_key(struct env_parse *ps, enum env_key k, const char *v, const char **error_r)
{
	struct queue_env *env = ps->env;

	switch (k) {
	case K_ID:
		if (!queue_id_valid(v))
			return *error_r = "bad queue id", -1;
		memcpy(env->id, v, QUEUE_ID_LEN + 1);
		return 0;
	case K_ARRIVAL:
		if (parse_num(v, &env->arrival) < 0)
			return *error_r = "bad arrival time", -1;
		return 0;
	case K_SENDER:
		if (*v == '\0')
			return *error_r = "empty sender", -1;
		env->sender = xstrdup(strcmp(v, "<>") == 0 ? "" : v);
		return 0;
	case K_FLAGS:
		if (parse_flags(v, &env->flags) < 0)
			return *error_r = "bad flags", -1;
		return 0;
	case K_ENVID:
		if (*v == '\0')
			return *error_r = "empty envid", -1;
		env->envid = xstrdup(v);
		return 0;
	case K_RET:
		if (strcmp(v, "hdrs") != 0 && strcmp(v, "full") != 0)
			return *error_r = "bad ret", -1;
		env->ret = v[0] == 'h' ? QUEUE_RET_HDRS : QUEUE_RET_FULL;
		return 0;
	default:
		return *error_r = "recipient key before rcpt", -1;
	}
}

/* One recipient-part key. */
static int
parse_rcpt_key(struct env_parse *ps, enum env_key k, const char *v, const char **error_r)
{
	struct queue_rcpt *r = ps->r;
	int64_t n;

	switch (k) {
	case K_ORCPT:
		if (strchr(v, ';') == NULL)
			return *error_r = "bad orcpt", -1;
		r->orcpt = xstrdup(v);
		return 0;
	case K_NOTIFY:
		if (parse_notify(v, &r->notify) < 0)
			return *error_r = "bad notify", -1;
		return 0;
	case K_STATUS:
		for (size_t i = 0; i < nitems(status_names); i++)
			if (strcmp(v, status_names[i]) == 0) {
				r->status = (enum queue_rcpt_status)i;
				return 0;
			}
		return *error_r = "bad status", -1;
	case K_ATTEMPTS:
		if (parse_num(v, &n) < 0 || n > 1000000)
			return *error_r = "bad attempts", -1;
		r->attempts = (unsigned)n;
		return 0;
	case K_NEXT:
		if (parse_num(v, &r->next) < 0)
			return *error_r = "bad next time", -1;
		return 0;
	case K_RELAY:
		r->relay = xstrdup(v);
		return 0;
	case K_REPLY:
		r->reply = xstrdup(v);
		return 0;
	default:
		return *error_r = "message key after rcpt", -1;
	}
}

/* Starts a recipient. */
static int
parse_rcpt_start(struct env_parse *ps, const char *v, const char **error_r)
{
	struct queue_env *env = ps->env;

	if (*v == '\0')
		return *error_r = "empty recipient", -1;
	if (env->nrcpts == QUEUE_MAX_RCPTS)
		return *error_r = "too many recipients", -1;
	/* Grows by doubling; the count is bounded above. */
	if ((env->nrcpts & (env->nrcpts - 1)) == 0) {
		size_t cap = env->nrcpts == 0 ? 1 : env->nrcpts * 2;
		env->rcpts = xrealloc(env->rcpts, cap * sizeof(*env->rcpts));
	}
	ps->r = &env->rcpts[env->nrcpts++];
	memset(ps->r, 0, sizeof(*ps->r));
	ps->r->addr = xstrdup(v);
	ps->seen = 1u << K_RCPT;
	return 0;
}

/* One line (NUL-terminated, checked for control characters). */
static int
parse_line(struct env_parse *ps, char *line, const char **error_r)
{
	char *sp = strchr(line, ' ');
	const char *v = sp != NULL ? sp + 1 : "";
	size_t k;

	if (sp != NULL)
		*sp = '\0';
	for (k = 0; k < nitems(key_names); k++)
		if (strcmp(line, key_names[k]) == 0)
			break;
	if (k == nitems(key_names))
		return *error_r = "unknown key", -1;
	if (k == K_END) {
		if (sp != NULL)
			return *error_r = "bad end line", -1;
		ps->ended = true;
		return 0;
	}
	if (k == K_RCPT)
		return parse_rcpt_start(ps, v, error_r);
	if (ps->seen & (1u << k))
		return *error_r = "repeated key", -1;
	ps->seen |= 1u << k;
	return ps->r == NULL ? parse_msg_key(ps, (enum env_key)k, v, error_r)
	                     : parse_rcpt_key(ps, (enum env_key)k, v, error_r);
}

/* Checks one line's bytes: no control characters, no DEL. */
static bool
line_clean(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static int
parse_lines(struct env_parse *ps, const char *d, size_t len, const char **error_r)
{
	char line[QUEUE_ENV_MAX_LINE + 1];
	size_t off = 0;
	bool first = true;

	while (off < len) {
		const char *lf = memchr(d + off, '\n', len - off);
		size_t n;

		if (lf == NULL)
			return *error_r = "truncated (no final newline)", -1;
		if (ps->ended)
			return *error_r = "data after end", -1;
		n = (size_t)(lf - (d + off));
		if (n > QUEUE_ENV_MAX_LINE)
			return *error_r = "line too long", -1;
		if (!line_clean(d + off, n))
			return *error_r = "control character", -1;
		memcpy(line, d + off, n);
		line[n] = '\0';
		off += n + 1;
		if (first) {
			if (strcmp(line, ENV_MAGIC) != 0)
				return *error_r = "not a version 1 envelope", -1;
			first = false;
			continue;
		}
		if (parse_line(ps, line, error_r) < 0)
			return -1;
	}
	return 0;
}

int
queue_env_parse(const void *data, size_t len, struct queue_env *env, const char **error_r)
{
	struct env_parse ps = {.env = env};

	memset(env, 0, sizeof(*env));
	if (len > QUEUE_ENV_MAX_SIZE) {
		*error_r = "envelope too large";
		return -1;
	}
	if (parse_lines(&ps, data, len, error_r) < 0)
		goto fail;
	if (!ps.ended) {
		*error_r = "truncated (no end line)";
		goto fail;
	}
	if (env->id[0] == '\0' || env->sender == NULL || env->nrcpts == 0) {
		*error_r = "id, sender or recipients missing";
		goto fail;
	}
	return 1;
fail:
	queue_env_deinit(env);
	return -1;
}

/* ---- formatting ---- */

static int
format_rcpt(const struct queue_rcpt *r, struct buf *out)
{
	char notify[64];
	int rc = buf_printf(out, "rcpt %s\n", r->addr);

	if (r->orcpt != NULL)
		rc |= buf_printf(out, "orcpt %s\n", r->orcpt);
	if (r->notify != 0) {
		queue_notify_format(r->notify, notify, sizeof(notify));
		rc |= buf_printf(out, "notify %s\n", notify);
	}
	rc |= buf_printf(out, "status %s\nattempts %u\nnext %lld\n",
	                 queue_rcpt_status_name(r->status), r->attempts, (long long)r->next);
	if (r->relay != NULL)
		rc |= buf_printf(out, "relay %s\n", r->relay);
	if (r->reply != NULL)
		rc |= buf_printf(out, "reply %s\n", r->reply);
	return rc;
}

int
queue_env_format(const struct queue_env *env, struct buf *out)
{
	int rc = buf_printf(out, ENV_MAGIC "\nid %s\narrival %lld\nsender %s\nflags", env->id,
	                    (long long)env->arrival, env->sender[0] ? env->sender : "<>");

	if (env->flags & QUEUE_F_SMTPUTF8)
		rc |= buf_append_str(out, " smtputf8");
	if (env->flags & QUEUE_F_8BITMIME)
		rc |= buf_append_str(out, " 8bitmime");
	if (env->flags & QUEUE_F_WARNED)
		rc |= buf_append_str(out, " warned");
	rc |= buf_append_str(out, "\n");
	if (env->envid != NULL)
		rc |= buf_printf(out, "envid %s\n", env->envid);
	if (env->ret != QUEUE_RET_DEFAULT)
		rc |= buf_printf(out, "ret %s\n", env->ret == QUEUE_RET_HDRS ? "hdrs" : "full");
	for (size_t i = 0; i < env->nrcpts; i++)
		rc |= format_rcpt(&env->rcpts[i], out);
	rc |= buf_append_str(out, "end\n");
	return rc != 0 ? -1 : 0;
}
