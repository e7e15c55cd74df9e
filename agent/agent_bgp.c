/*
 * DOC: agent_bgp.c — the agent's iBGP speaker (see agent_bgp.h): one active
 * TCP connection per tern-control, the shared FSM (lib/bgp_fsm.c) fed with
 * socket and timer events, the shared codec (lib/bgp_msg.c) for every byte.
 *
 * Three path tables, all hashed on the prefix key (BGP_PREFIX_KEY_LEN bytes):
 *  - local: what the agent announces (prefix key -> path), sent whole on
 *    each Established, then change by change;
 *  - in, per controller: its Adj-RIB-In (prefix key and ADD-PATH path
 *    identifier -> path; without ADD-PATH one path per key);
 *  - merged: what the callback was told (prefix key + next hop -> path and
 *    the controllers holding it). A path is reported when it appears or
 *    changes and deleted when its last holder lets it go; a controller
 *    holds it while any of its identifiers has that next hop (it may move
 *    a path to a new identifier and withdraw the old one).
 * Stale paths (a session went down) stay in the controller's Adj-RIB-In
 * flagged; they are swept by that controller's End-of-RIB per family, or
 * gr_time seconds after it is back without one. While it is down nothing
 * is swept: the node keeps forwarding on what it knew (headless mode).
 *
 * The agent never listens, so there is one connection per controller and no
 * collision to resolve (RFC 4271 §6.8 needs two).
 */
#include "agent_bgp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgp_fsm.h"
#include "bgp_sock.h"

#define AGENT_BGP_AFS (BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6) | \
		       BGP_AF_BIT(BGP_AF_EVPN))
#define AGENT_BGP_ADDPATH_AFS (BGP_AF_BIT(BGP_AF_VPNV4) | BGP_AF_BIT(BGP_AF_VPNV6))
#define DEFAULT_LOCAL_PREF 100
#define BATCH_MAX 128   /* NLRI per UPDATE; the 4 KB limit usually comes first */

/* ---- path tables ---- */

struct pent {
	struct pent *next;
	uint32_t hash;
	bool stale;             /* in: learned before the session went down */
	uint8_t holders;        /* merged: bit per controller that has this path */
	uint32_t path_id;       /* in: the controller's ADD-PATH path identifier (0: none) */
	struct agent_bgp_path p;
};

struct ptab {
	struct pent **b;
	size_t nb, n;
	bool by_nh;             /* the key is prefix key + next hop (merged) */
};

/* ---- one controller ---- */

struct peer {
	int idx;
	char name[64];              /* the address as configured, for logs */
	struct sockaddr_storage addr, local;
	socklen_t addr_len, local_len;  /* local_len 0: no bind */
	char password[81];
	struct bgp_fsm fsm;
	int fd;                     /* -1: none */
	bool connecting;            /* non-blocking connect() in progress */
	bool r_bit;                 /* R bit in our OPEN: until the first Established */
	struct bgp_open open;       /* the controller's, from OpenConfirm on */
	uint32_t afs;               /* negotiated families, while Established */
	uint32_t ap_rx;             /* ADD-PATH (RFC 7911): families it sends path ids for */
	bool up, eor_sent;
	uint8_t rbuf[2 * BGP_MAX_MSG];
	size_t rlen;
	struct bgp_wq wq;
	int64_t t_connretry, t_hold, t_keepalive, t_restart, t_stale; /* ms; 0: off */
	uint32_t stale_afs;         /* families with stale paths waiting for End-of-RIB */
	struct ptab in;             /* Adj-RIB-In */
	uint64_t flaps;
	char last_error[200];
};

struct agent_bgp {
	struct agent_bgp_conf conf;
	uint8_t self_nh_len, self_nh[16];   /* conf.nh, or the router id */
	struct tern_log *log;
	struct tern_log own_log;            /* when the caller gives none */
	agent_bgp_cb cb;
	void *cb_arg;
	bool started, stopping, initial_done;
	struct ptab local;
	size_t n_local[BGP_AF_COUNT];
	struct ptab merged;
	struct bgp_update upd;              /* parse scratch (holds a 4 KB copy) */
	int n_peers;
	struct peer peers[AGENT_BGP_MAX_PEERS];
};

/* Truncation of a log message is fine; the return value is checked only to
 * say so to the compiler. */
#define SET_ERROR(x, ...) do { \
	if (snprintf((x)->last_error, sizeof((x)->last_error), __VA_ARGS__) < 0) \
		(x)->last_error[0] = 0; \
} while (0)

static uint32_t key_hash(const struct bgp_prefix *p, uint8_t nh_len, const uint8_t *nh,
			 bool by_nh)
{
	const uint8_t *k = (const uint8_t *)p;
	uint32_t h = 2166136261u;   /* FNV-1a: keys are short, spread is enough */
	for (size_t i = 0; i < BGP_PREFIX_KEY_LEN; i++)
		h = (h ^ k[i]) * 16777619u;
	if (by_nh)
		for (size_t i = 0; i < nh_len; i++)
			h = (h ^ nh[i]) * 16777619u;
	return h;
}

static bool nh_eq(uint8_t la, const uint8_t *a, uint8_t lb, const uint8_t *b)
{
	return la == lb && memcmp(a, b, la) == 0;
}

static struct pent *ptab_find(const struct ptab *t, const struct bgp_prefix *p, uint8_t nh_len,
			      const uint8_t *nh)
{
	if (!t->nb)
		return NULL;
	uint32_t h = key_hash(p, nh_len, nh, t->by_nh);
	for (struct pent *e = t->b[h & (t->nb - 1)]; e; e = e->next)
		if (e->hash == h && memcmp(&e->p.prefix, p, BGP_PREFIX_KEY_LEN) == 0 &&
		    (!t->by_nh || nh_eq(e->p.nh_len, e->p.nh, nh_len, nh)))
			return e;
	return NULL;
}

static struct pent *ptab_get(const struct ptab *t, const struct agent_bgp_path *p)
{
	return ptab_find(t, &p->prefix, p->nh_len, p->nh);
}

/* A controller's Adj-RIB-In (keyed by prefix): the entry of path
 * identifier id, or (id_any) the one with next hop nh. */
static struct pent *in_find(const struct ptab *t, const struct bgp_prefix *p, uint32_t id,
			    bool id_any, uint8_t nh_len, const uint8_t *nh)
{
	if (!t->nb)
		return NULL;
	uint32_t h = key_hash(p, 0, NULL, false);
	for (struct pent *e = t->b[h & (t->nb - 1)]; e; e = e->next)
		if (e->hash == h && memcmp(&e->p.prefix, p, BGP_PREFIX_KEY_LEN) == 0 &&
		    (id_any ? nh_eq(e->p.nh_len, e->p.nh, nh_len, nh) : e->path_id == id))
			return e;
	return NULL;
}

