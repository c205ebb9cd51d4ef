/*
 * dkim_tool.c -- drives the DKIM library (src/msgauth/dkim.h) from the
 * command line, for tests/integration/test_dkim.py:
 *
 *   dkim_tool keygen rsa|ed25519 PATH       write a key, print its record
 *   dkim_tool txt PATH                       the key record, zone-file form
 *   dkim_tool path DATA_DIR DOMAIN SELECTOR  where a key lives
 *   dkim_tool sign [-t NOW] [-x EXPIRE] [-c CHUNK] -k DOMAIN:SELECTOR:KEYFILE... < msg
 *   dkim_tool sign [-t NOW] [-c CHUNK] -D DATA_DIR -d DOMAIN < msg
 *       prints the message with the DKIM-Signature fields prepended
 *   dkim_tool verify -r DNS_SERVER [-t NOW] [-c CHUNK] [-C] < msg
 *       one line per signature: "RESULT d=.. s=.. a=.. b=.. testing=0|1
 *       reason=..", then "skipped=N"; with -C, frees the verifier right
 *       after finishing (lookups in flight) and prints only "cancelled"
 *
 * The message is fed in chunks of CHUNK bytes (0: random sizes 1..64 from
 * a fixed seed) to exercise the streaming paths. Verification runs on a
 * real libuv loop with the real resolver, bounded by a 60 s timer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/xalloc.h"
#include "dns/dns.h"
#include "msgauth/dkim.h"

#define TOOL_MAX_INPUT (64 * 1024 * 1024)

static void
usage(void)
{
	fprintf(stderr, "usage: dkim_tool keygen rsa|ed25519 PATH | txt PATH |\n"
	                "       path DATA_DIR DOMAIN SELECTOR |\n"
	                "       sign [-t NOW] [-x EXPIRE] [-c CHUNK] -k DOMAIN:SELECTOR:KEY... |\n"
	                "       sign [-t NOW] [-c CHUNK] -D DATA_DIR -d DOMAIN |\n"
	                "       verify -r SERVER [-t NOW] [-c CHUNK] [-C]\n");
	exit(2);
}

static struct buf
read_stdin(void)
{
	struct buf b;

	buf_init(&b, 65536, TOOL_MAX_INPUT);
	for (;;) {
		size_t avail;
		uint8_t *p = buf_reserve(&b, 65536, &avail);
		ssize_t n;

		if (p == NULL) {
			fprintf(stderr, "dkim_tool: input too large\n");
			exit(1);
		}
		if ((n = read(0, p, avail)) <= 0)
			break;
		buf_commit(&b, (size_t)n);
	}
	return b;
}

/* Feeds `in` to fn in chunks (0: pseudo-random 1..64, fixed seed). */
static void
feed(struct span in, size_t chunk, void (*fn)(void *, const void *, size_t), void *obj)
{
	unsigned seed = 12345;

	for (size_t off = 0; off < in.n;) {
		size_t n = chunk != 0 ? chunk : 1 + (size_t)(rand_r(&seed) % 64);

		n = MIN(n, in.n - off);
		fn(obj, in.p + off, n);
		off += n;
	}
}

static void
sign_feed(void *s, const void *p, size_t n)
{
	dkim_sign_feed(s, p, n);
}

static void
verify_feed(void *v, const void *p, size_t n)
{
	dkim_verify_feed(v, p, n);
}

static int
cmd_keygen(int argc, char **argv)
{
	const char *err;
	struct buf out;

	if (argc != 3 || (strcmp(argv[1], "rsa") != 0 && strcmp(argv[1], "ed25519") != 0))
		usage();
	if (dkim_keygen(strcmp(argv[1], "rsa") == 0 ? DKIM_KEY_RSA : DKIM_KEY_ED25519, argv[2],
	                &err) == -1) {
		fprintf(stderr, "dkim_tool: %s: %s\n", argv[2], err);
		return 1;
	}
	buf_init(&out, 1024, 8192);
	if (dkim_key_txt(argv[2], &out, &err) == -1) {
		fprintf(stderr, "dkim_tool: %s\n", err);
		return 1;
	}
	printf("%.*s\n", (int)buf_len(&out), (const char *)buf_peek(&out).p);
	buf_deinit(&out);
	return 0;
}

static int
cmd_txt(int argc, char **argv)
{
	const char *err;
	struct buf txt, zone;
	char *s;

	if (argc != 2)
		usage();
	buf_init(&txt, 1024, 8192);
	buf_init(&zone, 1024, 16384);
	if (dkim_key_txt(argv[1], &txt, &err) == -1) {
		fprintf(stderr, "dkim_tool: %s\n", err);
		return 1;
	}
	s = xstrndup((const char *)buf_peek(&txt).p, buf_len(&txt));
	dkim_txt_zone(s, &zone);
	printf("%.*s\n", (int)buf_len(&zone), (const char *)buf_peek(&zone).p);
	free(s);
	buf_deinit(&txt);
	buf_deinit(&zone);
	return 0;
}

static int
cmd_path(int argc, char **argv)
{
	char *p;

	if (argc != 4)
		usage();
	if ((p = dkim_key_path(argv[1], argv[2], argv[3])) == NULL) {
		fprintf(stderr, "dkim_tool: bad domain or selector\n");
		return 1;
	}
	printf("%s\n", p);
	free(p);
	return 0;
}

