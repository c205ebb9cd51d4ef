/*
 * imap_cmd_mailbox.c -- the mailbox commands of the authenticated state:
 * CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with the basic
 * LIST-EXTENDED selection and RETURN options, RFC 5258, and SPECIAL-USE,
 * RFC 6154), LSUB, STATUS; and the argument helpers the other command
 * files share (astrings, mailbox names, flags, sequence sets).
 *
 * Names: the store takes UTF-8 with '/' as the separator and refuses
 * anything that could leave the account (mailbox_name_valid: "..", ".",
 * empty components, control characters, '\\'). Names are checked here
 * first so that a hostile name never reaches the store.
 * IMAP4rev1 clients send and see names in modified UTF-7 (RFC 3501
 * 5.1.3, imap_mutf7.c); after ENABLE IMAP4rev2 or UTF8=ACCEPT, UTF-8.
 * Limits: patterns up to MAILBOX_MAX_NAME * 4 bytes; matching is a
 * bounded dynamic program (no backtracking blow-up on "*%*%*").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"
#include "imap/imap_mutf7.h"
#include "imap/imap_server_int.h"
#include "net/conn.h"

#define PATTERN_MAX (MAILBOX_MAX_NAME * 4)

const char *
imap_arg_astring(const struct imap_arg *a)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING)
		return NULL;
	if (memchr(a->str, '\0', a->len) != NULL)
		return NULL;
	return a->str;
}

/* name_to_utf8 - the client's spelling of a name as the store's UTF-8. */
static int
name_to_utf8(const struct imap_sess *s, const char *name, struct buf *out, const char **why)
{
	struct buf check;
	int rc;

	if (!s->utf8)
		return imap_mutf7_to_utf8(name, strlen(name), out, why);
	/* UTF-8 names must be valid UTF-8: encoding them is the check. */
	buf_init(&check, 0, MAILBOX_MAX_NAME * 8 + 1);
	rc = imap_utf8_to_mutf7(name, strlen(name), &check, why);
	buf_deinit(&check);
	if (rc == 0 && buf_append_str(out, name) < 0) {
		*why = "Mailbox name too long";
		rc = -1;
	}
	return rc;
}

char *
imap_arg_mailbox(struct imap_sess *s, const struct imap_arg *a)
{
	const char *name = imap_arg_astring(a), *why;
	struct buf b;
	char *out;
	size_t n;

	if (name == NULL && a->type == IMAP_ARG_NIL)
		name = "NIL"; /* an atom, as far as mailbox names go */
	if (name == NULL) {
		imap_tagged_error(s, "BAD", "Bad mailbox name");
		return NULL;
	}
	buf_init(&b, 0, MAILBOX_MAX_NAME * 4 + 1);
	if (name_to_utf8(s, name, &b, &why) < 0) {
		buf_deinit(&b);
		imap_tagged_error(s, "NO", "[CANNOT] %s", why);
		return NULL;
	}
	out = xstrndup((const char *)buf_peek(&b).p, buf_len(&b));
	buf_deinit(&b);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '/') /* CREATE "a/": a name for children */
		out[n - 1] = '\0';
	if (strcasecmp(out, "INBOX") == 0)
		strcpy(out, "INBOX");
	if (!mailbox_name_valid(out, &why)) {
		imap_tagged_error(s, "NO", "[CANNOT] Invalid mailbox name: %s", why);
		free(out);
		return NULL;
	}
	return out;
}

char *
imap_mailbox_out(const struct imap_sess *s, const char *name)
{
	const char *err;
	struct buf b;
	char *out;

	if (s->utf8)
		return xstrdup(name);
	buf_init(&b, 0, MAILBOX_MAX_NAME * 4 + 1);
	/* The store only holds valid UTF-8 names; keep the name if not. */
	if (imap_utf8_to_mutf7(name, strlen(name), &b, &err) < 0) {
		buf_deinit(&b);
		return xstrdup(name);
	}
	out = xstrndup((const char *)buf_peek(&b).p, buf_len(&b));
	buf_deinit(&b);
	return out;
}

