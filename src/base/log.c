/*
 * log.c -- key=value log lines to a file or stderr.
 *
 * Each line is written with a single write(2) so that lines from several
 * processes sharing the file (O_APPEND) never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

#define MIN_LOG(a, b) ((a) < (b) ? (a) : (b))

static int log_fd = STDERR_FILENO;
static enum log_level log_min = LOG_LVL_INFO;

int
log_open(const char *path)
{
	int fd;

	if (path == NULL || *path == '\0') {
		log_fd = STDERR_FILENO;
		return 0;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

/* log_emit - format one whole line and write it at once. */
__attribute__((format(printf, 2, 0))) static void
log_emit(enum log_level lvl, const char *fmt, va_list ap, int errnum)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	if (lvl < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ hikyaku[%ld]: level=%s ",
	    ts.tv_nsec / 1000000, (long)getpid(), names[lvl]);
	n += (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n = MIN_LOG(n + (size_t)r, sizeof(line) - 1);
	if (errnum != 0 && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		if (r > 0)
			n = MIN_LOG(n + (size_t)r, sizeof(line) - 1);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report it */
	}
}

#define LOG_FN(name, lvl, with_errno)                                                              \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit(lvl, fmt, ap, with_errno ? saved : 0);                                    \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERR, fmt, ap, 0);
	va_end(ap);
	abort();
}

void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LVL_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

char *
log_value(char *dst, size_t size, const void *src, size_t len)
{
	const unsigned char *s = src;
	bool quote = len == 0;
	size_t i, o = 0;

	for (i = 0; i < len && !quote; i++)
		quote = s[i] == ' ' || s[i] == '=' || s[i] == '"';
	if (quote)
		dst[o++] = '"';
	/* Leave room for one escape (4), the closing quote and the NUL. */
	for (i = 0; i < len && o + 6 < size; i++) {
		unsigned char c = s[i];

		if ((c >= 0x21 && c <= 0x7e && c != '"' && c != '\\') || c == ' ')
			dst[o++] = (char)c;
		else
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
	}
	if (quote)
		dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
