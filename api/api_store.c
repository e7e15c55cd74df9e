/* DOC: api_store.c — picks the store implementation from the target string:
 * "etcd:URL[,URL]" or a URL is etcd, "sqlite:PATH" or a path is SQLite. */
#include "api_store.h"

#include <stdio.h>
#include <string.h>

struct api_store *api_store_open(const char *target, char *err, size_t errlen)
{
	if (strncmp(target, "sqlite:", 7) == 0)
		return api_store_sqlite_open(target + 7, err, errlen);
	if (strncmp(target, "etcd:", 5) == 0)
		return api_store_etcd_open(target + 5, NULL, err, errlen);
	if (strncmp(target, "http://", 7) == 0 || strncmp(target, "https://", 8) == 0)
		return api_store_etcd_open(target, NULL, err, errlen);
	return api_store_sqlite_open(target, err, errlen);
}

void api_store_close(struct api_store *s)
{
	if (s)
		s->ops->close(s);
}
