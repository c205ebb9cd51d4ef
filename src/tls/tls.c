/*
 * tls.c -- server SSL_CTX set: load, SNI selection, reload, session facts;
 * the outbound client context and the classification of a server's
 * certificate under a policy level.
 *
 * One SSL_CTX per certificate/key pair, all configured alike, so that the SNI
 * callback can move a handshake from the default context to another with
 * SSL_set_SSL_CTX() without changing its protocol policy.
 * Limits: the set is fixed at load time; reload replaces it as a whole.
 * Standards: RFC 6066 sec. 3 (server_name), RFC 6125 (name matching, through
 * X509_check_host), RFC 7525 / RFC 8996 (no TLS below 1.2).
 * Security: a reload that fails keeps the old set, so a typo in a renewed
 * key never takes the listeners down. Client side: verification never
 * aborts a handshake (SSL_VERIFY_NONE still runs and records the chain
 * check); tls_client_check() judges afterwards, so that `may` can log an
 * Untrusted peer and still encrypt, and `verify`/`secure` fail with a reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "tls/tls.h"

/* TLS 1.2 only; TLS 1.3 suites are all AEAD and stay at OpenSSL's default. */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"

/* One loaded generation of contexts; pairs[0] is the default. */
struct tls_set {
	SSL_CTX **ctx;
	size_t n;
	bool selfsigned;
};

struct tls_client {
	SSL_CTX *ctx;
};

struct tls_server {
	char **cert_files;
	char **key_files;
	size_t n;
	struct tls_set *cur;
};

static _Thread_local char tls_errbuf[512];

const char *
tls_error_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r;

	if (e == 0)
		return "unknown error";
	if (ERR_SYSTEM_ERROR(e)) {
		/* OpenSSL 3 keeps errno here and has no static string for it. */
		snprintf(tls_errbuf, sizeof(tls_errbuf), "%s", strerror(ERR_GET_REASON(e)));
		r = tls_errbuf;
	} else if ((r = ERR_reason_error_string(e)) == NULL) {
		ERR_error_string_n(e, tls_errbuf, sizeof(tls_errbuf));
		r = tls_errbuf;
	}
	ERR_clear_error();
	return r;
}

/* tls_fail - set *error_r to "file: reason" from the OpenSSL error queue. */
static const char *
tls_fail(const char *file, const char *reason)
{
	static _Thread_local char msg[1024];

	if (reason == NULL)
		reason = tls_error_reason();
	snprintf(msg, sizeof(msg), "%s: %s", file, reason);
	ERR_clear_error();
	return msg;
}

/*
 * tls_sni_cb - pick the context whose certificate matches server_name.
 * Unknown names keep the default: mail clients often send an IP literal or a
 * name we do not serve, and refusing them would only push them to plaintext.
 */
static int
tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct tls_set *set = t->cur;

	(void)alert;
	if (name == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	for (size_t i = 0; i < set->n; i++) {
		X509 *leaf = SSL_CTX_get0_certificate(set->ctx[i]);

		if (leaf != NULL && X509_check_host(leaf, name, 0, 0, NULL) == 1) {
			if (SSL_get_SSL_CTX(ssl) != set->ctx[i])
				SSL_set_SSL_CTX(ssl, set->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* tls_ctx_policy - protocol policy shared by every context. */
static int
tls_ctx_policy(SSL_CTX *ctx, struct tls_server *t)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, 0) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	                                 SSL_OP_NO_RENEGOTIATION);
	/* Idle IMAP sessions are the common case: give read/write buffers back
	   between records (about 34 KiB per idle connection). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, t);
	return 0;
}

/* tls_ctx_load - one context for one pair; NULL with *error_r on failure. */
static SSL_CTX *
tls_ctx_load(struct tls_server *t, const char *cert, const char *key, const char **error_r)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*error_r = tls_fail(cert, NULL);
		return NULL;
	}
	if (tls_ctx_policy(ctx, t) < 0) {
		*error_r = tls_fail(cert, NULL);
	} else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*error_r = tls_fail(cert, NULL);
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_fail(key, NULL);
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_fail(key, "private key does not match the certificate");
	} else {
		return ctx;
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static void
tls_set_free(struct tls_set **setp)
{
	struct tls_set *set = *setp;

	if (set == NULL)
		return;
	/* Live SSL objects hold their own references; this drops ours. */
	for (size_t i = 0; i < set->n; i++)
		SSL_CTX_free(set->ctx[i]);
	free(set->ctx);
	free(set);
	*setp = NULL;
}

/* tls_set_load - a whole generation, or NULL with *error_r. */
static struct tls_set *
tls_set_load(struct tls_server *t, const char **error_r)
{
	struct tls_set *set = xcalloc(1, sizeof(*set));

	set->ctx = xcalloc(t->n, sizeof(*set->ctx));
	for (; set->n < t->n; set->n++) {
		SSL_CTX *ctx =
		        tls_ctx_load(t, t->cert_files[set->n], t->key_files[set->n], error_r);

		if (ctx == NULL) {
			tls_set_free(&set);
			return NULL;
		}
		set->ctx[set->n] = ctx;
		/* verify_signature=1: a matching name alone is not "self-signed". */
		if (X509_self_signed(SSL_CTX_get0_certificate(ctx), 1) == 1)
			set->selfsigned = true;
	}
	ERR_clear_error();
	return set;
}

struct tls_server *
tls_server_new(char *const *cert_files, char *const *key_files, size_t n, const char **error_r)
{
	struct tls_server *t;

	if (n == 0) {
		*error_r = "no certificate configured";
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->n = n;
	t->cert_files = xcalloc(n, sizeof(char *));
	t->key_files = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		t->cert_files[i] = xstrdup(cert_files[i]);
		t->key_files[i] = xstrdup(key_files[i]);
	}
	if ((t->cur = tls_set_load(t, error_r)) == NULL)
		tls_server_free(&t);
	return t;
}

int
tls_server_reload(struct tls_server *t, const char **error_r)
{
	struct tls_set *set = tls_set_load(t, error_r);

	if (set == NULL)
		return -1;
	tls_set_free(&t->cur);
	t->cur = set;
	return 0;
}

bool
tls_server_has_selfsigned(const struct tls_server *t)
{
	return t->cur->selfsigned;
}

SSL *
tls_server_ssl_new(struct tls_server *t)
{
	SSL *ssl = SSL_new(t->cur->ctx[0]);

	if (ssl == NULL)
		die("SSL_new: %s", tls_error_reason());
	SSL_set_accept_state(ssl);
	return ssl;
}

void
tls_server_free(struct tls_server **tp)
{
	struct tls_server *t = *tp;

	if (t == NULL)
		return;
	tls_set_free(&t->cur);
	for (size_t i = 0; i < t->n; i++) {
		free(t->cert_files[i]);
		free(t->key_files[i]);
	}
	free(t->cert_files);
	free(t->key_files);
	free(t);
	*tp = NULL;
}

const char *
tls_ssl_version(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *
tls_ssl_cipher(const SSL *ssl)
{
	return SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
}

const char *
tls_ssl_cipher_std(const SSL *ssl)
{
	return SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl));
}

