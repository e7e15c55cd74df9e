/*
 * DOC: api_core.c — requests as transactions: authorise, validate, resolve
 * references, allocate, version, write, notify. See api_core.h.
 *
 * Order inside a write, and why:
 *  1. decode and validate the body before taking the store (no lock held
 *     while parsing a large body);
 *  2. begin a write transaction: from here to commit no other writer runs,
 *     so "look for a free address, claim it" cannot race;
 *  3. authorise against the object as stored (a project token cannot move
 *     an object into its project by naming it);
 *  4. resolve references to fq_names (readable, and stable because a
 *     referenced object cannot be deleted), collect them for the refs table;
 *  5. release the object's old claims and claim again from its new state,
 *     so an update that keeps an address keeps it, and one that changes it
 *     frees the old one in the same revision;
 *  6. put (one revision, one event), commit, wake watchers.
 */
#include "api_core.h"

#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

#include "api_addr.h"

#define ST(c) ((c)->store->ops)

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void notify(struct api_core *c, int64_t rev);

/* The store learnt of another tern-api's write: wake our watchers now. */
static void on_store_write(void *arg, int64_t rev)
{
	notify(arg, rev);
}

int api_core_init(struct api_core *c, struct api_store *s, struct tern_log *lg, uint32_t asn,
		  struct api_err *e)
{
	memset(c, 0, sizeof(*c));
	c->store = s;
	c->log = lg;
	c->asn = asn;
	/* a shared store (etcd) has other writers: watchers poll it, rarely
	 * when the store tells us of their writes itself (its etcd watch) */
	c->poll_ms = strcmp(s->ops->name, "etcd") == 0
		     ? (s->ops->subscribe ? API_POLL_PUSHED_MS : API_POLL_MS) : 0;
	pthread_mutex_init(&c->ev_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->ev_cond, &ca);
	pthread_cond_init(&c->cz_cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = ST(c)->begin(s, false);
	if (rc == 0) {
		rc = ST(c)->revision(s, &c->rev);
		if (rc == 0)
			rc = ST(c)->commit(s);
		else
			ST(c)->rollback(s);
	}
	if (rc < 0) {
		api_core_fini(c);
		return api_errf(e, 500, "", "cannot read the store's revision: %s", strerror(-rc));
	}
	if (s->ops->subscribe)
		s->ops->subscribe(s, on_store_write, c);
	return 0;
}

void api_core_stop(struct api_core *c)
{
	pthread_mutex_lock(&c->ev_lock);
	c->stopping = true;
	if (c->change_cb)
		c->change_cb(c->change_arg);
	pthread_cond_broadcast(&c->ev_cond);
	pthread_cond_broadcast(&c->cz_cond);
	bool join = c->compacting;
	c->compacting = false;
	pthread_mutex_unlock(&c->ev_lock);
	if (join)
		pthread_join(c->compactor, NULL); /* it ends within one chunk */
}

void api_core_fini(struct api_core *c)
{
	api_core_stop(c);
	if (c->store && c->store->ops->subscribe)
		c->store->ops->subscribe(c->store, NULL, NULL);
	pthread_cond_destroy(&c->cz_cond);
	pthread_cond_destroy(&c->ev_cond);
	pthread_mutex_destroy(&c->ev_lock);
}

static void notify(struct api_core *c, int64_t rev)
{
	pthread_mutex_lock(&c->ev_lock);
	if (rev > c->rev) {
		c->rev = rev;
		if (c->change_cb)
			c->change_cb(c->change_arg);
	}
	pthread_cond_broadcast(&c->ev_cond);
	pthread_mutex_unlock(&c->ev_lock);
}

void api_core_on_change(struct api_core *c, void (*cb)(void *arg), void *arg)
{
	pthread_mutex_lock(&c->ev_lock);
	c->change_cb = cb;
	c->change_arg = arg;
	pthread_mutex_unlock(&c->ev_lock);
}

int64_t api_core_rev(struct api_core *c)
{
	pthread_mutex_lock(&c->ev_lock);
	int64_t r = c->stopping ? -1 : c->rev;
	pthread_mutex_unlock(&c->ev_lock);
	return r;
}

/* Another tern-api on the same store does not wake our watchers: read the
 * store's revision and wake them if it moved. */
static void refresh(struct api_core *c)
{
	int64_t rev;
	if (ST(c)->begin(c->store, false) < 0)
		return;
	int rc = ST(c)->revision(c->store, &rev);
	ST(c)->commit(c->store);
	if (rc == 0)
		notify(c, rev);
}

int64_t api_revision(struct api_core *c)
{
	if (c->poll_ms > 0)
		refresh(c); /* other replicas may have written since our last look */
	pthread_mutex_lock(&c->ev_lock);
	int64_t r = c->rev;
	pthread_mutex_unlock(&c->ev_lock);
	return r;
}

static int64_t wait_local(struct api_core *c, int64_t after, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->ev_lock);
	while (!c->stopping && c->rev <= after)
		if (pthread_cond_timedwait(&c->ev_cond, &c->ev_lock, &until) == ETIMEDOUT)
			break;
	int64_t r = c->stopping ? -1 : c->rev;
	pthread_mutex_unlock(&c->ev_lock);
	return r;
}


int64_t api_wait(struct api_core *c, int64_t after, int timeout_ms)
{
	if (c->poll_ms <= 0)
		return wait_local(c, after, timeout_ms);
	for (;;) {
		int slice = timeout_ms < c->poll_ms ? timeout_ms : c->poll_ms;
		int64_t r = wait_local(c, after, slice);
		if (r < 0 || r > after)
			return r;
		/* one look at the store per poll interval for the whole process,
		 * however many watchers wait: they all wake on what it finds */
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		int64_t now_ms = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
		pthread_mutex_lock(&c->ev_lock);
		bool mine = now_ms - c->polled_ms >= c->poll_ms;
		if (mine)
			c->polled_ms = now_ms;
		pthread_mutex_unlock(&c->ev_lock);
		if (mine)
			refresh(c);
		timeout_ms -= slice;
		if (timeout_ms <= 0)
			return wait_local(c, INT64_MAX, 0); /* the revision as it is now */
	}
}

/* ---- authorisation ------------------------------------------------------- */

/* May id read (write=false) or change an object of kind k in project
 * (the project's own name for kind project; NULL for global kinds)? */
static int may(const struct api_ident *id, bool write, const struct api_kind *k,
	       const char *project, struct api_err *e)
{
	if (write && id->role != API_ROLE_ADMIN)
		return api_errf(e, 403, "", "token '%s' is read-only: writes need an admin token",
				id->name);
	if (!id->project[0])
		return 0;
	bool is_project = strcmp(k->name, "project") == 0;
	if (!k->scoped && !is_project) {
		if (write)
			return api_errf(e, 403, "", "a token for project %s cannot change global %s "
					"objects", id->project, k->name);
		return 0;
	}
	if (is_project && write)
		return api_errf(e, 403, "", "a token for project %s cannot create, change or "
				"delete projects", id->project);
	if (!project || strcmp(project, id->project) != 0)
		return api_errf(e, 403, "project", "a token for project %s cannot %s objects of "
				"project %s", id->project, write ? "change" : "read",
				project ? project : "(none)");
	return 0;
}