static int ptab_grow(struct ptab *t)
{
	size_t nb = t->nb ? t->nb * 2 : 256;
	struct pent **b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nb; i++)
		for (struct pent *e = t->b[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

/* A new entry holding a copy of p (the caller made sure none exists). NULL
 * when out of memory. */
static struct pent *ptab_add(struct ptab *t, const struct agent_bgp_path *p)
{
	if (t->n >= t->nb && ptab_grow(t) < 0)
		return NULL;
	struct pent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->p = *p;
	e->hash = key_hash(&p->prefix, p->nh_len, p->nh, t->by_nh);
	e->next = t->b[e->hash & (t->nb - 1)];
	t->b[e->hash & (t->nb - 1)] = e;
	t->n++;
	return e;
}

static void ptab_del(struct ptab *t, struct pent *e)
{
	for (struct pent **pp = &t->b[e->hash & (t->nb - 1)]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			t->n--;
			free(e);
			return;
		}
}

static void ptab_free(struct ptab *t)
{
	for (size_t i = 0; i < t->nb; i++)
		for (struct pent *e = t->b[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

/* Field by field: the struct has padding. */
static int pmsi_cmp(const struct bgp_pmsi *a, const struct bgp_pmsi *b)
{
	if (a->flags != b->flags || a->type != b->type)
		return a->flags != b->flags ? (a->flags < b->flags ? -1 : 1) :
					      (a->type < b->type ? -1 : 1);
	if (a->label != b->label)
		return a->label < b->label ? -1 : 1;
	if (a->id_len != b->id_len)
		return a->id_len < b->id_len ? -1 : 1;
	return memcmp(a->id, b->id, a->id_len <= BGP_PMSI_ID_MAX ? a->id_len : BGP_PMSI_ID_MAX);
}

/* Everything the callback reports: the prefix (with the fields outside the
 * key), label, next hop, communities, LOCAL_PREF. */
static bool path_same(const struct agent_bgp_path *a, const struct agent_bgp_path *b)
{
	return memcmp(&a->prefix, &b->prefix, sizeof(a->prefix)) == 0 && a->label == b->label &&
	       nh_eq(a->nh_len, a->nh, b->nh_len, b->nh) && a->n_ext == b->n_ext &&
	       memcmp(a->ext, b->ext, (size_t)a->n_ext * 8) == 0 && a->local_pref == b->local_pref &&
	       pmsi_cmp(&a->pmsi, &b->pmsi) == 0;
}

/* ---- the merged view and the callback ---- */

static void report(struct agent_bgp *b, bool add, const struct agent_bgp_path *p)
{
	if (b->cb)
		b->cb(b->cb_arg, add, p);
}

/* Controller x now has path p. */
static void merged_hold(struct agent_bgp *b, struct peer *x, const struct agent_bgp_path *p)
{
	struct pent *m = ptab_get(&b->merged, p);
	if (!m) {
		m = ptab_add(&b->merged, p);
		if (!m) {
			TLOG_ERR(b->log, "controller %s: out of memory storing a learned path",
				 x->name);
			return;
		}
		m->holders = (uint8_t)(1u << x->idx);
		report(b, true, &m->p);
		return;
	}
	m->holders |= (uint8_t)(1u << x->idx);
	if (!path_same(&m->p, p)) {
		m->p = *p;
		report(b, true, &m->p);
	}
}

/* An entry of t other than self with p's prefix and next hop: with ADD-PATH
 * a controller may hold one path under two identifiers, as when its best
 * path moves to another copy with the same next hop (new identifier first,
 * then the old one's withdrawal). */
static struct pent *in_other(const struct ptab *t, const struct agent_bgp_path *p,
			     const struct pent *self)
{
	if (!t->nb)
		return NULL;
	uint32_t h = key_hash(&p->prefix, 0, NULL, false);
	for (struct pent *e = t->b[h & (t->nb - 1)]; e; e = e->next)
		if (e != self && e->hash == h &&
		    memcmp(&e->p.prefix, &p->prefix, BGP_PREFIX_KEY_LEN) == 0 &&
		    nh_eq(e->p.nh_len, e->p.nh, p->nh_len, p->nh))
			return e;
	return NULL;
}

/* Controller x no longer has path p through its Adj-RIB-In entry self
 * (still valid; it may already carry something else). */
static void merged_release(struct agent_bgp *b, struct peer *x, const struct agent_bgp_path *p,
			   const struct pent *self)
{
	struct pent *m = ptab_get(&b->merged, p);
	if (!m)
		return;
	/* x itself still has it under another identifier: it keeps holding. */
	const struct pent *o = in_other(&x->in, p, self);
	if (!o) {
		m->holders &= (uint8_t)~(1u << x->idx);
		if (!m->holders) {
			report(b, false, &m->p);
			ptab_del(&b->merged, m);
			return;
		}
		/* Another controller still has it. */
		for (int i = 0; i < b->n_peers && !o; i++)
			if (m->holders & (1u << i))
				o = in_find(&b->peers[i].in, &p->prefix, 0, true, m->p.nh_len,
					    m->p.nh);
	}
	/* What the remaining holder says is now the truth. */
	if (o && !path_same(&o->p, &m->p)) {
		m->p = o->p;
		report(b, true, &m->p);
	}
}

static void unlearn(struct agent_bgp *b, struct peer *x, const struct bgp_prefix *pfx,
		    uint32_t path_id)
{
	struct pent *e = in_find(&x->in, pfx, path_id, false, 0, NULL);
	if (!e)
		return;
	merged_release(b, x, &e->p, e);
	ptab_del(&x->in, e);
}

static void learn(struct agent_bgp *b, struct peer *x, const struct agent_bgp_path *p,
		  uint32_t path_id)
{
	if (nh_eq(p->nh_len, p->nh, b->self_nh_len, b->self_nh)) {
		/* Our own path reflected back; it also replaces whatever x had. */
		unlearn(b, x, &p->prefix, path_id);
		return;
	}
	struct pent *e = in_find(&x->in, &p->prefix, path_id, false, 0, NULL);
	if (!e) {
		e = ptab_add(&x->in, p);
		if (!e) {
			TLOG_ERR(b->log, "controller %s: out of memory storing a learned path",
				 x->name);
			return;
		}
		e->path_id = path_id;
		merged_hold(b, x, p);
		return;
	}
	struct agent_bgp_path old = e->p;
	e->p = *p;
	e->stale = false;
	/* New next hop: the new path first, then the old one goes (make
	 * before break for the forwarding table). */
	merged_hold(b, x, p);
	if (!nh_eq(old.nh_len, old.nh, p->nh_len, p->nh))
		merged_release(b, x, &old, e);
}

/* Drop x's stale paths of the families afs. */
static void stale_sweep(struct agent_bgp *b, struct peer *x, uint32_t afs, const char *why)
{
	if (!(x->stale_afs & afs))
		return;
	unsigned n = 0;
	for (size_t i = 0; i < x->in.nb; i++)
		for (struct pent *e = x->in.b[i], *next; e; e = next) {
			next = e->next;
			if (!e->stale || !(afs & BGP_AF_BIT(e->p.prefix.af)))
				continue;
			merged_release(b, x, &e->p, e);
			ptab_del(&x->in, e);
			n++;
		}
	x->stale_afs &= ~afs;
	if (!x->stale_afs)
		x->t_stale = 0;
	TLOG_INFO(b->log, "controller %s: %u stale paths removed (%s)", x->name, n, why);
}

/* ---- sending ---- */

static void flush(struct peer *x)
{
	if (x->fd >= 0 && !x->connecting)
		(void)bgp_wq_flush(&x->wq, x->fd); /* errors show up on the read side */
}

/* Keep the message just encoded (len: the encoder's result). */
static void queue(struct agent_bgp *b, struct peer *x, int len, const char *what)
{
	if (len < 0)
		TLOG_ERR(b->log, "controller %s: %s did not fit in a message (bug)", x->name, what);
	else
		bgp_wq_commit(&x->wq, len);
}

static int reserve(struct agent_bgp *b, struct peer *x, struct tern_wbuf *w)
{
	int rc = bgp_wq_reserve(&x->wq, w);
	if (rc < 0)
		TLOG_ERR(b->log, "controller %s: out of memory queueing a message", x->name);
	return rc;
}

static void send_open(struct agent_bgp *b, struct peer *x)
{
	const struct agent_bgp_conf *c = &b->conf;
	struct bgp_open o = {
		.version = BGP_VERSION,
		.my_as = c->asn > 65535 ? BGP_AS_TRANS : (uint16_t)c->asn,
		.hold = c->hold,
		.router_id = c->router_id,
		/* RFC 4724: the vrouter keeps forwarding across an agent
		 * restart, so every family has its forwarding state kept. */
		/* ADD-PATH receive (RFC 7911): every equal-cost path of a VPN
		 * destination, not only the controller's best (ECMP). */
		.caps = { .afs = c->afs, .mp = true, .as4 = true, .as4_value = c->asn,
			  .route_refresh = true, .gr = true, .gr_restarting = x->r_bit,
			  .gr_time = c->gr_time, .gr_afs = c->afs, .gr_fwd = c->afs,
			  .addpath_rx = c->afs & AGENT_BGP_ADDPATH_AFS },
	};
	struct tern_wbuf w;
	if (reserve(b, x, &w) == 0)
		queue(b, x, bgp_open_encode(&w, &o), "OPEN");
}

static void send_notif(struct agent_bgp *b, struct peer *x, uint8_t code, uint8_t subcode,
		       const struct bgp_err *e)
{
	struct tern_wbuf w;
	bool data = e && e->action == BGP_ERR_RESET && e->code == code && e->subcode == subcode;
	if (reserve(b, x, &w) == 0)
		queue(b, x, bgp_notif_encode(&w, code, subcode, data ? e->data : NULL,
					     data ? e->data_len : 0), "NOTIFICATION");
}

/* The attributes of a local path; ext and the empty AS_PATH point into p or
 * static storage, so a lives no longer than p. */
static void path_attrs(const struct agent_bgp_path *p, struct bgp_attrs *a)
{
	static const uint8_t empty[1];
	memset(a, 0, sizeof(*a));
	a->has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
		 BGP_HAS(BGP_ATTR_LOCAL_PREF);
	a->origin = BGP_ORIGIN_IGP;
	a->as_path = (struct bgp_bytes){ empty, 0 };  /* iBGP, originated here */
	a->local_pref = p->local_pref ? p->local_pref : DEFAULT_LOCAL_PREF;
	if (p->n_ext) {
		a->has |= BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
		a->ext_communities = (struct bgp_bytes){ p->ext[0], (uint16_t)(p->n_ext * 8) };
	}
	if (p->pmsi.type || p->pmsi.id_len) {
		a->has |= BGP_HAS(BGP_ATTR_PMSI_TUNNEL);
		a->pmsi = p->pmsi;
	}
	if (p->prefix.af == BGP_AF_VPNV6 && p->nh_len == 4) {
		/* RFC 4659 §3.2.1.1: an IPv4 tunnel endpoint as ::ffff:a.b.c.d */
		a->nh_len = 16;
		a->nh[10] = a->nh[11] = 0xff;
		memcpy(a->nh + 12, p->nh, 4);
	} else {
		a->nh_len = p->nh_len;
		memcpy(a->nh, p->nh, p->nh_len);
	}
}

static bool attrs_equal(const struct agent_bgp_path *a, const struct agent_bgp_path *b)
{
	return a->prefix.af == b->prefix.af && nh_eq(a->nh_len, a->nh, b->nh_len, b->nh) &&
	       a->local_pref == b->local_pref && a->n_ext == b->n_ext &&
	       memcmp(a->ext, b->ext, (size_t)a->n_ext * 8) == 0 &&
	       pmsi_cmp(&a->pmsi, &b->pmsi) == 0;
}

/* Order of the table dump: family, then attributes, so that paths sharing
 * attributes are neighbours and share UPDATEs. */
static int attrs_cmp(const void *va, const void *vb)
{
	const struct agent_bgp_path *a = *(const struct agent_bgp_path *const *)va;
	const struct agent_bgp_path *b = *(const struct agent_bgp_path *const *)vb;
	if (a->prefix.af != b->prefix.af)
		return a->prefix.af < b->prefix.af ? -1 : 1;
	if (a->nh_len != b->nh_len)
		return a->nh_len < b->nh_len ? -1 : 1;
	int c = memcmp(a->nh, b->nh, a->nh_len);
	if (c)
		return c;
	if (a->local_pref != b->local_pref)
		return a->local_pref < b->local_pref ? -1 : 1;
	if (a->n_ext != b->n_ext)
		return a->n_ext < b->n_ext ? -1 : 1;
	c = memcmp(a->ext, b->ext, (size_t)a->n_ext * 8);
	return c ? c : pmsi_cmp(&a->pmsi, &b->pmsi);
}

static void path_nlri(const struct agent_bgp_path *p, struct bgp_nlri *n)
{
	/* 20-bit label, or EVPN's 24-bit field: as the codec wants; no path id */
	*n = (struct bgp_nlri){ .p = p->prefix, .label = p->label };
}

/* Announce v[0..n) (sorted by attrs_cmp) to x, packed into UPDATEs. */
static void send_paths(struct agent_bgp *b, struct peer *x, struct agent_bgp_path **v, size_t n)
{
	struct bgp_nlri nl[BATCH_MAX];
	size_t i = 0;
	while (i < n) {
		struct bgp_attrs a;
		path_attrs(v[i], &a);
		int af = v[i]->prefix.af;
		size_t bytes = BGP_HDR_LEN + 4 + bgp_attrs_size(&a, af), k = 0;
		while (i < n && k < BATCH_MAX && (k == 0 || attrs_equal(v[i], v[i - k]))) {
			struct bgp_nlri one;
			path_nlri(v[i], &one);
			size_t sz = bgp_nlri_size(&one);
			if (k > 0 && bytes + sz > BGP_MAX_MSG)
				break;
			nl[k++] = one;
			bytes += sz;
			i++;
		}
		struct tern_wbuf w;
		if (reserve(b, x, &w) < 0)
			return;
		queue(b, x, bgp_update_encode(&w, af, &a, nl, k, NULL, 0), "UPDATE");
	}
}

static void send_withdraw(struct agent_bgp *b, struct peer *x, const struct agent_bgp_path *p)
{
	struct bgp_nlri n;
	struct tern_wbuf w;
	path_nlri(p, &n);
	if (reserve(b, x, &w) == 0)
		queue(b, x, bgp_update_encode(&w, p->prefix.af, NULL, NULL, 0, &n, 1), "withdrawal");
}

static void send_eor(struct agent_bgp *b, struct peer *x)
{
	for (int af = 0; af < BGP_AF_COUNT; af++) {
		struct tern_wbuf w;
		if ((x->afs & BGP_AF_BIT(af)) && reserve(b, x, &w) == 0)
			queue(b, x, bgp_eor_encode(&w, af), "End-of-RIB");
	}
	x->eor_sent = true;
	TLOG_INFO(b->log, "controller %s: End-of-RIB sent", x->name);
}

/* The whole local table of the families afs (an initial dump or a route
 * refresh). */
static void send_table(struct agent_bgp *b, struct peer *x, uint32_t afs)
{
	size_t n = 0;
	struct agent_bgp_path **v = malloc((b->local.n ? b->local.n : 1) * sizeof(*v));
	if (!v) {
		TLOG_ERR(b->log, "controller %s: out of memory sending the table", x->name);
		return;
	}
	for (size_t i = 0; i < b->local.nb; i++)
		for (struct pent *e = b->local.b[i]; e; e = e->next)
			if (afs & BGP_AF_BIT(e->p.prefix.af))
				v[n++] = &e->p;
	qsort(v, n, sizeof(*v), attrs_cmp);
	send_paths(b, x, v, n);
	free(v);
	TLOG_DEBUG(b->log, "controller %s: %zu paths sent", x->name, n);
}

/* ---- the FSM's actions ---- */

static void peer_event(struct agent_bgp *b, struct peer *x, const struct bgp_fsm_in *in,
		       const struct bgp_err *e);

static void arm(int64_t *t, unsigned seconds)
{
	*t = bgp_now_ms() + (int64_t)seconds * 1000;
}

static void conn_close(struct peer *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->connecting = false;
	x->rlen = 0;
	bgp_wq_clear(&x->wq);
}

static void peer_up(struct agent_bgp *b, struct peer *x)
{
	const struct bgp_open *o = &x->open;
	x->up = true;
	x->r_bit = false; /* the restart is over as far as this controller goes */
	x->afs = o->caps.mp ? o->caps.afs & b->conf.afs : 0;
	x->ap_rx = o->caps.addpath_tx & x->afs & AGENT_BGP_ADDPATH_AFS;
	x->eor_sent = false;
	x->last_error[0] = 0;
	struct in_addr id = { htonl(o->router_id) };
	char fams[64] = "";
	for (int af = 0; af < BGP_AF_COUNT; af++)
		if (x->afs & BGP_AF_BIT(af))
			snprintf(fams + strlen(fams), sizeof(fams) - strlen(fams), "%s%s",
				 fams[0] ? "," : "", bgp_af_table[af].name);
	TLOG_INFO(b->log, "controller %s: session up (router-id %s, hold %us, families %s)",
		  x->name, inet_ntoa(id), x->fsm.hold_s, fams[0] ? fams : "none");
	if (x->stale_afs) {
		/* Families it no longer speaks will send no End-of-RIB. */
		stale_sweep(b, x, x->stale_afs & ~x->afs, "family not negotiated any more");
		if (x->stale_afs)
			arm(&x->t_stale, b->conf.gr_time);
	}
	send_table(b, x, x->afs);
	if (b->initial_done)
		send_eor(b, x);
}

static void peer_down(struct agent_bgp *b, struct peer *x)
{
	x->up = false;
	x->afs = 0;
	x->ap_rx = 0;
	x->flaps++;
	x->t_stale = 0; /* nothing is swept while the controller is away */
	unsigned n = 0;
	for (size_t i = 0; i < x->in.nb; i++)
		for (struct pent *e = x->in.b[i]; e; e = e->next) {
			e->stale = true;
			x->stale_afs |= BGP_AF_BIT(e->p.prefix.af);
			n++;
		}
	TLOG_INFO(b->log, "controller %s: session down (%s), %u learned paths kept as stale",
		  x->name, x->last_error[0] ? x->last_error : "no reason", n);
}

static void do_connect(struct agent_bgp *b, struct peer *x)
{
	char a[80], prev[sizeof(x->last_error)];
	int rc;
	conn_close(x);
	snprintf(prev, sizeof(prev), "%s", x->last_error);
	int fd = socket(x->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		SET_ERROR(x, "socket: %s", strerror(-rc));
		goto fail;
	}
	if (x->local_len && bind(fd, (const struct sockaddr *)&x->local, x->local_len) < 0) {
		rc = -errno;
		SET_ERROR(x, "bind to %s: %s", bgp_sockaddr_str(&x->local, a, sizeof(a)),
			  strerror(-rc));
		goto fail_fd;
	}
	rc = x->password[0] ? bgp_sock_md5(fd, &x->addr, x->password) : 0;
	if (rc < 0) {
		SET_ERROR(x, "TCP MD5 key: %s (kernel without CONFIG_TCP_MD5SIG?)", strerror(-rc));
		goto fail_fd;
	}
	if (connect(fd, (const struct sockaddr *)&x->addr, x->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		rc = -errno;
		SET_ERROR(x, "connect to %s: %s", bgp_sockaddr_str(&x->addr, a, sizeof(a)),
			  strerror(-rc));
		goto fail_fd;
	}
	/* Done or in progress alike: POLLOUT and SO_ERROR tell. */
	x->fd = fd;
	x->connecting = true;
	TLOG_DEBUG(b->log, "controller %s: connecting", x->name);
	return;
fail_fd:
	close(fd);
fail:
	/* The same failure every connect-retry period is logged once. */
	if (strcmp(prev, x->last_error))
		TLOG_WARN(b->log, "controller %s: %s", x->name, x->last_error);
	peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_FAILED }, NULL);
}

static void apply(struct agent_bgp *b, struct peer *x, const struct bgp_fsm_out *o,
		  const struct bgp_err *e)
{
	uint32_t a = o->actions;
	if (a & BGP_ACT_CONNRETRY_STOP)
		x->t_connretry = 0;
	if (a & BGP_ACT_HOLD_STOP)
		x->t_hold = 0;
	if (a & BGP_ACT_KEEPALIVE_STOP)
		x->t_keepalive = 0;
	if (a & BGP_ACT_CONNRETRY_START)
		arm(&x->t_connretry, x->fsm.connretry_s);
	if (a & BGP_ACT_HOLD_START)
		arm(&x->t_hold, x->fsm.hold_s);
	if ((a & BGP_ACT_KEEPALIVE_START) && x->fsm.keepalive_s)
		arm(&x->t_keepalive, x->fsm.keepalive_s);
	if (a & BGP_ACT_SEND_OPEN)
		send_open(b, x);
	if (a & BGP_ACT_SEND_KEEPALIVE) {
		struct tern_wbuf w;
		if (reserve(b, x, &w) == 0)
			queue(b, x, bgp_keepalive_encode(&w), "KEEPALIVE");
	}
	if (a & BGP_ACT_SEND_NOTIF) {
		char n[120];
		send_notif(b, x, o->code, o->subcode, e);
		SET_ERROR(x, "sent %s%s%s", bgp_notif_name(o->code, o->subcode, n, sizeof(n)),
			  e ? ": " : "", e ? e->msg : "");
		if (!b->stopping)
			TLOG_WARN(b->log, "controller %s: %s", x->name, x->last_error);
	}
	if (a & BGP_ACT_DOWN)
		peer_down(b, x);
	if (a & BGP_ACT_CLOSE) {
		flush(x); /* a NOTIFICATION, if any, best effort */
		conn_close(x);
	}
	if (a & BGP_ACT_CONNECT)
		do_connect(b, x);
	if (a & BGP_ACT_ESTABLISHED)
		peer_up(b, x);
}

/* One FSM step and its actions. */
static void peer_event(struct agent_bgp *b, struct peer *x, const struct bgp_fsm_in *in,
		       const struct bgp_err *e)
{
	struct bgp_fsm_out o = bgp_fsm_step(&x->fsm, in);
	if (o.from != x->fsm.state)
		TLOG_DEBUG(b->log, "controller %s: %s -> %s on %s", x->name,
			   bgp_state_name(o.from), bgp_state_name(x->fsm.state),
			   bgp_event_name(in->ev));
	apply(b, x, &o, e);
	/* Back in Idle: start again after the connect-retry time (RFC 4271
	 * AutomaticStart). */
	if (x->fsm.state == BGP_IDLE && !b->stopping && !x->t_restart)
		arm(&x->t_restart, x->fsm.connretry_s);
}

/* ---- receiving ---- */

static void rx_open(struct agent_bgp *b, struct peer *x, const uint8_t *body, size_t len)
{
	struct bgp_open *open = &x->open;
	struct bgp_err e;
	bgp_err_clear(&e);
	if (bgp_open_parse(body, len, open, &e) == 0) {
		uint32_t as = bgp_open_as(open);
		if (!open->caps.as4) {
			uint8_t code = 65; /* the codec parses 4-octet AS_PATHs only */
			bgp_err_set(&e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_CAPABILITY, &code, 1,
				    "OPEN without the 4-octet AS capability");
		} else if (as != b->conf.asn) {
			bgp_err_set(&e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_BAD_AS, NULL, 0,
				    "OPEN from AS %u, ours is %u (iBGP only)", as, b->conf.asn);
		} else if (open->router_id == b->conf.router_id) {
			bgp_err_set(&e, BGP_ERR_RESET, BGP_NOTIF_OPEN, BGP_OPEN_BAD_ID, NULL, 0,
				    "OPEN with our own router-id");
		}
	}
	if (e.action == BGP_ERR_RESET) {
		struct bgp_fsm_in in = { .ev = BGP_EV_MSG_ERROR, .code = e.code,
					 .subcode = e.subcode };
		peer_event(b, x, &in, &e);
		return;
	}
	peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_OPEN, .peer_hold = open->hold }, NULL);
}

/* A received NLRI and the UPDATE's attributes as the callback's path. */
static void rx_path(struct agent_bgp *b, struct peer *x, const struct bgp_update *u,
		    const struct bgp_nlri *n, struct agent_bgp_path *p)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memset(p, 0, sizeof(*p));
	p->prefix = n->p;
	p->label = n->label;
	if (u->mp_nh_len == 16 && memcmp(u->mp_nh, v4mapped, 12) == 0) {
		p->nh_len = 4;  /* the IPv4 tunnel endpoint of a VPNv6 route */
		memcpy(p->nh, u->mp_nh + 12, 4);
	} else {
		/* 32: global and link-local; the tunnel is the global one */
		p->nh_len = u->mp_nh_len > 16 ? 16 : u->mp_nh_len;
		memcpy(p->nh, u->mp_nh, p->nh_len);
	}
	if (u->attrs.has & BGP_HAS(BGP_ATTR_EXT_COMMUNITIES)) {
		size_t cnt = u->attrs.ext_communities.len / 8;
		if (cnt > AGENT_BGP_MAX_EXT) {
			TLOG_DEBUG(b->log, "controller %s: %zu extended communities, %d kept",
				   x->name, cnt, AGENT_BGP_MAX_EXT);
			cnt = AGENT_BGP_MAX_EXT;
		}
		memcpy(p->ext, u->attrs.ext_communities.p, cnt * 8);
		p->n_ext = (uint16_t)cnt;
	}
	if (u->attrs.has & BGP_HAS(BGP_ATTR_LOCAL_PREF))
		p->local_pref = u->attrs.local_pref;
	if (u->attrs.has & BGP_HAS(BGP_ATTR_PMSI_TUNNEL))
		p->pmsi = u->attrs.pmsi;
}

static unsigned rx_nlri(struct agent_bgp *b, struct peer *x, const struct bgp_update *u, int af,
			struct bgp_bytes f, bool withdraw, bool reach)
{
	struct bgp_nlri_iter it;
	struct bgp_nlri n;
	char err[128];
	unsigned cnt = 0;
	if (!(AGENT_BGP_AFS & BGP_AF_BIT(af)))
		return 0;
	bgp_nlri_iter_init_ap(&it, af, f.p, f.len, !reach, x->ap_rx & BGP_AF_BIT(af));
	while (bgp_nlri_next(&it, &n, err, sizeof(err)) == 1) {
		if (withdraw) {
			unlearn(b, x, &n.p, n.path_id);
		} else {
			struct agent_bgp_path p;
			rx_path(b, x, u, &n, &p);
			learn(b, x, &p, n.path_id);
		}
		cnt++;
	}
	return cnt;
}

static void rx_update(struct agent_bgp *b, struct peer *x, const uint8_t *body, size_t len)
{
	struct bgp_update *u = &b->upd;
	struct bgp_err e;
	struct bgp_peer_ctx ctx = { .ebgp = false, .peer_as = b->conf.asn, .afs = x->afs,
				    .addpath = x->ap_rx };
	bgp_err_clear(&e);
	if (bgp_update_parse(body, len, &ctx, u, &e) < 0) {
		struct bgp_fsm_in in = { .ev = BGP_EV_UPDATE_ERROR, .code = e.code,
					 .subcode = e.subcode };
		peer_event(b, x, &in, &e);
		return;
	}
	peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_UPDATE }, NULL);
	if (e.action != BGP_ERR_NONE)
		TLOG_WARN(b->log, "controller %s: %s (%s)", x->name, e.msg,
			  e.action == BGP_ERR_WITHDRAW ? "treat-as-withdraw" : "attribute discard");
	int eor = bgp_update_eor(u, len);
	if (eor >= 0) {
		TLOG_INFO(b->log, "controller %s: End-of-RIB %s", x->name, bgp_af_table[eor].name);
		stale_sweep(b, x, BGP_AF_BIT(eor), "End-of-RIB");
		return;
	}
	unsigned n = 0;
	/* IPv4 unicast (withdrawn, nlri) is not negotiated: the parser already
	 * refused it or there is none. */
	if (u->unreach_af >= 0)
		n += rx_nlri(b, x, u, u->unreach_af, u->unreach, true, false);
	if (u->reach_af >= 0)
		n += rx_nlri(b, x, u, u->reach_af, u->reach, e.action == BGP_ERR_WITHDRAW, true);
	TLOG_DEBUG(b->log, "controller %s: UPDATE with %u prefixes", x->name, n);
}

