/*
 * check_int.h -- what cmd_check.c and cmd_check_clients.c share: the state
 * of one `hikyaku check` run and the report writer.
 */
#ifndef HIKYAKU_CMD_CHECK_INT_H
#define HIKYAKU_CMD_CHECK_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>

#include <arpa/inet.h>
#include <uv.h>

#include "dns/dns.h"
#include "dns/dns_mx.h"
#include "probe/probe.h"

#define CHECK_MAX_DOMAINS 64
#define CHECK_MAX_ADDRS 20
#define CHECK_NRECORDS 4

enum check_level { CHK_OK, CHK_INFO, CHK_WARN, CHK_FAIL };

/* One probed address: the main probe and the two legacy handshakes. */
struct check_addr {
	struct check_domain *d;
	char host[DNS_NAME_TEXT_MAX];
	uint16_t pref;
	char ip[INET6_ADDRSTRLEN];
	struct sockaddr_storage sa;
	struct probe_result main, tls11, tls10;
	int pending;
};

/* The TLSA records of one MX host (RFC 7672: _25._tcp.HOST). */
#define CHECK_MAX_TLSA 8
struct check_tlsa {
	struct check_domain *d;
	char host[DNS_NAME_TEXT_MAX];
	bool host_secure; /* the host's address records were authenticated */
	enum dns_rc rc;
	bool secure;
	size_t n;
	struct {
		uint8_t usage, selector, mtype;
		size_t len;
		unsigned char data[64];
	} rr[CHECK_MAX_TLSA];
};

/* One TXT record family looked up for the domain. */
struct check_txt {
	struct check_domain *d;
	const char *what;   /* "spf", "dmarc", "mta-sts", "tls-rpt" */
	const char *prefix; /* "v=spf1" ... */
	char name[DNS_NAME_TEXT_MAX + 16];
	enum dns_rc rc;
	size_t count;	   /* records with the prefix */
	char first[512];   /* the first one, for the report (quoted) */
	char raw[4100];	   /* the first one as it came (truncated) */
	bool done;
};

/* One DKIM selector's key record (--dkim-selector). */
#define CHECK_MAX_SELECTORS 8
struct check_dkim {
	struct check_domain *d;
	char name[DNS_NAME_TEXT_MAX + 16]; /* SELECTOR._domainkey.DOMAIN */
	enum dns_rc rc;
	size_t count;
	char raw[4100];
};

struct check_domain {
	struct check *chk;
	char name[DNS_NAME_TEXT_MAX];
	struct dns_mx_req *mx_req;
	int mx_rc; /* dns_mx_result rc, -1 before */
	char mx_reason[256];
	bool implicit;
	size_t naddrs;
	struct check_addr addrs[CHECK_MAX_ADDRS];
	struct check_txt txt[CHECK_NRECORDS];
	bool mx_secure;
	char sts_ip[INET6_ADDRSTRLEN]; /* an address of mta-sts.DOMAIN, or "" */
	int sts_pending;
	size_t ntlsa;
	struct check_tlsa tlsa[DNS_MX_MAX_HOSTS];
	struct check_clients *clients; /* --clients, cmd_check_clients.c */
	struct check_self *self;       /* --self, cmd_check_self.c */
	/* SPF evaluated for an address no record should list: how many DNS
	   lookups the whole policy costs, and whether it is well-formed. */
	size_t ndkim;
	struct check_dkim dkim[CHECK_MAX_SELECTORS];
	bool spf_done;
	int spf_result;
	unsigned spf_lookups;
	char spf_reason[256];
	int pending;
	enum check_level worst;
	char verdict[768];
};

struct check {
	const struct conf *conf;
	uv_loop_t *loop;
	const char *ca;
	int https_port;
	struct dns *dns;
	struct tls_client *tls, *tls11, *tls10;
	struct probe_opts po;
	int port;
	bool json;
	bool clients;
	bool self;
	size_t nselectors;
	const char *selectors[CHECK_MAX_SELECTORS];
	size_t ndomains;
	struct check_domain *domains;
	int pending;
};

/* One report line: text table or a JSON object in "checks". */
struct out {
	FILE *fp;
	bool json;
	bool first;
	enum check_level *worst;
};

/* One finished lookup or probe of d; the last one finishes the domain. */
void check_settle(struct check_domain *d);
/* A report line (text or JSON), raising *o->worst. */
void out_line(struct out *o, enum check_level lvl, const char *what, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void json_put_str(FILE *fp, const char *s);

/* DANE and MTA-STS (cmd_check_policy.c): lookups started with the
   domain; each report says whether the policy makes senders insist on
   authenticated TLS (*enforced). */
void check_tlsa_start(struct check_domain *d, const struct dns_mx_host *h);
void check_sts_start(struct check_domain *d);
void report_dane(struct out *o, const struct check_domain *d, const struct check_tlsa *t,
                 bool *enforced);
void report_sts(struct out *o, struct check_domain *d, bool *enforced);

/* --clients (cmd_check_clients.c): RFC 6186 SRV records, then a probe of
   every submission, IMAP and POP3 endpoint they name. */
void check_clients_start(struct check_domain *d);
/* Lines and the clients' verdict; *worst raised. */
void check_clients_report(struct out *o, struct check_domain *d);
void check_clients_json(FILE *fp, const struct check_domain *d);
void check_clients_free(struct check_domain *d);

/* --self (cmd_check_self.c): our domains from the accounts database; the
   records `domain dns` says they need, looked up and compared; our
   certificate against myhostname (its lines printed at once). */
struct conf;
int check_self_domains(const struct conf *conf, char ***names_r, size_t *n_r);
void check_self_start(struct check_domain *d);
void check_self_report(struct out *o, struct check_domain *d);
void check_self_free(struct check_domain *d);
enum check_level check_self_cert(FILE *fp, bool json, const struct conf *conf);

#endif