static const char *scope_of(const struct api_kind *k, json_t *obj)
{
	return strcmp(k->name, "project") == 0 ? str(obj, "name") : str(obj, "project");
}

/* ---- references ---------------------------------------------------------- */

struct ref_ctx {
	struct api_core *c;
	const struct api_ident *id;
	const struct api_kind *k;
	const char *project;
	json_t *refs;        /* [[field, uuid], ...] */
	char parent[37];
	struct api_err *e;
};

/* find, for a caller that only reads the object (see the store's peek) */
static int peek(struct api_core *c, const char *kind, const char *fq_name, json_t **obj)
{
	return ST(c)->peek ? ST(c)->peek(c->store, kind, fq_name, obj)
			   : ST(c)->find(c->store, kind, fq_name, obj);
}

/* The object ref names (read only: see peek). */
static int lookup(struct api_core *c, const struct api_kind *rk, const char *ref,
		  const char *project, json_t **target)
{
	if (api_is_uuid(ref)) {
		int rc = ST(c)->get(c->store, ref, target);
		if (rc == 0 && strcmp(str(*target, "kind"), rk->name) != 0) {
			json_decref(*target);
			*target = NULL;
			return -ENOENT;
		}
		return rc;
	}
	if (strchr(ref, ':') || !rk->scoped || !project)
		return peek(c, rk->name, ref, target);
	char fq[2 * API_NAME_MAX + 2];
	snprintf(fq, sizeof(fq), "%s:%s", project, ref);
	return peek(c, rk->name, fq, target);
}

static int resolve_cb(void *arg, const char *path, const struct api_field *f, json_t *holder,
		      const char *key, size_t index)
{
	struct ref_ctx *x = arg;
	json_t *v = key ? json_object_get(holder, key) : json_array_get(holder, index);
	const char *ref = json_string_value(v);
	const struct api_kind *rk = api_kind_find(f->ref_kind);
	json_t *t = NULL;
	int rc = lookup(x->c, rk, ref, x->project, &t);
	if (rc == -ENOENT)
		return api_errf(x->e, 400, path, "refers to %s '%s', which does not exist; create "
				"it first", rk->name, ref);
	if (rc < 0)
		return api_errf(x->e, 500, path, "store error: %s", strerror(-rc));
	if (x->id->project[0] && rk->scoped && strcmp(str(t, "project"), x->id->project) != 0) {
		api_errf(x->e, 403, path, "a token for project %s cannot refer to objects of "
			 "project %s", x->id->project, str(t, "project"));
		json_decref(t);
		return -1;
	}
	json_t *fq = json_string(str(t, "fq_name"));
	if (key)
		json_object_set_new(holder, key, fq);
	else
		json_array_set_new(holder, index, fq);
	json_array_append_new(x->refs, json_pack("[ss]", path, str(t, "uuid")));
	if (x->k->parent_field && strcmp(path, x->k->parent_field) == 0)
		snprintf(x->parent, sizeof(x->parent), "%s", str(t, "uuid"));
	json_decref(t);
	return 0;
}

/* Resolve every reference of obj (and its project); *refs for the store,
 * obj's "parent" set. */
static int resolve(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
		   json_t *obj, json_t **refs, struct api_err *e)
{
	struct ref_ctx x = { .c = c, .id = id, .k = k, .project = str(obj, "project"),
			     .refs = json_array(), .e = e };
	if (k->scoped) {
		json_t *p;
		int rc = peek(c, "project", x.project, &p);
		if (rc == -ENOENT) {
			json_decref(x.refs);
			return api_errf(e, 400, "project", "project '%s' does not exist; create it "
					"first", x.project);
		}
		if (rc < 0) {
			json_decref(x.refs);
			return api_errf(e, 500, "project", "store error: %s", strerror(-rc));
		}
		json_array_append_new(x.refs, json_pack("[ss]", "project", str(p, "uuid")));
		snprintf(x.parent, sizeof(x.parent), "%s", str(p, "uuid"));
		json_decref(p);
	}
	if (api_refs_walk(k, obj, resolve_cb, &x) != 0) {
		json_decref(x.refs);
		return -1;
	}
	if (x.parent[0])
		json_object_set_new(obj, "parent", json_string(x.parent));
	else
		json_object_del(obj, "parent");
	*refs = x.refs;
	return 0;
}

/* "instance-ip demo:ip1" for the holder of a claim, for messages. */
static void describe(struct api_core *c, const char *uuid, char *out, size_t len)
{
	json_t *o;
	if (ST(c)->get(c->store, uuid, &o) == 0) {
		snprintf(out, len, "%s %s", str(o, "kind"), str(o, "fq_name"));
		json_decref(o);
	} else {
		snprintf(out, len, "object %s", uuid);
	}
}

/* Claim (pool, value) for owner; 409 naming the holder. */
static int claim(struct api_core *c, const char *pool, uint64_t value, const char *owner,
		 const char *field, const char *what, struct api_err *e)
{
	char holder[37], who[160];
	int rc = ST(c)->claim(c->store, pool, value, owner, holder);
	if (rc == -EEXIST) {
		describe(c, holder, who, sizeof(who));
		return api_errf(e, 409, field, "%s is already taken by %s", what, who);
	}
	if (rc < 0)
		return api_errf(e, 500, field, "store error: %s", strerror(-rc));
	return 0;
}

/* ---- allocation per kind --------------------------------------------------- */

static void ip_pool_name(char *out, size_t len, const char *vn_uuid, const char *cidr)
{
	snprintf(out, len, "ip:%s:%s", vn_uuid, cidr);
}

static int vn_alloc_rts(struct api_core *c, json_t *obj, const char *uuid, struct api_err *e)
{
	static const char *const keys[] = { "route_target_import", "route_target_export" };
	if (!json_object_get(obj, keys[0]) && !json_object_get(obj, keys[1])) {
		uint64_t n;
		int rc = ST(c)->claim_free(c->store, "rt", API_RT_AUTO_LO, API_RT_AUTO_HI, uuid, &n);
		if (rc < 0)
			return api_errf(e, rc == -ENOSPC ? 409 : 500, "route_target_import",
					"cannot assign a route target: %s", strerror(-rc));
		char rt[48];
		snprintf(rt, sizeof(rt), "target:%u:%llu", c->asn, (unsigned long long)n);
		json_object_set_new(obj, keys[0], json_pack("[s]", rt));
		json_object_set_new(obj, keys[1], json_pack("[s]", rt));
	}
	/* Route targets in the auto range belong to the network they were
	 * assigned to; any other value may be shared on purpose (import). */
	for (unsigned k = 0; k < 2; k++) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(obj, keys[k]), i, v) {
			uint32_t asn, num;
			char path[API_FIELD_LEN];
			api_parse_rt(json_string_value(v), &asn, &num);
			if (asn != c->asn || num < API_RT_AUTO_LO || num > API_RT_AUTO_HI)
				continue;
			snprintf(path, sizeof(path), "%s[%zu]", keys[k], i);
			if (claim(c, "rt", num, uuid, path, json_string_value(v), e) < 0)
				return -1;
		}
	}
	return 0;
}

