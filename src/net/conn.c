/*
 * conn.c -- one connection: libuv TCP stream, optional TLS over memory BIOs.
 *
 * Data path. Reads land in a per-thread scratch buffer; plaintext is appended
 * to c->in, ciphertext is BIO_write()n into the SSL's read BIO and SSL_read()
 * is drained into c->in until it wants more, so no decrypted byte waits
 * unseen inside OpenSSL (STYLE.md 6). Output is queued in c->out; a flush
 * moves it to c->wbuf (plaintext: the two buffers are swapped, no copy;
 * TLS: SSL_write() into the write BIO, then the ciphertext is read out) and
 * issues one uv_write(). At most one write is in flight: output queued
 * meanwhile is sent when it completes, which keeps everything in order.
 *
 * Lifetime. conn_close() stops reading, flushes, then closes the libuv
 * handles; closed() runs from the last close callback and the conn is freed
 * right after. Nothing here calls a handler from inside a conn_* call.
 *
 * Client conns (conn_connect) share all of this; they add a connect timeout
 * on the same timer and, after a client STARTTLS, the peer classification
 * from tls_client_check() for the engine's policy decision.
 *
 * Limits: CONN_* below. Standards: RFC 3207 sec. 4.2 (STARTTLS purge), RFC
 * 8314 (implicit TLS). Security: remote-facing; every buffer is bounded and a
 * peer that stops reading is disconnected after CONN_LINGER_MS at close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "net/conn_int.h"
#include "tls/tls.h"

#define CONN_IN_DEFAULT (64 * 1024)
#define CONN_OUT_MAX (1024 * 1024) /* conn_write() fails beyond this */
#define CONN_OUT_HIGH (256 * 1024) /* stop reading above ... */
#define CONN_OUT_LOW (64 * 1024)   /* ... until below this */
#define CONN_RBIO_MAX (64 * 1024)  /* undecrypted backlog that stops reading */
#define CONN_SHRINK (16 * 1024)    /* idle buffers above this are freed */
#define CONN_IDLE_DEFAULT_MS (300 * 1000)
#define CONN_LINGER_MS (10 * 1000)

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* idle timeout, "run soon" after resume, linger at close */
	uv_write_t wreq;
	uv_connect_t creq; /* client conns */
	uint64_t id;
	const struct conn_handler *h;
	void *ctx;
	struct buf in;   /* plaintext for the engine */
	struct buf out;  /* plaintext queued by the engine */
	struct buf wbuf; /* bytes owned by the write in flight */
	size_t out_raw;  /* leading bytes of out queued before STARTTLS */
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	uint64_t idle_ms;
	char *reason;
	unsigned handles; /* libuv handles not yet closed */
	bool started, reading, writing, paused, throttled, eof, kick;
	bool tls_up, tls_failed, closing, shut;
	bool client, connecting;
	int level;               /* client policy: enum tls_level */
	char *mx_host, *nexthop; /* client policy names */
	enum tls_peer peer;      /* client: outcome of tls_client_check() */
	const char *peer_detail; /* why not Verified, static */
	char service[16];
	char peer_ip[64], local_ip[64];
	int peer_port, local_port;
};

/* One read at a time per thread: libuv calls alloc and read back to back. */
static _Thread_local uint8_t conn_scratch[64 * 1024];

static void conn_process(struct conn *c);
static void conn_send(struct conn *c);
static void conn_update_reading(struct conn *c);
static void conn_on_timer(uv_timer_t *t);

/* conn_unsent - bytes queued but not yet handed to the kernel. */
static size_t
conn_unsent(const struct conn *c)
{
	size_t n = buf_len(&c->out) + buf_len(&c->wbuf);

	if (c->wbio != NULL)
		n += BIO_ctrl_pending(c->wbio);
	return n;
}

/* conn_in_room - plaintext bytes c->in can still take. */
static size_t
conn_in_room(const struct conn *c)
{
	size_t len = buf_len(&c->in);

	return len >= c->in.max ? 0 : c->in.max - len;
}

