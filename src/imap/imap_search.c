/*
 * imap_search.c -- SEARCH criteria: from the imap_arg tree to a small
 * program of keys (imap_search_int.h), and the SEARCH / ESEARCH response.
 *
 * Grammar (RFC 9051 6.4.4, 9 search-key; RFC 3501 adds NEW, OLD, RECENT):
 *   [RETURN (opts)] [CHARSET astring] 1*search-key
 * A parenthesized list is a conjunction; NOT and OR nest. Search strings
 * are folded once here, so matching only folds the message side.
 * Standards: RFC 9051 6.4.4, 7.3.4 (ESEARCH), RFC 4731 (RETURN, "()" means
 * ALL), RFC 5182 (SAVE; "$" in a key is not supported yet: BAD).
 * Limits: IMAP_SEARCH_MAX_KEYS, IMAP_SEARCH_MAX_DEPTH, sequence sets as
 * imap_seqset.h bounds them.
 * Security: untrusted client input; recursion bounded by
 * IMAP_SEARCH_MAX_DEPTH; every index checked against n.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/xalloc.h"
#include "imap/imap_fetch_int.h"
#include "imap/imap_search_int.h"

struct sparser {
	const struct imap_arg *args;
	size_t n, i;
	size_t nkeys;
	struct imap_search *s;
	const char *error;
};

/* The keys with no argument, or one string, number, date or flag. */
enum arg_kind { ARG_NONE, ARG_STRING, ARG_NUMBER, ARG_DATE, ARG_FLAG };

static const struct key_def {
	const char *name;
	enum skey_type type;
	enum arg_kind arg;
	unsigned flags;	    /* SK_FLAG, SK_UNFLAG */
	const char *header; /* SK_HEADER shorthands */
} key_defs[] = {
	{ "ALL", SK_ALL, ARG_NONE, 0, NULL },
	{ "ANSWERED", SK_FLAG, ARG_NONE, IMAP_F_ANSWERED, NULL },
	{ "DELETED", SK_FLAG, ARG_NONE, IMAP_F_DELETED, NULL },
	{ "DRAFT", SK_FLAG, ARG_NONE, IMAP_F_DRAFT, NULL },
	{ "FLAGGED", SK_FLAG, ARG_NONE, IMAP_F_FLAGGED, NULL },
	{ "SEEN", SK_FLAG, ARG_NONE, IMAP_F_SEEN, NULL },
	{ "RECENT", SK_FLAG, ARG_NONE, IMAP_F_RECENT, NULL },
	{ "UNANSWERED", SK_UNFLAG, ARG_NONE, IMAP_F_ANSWERED, NULL },
	{ "UNDELETED", SK_UNFLAG, ARG_NONE, IMAP_F_DELETED, NULL },
	{ "UNDRAFT", SK_UNFLAG, ARG_NONE, IMAP_F_DRAFT, NULL },
	{ "UNFLAGGED", SK_UNFLAG, ARG_NONE, IMAP_F_FLAGGED, NULL },
	{ "UNSEEN", SK_UNFLAG, ARG_NONE, IMAP_F_SEEN, NULL },
	{ "OLD", SK_UNFLAG, ARG_NONE, IMAP_F_RECENT, NULL },
	{ "BCC", SK_HEADER, ARG_STRING, 0, "Bcc" },
	{ "CC", SK_HEADER, ARG_STRING, 0, "Cc" },
	{ "FROM", SK_HEADER, ARG_STRING, 0, "From" },
	{ "SUBJECT", SK_HEADER, ARG_STRING, 0, "Subject" },
	{ "TO", SK_HEADER, ARG_STRING, 0, "To" },
	{ "BODY", SK_BODY, ARG_STRING, 0, NULL },
	{ "TEXT", SK_TEXT, ARG_STRING, 0, NULL },
	{ "KEYWORD", SK_KEYWORD, ARG_FLAG, 0, NULL },
	{ "UNKEYWORD", SK_UNKEYWORD, ARG_FLAG, 0, NULL },
	{ "LARGER", SK_LARGER, ARG_NUMBER, 0, NULL },
	{ "SMALLER", SK_SMALLER, ARG_NUMBER, 0, NULL },
	{ "BEFORE", SK_BEFORE, ARG_DATE, 0, NULL },
	{ "ON", SK_ON, ARG_DATE, 0, NULL },
	{ "SINCE", SK_SINCE, ARG_DATE, 0, NULL },
	{ "SENTBEFORE", SK_SENTBEFORE, ARG_DATE, 0, NULL },
	{ "SENTON", SK_SENTON, ARG_DATE, 0, NULL },
	{ "SENTSINCE", SK_SENTSINCE, ARG_DATE, 0, NULL },
};

