/*
 * DOC: bgp_session.c — tern-control's sockets and poll loop: listeners,
 * active and passive connections, message framing, the FSM's actions (timers,
 * sends, connect, close), UPDATE processing into the RIB, and the outgoing
 * side: every destination whose best path changed is offered to each
 * Established peer through the export rules, and what goes out is packed
 * into UPDATEs by attribute set.
 *
 * Single-threaded: one poll() over every descriptor, timers as deadlines.
 */
#include "bgp_daemon.h"
#include "bgp_gr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum bgp_state bgp_peer_state(const struct bgp_peer *p)
{
	enum bgp_state s = p->conn[0].fsm.state;
	if (p->conn[1].fd >= 0 && p->conn[1].fsm.state > s)
		s = p->conn[1].fsm.state;
	return s;
}

/* Truncation of a log message is fine; the return value is checked only to
 * say so to the compiler. */
#define SET_ERROR(p, ...) do { \
	if (snprintf((p)->last_error, sizeof((p)->last_error), __VA_ARGS__) < 0) \
		(p)->last_error[0] = 0; \
} while (0)

static const char *peer_name(const struct bgp_peer *p)
{
	return p->cfg->name;
}

/* ---- output buffers ---- */

static int wreserve(struct bgp_conn *c, struct tern_wbuf *w)
{
	return bgp_wq_reserve(&c->wq, w);
}

static void wcommit(struct bgp_peer *p, struct bgp_conn *c, int len)
{
	if (bgp_wq_commit(&c->wq, len))
		p->msgs_out++;
}

static void conn_flush(struct bgp_conn *c)
{
	/* errors show up on the read side; EAGAIN: POLLOUT later */
	if (c->fd >= 0 && !c->connecting)
		(void)bgp_wq_flush(&c->wq, c->fd);
}

/* ---- timers ---- */

static void arm(int64_t *t, unsigned seconds)
{
	*t = bgp_now_ms() + (int64_t)seconds * 1000;
}

static void conn_reset(struct bgp_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connecting = false;
	c->rlen = 0;
	bgp_wq_clear(&c->wq);
	c->open_rcvd = false;
	c->t_connretry = c->t_hold = c->t_keepalive = 0;
}

/* ---- the FSM's actions ---- */

static void conn_event(struct bgp_daemon *d, struct bgp_peer *p, int ci,
		       const struct bgp_fsm_in *in, const struct bgp_err *e);

/* The ADD-PATH directions we offer p: vpnv4/vpnv6 of its families, both
 * ways unless its add-path setting says otherwise. */
static struct bgp_caps our_addpath(const struct bgp_peer *p)
{
	uint32_t ap = p->cfg->afs & BGP_ADDPATH_AFS;
	uint8_t off = p->cfg->addpath_off;
	return (struct bgp_caps){ .addpath_rx = off & BGP_CONF_AP_NO_RX ? 0 : ap,
				  .addpath_tx = off & BGP_CONF_AP_NO_TX ? 0 : ap };
}

static void send_open(struct bgp_daemon *d, struct bgp_peer *p, struct bgp_conn *c)
{
	/* Graceful restart (RFC 4724 §3). Without a restart time: no family
	 * and time 0, tern only keeps a restarting peer's routes (receiving
	 * speaker). With one: every family, the F bit set (the forwarding state
	 * is the agents' and gateways', which a controller restart leaves
	 * alone), and the R bit while a graceful restart is under way. */
	uint32_t gr_afs = d->conf.gr_restart_time ? p->cfg->afs : 0;
	struct bgp_caps ap = our_addpath(p);
	struct bgp_open o = {
		.version = BGP_VERSION,
		.my_as = d->conf.as > 65535 ? BGP_AS_TRANS : (uint16_t)d->conf.as,
		.hold = p->cfg->hold,
		.router_id = d->conf.router_id,
		.caps = { .afs = p->cfg->afs, .mp = true, .as4 = true, .as4_value = d->conf.as,
			  .route_refresh = true, .gr = true, .gr_time = d->conf.gr_restart_time,
			  .gr_afs = gr_afs, .gr_fwd = gr_afs,
			  .gr_restarting = d->restarting && !d->converged,
			  .addpath_rx = ap.addpath_rx, .addpath_tx = ap.addpath_tx },
	};
	struct tern_wbuf w;
	if (wreserve(c, &w) == 0)
		wcommit(p, c, bgp_open_encode(&w, &o));
}

static void send_simple(struct bgp_peer *p, struct bgp_conn *c, int type, uint8_t code,
			uint8_t subcode, const struct bgp_err *e)
{
	struct tern_wbuf w;
	if (wreserve(c, &w) < 0)
		return;
	if (type == BGP_KEEPALIVE) {
		wcommit(p, c, bgp_keepalive_encode(&w));
		return;
	}
	bool data = e && e->action == BGP_ERR_RESET && e->code == code && e->subcode == subcode;
	wcommit(p, c, bgp_notif_encode(&w, code, subcode, data ? e->data : NULL,
				       data ? e->data_len : 0));
}

#define BGP_GR_STALE_S 360 /* stale routes wait this long for End-of-RIB */

static void stale_purge(struct bgp_daemon *d, struct bgp_peer *p, uint32_t afs, const char *why)
{
	if (!(p->stale_afs & afs))
		return;
	unsigned n = bgp_rib_peer_sweep(&d->rib, (uint16_t)p->idx, p->stale_afs & afs,
					BGP_SWEEP_STALE);
	p->stale_afs &= ~afs;
	if (!p->stale_afs)
		p->t_gr = p->t_stale = 0;
	TLOG_INFO(&d->log, "peer %s: graceful restart: %u stale routes removed (%s)", peer_name(p),
		  n, why);
}

/* graceful: the session ended without a NOTIFICATION either way, the case
 * where a peer that advertised graceful restart keeps its routes. */
static void peer_down(struct bgp_daemon *d, struct bgp_peer *p, bool graceful)
{
	uint16_t idx = (uint16_t)p->idx;
	uint32_t keep = graceful && !d->stop && p->caps.gr && p->caps.gr_time ?
				p->caps.gr_afs & p->afs : 0;
	/* Routes still stale from an earlier restart do not wait twice. */
	if (p->stale_afs)
		stale_purge(d, p, p->stale_afs, "the session went down again");
	unsigned n = bgp_rib_peer_sweep(&d->rib, idx, ~keep, BGP_SWEEP_ALL);
	d->rib.peers[p->idx].used = false;
	p->rtc.all = false;
	p->rtc.n = 0;
	p->est = -1;
	p->flaps++;
	p->afs = 0;
	TLOG_INFO(&d->log, "peer %s: session down, %u routes withdrawn", peer_name(p), n);
	if (keep) {
		unsigned k = bgp_rib_peer_sweep(&d->rib, idx, keep, BGP_SWEEP_MARK_STALE);
		p->stale_afs = keep;
		p->t_gr = bgp_now_ms() + 1000 * (int64_t)p->caps.gr_time;
		TLOG_INFO(&d->log, "peer %s: graceful restart: %u routes kept as stale for up to "
			  "%us", peer_name(p), k, p->caps.gr_time);
	}
}

static void send_table(struct bgp_daemon *d, struct bgp_peer *p, int af);

static void peer_up(struct bgp_daemon *d, struct bgp_peer *p, int ci)
{
	struct bgp_conn *c = &p->conn[ci];
	struct bgp_rib_peer *rp = &d->rib.peers[p->idx];
	p->est = ci;
	p->up_since = bgp_now_ms();
	p->eor_rcvd = 0;
	p->eor_owed = 0;
	p->last_error[0] = 0; /* what went wrong before is history now */
	rp->used = true;
	rp->ebgp = p->cfg->as != d->conf.as;
	rp->rr_client = p->cfg->rr_client;
	rp->as = p->cfg->as;
	rp->router_id = c->open.router_id;
	p->caps = c->open.caps;
	struct bgp_caps ours = our_addpath(p);
	p->ap_tx = bgp_addpath_tx(&ours, &c->open.caps) & p->afs;
	p->ap_rx = bgp_addpath_rx(&ours, &c->open.caps) & p->afs;
	if (p->stale_afs) {
		/* RFC 4724 §4.2: families the peer no longer preserves lose their
		 * stale routes now; the others wait for End-of-RIB. */
		p->t_gr = 0;
		uint32_t kept = c->open.caps.gr ? c->open.caps.gr_fwd & p->afs : 0;
		stale_purge(d, p, p->stale_afs & ~kept, "forwarding state not preserved");
		if (p->stale_afs)
			p->t_stale = bgp_now_ms() + 1000 * (int64_t)BGP_GR_STALE_S;
	}
	memset(rp->addr, 0, sizeof(rp->addr));
	if (p->cfg->addr.ss_family == AF_INET) {
		rp->addr[10] = rp->addr[11] = 0xff;
		memcpy(rp->addr + 12, &((const struct sockaddr_in *)&p->cfg->addr)->sin_addr, 4);
	} else {
		memcpy(rp->addr, &((const struct sockaddr_in6 *)&p->cfg->addr)->sin6_addr, 16);
	}
	char fams[128] = "";
	for (int af = 0; af < BGP_AF_COUNT; af++)
		if (p->afs & BGP_AF_BIT(af))
			snprintf(fams + strlen(fams), sizeof(fams) - strlen(fams), "%s%s%s",
				 fams[0] ? "," : "", bgp_af_table[af].name,
				 (p->ap_tx & p->ap_rx & BGP_AF_BIT(af)) ? "+add-path" :
				 (p->ap_tx & BGP_AF_BIT(af)) ? "+add-path-send" :
				 (p->ap_rx & BGP_AF_BIT(af)) ? "+add-path-receive" : "");
	struct in_addr id = { htonl(c->open.router_id) };
	TLOG_INFO(&d->log, "peer %s: Established (%s connection, router-id %s, AS %u, hold %us, "
		  "families %s)", peer_name(p), c->outgoing ? "our" : "their", inet_ntoa(id),
		  bgp_open_as(&c->open), c->fsm.hold_s, fams[0] ? fams : "none");
	/* The other connection lost the race (§6.8). */
	struct bgp_conn *o = &p->conn[1 - ci];
	if (o->fd >= 0) {
		struct bgp_fsm_in in = { .ev = BGP_EV_COLLISION };
		conn_event(d, p, 1 - ci, &in, NULL);
	}
	for (int af = 0; af < BGP_AF_COUNT; af++)
		if (p->afs & BGP_AF_BIT(af))
			send_table(d, p, af);
}

