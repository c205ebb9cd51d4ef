/*
 * cmd_queue.c -- `hikyaku queue list|show ID|flush|retry ID|delete ID`.
 *
 * Output of `list` (stable, for scripts; nothing at all when the queue is
 * empty), in arrival order, one line per message:
 *   ID SIZE ARRIVAL <SENDER>
 * ARRIVAL as YYYY-MM-DDTHH:MM:SSZ, SENDER "<>" for a bounce; then one line
 * per recipient, indented by two spaces:
 *   <RCPT> status=pending|sent|bounced attempts=N next=TIME relay=HOST reply="..."
 * (next only for pending ones, "asap" before the first attempt; relay and reply when there was an
 * attempt; values escaped like log values: non-printable bytes as \xHH, and in double quotes when
 * they hold a space, '=' or '"'). `show ID` prints the envelope file, an empty line, and the
 * message's header section. flush, retry and delete talk to a running daemon through queue/ctl/
 * (queue.h: the scheduler watches that directory); without a daemon,
 * retry and delete act on the spool files directly.
 * Exit status: 0 done, 1 failure or unknown id, 2 usage.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "cmd/cmd.h"
#include "cmd/priv.h"
#include "queue/queue.h"

#define QUEUE_USAGE "queue list | queue show|retry|delete ID | queue flush"
/* How long flush/retry/delete wait for the daemon to take the request. */
#define REQUEST_WAIT_MS 10000

static void
iso_time(int64_t t, char *dst, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(dst, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_rcpt(const struct queue_rcpt *r)
{
	char when[32], v[QUEUE_ENV_MAX_LINE * 4 + 8];

	printf("  <%s> status=%s attempts=%u", r->addr, queue_rcpt_status_name(r->status),
	       r->attempts);
	if (r->status == QUEUE_RCPT_PENDING && r->next == 0) {
		printf(" next=asap");
	} else if (r->status == QUEUE_RCPT_PENDING) {
		iso_time(r->next, when, sizeof(when));
		printf(" next=%s", when);
	}
	if (r->relay != NULL)
		printf(" relay=%s", log_value(v, sizeof(v), r->relay, strlen(r->relay)));
	if (r->reply != NULL)
		printf(" reply=%s", log_value(v, sizeof(v), r->reply, strlen(r->reply)));
	putchar('\n');
}

static void
print_msg(void *ctx, const struct queue_env *env, uint64_t size)
{
	char when[32];

	(void)ctx;
	iso_time(env->arrival, when, sizeof(when));
	printf("%s %llu %s <%s>\n", env->id, (unsigned long long)size, when, env->sender);
	for (size_t i = 0; i < env->nrcpts; i++)
		print_rcpt(&env->rcpts[i]);
}

static int
queue_cmd_list(struct queue *q)
{
	int skipped = queue_list(q, print_msg, NULL);

	if (skipped < 0) {
		fprintf(stderr, "hikyaku: cannot read %s/env\n", queue_dir(q));
		return 1;
	}
	if (skipped > 0)
		fprintf(stderr, "hikyaku: %d unreadable envelope(s) skipped\n", skipped);
	fflush(stdout);
	return 0;
}

/* Prints the header section of the message file (up to the empty line). */
static void
print_headers(struct queue *q, const char *id)
{
	char path[4096], line[4096];
	FILE *fp;

	if (queue_msg_path(q, id, path, sizeof(path)) < 0 || (fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "hikyaku: %s: message file missing\n", id);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
			break;
		fputs(line, stdout);
	}
	fclose(fp);
}

static int
queue_cmd_show(struct queue *q, const char *id)
{
	struct queue_env env;
	struct buf out;
	const char *error = "no such message";
	int rc = queue_env_read(q, id, &env, &error);

	if (rc <= 0) {
		fprintf(stderr, "hikyaku: %s: %s\n", id, rc == 0 ? "no such message" : error);
		return 1;
	}
	buf_init(&out, 1024, QUEUE_ENV_MAX_SIZE);
	queue_env_format(&env, &out);
	fwrite(buf_peek(&out).p, 1, buf_peek(&out).n, stdout);
	putchar('\n');
	buf_deinit(&out);
	queue_env_deinit(&env);
	print_headers(q, id);
	return 0;
}

static int
queue_cmd_request(struct queue *q, const char *what, const char *id)
{
	const char *error = NULL;
	int rc = queue_request(q, what, id, REQUEST_WAIT_MS, &error);

	if (rc < 0) {
		fprintf(stderr, "hikyaku: queue %s: %s\n", what, error);
		return 1;
	}
	if (rc == 0 && id != NULL && strcmp(what, "flush") != 0) {
		/* No daemon and no such file, or the daemon did not answer. */
		fprintf(stderr,
		        "hikyaku: queue %s %s: no such message, or the daemon did not "
		        "take the request\n",
		        what, id);
		return 1;
	}
	if (rc == 0)
		printf("%s: no scheduler running; nothing to do\n", what);
	return 0;
}

int
cmd_queue(struct conf *conf, int argc, char **argv)
{
	const char *error;
	struct queue *q;
	int rc;

	if (argc < 2)
		return cmd_usage_error(QUEUE_USAGE);
	bool with_id = strcmp(argv[1], "show") == 0 || strcmp(argv[1], "retry") == 0 ||
	               strcmp(argv[1], "delete") == 0;
	if ((with_id && argc != 3) || (!with_id && argc != 2))
		return cmd_usage_error(QUEUE_USAGE);
	if (with_id && !queue_id_valid(argv[2])) {
		fprintf(stderr, "hikyaku: %s: not a queue id\n", argv[2]);
		return 1;
	}
	if (priv_prepare_data_dir(conf, &error) < 0 || priv_drop(conf->run_user, &error) < 0 ||
	    (q = queue_open(conf->data_dir, NULL, &error)) == NULL) {
		fprintf(stderr, "hikyaku: %s\n", error);
		return 1;
	}
	if (strcmp(argv[1], "list") == 0)
		rc = queue_cmd_list(q);
	else if (strcmp(argv[1], "show") == 0)
		rc = queue_cmd_show(q, argv[2]);
	else if (strcmp(argv[1], "flush") == 0)
		rc = queue_cmd_request(q, "flush", NULL);
	else if (with_id)
		rc = queue_cmd_request(q, argv[1], argv[2]);
	else
		rc = cmd_usage_error(QUEUE_USAGE);
	queue_close(&q);
	return rc;
}
