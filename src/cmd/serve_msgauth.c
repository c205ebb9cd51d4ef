/*
 * serve_msgauth.c -- SPF, DKIM and DMARC in the SMTP server (see
 * serve_msgauth.h).
 *
 * The message prefix. The engine streams DATA straight into the Maildir
 * or queue temp file, but Authentication-Results depends on the whole
 * message and forged A-R fields must go. So, while the message streams,
 * the header section is also kept here (bounded: MSGAUTH_MAX_HEADER, the
 * same bound as DKIM's; a longer one is refused with 552 5.3.4 because
 * its forged fields could not be removed), and at the end the store is
 * told "replace the first hdr_len bytes with A-R + Received-SPF + the
 * filtered header section" (maildir_tx_set_prefix). The committer thread
 * does that before its barrier (base/wfile_prefix.h: no copy at all for a
 * message under 64 KiB, one in-kernel copy_file_range above), so the 250
 * still waits for the final file to be durable. Signing at queue entry
 * uses the same mechanism with skip 0: the DKIM-Signature fields simply go
 * in front.
 * Time bounds: SPF has its own 20 s cap (spf.h), DNS queries 30 s
 * (dns.h); the end-of-DATA wait is capped by MSGAUTH_TIMEOUT_MS whatever
 * is pending, and what has not answered by then counts as temperror.
 * Policy: DMARC fail with p=reject gives 550 5.7.1 at end of DATA,
 * p=quarantine delivery into the recipients' Junk folder, unless
 * dmarc_enforce = no or the From domain is in dmarc_override_domains.
 * Standards: RFC 7208 (SPF, 9.1 Received-SPF), RFC 6376 (DKIM), RFC 7489
 * (DMARC), RFC 8601 (A-R, 5: removing forged fields).
 * Security: everything read here is remote data: the header section is
 * bounded, reasons from DNS go through authres' comment sanitizer and
 * log_value().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "cmd/serve.h"
#include "cmd/serve_msgauth.h"
#include "conf/conf.h"
#include "msg/mime.h"
#include "msgauth/authres.h"
#include "msgauth/dkim.h"
#include "msgauth/dmarc.h"
#include "msgauth/spf.h"

#define MSGAUTH_MAX_HEADER DKIM_MAX_HEADER
#define MSGAUTH_TIMEOUT_MS 25000 /* end-of-DATA wait, all checks together */

enum msgauth_mode { MA_NONE, MA_VERIFY, MA_SIGN };

struct msgauth_sess {
	struct app *app;
	struct smtp_sess *s;

	/* SPF: per transaction, from MAIL FROM on. */
	struct spf_check *spf;
	bool spf_started, spf_done;
	char spf_ip[64], spf_helo[256], *spf_sender;
	enum spf_result spf_result;
	char spf_domain[DMARC_MAX_DOMAIN + 1];
	struct buf spf_hdr; /* Received-SPF */

	/* The message. */
	enum msgauth_mode mode;
	struct buf hdr;    /* the header section as written, our Received first */
	bool hdr_done;     /* the empty line was seen */
	bool hdr_over;     /* over MSGAUTH_MAX_HEADER */
	bool bol, cr_bol;  /* header scan: at line start; a CR there */
	uint64_t nwritten; /* bytes given to write() */
	size_t recv_len;   /* our Received field: the first write */
	struct dkim_verify *dv;
	bool dkim_waiting, dkim_timeout;
	struct dkim_sig_result dkim[DKIM_MAX_SIGS];
	size_t ndkim;
	struct dkim_sign *signer;
	struct dkim_sign_key *keys[2];
	size_t nkeys;
	struct dmarc_lookup *dl;
	struct dmarc_found found;
	char found_domain[DMARC_MAX_DOMAIN + 1], found_reason[256];
	bool dmarc_waiting;
	char from[DMARC_MAX_DOMAIN + 1];
	const char *from_error;

	/* End of DATA. */
	uv_timer_t *timer;
	serve_msgauth_fn *done;
	void *ctx;
	struct buf out; /* the prefix */
	struct smtp_hook_reply reply;
	char reply_text[512];
};

static const char *
authserv_id(const struct app *app)
{
	return app->conf->authserv_id[0] != '\0' ? app->conf->authserv_id : app->conf->myhostname;
}

