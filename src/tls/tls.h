/*
 * tls.h -- TLS contexts: server certificates, SNI, reload, session facts;
 * client contexts and the outbound policy levels (Postfix
 * smtp_tls_security_level: none, may, encrypt, verify, secure).
 *
 * Inputs: PEM certificate-chain and key files named in the config (trusted,
 * read before privileges are dropped). Everything the network sends goes
 * through OpenSSL; nothing here parses peer bytes by hand.
 * Policy: TLS 1.2 minimum; TLS 1.2 ciphers limited to ECDHE with AES-GCM or
 * ChaCha20-Poly1305; server cipher preference; no compression; no
 * renegotiation; session tickets allowed.
 * Client: same protocol and cipher policy; the peer chain is checked against
 * a CAfile or the system store and the name with X509_check_host (RFC 6125,
 * no partial wildcards), but the handshake never fails on it: the caller
 * decides from the outcome and the level, as Postfix does.
 * Standards: RFC 8446, RFC 5246, RFC 6066 sec. 3 (SNI), RFC 8314, RFC 7525,
 * RFC 6125, RFC 7672 sec. 1.3 (why opportunistic TLS does not verify).
 * Security: keys stay inside OpenSSL objects; error strings never include
 * key material. Not thread-safe: one tls_server per event loop or a lock
 * around reload (SSL_CTX refcounting itself is thread-safe).
 */
#ifndef HIKYAKU_TLS_TLS_H
#define HIKYAKU_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct tls_server;
struct tls_client;

/*
 * Loads n certificate-chain/key pairs (PEM), one SSL_CTX per pair; the first
 * is the default. An SNI callback switches a handshake to the pair whose
 * certificate matches the client's server_name (X509_check_host, wildcards
 * allowed); an unknown or missing name keeps the default. Checks that each
 * key matches its certificate. Returns the server, or NULL with *error_r set
 * to "file: reason" (valid until the next tls_* call in this thread).
 */
struct tls_server *tls_server_new(char *const *cert_files, char *const *key_files, size_t n,
                                  const char **error_r);

/*
 * Re-reads the same files into new contexts and swaps them in. SSL objects
 * already made keep a reference to their old context, so no live session is
 * dropped. Returns 0, or -1 with *error_r set and the old set kept.
 */
int tls_server_reload(struct tls_server *t, const char **error_r);

/* True if any loaded leaf certificate is self-signed (issuer == subject and
   its signature verifies with its own key): the daemon logs a warning. */
bool tls_server_has_selfsigned(const struct tls_server *t);

/* A new server-mode SSL on the current default context, in accept state, with
   no BIOs attached. Never NULL (dies on out-of-memory). */
SSL *tls_server_ssl_new(struct tls_server *t);

/*
 * Frees the server and sets *t to NULL; accepts NULL. Call it only when no
 * SSL made from it is still before the end of its handshake (the SNI callback
 * refers to the server); finished sessions hold their own context references.
 */
void tls_server_free(struct tls_server **t);

/*
 * Facts about an established session, for log lines and Received headers.
 * tls_ssl_version: "TLSv1.3"...; tls_ssl_cipher: the OpenSSL cipher name;
 * tls_ssl_cipher_std: the IANA name (RFC 8314 sec. 7.4 Received "tls" clause);
 * tls_ssl_bits: secret bits of the cipher; tls_ssl_sni: the name the client
 * sent (untrusted text, pass it through log_value) or NULL;
 * tls_ssl_peer_cert: Postfix's words for the client certificate, "none" when
 * none was sent (we do not request one yet).
 */
const char *tls_ssl_version(const SSL *ssl);
const char *tls_ssl_cipher(const SSL *ssl);
const char *tls_ssl_cipher_std(const SSL *ssl);
int tls_ssl_bits(const SSL *ssl);
const char *tls_ssl_sni(const SSL *ssl);
const char *tls_ssl_peer_cert(const SSL *ssl);

/*
 * The reason for the oldest error in this thread's OpenSSL error queue
 * ("unsupported protocol", "No such file or directory"...), or "unknown
 * error"; clears the queue. The string is static or thread-local, valid until
 * the next call.
 */
const char *tls_error_reason(void);

/*
 * Outbound levels, numerically equal to enum conf_tls_level (conf/conf.h),
 * which tls/ must not include. The order is load-bearing: keep comparisons
 * in the predicates below.
 */
