/*
 * cmd_config.c -- `hikyaku config check` and `hikyaku config dump [-n]`.
 *
 * check prints "FILE: OK", or the first error as "FILE:LINE: message" and
 * exits 1; dump prints `key = value` lines that read back to the same
 * configuration (-n: only those not at their default, as postconf -n).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

#define CONFIG_USAGE "config check | config dump [-n]"

int
cmd_config(const char *path, int argc, char **argv)
{
	bool check, only_non_default = false;
	struct conf conf;
	char err[1024];
	int rc = 0;

	if (argc < 2)
		return cmd_usage_error(CONFIG_USAGE);
	check = strcmp(argv[1], "check") == 0;
	if (!check && strcmp(argv[1], "dump") != 0)
		return cmd_usage_error(CONFIG_USAGE);
	if (!check && argc == 3 && strcmp(argv[2], "-n") == 0)
		only_non_default = true;
	else if (argc != 2)
		return cmd_usage_error(CONFIG_USAGE);
	if (conf_load(&conf, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		rc = 1;
	} else if (check) {
		printf("%s: OK\n", path);
	} else {
		conf_dump(stdout, &conf, only_non_default);
	}
	conf_free(&conf);
	return rc;
}
