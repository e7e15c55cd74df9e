/* DOC: api_store.c — picks the store implementation from the target string. */
#include "api_store.h"

#include <stdio.h>
#include <string.h>

struct api_store *api_store_open(const char *target, char *err, size_t errlen)
{
	if (strncmp(target, "sqlite:", 7) == 0)
		return api_store_sqlite_open(target + 7, err, errlen);
	if (strncmp(target, "etcd:", 5) == 0 || strncmp(target, "http://", 7) == 0) {
		snprintf(err, errlen, "%s: the etcd store is not built yet; use a SQLite file path",
			 target);
		return NULL;
	}
	return api_store_sqlite_open(target, err, errlen);
}

void api_store_close(struct api_store *s)
{
	if (s)
		s->ops->close(s);
}
