/*
 * DOC: vr_pipeline_bench.c — the vrouter's forwarding core alone, no I/O.
 *
 * Builds a router the way ternctl would (control requests through
 * vr_ctl_handle): a fabric vif 192.0.2.1, a pod vif in VRF 1, a tunnel nexthop
 * to 192.0.2.2 and a route 10.1.0.2/32 to it, a label and a VNI back to the
 * pod. Then runs bursts of 32 prebuilt 64-byte packets (256 flows: UDP source
 * ports) through vr_pipeline_run. The host's tx and free only count: buffers
 * are reused, and each burst first rewrites its 32 packets from the templates
 * (what a receive does anyway: the packet bytes land in the buffer).
 *
 * --policy N: the pod vif gets a policy of N rules (policy_out on the encap
 * paths, policy_in on decap) whose last rule passes the traffic, so every
 * packet goes through the flow table (established flows after the warm-up)
 * and the 256 flows were decided by rte_acl: the established-flow cost of
 * stateful policy against the same run without it.
 *
 * --new-flows (with --policy): every packet a new connection instead, UDP source
 * port 1024 + k % 64512 and destination port 1024 + k / 64512 for packet k of
 * the run (warm-up included), so that each one is created in the flow table and
 * decided by rte_acl: the cost of flow setup without I/O. The table is sized
 * to hold every packet's connection (two entries each), so none is refused.
 *
 * Prints "pipeline: path=P packets=N ns_per_pkt=X" (and " policy=N"). Under callgrind, only
 * run_bursts() is worth counting: run with --collect-atstart=no
 * --toggle-collect=run_bursts, twice with different --packets, and divide the
 * difference (bench/vrouter.sh does this).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include "vr_core.h"
#include "vr_msg.h"

#define BUF_SIZE 2048
#define HEADROOM 128
#define FLOWS 256
#define FRAME_LEN 60
#define WARMUP_BURSTS 1000

enum { VIF_FAB = 0, VIF_POD = 1 };
enum { NH_POD = 1, NH_TUNNEL = 10 };
enum { LABEL_IN = 200, LABEL_OUT = 100, VNI = 5001, VRF = 1 };

enum path { P_MPLSOUDP_ENCAP, P_MPLSOUDP_DECAP, P_VXLAN_ENCAP };
static const char *const path_names[] = { "mplsoudp-encap", "mplsoudp-decap", "vxlan-encap" };

static const uint8_t router_mac[6] = { 0x00, 0x00, 0x5e, 0x00, 0x01, 0x00 };
static const uint8_t fab_mac[6] = { 0x02, 0xfa, 0, 0, 0, 1 };
static const uint8_t peer_mac[6] = { 0x02, 0xfa, 0, 0, 0, 2 };
static const uint8_t pod_mac[6] = { 0x02, 0, 0, 0, 1, 1 };

struct buf {
	struct vr_pkt pkt;   /* first: the core hands back &buf->pkt */
	uint8_t mem[BUF_SIZE];
};

/* The bench's context: the fake host and the router. */
struct bench {
	enum path path;
	uint64_t packets;
	struct tern_log log;
	struct vr_router *r;
	struct buf bufs[VR_BURST];
	uint8_t tmpl[FLOWS][128];
	uint16_t tmpl_len;
	uint16_t in_vif;
	unsigned policy_rules;  /* --policy N, 0 none */
	bool new_flows;         /* --new-flows: every packet a new 5-tuple */
	uint64_t tuple;         /* the next packet's tuple number */
	uint64_t tx, freed;
	uint8_t req[VR_MSG_MAX], rep[VR_MSG_MAX];
};

static void host_tx(void *host, uint16_t vif, struct vr_pkt *pkt)
{
	(void)vif;
	(void)pkt;
	((struct bench *)host)->tx++;
}

static void host_free(void *host, struct vr_pkt *pkt)
{
	(void)pkt;
	((struct bench *)host)->freed++;
}

