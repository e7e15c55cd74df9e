/*
 * DOC: agent_bgp_test.c — agent_bgp against fake controllers over loopback
 * TCP. A fake controller is a listening socket and the shared codec: it
 * checks the agent's OPEN and UPDATEs byte for byte (through the parser)
 * and sends its own. Both ends run in this one thread: every wait pumps the
 * agent (agent_bgp_pollfds/run) and the fakes' sockets until a deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent_bgp.h"
#include "bgp_sock.h"

#define ASN 64512u
#define AGENT_ID 0xc0000201u   /* 192.0.2.1: also the agent's next hop */
#define MAX_EV 64

struct fake {
	int lfd, fd;
	uint16_t port;
	bool addpath;            /* offers ADD-PATH send for VPNv4/VPNv6, as tern-control */
	uint8_t rbuf[1 << 16];
	size_t rlen;
};

struct ev {
	bool add;
	struct agent_bgp_path p;
};

struct t {
	struct agent_bgp *b;
	struct agent_bgp_conf conf;
	struct fake f[2];
	int nf;
	struct ev ev[MAX_EV];
	int nev;
	struct tern_log log;
	struct bgp_update upd;   /* parse scratch */
};

static void on_path(void *arg, bool add, const struct agent_bgp_path *p)
{
	struct t *t = arg;
	assert_true(t->nev < MAX_EV);
	t->ev[t->nev].add = add;
	t->ev[t->nev].p = *p;
	t->nev++;
}

/* ---- the fake controllers ---- */

static void fake_listen(struct fake *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
	socklen_t sl = sizeof(sa);
	f->fd = -1;
	f->rlen = 0;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
	f->port = ntohs(sa.sin_port);
}

static void fake_drop(struct fake *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->rlen = 0;
}

/* One round: poll the agent's and the fakes' descriptors, run the agent,
 * accept and read on the fakes' side. */
static void pump_once(struct t *t, int max_ms)
{
	struct pollfd fds[8];
	int timeout = max_ms;
	int n = agent_bgp_pollfds(t->b, fds, 4, &timeout);
	int m = n;
	for (int i = 0; i < t->nf; i++)
		fds[m++] = (struct pollfd){ .fd = t->f[i].fd >= 0 ? t->f[i].fd : t->f[i].lfd,
					    .events = POLLIN };
	poll(fds, (nfds_t)m, timeout);
	agent_bgp_run(t->b, fds, n);
	for (int i = 0; i < t->nf; i++) {
		struct fake *f = &t->f[i];
		if (f->fd < 0) {
			f->fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (f->fd < 0)
				continue;
		}
		ssize_t r = read(f->fd, f->rbuf + f->rlen, sizeof(f->rbuf) - f->rlen);
		if (r > 0)
			f->rlen += (size_t)r;
		else if (r == 0)
			fake_drop(f);
	}
}

static void pump(struct t *t, int ms)
{
	int64_t end = bgp_now_ms() + ms;
	for (int64_t now = bgp_now_ms(); now < end; now = bgp_now_ms())
		pump_once(t, (int)(end - now));
}

/* The next message from the agent to fake i (KEEPALIVEs skipped when asked):
 * its type, 0 when none came within ms. */
static int fake_recv(struct t *t, int i, uint8_t *body, size_t *len, bool skip_ka, int ms)
{
	struct fake *f = &t->f[i];
	int64_t end = bgp_now_ms() + ms;
	for (;;) {
		struct bgp_hdr h;
		struct bgp_err e;
		bgp_err_clear(&e);
		while (f->fd >= 0 && bgp_hdr_parse(f->rbuf, f->rlen, &h, &e) == 0 &&
		       h.len <= f->rlen) {
			*len = h.len - BGP_HDR_LEN;
			memcpy(body, f->rbuf + BGP_HDR_LEN, *len);
			memmove(f->rbuf, f->rbuf + h.len, f->rlen - h.len);
			f->rlen -= h.len;
			if (!(skip_ka && h.type == BGP_KEEPALIVE))
				return h.type;
		}
		int64_t now = bgp_now_ms();
		if (now >= end)
			return 0;
		pump_once(t, (int)(end - now));
	}
}

static void fake_send(struct fake *f, const uint8_t *buf, int len)
{
	assert_true(len > 0);
	assert_int_equal(write(f->fd, buf, (size_t)len), len);
}

