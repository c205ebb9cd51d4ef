/*
 * fuzz_mime.c -- libFuzzer target for the MIME structure parser and what
 * is built on it: header fields, parameters, address lists, encoded words,
 * dates (src/msg/mime*.c), ENVELOPE, BODYSTRUCTURE and FETCH section
 * rendering (src/imap/imap_fetch*.c).
 *
 * The whole input is one message. Invariants, checked with abort():
 *   - every part lies inside its parent's body, within the input, and the
 *     tree respects MIME_MAX_DEPTH and MIME_MAX_PARTS;
 *   - ENVELOPE and BODYSTRUCTURE are well-formed IMAP: parentheses balance
 *     outside quoted strings and literals, and every literal's length fits;
 *   - a FETCH response ends in ")\r\n" and never fails on any message.
 */
#include <string.h>

#include "fuzz.h"
#include "imap/imap_fetch.h"
#include "imap_arg_tok.h"
#include "msg/mime.h"

static size_t
check_tree(const struct mime_msg *m, const struct mime_part *p, unsigned depth)
{
	size_t n = 1, kids = 0;

	FUZZ_ASSERT(p->hdr_off + p->hdr_len == p->body_off);
	FUZZ_ASSERT(p->body_off + p->body_len <= m->len);
	FUZZ_ASSERT(p->depth == depth && depth <= MIME_MAX_DEPTH);
	for (const struct mime_part *c = p->children; c != NULL; c = c->next) {
		FUZZ_ASSERT(c->parent == p && c->hdr_off >= p->body_off);
		FUZZ_ASSERT(c->body_off + c->body_len <= p->body_off + p->body_len);
		n += check_tree(m, c, depth + 1);
		kids++;
	}
	FUZZ_ASSERT(kids == p->nchildren);
	FUZZ_ASSERT(p->kind != MIME_KIND_MESSAGE || kids == 1);
	FUZZ_ASSERT(p->kind != MIME_KIND_MULTIPART || kids >= 1);
	return n;
}

/* check_imap - balanced parentheses outside strings and literals. */
static void
check_imap(const struct buf *b)
{
	struct span s = buf_peek(b);
	long depth = 0;

	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] == '"') {
			for (i++; i < s.n && s.p[i] != '"'; i++) {
				FUZZ_ASSERT(s.p[i] >= 0x20 && s.p[i] < 0x7f);
				if (s.p[i] == '\\')
					i++;
			}
			FUZZ_ASSERT(i < s.n);
		} else if (s.p[i] == '{') {
			size_t n = 0;
			for (i++; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++)
				n = n * 10 + (size_t)(s.p[i] - '0');
			FUZZ_ASSERT(i + 2 < s.n && s.p[i] == '}' && s.p[i + 1] == '\r' && s.p[i + 2] == '\n');
			i += 2;
			FUZZ_ASSERT(s.n - i - 1 >= n);
			i += n;
		} else if (s.p[i] == '(') {
			depth++;
		} else if (s.p[i] == ')') {
			FUZZ_ASSERT(--depth >= 0);
		}
	}
	FUZZ_ASSERT(depth == 0);
}

static void
check_headers(const struct mime_msg *m)
{
	struct mime_hdr_iter it;
	struct span name, value, field;
	struct buf b;
	int n = 0;

	buf_init(&b, 0, 1 << 24);
	mime_hdr_iter_init(&it, m->data + m->root->hdr_off, m->root->hdr_len);
	while (mime_hdr_next(&it, &name, &value, &field) && n++ < 50) {
		struct mime_addr *a;
		struct mime_params ps;
		size_t k = mime_addr_parse(value, &a);
		int64_t t;
		int tz;

		FUZZ_ASSERT(k <= MIME_MAX_ADDRS);
		mime_addr_free(&a, k);
		mime_params_parse(value, &ps);
		FUZZ_ASSERT(ps.n <= MIME_MAX_PARAMS);
		mime_params_free(&ps);
		buf_clear(&b);
		FUZZ_ASSERT(mime_decode_words(value, &b) == 0);
		if (mime_date_parse(value, &t, &tz) == 0)
			FUZZ_ASSERT(tz > -24 * 60 && tz < 24 * 60);
	}
	buf_deinit(&b);
}

/* sink - counts the response bytes; a message can be large. */
static int
sink(void *ctx, const void *p, size_t n)
{
	size_t *total = ctx;

	(void)p;
	*total += n;
	return 0;
}

static void
check_fetch(const char *data, size_t size)
{
	static const char items[] =
	    "(UID FLAGS BODY[] BODY.PEEK[1] BODY[1.MIME] BODY[2.HEADER.FIELDS (From To)] "
	    "BODY[HEADER.FIELDS.NOT (Subject)] BODY[TEXT]<1.5> BODY[1.2.TEXT] BINARY[1] "
	    "BINARY.SIZE[2] BINARY[1.1]<0.3> RFC822.HEADER ENVELOPE BODYSTRUCTURE BODY)";
	struct tok_tree t;
	struct imap_fetch_req *req;
	const char *err;
	struct imap_fetch_msg m = { .seq = 1, .uid = 1, .data = data, .len = size, .size = size };
	size_t count = 0;
	int rc;

	FUZZ_ASSERT(tok_parse(items, sizeof(items) - 1, &t) == 0);
	FUZZ_ASSERT(imap_fetch_parse(t.args, t.n, false, &req, &err) == 0);
	rc = imap_fetch_render(req, &m, false, sink, &count);
	FUZZ_ASSERT((rc == 0 && count > 0) || (rc == -2 && count == 0));
	imap_fetch_req_free(&req);
	tok_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	struct mime_msg *m = mime_parse(d, size);
	struct buf b;

	FUZZ_ASSERT(check_tree(m, m->root, 0) == m->nparts && m->nparts <= MIME_MAX_PARTS);
	FUZZ_ASSERT(mime_header_len(d, size) == m->root->hdr_len);
	check_headers(m);
	mime_free(&m);

	buf_init(&b, 0, 1 << 26);
	FUZZ_ASSERT(imap_fetch_envelope(d, size, &b) == 0);
	check_imap(&b);
	buf_clear(&b);
	FUZZ_ASSERT(imap_fetch_bodystructure(d, size, true, &b) == 0);
	check_imap(&b);
	buf_clear(&b);
	FUZZ_ASSERT(imap_fetch_bodystructure(d, size, false, &b) == 0);
	check_imap(&b);
	buf_deinit(&b);
	check_fetch(d, size);
	return 0;
}
