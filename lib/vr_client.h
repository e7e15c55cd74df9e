/*
 * DOC: vr_client.h — a small blocking client for the vrouter control socket
 * (a UNIX stream socket, one request in flight at a time; the vrouter
 * answers in order). Used by ternctl and tern-agent.
 *
 * Every error comes with a message a user can act on in err; it never needs
 * strerror() added, it already says what failed and why.
 */
#ifndef TERN_VR_CLIENT_H
#define TERN_VR_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "vr_msg.h"

struct vr_client;

/* Where an instance named name listens: /run/tern/vrouter/<name>/ctl.sock. */
#define VR_CTL_SOCK_FMT "/run/tern/vrouter/%s/ctl.sock"
/* Long enough for a loaded node: a vif add makes a DPDK port, and on a busy
 * two-core machine a whole lab stalled for more than 5 s now and then (the
 * answer came; the client had given up). A dead vrouter fails at once
 * (connection refused or reset), so only a hung one costs the wait. */
#define VR_CLIENT_TIMEOUT_MS 15000

/*
 * Connect to the control socket at path. name (may be NULL) is the vrouter
 * instance name, used only in the hint of the error message. Returns a client
 * or NULL with errno set: ENAMETOOLONG (path), ENOMEM, or connect()'s errno
 * (ENOENT, ECONNREFUSED, EACCES, ...).
 */
struct vr_client *vr_client_open(const char *path, const char *name, char *err, size_t errlen);

/* Close the connection and free the client; NULL is accepted. */
void vr_client_close(struct vr_client *c);

/* Receive timeout of later calls (default VR_CLIENT_TIMEOUT_MS). Returns 0 or
 * a negative errno from setsockopt(). */
int vr_client_set_timeout(struct vr_client *c, unsigned ms);

/* A fresh sequence number for the next request. */
uint32_t vr_client_next_seq(struct vr_client *c);

/*
 * Send one encoded request (req, req_len) and read exactly one framed reply
 * into reply (capacity cap). Returns the reply length, or a negative errno:
 * -ETIMEDOUT (no reply in time), -ECONNRESET (the vrouter closed the
 * connection), -EPROTO/-EPROTONOSUPPORT/-EMSGSIZE (bad reply header),
 * -ENOBUFS (the reply is larger than cap; it is read and thrown away so that
 * the connection stays usable), or a send()/recv() errno.
 */
int vr_client_call(struct vr_client *c, const uint8_t *req, size_t req_len,
		   uint8_t *reply, size_t cap, char *err, size_t errlen);

/*
 * Encode a request (op, obj_type, the attributes of obj when not NULL,
 * VR_A_CURSOR = cursor when op is VR_OP_DUMP), send it, and parse the reply
 * into *view, which points into reply (keep it alive while reading objects
 * with vr_msg_next_object()).
 *
 * Returns 0 when the vrouter answered with error 0; the vrouter's negative
 * errno when it refused (err: "<its message> (<strerror>)"); or a negative
 * errno of vr_client_call(), vr_msg_parse() or the encoder (-ENOSPC: the
 * object does not fit a request), and -EBADMSG when the reply is not a REPLY
 * with the request's seq.
 */
int vr_client_request(struct vr_client *c, uint16_t op, uint16_t obj_type,
		      const struct vr_object *obj, uint64_t cursor,
		      uint8_t *reply, size_t cap, struct vr_msg_view *view,
		      char *err, size_t errlen);

/*
 * Pipelining: vr_client_request in two halves. vr_client_send encodes and
 * sends a request and returns its sequence number in *seq, without waiting;
 * vr_client_recv reads the next reply and checks that it answers seq. The
 * vrouter answers in order, so a caller may send several requests and then
 * read their replies in the order sent (one write each way instead of one
 * round trip per request). Keep the requests in flight few (tens): the
 * vrouter stops reading while its replies are not read. Errors as
 * vr_client_request's; after a send or receive error other than a refusal
 * (the vrouter's own negative errno) the stream is out of step: close.
 */
int vr_client_send(struct vr_client *c, uint16_t op, uint16_t obj_type,
		   const struct vr_object *obj, uint64_t cursor, uint32_t *seq,
		   char *err, size_t errlen);
int vr_client_recv(struct vr_client *c, uint32_t seq, uint8_t *reply, size_t cap,
		   struct vr_msg_view *view, char *err, size_t errlen);

#endif /* TERN_VR_CLIENT_H */
