/*
 * sts.c -- MTA-STS record and policy parsers (RFC 8461), see sts.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sts/sts.h"

const char *
sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE:
		return "enforce";
	case STS_MODE_TESTING:
		return "testing";
	case STS_MODE_NONE:
		break;
	}
	return "none";
}

static const char *
skip_wsp(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* sts_field - one "name=value" of the record; *p moves past it. */
static int
sts_field(const char **pp, char *name, size_t nsize, char *value, size_t vsize)
{
	const char *p = skip_wsp(*pp);
	size_t n = 0, v = 0;

	while (isalnum((unsigned char)*p) || ((*p == '_' || *p == '-' || *p == '.') && n > 0))
		if (n + 1 < nsize)
			name[n++] = *p++;
		else
			return -1;
	name[n] = '\0';
	p = skip_wsp(p);
	if (n == 0 || *p++ != '=')
		return -1;
	p = skip_wsp(p);
	/* field-value: %x21-3A / %x3C / %x3E-7E (no ';', no '=', no space) */
	while (*p > 0x20 && *p < 0x7f && *p != ';' && *p != '=')
		if (v + 1 < vsize)
			value[v++] = *p++;
		else
			return -1;
	value[v] = '\0';
	*pp = skip_wsp(p);
	return v == 0 ? -1 : 0;
}

int
sts_record_parse(const char *txt, char id[STS_ID_MAX + 1], const char **error_r)
{
	char name[33], value[256];
	const char *p = txt;
	bool have_id = false;

	if (sts_field(&p, name, sizeof(name), value, sizeof(value)) < 0 ||
	    strcmp(name, "v") != 0 || strcmp(value, "STSv1") != 0)
		return *error_r = "does not start with v=STSv1", -1;
	while (*p == ';') {
		p = skip_wsp(p + 1);
		if (*p == '\0')
			break;
		if (sts_field(&p, name, sizeof(name), value, sizeof(value)) < 0)
			return *error_r = "malformed field", -1;
		if (strcmp(name, "id") != 0 || have_id)
			continue;
		if (strlen(value) > STS_ID_MAX)
			return *error_r = "id longer than 32 characters", -1;
		for (const char *c = value; *c != '\0'; c++)
			if (!isalnum((unsigned char)*c))
				return *error_r = "id is not alphanumeric", -1;
		snprintf(id, STS_ID_MAX + 1, "%s", value);
		have_id = true;
	}
	if (*p != '\0')
		return *error_r = "malformed record", -1;
	if (!have_id)
		return *error_r = "no id", -1;
	return 0;
}

/* sts_mx_pattern - "host.example" or "*.example": LDH labels. */
static bool
sts_mx_pattern(const char *v)
{
	size_t label = 0, n = strlen(v);

	if (n == 0 || n > 253)
		return false;
	if (v[0] == '*') {
		if (v[1] != '.' || v[2] == '\0')
			return false;
		v += 2;
	}
	for (; *v != '\0'; v++) {
		if (*v == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*v) || *v == '-' || *v == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* sts_policy_line - one "key: value" line. Returns 0 or -1. */
static int
sts_policy_line(struct sts_policy *p, const char *key, const char *value, unsigned *seen,
                const char **error_r)
{
	char *end;

	if (strcmp(key, "version") == 0) {
		if (!(*seen & 1) && strcmp(value, "STSv1") != 0)
			return *error_r = "version is not STSv1", -1;
		*seen |= 1;
	} else if (strcmp(key, "mode") == 0) {
		if (*seen & 2)
			return 0;
		if (strcmp(value, "enforce") == 0)
			p->mode = STS_MODE_ENFORCE;
		else if (strcmp(value, "testing") == 0)
			p->mode = STS_MODE_TESTING;
		else if (strcmp(value, "none") == 0)
			p->mode = STS_MODE_NONE;
		else
			return *error_r = "mode is not enforce, testing or none", -1;
		*seen |= 2;
	} else if (strcmp(key, "max_age") == 0) {
		unsigned long v;

		if (*seen & 4)
			return 0;
		if (!isdigit((unsigned char)value[0]) || strlen(value) > 10)
			return *error_r = "max_age is not a number", -1;
		v = strtoul(value, &end, 10);
		if (*end != '\0' || v > STS_MAX_AGE)
			return *error_r = "max_age out of range (at most 31557600)", -1;
		p->max_age = (uint32_t)v;
		*seen |= 4;
	} else if (strcmp(key, "mx") == 0) {
		if (!sts_mx_pattern(value))
			return *error_r = "mx is not a host name or *.domain pattern", -1;
		if (p->nmx == STS_MAX_MX)
			return *error_r = "too many mx lines", -1;
		snprintf(p->mx[p->nmx], sizeof(p->mx[0]), "%s", value);
		for (char *c = p->mx[p->nmx]; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		p->nmx++;
	}
	return 0; /* other keys: ignored (RFC 8461 3.2) */
}

int
sts_policy_parse(const char *text, size_t len, struct sts_policy *p, const char **error_r)
{
	unsigned seen = 0;
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	if (len > STS_POLICY_MAX)
		return *error_r = "policy larger than 64 KiB", -1;
	while (i < len) {
		char line[STS_MAX_LINE + 1], *colon, *v, *e;
		size_t n = 0;

		while (i < len && text[i] != '\n') {
			if (n == STS_MAX_LINE || text[i] == '\0')
				return *error_r = "line too long or NUL byte", -1;
			line[n++] = text[i++];
		}
		i++; /* the LF */
		if (n > 0 && line[n - 1] == '\r')
			n--;
		line[n] = '\0';
		if (n == 0)
			continue;
		if ((colon = strchr(line, ':')) == NULL)
			return *error_r = "line without a colon", -1;
		*colon = '\0';
		v = (char *)skip_wsp(colon + 1);
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (sts_policy_line(p, line, v, &seen, error_r) < 0)
			return -1;
	}
	if ((seen & 7) != 7)
		return *error_r = "version, mode or max_age missing", -1;
	if (p->mode != STS_MODE_NONE && p->nmx == 0)
		return *error_r = "no mx line", -1;
	return 0;
}

bool
sts_policy_mx_match(const struct sts_policy *p, const char *host)
{
	char h[256];
	size_t n = strlen(host);

	if (n == 0 || n >= sizeof(h))
		return false;
	memcpy(h, host, n + 1);
	if (h[n - 1] == '.')
		h[--n] = '\0';
	for (size_t i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i], *dot;

		if (pat[0] != '*') {
			if (strcasecmp(pat, h) == 0)
				return true;
			continue;
		}
		/* "*.example.com": exactly one label before example.com. */
		dot = strchr(h, '.');
		if (dot != NULL && dot != h && strcasecmp(dot + 1, pat + 2) == 0)
			return true;
	}
	return false;
}
