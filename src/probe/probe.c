/*
 * probe.c -- the probe's state machine on one client struct conn.
 *
 * connect -> banner -> EHLO -> STARTTLS -> handshake -> EHLO -> QUIT; any
 * failure or timeout reports the stage reached and closes. The result is
 * reported once, from report(); the struct lives until the conn's closed()
 * callback, which may come before or after the report.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "net/conn.h"
#include "probe/probe.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_lex.h"

#define PROBE_LINE_MAX 4096
#define PROBE_CAPA_LINES 100

struct probe {
	uv_loop_t *loop;
	struct conn *conn;
	uv_timer_t timer;
	struct probe_opts o;
	char host[256];
	struct smtp_reply_parser rp;
	struct line_framer lf;	/* IMAP and POP3 */
	unsigned capa_lines;
	struct probe_result res;
	enum probe_stage st;
	uint64_t start;
	probe_done_fn *done;
	void *ctx;
	bool reported;
};

static const char *const stage_names[] = {
	"connect", "banner", "ehlo", "starttls", "handshake", "ehlo-tls", "done",
};

const char *
probe_stage_name(enum probe_stage s)
{
	return s <= PROBE_STAGE_DONE ? stage_names[s] : "unknown";
}

static void
probe_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

/* report - hand the result over once; `fmt` NULL means success. */
static void report(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
report(struct probe *p, const char *fmt, ...)
{
	va_list ap;

	if (p->reported)
		return;
	p->reported = true;
	uv_timer_stop(&p->timer);
	p->res.reached = p->st;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(p->res.error, sizeof(p->res.error), fmt, ap);
		va_end(ap);
	}
	p->res.elapsed_ms = uv_now(p->loop) - p->start;
	p->done(p->ctx, &p->res);
}

static void
probe_on_timer(uv_timer_t *t)
{
	struct probe *p = t->data;

	p->res.timeout = true;
	report(p, "timeout after %" PRIu64 " ms waiting at %s", p->o.timeout_ms,
	       probe_stage_name(p->st));
	if (p->conn != NULL)
		conn_close(p->conn, "probe-timeout");
}

static void
step(struct probe *p, enum probe_stage st)
{
	p->st = st;
	uv_timer_start(&p->timer, probe_on_timer, p->o.timeout_ms, 0);
}

static void
send_line(struct probe *p, const char *line, bool ehlo)
{
	smtp_reply_parser_init(&p->rp, ehlo);
	conn_printf(p->conn, "%s\r\n", line);
	conn_flush(p->conn);
}

static void
finish(struct probe *p)
{
	static const char *const quit[] = {"QUIT", "z LOGOUT", "QUIT"};

	p->st = PROBE_STAGE_DONE;
	report(p, NULL);
	conn_printf(p->conn, "%s\r\n", quit[p->o.proto]);
	conn_close(p->conn, "probe-done");
}

/* start_tls - after the server's go-ahead (or at once for implicit TLS). */
static void
start_tls(struct probe *p)
{
	struct tls_client_policy pol = {TLS_LVL_VERIFY, p->host, NULL};

	step(p, PROBE_STAGE_HANDSHAKE);
	if (conn_starttls_client(p->conn, p->o.tls, p->host, &pol) < 0) {
		report(p, "STARTTLS response injection: bytes after the go-ahead");
		conn_close(p->conn, "probe-injection");
	}
}

static void
on_reply(struct probe *p, const struct smtp_reply *r)
{
	char line[300];

	switch (p->st) {
	case PROBE_STAGE_BANNER:
		p->res.banner_code = r->code;
		snprintf(p->res.banner, sizeof(p->res.banner), "%s", r->text);
		if (r->code != 220) {
			report(p, "greeting %u %s", r->code, r->text);
			conn_close(p->conn, "probe-banner");
			return;
		}
		snprintf(line, sizeof(line), "EHLO %s", p->o.helo);
		step(p, PROBE_STAGE_EHLO);
		send_line(p, line, true);
		return;
	case PROBE_STAGE_EHLO:
		if (r->code != 250) {
			report(p, "EHLO refused: %u %s", r->code, r->text);
			conn_close(p->conn, "probe-ehlo");
			return;
		}
		if (conn_is_tls(p->conn)) { /* implicit TLS */
			finish(p);
			return;
		}
		p->res.starttls = (r->ext & SMTP_EXT_STARTTLS) != 0;
		p->res.clear_login = (r->ext & SMTP_EXT_AUTH) != 0;
		if (!p->res.starttls || p->o.tls == NULL) {
			finish(p);
			return;
		}
		step(p, PROBE_STAGE_STARTTLS);
		send_line(p, "STARTTLS", false);
		return;
	case PROBE_STAGE_STARTTLS:
		if (r->code != 220) {
			report(p, "STARTTLS refused: %u %s", r->code, r->text);
			conn_close(p->conn, "probe-starttls");
			return;
		}
		start_tls(p);
		return;
	case PROBE_STAGE_EHLO_TLS:
		if (r->code != 250) {
			report(p, "EHLO after STARTTLS refused: %u %s", r->code, r->text);
			conn_close(p->conn, "probe-ehlo-tls");
			return;
		}
		finish(p);
		return;
	default:
		report(p, "unexpected reply %u at %s", r->code, probe_stage_name(p->st));
		conn_close(p->conn, "probe-unasked");
		return;
	}
}