static void do_connect(struct bgp_daemon *d, struct bgp_peer *p)
{
	struct bgp_conn *c = &p->conn[0];
	const struct bgp_conf_neighbor *nb = p->cfg;
	char a[80];
	conn_reset(c);
	c->outgoing = true;
	int fd = socket(nb->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (nb->local.ss_family && bind(fd, (const struct sockaddr *)&nb->local, nb->local_len) < 0)
		goto fail_fd;
	/* RFC 2385 on our own connection; bgp_sock_md5() says why it fails */
	int rc = nb->password[0] ? bgp_sock_md5(fd, &nb->addr, nb->password) : 0;
	if (rc < 0) {
		SET_ERROR(p, "TCP MD5 key for %s: %s (kernel without CONFIG_TCP_MD5SIG?)",
			  bgp_sockaddr_str(&nb->addr, a, sizeof(a)), strerror(-rc));
		TLOG_WARN(&d->log, "peer %s: %s", peer_name(p), p->last_error);
		close(fd);
		conn_event(d, p, 0, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_FAILED }, NULL);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&nb->addr, nb->addr_len) < 0 &&
	    errno != EINPROGRESS)
		goto fail_fd;
	c->fd = fd;
	c->connecting = true;
	TLOG_DEBUG(&d->log, "peer %s: connecting to %s", peer_name(p),
		   bgp_sockaddr_str(&nb->addr, a, sizeof(a)));
	return;
fail_fd:
	close(fd);
fail:
	SET_ERROR(p, "connect to %s: %s",
		 bgp_sockaddr_str(&nb->addr, a, sizeof(a)), strerror(errno));
	TLOG_WARN(&d->log, "peer %s: %s", peer_name(p), p->last_error);
	struct bgp_fsm_in in = { .ev = BGP_EV_TCP_FAILED };
	conn_event(d, p, 0, &in, NULL);
}

static void apply(struct bgp_daemon *d, struct bgp_peer *p, int ci, enum bgp_event ev,
		  const struct bgp_fsm_out *o,
		  const struct bgp_err *e)
{
	struct bgp_conn *c = &p->conn[ci];
	uint32_t a = o->actions;
	if (a & BGP_ACT_CONNRETRY_STOP)
		c->t_connretry = 0;
	if (a & BGP_ACT_HOLD_STOP)
		c->t_hold = 0;
	if (a & BGP_ACT_KEEPALIVE_STOP)
		c->t_keepalive = 0;
	if (a & BGP_ACT_CONNRETRY_START)
		arm(&c->t_connretry, c->fsm.connretry_s);
	if (a & BGP_ACT_HOLD_START)
		arm(&c->t_hold, c->fsm.hold_s);
	if ((a & BGP_ACT_KEEPALIVE_START) && c->fsm.keepalive_s)
		arm(&c->t_keepalive, c->fsm.keepalive_s);
	if (a & BGP_ACT_SEND_OPEN)
		send_open(d, p, c);
	if (a & BGP_ACT_SEND_KEEPALIVE)
		send_simple(p, c, BGP_KEEPALIVE, 0, 0, NULL);
	if (a & BGP_ACT_SEND_NOTIF) {
		char n[120];
		send_simple(p, c, BGP_NOTIFICATION, o->code, o->subcode, e);
		SET_ERROR(p, "sent %s%s%s",
			 bgp_notif_name(o->code, o->subcode, n, sizeof(n)), e ? ": " : "",
			 e ? e->msg : "");
		TLOG_WARN(&d->log, "peer %s: %s", peer_name(p), p->last_error);
	}
	if (a & BGP_ACT_DOWN)
		peer_down(d, p, !(a & BGP_ACT_SEND_NOTIF) && ev != BGP_EV_NOTIFICATION &&
				ev != BGP_EV_STOP);
	if (a & BGP_ACT_CLOSE) {
		conn_flush(c); /* a NOTIFICATION, if any, best effort */
		conn_reset(c);
	}
	if (a & BGP_ACT_CONNECT)
		do_connect(d, p);
	if (a & BGP_ACT_ESTABLISHED)
		peer_up(d, p, ci);
}

static void conn_event(struct bgp_daemon *d, struct bgp_peer *p, int ci,
		       const struct bgp_fsm_in *in, const struct bgp_err *e)
{
	struct bgp_conn *c = &p->conn[ci];
	struct bgp_fsm_out o = bgp_fsm_step(&c->fsm, in);
	if (o.from != c->fsm.state)
		TLOG_INFO(&d->log, "peer %s: %s -> %s on %s (%s connection)", peer_name(p),
			  bgp_state_name(o.from), bgp_state_name(c->fsm.state),
			  bgp_event_name(in->ev), ci == 0 ? "our" : "their");
	apply(d, p, ci, in->ev, &o, e);
	/* Back in Idle: our side starts again after the connect-retry time
	 * (AutomaticStart); their side just frees its slot. */
	if (c->fsm.state == BGP_IDLE && p->conn[0].fsm.state == BGP_IDLE && p->est < 0 &&
	    !p->cfg->passive && !p->cfg->off && !d->stop && !p->t_restart)
		arm(&p->t_restart, p->conn[0].fsm.connretry_s);
}

/* ---- receiving ---- */

static void rx_open(struct bgp_daemon *d, struct bgp_peer *p, int ci, const uint8_t *body,
		    size_t len)
{
	struct bgp_conn *c = &p->conn[ci];
	struct bgp_err e;
	struct bgp_fsm_in in = { .ev = BGP_EV_MSG_ERROR, .code = BGP_NOTIF_OPEN };
	bgp_err_clear(&e);
	if (bgp_open_parse(body, len, &c->open, &e) < 0) {
		in.code = e.code;
		in.subcode = e.subcode;
		conn_event(d, p, ci, &in, &e);
		return;
	}
	uint32_t as = bgp_open_as(&c->open);
	if (!c->open.caps.as4) {
		/* tern parses 4-octet AS_PATHs only (RFC 6793 speakers). */
		uint8_t code = 65;
		bgp_err_set(&e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_CAPABILITY, &code, 1,
			    "OPEN without the 4-octet AS capability");
	} else if (as != p->cfg->as) {
		bgp_err_set(&e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_BAD_AS, NULL, 0,
			    "OPEN from AS %u, configured %u", as, p->cfg->as);
	} else if (c->open.router_id == d->conf.router_id && p->cfg->as == d->conf.as) {
		bgp_err_set(&e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_BAD_ID, NULL, 0,
			    "OPEN with our own router-id from an internal peer");
	}
	if (e.action == BGP_ERR_RESET) {
		in.code = e.code;
		in.subcode = e.subcode;
		conn_event(d, p, ci, &in, &e);
		return;
	}
	/* Collision (§6.8): the other connection has reached OpenSent or more. */
	struct bgp_conn *other = &p->conn[1 - ci];
	if (other->fd >= 0 && other->fsm.state >= BGP_OPENSENT) {
		int loser;
		if (other->fsm.state == BGP_ESTABLISHED)
			loser = ci;
		else
			loser = bgp_fsm_collision_close_ours(d->conf.router_id, c->open.router_id) ?
				0 : 1;
		TLOG_INFO(&d->log, "peer %s: connection collision, closing %s connection",
			  peer_name(p), loser == 0 ? "our" : "their");
		struct bgp_fsm_in col = { .ev = BGP_EV_COLLISION };
		conn_event(d, p, loser, &col, NULL);
		if (loser == ci)
			return;
	}
	c->open_rcvd = true;
	p->afs = c->open.caps.mp ? (c->open.caps.afs & p->cfg->afs)
				 : (p->cfg->afs & BGP_AF_BIT(BGP_AF_IPV4));
	struct bgp_fsm_in ok = { .ev = BGP_EV_OPEN, .peer_hold = c->open.hold };
	conn_event(d, p, ci, &ok, NULL);
}

static void offer_family(struct bgp_daemon *d, struct bgp_peer *p, int af);

/* The peer's memberships changed: collect them again and offer it the
 * filtered families anew (routes now wanted go out, the others are
 * withdrawn). A whole-table walk, fine while memberships change rarely. */
