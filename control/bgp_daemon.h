/*
 * DOC: bgp_daemon.h — the state of one tern-control process (internal to
 * control/): configuration, RIB, peers and their TCP connections, the
 * control socket. One struct, passed explicitly; no globals.
 */
#ifndef TERN_BGP_DAEMON_H
#define TERN_BGP_DAEMON_H

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bgp_conf.h"
#include "bgp_fsm.h"
#include "bgp_msg.h"
#include "bgp_rib.h"
#include "bgp_rtc.h"
#include "bgp_sock.h"
#include "bgp_vrf.h"
#include "tern_log.h"

/* A TCP connection to a peer and its own FSM (RFC 4271 §6.8). */
struct bgp_conn {
	int fd;                      /* -1: none */
	bool outgoing;               /* we initiated it */
	bool connecting;             /* non-blocking connect() in progress */
	struct bgp_fsm fsm;
	struct bgp_open open;        /* the peer's OPEN, once received */
	bool open_rcvd;
	uint8_t rbuf[2 * BGP_MAX_MSG];
	size_t rlen;
	struct bgp_wq wq;            /* messages not yet written */
	int64_t t_connretry, t_hold, t_keepalive;   /* ms deadlines; 0: stopped */
};

/* Prefixes waiting to go out to one peer in one UPDATE. */
#define BGP_BATCH 1024
struct bgp_batch {
	int af;                      /* -1: empty */
	struct bgp_rattrs *attrs;    /* announcements: one reference; NULL: withdrawals */
	size_t n, bytes;
	struct bgp_nlri nlri[BGP_BATCH];
};

struct bgp_peer {
	int idx;
	const struct bgp_conf_neighbor *cfg;
	struct bgp_conn conn[2];     /* [0] ours (active open), [1] the peer's */
	int est;                     /* conn index in Established, -1 */
	uint32_t afs;                /* negotiated families */
	uint32_t ap_tx, ap_rx;       /* ADD-PATH (RFC 7911) negotiated: families where we
				      * send several paths with identifiers / receive them */
	int64_t t_restart;           /* automatic start of conn[0], ms; 0: none */
	/* Graceful restart, receiving side (RFC 4724 §4.2): the peer's
	 * capability as of its last session; while it restarts, its routes of
	 * stale_afs stay, marked stale, until t_gr (its restart time, session
	 * down) or t_stale (session up again, no End-of-RIB yet). */
	struct bgp_caps caps;
	uint32_t stale_afs;
	int64_t t_gr, t_stale;
	int64_t up_since;            /* ms, when Established */
	uint32_t eor_rcvd;           /* families whose End-of-RIB came in this session */
	uint32_t eor_owed;           /* families whose End-of-RIB we hold back (start-up) */
	uint64_t msgs_in, msgs_out, updates_in, updates_out, flaps;
	char last_error[200];
	struct bgp_batch adv, wd;
	struct bgp_rtc_set rtc;      /* its route-target memberships (when it speaks rtc) */
};

#define BGP_CTL_CLIENTS 8
struct bgp_ctl_client {
	int fd;                      /* -1: free */
	char req[256];
	size_t rlen;
	char *reply;                 /* malloc'd, NULL until the request is complete */
	size_t reply_len, reply_off;
};

struct bgp_api;                  /* bgp_api.c: the tern-api watch */
struct bgp_pollwhat;             /* bgp_session.c: what a pollfd is */

struct bgp_daemon {
	struct tern_log log;
	struct bgp_conf conf;
	struct bgp_rib rib;
	/* As configured: peers[i] (its own allocation, so pointers to it stay
	 * valid) is conf.nb[i] and RIB peer i; vrf[i] is conf.vrf[i]. */
	struct bgp_peer **peers;
	int n_peers, cap_peers;
	struct bgp_vrf **vrf;
	int n_vrf, cap_vrf;
	struct bgp_vrf_index vidx;   /* route target -> instances (bgp_vrf.h) */
	struct pollfd *pf;           /* the loop's, grown with the peers */
	struct bgp_pollwhat *pwhat;
	size_t cap_pf;
	int lfd[BGP_CONF_MAX_LISTEN];
	int n_lfd;
	int ctl_fd;
	struct bgp_ctl_client ctl[BGP_CTL_CLIENTS];
	struct bgp_update upd;       /* scratch for the UPDATE being parsed */
	uint8_t scratch[BGP_MAX_MSG];
	volatile sig_atomic_t stop;  /* set by the signal handler: BGP_STOP_* */
	volatile sig_atomic_t reload; /* SIGHUP: read conf_path again */
	const char *conf_path;       /* -c FILE without --api; NULL: no reload */
	int64_t started;
	/* Start-up (RFC 4724 §4.1, as a restarting speaker would): a fresh
	 * controller knows no routes, and its End-of-RIB would make every agent
	 * drop the paths it kept. So End-of-RIB waits until every neighbour has
	 * sent its own, or until t_converge. */
	bool converged;
	int64_t t_converge;
	/* Graceful restart as the restarting speaker (bgp_gr.h): this start
	 * found a fresh marker, so the OPENs carry the R bit and no route goes
	 * out before start-up is over (RFC 4724 §4.1). */
	bool restarting;
	char gr_marker[256];
	bool rtc_default;            /* our default rtc membership is in the RIB */
	struct bgp_api *api;         /* NULL: the configuration file only */
};

