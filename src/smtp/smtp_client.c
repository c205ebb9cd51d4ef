/*
 * smtp_client.c -- the outbound SMTP client: one message, one host.
 *
 * A state machine on one struct conn. States follow the dialogue:
 * CONNECT, GREETING, EHLO (HELO after a 5xx), STARTTLS, HANDSHAKE,
 * EHLO_TLS, TX (replies to MAIL, RCPT..., DATA, in order; sent in one batch
 * when PIPELINING is offered, RFC 2920, else one at a time), BODY (the file
 * streamed with dot-stuffing, one chunk per drained output), DOT (reply to
 * the end of data), then QUIT without waiting for its reply.
 * Reuse (req.reuse): a transaction that ends with every reply read goes to
 * IDLE instead of QUIT, owned by the caller; smtp_client_next() goes
 * through NEXT (one loop turn, so that done() never runs inside it) and
 * RSET (only after an aborted transaction) to TX again. Any byte or a close
 * from the server while IDLE, the idle limit, or the transaction and age
 * limits (SMTP_CLIENT_*) end the session; the caller releases the struct.
 * The outcome goes to the caller once, through done(): SC_HOST_FAILED while
 * nothing of the transaction was answered (the queue tries the next MX),
 * SC_TLS_RETRY_PLAIN for a failed handshake under `may`, otherwise SC_DONE
 * with one result per recipient (a lost connection mid-transaction defers
 * the recipients that had no final answer yet).
 * Limits: the reply parser's; one timer per step (timeout_ms, RFC 5321
 * 4.5.3.2: a reply, a chunk of the body) that drips do not reset, and a
 * cap on each transaction (session_timeout_ms).
 * Standards: RFC 5321, RFC 2920, RFC 1870, RFC 6152, RFC 6531, RFC 3207;
 * TLS levels and their wording as in Postfix's smtp(8).
 * Security: after STARTTLS, the pre-TLS EHLO facts are dropped (RFC 3207
 * 4.2); bytes after the 220 abort the session; the peer's text reaches logs
 * only through log_value().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "net/conn.h"
#include "smtp/smtp_client.h"
#include "tls/tls.h"

#define SC_CHUNK (32 * 1024) /* file bytes per write; stuffed size <= 2x */
#define SC_SESSION_STEPS 20  /* default session cap, in steps */

enum sc_state {
	ST_CONNECT,
	ST_GREETING,
	ST_EHLO,
	ST_HELO,
	ST_STARTTLS,
	ST_HANDSHAKE,
	ST_EHLO_TLS,
	ST_IDLE, /* between transactions, the caller's */
	ST_NEXT, /* smtp_client_next() called, nothing sent yet */
	ST_RSET,
	ST_TX,
	ST_BODY,
	ST_DOT,
	ST_QUIT,
};

struct smtp_client {
	uv_loop_t *loop;
	struct conn *conn;
	uv_timer_t timer;
	uint64_t deadline; /* uv_now() bound of the whole session */
	struct smtp_client_req req;
	bool *final;    /* per rcpt: an outcome is known */
	bool *accepted; /* per rcpt: 2xx to RCPT */
	size_t naccepted;
	smtp_client_done_fn *done;
	void *ctx;
	struct smtp_client_result res;
	struct smtp_reply_parser rp;
	enum sc_state st;
	unsigned ext;
	uint64_t size_limit;
	bool mail_ok;
	size_t next_cmd, next_reply; /* 0 MAIL, 1..n RCPT, n + 1 DATA */
	int fd;
	bool bol;        /* the next body byte starts a line */
	uint8_t last[2]; /* the last two body bytes */
	uint64_t body_bytes;
	bool reported;
	/* reuse */
	bool held;      /* idle and the caller's: do not free on close */
	bool need_rset; /* the last transaction was aborted after MAIL */
	bool freeing;   /* uv_close() of the timer is under way */
	uint64_t born;  /* uv_now() at connect, for SMTP_CLIENT_REUSE_MS */
	smtp_client_closed_fn *closed;
	void *closed_ctx;
};

static void sc_reply_data(struct smtp_client *c, const struct smtp_reply *r);
static void sc_on_input(struct conn *conn);
static void sc_on_tls_ready(struct conn *conn);
static void sc_on_closed(struct conn *conn, const char *reason);
static void sc_on_connected(struct conn *conn);
static void sc_on_drained(struct conn *conn);

static const struct conn_handler sc_handler = {
        .input = sc_on_input,
        .tls_ready = sc_on_tls_ready,
        .closed = sc_on_closed,
        .connected = sc_on_connected,
        .drained = sc_on_drained,
};

