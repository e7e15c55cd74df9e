/*
 * DOC: tern-pktgen.c — the benchmarks' generator and sink.
 *
 * One lcore sends prebuilt frames on one DPDK port and counts what comes back
 * on another (or the same) port, then reports packets per second over a
 * measured window that starts after a warm-up. The ports are whatever vdevs
 * the EAL arguments create (memif client, af_packet on a veth): this tool only
 * knows port ids.
 *
 * Frames (all built once, sent many times by raising the mbuf's reference
 * count, so the generator spends its cycles on I/O and not on building):
 *   udp       Ethernet / IPv4 / UDP, 60 bytes (a 64-byte frame with its FCS):
 *             what a pod sends, for the encapsulation cases.
 *   mplsoudp  Ethernet / IPv4 / UDP 6635 / MPLS / IPv4 / UDP, sized so that the
 *             decapsulated inner packet with its new Ethernet header is again
 *             60 bytes: what a remote vrouter sends, for the decapsulation case.
 * Flows differ by UDP source port (inner and, for mplsoudp, outer) so that
 * anything hashing the 5-tuple sees --flows different flows.
 *
 * --new-flows (udp only): every packet is a new 5-tuple instead, for the
 * flow-setup benchmarks. Each packet is then its own mbuf, written from the
 * first template: packet k (counting from 0 over the whole run, warm-up
 * included) has UDP source port 1024 + k % 64512 and source address --src +
 * k / 64512 (so the source walks up from --src; with 10.1.0.1 it stays inside
 * 10.1.0.0/16 for the first 4.2 billion packets), IPv4 checksum recomputed.
 * No tuple repeats before 64512 * 65536 packets; a packet the forwarder's ring
 * refused is built again with the same tuple, so the tuples that went out are
 * exactly 0..sent-1 (reported as tuples=).
 *
 * With --watch-tid the tool also reads that thread's CPU time (from
 * /proc/TID/schedstat, nanoseconds) at both ends of the window: the
 * forwarder's CPU time over exactly the packets counted, for its capacity.
 * gen_core_irq_ns is the interrupt and softirq time of the generator's own
 * core over the window: where a veth's delivery into an af_packet ring runs.
 *
 * Output, one line on stdout:
 *   pktgen: window_s=.. sent=.. rcvd=.. good=.. tx_full=.. tx_mpps=.. rx_mpps=..
 *           gen_cpu_ns=.. fwd_cpu_ns=.. cpu_busy_ns=.. gen_core_irq_ns=.. tsc_hz=.. tuples=.. (--new-flows: packets sent in all)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "tern_mac.h"

#define BURST 32
#define MAX_FLOWS 4096
#define RX_BURSTS_PER_TX 4   /* drain up to this many bursts per sent burst */
#define RING_DESC 1024
#define FRAME_LEN 60         /* 64 bytes on the wire with the FCS */
#define UDP_PORT_MPLS 6635
#define UDP_PORT_VXLAN 4789
#define UDP_PORT_DATA 5000
#define SPORT_BASE 10000

enum payload { PL_UDP, PL_MPLSOUDP };
enum expect { EX_ANY, EX_UDP, EX_MPLSOUDP, EX_VXLAN };

struct options {
	uint16_t tx_port, rx_port;
	bool rx_port_set;
	enum payload payload;
	enum expect expect;
	unsigned flows;
	uint8_t dmac[6], smac[6];
	uint32_t src, dst;           /* inner (or only) IPv4 addresses, network order */
	uint32_t osrc, odst;         /* outer addresses for mplsoudp */
	uint32_t label;
	double warmup_s, duration_s, link_timeout_s;
	int watch_tid;               /* 0: none */
	const char *watch_tid_file;  /* the tid is in this file once the links are up */
	double relink_s;             /* restart a port whose link stays down this long (0: never) */
	int watch_cpu;               /* -1: none */
	uint16_t rx_queues;          /* receive queues per port, 1 or 2 */
	bool new_flows;              /* every packet a new 5-tuple */
};

/* Counters of one run; the window is the difference of two snapshots. */
struct counters {
	uint64_t sent, rcvd, good, tx_full, tuples;
	uint64_t tsc;
	uint64_t gen_cpu_ns, fwd_cpu_ns, cpu_busy_ns, gen_core_irq_ns;
};

