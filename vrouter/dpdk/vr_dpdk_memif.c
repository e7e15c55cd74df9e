/*
 * DOC: vr_dpdk_memif.c — tern-vrouter's own memif server (--memif-io tern).
 *
 * Why: DPDK's memif PMD costs 117-220 cycles a packet (per-packet mbuf
 * alloc/free through the mempool, ethdev layers); tern's budget for the
 * whole vxlan-encap path is about that. Here a burst takes its mbufs with one
 * rte_pktmbuf_alloc_bulk, copies straight between the shared buffers and the
 * mbufs, reads each descriptor once and frees transmitted mbufs in bulk
 * (straight into the pool when they are plain, single-segment buffers).
 *
 * The protocol (memif 2.0): the client connects to our SOCK_SEQPACKET socket;
 * every message is 128 bytes. We send HELLO; the client sends INIT, one
 * ADD_REGION per shared memory region (its fd passed with SCM_RIGHTS), one
 * ADD_RING per ring (its interrupt eventfd passed likewise), each ACKed, then
 * CONNECT, answered with CONNECTED. DISCONNECT (code, reason) ends it from
 * either side. The client owns the memory. A ring is a 128-byte header
 * (cookie, flags, head at byte 6; tail at byte 64) and 16-byte descriptors
 * (flags, region, length, offset, metadata). C2S (client -> server): the
 * client fills slots up to head; we read from our position to head and give
 * the slots back by storing tail. S2C: the client posts empty buffers up to
 * head; we fill from tail, set each descriptor's length and advance tail.
 * We offer one ring each way.
 *
 * The peer is untrusted: every message field is checked; a region is mapped
 * with the size the client gave, after fstat shows the memory is that large
 * and a seal (F_SEAL_SHRINK) keeps it so (a shrunk memfd would SIGBUS us); a
 * ring must lie inside its region. Each descriptor is read once into a local
 * and checked against the mapped region and the mbuf before any copy; a bad
 * one is dropped and counted. Head and tail positions we own are kept here,
 * never re-read from the ring. A bad message disconnects the peer with a
 * DISCONNECT carrying the reason, and one log line.
 *
 * Threads: the handshake runs on the control thread (vr_dpdk_ctl.c polls our
 * fds). It fills the ring state while `connected` is false and publishes it
 * with a release store; the forwarding loop loads `connected` with acquire at
 * each burst. Teardown clears `connected`, waits for the loop's next round
 * (vrd_guard_wait) and only then unmaps.
 */
/* rte_prefetch0_write is inline and still marked experimental in 22.11 */
#define ALLOW_EXPERIMENTAL_API 1
#include "vr_dpdk_memif.h"
#include "vr_dpdk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <rte_branch_prediction.h>
#include <rte_errno.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "memif rings are host order: the descriptor decoding assumes little endian");

/* The ring layout (64-byte cache lines, as every memif implementation on x86). */
#define RING_FLAGS_OFF 4
#define RING_HEAD_OFF 6
#define RING_TAIL_OFF 64
#define RING_DESC_OFF 128
#define DESC_SIZE 16
#define RX_DESC_MAX 64   /* descriptors one receive burst reads */
#define TX_DESC_AHEAD 64 /* descriptors a transmit reads ahead (a power of 2) */
#define TX_WARM 32       /* ... and of them, read when a transmit ends for the next one */
#define MSGS_PER_EVENT 16
#define MAX_FDS 4

enum { ST_IDLE, ST_WAIT_INIT, ST_INIT, ST_CONNECTED, ST_C_HELLO, ST_C_SETUP };
#define CLIENT_ACKS 5    /* INIT, two regions, two rings */
#define RX_REFILL 32     /* a client posts receive buffers this many at a time */

struct desc {
	uint16_t flags, region;
	uint32_t length, offset;
};

/* A transmit slot's buffer as read ahead: where it is in our mapping (NULL:
 * the descriptor names no mapped buffer) and how much it takes. Checked once,
 * when read. */
struct tx_slot {
	uint8_t *buf;
	uint32_t room;
};

struct ring {
	uint8_t *base;        /* the ring header in the mapped region */
	uint16_t size, mask;
	uint16_t pos;         /* ours: next slot to read (C2S) or fill (S2C) */
	/* C2S: the peer's head as last read, so [pos, head) are posted.
	 * S2C: the peer's head as last read, so [pos, head) are ours to fill;
	 * the descriptors of [pos, pos + n_ahead) were read when the last
	 * transmit ended, checked, and their buffers fetched for writing (ahead[] is
	 * indexed by slot % TX_DESC_AHEAD). The peer leaves its slots alone
	 * until we hand them back, so what was read stays true. */
	uint16_t head, n_ahead;
	/* C2S: the tail the peer was last shown, and how many slots read may
	 * wait before it is shown again (a quarter ring, at most 64): the peer
	 * reads our tail line at every burst it sends, and each store of ours
	 * costs it a miss. An empty poll shows everything. */
	uint16_t shown, lazy;
	/* S2C: the last packet's length: a buffer is fetched ahead for writing
	 * as far as it will be filled (an encapsulated 64-byte frame is 110-114
	 * bytes: two lines, each a miss on a line the peer owns) */
	uint16_t last_len;
	int efd;              /* the ring's interrupt eventfd (the peer's, or a client's own) */
	uint16_t prod_off;    /* rx: where the peer says how far it has filled
			       * (head of C2S for a server, tail of S2C for a client) */
	bool have;
	struct tx_slot ahead[TX_DESC_AHEAD];
};

struct region {
	uint8_t *base;
	uint64_t size;
};

struct vrd_memif {
	/* read by the forwarding loop; written by the control thread only
	 * while connected is false */
	_Atomic bool connected;
	struct ring rx, tx;   /* rx: C2S, tx: S2C */
	struct region reg[VRD_MEMIF_MAX_REGIONS];
	uint16_t n_reg;
	struct vrd_memif_stats st; /* the forwarding loop's */
	/* the control thread's */
	int listen_fd, conn_fd, state;
	uint64_t deadline_ms;  /* of the handshake in progress (CLOCK_MONOTONIC) */
	unsigned handshake_ms;
	uint16_t vif;
	uint32_t id;
	struct tern_log *log;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char peer[VRD_MEMIF_NAME_LEN + 1];
	/* the zero-copy client: region 0 (the rings) is ours, region 1 the
	 * pool's memory; slot[s] is the mbuf ring slot s lends the peer (rx:
	 * [rx.pos, rx.head) posted; tx: [tx_done, tx.pos) to be read) */
	bool client;
	struct vrd_memif_mem *mem;
	uint8_t log2_ring;
	int ring_fd;
	uint8_t *ring_mem;
	uint64_t ring_bytes;
	struct rte_mbuf **rx_slot, **tx_slot;
	uint16_t tx_done;
	unsigned acks;
	uint64_t next_try_ms;
	bool waiting_said;
};

/* ---- the message codec ---- */

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* A fixed-size name field: up to the first NUL, always terminated. */
static void rdname(char *dst, const uint8_t *src, size_t n)
{
	size_t i;
	for (i = 0; i < n && src[i]; i++)
		dst[i] = (char)src[i];
	dst[i] = 0;
}

static void wrname(uint8_t *dst, const char *src, size_t n)
{
	size_t l = strnlen(src, n);
	memcpy(dst, src, l);
}

