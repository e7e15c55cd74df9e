/*
 * DOC: agent_svc.c — tern-api services as vrouter services. A service lives
 * in its virtual network; every node with a VRF for that network programs it
 * (load balancing is done where the client is, as kube-proxy does), so a
 * client anywhere reaches the backends on any node through the tunnels.
 *
 * Ids: index + 1 in a table of AGENT_MAX_SVCS. A replace with the same id
 * keeps the vrouter's flows (existing connections stay on their backend), so
 * the agent writes a service only when its content changed (a signature),
 * and after a restart it takes over the ids the vrouter holds, matched by
 * VRF + protocol + VIP + port; the ones nobody claims go with the sweep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "agent_internal.h"

struct agent_svc {
	bool used;
	bool seen;                /* wanted in this sync */
	char uuid[40];            /* "" : found in the vrouter at start, not claimed yet */
	uint16_t vrf;
	uint8_t family, proto;
	uint16_t port;
	uint8_t vip[16];
	uint64_t sig;             /* of what was written; 0 nothing */
};

static struct agent_svc *svc_table(struct agent *a)
{
	if (!a->svcs)
		a->svcs = calloc(AGENT_MAX_SVCS, sizeof(*a->svcs));
	return a->svcs;
}

void agent_svc_free(struct agent *a)
{
	free(a->svcs);
	a->svcs = NULL;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static bool same_key(const struct agent_svc *s, uint16_t vrf, uint8_t family, uint8_t proto,
		     uint16_t port, const uint8_t *vip)
{
	return s->vrf == vrf && s->family == family && s->proto == proto && s->port == port &&
	       !memcmp(s->vip, vip, family == 4 ? 4 : 16);
}

static void svc_del(struct agent *a, struct agent_svc *s)
{
	struct vr_object o = { .obj = VR_OBJ_SERVICE };
	char err[256];
	o.u.service.id = (uint32_t)(s - a->svcs) + 1;
	VR_SET(&o, VR_AT_ID);
	int rc = agent_vr_do(a, VR_OP_DEL, &o, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT)
		TLOG_WARN(&a->log, "deleting service %u: %s", o.u.service.id, err);
	else
		TLOG_INFO(&a->log, "service %u removed from vrf %u", o.u.service.id, s->vrf);
	memset(s, 0, sizeof(*s));
}

/* A service object's vrouter form for VRF vrf; false when it cannot be one. */
static bool svc_build(json_t *obj, uint16_t vrf, struct vr_object *o,
		      uint8_t *recs, char *why, size_t whylen)
{
	struct vr_obj_service *s = &o->u.service;
	const char *vip = json_string_value(json_object_get(obj, "vip"));
	const char *proto = json_string_value(json_object_get(obj, "protocol"));
	json_int_t port = json_integer_value(json_object_get(obj, "port"));
	memset(o, 0, sizeof(*o));
	o->obj = VR_OBJ_SERVICE;
	s->vrf = vrf;
	if (!vip || inet_pton(AF_INET, vip, s->ip.a) == 1)
		s->ip.family = 4;
	else if (inet_pton(AF_INET6, vip, s->ip.a) == 1)
		s->ip.family = 6;
	if (!vip || !s->ip.family) {
		snprintf(why, whylen, "no usable virtual IP");
		return false;
	}
	if (!proto || !strcmp(proto, "tcp"))
		s->proto = 6;
	else if (!strcmp(proto, "udp"))
		s->proto = 17;
	else {
		snprintf(why, whylen, "protocol %s: a service balances tcp or udp", proto);
		return false;
	}
	s->dport = (uint16_t)port;
	json_t *list = json_object_get(obj, "backends"), *b;
	size_t i;
	uint16_t n = 0;
	json_array_foreach(list, i, b) {
		struct vr_backend be = { 0 };
		const char *addr = json_string_value(json_object_get(b, "address"));
		int fam = addr && inet_pton(AF_INET, addr, be.addr.a) == 1 ? 4
			: addr && inet_pton(AF_INET6, addr, be.addr.a) == 1 ? 6 : 0;
		if (fam != s->ip.family || n == VR_SVC_MAX_BACKENDS)
			continue; /* the other family's backends belong to its own service */
		be.addr.family = (uint8_t)fam;
		be.port = (uint16_t)json_integer_value(json_object_get(b, "port"));
		json_int_t w = json_integer_value(json_object_get(b, "weight"));
		be.weight = (uint8_t)(w > 0 && w <= 255 ? w : 1);
		vr_backend_pack(&be, s->ip.family, recs + (size_t)n * VR_BACKEND_LEN);
		n++;
	}
	s->backends = (struct vr_recs){ recs, n };
	VR_SET(o, VR_AT_ID);
	VR_SET(o, VR_AT_VRF);
	VR_SET(o, VR_AT_IP);
	VR_SET(o, VR_AT_PROTO);
	VR_SET(o, VR_AT_DPORT);
	VR_SET(o, VR_AT_BACKENDS);
	return true;
}

/* Program one service object in the VRF of its network, if the node has it. */
static void svc_apply(struct agent *a, json_t *obj)
{
	static uint8_t recs[VR_SVC_MAX_BACKENDS * VR_BACKEND_LEN];
	const char *uuid = json_string_value(json_object_get(obj, "uuid"));
	const char *ref = json_string_value(json_object_get(obj, "virtual_network"));
	const char *project = json_string_value(json_object_get(obj, "project"));
	const char *fq = json_string_value(json_object_get(obj, "fq_name"));
	json_t *vn = ref ? agent_model_ref(a, "virtual-network", ref, project) : NULL;
	const char *vn_fq = vn ? json_string_value(json_object_get(vn, "fq_name")) : NULL;
	struct agent_vrf *v = vn_fq ? agent_vrf_find(a, vn_fq) : NULL;
	if (!uuid || !v || !v->programmed)
		return;
	struct vr_object o;
	char why[256];
	if (!svc_build(obj, v->id, &o, recs, why, sizeof(why))) {
		TLOG_WARN(&a->log, "service %s: %s", fq ? fq : uuid, why);
		return;
	}
	struct vr_obj_service *s = &o.u.service;
	struct agent_svc *t = svc_table(a), *mine = NULL, *free_slot = NULL;
	for (int i = 0; t && i < AGENT_MAX_SVCS && !mine; i++) {
		if (t[i].used && !strcmp(t[i].uuid, uuid))
			mine = &t[i];
		else if (!t[i].used && !free_slot)
			free_slot = &t[i];
	}
	if (mine && !same_key(mine, v->id, s->ip.family, s->proto, s->dport, s->ip.a)) {
		svc_del(a, mine); /* another VIP, port or VRF: a new service for the vrouter */
		free_slot = mine;
		mine = NULL;
	}
	for (int i = 0; t && i < AGENT_MAX_SVCS && !mine; i++)
		if (t[i].used && !t[i].uuid[0] &&
		    same_key(&t[i], v->id, s->ip.family, s->proto, s->dport, s->ip.a))
			mine = &t[i]; /* a previous run's: take over its id and its flows */
	if (!mine && !(mine = free_slot)) {
		TLOG_WARN(&a->log, "service %s: every service id (%d) is in use on this node",
			  fq ? fq : uuid, AGENT_MAX_SVCS);
		return;
	}
	s->id = (uint32_t)(mine - t) + 1;
	uint64_t sig = fnv(0xcbf29ce484222325ull, &s->dport, sizeof(s->dport));
	sig = fnv(sig, s->ip.a, 16);
	sig = fnv(sig, &s->proto, 1);
	sig = fnv(sig, recs, (size_t)s->backends.n * VR_BACKEND_LEN) | 1;
	mine->seen = true;
	if (mine->used && mine->uuid[0] && mine->sig == sig)
		return;
	char err[256];
	int rc = agent_vr_do(a, VR_OP_ADD, &o, err, sizeof(err));
	if (rc < 0) {
		TLOG_WARN(&a->log, "service %s in vrf %u: %s", fq ? fq : uuid, v->id, err);
		if (!mine->used)
			mine->seen = false;
		return;
	}
	TLOG_INFO(&a->log, "service %s: vrf %u id %u, %u backend(s)", fq ? fq : uuid, v->id, s->id,
		  s->backends.n);
	mine->used = true;
	snprintf(mine->uuid, sizeof(mine->uuid), "%s", uuid);
	mine->vrf = v->id;
	mine->family = s->ip.family;
	mine->proto = s->proto;
	mine->port = s->dport;
	memcpy(mine->vip, s->ip.a, 16);
	mine->sig = sig;
}

void agent_svc_sync(struct agent *a)
{
	if (!a->vr || !svc_table(a))
		return;
	for (int i = 0; i < AGENT_MAX_SVCS; i++)
		a->svcs[i].seen = false;
	json_t *all = json_object_get(a->model, "service"), *obj;
	const char *k;
	json_object_foreach(all, k, obj)
		svc_apply(a, obj);
	/* Before the first full list from tern-api, absence means nothing. */
	if (!a->api_synced)
		return;
	for (int i = 0; i < AGENT_MAX_SVCS; i++)
		if (a->svcs[i].used && a->svcs[i].uuid[0] && !a->svcs[i].seen)
			svc_del(a, &a->svcs[i]);
}

void agent_svc_vrf_gone(struct agent *a, uint16_t vrf)
{
	for (int i = 0; a->svcs && i < AGENT_MAX_SVCS; i++)
		if (a->svcs[i].used && a->svcs[i].vrf == vrf)
			svc_del(a, &a->svcs[i]);
}

void agent_svc_forget(struct agent *a)
{
	for (int i = 0; a->svcs && i < AGENT_MAX_SVCS; i++)
		a->svcs[i].sig = 0; /* written again on the next sync */
}

void agent_svc_adopt_one(struct agent *a, const struct vr_object *o)
{
	const struct vr_obj_service *s = &o->u.service;
	struct agent_svc *t = svc_table(a);
	if (!t || !s->id || s->id > AGENT_MAX_SVCS || t[s->id - 1].used)
		return;
	struct agent_svc *e = &t[s->id - 1];
	e->used = true;
	e->vrf = s->vrf;
	e->family = s->ip.family;
	e->proto = s->proto;
	e->port = s->dport;
	memcpy(e->vip, s->ip.a, 16);
}

int agent_svc_sweep(struct agent *a)
{
	int n = 0;
	for (int i = 0; a->svcs && i < AGENT_MAX_SVCS; i++)
		if (a->svcs[i].used && !a->svcs[i].uuid[0]) {
			svc_del(a, &a->svcs[i]);
			n++;
		}
	return n;
}
