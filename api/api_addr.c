/* DOC: api_addr.c — see api_addr.h. Parsing is inet_pton's; this file only
 * adds prefix arithmetic and the formats inet_pton does not know. */
#include "api_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_parse_ip(const char *s, struct api_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, s, p->addr) == 1) {
		p->family = AF_INET;
		p->plen = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, p->addr) == 1) {
		p->family = AF_INET6;
		p->plen = 128;
		return 0;
	}
	return -EINVAL;
}

static int alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

int api_parse_cidr(const char *s, struct api_prefix *p)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof(buf) || !slash[1])
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	if (api_parse_ip(buf, p) < 0)
		return -EINVAL;
	char *end;
	errno = 0;
	long plen = strtol(slash + 1, &end, 10);
	if (errno || *end || slash[1] < '0' || slash[1] > '9' || plen < 0 || plen > p->plen)
		return -EINVAL;
	p->plen = (int)plen;
	for (int bit = p->plen; bit < alen(p->family) * 8; bit++)
		if (p->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EDOM;
	return 0;
}

int api_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		/* sscanf accepts "+1"/" 1" in a %2x field: require two hex digits */
		const char *d = s + i * 3;
		if (!strchr("0123456789abcdefABCDEF", d[0]) || !d[0] ||
		    !strchr("0123456789abcdefABCDEF", d[1]) || !d[1] || (i < 5 && d[2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

void api_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

static int parse_u32(const char *s, uint32_t *out)
{
	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int api_parse_rt(const char *s, uint32_t *asn, uint32_t *num)
{
	char buf[64];
	*asn = *num = 0;
	if (strncmp(s, "target:", 7) != 0 || strlen(s + 7) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s + 7);
	char *colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	uint32_t n, a;
	if (parse_u32(colon + 1, &n) < 0)
		return -EINVAL;
	struct in_addr ip;
	if (inet_pton(AF_INET, buf, &ip) == 1)
		return n <= 0xffff ? 0 : -EINVAL;
	if (parse_u32(buf, &a) < 0)
		return -EINVAL;
	/* RFC 4360 / 5668: a 4-octet ASN leaves 16 bits for the number */
	if (a > 0xffff && n > 0xffff)
		return -EINVAL;
	*asn = a;
	*num = n;
	return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, int plen)
{
	int bytes = plen / 8, bits = plen % 8;
	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool api_prefix_contains(const struct api_prefix *net, const struct api_prefix *a)
{
	return net->family == a->family && a->plen >= net->plen &&
	       prefix_match(net->addr, a->addr, net->plen);
}

bool api_prefix_overlap(const struct api_prefix *a, const struct api_prefix *b)
{
	if (a->family != b->family)
		return false;
	return prefix_match(a->addr, b->addr, a->plen < b->plen ? a->plen : b->plen);
}

int api_prefix_offset(const struct api_prefix *net, const struct api_prefix *a, uint64_t *off)
{
	int n = alen(net->family);
	uint64_t v = 0;
	for (int i = 0; i < n; i++) {
		int hostbits = n * 8 - i * 8 - 8; /* bits below this byte */
		uint8_t byte = a->addr[i];
		int first = i * 8;
		/* keep only host bits of this byte */
		if (first + 8 <= net->plen)
			continue;
		if (first < net->plen)
			byte &= (uint8_t)(0xff >> (net->plen - first));
		if (byte && hostbits >= 62)
			return -ERANGE;
		v |= (uint64_t)byte << hostbits;
	}
	if (v > API_OFFSET_MAX)
		return -ERANGE;
	*off = v;
	return 0;
}

uint64_t api_prefix_last(const struct api_prefix *net)
{
	int hostbits = alen(net->family) * 8 - net->plen;
	uint64_t last = hostbits >= 62 ? API_OFFSET_MAX : (UINT64_C(1) << hostbits) - 1;
	/* IPv4 broadcast is not a host; /31 and /32 have no broadcast (RFC 3021) */
	if (net->family == AF_INET && hostbits >= 2)
		last--;
	return last;
}

void api_prefix_at(const struct api_prefix *net, uint64_t off, char *out, size_t len)
{
	uint8_t a[16];
	int n = alen(net->family);
	memcpy(a, net->addr, sizeof(a));
	for (int i = n - 1; i >= 0 && off; i--) {
		a[i] |= (uint8_t)(off & 0xff);
		off >>= 8;
	}
	inet_ntop(net->family, a, out, (socklen_t)len);
}
