/*
 * DOC: vr_dpdk_kport.c — tern's af_packet I/O (why: the header).
 *
 * Receive, V2: the kernel writes a frame into slot i and sets its status to
 * USER; the loop copies the frame into a packet buffer and hands the slot back
 * (KERNEL), in order. V3: the same, a block of frames at a time; the kernel
 * hands a block over when it is full or when its retire timer fires.
 * Transmit: one sendmmsg() a flush, a message a packet; the kernel copies each
 * into an skb of its own, so the buffers are freed as soon as it returns.
 */
#include "vr_dpdk_kport.h"
#include "vr_dpdk.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>

#define PAGE_BYTES 4096u
#define RX_RING_BYTES (4u << 20)
/* adaptive: the two rings share what one ring takes alone */
#define RX_RING_BYTES_EACH (2u << 20)
/* transmit: what may wait in the kernel for a NIC's queue (a veth takes
 * each frame at once) */
#define TX_SNDBUF_BYTES (4 << 20)
/* V3: a block holds at least one frame of a buffer's room; 4 KiB hold ~28
 * minimum frames (a 64-byte frame takes 144 bytes), handed over every 57 us
 * at 0.5 Mpps. Bigger blocks save little more and make frames wait longer. */
#define RX_BLOCK_MIN (4u << 10)
/* V2: where the kernel puts a frame in a slot (its header, an address, alignment) */
#define RX_V2_FRAME_OFF 128u
/* V3: ring bytes a frame takes beyond its own (header, address, alignment) */
#define RX_V3_FRAME_OVERHEAD 80u

/* Adaptive receive (see the header). Every ADAPT_WINDOW_MS the rate decides:
 * blocks when the traffic would fill one within FILL_UP_US, frames again when
 * it would take longer than FILL_DOWN_US; no switch back within DWELL_MS. */
#define ADAPT_WINDOW_MS 10u
#define FILL_UP_US 100u
#define FILL_DOWN_US 400u
#define DWELL_MS 100u
/* After a switch from blocks, frames wait in the frame ring until the block
 * ring has handed its last block over (at most its timer, a kernel tick or
 * more); a kernel frame in flight during the switch may still land in the old
 * ring: it is read for at least DRAIN_MIN_MS, at most DRAIN_MAX_MS. */
#define DRAIN_MIN_MS 1u
#define DRAIN_MAX_MS 30u

struct ring {
	uint8_t *mem;
	size_t len;
	uint8_t **slot;            /* where frame (V2) or block (V3) i starts */
	unsigned n, pos;
};

/* one receive socket and its ring */
struct rxsock {
	int fd;
	bool v3;
	struct ring ring;
	uint32_t blk_left;         /* V3: frames of the open block not read yet */
	uint8_t *blk_next;         /* V3: the next of them */
};

enum { RX_FRAMES = 0, RX_BLOCKS = 1 };

struct vrd_kport {
	struct rxsock rx[2];       /* [RX_FRAMES] V2, [RX_BLOCKS] V3: one or both open */
	int tx_fd;
	char ifname[IF_NAMESIZE];
	uint32_t frame_room;
	enum vrd_kport_rx mode;
	unsigned active;           /* the rx[] the kernel hands frames to */
	/* adaptive */
	bool draining;             /* rx[!active] is read first, until drained */
	uint64_t switch_ms, win_ms, win_pkts, win_bytes;
	uint32_t block_bytes, block_ms;
	struct vrd_kport_stats st;
	/* transmit: one message a frame, each pointing at its own iovec */
	struct mmsghdr tx_msg[VRD_TX_BUF];
	struct iovec tx_iov[VRD_TX_BUF];
	uint16_t tx_pkt[VRD_TX_BUF];   /* the packet each message carries */
};

static int __attribute__((format(printf, 4, 5)))
errf(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -e;
}

/* Ask the kernel for a ring on fd (which: PACKET_RX_RING or PACKET_TX_RING)
 * of about `bytes`, in blocks of whole pages, a power of two (what the kernel
 * allocates anyway) of at least min_block, each holding whole slots of
 * frame_size; map it and list where each slot starts (a frame, or with V3 a
 * block). */
