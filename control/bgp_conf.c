/*
 * DOC: bgp_conf.c — see bgp_conf.h. One line is split into words; the first
 * word is the key, looked up in the global or the neighbor key table. No
 * include, no quoting, no continuation: a file one can read at a glance.
 */
#include "bgp_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pctx {
	struct bgp_conf *c;
	struct bgp_conf_neighbor *nb;   /* current [neighbor] section, NULL: global */
	struct bgp_vrf_conf *vrf;       /* current [instance] section */
	const char *name;
	int line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct pctx *p, const char *fmt, ...)
{
	int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_u32(struct pctx *p, const char *key, const char *s, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		return fail(p, "%s: '%s' is not a number from %u to %u", key, s, min, max);
	*out = (uint32_t)v;
	return 0;
}

static int parse_id(struct pctx *p, const char *key, const char *s, uint32_t *out)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1 || a.s_addr == 0)
		return fail(p, "%s: '%s' is not a non-zero IPv4 address (a.b.c.d)", key, s);
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_addr(struct pctx *p, const char *key, const char *s, uint16_t port,
		      struct sockaddr_storage *ss, socklen_t *len)
{
	if (bgp_sock_addr(s, port, ss, len) == 0)
		return 0;
	return fail(p, "%s: '%s' is not an IPv4 or IPv6 address", key, s);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

#define MAXW 12

struct key {
	const char *name;
	int min_args, max_args;
	int (*fn)(struct pctx *p, int n, char **w);
};

/* ---- global keys ---- */

static int k_router_id(struct pctx *p, int n, char **w)
{
	(void)n;
	return parse_id(p, w[0], w[1], &p->c->router_id);
}

static int k_as(struct pctx *p, int n, char **w)
{
	(void)n;
	uint32_t *dst = p->nb ? &p->nb->as : &p->c->as;
	return parse_u32(p, w[0], w[1], 1, UINT32_MAX, dst);
}

static int k_cluster_id(struct pctx *p, int n, char **w)
{
	(void)n;
	return parse_id(p, w[0], w[1], &p->c->cluster_id);
}

static int k_listen(struct pctx *p, int n, char **w)
{
	struct bgp_conf *c = p->c;
	if (c->n_listen == BGP_CONF_MAX_LISTEN)
		return fail(p, "listen: at most %d addresses", BGP_CONF_MAX_LISTEN);
	uint32_t port = BGP_DEFAULT_PORT;
	if (n == 3 && parse_u32(p, "listen port", w[2], 1, 65535, &port) < 0)
		return -EINVAL;
	int i = c->n_listen;
	if (parse_addr(p, w[0], w[1], (uint16_t)port, &c->listen[i], &c->listen_len[i]) < 0)
		return -EINVAL;
	c->n_listen++;
	return 0;
}

static int k_hold(struct pctx *p, int n, char **w)
{
	(void)n;
	uint32_t v;
	if (parse_u32(p, w[0], w[1], 0, 65535, &v) < 0)
		return -EINVAL;
	if (v == 1 || v == 2)
		return fail(p, "hold-time: 0 or at least 3 seconds (RFC 4271)");
	if (p->nb)
		p->nb->hold = (uint16_t)v;
	else
		p->c->hold = (uint16_t)v;
	return 0;
}

static int k_startup_defer(struct pctx *p, int n, char **w)
{
	(void)n;
	uint32_t v;
	if (parse_u32(p, w[0], w[1], 0, 3600, &v) < 0)
		return -EINVAL;
	p->c->startup_defer = (uint16_t)v;
	return 0;
}

/* graceful-restart restart-time N: tern-control as a restarting speaker
 * (RFC 4724 §4.1); 0 turns it off. */
static int k_gr(struct pctx *p, int n, char **w)
{
	(void)n;
	uint32_t v;
	if (strcmp(w[1], "restart-time") != 0)
		return fail(p, "graceful-restart: '%s' (write graceful-restart restart-time "
			    "SECONDS)", w[1]);
	if (parse_u32(p, "graceful-restart restart-time", w[2], 0, 4095, &v) < 0)
		return -EINVAL;
	p->c->gr_restart_time = (uint16_t)v;
	return 0;
}

static int k_state_dir(struct pctx *p, int n, char **w)
{
	(void)n;
	if (strlen(w[1]) >= sizeof(p->c->state_dir))
		return fail(p, "state-dir: path longer than %zu bytes",
			    sizeof(p->c->state_dir) - 1);
	snprintf(p->c->state_dir, sizeof(p->c->state_dir), "%s", w[1]);
	return 0;
}

static int k_connretry(struct pctx *p, int n, char **w)
{
	(void)n;
	uint32_t v;
	if (parse_u32(p, w[0], w[1], 1, 3600, &v) < 0)
		return -EINVAL;
	p->c->connretry = (uint16_t)v;
	return 0;
}

static int k_ctl(struct pctx *p, int n, char **w)
{
	(void)n;
	if (strlen(w[1]) >= sizeof(p->c->ctl_sock))
		return fail(p, "control-socket: path longer than %zu bytes",
			    sizeof(p->c->ctl_sock) - 1);
	snprintf(p->c->ctl_sock, sizeof(p->c->ctl_sock), "%s", w[1]);
	return 0;
}

static int k_log(struct pctx *p, int n, char **w)
{
	(void)n;
	static const char *const lv[] = { "error", "warn", "info", "debug" };
	for (unsigned i = 0; i < 4; i++) {
		if (strcmp(w[1], lv[i]) == 0) {
			snprintf(p->c->log_level, sizeof(p->c->log_level), "%s", w[1]);
			return 0;
		}
	}
	return fail(p, "log-level: '%s' (use error, warn, info or debug)", w[1]);
}

/* ---- neighbor keys ---- */

static int k_port(struct pctx *p, int n, char **w)
{
	(void)n;
	uint32_t v;
	if (parse_u32(p, w[0], w[1], 1, 65535, &v) < 0)
		return -EINVAL;
	set_port(&p->nb->addr, (uint16_t)v);
	return 0;
}

static int k_local(struct pctx *p, int n, char **w)
{
	(void)n;
	if (parse_addr(p, w[0], w[1], 0, &p->nb->local, &p->nb->local_len) < 0)
		return -EINVAL;
	if (p->nb->local.ss_family != p->nb->addr.ss_family)
		return fail(p, "local-address %s: not of the neighbor's address family", w[1]);
	return 0;
}

static int k_families(struct pctx *p, int n, char **w)
{
	p->nb->afs = 0;
	for (int i = 1; i < n; i++) {
		int af = bgp_af_by_name(w[i]);
		if (af < 0)
			return fail(p, "families: unknown family '%s' (ipv4, ipv6, vpnv4, vpnv6, evpn, rtc)",
				    w[i]);
		p->nb->afs |= BGP_AF_BIT(af);
	}
	return 0;
}

static int k_passive(struct pctx *p, int n, char **w)
{
	(void)n;
	(void)w;
	p->nb->passive = true;
	return 0;
}

/* add-path both|send|receive|off: the ADD-PATH directions offered
 * (RFC 7911; vpnv4/vpnv6). */
static int k_addpath(struct pctx *p, int n, char **w)
{
	(void)n;
	static const struct { const char *name; uint8_t off; } v[] = {
		{ "both", 0 }, { "send", BGP_CONF_AP_NO_RX }, { "receive", BGP_CONF_AP_NO_TX },
		{ "off", BGP_CONF_AP_NO_RX | BGP_CONF_AP_NO_TX },
	};
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (strcmp(w[1], v[i].name) == 0) {
			p->nb->addpath_off = v[i].off;
			return 0;
		}
	}
	return fail(p, "add-path: '%s' (use both, send, receive or off)", w[1]);
}