/* has_word - a capability word in a line, any case. */
static bool
has_word(struct span line, const char *w)
{
	size_t n = strlen(w);

	for (size_t i = 0; i + n <= line.n; i++)
		if ((i == 0 || line.p[i - 1] == ' ' || line.p[i - 1] == '[') &&
		    strncasecmp((const char *)line.p + i, w, n) == 0 &&
		    (i + n == line.n || line.p[i + n] == ' ' || line.p[i + n] == ']'))
			return true;
	return false;
}

static bool
starts(struct span line, const char *prefix)
{
	size_t n = strlen(prefix);

	return line.n >= n && strncasecmp((const char *)line.p, prefix, n) == 0;
}

static void
fail_line(struct probe *p, const char *what, struct span line)
{
	char v[300];

	report(p, "%s: %s", what, log_value(v, sizeof(v), (const char *)line.p, line.n));
	conn_close(p->conn, "probe-refused");
}

/* greeted - keep the greeting; over implicit TLS that is all we need,
   else ask for the capabilities with `capa`. */
static void
greeted(struct probe *p, struct span line, const char *capa)
{
	snprintf(p->res.banner, sizeof(p->res.banner), "%.*s", (int)(line.n < 200 ? line.n : 200),
	         (const char *)line.p);
	p->res.banner_code = 220; /* "greeted": the report's word for OK */
	if (conn_is_tls(p->conn)) {
		finish(p);
		return;
	}
	step(p, PROBE_STAGE_EHLO);
	p->capa_lines = 0;
	conn_printf(p->conn, "%s\r\n", capa);
	conn_flush(p->conn);
}

/* ask_tls - the STARTTLS/STLS command, or the end when TLS is not offered. */
static void
ask_tls(struct probe *p, const char *cmd)
{
	if (!p->res.starttls || p->o.tls == NULL) {
		finish(p);
		return;
	}
	step(p, PROBE_STAGE_STARTTLS);
	conn_printf(p->conn, "%s\r\n", cmd);
	conn_flush(p->conn);
}

/* on_imap - RFC 9051: greeting, CAPABILITY, STARTTLS. */
static void
on_imap(struct probe *p, struct span line)
{
	switch (p->st) {
	case PROBE_STAGE_BANNER:
		if (!starts(line, "* OK") && !starts(line, "* PREAUTH"))
			fail_line(p, "greeting", line);
		else
			greeted(p, line, "a CAPABILITY");
		return;
	case PROBE_STAGE_EHLO:
		if (starts(line, "* CAPABILITY ")) {
			p->res.starttls |= has_word(line, "STARTTLS");
			p->res.clear_login = !has_word(line, "LOGINDISABLED");
			return;
		}
		if (starts(line, "* "))
			return;
		if (!starts(line, "a OK"))
			fail_line(p, "CAPABILITY refused", line);
		else
			ask_tls(p, "b STARTTLS");
		return;
	case PROBE_STAGE_STARTTLS:
		if (starts(line, "* "))
			return;
		if (!starts(line, "b OK"))
			fail_line(p, "STARTTLS refused", line);
		else
			start_tls(p);
		return;
	default:
		fail_line(p, "unexpected line", line);
		return;
	}
}

