/*
 * stats.h -- SMTP session statistics: the recorder (stats.c), kept by the
 * daemon, and the queries behind `hikyaku report tls` (stats_report.c).
 *
 * Every SMTP session in and out becomes one or more records: time,
 * direction and service, peer domain and IP, TLS or not with protocol,
 * cipher and the peer certificate's trust, messages and recipients. The
 * daemon records one row per message received (the peer domain is that
 * message's MAIL FROM domain, or the EHLO name for <>), one per session that
 * said HELO/EHLO but carried no message (a bare connect is no SMTP session),
 * and one per outbound transaction that got per-recipient replies (the
 * next-hop domain); `new_session` marks the first row of each connection
 * so that sessions can be counted.
 *
 * Storage: data_dir/stats.db, apart from hikyaku.db, in WAL mode with
 * synchronous=NORMAL: a power cut may lose the last few records, which is
 * acceptable for statistics and saves an fsync per batch. The loop thread
 * never touches SQLite: stats_record() hands a small copy to a writer thread
 * (ev/ev_batch.h), which inserts each batch in one transaction and prunes
 * records older than the retention period now and then.
 * Limits: at most STATS_MAX_PENDING records wait for the writer; beyond
 * that new ones are dropped and counted (a stuck disk must not grow the
 * daemon without bound). Text fields are truncated to their arrays and
 * sanitized (printable, lower-cased domain) when recorded: peer domains and
 * EHLO names are remote, untrusted text.
 */
#ifndef HIKYAKU_STATS_STATS_H
#define HIKYAKU_STATS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define STATS_MAX_PENDING 20000
#define STATS_DB_NAME "stats.db"

/* One record as the daemon hands it over. */
struct stats_rec {
	int64_t time;     /* unix seconds; 0: now */
	bool out;         /* outbound (we are the client) */
	char service[16]; /* "smtp", "submission", "submissions"; "relay" out */
	char domain[256]; /* peer domain (see the header comment) */
	char ip[64];      /* peer address */
	bool tls;
	char tls_version[16]; /* "TLSv1.3", or "" */
	char tls_cipher[64];  /* OpenSSL name, or "" */
	char peer_cert[16];   /* "Anonymous".."Verified", "none", or "" */
	bool new_session;     /* first record of this connection */
	unsigned messages;    /* messages carried (accepted) */
	unsigned rcpts;       /* recipients carried (accepted) */
};

struct stats;

/* Opens (creating) data_dir/stats.db, prunes records older than
   retention_s (0: keep everything), and starts the writer thread on loop.
   Returns NULL with *error_r (static or thread-local text). */
struct stats *stats_open(const char *data_dir, uv_loop_t *loop, uint64_t retention_s,
                         const char **error_r);
/* Queues a copy of r (loop thread). Never blocks; drops when too many
   records are pending. Accepts st == NULL (statistics off). */
void stats_record(struct stats *st, const struct stats_rec *r);
/* Writes what is pending, stops the writer, closes; *st = NULL. Accepts
   NULL. The loop must run once more to free the wake-up handle. */
void stats_close(struct stats **st);
/* Records dropped because the writer fell behind or failed. */
uint64_t stats_dropped(const struct stats *st);

/* stats_rec_set - fills a text field, truncated and sanitized: control
   bytes, spaces and quotes become '?'; domains are lower-cased. */
void stats_rec_set(char *dst, size_t size, const char *src, bool lower);

#endif
