/*
 * imap_search_match.c -- evaluates a parsed SEARCH program against one
 * message (imap_search.h, imap_search_match).
 *
 * String keys compare folded text: the search string was folded at parse
 * time; the message side is decoded (RFC 2047 words in header fields,
 * Content-Transfer-Encoding and charset in text parts), folded with
 * libunistring's u8_casefold (full Unicode case folding, NFKD) and
 * searched with memmem. Decoded and folded texts are built once per
 * message, on first need, whatever the number of keys.
 * Dates compare by day, "disregarding time and timezone" (RFC 9051 6.4.4):
 * INTERNALDATE's day in its own zone, the Date: field's day in its zone.
 * Standards: RFC 9051 6.4.4; RFC 2047; RFC 2045 6; RFC 5051 in spirit
 * (i;unicode-casemap folds with NFKD as well).
 * Security: messages are untrusted; all text work is bounded by the
 * message size (folding expands by a small constant factor).
 */
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unistr.h>
#include <uninorm.h>

#include "imap/imap_search_int.h"
#include "msg/mime.h"

#define NO_DAY INT64_MIN

/* What one message offers the keys; built lazily. */
struct match_ctx {
	const struct imap_search_msg *m;
	struct mime_msg *msg;
	bool have_body, have_header, have_sent;
	struct buf body;   /* folded text parts, NUL between parts */
	struct buf header; /* folded decoded header fields */
	int64_t sent_day;
};

/* fold_ascii - pure ASCII folds to itself with A-Z lowered (NFKD leaves
   ASCII alone): most mail headers, at a fraction of u8_casefold's cost.
   Returns 1 done, 0 not ASCII (nothing appended), -1 out full. */
static int
fold_ascii(struct span in, struct buf *out)
{
	size_t avail;
	uint8_t *w;

	for (size_t i = 0; i < in.n; i++)
		if (in.p[i] >= 0x80)
			return 0;
	if (in.n == 0)
		return 1;
	if ((w = buf_reserve(out, in.n, &avail)) == NULL)
		return -1;
	for (size_t i = 0; i < in.n; i++)
		w[i] = in.p[i] >= 'A' && in.p[i] <= 'Z' ? (uint8_t)(in.p[i] + 32) : in.p[i];
	buf_commit(out, in.n);
	return 1;
}

int
imap_search_fold(struct span in, struct buf *out)
{
	struct buf clean;
	uint8_t *folded;
	size_t flen = 0;
	int rc;

	if ((rc = fold_ascii(in, out)) != 0)
		return rc < 0 ? -1 : 0;
	/* u8_casefold refuses invalid UTF-8: replace bad bytes first. */
	buf_init(&clean, 0, SIZE_MAX / 4);
	for (size_t i = 0; i < in.n;) {
		ucs4_t uc;
		int len = u8_mbtoucr(&uc, in.p + i, in.n - i);
		if (len <= 0) {
			buf_append(&clean, "?", 1);
			i++;
		} else {
			buf_append(&clean, in.p + i, (size_t)len);
			i += (size_t)len;
		}
	}
	folded = u8_casefold(clean.base != NULL ? clean.base : (const uint8_t *)"", buf_len(&clean),
	    NULL, UNINORM_NFKD, NULL, &flen);
	if (folded == NULL) /* ENOMEM only, input is valid now: keep it unfolded */
		rc = buf_append(out, clean.base, buf_len(&clean));
	else
		rc = buf_append(out, folded, flen);
	free(folded);
	buf_deinit(&clean);
	return rc;
}

static const struct mime_msg *
ctx_msg(struct match_ctx *c)
{
	if (c->msg == NULL)
		c->msg = mime_parse(c->m->data != NULL ? c->m->data : "", c->m->data != NULL ? c->m->len : 0);
	return c->msg;
}

/* fold_decoded_field - the field value with encoded words decoded, folded. */
static void
fold_decoded_field(struct span value, struct buf *out)
{
	struct buf dec;

	buf_init(&dec, 0, SIZE_MAX / 4);
	mime_decode_words(value, &dec);
	imap_search_fold(buf_peek(&dec), out);
	buf_deinit(&dec);
}