int
tls_ssl_bits(const SSL *ssl)
{
	return SSL_CIPHER_get_bits(SSL_get_current_cipher(ssl), NULL);
}

const char *
tls_ssl_sni(const SSL *ssl)
{
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

const char *
tls_ssl_peer_cert(const SSL *ssl)
{
	/* XXX: when client certificates are requested, map the verify result
	   to Postfix's Untrusted/Trusted/Verified here. */
	(void)ssl;
	return "none";
}

const char *
tls_level_name(int level)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify", "secure" };

	if (level < 0 || (size_t)level >= sizeof(names) / sizeof(names[0]))
		return "invalid";
	return names[level];
}

const char *
tls_peer_name(enum tls_peer p)
{
	switch (p) {
	case TLS_PEER_ANONYMOUS:
		return "Anonymous";
	case TLS_PEER_UNTRUSTED:
		return "Untrusted";
	case TLS_PEER_TRUSTED:
		return "Trusted";
	case TLS_PEER_VERIFIED:
		return "Verified";
	}
	return "Anonymous";
}

static bool tls_name_ok(X509 *cert, const char *name);

/* tls_client_trust - load the trust anchors: the CAfile, else the system's. */
static int
tls_client_trust(SSL_CTX *ctx, const char *cafile)
{
	if (cafile != NULL && cafile[0] != '\0')
		return SSL_CTX_load_verify_locations(ctx, cafile, NULL) == 1 ? 0 : -1;
	return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
}

/* tls_client_make - a client context: protocols min..max (0: newest),
   the cipher list, trust anchors; verification recorded, never fatal. */
