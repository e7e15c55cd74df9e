/*
 * DOC: bgp_apiconf.c — see bgp_apiconf.h. Objects arrive validated by
 * tern-api (types, ranges, references as fq_names), so what is checked here
 * is only what tern-control cannot use: an address or route target it cannot
 * parse, more neighbours or instances than it holds.
 */
#include "bgp_apiconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

__attribute__((format(printf, 3, 4)))
static void warnf(char *warn, size_t len, const char *fmt, ...)
{
	size_t n = strlen(warn);
	if (n + 3 >= len)
		return;
	if (n)
		n += (size_t)snprintf(warn + n, len - n, "; ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(warn + n, len - n, fmt, ap);
	va_end(ap);
}

static const char *const afi_names[][2] = {
	{ "inet", "ipv4" }, { "inet6", "ipv6" }, { "inet-vpn", "vpnv4" },
	{ "inet6-vpn", "vpnv6" }, { "e-vpn", "evpn" }, { "route-target", "rtc" },
};

uint32_t bgp_apiconf_families(json_t *list)
{
	uint32_t afs = 0;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		for (unsigned k = 0; s && k < sizeof(afi_names) / sizeof(afi_names[0]); k++)
			if (strcmp(s, afi_names[k][0]) == 0)
				afs |= BGP_AF_BIT(bgp_af_by_name(afi_names[k][1]));
	}
	return afs;
}

static bool names(json_t *o, const char *s)
{
	const char *n = str(o, "name"), *fq = str(o, "fq_name"), *u = str(o, "uuid");
	return (n && strcmp(n, s) == 0) || (fq && strcmp(fq, s) == 0) || (u && strcmp(u, s) == 0);
}

static bool lists_peer(json_t *r, json_t *other)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(r, "peers"), i, v) {
		const char *s = json_string_value(v);
		if (s && names(other, s))
			return true;
	}
	return false;
}

static void add_neighbor(struct bgp_conf *out, json_t *self, json_t *r, char *warn,
			 size_t warnlen)
{
	const char *name = str(r, "name") ? str(r, "name") : "?";
	const char *addr = str(r, "address");
	struct bgp_conf_neighbor nb;
	memset(&nb, 0, sizeof(nb));
	if (!addr || bgp_sock_addr(addr, BGP_DEFAULT_PORT, &nb.addr, &nb.addr_len) < 0) {
		warnf(warn, warnlen, "bgp-router %s: address '%s' unusable, skipped", name,
		      addr ? addr : "");
		return;
	}
	for (int i = 0; i < out->n_nb; i++) {
		const struct bgp_conf_neighbor *o = &out->nb[i];
		if (o->addr_len != nb.addr_len || memcmp(&o->addr, &nb.addr, nb.addr_len) != 0)
			continue;
		if (o->origin == BGP_NB_FILE)
			warnf(warn, warnlen, "bgp-router %s: neighbor %s is in the configuration "
			      "file too (line %d), whose settings win", name, addr, o->line);
		else
			warnf(warn, warnlen, "bgp-router %s: address %s is bgp-router %s's too, "
			      "skipped", name, addr, o->router);
		return;
	}
	bool full = false;
	struct bgp_conf_neighbor *slot = bgp_conf_nb_new(out, &full);
	if (!slot) {
		warnf(warn, warnlen, full ? "bgp-router %s: more than %d neighbors, skipped" :
		      "bgp-router %s: out of memory (%d neighbors), skipped", name,
		      BGP_CONF_MAX_NB);
		return;
	}
	nb.as = (uint32_t)json_integer_value(json_object_get(r, "asn"));
	uint32_t mine = bgp_apiconf_families(json_object_get(self, "address_families"));
	uint32_t theirs = bgp_apiconf_families(json_object_get(r, "address_families"));
	nb.afs = mine && theirs ? mine & theirs : mine | theirs;
	if (!mine && !theirs)
		nb.afs = BGP_APICONF_DEFAULT_AFS;
	if (!nb.afs)
		warnf(warn, warnlen, "bgp-router %s: no address family in common with ours", name);
	json_int_t hold = json_integer_value(json_object_get(r, "hold_time"));
	if (!hold)
		hold = json_integer_value(json_object_get(self, "hold_time"));
	nb.hold = hold ? (uint16_t)hold : out->hold;
	const char *key = str(r, "md5_key") ? str(r, "md5_key") : str(self, "md5_key");
	snprintf(nb.password, sizeof(nb.password), "%s", key ? key : "");
	snprintf(nb.name, sizeof(nb.name), "%s", addr);
	snprintf(nb.router, sizeof(nb.router), "%s", name);
	nb.origin = BGP_NB_API;
	*slot = nb;
}