static struct skey *parse_key(struct sparser *p, unsigned depth);

static void
skey_free(struct skey *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->nkids; i++)
		skey_free(k->kids[i]);
	free(k->kids);
	free(k->field);
	free(k->str);
	imap_seqset_free(&k->set);
	free(k);
}

static struct skey *
new_key(struct sparser *p, enum skey_type t)
{
	struct skey *k;

	if (++p->nkeys > IMAP_SEARCH_MAX_KEYS) {
		p->error = "Too many search keys";
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->type = t;
	return k;
}

static void
add_kid(struct skey *parent, struct skey *kid)
{
	parent->kids = xrealloc(parent->kids, (parent->nkids + 1) * sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

/* next_arg - the next argument, or NULL with an error set. */
static const struct imap_arg *
next_arg(struct sparser *p)
{
	if (p->i >= p->n) {
		p->error = "Missing search key argument";
		return NULL;
	}
	return &p->args[p->i++];
}

/* arg_string - an astring argument (NIL is the atom "NIL"). */
static bool
arg_string(const struct imap_arg *a, const char **s, size_t *len)
{
	if (a->type == IMAP_ARG_NIL) {
		*s = "NIL";
		*len = 3;
		return true;
	}
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING)
		return false;
	*s = a->str;
	*len = a->len;
	return true;
}

/* parse_date - date-day "-" date-month "-" date-year into days since
   1970-01-01 (RFC 9051 9 date). */
static int
parse_date(const char *s, size_t len, int64_t *day_r)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	struct tm tm = { 0 };
	size_t i = 0;
	int day = 0, year = 0, mon = -1;

	for (; i < len && i < 2 && isdigit((unsigned char)s[i]); i++)
		day = day * 10 + (s[i] - '0');
	if (i == 0 || day < 1 || day > 31 || len - i != 9 || s[i] != '-' || s[i + 4] != '-')
		return -1;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(s + i + 1, months + 3 * m, 3) == 0)
			mon = m;
	for (size_t k = i + 5; k < len; k++) {
		if (!isdigit((unsigned char)s[k]))
			return -1;
		year = year * 10 + (s[k] - '0');
	}
	if (mon < 0)
		return -1;
	tm = (struct tm){ .tm_mday = day, .tm_mon = mon, .tm_year = year - 1900, .tm_hour = 12 };
	*day_r = (int64_t)timegm(&tm) / 86400;
	return tm.tm_mday == day ? 0 : -1;
}

/* fold_string - the search string, folded once for matching. */
static void
fold_string(struct skey *k, const char *s, size_t len)
{
	struct buf b;

	buf_init(&b, 0, SIZE_MAX / 4);
	imap_search_fold((struct span){ (const uint8_t *)s, len }, &b);
	k->len = buf_len(&b);
	k->str = xmalloc(k->len + 1);
	if (k->len > 0)
		memcpy(k->str, b.base, k->len);
	k->str[k->len] = '\0';
	buf_deinit(&b);
}

