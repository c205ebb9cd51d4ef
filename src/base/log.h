/*
 * log.h -- logging and the three error classes.
 *
 * One line per event, key=value, so that `hikyaku report tls` and admins'
 * scripts can parse it: "TIME hikyaku[PID]: level=info KEY=VALUE ...".
 * Session events carry a 16-hex session id first (SLOG).
 *
 *   panic()  our bug: log and abort (core dump)
 *   die()    cannot continue (bad config, out of memory): log and exit(1)
 *   log_*()  everything else; the caller decides the reply
 * Values from the network must go through log_value() so that a peer cannot
 * forge log fields or lines.
 */
#ifndef HIKYAKU_BASE_LOG_H
#define HIKYAKU_BASE_LOG_H

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

/* Sends log lines to `path` (append), or stderr when NULL. Returns 0 or -1. */
int log_open(const char *path);
void log_set_level(enum log_level lvl);

void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copies untrusted text into dst as one log value: printable ASCII kept,
 * anything else as \xHH, quoted with "" when it holds a space, '=' or '"',
 * truncated to fit `size` (which must be >= 8). Returns dst.
 */
char *log_value(char *dst, size_t size, const void *src, size_t len);

#define BUG_ON(cond)                                                                               \
	do {                                                                                       \
		if (cond)                                                                          \
			panic("%s:%d: BUG: %s", __FILE__, __LINE__, #cond);                        \
	} while (0)

/* Session event: SLOG(s, "event=disconnect reason=%s", why); s needs ->id, ->proto. */
#define SLOG(s, fmt, ...)                                                                          \
	log_info("sid=%016" PRIx64 " proto=%s " fmt, (s)->id, (s)->proto, __VA_ARGS__)

#endif
