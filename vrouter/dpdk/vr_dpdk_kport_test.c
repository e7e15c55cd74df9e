/*
 * Unit tests of tern's af_packet I/O (vr_dpdk_kport.c) on a veth pair in a
 * network namespace of the test's own (unshare): kpa is the vrouter's side,
 * a raw socket on kpb plays the pod. The namespace goes with the process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "vr_dpdk.h"
#include "vr_dpdk_kport.h"

static struct rte_mempool *pool;
static bool have_netns;
static int peer_fd = -1; /* raw socket on kpb */

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* A test frame: broadcast, a local source, an experimental ethertype, then
 * the sequence number and a pattern. */
static size_t make_frame(uint8_t *f, size_t len, uint32_t seq)
{
	static const uint8_t hdr[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0x02, 0, 0, 0, 0, 0x0b, 0x88, 0xb5 };
	memcpy(f, hdr, 14);
	memcpy(f + 14, &seq, 4);
	for (size_t i = 18; i < len; i++)
		f[i] = (uint8_t)(seq + i);
	return len;
}

static void peer_send(const uint8_t *f, size_t len)
{
	assert_int_equal(send(peer_fd, f, len, 0), (ssize_t)len);
}

static int kport_open(enum vrd_kport_rx mode, uint32_t room, struct vrd_kport **k)
{
	char err[200];
	struct vrd_kport_cfg c = { .ifname = "kpa", .frame_room = room, .rx_mode = mode,
				   .block_ms = 1 };
	int rc = vrd_kport_create(&c, k, err, sizeof(err));
	if (rc < 0)
		print_error("vrd_kport_create: %s\n", err);
	return rc;
}

/* Receive until want frames came or a second passed. */
static unsigned rx_until(struct vrd_kport *k, struct rte_mbuf **got, unsigned want)
{
	unsigned n = 0;
	uint64_t end = now_ms() + 1000;
	while (n < want && now_ms() < end) {
		uint16_t burst = want - n < 32 ? (uint16_t)(want - n) : 32;
		uint16_t r = vrd_kport_rx(k, pool, got + n, burst);
		if (!r) {
			struct pollfd p = { .fd = vrd_kport_rx_fd(k), .events = POLLIN };
			poll(&p, 1, 5);
		}
		n += r;
	}
	return n;
}

static void test_create_errors(void **state)
{
	(void)state;
	char err[200];
	struct vrd_kport *k = (void *)1;
	struct vrd_kport_cfg c = { .ifname = "kp-none", .frame_room = 2048, .block_ms = 1 };
	assert_int_equal(vrd_kport_create(&c, &k, err, sizeof(err)), -ENODEV);
	assert_null(k);
	assert_non_null(strstr(err, "no kernel interface 'kp-none'"));
	c.ifname = "a-name-longer-than-ifnamsiz";
	assert_int_equal(vrd_kport_create(&c, &k, err, sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "longer than"));
	c.ifname = "lo";
	c.rx_mode = VRD_KRX_BLOCKS;
	c.block_ms = 0; /* blocks with no timer */
	assert_int_equal(vrd_kport_create(&c, &k, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "block timer"));
}

/* Frames the peer sends arrive whole and in order, through frames (V2) or
 * blocks (V3); the socket is readable before they are read. */
