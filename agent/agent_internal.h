/*
 * DOC: agent_internal.h — the state of one tern-agent process (internal to
 * agent/): configuration, the mirror of tern-api, the node's ports and the
 * ids they hold in the vrouter, the paths learned from the controllers.
 * One struct, passed explicitly; no globals.
 *
 * Modules: agent_model.c (tern-api objects), agent_plan.c (what a pod gets:
 * interfaces, addresses, routes), agent_vr.c (vrouter programming: local
 * ports and remote routes), agent_cni.c (the plugin's socket),
 * agent_state.c (the state file), agent_arp.c (underlay MACs), agent_l2.c
 * (EVPN: bridge entries and flood lists of L2 networks), agent_sg.c
 * (security groups: a port's own policies in front of its network's),
 * agent_main.c (options, loop).
 */
#ifndef TERN_AGENT_INTERNAL_H
#define TERN_AGENT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent_api.h"
#include "agent_bgp.h"
#include "agent_parse.h"
#include "tern_log.h"
#include "vr_client.h"

#define AGENT_DEFAULT_CNI_SOCK "/run/tern/agent.sock"
#define AGENT_DEFAULT_STATE_DIR "/var/lib/tern/agent"
#define AGENT_DEFAULT_POD_DIR "/run/tern/pods"
#define AGENT_DEFAULT_MTU 1450
#define AGENT_MAX_ADDRS 4
#define AGENT_MAX_ECMP 16
#define AGENT_LABEL_MIN 16        /* 0..15 are reserved (RFC 3032) */
#define AGENT_RECEIVE_NH 1        /* the node itself: one receive nexthop */

struct agent_conf {
	char node[64];
	char api_url[256];
	char token[300];
	char ca_file[256];
	char vr_socket[108];
	char cni_socket[108];
	char state_dir[200];
	char pod_dir[200];
	uint16_t pod_mtu;
	uint8_t fabric_plen;           /* the fabric subnet: tunnel ends inside it are ARPed directly */
	char fabric_gw[64];            /* "" none: every tunnel end is on the fabric subnet */
	char fabric_if[32];            /* "" : the vrouter's fabric vif is someone else's job */
	struct agent_ip fabric_addr;   /* with fabric_if */
	struct agent_bgp_conf bgp;
	enum tern_log_level level;
};

/* One interface of a pod, as planned from tern-api. */
struct agent_if {
	char vmi[40];                  /* uuid */
	char ifname[16];
	char kind[12];                 /* kernel, memif, vhost-user */
	char host_ifname[16];          /* kernel: the veth's node end */
	char network[200];             /* the virtual network's fq_name */
	uint8_t mac[6];
	uint16_t mtu;
	int n_addrs;
	struct agent_ip addrs[AGENT_MAX_ADDRS];
	struct agent_ip gw4, gw6;      /* family 0 when none */
	bool default_route;            /* the pod's first interface */
	json_t *dns;                   /* {"nameservers": [...], ...} (owned) */
	char socket_path[256];         /* memif / vhost-user */
};

/* An interface attached to the vrouter: the ids it holds (persisted). */
struct agent_port {
	bool used;
	char container_id[128];
	char cni_network[64];          /* the netconf name it was attached under ("" unknown) */
	struct agent_if i;             /* as planned when attached (dns not kept) */
	uint16_t vrf;
	uint32_t vif, nh, label;
	/* agent_sg.c (not in the state file): the port's security-group policies,
	 * ingress (the vif's policy_in) and egress; 0 none */
	uint32_t sg_policy[2];
	uint32_t sg_sum[2];            /* what was written (0: to write) */
	uint32_t sg_old[2];            /* to delete once the vif no longer names them */
	uint32_t vr_policy[2];         /* take-over: the vif's policy_in/out as the vrouter held
					* them at start (a network's or a group's), named again
					* until tern-api is synced: no window without policy */
};