/* match_header - any field `name` of the message header holds k->str; an
   empty string matches any such field (RFC 9051 6.4.4 HEADER). */
static bool
match_header(struct match_ctx *c, const struct skey *k)
{
	const struct mime_part *root = ctx_msg(c)->root;
	struct mime_hdr_iter it;
	struct span name, value, field;
	bool found = false;

	mime_hdr_iter_init(&it, c->msg->data + root->hdr_off, root->hdr_len);
	while (!found && mime_hdr_next(&it, &name, &value, &field)) {
		struct buf f;

		if (!span_eq_ci(name, k->field))
			continue;
		if (k->len == 0)
			return true;
		buf_init(&f, 0, SIZE_MAX / 4);
		fold_decoded_field(value, &f);
		found = buf_len(&f) > 0 && memmem(f.base, buf_len(&f), k->str, k->len) != NULL;
		buf_deinit(&f);
	}
	return found;
}

/* add_text_part - a text part's body, decoded and converted, folded. */
static void
add_text_part(struct match_ctx *c, const struct mime_part *p)
{
	const struct mime_msg *msg = c->msg;
	struct span body = { (const uint8_t *)msg->data + p->body_off, p->body_len };
	struct mime_params ps;
	struct buf dec, utf8;
	enum mime_cte cte = mime_part_cte(msg, p);

	buf_init(&dec, 0, SIZE_MAX / 4);
	buf_init(&utf8, 0, SIZE_MAX / 4);
	if (cte == MIME_CTE_UNKNOWN)
		buf_append(&dec, body.p, body.n);
	else
		mime_decode_cte(cte, body, &dec);
	mime_params_parse(p->ctype_rest, &ps);
	mime_to_utf8(mime_params_get(&ps, "charset"), buf_peek(&dec), &utf8);
	mime_params_free(&ps);
	imap_search_fold(buf_peek(&utf8), &c->body);
	buf_append(&c->body, "", 1); /* no match across parts */
	buf_deinit(&dec);
	buf_deinit(&utf8);
}

/* collect_text - every text part under p, embedded messages included. */
static void
collect_text(struct match_ctx *c, const struct mime_part *p)
{
	if (p->kind == MIME_KIND_TEXT)
		add_text_part(c, p);
	for (const struct mime_part *k = p->children; k != NULL; k = k->next)
		collect_text(c, k);
}

static bool
match_body(struct match_ctx *c, const struct skey *k)
{
	if (!c->have_body) {
		buf_init(&c->body, 0, SIZE_MAX / 4);
		collect_text(c, ctx_msg(c)->root);
		c->have_body = true;
	}
	if (k->len == 0)
		return true;
	return buf_len(&c->body) > 0 && memmem(c->body.base, buf_len(&c->body), k->str, k->len) != NULL;
}

static bool
match_text(struct match_ctx *c, const struct skey *k)
{
	if (!c->have_header) {
		const struct mime_part *root = ctx_msg(c)->root;
		struct mime_hdr_iter it;
		struct span name, value, field;

		buf_init(&c->header, 0, SIZE_MAX / 4);
		mime_hdr_iter_init(&it, c->msg->data + root->hdr_off, root->hdr_len);
		while (mime_hdr_next(&it, &name, &value, &field)) {
			imap_search_fold(name, &c->header);
			buf_append(&c->header, ": ", 2);
			fold_decoded_field(value, &c->header);
			buf_append(&c->header, "\n", 1);
		}
		c->have_header = true;
	}
	if (k->len > 0 && buf_len(&c->header) > 0 &&
	    memmem(c->header.base, buf_len(&c->header), k->str, k->len) != NULL)
		return true;
	return match_body(c, k);
}

/* day_of - the calendar day of t in the zone tz (minutes east). */
static int64_t
day_of(int64_t t, int tz)
{
	int64_t local;

	/* Nonsense from the index must not overflow: clamp to +-2^40 s. */
	t = MAX(MIN(t, INT64_C(1) << 40), -(INT64_C(1) << 40));
	tz = MAX(MIN(tz, 24 * 60), -24 * 60);
	local = t + (int64_t)tz * 60;

	return local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
}