/* ADD-PATH (RFC 7911) is offered, both ways, for these families of a
 * neighbor; a peer that negotiates it gets every equal-cost path. */
#define BGP_ADDPATH_AFS (BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6))
#define BGP_ADDPATH_MAX 16           /* paths per destination sent to such a peer */

/* d->stop: Cease to every peer, or (SIGTERM with graceful-restart
 * restart-time set) close the sessions without NOTIFICATION. */
#define BGP_STOP_CEASE 1
#define BGP_STOP_GRACEFUL 2

/* bgp_session.c */
int bgp_daemon_init(struct bgp_daemon *d, char *err, size_t errlen);
/* The poll loop, until d->stop. Returns 0, or -errno when poll fails. */
int bgp_daemon_run(struct bgp_daemon *d);
/* Close every session (Cease, or for BGP_STOP_GRACEFUL with a restart time:
 * no NOTIFICATION and the marker written) and free everything. */
void bgp_daemon_free(struct bgp_daemon *d);
/* The state shown for a peer: the most advanced of its connections. */
enum bgp_state bgp_peer_state(const struct bgp_peer *p);
/* Apply configuration nc over d->conf (what changed, in df, freed by the
 * caller with bgp_conf_diff_free; -ENOMEM: nothing applied): removed
 * neighbors get Cease/Peer De-configured and free their slot, changed ones
 * Cease/Other Configuration Change and start again with the new settings,
 * new ones start; unchanged ones are not touched. Instances added, removed
 * or changed import (and originate) again; no session is reset for them.
 * Process settings (listen, timers, AS, router id) are not changed here. */
int bgp_daemon_reconfigure(struct bgp_daemon *d, const struct bgp_conf *nc,
			   struct bgp_conf_diff *df);
/* SIGHUP: parse d->conf_path again and apply it (bgp_daemon_reconfigure;
 * one log line per change, then a summary). A file that does not parse is
 * refused with one line (file:line: problem) and the running configuration
 * stays. Returns 0 or a negative errno. */
int bgp_daemon_reload(struct bgp_daemon *d);

/* bgp_ctl.c: the control socket (one request line, one JSON reply). */
int bgp_ctl_open(struct bgp_daemon *d, char *err, size_t errlen);
void bgp_ctl_close(struct bgp_daemon *d);
/* Accept and serve: called by the loop for readable/writable descriptors. */
void bgp_ctl_accept(struct bgp_daemon *d);
void bgp_ctl_io(struct bgp_daemon *d, struct bgp_ctl_client *c, short revents);

/* bgp_api.c: neighbors and instances from tern-api (bgp_apiconf.h). */
struct bgp_api_conf {
	const char *url, *token, *ca_file;
	const char *name;            /* our bgp-router: name, fq_name or UUID */
};
/* Start the watch (its thread); base is the file's configuration (copied).
 * NULL with err filled on failure. */
struct bgp_api *bgp_api_new(const struct bgp_api_conf *c, const struct bgp_conf *base,
			    struct tern_log *log, char *err, size_t errlen);
void bgp_api_free(struct bgp_api *a);
/* Before the daemon starts: wait until tern-api was listed and our
 * bgp-router is there, then fill conf (base + tern-api). One log line per
 * state change while waiting. Returns 0, -EINTR when *stop was set, or
 * -ENOMEM. */
int bgp_api_wait(struct bgp_api *a, struct bgp_conf *conf, volatile sig_atomic_t *stop);
/* The loop's handler for bgp_api_fd(): take the queued events and, when
 * anything changed, apply the new configuration (bgp_daemon_reconfigure). */
int bgp_api_fd(const struct bgp_api *a);
void bgp_api_process(struct bgp_daemon *d);

#endif /* TERN_BGP_DAEMON_H */