void
serve_msgauth_init(struct app *app)
{
	struct buf b;

	buf_init(&b, 0, 1024);
	if (authres_render(&b, authserv_id(app), NULL, 0) < 0)
		die("%s: authserv_id \"%s\" is not a token (RFC 8601 2.5)", app->conf->path,
		    authserv_id(app));
	buf_deinit(&b);
	if (dmarc_psl_init() < 0)
		log_warnx("event=config-warning no public suffix list: DMARC relaxed alignment "
		          "falls back to strict");
}

static struct msgauth_sess *
sess_get(struct app *app, struct smtp_sess *s, struct msgauth_sess **ms)
{
	if (*ms == NULL) {
		*ms = xcalloc(1, sizeof(**ms));
		(*ms)->app = app;
		(*ms)->s = s;
		buf_init(&(*ms)->spf_hdr, 0, 4096);
		buf_init(&(*ms)->hdr, 0, MSGAUTH_MAX_HEADER);
		buf_init(&(*ms)->out, 0, MSGAUTH_MAX_HEADER + 16384);
	}
	return *ms;
}

/* ---- SPF ---- */

static void
spf_reset(struct msgauth_sess *ms)
{
	spf_check_cancel(&ms->spf);
	free(ms->spf_sender);
	ms->spf_sender = NULL;
	ms->spf_started = ms->spf_done = false;
	ms->spf_result = SPF_NONE;
	ms->spf_domain[0] = '\0';
	buf_clear(&ms->spf_hdr);
}

static void msgauth_step(struct msgauth_sess *ms);

static void
spf_done(void *ctx, const struct spf_verdict *v)
{
	struct msgauth_sess *ms = ctx;
	struct spf_request req = { .ip = ms->spf_ip, .sender = ms->spf_sender,
		                   .helo = ms->spf_helo, .receiver = ms->app->conf->myhostname };
	const char *at = strrchr(v->sender, '@');

	ms->spf = NULL;
	ms->spf_done = true;
	ms->spf_result = v->result;
	snprintf(ms->spf_domain, sizeof(ms->spf_domain), "%s", at != NULL ? at + 1 : v->sender);
	buf_clear(&ms->spf_hdr);
	if (spf_received_header(v, &req, &ms->spf_hdr) < 0)
		buf_clear(&ms->spf_hdr);
	if (ms->done != NULL)
		msgauth_step(ms);
}

void
serve_msgauth_mail(struct app *app, struct smtp_sess *s, struct msgauth_sess **msp,
                   const char *sender)
{
	struct msgauth_sess *ms;
	struct spf_request req = { 0 };

	if (smtp_sess_server(s)->service != SMTP_SVC_MX)
		return;
	ms = sess_get(app, s, msp);
	spf_reset(ms);
	snprintf(ms->spf_ip, sizeof(ms->spf_ip), "%s", smtp_sess_peer_ip(s));
	snprintf(ms->spf_helo, sizeof(ms->spf_helo), "%s", smtp_sess_helo(s));
	ms->spf_sender = xstrdup(sender);
	req = (struct spf_request){ .ip = ms->spf_ip, .sender = ms->spf_sender,
		                    .helo = ms->spf_helo, .receiver = app->conf->myhostname };
	ms->spf_started = true;
	ms->spf = spf_check_start(app->loop, app->deliver.dns, &req, spf_done, ms);
}

/* ---- the message stream ---- */

static void
timer_closed(uv_handle_t *h)
{
	free(h);
}

/* msg_reset - forget the message (not the transaction's SPF). */
static void
msg_reset(struct msgauth_sess *ms)
{
	dkim_verify_free(&ms->dv);
	dkim_sign_free(&ms->signer);
	for (size_t i = 0; i < ms->nkeys; i++)
		dkim_sign_key_free(&ms->keys[i]);
	ms->nkeys = 0;
	dmarc_lookup_cancel(&ms->dl);
	if (ms->timer != NULL) {
		uv_timer_stop(ms->timer);
		uv_close((uv_handle_t *)ms->timer, timer_closed);
		ms->timer = NULL;
	}
	buf_clear(&ms->hdr);
	buf_clear(&ms->out);
	ms->mode = MA_NONE;
	ms->hdr_done = ms->hdr_over = ms->cr_bol = false;
	ms->bol = true;
	ms->nwritten = ms->recv_len = 0;
	ms->dkim_waiting = ms->dkim_timeout = ms->dmarc_waiting = false;
	ms->ndkim = 0;
	ms->from[0] = '\0';
	ms->from_error = NULL;
	ms->done = NULL;
	memset(&ms->found, 0, sizeof(ms->found));
}

