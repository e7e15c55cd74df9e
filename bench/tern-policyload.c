/*
 * DOC: tern-policyload.c — load a large policy into a vrouter (benchmarks).
 *
 * `ternctl vr policy add` encodes its request in a 4 KiB buffer
 * (VR_CLIENT_REQ_MAX in lib/vr_client.c), about 75 rules; the vrouter takes up
 * to VR_POLICY_MAX_RULES (1,000) in a message of up to VR_MSG_MAX. Until
 * ternctl can send more, the flow benchmarks load their 1,000-rule policy
 * with this tool: the same request (VR_OP_ADD of a VR_OBJ_POLICY), built in a
 * VR_MSG_MAX buffer and sent with vr_client_call.
 *
 *   tern-policyload SOCKET ID pass|deny FILE
 *
 * FILE: one rule a line, whitespace-separated:
 *   ID pass|deny PROTO 4|6 SRC DST DPORT
 * PROTO tcp, udp, any or a number; SRC and DST a prefix (address/len) or any;
 * DPORT a number or any. Rules are checked with vr_rule_check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern_tlv.h"
#include "vr_client.h"
#include "vr_msg.h"
#include "vr_proto.h"

static int parse_prefix(const char *s, uint8_t family, uint8_t *addr, uint8_t *plen)
{
	char buf[64];
	if (!strcmp(s, "any")) {
		*plen = 0;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	unsigned max = family == 4 ? 32 : 128, len = max;
	if (slash) {
		*slash = '\0';
		char *end;
		len = (unsigned)strtoul(slash + 1, &end, 10);
		if (*end || len > max)
			return -EINVAL;
	}
	if (inet_pton(family == 4 ? AF_INET : AF_INET6, buf, addr) != 1)
		return -EINVAL;
	*plen = (uint8_t)len;
	return 0;
}

static int parse_line(const char *line, struct vr_rule *ru)
{
	char act[16], proto[16], src[64], dst[64], dport[16];
	unsigned id, fam;
	if (sscanf(line, "%u %15s %15s %u %63s %63s %15s", &id, act, proto, &fam, src, dst, dport) != 7 ||
	    (fam != 4 && fam != 6))
		return -EINVAL;
	memset(ru, 0, sizeof(*ru));
	ru->id = id;
	ru->family = (uint8_t)fam;
	ru->action = !strcmp(act, "deny") ? VR_ACT_DENY : VR_ACT_PASS;
	ru->proto = !strcmp(proto, "tcp") ? 6 : !strcmp(proto, "udp") ? 17
		  : !strcmp(proto, "any") ? 0 : (uint8_t)atoi(proto);
	ru->sport_lo = 0;
	ru->sport_hi = 65535;
	if (!strcmp(dport, "any")) {
		ru->dport_lo = 0;
		ru->dport_hi = 65535;
	} else {
		ru->dport_lo = ru->dport_hi = (uint16_t)atoi(dport);
	}
	if (parse_prefix(src, ru->family, ru->src, &ru->src_plen) < 0 ||
	    parse_prefix(dst, ru->family, ru->dst, &ru->dst_plen) < 0)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	static struct vr_rule rules[VR_POLICY_MAX_RULES];
	static uint8_t recs[VR_POLICY_MAX_RULES * VR_RULE_LEN];
	static uint8_t req[VR_MSG_MAX], reply[VR_MSG_MAX];
	char err[300], line[256];
	if (argc != 5) {
		fprintf(stderr, "usage: tern-policyload SOCKET ID pass|deny FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[4], "r");
	if (!f) {
		fprintf(stderr, "tern-policyload: %s: %s\n", argv[4], strerror(errno));
		return 1;
	}
	unsigned n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n == VR_POLICY_MAX_RULES || parse_line(line, &rules[n]) < 0 ||
		    vr_rule_check(&rules[n], n, err, sizeof(err)) < 0) {
			fprintf(stderr, "tern-policyload: %s: bad or too many rules at '%s'\n", argv[4], line);
			fclose(f);
			return 1;
		}
		vr_rule_pack(&rules[n], recs + (size_t)n * VR_RULE_LEN);
		n++;
	}
	fclose(f);

	struct vr_object o;
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_POLICY;
	o.u.policy.id = (uint32_t)atoi(argv[2]);
	o.u.policy.action = !strcmp(argv[3], "deny") ? VR_ACT_DENY : VR_ACT_PASS;
	o.u.policy.rules = (struct vr_recs){ recs, (uint16_t)n };
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_ACTION);
	VR_SET(&o, VR_AT_RULES);

	struct vr_client *c = vr_client_open(argv[1], NULL, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "tern-policyload: %s\n", err);
		return 1;
	}
	struct tern_wbuf w;
	uint32_t seq = vr_client_next_seq(c);
	tern_wbuf_init(&w, req, sizeof(req));
	vr_msg_begin(&w, VR_OP_ADD, seq, VR_OBJ_POLICY);
	vr_msg_put_object(&w, &o);
	int len = vr_msg_finish(&w);
	int rc = len < 0 ? len : vr_client_call(c, req, (size_t)len, reply, sizeof(reply), err, sizeof(err));
	struct vr_msg_view v;
	char perr[200];
	if (rc >= 0 && (rc = vr_msg_parse(reply, (size_t)rc, &v, perr, sizeof(perr))) >= 0 &&
	    v.has_error && v.error < 0) {
		snprintf(err, sizeof(err), "%s", v.errmsg);
		rc = v.error;
	} else if (rc >= 0) {
		rc = 0;
	} else if (len < 0) {
		snprintf(err, sizeof(err), "cannot encode the request: %s", strerror(-len));
	}
	vr_client_close(c);
	if (rc < 0) {
		fprintf(stderr, "tern-policyload: policy %s: %s\n", argv[2], err);
		return 1;
	}
	printf("policy %s: %u rules\n", argv[2], n);
	return 0;
}