static int vn_alloc_subnets(struct api_core *c, json_t *obj, const char *uuid,
			    struct api_err *e)
{
	size_t i;
	json_t *sn;
	json_array_foreach(json_object_get(obj, "subnets"), i, sn) {
		struct api_prefix net;
		char pool[128], path[API_FIELD_LEN], addr[64];
		const char *cidr = str(sn, "cidr");
		api_parse_cidr(cidr, &net);
		ip_pool_name(pool, sizeof(pool), uuid, cidr);
		/* The first host is the gateway unless one is given (as TF does). */
		if (!json_object_get(sn, "gateway") && api_prefix_last(&net) >= 1) {
			api_prefix_at(&net, 1, addr, sizeof(addr));
			json_object_set_new(sn, "gateway", json_string(addr));
		}
		static const char *const hosts[] = { "gateway", "dns" };
		for (unsigned h = 0; h < 2; h++) {
			struct api_prefix a;
			uint64_t off;
			const char *s = str(sn, hosts[h]);
			if (!s)
				continue;
			api_parse_ip(s, &a);
			api_prefix_offset(&net, &a, &off);
			snprintf(path, sizeof(path), "subnets[%zu].%s", i, hosts[h]);
			if (claim(c, pool, off, uuid, path, s, e) < 0)
				return -1;
		}
	}
	return 0;
}

/* An update must not strand an instance IP outside the network's subnets. */
static int vn_keep_iips(struct api_core *c, json_t *obj, const char *uuid, struct api_err *e)
{
	json_t *refs;
	int rc = ST(c)->referrers(c->store, uuid, &refs);
	if (rc < 0)
		return api_errf(e, 500, "subnets", "store error: %s", strerror(-rc));
	size_t i;
	json_t *r;
	json_array_foreach(refs, i, r) {
		json_t *iip;
		if (strcmp(str(r, "kind"), "instance-ip") != 0 ||
		    ST(c)->get(c->store, str(r, "uuid"), &iip) < 0)
			continue;
		bool found = false;
		size_t j;
		json_t *sn;
		json_array_foreach(json_object_get(obj, "subnets"), j, sn)
			found |= json_equal(json_object_get(sn, "cidr"), json_object_get(iip, "subnet"));
		if (!found) {
			api_errf(e, 409, "subnets", "subnet %s is in use by instance-ip %s (%s); delete "
				 "it before removing or changing the subnet", str(iip, "subnet"),
				 str(iip, "fq_name"), str(iip, "address"));
			json_decref(iip);
			json_decref(refs);
			return -1;
		}
		json_decref(iip);
	}
	json_decref(refs);
	return 0;
}

static int vn_alloc(struct api_core *c, json_t *obj, const char *uuid, bool update,
		    struct api_err *e)
{
	json_t *v = json_object_get(obj, "vni");
	if (v) {
		char what[32];
		snprintf(what, sizeof(what), "VNI %lld", (long long)json_integer_value(v));
		if (claim(c, "vni", (uint64_t)json_integer_value(v), uuid, "vni", what, e) < 0)
			return -1;
	} else {
		uint64_t n;
		int rc = ST(c)->claim_free(c->store, "vni", API_VNI_AUTO_LO, API_VNI_AUTO_HI, uuid, &n);
		if (rc < 0)
			return api_errf(e, rc == -ENOSPC ? 409 : 500, "vni", "cannot assign a VNI: %s",
					strerror(-rc));
		json_object_set_new(obj, "vni", json_integer((json_int_t)n));
	}
	if (vn_alloc_rts(c, obj, uuid, e) < 0 || vn_alloc_subnets(c, obj, uuid, e) < 0)
		return -1;
	return update ? vn_keep_iips(c, obj, uuid, e) : 0;
}

static int vmi_alloc(struct api_core *c, json_t *obj, const char *uuid, struct api_err *e)
{
	const char *m = str(obj, "mac");
	if (m) {
		uint8_t mac[6];
		api_parse_mac(m, mac);
		uint64_t v = 0;
		for (int i = 0; i < 6; i++)
			v = v << 8 | mac[i];
		char canon[18];
		api_format_mac(mac, canon);
		json_object_set_new(obj, "mac", json_string(canon));
		return claim(c, "mac", v, uuid, "mac", canon, e);
	}
	uint64_t v;
	int rc = ST(c)->claim_free(c->store, "mac", API_MAC_AUTO_LO, API_MAC_AUTO_HI, uuid, &v);
	if (rc < 0)
		return api_errf(e, rc == -ENOSPC ? 409 : 500, "mac", "cannot assign a MAC: %s",
				strerror(-rc));
	uint8_t mac[6];
	for (int i = 5; i >= 0; i--, v >>= 8)
		mac[i] = (uint8_t)v;
	char canon[18];
	api_format_mac(mac, canon);
	json_object_set_new(obj, "mac", json_string(canon));
	return 0;
}

static void subnets_text(json_t *subnets, char *out, size_t len)
{
	size_t i, n = 0;
	json_t *sn;
	out[0] = 0;
	json_array_foreach(subnets, i, sn)
		if (n < len)
			n += (size_t)snprintf(out + n, len - n, "%s%s", i ? ", " : "", str(sn, "cidr"));
	if (!i)
		snprintf(out, len, "none");
}

/* A fixed address: inside a subnet of the network, a host, not taken. */
static int iip_fixed(struct api_core *c, json_t *obj, json_t *vn, const char *uuid,
		     struct api_err *e)
{
	struct api_prefix a, net;
	const char *addr = str(obj, "address"), *want = str(obj, "subnet");
	api_parse_ip(addr, &a);
	size_t i;
	json_t *sn;
	json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
		if (want && strcmp(want, str(sn, "cidr")) != 0)
			continue;
		api_parse_cidr(str(sn, "cidr"), &net);
		if (!api_prefix_contains(&net, &a))
			continue;
		uint64_t off;
		if (api_prefix_offset(&net, &a, &off) < 0 || off == 0 || off > api_prefix_last(&net))
			return api_errf(e, 400, "address", "%s is not a host address of subnet %s",
					addr, str(sn, "cidr"));
		char pool[128];
		ip_pool_name(pool, sizeof(pool), str(vn, "uuid"), str(sn, "cidr"));
		if (claim(c, pool, off, uuid, "address", addr, e) < 0)
			return -1;
		json_object_set(obj, "subnet", json_object_get(sn, "cidr"));
		return 0;
	}
	char list[256];
	subnets_text(json_object_get(vn, "subnets"), list, sizeof(list));
	return api_errf(e, 400, "address", "%s is outside %s of virtual-network %s (%s)", addr,
			want ? "the requested subnet" : "the subnets", str(vn, "fq_name"), list);
}

