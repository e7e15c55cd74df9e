/*
 * DOC: vr_dpdk_memif.h — tern-vrouter's own memif interfaces (--memif-io tern).
 *
 * Server: the vrouter listens on a memif socket; the pod (or a generator) is
 * the client and owns the shared memory; the vrouter copies each packet into
 * and out of it. See vr_dpdk_memif.c for the protocol and the rules that keep
 * an untrusted peer from crashing the vrouter.
 *
 * Zero-copy client (--memif-zero-copy): the vrouter connects to the peer's
 * socket and shares its own packet buffers (the whole mbuf pool, made in a
 * sealed memfd by vrd_memif_pool_create): the peer writes received packets
 * straight into the vrouter's mbufs and reads transmitted ones from them, so
 * the forwarding core copies nothing. The peer sees every packet buffer of
 * the vrouter, so this is for trusted peers only (a NIC emulation, a trusted
 * network function); pods of other tenants keep the copying server.
 *
 * Either way the handshake runs on the control thread, the rings are read and
 * written by the forwarding loop with no ethdev layer.
 */
#ifndef TERN_VR_DPDK_MEMIF_H
#define TERN_VR_DPDK_MEMIF_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern_log.h"
#include "vr_msg.h"

struct rte_mbuf;
struct rte_mempool;
struct vrd_memif;

/* The protocol's constants (memif version 2.0). */
#define VRD_MEMIF_MSG_SIZE 128
#define VRD_MEMIF_NAME_LEN 32
#define VRD_MEMIF_VERSION ((2 << 8) | 0)
#define VRD_MEMIF_COOKIE 0x3E31F20u
#define VRD_MEMIF_MAX_REGIONS 16
#define VRD_MEMIF_MAX_LOG2_RING 14
#define VRD_MEMIF_RING_FLAG_MASK_INT 1
#define VRD_MEMIF_DESC_FLAG_NEXT 1
#define VRD_MEMIF_ADD_RING_FLAG_C2S 1   /* the ring carries client -> server */

enum vrd_memif_msg_type {
	VRD_MEMIF_MSG_NONE = 0,
	VRD_MEMIF_MSG_ACK = 1,
	VRD_MEMIF_MSG_HELLO = 2,
	VRD_MEMIF_MSG_INIT = 3,
	VRD_MEMIF_MSG_ADD_REGION = 4,
	VRD_MEMIF_MSG_ADD_RING = 5,
	VRD_MEMIF_MSG_CONNECT = 6,
	VRD_MEMIF_MSG_CONNECTED = 7,
	VRD_MEMIF_MSG_DISCONNECT = 8,
};

/* A decoded message, host order; names and strings NUL-terminated. */
struct vrd_memif_msg {
	uint16_t type;
	union {
		struct {
			char name[VRD_MEMIF_NAME_LEN + 1];
			uint16_t min_version, max_version, max_region, max_c2s_ring, max_s2c_ring;
			uint8_t max_log2_ring_size;
		} hello;
		struct {
			uint16_t version;
			uint32_t id;
			uint8_t mode;
			uint8_t secret[24];
			char name[VRD_MEMIF_NAME_LEN + 1];
		} init;
		struct {
			uint16_t index;
			uint64_t size;
		} add_region;
		struct {
			uint16_t flags, index, region;
			uint32_t offset;
			uint8_t log2_ring_size;
			uint16_t private_hdr_size;
		} add_ring;
		struct {
			char name[VRD_MEMIF_NAME_LEN + 1];
		} connect; /* CONNECT and CONNECTED */
		struct {
			uint32_t code;
			char reason[97];
		} disconnect;
	} u;
};

/* Decode one message as received: len bytes, nfds descriptors passed with
 * it. Checks the size, the type, the fd count for the type (one for
 * ADD_REGION and ADD_RING, none otherwise) and, for INIT, the version.
 * Returns 0 or -EINVAL / -EPROTO with a reason in err. */
int vrd_memif_msg_decode(const uint8_t *buf, size_t len, unsigned nfds, struct vrd_memif_msg *m,
			 char *err, size_t errlen);
/* Encode into exactly VRD_MEMIF_MSG_SIZE bytes; returns that size or -EINVAL
 * for an unknown type. */
int vrd_memif_msg_encode(const struct vrd_memif_msg *m, uint8_t out[VRD_MEMIF_MSG_SIZE]);

