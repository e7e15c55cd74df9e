/* DOC: cni_conf.c — see cni_conf.h. */
#include "cni_conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

const char *const cni_versions[] = { "0.4.0", "1.0.0", "1.1.0", NULL };

int cni_errf(struct cni_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->details[0] = 0;
	return -EINVAL;
}

int cni_version_index(const char *v)
{
	for (int i = 0; v && cni_versions[i]; i++)
		if (strcmp(v, cni_versions[i]) == 0)
			return i;
	return -1;
}

/* ---- environment ---------------------------------------------------------- */

static const char *env_get(char *const *envp, const char *key)
{
	size_t n = strlen(key);
	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* The spec's container id: [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
static bool id_valid(const char *s)
{
	if (!s || !isalnum((unsigned char)s[0]))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

bool cni_ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

static bool truthy(const char *v)
{
	return strcasecmp(v, "1") == 0 || strcasecmp(v, "true") == 0;
}

/* "K=V;K=V". Known keys go into env; the kubelet's other K8S_ keys are
 * accepted and ignored, anything else needs IgnoreUnknown. */
static int args_parse(struct cni_env *env, const char *args, struct cni_err *e)
{
	char buf[2048];
	if (strlen(args) >= sizeof(buf))
		return cni_errf(e, CNI_ERR_ENV, "CNI_ARGS is longer than %zu bytes", sizeof(buf) - 1);
	strcpy(buf, args);
	bool ignore_unknown = false;
	char unknown[64] = "";
	char *save = NULL;
	for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(kv, '=');
		if (!eq || eq == kv)
			return cni_errf(e, CNI_ERR_ENV, "CNI_ARGS: '%s' is not KEY=VALUE", kv);
		*eq = 0;
		const char *v = eq + 1;
		if (strcmp(kv, "K8S_POD_NAMESPACE") == 0 || strcmp(kv, "K8S_POD_NAME") == 0) {
			char *dst = strcmp(kv, "K8S_POD_NAME") == 0 ? env->pod_name : env->pod_namespace;
			if (strlen(v) >= sizeof(env->pod_name))
				return cni_errf(e, CNI_ERR_ENV, "CNI_ARGS: %s is longer than %zu bytes",
						kv, sizeof(env->pod_name) - 1);
			strcpy(dst, v);
		} else if (strcmp(kv, "IgnoreUnknown") == 0) {
			ignore_unknown = truthy(v);
		} else if (strncmp(kv, "K8S_", 4) != 0 && !unknown[0]) {
			snprintf(unknown, sizeof(unknown), "%s", kv);
		}
	}
	if (unknown[0] && !ignore_unknown)
		return cni_errf(e, CNI_ERR_ENV, "CNI_ARGS: unknown key '%s' (tern-cni knows "
				"K8S_POD_NAMESPACE and K8S_POD_NAME; add IgnoreUnknown=1 to pass "
				"others)", unknown);
	return 0;
}

int cni_env_parse(struct cni_env *env, char *const *envp, struct cni_err *e)
{
	static const struct { const char *name; enum cni_cmd cmd; } cmds[] = {
		{ "ADD", CNI_CMD_ADD }, { "DEL", CNI_CMD_DEL }, { "CHECK", CNI_CMD_CHECK },
		{ "VERSION", CNI_CMD_VERSION }, { "STATUS", CNI_CMD_STATUS }, { "GC", CNI_CMD_GC },
	};
	memset(env, 0, sizeof(*env));
	const char *cmd = env_get(envp, "CNI_COMMAND");
	if (!cmd || !*cmd)
		return cni_errf(e, CNI_ERR_ENV, "CNI_COMMAND is not set (ADD, DEL, CHECK, VERSION, "
				"STATUS or GC)");
	unsigned i;
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		return cni_errf(e, CNI_ERR_ENV, "CNI_COMMAND '%s' is not one of ADD, DEL, CHECK, "
				"VERSION, STATUS, GC", cmd);
	env->cmd = cmds[i].cmd;
	/* VERSION depends on nothing else; runtimes fill the other variables
	 * with placeholders when they probe (libcni validation: CNI_NETNS=dummy). */
	if (env->cmd == CNI_CMD_VERSION)
		return 0;
	bool attachment = env->cmd == CNI_CMD_ADD || env->cmd == CNI_CMD_DEL ||
			  env->cmd == CNI_CMD_CHECK;

	env->container_id = env_get(envp, "CNI_CONTAINERID");
	if (attachment && (!env->container_id || !*env->container_id))
		return cni_errf(e, CNI_ERR_ENV, "CNI_CONTAINERID is not set");
	if (env->container_id && *env->container_id && !id_valid(env->container_id))
		return cni_errf(e, CNI_ERR_ENV, "CNI_CONTAINERID '%s' is not valid: letters, digits, "
				"'_', '.', '-', starting with a letter or digit", env->container_id);

	env->netns = env_get(envp, "CNI_NETNS");
	if ((env->cmd == CNI_CMD_ADD || env->cmd == CNI_CMD_CHECK) &&
	    (!env->netns || !*env->netns))
		return cni_errf(e, CNI_ERR_ENV, "CNI_NETNS is not set (the path of the pod's network "
				"namespace)");
	if (env->netns && *env->netns && env->netns[0] != '/')
		return cni_errf(e, CNI_ERR_ENV, "CNI_NETNS '%s' is not an absolute path", env->netns);

	env->ifname = env_get(envp, "CNI_IFNAME");
	if (attachment && (!env->ifname || !*env->ifname))
		return cni_errf(e, CNI_ERR_ENV, "CNI_IFNAME is not set");
	if (env->ifname && *env->ifname && !cni_ifname_valid(env->ifname))
		return cni_errf(e, CNI_ERR_ENV, "CNI_IFNAME '%s' is not a valid interface name "
				"(1-15 bytes, no '/', ':' or spaces)", env->ifname);
	if (!env->ifname || !*env->ifname)
		env->ifname = "eth0";

	env->path = env_get(envp, "CNI_PATH");
	const char *args = env_get(envp, "CNI_ARGS");
	if (args && *args)
		return args_parse(env, args, e);
	return 0;
}

/* ---- network configuration ------------------------------------------------ */

/* The optional string field key of o: 0 with *out (NULL when absent), or
 * -EINVAL with e naming the field. */
static int opt_string(json_t *o, const char *key, const char *where, const char **out,
		      struct cni_err *e)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: %s%s must be a string",
				where, key);
	*out = json_string_value(v);
	return 0;
}

