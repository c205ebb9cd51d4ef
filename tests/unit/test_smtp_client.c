/*
 * test_smtp_client.c -- the outbound SMTP client: reply parser table (whole
 * and byte by byte, garbage, bounds), then the engine against fake servers.
 *
 * Each fake server is a thread on 127.0.0.1 speaking plain sockets (and
 * OpenSSL for STARTTLS), scripted by struct fake_opts; the client runs on a
 * libuv loop in the main thread until it has freed itself. Certificates come
 * from the openssl CLI into a mkdtemp() directory, removed at the end.
 * Every socket read in a fake has a timeout, so a broken client fails the
 * test instead of hanging it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/log.h"
#include "harness.h"
#include "smtp/smtp_client.h"
#include "tls/tls.h"

/* ---- reply parser ------------------------------------------------------ */

#define IN(lit) .in = (lit), .inlen = sizeof(lit) - 1

static const struct reply_case {
	const char *in;
	size_t inlen;
	bool ehlo;
	int rc; /* 1 complete, 0 more, -1 error */
	unsigned code;
	const char *enhanced, *text;
	unsigned ext;
	uint64_t size;
	size_t nlines;
} reply_cases[] = {
        {IN("220 mx.example ESMTP\r\n"), .rc = 1, .code = 220, .enhanced = "",
         .text = "mx.example ESMTP", .nlines = 1},
        {IN("250\r\n"), .rc = 1, .code = 250, .enhanced = "", .text = "", .nlines = 1},
        {IN("250 2.1.5 Ok\r\n"), .rc = 1, .code = 250, .enhanced = "2.1.5", .text = "Ok",
         .nlines = 1},
        {IN("550 5.1.1 <x@y>: unknown\r\n"), .rc = 1, .code = 550, .enhanced = "5.1.1",
         .text = "<x@y>: unknown", .nlines = 1},
        /* class must match the code's first digit */
        {IN("550 4.1.1 no\r\n"), .rc = 1, .code = 550, .enhanced = "", .text = "4.1.1 no",
         .nlines = 1},
        {IN("451 4.3.0\r\n"), .rc = 1, .code = 451, .enhanced = "4.3.0", .text = "", .nlines = 1},
        {IN("250 2.1234.5 x\r\n"), .rc = 1, .code = 250, .enhanced = "", .text = "2.1234.5 x",
         .nlines = 1},
        {IN("554-5.7.1 first\r\n554-5.7.1 second\r\n554 5.7.1 third\r\n"), .rc = 1, .code = 554,
         .enhanced = "5.7.1", .text = "first second third", .nlines = 3},
        {IN("250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
            "250-smtputf8\r\n250-STARTTLS\r\n250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n"
            "250 DSN\r\n"),
         .ehlo = true, .rc = 1, .code = 250, .enhanced = "", .nlines = 9,
         .text = "mx.example PIPELINING SIZE 10240000 8BITMIME smtputf8 STARTTLS CHUNKING "
                 "ENHANCEDSTATUSCODES DSN",
         .ext = SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |
                SMTP_EXT_STARTTLS | SMTP_EXT_CHUNKING | SMTP_EXT_ENHANCEDSTATUSCODES,
         .size = 10240000},
        /* the greeting line's words are not keywords; SIZE without a value */
        {IN("250-STARTTLS\r\n250 SIZE\r\n"), .ehlo = true, .rc = 1, .code = 250, .enhanced = "",
         .text = "STARTTLS SIZE", .ext = SMTP_EXT_SIZE, .nlines = 2},
        {IN("250-x\r\n250 SIZE 99999999999999999999999\r\n"), .ehlo = true, .rc = 1, .code = 250,
         .enhanced = "", .text = "x SIZE 99999999999999999999999", .ext = SMTP_EXT_SIZE,
         .nlines = 2},
        /* keywords only in EHLO mode */
        {IN("250-x\r\n250 PIPELINING\r\n"), .rc = 1, .code = 250, .enhanced = "",
         .text = "x PIPELINING", .nlines = 2},
        {IN("250-x\r\n250-y\r\n"), .rc = 0},
        {IN("250 x"), .rc = 0},
        {IN("250-x\r\n251 y\r\n"), .rc = -1},
        {IN("garbage\r\n"), .rc = -1},
        {IN("2500 x\r\n"), .rc = -1},
        {IN("150 x\r\n"), .rc = -1},
        {IN("260 x\r\n"), .rc = -1},
        {IN("25\r\n"), .rc = -1},
        {IN("250 x\n"), .rc = -1},
        {IN("250 a\0b\r\n"), .rc = -1},
        {IN("250 a\x01 b\r\n"), .rc = -1},
        {IN("250 a\rb\r\n"), .rc = -1},
        {IN("250 caf\xc3\xa9\r\n"), .rc = 1, .code = 250, .enhanced = "", .text = "caf\xc3\xa9",
         .nlines = 1},
};

/* feed - runs one case in chunks of `chunk` bytes. */
static int
feed(const char *in, size_t inlen, bool ehlo, size_t chunk, struct smtp_reply *r, const char **err)
{
	struct smtp_reply_parser p;
	struct buf b;
	size_t off = 0;
	int rc = 0;

	smtp_reply_parser_init(&p, ehlo);
	buf_init(&b, 16, 1 << 20);
	while (rc == 0 && off < inlen) {
		size_t n = MIN(chunk, inlen - off);

		buf_append(&b, in + off, n);
		off += n;
		rc = smtp_reply_parse(&p, &b, r, err);
	}
	buf_deinit(&b);
	return rc;
}

static void
test_reply_table(void)
{
	static const size_t chunks[] = {SIZE_MAX, 1, 2, 7};

	for (size_t i = 0; i < nitems(reply_cases); i++) {
		const struct reply_case *c = &reply_cases[i];

		for (size_t k = 0; k < nitems(chunks); k++) {
			struct smtp_reply r;
			const char *err = NULL;
			int rc = feed(c->in, c->inlen, c->ehlo, chunks[k], &r, &err);

			if (rc != c->rc) {
				char show[256];

				fprintf(stderr, "case %zu chunk %zu: %s: rc %d err %s\n", i,
				        chunks[k],
				        t_show_bytes(show, sizeof(show), c->in, c->inlen), rc,
				        err != NULL ? err : "-");
			}
			CHECK_INT(rc, c->rc);
			if (rc == -1)
				CHECK(err != NULL);
			if (rc != 1 || c->rc != 1)
				continue;
			CHECK_INT(r.code, c->code);
			CHECK_STR(r.enhanced, c->enhanced);
			CHECK_STR(r.text, c->text);
			CHECK_INT(r.ext, c->ext);
			CHECK_INT(r.size, c->size);
			CHECK_INT(r.nlines, c->nlines);
		}
	}
}

