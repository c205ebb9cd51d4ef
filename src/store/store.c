/*
 * store.c -- accounts database: domains, users, argon2id password hashes.
 *
 * SQLite in WAL mode with synchronous=FULL (an acknowledged `user add`
 * survives a power cut), busy_timeout 5 s so that the CLI and the daemon
 * can write side by side. Hot-path lookups (per RCPT, per AUTH) use
 * statements prepared once at open.
 * Input: addresses and domains come from the network (RCPT, AUTH) and the
 * command line; they are validated before any use, and only validated,
 * lower-cased names ever reach a path (no "/", no leading ".", no "..").
 * Security: passwords are hashed with crypto_pwhash_str_alg(ARGON2ID13);
 * the caller's copies are its to wipe, ours are never made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xalloc.h"
#include "store/maildir.h"
#include "store/store_int.h"

#define SCHEMA_VERSION 1

static const char *const schema_sql = "CREATE TABLE domains ("
                                      " name TEXT PRIMARY KEY NOT NULL,"
                                      " created INTEGER NOT NULL);"
                                      "CREATE TABLE users ("
                                      " address TEXT PRIMARY KEY NOT NULL,"
                                      " domain TEXT NOT NULL REFERENCES domains(name),"
                                      " pwhash TEXT NOT NULL,"
                                      " created INTEGER NOT NULL);"
                                      "CREATE INDEX users_domain ON users(domain);"
                                      "PRAGMA user_version = 1;";

static const char *const stmt_sql[ST_COUNT] = {
        [ST_DOMAIN_IS_LOCAL] = "SELECT 1 FROM domains WHERE name = ?1",
        [ST_USER_EXISTS] = "SELECT 1 FROM users WHERE address = ?1",
        [ST_USER_GET_HASH] = "SELECT pwhash FROM users WHERE address = ?1",
};

/* ---- names ---- */

static char
ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

int
store_domain_normalize(const char *domain, char *out, const char **error_r)
{
	size_t n = strlen(domain), label = 0;

	if (n == 0 || n > STORE_MAX_DOMAIN) {
		*error_r = n == 0 ? "empty domain" : "domain too long (max 253)";
		return -1;
	}
	for (size_t i = 0; i <= n; i++) {
		char ch = ascii_lower(domain[i]);

		if (ch == '.' || ch == '\0') {
			if (label == 0 || out[i - 1] == '-') {
				*error_r = "bad domain: empty label, or a label ends with '-'";
				return -1;
			}
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		           (ch == '-' && label > 0)) {
			if (++label > 63) {
				*error_r = "bad domain: label longer than 63";
				return -1;
			}
		} else {
			*error_r = (unsigned char)ch >= 0x80
			                   ? "bad domain: not ASCII (use the xn-- form)"
			                   : "bad domain: letters, digits, '-' and '.' only";
			return -1;
		}
		out[i] = ch;
	}
	return 0;
}

/* atext of RFC 5322 3.2.3 without '/', which would be a path separator. */
static bool
is_local_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-=?^_`{|}~", ch) != NULL);
}

/* Dot-atom local part, lower-cased: no leading, trailing or double dot. */
static int
local_normalize(const char *local, size_t n, char *out, const char **error_r)
{
	if (n == 0 || n > STORE_MAX_LOCAL) {
		*error_r = n == 0 ? "empty local part" : "local part too long (max 64)";
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = ascii_lower(local[i]);

		if (ch == '.') {
			if (i == 0 || i == n - 1 || local[i - 1] == '.') {
				*error_r = "bad local part: leading, trailing or double dot";
				return -1;
			}
		} else if (!is_local_char(ch)) {
			*error_r =
			        "bad local part: letters, digits, '.' and !#$%&'*+-=?^_`{|}~ only";
			return -1;
		}
		out[i] = ch;
	}
	out[n] = '\0';
	return 0;
}

int
store_address_normalize(const char *address, char *out, const char **error_r)
{
	const char *at = strrchr(address, '@');
	size_t ln;

	if (at == NULL) {
		*error_r = "address without '@'";
		return -1;
	}
	ln = (size_t)(at - address);
	if (local_normalize(address, ln, out, error_r) < 0)
		return -1;
	out[ln] = '@';
	return store_domain_normalize(at + 1, out + ln + 1, error_r);
}

int
store_user_maildir(const struct store *s, const char *address, char *path, size_t size)
{
	char addr[STORE_MAX_ADDRESS + 1], *at;
	const char *error;
	int n;

	if (store_address_normalize(address, addr, &error) < 0)
		return -1;
	at = strrchr(addr, '@');
	*at = '\0';
	n = snprintf(path, size, "%s/mail/%s/%s", s->data_dir, at + 1, addr);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

const char *
store_data_dir(const struct store *s)
{
	return s->data_dir;
}

/* ---- SQLite helpers ---- */

static const char *
db_error(struct store *s, const char *what)
{
	snprintf(s->errbuf, sizeof(s->errbuf), "%s: %s", what, sqlite3_errmsg(s->db));
	return s->errbuf;
}

static int
db_exec(struct store *s, const char *sql, const char **error_r)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	*error_r = db_error(s, "database");
	return -1;
}