/* sc_log - one key=value line with the session id and the host. */
static void sc_log(struct smtp_client *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
sc_log(struct smtp_client *c, const char *fmt, ...)
{
	char msg[1024], host[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("sid=%016" PRIx64 " proto=smtp-out host=%s %s",
	         c->conn != NULL ? conn_id(c->conn) : 0,
	         log_value(host, sizeof(host), c->req.mx_host, strlen(c->req.mx_host)), msg);
}

/* sc_host - "mx.example.com[192.0.2.1]" for reasons, as Postfix writes it. */
static const char *
sc_host(struct smtp_client *c)
{
	static _Thread_local char b[320];

	snprintf(b, sizeof(b), "%s[%s]", c->req.mx_host,
	         c->conn != NULL ? conn_peer_ip(c->conn) : "?");
	return b;
}

/* sc_copy_str - bounded copy into a result field. */
static void
sc_copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

/* ---- timers ------------------------------------------------------------ */

/* sc_free_tx - what belongs to one transaction (smtp_client_next()
   replaces it). */
static void
sc_free_tx(struct smtp_client *c)
{
	for (size_t i = 0; i < c->req.nrcpts; i++)
		free((char *)c->req.rcpts[i]);
	free((void *)c->req.rcpts);
	free((char *)c->req.sender);
	free((char *)c->req.msg_path);
	free(c->res.rcpt);
	free(c->final);
	free(c->accepted);
}

static void
sc_on_timer_closed(uv_handle_t *h)
{
	struct smtp_client *c = h->data;

	sc_free_tx(c);
	free((char *)c->req.helo);
	free((char *)c->req.mx_host);
	free((char *)c->req.nexthop);
	free(c);
}

/* sc_free_later - the last step: the struct goes once the timer is closed. */
static void
sc_free_later(struct smtp_client *c)
{
	if (c->freeing)
		return;
	c->freeing = true;
	uv_close((uv_handle_t *)&c->timer, sc_on_timer_closed);
}

static void sc_on_timer(uv_timer_t *t);

/* sc_arm - (re)start the step timer, never past the session deadline. */
static void
sc_arm(struct smtp_client *c)
{
	uint64_t now = uv_now(c->loop), ms = c->req.timeout_ms;

	if (c->reported)
		return;
	if (now >= c->deadline)
		ms = 0;
	else if (c->deadline - now < ms)
		ms = c->deadline - now;
	uv_timer_start(&c->timer, sc_on_timer, ms, 0);
}

/* ---- outcome ----------------------------------------------------------- */

/* sc_rcpt_set - a recipient's outcome from a reply (enhanced code made up
   from the class when the server sent none, as Postfix does). */
static void
sc_rcpt_set(struct smtp_client *c, size_t i, unsigned code, const char *enh, const char *text)
{
	struct smtp_client_rcpt_result *r = &c->res.rcpt[i];

	r->code = code;
	if (enh != NULL && enh[0] != '\0')
		sc_copy_str(r->enhanced, sizeof(r->enhanced), enh);
	else
		snprintf(r->enhanced, sizeof(r->enhanced), "%u.0.0", code / 100);
	sc_copy_str(r->text, sizeof(r->text), text);
	c->final[i] = true;
}

/* sc_report - hand the outcome over, once. */
static void sc_report(struct smtp_client *c, enum smtp_client_status st, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
sc_report(struct smtp_client *c, enum smtp_client_status st, const char *fmt, ...)
{
	static const char *const names[] = {"done", "host-failed", "tls-retry-plain"};
	char v[600];
	va_list ap;

	if (c->reported)
		return;
	c->reported = true;
	uv_timer_stop(&c->timer);
	c->res.status = st;
	va_start(ap, fmt);
	vsnprintf(c->res.reason, sizeof(c->res.reason), fmt, ap);
	va_end(ap);
	sc_log(c, "event=out-done status=%s reason=%s", names[st],
	       log_value(v, sizeof(v), c->res.reason, strlen(c->res.reason)));
	c->done(c->ctx, &c->res);
}

/* sc_quit - polite end: QUIT, then close once it is written. */
static void
sc_quit(struct smtp_client *c)
{
	if (c->conn == NULL)
		return;
	c->st = ST_QUIT;
	conn_printf(c->conn, "QUIT\r\n");
	conn_close(c->conn, "quit");
}

/* sc_drop - end without QUIT (the dialogue is out of step or timed out). */
static void
sc_drop(struct smtp_client *c, const char *why)
{
	if (c->conn != NULL)
		conn_close(c->conn, why);
}

static void sc_on_idle(uv_timer_t *t);

/* sc_reusable - may the session carry another transaction after this one
   (`code`: the last reply; 421 means the server is closing)? */
static bool
sc_reusable(struct smtp_client *c, unsigned code)
{
	return c->req.reuse && c->conn != NULL && code != 421 && c->res.ntx < SMTP_CLIENT_MAX_TX &&
	       uv_now(c->loop) - c->born < SMTP_CLIENT_REUSE_MS;
}

/* sc_tx_over - SC_DONE with every reply read, so the dialogue is in step
   (`rset`: MAIL was answered but no end of data closed the transaction):
   the session goes idle to the caller when it may, else QUIT. */
static void sc_tx_over(struct smtp_client *c, unsigned code, bool rset, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
sc_tx_over(struct smtp_client *c, unsigned code, bool rset, const char *fmt, ...)
{
	bool reuse = sc_reusable(c, code);
	char reason[sizeof(c->res.reason)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	c->res.reusable = reuse;
	if (reuse) {
		/* idle before done(), which may call smtp_client_next() */
		c->st = ST_IDLE;
		c->need_rset = rset;
		c->held = true;
	}
	sc_report(c, SC_DONE, "%s", reason);
	if (!reuse)
		sc_quit(c);
	else if (c->st == ST_IDLE && c->held && c->conn != NULL) /* parked by done() */
		uv_timer_start(&c->timer, sc_on_idle, SMTP_CLIENT_IDLE_MS, 0);
}

/* sc_host_failed - the queue should try the next MX. */
#define sc_host_failed(c, ...) sc_report((c), SC_HOST_FAILED, __VA_ARGS__)

/* sc_lost - the session failed in state c->st: `what` is "lost connection
   with", "conversation timed out with" or "protocol error from", `why` the
   detail. Reports what that means for the queue. */
static void
sc_lost(struct smtp_client *c, const char *what, const char *why)
{
	static const char *const phase[] = {
	        [ST_CONNECT] = "connecting",
	        [ST_GREETING] = "receiving the initial server greeting",
	        [ST_EHLO] = "performing the EHLO handshake",
	        [ST_HELO] = "performing the HELO handshake",
	        [ST_STARTTLS] = "sending STARTTLS",
	        [ST_HANDSHAKE] = "performing the TLS handshake",
	        [ST_EHLO_TLS] = "performing the EHLO handshake",
	        [ST_IDLE] = "idle",
	        [ST_NEXT] = "reusing the connection",
	        [ST_RSET] = "sending RSET",
	        [ST_TX] = "sending the envelope",
	        [ST_BODY] = "sending the message body",
	        [ST_DOT] = "sending end of data",
	        [ST_QUIT] = "sending QUIT",
	};
	char text[512];

	snprintf(text, sizeof(text), "%s %s while %s: %s", what, sc_host(c), phase[c->st], why);
	if (c->st == ST_CONNECT) {
		sc_host_failed(c, "connect to %s:%d: %s", sc_host(c),
		               c->conn != NULL ? conn_peer_port(c->conn) : 0, why);
	} else if (c->st == ST_HANDSHAKE && c->req.tls_level == TLS_LVL_MAY) {
		sc_report(c, SC_TLS_RETRY_PLAIN, "TLS handshake failed: %s", text);
	} else if (c->st == ST_HANDSHAKE) {
		sc_host_failed(c, "TLS is required, but the TLS handshake failed: %s", text);
	} else if (c->st < ST_TX || (c->st == ST_TX && c->next_reply == 0)) {
		sc_host_failed(c, "%s", text);
	} else {
		for (size_t i = 0; i < c->req.nrcpts; i++)
			if (!c->final[i])
				sc_rcpt_set(c, i, 451, "4.4.2", text);
		sc_report(c, SC_DONE, "%s", text);
	}
}

/* ---- commands ---------------------------------------------------------- */

/* sc_queue - queue one command line; conn_flush() sends (a pipelined batch
   goes out in one write, RFC 2920 3.1). */
static void sc_queue(struct smtp_client *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void
sc_queue(struct smtp_client *c, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Addresses are bounded by the queue (RFC 5321 4.5.3.1: 256 octets). */
	BUG_ON(n < 0 || (size_t)n >= sizeof(line));
	if (c->req.tls_loglevel >= 3) {
		char v[1200];

		sc_log(c, "event=out-command line=%s", log_value(v, sizeof(v), line, (size_t)n));
	}
	conn_printf(c->conn, "%s\r\n", line);
}

#define sc_send(c, ...)                                                                            \
	do {                                                                                       \
		sc_queue((c), __VA_ARGS__);                                                        \
		conn_flush((c)->conn);                                                             \
	} while (0)

static void
sc_ehlo(struct smtp_client *c, enum sc_state st)
{
	c->st = st;
	smtp_reply_parser_init(&c->rp, true);
	sc_send(c, "EHLO %s", c->req.helo);
}

/* sc_send_tx - command k of the transaction (0 MAIL, 1..n RCPT, n+1 DATA). */
static void
sc_send_tx(struct smtp_client *c, size_t k)
{
	char params[128] = "";
	size_t len = 0;

	if (k == 0) {
		if (c->ext & SMTP_EXT_SIZE)
			len += (size_t)snprintf(params + len, sizeof(params) - len,
			                        " SIZE=%" PRIu64, c->req.msg_size);
		if (c->req.eightbit && (c->ext & SMTP_EXT_8BITMIME))
			len += (size_t)snprintf(params + len, sizeof(params) - len,
			                        " BODY=8BITMIME");
		if (c->req.smtputf8)
			snprintf(params + len, sizeof(params) - len, " SMTPUTF8");
		sc_queue(c, "MAIL FROM:<%s>%s", c->req.sender, params);
	} else if (k <= c->req.nrcpts) {
		sc_queue(c, "RCPT TO:<%s>", c->req.rcpts[k - 1]);
	} else {
		sc_queue(c, "DATA");
	}
	c->next_cmd = k + 1;
}

/* sc_all_rcpts - every recipient gets the same outcome. */
static void
sc_all_rcpts(struct smtp_client *c, unsigned code, const char *enh, const char *text)
{
	for (size_t i = 0; i < c->req.nrcpts; i++)
		sc_rcpt_set(c, i, code, enh, text);
}

/* sc_start_tx - MAIL, RCPT..., DATA, once the capabilities are final. */
static void
sc_start_tx(struct smtp_client *c)
{
	char text[512];

	c->res.ntx++;
	if (c->req.smtputf8 && !(c->ext & SMTP_EXT_SMTPUTF8)) {
		snprintf(text, sizeof(text), "SMTPUTF8 is required, but was not offered by host %s",
		         sc_host(c));
		sc_all_rcpts(c, 550, "5.6.7", text);
		sc_tx_over(c, 0, false, "%s", text);
		return;
	}
	if (c->size_limit > 0 && c->req.msg_size > c->size_limit) {
		snprintf(text, sizeof(text),
		         "message size %" PRIu64 " exceeds size limit %" PRIu64 " of server %s",
		         c->req.msg_size, c->size_limit, sc_host(c));
		sc_all_rcpts(c, 552, "5.3.4", text);
		sc_tx_over(c, 0, false, "%s", text);
		return;
	}
	/* XXX: Postfix converts to 7 bit here; we send as is and say so. */
	if (c->req.eightbit && !(c->ext & SMTP_EXT_8BITMIME))
		sc_log(c, "event=out-note note=8bit-body-without-8BITMIME");
	c->st = ST_TX;
	c->next_cmd = c->next_reply = 0;
	if (c->ext & SMTP_EXT_PIPELINING) {
		for (size_t k = 0; k <= c->req.nrcpts + 1; k++)
			sc_send_tx(c, k);
	} else {
		sc_send_tx(c, 0);
	}
	conn_flush(c->conn);
	sc_arm(c);
}

/* sc_after_ehlo - STARTTLS, refuse, or go on in the clear. */
static void
sc_after_ehlo(struct smtp_client *c)
{
	bool tls_up = conn_is_tls(c->conn);

	if (!tls_up && c->req.tls_loglevel >= 2)
		sc_log(c, "event=tls-out-offer starttls=%s level=%s",
		       (c->ext & SMTP_EXT_STARTTLS) ? "offered" : "not-offered",
		       tls_level_name(c->req.tls_level));
	if (!tls_up && c->req.tls_level != TLS_LVL_NONE && (c->ext & SMTP_EXT_STARTTLS) &&
	    c->req.tls != NULL) {
		c->st = ST_STARTTLS;
		smtp_reply_parser_init(&c->rp, false);
		sc_send(c, "STARTTLS");
		return;
	}
	if (!tls_up && tls_level_requires_tls(c->req.tls_level)) {
		sc_host_failed(c, "TLS is required, but was not offered by host %s", sc_host(c));
		sc_quit(c);
		return;
	}
	sc_start_tx(c);
}

/* ---- replies ----------------------------------------------------------- */

static void
sc_reply_greeting(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		sc_host_failed(c, "host %s refused to talk to me: %u %s", sc_host(c), r->code,
		               r->text);
		sc_quit(c);
		return;
	}
	sc_ehlo(c, ST_EHLO);
}

static void
sc_reply_ehlo(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code / 100 == 2) {
		c->ext = r->ext;
		c->size_limit = r->size;
		sc_after_ehlo(c);
	} else if (r->code / 100 == 5 && c->st == ST_EHLO) {
		c->st = ST_HELO; /* RFC 5321 4.1.4: an old server; no extensions */
		sc_send(c, "HELO %s", c->req.helo);
	} else {
		sc_host_failed(c, "host %s refused %s: %u %s", sc_host(c),
		               c->st == ST_HELO ? "HELO" : "EHLO", r->code, r->text);
		sc_quit(c);
	}
}

static void
sc_reply_starttls(struct smtp_client *c, const struct smtp_reply *r)
{
	struct tls_client_policy p = {c->req.tls_level, c->req.mx_host, c->req.nexthop};

	if (r->code / 100 != 2) {
		if (tls_level_requires_tls(c->req.tls_level)) {
			sc_host_failed(c,
			               "TLS is required, but host %s refused to start TLS: %u %s",
			               sc_host(c), r->code, r->text);
			sc_quit(c);
			return;
		}
		sc_log(c, "event=tls-refused code=%u", r->code);
		sc_start_tx(c);
		return;
	}
	if (conn_starttls_client(c->conn, c->req.tls, c->req.mx_host, &p) < 0) {
		sc_host_failed(c,
		               "STARTTLS response injection: host %s sent %zu bytes after its "
		               "220 reply",
		               sc_host(c), buf_len(conn_in(c->conn)));
		sc_drop(c, "starttls-injection");
		return;
	}
	if (c->req.tls_loglevel >= 2)
		sc_log(c, "event=tls-out-handshake sni=%s", c->req.mx_host);
	c->st = ST_HANDSHAKE;
}

/* sc_reply_tx - replies to MAIL, RCPT and DATA, in the order sent. */
static void
sc_reply_tx(struct smtp_client *c, const struct smtp_reply *r)
{
	size_t k = c->next_reply++, n = c->req.nrcpts;
	bool ok = r->code / 100 == 2;

	if (k == 0) {
		if (!(c->mail_ok = ok))
			sc_all_rcpts(c, r->code, r->enhanced, r->text);
	} else if (k <= n && c->mail_ok) {
		sc_rcpt_set(c, k - 1, r->code, r->enhanced, r->text);
		c->final[k - 1] = !ok; /* an accepted rcpt waits for the DATA reply */
		if (ok) {
			c->accepted[k - 1] = true;
			c->naccepted++;
		}
	} else if (k == n + 1) {
		sc_reply_data(c, r);
		return;
	}
	if (c->next_cmd > k + 1)
		return; /* pipelined: the next reply is already on its way */
	if (!c->mail_ok || (k == n && c->naccepted == 0)) {
		sc_tx_over(c, r->code, true, "no recipient accepted by %s: %u %s", sc_host(c),
		           r->code, r->text);
		return;
	}
	sc_send_tx(c, k + 1);
	conn_flush(c->conn);
}

/* ---- message body ------------------------------------------------------ */

/* sc_local_fail - we cannot read our own file: defer, never send a partial
   message (closing without the final dot makes the server discard it). */
static void
sc_local_fail(struct smtp_client *c, const char *why)
{
	char text[512];

	snprintf(text, sizeof(text), "local error: cannot read the message file: %s", why);
	for (size_t i = 0; i < c->req.nrcpts; i++)
		if (!c->final[i])
			sc_rcpt_set(c, i, 451, "4.3.0", text);
	sc_report(c, SC_DONE, "%s", text);
	sc_drop(c, "local-error");
}

/*
 * sc_stuff - RFC 5321 4.5.2: a line starting with "." gets one more. A line
 * starts after every LF, CRLF or not, so that no lax server can see an end
 * of data that we did not mean. out must hold 2 * n bytes.
 */
static size_t
sc_stuff(struct smtp_client *c, const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (c->bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		c->bol = in[i] == '\n';
	}
	if (n >= 2) {
		c->last[0] = in[n - 2];
		c->last[1] = in[n - 1];
	} else if (n == 1) {
		c->last[0] = c->last[1];
		c->last[1] = in[0];
	}
	c->body_bytes += n;
	return o;
}

/* sc_body_end - CRLF if the file lacked one, then the end-of-data line. */
static void
sc_body_end(struct smtp_client *c)
{
	close(c->fd);
	c->fd = -1;
	if (c->body_bytes > 0 && (c->last[0] != '\r' || c->last[1] != '\n'))
		conn_write(c->conn, "\r\n", 2);
	c->st = ST_DOT;
	smtp_reply_parser_init(&c->rp, false);
	sc_send(c, ".");
	sc_arm(c);
}

/* sc_body_next - one chunk of the file to the wire; the next follows when
   it has drained (sc_on_drained), so memory stays at one chunk. */
static void
sc_body_next(struct smtp_client *c)
{
	/* XXX: blocking read() on the loop thread; a spool on a slow disk
	   would want uv_fs_read() in the thread pool. */
	static _Thread_local uint8_t in[SC_CHUNK], out[2 * SC_CHUNK];
	ssize_t n;

	do
		n = read(c->fd, in, sizeof(in));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		sc_local_fail(c, strerror(errno));
		return;
	}
	if (n == 0) {
		sc_body_end(c);
		return;
	}
	if (conn_write(c->conn, out, sc_stuff(c, in, (size_t)n, out)) < 0)
		return; /* closing: sc_on_closed reports */
	conn_flush(c->conn);
	sc_arm(c); /* a write timeout per chunk */
}

static void
sc_body_start(struct smtp_client *c)
{
	if ((c->fd = open(c->req.msg_path, O_RDONLY | O_CLOEXEC)) < 0) {
		sc_local_fail(c, strerror(errno));
		return;
	}
	c->st = ST_BODY;
	c->bol = true;
	sc_body_next(c);
}

/* sc_apply_accepted - the reply to DATA or to the end of data decides for
   every recipient the server accepted. A 2xx or 3xx where it makes no sense
   defers them. */
static void
sc_apply_accepted(struct smtp_client *c, const struct smtp_reply *r, bool ok_means_sent)
{
	char text[600];
	unsigned cls = r->code / 100;

	snprintf(text, sizeof(text), "unexpected reply %u %s", r->code, r->text);
	for (size_t i = 0; i < c->req.nrcpts; i++) {
		if (!c->accepted[i])
			continue;
		if (cls == 4 || cls == 5 || (cls == 2 && ok_means_sent))
			sc_rcpt_set(c, i, r->code, r->enhanced, r->text);
		else
			sc_rcpt_set(c, i, 451, "4.5.0", text);
	}
}

static void
sc_reply_data(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code == 354 && c->mail_ok && c->naccepted > 0) {
		sc_body_start(c);
		return;
	}
	sc_apply_accepted(c, r, false);
	if (r->code / 100 == 3) {
		sc_report(c, SC_DONE, "host %s said: %u %s (in reply to DATA)", sc_host(c), r->code,
		          r->text);
		sc_drop(c, "data-without-recipients"); /* we have nothing to send */
		return;
	}
	sc_tx_over(c, r->code, true, "host %s said: %u %s (in reply to DATA)", sc_host(c), r->code,
	           r->text);
}

/* sc_reply_dot - the verdict on the message; a reply that comes before our
   end of data (ST_BODY) is final too, but the stream is then out of step. */
static void
sc_reply_dot(struct smtp_client *c, const struct smtp_reply *r)
{
	bool early = c->st == ST_BODY;

	c->res.data_code = r->code;
	snprintf(c->res.data_text, sizeof(c->res.data_text), "%s%s%s", r->enhanced,
	         r->enhanced[0] != '\0' ? " " : "", r->text);
	sc_apply_accepted(c, r, !early);
	if (early) {
		sc_report(c, SC_DONE,
		          "host %s said: %u %s (in reply to end of DATA, sent before it)",
		          sc_host(c), r->code, r->text);
		sc_drop(c, "reply-during-data");
		return;
	}
	sc_tx_over(c, r->code, false, "host %s said: %u %s (in reply to end of DATA)", sc_host(c),
	           r->code, r->text);
}

/* sc_reply_rset - the aborted transaction is cleared: the next one starts. */
static void
sc_reply_rset(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code / 100 != 2) {
		sc_host_failed(c, "host %s refused RSET: %u %s", sc_host(c), r->code, r->text);
		sc_quit(c);
		return;
	}
	c->need_rset = false;
	sc_start_tx(c);
}

/* ---- connection callbacks ---------------------------------------------- */

static void
sc_dispatch(struct smtp_client *c, const struct smtp_reply *r)
{
	switch (c->st) {
	case ST_GREETING:
		sc_reply_greeting(c, r);
		break;
	case ST_EHLO:
	case ST_HELO:
	case ST_EHLO_TLS:
		sc_reply_ehlo(c, r);
		break;
	case ST_STARTTLS:
		sc_reply_starttls(c, r);
		break;
	case ST_RSET:
		sc_reply_rset(c, r);
		break;
	case ST_TX:
		sc_reply_tx(c, r);
		break;
	case ST_BODY:
	case ST_DOT:
		sc_reply_dot(c, r);
		break;
	case ST_CONNECT:
	case ST_HANDSHAKE:
	case ST_IDLE:
	case ST_NEXT:
	case ST_QUIT:
		break;
	}
}

/* sc_log_reply - every reply at debug level, for tracing a delivery. */
static void
sc_log_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	char v[600];

	if (c->req.tls_loglevel >= 3)
		sc_log(c, "event=out-reply code=%u enhanced=%s lines=%zu text=%s", r->code,
		       r->enhanced[0] != '\0' ? r->enhanced : "-", r->nlines,
		       log_value(v, sizeof(v), r->text, strlen(r->text)));
	else
		log_debug("sid=%016" PRIx64 " proto=smtp-out event=out-reply code=%u "
		          "enhanced=%s lines=%zu text=%s",
		          conn_id(c->conn), r->code, r->enhanced[0] != '\0' ? r->enhanced : "-",
		          r->nlines, log_value(v, sizeof(v), r->text, strlen(r->text)));
}