static void rx_message(struct agent_bgp *b, struct peer *x, const struct bgp_hdr *h,
		       const uint8_t *body, size_t len)
{
	struct bgp_err e;
	bgp_err_clear(&e);
	switch (h->type) {
	case BGP_OPEN:
		rx_open(b, x, body, len);
		return;
	case BGP_KEEPALIVE:
		peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_KEEPALIVE }, NULL);
		return;
	case BGP_UPDATE:
		if (x->fsm.state != BGP_ESTABLISHED)
			peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_UPDATE }, NULL);
		else
			rx_update(b, x, body, len);
		return;
	case BGP_NOTIFICATION: {
		struct bgp_notif n = { 0 };
		char name[120];
		bgp_notif_parse(body, len, &n, &e);
		SET_ERROR(x, "received %s", bgp_notif_name(n.code, n.subcode, name, sizeof(name)));
		TLOG_WARN(b->log, "controller %s: %s", x->name, x->last_error);
		peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_NOTIFICATION }, NULL);
		return;
	}
	case BGP_ROUTE_REFRESH: {
		struct bgp_route_refresh rr;
		if (bgp_rr_parse(body, len, &rr, &e) < 0 || x->fsm.state != BGP_ESTABLISHED)
			return;
		int af = bgp_af_lookup(rr.afi, rr.safi);
		if (af >= 0 && (x->afs & BGP_AF_BIT(af)) && rr.subtype == 0) {
			TLOG_INFO(b->log, "controller %s: route refresh %s", x->name,
				  bgp_af_table[af].name);
			send_table(b, x, BGP_AF_BIT(af));
		}
		return;
	}
	}
}

