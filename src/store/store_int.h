/*
 * store_int.h -- what store.c and maildir.c share; not for other modules.
 */
#ifndef HIKYAKU_STORE_STORE_INT_H
#define HIKYAKU_STORE_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

struct ev_batch;

enum store_stmt { ST_DOMAIN_IS_LOCAL, ST_USER_EXISTS, ST_USER_GET_HASH, ST_COUNT };

struct store {
	char *data_dir;
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT]; /* hot-path statements, prepared once */
	int tmp_fd;                   /* data_dir/tmp, for openat/linkat/unlinkat */
	int lock_fd;                  /* data_dir/hikyaku.lock, flock(LOCK_SH) held */
	char host[128];               /* host part of Maildir names, sanitized */
	struct ev_batch *committer; /* NULL: commits run inline */
	char errbuf[4096 + 512];
};

/* Creates DIR/{cur,new,tmp} (and DIR's missing parents below data_dir/mail),
   mode 0700, fsyncing each parent whose entries changed. Thread-safe (no
   SQLite). Returns 0 or -1 with errno set. */
int maildir_create(const char *dir);

/* Removes every regular file in data_dir/tmp; called by store_open() when
   no other store has data_dir open. Returns the count removed, or -1. */
int maildir_clean_tmp(struct store *s);

#endif