/* Prepares a one-shot statement and binds ?1 (and ?2) as text. */
static sqlite3_stmt *
db_prep(struct store *s, const char *sql, const char *a1, const char *a2, const char **error_r)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*error_r = db_error(s, "database");
		return NULL;
	}
	if ((a1 != NULL && sqlite3_bind_text(st, 1, a1, -1, SQLITE_TRANSIENT) != SQLITE_OK) ||
	    (a2 != NULL && sqlite3_bind_text(st, 2, a2, -1, SQLITE_TRANSIENT) != SQLITE_OK)) {
		*error_r = db_error(s, "database");
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Runs a one-shot write; returns the number of rows changed, or -1. */
static int
db_write(struct store *s, const char *sql, const char *a1, const char *a2, const char **error_r)
{
	sqlite3_stmt *st = db_prep(s, sql, a1, a2, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		*error_r = db_error(s, "database");
		return -1;
	}
	return sqlite3_changes(s->db);
}

/* Runs a one-shot query returning one integer (0 when no row). */
static int
db_count(struct store *s, const char *sql, const char *a1, long long *n_r, const char **error_r)
{
	sqlite3_stmt *st = db_prep(s, sql, a1, NULL, error_r);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	*n_r = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		*error_r = db_error(s, "database");
		return -1;
	}
	return 0;
}

/* Hot path: a cached statement with ?1 bound; 1 row, 0 none, -1 error.
   The statement stays positioned on the row until the caller resets it. */
