/*
 * priv.c -- root drops to run_user; data_dir belongs to run_user.
 *
 * The order is the classic one (setgroups/initgroups, setgid, setuid: the
 * uid last, since it takes away the right to change the others), using the
 * res variants so that saved ids go too, then a check that setuid(0) fails.
 * Security: data_dir is opened with O_NOFOLLOW before fchown, so a symlink
 * planted there cannot make root give away another file.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/priv.h"
#include "queue/queue_drop.h"

static _Thread_local char priv_err[512];

static const char *priv_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *
priv_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(priv_err, sizeof(priv_err), fmt, ap);
	va_end(ap);
	return priv_err;
}

static bool
is_root(void)
{
	return geteuid() == 0 || getuid() == 0;
}

/* Looks run_user up; it must be set, exist and not be root. */
static int
lookup_user(const char *run_user, uid_t *uid_r, gid_t *gid_r, const char **error_r)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc;

	if (run_user == NULL || run_user[0] == '\0') {
		*error_r = "running as root: set run_user in the config (the daemon and the "
		           "files in data_dir must not belong to root)";
		return -1;
	}
	rc = getpwnam_r(run_user, &pw, buf, sizeof(buf), &res);
	if (res == NULL) {
		*error_r = priv_error("run_user %s: %s", run_user,
		                      rc != 0 ? strerror(rc) : "no such user");
		return -1;
	}
	if (pw.pw_uid == 0) {
		*error_r = priv_error("run_user %s has uid 0", run_user);
		return -1;
	}
	*uid_r = pw.pw_uid;
	*gid_r = pw.pw_gid;
	return 0;
}

int
priv_drop(const char *run_user, const char **error_r)
{
	uid_t uid;
	gid_t gid;

	if (!is_root())
		return 0;
	if (lookup_user(run_user, &uid, &gid, error_r) < 0)
		return -1;
	if (initgroups(run_user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		*error_r =
		        priv_error("cannot switch to run_user %s: %s", run_user, strerror(errno));
		return -1;
	}
	/* Belt and braces: a drop that left a way back is no drop. */
	if (setuid(0) != -1 || geteuid() != uid || getuid() != uid || getegid() != gid ||
	    getgid() != gid) {
		*error_r = priv_error("switching to run_user %s did not drop root", run_user);
		return -1;
	}
	return 0;
}

/* prepare_maildrop - data_dir/maildrop, 1733: anyone may drop a file there
   (`hikyaku sendmail`), nobody but run_user may list, read or remove them;
   data_dir 0711 lets others reach it and nothing else (umask 077 keeps
   everything inside private). */
static int
prepare_maildrop(int dfd, uid_t uid, gid_t gid, const char **error_r)
{
	struct stat st;
	int fd;

	if (fchmod(dfd, 0711) < 0)
		return *error_r = priv_error("data_dir: chmod: %s", strerror(errno)), -1;
	if (mkdirat(dfd, QUEUE_DROP_DIR, 0700) < 0 && errno != EEXIST)
		return *error_r = priv_error("maildrop: mkdir: %s", strerror(errno)), -1;
	fd = openat(dfd, QUEUE_DROP_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    (is_root() && (st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0) ||
	    ((st.st_mode & 07777) != 01733 && fchmod(fd, 01733) < 0)) {
		*error_r = priv_error("maildrop: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
priv_prepare_data_dir(const struct conf *conf, const char **error_r)
{
	struct stat st;
	uid_t uid = 0;
	gid_t gid = 0;
	int fd;

	/* As root, check run_user first: no root-owned data_dir left behind. */
	if (is_root() && lookup_user(conf->run_user, &uid, &gid, error_r) < 0)
		return -1;
	if (mkdir(conf->data_dir, 0750) < 0 && errno != EEXIST) {
		*error_r = priv_error("cannot create data_dir %s: %s", conf->data_dir,
		                      strerror(errno));
		return -1;
	}
	fd = open(conf->data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 ||
	    (is_root() && (st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)) {
		*error_r = priv_error("data_dir %s: %s", conf->data_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* Not root: only the owner (run_user) may set up the maildrop. */
	if ((is_root() || st.st_uid == geteuid()) && prepare_maildrop(fd, uid, gid, error_r) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}