/* A local VRF for one virtual network (persisted id). */
struct agent_vrf {
	bool used;
	uint16_t id;
	char network[200];
	uint32_t vni;                  /* registered in the vrouter's VNI table, 0 none */
	bool programmed;               /* VRF, VNI and gateway routes are in the vrouter */
	uint32_t policy;               /* the network's policies as vrouter policy (id = vrf id), 0 none */
	uint64_t policy_sig;           /* of the rules last written: unchanged ones are not rewritten
					* (a replace makes the vrouter decide every flow again) */
	int n_import;
	uint8_t import[32][8];         /* route targets imported (ext community form) */
	uint32_t port_rt_flags;        /* VR_RT_F_* its ports' host routes were written with
					* (a mode change to or from l2 writes them again) */
};

/* A path learned from the controllers. */
struct agent_rpath {
	bool used;
	struct agent_bgp_path p;
};

/* A remote route in one VRF and the nexthops it holds. */
struct agent_rroute {
	bool used;
	uint16_t vrf;
	struct agent_ip dst;           /* host or prefix */
	uint32_t nh;                   /* installed: a tunnel nh or the ecmp nh */
	uint32_t ecmp;                 /* 0 none */
	int n_tnh;
	uint32_t tnh[AGENT_MAX_ECMP];
};

/* A tunnel nexthop shared by the routes that use it. */
struct agent_tnh {
	bool used;
	uint32_t id, refs;
	uint16_t vrf;
	uint8_t encap;                 /* enum vr_encap */
	uint32_t label;
	struct agent_ip dip;
};

/* Interfaces the agent created in tern-api for a pod (NPWG), removed on DEL. */
struct agent_created {
	bool used;
	char container_id[128];
	int n;
	char kind[2 * AGENT_MAX_IFS][32];
	char uuid[2 * AGENT_MAX_IFS][40];
};

#define AGENT_MAX_PORTS 1024
#define AGENT_MAX_VRFS 4095
#define AGENT_MAX_SVCS 4096           /* services programmed on one node */
#define AGENT_MAX_FIPS 1024           /* floating IPs of one node's ports */
#define AGENT_MAX_RPATHS 16384
#define AGENT_MAX_RROUTES 16384
#define AGENT_MAX_TNHS 16384
#define AGENT_MAX_CREATED 1024
/* How long a state save may wait after an add (for its attach, which saves) */
#define AGENT_STATE_DEFER_MS 200
#define AGENT_NH_IDS 65536
#define AGENT_LABELS (1u << 20)
#define AGENT_VR_REPLY_CAP (160 * 1024)
#define AGENT_MAX_STALE 65536

struct agent_arp;
struct agent_l2;
struct agent_sg;

struct agent {
	struct agent_conf conf;
	struct tern_log log;
	bool graceful;                 /* stopping for a restart */

	/* tern-api mirror: kind -> {uuid -> object} */
	json_t *model;
	bool api_synced;
	struct agent_api *api;

	struct vr_client *vr;
	uint8_t *vr_reply;             /* AGENT_VR_REPLY_CAP: one reply at a time */
	uint8_t fabric_mac[6];
	struct agent_ip fabric_ip;
	char fabric_ifname[32];
	struct agent_arp *arp;
	struct agent_l2 *l2;           /* agent_l2.c, made on first use */
	struct agent_svc *svcs;        /* agent_svc.c: AGENT_MAX_SVCS, made on first use */
	struct agent_fip *fips;        /* agent_fip.c: AGENT_MAX_FIPS, made on first use */
	struct agent_sg *sg;           /* agent_sg.c: policy ids, made on first use */
	bool sg_dirty;                 /* security groups to re-derive (main loop) */

	struct agent_bgp *bgp;
	bool bgp_initial_sent;
	int64_t all_up_ms;             /* every controller Established since (ms after start) */

