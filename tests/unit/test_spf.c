/*
 * test_spf.c -- SPF record parser, macro expansion, limits and the
 * Received-SPF header (src/msgauth/spf*.c).
 *
 * The parser and the expander are not incremental, so instead of
 * byte-by-byte feeding every case is also run at every truncation point
 * from an exact-size heap copy, so that the sanitizers catch a read past
 * the end. The evaluator itself needs DNS: it is tested against a real nsd
 * by tests/integration/test_spf_suite.py (the RFC 7208 suite).
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "msgauth/spf.h"

/* heap_span - an exact-size copy, so that an over-read is caught. */
static struct span
heap_span(const char *s, size_t n)
{
	uint8_t *p = malloc(n > 0 ? n : 1);

	memcpy(p, s, n);
	return (struct span){ p, n };
}

/* ---- record parser ---- */

static const struct rec_case {
	const char *in;
	int rc;
	const char *err; /* on failure */
	size_t n;        /* terms, on success */
	/* the first term: */
	enum spf_term_type type;
	enum spf_result q;
	const char *spec;
	int cidr4, cidr6;
} rec_cases[] = {
	{ "v=spf1", 1, .n = 0 },
	{ "V=SPF1 ", 1, .n = 0 },
	{ "v=spf1   -all  ", 1, .n = 1, .type = SPF_T_ALL, .q = SPF_FAIL, .spec = "" },
	{ "v=spf1 all", 1, .n = 1, .type = SPF_T_ALL, .q = SPF_PASS, .spec = "" },
	{ "v=spf1 +all", 1, .n = 1, .type = SPF_T_ALL, .q = SPF_PASS, .spec = "" },
	{ "v=spf1 ~ALL", 1, .n = 1, .type = SPF_T_ALL, .q = SPF_SOFTFAIL, .spec = "" },
	{ "v=spf1 ?all", 1, .n = 1, .type = SPF_T_ALL, .q = SPF_NEUTRAL, .spec = "" },
	{ "v=spf1 include:_spf.example.com", 1, .n = 1, .type = SPF_T_INCLUDE, .q = SPF_PASS,
	    .spec = "_spf.example.com" },
	{ "v=spf1 a", 1, .n = 1, .type = SPF_T_A, .spec = "", .cidr4 = 32, .cidr6 = 128 },
	{ "v=spf1 a/24", 1, .n = 1, .type = SPF_T_A, .spec = "", .cidr4 = 24, .cidr6 = 128 },
	{ "v=spf1 a//64", 1, .n = 1, .type = SPF_T_A, .spec = "", .cidr4 = 32, .cidr6 = 64 },
	{ "v=spf1 a/0//0", 1, .n = 1, .type = SPF_T_A, .spec = "", .cidr4 = 0, .cidr6 = 0 },
	{ "v=spf1 a:example.com/24//64", 1, .n = 1, .type = SPF_T_A, .spec = "example.com",
	    .cidr4 = 24, .cidr6 = 64 },
	{ "v=spf1 -a:foo.example.com.", 1, .n = 1, .type = SPF_T_A, .q = SPF_FAIL,
	    .spec = "foo.example.com.", .cidr4 = 32, .cidr6 = 128 },
	{ "v=spf1 mx", 1, .n = 1, .type = SPF_T_MX, .spec = "", .cidr4 = 32, .cidr6 = 128 },
	{ "v=spf1 mx:%{d}/30", 1, .n = 1, .type = SPF_T_MX, .spec = "%{d}", .cidr4 = 30,
	    .cidr6 = 128 },
	{ "v=spf1 ptr", 1, .n = 1, .type = SPF_T_PTR, .spec = "" },
	{ "v=spf1 ptr:example.org", 1, .n = 1, .type = SPF_T_PTR, .spec = "example.org" },
	{ "v=spf1 ip4:192.0.2.0/24", 1, .n = 1, .type = SPF_T_IP4, .spec = "", .cidr4 = 24 },
	{ "v=spf1 ip4:192.0.2.1", 1, .n = 1, .type = SPF_T_IP4, .spec = "", .cidr4 = 32 },
	{ "v=spf1 ip6:2001:db8::/32", 1, .n = 1, .type = SPF_T_IP6, .spec = "", .cidr6 = 32 },
	{ "v=spf1 ip6:::ffff:1.2.3.4", 1, .n = 1, .type = SPF_T_IP6, .spec = "", .cidr6 = 128 },
	{ "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d}", 1, .n = 1, .type = SPF_T_EXISTS,
	    .spec = "%{ir}.%{l1r+-}._spf.%{d}" },
	{ "v=spf1 redirect=_spf.example.com", 1, .n = 1, .type = SPF_T_REDIRECT,
	    .spec = "_spf.example.com" },
	{ "v=spf1 exp=explain._spf.%{d}", 1, .n = 1, .type = SPF_T_EXP,
	    .spec = "explain._spf.%{d}" },
	{ "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4", 1, .n = 2,
	    .type = SPF_T_UNKNOWN_MOD, .spec = "man:dog/cat" },
	{ "v=spf1 foo=%{c}%{r}%{t}", 1, .n = 1, .type = SPF_T_UNKNOWN_MOD, .spec = "%{c}%{r}%{t}" },
	{ "v=spf1 a:foo-bar.123-x", 1, .n = 1, .type = SPF_T_A, .spec = "foo-bar.123-x",
	    .cidr4 = 32, .cidr6 = 128 },
	{ "v=spf1 a:x.%%", 1, .n = 1, .type = SPF_T_A, .spec = "x.%%", .cidr4 = 32, .cidr6 = 128 },
	/* Not SPF at all. */
	{ "v=spf10", -1, .err = "not an SPF record" },
	{ "v=spf1mx", -1, .err = "not an SPF record" },
	{ "spf1 -all", -1, .err = "not an SPF record" },
	{ "", -1, .err = "not an SPF record" },
	/* Syntax errors: permerror. */
	{ "v=spf1 foo", -1, .err = "unknown mechanism" },
	{ "v=spf1 -redirect=x.example.com", -1, .err = "unknown mechanism" },
	{ "v=spf1 all:x", -1, .err = "all takes no argument" },
	{ "v=spf1 all/24", -1, .err = "all takes no argument" },
	{ "v=spf1 include", -1, .err = "missing argument" },
	{ "v=spf1 include:", -1, .err = "empty domain-spec" },
	{ "v=spf1 exists", -1, .err = "missing argument" },
	{ "v=spf1 exists:", -1, .err = "empty domain-spec" },
	{ "v=spf1 ip4", -1, .err = "missing argument" },
	{ "v=spf1 ip4:", -1, .err = "invalid IP network" },
	{ "v=spf1 ip4:1.2.3.4/33", -1, .err = "invalid IP network" },
	{ "v=spf1 ip4:1.2.3.4/032", -1, .err = "invalid IP network" },
	{ "v=spf1 ip4:1.2.3.4/", -1, .err = "invalid IP network" },
	{ "v=spf1 ip4:1.2.3", -1, .err = "invalid IP network" },
	{ "v=spf1 ip4:::1", -1, .err = "invalid IP network" },
	{ "v=spf1 ip6:1.2.3.4", -1, .err = "invalid IP network" },
	{ "v=spf1 ip6:::1/129", -1, .err = "invalid IP network" },
	{ "v=spf1 a/33", -1, .err = "invalid CIDR length" },
	{ "v=spf1 a//129", -1, .err = "invalid CIDR length" },
	{ "v=spf1 a:example.com/24/64", -1, .err = "invalid CIDR length" },
	{ "v=spf1 a:museum", -1, .err = "domain-spec does not end in a valid top label" },
	{ "v=spf1 a:foo.example.123", -1, .err = "domain-spec does not end in a valid top label" },
	{ "v=spf1 a:foo.example.-com", -1, .err = "domain-spec does not end in a valid top label" },
	{ "v=spf1 a:foo..", -1, .err = "domain-spec does not end in a valid top label" },
	{ "v=spf1 ptr/24", -1, .err = "missing argument" },
	{ "v=spf1 exists:%(ir).example.com", -1, .err = "invalid macro" },
	{ "v=spf1 exists:foo%.example.com", -1, .err = "invalid macro" },
	{ "v=spf1 exists:%{x}.example.com", -1, .err = "invalid macro" },
	{ "v=spf1 exists:%{c}.example.com", -1, .err = "invalid macro" },
	{ "v=spf1 exists:%{d0}.example.com", -1, .err = "invalid macro" },
	{ "v=spf1 exists:%{d", -1, .err = "invalid macro" },
	{ "v=spf1 exp=%{r}.example.com", -1, .err = "invalid macro" },
	{ "v=spf1 redirect=a.example.com redirect=b.example.com", -1, .err = "more than one redirect" },
	{ "v=spf1 exp=a.example.com exp=b.example.com", -1, .err = "more than one exp" },
	{ "v=spf1 foo=bar%", -1, .err = "invalid macro" },
	{ "v=spf1 a:ctrl.example.com\rptr", -1, .err = "control character in record" },
	{ "v=spf1 a\t-all", -1, .err = "control character in record" },
	{ "v=spf1 \x80" "a:example.net", -1, .err = "non-ASCII in record" },
};

