/*
 * DOC: vr_policy.c — policies: ordered rules compiled into rte_acl contexts,
 * evaluated once per new flow.
 *
 * A policy holds its rules (first match wins), a default action, counters per
 * rule and one rte_acl context per address family (none when the policy has
 * no rule of that family: the default applies without a classification).
 * rte_acl picks the highest priority among matching rules, so rule index i
 * gets priority RTE_ACL_MAX_PRIORITY - i and userdata i + 1 (0 means "no
 * match" to rte_acl).
 *
 * The search key is built from the flow key, not from the packet: the flow
 * table has already parsed the 5-tuple (ICMP echo identifier in the ports,
 * which rules leave as "any"), and re-evaluation after a policy change has
 * only the flow key.
 *
 * Chains: a policy may name a next policy (0 none). A vif's policy_in or
 * policy_out is the first of a chain, and a flow passes that side only when
 * every policy of the chain passes it (vr_flow.c evaluates them in order, the
 * first deny decides). Security groups are a port's own policy chained in
 * front of its network's. The chain is checked when a policy is added:
 * the next must exist, must not lead back, and no chain through the policy may
 * be longer than VR_POLICY_MAX_CHAIN; a policy that is another's next cannot
 * be deleted.
 *
 * Replacing a policy builds the new contexts first and swaps them in only when
 * everything succeeded, so a failed replace changes nothing. The build runs on
 * the forwarding lcore (the one writer); 1,000 rules take a few milliseconds.
 */
#include "vr_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <rte_acl.h>
#include <rte_errno.h>

/* The search keys: integers in network order, as rte_acl reads them. */
struct acl_key4 {
	uint8_t proto;
	uint8_t pad[3];
	uint8_t src[4];
	uint8_t dst[4];
	uint16_t sport, dport;
};

struct acl_key6 {
	uint8_t proto;
	uint8_t pad[3];
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport, dport;
};

#define N_FIELDS4 5
#define N_FIELDS6 11
RTE_ACL_RULE_DEF(acl_rule4, N_FIELDS4);
RTE_ACL_RULE_DEF(acl_rule6, N_FIELDS6);

/* rte_acl wants the first field to be one byte and the others grouped in
 * 4-byte input words: proto alone, each address word alone, both ports in one. */
static void field_defs(uint8_t family, struct rte_acl_config *cfg)
{
	unsigned naddr = family == 4 ? 1 : 4, f = 0;
	memset(cfg, 0, sizeof(*cfg));
	cfg->defs[f++] = (struct rte_acl_field_def){ RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, 0 };
	for (unsigned side = 0; side < 2; side++)
		for (unsigned w = 0; w < naddr; w++, f++)
			cfg->defs[f] = (struct rte_acl_field_def){
				RTE_ACL_FIELD_TYPE_MASK, 4, (uint8_t)f, (uint8_t)f,
				(uint32_t)(4 + side * naddr * 4 + w * 4) };
	uint32_t ports = (uint32_t)(4 + 2 * naddr * 4);
	cfg->defs[f] = (struct rte_acl_field_def){ RTE_ACL_FIELD_TYPE_RANGE, 2, (uint8_t)f,
						    (uint8_t)f, ports };
	cfg->defs[f + 1] = (struct rte_acl_field_def){ RTE_ACL_FIELD_TYPE_RANGE, 2, (uint8_t)(f + 1),
							(uint8_t)f, ports + 2 };
	cfg->num_fields = f + 2;
	cfg->num_categories = 1;
}

/* An address prefix as rte_acl MASK fields: one 32-bit word each, the word's
 * share of the prefix length as its mask. */
static void prefix_fields(struct rte_acl_field *fl, const uint8_t *a, unsigned plen, unsigned words)
{
	for (unsigned w = 0; w < words; w++) {
		unsigned bits = plen >= (w + 1) * 32 ? 32 : plen > w * 32 ? plen - w * 32 : 0;
		fl[w].value.u32 = vr_rd32(a + 4 * w);
		fl[w].mask_range.u32 = bits;
	}
}

static void rule_fields(const struct vr_rule *ru, struct rte_acl_field *fl)
{
	unsigned words = ru->family == 4 ? 1 : 4;
	fl[0].value.u8 = ru->proto;
	fl[0].mask_range.u8 = ru->proto ? 0xff : 0;
	prefix_fields(fl + 1, ru->src, ru->src_plen, words);
	prefix_fields(fl + 1 + words, ru->dst, ru->dst_plen, words);
	fl[1 + 2 * words].value.u16 = ru->sport_lo;
	fl[1 + 2 * words].mask_range.u16 = ru->sport_hi;
	fl[2 + 2 * words].value.u16 = ru->dport_lo;
	fl[2 + 2 * words].mask_range.u16 = ru->dport_hi;
}