int
imap_arg_flags(const struct imap_arg *a, unsigned *flags_r, const char **kw, size_t *nkw_r,
    size_t kwmax)
{
	static const struct {
		const char *name;
		unsigned bit;
	} sys[] = {
		{ "\\Seen", MAILBOX_F_SEEN },
		{ "\\Answered", MAILBOX_F_ANSWERED },
		{ "\\Flagged", MAILBOX_F_FLAGGED },
		{ "\\Deleted", MAILBOX_F_DELETED },
		{ "\\Draft", MAILBOX_F_DRAFT },
	};
	const struct imap_arg *v = a->type == IMAP_ARG_LIST ? a->list : a;
	size_t n = a->type == IMAP_ARG_LIST ? a->n : 1;

	*flags_r = 0;
	*nkw_r = 0;
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		if (v[i].type != IMAP_ARG_ATOM)
			return -1;
		for (size_t k = 0; k < nitems(sys) && !found; k++)
			if (strcasecmp(v[i].str, sys[k].name) == 0) {
				*flags_r |= sys[k].bit;
				found = true;
			}
		if (found || strcasecmp(v[i].str, "\\Recent") == 0)
			continue;
		/* Keywords are atoms without "\", "]", wildcards (RFC 9051 9). */
		if (strpbrk(v[i].str, "\\]%*") != NULL || v[i].len > MAILBOX_MAX_KEYWORD_LEN ||
		    *nkw_r >= kwmax)
			return -1;
		kw[(*nkw_r)++] = v[i].str;
	}
	return 0;
}

/* set_in_range - every explicit number of a message set exists. */
static bool
set_in_range(const struct imap_seqset *set, uint32_t count)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
		if ((lo != IMAP_SEQSET_STAR && lo > count) || (hi != IMAP_SEQSET_STAR && hi > count))
			return false;
	}
	return true;
}

int
imap_set_uids(struct imap_sess *s, const struct imap_arg *a, uint32_t **uids_r, size_t *n_r)
{
	struct imap_seqset set = { 0 };
	uint32_t count = mailbox_view_count(s->view), lo, hi, maxuid;
	const char *err;
	size_t n = 0;
	uint32_t *v;

	if (a->type != IMAP_ARG_ATOM || imap_seqset_parse(a->str, a->len, &set, &err) < 0) {
		imap_tagged_error(s, "BAD", "Invalid sequence set");
		return -1;
	}
	if (!s->uid && !set_in_range(&set, count)) {
		imap_seqset_free(&set);
		imap_tagged_error(s, "BAD", "Invalid message sequence number");
		return -1;
	}
	v = xcalloc(count ? count : 1, sizeof(*v));
	maxuid = count ? mailbox_view_msg(s->view, count)->uid : 0;
	if (!s->uid && imap_seqset_bounds(&set, count, &lo, &hi)) {
		for (uint32_t q = lo; q <= hi && q <= count && q > 0; q++)
			if (imap_seqset_contains(&set, q, count))
				v[n++] = mailbox_view_msg(s->view, q)->uid;
	} else if (s->uid) {
		for (uint32_t q = 1; q <= count; q++) {
			uint32_t uid = mailbox_view_msg(s->view, q)->uid;
			if (imap_seqset_contains(&set, uid, maxuid))
				v[n++] = uid;
		}
	}
	imap_seqset_free(&set);
	*uids_r = v;
	*n_r = n;
	return 0;
}

/* ---- CREATE, DELETE, RENAME, (UN)SUBSCRIBE ---- */

/* mbox_done - completion of a store write (mailbox_done_fn). */
static void
mbox_done(void *ctx, int status, const char *error)
{
	struct imap_sess *s = ctx;

	if (imap_sess_resume(s))
		return;
	if (status == 1)
		imap_tagged(s, "OK", "%s completed", s->op);
	else if (status == 0)
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
	else
		imap_tagged(s, "NO", "%s", error ? error : "Failed");
	free(s->arg);
	free(s->arg2);
	s->arg = s->arg2 = NULL;
	imap_after_async(s);
}

/* one_name - the single mailbox argument of a command, or NULL (replied). */
static char *
one_name(struct imap_sess *s, const struct imap_cmd *c, const char *syntax)
{
	if (c->nargs != 1) {
		imap_tagged_error(s, "BAD", "Syntax: %s", syntax);
		return NULL;
	}
	return imap_arg_mailbox(s, &c->args[0]);
}

void
imap_cmd_create(struct imap_sess *s, const struct imap_cmd *c)
{
	if ((s->arg = one_name(s, c, "CREATE mailbox")) == NULL)
		return;
	s->op = "CREATE";
	imap_sess_pause(s);
	mailbox_create(s->mbu, s->arg, mbox_done, s);
}