static void
check_rec_case(const struct rec_case *c, struct span in, struct spf_record *rec)
{
	const char *err = NULL;
	int rc = spf_record_parse(in, rec, &err);

	CHECK_INT(rc, c->rc);
	if (rc != c->rc) {
		fprintf(stderr, "  case: %s (%s)\n", c->in, rc < 0 ? err : "parsed");
		return;
	}
	if (rc < 0) {
		CHECK_STR(err, c->err);
		return;
	}
	CHECK_INT(rec->n, c->n);
	if (c->n == 0 || rec->n == 0)
		return;
	CHECK_INT(rec->terms[0].type, c->type);
	/* .q left out (SPF_NONE) means the default qualifier, "+". */
	CHECK_INT(rec->terms[0].qualifier, c->type >= SPF_T_REDIRECT ? SPF_NEUTRAL
	                                   : c->q != SPF_NONE        ? c->q
	                                                             : SPF_PASS);
	CHECK_SPAN(rec->terms[0].spec, c->spec);
	if (c->cidr4 != 0 || c->type == SPF_T_A)
		CHECK_INT(rec->terms[0].cidr4, c->cidr4);
	if (c->cidr6 != 0 || c->type == SPF_T_A)
		CHECK_INT(rec->terms[0].cidr6, c->cidr6);
}

