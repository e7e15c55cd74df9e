/*
 * DOC: agent_parse.c — the agent's parsers of text it is handed: addresses,
 * route targets, MACs and the Kubernetes NPWG network annotation (from the
 * CNI call, i.e. from whoever writes pod annotations). Pure functions over
 * strings and JSON, fuzzed by fuzz/agent_parse_fuzz.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_parse.h"
#include "bgp_msg.h"

#define CNI_E_CONFIG 7

int agent_ip_parse(const char *s, struct agent_ip *ip)
{
	char buf[64];
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	long plen = -1;
	if (slash) {
		char *end;
		*slash = 0;
		plen = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end)
			return -EINVAL;
	}
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, buf, ip->a) == 1)
		ip->family = 4;
	else if (inet_pton(AF_INET6, buf, ip->a) == 1)
		ip->family = 6;
	else
		return -EINVAL;
	long max = ip->family == 4 ? 32 : 128;
	if (plen > max)
		return -EINVAL;
	ip->plen = (uint8_t)(plen < 0 ? max : plen);
	return 0;
}

const char *agent_ip_str(const struct agent_ip *ip, char *buf, size_t len, bool with_plen)
{
	char t[INET6_ADDRSTRLEN];
	if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->a, t, sizeof(t)))
		snprintf(t, sizeof(t), "?");
	if (with_plen)
		snprintf(buf, len, "%s/%u", t, ip->plen);
	else
		snprintf(buf, len, "%s", t);
	return buf;
}

/* Does prefix net (a subnet) contain address x? */
bool agent_ip_contains(const struct agent_ip *net, const struct agent_ip *x)
{
	if (net->family != x->family)
		return false;
	unsigned bits = net->plen;
	for (unsigned i = 0; i < 16 && bits; i++) {
		unsigned n = bits >= 8 ? 8 : bits;
		uint8_t mask = (uint8_t)(0xff00 >> n);
		if ((net->a[i] & mask) != (x->a[i] & mask))
			return false;
		bits -= n;
	}
	return true;
}

int agent_rt_parse(const char *s, uint8_t out[8])
{
	char buf[64];
	if (!s || strncmp(s, "target:", 7) || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s + 7);
	char *colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno)
		return -EINVAL;
	struct in_addr ia;
	memset(out, 0, 8);
	if (inet_pton(AF_INET, buf, &ia) == 1) {
		if (n > 0xffff)
			return -EINVAL;
		out[0] = 0x01; out[1] = 0x02;
		memcpy(out + 2, &ia, 4);
		out[6] = (uint8_t)(n >> 8); out[7] = (uint8_t)n;
		return 0;
	}
	unsigned long as = strtoul(buf, &end, 10);
	if (!*buf || *end || as > 0xffffffffUL)
		return -EINVAL;
	if (as <= 0xffff && n <= 0xffffffffUL) {
		bgp_ext_rt_as2(out, (uint16_t)as, (uint32_t)n);
		return 0;
	}
	if (n > 0xffff)
		return -EINVAL;
	out[0] = 0x02; out[1] = 0x02;
	out[2] = (uint8_t)(as >> 24); out[3] = (uint8_t)(as >> 16);
	out[4] = (uint8_t)(as >> 8); out[5] = (uint8_t)as;
	out[6] = (uint8_t)(n >> 8); out[7] = (uint8_t)n;
	return 0;
}

/* A veth name that a container id and interface name always give, so that a
 * restarted agent and the plugin agree without asking (FNV-1a, 44 bits). */
void agent_host_ifname(const char *container_id, const char *ifname, char out[16])
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = container_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *p = ifname; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	snprintf(out, 16, "tn%011llx", (unsigned long long)(h & 0xfffffffffffULL));
}


int agent_want_add(struct agent_want *w, int *n, const char *ns, const char *name, const char *ifn,
		    char *err, size_t errlen)
{
	if (*n >= AGENT_MAX_IFS) {
		snprintf(err, errlen, "more than %d networks requested", AGENT_MAX_IFS);
		return -CNI_E_CONFIG;
	}
	if (!name || !*name) {
		snprintf(err, errlen, "a network selection without a name");
		return -CNI_E_CONFIG;
	}
	if (ifn && strlen(ifn) > 15) {
		snprintf(err, errlen, "interface name '%s' is longer than 15 characters", ifn);
		return -CNI_E_CONFIG;
	}
	if (ns && *ns)
		snprintf(w[*n].ref, sizeof(w[*n].ref), "%s:%s", ns, name);
	else
		snprintf(w[*n].ref, sizeof(w[*n].ref), "%s", name);
	snprintf(w[*n].ifname, sizeof(w[*n].ifname), "%s", ifn ? ifn : "");
	(*n)++;
	return 0;
}

int agent_parse_networks(json_t *nets, struct agent_want *w, int *n, char *err, size_t errlen)
{
	if (!nets || json_is_null(nets))
		return 0;
	if (json_is_array(nets)) {
		size_t i;
		json_t *e;
		json_array_foreach(nets, i, e) {
			if (!json_is_object(e)) {
				snprintf(err, errlen, "networks[%zu]: expected an object", i);
				return -CNI_E_CONFIG;
			}
			int rc = agent_want_add(w, n, json_string_value(json_object_get(e, "namespace")),
					  json_string_value(json_object_get(e, "name")),
					  json_string_value(json_object_get(e, "interface")),
					  err, errlen);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	const char *s = json_string_value(nets);
	if (!s) {
		snprintf(err, errlen, "networks: expected a string or a list");
		return -CNI_E_CONFIG;
	}
	if (s[0] == '[') {
		json_error_t je;
		json_t *arr = json_loads(s, 0, &je);
		if (!arr) {
			snprintf(err, errlen, "networks annotation: %s (column %d)", je.text,
				 je.column);
			return -CNI_E_CONFIG;
		}
		int rc = json_is_array(arr) ? agent_parse_networks(arr, w, n, err, errlen) : -CNI_E_CONFIG;
		if (!json_is_array(arr))
			snprintf(err, errlen, "networks annotation: expected a JSON list");
		json_decref(arr);
		return rc;
	}
	char buf[1024];
	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "networks annotation longer than %zu bytes", sizeof(buf) - 1);
		return -CNI_E_CONFIG;
	}
	strcpy(buf, s);
	char *save, *tok;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		char *end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = 0;
		if (!*tok)
			continue;
		char *at = strchr(tok, '@'), *slash = strchr(tok, '/');
		if (at)
			*at++ = 0;
		const char *ns = NULL, *name = tok;
		if (slash && (!at || slash < at)) {
			*slash = 0;
			ns = tok;
			name = slash + 1;
		}
		int rc = agent_want_add(w, n, ns, name, at, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