static void peer_read(struct agent_bgp *b, struct peer *x)
{
	ssize_t n = read(x->fd, x->rbuf + x->rlen, sizeof(x->rbuf) - x->rlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		SET_ERROR(x, "connection %s", n == 0 ? "closed by the controller" : strerror(errno));
		if (x->fsm.state != BGP_ESTABLISHED) /* session down logs it otherwise */
			TLOG_INFO(b->log, "controller %s: %s", x->name, x->last_error);
		peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_FAILED }, NULL);
		return;
	}
	if (n < 0)
		return;
	x->rlen += (size_t)n;
	size_t off = 0;
	int fd = x->fd;
	/* Stop at a close, and at a new connection (a reset reconnects at once
	 * only through the timer, but be safe). */
	while (x->fd == fd && fd >= 0) {
		struct bgp_hdr h;
		struct bgp_err e;
		bgp_err_clear(&e);
		int rc = bgp_hdr_parse(x->rbuf + off, x->rlen - off, &h, &e);
		if (rc == -EAGAIN || (rc == 0 && h.len > x->rlen - off))
			break;
		if (rc < 0) {
			struct bgp_fsm_in in = { .ev = BGP_EV_MSG_ERROR, .code = e.code,
						 .subcode = e.subcode };
			peer_event(b, x, &in, &e);
			return;
		}
		rx_message(b, x, &h, x->rbuf + off + BGP_HDR_LEN, h.len - BGP_HDR_LEN);
		off += h.len;
	}
	if (x->fd != fd)
		return;
	memmove(x->rbuf, x->rbuf + off, x->rlen - off);
	x->rlen -= off;
}

