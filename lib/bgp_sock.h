/*
 * DOC: bgp_sock.h — what both BGP speakers (tern-control, tern-agent) need
 * around their TCP sockets: a monotonic clock for timers, address parsing
 * and printing, and the TCP MD5 signature key (RFC 2385). Kept apart from
 * the codec, which never sees a socket.
 */
#ifndef TERN_BGP_SOCK_H
#define TERN_BGP_SOCK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tern_tlv.h"

/* Milliseconds of CLOCK_MONOTONIC: timers survive wall-clock changes. */
int64_t bgp_now_ms(void);

/*
 * "a.b.c.d" or an IPv6 address (no brackets) and a port into ss and len.
 * Returns 0, or -EINVAL when s is neither (the caller words the message).
 */
int bgp_sock_addr(const char *s, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* "a.b.c.d:port" or "[v6]:port": for logs. Returns buf. */
const char *bgp_sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len);

/*
 * Install the TCP MD5 key for the peer at addr (any port) on fd: the kernel
 * then signs and checks every segment exchanged with addr. On a listener,
 * accepted sockets inherit it. Returns 0, or -errno of setsockopt
 * (-ENOENT/-ENOPROTOOPT: kernel without CONFIG_TCP_MD5SIG; -EINVAL: key
 * longer than TCP_MD5SIG_MAXKEYLEN).
 */
int bgp_sock_md5(int fd, const struct sockaddr_storage *addr, const char *password);

/*
 * Messages waiting for a non-blocking socket: whole messages are encoded
 * straight into the queue (bgp_wq_reserve gives room for one), and written
 * out as the socket accepts them. Grows as needed: a table sent on
 * Established can be far larger than the socket buffer.
 */
struct bgp_wq {
	uint8_t *buf;
	size_t len, off, cap;      /* bytes queued, bytes already written, allocated */
};

/* Room for one message (BGP_MAX_MSG) at the end: w writes there. Returns 0
 * or -ENOMEM. */
int bgp_wq_reserve(struct bgp_wq *q, struct tern_wbuf *w);
/* Keep the message just encoded in w (len: its encoder's result; <= 0 keeps
 * nothing, the encoder failed). Returns true when one was kept. */
bool bgp_wq_commit(struct bgp_wq *q, int len);
/* Write what the socket takes. Returns 0 (all written or EAGAIN) or -errno
 * (the caller usually waits for the read side to report the failure). */
int bgp_wq_flush(struct bgp_wq *q, int fd);
static inline bool bgp_wq_pending(const struct bgp_wq *q)
{
	return q->off < q->len;
}
/* Forget what is queued (the connection closed); the memory stays. */
void bgp_wq_clear(struct bgp_wq *q);
void bgp_wq_free(struct bgp_wq *q);

#endif /* TERN_BGP_SOCK_H */