static int parse_rts(json_t *list, uint8_t (*rt)[8], int *n, const char *vn, const char *field,
		     char *warn, size_t warnlen)
{
	size_t i;
	json_t *v;
	*n = 0;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		if (s && strncmp(s, "target:", 7) == 0)
			s += 7;
		if (*n == BGP_VRF_MAX_RT) {
			warnf(warn, warnlen, "virtual-network %s: more than %d %s, the rest ignored",
			      vn, BGP_VRF_MAX_RT, field);
			return 0;
		}
		if (!s || bgp_vrf_parse_rt(s, rt[*n], false) < 0) {
			warnf(warn, warnlen, "virtual-network %s: %s '%s' unusable, skipped", vn,
			      field, s ? s : "");
			continue;
		}
		(*n)++;
	}
	return 0;
}

static void add_instance(struct bgp_conf *out, json_t *vn, char *warn, size_t warnlen)
{
	const char *fq = str(vn, "fq_name") ? str(vn, "fq_name") : str(vn, "name");
	if (!fq)
		return;
	if (strlen(fq) >= sizeof(out->vrf[0].name)) {
		warnf(warn, warnlen, "virtual-network %s: name too long for an instance", fq);
		return;
	}
	for (int i = 0; i < out->n_vrf; i++) {
		if (strcmp(out->vrf[i].name, fq) == 0) {
			warnf(warn, warnlen, "virtual-network %s: the configuration file has an "
			      "instance of that name (line %d), which wins", fq, out->vrf[i].line);
			return;
		}
	}
	bool full = false;
	struct bgp_vrf_conf *v = bgp_conf_vrf_new(out, &full);
	if (!v) {
		warnf(warn, warnlen, full ? "virtual-network %s: more than %d instances, skipped" :
		      "virtual-network %s: out of memory (%d instances), skipped", fq, BGP_VRF_MAX);
		return;
	}
	snprintf(v->name, sizeof(v->name), "%s", fq);
	v->vni = (uint32_t)json_integer_value(json_object_get(vn, "vni"));
	parse_rts(json_object_get(vn, "route_target_import"), v->import, &v->n_import, fq,
		  "route_target_import", warn, warnlen);
	parse_rts(json_object_get(vn, "route_target_export"), v->export, &v->n_export, fq,
		  "route_target_export", warn, warnlen);
}

int bgp_apiconf_build(const struct bgp_conf *base, json_t *routers, json_t *vns,
		      const char *self, struct bgp_conf *out, char *warn, size_t warnlen,
		      char *err, size_t errlen)
{
	const char *k;
	json_t *r, *me = NULL;
	warn[0] = 0;
	bgp_conf_free(out);
	json_object_foreach(routers, k, r)
		if (names(r, self))
			me = r;
	if (!me) {
		snprintf(err, errlen, "bgp-router %s is not in tern-api (create it, or check "
			 "--name)", self);
		return -ENOENT;
	}
	if (bgp_conf_copy(out, base) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	out->as = (uint32_t)json_integer_value(json_object_get(me, "asn"));
	struct in_addr a4;
	const char *addr = str(me, "address");
	if (addr && inet_pton(AF_INET, addr, &a4) == 1 && a4.s_addr) {
		out->router_id = ntohl(a4.s_addr);
	} else if (!base->router_id) {
		snprintf(err, errlen, "bgp-router %s: address %s is not IPv4, so it cannot be the "
			 "router id: give router-id in the configuration file", self,
			 addr ? addr : "(none)");
		bgp_conf_free(out);
		return -EINVAL;
	}
	if (!out->cluster_id)
		out->cluster_id = out->router_id;
	json_object_foreach(routers, k, r)
		if (r != me && (lists_peer(me, r) || lists_peer(r, me)))
			add_neighbor(out, me, r, warn, warnlen);
	json_t *vn;
	json_object_foreach(vns, k, vn)
		add_instance(out, vn, warn, warnlen);
	return 0;
}
