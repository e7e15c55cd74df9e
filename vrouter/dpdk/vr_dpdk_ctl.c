/*
 * DOC: vr_dpdk_ctl.c — the control socket: a UNIX stream socket per instance
 * (root only, mode 0600). One thread does the socket I/O; it hands each
 * complete request to the forwarding lcore through a one-slot mailbox and
 * waits for the reply, so the tables have a single writer and the packet path
 * takes no lock. The same thread watches SIGINT/SIGTERM (signalfd) and runs
 * the handshakes of tern's memif servers (--memif-io tern): d->ports changes
 * only while this thread waits in submit(), so it reads the ports' memif
 * servers between requests without a lock, and handles their events before
 * it runs a request that may delete one.
 */
#include "vr_dpdk.h"
#include "vr_dpdk_memif.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "vr_msg.h"

#define MAX_CLIENTS 32

struct client {
	int fd;
	size_t have;
	uint8_t *buf;   /* VR_MSG_MAX */
};

bool vrd_ctl_poll(struct vrd *d)
{
	struct vrd_mailbox *mb = &d->mb;
	if (atomic_load_explicit(&mb->state, memory_order_acquire) != 1)
		return false;
	mb->reply_len = vr_ctl_handle_prepared(d->router, mb->req, mb->req_len, mb->prep, mb->reply,
					       VR_MSG_MAX);
	pthread_mutex_lock(&mb->mu);
	atomic_store_explicit(&mb->state, 2, memory_order_release);
	pthread_cond_signal(&mb->cv);
	pthread_mutex_unlock(&mb->mu);
	return true;
}