static const char *type_name(unsigned t)
{
	static const char *const names[] = { "NONE", "ACK", "HELLO", "INIT", "ADD_REGION",
					     "ADD_RING", "CONNECT", "CONNECTED", "DISCONNECT" };
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

int vrd_memif_msg_decode(const uint8_t *b, size_t len, unsigned nfds, struct vrd_memif_msg *m,
			 char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (len != VRD_MEMIF_MSG_SIZE) {
		snprintf(err, errlen, "a message of %zu bytes: memif messages are %d", len,
			 VRD_MEMIF_MSG_SIZE);
		return -EINVAL;
	}
	m->type = rd16(b);
	if (m->type == VRD_MEMIF_MSG_NONE || m->type > VRD_MEMIF_MSG_DISCONNECT) {
		snprintf(err, errlen, "unknown message type %u", m->type);
		return -EPROTO;
	}
	unsigned want = m->type == VRD_MEMIF_MSG_ADD_REGION || m->type == VRD_MEMIF_MSG_ADD_RING;
	if (nfds != want) {
		snprintf(err, errlen, "%s came with %u file descriptors, it takes %u",
			 type_name(m->type), nfds, want);
		return -EINVAL;
	}
	const uint8_t *p = b + 2;
	switch (m->type) {
	case VRD_MEMIF_MSG_HELLO:
		rdname(m->u.hello.name, p, VRD_MEMIF_NAME_LEN);
		m->u.hello.min_version = rd16(p + 32);
		m->u.hello.max_version = rd16(p + 34);
		m->u.hello.max_region = rd16(p + 36);
		m->u.hello.max_c2s_ring = rd16(p + 38);
		m->u.hello.max_s2c_ring = rd16(p + 40);
		m->u.hello.max_log2_ring_size = p[42];
		break;
	case VRD_MEMIF_MSG_INIT:
		m->u.init.version = rd16(p);
		m->u.init.id = rd32(p + 2);
		m->u.init.mode = p[6];
		memcpy(m->u.init.secret, p + 7, sizeof(m->u.init.secret));
		rdname(m->u.init.name, p + 31, VRD_MEMIF_NAME_LEN);
		if (m->u.init.version != VRD_MEMIF_VERSION) {
			snprintf(err, errlen, "memif version %u.%u: this vrouter speaks 2.0",
				 m->u.init.version >> 8, m->u.init.version & 0xff);
			return -EPROTO;
		}
		break;
	case VRD_MEMIF_MSG_ADD_REGION:
		m->u.add_region.index = rd16(p);
		m->u.add_region.size = rd64(p + 2);
		break;
	case VRD_MEMIF_MSG_ADD_RING:
		m->u.add_ring.flags = rd16(p);
		m->u.add_ring.index = rd16(p + 2);
		m->u.add_ring.region = rd16(p + 4);
		m->u.add_ring.offset = rd32(p + 6);
		m->u.add_ring.log2_ring_size = p[10];
		m->u.add_ring.private_hdr_size = rd16(p + 11);
		break;
	case VRD_MEMIF_MSG_CONNECT:
	case VRD_MEMIF_MSG_CONNECTED:
		rdname(m->u.connect.name, p, VRD_MEMIF_NAME_LEN);
		break;
	case VRD_MEMIF_MSG_DISCONNECT:
		m->u.disconnect.code = rd32(p);
		rdname(m->u.disconnect.reason, p + 4, 96);
		break;
	default: /* ACK: no fields */
		break;
	}
	return 0;
}

int vrd_memif_msg_encode(const struct vrd_memif_msg *m, uint8_t out[VRD_MEMIF_MSG_SIZE])
{
	memset(out, 0, VRD_MEMIF_MSG_SIZE);
	if (m->type == VRD_MEMIF_MSG_NONE || m->type > VRD_MEMIF_MSG_DISCONNECT)
		return -EINVAL;
	wr16(out, m->type);
	uint8_t *p = out + 2;
	switch (m->type) {
	case VRD_MEMIF_MSG_HELLO:
		wrname(p, m->u.hello.name, VRD_MEMIF_NAME_LEN);
		wr16(p + 32, m->u.hello.min_version);
		wr16(p + 34, m->u.hello.max_version);
		wr16(p + 36, m->u.hello.max_region);
		wr16(p + 38, m->u.hello.max_c2s_ring);
		wr16(p + 40, m->u.hello.max_s2c_ring);
		p[42] = m->u.hello.max_log2_ring_size;
		break;
	case VRD_MEMIF_MSG_INIT:
		wr16(p, m->u.init.version);
		wr32(p + 2, m->u.init.id);
		p[6] = m->u.init.mode;
		memcpy(p + 7, m->u.init.secret, sizeof(m->u.init.secret));
		wrname(p + 31, m->u.init.name, VRD_MEMIF_NAME_LEN);
		break;
	case VRD_MEMIF_MSG_ADD_REGION:
		wr16(p, m->u.add_region.index);
		wr64(p + 2, m->u.add_region.size);
		break;
	case VRD_MEMIF_MSG_ADD_RING:
		wr16(p, m->u.add_ring.flags);
		wr16(p + 2, m->u.add_ring.index);
		wr16(p + 4, m->u.add_ring.region);
		wr32(p + 6, m->u.add_ring.offset);
		p[10] = m->u.add_ring.log2_ring_size;
		wr16(p + 11, m->u.add_ring.private_hdr_size);
		break;
	case VRD_MEMIF_MSG_CONNECT:
	case VRD_MEMIF_MSG_CONNECTED:
		wrname(p, m->u.connect.name, VRD_MEMIF_NAME_LEN);
		break;
	case VRD_MEMIF_MSG_DISCONNECT:
		wr32(p, m->u.disconnect.code);
		wrname(p + 4, m->u.disconnect.reason, 96);
		break;
	default:
		break;
	}
	return VRD_MEMIF_MSG_SIZE;
}

/* ---- the rings (forwarding loop) ---- */

/*
 * A packet's copy into or out of the peer's buffer: 64-byte blocks, the last
 * one overlapping the one before (32-byte ones for a frame of 32-63 bytes). The forwarding functions are built twice
 * more (target_clones): for CPUs with 512-bit vectors a 64-byte frame is one
 * load and one store and a 114-byte encapsulated one two stores, against four
 * and eight of SSE's. The stores into lines the peer's core holds wait in the
 * store queue until the lines come; fewer entries a packet leave room for the
 * stores of the work that follows. No byte past n is read or written: the rest
 * of a buffer may hold another packet's data (transmit, which knows the room
 * of the buffer it fills, writes whole lines of small frames itself).
 */
typedef uint8_t vrd_v32 __attribute__((vector_size(32)));
typedef vrd_v32 vrd_v32u __attribute__((aligned(1), may_alias));

static inline __attribute__((always_inline)) void pkt_copy(uint8_t *dst, const uint8_t *src,
							   uint32_t n)
{
	if (n >= 64) {
		/* a fixed-size copy: the compiler's widest moves for the clone's
		 * ISA (a 64-byte vector type in the AVX2 clone went through the stack) */
		for (uint32_t o = 0; o + 64 < n; o += 64)
			__builtin_memcpy(dst + o, src + o, 64);
		__builtin_memcpy(dst + n - 64, src + n - 64, 64);
	} else if (n >= 32) {
		*(vrd_v32u *)(void *)dst = *(const vrd_v32u *)(const void *)src;
		*(vrd_v32u *)(void *)(dst + n - 32) = *(const vrd_v32u *)(const void *)(src + n - 32);
	} else {
		rte_memcpy(dst, src, n);
	}
}
#define VRD_MEMIF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

static inline uint16_t *ring_u16(uint8_t *ring, size_t off)
{
	return (uint16_t *)(void *)(ring + off);
}

/* One read of the peer's descriptor: two 8-byte loads the compiler may not
 * repeat, so what is checked is what is used. */
static inline struct desc desc_read(const uint8_t *ring, uint16_t slot)
{
	const volatile uint64_t *p =
		(const volatile uint64_t *)(const void *)(ring + RING_DESC_OFF + (size_t)slot * DESC_SIZE);
	uint64_t w0 = p[0], w1 = p[1];
	return (struct desc){ .flags = (uint16_t)w0, .region = (uint16_t)(w0 >> 16),
			      .length = (uint32_t)(w0 >> 32), .offset = (uint32_t)w1 };
}

static inline void desc_set(uint8_t *ring, uint16_t slot, uint32_t len, uint16_t flags)
{
	volatile uint8_t *p = ring + RING_DESC_OFF + (size_t)slot * DESC_SIZE;
	*(volatile uint16_t *)(volatile void *)p = flags;
	*(volatile uint32_t *)(volatile void *)(p + 4) = len;
}

/* The buffer a descriptor names, or NULL when it is not inside a mapped region. */
static inline const uint8_t *desc_buf(const struct vrd_memif *m, const struct desc *d)
{
	if (unlikely(d->region >= m->n_reg))
		return NULL;
	const struct region *r = &m->reg[d->region];
	if (unlikely((uint64_t)d->offset + d->length > r->size))
		return NULL;
	return r->base + d->offset;
}

bool vrd_memif_connected(const struct vrd_memif *m)
{
	return atomic_load_explicit(&m->connected, memory_order_acquire);
}

/* Hand the slots read so far back to the peer. */
static inline void rx_show_tail(struct ring *r)
{
	if (r->shown != r->pos) {
		r->shown = r->pos;
		__atomic_store_n(ring_u16(r->base, RING_TAIL_OFF), r->pos, __ATOMIC_RELEASE);
	}
}

/* The room of an empty buffer after its headroom: not rte_pktmbuf_tailroom,
 * which subtracts the data_len a pooled mbuf still holds from its last use. */
static inline uint32_t buf_room(const struct rte_mbuf *mb)
{
	return (uint32_t)(mb->buf_len - mb->data_off);
}

static uint16_t client_rx(struct vrd_memif *m, struct rte_mbuf **pkts, uint16_t n);
static uint16_t client_tx(struct vrd_memif *m, struct rte_mbuf **pkts, uint16_t n);

VRD_MEMIF_CLONES
uint16_t vrd_memif_rx(struct vrd_memif *m, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n)
{
	if (!atomic_load_explicit(&m->connected, memory_order_acquire))
		return 0;
	if (m->client)
		return client_rx(m, pkts, n);
	struct ring *r = &m->rx;
	/* The peer's head line changes with every burst it posts: read it only
	 * when what it said last time does not fill this burst (under load it
	 * is read about every other burst instead of every one). */
	uint16_t avail = (uint16_t)(r->head - r->pos);
	if (avail < n || avail > r->size) {
		r->head = __atomic_load_n(ring_u16(r->base, RING_HEAD_OFF), __ATOMIC_ACQUIRE);
		avail = (uint16_t)(r->head - r->pos);
	}
	if (!avail) {
		rx_show_tail(r);
		return 0;
	}
	bool clipped = false;   /* more is posted than this call may read */
	if (avail > r->size) {  /* a head no ring can have: read one ring's worth */
		avail = r->size;
		clipped = true;
	}
	if (avail > RX_DESC_MAX) {
		avail = RX_DESC_MAX;
		clipped = true;
	}
	uint16_t want = n < avail ? n : avail;
	/* set up as each is filled (vrd_rx_init): those not filled go back
	 * as they came */
	if (unlikely(rte_mempool_get_bulk(pool, (void **)pkts, want) != 0)) {
		m->st.rx_nombuf++;  /* left in the ring for the next round */
		return 0;
	}
	/* the descriptors and the buffers they name (NULL: none mapped), one a
	 * packet unless chained: the rest are read when needed. The buffers
	 * are fetched into L2 for the whole burst (the misses on the peer's
	 * lines overlap) and into L1 four packets ahead of the copy: a peer's
	 * buffers lie 2 KiB apart, so a burst of them falls in two sets of the
	 * 8-way L1 and fetched there at once would evict itself (A/B in one
	 * process: 1.5 % fewer cycles a packet). */
	struct desc d[RX_DESC_MAX];
	const uint8_t *buf[RX_DESC_MAX];
	uint16_t nread = want;
	for (uint16_t i = 0; i < nread; i++) {
		d[i] = desc_read(r->base, (uint16_t)((r->pos + i) & r->mask));
		buf[i] = desc_buf(m, &d[i]);
		if (buf[i])
			rte_prefetch1(buf[i]);
	}
	uint16_t off = vrd_rx_headroom(pool);
	uint32_t room = rte_pktmbuf_data_room_size(pool) - off;
	uint16_t used = 0, got = 0;
	uint64_t bytes = 0, errors = 0;
	/* The usual burst first: a descriptor a packet, each naming a mapped
	 * buffer and fitting an mbuf. The first that does not ends this loop and
	 * the general one below goes on from it (chains, bad descriptors). */
	for (; got < want; got++) {
		const struct desc *s = &d[got];
		uint32_t len = s->length;
		if (unlikely((s->flags & VRD_MEMIF_DESC_FLAG_NEXT) || !buf[got] || !len || len > room))
			break;
		struct rte_mbuf *mb = pkts[got];
		if (got + 4 < want && buf[got + 4])
			rte_prefetch0(buf[got + 4]);
		pkt_copy(vrd_rx_init(mb, pool, off), buf[got], len);
		vrd_rx_filled(mb, len, room);
		bytes += len;
	}
	used = got;
	while (got < want && used < avail) {
		uint16_t start = used;
		struct rte_mbuf *mb = pkts[got];
		uint8_t *dst = vrd_rx_init(mb, pool, off);
		uint32_t len = 0;
		bool bad = false, more;
		do {
			if (unlikely(used == nread)) {
				d[nread] = desc_read(r->base, (uint16_t)((r->pos + nread) & r->mask));
				buf[nread] = desc_buf(m, &d[nread]);
				nread++;
			}
			const uint8_t *src = buf[used];
			const struct desc *s = &d[used++];
			more = s->flags & VRD_MEMIF_DESC_FLAG_NEXT;
			if (unlikely(!src || s->length > room - len)) {
				bad = true;
				continue;
			}
			pkt_copy(dst + len, src, s->length);
			len += s->length;
		} while (more && used < avail);
		if (unlikely(more)) {
			/* the rest is not posted yet, or the next call reads from here */
			if (!clipped || start > 0) {
				used = start;
				break;
			}
			bad = true;     /* longer than one call can read: dropped */
		}
		if (unlikely(bad || !len)) {
			errors++;       /* the mbuf takes the next packet */
			continue;
		}
		vrd_rx_filled(mb, len, room);
		bytes += len;
		got++;
	}
	r->pos = (uint16_t)(r->pos + used);
	if ((uint16_t)(r->pos - r->shown) >= r->lazy)
		rx_show_tail(r);
	if (got < want)
		rte_pktmbuf_free_bulk(pkts + got, (unsigned)(want - got));
	m->st.rx_pkts += got;
	m->st.rx_bytes += bytes;
	m->st.rx_errors += errors;
	return got;
}

/* [pos, head) as the peer's head says: ours to fill (a head no ring can have
 * is the peer's loss: one ring's worth). */
static inline uint16_t tx_space(struct ring *r, uint16_t head)
{
	uint16_t left = (uint16_t)(head - r->pos);
	if (left > r->size)
		left = r->size;
	r->head = (uint16_t)(r->pos + left);
	return left;
}

/* One S2C descriptor, checked: the buffer it names and its size. */
static inline struct tx_slot tx_slot_read(const struct vrd_memif *m, const struct ring *r,
					  uint16_t slot)
{
	struct desc d = desc_read(r->base, (uint16_t)(slot & r->mask));
	return (struct tx_slot){ .buf = (uint8_t *)(uintptr_t)desc_buf(m, &d), .room = d.length };
}

/* Read the descriptors of [pos + n_ahead, pos + want) and fetch their buffers
 * for writing: the misses on the peer's lines overlap each other, and when
 * done as a transmit ends, with the work before the next one. */
static inline void tx_read_ahead(const struct vrd_memif *m, struct ring *r, uint16_t want)
{
	for (uint16_t j = r->n_ahead; j < want; j++) {
		uint16_t slot = (uint16_t)(r->pos + j);
		struct tx_slot *t = &r->ahead[slot & (TX_DESC_AHEAD - 1)];
		*t = tx_slot_read(m, r, slot);
		if (t->buf) {
			rte_prefetch0_write(t->buf);
			if (r->last_len > RTE_CACHE_LINE_SIZE)
				rte_prefetch0_write(t->buf + RTE_CACHE_LINE_SIZE);
		}
	}
	if (want > r->n_ahead)
		r->n_ahead = want;
}

VRD_MEMIF_CLONES
uint16_t vrd_memif_tx(struct vrd_memif *m, struct rte_mbuf **pkts, uint16_t n)
{
	if (!atomic_load_explicit(&m->connected, memory_order_acquire))
		return 0;
	if (m->client)
		return client_tx(m, pkts, n);
	struct ring *r = &m->tx;
	/* The peer's head line changes with every buffer it gives back: read it
	 * only when what it said last time is not room enough. */
	uint16_t left = (uint16_t)(r->head - r->pos);
	if (left < n)
		left = tx_space(r, __atomic_load_n(ring_u16(r->base, RING_HEAD_OFF), __ATOMIC_ACQUIRE));
	uint16_t slot = r->pos, i;
	uint64_t bytes = 0, errors = 0;
	uint32_t last_len = 0;
	/* one descriptor a packet, unless chained: a chain reads on as it goes */
	uint16_t want = n < left ? n : left;
	if (want > TX_DESC_AHEAD)
		want = TX_DESC_AHEAD;
	tx_read_ahead(m, r, want);
	/* each mbuf tested plain (vrd_mbuf_plain) as the loop reads it: no
	 * second pass over the burst to free it */
	struct rte_mempool *pool = n ? pkts[0]->pool : NULL;
	bool plain = true;
	/* The packets' data is in cache (the pipeline just wrote it): no
	 * prefetching here, only of the peer's buffers (read ahead).
	 * The usual burst first: one segment a packet, each fitting the buffer
	 * read ahead for it. The first that does not ends this loop and the
	 * general one goes on from it (chains, bad descriptors, no room). */
	for (i = 0; i < want; i++) {
		struct rte_mbuf *mb = pkts[i];
		const struct vr_pkt *v = vrd_mbuf_pkt(mb);
		uint32_t len = v->len;
		struct tx_slot t = r->ahead[(uint16_t)(slot + i) & (TX_DESC_AHEAD - 1)];
		if (unlikely(mb->nb_segs != 1 || !t.buf || !len || len > t.room))
			break;
		plain &= vrd_mbuf_plain(mb, pool);
		const uint8_t *src = v->data;
		if (len > 64 && len <= 128 && t.room >= 128 && len + v->tailroom >= 128u) {
			/* A small encapsulated frame as two whole lines of the
			 * peer's buffer (ours up to its room), the bytes after it
			 * from the mbuf's own buffer: pkt_copy's overlapping last
			 * block would be a store across the line boundary. */
			__builtin_memcpy(t.buf, src, 64);
			__builtin_memcpy(t.buf + 64, src + 64, 64);
		} else {
			pkt_copy(t.buf, src, len);
		}
		desc_set(r->base, (uint16_t)((slot + i) & r->mask), len, 0);
		bytes += len;
		last_len = len;
	}
	slot = (uint16_t)(slot + i);
	left = (uint16_t)(left - i);
	if (i < n && left)
		plain = false; /* the general loop: the general free */
	for (; i < n && left; i++) {
		struct rte_mbuf *mb = pkts[i];
		if (unlikely(mb->nb_segs != 1)) { /* the pipeline makes none */
			errors++;
			continue;
		}
		const struct vr_pkt *v = vrd_mbuf_pkt(mb);
		const uint8_t *src = v->data;
		uint32_t len = v->len, off = 0;
		uint16_t saved = slot, saved_left = left;
		for (;;) {
			uint16_t s = (uint16_t)(slot & r->mask);
			uint16_t j = (uint16_t)(slot - r->pos);
			struct tx_slot t = j < r->n_ahead ? r->ahead[slot & (TX_DESC_AHEAD - 1)]
							  : tx_slot_read(m, r, slot);
			slot++;
			left--;
			if (unlikely(!t.buf || (!t.room && len))) {
				desc_set(r->base, s, 0, 0); /* the slot goes back empty */
				errors++;
				break;
			}
			uint32_t c = len - off < t.room ? len - off : t.room;
			pkt_copy(t.buf, src + off, c);
			off += c;
			if (off == len) {
				desc_set(r->base, s, c, 0);
				bytes += len;
				last_len = len;
				break;
			}
			if (!left) { /* out of buffers mid-packet: it waits */
				slot = saved;
				left = saved_left;
				goto full;
			}
			desc_set(r->base, s, c, VRD_MEMIF_DESC_FLAG_NEXT);
		}
	}
full:
	if (last_len)
		r->last_len = last_len < UINT16_MAX ? (uint16_t)last_len : UINT16_MAX;
	if (slot != r->pos) {
		uint16_t used = (uint16_t)(slot - r->pos);
		r->n_ahead = r->n_ahead > used ? (uint16_t)(r->n_ahead - used) : 0;
		r->pos = slot;
		__atomic_store_n(ring_u16(r->base, RING_TAIL_OFF), slot, __ATOMIC_RELEASE);
		/* The flags (does the peer want an interrupt?) share a line and one
		 * load with its head: the next transmit knows its room from here. */
		uint32_t fh = __atomic_load_n((uint32_t *)(void *)(r->base + RING_FLAGS_OFF),
					      __ATOMIC_ACQUIRE);
		if (!(fh & VRD_MEMIF_RING_FLAG_MASK_INT)) {
			uint64_t one = 1;
			if (write(r->efd, &one, sizeof(one)) < 0) {
				/* a full eventfd: the peer is being woken anyway */
			}
		}
		uint16_t room = tx_space(r, (uint16_t)(fh >> 16));
		tx_read_ahead(m, r, room < TX_WARM ? room : TX_WARM);
	}
	if (i) {
		if (plain)
			rte_mempool_put_bulk(pool, (void **)pkts, i);
		else
			vrd_tx_free(pkts, i);
	}
	m->st.tx_pkts += i - errors;
	m->st.tx_bytes += bytes;
	m->st.tx_errors += errors;
	return i;
}

int vrd_memif_sleep_fd(struct vrd_memif *m)
{
	if (!atomic_load_explicit(&m->connected, memory_order_acquire))
		return -1;
	struct ring *r = &m->rx;
	if (!m->client)
		rx_show_tail(r);
	__atomic_store_n(ring_u16(r->base, RING_FLAGS_OFF), 0, __ATOMIC_RELAXED);
	/* the flag store before the head load: a packet the peer posted before
	 * it saw the flag is seen here, one after it comes with an interrupt */
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(ring_u16(r->base, r->prod_off), __ATOMIC_ACQUIRE) != r->pos)
		return -2;
	return r->efd;
}

