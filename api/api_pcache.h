/*
 * DOC: api_pcache.h — parsed bodies, kept for the stores' reads.
 *
 * Every create reads the same few objects again (its project, its network)
 * and parsing their bodies was a tenth of tern-api's CPU, under the store's
 * lock. A store hands a body's text here with the key it was read under: if
 * that key last held the very same text, the object parsed then is used
 * again (shared, for peek: the caller never changes it; or a deep copy,
 * which costs a fraction of a parse). A small direct-mapped table: a key
 * takes the slot of its hash, the last text read wins.
 *
 * Not thread-safe: the store calls it under its own lock.
 */
#ifndef TERN_API_PCACHE_H
#define TERN_API_PCACHE_H

#include <jansson.h>
#include <stdbool.h>

#define API_PCACHE_SLOTS 64

struct api_pcache {
	struct {
		char *key, *text;
		json_t *obj;
	} slot[API_PCACHE_SLOTS];
};

/* The object of text (read under key) in *obj, a new reference: the cached
 * object itself when shared, else a copy of its own. 0, -EIO (text is not
 * JSON) or -ENOMEM. */
int api_pcache_get(struct api_pcache *c, const char *key, const char *text, bool shared,
		   json_t **obj);
/* Forget every entry (the table stays usable). */
void api_pcache_clear(struct api_pcache *c);

#endif
