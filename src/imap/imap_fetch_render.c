/*
 * imap_fetch_render.c -- one message's "* SEQ FETCH (...)" response, item
 * by item (imap_fetch.h, imap_fetch_render).
 *
 * Output goes through a scratch buffer that is flushed to the engine's
 * emit callback whenever a piece of the message itself follows: that piece
 * is passed as a pointer into m->data, so a 30 MB BODY[] is never copied
 * here. Section contents are resolved on the MIME tree, parsed at most once
 * per call and only when an item needs it.
 * Standards: RFC 9051 6.4.5, 7.5.2; RFC 3516 4.2 (BINARY decoding, literal8
 * when the decoded data holds NUL), 4.3 (UNKNOWN-CTE).
 * Security: section numbers come from the client and are looked up with
 * mime_part_find(), never used as indexes.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch.h"
#include "imap/imap_fetch_int.h"

struct render {
	const struct imap_fetch_msg *m;
	struct mime_msg *msg; /* parsed on first need */
	struct buf out;	      /* scratch: flushed before each zero-copy piece */
	struct buf tmp;	      /* built section contents (HEADER.FIELDS, BINARY) */
	imap_fetch_emit_fn *emit;
	void *ctx;
	bool rev2;
	bool failed;
};

static const struct mime_msg *
render_msg(struct render *r)
{
	if (r->msg == NULL)
		r->msg = mime_parse(r->m->data, r->m->len);
	return r->msg;
}

/* flush - hands the scratch bytes to the engine. */
static void
flush(struct render *r)
{
	struct span s = buf_peek(&r->out);

	if (!r->failed && s.n > 0 && r->emit(r->ctx, s.p, s.n) != 0)
		r->failed = true;
	buf_clear(&r->out);
}

/* put_data - a piece of the message (zero copy) or of r->tmp. */
static void
put_data(struct render *r, const void *p, size_t n)
{
	flush(r);
	if (!r->failed && n > 0 && r->emit(r->ctx, p, n) != 0)
		r->failed = true;
}

static void
put_flags(struct render *r)
{
	static const struct {
		unsigned bit;
		const char *name;
	} flags[] = { { IMAP_F_SEEN, "\\Seen" }, { IMAP_F_ANSWERED, "\\Answered" },
		{ IMAP_F_FLAGGED, "\\Flagged" }, { IMAP_F_DELETED, "\\Deleted" },
		{ IMAP_F_DRAFT, "\\Draft" }, { IMAP_F_RECENT, "\\Recent" } };
	bool first = true;

	buf_append_str(&r->out, "FLAGS (");
	for (size_t i = 0; i < nitems(flags); i++) {
		/* IMAP4rev2 has no \Recent (RFC 9051 appendix E). */
		if (!(r->m->flags & flags[i].bit) || (flags[i].bit == IMAP_F_RECENT && r->rev2))
			continue;
		buf_printf(&r->out, "%s%s", first ? "" : " ", flags[i].name);
		first = false;
	}
	for (size_t i = 0; i < r->m->nkeywords; i++) {
		buf_printf(&r->out, "%s%s", first ? "" : " ", r->m->keywords[i]);
		first = false;
	}
	buf_append_str(&r->out, ")");
}

/* put_structure - ENVELOPE, BODY, BODYSTRUCTURE: cached or computed. */
static void
put_structure(struct render *r, enum fi_type t)
{
	const char *cached = t == FI_ENVELOPE ? r->m->envelope :
	    t == FI_BODY		      ? r->m->body :
						r->m->bodystructure;

	buf_append_str(&r->out, t == FI_ENVELOPE ? "ENVELOPE " :
		t == FI_BODY			 ? "BODY " :
						   "BODYSTRUCTURE ");
	if (cached != NULL)
		buf_append_str(&r->out, cached);
	else if (r->m->data == NULL)
		buf_append_str(&r->out, "NIL"); /* the engine's bug: data was needed */
	else if (t == FI_ENVELOPE)
		imap_fetch_envelope(r->m->data, r->m->len, &r->out);
	else
		imap_fetch_part_structure(render_msg(r), render_msg(r)->root,
		    t == FI_BODYSTRUCTURE, &r->out);
}

/* put_fields - the header fields named (SEC_FIELDS) or not named
   (SEC_FIELDS_NOT) by the item, then the blank line. */
