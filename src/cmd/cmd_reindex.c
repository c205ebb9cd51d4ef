/*
 * cmd_reindex.c -- `hikyaku reindex ADDRESS`: rebuild an account's mailbox
 * index (index.db) from its Maildir files (store/mailbox_reindex.c).
 *
 * Recovery tool, for a lost or damaged index or files changed by hand:
 * UIDs are kept where the old index knows the file; a folder whose UIDs
 * cannot be kept gets a new UIDVALIDITY, so clients resynchronise.
 * Run it while the daemon is stopped (or the account idle): the daemon's
 * in-memory state of an open account is not told.
 * Security: like every data_dir command, drops to run_user first; the
 * address is validated (no path escapes) before any path is built.
 */
#include <stdio.h>

#include "cmd/cmd.h"
#include "store/mailbox.h"
#include "store/store.h"

#define REINDEX_USAGE "reindex ADDRESS"

int
cmd_reindex(struct conf *conf, int argc, char **argv)
{
	const char *error;
	struct store *s;
	int rc;

	if (argc != 2)
		return cmd_usage_error(REINDEX_USAGE);
	if ((s = cmd_open_store(conf)) == NULL)
		return 1;
	rc = store_user_exists(s, argv[1]);
	store_close(&s);
	if (rc != 1) {
		fprintf(stderr, "hikyaku: %s: %s\n", argv[1],
		        rc == 0 ? "no such account" : "database error");
		return 1;
	}
	if (mailbox_reindex(conf->data_dir, argv[1], &error) < 0) {
		fprintf(stderr, "hikyaku: reindex %s: %s\n", argv[1], error);
		return 1;
	}
	printf("reindexed %s: %s\n", argv[1], error);
	return 0;
}
