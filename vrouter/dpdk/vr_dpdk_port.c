/*
 * DOC: vr_dpdk_port.c — ports behind vifs (af_packet, TAP, memif, vhost-user
 * vdevs, or tern's own memif and af_packet I/O), the packet buffers, and the
 * host ops the core calls.
 *
 * The core's struct vr_pkt lives in each mbuf's private area. tern's own
 * drivers (memif, af_packet) fill it as they fill a buffer and transmit from
 * it; for a DPDK PMD's port it is filled from the mbuf on receive and written
 * back into the mbuf on transmit.
 */
#include "vr_dpdk.h"
#include "vr_dpdk_kport.h"
#include "vr_dpdk_memif.h"
#include "vr_msg.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <string.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define RX_DESC 1024
#define TX_DESC 1024

static inline struct rte_mbuf *pkt_mbuf(struct vr_pkt *p)
{
	return (struct rte_mbuf *)((uint8_t *)p - sizeof(struct rte_mbuf));
}

static inline struct rte_mbuf *pkt_to_mbuf(struct vr_pkt *p)
{
	struct rte_mbuf *m = pkt_mbuf(p);
	m->data_off = p->headroom; /* the bytes before data: no load of buf_addr */
	m->data_len = p->len;
	m->pkt_len = p->len;
	m->ol_flags = 0;
	return m;
}

