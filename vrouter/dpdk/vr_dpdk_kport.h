/*
 * DOC: vr_dpdk_kport.h — tern-vrouter's own af_packet I/O for kernel
 * interfaces (pod veths, an interface fabric): --kernel-io tern.
 *
 * DPDK 22.11's af_packet PMD always joins a PACKET_FANOUT group (hash, defrag,
 * rollover), so every frame the kernel hands the vrouter pays a flow hash, an
 * IPv4 defragmentation check and a ring-room check on the sender's core; and
 * its socket also takes the frames the node's own stack sends out of the
 * interface. Here receive sockets of tern's own ignore outgoing frames and
 * read a ring: TPACKET_V2 frames (the kernel hands each frame over at once),
 * TPACKET_V3 blocks (handed over when full or when the block timer fires:
 * far fewer cache lines cross cores, ~25 % less work for the kernel that
 * delivers and for the vrouter, but at low rates a frame waits up to the
 * timer, at least a kernel tick), or adaptive, the default: both rings, one
 * fanout group whose classic BPF program picks the ring, frames while the
 * rate is low, blocks once the traffic fills a block within 100 us (like a
 * NIC's adaptive interrupt moderation). A second socket transmits with the
 * qdisc bypassed, one sendmmsg() a flush (not through a ring: see open_tx).
 * No ethdev layer.
 */
#ifndef TERN_VR_DPDK_KPORT_H
#define TERN_VR_DPDK_KPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct vrd_kport;

enum vrd_kport_rx { VRD_KRX_ADAPTIVE = 0, VRD_KRX_FRAMES = 1, VRD_KRX_BLOCKS = 2 };

struct vrd_kport_cfg {
	const char *ifname;
	uint32_t frame_room;        /* a packet buffer's room: longer frames are errors */
	enum vrd_kport_rx rx_mode;
	unsigned block_ms;          /* blocks: retired after this when not full (>= 1) */
	bool promisc;               /* a NIC's filter must pass every MAC (not needed on veth) */
};

struct vrd_kport_stats {
	uint64_t rx_pkts, rx_bytes;
	uint64_t rx_errors;         /* longer than a packet buffer's room */
	uint64_t rx_nombuf;         /* bursts left in the ring: no packet buffers */
	uint64_t rx_missed;         /* the kernel found the ring full */
	uint64_t rx_switches;       /* adaptive: switches between frames and blocks */
	uint64_t tx_pkts, tx_bytes;
	uint64_t tx_errors;         /* longer than a buffer's room or the MTU, or refused */
};

int vrd_kport_create(const struct vrd_kport_cfg *c, struct vrd_kport **out, char *err,
		     size_t errlen);
void vrd_kport_destroy(struct vrd_kport *k);
/* Up to n frames, copied into buffers from pool, their packet views
 * (vrd_mbuf_pkt) filled; the pool's private area holds the view. */
uint16_t vrd_kport_rx(struct vrd_kport *k, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n);
/* Sends up to VRD_TX_BUF frames, each as its packet view describes it
 * (those too long are counted as errors) and
 * frees their buffers; returns how many it took: fewer than n only when the
 * device's queue is full. The caller owns (and frees) the rest. */
uint16_t vrd_kport_tx(struct vrd_kport *k, struct rte_mbuf **pkts, uint16_t n);
/* Adaptive: called about every millisecond; decides from the rate whether
 * the kernel hands frames or blocks. Returns 0, the mode it switched to (and
 * the rate that made it, in kpps), or -errno when the switch failed. */
int vrd_kport_adapt(struct vrd_kport *k, uint64_t now_ms, unsigned *kpps);
/* Readable when frames (V2) or a block (V3) wait: for the idle loop's poll. */
int vrd_kport_rx_fd(const struct vrd_kport *k);
/* Reading the kernel's drop count resets it, so the count is folded in here. */
void vrd_kport_get_stats(struct vrd_kport *k, struct vrd_kport_stats *st);
void vrd_kport_clear_stats(struct vrd_kport *k);
bool vrd_kport_link_up(const struct vrd_kport *k);
/* How it receives: the mode it was made with (VRD_KRX_ADAPTIVE, or fixed
 * frames or blocks), and the ring the kernel hands frames to now
 * (VRD_KRX_FRAMES or VRD_KRX_BLOCKS; an adaptive one may switch any time). */
enum vrd_kport_rx vrd_kport_rx_cfg(const struct vrd_kport *k);
enum vrd_kport_rx vrd_kport_rx_now(const struct vrd_kport *k);

#endif
