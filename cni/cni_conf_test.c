/* DOC: cni_conf_test.c — the CNI environment and the netconf: what is
 * accepted, and that each refusal has the spec's code and names the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cni_conf.h"

#define ENV(...) ((char *const[]){ __VA_ARGS__, NULL })

static void test_env_add(void **state)
{
	(void)state;
	struct cni_env env;
	struct cni_err e;
	assert_int_equal(cni_env_parse(&env, ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=abc-1.x_2",
		"CNI_NETNS=/var/run/netns/p1", "CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=web-0;"
		"K8S_POD_INFRA_CONTAINER_ID=abc;FOO=bar"), &e), 0);
	assert_int_equal(env.cmd, CNI_CMD_ADD);
	assert_string_equal(env.container_id, "abc-1.x_2");
	assert_string_equal(env.netns, "/var/run/netns/p1");
	assert_string_equal(env.ifname, "eth0");
	assert_string_equal(env.path, "/opt/cni/bin");
	assert_string_equal(env.pod_namespace, "demo");
	assert_string_equal(env.pod_name, "web-0");
}

/* DEL may come without a namespace (the pod is gone); VERSION and STATUS
 * need nothing but the command. */
static void test_env_optional(void **state)
{
	(void)state;
	struct cni_env env;
	struct cni_err e;
	assert_int_equal(cni_env_parse(&env, ENV("CNI_COMMAND=DEL", "CNI_CONTAINERID=c1",
					       "CNI_IFNAME=eth0", "CNI_NETNS="), &e), 0);
	assert_int_equal(env.cmd, CNI_CMD_DEL);
	assert_string_equal(env.pod_name, "");
	assert_int_equal(cni_env_parse(&env, ENV("CNI_COMMAND=VERSION"), &e), 0);
	assert_int_equal(env.cmd, CNI_CMD_VERSION);
	assert_int_equal(cni_env_parse(&env, ENV("CNI_COMMAND=STATUS"), &e), 0);
	assert_string_equal(env.ifname, "eth0");
	assert_int_equal(cni_env_parse(&env, ENV("CNI_COMMAND=GC", "CNI_PATH=/x"), &e), 0);
	assert_int_equal(env.cmd, CNI_CMD_GC);
}

static void env_bad(char *const *envp, const char *needle)
{
	struct cni_env env;
	struct cni_err e;
	assert_int_equal(cni_env_parse(&env, envp, &e), -EINVAL);
	assert_int_equal(e.code, 4);
	if (!strstr(e.msg, needle))
		fail_msg("message '%s' does not name '%s'", e.msg, needle);
}

static void test_env_invalid(void **state)
{
	(void)state;
	env_bad(ENV("CNI_CONTAINERID=c1"), "CNI_COMMAND");
	env_bad(ENV("CNI_COMMAND=ATTACH"), "ATTACH");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_NETNS=/n", "CNI_IFNAME=eth0"), "CNI_CONTAINERID");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=-bad", "CNI_NETNS=/n", "CNI_IFNAME=e"),
		"CNI_CONTAINERID");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_IFNAME=eth0"), "CNI_NETNS");
	env_bad(ENV("CNI_COMMAND=CHECK", "CNI_CONTAINERID=c1", "CNI_NETNS=", "CNI_IFNAME=eth0"),
		"CNI_NETNS");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=rel/path",
		    "CNI_IFNAME=eth0"), "CNI_NETNS");
	env_bad(ENV("CNI_COMMAND=DEL", "CNI_CONTAINERID=c1"), "CNI_IFNAME");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n",
		    "CNI_IFNAME=averyveryverylongname"), "CNI_IFNAME");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n",
		    "CNI_IFNAME=a/b"), "CNI_IFNAME");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
		    "CNI_ARGS=FOO=bar"), "FOO");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
		    "CNI_ARGS=IgnoreUnknown=0;FOO=bar"), "IgnoreUnknown");
	env_bad(ENV("CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
		    "CNI_ARGS=K8S_POD_NAME"), "K8S_POD_NAME");
}

static int parse(struct cni_conf *c, const char *text, enum cni_cmd cmd, struct cni_err *e)
{
	return cni_conf_parse(c, text, strlen(text), cmd, e);
}

