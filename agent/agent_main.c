/*
 * DOC: agent_main.c — tern-agent: command line, then one poll loop over the
 * tern-api event queue, the CNI socket and the BGP sessions.
 *
 *   tern-agent --node c1 --api http://10.0.0.1:8082 --token-file /etc/tern/agent.token \
 *              --vrouter c1 --controller 10.0.0.2 --controller 10.0.0.3
 *
 * Start-up never flushes anything: the state file says which ids the ports
 * hold, the agent writes them again (hitless), adopts whatever else the
 * vrouter has, and removes only what is still unclaimed once the controllers
 * have sent their routes (agent_vr_sweep). Signals set a flag (a handler
 * gets no argument, hence the one static pointer): SIGTERM/SIGINT stop for a
 * restart (BGP graceful restart: the controllers keep the node's routes),
 * SIGUSR1 stops for good (Cease: the routes are withdrawn at once).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_internal.h"

static volatile int *stop_flag;

static void on_signal(int sig)
{
	if (stop_flag)
		*stop_flag = sig;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: tern-agent --node NAME [options]\n"
"  --node NAME            this compute node (the \"node\" of its interfaces in tern-api)\n"
"  --api URL              tern-api (default http://127.0.0.1:8082)\n"
"  --token-file FILE      bearer token for tern-api (else $TERN_TOKEN)\n"
"  --ca-file FILE         CA certificate for an https tern-api\n"
"  --vrouter NAME         the vrouter instance (socket /run/tern/vrouter/NAME/ctl.sock)\n"
"  --vrouter-socket PATH  or its control socket directly\n"
"  --controller ADDR[:PORT]  a tern-control node (at most %d; iBGP)\n"
"  --asn N                the AS of the agent and its controllers (default 64512)\n"
"  --bgp-password KEY     TCP MD5 key for the controller sessions\n"
"  --fabric-if IF --fabric-ip IP  the node's fabric NIC and tunnel address: the agent\n"
"                         adds it to the vrouter (vif 0) when the vrouter lacks it\n"
"  --fabric-plen N        prefix length of the fabric subnet (default 24)\n"
"  --fabric-gw IP         underlay gateway for tunnel ends outside the fabric subnet\n"
"  --cni-socket PATH      the plugin's socket (default " AGENT_DEFAULT_CNI_SOCK ")\n"
"  --state-dir DIR        state file directory (default " AGENT_DEFAULT_STATE_DIR ")\n"
"  --pod-dir DIR          per-pod socket directories (default " AGENT_DEFAULT_POD_DIR ")\n"
"  --pod-mtu N            MTU of pod interfaces (default %d)\n"
"  --log-level LEVEL      error, warn, info (default), debug\n",
		AGENT_BGP_MAX_PEERS, AGENT_DEFAULT_MTU);
}

static int parse_args(int argc, char **argv, struct agent_conf *c)
{
	enum { O_NODE = 256, O_API, O_TOKEN, O_CA, O_VR, O_VRSOCK, O_CTRL, O_ASN, O_PW, O_PLEN,
	       O_GW, O_CNI, O_STATE, O_PODDIR, O_MTU, O_LOG, O_FIF, O_FIP };
	static const struct option opts[] = {
		{ "node", required_argument, NULL, O_NODE },
		{ "api", required_argument, NULL, O_API },
		{ "token-file", required_argument, NULL, O_TOKEN },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "vrouter", required_argument, NULL, O_VR },
		{ "vrouter-socket", required_argument, NULL, O_VRSOCK },
		{ "controller", required_argument, NULL, O_CTRL },
		{ "asn", required_argument, NULL, O_ASN },
		{ "bgp-password", required_argument, NULL, O_PW },
		{ "fabric-plen", required_argument, NULL, O_PLEN },
		{ "fabric-gw", required_argument, NULL, O_GW },
		{ "cni-socket", required_argument, NULL, O_CNI },
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "pod-dir", required_argument, NULL, O_PODDIR },
		{ "fabric-if", required_argument, NULL, O_FIF },
		{ "fabric-ip", required_argument, NULL, O_FIP },
		{ "pod-mtu", required_argument, NULL, O_MTU },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(c, 0, sizeof(*c));
	snprintf(c->api_url, sizeof(c->api_url), "http://127.0.0.1:8082");
	snprintf(c->cni_socket, sizeof(c->cni_socket), AGENT_DEFAULT_CNI_SOCK);
	snprintf(c->state_dir, sizeof(c->state_dir), AGENT_DEFAULT_STATE_DIR);
	snprintf(c->pod_dir, sizeof(c->pod_dir), AGENT_DEFAULT_POD_DIR);
	c->pod_mtu = AGENT_DEFAULT_MTU;
	c->fabric_plen = 24;
	c->bgp.asn = 64512;
	c->level = TERN_LOG_INFO;
	const char *pw = "", *env = getenv("TERN_TOKEN");
	if (env)
		snprintf(c->token, sizeof(c->token), "%s", env);
	int o, rc;
	char *end;
	unsigned long v;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case O_NODE: snprintf(c->node, sizeof(c->node), "%s", optarg); break;
		case O_API: snprintf(c->api_url, sizeof(c->api_url), "%s", optarg); break;
		case O_TOKEN:
			if ((rc = tern_watch_read_token(optarg, c->token, sizeof(c->token))) < 0) {
				fprintf(stderr, "tern-agent: --token-file %s: %s\n", optarg,
					rc == -EINVAL ? "empty" : strerror(-rc));
				return -1;
			}
			break;
		case O_CA: snprintf(c->ca_file, sizeof(c->ca_file), "%s", optarg); break;
		case O_VR:
			snprintf(c->vr_socket, sizeof(c->vr_socket), VR_CTL_SOCK_FMT, optarg);
			break;
		case O_VRSOCK: snprintf(c->vr_socket, sizeof(c->vr_socket), "%s", optarg); break;
		case O_CTRL: {
			if (c->bgp.n_peers >= AGENT_BGP_MAX_PEERS) {
				fprintf(stderr, "tern-agent: at most %d --controller\n", AGENT_BGP_MAX_PEERS);
				return -1;
			}
			struct agent_bgp_peer_conf *p = &c->bgp.peers[c->bgp.n_peers++];
			snprintf(p->addr, sizeof(p->addr), "%s", optarg);
			p->port = 179;
			char *colon = strrchr(p->addr, ':');
			/* ADDR:PORT for IPv4 and names; [v6]:PORT for IPv6 */
			if (colon && (strchr(p->addr, ':') == colon || p->addr[0] == '[')) {
				v = strtoul(colon + 1, &end, 10);
				if (!colon[1] || *end || !v || v > 65535) {
					fprintf(stderr, "tern-agent: --controller %s: bad port\n", optarg);
					return -1;
				}
				p->port = (uint16_t)v;
				*colon = 0;
			}
			if (p->addr[0] == '[') {
				size_t l = strlen(p->addr);
				if (p->addr[l - 1] == ']')
					p->addr[l - 1] = 0;
				memmove(p->addr, p->addr + 1, l);
			}
			break;
		}
		case O_ASN:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || errno || !v || v > 0xffffffffUL) {
				fprintf(stderr, "tern-agent: --asn %s: not an AS number 1..4294967295\n", optarg);
				return -1;
			}
			c->bgp.asn = (uint32_t)v;
			break;
		case O_PW: pw = optarg; break;
		case O_PLEN:
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || v > 32) {
				fprintf(stderr, "tern-agent: --fabric-plen %s: not 0..32\n", optarg);
				return -1;
			}
			c->fabric_plen = (uint8_t)v;
			break;
		case O_GW: {
			struct agent_ip ip;
			if (agent_ip_parse(optarg, &ip) < 0 || ip.family != 4) {
				fprintf(stderr, "tern-agent: --fabric-gw %s: not an IPv4 address\n", optarg);
				return -1;
			}
			snprintf(c->fabric_gw, sizeof(c->fabric_gw), "%s", optarg);
			break;
		}
		case O_CNI: snprintf(c->cni_socket, sizeof(c->cni_socket), "%s", optarg); break;
		case O_STATE: snprintf(c->state_dir, sizeof(c->state_dir), "%s", optarg); break;
		case O_PODDIR: snprintf(c->pod_dir, sizeof(c->pod_dir), "%s", optarg); break;
		case O_FIF:
			if (strlen(optarg) >= sizeof(c->fabric_if)) {
				fprintf(stderr, "tern-agent: --fabric-if %s: longer than %zu\n", optarg,
					sizeof(c->fabric_if) - 1);
				return -1;
			}
			snprintf(c->fabric_if, sizeof(c->fabric_if), "%s", optarg);
			break;
		case O_FIP:
			if (agent_ip_parse(optarg, &c->fabric_addr) < 0 ||
			    c->fabric_addr.plen != (c->fabric_addr.family == 4 ? 32 : 128)) {
				fprintf(stderr, "tern-agent: --fabric-ip %s: not an address\n", optarg);
				return -1;
			}
			break;
		case O_MTU:
			v = strtoul(optarg, &end, 10);
			if (!*optarg || *end || v < 576 || v > 9000) {
				fprintf(stderr, "tern-agent: --pod-mtu %s: not 576..9000\n", optarg);
				return -1;
			}
			c->pod_mtu = (uint16_t)v;
			break;
		case O_LOG:
			if (tern_log_level_parse(optarg, &c->level) < 0) {
				fprintf(stderr, "tern-agent: --log-level %s: error, warn, info or debug\n", optarg);
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (!c->fabric_if[0] != !c->fabric_addr.family) {
		fprintf(stderr, "tern-agent: --fabric-if and --fabric-ip go together\n");
		return -1;
	}
	if (optind != argc || !c->node[0]) {
		if (!c->node[0])
			fprintf(stderr, "tern-agent: --node is required\n");
		usage(stderr);
		return -1;
	}
	if (!c->vr_socket[0])
		snprintf(c->vr_socket, sizeof(c->vr_socket), VR_CTL_SOCK_FMT, c->node);
	for (int i = 0; i < c->bgp.n_peers; i++)
		snprintf(c->bgp.peers[i].password, sizeof(c->bgp.peers[i].password), "%s", pw);
	return 0;
}