	struct agent_port *ports;      /* AGENT_MAX_PORTS */
	struct agent_vrf *vrfs;        /* indexed by vrf id (1..AGENT_MAX_VRFS) */
	struct agent_rpath *rpaths;
	struct agent_rroute *rroutes;
	struct agent_tnh *tnhs;
	/* indexes of the three tables above (agent_vr.c; jansson objects keyed by
	 * text, made on first use): rroutes by vrf+destination, rpaths by
	 * destination (an array of indices) and by prefix+next hop, tnhs by
	 * vrf+encap+label+endpoint and by nexthop id */
	json_t *ix_rroute, *ix_rpath_dst, *ix_rpath, *ix_tnh, *ix_tnh_id;
	int hint_rroute, hint_rpath, hint_tnh;
	struct agent_created *created;
	uint8_t *nh_used;              /* AGENT_NH_IDS bytes: 1 used */
	uint8_t *vif_used;             /* VR_MAX_VIFS */
	uint8_t *label_used;           /* AGENT_LABELS bits */
	uint32_t *stale_labels;        /* labels found in the vrouter at start, not ours */
	int n_stale_labels;
	int cni_fd;
	bool state_dirty;
	bool state_defer;              /* saved by the loop, AGENT_STATE_DEFER_MS later at most */
	bool resolve_pending;          /* a tunnel end's MAC is unknown: retry */
	bool swept;                    /* the take-over after start is over (agent_vr_sweep) */
	uint64_t cni_requests;
};

/* ---- agent_model.c ---- */
int agent_model_init(struct agent *a);
void agent_model_apply(struct agent *a, const struct agent_api_event *ev);
/* Upsert an object the agent itself created (before the watch brings it). */
void agent_model_put(struct agent *a, const char *kind, json_t *obj);
json_t *agent_model_get(struct agent *a, const char *kind, const char *uuid);
json_t *agent_model_by_fq(struct agent *a, const char *kind, const char *fq_name);
/* A reference as written in tern-api ("p:n", "n" with project, or a uuid). */
json_t *agent_model_ref(struct agent *a, const char *kind, const char *ref, const char *project);
/* Called after an object changed: re-derive what depends on it. */
void agent_on_object(struct agent *a, const char *kind, json_t *obj, bool deleted);

/* ---- agent_plan.c ---- */
struct agent_req {                 /* one CNI request's attachment fields */
	const char *op;
	const char *container_id, *netns, *ifname, *cni_network;
	const char *pod_namespace, *pod_name, *project, *network;
	json_t *networks;              /* annotation: string or array, may be NULL */
};
/* The interfaces of a pod, creating NPWG ones in tern-api when needed.
 * Returns the count, or a negative CNI error code (-7, -11, -101) with err. */
int agent_plan(struct agent *a, const struct agent_req *r, bool create,
	       struct agent_if *out, int max, char *err, size_t errlen);
void agent_if_free(struct agent_if *ifs, int n);
json_t *agent_if_json(const struct agent_if *i);
/* Delete what agent_plan created for a container in tern-api. */
void agent_created_forget(struct agent *a, const char *container_id, bool delete_in_api);

/* ---- agent_vr.c ---- */
int agent_vr_connect(struct agent *a, char *err, size_t errlen);
int agent_vr_attach(struct agent *a, const struct agent_req *r, struct agent_if *ifs, int n,
		    char *err, size_t errlen);
/* Remove a container's ports; fills host ifnames into out (may be NULL). */
int agent_vr_detach(struct agent *a, const char *container_id, json_t *out);
struct agent_port *agent_port_find(struct agent *a, const char *container_id, const char *vmi);
void agent_vr_path(struct agent *a, bool add, const struct agent_bgp_path *p);
/* Re-derive every remote route (after underlay MACs could not be resolved). */
void agent_vr_recompute_all(struct agent *a);
/* Re-announce and re-route after the VN of a VRF changed (route targets). */
void agent_vr_vrf_changed(struct agent *a, struct agent_vrf *v);
void agent_vr_announce_all(struct agent *a);
/* After a restart: reserve every id the vrouter already uses, then, once the
 * controllers' routes are in (agent_vr_converged), remove what nobody claimed. */
void agent_vr_adopt(struct agent *a);
bool agent_vr_converged(struct agent *a, int64_t since_start_ms);
void agent_vr_sweep(struct agent *a);
/* The vrouter restarted: forget the remote routes believed installed. */
void agent_vr_forget_remote(struct agent *a);
/* A cheap request; closes the connection when the vrouter is gone. */
void agent_vr_alive(struct agent *a);
/* Re-program everything the state file holds (after start). */
int agent_vr_restore(struct agent *a, char *err, size_t errlen);