static void
test_record_cases(void)
{
	struct spf_record *rec = malloc(sizeof(*rec));

	for (size_t i = 0; i < nitems(rec_cases); i++) {
		struct span in = heap_span(rec_cases[i].in, strlen(rec_cases[i].in));

		check_rec_case(&rec_cases[i], in, rec);
		free((void *)in.p);
	}
	free(rec);
}

/* Every prefix of every case: no over-read, a clean answer each time. */
static void
test_record_truncations(void)
{
	struct spf_record *rec = malloc(sizeof(*rec));

	for (size_t i = 0; i < nitems(rec_cases); i++) {
		size_t len = strlen(rec_cases[i].in);

		for (size_t n = 0; n <= len; n++) {
			struct span in = heap_span(rec_cases[i].in, n);
			const char *err = NULL;
			int rc = spf_record_parse(in, rec, &err);

			CHECK(rc == 1 || (rc == -1 && err != NULL));
			free((void *)in.p);
		}
	}
	free(rec);
}

static void
test_record_terms(void)
{
	struct spf_record *rec = malloc(sizeof(*rec));
	const char *err = NULL;
	const char *txt = "v=spf1 ip4:192.0.2.1 a mx/24 include:x.example ~all redirect=r.example "
	                  "exp=e.example";

	CHECK_INT(spf_record_parse(span_str(txt), rec, &err), 1);
	CHECK_INT(rec->n, 7);
	CHECK_INT(rec->redirect, 5);
	CHECK_INT(rec->exp, 6);
	CHECK_SPAN(rec->terms[2].text, "mx/24");
	CHECK_INT(rec->terms[2].cidr4, 24);
	CHECK(memcmp(rec->terms[0].addr, "\xc0\x00\x02\x01", 4) == 0);
	CHECK_INT(rec->terms[4].qualifier, SPF_SOFTFAIL);
	free(rec);
}

