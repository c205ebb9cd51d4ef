/*
 * cmd.h -- the `hikyaku` subcommands, dispatched by main.c.
 *
 * Each returns the process exit status: 0 success, 1 failure (message on
 * stderr), CMD_EX_USAGE (2) for a usage error. argv[0] is the subcommand's
 * name (e.g. "domain"), options already stripped of the global -c FILE.
 */
#ifndef HIKYAKU_CMD_CMD_H
#define HIKYAKU_CMD_CMD_H

#include <stdio.h>

#include "conf/conf.h"

#ifndef HIKYAKU_VERSION
#define HIKYAKU_VERSION "0.0.0-unknown"
#endif

#define CMD_EX_USAGE 2

/* `hikyaku serve`: the daemon (cmd_serve.c). */
int cmd_serve(struct conf *conf, int argc, char **argv);
/* `hikyaku config check|dump [-n]`: loads the file itself (path) to report. */
int cmd_config(const char *path, int argc, char **argv);
/* `hikyaku domain add|del|list [DOMAIN]`. */
int cmd_domain(struct conf *conf, int argc, char **argv);
/* `hikyaku user add|passwd|del|list [ADDRESS|DOMAIN]`. */
int cmd_user(struct conf *conf, int argc, char **argv);

/* `hikyaku queue list|show ID|flush|retry ID|delete ID` (cmd_queue.c). */
int cmd_queue(struct conf *conf, int argc, char **argv);
/* `hikyaku sendmail [options] [RCPT...]`, also when run as "sendmail"
   (cmd_sendmail.c). Returns sysexits.h codes (64, 65, 75, 77), not the
   statuses above. */
int cmd_sendmail(struct conf *conf, int argc, char **argv);

/* `hikyaku reindex ADDRESS` (cmd_reindex.c): rebuild the mailbox index. */
int cmd_reindex(struct conf *conf, int argc, char **argv);

/* `hikyaku check DOMAIN...` (cmd_check.c): exit 0 good, 1 warnings, 2 failures. */
int cmd_check(struct conf *conf, int argc, char **argv);
/* `hikyaku report tls [options]` (cmd_report.c). */
int cmd_report(struct conf *conf, int argc, char **argv);

/* Prints the usage text (to stdout for `help`, stderr for errors). */
void cmd_usage(FILE *fp);
/* Prints "usage: hikyaku LINE" to stderr and returns CMD_EX_USAGE. */
int cmd_usage_error(const char *line);

struct store;
/* For subcommands that touch data_dir: as root, prepares data_dir and drops
   to run_user first; then opens the store. NULL after printing the error. */
struct store *cmd_open_store(const struct conf *conf);

#endif
