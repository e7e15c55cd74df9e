/* DOC: agent_l2_test.c — the EVPN routes of agent_l2.c without a vrouter or
 * a controller: the forwarding modes; type 2 and type 3 keys as the agent
 * builds them, through the shared codec and back (with the PMSI tunnel);
 * what a learned route's encapsulation communities, label field and PMSI
 * tunnel turn into (tunnel type, VNI or MPLS label, tunnel end); the L2 and
 * floating IP ids through the state file and back (what a restarted agent
 * takes over); the VRF flags and host routes' proxy-arp flag by mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "agent_internal.h"

#define ROUTER_ID 0x0aff0001u   /* 10.255.0.1 */

static const uint8_t MAC[6] = { 0x02, 0x74, 0x65, 0x00, 0x00, 0x07 };

static void test_mode(void **state)
{
	(void)state;
	json_t *vn = json_pack("{s:s}", "forwarding_mode", "l2");
	assert_int_equal(agent_l2_mode(vn), AGENT_L2_ONLY);
	json_object_set_new(vn, "forwarding_mode", json_string("l2_l3"));
	assert_int_equal(agent_l2_mode(vn), AGENT_L2_L3);
	json_object_set_new(vn, "forwarding_mode", json_string("l3"));
	assert_int_equal(agent_l2_mode(vn), AGENT_L2_OFF);
	json_object_del(vn, "forwarding_mode");
	assert_int_equal(agent_l2_mode(vn), AGENT_L2_OFF);
	assert_int_equal(agent_l2_mode(NULL), AGENT_L2_OFF);
	json_decref(vn);
}

static void test_label_field(void **state)
{
	(void)state;
	assert_int_equal(agent_l2_label_field(VR_ENCAP_VXLAN, 5001), 5001);
	assert_int_equal(agent_l2_label_field(VR_ENCAP_VXLAN, 0x1ffffff), 0xffffff);
	assert_int_equal(agent_l2_label_field(VR_ENCAP_MPLSOUDP, 17), 17u << 4 | 1);
	assert_int_equal(agent_l2_label_field(VR_ENCAP_MPLSOGRE, 0xfffff), 0xfffff1);
}

/* Encode an EVPN UPDATE with the codec and parse it back. */
static struct bgp_update *round_trip(const struct bgp_attrs *a, const struct bgp_nlri *n,
				     size_t cnt, uint8_t *msg, size_t cap)
{
	struct tern_wbuf w;
	tern_wbuf_init(&w, msg, cap);
	int len = bgp_update_encode(&w, BGP_AF_EVPN, a, n, cnt, NULL, 0);
	assert_true(len > BGP_HDR_LEN);
	struct bgp_update *u = malloc(sizeof(*u));
	assert_non_null(u);
	struct bgp_peer_ctx ctx = { .ebgp = false, .peer_as = 64512,
				    .afs = BGP_AF_BIT(BGP_AF_EVPN) };
	struct bgp_err e;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(msg + BGP_HDR_LEN, (size_t)len - BGP_HDR_LEN, &ctx, u,
					  &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	assert_int_equal(u->reach_af, BGP_AF_EVPN);
	return u;
}

static void base_attrs(struct bgp_attrs *a, uint8_t ext[16])
{
	static const uint8_t empty[1];
	memset(a, 0, sizeof(*a));
	a->has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
		 BGP_HAS(BGP_ATTR_LOCAL_PREF) | BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
	a->as_path = (struct bgp_bytes){ empty, 0 };
	a->local_pref = 100;
	bgp_ext_rt_as2(ext, 64512, 7);
	bgp_ext_encap(ext + 8, BGP_TUNNEL_VXLAN);
	a->ext_communities = (struct bgp_bytes){ ext, 16 };
	a->nh_len = 4;
	memcpy(a->nh, (uint8_t[]){ 10, 255, 0, 1 }, 4);
}

/* One MAC-only and one MAC+IP route, VNI 5001: what a pod on an L2 network
 * with VXLAN announces. */
static void test_type2_round_trip(void **state)
{
	(void)state;
	struct agent_ip ip;
	assert_int_equal(agent_ip_parse("10.7.0.2", &ip), 0);
	struct bgp_nlri n[2];
	memset(n, 0, sizeof(n));
	agent_l2_type2(ROUTER_ID, 3, MAC, NULL, &n[0].p);
	agent_l2_type2(ROUTER_ID, 3, MAC, &ip, &n[1].p);
	n[0].label = n[1].label = agent_l2_label_field(VR_ENCAP_VXLAN, 5001);
	assert_int_equal(n[0].p.plen, 0);
	assert_int_equal(n[1].p.plen, 32);
	char s[160];
	bgp_evpn_format(&n[1].p, s, sizeof(s));
	assert_non_null(strstr(s, "[2]"));
	assert_non_null(strstr(s, "10.255.0.1:3"));
	assert_non_null(strstr(s, "02:74:65:00:00:07"));
	assert_non_null(strstr(s, "10.7.0.2"));

	struct bgp_attrs a;
	uint8_t ext[16], msg[BGP_MAX_MSG];
	base_attrs(&a, ext);
	struct bgp_update *u = round_trip(&a, n, 2, msg, sizeof(msg));
	assert_int_equal(u->mp_nh_len, 4);
	struct bgp_nlri_iter it;
	struct bgp_nlri got;
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_EVPN, u->reach.p, u->reach.len, false);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
		assert_memory_equal(&got.p, &n[i].p, BGP_PREFIX_KEY_LEN);
		assert_int_equal(got.label, 5001);
		/* As agent_bgp reports it: the tunnel is VXLAN 5001 to the next hop. */
		struct agent_bgp_path p;
		memset(&p, 0, sizeof(p));
		p.prefix = got.p;
		p.label = got.label;
		p.nh_len = 4;
		memcpy(p.nh, u->mp_nh, 4);
		p.n_ext = 2;
		memcpy(p.ext, u->attrs.ext_communities.p, 16);
		static const uint8_t order[] = { VR_ENCAP_MPLSOUDP, VR_ENCAP_VXLAN };
		uint8_t encap;
		uint32_t label;
		assert_int_equal(agent_l2_tunnel(&p, order, 2, &encap, &label), 0);
		assert_int_equal(encap, VR_ENCAP_VXLAN);
		assert_int_equal(label, 5001);
		struct agent_ip dip;
		assert_int_equal(agent_l2_endpoint(&p, &dip), 0);
		assert_int_equal(dip.family, 4);
		assert_memory_equal(dip.a, ((uint8_t[]){ 10, 255, 0, 1 }), 4);
	}
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 0);
	free(u);
}

