/*
 * dkim_canon.c -- DKIM canonicalization (RFC 6376 3.4): header fields one
 * at a time, the body as a stream into SHA-256 with an optional l= cut.
 *
 * The body canonicalizer is a byte state machine, so the hash never
 * depends on how the body was chunked: trailing empty lines are only
 * counted and written out when more content follows; a CR is held until
 * the next byte shows whether it ends a line. Line ends are CRLF; a bare
 * CR or LF is ordinary content (SMTP gives us CRLF; anything else was
 * already flagged by the DATA filter).
 * Limits: O(1) state per body; header output bounded by the caller's buf.
 * Security: input is remote; fuzzed by tests/fuzz/fuzz_dkim_canon.c.
 */
#include <openssl/evp.h>

#include "base/log.h"
#include "msgauth/dkim.h"

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* relaxed_value - unfold, collapse WSP runs, trim both ends (3.4.2). */
static int
relaxed_value(struct span v, struct buf *out)
{
	bool wsp = false, any = false;

	for (size_t i = 0; i < v.n; i++) {
		uint8_t c = v.p[i];

		if (c == '\r' || c == '\n')
			continue; /* unfolding deletes the CRLF, keeps the WSP */
		if (is_wsp(c)) {
			wsp = true;
			continue;
		}
		if (wsp && any && buf_append(out, " ", 1) == -1)
			return -1;
		wsp = false;
		any = true;
		if (buf_append(out, &c, 1) == -1)
			return -1;
	}
	return 0;
}

int
dkim_canon_header(enum dkim_canon c, struct span field, bool crlf, struct buf *out)
{
	const uint8_t *colon;
	size_t nlen;

	if (c == DKIM_CANON_SIMPLE) {
		if (field.n > 0 && buf_append(out, field.p, field.n) == -1)
			return -1;
		return crlf ? buf_append(out, "\r\n", 2) : 0;
	}
	colon = field.n > 0 ? memchr(field.p, ':', field.n) : NULL;
	nlen = colon != NULL ? (size_t)(colon - field.p) : field.n;
	/* 3.4.2: lower-case the name, delete WSP before the colon. */
	while (nlen > 0 && is_wsp(field.p[nlen - 1]))
		nlen--;
	for (size_t i = 0; i < nlen; i++) {
		uint8_t ch = field.p[i];
		if (ch >= 'A' && ch <= 'Z')
			ch |= 0x20;
		if (buf_append(out, &ch, 1) == -1)
			return -1;
	}
	if (colon != NULL) {
		size_t off = (size_t)(colon - field.p) + 1;
		if (buf_append(out, ":", 1) == -1 ||
		    relaxed_value((struct span){colon + 1, field.n - off}, out) == -1)
			return -1;
	}
	return crlf ? buf_append(out, "\r\n", 2) : 0;
}

void
dkim_body_init(struct dkim_body *b, enum dkim_canon c, uint64_t limit)
{
	memset(b, 0, sizeof(*b));
	b->canon = c;
	b->limit = limit;
	b->md = EVP_MD_CTX_new();
	if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
		die("dkim: cannot set up SHA-256");
}

/* flush - hashes what is buffered, up to the l= limit. */
static void
flush(struct dkim_body *b)
{
	uint64_t before = b->len - b->nout; /* canonical bytes already passed on */
	size_t n = b->nout;

	if (before >= b->limit)
		n = 0;
	else if (b->limit - before < n)
		n = (size_t)(b->limit - before);
	if (n > 0)
		EVP_DigestUpdate(b->md, b->out, n);
	b->nout = 0;
}

static void
emit(struct dkim_body *b, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n > 0) {
		size_t k = MIN(n, sizeof(b->out) - b->nout);
		memcpy(b->out + b->nout, s, k);
		b->nout += k;
		b->len += k;
		s += k;
		n -= k;
		if (b->nout == sizeof(b->out))
			flush(b);
	}
}

/* content - one byte that makes the current line non-empty. */
static void
content(struct dkim_body *b, uint8_t c)
{
	for (; b->empty > 0; b->empty--)
		emit(b, "\r\n", 2); /* empty lines in the middle stay */
	if (b->wsp)
		emit(b, " ", 1); /* relaxed: a WSP run, leading ones too, is one SP */
	b->wsp = false;
	b->inline_ = true;
	emit(b, &c, 1);
}

static void
end_of_line(struct dkim_body *b)
{
	b->wsp = false; /* relaxed: WSP at the end of a line goes */
	if (b->inline_)
		emit(b, "\r\n", 2);
	else
		b->empty++;
	b->inline_ = false;
}

static void
body_byte(struct dkim_body *b, uint8_t c)
{
	if (b->cr) {
		b->cr = false;
		if (c == '\n') {
			end_of_line(b);
			return;
		}
		content(b, '\r'); /* a bare CR is content */
	}
	if (c == '\r')
		b->cr = true;
	else if (b->canon == DKIM_CANON_RELAXED && is_wsp(c))
		b->wsp = true;
	else
		content(b, c);
}

void
dkim_body_update(struct dkim_body *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		body_byte(b, p[i]);
}

void
dkim_body_final(struct dkim_body *b, uint8_t hash[32])
{
	unsigned len = 0;

	if (b->cr) {
		b->cr = false;
		content(b, '\r');
	}
	/* 3.4.3/3.4.4: a last line without CRLF gets one; trailing empty
	   lines vanish; an empty body is CRLF (simple) or nothing (relaxed). */
	if (b->inline_)
		end_of_line(b);
	else if (b->canon == DKIM_CANON_SIMPLE && b->len == 0)
		emit(b, "\r\n", 2);
	flush(b);
	if (EVP_DigestFinal_ex(b->md, hash, &len) != 1 || len != 32)
		die("dkim: SHA-256 failed");
}

void
dkim_body_deinit(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}