static void fake_send_open(struct fake *f, uint32_t router_id)
{
	uint8_t buf[BGP_MAX_MSG];
	struct tern_wbuf w;
	struct bgp_open o = {
		.version = BGP_VERSION, .my_as = ASN, .hold = 90, .router_id = router_id,
		.caps = { .afs = BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6) |
				 BGP_AF_BIT(BGP_AF_EVPN),
			  .mp = true, .as4 = true, .as4_value = ASN, .route_refresh = true,
			  .gr = true,
			  .addpath_tx = f->addpath ? BGP_AF_BIT(BGP_AF_VPNV4) |
						     BGP_AF_BIT(BGP_AF_VPNV6) : 0 },
	};
	tern_wbuf_init(&w, buf, sizeof(buf));
	fake_send(f, buf, bgp_open_encode(&w, &o));
	tern_wbuf_init(&w, buf, sizeof(buf));
	fake_send(f, buf, bgp_keepalive_encode(&w));
}

static const char *peer_state(struct t *t, int i)
{
	struct agent_bgp_peer_status st[AGENT_BGP_MAX_PEERS];
	int n = agent_bgp_status(t->b, st, AGENT_BGP_MAX_PEERS);
	assert_true(i < n);
	return st[i].state;
}

static bool wait_state(struct t *t, int i, const char *state, int ms)
{
	int64_t end = bgp_now_ms() + ms;
	while (strcmp(peer_state(t, i), state) && bgp_now_ms() < end)
		pump_once(t, 10);
	return strcmp(peer_state(t, i), state) == 0;
}

/* Accept the agent's connection, check that its first message is an OPEN
 * (returned in o), answer, and wait for Established. */
static void fake_establish(struct t *t, int i, struct bgp_open *o)
{
	uint8_t body[BGP_MAX_MSG];
	size_t len;
	struct bgp_err e;
	assert_int_equal(fake_recv(t, i, body, &len, false, 5000), BGP_OPEN);
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(body, len, o, &e), 0);
	fake_send_open(&t->f[i], 0x0a000001u + (uint32_t)i);
	assert_int_equal(fake_recv(t, i, body, &len, false, 2000), BGP_KEEPALIVE);
	assert_true(wait_state(t, i, "Established", 2000));
}

/* ---- paths ---- */

static void rd_as2(uint8_t rd[8], uint16_t as, uint32_t v)
{
	memset(rd, 0, 8);
	rd[2] = (uint8_t)(as >> 8);
	rd[3] = (uint8_t)as;
	rd[4] = (uint8_t)(v >> 24);
	rd[5] = (uint8_t)(v >> 16);
	rd[6] = (uint8_t)(v >> 8);
	rd[7] = (uint8_t)v;
}

static struct agent_bgp_path vpn(int af, uint32_t rd, const char *ip, uint32_t label,
				 const char *nh, uint32_t rt)
{
	struct agent_bgp_path p;
	memset(&p, 0, sizeof(p));
	p.prefix.af = (uint8_t)af;
	rd_as2(p.prefix.rd, ASN, rd);
	if (af == BGP_AF_VPNV4) {
		assert_int_equal(inet_pton(AF_INET, ip, p.prefix.addr), 1);
		p.prefix.plen = 32;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, p.prefix.addr), 1);
		p.prefix.plen = 128;
	}
	p.label = label;
	if (nh) {
		p.nh_len = 4;
		assert_int_equal(inet_pton(AF_INET, nh, p.nh), 1);
	}
	bgp_ext_rt_as2(p.ext[0], ASN, rt);
	bgp_ext_encap(p.ext[1], BGP_TUNNEL_MPLS_UDP);
	p.n_ext = 2;
	return p;
}

static struct agent_bgp_path evpn2(uint32_t rd, uint8_t mac_last, const char *ip, uint32_t vni)
{
	struct agent_bgp_path p;
	memset(&p, 0, sizeof(p));
	p.prefix.af = BGP_AF_EVPN;
	p.prefix.evpn_type = 2;
	rd_as2(p.prefix.rd, ASN, rd);
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, mac_last };
	memcpy(p.prefix.mac, mac, 6);
	assert_int_equal(inet_pton(AF_INET, ip, p.prefix.addr), 1);
	p.prefix.plen = 32;
	p.prefix.n_labels = 1;
	p.label = vni;  /* the 24-bit label field: a VNI for VXLAN */
	bgp_ext_rt_as2(p.ext[0], ASN, 5000);
	bgp_ext_encap(p.ext[1], BGP_TUNNEL_VXLAN);
	p.n_ext = 2;
	return p;
}

/* One NLRI as the fake received it. */
struct got {
	struct bgp_nlri n;
	int update;               /* which UPDATE it came in */
	uint8_t nh_len, nh[32];
	uint32_t has, local_pref;
	uint8_t origin;
	uint16_t as_path_len;
	uint16_t n_ext;
	uint8_t ext[16][8];
	bool withdraw;
};

static const uint32_t ALL_AFS = BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6) |
				BGP_AF_BIT(BGP_AF_EVPN);