static struct tls_client *
tls_client_make(const char *cafile, int min, int max, const char *ciphers, bool any,
                const char **error_r)
{
	const char *what = cafile != NULL && cafile[0] != '\0' ? cafile : "system CA store";
	struct tls_client *t;
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		*error_r = tls_fail(what, NULL);
		return NULL;
	}
	/* Level 0 (probes only): the point is to learn what a server accepts. */
	if (any)
		SSL_CTX_set_security_level(ctx, 0);
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    (max != 0 && SSL_CTX_set_max_proto_version(ctx, max) != 1) ||
	    SSL_CTX_set_cipher_list(ctx, ciphers) != 1 || tls_client_trust(ctx, cafile) < 0) {
		*error_r = tls_fail(what, NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* Record, never abort: tls_client_check() decides per level. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	return t;
}

struct tls_client *
tls_client_new(const char *cafile, const char **error_r)
{
	return tls_client_make(cafile, TLS1_2_VERSION, 0, TLS12_CIPHERS, false, error_r);
}

struct tls_client *
tls_client_new_probe(const char *cafile, int max_version, const char **error_r)
{
	return tls_client_make(cafile, TLS1_VERSION, max_version, "ALL:@SECLEVEL=0", true, error_r);
}

int
tls_ssl_cert_facts(const SSL *ssl, struct tls_cert_facts *f)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	const ASN1_TIME *na;
	int days = 0, secs = 0, nid;

	memset(f, 0, sizeof(*f));
	if ((nid = SSL_get_negotiated_group((SSL *)ssl)) > 0) {
		const char *g = SSL_group_to_name((SSL *)ssl, nid);

		snprintf(f->group, sizeof(f->group), "%s", g != NULL ? g : "unknown");
	}
	if (cert == NULL)
		return -1;
	X509_NAME_oneline(X509_get_subject_name(cert), f->subject, sizeof(f->subject));
	X509_NAME_oneline(X509_get_issuer_name(cert), f->issuer, sizeof(f->issuer));
	if ((na = X509_get0_notAfter(cert)) != NULL && ASN1_TIME_diff(&days, &secs, NULL, na) == 1)
		f->days_left = days;
	f->chain_ok = SSL_get_verify_result(ssl) == X509_V_OK;
	snprintf(f->chain_error, sizeof(f->chain_error), "%s",
	         f->chain_ok ? "" : X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
	return 0;
}

/* cert_digests - SHA-256 and SHA-512 of the DER certificate and its SPKI. */
static int
cert_digests(X509 *x, struct tls_cert_digests *d)
{
	unsigned char *der = NULL;
	unsigned int n;
	int len;

	if ((len = i2d_X509(x, &der)) <= 0)
		return -1;
	EVP_Digest(der, (size_t)len, d->cert256, &n, EVP_sha256(), NULL);
	EVP_Digest(der, (size_t)len, d->cert512, &n, EVP_sha512(), NULL);
	OPENSSL_free(der);
	der = NULL;
	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der)) <= 0)
		return -1;
	EVP_Digest(der, (size_t)len, d->spki256, &n, EVP_sha256(), NULL);
	EVP_Digest(der, (size_t)len, d->spki512, &n, EVP_sha512(), NULL);
	OPENSSL_free(der);
	return 0;
}

size_t
tls_ssl_chain_digests(const SSL *ssl, struct tls_cert_digests *out, size_t max)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	size_t n = 0;

	if (leaf == NULL || max == 0 || cert_digests(leaf, &out[n++]) < 0)
		return 0;
	/* The client-side chain starts with the leaf again. */
	for (int i = 0; chain != NULL && i < sk_X509_num(chain) && n < max; i++) {
		X509 *x = sk_X509_value(chain, i);

		if (X509_cmp(x, leaf) != 0 && cert_digests(x, &out[n]) == 0)
			n++;
	}
	return n;
}

bool
tls_ssl_name_ok(const SSL *ssl, const char *name)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);

	return cert != NULL && tls_name_ok(cert, name);
}

void
tls_client_free(struct tls_client **tp)
{
	struct tls_client *t = *tp;

	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
	*tp = NULL;
}

/* tls_is_dns_name - SNI carries host names only (RFC 6066 sec. 3). */
static bool
tls_is_dns_name(const char *s)
{
	unsigned char tmp[sizeof(struct in6_addr)];

	if (s == NULL || s[0] == '\0' || s[0] == '[')
		return false;
	return inet_pton(AF_INET, s, tmp) != 1 && inet_pton(AF_INET6, s, tmp) != 1;
}

SSL *
tls_client_ssl_new(struct tls_client *t, const char *sni)
{
	SSL *ssl = SSL_new(t->ctx);

	if (ssl == NULL)
		die("SSL_new: %s", tls_error_reason());
	if (tls_is_dns_name(sni) && SSL_set_tlsext_host_name(ssl, sni) != 1)
		die("SSL_set_tlsext_host_name: %s", tls_error_reason());
	SSL_set_connect_state(ssl);
	return ssl;
}

/* tls_name_ok - RFC 6125 match (DNS-ID, CN only without DNS-IDs), no partial
   wildcards ("w*.example.com"); a leading "." matches any sub-domain. */
static bool
tls_name_ok(X509 *cert, const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	return X509_check_host(cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

/* tls_client_name_match - the names the level asks for. */
static bool
tls_client_name_match(X509 *cert, const struct tls_client_policy *p)
{
	char dot[256];

	if (p->level == TLS_LVL_VERIFY)
		return tls_name_ok(cert, p->mx_host);
	/* smtp_tls_secure_cert_match = nexthop, dot-nexthop */
	if (p->nexthop == NULL || tls_name_ok(cert, p->nexthop))
		return p->nexthop != NULL;
	if (snprintf(dot, sizeof(dot), ".%s", p->nexthop) >= (int)sizeof(dot))
		return false;
	return tls_name_ok(cert, dot);
}

enum tls_peer
tls_client_check(const SSL *ssl, const struct tls_client_policy *p, const char **detail_r)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	long v;

	*detail_r = NULL;
	if (cert == NULL) {
		*detail_r = "no certificate";
		return TLS_PEER_ANONYMOUS;
	}
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		*detail_r = X509_verify_cert_error_string(v);
		return TLS_PEER_UNTRUSTED;
	}
	if (!tls_level_requires_auth(p->level))
		return TLS_PEER_TRUSTED;
	if (!tls_client_name_match(cert, p)) {
		*detail_r = "name mismatch";
		return TLS_PEER_TRUSTED;
	}
	return TLS_PEER_VERIFIED;
}
