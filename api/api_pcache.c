/*
 * DOC: api_pcache.c — the parsed-body table of api_pcache.h (FNV-1a of the
 * key picks the slot).
 */
#include "api_pcache.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int api_pcache_get(struct api_pcache *c, const char *key, const char *text, bool shared,
		   json_t **obj)
{
	uint32_t h = 2166136261u;
	for (const char *p = key; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	typeof(c->slot[0]) *e = &c->slot[h % API_PCACHE_SLOTS];
	if (e->key && strcmp(e->key, key) == 0 && strcmp(e->text, text) == 0) {
		/* a caller that may change its object gets a copy of its own */
		*obj = shared ? json_incref(e->obj) : json_deep_copy(e->obj);
		return *obj ? 0 : -ENOMEM;
	}
	*obj = json_loads(text, 0, NULL);
	if (!*obj)
		return -EIO;
	char *nk = strdup(key), *nt = strdup(text);
	json_t *o = shared ? json_incref(*obj) : json_deep_copy(*obj);
	free(e->key);
	free(e->text);
	json_decref(e->obj);
	e->key = nk && nt && o ? nk : NULL;
	e->text = e->key ? nt : NULL;
	e->obj = e->key ? o : NULL;
	if (!e->key) { /* out of memory: no entry, the answer stands */
		free(nk);
		free(nt);
		json_decref(o);
	}
	return 0;
}

void api_pcache_clear(struct api_pcache *c)
{
	for (int i = 0; i < API_PCACHE_SLOTS; i++) {
		free(c->slot[i].key);
		free(c->slot[i].text);
		json_decref(c->slot[i].obj);
		c->slot[i].key = c->slot[i].text = NULL;
		c->slot[i].obj = NULL;
	}
}