struct gen {
	struct options opt;
	struct rte_mempool *pool;
	struct rte_mbuf *tmpl[MAX_FLOWS];
	unsigned next;               /* next template to send */
	uint64_t tuple;              /* --new-flows: the next packet's tuple number */
	uint16_t nrxq[RTE_MAX_ETHPORTS]; /* receive queues opened per port */
	struct counters c;
	sigset_t stop_signals;
};

static void usage(void)
{
	fprintf(stderr,
"usage: tern-pktgen EAL-ARGS -- [options]\n"
"  --tx-port N         port to send on (default 0)\n"
"  --rx-port N         port to count on (default 1 if there are two ports, else 0)\n"
"  --payload udp|mplsoudp   frames to send (default udp)\n"
"  --expect any|udp|mplsoudp|vxlan   what counts as good on receive (default any)\n"
"  --rx-queues 1|2     receive queues per port (2: the forwarder sends on two, as OVS does)\n"
"  --flows N           UDP source ports to cycle through, 1..%d (default 256)\n"
"  --new-flows         every packet a new 5-tuple (source port and address; udp only)\n"
"  --dmac MAC --smac MAC    outer Ethernet addresses\n"
"  --src IP --dst IP   (inner) IPv4 addresses (default 10.1.0.1 -> 10.1.0.2)\n"
"  --outer-src IP --outer-dst IP --label N   mplsoudp outer header and label\n"
"  --warmup S          seconds before the measured window (default 2)\n"
"  --duration S        seconds measured (default 3)\n"
"  --link-timeout S    seconds to wait for the ports' links (default 20)\n"
"  --watch-tid TID     report that thread's CPU time over the window (fwd_cpu_ns)\n"
"  --relink S          restart a memif client port whose link is still down after S\n"
"                      seconds, and again every S (a client refused by a server not ready\n"
"                      yet does not retry by itself; a server's listener is left alone)\n"
"  --watch-tid-file F  as --watch-tid, the thread id read from F once the links are up\n"
"                      (a forwarder that starts after the generator: memif client)\n"
"  --watch-cpu N       report core N's busy time over the window (cpu_busy_ns: wall\n"
"                      time less /proc/stat's idle and iowait: for forwarders that are\n"
"                      not one thread, the kernel)\n",
		MAX_FLOWS);
}


static int parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ip = a.s_addr;
	return 0;
}