/* ---- agent_l2.c: EVPN for networks in forwarding mode l2 / l2_l3 ---- */
enum agent_l2_mode { AGENT_L2_OFF, AGENT_L2_ONLY, AGENT_L2_L3 };
/* The forwarding_mode of a virtual-network (OFF: "l3", or none given). */
int agent_l2_mode(json_t *vn);
/* Route keys: type 2 for a MAC (ip NULL) or a MAC + IP, type 3 for the node;
 * RD router-id:vrf, ESI 0, Ethernet tag 0. */
void agent_l2_type2(uint32_t router_id, uint16_t vrf, const uint8_t mac[6],
		    const struct agent_ip *ip, struct bgp_prefix *out);
void agent_l2_type3(uint32_t router_id, uint16_t vrf, const struct agent_ip *fabric,
		    struct bgp_prefix *out);
/* The 24-bit label field of a type 2 route: the VNI (VR_ENCAP_VXLAN), else
 * the MPLS label << 4 with the bottom-of-stack bit. */
uint32_t agent_l2_label_field(uint8_t encap, uint32_t v);
/* The tunnel of a learned type 2 or 3 path: the first encapsulation of
 * order[0..n) its encapsulation communities allow (none: MPLS), and the VNI
 * or MPLS label (type 3: from its PMSI tunnel). -ENOTSUP: a type 3 without
 * ingress replication; -EINVAL: no usable label. */
int agent_l2_tunnel(const struct agent_bgp_path *p, const uint8_t *order, int n,
		    uint8_t *encap, uint32_t *label);
/* The remote tunnel end: a type 3's PMSI identifier, else the next hop. */
int agent_l2_endpoint(const struct agent_bgp_path *p, struct agent_ip *dip);
/* Hooks from agent_vr.c: the VRF object's flags and flood nexthop; a port
 * programmed / announced again (idempotent) or about to go; a learned EVPN
 * path; every L2 VRF again; the vrouter restarted. */
void agent_l2_vrf_fill(struct agent *a, const struct agent_vrf *v, struct vr_object *o);
/* The VR_RT_F_* of a host route the agent writes in v: proxy-arp (the
 * vrouter answers ARP/ND for it with its own MAC, so pods route to it) in
 * every mode but l2, where pods resolve each other. */
uint32_t agent_l2_host_route_flags(struct agent *a, const struct agent_vrf *v);
/* A port's L2 objects (bridge entry of its MAC, MPLS: its L2 nexthop and
 * label; the VRF's flood nexthop, flood label and VRF object when they
 * change) queued on the port's pipeline, then the outcome: on failure the
 * objects are marked unwritten, the ids stay with the port (its unprogram
 * removes them). */
struct agent_vr_pipe;
void agent_l2_port_send(struct agent *a, const struct agent_port *p, struct agent_vr_pipe *vp);
void agent_l2_port_sent(struct agent *a, const struct agent_port *p, bool ok);
/* Writes what agent_l2_port_send would (its own pipeline), then bridge
 * entries / flood list when needed, and announces. */
void agent_l2_port_up(struct agent *a, const struct agent_port *p);
void agent_l2_port_down(struct agent *a, const struct agent_port *p);
void agent_l2_path(struct agent *a, bool add, const struct agent_bgp_path *p);
void agent_l2_recompute_all(struct agent *a);
/* The vrouter may have restarted empty: the L2 ids stay, everything is
 * written again; what was learned from remote nodes is adopted anew. */
void agent_l2_forget(struct agent *a);
void agent_l2_free(struct agent *a);
/* Taking over after a restart (agent_vr_adopt): L2 tunnel nexthops and the
 * flood nexthops' members found in the vrouter, then (adopt_done) the
 * bridge entries to them. Adopted entries stay until agent_l2_sweep unless a
 * learned path confirms them (same ids: nothing is rewritten). */
void agent_l2_adopt_nh(struct agent *a, const struct vr_object *o);
void agent_l2_adopt_done(struct agent *a);
/* The controllers' routes are in: adopted entries nobody confirmed go. */
int agent_l2_sweep(struct agent *a);
/* The state file's L2 part: per port its L2 nexthop and label (in the
 * port's entry), per VRF its mode, flood nexthop and flood label. */
