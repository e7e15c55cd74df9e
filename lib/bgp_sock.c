/*
 * DOC: bgp_sock.c — clock, addresses and TCP MD5 for the BGP speakers (see
 * bgp_sock.h). Moved out of control/bgp_session.c when tern-agent started
 * speaking BGP too, so that the two do not drift apart.
 */
#include "bgp_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bgp_msg.h"

int64_t bgp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bgp_sock_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

const char *bgp_sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	}
	return buf;
}

/*
 * A segment without the right signature is dropped silently, so a wrong
 * password shows as a session that never gets past Connect/Active.
 */
int bgp_sock_md5(int fd, const struct sockaddr_storage *addr, const char *password)
{
	struct tcp_md5sig m;
	size_t len = strlen(password);
	if (len > TCP_MD5SIG_MAXKEYLEN)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	memcpy(&m.tcpm_addr, addr, sizeof(m.tcpm_addr));
	/* the key is for the address, whatever the port */
	if (addr->ss_family == AF_INET)
		((struct sockaddr_in *)&m.tcpm_addr)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&m.tcpm_addr)->sin6_port = 0;
	m.tcpm_keylen = (uint16_t)len;
	memcpy(m.tcpm_key, password, len);
	if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &m, sizeof(m)) < 0)
		return -errno;
	return 0;
}

/* ---- write queue ---- */

int bgp_wq_reserve(struct bgp_wq *q, struct tern_wbuf *w)
{
	if (q->off == q->len)
		q->off = q->len = 0;
	if (q->cap - q->len < BGP_MAX_MSG) {
		size_t cap = q->cap ? q->cap * 2 : 64 * 1024;
		while (cap - q->len < BGP_MAX_MSG)
			cap *= 2;
		uint8_t *b = realloc(q->buf, cap);
		if (!b)
			return -ENOMEM;
		q->buf = b;
		q->cap = cap;
	}
	tern_wbuf_init(w, q->buf + q->len, BGP_MAX_MSG);
	return 0;
}

bool bgp_wq_commit(struct bgp_wq *q, int len)
{
	if (len <= 0)
		return false;
	q->len += (size_t)len;
	return true;
}

int bgp_wq_flush(struct bgp_wq *q, int fd)
{
	while (fd >= 0 && q->off < q->len) {
		/* MSG_NOSIGNAL: a peer's reset is an error here, not SIGPIPE
		 * killing the process (whether or not main ignores it). */
		ssize_t n = send(fd, q->buf + q->off, q->len - q->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return 0;
		q->off += (size_t)n;
	}
	return 0;
}

void bgp_wq_clear(struct bgp_wq *q)
{
	q->len = q->off = 0;
}

void bgp_wq_free(struct bgp_wq *q)
{
	free(q->buf);
	*q = (struct bgp_wq){ 0 };
}