static void test_conf_full(void **state)
{
	(void)state;
	struct cni_conf c;
	struct cni_err e;
	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.0.0\",\"name\":\"tern\",\"type\":\"tern-cni\","
		"\"agentSocket\":\"/tmp/a.sock\",\"project\":\"demo\",\"network\":\"red\","
		"\"runtimeConfig\":{\"k8s.v1.cni.cncf.io/networks\":\"blue, green@net2\"}}",
		CNI_CMD_ADD, &e), 0);
	assert_string_equal(c.version, "1.0.0");
	assert_string_equal(c.name, "tern");
	assert_string_equal(c.agent_socket, "/tmp/a.sock");
	assert_string_equal(c.project, "demo");
	assert_string_equal(c.network, "red");
	assert_string_equal(json_string_value(c.networks), "blue, green@net2");
	assert_null(c.prev_result);
	cni_conf_free(&c);
}

/* Defaults, and the annotation in args.cni as a list. */
static void test_conf_args(void **state)
{
	(void)state;
	struct cni_conf c;
	struct cni_err e;
	assert_int_equal(parse(&c, "{\"cniVersion\":\"0.4.0\",\"name\":\"tern\","
		"\"args\":{\"cni\":{\"k8s.v1.cni.cncf.io/networks\":[{\"name\":\"blue\","
		"\"interface\":\"net1\"}]}}}", CNI_CMD_ADD, &e), 0);
	assert_string_equal(c.version, "0.4.0");
	assert_string_equal(c.agent_socket, "/run/tern/agent.sock");
	assert_null(c.project);
	assert_null(c.network);
	assert_true(json_is_array(c.networks));
	cni_conf_free(&c);
	/* runtimeConfig wins over args.cni */
	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"name\":\"tern\","
		"\"runtimeConfig\":{\"k8s.v1.cni.cncf.io/networks\":\"rc\"},"
		"\"args\":{\"cni\":{\"k8s.v1.cni.cncf.io/networks\":\"args\"}}}",
		CNI_CMD_ADD, &e), 0);
	assert_string_equal(json_string_value(c.networks), "rc");
	cni_conf_free(&c);
}

static void test_conf_prev_and_gc(void **state)
{
	(void)state;
	struct cni_conf c;
	struct cni_err e;
	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"name\":\"tern\","
		"\"prevResult\":{\"interfaces\":[]}}", CNI_CMD_CHECK, &e), 0);
	assert_non_null(c.prev_result);
	cni_conf_free(&c);
	assert_int_equal(parse(&c, "{\"cniVersion\":\"1.1.0\",\"name\":\"tern\","
		"\"cni.dev/valid-attachments\":[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}]}",
		CNI_CMD_GC, &e), 0);
	assert_int_equal(json_array_size(c.valid), 1);
	cni_conf_free(&c);
}

static void conf_bad(const char *text, enum cni_cmd cmd, int code, const char *needle)
{
	struct cni_conf c;
	struct cni_err e;
	assert_int_equal(parse(&c, text, cmd, &e), -EINVAL);
	assert_null(c.root);
	if (code == 7 && strstr(text, "\"1.0.0\""))
		assert_string_equal(c.version, "1.0.0"); /* the error's version */
	if (e.code != code)
		fail_msg("code %d, not %d: %s", e.code, code, e.msg);
	if (!strstr(e.msg, needle))
		fail_msg("message '%s' does not name '%s'", e.msg, needle);
}

