/*
 * dmarc.c -- DMARC record parser, organizational domain, alignment and
 * policy evaluation (see dmarc.h). Pure apart from the public suffix list,
 * loaded once and read-only afterwards.
 *
 * Standards: RFC 7489 3.1, 3.2, 6.3, 6.4, 6.6.2, 6.6.4.
 * Security: records are untrusted; fuzzed by tests/fuzz/fuzz_dmarc.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libpsl.h>

#include "dns/dns_rr.h"
#include "msgauth/dmarc.h"

/* The list; libpsl's lists are immutable once loaded, so sharing it
   between threads is safe. */
static const psl_ctx_t *dmarc_psl;

const char *
dmarc_result_name(enum dmarc_result r)
{
	static const char *const names[] = { "none", "pass", "fail", "temperror", "permerror" };

	return (size_t)r < nitems(names) ? names[r] : "permerror";
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	static const char *const names[] = { "none", "quarantine", "reject" };

	return (size_t)p < nitems(names) ? names[p] : "none";
}

/* ---- record ---- */

/* policy_value - p= and sp= values (RFC 7489 6.3); -1 when invalid. */
static int
policy_value(struct span v)
{
	if (span_eq_ci(v, "none"))
		return DMARC_P_NONE;
	if (span_eq_ci(v, "quarantine"))
		return DMARC_P_QUARANTINE;
	if (span_eq_ci(v, "reject"))
		return DMARC_P_REJECT;
	return -1;
}

/* pct_value - 0..100 digits; -1 when invalid (then the default 100). */
static int
pct_value(struct span v)
{
	unsigned n = 0;

	if (v.n == 0 || v.n > 3)
		return -1;
	for (size_t i = 0; i < v.n; i++) {
		if (!isdigit(v.p[i]))
			return -1;
		n = n * 10 + (unsigned)(v.p[i] - '0');
	}
	return n <= 100 ? (int)n : -1;
}

/* record_tag - one tag after v=; bad optional values keep the default. */
static void
record_tag(struct dmarc_record *rec, const struct dkim_tag *t, int *p)
{
	int x;

	if (span_eq(t->name, "p")) {
		*p = policy_value(t->value);
	} else if (span_eq(t->name, "sp")) {
		if ((x = policy_value(t->value)) >= 0) {
			rec->sp = (enum dmarc_policy)x;
			rec->has_sp = true;
		}
	} else if (span_eq(t->name, "adkim") || span_eq(t->name, "aspf")) {
		enum dmarc_align *a = t->name.p[1] == 'd' ? &rec->adkim : &rec->aspf;

		if (span_eq_ci(t->value, "s"))
			*a = DMARC_A_STRICT;
		else if (span_eq_ci(t->value, "r"))
			*a = DMARC_A_RELAXED;
	} else if (span_eq(t->name, "pct")) {
		if ((x = pct_value(t->value)) >= 0)
			rec->pct = (unsigned)x;
	} else if (span_eq(t->name, "rua")) {
		size_t n = MIN(t->value.n, sizeof(rec->rua) - 1);

		/* Display only: keep printable ASCII. */
		for (size_t i = 0; i < n; i++)
			rec->rua[i] = t->value.p[i] >= 0x20 && t->value.p[i] < 0x7f ? (char)t->value.p[i]
			                                                           : '?';
		rec->rua[n] = '\0';
	}
	/* fo, rf, ri, ruf and unknown tags: no effect on evaluation (6.3). */
}

/* skip_wsp - past spaces and tabs from i. */
static size_t
skip_wsp(struct span t, size_t i)
{
	while (i < t.n && (t.p[i] == ' ' || t.p[i] == '\t'))
		i++;
	return i;
}

/* is_dmarc - 6.3 and 6.4: "v" MUST be the first tag, and its value is
   "DMARC1" (case-sensitive ABNF); a record that does not start so is not
   DMARC and is discarded (6.6.3 step 3). */
static bool
is_dmarc(struct span t)
{
	size_t i = skip_wsp(t, 0);

	if (i >= t.n || t.p[i] != 'v')
		return false;
	i = skip_wsp(t, i + 1);
	if (i >= t.n || t.p[i] != '=')
		return false;
	i = skip_wsp(t, i + 1);
	if (t.n - i < 6 || memcmp(t.p + i, "DMARC1", 6) != 0)
		return false;
	i = skip_wsp(t, i + 6);
	return i == t.n || t.p[i] == ';';
}

