/*
 * DOC: api_etcd_map.h — an ordered map of string keys to string values (a
 * skip list), for the etcd store's in-memory copy of its keys
 * (api_store_etcd.c): point lookups and "every key from K on, in order"
 * (prefix scans: a kind's objects, an owner's claims, an object's
 * referrers), both O(log n), insertion and removal too.
 *
 * Not thread-safe: the caller locks.
 */
#ifndef TERN_API_ETCD_MAP_H
#define TERN_API_ETCD_MAP_H

#include <stdint.h>

#define API_EMAP_LEVELS 20

struct api_emap_node {
	char *key;          /* stored after next[] (one allocation with the node) */
	char *val;
	int lvl;
	struct api_emap_node *next[];
};

struct api_emap {
	struct api_emap_node *head; /* API_EMAP_LEVELS links, no key */
	int level;
	uint64_t rng;               /* xorshift state for node levels */
};

/* 0, or -ENOMEM. */
int api_emap_init(struct api_emap *m);
/* Remove every key (the map stays usable). */
void api_emap_clear(struct api_emap *m);
void api_emap_free(struct api_emap *m);
/* The value of key (owned by the map), NULL when absent. */
const char *api_emap_get(const struct api_emap *m, const char *key);
/* Insert or replace (both copied): 0, or -ENOMEM (the map is unchanged). */
int api_emap_set(struct api_emap *m, const char *key, const char *val);
/* Remove key if present. */
void api_emap_del(struct api_emap *m, const char *key);
/* The first node whose key is >= key (NULL: none); api_emap_next walks on
 * in key order. Valid until the map next changes. */
const struct api_emap_node *api_emap_seek(const struct api_emap *m, const char *key);
const struct api_emap_node *api_emap_next(const struct api_emap_node *n);

#endif