static int k_rr_client(struct pctx *p, int n, char **w)
{
	(void)n;
	(void)w;
	p->nb->rr_client = true;
	return 0;
}

/* ---- instance keys ---- */

static int k_rd(struct pctx *p, int n, char **w)
{
	(void)n;
	if (bgp_vrf_parse_rt(w[1], p->vrf->rd, true) < 0)
		return fail(p, "rd: '%s' is not ASN:NN or a.b.c.d:NN", w[1]);
	p->vrf->has_rd = true;
	return 0;
}

static int k_target(struct pctx *p, int n, char **w)
{
	bool imp = strcmp(w[0], "import-target") == 0;
	struct bgp_vrf_conf *v = p->vrf;
	int *cnt = imp ? &v->n_import : &v->n_export;
	for (int i = 1; i < n; i++) {
		if (*cnt == BGP_VRF_MAX_RT)
			return fail(p, "%s: at most %d targets", w[0], BGP_VRF_MAX_RT);
		uint8_t *rt = imp ? v->import[*cnt] : v->export[*cnt];
		if (bgp_vrf_parse_rt(w[i], rt, false) < 0)
			return fail(p, "%s: '%s' is not ASN:NN or a.b.c.d:NN", w[0], w[i]);
		(*cnt)++;
	}
	return 0;
}

