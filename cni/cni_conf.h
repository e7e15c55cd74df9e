/*
 * DOC: cni_conf.h — what the container runtime tells tern-cni: the CNI_*
 * environment and the network configuration on stdin, parsed and checked
 * into structs. Pure (no I/O), so every refusal is unit-tested.
 *
 * Errors carry the CNI error code the plugin prints (struct cni_err), not
 * only an errno: the runtime acts on the code (11 retries, 1 negotiates the
 * version), and the message names the variable or field to fix.
 */
#ifndef TERN_CNI_CONF_H
#define TERN_CNI_CONF_H

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern_mac.h"

/* CNI error codes (spec §"Error"), and tern's own (100+, docs/AGENT.md). */
enum cni_code {
	CNI_ERR_VERSION = 1,         /* incompatible CNI version */
	CNI_ERR_ENV = 4,             /* invalid necessary environment variable */
	CNI_ERR_IO = 5,              /* I/O failure (tern-agent's reply unusable) */
	CNI_ERR_DECODE = 6,          /* failed to decode content */
	CNI_ERR_NETCONF = 7,         /* invalid network configuration */
	CNI_ERR_TRY_AGAIN = 11,      /* try again later (tern-agent unreachable) */
	CNI_ERR_NOT_AVAILABLE = 50,  /* plugin not available (STATUS) */
	CNI_ERR_POD_SETUP = 102,     /* tern-cni could not set up the pod's interfaces */
	CNI_ERR_CHECK = 103,         /* CHECK: the pod's interfaces differ from the plan */
};

struct cni_err {
	int code;
	char msg[512];
	char details[512];
};

/* Fill e (code, message; details emptied). Returns -EINVAL, so that a parser
 * can `return cni_errf(...)`. */
int cni_errf(struct cni_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define CNI_VERSION_LATEST "1.1.0"
/* The versions tern-cni speaks, oldest first; NULL-terminated. */
extern const char *const cni_versions[];
/* Index in cni_versions, or -1 when unsupported. */
int cni_version_index(const char *v);

enum cni_cmd { CNI_CMD_ADD, CNI_CMD_DEL, CNI_CMD_CHECK, CNI_CMD_VERSION, CNI_CMD_STATUS,
	       CNI_CMD_GC };

/* The CNI_* variables. String pointers point into envp, which must outlive
 * the struct; absent ones are NULL (netns: NULL or ""). */
struct cni_env {
	enum cni_cmd cmd;
	const char *container_id;
	const char *netns;
	const char *ifname;          /* "eth0" when CNI_IFNAME is absent on VERSION/STATUS/GC */
	const char *path;
	char pod_namespace[254];     /* from CNI_ARGS; "" when absent */
	char pod_name[254];
};

/*
 * Parse the environment (an environ-style array "KEY=value", NULL-terminated).
 * Required: CNI_COMMAND always; CNI_CONTAINERID and CNI_IFNAME for ADD, DEL,
 * CHECK; CNI_NETNS for ADD and CHECK. CNI_ARGS keys other than K8S_POD_*
 * are refused unless IgnoreUnknown=1|true.
 * Returns 0, or -EINVAL with e (code 4, the variable named).
 */
int cni_env_parse(struct cni_env *env, char *const *envp, struct cni_err *e);

#define CNI_AGENT_SOCKET_DEFAULT "/run/tern/agent.sock"
#define CNI_NETWORKS_KEY "k8s.v1.cni.cncf.io/networks"
#define CNI_VALID_KEY    "cni.dev/valid-attachments"

/* The network configuration. root owns every json_t and string below. */
struct cni_conf {
	json_t *root;
	const char *version;         /* one of cni_versions */
	const char *name;
	const char *agent_socket;
	const char *project;         /* NULL when absent */
	const char *network;         /* NULL when absent */
	json_t *networks;            /* the NPWG annotation (string or array), or NULL */
	json_t *prev_result;         /* object or NULL */
	json_t *valid;               /* GC: cni.dev/valid-attachments (array) or NULL */
};

/*
 * Parse the netconf of command cmd. The annotation is taken from
 * runtimeConfig, else from args.cni. CHECK requires prevResult, GC requires
 * cni.dev/valid-attachments (an absent list must not read as "nothing is
 * valid").
 * Returns 0, or -EINVAL with e: code 6 (not JSON), 1 (cniVersion not
 * supported), 7 (a field missing or of the wrong type: named in msg).
 * On failure c->version is still set when cniVersion was valid (the error
 * is printed in that version), everything else is NULL. On success free
 * with cni_conf_free.
 */
int cni_conf_parse(struct cni_conf *c, const char *text, size_t len, enum cni_cmd cmd,
		   struct cni_err *e);
void cni_conf_free(struct cni_conf *c);

/* An address with its prefix length, as the agent and netlink use it. */
struct cni_prefix {
	int family;                  /* AF_INET, AF_INET6 */
	uint8_t addr[16];
	uint8_t plen;
};

/* "10.1.0.2/24", "fd00::1/64"; without "/len" when plen_required is false
 * the length is the full address. Returns 0 or -EINVAL. */
int cni_prefix_parse(const char *s, bool plen_required, struct cni_prefix *p);
/* "10.1.0.2/24" into buf (at least 64 bytes). */
void cni_prefix_format(const struct cni_prefix *p, char *buf, size_t len);
/* Does p's prefix contain address a (same family)? */
bool cni_prefix_contains(const struct cni_prefix *p, const struct cni_prefix *a);

/* "02:74:65:00:00:01" → 6 bytes. Returns 0 or -EINVAL. */

/* A Linux interface name: 1..15 bytes, not "." or "..", no '/', ':' or
 * whitespace. */
bool cni_ifname_valid(const char *s);

#endif /* TERN_CNI_CONF_H */