void vrd_memif_awake(struct vrd_memif *m)
{
	if (atomic_load_explicit(&m->connected, memory_order_acquire))
		__atomic_store_n(ring_u16(m->rx.base, RING_FLAGS_OFF), VRD_MEMIF_RING_FLAG_MASK_INT,
				 __ATOMIC_RELAXED);
}

void vrd_memif_get_stats(const struct vrd_memif *m, struct vrd_memif_stats *st)
{
	*st = m->st;
}

void vrd_memif_clear_stats(struct vrd_memif *m)
{
	memset(&m->st, 0, sizeof(m->st));
}

/* ---- the zero-copy client's rings (forwarding loop) ---- */

/* The pool's region is region 1 (region 0 holds the rings). */
#define CLIENT_BUF_REGION 1

/* A whole descriptor of ours: the peer reads it, so one 16-byte write. */
static inline void desc_write(uint8_t *ring, uint16_t slot, uint32_t len, uint32_t off)
{
	volatile uint64_t *p = (volatile uint64_t *)(void *)(ring + RING_DESC_OFF +
							       (size_t)slot * DESC_SIZE);
	p[0] = (uint64_t)CLIENT_BUF_REGION << 16 | (uint64_t)len << 32;
	p[1] = off;
}

/* Post empty buffers on the ring the peer transmits on, RX_REFILL at a time:
 * each descriptor names an mbuf's room after its headroom, so a received
 * packet is already where the pipeline wants it. */