static int parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { O_TX = 1, O_RX, O_PAYLOAD, O_EXPECT, O_FLOWS, O_DMAC, O_SMAC, O_SRC, O_DST,
	       O_OSRC, O_ODST, O_LABEL, O_WARMUP, O_DURATION, O_LINK, O_WATCH, O_WCPU, O_HELP,
	       O_RXQ, O_NEWFLOWS, O_WATCHF, O_RELINK };
	static const struct option lo[] = {
		{ "tx-port", required_argument, 0, O_TX }, { "rx-port", required_argument, 0, O_RX },
		{ "payload", required_argument, 0, O_PAYLOAD }, { "expect", required_argument, 0, O_EXPECT },
		{ "flows", required_argument, 0, O_FLOWS }, { "dmac", required_argument, 0, O_DMAC },
		{ "smac", required_argument, 0, O_SMAC }, { "src", required_argument, 0, O_SRC },
		{ "dst", required_argument, 0, O_DST }, { "outer-src", required_argument, 0, O_OSRC },
		{ "outer-dst", required_argument, 0, O_ODST }, { "label", required_argument, 0, O_LABEL },
		{ "warmup", required_argument, 0, O_WARMUP }, { "duration", required_argument, 0, O_DURATION },
		{ "link-timeout", required_argument, 0, O_LINK }, { "watch-tid", required_argument, 0, O_WATCH },
		{ "watch-cpu", required_argument, 0, O_WCPU }, { "rx-queues", required_argument, 0, O_RXQ },
		{ "new-flows", no_argument, 0, O_NEWFLOWS },
		{ "watch-tid-file", required_argument, 0, O_WATCHF },
		{ "relink", required_argument, 0, O_RELINK },
		{ "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->flows = 256;
	o->warmup_s = 2;
	o->duration_s = 3;
	o->link_timeout_s = 20;
	o->label = 100;
	o->watch_cpu = -1;
	o->rx_queues = 1;
	tern_mac_parse("02:00:00:00:00:02", o->smac);
	tern_mac_parse("00:00:5e:00:01:00", o->dmac);
	parse_ip("10.1.0.1", &o->src);
	parse_ip("10.1.0.2", &o->dst);
	parse_ip("192.0.2.2", &o->osrc);
	parse_ip("192.0.2.1", &o->odst);
	int c;
	double v;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int rc = 0;
		const char *what = NULL;
		switch (c) {
		case O_TX:
			rc = parse_num(optarg, 0, RTE_MAX_ETHPORTS - 1, &v);
			o->tx_port = (uint16_t)v;
			what = "--tx-port takes a port number";
			break;
		case O_RXQ:
			rc = parse_num(optarg, 1, 2, &v);
			o->rx_queues = (uint16_t)v;
			what = "--rx-queues takes 1 or 2";
			break;
		case O_RX:
			rc = parse_num(optarg, 0, RTE_MAX_ETHPORTS - 1, &v);
			o->rx_port = (uint16_t)v;
			o->rx_port_set = true;
			what = "--rx-port takes a port number";
			break;
		case O_PAYLOAD:
			if (!strcmp(optarg, "udp"))
				o->payload = PL_UDP;
			else if (!strcmp(optarg, "mplsoudp"))
				o->payload = PL_MPLSOUDP;
			else
				rc = -EINVAL;
			what = "--payload takes udp or mplsoudp";
			break;
		case O_EXPECT:
			if (!strcmp(optarg, "any"))
				o->expect = EX_ANY;
			else if (!strcmp(optarg, "udp"))
				o->expect = EX_UDP;
			else if (!strcmp(optarg, "mplsoudp"))
				o->expect = EX_MPLSOUDP;
			else if (!strcmp(optarg, "vxlan"))
				o->expect = EX_VXLAN;
			else
				rc = -EINVAL;
			what = "--expect takes any, udp, mplsoudp or vxlan";
			break;
		case O_FLOWS:
			rc = parse_num(optarg, 1, MAX_FLOWS, &v);
			o->flows = (unsigned)v;
			what = "--flows takes 1..4096";
			break;
		case O_DMAC:
			rc = tern_mac_parse(optarg, o->dmac);
			what = "--dmac takes a MAC like 02:00:00:00:00:01";
			break;
		case O_SMAC:
			rc = tern_mac_parse(optarg, o->smac);
			what = "--smac takes a MAC like 02:00:00:00:00:01";
			break;
		case O_SRC:
			rc = parse_ip(optarg, &o->src);
			what = "--src takes an IPv4 address";
			break;
		case O_DST:
			rc = parse_ip(optarg, &o->dst);
			what = "--dst takes an IPv4 address";
			break;
		case O_OSRC:
			rc = parse_ip(optarg, &o->osrc);
			what = "--outer-src takes an IPv4 address";
			break;
		case O_ODST:
			rc = parse_ip(optarg, &o->odst);
			what = "--outer-dst takes an IPv4 address";
			break;
		case O_LABEL:
			rc = parse_num(optarg, 16, (1 << 20) - 1, &v);
			o->label = (uint32_t)v;
			what = "--label takes 16..1048575";
			break;
		case O_WARMUP:
			rc = parse_num(optarg, 0, 600, &o->warmup_s);
			what = "--warmup takes seconds, 0..600";
			break;
		case O_DURATION:
			rc = parse_num(optarg, 0.1, 600, &o->duration_s);
			what = "--duration takes seconds, 0.1..600";
			break;
		case O_LINK:
			rc = parse_num(optarg, 0, 600, &o->link_timeout_s);
			what = "--link-timeout takes seconds, 0..600";
			break;
		case O_WATCH:
			rc = parse_num(optarg, 1, 1 << 30, &v);
			o->watch_tid = (int)v;
			what = "--watch-tid takes a thread id";
			break;
		case O_WATCHF:
			o->watch_tid_file = optarg;
			break;
		case O_RELINK:
			rc = parse_num(optarg, 0, 600, &o->relink_s);
			what = "--relink takes seconds, 0..600";
			break;
		case O_WCPU:
			rc = parse_num(optarg, 0, RTE_MAX_LCORE - 1, &v);
			o->watch_cpu = (int)v;
			what = "--watch-cpu takes a core number";
			break;
		case O_NEWFLOWS:
			o->new_flows = true;
			break;
		case O_HELP:
			usage();
			exit(0);
		default:
			usage();
			return -EINVAL;
		}
		if (rc < 0) {
			fprintf(stderr, "tern-pktgen: %s, not '%s'\n", what, optarg);
			return rc;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tern-pktgen: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->new_flows && o->payload != PL_UDP) {
		fprintf(stderr, "tern-pktgen: --new-flows works with --payload udp only\n");
		return -EINVAL;
	}
	return 0;
}

static uint16_t ip_csum(const uint8_t *ip)
{
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* IPv4 (20 bytes, DF, TTL 64) + UDP header; len = IP total length. UDP
 * checksum 0 (allowed for IPv4, and what tunnels send). */
static void put_ip_udp(uint8_t *ip, uint32_t src, uint32_t dst, uint16_t len, uint16_t sport,
		       uint16_t dport)
{
	memset(ip, 0, 28);
	ip[0] = 0x45;
	put16(ip + 2, len);
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	put16(ip + 10, ip_csum(ip));
	put16(ip + 20, sport);
	put16(ip + 22, dport);
	put16(ip + 24, (uint16_t)(len - 20));
}

/* Frame of flow i into buf; returns its length. */
static uint16_t build_frame(const struct options *o, unsigned i, uint8_t *buf)
{
	uint16_t sport = (uint16_t)(SPORT_BASE + i);
	memcpy(buf, o->dmac, 6);
	memcpy(buf + 6, o->smac, 6);
	put16(buf + 12, 0x0800);
	if (o->payload == PL_UDP) {
		memset(buf + 14, 0, FRAME_LEN - 14);
		put_ip_udp(buf + 14, o->src, o->dst, FRAME_LEN - 14, sport, UDP_PORT_DATA);
		return FRAME_LEN;
	}
	/* The inner IP packet is what leaves the decapsulating router behind a new
	 * 14-byte Ethernet header: FRAME_LEN - 14 bytes. */
	const uint16_t inner = FRAME_LEN - 14;
	const uint16_t outer = (uint16_t)(20 + 8 + 4 + inner);
	uint8_t *ip = buf + 14;
	memset(ip, 0, outer);
	put_ip_udp(ip, o->osrc, o->odst, outer, (uint16_t)(49152 + (i & 0x3fff)), UDP_PORT_MPLS);
	uint32_t lse = o->label << 12 | 0x100 | 64; /* bottom of stack, TTL 64 */
	uint32_t be = htonl(lse);
	memcpy(ip + 28, &be, 4);
	put_ip_udp(ip + 32, o->src, o->dst, inner, sport, UDP_PORT_DATA);
	return (uint16_t)(14 + outer);
}

static int build_templates(struct gen *g, char *err, size_t errlen)
{
	for (unsigned i = 0; i < g->opt.flows; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
		if (!m) {
			snprintf(err, errlen, "cannot allocate template %u of %u: pool too small", i,
				 g->opt.flows);
			return -ENOMEM;
		}
		uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
		uint16_t len = build_frame(&g->opt, i, p);
		m->data_len = len;
		m->pkt_len = len;
		g->tmpl[i] = m;
	}
	return 0;
}

/* A memif client port: the one side whose link a restart can bring up (it
 * connects again); restarting a server would drop a peer mid-handshake. */
static bool is_memif_client(uint16_t port)
{
	struct rte_eth_dev_info info;
	if (rte_eth_dev_info_get(port, &info) != 0 || !info.device)
		return false;
	const struct rte_devargs *da = rte_dev_devargs(info.device);
	return da && da->args && strstr(info.driver_name, "memif") && strstr(da->args, "role=client");
}

/*
 * With --rx-queues 2, two receive queues where the device allows it: a forwarder may transmit on
 * a second queue (OVS-DPDK sends from its PMD thread on tx queue 1 of a port,
 * queue 0 being its main thread's); with a memif peer that queue needs a ring
 * on our side too, or every packet it sends is dropped.
 */
static int port_setup(struct gen *g, uint16_t port, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	memset(&conf, 0, sizeof(conf));
	uint16_t nq = 1;
	if (g->opt.rx_queues > 1 && rte_eth_dev_info_get(port, &info) == 0 && info.max_rx_queues >= 2)
		nq = 2;
	int rc = rte_eth_dev_configure(port, nq, 1, &conf);
	if (rc == 0) {
		uint16_t nrx = RING_DESC, ntx = RING_DESC;
		rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
		for (uint16_t q = 0; q < nq && rc == 0; q++)
			rc = rte_eth_rx_queue_setup(port, q, nrx, rte_socket_id(), NULL, g->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(port, 0, ntx, rte_socket_id(), NULL);
	}
	g->nrxq[port] = nq;
	if (rc == 0) {
		rc = rte_eth_dev_start(port);
		/* a memif client whose server does not listen yet: --relink starts it again */
		if (rc < 0 && g->opt.relink_s > 0 && is_memif_client(port)) {
			fprintf(stderr, "tern-pktgen: port %u: no memif server yet, trying again every "
				"%.0f s\n", port, g->opt.relink_s);
			rc = 0;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "port %u: setup failed: %s", port, rte_strerror(-rc));
		return rc;
	}
	rte_eth_promiscuous_enable(port); /* not every PMD has it; frames flow anyway */
	return 0;
}

static bool stop_requested(const struct gen *g)
{
	sigset_t pending;
	sigset_t ours;
	if (sigpending(&pending) < 0 || sigandset(&ours, &pending, &g->stop_signals) < 0)
		return false;
	return !sigisemptyset(&ours);
}

/* The forwarder's thread id, from the file the bench writes once it knows it. */
static int read_watch_tid(struct gen *g, char *err, size_t errlen)
{
	uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + (uint64_t)(g->opt.link_timeout_s * (double)hz);
	for (;;) {
		FILE *f = fopen(g->opt.watch_tid_file, "r");
		int tid = 0;
		if (f) {
			if (fscanf(f, "%d", &tid) != 1)
				tid = 0;
			fclose(f);
		}
		if (tid > 0) {
			g->opt.watch_tid = tid;
			return 0;
		}
		if (rte_rdtsc() > end || stop_requested(g)) {
			snprintf(err, errlen, "no thread id in %s after %.0f s", g->opt.watch_tid_file,
				 g->opt.link_timeout_s);
			return -ETIMEDOUT;
		}
		rte_delay_ms(10);
	}
}

static int wait_links(struct gen *g, char *err, size_t errlen)
{
	uint64_t hz = rte_get_tsc_hz();
	uint64_t end = rte_rdtsc() + (uint64_t)(g->opt.link_timeout_s * (double)hz);
	uint16_t ports[2] = { g->opt.tx_port, g->opt.rx_port };
	uint64_t relink_every = (uint64_t)(g->opt.relink_s * (double)hz);
	uint64_t relink_at = rte_rdtsc() + relink_every;
	for (;;) {
		bool up = true, down[2] = { false, false };
		for (int i = 0; i < 2; i++) {
			struct rte_eth_link l;
			if (rte_eth_link_get_nowait(ports[i], &l) != 0 || !l.link_status)
				up = false, down[i] = true;
		}
		if (up)
			return 0;
		if (relink_every && rte_rdtsc() > relink_at) {
			for (int i = 0; i < 2; i++) {
				if (!down[i] || (i == 1 && ports[1] == ports[0]) || !is_memif_client(ports[i]))
					continue;
				fprintf(stderr, "tern-pktgen: port %u still down: restarting it\n", ports[i]);
				if (rte_eth_dev_stop(ports[i]) != 0) {
					snprintf(err, errlen, "port %u: cannot stop it to restart it", ports[i]);
					return -EIO;
				}
				/* a failed start (no server listening yet) is tried again */
				(void)rte_eth_dev_start(ports[i]);
			}
			relink_at = rte_rdtsc() + relink_every;
		}
		if (rte_rdtsc() > end || stop_requested(g)) {
			snprintf(err, errlen, "links of ports %u and %u not up after %.0f s (is the "
				 "forwarder running, listening on the memif socket?)", ports[0], ports[1],
				 g->opt.link_timeout_s);
			return -ETIMEDOUT;
		}
		rte_delay_ms(10);
	}
}

/* A thread's time on CPU in nanoseconds (first field of schedstat). */
static int thread_cpu_ns(int tid, uint64_t *ns)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/schedstat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	int n = fscanf(f, "%" SCNu64, ns);
	fclose(f);
	return n == 1 ? 0 : -EIO;
}

/* /proc/stat's columns of a core: user nice system idle iowait irq softirq steal */
enum { ST_IDLE = 0x18, /* idle (3) and iowait (4) */ ST_IRQ = 0x60 /* irq, softirq */ };

/* Time core `cpu` spent in the columns of `cols` (a bit per column), in
 * nanoseconds (ticks of USER_HZ, so 10 ms resolution: fine over seconds). */
static int core_stat_ns(int cpu, unsigned cols, uint64_t *ns)
{
	char want[16], line[512];
	snprintf(want, sizeof(want), "cpu%d ", cpu);
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -errno;
	int rc = -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, want, strlen(want)))
			continue;
		uint64_t v[8] = { 0 };
		if (sscanf(line + strlen(want), "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %"
			   SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7]) != 8) {
			rc = -EIO;
			break;
		}
		uint64_t ticks = 0;
		for (unsigned i = 0; i < 8; i++)
			if (cols & (1u << i))
				ticks += v[i];
		*ns = ticks * (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
		rc = 0;
		break;
	}
	fclose(f);
	return rc;
}

