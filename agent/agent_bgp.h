/*
 * DOC: agent_bgp.h — the agent's BGP speaker: iBGP sessions to one or two
 * tern-control nodes (route reflectors), over which the agent advertises its
 * local interfaces (VPNv4 / VPNv6 host routes; EVPN types 2 and 3, the
 * latter with a PMSI tunnel, for L2 networks: agent_l2.c) and learns every
 * other node's.
 *
 * Built on the shared codec and FSM (lib/bgp_msg.h, lib/bgp_fsm.h); driven by
 * the agent's poll loop (no thread): agent_bgp_pollfds() says what to wait
 * for, agent_bgp_run() does what is due. Never blocks.
 *
 * Paths learned from the controllers reach the agent through one callback,
 * merged over the controllers: a path (prefix key + next hop) is "added" when
 * the first controller announces it or changes its attributes, "deleted" when
 * no controller has it any more. Headless operation: when a session goes
 * down the paths it brought stay (stale, still forwarding); they are deleted
 * only when that controller is back and has sent End-of-RIB without them.
 * Paths whose next hop is the agent's own address are ignored.
 *
 * Graceful restart (RFC 4724): the agent advertises the capability (restart
 * time conf.gr_time, forwarding state kept for every family); after a
 * restart (conf.restarting) the R bit tells the controllers to keep the
 * agent's routes while it comes back.
 */
#ifndef TERN_AGENT_BGP_H
#define TERN_AGENT_BGP_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "bgp_msg.h"
#include "tern_log.h"

#define AGENT_BGP_MAX_PEERS 2
#define AGENT_BGP_MAX_EXT 16

struct agent_bgp_peer_conf {
	char addr[64];                 /* IPv4 or IPv6 address of the controller */
	uint16_t port;                 /* default 179 */
	char password[81];             /* TCP MD5 key, "" none */
};

struct agent_bgp_conf {
	uint32_t asn;                  /* the agent's AS = the controllers' (iBGP) */
	uint32_t router_id;            /* host order; also the VPN next hop when nh is unset */
	uint8_t nh_len;                /* 4 or 16: the agent's tunnel address (fabric IP) */
	uint8_t nh[16];
	char local_addr[64];           /* bind before connect; "" any */
	uint16_t hold;                 /* default 90 */
	uint16_t connretry;            /* seconds between connection attempts, default 5 */
	uint16_t gr_time;              /* graceful restart time, seconds, default 120 */
	bool restarting;               /* set the R bit (the agent restarted) */
	uint32_t afs;                  /* BGP_AF_BIT of families: default VPNv4|VPNv6|EVPN
					* (no other family: agent_bgp_new fails) */
	int n_peers;
	struct agent_bgp_peer_conf peers[AGENT_BGP_MAX_PEERS];
};

/* One path: what the agent announces, or what a controller sent. */
struct agent_bgp_path {
	struct bgp_prefix prefix;      /* af BGP_AF_VPNV4, BGP_AF_VPNV6 or BGP_AF_EVPN, with rd */
	uint32_t label;                /* MPLS label (20 bits) or, EVPN, the 24-bit label field */
	uint8_t nh_len;                /* 4 or 16: tunnel endpoint (the originating node);
					* announce: 0 = the agent's own (conf.nh, else
					* router_id). VPNv4 needs 4. A 4-byte next hop of a
					* VPNv6 path travels as ::ffff:a.b.c.d (RFC 4659) and
					* is reported back as 4 bytes. */
	uint8_t nh[16];
	uint16_t n_ext;                /* route targets and encapsulation communities */
	uint8_t ext[AGENT_BGP_MAX_EXT][8];
	uint32_t local_pref;           /* 0: not set */
	struct bgp_pmsi pmsi;          /* PMSI_TUNNEL (EVPN type 3: ingress replication
					* to nh), type 0 and id_len 0: none */
};

/* A learned path appeared or changed (add = true), or is gone (add = false).
 * Called from agent_bgp_run() only; it may announce or withdraw, not free. */
typedef void (*agent_bgp_cb)(void *arg, bool add, const struct agent_bgp_path *p);

struct agent_bgp;

/* Returns NULL with a message in err and errno set (EINVAL: bad address,
 * family, peer count; ENOMEM). log NULL: stderr at info. Sessions start at
 * the first agent_bgp_run(). */
struct agent_bgp *agent_bgp_new(const struct agent_bgp_conf *conf, struct tern_log *log,
				agent_bgp_cb cb, void *arg, char *err, size_t errlen);
/* Close everything and free; NULL accepted. graceful: close the sessions
 * without a NOTIFICATION (the agent restarts: controllers keep its routes
 * for the restart time); else send Cease first (the agent goes away). */
void agent_bgp_free(struct agent_bgp *b, bool graceful);

/* Announce (or replace: same prefix key) one local path, now and to every
 * controller that comes up later; the same path again sends nothing.
 * Returns 0, -ENOMEM, -EINVAL (message: family not configured, next hop,
 * prefix length, label over 20 bits (VPN) or 24 bits (EVPN), EVPN route
 * type other than 2, 3, 5, more than AGENT_BGP_MAX_EXT communities, PMSI
 * tunnel identifier over BGP_PMSI_ID_MAX bytes). */
int agent_bgp_announce(struct agent_bgp *b, const struct agent_bgp_path *p,
		       char *err, size_t errlen);
/* Withdraw a local path (no-op when not announced). */
int agent_bgp_withdraw(struct agent_bgp *b, const struct bgp_prefix *p);
/* After the initial set of announcements (agent synced with tern-api):
 * End-of-RIB goes to every controller now and on each later session. */
void agent_bgp_initial_done(struct agent_bgp *b);

/* Fill at most max pollfds; returns how many. *timeout_ms is lowered to the
 * next timer deadline. */
int agent_bgp_pollfds(struct agent_bgp *b, struct pollfd *fds, int max, int *timeout_ms);
/* Handle the revents of the fds from agent_bgp_pollfds() and the timers. */
void agent_bgp_run(struct agent_bgp *b, const struct pollfd *fds, int n);

/* For `ternctl agent status` / logs: per controller state and counters. */
struct agent_bgp_peer_status {
	char addr[64];
	const char *state;             /* "Idle" .. "Established" */
	uint64_t paths_in, paths_out, flaps;
	char last_error[200];
};
int agent_bgp_status(const struct agent_bgp *b, struct agent_bgp_peer_status *out, int max);

#endif /* TERN_AGENT_BGP_H */