/* conn_tls_more - ciphertext or decrypted bytes still inside OpenSSL. */
static bool
conn_tls_more(const struct conn *c)
{
	return c->ssl != NULL && (SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(c->rbio) > 0);
}

/* conn_release - give large idle buffers back (bursts of DATA, big FETCH). */
static void
conn_release(struct buf *b)
{
	size_t max = b->max;

	if (buf_len(b) == 0 && b->cap > CONN_SHRINK) {
		buf_deinit(b);
		buf_init(b, 0, max);
	}
}

static void
conn_free(struct conn *c)
{
	SSL_free(c->ssl);
	buf_deinit(&c->in);
	buf_deinit(&c->out);
	buf_deinit(&c->wbuf);
	free(c->reason);
	free(c->mx_host);
	free(c->nexthop);
	free(c);
}

/* conn_on_handle_closed - the last handle gone: tell the engine, free. */
static void
conn_on_handle_closed(uv_handle_t *hd)
{
	struct conn *c = hd->data;

	if (--c->handles > 0)
		return;
	if (c->h != NULL && c->h->closed != NULL)
		c->h->closed(c, c->reason != NULL ? c->reason : "closed");
	conn_free(c);
}

/* conn_shut - close the handles now; a write in flight is cancelled. */
static void
conn_shut(struct conn *c)
{
	if (c->shut)
		return;
	c->shut = true;
	c->closing = true;
	c->reading = false;
	c->handles = 2;
	uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
}

/* conn_abort - close without sending what is queued (the peer is gone). */
static void conn_abort(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
conn_abort(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	if (c->reason == NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		c->reason = xstrdup(msg);
	}
	conn_shut(c);
}

/* conn_arm_idle - restart the idle timer, unless the timer has another job. */
static void
conn_arm_idle(struct conn *c)
{
	if (c->closing || c->kick)
		return;
	if (c->idle_ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, conn_on_timer, c->idle_ms, 0);
}

/* conn_tls_log_up - the one line a mail admin greps for. */
static void
conn_tls_log_up(struct conn *c)
{
	const char *sni = tls_ssl_sni(c->ssl);
	char v[300];

	log_info("sid=%016" PRIx64 " proto=%s event=tls version=%s cipher=%s bits=%d sni=%s "
	         "peer_cert=%s",
	         c->id, c->service, tls_ssl_version(c->ssl), tls_ssl_cipher(c->ssl),
	         tls_ssl_bits(c->ssl),
	         sni != NULL ? log_value(v, sizeof(v), sni, strlen(sni)) : "-",
	         conn_tls_peer_cert(c));
}

/* conn_tls_fail - log and close after a fatal TLS error (no close_notify). */
static void
conn_tls_fail(struct conn *c, const char *what, int err)
{
	const char *why = err == SSL_ERROR_SSL ? tls_error_reason() : "unexpected error";
	char v[300], reason[300];

	ERR_clear_error();
	c->tls_failed = true;
	log_info("sid=%016" PRIx64 " proto=%s event=%s peer=%s reason=%s", c->id, c->service, what,
	         c->peer_ip, log_value(v, sizeof(v), why, strlen(why)));
	snprintf(reason, sizeof(reason), "%s: %s", what, why);
	/* conn_close, not abort: the alert OpenSSL queued tells the peer why. */
	conn_close(c, reason);
}

/* conn_tls_handshake - one step; 1 done, 0 wants more bytes, -1 closed. */
static int
conn_tls_handshake(struct conn *c)
{
	int r, err;

	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->tls_up = true;
		if (c->client) {
			struct tls_client_policy p = { c->level, c->mx_host, c->nexthop };

			c->peer = tls_client_check(c->ssl, &p, &c->peer_detail);
		}
		/* Handshake output precedes the raw STARTTLS reply on the wire
		   only if the peer answered a 220 it never saw: impossible. */
		BUG_ON(c->out_raw != 0);
		conn_tls_log_up(c);
		conn_arm_idle(c);
		if (c->h != NULL && c->h->tls_ready != NULL)
			c->h->tls_ready(c);
		conn_flush(c); /* anything the engine queued during the handshake */
		return c->closing ? -1 : 1;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ)
		return 0;
	conn_tls_fail(c, "tls-handshake-failed", err);
	return -1;
}

