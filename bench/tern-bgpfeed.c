/*
 * DOC: tern-bgpfeed.c — the feed and the receiver of the route-server
 * benchmark (bench/control.sh): two iBGP sessions to the route server under
 * test, one that sends N distinct VPNv4 routes as fast as the server takes
 * them, one that counts what the server reflects. Prints the seconds from
 * the first UPDATE written to the N-th route received.
 *
 *   tern-bgpfeed --server 10.0.0.1 --port 179 --feed-from 10.0.0.2 \
 *                --recv-from 10.0.0.3 --as 65000 --routes 1000000
 *
 * The feed is encoded before the clock starts (UPDATEs of ~250 routes with
 * the same attributes, 1,000 distinct route-target sets, an RD per 1,000
 * routes, a label per route) and written in large blocks, so that the tool
 * is never the limit. Single thread, poll: write the feed, read both
 * sockets, answer keepalives.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bgp_msg.h"
#include "bgp_sock.h"

#define PER_UPDATE 250

struct sess {
	const char *name;
	int fd;
	uint8_t *rbuf;
	size_t rlen, rcap;
	struct bgp_wq wq;
	bool up;                       /* OPEN and KEEPALIVE seen */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "tern-bgpfeed: %s\n", what);
	exit(1);
}

static int dial(const char *server, uint16_t port, const char *local)
{
	struct sockaddr_storage ss, ls;
	socklen_t len, llen;
	if (bgp_sock_addr(server, port, &ss, &len) < 0 || bgp_sock_addr(local, 0, &ls, &llen) < 0)
		die("bad address (IPv4 or IPv6 literal)");
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ls, llen) < 0)
		die("cannot bind the local address (is it on an interface here?)");
	for (int i = 0; connect(fd, (struct sockaddr *)&ss, len) < 0; i++) {
		if (i == 100) {
			char m[160];
			snprintf(m, sizeof(m), "cannot connect to %s port %u from %s: %s", server, port,
				 local, strerror(errno));
			die(m);
		}
		usleep(100000);
		close(fd);
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&ls, llen) < 0)
			die("cannot bind the local address");
	}
	return fd;
}

static void send_simple(struct sess *s, int (*enc)(struct tern_wbuf *))
{
	struct tern_wbuf w;
	if (bgp_wq_reserve(&s->wq, &w) < 0 || !bgp_wq_commit(&s->wq, enc(&w)))
		die("out of memory");
}

static void send_open(struct sess *s, uint32_t as, uint32_t id)
{
	struct bgp_open o = { .version = 4, .my_as = as > 65535 ? BGP_AS_TRANS : (uint16_t)as,
			      .hold = 180, .router_id = id };
	o.caps.afs = BGP_AF_BIT(BGP_AF_VPNV4);
	o.caps.mp = true;
	o.caps.as4 = true;
	o.caps.as4_value = as;
	o.caps.route_refresh = true;
	struct tern_wbuf w;
	if (bgp_wq_reserve(&s->wq, &w) < 0 || !bgp_wq_commit(&s->wq, bgp_open_encode(&w, &o)))
		die("out of memory");
}

/* Everything in the read buffer: count VPNv4 routes, note OPEN/KEEPALIVE. */
static long consume(struct sess *s, const struct bgp_peer_ctx *ctx, struct bgp_update *u)
{
	long routes = 0;
	size_t off = 0;
	for (;;) {
		struct bgp_hdr h;
		struct bgp_err e;
		bgp_err_clear(&e);
		int rc = bgp_hdr_parse(s->rbuf + off, s->rlen - off, &h, &e);
		if (rc == -EAGAIN || (rc == 0 && h.len > s->rlen - off))
			break;
		if (rc < 0) {
			fprintf(stderr, "tern-bgpfeed: %s: bad header: %s\n", s->name, e.msg);
			exit(1);
		}
		const uint8_t *body = s->rbuf + off + BGP_HDR_LEN;
		size_t blen = h.len - BGP_HDR_LEN;
		if (h.type == BGP_KEEPALIVE) {
			if (!s->up)
				send_simple(s, bgp_keepalive_encode);
			s->up = true;
		} else if (h.type == BGP_NOTIFICATION) {
			fprintf(stderr, "tern-bgpfeed: %s: the server sent a NOTIFICATION\n", s->name);
			exit(1);
		} else if (h.type == BGP_UPDATE) {
			if (bgp_update_parse(body, blen, ctx, u, &e) < 0) {
				fprintf(stderr, "tern-bgpfeed: %s: bad UPDATE: %s\n", s->name, e.msg);
				exit(1);
			}
			if (u->reach_af == BGP_AF_VPNV4) {
				struct bgp_nlri_iter it;
				struct bgp_nlri n;
				char err[128];
				bgp_nlri_iter_init(&it, BGP_AF_VPNV4, u->reach.p, u->reach.len, false);
				while (bgp_nlri_next(&it, &n, err, sizeof(err)) == 1)
					routes++;
			}
		}
		off += h.len;
	}
	memmove(s->rbuf, s->rbuf + off, s->rlen - off);
	s->rlen -= off;
	return routes;
}

