/*
 * dkim_hdr.c -- the header section of a message as it streams in, kept
 * for DKIM: field boundaries (folding joined), and the bottom-up selection
 * of the fields that h= names (RFC 6376 5.4.2).
 *
 * Bytes are taken up to and including the empty line that ends the header
 * section; the rest of each chunk is body. Lines end at LF (the CR before
 * it, if any, is not part of the field). A line that starts with WSP
 * continues the field before it.
 * Limits: DKIM_MAX_HEADER bytes and DKIM_MAX_FIELDS fields. Past either,
 * storing stops and h->error says why, but lines are still followed so
 * that the body starts where it should: a header that folds forever costs
 * a bounded amount of memory, never a misparse.
 * Security: remote data; fuzzed by tests/fuzz/fuzz_dkim_canon.c.
 */
#include "msgauth/dkim.h"

void
dkim_hdr_init(struct dkim_hdr *h)
{
	memset(h, 0, sizeof(*h));
	buf_init(&h->raw, 4096, DKIM_MAX_HEADER);
	h->bol = true;
}

void
dkim_hdr_deinit(struct dkim_hdr *h)
{
	buf_deinit(&h->raw);
}

/* line_end - a complete line sits at raw[linestart..wpos) with its LF. */
static void
line_end(struct dkim_hdr *h)
{
	const uint8_t *base = h->raw.base;
	size_t start = h->linestart, end = h->raw.wpos;
	size_t cend = end; /* content end: without LF and CR */
	struct dkim_field *f;

	if (cend > start && base[cend - 1] == '\n')
		cend--;
	if (cend > start && base[cend - 1] == '\r')
		cend--;
	h->linestart = end;
	if (cend == start && end > start) {
		h->done = true; /* the empty line */
		return;
	}
	if (cend > start && (base[start] == ' ' || base[start] == '\t') && h->nf > 0) {
		f = &h->f[h->nf - 1];
		f->len = (uint32_t)(cend - f->off);
		return;
	}
	if (h->nf == DKIM_MAX_FIELDS) {
		h->error = "too many header fields";
		h->bol = true; /* skip_to_end() takes over at the next line */
		return;
	}
	f = &h->f[h->nf++];
	f->off = (uint32_t)start;
	f->len = (uint32_t)(cend - start);
	const uint8_t *colon = memchr(base + start, ':', cend - start);
	f->namelen = colon != NULL ? (uint32_t)(colon - (base + start)) : 0;
}

/* Once over a limit, only find the empty line: `bol` and the byte count. */
static size_t
skip_to_end(struct dkim_hdr *h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (h->bol) {
				h->done = true;
				return i + 1;
			}
			h->bol = true;
			h->cr = false;
		} else if (p[i] == '\r' && h->bol && !h->cr) {
			h->cr = true; /* maybe the CR of an empty line */
		} else {
			h->bol = h->cr = false;
		}
	}
	return n;
}

size_t
dkim_hdr_feed(struct dkim_hdr *h, const uint8_t *p, size_t n)
{
	size_t used = 0;

	while (used < n && !h->done) {
		const uint8_t *lf;
		size_t k;

		if (h->error != NULL)
			return used + skip_to_end(h, p + used, n - used);
		lf = memchr(p + used, '\n', n - used);
		k = lf != NULL ? (size_t)(lf - (p + used)) + 1 : n - used;
		if (buf_append(&h->raw, p + used, k) == -1) {
			h->error = "header section too large";
			/* Judge what remains: at a line start it may be the end. */
			h->bol = h->raw.wpos == h->linestart;
			h->cr = false;
			continue;
		}
		used += k;
		if (lf != NULL) {
			line_end(h);
			h->bol = true;
		} else {
			h->bol = h->raw.wpos == h->linestart;
		}
	}
	return used;
}

void
dkim_hdr_finish(struct dkim_hdr *h)
{
	if (h->done)
		return;
	if (h->error == NULL && h->raw.wpos > h->linestart)
		line_end(h); /* a last line without LF */
	h->done = true;
}

struct span
dkim_hdr_field(const struct dkim_hdr *h, size_t i)
{
	return (struct span){h->raw.base + h->f[i].off, h->f[i].len};
}

struct span
dkim_hdr_name(const struct dkim_hdr *h, size_t i)
{
	struct span s = {h->raw.base + h->f[i].off, h->f[i].namelen};

	while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	return s;
}

struct span
dkim_hdr_value(const struct dkim_hdr *h, size_t i)
{
	const struct dkim_field *f = &h->f[i];

	if (f->namelen == 0 && (f->len == 0 || h->raw.base[f->off] != ':'))
		return SPAN_NULL;
	return (struct span){h->raw.base + f->off + f->namelen + 1, f->len - f->namelen - 1};
}

static bool
name_is(const struct dkim_hdr *h, size_t i, struct span name)
{
	struct span n = dkim_hdr_name(h, i);

	return n.n == name.n && n.n > 0 &&
	       strncasecmp((const char *)n.p, (const char *)name.p, n.n) == 0;
}

/* find - the k-th (0-based) field named `name`, counting from the bottom. */
static size_t
find(const struct dkim_hdr *h, struct span name, size_t k, size_t skip)
{
	for (size_t i = h->nf; i-- > 0;) {
		if (i == skip || !name_is(h, i, name))
			continue;
		if (k-- == 0)
			return i;
	}
	return SIZE_MAX;
}

int
dkim_hdr_select(const struct dkim_hdr *h, const struct span *names, size_t nnames,
                enum dkim_canon c, size_t skip, struct buf *out)
{
	for (size_t j = 0; j < nnames; j++) {
		size_t k = 0, i;

		/* How many times was this name already mentioned before? */
		for (size_t e = 0; e < j; e++)
			if (names[e].n == names[j].n &&
			    strncasecmp((const char *)names[e].p, (const char *)names[j].p,
			                names[j].n) == 0)
				k++;
		if ((i = find(h, names[j], k, skip)) == SIZE_MAX)
			continue; /* a nonexistent field is the null string */
		if (dkim_canon_header(c, dkim_hdr_field(h, i), true, out) == -1)
			return -1;
	}
	return 0;
}