static int
db_lookup(struct store *s, enum store_stmt which, const char *a1)
{
	sqlite3_stmt *st = s->stmt[which];
	int rc;

	sqlite3_reset(st);
	if (sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- open and close ---- */

static _Thread_local char open_err[8192];

static const char *
open_error(const char *what, const char *detail)
{
	snprintf(open_err, sizeof(open_err), "%s: %s", what, detail);
	return open_err;
}

/* mkdir that accepts an existing directory. */
static int
mkdir_exist_ok(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	return -1;
}

static int
open_dirs(struct store *s, bool create, const char **error_r)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/tmp", s->data_dir);
	if (create && (mkdir_exist_ok(s->data_dir, 0750) < 0 || mkdir_exist_ok(path, 0700) < 0)) {
		*error_r = open_error(path, strerror(errno));
		return -1;
	}
	if ((s->tmp_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		*error_r = open_error(path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/mail", s->data_dir);
	if (create && mkdir_exist_ok(path, 0700) < 0) {
		*error_r = open_error(path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Every store holds a shared flock on data_dir/hikyaku.lock. Temp files are
   removed only under an exclusive one, i.e. when no other store (daemon or
   CLI) is open on data_dir and could be writing them. */
static int
lock_and_clean(struct store *s, const char **error_r)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/hikyaku.lock", s->data_dir);
	if ((s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		*error_r = open_error(path, strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0 && maildir_clean_tmp(s) < 0) {
		*error_r = open_error("cleaning tmp", strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_SH) < 0) {
		*error_r = open_error(path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Creates the schema on a fresh database; refuses one from a newer hikyaku. */
static int
db_schema(struct store *s, const char **error_r)
{
	long long v;

	if (db_exec(s, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (db_count(s, "PRAGMA user_version", NULL, &v, error_r) < 0)
		goto fail;
	if (v > SCHEMA_VERSION) {
		snprintf(s->errbuf, sizeof(s->errbuf),
		         "database schema version %lld is newer than this hikyaku (%d)", v,
		         SCHEMA_VERSION);
		*error_r = s->errbuf;
		goto fail;
	}
	if (v == 0 && db_exec(s, schema_sql, error_r) < 0)
		goto fail;
	return db_exec(s, "COMMIT", error_r);
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
db_open(struct store *s, bool create, const char **error_r)
{
	char path[4096];
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);

	snprintf(path, sizeof(path), "%s/hikyaku.db", s->data_dir);
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		*error_r =
		        open_error(path, s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (db_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
	            error_r) < 0 ||
	    db_schema(s, error_r) < 0)
		return -1;
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &s->stmt[i], NULL) != SQLITE_OK) {
			*error_r = db_error(s, "database");
			return -1;
		}
	}
	return 0;
}

/* Host part of Maildir names: '/' ':' ',' would break the name (Maildir
   spec: "\057", "\072"; ',' starts the ",S=" info). */
static void
maildir_host(char *dst, size_t size)
{
	char host[256] = "localhost";
	size_t o = 0;

	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p != '\0' && o + 5 < size; p++) {
		if (*p == '/' || *p == ':' || *p == ',' || (unsigned char)*p < 0x21 ||
		    (unsigned char)*p > 0x7e)
			o += (size_t)snprintf(dst + o, size - o, "\\%03o", (unsigned char)*p);
		else
			dst[o++] = *p;
	}
	dst[o] = '\0';
}

struct store *
store_open(const char *data_dir, bool create, const char **error_r)
{
	struct store *s = xcalloc(1, sizeof(*s));

	if (sodium_init() < 0) {
		*error_r = "libsodium initialisation failed";
		free(s);
		return NULL;
	}
	s->data_dir = xstrdup(data_dir);
	s->tmp_fd = s->lock_fd = -1;
	maildir_host(s->host, sizeof(s->host));
	if (open_dirs(s, create, error_r) < 0 || lock_and_clean(s, error_r) < 0 ||
	    db_open(s, create, error_r) < 0) {
		/* error_r may point into s->errbuf: keep the text. */
		if (*error_r == s->errbuf)
			*error_r = open_error(data_dir, s->errbuf);
		store_close(&s);
		return NULL;
	}
	return s;
}

void
store_close(struct store **sp)
{
	struct store *s = *sp;

	if (s == NULL)
		return;
	store_commit_stop(s);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	if (s->db != NULL)
		sqlite3_close(s->db);
	if (s->tmp_fd >= 0)
		close(s->tmp_fd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->data_dir);
	free(s);
	*sp = NULL;
}

/* ---- domains ---- */

int
store_domain_add(struct store *s, const char *domain, const char **error_r)
{
	char d[STORE_MAX_DOMAIN + 1];

	if (store_domain_normalize(domain, d, error_r) < 0)
		return -1;
	return db_write(
	        s, "INSERT OR IGNORE INTO domains(name, created) VALUES (?1, strftime('%s','now'))",
	        d, NULL, error_r);
}

int
store_domain_del(struct store *s, const char *domain, const char **error_r)
{
	char d[STORE_MAX_DOMAIN + 1];
	long long users;

	if (store_domain_normalize(domain, d, error_r) < 0)
		return -1;
	if (db_count(s, "SELECT count(*) FROM users WHERE domain = ?1", d, &users, error_r) < 0)
		return -1;
	if (users > 0) {
		snprintf(s->errbuf, sizeof(s->errbuf),
		         "domain %s still has %lld user(s); delete them first", d, users);
		*error_r = s->errbuf;
		return -1;
	}
	return db_write(s, "DELETE FROM domains WHERE name = ?1", d, NULL, error_r);
}

/* Runs a query and calls cb with column 0 of each row. */
static int
db_list(struct store *s, const char *sql, const char *a1, store_list_fn *cb, void *ctx)
{
	const char *error;
	sqlite3_stmt *st = db_prep(s, sql, a1, NULL, &error);
	int rc;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(ctx, (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_domain_list(struct store *s, store_list_fn *cb, void *ctx)
{
	return db_list(s, "SELECT name FROM domains ORDER BY name", NULL, cb, ctx);
}

int
store_domain_is_local(struct store *s, const char *domain)
{
	char d[STORE_MAX_DOMAIN + 1];
	const char *error;
	int rc;

	if (store_domain_normalize(domain, d, &error) < 0)
		return 0;
	rc = db_lookup(s, ST_DOMAIN_IS_LOCAL, d);
	sqlite3_reset(s->stmt[ST_DOMAIN_IS_LOCAL]);
	return rc;
}

/* ---- users ---- */

static int
password_hash(const char *password, char hash[crypto_pwhash_STRBYTES], const char **error_r)
{
	size_t n = strlen(password);

	if (n < STORE_PASSWORD_MIN || n > STORE_PASSWORD_MAX) {
		*error_r = n < STORE_PASSWORD_MIN ? "password too short (min 8 bytes)"
		                                  : "password too long (max 1024 bytes)";
		return -1;
	}
	if (crypto_pwhash_str_alg(hash, password, n, STORE_PWHASH_OPSLIMIT, STORE_PWHASH_MEMLIMIT,
	                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
		*error_r = "password hashing failed (out of memory?)";
		return -1;
	}
	return 0;
}

/* The user's domain must be one of ours. */
static int
require_domain(struct store *s, const char *addr, const char **error_r)
{
	const char *d = strrchr(addr, '@') + 1;
	int rc = store_domain_is_local(s, d);

	if (rc == 1)
		return 0;
	if (rc == 0) {
		snprintf(s->errbuf, sizeof(s->errbuf),
		         "%s is not a local domain (first: hikyaku domain add %s)", d, d);
		*error_r = s->errbuf;
	} else {
		*error_r = db_error(s, "database");
	}
	return -1;
}

/* Inserts the row and creates the Maildir in one transaction. */
static int
user_insert(struct store *s, const char *addr, const char *hash, const char **error_r)
{
	char dir[4096];
	int rc;

	if (store_user_maildir(s, addr, dir, sizeof(dir)) < 0) {
		*error_r = "maildir path too long";
		return -1;
	}
	if (db_exec(s, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	rc = db_write(s,
	              "INSERT OR IGNORE INTO users(address, domain, pwhash, created) "
	              "VALUES (?1, substr(?1, instr(?1, '@') + 1), ?2, strftime('%s','now'))",
	              addr, hash, error_r);
	if (rc == 1 && maildir_create(dir) < 0) {
		snprintf(s->errbuf, sizeof(s->errbuf), "%s: %s", dir, strerror(errno));
		*error_r = s->errbuf;
		rc = -1;
	}
	if (rc != 1) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return db_exec(s, "COMMIT", error_r) < 0 ? -1 : 1;
}

int
store_user_add(struct store *s, const char *address, const char *password, const char **error_r)
{
	char addr[STORE_MAX_ADDRESS + 1], hash[crypto_pwhash_STRBYTES];
	int rc;

	if (store_address_normalize(address, addr, error_r) < 0 ||
	    require_domain(s, addr, error_r) < 0)
		return -1;
	if ((rc = store_user_exists(s, addr)) != 0) {
		if (rc < 0)
			*error_r = db_error(s, "database");
		return rc < 0 ? -1 : 0;
	}
	/* Hash outside the transaction: it takes ~100 ms of CPU. */
	if (password_hash(password, hash, error_r) < 0)
		return -1;
	rc = user_insert(s, addr, hash, error_r);
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

int
store_user_passwd(struct store *s, const char *address, const char *password, const char **error_r)
{
	char addr[STORE_MAX_ADDRESS + 1], hash[crypto_pwhash_STRBYTES];
	int rc;

	if (store_address_normalize(address, addr, error_r) < 0)
		return -1;
	if ((rc = store_user_exists(s, addr)) != 1) {
		if (rc < 0)
			*error_r = db_error(s, "database");
		return rc;
	}
	if (password_hash(password, hash, error_r) < 0)
		return -1;
	rc = db_write(s, "UPDATE users SET pwhash = ?2 WHERE address = ?1", addr, hash, error_r);
	sodium_memzero(hash, sizeof(hash));
	return rc;
}

int
store_user_del(struct store *s, const char *address, const char **error_r)
{
	char addr[STORE_MAX_ADDRESS + 1];

	if (store_address_normalize(address, addr, error_r) < 0)
		return -1;
	return db_write(s, "DELETE FROM users WHERE address = ?1", addr, NULL, error_r);
}

int
store_user_list(struct store *s, const char *domain, store_list_fn *cb, void *ctx)
{
	char d[STORE_MAX_DOMAIN + 1];
	const char *error;

	if (domain == NULL)
		return db_list(s, "SELECT address FROM users ORDER BY address", NULL, cb, ctx);
	if (store_domain_normalize(domain, d, &error) < 0)
		return -1;
	return db_list(s, "SELECT address FROM users WHERE domain = ?1 ORDER BY address", d, cb,
	               ctx);
}

int
store_user_exists(struct store *s, const char *address)
{
	char addr[STORE_MAX_ADDRESS + 1];
	const char *error;
	int rc;

	if (store_address_normalize(address, addr, &error) < 0)
		return 0;
	rc = db_lookup(s, ST_USER_EXISTS, addr);
	sqlite3_reset(s->stmt[ST_USER_EXISTS]);
	return rc;
}

int
store_user_get_hash(struct store *s, const char *address, char hash[crypto_pwhash_STRBYTES])
{
	sqlite3_stmt *st = s->stmt[ST_USER_GET_HASH];
	char addr[STORE_MAX_ADDRESS + 1];
	const char *error, *h;
	int rc;

	if (store_address_normalize(address, addr, &error) < 0)
		return 0;
	if ((rc = db_lookup(s, ST_USER_GET_HASH, addr)) == 1) {
		h = (const char *)sqlite3_column_text(st, 0);
		if (h == NULL || strlen(h) >= crypto_pwhash_STRBYTES)
			rc = -1;
		else
			memcpy(hash, h, strlen(h) + 1);
	}
	sqlite3_reset(st);
	return rc;
}

int
store_password_verify(const char *hash, const char *password)
{
	size_t n = strlen(password);

	if (sodium_init() < 0 || n > STORE_PASSWORD_MAX ||
	    memchr(hash, '\0', crypto_pwhash_STRBYTES) == NULL)
		return 0;
	return crypto_pwhash_str_verify(hash, password, n) == 0 ? 1 : 0;
}