/* sc_unasked - bytes while no command is out (often a 421 before the
   server's idle close): the session is out of step and ends. */
static void
sc_unasked(struct smtp_client *c)
{
	buf_clear(conn_in(c->conn));
	if (c->st == ST_NEXT) {
		sc_host_failed(c,
		               "protocol error from %s while reusing the connection: "
		               "data sent while idle",
		               sc_host(c));
	} else {
		sc_log(c, "event=idle-close reason=unasked-data");
		c->st = ST_QUIT;
	}
	sc_drop(c, "unasked-data");
}

static void
sc_on_input(struct conn *conn)
{
	struct smtp_client *c = conn_ctx(conn);
	struct smtp_reply r;
	const char *err;
	int rc;

	if (c->st == ST_IDLE || c->st == ST_NEXT) {
		sc_unasked(c);
		return;
	}
	for (;;) {
		if (c->reported || c->st == ST_HANDSHAKE || c->st == ST_QUIT) {
			buf_clear(conn_in(conn)); /* nothing more to learn */
			return;
		}
		if ((rc = smtp_reply_parse(&c->rp, conn_in(conn), &r, &err)) == 0)
			return;
		if (rc < 0) {
			sc_lost(c, "protocol error from", err);
			sc_drop(c, "protocol-error");
			return;
		}
		sc_log_reply(c, &r);
		sc_arm(c); /* the next step gets its own time */
		sc_dispatch(c, &r);
	}
}