void
imap_cmd_delete(struct imap_sess *s, const struct imap_cmd *c)
{
	if ((s->arg = one_name(s, c, "DELETE mailbox")) == NULL)
		return;
	if (strcmp(s->arg, "INBOX") == 0) {
		free(s->arg);
		s->arg = NULL;
		imap_tagged(s, "NO", "[CANNOT] INBOX cannot be deleted");
		return;
	}
	s->op = "DELETE";
	imap_sess_pause(s);
	mailbox_delete(s->mbu, s->arg, mbox_done, s);
}

void
imap_cmd_rename(struct imap_sess *s, const struct imap_cmd *c)
{
	char *to;

	if (c->nargs != 2) {
		imap_tagged_error(s, "BAD", "Syntax: RENAME from to");
		return;
	}
	if ((s->arg = imap_arg_mailbox(s, &c->args[0])) == NULL)
		return;
	if ((to = imap_arg_mailbox(s, &c->args[1])) == NULL) {
		free(s->arg);
		s->arg = NULL;
		return;
	}
	s->op = "RENAME";
	s->arg2 = to; /* kept until the store is done with it */
	imap_sess_pause(s);
	mailbox_rename(s->mbu, s->arg, to, mbox_done, s);
}

static void
subscribe(struct imap_sess *s, const struct imap_cmd *c, bool on)
{
	if ((s->arg = one_name(s, c, on ? "SUBSCRIBE mailbox" : "UNSUBSCRIBE mailbox")) == NULL)
		return;
	s->op = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
	imap_sess_pause(s);
	mailbox_subscribe(s->mbu, s->arg, on, mbox_done, s);
}

void
imap_cmd_subscribe(struct imap_sess *s, const struct imap_cmd *c)
{
	subscribe(s, c, true);
}

void
imap_cmd_unsubscribe(struct imap_sess *s, const struct imap_cmd *c)
{
	subscribe(s, c, false);
}

/* ---- LIST, LSUB ---- */

/*
 * match - does name match pattern ("*" anything, "%" anything but the
 * separator)? Dynamic programming over one row per pattern byte: time
 * O(len(pattern) * len(name)), whatever the wildcards.
 */
static bool
match(const char *pat, const char *name)
{
	size_t n = strlen(name), m = strlen(pat);
	bool row[MAILBOX_MAX_NAME + 2], next[MAILBOX_MAX_NAME + 2];
	bool inbox = strcmp(name, "INBOX") == 0;

	if (n > MAILBOX_MAX_NAME)
		return false;
	memset(row, 0, sizeof(row));
	row[0] = true;
	for (size_t i = 0; i < m; i++) {
		char pc = pat[i];

		memset(next, 0, sizeof(next));
		for (size_t j = 0; j <= n; j++) {
			if (pc == '*' || pc == '%') {
				/* next[j]: row[j] (empty) or next[j-1] extended by name[j-1] */
				next[j] = row[j] ||
				    (j > 0 && next[j - 1] && (pc == '*' || name[j - 1] != '/'));
			} else if (j > 0 && row[j - 1]) {
				next[j] = inbox ? (pc & ~0x20) == (name[j - 1] & ~0x20)
						: pc == name[j - 1];
			}
		}
		memcpy(row, next, sizeof(row));
	}
	return row[n];
}

/* list_pattern_utf8 - a modified UTF-7 pattern in place to UTF-8. */
static int
list_pattern_utf8(char *pat, size_t size)
{
	const char *err;
	struct buf b;
	int rc;

	buf_init(&b, 0, size - 1);
	rc = imap_mutf7_to_utf8(pat, strlen(pat), &b, &err);
	if (rc == 0 && buf_len(&b) > 0) {
		memcpy(pat, buf_peek(&b).p, buf_len(&b));
		pat[buf_len(&b)] = '\0';
	} else if (rc == 0) {
		pat[0] = '\0';
	}
	buf_deinit(&b);
	return rc;
}

struct list_opts {
	bool lsub;
	bool sel_subscribed, sel_special;
	bool ret_subscribed, ret_special;
};

