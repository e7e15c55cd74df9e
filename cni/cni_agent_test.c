/* DOC: cni_agent_test.c — the agent socket client against a fake agent (a
 * forked child on a UNIX socket in a temporary directory): replies,
 * refusals, garbage, oversize, silence, absence; and the requests built. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cni_agent.h"

struct fake {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/cni_agent_test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/agent.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

enum mode { ECHO, REFUSE, GARBAGE, HUGE, SILENT };

/* Listen at f->path, then serve one connection in a child as mode says. */
static pid_t serve(struct fake *f, enum mode mode)
{
	unlink(f->path);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		close(ls);
		return pid;
	}
	int c = accept(ls, NULL, NULL);
	static char req[70000];
	size_t len = 0;
	ssize_t n;
	while ((n = read(c, req + len, sizeof(req) - 1 - len)) > 0)
		len += (size_t)n;
	req[len] = 0;
	char *rep = NULL;
	switch (mode) {
	case ECHO:
		if (asprintf(&rep, "{\"ok\":true,\"got\":%s}", req) < 0)
			_exit(1);
		break;
	case REFUSE:
		rep = strdup("{\"ok\":false,\"code\":7,\"msg\":\"network demo:nope does not exist\","
			     "\"details\":\"create it first\"}");
		break;
	case GARBAGE:
		rep = strdup("hello");
		break;
	case HUGE:
		rep = malloc(70 * 1024 + 1);
		memset(rep, ' ', 70 * 1024);
		rep[70 * 1024] = 0;
		break;
	case SILENT:
		sleep(5);
		_exit(0);
	}
	if (write(c, rep, strlen(rep)) < 0)
		_exit(1);
	_exit(0);
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_absent(void **state)
{
	struct fake *f = *state;
	json_t *req = json_pack("{s:s}", "op", "status"), *rep;
	struct cni_err e;
	unlink(f->path);
	assert_int_equal(cni_agent_call(f->path, req, 1000, &rep, &e), -ECONNREFUSED);
	assert_int_equal(e.code, 11);
	assert_non_null(strstr(e.msg, f->path));
	/* A socket file nobody listens on (a crashed agent). */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	assert_int_equal(cni_agent_call(f->path, req, 1000, &rep, &e), -ECONNREFUSED);
	assert_int_equal(e.code, 11);
	assert_null(rep);
	json_decref(req);
}

static void test_echo(void **state)
{
	struct fake *f = *state;
	pid_t pid = serve(f, ECHO);
	json_t *req = json_pack("{s:s,s:s}", "op", "add", "container_id", "c1"), *rep;
	struct cni_err e;
	assert_int_equal(cni_agent_call(f->path, req, 5000, &rep, &e), 0);
	assert_true(json_equal(json_object_get(rep, "got"), req));
	json_decref(rep);
	json_decref(req);
	reap(pid);
}

static void test_refused(void **state)
{
	struct fake *f = *state;
	pid_t pid = serve(f, REFUSE);
	json_t *req = json_pack("{s:s}", "op", "add"), *rep;
	struct cni_err e;
	assert_int_equal(cni_agent_call(f->path, req, 5000, &rep, &e), -EREMOTEIO);
	assert_int_equal(e.code, 7);
	assert_string_equal(e.msg, "network demo:nope does not exist");
	assert_string_equal(e.details, "create it first");
	json_decref(req);
	reap(pid);
}

static void test_bad_replies(void **state)
{
	struct fake *f = *state;
	json_t *req = json_pack("{s:s}", "op", "add"), *rep;
	struct cni_err e;
	pid_t pid = serve(f, GARBAGE);
	assert_int_equal(cni_agent_call(f->path, req, 5000, &rep, &e), -EBADMSG);
	assert_int_equal(e.code, 5);
	reap(pid);
	pid = serve(f, HUGE);
	assert_int_equal(cni_agent_call(f->path, req, 5000, &rep, &e), -EMSGSIZE);
	assert_int_equal(e.code, 5);
	reap(pid);
	pid = serve(f, SILENT);
	assert_int_equal(cni_agent_call(f->path, req, 300, &rep, &e), -ETIMEDOUT);
	assert_int_equal(e.code, 11);
	reap(pid);
	json_decref(req);
}

static void test_requests(void **state)
{
	(void)state;
	struct cni_env env = { .cmd = CNI_CMD_ADD, .container_id = "c1", .netns = "/n/p1",
			       .ifname = "eth0", .pod_namespace = "demo", .pod_name = "" };
	struct cni_conf conf = { .project = "demo", .network = "red" };
	conf.networks = json_string("blue, green@net2");
	json_t *r = cni_agent_request("add", &env, &conf, NULL);
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"container_id\":\"c1\",\"ifname\":\"eth0\",\"netns\":\"/n/p1\","
			    "\"network\":\"red\",\"networks\":\"blue, green@net2\",\"op\":\"add\","
			    "\"pod_namespace\":\"demo\",\"project\":\"demo\"}");
	free(s);
	json_decref(r);

	struct cni_plan plan = { .n = 2 };
	strcpy(plan.ifaces[0].vmi, "u1");
	strcpy(plan.ifaces[0].host_ifname, "tn1");
	strcpy(plan.ifaces[1].vmi, "u2");
	plan.ifaces[1].kind = CNI_KIND_MEMIF;
	env.netns = "";
	r = cni_agent_request("attach", &env, &conf, &plan);
	s = json_dumps(json_object_get(r, "interfaces"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "[{\"host_ifname\":\"tn1\",\"vmi\":\"u1\"},{\"vmi\":\"u2\"}]");
	assert_null(json_object_get(r, "netns"));
	free(s);
	json_decref(r);

	r = cni_agent_request("status", &env, &conf, NULL);
	s = json_dumps(r, JSON_COMPACT);
	assert_string_equal(s, "{\"op\":\"status\"}");
	free(s);
	json_decref(r);

	conf.valid = json_loads("[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}]", 0, NULL);
	r = cni_agent_request("gc", &env, &conf, NULL);
	s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"op\":\"gc\",\"valid\":[{\"container_id\":\"c1\","
			    "\"ifname\":\"eth0\"}]}");
	free(s);
	json_decref(r);
	json_decref(conf.valid);
	json_decref(conf.networks);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_requests),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