static uint64_t self_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int snapshot(const struct gen *g, struct counters *s, char *err, size_t errlen)
{
	*s = g->c;
	s->tsc = rte_rdtsc();
	s->gen_cpu_ns = self_cpu_ns();
	s->fwd_cpu_ns = 0;
	if (g->opt.watch_tid) {
		int rc = thread_cpu_ns(g->opt.watch_tid, &s->fwd_cpu_ns);
		if (rc < 0) {
			snprintf(err, errlen, "cannot read /proc/%d/schedstat: %s (has the forwarder "
				 "exited?)", g->opt.watch_tid, strerror(-rc));
			return rc;
		}
	}
	s->cpu_busy_ns = 0;
	if (g->opt.watch_cpu >= 0) {
		/* Busy = wall time - idle. A tickless kernel measures a core's idle
		 * time exactly but samples the other columns at its ticks, and a core
		 * woken for short softirq bursts (the kernel forwarding on RPS
		 * hand-offs) gets no tick in most of them: the busy columns summed
		 * to 0.44 s of a 2 s window where idle was 0.66 s (session 20). */
		uint64_t idle = 0;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int rc = core_stat_ns(g->opt.watch_cpu, ST_IDLE, &idle);
		s->cpu_busy_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec - idle;
		if (rc < 0) {
			snprintf(err, errlen, "cannot read core %d from /proc/stat: %s", g->opt.watch_cpu,
				 strerror(-rc));
			return rc;
		}
	}
	/* The kernel's interrupt work on the generator's own core: the ports'
	 * deliveries (a veth's receive into an af_packet ring) run there. */
	int self = sched_getcpu();
	int rc = self < 0 ? -errno : core_stat_ns(self, ST_IRQ, &s->gen_core_irq_ns);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the generator's core %d from /proc/stat: %s", self,
			 strerror(-rc));
		return rc;
	}
	return 0;
}