/* Parse an UPDATE from the agent; append its NLRI to g. Returns the
 * End-of-RIB family or -1. */
static int collect(struct t *t, const uint8_t *body, size_t len, int update, struct got *g,
		   int *ng, int max)
{
	struct bgp_peer_ctx ctx = { .ebgp = false, .peer_as = ASN, .afs = ALL_AFS };
	struct bgp_err e;
	struct bgp_update *u = &t->upd;
	bgp_err_clear(&e);
	assert_int_equal(bgp_update_parse(body, len, &ctx, u, &e), 0);
	assert_int_equal(e.action, BGP_ERR_NONE);
	int eor = bgp_update_eor(u, len);
	if (eor >= 0)
		return eor;
	for (int pass = 0; pass < 2; pass++) {
		bool wd = pass == 0;
		int af = wd ? u->unreach_af : u->reach_af;
		if (af < 0)
			continue;
		struct bgp_nlri_iter it;
		char err[128];
		struct bgp_bytes f = wd ? u->unreach : u->reach;
		bgp_nlri_iter_init(&it, af, f.p, f.len, wd);
		struct bgp_nlri n;
		while (bgp_nlri_next(&it, &n, err, sizeof(err)) == 1) {
			assert_true(*ng < max);
			struct got *x = &g[(*ng)++];
			memset(x, 0, sizeof(*x));
			x->n = n;
			x->update = update;
			x->withdraw = wd;
			if (wd)
				continue;
			x->nh_len = u->mp_nh_len;
			memcpy(x->nh, u->mp_nh, sizeof(x->nh));
			x->has = u->attrs.has;
			x->local_pref = u->attrs.local_pref;
			x->origin = u->attrs.origin;
			x->as_path_len = u->attrs.as_path.len;
			x->n_ext = u->attrs.ext_communities.len / 8;
			memcpy(x->ext, u->attrs.ext_communities.p, u->attrs.ext_communities.len);
		}
	}
	return -1;
}

static const struct got *find_got(const struct got *g, int n, const struct bgp_prefix *p)
{
	for (int i = 0; i < n; i++)
		if (memcmp(&g[i].n.p, p, BGP_PREFIX_KEY_LEN) == 0)
			return &g[i];
	return NULL;
}

/* What the agent must have sent for p: the exact key, label, next hop
 * (VPNv6: IPv4-mapped), communities and the iBGP attributes. */
static void check_sent(const struct got *g, const struct agent_bgp_path *p)
{
	assert_non_null(g);
	assert_false(g->withdraw);
	assert_memory_equal(&g->n.p, &p->prefix, BGP_PREFIX_KEY_LEN);
	assert_int_equal(g->n.label, p->label);
	if (p->prefix.af == BGP_AF_VPNV6) {
		uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
		memcpy(mapped + 12, p->nh, 4);
		assert_int_equal(g->nh_len, 16);
		assert_memory_equal(g->nh, mapped, 16);
	} else {
		assert_int_equal(g->nh_len, 4);
		assert_memory_equal(g->nh, p->nh, 4);
	}
	assert_true(g->has & BGP_HAS(BGP_ATTR_ORIGIN));
	assert_int_equal(g->origin, BGP_ORIGIN_IGP);
	assert_true(g->has & BGP_HAS(BGP_ATTR_AS_PATH));
	assert_int_equal(g->as_path_len, 0);
	assert_true(g->has & BGP_HAS(BGP_ATTR_LOCAL_PREF));
	assert_int_equal(g->local_pref, p->local_pref ? p->local_pref : 100);
	assert_int_equal(g->n_ext, p->n_ext);
	assert_memory_equal(g->ext, p->ext, (size_t)p->n_ext * 8);
}

/* An UPDATE from a fake controller: p announced (withdraw false) or
 * withdrawn under path identifier id (when the fake sends ADD-PATH), with
 * the attributes a reflector passes on. */
static void fake_update_id(struct fake *f, const struct agent_bgp_path *p, bool withdraw,
			   uint32_t id)
{
	static const uint8_t empty[1];
	uint8_t buf[BGP_MAX_MSG];
	struct tern_wbuf w;
	struct bgp_attrs a;
	struct bgp_nlri n = { .p = p->prefix, .label = p->label, .path_id = id };
	memset(&a, 0, sizeof(a));
	a.has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
		BGP_HAS(BGP_ATTR_LOCAL_PREF) | BGP_HAS(BGP_ATTR_ORIGINATOR_ID) |
		BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
	a.as_path = (struct bgp_bytes){ empty, 0 };
	a.local_pref = p->local_pref ? p->local_pref : 100;
	a.originator_id = 0xc0000202u;
	a.ext_communities = (struct bgp_bytes){ p->ext[0], (uint16_t)(p->n_ext * 8) };
	a.nh_len = p->nh_len;
	memcpy(a.nh, p->nh, p->nh_len);
	tern_wbuf_init(&w, buf, sizeof(buf));
	bool ap = f->addpath && p->prefix.af != BGP_AF_EVPN;
	int len = withdraw ? bgp_update_encode_ap(&w, p->prefix.af, NULL, NULL, 0, &n, 1, ap)
			   : bgp_update_encode_ap(&w, p->prefix.af, &a, &n, 1, NULL, 0, ap);
	fake_send(f, buf, len);
}