int
dmarc_record_parse(struct span txt, struct dmarc_record *rec, const char **error_r)
{
	struct dkim_tag tags[DMARC_MAX_TAGS];
	int n, p = -2;

	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	if (!is_dmarc(txt))
		return 0;
	if (txt.n > DMARC_RECORD_MAX) {
		*error_r = "record too long";
		return -1;
	}
	if ((n = dkim_tag_parse(txt, tags, nitems(tags), error_r)) < 0)
		return -1;
	for (int i = 1; i < n; i++)
		record_tag(rec, &tags[i], &p);
	if (p == -2) {
		*error_r = "no p= tag";
		return -1;
	}
	if (p < 0) {
		*error_r = "invalid p= value";
		return -1;
	}
	rec->p = (enum dmarc_policy)p;
	if (!rec->has_sp)
		rec->sp = rec->p;
	return 1;
}

/* ---- organizational domain ---- */

int
dmarc_psl_init(void)
{
	if (dmarc_psl == NULL)
		dmarc_psl = psl_latest(NULL);
	if (dmarc_psl == NULL)
		dmarc_psl = psl_builtin();
	return dmarc_psl != NULL ? 0 : -1;
}

/* lower - copies name lower-cased without a final dot; -1 when it is not
   a valid name or does not fit. */
static int
lower(const char *name, char *dst, size_t size)
{
	size_t n = strlen(name);

	if (!dns_name_is_valid(name))
		return -1;
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n >= size)
		return -1;
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)name[i]);
	dst[n] = '\0';
	return 0;
}

int
dmarc_org_domain(const char *domain, char *dst, size_t size)
{
	char d[DMARC_MAX_DOMAIN + 1];
	const char *reg;

	if (lower(domain, d, sizeof(d)) < 0)
		return -1;
	/* Without a list every domain is its own organization: strict. */
	reg = dmarc_psl_init() == 0 ? psl_registrable_domain(dmarc_psl, d) : NULL;
	/* NULL: d is itself a public suffix (or under none): itself. */
	if (reg == NULL)
		reg = d;
	if (strlen(reg) >= size)
		return -1;
	memmove(dst, reg, strlen(reg) + 1);
	return 0;
}

bool
dmarc_aligned(const char *from, const char *id, enum dmarc_align mode)
{
	char a[DMARC_MAX_DOMAIN + 1], b[DMARC_MAX_DOMAIN + 1];

	if (from == NULL || id == NULL)
		return false;
	if (mode == DMARC_A_STRICT)
		return lower(from, a, sizeof(a)) == 0 && lower(id, b, sizeof(b)) == 0 &&
		       strcmp(a, b) == 0;
	return dmarc_org_domain(from, a, sizeof(a)) == 0 && dmarc_org_domain(id, b, sizeof(b)) == 0 &&
	       strcmp(a, b) == 0;
}

/* ---- evaluation ---- */

/* applies_sp - the record is the organizational domain's and From is below
   it (RFC 7489 6.3 sp: "policy to be enacted ... for all subdomains"). */
static bool
applies_sp(const char *rec_domain, const char *from)
{
	char a[DMARC_MAX_DOMAIN + 1], b[DMARC_MAX_DOMAIN + 1];

	return lower(rec_domain, a, sizeof(a)) == 0 && lower(from, b, sizeof(b)) == 0 &&
	       strcmp(a, b) != 0;
}

void
dmarc_evaluate(const struct dmarc_record *rec, const char *rec_domain,
               const struct dmarc_input *in, unsigned roll, struct dmarc_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->spf_aligned = in->spf == SPF_PASS && dmarc_aligned(in->from_domain, in->spf_domain,
	                                                      rec->aspf);
	for (size_t i = 0; i < in->ndkim && i < DMARC_MAX_DKIM; i++)
		if (in->dkim[i].result == DKIM_PASS &&
		    dmarc_aligned(in->from_domain, in->dkim[i].d, rec->adkim))
			v->dkim_aligned = true;
	v->policy = applies_sp(rec_domain, in->from_domain) ? rec->sp : rec->p;
	if (v->spf_aligned || v->dkim_aligned) {
		v->result = DMARC_PASS;
		v->disposition = DMARC_P_NONE;
		snprintf(v->reason, sizeof(v->reason), "aligned %s%s%s", v->spf_aligned ? "spf" : "",
		         v->spf_aligned && v->dkim_aligned ? "+" : "", v->dkim_aligned ? "dkim" : "");
		return;
	}
	v->result = DMARC_FAIL;
	v->disposition = v->policy;
	/* 6.6.4: outside the pct= sample, apply the next less strict policy. */
	if (roll % 100 >= rec->pct && v->disposition != DMARC_P_NONE) {
		v->disposition--;
		v->sampled_out = true;
	}
	snprintf(v->reason, sizeof(v->reason), "no aligned pass (spf=%s)", spf_result_name(in->spf));
}