static bool is_good(enum expect ex, const struct rte_mbuf *m)
{
	if (ex == EX_ANY)
		return true;
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	if (m->data_len < 14 + 28 || p[12] != 0x08 || p[13] != 0x00 || p[14 + 9] != 17)
		return false;
	const uint8_t *udp = p + 14 + (p[14] & 0x0f) * 4;
	if (udp + 4 > p + m->data_len)
		return false;
	uint16_t dport = (uint16_t)(udp[2] << 8 | udp[3]);
	switch (ex) {
	case EX_UDP:
		return dport == UDP_PORT_DATA;
	case EX_MPLSOUDP:
		return dport == UDP_PORT_MPLS;
	case EX_VXLAN:
		return dport == UDP_PORT_VXLAN;
	default:
		return true;
	}
}

#define NEW_FLOW_PORTS 64512 /* source ports 1024..65535 */

/* --new-flows: a burst of fresh mbufs, each the first template with tuple
 * g->tuple + i. Returns how many were built (0: the pool is empty for now). */
static unsigned build_new_flows(struct gen *g, struct rte_mbuf **tx)
{
	if (rte_pktmbuf_alloc_bulk(g->pool, tx, BURST) != 0)
		return 0;
	const struct rte_mbuf *t = g->tmpl[0];
	const uint8_t *src = rte_pktmbuf_mtod(t, const uint8_t *);
	uint32_t base = ntohl(g->opt.src);
	for (unsigned i = 0; i < BURST; i++) {
		uint64_t k = g->tuple + i;
		uint8_t *p = rte_pktmbuf_mtod(tx[i], uint8_t *);
		memcpy(p, src, FRAME_LEN);
		tx[i]->data_len = t->data_len;
		tx[i]->pkt_len = t->pkt_len;
		uint8_t *ip = p + 14;
		uint32_t a = htonl(base + (uint32_t)(k / NEW_FLOW_PORTS));
		memcpy(ip + 12, &a, 4);
		put16(ip + 10, 0);
		put16(ip + 10, ip_csum(ip));
		put16(ip + 20, (uint16_t)(1024 + k % NEW_FLOW_PORTS));
	}
	return BURST;
}