/* The lowest free address of the first subnet (of the family) with room. */
static int iip_pick(struct api_core *c, json_t *obj, json_t *vn, const char *uuid,
		    struct api_err *e)
{
	const char *want = str(obj, "subnet"), *fam = str(obj, "family");
	size_t i, tried = 0;
	json_t *sn;
	json_array_foreach(json_object_get(vn, "subnets"), i, sn) {
		struct api_prefix net;
		api_parse_cidr(str(sn, "cidr"), &net);
		if (want && strcmp(want, str(sn, "cidr")) != 0)
			continue;
		if (fam && (net.family == AF_INET) != (strcmp(fam, "v4") == 0))
			continue;
		tried++;
		char pool[128];
		ip_pool_name(pool, sizeof(pool), str(vn, "uuid"), str(sn, "cidr"));
		json_t *pools = json_object_get(sn, "allocation_pools"), *p;
		size_t n = json_array_size(pools);
		for (size_t j = 0; j < (n ? n : 1); j++) {
			uint64_t lo = 1, hi = api_prefix_last(&net), off;
			if (n) {
				struct api_prefix s, t;
				p = json_array_get(pools, j);
				api_parse_ip(str(p, "start"), &s);
				api_parse_ip(str(p, "end"), &t);
				api_prefix_offset(&net, &s, &lo);
				api_prefix_offset(&net, &t, &hi);
			}
			int rc = ST(c)->claim_free(c->store, pool, lo, hi, uuid, &off);
			if (rc == -ENOSPC)
				continue;
			if (rc < 0)
				return api_errf(e, 500, "address", "store error: %s", strerror(-rc));
			char addr[64];
			api_prefix_at(&net, off, addr, sizeof(addr));
			json_object_set_new(obj, "address", json_string(addr));
			json_object_set(obj, "subnet", json_object_get(sn, "cidr"));
			return 0;
		}
	}
	if (!tried) {
		if (want)
			return api_errf(e, 400, "subnet", "%s is not a subnet of virtual-network %s",
					want, str(vn, "fq_name"));
		return api_errf(e, 400, "virtual_network", "virtual-network %s has no %s subnet to "
				"allocate from", str(vn, "fq_name"), fam ? fam : "");
	}
	return api_errf(e, 409, "address", "no free address left in the %s of virtual-network %s",
			want ? want : "subnets", str(vn, "fq_name"));
}

static int iip_alloc(struct api_core *c, json_t *obj, const char *uuid, struct api_err *e)
{
	json_t *vn, *vmi = NULL;
	if (peek(c, "virtual-network", str(obj, "virtual_network"), &vn) < 0)
		return api_errf(e, 500, "virtual_network", "the network vanished during the request");
	int rc = -1;
	const char *vmi_ref = str(obj, "virtual_machine_interface");
	if (vmi_ref && peek(c, "virtual-machine-interface", vmi_ref, &vmi) == 0 &&
	    strcmp(str(vmi, "virtual_network"), str(vn, "fq_name")) != 0) {
		api_errf(e, 400, "virtual_machine_interface", "%s is on virtual-network %s, not %s",
			 vmi_ref, str(vmi, "virtual_network"), str(vn, "fq_name"));
		goto out;
	}
	const char *addr = str(obj, "address"), *fam = str(obj, "family");
	if (addr && fam) {
		struct api_prefix a;
		api_parse_ip(addr, &a);
		if ((a.family == AF_INET) != (strcmp(fam, "v4") == 0)) {
			api_errf(e, 400, "family", "is %s but address %s is not", fam, addr);
			goto out;
		}
	}
	rc = addr ? iip_fixed(c, obj, vn, uuid, e) : iip_pick(c, obj, vn, uuid, e);
	if (rc == 0 && !fam) {
		struct api_prefix a;
		api_parse_ip(str(obj, "address"), &a);
		json_object_set_new(obj, "family", json_string(a.family == AF_INET ? "v4" : "v6"));
	}
out:
	json_decref(vmi);
	json_decref(vn);
	return rc;
}

/* An address of network vn held in obj's field (the floating IP's "address",
 * the service's "vip"): the one given, checked and claimed like an instance
 * IP's, or the lowest free one. Instance IPs, floating IPs and virtual IPs
 * of one network share its pools, so no two of them ever get one address. */
static int addr_in_vn(struct api_core *c, json_t *obj, const char *field, json_t *vn,
		      const char *uuid, struct api_err *e)
{
	json_t *tmp = json_object();
	json_t *given = json_object_get(obj, field);
	if (json_is_string(given))
		json_object_set(tmp, "address", given);
	int rc = given ? iip_fixed(c, tmp, vn, uuid, e) : iip_pick(c, tmp, vn, uuid, e);
	if (rc == 0)
		json_object_set(obj, field, json_object_get(tmp, "address"));
	else if (!strcmp(e->field, "address"))
		snprintf(e->field, sizeof(e->field), "%s", field);
	json_decref(tmp);
	return rc;
}

static int fip_alloc(struct api_core *c, json_t *obj, const char *uuid, struct api_err *e)
{
	json_t *pool, *vn;
	if (peek(c, "floating-ip-pool", str(obj, "floating_ip_pool"), &pool) < 0)
		return api_errf(e, 500, "floating_ip_pool", "the pool vanished during the request");
	int rc = peek(c, "virtual-network", str(pool, "virtual_network"), &vn);
	json_decref(pool);
	if (rc < 0)
		return api_errf(e, 500, "floating_ip_pool", "the pool's network vanished during the "
				"request");
	rc = addr_in_vn(c, obj, "address", vn, uuid, e);
	json_decref(vn);
	return rc;
}

static int svc_alloc(struct api_core *c, json_t *obj, const char *uuid, struct api_err *e)
{
	json_t *vn;
	if (peek(c, "virtual-network", str(obj, "virtual_network"), &vn) < 0)
		return api_errf(e, 500, "virtual_network", "the network vanished during the request");
	int rc = addr_in_vn(c, obj, "vip", vn, uuid, e);
	json_decref(vn);
	return rc;
}

static int kind_alloc(struct api_core *c, const struct api_kind *k, json_t *obj,
		      const char *uuid, bool update, struct api_err *e)
{
	if (strcmp(k->name, "floating-ip") == 0)
		return fip_alloc(c, obj, uuid, e);
	if (strcmp(k->name, "service") == 0)
		return svc_alloc(c, obj, uuid, e);
	if (strcmp(k->name, "virtual-network") == 0)
		return vn_alloc(c, obj, uuid, update, e);
	if (strcmp(k->name, "virtual-machine-interface") == 0)
		return vmi_alloc(c, obj, uuid, e);
	if (strcmp(k->name, "instance-ip") == 0)
		return iip_alloc(c, obj, uuid, e);
	return 0;
}

