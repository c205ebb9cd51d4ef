/*
 * test_store.c -- accounts and Maildir delivery in a mkdtemp directory:
 * domains, users and their validation, argon2id hashes, and commits through
 * a real libuv loop (exact bytes, S= size, several recipients, abort, batch,
 * tmp cleanup on reopen).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store/maildir.h"
#include "store/store.h"

static char tmpdir[64];

/* A fresh data_dir under tmpdir. */
static struct store *
open_fresh(const char *name)
{
	char path[256];
	const char *error = NULL;
	struct store *s;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	s = store_open(path, true, &error);
	if (s == NULL)
		t_fail(__FILE__, __LINE__, error);
	return s;
}

static void
collect(void *ctx, const char *name)
{
	char *out = ctx;

	strcat(out, name);
	strcat(out, " ");
}

static void
test_store_domains(void)
{
	struct store *s = open_fresh("domains");
	const char *error = NULL;
	char list[256] = "";

	if (s == NULL)
		return;
	CHECK_INT(store_domain_add(s, "Example.ORG", &error), 1);
	CHECK_INT(store_domain_add(s, "example.org", &error), 0);
	CHECK_INT(store_domain_add(s, "a.example", &error), 1);
	CHECK_INT(store_domain_add(s, "bad_domain.example", &error), -1);
	CHECK_STR(error, "bad domain: letters, digits, '-' and '.' only");
	CHECK_INT(store_domain_add(s, "-a.example", &error), -1);
	CHECK_INT(store_domain_add(s, "a..example", &error), -1);
	CHECK_INT(store_domain_add(s, "a.example.", &error), -1);
	CHECK_INT(store_domain_add(s, "", &error), -1);
	CHECK_INT(store_domain_add(s, "caf\xc3\xa9.example", &error), -1);
	CHECK_STR(error, "bad domain: not ASCII (use the xn-- form)");
	CHECK_INT(store_domain_list(s, collect, list), 0);
	CHECK_STR(list, "a.example example.org ");
	CHECK_INT(store_domain_is_local(s, "EXAMPLE.org"), 1);
	CHECK_INT(store_domain_is_local(s, "example.net"), 0);
	CHECK_INT(store_domain_is_local(s, "../etc"), 0);
	CHECK_INT(store_domain_del(s, "a.example", &error), 1);
	CHECK_INT(store_domain_del(s, "a.example", &error), 0);
	list[0] = '\0';
	CHECK_INT(store_domain_list(s, collect, list), 0);
	CHECK_STR(list, "example.org ");
	store_close(&s);
	CHECK(s == NULL);
}

/* Local parts that could escape data_dir, or are not dot-atoms. */
static const char *const bad_addresses[] = {
        "../x@example.org",
        "..@example.org",
        ".x@example.org",
        "x.@example.org",
        "a..b@example.org",
        "a/b@example.org",
        "a\\b@example.org",
        "a\tb@example.org",
        "a b@example.org",
        "a\x7f@example.org",
        "\xc3\xa9@example.org",
        "\"quoted\"@example.org",
        "@example.org",
        "noat.example.org",
        "x@",
        "x@../../etc",
        "0123456789012345678901234567890123456789012345678901234567890123456789@example.org",
};

