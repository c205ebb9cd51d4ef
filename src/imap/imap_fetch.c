/*
 * imap_fetch.c -- FETCH data items: parsing the request, rendering one
 * message's untagged FETCH response (imap_fetch.h).
 *
 * A section such as BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> arrives
 * as one atom (imap_arg.h) and is taken apart here: part numbers, then one
 * of HEADER, HEADER.FIELDS[.NOT] (list), TEXT, MIME, then the partial.
 * Rendering walks the items in request order; section contents that are a
 * contiguous run of the message are emitted as pointers into it (zero
 * copy), the rest (HEADER.FIELDS, BINARY) from scratch memory.
 * Standards: RFC 9051 6.4.5 (items, sections, partial, \Seen), 7.5.2
 * (response), 9 (grammar: fetch-att, section, partial, date-time);
 * RFC 3516 (BINARY, BINARY.SIZE, literal8, UNKNOWN-CTE).
 * Limits: IMAP_FETCH_MAX_ITEMS, IMAP_FETCH_MAX_FIELDS, MIME_MAX_DEPTH part
 * numbers; partial offsets fit number64.
 * Security: items are untrusted client input, checked before use; the
 * message is untrusted and only read through the bounded MIME tree.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "base/xalloc.h"
#include "imap/imap_fetch.h"
#include "imap/imap_fetch_int.h"

static const struct {
	const char *name;
	enum fi_type type;
} simple_items[] = {
	{ "UID", FI_UID },
	{ "FLAGS", FI_FLAGS },
	{ "INTERNALDATE", FI_INTERNALDATE },
	{ "RFC822.SIZE", FI_SIZE },
	{ "ENVELOPE", FI_ENVELOPE },
	{ "BODY", FI_BODY },
	{ "BODYSTRUCTURE", FI_BODYSTRUCTURE },
	{ "MODSEQ", FI_MODSEQ },
	{ "RFC822", FI_RFC822 },
	{ "RFC822.HEADER", FI_RFC822_HEADER },
	{ "RFC822.TEXT", FI_RFC822_TEXT },
};

/* The items of the macros (RFC 9051 6.4.5). */
static const enum fi_type macro_fast[] = { FI_FLAGS, FI_INTERNALDATE, FI_SIZE };
static const enum fi_type macro_all[] = { FI_FLAGS, FI_INTERNALDATE, FI_SIZE, FI_ENVELOPE };
static const enum fi_type macro_full[] = { FI_FLAGS, FI_INTERNALDATE, FI_SIZE, FI_ENVELOPE,
	FI_BODY };

/* add_simple - appends a plain item once (a repeat is ignored). */
static int
add_simple(struct imap_fetch_req *req, enum fi_type t, const char **error_r)
{
	for (size_t i = 0; i < req->n; i++)
		if (req->items[i].type == t)
			return 0;
	if (req->n == IMAP_FETCH_MAX_ITEMS) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	req->items[req->n++].type = t;
	return 0;
}

