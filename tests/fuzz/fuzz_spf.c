/*
 * fuzz_spf.c -- libFuzzer target for the SPF record parser and macro
 * expansion (src/msgauth/spf_record.c, spf_macro.c).
 *
 * The input is parsed as a record, and also expanded as a domain-spec and
 * as explanation text. Invariants, checked with abort():
 *   - the parser answers 1 or -1 with a reason; on success every term lies
 *     inside the input, prefix lengths are in range, and every term's
 *     macro-string expands (the parser checked its syntax), bounded only
 *     by the output buffer;
 *   - an expansion fits its buffer, its length is what it returns, and the
 *     syntax-only check agrees with it apart from "too long";
 *   - truncating an expanded name leaves at most 253 octets, unless one
 *     label alone is longer.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <string.h>

#include "msgauth/spf.h"
#include "fuzz.h"

static struct spf_record rec;

static void
env_init(struct spf_macro_env *env, bool v6)
{
	*env = (struct spf_macro_env){
		.sender = "strong-bad@email.example.com",
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.family = v6 ? AF_INET6 : AF_INET,
		.ptr = "mx.example.com",
		.helo = "mx.example.org",
		.receiver = "rx.example.net",
		.now = 1700000000,
	};
	inet_pton(env->family, v6 ? "2001:db8::cb01" : "192.0.2.3", env->addr);
}

static bool
inside(struct span s, const uint8_t *data, size_t size)
{
	return s.n == 0 || (s.p >= data && s.p + s.n <= data + size);
}

/* check_expand - expand spec; returns the rc after checking the output. */
static int
check_expand(struct span spec, bool exp, bool v6)
{
	static char out[SPF_EXPAND_MAX + 1];
	struct spf_macro_env env;
	const char *err = NULL, *err2 = NULL;
	int rc, syntax;

	env_init(&env, v6);
	rc = spf_macro_expand(spec, &env, exp, out, sizeof(out), &err);
	syntax = spf_macro_expand(spec, NULL, exp, NULL, 0, &err2);
	FUZZ_ASSERT(syntax == 0 || (syntax == -1 && err2 != NULL));
	if (rc < 0) {
		FUZZ_ASSERT(err != NULL);
		FUZZ_ASSERT(syntax < 0 || strcmp(err, "macro expansion too long") == 0);
		return rc;
	}
	FUZZ_ASSERT(syntax == 0);
	FUZZ_ASSERT((size_t)rc < sizeof(out) && strlen(out) == (size_t)rc);
	if (!exp) {
		size_t n = spf_domain_truncate(out);

		FUZZ_ASSERT(n == strlen(out));
		FUZZ_ASSERT(n <= 253 || strchr(out, '.') == NULL);
	}
	return rc;
}

static void
check_record(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	int rc = spf_record_parse((struct span){ data, size }, &rec, &err);

	FUZZ_ASSERT(rc == 1 || (rc == -1 && err != NULL));
	if (rc != 1)
		return;
	FUZZ_ASSERT(rec.n <= SPF_MAX_TERMS && size <= SPF_RECORD_MAX);
	FUZZ_ASSERT(rec.redirect < (int)rec.n && rec.exp < (int)rec.n);
	for (size_t i = 0; i < rec.n; i++) {
		const struct spf_term *t = &rec.terms[i];
		const char *serr = NULL;

		FUZZ_ASSERT(inside(t->text, data, size) && inside(t->spec, data, size));
		FUZZ_ASSERT(t->cidr4 <= 32 && t->cidr6 <= 128);
		if (t->spec.n == 0)
			continue;
		/* The parser checked the syntax: only the size can fail now. */
		FUZZ_ASSERT(spf_macro_expand(t->spec, NULL, t->type == SPF_T_UNKNOWN_MOD, NULL, 0,
		                             &serr) == 0);
		check_expand(t->spec, t->type == SPF_T_UNKNOWN_MOD, false);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span s = { data, size };

	check_record(data, size);
	check_expand(s, false, false);
	check_expand(s, true, true);
	(void)spf_macro_uses_p(s);
	(void)spf_record_is_spf(s);
	return 0;
}
