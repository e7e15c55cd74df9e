/*
 * DOC: vr_dpdk_memif_test.c — tern's memif server against an in-process fake
 * client: the message codec, the handshake (and the peers it must refuse),
 * and the rings on a sealed memfd region — packets both ways, wrap-around,
 * full rings, descriptors out of bounds, a peer rewriting descriptors while
 * the server reads them.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "vr_dpdk.h"
#include "vr_dpdk_memif.h"

/* the guard is the vrouter's; no forwarding loop runs here */
void vrd_guard_wait(void);
void vrd_guard_wait(void)
{
}

#define BUF 2048
#define RING_BYTES(n) (128u + 16u * (n))

static struct rte_mempool *pool;
static struct tern_log lg;

struct fake {
	int fd;
	uint8_t *mem;
	size_t size;
	unsigned n;             /* ring size */
	uint8_t *c2s, *s2c;
	uint32_t buf_off;
	uint16_t c2s_head, s2c_head, s2c_seen;
	int efd[2];
};

struct srv {
	struct vrd_memif *m;
	char dir[40], path[64];
};

static void srv_open_ms(struct srv *s, unsigned handshake_ms)
{
	char err[256];
	snprintf(s->dir, sizeof(s->dir), "/tmp/memif-test.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/m.sock", s->dir);
	struct vrd_memif_cfg c = { .path = s->path, .vif = 7, .id = 0, .log = &lg,
				   .handshake_ms = handshake_ms };
	assert_int_equal(vrd_memif_create(&c, &s->m, err, sizeof(err)), 0);
}

static void srv_open(struct srv *s)
{
	srv_open_ms(s, 0);
}

static void srv_close(struct srv *s)
{
	vrd_memif_destroy(s->m);
	unlink(s->path);
	rmdir(s->dir);
}

/* One pass of the control thread's poll loop. */
static void pump(struct srv *s)
{
	struct pollfd pfd[2];
	unsigned n = vrd_memif_pollfds(s->m, pfd);
	assert_true(poll(pfd, n, 200) >= 0);
	vrd_memif_events(s->m, pfd, n);
}

static void send_raw(int fd, const uint8_t *b, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct iovec iov = { .iov_base = (void *)b, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_msg(int fd, const struct vrd_memif_msg *m, int pass_fd)
{
	uint8_t b[VRD_MEMIF_MSG_SIZE];
	assert_int_equal(vrd_memif_msg_encode(m, b), VRD_MEMIF_MSG_SIZE);
	send_raw(fd, b, sizeof(b), &pass_fd, pass_fd >= 0 ? 1 : 0);
}

/* The next message from the server; false when the socket closed. */
static bool recv_msg(int fd, struct vrd_memif_msg *m)
{
	uint8_t b[256];
	char err[128];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 1000) <= 0)
		return false;
	ssize_t k = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	if (k <= 0)
		return false;
	assert_int_equal(vrd_memif_msg_decode(b, (size_t)k, 0, m, err, sizeof(err)), 0);
	return true;
}

static void expect(int fd, uint16_t type)
{
	struct vrd_memif_msg m;
	assert_true(recv_msg(fd, &m));
	if (m.type != type)
		fail_msg("expected message %u, got %u (%s)", type, m.type,
			 m.type == VRD_MEMIF_MSG_DISCONNECT ? m.u.disconnect.reason : "");
}

/* The client: one sealed memfd with both rings and their buffers. */
static void fake_mem(struct fake *f, unsigned log2, bool seal)
{
	memset(f, 0, sizeof(*f));
	f->n = 1u << log2;
	f->buf_off = 2 * 4096;
	f->size = f->buf_off + (size_t)2 * f->n * BUF;
	int fd = memfd_create("fake-memif", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)f->size), 0);
	if (seal)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	f->mem = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(f->mem != MAP_FAILED);
	f->efd[0] = fd; /* kept until passed */
	f->efd[1] = -1;
	f->fd = -1;
	f->c2s = f->mem;
	f->s2c = f->mem + 4096;
	uint8_t *rings[2] = { f->c2s, f->s2c };
	for (int i = 0; i < 2; i++) {
		uint32_t cookie = VRD_MEMIF_COOKIE;
		memcpy(rings[i], &cookie, 4);
	}
}

static uint32_t buf_of(const struct fake *f, bool s2c, uint16_t slot)
{
	return f->buf_off + ((s2c ? f->n : 0) + (slot & (f->n - 1))) * BUF;
}

static void sock_connect(struct srv *s, struct fake *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	f->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(s);
	expect(f->fd, VRD_MEMIF_MSG_HELLO);
}

static void send_init(struct srv *s, struct fake *f, uint32_t id)
{
	struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_INIT };
	m.u.init.version = VRD_MEMIF_VERSION;
	m.u.init.id = id;
	snprintf(m.u.init.name, sizeof(m.u.init.name), "fake");
	send_msg(f->fd, &m, -1);
	pump(s);
}

static void send_region(struct srv *s, struct fake *f, uint64_t size)
{
	struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_ADD_REGION };
	m.u.add_region.size = size;
	send_msg(f->fd, &m, f->efd[0]);
	close(f->efd[0]);
	f->efd[0] = -1;
	pump(s);
}

static void send_ring(struct srv *s, struct fake *f, bool c2s, uint32_t offset, unsigned log2)
{
	struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_ADD_RING };
	m.u.add_ring.flags = c2s ? VRD_MEMIF_ADD_RING_FLAG_C2S : 0;
	m.u.add_ring.offset = offset;
	m.u.add_ring.log2_ring_size = (uint8_t)log2;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	send_msg(f->fd, &m, efd);
	f->efd[c2s ? 0 : 1] = efd;
	pump(s);
}

static void fake_connect(struct srv *s, struct fake *f, unsigned log2)
{
	fake_mem(f, log2, true);
	sock_connect(s, f);
	send_init(s, f, 0);
	expect(f->fd, VRD_MEMIF_MSG_ACK);
	send_region(s, f, f->size);
	expect(f->fd, VRD_MEMIF_MSG_ACK);
	send_ring(s, f, true, 0, log2);
	expect(f->fd, VRD_MEMIF_MSG_ACK);
	send_ring(s, f, false, 4096, log2);
	expect(f->fd, VRD_MEMIF_MSG_ACK);
	struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_CONNECT };
	send_msg(f->fd, &m, -1);
	pump(s);
	expect(f->fd, VRD_MEMIF_MSG_CONNECTED);
	assert_true(vrd_memif_connected(s->m));
	uint16_t flags;
	memcpy(&flags, f->c2s + 4, 2);
	assert_true(flags & VRD_MEMIF_RING_FLAG_MASK_INT); /* the vrouter polls */
}

