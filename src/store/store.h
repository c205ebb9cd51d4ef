/*
 * store.h -- accounts: domains, users and their password hashes.
 *
 * One SQLite database, data_dir/hikyaku.db (WAL, synchronous=FULL), schema
 * versioned with PRAGMA user_version. Domains and addresses are ASCII,
 * validated and stored lower-case; local parts are dot-atoms (RFC 5321
 * 4.1.2) without '/', so that data_dir/mail/DOMAIN/LOCAL never escapes
 * data_dir. Passwords are hashed with argon2id (libsodium).
 * Threads: a struct store and its SQLite connection belong to one thread
 * (the event loop's); only store_password_verify() may run elsewhere.
 * Limits: STORE_MAX_ADDRESS, STORE_PASSWORD_MIN..STORE_PASSWORD_MAX.
 * Status convention: 1 done/found, 0 nothing to do/not found, -1 error
 * with *error_r set (valid until the next call on the same store).
 */
#ifndef HIKYAKU_STORE_STORE_H
#define HIKYAKU_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <sodium.h>

/* argon2id cost: libsodium's "interactive" level (2 passes, 64 MiB). */
#define STORE_PWHASH_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define STORE_PWHASH_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE
#define STORE_PASSWORD_MIN 8
#define STORE_PASSWORD_MAX 1024
/* local-part (64) + '@' + domain (253), RFC 5321 4.5.3.1. */
#define STORE_MAX_ADDRESS 318
#define STORE_MAX_DOMAIN 253
#define STORE_MAX_LOCAL 64

struct store;

typedef void store_list_fn(void *ctx, const char *name);

/*
 * Opens data_dir/hikyaku.db; with `create`, makes data_dir/{tmp,mail} and
 * the database when missing. When no other store is open on data_dir (an
 * flock on data_dir/hikyaku.lock tells), leftover delivery temp files in
 * data_dir/tmp are removed. Returns NULL with *error_r (static storage) on
 * failure.
 */
struct store *store_open(const char *data_dir, bool create, const char **error_r);
/* Stops the committer if running, closes the database; *s = NULL. */
void store_close(struct store **s);
const char *store_data_dir(const struct store *s);

/* Returns 1 added, 0 already there, -1 error (bad name, database). */
int store_domain_add(struct store *s, const char *domain, const char **error_r);
/* Returns 1 deleted, 0 not there, -1 error (users left, database). */
int store_domain_del(struct store *s, const char *domain, const char **error_r);
/* Calls cb for each domain, sorted. Returns 0 or -1. */
int store_domain_list(struct store *s, store_list_fn *cb, void *ctx);
/* Per RCPT: 1 local domain, 0 not (or not a valid name), -1 database error. */
int store_domain_is_local(struct store *s, const char *domain);

/* Creates the account and its Maildir. The domain must exist. Returns 1
   added, 0 already there, -1 error (bad address, password length, ...). */
int store_user_add(struct store *s, const char *address, const char *password,
                   const char **error_r);
/* Returns 1 changed, 0 no such user, -1 error. */
int store_user_passwd(struct store *s, const char *address, const char *password,
                      const char **error_r);
/* Deletes the account; its Maildir stays on disk. 1 deleted, 0 not there, -1 error. */
int store_user_del(struct store *s, const char *address, const char **error_r);
/* Calls cb for each address (of `domain` only, unless NULL), sorted. 0 or -1. */
int store_user_list(struct store *s, const char *domain, store_list_fn *cb, void *ctx);
/* Per RCPT, any case: 1 exists, 0 not (or invalid), -1 database error. */
int store_user_exists(struct store *s, const char *address);
/* Copies the argon2id hash string. 1 found, 0 no such user, -1 database error. */
int store_user_get_hash(struct store *s, const char *address, char hash[crypto_pwhash_STRBYTES]);

/* Pure and thread-safe (run it in the thread pool: it costs ~64 MiB and
   tens of ms). Returns 1 when password matches hash, else 0. */
int store_password_verify(const char *hash, const char *password);

/* Builds data_dir/mail/DOMAIN/LOCAL for a valid address (any case).
   Returns 0, or -1 (invalid address, or path does not fit). */
int store_user_maildir(const struct store *s, const char *address, char *path, size_t size);

/* Validates and lower-cases an address into out (STORE_MAX_ADDRESS + 1
   bytes). Returns 0, or -1 with *error_r (static). */
int store_address_normalize(const char *address, char *out, const char **error_r);
/* Same for a domain name (out: STORE_MAX_DOMAIN + 1 bytes). */
int store_domain_normalize(const char *domain, char *out, const char **error_r);

#endif