static void
list_attrs(struct buf *b, unsigned attrs, const struct list_opts *o)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ MAILBOX_A_NOSELECT, "\\Noselect" },
		{ MAILBOX_A_HASCHILDREN, "\\HasChildren" },
		{ MAILBOX_A_HASNOCHILDREN, "\\HasNoChildren" },
		{ MAILBOX_A_SUBSCRIBED, "\\Subscribed" },
		{ MAILBOX_A_SENT, "\\Sent" },
		{ MAILBOX_A_DRAFTS, "\\Drafts" },
		{ MAILBOX_A_TRASH, "\\Trash" },
		{ MAILBOX_A_JUNK, "\\Junk" },
		{ MAILBOX_A_ARCHIVE, "\\Archive" },
	};
	bool first = true;

	if (!(o->ret_subscribed || o->sel_subscribed) || o->lsub)
		attrs &= ~(unsigned)MAILBOX_A_SUBSCRIBED;
	buf_append_str(b, "(");
	for (size_t i = 0; i < nitems(names); i++)
		if (attrs & names[i].bit) {
			buf_printf(b, "%s%s", first ? "" : " ", names[i].name);
			first = false;
		}
	buf_append_str(b, ")");
}

/* list_opt_words - the atoms of a selection or RETURN list. */
static int
list_opt_words(const struct imap_arg *a, bool *subscribed, bool *special)
{
	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		if (a->list[i].type != IMAP_ARG_ATOM)
			return -1;
		if (strcasecmp(a->list[i].str, "SUBSCRIBED") == 0)
			*subscribed = true;
		else if (strcasecmp(a->list[i].str, "SPECIAL-USE") == 0)
			*special = true;
		/* RECURSIVEMATCH, REMOTE, CHILDREN: accepted; children are
		   always reported. */
	}
	return 0;
}

static void
list_emit(struct imap_sess *s, const struct list_opts *o, const char *pat)
{
	const struct mailbox_info *v;
	size_t n = mailbox_list(s->mbu, &v);
	struct buf b;

	buf_init(&b, 0, 64 * 1024);
	for (size_t i = 0; i < n && s->conn != NULL; i++) {
		unsigned special = MAILBOX_A_SENT | MAILBOX_A_DRAFTS | MAILBOX_A_TRASH |
		    MAILBOX_A_JUNK | MAILBOX_A_ARCHIVE;
		char *out;

		if (!match(pat, v[i].name))
			continue;
		if ((o->sel_subscribed || o->lsub) && !(v[i].attrs & MAILBOX_A_SUBSCRIBED))
			continue;
		if (o->sel_special && !(v[i].attrs & special))
			continue;
		buf_clear(&b);
		buf_printf(&b, "* %s ", o->lsub ? "LSUB" : "LIST");
		list_attrs(&b, v[i].attrs, o);
		buf_append_str(&b, " \"/\" ");
		out = imap_mailbox_out(s, v[i].name);
		imap_buf_string(&b, out, strlen(out));
		free(out);
		buf_append_str(&b, "\r\n");
		imap_write(s, buf_peek(&b).p, buf_len(&b));
	}
	buf_deinit(&b);
}