static void
test_store_users(void)
{
	struct store *s = open_fresh("users");
	char list[512] = "", hash[crypto_pwhash_STRBYTES], dir[512];
	const char *error = NULL;
	struct stat st;

	if (s == NULL)
		return;
	CHECK_INT(store_user_add(s, "alice@example.org", "password-1", &error), -1);
	CHECK_STR(error,
	          "example.org is not a local domain (first: hikyaku domain add example.org)");
	CHECK_INT(store_domain_add(s, "example.org", &error), 1);
	for (size_t i = 0; i < nitems(bad_addresses); i++) {
		error = NULL;
		if (store_user_add(s, bad_addresses[i], "password-1", &error) != -1 ||
		    error == NULL)
			t_fail(__FILE__, __LINE__, bad_addresses[i]);
	}
	CHECK_INT(store_user_add(s, "bob@example.org", "short", &error), -1);
	CHECK_STR(error, "password too short (min 8 bytes)");
	CHECK_INT(store_user_add(s, "Alice@Example.ORG", "password-1", &error), 1);
	CHECK_INT(store_user_add(s, "alice@example.org", "password-2", &error), 0);
	CHECK_INT(store_user_add(s, "b.o+b@example.org", "password-3", &error), 1);
	CHECK_INT(store_user_list(s, NULL, collect, list), 0);
	CHECK_STR(list, "alice@example.org b.o+b@example.org ");

	CHECK_INT(store_user_exists(s, "ALICE@example.org"), 1);
	CHECK_INT(store_user_exists(s, "alice@EXAMPLE.ORG"), 1);
	CHECK_INT(store_user_exists(s, "carol@example.org"), 0);
	CHECK_INT(store_user_exists(s, "../alice@example.org"), 0);

	/* The Maildir exists from the start, private. */
	CHECK_INT(store_user_maildir(s, "Alice@example.org", dir, sizeof(dir)), 0);
	strcat(dir, "/new");
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);

	CHECK_INT(store_user_get_hash(s, "alice@example.org", hash), 1);
	CHECK(strncmp(hash, "$argon2id$", 10) == 0);
	CHECK_INT(store_password_verify(hash, "password-1"), 1);
	CHECK_INT(store_password_verify(hash, "password-2"), 0);
	CHECK_INT(store_password_verify(hash, ""), 0);
	CHECK_INT(store_user_get_hash(s, "nobody@example.org", hash), 0);

	CHECK_INT(store_user_passwd(s, "alice@example.org", "password-9", &error), 1);
	CHECK_INT(store_user_passwd(s, "carol@example.org", "password-9", &error), 0);
	CHECK_INT(store_user_get_hash(s, "ALICE@example.org", hash), 1);
	CHECK_INT(store_password_verify(hash, "password-9"), 1);
	CHECK_INT(store_password_verify(hash, "password-1"), 0);

	/* A domain with users stays; deleting a user keeps its Maildir. */
	CHECK_INT(store_domain_del(s, "example.org", &error), -1);
	CHECK_STR(error, "domain example.org still has 2 user(s); delete them first");
	CHECK_INT(store_user_del(s, "alice@example.org", &error), 1);
	CHECK_INT(store_user_del(s, "alice@example.org", &error), 0);
	CHECK_INT(store_user_exists(s, "alice@example.org"), 0);
	CHECK(stat(dir, &st) == 0);
	list[0] = '\0';
	CHECK_INT(store_user_list(s, "example.org", collect, list), 0);
	CHECK_STR(list, "b.o+b@example.org ");
	store_close(&s);
}

/* ---- delivery ---- */

struct done_rec {
	int calls, status;
	char error[512];
};

static void
on_done(void *ctx, int status, const char *error)
{
	struct done_rec *d = ctx;

	d->calls++;
	d->status = status;
	snprintf(d->error, sizeof(d->error), "%s", error != NULL ? error : "");
}

/* Names in DIR, sorted by readdir order, joined with ' '; count returned. */
static int
list_dir(const char *dir, char *out, size_t size)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	out[0] = '\0';
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		strncat(out, de->d_name, size - strlen(out) - 2);
		strcat(out, " ");
	}
	closedir(d);
	return n;
}

/* The one file in the user's new/: its name and bytes. */
static int
read_new(struct store *s, const char *address, char *name, size_t namesize, char *data, size_t *len)
{
	char dir[512], path[1024];
	FILE *fp;

	store_user_maildir(s, address, dir, sizeof(dir));
	strcat(dir, "/new");
	if (list_dir(dir, name, namesize) != 1)
		return -1;
	name[strlen(name) - 1] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	*len = fread(data, 1, *len, fp);
	fclose(fp);
	return 0;
}

static struct store *
open_mail_store(const char *name)
{
	struct store *s = open_fresh(name);
	const char *error;

	if (s == NULL)
		return NULL;
	store_domain_add(s, "example.org", &error);
	store_user_add(s, "alice@example.org", "password-1", &error);
	store_user_add(s, "bob@example.org", "password-2", &error);
	return s;
}

