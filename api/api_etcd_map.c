/*
 * DOC: api_etcd_map.c — the skip list of api_etcd_map.h. A node's level is
 * drawn from the map's own xorshift state (no global random state): level
 * k+1 with probability 1/4 of level k, so about 1.33 links per node.
 */
#include "api_etcd_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int api_emap_init(struct api_emap *m)
{
	m->head = calloc(1, sizeof(*m->head) + API_EMAP_LEVELS * sizeof(struct api_emap_node *));
	m->level = 1;
	m->rng = UINT64_C(0x9e3779b97f4a7c15);
	return m->head ? 0 : -ENOMEM;
}

void api_emap_clear(struct api_emap *m)
{
	struct api_emap_node *n = m->head ? m->head->next[0] : NULL;
	while (n) {
		struct api_emap_node *nx = n->next[0];
		free(n->val);
		free(n);
		n = nx;
	}
	if (m->head)
		memset(m->head->next, 0, API_EMAP_LEVELS * sizeof(struct api_emap_node *));
	m->level = 1;
}

void api_emap_free(struct api_emap *m)
{
	api_emap_clear(m);
	free(m->head);
	m->head = NULL;
}

/* The first node with a key >= key; up[i]: the last node before it on level i. */
static struct api_emap_node *find(const struct api_emap *m, const char *key,
				  struct api_emap_node **up)
{
	struct api_emap_node *x = m->head;
	for (int i = m->level - 1; i >= 0; i--) {
		while (x->next[i] && strcmp(x->next[i]->key, key) < 0)
			x = x->next[i];
		if (up)
			up[i] = x;
	}
	return x->next[0];
}

const char *api_emap_get(const struct api_emap *m, const char *key)
{
	struct api_emap_node *n = find(m, key, NULL);
	return n && strcmp(n->key, key) == 0 ? n->val : NULL;
}

int api_emap_set(struct api_emap *m, const char *key, const char *val)
{
	struct api_emap_node *up[API_EMAP_LEVELS], *n = find(m, key, up);
	char *v = strdup(val);
	if (!v)
		return -ENOMEM;
	if (n && strcmp(n->key, key) == 0) {
		free(n->val);
		n->val = v;
		return 0;
	}
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	int lvl = 1;
	for (uint64_t r = m->rng; lvl < API_EMAP_LEVELS && (r & 3) == 0; r >>= 2)
		lvl++;
	/* the key right after the links: one allocation, and the key a
	 * search compares sits by the node it reads anyway */
	size_t kl = strlen(key) + 1;
	n = malloc(sizeof(*n) + (size_t)lvl * sizeof(struct api_emap_node *) + kl);
	if (!n) {
		free(v);
		return -ENOMEM;
	}
	n->key = memcpy((char *)(n->next + lvl), key, kl);
	n->val = v;
	n->lvl = lvl;
	for (int i = m->level; i < lvl; i++)
		up[i] = m->head;
	if (lvl > m->level)
		m->level = lvl;
	for (int i = 0; i < lvl; i++) {
		n->next[i] = up[i]->next[i];
		up[i]->next[i] = n;
	}
	return 0;
}

void api_emap_del(struct api_emap *m, const char *key)
{
	struct api_emap_node *up[API_EMAP_LEVELS], *n = find(m, key, up);
	if (!n || strcmp(n->key, key) != 0)
		return;
	for (int i = 0; i < n->lvl; i++)
		if (up[i]->next[i] == n)
			up[i]->next[i] = n->next[i];
	free(n->val);
	free(n);
}

const struct api_emap_node *api_emap_seek(const struct api_emap *m, const char *key)
{
	return find(m, key, NULL);
}

const struct api_emap_node *api_emap_next(const struct api_emap_node *n)
{
	return n->next[0];
}
