/*
 * DOC: cni_main.c — tern-cni, the CNI plugin (spec 1.1.0, also 1.0.0 and
 * 0.4.0): reads CNI_* and the netconf on stdin, asks tern-agent what the
 * pod gets (docs/AGENT.md), does in the pod's namespace what only the
 * plugin can do (veths, addresses, routes), and prints the result, or an
 * error {"cniVersion","code","msg","details"} with exit status 1.
 *
 * ADD is all or nothing: a failure deletes the veths made so far and sends
 * `del`, so that the runtime's retry starts from a clean node.
 *
 * DEL with tern-agent unreachable returns code 11 and touches nothing: the
 * veth names are the agent's, and the runtime retries DEL until it
 * succeeds. Meanwhile nothing leaks in the kernel: deleting the pod's
 * namespace destroys the pod ends and with them the node ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni_agent.h"
#include "cni_conf.h"
#include "cni_netlink.h"
#include "cni_pod.h"
#include "cni_result.h"
#include "tern_log.h"

#define STDIN_MAX (1024 * 1024)

extern char **environ;

struct cni_ctx {
	struct cni_env env;
	struct cni_conf conf;
	struct tern_log log;
};

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		fputs(s, stdout);
		fputc('\n', stdout);
		free(s);
	}
	fflush(stdout);
}

static int print_error(const char *version, const struct cni_err *e)
{
	json_t *j = json_pack("{s:s,s:i,s:s}", "cniVersion", version, "code", e->code, "msg",
			      e->msg);
	if (j && e->details[0])
		json_object_set_new(j, "details", json_string(e->details));
	if (j)
		print_json(j);
	json_decref(j);
	return 1;
}

static int read_stdin(char **out, size_t *lenp, struct cni_err *e)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			return cni_errf(e, CNI_ERR_IO, "out of memory reading stdin");
		ssize_t n = read(0, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return cni_errf(e, CNI_ERR_IO, "reading stdin: %s", strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			if (cap >= STDIN_MAX) {
				free(buf);
				return cni_errf(e, CNI_ERR_DECODE, "network configuration on stdin is "
						"larger than %d bytes", STDIN_MAX);
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
		}
	}
	*out = buf;
	*lenp = len;
	return 0;
}

static int agent(const struct cni_ctx *c, const char *op, const struct cni_plan *plan,
		 json_t **reply, struct cni_err *e)
{
	json_t *req = cni_agent_request(op, &c->env, &c->conf, plan);
	if (!req)
		return cni_errf(e, CNI_ERR_IO, "out of memory building the %s request", op);
	int r = cni_agent_call(c->conf.agent_socket, req, CNI_AGENT_TIMEOUT_MS, reply, e);
	json_decref(req);
	return r;
}

static int open_netns(const char *path, int *fd, struct cni_err *e)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return cni_errf(e, CNI_ERR_ENV, "CNI_NETNS %s: %s", path, strerror(errno));
	return 0;
}

/* ---- ADD -------------------------------------------------------------------- */

/* Undo an ADD that failed: the first made veths, then the agent's state
 * (unless an earlier ADD of this attachment is in place: -EBUSY). e keeps
 * the failure; a failing `del` is appended to its details. */
static void add_undo(const struct cni_ctx *c, struct cni_nl *host, const struct cni_plan *p,
		     unsigned made, int why, struct cni_err *e)
{
	char err[256];
	for (unsigned i = 0; i < made; i++) {
		const struct cni_iface *f = &p->ifaces[i];
		if (f->kind == CNI_KIND_KERNEL && cni_pod_del(host, f->host_ifname, err,
							      sizeof(err)) < 0)
			TLOG_WARN(&c->log, "%s: undoing ADD: %s", f->ifname, err);
	}
	if (why == -EBUSY)
		return;
	struct cni_err de;
	json_t *rep = NULL;
	if (agent(c, "del", NULL, &rep, &de) < 0) {
		size_t n = strlen(e->details);
		snprintf(e->details + n, sizeof(e->details) - n, "%sundoing ADD, tern-agent del "
			 "failed too (the runtime's DEL will finish it): %s", n ? "; " : "", de.msg);
	}
	json_decref(rep);
}

static int add_ifaces(struct cni_nl *host, struct cni_nl *pod, int nsfd, struct cni_plan *p,
		      unsigned *made, struct cni_err *e)
{
	char err[384];
	for (unsigned i = 0; i < p->n; i++) {
		struct cni_iface *f = &p->ifaces[i];
		int r = f->kind == CNI_KIND_KERNEL ?
			cni_pod_names_free(host, pod, f, err, sizeof(err)) : 0;
		if (r < 0) {
			cni_errf(e, CNI_ERR_POD_SETUP, "%s: %s", f->ifname, err);
			return r;
		}
	}
	for (unsigned i = 0; i < p->n; i++) {
		struct cni_iface *f = &p->ifaces[i];
		if (f->kind != CNI_KIND_KERNEL) {
			*made = i + 1;
			continue;
		}
		if (cni_pod_add(host, pod, nsfd, f, err, sizeof(err)) < 0)
			return cni_errf(e, CNI_ERR_POD_SETUP, "%s: %s", f->ifname, err);
		*made = i + 1;
	}
	return 0;
}