/* sign_setup - the authenticated user's domain keys; false: no signing. */
static bool
sign_setup(struct msgauth_sess *ms, const char *user)
{
	const char *at = strrchr(user, '@'), *error;

	if (at == NULL ||
	    dkim_sign_keys_load(ms->app->conf->data_dir, at + 1, ms->keys, &ms->nkeys, &error) < 0) {
		log_info("sid=%016llx event=dkim-sign status=skipped domain=%s reason=\"%s\"",
		         (unsigned long long)smtp_sess_id(ms->s), at != NULL ? at + 1 : "",
		         at != NULL ? error : "user without a domain");
		ms->nkeys = 0;
		return false;
	}
	ms->signer = dkim_sign_new(ms->keys, ms->nkeys, 0);
	return true;
}

int
serve_msgauth_begin(struct app *app, struct smtp_sess *s, struct msgauth_sess **msp, bool queued)
{
	const char *user = smtp_sess_auth_user(s);
	struct msgauth_sess *ms;

	if (smtp_sess_server(s)->service == SMTP_SVC_MX) {
		ms = sess_get(app, s, msp);
		msg_reset(ms);
		ms->mode = MA_VERIFY;
		ms->dv = dkim_verify_new(app->deliver.dns, 0);
		return 0;
	}
	/* Submission: sign what leaves through the queue, once, here. */
	if (!queued || user == NULL)
		return 0;
	ms = sess_get(app, s, msp);
	msg_reset(ms);
	if (sign_setup(ms, user))
		ms->mode = MA_SIGN;
	return 0;
}

/* header_scan - how many of p[0..n) belong to the header section (up to
   and including its empty line); sets hdr_done at that line. */
static size_t
header_scan(struct msgauth_sess *ms, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ms->bol && p[i] == '\r') {
			ms->cr_bol = true;
			ms->bol = false;
		} else if (ms->cr_bol && p[i] == '\n') {
			ms->hdr_done = true;
			return i + 1;
		} else {
			ms->cr_bol = false;
			ms->bol = p[i] == '\n';
		}
	}
	return n;
}

void
serve_msgauth_write(struct msgauth_sess *ms, const void *p, size_t n)
{
	bool first = ms->nwritten == 0;

	if (ms->mode == MA_NONE)
		return;
	ms->nwritten += n;
	if (ms->mode == MA_SIGN) {
		dkim_sign_feed(ms->signer, p, n);
		return;
	}
	if (!ms->hdr_done && !ms->hdr_over) {
		size_t h = header_scan(ms, p, n);

		if (buf_append(&ms->hdr, p, h) < 0)
			ms->hdr_over = true;
		if (first)
			ms->recv_len = h;
	}
	/* The first write is our own Received field (smtp_cmd_data.c): not
	   part of what the sender signed, and a signature listing Received in
	   h= must not pick it up. */
	if (!first)
		dkim_verify_feed(ms->dv, p, n);
}

void
serve_msgauth_abort(struct msgauth_sess *ms)
{
	if (ms != NULL)
		msg_reset(ms);
}

void
serve_msgauth_free(struct msgauth_sess **msp)
{
	struct msgauth_sess *ms = *msp;

	if (ms == NULL)
		return;
	msg_reset(ms);
	spf_reset(ms);
	buf_deinit(&ms->spf_hdr);
	buf_deinit(&ms->hdr);
	buf_deinit(&ms->out);
	free(ms);
	*msp = NULL;
}

/* ---- end of DATA ---- */

/* from_domain - the RFC5322.From domain (RFC 7489 6.6.1): exactly one
   From field whose addresses share one domain. */