/* ---- limits ---- */

static void
test_record_limits(void)
{
	struct spf_record *rec = malloc(sizeof(*rec));
	char *big = malloc(SPF_RECORD_MAX + 16);
	const char *err = NULL;
	size_t n;

	/* SPF_MAX_TERMS terms parse, one more does not. */
	n = (size_t)snprintf(big, SPF_RECORD_MAX, "v=spf1");
	for (int i = 0; i < SPF_MAX_TERMS; i++)
		n += (size_t)snprintf(big + n, SPF_RECORD_MAX - n, " a");
	CHECK_INT(spf_record_parse((struct span){ (uint8_t *)big, n }, rec, &err), 1);
	CHECK_INT(rec->n, SPF_MAX_TERMS);
	memcpy(big + n, " a", 2);
	CHECK_INT(spf_record_parse((struct span){ (uint8_t *)big, n + 2 }, rec, &err), -1);
	CHECK_STR(err, "too many terms");

	/* A record longer than SPF_RECORD_MAX is refused before anything else. */
	memset(big, ' ', SPF_RECORD_MAX + 1);
	memcpy(big, "v=spf1", 6);
	CHECK_INT(spf_record_parse((struct span){ (uint8_t *)big, SPF_RECORD_MAX }, rec, &err), 1);
	CHECK_INT(spf_record_parse((struct span){ (uint8_t *)big, SPF_RECORD_MAX + 1 }, rec, &err),
	          -1);
	CHECK_STR(err, "record too long");
	free(big);
	free(rec);
}

/* ---- macro expansion ---- */

static void
env_v4(struct spf_macro_env *env)
{
	*env = (struct spf_macro_env){
		.sender = "strong-bad@email.example.com",
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.family = AF_INET,
		.helo = "mx.example.org",
		.receiver = "rx.example.net",
		.now = 1700000000,
	};
	inet_pton(AF_INET, "192.0.2.3", env->addr);
}

static const struct macro_case {
	const char *in;
	bool exp, v6;
	const char *out; /* NULL: an error */
} macro_cases[] = {
	/* RFC 7208 7.4, every example. */
	{ "%{s}", .out = "strong-bad@email.example.com" },
	{ "%{o}", .out = "email.example.com" },
	{ "%{d}", .out = "email.example.com" },
	{ "%{d4}", .out = "email.example.com" },
	{ "%{d3}", .out = "email.example.com" },
	{ "%{d2}", .out = "example.com" },
	{ "%{d1}", .out = "com" },
	{ "%{dr}", .out = "com.example.email" },
	{ "%{d2r}", .out = "example.email" },
	{ "%{l}", .out = "strong-bad" },
	{ "%{l-}", .out = "strong.bad" },
	{ "%{lr}", .out = "strong-bad" },
	{ "%{lr-}", .out = "bad.strong" },
	{ "%{l1r-}", .out = "strong" },
	{ "%{ir}.%{v}._spf.%{d2}", .out = "3.2.0.192.in-addr._spf.example.com" },
	{ "%{lr-}.lp._spf.%{d2}", .out = "bad.strong.lp._spf.example.com" },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", .out = "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", .out = "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "%{d2}.trusted-domains.example.net", .out = "example.com.trusted-domains.example.net" },
	{ "%{ir}.%{v}._spf.%{d2}", .v6 = true,
	    .out = "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com" },
	/* The other letters. */
	{ "%{i}", .out = "192.0.2.3" },
	{ "%{h}", .out = "mx.example.org" },
	{ "%{p}", .out = "unknown" },
	{ "%{v}", .v6 = true, .out = "ip6" },
	{ "%{c}", .exp = true, .out = "192.0.2.3" },
	{ "%{c}", .exp = true, .v6 = true, .out = "2001:db8::cb01" },
	{ "%{r}", .exp = true, .out = "rx.example.net" },
	{ "%{t}", .exp = true, .out = "1700000000" },
	{ "%{c}", .out = NULL },
	{ "%{r}", .out = NULL },
	{ "%{t}", .out = NULL },
	{ "%{a}", .out = NULL },
	/* Escapes, upper case, delimiters. */
	{ "%%%_%-", .out = "% %20" },
	{ "%{S}", .out = "strong-bad%40email.example.com" },
	{ "%{L}", .out = "strong-bad" },
	{ "%{d2r+-}", .out = "email.example.com" }, /* no '.' among them: one part */
	{ "%{d2r.-}", .out = "example.email" },
	{ "%{l-+}", .out = "strong.bad" },
	{ "%{s2r@}", .out = NULL }, /* '@' is no delimiter */
	{ "%{l0}", .out = NULL },
	{ "%{l99999999999999999999}", .out = "strong-bad" },
	{ "%{d}", .out = "email.example.com" },
	{ "Hi %{l}, %{c} is not allowed.", .exp = true, .out = "Hi strong-bad, 192.0.2.3 is not allowed." },
	{ "a b", .out = NULL },
	{ "%", .out = NULL },
	{ "%{", .out = NULL },
	{ "%{d", .out = NULL },
	{ "%{d2", .out = NULL },
	{ "%{d2r", .out = NULL },
	{ "%x", .out = NULL },
	{ "\x80", .out = NULL },
	{ "", .out = "" },
};

