/*
 * cmd_sendmail.c -- `hikyaku sendmail` (also run as /usr/sbin/sendmail):
 * sendmail(1) as cron, mail(1) and scripts call it.
 *
 *   sendmail [-t] [-i|-oi] [-f SENDER] [-F NAME] [-N NOTIFY] [-R RET]
 *            [-V ENVID] [RCPT...] < message
 * -t takes recipients from To:, Cc: and Bcc: (added to those given as
 * arguments, as Postfix does); Bcc: is always removed. -i/-oi: a line
 * holding a single "." does not end the input. Accepted and ignored for
 * compatibility: -bm, -oX..., -OX, -v, -n, -U, -B TYPE, -L TAG, -h N,
 * -p PROTO, -A X, -C FILE, -d X, -X FILE. Other modes (-bs, -bp, -bi, -q)
 * are refused. A recipient without '@' is user@myhostname.
 * The message: bare LF (or CR LF) lines become CR LF; an mbox "From " first
 * line is dropped; Received:, and Date:, Message-ID: and From: when
 * missing, are added. It is queued with queue_tx_* (no loop: durable
 * before we exit 0); a running daemon is told through queue/ctl/pickup.
 * Exit status as sendmail's (sysexits.h): 0 queued, 64 usage or bad
 * address given as argument, 65 bad address in a header or message too
 * large, 75 could not queue (try again), 77 not allowed to use the spool.
 * Security: runs as the invoking user; as root it drops to run_user after
 * reading who the invoker is and writes the spool, as does run_user. Any
 * other user writes a maildrop file (queue/queue_drop.h) that the daemon
 * picks up; the daemon, not this process, vouches for the uid in its
 * Received line. -f is not checked against the invoker (as in Postfix).
 * Limits: message_size_limit; QUEUE_MAX_RCPTS recipients.
 */
#include <getopt.h>
#include <sodium.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/cmd.h"
#include "cmd/priv.h"
#include "msg/addr.h"
#include "msg/dsn.h"
#include "queue/queue.h"
#include "queue/queue_drop.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_TEMPFAIL_ 75
#define EX_NOPERM_ 77

struct sm {
	const struct conf *conf;
	bool extract;     /* -t */
	bool ignore_dots; /* -i, -oi */
	const char *sender;
	const char *fullname;
	unsigned notify;
	enum queue_ret ret;
	const char *envid;
	char **rcpts;
	size_t nrcpts;
	bool utf8;
	char user[64];
	uid_t uid;
};

/* One header field of the input: its lines, CRLF included. */
struct field {
	size_t off, len;
};

/* ---- addresses ---- */

/* Validates addr (a bare "user" gets @myhostname), adds it. Returns 0 or
   -1 after printing why. */
static int
add_rcpt(struct sm *sm, const char *addr, size_t n)
{
	char buf[ADDR_MAX_PATH + 8];
	const char *error = NULL;
	struct mailbox mb;
	bool bare = memchr(addr, '@', n) == NULL;
	int len = bare ? snprintf(buf, sizeof(buf), "%.*s@%s", (int)n, addr, sm->conf->myhostname)
	               : snprintf(buf, sizeof(buf), "%.*s", (int)n, addr);

	if (len < 0 || (size_t)len >= sizeof(buf) - 1) {
		fprintf(stderr, "sendmail: <%.*s>: address too long\n", (int)MIN(n, 300), addr);
		return -1;
	}
	if (addr_parse_mailbox((struct span){(const uint8_t *)buf, (size_t)len}, true, &mb,
	                       &error) < 0) {
		fprintf(stderr, "sendmail: <%.*s>: bad address: %s\n", (int)MIN(n, 300), addr,
		        error);
		return -1;
	}
	if (sm->nrcpts == QUEUE_MAX_RCPTS) {
		fprintf(stderr, "sendmail: too many recipients (max %d)\n", QUEUE_MAX_RCPTS);
		return -1;
	}
	for (int i = 0; i < len; i++)
		sm->utf8 |= (unsigned char)buf[i] >= 0x80;
	sm->rcpts = xrealloc(sm->rcpts, (sm->nrcpts + 1) * sizeof(*sm->rcpts));
	sm->rcpts[sm->nrcpts++] = xstrdup(buf);
	return 0;
}