/* Two replies back to back (pipelining): the second stays buffered. */
static void
test_reply_sequence(void)
{
	static const char in[] = "250 2.1.0 ok\r\n550 5.1.1 no\r\n354 go\r\n";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	const char *err;
	struct buf b;

	smtp_reply_parser_init(&p, false);
	buf_init(&b, 16, 1024);
	buf_append(&b, in, sizeof(in) - 1);
	CHECK_INT(smtp_reply_parse(&p, &b, &r, &err), 1);
	CHECK_INT(r.code, 250);
	CHECK_INT(smtp_reply_parse(&p, &b, &r, &err), 1);
	CHECK_INT(r.code, 550);
	CHECK_STR(r.enhanced, "5.1.1");
	CHECK_INT(smtp_reply_parse(&p, &b, &r, &err), 1);
	CHECK_INT(r.code, 354);
	CHECK_INT(smtp_reply_parse(&p, &b, &r, &err), 0);
	CHECK_INT(buf_len(&b), 0);
	buf_deinit(&b);
}

/* Bounds: long line, too many lines, too many bytes, long text truncated. */
static void
test_reply_bounds(void)
{
	struct smtp_reply r;
	const char *err;
	char *s = malloc(1 << 20);
	size_t n = 0;
	int rc;

	/* a line of exactly the limit passes, one byte more fails */
	n = (size_t)snprintf(s, 8, "250 ");
	memset(s + n, 'a', SMTP_REPLY_LINE_MAX - 2 - n);
	n = SMTP_REPLY_LINE_MAX - 2;
	memcpy(s + n, "\r\n", 2);
	CHECK_INT(feed(s, n + 2, false, SIZE_MAX, &r, &err), 1);
	CHECK_INT(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	s[n] = 'a';
	memcpy(s + n + 1, "\r\n", 2);
	CHECK_INT(feed(s, n + 3, false, SIZE_MAX, &r, &err), -1);
	/* an endless line without LF fails as soon as it passes the limit */
	memset(s + 4, 'a', 3 * SMTP_REPLY_LINE_MAX);
	CHECK_INT(feed(s, 3 * SMTP_REPLY_LINE_MAX, false, 1000, &r, &err), -1);
	/* 100 lines pass, 101 fail ("endless" multi-line replies) */
	for (int lines = 100; lines <= 200; lines += 100) {
		n = 0;
		for (int i = 0; i < lines; i++)
			n += (size_t)sprintf(s + n, "250%c line %d\r\n", i == lines - 1 ? ' ' : '-',
			                     i);
		rc = feed(s, n, true, SIZE_MAX, &r, &err);
		CHECK_INT(rc, lines == 100 ? 1 : -1);
		if (lines == 100)
			CHECK_INT(r.nlines, 100);
	}
	/* 64 KiB per reply even with fewer lines */
	n = 0;
	for (int i = 0; i < 20; i++) {
		n += (size_t)sprintf(s + n, "250-");
		memset(s + n, 'b', 4000);
		n += 4000;
		n += (size_t)sprintf(s + n, "\r\n");
	}
	n += (size_t)sprintf(s + n, "250 end\r\n");
	CHECK_INT(feed(s, n, false, SIZE_MAX, &r, &err), -1);
	CHECK_STR(err, "reply too large");
	free(s);
}

/* ---- fake servers ------------------------------------------------------ */

static char dir[64];
static char ca_pem[128], ca2_pem[128], srv_pem[128], srv_key[128];

struct fake_opts {
	const char *greeting;   /* raw; NULL = "220 fake ESMTP\r\n" */
	const char *ext;        /* EHLO keyword lines, "\n" separated */
	bool ehlo_5xx;          /* refuse EHLO (HELO fallback) */
	const char *starttls;   /* raw reply to STARTTLS; NULL = "220 2.0.0 go\r\n" */
	bool hang;              /* after the greeting, answer nothing */
	unsigned drip_ms;       /* send the greeting one byte per drip_ms */
	const char *data_reply; /* NULL = "250 2.0.0 queued" */
	size_t reset_after;     /* >0: RST after this many DATA bytes */
	bool close_after_dot;   /* 421 and close after the end-of-data reply */
	int accepts;            /* connections served one after another; 0 = 1 */
};

/* One fake runs at a time; its DATA stays readable after fake_stop(). */
static char fake_body[1 << 20];

struct fake {
	struct fake_opts o;
	int lfd, fd;
	int port;
	pthread_t th;
	SSL_CTX *ctx;
	SSL *ssl;
	char rbuf[8192];
	size_t rlen;
	char cmds[8192]; /* every command line received, "\n" separated */
	char *body;      /* fake_body: raw DATA bytes up to and including CRLF.CRLF */
	size_t bodylen;
	bool tls;
	int nconn; /* connections accepted */
};

static ssize_t
f_read(struct fake *f, void *p, size_t n)
{
	if (f->ssl != NULL) {
		int r = SSL_read(f->ssl, p, (int)n);

		return r > 0 ? r : -1;
	}
	return recv(f->fd, p, n, 0);
}

static void
f_send(struct fake *f, const char *s, size_t n)
{
	if (f->ssl != NULL)
		SSL_write(f->ssl, s, (int)n);
	else
		(void)!send(f->fd, s, n, MSG_NOSIGNAL);
}

static void
f_puts(struct fake *f, const char *s)
{
	f_send(f, s, strlen(s));
}

/* f_line - one line without CRLF into `line`; -1 at EOF/timeout. */
static int
f_line(struct fake *f, char *line, size_t size)
{
	for (;;) {
		char *lf = memchr(f->rbuf, '\n', f->rlen);
		ssize_t r;

		if (lf != NULL) {
			size_t n = (size_t)(lf - f->rbuf) + 1;
			size_t k = MIN(n, size - 1);

			memcpy(line, f->rbuf, k);
			line[k] = '\0';
			line[strcspn(line, "\r\n")] = '\0';
			memmove(f->rbuf, f->rbuf + n, f->rlen - n);
			f->rlen -= n;
			return 0;
		}
		if (f->rlen == sizeof(f->rbuf))
			return -1;
		if ((r = f_read(f, f->rbuf + f->rlen, sizeof(f->rbuf) - f->rlen)) <= 0)
			return -1;
		f->rlen += (size_t)r;
	}
}

/* f_data - raw bytes until CRLF.CRLF; RST after reset_after bytes. */
static int
f_data(struct fake *f)
{
	size_t cap = sizeof(fake_body), start = f->bodylen; /* reuse: messages follow */

	f->body = fake_body;
	for (;;) {
		ssize_t r;

		if (f->rlen > 0) {
			size_t n = MIN(f->rlen, cap - f->bodylen);

			memcpy(f->body + f->bodylen, f->rbuf, n);
			f->bodylen += n;
			memmove(f->rbuf, f->rbuf + n, f->rlen - n);
			f->rlen -= n;
		}
		if (f->o.reset_after > 0 && f->bodylen >= f->o.reset_after) {
			struct linger l = {1, 0};

			setsockopt(f->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			return -1;
		}
		if (f->bodylen - start >= 5 &&
		    memcmp(f->body + f->bodylen - 5, "\r\n.\r\n", 5) == 0)
			return 0;
		if (f->bodylen == cap)
			return -1;
		if ((r = f_read(f, f->rbuf, sizeof(f->rbuf))) <= 0)
			return -1;
		f->rlen = (size_t)r;
	}
}

static void
f_ehlo(struct fake *f)
{
	char out[2048] = "250-fake.example\r\n";
	const char *e = f->o.ext != NULL ? f->o.ext : "";
	char ext[512];

	if (f->o.ehlo_5xx) {
		f_puts(f, "502 5.5.1 no EHLO here\r\n");
		return;
	}
	snprintf(ext, sizeof(ext), "%s", e);
	for (char *save, *w = strtok_r(ext, "\n", &save); w != NULL;
	     w = strtok_r(NULL, "\n", &save)) {
		if (f->tls && strcmp(w, "STARTTLS") == 0)
			continue; /* not after TLS */
		strcat(out, "250-");
		strcat(out, w);
		strcat(out, "\r\n");
	}
	strcat(out, "250 HELP\r\n");
	f_puts(f, out);
}

static void
f_starttls(struct fake *f)
{
	f_puts(f, f->o.starttls != NULL ? f->o.starttls : "220 2.0.0 go\r\n");
	f->rlen = 0;
	f->ssl = SSL_new(f->ctx);
	SSL_set_fd(f->ssl, f->fd);
	if (SSL_accept(f->ssl) != 1) {
		ERR_clear_error();
		SSL_free(f->ssl);
		f->ssl = NULL;
		shutdown(f->fd, SHUT_RDWR);
		return;
	}
	f->tls = true;
}

/* f_greet - the greeting, whole or dripped. */
static void
f_greet(struct fake *f)
{
	const char *g = f->o.greeting != NULL ? f->o.greeting : "220 fake ESMTP\r\n";

	if (f->o.drip_ms == 0) {
		f_puts(f, g);
		return;
	}
	for (; *g != '\0'; g++) {
		if (send(f->fd, g, 1, MSG_NOSIGNAL) != 1)
			return;
		usleep(f->o.drip_ms * 1000);
	}
}

/* f_command - answers one command; -1 ends the session. */
static int
f_command(struct fake *f, const char *line)
{
	if (strncasecmp(line, "EHLO", 4) == 0) {
		f_ehlo(f);
	} else if (strncasecmp(line, "HELO", 4) == 0) {
		f_puts(f, "250 fake.example\r\n");
	} else if (strcasecmp(line, "STARTTLS") == 0) {
		f_starttls(f);
		if (!f->tls)
			return -1;
	} else if (strncasecmp(line, "MAIL", 4) == 0) {
		f_puts(f, "250 2.1.0 ok\r\n");
	} else if (strncasecmp(line, "RCPT", 4) == 0) {
		f_puts(f, strstr(line, "bad") != NULL ? "550 5.1.1 no such user\r\n"
		                                      : "250 2.1.5 ok\r\n");
	} else if (strcasecmp(line, "DATA") == 0) {
		f_puts(f, "354 go ahead\r\n");
		if (f_data(f) < 0)
			return -1;
		f_puts(f, f->o.data_reply != NULL ? f->o.data_reply : "250 2.0.0 queued\r\n");
		if (f->o.close_after_dot) {
			f_puts(f, "421 4.4.2 closing\r\n");
			return -1;
		}
	} else if (strcasecmp(line, "RSET") == 0) {
		f_puts(f, "250 2.0.0 ok\r\n");
	} else if (strcasecmp(line, "QUIT") == 0) {
		f_puts(f, "221 2.0.0 bye\r\n");
		return -1;
	} else {
		f_puts(f, "500 5.5.2 what\r\n");
	}
	return 0;
}

static void
fake_session(struct fake *f)
{
	struct timeval tv = {10, 0};
	char line[1200];

	if ((f->fd = accept(f->lfd, NULL, NULL)) < 0)
		return;
	f->nconn++;
	f->rlen = 0;
	f->tls = false;
	setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(f->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	f_greet(f);
	while (f_line(f, line, sizeof(line)) == 0) {
		if (strlen(f->cmds) + strlen(line) + 2 < sizeof(f->cmds)) {
			strcat(f->cmds, line);
			strcat(f->cmds, "\n");
		}
		if (f->o.hang)
			continue;
		if (f_command(f, line) < 0)
			break;
	}
	if (f->ssl != NULL) {
		SSL_shutdown(f->ssl);
		SSL_free(f->ssl);
		f->ssl = NULL;
	}
	close(f->fd);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < MAX(f->o.accepts, 1); i++)
		fake_session(f);
	return NULL;
}

static void
fake_start(struct fake *f, const struct fake_opts *o)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->o = *o;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(f->lfd, 4) < 0 || getsockname(f->lfd, (struct sockaddr *)&sin, &len) < 0)
		die("fake: cannot listen");
	f->port = ntohs(sin.sin_port);
	f->ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_chain_file(f->ctx, srv_pem) != 1 ||
	    SSL_CTX_use_PrivateKey_file(f->ctx, srv_key, SSL_FILETYPE_PEM) != 1)
		die("fake: cannot load the test certificate");
	pthread_create(&f->th, NULL, fake_main, f);
}

