/*
 * cmd_domain.h -- shared by cmd_domain.c (add, del, list, dns) and
 * cmd_domain_dns.c (the DNS records a domain needs).
 */
#ifndef HIKYAKU_CMD_CMD_DOMAIN_H
#define HIKYAKU_CMD_CMD_DOMAIN_H

#include <stdbool.h>

struct conf;

/*
 * Prints every record domain `d` needs (MX, SPF, DKIM keys found under
 * data_dir/dkim/d/, DMARC, RFC 6186 SRV, autoconfig names) in zone-file
 * syntax; with `check`, asks DNS and marks each line. Returns 0, or 1 when
 * a checked record is missing.
 */
int cmd_domain_dns_print(const struct conf *conf, const char *d, bool check);

#endif