/* Packet buffers in shared memory: a mempool of mbufs laid out in one sealed
 * memfd, which a zero-copy client hands to its peers as a region. */
struct vrd_memif_mem {
	struct rte_mempool *pool;
	int fd;
	uint8_t *base;
	uint64_t size;
	bool huge;                 /* in hugepages (else 4 KiB pages) */
};

/* n mbufs with priv_size private bytes and data_room bytes of buffer
 * (headroom included); in hugepages when huge and the kernel has them free.
 * Returns 0, or -errno with err saying what failed. */
int vrd_memif_pool_create(const char *name, unsigned n, uint16_t priv_size, uint16_t data_room,
			  bool huge, struct vrd_memif_mem **out, char *err, size_t errlen);
void vrd_memif_pool_free(struct vrd_memif_mem *mem);

struct vrd_memif_cfg {
	const char *path;          /* the socket file to listen on (server) or connect to */
	uint16_t vif;              /* for the log */
	uint32_t id;               /* the interface id the client must ask for */
	struct tern_log *log;
	unsigned handshake_ms;     /* a peer that has not connected by then is dropped
				    * (0: VRD_MEMIF_HANDSHAKE_MS) */
	/* non-NULL: a zero-copy client sharing these buffers (the mbufs the
	 * forwarding loop receives and transmits must come from mem->pool) */
	struct vrd_memif_mem *client_mem;
	uint8_t log2_ring;         /* client: ring size (0: VRD_MEMIF_CLIENT_LOG2_RING) */
};

#define VRD_MEMIF_CLIENT_LOG2_RING 10
/* A client retries a socket that is not there (yet), or a lost peer, this often. */
#define VRD_MEMIF_RETRY_MS 500

/* The socket takes one peer at a time: one that stalls in the handshake would
 * keep the interface from its pod for good. */
#define VRD_MEMIF_HANDSHAKE_MS 5000

struct vrd_memif_stats {
	uint64_t rx_pkts, rx_bytes, rx_errors, rx_nombuf;
	uint64_t tx_pkts, tx_bytes, tx_errors;
};

/* Server: listen on cfg->path (a stale socket there must be removed by the
 * caller). Client (cfg->client_mem): connect to cfg->path, now and whenever
 * the peer is lost, from vrd_memif_events. */
int vrd_memif_create(const struct vrd_memif_cfg *cfg, struct vrd_memif **out, char *err,
		     size_t errlen);
/* Close everything; on the forwarding thread or while the loop does not use it. */
void vrd_memif_destroy(struct vrd_memif *m);

/* Control thread: the fds to poll (at most 2: listening, connection). Call
 * vrd_memif_events at least every VRD_MEMIF_RETRY_MS, also with none. */
unsigned vrd_memif_pollfds(const struct vrd_memif *m, struct pollfd *pfd);
/* Control thread: handle what poll reported on those fds (same order). */
void vrd_memif_events(struct vrd_memif *m, const struct pollfd *pfd, unsigned n);

/* Forwarding thread. rx: up to n packets in fresh mbufs from pool (a client:
 * in the buffers the peer filled; pool is not used), their packet views
 * (vrd_mbuf_pkt) filled. tx: takes up to n packets, each as its packet view
 * describes it (the mbuf's own data fields are not read), frees those it took
 * (sent, or dropped for a bad descriptor and counted; a client frees them once
 * the peer has read them); returns how many it took. The pools' private areas
 * hold the views (VRD_PRIV_SIZE). */
uint16_t vrd_memif_rx(struct vrd_memif *m, struct rte_mempool *pool, struct rte_mbuf **pkts,
		      uint16_t n);
uint16_t vrd_memif_tx(struct vrd_memif *m, struct rte_mbuf **pkts, uint16_t n);
bool vrd_memif_connected(const struct vrd_memif *m);
/* Forwarding thread, around an idle sleep: while the loop polls, the ring it
 * receives on has MASK_INT set (no system call per burst in the peer). Before
 * sleeping, sleep_fd clears it and returns the peer's eventfd to wait on, -1
 * when not connected, -2 when packets came meanwhile (do not sleep); awake
 * sets it again. */
int vrd_memif_sleep_fd(struct vrd_memif *m);
void vrd_memif_awake(struct vrd_memif *m);
void vrd_memif_get_stats(const struct vrd_memif *m, struct vrd_memif_stats *st);
void vrd_memif_clear_stats(struct vrd_memif *m);

#endif
