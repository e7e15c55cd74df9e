/* DOC: cni_agent.c — see cni_agent.h. */
#include "cni_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int set_str(json_t *o, const char *key, const char *v)
{
	if (!v || !*v)
		return 0;
	return json_object_set_new(o, key, json_string(v));
}

json_t *cni_agent_request(const char *op, const struct cni_env *env,
			  const struct cni_conf *conf, const struct cni_plan *plan)
{
	json_t *req = json_object();
	if (!req)
		return NULL;
	int r = json_object_set_new(req, "op", json_string(op));
	/* The netconf's name: the agent scopes GC to the attachments made
	 * under it (a node may have several tern networks configured). */
	if (conf)
		r |= set_str(req, "cni_network", conf->name);
	if (strcmp(op, "status") == 0) {
		/* nothing else */
	} else if (strcmp(op, "gc") == 0) {
		json_t *valid = json_array();
		r |= json_object_set_new(req, "valid", valid);
		size_t i;
		json_t *a;
		json_array_foreach(conf->valid, i, a) {
			json_t *o = json_pack("{s:O,s:O}", "container_id",
					      json_object_get(a, "containerID"), "ifname",
					      json_object_get(a, "ifname"));
			r |= !o || json_array_append_new(valid, o) < 0;
		}
	} else {
		r |= set_str(req, "container_id", env->container_id) |
		     set_str(req, "netns", env->netns) | set_str(req, "ifname", env->ifname) |
		     set_str(req, "pod_namespace", env->pod_namespace) |
		     set_str(req, "pod_name", env->pod_name) |
		     set_str(req, "project", conf->project) |
		     set_str(req, "network", conf->network);
		if (conf->networks)
			r |= json_object_set(req, "networks", conf->networks);
	}
	if (plan && strcmp(op, "attach") == 0) {
		json_t *ifs = json_array();
		r |= json_object_set_new(req, "interfaces", ifs);
		for (unsigned i = 0; ifs && i < plan->n; i++) {
			const struct cni_iface *f = &plan->ifaces[i];
			json_t *o = json_pack("{s:s}", "vmi", f->vmi);
			if (o && f->kind == CNI_KIND_KERNEL)
				r |= set_str(o, "host_ifname", f->host_ifname);
			r |= !o || json_array_append_new(ifs, o) < 0;
		}
	}
	if (r) {
		json_decref(req);
		return NULL;
	}
	return req;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline. 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int unreachable(struct cni_err *e, const char *path, int err)
{
	cni_errf(e, CNI_ERR_TRY_AGAIN, "tern-agent is not reachable at %s: %s", path,
		 strerror(err));
	snprintf(e->details, sizeof(e->details), "is tern-agent running on this node? (its "
		 "socket is set by agentSocket in the network configuration)");
	return -ECONNREFUSED;
}

static int io_fail(struct cni_err *e, int err, const char *path, const char *what)
{
	cni_errf(e, err == -ETIMEDOUT ? CNI_ERR_TRY_AGAIN : CNI_ERR_IO,
		 "tern-agent at %s: %s: %s", path, what, strerror(-err));
	return err == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

static int connect_to(const char *path, long long deadline, int *fdp, struct cni_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return unreachable(e, path, ENAMETOOLONG);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return io_fail(e, -errno, path, "socket");
	/* A full listen backlog gives EAGAIN on a UNIX socket (the agent is
	 * busy, not gone): retry until the deadline. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		if ((err == EAGAIN || err == EINTR) && now_ms() < deadline) {
			usleep(20000);
			continue;
		}
		close(fd);
		if (err == EAGAIN)
			return io_fail(e, -ETIMEDOUT, path, "connect (backlog full)");
		if (err == EACCES || err == EPERM) {
			cni_errf(e, CNI_ERR_IO, "tern-agent at %s: permission denied (tern-cni must "
				 "run as root)", path);
			return -EACCES;
		}
		return unreachable(e, path, err);
	}
	*fdp = fd;
	return 0;
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
		} else {
			return n < 0 ? -errno : -EIO;
		}
	}
	return 0;
}

/* Read to EOF into buf (cap bytes, one kept for the NUL). */
static int recv_all(int fd, char *buf, size_t cap, size_t *lenp, long long deadline)
{
	size_t len = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n == 0)
			break;
		if (n > 0) {
			len += (size_t)n;
			if (len == cap)
				return -EMSGSIZE;
		} else if (errno == EAGAIN || errno == EINTR) {
			int r = wait_fd(fd, POLLIN, deadline);
			if (r < 0)
				return r;
		} else {
			return -errno;
		}
	}
	buf[len] = 0;
	*lenp = len;
	return 0;
}

static int refused(json_t *rep, struct cni_err *e)
{
	json_t *code = json_object_get(rep, "code");
	const char *msg = json_string_value(json_object_get(rep, "msg"));
	const char *det = json_string_value(json_object_get(rep, "details"));
	cni_errf(e, json_is_integer(code) && json_integer_value(code) > 0 ?
		 (int)json_integer_value(code) : CNI_ERR_IO, "%s",
		 msg ? msg : "tern-agent refused the request without saying why");
	snprintf(e->details, sizeof(e->details), "%s", det ? det : "");
	return -EREMOTEIO;
}

int cni_agent_call(const char *path, json_t *req, int timeout_ms, json_t **reply,
		   struct cni_err *e)
{
	long long deadline = now_ms() + timeout_ms;
	*reply = NULL;
	char *text = json_dumps(req, JSON_COMPACT);
	if (!text)
		return io_fail(e, -ENOMEM, path, "encoding the request");
	int fd = -1;
	int r = connect_to(path, deadline, &fd, e);
	if (r < 0) {
		free(text);
		return r;
	}
	r = send_all(fd, text, strlen(text), deadline);
	free(text);
	if (r == 0 && shutdown(fd, SHUT_WR) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return io_fail(e, r, path, "sending the request");
	}
	char *buf = malloc(CNI_AGENT_MAX_REPLY + 1);
	size_t len = 0;
	r = buf ? recv_all(fd, buf, CNI_AGENT_MAX_REPLY + 1, &len, deadline) : -ENOMEM;
	close(fd);
	if (r == -EMSGSIZE) {
		free(buf);
		cni_errf(e, CNI_ERR_IO, "tern-agent at %s: reply longer than %d bytes", path,
			 CNI_AGENT_MAX_REPLY);
		return -EMSGSIZE;
	}
	if (r < 0) {
		free(buf);
		return io_fail(e, r, path, "reading the reply");
	}
	json_error_t je;
	json_t *rep = json_loadb(buf, len, 0, &je);
	free(buf);
	if (!rep || !json_is_boolean(json_object_get(rep, "ok"))) {
		cni_errf(e, CNI_ERR_IO, "tern-agent at %s: the reply is not a JSON object with "
			 "\"ok\"%s%s", path, rep ? "" : ": ", rep ? "" : je.text);
		json_decref(rep);
		return -EBADMSG;
	}
	if (!json_is_true(json_object_get(rep, "ok"))) {
		r = refused(rep, e);
		json_decref(rep);
		return r;
	}
	*reply = rep;
	return 0;
}