/* ---- the write path ------------------------------------------------------- */

/* A 500 that says what the store said (which etcd endpoint, what it
 * answered), so an operator knows where to look. */
static int store_failf(struct api_core *c, struct api_err *e, const char *what, int rc)
{
	char why[256] = "";
	if (c->store->ops->last_error)
		c->store->ops->last_error(c->store, why, sizeof(why));
	return api_errf(e, 500, "", "%s: %s%s%s%s", what, strerror(-rc), why[0] ? " (" : "", why,
			why[0] ? ")" : "");
}

static void set_fq_name(const struct api_kind *k, json_t *obj)
{
	char fq[2 * API_NAME_MAX + 2];
	if (k->scoped)
		snprintf(fq, sizeof(fq), "%s:%s", str(obj, "project"), str(obj, "name"));
	else
		snprintf(fq, sizeof(fq), "%s", str(obj, "name"));
	json_object_set_new(obj, "fq_name", json_string(fq));
}

/* Equal but for the version: an update that changes nothing. */
static bool same_content(json_t *old, json_t *obj)
{
	json_t *a = json_copy(old), *b = json_copy(obj);
	json_object_del(a, "version");
	json_object_del(b, "version");
	bool same = json_equal(a, b);
	json_decref(a);
	json_decref(b);
	return same;
}

/* Resolve, allocate, put: the part create and update share. In a write
 * transaction; *rev set. Returns 0, 1 when an update (old != NULL) would
 * change nothing (nothing written: watchers see no event), or -1. */
static int write_obj(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
		     json_t *obj, json_t *old, int64_t *rev, struct api_err *e)
{
	bool update = old != NULL;
	const char *uuid = str(obj, "uuid");
	json_t *refs = NULL;
	if (resolve(c, id, k, obj, &refs, e) < 0)
		return -1;
	/* a new object owns no claims yet (create_write checked its uuid is
	 * free, and a delete releases what its object held) */
	int rc = update ? ST(c)->release(c->store, uuid) : 0;
	if (rc < 0) {
		json_decref(refs);
		return store_failf(c, e, "store error", rc);
	}
	if (kind_alloc(c, k, obj, uuid, update, e) < 0) {
		json_decref(refs);
		return -1;
	}
	if (old && same_content(old, obj)) {
		json_decref(refs);
		return 1;
	}
	rc = ST(c)->put(c->store, obj, refs, rev);
	json_decref(refs);
	if (rc == -EEXIST)
		return api_errf(e, 409, "name", "%s %s already exists", k->name, str(obj, "fq_name"));
	if (rc < 0)
		return store_failf(c, e, "store error", rc);
	return 0;
}

/* finish's answer when another writer (a tern-api on the same etcd)
 * committed first: the whole request is redone on a fresh snapshot. */
#define API_RETRY (-2)
#define API_RETRIES 50

/* Sleep a little before a retry, longer each time and jittered by the
 * clock, so two replicas racing for the next revision do not collide again
 * in lockstep. */
static void backoff(int attempt)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long us = 50 + (now.tv_nsec / 1000) % 500;
	struct timespec d = { 0, us * 1000L * (attempt < 8 ? attempt + 1 : 8) };
	nanosleep(&d, NULL);
}

/* The store's answer r to the end of w's transaction (a commit when the
 * work succeeded and changed something, else a rollback): 0 with *out, -1
 * with e, or API_RETRY. */
static int write_result(struct api_core *c, struct api_write *w, int r, json_t **out,
			struct api_err *e)
{
	json_t *obj = w->obj;
	w->obj = NULL;
	*out = NULL;
	if (!w->txn) { /* it failed before it began */
		*e = w->e;
		return -1;
	}
	if (r == -EAGAIN) {
		/* another writer committed first, or the failure was decided on
		 * writes that did not commit */
		json_decref(obj);
		api_errf(e, 503, "", "another tern-api kept writing to the store; try again");
		return API_RETRY;
	}
	if (w->rc < 0) {
		json_decref(obj);
		*e = w->e;
		return -1;
	}
	if (w->rc == 0 && r < 0) {
		json_decref(obj);
		return store_failf(c, e, "the store could not commit", r);
	}
	if (w->rc == 0)
		notify(c, w->rev);
	*out = obj;
	return 0;
}

/* The write transaction of w begins: 0, or -1 with w->e (w->obj let go). */
static int begin_write(struct api_core *c, struct api_write *w)
{
	int rc = ST(c)->begin(c->store, true);
	if (rc < 0) {
		json_decref(w->obj);
		w->obj = NULL;
		return store_failf(c, &w->e, "store error", rc);
	}
	w->txn = true;
	return 0;
}

/* A new object's UUID: version 7 (RFC 9562), the Unix time in ms, then
 * 12 bits of sub-millisecond time (its method 3), then 62 random bits. Why
 * not version 4: the stores index objects, references and claims by UUID,
 * and random keys put every insert on a different B-tree page (SQLite wrote
 * ~29 pages to its WAL per created pair); time-ordered ones append. One
 * getrandom call (libuuid's generator made five syscalls per UUID). */
static int new_uuid(uuid_t u)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	uint32_t sub = (uint32_t)(((uint64_t)(ts.tv_nsec % 1000000) << 12) / 1000000);
	if (getrandom(u + 8, 8, 0) != 8)
		return -1;
	for (int i = 0; i < 6; i++)
		u[i] = (uint8_t)(ms >> (40 - 8 * i));
	u[6] = (uint8_t)(0x70 | (sub >> 8));
	u[7] = (uint8_t)sub;
	u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));
	return 0;
}

/* Validate and authorise a create's body (in, parsed; not taken); *obj
 * gets its uuid and fq_name. */
static int create_prep(const struct api_ident *id, const struct api_kind *k, json_t *in,
		       json_t **obj, struct api_err *e)
{
	*obj = NULL;
	if (id->role != API_ROLE_ADMIN)
		return may(id, true, k, NULL, e);
	if (api_validate(k, in, obj, e) < 0)
		return -1;
	if (may(id, true, k, scope_of(k, *obj), e) < 0) {
		json_decref(*obj);
		*obj = NULL;
		return -1;
	}
	json_object_del(*obj, "version");
	if (!json_object_get(*obj, "uuid")) {
		uuid_t u;
		char s[37];
		if (new_uuid(u) < 0) {
			json_decref(*obj);
			*obj = NULL;
			return api_errf(e, 503, "", "cannot draw a random UUID (getrandom: %s); "
					"try again", strerror(errno));
		}
		uuid_unparse_lower(u, s);
		json_object_set_new(*obj, "uuid", json_string(s));
	}
	set_fq_name(k, *obj);
	return 0;
}