static void
from_domain(struct msgauth_sess *ms)
{
	struct span hdr = buf_peek(&ms->hdr), name, value, field, found = SPAN_NULL;
	struct mime_hdr_iter it;
	struct mime_addr *list;
	size_t nfrom = 0, n;

	mime_hdr_iter_init(&it, (const char *)hdr.p, hdr.n);
	while (mime_hdr_next(&it, &name, &value, &field))
		if (span_eq_ci(name, "From") && nfrom++ == 0)
			found = value;
	if (nfrom != 1) {
		ms->from_error = nfrom == 0 ? "no From field" : "several From fields";
		return;
	}
	n = mime_addr_parse(found, &list);
	for (size_t i = 0; i < n; i++) {
		if (list[i].host == NULL)
			continue;
		if (ms->from[0] != '\0' && strcasecmp(ms->from, list[i].host) != 0)
			ms->from_error = "From addresses in several domains";
		else if (strlen(list[i].host) >= sizeof(ms->from) || !dns_name_is_valid(list[i].host))
			ms->from_error = "From domain is not a valid name";
		else
			snprintf(ms->from, sizeof(ms->from), "%s", list[i].host);
	}
	mime_addr_free(&list, n);
	if (ms->from[0] == '\0' && ms->from_error == NULL)
		ms->from_error = "no From address";
	if (ms->from_error != NULL)
		ms->from[0] = '\0';
}

static void
dkim_done(void *ctx, const struct dkim_sig_result *r, size_t n, size_t nskipped)
{
	struct msgauth_sess *ms = ctx;

	(void)nskipped;
	ms->dkim_waiting = false;
	ms->ndkim = MIN(n, nitems(ms->dkim));
	memcpy(ms->dkim, r, ms->ndkim * sizeof(*r));
	msgauth_step(ms);
}

static void
dmarc_found(void *ctx, const struct dmarc_found *f)
{
	struct msgauth_sess *ms = ctx;

	ms->dl = NULL;
	ms->dmarc_waiting = false;
	ms->found = *f;
	snprintf(ms->found_domain, sizeof(ms->found_domain), "%s", f->domain ? f->domain : "");
	snprintf(ms->found_reason, sizeof(ms->found_reason), "%s", f->reason ? f->reason : "");
	ms->found.domain = ms->found_domain;
	ms->found.reason = ms->found_reason;
	msgauth_step(ms);
}

static void
on_timeout(uv_timer_t *t)
{
	struct msgauth_sess *ms = t->data;

	log_warnx("sid=%016llx event=msgauth-timeout spf=%s dkim=%s dmarc=%s",
	          (unsigned long long)smtp_sess_id(ms->s), ms->spf != NULL ? "pending" : "done",
	          ms->dkim_waiting ? "pending" : "done", ms->dmarc_waiting ? "pending" : "done");
	if (ms->spf != NULL) {
		spf_check_cancel(&ms->spf);
		ms->spf_done = true;
		ms->spf_result = SPF_TEMPERROR;
	}
	if (ms->dkim_waiting) {
		dkim_verify_free(&ms->dv); /* no callback any more */
		ms->dkim_waiting = false;
		ms->dkim_timeout = true;
	}
	if (ms->dmarc_waiting) {
		dmarc_lookup_cancel(&ms->dl);
		ms->dmarc_waiting = false;
		ms->found = (struct dmarc_found){ .rc = -1, .error = DMARC_TEMPERROR,
			                          .reason = "DNS timeout" };
	}
	msgauth_step(ms);
}

/* ---- the decision ---- */

/* dmarc_verdict - DMARC for the message from what was gathered. */
static void
dmarc_verdict(struct msgauth_sess *ms, struct dmarc_verdict *v)
{
	struct dmarc_dkim dk[DKIM_MAX_SIGS];
	struct dmarc_input in = { .from_domain = ms->from, .spf = ms->spf_result,
		                  .spf_domain = ms->spf_domain, .dkim = dk, .ndkim = ms->ndkim };

	memset(v, 0, sizeof(*v));
	if (ms->from_error != NULL) {
		v->result = DMARC_PERMERROR;
		snprintf(v->reason, sizeof(v->reason), "%s", ms->from_error);
		return;
	}
	if (ms->found.rc != 1) {
		v->result = ms->found.rc < 0 ? ms->found.error : DMARC_NONE;
		snprintf(v->reason, sizeof(v->reason), "%s",
		         ms->found.reason != NULL ? ms->found.reason : "no DMARC record");
		return;
	}
	for (size_t i = 0; i < ms->ndkim; i++)
		dk[i] = (struct dmarc_dkim){ ms->dkim[i].result, ms->dkim[i].d };
	/* 6.6.4: pct= sampling needs a uniform draw per message. */
	dmarc_evaluate(&ms->found.rec, ms->found.domain, &in, arc4random_uniform(100), v);
}