/* parse_arg - the argument of a key_defs entry. */
static bool
parse_arg(struct sparser *p, const struct key_def *d, struct skey *k)
{
	const struct imap_arg *a = d->arg == ARG_NONE ? NULL : next_arg(p);
	const char *s;
	size_t len, i = 0;

	if (d->arg == ARG_NONE)
		return true;
	if (a == NULL)
		return false;
	if (!arg_string(a, &s, &len) || memchr(s, '\0', len) != NULL) {
		p->error = "Invalid search key argument";
		return false;
	}
	switch (d->arg) {
	case ARG_STRING:
		fold_string(k, s, len);
		k->field = d->header != NULL ? xstrdup(d->header) : NULL;
		return true;
	case ARG_FLAG:
		k->str = (uint8_t *)xstrndup(s, len);
		k->len = len;
		p->error = len == 0 ? "Invalid keyword" : NULL;
		break;
	case ARG_NUMBER:
		/* number64; anything longer is refused, not wrapped */
		for (k->num = 0; i < len && i < 19 && isdigit((unsigned char)s[i]); i++)
			k->num = k->num * 10 + (uint64_t)(s[i] - '0');
		p->error = len == 0 || i != len ? "Invalid number" : NULL;
		break;
	case ARG_DATE:
		p->error = parse_date(s, len, &k->day) < 0 ? "Invalid date" : NULL;
		break;
	case ARG_NONE:
		break;
	}
	return p->error == NULL;
}

/* parse_header_key - HEADER field-name string. */
static struct skey *
parse_header_key(struct sparser *p, struct skey *k)
{
	const struct imap_arg *f = next_arg(p), *v = f != NULL ? next_arg(p) : NULL;
	const char *fs, *vs;
	size_t fl, vl;

	if (v == NULL || !arg_string(f, &fs, &fl) || !arg_string(v, &vs, &vl) || fl == 0 ||
	    memchr(fs, '\0', fl) != NULL) {
		p->error = p->error != NULL ? p->error : "Invalid HEADER search key";
		skey_free(k);
		return NULL;
	}
	k->field = xstrndup(fs, fl);
	fold_string(k, vs, vl);
	return k;
}

/* parse_set - a sequence-set key, or UID's argument. */
static struct skey *
parse_set(struct sparser *p, struct skey *k, const struct imap_arg *a)
{
	const char *err;

	if (a == NULL || a->type != IMAP_ARG_ATOM) {
		p->error = p->error != NULL ? p->error : "Invalid sequence set";
		skey_free(k);
		return NULL;
	}
	if (a->len == 1 && a->str[0] == '$') {
		p->error = "Saved search results ($) are not supported";
		skey_free(k);
		return NULL;
	}
	if (imap_seqset_parse(a->str, a->len, &k->set, &err) < 0) {
		p->error = err;
		skey_free(k);
		return NULL;
	}
	return k;
}

/* parse_kids - n keys (NOT: 1, OR: 2) or, for a list, all of its items. */
static struct skey *
parse_kids(struct sparser *p, struct skey *k, size_t want, unsigned depth)
{
	for (size_t i = 0; i < want; i++) {
		struct skey *kid = parse_key(p, depth + 1);
		if (kid == NULL) {
			skey_free(k);
			return NULL;
		}
		add_kid(k, kid);
	}
	return k;
}

/* parse_group - "(" 1*key ")" as a conjunction, parsed from the list. */
static struct skey *
parse_group(struct sparser *p, const struct imap_arg *a, unsigned depth)
{
	struct sparser sub = { .args = a->list, .n = a->n, .nkeys = p->nkeys, .s = p->s };
	struct skey *k = new_key(p, SK_AND);

	if (k == NULL)
		return NULL;
	if (a->n == 0) {
		p->error = "Empty search key list";
		skey_free(k);
		return NULL;
	}
	while (sub.i < sub.n && k != NULL)
		k = parse_kids(&sub, k, 1, depth);
	p->nkeys = sub.nkeys;
	if (k == NULL)
		p->error = sub.error;
	return k;
}