/* The write of a create, in an open write transaction; *rev set. */
static int create_write(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
			json_t *obj, int64_t *rev, struct api_err *e)
{
	json_t *old;
	int rc = ST(c)->get(c->store, str(obj, "uuid"), &old);
	if (rc == 0) {
		json_decref(old);
		rc = api_errf(e, 409, "uuid", "%s is already the UUID of another object",
			      str(obj, "uuid"));
	} else if (rc != -ENOENT) {
		rc = store_failf(c, e, "store error", rc);
	} else if (peek(c, k->name, str(obj, "fq_name"), &old) == 0) {
		rc = api_errf(e, 409, "name", "%s %s already exists (uuid %s); update it with PUT",
			      k->name, str(obj, "fq_name"), str(old, "uuid"));
		json_decref(old);
	} else {
		rc = write_obj(c, id, k, obj, NULL, rev, e);
	}
	if (rc == 0)
		TLOG_INFO(c->log, "%s %s created by %s (rev %lld)", k->name, str(obj, "fq_name"),
			  id->name, (long long)*rev);
	return rc;
}

static void create_work(struct api_core *c, struct api_write *w)
{
	json_t *in;
	if (w->id->role != API_ROLE_ADMIN) {
		may(w->id, true, w->k, NULL, &w->e);
		return;
	}
	if (api_parse(w->body ? w->body : "", w->len, &in, &w->e) < 0)
		return;
	int prc = create_prep(w->id, w->k, in, &w->obj, &w->e);
	json_decref(in);
	if (prc < 0 || begin_write(c, w) < 0)
		return;
	w->rc = create_write(c, w->id, w->k, w->obj, &w->rev, &w->e);
}

/* A batch item's error: its index and kind before the field and message. */
static int batch_fail(struct api_err *e, size_t i, const char *kind)
{
	char field[API_FIELD_LEN], msg[API_MSG_LEN];
	snprintf(field, sizeof(field), "%s", e->field);
	snprintf(msg, sizeof(msg), "%s", e->msg);
	snprintf(e->field, sizeof(e->field), "create[%zu]%s%.*s", i, field[0] ? "." : "",
		 (int)(sizeof(e->field) - 16), field);
	snprintf(e->msg, sizeof(e->msg), "create[%zu] (%s): %.*s", i, kind ? kind : "?",
		 (int)(sizeof(e->msg) - 40), msg);
	return -1;
}

static void batch_work(struct api_core *c, struct api_write *w)
{
	json_t *items = w->items;
	size_t n = json_array_size(items), i;
	const struct api_kind *ks[API_BATCH_MAX];
	json_t *it;
	struct api_err *e = &w->e;
	if (!json_is_array(items) || n == 0 || n > API_BATCH_MAX) {
		api_errf(e, 400, "create", "must be an array of 1 to %d {\"kind\", "
			 "\"object\"} items", API_BATCH_MAX);
		return;
	}
	json_t *objs = json_array();
	json_array_foreach(items, i, it) {
		const char *kind = str(it, "kind");
		json_t *body = json_object_get(it, "object"), *obj;
		ks[i] = kind ? api_kind_find(kind) : NULL;
		if (!ks[i] || !json_is_object(body)) {
			json_decref(objs);
			api_errf(e, 400, "", "%s", !ks[i] ? "unknown or missing \"kind\" (GET "
				 "/v1/kinds lists them)" : "\"object\" must be a JSON object");
			batch_fail(e, i, kind);
			return;
		}
		if (create_prep(w->id, ks[i], body, &obj, e) < 0) {
			json_decref(objs);
			batch_fail(e, i, ks[i]->name);
			return;
		}
		json_array_append_new(objs, obj);
	}
	w->obj = objs;
	if (begin_write(c, w) < 0)
		return;
	int rc = 0;
	json_array_foreach(objs, i, it) {
		if ((rc = create_write(c, w->id, ks[i], it, &w->rev, e)) < 0) {
			batch_fail(e, i, ks[i]->name);
			break;
		}
	}
	w->rc = rc;
}

static void update_work(struct api_core *c, struct api_write *w);
static void delete_work(struct api_core *c, struct api_write *w);

static void write_work(struct api_core *c, struct api_write *w)
{
	w->rc = -1;
	w->txn = false;
	w->obj = NULL;
	w->rev = 0;
	w->store_rc = 0;
	switch (w->op) {
	case API_W_CREATE:
		create_work(c, w);
		break;
	case API_W_BATCH:
		batch_work(c, w);
		break;
	case API_W_UPDATE:
		update_work(c, w);
		break;
	case API_W_DELETE:
		delete_work(c, w);
		break;
	}
}

/* The store's end of w's transaction: what commit or rollback says. */
static int write_end_sync(struct api_core *c, struct api_write *w)
{
	if (!w->txn)
		return 0;
	return w->rc == 0 ? ST(c)->commit(c->store) : ST(c)->rollback(c->store);
}

static int write_sync(struct api_core *c, struct api_write *w, json_t **out, struct api_err *e)
{
	for (w->attempt = 0;; w->attempt++) {
		write_work(c, w);
		int rc = write_result(c, w, write_end_sync(c, w), out, e);
		if (rc != API_RETRY)
			return rc;
		if (w->attempt == API_RETRIES)
			return -1; /* e says 503 */
		TLOG_DEBUG(c->log, "another writer committed first: redoing the request (%d)",
			   w->attempt + 1);
		backoff(w->attempt);
	}
}

static void write_ended(void *arg, int rc)
{
	struct api_write *w = arg;
	w->store_rc = rc;
	w->done(w->arg);
}

void api_write_start(struct api_core *c, struct api_write *w, void (*done)(void *arg),
		     void *arg)
{
	w->done = done;
	w->arg = arg;
	write_work(c, w);
	if (w->txn && ST(c)->end)
		ST(c)->end(c->store, w->rc != 0, write_ended, w);
	else
		write_ended(w, write_end_sync(c, w));
}

int api_write_finish(struct api_core *c, struct api_write *w, json_t **out, struct api_err *e)
{
	int rc = write_result(c, w, w->store_rc, out, e);
	if (rc != API_RETRY)
		return rc;
	if (w->attempt++ == API_RETRIES)
		return -1; /* e says 503 */
	TLOG_DEBUG(c->log, "another writer committed first: redoing the request (%d)", w->attempt);
	return 1;
}

int api_core_kick(struct api_core *c)
{
	return ST(c)->kick ? ST(c)->kick(c->store) : -1;
}

int api_create_batch(struct api_core *c, const struct api_ident *id, json_t *items,
		     json_t **out, struct api_err *e)
{
	struct api_write w = { .op = API_W_BATCH, .id = id, .items = items };
	return write_sync(c, &w, out, e);
}

int api_create(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	const char *body, size_t len, json_t **out, struct api_err *e)
{
	struct api_write w = { .op = API_W_CREATE, .id = id, .k = k, .body = body, .len = len };
	return write_sync(c, &w, out, e);
}