static void rtc_refresh(struct bgp_daemon *d, struct bgp_peer *p)
{
	if (p->est < 0 || !(p->afs & BGP_AF_BIT(BGP_AF_RTC)))
		return;
	bgp_rtc_collect(&d->rib, (uint16_t)p->idx, &p->rtc);
	TLOG_DEBUG(&d->log, "peer %s: route-target membership: %s%u prefixes", peer_name(p),
		   p->rtc.all ? "all routes, " : "", p->rtc.n);
	for (int af = 0; af < BGP_AF_COUNT; af++)
		if (bgp_rtc_filtered(af) && (p->afs & BGP_AF_BIT(af)))
			offer_family(d, p, af);
}

static void apply_nlri(struct bgp_daemon *d, struct bgp_peer *p, int af, struct bgp_bytes f,
		       const struct bgp_attrs *a, bool withdraw, unsigned *n_ok)
{
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[128];
	bgp_nlri_iter_init_ap(&it, af, f.p, f.len, withdraw, p->ap_rx & BGP_AF_BIT(af));
	while (bgp_nlri_next(&it, &n, err, sizeof(err)) == 1) {
		if (withdraw) {
			bgp_rib_withdraw_id(&d->rib, (uint16_t)p->idx, &n.p, n.path_id);
		} else if (bgp_rib_update(&d->rib, (uint16_t)p->idx, &n, a) < 0) {
			TLOG_ERR(&d->log, "peer %s: out of memory storing a route", peer_name(p));
			return;
		}
		(*n_ok)++;
	}
}

static void rx_update(struct bgp_daemon *d, struct bgp_peer *p, int ci, const uint8_t *body,
		      size_t len)
{
	struct bgp_update *u = &d->upd;
	struct bgp_err e;
	const struct bgp_rib_peer *rp = &d->rib.peers[p->idx];
	struct bgp_peer_ctx ctx = { .ebgp = rp->ebgp, .peer_as = p->cfg->as, .afs = p->afs,
				    .addpath = p->ap_rx };
	bgp_err_clear(&e);
	p->updates_in++;
	if (bgp_update_parse(body, len, &ctx, u, &e) < 0) {
		struct bgp_fsm_in in = { .ev = BGP_EV_UPDATE_ERROR, .code = e.code,
					 .subcode = e.subcode };
		conn_event(d, p, ci, &in, &e);
		return;
	}
	struct bgp_fsm_in in = { .ev = BGP_EV_UPDATE };
	conn_event(d, p, ci, &in, NULL);
	if (e.action != BGP_ERR_NONE)
		TLOG_WARN(&d->log, "peer %s: %s (%s)", peer_name(p), e.msg,
			  e.action == BGP_ERR_WITHDRAW ? "treat-as-withdraw" : "attribute discard");
	int eor = bgp_update_eor(u, len);
	if (eor >= 0) {
		TLOG_INFO(&d->log, "peer %s: End-of-RIB %s", peer_name(p), bgp_af_table[eor].name);
		stale_purge(d, p, BGP_AF_BIT(eor), "End-of-RIB");
		p->eor_rcvd |= BGP_AF_BIT(eor);
		return;
	}
	bool wd = e.action == BGP_ERR_WITHDRAW || bgp_rib_is_loop(&d->rib, (uint16_t)p->idx,
								  &u->attrs);
	unsigned n = 0;
	apply_nlri(d, p, BGP_AF_IPV4, u->withdrawn, NULL, true, &n);
	if (u->unreach_af >= 0)
		apply_nlri(d, p, u->unreach_af, u->unreach, NULL, true, &n);
	apply_nlri(d, p, BGP_AF_IPV4, u->nlri, &u->attrs, wd, &n);
	if (u->reach_af >= 0) {
		struct bgp_attrs a = u->attrs;
		a.has &= ~BGP_HAS(BGP_ATTR_NEXT_HOP);
		a.nh_len = u->mp_nh_len;
		memcpy(a.nh, u->mp_nh, sizeof(a.nh));
		apply_nlri(d, p, u->reach_af, u->reach, &a, wd, &n);
	}
	TLOG_DEBUG(&d->log, "peer %s: UPDATE with %u prefixes%s", peer_name(p), n,
		   wd ? " (withdrawn)" : "");
	if (u->reach_af == BGP_AF_RTC || u->unreach_af == BGP_AF_RTC)
		rtc_refresh(d, p);
}

static void rx_message(struct bgp_daemon *d, struct bgp_peer *p, int ci, const struct bgp_hdr *h,
		       const uint8_t *body, size_t len)
{
	struct bgp_conn *c = &p->conn[ci];
	struct bgp_err e;
	bgp_err_clear(&e);
	p->msgs_in++;
	switch (h->type) {
	case BGP_OPEN:
		rx_open(d, p, ci, body, len);
		return;
	case BGP_KEEPALIVE:
		conn_event(d, p, ci, &(struct bgp_fsm_in){ .ev = BGP_EV_KEEPALIVE }, NULL);
		return;
	case BGP_UPDATE:
		if (c->fsm.state != BGP_ESTABLISHED) {
			conn_event(d, p, ci, &(struct bgp_fsm_in){ .ev = BGP_EV_UPDATE }, NULL);
			return;
		}
		rx_update(d, p, ci, body, len);
		return;
	case BGP_NOTIFICATION: {
		struct bgp_notif n = { 0 };
		char name[120];
		bgp_notif_parse(body, len, &n, &e);
		SET_ERROR(p, "received %s",
			 bgp_notif_name(n.code, n.subcode, name, sizeof(name)));
		TLOG_WARN(&d->log, "peer %s: %s", peer_name(p), p->last_error);
		conn_event(d, p, ci, &(struct bgp_fsm_in){ .ev = BGP_EV_NOTIFICATION }, NULL);
		return;
	}
	case BGP_ROUTE_REFRESH: {
		struct bgp_route_refresh rr;
		if (bgp_rr_parse(body, len, &rr, &e) < 0 || c->fsm.state != BGP_ESTABLISHED)
			return;
		int af = bgp_af_lookup(rr.afi, rr.safi);
		if (af >= 0 && (p->afs & BGP_AF_BIT(af)) && rr.subtype == 0) {
			TLOG_INFO(&d->log, "peer %s: route refresh %s", peer_name(p),
				  bgp_af_table[af].name);
			send_table(d, p, af);
		}
		return;
	}
	}
}

static void conn_read(struct bgp_daemon *d, struct bgp_peer *p, int ci)
{
	struct bgp_conn *c = &p->conn[ci];
	ssize_t n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		SET_ERROR(p, "connection %s",
			 n == 0 ? "closed by the peer" : strerror(errno));
		TLOG_INFO(&d->log, "peer %s: %s", peer_name(p), p->last_error);
		conn_event(d, p, ci, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_FAILED }, NULL);
		return;
	}
	if (n < 0)
		return;
	c->rlen += (size_t)n;
	size_t off = 0;
	while (c->fd >= 0) {
		struct bgp_hdr h;
		struct bgp_err e;
		bgp_err_clear(&e);
		int rc = bgp_hdr_parse(c->rbuf + off, c->rlen - off, &h, &e);
		if (rc == -EAGAIN || (rc == 0 && h.len > c->rlen - off))
			break;
		if (rc < 0) {
			struct bgp_fsm_in in = { .ev = BGP_EV_MSG_ERROR, .code = e.code,
						 .subcode = e.subcode };
			conn_event(d, p, ci, &in, &e);
			return;
		}
		rx_message(d, p, ci, &h, c->rbuf + off + BGP_HDR_LEN, h.len - BGP_HDR_LEN);
		off += h.len;
	}
	if (c->fd < 0)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

/* ---- sending routes ---- */

static void batch_flush(struct bgp_daemon *d, struct bgp_peer *p, struct bgp_batch *b)
{
	if (b->af < 0 || b->n == 0) {
		b->af = -1;
		return;
	}
	struct bgp_conn *c = p->est >= 0 ? &p->conn[p->est] : NULL;
	struct tern_wbuf w;
	if (c && c->fd >= 0 && wreserve(c, &w) == 0) {
		bool ap = p->ap_tx & BGP_AF_BIT(b->af);
		int len = b->attrs ?
			bgp_update_encode_ap(&w, b->af, &b->attrs->a, b->nlri, b->n, NULL, 0, ap) :
			bgp_update_encode_ap(&w, b->af, NULL, NULL, 0, b->nlri, b->n, ap);
		if (len < 0)
			TLOG_ERR(&d->log, "peer %s: UPDATE of %zu prefixes did not fit (bug)",
				 peer_name(p), b->n);
		wcommit(p, c, len);
		p->updates_out++;
	}
	bgp_rib_unref(&d->rib, b->attrs);
	b->attrs = NULL;
	b->n = 0;
	b->af = -1;
}

/* What p's batches hold, announcements first: a path that moves to another
 * ADD-PATH identifier (the best path changed to a copy with the same next
 * hop) reaches the peer under its new identifier before the old one is
 * withdrawn, so the peer never goes without it (make before break). */
static void peer_flush(struct bgp_daemon *d, struct bgp_peer *p)
{
	batch_flush(d, p, &p->adv);
	batch_flush(d, p, &p->wd);
}

