/*
 * probe.h -- one look at one mail server address, for `hikyaku check`:
 * banner, EHLO, is STARTTLS offered, the handshake (protocol, cipher, key
 * exchange), the certificate (chain, name, days to expiry), then QUIT.
 * Also the client-side services (--clients): SMTP submission, IMAP and
 * POP3, with STARTTLS/STLS or implicit TLS (RFC 8314), noting whether a
 * password could be sent before TLS (AUTH, LOGINDISABLED, USER).
 *
 * A probe never sends mail: it stops after EHLO on TLS. Every step has its
 * own timer (opts.timeout_ms) and the whole probe a cap of four steps, so a
 * silent or dripping server ends as a timeout within a known bound.
 * Standards: RFC 5321 (dialogue), RFC 3207 (STARTTLS; bytes after the 220
 * are an injection and fail the probe), RFC 6125 (name match).
 * Security: every byte from the server is untrusted; texts kept for the
 * report pass through the reply parser's bounds and log_value() before
 * they are printed.
 */
#ifndef HIKYAKU_PROBE_PROBE_H
#define HIKYAKU_PROBE_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "smtp/smtp_client.h"
#include "tls/tls.h"

enum probe_stage {
	PROBE_STAGE_CONNECT,
	PROBE_STAGE_BANNER,
	PROBE_STAGE_EHLO,
	PROBE_STAGE_STARTTLS,
	PROBE_STAGE_HANDSHAKE,
	PROBE_STAGE_EHLO_TLS,
	PROBE_STAGE_DONE,
};

enum probe_proto { PROBE_SMTP, PROBE_IMAP, PROBE_POP3 };

struct probe_opts {
	enum probe_proto proto;
	bool implicit_tls;    /* TLS first (465, 993, 995), else STARTTLS/STLS */
	const char *helo;     /* our name in EHLO */
	uint64_t timeout_ms;  /* per step */
	struct tls_client *tls;
	/* Stop once the handshake is done or failed (the TLS version probes). */
	bool handshake_only;
};

struct probe_result {
	enum probe_stage reached; /* the step that failed, or DONE */
	char error[600];	  /* why it stopped early, or "" */
	bool timeout;		  /* it stopped because a step timed out */
	unsigned banner_code;
	char banner[SMTP_REPLY_TEXT_MAX];
	bool starttls;		 /* offered (EHLO, CAPABILITY, CAPA) */
	bool clear_login;	 /* a password could be sent before TLS: SMTP AUTH,
				    IMAP without LOGINDISABLED, POP3 USER */
	bool tls;		 /* handshake completed */
	char version[16];	 /* "TLSv1.3" */
	char cipher[64];
	bool has_cert;
	struct tls_cert_facts cert;
	bool name_ok;		 /* the certificate names the host probed */
	size_t nchain;		 /* presented certificates, leaf first (DANE) */
	struct tls_cert_digests chain[TLS_CHAIN_MAX];
	uint64_t elapsed_ms;
};

typedef void probe_done_fn(void *ctx, const struct probe_result *r);

struct probe;

/*
 * Probes sa (with port) for MX host `host` (SNI and the name checked).
 * `done` runs once, later, on the loop; the result is valid during the call.
 * Never NULL.
 */
struct probe *probe_start(uv_loop_t *loop, const struct sockaddr *sa, const char *host,
                          const struct probe_opts *o, probe_done_fn *done, void *ctx);

/* "connect", "banner", ... for a stage. */
const char *probe_stage_name(enum probe_stage s);

#endif