/* The node's type 3 route: PMSI ingress replication to its fabric address
 * with an MPLS flood label; parsed back and turned into a flood member. */
static void test_type3_pmsi(void **state)
{
	(void)state;
	struct agent_ip fab;
	assert_int_equal(agent_ip_parse("10.255.0.2", &fab), 0);
	struct bgp_nlri n;
	memset(&n, 0, sizeof(n));
	agent_l2_type3(0x0aff0002u, 9, &fab, &n.p);
	assert_int_equal(n.p.evpn_type, 3);
	assert_int_equal(n.p.plen, 32);
	struct bgp_attrs a;
	uint8_t ext[16], msg[BGP_MAX_MSG];
	base_attrs(&a, ext);
	bgp_ext_encap(ext + 8, BGP_TUNNEL_MPLS_GRE);
	a.has |= BGP_HAS(BGP_ATTR_PMSI_TUNNEL);
	a.pmsi = (struct bgp_pmsi){ .type = BGP_PMSI_INGRESS_REPL, .label = 77u << 4, .id_len = 4,
				    .id = { 10, 255, 0, 2 } };
	struct bgp_update *u = round_trip(&a, &n, 1, msg, sizeof(msg));
	assert_true(u->attrs.has & BGP_HAS(BGP_ATTR_PMSI_TUNNEL));
	struct bgp_nlri_iter it;
	struct bgp_nlri got;
	char err[128];
	bgp_nlri_iter_init(&it, BGP_AF_EVPN, u->reach.p, u->reach.len, false);
	assert_int_equal(bgp_nlri_next(&it, &got, err, sizeof(err)), 1);
	assert_memory_equal(&got.p, &n.p, BGP_PREFIX_KEY_LEN);
	struct agent_bgp_path p;
	memset(&p, 0, sizeof(p));
	p.prefix = got.p;
	p.nh_len = 4;
	memcpy(p.nh, (uint8_t[]){ 192, 0, 2, 9 }, 4);  /* the PMSI identifier wins */
	p.n_ext = 2;
	memcpy(p.ext, u->attrs.ext_communities.p, 16);
	p.pmsi = u->attrs.pmsi;
	static const uint8_t order[] = { VR_ENCAP_MPLSOUDP, VR_ENCAP_MPLSOGRE, VR_ENCAP_VXLAN };
	uint8_t encap;
	uint32_t label;
	assert_int_equal(agent_l2_tunnel(&p, order, 3, &encap, &label), 0);
	assert_int_equal(encap, VR_ENCAP_MPLSOGRE);   /* the only one the route allows */
	assert_int_equal(label, 77);
	struct agent_ip dip;
	assert_int_equal(agent_l2_endpoint(&p, &dip), 0);
	assert_memory_equal(dip.a, fab.a, 4);
	/* Without a PMSI tunnel there is nothing to replicate to. */
	memset(&p.pmsi, 0, sizeof(p.pmsi));
	assert_int_equal(agent_l2_tunnel(&p, order, 3, &encap, &label), -ENOTSUP);
	free(u);
}