static void batch_add(struct bgp_daemon *d, struct bgp_peer *p, struct bgp_batch *b, int af,
		      struct bgp_rattrs *ra, const struct bgp_nlri *n)
{
	size_t sz = bgp_nlri_size_ap(n, p->ap_tx & BGP_AF_BIT(af));
	if (b->af != af || b->attrs != ra || b->n == BGP_BATCH || b->bytes + sz > BGP_MAX_MSG) {
		if (b == &p->wd)
			batch_flush(d, p, &p->adv); /* announcements first (peer_flush) */
		batch_flush(d, p, b);
	}
	if (b->af < 0) {
		b->af = af;
		b->attrs = ra;
		if (ra)
			ra->refcnt++;
		/* header, two length fields, attributes (or MP_UNREACH header) */
		b->bytes = BGP_HDR_LEN + 4 + (ra ? bgp_attrs_size(&ra->a, af) : 7 + 3);
	}
	b->nlri[b->n++] = *n;
	b->bytes += sz;
}

static bool rtc_wanted(const struct bgp_peer *p, int af, const struct bgp_path *q)
{
	return !bgp_rtc_filtered(af) || !(p->afs & BGP_AF_BIT(BGP_AF_RTC)) ||
	       (q && bgp_rtc_match(&p->rtc, &q->attrs->a));
}

/* One path q of dst to ADD-PATH peer p, unless export rules, its route
 * targets or a next hop already sent (sent[0..*n)) keep it back. */
static void ap_announce(struct bgp_daemon *d, struct bgp_peer *p, struct bgp_dest *dst,
			const struct bgp_path *q, const struct bgp_path **sent, int *n)
{
	const struct bgp_attrs *qa = &q->attrs->a;
	struct bgp_attrs out;
	if (!rtc_wanted(p, dst->p.af, q) ||
	    !bgp_rib_export(&d->rib, q, (uint16_t)p->idx, &out, d->scratch))
		return;
	for (int i = 0; i < *n; i++)
		if (sent[i]->attrs->a.nh_len == qa->nh_len &&
		    memcmp(sent[i]->attrs->a.nh, qa->nh, qa->nh_len) == 0)
			return;
	struct bgp_rattrs *ra = bgp_rib_intern(&d->rib, &out);
	if (!ra || bgp_rib_ap_mark(dst, q->tx_id, (uint16_t)p->idx, true) < 0) {
		bgp_rib_unref(&d->rib, ra);
		TLOG_ERR(&d->log, "peer %s: out of memory exporting a route", peer_name(p));
		return;
	}
	struct bgp_nlri nl = { .p = dst->p, .label = q->label, .path_id = q->tx_id };
	batch_add(d, p, &p->adv, dst->p.af, ra, &nl);
	bgp_rib_unref(&d->rib, ra);
	sent[(*n)++] = q;
}

static bool ap_holds(const struct bgp_dest *dst, uint32_t id, unsigned peer)
{
	for (uint32_t i = 0; dst->ap && i < dst->ap->n; i++)
		if (dst->ap->e[i].id == id)
			return bgp_pset_has(dst->ap->e[i].peers, peer);
	return false;
}

/* ADD-PATH peer (RFC 7911): the best path and every other equal-cost path
 * with a next hop of its own (ECMP), each under its own path identifier
 * (tx_id); identifiers p holds that are not among them are withdrawn. */
static void offer_ap(struct bgp_daemon *d, struct bgp_peer *p, struct bgp_dest *dst)
{
	unsigned idx = (unsigned)p->idx;
	const struct bgp_path *sent[BGP_ADDPATH_MAX];
	int n_sent = 0;
	const struct bgp_path *best = dst->best;
	/* Equal-cost paths p already holds go first, so that of several with
	 * one next hop it keeps the one it has: the best moving among copies of
	 * one route (two reflectors' copies of an agent's route) then changes
	 * nothing for p, instead of a new identifier and a withdrawal. */
	for (const struct bgp_path *q = dst->paths; best && dst->ap && q; q = q->next)
		if ((q == best || bgp_path_multipath(&d->rib, q, best)) &&
		    ap_holds(dst, q->tx_id, idx) && n_sent < BGP_ADDPATH_MAX)
			ap_announce(d, p, dst, q, sent, &n_sent);
	if (best && n_sent < BGP_ADDPATH_MAX)
		ap_announce(d, p, dst, best, sent, &n_sent);
	for (const struct bgp_path *q = dst->paths; best && q && n_sent < BGP_ADDPATH_MAX;
	     q = q->next)
		if (q != best && bgp_path_multipath(&d->rib, q, best))
			ap_announce(d, p, dst, q, sent, &n_sent);
	uint32_t gone[4 * BGP_ADDPATH_MAX];
	int n_gone = 0;
	for (uint32_t i = 0; dst->ap && i < dst->ap->n && n_gone < 4 * BGP_ADDPATH_MAX; i++) {
		if (!bgp_pset_has(dst->ap->e[i].peers, idx))
			continue;
		bool keep = false;
		for (int k = 0; k < n_sent && !keep; k++)
			keep = sent[k]->tx_id == dst->ap->e[i].id;
		if (!keep)
			gone[n_gone++] = dst->ap->e[i].id;
	}
	for (int i = 0; i < n_gone; i++) {
		struct bgp_nlri nl = { .p = dst->p, .label = BGP_LABEL_WITHDRAW,
				       .path_id = gone[i] };
		batch_add(d, p, &p->wd, dst->p.af, NULL, &nl);
		bgp_rib_ap_mark(dst, gone[i], (uint16_t)idx, false);
	}
}

/* Offer destination dst to peer p: announce its best path, or withdraw what
 * p was given before. */
static void offer(struct bgp_daemon *d, struct bgp_peer *p, struct bgp_dest *dst)
{
	unsigned idx = (unsigned)p->idx;
	/* A restarting speaker selects and advertises only once it has every
	 * peer's routes (RFC 4724 §4.1): check_converged offers the tables. */
	if (d->restarting && !d->converged)
		return;
	struct bgp_attrs out;
	int af = dst->p.af;
	if (p->ap_tx & BGP_AF_BIT(af)) {
		offer_ap(d, p, dst);
		return;
	}
	/* RFC 4684: a peer speaking rtc gets only the VPN routes it asked for. */
	bool wanted = rtc_wanted(p, af, dst->best);
	if (dst->best && wanted &&
	    bgp_rib_export(&d->rib, dst->best, (uint16_t)p->idx, &out, d->scratch)) {
		struct bgp_rattrs *ra = bgp_rib_intern(&d->rib, &out);
		if (!ra) {
			TLOG_ERR(&d->log, "peer %s: out of memory exporting a route", peer_name(p));
			return;
		}
		struct bgp_nlri n = { .p = dst->p, .label = dst->best->label };
		if (bgp_pset_add(&dst->adv, idx) < 0) {
			bgp_rib_unref(&d->rib, ra);
			TLOG_ERR(&d->log, "peer %s: out of memory exporting a route", peer_name(p));
			return;
		}
		batch_add(d, p, &p->adv, af, ra, &n);
		bgp_rib_unref(&d->rib, ra);
	} else if (bgp_pset_has(dst->adv, idx)) {
		struct bgp_nlri n = { .p = dst->p, .label = BGP_LABEL_WITHDRAW };
		batch_add(d, p, &p->wd, af, NULL, &n);
		bgp_pset_del(&dst->adv, idx);
	}
}

static bool peer_wants(const struct bgp_peer *p, int af)
{
	return p->est >= 0 && (p->afs & BGP_AF_BIT(af));
}

static int send_one(struct bgp_dest *dst, void *arg)
{
	void **a = arg;
	struct bgp_daemon *d = a[0];
	struct bgp_peer *p = a[1];
	offer(d, p, dst);
	return 0;
}

/* Every destination of af offered to p, the batches flushed. */
static void offer_family(struct bgp_daemon *d, struct bgp_peer *p, int af)
{
	void *arg[2] = { d, p };
	bgp_rib_walk(&d->rib, af, send_one, arg);
	peer_flush(d, p);
}

static void send_eor(struct bgp_peer *p, int af)
{
	struct bgp_conn *c = &p->conn[p->est];
	struct tern_wbuf w;
	if (wreserve(c, &w) == 0)
		wcommit(p, c, bgp_eor_encode(&w, af));
}

/* The whole table of af to p (Established, route refresh), then End-of-RIB
 * (held back while the daemon is starting up). */
static void send_table(struct bgp_daemon *d, struct bgp_peer *p, int af)
{
	offer_family(d, p, af);
	if (d->converged)
		send_eor(p, af);
	else
		p->eor_owed |= BGP_AF_BIT(af);
}

/* Start-up is over when every neighbour is Established and has sent
 * End-of-RIB for each family, or when the defer time ran out: the owed
 * End-of-RIBs go out then. */