static void rx_in_order(enum vrd_kport_rx mode, unsigned count)
{
	if (!have_netns)
		skip();
	struct vrd_kport *k;
	assert_int_equal(kport_open(mode, 2048, &k), 0);
	/* fixed modes stay in theirs; adaptive starts frame by frame */
	assert_int_equal(vrd_kport_rx_cfg(k), mode);
	assert_int_equal(vrd_kport_rx_now(k), mode == VRD_KRX_BLOCKS ? VRD_KRX_BLOCKS : VRD_KRX_FRAMES);
	uint8_t f[1600];
	uint64_t bytes = 0;
	for (unsigned i = 0; i < count; i++) {
		size_t len = 60 + (i * 37) % 1440;
		peer_send(f, make_frame(f, len, i));
		bytes += len;
	}
	struct pollfd p = { .fd = vrd_kport_rx_fd(k), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 1000), 1);
	struct rte_mbuf **got = calloc(count, sizeof(*got));
	assert_non_null(got);
	assert_int_equal(rx_until(k, got, count), count);
	for (unsigned i = 0; i < count; i++) {
		size_t len = 60 + (i * 37) % 1440;
		make_frame(f, len, i);
		assert_int_equal(got[i]->data_len, len);
		assert_int_equal(got[i]->pkt_len, len);
		assert_memory_equal(rte_pktmbuf_mtod(got[i], void *), f, len);
		/* the packet view, filled as the buffer was */
		const struct vr_pkt *v = vrd_mbuf_pkt(got[i]);
		assert_ptr_equal(v->data, rte_pktmbuf_mtod(got[i], uint8_t *));
		assert_int_equal(v->len, len);
		assert_int_equal(v->headroom, rte_pktmbuf_headroom(got[i]));
		assert_int_equal(v->tailroom, rte_pktmbuf_tailroom(got[i]));
	}
	rte_pktmbuf_free_bulk(got, count);
	free(got);
	struct vrd_kport_stats st;
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.rx_pkts, count);
	assert_int_equal(st.rx_bytes, bytes);
	assert_int_equal(st.rx_errors + st.rx_missed + st.rx_nombuf, 0);
	vrd_kport_clear_stats(k);
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.rx_pkts, 0);
	vrd_kport_destroy(k);
}

static void test_rx_v2(void **state)
{
	(void)state;
	rx_in_order(VRD_KRX_FRAMES, 500);
}

static void test_rx_v3(void **state)
{
	(void)state;
	/* many blocks, the last one retired by its timer */
	rx_in_order(VRD_KRX_BLOCKS, 500);
}

/* Adaptive starts frame by frame: a lone frame is there at once. */
static void test_rx_adaptive(void **state)
{
	(void)state;
	rx_in_order(VRD_KRX_ADAPTIVE, 300);
	struct vrd_kport *k;
	assert_int_equal(kport_open(VRD_KRX_ADAPTIVE, 2048, &k), 0);
	uint8_t f[100];
	peer_send(f, make_frame(f, 100, 1));
	struct pollfd p = { .fd = vrd_kport_rx_fd(k), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 1000), 1);
	struct rte_mbuf *m;
	assert_int_equal(vrd_kport_rx(k, pool, &m, 1), 1); /* no block timer waited for */
	rte_pktmbuf_free(m);
	vrd_kport_destroy(k);
}

/* The node's stack sending out of kpa: not the pod's, never received. */
static void node_sends_out(void)
{
	int own = socket(AF_PACKET, SOCK_RAW, 0);
	assert_true(own >= 0);
	uint8_t f[100];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex("kpa"),
				   .sll_halen = 6 };
	assert_int_equal(sendto(own, f, make_frame(f, 100, 0xdead), 0, (struct sockaddr *)&sll,
				sizeof(sll)), 100);
	close(own);
	uint8_t buf[200];
	struct pollfd p = { .fd = peer_fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(recv(peer_fd, buf, sizeof(buf), 0), 100); /* the peer got it */
}

/* What the vrouter transmits reaches the peer, and its own receive ring
 * does not get it back (nor what the node's stack sends out of kpa). */