static void client_rx_refill(struct vrd_memif *m)
{
	struct ring *r = &m->rx;
	uint16_t free_slots = (uint16_t)(r->size - (uint16_t)(r->head - r->pos));
	if (free_slots < RX_REFILL)
		return;
	while (free_slots >= RX_REFILL) {
		struct rte_mbuf *mb[RX_REFILL];
		if (unlikely(vrd_rx_alloc(m->mem->pool, mb, RX_REFILL) != 0)) {
			m->st.rx_nombuf++;
			break;
		}
		for (unsigned i = 0; i < RX_REFILL; i++) {
			uint16_t s = (uint16_t)(r->head++ & r->mask);
			m->rx_slot[s] = mb[i];
			uint8_t *data = rte_pktmbuf_mtod(mb[i], uint8_t *);
			desc_write(r->base, s, buf_room(mb[i]), (uint32_t)(data - m->mem->base));
		}
		free_slots -= RX_REFILL;
	}
	__atomic_store_n(ring_u16(r->base, RING_HEAD_OFF), r->head, __ATOMIC_RELEASE);
}

/* The peer filled [pos, tail) of the buffers we posted: they are the packets.
 * Only the length is taken from its descriptor (the buffer is the one we
 * posted there, whatever offset it writes back); a chained packet (longer
 * than a buffer) is dropped whole and counted. */
static uint16_t client_rx(struct vrd_memif *m, struct rte_mbuf **pkts, uint16_t n)
{
	struct ring *r = &m->rx;
	uint16_t tail = __atomic_load_n(ring_u16(r->base, RING_TAIL_OFF), __ATOMIC_ACQUIRE);
	uint16_t avail = (uint16_t)(tail - r->pos), posted = (uint16_t)(r->head - r->pos);
	if (unlikely(avail > posted))
		avail = posted;  /* a tail past what we posted: the peer's error */
	uint16_t used = 0, got = 0;
	uint64_t bytes = 0, errors = 0;
	while (used < avail && got < n) {
		uint16_t s = (uint16_t)((r->pos + used++) & r->mask);
		struct desc d = desc_read(r->base, s);
		struct rte_mbuf *mb = m->rx_slot[s];
		m->rx_slot[s] = NULL;
		if (unlikely((d.flags & VRD_MEMIF_DESC_FLAG_NEXT) || !d.length ||
			     d.length > buf_room(mb))) {
			rte_pktmbuf_free(mb);
			errors++;
			while ((d.flags & VRD_MEMIF_DESC_FLAG_NEXT) && used < avail) {
				s = (uint16_t)((r->pos + used++) & r->mask);
				d = desc_read(r->base, s);
				rte_pktmbuf_free(m->rx_slot[s]);
				m->rx_slot[s] = NULL;
			}
			continue;
		}
		vrd_rx_filled(mb, d.length, buf_room(mb));
		bytes += d.length;
		pkts[got++] = mb;
		/* The peer wrote the packet (its core holds the line) and read the
		 * headroom line when the buffer last went out: the pipeline reads
		 * and rewrites the one and pushes headers into the other. Taking
		 * both for writing now, for the whole burst at once, overlaps the
		 * transfers instead of paying a read and then an upgrade each. */
		uint8_t *data = rte_pktmbuf_mtod(mb, uint8_t *);
		rte_prefetch0_write(data);
		rte_prefetch0_write(data - RTE_CACHE_LINE_SIZE);
	}
	r->pos = (uint16_t)(r->pos + used);
	client_rx_refill(m);
	m->st.rx_pkts += got;
	m->st.rx_bytes += bytes;
	m->st.rx_errors += errors;
	return got;
}