static int agent_alloc(struct agent *a)
{
	a->ports = calloc(AGENT_MAX_PORTS, sizeof(*a->ports));
	a->vrfs = calloc(AGENT_MAX_VRFS + 1, sizeof(*a->vrfs));
	a->rpaths = calloc(AGENT_MAX_RPATHS, sizeof(*a->rpaths));
	a->rroutes = calloc(AGENT_MAX_RROUTES, sizeof(*a->rroutes));
	a->tnhs = calloc(AGENT_MAX_TNHS, sizeof(*a->tnhs));
	a->created = calloc(AGENT_MAX_CREATED, sizeof(*a->created));
	a->nh_used = calloc(AGENT_NH_IDS, 1);
	a->vif_used = calloc(VR_MAX_VIFS, 1);
	a->label_used = calloc(AGENT_LABELS / 8, 1);
	a->vr_reply = malloc(AGENT_VR_REPLY_CAP);
	a->stale_labels = calloc(AGENT_MAX_STALE, sizeof(uint32_t));
	a->cni_fd = -1;
	return a->ports && a->vrfs && a->rpaths && a->rroutes && a->tnhs && a->created &&
	       a->nh_used && a->vif_used && a->label_used && a->vr_reply && a->stale_labels && agent_model_init(a) == 0
	       ? 0 : -ENOMEM;
}