static void fake_update(struct fake *f, const struct agent_bgp_path *p, bool withdraw)
{
	fake_update_id(f, p, withdraw, 0);
}

static void fake_eor(struct fake *f, int af)
{
	uint8_t buf[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, buf, sizeof(buf));
	fake_send(f, buf, bgp_eor_encode(&w, af));
}

/* ---- fixtures ---- */

static struct t *t_new(int n_fakes, bool restarting, uint16_t gr_time)
{
	struct t *t = calloc(1, sizeof(*t));
	char err[200];
	assert_non_null(t);
	tern_log_init(&t->log, "agent_bgp_test", NULL,
		      getenv("AGENT_BGP_TEST_LOG") ? TERN_LOG_DEBUG : TERN_LOG_ERR);
	t->nf = n_fakes;
	struct agent_bgp_conf *c = &t->conf;
	c->asn = ASN;
	c->router_id = AGENT_ID;
	c->connretry = 1;
	c->restarting = restarting;
	c->gr_time = gr_time;
	c->n_peers = n_fakes;
	for (int i = 0; i < n_fakes; i++) {
		fake_listen(&t->f[i]);
		snprintf(c->peers[i].addr, sizeof(c->peers[i].addr), "127.0.0.1");
		c->peers[i].port = t->f[i].port;
	}
	t->b = agent_bgp_new(c, &t->log, on_path, t, err, sizeof(err));
	assert_non_null(t->b);
	return t;
}

static void t_free(struct t *t)
{
	agent_bgp_free(t->b, false);
	for (int i = 0; i < t->nf; i++) {
		fake_drop(&t->f[i]);
		close(t->f[i].lfd);
	}
	free(t);
}

/* ---- tests ---- */

static void test_conf_errors(void **state)
{
	(void)state;
	struct agent_bgp_conf c = { .asn = ASN, .router_id = AGENT_ID, .n_peers = 1 };
	char err[200];
	snprintf(c.peers[0].addr, sizeof(c.peers[0].addr), "controller-1");
	assert_null(agent_bgp_new(&c, NULL, NULL, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "controller-1"));
	snprintf(c.peers[0].addr, sizeof(c.peers[0].addr), "10.0.0.1");
	c.afs = BGP_AF_BIT(BGP_AF_IPV4);
	assert_null(agent_bgp_new(&c, NULL, NULL, NULL, err, sizeof(err)));
	c.afs = 0;
	c.n_peers = 0;
	assert_null(agent_bgp_new(&c, NULL, NULL, NULL, err, sizeof(err)));
	c.n_peers = 1;
	struct agent_bgp *b = agent_bgp_new(&c, NULL, NULL, NULL, err, sizeof(err));
	assert_non_null(b);
	/* a VPNv4 path needs an IPv4 next hop; labels have 20 bits */
	struct agent_bgp_path p = vpn(BGP_AF_VPNV4, 1, "10.1.1.1", 16, NULL, 100);
	p.nh_len = 16;
	assert_int_equal(agent_bgp_announce(b, &p, err, sizeof(err)), -EINVAL);
	p.nh_len = 0;
	p.label = 1u << 20;
	assert_int_equal(agent_bgp_announce(b, &p, err, sizeof(err)), -EINVAL);
	agent_bgp_free(b, false);
	agent_bgp_free(NULL, false);
}

static void test_open_caps(void **state)
{
	(void)state;
	struct t *t = t_new(1, true, 77);
	struct bgp_open o;
	fake_establish(t, 0, &o);
	assert_int_equal(o.version, 4);
	assert_int_equal(o.my_as, ASN);
	assert_int_equal(o.hold, 90);
	assert_int_equal(o.router_id, AGENT_ID);
	assert_true(o.caps.mp);
	assert_int_equal(o.caps.afs, ALL_AFS);
	assert_true(o.caps.as4);
	assert_int_equal(o.caps.as4_value, ASN);
	assert_true(o.caps.route_refresh);
	assert_true(o.caps.gr);
	assert_true(o.caps.gr_restarting);
	assert_int_equal(o.caps.gr_time, 77);
	assert_int_equal(o.caps.gr_afs, ALL_AFS);
	assert_int_equal(o.caps.gr_fwd, ALL_AFS);
	/* Once up, the restart is over: a new session has no R bit. */
	fake_drop(&t->f[0]);
	fake_establish(t, 0, &o);
	assert_true(o.caps.gr);
	assert_false(o.caps.gr_restarting);
	t_free(t);
}

