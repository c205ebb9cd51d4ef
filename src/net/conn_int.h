/*
 * conn_int.h -- what listener.c needs from conn.c; not for protocol engines.
 */
#ifndef HIKYAKU_NET_CONN_INT_H
#define HIKYAKU_NET_CONN_INT_H

#include <uv.h>

#include "net/conn.h"

/*
 * Accepts one pending connection from `server`. When tls is not NULL the conn
 * runs TLS from its first byte (implicit TLS). No I/O starts until
 * conn_start(). Returns the conn, or NULL with *error_r (static string).
 */
struct conn *conn_accept(uv_stream_t *server, const char *service, struct tls_server *tls,
                         const char **error_r);

/* Starts reading (and so the implicit TLS handshake) once the accept callback
   has installed a handler; closes the conn when it did not. */
void conn_start(struct conn *c);

#endif