/* parse_u64 - digits at s[*i] up to a bound; advances *i. */
static int
parse_u64(const char *s, size_t len, size_t *i, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t start = *i;

	for (; *i < len && isdigit((unsigned char)s[*i]); (*i)++) {
		if (v > (max - (uint64_t)(s[*i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[*i] - '0');
	}
	if (*i == start)
		return -1;
	*v_r = v;
	return 0;
}

/* is_astring_char - ATOM-CHAR or ']' (RFC 9051 9 ASTRING-CHAR), as far as
   a header name inside a section can hold it. */
static bool
is_fname_char(char c)
{
	return (unsigned char)c > ' ' && (unsigned char)c < 127 && strchr("(){%*\"\\]", c) == NULL;
}

/* parse_fields - " (name name ...)" at s[*i]; the list ends the section. */
static int
parse_fields(struct fetch_item *it, const char *s, size_t len, size_t i)
{
	if (i + 1 >= len || s[i] != ' ' || s[i + 1] != '(')
		return -1;
	i += 2;
	it->fields = xcalloc(IMAP_FETCH_MAX_FIELDS, sizeof(char *));
	while (i < len && s[i] != ')') {
		struct buf b;
		size_t start = i;

		if (it->nfields == IMAP_FETCH_MAX_FIELDS)
			return -1;
		buf_init(&b, 0, len + 1);
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				buf_append(&b, &s[i], 1);
			}
			i++;
		} else {
			while (i < len && is_fname_char(s[i]))
				i++;
			buf_append(&b, s + start, i - start);
		}
		if (i > len || buf_len(&b) == 0) {
			buf_deinit(&b);
			return -1;
		}
		it->fields[it->nfields++] = xstrndup((const char *)b.base, buf_len(&b));
		buf_deinit(&b);
		if (i < len && s[i] == ' ')
			i++;
	}
	/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
	return i + 1 == len && s[i] == ')' && it->nfields > 0 ? 0 : -1;
}

/* parse_section - the text between [ and ]: part numbers, then a keyword. */
static int
parse_section(struct fetch_item *it, const char *s, size_t len, bool binary)
{
	static const struct {
		const char *kw;
		enum sec_kind sec;
	} kws[] = { { "HEADER.FIELDS.NOT", SEC_FIELDS_NOT }, { "HEADER.FIELDS", SEC_FIELDS },
		{ "HEADER", SEC_HEADER }, { "TEXT", SEC_TEXT }, { "MIME", SEC_MIME } };
	size_t i = 0;

	while (i < len && isdigit((unsigned char)s[i])) {
		uint64_t v;
		if (parse_u64(s, len, &i, UINT32_MAX, &v) < 0 || v == 0 || it->nnums == MIME_MAX_DEPTH)
			return -1;
		it->nums[it->nnums++] = (uint32_t)v;
		if (i == len)
			return 0;
		if (s[i++] != '.' || i == len)
			return -1;
	}
	if (i == len)
		return 0;
	if (binary)
		return -1;
	for (size_t k = 0; k < nitems(kws); k++) {
		size_t kl = strlen(kws[k].kw);
		if (len - i < kl || strncasecmp(s + i, kws[k].kw, kl) != 0)
			continue;
		it->sec = kws[k].sec;
		if (it->sec == SEC_MIME && it->nnums == 0)
			return -1; /* MIME needs a part number (RFC 9051 6.4.5) */
		if (it->sec == SEC_FIELDS || it->sec == SEC_FIELDS_NOT)
			return parse_fields(it, s, len, i + kl);
		return i + kl == len ? 0 : -1;
	}
	return -1;
}

/* put_atom_or_quoted - a header name in the response's section text. */
static void
put_fname(struct buf *b, const char *f)
{
	bool atom = *f != '\0';

	for (const char *c = f; *c != '\0'; c++)
		atom &= is_fname_char(*c);
	if (atom)
		buf_append_str(b, f);
	else
		imap_fetch_put_string(b, f, strlen(f), false);
}

/* make_name - the item's name as the response shows it (no .PEEK). */
static void
make_name(struct fetch_item *it)
{
	static const char *const sec_names[] = { "", "HEADER", "HEADER.FIELDS",
		"HEADER.FIELDS.NOT", "TEXT", "MIME" };
	const char *prefix = it->type == FI_SECTION ? "BODY" :
	    it->type == FI_BINARY		    ? "BINARY" :
						      "BINARY.SIZE";
	struct buf b;

	buf_init(&b, 64, 1u << 20);
	buf_printf(&b, "%s[", prefix);
	for (size_t i = 0; i < it->nnums; i++)
		buf_printf(&b, "%s%u", i > 0 ? "." : "", it->nums[i]);
	if (it->sec != SEC_FULL)
		buf_printf(&b, "%s%s", it->nnums > 0 ? "." : "", sec_names[it->sec]);
	if (it->nfields > 0) {
		buf_append_str(&b, " (");
		for (size_t i = 0; i < it->nfields; i++) {
			if (i > 0)
				buf_append_str(&b, " ");
			put_fname(&b, it->fields[i]);
		}
		buf_append_str(&b, ")");
	}
	buf_append_str(&b, "]");
	it->name = xstrndup((const char *)b.base, buf_len(&b));
	buf_deinit(&b);
}

/* parse_partial - "<offset.count>" after the section, to the atom's end. */
static int
parse_partial(struct fetch_item *it, const char *s, size_t len)
{
	size_t i = 1;

	if (len == 0)
		return 0;
	if (s[0] != '<' || parse_u64(s, len, &i, INT64_MAX, &it->off) < 0 || i >= len ||
	    s[i++] != '.' || parse_u64(s, len, &i, INT64_MAX, &it->count) < 0 ||
	    it->count == 0 || i + 1 != len || s[i] != '>')
		return -1;
	it->partial = true;
	return 0;
}

/* section_end - the ']' closing the section opened at s[open]; quoted
   strings inside may hold ']'. Returns len when there is none. */
static size_t
section_end(const char *s, size_t len, size_t open)
{
	bool quoted = false;

	for (size_t i = open + 1; i < len; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == ']')
			return i;
	}
	return len;
}

