/*
 * DOC: agent_parse.h — parsers of the text the agent is handed (see
 * agent_parse.c). Each returns 0 or a negative value: -EINVAL for the small
 * ones, the negated CNI error code (-7, invalid configuration) with a message
 * naming what is wrong for the network annotation.
 */
#ifndef TERN_AGENT_PARSE_H
#define TERN_AGENT_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern_mac.h"

#define AGENT_MAX_IFS 16          /* interfaces of one pod */

/* An address with its prefix length. */
struct agent_ip {
	uint8_t family;                /* 4 or 6 */
	uint8_t plen;
	uint8_t a[16];
};

/* "a.b.c.d[/n]" or "x::y[/n]"; without /n the host length. */
int agent_ip_parse(const char *s, struct agent_ip *ip);
const char *agent_ip_str(const struct agent_ip *ip, char *buf, size_t len, bool with_plen);
bool agent_ip_contains(const struct agent_ip *net, const struct agent_ip *x);
/* "target:ASN:N" (2- or 4-octet ASN) or "target:A.B.C.D:N" as an extended community. */
int agent_rt_parse(const char *s, uint8_t out[8]);
/* The node end of a pod's veth: the same for the same container and
 * interface, so that a restarted agent and the plugin agree without asking. */
void agent_host_ifname(const char *container_id, const char *ifname, char out[16]);

/* One network a pod asks for: a tern-api reference and the interface name. */
struct agent_want {
	char ref[200];                 /* "project:name" or "name" */
	char ifname[16];               /* "" when not given */
};
/* Append one selection (ns may be NULL). */
int agent_want_add(struct agent_want *w, int *n, const char *ns, const char *name,
		   const char *ifn, char *err, size_t errlen);
/* The NPWG annotation k8s.v1.cni.cncf.io/networks: "net-a, ns/net-b@eth1", a
 * JSON list of {"name", "namespace", "interface"} or that list as a string.
 * Appends to w (room for AGENT_MAX_IFS); NULL or null: nothing. */
int agent_parse_networks(json_t *nets, struct agent_want *w, int *n, char *err, size_t errlen);

#endif /* TERN_AGENT_PARSE_H */