static void
sc_on_connected(struct conn *conn)
{
	struct smtp_client *c = conn_ctx(conn);

	c->st = ST_GREETING;
	c->born = uv_now(c->loop);
	smtp_reply_parser_init(&c->rp, false);
	sc_log(c, "event=connect ip=%s port=%d level=%s", conn_peer_ip(conn), conn_peer_port(conn),
	       tls_level_name(c->req.tls_level));
	sc_arm(c);
}

static void
sc_on_drained(struct conn *conn)
{
	struct smtp_client *c = conn_ctx(conn);

	if (c->st == ST_BODY && !c->reported)
		sc_body_next(c);
}

/* sc_tls_result - TLS facts for the result and the log line admins grep. */
static void
sc_tls_result(struct smtp_client *c)
{
	const char *detail = conn_tls_verify_error(c->conn);
	char v[300];

	c->res.tls = true;
	sc_copy_str(c->res.tls_version, sizeof(c->res.tls_version), conn_tls_version(c->conn));
	sc_copy_str(c->res.tls_cipher, sizeof(c->res.tls_cipher), conn_tls_cipher(c->conn));
	c->res.peer_cert = tls_peer_name((enum tls_peer)conn_tls_peer(c->conn));
	if (c->req.tls_loglevel >= 1)
		sc_log(c, "event=tls-out level=%s version=%s cipher=%s peer=%s detail=%s",
	       tls_level_name(c->req.tls_level), c->res.tls_version, c->res.tls_cipher,
	       c->res.peer_cert,
	       detail != NULL ? log_value(v, sizeof(v), detail, strlen(detail)) : "-");
}