static void fake_close(struct fake *f)
{
	if (f->fd >= 0)
		close(f->fd);
	for (int i = 0; i < 2; i++)
		if (f->efd[i] >= 0)
			close(f->efd[i]);
	munmap(f->mem, f->size);
}

static void wr_desc(uint8_t *ring, uint16_t slot, uint16_t flags, uint16_t region, uint32_t len,
		    uint32_t off)
{
	uint8_t *d = ring + 128 + (size_t)slot * 16;
	memcpy(d, &flags, 2);
	memcpy(d + 2, &region, 2);
	memcpy(d + 4, &len, 4);
	memcpy(d + 8, &off, 4);
}

static void rd_desc(const uint8_t *ring, uint16_t slot, uint16_t *flags, uint32_t *len)
{
	const uint8_t *d = ring + 128 + (size_t)slot * 16;
	memcpy(flags, d, 2);
	memcpy(len, d + 4, 4);
}

static void set_head(uint8_t *ring, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)(ring + 6), v, __ATOMIC_RELEASE);
}

static uint16_t get_tail(const uint8_t *ring)
{
	return __atomic_load_n((const uint16_t *)(const void *)(ring + 64), __ATOMIC_ACQUIRE);
}

/* A packet into C2S: bytes 0..len-1 are (seed + i). */
/* Fill the next C2S slot (bytes seed + i) and its descriptor; not posted yet. */
static void c2s_put(struct fake *f, uint32_t len, uint8_t seed, uint16_t flags)
{
	uint16_t slot = f->c2s_head & (f->n - 1);
	uint32_t off = buf_of(f, false, slot);
	for (uint32_t i = 0; i < len; i++)
		f->mem[off + i] = (uint8_t)(seed + i);
	wr_desc(f->c2s, slot, flags, 0, len, off);
	f->c2s_head++;
}

static void c2s_post(struct fake *f, uint32_t len, uint8_t seed)
{
	c2s_put(f, len, seed, 0);
	set_head(f->c2s, f->c2s_head);
}

static void s2c_post(struct fake *f, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		uint16_t slot = f->s2c_head & (f->n - 1);
		wr_desc(f->s2c, slot, 0, 0, BUF, buf_of(f, true, slot));
		f->s2c_head++;
	}
	set_head(f->s2c, f->s2c_head);
}

/* A packet from pool `from`: bytes 0..len-1 are (seed + i). */
static struct rte_mbuf *pool_pkt(struct rte_mempool *from, uint32_t len, uint8_t seed)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(from);
	assert_non_null(m);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	assert_non_null(p);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i);
	vrd_pkt_from_mbuf(m); /* what the pipeline hands a port */
	return m;
}

static struct rte_mbuf *mk_pkt(uint32_t len, uint8_t seed)
{
	return pool_pkt(pool, len, seed);
}

static void check_pkt(const uint8_t *p, uint32_t len, uint8_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i))
			fail_msg("byte %u is %u, not %u", i, p[i], (uint8_t)(seed + i));
}

/* A received mbuf's packet view (the pipeline's struct vr_pkt) says what
 * the mbuf says: the driver filled it as it filled the buffer. */
static void check_view(struct rte_mbuf *m)
{
	const struct vr_pkt *p = vrd_mbuf_pkt(m);
	assert_ptr_equal(p->data, rte_pktmbuf_mtod(m, uint8_t *));
	assert_int_equal(p->len, rte_pktmbuf_data_len(m));
	assert_int_equal(p->headroom, rte_pktmbuf_headroom(m));
	assert_int_equal(p->tailroom, rte_pktmbuf_tailroom(m));
}

static void free_all(struct rte_mbuf **m, unsigned n)
{
	rte_pktmbuf_free_bulk(m, n);
}

/* ---- codec ---- */

static void test_codec_round_trip(void **state)
{
	(void)state;
	struct vrd_memif_msg in[8], out;
	uint8_t b[VRD_MEMIF_MSG_SIZE];
	char err[128];
	memset(in, 0, sizeof(in));
	in[0].type = VRD_MEMIF_MSG_ACK;
	in[1].type = VRD_MEMIF_MSG_HELLO;
	snprintf(in[1].u.hello.name, sizeof(in[1].u.hello.name), "0123456789abcdef0123456789abcdef");
	in[1].u.hello.min_version = 0x200;
	in[1].u.hello.max_version = 0x201;
	in[1].u.hello.max_region = 3;
	in[1].u.hello.max_c2s_ring = 4;
	in[1].u.hello.max_s2c_ring = 5;
	in[1].u.hello.max_log2_ring_size = 14;
	in[2].type = VRD_MEMIF_MSG_INIT;
	in[2].u.init.version = VRD_MEMIF_VERSION;
	in[2].u.init.id = 0xdeadbeef;
	in[2].u.init.mode = 1;
	memset(in[2].u.init.secret, 's', sizeof(in[2].u.init.secret));
	snprintf(in[2].u.init.name, sizeof(in[2].u.init.name), "pod");
	in[3].type = VRD_MEMIF_MSG_ADD_REGION;
	in[3].u.add_region.index = 2;
	in[3].u.add_region.size = 0x123456789aULL;
	in[4].type = VRD_MEMIF_MSG_ADD_RING;
	in[4].u.add_ring.flags = 1;
	in[4].u.add_ring.index = 3;
	in[4].u.add_ring.region = 1;
	in[4].u.add_ring.offset = 0x10000;
	in[4].u.add_ring.log2_ring_size = 10;
	in[4].u.add_ring.private_hdr_size = 0x0102;
	in[5].type = VRD_MEMIF_MSG_CONNECT;
	snprintf(in[5].u.connect.name, sizeof(in[5].u.connect.name), "eth0");
	in[6].type = VRD_MEMIF_MSG_CONNECTED;
	snprintf(in[6].u.connect.name, sizeof(in[6].u.connect.name), "vif5");
	in[7].type = VRD_MEMIF_MSG_DISCONNECT;
	in[7].u.disconnect.code = 42;
	memset(in[7].u.disconnect.reason, 'r', 96);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(vrd_memif_msg_encode(&in[i], b), VRD_MEMIF_MSG_SIZE);
		uint16_t t;
		memcpy(&t, b, 2);
		assert_int_equal(t, in[i].type);
		unsigned nfds = in[i].type == VRD_MEMIF_MSG_ADD_REGION ||
				in[i].type == VRD_MEMIF_MSG_ADD_RING;
		assert_int_equal(vrd_memif_msg_decode(b, sizeof(b), nfds, &out, err, sizeof(err)), 0);
		assert_memory_equal(&in[i], &out, sizeof(out));
	}
	/* the wire layout of one message, byte by byte */
	assert_int_equal(vrd_memif_msg_encode(&in[4], b), VRD_MEMIF_MSG_SIZE);
	static const uint8_t ring[] = { 5, 0, 1, 0, 3, 0, 1, 0, 0, 0, 1, 0, 10, 2, 1 };
	assert_memory_equal(b, ring, sizeof(ring));
}

