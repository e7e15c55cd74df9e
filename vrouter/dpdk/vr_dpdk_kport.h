/*
 * DOC: vr_dpdk_kport.h — tern-vrouter's own af_packet I/O for kernel
 * interfaces (pod veths, an interface fabric): --kernel-io tern.
 *
 * DPDK 22.11's af_packet PMD always joins a PACKET_FANOUT group (hash, defrag,
 * rollover), so every frame the kernel hands the vrouter pays a flow hash, an
 * IPv4 defragmentation check and a ring-room check on the sender's core; and
 * its socket also takes the frames the node's own stack sends out of the
 * interface. Here a socket on its own receives through a ring (TPACKET_V2
 * frames, or TPACKET_V3 blocks when block_ms is set: fewer cache lines that
 * cross cores, at up to block_ms more latency while the rate is low), ignores
 * outgoing frames, and a second socket transmits with the qdisc bypassed,
 * one sendmmsg() a flush (not through a ring: see open_tx). No ethdev layer.
 */
#ifndef TERN_VR_DPDK_KPORT_H
#define TERN_VR_DPDK_KPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct vrd_kport;

struct vrd_kport_cfg {
	const char *ifname;
	uint32_t frame_room;        /* a packet buffer's room: longer frames are errors */
	unsigned block_ms;          /* 0: TPACKET_V2 frames; else V3 blocks retired after this */
	bool promisc;               /* a NIC's filter must pass every MAC (not needed on veth) */
};

struct vrd_kport_stats {
	uint64_t rx_pkts, rx_bytes;
	uint64_t rx_errors;         /* longer than a packet buffer's room */
	uint64_t rx_nombuf;         /* bursts left in the ring: no packet buffers */
	uint64_t rx_missed;         /* the kernel found the ring full */
	uint64_t tx_pkts, tx_bytes;
	uint64_t tx_errors;         /* longer than a buffer's room or the MTU, or refused */
};

int vrd_kport_create(const struct vrd_kport_cfg *c, struct vrd_kport **out, char *err,
		     size_t errlen);
void vrd_kport_destroy(struct vrd_kport *k);
/* Up to n frames, copied into buffers from pool. */
uint16_t vrd_kport_rx(struct vrd_kport *k, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n);
/* Sends up to VRD_TX_BUF frames (those too long are counted as errors) and
 * frees their buffers; returns how many it took: fewer than n only when the
 * device's queue is full. The caller owns (and frees) the rest. */
uint16_t vrd_kport_tx(struct vrd_kport *k, struct rte_mbuf **pkts, uint16_t n);
/* Readable when frames (V2) or a block (V3) wait: for the idle loop's poll. */
int vrd_kport_rx_fd(const struct vrd_kport *k);
/* Reading the kernel's drop count resets it, so the count is folded in here. */
void vrd_kport_get_stats(struct vrd_kport *k, struct vrd_kport_stats *st);
void vrd_kport_clear_stats(struct vrd_kport *k);
bool vrd_kport_link_up(const struct vrd_kport *k);

#endif
