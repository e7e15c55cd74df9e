/*
 * DOC: vr_dpdk.h — tern-vrouter's DPDK side: EAL, ports, the forwarding loop
 * and the control socket. The forwarding core (vrouter/core) reaches it only
 * through struct vr_host_ops.
 */
#ifndef TERN_VR_DPDK_H
#define TERN_VR_DPDK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <rte_mbuf.h>
#include "vr_core.h"

/* Packets a port gathers before it transmits. A kernel-socket port (af_packet,
 * AF_XDP, TAP) pays a system call per transmit (~2-5 us in this VM), so it
 * gathers up to VRD_TX_BUF packets, for at most VRD_TX_DRAIN_US (the drain
 * interval of DPDK's own l2fwd is 100 us), and everything goes before the loop
 * sleeps; other ports transmit every VR_BURST packets and every round. */
#define VRD_TX_BUF 128
#define VRD_TX_DRAIN_US 20

/* How memif server vifs are driven: DPDK's memif PMD, or tern's own server
 * (vr_dpdk_memif.c). Client vifs always use the PMD. */
enum { VRD_MEMIF_DPDK = 0, VRD_MEMIF_TERN = 1 };

struct vrd_memif;
struct vrd_kport;

/* One attached port, as the loop sees it. */
#define VRD_VDEV_LEN 48
#define VRD_NO_PORT 0xffff

/* A vif's DPDK port made on the control thread before its request reaches
 * the forwarding core (probing and starting a port takes 1-11 ms here: the
 * forwarding core only takes it). */
struct vrd_port_prep {
	bool ready, taken;
	struct vr_obj_vif vif;         /* the port's identity, as requested */
	char vdev[VRD_VDEV_LEN];
	uint16_t port;
	struct vrd_memif *memif;       /* tern's memif server instead of a DPDK port */
	struct vrd_kport *kport;       /* tern's af_packet I/O instead of a DPDK port */
};

struct vrd_port {
	bool used;
	uint16_t port_id;              /* VRD_NO_PORT for tern's own memif or af_packet */
	uint16_t vif;
	struct vrd_memif *memif;       /* tern's memif server (--memif-io tern), or NULL */
	struct vrd_kport *kport;       /* tern's af_packet (--kernel-io tern), or NULL */
	char vdev[VRD_VDEV_LEN];       /* the vdev name, for rte_vdev_uninit */
	char server_socket[VR_PATH_LEN]; /* a memif socket we listen on: removed with the vif */
	uint16_t tx_n;
	uint16_t tx_batch;             /* transmit when this many are gathered */
	uint64_t tx_since;             /* TSC of the first packet gathered */
	struct rte_mbuf *tx[VRD_TX_BUF];
	uint64_t tx_dropped;           /* queue full: freed here, counted as tx errors */
};

/* The control thread hands one request at a time to the forwarding lcore. */
struct vrd_mailbox {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int state;              /* 0 idle, 1 request pending, 2 reply ready */
	const uint8_t *req;
	size_t req_len;
	struct vr_ctl_prep *prep;      /* made ahead by the control thread, or NULL */
	struct vrd_port_prep *port_prep; /* likewise, a vif add's port, or NULL */
	uint8_t *reply;
	size_t reply_len;
};

/* How kernel interfaces (kernel pod vifs, an interface fabric) are driven:
 * DPDK's af_packet or af_xdp PMD, AF_XDP where it attaches, or tern's own
 * af_packet I/O (vr_dpdk_kport.c). */
enum { VRD_IO_AF_PACKET = 0, VRD_IO_AF_XDP = 1, VRD_IO_AUTO = 2, VRD_IO_TERN = 3 };

/* The frame room of a packet buffer (--mbuf-size; RTE_PKTMBUF_HEADROOM comes on top). */
#define VRD_MBUF_SIZE_DEFAULT 2048
#define VRD_MBUF_SIZE_MAX 16384
/* Where the kernel puts a frame in an af_packet (TPACKET_V2) ring frame: the
 * largest frame a vif takes is the buffer size less this. */
#define VRD_AF_PACKET_FRAME_OFF 66