/* parse_section_item - BODY[..], BODY.PEEK[..], BINARY[.PEEK|.SIZE][..]. */
static int
parse_section_item(struct fetch_item *it, const char *s, size_t len, size_t open)
{
	size_t close = section_end(s, len, open);
	bool binary;

	if (open == 4 && strncasecmp(s, "BODY", 4) == 0)
		it->type = FI_SECTION;
	else if (open == 9 && strncasecmp(s, "BODY.PEEK", 9) == 0)
		it->type = FI_SECTION, it->peek = true;
	else if (open == 6 && strncasecmp(s, "BINARY", 6) == 0)
		it->type = FI_BINARY;
	else if (open == 11 && strncasecmp(s, "BINARY.PEEK", 11) == 0)
		it->type = FI_BINARY, it->peek = true;
	else if (open == 11 && strncasecmp(s, "BINARY.SIZE", 11) == 0)
		it->type = FI_BINARY_SIZE;
	else
		return -1;
	binary = it->type != FI_SECTION;
	if (close == len || parse_section(it, s + open + 1, close - open - 1, binary) < 0)
		return -1;
	if (parse_partial(it, s + close + 1, len - close - 1) < 0 ||
	    (it->partial && it->type == FI_BINARY_SIZE))
		return -1;
	make_name(it);
	return 0;
}

static void
item_free(struct fetch_item *it)
{
	for (size_t i = 0; i < it->nfields; i++)
		free(it->fields[i]);
	free(it->fields);
	free(it->name);
}

/* parse_item - one atom of the item list. */
static int
parse_item(struct imap_fetch_req *req, const struct imap_arg *a, const char **error_r)
{
	const char *open;

	if (a->type != IMAP_ARG_ATOM) {
		*error_r = "Invalid FETCH item";
		return -1;
	}
	open = memchr(a->str, '[', a->len);
	if (open == NULL) {
		for (size_t k = 0; k < nitems(simple_items); k++)
			if (strlen(simple_items[k].name) == a->len &&
			    strncasecmp(a->str, simple_items[k].name, a->len) == 0)
				return add_simple(req, simple_items[k].type, error_r);
		*error_r = "Unknown FETCH item";
		return -1;
	}
	if (req->n == IMAP_FETCH_MAX_ITEMS) {
		*error_r = "Too many FETCH items";
		return -1;
	}
	if (parse_section_item(&req->items[req->n], a->str, a->len, (size_t)(open - a->str)) < 0) {
		item_free(&req->items[req->n]);
		memset(&req->items[req->n], 0, sizeof(req->items[req->n]));
		*error_r = "Invalid FETCH section";
		return -1;
	}
	req->n++;
	return 0;
}

/* parse_macro - ALL, FAST, FULL; returns 1 when a was one. */
static int
parse_macro(struct imap_fetch_req *req, const struct imap_arg *a, const char **error_r)
{
	const enum fi_type *m;
	size_t n;

	if (a->type != IMAP_ARG_ATOM)
		return 0;
	if (strcasecmp(a->str, "ALL") == 0)
		m = macro_all, n = nitems(macro_all);
	else if (strcasecmp(a->str, "FAST") == 0)
		m = macro_fast, n = nitems(macro_fast);
	else if (strcasecmp(a->str, "FULL") == 0)
		m = macro_full, n = nitems(macro_full);
	else
		return 0;
	for (size_t i = 0; i < n; i++)
		if (add_simple(req, m[i], error_r) < 0)
			return -1;
	return 1;
}

int
imap_fetch_parse(const struct imap_arg *args, size_t n, bool uid_cmd,
    struct imap_fetch_req **req_r, const char **error_r)
{
	struct imap_fetch_req *req = xcalloc(1, sizeof(*req));
	int rc = 0;

	*req_r = NULL;