/* route PREFIX/LEN label N next-hop ADDRESS */
static int k_route(struct pctx *p, int n, char **w)
{
	struct bgp_vrf_conf *v = p->vrf;
	if (n != 6 || strcmp(w[2], "label") || strcmp(w[4], "next-hop"))
		return fail(p, "route is written: route PREFIX/LEN label N next-hop ADDRESS");
	if (v->n_routes == BGP_VRF_MAX_ROUTES)
		return fail(p, "route: at most %d per instance", BGP_VRF_MAX_ROUTES);
	struct bgp_vrf_route *r = &v->routes[v->n_routes];
	memset(r, 0, sizeof(*r));
	char addr[64];
	const char *slash = strchr(w[1], '/');
	if (!slash || (size_t)(slash - w[1]) >= sizeof(addr))
		return fail(p, "route: '%s' is not PREFIX/LEN", w[1]);
	memcpy(addr, w[1], (size_t)(slash - w[1]));
	addr[slash - w[1]] = 0;
	uint32_t plen, label;
	bool v6 = inet_pton(AF_INET6, addr, r->p.addr) == 1;
	if (!v6 && inet_pton(AF_INET, addr, r->p.addr) != 1)
		return fail(p, "route: '%s' is not an IPv4 or IPv6 address", addr);
	if (parse_u32(p, "route prefix length", slash + 1, 0, v6 ? 128 : 32, &plen) < 0 ||
	    parse_u32(p, "route label", w[3], 16, 0xfffff, &label) < 0)
		return -EINVAL;
	r->p.af = v6 ? BGP_AF_IPV6 : BGP_AF_IPV4;
	r->p.plen = (uint8_t)plen;
	for (unsigned bit = plen; bit < 128; bit++) /* host bits: must be zero */
		if (r->p.addr[bit / 8] & (0x80 >> (bit % 8)))
			return fail(p, "route: %s has bits set past /%u", w[1], plen);
	r->label = label;
	if (inet_pton(AF_INET, w[5], r->nh) == 1)
		r->nh_len = 4;
	else if (inet_pton(AF_INET6, w[5], r->nh) == 1 && v6)
		r->nh_len = 16;
	else
		return fail(p, "route: next-hop '%s' is not an IPv4%s address", w[5],
			    v6 ? " or IPv6" : "");
	v->n_routes++;
	return 0;
}

static int k_password(struct pctx *p, int n, char **w)
{
	(void)n;
	/* TCP_MD5SIG_MAXKEYLEN */
	if (strlen(w[1]) >= sizeof(p->nb->password))
		return fail(p, "password: at most %zu characters (the kernel's limit)",
			    sizeof(p->nb->password) - 1);
	snprintf(p->nb->password, sizeof(p->nb->password), "%s", w[1]);
	return 0;
}

static const struct key global_keys[] = {
	{ "router-id", 1, 1, k_router_id }, { "as", 1, 1, k_as },
	{ "cluster-id", 1, 1, k_cluster_id }, { "listen", 1, 2, k_listen },
	{ "hold-time", 1, 1, k_hold }, { "connect-retry", 1, 1, k_connretry },
	{ "startup-defer", 1, 1, k_startup_defer }, { "control-socket", 1, 1, k_ctl },
	{ "log-level", 1, 1, k_log }, { "graceful-restart", 2, 2, k_gr },
	{ "state-dir", 1, 1, k_state_dir },
	{ NULL, 0, 0, NULL },
};

