/*
 * DOC: vr_dpdk_main.c — tern-vrouter: options, EAL, the forwarding loop.
 *
 * One process per instance; each has its own name, run directory (control
 * socket, pid file) and core list. The loop has the l3fwd shape: for each
 * port, a burst through the pipeline; transmit buffers flushed per round.
 * When no packet arrived for a while it sleeps (from 8 us up to
 * --max-sleep-us, 500 by default) on an eventfd that a control request also
 * wakes, so an idle vrouter costs almost no CPU and still answers within a
 * millisecond. --poll keeps it spinning, for benchmarks.
 */
#include "tern_mac.h"
#include "vr_dpdk.h"
#include "vr_dpdk_kport.h"
#include "vr_dpdk_memif.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_cycles.h>
#include <rte_lcore.h>

#define IDLE_ROUNDS_BEFORE_SLEEP 64

static void usage(FILE *out)
{
	fprintf(out,
"usage: tern-vrouter [options]\n"
"  --name NAME          instance name (default: default); one per vrouter on a node\n"
"  --run-dir DIR        control socket and pid file (default: /run/tern/vrouter/NAME)\n"
"  --lcores LIST        the forwarding core (default: 0)\n"
"  --mem MB             DPDK memory (default: 512)\n"
"  --huge auto|yes|no   hugepages (default: auto: used when enough are free)\n"
"  --memif-io tern|dpdk  who serves memif vifs where the vrouter is the server (default:\n"
"                       tern: tern's own memif server, bulk buffers, no ethdev layer;\n"
"                       dpdk: DPDK's memif PMD); client vifs use the PMD, but with\n"
"  --memif-zero-copy    memif vifs where the vrouter is the client: tern's zero-copy\n"
"                       client. The peer reads and writes the vrouter's packet buffers\n"
"                       in place (no copy on the forwarding core) and so sees all of\n"
"                       them: for trusted peers only\n"
"  --kernel-io tern|af_packet|af_xdp|auto\n"
"                       how kernel interfaces are driven (default: tern: tern's own\n"
"                       af_packet rings, no fanout group, the node's own outgoing frames\n"
"                       ignored; af_packet: DPDK's PMD; auto: AF_XDP where the kernel lets\n"
"                       it attach, else DPDK's af_packet)\n"
"  --kernel-rx adaptive|frames|blocks\n"
"                       with --kernel-io tern: how the kernel hands frames over: one by\n"
"                       one (TPACKET_V2: no wait), in blocks (TPACKET_V3: ~25%% less work\n"
"                       for the kernel and the vrouter a frame, but at low rates a frame\n"
"                       waits for the block timer), or adaptive (default): frames while\n"
"                       the rate is low, blocks once the traffic fills one in 100 us\n"
"  --kernel-rx-block-ms N  the block timer: a block not full is handed over after N ms\n"
"                       (at least one kernel tick; default 1)\n"
"  --mbufs N            packet buffers (default: 16384)\n"
"  --mbuf-size BYTES    room for one frame in a packet buffer (default: 2048; 9216 for a\n"
"                       9000-byte MTU); a vif's MTU must fit it\n"
"  --vrfs N             VRF ids 0..N-1 (default: %u, at most %u)\n"
"  --routes N           IPv4 + IPv6 routes (default: 262144)\n"
"  --fib-tbl8s N        FIB second-level groups per family (default: 16384)\n"
"  --flows N            flow table entries, fixed at start, 2 per connection (default: 65536)\n"
"  --flows6 N           of which IPv6 at most (default: an eighth of --flows)\n"
"  --mac MAC            the vrouter MAC for routed traffic (default: 00:00:5e:00:01:00)\n"
"  --poll               never sleep when idle (benchmarks)\n"
"  --max-sleep-us N     longest idle sleep (default: 500)\n"
"  --log-level LEVEL    error, warn, info, debug (default: info)\n",
		VR_DEFAULT_VRFS, VR_MAX_VRFS_LIMIT);
}

static int parse_uint(const char *opt, const char *s, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "tern-vrouter: %s '%s' is not a number in 0..%u\n", opt, s, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}