int vrd_pool_create(struct vrd *d, char *err, size_t errlen)
{
	if (d->opt.memif_zero_copy) {
		/* every packet buffer in one memfd that zero-copy memif peers map */
		char e[200];
		int rc = vrd_memif_pool_create("vr_mbufs", d->opt.mbufs, VRD_PRIV_SIZE,
					       (uint16_t)(RTE_PKTMBUF_HEADROOM + d->opt.mbuf_size),
					       rte_eal_has_hugepages(), &d->zc_mem, e, sizeof(e));
		if (rc < 0) {
			snprintf(err, errlen, "--memif-zero-copy: %s", e);
			return rc;
		}
		d->pool = d->zc_mem->pool;
		if (rte_eal_has_hugepages() && !d->zc_mem->huge)
			TLOG_WARN(&d->log, "packet buffers: no hugepages free for them, in 4 KiB pages "
				  "(slower: TLB misses)");
		TLOG_INFO(&d->log, "packet buffers: %u in %llu bytes of shared memory (zero-copy memif, "
			  "%s)", d->opt.mbufs, (unsigned long long)d->zc_mem->size,
			  d->zc_mem->huge ? "hugepages" : "4 KiB pages");
		return 0;
	}
	/* --in-memory: names are private to this process, no instance suffix needed */
	d->pool = rte_pktmbuf_pool_create("vr_mbufs", d->opt.mbufs, 256, VRD_PRIV_SIZE,
					  (uint16_t)(RTE_PKTMBUF_HEADROOM + d->opt.mbuf_size),
					  (int)rte_socket_id());
	if (!d->pool) {
		snprintf(err, errlen, "cannot create %u packet buffers: %s — give the EAL more memory "
			 "(--mem) or lower --mbufs", d->opt.mbufs, rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

static void flush_port(struct vrd_port *p)
{
	if (!p->tx_n)
		return;
	uint16_t sent = p->kport ? vrd_kport_tx(p->kport, p->tx, p->tx_n)
			: p->memif ? vrd_memif_tx(p->memif, p->tx, p->tx_n)
				   : rte_eth_tx_burst(p->port_id, 0, p->tx, p->tx_n);
	if (sent < p->tx_n) {
		p->tx_dropped += (uint64_t)(p->tx_n - sent);
		rte_pktmbuf_free_bulk(p->tx + sent, (unsigned)(p->tx_n - sent));
	}
	p->tx_n = 0;
}

void vrd_ports_adapt(struct vrd *d, uint64_t now_ms)
{
	for (unsigned i = 0; i < d->n_rx; i++) {
		struct vrd_port *p = &d->ports[d->rx_vifs[i]];
		if (!p->kport)
			continue;
		unsigned kpps = 0;
		int rc = vrd_kport_adapt(p->kport, now_ms, &kpps);
		if (rc == VRD_KRX_BLOCKS)
			TLOG_INFO(&d->log, "vif %u: receiving in blocks (TPACKET_V3) from %u kpps",
				  d->rx_vifs[i], kpps);
		else if (rc == VRD_KRX_FRAMES)
			TLOG_INFO(&d->log, "vif %u: receiving frame by frame (TPACKET_V2) from %u kpps",
				  d->rx_vifs[i], kpps);
		else if (rc < 0)
			TLOG_WARN(&d->log, "vif %u: cannot switch the kernel's receive ring: %s",
				  d->rx_vifs[i], strerror(-rc));
	}
}

unsigned vrd_flush_tx(struct vrd *d, bool force)
{
	unsigned n = 0;
	for (unsigned i = 0; i < d->n_rx; i++) {
		struct vrd_port *p = &d->ports[d->rx_vifs[i]];
		if (!p->tx_n)
			continue;
		if (force || p->tx_batch <= VR_BURST || d->now_tsc - p->tx_since >= d->tx_drain_tsc) {
			n += p->tx_n;
			flush_port(p);
		}
	}
	return n;
}

static void host_tx(void *host, uint16_t vif, struct vr_pkt *pkt)
{
	struct vrd *d = host;
	struct vrd_port *p = &d->ports[vif];
	if (unlikely(!p->used)) {
		vr_drop(d->router, pkt, VR_DROP_VIF_DOWN);
		return;
	}
	/* the port's fields in locals: the mbuf's stores might alias them */
	uint16_t n = p->tx_n, batch = p->tx_batch;
	struct rte_mbuf **tx = p->tx;
	if (!n)
		p->tx_since = d->now_tsc;
	/* tern's own drivers transmit from the packet view; a PMD reads the mbuf */
	tx[n++] = p->port_id == VRD_NO_PORT ? pkt_mbuf(pkt) : pkt_to_mbuf(pkt);
	p->tx_n = n;
	if (n >= batch)
		flush_port(p);
}

static void host_free(void *host, struct vr_pkt *pkt)
{
	(void)host;
	rte_pktmbuf_free(pkt_mbuf(pkt));
}

static struct vr_pkt *host_copy(void *host, const struct vr_pkt *pkt, uint16_t headroom)
{
	struct vrd *d = host;
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	if (!m)
		return NULL;
	if (headroom < RTE_PKTMBUF_HEADROOM)
		headroom = RTE_PKTMBUF_HEADROOM;
	if ((uint32_t)headroom + pkt->len > m->buf_len) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	m->data_off = headroom;
	struct vr_pkt *c = vrd_mbuf_pkt(m);
	*c = *pkt;
	c->data = (uint8_t *)m->buf_addr + headroom;
	c->headroom = headroom;
	c->tailroom = (uint16_t)(m->buf_len - headroom - pkt->len);
	memcpy(c->data, pkt->data, pkt->len);
	return c;
}

static bool vr_mac_is_zero_(const uint8_t *m)
{
	return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) == 0;
}

/* The least multiple of both n and the page size (4096). */
static unsigned lcm_page(unsigned n)
{
	unsigned a = n, b = 4096;
	while (b) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return n / a * 4096;
}

/* Build the devargs from typed fields (never from user-supplied devargs);
 * xdp: a kernel interface through AF_XDP rather than af_packet. */
static int vif_devargs(const struct vr_obj_vif *v, bool xdp, unsigned mbuf_size, char *name,
		       size_t nlen, char *args, size_t alen)
{
	int n;
	switch (v->type) {
	case VR_VIF_FABRIC:
		if (v->socket[0]) { /* a user-space fabric */
			snprintf(name, nlen, "net_memif_v%u", v->id);
			n = snprintf(args, alen, "role=%s,socket=%s,socket-abstract=no,id=0",
				     v->role ? "client" : "server", v->socket);
			break;
		}
		/* fall through */
	case VR_VIF_KERNEL:
		if (xdp) {
			/* one queue pair; the umem comes from the vrouter's mbuf pool */
			snprintf(name, nlen, "net_af_xdp_v%u", v->id);
			n = snprintf(args, alen, "iface=%s,start_queue=0,queue_count=1", v->ifname);
			break;
		}
		snprintf(name, nlen, "net_af_packet_v%u", v->id);
		/* qdisc_bypass: the vrouter is the qdisc. A ring frame (TPACKET2's
		 * header, then the packet) is as large as an mbuf's room, so a frame
		 * that fits the ring fits one mbuf. The PMD finds frame i at i times
		 * the frame size: a block (whole pages) must hold whole frames, with
		 * no gap. mbuf_size is a multiple of 64, so frames per block are a
		 * power of 2 that divides 1024. */
		n = snprintf(args, alen, "iface=%s,qpairs=1,framesz=%u,blocksz=%u,framecnt=1024,"
			     "qdisc_bypass=1", v->ifname, mbuf_size, lcm_page(mbuf_size));
		break;
	case VR_VIF_HOST:
		snprintf(name, nlen, "net_tap_v%u", v->id);
		/* vhost0 shares the fabric's MAC, as in TF: the underlay's frames for
		 * the node then reach the kernel unchanged. */
		n = vr_mac_is_zero_(v->mac)
			? snprintf(args, alen, "iface=%s", v->ifname)
			: snprintf(args, alen, "iface=%s,mac=%02x:%02x:%02x:%02x:%02x:%02x", v->ifname,
				   v->mac[0], v->mac[1], v->mac[2], v->mac[3], v->mac[4], v->mac[5]);
		break;
	case VR_VIF_MEMIF:
		snprintf(name, nlen, "net_memif_v%u", v->id);
		/* A file socket (not abstract) so that it lives in the pod's own directory. */
		n = snprintf(args, alen, "role=%s,socket=%s,socket-abstract=no,id=0",
			     v->role ? "client" : "server", v->socket);
		break;
	case VR_VIF_VHOST:
		snprintf(name, nlen, "net_vhost_v%u", v->id);
		n = snprintf(args, alen, "iface=%s,queues=1,client=0", v->socket);
		break;
	default:
		return -EINVAL;
	}
	if (strpbrk(v->ifname, ",= ") || strpbrk(v->socket, ",= "))
		return -EINVAL;
	return n > 0 && (size_t)n < alen ? 0 : -ENAMETOOLONG;
}

static int port_setup(struct vrd *d, uint16_t port, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	int rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc < 0) {
		snprintf(err, errlen, "configure: %s", rte_strerror(-rc));
		return rc;
	}
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	int socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = (int)rte_socket_id();
	rc = rte_eth_rx_queue_setup(port, 0, nrx, (unsigned)socket, NULL, d->pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, ntx, (unsigned)socket, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "queue setup: %s", rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_start(port);
	if (rc < 0) {
		snprintf(err, errlen, "start: %s", rte_strerror(-rc));
		return rc;
	}
	rte_eth_promiscuous_enable(port); /* not every PMD supports it; frames still flow */
	return 0;
}

/* A memif server socket left by a process that died (a vrouter restart):
 * nobody accepts on it, so it is removed; one somebody listens on is kept and
 * the attach fails with EADDRINUSE as it should. */
static void remove_stale_socket(const char *path)
{
	struct stat st;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED)
		unlink(path);
	close(fd);
}

static bool memif_server(const struct vr_obj_vif *v)
{
	return v->socket[0] && v->role == 0 && (v->type == VR_VIF_MEMIF || v->type == VR_VIF_FABRIC);
}

static bool memif_client(const struct vr_obj_vif *v)
{
	return v->socket[0] && v->role != 0 && (v->type == VR_VIF_MEMIF || v->type == VR_VIF_FABRIC);
}

/* Create and start the DPDK port of a vif: its vdev name in vdev (sized
 * VRD_VDEV_LEN), its port in *port_id; with --memif-io tern a memif server
 * is tern's own (*memif, port VRD_NO_PORT), with --kernel-io tern a kernel
 * interface is driven by tern's af_packet I/O (*kport, port VRD_NO_PORT).
 * Touches no forwarding state, so the control thread may call it too
 * (vrd_port_prepare). */
static int port_open(struct vrd *d, const struct vr_obj_vif *v, bool ahead, char *vdev,
		     uint16_t *port_id, struct vrd_memif **memif, struct vrd_kport **kport,
		     char *err, size_t errlen)
{
	*memif = NULL;
	*kport = NULL;
	bool zc = d->opt.memif_zero_copy && memif_client(v);
	if ((d->opt.memif_io == VRD_MEMIF_TERN && memif_server(v)) || zc) {
		if (strpbrk(v->socket, ",= ")) { /* as vif_devargs: the same names either way */
			snprintf(err, errlen, "socket name has ',', '=' or ' '");
			return -EINVAL;
		}
		if (!zc)
			remove_stale_socket(v->socket);
		struct vrd_memif_cfg mc = { .path = v->socket, .vif = (uint16_t)v->id, .id = 0,
					    .log = &d->log, .client_mem = zc ? d->zc_mem : NULL };
		int rc = vrd_memif_create(&mc, memif, err, errlen);
		if (rc < 0)
			return rc;
		snprintf(vdev, VRD_VDEV_LEN, "tern_memif_v%u", v->id);
		TLOG_INFO(&d->log, "vif %u: tern memif %s on %s%s", v->id,
			  zc ? "zero-copy client" : "server", v->socket,
			  ahead ? ", made by the control thread" : "");
		*port_id = VRD_NO_PORT;
		return 0;
	}
	char args[400];
	bool kif = (v->type == VR_VIF_KERNEL || v->type == VR_VIF_FABRIC) && !v->socket[0];
	if (kif && d->opt.kernel_io == VRD_IO_TERN) {
		/* a NIC fabric's filter must pass the overlay's MACs; a veth passes all */
		struct vrd_kport_cfg kc = { .ifname = v->ifname, .frame_room = d->opt.mbuf_size,
					    .rx_mode = (enum vrd_kport_rx)d->opt.kernel_rx,
					    .block_ms = d->opt.kernel_block_ms,
					    .promisc = v->type == VR_VIF_FABRIC };
		int rc = vrd_kport_create(&kc, kport, err, errlen);
		if (rc < 0)
			return rc;
		snprintf(vdev, VRD_VDEV_LEN, "tern_af_packet_v%u", v->id);
		static const char *const rx_how[] = {
			[VRD_KRX_ADAPTIVE] = "frames or blocks by the rate",
			[VRD_KRX_FRAMES] = "TPACKET_V2 frames", [VRD_KRX_BLOCKS] = "TPACKET_V3 blocks" };
		TLOG_INFO(&d->log, "vif %u: tern af_packet on %s (receives %s)%s", v->id,
			  v->ifname, rx_how[d->opt.kernel_rx],
			  ahead ? ", made by the control thread" : "");
		*port_id = VRD_NO_PORT;
		return 0;
	}
	bool xdp = kif && d->opt.kernel_io != VRD_IO_AF_PACKET;
	int rc;
again:
	err[0] = 0;
	rc = vif_devargs(v, xdp, d->opt.mbuf_size, vdev, VRD_VDEV_LEN, args, sizeof(args));
	if (rc < 0) {
		snprintf(err, errlen, "interface or socket name is too long or has ',', '=' or ' '");
		return rc;
	}
	if ((v->type == VR_VIF_FABRIC || v->type == VR_VIF_KERNEL) && v->ifname[0] &&
	    !if_nametoindex(v->ifname)) {
		snprintf(err, errlen, "no kernel interface '%s' in the vrouter's network namespace",
			 v->ifname);
		return -ENODEV;
	}
	if (v->socket[0] && v->role == 0 && (v->type == VR_VIF_MEMIF || v->type == VR_VIF_FABRIC))
		remove_stale_socket(v->socket);
	rc = rte_vdev_init(vdev, args);
	uint16_t port = 0;
	if (rc == 0 && rte_eth_dev_get_port_by_name(vdev, &port) != 0) {
		rte_vdev_uninit(vdev);
		rc = -ENODEV;
	}
	if (rc == 0 && (rc = port_setup(d, port, err, errlen)) < 0) {
		rte_eth_dev_close(port);
		rte_vdev_uninit(vdev);
	}
	if (rc < 0 && xdp && d->opt.kernel_io == VRD_IO_AUTO) {
		TLOG_WARN(&d->log, "vif %u: AF_XDP on %s failed (%s): af_packet instead", v->id,
			  v->ifname, rte_strerror(-rc));
		xdp = false;
		goto again;
	}
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s %s: %s (does the interface exist, is the socket "
				 "directory writable?)", vdev, args, rte_strerror(-rc));
		return rc;
	}
	TLOG_INFO(&d->log, "vif %u: port %s (%s)%s", v->id, vdev, args,
		  ahead ? ", made by the control thread" : "");
	*port_id = port;
	return 0;
}