/* conn_tls_read - drain decrypted bytes into c->in while it has room.
   0 when OpenSSL wants more or c->in is full, -1 when closed. */
static int
conn_tls_read(struct conn *c)
{
	size_t room, n;
	int err;

	while ((room = conn_in_room(c)) > 0) {
		ERR_clear_error();
		if (SSL_read_ex(c->ssl, conn_scratch, MIN(room, sizeof(conn_scratch)), &n) == 1) {
			if (buf_append(&c->in, conn_scratch, n) < 0)
				panic("conn: input room miscounted");
			continue;
		}
		err = SSL_get_error(c->ssl, 0);
		if (err == SSL_ERROR_WANT_READ)
			return 0;
		if (err == SSL_ERROR_ZERO_RETURN) { /* close_notify: a clean EOF */
			c->eof = true;
			return 0;
		}
		conn_tls_fail(c, "tls-error", err);
		return -1;
	}
	return 0;
}

/* conn_tls_pump - handshake, then decrypt; 0 on success, -1 when closed. */
static int
conn_tls_pump(struct conn *c)
{
	if (!c->tls_up) {
		int r = conn_tls_handshake(c);

		if (r <= 0)
			return r;
	}
	return conn_tls_read(c);
}

/*
 * conn_process - feed the engine until it has all there is, it pauses, or
 * the conn closes. The engine consuming nothing from a full buffer while not
 * paused would stall the session forever, so that closes it.
 */
static void
conn_process(struct conn *c)
{
	while (!c->closing) {
		size_t before;

		if (c->ssl != NULL && conn_tls_pump(c) < 0)
			break;
		before = buf_len(&c->in);
		/* Throttled: replies pile up faster than the peer reads them,
		   so parse nothing more until they drain. */
		if (c->closing || c->paused || c->throttled || before == 0 || c->h == NULL)
			break;
		c->h->input(c);
		if (c->closing || c->paused)
			break;
		if (buf_len(&c->in) == before) {
			if (conn_in_room(c) == 0)
				conn_close(c, "input-overflow");
			break;
		}
		/* Progress was made: offer the rest (an engine may parse one
		   command per call) and whatever OpenSSL still holds. */
		if (buf_len(&c->in) == 0 && !conn_tls_more(c))
			break;
	}
	if (c->ssl != NULL && !c->closing)
		conn_flush(c); /* handshake records, tickets, alerts */
	if (c->eof && !c->paused && !c->throttled && !c->closing)
		conn_close(c, "eof");
	conn_release(&c->in);
	conn_update_reading(c);
}

/* conn_on_timer - one timer, three jobs: linger, deferred input, idle. */
static void
conn_on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->closing) {
		conn_abort(c, "linger-timeout"); /* keeps the close reason */
		return;
	}
	if (c->connecting) {
		conn_abort(c, "connect-timeout");
		return;
	}
	if (c->kick) {
		c->kick = false;
		conn_arm_idle(c);
		conn_process(c);
		return;
	}
	if (c->ssl != NULL && !c->tls_up) {
		log_info("sid=%016" PRIx64 " proto=%s event=tls-handshake-failed peer=%s "
		         "reason=timeout",
		         c->id, c->service, c->peer_ip);
		conn_close(c, "tls-handshake-failed: timeout");
		return;
	}
	if (c->h != NULL && c->h->timeout != NULL)
		c->h->timeout(c);
	else
		conn_close(c, "timeout");
	conn_arm_idle(c); /* a handler that did not close is asked again later */
}

static void
conn_on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b)
{
	struct conn *c = hd->data;
	size_t n = sizeof(conn_scratch);

	(void)hint;
	/* Plaintext must fit c->in whole; ciphertext goes to the read BIO. */
	if (c->ssl == NULL)
		n = MIN(n, conn_in_room(c));
	*b = uv_buf_init((char *)conn_scratch, (unsigned)n);
}