/* Build the context of one family, or leave *out NULL when no rule is of it.
 * Uses only r's configuration and name counter (also on the control thread). */
static int build_acl(struct vr_router *r, const struct vr_rule *rules, uint32_t n, uint8_t family,
		     uint32_t id, struct rte_acl_ctx **out, struct vr_err *e)
{
	uint32_t cnt = 0;
	*out = NULL;
	for (uint32_t i = 0; i < n; i++)
		cnt += rules[i].family == family;
	if (!cnt)
		return 0;
	char name[RTE_ACL_NAMESIZE];
	/* names are global to the process: the router, and a sequence, since a
	 * replace builds the new context while the old one still exists */
	snprintf(name, sizeof(name), "acl%u_%lx_%u", family, (unsigned long)(uintptr_t)r & 0xffffff,
		 atomic_fetch_add(&r->acl_seq, 1));
	struct rte_acl_param prm = {
		.name = name, .socket_id = r->cfg.socket_id,
		.rule_size = family == 4 ? RTE_ACL_RULE_SZ(N_FIELDS4) : RTE_ACL_RULE_SZ(N_FIELDS6),
		.max_rule_num = cnt,
	};
	struct rte_acl_ctx *ctx = rte_acl_create(&prm);
	if (!ctx)
		return vr_errf(e, -ENOMEM, "policy %u: cannot create the IPv%u rte_acl context: %s",
			       id, family, rte_strerror(rte_errno));
	int rc = 0;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		if (rules[i].family != family)
			continue;
		struct acl_rule6 ar; /* the larger of the two layouts */
		memset(&ar, 0, sizeof(ar));
		ar.data.category_mask = 1;
		ar.data.priority = (int32_t)(RTE_ACL_MAX_PRIORITY - i);
		ar.data.userdata = i + 1;
		rule_fields(&rules[i], ar.field);
		rc = rte_acl_add_rules(ctx, (const struct rte_acl_rule *)&ar, 1);
		if (rc < 0)
			vr_errf(e, rc, "policy %u: rule %u (id %u): rte_acl refused it: %s", id, i,
				rules[i].id, strerror(-rc));
	}
	if (rc == 0) {
		struct rte_acl_config cfg;
		field_defs(family, &cfg);
		rc = rte_acl_build(ctx, &cfg);
		if (rc < 0)
			vr_errf(e, rc, "policy %u: cannot build the IPv%u classifier (%u rules): %s", id,
				family, cnt, strerror(-rc));
	}
	if (rc < 0) {
		rte_acl_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

static void policy_free_parts(struct vr_policy *p)
{
	rte_acl_free(p->acl[0]);
	rte_acl_free(p->acl[1]);
	free(p->rules);
	free(p->hits);
	free(p->denied);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Decode and check the records; *out is malloc'd (NULL for no rules). */
static int decode_rules(const struct vr_obj_policy *in, struct vr_rule **out, struct vr_err *e)
{
	uint32_t n = in->rules.n;
	*out = NULL;
	if (n > VR_POLICY_MAX_RULES)
		return vr_errf(e, -ERANGE, "policy %u: %u rules, at most %u", in->id, n,
			       VR_POLICY_MAX_RULES);
	if (!n)
		return 0;
	struct vr_rule *rules = calloc(n, sizeof(*rules));
	uint32_t *ids = calloc(n, sizeof(*ids));
	if (!rules || !ids) {
		free(rules);
		free(ids);
		return vr_errf(e, -ENOMEM, "policy %u: cannot allocate %u rules", in->id, n);
	}
	int rc = 0;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		vr_rule_unpack(in->rules.p + (size_t)i * VR_RULE_LEN, &rules[i]);
		char msg[200];
		rc = vr_rule_check(&rules[i], i, msg, sizeof(msg));
		if (rc < 0)
			vr_errf(e, rc, "policy %u: %s", in->id, msg);
		ids[i] = rules[i].id;
	}
	if (rc == 0) {
		qsort(ids, n, sizeof(*ids), cmp_u32);
		for (uint32_t i = 1; i < n; i++)
			if (ids[i] == ids[i - 1]) {
				uint32_t a = 0, b;
				while (rules[a].id != ids[i])
					a++;
				for (b = a + 1; rules[b].id != ids[i]; b++)
					;
				rc = vr_errf(e, -EINVAL, "policy %u: rule %u: id: %u is also the id of rule %u; "
					     "rule ids must be unique", in->id, b, ids[i], a);
				break;
			}
	}
	free(ids);
	if (rc < 0) {
		free(rules);
		return rc;
	}
	*out = rules;
	return 0;
}

/* The next of policy id, reading `next` for policy `self` (its new value). */
static uint32_t next_of(const struct vr_router *r, uint32_t id, uint32_t self, uint32_t next)
{
	if (id == self)
		return next;
	const struct vr_policy *p = vr_policy_get(r, id);
	return p ? p->next : 0;
}

/* Check the chains policy `self` would be part of with `next` as its next:
 * no loop, none longer than VR_POLICY_MAX_CHAIN. */
static int chain_check(const struct vr_router *r, uint32_t self, uint32_t next, struct vr_err *e)
{
	if (!next)
		return 0;
	if (next >= VR_MAX_POLICIES)
		return vr_errf(e, -ERANGE, "policy %u: next policy %u is out of range (1..%u)", self,
			       next, VR_MAX_POLICIES - 1);
	if (next == self)
		return vr_errf(e, -ELOOP, "policy %u: it cannot be its own next policy", self);
	if (!vr_policy_get(r, next))
		return vr_errf(e, -ENOENT, "policy %u: next policy %u does not exist; add it first",
			       self, next);
	/* the existing chains have no loop: a new one would pass through self */
	uint32_t id = next;
	for (unsigned n = 0; id && n <= VR_POLICY_MAX_CHAIN; n++, id = next_of(r, id, self, next))
		if (id == self)
			return vr_errf(e, -ELOOP, "policy %u: next policy %u leads back to policy %u "
				       "(a chain must not loop)", self, next, self);
	/* the longest chain through self: from every policy that reaches it */
	for (uint32_t start = 1; start < VR_MAX_POLICIES; start++) {
		if (start != self && !r->policies[start])
			continue;
		unsigned len = 0;
		bool through = false;
		for (id = start; id && len <= VR_POLICY_MAX_CHAIN; id = next_of(r, id, self, next)) {
			through |= id == self;
			len++;
		}
		if (through && len > VR_POLICY_MAX_CHAIN)
			return vr_errf(e, -EINVAL, "policy %u: with next policy %u the chain from policy "
				       "%u would have more than %u policies", self, next, start,
				       VR_POLICY_MAX_CHAIN);
	}
	return 0;
}

/* Decode a request's rules and build its classifiers (no router table read). */
static int make_parts(struct vr_router *r, const struct vr_obj_policy *in, struct vr_rule **rules,
		      struct rte_acl_ctx **acl, struct vr_err *e)
{
	int rc = decode_rules(in, rules, e);
	if (rc < 0)
		return rc;
	acl[0] = acl[1] = NULL;
	if ((rc = build_acl(r, *rules, in->rules.n, 4, in->id, &acl[0], e)) < 0 ||
	    (rc = build_acl(r, *rules, in->rules.n, 6, in->id, &acl[1], e)) < 0) {
		rte_acl_free(acl[0]);
		free(*rules);
		*rules = NULL;
		acl[0] = NULL;
	}
	return rc;
}

void vr_policy_prepare(struct vr_router *r, const struct vr_obj_policy *in, struct vr_policy_prep *pp)
{
	memset(pp, 0, sizeof(*pp));
	pp->id = in->id;
	pp->n_rules = in->rules.n;
	pp->rc = make_parts(r, in, &pp->rules, pp->acl, &pp->err);
}

void vr_policy_prep_release(struct vr_policy_prep *pp)
{
	rte_acl_free(pp->acl[0]);
	rte_acl_free(pp->acl[1]);
	free(pp->rules);
	memset(pp, 0, sizeof(*pp));
}

int vr_policy_add(struct vr_router *r, const struct vr_obj_policy *in, struct vr_policy_prep *pp,
		  struct vr_err *e)
{
	if (in->id == 0 || in->id >= VR_MAX_POLICIES)
		return vr_errf(e, -ERANGE, "policy id %u is out of range (1..%u)", in->id,
			       VR_MAX_POLICIES - 1);
	if (in->action != VR_ACT_PASS && in->action != VR_ACT_DENY)
		return vr_errf(e, -EINVAL, "policy %u: default action %u is neither pass (1) nor deny (2)",
			       in->id, in->action);
	struct vr_policy n = { .id = in->id, .action = in->action, .next = in->next,
			       .n_rules = in->rules.n };
	int rc = chain_check(r, in->id, in->next, e);
	if (rc < 0)
		return rc;
	if (pp && pp->id == in->id && pp->n_rules == in->rules.n) {
		/* made on the control thread: take it */
		if (pp->rc < 0) {
			*e = pp->err;
			return pp->rc;
		}
		n.rules = pp->rules;
		n.acl[0] = pp->acl[0];
		n.acl[1] = pp->acl[1];
		pp->rules = NULL;
		pp->acl[0] = pp->acl[1] = NULL;
	} else if ((rc = make_parts(r, in, &n.rules, n.acl, e)) < 0) {
		return rc;
	}
	n.hits = calloc(n.n_rules + 1, sizeof(*n.hits));
	n.denied = calloc(n.n_rules + 1, sizeof(*n.denied));
	if (!n.hits || !n.denied) {
		policy_free_parts(&n);
		return vr_errf(e, -ENOMEM, "policy %u: cannot allocate its counters", in->id);
	}
	struct vr_policy *p = r->policies[in->id];
	if (p) {
		/* Replace in place: vifs refer to it by id, flows are re-evaluated. */
		policy_free_parts(p);
		*p = n;
		vr_flow_reeval_all(r);
		return 0;
	}
	p = malloc(sizeof(*p));
	if (!p) {
		policy_free_parts(&n);
		return vr_errf(e, -ENOMEM, "cannot allocate policy %u", in->id);
	}
	*p = n;
	r->policies[in->id] = p;
	r->n_policies++;
	return 0;
}

/* The vif that uses a policy, and how; -1 when none. */
static int policy_user(const struct vr_router *r, uint32_t id, const char **how)
{
	for (uint32_t i = 0; i < VR_MAX_VIFS; i++) {
		const struct vr_vif *v = r->vifs[i];
		if (v && (v->cfg.policy_in == id || v->cfg.policy_out == id)) {
			*how = v->cfg.policy_in == id ? "policy_in" : "policy_out";
			return (int)i;
		}
	}
	return -1;
}

uint32_t vr_policy_refcnt(const struct vr_router *r, uint32_t id)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < VR_MAX_VIFS; i++) {
		const struct vr_vif *v = r->vifs[i];
		n += v && v->cfg.policy_in == id;
		n += v && v->cfg.policy_out == id;
	}
	return n;
}