/* Encapsulation choice for learned routes. */
static void test_tunnel_choice(void **state)
{
	(void)state;
	struct agent_bgp_path p;
	memset(&p, 0, sizeof(p));
	agent_l2_type2(ROUTER_ID, 1, MAC, NULL, &p.prefix);
	p.label = agent_l2_label_field(VR_ENCAP_MPLSOUDP, 20);
	p.nh_len = 4;
	static const uint8_t order[] = { VR_ENCAP_MPLSOGRE, VR_ENCAP_MPLSOUDP, VR_ENCAP_VXLAN };
	uint8_t encap;
	uint32_t label;
	/* No encapsulation community: MPLS (RFC 7432), the network's first. */
	assert_int_equal(agent_l2_tunnel(&p, order, 3, &encap, &label), 0);
	assert_int_equal(encap, VR_ENCAP_MPLSOGRE);
	assert_int_equal(label, 20);
	/* MPLSoUDP and MPLSoGRE offered: the network's order decides. */
	bgp_ext_rt_as2(p.ext[0], 64512, 1);
	bgp_ext_encap(p.ext[1], BGP_TUNNEL_MPLS_UDP);
	bgp_ext_encap(p.ext[2], BGP_TUNNEL_MPLS_GRE);
	p.n_ext = 3;
	assert_int_equal(agent_l2_tunnel(&p, order, 3, &encap, &label), 0);
	assert_int_equal(encap, VR_ENCAP_MPLSOGRE);
	assert_int_equal(agent_l2_tunnel(&p, order + 1, 2, &encap, &label), 0);
	assert_int_equal(encap, VR_ENCAP_MPLSOUDP);
	/* VXLAN only, and a network that does not list it: VXLAN all the same
	 * (the label is a VNI; MPLS could not use it). */
	p.n_ext = 2;
	bgp_ext_encap(p.ext[1], BGP_TUNNEL_VXLAN);
	p.label = 4242;
	assert_int_equal(agent_l2_tunnel(&p, order, 2, &encap, &label), 0);
	assert_int_equal(encap, VR_ENCAP_VXLAN);
	assert_int_equal(label, 4242);
	/* Reserved MPLS labels and VNI 0 are refused. */
	p.n_ext = 1;
	p.label = agent_l2_label_field(VR_ENCAP_MPLSOUDP, 3);
	assert_int_equal(agent_l2_tunnel(&p, order, 3, &encap, &label), -EINVAL);
	p.n_ext = 2;
	p.label = 0;
	assert_int_equal(agent_l2_tunnel(&p, order, 3, &encap, &label), -EINVAL);
	/* An IPv6 tunnel end. */
	p.nh_len = 16;
	memset(p.nh, 0, 16);
	p.nh[0] = 0xfd;
	p.nh[15] = 2;
	struct agent_ip dip;
	assert_int_equal(agent_l2_endpoint(&p, &dip), 0);
	assert_int_equal(dip.family, 6);
	assert_int_equal(dip.a[15], 2);
	p.nh_len = 0;
	assert_int_equal(agent_l2_endpoint(&p, &dip), -EINVAL);
}

static struct agent *agent_new(const char *dir)
{
	struct agent *a = calloc(1, sizeof(*a));
	assert_non_null(a);
	tern_log_init(&a->log, "agent_l2_test", "t", TERN_LOG_ERR);
	snprintf(a->conf.state_dir, sizeof(a->conf.state_dir), "%s", dir);
	snprintf(a->conf.node, sizeof(a->conf.node), "n1");
	a->ports = calloc(AGENT_MAX_PORTS, sizeof(*a->ports));
	a->vrfs = calloc(AGENT_MAX_VRFS + 1, sizeof(*a->vrfs));
	a->created = calloc(AGENT_MAX_CREATED, sizeof(*a->created));
	a->nh_used = calloc(AGENT_NH_IDS, 1);
	a->vif_used = calloc(VR_MAX_VIFS, 1);
	a->label_used = calloc(AGENT_LABELS / 8, 1);
	assert_true(a->ports && a->vrfs && a->created && a->nh_used && a->vif_used && a->label_used);
	return a;
}