static void connect_done(struct agent_bgp *b, struct peer *x)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	char prev[sizeof(x->last_error)];
	if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	x->connecting = false;
	if (soerr) {
		snprintf(prev, sizeof(prev), "%s", x->last_error);
		SET_ERROR(x, "connect: %s", strerror(soerr));
		if (strcmp(prev, x->last_error))
			TLOG_WARN(b->log, "controller %s: %s", x->name, x->last_error);
		peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_FAILED }, NULL);
		return;
	}
	int one = 1;
	setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_TCP_CONNECTED }, NULL);
}

/* ---- timers ---- */

static void fire(struct agent_bgp *b, struct peer *x, int64_t *t, enum bgp_event ev, int64_t now)
{
	if (*t && *t <= now) {
		*t = 0;
		if (ev == BGP_EV_HOLD_TIMER)
			SET_ERROR(x, "hold timer expired");
		peer_event(b, x, &(struct bgp_fsm_in){ .ev = ev }, NULL);
	}
}

static void run_timers(struct agent_bgp *b, int64_t now)
{
	for (int i = 0; i < b->n_peers; i++) {
		struct peer *x = &b->peers[i];
		if (x->t_stale && x->t_stale <= now)
			stale_sweep(b, x, x->stale_afs, "no End-of-RIB within the restart time");
		if (x->t_restart && x->t_restart <= now) {
			x->t_restart = 0;
			if (x->fsm.state == BGP_IDLE)
				peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_START }, NULL);
		}
		fire(b, x, &x->t_connretry, BGP_EV_CONNRETRY_TIMER, now);
		fire(b, x, &x->t_hold, BGP_EV_HOLD_TIMER, now);
		fire(b, x, &x->t_keepalive, BGP_EV_KEEPALIVE_TIMER, now);
	}
}