/* ar_spf - the spf= result. */
static void
ar_spf(const struct msgauth_sess *ms, struct authres_result *r)
{
	bool null_path = ms->spf_sender == NULL || ms->spf_sender[0] == '\0';

	*r = (struct authres_result){ "spf", spf_result_name(ms->spf_result), NULL, { { 0 } }, 1 };
	r->props[0] = null_path ? (struct authres_prop){ "smtp", "helo", ms->spf_helo }
	                        : (struct authres_prop){ "smtp", "mailfrom", ms->spf_sender };
	if (!ms->spf_started)
		r->nprops = 0;
}

/* ar_dkim - one dkim= result per signature tried (or none). */
static size_t
ar_dkim(const struct msgauth_sess *ms, struct authres_result *r)
{
	if (ms->ndkim == 0) {
		*r = (struct authres_result){ .method = "dkim",
			                      .result = ms->dkim_timeout ? "temperror" : "none",
			                      .comment = ms->dkim_timeout ? "timed out" : NULL };
		return 1;
	}
	for (size_t i = 0; i < ms->ndkim; i++) {
		const struct dkim_sig_result *d = &ms->dkim[i];

		r[i] = (struct authres_result){ "dkim", dkim_result_name(d->result),
			                        d->result == DKIM_PASS ? NULL : d->reason,
			                        { { "header", "d", d->d }, { "header", "s", d->s },
			                          { "header", "a", d->a }, { "header", "b", d->b } },
			                        4 };
	}
	return ms->ndkim;
}

static bool
dmarc_overridden(const struct conf *cf, const char *from)
{
	for (size_t i = 0; i < cf->dmarc_override_domains.n; i++)
		if (strcasecmp(cf->dmarc_override_domains.v[i], from) == 0)
			return true;
	return false;
}

/* enforce - the disposition, unless configured away (RFC 7489 6.7). */
static void
enforce(struct msgauth_sess *ms, const struct dmarc_verdict *v, struct msgauth_outcome *o,
        const char **action_r)
{
	const struct conf *cf = ms->app->conf;

	*action_r = "deliver";
	if (v->result != DMARC_FAIL || v->disposition == DMARC_P_NONE)
		return;
	if (!cf->dmarc_enforce || dmarc_overridden(cf, ms->from)) {
		*action_r = "deliver-overridden";
		return;
	}
	if (v->disposition == DMARC_P_QUARANTINE) {
		o->folder = "Junk";
		*action_r = "quarantine";
		return;
	}
	snprintf(ms->reply_text, sizeof(ms->reply_text),
	         "Message rejected: the DMARC policy of %s says reject (%s)", ms->from, v->reason);
	ms->reply = (struct smtp_hook_reply){ 550, "5.7.1", ms->reply_text };
	o->reject = &ms->reply;
	*action_r = "reject";
}

/* render_prefix - our Received, Received-SPF, A-R, then the rest of the
   header section without forged A-R fields. Returns 0 or -1 (over the
   bound). Our Received stays first, where the engine wrote it, as with
   Postfix and its milters; RFC 8601 5 wants A-R above the fields it
   replaces, which it is. */
static int
render_prefix(struct msgauth_sess *ms, const struct dmarc_verdict *v)
{
	struct authres_result r[DKIM_MAX_SIGS + 2];
	char comment[64];
	size_t n = 0;
	struct span hdr = buf_peek(&ms->hdr), spf = buf_peek(&ms->spf_hdr);
	const char *id = authserv_id(ms->app);

	ar_spf(ms, &r[n++]);
	n += ar_dkim(ms, &r[n]);
	snprintf(comment, sizeof(comment), "p=%s dis=%s", dmarc_policy_name(v->policy),
	         dmarc_policy_name(v->disposition));
	r[n++] = (struct authres_result){ "dmarc", dmarc_result_name(v->result),
		                          ms->found.rc == 1 ? comment : v->reason,
		                          { { "header", "from", ms->from } }, 1 };
	buf_clear(&ms->out);
	if (buf_append(&ms->out, hdr.p, ms->recv_len) < 0 ||
	    buf_append(&ms->out, spf.p, spf.n) < 0 || authres_render(&ms->out, id, r, n) < 0)
		return -1;
	return authres_strip_ours(hdr.p + ms->recv_len, hdr.n - ms->recv_len, id, &ms->out) < 0
	               ? -1
	               : 0;
}