	/* A second argument is a fetch-modifier list (RFC 7162 CHANGEDSINCE):
	   accepted, left to the engine. */
	if (n == 0 || n > 2 || (n == 2 && args[1].type != IMAP_ARG_LIST)) {
		*error_r = n == 0 ? "Missing FETCH items" : "Invalid FETCH arguments";
		rc = -1;
	}
	if (rc == 0 && uid_cmd)
		rc = add_simple(req, FI_UID, error_r);
	if (rc == 0 && (rc = parse_macro(req, &args[0], error_r)) == 0) {
		if (args[0].type == IMAP_ARG_LIST) {
			if (args[0].n == 0) {
				*error_r = "Empty FETCH item list";
				rc = -1;
			}
			for (size_t i = 0; i < args[0].n && rc == 0; i++)
				rc = parse_item(req, &args[0].list[i], error_r);
		} else
			rc = parse_item(req, &args[0], error_r);
	}
	if (rc < 0) {
		imap_fetch_req_free(&req);
		return -1;
	}
	*req_r = req;
	return 0;
}

void
imap_fetch_req_free(struct imap_fetch_req **reqp)
{
	struct imap_fetch_req *req = *reqp;

	if (req == NULL)
		return;
	for (size_t i = 0; i < req->n; i++)
		item_free(&req->items[i]);
	free(req);
	*reqp = NULL;
}

static bool
item_needs_data(const struct fetch_item *it, bool structure_only)
{
	switch (it->type) {
	case FI_ENVELOPE:
	case FI_BODY:
	case FI_BODYSTRUCTURE:
		return true;
	case FI_RFC822:
	case FI_RFC822_HEADER:
	case FI_RFC822_TEXT:
	case FI_SECTION:
	case FI_BINARY:
	case FI_BINARY_SIZE:
		return !structure_only;
	default:
		return false;
	}
}

bool
imap_fetch_needs_data(const struct imap_fetch_req *req)
{
	for (size_t i = 0; i < req->n; i++)
		if (item_needs_data(&req->items[i], false))
			return true;
	return false;
}

bool
imap_fetch_needs_structure(const struct imap_fetch_req *req)
{
	bool structure = false;

	for (size_t i = 0; i < req->n; i++) {
		const struct fetch_item *it = &req->items[i];
		if (item_needs_data(it, false) && !item_needs_data(it, true))
			return false;
		structure |= item_needs_data(it, true);
	}
	return structure;
}

unsigned
imap_fetch_structures(const struct imap_fetch_req *req)
{
	unsigned bits = 0;

	for (size_t i = 0; i < req->n; i++)
		bits |= req->items[i].type == FI_ENVELOPE        ? IMAP_FETCH_S_ENVELOPE
		        : req->items[i].type == FI_BODY          ? IMAP_FETCH_S_BODY
		        : req->items[i].type == FI_BODYSTRUCTURE ? IMAP_FETCH_S_BODYSTRUCTURE
		                                                 : 0;
	return bits;
}

bool
imap_fetch_sets_seen(const struct imap_fetch_req *req)
{
	for (size_t i = 0; i < req->n; i++) {
		const struct fetch_item *it = &req->items[i];
		if (((it->type == FI_SECTION || it->type == FI_BINARY) && !it->peek) ||
		    it->type == FI_RFC822 || it->type == FI_RFC822_TEXT)
			return true;
	}
	return false;
}

void
imap_fetch_req_add_flags(struct imap_fetch_req *req)
{
	const char *err;

	/* A full item list has no room: FLAGS then stays out, which only
	   costs the client an unsolicited update it can ask for. */
	(void)add_simple(req, FI_FLAGS, &err);
}

bool
imap_fetch_wants_modseq(const struct imap_fetch_req *req)
{
	for (size_t i = 0; i < req->n; i++)
		if (req->items[i].type == FI_MODSEQ)
			return true;
	return false;
}

void
imap_fetch_date(int64_t t, int tz, char out[32])
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	/* Out-of-range input gives a fixed safe date, never overflow. */
	bool sane = t > -(INT64_C(1) << 40) && t < (INT64_C(1) << 40) && tz > -24 * 60 &&
	    tz < 24 * 60;
	time_t local = sane ? (time_t)(t + (int64_t)tz * 60) : 0;
	struct tm tm;
	int atz = tz < 0 ? -tz : tz;

	if (!sane || gmtime_r(&local, &tm) == NULL ||
	    tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		local = 0;
		atz = tz = 0;
		gmtime_r(&local, &tm);
	}
	/* date-day-fixed = (SP DIGIT) / 2DIGIT (RFC 9051 9) */
	snprintf(out, 32, "%2d-%s-%04d %02d:%02d:%02d %c%02d%02d", tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', atz / 60,
	    atz % 60);
}
