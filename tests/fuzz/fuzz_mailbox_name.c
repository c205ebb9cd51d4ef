/*
 * fuzz_mailbox_name.c -- libFuzzer target for the mailbox store's name
 * handling (src/store/mailbox.c, mailbox_sync.c): mailbox_name_valid(),
 * the name to Maildir++ directory mapping, and the parsing of Maildir file
 * names (",S=" size, ":2," info).
 *
 * Input: one mailbox name (NUL-terminated copy of the bytes). Checked
 * properties: a name that passes mailbox_name_valid() maps to the account
 * directory itself (INBOX) or to ONE child of it, "/acct/.X", where X has
 * no '/', does not start with '.', and has no ".." -- so no name, however
 * hostile, leads outside the account; and the file-name parsers neither
 * crash nor read past the string.
 */
#include <stdlib.h>
#include <string.h>

#include "store/mailbox.h"
#include "store/mailbox_int.h"
#include "fuzz.h"

#define ACCT "/acct"

static void
check_dir(const char *name)
{
	char canon[MAILBOX_MAX_NAME + 8], dir[MBX_PATH];
	const char *child;

	mbx_name_canon(name, canon, sizeof(canon));
	FUZZ_ASSERT(mbx_folder_dir(ACCT, canon, dir, sizeof(dir)) == 0);
	FUZZ_ASSERT(strncmp(dir, ACCT, strlen(ACCT)) == 0);
	child = dir + strlen(ACCT);
	if (strcmp(canon, "INBOX") == 0) {
		FUZZ_ASSERT(*child == '\0');
		return;
	}
	FUZZ_ASSERT(child[0] == '/' && child[1] == '.' && child[2] != '.' && child[2] != '\0');
	FUZZ_ASSERT(strchr(child + 1, '/') == NULL);
	FUZZ_ASSERT(strstr(child + 1, "..") == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *name = malloc(size + 1), out[600];
	const char *error = NULL;

	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';
	if (mailbox_name_valid(name, &error)) {
		FUZZ_ASSERT(strlen(name) <= MAILBOX_MAX_NAME);
		check_dir(name);
	} else {
		FUZZ_ASSERT(error != NULL);
	}
	(void)mbx_name_size(name);
	if (strlen(name) < 400) {
		mbx_cur_name(name, out, sizeof(out));
		FUZZ_ASSERT(strncmp(out, name, strlen(name)) == 0);
	}
	free(name);
	return 0;
}