static int networks_check(json_t *v, const char *where, struct cni_err *e)
{
	if (json_is_string(v))
		return 0;
	if (!json_is_array(v))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: %s[\"%s\"] must be a "
				"string (\"blue, other/green@net2\") or a list of objects", where,
				CNI_NETWORKS_KEY);
	size_t i;
	json_t *n;
	json_array_foreach(v, i, n) {
		if (!json_is_object(n) || !json_is_string(json_object_get(n, "name")))
			return cni_errf(e, CNI_ERR_NETCONF, "network configuration: %s[\"%s\"][%zu] "
					"must be an object with a string \"name\"", where,
					CNI_NETWORKS_KEY, i);
	}
	return 0;
}

static int valid_check(json_t *v, struct cni_err *e)
{
	if (!json_is_array(v))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"%s\" must be a list "
				"of {\"containerID\", \"ifname\"}", CNI_VALID_KEY);
	size_t i;
	json_t *a;
	json_array_foreach(v, i, a) {
		if (!json_is_object(a) || !json_is_string(json_object_get(a, "containerID")) ||
		    !json_is_string(json_object_get(a, "ifname")))
			return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"%s\"[%zu] must "
					"have string \"containerID\" and \"ifname\"", CNI_VALID_KEY, i);
	}
	return 0;
}