static void
fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
	SSL_CTX_free(f->ctx);
}

/* ---- client driver ----------------------------------------------------- */

struct outcome {
	size_t nrcpts;
	bool called;
	int ncalls;
	struct smtp_client_result r;
	struct smtp_client_rcpt_result rcpt[4];
	char peer[16];
};

static void
on_done(void *ctx, const struct smtp_client_result *r)
{
	struct outcome *o = ctx;

	o->ncalls++;
	o->called = true;
	o->r = *r;
	snprintf(o->peer, sizeof(o->peer), "%s", r->peer_cert != NULL ? r->peer_cert : "");
	o->r.peer_cert = NULL;
	for (size_t i = 0; i < o->nrcpts && i < nitems(o->rcpt); i++)
		o->rcpt[i] = r->rcpt[i];
	o->r.rcpt = NULL;
}

static const char *default_rcpts[] = {"a@test.example", "b@test.example"};

/* req_init - a request to the fake on `port`, level may, 2 s per step. */
static void
req_init(struct smtp_client_req *q, int port, const char *msg_path)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&q->addr;

	memset(q, 0, sizeof(*q));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	q->helo = "client.example";
	q->mx_host = "mx.test.example";
	q->nexthop = "test.example";
	q->tls_level = TLS_LVL_MAY;
	q->sender = "sender@client.example";
	q->nrcpts = 2;
	q->rcpts = default_rcpts;
	q->msg_path = msg_path;
	q->msg_size = 100;
	q->timeout_ms = 2000;
}