struct vrd_options {
	char name[VR_NAME_LEN];
	char run_dir[256];
	char lcores[VR_NAME_LEN];
	unsigned mem_mb;
	unsigned mbufs;
	unsigned mbuf_size;            /* --mbuf-size: frame room of a packet buffer */
	int huge;                      /* -1 auto, 0 no, 1 yes */
	int kernel_io;                 /* VRD_IO_*: the PMD for kernel interfaces */
	int kernel_rx;                 /* --kernel-rx: enum vrd_kport_rx */
	unsigned kernel_block_ms;      /* --kernel-rx-block-ms: the block timer */
	int memif_io;                  /* VRD_MEMIF_*: who serves memif server vifs */
	bool memif_zero_copy;          /* memif client vifs: tern's zero-copy client */
	bool poll;                     /* never sleep: for benchmarks */
	unsigned max_sleep_us;
	struct vr_config cfg;
	enum tern_log_level log_level;
};

struct vrd {
	struct vrd_options opt;
	struct tern_log log;
	struct vr_router *router;
	struct rte_mempool *pool;
	struct vrd_memif_mem *zc_mem;  /* --memif-zero-copy: the pool's shared memory */
	struct vrd_port ports[VR_MAX_VIFS]; /* indexed by vif id */
	/* the loop's view of which vifs have ports, rebuilt after each control request */
	uint16_t rx_vifs[VR_MAX_VIFS];
	unsigned n_rx;
	struct vrd_mailbox mb;
	uint64_t now_tsc;              /* the TSC at the start of the loop's round */
	uint64_t tx_drain_tsc;         /* VRD_TX_DRAIN_US in TSC cycles */
	int wake_fd;                   /* eventfd: wakes a sleeping loop */
	int sig_fd;                    /* signalfd: SIGINT, SIGTERM */
	int listen_fd;
	atomic_bool quit;
	pthread_t ctl_thread;
	char sock_path[300];
};

/* vr_dpdk_port.c */
extern const struct vr_host_ops vrd_host_ops;
int vrd_pool_create(struct vrd *d, char *err, size_t errlen);
/* Transmit what the ports gathered: all of it (force), or what is due;
 * returns how many packets it handed to ports. */
unsigned vrd_flush_tx(struct vrd *d, bool force);
/* Every millisecond: kernel ports with adaptive receive pick frames or blocks. */
void vrd_ports_adapt(struct vrd *d, uint64_t now_ms);
/* Receive one burst from the vif's port into the pipeline; returns packets received. */
unsigned vrd_rx_burst(struct vrd *d, uint16_t vif);

/* The core's packet view (struct vr_pkt) lives in each mbuf's private area:
 * a pool for the vrouter's ports has this private size. A whole number of
 * cache lines: the buffer, and so the frame after the headroom, then starts on
 * a line (with 40 bytes a 64-byte frame spanned two lines and the headers
 * pushed in front of it two more). */
#define VRD_PRIV_SIZE RTE_ALIGN(sizeof(struct vr_pkt), RTE_CACHE_LINE_SIZE)
static inline struct vr_pkt *vrd_mbuf_pkt(struct rte_mbuf *m)
{
	return rte_mbuf_to_priv(m);
}

/* The view of an mbuf that a DPDK PMD filled: as the mbuf says. */
static inline void vrd_pkt_from_mbuf(struct rte_mbuf *m)
{
	struct vr_pkt *p = vrd_mbuf_pkt(m);
	p->data = rte_pktmbuf_mtod(m, uint8_t *);
	p->len = m->data_len;
	p->headroom = rte_pktmbuf_headroom(m);
	p->tailroom = rte_pktmbuf_tailroom(m);
}

/* For tern's own port drivers (memif, af_packet), which fill packet buffers
 * themselves: an mbuf from the pool (rte_mempool_get_bulk) set up as far as
 * tern and a port's transmit read it, its packet view begun (where the data
 * goes, returned); vrd_rx_filled ends it. A buffer in a pool has one
 * reference, one segment and no next (DPDK restores that whenever it frees
 * one), so the second line that rte_pktmbuf_reset writes would get what it
 * already holds; of the first, data_off is where the driver writes, and
 * ol_flags cleared makes a NIC's transmit ignore the rest (vlan_tci,
 * tx_offload, ...). Nothing in tern reads port or packet_type.
 * Every buffer of a pool has the same layout, so where its data goes is
 * computed from the pool (off: vrd_rx_headroom), not loaded from the mbuf: in
 * 4 KiB pages a pass over a burst's mbufs pays a TLB miss a packet, and a
 * driver best sets an mbuf up in the pass that fills it (measured: ~4 % of
 * the memif forwarding cost for the separate pass, ~10 % for three passes
 * that waited on loads). */