/* Trims spaces and tabs. */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t'))
		(*p)++, (*n)--;
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Ends one element of an address list: the <angle> address if there was
   one, else the bare text. Returns 0 or -1. */
static int
list_element(struct sm *sm, const char *bare, size_t nbare, const char *angle, size_t nangle)
{
	if (angle != NULL) {
		/* An obsolete route "@a,@b:" before the mailbox is dropped. */
		const char *colon =
		        nangle > 0 && angle[0] == '@' ? memchr(angle, ':', nangle) : NULL;
		if (colon != NULL) {
			nangle -= (size_t)(colon + 1 - angle);
			angle = colon + 1;
		}
		trim(&angle, &nangle);
		return nangle == 0 ? 0 : add_rcpt(sm, angle, nangle);
	}
	trim(&bare, &nbare);
	return nbare == 0 ? 0 : add_rcpt(sm, bare, nbare);
}

/*
 * Recipients from an RFC 5322 address-list (3.4): mailboxes, "Name <a@b>",
 * groups "name: a@b, c@d;" and comments. A simple scanner, not a full
 * grammar: what it cannot read is an error, reported, never guessed at.
 */
static int
parse_addr_list(struct sm *sm, const char *v, size_t n)
{
	char bare[1024];
	size_t nb = 0, depth = 0;
	const char *angle = NULL, *angle_end = NULL;
	bool quoted = false;

	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? v[i] : ',';

		if (quoted) {
			if (c == '\\' && i + 1 < n && nb + 2 < sizeof(bare)) {
				bare[nb++] = c;
				c = v[++i];
			} else if (c == '"') {
				quoted = false;
			}
		} else if (depth > 0) {
			depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			continue;
		} else if (c == '(') {
			depth = 1;
			continue;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '<' && angle == NULL) {
			angle = v + i + 1;
			angle_end = memchr(angle, '>', n - i - 1);
			if (angle_end == NULL)
				return -1;
			i = (size_t)(angle_end - v);
			continue;
		} else if (c == ':') {
			nb = 0; /* a group's name */
			continue;
		} else if (c == ',' || c == ';') {
			if (list_element(sm, bare, nb, angle,
			                 angle ? (size_t)(angle_end - angle) : 0) < 0)
				return -1;
			nb = 0;
			angle = NULL;
			continue;
		}
		if (nb + 1 >= sizeof(bare))
			return -1;
		bare[nb++] = c;
	}
	return quoted || depth > 0 ? -1 : 0;
}

/* ---- the message ---- */

/* Reads stdin, CR LF line endings, up to the lone dot unless -i. Returns
   0, or -1 when larger than max. */
static int
read_message(const struct sm *sm, struct buf *out, uint64_t max)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool first = true;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t len = (size_t)n;

		if (line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (!sm->ignore_dots && len == 1 && line[0] == '.')
			break;
		/* An mbox separator is not part of the message. */
		if (first && len >= 5 && memcmp(line, "From ", 5) == 0) {
			first = false;
			continue;
		}
		first = false;
		if (buf_len(out) + len + 2 > max || buf_append(out, line, len) < 0 ||
		    buf_append(out, "\r\n", 2) < 0) {
			free(line);
			return -1;
		}
	}
	free(line);
	return 0;
}

/* Splits the header section into fields. Returns the offset where the
   body starts (after the empty line, when *blank_r). */
static size_t
split_fields(struct span m, struct field **f_r, size_t *nf_r, bool *blank_r)
{
	size_t off = 0, nf = 0;
	struct field *f = NULL;

	*blank_r = false;
	while (off < m.n) {
		const uint8_t *lf = memchr(m.p + off, '\n', m.n - off);
		size_t end = (size_t)(lf - m.p) + 1, i;

		if (end - off == 2) { /* the empty line */
			*blank_r = true;
			off = end;
			break;
		}
		if ((m.p[off] == ' ' || m.p[off] == '\t') && nf > 0) {
			f[nf - 1].len = end - f[nf - 1].off;
			off = end;
			continue;
		}
		for (i = off; i < end && m.p[i] > 0x20 && m.p[i] < 0x7f && m.p[i] != ':'; i++)
			;
		if (i == off || i == end || m.p[i] != ':')
			break; /* not a header line: the body starts here */
		f = xrealloc(f, (nf + 1) * sizeof(*f));
		f[nf++] = (struct field){off, end - off};
		off = end;
	}
	*f_r = f;
	*nf_r = nf;
	return off;
}