/* conn_on_data - n bytes arrived in the scratch buffer. */
static void
conn_on_data(struct conn *c, const uint8_t *p, size_t n)
{
	/* A handshake is bounded as a whole, not per byte (slow loris). */
	if (c->ssl == NULL || c->tls_up)
		conn_arm_idle(c);
	if (c->ssl == NULL) {
		if (buf_append(&c->in, p, n) < 0)
			panic("conn: read beyond input room");
	} else if (BIO_write(c->rbio, p, (int)n) != (int)n) {
		conn_abort(c, "tls-error: BIO_write failed");
		return;
	}
	conn_process(c);
}

static void
conn_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;

	(void)b;
	if (c->shut)
		return;
	if (nread > 0) {
		conn_on_data(c, conn_scratch, (size_t)nread);
	} else if (nread == UV_EOF) {
		c->eof = true;
		conn_process(c);
	} else if (nread == UV_ENOBUFS) {
		conn_update_reading(c); /* c->in is full: wait for the engine */
	} else if (nread < 0) {
		conn_abort(c, "read-error: %s", uv_strerror((int)nread));
	}
}

/* conn_update_reading - read from the socket only when input can go somewhere. */
static void
conn_update_reading(struct conn *c)
{
	bool want = c->started && !c->closing && !c->eof && !c->paused && !c->throttled;

	if (c->ssl == NULL)
		want = want && conn_in_room(c) > 0;
	else
		want = want && BIO_ctrl_pending(c->rbio) < CONN_RBIO_MAX;
	if (want == c->reading)
		return;
	if (want && uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) < 0) {
		conn_abort(c, "read-error: cannot start reading");
		return;
	}
	if (!want)
		uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = want;
}

/* conn_kick - run conn_process from the loop soon (never from the engine's
   stack: a conn_* call must not re-enter input()). */
static void
conn_kick(struct conn *c)
{
	if (c->closing || c->kick)
		return;
	c->kick = true;
	uv_timer_start(&c->timer, conn_on_timer, 0, 0);
}

/* conn_throttle - stop reading and parsing while the peer does not read our
   output; resume below the low-water mark. */
static void
conn_throttle(struct conn *c)
{
	size_t unsent = conn_unsent(c);

	if (!c->throttled && unsent > CONN_OUT_HIGH) {
		c->throttled = true;
	} else if (c->throttled && unsent < CONN_OUT_LOW) {
		c->throttled = false;
		if (buf_len(&c->in) > 0 || conn_tls_more(c) || c->eof)
			conn_kick(c);
	} else {
		return;
	}
	conn_update_reading(c);
}

static void
conn_on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	c->writing = false;
	buf_clear(&c->wbuf);
	conn_release(&c->wbuf);
	if (c->shut)
		return; /* cancelled by uv_close */
	if (status < 0) {
		conn_abort(c, "write-error: %s", uv_strerror(status));
		return;
	}
	conn_send(c);
	conn_throttle(c);
	if (!c->writing && !c->closing && conn_unsent(c) == 0 && c->h != NULL &&
	    c->h->drained != NULL)
		c->h->drained(c);
}

/* conn_fill_wbuf - move the next bytes for the wire into c->wbuf. */
static void
conn_fill_wbuf(struct conn *c)
{
	struct buf tmp;

	if (c->out_raw > 0 && c->out_raw < buf_len(&c->out)) {
		/* Rare: the engine queued more behind the STARTTLS reply. */
		if (buf_append(&c->wbuf, buf_peek(&c->out).p, c->out_raw) < 0)
			panic("conn: write buffer too small");
		buf_consume(&c->out, c->out_raw);
	} else if (c->out_raw > 0 || c->ssl == NULL) {
		tmp = c->wbuf; /* swap: the write owns the queued bytes, no copy */
		c->wbuf = c->out;
		c->out = tmp;
	} else {
		size_t avail, n = MIN(BIO_ctrl_pending(c->wbio), (size_t)CONN_OUT_MAX);
		uint8_t *w;
		int r;

		if (n == 0)
			return;
		if ((w = buf_reserve(&c->wbuf, n, &avail)) == NULL)
			panic("conn: write buffer too small");
		if ((r = BIO_read(c->wbio, w, (int)n)) > 0)
			buf_commit(&c->wbuf, (size_t)r);
	}
	c->out_raw = 0;
}