/* The stored object uuid of kind k, authorised for id; -1 with e. */
static int load(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
		const char *uuid, bool write, json_t **old, struct api_err *e)
{
	int rc = ST(c)->get(c->store, uuid, old);
	if (rc == -ENOENT || (rc == 0 && strcmp(str(*old, "kind"), k->name) != 0)) {
		if (rc == 0)
			json_decref(*old);
		*old = NULL;
		return api_errf(e, 404, "", "no %s with uuid %s", k->name, uuid);
	}
	if (rc < 0)
		return store_failf(c, e, "store error", rc);
	if (may(id, write, k, scope_of(k, *old), e) < 0) {
		json_decref(*old);
		*old = NULL;
		return -1;
	}
	return 0;
}

static int check_update(const struct api_kind *k, json_t *old, json_t *obj, struct api_err *e)
{
	static const char *const fixed[] = { "name", "project" };
	for (unsigned i = 0; i < 2; i++)
		if (!json_equal(json_object_get(old, fixed[i]) ? json_object_get(old, fixed[i]) :
				json_null(), json_object_get(obj, fixed[i]) ?
				json_object_get(obj, fixed[i]) : json_null()))
			return api_errf(e, 400, fixed[i], "cannot change (it is '%s'); create a new "
					"object instead", str(old, fixed[i]));
	json_t *v = json_object_get(obj, "version");
	if (v && json_integer_value(v) != json_integer_value(json_object_get(old, "version")))
		return api_errf(e, 409, "version", "is %lld but the object is at version %lld: it "
				"changed since you read it; get it again and reapply your change",
				(long long)json_integer_value(v),
				(long long)json_integer_value(json_object_get(old, "version")));
	/* What the server allocated stays unless the client names another value. */
	for (const struct api_field *f = k->fields; f->name; f++)
		if ((f->flags & API_F_ALLOC) && !json_object_get(obj, f->name) &&
		    json_object_get(old, f->name))
			json_object_set(obj, f->name, json_object_get(old, f->name));
	return 0;
}

static void update_work(struct api_core *c, struct api_write *w)
{
	json_t *obj, *old = NULL;
	const struct api_kind *k = w->k;
	struct api_err *e = &w->e;
	if (w->id->role != API_ROLE_ADMIN) {
		may(w->id, true, k, NULL, e);
		return;
	}
	if (api_decode(k, w->body ? w->body : "", w->len, &obj, e) < 0)
		return;
	const char *u = str(obj, "uuid");
	if (u && strcmp(u, w->uuid) != 0) {
		api_errf(e, 400, "uuid", "is %s but the URL names %s", u, w->uuid);
		json_decref(obj);
		return;
	}
	json_object_set_new(obj, "uuid", json_string(w->uuid));
	set_fq_name(k, obj);
	w->obj = obj;
	if (begin_write(c, w) < 0)
		return;
	int rc = load(c, w->id, k, w->uuid, true, &old, e);
	if (rc == 0)
		rc = check_update(k, old, obj, e);
	if (rc == 0)
		rc = write_obj(c, w->id, k, obj, old, &w->rev, e);
	w->rc = rc;
	if (rc == 1) {
		/* unchanged: answer with the stored object, write nothing */
		json_decref(obj);
		w->obj = old;
		return;
	}
	if (rc == 0)
		TLOG_INFO(c->log, "%s %s updated by %s (rev %lld)", k->name, str(obj, "fq_name"),
			  w->id->name, (long long)w->rev);
	json_decref(old);
}

int api_update(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	const char *uuid, const char *body, size_t len, json_t **out, struct api_err *e)
{
	struct api_write w = { .op = API_W_UPDATE, .id = id, .k = k, .uuid = uuid, .body = body,
			       .len = len };
	return write_sync(c, &w, out, e);
}

static int refused_delete(json_t *obj, json_t *refs, struct api_err *e)
{
	char who[API_MSG_LEN / 2];
	size_t i, n = 0;
	json_t *r;
	who[0] = 0;
	json_array_foreach(refs, i, r) {
		if (i == 5) {
			snprintf(who + n, sizeof(who) - n, " and %zu more", json_array_size(refs) - 5);
			break;
		}
		if (n < sizeof(who))
			n += (size_t)snprintf(who + n, sizeof(who) - n, "%s%s %s (%s)", i ? ", " : "",
					      str(r, "kind"), str(r, "fq_name"), str(r, "field"));
	}
	return api_errf(e, 409, "", "%s %s is referred to by %s; delete or change those first",
			str(obj, "kind"), str(obj, "fq_name"), who);
}

static void delete_work(struct api_core *c, struct api_write *w)
{
	json_t *obj = NULL, *refs = NULL;
	const struct api_kind *k = w->k;
	struct api_err *e = &w->e;
	if (w->id->role != API_ROLE_ADMIN) {
		may(w->id, true, k, NULL, e);
		return;
	}
	if (begin_write(c, w) < 0)
		return;
	int rc = load(c, w->id, k, w->uuid, true, &obj, e);
	if (rc == 0 && (rc = ST(c)->referrers(c->store, w->uuid, &refs)) < 0)
		rc = store_failf(c, e, "store error", rc);
	if (rc == 0 && json_array_size(refs))
		rc = refused_delete(obj, refs, e);
	if (rc == 0 && (rc = ST(c)->release(c->store, w->uuid)) < 0)
		rc = store_failf(c, e, "store error", rc);
	if (rc == 0 && (rc = ST(c)->del(c->store, obj, &w->rev)) < 0)
		rc = store_failf(c, e, "store error", rc);
	if (rc == 0)
		TLOG_INFO(c->log, "%s %s deleted by %s (rev %lld)", k->name, str(obj, "fq_name"),
			  w->id->name, (long long)w->rev);
	json_decref(refs);
	w->obj = obj;
	w->rc = rc;
}

int api_delete(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	const char *uuid, json_t **out, struct api_err *e)
{
	struct api_write w = { .op = API_W_DELETE, .id = id, .k = k, .uuid = uuid };
	return write_sync(c, &w, out, e);
}

/* ---- reads -------------------------------------------------------------------- */

int api_get(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	    const char *uuid, json_t **out, struct api_err *e)
{
	*out = NULL;
	int rc = ST(c)->begin(c->store, false);
	if (rc < 0)
		return store_failf(c, e, "store error", rc);
	rc = load(c, id, k, uuid, false, out, e);
	ST(c)->commit(c->store);
	return rc;
}

struct list_ctx {
	json_t *items;
	const char *lkey, *lval;  /* label filter */
};

static int list_cb(void *arg, json_t *obj)
{
	struct list_ctx *x = arg;
	if (x->lkey) {
		json_t *v = json_object_get(json_object_get(obj, "labels"), x->lkey);
		if (!v || (x->lval && strcmp(json_string_value(v), x->lval) != 0))
			return 0;
	}
	json_array_append(x->items, obj);
	return 0;
}