static void test_open_as4(void **state)
{
	(void)state;
	struct t *t = calloc(1, sizeof(*t));
	char err[200];
	uint8_t body[BGP_MAX_MSG];
	size_t len;
	struct bgp_open o;
	struct bgp_err e;
	assert_non_null(t);
	tern_log_init(&t->log, "agent_bgp_test", NULL, TERN_LOG_ERR);
	t->nf = 1;
	fake_listen(&t->f[0]);
	t->conf = (struct agent_bgp_conf){ .asn = 4200000001u, .router_id = AGENT_ID,
					   .n_peers = 1 };
	snprintf(t->conf.peers[0].addr, sizeof(t->conf.peers[0].addr), "127.0.0.1");
	t->conf.peers[0].port = t->f[0].port;
	t->b = agent_bgp_new(&t->conf, &t->log, on_path, t, err, sizeof(err));
	assert_non_null(t->b);
	assert_int_equal(fake_recv(t, 0, body, &len, false, 5000), BGP_OPEN);
	bgp_err_clear(&e);
	assert_int_equal(bgp_open_parse(body, len, &o, &e), 0);
	assert_int_equal(o.my_as, BGP_AS_TRANS);
	assert_int_equal(bgp_open_as(&o), 4200000001u);
	assert_false(o.caps.gr_restarting);
	assert_int_equal(o.caps.gr_time, 120);
	t_free(t);
}

static void test_announce_withdraw_eor(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 0);
	char err[200];
	struct agent_bgp_path p[4] = {
		vpn(BGP_AF_VPNV4, 1, "10.1.1.5", 17, NULL, 100),
		vpn(BGP_AF_VPNV4, 1, "10.1.1.6", 18, NULL, 100),
		vpn(BGP_AF_VPNV6, 1, "fd00::5", 19, NULL, 100),
		evpn2(1, 5, "10.1.1.5", 5000),
	};
	uint8_t self[4] = { 192, 0, 2, 1 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(agent_bgp_announce(t->b, &p[i], err, sizeof(err)), 0);
		p[i].nh_len = 4; /* unset: the agent's router id */
		memcpy(p[i].nh, self, 4);
	}
	struct bgp_open o;
	fake_establish(t, 0, &o);
	struct got g[16];
	int ng = 0, updates = 0, type;
	uint8_t body[BGP_MAX_MSG];
	size_t len;
	/* The table, then silence: no End-of-RIB before initial_done. */
	while ((type = fake_recv(t, 0, body, &len, true, 300)) != 0) {
		assert_int_equal(type, BGP_UPDATE);
		assert_int_equal(collect(t, body, len, updates++, g, &ng, 16), -1);
	}
	assert_int_equal(ng, 4);
	assert_int_equal(updates, 3); /* the two VPNv4 paths share attributes */
	for (int i = 0; i < 4; i++)
		check_sent(find_got(g, ng, &p[i].prefix), &p[i]);
	assert_int_equal(find_got(g, ng, &p[0].prefix)->update,
			 find_got(g, ng, &p[1].prefix)->update);
	struct agent_bgp_peer_status st;
	assert_int_equal(agent_bgp_status(t->b, &st, 1), 1);
	assert_string_equal(st.state, "Established");
	assert_int_equal(st.paths_out, 4);

	agent_bgp_initial_done(t->b);
	uint32_t eors = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fake_recv(t, 0, body, &len, true, 1000), BGP_UPDATE);
		int af = collect(t, body, len, updates++, g, &ng, 16);
		assert_true(af >= 0);
		eors |= BGP_AF_BIT(af);
	}
	assert_int_equal(eors, ALL_AFS);

	/* Withdraw, then a change of attributes: one UPDATE each. */
	assert_int_equal(agent_bgp_withdraw(t->b, &p[0].prefix), 0);
	assert_int_equal(agent_bgp_withdraw(t->b, &p[0].prefix), 0); /* no-op */
	assert_int_equal(fake_recv(t, 0, body, &len, true, 1000), BGP_UPDATE);
	ng = 0;
	assert_int_equal(collect(t, body, len, updates++, g, &ng, 16), -1);
	assert_int_equal(ng, 1);
	assert_true(g[0].withdraw);
	assert_memory_equal(&g[0].n.p, &p[0].prefix, BGP_PREFIX_KEY_LEN);

	p[3].local_pref = 200;
	assert_int_equal(agent_bgp_announce(t->b, &p[3], err, sizeof(err)), 0);
	assert_int_equal(agent_bgp_announce(t->b, &p[3], err, sizeof(err)), 0); /* same */
	assert_int_equal(fake_recv(t, 0, body, &len, true, 1000), BGP_UPDATE);
	ng = 0;
	assert_int_equal(collect(t, body, len, updates++, g, &ng, 16), -1);
	assert_int_equal(ng, 1);
	check_sent(&g[0], &p[3]);
	assert_int_equal(fake_recv(t, 0, body, &len, true, 200), 0);
	t_free(t);
}