static void
decide(struct msgauth_sess *ms, struct msgauth_outcome *o)
{
	struct dmarc_verdict v;
	const char *action;
	char lv[160];

	if (ms->hdr_over) {
		ms->reply = (struct smtp_hook_reply){ 552, "5.3.4", "Message header section too large" };
		o->reject = &ms->reply;
		return;
	}
	dmarc_verdict(ms, &v);
	enforce(ms, &v, o, &action);
	if (render_prefix(ms, &v) == 0) {
		o->has_prefix = true;
		o->prefix = buf_peek(&ms->out);
		o->skip = buf_len(&ms->hdr);
	}
	log_info("sid=%016llx event=msgauth spf=%s dkim=%s dmarc=%s from=%s policy=%s action=%s "
	         "reason=%s",
	         (unsigned long long)smtp_sess_id(ms->s), spf_result_name(ms->spf_result),
	         ms->ndkim > 0 ? dkim_result_name(ms->dkim[0].result) : "none",
	         dmarc_result_name(v.result), ms->from[0] != '\0' ? ms->from : "-",
	         dmarc_policy_name(v.policy), action, log_value(lv, sizeof(lv), v.reason,
	                                                        strlen(v.reason)));
}

/* msgauth_step - once nothing is pending, decide and report. */
static void
msgauth_step(struct msgauth_sess *ms)
{
	struct msgauth_outcome o = { 0 };
	serve_msgauth_fn *done = ms->done;

	if (done == NULL || (ms->spf_started && !ms->spf_done) || ms->dkim_waiting ||
	    ms->dmarc_waiting)
		return;
	decide(ms, &o);
	ms->done = NULL;
	done(ms->ctx, &o);
	/* The prefix was copied by the store: the message state can go. */
	msg_reset(ms);
}

/* sign_finish - the DKIM-Signature fields as the prefix (skip 0). */
static void
sign_finish(struct msgauth_sess *ms, serve_msgauth_fn *done, void *ctx)
{
	struct msgauth_outcome o = { 0 };
	const char *error;

	if (dkim_sign_finish(ms->signer, &ms->out, &error) < 0) {
		log_warnx("sid=%016llx event=dkim-sign status=failed reason=\"%s\"",
		          (unsigned long long)smtp_sess_id(ms->s), error);
	} else {
		o.has_prefix = true;
		o.prefix = buf_peek(&ms->out);
		log_info("sid=%016llx event=dkim-sign status=signed domain=%s signatures=%zu",
		         (unsigned long long)smtp_sess_id(ms->s), ms->keys[0]->domain, ms->nkeys);
	}
	done(ctx, &o);
	msg_reset(ms);
}

void
serve_msgauth_finish(struct msgauth_sess *ms, serve_msgauth_fn *done, void *ctx)
{
	static const struct msgauth_outcome none = { 0 };

	if (ms == NULL || ms->mode == MA_NONE) {
		done(ctx, &none);
		return;
	}
	if (ms->mode == MA_SIGN) {
		sign_finish(ms, done, ctx);
		return;
	}
	ms->done = done;
	ms->ctx = ctx;
	ms->timer = xcalloc(1, sizeof(*ms->timer));
	uv_timer_init(ms->app->loop, ms->timer);
	ms->timer->data = ms;
	uv_timer_start(ms->timer, on_timeout, MSGAUTH_TIMEOUT_MS, 0);
	if (!ms->hdr_over) {
		from_domain(ms);
		if (ms->from[0] != '\0') {
			ms->dl = dmarc_lookup_start(ms->app->deliver.dns, ms->from, dmarc_found, ms);
			ms->dmarc_waiting = ms->dl != NULL;
		}
	}
	ms->dkim_waiting = true;
	if (dkim_verify_finish(ms->dv, ms->app->loop, dkim_done, ms) < 0) {
		ms->dkim_waiting = false;
		ms->dkim_timeout = true;
	}
	msgauth_step(ms);
}