static int64_t next_deadline(const struct agent_bgp *b)
{
	int64_t t = 0;
	for (int i = 0; i < b->n_peers; i++) {
		const struct peer *x = &b->peers[i];
		int64_t ts[5] = { x->t_connretry, x->t_hold, x->t_keepalive, x->t_restart,
				  x->t_stale };
		for (int k = 0; k < 5; k++)
			if (ts[k] && (!t || ts[k] < t))
				t = ts[k];
	}
	return t;
}

/* ---- public ---- */

static int peer_init(struct peer *x, int idx, const struct agent_bgp_peer_conf *pc,
		     const struct agent_bgp_conf *c, char *err, size_t errlen)
{
	x->idx = idx;
	x->fd = -1;
	x->r_bit = c->restarting;
	snprintf(x->name, sizeof(x->name), "%s", pc->addr);
	if (bgp_sock_addr(pc->addr, pc->port ? pc->port : 179, &x->addr, &x->addr_len) < 0) {
		snprintf(err, errlen, "controller '%s': not an IPv4 or IPv6 address", pc->addr);
		return -EINVAL;
	}
	if (c->local_addr[0]) {
		if (bgp_sock_addr(c->local_addr, 0, &x->local, &x->local_len) < 0) {
			snprintf(err, errlen, "local address '%s': not an IPv4 or IPv6 address",
				 c->local_addr);
			return -EINVAL;
		}
		if (x->local.ss_family != x->addr.ss_family) {
			snprintf(err, errlen, "local address %s and controller %s: not the same "
				 "address family", c->local_addr, pc->addr);
			return -EINVAL;
		}
	}
	if (strnlen(pc->password, sizeof(pc->password)) >= sizeof(pc->password)) {
		snprintf(err, errlen, "controller %s: password longer than 80 bytes", pc->addr);
		return -EINVAL;
	}
	memcpy(x->password, pc->password, sizeof(x->password));
	bgp_fsm_init(&x->fsm, c->hold, c->connretry, false);
	x->in.by_nh = false;
	return 0;
}

