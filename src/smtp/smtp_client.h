/*
 * smtp_client.h -- outbound SMTP: the reply parser and the client engine
 * that carries one message to one host.
 *
 * The reply parser (smtp_client_reply.c) is pure and resumable: bytes in,
 * complete replies out, bounded in line length, lines and bytes per reply.
 * The engine (smtp_client.c) is a state machine on one struct conn: greeting,
 * EHLO (HELO after a 5xx), STARTTLS under the Postfix policy levels, EHLO
 * again, MAIL/RCPT/DATA (pipelined when offered), the message streamed from
 * a file with dot-stuffing, then QUIT, or (req.reuse) an idle session that
 * the caller may hand the next message with smtp_client_next(). It reaches
 * the queue only through the request it is given and the completion
 * callback.
 * Limits: SMTP_REPLY_* and SMTP_CLIENT_* below; a timer per step (each
 * reply, each chunk written) plus a cap on each transaction.
 * Standards: RFC 5321 (4.2 replies, 4.5.3.2 timeouts, 4.5.2 transparency),
 * RFC 1869/1870 (SIZE), RFC 2920 (PIPELINING), RFC 6152 (8BITMIME),
 * RFC 6531 (SMTPUTF8), RFC 2034/3463 (enhanced codes), RFC 3207 (STARTTLS).
 * Security: every byte from the peer is untrusted; the parser is fuzzed
 * (tests/fuzz/fuzz_smtp_reply.c); after STARTTLS every pre-TLS fact is
 * forgotten and bytes after the 220 abort the session.
 */
#ifndef HIKYAKU_SMTP_SMTP_CLIENT_H
#define HIKYAKU_SMTP_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "base/buf.h"
#include "base/span.h"
#include "smtp/smtp_lex.h"

/* ---- reply parser ---------------------------------------------------- */

/* RFC 5321 4.5.3.1.5 allows 512 bytes per reply line; real servers send
   longer banners, so we accept 4096 and call anything longer an attack. */
#define SMTP_REPLY_LINE_MAX 4096
#define SMTP_REPLY_LINES_MAX 100         /* "endless" multi-line replies */
#define SMTP_REPLY_BYTES_MAX (64 * 1024) /* one reply, CRLFs included */
#define SMTP_REPLY_TEXT_MAX 512          /* kept for logs and DSNs */

/* EHLO keywords we act on (RFC 5321 4.1.1.1 and the extensions' RFCs). */
enum smtp_ext {
	SMTP_EXT_PIPELINING = 1 << 0,
	SMTP_EXT_SIZE = 1 << 1,
	SMTP_EXT_8BITMIME = 1 << 2,
	SMTP_EXT_SMTPUTF8 = 1 << 3,
	SMTP_EXT_STARTTLS = 1 << 4,
	SMTP_EXT_CHUNKING = 1 << 5,
	SMTP_EXT_ENHANCEDSTATUSCODES = 1 << 6,
	SMTP_EXT_AUTH = 1 << 7, /* only noted: `hikyaku check` warns of AUTH before TLS */
};

struct smtp_reply {
	unsigned code;                  /* 200..599 */
	char enhanced[16];              /* "2.1.5", or "" when absent */
	char text[SMTP_REPLY_TEXT_MAX]; /* lines' text joined by " ", truncated,
	                                   enhanced codes removed; untrusted */
	size_t nlines;
	unsigned ext;  /* EHLO replies: enum smtp_ext bits */
	uint64_t size; /* SIZE value; 0 = not stated */
};

/* Zero-initialised by smtp_reply_parser_init(); one per connection. */
struct smtp_reply_parser {
	struct line_framer f;
	bool ehlo;    /* parse lines 2.. as EHLO keywords */
	size_t bytes; /* of the reply so far */
	struct smtp_reply r;
	size_t text_len;
};

/* Starts a reply; `ehlo` says whether the next reply answers EHLO. */
void smtp_reply_parser_init(struct smtp_reply_parser *p, bool ehlo);

/*
 * Consumes lines from `in`. Returns 1 with *r filled when a whole reply has
 * been read (the parser is then ready for the next one, EHLO mode off), 0
 * when more bytes are needed, or -1 with *error_r (static) for a malformed
 * or over-limit reply: a line that is not "ddd[ -]text" with 2..5 as the
 * first digit, codes that differ between lines, a bare LF, NUL or control
 * byte, a line over SMTP_REPLY_LINE_MAX, more than SMTP_REPLY_LINES_MAX
 * lines or SMTP_REPLY_BYTES_MAX bytes. After -1 the stream is out of step:
 * close the connection.
 */
int smtp_reply_parse(struct smtp_reply_parser *p, struct buf *in, struct smtp_reply *r,
                     const char **error_r);

/* Feeds one line (without CRLF); same return values. For the tests and
   fuzzer; smtp_reply_parse() frames lines and calls it. */
int smtp_reply_line(struct smtp_reply_parser *p, struct span line, struct smtp_reply *r,
                    const char **error_r);

/* ---- client engine --------------------------------------------------- */

struct tls_client;