static void test_tx(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	struct vrd_kport *k;
	assert_int_equal(kport_open(VRD_KRX_FRAMES, 2048, &k), 0);
	enum { N = 200 };
	struct rte_mbuf *m[N];
	assert_int_equal(rte_pktmbuf_alloc_bulk(pool, m, N), 0);
	uint64_t bytes = 0;
	for (unsigned i = 0; i < N; i++) {
		size_t len = 60 + (i * 53) % 1440;
		make_frame(rte_pktmbuf_mtod(m[i], uint8_t *), len, 1000 + i);
		m[i]->data_len = (uint16_t)len;
		m[i]->pkt_len = (uint32_t)len;
		vrd_pkt_from_mbuf(m[i]); /* what the pipeline hands a port */
		bytes += len;
	}
	unsigned sent = 0;
	while (sent < N) {
		uint16_t b = N - sent < 64 ? (uint16_t)(N - sent) : 64;
		uint16_t t = vrd_kport_tx(k, m + sent, b);
		assert_true(t > 0);
		sent += t;
	}
	uint8_t buf[2048], f[1600];
	for (unsigned i = 0; i < N; i++) {
		struct pollfd p = { .fd = peer_fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 1000), 1);
		ssize_t r = recv(peer_fd, buf, sizeof(buf), 0);
		size_t len = 60 + (i * 53) % 1440;
		assert_int_equal(r, (ssize_t)len);
		assert_memory_equal(buf, f, make_frame(f, len, 1000 + i));
	}
	struct vrd_kport_stats st;
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.tx_pkts, N);
	assert_int_equal(st.tx_bytes, bytes);
	assert_int_equal(st.tx_errors, 0);
	node_sends_out();
	struct rte_mbuf *back[4];
	usleep(20000);
	assert_int_equal(vrd_kport_rx(k, pool, back, 4), 0);
	vrd_kport_destroy(k);
}

/* A frame longer than a packet buffer's room is counted and left out, the
 * next one still arrives; a VLAN tag the kernel took out is put back; a
 * frame too long to transmit is counted, taken and freed. */
static void test_errors_and_vlan(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	struct vrd_kport *k;
	assert_int_equal(kport_open(VRD_KRX_FRAMES, 256, &k), 0);
	uint8_t f[600];
	peer_send(f, make_frame(f, 400, 1));
	peer_send(f, make_frame(f, 200, 2));
	uint8_t tagged[200];
	make_frame(f, 196, 3);
	memcpy(tagged, f, 12);
	tagged[12] = 0x81, tagged[13] = 0x00, tagged[14] = 0x21, tagged[15] = 0x23;
	memcpy(tagged + 16, f + 12, 184);
	peer_send(tagged, sizeof(tagged));
	struct rte_mbuf *got[2];
	assert_int_equal(rx_until(k, got, 2), 2);
	assert_int_equal(got[0]->data_len, 200);
	make_frame(f, 200, 2);
	assert_memory_equal(rte_pktmbuf_mtod(got[0], void *), f, 200);
	assert_int_equal(got[1]->data_len, sizeof(tagged));
	assert_memory_equal(rte_pktmbuf_mtod(got[1], void *), tagged, sizeof(tagged));
	rte_pktmbuf_free_bulk(got, 2);
	struct vrd_kport_stats st;
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.rx_errors, 1);
	assert_int_equal(st.rx_pkts, 2);

	struct rte_mbuf *m[2];
	assert_int_equal(rte_pktmbuf_alloc_bulk(pool, m, 2), 0);
	m[0]->data_len = 500;
	m[0]->pkt_len = 500;
	make_frame(rte_pktmbuf_mtod(m[1], uint8_t *), 100, 9);
	m[1]->data_len = 100;
	m[1]->pkt_len = 100;
	vrd_pkt_from_mbuf(m[0]);
	vrd_pkt_from_mbuf(m[1]);
	assert_int_equal(vrd_kport_tx(k, m, 2), 2);
	uint8_t buf[600];
	struct pollfd p = { .fd = peer_fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(recv(peer_fd, buf, sizeof(buf), 0), 100);
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.tx_errors, 1);
	assert_int_equal(st.tx_pkts, 1);
	vrd_kport_destroy(k);
}

/* A frame within the buffer's room but longer than the interface's MTU is
 * refused by the kernel: counted, freed, and the frames around it, in the
 * same flush, still go out in order. */