static void test_conf_invalid(void **state)
{
	(void)state;
	conf_bad("{\"cniVersion\":", CNI_CMD_ADD, 6, "not JSON");
	conf_bad("[1]", CNI_CMD_ADD, 6, "object");
	conf_bad("{\"name\":\"t\"}", CNI_CMD_ADD, 7, "cniVersion");
	conf_bad("{\"cniVersion\":\"0.3.1\",\"name\":\"t\"}", CNI_CMD_ADD, 1, "0.3.1");
	conf_bad("{\"cniVersion\":\"2.0.0\",\"name\":\"t\"}", CNI_CMD_ADD, 1, "2.0.0");
	conf_bad("{\"cniVersion\":\"1.0.0\"}", CNI_CMD_ADD, 7, "\"name\"");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":7}", CNI_CMD_ADD, 7, "name");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"project\":1}", CNI_CMD_ADD, 7,
		 "project");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"network\":[]}", CNI_CMD_ADD, 7,
		 "network");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"agentSocket\":\"rel.sock\"}",
		 CNI_CMD_ADD, 7, "agentSocket");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"runtimeConfig\":[]}", CNI_CMD_ADD,
		 7, "runtimeConfig");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"runtimeConfig\":"
		 "{\"k8s.v1.cni.cncf.io/networks\":5}}", CNI_CMD_ADD, 7, "runtimeConfig");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"args\":{\"cni\":"
		 "{\"k8s.v1.cni.cncf.io/networks\":[{\"namespace\":\"x\"}]}}}", CNI_CMD_ADD, 7,
		 "args.cni");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"args\":{\"cni\":1}}", CNI_CMD_ADD, 7,
		 "\"cni\"");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"prevResult\":1}", CNI_CMD_DEL, 7,
		 "prevResult");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\"}", CNI_CMD_CHECK, 7, "prevResult");
	conf_bad("{\"cniVersion\":\"1.1.0\",\"name\":\"t\"}", CNI_CMD_GC, 7,
		 "cni.dev/valid-attachments");
	conf_bad("{\"cniVersion\":\"1.1.0\",\"name\":\"t\",\"cni.dev/valid-attachments\":"
		 "[{\"containerID\":\"c\"}]}", CNI_CMD_GC, 7, "[0]");
	conf_bad("{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"name\":\"u\"}", CNI_CMD_ADD, 6,
		 "duplicate");
}

static void test_versions(void **state)
{
	(void)state;
	assert_int_equal(cni_version_index("0.4.0"), 0);
	assert_int_equal(cni_version_index("1.0.0"), 1);
	assert_int_equal(cni_version_index("1.1.0"), 2);
	assert_int_equal(cni_version_index("0.3.1"), -1);
	assert_int_equal(cni_version_index(NULL), -1);
	assert_string_equal(CNI_VERSION_LATEST, cni_versions[2]);
}

static void test_prefix_mac(void **state)
{
	(void)state;
	struct cni_prefix p, a;
	char buf[64];
	assert_int_equal(cni_prefix_parse("10.1.0.2/24", true, &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.plen, 24);
	cni_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "10.1.0.2/24");
	assert_int_equal(cni_prefix_parse("10.1.0.1", false, &a), 0);
	assert_int_equal(a.plen, 32);
	assert_true(cni_prefix_contains(&p, &a));
	assert_int_equal(cni_prefix_parse("10.1.1.1", false, &a), 0);
	assert_false(cni_prefix_contains(&p, &a));
	assert_int_equal(cni_prefix_parse("fd00:1::2/64", true, &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(cni_prefix_parse("fd00:1::1", false, &a), 0);
	assert_true(cni_prefix_contains(&p, &a));
	assert_int_equal(cni_prefix_parse("10.1.0.2", true, &p), -EINVAL);
	assert_int_equal(cni_prefix_parse("10.1.0.2/33", true, &p), -EINVAL);
	assert_int_equal(cni_prefix_parse("10.1.0.2/", true, &p), -EINVAL);
	assert_int_equal(cni_prefix_parse("fd00::/129", true, &p), -EINVAL);
	assert_int_equal(cni_prefix_parse("x/8", true, &p), -EINVAL);
	assert_int_equal(cni_prefix_parse(NULL, true, &p), -EINVAL);

	uint8_t mac[6];
	char ms[18];
	assert_int_equal(tern_mac_parse("02:74:65:00:00:fF", mac), 0);
	tern_mac_format(mac, ms, 18);
	assert_string_equal(ms, "02:74:65:00:00:ff");
	assert_int_equal(tern_mac_parse("02:74:65:00:00", mac), -EINVAL);
	assert_int_equal(tern_mac_parse("02:74:65:00:00:0g", mac), -EINVAL);
	assert_true(cni_ifname_valid("eth0"));
	assert_false(cni_ifname_valid("eth 0"));
	assert_false(cni_ifname_valid(".."));
	assert_false(cni_ifname_valid("0123456789abcdef"));
	assert_true(cni_ifname_valid("0123456789abcde"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_add),
		cmocka_unit_test(test_env_optional),
		cmocka_unit_test(test_env_invalid),
		cmocka_unit_test(test_conf_full),
		cmocka_unit_test(test_conf_args),
		cmocka_unit_test(test_conf_prev_and_gc),
		cmocka_unit_test(test_conf_invalid),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_prefix_mac),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