struct smtp_client_req {
	const char *helo;             /* our myhostname */
	const char *mx_host;          /* name of the MX (verify, SNI, logs) */
	const char *nexthop;          /* recipient domain (secure) */
	struct sockaddr_storage addr; /* with port (relay_port) */
	int tls_level;                /* enum conf_tls_level == enum tls_level */
	struct tls_client *tls;       /* needed unless tls_level is none */
	const char *sender;           /* "" for <> */
	size_t nrcpts;
	const char *const *rcpts;
	const char *msg_path; /* CRLF line endings, not dot-stuffed */
	uint64_t msg_size;
	bool smtputf8;
	bool eightbit;
	uint64_t timeout_ms;         /* per step (connect, each reply, each write) */
	uint64_t session_timeout_ms; /* cap per transaction (the first one with
	                                connect, EHLO, TLS); 0 = 20 x timeout_ms */
	bool reuse;                  /* the caller keeps an idle session (result.reusable) */
	/* Postfix's smtp_tls_loglevel: 0 no TLS lines, 1 one summary per
	   handshake, 2 also the STARTTLS negotiation steps, 3 and 4 also every
	   command and reply of the session. Status lines carry TLS facts at
	   every level. */
	unsigned tls_loglevel;
};

struct smtp_client_rcpt_result {
	unsigned code; /* 2xx sent, 4xx defer, 5xx bounce */
	char enhanced[16];
	char text[512];
};

enum smtp_client_status {
	SC_DONE,            /* per-rcpt results valid */
	SC_HOST_FAILED,     /* try the next MX: connect failure, greeting, TLS
	                       required but failed, injection, failure before
	                       the reply to MAIL */
	SC_TLS_RETRY_PLAIN, /* level may only: handshake failed; retry this host
	                       in clear (same request, tls_level none) */
};

struct smtp_client_result {
	enum smtp_client_status status;
	char reason[512]; /* for logs and the DSN diagnostic */
	bool tls;
	char tls_version[16];
	char tls_cipher[64];
	const char *peer_cert; /* "Anonymous"..."Verified", or NULL without TLS */
	unsigned data_code;    /* reply to the end of DATA, 0 if none */
	char data_text[512];
	struct smtp_client_rcpt_result *rcpt; /* nrcpts entries */
	unsigned ntx;  /* transactions on this connection, this one included */
	bool reusable; /* SC_DONE, req.reuse, the dialogue in step: the session
	                  is idle and now belongs to the caller (see below) */
};

/* Called exactly once per transaction, from the loop, unless the client was
   cancelled. The result and everything it points to are valid only during
   the call. */
typedef void smtp_client_done_fn(void *ctx, const struct smtp_client_result *r);

struct smtp_client;

/* An idle session ended (server closed it or sent something unasked, idle
   or age limit): it is no longer usable; release it. */
typedef void smtp_client_closed_fn(void *ctx, struct smtp_client *c);

/* Connection reuse (Postfix smtp_connection_cache_on_demand): bounds. */
#define SMTP_CLIENT_MAX_TX 100            /* transactions per connection */
#define SMTP_CLIENT_IDLE_MS 2000          /* smtp_connection_cache_time_limit */
#define SMTP_CLIENT_REUSE_MS (300 * 1000) /* smtp_connection_reuse_time_limit */

/*
 * Starts delivering req's message to req->addr. Strings and arrays in req
 * are copied. Never NULL; done() is never called from inside this function.
 * Ownership after done():
 *  - result.reusable false: the client frees itself once done() has
 *    returned and the connection is closed: forget the pointer in done().
 *  - result.reusable true: the session is idle and the caller owns it; it
 *    must end with smtp_client_next() (the client is its own again until
 *    that transaction's done()) or smtp_client_release(). An idle session
 *    closes its connection by itself after SMTP_CLIENT_IDLE_MS, or when the
 *    server closes or talks; the struct stays until released, and
 *    smtp_client_usable() turns false.
 */
struct smtp_client *smtp_client_start(uv_loop_t *loop, const struct smtp_client_req *req,
                                      smtp_client_done_fn *done, void *ctx);

/*
 * Next transaction on an idle session: only sender, rcpts, msg_path,
 * msg_size, smtputf8, eightbit and the timeouts of req are used; host,
 * address and TLS stay those of the session, so the caller keys its cache
 * on them. RSET goes first only when the last transaction was aborted
 * (RFC 5321 4.1.4). Returns 0 (done() follows, never from inside this
 * call; if the connection is found dead before MAIL is answered, the
 * status is SC_HOST_FAILED), or -1 when c is not usable (c unchanged).
 */
int smtp_client_next(struct smtp_client *c, const struct smtp_client_req *req,
                     smtp_client_done_fn *done, void *ctx);

/* True while c is idle, connected and owned by the caller. */
bool smtp_client_usable(const struct smtp_client *c);

/* Idle sessions: closed() is called (from the loop) if the session ends
   while idle; cleared by smtp_client_next(). */
void smtp_client_on_close(struct smtp_client *c, smtp_client_closed_fn *closed, void *ctx);

/* An idle (or dead idle) session: QUIT, close, free; *c = NULL. Accepts a
   NULL *c. */
void smtp_client_release(struct smtp_client **c);

/* Before done(), or an idle session: drops the connection, done() is not
   called, *c = NULL. Accepts a NULL *c. */
void smtp_client_cancel(struct smtp_client **c);

#endif