static void check_converged(struct bgp_daemon *d, int64_t now)
{
	if (d->converged)
		return;
	bool all = true;
	for (int i = 0; i < d->n_peers && all; i++) {
		const struct bgp_peer *p = d->peers[i];
		all = p->cfg->off || (p->est >= 0 && (p->eor_rcvd & p->afs) == p->afs);
	}
	/* Speakers of a [neighbors] range are not known before they call: give
	 * them half the defer time (agents retry every 5 s) before "all". */
	if (d->conf.n_range && now < d->started + 500 * (int64_t)d->conf.startup_defer)
		all = false;
	if (!all && now < d->t_converge)
		return;
	d->converged = true;
	TLOG_INFO(&d->log, "start-up over (%s): %sEnd-of-RIB to every peer",
		  all ? "every neighbour sent its routes" : "startup-defer time over",
		  d->restarting ? "graceful restart done, routes and " : "");
	for (int i = 0; i < d->n_peers; i++) {
		struct bgp_peer *p = d->peers[i];
		for (int af = 0; af < BGP_AF_COUNT; af++) {
			if (!(p->eor_owed & BGP_AF_BIT(af)) || p->est < 0)
				continue;
			if (d->restarting)
				offer_family(d, p, af);
			send_eor(p, af);
		}
		p->eor_owed = 0;
	}
}

static void process_dirty(struct bgp_daemon *d)
{
	struct bgp_dest *dst;
	int n = 0;
	while ((dst = bgp_rib_dirty_pop(&d->rib))) {
		const struct bgp_vrf *bad = NULL;
		if (bgp_vrf_index_import(&d->vidx, &d->rib, dst, &bad) < 0)
			TLOG_ERR(&d->log, "instance %s: out of memory importing a route",
				 bad ? bad->cf->name : "(index)");
		/* Offered to each peer that takes the family; a peer that is
		 * down holds nothing any more. */
		for (int i = 0; i < d->n_peers; i++) {
			struct bgp_peer *p = d->peers[i];
			if (peer_wants(p, dst->p.af))
				offer(d, p, dst);
			else if (p->est < 0 && (dst->adv || dst->ap))
				bgp_rib_dest_forget(dst, (uint16_t)i);
		}
		bgp_rib_dest_gc(&d->rib, dst);
		n++;
	}
	if (!n)
		return;
	for (int i = 0; i < d->n_peers; i++)
		peer_flush(d, d->peers[i]);
}

/* ---- listening and accepting ---- */

static int listen_on(struct bgp_daemon *d, const struct sockaddr_storage *ss, socklen_t len,
		     char *err, size_t errlen)
{
	char a[80];
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		close(fd);
		goto fail;
	}
	for (int i = 0; i < d->conf.n_nb; i++) {
		const struct bgp_conf_neighbor *nb = &d->conf.nb[i];
		if (!nb->password[0] || nb->off || nb->addr.ss_family != ss->ss_family)
			continue;
		int e = -bgp_sock_md5(fd, &nb->addr, nb->password);
		if (e > 0) {
			close(fd);
			snprintf(err, errlen, "listen on %s: TCP MD5 key for neighbor %s: %s "
				 "(kernel without CONFIG_TCP_MD5SIG?)",
				 bgp_sockaddr_str(ss, a, sizeof(a)), nb->name, strerror(e));
			return -e;
		}
	}
	d->lfd[d->n_lfd++] = fd;
	TLOG_INFO(&d->log, "listening on %s", bgp_sockaddr_str(ss, a, sizeof(a)));
	return 0;
fail:
	snprintf(err, errlen, "listen on %s: %s", bgp_sockaddr_str(ss, a, sizeof(a)),
		 strerror(errno));
	return -errno;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static struct bgp_peer *peer_from_range(struct bgp_daemon *d, const struct bgp_conf_range *r,
					const struct sockaddr_storage *ss);

static void do_accept(struct bgp_daemon *d, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char a[80];
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct bgp_peer *p = NULL;
	for (int i = 0; i < d->n_peers && !p; i++)
		if (!d->peers[i]->cfg->off && same_addr(&d->peers[i]->cfg->addr, &ss))
			p = d->peers[i];
	const struct bgp_conf_range *r = p ? NULL : bgp_conf_range_of(&d->conf, &ss);
	if (r && !(p = peer_from_range(d, r, &ss))) {
		close(fd);
		return;
	}
	if (!p || p->conn[1].fd >= 0) {
		TLOG_WARN(&d->log, "connection from %s refused: %s",
			  bgp_sockaddr_str(&ss, a, sizeof(a)),
			  p ? "a connection from that peer is already open" : "not a neighbor");
		close(fd);
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct bgp_conn *c = &p->conn[1];
	conn_reset(c);
	bgp_fsm_init(&c->fsm, p->cfg->hold, d->conf.connretry, true);
	c->fd = fd;
	c->outgoing = false;
	TLOG_INFO(&d->log, "peer %s: connection from %s", peer_name(p),
		  bgp_sockaddr_str(&ss, a, sizeof(a)));
	conn_event(d, p, 1, &(struct bgp_fsm_in){ .ev = BGP_EV_START_PASSIVE }, NULL);
	conn_event(d, p, 1, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_CONNECTED }, NULL);
}

/* Our connect() finished: success or failure. */
static void connect_done(struct bgp_daemon *d, struct bgp_peer *p)
{
	struct bgp_conn *c = &p->conn[0];
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	c->connecting = false;
	if (soerr) {
		SET_ERROR(p, "connect: %s", strerror(soerr));
		TLOG_DEBUG(&d->log, "peer %s: %s", peer_name(p), p->last_error);
		conn_event(d, p, 0, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_FAILED }, NULL);
		return;
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_event(d, p, 0, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_CONNECTED }, NULL);
}

/* ---- timers ---- */

static void fire(struct bgp_daemon *d, struct bgp_peer *p, int ci, int64_t *t, enum bgp_event ev,
		 int64_t now)
{
	if (*t && *t <= now) {
		*t = 0;
		conn_event(d, p, ci, &(struct bgp_fsm_in){ .ev = ev }, NULL);
	}
}

static void run_timers(struct bgp_daemon *d, int64_t now)
{
	check_converged(d, now);
	for (int i = 0; i < d->n_peers; i++) {
		struct bgp_peer *p = d->peers[i];
		if (p->t_gr && p->t_gr <= now)
			stale_purge(d, p, p->stale_afs, "restart time over, the peer is not back");
		if (p->t_stale && p->t_stale <= now)
			stale_purge(d, p, p->stale_afs, "no End-of-RIB in time");
		if (p->t_restart && p->t_restart <= now) {
			p->t_restart = 0;
			if (p->conn[0].fsm.state == BGP_IDLE && p->est < 0)
				conn_event(d, p, 0, &(struct bgp_fsm_in){ .ev = BGP_EV_START }, NULL);
		}
		for (int ci = 0; ci < 2; ci++) {
			struct bgp_conn *c = &p->conn[ci];
			fire(d, p, ci, &c->t_connretry, BGP_EV_CONNRETRY_TIMER, now);
			fire(d, p, ci, &c->t_hold, BGP_EV_HOLD_TIMER, now);
			fire(d, p, ci, &c->t_keepalive, BGP_EV_KEEPALIVE_TIMER, now);
		}
	}
}

static int64_t next_deadline(const struct bgp_daemon *d)
{
	int64_t t = 0;
	for (int i = 0; i < d->n_peers; i++) {
		const struct bgp_peer *p = d->peers[i];
		int64_t ts[9] = { p->t_restart, p->conn[0].t_connretry, p->conn[0].t_hold,
				  p->conn[0].t_keepalive, p->conn[1].t_connretry, p->conn[1].t_hold,
				  p->conn[1].t_keepalive, p->t_gr, p->t_stale };
		for (int k = 0; k < 9; k++)
			if (ts[k] && (!t || ts[k] < t))
				t = ts[k];
	}
	if (!d->converged && (!t || d->t_converge < t))
		t = d->t_converge;
	return t;
}

/* ---- life cycle and the loop ---- */

/* Point every peer and instance at its configuration again (the arrays of
 * d->conf move when they grow). */
static void conf_relink(struct bgp_daemon *d)
{
	for (int i = 0; i < d->n_peers; i++)
		d->peers[i]->cfg = &d->conf.nb[i];
	for (int i = 0; i < d->n_vrf; i++)
		d->vrf[i]->cf = &d->conf.vrf[i];
}

/* Grow an array of pointers (*arr, a local copy of the caller's pointer:
 * no typed pointer is written through a void **) to at least n, the new
 * ones NULL. Returns 0 or -ENOMEM (*arr unchanged). */
static int ptrs_grow(void **arr, int *cap, int n)
{
	if (n <= *cap)
		return 0;
	int c = *cap ? *cap : 16;
	while (c < n)
		c *= 2;
	char *na = realloc(*arr, (size_t)c * sizeof(void *));
	if (!na)
		return -ENOMEM;
	memset(na + (size_t)*cap * sizeof(void *), 0, (size_t)(c - *cap) * sizeof(void *));
	*arr = na;
	*cap = c;
	return 0;
}

static int peers_grow(struct bgp_daemon *d, int n)
{
	void *a = d->peers;
	int rc = ptrs_grow(&a, &d->cap_peers, n);
	d->peers = a;
	return rc;
}

static int vrfs_grow(struct bgp_daemon *d, int n)
{
	void *a = d->vrf;
	int rc = ptrs_grow(&a, &d->cap_vrf, n);
	d->vrf = a;
	return rc;
}

/* Memory for peer i. A peer is large (its two UPDATE batches); calloc
 * gives fresh pages that stay untouched until a batch fills them. */
static int peer_alloc(struct bgp_daemon *d, int i)
{
	if (peers_grow(d, i + 1) < 0)
		return -ENOMEM;
	if (!d->peers[i] && !(d->peers[i] = calloc(1, sizeof(*d->peers[i]))))
		return -ENOMEM;
	return 0;
}