/* Only flooding and ICMP errors copy; neither is on the measured paths. */
static struct vr_pkt *host_copy(void *host, const struct vr_pkt *pkt, uint16_t headroom)
{
	(void)host;
	(void)pkt;
	(void)headroom;
	return NULL;
}

static const struct vr_host_ops bench_ops = { .tx = host_tx, .free = host_free, .copy = host_copy };

/* Send one request to the router; 0 or the reply's negative errno with its message. */
static int ctl(struct bench *b, const struct vr_object *o, char *err, size_t errlen)
{
	struct tern_wbuf w;
	struct vr_msg_view v;
	tern_wbuf_init(&w, b->req, sizeof(b->req));
	vr_msg_begin(&w, VR_OP_ADD, 1, o->obj);
	vr_msg_put_object(&w, o);
	int len = vr_msg_finish(&w);
	if (len < 0) {
		snprintf(err, errlen, "encoding a %s request: %s", vr_obj_name(o->obj), strerror(-len));
		return len;
	}
	size_t rl = vr_ctl_handle(b->r, b->req, (size_t)len, b->rep, sizeof(b->rep));
	int rc = vr_msg_parse(b->rep, rl, &v, err, errlen);
	if (rc < 0)
		return rc;
	if (v.has_error && v.error < 0) {
		snprintf(err, errlen, "adding a %s: %s", vr_obj_name(o->obj), v.errmsg);
		return v.error;
	}
	return 0;
}

static void set_ip4(struct vr_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	a->family = 4;
	inet_pton(AF_INET, s, a->a);
}

