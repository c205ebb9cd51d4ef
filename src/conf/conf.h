/*
 * conf.h -- hikyaku.conf: every parameter, typed and bounded.
 *
 * Syntax (Postfix main.cf without continuation lines): one `key = value` per
 * line, whitespace around key and value trimmed, `#` starts a comment line
 * (only at the start of a line, as in Postfix: "a = b # c" has the value
 * "b # c"), blank lines ignored. A key may appear once.
 * Limits: CONF_MAX_LINE bytes per line, CONF_MAX_FILE bytes per file,
 * CONF_MAX_ITEMS entries per list or listener key.
 * Security: the file is trusted (root wrote it) but parsed as untrusted
 * input all the same; fuzzed by tests/fuzz/fuzz_conf.c.
 */
#ifndef HIKYAKU_CONF_CONF_H
#define HIKYAKU_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONF_DEFAULT_PATH "/etc/hikyaku/hikyaku.conf"
#define CONF_MAX_LINE 4096
#define CONF_MAX_FILE (1024 * 1024)
#define CONF_MAX_ITEMS 64

/* Outbound TLS levels, in Postfix's order (smtp_tls_security_level). */
enum conf_tls_level {
	CONF_TLS_NONE,
	CONF_TLS_MAY,
	CONF_TLS_ENCRYPT,
	CONF_TLS_VERIFY,
	CONF_TLS_SECURE,
};

/* LIST: words separated by spaces or commas. */
struct conf_list {
	size_t n;
	char **v;
};

/* LISTEN: ADDR:PORT or [IPv6]:PORT items; n == 0 disables the service. */
struct conf_listen {
	size_t n;
	struct sockaddr_storage *addrs;
};

/* Every parameter. Field names are the key names. TIME fields are in
   milliseconds (the file says seconds, or uses an s/m/h/d suffix), SIZE
   fields in bytes. */
struct conf {
	char *path; /* the file read (or the buffer's name); not a parameter */

	char *myhostname;
	char *data_dir;
	char *run_user;
	char *log_file;

	struct conf_listen smtp_listen;
	struct conf_listen submission_listen;
	struct conf_listen submissions_listen;
	struct conf_listen imap_listen;
	struct conf_listen imaps_listen;
	struct conf_listen pop3_listen;
	struct conf_listen pop3s_listen;

	struct conf_list smtpd_tls_cert_file;
	struct conf_list smtpd_tls_key_file;

	int smtp_tls_security_level; /* enum conf_tls_level */
	char *smtp_tls_CAfile;
	unsigned smtp_tls_loglevel;
	char *smtp_tls_policy_maps;
	unsigned relay_port;
	char *dns_server; /* "" (system resolver), "ADDR" or "ADDR@PORT" */
	uint64_t message_size_limit;

	uint64_t smtpd_command_line_limit;
	unsigned smtpd_recipient_limit;
	unsigned smtpd_hard_error_limit;
	uint64_t smtpd_timeout;                       /* ms */
	unsigned smtpd_client_connection_count_limit; /* 0: no limit */
	unsigned smtpd_auth_failure_limit;
	uint64_t smtpd_auth_lockout_time; /* ms */
	uint64_t smtpd_error_sleep_time;  /* ms, the delay after a failed AUTH */
	bool smtpd_forbid_bare_newline;

	/* POP3 server (the limits shared with SMTP are the smtpd_ ones). */
	uint64_t pop3d_timeout; /* ms: RFC 1939 3 autologout timer */

	/* IMAP server (also uses smtpd_hard_error_limit, the connection count
	   limit, the smtpd_auth_* lockout and message_size_limit for APPEND). */
	uint64_t imapd_timeout;	      /* ms: autologout after login (RFC 9051 5.4) */
	uint64_t imapd_login_timeout; /* ms: the same before login */
	uint64_t imap_max_line_length; /* bytes per command line */

	/* Outbound (Postfix names and meanings). */
	unsigned smtp_mx_address_limit;
	uint64_t smtp_reply_timeout; /* ms: each step of an outbound session */
	uint64_t maximal_queue_lifetime; /* ms */
	uint64_t bounce_queue_lifetime;	 /* ms */
	uint64_t minimal_backoff_time;	 /* ms */
	uint64_t maximal_backoff_time;	 /* ms */
	uint64_t queue_run_delay;	 /* ms */
	uint64_t delay_warning_time;	 /* ms; 0: none */
	unsigned default_destination_concurrency_limit;
	unsigned default_destination_recipient_limit;

	/* Statistics (src/stats): how long session records are kept. */
	uint64_t tls_report_retention; /* ms; 0: forever */

	/* Inbound message authentication (cmd/serve_msgauth.c). */
	char *authserv_id;                     /* "": myhostname */
	bool dmarc_enforce;                    /* act on p=reject / p=quarantine */
	struct conf_list dmarc_override_domains; /* From domains never enforced */
};

/* Sets every parameter to its default. Dies only on out-of-memory. */
void conf_init_defaults(struct conf *c);

/*
 * Reads and parses `path` over the defaults (c need not be initialized).
 * Returns 0, or -1 with "FILE:LINE: message" (or "FILE: message" when no
 * line is to blame) in err. Either way c must be released with conf_free().
 */
int conf_load(struct conf *c, const char *path, char *err, size_t errsize);

/* Like conf_load() on `len` bytes at `data`; `name` stands in for the file
   name in messages. The data need not be NUL-terminated. */
int conf_parse_buffer(struct conf *c, const char *name, const void *data, size_t len, char *err,
                      size_t errsize);

/* Frees what c holds and zeroes it; safe on a zeroed struct. */
void conf_free(struct conf *c);

/* Prints `key = value` lines in a form conf_parse_buffer() reads back;
   with only_non_default, just the values that differ from the defaults
   (postconf -n). */
void conf_dump(FILE *fp, const struct conf *c, bool only_non_default);

/* "none", "may", ... for a level. */
const char *conf_tls_level_name(int level);

#endif
