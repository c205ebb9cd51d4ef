/*
 * test_dmarc.c -- DMARC record parser, organizational domain, alignment
 * and policy selection with sp= and pct= (src/msgauth/dmarc.c).
 *
 * The parser is not incremental: instead of byte-by-byte feeding, every
 * case is parsed from an exact-size heap copy (the sanitizers catch a read
 * past the end) and at every truncation point (never a crash, always a
 * verdict). Discovery needs DNS: tests/integration/test_msgauth.py runs it
 * against nsd.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msgauth/dmarc.h"

static struct span
heap_span(const char *s, size_t n)
{
	uint8_t *p = malloc(n > 0 ? n : 1);

	memcpy(p, s, n);
	return (struct span){ p, n };
}

static const struct rec_case {
	const char *in;
	int rc;
	const char *err;
	enum dmarc_policy p, sp;
	enum dmarc_align adkim, aspf;
	unsigned pct;
	const char *rua;
} rec_cases[] = {
	{ "v=DMARC1; p=none", .rc = 1, .p = DMARC_P_NONE, .sp = DMARC_P_NONE, .pct = 100, .rua = "" },
	{ "v=DMARC1;p=reject", .rc = 1, .p = DMARC_P_REJECT, .sp = DMARC_P_REJECT, .pct = 100, .rua = "" },
	{ "v=DMARC1; p=quarantine; sp=reject; pct=20; adkim=s; aspf=s", .rc = 1,
	    .p = DMARC_P_QUARANTINE, .sp = DMARC_P_REJECT, .adkim = DMARC_A_STRICT,
	    .aspf = DMARC_A_STRICT, .pct = 20, .rua = "" },
	{ "v=DMARC1; p=Reject; sp=NONE; rua=mailto:d@example.com; ruf=mailto:f@example.com", .rc = 1,
	    .p = DMARC_P_REJECT, .sp = DMARC_P_NONE, .pct = 100, .rua = "mailto:d@example.com" },
	/* Bad optional values fall back to defaults (RFC 7489 6.3). */
	{ "v=DMARC1; p=reject; pct=101; adkim=x; sp=bogus; fo=9", .rc = 1, .p = DMARC_P_REJECT,
	    .sp = DMARC_P_REJECT, .pct = 100, .rua = "" },
	{ "v=DMARC1; p=reject; pct=0", .rc = 1, .p = DMARC_P_REJECT, .sp = DMARC_P_REJECT, .pct = 0,
	    .rua = "" },
	{ "v=DMARC1; p=none; future=tag;", .rc = 1, .p = DMARC_P_NONE, .sp = DMARC_P_NONE, .pct = 100,
	    .rua = "" },
	{ " v = DMARC1 ;p=none", .rc = 1, .p = DMARC_P_NONE, .sp = DMARC_P_NONE, .pct = 100,
	    .rua = "" },
	{ "v=DMARC1 x; p=none", .rc = 0 },
	{ "v=DMARC1 ; p = quarantine ", .rc = 1, .p = DMARC_P_QUARANTINE, .sp = DMARC_P_QUARANTINE,
	    .pct = 100, .rua = "" },
	/* Not DMARC at all: v= missing, not first, or another version. */
	{ "p=reject; v=DMARC1", .rc = 0 },
	{ "v=spf1 -all", .rc = 0 },
	{ "v=DMARC10; p=reject", .rc = 0 },
	{ "v=dmarc1; p=reject", .rc = 0 },
	{ "", .rc = 0 },
	/* DMARC, but no usable policy. */
	{ "v=DMARC1", .rc = -1, .err = "no p= tag" },
	{ "v=DMARC1; rua=mailto:a@b.example", .rc = -1, .err = "no p= tag" },
	{ "v=DMARC1; p=block", .rc = -1, .err = "invalid p= value" },
	{ "v=DMARC1; p=reject; p=none", .rc = -1 },
	{ "v=DMARC1; p", .rc = -1 },
	{ "v=DMARC1; =reject", .rc = -1 },
};

static void
check_rec(const struct rec_case *c)
{
	struct span in = heap_span(c->in, strlen(c->in));
	struct dmarc_record rec;
	const char *err = NULL;
	int rc = dmarc_record_parse(in, &rec, &err);

	CHECK_INT(rc, c->rc);
	if (rc == -1) {
		CHECK(err != NULL);
		if (c->err != NULL && err != NULL)
			CHECK_STR(err, c->err);
	}
	if (rc == 1 && c->rc == 1) {
		CHECK_INT(rec.p, c->p);
		CHECK_INT(rec.sp, c->sp);
		CHECK_INT(rec.adkim, c->adkim);
		CHECK_INT(rec.aspf, c->aspf);
		CHECK_INT(rec.pct, c->pct);
		CHECK_STR(rec.rua, c->rua);
	}
	/* Every prefix: a verdict, no over-read. */
	for (size_t k = 0; k < in.n; k++) {
		struct span t = heap_span(c->in, k);

		rc = dmarc_record_parse(t, &rec, &err);
		CHECK(rc >= -1 && rc <= 1);
		free((void *)t.p);
	}
	free((void *)in.p);
}

