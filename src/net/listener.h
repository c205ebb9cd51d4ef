/*
 * listener.h -- one bound TCP socket for one service, accepting into conns.
 *
 * Limits: backlog 511; libuv's spare-descriptor trick handles EMFILE.
 * Standards: RFC 8314 (implicit TLS listeners: submissions, imaps, pop3s).
 * Security: binds before privileges are dropped; the tls_server pointer is
 * read at every accept, so a certificate reload reaches new connections.
 */
#ifndef HIKYAKU_NET_LISTENER_H
#define HIKYAKU_NET_LISTENER_H

#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

struct conn;
struct listener;
struct tls_server;

/* Gets each new conn before any I/O; it must call conn_set_handler() (or
   conn_close()). Reading starts when it returns. */
typedef void listener_accept_fn(void *ctx, struct listener *l, struct conn *c);

/*
 * Binds and listens (SO_REUSEADDR, IPV6_V6ONLY for IPv6, backlog 511) for
 * `service` ("smtp", "submission"...; copied). With implicit_tls, each conn
 * starts its handshake at once and tls_ready is the first callback the engine
 * gets; tls must then not be NULL. Sets SIGPIPE to SIG_IGN for the process
 * (a reset peer must fail one write, not kill the daemon). Returns the listener, or NULL with
 * *error_r = "127.0.0.1:25: Address already in use" (valid until the next
 * call in this thread).
 */
struct listener *listener_open(uv_loop_t *loop, const char *service,
                               const struct sockaddr_storage *sa, bool implicit_tls,
                               struct tls_server *tls, listener_accept_fn *cb, void *ctx,
                               const char **error_r);

const char *listener_service(const struct listener *l);
bool listener_implicit_tls(const struct listener *l);
/* The port actually bound (useful after binding port 0 in tests). */
int listener_port(const struct listener *l);

/* Stops accepting and frees (from the loop); accepts NULL, sets *l = NULL.
   Connections already accepted live on. */
void listener_close(struct listener **l);

#endif