static void
sc_on_tls_ready(struct conn *conn)
{
	struct smtp_client *c = conn_ctx(conn);
	int peer = conn_tls_peer(conn);
	const char *detail = conn_tls_verify_error(conn);

	if (c->reported)
		return;
	sc_tls_result(c);
	if (tls_level_requires_auth(c->req.tls_level) && peer != TLS_PEER_VERIFIED) {
		sc_host_failed(c, "%s: Server certificate not %s (%s)", sc_host(c),
		               peer == TLS_PEER_TRUSTED ? "verified" : "trusted",
		               detail != NULL ? detail : "unknown");
		sc_quit(c);
		return;
	}
	/* RFC 3207 4.2: forget everything learnt in the clear. */
	c->ext = 0;
	c->size_limit = 0;
	sc_ehlo(c, ST_EHLO_TLS);
	sc_arm(c);
}

static void
sc_on_closed(struct conn *conn, const char *reason)
{
	struct smtp_client *c = conn_ctx(conn);

	if (!c->reported)
		sc_lost(c, "lost connection with", reason);
	c->conn = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	uv_timer_stop(&c->timer);
	if (!c->held) {
		sc_free_later(c);
		return;
	}
	/* idle and the caller's: it learns now, or from smtp_client_usable() */
	if (c->closed != NULL)
		c->closed(c->closed_ctx, c);
}