static void
test_macro_cases(void)
{
	struct spf_macro_env env;
	char out[SPF_EXPAND_MAX + 1];

	for (size_t i = 0; i < nitems(macro_cases); i++) {
		const struct macro_case *c = &macro_cases[i];
		struct span in = heap_span(c->in, strlen(c->in));
		const char *err = NULL;
		int rc;

		env_v4(&env);
		if (c->v6) {
			env.family = AF_INET6;
			inet_pton(AF_INET6, "2001:db8::cb01", env.addr);
		}
		rc = spf_macro_expand(in, &env, c->exp, out, sizeof(out), &err);
		if (c->out == NULL) {
			CHECK_INT(rc, -1);
			CHECK(err != NULL);
		} else {
			CHECK_INT(rc, (int)strlen(c->out));
			if (rc >= 0)
				CHECK_STR(out, c->out);
		}
		/* The syntax check alone agrees. */
		CHECK_INT(spf_macro_expand(in, NULL, c->exp, NULL, 0, &err) < 0, c->out == NULL);
		free((void *)in.p);
	}
}

static void
test_macro_truncations(void)
{
	struct spf_macro_env env;
	char out[64];

	env_v4(&env);
	for (size_t i = 0; i < nitems(macro_cases); i++) {
		size_t len = strlen(macro_cases[i].in);

		for (size_t n = 0; n <= len; n++) {
			struct span in = heap_span(macro_cases[i].in, n);
			const char *err = NULL;
			int rc = spf_macro_expand(in, &env, true, out, sizeof(out), &err);

			CHECK(rc >= 0 ? strlen(out) == (size_t)rc : err != NULL);
			free((void *)in.p);
		}
	}
}

/* Expansion is bounded by the output buffer, never by the input. */
static void
test_macro_limits(void)
{
	struct spf_macro_env env;
	char out[SPF_EXPAND_MAX + 1], spec[4096];
	const char *err = NULL;
	size_t n = 0;

	env_v4(&env);
	while (n + 4 < sizeof(spec))
		n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%%{s}");
	CHECK_INT(spf_macro_expand((struct span){ (uint8_t *)spec, n }, &env, false, out, sizeof(out),
	                           &err),
	          -1);
	CHECK_STR(err, "macro expansion too long");
	/* Exactly full is fine; one octet more is not. */
	CHECK_INT(spf_macro_expand(span_str("%{d}"), &env, false, out, 18, &err), 17);
	CHECK_INT(spf_macro_expand(span_str("%{d}"), &env, false, out, 17, &err), -1);
	CHECK_INT(spf_macro_expand(span_str("x"), &env, false, out, 0, &err), -1);
	CHECK(spf_macro_uses_p(span_str("a.%{p}.b")));
	CHECK(spf_macro_uses_p(span_str("%{P2}")));
	CHECK(!spf_macro_uses_p(span_str("%%{p}")));
	CHECK(!spf_macro_uses_p(span_str("%{d}")));
}

