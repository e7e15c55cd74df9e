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
/* transmit: what may wait in the kernel for a NIC's queue (a veth takes
 * each frame at once) */
#define TX_SNDBUF_BYTES (4 << 20)
/* V3: a block of 32 KiB holds ~220 minimum frames, so under load a block is
 * handed over well before its timer (a 64-byte frame takes 144 bytes). */
#define RX_BLOCK_MIN (32u << 10)
/* V2: where the kernel puts a frame in a slot (its header, an address, alignment) */
#define RX_V2_FRAME_OFF 128u

struct ring {
	uint8_t *mem;
	size_t len;
	uint8_t **slot;            /* where frame (V2) or block (V3) i starts */
	unsigned n, pos;
};

struct vrd_kport {
	int rx_fd, tx_fd;
	char ifname[IF_NAMESIZE];
	uint32_t frame_room;
	bool v3;
	struct ring rx;
	uint32_t blk_left;         /* V3: frames of the open block not read yet */
	uint8_t *blk_next;         /* V3: the next of them */
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

static int open_rx(struct vrd_kport *k, const struct vrd_kport_cfg *c, int ifindex, char *err,
		   size_t errlen)
{
	/* protocol 0 until the bind: no frame arrives before the ring is there */
	k->rx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (k->rx_fd < 0)
		return errf(err, errlen, errno, "af_packet socket: %s (the vrouter needs CAP_NET_RAW)",
			    strerror(errno));
	int one = 1, ver = k->v3 ? TPACKET_V3 : TPACKET_V2;
	if (setsockopt(k->rx_fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) < 0)
		return errf(err, errlen, errno, "af_packet TPACKET_V%d on %s: %s", k->v3 ? 3 : 2,
			    c->ifname, strerror(errno));
	/* frames the node's own stack (or our transmit socket) sends out of the
	 * interface go to its peer, not to the vrouter */
	if (setsockopt(k->rx_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0)
		return errf(err, errlen, errno, "af_packet PACKET_IGNORE_OUTGOING on %s: %s (a kernel "
			    "older than 4.20? use --kernel-io af_packet)", c->ifname, strerror(errno));
	int rc;
	if (k->v3) {
		unsigned min_block = RX_BLOCK_MIN;
		while (min_block < 2 * (c->frame_room + RX_V2_FRAME_OFF))
			min_block <<= 1;
		rc = ring_setup(k->rx_fd, PACKET_RX_RING, true, 2048, min_block, RX_RING_BYTES,
				c->block_ms, &k->rx);
	} else {
		unsigned fs = RTE_ALIGN_CEIL(c->frame_room + RX_V2_FRAME_OFF, 64);
		rc = ring_setup(k->rx_fd, PACKET_RX_RING, false, fs, 4 * fs, RX_RING_BYTES, 0, &k->rx);
	}
	if (rc < 0)
		return errf(err, errlen, -rc, "af_packet receive ring on %s: %s", c->ifname,
			    strerror(-rc));
	if (c->promisc) {
		struct packet_mreq mr = { .mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC };
		if (setsockopt(k->rx_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
			return errf(err, errlen, errno, "promiscuous mode on %s: %s", c->ifname,
				    strerror(errno));
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	if (bind(k->rx_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return errf(err, errlen, errno, "af_packet bind to %s: %s", c->ifname, strerror(errno));
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
	int ifindex = (int)if_nametoindex(c->ifname);
	if (!ifindex)
		return errf(err, errlen, ENODEV,
			    "no kernel interface '%s' in the vrouter's network namespace", c->ifname);
	struct vrd_kport *k = calloc(1, sizeof(*k));
	if (!k)
		return errf(err, errlen, ENOMEM, "out of memory");
	k->rx_fd = k->tx_fd = -1;
	k->frame_room = c->frame_room;
	k->v3 = c->block_ms > 0;
	snprintf(k->ifname, sizeof(k->ifname), "%s", c->ifname);
	int rc = open_rx(k, c, ifindex, err, errlen);
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
	ring_release(&k->rx);
	if (k->rx_fd >= 0)
		close(k->rx_fd);
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
	mb->data_len = (uint16_t)(snap + tag);
	mb->pkt_len = snap + tag;
	k->st.rx_bytes += snap + tag;
	return 0;
}

static inline unsigned next_slot(const struct ring *r, unsigned i)
{
	return i + 1 == r->n ? 0 : i + 1;
}

static uint16_t rx_v2(struct vrd_kport *k, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n)
{
	struct ring *r = &k->rx;
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

static void block_done(struct vrd_kport *k)
{
	struct tpacket_block_desc *b = (void *)k->rx.slot[k->rx.pos];
	__atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	k->rx.pos = next_slot(&k->rx, k->rx.pos);
}

static uint16_t rx_v3(struct vrd_kport *k, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n)
{
	if (!k->blk_left) {
		struct tpacket_block_desc *b = (void *)k->rx.slot[k->rx.pos];
		if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			return 0;
		k->blk_left = b->hdr.bh1.num_pkts;
		k->blk_next = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
		if (!k->blk_left) { /* the timer retired an empty block */
			block_done(k);
			return 0;
		}
	}
	uint16_t want = k->blk_left < n ? (uint16_t)k->blk_left : n;
	if (unlikely(vrd_rx_alloc(pool, pkts, want) != 0)) {
		k->st.rx_nombuf++;
		return 0;
	}
	uint16_t got = 0;
	for (uint16_t i = 0; i < want; i++) {
		const struct tpacket3_hdr *h = (const void *)k->blk_next;
		if (frame_to_mbuf(k, pkts[got], (const uint8_t *)h + h->tp_mac, h->tp_snaplen, h->tp_len,
				  h->tp_status, (uint16_t)h->hv1.tp_vlan_tci,
				  (uint16_t)h->hv1.tp_vlan_tpid) == 0)
			got++;
		k->blk_next += h->tp_next_offset;
	}
	k->blk_left -= want;
	if (!k->blk_left)
		block_done(k);
	if (got < want)
		rte_pktmbuf_free_bulk(pkts + got, (unsigned)(want - got));
	return got;
}

uint16_t vrd_kport_rx(struct vrd_kport *k, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n)
{
	uint16_t got = k->v3 ? rx_v3(k, pool, pkts, n) : rx_v2(k, pool, pkts, n);
	k->st.rx_pkts += got;
	return got;
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
		if (unlikely(mb->data_len > k->frame_room || mb->nb_segs != 1))
			continue; /* too long: taken, counted and freed, not sent */
		k->tx_iov[m].iov_base = rte_pktmbuf_mtod(mb, void *);
		k->tx_iov[m].iov_len = mb->data_len;
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
	return k->rx_fd;
}

static void fold_kernel_drops(struct vrd_kport *k)
{
	struct tpacket_stats_v3 ks = { 0 };
	socklen_t len = sizeof(ks);
	if (getsockopt(k->rx_fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) == 0)
		k->st.rx_missed += ks.tp_drops;
}

void vrd_kport_get_stats(struct vrd_kport *k, struct vrd_kport_stats *st)
{
	fold_kernel_drops(k);
	*st = k->st;
}

void vrd_kport_clear_stats(struct vrd_kport *k)
{
	fold_kernel_drops(k);
	memset(&k->st, 0, sizeof(k->st));
}

bool vrd_kport_link_up(const struct vrd_kport *k)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", k->ifname);
	return ioctl(k->rx_fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) &&
	       (ifr.ifr_flags & IFF_RUNNING);
}