/* conn_send - start the next write, or finish a close when all is sent. */
static void
conn_send(struct conn *c)
{
	uv_buf_t b;
	int r;

	if (c->writing || c->shut || c->connecting)
		return;
	conn_fill_wbuf(c);
	if (buf_len(&c->wbuf) == 0) {
		if (c->closing)
			conn_shut(c);
		return;
	}
	b = uv_buf_init((char *)buf_peek(&c->wbuf).p, (unsigned)buf_len(&c->wbuf));
	c->wreq.data = c;
	if ((r = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_on_write)) < 0) {
		buf_clear(&c->wbuf);
		conn_abort(c, "write-error: %s", uv_strerror(r));
		return;
	}
	c->writing = true;
}

/* conn_tls_encrypt - move queued plaintext into the SSL (never blocks: the
   write BIO is memory). */
static void
conn_tls_encrypt(struct conn *c)
{
	struct span s = buf_peek(&c->out);
	size_t n;

	if (s.n == 0)
		return;
	ERR_clear_error();
	if (SSL_write_ex(c->ssl, s.p, s.n, &n) != 1 || n != s.n) {
		conn_abort(c, "tls-error: %s", tls_error_reason());
		return;
	}
	buf_clear(&c->out);
	conn_release(&c->out);
}

void
conn_flush(struct conn *c)
{
	if (c->shut)
		return;
	if (c->tls_up && !c->tls_failed)
		conn_tls_encrypt(c);
	conn_send(c);
	conn_throttle(c);
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->closing || n > CONN_OUT_MAX - MIN(conn_unsent(c), (size_t)CONN_OUT_MAX))
		return -1;
	if (buf_append(&c->out, p, n) < 0)
		return -1;
	return 0;
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || c->closing ||
	    (size_t)n > CONN_OUT_MAX - MIN(conn_unsent(c), (size_t)CONN_OUT_MAX))
		return -1;
	va_start(ap, fmt);
	r = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	return r;
}

void
conn_close(struct conn *c, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	c->kick = false;
	c->reason = xstrdup(reason);
	if (c->connecting) { /* nothing was sent: no linger */
		conn_shut(c);
		return;
	}
	conn_update_reading(c);
	if (c->tls_up && !c->tls_failed) {
		conn_tls_encrypt(c);
		/* close_notify after the last reply; we do not wait for the
		   peer's (RFC 8446 6.1 allows closing the read side). */
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	conn_send(c);
	if (!c->shut)
		uv_timer_start(&c->timer, conn_on_timer, CONN_LINGER_MS, 0);
}

void
conn_pause(struct conn *c)
{
	c->paused = true;
	conn_update_reading(c);
}

void
conn_resume(struct conn *c)
{
	if (!c->paused || c->closing)
		return;
	c->paused = false;
	if (buf_len(&c->in) > 0 || conn_tls_more(c) || c->eof)
		conn_kick(c);
	conn_update_reading(c);
}

/* conn_tls_attach - an SSL (server or client) over two memory BIOs. */
static void
conn_tls_attach(struct conn *c, SSL *ssl)
{
	c->ssl = ssl;
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->rbio == NULL || c->wbio == NULL)
		die("conn: BIO_new: out of memory");
	/* An empty read BIO means "wait for more", not EOF. */
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
}

size_t
conn_starttls(struct conn *c, struct tls_server *t)
{
	size_t dropped = buf_len(&c->in);

	BUG_ON(c->ssl != NULL);
	/* RFC 3207 4.2: bytes pipelined behind STARTTLS arrived in plaintext
	   and may have been injected; they are never parsed. */
	buf_clear(&c->in);
	c->out_raw = buf_len(&c->out);
	conn_tls_attach(c, tls_server_ssl_new(t));
	c->paused = false;
	c->kick = false;
	/* The handshake is bounded by the idle timeout as a whole. */
	conn_arm_idle(c);
	conn_flush(c);
	conn_update_reading(c);
	return dropped;
}