enum tls_level {
	TLS_LVL_NONE,
	TLS_LVL_MAY,     /* STARTTLS when offered; plain after a failed handshake */
	TLS_LVL_ENCRYPT, /* TLS or nothing; any certificate */
	TLS_LVL_VERIFY,  /* chain + MX host name */
	TLS_LVL_SECURE,  /* chain + next-hop domain (or a sub-domain of it) */
};

/* TLS must be negotiated, else the host has failed. */
static inline bool
tls_level_requires_tls(int level)
{
	return level >= TLS_LVL_ENCRYPT;
}

/* The peer must be Verified, else the host has failed. */
static inline bool
tls_level_requires_auth(int level)
{
	return level >= TLS_LVL_VERIFY;
}

/* The level's Postfix name ("may"), or "invalid". */
const char *tls_level_name(int level);

/* What we know about the server, in Postfix's words (tls_peer_name()). */
enum tls_peer {
	TLS_PEER_ANONYMOUS, /* no certificate (anonymous cipher) */
	TLS_PEER_UNTRUSTED, /* the chain does not verify */
	TLS_PEER_TRUSTED,   /* the chain verifies; name not checked or mismatched */
	TLS_PEER_VERIFIED,  /* chain and name */
};

/* "Anonymous", "Untrusted", "Trusted", "Verified". */
const char *tls_peer_name(enum tls_peer p);

/* Per-connection policy. The strings are borrowed for the call only. */
struct tls_client_policy {
	int level;           /* enum tls_level */
	const char *mx_host; /* verify: the name to match */
	const char *nexthop; /* secure: match nexthop or any sub-domain (".nexthop") */
};

/*
 * A client context: TLS 1.2 minimum, the server's cipher policy, no
 * compression or renegotiation. Trust anchors come from `cafile` (PEM), or
 * from OpenSSL's default store (the system's) when it is NULL or "".
 * Returns the client, or NULL with *error_r set (as tls_server_new).
 */
struct tls_client *tls_client_new(const char *cafile, const char **error_r);

/*
 * For `hikyaku check` only, never for delivery: a client that offers every
 * protocol from TLS 1.0 up to max_version (TLS1_1_VERSION...; 0: the
 * newest) and every cipher, to learn the oldest version a server still
 * accepts. Trust anchors as tls_client_new().
 */
struct tls_client *tls_client_new_probe(const char *cafile, int max_version,
                                        const char **error_r);

/* What `hikyaku check` reports about a server's certificate. */
struct tls_cert_facts {
	char group[32];	      /* key exchange group ("X25519"), "" if unknown */
	char subject[256];    /* one-line subject and issuer (untrusted text) */
	char issuer[256];
	int days_left;	      /* until notAfter; negative when expired */
	bool chain_ok;	      /* verified against the trust anchors */
	char chain_error[96]; /* why not, or "" */
};

/* Fills f after a client handshake. Returns 0, or -1 when the server sent
   no certificate (only the group is set). */
int tls_ssl_cert_facts(const SSL *ssl, struct tls_cert_facts *f);
/* Digests of one certificate of the presented chain, for DANE (RFC 6698
   matching types 1 and 2 over the full certificate and its SPKI). */
#define TLS_CHAIN_MAX 8
struct tls_cert_digests {
	unsigned char cert256[32], cert512[64], spki256[32], spki512[64];
};
/* Fills up to TLS_CHAIN_MAX entries, leaf first; returns how many. */
size_t tls_ssl_chain_digests(const SSL *ssl, struct tls_cert_digests *out, size_t max);

/* Does the server certificate match name (RFC 6125, as verify does)? */
bool tls_ssl_name_ok(const SSL *ssl, const char *name);

/* Frees the client and sets *t to NULL; accepts NULL. SSL objects made from
   it hold their own context reference. */
void tls_client_free(struct tls_client **t);

/* A new client-mode SSL in connect state, no BIOs attached, sending `sni` as
   server_name when it is a DNS name (not NULL, "" or an address literal).
   Never NULL (dies on out-of-memory). */
SSL *tls_client_ssl_new(struct tls_client *t, const char *sni);

/*
 * After the handshake: classifies the server under policy p. The chain is
 * judged by OpenSSL's verification during the handshake; the name is
 * checked only when the level asks for one (verify: mx_host; secure:
 * nexthop or ".nexthop"). *detail_r is NULL when the peer is Verified or no
 * name check was asked for and the chain verified; otherwise a static
 * reason ("certificate has expired", "name mismatch", "no certificate").
 */
enum tls_peer tls_client_check(const SSL *ssl, const struct tls_client_policy *p,
                               const char **detail_r);

#endif
