/*
 * conf_policy.c -- the smtp_tls_policy_maps table (see conf_policy.h).
 *
 * Security: the file is the admin's, but parsed as untrusted input all the
 * same: bounded lines and entries, no NUL bytes, strict level names.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "conf/conf.h"
#include "conf/conf_policy.h"

static const char *const map_types[] = { "texthash:", "hash:", "lmdb:", "cdb:" };
static const char *const level_names[] = { "none", "may", "encrypt", "verify", "secure" };

__attribute__((format(printf, 5, 6))) static int
policy_err(char *err, size_t errsize, const char *name, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errsize, "%s:%zu: ", name, line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errsize)
		vsnprintf(err + n, errsize - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* policy_dest_ok - LDH labels, optional leading dot, at most 253 bytes. */
static bool
policy_dest_ok(const char *d, size_t n)
{
	size_t label = 0;

	if (n > 0 && d[0] == '.') {
		d++;
		n--;
	}
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)d[i]) || d[i] == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

static int
policy_level_parse(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strlen(level_names[i]) == n && strncmp(s, level_names[i], n) == 0)
			return (int)i;
	return -1;
}

/* policy_line - one non-comment line into an entry. */
static int
policy_line(struct conf_policy *pm, const char *name, size_t lineno, const char *p, size_t n,
    char *err, size_t errsize)
{
	const char *end = p + n, *d, *l;
	size_t dn, ln;
	int level;

	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	for (d = p; p < end && !isspace((unsigned char)*p); p++)
		;
	dn = (size_t)(p - d);
	while (p < end && isspace((unsigned char)*p))
		p++;
	for (l = p; p < end && !isspace((unsigned char)*p); p++)
		;
	ln = (size_t)(p - l);
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (ln == 0 || p != end)
		return policy_err(err, errsize, name, lineno, "expected \"DESTINATION LEVEL\"");
	if (!policy_dest_ok(d, dn))
		return policy_err(err, errsize, name, lineno, "bad destination");
	if ((level = policy_level_parse(l, ln)) < 0)
		return policy_err(err, errsize, name, lineno,
		    "bad level: none, may, encrypt, verify or secure");
	if (pm->n >= CONF_POLICY_MAX)
		return policy_err(err, errsize, name, lineno, "too many entries");
	pm->v = xrealloc(pm->v, (pm->n + 1) * sizeof(*pm->v));
	pm->v[pm->n].dest = xstrndup(d, dn);
	for (char *c = pm->v[pm->n].dest; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	pm->v[pm->n++].level = level;
	return 0;
}

int
conf_policy_parse(struct conf_policy *pm, const char *name, const char *data, size_t len,
    char *err, size_t errsize)
{
	size_t lineno = 0;

	memset(pm, 0, sizeof(*pm));
	if (memchr(data, '\0', len) != NULL)
		return policy_err(err, errsize, name, 1, "NUL byte in file");
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - data) : len;

		lineno++;
		if (n > CONF_POLICY_MAX_LINE)
			return policy_err(err, errsize, name, lineno, "line too long");
		if (policy_line(pm, name, lineno, data, n > 0 && data[n - 1] == '\r' ? n - 1 : n,
			err, errsize) < 0)
			return -1;
		data += nl != NULL ? n + 1 : n;
		len -= nl != NULL ? n + 1 : n;
	}
	return 0;
}

int
conf_policy_load(struct conf_policy *pm, const char *path, char *err, size_t errsize)
{
	FILE *fp;
	char *data;
	size_t n;
	int rc;

	memset(pm, 0, sizeof(*pm));
	if (path == NULL || *path == '\0')
		return 0;
	/* Postfix admins write "hash:/etc/postfix/tls_policy": the text source
	   of such a table is the file itself, so the type prefix is dropped. */
	for (size_t i = 0; i < sizeof(map_types) / sizeof(map_types[0]); i++)
		if (strncmp(path, map_types[i], strlen(map_types[i])) == 0)
			path += strlen(map_types[i]);
	if ((fp = fopen(path, "re")) == NULL)
		return policy_err(err, errsize, path, 0, "cannot open: %s", strerror(errno));
	data = xmalloc(CONF_MAX_FILE + 1);
	n = fread(data, 1, CONF_MAX_FILE + 1, fp);
	fclose(fp);
	if (n > CONF_MAX_FILE)
		rc = policy_err(err, errsize, path, 0, "file too large");
	else
		rc = conf_policy_parse(pm, path, data, n, err, errsize);
	free(data);
	return rc;
}

int
conf_policy_level(const struct conf_policy *pm, const char *domain, int def)
{
	size_t best = 0;
	int level = def;

	for (size_t i = 0; i < pm->n; i++) {
		const char *dest = pm->v[i].dest;
		size_t dl = strlen(dest), nl = strlen(domain);

		if (dest[0] != '.' && strcmp(dest, domain) == 0)
			return pm->v[i].level;
		if (dest[0] == '.' && nl > dl && strcmp(domain + nl - dl, dest) == 0 && dl > best) {
			best = dl;
			level = pm->v[i].level;
		}
	}
	return level;
}

void
conf_policy_free(struct conf_policy *pm)
{
	for (size_t i = 0; i < pm->n; i++)
		free(pm->v[i].dest);
	free(pm->v);
	memset(pm, 0, sizeof(*pm));
}
