/*
 * DOC: agent_arp.c — the MAC of the next underlay hop of a tunnel: the other
 * node's fabric address when it is on the fabric subnet, else the fabric
 * gateway's. The fabric NIC belongs to the vrouter (af_packet), so the node's
 * kernel has no neighbour table for it: the agent asks with ARP itself on a
 * packet socket on the same interface (the vrouters answer for their own
 * tunnel address) and caches the answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"

#define ARP_CACHE 256
#define ARP_TTL_MS (10 * 60 * 1000)

struct arp_entry {
	uint8_t ip[4];
	uint8_t mac[6];
	int64_t at_ms;
};

#define ARP_MISSES 64
#define ARP_MISS_MS 1000

struct agent_arp {
	int fd;
	int ifindex;
	uint8_t mac[6];
	uint8_t ip[4];
	struct arp_entry cache[ARP_CACHE];
	int n;
	/* Who did not answer lately: asked again only after ARP_MISS_MS, so
	 * that dead tunnel ends never hold up the agent's loop. */
	struct arp_entry miss[ARP_MISSES];
	int n_miss;
	bool learned;                  /* a new answer since agent_arp_poll() */
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct agent_arp *agent_arp_new(const char *ifname, const uint8_t mac[6],
				const struct agent_ip *ip, char *err, size_t errlen)
{
	if (ip->family != 4) {
		snprintf(err, errlen, "underlay resolution is for an IPv4 fabric only");
		return NULL;
	}
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		snprintf(err, errlen, "fabric interface %s: %s", ifname, strerror(errno));
		return NULL;
	}
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP));
	if (fd < 0) {
		snprintf(err, errlen, "packet socket for ARP on %s: %s", ifname, strerror(errno));
		return NULL;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
				   .sll_ifindex = ifindex };
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		snprintf(err, errlen, "binding the ARP socket to %s: %s", ifname, strerror(errno));
		close(fd);
		return NULL;
	}
	struct agent_arp *r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->ifindex = ifindex;
	memcpy(r->mac, mac, 6);
	memcpy(r->ip, ip->a, 4);
	return r;
}

void agent_arp_free(struct agent_arp *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r);
}

static void send_request(struct agent_arp *r, const uint8_t ip[4])
{
	uint8_t f[42];
	memset(f, 0xff, 6);                 /* broadcast */
	memcpy(f + 6, r->mac, 6);
	f[12] = 0x08; f[13] = 0x06;
	static const uint8_t hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };  /* Ethernet/IPv4, request */
	memcpy(f + 14, hdr, 8);
	memcpy(f + 22, r->mac, 6);
	memcpy(f + 28, r->ip, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, ip, 4);
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = r->ifindex,
				  .sll_halen = 6 };
	memset(to.sll_addr, 0xff, 6);
	(void)sendto(r->fd, f, sizeof(f), 0, (struct sockaddr *)&to, sizeof(to));
}

/* Take every ARP packet waiting: replies and requests both teach a mapping. */
static void learn(struct agent_arp *r)
{
	uint8_t f[128];
	ssize_t n;
	while ((n = recv(r->fd, f, sizeof(f), 0)) >= 42) {
		if (f[12] != 0x08 || f[13] != 0x06 || f[14] || f[15] != 1 || f[16] != 8 ||
		    f[17] || f[18] != 6 || f[19] != 4)
			continue;
		const uint8_t *sha = f + 22, *spa = f + 28;
		struct arp_entry *e = NULL;
		for (int i = 0; i < r->n && !e; i++)
			if (!memcmp(r->cache[i].ip, spa, 4))
				e = &r->cache[i];
		if (!e) {
			if (r->n < ARP_CACHE)
				e = &r->cache[r->n++];
			else
				e = &r->cache[spa[3] % ARP_CACHE];
		}
		memcpy(e->ip, spa, 4);
		memcpy(e->mac, sha, 6);
		e->at_ms = now_ms();
		r->learned = true;
	}
}

int agent_arp_fd(const struct agent_arp *r)
{
	return r->fd;
}

bool agent_arp_poll(struct agent_arp *r)
{
	learn(r);
	bool l = r->learned;
	r->learned = false;
	return l;
}

static struct arp_entry *missed(struct agent_arp *r, const uint8_t ip[4])
{
	for (int i = 0; i < r->n_miss; i++)
		if (!memcmp(r->miss[i].ip, ip, 4))
			return &r->miss[i];
	return NULL;
}

static const struct arp_entry *lookup(const struct agent_arp *r, const uint8_t ip[4])
{
	int64_t now = now_ms();
	for (int i = 0; i < r->n; i++)
		if (!memcmp(r->cache[i].ip, ip, 4) && now - r->cache[i].at_ms < ARP_TTL_MS)
			return &r->cache[i];
	return NULL;
}

int agent_arp_resolve(struct agent_arp *r, const uint8_t ip4[4], uint8_t mac[6],
		      unsigned timeout_ms)
{
	learn(r);
	const struct arp_entry *e = lookup(r, ip4);
	struct arp_entry *m = e ? NULL : missed(r, ip4);
	if (m && now_ms() - m->at_ms < ARP_MISS_MS) {
		send_request(r, ip4);  /* an answer wakes the agent (agent_arp_poll) */
		return -EHOSTUNREACH;
	}
	int64_t deadline = now_ms() + timeout_ms, next_send = 0;
	while (!e) {
		int64_t now = now_ms();
		if (now >= deadline) {
			if (!m)
				m = r->n_miss < ARP_MISSES ? &r->miss[r->n_miss++] :
				    &r->miss[ip4[3] % ARP_MISSES];
			memcpy(m->ip, ip4, 4);
			m->at_ms = now;
			return -EHOSTUNREACH;
		}
		if (now >= next_send) {
			send_request(r, ip4);
			next_send = now + 100;
		}
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		int wait = (int)((next_send < deadline ? next_send : deadline) - now);
		if (poll(&p, 1, wait > 0 ? wait : 1) > 0)
			learn(r);
		e = lookup(r, ip4);
	}
	memcpy(mac, e->mac, 6);
	return 0;
}