static void test_tx_over_mtu(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	assert_int_equal(system("ip link set kpa mtu 500"), 0);
	struct vrd_kport *k;
	assert_int_equal(kport_open(VRD_KRX_FRAMES, 2048, &k), 0);
	enum { N = 5 };
	static const size_t len[N] = { 100, 1000, 200, 1000, 300 };
	struct rte_mbuf *m[N];
	assert_int_equal(rte_pktmbuf_alloc_bulk(pool, m, N), 0);
	for (unsigned i = 0; i < N; i++) {
		make_frame(rte_pktmbuf_mtod(m[i], uint8_t *), len[i], 50 + i);
		m[i]->data_len = (uint16_t)len[i];
		m[i]->pkt_len = (uint32_t)len[i];
		vrd_pkt_from_mbuf(m[i]);
	}
	assert_int_equal(vrd_kport_tx(k, m, N), N);
	uint8_t buf[2048], f[1600];
	for (unsigned i = 0; i < N; i += 2) {
		struct pollfd p = { .fd = peer_fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 1000), 1);
		assert_int_equal(recv(peer_fd, buf, sizeof(buf), 0), (ssize_t)len[i]);
		assert_memory_equal(buf, f, make_frame(f, len[i], 50 + i));
	}
	struct vrd_kport_stats st;
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.tx_pkts, 3);
	assert_int_equal(st.tx_bytes, 600);
	assert_int_equal(st.tx_errors, 2);
	vrd_kport_destroy(k);
	assert_int_equal(system("ip link set kpa mtu 1500"), 0);
}

/* Receive until want frames came or two seconds passed, letting the port
 * adapt on a clock of the test's own (one tick of *clock per empty poll). */
static unsigned rx_adapting(struct vrd_kport *k, struct rte_mbuf **got, unsigned want,
			    uint64_t *clock)
{
	unsigned n = 0;
	uint64_t end = now_ms() + 2000;
	while (n < want && now_ms() < end) {
		uint16_t burst = want - n < 32 ? (uint16_t)(want - n) : 32;
		uint16_t r = vrd_kport_rx(k, pool, got + n, burst);
		if (!r) {
			assert_true(vrd_kport_adapt(k, ++*clock, NULL) >= 0);
			struct pollfd p = { .fd = vrd_kport_rx_fd(k), .events = POLLIN };
			poll(&p, 1, 1);
		}
		n += r;
	}
	return n;
}

static void send_seq(uint32_t from, uint32_t to, size_t len)
{
	uint8_t f[1600];
	for (uint32_t i = from; i < to; i++)
		peer_send(f, make_frame(f, len, i));
}

static void expect_seq(struct rte_mbuf **got, unsigned n, uint32_t from)
{
	for (unsigned i = 0; i < n; i++) {
		uint32_t seq;
		memcpy(&seq, rte_pktmbuf_mtod(got[i], uint8_t *) + 14, 4);
		assert_int_equal(seq, from + i);
	}
	rte_pktmbuf_free_bulk(got, n);
}

/* Adaptive: a high rate switches to blocks, a low one back to frames; the
 * frames still in the block ring at that moment come before those the
 * frame ring takes after it; nothing is lost or taken twice, and the node's
 * own outgoing frames are never taken, in either state. */
static void test_adaptive_switch(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	struct vrd_kport *k;
	assert_int_equal(kport_open(VRD_KRX_ADAPTIVE, 2048, &k), 0);
	static struct rte_mbuf *got[1000];
	uint64_t clock = 1000;
	assert_int_equal(vrd_kport_rx_cfg(k), VRD_KRX_ADAPTIVE);
	assert_int_equal(vrd_kport_rx_now(k), VRD_KRX_FRAMES);
	assert_int_equal(vrd_kport_adapt(k, clock, NULL), 0); /* starts the first window */
	/* 10 ms of the test's clock with 400 frames of 1,000 bytes: a 4 KiB
	 * block would fill in ~95 us */
	node_sends_out();
	send_seq(0, 400, 1000);
	assert_int_equal(rx_until(k, got, 400), 400);
	expect_seq(got, 400, 0);
	unsigned kpps = 0;
	clock += 10;
	assert_int_equal(vrd_kport_adapt(k, clock, &kpps), VRD_KRX_BLOCKS);
	assert_int_equal(kpps, 40);
	assert_int_equal(vrd_kport_rx_now(k), VRD_KRX_BLOCKS);
	node_sends_out();
	send_seq(400, 700, 1000);
	assert_int_equal(rx_adapting(k, got, 300, &clock), 300);
	expect_seq(got, 300, 400);
	/* quiet for longer than the dwell time, then a frame into an open block
	 * (the timer has not handed it over yet), the switch, and more frames */
	clock += 200;
	send_seq(700, 701, 1000);
	assert_int_equal(vrd_kport_adapt(k, clock, NULL), VRD_KRX_FRAMES);
	assert_int_equal(vrd_kport_rx_now(k), VRD_KRX_FRAMES);
	send_seq(701, 760, 200);
	node_sends_out();
	assert_int_equal(rx_adapting(k, got, 60, &clock), 60);
	expect_seq(got, 60, 700);
	struct rte_mbuf *more[4];
	usleep(20000);
	assert_int_equal(vrd_kport_rx(k, pool, more, 4), 0); /* no outgoing frame, no twin */
	struct vrd_kport_stats st;
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.rx_switches, 2);
	assert_int_equal(st.rx_pkts, 760);
	assert_int_equal(st.rx_missed + st.rx_errors, 0);
	vrd_kport_clear_stats(k);
	vrd_kport_get_stats(k, &st);
	assert_int_equal(st.rx_pkts, 0);
	assert_int_equal(st.rx_switches, 2); /* the state's history survives a clear */
	assert_int_equal(vrd_kport_rx_cfg(k), VRD_KRX_ADAPTIVE);
	vrd_kport_destroy(k);
}