static const struct key nb_keys[] = {
	{ "as", 1, 1, k_as }, { "port", 1, 1, k_port }, { "local-address", 1, 1, k_local },
	{ "families", 1, BGP_AF_COUNT, k_families }, { "passive", 0, 0, k_passive },
	{ "rr-client", 0, 0, k_rr_client }, { "hold-time", 1, 1, k_hold },
	{ "password", 1, 1, k_password }, { "add-path", 1, 1, k_addpath },
	{ NULL, 0, 0, NULL },
};

static const struct key vrf_keys[] = {
	{ "rd", 1, 1, k_rd }, { "import-target", 1, MAXW - 1, k_target },
	{ "export-target", 1, MAXW - 1, k_target }, { "route", 1, MAXW - 1, k_route },
	{ NULL, 0, 0, NULL },
};

static int instance_section(struct pctx *p, const char *name)
{
	struct bgp_conf *c = p->c;
	if (strlen(name) >= sizeof(c->vrf[0].name))
		return fail(p, "instance name '%s' longer than %zu bytes", name,
			    sizeof(c->vrf[0].name) - 1);
	for (int i = 0; i < c->n_vrf; i++)
		if (strcmp(c->vrf[i].name, name) == 0)
			return fail(p, "instance %s is already defined at line %d", name,
				    c->vrf[i].line);
	bool full = false;
	struct bgp_vrf_conf *v = bgp_conf_vrf_new(c, &full);
	if (!v)
		return full ? fail(p, "at most %d instances", BGP_VRF_MAX) :
			      fail(p, "out of memory for instance %s", name);
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->line = p->line;
	p->vrf = v;
	p->nb = NULL;
	return 0;
}

static int range_section(struct pctx *p, char *prefix)
{
	struct bgp_conf *c = p->c;
	if (c->n_range == BGP_CONF_MAX_RANGES)
		return fail(p, "at most %d [neighbors PREFIX] sections", BGP_CONF_MAX_RANGES);
	struct bgp_conf_range *r = &c->range[c->n_range];
	memset(r, 0, sizeof(*r));
	char *slash = strchr(prefix, '/'), *end;
	if (!slash)
		return fail(p, "neighbors: '%s' is not a prefix like 10.254.0.0/24", prefix);
	*slash = 0;
	long plen = strtol(slash + 1, &end, 10);
	socklen_t len;
	if (parse_addr(p, "neighbors", prefix, 0, &r->net, &len) < 0)
		return -EINVAL;
	if (!slash[1] || *end || plen < 0 || plen > (r->net.ss_family == AF_INET ? 32 : 128))
		return fail(p, "neighbors: bad prefix length '%s'", slash + 1);
	r->plen = (uint8_t)plen;
	snprintf(r->tmpl.name, sizeof(r->tmpl.name), "%.56s/%u", prefix, (unsigned)r->plen);
	r->tmpl.afs = BGP_AF_BIT(BGP_AF_IPV4);
	r->tmpl.passive = true;  /* we do not know whom to call */
	r->tmpl.line = p->line;
	c->n_range++;
	p->nb = &r->tmpl;
	p->vrf = NULL;
	return 0;
}

static bool prefix_has(const struct sockaddr_storage *net, unsigned plen,
		       const struct sockaddr_storage *a)
{
	const uint8_t *x, *y;
	if (net->ss_family != a->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		x = (const uint8_t *)&((const struct sockaddr_in *)net)->sin_addr;
		y = (const uint8_t *)&((const struct sockaddr_in *)a)->sin_addr;
	} else {
		x = (const uint8_t *)&((const struct sockaddr_in6 *)net)->sin6_addr;
		y = (const uint8_t *)&((const struct sockaddr_in6 *)a)->sin6_addr;
	}
	for (unsigned i = 0; plen; i++) {
		unsigned n = plen >= 8 ? 8 : plen;
		uint8_t mask = (uint8_t)(0xff00 >> n);
		if ((x[i] & mask) != (y[i] & mask))
			return false;
		plen -= n;
	}
	return true;
}