static int ring_setup(int fd, int which, bool v3, unsigned frame_size, unsigned min_block,
		      size_t bytes, unsigned retire_ms, struct ring *r)
{
	unsigned bs = PAGE_BYTES;
	while (bs < min_block)
		bs <<= 1;
	unsigned per_block = bs / frame_size;
	unsigned nblocks = (unsigned)(bytes / bs);
	if (nblocks < 8)
		nblocks = 8;
	struct tpacket_req3 rq = { .tp_block_size = bs, .tp_block_nr = nblocks,
				   .tp_frame_size = frame_size, .tp_frame_nr = per_block * nblocks,
				   .tp_retire_blk_tov = retire_ms };
	/* a V2 request is the first four fields of a V3 one */
	if (setsockopt(fd, SOL_PACKET, which, &rq, v3 ? sizeof(rq) : sizeof(struct tpacket_req)) < 0)
		return -errno;
	r->len = (size_t)bs * nblocks;
	r->mem = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		return -errno;
	}
	r->n = v3 ? nblocks : per_block * nblocks;
	r->slot = calloc(r->n, sizeof(*r->slot));
	if (!r->slot)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n; i++)
		r->slot[i] = v3 ? r->mem + (size_t)i * bs
				: r->mem + (size_t)(i / per_block) * bs + (size_t)(i % per_block) * frame_size;
	return 0;
}

static void ring_release(struct ring *r)
{
	if (r->mem)
		munmap(r->mem, r->len);
	free(r->slot);
}

static int block_size(const struct vrd_kport_cfg *c)
{
	unsigned bs = RX_BLOCK_MIN;
	while (bs < c->frame_room + RX_V2_FRAME_OFF)
		bs <<= 1;
	return (int)bs;
}

/* A receive socket on the interface with its ring, V2 or V3. `quiet`: it
 * takes no frame (a filter drops all) until the caller lifts the filter:
 * it joins a fanout group first. */