static int conf_fields(struct cni_conf *c, enum cni_cmd cmd, struct cni_err *e)
{
	json_t *r = c->root;
	if (!json_is_object(r))
		return cni_errf(e, CNI_ERR_DECODE, "network configuration: not a JSON object");
	json_t *v = json_object_get(r, "cniVersion");
	if (!json_is_string(v))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"cniVersion\" is "
				"missing or not a string");
	int vi = cni_version_index(json_string_value(v));
	if (vi < 0) {
		cni_errf(e, CNI_ERR_VERSION, "CNI version %s is not supported by tern-cni",
			 json_string_value(v));
		snprintf(e->details, sizeof(e->details), "supported versions: 0.4.0, 1.0.0, 1.1.0");
		return -EINVAL;
	}
	c->version = cni_versions[vi];
	if (opt_string(r, "name", "", &c->name, e) < 0)
		return -EINVAL;
	if (!c->name || !id_valid(c->name))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"name\" is missing or "
				"not valid (letters, digits, '_', '.', '-')");
	const char *type;
	if (opt_string(r, "type", "", &type, e) < 0 ||
	    opt_string(r, "agentSocket", "", &c->agent_socket, e) < 0 ||
	    opt_string(r, "project", "", &c->project, e) < 0 ||
	    opt_string(r, "network", "", &c->network, e) < 0)
		return -EINVAL;
	if (!c->agent_socket)
		c->agent_socket = CNI_AGENT_SOCKET_DEFAULT;
	if (c->agent_socket[0] != '/' ||
	    strlen(c->agent_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"agentSocket\" must be "
				"an absolute path shorter than %zu bytes",
				sizeof(((struct sockaddr_un *)0)->sun_path));

	/* The annotation: runtimeConfig (the runtime's capability args) wins over
	 * args.cni (the netconf's own). */
	json_t *rc = json_object_get(r, "runtimeConfig");
	if (rc && !json_is_object(rc))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"runtimeConfig\" must "
				"be an object");
	json_t *args = json_object_get(r, "args");
	if (args && !json_is_object(args))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"args\" must be an "
				"object");
	json_t *acni = json_object_get(args, "cni");
	if (acni && !json_is_object(acni))
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"args\".\"cni\" must "
				"be an object");
	json_t *n = json_object_get(rc, CNI_NETWORKS_KEY);
	const char *where = "runtimeConfig";
	if (!n || json_is_null(n)) {
		n = json_object_get(acni, CNI_NETWORKS_KEY);
		where = "args.cni";
	}
	if (n && !json_is_null(n)) {
		if (networks_check(n, where, e) < 0)
			return -EINVAL;
		c->networks = n;
	}

	json_t *prev = json_object_get(r, "prevResult");
	if (prev && !json_is_null(prev)) {
		if (!json_is_object(prev))
			return cni_errf(e, CNI_ERR_NETCONF, "network configuration: \"prevResult\" "
					"must be an object");
		c->prev_result = prev;
	}
	if (cmd == CNI_CMD_CHECK && !c->prev_result)
		return cni_errf(e, CNI_ERR_NETCONF, "network configuration: CHECK needs "
				"\"prevResult\" (the result of ADD)");

	json_t *valid = json_object_get(r, CNI_VALID_KEY);
	if (cmd == CNI_CMD_GC) {
		if (!valid)
			return cni_errf(e, CNI_ERR_NETCONF, "network configuration: GC needs \"%s\" "
					"(without it every attachment would be deleted)",
					CNI_VALID_KEY);
		if (valid_check(valid, e) < 0)
			return -EINVAL;
		c->valid = valid;
	}
	return 0;
}

int cni_conf_parse(struct cni_conf *c, const char *text, size_t len, enum cni_cmd cmd,
		   struct cni_err *e)
{
	memset(c, 0, sizeof(*c));
	json_error_t je;
	c->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!c->root)
		return cni_errf(e, CNI_ERR_DECODE, "network configuration on stdin is not JSON: "
				"%s (line %d, column %d)", je.text, je.line, je.column);
	if (conf_fields(c, cmd, e) < 0) {
		const char *v = c->version; /* static: the error is printed in it */
		cni_conf_free(c);
		c->version = v;
		return -EINVAL;
	}
	return 0;
}

void cni_conf_free(struct cni_conf *c)
{
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}

/* ---- addresses ------------------------------------------------------------ */

int cni_prefix_parse(const char *s, bool plen_required, struct cni_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	memset(p, 0, sizeof(*p));
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	else if (plen_required)
		return -EINVAL;
	if (inet_pton(AF_INET, buf, p->addr) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p->addr) == 1)
		p->family = AF_INET6;
	else
		return -EINVAL;
	unsigned max = p->family == AF_INET ? 32 : 128;
	p->plen = (uint8_t)max;
	if (slash) {
		char *end;
		errno = 0;
		unsigned long l = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || l > max || !isdigit((unsigned char)slash[1]))
			return -EINVAL;
		p->plen = (uint8_t)l;
	}
	return 0;
}

void cni_prefix_format(const struct cni_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, p->plen);
}

bool cni_prefix_contains(const struct cni_prefix *p, const struct cni_prefix *a)
{
	if (p->family != a->family)
		return false;
	unsigned bits = p->plen;
	for (unsigned i = 0; bits > 0; i++, bits = bits > 8 ? bits - 8 : 0) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
		if ((p->addr[i] & mask) != (a->addr[i] & mask))
			return false;
	}
	return true;
}