static int rd_sock(struct sess *s)
{
	if (s->rcap - s->rlen < 65536) {
		s->rcap = s->rcap ? s->rcap * 2 : 1 << 20;
		s->rbuf = realloc(s->rbuf, s->rcap);
		if (!s->rbuf)
			die("out of memory");
	}
	ssize_t n = read(s->fd, s->rbuf + s->rlen, s->rcap - s->rlen);
	if (n == 0) {
		fprintf(stderr, "tern-bgpfeed: %s: the server closed the session\n", s->name);
		exit(1);
	}
	if (n > 0)
		s->rlen += (size_t)n;
	return n > 0 ? 0 : -errno;
}

/* The N routes as UPDATEs, in one buffer. */
static struct bgp_wq build_feed(long n_routes, const uint8_t nh[4])
{
	struct bgp_wq q = { 0 };
	struct bgp_nlri nl[PER_UPDATE];
	uint8_t ext[8];
	long done = 0;
	for (long upd = 0; done < n_routes; upd++) {
		struct bgp_attrs a;
		memset(&a, 0, sizeof(a));
		a.has = BGP_HAS(BGP_ATTR_ORIGIN) | BGP_HAS(BGP_ATTR_AS_PATH) |
			BGP_HAS(BGP_ATTR_LOCAL_PREF) | BGP_HAS(BGP_ATTR_EXT_COMMUNITIES);
		a.origin = BGP_ORIGIN_IGP;
		a.local_pref = 100;
		a.nh_len = 4;
		memcpy(a.nh, nh, 4);
		bgp_ext_rt_as2(ext, 65000, (uint32_t)(upd % 1000));  /* 1,000 distinct sets */
		a.ext_communities.p = ext;
		a.ext_communities.len = 8;
		int k = 0;
		for (; k < PER_UPDATE && done < n_routes; k++, done++) {
			struct bgp_nlri *x = &nl[k];
			memset(x, 0, sizeof(*x));
			x->p.af = BGP_AF_VPNV4;
			x->p.plen = 32;
			uint32_t rd = (uint32_t)(done / 1000);
			x->p.rd[0] = 0; x->p.rd[1] = 0;            /* type 0: AS2 : number */
			x->p.rd[2] = 0xfd; x->p.rd[3] = 0xe8;      /* 65000 */
			x->p.rd[4] = (uint8_t)(rd >> 24); x->p.rd[5] = (uint8_t)(rd >> 16);
			x->p.rd[6] = (uint8_t)(rd >> 8); x->p.rd[7] = (uint8_t)rd;
			uint32_t addr = 0x0a000000u + (uint32_t)done;
			x->p.addr[0] = (uint8_t)(addr >> 24); x->p.addr[1] = (uint8_t)(addr >> 16);
			x->p.addr[2] = (uint8_t)(addr >> 8); x->p.addr[3] = (uint8_t)addr;
			x->label = 16 + (uint32_t)(done % 1000000);
		}
		struct tern_wbuf w;
		if (bgp_wq_reserve(&q, &w) < 0 ||
		    !bgp_wq_commit(&q, bgp_update_encode(&w, BGP_AF_VPNV4, &a, nl, (size_t)k, NULL, 0)))
			die("cannot encode the feed");
	}
	struct tern_wbuf w;
	if (bgp_wq_reserve(&q, &w) < 0 || !bgp_wq_commit(&q, bgp_eor_encode(&w, BGP_AF_VPNV4)))
		die("cannot encode End-of-RIB");
	return q;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "port", required_argument, NULL, 'p' },
		{ "feed-from", required_argument, NULL, 'f' }, { "recv-from", required_argument, NULL, 'r' },
		{ "as", required_argument, NULL, 'a' }, { "routes", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 },
	};
	const char *server = NULL, *feed_from = NULL, *recv_from = NULL;
	long port = 179, n_routes = 1000000, timeout = 600;
	int o;
	uint32_t as_of = 65000;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': server = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'f': feed_from = optarg; break;
		case 'r': recv_from = optarg; break;
		case 'a': as_of = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'n': n_routes = strtol(optarg, NULL, 10); break;
		case 't': timeout = strtol(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!server || !feed_from || !recv_from || port <= 0 || port > 65535 || n_routes <= 0) {
		fprintf(stderr, "usage: tern-bgpfeed --server ADDR [--port N] --feed-from ADDR "
			"--recv-from ADDR [--as N] [--routes N] [--timeout S]\n");
		return 2;
	}
	struct in_addr fa;
	if (inet_pton(AF_INET, feed_from, &fa) != 1)
		die("--feed-from: an IPv4 address (the routes' next hop)");
	struct bgp_wq feed = build_feed(n_routes, (const uint8_t *)&fa);
	fprintf(stderr, "tern-bgpfeed: %ld routes in %zu bytes of UPDATEs\n", n_routes, feed.len);

	struct sess s[2] = { { .name = "receiver" }, { .name = "feed" } };
	const char *from[2] = { recv_from, feed_from };
	struct bgp_update *u = malloc(sizeof(*u));
	struct bgp_peer_ctx ctx = { .ebgp = false, .peer_as = as_of, .afs = BGP_AF_BIT(BGP_AF_VPNV4) };
	if (!u)
		die("out of memory");
	/* The receiver first, so that it is Established before any route. */
	for (int i = 0; i < 2; i++) {
		struct in_addr ia;
		inet_pton(AF_INET, from[i], &ia);
		s[i].fd = dial(server, (uint16_t)port, from[i]);
		send_open(&s[i], as_of, ntohl(ia.s_addr));
		double until = now_s() + 30;
		while (!s[i].up) {
			if (bgp_wq_flush(&s[i].wq, s[i].fd) < 0 || now_s() > until)
				die("the session did not come up in 30 s");
			struct pollfd p = { .fd = s[i].fd, .events = POLLIN };
			if (poll(&p, 1, 100) > 0)
				rd_sock(&s[i]);
			consume(&s[i], &ctx, u);
		}
	}
	long got = 0;
	double t0 = now_s(), last_ka = t0;
	/* The feed goes out in large writes straight from its buffer. */
	size_t fed = 0;
	while (got < n_routes) {
		struct pollfd p[2] = { { .fd = s[0].fd, .events = POLLIN },
				       { .fd = s[1].fd, .events = POLLIN } };
		if (fed < feed.len || bgp_wq_pending(&s[1].wq))
			p[1].events |= POLLOUT;
		if (bgp_wq_pending(&s[0].wq))
			p[0].events |= POLLOUT;
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			die("poll failed");
		if (p[1].revents & POLLOUT) {
			if (bgp_wq_pending(&s[1].wq)) {
				bgp_wq_flush(&s[1].wq, s[1].fd);
			} else {
				ssize_t w = write(s[1].fd, feed.buf + fed, feed.len - fed);
				if (w > 0)
					fed += (size_t)w;
			}
		}
		if (p[0].revents & POLLOUT)
			bgp_wq_flush(&s[0].wq, s[0].fd);
		for (int i = 0; i < 2; i++)
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				rd_sock(&s[i]);
				long r = consume(&s[i], &ctx, u);
				if (i == 0)
					got += r;
			}
		double t = now_s();
		if (t - last_ka > 30) {  /* hold time 180: keep both sessions up */
			send_simple(&s[0], bgp_keepalive_encode);
			send_simple(&s[1], bgp_keepalive_encode);
			last_ka = t;
		}
		if (t - t0 > timeout) {
			fprintf(stderr, "tern-bgpfeed: timed out: %ld of %ld routes after %ld s\n", got,
				n_routes, timeout);
			return 1;
		}
	}
	printf("%.3f\n", now_s() - t0);
	free(u);
	return 0;
}