int api_list(struct api_core *c, const struct api_ident *id, const struct api_kind *k,
	     const struct api_list_req *rq, json_t **out, struct api_err *e)
{
	*out = NULL;
	struct api_filter f = { .kind = k->name, .project = rq->project, .parent = rq->parent,
				.fq_name = rq->fq_name, .name = rq->name };
	/* A project token lists its own project only, whatever it asked. */
	if (id->project[0] && k->scoped) {
		if (rq->project && strcmp(rq->project, id->project) != 0)
			return api_errf(e, 403, "project", "a token for project %s cannot list "
					"project %s", id->project, rq->project);
		f.project = id->project;
	}
	if (id->project[0] && strcmp(k->name, "project") == 0)
		f.name = id->project;
	char key[256];
	struct list_ctx x = { .items = json_array() };
	if (rq->label) {
		snprintf(key, sizeof(key), "%s", rq->label);
		char *eq = strchr(key, '=');
		if (eq) {
			*eq = 0;
			x.lval = eq + 1;
		}
		x.lkey = key;
	}
	int rc = ST(c)->begin(c->store, false);
	if (rc < 0) {
		json_decref(x.items);
		return store_failf(c, e, "store error", rc);
	}
	int64_t rev = 0;
	rc = ST(c)->list(c->store, &f, list_cb, &x);
	if (rc == 0)
		rc = ST(c)->revision(c->store, &rev);
	ST(c)->commit(c->store);
	if (rc < 0) {
		json_decref(x.items);
		return store_failf(c, e, "store error", rc);
	}
	*out = json_pack("{s:s,s:I,s:o}", "kind", k->name, "revision", (json_int_t)rev, "items",
			 x.items);
	return 0;
}

static int gone(struct api_err *e, int64_t since, int64_t floor);

struct ev_ctx {
	const struct api_ident *id;
	api_event_cb cb;
	void *arg;
	int64_t last;
};

/* A project token sees its project's objects and the global ones. */
static int ev_filter(void *arg, int64_t rev, const char *type, const char *kind,
		     const char *uuid, const char *body)
{
	struct ev_ctx *x = arg;
	x->last = rev;
	if (x->id->project[0]) {
		json_t *o = json_loads(body, 0, NULL);
		const struct api_kind *k = api_kind_find(kind);
		bool show = o && k && (strcmp(kind, "project") == 0 ?
			strcmp(str(o, "name"), x->id->project) == 0 :
			(!k->scoped || strcmp(str(o, "project"), x->id->project) == 0));
		json_decref(o);
		if (!show)
			return 0;
	}
	return x->cb(x->arg, rev, type, kind, uuid, body);
}

int api_events(struct api_core *c, const struct api_ident *id, int64_t since, int limit,
	       api_event_cb cb, void *arg, int64_t *last, struct api_err *e)
{
	struct ev_ctx x = { .id = id, .cb = cb, .arg = arg, .last = since };
	int rc = ST(c)->begin(c->store, false);
	if (rc < 0)
		return store_failf(c, e, "store error", rc);
	rc = ST(c)->events(c->store, since, limit, ev_filter, &x);
	int64_t floor = 0;
	if (rc == -ESTALE && ST(c)->floor(c->store, &floor) < 0)
		floor = since + 1;
	ST(c)->commit(c->store);
	*last = x.last;
	if (rc == -ESTALE)
		return gone(e, since, floor > since ? floor : since + 1);
	if (rc < 0)
		return store_failf(c, e, "store error", rc);
	return rc;
}

/* ---- the event log's compaction -------------------------------------------- */

static int gone(struct api_err *e, int64_t since, int64_t floor)
{
	api_errf(e, 410, "since", "revision %lld is too old: the events up to %lld were "
		 "compacted (the oldest kept is %lld); list the objects again (GET /v1/<kind>) "
		 "and watch from the list's revision", (long long)since, (long long)floor,
		 (long long)floor + 1);
	e->oldest = floor + 1;
	return -1;
}

static int read_floor(struct api_core *c, int64_t *floor, struct api_err *e)
{
	int rc = ST(c)->begin(c->store, false);
	if (rc < 0)
		return store_failf(c, e, "store error", rc);
	rc = ST(c)->floor(c->store, floor);
	ST(c)->commit(c->store);
	return rc < 0 ? store_failf(c, e, "store error", rc) : 0;
}

int api_watch_check(struct api_core *c, int64_t since, struct api_err *e)
{
	int64_t floor;
	if (read_floor(c, &floor, e) < 0)
		return -1;
	return since < floor ? gone(e, since, floor) : 0;
}

int api_compact(struct api_core *c, int64_t keep, struct api_err *e)
{
	if (keep < 1)
		return api_errf(e, 400, "keep", "keep at least one event");
	int64_t upto = api_revision(c) - keep;
	if (upto <= 0)
		return 0;
	int rc = ST(c)->compact(c->store, upto);
	if (rc == -EAGAIN)
		return api_errf(e, 503, "", "another tern-api was compacting the event log; "
				"try again");
	return rc < 0 ? store_failf(c, e, "store error", rc) : 0;
}

static void *compactor_main(void *arg)
{
	struct api_core *c = arg;
	struct api_err e;
	/* the floor as last read; it only rises. Reading it is a read
	 * transaction, and on etcd that first replays every other replica's
	 * writes since the last one: once a second on an idle replica, that
	 * was a fifth of a writing replica's CPU, and etcd's, to serve it */
	int64_t known = 0;
	pthread_mutex_lock(&c->ev_lock);
	while (!c->stopping) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += 1;
		pthread_cond_timedwait(&c->cz_cond, &c->ev_lock, &t);
		if (c->stopping)
			break;
		int64_t rev = c->rev, floor;
		if (rev - c->history - known < API_COMPACT_SLACK(c->history))
			continue; /* not due, whatever another replica compacted */
		pthread_mutex_unlock(&c->ev_lock);
		/* c->rev may lag other replicas' writes by a poll: the next look
		 * catches up */
		if (read_floor(c, &floor, &e) == 0) {
			known = floor;
			if (rev - c->history - floor >= API_COMPACT_SLACK(c->history) &&
			    api_compact(c, c->history, &e) < 0 && c->log)
				TLOG_WARN(c->log, "event log compaction: %s", e.msg);
		}
		pthread_mutex_lock(&c->ev_lock);
	}
	pthread_mutex_unlock(&c->ev_lock);
	return NULL;
}

int api_core_history(struct api_core *c, int64_t keep, struct api_err *e)
{
	if (keep < 0)
		return api_errf(e, 400, "event-history", "give a number of events, 0 for all");
	c->history = keep;
	if (!keep || c->compacting)
		return 0;
	int rc = pthread_create(&c->compactor, NULL, compactor_main, c);
	if (rc)
		return api_errf(e, 500, "", "cannot start the compaction thread: %s", strerror(rc));
	c->compacting = true;
	return 0;
}