const struct bgp_conf_range *bgp_conf_range_of(const struct bgp_conf *c,
					       const struct sockaddr_storage *addr)
{
	for (int i = 0; i < c->n_range; i++)
		if (prefix_has(&c->range[i].net, c->range[i].plen, addr))
			return &c->range[i];
	return NULL;
}

static int section(struct pctx *p, char *line)
{
	char *end = strchr(line, ']');
	if (!end || end[1])
		return fail(p, "a section is written [neighbor ADDRESS]");
	*end = 0;
	char addr[64];
	if (sscanf(line + 1, "instance %63s", addr) == 1)
		return instance_section(p, addr);
	if (sscanf(line + 1, "neighbors %63s", addr) == 1)
		return range_section(p, addr);
	if (sscanf(line + 1, "neighbor %63s", addr) != 1)
		return fail(p, "unknown section '%s' ([neighbor ADDRESS], [neighbors PREFIX] or "
			    "[instance NAME])",
			    line + 1);
	struct bgp_conf *c = p->c;
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_addr(p, "neighbor", addr, BGP_DEFAULT_PORT, &ss, &sl) < 0)
		return -EINVAL;
	for (int i = 0; i < c->n_nb; i++)
		if (strcmp(c->nb[i].name, addr) == 0)
			return fail(p, "neighbor %s is already defined at line %d", addr,
				    c->nb[i].line);
	bool full = false;
	struct bgp_conf_neighbor *nb = bgp_conf_nb_new(c, &full);
	if (!nb)
		return full ? fail(p, "at most %d neighbors", BGP_CONF_MAX_NB) :
			      fail(p, "out of memory for neighbor %s", addr);
	nb->addr = ss;
	nb->addr_len = sl;
	snprintf(nb->name, sizeof(nb->name), "%s", addr);
	nb->afs = BGP_AF_BIT(BGP_AF_IPV4);
	nb->line = p->line;
	p->nb = nb;
	p->vrf = NULL;
	return 0;
}

static int one_line(struct pctx *p, char *line)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = 0;
	char *w[MAXW + 1];
	int n = 0;
	char *save = NULL;
	for (char *s = strtok_r(line, " \t\r", &save); s; s = strtok_r(NULL, " \t\r", &save)) {
		if (n == MAXW + 1)
			return fail(p, "too many words");
		w[n++] = s;
	}
	if (n == 0)
		return 0;
	if (w[0][0] == '[') {
		if (n != 2)
			return fail(p, "a section is written [neighbor ADDRESS]");
		char joined[128];
		snprintf(joined, sizeof(joined), "%s %s", w[0], w[1]);
		return section(p, joined);
	}
	const struct key *k = p->nb ? nb_keys : p->vrf ? vrf_keys : global_keys;
	for (; k->name; k++) {
		if (strcmp(k->name, w[0]) != 0)
			continue;
		if (n - 1 < k->min_args || n - 1 > k->max_args)
			return fail(p, "%s takes %d to %d values, not %d", k->name, k->min_args,
				    k->max_args, n - 1);
		return k->fn(p, n, w);
	}
	return fail(p, "unknown key '%s'%s", w[0],
		    p->nb ? " in a [neighbor] section" : p->vrf ? " in an [instance] section" :
		    " (global keys come before any section)");
}

int bgp_conf_parse(struct bgp_conf *c, const char *name, const char *text, char *err,
		   size_t errlen)
{
	return bgp_conf_parse_flags(c, name, text, 0, err, errlen);
}