static bool
field_is(struct span m, const struct field *f, const char *name)
{
	size_t n = strlen(name);

	return f->len > n && m.p[f->off + n] == ':' &&
	       strncasecmp((const char *)m.p + f->off, name, n) == 0;
}

/* -t: recipients from To, Cc, Bcc. Returns 0 or -1. */
static int
extract_rcpts(struct sm *sm, struct span m, const struct field *f, size_t nf)
{
	static const char *const names[] = {"To", "Cc", "Bcc"};

	for (size_t i = 0; i < nf; i++)
		for (size_t k = 0; k < nitems(names); k++) {
			size_t skip = strlen(names[k]) + 1;
			char *v;
			int rc;

			if (!field_is(m, &f[i], names[k]))
				continue;
			/* Unfold: CR and LF become spaces. */
			v = xstrndup((const char *)m.p + f[i].off + skip, f[i].len - skip);
			for (char *c = v; *c != '\0'; c++)
				if (*c == '\r' || *c == '\n')
					*c = ' ';
			rc = parse_addr_list(sm, v, strlen(v));
			if (rc < 0)
				fprintf(stderr, "sendmail: cannot read the %s: header: %.200s\n",
				        names[k], v);
			free(v);
			if (rc < 0)
				return -1;
		}
	return 0;
}

/* Is name present among the fields? */
static bool
has_field(struct span m, const struct field *f, size_t nf, const char *name)
{
	for (size_t i = 0; i < nf; i++)
		if (field_is(m, &f[i], name))
			return true;
	return false;
}

/* A display name as a quoted-string when it is not plain atoms. */
static void
put_from(struct buf *out, const struct sm *sm)
{
	const char *addr = sm->sender[0] ? sm->sender : NULL;
	char mailer[300];

	if (addr == NULL) {
		snprintf(mailer, sizeof(mailer), "MAILER-DAEMON@%s", sm->conf->myhostname);
		addr = mailer;
	}
	if (sm->fullname == NULL || sm->fullname[0] == '\0') {
		buf_printf(out, "From: <%s>\r\n", addr);
		return;
	}
	buf_append_str(out, "From: \"");
	for (const char *c = sm->fullname; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			buf_append(out, "\\", 1);
		if ((unsigned char)*c >= 0x20 && *c != 0x7f)
			buf_append(out, c, 1);
	}
	buf_printf(out, "\" <%s>\r\n", addr);
}

/* Where write_message() puts the bytes: the queue, or a maildrop buffer. */
typedef int put_fn(void *ctx, const void *p, size_t n);

static int
put_queue(void *ctx, const void *p, size_t n)
{
	return queue_tx_write(ctx, p, n);
}