static void
sc_on_idle(uv_timer_t *t)
{
	struct smtp_client *c = t->data;

	if (c->st != ST_IDLE)
		return;
	sc_log(c, "event=idle-close reason=idle-limit");
	sc_quit(c); /* closed() tells the owner */
}

static void
sc_on_timer(uv_timer_t *t)
{
	struct smtp_client *c = t->data;
	bool cap = uv_now(c->loop) >= c->deadline;

	if (c->reported)
		return;
	sc_lost(c, "conversation timed out with",
	        cap ? "session time limit exceeded" : "no reply in time");
	sc_drop(c, "timeout");
}

/* ---- public ------------------------------------------------------------ */

static char *
sc_dup(const char *s)
{
	return xstrdup(s != NULL ? s : "");
}

/* sc_set_tx - copies the transaction's part of req, resets its state and
   the per-transaction cap. */
static void
sc_set_tx(struct smtp_client *c, const struct smtp_client_req *req)
{
	size_t n = req->nrcpts;
	const char **rcpts = xcalloc(n + 1, sizeof(*rcpts));
	uint64_t cap;

	c->req.sender = sc_dup(req->sender);
	c->req.msg_path = sc_dup(req->msg_path);
	for (size_t i = 0; i < n; i++)
		rcpts[i] = sc_dup(req->rcpts[i]);
	c->req.rcpts = rcpts;
	c->req.nrcpts = n;
	c->req.msg_size = req->msg_size;
	c->req.smtputf8 = req->smtputf8;
	c->req.eightbit = req->eightbit;
	c->req.timeout_ms = req->timeout_ms != 0 ? req->timeout_ms : 300 * 1000; /* 4.5.3.2 */
	c->req.session_timeout_ms = req->session_timeout_ms;
	c->res.rcpt = xcalloc(n + 1, sizeof(*c->res.rcpt));
	c->final = xcalloc(n + 1, sizeof(*c->final));
	c->accepted = xcalloc(n + 1, sizeof(*c->accepted));
	c->naccepted = 0;
	c->mail_ok = false;
	c->next_cmd = c->next_reply = 0;
	c->body_bytes = 0;
	c->res.reason[0] = c->res.data_text[0] = '\0';
	c->res.data_code = 0;
	c->res.reusable = false;
	cap = req->session_timeout_ms;
	if (cap == 0)
		cap = c->req.timeout_ms * (SC_SESSION_STEPS + n);
	c->deadline = uv_now(c->loop) + cap;
}