static void test_learn(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 0);
	struct bgp_open o;
	fake_establish(t, 0, &o);
	agent_bgp_initial_done(t->b);
	struct agent_bgp_path a = vpn(BGP_AF_VPNV4, 2, "10.2.0.7", 30, "192.0.2.2", 100);
	fake_update(&t->f[0], &a, false);
	pump(t, 200);
	assert_int_equal(t->nev, 1);
	assert_true(t->ev[0].add);
	a.local_pref = 100; /* as received */
	assert_memory_equal(&t->ev[0].p.prefix, &a.prefix, BGP_PREFIX_KEY_LEN);
	assert_int_equal(t->ev[0].p.label, 30);
	assert_int_equal(t->ev[0].p.nh_len, 4);
	assert_memory_equal(t->ev[0].p.nh, a.nh, 4);
	assert_int_equal(t->ev[0].p.n_ext, 2);
	assert_memory_equal(t->ev[0].p.ext, a.ext, 16);
	assert_int_equal(t->ev[0].p.local_pref, 100);

	fake_update(&t->f[0], &a, false); /* the same again: nothing new */
	pump(t, 100);
	assert_int_equal(t->nev, 1);
	a.label = 31;
	fake_update(&t->f[0], &a, false); /* changed */
	pump(t, 100);
	assert_int_equal(t->nev, 2);
	assert_true(t->ev[1].add);
	assert_int_equal(t->ev[1].p.label, 31);

	/* VPNv6 with an IPv4-mapped next hop, EVPN with its label field */
	struct agent_bgp_path v6 = vpn(BGP_AF_VPNV6, 2, "fd00::7", 32, NULL, 100);
	uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 3 };
	v6.nh_len = 16;
	memcpy(v6.nh, mapped, 16);
	fake_update(&t->f[0], &v6, false);
	struct agent_bgp_path e2 = evpn2(2, 7, "10.2.0.7", 5001);
	e2.nh_len = 4;
	memcpy(e2.nh, (uint8_t[4]){ 192, 0, 2, 2 }, 4);
	fake_update(&t->f[0], &e2, false);
	pump(t, 150);
	assert_int_equal(t->nev, 4);
	assert_int_equal(t->ev[2].p.nh_len, 4);
	assert_memory_equal(t->ev[2].p.nh, mapped + 12, 4);
	assert_memory_equal(&t->ev[3].p.prefix, &e2.prefix, BGP_PREFIX_KEY_LEN);
	assert_int_equal(t->ev[3].p.label, 5001);

	/* Our own paths, reflected back, are not learned. */
	struct agent_bgp_path own = vpn(BGP_AF_VPNV4, 1, "10.1.1.5", 17, "192.0.2.1", 100);
	fake_update(&t->f[0], &own, false);
	pump(t, 100);
	assert_int_equal(t->nev, 4);

	fake_update(&t->f[0], &a, true);
	pump(t, 100);
	assert_int_equal(t->nev, 5);
	assert_false(t->ev[4].add);
	assert_memory_equal(&t->ev[4].p.prefix, &a.prefix, BGP_PREFIX_KEY_LEN);
	struct agent_bgp_peer_status st;
	agent_bgp_status(t->b, &st, 1);
	assert_int_equal(st.paths_in, 2);
	t_free(t);
}

