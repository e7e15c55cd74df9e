/*
 * DOC: tern_mac.h — Ethernet addresses as text, one parser for every
 * process and tool ("02:74:65:00:00:01": six colon-separated pairs of hex
 * digits, nothing after).
 */
#ifndef TERN_MAC_H
#define TERN_MAC_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0, or -EINVAL when s is not exactly "xx:xx:xx:xx:xx:xx" (hex). */
int tern_mac_parse(const char *s, uint8_t mac[6]);
/* "02:74:65:00:00:01" into buf (at least 18 bytes). Returns buf. */
char *tern_mac_format(const uint8_t mac[6], char *buf, size_t len);

#endif
