/* DOC: vr_router.c — creating and destroying a router: its tables and context. */
#include "vr_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int vr_errf(struct vr_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

struct vr_router *vr_router_create(const struct vr_config *cfg, struct tern_log *log,
				   const struct vr_host_ops *ops, void *host,
				   char *err, size_t errlen)
{
	struct vr_err e = { "" };
	struct vr_router *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "cannot allocate the router context: %s", strerror(ENOMEM));
		return NULL;
	}
	r->cfg = *cfg;
	if (!r->cfg.max_vrfs)
		r->cfg.max_vrfs = VR_DEFAULT_VRFS;
	if (!r->cfg.max_routes)
		r->cfg.max_routes = 262144;
	if (!r->cfg.fib_tbl8s)
		r->cfg.fib_tbl8s = 65536;
	if (!r->cfg.max_bridge)
		r->cfg.max_bridge = 65536;
	if (!r->cfg.max_flows)
		r->cfg.max_flows = 65536;
	if (vr_mac_is_zero(r->cfg.mac)) {
		/* The MAC TF's vrouter answers ARP with: 00:00:5e:00:01:00 (IANA VRRP block). */
		static const uint8_t def[6] = { 0x00, 0x00, 0x5e, 0x00, 0x01, 0x00 };
		memcpy(r->cfg.mac, def, 6);
	}
	snprintf(r->name, sizeof(r->name), "%s", cfg->name ? cfg->name : "default");
	snprintf(r->lcores, sizeof(r->lcores), "%s", cfg->lcores ? cfg->lcores : "");
	r->cfg.name = r->name;
	r->cfg.lcores = r->lcores;
	r->log = log;
	r->ops = ops;
	r->host = host;
	r->fabric_vif = -1;
	r->host_vif = -1;
	r->started = time(NULL);

	if (r->cfg.max_vrfs > VR_MAX_VRFS_LIMIT) {
		snprintf(err, errlen, "--vrfs %u is above the limit of %u", r->cfg.max_vrfs,
			 VR_MAX_VRFS_LIMIT);
		free(r);
		return NULL;
	}
	if (vr_vrf_init(r, &e) < 0 || vr_mpls_init(r, &e) < 0 || vr_bridge_init(r, &e) < 0 ||
	    vr_fib_init(r, &e) < 0 || vr_flow_init(r, &e) < 0) {
		snprintf(err, errlen, "%s", e.msg);
		vr_router_destroy(r);
		return NULL;
	}
	return r;
}

void vr_router_destroy(struct vr_router *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < VR_MAX_VIFS; i++) {
		struct vr_vif *v = r->vifs[i];
		if (v && v->has_port && r->ops->vif_detach)
			r->ops->vif_detach(r->host, (uint16_t)i, v->port_id);
		free(v);
	}
	for (uint32_t i = 0; i < VR_MAX_NEXTHOPS; i++)
		free(r->nhs[i]);
	vr_flow_fini(r);
	vr_nat_fini(r);
	vr_policy_fini(r);
	vr_fib_fini(r);
	vr_bridge_fini(r);
	vr_mpls_fini(r);
	vr_vrf_fini(r);
	free(r);
}

unsigned vr_vif_list_ports(const struct vr_router *r, uint16_t *vif_ids, uint16_t *port_ids,
			   unsigned max)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < VR_MAX_VIFS && n < max; i++) {
		const struct vr_vif *v = r->vifs[i];
		if (v && v->has_port) {
			vif_ids[n] = (uint16_t)i;
			port_ids[n] = v->port_id;
			n++;
		}
	}
	return n;
}

struct vr_loop_stats *vr_loop_stats(struct vr_router *r)
{
	return &r->loop;
}

void vr_set_now(struct vr_router *r, uint64_t now_ms)
{
	r->now_ms = now_ms;
}
