/*
 * imap_search_int.h -- the parsed SEARCH program, shared by
 * imap_search.c (parsing, responses) and imap_search_match.c (evaluation);
 * not for the engine.
 */
#ifndef HIKYAKU_IMAP_SEARCH_INT_H
#define HIKYAKU_IMAP_SEARCH_INT_H

#include "imap/imap_search.h"
#include "imap/imap_seqset.h"

enum skey_type {
	SK_ALL,
	SK_AND,	      /* kids[0..nkids) all match (the top level, parentheses) */
	SK_OR,	      /* kids[0] or kids[1] */
	SK_NOT,	      /* not kids[0] */
	SK_SEQ,	      /* message number in set */
	SK_UID,	      /* UID in set */
	SK_FLAG,      /* all of flags set, none of unflags */
	SK_UNFLAG,    /* none of flag bits set */
	SK_KEYWORD,   /* keyword str set */
	SK_UNKEYWORD, /* keyword str not set */
	SK_LARGER,    /* size > num */
	SK_SMALLER,   /* size < num */
	SK_BEFORE,    /* INTERNALDATE day < day */
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE, /* Date: day < day */
	SK_SENTON,
	SK_SENTSINCE,
	SK_HEADER, /* field's decoded value holds str (folded) */
	SK_BODY,   /* a text part holds str */
	SK_TEXT,   /* the header or a text part holds str */
};

struct skey {
	enum skey_type type;
	unsigned flags, unflags;
	uint64_t num;
	int64_t day;	/* days since 1970-01-01 */
	char *field;	/* SK_HEADER: the field name */
	uint8_t *str;	/* folded search string (SK_HEADER, _BODY, _TEXT) or keyword */
	size_t len;
	struct imap_seqset set;
	struct skey **kids;
	size_t nkids;
};

struct imap_search {
	struct skey *root; /* an SK_AND of the top-level keys */
	unsigned ret;	   /* IMAP_SEARCH_RET_* */
	bool esearch;	   /* RETURN was given */
	bool needs_data;
	bool needs_body; /* BODY or TEXT: the header section is not enough */
};

/* Appends the case-folded (full Unicode folding, NFKD) form of UTF-8 text
   to out; invalid bytes become '?'. Returns 0 or -1 (out full). */
int imap_search_fold(struct span in, struct buf *out);

#endif
