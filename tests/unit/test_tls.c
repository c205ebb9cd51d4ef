/*
 * test_tls.c -- server contexts: SNI selection, protocol and cipher policy,
 * key checks, self-signed detection and reload, with in-memory handshakes.
 *
 * Throwaway certificates are made at run time in a mkdtemp() directory and
 * removed at the end; nothing here is ever committed or trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "tls/tls.h"

static char dir[64];

/* path - a file name inside the temp dir; four rotating slots, so a few
   results can be used together in one call. */
static const char *
path(const char *name)
{
	static char p[4][128];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(p[slot], sizeof(p[slot]), "%s/%s", dir, name);
	return p[slot];
}

/* make_cert - a P-256 certificate for `dns` (SAN), self-signed unless an
   issuer is given. */
static X509 *
make_cert(EVP_PKEY *key, const char *dns, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_get_subject_name(x);
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char san[128];

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)dns, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", dns);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "CA:TRUE" : "CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256());
	return x;
}

static void
write_pem(const char *file, X509 *x, EVP_PKEY *key)
{
	FILE *fp = fopen(file, "w");

	if (fp == NULL) {
		perror(file);
		exit(2);
	}
	if (x != NULL)
		PEM_write_X509(fp, x);
	if (key != NULL)
		PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
}

/* make_pair - NAME.crt and NAME.key for `dns`. */
static void
make_pair(const char *name, const char *dns, X509 *issuer, EVP_PKEY *issuer_key)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = make_cert(key, dns, issuer, issuer_key, false);
	char f[64];

	snprintf(f, sizeof(f), "%s.crt", name);
	write_pem(path(f), x, NULL);
	snprintf(f, sizeof(f), "%s.key", name);
	write_pem(path(f), NULL, key);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* setup - the certificates every test uses: a.test, b.test, *.w.test
   (self-signed) and leaf.test signed by a throwaway CA. */
static void
setup(void)
{
	EVP_PKEY *cakey;
	X509 *ca;

	snprintf(dir, sizeof(dir), "/tmp/hikyaku-test-tls-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	make_pair("a", "a.test", NULL, NULL);
	make_pair("b", "b.test", NULL, NULL);
	make_pair("w", "*.w.test", NULL, NULL);
	cakey = EVP_EC_gen("P-256");
	ca = make_cert(cakey, "ca.test", NULL, NULL, true);
	make_pair("leaf", "leaf.test", ca, cakey);
	X509_free(ca);
	EVP_PKEY_free(cakey);
}

static void
teardown(void)
{
	static const char *const names[] = {"a.crt",   "a.key",   "b.crt",    "b.key",
	                                    "w.crt",   "w.key",   "leaf.crt", "leaf.key",
	                                    "cur.crt", "cur.key", "bad.key"};

	for (size_t i = 0; i < nitems(names); i++)
		unlink(path(names[i]));
	rmdir(dir);
}

/* attach_mem - give an SSL two memory BIOs. */
static void
attach_mem(SSL *ssl)
{
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());

	BIO_set_mem_eof_return(r, -1);
	SSL_set_bio(ssl, r, w);
}

/* move - ciphertext from one side's write BIO to the other's read BIO. */
static void
move(SSL *from, SSL *to)
{
	char b[4096];
	int n;

	while ((n = BIO_read(SSL_get_wbio(from), b, sizeof(b))) > 0)
		BIO_write(SSL_get_rbio(to), b, n);
}

static bool
wants_more(SSL *ssl, int r)
{
	return r == 1 || SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ;
}

/* handshake - 1 when both ends finish; -1 with the failing side's reason. */
static int
handshake(SSL *cli, SSL *srv, const char **why_r)
{
	for (int i = 0; i < 20; i++) {
		int rc, rs;

		ERR_clear_error();
		rc = SSL_do_handshake(cli);
		if (!wants_more(cli, rc)) {
			*why_r = tls_error_reason();
			return -1;
		}
		move(cli, srv);
		rs = SSL_do_handshake(srv);
		if (!wants_more(srv, rs)) {
			*why_r = tls_error_reason();
			return -1;
		}
		move(srv, cli);
		if (rc == 1 && rs == 1)
			return 1;
	}
	*why_r = "no progress";
	return -1;
}

static SSL_CTX *
client_ctx(int min, int max, const char *ciphers)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, max);
	if (ciphers != NULL) {
		SSL_CTX_set_security_level(ctx, 0); /* let it offer old things */
		SSL_CTX_set_cipher_list(ctx, ciphers);
	}
	return ctx;
}

struct session {
	SSL *cli, *srv;
	int rc;
	const char *why;
};