void agent_l2_state_port(struct agent *a, const struct agent_port *p, json_t *entry);
void agent_l2_state_save(struct agent *a, json_t *root);
/* After the ports were loaded (p: the loaded port, entry: its JSON). */
void agent_l2_state_load_port(struct agent *a, const struct agent_port *p, json_t *entry);
void agent_l2_state_load(struct agent *a, json_t *root);

/* ---- agent_vr.c: shared with the other programming modules ---- */
void agent_vr_index_free(struct agent *a);
/* One vrouter request; 0 or the vrouter's negative errno with its message in err. */
int agent_vr_do(struct agent *a, uint16_t op, struct vr_object *o, char *err, size_t errlen);
/* Requests sent back to back and their replies read together (vr_client.h,
 * pipelining): one write and one wake-up of the vrouter's control thread for
 * all of them instead of a round trip each. A port's vif, nexthop, routes and
 * label, and its L2 objects, go in one. */
#define AGENT_VR_PIPE_MAX (9 + AGENT_MAX_ADDRS)
struct agent_vr_pipe {
	int n, rc;                       /* rc: the first failure */
	uint32_t seq[AGENT_VR_PIPE_MAX];
	char what[AGENT_VR_PIPE_MAX][64];  /* "vif 5", "route 10.1.0.3/32", ... */
	char err[384];                   /* the first failure: what and why */
};
void agent_vr_pipe_send(struct agent *a, struct agent_vr_pipe *vp, uint16_t op,
			struct vr_object *o, const char *what);
/* Read the replies of every request sent; 0, or the first failure's negative
 * errno with "what: why" in err. A failure fails the requests after it that
 * depend on it too; the others are applied. */
int agent_vr_pipe_finish(struct agent *a, struct agent_vr_pipe *vp, char *err, size_t errlen);
/* Every object of a type (those matching filter when not NULL), page by page. */
typedef void (*agent_dump_fn)(struct agent *a, const struct vr_object *o, void *arg);
int agent_vr_dump(struct agent *a, uint16_t type, const struct vr_object *filter,
		  agent_dump_fn fn, void *arg);
/* The node's VRF of a network (fq_name), NULL when it has none. */
struct agent_vrf *agent_vrf_find(struct agent *a, const char *network);

struct agent_vrf *agent_vrf_ensure(struct agent *a, const char *network, char *err, size_t errlen);
/* Release a VRF that no port and no floating IP holds any more. */
void agent_vrf_release_unused(struct agent *a, uint16_t id);
uint32_t agent_nh_alloc(struct agent *a);          /* 0: none left */
void agent_nh_free(struct agent *a, uint32_t id);  /* deletes it in the vrouter */
uint32_t agent_label_alloc(struct agent *a);       /* 0: none left */
void agent_label_free(struct agent *a, uint32_t label);
/* A VPN host route for one address of a network's VRF, and its withdrawal. */
void agent_vr_announce_addr(struct agent *a, const char *network, uint16_t vrf, uint32_t label,
			    const struct agent_ip *addr);
void agent_vr_withdraw_addr(struct agent *a, uint16_t vrf, const struct agent_ip *addr);
/* The MAC of the next underlay hop towards a tunnel end (ARP, 50 ms at most). */
int agent_underlay_mac(struct agent *a, const struct agent_ip *dip, uint8_t mac[6]);
/* A network's encapsulations in its order (tern-api's default: all three); the count. */
int agent_vn_encaps(json_t *vn, uint8_t out[3]);

/* ---- agent_fip.c: floating IPs ---- */
struct agent_fip;
/* Program the floating IPs of this node's ports; remove the ones gone. */
void agent_fip_sync(struct agent *a);
bool agent_fip_uses_vrf(const struct agent *a, uint16_t vrf);
/* Before a port's vif goes: its floating IPs go first. */
void agent_fip_port_gone(struct agent *a, const struct agent_port *p);
/* The vrouter may have restarted empty: every floating IP is written again
 * on the next sync, with the same ids. */
void agent_fip_forget(struct agent *a);
void agent_fip_announce_all(struct agent *a);
void agent_fip_free(struct agent *a);
/* The state file's floating IPs (uuid, addresses, vif, nexthop, label): a
 * restarted agent writes them again with the same label, so the routes
 * other nodes hold stay valid. Load after the ports. */