static void test_stale_then_eor(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 0);
	struct bgp_open o;
	fake_establish(t, 0, &o);
	struct agent_bgp_path a = vpn(BGP_AF_VPNV4, 2, "10.2.0.7", 30, "192.0.2.2", 100);
	struct agent_bgp_path c = vpn(BGP_AF_VPNV4, 2, "10.2.0.8", 31, "192.0.2.2", 100);
	struct agent_bgp_path e2 = evpn2(2, 7, "10.2.0.7", 5001);
	e2.nh_len = 4;
	memcpy(e2.nh, (uint8_t[4]){ 192, 0, 2, 2 }, 4);
	fake_update(&t->f[0], &a, false);
	fake_update(&t->f[0], &c, false);
	fake_update(&t->f[0], &e2, false);
	pump(t, 200);
	assert_int_equal(t->nev, 3);

	/* The controller goes away: the paths stay, nothing is deleted. */
	fake_drop(&t->f[0]);
	assert_true(wait_state(t, 0, "Idle", 2000) || !strcmp(peer_state(t, 0), "Connect") ||
		    !strcmp(peer_state(t, 0), "Active"));
	pump(t, 300);
	assert_int_equal(t->nev, 3);
	struct agent_bgp_peer_status st;
	agent_bgp_status(t->b, &st, 1);
	assert_int_equal(st.flaps, 1);
	assert_int_equal(st.paths_in, 3);

	/* It is back: a is sent again, c is not; End-of-RIB VPNv4 removes c
	 * only (EVPN waits for its own End-of-RIB). */
	fake_establish(t, 0, &o);
	fake_update(&t->f[0], &a, false);
	fake_eor(&t->f[0], BGP_AF_VPNV4);
	pump(t, 200);
	assert_int_equal(t->nev, 4);
	assert_false(t->ev[3].add);
	assert_memory_equal(&t->ev[3].p.prefix, &c.prefix, BGP_PREFIX_KEY_LEN);
	fake_eor(&t->f[0], BGP_AF_EVPN);
	pump(t, 200);
	assert_int_equal(t->nev, 5);
	assert_false(t->ev[4].add);
	assert_memory_equal(&t->ev[4].p.prefix, &e2.prefix, BGP_PREFIX_KEY_LEN);
	t_free(t);
}

static void test_stale_timeout(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 1);
	struct bgp_open o;
	fake_establish(t, 0, &o);
	struct agent_bgp_path a = vpn(BGP_AF_VPNV4, 2, "10.2.0.7", 30, "192.0.2.2", 100);
	fake_update(&t->f[0], &a, false);
	pump(t, 100);
	assert_int_equal(t->nev, 1);
	fake_drop(&t->f[0]);
	pump(t, 200);
	fake_establish(t, 0, &o);
	pump(t, 500);
	assert_int_equal(t->nev, 1);     /* within gr_time: still there */
	pump(t, 1000);
	assert_int_equal(t->nev, 2);     /* no End-of-RIB in time: gone */
	assert_false(t->ev[1].add);
	t_free(t);
}

static void test_two_controllers(void **state)
{
	(void)state;
	struct t *t = t_new(2, false, 0);
	struct bgp_open o;
	fake_establish(t, 0, &o);
	fake_establish(t, 1, &o);
	struct agent_bgp_path a = vpn(BGP_AF_VPNV4, 2, "10.2.0.7", 30, "192.0.2.2", 100);
	fake_update(&t->f[0], &a, false);
	fake_update(&t->f[1], &a, false);
	pump(t, 200);
	assert_int_equal(t->nev, 1);
	assert_true(t->ev[0].add);
	fake_update(&t->f[0], &a, true);
	pump(t, 100);
	assert_int_equal(t->nev, 1);
	/* A controller dropping does not delete what the other still has. */
	fake_update(&t->f[0], &a, false);
	pump(t, 100);
	fake_drop(&t->f[0]);
	pump(t, 100);
	assert_int_equal(t->nev, 1);
	fake_update(&t->f[1], &a, true);
	pump(t, 100);
	assert_int_equal(t->nev, 1);     /* controller 0's stale copy keeps it */
	fake_establish(t, 0, &o);
	fake_eor(&t->f[0], BGP_AF_VPNV4);
	pump(t, 200);
	assert_int_equal(t->nev, 2);
	assert_false(t->ev[1].add);
	t_free(t);
}

/* A route reflector with ADD-PATH may move one path to a new identifier
 * (tern-control does when its best path for the destination changes to
 * another with the same next hop: ctl1's copy of a route instead of ctl2's).
 * The old identifier's withdrawal must not delete the path the new one
 * still carries. */