static struct skey *
parse_key(struct sparser *p, unsigned depth)
{
	const struct imap_arg *a = next_arg(p);
	struct skey *k;

	if (a == NULL)
		return NULL;
	if (depth > IMAP_SEARCH_MAX_DEPTH) {
		p->error = "Search keys nested too deeply";
		return NULL;
	}
	if (a->type == IMAP_ARG_LIST)
		return parse_group(p, a, depth);
	if (a->type != IMAP_ARG_ATOM || a->len == 0) {
		p->error = "Invalid search key";
		return NULL;
	}
	if (isdigit((unsigned char)a->str[0]) || a->str[0] == '*' || a->str[0] == '$')
		return (k = new_key(p, SK_SEQ)) != NULL ? parse_set(p, k, a) : NULL;
	if (strcasecmp(a->str, "NOT") == 0)
		return (k = new_key(p, SK_NOT)) != NULL ? parse_kids(p, k, 1, depth) : NULL;
	if (strcasecmp(a->str, "OR") == 0)
		return (k = new_key(p, SK_OR)) != NULL ? parse_kids(p, k, 2, depth) : NULL;
	if (strcasecmp(a->str, "UID") == 0)
		return (k = new_key(p, SK_UID)) != NULL ? parse_set(p, k, next_arg(p)) : NULL;
	if (strcasecmp(a->str, "HEADER") == 0) {
		p->s->needs_data = true;
		return (k = new_key(p, SK_HEADER)) != NULL ? parse_header_key(p, k) : NULL;
	}
	if (strcasecmp(a->str, "NEW") == 0) { /* RECENT UNSEEN */
		if ((k = new_key(p, SK_FLAG)) != NULL) {
			k->flags = IMAP_F_RECENT;
			k->unflags = IMAP_F_SEEN;
		}
		return k;
	}
	for (size_t i = 0; i < nitems(key_defs); i++) {
		if (strcasecmp(a->str, key_defs[i].name) != 0)
			continue;
		if ((k = new_key(p, key_defs[i].type)) == NULL)
			return NULL;
		k->flags = key_defs[i].flags;
		if (!parse_arg(p, &key_defs[i], k)) {
			skey_free(k);
			return NULL;
		}
		if (k->type == SK_HEADER || k->type == SK_BODY || k->type == SK_TEXT ||
		    (k->type >= SK_SENTBEFORE && k->type <= SK_SENTSINCE))
			p->s->needs_data = true;
		if (k->type == SK_BODY || k->type == SK_TEXT)
			p->s->needs_body = true;
		return k;
	}
	p->error = "Unknown search key";
	return NULL;
}

/* parse_return - RETURN (MIN MAX ALL COUNT SAVE). */
static int
parse_return(struct sparser *p)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = { { "MIN", IMAP_SEARCH_RET_MIN }, { "MAX", IMAP_SEARCH_RET_MAX },
		{ "ALL", IMAP_SEARCH_RET_ALL }, { "COUNT", IMAP_SEARCH_RET_COUNT },
		{ "SAVE", IMAP_SEARCH_RET_SAVE } };
	const struct imap_arg *l = next_arg(p);

	if (l == NULL || l->type != IMAP_ARG_LIST) {
		p->error = "RETURN needs a list";
		return -1;
	}
	p->s->esearch = true;
	for (size_t i = 0; i < l->n; i++) {
		bool known = false;
		for (size_t k = 0; k < nitems(opts) && l->list[i].type == IMAP_ARG_ATOM; k++)
			if (strcasecmp(l->list[i].str, opts[k].name) == 0) {
				p->s->ret |= opts[k].bit;
				known = true;
			}
		if (!known) {
			p->error = "Unknown RETURN option";
			return -1;
		}
	}
	if (p->s->ret == 0) /* RFC 4731 3.1: "()" means ALL */
		p->s->ret = IMAP_SEARCH_RET_ALL;
	return 0;
}

/* parse_charset - CHARSET astring: only UTF-8 and US-ASCII. */
static int
parse_charset(struct sparser *p)
{
	const struct imap_arg *a = next_arg(p);
	const char *s;
	size_t len;

	if (a == NULL || !arg_string(a, &s, &len)) {
		p->error = "CHARSET needs a name";
		return -1;
	}
	if ((len == 5 && strncasecmp(s, "UTF-8", 5) == 0) ||
	    (len == 8 && strncasecmp(s, "US-ASCII", 8) == 0))
		return 0;
	p->error = IMAP_SEARCH_BADCHARSET;
	return -2;
}

