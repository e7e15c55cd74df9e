/*
 * DOC: ctl_agent.c — `ternctl agent ...`: what a node's tern-agent holds,
 * over its plugin socket (docs/AGENT.md; root only, as the socket is).
 *
 *   ternctl agent status [--socket PATH] [-o json]   node, readiness, controllers
 *   ternctl agent ports  [--socket PATH] [-o json]   every attached pod interface
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

#define AGENT_SOCK "/run/tern/agent.sock"

void ctl_agent_usage(FILE *f)
{
	fprintf(f, "usage: ternctl agent status|ports [--socket PATH] [-o json]\n"
		   "  --socket PATH   the agent's socket (default " AGENT_SOCK ")\n");
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s && *s ? s : "-";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void print_status(FILE *f, json_t *j)
{
	fprintf(f, "node %s: ready, %lld port(s)\n", str(j, "node"), num(j, "ports"));
	fprintf(f, "%-28s %-12s %9s %9s %6s  %s\n", "Controller", "State", "Paths-in", "Paths-out",
		"Flaps", "Last error");
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(j, "controllers"), i, c)
		fprintf(f, "%-28s %-12s %9lld %9lld %6lld  %s\n", str(c, "address"), str(c, "state"),
			num(c, "paths_in"), num(c, "paths_out"), num(c, "flaps"), str(c, "last_error"));
}

static void print_ports(FILE *f, json_t *j)
{
	fprintf(f, "%-14s %-6s %-11s %-14s %5s %5s %7s  %-18s %s\n", "Container", "Iface", "Kind",
		"Host-iface", "Vif", "VRF", "Label", "Network", "Addresses");
	size_t i, k;
	json_t *p, *a;
	json_array_foreach(json_object_get(j, "ports"), i, p) {
		char addrs[256] = "";
		size_t off = 0;
		json_array_foreach(json_object_get(p, "addresses"), k, a) {
			int n = snprintf(addrs + off, sizeof(addrs) - off, "%s%s", k ? "," : "",
					 json_string_value(a));
			if (n < 0 || (size_t)n >= sizeof(addrs) - off)
				break;
			off += (size_t)n;
		}
		fprintf(f, "%-14.14s %-6s %-11s %-14s %5lld %5lld %7lld  %-18s %s\n",
			str(p, "container_id"), str(p, "ifname"), str(p, "kind"), str(p, "host_ifname"),
			num(p, "vif"), num(p, "vrf"), num(p, "label"), str(p, "network"),
			addrs[0] ? addrs : "-");
	}
}

int ctl_agent_main(struct ctl *c, int argc, char **argv)
{
	const char *sock = c->socket ? c->socket : AGENT_SOCK, *cmd = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			ctl_agent_usage(stdout);
			return CTL_OK;
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			sock = argv[++i];
		} else if (!cmd && argv[i][0] != '-') {
			cmd = argv[i];
		} else {
			ctl_err("agent: unexpected argument '%s'", argv[i]);
			ctl_agent_usage(stderr);
			return CTL_USAGE;
		}
	}
	if (!cmd || (strcmp(cmd, "status") && strcmp(cmd, "ports"))) {
		ctl_agent_usage(stderr);
		return CTL_USAGE;
	}
	char req[64];
	snprintf(req, sizeof(req), "{\"op\": \"%s\"}", cmd);
	json_t *j = ctl_unix_json(sock, req, true, "tern-agent",
				  "is tern-agent running on this node? --socket PATH");
	if (!j)
		return CTL_ERR;
	if (!json_is_true(json_object_get(j, "ok"))) {
		ctl_err("tern-agent: %s", str(j, "msg"));
		json_decref(j);
		return CTL_ERR;
	}
	if (c->out.fmt == OUT_JSON) {
		json_dumpf(j, c->out.f, JSON_INDENT(2));
		fputc('\n', c->out.f);
	} else if (!strcmp(cmd, "status")) {
		print_status(c->out.f, j);
	} else {
		print_ports(c->out.f, j);
	}
	json_decref(j);
	return CTL_OK;
}