static void
put_fields(struct render *r, const struct fetch_item *it, const char *hdr, size_t len)
{
	struct mime_hdr_iter iter;
	struct span name, value, field;

	buf_clear(&r->tmp);
	mime_hdr_iter_init(&iter, hdr, len);
	while (mime_hdr_next(&iter, &name, &value, &field)) {
		bool listed = false;
		for (size_t i = 0; i < it->nfields && !listed; i++)
			listed = span_eq_ci(name, it->fields[i]);
		if (listed != (it->sec == SEC_FIELDS))
			continue;
		buf_append(&r->tmp, field.p, field.n);
		if (field.p[field.n - 1] != '\n') /* last field without a line end */
			buf_append_str(&r->tmp, "\r\n");
	}
	buf_append_str(&r->tmp, "\r\n");
}

/* message_of - the message whose HEADER/TEXT a section means: the root, or
   the embedded message of a message/rfc822 part; NULL for other parts. */
static const struct mime_part *
message_of(const struct mime_msg *msg, const struct fetch_item *it, const struct mime_part *p)
{
	if (it->nnums == 0)
		return msg->root;
	return p->kind == MIME_KIND_MESSAGE ? p->children : NULL;
}

/* section_span - what BODY[section] denotes; false for NIL (no such part,
   or HEADER/TEXT of a part that is not a message). Built contents land in
   r->tmp. */
static bool
section_span(struct render *r, const struct fetch_item *it, struct span *s)
{
	const char *d = r->m->data;
	const struct mime_msg *msg;
	const struct mime_part *p, *e;

	if (it->sec == SEC_FULL && it->nnums == 0) { /* BODY[]: no need to parse */
		*s = (struct span){ (const uint8_t *)d, r->m->len };
		return true;
	}
	msg = render_msg(r);
	if ((p = mime_part_find(msg, it->nums, it->nnums)) == NULL)
		return false;
	if (it->sec == SEC_FULL) {
		*s = (struct span){ (const uint8_t *)d + p->body_off, p->body_len };
		return true;
	}
	if (it->sec == SEC_MIME) {
		*s = (struct span){ (const uint8_t *)d + p->hdr_off, p->hdr_len };
		return true;
	}
	if ((e = message_of(msg, it, p)) == NULL)
		return false;
	if (it->sec == SEC_HEADER)
		*s = (struct span){ (const uint8_t *)d + e->hdr_off, e->hdr_len };
	else if (it->sec == SEC_TEXT)
		*s = (struct span){ (const uint8_t *)d + e->body_off, e->body_len };
	else {
		put_fields(r, it, d + e->hdr_off, e->hdr_len);
		*s = buf_peek(&r->tmp);
	}
	return true;
}

/* binary_span - what BINARY[section] denotes, decoded into r->tmp when the
   part has a transfer encoding. -2 for an unknown encoding, 0 for NIL. */
static int
binary_span(struct render *r, const struct fetch_item *it, struct span *s)
{
	const struct mime_msg *msg;
	const struct mime_part *p;
	enum mime_cte cte;
	struct span body;

	if (it->nnums == 0) { /* the whole message has no encoding of its own */
		*s = (struct span){ (const uint8_t *)r->m->data, r->m->len };
		return 1;
	}
	msg = render_msg(r);
	if ((p = mime_part_find(msg, it->nums, it->nnums)) == NULL)
		return 0;
	body = (struct span){ (const uint8_t *)r->m->data + p->body_off, p->body_len };
	cte = p->kind == MIME_KIND_MULTIPART ? MIME_CTE_IDENTITY : mime_part_cte(msg, p);
	if (cte == MIME_CTE_UNKNOWN)
		return -2;
	if (cte == MIME_CTE_IDENTITY) {
		*s = body;
		return 1;
	}
	buf_clear(&r->tmp);
	mime_decode_cte(cte, body, &r->tmp);
	*s = buf_peek(&r->tmp);
	return 1;
}

/* put_literal - the (partial) content as "" or {n} / ~{n} and its bytes. */
static void
put_literal(struct render *r, const struct fetch_item *it, struct span s, bool binary)
{
	if (it != NULL && it->partial) {
		uint64_t off = MIN(it->off, (uint64_t)s.n);
		s = (struct span){ s.p + off, (size_t)MIN(it->count, (uint64_t)s.n - off) };
	}
	if (s.n == 0) {
		buf_append_str(&r->out, "\"\"");
		return;
	}
	/* RFC 3516 4.2: literal8 when the decoded data holds NUL. */
	buf_printf(&r->out, "%s{%zu}\r\n", binary && memchr(s.p, 0, s.n) != NULL ? "~" : "", s.n);
	put_data(r, s.p, s.n);
}