static int program(struct bench *b, char *err, size_t errlen)
{
	struct vr_object o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_VIF;
	o.u.vif.id = VIF_FAB;
	o.u.vif.type = VR_VIF_FABRIC;
	snprintf(o.u.vif.ifname, sizeof(o.u.vif.ifname), "fab0");
	memcpy(o.u.vif.mac, fab_mac, 6);
	set_ip4(&o.u.vif.ip, "192.0.2.1");
	o.have = 1u << VR_AT_ID | 1u << VR_AT_TYPE | 1u << VR_AT_IFNAME | 1u << VR_AT_MAC | 1u << VR_AT_IP;
	if ((rc = ctl(b, &o, err, errlen)) < 0)
		return rc;

	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_VIF;
	o.u.vif.id = VIF_POD;
	o.u.vif.type = VR_VIF_KERNEL;
	snprintf(o.u.vif.ifname, sizeof(o.u.vif.ifname), "pod0");
	memcpy(o.u.vif.mac, pod_mac, 6);
	o.u.vif.vrf = VRF;
	o.have = 1u << VR_AT_ID | 1u << VR_AT_TYPE | 1u << VR_AT_IFNAME | 1u << VR_AT_MAC | 1u << VR_AT_VRF;
	if ((rc = ctl(b, &o, err, errlen)) < 0)
		return rc;

	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_NH;
	o.u.nh.id = NH_POD;
	o.u.nh.type = VR_NH_ENCAP;
	o.u.nh.vif = VIF_POD;
	o.u.nh.vrf = VRF;
	memcpy(o.u.nh.dmac, pod_mac, 6);
	o.have = 1u << VR_AT_ID | 1u << VR_AT_TYPE | 1u << VR_AT_VIF | 1u << VR_AT_VRF | 1u << VR_AT_DMAC;
	if ((rc = ctl(b, &o, err, errlen)) < 0)
		return rc;

	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_NH;
	o.u.nh.id = NH_TUNNEL;
	o.u.nh.type = VR_NH_TUNNEL;
	o.u.nh.vif = VIF_FAB;
	o.u.nh.vrf = VRF;
	memcpy(o.u.nh.dmac, peer_mac, 6);
	set_ip4(&o.u.nh.dip, "192.0.2.2");
	o.have = 1u << VR_AT_ID | 1u << VR_AT_TYPE | 1u << VR_AT_VIF | 1u << VR_AT_VRF |
		 1u << VR_AT_DMAC | 1u << VR_AT_DIP | 1u << VR_AT_ENCAP;
	if (b->path == P_VXLAN_ENCAP) {
		o.u.nh.encap = VR_ENCAP_VXLAN;
		o.u.nh.vni = VNI;
		o.have |= 1u << VR_AT_VNI;
	} else {
		o.u.nh.encap = VR_ENCAP_MPLSOUDP;
		o.u.nh.label = LABEL_OUT;
		o.have |= 1u << VR_AT_LABEL;
	}
	if ((rc = ctl(b, &o, err, errlen)) < 0)
		return rc;

	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_ROUTE;
	o.u.route.vrf = VRF;
	set_ip4(&o.u.route.prefix, "10.1.0.2");
	o.u.route.plen = 32;
	o.u.route.nh = NH_TUNNEL;
	o.have = 1u << VR_AT_VRF | 1u << VR_AT_PREFIX | 1u << VR_AT_PLEN | 1u << VR_AT_NH;
	if ((rc = ctl(b, &o, err, errlen)) < 0)
		return rc;

	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_MPLS;
	o.u.mpls.label = LABEL_IN;
	o.u.mpls.nh = NH_POD;
	o.have = 1u << VR_AT_LABEL | 1u << VR_AT_NH;
	if ((rc = ctl(b, &o, err, errlen)) < 0 || !b->policy_rules)
		return rc;

	/* N-1 rules that match nothing here (TCP from 172.16/12), then "pass UDP" */
	static uint8_t recs[VR_POLICY_MAX_RULES * VR_RULE_LEN];
	for (unsigned i = 0; i < b->policy_rules; i++) {
		struct vr_rule ru = { .id = i + 1, .action = VR_ACT_PASS, .proto = 6, .family = 4,
				      .src_plen = 24, .sport_hi = 65535, .dport_lo = (uint16_t)(i % 60000),
				      .dport_hi = (uint16_t)(i % 60000) };
		ru.src[0] = 172;
		ru.src[1] = (uint8_t)(16 + i / 256 % 16);
		ru.src[2] = (uint8_t)i;
		if (i == b->policy_rules - 1) {
			ru.proto = 17;
			ru.src_plen = 0;
			memset(ru.src, 0, 4);
			ru.dport_lo = 0;
			ru.dport_hi = 65535;
		}
		vr_rule_pack(&ru, recs + (size_t)i * VR_RULE_LEN);
	}
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_POLICY;
	o.u.policy.id = 1;
	o.u.policy.action = VR_ACT_DENY;
	o.u.policy.rules = (struct vr_recs){ recs, (uint16_t)b->policy_rules };
	o.have = (uint64_t)1 << VR_AT_ID | (uint64_t)1 << VR_AT_ACTION | (uint64_t)1 << VR_AT_RULES;
	if ((rc = ctl(b, &o, err, errlen)) < 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.obj = VR_OBJ_VIF;
	o.u.vif.id = VIF_POD;
	o.u.vif.type = VR_VIF_KERNEL;
	snprintf(o.u.vif.ifname, sizeof(o.u.vif.ifname), "pod0");
	memcpy(o.u.vif.mac, pod_mac, 6);
	o.u.vif.vrf = VRF;
	if (b->path == P_MPLSOUDP_DECAP)
		o.u.vif.policy_in = 1;
	else
		o.u.vif.policy_out = 1;
	o.have = 1u << VR_AT_ID | 1u << VR_AT_TYPE | 1u << VR_AT_IFNAME | 1u << VR_AT_MAC |
		 1u << VR_AT_VRF | (uint64_t)1 << VR_AT_POLICY_IN | (uint64_t)1 << VR_AT_POLICY_OUT;
	return ctl(b, &o, err, errlen);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void ip_udp(uint8_t *ip, const char *src, const char *dst, uint16_t len, uint16_t sport,
		   uint16_t dport)
{
	memset(ip, 0, 28);
	ip[0] = 0x45;
	put16(ip + 2, len);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 17;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(ip + 10, (uint16_t)~sum);
	put16(ip + 20, sport);
	put16(ip + 22, dport);
	put16(ip + 24, (uint16_t)(len - 20));
}

/* The same frames tern-pktgen sends: 60 bytes from the pod, or MPLSoUDP whose
 * decapsulated packet is 60 bytes again. */
static void build_templates(struct bench *b)
{
	for (unsigned i = 0; i < FLOWS; i++) {
		uint8_t *f = b->tmpl[i];
		uint16_t sport = (uint16_t)(10000 + i);
		memset(f, 0, sizeof(b->tmpl[i]));
		put16(f + 12, 0x0800);
		if (b->path != P_MPLSOUDP_DECAP) {
			memcpy(f, router_mac, 6);
			memcpy(f + 6, pod_mac, 6);
			ip_udp(f + 14, "10.1.0.1", "10.1.0.2", FRAME_LEN - 14, sport, 5000);
			b->tmpl_len = FRAME_LEN;
			continue;
		}
		const uint16_t inner = FRAME_LEN - 14, outer = 20 + 8 + 4 + inner;
		memcpy(f, fab_mac, 6);
		memcpy(f + 6, peer_mac, 6);
		ip_udp(f + 14, "192.0.2.2", "192.0.2.1", outer, (uint16_t)(49152 + i), 6635);
		uint32_t lse = htonl((uint32_t)LABEL_IN << 12 | 0x100 | 64);
		memcpy(f + 14 + 28, &lse, 4);
		ip_udp(f + 14 + 32, "10.1.0.2", "10.1.0.1", inner, sport, 5000);
		b->tmpl_len = (uint16_t)(14 + outer);
	}
}

/* The measured loop (callgrind counts only this function). noinline: so that
 * --toggle-collect finds it. */
__attribute__((noinline)) void run_bursts(struct bench *b, uint64_t bursts);
__attribute__((noinline)) void run_bursts(struct bench *b, uint64_t bursts)
{
	struct vr_pkt *pkts[VR_BURST];
	unsigned flow = 0;
	for (uint64_t k = 0; k < bursts; k++) {
		for (unsigned i = 0; i < VR_BURST; i++) {
			struct buf *bf = &b->bufs[i];
			struct vr_pkt *p = &bf->pkt;
			p->data = bf->mem + HEADROOM;
			p->len = b->tmpl_len;
			p->headroom = HEADROOM;
			p->tailroom = (uint16_t)(BUF_SIZE - HEADROOM - b->tmpl_len);
			memcpy(p->data, b->tmpl[flow], 128);
			flow = (flow + 1) % FLOWS;
			if (b->new_flows) { /* the inner UDP ports (encap paths: the only UDP) */
				uint64_t t = b->tuple++;
				put16(p->data + 14 + 20, (uint16_t)(1024 + t % 64512));
				put16(p->data + 14 + 22, (uint16_t)(1024 + t / 64512 % 64512));
			}
			pkts[i] = p;
		}
		vr_pipeline_run(b->r, b->in_vif, pkts, VR_BURST);
	}
}

static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option lo[] = {
		{ "path", required_argument, 0, 'p' }, { "packets", required_argument, 0, 'n' },
		{ "policy", required_argument, 0, 'P' }, { "new-flows", no_argument, 0, 'N' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	int c;
	b->path = P_MPLSOUDP_ENCAP;
	b->packets = 20000000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': {
			unsigned i;
			for (i = 0; i < 3 && strcmp(optarg, path_names[i]); i++)
				;
			if (i == 3) {
				fprintf(stderr, "vr_pipeline_bench: --path takes mplsoudp-encap, "
					"mplsoudp-decap or vxlan-encap, not '%s'\n", optarg);
				return -EINVAL;
			}
			b->path = (enum path)i;
			break;
		}
		case 'n': {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(optarg, &end, 10);
			if (errno || *end || n < VR_BURST) {
				fprintf(stderr, "vr_pipeline_bench: --packets takes a number >= %d, not "
					"'%s'\n", VR_BURST, optarg);
				return -EINVAL;
			}
			b->packets = n;
			break;
		}
		case 'P': {
			char *end;
			errno = 0;
			unsigned long n = strtoul(optarg, &end, 10);
			if (errno || *end || n < 1 || n > VR_POLICY_MAX_RULES) {
				fprintf(stderr, "vr_pipeline_bench: --policy takes a rule count from 1 to %d, "
					"not '%s'\n", VR_POLICY_MAX_RULES, optarg);
				return -EINVAL;
			}
			b->policy_rules = (unsigned)n;
			break;
		}
		case 'N':
			b->new_flows = true;
			break;
		case 'h':
			printf("usage: vr_pipeline_bench [--path mplsoudp-encap|mplsoudp-decap|"
			       "vxlan-encap] [--packets N] [--policy RULES [--new-flows]]\n");
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (b->new_flows && (!b->policy_rules || b->path == P_MPLSOUDP_DECAP)) {
		fprintf(stderr, "vr_pipeline_bench: --new-flows needs --policy and an encap path\n");
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench b; /* the process's one context (buffers, message space) */
	char err[300];
	if (parse_args(argc, argv, &b) < 0)
		return 2;
	/* No hugepages, no devices, no shared files: tables only. */
	/* --new-flows: a table for every packet's connection (two entries each,
	 * warm-up included; rte_hash needs under 128 bytes an entry in EAL memory) */
	uint64_t max_flows = b.new_flows ? 2 * (b.packets + WARMUP_BURSTS * VR_BURST) + 64 : 0;
	char mem[24];
	snprintf(mem, sizeof(mem), "%" PRIu64, 256 + max_flows * 128 / (1024 * 1024));
	char *eal[] = { argv[0], "--no-huge", "-m", mem, "--no-pci", "--no-shconf", "-l", "0",
			"--log-level", "error", NULL };
	if (rte_eal_init(10, eal) < 0) {
		fprintf(stderr, "vr_pipeline_bench: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	int rc = 1;
	tern_log_init(&b.log, "vr_pipeline_bench", NULL, TERN_LOG_ERR);
	struct vr_config cfg = { .name = "bench", .max_vrfs = 16, .max_routes = 1024,
				 .fib_tbl8s = 1024, .max_bridge = 1024, .max_flows = (uint32_t)max_flows };
	b.r = vr_router_create(&cfg, &b.log, &bench_ops, &b, err, sizeof(err));
	if (!b.r) {
		fprintf(stderr, "vr_pipeline_bench: %s\n", err);
		goto out;
	}
	if (program(&b, err, sizeof(err)) < 0) {
		fprintf(stderr, "vr_pipeline_bench: %s\n", err);
		goto out;
	}
	build_templates(&b);
	b.in_vif = b.path == P_MPLSOUDP_DECAP ? VIF_FAB : VIF_POD;

	uint64_t bursts = b.packets / VR_BURST;
	/* Warm caches and branch predictors; a fixed count, so that two runs under
	 * callgrind differ by exactly the difference of their --packets. */
	run_bursts(&b, WARMUP_BURSTS);
	b.tx = b.freed = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_bursts(&b, bursts);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t n = bursts * VR_BURST;
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	if (b.tx != n) {
		/* A drop means the bench measured the drop path, not forwarding. */
		const uint64_t *d = vr_drop_counters(b.r);
		fprintf(stderr, "vr_pipeline_bench: %" PRIu64 " of %" PRIu64 " packets sent, %" PRIu64
			" dropped; drop reasons:", b.tx, n, b.freed);
		for (unsigned i = 0; i < VR_DROP_MAX_; i++)
			if (d[i])
				fprintf(stderr, " %s=%" PRIu64, vr_drop_name(i), d[i]);
		fprintf(stderr, "\n");
		goto out;
	}
	printf("pipeline: path=%s packets=%" PRIu64 " ns_per_pkt=%.2f", path_names[b.path], n,
	       ns / (double)n);
	if (b.policy_rules)
		printf(" policy=%u flows=%s", b.policy_rules, b.new_flows ? "new" : "256");
	printf("\n");
	rc = 0;
out:
	if (b.r)
		vr_router_destroy(b.r);
	rte_eal_cleanup();
	return rc;
}