/* list_run - LIST/LSUB with reference and pattern(s) at args[i..]. */
static void
list_run(struct imap_sess *s, const struct imap_cmd *c, struct list_opts *o, size_t i)
{
	const char *ref, *pats[16];
	size_t npats = 0;
	const struct imap_arg *pa;

	if (i + 2 > c->nargs || (ref = imap_arg_astring(&c->args[i])) == NULL)
		goto bad;
	pa = &c->args[i + 1];
	if (pa->type == IMAP_ARG_LIST && !o->lsub) {
		for (size_t k = 0; k < pa->n && npats < nitems(pats); k++)
			if ((pats[npats++] = imap_arg_astring(&pa->list[k])) == NULL)
				goto bad;
	} else if ((pats[npats++] = imap_arg_astring(pa)) == NULL) {
		goto bad;
	}
	i += 2;
	if (i < c->nargs && !o->lsub) {
		if (c->args[i].type != IMAP_ARG_ATOM || strcasecmp(c->args[i].str, "RETURN") != 0 ||
		    i + 2 != c->nargs ||
		    list_opt_words(&c->args[i + 1], &o->ret_subscribed, &o->ret_special) < 0)
			goto bad;
	} else if (i != c->nargs) {
		goto bad;
	}
	for (size_t k = 0; k < npats; k++) {
		char full[PATTERN_MAX + 1];

		size_t nref = strlen(ref), npat = strlen(pats[k]);

		if (nref + npat > PATTERN_MAX)
			goto bad;
		memcpy(full, ref, nref);
		memcpy(full + nref, pats[k], npat + 1);
		if (!s->utf8 && list_pattern_utf8(full, sizeof(full)) < 0)
			goto bad;
		if (full[0] == '\0' && !o->lsub) /* RFC 9051 6.3.9: the delimiter */
			imap_printf(s, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		else
			list_emit(s, o, full);
	}
	imap_tagged(s, "OK", "%s completed", o->lsub ? "LSUB" : "LIST");
	return;
bad:
	imap_tagged_error(s, "BAD", "Syntax: %s", o->lsub ? "LSUB reference pattern"
	    : "LIST [(options)] reference pattern [RETURN (options)]");
}

void
imap_cmd_list(struct imap_sess *s, const struct imap_cmd *c)
{
	struct list_opts o = { 0 };
	size_t i = 0;

	if (c->nargs > 0 && c->args[0].type == IMAP_ARG_LIST) {
		if (list_opt_words(&c->args[0], &o.sel_subscribed, &o.sel_special) < 0) {
			imap_tagged_error(s, "BAD", "Bad LIST selection options");
			return;
		}
		i = 1;
	}
	list_run(s, c, &o, i);
}

void
imap_cmd_lsub(struct imap_sess *s, const struct imap_cmd *c)
{
	struct list_opts o = { .lsub = true };

	list_run(s, c, &o, 0);
}

/* ---- STATUS ---- */

void
imap_cmd_status(struct imap_sess *s, const struct imap_cmd *c)
{
	struct mailbox_status st;
	const char *error = NULL;
	char *name, *out;
	struct buf b;
	int rc;

	if (c->nargs != 2 || c->args[1].type != IMAP_ARG_LIST || c->args[1].n == 0) {
		imap_tagged_error(s, "BAD", "Syntax: STATUS mailbox (items)");
		return;
	}
	if ((name = imap_arg_mailbox(s, &c->args[0])) == NULL)
		return;
	rc = mailbox_status(s->mbu, name, &st, &error);
	if (rc != 1) {
		free(name);
		if (rc == 0)
			imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		else
			imap_tagged(s, "NO", "%s", error ? error : "STATUS failed");
		return;
	}
	buf_init(&b, 0, 64 * 1024);
	buf_append_str(&b, "* STATUS ");
	out = imap_mailbox_out(s, name);
	imap_buf_string(&b, out, strlen(out));
	buf_append_str(&b, " (");
	for (size_t i = 0; i < c->args[1].n; i++) {
		const struct imap_arg *a = &c->args[1].list[i];
		const char *k = a->type == IMAP_ARG_ATOM ? a->str : "";
		const char *sp = i ? " " : "";

		if (strcasecmp(k, "MESSAGES") == 0)
			buf_printf(&b, "%sMESSAGES %u", sp, st.messages);
		else if (strcasecmp(k, "UIDNEXT") == 0)
			buf_printf(&b, "%sUIDNEXT %u", sp, st.uidnext);
		else if (strcasecmp(k, "UIDVALIDITY") == 0)
			buf_printf(&b, "%sUIDVALIDITY %u", sp, st.uidvalidity);
		else if (strcasecmp(k, "UNSEEN") == 0)
			buf_printf(&b, "%sUNSEEN %u", sp, st.unseen);
		else if (strcasecmp(k, "RECENT") == 0)
			buf_printf(&b, "%sRECENT 0", sp);
		else if (strcasecmp(k, "SIZE") == 0)
			buf_printf(&b, "%sSIZE %llu", sp, (unsigned long long)st.size);
		else if (strcasecmp(k, "DELETED") == 0)
			buf_printf(&b, "%sDELETED %u", sp, st.deleted);
		else if (strcasecmp(k, "HIGHESTMODSEQ") == 0)
			buf_printf(&b, "%sHIGHESTMODSEQ %llu", sp, (unsigned long long)st.highestmodseq);
		else {
			free(out);
			free(name);
			buf_deinit(&b);
			imap_tagged_error(s, "BAD", "Unknown STATUS item");
			return;
		}
	}
	buf_append_str(&b, ")\r\n");
	imap_write(s, buf_peek(&b).p, buf_len(&b));
	buf_deinit(&b);
	free(out);
	free(name);
	imap_tagged(s, "OK", "STATUS completed");
}
