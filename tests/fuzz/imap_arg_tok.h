/*
 * imap_arg_tok.h -- a tiny stand-alone tokenizer that builds imap_arg trees
 * (src/imap/imap_arg.h) from text, for the FETCH and SEARCH unit tests and
 * the fuzz_imap_search target, so they do not depend on the engine's
 * parser. It follows the contract in imap_arg.h: atoms (a '[' keeps
 * everything to the matching ']'), quoted strings, literals {n}\r\n,
 * parenthesized lists, NIL.
 * Limits: TOK_MAX_DEPTH nesting, TOK_MAX_ITEMS items per list; anything
 * else malformed makes tok_parse() return -1.
 */
#ifndef HIKYAKU_TESTS_IMAP_ARG_TOK_H
#define HIKYAKU_TESTS_IMAP_ARG_TOK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap/imap_arg.h"

#define TOK_MAX_DEPTH 40
#define TOK_MAX_ITEMS 256

struct tok_tree {
	struct imap_arg *args; /* the top-level arguments */
	size_t n;
	void **allocs;
	size_t nallocs;
};

static inline void *
tok_alloc(struct tok_tree *t, size_t size)
{
	void *p = calloc(1, size + 1);

	if (p == NULL)
		abort();
	t->allocs = realloc(t->allocs, (t->nallocs + 1) * sizeof(void *));
	if (t->allocs == NULL)
		abort();
	t->allocs[t->nallocs++] = p;
	return p;
}

static inline void
tok_free(struct tok_tree *t)
{
	for (size_t i = 0; i < t->nallocs; i++)
		free(t->allocs[i]);
	free(t->allocs);
	memset(t, 0, sizeof(*t));
}

static int tok_items(struct tok_tree *t, const char *s, size_t len, size_t *i, unsigned depth,
    bool in_list, struct imap_arg **items_r, size_t *n_r);

/* tok_one - one item at s[*i] into *a. */
static inline int
tok_one(struct tok_tree *t, const char *s, size_t len, size_t *i, unsigned depth,
    struct imap_arg *a)
{
	size_t start = *i;
	char *str;

	if (s[*i] == '(') {
		struct imap_arg *items;
		size_t n;
		(*i)++;
		if (depth >= TOK_MAX_DEPTH || tok_items(t, s, len, i, depth + 1, true, &items, &n) < 0)
			return -1;
		*a = (struct imap_arg){ .type = IMAP_ARG_LIST, .list = items, .n = n };
		return 0;
	}
	if (s[*i] == '"') {
		str = tok_alloc(t, len);
		size_t k = 0;
		for ((*i)++; *i < len && s[*i] != '"'; (*i)++) {
			if (s[*i] == '\\' && *i + 1 < len)
				(*i)++;
			str[k++] = s[*i];
		}
		if (*i >= len)
			return -1;
		(*i)++;
		*a = (struct imap_arg){ .type = IMAP_ARG_STRING, .str = str, .len = k };
		return 0;
	}
	if (s[*i] == '{' || (s[*i] == '~' && *i + 1 < len && s[*i + 1] == '{')) {
		bool l8 = s[*i] == '~';
		size_t n = 0;
		*i += l8 ? 2 : 1;
		while (*i < len && s[*i] >= '0' && s[*i] <= '9' && n < 1000000)
			n = n * 10 + (size_t)(s[(*i)++] - '0');
		if (*i < len && s[*i] == '+')
			(*i)++;
		if (*i + 3 > len || s[*i] != '}' || s[*i + 1] != '\r' || s[*i + 2] != '\n' ||
		    len - (*i + 3) < n)
			return -1;
		*i += 3;
		str = tok_alloc(t, n);
		memcpy(str, s + *i, n);
		*i += n;
		*a = (struct imap_arg){ .type = IMAP_ARG_STRING, .str = str, .len = n, .literal = true,
			.literal8 = l8 };
		return 0;
	}
	while (*i < len && s[*i] != ' ' && s[*i] != '(' && s[*i] != ')' && s[*i] != '"') {
		if (s[*i] == '[') {
			while (*i < len && s[*i] != ']')
				(*i)++;
			if (*i == len)
				return -1;
		}
		(*i)++;
	}
	if (*i == start)
		return -1;
	str = tok_alloc(t, *i - start);
	memcpy(str, s + start, *i - start);
	if (*i - start == 3 && strncasecmp(str, "NIL", 3) == 0)
		*a = (struct imap_arg){ .type = IMAP_ARG_NIL };
	else
		*a = (struct imap_arg){ .type = IMAP_ARG_ATOM, .str = str, .len = *i - start };
	return 0;
}

/* tok_items - items separated by single spaces, up to ')' (in a list) or
   the end. */
static int
tok_items(struct tok_tree *t, const char *s, size_t len, size_t *i, unsigned depth, bool in_list,
    struct imap_arg **items_r, size_t *n_r)
{
	struct imap_arg *items = tok_alloc(t, TOK_MAX_ITEMS * sizeof(*items));
	size_t n = 0;

	while (*i < len && s[*i] != ')') {
		if (n > 0) {
			if (s[*i] != ' ')
				return -1;
			(*i)++;
		}
		if (*i == len || n == TOK_MAX_ITEMS || tok_one(t, s, len, i, depth, &items[n++]) < 0)
			return -1;
	}
	if (in_list) {
		if (*i == len)
			return -1;
		(*i)++;
	} else if (*i < len)
		return -1;
	*items_r = items;
	*n_r = n;
	return 0;
}

/* Parses s[0..len) into t. Returns 0, or -1 (t is then freed). */
static inline int
tok_parse(const char *s, size_t len, struct tok_tree *t)
{
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	if (tok_items(t, s, len, &i, 0, false, &t->args, &t->n) < 0) {
		tok_free(t);
		return -1;
	}
	return 0;
}

#endif