static void
run_client(const struct smtp_client_req *q, struct outcome *o)
{
	uv_loop_t loop;

	memset(o, 0, sizeof(*o));
	o->nrcpts = q->nrcpts;
	uv_loop_init(&loop);
	smtp_client_start(&loop, q, on_done, o);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0); /* the client freed every handle */
	CHECK_INT(o->ncalls, 1);
}

static const char *
path(const char *name)
{
	static char p[4][128];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(p[slot], sizeof(p[slot]), "%s/%s", dir, name);
	return p[slot];
}

static void
write_file(const char *p, const char *s, size_t n)
{
	FILE *fp = fopen(p, "w");

	if (fp == NULL || fwrite(s, 1, n, fp) != n || fclose(fp) != 0)
		die("cannot write %s", p);
}

static const char msg[] = "Subject: t\r\n\r\nhello\r\n";

/* deliver - a fake with options o, one run with the request tweaked by the
   caller through q (port and file filled in here). */
static void
deliver(const struct fake_opts *o, struct smtp_client_req *q, struct outcome *out, struct fake *f)
{
	int level = q->tls_level;
	struct tls_client *tls = q->tls;
	const char *nexthop = q->nexthop;
	size_t nrcpts = q->nrcpts;
	const char *const *rcpts = q->rcpts;
	const char *mp = q->msg_path;

	fake_start(f, o);
	req_init(q, f->port, mp != NULL ? mp : path("msg"));
	q->tls_level = level;
	q->tls = tls;
	if (nexthop != NULL)
		q->nexthop = nexthop;
	if (rcpts != NULL) {
		q->nrcpts = nrcpts;
		q->rcpts = rcpts;
	}
	run_client(q, out);
	fake_stop(f);
}

/* ---- engine tests ------------------------------------------------------ */

static struct tls_client *tls_ca, *tls_ca2;

static void
test_plain_pipelining(void)
{
	struct fake_opts o = {.ext = "PIPELINING\nSIZE 1000000\n8BITMIME"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_MAY, .tls = tls_ca};
	struct outcome out;
	struct fake f;

	q.rcpts = NULL;
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK(!out.r.tls);
	CHECK_INT(out.rcpt[0].code, 250);
	CHECK_INT(out.rcpt[1].code, 250);
	CHECK_STR(out.rcpt[0].enhanced, "2.0.0");
	CHECK_INT(out.r.data_code, 250);
	CHECK(strstr(f.cmds, "MAIL FROM:<sender@client.example> SIZE=100\n") != NULL);
	CHECK(strstr(f.cmds, "RCPT TO:<a@test.example>\nRCPT TO:<b@test.example>\nDATA\n") != NULL);
	CHECK(strstr(f.cmds, "QUIT") != NULL);
	CHECK(f.bodylen == sizeof(msg) - 1 + 3 && memcmp(f.body, msg, sizeof(msg) - 1) == 0);
}

/* Without PIPELINING, one at a time; a 5xx to one RCPT bounces only it. */
static void
test_rcpt_mixed(void)
{
	static const char *rcpts[] = {"bad@test.example", "good@test.example"};
	struct fake_opts o = {.ext = "8BITMIME"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE, .nrcpts = 2, .rcpts = rcpts};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[0].code, 550);
	CHECK_STR(out.rcpt[0].enhanced, "5.1.1");
	CHECK_STR(out.rcpt[0].text, "no such user");
	CHECK_INT(out.rcpt[1].code, 250);
	CHECK(strstr(f.cmds, "MAIL FROM:<sender@client.example>\n") != NULL); /* no SIZE */
}

/* All recipients refused: no DATA, results per recipient. */
static void
test_rcpt_none(void)
{
	static const char *rcpts[] = {"bad1@test.example", "bad2@test.example"};
	struct fake_opts o = {0};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE, .nrcpts = 2, .rcpts = rcpts};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[0].code, 550);
	CHECK_INT(out.rcpt[1].code, 550);
	CHECK(strstr(f.cmds, "DATA") == NULL);
}

static void
test_helo_fallback(void)
{
	struct fake_opts o = {.ehlo_5xx = true};
	struct smtp_client_req q = {.tls_level = TLS_LVL_MAY, .tls = tls_ca};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[0].code, 250);
	CHECK(strstr(f.cmds, "HELO client.example\n") != NULL);
}

static void
test_no_starttls(void)
{
	struct fake_opts o = {.ext = "PIPELINING"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_MAY, .tls = tls_ca};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK(!out.r.tls);
	CHECK_INT(out.rcpt[0].code, 250);

	q = (struct smtp_client_req){.tls_level = TLS_LVL_ENCRYPT, .tls = tls_ca};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "TLS is required, but was not offered by host "
	                           "mx.test.example[127.0.0.1]") != NULL);
	CHECK(strstr(f.cmds, "MAIL") == NULL);
}