static int cmd_add(const struct cni_ctx *c, struct cni_err *e)
{
	int nsfd;
	if (open_netns(c->env.netns, &nsfd, e) < 0)
		return -EINVAL;
	struct cni_nl host, pod;
	char err[256];
	if (cni_nl_open(&host, -1, err, sizeof(err)) < 0) {
		close(nsfd);
		return cni_errf(e, CNI_ERR_POD_SETUP, "%s", err);
	}
	if (cni_nl_open(&pod, nsfd, err, sizeof(err)) < 0) {
		cni_nl_close(&host);
		close(nsfd);
		return cni_errf(e, CNI_ERR_POD_SETUP, "CNI_NETNS %s: %s", c->env.netns, err);
	}
	json_t *rep = NULL;
	struct cni_plan plan = { 0 };
	unsigned made = 0;
	int r = agent(c, "add", NULL, &rep, e);
	if (r == 0 && (r = cni_plan_parse(&plan, rep, CNI_PLAN_FULL, e)) < 0)
		add_undo(c, &host, &plan, 0, r, e);
	json_decref(rep);
	rep = NULL;
	if (r == 0 && (r = add_ifaces(&host, &pod, nsfd, &plan, &made, e)) < 0)
		add_undo(c, &host, &plan, made, r, e);
	if (r == 0 && (r = agent(c, "attach", &plan, &rep, e)) < 0)
		add_undo(c, &host, &plan, made, r, e);
	json_decref(rep);
	if (r == 0) {
		json_t *res = cni_result_build(&plan, c->conf.version, c->env.netns);
		if (res) {
			print_json(res);
		} else {
			r = cni_errf(e, CNI_ERR_IO, "out of memory building the result");
			add_undo(c, &host, &plan, made, r, e);
		}
		json_decref(res);
	}
	cni_plan_free(&plan);
	cni_nl_close(&pod);
	cni_nl_close(&host);
	close(nsfd);
	return r;
}

/* ---- DEL, GC ------------------------------------------------------------------- */

/* Delete the node ends the agent names in reply (del, gc). A failure is
 * logged, not returned: the agent has already forgotten the attachment, so
 * a retried DEL could not name the veth again, and the pair dies with the
 * pod's namespace anyway. */
static int del_host_ends(const struct cni_ctx *c, json_t *reply, struct cni_err *e)
{
	struct cni_plan p;
	if (cni_plan_parse(&p, reply, CNI_PLAN_REMOVED, e) < 0)
		return -EINVAL;
	struct cni_nl host;
	char err[256];
	if (cni_nl_open(&host, -1, err, sizeof(err)) < 0) {
		cni_plan_free(&p);
		return cni_errf(e, CNI_ERR_POD_SETUP, "%s", err);
	}
	for (unsigned i = 0; i < p.n; i++)
		if (p.ifaces[i].host_ifname[0] &&
		    cni_pod_del(&host, p.ifaces[i].host_ifname, err, sizeof(err)) < 0)
			TLOG_WARN(&c->log, "%s: %s", p.ifaces[i].ifname, err);
	cni_nl_close(&host);
	cni_plan_free(&p);
	return 0;
}

static int cmd_remove(const struct cni_ctx *c, const char *op, struct cni_err *e)
{
	json_t *rep = NULL;
	int r = agent(c, op, NULL, &rep, e);
	if (r == -ECONNREFUSED && strcmp(op, "del") == 0)
		snprintf(e->details, sizeof(e->details), "DEL needs tern-agent (it knows the "
			 "pod's veths and vrouter state); retry when it runs. The veths go away "
			 "with the pod's namespace.");
	if (r == 0)
		r = del_host_ends(c, rep, e);
	json_decref(rep);
	return r;
}

/* ---- CHECK ------------------------------------------------------------------------ */

/* prevResult must list each planned interface inside the pod with the
 * planned MAC: what the runtime believes must match what the agent holds. */
static int check_prev(const struct cni_ctx *c, const struct cni_iface *f, struct cni_err *e)
{
	json_t *ifs = json_object_get(c->conf.prev_result, "interfaces");
	size_t i;
	json_t *o;
	json_array_foreach(ifs, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *sb = json_string_value(json_object_get(o, "sandbox"));
		if (!name || strcmp(name, f->ifname) != 0 || !sb || !*sb)
			continue;
		uint8_t mac[6];
		const char *ms = json_string_value(json_object_get(o, "mac"));
		if (ms && (tern_mac_parse(ms, mac) < 0 || memcmp(mac, f->mac, 6) != 0)) {
			char want[18];
			tern_mac_format(f->mac, want, 18);
			return cni_errf(e, CNI_ERR_CHECK, "%s: prevResult says MAC %s, tern-agent's "
					"plan says %s", f->ifname, ms, want);
		}
		return 0;
	}
	return cni_errf(e, CNI_ERR_CHECK, "%s: not in prevResult's interfaces", f->ifname);
}