static inline uint16_t vrd_rx_headroom(struct rte_mempool *pool)
{
	return (uint16_t)RTE_MIN(RTE_PKTMBUF_HEADROOM, rte_pktmbuf_data_room_size(pool));
}

static inline uint8_t *vrd_rx_init(struct rte_mbuf *mb, struct rte_mempool *pool, uint16_t off)
{
	__rte_mbuf_raw_sanity_check(mb);
	mb->data_off = off;
	mb->ol_flags = 0;
	uint8_t *data = (uint8_t *)rte_mbuf_buf_addr(mb, pool) + off;
	struct vr_pkt *p = vrd_mbuf_pkt(mb);
	p->data = data;
	p->headroom = off;
	return data;
}

/* n mbufs set up at once: for a driver that posts them before they are filled. */
static inline int vrd_rx_alloc(struct rte_mempool *pool, struct rte_mbuf **pkts, uint16_t n)
{
	if (rte_mempool_get_bulk(pool, (void **)pkts, n) != 0)
		return -1;
	uint16_t off = vrd_rx_headroom(pool);
	for (uint16_t i = 0; i < n; i++)
		vrd_rx_init(pkts[i], pool, off);
	return 0;
}

/* A driver put len bytes into a buffer set up by vrd_rx_init (or
 * vrd_rx_alloc) whose room after the headroom is room: the mbuf and its packet
 * view say so, in the pass that filled it (the pipeline takes the view as it
 * is). */
static inline void vrd_rx_filled(struct rte_mbuf *mb, uint32_t len, uint32_t room)
{
	mb->data_len = (uint16_t)len;
	mb->pkt_len = len;
	struct vr_pkt *p = vrd_mbuf_pkt(mb);
	p->len = (uint16_t)len;
	p->tailroom = (uint16_t)(room - len);
}

/* An mbuf as its pool holds it anyway — direct, one reference, one segment —
 * and from this pool: it goes back with rte_mempool_put_bulk, what
 * rte_pktmbuf_free_bulk would do for it (rte_pktmbuf_prefree_seg resets
 * nothing such an mbuf does not already hold). Only the first cache line is
 * read: a one-segment packet has no next (DPDK's chain invariant, which
 * rte_mbuf_check enforces), and reading `next` on the second line cost a
 * miss a packet. A driver tests it in the pass that reads the mbuf anyway. */
static inline bool vrd_mbuf_plain(const struct rte_mbuf *mb, const struct rte_mempool *pool)
{
	return (rte_mbuf_refcnt_read(mb) == 1) & !!RTE_MBUF_DIRECT(mb) & (mb->nb_segs == 1) &
	       (mb->pool == pool);
}

/* Give transmitted mbufs back: one put when all are plain (above), else the
 * general way. */
static inline void vrd_tx_free(struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mempool *pool = pkts[0]->pool;
	for (uint16_t i = 0; i < n; i++) {
		if (unlikely(!vrd_mbuf_plain(pkts[i], pool))) {
			rte_pktmbuf_free_bulk(pkts, n);
			return;
		}
	}
	rte_mempool_put_bulk(pool, (void **)pkts, n);
}

/* vr_dpdk_ctl.c */
int vrd_ctl_start(struct vrd *d, char *err, size_t errlen);
/* On the control thread: for a vif add, its port made ahead (pp->ready). */
void vrd_port_prepare(struct vrd *d, const uint8_t *req, size_t len, struct vrd_port_prep *pp);
/* After the reply: close a prepared port the forwarding core did not take. */
void vrd_port_prep_release(struct vrd_port_prep *pp);

/* vr_dpdk_guard.c: other threads' munmaps wait for the forwarding loop's
 * next round (a memif peer's disconnect unmaps rings the loop may read). */
void vrd_guard_start(int wake_fd);   /* on the forwarding thread */
void vrd_guard_round(void);          /* at the start of every round */
void vrd_guard_stop(void);
uint64_t vrd_guard_waits(void);
/* From another thread: return once the loop has started a new round (at
 * once on the loop's own thread, or when it does not run). tern's memif
 * server calls it after clearing a port's connected state, before unmapping. */
void vrd_guard_wait(void);
void vrd_ctl_stop(struct vrd *d);
/* Called by the forwarding loop: run a pending request, if any. Returns true if one ran. */
bool vrd_ctl_poll(struct vrd *d);

#endif