void
conn_set_handler(struct conn *c, const struct conn_handler *h, void *ctx)
{
	c->h = h;
	c->ctx = ctx;
}

void *
conn_ctx(struct conn *c)
{
	return c->ctx;
}

uint64_t
conn_id(const struct conn *c)
{
	return c->id;
}

struct buf *
conn_in(struct conn *c)
{
	return &c->in;
}

void
conn_set_input_max(struct conn *c, size_t max)
{
	c->in.max = max;
	conn_update_reading(c);
}

void
conn_set_idle_timeout(struct conn *c, uint64_t ms)
{
	c->idle_ms = ms;
	conn_arm_idle(c);
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls_up;
}

const char *
conn_tls_version(const struct conn *c)
{
	return c->tls_up ? tls_ssl_version(c->ssl) : NULL;
}

const char *
conn_tls_cipher(const struct conn *c)
{
	return c->tls_up ? tls_ssl_cipher(c->ssl) : NULL;
}

const char *
conn_tls_cipher_std(const struct conn *c)
{
	return c->tls_up ? tls_ssl_cipher_std(c->ssl) : NULL;
}

int
conn_tls_bits(const struct conn *c)
{
	return c->tls_up ? tls_ssl_bits(c->ssl) : 0;
}

const char *
conn_tls_sni(const struct conn *c)
{
	return c->tls_up ? tls_ssl_sni(c->ssl) : NULL;
}

const char *
conn_tls_peer_cert(const struct conn *c)
{
	if (!c->tls_up)
		return NULL;
	return c->client ? tls_peer_name(c->peer) : tls_ssl_peer_cert(c->ssl);
}

int
conn_tls_peer(const struct conn *c)
{
	return c->tls_up && c->client ? (int)c->peer : -1;
}

const struct ssl_st *
conn_tls_ssl(const struct conn *c)
{
	return c->tls_up ? c->ssl : NULL;
}

const char *
conn_tls_verify_error(const struct conn *c)
{
	return c->tls_up && c->client ? c->peer_detail : NULL;
}

const char *
conn_peer_ip(const struct conn *c)
{
	return c->peer_ip;
}

int
conn_peer_port(const struct conn *c)
{
	return c->peer_port;
}

const char *
conn_local_ip(const struct conn *c)
{
	return c->local_ip;
}

int
conn_local_port(const struct conn *c)
{
	return c->local_port;
}

/* conn_addr - numeric address and port of a socket address. */
static void
conn_addr(const struct sockaddr_storage *ss, char *ip, size_t size, int *port_r)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

	if (uv_ip_name((const struct sockaddr *)ss, ip, size) != 0)
		snprintf(ip, size, "unknown");
	*port_r = ss->ss_family == AF_INET6 ? ntohs(s6->sin6_port) : ntohs(s4->sin_port);
}

/* conn_addrs - fill peer and local address strings once, for logs. */
static void
conn_addrs(struct conn *c)
{
	struct sockaddr_storage ss;
	int len;

	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		conn_addr(&ss, c->peer_ip, sizeof(c->peer_ip), &c->peer_port);
	else
		snprintf(c->peer_ip, sizeof(c->peer_ip), "unknown");
	memset(&ss, 0, sizeof(ss));
	len = sizeof(ss);
	if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		conn_addr(&ss, c->local_ip, sizeof(c->local_ip), &c->local_port);
	else
		snprintf(c->local_ip, sizeof(c->local_ip), "unknown");
}

/* conn_alloc - a conn with its two handles initialised, no I/O yet. */
static struct conn *
conn_alloc(uv_loop_t *loop)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	buf_init(&c->in, 0, CONN_IN_DEFAULT);
	buf_init(&c->out, 0, CONN_OUT_MAX);
	buf_init(&c->wbuf, 0, CONN_OUT_MAX);
	return c;
}

