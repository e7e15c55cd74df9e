/*
 * DOC: ctl_bgp.c — `ternctl bgp ...`: tern-control's neighbors and RIB over
 * its control socket (one request line, one JSON reply; see
 * control/bgp_ctl.c).
 *
 *   ternctl bgp neighbors [--socket PATH] [-o json]
 *   ternctl bgp instances [--socket PATH] [-o json]
 *   ternctl bgp rib [-a ipv4|ipv6|vpnv4|vpnv6|evpn|rtc] [--instance NAME] [--socket PATH] [-o json]
 *
 * --instance shows the Loc-RIB of a routing instance (plain prefixes; the
 * RD column is the RD of the VPN route each path was imported from).
 *
 * -o json prints the daemon's document as it came; the default prints
 * columns.
 */
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define BGP_CTL_SOCK "/run/tern/control/ctl.sock"

void ctl_bgp_usage(FILE *f)
{
	fprintf(f, "usage: ternctl bgp neighbors [--socket PATH] [-o json]\n"
		   "       ternctl bgp instances [--socket PATH] [-o json]\n"
		   "       ternctl bgp rib [-a ipv4|ipv6|vpnv4|vpnv6|evpn|rtc] [--instance NAME] [--socket PATH]"
		   " [-o json]\n"
		   "  --socket PATH   tern-control's control socket (default " BGP_CTL_SOCK ")\n");
}