/* Hand a request to the lcore and wait for its reply. */
static size_t submit(struct vrd *d, const uint8_t *req, size_t len)
{
	struct vrd_mailbox *mb = &d->mb;
	uint64_t one = 1;
	/* the slow, table-free parts here, not on the forwarding core */
	struct vr_ctl_prep *prep = vr_ctl_prepare(d->router, req, len);
	struct vrd_port_prep *pp = calloc(1, sizeof(*pp)); /* NULL: the core makes the port */
	if (pp)
		vrd_port_prepare(d, req, len, pp);
	pthread_mutex_lock(&mb->mu);
	mb->req = req;
	mb->req_len = len;
	mb->prep = prep;
	mb->port_prep = pp;
	atomic_store_explicit(&mb->state, 1, memory_order_release);
	if (write(d->wake_fd, &one, sizeof(one)) < 0) {
		/* eventfd write fails only on overflow; the loop polls the state anyway */
	}
	while (atomic_load_explicit(&mb->state, memory_order_acquire) != 2 && !atomic_load(&d->quit))
		pthread_cond_wait(&mb->cv, &mb->mu);
	bool done = atomic_load(&mb->state) == 2;
	size_t n = done ? mb->reply_len : 0;
	if (done)
		mb->port_prep = NULL;
	atomic_store(&mb->state, 0);
	pthread_mutex_unlock(&mb->mu);
	if (done) { /* else stopping, maybe mid-request: left to the exit */
		vr_ctl_prep_free(prep);
		if (pp)
			vrd_port_prep_release(pp);
		free(pp);
	}
	return n;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reply to a request whose header is unusable, then the connection closes. */
static void reply_bad_frame(struct client *c, int code, const char *msg)
{
	uint8_t out[512];
	struct tern_wbuf w;
	tern_wbuf_init(&w, out, sizeof(out));
	vr_msg_begin(&w, VR_OP_REPLY, 0, 0);
	vr_msg_put_error(&w, code, msg);
	int n = vr_msg_finish(&w);
	if (n > 0)
		write_all(c->fd, out, (size_t)n);
}

/* Read what is there; run every complete request. false: close the client. */
static bool client_read(struct vrd *d, struct client *c)
{
	ssize_t n = read(c->fd, c->buf + c->have, VR_MSG_MAX - c->have);
	if (n <= 0)
		return n < 0 && (errno == EINTR || errno == EAGAIN);
	c->have += (size_t)n;
	while (c->have >= VR_MSG_HDR_LEN) {
		uint32_t len;
		int rc = vr_msg_frame(c->buf, c->have, &len);
		if (rc < 0) {
			char msg[160];
			snprintf(msg, sizeof(msg), "bad message header (%s): is this a tern vrouter client "
				 "of protocol version %d?", strerror(-rc), VR_PROTO_VERSION);
			reply_bad_frame(c, rc, msg);
			TLOG_WARN(&d->log, "control client sent a bad header (%s); closed", strerror(-rc));
			return false;
		}
		if (c->have < len)
			break;
		size_t out = submit(d, c->buf, len);
		if (!out || !write_all(c->fd, d->mb.reply, out))
			return false;
		memmove(c->buf, c->buf + len, c->have - len);
		c->have -= len;
	}
	return true;
}

/* The memif servers' fds after the control fds; mif[k] owns pfd[at[k]..+cnt[k]). */
struct memif_polls {
	struct pollfd pfd[MAX_CLIENTS + 2 + 2 * VR_MAX_VIFS];
	struct vrd_memif *mif[VR_MAX_VIFS];
	unsigned at[VR_MAX_VIFS], cnt[VR_MAX_VIFS], n;
};

static unsigned memif_polls_build(struct vrd *d, struct memif_polls *mp, unsigned base)
{
	mp->n = 0;
	for (unsigned i = 0; i < VR_MAX_VIFS; i++) {
		struct vrd_memif *m = d->ports[i].used ? d->ports[i].memif : NULL;
		if (!m)
			continue;
		mp->mif[mp->n] = m;
		mp->at[mp->n] = base;
		mp->cnt[mp->n] = vrd_memif_pollfds(m, &mp->pfd[base]);
		base += mp->cnt[mp->n++];
	}
	return base;
}

static void *ctl_main(void *arg)
{
	struct vrd *d = arg;
	struct client clients[MAX_CLIENTS];
	struct memif_polls *mp = calloc(1, sizeof(*mp));
	if (!mp) {
		TLOG_ERR(&d->log, "control thread: out of memory; stopping");
		atomic_store(&d->quit, true);
		return NULL;
	}
	struct pollfd *pfd = mp->pfd;
	memset(clients, 0, sizeof(clients));
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	while (!atomic_load(&d->quit)) {
		pfd[0] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->sig_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CLIENTS; i++)
			pfd[i + 2] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		unsigned npfd = memif_polls_build(d, mp, MAX_CLIENTS + 2);
		if (poll(pfd, npfd, 500) < 0 && errno != EINTR)
			break;
		/* before any request runs: a vif delete would free these */
		for (unsigned k = 0; k < mp->n; k++)
			vrd_memif_events(mp->mif[k], &pfd[mp->at[k]], mp->cnt[k]);
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(d->sig_fd, &si, sizeof(si)) == sizeof(si))
				TLOG_INFO(&d->log, "signal %u: stopping", si.ssi_signo);
			atomic_store(&d->quit, true);
			uint64_t one = 1;
			if (write(d->wake_fd, &one, sizeof(one)) < 0) {
				/* the loop sees quit at its next wake-up anyway */
			}
			break;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			int slot = -1;
			for (int i = 0; fd >= 0 && i < MAX_CLIENTS && slot < 0; i++)
				if (clients[i].fd < 0)
					slot = i;
			if (fd >= 0 && slot < 0) {
				TLOG_WARN(&d->log, "control socket: %d clients already; refusing one", MAX_CLIENTS);
				close(fd);
			} else if (fd >= 0) {
				clients[slot].buf = clients[slot].buf ? clients[slot].buf : malloc(VR_MSG_MAX);
				if (!clients[slot].buf) {
					close(fd);
				} else {
					clients[slot].fd = fd;
					clients[slot].have = 0;
				}
			}
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i].fd < 0 || !(pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!client_read(d, &clients[i])) {
				close(clients[i].fd);
				clients[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0)
			close(clients[i].fd);
		free(clients[i].buf);
	}
	free(mp);
	return NULL;
}

int vrd_ctl_start(struct vrd *d, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(d->sock_path, sizeof(d->sock_path), "%s/ctl.sock", d->opt.run_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "run directory %s is too long for a socket path", d->opt.run_dir);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, d->sock_path, (size_t)n + 1);
	d->mb.reply = malloc(VR_MSG_MAX);
	d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!d->mb.reply || d->wake_fd < 0 || d->listen_fd < 0) {
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return -errno;
	}
	pthread_mutex_init(&d->mb.mu, NULL);
	pthread_cond_init(&d->mb.cv, NULL);
	unlink(d->sock_path); /* a stale socket of a stopped instance; the pid file guards a live one */
	mode_t old = umask(0077);
	int rc = bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(d->listen_fd, 16) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", d->sock_path, strerror(errno));
		return -errno;
	}
	rc = pthread_create(&d->ctl_thread, NULL, ctl_main, d);
	if (rc) {
		snprintf(err, errlen, "cannot start the control thread: %s", strerror(rc));
		return -rc;
	}
	pthread_setname_np(d->ctl_thread, "vr-ctl");
	return 0;
}

void vrd_ctl_stop(struct vrd *d)
{
	atomic_store(&d->quit, true);
	pthread_mutex_lock(&d->mb.mu);
	pthread_cond_broadcast(&d->mb.cv);
	pthread_mutex_unlock(&d->mb.mu);
	pthread_join(d->ctl_thread, NULL);
	close(d->listen_fd);
	unlink(d->sock_path);
	close(d->wake_fd);
	free(d->mb.reply);
}
