/*
 * conn.h -- one client connection on libuv, plaintext or TLS over memory BIOs.
 *
 * The protocol engine sees only plaintext: bytes arrive in conn_in() and it
 * answers with conn_write()/conn_printf() + conn_flush(). Sessions are state
 * machines driven by the callbacks of struct conn_handler; no thread per
 * connection. Callbacks never run recursively from a conn_* call.
 * Limits: input buffer (conn_set_input_max, default 64 KiB); queued output
 * 1 MiB (conn_write fails beyond); reading stops while more than 256 KiB of
 * output is unsent; idle timeout (default 300 s, RFC 5321 4.5.3.2.7), which
 * also bounds a TLS handshake.
 * Client side (outbound SMTP): conn_connect() with a connect timeout, and
 * conn_starttls_client(), which refuses to start when any byte followed the
 * server's 220 (STARTTLS response injection) and records how far the
 * server's certificate could be verified.
 * Standards: RFC 3207 sec. 4.2 and RFC 8314 (STARTTLS purge, implicit TLS).
 * Security: remote-facing. No decrypted byte is left inside OpenSSL; the
 * STARTTLS switch drops every plaintext byte that followed the command.
 */
#ifndef HIKYAKU_NET_CONN_H
#define HIKYAKU_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct buf;
struct conn;
struct sockaddr;
struct ssl_st;
struct tls_client;
struct tls_client_policy;
struct tls_server;

struct conn_handler {
	/* New plaintext bytes in conn_in(c); consume what you parse. */
	void (*input)(struct conn *c);
	/* Handshake done (implicit TLS, or after conn_starttls). May be NULL. */
	void (*tls_ready)(struct conn *c);
	/* Idle timer fired; the engine usually replies 421 and calls conn_close.
	   When NULL the conn closes with reason "timeout". */
	void (*timeout)(struct conn *c);
	/* Called exactly once; the conn is freed right after it returns, so the
	   engine frees its session here and forgets the conn pointer. */
	void (*closed)(struct conn *c, const char *reason);
	/* Client conns: the TCP connection is up (conn_connect). May be NULL.
	   A failed connect is reported by closed() alone, with reason
	   "connect-failed: <libuv text>" or "connect-timeout". */
	void (*connected)(struct conn *c);
	/* Everything queued has been handed to the kernel; the engine may queue
	   the next chunk of a large body (flow control). May be NULL. */
	void (*drained)(struct conn *c);
};

/* Installs the engine; the accept callback must call it (or conn_close). */
void conn_set_handler(struct conn *c, const struct conn_handler *h, void *ctx);
void *conn_ctx(struct conn *c);
/* Random 64-bit session id, for logs as %016" PRIx64 ". */
uint64_t conn_id(const struct conn *c);

/* Plaintext input not yet consumed; the engine calls buf_consume() on it. */
struct buf *conn_in(struct conn *c);
/* Bound on conn_in(); lowering it below what is buffered keeps the bytes. */
void conn_set_input_max(struct conn *c, size_t max);

/* Queue output. Returns 0, or -1 (nothing queued) when the output limit would
   be exceeded or the conn is closing. */
int conn_write(struct conn *c, const void *p, size_t n);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts sending what is queued (encrypted once TLS is up). Output queued
   while a write is in progress goes out when that write completes. */
void conn_flush(struct conn *c);

/* Stop delivering input() and stop reading the socket (an async hook runs). */
void conn_pause(struct conn *c);
/* Undo conn_pause. If conn_in() already holds bytes, input() is called again
   from the loop soon, never from inside conn_resume. */
void conn_resume(struct conn *c);

/*
 * STARTTLS: empties conn_in() and returns the number of bytes dropped (the
 * engine logs them); every later byte read is TLS. Output already queued (the
 * 220) is sent in plaintext first. Also clears a conn_pause. Success calls
 * tls_ready; failure closes with "tls-handshake-failed: <reason>".
 */
size_t conn_starttls(struct conn *c, struct tls_server *t);

/*
 * Client: starts connecting to sa (IPv4 or IPv6, with port). Never NULL: a
 * failure, immediate or not, comes later through h->closed() from the loop,
 * and a connect that takes longer than timeout_ms fails with
 * "connect-timeout". On success h->connected() runs; the idle timeout then
 * defaults to 0 (off: the client engine keeps its own per-reply timers).
 */
struct conn *conn_connect(uv_loop_t *loop, const struct sockaddr *sa, uint64_t timeout_ms,
                          const struct conn_handler *h, void *ctx);

/*
 * Client STARTTLS, called right after the server's 220 has been consumed
 * from conn_in(). Returns -1 and does nothing when conn_in() still holds a
 * byte: the server (or a man in the middle) sent data after its 220 that
 * would otherwise be read as if protected by TLS (STARTTLS response
 * injection); the caller must abort and treat the host as failed. Otherwise
 * returns 0 and starts the handshake, sending `sni` as server_name; success
 * calls tls_ready (then see conn_tls_peer), failure closes with
 * "tls-handshake-failed: <reason>". The handshake has no timer of its own.
 */
int conn_starttls_client(struct conn *c, struct tls_client *t, const char *sni,
                         const struct tls_client_policy *p);

/* Sends what is queued, then closes; closed() follows once, from the loop.
   Later calls are ignored (the first reason wins). */
void conn_close(struct conn *c, const char *reason);

/* (Re)armed on every input; 0 disables. */
void conn_set_idle_timeout(struct conn *c, uint64_t ms);

/* True once the TLS handshake completed. */
bool conn_is_tls(const struct conn *c);
/* TLS facts (NULL / 0 before the handshake): "TLSv1.3", the OpenSSL cipher
   name, the IANA cipher name (RFC 8314 Received "tls" clause), secret bits,
   the client's SNI (untrusted text) or NULL, and the peer certificate word
   ("none": no client certificate is requested yet). */
const char *conn_tls_version(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
const char *conn_tls_cipher_std(const struct conn *c);
int conn_tls_bits(const struct conn *c);
const char *conn_tls_sni(const struct conn *c);
const char *conn_tls_peer_cert(const struct conn *c);
/* Client conns after the handshake: the server's enum tls_peer value (the
   word is conn_tls_peer_cert(): "Anonymous", "Untrusted", "Trusted",
   "Verified"), or -1 (server conn, or no TLS yet); and why it is not
   Verified (static string), or NULL. */
int conn_tls_peer(const struct conn *c);
const char *conn_tls_verify_error(const struct conn *c);

/* The session itself, for inspection only (hikyaku check): NULL before
   the handshake. */
const struct ssl_st *conn_tls_ssl(const struct conn *c);

/* Numeric addresses ("192.0.2.1", "2001:db8::1") and ports. */
const char *conn_peer_ip(const struct conn *c);
int conn_peer_port(const struct conn *c);
const char *conn_local_ip(const struct conn *c);
int conn_local_port(const struct conn *c);

#endif