struct agent_bgp *agent_bgp_new(const struct agent_bgp_conf *conf, struct tern_log *log,
				agent_bgp_cb cb, void *arg, char *err, size_t errlen)
{
	int rc = -EINVAL;
	if (conf->n_peers < 1 || conf->n_peers > AGENT_BGP_MAX_PEERS) {
		snprintf(err, errlen, "%d controllers: 1 or %d expected", conf->n_peers,
			 AGENT_BGP_MAX_PEERS);
		goto fail;
	}
	if (!conf->asn || !conf->router_id) {
		snprintf(err, errlen, "AS number and router id must be set");
		goto fail;
	}
	if (conf->nh_len != 0 && conf->nh_len != 4 && conf->nh_len != 16) {
		snprintf(err, errlen, "next hop length %u: 4 or 16 expected", conf->nh_len);
		goto fail;
	}
	if (conf->afs & ~AGENT_BGP_AFS) {
		snprintf(err, errlen, "families 0x%x: only vpnv4, vpnv6 and evpn are spoken",
			 conf->afs);
		goto fail;
	}
	if (conf->hold == 1 || conf->hold == 2) {
		snprintf(err, errlen, "hold time %us: 0 or at least 3 (RFC 4271)", conf->hold);
		goto fail;
	}
	struct agent_bgp *b = calloc(1, sizeof(*b));
	if (!b) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	b->conf = *conf;
	struct agent_bgp_conf *c = &b->conf;
	if (!c->hold)
		c->hold = 90;
	if (!c->connretry)
		c->connretry = 5;
	if (!c->gr_time)
		c->gr_time = 120;
	if (c->gr_time > 4095)
		c->gr_time = 4095; /* 12 bits on the wire */
	if (!c->afs)
		c->afs = AGENT_BGP_AFS;
	if (c->nh_len) {
		b->self_nh_len = c->nh_len;
		memcpy(b->self_nh, c->nh, c->nh_len);
	} else {
		uint32_t id = htonl(c->router_id);
		b->self_nh_len = 4;
		memcpy(b->self_nh, &id, 4);
	}
	if (log) {
		b->log = log;
	} else {
		tern_log_init(&b->own_log, "tern-agent", NULL, TERN_LOG_INFO);
		b->log = &b->own_log;
	}
	b->cb = cb;
	b->cb_arg = arg;
	b->merged.by_nh = true;
	b->n_peers = c->n_peers;
	for (int i = 0; i < b->n_peers; i++) {
		rc = peer_init(&b->peers[i], i, &c->peers[i], c, err, errlen);
		if (rc < 0) {
			free(b);
			goto fail;
		}
	}
	return b;
fail:
	errno = -rc;
	return NULL;
}

void agent_bgp_free(struct agent_bgp *b, bool graceful)
{
	if (!b)
		return;
	b->stopping = true;
	for (int i = 0; i < b->n_peers; i++) {
		struct peer *x = &b->peers[i];
		/* Graceful: no NOTIFICATION, so the controllers keep the agent's
		 * routes for the restart time (RFC 4724 §4.2) while it comes back. */
		if (x->fd >= 0 && !graceful) /* Established: Cease, then close */
			peer_event(b, x, &(struct bgp_fsm_in){ .ev = BGP_EV_STOP }, NULL);
		conn_close(x);
		bgp_wq_free(&x->wq);
		ptab_free(&x->in);
	}
	ptab_free(&b->local);
	ptab_free(&b->merged);
	free(b);
}

/* Zero what is not part of the family's key, so that memcmp keys match
 * whatever the caller left in the struct. */
static int path_check(const struct agent_bgp *b, const struct agent_bgp_path *in,
		      struct agent_bgp_path *p, char *err, size_t errlen)
{
	*p = *in;
	struct bgp_prefix *x = &p->prefix;
	int af = x->af;
	if (af >= BGP_AF_COUNT || !(b->conf.afs & BGP_AF_BIT(af))) {
		snprintf(err, errlen, "family %d not spoken", af);
		return -EINVAL;
	}
	if (!p->nh_len) {
		p->nh_len = b->self_nh_len;
		memcpy(p->nh, b->self_nh, sizeof(p->nh));
	}
	if ((p->nh_len != 4 && p->nh_len != 16) || (af == BGP_AF_VPNV4 && p->nh_len != 4)) {
		snprintf(err, errlen, "%s path with a %u-byte next hop", bgp_af_table[af].name,
			 p->nh_len);
		return -EINVAL;
	}
	memset(p->nh + p->nh_len, 0, sizeof(p->nh) - p->nh_len);
	if (p->n_ext > AGENT_BGP_MAX_EXT) {
		snprintf(err, errlen, "%u extended communities, at most %d", p->n_ext,
			 AGENT_BGP_MAX_EXT);
		return -EINVAL;
	}
	memset((uint8_t *)p->ext + p->n_ext * 8u, 0, (AGENT_BGP_MAX_EXT - p->n_ext) * 8u);
	if (p->pmsi.id_len > BGP_PMSI_ID_MAX) {
		snprintf(err, errlen, "PMSI tunnel identifier of %u bytes", p->pmsi.id_len);
		return -EINVAL;
	}
	memset(p->pmsi.id + p->pmsi.id_len, 0, sizeof(p->pmsi.id) - p->pmsi.id_len);
	if (af != BGP_AF_EVPN) {
		unsigned max = bgp_af_table[af].addr_len * 8u;
		if (x->plen > max || p->label > 0xfffff) {
			snprintf(err, errlen, "%s: prefix length %u or label %u out of range",
				 bgp_af_table[af].name, x->plen, p->label);
			return -EINVAL;
		}
		for (unsigned bit = x->plen; bit < 128; bit++)
			x->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		x->evpn_type = x->evpn_v6 = 0;
		memset(x->eth_tag, 0, sizeof(x->eth_tag));
		memset(x->mac, 0, sizeof(x->mac));
		memset(x->esi, 0, sizeof(x->esi));
		memset(x->gw, 0, sizeof(x->gw));
		x->n_labels = 0;
		memset(x->label2, 0, sizeof(x->label2));
	} else {
		bool ok = p->label <= 0xffffff;
		if (x->evpn_type == 2 || x->evpn_type == 3)
			ok = ok && (x->plen == 0 || x->plen == 32 || x->plen == 128) &&
			     (x->evpn_type == 2 || x->plen != 0);
		else if (x->evpn_type == 5)
			ok = ok && x->plen <= (x->evpn_v6 ? 128 : 32);
		else
			ok = false;
		if (!ok) {
			snprintf(err, errlen, "EVPN route type %u, IP length %u or label %u not "
				 "valid", x->evpn_type, x->plen, p->label);
			return -EINVAL;
		}
		if (x->evpn_type == 2) {
			if (!x->n_labels)
				x->n_labels = 1;
			if (x->n_labels > 2) {
				snprintf(err, errlen, "EVPN type 2 with %u labels", x->n_labels);
				return -EINVAL;
			}
			memset(x->addr + x->plen / 8, 0, sizeof(x->addr) - x->plen / 8);
		}
		if (x->evpn_type != 2) {
			x->n_labels = 0;
			memset(x->label2, 0, sizeof(x->label2));
			memset(x->mac, 0, sizeof(x->mac));
		}
	}
	memset(x->pad2, 0, sizeof(x->pad2));
	return 0;
}

