/*
 * DOC: ternctl.c — main: global options, then dispatch to a command family
 * through one table (vr now; bgp, get, apply later).
 *
 * Global options may appear anywhere before "--" (kubectl habit), so
 * `ternctl vr vif list -o json` works as well as `ternctl -o json vr vif list`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_api.h"

struct family {
	const char *name;
	int (*main)(struct ctl *c, int argc, char **argv);
	void (*usage)(FILE *f);
	const char *help;
};

static const struct family families[] = {
	{ "vr", ctl_vr_main, ctl_vr_usage, "the vrouter's tables: vifs, VRFs, nexthops, routes, ..." },
	{ "bgp", ctl_bgp_main, ctl_bgp_usage, "tern-control: BGP neighbors and RIB" },
	{ "agent", ctl_agent_main, ctl_agent_usage, "tern-agent: its node, controllers and ports" },
	{ "apply", ctl_apply_main, ctl_api_usage, "create or update tern-api objects from a YAML/JSON file" },
	{ "get", ctl_get_main, ctl_api_usage, "list or show tern-api objects (vn, vmi, iip, ...)" },
	{ "delete", ctl_delete_main, ctl_api_usage, "delete tern-api objects" },
};
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

void ctl_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ternctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ternctl [--vrouter NAME | --socket PATH] [-o table|json] COMMAND ...\n\n"
		   "Global options (anywhere on the line):\n"
		   "  --vrouter NAME   the vrouter instance (default: default), whose socket is\n"
		   "                   " VR_CTL_SOCK_FMT "\n"
		   "  --socket PATH    talk to this control socket instead (before COMMAND)\n"
		   "  -o, --output F   table (default) or json\n"
		   "  -h, --help       this help; `ternctl COMMAND --help` for a command\n"
		   "  --version\n\nCommands:\n", "NAME");
	for (unsigned i = 0; i < N_FAMILIES; i++)
		fprintf(f, "  %-6s %s\n", families[i].name, families[i].help);
}

/* Value of a global option at argv[*i] (--opt VALUE or --opt=VALUE); NULL
 * when argv[*i] is not that option. Sets *bad when the value is missing. */
static const char *take_opt(int argc, char **argv, int *i, const char *lng, const char *shrt,
			    int *bad)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);
	if (strncmp(a, lng, n) == 0 && a[n] == '=')
		return a + n + 1;
	if (strcmp(a, lng) != 0 && !(shrt && strcmp(a, shrt) == 0))
		return NULL;
	if (*i + 1 >= argc) {
		ctl_err("%s needs a value", lng);
		*bad = 1;
		return NULL;
	}
	return argv[++*i];
}

/* Take the global options out of argv; returns CTL_OK or an exit code.
 * --socket is global only before the command (vif add has its own --socket);
 * --vrouter and -o are taken anywhere. */
static int global_options(struct ctl *c, int *argc, char **argv, enum out_fmt *fmt)
{
	int n = 1, bad = 0, in_cmd = 0;
	for (int i = 1; i < *argc; i++) {
		const char *v;
		if (strcmp(argv[i], "--") == 0) {
			while (i < *argc)
				argv[n++] = argv[i++];
			break;
		}
		if ((v = take_opt(*argc, argv, &i, "--vrouter", NULL, &bad))) {
			c->vrouter = v;
		} else if (!in_cmd && (v = take_opt(*argc, argv, &i, "--socket", NULL, &bad))) {
			c->socket = v;
		} else if ((v = take_opt(*argc, argv, &i, "--output", "-o", &bad))) {
			if (out_parse_fmt(v, fmt) < 0) {
				ctl_err("-o %s: unknown output format (use table or json)", v);
				return CTL_USAGE;
			}
		} else if (!bad) {
			in_cmd |= argv[i][0] != '-';
			argv[n++] = argv[i];
		}
		if (bad)
			return CTL_USAGE;
	}
	*argc = n;
	argv[n] = NULL;
	return CTL_OK;
}

static int socket_path(struct ctl *c)
{
	if (c->socket) {
		if (strlen(c->socket) >= sizeof(c->sock_path)) {
			ctl_err("--socket %s: longer than %zu bytes", c->socket, sizeof(c->sock_path) - 1);
			return CTL_USAGE;
		}
		snprintf(c->sock_path, sizeof(c->sock_path), "%s", c->socket);
		return CTL_OK;
	}
	if (!c->vrouter[0] || strchr(c->vrouter, '/') || strlen(c->vrouter) >= VR_NAME_LEN) {
		ctl_err("--vrouter '%s': a name is 1 to %d characters without '/'", c->vrouter,
			VR_NAME_LEN - 1);
		return CTL_USAGE;
	}
	snprintf(c->sock_path, sizeof(c->sock_path), VR_CTL_SOCK_FMT, c->vrouter);
	return CTL_OK;
}

int main(int argc, char **argv)
{
	struct ctl c = { .vrouter = "default" };
	enum out_fmt fmt = OUT_TABLE;
	int rc = global_options(&c, &argc, argv, &fmt);
	if (rc != CTL_OK)
		return rc;
	out_init(&c.out, fmt, stdout);
	if (argc < 2) {
		usage(stderr);
		return CTL_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CTL_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ternctl %s\n", TERN_VERSION);
		return CTL_OK;
	}
	rc = socket_path(&c);
	if (rc != CTL_OK)
		return rc;
	for (unsigned i = 0; i < N_FAMILIES; i++) {
		if (strcmp(argv[1], families[i].name) != 0)
			continue;
		rc = families[i].main(&c, argc - 1, argv + 1);
		vr_client_close(c.vr);
		free(c.reply);
		return rc;
	}
	ctl_err("unknown command '%s' (try: ternctl --help)", argv[1]);
	return CTL_USAGE;
}