static int open_rx(struct vrd_kport *k, const struct vrd_kport_cfg *c, int ifindex, bool v3,
		   size_t ring_bytes, bool quiet, char *err, size_t errlen)
{
	struct rxsock *x = &k->rx[v3 ? RX_BLOCKS : RX_FRAMES];
	x->v3 = v3;
	/* protocol 0 until the bind: no frame arrives before the ring is there */
	x->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (x->fd < 0)
		return errf(err, errlen, errno, "af_packet socket: %s (the vrouter needs CAP_NET_RAW)",
			    strerror(errno));
	int one = 1, ver = v3 ? TPACKET_V3 : TPACKET_V2;
	if (setsockopt(x->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0)
		return errf(err, errlen, errno, "af_packet TPACKET_V%d on %s: %s", v3 ? 3 : 2,
			    c->ifname, strerror(errno));
	/* frames the node's own stack (or our transmit socket) sends out of the
	 * interface go to its peer, not to the vrouter */
	if (setsockopt(x->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		return errf(err, errlen, errno, "af_packet PACKET_IGNORE_OUTGOING on %s: %s (a kernel "
			    "older than 4.20? use --kernel-io af_packet)", c->ifname, strerror(errno));
	if (quiet) {
		struct sock_filter none[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
		struct sock_fprog prog = { .len = 1, .filter = none };
		if (setsockopt(x->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
			return errf(err, errlen, errno, "af_packet filter on %s: %s", c->ifname,
				    strerror(errno));
	}
	int rc;
	if (v3) {
		rc = ring_setup(x->fd, PACKET_RX_RING, true, 2048, (unsigned)block_size(c), ring_bytes,
				c->block_ms, &x->ring);
	} else {
		unsigned fs = RTE_ALIGN_CEIL(c->frame_room + RX_V2_FRAME_OFF, 64);
		rc = ring_setup(x->fd, PACKET_RX_RING, false, fs, 4 * fs, ring_bytes, 0, &x->ring);
	}
	if (rc < 0)
		return errf(err, errlen, -rc, "af_packet receive ring on %s: %s", c->ifname,
			    strerror(-rc));
	if (c->promisc) {
		struct packet_mreq mr = { .mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC };
		if (setsockopt(x->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
			return errf(err, errlen, errno, "promiscuous mode on %s: %s", c->ifname,
				    strerror(errno));
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	if (bind(x->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return errf(err, errlen, errno, "af_packet bind to %s: %s", c->ifname, strerror(errno));
	return 0;
}

/* The fanout group's program: every frame to rx[which]. */
static int steer(struct vrd_kport *k, unsigned which)
{
	struct sock_filter to[] = { BPF_STMT(BPF_RET | BPF_K, which) };
	struct sock_fprog prog = { .len = 1, .filter = to };
	if (setsockopt(k->rx[RX_FRAMES].fd, SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

/* Adaptive: both sockets in one fanout group of their own whose classic BPF
 * program picks the socket, so a switch is one atomic program swap: no frame
 * lost, none taken twice. A group's members get outgoing frames whatever
 * their PACKET_IGNORE_OUTGOING says (the group's hook is what the device
 * sees), so each socket also filters them out. */
static int open_adaptive(struct vrd_kport *k, const struct vrd_kport_cfg *c, int ifindex,
			 char *err, size_t errlen)
{
	int rc = open_rx(k, c, ifindex, false, RX_RING_BYTES_EACH, false, err, errlen);
	if (rc == 0)
		rc = open_rx(k, c, ifindex, true, RX_RING_BYTES_EACH, true, err, errlen);
	if (rc < 0)
		return rc;
	struct sock_filter not_out[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
	};
	struct sock_fprog prog = { .len = 4, .filter = not_out };
	int arg = (PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_UNIQUEID) << 16, id;
	socklen_t len = sizeof(id);
	struct rxsock *f = &k->rx[RX_FRAMES], *b = &k->rx[RX_BLOCKS];
	if (setsockopt(f->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
	    setsockopt(f->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0 ||
	    getsockopt(f->fd, SOL_PACKET, PACKET_FANOUT, &id, &len) < 0 ||
	    (rc = steer(k, RX_FRAMES)) < 0)
		return errf(err, errlen, rc < 0 ? -rc : errno,
			    "af_packet fanout group on %s: %s (use --kernel-rx frames)", c->ifname,
			    strerror(rc < 0 ? -rc : errno));
	arg = (id & 0xffff) | (PACKET_FANOUT_CBPF << 16);
	if (setsockopt(b->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0 ||
	    setsockopt(b->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
		return errf(err, errlen, errno, "af_packet fanout group on %s: %s (use --kernel-rx "
			    "frames)", c->ifname, strerror(errno));
	return 0;
}

static int open_tx(struct vrd_kport *k, const struct vrd_kport_cfg *c, int ifindex, char *err,
		   size_t errlen)
{
	/* protocol 0, and bound with 0: this socket is handed no frames */
	k->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (k->tx_fd < 0)
		return errf(err, errlen, errno, "af_packet socket: %s (the vrouter needs CAP_NET_RAW)",
			    strerror(errno));
	/* The vrouter is the qdisc. No transmit ring: a ring frame reaches the
	 * kernel as a page fragment, which a veth must copy into a fresh page
	 * (skb_copy_ubufs) before it passes the frame on; sendmmsg() copies it
	 * once into the skb's own data, ~30 % fewer cycles a frame to a veth. */
	int one = 1, sndbuf = TX_SNDBUF_BYTES;
	if (setsockopt(k->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		return errf(err, errlen, errno, "af_packet PACKET_QDISC_BYPASS on %s: %s", c->ifname,
			    strerror(errno));
	/* beyond net.core.wmem_max when the vrouter may (CAP_NET_ADMIN) */
	if (setsockopt(k->tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0 &&
	    setsockopt(k->tx_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
		return errf(err, errlen, errno, "af_packet send buffer on %s: %s", c->ifname,
			    strerror(errno));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex };
	if (bind(k->tx_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return errf(err, errlen, errno, "af_packet bind to %s: %s", c->ifname, strerror(errno));
	for (unsigned i = 0; i < VRD_TX_BUF; i++) {
		k->tx_msg[i].msg_hdr.msg_iov = &k->tx_iov[i];
		k->tx_msg[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

int vrd_kport_create(const struct vrd_kport_cfg *c, struct vrd_kport **out, char *err,
		     size_t errlen)
{
	*out = NULL;
	if (strlen(c->ifname) >= IF_NAMESIZE)
		return errf(err, errlen, ENAMETOOLONG, "interface name '%s' is longer than %d",
			    c->ifname, IF_NAMESIZE - 1);
	if (c->rx_mode != VRD_KRX_FRAMES && !c->block_ms)
		return errf(err, errlen, EINVAL, "receiving in blocks needs a block timer (ms)");
	int ifindex = (int)if_nametoindex(c->ifname);
	if (!ifindex)
		return errf(err, errlen, ENODEV,
			    "no kernel interface '%s' in the vrouter's network namespace", c->ifname);
	struct vrd_kport *k = calloc(1, sizeof(*k));
	if (!k)
		return errf(err, errlen, ENOMEM, "out of memory");
	k->rx[0].fd = k->rx[1].fd = k->tx_fd = -1;
	k->frame_room = c->frame_room;
	k->mode = c->rx_mode;
	k->block_bytes = (uint32_t)block_size(c);
	k->block_ms = c->block_ms;
	snprintf(k->ifname, sizeof(k->ifname), "%s", c->ifname);
	int rc;
	switch (c->rx_mode) {
	case VRD_KRX_FRAMES:
		rc = open_rx(k, c, ifindex, false, RX_RING_BYTES, false, err, errlen);
		k->active = RX_FRAMES;
		break;
	case VRD_KRX_BLOCKS:
		rc = open_rx(k, c, ifindex, true, RX_RING_BYTES, false, err, errlen);
		k->active = RX_BLOCKS;
		break;
	default:
		rc = open_adaptive(k, c, ifindex, err, errlen);
		k->active = RX_FRAMES;
		break;
	}
	if (rc == 0)
		rc = open_tx(k, c, ifindex, err, errlen);
	if (rc < 0) {
		vrd_kport_destroy(k);
		return rc;
	}
	*out = k;
	return 0;
}

void vrd_kport_destroy(struct vrd_kport *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < 2; i++) {
		ring_release(&k->rx[i].ring);
		if (k->rx[i].fd >= 0)
			close(k->rx[i].fd);
	}
	if (k->tx_fd >= 0)
		close(k->tx_fd);
	free(k);
}

/* One received frame into a packet buffer; the kernel took a VLAN tag out
 * of the frame into the header: put it back. */
static inline int frame_to_mbuf(struct vrd_kport *k, struct rte_mbuf *mb, const uint8_t *frame,
				uint32_t snap, uint32_t len, uint32_t status, uint16_t tci,
				uint16_t tpid)
{
	uint32_t tag = (status & TP_STATUS_VLAN_VALID) ? 4 : 0;
	if (unlikely(snap != len || snap + tag > k->frame_room || snap < 14)) {
		k->st.rx_errors++;
		return -1;
	}
	uint8_t *d = rte_pktmbuf_mtod(mb, uint8_t *);
	if (likely(!tag)) {
		rte_memcpy(d, frame, snap);
	} else {
		uint16_t t = htons((status & TP_STATUS_VLAN_TPID_VALID) ? tpid : ETH_P_8021Q);
		uint16_t c = htons(tci);
		memcpy(d, frame, 12);
		memcpy(d + 12, &t, 2);
		memcpy(d + 14, &c, 2);
		memcpy(d + 16, frame + 12, snap - 12);
	}
	vrd_rx_filled(mb, snap + tag, (uint32_t)(mb->buf_len - mb->data_off));
	k->st.rx_bytes += snap + tag;
	return 0;
}

static inline unsigned next_slot(const struct ring *r, unsigned i)
{
	return i + 1 == r->n ? 0 : i + 1;
}

static uint16_t rx_v2(struct vrd_kport *k, struct rxsock *x, struct rte_mempool *pool,
		     struct rte_mbuf **pkts, uint16_t n)
{
	struct ring *r = &x->ring;
	uint16_t ready = 0;
	for (unsigned i = r->pos; ready < n; i = next_slot(r, i), ready++) {
		const struct tpacket2_hdr *h = (const void *)r->slot[i];
		if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
	}
	if (!ready)
		return 0;
	if (unlikely(vrd_rx_alloc(pool, pkts, ready) != 0)) {
		k->st.rx_nombuf++; /* left in the ring for the next round */
		return 0;
	}
	uint16_t got = 0;
	for (uint16_t i = 0; i < ready; i++) {
		struct tpacket2_hdr *h = (void *)r->slot[r->pos];
		if (frame_to_mbuf(k, pkts[got], (const uint8_t *)h + h->tp_mac, h->tp_snaplen, h->tp_len,
				  h->tp_status, h->tp_vlan_tci, h->tp_vlan_tpid) == 0)
			got++;
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		r->pos = next_slot(r, r->pos);
	}
	if (got < ready)
		rte_pktmbuf_free_bulk(pkts + got, (unsigned)(ready - got));
	return got;
}

/* The block goes back with no frames counted: a block the kernel owns and
 * has frames in is one it opened since (see drained()). */
static void block_done(struct rxsock *x)
{
	struct tpacket_block_desc *b = (void *)x->ring.slot[x->ring.pos];
	b->hdr.bh1.num_pkts = 0;
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	x->ring.pos = next_slot(&x->ring, x->ring.pos);
}

static uint16_t rx_v3(struct vrd_kport *k, struct rxsock *x, struct rte_mempool *pool,
		     struct rte_mbuf **pkts, uint16_t n)
{
	if (!x->blk_left) {
		struct tpacket_block_desc *b = (void *)x->ring.slot[x->ring.pos];
		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			return 0;
		x->blk_left = b->hdr.bh1.num_pkts;
		x->blk_next = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
		if (!x->blk_left) { /* the timer retired an empty block */
			block_done(x);
			return 0;
		}
	}
	uint16_t want = x->blk_left < n ? (uint16_t)x->blk_left : n;
	if (unlikely(vrd_rx_alloc(pool, pkts, want) != 0)) {
		k->st.rx_nombuf++;
		return 0;
	}
	uint16_t got = 0;
	for (uint16_t i = 0; i < want; i++) {
		const struct tpacket3_hdr *h = (const void *)x->blk_next;
		if (frame_to_mbuf(k, pkts[got], (const uint8_t *)h + h->tp_mac, h->tp_snaplen, h->tp_len,
				  h->tp_status, (uint16_t)h->hv1.tp_vlan_tci,
				  (uint16_t)h->hv1.tp_vlan_tpid) == 0)
			got++;
		x->blk_next += h->tp_next_offset;
	}
	x->blk_left -= want;
	if (!x->blk_left)
		block_done(x);
	if (got < want)
		rte_pktmbuf_free_bulk(pkts + got, (unsigned)(want - got));
	return got;
}

static inline uint16_t sock_rx(struct vrd_kport *k, struct rxsock *x, struct rte_mempool *pool,
			       struct rte_mbuf **pkts, uint16_t n)
{
	return x->v3 ? rx_v3(k, x, pool, pkts, n) : rx_v2(k, x, pool, pkts, n);
}

uint16_t vrd_kport_rx(struct vrd_kport *k, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n)
{
	uint16_t got = 0;
	if (unlikely(k->draining)) {
		/* the old ring's frames came first; while a block ring drains,
		 * the frame ring waits (its frames are younger) */
		struct rxsock *old = &k->rx[!k->active];
		got = sock_rx(k, old, pool, pkts, n);
		if (got || old->v3)
			goto out;
	}
	got = sock_rx(k, &k->rx[k->active], pool, pkts, n);
out:
	k->st.rx_pkts += got;
	return got;
}

/* The old ring after a switch has nothing more to give: past the minimum,
 * a frame ring with no frame waiting; a block ring whose next block the
 * kernel owns with no frame in it (block_done cleared its count). */
static bool drained(struct vrd_kport *k, uint64_t now_ms)
{
	uint64_t age = now_ms - k->switch_ms;
	if (age >= DRAIN_MAX_MS + k->block_ms)
		return true;
	if (age < DRAIN_MIN_MS)
		return false;
	struct rxsock *old = &k->rx[!k->active];
	const void *slot = old->ring.slot[old->ring.pos];
	if (!old->v3)
		return !(__atomic_load_n(&((const struct tpacket2_hdr *)slot)->tp_status,
					 __ATOMIC_ACQUIRE) & TP_STATUS_USER);
	const struct tpacket_block_desc *b = slot;
	return !old->blk_left &&
	       !(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) &&
	       __atomic_load_n(&b->hdr.bh1.num_pkts, __ATOMIC_ACQUIRE) == 0;
}

int vrd_kport_adapt(struct vrd_kport *k, uint64_t now_ms, unsigned *kpps)
{
	if (k->mode != VRD_KRX_ADAPTIVE)
		return 0;
	if (k->draining && drained(k, now_ms))
		k->draining = false;
	uint64_t span = now_ms - k->win_ms;
	if (span < ADAPT_WINDOW_MS)
		return 0;
	uint64_t pkts = k->st.rx_pkts - k->win_pkts, bytes = k->st.rx_bytes - k->win_bytes;
	k->win_ms = now_ms;
	k->win_pkts = k->st.rx_pkts;
	k->win_bytes = k->st.rx_bytes;
	if (k->draining || now_ms - k->switch_ms < DWELL_MS)
		return 0;
	/* how long the traffic of the window takes to fill a block, in us:
	 * block bytes / (ring bytes per ms) * 1000 */
	uint64_t ring_bytes = bytes + pkts * RX_V3_FRAME_OVERHEAD;
	uint64_t fill_us = ring_bytes ? (uint64_t)k->block_bytes * span * 1000 / ring_bytes
				      : UINT64_MAX;
	unsigned want = k->active;
	if (k->active == RX_FRAMES && fill_us <= FILL_UP_US)
		want = RX_BLOCKS;
	else if (k->active == RX_BLOCKS && fill_us > FILL_DOWN_US)
		want = RX_FRAMES;
	if (want == k->active)
		return 0;
	int rc = steer(k, want);
	if (rc < 0)
		return rc;
	k->active = want;
	k->draining = true;
	k->switch_ms = now_ms;
	k->st.rx_switches++;
	if (kpps)
		*kpps = (unsigned)(pkts / span);
	return want == RX_BLOCKS ? VRD_KRX_BLOCKS : VRD_KRX_FRAMES;
}

/* Hands the kernel msg[from..to): returns where it stopped, at `to` or at a
 * frame the device could not take now (EAGAIN, ENOBUFS: its queue is full).
 * A frame the kernel refuses (longer than the MTU) is counted and skipped;
 * any other refusal (the interface went down or away) counts the rest. */
static unsigned send_frames(struct vrd_kport *k, unsigned from, unsigned to)
{
	while (from < to) {
		int r = sendmmsg(k->tx_fd, k->tx_msg + from, to - from, MSG_DONTWAIT);
		if (r > 0) {
			for (int i = 0; i < r; i++)
				k->st.tx_bytes += k->tx_iov[from + (unsigned)i].iov_len;
			k->st.tx_pkts += (unsigned)r;
			from += (unsigned)r;
		} else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			break;
		} else if (r < 0 && errno == EMSGSIZE) {
			k->st.tx_errors++;
			from++;
		} else {
			k->st.tx_errors += to - from;
			from = to;
		}
	}
	return from;
}

uint16_t vrd_kport_tx(struct vrd_kport *k, struct rte_mbuf **pkts, uint16_t n)
{
	if (n > VRD_TX_BUF)
		n = VRD_TX_BUF;
	unsigned m = 0;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = pkts[i];
		const struct vr_pkt *v = vrd_mbuf_pkt(mb);
		if (unlikely(v->len > k->frame_room || mb->nb_segs != 1))
			continue; /* too long: taken, counted and freed, not sent */
		k->tx_iov[m].iov_base = v->data;
		k->tx_iov[m].iov_len = v->len;
		k->tx_pkt[m++] = i;
	}
	unsigned sent = m ? send_frames(k, 0, m) : 0;
	/* stopped short (a full NIC queue): the packet of the first message not
	 * sent and those after it stay with the caller */
	uint16_t taken = sent < m ? k->tx_pkt[sent] : n;
	k->st.tx_errors += taken - sent; /* the too long ones among those taken */
	if (taken)
		vrd_tx_free(pkts, taken);
	return taken;
}

int vrd_kport_rx_fd(const struct vrd_kport *k)
{
	/* while a block ring drains the loop waits for it, not for the frames */
	unsigned which = k->draining && k->rx[!k->active].v3 ? !k->active : k->active;
	return k->rx[which].fd;
}

static void fold_kernel_drops(struct vrd_kport *k)
{
	for (unsigned i = 0; i < 2; i++) {
		struct tpacket_stats_v3 ks = { 0 };
		socklen_t len = sizeof(ks);
		if (k->rx[i].fd >= 0 &&
		    getsockopt(k->rx[i].fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
			k->st.rx_missed += ks.tp_drops;
	}
}

void vrd_kport_get_stats(struct vrd_kport *k, struct vrd_kport_stats *st)
{
	fold_kernel_drops(k);
	*st = k->st;
}

void vrd_kport_clear_stats(struct vrd_kport *k)
{
	fold_kernel_drops(k);
	uint64_t switches = k->st.rx_switches;
	memset(&k->st, 0, sizeof(k->st));
	k->st.rx_switches = switches; /* a state's history, not a traffic counter */
	k->win_pkts = k->win_bytes = 0;
}

enum vrd_kport_rx vrd_kport_rx_cfg(const struct vrd_kport *k)
{
	return k->mode;
}

enum vrd_kport_rx vrd_kport_rx_now(const struct vrd_kport *k)
{
	return k->active == RX_BLOCKS ? VRD_KRX_BLOCKS : VRD_KRX_FRAMES;
}

bool vrd_kport_link_up(const struct vrd_kport *k)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", k->ifname);
	return ioctl(k->tx_fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) &&
	       (ifr.ifr_flags & IFF_RUNNING);
}