static int parse_options(int argc, char **argv, struct vrd_options *o)
{
	enum { O_NAME = 256, O_RUN, O_LCORES, O_MEM, O_HUGE, O_MBUFS, O_VRFS, O_ROUTES, O_TBL8,
	       O_MAC, O_POLL, O_SLEEP, O_LOG, O_HELP, O_FLOWS, O_FLOWS6, O_KIO, O_MEMIF,
	       O_MBUF_SIZE, O_MEMIF_ZC, O_KBLOCK, O_KRX };
	static const struct option opts[] = {
		{ "name", required_argument, 0, O_NAME }, { "run-dir", required_argument, 0, O_RUN },
		{ "lcores", required_argument, 0, O_LCORES }, { "mem", required_argument, 0, O_MEM },
		{ "huge", required_argument, 0, O_HUGE }, { "mbufs", required_argument, 0, O_MBUFS },
		{ "vrfs", required_argument, 0, O_VRFS }, { "routes", required_argument, 0, O_ROUTES },
		{ "fib-tbl8s", required_argument, 0, O_TBL8 }, { "mac", required_argument, 0, O_MAC },
		{ "poll", no_argument, 0, O_POLL }, { "max-sleep-us", required_argument, 0, O_SLEEP },
		{ "log-level", required_argument, 0, O_LOG }, { "help", no_argument, 0, O_HELP },
		{ "flows", required_argument, 0, O_FLOWS }, { "flows6", required_argument, 0, O_FLOWS6 },
		{ "kernel-io", required_argument, 0, O_KIO },
		{ "memif-io", required_argument, 0, O_MEMIF },
		{ "mbuf-size", required_argument, 0, O_MBUF_SIZE },
		{ "memif-zero-copy", no_argument, 0, O_MEMIF_ZC },
		{ "kernel-rx-block-ms", required_argument, 0, O_KBLOCK },
		{ "kernel-rx", required_argument, 0, O_KRX },
		{ 0, 0, 0, 0 },
	};
	unsigned v;
	int c;
	snprintf(o->name, sizeof(o->name), "default");
	snprintf(o->lcores, sizeof(o->lcores), "0");
	o->mem_mb = 512;
	o->mbufs = 16384;
	o->mbuf_size = VRD_MBUF_SIZE_DEFAULT;
	o->huge = -1;
	o->max_sleep_us = 500;
	o->memif_io = VRD_MEMIF_TERN; /* faster, see docs/PERFORMANCE.md; --memif-io dpdk for the PMD */
	/* the PMD takes the frames the node sends out of a vif's interface for
	 * the vif's own (docs/ARCHITECTURE.md); --kernel-io af_packet for it */
	o->kernel_io = VRD_IO_TERN;
	o->kernel_rx = -1;
	o->cfg.fib_tbl8s = 16384;
	o->log_level = TERN_LOG_INFO;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_NAME:
			if (!optarg[0] || strlen(optarg) >= sizeof(o->name) || strpbrk(optarg, "/ ,")) {
				fprintf(stderr, "tern-vrouter: --name must be 1..%zu characters without '/', "
					"',' or spaces\n", sizeof(o->name) - 1);
				return -EINVAL;
			}
			snprintf(o->name, sizeof(o->name), "%s", optarg);
			break;
		case O_RUN:
			if (strlen(optarg) >= sizeof(o->run_dir) - 16) {
				fprintf(stderr, "tern-vrouter: --run-dir is too long\n");
				return -EINVAL;
			}
			snprintf(o->run_dir, sizeof(o->run_dir), "%s", optarg);
			break;
		case O_LCORES:
			if (strlen(optarg) >= sizeof(o->lcores) || strspn(optarg, "0123456789,-") != strlen(optarg)) {
				fprintf(stderr, "tern-vrouter: --lcores takes a core list like 0 or 1\n");
				return -EINVAL;
			}
			snprintf(o->lcores, sizeof(o->lcores), "%s", optarg);
			break;
		case O_MEM:
			if (parse_uint("--mem", optarg, 1 << 20, &o->mem_mb) < 0)
				return -EINVAL;
			break;
		case O_HUGE:
			o->huge = !strcmp(optarg, "yes") ? 1 : !strcmp(optarg, "no") ? 0 : !strcmp(optarg, "auto") ? -1 : -2;
			if (o->huge == -2) {
				fprintf(stderr, "tern-vrouter: --huge takes auto, yes or no\n");
				return -EINVAL;
			}
			break;
		case O_KIO:
			o->kernel_io = !strcmp(optarg, "af_packet") ? VRD_IO_AF_PACKET :
				       !strcmp(optarg, "af_xdp") ? VRD_IO_AF_XDP :
				       !strcmp(optarg, "auto") ? VRD_IO_AUTO :
				       !strcmp(optarg, "tern") ? VRD_IO_TERN : -1;
			if (o->kernel_io < 0) {
				fprintf(stderr, "tern-vrouter: --kernel-io takes af_packet, af_xdp, auto or "
					"tern\n");
				return -EINVAL;
			}
			break;
		case O_KBLOCK:
			if (parse_uint("--kernel-rx-block-ms", optarg, 1000, &o->kernel_block_ms) < 0)
				return -EINVAL;
			if (!o->kernel_block_ms) {
				fprintf(stderr, "tern-vrouter: --kernel-rx-block-ms takes 1..1000\n");
				return -EINVAL;
			}
			break;
		case O_KRX:
			o->kernel_rx = !strcmp(optarg, "adaptive") ? VRD_KRX_ADAPTIVE :
				       !strcmp(optarg, "frames") ? VRD_KRX_FRAMES :
				       !strcmp(optarg, "blocks") ? VRD_KRX_BLOCKS : -1;
			if (o->kernel_rx < 0) {
				fprintf(stderr, "tern-vrouter: --kernel-rx takes adaptive, frames or "
					"blocks\n");
				return -EINVAL;
			}
			break;
		case O_MEMIF:
			o->memif_io = !strcmp(optarg, "dpdk") ? VRD_MEMIF_DPDK :
				      !strcmp(optarg, "tern") ? VRD_MEMIF_TERN : -1;
			if (o->memif_io < 0) {
				fprintf(stderr, "tern-vrouter: --memif-io takes dpdk or tern\n");
				return -EINVAL;
			}
			break;
		case O_MEMIF_ZC:
			o->memif_zero_copy = true;
			break;
		case O_MBUFS:
			if (parse_uint("--mbufs", optarg, 1 << 22, &o->mbufs) < 0)
				return -EINVAL;
			break;
		case O_MBUF_SIZE:
			if (parse_uint("--mbuf-size", optarg, VRD_MBUF_SIZE_MAX, &v) < 0)
				return -EINVAL;
			if (v < VRD_MBUF_SIZE_DEFAULT || v % 64) {
				fprintf(stderr, "tern-vrouter: --mbuf-size %u: give a multiple of 64 "
					"from %u to %u\n", v, VRD_MBUF_SIZE_DEFAULT, VRD_MBUF_SIZE_MAX);
				return -EINVAL;
			}
			o->mbuf_size = v;
			break;
		case O_VRFS:
			if (parse_uint("--vrfs", optarg, VR_MAX_VRFS_LIMIT, &v) < 0)
				return -EINVAL;
			o->cfg.max_vrfs = v;
			break;
		case O_ROUTES:
			if (parse_uint("--routes", optarg, (1u << 21) - 2, &v) < 0)
				return -EINVAL;
			o->cfg.max_routes = v;
			break;
		case O_TBL8:
			if (parse_uint("--fib-tbl8s", optarg, 1u << 22, &v) < 0)
				return -EINVAL;
			o->cfg.fib_tbl8s = v;
			break;
		case O_FLOWS:
			if (parse_uint("--flows", optarg, 1u << 26, &v) < 0 || v < 2) {
				fprintf(stderr, "tern-vrouter: --flows takes 2..%u\n", 1u << 26);
				return -EINVAL;
			}
			o->cfg.max_flows = v;
			break;
		case O_FLOWS6:
			if (parse_uint("--flows6", optarg, 1u << 26, &v) < 0 || v < 64) {
				fprintf(stderr, "tern-vrouter: --flows6 takes 64..%u\n", 1u << 26);
				return -EINVAL;
			}
			o->cfg.max_flows6 = v;
			break;
		case O_MAC:
			if (tern_mac_parse(optarg, o->cfg.mac) < 0) {
				fprintf(stderr, "tern-vrouter: --mac '%s' is not a MAC like 00:00:5e:00:01:00\n", optarg);
				return -EINVAL;
			}
			break;
		case O_POLL:
			o->poll = true;
			break;
		case O_SLEEP:
			if (parse_uint("--max-sleep-us", optarg, 100000, &o->max_sleep_us) < 0)
				return -EINVAL;
			break;
		case O_LOG:
			if (tern_log_level_parse(optarg, &o->log_level) < 0) {
				fprintf(stderr, "tern-vrouter: --log-level takes error, warn, info or debug\n");
				return -EINVAL;
			}
			break;
		case O_HELP:
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tern-vrouter: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->memif_zero_copy && o->memif_io != VRD_MEMIF_TERN) {
		fprintf(stderr, "tern-vrouter: --memif-zero-copy is tern's own memif client: it "
			"does not go with --memif-io dpdk\n");
		return -EINVAL;
	}
	if ((o->kernel_block_ms || o->kernel_rx >= 0) && o->kernel_io != VRD_IO_TERN) {
		fprintf(stderr, "tern-vrouter: --kernel-rx and --kernel-rx-block-ms are for tern's "
			"own af_packet rings (--kernel-io tern, the default), not for DPDK's PMDs\n");
		return -EINVAL;
	}
	if (o->kernel_rx < 0)
		o->kernel_rx = VRD_KRX_ADAPTIVE;
	if (!o->kernel_block_ms)
		o->kernel_block_ms = 1;
	if (!o->run_dir[0])
		snprintf(o->run_dir, sizeof(o->run_dir), "/run/tern/vrouter/%s", o->name);
	return 0;
}