static void test_codec_rejects(void **state)
{
	(void)state;
	uint8_t b[VRD_MEMIF_MSG_SIZE + 1];
	struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_CONNECT }, out;
	char err[128];
	assert_int_equal(vrd_memif_msg_encode(&m, b), VRD_MEMIF_MSG_SIZE);
	/* truncated and oversized */
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE - 1, 0, &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "128"));
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE + 1, 0, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(vrd_memif_msg_decode(b, 0, 0, &out, err, sizeof(err)), -EINVAL);
	/* fds: none where none belong, exactly one where one does */
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 1, &out, err, sizeof(err)), -EINVAL);
	m.type = VRD_MEMIF_MSG_ADD_REGION;
	vrd_memif_msg_encode(&m, b);
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 0, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 2, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 1, &out, err, sizeof(err)), 0);
	m.type = VRD_MEMIF_MSG_ADD_RING;
	vrd_memif_msg_encode(&m, b);
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 0, &out, err, sizeof(err)), -EINVAL);
	/* version */
	m.type = VRD_MEMIF_MSG_INIT;
	m.u.init.version = 0x0100;
	vrd_memif_msg_encode(&m, b);
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 0, &out, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 1.0"));
	/* unknown types */
	uint16_t types[] = { 0, 9, 0xffff };
	for (unsigned i = 0; i < 3; i++) {
		memset(b, 0, sizeof(b));
		memcpy(b, &types[i], 2);
		assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 0, &out, err, sizeof(err)),
				 -EPROTO);
		struct vrd_memif_msg u = { .type = types[i] };
		assert_int_equal(vrd_memif_msg_encode(&u, b), -EINVAL);
	}
	/* names without a NUL are cut at 32, never overrun */
	memset(b, 'x', sizeof(b));
	uint16_t t = VRD_MEMIF_MSG_CONNECT;
	memcpy(b, &t, 2);
	assert_int_equal(vrd_memif_msg_decode(b, VRD_MEMIF_MSG_SIZE, 0, &out, err, sizeof(err)), 0);
	assert_int_equal(strlen(out.u.connect.name), 32);
}

/* ---- handshake ---- */

static void expect_disconnect(struct srv *s, struct fake *f, const char *why)
{
	struct vrd_memif_msg m;
	assert_true(recv_msg(f->fd, &m));
	assert_int_equal(m.type, VRD_MEMIF_MSG_DISCONNECT);
	if (!strstr(m.u.disconnect.reason, why))
		fail_msg("reason '%s' does not say '%s'", m.u.disconnect.reason, why);
	assert_false(vrd_memif_connected(s->m));
	assert_false(recv_msg(f->fd, &m)); /* and the socket is closed */
}

/* A peer that stops half-way through the handshake is dropped once the
 * deadline passes, and the socket takes the next one. */
static void test_handshake_deadline(void **state)
{
	(void)state;
	struct srv s;
	struct fake f, g;
	srv_open_ms(&s, 600); /* pump() may wait 200 ms */
	fake_mem(&f, 4, true);
	sock_connect(&s, &f);
	send_init(&s, &f, 0);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	pump(&s); /* before the deadline: still there */
	struct pollfd p = { .fd = f.fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 0);
	usleep(500 * 1000);
	pump(&s);
	expect_disconnect(&s, &f, "handshake within 600 ms");
	fake_close(&f);
	fake_connect(&s, &g, 4);
	assert_true(vrd_memif_connected(s.m));
	usleep(700 * 1000);
	pump(&s); /* a connected peer has no deadline */
	assert_true(vrd_memif_connected(s.m));
	fake_close(&g);
	srv_close(&s);
}