static void
test_domain_truncate(void)
{
	char name[600];
	size_t n = 0;

	snprintf(name, sizeof(name), "example.com.");
	CHECK_INT(spf_domain_truncate(name), 11);
	CHECK_STR(name, "example.com");
	/* 30 labels of 8 octets: 269 octets; labels go from the left. */
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(name + n, sizeof(name) - n, "%s%08d", i ? "." : "", i);
	CHECK_INT(spf_domain_truncate(name), 251); /* 269 octets less two labels */
	CHECK(strncmp(name, "00000002.", 9) == 0);
}

/* ---- Received-SPF ---- */

static char *
buf_string(struct buf *b)
{
	char *s = malloc(buf_len(b) + 1);

	memcpy(s, buf_peek(b).p, buf_len(b));
	s[buf_len(b)] = '\0';
	return s;
}

static void
test_received_header(void)
{
	struct spf_request req = { .ip = "192.0.2.3", .sender = "a@example.com",
		                   .helo = "bad\r\nX-Injected: 1 (x)", .receiver = "mx.example.net" };
	struct spf_verdict v = { .result = SPF_PASS, .identity = "mailfrom",
		                 .sender = "a@example.com", .domain = "example.com",
		                 .mechanism = "ip4:192.0.2.0/24", .reason = "matched" };
	struct buf b;
	char *s;

	buf_init(&b, 128, 4096);
	CHECK_INT(spf_received_header(&v, &req, &b), 0);
	s = buf_string(&b);
	CHECK_STR(s, "Received-SPF: pass (mx.example.net: domain of a@example.com designates "
	             "192.0.2.3 as permitted sender)\r\n"
	             "\tclient-ip=192.0.2.3;\r\n"
	             "\tenvelope-from=\"a@example.com\";\r\n"
	             "\thelo=\"bad??X-Injected: 1 (x)\";\r\n"
	             "\treceiver=mx.example.net;\r\n"
	             "\tidentity=mailfrom;\r\n"
	             "\tmechanism=\"ip4:192.0.2.0/24\"\r\n");
	free(s);

	/* An error carries its reason as problem=, quotes escaped; the peer's
	   strings in the comment cannot close it early. */
	buf_clear(&b);
	req.ip = "2001:db8::1";
	req.helo = "h.example.org";
	v = (struct spf_verdict){ .result = SPF_PERMERROR, .identity = "helo",
		                  .sender = "post(master)@h.example.org", .domain = "h.example.org",
		                  .mechanism = "", .reason = "bad \"record\"" };
	CHECK_INT(spf_received_header(&v, &req, &b), 0);
	s = buf_string(&b);
	CHECK_STR(s, "Received-SPF: permerror (mx.example.net: permanent error in the policy of "
	             "post\\(master\\)@h.example.org for 2001:db8::1)\r\n"
	             "\tclient-ip=\"2001:db8::1\";\r\n"
	             "\tenvelope-from=\"post(master)@h.example.org\";\r\n"
	             "\thelo=h.example.org;\r\n"
	             "\treceiver=mx.example.net;\r\n"
	             "\tidentity=helo;\r\n"
	             "\tproblem=\"bad \\\"record\\\"\"\r\n");
	free(s);

	/* A full buffer is an error, not a crash. */
	buf_deinit(&b);
	buf_init(&b, 16, 40);
	CHECK_INT(spf_received_header(&v, &req, &b), -1);
	buf_deinit(&b);
}

/* ---- the asynchronous API, where no DNS answer is needed ---- */

struct done_rec {
	bool started, called, called_early;
	enum spf_result result;
	char reason[128], sender[300], identity[16];
};

static void
on_done(void *ctx, const struct spf_verdict *v)
{
	struct done_rec *d = ctx;

	d->called_early = !d->started;
	d->called = true;
	d->result = v->result;
	snprintf(d->reason, sizeof(d->reason), "%s", v->reason);
	snprintf(d->sender, sizeof(d->sender), "%s", v->sender);
	snprintf(d->identity, sizeof(d->identity), "%s", v->identity);
}