static bool
atom_is(const struct sparser *p, const char *word)
{
	return p->i < p->n && p->args[p->i].type == IMAP_ARG_ATOM &&
	    strcasecmp(p->args[p->i].str, word) == 0;
}

int
imap_search_parse(const struct imap_arg *args, size_t n, struct imap_search **s_r,
    const char **error_r)
{
	struct imap_search *s = xcalloc(1, sizeof(*s));
	struct sparser p = { .args = args, .n = n, .s = s };
	int rc = 0;

	*s_r = NULL;

	if (atom_is(&p, "RETURN")) {
		p.i++;
		rc = parse_return(&p);
	}
	if (rc == 0 && atom_is(&p, "CHARSET")) {
		p.i++;
		rc = parse_charset(&p);
	}
	if (rc == 0 && p.i >= p.n) {
		p.error = "Missing search keys";
		rc = -1;
	}
	if (rc == 0 && (s->root = new_key(&p, SK_AND)) == NULL)
		rc = -1;
	while (rc == 0 && p.i < p.n)
		if ((s->root = parse_kids(&p, s->root, 1, 0)) == NULL)
			rc = -1;
	if (rc < 0) {
		*error_r = p.error != NULL ? p.error : "Invalid search";
		imap_search_free(&s);
		return rc;
	}
	*s_r = s;
	return 0;
}

void
imap_search_free(struct imap_search **sp)
{
	if (*sp == NULL)
		return;
	skey_free((*sp)->root);
	free(*sp);
	*sp = NULL;
}

bool
imap_search_needs_body(const struct imap_search *s)
{
	return s->needs_body;
}

bool
imap_search_needs_data(const struct imap_search *s)
{
	return s->needs_data;
}

unsigned
imap_search_return(const struct imap_search *s)
{
	return s->ret;
}

bool
imap_search_is_esearch(const struct imap_search *s)
{
	return s->esearch;
}

int
imap_search_format_ex(const struct imap_search *s, const char *tag, bool uid, bool imap4rev2,
    const uint32_t *v, size_t n, struct buf *out)
{
	unsigned ret = s->esearch ? s->ret : IMAP_SEARCH_RET_ALL;
	int rc = 0;

	if (!s->esearch && !imap4rev2) {
		rc |= buf_append_str(out, "* SEARCH");
		for (size_t i = 0; i < n; i++)
			rc |= buf_printf(out, " %u", v[i]);
		return rc | buf_append_str(out, "\r\n");
	}
	/* RFC 5182 2.4: SAVE alone gives no ESEARCH response. */
	if (ret == IMAP_SEARCH_RET_SAVE)
		return 0;
	rc |= buf_append_str(out, "* ESEARCH (TAG ");
	rc |= imap_fetch_put_string(out, tag, strlen(tag), false);
	rc |= buf_append_str(out, uid ? ") UID" : ")");
	if ((ret & IMAP_SEARCH_RET_MIN) && n > 0)
		rc |= buf_printf(out, " MIN %u", v[0]);
	if ((ret & IMAP_SEARCH_RET_MAX) && n > 0)
		rc |= buf_printf(out, " MAX %u", v[n - 1]);
	if (ret & IMAP_SEARCH_RET_COUNT)
		rc |= buf_printf(out, " COUNT %zu", n);
	if ((ret & IMAP_SEARCH_RET_ALL) && n > 0) {
		rc |= buf_append_str(out, " ALL ");
		rc |= imap_seqset_format(v, n, out);
	}
	return rc | buf_append_str(out, "\r\n");
}

int
imap_search_format(const struct imap_search *s, const char *tag, bool uid,
    const uint32_t *values, size_t n, struct buf *out)
{
	return imap_search_format_ex(s, tag, uid, false, values, n, out) < 0 ? -1 : 0;
}