/* Give back the mbufs of [tx_done, tail): the peer has read them. */
static void client_tx_reclaim(struct vrd_memif *m)
{
	struct ring *r = &m->tx;
	uint16_t tail = __atomic_load_n(ring_u16(r->base, RING_TAIL_OFF), __ATOMIC_ACQUIRE);
	uint16_t done = (uint16_t)(tail - m->tx_done), lent = (uint16_t)(r->pos - m->tx_done);
	if (unlikely(done > lent))
		done = lent;     /* a tail past what we sent: the peer's error */
	while (done) {
		struct rte_mbuf *mb[64];
		uint16_t k = done < 64 ? done : 64;
		for (uint16_t i = 0; i < k; i++) {
			uint16_t s = (uint16_t)(m->tx_done++ & r->mask);
			mb[i] = m->tx_slot[s];
			m->tx_slot[s] = NULL;
		}
		vrd_tx_free(mb, k);
		done = (uint16_t)(done - k);
	}
}

/* Lend the packets' own buffers to the peer: a descriptor each, no copy. A
 * packet not in the shared pool (or chained) cannot be lent: dropped and
 * counted. */
static uint16_t client_tx(struct vrd_memif *m, struct rte_mbuf **pkts, uint16_t n)
{
	struct ring *r = &m->tx;
	client_tx_reclaim(m);
	uint16_t room = (uint16_t)(r->size - (uint16_t)(r->pos - m->tx_done));
	uint16_t i, sent = 0;
	uint64_t bytes = 0, errors = 0;
	const uint8_t *base = m->mem->base;
	for (i = 0; i < n && sent < room; i++) {
		struct rte_mbuf *mb = pkts[i];
		const struct vr_pkt *v = vrd_mbuf_pkt(mb);
		const uint8_t *data = v->data;
		if (unlikely(mb->nb_segs != 1 || data < base ||
			     (uint64_t)(data - base) + v->len > m->mem->size)) {
			rte_pktmbuf_free(mb);
			errors++;
			continue;
		}
		uint16_t s = (uint16_t)(r->pos++ & r->mask);
		m->tx_slot[s] = mb;
		desc_write(r->base, s, v->len, (uint32_t)(data - base));
		bytes += v->len;
		sent++;
	}
	if (sent) {
		__atomic_store_n(ring_u16(r->base, RING_HEAD_OFF), r->pos, __ATOMIC_RELEASE);
		uint16_t flags = __atomic_load_n(ring_u16(r->base, RING_FLAGS_OFF), __ATOMIC_ACQUIRE);
		if (!(flags & VRD_MEMIF_RING_FLAG_MASK_INT)) {
			uint64_t one = 1;
			if (write(r->efd, &one, sizeof(one)) < 0) {
				/* a full eventfd: the peer is being woken anyway */
			}
		}
	}
	m->st.tx_pkts += sent;
	m->st.tx_bytes += bytes;
	m->st.tx_errors += errors;
	return i;
}

/* ---- the zero-copy client's packet memory ---- */

/* A sealed memfd of *size bytes (rounded up to its pages), mapped and
 * populated: in hugepages when huge and the kernel has them free (*got_huge),
 * else in 4 KiB pages. Peers map it, so it can never shrink under them (a
 * SIGBUS). 0, or -errno with nothing left open. */
static int shm_create(const char *name, uint64_t *size, bool huge, int *fd, uint8_t **base,
		      bool *got_huge)
{
	int e = 0;
	for (int try_huge = huge; try_huge >= 0; try_huge--) {
		uint64_t len = RTE_ALIGN_CEIL(*size, try_huge ? RTE_PGSIZE_2M : RTE_PGSIZE_4K);
		int f = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING |
					   (try_huge ? MFD_HUGETLB : 0));
		/* hugetlbfs takes its pages when mapped: populating now shows there are enough */
		void *p = f >= 0 && ftruncate(f, (off_t)len) == 0
			? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, f, 0)
			: MAP_FAILED;
		if (p != MAP_FAILED &&
		    fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0) {
			*size = len;
			*fd = f;
			*base = p;
			*got_huge = try_huge;
			return 0;
		}
		e = errno;
		if (p != MAP_FAILED)
			munmap(p, len);
		if (f >= 0)
			close(f);
	}
	return -e;
}

int vrd_memif_pool_create(const char *name, unsigned n, uint16_t priv_size, uint16_t data_room,
			  bool huge, struct vrd_memif_mem **out, char *err, size_t errlen)
{
	struct vrd_memif_mem *mem = calloc(1, sizeof(*mem));
	if (!mem) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mem->fd = -1;
	int rc = -ENOMEM;
	unsigned elt = (unsigned)sizeof(struct rte_mbuf) + priv_size + data_room;
	/* the buffers are one memfd: no object needs IOVA-contiguous memory */
	mem->pool = rte_mempool_create_empty(name, n, elt, 256,
					     sizeof(struct rte_pktmbuf_pool_private),
					     (int)rte_socket_id(), RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!mem->pool) {
		snprintf(err, errlen, "cannot create the pool %s: %s", name, rte_strerror(rte_errno));
		goto fail;
	}
	struct rte_pktmbuf_pool_private priv = { .mbuf_data_room_size = data_room,
						 .mbuf_priv_size = priv_size };
	rte_pktmbuf_pool_init(mem->pool, &priv);
	if ((rc = rte_mempool_set_ops_byname(mem->pool, rte_mbuf_best_mempool_ops(), NULL)) < 0) {
		snprintf(err, errlen, "pool %s: no mempool handler: %s", name, rte_strerror(-rc));
		goto fail;
	}
	struct rte_mempool_objsz sz;
	rte_mempool_calc_obj_size(elt, RTE_MEMPOOL_F_NO_IOVA_CONTIG, &sz);
	uint64_t size = (uint64_t)n * sz.total_size + RTE_CACHE_LINE_SIZE;
	if (RTE_ALIGN_CEIL(size, RTE_PGSIZE_2M) > UINT32_MAX) { /* a descriptor's offset is 32 bits */
		snprintf(err, errlen, "%u buffers of %u bytes do not fit the 4 GiB a memif region "
			 "can address: lower --mbufs", n, sz.total_size);
		rc = -E2BIG;
		goto fail;
	}
	rc = shm_create(name, &size, huge, &mem->fd, &mem->base, &mem->huge);
	if (rc < 0) {
		snprintf(err, errlen, "shared memory of %llu bytes for the pool %s: %s",
			 (unsigned long long)size, name, strerror(-rc));
		goto fail;
	}
	mem->size = size;
	rc = rte_mempool_populate_iova(mem->pool, (char *)mem->base, RTE_BAD_IOVA, size, NULL, NULL);
	if (rc < 0 || (unsigned)rc < n) {
		snprintf(err, errlen, "pool %s: %d of %u buffers placed in its memory%s%s", name,
			 rc < 0 ? 0 : rc, n, rc < 0 ? ": " : "", rc < 0 ? rte_strerror(-rc) : "");
		rc = rc < 0 ? rc : -ENOMEM;
		goto fail;
	}
	rte_mempool_obj_iter(mem->pool, rte_pktmbuf_init, NULL);
	*out = mem;
	return 0;
fail:
	vrd_memif_pool_free(mem);
	return rc < 0 ? rc : -ENOMEM;
}

void vrd_memif_pool_free(struct vrd_memif_mem *mem)
{
	if (!mem)
		return;
	rte_mempool_free(mem->pool);
	if (mem->base)
		munmap(mem->base, mem->size);
	if (mem->fd >= 0)
		close(mem->fd);
	free(mem);
}

/* ---- the handshake (control thread) ---- */

/* One message; with a file descriptor (SCM_RIGHTS) when fd >= 0: a client's
 * regions and rings. */