static void
test_maildir_commit(void)
{
	static const char msg[] = "Subject: hi\r\n\r\nbody line\r\n";
	struct store *s = open_mail_store("commit");
	struct done_rec d = {0};
	char name[512], data[256], tmp[512], want[64];
	const char *error;
	struct maildir_tx *tx;
	uv_loop_t loop;
	size_t len;

	if (s == NULL)
		return;
	uv_loop_init(&loop);
	CHECK_INT(store_commit_start(s, &loop), 0);
	CHECK((tx = maildir_tx_begin(s, &error)) != NULL);
	CHECK_INT(maildir_tx_write(tx, msg, 10), 0);
	CHECK_INT(maildir_tx_write(tx, msg + 10, sizeof(msg) - 1 - 10), 0);
	CHECK_INT(maildir_tx_add_rcpt(tx, "Alice@EXAMPLE.org"), 0);
	CHECK_INT(maildir_tx_add_rcpt(tx, "alice@example.org"), 0); /* repeated: once */
	CHECK_INT(maildir_tx_add_rcpt(tx, "bob@example.org"), 0);
	CHECK_INT(maildir_tx_add_rcpt(tx, "carol@example.org"), -1);
	maildir_tx_commit(tx, on_done, &d);
	CHECK_INT(d.calls, 0); /* completions come from the loop */
	while (d.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_INT(d.status, 1);
	CHECK_STR(d.error, "");

	snprintf(want, sizeof(want), ",S=%zu", sizeof(msg) - 1);
	for (int i = 0; i < 2; i++) {
		len = sizeof(data);
		CHECK_INT(read_new(s, i == 0 ? "alice@example.org" : "bob@example.org", name,
		                   sizeof(name), data, &len),
		          0);
		CHECK_INT(len, sizeof(msg) - 1);
		CHECK(memcmp(data, msg, sizeof(msg) - 1) == 0);
		CHECK(strlen(name) > strlen(want) &&
		      strcmp(name + strlen(name) - strlen(want), want) == 0);
		CHECK(strstr(name, ".M") != NULL && strstr(name, "P") != NULL &&
		      strstr(name, "Q") != NULL);
	}
	snprintf(tmp, sizeof(tmp), "%s/commit/tmp", tmpdir);
	CHECK_INT(list_dir(tmp, name, sizeof(name)), 0);

	store_commit_stop(s);
	uv_run(&loop, UV_RUN_DEFAULT); /* runs the async handle's close */
	CHECK_INT(uv_loop_close(&loop), 0);
	store_close(&s);
}

/* Bigger than the write buffer, in odd pieces; and the synchronous path. */
static void
test_maildir_large_sync(void)
{
	struct store *s = open_mail_store("large");
	size_t total = 300 * 1024 + 7, len = total + 1;
	char *msg = malloc(total), *data = malloc(total + 1), name[512];
	struct done_rec d = {0};
	struct maildir_tx *tx;
	const char *error;

	if (s == NULL)
		return;
	for (size_t i = 0; i < total; i++)
		msg[i] = (char)('a' + i % 26);
	CHECK((tx = maildir_tx_begin(s, &error)) != NULL);
	CHECK_INT(maildir_tx_add_rcpt(tx, "bob@example.org"), 0);
	for (size_t off = 0, step = 1; off < total; off += step, step = step * 3 + 1) {
		if (step > total - off)
			step = total - off;
		CHECK_INT(maildir_tx_write(tx, msg + off, step), 0);
	}
	maildir_tx_commit(tx, on_done, &d); /* no committer: inline */
	CHECK_INT(d.calls, 1);
	CHECK_INT(d.status, 1);
	CHECK_INT(read_new(s, "bob@example.org", name, sizeof(name), data, &len), 0);
	CHECK_INT(len, total);
	CHECK(memcmp(data, msg, total) == 0);
	CHECK(strstr(name, ",S=307207") != NULL);
	free(msg);
	free(data);
	store_close(&s);
}

static void
test_maildir_abort_and_fail(void)
{
	struct store *s = open_mail_store("abort");
	char dir[512], tmp[512], names[512];
	struct done_rec d = {0};
	struct maildir_tx *tx;
	const char *error;

	if (s == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s/abort/tmp", tmpdir);
	store_user_maildir(s, "alice@example.org", dir, sizeof(dir));
	strcat(dir, "/new");

	CHECK((tx = maildir_tx_begin(s, &error)) != NULL);
	CHECK_INT(maildir_tx_write(tx, "x\r\n", 3), 0);
	CHECK_INT(maildir_tx_add_rcpt(tx, "alice@example.org"), 0);
	CHECK_INT(list_dir(tmp, names, sizeof(names)), 1);
	maildir_tx_abort(&tx);
	CHECK(tx == NULL);
	maildir_tx_abort(&tx); /* NULL is fine */
	CHECK_INT(list_dir(tmp, names, sizeof(names)), 0);
	CHECK_INT(list_dir(dir, names, sizeof(names)), 0);

	/* No recipients: fails, leaves nothing. */
	CHECK((tx = maildir_tx_begin(s, &error)) != NULL);
	CHECK_INT(maildir_tx_write(tx, "x\r\n", 3), 0);
	maildir_tx_commit(tx, on_done, &d);
	CHECK_INT(d.calls, 1);
	CHECK_INT(d.status, -1);
	CHECK_INT(list_dir(tmp, names, sizeof(names)), 0);
	CHECK_INT(list_dir(dir, names, sizeof(names)), 0);
	store_close(&s);
}

/* Many commits queued before the loop runs: all land, all complete. */
static void
test_maildir_batch(void)
{
	enum { N = 40 };
	struct store *s = open_mail_store("batch");
	struct done_rec d[N];
	char dir[512], names[N * 128];
	uv_loop_t loop;
	const char *error;
	int pending = N;

	if (s == NULL)
		return;
	memset(d, 0, sizeof(d));
	uv_loop_init(&loop);
	CHECK_INT(store_commit_start(s, &loop), 0);
	for (int i = 0; i < N; i++) {
		struct maildir_tx *tx = maildir_tx_begin(s, &error);
		char line[64];

		snprintf(line, sizeof(line), "Message: %d\r\n", i);
		maildir_tx_write(tx, line, strlen(line));
		maildir_tx_add_rcpt(tx, i % 2 ? "alice@example.org" : "bob@example.org");
		maildir_tx_commit(tx, on_done, &d[i]);
	}
	while (pending > 0) {
		uv_run(&loop, UV_RUN_ONCE);
		pending = N;
		for (int i = 0; i < N; i++)
			pending -= d[i].calls;
	}
	for (int i = 0; i < N; i++)
		CHECK_INT(d[i].status, 1);
	store_user_maildir(s, "alice@example.org", dir, sizeof(dir));
	strcat(dir, "/new");
	CHECK_INT(list_dir(dir, names, sizeof(names)), N / 2);
	store_commit_stop(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
	store_close(&s);
}

/* A Maildir removed behind our back is made again at delivery. */
static void
test_maildir_recreate(void)
{
	struct store *s = open_mail_store("recreate");
	char dir[512], cmd[600], name[512], data[64];
	struct done_rec d = {0};
	struct maildir_tx *tx;
	const char *error;
	size_t len = sizeof(data);

	if (s == NULL)
		return;
	store_user_maildir(s, "bob@example.org", dir, sizeof(dir));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_INT(system(cmd), 0);
	tx = maildir_tx_begin(s, &error);
	maildir_tx_write(tx, "hello\r\n", 7);
	CHECK_INT(maildir_tx_add_rcpt(tx, "bob@example.org"), 0);
	maildir_tx_commit(tx, on_done, &d);
	CHECK_INT(d.status, 1);
	CHECK_INT(read_new(s, "bob@example.org", name, sizeof(name), data, &len), 0);
	CHECK_INT(len, 7);
	store_close(&s);
}

/* Leftover temp files go at the next open, unless another store is open. */
static void
test_store_tmp_cleanup(void)
{
	struct store *s = open_fresh("cleanup"), *other;
	char tmp[512], names[512], path[1024];
	const char *error;
	int fd;

	if (s == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s/cleanup/tmp", tmpdir);
	snprintf(path, sizeof(path), "%s/1234.M1P1Q1.host", tmp);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	/* A second store while the first is open must not touch it. */
	other = open_fresh("cleanup");
	CHECK_INT(list_dir(tmp, names, sizeof(names)), 1);
	store_close(&other);
	store_close(&s);
	s = open_fresh("cleanup");
	CHECK_INT(list_dir(tmp, names, sizeof(names)), 0);
	store_close(&s);

	/* Without create, a missing database is an error. */
	snprintf(path, sizeof(path), "%s/nothing", tmpdir);
	mkdir(path, 0700);
	snprintf(tmp, sizeof(tmp), "%s/nothing/tmp", tmpdir);
	mkdir(tmp, 0700);
	CHECK(store_open(path, false, &error) == NULL);
	CHECK(strstr(error, "hikyaku.db") != NULL);
}

static void
test_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		t_fail(__FILE__, __LINE__, "mkdtemp");
}

static void
test_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK_INT(system(cmd), 0);
}

static const struct t_test tests[] = {
        T(test_setup),
        T(test_store_domains),
        T(test_store_users),
        T(test_maildir_commit),
        T(test_maildir_large_sync),
        T(test_maildir_abort_and_fail),
        T(test_maildir_batch),
        T(test_maildir_recreate),
        T(test_store_tmp_cleanup),
        T(test_teardown),
        {0},
};
T_MAIN(tests)