static void agent_del(struct agent *a)
{
	agent_l2_free(a);
	agent_fip_free(a);
	free(a->ports); free(a->vrfs); free(a->created); free(a->nh_used); free(a->vif_used);
	free(a->label_used);
	free(a);
}

static bool label_used(const struct agent *a, uint32_t l)
{
	return a->label_used[l >> 3] & (1u << (l & 7));
}

static json_t *load_file(const char *dir)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	json_t *j = json_load_file(path, 0, NULL);
	assert_non_null(j);
	return j;
}

/* A port's L2 nexthop and label, an L2 VRF's flood ids and a floating IP
 * survive a save and a load with the same ids, reserved before the vrouter
 * is asked anything; entries that cannot be trusted are dropped. */
static void test_state_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/agent_l2_test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct agent *a = agent_new(dir);
	a->vrfs[1] = (struct agent_vrf){ .used = true, .id = 1, .network = "demo:l2m" };
	a->vrfs[2] = (struct agent_vrf){ .used = true, .id = 2, .network = "demo:pub" };
	struct agent_port *p = &a->ports[0];
	*p = (struct agent_port){ .used = true, .container_id = "c1", .vrf = 1, .vif = 3, .nh = 4,
				  .label = 16 };
	snprintf(p->i.ifname, sizeof(p->i.ifname), "eth0");
	snprintf(p->i.network, sizeof(p->i.network), "demo:l2m");
	json_t *pe = json_pack("{s:i, s:i}", "l2_nh", 40, "l2_label", 100);
	agent_l2_state_load_port(a, p, pe);
	json_decref(pe);
	json_t *root = json_pack("{s:[{s:i, s:i, s:i, s:i}, {s:i, s:i, s:i, s:i}]}", "l2_vrfs",
				 "vrf", 1, "mode", AGENT_L2_ONLY, "flood_nh", 41, "flood_label", 101,
				 "vrf", 9, "mode", AGENT_L2_ONLY, "flood_nh", 42, "flood_label", 102);
	agent_l2_state_load(a, root);  /* vrf 9 is not one of the node's: dropped */
	json_decref(root);
	json_t *fips = json_pack("[{s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i},"
				 " {s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:i}]",
				 "uuid", "f1", "network", "demo:pub", "vrf", 2, "address", "203.0.113.3",
				 "fixed_ip", "10.8.0.2", "vif", 3, "nh", 50, "label", 110,
				 "uuid", "f2", "network", "demo:pub", "vrf", 2, "address", "203.0.113.4",
				 "fixed_ip", "10.8.0.9", "vif", 77, "nh", 51, "label", 111);
	agent_fip_state_load(a, fips);  /* f2: no port with vif 77: dropped */
	json_decref(fips);
	assert_true(agent_fip_uses_vrf(a, 2));
	char err[256];
	assert_int_equal(agent_state_save(a, err, sizeof(err)), 0);
	json_t *saved = load_file(dir);
	agent_del(a);

	struct agent *b = agent_new(dir);
	assert_int_equal(agent_state_load(b, err, sizeof(err)), 0);
	assert_true(b->ports[0].used);
	assert_int_equal(b->nh_used[4], 1);
	assert_int_equal(b->nh_used[40], 1);    /* L2 nexthop */
	assert_int_equal(b->nh_used[41], 1);    /* flood nexthop */
	assert_int_equal(b->nh_used[42], 0);    /* of the dropped VRF */
	assert_int_equal(b->nh_used[50], 1);    /* floating IP */
	assert_int_equal(b->nh_used[51], 0);
	assert_true(label_used(b, 16) && label_used(b, 100) && label_used(b, 101) &&
		    label_used(b, 110));
	assert_false(label_used(b, 102) || label_used(b, 111));
	assert_true(agent_fip_uses_vrf(b, 2));
	/* Saved again: the same file. */
	assert_int_equal(agent_state_save(b, err, sizeof(err)), 0);
	json_t *again = load_file(dir);
	assert_true(json_equal(saved, again));
	json_t *f = json_array_get(json_object_get(again, "floating_ips"), 0);
	assert_int_equal(json_array_size(json_object_get(again, "floating_ips")), 1);
	assert_int_equal(json_integer_value(json_object_get(f, "label")), 110);
	json_t *port = json_array_get(json_object_get(again, "ports"), 0);
	assert_int_equal(json_integer_value(json_object_get(port, "l2_label")), 100);
	assert_int_equal(json_array_size(json_object_get(again, "l2_vrfs")), 1);
	json_decref(saved);
	json_decref(again);
	agent_del(b);
	char path[300];
	snprintf(path, sizeof(path), "%s/state.json", dir);
	unlink(path);
	rmdir(dir);
}