/* A batch emptied by its header only: a whole-struct store would touch
 * (and make resident) its prefix array. */
static void batch_empty(struct bgp_batch *b)
{
	b->af = -1;
	b->attrs = NULL;
	b->n = b->bytes = 0;
}

/* Everything but the batches' prefix arrays zeroed (see peer_alloc). */
static void peer_init(struct bgp_daemon *d, int i)
{
	struct bgp_peer *p = d->peers[i];
	memset(p, 0, offsetof(struct bgp_peer, adv));
	batch_empty(&p->adv);
	batch_empty(&p->wd);
	memset(&p->rtc, 0, sizeof(p->rtc));
	p->idx = i;
	p->cfg = &d->conf.nb[i];
	p->est = -1;
	for (int ci = 0; ci < 2; ci++) {
		p->conn[ci].fd = -1;
		bgp_fsm_init(&p->conn[ci].fsm, p->cfg->hold, d->conf.connretry, ci == 1);
	}
	p->conn[0].fsm.passive = p->cfg->passive;
}

/* A slot for a new neighbor: a removed one's, else a new one; -1 when full. */
static int peer_slot(struct bgp_daemon *d)
{
	for (int i = 0; i < d->n_peers; i++)
		if (d->peers[i]->cfg->off)
			return i;
	int i = d->conf.n_nb;
	if (peer_alloc(d, i) < 0 || !bgp_conf_nb_new(&d->conf, NULL))
		return -1;
	d->n_peers++;
	conf_relink(d);
	return i;
}

/* A speaker from a [neighbors PREFIX] range connected: it becomes a passive
 * neighbor of its own, for good (its slot and routes follow the usual rules
 * when it goes away). NULL when there is no room. */
static struct bgp_peer *peer_from_range(struct bgp_daemon *d, const struct bgp_conf_range *r,
					const struct sockaddr_storage *ss)
{
	char a[80];
	int i = peer_slot(d);
	if (i < 0) {
		TLOG_WARN(&d->log, "connection from %s (range %s) refused: %d neighbors already "
			  "(at most %d) or out of memory", bgp_sockaddr_str(ss, a, sizeof(a)),
			  r->tmpl.name, d->n_peers, BGP_CONF_MAX_NB);
		return NULL;
	}
	struct bgp_conf_neighbor *nb = &d->conf.nb[i];
	*nb = r->tmpl;
	nb->origin = BGP_NB_RANGE;
	nb->addr = *ss;
	nb->addr_len = ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
			sizeof(struct sockaddr_in6);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)&nb->addr)->sin_port = htons(BGP_DEFAULT_PORT);
	else
		((struct sockaddr_in6 *)&nb->addr)->sin6_port = htons(BGP_DEFAULT_PORT);
	/* The address without the port, as a configured neighbor is named. */
	const void *ip = ss->ss_family == AF_INET ?
		(const void *)&((const struct sockaddr_in *)ss)->sin_addr :
		(const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (!inet_ntop(ss->ss_family, ip, nb->name, sizeof(nb->name)))
		snprintf(nb->name, sizeof(nb->name), "?");
	peer_init(d, i);
	struct bgp_peer *p = d->peers[i];
	conn_event(d, p, 0, &(struct bgp_fsm_in){ .ev = BGP_EV_START_PASSIVE }, NULL);
	TLOG_INFO(&d->log, "peer %s: a new neighbor from range %s", nb->name, r->tmpl.name);
	return p;
}

static int rtc_default(struct bgp_daemon *d);
static int vrf_setup(struct bgp_daemon *d, int i);

/* Graceful restart as the restarting speaker: was the last stop graceful,
 * and recent enough? The marker is consumed either way. */
static void gr_start(struct bgp_daemon *d)
{
	const struct bgp_conf *cf = &d->conf;
	if (bgp_gr_marker_path(cf->state_dir, cf->ctl_sock, d->gr_marker,
			       sizeof(d->gr_marker)) < 0) {
		TLOG_WARN(&d->log, "graceful restart: state directory path too long; "
			  "graceful restart off");
		d->gr_marker[0] = 0;
		return;
	}
	int64_t age = 0;
	const char *why = "";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int rc = bgp_gr_marker_take(d->gr_marker, ts.tv_sec, cf->gr_restart_time, &age, &why);
	if (rc < 0) {
		TLOG_WARN(&d->log, "graceful restart: marker %s: %s; a normal start", d->gr_marker,
			  strerror(-rc));
	} else if (rc == 0 && strcmp(why, "no marker") != 0) {
		TLOG_INFO(&d->log, "graceful restart: %s (stopped %llds ago, restart time %us); a "
			  "normal start", why, (long long)age, cf->gr_restart_time);
	} else if (rc == 1) {
		d->restarting = true;
		TLOG_INFO(&d->log, "graceful restart: stopped %llds ago (restart time %us): R bit "
			  "set, our routes wait for every neighbour's End-of-RIB (at most %us)",
			  (long long)age, cf->gr_restart_time, cf->startup_defer);
	}
}

int bgp_daemon_init(struct bgp_daemon *d, char *err, size_t errlen)
{
	struct bgp_conf *cf = &d->conf;
	d->ctl_fd = -1;
	for (int i = 0; i < BGP_CTL_CLIENTS; i++)
		d->ctl[i].fd = -1;
	d->started = bgp_now_ms();
	d->t_converge = d->started + 1000 * (int64_t)cf->startup_defer;
	d->converged = cf->startup_defer == 0;
	gr_start(d);
	if (bgp_rib_init(&d->rib, cf->as, cf->router_id, cf->cluster_id) < 0) {
		snprintf(err, errlen, "out of memory for the RIB");
		return -ENOMEM;
	}
	for (int i = 0; i < cf->n_vrf; i++) {
		int rc = vrf_setup(d, i);
		if (rc < 0) {
			snprintf(err, errlen, "routing instance %s: %s", cf->vrf[i].name,
				 strerror(-rc));
			return rc;
		}
	}
	if (rtc_default(d) < 0) {
		snprintf(err, errlen, "out of memory for the default rtc route");
		return -ENOMEM;
	}
	for (int i = 0; i < cf->n_nb; i++) {
		if (peer_alloc(d, i) < 0) {
			snprintf(err, errlen, "out of memory for %d neighbors", cf->n_nb);
			return -ENOMEM;
		}
		d->n_peers = i + 1;
		peer_init(d, i);
	}
	if (cf->n_listen == 0) {
		struct sockaddr_in6 any6 = { .sin6_family = AF_INET6,
					     .sin6_port = htons(BGP_DEFAULT_PORT) };
		struct sockaddr_in any4 = { .sin_family = AF_INET,
					    .sin_port = htons(BGP_DEFAULT_PORT) };
		memcpy(&cf->listen[0], &any4, sizeof(any4));
		cf->listen_len[0] = sizeof(any4);
		memcpy(&cf->listen[1], &any6, sizeof(any6));
		cf->listen_len[1] = sizeof(any6);
		cf->n_listen = 2;
	}
	for (int i = 0; i < cf->n_listen; i++)
		if (listen_on(d, &cf->listen[i], cf->listen_len[i], err, errlen) < 0)
			return -EADDRNOTAVAIL;
	int rc = bgp_ctl_open(d, err, errlen);
	if (rc < 0)
		return rc;
	for (int i = 0; i < d->n_peers; i++) {
		struct bgp_peer *p = d->peers[i];
		conn_event(d, p, 0, &(struct bgp_fsm_in){
			.ev = p->cfg->passive ? BGP_EV_START_PASSIVE : BGP_EV_START }, NULL);
	}
	return 0;
}

/* ---- a new configuration, applied live ---- */

#define BGP_CEASE_CONFIG_CHANGE 6 /* RFC 4486: Other Configuration Change */

/* Install (key non-empty) or remove (key "") the TCP MD5 key of nb's address
 * on the listeners of its family. */
static void listen_md5(struct bgp_daemon *d, const struct bgp_conf_neighbor *nb, const char *key)
{
	for (int i = 0; i < d->n_lfd; i++) {
		if (d->conf.listen[i].ss_family != nb->addr.ss_family)
			continue;
		int rc = bgp_sock_md5(d->lfd[i], &nb->addr, key);
		if (rc < 0 && key[0])
			TLOG_WARN(&d->log, "neighbor %s: TCP MD5 key on the listener: %s (kernel "
				  "without CONFIG_TCP_MD5SIG?)", nb->name, strerror(-rc));
	}
}

/* Both connections of p closed with Cease/subcode (a NOTIFICATION where an
 * OPEN went out, a plain close before); no automatic restart. */
static void peer_stop(struct bgp_daemon *d, struct bgp_peer *p, uint8_t subcode)
{
	for (int ci = 0; ci < 2; ci++) {
		struct bgp_conn *c = &p->conn[ci];
		if (c->fsm.state == BGP_IDLE)
			continue;
		struct bgp_fsm_in in = {
			.ev = c->fsm.state >= BGP_OPENSENT ? BGP_EV_MSG_ERROR : BGP_EV_STOP,
			.code = BGP_NOTIF_CEASE, .subcode = subcode };
		conn_event(d, p, ci, &in, NULL);
	}
	p->t_restart = 0;
	if (p->stale_afs)
		stale_purge(d, p, p->stale_afs, "neighbor reconfigured");
	if (p->cfg->password[0])
		listen_md5(d, p->cfg, "");
}

