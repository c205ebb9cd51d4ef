/*
 * spf_eval.c -- test driver: runs the SPF evaluator (src/msgauth/spf.h)
 * against a given DNS server, one check per input line.
 *
 *   spf_eval -s 127.0.0.1@5353 [-t DNS_TIMEOUT_MS] [-T SPF_TIMEOUT_MS]
 *            [-r RECEIVER] [-H]
 *
 * Input lines (stdin): IP TAB SENDER TAB HELO [TAB "helo"], the sender
 * possibly empty; "helo" in the fourth field checks the HELO identity.
 * Output, one line each: RESULT TAB EXPLANATION TAB MECHANISM TAB REASON
 * (tabs and control characters in them become spaces); with -H the
 * Received-SPF header field follows on the next lines.
 * Limits: input lines of 4 KiB; every check is bounded by the evaluator's
 * own time cap. Used by tests/integration/test_spf_suite.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "base/buf.h"
#include "dns/dns.h"
#include "msgauth/spf.h"

struct job {
	const struct spf_request *req;
	bool header, done;
};

/* put_field - one output field, with tabs and controls made spaces. */
static void
put_field(const char *s, bool last)
{
	for (; s != NULL && *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
	putchar(last ? '\n' : '\t');
}

static void
on_done(void *ctx, const struct spf_verdict *v)
{
	struct job *j = ctx;

	put_field(spf_result_name(v->result), false);
	put_field(v->explanation, false);
	put_field(v->mechanism, false);
	put_field(v->reason, true);
	if (j->header) {
		struct buf b;

		buf_init(&b, 256, 4096);
		if (spf_received_header(v, j->req, &b) == 0)
			fwrite(buf_peek(&b).p, 1, buf_len(&b), stdout);
		buf_deinit(&b);
	}
	fflush(stdout);
	j->done = true;
}

/* split - the next TAB-separated field of *line (NUL-terminated in place). */
static char *
split(char **line)
{
	char *s = *line, *tab;

	if (s == NULL)
		return NULL;
	tab = strchr(s, '\t');
	if (tab != NULL)
		*tab++ = '\0';
	*line = tab;
	return s;
}

static int
run(uv_loop_t *loop, struct dns *dns, struct spf_request *base, bool header)
{
	char line[4096];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *rest = line, *ip, *sender, *helo, *mode;
		struct spf_request req = *base;
		struct job j = { .req = &req, .header = header };

		line[strcspn(line, "\r\n")] = '\0';
		ip = split(&rest);
		sender = split(&rest);
		helo = split(&rest);
		mode = split(&rest);
		if (ip == NULL || sender == NULL || helo == NULL) {
			fprintf(stderr, "spf_eval: expected IP TAB SENDER TAB HELO\n");
			return 1;
		}
		req.ip = ip;
		req.sender = sender;
		req.helo = helo;
		req.helo_identity = mode != NULL && strcmp(mode, "helo") == 0;
		spf_check_start(loop, dns, &req, on_done, &j);
		while (!j.done)
			uv_run(loop, UV_RUN_ONCE);
		uv_run(loop, UV_RUN_NOWAIT); /* the check's timer closes */
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct dns_opts o = { .trust_anchor = "" };
	struct spf_request base = { .receiver = "mx.example.test" };
	bool header = false;
	const char *err;
	struct dns *dns;
	uv_loop_t loop;
	int ch, rc;

	while ((ch = getopt(argc, argv, "s:t:T:r:H")) != -1) {
		switch (ch) {
		case 's':
			o.server = optarg;
			break;
		case 't':
			o.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'T':
			base.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			base.receiver = optarg;
			break;
		case 'H':
			header = true;
			break;
		default:
			fprintf(stderr, "usage: spf_eval -s ADDR@PORT [-t ms] [-T ms] [-r host] [-H]\n");
			return 2;
		}
	}
	uv_loop_init(&loop);
	if ((dns = dns_new_opts(&loop, &o, &err)) == NULL) {
		fprintf(stderr, "spf_eval: %s\n", err);
		return 1;
	}
	rc = run(&loop, dns, &base, header);
	dns_free(&dns);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}