static int64_t
sent_day(struct match_ctx *c)
{
	if (!c->have_sent) {
		const struct mime_part *root = ctx_msg(c)->root;
		struct span v;
		int64_t t;
		int tz;

		c->sent_day = NO_DAY;
		if (mime_hdr_find(c->msg->data + root->hdr_off, root->hdr_len, "Date", &v) &&
		    mime_date_parse(v, &t, &tz) == 0)
			c->sent_day = day_of(t, tz);
		c->have_sent = true;
	}
	return c->sent_day;
}

/* has_keyword - keyword set on the message; system flags by their bits. */
static bool
has_keyword(const struct imap_search_msg *m, const char *kw)
{
	static const struct {
		const char *name;
		unsigned bit;
	} sys[] = { { "\\Seen", IMAP_F_SEEN }, { "\\Answered", IMAP_F_ANSWERED },
		{ "\\Flagged", IMAP_F_FLAGGED }, { "\\Deleted", IMAP_F_DELETED },
		{ "\\Draft", IMAP_F_DRAFT }, { "\\Recent", IMAP_F_RECENT } };

	for (size_t i = 0; i < nitems(sys); i++)
		if (strcasecmp(kw, sys[i].name) == 0)
			return (m->flags & sys[i].bit) != 0;
	for (size_t i = 0; i < m->nkeywords; i++)
		if (strcasecmp(kw, m->keywords[i]) == 0)
			return true;
	return false;
}

/* compare_day - BEFORE/ON/SINCE of day against the key's day. */
static bool
compare_day(int64_t day, enum skey_type t, int64_t want)
{
	if (day == NO_DAY)
		return false;
	if (t == SK_BEFORE || t == SK_SENTBEFORE)
		return day < want;
	if (t == SK_ON || t == SK_SENTON)
		return day == want;
	return day >= want;
}

static bool eval(struct match_ctx *c, const struct skey *k);

static bool
eval_and(struct match_ctx *c, const struct skey *k)
{
	for (size_t i = 0; i < k->nkids; i++)
		if (!eval(c, k->kids[i]))
			return false;
	return true;
}

static bool
eval(struct match_ctx *c, const struct skey *k)
{
	const struct imap_search_msg *m = c->m;

	switch (k->type) {
	case SK_ALL:
		return true;
	case SK_AND:
		return eval_and(c, k);
	case SK_OR:
		return eval(c, k->kids[0]) || eval(c, k->kids[1]);
	case SK_NOT:
		return !eval(c, k->kids[0]);
	case SK_SEQ:
		return imap_seqset_contains(&k->set, m->seq, m->max_seq);
	case SK_UID:
		return imap_seqset_contains(&k->set, m->uid, m->max_uid);
	case SK_FLAG:
		return (m->flags & k->flags) == k->flags && (m->flags & k->unflags) == 0;
	case SK_UNFLAG:
		return (m->flags & k->flags) == 0;
	case SK_KEYWORD:
		return has_keyword(m, (const char *)k->str);
	case SK_UNKEYWORD:
		return !has_keyword(m, (const char *)k->str);
	case SK_LARGER:
		return m->size > k->num;
	case SK_SMALLER:
		return m->size < k->num;
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
		return compare_day(day_of(m->internaldate, m->internaldate_tz), k->type, k->day);
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		return compare_day(sent_day(c), k->type, k->day);
	case SK_HEADER:
		return match_header(c, k);
	case SK_BODY:
		return match_body(c, k);
	case SK_TEXT:
		return match_text(c, k);
	}
	return false;
}

int
imap_search_match(const struct imap_search *s, const struct imap_search_msg *m)
{
	struct match_ctx c = { .m = m };
	bool ok = eval(&c, s->root);

	mime_free(&c.msg);
	if (c.have_body)
		buf_deinit(&c.body);
	if (c.have_header)
		buf_deinit(&c.header);
	return ok ? 1 : 0;
}