struct conn *
conn_accept(uv_stream_t *server, const char *service, struct tls_server *tls, const char **error_r)
{
	struct conn *c = conn_alloc(server->loop);
	int r;

	if ((r = uv_accept(server, (uv_stream_t *)&c->tcp)) < 0) {
		*error_r = uv_strerror(r);
		conn_abort(c, "accept-failed"); /* no handler: nobody is told */
		return NULL;
	}
	if (uv_random(NULL, NULL, &c->id, sizeof(c->id), 0, NULL) != 0)
		die("conn: no randomness for session ids");
	snprintf(c->service, sizeof(c->service), "%s", service);
	c->idle_ms = CONN_IDLE_DEFAULT_MS;
	/* Replies are batched per flush, so Nagle would only add latency. */
	uv_tcp_nodelay(&c->tcp, 1);
	conn_addrs(c);
	if (tls != NULL)
		conn_tls_attach(c, tls_server_ssl_new(tls));
	return c;
}

void
conn_start(struct conn *c)
{
	c->started = true;
	if (c->closing)
		return;
	if (c->h == NULL) {
		log_warnx("sid=%016" PRIx64 " proto=%s event=bug reason=no-handler", c->id,
		          c->service);
		conn_close(c, "no-handler");
		return;
	}
	conn_arm_idle(c);
	conn_update_reading(c);
}

/* conn_on_connect - the TCP connect finished, failed or was cancelled. */
static void
conn_on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->shut)
		return; /* cancelled by uv_close: closed() reports the reason */
	c->connecting = false;
	uv_timer_stop(&c->timer);
	if (status < 0) {
		conn_abort(c, "connect-failed: %s", uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_addrs(c);
	c->started = true;
	conn_arm_idle(c);
	conn_update_reading(c);
	if (c->h->connected != NULL && !c->closing)
		c->h->connected(c);
}

struct conn *
conn_connect(uv_loop_t *loop, const struct sockaddr *sa, uint64_t timeout_ms,
             const struct conn_handler *h, void *ctx)
{
	struct conn *c = conn_alloc(loop);
	struct sockaddr_storage ss;
	int r;

	if (uv_random(NULL, NULL, &c->id, sizeof(c->id), 0, NULL) != 0)
		die("conn: no randomness for session ids");
	snprintf(c->service, sizeof(c->service), "smtp-out");
	c->h = h;
	c->ctx = ctx;
	c->client = true;
	c->connecting = true;
	/* Copied: the caller's sockaddr may be a shorter, less aligned type. */
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, sa,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                 : sizeof(struct sockaddr_in));
	conn_addr(&ss, c->peer_ip, sizeof(c->peer_ip), &c->peer_port);
	snprintf(c->local_ip, sizeof(c->local_ip), "unknown");
	c->creq.data = c;
	/* As listener.c: a peer that resets gives EPIPE to this conn, not
	   SIGPIPE to the process (a client-only process has no listener). */
	signal(SIGPIPE, SIG_IGN);
	if ((r = uv_tcp_connect(&c->creq, &c->tcp, sa, conn_on_connect)) < 0) {
		c->connecting = false;
		conn_abort(c, "connect-failed: %s", uv_strerror(r));
		return c;
	}
	uv_timer_start(&c->timer, conn_on_timer, timeout_ms, 0);
	return c;
}

int
conn_starttls_client(struct conn *c, struct tls_client *t, const char *sni,
                     const struct tls_client_policy *p)
{
	BUG_ON(c->ssl != NULL || !c->client);
	/* RFC 3207 sec. 4.2 mirrored: nothing may follow the 220. */
	if (buf_len(&c->in) > 0)
		return -1;
	c->level = p->level;
	c->mx_host = p->mx_host != NULL ? xstrdup(p->mx_host) : NULL;
	c->nexthop = p->nexthop != NULL ? xstrdup(p->nexthop) : NULL;
	c->out_raw = buf_len(&c->out);
	conn_tls_attach(c, tls_client_ssl_new(t, sni));
	c->paused = false;
	/* The client speaks first: the loop runs the first handshake step
	   (ClientHello), never this call. */
	conn_kick(c);
	conn_update_reading(c);
	return 0;
}