int agent_bgp_announce(struct agent_bgp *b, const struct agent_bgp_path *in, char *err,
		       size_t errlen)
{
	struct agent_bgp_path p;
	int rc = path_check(b, in, &p, err, errlen);
	if (rc < 0)
		return rc;
	struct pent *e = ptab_find(&b->local, &p.prefix, 0, NULL);
	if (e && path_same(&e->p, &p))
		return 0;
	if (e) {
		e->p = p;
	} else {
		e = ptab_add(&b->local, &p);
		if (!e) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		b->n_local[p.prefix.af]++;
	}
	struct agent_bgp_path *v = &e->p;
	for (int i = 0; i < b->n_peers; i++) {
		struct peer *x = &b->peers[i];
		if (x->up && (x->afs & BGP_AF_BIT(p.prefix.af))) {
			send_paths(b, x, &v, 1);
			flush(x);
		}
	}
	return 0;
}

int agent_bgp_withdraw(struct agent_bgp *b, const struct bgp_prefix *p)
{
	struct agent_bgp_path key;
	char err[128];
	memset(&key, 0, sizeof(key));
	key.prefix = *p;
	key.nh_len = 4;
	/* Normalise the key the way announce did; a prefix that could not
	 * have been announced is simply not there. */
	if (path_check(b, &key, &key, err, sizeof(err)) < 0)
		return 0;
	struct pent *e = ptab_find(&b->local, &key.prefix, 0, NULL);
	if (!e)
		return 0;
	for (int i = 0; i < b->n_peers; i++) {
		struct peer *x = &b->peers[i];
		if (x->up && (x->afs & BGP_AF_BIT(e->p.prefix.af))) {
			send_withdraw(b, x, &e->p);
			flush(x);
		}
	}
	b->n_local[e->p.prefix.af]--;
	ptab_del(&b->local, e);
	return 0;
}

void agent_bgp_initial_done(struct agent_bgp *b)
{
	if (b->initial_done)
		return;
	b->initial_done = true;
	for (int i = 0; i < b->n_peers; i++) {
		struct peer *x = &b->peers[i];
		if (x->up && !x->eor_sent) {
			send_eor(b, x);
			flush(x);
		}
	}
}

int agent_bgp_pollfds(struct agent_bgp *b, struct pollfd *fds, int max, int *timeout_ms)
{
	int n = 0;
	for (int i = 0; i < b->n_peers && n < max; i++) {
		const struct peer *x = &b->peers[i];
		if (x->fd < 0)
			continue;
		short ev = x->connecting ? POLLOUT : POLLIN;
		if (!x->connecting && bgp_wq_pending(&x->wq))
			ev |= POLLOUT;
		fds[n++] = (struct pollfd){ .fd = x->fd, .events = ev };
	}
	int64_t dl = b->started ? next_deadline(b) : bgp_now_ms();
	if (dl) {
		int64_t ms = dl - bgp_now_ms();
		if (ms < 0)
			ms = 0;
		if (ms > 1000000)
			ms = 1000000;
		if (*timeout_ms < 0 || ms < *timeout_ms)
			*timeout_ms = (int)ms;
	}
	return n;
}

void agent_bgp_run(struct agent_bgp *b, const struct pollfd *fds, int n)
{
	if (!b->started) {
		b->started = true;
		for (int i = 0; i < b->n_peers; i++)
			peer_event(b, &b->peers[i], &(struct bgp_fsm_in){ .ev = BGP_EV_START },
				   NULL);
	}
	for (int k = 0; k < n; k++) {
		if (!fds[k].revents || fds[k].fd < 0)
			continue;
		for (int i = 0; i < b->n_peers; i++) {
			struct peer *x = &b->peers[i];
			if (x->fd != fds[k].fd)
				continue;
			short re = fds[k].revents;
			if (x->connecting) {
				if (re & (POLLOUT | POLLERR | POLLHUP))
					connect_done(b, x);
			} else {
				if (re & (POLLIN | POLLERR | POLLHUP))
					peer_read(b, x);
				if ((re & POLLOUT) && x->fd == fds[k].fd)
					flush(x);
			}
			break;
		}
	}
	run_timers(b, bgp_now_ms());
	for (int i = 0; i < b->n_peers; i++)
		flush(&b->peers[i]);
}

int agent_bgp_status(const struct agent_bgp *b, struct agent_bgp_peer_status *out, int max)
{
	int n = 0;
	for (int i = 0; i < b->n_peers && n < max; i++, n++) {
		const struct peer *x = &b->peers[i];
		struct agent_bgp_peer_status *s = &out[n];
		memset(s, 0, sizeof(*s));
		snprintf(s->addr, sizeof(s->addr), "%s", x->name);
		s->state = bgp_state_name(x->fsm.state);
		s->paths_in = x->in.n;
		if (x->up)
			for (int af = 0; af < BGP_AF_COUNT; af++)
				if (x->afs & BGP_AF_BIT(af))
					s->paths_out += b->n_local[af];
		s->flaps = x->flaps;
		snprintf(s->last_error, sizeof(s->last_error), "%s", x->last_error);
	}
	return n;
}