static void
test_record(void)
{
	for (size_t i = 0; i < nitems(rec_cases); i++)
		check_rec(&rec_cases[i]);
}

static void
test_record_limits(void)
{
	char big[DMARC_RECORD_MAX + 64];
	struct dmarc_record rec;
	const char *err = NULL;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "v=DMARC1; p=none; x=", 20);
	CHECK_INT(dmarc_record_parse(span_str(big), &rec, &err), -1);
	CHECK_STR(err, "record too long");
	/* Control characters are a tag-list syntax error (RFC 6376 3.2). */
	CHECK_INT(dmarc_record_parse(span_str("v=DMARC1; p=none; rua=mailto:a\x01@b"), &rec, &err),
	          -1);
}

static const struct org_case {
	const char *in, *org;
} org_cases[] = {
	{ "example.com", "example.com" },
	{ "Mail.Example.COM", "example.com" },
	{ "a.b.c.example.com.", "example.com" },
	{ "example.co.uk", "example.co.uk" },
	{ "x.example.co.uk", "example.co.uk" },
	{ "co.uk", "co.uk" }, /* a public suffix: itself */
	{ "com", "com" },
	{ "a.example.test", "example.test" }, /* unknown TLD: the "*" rule */
	{ "bad..name", NULL },
	{ "", NULL },
	{ "sp ace.example.com", NULL },
};

static void
test_org_domain(void)
{
	CHECK_INT(dmarc_psl_init(), 0);
	for (size_t i = 0; i < nitems(org_cases); i++) {
		char out[DMARC_MAX_DOMAIN + 1];
		int rc = dmarc_org_domain(org_cases[i].in, out, sizeof(out));

		if (org_cases[i].org == NULL) {
			CHECK_INT(rc, -1);
			continue;
		}
		CHECK_INT(rc, 0);
		if (rc == 0)
			CHECK_STR(out, org_cases[i].org);
	}
}

static const struct align_case {
	const char *from, *id;
	enum dmarc_align mode;
	bool want;
} align_cases[] = {
	{ "example.com", "example.com", DMARC_A_STRICT, true },
	{ "Example.COM", "example.com.", DMARC_A_STRICT, true },
	{ "example.com", "mail.example.com", DMARC_A_STRICT, false },
	{ "example.com", "mail.example.com", DMARC_A_RELAXED, true },
	{ "news.example.com", "bounce.example.com", DMARC_A_RELAXED, true },
	{ "example.com", "example.net", DMARC_A_RELAXED, false },
	{ "a.example.co.uk", "b.example.co.uk", DMARC_A_RELAXED, true },
	{ "example.co.uk", "other.co.uk", DMARC_A_RELAXED, false }, /* siblings under a PSL entry */
	{ "example.com", "evilexample.com", DMARC_A_RELAXED, false },
	{ "example.com", "", DMARC_A_RELAXED, false },
	{ "example.com", NULL, DMARC_A_RELAXED, false },
};

static void
test_alignment(void)
{
	for (size_t i = 0; i < nitems(align_cases); i++) {
		const struct align_case *c = &align_cases[i];

		if (dmarc_aligned(c->from, c->id, c->mode) != c->want)
			t_fail(__FILE__, __LINE__, c->id != NULL ? c->id : "(null)");
	}
}