static int
put_buf(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

/* Trace and missing headers, then the message without Bcc. `id` names the
   message in Received and Message-ID; a maildrop message (trusted == false)
   gets its Received from the daemon's pickup, which knows the sender's uid
   from the file's owner rather than from what this process claims. */
static int
write_message(put_fn *put, void *ctx, const char *id, bool trusted, const struct sm *sm,
              struct span m)
{
	struct field *f = NULL;
	bool blank;
	size_t nf = 0, body = split_fields(m, &f, &nf, &blank), prev = 0;
	char date[40];
	struct buf h;
	int rc;

	dsn_format_date((int64_t)time(NULL), date, sizeof(date));
	buf_init(&h, 1024, 64 * 1024);
	if (trusted)
		buf_printf(&h, "Received: by %s (hikyaku sendmail, from userid %lu)\r\n\tid %s; %s\r\n",
		           sm->conf->myhostname, (unsigned long)sm->uid, id, date);
	if (!has_field(m, f, nf, "From"))
		put_from(&h, sm);
	if (!has_field(m, f, nf, "Date"))
		buf_printf(&h, "Date: %s\r\n", date);
	if (!has_field(m, f, nf, "Message-ID"))
		buf_printf(&h, "Message-ID: <%s@%s>\r\n", id, sm->conf->myhostname);
	rc = put(ctx, buf_peek(&h).p, buf_peek(&h).n);
	buf_deinit(&h);
	/* Everything but the Bcc fields, as it came. */
	for (size_t i = 0; i < nf && rc == 0; i++) {
		if (!field_is(m, &f[i], "Bcc"))
			continue;
		rc = put(ctx, m.p + prev, f[i].off - prev);
		prev = f[i].off + f[i].len;
	}
	if (rc == 0)
		rc = put(ctx, m.p + prev, body - prev);
	/* No empty line after the header section: one goes in. */
	if (rc == 0 && !blank)
		rc = put(ctx, "\r\n", 2);
	if (rc == 0)
		rc = put(ctx, m.p + body, m.n - body);
	free(f);
	return rc;
}

/* ---- options ---- */

static int
parse_notify(const char *v, unsigned *out)
{
	char *copy = xstrdup(v), *save = NULL;

	*out = 0;
	for (char *w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(w, "never") == 0)
			*out |= QUEUE_NOTIFY_NEVER;
		else if (strcasecmp(w, "success") == 0)
			*out |= QUEUE_NOTIFY_SUCCESS;
		else if (strcasecmp(w, "failure") == 0)
			*out |= QUEUE_NOTIFY_FAILURE;
		else if (strcasecmp(w, "delay") == 0)
			*out |= QUEUE_NOTIFY_DELAY;
		else
			*out = 0xff;
	}
	free(copy);
	return *out == 0 || *out > 15 || ((*out & QUEUE_NOTIFY_NEVER) && *out != QUEUE_NOTIFY_NEVER)
	               ? -1
	               : 0;
}

/* One option. Returns 0, or an exit status. */
static int
take_option(struct sm *sm, int c, const char *arg)
{
	switch (c) {
	case 't':
		sm->extract = true;
		return 0;
	case 'i':
		sm->ignore_dots = true;
		return 0;
	case 'o': /* -oi; the other -oX are sendmail.cf options: ignored */
		if (strcmp(arg, "i") == 0)
			sm->ignore_dots = true;
		return 0;
	case 'f':
	case 'r':
		sm->sender = arg;
		return 0;
	case 'F':
		sm->fullname = arg;
		return 0;
	case 'N':
		if (parse_notify(arg, &sm->notify) == 0)
			return 0;
		fprintf(stderr, "sendmail: -N %s: never, or success,failure,delay\n", arg);
		return EX_USAGE_;
	case 'R':
		if (strcasecmp(arg, "hdrs") == 0 || strcasecmp(arg, "full") == 0) {
			sm->ret = (arg[0] | 0x20) == 'h' ? QUEUE_RET_HDRS : QUEUE_RET_FULL;
			return 0;
		}
		fprintf(stderr, "sendmail: -R %s: hdrs or full\n", arg);
		return EX_USAGE_;
	case 'V':
		sm->envid = arg;
		return 0;
	case 'b':
		if (strcmp(arg, "m") == 0)
			return 0;
		fprintf(stderr, "sendmail: -b%s is not supported (use `hikyaku queue`)\n", arg);
		return EX_USAGE_;
	case 'q':
		fprintf(stderr, "sendmail: -q is not supported (use `hikyaku queue flush`)\n");
		return EX_USAGE_;
	case 'A':
	case 'B':
	case 'C':
	case 'd':
	case 'h':
	case 'L':
	case 'n':
	case 'O':
	case 'p':
	case 'U':
	case 'v':
	case 'X':
		return 0; /* compatibility: accepted, no effect */
	default:
		return EX_USAGE_;
	}
}

static int
parse_args(struct sm *sm, int argc, char **argv)
{
	int c, rc;

	optind = 1;
	opterr = 1;
	while ((c = getopt(argc, argv, "+A:B:b:C:d:F:f:h:iL:N:nO:o:p:q:R:r:tUV:vX:")) != -1) {
		if (c == '?')
			return EX_USAGE_;
		if ((rc = take_option(sm, c, optarg)) != 0)
			return rc;
	}
	for (int i = optind; i < argc; i++)
		if (parse_addr_list(sm, argv[i], strlen(argv[i])) < 0)
			return EX_USAGE_;
	return 0;
}