static void test_handshake_refusals(void **state)
{
	(void)state;
	struct srv s;
	struct fake f;
	srv_open(&s);

	/* a wrong interface id */
	fake_mem(&f, 4, true);
	sock_connect(&s, &f);
	send_init(&s, &f, 3);
	expect_disconnect(&s, &f, "interface id 3");
	fake_close(&f);

	/* a region that is not sealed against shrinking */
	fake_mem(&f, 4, false);
	sock_connect(&s, &f);
	send_init(&s, &f, 0);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	send_region(&s, &f, f.size);
	expect_disconnect(&s, &f, "sealed");
	fake_close(&f);

	/* a region larger than the memory passed */
	fake_mem(&f, 4, true);
	sock_connect(&s, &f);
	send_init(&s, &f, 0);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	send_region(&s, &f, f.size + 4096);
	expect_disconnect(&s, &f, "announced");
	fake_close(&f);

	/* a ring past the end of its region */
	fake_mem(&f, 4, true);
	sock_connect(&s, &f);
	send_init(&s, &f, 0);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	send_region(&s, &f, f.size);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	send_ring(&s, &f, true, (uint32_t)f.size - 64, 4);
	expect_disconnect(&s, &f, "not inside");
	fake_close(&f);

	/* a ring whose interrupt fd is a pipe, not an eventfd */
	fake_mem(&f, 4, true);
	sock_connect(&s, &f);
	send_init(&s, &f, 0);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	send_region(&s, &f, f.size);
	expect(f.fd, VRD_MEMIF_MSG_ACK);
	{
		int pp[2];
		assert_int_equal(pipe(pp), 0);
		struct vrd_memif_msg r = { .type = VRD_MEMIF_MSG_ADD_RING };
		r.u.add_ring.flags = VRD_MEMIF_ADD_RING_FLAG_C2S;
		r.u.add_ring.log2_ring_size = 4;
		send_msg(f.fd, &r, pp[1]);
		close(pp[0]);
		close(pp[1]);
		pump(&s);
	}
	expect_disconnect(&s, &f, "not an eventfd");
	fake_close(&f);

	/* CONNECT before the rings; a message before INIT; unknown type; short message */
	for (int k = 0; k < 4; k++) {
		fake_mem(&f, 4, true);
		sock_connect(&s, &f);
		if (k == 0) {
			send_init(&s, &f, 0);
			expect(f.fd, VRD_MEMIF_MSG_ACK);
			struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_CONNECT };
			send_msg(f.fd, &m, -1);
			pump(&s);
			expect_disconnect(&s, &f, "before a ring");
		} else if (k == 1) {
			struct vrd_memif_msg m = { .type = VRD_MEMIF_MSG_CONNECT };
			send_msg(f.fd, &m, -1);
			pump(&s);
			expect_disconnect(&s, &f, "before INIT");
		} else if (k == 2) {
			uint8_t b[VRD_MEMIF_MSG_SIZE] = { 77 };
			send_raw(f.fd, b, sizeof(b), NULL, 0);
			pump(&s);
			expect_disconnect(&s, &f, "unknown message type 77");
		} else {
			uint8_t b[VRD_MEMIF_MSG_SIZE * 2] = { VRD_MEMIF_MSG_INIT };
			send_raw(f.fd, b, sizeof(b), NULL, 0);
			pump(&s);
			expect_disconnect(&s, &f, "longer than");
		}
		fake_close(&f);
	}

	/* a second peer while one is connected is refused; the first keeps working */
	struct fake g;
	fake_connect(&s, &f, 4);
	fake_mem(&g, 4, true);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s.path);
	g.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(g.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(&s);
	struct vrd_memif_msg m;
	assert_true(recv_msg(g.fd, &m));
	assert_int_equal(m.type, VRD_MEMIF_MSG_DISCONNECT);
	assert_true(vrd_memif_connected(s.m));
	close(g.efd[0]);
	g.efd[0] = g.efd[1] = -1;
	fake_close(&g);

	/* the peer's DISCONNECT, then a reconnect, many times */
	for (int i = 0; i < 20; i++) {
		m = (struct vrd_memif_msg){ .type = VRD_MEMIF_MSG_DISCONNECT };
		snprintf(m.u.disconnect.reason, sizeof(m.u.disconnect.reason), "bye");
		send_msg(f.fd, &m, -1);
		pump(&s);
		assert_false(vrd_memif_connected(s.m));
		fake_close(&f);
		fake_connect(&s, &f, 4);
	}
	/* a peer that just closes */
	close(f.fd);
	f.fd = -1;
	pump(&s);
	assert_false(vrd_memif_connected(s.m));
	fake_close(&f);
	srv_close(&s);
}

/* ---- rings ---- */

