/*
 * DOC: cni_agent.h — tern-cni's side of the agent's UNIX socket
 * (docs/AGENT.md): one JSON request per connection, written whole, then
 * shutdown(SHUT_WR); one JSON reply of at most 64 KiB, then EOF.
 */
#ifndef TERN_CNI_AGENT_H
#define TERN_CNI_AGENT_H

#include <jansson.h>

#include "cni_conf.h"
#include "cni_result.h"

#define CNI_AGENT_MAX_REPLY (64 * 1024)
/* Per request, connect to EOF. An `add` or `attach` waits for the vrouter
 * (and for tern-api on NPWG networks); the kubelet's own CNI timeout is
 * minutes, so 30 s only catches an agent that hangs. */
#define CNI_AGENT_TIMEOUT_MS 30000

/*
 * The request op ("add", "attach", "del", "check") with the attachment of
 * docs/AGENT.md (container_id, netns, ifname, pod_namespace, pod_name,
 * project, network, networks); absent values are left out. "attach" also
 * carries every interface of plan (vmi, and host_ifname for kernel ones).
 * "status" is {"op"} alone; "gc" is {"op", "valid": [{container_id,
 * ifname}]} from conf->valid. Returns a new object, NULL when out of memory.
 */
json_t *cni_agent_request(const char *op, const struct cni_env *env,
			  const struct cni_conf *conf, const struct cni_plan *plan);

/*
 * Send req to the agent at path and wait up to timeout_ms for its reply.
 * Returns 0 with *reply (new reference, "ok": true), or a negative errno
 * with e filled:
 *   -ECONNREFUSED  the agent is not there (no socket, nobody listening):
 *                  code 11 so that the runtime retries;
 *   -ETIMEDOUT     no whole reply in time (code 11);
 *   -EACCES        not allowed to connect (code 5: run the plugin as root);
 *   -EMSGSIZE      reply over 64 KiB (code 5);
 *   -EBADMSG       reply not JSON or without "ok" (code 5);
 *   -EREMOTEIO     the agent refused ("ok": false): its code, msg, details;
 *   -EIO           any other socket error (code 5).
 */
int cni_agent_call(const char *path, json_t *req, int timeout_ms, json_t **reply,
		   struct cni_err *e);

#endif /* TERN_CNI_AGENT_H */
