/*
 * main.c -- `hikyaku [-c FILE] COMMAND ...`: option handling and dispatch.
 *
 * -c FILE may also follow the command name (`hikyaku user add -c f a@b`),
 * so that scripts and tests can put it anywhere; "--" ends option search.
 * Run as "sendmail" (a /usr/sbin/sendmail symlink), it is `hikyaku sendmail`.
 * Exit status: 0 ok, 1 failure, 2 usage error (sendmail: sysexits.h codes).
 * Security: umask 077 before anything is created: mail and the database
 * are nobody else's business.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/xalloc.h"
#include "cmd/cmd.h"
#include "cmd/priv.h"
#include "store/store.h"

void
cmd_usage(FILE *fp)
{
	fputs("usage: hikyaku [-c FILE] COMMAND [ARGS]\n"
	      "commands:\n"
	      "  serve                         run the daemon\n"
	      "  config check                  parse the configuration, report errors as "
	      "FILE:LINE: message\n"
	      "  config dump [-n]              print every parameter (-n: only those not at "
	      "their default)\n"
	      "  domain add|del DOMAIN         create or delete a local domain\n"
	      "  domain list                   list the local domains\n"
	      "  domain dns DOMAIN [--check]   the DNS records to publish (and which DNS has)\n"
	      "  user add|passwd|del ADDRESS   create an account, set its password, delete it\n"
	      "  user list [DOMAIN]            list the accounts\n"
	      "  queue list                    list the outbound queue\n"
	      "  queue show|retry|delete ID    show, retry now, or delete (no bounce) a message\n"
	      "  queue flush                   ask the daemon to retry everything now\n"
	      "  reindex ADDRESS               rebuild an account's mailbox index from its files\n"
	      "  check [--clients] [--json] [--port N] [--https-port N] [--ca FILE] [--timeout S]\n"
	      "        DOMAIN...               can mail to DOMAIN travel in clear? (MX, STARTTLS,\n"
	      "                                certificates, TLS versions, DANE, MTA-STS, SPF,\n"
	      "                                DMARC, TLS-RPT; --clients: submission/IMAP/POP3;\n"
	      "                                --dkim-selector S; --self: our own domains)\n"
	      "  report tls [--since DURATION | --from DATE] [--to DATE] [--weakest]\n"
	      "             [--top N] [--json | --csv | --html FILE]\n"
	      "                                share of SMTP traffic encrypted, in and out, per\n"
	      "                                peer domain and per day (default: last 30 days)\n"
	      "  sendmail [-t] [-i] [-f FROM] [RCPT...]\n"
	      "                                queue a message from stdin (sendmail(1); also\n"
	      "                                what hikyaku does when run as \"sendmail\")\n"
	      "  version                       print the version\n"
	      "  help                          print this text\n"
	      "-c FILE selects the configuration (default " CONF_DEFAULT_PATH "); it may also\n"
	      "follow the command. Passwords are read from the terminal (twice, not echoed),\n"
	      "or from the first line of standard input when that is not a terminal.\n",
	      fp);
}

int
cmd_usage_error(const char *line)
{
	fprintf(stderr, "usage: hikyaku %s\n", line);
	return CMD_EX_USAGE;
}

struct store *
cmd_open_store(const struct conf *conf)
{
	const char *error;
	struct store *s;

	if (priv_prepare_data_dir(conf, &error) < 0 || priv_drop(conf->run_user, &error) < 0) {
		fprintf(stderr, "hikyaku: %s\n", error);
		return NULL;
	}
	if ((s = store_open(conf->data_dir, true, &error)) == NULL)
		fprintf(stderr, "hikyaku: %s\n", error);
	return s;
}

/* Takes -c FILE (or -cFILE) out of argv wherever it is; the rest, in order,
   goes to args. Returns 0, or -1 on a usage error. */
static int
split_args(int argc, char **argv, const char **path_r, char **args, int *nargs_r)
{
	int n = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				args[n++] = argv[i];
			break;
		}
		if (strncmp(a, "-c", 2) != 0) {
			args[n++] = argv[i];
			continue;
		}
		if (*path_r != NULL)
			return -1;
		if (a[2] != '\0')
			*path_r = a + 2;
		else if (i + 1 < argc)
			*path_r = argv[++i];
		else
			return -1;
	}
	args[n] = NULL;
	*nargs_r = n;
	return 0;
}

static const struct command {
	const char *name;
	int (*fn)(struct conf *conf, int argc, char **argv);
} commands[] = {
        {"serve", cmd_serve},
        {"domain", cmd_domain},
        {"user", cmd_user},
        {"queue", cmd_queue},
        {"sendmail", cmd_sendmail},
        {"check", cmd_check},
        {"report", cmd_report},
        {"reindex", cmd_reindex},
};

/* Loads the configuration and runs a command that needs it. */
static int
run_with_conf(const struct command *cmd, const char *path, int argc, char **argv)
{
	struct conf conf;
	char err[1024];
	int rc;

	if (conf_load(&conf, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		conf_free(&conf);
		return 1;
	}
	rc = cmd->fn(&conf, argc, argv);
	conf_free(&conf);
	return rc;
}

static int
dispatch(const char *path, int argc, char **argv)
{
	const char *name = argv[0];

	if (strcmp(name, "help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
		cmd_usage(stdout);
		return 0;
	}
	if (strcmp(name, "version") == 0 || strcmp(name, "-V") == 0 ||
	    strcmp(name, "--version") == 0) {
		printf("hikyaku %s\n", HIKYAKU_VERSION);
		return 0;
	}
	if (strcmp(name, "config") == 0)
		return cmd_config(path, argc, argv);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return run_with_conf(&commands[i], path, argc, argv);
	fprintf(stderr, "hikyaku: unknown command \"%s\"\n", name);
	cmd_usage(stderr);
	return CMD_EX_USAGE;
}

/* Invoked as .../sendmail: argv becomes {argv[0], "sendmail", argv[1..]}. */
static char **
sendmail_argv(int *argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	char **v;

	base = base != NULL ? base + 1 : argv[0];
	if (strcmp(base, "sendmail") != 0)
		return NULL;
	v = xcalloc((size_t)*argc + 2, sizeof(*v));
	v[0] = argv[0];
	v[1] = (char *)"sendmail";
	for (int i = 1; i < *argc; i++)
		v[i + 1] = argv[i];
	(*argc)++;
	return v;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	char **sm_argv = sendmail_argv(&argc, argv);
	char **args;
	int nargs, rc;

	if (sm_argv != NULL)
		argv = sm_argv;
	args = xcalloc((size_t)argc + 1, sizeof(*args));
	umask(077);
	if (split_args(argc, argv, &path, args, &nargs) < 0 || nargs == 0) {
		free(args);
		free(sm_argv);
		cmd_usage(stderr);
		return CMD_EX_USAGE;
	}
	rc = dispatch(path != NULL ? path : CONF_DEFAULT_PATH, nargs, args);
	free(args);
	free(sm_argv);
	return rc;
}