/* One request line, the whole reply, parsed; NULL after a message. */
static json_t *request(const char *path, const char *req)
{
	json_t *j = ctl_unix_json(path, req, false, "tern-control", "is tern-control running? --socket PATH");
	json_t *e = j ? json_object_get(j, "error") : NULL;
	if (json_is_string(e)) {
		ctl_err("tern-control: %s", json_string_value(e));
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "-";
}

/* "a,b,c" of an array of strings or numbers. */
static void join(json_t *arr, char *buf, size_t len)
{
	size_t i, off = 0;
	json_t *v;
	buf[0] = 0;
	json_array_foreach(arr, i, v) {
		char item[64];
		if (json_is_string(v))
			snprintf(item, sizeof(item), "%s", json_string_value(v));
		else if (json_is_integer(v))
			snprintf(item, sizeof(item), "%lld", (long long)json_integer_value(v));
		else
			snprintf(item, sizeof(item), "{set}");
		int n = snprintf(buf + off, len - off, "%s%s", i ? "," : "", item);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static void print_neighbors(FILE *f, json_t *j)
{
	fprintf(f, "%-28s %-10s %-12s %-16s %8s %6s  %s\n", "Neighbor", "AS", "State", "Router-ID",
		"Up(s)", "Flaps", "Prefixes");
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(j, "neighbors"), i, n) {
		char addr[80], pfx[128] = "";
		snprintf(addr, sizeof(addr), "%s:%lld", str(n, "address"),
			 (long long)json_integer_value(json_object_get(n, "port")));
		const char *k;
		json_t *v;
		size_t off = 0;
		json_object_foreach(json_object_get(n, "prefixes"), k, v) {
			int w = snprintf(pfx + off, sizeof(pfx) - off, "%s%s=%lld", off ? " " : "", k,
					 (long long)json_integer_value(v));
			if (w < 0 || (size_t)w >= sizeof(pfx) - off)
				break;
			off += (size_t)w;
		}
		fprintf(f, "%-28s %-10lld %-12s %-16s %8lld %6lld  %s\n", addr,
			(long long)json_integer_value(json_object_get(n, "as")), str(n, "state"),
			str(n, "router_id"), (long long)json_integer_value(json_object_get(n, "uptime")),
			(long long)json_integer_value(json_object_get(n, "flaps")), pfx[0] ? pfx : "-");
		const char *le = str(n, "last_error");
		if (le[0] && strcmp(le, "-") != 0)
			fprintf(f, "    last error: %s\n", le);
	}
}

static void print_instances(FILE *f, json_t *j)
{
	fprintf(f, "  %-32s %-9s %-7s %-30s %s\n", "Instance", "VNI", "Routes", "Import targets",
		"Export targets");
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(j, "instances"), i, v) {
		char imp[256], exp[256];
		join(json_object_get(v, "import_targets"), imp, sizeof(imp));
		join(json_object_get(v, "export_targets"), exp, sizeof(exp));
		fprintf(f, "  %-32s %-9lld %-7lld %-30s %s\n", str(v, "name"),
			(long long)json_integer_value(json_object_get(v, "vni")),
			(long long)json_integer_value(json_object_get(v, "routes")), imp, exp);
	}
}

static void print_rib(FILE *f, json_t *j)
{
	if (json_object_get(j, "instance"))
		fprintf(f, "Instance %s, family %s. Flags: * best\n", str(j, "instance"),
			str(j, "family"));
	else
		fprintf(f, "Family %s. Flags: * best\n", str(j, "family"));
	fprintf(f, "  %-20s %-20s %-8s %-18s %-16s %-6s %-14s %s\n", "RD", "Prefix", "Label",
		"Next hop", "Peer", "LPref", "AS path", "Communities / ORIGINATOR_ID / CLUSTER_LIST");
	size_t i, k;
	json_t *r, *p;
	json_array_foreach(json_object_get(j, "routes"), i, r) {
		json_array_foreach(json_object_get(r, "paths"), k, p) {
			char asp[128], ext[256], cl[128], label[16] = "-", lp[16] = "-";
			join(json_object_get(p, "as_path"), asp, sizeof(asp));
			join(json_object_get(p, "ext_communities"), ext, sizeof(ext));
			join(json_object_get(p, "cluster_list"), cl, sizeof(cl));
			if (json_object_get(p, "label"))
				snprintf(label, sizeof(label), "%lld",
					 (long long)json_integer_value(json_object_get(p, "label")));
			if (json_object_get(p, "local_pref"))
				snprintf(lp, sizeof(lp), "%lld",
					 (long long)json_integer_value(json_object_get(p, "local_pref")));
			fprintf(f, "%c %-20s %-20s %-8s %-18s %-16s %-6s %-14s %s %s %s\n",
				json_is_true(json_object_get(p, "best")) ? '*' : ' ',
				json_object_get(p, "rd") ? str(p, "rd") : str(r, "rd"),
				json_object_get(r, "key") ? str(r, "key") : str(r, "prefix"), label, str(p, "next_hop"), str(p, "peer"), lp, asp,
				ext, str(p, "originator_id"), cl);
		}
	}
}

int ctl_bgp_main(struct ctl *c, int argc, char **argv)
{
	const char *sock = c->socket ? c->socket : BGP_CTL_SOCK;
	const char *family = "ipv4";
	const char *cmd = NULL, *instance = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			ctl_bgp_usage(stdout);
			return CTL_OK;
		} else if ((strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--family") == 0) &&
			   i + 1 < argc) {
			family = argv[++i];
		} else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
			sock = argv[++i];
		} else if (strcmp(argv[i], "--instance") == 0 && i + 1 < argc) {
			instance = argv[++i];
		} else if (!cmd && argv[i][0] != '-') {
			cmd = argv[i];
		} else {
			ctl_err("bgp: unexpected argument '%s'", argv[i]);
			ctl_bgp_usage(stderr);
			return CTL_USAGE;
		}
	}
	if (!cmd || (strcmp(cmd, "neighbors") != 0 && strcmp(cmd, "rib") != 0 &&
		     strcmp(cmd, "instances") != 0)) {
		ctl_bgp_usage(stderr);
		return CTL_USAGE;
	}
	static const char *const fams[] = { "ipv4", "ipv6", "vpnv4", "vpnv6", "evpn", "rtc" };
	bool ok = false;
	for (unsigned i = 0; i < 6; i++)
		ok |= strcmp(family, fams[i]) == 0;
	if (!ok) {
		ctl_err("-a %s: unknown family (ipv4, ipv6, vpnv4, vpnv6, evpn, rtc)", family);
		return CTL_USAGE;
	}
	bool rib = strcmp(cmd, "rib") == 0;
	if (instance && (!rib || !instance[0] || strlen(instance) > 127 ||
			 strpbrk(instance, " \t\r\n"))) {
		ctl_err("--instance %s: only with rib, a name of 1 to 127 characters without spaces "
			"(a virtual network's project:name)", instance);
		return CTL_USAGE;
	}
	char req[192];
	snprintf(req, sizeof(req), "%s%s%s%s%s", cmd, rib ? " " : "", rib ? family : "",
		 instance ? " " : "", instance ? instance : "");
	json_t *j = request(sock, req);
	if (!j)
		return CTL_ERR;
	if (c->out.fmt == OUT_JSON) {
		json_dumpf(j, c->out.f, JSON_INDENT(2));
		fputc('\n', c->out.f);
	} else if (strcmp(cmd, "neighbors") == 0) {
		print_neighbors(c->out.f, j);
	} else if (strcmp(cmd, "instances") == 0) {
		print_instances(c->out.f, j);
	} else {
		print_rib(c->out.f, j);
	}
	json_decref(j);
	return CTL_OK;
}