static void test_rx_tx(void **state)
{
	(void)state;
	struct srv s;
	struct fake f;
	struct rte_mbuf *m[64];
	struct vrd_memif_stats st;
	srv_open(&s);
	fake_connect(&s, &f, 4);

	/* client -> server */
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 0);
	c2s_post(&f, 60, 1);
	c2s_post(&f, 1514, 2);
	c2s_post(&f, 64, 3);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 3);
	assert_int_equal(rte_pktmbuf_data_len(m[0]), 60);
	assert_int_equal(rte_pktmbuf_data_len(m[1]), 1514);
	check_pkt(rte_pktmbuf_mtod(m[0], uint8_t *), 60, 1);
	check_pkt(rte_pktmbuf_mtod(m[1], uint8_t *), 1514, 2);
	check_pkt(rte_pktmbuf_mtod(m[2], uint8_t *), 64, 3);
	for (unsigned i = 0; i < 3; i++)
		check_view(m[i]);
	/* slots go back a quarter ring at a time (4 here), or at an empty poll */
	assert_int_equal(get_tail(f.c2s), 0);
	free_all(m, 3);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 0);
	assert_int_equal(get_tail(f.c2s), 3);
	for (uint8_t i = 0; i < 5; i++)
		c2s_post(&f, 64, (uint8_t)(30 + i));
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 5);
	assert_int_equal(get_tail(f.c2s), 8);
	free_all(m, 5);

	/* an idle sleep unmasks the peer's interrupts; a packet meanwhile cancels it */
	uint16_t fl0;
	int efd = vrd_memif_sleep_fd(s.m);
	assert_int_equal(efd >= 0, 1);
	memcpy(&fl0, f.c2s + 4, 2);
	assert_int_equal(fl0 & VRD_MEMIF_RING_FLAG_MASK_INT, 0);
	c2s_post(&f, 60, 5);
	assert_int_equal(vrd_memif_sleep_fd(s.m), -2);
	vrd_memif_awake(s.m);
	memcpy(&fl0, f.c2s + 4, 2);
	assert_true(fl0 & VRD_MEMIF_RING_FLAG_MASK_INT);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 1);
	free_all(m, 1);

	/* server -> client: no buffers posted, nothing taken */
	m[0] = mk_pkt(100, 9);
	assert_int_equal(vrd_memif_tx(s.m, m, 1), 0);
	s2c_post(&f, 3);
	m[1] = mk_pkt(200, 10);
	m[2] = mk_pkt(64, 11);
	assert_int_equal(vrd_memif_tx(s.m, m, 3), 3);
	assert_int_equal(get_tail(f.s2c), 3);
	uint32_t lens[3] = { 100, 200, 64 };
	for (uint16_t i = 0; i < 3; i++) {
		uint16_t fl;
		uint32_t len;
		rd_desc(f.s2c, i, &fl, &len);
		assert_int_equal(fl, 0);
		assert_int_equal(len, lens[i]);
		check_pkt(f.mem + buf_of(&f, true, i), len, (uint8_t)(9 + i));
	}
	/* a packet larger than the client's buffers spans two, chained */
	/* (a client sets a descriptor before it posts the slot: the server
	 * reads posted ones ahead) */
	wr_desc(f.s2c, 3, 0, 0, 1000, buf_of(&f, true, 3));
	f.s2c_head++;
	s2c_post(&f, 1); /* slots 3 and 4 */
	m[0] = mk_pkt(1500, 20);
	assert_int_equal(vrd_memif_tx(s.m, m, 1), 1);
	uint16_t fl;
	uint32_t len;
	rd_desc(f.s2c, 3, &fl, &len);
	assert_int_equal(fl, VRD_MEMIF_DESC_FLAG_NEXT);
	assert_int_equal(len, 1000);
	rd_desc(f.s2c, 4, &fl, &len);
	assert_int_equal(fl, 0);
	assert_int_equal(len, 500);
	check_pkt(f.mem + buf_of(&f, true, 3), 1000, 20);
	check_pkt(f.mem + buf_of(&f, true, 4), 500, (uint8_t)(20 + 1000));
	/* a small frame goes out as whole lines only where the buffer has the
	 * room: in one of just its size, nothing is written past it */
	uint8_t *b5 = f.mem + buf_of(&f, true, 5);
	memset(b5, 0xee, 128);
	wr_desc(f.s2c, 5, 0, 0, 100, buf_of(&f, true, 5));
	set_head(f.s2c, ++f.s2c_head);
	m[0] = mk_pkt(100, 30);
	assert_int_equal(vrd_memif_tx(s.m, m, 1), 1);
	rd_desc(f.s2c, 5, &fl, &len);
	assert_int_equal(len, 100);
	check_pkt(b5, 100, 30);
	for (int i = 100; i < 128; i++)
		assert_int_equal(b5[i], 0xee);

	/* a chained packet from the client arrives as one */
	c2s_put(&f, 100, 40, VRD_MEMIF_DESC_FLAG_NEXT);
	set_head(f.c2s, f.c2s_head); /* the chain's end is not posted yet: it waits */
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 0);
	c2s_post(&f, 50, 40 + 100);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 1);
	assert_int_equal(rte_pktmbuf_data_len(m[0]), 150);
	check_pkt(rte_pktmbuf_mtod(m[0], uint8_t *), 150, 40);
	free_all(m, 1);

	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.rx_pkts, 10);
	assert_int_equal(st.rx_bytes, 60 + 1514 + 64 + 5 * 64 + 60 + 150);
	assert_int_equal(st.tx_pkts, 5);
	assert_int_equal(st.tx_bytes, 100 + 200 + 64 + 1500 + 100);
	assert_int_equal(st.rx_errors + st.tx_errors, 0);
	fake_close(&f);
	pump(&s);
	assert_false(vrd_memif_connected(s.m));
	/* disconnected: nothing taken either way */
	assert_int_equal(vrd_memif_sleep_fd(s.m), -1);
	vrd_memif_awake(s.m);
	m[0] = mk_pkt(60, 0);
	assert_int_equal(vrd_memif_tx(s.m, m, 1), 0);
	assert_int_equal(vrd_memif_rx(s.m, pool, m + 1, 32), 0);
	free_all(m, 1);
	srv_close(&s);
}

static void test_wrap_and_full(void **state)
{
	(void)state;
	struct srv s;
	struct fake f;
	struct rte_mbuf *m[64];
	srv_open(&s);
	fake_connect(&s, &f, 4); /* 16 slots */
	/* past the 16-bit wrap of head and tail, in bursts that straddle the ring */
	uint32_t total = 0;
	uint8_t seed = 0;
	while (total < 70000) {
		unsigned k = 1 + total % 13;
		for (unsigned i = 0; i < k; i++)
			c2s_post(&f, 64 + i, (uint8_t)(seed + i));
		assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), k);
		for (unsigned i = 0; i < k; i++) {
			assert_int_equal(rte_pktmbuf_data_len(m[i]), 64 + i);
			check_pkt(rte_pktmbuf_mtod(m[i], uint8_t *), 64 + i, (uint8_t)(seed + i));
		}
		free_all(m, k);
		s2c_post(&f, k);
		for (unsigned i = 0; i < k; i++)
			m[i] = mk_pkt(60 + i, (uint8_t)(seed + i));
		assert_int_equal(vrd_memif_tx(s.m, m, (uint16_t)k), k);
		for (unsigned i = 0; i < k; i++) {
			uint16_t fl;
			uint32_t len;
			rd_desc(f.s2c, (uint16_t)((f.s2c_seen + i) & (f.n - 1)), &fl, &len);
			assert_int_equal(len, 60 + i);
			check_pkt(f.mem + buf_of(&f, true, (uint16_t)(f.s2c_seen + i)), len,
				  (uint8_t)(seed + i));
		}
		f.s2c_seen = (uint16_t)(f.s2c_seen + k);
		assert_int_equal(get_tail(f.s2c), f.s2c_seen);
		total += k;
		seed++;
	}
	assert_int_equal(get_tail(f.c2s), f.c2s_head);

	/* a full C2S ring: all 16 come in one burst */
	for (int i = 0; i < 16; i++)
		c2s_post(&f, 64, (uint8_t)i);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 16);
	free_all(m, 16);
	/* a full S2C ring: 16 buffers, 20 packets: 16 go, 4 stay with the caller */
	s2c_post(&f, 16);
	for (int i = 0; i < 20; i++)
		m[i] = mk_pkt(64, (uint8_t)i);
	assert_int_equal(vrd_memif_tx(s.m, m, 20), 16);
	free_all(m + 16, 4);
	assert_int_equal(vrd_memif_tx(s.m, m, 0), 0);
	/* a head that claims more than a ring: at most one ring is read */
	f.c2s_head = (uint16_t)(f.c2s_head + 1000);
	set_head(f.c2s, f.c2s_head);
	uint16_t n = vrd_memif_rx(s.m, pool, m, 32);
	assert_true(n <= 16);
	free_all(m, n);
	fake_close(&f);
	srv_close(&s);
}

