/*
 * mime_date.c -- RFC 5322 date-time values (Date:, Resent-Date:).
 *
 *   [day-of-week ","] day month year hour ":" minute [":" second] zone
 *
 * Lenient as RFC 5322 4.3 asks of readers: comments and extra blanks,
 * two- and three-digit years (4.3: add 2000 below 50, else 1900), zone
 * names UT, GMT and the US zones, military letters and a missing zone as
 * +0000. Range-checked before timegm(), so nonsense is refused instead of
 * normalised into another date.
 * Security: untrusted input; bounded by the span.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "msg/mime.h"

struct date_lex {
	struct span v;
	size_t i;
};

/* skip - blanks, commas and comments. */
static void
skip(struct date_lex *l)
{
	while (l->i < l->v.n) {
		uint8_t c = l->v.p[l->i];

		if (c == '(') {
			size_t depth = 0;
			for (; l->i < l->v.n; l->i++) {
				if (l->v.p[l->i] == '(')
					depth++;
				else if (l->v.p[l->i] == ')' && --depth == 0)
					break;
			}
			l->i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',') {
			l->i++;
		} else
			break;
	}
}

/* number - up to max_digits digits; -1 when none. */
static long
number(struct date_lex *l, int max_digits)
{
	long v = 0;
	int k = 0;

	skip(l);
	while (l->i < l->v.n && isdigit(l->v.p[l->i]) && k < max_digits) {
		v = v * 10 + (l->v.p[l->i++] - '0');
		k++;
	}
	return k == 0 ? -1 : v;
}

/* word - an alphabetic word into w (lower case, cut at size-1). */
static size_t
word(struct date_lex *l, char *w, size_t size)
{
	size_t k = 0;

	skip(l);
	while (l->i < l->v.n && isalpha(l->v.p[l->i])) {
		if (k + 1 < size)
			w[k++] = (char)tolower(l->v.p[l->i]);
		l->i++;
	}
	w[k] = '\0';
	return k;
}

static int
month_index(const char *w)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	for (int m = 0; m < 12; m++)
		if (strncmp(w, months + 3 * m, 3) == 0)
			return m;
	return -1;
}

/* zone - "+hhmm", "-hhmm" or a name; minutes east of UTC. */
static int
zone(struct date_lex *l)
{
	static const struct {
		const char *name;
		int hours;
	} names[] = { { "ut", 0 }, { "gmt", 0 }, { "utc", 0 }, { "est", -5 }, { "edt", -4 },
		{ "cst", -6 }, { "cdt", -5 }, { "mst", -7 }, { "mdt", -6 }, { "pst", -8 },
		{ "pdt", -7 } };
	char w[8];

	skip(l);
	if (l->i < l->v.n && (l->v.p[l->i] == '+' || l->v.p[l->i] == '-')) {
		int sign = l->v.p[l->i++] == '-' ? -1 : 1;
		size_t start = l->i;
		long hhmm = number(l, 4);
		if (hhmm < 0 || l->i - start != 4 || hhmm % 100 > 59 || hhmm / 100 > 23)
			return 0;
		return sign * (int)(hhmm / 100 * 60 + hhmm % 100);
	}
	if (word(l, w, sizeof(w)) > 0)
		for (size_t k = 0; k < nitems(names); k++)
			if (strcmp(w, names[k].name) == 0)
				return names[k].hours * 60;
	return 0; /* military zones and unknown names: RFC 5322 4.3 says treat as +0000 */
}

int
mime_date_parse(struct span v, int64_t *t_r, int *tz_r)
{
	struct date_lex l = { v, 0 };
	struct tm tm = { 0 };
	char w[16];
	long day, year, hour, min, sec = 0;
	int mon;
	time_t t;

	skip(&l);
	if (l.i < v.n && isalpha(v.p[l.i]))
		word(&l, w, sizeof(w)); /* day of week, not checked */
	day = number(&l, 2);
	if (word(&l, w, sizeof(w)) < 3 || (mon = month_index(w)) < 0)
		return -1;
	year = number(&l, 4);
	hour = number(&l, 2);
	if (day < 1 || day > 31 || year < 0 || hour < 0 || hour > 23)
		return -1;
	skip(&l);
	if (l.i < v.n && v.p[l.i] == ':')
		l.i++;
	if ((min = number(&l, 2)) < 0 || min > 59)
		return -1;
	if (l.i < v.n && v.p[l.i] == ':') {
		l.i++;
		if ((sec = number(&l, 2)) < 0 || sec > 60)
			return -1;
	}
	if (year < 50)
		year += 2000;
	else if (year < 1000)
		year += 1900;
	*tz_r = zone(&l);
	tm = (struct tm){ .tm_sec = (int)sec, .tm_min = (int)min, .tm_hour = (int)hour,
		.tm_mday = (int)day, .tm_mon = mon, .tm_year = (int)year - 1900 };
	t = timegm(&tm);
	if (tm.tm_mday != day) /* 31 Feb and the like */
		return -1;
	*t_r = (int64_t)t - (int64_t)*tz_r * 60;
	return 0;
}