/* One round: a burst out, then drain what came back. */
static void round_trip(struct gen *g)
{
	struct rte_mbuf *tx[BURST];
	const struct options *o = &g->opt;
	unsigned nb = BURST;
	if (o->new_flows) {
		nb = build_new_flows(g, tx);
	} else {
		for (unsigned i = 0; i < BURST; i++) {
			struct rte_mbuf *m = g->tmpl[g->next];
			g->next = g->next + 1 == o->flows ? 0 : g->next + 1;
			rte_mbuf_refcnt_update(m, 1); /* the driver's free drops it back to ours */
			tx[i] = m;
		}
	}
	uint16_t sent = nb ? rte_eth_tx_burst(o->tx_port, 0, tx, (uint16_t)nb) : 0;
	g->c.sent += sent;
	if (sent < nb) {
		g->c.tx_full += nb - sent;
		for (unsigned i = sent; i < nb; i++) {
			if (o->new_flows)
				rte_pktmbuf_free(tx[i]); /* its tuple goes out in the next burst */
			else
				rte_mbuf_refcnt_update(tx[i], -1);
		}
	}
	if (o->new_flows) {
		g->tuple += sent;
		g->c.tuples = g->tuple;
	}
	for (uint16_t q = 0; q < g->nrxq[o->rx_port]; q++) {
		for (int b = 0; b < RX_BURSTS_PER_TX; b++) {
			struct rte_mbuf *rx[BURST];
			uint16_t n = rte_eth_rx_burst(o->rx_port, q, rx, BURST);
			if (!n)
				break;
			g->c.rcvd += n;
			for (uint16_t i = 0; i < n; i++)
				g->c.good += is_good(o->expect, rx[i]);
			rte_pktmbuf_free_bulk(rx, n);
		}
	}
}