int vr_policy_del(struct vr_router *r, uint32_t id, struct vr_err *e)
{
	struct vr_policy *p = vr_policy_get(r, id);
	const char *how;
	if (!p)
		return vr_errf(e, -ENOENT, "no policy %u", id);
	int vif = policy_user(r, id, &how);
	if (vif >= 0)
		return vr_errf(e, -EBUSY, "policy %u is the %s of vif %d; change or delete the vif first",
			       id, how, vif);
	for (uint32_t i = 1; i < VR_MAX_POLICIES; i++)
		if (r->policies[i] && r->policies[i]->next == id)
			return vr_errf(e, -EBUSY, "policy %u is the next policy of policy %u; change or "
				       "delete policy %u first", id, i, i);
	policy_free_parts(p);
	free(p);
	r->policies[id] = NULL;
	r->n_policies--;
	return 0;
}

void vr_policy_fini(struct vr_router *r)
{
	for (uint32_t i = 0; i < VR_MAX_POLICIES; i++)
		if (r->policies[i]) {
			policy_free_parts(r->policies[i]);
			free(r->policies[i]);
			r->policies[i] = NULL;
		}
}

/* Fill a search key from a flow key. Returns the key's address. */
static const uint8_t *fill_key(const struct vr_flow_key *k, union vr_acl_key *out)
{
	if (k->family == 4) {
		struct acl_key4 *a = (struct acl_key4 *)out->b;
		memset(a, 0, sizeof(*a));
		a->proto = k->proto;
		memcpy(a->src, k->src, 4);
		memcpy(a->dst, k->dst, 4);
		vr_wr16((uint8_t *)&a->sport, k->sport);
		vr_wr16((uint8_t *)&a->dport, k->dport);
	} else {
		struct acl_key6 *a = (struct acl_key6 *)out->b;
		memset(a, 0, sizeof(*a));
		a->proto = k->proto;
		memcpy(a->src, k->src, 16);
		memcpy(a->dst, k->dst, 16);
		vr_wr16((uint8_t *)&a->sport, k->sport);
		vr_wr16((uint8_t *)&a->dport, k->dport);
	}
	return out->b;
}

void vr_policy_classify(const struct vr_policy *p, uint8_t family, const struct vr_flow_key *const *k,
			uint32_t *idx, unsigned n)
{
	const struct rte_acl_ctx *ctx = p->acl[family == 4 ? 0 : 1];
	if (!ctx) {
		for (unsigned i = 0; i < n; i++)
			idx[i] = p->n_rules;
		return;
	}
	union vr_acl_key keys[VR_BURST];
	const uint8_t *data[VR_BURST];
	uint32_t res[VR_BURST];
	for (unsigned i = 0; i < n; i++)
		data[i] = fill_key(k[i], &keys[i]);
	rte_acl_classify(ctx, data, res, n, 1);
	for (unsigned i = 0; i < n; i++)
		idx[i] = res[i] ? res[i] - 1 : p->n_rules;
}
