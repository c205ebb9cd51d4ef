/*
 * tls.h -- server-side TLS contexts: certificates, SNI, reload, session facts.
 *
 * Inputs: PEM certificate-chain and key files named in the config (trusted,
 * read before privileges are dropped). Everything the network sends goes
 * through OpenSSL; nothing here parses peer bytes by hand.
 * Policy: TLS 1.2 minimum; TLS 1.2 ciphers limited to ECDHE with AES-GCM or
 * ChaCha20-Poly1305; server cipher preference; no compression; no
 * renegotiation; session tickets allowed.
 * Standards: RFC 8446, RFC 5246, RFC 6066 sec. 3 (SNI), RFC 8314, RFC 7525.
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

#endif