static int send_msg_fd(struct vrd_memif *m, const struct vrd_memif_msg *msg, int fd)
{
	uint8_t b[VRD_MEMIF_MSG_SIZE];
	if (vrd_memif_msg_encode(msg, b) < 0)
		return -EINVAL;
	union {
		struct cmsghdr h;
		char c[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cm.c;
		mh.msg_controllen = sizeof(cm.c);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t k = sendmsg(m->conn_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	return k == (ssize_t)sizeof(b) ? 0 : k < 0 ? -errno : -EIO;
}

static int send_msg(struct vrd_memif *m, const struct vrd_memif_msg *msg)
{
	return send_msg_fd(m, msg, -1);
}

static int send_type(struct vrd_memif *m, uint16_t type)
{
	struct vrd_memif_msg msg = { .type = type };
	return send_msg(m, &msg);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The peer's name, as it says it, printable for the log. */
static void set_peer(struct vrd_memif *m, const char *name)
{
	snprintf(m->peer, sizeof(m->peer), "%s", name);
	for (char *c = m->peer; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}

/* Forget the connection: the loop stops using the rings before they go. */
static void conn_close(struct vrd_memif *m)
{
	if (atomic_exchange_explicit(&m->connected, false, memory_order_seq_cst))
		vrd_guard_wait();
	for (unsigned i = 0; i < m->n_reg; i++)
		munmap(m->reg[i].base, m->reg[i].size);
	m->n_reg = 0;
	if (m->client) { /* the buffers we lent come back, the rings go */
		for (unsigned i = 0; m->rx_slot && i < (1u << m->log2_ring); i++) {
			rte_pktmbuf_free(m->rx_slot[i]);
			rte_pktmbuf_free(m->tx_slot[i]);
			m->rx_slot[i] = m->tx_slot[i] = NULL;
		}
		m->tx_done = 0;
		if (m->ring_mem)
			munmap(m->ring_mem, m->ring_bytes);
		m->ring_mem = NULL;
		if (m->ring_fd >= 0)
			close(m->ring_fd);
		m->ring_fd = -1;
		m->acks = 0;
		m->next_try_ms = mono_ms() + VRD_MEMIF_RETRY_MS;
	}
	struct ring *rings[2] = { &m->rx, &m->tx };
	for (unsigned i = 0; i < 2; i++) {
		if (rings[i]->have)
			close(rings[i]->efd);
		memset(rings[i], 0, sizeof(*rings[i]));
		rings[i]->efd = -1;
	}
	if (m->conn_fd >= 0)
		close(m->conn_fd);
	m->conn_fd = -1;
	m->state = ST_IDLE;
	m->peer[0] = 0;
}

/* Tell the peer why, log it, close. */
static void peer_drop(struct vrd_memif *m, const char *why)
{
	struct vrd_memif_msg msg = { .type = VRD_MEMIF_MSG_DISCONNECT };
	msg.u.disconnect.code = 1;
	snprintf(msg.u.disconnect.reason, sizeof(msg.u.disconnect.reason), "%s", why);
	if (send_msg(m, &msg) < 0) {
		/* the peer may be gone already: the log line is what matters */
	}
	TLOG_WARN(m->log, "vif %u: memif peer '%s' disconnected: %s", m->vif, m->peer, why);
	conn_close(m);
}

static int add_region(struct vrd_memif *m, const struct vrd_memif_msg *msg, int fd, char *err,
		      size_t errlen)
{
	uint16_t idx = msg->u.add_region.index;
	uint64_t size = msg->u.add_region.size;
	struct stat st = { .st_size = -1 };
	if (idx != m->n_reg || idx >= VRD_MEMIF_MAX_REGIONS) {
		snprintf(err, errlen, "region %u out of order or too many (expected %u, at most %d)",
			 idx, m->n_reg, VRD_MEMIF_MAX_REGIONS);
		return -EINVAL;
	}
	if (!size || size > (uint64_t)SIZE_MAX || fstat(fd, &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size < size) {
		snprintf(err, errlen, "region %u: %llu bytes announced, the memory passed has %lld",
			 idx, (unsigned long long)size, (long long)st.st_size);
		return -EINVAL;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		snprintf(err, errlen, "region %u: the memory must be sealed against shrinking "
			 "(memfd with F_SEAL_SHRINK)", idx);
		return -EPERM;
	}
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "region %u: cannot map %llu bytes: %s", idx,
			 (unsigned long long)size, strerror(errno));
		return -ENOMEM;
	}
	m->reg[idx].base = p;
	m->reg[idx].size = size;
	m->n_reg++;
	return 0;
}

static int add_ring(struct vrd_memif *m, const struct vrd_memif_msg *msg, int fd, char *err,
		    size_t errlen)
{
	const typeof(msg->u.add_ring) *a = &msg->u.add_ring;
	struct ring *r = a->flags & VRD_MEMIF_ADD_RING_FLAG_C2S ? &m->rx : &m->tx;
	const char *dir = r == &m->rx ? "C2S" : "S2C";
	if (a->index != 0 || r->have) {
		snprintf(err, errlen, "%s ring %u: this vrouter takes one ring each way", dir, a->index);
		return -EINVAL;
	}
	if (a->log2_ring_size > VRD_MEMIF_MAX_LOG2_RING || a->private_hdr_size) {
		snprintf(err, errlen, "%s ring: size 2^%u (at most 2^%d) or private header %u (none "
			 "taken)", dir, a->log2_ring_size, VRD_MEMIF_MAX_LOG2_RING, a->private_hdr_size);
		return -EINVAL;
	}
	/* the forwarding loop writes and waits on it: a pipe or socket the peer
	 * fills could block the loop; an eventfd only at a counter near 2^64 */
	char proc[48], link[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ssize_t k = readlink(proc, link, sizeof(link) - 1);
	if (k >= 0) { /* without /proc, trusted as an eventfd */
		link[k] = 0;
		if (strcmp(link, "anon_inode:[eventfd]")) {
			snprintf(err, errlen, "%s ring: the interrupt fd is not an eventfd", dir);
			return -EINVAL;
		}
	}
	uint64_t bytes = RING_DESC_OFF + ((uint64_t)DESC_SIZE << a->log2_ring_size);
	if (a->region >= m->n_reg || a->offset % 8 ||
	    (uint64_t)a->offset + bytes > m->reg[a->region].size) {
		snprintf(err, errlen, "%s ring at region %u offset %u (%llu bytes) is not inside a "
			 "region, or not 8-byte aligned", dir, a->region, a->offset,
			 (unsigned long long)bytes);
		return -EINVAL;
	}
	r->base = m->reg[a->region].base + a->offset;
	r->size = (uint16_t)(1u << a->log2_ring_size);
	r->mask = (uint16_t)(r->size - 1);
	r->pos = 0;
	r->lazy = r->size / 4 < 64 ? r->size / 4 : 64;
	if (!r->lazy)
		r->lazy = 1;
	r->efd = fd;
	r->prod_off = RING_HEAD_OFF;
	r->have = true;
	return 0;
}

static int do_connect(struct vrd_memif *m, char *err, size_t errlen)
{
	if (!m->rx.have || !m->tx.have) {
		snprintf(err, errlen, "CONNECT before a ring each way was added");
		return -EINVAL;
	}
	struct ring *rings[2] = { &m->rx, &m->tx };
	for (unsigned i = 0; i < 2; i++) {
		uint32_t cookie = __atomic_load_n((uint32_t *)(void *)rings[i]->base, __ATOMIC_RELAXED);
		if (cookie != VRD_MEMIF_COOKIE) {
			snprintf(err, errlen, "%s ring has cookie 0x%x, not 0x%x", i ? "S2C" : "C2S",
				 cookie, VRD_MEMIF_COOKIE);
			return -EINVAL;
		}
		__atomic_store_n(ring_u16(rings[i]->base, RING_HEAD_OFF), 0, __ATOMIC_RELAXED);
		__atomic_store_n(ring_u16(rings[i]->base, RING_TAIL_OFF), 0, __ATOMIC_RELAXED);
		rings[i]->pos = 0;
		rings[i]->head = 0;
		rings[i]->n_ahead = 0;
		rings[i]->shown = 0;
	}
	/* the loop polls the ring we receive on: no eventfd write per burst */
	__atomic_store_n(ring_u16(m->rx.base, RING_FLAGS_OFF), VRD_MEMIF_RING_FLAG_MASK_INT,
			 __ATOMIC_RELAXED);
	return 0;
}

/* One message from the peer; fd (or -1) is ours to keep or close. */
static int on_msg(struct vrd_memif *m, const struct vrd_memif_msg *msg, int fd, char *err,
		  size_t errlen)
{
	int rc = 0;
	struct vrd_memif_msg out = { 0 };
	switch (msg->type) {
	case VRD_MEMIF_MSG_INIT:
		if (m->state != ST_WAIT_INIT)
			break;
		set_peer(m, msg->u.init.name);
		if (msg->u.init.id != m->id) {
			snprintf(err, errlen, "no interface id %u on this socket (it has %u)",
				 msg->u.init.id, m->id);
			return -ENOENT;
		}
		if (msg->u.init.mode != 0) {
			snprintf(err, errlen, "interface mode %u: only ethernet (0) is served",
				 msg->u.init.mode);
			return -EINVAL;
		}
		m->state = ST_INIT;
		return send_type(m, VRD_MEMIF_MSG_ACK);
	case VRD_MEMIF_MSG_ADD_REGION:
		if (m->state != ST_INIT)
			break;
		rc = add_region(m, msg, fd, err, errlen);
		close(fd); /* mapped: the mapping keeps the memory */
		return rc < 0 ? rc : send_type(m, VRD_MEMIF_MSG_ACK);
	case VRD_MEMIF_MSG_ADD_RING:
		if (m->state != ST_INIT)
			break;
		rc = add_ring(m, msg, fd, err, errlen);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		return send_type(m, VRD_MEMIF_MSG_ACK);
	case VRD_MEMIF_MSG_CONNECT:
		if (m->state != ST_INIT)
			break;
		if ((rc = do_connect(m, err, errlen)) < 0)
			return rc;
		out.type = VRD_MEMIF_MSG_CONNECTED;
		snprintf(out.u.connect.name, sizeof(out.u.connect.name), "tern-vif%u", m->vif);
		if ((rc = send_msg(m, &out)) < 0) {
			snprintf(err, errlen, "cannot send CONNECTED: %s", strerror(-rc));
			return rc;
		}
		m->state = ST_CONNECTED;
		atomic_store_explicit(&m->connected, true, memory_order_release);
		TLOG_INFO(m->log, "vif %u: memif peer '%s' connected: %u regions, rings of %u and %u",
			  m->vif, m->peer, m->n_reg, m->rx.size, m->tx.size);
		return 0;
	default:
		break;
	}
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, "unexpected %s (type %u) %s", type_name(msg->type), msg->type,
		 m->state == ST_WAIT_INIT ? "before INIT" : m->state == ST_CONNECTED ?
		 "after CONNECT" : "during setup");
	return -EPROTO;
}

/* ---- the zero-copy client's handshake (control thread) ---- */

/* Region 0: the two rings, C2S then S2C, in a sealed memfd of ours. */
static int client_rings(struct vrd_memif *m, uint8_t log2, char *err, size_t errlen)
{
	uint64_t one = RING_DESC_OFF + ((uint64_t)DESC_SIZE << log2);
	bool huge;
	m->ring_bytes = 2 * one;
	int rc = shm_create("tern-memif-rings", &m->ring_bytes, false, &m->ring_fd, &m->ring_mem,
			    &huge);
	if (rc < 0) {
		snprintf(err, errlen, "shared memory for the rings: %s", strerror(-rc));
		return rc;
	}
	struct ring *rings[2] = { &m->tx, &m->rx }; /* C2S at 0, S2C after it */
	for (unsigned i = 0; i < 2; i++) {
		struct ring *r = rings[i];
		r->base = m->ring_mem + i * one;
		__atomic_store_n((uint32_t *)(void *)r->base, VRD_MEMIF_COOKIE, __ATOMIC_RELAXED);
		r->size = (uint16_t)(1u << log2);
		r->mask = (uint16_t)(r->size - 1);
		r->pos = r->head = 0;
		r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (r->efd < 0) {
			snprintf(err, errlen, "eventfd: %s", strerror(errno));
			return -errno;
		}
		r->have = true;
	}
	m->rx.prod_off = RING_TAIL_OFF;
	m->log2_ring = log2;
	return 0;
}

/* HELLO came: offer our rings and memory, all at once (each is ACKed). */
static int client_hello(struct vrd_memif *m, const struct vrd_memif_msg *msg, char *err,
			size_t errlen)
{
	const typeof(msg->u.hello) *h = &msg->u.hello;
	set_peer(m, h->name);
	if (h->min_version > VRD_MEMIF_VERSION || h->max_version < VRD_MEMIF_VERSION) {
		snprintf(err, errlen, "the peer speaks memif %u.%u to %u.%u, this vrouter 2.0",
			 h->min_version >> 8, h->min_version & 0xff, h->max_version >> 8,
			 h->max_version & 0xff);
		return -EPROTO;
	}
	if (h->max_region < CLIENT_BUF_REGION) {
		snprintf(err, errlen, "the peer takes %u memory regions; zero-copy needs 2",
			 h->max_region + 1);
		return -EPROTO;
	}
	uint8_t log2 = m->log2_ring < h->max_log2_ring_size ? m->log2_ring : h->max_log2_ring_size;
	if (log2 < 6) {
		snprintf(err, errlen, "the peer's rings hold at most 2^%u slots; this vrouter needs "
			 "2^6", h->max_log2_ring_size);
		return -EPROTO;
	}
	int rc = client_rings(m, log2, err, errlen);
	if (rc < 0)
		return rc;
	struct vrd_memif_msg o = { .type = VRD_MEMIF_MSG_INIT };
	o.u.init.version = VRD_MEMIF_VERSION;
	o.u.init.id = m->id;
	o.u.init.mode = 0;
	snprintf(o.u.init.name, sizeof(o.u.init.name), "tern-vif%u", m->vif);
	if ((rc = send_msg(m, &o)) < 0)
		goto fail;
	o = (struct vrd_memif_msg){ .type = VRD_MEMIF_MSG_ADD_REGION };
	o.u.add_region.index = 0;
	o.u.add_region.size = m->ring_bytes;
	if ((rc = send_msg_fd(m, &o, m->ring_fd)) < 0)
		goto fail;
	o.u.add_region.index = CLIENT_BUF_REGION;
	o.u.add_region.size = m->mem->size;
	if ((rc = send_msg_fd(m, &o, m->mem->fd)) < 0)
		goto fail;
	struct ring *rings[2] = { &m->tx, &m->rx };
	for (unsigned i = 0; i < 2; i++) {
		o = (struct vrd_memif_msg){ .type = VRD_MEMIF_MSG_ADD_RING };
		o.u.add_ring.flags = i == 0 ? VRD_MEMIF_ADD_RING_FLAG_C2S : 0;
		o.u.add_ring.index = 0;
		o.u.add_ring.region = 0;
		o.u.add_ring.offset = (uint32_t)(rings[i]->base - m->ring_mem);
		o.u.add_ring.log2_ring_size = log2;
		if ((rc = send_msg_fd(m, &o, rings[i]->efd)) < 0)
			goto fail;
	}
	o = (struct vrd_memif_msg){ .type = VRD_MEMIF_MSG_CONNECT };
	snprintf(o.u.connect.name, sizeof(o.u.connect.name), "tern-vif%u", m->vif);
	if ((rc = send_msg(m, &o)) < 0)
		goto fail;
	m->state = ST_C_SETUP;
	m->acks = 0;
	return 0;
fail:
	snprintf(err, errlen, "cannot send the set-up to the peer: %s", strerror(-rc));
	return rc;
}

/* CONNECTED: post the receive buffers, then the loop may use the rings. */
static int client_connected(struct vrd_memif *m, char *err, size_t errlen)
{
	if (m->acks != CLIENT_ACKS) {
		snprintf(err, errlen, "CONNECTED after %u of the %d ACKs", m->acks, CLIENT_ACKS);
		return -EPROTO;
	}
	client_rx_refill(m);
	if (m->rx.head == 0) {
		snprintf(err, errlen, "no packet buffers free to post for receiving");
		return -ENOMEM;
	}
	/* the loop polls the ring it receives on: no eventfd write per burst */
	__atomic_store_n(ring_u16(m->rx.base, RING_FLAGS_OFF), VRD_MEMIF_RING_FLAG_MASK_INT,
			 __ATOMIC_RELAXED);
	m->state = ST_CONNECTED;
	m->waiting_said = false;
	atomic_store_explicit(&m->connected, true, memory_order_release);
	TLOG_INFO(m->log, "vif %u: connected to memif server '%s' on %s (zero-copy, rings of %u)",
		  m->vif, m->peer, m->path, m->rx.size);
	return 0;
}

/* Connect to the server's socket when it is time to try (again). */
static void client_try(struct vrd_memif *m)
{
	uint64_t now = mono_ms();
	if (m->conn_fd >= 0 || now < m->next_try_ms)
		return;
	m->next_try_ms = now + VRD_MEMIF_RETRY_MS;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, m->path, strlen(m->path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (!m->waiting_said)
			TLOG_INFO(m->log, "vif %u: no memif server on %s yet (%s): trying every %d ms",
				  m->vif, m->path, strerror(e), VRD_MEMIF_RETRY_MS);
		m->waiting_said = true;
		return;
	}
	m->conn_fd = fd;
	m->state = ST_C_HELLO;
	m->deadline_ms = now + m->handshake_ms;
	TLOG_DEBUG(m->log, "vif %u: connecting to the memif server on %s", m->vif, m->path);
}

/* One message from a client's peer. */
static int client_msg(struct vrd_memif *m, const struct vrd_memif_msg *msg, char *err,
		      size_t errlen)
{
	switch (msg->type) {
	case VRD_MEMIF_MSG_HELLO:
		if (m->state == ST_C_HELLO)
			return client_hello(m, msg, err, errlen);
		break;
	case VRD_MEMIF_MSG_ACK:
		if (m->state == ST_C_SETUP && m->acks < CLIENT_ACKS) {
			m->acks++;
			return 0;
		}
		break;
	case VRD_MEMIF_MSG_CONNECTED:
		if (m->state == ST_C_SETUP)
			return client_connected(m, err, errlen);
		break;
	default:
		break;
	}
	snprintf(err, errlen, "unexpected %s (type %u) %s", type_name(msg->type), msg->type,
		 m->state == ST_C_HELLO ? "before HELLO" : m->state == ST_CONNECTED ?
		 "after CONNECTED" : "during setup");
	return -EPROTO;
}

/* Read what the peer sent. */
static void conn_readable(struct vrd_memif *m)
{
	for (unsigned k = 0; k < MSGS_PER_EVENT && m->conn_fd >= 0; k++) {
		uint8_t buf[VRD_MEMIF_MSG_SIZE + 1]; /* one more: an oversized message shows */
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		} cm;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
				     .msg_controllen = sizeof(cm.b) };
		ssize_t len = recvmsg(m->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (len <= 0) {
			TLOG_INFO(m->log, "vif %u: memif peer '%s' went away%s%s", m->vif, m->peer,
				  len < 0 ? ": " : "", len < 0 ? strerror(errno) : "");
			conn_close(m);
			return;
		}
		int fds[MAX_FDS];
		unsigned nfds = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k2 = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k2 && nfds < MAX_FDS; j++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + j * sizeof(int), sizeof(int));
		}
		struct vrd_memif_msg msg;
		char err[160];
		int rc;
		if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			snprintf(err, sizeof(err), "a message longer than %d bytes or with too many "
				 "file descriptors", VRD_MEMIF_MSG_SIZE);
			rc = -EINVAL;
		} else {
			rc = vrd_memif_msg_decode(buf, (size_t)len, nfds, &msg, err, sizeof(err));
		}
		if (rc < 0) {
			for (unsigned j = 0; j < nfds; j++)
				close(fds[j]);
			peer_drop(m, err);
			return;
		}
		if (msg.type == VRD_MEMIF_MSG_DISCONNECT) {
			for (char *c = msg.u.disconnect.reason; *c; c++)
				if (*c < 0x20 || *c > 0x7e)
					*c = '?';
			TLOG_INFO(m->log, "vif %u: memif peer '%s' disconnected (code %u): %s", m->vif,
				  m->peer, msg.u.disconnect.code, msg.u.disconnect.reason);
			conn_close(m);
			return;
		}
		err[0] = 0;
		if (m->client) {
			for (unsigned j = 0; j < nfds; j++)
				close(fds[j]); /* a server passes none */
			rc = client_msg(m, &msg, err, sizeof(err));
		} else {
			rc = on_msg(m, &msg, nfds ? fds[0] : -1, err, sizeof(err));
		}
		if (rc < 0) {
			if (rc != -EPROTO && !err[0])
				snprintf(err, sizeof(err), "%s", strerror(-rc));
			peer_drop(m, err);
			return;
		}
	}
}