static void
put_section(struct render *r, const struct fetch_item *it)
{
	struct span s;
	bool have;

	if (it->type == FI_BINARY_SIZE) {
		have = r->m->data != NULL && binary_span(r, it, &s) == 1;
		buf_printf(&r->out, "%s %zu", it->name, have ? s.n : (size_t)0);
		return;
	}
	buf_append_str(&r->out, it->name);
	if (it->partial)
		buf_printf(&r->out, "<%llu>", (unsigned long long)it->off);
	buf_append_str(&r->out, " ");
	if (r->m->data == NULL)
		have = false;
	else if (it->type == FI_BINARY)
		have = binary_span(r, it, &s) == 1;
	else
		have = section_span(r, it, &s);
	if (!have)
		buf_append_str(&r->out, "NIL");
	else
		put_literal(r, it, s, it->type == FI_BINARY);
}

/* put_rfc822 - RFC822, RFC822.HEADER, RFC822.TEXT (RFC 3501 6.4.5). */
static void
put_rfc822(struct render *r, enum fi_type t)
{
	struct span s;
	size_t hlen;

	buf_append_str(&r->out, t == FI_RFC822 ? "RFC822 " :
		t == FI_RFC822_HEADER	       ? "RFC822.HEADER " :
						 "RFC822.TEXT ");
	if (r->m->data == NULL) {
		buf_append_str(&r->out, "NIL");
		return;
	}
	if (t == FI_RFC822) {
		put_literal(r, NULL, (struct span){ (const uint8_t *)r->m->data, r->m->len }, false);
		return;
	}
	/* The top-level header needs no MIME parse. */
	hlen = mime_header_len(r->m->data, r->m->len);
	if (t == FI_RFC822_HEADER)
		s = (struct span){ (const uint8_t *)r->m->data, hlen };
	else
		s = (struct span){ (const uint8_t *)r->m->data + hlen, r->m->len - hlen };
	put_literal(r, NULL, s, false);
}

static void
put_item(struct render *r, const struct fetch_item *it)
{
	char date[32];

	switch (it->type) {
	case FI_UID:
		buf_printf(&r->out, "UID %u", r->m->uid);
		break;
	case FI_FLAGS:
		put_flags(r);
		break;
	case FI_INTERNALDATE:
		imap_fetch_date(r->m->internaldate, r->m->internaldate_tz, date);
		buf_printf(&r->out, "INTERNALDATE \"%s\"", date);
		break;
	case FI_SIZE:
		buf_printf(&r->out, "RFC822.SIZE %llu", (unsigned long long)r->m->size);
		break;
	case FI_MODSEQ:
		buf_printf(&r->out, "MODSEQ (%llu)", (unsigned long long)r->m->modseq);
		break;
	case FI_ENVELOPE:
	case FI_BODY:
	case FI_BODYSTRUCTURE:
		put_structure(r, it->type);
		break;
	case FI_RFC822:
	case FI_RFC822_HEADER:
	case FI_RFC822_TEXT:
		put_rfc822(r, it->type);
		break;
	case FI_SECTION:
	case FI_BINARY:
	case FI_BINARY_SIZE:
		put_section(r, it);
		break;
	}
}

/* check_binary - RFC 3516 4.3: an undecodable part fails the whole FETCH
   with NO [UNKNOWN-CTE], so look before emitting anything. */
static bool
check_binary(struct render *r, const struct imap_fetch_req *req)
{
	for (size_t i = 0; i < req->n; i++) {
		const struct fetch_item *it = &req->items[i];
		struct span s;

		if ((it->type == FI_BINARY || it->type == FI_BINARY_SIZE) && r->m->data != NULL &&
		    binary_span(r, it, &s) == -2)
			return false;
	}
	return true;
}

int
imap_fetch_render(const struct imap_fetch_req *req, const struct imap_fetch_msg *m,
    bool imap4rev2, imap_fetch_emit_fn *emit, void *ctx)
{
	struct render r = { .m = m, .emit = emit, .ctx = ctx, .rev2 = imap4rev2 };
	int rc = 0;

	/* Scratch never holds more than one item's framing plus built content. */
	buf_init(&r.out, 256, SIZE_MAX / 4);
	buf_init(&r.tmp, 0, SIZE_MAX / 4);
	if (!check_binary(&r, req)) {
		rc = -2;
		goto out;
	}
	buf_printf(&r.out, "* %u FETCH (", m->seq);
	for (size_t i = 0; i < req->n && !r.failed; i++) {
		if (i > 0)
			buf_append_str(&r.out, " ");
		put_item(&r, &req->items[i]);
	}
	buf_append_str(&r.out, ")\r\n");
	flush(&r);
	rc = r.failed ? -1 : 0;
out:
	buf_deinit(&r.out);
	buf_deinit(&r.tmp);
	mime_free(&r.msg);
	return rc;
}
