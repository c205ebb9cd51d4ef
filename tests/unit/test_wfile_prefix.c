/*
 * test_wfile_prefix.c -- a prefix in front of a spooled file
 * (src/base/wfile_prefix.c): the in-buffer path (nothing written yet) and
 * the rewrite path (copy_file_range into a new file renamed over the old
 * one), with skip 0, skip inside the data, and skip = everything.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/wfile_prefix.h"
#include "harness.h"

static char dir[] = "/tmp/hk-wfile-prefix-XXXXXX";

/* run - write `total` bytes of a pattern in `chunk`-sized pieces, apply
   the prefix, and compare the file with prefix + data[skip..]. */
static void
run(size_t total, size_t chunk, size_t skip)
{
	static const char prefix[] = "Authentication-Results: x; none\r\n";
	char *data = malloc(total + 1), *want, *got;
	struct wfile w;
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	int fd = openat(dfd, "msg", O_WRONLY | O_CREAT | O_TRUNC, 0600), rfd;
	size_t wantn = sizeof(prefix) - 1 + total - skip;

	for (size_t i = 0; i < total; i++)
		data[i] = (char)('a' + i % 26);
	wfile_init(&w, fd);
	for (size_t off = 0; off < total; off += chunk)
		CHECK_INT(wfile_write(&w, data + off, MIN(chunk, total - off)), 0);
	CHECK_INT(wfile_prefix_apply(&w, dfd, "msg", span_str(prefix), skip), 0);
	CHECK_INT(w.size, wantn);
	CHECK_INT(wfile_flush(&w), 0);
	close(w.fd);
	wfile_deinit(&w);
	want = malloc(wantn + 1);
	memcpy(want, prefix, sizeof(prefix) - 1);
	memcpy(want + sizeof(prefix) - 1, data + skip, total - skip);
	got = malloc(wantn + 1);
	rfd = openat(dfd, "msg", O_RDONLY);
	CHECK(fstat(rfd, &st) == 0 && (size_t)st.st_size == wantn);
	CHECK(read(rfd, got, wantn + 1) == (ssize_t)wantn);
	CHECK(memcmp(got, want, wantn) == 0);
	/* No leftover of the rewrite path. */
	CHECK(faccessat(dfd, "msg.pfx", F_OK, 0) != 0);
	close(rfd);
	unlinkat(dfd, "msg", 0);
	close(dfd);
	free(data);
	free(want);
	free(got);
}

static void
test_in_buffer(void)
{
	run(1000, 1000, 0);
	run(1000, 7, 300);
	run(1000, 1, 1000);
	run(0, 1, 0);
}

static void
test_rewrite(void)
{
	/* Past WFILE_BUF, some of it reached the file: the copy path. */
	run(WFILE_BUF * 3 + 17, 4096, 0);
	run(WFILE_BUF * 3 + 17, 4096, 5000);
	run(WFILE_BUF + 1, WFILE_BUF + 1, WFILE_BUF + 1); /* one large direct write */
}

static void
test_sticky_error(void)
{
	struct wfile w;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	wfile_init(&w, -1);
	w.err = 5;
	CHECK_INT(wfile_prefix_apply(&w, dfd, "none", span_str("x"), 0), -1);
	wfile_deinit(&w);
	close(dfd);
}

static void
test_setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
}

static void
test_teardown(void)
{
	CHECK_INT(rmdir(dir), 0);
}

static const struct t_test tests[] = {
	T(test_setup),
	T(test_in_buffer),
	T(test_rewrite),
	T(test_sticky_error),
	T(test_teardown),
	{ 0 },
};

T_MAIN(tests)