/* The VRF object and the host routes' flags by forwarding mode: l2_l3
 * bridges and routes once its flood nexthop exists, its host routes answer
 * ARP/ND (proxy-arp); l2 bridges only and pods resolve each other; l3
 * routes. Before tern-api is synced (a restart) the state file's mode
 * decides, so a restarted agent writes what the vrouter holds. */
static void test_vrf_flags_by_mode(void **state)
{
	(void)state;
	char dir[] = "/tmp/agent_l2_test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct agent *a = agent_new(dir);
	json_t *vn = json_pack("{s:s, s:s, s:s}", "uuid", "vn1", "fq_name", "demo:net",
			       "forwarding_mode", "l2_l3");
	assert_int_equal(agent_model_init(a), 0);
	json_object_set_new(a->model, "virtual-network", json_pack("{s:O}", "vn1", vn));
	a->vrfs[1] = (struct agent_vrf){ .used = true, .id = 1, .network = "demo:net" };
	struct agent_vrf *v = &a->vrfs[1];
	struct vr_object o;
	memset(&o, 0, sizeof(o));
	agent_l2_vrf_fill(a, v, &o);
	assert_int_equal(o.u.vrf.flags, VR_VRF_F_L3);  /* no flood list yet: routes only */
	assert_false(((o.have >> VR_AT_NH) & 1));
	assert_int_equal(agent_l2_host_route_flags(a, v), VR_RT_F_PROXY_ARP);

	/* the state file's L2 VRF, its flood nexthop found in the vrouter */
	json_t *root = json_pack("{s:[{s:i, s:i, s:i, s:i}]}", "l2_vrfs", "vrf", 1, "mode",
				 AGENT_L2_L3, "flood_nh", 41, "flood_label", 101);
	agent_l2_state_load(a, root);
	json_decref(root);
	struct vr_object fl;
	memset(&fl, 0, sizeof(fl));
	fl.obj = VR_OBJ_NH;
	fl.u.nh = (struct vr_obj_nh){ .id = 41, .type = VR_NH_FLOOD, .flags = VR_NH_F_L2, .vrf = 1 };
	agent_l2_adopt_nh(a, &fl);
	memset(&o, 0, sizeof(o));
	agent_l2_vrf_fill(a, v, &o);
	assert_int_equal(o.u.vrf.flags, VR_VRF_F_L2 | VR_VRF_F_L3);
	assert_true(((o.have >> VR_AT_NH) & 1));
	assert_int_equal(o.u.vrf.nh, 41);

	json_object_set_new(vn, "forwarding_mode", json_string("l2"));
	memset(&o, 0, sizeof(o));
	agent_l2_vrf_fill(a, v, &o);
	assert_int_equal(o.u.vrf.flags, VR_VRF_F_L2);
	assert_int_equal(agent_l2_host_route_flags(a, v), 0);

	json_object_set_new(vn, "forwarding_mode", json_string("l3"));
	memset(&o, 0, sizeof(o));
	agent_l2_vrf_fill(a, v, &o);
	assert_int_equal(o.u.vrf.flags, VR_VRF_F_L3);
	assert_false(((o.have >> VR_AT_NH) & 1));
	assert_int_equal(agent_l2_host_route_flags(a, v), VR_RT_F_PROXY_ARP);

	/* not synced yet: the state file's l2_l3 */
	json_object_del(json_object_get(a->model, "virtual-network"), "vn1");
	memset(&o, 0, sizeof(o));
	agent_l2_vrf_fill(a, v, &o);
	assert_int_equal(o.u.vrf.flags, VR_VRF_F_L2 | VR_VRF_F_L3);
	assert_int_equal(agent_l2_host_route_flags(a, v), VR_RT_F_PROXY_ARP);
	json_decref(vn);
	json_decref(a->model);
	agent_del(a);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_label_field),
		cmocka_unit_test(test_type2_round_trip),
		cmocka_unit_test(test_type3_pmsi),
		cmocka_unit_test(test_tunnel_choice),
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_vrf_flags_by_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
