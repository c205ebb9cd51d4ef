/*
 * cmd_user.c -- `hikyaku user add|passwd|del|list`.
 *
 * Passwords never come from argv (ps(1) shows argv to everyone): from the
 * terminal, twice, with echo off; or, when stdin is not a terminal, its
 * first line without the newline (scripts: `echo "$pw" | hikyaku user add`).
 * Limits: STORE_PASSWORD_MIN..STORE_PASSWORD_MAX bytes, checked by the store.
 * Security: every copy of the password is wiped with sodium_memzero; echo is
 * restored on SIGINT/SIGTERM/SIGHUP while the prompt is up.
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "store/maildir.h"
#include "store/store.h"

#define USER_USAGE "user add|passwd|del ADDRESS | user list [DOMAIN]"
/* Room for the longest password, its newline and one byte to see overflow. */
#define PW_BUF (STORE_PASSWORD_MAX + 2)

static struct termios saved_tio;

static void
restore_echo(int sig)
{
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* read_line results besides a length. */
enum { RL_ERROR = -1, RL_EOF = -2, RL_TOO_LONG = -3, RL_NUL = -4 };

/* Reads one line from fd, without the newline, into buf. Returns its
   length or one of RL_*. Byte by byte: nothing past the line is consumed,
   and no stdio buffer keeps a copy of the password. */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = read(fd, buf + n, 1);

		if (r < 0)
			return RL_ERROR;
		if (r == 0 && n == 0)
			return RL_EOF;
		if (r == 0 || buf[n] == '\n')
			break;
		if (buf[n] == '\0')
			return RL_NUL;
		if (++n == size)
			return RL_TOO_LONG;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static const char *
read_line_error(ssize_t rc)
{
	switch (rc) {
	case RL_EOF:
		return "no password on standard input";
	case RL_TOO_LONG:
		return "password too long (max 1024 bytes)";
	case RL_NUL:
		return "password contains a NUL byte";
	default:
		return "cannot read the password";
	}
}

/* Prompts with echo off; the line ends up in buf. */
static ssize_t
prompt_line(const char *prompt, char *buf, size_t size)
{
	struct termios tio;
	ssize_t n;

	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return RL_ERROR;
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	signal(SIGINT, restore_echo);
	signal(SIGTERM, restore_echo);
	signal(SIGHUP, restore_echo);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
	n = read_line(STDIN_FILENO, buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	fprintf(stderr, "\n");
	return n;
}

/* Gets the new password into pw (PW_BUF bytes). Returns 0, or -1 after
   printing why. */
static int
read_password(const char *address, char *pw)
{
	char again[PW_BUF], prompt[STORE_MAX_ADDRESS + 32];
	ssize_t n;
	int rc = 0;

	if (!isatty(STDIN_FILENO)) {
		if ((n = read_line(STDIN_FILENO, pw, PW_BUF)) < 0)
			fprintf(stderr, "hikyaku: %s\n", read_line_error(n));
		return n < 0 ? -1 : 0;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s: ", address);
	if ((n = prompt_line(prompt, pw, PW_BUF)) < 0 ||
	    (n = prompt_line("Again: ", again, PW_BUF)) < 0) {
		fprintf(stderr, "hikyaku: %s\n", read_line_error(n));
		rc = -1;
	} else if (strcmp(pw, again) != 0) {
		fprintf(stderr, "hikyaku: the passwords differ\n");
		rc = -1;
	}
	sodium_memzero(again, sizeof(again));
	return rc;
}

/* Checks before asking for a password: a typo should not cost a prompt. */
static int
user_precheck(struct store *s, const char *addr, bool adding)
{
	const char *d = strrchr(addr, '@') + 1;
	int exists = store_user_exists(s, addr);

	if (exists < 0 || (adding && store_domain_is_local(s, d) < 0)) {
		fprintf(stderr, "hikyaku: database error\n");
		return -1;
	}
	if (adding && store_domain_is_local(s, d) == 0) {
		fprintf(stderr,
		        "hikyaku: %s is not a local domain (first: hikyaku domain add %s)\n", d, d);
		return -1;
	}
	if (adding == (exists == 1)) {
		fprintf(stderr, "hikyaku: %s: %s\n", addr,
		        adding ? "user already exists" : "no such user");
		return -1;
	}
	return 0;
}

/* add and passwd. */
static int
user_set_password(struct store *s, const char *addr, bool adding)
{
	char pw[PW_BUF], dir[4096];
	const char *error;
	int rc;

	if (user_precheck(s, addr, adding) < 0 || read_password(addr, pw) < 0)
		return 1;
	rc = adding ? store_user_add(s, addr, pw, &error) : store_user_passwd(s, addr, pw, &error);
	sodium_memzero(pw, sizeof(pw));
	if (rc != 1) {
		fprintf(stderr, "hikyaku: %s: %s\n", addr, rc == 0 ? "changed meanwhile" : error);
		return 1;
	}
	if (adding && store_user_maildir(s, addr, dir, sizeof(dir)) == 0)
		printf("user %s added, Maildir %s\n", addr, dir);
	else
		printf("password of %s changed\n", addr);
	return 0;
}

static int
user_del(struct store *s, const char *addr)
{
	char dir[4096];
	const char *error;
	int rc = store_user_del(s, addr, &error);

	if (rc <= 0) {
		fprintf(stderr, "hikyaku: %s: %s\n", addr, rc == 0 ? "no such user" : error);
		return 1;
	}
	if (store_user_maildir(s, addr, dir, sizeof(dir)) < 0)
		dir[0] = '\0';
	printf("user %s deleted; the Maildir %s was kept (remove it by hand once it is no "
	       "longer needed)\n",
	       addr, dir);
	return 0;
}

static void
print_name(void *ctx, const char *name)
{
	(void)ctx;
	printf("%s\n", name);
}

/* One of add/passwd/del on a validated, lower-cased address. */
static int
user_change(struct store *s, const char *verb, const char *arg)
{
	char addr[STORE_MAX_ADDRESS + 1];
	const char *error;

	if (store_address_normalize(arg, addr, &error) < 0) {
		fprintf(stderr, "hikyaku: %s: %s\n", arg, error);
		return 1;
	}
	if (strcmp(verb, "del") == 0)
		return user_del(s, addr);
	return user_set_password(s, addr, strcmp(verb, "add") == 0);
}

int
cmd_user(struct conf *conf, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";
	bool list = strcmp(verb, "list") == 0 && argc <= 3;
	bool change = argc == 3 && (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0 ||
	                            strcmp(verb, "del") == 0);
	struct store *s;
	int rc = 0;

	if (!list && !change)
		return cmd_usage_error(USER_USAGE);
	if ((s = cmd_open_store(conf)) == NULL)
		return 1;
	if (change) {
		rc = user_change(s, verb, argv[2]);
	} else if (store_user_list(s, argc == 3 ? argv[2] : NULL, print_name, NULL) < 0) {
		fprintf(stderr, "hikyaku: cannot list users%s%s\n", argc == 3 ? " of " : "",
		        argc == 3 ? argv[2] : "");
		rc = 1;
	}
	store_close(&s);
	return rc;
}