static void port_close(uint16_t port, const char *vdev, struct vrd_memif *memif,
		       struct vrd_kport *kport)
{
	if (kport) {
		vrd_kport_destroy(kport);
		return;
	}
	if (memif) {
		vrd_memif_destroy(memif);
		return;
	}
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	rte_vdev_uninit(vdev);
}

/* The same port identity: type, interface, socket, role. */
static bool same_port(const struct vr_obj_vif *a, const struct vr_obj_vif *b)
{
	return a->id == b->id && a->type == b->type && a->role == b->role &&
	       !strcmp(a->ifname, b->ifname) && !strcmp(a->socket, b->socket);
}

void vrd_port_prepare(struct vrd *d, const uint8_t *req, size_t len, struct vrd_port_prep *pp)
{
	struct vr_msg_view v = { 0 };
	struct vr_object o;
	char e[200];
	memset(pp, 0, sizeof(*pp));
	if (vr_msg_parse(req, len, &v, e, sizeof(e)) < 0 || v.obj != VR_OBJ_VIF || v.op != VR_OP_ADD ||
	    v.n_objects != 1 || vr_msg_next_object(&v, &o, e, sizeof(e)) != 1 ||
	    !VR_HAVE(&o, VR_AT_ID) || o.u.vif.id >= VR_MAX_VIFS)
		return;
	/* a vif that exists keeps its port (an update): nothing to make. A peek at
	 * the forwarding core's table, which changes only while we wait for it. */
	if (d->ports[o.u.vif.id].used)
		return;
	pp->vif = o.u.vif;
	/* the request is checked on the forwarding core: a port made for a vif it
	 * refuses is closed again after the reply */
	if (port_open(d, &pp->vif, true, pp->vdev, &pp->port, &pp->memif, &pp->kport, e,
		      sizeof(e)) == 0)
		pp->ready = true;
}