/* Fresh FSMs with p's (new) settings, then start. */
static void peer_start(struct bgp_daemon *d, struct bgp_peer *p)
{
	for (int ci = 0; ci < 2; ci++)
		bgp_fsm_init(&p->conn[ci].fsm, p->cfg->hold, d->conf.connretry, ci == 1);
	p->conn[0].fsm.passive = p->cfg->passive;
	if (p->cfg->password[0])
		listen_md5(d, p->cfg, p->cfg->password);
	conn_event(d, p, 0, &(struct bgp_fsm_in){
		.ev = p->cfg->passive ? BGP_EV_START_PASSIVE : BGP_EV_START }, NULL);
}

static int clear_adv(struct bgp_dest *dst, void *arg)
{
	bgp_rib_dest_forget(dst, *(const uint16_t *)arg);
	return 0;
}

static void neighbors_apply(struct bgp_daemon *d, const struct bgp_conf *nc,
			    const struct bgp_conf_diff *df)
{
	int n_old = d->conf.n_nb;
	for (int i = 0; i < n_old; i++) {
		struct bgp_peer *p = d->peers[i];
		struct bgp_conf_neighbor *nb = &d->conf.nb[i];
		if (df->nb[i] == BGP_CH_REMOVE) {
			nb->off = true;
			peer_stop(d, p, BGP_CEASE_DECONFIG);
			for (int ci = 0; ci < 2; ci++)
				bgp_wq_free(&p->conn[ci].wq);
			uint16_t idx = (uint16_t)i; /* what it was sent means nothing any more */
			for (int af = 0; af < BGP_AF_COUNT; af++)
				bgp_rib_walk(&d->rib, af, clear_adv, &idx);
			TLOG_INFO(&d->log, "peer %s: removed from the configuration, session stopped",
				  peer_name(p));
		} else if (df->nb[i] == BGP_CH_RESET) {
			peer_stop(d, p, BGP_CEASE_CONFIG_CHANGE);
			*nb = nc->nb[df->nb_to[i]];
			TLOG_INFO(&d->log, "peer %s: settings changed, session started again",
				  peer_name(p));
			peer_start(d, p);
		} else if (df->nb_to[i] >= 0) {
			/* the same session; only names may differ */
			memcpy(nb->router, nc->nb[df->nb_to[i]].router, sizeof(nb->router));
		}
	}
	for (int j = 0; j < nc->n_nb; j++) {
		if (!df->nb_add[j])
			continue;
		int i = peer_slot(d);
		if (i < 0) {
			TLOG_ERR(&d->log, "neighbor %s: not started: %d neighbors already (at most "
				 "%d) or out of memory", nc->nb[j].name, d->n_peers,
				 BGP_CONF_MAX_NB);
			continue;
		}
		d->conf.nb[i] = nc->nb[j];
		peer_init(d, i);
		TLOG_INFO(&d->log, "peer %s: added to the configuration%s%s", peer_name(d->peers[i]),
			  nc->nb[j].router[0] ? ", bgp-router " : "", nc->nb[j].router);
		peer_start(d, d->peers[i]);
	}
}

/* Instance i of d->conf: its Loc-RIB, in the route-target index, its
 * routes, every VPN route imported. */
static int vrf_setup(struct bgp_daemon *d, int i)
{
	const struct bgp_vrf_conf *cf = &d->conf.vrf[i];
	if (vrfs_grow(d, i + 1) < 0 ||
	    (!d->vrf[i] && !(d->vrf[i] = calloc(1, sizeof(*d->vrf[i])))))
		return -ENOMEM;
	if (i >= d->n_vrf)
		d->n_vrf = i + 1;
	struct bgp_vrf *v = d->vrf[i];
	int rc = bgp_vrf_init(v, cf);
	if (rc == 0)
		rc = bgp_vrf_index_add(&d->vidx, v);
	if (rc == 0)
		rc = bgp_vrf_originate(&d->rib, cf);
	if (rc == 0)
		rc = bgp_vrf_index_import_all(&d->vidx, &d->rib, v);
	return rc;
}

/* Instance i out: its routes withdrawn, out of the index, its table freed. */
static void vrf_drop(struct bgp_daemon *d, int i)
{
	struct bgp_vrf *v = d->vrf[i];
	bgp_vrf_withdraw(&d->rib, v->cf);
	bgp_vrf_index_del(&d->vidx, v);
	bgp_vrf_free(&d->rib, v);
}

static void vrf_setup_log(struct bgp_daemon *d, int i)
{
	int rc = vrf_setup(d, i);
	if (rc < 0)
		TLOG_ERR(&d->log, "instance %s: %s; it lacks routes until they change",
			 d->conf.vrf[i].name, strerror(-rc));
}

static void instances_apply(struct bgp_daemon *d, const struct bgp_conf *nc,
			    const struct bgp_conf_diff *df)
{
	/* From the end: a removed instance's hole takes the last one, which has
	 * been dealt with already. */
	for (int i = d->n_vrf - 1; i >= 0; i--) {
		if (df->vrf[i] == BGP_CH_KEEP)
			continue;
		vrf_drop(d, i);
		if (df->vrf[i] == BGP_CH_RESET) {
			d->conf.vrf[i] = nc->vrf[df->vrf_to[i]];
			TLOG_INFO(&d->log, "instance %s: changed, routes imported again",
				  d->conf.vrf[i].name);
			vrf_setup_log(d, i);
			continue;
		}
		TLOG_INFO(&d->log, "instance %s: removed", d->conf.vrf[i].name);
		int last = --d->n_vrf;
		d->conf.n_vrf = d->n_vrf;
		d->conf.vrf[i] = d->conf.vrf[last];
		struct bgp_vrf *gone = d->vrf[i];
		d->vrf[i] = d->vrf[last];
		d->vrf[last] = NULL;
		free(gone);
		if (i != last)
			d->vrf[i]->cf = &d->conf.vrf[i];
	}
	for (int j = 0; j < nc->n_vrf; j++) {
		if (!df->vrf_add[j])
			continue;
		if (!bgp_conf_vrf_new(&d->conf, NULL)) { /* room reserved: only the limit */
			TLOG_ERR(&d->log, "instance %s: not added: %d instances already",
				 nc->vrf[j].name, d->n_vrf);
			continue;
		}
		int i = d->conf.n_vrf - 1;
		d->conf.vrf[i] = nc->vrf[j];
		TLOG_INFO(&d->log, "instance %s: added (vni %u, %d import and %d export targets)",
			  nc->vrf[j].name, nc->vrf[j].vni, nc->vrf[j].n_import, nc->vrf[j].n_export);
		vrf_setup_log(d, i);
	}
}

/* tern advertises the default rtc membership once any neighbor speaks rtc. */
static int rtc_default(struct bgp_daemon *d)
{
	const struct bgp_conf *cf = &d->conf;
	if (d->rtc_default)
		return 0;
	for (int i = 0; i < cf->n_nb + cf->n_range; i++) {
		const struct bgp_conf_neighbor *nb = i < cf->n_nb ? &cf->nb[i] :
						     &cf->range[i - cf->n_nb].tmpl;
		if (nb->off || !(nb->afs & BGP_AF_BIT(BGP_AF_RTC)))
			continue;
		if (bgp_rtc_originate_default(&d->rib, cf->router_id) < 0)
			return -ENOMEM;
		d->rtc_default = true;
		break;
	}
	return 0;
}

int bgp_daemon_reconfigure(struct bgp_daemon *d, const struct bgp_conf *nc,
			   struct bgp_conf_diff *df)
{
	if (bgp_conf_diff(&d->conf, nc, df) < 0)
		return -ENOMEM;
	/* Room for every addition first, so that d->conf does not move while
	 * peers and instances are added (and nothing is half applied for want
	 * of memory). */
	int n_nb = d->conf.n_nb + df->n_start, n_vrf = d->conf.n_vrf + df->n_vrf_add;
	if (n_nb > BGP_CONF_MAX_NB)
		n_nb = BGP_CONF_MAX_NB;
	if (n_vrf > BGP_VRF_MAX)
		n_vrf = BGP_VRF_MAX;
	if (bgp_conf_reserve(&d->conf, n_nb, n_vrf) < 0 ||
	    peers_grow(d, n_nb) < 0 ||
	    vrfs_grow(d, n_vrf) < 0) {
		bgp_conf_diff_free(df);
		return -ENOMEM;
	}
	conf_relink(d);
	neighbors_apply(d, nc, df);
	instances_apply(d, nc, df);
	conf_relink(d);
	if (rtc_default(d) < 0)
		TLOG_ERR(&d->log, "out of memory for the default rtc route");
	return 0;
}

/* Settings read at start only: said once per reload when the file changed
 * them. */
static void reload_fixed(struct bgp_daemon *d, const struct bgp_conf *nc)
{
	const struct bgp_conf *c = &d->conf;
	char what[160] = "";
	size_t n = 0;
	const struct { bool changed; const char *name; } f[] = {
		{ nc->as != c->as, "as" },
		{ nc->router_id != c->router_id, "router-id" },
		{ nc->cluster_id != c->cluster_id, "cluster-id" },
		{ nc->hold != c->hold || nc->connretry != c->connretry, "timers" },
		{ nc->n_range != c->n_range ||
		  memcmp(nc->range, c->range, (size_t)c->n_range * sizeof(c->range[0])) != 0,
		  "[neighbors] ranges" },
		{ nc->gr_restart_time != c->gr_restart_time, "graceful-restart" },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].changed && n < sizeof(what))
			n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%s", n ? ", " : "",
					      f[i].name);
	if (n)
		TLOG_WARN(&d->log, "reload %s: %s changed; that takes a restart, the running "
			  "values stay", d->conf_path, what);
}