static void
test_starttls_verified(void)
{
	struct fake_opts o = {.ext = "STARTTLS\nPIPELINING"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_VERIFY, .tls = tls_ca};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK(out.r.tls);
	CHECK_STR(out.peer, "Verified");
	CHECK(strncmp(out.r.tls_version, "TLSv1.", 6) == 0);
	CHECK(out.r.tls_cipher[0] != '\0');
	CHECK_INT(out.rcpt[0].code, 250);
	/* EHLO twice; STARTTLS once; MAIL only after TLS */
	CHECK(strstr(f.cmds, "EHLO client.example\nSTARTTLS\nEHLO client.example\nMAIL") != NULL);

	/* secure: next-hop test.example matches mx.test.example via .test.example */
	q = (struct smtp_client_req){.tls_level = TLS_LVL_SECURE, .tls = tls_ca};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_STR(out.peer, "Verified");

	/* may: trusted CA, no name check */
	q = (struct smtp_client_req){.tls_level = TLS_LVL_MAY, .tls = tls_ca};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_STR(out.peer, "Trusted");
}

static void
test_starttls_untrusted(void)
{
	struct fake_opts o = {.ext = "STARTTLS"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_VERIFY, .tls = tls_ca2};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "Server certificate not trusted") != NULL);
	CHECK_STR(out.peer, "Untrusted");
	CHECK(strstr(f.cmds, "MAIL") == NULL);

	q = (struct smtp_client_req){.tls_level = TLS_LVL_MAY, .tls = tls_ca2};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK(out.r.tls);
	CHECK_STR(out.peer, "Untrusted");
	CHECK_INT(out.rcpt[0].code, 250);

	/* encrypt: any certificate */
	q = (struct smtp_client_req){.tls_level = TLS_LVL_ENCRYPT, .tls = tls_ca2};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_STR(out.peer, "Untrusted");
}

static void
test_secure_mismatch(void)
{
	struct fake_opts o = {.ext = "STARTTLS"};
	struct smtp_client_req q = {
	        .tls_level = TLS_LVL_SECURE, .tls = tls_ca, .nexthop = "other.example"};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "Server certificate not verified (name mismatch)") != NULL);
	CHECK_STR(out.peer, "Trusted");
	CHECK(strstr(f.cmds, "MAIL") == NULL);

	/* "xtest.example" must not match through the dot-nexthop rule */
	q = (struct smtp_client_req){
	        .tls_level = TLS_LVL_SECURE, .tls = tls_ca, .nexthop = "est.example"};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
}

static void
test_starttls_injection(void)
{
	struct fake_opts o = {.ext = "STARTTLS", .starttls = "220 go\r\n250 injected\r\n"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_MAY, .tls = tls_ca};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "STARTTLS response injection") != NULL);
	CHECK(!out.r.tls);
	CHECK(strstr(f.cmds, "MAIL") == NULL);
}

static void
test_starttls_handshake_fail(void)
{
	/* a server that only speaks TLS 1.1, which the client refuses */
	struct fake_opts o = {.ext = "STARTTLS"};
	struct smtp_client_req q;
	struct outcome out;
	struct fake f;

	fake_start(&f, &o);
	SSL_CTX_set_max_proto_version(f.ctx, TLS1_1_VERSION);
	SSL_CTX_set_min_proto_version(f.ctx, TLS1_1_VERSION);
	req_init(&q, f.port, path("msg"));
	q.tls = tls_ca;
	run_client(&q, &out);
	fake_stop(&f);
	CHECK_INT(out.r.status, SC_TLS_RETRY_PLAIN);
	CHECK(strstr(out.r.reason, "TLS handshake") != NULL);

	fake_start(&f, &o);
	SSL_CTX_set_max_proto_version(f.ctx, TLS1_1_VERSION);
	SSL_CTX_set_min_proto_version(f.ctx, TLS1_1_VERSION);
	req_init(&q, f.port, path("msg"));
	q.tls = tls_ca;
	q.tls_level = TLS_LVL_ENCRYPT;
	run_client(&q, &out);
	fake_stop(&f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
}

static void
test_garbage_and_greetings(void)
{
	struct fake_opts o = {.greeting = "hello there\r\n"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE};
	struct outcome out;
	struct fake f;
	char *big = malloc(200 * 32);
	size_t n = 0;

	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason,
	             "protocol error from mx.test.example[127.0.0.1] while "
	             "receiving the initial server greeting: malformed reply code") != NULL);

	o.greeting = "421 4.3.2 busy\r\n";
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "refused to talk to me: 421 busy") != NULL);

	o.greeting = "554 5.7.1 go away\r\n";
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);

	for (int i = 0; i < 200; i++)
		n += (size_t)sprintf(big + n, "220%cline %d\r\n", i == 199 ? ' ' : '-', i);
	o.greeting = big;
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "too many lines") != NULL);
	free(big);
}

static void
test_timeouts(void)
{
	struct fake_opts o = {.hang = true};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE};
	struct outcome out;
	struct fake f;
	uint64_t t0;

	/* no reply to EHLO */
	fake_start(&f, &o);
	req_init(&q, f.port, path("msg"));
	q.tls_level = TLS_LVL_NONE;
	q.timeout_ms = 300;
	t0 = uv_hrtime();
	run_client(&q, &out);
	fake_stop(&f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "conversation timed out with mx.test.example[127.0.0.1] "
	                           "while performing the EHLO handshake") != NULL);
	CHECK((uv_hrtime() - t0) / 1000000 < 2000);

	/* a greeting dripped a byte per 100 ms never beats a 500 ms step */
	o = (struct fake_opts){.drip_ms = 100, .greeting = "220 a very slow greeting indeed\r\n"};
	fake_start(&f, &o);
	req_init(&q, f.port, path("msg"));
	q.tls_level = TLS_LVL_NONE;
	q.timeout_ms = 500;
	run_client(&q, &out);
	fake_stop(&f);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "timed out") != NULL &&
	      strstr(out.r.reason, "greeting") != NULL);
}