void vrd_port_prep_release(struct vrd_port_prep *pp)
{
	const struct vr_obj_vif *v = &pp->vif;
	if (pp->ready && !pp->taken) {
		port_close(pp->port, pp->vdev, pp->memif, pp->kport);
		/* as detach: the PMD leaves a server socket behind */
		if (v->socket[0] && v->role == 0 && (v->type == VR_VIF_MEMIF || v->type == VR_VIF_FABRIC))
			unlink(v->socket);
	}
	pp->ready = false;
}

static int host_vif_attach(void *host, const struct vr_obj_vif *v, uint16_t *port_id,
			   char *err, size_t errlen)
{
	struct vrd *d = host;
	struct vrd_port *p = &d->ports[v->id];
	struct vrd_port_prep *pp = d->mb.port_prep;
	uint16_t port;
	struct vrd_memif *memif;
	struct vrd_kport *kport;
	if (pp && pp->ready && !pp->taken && same_port(&pp->vif, v)) {
		/* made on the control thread: the forwarding core only takes it */
		pp->taken = true;
		port = pp->port;
		memif = pp->memif;
		kport = pp->kport;
		snprintf(p->vdev, sizeof(p->vdev), "%s", pp->vdev);
	} else {
		int rc = port_open(d, v, false, p->vdev, &port, &memif, &kport, err, errlen);
		if (rc < 0)
			return rc;
	}
	p->used = true;
	p->port_id = port;
	p->memif = memif;
	p->kport = kport;
	p->server_socket[0] = 0;
	if (v->socket[0] && v->role == 0 && (v->type == VR_VIF_MEMIF || v->type == VR_VIF_FABRIC))
		snprintf(p->server_socket, sizeof(p->server_socket), "%s", v->socket);
	p->vif = (uint16_t)v->id;
	p->tx_n = 0;
	/* a system call per transmit: gather more (vdev names from vif_devargs) */
	bool kernel_socket = kport || !strncmp(p->vdev, "net_af_", 7) ||
			     !strncmp(p->vdev, "net_tap", 7);
	p->tx_batch = kernel_socket ? VRD_TX_BUF : VR_BURST;
	p->tx_dropped = 0;
	*port_id = port;
	return 0;
}