int bgp_daemon_reload(struct bgp_daemon *d)
{
	if (!d->conf_path) {
		TLOG_WARN(&d->log, "SIGHUP ignored: no configuration file to read again (with "
			  "--api, tern-api changes apply on their own)");
		return -EINVAL;
	}
	struct bgp_conf nc;
	char err[512];
	int rc = bgp_conf_load(&nc, d->conf_path, 0, err, sizeof(err));
	if (rc < 0) {
		TLOG_ERR(&d->log, "reload refused, the running configuration stays: %s", err);
		return rc;
	}
	reload_fixed(d, &nc);
	struct bgp_conf_diff df;
	rc = bgp_daemon_reconfigure(d, &nc, &df);
	if (rc < 0)
		TLOG_ERR(&d->log, "reload %s: out of memory; the running configuration stays",
			 d->conf_path);
	else
		TLOG_INFO(&d->log, "reload %s: neighbors %d new, %d removed, %d reset; "
			  "instances %d new, %d removed, %d changed", d->conf_path, df.n_start,
			  df.n_stop, df.n_reset, df.n_vrf_add, df.n_vrf_remove, df.n_vrf_change);
	bgp_conf_diff_free(&df);
	bgp_conf_free(&nc);
	return rc;
}


/* A graceful stop (RFC 4724 §4.1): the sessions are closed without a
 * NOTIFICATION, so the peers keep our routes for the restart time, and the
 * marker tells the next start that it is a graceful restart. */
static bool gr_stop(struct bgp_daemon *d)
{
	if (d->stop != BGP_STOP_GRACEFUL || !d->conf.gr_restart_time || !d->gr_marker[0])
		return false;
	int n = 0;
	for (int i = 0; i < d->n_peers; i++) {
		struct bgp_peer *p = d->peers[i];
		n += p->est >= 0;
		for (int ci = 0; ci < 2; ci++) {
			conn_flush(&p->conn[ci]);
			conn_reset(&p->conn[ci]);
		}
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int rc = bgp_gr_marker_write(d->gr_marker, ts.tv_sec, d->conf.gr_restart_time);
	if (rc < 0)
		TLOG_WARN(&d->log, "graceful stop: cannot write the marker %s: %s; the next start "
			  "will be a normal one", d->gr_marker, strerror(-rc));
	else
		TLOG_INFO(&d->log, "graceful stop: %d sessions closed without NOTIFICATION, peers keep "
			  "our routes for %us (marker %s)", n, d->conf.gr_restart_time, d->gr_marker);
	return true;
}

void bgp_daemon_free(struct bgp_daemon *d)
{
	bool graceful = gr_stop(d);
	for (int i = 0; i < d->n_peers; i++) {
		struct bgp_peer *p = d->peers[i];
		for (int ci = 0; ci < 2; ci++) {
			if (p->conn[ci].fd >= 0 && !graceful)
				conn_event(d, p, ci, &(struct bgp_fsm_in){ .ev = BGP_EV_STOP }, NULL);
			conn_reset(&p->conn[ci]);
			bgp_wq_free(&p->conn[ci].wq);
		}
		bgp_rib_unref(&d->rib, p->adv.attrs);
		p->adv.attrs = NULL;
	}
	for (int i = 0; i < d->n_lfd; i++)
		close(d->lfd[i]);
	d->n_lfd = 0;
	bgp_ctl_close(d);
	for (int i = 0; i < d->cap_peers; i++)
		free(d->peers[i]);
	free(d->peers);
	d->peers = NULL;
	d->n_peers = d->cap_peers = 0;
	for (int i = 0; i < d->n_vrf; i++)
		bgp_vrf_free(&d->rib, d->vrf[i]);
	for (int i = 0; i < d->cap_vrf; i++)
		free(d->vrf[i]);
	free(d->vrf);
	d->vrf = NULL;
	d->n_vrf = d->cap_vrf = 0;
	bgp_vrf_index_free(&d->vidx);
	bgp_rib_free(&d->rib);
	free(d->pf);
	free(d->pwhat);
	d->pf = NULL;
	d->pwhat = NULL;
	bgp_conf_free(&d->conf);
}

/* What each pollfd is: kind 0 listener, 1 ctl listener, 2 ctl client, 3 conn,
 * 4 tern-api events. */
struct bgp_pollwhat {
	int kind, a, b;
};

/* The poll arrays sized for every descriptor there may be now (two per
 * peer); grown with the peers, never shrunk. */
static int poll_room(struct bgp_daemon *d)
{
	size_t need = (size_t)d->n_lfd + 2 + BGP_CTL_CLIENTS + 2 * (size_t)d->n_peers;
	if (need <= d->cap_pf)
		return 0;
	size_t cap = d->cap_pf ? d->cap_pf : 64;
	while (cap < need)
		cap *= 2;
	struct pollfd *pf = realloc(d->pf, cap * sizeof(*pf));
	if (pf)
		d->pf = pf;
	struct bgp_pollwhat *w = realloc(d->pwhat, cap * sizeof(*w));
	if (w)
		d->pwhat = w;
	if (!pf || !w)
		return -ENOMEM;
	d->cap_pf = cap;
	return 0;
}

int bgp_daemon_run(struct bgp_daemon *d)
{
	while (!d->stop) {
		if (d->reload) {
			d->reload = 0;
			bgp_daemon_reload(d);
		}
		if (poll_room(d) < 0) {
			TLOG_ERR(&d->log, "out of memory for the poll set of %d peers", d->n_peers);
			return -ENOMEM;
		}
		struct pollfd *pf = d->pf;
		struct bgp_pollwhat *what = d->pwhat;
		int n = 0;

		for (int i = 0; i < d->n_lfd; i++) {
			pf[n] = (struct pollfd){ .fd = d->lfd[i], .events = POLLIN };
			what[n++] = (struct bgp_pollwhat){ 0, i, 0 };
		}
		if (d->ctl_fd >= 0) {
			pf[n] = (struct pollfd){ .fd = d->ctl_fd, .events = POLLIN };
			what[n++] = (struct bgp_pollwhat){ 1, 0, 0 };
		}
		if (d->api) {
			pf[n] = (struct pollfd){ .fd = bgp_api_fd(d->api), .events = POLLIN };
			what[n++] = (struct bgp_pollwhat){ 4, 0, 0 };
		}
		for (int i = 0; i < BGP_CTL_CLIENTS; i++) {
			struct bgp_ctl_client *c = &d->ctl[i];
			if (c->fd < 0)
				continue;
			pf[n] = (struct pollfd){ .fd = c->fd, .events = c->reply ? POLLOUT : POLLIN };
			what[n++] = (struct bgp_pollwhat){ 2, i, 0 };
		}
		for (int i = 0; i < d->n_peers; i++) {
			for (int ci = 0; ci < 2; ci++) {
				struct bgp_conn *c = &d->peers[i]->conn[ci];
				if (c->fd < 0)
					continue;
				short ev = c->connecting ? POLLOUT : POLLIN;
				if (bgp_wq_pending(&c->wq))
					ev |= POLLOUT;
				pf[n] = (struct pollfd){ .fd = c->fd, .events = ev };
				what[n++] = (struct bgp_pollwhat){ 3, i, ci };
			}
		}
		int64_t now = bgp_now_ms(), dl = next_deadline(d);
		int timeout = dl ? (int)(dl > now ? dl - now : 0) : 1000;
		if (timeout > 1000)
			timeout = 1000; /* re-check the stop flag now and then */
		int rc = poll(pf, (nfds_t)n, timeout);
		if (rc < 0 && errno != EINTR) {
			TLOG_ERR(&d->log, "poll: %s", strerror(errno));
			return -errno;
		}
		for (int k = 0; rc > 0 && k < n; k++) {
			if (!pf[k].revents)
				continue;
			switch (what[k].kind) {
			case 0:
				do_accept(d, pf[k].fd);
				break;
			case 1:
				bgp_ctl_accept(d);
				break;
			case 2:
				bgp_ctl_io(d, &d->ctl[what[k].a], pf[k].revents);
				break;
			case 4:
				bgp_api_process(d);
				break;
			default: {
				struct bgp_peer *p = d->peers[what[k].a];
				struct bgp_conn *c = &p->conn[what[k].b];
				if (c->fd != pf[k].fd)
					break; /* closed by an earlier event of this round */
				if (c->connecting)
					connect_done(d, p);
				else if (pf[k].revents & (POLLIN | POLLERR | POLLHUP))
					conn_read(d, p, what[k].b);
				break;
			}
			}
		}
		run_timers(d, bgp_now_ms());
		process_dirty(d);
		for (int i = 0; i < d->n_peers; i++)
			for (int ci = 0; ci < 2; ci++)
				conn_flush(&d->peers[i]->conn[ci]);
	}
	TLOG_INFO(&d->log, "stopping");
	return 0;
}