json_t *agent_fip_state_save(struct agent *a);
void agent_fip_state_load(struct agent *a, json_t *list);

/* ---- agent_sg.c: security groups ---- */
#define AGENT_SG_POLICY_MIN 4097      /* above the network policies (id = VRF id) */
/* Write a port's security-group policies (chained to net_policy, the
 * network's, 0 none) and give the policies its vif must name (net_policy
 * for a port without groups). Policies it no longer needs are kept until
 * agent_sg_port_done (call it after writing the vif). */
int agent_sg_port_program(struct agent *a, struct agent_port *p, uint32_t net_policy,
			  uint32_t vif_policy[2], char *err, size_t errlen);
void agent_sg_port_done(struct agent *a, struct agent_port *p);
/* After the port's vif was deleted: its policies go. */
void agent_sg_port_gone(struct agent *a, struct agent_port *p);
/* The vrouter may have restarted empty: every port's policies are written again. */
void agent_sg_forget(struct agent *a);
/* A group, VMI or instance-ip changed: the main loop calls agent_sg_sync. */
void agent_sg_changed(struct agent *a);
void agent_sg_sync(struct agent *a);
/* After a restart: the policies the vifs name, the policies found; the
 * sweep deletes the ones no port holds (returns how many). */
void agent_sg_adopt_vif(struct agent *a, const struct vr_object *o);
void agent_sg_adopt_policy(struct agent *a, const struct vr_object *o);
int agent_sg_sweep(struct agent *a);
void agent_sg_free(struct agent *a);
/* The rules of one direction of a port (AGENT_SG_INGRESS: the vif's
 * policy_in, AGENT_SG_EGRESS) from the groups of its VMI, at most max;
 * *truncated when more would be needed. Returns the count. */
enum { AGENT_SG_INGRESS = 0, AGENT_SG_EGRESS = 1 };
int agent_sg_rules(struct agent *a, const struct agent_port *p, json_t *vmi, int dir,
		   struct vr_rule *out, int max, bool *truncated);
/* agent_vr.c: write a port's vif (and the rest of it) again, in place. */
int agent_vr_port_reprogram(struct agent *a, struct agent_port *p, char *err, size_t errlen);

/* ---- agent_svc.c: services ---- */
struct agent_svc;
/* Program every service of the networks this node has; remove the ones gone. */
void agent_svc_sync(struct agent *a);
void agent_svc_vrf_gone(struct agent *a, uint16_t vrf);
/* The vrouter restarted: write every service again on the next sync. */
void agent_svc_forget(struct agent *a);
/* A service found in the vrouter at start (its id is reserved until claimed). */
void agent_svc_adopt_one(struct agent *a, const struct vr_object *o);
/* Remove the services found at start that nobody claimed; returns how many. */
int agent_svc_sweep(struct agent *a);
void agent_svc_free(struct agent *a);

/* ---- agent_state.c ---- */
int agent_state_load(struct agent *a, char *err, size_t errlen);
int agent_state_save(struct agent *a, char *err, size_t errlen);

/* ---- agent_cni.c ---- */
int agent_cni_listen(struct agent *a, char *err, size_t errlen);
void agent_cni_accept(struct agent *a);

/* ---- agent_arp.c ---- */
struct agent_arp *agent_arp_new(const char *ifname, const uint8_t mac[6],
				const struct agent_ip *ip, char *err, size_t errlen);
void agent_arp_free(struct agent_arp *r);
/* MAC of addr on the fabric (cached; asks with ARP, waits up to timeout_ms;
 * an address that did not answer within the last second fails at once). */
int agent_arp_resolve(struct agent_arp *r, const uint8_t ip4[4], uint8_t mac[6],
		      unsigned timeout_ms);
/* The packet socket, for the loop's poll; agent_arp_poll() takes what came
 * and says whether a new answer arrived (then pending routes are retried). */
int agent_arp_fd(const struct agent_arp *r);
bool agent_arp_poll(struct agent_arp *r);

#endif /* TERN_AGENT_INTERNAL_H */
