/*
 * cmd_domain.c -- `hikyaku domain add|del|list|dns`.
 *
 * add creates the domain and its DKIM keys (RSA-2048 and Ed25519, as
 * data_dir/dkim/DOMAIN/SELECTOR.key, DESIGN.md), then prints every DNS
 * record to publish (cmd_domain_dns.c) and how to add users. Selectors are
 * "<yyyymmdd>r" and "<yyyymmdd>e": later keys sort after earlier ones,
 * which is how the signer picks the current key (dkim_sign_keys_load), so
 * rotation is adding a newer key once its record is published. Keys that
 * exist are kept (a domain deleted and added again keeps its keys).
 * dns prints the records again; --check also asks DNS which are published.
 * del refuses while the domain has users.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_domain.h"
#include "conf/conf.h"
#include "msgauth/dkim.h"
#include "store/store.h"

#define DOMAIN_USAGE "domain add|del DOMAIN | domain list | domain dns DOMAIN [--check]"

static void
print_name(void *ctx, const char *name)
{
	(void)ctx;
	printf("%s\n", name);
}

/* domain_has_keys - some SELECTOR.key of this type already exists. */
static bool
domain_has_keys(const struct conf *conf, const char *d)
{
	struct dkim_sign_key *keys[2] = { NULL, NULL };
	size_t n = 0;
	const char *error;
	bool ok = dkim_sign_keys_load(conf->data_dir, d, keys, &n, &error) == 0 && n == 2;

	for (size_t i = 0; i < n; i++)
		dkim_sign_key_free(&keys[i]);
	return ok;
}

/* domain_keygen - an RSA and an Ed25519 key, unless both exist. */
static int
domain_keygen(const struct conf *conf, const char *d)
{
	static const struct {
		enum dkim_keytype type;
		char suffix;
	} kinds[] = { { DKIM_KEY_RSA, 'r' }, { DKIM_KEY_ED25519, 'e' } };
	char sel[32], day[16];
	time_t now = time(NULL);
	struct tm tm;

	if (domain_has_keys(conf, d))
		return 0;
	gmtime_r(&now, &tm);
	strftime(day, sizeof(day), "%Y%m%d", &tm);
	for (size_t i = 0; i < nitems(kinds); i++) {
		char *path;
		const char *error;

		snprintf(sel, sizeof(sel), "%s%c", day, kinds[i].suffix);
		if ((path = dkim_key_path(conf->data_dir, d, sel)) == NULL)
			return -1;
		if (dkim_keygen(kinds[i].type, path, &error) < 0 && access(path, F_OK) != 0) {
			fprintf(stderr, "hikyaku: DKIM key %s: %s\n", path, error);
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

static void
print_next_steps(const struct conf *conf, const char *d)
{
	printf("domain %s added\n"
	       "next steps:\n"
	       "  1. publish these DNS records (again with: hikyaku domain dns %s;\n"
	       "     hikyaku domain dns %s --check tells which DNS already has):\n\n",
	       d, d, d);
	cmd_domain_dns_print(conf, d, false);
	printf("\n  2. add accounts:  hikyaku user add postmaster@%s\n", d);
}

/* domain_dns - `domain dns DOMAIN [--check]` for a local domain. */
static int
domain_dns(const struct conf *conf, const char *arg, bool check)
{
	char d[STORE_MAX_DOMAIN + 1];
	const char *error;
	struct store *s;
	int local;

	if (store_domain_normalize(arg, d, &error) < 0) {
		fprintf(stderr, "hikyaku: %s: %s\n", arg, error);
		return 1;
	}
	if ((s = cmd_open_store(conf)) == NULL)
		return 1;
	local = store_domain_is_local(s, d);
	store_close(&s);
	if (local != 1) {
		fprintf(stderr, "hikyaku: no such domain: %s\n", d);
		return 1;
	}
	return cmd_domain_dns_print(conf, d, check);
}

/* add and del: 1 done, 0 nothing to do (an error for the admin), -1 error. */
static int
domain_change(struct store *s, const struct conf *conf, bool add, const char *arg)
{
	char d[STORE_MAX_DOMAIN + 1];
	const char *error;
	int rc;

	if (store_domain_normalize(arg, d, &error) < 0) {
		fprintf(stderr, "hikyaku: %s: %s\n", arg, error);
		return 1;
	}
	rc = add ? store_domain_add(s, d, &error) : store_domain_del(s, d, &error);
	if (rc < 0) {
		fprintf(stderr, "hikyaku: %s\n", error);
		return 1;
	}
	if (rc == 0) {
		fprintf(stderr, "hikyaku: %s %s\n",
		        add ? "domain already exists:" : "no such domain:", d);
		return 1;
	}
	if (add && domain_keygen(conf, d) < 0) {
		fprintf(stderr, "hikyaku: domain %s added, but without DKIM keys: mail from it "
		                "is sent unsigned\n", d);
		return 1;
	}
	if (add)
		print_next_steps(conf, d);
	else
		printf("domain %s deleted\n", d);
	return 0;
}

int
cmd_domain(struct conf *conf, int argc, char **argv)
{
	bool list = argc == 2 && strcmp(argv[1], "list") == 0;
	bool add = argc == 3 && strcmp(argv[1], "add") == 0;
	bool del = argc == 3 && strcmp(argv[1], "del") == 0;
	bool dns = (argc == 3 || (argc == 4 && strcmp(argv[3], "--check") == 0)) &&
	           strcmp(argv[1], "dns") == 0;
	struct store *s;
	int rc = 0;

	if (!list && !add && !del && !dns)
		return cmd_usage_error(DOMAIN_USAGE);
	if (dns)
		return domain_dns(conf, argv[2], argc == 4);
	if ((s = cmd_open_store(conf)) == NULL)
		return 1;
	if (list) {
		if (store_domain_list(s, print_name, NULL) < 0) {
			fprintf(stderr, "hikyaku: cannot list domains\n");
			rc = 1;
		}
	} else {
		rc = domain_change(s, conf, add, argv[2]);
	}
	store_close(&s);
	return rc;
}