static int parse(struct bgp_conf *c, const char *name, const char *text, unsigned flags,
		 char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->hold = BGP_DEFAULT_HOLD;
	c->connretry = BGP_DEFAULT_CONNRETRY;
	c->startup_defer = BGP_DEFAULT_STARTUP_DEFER;
	snprintf(c->ctl_sock, sizeof(c->ctl_sock), "%s", BGP_DEFAULT_CTL_SOCK);
	snprintf(c->log_level, sizeof(c->log_level), "info");
	struct pctx p = { .c = c, .name = name, .err = err, .errlen = errlen };
	const char *s = text;
	while (*s) {
		p.line++;
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char line[512];
		if (len >= sizeof(line))
			return fail(&p, "line longer than %zu bytes", sizeof(line) - 1);
		memcpy(line, s, len);
		line[len] = 0;
		if (one_line(&p, line) < 0)
			return -EINVAL;
		s += len + (nl ? 1 : 0);
	}
	p.line++;
	if (!c->router_id && !(flags & BGP_CONF_API))
		return fail(&p, "router-id is missing");
	if (!c->as && !(flags & BGP_CONF_API))
		return fail(&p, "as (the local AS) is missing");
	if (!c->cluster_id && !(flags & BGP_CONF_API))
		c->cluster_id = c->router_id;
	for (int i = 0; i < c->n_nb; i++) {
		struct bgp_conf_neighbor *nb = &c->nb[i];
		if (!nb->as) {
			p.line = nb->line;
			return fail(&p, "neighbor %s: as is missing", nb->name);
		}
		if (!nb->hold)
			nb->hold = c->hold;
	}
	for (int i = 0; i < c->n_range; i++) {
		struct bgp_conf_neighbor *nb = &c->range[i].tmpl;
		if (!nb->as) {
			p.line = nb->line;
			return fail(&p, "neighbors %s: as is missing", nb->name);
		}
		if (!nb->hold)
			nb->hold = c->hold;
	}
	for (int i = 0; i < c->n_vrf; i++) {
		struct bgp_vrf_conf *v = &c->vrf[i];
		p.line = v->line;
		if (v->n_routes && !v->has_rd)
			return fail(&p, "instance %s: routes need an rd", v->name);
		if (v->n_routes && !v->n_export)
			return fail(&p, "instance %s: routes need an export-target", v->name);
	}
	return 0;
}

int bgp_conf_parse_flags(struct bgp_conf *c, const char *name, const char *text,
			 unsigned flags, char *err, size_t errlen)
{
	int rc = parse(c, name, text, flags, err, errlen);
	if (rc < 0)
		bgp_conf_free(c);
	return rc;
}

int bgp_conf_load(struct bgp_conf *c, const char *path, unsigned flags, char *err,
		  size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t cap = 0, len = 0;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			char *t = realloc(text, cap);
			if (!t) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return -ENOMEM;
			}
			text = t;
		}
		memcpy(text + len, buf, n);
		len += n;
		text[len] = 0; /* room kept above */
	}
	int rerr = ferror(f);
	fclose(f);
	if (rerr) {
		free(text);
		snprintf(err, errlen, "%s: read error", path);
		return -EIO;
	}
	int rc = bgp_conf_parse_flags(c, path, text ? text : "", flags, err, errlen);
	free(text);
	return rc;
}

/* ---- the arrays ---- */

/* *arr (of *cap elements of size bytes) grown to at least want. The
 * callers pass a local copy of their pointer, so that no typed pointer is
 * written through a void **. Returns 0 or -ENOMEM (*arr unchanged). */
static int grow(void **arr, int *cap, int want, size_t size)
{
	if (want <= *cap)
		return 0;
	int n = *cap ? *cap : 8;
	while (n < want)
		n *= 2;
	void *a = realloc(*arr, (size_t)n * size);
	if (!a)
		return -ENOMEM;
	*arr = a;
	*cap = n;
	return 0;
}

int bgp_conf_reserve(struct bgp_conf *c, int n_nb, int n_vrf)
{
	void *nb = c->nb, *vrf = c->vrf;
	int rc = grow(&nb, &c->cap_nb, n_nb, sizeof(*c->nb));
	c->nb = nb;
	if (rc == 0)
		rc = grow(&vrf, &c->cap_vrf, n_vrf, sizeof(*c->vrf));
	c->vrf = vrf;
	return rc;
}

struct bgp_conf_neighbor *bgp_conf_nb_new(struct bgp_conf *c, bool *full)
{
	if (full)
		*full = c->n_nb >= BGP_CONF_MAX_NB;
	if (c->n_nb >= BGP_CONF_MAX_NB || bgp_conf_reserve(c, c->n_nb + 1, 0) < 0)
		return NULL;
	struct bgp_conf_neighbor *nb = &c->nb[c->n_nb++];
	memset(nb, 0, sizeof(*nb));
	return nb;
}

