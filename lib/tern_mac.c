/* DOC: tern_mac.c — see tern_mac.h. */
#include "tern_mac.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int tern_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;
	if (!s || strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			 &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

char *tern_mac_format(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}