/* A ring the vrouter does not read fills up: the kernel's drops show as
 * missed frames, and what the ring held is still there. */
static void test_ring_full(void **state)
{
	(void)state;
	if (!have_netns)
		skip();
	struct vrd_kport *k;
	assert_int_equal(kport_open(VRD_KRX_FRAMES, 2048, &k), 0);
	uint8_t f[64];
	unsigned sent = 0;
	for (unsigned i = 0; i < 4000; i++, sent++) {
		peer_send(f, make_frame(f, 60, i));
		if (i % 256 == 255)
			usleep(2000); /* let the backlog (1,000 frames) drain into the ring */
	}
	usleep(20000);
	struct rte_mbuf *got[32];
	unsigned n = 0;
	uint16_t r;
	while ((r = vrd_kport_rx(k, pool, got, 32)) > 0) {
		rte_pktmbuf_free_bulk(got, r);
		n += r;
	}
	struct vrd_kport_stats st;
	vrd_kport_get_stats(k, &st);
	assert_true(n > 1000 && n < sent);
	assert_true(st.rx_missed > 0);
	assert_true(n + st.rx_missed <= sent);
	assert_int_equal(st.rx_pkts, n);
	vrd_kport_destroy(k);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t r = write(fd, s, strlen(s));
	close(fd);
	return r == (ssize_t)strlen(s) ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	/* before the EAL starts threads: they and the `ip` below share the namespace */
	if (unshare(CLONE_NEWNET) == 0 &&
	    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1") == 0 &&
	    system("ip link add kpa type veth peer name kpb && ip link set kpa up && "
		   "ip link set kpb up") == 0) {
		have_netns = true;
		peer_fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
		int one = 1, rcvbuf = 8 << 20; /* test_tx reads after the vrouter sent it all */
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
					   .sll_ifindex = (int)if_nametoindex("kpb") };
		if (peer_fd < 0 ||
		    setsockopt(peer_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
		    setsockopt(peer_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 ||
		    bind(peer_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			return -1;
	} else {
		fprintf(stderr, "# skipping the veth tests: no network namespace of our own "
			"(needs root: CAP_SYS_ADMIN and CAP_NET_RAW)\n");
	}
	char *args[] = { "vr_dpdk_kport_test", "--no-huge", "--no-pci", "-m", "128", "--no-shconf",
			 "--log-level", "error", "--file-prefix", "kport-test", "-l", "0", NULL };
	if (rte_eal_init(12, args) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("t", 8192, 0, VRD_PRIV_SIZE, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	return pool ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (peer_fd >= 0)
		close(peer_fd);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_rx_v2),
		cmocka_unit_test(test_rx_v3),
		cmocka_unit_test(test_rx_adaptive),
		cmocka_unit_test(test_adaptive_switch),
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_errors_and_vlan),
		cmocka_unit_test(test_tx_over_mtu),
		cmocka_unit_test(test_ring_full),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
