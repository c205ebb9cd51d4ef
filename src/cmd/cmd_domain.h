/*
 * cmd_domain.h -- shared by cmd_domain.c (add, del, list, dns) and
 * cmd_domain_dns.c (the DNS records a domain needs).
 */
#ifndef HIKYAKU_CMD_CMD_DOMAIN_H
#define HIKYAKU_CMD_CMD_DOMAIN_H

#include <stdbool.h>

#include <stddef.h>

struct conf;

/* One record a domain needs. */
struct domain_rec {
	char name[300];	  /* with the final dot */
	const char *type; /* "MX", "TXT", "SRV", "CNAME" */
	char *value;	  /* as printed (TXT: quoted strings) */
	char *txt;	  /* TXT: the text to compare; MX: the host; else NULL */
	int found;	  /* --check: 1 yes, 0 no, -1 lookup failed, -2 not checked */
};

struct domain_recs {
	struct domain_rec r[64];
	size_t n;
};

/* Fills rs (zeroed by the caller) with every record `d` needs. */
void cmd_domain_dns_build(struct domain_recs *rs, const struct conf *conf, const char *d);
/* Does a published SRV record match the value we print ("0 1 587 host.")?
   Port and target only: priority and weight are the admin's. */
struct dns_rr;
bool cmd_domain_srv_matches(const struct dns_rr *rr, const char *want);
/* Frees what build allocated, and rs itself. */
void cmd_domain_dns_free(struct domain_recs *rs);

/*
 * Prints every record domain `d` needs (MX, SPF, DKIM keys found under
 * data_dir/dkim/d/, DMARC, RFC 6186 SRV, autoconfig names) in zone-file
 * syntax; with `check`, asks DNS and marks each line. Returns 0, or 1 when
 * a checked record is missing.
 */
int cmd_domain_dns_print(const struct conf *conf, const char *d, bool check);

#endif