static void test_bad_descriptors(void **state)
{
	(void)state;
	struct srv s;
	struct fake f;
	struct rte_mbuf *m[64];
	struct vrd_memif_stats st;
	srv_open(&s);
	fake_connect(&s, &f, 4);
	uint32_t last = (uint32_t)f.size;
	/* C2S: region index, offset, length past the region, larger than an mbuf, zero */
	struct { uint16_t region; uint32_t len, off; } bad[] = {
		{ 1, 64, f.buf_off }, { 0xffff, 64, f.buf_off }, { 0, 64, last - 63 },
		{ 0, 0xffffffffu, f.buf_off }, { 0, 64, 0xffffffffu }, { 0, 4000, f.buf_off },
		{ 0, 0, f.buf_off },
	};
	unsigned nbad = sizeof(bad) / sizeof(bad[0]);
	c2s_post(&f, 64, 1);
	for (unsigned i = 0; i < nbad; i++) {
		wr_desc(f.c2s, f.c2s_head & (f.n - 1), 0, bad[i].region, bad[i].len, bad[i].off);
		set_head(f.c2s, ++f.c2s_head);
	}
	c2s_post(&f, 64, 2);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 2); /* the good ones, in order */
	check_pkt(rte_pktmbuf_mtod(m[0], uint8_t *), 64, 1);
	check_pkt(rte_pktmbuf_mtod(m[1], uint8_t *), 64, 2);
	free_all(m, 2);
	assert_int_equal(get_tail(f.c2s), f.c2s_head); /* every slot went back */
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.rx_pkts, 2);
	assert_int_equal(st.rx_errors, nbad);

	/* a chain whose second part is bad: the whole packet is dropped */
	uint16_t slot = f.c2s_head & (f.n - 1);
	wr_desc(f.c2s, slot, VRD_MEMIF_DESC_FLAG_NEXT, 0, 64, buf_of(&f, false, slot));
	wr_desc(f.c2s, (slot + 1) & (f.n - 1), 0, 9, 64, 0);
	f.c2s_head = (uint16_t)(f.c2s_head + 2);
	set_head(f.c2s, f.c2s_head);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 0);
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.rx_errors, nbad + 1);

	/* S2C: a bad buffer is returned empty, its packet dropped and counted */
	for (unsigned i = 0; i < 3; i++) {
		uint16_t sl = f.s2c_head & (f.n - 1);
		wr_desc(f.s2c, sl, 0, bad[i].region, BUF, bad[i].off);
		f.s2c_head++;
	}
	s2c_post(&f, 1);
	for (int i = 0; i < 4; i++)
		m[i] = mk_pkt(64, (uint8_t)i);
	assert_int_equal(vrd_memif_tx(s.m, m, 4), 4);
	for (uint16_t i = 0; i < 3; i++) {
		uint16_t fl;
		uint32_t len;
		rd_desc(f.s2c, i, &fl, &len);
		assert_int_equal(len, 0);
	}
	check_pkt(f.mem + buf_of(&f, true, 3), 64, 3);
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.tx_errors, 3);
	assert_int_equal(st.tx_pkts, 1);
	vrd_memif_clear_stats(s.m);
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.rx_pkts + st.rx_errors + st.tx_pkts + st.tx_errors, 0);
	fake_close(&f);
	srv_close(&s);
}

/* Bursts that leave the one-descriptor-a-packet loop part way: what comes
 * after a chain, a bad descriptor or an oversize packet is read and written in
 * order, whole, as the general loop takes over from there. */
static void test_mixed_bursts(void **state)
{
	(void)state;
	struct srv s;
	struct fake f;
	struct rte_mbuf *m[64];
	struct vrd_memif_stats st;
	srv_open(&s);
	fake_connect(&s, &f, 5); /* 32 slots */

	/* C2S: good, good, a chain of 100 + 50, bad (region), good */
	c2s_post(&f, 64, 1);
	c2s_post(&f, 70, 2);
	c2s_put(&f, 100, 3, VRD_MEMIF_DESC_FLAG_NEXT);
	c2s_put(&f, 50, 3 + 100, 0);
	wr_desc(f.c2s, f.c2s_head & (f.n - 1), 0, 7, 64, f.buf_off);
	f.c2s_head++;
	set_head(f.c2s, f.c2s_head);
	c2s_post(&f, 80, 4);
	assert_int_equal(vrd_memif_rx(s.m, pool, m, 32), 4);
	uint32_t lens[4] = { 64, 70, 150, 80 };
	uint8_t seeds[4] = { 1, 2, 3, 4 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(rte_pktmbuf_data_len(m[i]), lens[i]);
		check_pkt(rte_pktmbuf_mtod(m[i], uint8_t *), lens[i], seeds[i]);
	}
	free_all(m, 4);
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.rx_pkts, 4);
	assert_int_equal(st.rx_errors, 1);

	/* S2C: good, one larger than a buffer (chained over two), good, a bad
	 * buffer, good */
	s2c_post(&f, 1);
	wr_desc(f.s2c, f.s2c_head & (f.n - 1), 0, 0, 1000, buf_of(&f, true, f.s2c_head));
	f.s2c_head++;
	s2c_post(&f, 2);
	wr_desc(f.s2c, f.s2c_head & (f.n - 1), 0, 9, BUF, 0);
	f.s2c_head++;
	s2c_post(&f, 2);
	m[0] = mk_pkt(64, 10);
	m[1] = mk_pkt(1500, 11);
	m[2] = mk_pkt(90, 12);
	m[3] = mk_pkt(60, 13);
	m[4] = mk_pkt(100, 14);
	assert_int_equal(vrd_memif_tx(s.m, m, 5), 5);
	struct { uint16_t fl; uint32_t len; uint8_t seed; } want[] = {
		{ 0, 64, 10 }, { VRD_MEMIF_DESC_FLAG_NEXT, 1000, 11 }, { 0, 500, (uint8_t)(11 + 1000) },
		{ 0, 90, 12 }, { 0, 0, 0 }, { 0, 100, 14 },
	};
	for (uint16_t i = 0; i < 6; i++) {
		uint16_t fl;
		uint32_t len;
		rd_desc(f.s2c, i, &fl, &len);
		assert_int_equal(fl, want[i].fl);
		assert_int_equal(len, want[i].len);
		if (len)
			check_pkt(f.mem + buf_of(&f, true, i), len, want[i].seed);
	}
	assert_int_equal(get_tail(f.s2c), 6);
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.tx_pkts, 4);  /* the one on the bad buffer is dropped, */
	assert_int_equal(st.tx_errors, 1);
	assert_int_equal(st.tx_bytes, 64 + 1500 + 90 + 100);
	fake_close(&f);
	srv_close(&s);
}