static const struct eval_case {
	const char *record, *rec_domain, *from;
	enum spf_result spf;
	const char *spf_domain;
	enum dkim_result dkim;
	const char *dkim_d;
	unsigned roll;
	enum dmarc_result result;
	enum dmarc_policy policy, disposition;
} eval_cases[] = {
	/* SPF aligned pass. */
	{ "v=DMARC1; p=reject", "example.com", "example.com", SPF_PASS, "example.com", DKIM_NONE,
	    NULL, 0, DMARC_PASS, DMARC_P_REJECT, DMARC_P_NONE },
	/* Relaxed: a sub-domain's SPF aligns. */
	{ "v=DMARC1; p=reject", "example.com", "example.com", SPF_PASS, "bounce.example.com",
	    DKIM_NONE, NULL, 0, DMARC_PASS, DMARC_P_REJECT, DMARC_P_NONE },
	/* Strict SPF: it does not. */
	{ "v=DMARC1; p=reject; aspf=s", "example.com", "example.com", SPF_PASS,
	    "bounce.example.com", DKIM_NONE, NULL, 0, DMARC_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	/* DKIM aligned pass rescues an SPF fail. */
	{ "v=DMARC1; p=reject", "example.com", "example.com", SPF_FAIL, "example.com", DKIM_PASS,
	    "example.com", 0, DMARC_PASS, DMARC_P_REJECT, DMARC_P_NONE },
	/* A DKIM pass for another domain does not. */
	{ "v=DMARC1; p=reject", "example.com", "example.com", SPF_FAIL, "example.com", DKIM_PASS,
	    "example.net", 0, DMARC_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	/* SPF pass but unaligned; DKIM fail. */
	{ "v=DMARC1; p=quarantine", "example.com", "example.com", SPF_PASS, "example.net",
	    DKIM_FAIL, "example.com", 0, DMARC_FAIL, DMARC_P_QUARANTINE, DMARC_P_QUARANTINE },
	/* sp= for a sub-domain when the record is the organization's. */
	{ "v=DMARC1; p=reject; sp=quarantine", "example.com", "mail.example.com", SPF_FAIL,
	    "mail.example.com", DKIM_NONE, NULL, 0, DMARC_FAIL, DMARC_P_QUARANTINE,
	    DMARC_P_QUARANTINE },
	/* ... and p= when the record is the From domain's own. */
	{ "v=DMARC1; p=reject; sp=none", "mail.example.com", "mail.example.com", SPF_FAIL,
	    "mail.example.com", DKIM_NONE, NULL, 0, DMARC_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	/* pct: inside the sample the policy applies, outside it one step less. */
	{ "v=DMARC1; p=reject; pct=30", "example.com", "example.com", SPF_FAIL, "example.com",
	    DKIM_NONE, NULL, 29, DMARC_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
	{ "v=DMARC1; p=reject; pct=30", "example.com", "example.com", SPF_FAIL, "example.com",
	    DKIM_NONE, NULL, 30, DMARC_FAIL, DMARC_P_REJECT, DMARC_P_QUARANTINE },
	{ "v=DMARC1; p=quarantine; pct=0", "example.com", "example.com", SPF_FAIL, "example.com",
	    DKIM_NONE, NULL, 0, DMARC_FAIL, DMARC_P_QUARANTINE, DMARC_P_NONE },
	{ "v=DMARC1; p=none; pct=0", "example.com", "example.com", SPF_FAIL, "example.com",
	    DKIM_NONE, NULL, 99, DMARC_FAIL, DMARC_P_NONE, DMARC_P_NONE },
	/* SPF softfail is not a pass. */
	{ "v=DMARC1; p=reject", "example.com", "example.com", SPF_SOFTFAIL, "example.com",
	    DKIM_NONE, NULL, 0, DMARC_FAIL, DMARC_P_REJECT, DMARC_P_REJECT },
};

static void
test_evaluate(void)
{
	for (size_t i = 0; i < nitems(eval_cases); i++) {
		const struct eval_case *c = &eval_cases[i];
		struct dmarc_record rec;
		struct dmarc_dkim dk = { c->dkim, c->dkim_d };
		struct dmarc_input in = { .from_domain = c->from, .spf = c->spf,
			                  .spf_domain = c->spf_domain, .dkim = &dk,
			                  .ndkim = c->dkim_d != NULL ? 1 : 0 };
		struct dmarc_verdict v;
		const char *err;

		CHECK_INT(dmarc_record_parse(span_str(c->record), &rec, &err), 1);
		dmarc_evaluate(&rec, c->rec_domain, &in, c->roll, &v);
		CHECK_INT(v.result, c->result);
		CHECK_INT(v.policy, c->policy);
		CHECK_INT(v.disposition, c->disposition);
		CHECK(v.reason[0] != '\0');
	}
}

static void
test_names(void)
{
	CHECK_STR(dmarc_result_name(DMARC_PASS), "pass");
	CHECK_STR(dmarc_result_name(DMARC_PERMERROR), "permerror");
	CHECK_STR(dmarc_policy_name(DMARC_P_QUARANTINE), "quarantine");
}

static const struct t_test tests[] = {
	T(test_record),
	T(test_record_limits),
	T(test_org_domain),
	T(test_alignment),
	T(test_evaluate),
	T(test_names),
	{ 0 },
};

T_MAIN(tests)
