/* DOC: vr_test_support.c — see vr_test_support.h. */
#include "vr_test_support.h"
#include "vr_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_errno.h>

const uint8_t vt_router_mac[6] = { 0x00, 0x00, 0x5e, 0x00, 0x01, 0x00 };

struct vt_buf {
	struct vr_pkt pkt;
	struct vt_host *host;
	uint8_t mem[VT_BUF];
};

static void vt_tx(void *host, uint16_t vif, struct vr_pkt *pkt)
{
	struct vt_host *h = host;
	if (h->n_sent < VT_MAX_SENT) {
		struct vt_sent *s = &h->sent[h->n_sent++];
		s->vif = vif;
		s->len = pkt->len;
		memcpy(s->data, pkt->data, pkt->len);
	}
	h->live--;
	free((struct vt_buf *)pkt);
}

static void vt_free(void *host, struct vr_pkt *pkt)
{
	struct vt_host *h = host;
	h->live--;
	free((struct vt_buf *)pkt);
}

static struct vr_pkt *vt_copy(void *host, const struct vr_pkt *pkt, uint16_t headroom)
{
	struct vt_host *h = host;
	struct vt_buf *b = calloc(1, sizeof(*b));
	if (!b || headroom + pkt->len > VT_BUF) {
		free(b);
		return NULL;
	}
	b->pkt = *pkt;
	b->pkt.data = b->mem + headroom;
	b->pkt.headroom = headroom;
	b->pkt.tailroom = (uint16_t)(VT_BUF - headroom - pkt->len);
	memcpy(b->pkt.data, pkt->data, pkt->len);
	b->host = h;
	h->live++;
	return &b->pkt;
}

static int vt_attach(void *host, const struct vr_obj_vif *vif, uint16_t *port_id, char *err, size_t n)
{
	struct vt_host *h = host;
	if (!strcmp(vif->ifname, "fail0")) {
		snprintf(err, n, "no such interface");
		return -ENODEV;
	}
	*port_id = (uint16_t)vif->id;
	h->attached++;
	return 0;
}

static void vt_detach(void *host, uint16_t vif, uint16_t port)
{
	(void)vif;
	(void)port;
	((struct vt_host *)host)->attached--;
}

const struct vr_host_ops vt_host_ops = {
	.tx = vt_tx, .free = vt_free, .copy = vt_copy, .vif_attach = vt_attach, .vif_detach = vt_detach,
};