static void agent_release(struct agent *a)
{
	agent_bgp_free(a->bgp, a->graceful);
	agent_api_free(a->api);
	agent_arp_free(a->arp);
	agent_l2_free(a);
	agent_svc_free(a);
	agent_fip_free(a);
	agent_vr_index_free(a);
	agent_sg_free(a);
	vr_client_close(a->vr);
	if (a->cni_fd >= 0) {
		close(a->cni_fd);
		unlink(a->conf.cni_socket);
	}
	json_decref(a->model);
	free(a->ports); free(a->vrfs); free(a->rpaths); free(a->rroutes); free(a->tnhs);
	free(a->created); free(a->nh_used); free(a->vif_used); free(a->label_used);
	free(a->vr_reply);
	free(a->stale_labels);
}

static void on_api(void *arg, const struct agent_api_event *ev)
{
	agent_model_apply(arg, ev);
}

static void on_path(void *arg, bool add, const struct agent_bgp_path *p)
{
	agent_vr_path(arg, add, p);
}

/* Once the vrouter answers: its fabric address, the underlay resolver, the
 * ports of the state file, the BGP sessions. */
static int vrouter_up(struct agent *a, bool restarting)
{
	char err[512];
	if (agent_vr_connect(a, err, sizeof(err)) < 0) {
		TLOG_DEBUG(&a->log, "vrouter: %s", err);
		return -1;
	}
	char ip[64];
	TLOG_INFO(&a->log, "vrouter %s: fabric %s on %s", a->conf.vr_socket,
		  agent_ip_str(&a->fabric_ip, ip, sizeof(ip), false), a->fabric_ifname);
	if (!a->arp && a->fabric_ip.family == 4) {
		a->arp = agent_arp_new(a->fabric_ifname, a->fabric_mac, &a->fabric_ip, err, sizeof(err));
		if (!a->arp)
			TLOG_WARN(&a->log, "underlay resolution off: %s", err);
	}
	/* A vrouter that came back empty (restarted): what the agent believed
	 * installed is gone; re-derive every remote route after the ports. */
	agent_vr_forget_remote(a);
	agent_vr_adopt(a);
	if (agent_vr_restore(a, err, sizeof(err)) < 0)
		TLOG_WARN(&a->log, "%s", err);
	agent_vr_recompute_all(a);
	agent_svc_sync(a);
	agent_fip_sync(a);
	if (!a->bgp && a->conf.bgp.n_peers) {
		struct agent_bgp_conf bc = a->conf.bgp;
		if (a->fabric_ip.family == 4)
			bc.router_id = ntohl(*(uint32_t *)a->fabric_ip.a);
		bc.nh_len = a->fabric_ip.family == 4 ? 4 : 16;
		memcpy(bc.nh, a->fabric_ip.a, 16);
		bc.restarting = restarting;
		a->conf.bgp.router_id = bc.router_id;
		a->bgp = agent_bgp_new(&bc, &a->log, on_path, a, err, sizeof(err));
		if (!a->bgp) {
			TLOG_ERR(&a->log, "BGP: %s", err);
			return -1;
		}
		/* Ports restored before the speaker existed: announce them now. */
		agent_vr_announce_all(a);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct agent *a = calloc(1, sizeof(*a));
	char err[512];
	if (!a || parse_args(argc, argv, &a->conf) < 0)
		return 2;
	tern_log_init(&a->log, "tern-agent", a->conf.node, a->conf.level);
	if (agent_alloc(a) < 0) {
		fprintf(stderr, "tern-agent: out of memory\n");
		return 1;
	}
	static volatile int stop;
	stop_flag = &stop;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);  /* leave for good: withdraw the routes */
	signal(SIGPIPE, SIG_IGN);

	int rc = 1;
	if (agent_state_load(a, err, sizeof(err)) < 0) {
		TLOG_ERR(&a->log, "%s", err);
		goto out;
	}
	bool restarting = false;
	for (int i = 0; i < AGENT_MAX_PORTS; i++)
		restarting |= a->ports[i].used;
	struct agent_api_conf ac = {
		.url = a->conf.api_url, .token = a->conf.token[0] ? a->conf.token : NULL,
		.ca_file = a->conf.ca_file[0] ? a->conf.ca_file : NULL,
		.kinds = { "virtual-network", "virtual-machine-interface", "instance-ip",
			   "network-ipam", "network-policy", "service", "floating-ip",
			   "floating-ip-pool", "security-group", NULL },
	};
	a->api = agent_api_new(&ac, &a->log, err, sizeof(err));
	if (!a->api) {
		TLOG_ERR(&a->log, "tern-api client: %s", err);
		goto out;
	}
	if (agent_cni_listen(a, err, sizeof(err)) < 0) {
		TLOG_ERR(&a->log, "%s", err);
		goto out;
	}
	TLOG_INFO(&a->log, "node %s: tern-api %s, vrouter %s, plugin socket %s, %d controller(s)%s",
		  a->conf.node, a->conf.api_url, a->conf.vr_socket, a->conf.cni_socket,
		  a->conf.bgp.n_peers, restarting ? ", restarting" : "");

	int64_t next_vr = 0, next_resolve = 0, next_alive = 0, started = now_ms(), swept = 0;
	int64_t save_due = 0; /* a deferred state save (state_defer) is due then */
	bool vr_warned = false;
	while (!stop) {
		int64_t now = now_ms();
		if (!a->vr && now >= next_vr) {
			if (vrouter_up(a, restarting) < 0) {
				if (!vr_warned)
					TLOG_WARN(&a->log, "vrouter %s not ready; retrying every second",
						  a->conf.vr_socket);
				vr_warned = true;
				next_vr = now + 1000;
			} else {
				vr_warned = false;
			}
		}
		if (a->vr && a->api_synced && a->bgp && !a->bgp_initial_sent) {
			agent_bgp_initial_done(a->bgp);
			a->bgp_initial_sent = true;
		}
		/* An idle agent notices a vrouter restart by asking now and then. */
		if (a->vr && now >= next_alive) {
			agent_vr_alive(a);
			next_alive = now + 2000;
		}
		if (a->resolve_pending && a->vr && now >= next_resolve) {
			a->resolve_pending = false;
			agent_vr_recompute_all(a);
			next_resolve = now + 1000;
		}
		/* security groups changed (or the model just synced): ports' policies */
		if (a->sg_dirty && a->vr && a->api_synced)
			agent_sg_sync(a);
		if (!swept && a->vr && a->api_synced && agent_vr_converged(a, now - started)) {
			agent_vr_sweep(a);
			swept = now;
		}
		if (a->state_dirty && a->state_defer && !save_due)
			save_due = now + AGENT_STATE_DEFER_MS;
		if (a->state_dirty && (!a->state_defer || now >= save_due)) {
			if (agent_state_save(a, err, sizeof(err)) < 0)
				TLOG_ERR(&a->log, "saving state: %s", err);
			a->state_defer = false;
		}
		if (!a->state_dirty || !a->state_defer)
			save_due = 0;

		struct pollfd fds[8];
		int n = 0, timeout = save_due ? (int)(save_due > now ? save_due - now : 0) : 1000;
		fds[n++] = (struct pollfd){ .fd = agent_api_fd(a->api), .events = POLLIN };
		fds[n++] = (struct pollfd){ .fd = a->cni_fd, .events = POLLIN };
		int arp_i = -1;
		if (a->arp) {
			arp_i = n;
			fds[n++] = (struct pollfd){ .fd = agent_arp_fd(a->arp), .events = POLLIN };
		}
		int nb = a->bgp ? agent_bgp_pollfds(a->bgp, fds + n, 8 - n, &timeout) : 0;
		if (a->resolve_pending && timeout > 200)
			timeout = 200;
		if (poll(fds, (nfds_t)(n + nb), timeout) < 0 && errno != EINTR) {
			TLOG_ERR(&a->log, "poll: %s", strerror(errno));
			break;
		}
		agent_api_drain(a->api, on_api, a);
		if (a->bgp)
			agent_bgp_run(a->bgp, fds + n, nb);
		if (fds[1].revents & POLLIN)
			agent_cni_accept(a);
		/* An underlay neighbour answered: retry the routes waiting for it now. */
		if (arp_i >= 0 && (fds[arp_i].revents & POLLIN) && agent_arp_poll(a->arp) &&
		    a->resolve_pending)
			next_resolve = 0;
	}
	a->graceful = stop == SIGTERM || stop == SIGINT;
	TLOG_INFO(&a->log, "stopping (%s); the vrouter keeps forwarding",
		  a->graceful ? "graceful restart: the controllers keep its routes" :
		  "withdrawing its routes");
	rc = 0;
	if (a->state_dirty && agent_state_save(a, err, sizeof(err)) < 0) {
		TLOG_ERR(&a->log, "saving state: %s", err);
		rc = 1;
	}
out:
	agent_release(a);
	free(a);
	return rc;
}