static void accept_peer(struct vrd_memif *m)
{
	int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (m->conn_fd >= 0) {
		struct vrd_memif_msg msg = { .type = VRD_MEMIF_MSG_DISCONNECT };
		uint8_t b[VRD_MEMIF_MSG_SIZE];
		msg.u.disconnect.code = 1;
		snprintf(msg.u.disconnect.reason, sizeof(msg.u.disconnect.reason),
			 "the interface has a peer already");
		vrd_memif_msg_encode(&msg, b);
		if (send(fd, b, sizeof(b), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* refused either way */
		}
		close(fd);
		TLOG_WARN(m->log, "vif %u: a second memif peer refused: '%s' is connected", m->vif,
			  m->peer);
		return;
	}
	m->conn_fd = fd;
	m->state = ST_WAIT_INIT;
	m->deadline_ms = mono_ms() + m->handshake_ms;
	struct vrd_memif_msg h = { .type = VRD_MEMIF_MSG_HELLO };
	snprintf(h.u.hello.name, sizeof(h.u.hello.name), "tern-vrouter");
	h.u.hello.min_version = VRD_MEMIF_VERSION;
	h.u.hello.max_version = VRD_MEMIF_VERSION;
	h.u.hello.max_region = VRD_MEMIF_MAX_REGIONS - 1;
	h.u.hello.max_c2s_ring = 0; /* highest index: one ring each way */
	h.u.hello.max_s2c_ring = 0;
	h.u.hello.max_log2_ring_size = VRD_MEMIF_MAX_LOG2_RING;
	int rc = send_msg(m, &h);
	if (rc < 0) {
		TLOG_WARN(m->log, "vif %u: cannot greet a memif peer: %s", m->vif, strerror(-rc));
		conn_close(m);
		return;
	}
	TLOG_DEBUG(m->log, "vif %u: memif peer connecting on %s", m->vif, m->path);
}

unsigned vrd_memif_pollfds(const struct vrd_memif *m, struct pollfd *pfd)
{
	unsigned n = 0;
	if (m->listen_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = m->listen_fd, .events = POLLIN };
	if (m->conn_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = m->conn_fd, .events = POLLIN };
	return n;
}

void vrd_memif_events(struct vrd_memif *m, const struct pollfd *pfd, unsigned n)
{
	if (m->conn_fd >= 0 && m->state != ST_CONNECTED && mono_ms() >= m->deadline_ms) {
		char why[80];
		snprintf(why, sizeof(why), "no complete handshake within %u ms", m->handshake_ms);
		peer_drop(m, why);
	}
	/* the connection first: a new one accepted below was not polled */
	for (unsigned i = 0; i < n; i++)
		if (pfd[i].fd == m->conn_fd && m->conn_fd >= 0 && pfd[i].revents)
			conn_readable(m);
	for (unsigned i = 0; i < n; i++)
		if (pfd[i].fd == m->listen_fd && m->listen_fd >= 0 && (pfd[i].revents & POLLIN))
			accept_peer(m);
	if (m->client)
		client_try(m);
}

int vrd_memif_create(const struct vrd_memif_cfg *cfg, struct vrd_memif **out, char *err,
		     size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t l = strlen(cfg->path);
	if (!l || l >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "memif socket path '%s' is empty or longer than %zu bytes",
			 cfg->path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, cfg->path, l + 1);
	struct vrd_memif *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "memif: out of memory");
		return -ENOMEM;
	}
	m->vif = cfg->vif;
	m->id = cfg->id;
	m->log = cfg->log;
	m->handshake_ms = cfg->handshake_ms ? cfg->handshake_ms : VRD_MEMIF_HANDSHAKE_MS;
	m->conn_fd = -1;
	m->rx.efd = m->tx.efd = -1;
	memcpy(m->path, cfg->path, l + 1);
	atomic_init(&m->connected, false);
	m->ring_fd = -1;
	if (cfg->client_mem) {
		m->client = true;
		m->mem = cfg->client_mem;
		m->listen_fd = -1;
		m->log2_ring = cfg->log2_ring ? cfg->log2_ring : VRD_MEMIF_CLIENT_LOG2_RING;
		if (m->log2_ring > VRD_MEMIF_MAX_LOG2_RING)
			m->log2_ring = VRD_MEMIF_MAX_LOG2_RING;
		m->rx_slot = calloc(1u << m->log2_ring, sizeof(*m->rx_slot));
		m->tx_slot = calloc(1u << m->log2_ring, sizeof(*m->tx_slot));
		if (!m->rx_slot || !m->tx_slot) {
			free(m->rx_slot);
			free(m->tx_slot);
			free(m);
			snprintf(err, errlen, "memif: out of memory");
			return -ENOMEM;
		}
		client_try(m); /* a server already there: the handshake starts now */
		*out = m;
		return 0;
	}
	m->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listen_fd < 0 || bind(m->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(m->listen_fd, 4) < 0) {
		int e = errno;
		snprintf(err, errlen, "memif socket %s: %s (is the directory there and writable, "
			 "or does another process listen on it?)", cfg->path, strerror(e));
		if (m->listen_fd >= 0)
			close(m->listen_fd);
		free(m);
		return -e;
	}
	*out = m;
	return 0;
}

void vrd_memif_destroy(struct vrd_memif *m)
{
	if (!m)
		return;
	if (m->conn_fd >= 0 && m->state != ST_IDLE) {
		struct vrd_memif_msg msg = { .type = VRD_MEMIF_MSG_DISCONNECT };
		msg.u.disconnect.code = 0;
		snprintf(msg.u.disconnect.reason, sizeof(msg.u.disconnect.reason), "interface deleted");
		if (send_msg(m, &msg) < 0) {
			/* closing tells it too */
		}
	}
	conn_close(m);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m->rx_slot);
	free(m->tx_slot);
	free(m);
}