struct bgp_vrf_conf *bgp_conf_vrf_new(struct bgp_conf *c, bool *full)
{
	if (full)
		*full = c->n_vrf >= BGP_VRF_MAX;
	if (c->n_vrf >= BGP_VRF_MAX || bgp_conf_reserve(c, 0, c->n_vrf + 1) < 0)
		return NULL;
	struct bgp_vrf_conf *v = &c->vrf[c->n_vrf++];
	memset(v, 0, sizeof(*v));
	return v;
}

void bgp_conf_free(struct bgp_conf *c)
{
	free(c->nb);
	free(c->vrf);
	c->nb = NULL;
	c->vrf = NULL;
	c->n_nb = c->cap_nb = c->n_vrf = c->cap_vrf = 0;
}

int bgp_conf_copy(struct bgp_conf *dst, const struct bgp_conf *src)
{
	*dst = *src;
	dst->nb = NULL;
	dst->vrf = NULL;
	dst->cap_nb = dst->cap_vrf = 0;
	if (bgp_conf_reserve(dst, src->n_nb, src->n_vrf) < 0) {
		bgp_conf_free(dst);
		return -ENOMEM;
	}
	if (src->n_nb)
		memcpy(dst->nb, src->nb, (size_t)src->n_nb * sizeof(*src->nb));
	if (src->n_vrf)
		memcpy(dst->vrf, src->vrf, (size_t)src->n_vrf * sizeof(*src->vrf));
	return 0;
}

/* ---- comparing two configurations ---- */

bool bgp_conf_nb_same(const struct bgp_conf_neighbor *a, const struct bgp_conf_neighbor *b)
{
	return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0 &&
	       a->local_len == b->local_len &&
	       memcmp(&a->local, &b->local, a->local_len) == 0 && a->as == b->as &&
	       a->afs == b->afs && a->hold == b->hold && a->passive == b->passive &&
	       a->rr_client == b->rr_client && strcmp(a->password, b->password) == 0 &&
	       a->addpath_off == b->addpath_off;
}

static bool rts_same(const uint8_t (*a)[8], int na, const uint8_t (*b)[8], int nb)
{
	return na == nb && memcmp(a, b, (size_t)na * 8) == 0;
}

bool bgp_conf_vrf_same(const struct bgp_vrf_conf *a, const struct bgp_vrf_conf *b)
{
	if (a->has_rd != b->has_rd || (a->has_rd && memcmp(a->rd, b->rd, 8) != 0) ||
	    a->vni != b->vni || a->n_routes != b->n_routes ||
	    !rts_same(a->import, a->n_import, b->import, b->n_import) ||
	    !rts_same(a->export, a->n_export, b->export, b->n_export))
		return false;
	for (int i = 0; i < a->n_routes; i++) {
		const struct bgp_vrf_route *x = &a->routes[i], *y = &b->routes[i];
		if (x->p.af != y->p.af || x->p.plen != y->p.plen ||
		    memcmp(x->p.addr, y->p.addr, sizeof(x->p.addr)) != 0 || x->label != y->label ||
		    x->nh_len != y->nh_len || memcmp(x->nh, y->nh, x->nh_len) != 0)
			return false;
	}
	return true;
}

static bool nb_in_diff(const struct bgp_conf_neighbor *nb)
{
	return !nb->off && nb->origin != BGP_NB_RANGE;
}

/* A small open-addressing table of indexes of `to`, for matching: keys are
 * hashed by the caller (FNV-1a), entries compared by it. */
static uint32_t hbytes(const void *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 16777619u;
	return h;
}

static uint32_t nb_key(const struct bgp_conf_neighbor *nb)
{
	return hbytes(&nb->addr, nb->addr_len);
}

static uint32_t vrf_key(const struct bgp_vrf_conf *v)
{
	return hbytes(v->name, strlen(v->name));
}