/* Run until `until` (TSC), checking for a stop signal now and then. */
static int run_until(struct gen *g, uint64_t until)
{
	for (unsigned k = 0;; k++) {
		round_trip(g);
		if ((k & 1023) == 0) {
			if (rte_rdtsc() >= until)
				return 0;
			if (stop_requested(g))
				return -EINTR;
		}
	}
}

static void report(const struct gen *g, const struct counters *a, const struct counters *b)
{
	double s = (double)(b->tsc - a->tsc) / (double)rte_get_tsc_hz();
	uint64_t sent = b->sent - a->sent, rcvd = b->rcvd - a->rcvd;
	printf("pktgen: window_s=%.3f sent=%" PRIu64 " rcvd=%" PRIu64 " good=%" PRIu64
	       " tx_full=%" PRIu64 " tx_mpps=%.4f rx_mpps=%.4f gen_cpu_ns=%" PRIu64
	       " fwd_cpu_ns=%" PRIu64 " cpu_busy_ns=%" PRIu64 " gen_core_irq_ns=%" PRIu64
	       " tsc_hz=%" PRIu64 " tuples=%" PRIu64 "\n",
	       s, sent, rcvd, b->good - a->good, b->tx_full - a->tx_full, (double)sent / s / 1e6,
	       (double)rcvd / s / 1e6, b->gen_cpu_ns - a->gen_cpu_ns, b->fwd_cpu_ns - a->fwd_cpu_ns,
	       b->cpu_busy_ns - a->cpu_busy_ns, b->gen_core_irq_ns - a->gen_core_irq_ns,
	       rte_get_tsc_hz(), b->tuples);
	fflush(stdout);
	(void)g;
}

