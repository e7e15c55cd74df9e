/*
 * DOC: api_addr.h — addresses as tern-api validates and allocates them:
 * IPv4/IPv6 addresses and prefixes, MACs and route targets, parsed from the
 * strings of the REST objects. Allocation works on host offsets inside a
 * prefix (the address minus the network), so IPv4 and IPv6 share one code
 * path; offsets are limited to 62 bits, far beyond any real pool.
 */
#ifndef TERN_API_ADDR_H
#define TERN_API_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_prefix {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network byte order; IPv4 in the first 4 bytes */
	int plen;          /* 32 / 128 for a plain address */
};

#define API_OFFSET_MAX ((UINT64_C(1) << 62) - 1)

/* A plain address "10.0.0.1" / "fd00::1". Returns 0 or -EINVAL. */
int api_parse_ip(const char *s, struct api_prefix *p);
/* A prefix "10.0.0.0/24"; host bits must be zero. Returns 0, -EINVAL (not a
 * prefix) or -EDOM (host bits set: the message should say so). */
int api_parse_cidr(const char *s, struct api_prefix *p);
/* "02:00:00:00:00:01" (case-insensitive). Returns 0 or -EINVAL. */
int api_parse_mac(const char *s, uint8_t mac[6]);
void api_format_mac(const uint8_t mac[6], char out[18]);
/* Route target "target:ASN:N" (2- or 4-octet ASN) or "target:A.B.C.D:N".
 * Returns 0 or -EINVAL; *asn and *num set for the ASN forms (0 otherwise). */
int api_parse_rt(const char *s, uint32_t *asn, uint32_t *num);

/* True when address a lies inside prefix net (same family). */
bool api_prefix_contains(const struct api_prefix *net, const struct api_prefix *a);
/* True when two prefixes share any address. */
bool api_prefix_overlap(const struct api_prefix *a, const struct api_prefix *b);
/* Host offset of address a in net (a must be inside). Returns 0 or -ERANGE
 * when the offset does not fit API_OFFSET_MAX. */
int api_prefix_offset(const struct api_prefix *net, const struct api_prefix *a, uint64_t *off);
/* The last usable offset of net (broadcast excluded for IPv4), capped. */
uint64_t api_prefix_last(const struct api_prefix *net);
/* Address at offset off of net, as a string (INET6_ADDRSTRLEN bytes). */
void api_prefix_at(const struct api_prefix *net, uint64_t off, char *out, size_t len);

#endif /* TERN_API_ADDR_H */
