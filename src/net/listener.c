/*
 * listener.c -- bind, listen and accept with libuv.
 *
 * libuv sets SO_REUSEADDR on every TCP bind (a restart must not wait for
 * TIME_WAIT) and IPV6_V6ONLY with UV_TCP_IPV6ONLY, so that "[::]:25" and
 * "0.0.0.0:25" are two listeners, as the config says.
 * Security: an accept error is logged and the listener keeps going; a
 * failed accept never takes the service down. Opening a listener makes the
 * process ignore SIGPIPE.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "net/conn_int.h"
#include "net/listener.h"

#define LISTENER_BACKLOG 511

struct listener {
	uv_tcp_t tcp;
	char *service;
	bool implicit_tls;
	struct tls_server *tls;
	listener_accept_fn *cb;
	void *ctx;
	int port;
};

/* listener_name - "127.0.0.1:25" or "[::1]:25", for messages. */
static void
listener_name(const struct sockaddr_storage *sa, char *dst, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	uv_ip_name((const struct sockaddr *)sa, ip, sizeof(ip));
	if (sa->ss_family == AF_INET6)
		snprintf(dst, size, "[%s]:%d", ip, ntohs(s6->sin6_port));
	else
		snprintf(dst, size, "%s:%d", ip, ntohs(s4->sin_port));
}

static void
listener_on_closed(uv_handle_t *h)
{
	struct listener *l = h->data;

	free(l->service);
	free(l);
}

static void
listener_on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	const char *err = NULL;
	struct conn *c;

	if (status < 0) {
		log_warnx("event=accept-error service=%s error=\"%s\"", l->service,
		          uv_strerror(status));
		return;
	}
	/* The pointer is read here, so a reload is seen by the next accept. */
	c = conn_accept(server, l->service, l->implicit_tls ? l->tls : NULL, &err);
	if (c == NULL) {
		log_warnx("event=accept-error service=%s error=\"%s\"", l->service, err);
		return;
	}
	l->cb(l->ctx, l, c);
	conn_start(c);
}

/* listener_bind - bind and listen; 0, or a libuv error code. */
static int
listener_bind(struct listener *l, const struct sockaddr_storage *sa)
{
	struct sockaddr_storage ss;
	int r, len = sizeof(ss);
	unsigned flags = sa->ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;

	if ((r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)sa, flags)) < 0)
		return r;
	/* libuv may report a bind error only here. */
	if ((r = uv_listen((uv_stream_t *)&l->tcp, LISTENER_BACKLOG, listener_on_connection)) < 0)
		return r;
	if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len) == 0)
		l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

struct listener *
listener_open(uv_loop_t *loop, const char *service, const struct sockaddr_storage *sa,
              bool implicit_tls, struct tls_server *tls, listener_accept_fn *cb, void *ctx,
              const char **error_r)
{
	static _Thread_local char msg[256];
	struct listener *l;
	char name[INET6_ADDRSTRLEN + 16];
	int r;

	/* libuv writes with write(2): a peer that resets mid-reply must give
	   EPIPE to that one conn, not SIGPIPE to the whole daemon. */
	signal(SIGPIPE, SIG_IGN);
	listener_name(sa, name, sizeof(name));
	if (implicit_tls && tls == NULL) {
		snprintf(msg, sizeof(msg), "%s: implicit TLS needs a certificate", name);
		*error_r = msg;
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->service = xstrdup(service);
	l->implicit_tls = implicit_tls;
	l->tls = tls;
	l->cb = cb;
	l->ctx = ctx;
	if ((r = uv_tcp_init_ex(loop, &l->tcp, sa->ss_family)) < 0) {
		free(l->service);
		free(l);
	} else {
		l->tcp.data = l;
		if ((r = listener_bind(l, sa)) == 0)
			return l;
		uv_close((uv_handle_t *)&l->tcp, listener_on_closed);
	}
	/* libuv codes are negated errno values on Unix: strerror reads better. */
	snprintf(msg, sizeof(msg), "%s: %s", name, -r < 1000 ? strerror(-r) : uv_strerror(r));
	*error_r = msg;
	return NULL;
}

const char *
listener_service(const struct listener *l)
{
	return l->service;
}

bool
listener_implicit_tls(const struct listener *l)
{
	return l->implicit_tls;
}

int
listener_port(const struct listener *l)
{
	return l->port;
}

void
listener_close(struct listener **lp)
{
	struct listener *l = *lp;

	if (l == NULL)
		return;
	uv_close((uv_handle_t *)&l->tcp, listener_on_closed);
	*lp = NULL;
}