struct smtp_client *
smtp_client_start(uv_loop_t *loop, const struct smtp_client_req *req, smtp_client_done_fn *done,
                  void *ctx)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->req = *req;
	c->req.helo = sc_dup(req->helo);
	c->req.mx_host = sc_dup(req->mx_host);
	c->req.nexthop = sc_dup(req->nexthop);
	sc_set_tx(c, req);
	c->done = done;
	c->ctx = ctx;
	c->fd = -1;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->st = ST_CONNECT;
	c->conn = conn_connect(loop, (const struct sockaddr *)&c->req.addr, c->req.timeout_ms,
	                       &sc_handler, c);
	sc_arm(c);
	return c;
}

/* sc_on_next - the loop turn after smtp_client_next(): RSET or MAIL. */
static void
sc_on_next(uv_timer_t *t)
{
	struct smtp_client *c = t->data;

	if (c->st != ST_NEXT)
		return;
	if (!c->need_rset) {
		sc_start_tx(c);
		return;
	}
	c->st = ST_RSET;
	sc_send(c, "RSET");
	sc_arm(c);
}

bool
smtp_client_usable(const struct smtp_client *c)
{
	return c != NULL && c->held && c->st == ST_IDLE && c->conn != NULL && !c->freeing;
}

int
smtp_client_next(struct smtp_client *c, const struct smtp_client_req *req,
                 smtp_client_done_fn *done, void *ctx)
{
	if (!smtp_client_usable(c))
		return -1;
	uv_timer_stop(&c->timer);
	sc_free_tx(c);
	sc_set_tx(c, req);
	c->done = done;
	c->ctx = ctx;
	c->closed = NULL;
	c->closed_ctx = NULL;
	c->held = false; /* the client's own until done() */
	c->reported = false;
	c->st = ST_NEXT;
	uv_timer_start(&c->timer, sc_on_next, 0, 0);
	return 0;
}

void
smtp_client_on_close(struct smtp_client *c, smtp_client_closed_fn *closed, void *ctx)
{
	c->closed = closed;
	c->closed_ctx = ctx;
}

void
smtp_client_release(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	c->held = false;
	c->closed = NULL;
	c->reported = true; /* no done() for whatever was under way */
	uv_timer_stop(&c->timer);
	if (c->conn == NULL)
		sc_free_later(c); /* dead while idle */
	else if (c->st == ST_IDLE)
		sc_quit(c); /* sc_on_closed frees */
	else
		sc_drop(c, "released");
}

void
smtp_client_cancel(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	c->reported = true; /* done() is not called */
	c->held = false;
	c->closed = NULL;
	uv_timer_stop(&c->timer);
	if (c->conn != NULL)
		conn_close(c->conn, "cancelled");
	else if (!c->freeing)
		sc_free_later(c); /* an idle session the server had closed */
}