static void
test_connect_refused(void)
{
	struct smtp_client_req q;
	struct outcome out;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a port that was just free: bound, never listening */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &len);
	req_init(&q, ntohs(sin.sin_port), path("msg"));
	run_client(&q, &out);
	close(fd);
	CHECK_INT(out.r.status, SC_HOST_FAILED);
	CHECK(strstr(out.r.reason, "connect to mx.test.example[127.0.0.1]") != NULL);
	CHECK(strstr(out.r.reason, "refused") != NULL);
}

/* dot-stuffing, a file without a final CRLF, and a '.' on a chunk edge */
static void
test_dot_stuffing(void)
{
	static const char m1[] = "Subject: d\r\n\r\n.hello\r\n..two\r\n.\r\nend";
	static const char want1[] = "Subject: d\r\n\r\n..hello\r\n...two\r\n..\r\nend\r\n.\r\n";
	struct fake_opts o = {.ext = "PIPELINING"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE};
	struct outcome out;
	struct fake f;
	size_t n = 100000, k = 0;
	char *big = malloc(n), *want = malloc(2 * n);

	write_file(path("m1"), m1, sizeof(m1) - 1);
	q.msg_path = path("m1");
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[1].code, 250);
	CHECK(f.bodylen == sizeof(want1) - 1 && memcmp(f.body, want1, f.bodylen) == 0);

	/* lines ".xxxxx\r\n" of 8 bytes: a dot starts the file and the second
	   read chunk (offset SC_CHUNK = 32768), where the line-start state
	   must carry over from the previous chunk */
	memset(big, 'x', n);
	for (size_t i = 7; i < n; i += 8) {
		big[i - 1] = '\r';
		big[i] = '\n';
	}
	for (size_t i = 0; i < n; i += 8)
		big[i] = '.';
	big[n - 2] = '\r';
	big[n - 1] = '\n';
	for (size_t i = 0; i < n; i++) {
		if (big[i] == '.' && (i == 0 || big[i - 1] == '\n'))
			want[k++] = '.';
		want[k++] = big[i];
	}
	memcpy(want + k, ".\r\n", 3);
	k += 3;
	CHECK(big[32768] == '.' && big[32767] == '\n');
	write_file(path("m2"), big, n);
	q = (struct smtp_client_req){.tls_level = TLS_LVL_NONE, .msg_path = path("m2")};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK(f.bodylen == k && memcmp(f.body, want, k) == 0);
	free(big);
	free(want);
}

static void
test_reset_mid_data(void)
{
	struct fake_opts o = {.ext = "PIPELINING", .reset_after = 5000};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE};
	struct outcome out;
	struct fake f;
	size_t n = 2 * 1000 * 1000;
	char *big = malloc(n);

	memset(big, 'y', n);
	for (size_t i = 78; i < n; i += 80) {
		big[i - 1] = '\r';
		big[i] = '\n';
	}
	write_file(path("m3"), big, n);
	free(big);
	q.msg_path = path("m3");
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[0].code, 451);
	CHECK_STR(out.rcpt[0].enhanced, "4.4.2");
	CHECK(strstr(out.rcpt[0].text, "lost connection with mx.test.example[127.0.0.1] while "
	                               "sending") != NULL);
	CHECK_INT(out.r.data_code, 0);

	/* a 5xx to the end of data bounces every accepted recipient */
	o = (struct fake_opts){.data_reply = "554 5.7.1 spam\r\n"};
	q = (struct smtp_client_req){.tls_level = TLS_LVL_NONE};
	deliver(&o, &q, &out, &f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[0].code, 554);
	CHECK_INT(out.rcpt[1].code, 554);
	CHECK_INT(out.r.data_code, 554);
	CHECK_STR(out.r.data_text, "5.7.1 spam");
}

static void
test_smtputf8_missing(void)
{
	struct fake_opts o = {.ext = "8BITMIME"};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE};
	struct outcome out;
	struct fake f;

	fake_start(&f, &o);
	req_init(&q, f.port, path("msg"));
	q.tls_level = TLS_LVL_NONE;
	q.smtputf8 = true;
	run_client(&q, &out);
	fake_stop(&f);
	CHECK_INT(out.r.status, SC_DONE);
	CHECK_INT(out.rcpt[0].code, 550);
	CHECK_STR(out.rcpt[0].enhanced, "5.6.7");
	CHECK(strstr(f.cmds, "MAIL") == NULL);

	/* offered: MAIL carries SMTPUTF8 and BODY=8BITMIME */
	o.ext = "8BITMIME\nSMTPUTF8\nPIPELINING";
	fake_start(&f, &o);
	req_init(&q, f.port, path("msg"));
	q.tls_level = TLS_LVL_NONE;
	q.smtputf8 = true;
	q.eightbit = true;
	run_client(&q, &out);
	fake_stop(&f);
	CHECK_INT(out.rcpt[0].code, 250);
	CHECK(strstr(f.cmds, "MAIL FROM:<sender@client.example> BODY=8BITMIME SMTPUTF8\n") != NULL);
}

static void
cancel_cb(uv_timer_t *t)
{
	smtp_client_cancel(t->data);
	uv_close((uv_handle_t *)t, NULL);
}