static void host_vif_detach(void *host, uint16_t vif, uint16_t port_id)
{
	struct vrd *d = host;
	struct vrd_port *p = &d->ports[vif];
	if (!p->used)
		return;
	flush_port(p);
	port_close(port_id, p->vdev, p->memif, p->kport);
	if (p->server_socket[0])
		unlink(p->server_socket); /* the PMD leaves it; a later bind would fail */
	memset(p, 0, sizeof(*p));
}

static void host_vif_stats(void *host, uint16_t vif, uint16_t port_id, struct vr_stats *st,
			   struct vr_port_rx *rx, uint8_t *link)
{
	struct vrd *d = host;
	struct vrd_port *p = &d->ports[vif];
	struct rte_eth_stats es;
	struct rte_eth_link l;
	memset(st, 0, sizeof(*st));
	memset(rx, 0, sizeof(*rx));
	if (p->kport) {
		struct vrd_kport_stats ks;
		vrd_kport_get_stats(p->kport, &ks);
		st->rx_pkts = ks.rx_pkts;
		st->rx_bytes = ks.rx_bytes;
		rx->nombuf = ks.rx_nombuf;
		rx->missed = ks.rx_missed;
		rx->bad = ks.rx_errors;
		rx->switches = ks.rx_switches;
		rx->mode = vrd_kport_rx_now(p->kport) == VRD_KRX_BLOCKS ? VR_RXM_BLOCKS : VR_RXM_FRAMES;
		rx->adaptive = vrd_kport_rx_cfg(p->kport) == VRD_KRX_ADAPTIVE;
		st->tx_pkts = ks.tx_pkts;
		st->tx_bytes = ks.tx_bytes;
		st->tx_errors = ks.tx_errors;
		*link = vrd_kport_link_up(p->kport);
	} else if (p->memif) {
		struct vrd_memif_stats ms;
		vrd_memif_get_stats(p->memif, &ms);
		st->rx_pkts = ms.rx_pkts;
		st->rx_bytes = ms.rx_bytes;
		rx->nombuf = ms.rx_nombuf;
		rx->bad = ms.rx_errors;
		st->tx_pkts = ms.tx_pkts;
		st->tx_bytes = ms.tx_bytes;
		st->tx_errors = ms.tx_errors;
		*link = vrd_memif_connected(p->memif);
	} else {
		if (rte_eth_stats_get(port_id, &es) == 0) {
			st->rx_pkts = es.ipackets;
			st->rx_bytes = es.ibytes;
			rx->nombuf = es.rx_nombuf;
			rx->missed = es.imissed;
			rx->bad = es.ierrors;
			st->tx_pkts = es.opackets;
			st->tx_bytes = es.obytes;
			st->tx_errors = es.oerrors;
		}
		*link = rte_eth_link_get_nowait(port_id, &l) == 0 && l.link_status;
	}
	/* rx_errors stays the sum it always was; port_rx says what it is made of */
	st->rx_errors = rx->nombuf + rx->missed + rx->bad;
	st->tx_errors += p->tx_dropped;
}

