/*
 * DOC: vr_client.c — see vr_client.h. Blocking I/O with SO_RCVTIMEO/SO_SNDTIMEO
 * is enough here: the client has nothing else to do while it waits.
 */
#include "vr_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct vr_client {
	int fd;
	uint32_t seq;
	unsigned timeout_ms;
	char path[VR_PATH_LEN];
};

/* A request never carries more than one object, so a small buffer does. */
#define VR_CLIENT_REQ_MAX 4096

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

struct vr_client *vr_client_open(const char *path, const char *name, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fail(err, errlen, 0, "control socket path %s is longer than %zu bytes", path,
		     sizeof(sa.sun_path) - 1);
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct vr_client *c = calloc(1, sizeof(*c));
	if (!c) {
		fail(err, errlen, 0, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (name)
			fail(err, errlen, 0, "cannot connect to vrouter control socket %s: %s"
			     " — is tern-vrouter running with --name %s?", path, strerror(e), name);
		else
			fail(err, errlen, 0, "cannot connect to vrouter control socket %s: %s"
			     " — is tern-vrouter running, and is this its socket?", path, strerror(e));
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		errno = e;
		return NULL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	if (vr_client_set_timeout(c, VR_CLIENT_TIMEOUT_MS) < 0) {
		int e = errno;
		fail(err, errlen, 0, "cannot set a timeout on %s: %s", path, strerror(e));
		vr_client_close(c);
		errno = e;
		return NULL;
	}
	return c;
}

void vr_client_close(struct vr_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int vr_client_set_timeout(struct vr_client *c, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	c->timeout_ms = ms;
	return 0;
}

uint32_t vr_client_next_seq(struct vr_client *c)
{
	return ++c->seq;
}

static int io_error(struct vr_client *c, int e, const char *what, char *err, size_t errlen)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return fail(err, errlen, -ETIMEDOUT, "vrouter at %s did not answer within %u ms",
			    c->path, c->timeout_ms);
	return fail(err, errlen, -e, "%s %s: %s", what, c->path, strerror(e));
}

static int send_all(struct vr_client *c, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return io_error(c, errno, "cannot send to", err, errlen);
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read exactly n bytes into p (p NULL: read and discard them). */
static int recv_all(struct vr_client *c, uint8_t *p, size_t n, char *err, size_t errlen)
{
	uint8_t sink[512];
	while (n) {
		size_t want = p ? n : (n < sizeof(sink) ? n : sizeof(sink));
		ssize_t k = recv(c->fd, p ? p : sink, want, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return io_error(c, errno, "cannot read from", err, errlen);
		if (k == 0)
			return fail(err, errlen, -ECONNRESET,
				    "vrouter closed the control connection %s mid-reply", c->path);
		if (p)
			p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read exactly one framed reply into reply (capacity cap). */
static int recv_reply(struct vr_client *c, uint8_t *reply, size_t cap, char *err, size_t errlen)
{
	uint8_t hdr[VR_MSG_HDR_LEN];
	int rc = recv_all(c, hdr, sizeof(hdr), err, errlen);
	if (rc < 0)
		return rc;
	uint32_t len;
	rc = vr_msg_frame(hdr, sizeof(hdr), &len);
	if (rc < 0) /* cannot resynchronise a stream after a bad header */
		return fail(err, errlen, rc, "vrouter at %s sent a bad reply header (%s)", c->path,
			    strerror(-rc));
	if (len > cap) {
		rc = recv_all(c, NULL, len - VR_MSG_HDR_LEN, err, errlen);
		if (rc < 0)
			return rc;
		return fail(err, errlen, -ENOBUFS, "reply of %u bytes does not fit a %zu-byte buffer",
			    len, cap);
	}
	memcpy(reply, hdr, sizeof(hdr));
	rc = recv_all(c, reply + VR_MSG_HDR_LEN, len - VR_MSG_HDR_LEN, err, errlen);
	return rc < 0 ? rc : (int)len;
}

int vr_client_call(struct vr_client *c, const uint8_t *req, size_t req_len,
		   uint8_t *reply, size_t cap, char *err, size_t errlen)
{
	int rc = send_all(c, req, req_len, err, errlen);
	return rc < 0 ? rc : recv_reply(c, reply, cap, err, errlen);
}

int vr_client_send(struct vr_client *c, uint16_t op, uint16_t obj_type,
		   const struct vr_object *obj, uint64_t cursor, uint32_t *seqp,
		   char *err, size_t errlen)
{
	uint8_t small[VR_CLIENT_REQ_MAX], *req = small, *big = NULL;
	struct tern_wbuf w;
	uint32_t seq = vr_client_next_seq(c);
	int len;
	/* Most requests fit the stack; a large one (a policy of 1,000 rules, a
	 * service of 256 backends) is encoded again into a heap buffer of the
	 * protocol's maximum. */
	for (size_t cap_req = sizeof(small);; cap_req = VR_MSG_MAX) {
		tern_wbuf_init(&w, req, cap_req);
		vr_msg_begin(&w, op, seq, obj_type);
		if (obj)
			vr_msg_put_object(&w, obj);
		if (op == VR_OP_DUMP)
			vr_msg_put_cursor(&w, cursor);
		len = vr_msg_finish(&w);
		if (len != -ENOSPC || big)
			break;
		if (!(big = malloc(VR_MSG_MAX)))
			return fail(err, errlen, -ENOMEM, "cannot allocate a %d-byte request", VR_MSG_MAX);
		req = big;
	}
	if (len < 0) {
		free(big);
		return fail(err, errlen, len, "cannot encode the %s request: %s%s",
			    vr_obj_name(obj_type), strerror(-len),
			    len == -ENOSPC ? " (larger than the protocol's 256 KiB)" : "");
	}
	int rc = send_all(c, req, (size_t)len, err, errlen);
	free(big);
	*seqp = seq;
	return rc;
}

int vr_client_recv(struct vr_client *c, uint32_t seq, uint8_t *reply, size_t cap,
		   struct vr_msg_view *view, char *err, size_t errlen)
{
	int rc = recv_reply(c, reply, cap, err, errlen);
	if (rc < 0)
		return rc;
	char perr[200];
	rc = vr_msg_parse(reply, (size_t)rc, view, perr, sizeof(perr));
	if (rc < 0)
		return fail(err, errlen, rc, "bad reply from the vrouter: %s", perr);
	if (view->op != VR_OP_REPLY || view->seq != seq)
		return fail(err, errlen, -EBADMSG,
			    "bad reply from the vrouter: op %u seq %u, expected a reply to seq %u",
			    view->op, view->seq, seq);
	if (!view->has_error)
		return fail(err, errlen, -EBADMSG, "bad reply from the vrouter: no 'error' attribute");
	if (view->error > 0 || view->error < -4095) /* not an errno */
		return fail(err, errlen, -EBADMSG, "bad reply from the vrouter: error %d is not a negative errno",
			    view->error);
	if (view->error < 0)
		return fail(err, errlen, view->error, "%s (%s)",
			    view->errmsg[0] ? view->errmsg : "the vrouter refused the request",
			    strerror(-view->error));
	return 0;
}

int vr_client_request(struct vr_client *c, uint16_t op, uint16_t obj_type,
		      const struct vr_object *obj, uint64_t cursor,
		      uint8_t *reply, size_t cap, struct vr_msg_view *view,
		      char *err, size_t errlen)
{
	uint32_t seq;
	int rc = vr_client_send(c, op, obj_type, obj, cursor, &seq, err, errlen);
	return rc < 0 ? rc : vr_client_recv(c, seq, reply, cap, view, err, errlen);
}