void vt_eal_init(void)
{
	static int done;
	if (done)
		return;
	char *args[] = { "vt", "--no-huge", "-m", "600", "--no-pci", "--no-shconf", "-l", "0",
			 "--log-level", "error", NULL };
	if (rte_eal_init(10, args) < 0) {
		fprintf(stderr, "EAL init failed: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
	done = 1;
}

struct vr_router *vt_router(struct vt_host *h)
{
	return vt_router_flows(h, 1024);
}

struct vr_router *vt_router_flows(struct vt_host *h, uint32_t max_flows)
{
	static struct tern_log log;
	struct vr_config cfg = { .name = "t", .max_routes = 16384, .fib_tbl8s = 32768, .max_bridge = 1024,
				 .max_flows = max_flows };
	char err[256];
	vt_eal_init();
	tern_log_init(&log, "vt", NULL, TERN_LOG_ERR);
	memset(h, 0, sizeof(*h));
	struct vr_router *r = vr_router_create(&cfg, &log, &vt_host_ops, h, err, sizeof(err));
	if (!r)
		fprintf(stderr, "router: %s\n", err);
	assert_non_null(r);
	return r;
}

struct vr_pkt *vt_pkt(struct vt_host *h, const uint8_t *frame, size_t len)
{
	struct vt_buf *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	b->pkt.data = b->mem + VT_HEADROOM;
	b->pkt.len = (uint16_t)len;
	b->pkt.headroom = VT_HEADROOM;
	b->pkt.tailroom = (uint16_t)(VT_BUF - VT_HEADROOM - len);
	memcpy(b->pkt.data, frame, len);
	b->host = h;
	h->live++;
	return &b->pkt;
}

static int vt_call(struct vr_router *r, uint16_t op, const struct vr_object *obj,
		   struct vr_object *out, char *msg, size_t n)
{
	static uint8_t req[VR_MSG_MAX], rep[VR_MSG_MAX];
	struct tern_wbuf w;
	struct vr_msg_view v;
	char err[256];
	tern_wbuf_init(&w, req, sizeof(req));
	vr_msg_begin(&w, op, 7, obj->obj);
	if (obj->have)
		vr_msg_put_object(&w, obj);
	if (op == VR_OP_DUMP)
		vr_msg_put_cursor(&w, 0);
	int len = vr_msg_finish(&w);
	assert_true(len > 0);
	/* as tern-vrouter does: the table-free part first (control thread) */
	struct vr_ctl_prep *prep = vr_ctl_prepare(r, req, (size_t)len);
	size_t rl = vr_ctl_handle_prepared(r, req, (size_t)len, prep, rep, sizeof(rep));
	vr_ctl_prep_free(prep);
	assert_true(rl > 0);
	assert_int_equal(vr_msg_parse(rep, rl, &v, err, sizeof(err)), 0);
	assert_int_equal(v.seq, 7);
	assert_true(v.has_error);
	if (msg)
		snprintf(msg, n, "%s", v.errmsg);
	if (out) {
		memset(out, 0, sizeof(*out));
		if (vr_msg_next_object(&v, out, err, sizeof(err)) < 0)
			fail_msg("reply object: %s", err);
	}
	return v.error;
}

int vt_ctl(struct vr_router *r, uint16_t op, const struct vr_object *obj, struct vr_object *out)
{
	char msg[256];
	int rc = vt_call(r, op, obj, out, msg, sizeof(msg));
	if (rc < 0)
		print_message("# vrouter said: %s\n", msg);
	return rc;
}

int vt_ctl_err(struct vr_router *r, uint16_t op, const struct vr_object *obj, char *msg, size_t n)
{
	return vt_call(r, op, obj, NULL, msg, n);
}

void vt_addr(struct vr_addr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1)
		a->family = 4;
	else if (inet_pton(AF_INET6, s, a->a) == 1)
		a->family = 6;
	else
		fail_msg("bad address %s", s);
}

uint16_t vt_sum16(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (; n > 1; p += 2, n -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

struct vr_object vt_nh_composite(uint32_t id, uint8_t type, const uint32_t *members, unsigned n)
{
	struct vr_object o = { .obj = VR_OBJ_NH };
	o.u.nh.id = id;
	o.u.nh.type = type;
	o.u.nh.n_members = (uint16_t)n;
	memcpy(o.u.nh.members, members, n * sizeof(*members));
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_TYPE);
	VR_SET(&o, VR_AT_MEMBERS);
	return o;
}

struct vr_object vt_vrf(uint16_t id, uint32_t flags, uint32_t flood_nh)
{
	struct vr_object v = { .obj = VR_OBJ_VRF };
	v.u.vrf.id = id;
	v.u.vrf.flags = flags;
	VR_SET(&v, VR_AT_ID);
	VR_SET(&v, VR_AT_FLAGS);
	if (flood_nh) {
		v.u.vrf.nh = flood_nh;
		VR_SET(&v, VR_AT_NH);
	}
	return v;
}

size_t vt_ipv4_udp(uint8_t *b, const uint8_t *dmac, const uint8_t *smac, const char *src,
		   const char *dst, uint16_t sport, uint16_t dport, size_t payload, uint8_t ttl)
{
	memcpy(b, dmac, 6);
	memcpy(b + 6, smac, 6);
	b[12] = 0x08;
	b[13] = 0x00;
	uint8_t *ip = b + 14;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	uint16_t tot = (uint16_t)(28 + payload);
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[6] = 0x40; /* DF */
	ip[8] = ttl;
	ip[9] = 17;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	uint16_t c = (uint16_t)~vt_sum16(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	uint8_t *udp = ip + 20;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)((8 + payload) >> 8);
	udp[5] = (uint8_t)(8 + payload);
	for (size_t i = 0; i < payload; i++)
		udp[8 + i] = (uint8_t)i;
	return 14 + tot;
}

size_t vt_ipv6_udp(uint8_t *b, const uint8_t *dmac, const uint8_t *smac, const char *src,
		   const char *dst, uint16_t sport, uint16_t dport, size_t payload)
{
	memcpy(b, dmac, 6);
	memcpy(b + 6, smac, 6);
	b[12] = 0x86;
	b[13] = 0xdd;
	uint8_t *ip = b + 14;
	memset(ip, 0, 48);
	ip[0] = 0x60;
	ip[4] = (uint8_t)((8 + payload) >> 8);
	ip[5] = (uint8_t)(8 + payload);
	ip[6] = 17;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	uint8_t *udp = ip + 40;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(dport >> 8);
	udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)((8 + payload) >> 8);
	udp[5] = (uint8_t)(8 + payload);
	for (size_t i = 0; i < payload; i++)
		udp[8 + i] = (uint8_t)i;
	return 14 + 40 + 8 + payload;
}

size_t vt_arp_req(uint8_t *b, const uint8_t *smac, const char *spa, const char *tpa)
{
	memset(b, 0xff, 6);
	memcpy(b + 6, smac, 6);
	b[12] = 0x08;
	b[13] = 0x06;
	uint8_t *a = b + 14;
	memset(a, 0, 28);
	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = 1;
	memcpy(a + 8, smac, 6);
	inet_pton(AF_INET, spa, a + 14);
	inet_pton(AF_INET, tpa, a + 24);
	return 42;
}

struct vr_object vt_vif(uint32_t id, uint8_t type, const char *ifname, uint16_t vrf, const uint8_t *mac)
{
	struct vr_object o = { .obj = VR_OBJ_VIF };
	o.u.vif.id = id;
	o.u.vif.type = type;
	snprintf(o.u.vif.ifname, sizeof(o.u.vif.ifname), "%s", ifname);
	o.u.vif.vrf = vrf;
	memcpy(o.u.vif.mac, mac, 6);
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_TYPE);
	VR_SET(&o, VR_AT_IFNAME);
	VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_MAC);
	return o;
}