/* connect_to - handshake a new client (SNI `sni`, may be NULL) with t. */
static struct session
connect_to(struct tls_server *t, SSL_CTX *cctx, const char *sni)
{
	struct session s = {SSL_new(cctx), tls_server_ssl_new(t), 0, NULL};

	attach_mem(s.cli);
	attach_mem(s.srv);
	SSL_set_connect_state(s.cli);
	if (sni != NULL)
		SSL_set_tlsext_host_name(s.cli, sni);
	s.rc = handshake(s.cli, s.srv, &s.why);
	return s;
}

static void
session_free(struct session *s)
{
	SSL_free(s->cli);
	SSL_free(s->srv);
}

/* presented - true if the server's certificate in s is valid for name. */
static bool
presented(const struct session *s, const char *name)
{
	X509 *x = SSL_get0_peer_certificate(s->cli);

	return x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1;
}

static struct tls_server *
server_of(const char *const *names, size_t n, const char **error_r)
{
	char *certs[8], *keys[8];
	struct tls_server *t;

	for (size_t i = 0; i < n; i++) {
		certs[i] = strdup(path(names[2 * i]));
		keys[i] = strdup(path(names[2 * i + 1]));
	}
	t = tls_server_new(certs, keys, n, error_r);
	for (size_t i = 0; i < n; i++) {
		free(certs[i]);
		free(keys[i]);
	}
	return t;
}

static void
test_tls_sni(void)
{
	static const char *const files[] = {"a.crt", "a.key", "b.crt", "b.key", "w.crt", "w.key"};
	const char *err = NULL;
	struct tls_server *t = server_of(files, 3, &err);
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, 0, NULL);
	struct session s;

	CHECK(t != NULL);
	if (t == NULL)
		return;
	CHECK(tls_server_has_selfsigned(t));
	s = connect_to(t, cctx, "b.test");
	CHECK_INT(s.rc, 1);
	CHECK(presented(&s, "b.test"));
	CHECK_STR(tls_ssl_version(s.srv), "TLSv1.3");
	CHECK_STR(tls_ssl_sni(s.srv), "b.test");
	CHECK_STR(tls_ssl_peer_cert(s.srv), "none");
	CHECK(tls_ssl_bits(s.srv) >= 128);
	CHECK(strncmp(tls_ssl_cipher_std(s.srv), "TLS_", 4) == 0);
	session_free(&s);

	s = connect_to(t, cctx, NULL); /* no SNI: the first pair */
	CHECK_INT(s.rc, 1);
	CHECK(presented(&s, "a.test"));
	CHECK(tls_ssl_sni(s.srv) == NULL);
	session_free(&s);

	s = connect_to(t, cctx, "mx.w.test"); /* wildcard */
	CHECK_INT(s.rc, 1);
	CHECK(presented(&s, "mx.w.test"));
	session_free(&s);

	s = connect_to(t, cctx, "unknown.test"); /* unknown: the default */
	CHECK_INT(s.rc, 1);
	CHECK(presented(&s, "a.test"));
	session_free(&s);

	SSL_CTX_free(cctx);
	tls_server_free(&t);
	CHECK(t == NULL);
	tls_server_free(&t);
}

static void
test_tls_policy(void)
{
	static const char *const files[] = {"a.crt", "a.key"};
	const char *err = NULL;
	struct tls_server *t = server_of(files, 1, &err);
	SSL_CTX *old = client_ctx(TLS1_VERSION, TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0");
	SSL_CTX *cbc = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, "ECDHE-ECDSA-AES256-SHA384");
	SSL_CTX *tls12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	struct session s;

	if (t == NULL) {
		CHECK(t != NULL);
		return;
	}
	s = connect_to(t, old, "a.test"); /* TLS 1.1 is refused */
	CHECK_INT(s.rc, -1);
	CHECK_STR(s.why, "unsupported protocol");
	session_free(&s);

	s = connect_to(t, cbc, "a.test"); /* TLS 1.2 without AEAD is refused */
	CHECK_INT(s.rc, -1);
	CHECK_STR(s.why, "no shared cipher");
	session_free(&s);

	s = connect_to(t, tls12, "a.test");
	CHECK_INT(s.rc, 1);
	CHECK_STR(tls_ssl_version(s.srv), "TLSv1.2");
	CHECK(strncmp(tls_ssl_cipher(s.srv), "ECDHE-ECDSA-", 12) == 0);
	CHECK(SSL_get_current_compression(s.srv) == NULL);
	session_free(&s);

	SSL_CTX_free(old);
	SSL_CTX_free(cbc);
	SSL_CTX_free(tls12);
	tls_server_free(&t);
}