/* Cancel mid-session: done() never runs, everything is freed. */
static void
test_cancel(void)
{
	struct fake_opts o = {.hang = true};
	struct smtp_client_req q;
	struct smtp_client *c;
	struct outcome out;
	struct fake f;
	uv_loop_t loop;
	uv_timer_t t;

	memset(&out, 0, sizeof(out));
	fake_start(&f, &o);
	req_init(&q, f.port, path("msg"));
	uv_loop_init(&loop);
	c = smtp_client_start(&loop, &q, on_done, &out);
	uv_timer_init(&loop, &t);
	t.data = &c;
	uv_timer_start(&t, cancel_cb, 200, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(c == NULL);
	CHECK_INT(out.ncalls, 0);
	CHECK_INT(uv_loop_close(&loop), 0);
	fake_stop(&f);
	CHECK(strstr(f.cmds, "EHLO") != NULL);
}

/* ---- connection reuse -------------------------------------------------- */

/* A chain of transactions on one loop: each done() parks the session (or
   hands it back with release), a timer turn later the next request goes
   through smtp_client_next(), or through a new client when the session died
   while idle. */
struct chain {
	uv_loop_t loop;
	uv_timer_t t;
	struct smtp_client *c; /* the idle session, ours */
	const struct smtp_client_req *q;
	size_t n, i;
	struct outcome out[4];
	bool reusable[4];
	unsigned ntx[4];
	int nclosed, nnew; /* closed() calls, reconnects */
	bool wait_idle;    /* after the last: let the idle limit end it */
};

static void chain_step(uv_timer_t *t);

static void
chain_closed(void *ctx, struct smtp_client *c)
{
	struct chain *ch = ctx;

	CHECK(!smtp_client_usable(c));
	CHECK_INT(smtp_client_next(c, &ch->q[0], on_done, &ch->out[0]), -1);
	ch->nclosed++;
	CHECK(ch->c == c);
	smtp_client_release(&ch->c);
}

static void
chain_done(void *ctx, const struct smtp_client_result *r)
{
	struct chain *ch = ctx;
	size_t i = ch->i;

	ch->out[i].nrcpts = ch->q[i].nrcpts;
	on_done(&ch->out[i], r);
	ch->reusable[i] = r->reusable;
	ch->ntx[i] = r->ntx;
	if (!r->reusable) {
		ch->c = NULL; /* it frees itself */
	} else {
		CHECK(smtp_client_usable(ch->c));
		smtp_client_on_close(ch->c, chain_closed, ch);
	}
	if (++ch->i < ch->n)
		uv_timer_start(&ch->t, chain_step, 50, 0);
	else if (!ch->wait_idle)
		smtp_client_release(&ch->c);
	if (ch->i == ch->n)
		uv_close((uv_handle_t *)&ch->t, NULL);
}

static void
chain_step(uv_timer_t *t)
{
	struct chain *ch = t->data;

	if (ch->c != NULL && smtp_client_next(ch->c, &ch->q[ch->i], chain_done, ch) == 0)
		return;
	smtp_client_release(&ch->c); /* dead or none: a new connection */
	ch->nnew++;
	ch->c = smtp_client_start(&ch->loop, &ch->q[ch->i], chain_done, ch);
}

static void
run_chain(struct chain *ch, const struct smtp_client_req *q, size_t n)
{
	ch->q = q;
	ch->n = n;
	uv_loop_init(&ch->loop);
	uv_timer_init(&ch->loop, &ch->t);
	ch->t.data = ch;
	ch->c = smtp_client_start(&ch->loop, &q[0], chain_done, ch);
	uv_run(&ch->loop, UV_RUN_DEFAULT);
	CHECK_INT(ch->i, n);
	CHECK_INT(uv_loop_close(&ch->loop), 0); /* every client freed */
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Three messages, one connection: one EHLO, MAIL three times, no RSET; the
   idle limit then ends the session politely. */
static void
test_reuse(void)
{
	static const char *r2[] = {"c@test.example"};
	struct fake_opts o = {.ext = "PIPELINING\nSTARTTLS"};
	struct smtp_client_req q[3];
	struct chain ch = {.wait_idle = true};
	struct fake f;
	uint64_t t0;

	fake_start(&f, &o);
	for (size_t i = 0; i < 3; i++) {
		req_init(&q[i], f.port, path("msg"));
		q[i].tls = tls_ca;
		q[i].reuse = true;
	}
	q[1].sender = "other@client.example";
	q[1].nrcpts = 1;
	q[1].rcpts = r2;
	t0 = uv_hrtime();
	run_chain(&ch, q, 3);
	fake_stop(&f);
	CHECK_INT(f.nconn, 1);
	CHECK_INT(ch.nnew, 0);
	CHECK_INT(ch.nclosed, 1); /* the idle limit */
	CHECK((uv_hrtime() - t0) / 1000000 >= SMTP_CLIENT_IDLE_MS);
	for (size_t i = 0; i < 3; i++) {
		CHECK_INT(ch.out[i].r.status, SC_DONE);
		CHECK_INT(ch.out[i].rcpt[0].code, 250);
		CHECK(ch.out[i].r.tls);
		CHECK(ch.reusable[i]);
		CHECK_INT(ch.ntx[i], i + 1);
	}
	CHECK_INT(count(f.cmds, "EHLO"), 2); /* before and after STARTTLS */
	CHECK_INT(count(f.cmds, "STARTTLS"), 1);
	CHECK_INT(count(f.cmds, "MAIL FROM"), 3);
	CHECK(strstr(f.cmds, "MAIL FROM:<other@client.example>\nRCPT TO:<c@test.example>\n") !=
	      NULL);
	CHECK_INT(count(f.cmds, "RSET"), 0);
	CHECK_INT(count(f.cmds, "QUIT"), 1);
	f.body[f.bodylen] = '\0'; /* fake_body holds all three, then older bytes */
	CHECK_INT(count(f.body, "hello"), 3);
}

/* The server says 421 and closes while idle: closed() runs, the session is
   unusable, and the next message goes over a new connection. */
static void
test_reuse_server_closed(void)
{
	struct fake_opts o = {.ext = "PIPELINING", .close_after_dot = true, .accepts = 2};
	struct smtp_client_req q[2];
	struct chain ch = {0};
	struct fake f;

	fake_start(&f, &o);
	for (size_t i = 0; i < 2; i++) {
		req_init(&q[i], f.port, path("msg"));
		q[i].tls_level = TLS_LVL_NONE;
		q[i].reuse = true;
	}
	run_chain(&ch, q, 2);
	fake_stop(&f);
	CHECK_INT(f.nconn, 2);
	CHECK_INT(ch.nclosed, 1);
	CHECK_INT(ch.nnew, 1);
	CHECK_INT(ch.out[0].rcpt[0].code, 250);
	CHECK_INT(ch.out[1].rcpt[0].code, 250);
	CHECK_INT(ch.ntx[1], 1); /* counted on the new connection */
	CHECK_INT(count(f.cmds, "MAIL FROM"), 2);
}

/* Every RCPT refused: the aborted transaction is reset before the next MAIL,
   and only then. */
static void
test_reuse_rset(void)
{
	static const char *bad[] = {"bad1@test.example", "bad2@test.example"};
	struct fake_opts o = {0};
	struct smtp_client_req q[3];
	struct chain ch = {0};
	struct fake f;

	fake_start(&f, &o);
	for (size_t i = 0; i < 3; i++) {
		req_init(&q[i], f.port, path("msg"));
		q[i].tls_level = TLS_LVL_NONE;
		q[i].reuse = true;
	}
	q[0].rcpts = bad;
	run_chain(&ch, q, 3);
	fake_stop(&f);
	CHECK_INT(f.nconn, 1);
	CHECK_INT(ch.out[0].rcpt[0].code, 550);
	CHECK(ch.reusable[0]);
	CHECK_INT(ch.out[1].rcpt[0].code, 250);
	CHECK_INT(ch.out[2].rcpt[1].code, 250);
	CHECK_INT(count(f.cmds, "RSET"), 1);
	CHECK(strstr(f.cmds, "RCPT TO:<bad2@test.example>\nRSET\nMAIL FROM") != NULL);
	CHECK(strstr(f.cmds, "DATA\nMAIL FROM") != NULL); /* no RSET after a whole one */
	CHECK_INT(count(f.cmds, "QUIT"), 1);
}

/* Without req.reuse nothing changes: QUIT after the one transaction. */
static void
test_reuse_off(void)
{
	struct fake_opts o = {0};
	struct smtp_client_req q = {.tls_level = TLS_LVL_NONE};
	struct outcome out;
	struct fake f;

	deliver(&o, &q, &out, &f);
	CHECK(!out.r.reusable);
	CHECK_INT(out.r.ntx, 1);
	CHECK_INT(count(f.cmds, "QUIT"), 1);
}

/* ---- setup ------------------------------------------------------------- */

static void
sh(const char *cmd)
{
	char full[2048];

	snprintf(full, sizeof(full), "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0)
		die("setup failed: %s", cmd);
}

static void
make_pki(void)
{
	const char *err;

	snprintf(dir, sizeof(dir), "/tmp/hk-sc-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	for (int i = 1; i <= 2; i++) {
		char cmd[512];

		snprintf(cmd, sizeof(cmd),
		         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		         "-keyout ca%d.key -out ca%d.pem -days 2 -subj '/CN=Test CA %d' "
		         "-addext basicConstraints=critical,CA:TRUE "
		         "-addext keyUsage=critical,keyCertSign,cRLSign",
		         i, i, i);
		sh(cmd);
	}
	sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
	   "-out srv.csr -subj /CN=mx.test.example");
	sh("printf 'subjectAltName=DNS:mx.test.example\\nbasicConstraints=CA:FALSE\\n' > ext.cnf");
	sh("openssl x509 -req -in srv.csr -CA ca1.pem -CAkey ca1.key -CAcreateserial "
	   "-out srv.pem -days 2 -extfile ext.cnf");
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca1.pem", dir);
	snprintf(ca2_pem, sizeof(ca2_pem), "%s/ca2.pem", dir);
	snprintf(srv_pem, sizeof(srv_pem), "%s/srv.pem", dir);
	snprintf(srv_key, sizeof(srv_key), "%s/srv.key", dir);
	if ((tls_ca = tls_client_new(ca_pem, &err)) == NULL ||
	    (tls_ca2 = tls_client_new(ca2_pem, &err)) == NULL)
		die("tls_client_new: %s", err);
	write_file(path("msg"), msg, sizeof(msg) - 1);
}

static void
test_setup(void)
{
	const char *err;

	log_set_level(getenv("T_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN); /* as the daemon does: EPIPE, not death */
	make_pki();
	CHECK(tls_client_new(path("missing.pem"), &err) == NULL);
	CHECK(strstr(err, "missing.pem") != NULL);
}

static void
test_teardown(void)
{
	char cmd[128];

	tls_client_free(&tls_ca);
	tls_client_free(&tls_ca2);
	CHECK(tls_ca == NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

static const struct t_test tests[] = {
        T(test_reply_table),
        T(test_reply_sequence),
        T(test_reply_bounds),
        T(test_setup),
        T(test_plain_pipelining),
        T(test_rcpt_mixed),
        T(test_rcpt_none),
        T(test_helo_fallback),
        T(test_no_starttls),
        T(test_starttls_verified),
        T(test_starttls_untrusted),
        T(test_secure_mismatch),
        T(test_starttls_injection),
        T(test_starttls_handshake_fail),
        T(test_garbage_and_greetings),
        T(test_timeouts),
        T(test_connect_refused),
        T(test_dot_stuffing),
        T(test_reset_mid_data),
        T(test_smtputf8_missing),
        T(test_cancel),
        T(test_reuse),
        T(test_reuse_server_closed),
        T(test_reuse_rset),
        T(test_reuse_off),
        T(test_teardown),
        {0},
};

/*
 * deliver_cli - "--deliver PORT CAFILE LEVEL MX NEXTHOP MSG SENDER RCPT..."
 * runs one delivery to 127.0.0.1:PORT and prints the outcome as key=value
 * lines, for tests/integration/test_smtp_client.py (a real hikyaku peer).
 */
static int
deliver_cli(int argc, char **argv)
{
	static const char *const levels[] = {"none", "may", "encrypt", "verify", "secure"};
	struct smtp_client_req q;
	struct outcome out;
	const char *err;
	struct tls_client *t;
	int level = -1;

	if (argc < 8)
		return 2;
	for (int i = 0; i < (int)nitems(levels); i++)
		if (strcmp(argv[2], levels[i]) == 0)
			level = i;
	if (level < 0 || (t = tls_client_new(argv[1], &err)) == NULL)
		return 2;
	req_init(&q, atoi(argv[0]), argv[5]);
	q.tls_level = level;
	q.tls = t;
	q.mx_host = argv[3];
	q.nexthop = argv[4];
	q.sender = argv[6];
	q.nrcpts = MIN((size_t)(argc - 7), nitems(out.rcpt));
	q.rcpts = (const char *const *)argv + 7;
	q.timeout_ms = 10000;
	run_client(&q, &out);
	printf("status=%d\ntls=%d\nversion=%s\ncipher=%s\npeer=%s\ndata_code=%u\nreason=%s\n",
	       (int)out.r.status, out.r.tls, out.r.tls_version, out.r.tls_cipher, out.peer,
	       out.r.data_code, out.r.reason);
	for (size_t i = 0; i < q.nrcpts; i++)
		printf("rcpt%zu=%u %s %s\n", i, out.rcpt[i].code, out.rcpt[i].enhanced,
		       out.rcpt[i].text);
	tls_client_free(&t);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--deliver") == 0)
		return deliver_cli(argc - 2, argv + 2);
	return t_run(tests);
}