/* load_key - "DOMAIN:SELECTOR:PATH" */
static struct dkim_sign_key *
load_key(const char *arg)
{
	char *d = xstrdup(arg), *s, *path;
	struct dkim_sign_key *k = NULL;
	const char *err = "expected DOMAIN:SELECTOR:KEYFILE";

	if ((s = strchr(d, ':')) != NULL && (path = strchr(s + 1, ':')) != NULL) {
		*s++ = '\0';
		*path++ = '\0';
		k = dkim_sign_key_load(path, d, s, &err);
	}
	if (k == NULL) {
		fprintf(stderr, "dkim_tool: %s: %s\n", arg, err);
		exit(1);
	}
	free(d);
	return k;
}

static int
cmd_sign(int argc, char **argv)
{
	struct dkim_sign_key *keys[2];
	size_t nkeys = 0, chunk = 0;
	time_t now = 0, expire = 0;
	struct dkim_sign *s;
	struct buf in, out;
	const char *err, *data_dir = NULL, *domain = NULL;
	int c, rc = 0;

	while ((c = getopt(argc, argv, "t:x:c:k:D:d:")) != -1) {
		if (c == 't')
			now = (time_t)strtoll(optarg, NULL, 10);
		else if (c == 'x')
			expire = (time_t)strtoll(optarg, NULL, 10);
		else if (c == 'c')
			chunk = (size_t)strtoul(optarg, NULL, 10);
		else if (c == 'k' && nkeys < nitems(keys))
			keys[nkeys++] = load_key(optarg);
		else if (c == 'D')
			data_dir = optarg;
		else if (c == 'd')
			domain = optarg;
		else
			usage();
	}
	if (data_dir != NULL && domain != NULL && nkeys == 0 &&
	    dkim_sign_keys_load(data_dir, domain, keys, &nkeys, &err) == -1) {
		fprintf(stderr, "dkim_tool: %s: %s\n", domain, err);
		return 1;
	}
	if (nkeys == 0)
		usage();
	in = read_stdin();
	s = dkim_sign_new(keys, nkeys, now);
	if (expire != 0)
		dkim_sign_set_expire(s, expire);
	feed(buf_peek(&in), chunk, sign_feed, s);
	buf_init(&out, 4096, 65536);
	if (dkim_sign_finish(s, &out, &err) == -1) {
		fprintf(stderr, "dkim_tool: sign: %s\n", err);
		rc = 1;
	} else {
		fwrite(buf_peek(&out).p, 1, buf_len(&out), stdout);
		fwrite(buf_peek(&in).p, 1, buf_len(&in), stdout);
	}
	dkim_sign_free(&s);
	for (size_t i = 0; i < nkeys; i++)
		dkim_sign_key_free(&keys[i]);
	buf_deinit(&in);
	buf_deinit(&out);
	return rc;
}

struct run {
	uv_timer_t guard;
	bool done;
};

static void
verified(void *ctx, const struct dkim_sig_result *r, size_t n, size_t nskipped)
{
	struct run *run = ctx;
	char reason[sizeof(r->reason) + 1];

	for (size_t i = 0; i < n; i++) {
		snprintf(reason, sizeof(reason), "%s", r[i].reason);
		for (char *p = reason; *p != '\0'; p++)
			if (*p == ' ')
				*p = '_'; /* one token per field, for the test's parser */
		printf("%s d=%s s=%s a=%s b=%s testing=%d reason=%s\n",
		       dkim_result_name(r[i].result), r[i].d, r[i].s, r[i].a, r[i].b, r[i].testing,
		       reason);
	}
	printf("skipped=%zu\n", nskipped);
	run->done = true;
	uv_timer_stop(&run->guard);
}

static void
guard_fired(uv_timer_t *t)
{
	fprintf(stderr, "dkim_tool: verification did not finish in time\n");
	exit(1);
}

static int
cmd_verify(int argc, char **argv)
{
	const char *server = NULL, *err;
	size_t chunk = 0;
	time_t now = 0;
	struct dns_opts o = {.trust_anchor = ""};
	struct run run = {.done = false};
	struct dkim_verify *v;
	struct dns *dns;
	struct buf in;
	bool cancel = false;
	int c;

	while ((c = getopt(argc, argv, "r:t:c:C")) != -1) {
		if (c == 'r')
			server = optarg;
		else if (c == 'C')
			cancel = true;
		else if (c == 't')
			now = (time_t)strtoll(optarg, NULL, 10);
		else if (c == 'c')
			chunk = (size_t)strtoul(optarg, NULL, 10);
		else
			usage();
	}
	o.server = server;
	o.timeout_ms = 10000;
	if ((dns = dns_new_opts(uv_default_loop(), &o, &err)) == NULL) {
		fprintf(stderr, "dkim_tool: dns: %s\n", err);
		return 1;
	}
	in = read_stdin();
	v = dkim_verify_new(dns, now);
	feed(buf_peek(&in), chunk, verify_feed, v);
	uv_timer_init(uv_default_loop(), &run.guard);
	uv_timer_start(&run.guard, guard_fired, 60000, 0);
	if (dkim_verify_finish(v, uv_default_loop(), verified, &run) == -1)
		return 1;
	if (cancel) {
		dkim_verify_free(&v); /* lookups in flight: no callback may follow */
		printf("cancelled\n");
	}
	while (!cancel && !run.done && uv_run(uv_default_loop(), UV_RUN_ONCE) != 0)
		;
	dkim_verify_free(&v);
	dns_free(&dns);
	uv_close((uv_handle_t *)&run.guard, NULL);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* let the closes finish */
	buf_deinit(&in);
	return run.done != cancel ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "txt") == 0)
		return cmd_txt(argc - 1, argv + 1);
	if (strcmp(argv[1], "path") == 0)
		return cmd_path(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argc - 1, argv + 1);
	usage();
}