static void test_addpath_same_nh(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 0);
	t->f[0].addpath = true;
	struct bgp_open o;
	fake_establish(t, 0, &o);
	assert_int_equal(o.caps.addpath_rx, BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6));
	struct agent_bgp_path a = vpn(BGP_AF_VPNV4, 2, "10.2.0.7", 30, "192.0.2.2", 100);
	fake_update_id(&t->f[0], &a, false, 1);
	pump(t, 100);
	assert_int_equal(t->nev, 1);
	assert_true(t->ev[0].add);
	/* Make before break: the new identifier first, then the old one goes. */
	fake_update_id(&t->f[0], &a, false, 2);
	fake_update_id(&t->f[0], &a, true, 1);
	pump(t, 150);
	assert_int_equal(t->nev, 1);
	struct agent_bgp_peer_status st;
	agent_bgp_status(t->b, &st, 1);
	assert_int_equal(st.paths_in, 1);
	/* The same with a new label under the new identifier: reported once,
	 * and the old identifier's withdrawal leaves the new label in place. */
	a.label = 31;
	fake_update_id(&t->f[0], &a, false, 3);
	pump(t, 100);
	assert_int_equal(t->nev, 2);
	assert_true(t->ev[1].add);
	assert_int_equal(t->ev[1].p.label, 31);
	fake_update_id(&t->f[0], &a, true, 2);
	pump(t, 100);
	assert_int_equal(t->nev, 2);
	/* An identifier that changes its next hop keeps the other identifier's
	 * path with the old next hop. */
	struct agent_bgp_path b2 = a;
	b2.label = 30;
	fake_update_id(&t->f[0], &b2, false, 4);   /* same next hop, label 30 */
	pump(t, 100);
	int n = t->nev;
	struct agent_bgp_path moved = b2;
	assert_int_equal(inet_pton(AF_INET, "192.0.2.9", moved.nh), 1);
	fake_update_id(&t->f[0], &moved, false, 4);
	pump(t, 100);
	for (int i = n; i < t->nev; i++)
		assert_true(t->ev[i].add);  /* the new next hop; nothing deleted */
	/* The last identifier with each next hop gone: deleted. */
	fake_update_id(&t->f[0], &a, true, 3);
	fake_update_id(&t->f[0], &moved, true, 4);
	pump(t, 150);
	int dels = 0;
	for (int i = n; i < t->nev; i++)
		dels += !t->ev[i].add;
	assert_int_equal(dels, 2);
	agent_bgp_status(t->b, &st, 1);
	assert_int_equal(st.paths_in, 0);
	t_free(t);
}

/* The same across a controller restart: after it, the controller sends the
 * path under another identifier (they are its own, per destination), and
 * End-of-RIB sweeps the stale old one: the path must stay. */
static void test_addpath_stale_new_id(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 0);
	t->f[0].addpath = true;
	struct bgp_open o;
	fake_establish(t, 0, &o);
	struct agent_bgp_path a = vpn(BGP_AF_VPNV4, 2, "10.2.0.7", 30, "192.0.2.2", 100);
	fake_update_id(&t->f[0], &a, false, 1);
	pump(t, 100);
	assert_int_equal(t->nev, 1);
	fake_drop(&t->f[0]);
	pump(t, 200);
	fake_establish(t, 0, &o);
	fake_update_id(&t->f[0], &a, false, 2);
	fake_eor(&t->f[0], BGP_AF_VPNV4);
	pump(t, 200);
	assert_int_equal(t->nev, 1);
	struct agent_bgp_peer_status st;
	agent_bgp_status(t->b, &st, 1);
	assert_int_equal(st.paths_in, 1);
	fake_update_id(&t->f[0], &a, true, 2);
	pump(t, 100);
	assert_int_equal(t->nev, 2);
	assert_false(t->ev[1].add);
	t_free(t);
}

static void test_update_error(void **state)
{
	(void)state;
	struct t *t = t_new(1, false, 0);
	struct bgp_open o;
	fake_establish(t, 0, &o);
	/* Total path attribute length past the end of the message: reset. */
	uint8_t bad[BGP_HDR_LEN + 4];
	memset(bad, 0xff, 16);
	bad[16] = 0;
	bad[17] = sizeof(bad);
	bad[18] = BGP_UPDATE;
	bad[19] = 0;
	bad[20] = 0;
	bad[21] = 0;
	bad[22] = 40;
	fake_send(&t->f[0], bad, sizeof(bad));
	uint8_t body[BGP_MAX_MSG];
	size_t len;
	assert_int_equal(fake_recv(t, 0, body, &len, true, 1000), BGP_NOTIFICATION);
	assert_int_equal(body[0], BGP_NOTIF_UPDATE);
	assert_true(wait_state(t, 0, "Idle", 1000) || strcmp(peer_state(t, 0), "Established"));
	struct agent_bgp_peer_status st;
	agent_bgp_status(t->b, &st, 1);
	assert_non_null(strstr(st.last_error, "UPDATE"));
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_open_caps),
		cmocka_unit_test(test_open_as4),
		cmocka_unit_test(test_announce_withdraw_eor),
		cmocka_unit_test(test_learn),
		cmocka_unit_test(test_stale_then_eor),
		cmocka_unit_test(test_stale_timeout),
		cmocka_unit_test(test_two_controllers),
		cmocka_unit_test(test_addpath_same_nh),
		cmocka_unit_test(test_addpath_stale_new_id),
		cmocka_unit_test(test_update_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