static int run(struct gen *g, char *err, size_t errlen)
{
	uint16_t nports = rte_eth_dev_count_avail();
	if (nports == 0) {
		snprintf(err, errlen, "no ports: give the EAL a --vdev (net_memif, net_af_packet)");
		return -ENODEV;
	}
	if (!g->opt.rx_port_set)
		g->opt.rx_port = nports > 1 ? 1 : 0;
	if (g->opt.tx_port >= nports || g->opt.rx_port >= nports) {
		snprintf(err, errlen, "ports %u/%u asked for, %u exist", g->opt.tx_port,
			 g->opt.rx_port, nports);
		return -ENODEV;
	}
	/* Templates + both rings + bursts in flight, with room to spare. */
	unsigned nb = g->opt.flows + 4 * RING_DESC + 4 * BURST + 1024;
	if (g->opt.new_flows) /* fresh buffers in flight through the forwarder too */
		nb += 16384;
	g->pool = rte_pktmbuf_pool_create("pktgen", nb, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!g->pool) {
		snprintf(err, errlen, "cannot create %u buffers: %s (give the EAL more -m)", nb,
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	int rc = port_setup(g, g->opt.tx_port, err, errlen);
	if (rc == 0 && g->opt.rx_port != g->opt.tx_port)
		rc = port_setup(g, g->opt.rx_port, err, errlen);
	if (rc == 0)
		rc = build_templates(g, err, errlen);
	if (rc == 0)
		rc = wait_links(g, err, errlen);
	if (rc == 0 && g->opt.watch_tid_file)
		rc = read_watch_tid(g, err, errlen);
	if (rc < 0)
		return rc;

	uint64_t hz = rte_get_tsc_hz();
	struct counters a, b;
	rc = run_until(g, rte_rdtsc() + (uint64_t)(g->opt.warmup_s * (double)hz));
	if (rc == 0)
		rc = snapshot(g, &a, err, errlen);
	if (rc == 0)
		rc = run_until(g, a.tsc + (uint64_t)(g->opt.duration_s * (double)hz));
	if (rc == 0)
		rc = snapshot(g, &b, err, errlen);
	if (rc == -EINTR)
		snprintf(err, errlen, "stopped by a signal before the window ended");
	if (rc < 0)
		return rc;
	report(g, &a, &b);
	return 0;
}

static void cleanup(struct gen *g)
{
	uint16_t port;
	RTE_ETH_FOREACH_DEV(port) {
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	for (unsigned i = 0; i < g->opt.flows; i++)
		if (g->tmpl[i])
			rte_pktmbuf_free(g->tmpl[i]);
	rte_mempool_free(g->pool);
}

int main(int argc, char **argv)
{
	static struct gen g; /* the process's one context (large template array) */
	char err[300] = "";

	/* Stop requests are polled (sigpending) from the loop: no handler, no global flag. */
	sigemptyset(&g.stop_signals);
	sigaddset(&g.stop_signals, SIGINT);
	sigaddset(&g.stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &g.stop_signals, NULL);

	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "tern-pktgen: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argv[n] = argv[0];
	if (parse_options(argc - n, argv + n, &g.opt) < 0) {
		rte_eal_cleanup();
		return 2;
	}
	int rc = run(&g, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "tern-pktgen: %s\n", err);
	cleanup(&g);
	rte_eal_cleanup();
	return rc < 0 ? 1 : 0;
}