/* A peer that rewrites descriptors (offset, length, region) while the server
 * reads them: every packet is either whole and in bounds or counted. */
struct flipper {
	struct fake *f;
	atomic_bool stop;
};

static void *flip(void *arg)
{
	struct flipper *fl = arg;
	struct fake *f = fl->f;
	uint32_t x = 1;
	while (!atomic_load(&fl->stop)) {
		x = x * 1103515245u + 12345u;
		uint16_t slot = (uint16_t)(x >> 8) & (f->n - 1);
		uint8_t *d = f->c2s + 128 + (size_t)slot * 16;
		uint32_t v = (x & 1) ? 0xfffff000u : 64;
		uint32_t off = (x & 2) ? (uint32_t)f->size - 8 : buf_of(f, false, slot);
		uint16_t reg = (x & 4) ? 3 : 0;
		__atomic_store_n((uint32_t *)(void *)(d + 4), v, __ATOMIC_RELAXED);
		__atomic_store_n((uint32_t *)(void *)(d + 8), off, __ATOMIC_RELAXED);
		__atomic_store_n((uint16_t *)(void *)(d + 2), reg, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_peer_rewrites(void **state)
{
	(void)state;
	struct srv s;
	struct fake f;
	struct rte_mbuf *m[64];
	struct vrd_memif_stats st;
	srv_open(&s);
	fake_connect(&s, &f, 4);
	struct flipper fl = { .f = &f };
	atomic_init(&fl.stop, false);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, flip, &fl), 0);
	uint64_t posted = 0, got = 0;
	/* 20,000 rounds, and on until a rewrite has landed between a post and
	 * the server's read (on a busy machine the thread may run late) */
	time_t until = time(NULL) + 30;
	for (int round = 0;; round++) {
		if (round >= 20000 && round % 1000 == 0) {
			vrd_memif_get_stats(s.m, &st);
			if (st.rx_errors || time(NULL) > until)
				break;
		}
		uint16_t k = (uint16_t)(f.n - (uint16_t)(f.c2s_head - get_tail(f.c2s)));
		for (uint16_t i = 0; i < k; i++)
			c2s_post(&f, 64, 0);
		posted += k;
		uint16_t n = vrd_memif_rx(s.m, pool, m, 32);
		for (uint16_t i = 0; i < n; i++)
			assert_true(rte_pktmbuf_data_len(m[i]) <= rte_pktmbuf_data_room_size(pool));
		got += n;
		free_all(m, n);
	}
	atomic_store(&fl.stop, true);
	pthread_join(t, NULL);
	uint16_t n;
	while ((n = vrd_memif_rx(s.m, pool, m, 32)) > 0) {
		got += n;
		free_all(m, n);
	}
	vrd_memif_get_stats(s.m, &st);
	assert_int_equal(st.rx_pkts, got);
	assert_int_equal(st.rx_pkts + st.rx_errors, posted);
	assert_true(st.rx_errors > 0);
	fake_close(&f);
	srv_close(&s);
}

/* ---- the zero-copy client, against tern's own server ---- */

/* One round of both control threads. */
static void pump2(struct vrd_memif *a, struct vrd_memif *b)
{
	struct pollfd pfd[4];
	unsigned na = a ? vrd_memif_pollfds(a, pfd) : 0;
	unsigned nb = vrd_memif_pollfds(b, pfd + na);
	assert_true(poll(pfd, na + nb, 20) >= 0);
	if (a)
		vrd_memif_events(a, pfd, na);
	vrd_memif_events(b, pfd + na, nb);
}

/* Until both ends are connected (the client retries every VRD_MEMIF_RETRY_MS). */
static void until_connected(struct vrd_memif *srv, struct vrd_memif *cli)
{
	for (int i = 0; i < 200 && !(vrd_memif_connected(srv) && vrd_memif_connected(cli)); i++)
		pump2(srv, cli);
	assert_true(vrd_memif_connected(srv));
	assert_true(vrd_memif_connected(cli));
}

struct zc {
	struct vrd_memif_mem *mem;
	struct vrd_memif *c;
};

static void zc_open(struct zc *z, struct srv *s, uint8_t log2)
{
	char err[256];
	if (vrd_memif_pool_create("zc-test", 4096, VRD_PRIV_SIZE, RTE_MBUF_DEFAULT_BUF_SIZE, false, &z->mem,
				  err, sizeof(err)) != 0)
		fail_msg("pool: %s", err);
	struct vrd_memif_cfg c = { .path = s->path, .vif = 9, .id = 0, .log = &lg,
				   .client_mem = z->mem, .log2_ring = log2 };
	assert_int_equal(vrd_memif_create(&c, &z->c, err, sizeof(err)), 0);
}

static void zc_close(struct zc *z)
{
	vrd_memif_destroy(z->c);
	/* every buffer lent to the peer came back */
	assert_int_equal(rte_mempool_avail_count(z->mem->pool), 4096);
	vrd_memif_pool_free(z->mem);
}

/* count packets from tx (made in from) to rx, in bursts of 32: packet i is
 * 60 + i % 1400 bytes of (mul * i + k); what arrives is what was sent, in
 * order, and in in_pool's mbufs with their headroom when in_pool is given
 * (a zero-copy client receives in place). */
static void zc_flow(struct vrd_memif *tx, struct rte_mempool *from, struct vrd_memif *rx,
		    struct rte_mempool *in_pool, unsigned mul, unsigned count)
{
	struct rte_mbuf *out[32], *in[32];
	unsigned sent = 0, got = 0;
	for (int guard = 0; got < count && guard < 10000; guard++) {
		unsigned k = 0;
		while (k < 32 && sent + k < count) {
			out[k] = pool_pkt(from, 60 + (sent + k) % 1400, (uint8_t)(mul * (sent + k)));
			k++;
		}
		uint16_t took = vrd_memif_tx(tx, out, (uint16_t)k);
		rte_pktmbuf_free_bulk(out + took, k - took);
		sent += took;
		uint16_t n = vrd_memif_rx(rx, pool, in, 32);
		for (uint16_t i = 0; i < n; i++, got++) {
			if (in_pool) {
				assert_ptr_equal(in[i]->pool, in_pool);
				assert_int_equal(rte_pktmbuf_headroom(in[i]), RTE_PKTMBUF_HEADROOM);
			}
			assert_int_equal(rte_pktmbuf_data_len(in[i]), 60 + got % 1400);
			check_pkt(rte_pktmbuf_mtod(in[i], uint8_t *), 60 + got % 1400, (uint8_t)(mul * got));
			check_view(in[i]);
		}
		free_all(in, n);
	}
	assert_int_equal(got, count);
}

/* count packets each way: the client lends its buffers, the server copies */
static void zc_traffic(struct srv *s, struct zc *z, unsigned count)
{
	zc_flow(z->c, z->mem->pool, s->m, NULL, 1, count);
	zc_flow(s->m, pool, z->c, z->mem->pool, 7, count);
}

static void test_zc_client(void **state)
{
	(void)state;
	struct srv s;
	struct zc z;
	srv_open(&s);
	zc_open(&z, &s, 6); /* 64 slots: the 3,000 packets wrap the rings */
	until_connected(s.m, z.c);
	zc_traffic(&s, &z, 3000);
	struct vrd_memif_stats st;
	vrd_memif_get_stats(z.c, &st);
	assert_int_equal(st.tx_pkts, 3000);
	assert_int_equal(st.rx_pkts, 3000);
	assert_int_equal(st.rx_errors + st.tx_errors, 0);

	/* a packet that is not in the shared memory cannot be lent: dropped, counted */
	struct rte_mbuf *alien = mk_pkt(100, 1);
	assert_int_equal(vrd_memif_tx(z.c, &alien, 1), 1);
	vrd_memif_get_stats(z.c, &st);
	assert_int_equal(st.tx_errors, 1);
	srv_close(&s);
	zc_close(&z);
}

static void test_zc_reconnect(void **state)
{
	(void)state;
	struct srv s;
	struct zc z;
	srv_open(&s);
	char path[64];
	snprintf(path, sizeof(path), "%s", s.path);
	/* a client before its server: it waits, then connects when the server comes */
	vrd_memif_destroy(s.m);
	unlink(s.path);
	zc_open(&z, &s, 0);
	for (int i = 0; i < 5; i++)
		pump2(NULL, z.c);
	assert_false(vrd_memif_connected(z.c));
	char err[256];
	struct vrd_memif_cfg c = { .path = path, .vif = 7, .id = 0, .log = &lg };
	assert_int_equal(vrd_memif_create(&c, &s.m, err, sizeof(err)), 0);
	until_connected(s.m, z.c);
	zc_traffic(&s, &z, 100);
	/* some packets still lent to the server when it goes away */
	struct rte_mbuf *out[8];
	for (int i = 0; i < 8; i++)
		out[i] = pool_pkt(z.mem->pool, 64, (uint8_t)i);
	assert_int_equal(vrd_memif_tx(z.c, out, 8), 8);
	vrd_memif_destroy(s.m);
	unlink(path);
	for (int i = 0; i < 50 && vrd_memif_connected(z.c); i++)
		pump2(NULL, z.c);
	assert_false(vrd_memif_connected(z.c));
	/* every buffer the client lent (posted or sent) is back */
	assert_int_equal(rte_mempool_avail_count(z.mem->pool), 4096);
	/* the server comes back: the client connects again by itself */
	assert_int_equal(vrd_memif_create(&c, &s.m, err, sizeof(err)), 0);
	until_connected(s.m, z.c);
	zc_traffic(&s, &z, 100);
	srv_close(&s);
	zc_close(&z);
}

/* A server the client must not follow: a memif version it does not speak. */
static void test_zc_bad_server(void **state)
{
	(void)state;
	char dir[40], path[64];
	snprintf(dir, sizeof(dir), "/tmp/memif-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m.sock", dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	struct srv s;
	snprintf(s.path, sizeof(s.path), "%s", path);
	struct zc z;
	zc_open(&z, &s, 0);
	int fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	struct vrd_memif_msg h = { .type = VRD_MEMIF_MSG_HELLO };
	h.u.hello.min_version = 3 << 8;
	h.u.hello.max_version = 3 << 8;
	h.u.hello.max_region = 4;
	h.u.hello.max_log2_ring_size = 10;
	send_msg(fd, &h, -1);
	pump2(NULL, z.c);
	struct vrd_memif_msg m;
	assert_true(recv_msg(fd, &m));
	assert_int_equal(m.type, VRD_MEMIF_MSG_DISCONNECT);
	assert_non_null(strstr(m.u.disconnect.reason, "memif 3.0"));
	assert_false(vrd_memif_connected(z.c));
	close(fd);
	close(lfd);
	unlink(path);
	rmdir(dir);
	zc_close(&z);
}

static int setup(void **state)
{
	(void)state;
	tern_log_init(&lg, "vr_dpdk_memif_test", NULL, TERN_LOG_ERR);
	char *args[] = { "vr_dpdk_memif_test", "--no-huge", "--no-pci", "-m", "128", "--no-shconf",
			 "--log-level", "error", "--file-prefix", "memif-test", "-l", "0", NULL };
	if (rte_eal_init(12, args) < 0)
		return -1;
	pool = rte_pktmbuf_pool_create("t", 1024, 0, VRD_PRIV_SIZE, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	return pool ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_round_trip),
		cmocka_unit_test(test_codec_rejects),
		cmocka_unit_test(test_handshake_refusals),
		cmocka_unit_test(test_rx_tx),
		cmocka_unit_test(test_wrap_and_full),
		cmocka_unit_test(test_bad_descriptors),
		cmocka_unit_test(test_mixed_bursts),
		cmocka_unit_test(test_peer_rewrites),
		cmocka_unit_test(test_handshake_deadline),
		cmocka_unit_test(test_zc_client),
		cmocka_unit_test(test_zc_reconnect),
		cmocka_unit_test(test_zc_bad_server),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