struct vr_object vt_nh_encap(uint32_t id, uint32_t vif, uint16_t vrf, const uint8_t *dmac)
{
	struct vr_object o = { .obj = VR_OBJ_NH };
	o.u.nh.id = id;
	o.u.nh.type = VR_NH_ENCAP;
	o.u.nh.vif = vif;
	o.u.nh.vrf = vrf;
	memcpy(o.u.nh.dmac, dmac, 6);
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_TYPE);
	VR_SET(&o, VR_AT_VIF);
	VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_DMAC);
	return o;
}

struct vr_object vt_nh_tunnel(uint32_t id, uint32_t vif, uint8_t encap, const char *dip,
			      const uint8_t *dmac, uint32_t label_or_vni)
{
	struct vr_object o = { .obj = VR_OBJ_NH };
	o.u.nh.id = id;
	o.u.nh.type = VR_NH_TUNNEL;
	o.u.nh.vif = vif;
	o.u.nh.encap = encap;
	vt_addr(&o.u.nh.dip, dip);
	memcpy(o.u.nh.dmac, dmac, 6);
	VR_SET(&o, VR_AT_ID);
	VR_SET(&o, VR_AT_TYPE);
	VR_SET(&o, VR_AT_VIF);
	VR_SET(&o, VR_AT_ENCAP);
	VR_SET(&o, VR_AT_DIP);
	VR_SET(&o, VR_AT_DMAC);
	if (encap == VR_ENCAP_VXLAN) {
		o.u.nh.vni = label_or_vni;
		VR_SET(&o, VR_AT_VNI);
	} else {
		o.u.nh.label = label_or_vni;
		VR_SET(&o, VR_AT_LABEL);
	}
	return o;
}

struct vr_object vt_route(uint16_t vrf, const char *prefix, uint8_t plen, uint32_t nh)
{
	struct vr_object o = { .obj = VR_OBJ_ROUTE };
	o.u.route.vrf = vrf;
	vt_addr(&o.u.route.prefix, prefix);
	o.u.route.plen = plen;
	o.u.route.nh = nh;
	VR_SET(&o, VR_AT_VRF);
	VR_SET(&o, VR_AT_PREFIX);
	VR_SET(&o, VR_AT_PLEN);
	VR_SET(&o, VR_AT_NH);
	return o;
}

uint32_t vt_flow_find(const struct vr_router *r, const char *src, uint16_t sport, uint16_t dport,
		      bool initiator)
{
	struct vr_addr a = { 0 };
	if (src)
		vt_addr(&a, src);
	for (uint32_t i = 0; i < r->flow.max_conns; i++) {
		if (!(r->flow.conns[i].flags & VR_CONN_USED))
			continue;
		for (uint32_t dir = 0; dir < (initiator ? 1u : 2u); dir++) {
			struct vr_flow_key k;
			vr_flow_key_get(&r->flow, i << 1 | dir, &k);
			if (k.sport == sport && k.dport == dport &&
			    (!src || (k.family == a.family && !memcmp(k.src, a.a, a.family == 4 ? 4 : 16))))
				return i << 1 | dir;
		}
	}
	return VR_FLOW_NONE;
}