static int check_ifaces(const struct cni_ctx *c, struct cni_nl *pod, const struct cni_plan *p,
			struct cni_err *e)
{
	char err[256];
	for (unsigned i = 0; i < p->n; i++) {
		const struct cni_iface *f = &p->ifaces[i];
		if (!f->attached)
			return cni_errf(e, CNI_ERR_CHECK, "%s: not attached in the vrouter",
					f->ifname);
		if (check_prev(c, f, e) < 0)
			return -EINVAL;
		if (f->kind == CNI_KIND_KERNEL && cni_pod_check(pod, f, err, sizeof(err)) < 0)
			return cni_errf(e, CNI_ERR_CHECK, "%s: %s", f->ifname, err);
	}
	return 0;
}

static int cmd_check(const struct cni_ctx *c, struct cni_err *e)
{
	int nsfd;
	if (open_netns(c->env.netns, &nsfd, e) < 0)
		return -EINVAL;
	struct cni_nl pod;
	char err[256];
	int r = cni_nl_open(&pod, nsfd, err, sizeof(err));
	close(nsfd);
	if (r < 0)
		return cni_errf(e, CNI_ERR_POD_SETUP, "CNI_NETNS %s: %s", c->env.netns, err);
	json_t *rep = NULL;
	struct cni_plan plan = { 0 };
	r = agent(c, "check", NULL, &rep, e);
	if (r == 0)
		r = cni_plan_parse(&plan, rep, CNI_PLAN_CHECK, e);
	if (r == 0)
		r = check_ifaces(c, &pod, &plan, e);
	cni_plan_free(&plan);
	json_decref(rep);
	cni_nl_close(&pod);
	return r;
}

/* ---- STATUS, VERSION --------------------------------------------------------------- */

static int cmd_status(const struct cni_ctx *c, struct cni_err *e)
{
	json_t *rep = NULL;
	int r = agent(c, "status", NULL, &rep, e);
	json_decref(rep);
	/* For STATUS an absent agent is "plugin not available", not "retry". */
	if (r == -ECONNREFUSED || r == -ETIMEDOUT)
		e->code = CNI_ERR_NOT_AVAILABLE;
	return r;
}

static int cmd_version(void)
{
	json_t *v = json_array();
	for (int i = 0; cni_versions[i]; i++)
		json_array_append_new(v, json_string(cni_versions[i]));
	json_t *j = json_pack("{s:s,s:o}", "cniVersion", CNI_VERSION_LATEST, "supportedVersions",
			      v);
	if (j)
		print_json(j);
	json_decref(j);
	return 0;
}

int main(int argc, char **argv)
{
	(void)argv;
	struct cni_ctx c;
	struct cni_err e = { 0 };
	memset(&c, 0, sizeof(c));
	tern_log_init(&c.log, "tern-cni", NULL, TERN_LOG_WARN);
	if (argc > 1) {
		fprintf(stderr, "tern-cni is a CNI plugin: the container runtime runs it with "
			"CNI_COMMAND and the other CNI_* variables set and the network "
			"configuration on stdin (docs/AGENT.md)\n");
	}
	if (cni_env_parse(&c.env, environ, &e) < 0)
		return print_error(CNI_VERSION_LATEST, &e);
	c.log.instance = c.env.container_id;
	if (c.env.cmd == CNI_CMD_VERSION)
		return cmd_version();

	char *text = NULL;
	size_t len = 0;
	if (read_stdin(&text, &len, &e) < 0)
		return print_error(CNI_VERSION_LATEST, &e);
	int r = cni_conf_parse(&c.conf, text, len, c.env.cmd, &e);
	free(text);
	if (r < 0)
		return print_error(c.conf.version ? c.conf.version : CNI_VERSION_LATEST, &e);

	switch (c.env.cmd) {
	case CNI_CMD_ADD:
		r = cmd_add(&c, &e);
		break;
	case CNI_CMD_DEL:
		r = cmd_remove(&c, "del", &e);
		break;
	case CNI_CMD_GC:
		r = cmd_remove(&c, "gc", &e);
		break;
	case CNI_CMD_CHECK:
		r = cmd_check(&c, &e);
		break;
	case CNI_CMD_STATUS:
		r = cmd_status(&c, &e);
		break;
	case CNI_CMD_VERSION:
		break;
	}
	if (r < 0) {
		TLOG_ERR(&c.log, "%s failed: %s%s%s", c.env.cmd == CNI_CMD_ADD ? "ADD" :
			 c.env.cmd == CNI_CMD_DEL ? "DEL" : c.env.cmd == CNI_CMD_CHECK ? "CHECK" :
			 c.env.cmd == CNI_CMD_GC ? "GC" : "STATUS", e.msg,
			 e.details[0] ? ": " : "", e.details);
		print_error(c.conf.version, &e);
	}
	cni_conf_free(&c.conf);
	return r < 0 ? 1 : 0;
}