/* ---- privileges ---- */

/* Root drops to run_user; the owner of data_dir writes the spool itself.
   Returns 0, SM_MAILDROP for everybody else, or an exit status. */
#define SM_MAILDROP (-1)

static int
take_spool_rights(const struct conf *conf)
{
	const char *error = NULL;
	struct stat st;

	if (geteuid() == 0 || getuid() == 0) {
		if (priv_prepare_data_dir(conf, &error) < 0 ||
		    priv_drop(conf->run_user, &error) < 0) {
			fprintf(stderr, "sendmail: %s\n", error);
			return EX_TEMPFAIL_;
		}
		return 0;
	}
	if (stat(conf->data_dir, &st) == 0 && st.st_uid == geteuid())
		return 0;
	return SM_MAILDROP;
}

static void
who_am_i(struct sm *sm)
{
	struct passwd *pw = getpwuid(getuid());

	sm->uid = getuid();
	/* No passwd entry: a name that says so rather than somebody else's. */
	if (pw != NULL)
		snprintf(sm->user, sizeof(sm->user), "%s", pw->pw_name);
	else
		snprintf(sm->user, sizeof(sm->user), "uid%lu", (unsigned long)sm->uid);
}

/* ---- queueing ---- */

static void
on_queued(void *ctx, int status, const char *id_or_error)
{
	int *rc = ctx;

	*rc = status == 1 ? EX_OK_ : EX_TEMPFAIL_;
	if (status != 1)
		fprintf(stderr, "sendmail: cannot queue the message: %s\n", id_or_error);
}

static int
queue_message(struct sm *sm, struct span m)
{
	const char *error = NULL;
	struct queue_tx *tx;
	struct queue *q = queue_open(sm->conf->data_dir, NULL, &error);
	unsigned flags = sm->utf8 ? QUEUE_F_SMTPUTF8 : 0;
	int rc = EX_TEMPFAIL_;

	if (q == NULL || (tx = queue_tx_begin(q, sm->sender, &error)) == NULL) {
		fprintf(stderr, "sendmail: cannot queue the message: %s\n", error);
		queue_close(&q);
		return EX_TEMPFAIL_;
	}
	for (size_t i = 0; i < m.n; i++)
		if (m.p[i] >= 0x80) {
			flags |= QUEUE_F_8BITMIME;
			break;
		}
	queue_tx_set_options(tx, flags, sm->envid, sm->ret);
	for (size_t i = 0; i < sm->nrcpts; i++)
		queue_tx_add_rcpt(tx, sm->rcpts[i], NULL, sm->notify);
	if (write_message(put_queue, tx, queue_tx_id(tx), true, sm, m) < 0) {
		queue_tx_abort(&tx);
		fprintf(stderr, "sendmail: cannot write the message to the queue\n");
	} else {
		queue_tx_commit(tx, on_queued, &rc);
	}
	/* Tell a running daemon; without one, its next start finds the mail. */
	if (rc == EX_OK_ && queue_request(q, "pickup", NULL, 0, &error) < 0)
		fprintf(stderr, "sendmail: warning: %s\n", error);
	queue_close(&q);
	return rc;
}

/* drop_message - an ordinary user's mail goes to the maildrop, which the
   daemon's pickup moves into the queue. */
static int
drop_message(struct sm *sm, struct span m)
{
	struct queue_env env = {.sender = (char *)sm->sender, .envid = (char *)sm->envid,
	                        .ret = sm->ret, .nrcpts = sm->nrcpts};
	unsigned char rnd[12];
	char id[32];
	const char *error = NULL;
	struct buf out;
	int rc = EX_TEMPFAIL_;

	/* Placeholders: the pickup gives the message its queue id and time. */
	memset(env.id, '0', QUEUE_ID_LEN);
	env.id[14] = env.id[21] = '.';
	env.flags = sm->utf8 ? QUEUE_F_SMTPUTF8 : 0;
	for (size_t i = 0; i < m.n; i++)
		if (m.p[i] >= 0x80) {
			env.flags |= QUEUE_F_8BITMIME;
			break;
		}
	env.rcpts = xcalloc(sm->nrcpts, sizeof(*env.rcpts));
	for (size_t i = 0; i < sm->nrcpts; i++) {
		env.rcpts[i].addr = sm->rcpts[i];
		env.rcpts[i].notify = sm->notify;
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));
	buf_init(&out, 64 * 1024, sm->conf->message_size_limit + 256 * 1024);
	if (write_message(put_buf, &out, id, false, sm, m) < 0)
		fprintf(stderr, "sendmail: message too large\n");
	else if (queue_drop_put(sm->conf->data_dir, &env, buf_peek(&out).p, buf_len(&out),
	                        &error) < 0)
		fprintf(stderr, "sendmail: cannot queue the message: %s\n", error);
	else
		rc = EX_OK_;
	buf_deinit(&out);
	free(env.rcpts);
	return rc;
}