static unsigned free_hugepages_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long free_pages = 0, rsvd = 0, kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lu", &free_pages);
		sscanf(line, "HugePages_Rsvd: %lu", &rsvd); /* promised to others' mappings */
		sscanf(line, "Hugepagesize: %lu kB", &kb);
	}
	fclose(f);
	return free_pages > rsvd ? (unsigned)((free_pages - rsvd) * kb / 1024) : 0;
}

static int mkdir_p(const char *path)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Returns 0, or -errno; *tried_huge tells whether hugepages were chosen. */
static int eal_init(struct vrd *d, const char *prog, bool *tried_huge)
{
	const struct vrd_options *o = &d->opt;
	char lcores[64], mem[32], prefix[64];
	bool huge = o->huge == 1 || (o->huge == -1 && free_hugepages_mb() >= o->mem_mb);
	*tried_huge = huge;
	char *args[16];
	int n = 0;
	snprintf(lcores, sizeof(lcores), "%s", o->lcores);
	snprintf(mem, sizeof(mem), "%u", o->mem_mb);
	snprintf(prefix, sizeof(prefix), "tern-vr-%s", o->name);
	args[n++] = (char *)prog;
	args[n++] = "-l";
	args[n++] = lcores;
	args[n++] = "--no-pci";
	/* No files shared with other processes; --no-huge rules out --in-memory. */
	args[n++] = huge ? "--in-memory" : "--no-shconf";
	args[n++] = "--file-prefix";
	args[n++] = prefix;
	args[n++] = "-m";
	args[n++] = mem;
	if (!huge)
		args[n++] = "--no-huge";
	args[n++] = "--log-level";
	args[n++] = o->log_level >= TERN_LOG_DEBUG ? "info" : "error";
	args[n] = NULL;
	TLOG_INFO(&d->log, "EAL: lcores %s, %u MB %s", lcores, o->mem_mb,
		  huge ? "in hugepages" : "without hugepages (--no-huge)");
	int rc = rte_eal_init(n, args);
	if (rc < 0) {
		TLOG_ERR(&d->log, "EAL init failed: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	return 0;
}

static void rebuild_rx(struct vrd *d)
{
	d->n_rx = 0;
	for (uint16_t i = 0; i < VR_MAX_VIFS; i++)
		if (d->ports[i].used)
			d->rx_vifs[d->n_rx++] = i;
}

/* Sleep on the wake eventfd and, for tern's memif servers, on the peers'
 * interrupt eventfds (unmasked only while sleeping); tern's af_packet sockets
 * wake it too (listed after the eventfds: they are not read). */
static void idle_sleep(struct vrd *d, unsigned us)
{
	struct pollfd p[1 + 2 * VR_MAX_VIFS];
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)us * 1000 };
	unsigned n = 1, n_evt;
	bool sleep = true;
	p[0] = (struct pollfd){ .fd = d->wake_fd, .events = POLLIN };
	for (unsigned i = 0; i < d->n_rx && sleep; i++) {
		struct vrd_memif *m = d->ports[d->rx_vifs[i]].memif;
		int fd = m ? vrd_memif_sleep_fd(m) : -1;
		if (fd == -2)
			sleep = false; /* a packet came while unmasking */
		else if (fd >= 0)
			p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	n_evt = n;
	for (unsigned i = 0; i < d->n_rx; i++) {
		struct vrd_kport *k = d->ports[d->rx_vifs[i]].kport;
		if (k)
			p[n++] = (struct pollfd){ .fd = vrd_kport_rx_fd(k), .events = POLLIN };
	}
	if (sleep && ppoll(p, n, &ts, NULL) > 0) {
		for (unsigned i = 0; i < n_evt; i++) {
			uint64_t v;
			/* only when readable: a peer's eventfd may be blocking */
			if ((p[i].revents & POLLIN) && read(p[i].fd, &v, sizeof(v)) < 0) {
				/* EAGAIN: another reader emptied it; nothing to do */
			}
		}
	}
	for (unsigned i = 0; i < d->n_rx; i++)
		if (d->ports[d->rx_vifs[i]].memif)
			vrd_memif_awake(d->ports[d->rx_vifs[i]].memif);
}

static void forward_loop(struct vrd *d)
{
	unsigned idle = 0, sleep_us = 0;
	struct vr_loop_stats *ls = vr_loop_stats(d->router);
	ls->tsc_hz = rte_get_tsc_hz();
	d->tx_drain_tsc = ls->tsc_hz / 1000000 * VRD_TX_DRAIN_US;
	uint64_t tsc_per_ms = ls->tsc_hz / 1000 ? ls->tsc_hz / 1000 : 1;
	uint64_t next_ms_tsc = 0, prev_t0 = 0;
	unsigned rounds = 0, prev_got = 0;
	bool prev_moved = false;
	rebuild_rx(d);
	vrd_guard_start(d->wake_fd);
	while (!atomic_load_explicit(&d->quit, memory_order_relaxed)) {
		unsigned got = 0;
		uint64_t t0 = rte_rdtsc();
		/* A round ends where the next begins: one TSC read a round. */
		if (prev_moved) {
			ls->busy_cycles += t0 - prev_t0;
			ls->busy_pkts += prev_got;
			ls->busy_rounds++;
		}
		d->now_tsc = t0;
		vrd_guard_round();
		if (t0 >= next_ms_tsc) { /* the millisecond clock: one division a millisecond */
			uint64_t ms = t0 / tsc_per_ms;
			vr_set_now(d->router, ms);
			next_ms_tsc = (ms + 1) * tsc_per_ms;
			vrd_ports_adapt(d, ms);
		}
		/* Ageing in small steps: when idle, and every 256 busy rounds; every
		 * round while flows are re-evaluated after a policy change. */
		bool reeval = vr_flow_busy(d->router);
		if (idle || reeval || (++rounds & 255) == 0)
			vr_flow_age(d->router, 64);
		for (unsigned i = 0; i < d->n_rx; i++)
			got += vrd_rx_burst(d, d->rx_vifs[i]);
		unsigned sent = vrd_flush_tx(d, false);
		prev_got = got;
		prev_moved = got || sent;
		prev_t0 = t0;
		if (vrd_ctl_poll(d)) {
			prev_got = 0; /* a control request's round is not the packets' */
			prev_moved = false;
			vrd_flush_tx(d, true);
			rebuild_rx(d);
			idle = 0;
			sleep_us = 0;
			continue;
		}
		if (got || d->opt.poll || reeval) {
			idle = 0;
			sleep_us = 0;
			continue;
		}
		if (++idle < IDLE_ROUNDS_BEFORE_SLEEP)
			continue;
		/* nothing waits while the loop sleeps; the flush is busy time */
		uint64_t f0 = rte_rdtsc();
		if (vrd_flush_tx(d, true)) {
			ls->busy_cycles += rte_rdtsc() - f0;
			ls->busy_rounds++;
		}
		sleep_us = sleep_us ? sleep_us * 2 : 8;
		if (sleep_us > d->opt.max_sleep_us)
			sleep_us = d->opt.max_sleep_us;
		idle_sleep(d, sleep_us);
	}
}

static int write_pid(const struct vrd *d)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/pid", d->opt.run_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	static struct vrd d; /* the process's one context, too large for the stack */
	char err[300];
	int rc;

	if (parse_options(argc, argv, &d.opt) < 0)
		return 2;
	tern_log_init(&d.log, "tern-vrouter", d.opt.name, d.opt.log_level);
	if ((rc = mkdir_p(d.opt.run_dir)) < 0) {
		TLOG_ERR(&d.log, "cannot create run directory %s: %s", d.opt.run_dir, strerror(-rc));
		return 1;
	}
	/* Signals go to the control thread's signalfd; block them before EAL starts threads. */
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	d.sig_fd = signalfd(-1, &ss, SFD_CLOEXEC);
	prctl(PR_SET_TIMERSLACK, 1000UL); /* idle sleeps end on time: wake within 1 ms */

	bool tried_huge = false;
	if (eal_init(&d, argv[0], &tried_huge) < 0) {
		if (d.opt.huge == -1 && tried_huge) {
			/* Another process took the hugepages between the count and the
			 * allocation: the EAL cannot start twice in one process, so start
			 * again without them. */
			char *args[128];
			int n = 0;
			for (int i = 0; i < argc && n < 125; i++)
				args[n++] = argv[i];
			args[n++] = "--huge";
			args[n++] = "no";
			args[n] = NULL;
			TLOG_WARN(&d.log, "hugepages ran short: starting again with --huge no");
			execv("/proc/self/exe", args);
			TLOG_ERR(&d.log, "cannot start again: %s", strerror(errno));
		}
		return 1;
	}
	if (vrd_pool_create(&d, err, sizeof(err)) < 0) {
		TLOG_ERR(&d.log, "%s", err);
		rte_eal_cleanup();
		return 1;
	}
	d.opt.cfg.name = d.opt.name;
	d.opt.cfg.lcores = d.opt.lcores;
	d.opt.cfg.max_frame = d.opt.mbuf_size - VRD_AF_PACKET_FRAME_OFF;
	d.opt.cfg.socket_id = (int)rte_socket_id();
	d.router = vr_router_create(&d.opt.cfg, &d.log, &vrd_host_ops, &d, err, sizeof(err));
	if (!d.router) {
		TLOG_ERR(&d.log, "%s", err);
		rte_eal_cleanup();
		return 1;
	}
	if (vrd_ctl_start(&d, err, sizeof(err)) < 0) {
		TLOG_ERR(&d.log, "%s", err);
		vr_router_destroy(d.router);
		rte_eal_cleanup();
		return 1;
	}
	write_pid(&d);
	TLOG_INFO(&d.log, "ready: control socket %s, %s", d.sock_path,
		  d.opt.poll ? "polling" : "sleeping when idle");
	forward_loop(&d);
	const struct vr_loop_stats *ls = vr_loop_stats(d.router);
	if (ls->busy_rounds)
		TLOG_INFO(&d.log, "forwarded %llu packets in %llu busy rounds (%.1f a round), "
			  "%.0f cycles a packet", (unsigned long long)ls->busy_pkts,
			  (unsigned long long)ls->busy_rounds,
			  (double)ls->busy_pkts / (double)ls->busy_rounds,
			  (double)ls->busy_cycles / (double)ls->busy_pkts);
	vrd_guard_stop();
	TLOG_INFO(&d.log, "unmaps by other threads that waited for a forwarding round: %llu",
		  (unsigned long long)vrd_guard_waits());
	vrd_ctl_stop(&d);
	vr_router_destroy(d.router);
	char pid[300];
	snprintf(pid, sizeof(pid), "%s/pid", d.opt.run_dir);
	unlink(pid);
	rte_eal_cleanup();
	TLOG_INFO(&d.log, "stopped");
	return 0;
}
