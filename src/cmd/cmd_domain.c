/*
 * cmd_domain.c -- `hikyaku domain add|del|list`.
 *
 * add prints what to do next: the MX record to publish (the other DNS
 * records, SPF, DKIM and DMARC, come with the DKIM work) and how to add
 * users. del refuses while the domain has users.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "store/store.h"

#define DOMAIN_USAGE "domain add|del DOMAIN | domain list"

static void
print_name(void *ctx, const char *name)
{
	(void)ctx;
	printf("%s\n", name);
}

static void
print_next_steps(const struct conf *conf, const char *d)
{
	printf("domain %s added\n"
	       "next steps:\n"
	       "  1. publish the MX record:  %s. IN MX 10 %s.\n"
	       "     (SPF, DKIM and DMARC records: not printed yet, they come with DKIM "
	       "signing)\n"
	       "  2. add accounts:  hikyaku user add postmaster@%s\n",
	       d, d, conf->myhostname, d);
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
	struct store *s;
	int rc = 0;

	if (!list && !add && !del)
		return cmd_usage_error(DOMAIN_USAGE);
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