/* Sender: -f, else the invoking user at myhostname. Returns 0 or an exit status. */
static int
check_sender(struct sm *sm, char *buf, size_t size)
{
	const char *error = NULL;
	struct mailbox mb;

	if (sm->sender == NULL)
		sm->sender = sm->user;
	if (strcmp(sm->sender, "<>") == 0 || sm->sender[0] == '\0') {
		sm->sender = "";
		return 0;
	}
	if (strchr(sm->sender, '@') == NULL) {
		/* -f user: a local name, like the default. */
		if (snprintf(buf, size, "%s@%s", sm->sender, sm->conf->myhostname) >= (int)size) {
			fprintf(stderr, "sendmail: sender too long\n");
			return EX_USAGE_;
		}
		sm->sender = buf;
	}
	if (addr_parse_mailbox(span_str(sm->sender), true, &mb, &error) < 0) {
		fprintf(stderr, "sendmail: sender <%s>: bad address: %s\n", sm->sender, error);
		return EX_USAGE_;
	}
	return 0;
}

static int
sendmail_run(struct sm *sm, int argc, char **argv)
{
	char sender[ADDR_MAX_PATH + 80];
	struct buf msg;
	int rc;
	struct field *f = NULL;
	size_t nf = 0;

	who_am_i(sm);
	if ((rc = parse_args(sm, argc, argv)) != 0 ||
	    (rc = check_sender(sm, sender, sizeof(sender))) != 0)
		return rc;
	bool drop;

	if ((rc = take_spool_rights(sm->conf)) > 0)
		return rc;
	drop = rc == SM_MAILDROP;
	rc = 0;
	/* The queue's log lines go to the daemon's log; on stderr (which cron
	   mails to the user) only what went wrong. */
	if (sm->conf->log_file == NULL || sm->conf->log_file[0] == '\0' ||
	    log_open(sm->conf->log_file) < 0)
		log_set_level(LOG_LVL_WARN);
	buf_init(&msg, 64 * 1024, sm->conf->message_size_limit + 64 * 1024);
	if (read_message(sm, &msg, sm->conf->message_size_limit) < 0) {
		fprintf(stderr, "sendmail: message too large (message_size_limit is %llu bytes)\n",
		        (unsigned long long)sm->conf->message_size_limit);
		buf_deinit(&msg);
		return EX_DATAERR_;
	}
	if (sm->extract) {
		bool blank;

		split_fields(buf_peek(&msg), &f, &nf, &blank);
		rc = extract_rcpts(sm, buf_peek(&msg), f, nf) < 0 ? EX_DATAERR_ : 0;
		free(f);
	}
	if (rc == 0 && sm->nrcpts == 0) {
		fprintf(stderr, "sendmail: no recipients given%s\n",
		        sm->extract ? " or found in To:, Cc:, Bcc:" : "");
		rc = EX_USAGE_;
	}
	if (rc == 0)
		rc = drop ? drop_message(sm, buf_peek(&msg)) : queue_message(sm, buf_peek(&msg));
	buf_deinit(&msg);
	return rc;
}

int
cmd_sendmail(struct conf *conf, int argc, char **argv)
{
	struct sm sm = {.conf = conf};
	int rc = sendmail_run(&sm, argc, argv);

	for (size_t i = 0; i < sm.nrcpts; i++)
		free(sm.rcpts[i]);
	free(sm.rcpts);
	return rc;
}