static const struct check_case {
	const char *ip, *sender, *helo;
	enum spf_result result;
	const char *sender_used, *identity;
	bool helo_identity;
} check_cases[] = {
	/* RFC 7208 4.3: no valid multi-label domain, no check. */
	{ "192.0.2.1", "", "[192.0.2.1]", SPF_NONE, "postmaster@[192.0.2.1]", "mailfrom", false },
	{ "192.0.2.1", "", "OEMCOMPUTER", SPF_NONE, "postmaster@OEMCOMPUTER", "mailfrom", false },
	{ "192.0.2.1", "a@foo..example.com", "h.example", SPF_NONE, "a@foo..example.com",
	    "mailfrom", false },
	{ "192.0.2.1", "a@[192.0.2.1]", "h.example", SPF_NONE, "a@[192.0.2.1]", "mailfrom", false },
	{ "192.0.2.1", "a@", "h.example", SPF_NONE, "a@", "mailfrom", false },
	/* RFC 7208 4.3: no local part means postmaster. */
	{ "192.0.2.1", "@1.2.3", "h.example", SPF_NONE, "postmaster@1.2.3", "mailfrom", false },
	{ "not-an-ip", "a@example.com", "h.example", SPF_PERMERROR, "a@example.com", "mailfrom", false },
	/* The HELO identity, when asked for, whatever the sender. */
	{ "2001:db8::1", "a@example.com", "OEMCOMPUTER", SPF_NONE, "postmaster@OEMCOMPUTER", "helo",
	    true },
};

static void
test_check_without_dns(void)
{
	uv_loop_t loop;
	const char *err;
	struct dns *dns;

	uv_loop_init(&loop);
	dns = dns_new_opts(&loop, &(struct dns_opts){ .server = "127.0.0.1@9", .trust_anchor = "" },
	                   &err);
	CHECK(dns != NULL);
	for (size_t i = 0; dns != NULL && i < nitems(check_cases); i++) {
		const struct check_case *c = &check_cases[i];
		struct spf_request req = { .ip = c->ip, .sender = c->sender, .helo = c->helo,
			                   .helo_identity = c->helo_identity };
		struct done_rec d = { 0 };

		spf_check_start(&loop, dns, &req, on_done, &d);
		d.started = true;
		for (int turns = 0; !d.called && turns < 100; turns++)
			uv_run(&loop, UV_RUN_ONCE);
		CHECK(d.called && !d.called_early);
		CHECK_INT(d.result, c->result);
		CHECK_STR(d.sender, c->sender_used);
		CHECK_STR(d.identity, c->identity);
		CHECK(d.reason[0] != '\0');
	}
	/* Cancelled before its answer: no callback, nothing leaks (ASan). */
	if (dns != NULL) {
		struct spf_request req = { .ip = "192.0.2.1", .sender = "a@example.com",
			                   .helo = "h.example" };
		struct done_rec d = { 0 };
		struct spf_check *c = spf_check_start(&loop, dns, &req, on_done, &d);

		spf_check_cancel(&c);
		CHECK(c == NULL);
		spf_check_cancel(&c);
		dns_free(&dns);
		uv_run(&loop, UV_RUN_DEFAULT);
		CHECK(!d.called);
	}
	CHECK_INT(uv_loop_close(&loop), 0);
}

static void
test_result_names(void)
{
	CHECK_STR(spf_result_name(SPF_NONE), "none");
	CHECK_STR(spf_result_name(SPF_NEUTRAL), "neutral");
	CHECK_STR(spf_result_name(SPF_PASS), "pass");
	CHECK_STR(spf_result_name(SPF_FAIL), "fail");
	CHECK_STR(spf_result_name(SPF_SOFTFAIL), "softfail");
	CHECK_STR(spf_result_name(SPF_TEMPERROR), "temperror");
	CHECK_STR(spf_result_name(SPF_PERMERROR), "permerror");
}

static const struct t_test tests[] = {
	T(test_record_cases),
	T(test_record_truncations),
	T(test_record_terms),
	T(test_record_limits),
	T(test_macro_cases),
	T(test_macro_truncations),
	T(test_macro_limits),
	T(test_domain_truncate),
	T(test_received_header),
	T(test_check_without_dns),
	T(test_result_names),
	{ 0 },
};

T_MAIN(tests)