static void host_vif_stats_clear(void *host, uint16_t vif, uint16_t port_id)
{
	struct vrd *d = host;
	if (d->ports[vif].kport)
		vrd_kport_clear_stats(d->ports[vif].kport);
	else if (d->ports[vif].memif)
		vrd_memif_clear_stats(d->ports[vif].memif);
	else
		rte_eth_stats_reset(port_id);
	d->ports[vif].tx_dropped = 0;
}

const struct vr_host_ops vrd_host_ops = {
	.tx = host_tx,
	.free = host_free,
	.copy = host_copy,
	.vif_attach = host_vif_attach,
	.vif_detach = host_vif_detach,
	.vif_stats = host_vif_stats,
	.vif_stats_clear = host_vif_stats_clear,
};

unsigned vrd_rx_burst(struct vrd *d, uint16_t vif)
{
	struct vrd_port *p = &d->ports[vif];
	struct rte_mbuf *m[VR_BURST];
	struct vr_pkt *pk[VR_BURST];
	uint16_t n = p->kport ? vrd_kport_rx(p->kport, d->pool, m, VR_BURST)
		     : p->memif ? vrd_memif_rx(p->memif, d->pool, m, VR_BURST)
				: rte_eth_rx_burst(p->port_id, 0, m, VR_BURST);
	uint16_t k = 0;
	if (p->kport || p->memif) {
		/* They copied the data in just now, each frame into one buffer,
		 * and filled the packet view as they did. */
		for (; k < n; k++)
			pk[k] = vrd_mbuf_pkt(m[k]);
	} else {
		for (uint16_t i = 0; i < n; i++) {
			if (i + 3 < n) /* a NIC wrote it by DMA: not in the cache */
				rte_prefetch0(rte_pktmbuf_mtod(m[i + 3], void *));
			vrd_pkt_from_mbuf(m[i]);
			if (unlikely(m[i]->nb_segs > 1)) {
				vr_drop(d->router, vrd_mbuf_pkt(m[i]), VR_DROP_MULTI_SEG);
				continue;
			}
			pk[k++] = vrd_mbuf_pkt(m[i]);
		}
	}
	if (k)
		vr_pipeline_run(d->router, vif, pk, k);
	return n;
}