static bool nb_match(const struct bgp_conf_neighbor *a, const struct bgp_conf_neighbor *b)
{
	return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

static uint32_t tsize(int n)
{
	uint32_t m = 16;
	while (m < 2u * (uint32_t)n)
		m *= 2;
	return m;
}

int bgp_conf_diff(const struct bgp_conf *from, const struct bgp_conf *to,
		  struct bgp_conf_diff *df)
{
	memset(df, 0, sizeof(*df));
	size_t nf = (size_t)from->n_nb, nt = (size_t)to->n_nb;
	size_t vf = (size_t)from->n_vrf, vt = (size_t)to->n_vrf;
	uint32_t hn = tsize(to->n_nb), hv = tsize(to->n_vrf);
	size_t sz = (nf + vf) * sizeof(int) + (hn + hv) * sizeof(int) + nf + vf + nt + vt;
	char *m = df->mem = calloc(1, sz ? sz : 1);
	if (!m)
		return -ENOMEM;
	df->nb_to = (int *)m;
	df->vrf_to = df->nb_to + nf;
	int *tn = df->vrf_to + vf, *tv = tn + hn;   /* to's index + 1; 0: empty */
	df->nb = (uint8_t *)(tv + hv);
	df->vrf = df->nb + nf;
	df->nb_add = (bool *)(df->vrf + vf);
	df->vrf_add = df->nb_add + nt;

	for (int j = 0; j < to->n_nb; j++) {
		df->nb_add[j] = nb_in_diff(&to->nb[j]);
		if (!df->nb_add[j])
			continue;
		uint32_t k = nb_key(&to->nb[j]) & (hn - 1);
		while (tn[k])
			k = (k + 1) & (hn - 1);
		tn[k] = j + 1;
	}
	for (int i = 0; i < from->n_nb; i++) {
		const struct bgp_conf_neighbor *a = &from->nb[i];
		df->nb_to[i] = -1;
		if (!nb_in_diff(a))
			continue;
		for (uint32_t k = nb_key(a) & (hn - 1); tn[k]; k = (k + 1) & (hn - 1)) {
			int j = tn[k] - 1;
			if (df->nb_add[j] && nb_match(a, &to->nb[j])) {
				df->nb_to[i] = j;
				df->nb_add[j] = false;
				break;
			}
		}
		if (df->nb_to[i] < 0) {
			df->nb[i] = BGP_CH_REMOVE;
			df->n_stop++;
		} else if (!bgp_conf_nb_same(a, &to->nb[df->nb_to[i]])) {
			df->nb[i] = BGP_CH_RESET;
			df->n_reset++;
		}
	}
	for (int j = 0; j < to->n_nb; j++)
		df->n_start += df->nb_add[j];

	for (int j = 0; j < to->n_vrf; j++) {
		df->vrf_add[j] = true;
		uint32_t k = vrf_key(&to->vrf[j]) & (hv - 1);
		while (tv[k])
			k = (k + 1) & (hv - 1);
		tv[k] = j + 1;
	}
	for (int i = 0; i < from->n_vrf; i++) {
		df->vrf_to[i] = -1;
		uint32_t k = vrf_key(&from->vrf[i]) & (hv - 1);
		for (; tv[k]; k = (k + 1) & (hv - 1)) {
			int j = tv[k] - 1;
			if (df->vrf_add[j] && strcmp(from->vrf[i].name, to->vrf[j].name) == 0) {
				df->vrf_to[i] = j;
				df->vrf_add[j] = false;
				break;
			}
		}
		if (df->vrf_to[i] < 0) {
			df->vrf[i] = BGP_CH_REMOVE;
			df->n_vrf_remove++;
		} else if (!bgp_conf_vrf_same(&from->vrf[i], &to->vrf[df->vrf_to[i]])) {
			df->vrf[i] = BGP_CH_RESET;
			df->n_vrf_change++;
		}
	}
	for (int j = 0; j < to->n_vrf; j++)
		df->n_vrf_add += df->vrf_add[j];
	return 0;
}

void bgp_conf_diff_free(struct bgp_conf_diff *df)
{
	free(df->mem);
	memset(df, 0, sizeof(*df));
}