/* on_pop3 - RFC 1939, 2449 (CAPA), 2595 (STLS). */
static void
on_pop3(struct probe *p, struct span line)
{
	switch (p->st) {
	case PROBE_STAGE_BANNER:
		if (!starts(line, "+OK"))
			fail_line(p, "greeting", line);
		else
			greeted(p, line, "CAPA");
		return;
	case PROBE_STAGE_EHLO:
		if (p->capa_lines++ == 0) {
			if (!starts(line, "+OK"))
				finish(p); /* no CAPA: nothing to learn */
			return;
		}
		if (p->capa_lines > PROBE_CAPA_LINES) {
			fail_line(p, "endless CAPA", line);
			return;
		}
		if (!(line.n == 1 && line.p[0] == '.')) {
			p->res.starttls |= has_word(line, "STLS");
			p->res.clear_login |= has_word(line, "USER");
			return;
		}
		ask_tls(p, "STLS");
		return;
	case PROBE_STAGE_STARTTLS:
		if (!starts(line, "+OK"))
			fail_line(p, "STLS refused", line);
		else
			start_tls(p);
		return;
	default:
		fail_line(p, "unexpected line", line);
		return;
	}
}

static void
probe_lines(struct probe *p, struct conn *c)
{
	struct span line;
	enum line_rc rc;

	while (!p->reported && p->st != PROBE_STAGE_HANDSHAKE &&
	       (rc = line_next(&p->lf, conn_in(c), &line)) != LINE_MORE) {
		if (rc == LINE_ERR) {
			report(p, "malformed or over-long line");
			conn_close(c, "probe-garbage");
			return;
		}
		if (p->o.proto == PROBE_IMAP)
			on_imap(p, line);
		else
			on_pop3(p, line);
	}
}

static void
probe_on_input(struct conn *c)
{
	struct probe *p = conn_ctx(c);
	struct smtp_reply r;
	const char *error = NULL;
	int rc;

	if (p->o.proto != PROBE_SMTP) {
		probe_lines(p, c);
		return;
	}
	while (!p->reported && (rc = smtp_reply_parse(&p->rp, conn_in(c), &r, &error)) != 0) {
		if (rc < 0) {
			report(p, "malformed reply: %s", error);
			conn_close(c, "probe-garbage");
			return;
		}
		on_reply(p, &r);
	}
}

static void
probe_on_tls_ready(struct conn *c)
{
	struct probe *p = conn_ctx(c);
	const SSL *ssl = (const SSL *)conn_tls_ssl(c);
	char line[300];

	p->res.tls = true;
	snprintf(p->res.version, sizeof(p->res.version), "%s", conn_tls_version(c));
	snprintf(p->res.cipher, sizeof(p->res.cipher), "%s", conn_tls_cipher(c));
	p->res.has_cert = tls_ssl_cert_facts(ssl, &p->res.cert) == 0;
	p->res.name_ok = tls_ssl_name_ok(ssl, p->host);
	p->res.nchain = tls_ssl_chain_digests(ssl, p->res.chain, TLS_CHAIN_MAX);
	if (p->o.handshake_only || (p->o.proto != PROBE_SMTP && !p->o.implicit_tls)) {
		finish(p);
		return;
	}
	if (p->o.implicit_tls) {
		step(p, PROBE_STAGE_BANNER); /* the greeting comes over TLS */
		return;
	}
	snprintf(line, sizeof(line), "EHLO %s", p->o.helo);
	step(p, PROBE_STAGE_EHLO_TLS);
	send_line(p, line, true);
}

static void
probe_on_connected(struct conn *c)
{
	struct probe *p = conn_ctx(c);

	if (p->o.implicit_tls)
		start_tls(p);
	else
		step(p, PROBE_STAGE_BANNER);
}

static void
probe_on_closed(struct conn *c, const char *reason)
{
	struct probe *p = conn_ctx(c);

	p->conn = NULL;
	if (strcmp(reason, "connect-timeout") == 0)
		p->res.timeout = true;
	if (p->st == PROBE_STAGE_CONNECT || p->st == PROBE_STAGE_HANDSHAKE)
		report(p, "%s", reason);
	else
		report(p, "connection closed: %s", reason);
	uv_close((uv_handle_t *)&p->timer, probe_timer_closed);
}

static const struct conn_handler probe_handler = {
	.input = probe_on_input,
	.tls_ready = probe_on_tls_ready,
	.closed = probe_on_closed,
	.connected = probe_on_connected,
};

struct probe *
probe_start(uv_loop_t *loop, const struct sockaddr *sa, const char *host,
            const struct probe_opts *o, probe_done_fn *done, void *ctx)
{
	struct probe *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->o = *o;
	p->done = done;
	p->ctx = ctx;
	p->start = uv_now(loop);
	snprintf(p->host, sizeof(p->host), "%s", host);
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	smtp_reply_parser_init(&p->rp, false);
	p->lf.max = PROBE_LINE_MAX;
	p->st = PROBE_STAGE_CONNECT;
	p->conn = conn_connect(loop, sa, o->timeout_ms, &probe_handler, p);
	return p;
}