static void
test_tls_errors(void)
{
	static const char *const mismatch[] = {"a.crt", "b.key"};
	static const char *const missing[] = {"a.crt", "a.key", "nope.crt", "b.key"};
	static const char *const ca_signed[] = {"leaf.crt", "leaf.key"};
	const char *err = NULL;
	struct tls_server *t;
	char want[256];

	t = server_of(mismatch, 1, &err);
	CHECK(t == NULL);
	/* OpenSSL already refuses the key when it is loaded. */
	snprintf(want, sizeof(want), "%s: key values mismatch", path("b.key"));
	CHECK_STR(err, want);

	t = server_of(missing, 2, &err);
	CHECK(t == NULL);
	snprintf(want, sizeof(want), "%s: No such file or directory", path("nope.crt"));
	CHECK_STR(err, want);

	CHECK(tls_server_new(NULL, NULL, 0, &err) == NULL);

	t = server_of(ca_signed, 1, &err);
	CHECK(t != NULL);
	if (t != NULL)
		CHECK(!tls_server_has_selfsigned(t));
	tls_server_free(&t);
	CHECK(ERR_peek_error() == 0); /* nothing left in the queue */
}

/* install - copy NAME.crt/.key over cur.crt/.key (renamed into place, as
   certbot-style renewals do). */
static void
install(const char *name)
{
	char src[128], tmp[128];
	static const char *const ext[] = {"crt", "key"};

	for (int i = 0; i < 2; i++) {
		FILE *in, *out;
		char b[8192];
		size_t n;

		snprintf(src, sizeof(src), "%s/%s.%s", dir, name, ext[i]);
		snprintf(tmp, sizeof(tmp), "%s/new.%s", dir, ext[i]);
		in = fopen(src, "r");
		out = fopen(tmp, "w");
		if (in == NULL || out == NULL)
			exit(2);
		while ((n = fread(b, 1, sizeof(b), in)) > 0)
			fwrite(b, 1, n, out);
		fclose(in);
		fclose(out);
		snprintf(src, sizeof(src), "%s/cur.%s", dir, ext[i]);
		rename(tmp, src);
	}
}

/* roundtrip - application data both ways over an established session. */
static bool
roundtrip(struct session *s)
{
	char b[16];
	size_t n = 0;

	if (SSL_write(s->cli, "ping", 4) != 4)
		return false;
	move(s->cli, s->srv);
	if (SSL_read_ex(s->srv, b, sizeof(b), &n) != 1 || n != 4 || memcmp(b, "ping", 4) != 0)
		return false;
	if (SSL_write(s->srv, "pong", 4) != 4)
		return false;
	move(s->srv, s->cli);
	return SSL_read_ex(s->cli, b, sizeof(b), &n) == 1 && n == 4 && memcmp(b, "pong", 4) == 0;
}

static void
test_tls_reload(void)
{
	static const char *const files[] = {"cur.crt", "cur.key"};
	const char *err = NULL;
	struct tls_server *t;
	SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, 0, NULL);
	struct session live, s;
	FILE *fp;

	install("a");
	if ((t = server_of(files, 1, &err)) == NULL) {
		CHECK(t != NULL);
		return;
	}
	live = connect_to(t, cctx, NULL);
	CHECK_INT(live.rc, 1);
	CHECK(presented(&live, "a.test"));

	install("b");
	CHECK_INT(tls_server_reload(t, &err), 0);
	s = connect_to(t, cctx, NULL);
	CHECK_INT(s.rc, 1);
	CHECK(presented(&s, "b.test"));
	session_free(&s);
	CHECK(roundtrip(&live)); /* the old session did not notice */

	/* A broken key on disk: reload fails, the loaded set stays. */
	fp = fopen(path("cur.key"), "w");
	fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", fp);
	fclose(fp);
	CHECK_INT(tls_server_reload(t, &err), -1);
	CHECK(err != NULL && strstr(err, "cur.key: ") != NULL);
	s = connect_to(t, cctx, NULL);
	CHECK_INT(s.rc, 1);
	CHECK(presented(&s, "b.test"));
	session_free(&s);
	CHECK(roundtrip(&live));

	session_free(&live);
	SSL_CTX_free(cctx);
	tls_server_free(&t);
}

static void
test_tls_setup(void)
{
	setup();
}

static void
test_tls_teardown(void)
{
	teardown();
	CHECK(access(dir, F_OK) != 0);
}

static const struct t_test tests[] = {T(test_tls_setup),
                                      T(test_tls_sni),
                                      T(test_tls_policy),
                                      T(test_tls_errors),
                                      T(test_tls_reload),
                                      T(test_tls_teardown),
                                      {0}};
T_MAIN(tests)
