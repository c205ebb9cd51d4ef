/*
 * priv.h -- dropping root, and a data_dir that belongs to run_user.
 *
 * DESIGN.md, Process and privileges: started as root, hikyaku binds and
 * loads keys, then runs as run_user; every file in data_dir is run_user's.
 * Not root: both functions only do what an ordinary user can (no-op, mkdir).
 */
#ifndef HIKYAKU_CMD_PRIV_H
#define HIKYAKU_CMD_PRIV_H

#include "conf/conf.h"

/* As root: switch to run_user (supplementary groups, gid, uid) for good and
   check that root cannot be regained; run_user must be set, exist and not
   be uid 0. Not root: no-op. Returns 0, or -1 with *error_r (static). */
int priv_drop(const char *run_user, const char **error_r);

/* Creates data_dir if missing; as root, gives it to run_user. As root or
   its owner, makes it 0711 with data_dir/maildrop 1733 (queue_drop.h).
   Returns 0, or -1 with *error_r (static). */
int priv_prepare_data_dir(const struct conf *conf, const char **error_r);

#endif
