/*
 * DOC: bgp_main.c — tern-control: command line, signals, then the loop.
 *
 *   tern-control -c /etc/tern/control.conf [--socket PATH] [--log-level L]
 *   tern-control --api URL --name ROUTER [-c FILE] [--token-file F] [--ca-file F]
 *
 * With --api, neighbors and routing instances come from tern-api too (the
 * bgp-router ROUTER and its peers, the virtual networks), applied live; the
 * file, optional then, gives the process settings (bgp_apiconf.h).
 *
 * Signals set a flag (the only thing a handler does); the loop then stops
 * and exits 0. SIGINT and SIGUSR1: Cease to every peer. SIGTERM: the same,
 * unless `graceful-restart restart-time N` is set: then the sessions close
 * without a NOTIFICATION (peers keep tern's routes as stale for N seconds)
 * and the next start within N seconds is a graceful restart (bgp_gr.h).
 * SIGHUP (with -c FILE and no --api): the file is read again and applied
 * like a tern-api change (bgp_daemon_reload): sessions that did not change
 * stay up; a file with an error is refused and the running configuration
 * stays. The handler reaches the flags through pointers set once before any
 * signal can arrive: the one piece of static state, because a signal
 * handler gets no argument.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bgp_daemon.h"
#include "tern_watch.h"

static volatile sig_atomic_t *stop_flag, *reload_flag;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		if (reload_flag)
			*reload_flag = 1;
		return;
	}
	if (stop_flag)
		*stop_flag = sig == SIGTERM ? BGP_STOP_GRACEFUL : BGP_STOP_CEASE;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tern-control -c FILE [--socket PATH] [--log-level error|warn|info|debug]\n"
		   "       tern-control --api URL --name ROUTER [-c FILE] [--token-file FILE]\n"
		   "                    [--ca-file FILE] [--socket PATH] [--log-level LEVEL]\n"
		   "  -c, --config FILE   configuration (format: docs/ARCHITECTURE.md, tern-control);\n"
		   "                      with --api it gives the process settings only (listen,\n"
		   "                      timers, control socket, [neighbors] ranges) and may omit\n"
		   "                      router-id and as\n"
		   "  --api URL           tern-api: neighbors and routing instances from its\n"
		   "                      bgp-router and virtual-network objects, applied live\n"
		   "  --name ROUTER       our own bgp-router object (name, fq_name or UUID)\n"
		   "  --token-file FILE   bearer token for tern-api (else $TERN_TOKEN)\n"
		   "  --ca-file FILE      CA certificate for an https tern-api\n"
		   "  --socket PATH       control socket (default: the file's control-socket,\n"
		   "                      else " BGP_DEFAULT_CTL_SOCK ")\n"
		   "  --log-level LEVEL   overrides the file's log-level\n"
		   "signals: SIGTERM stops; with graceful-restart restart-time N in the file it\n"
		   "  closes the sessions without NOTIFICATION (peers keep our routes N seconds)\n"
		   "  and a start within N seconds is a graceful restart; SIGINT and SIGUSR1\n"
		   "  always send Cease; SIGHUP reads FILE again (without --api) and applies\n"
		   "  what changed, leaving unchanged sessions up\n");
}

/* Two descriptors per neighbour (ours and theirs) plus listeners and
 * control clients: a thousand agents need more than the usual soft limit of
 * 1,024, so take the hard limit. One warning when even that is short. */
static void raise_nofile(struct bgp_daemon *d)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	rlim_t need = 2 * (rlim_t)d->conf.n_nb + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		TLOG_WARN(&d->log, "open files limit %llu is below the %llu that %d neighbors may "
			  "use (raise LimitNOFILE / ulimit -n)", (unsigned long long)rl.rlim_cur,
			  (unsigned long long)need, d->conf.n_nb);
}

static void fail_free(struct bgp_daemon *d)
{
	bgp_api_free(d->api);
	bgp_conf_free(&d->conf);
	free(d);
}

int main(int argc, char **argv)
{
	enum { O_SOCK = 256, O_LOG, O_API, O_NAME, O_TOKEN, O_CA };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, O_SOCK },
		{ "log-level", required_argument, NULL, O_LOG },
		{ "api", required_argument, NULL, O_API },
		{ "name", required_argument, NULL, O_NAME },
		{ "token-file", required_argument, NULL, O_TOKEN },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg = NULL, *sock = NULL, *level = NULL, *env = getenv("TERN_TOKEN");
	struct bgp_api_conf ac = { .token = env && *env ? env : NULL };
	char token[512];
	int o, rc;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cfg = optarg; break;
		case O_SOCK: sock = optarg; break;
		case O_LOG: level = optarg; break;
		case O_API: ac.url = optarg; break;
		case O_NAME: ac.name = optarg; break;
		case O_CA: ac.ca_file = optarg; break;
		case O_TOKEN:
			if ((rc = tern_watch_read_token(optarg, token, sizeof(token))) < 0) {
				fprintf(stderr, "tern-control: --token-file %s: %s\n", optarg,
					rc == -EINVAL ? "empty" : strerror(-rc));
				return 2;
			}
			ac.token = token;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if ((!cfg && !ac.url) || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!ac.url != !ac.name) {
		fprintf(stderr, "tern-control: --api and --name go together (--name: our own "
			"bgp-router object in tern-api)\n");
		return 2;
	}
	struct bgp_daemon *d = calloc(1, sizeof(*d));
	if (!d) {
		fprintf(stderr, "tern-control: out of memory\n");
		return 1;
	}
	char err[512];
	unsigned flags = ac.url ? BGP_CONF_API : 0;
	rc = cfg ? bgp_conf_load(&d->conf, cfg, flags, err, sizeof(err)) :
		   bgp_conf_parse_flags(&d->conf, "(no file)", "", flags, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "tern-control: %s\n", err);
		fail_free(d);
		return 2;
	}
	if (sock) {
		if (strlen(sock) >= sizeof(d->conf.ctl_sock)) {
			fprintf(stderr, "tern-control: --socket %s: path too long\n", sock);
			fail_free(d);
			return 2;
		}
		snprintf(d->conf.ctl_sock, sizeof(d->conf.ctl_sock), "%s", sock);
	}
	enum tern_log_level lv;
	if (tern_log_level_parse(level ? level : d->conf.log_level, &lv) < 0) {
		fprintf(stderr, "tern-control: --log-level %s: use error, warn, info or debug\n",
			level);
		fail_free(d);
		return 2;
	}
	tern_log_init(&d->log, "tern-control", NULL, lv);
	stop_flag = &d->stop;
	reload_flag = &d->reload;
	d->conf_path = ac.url ? NULL : cfg;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ac.url) {
		if (!(d->api = bgp_api_new(&ac, &d->conf, &d->log, err, sizeof(err)))) {
			TLOG_ERR(&d->log, "--api %s: %s", ac.url, err);
			fail_free(d);
			return 2;
		}
		if (bgp_api_wait(d->api, &d->conf, &d->stop) < 0) {
			TLOG_INFO(&d->log, "stopping");
			fail_free(d);
			return 0;
		}
	}
	raise_nofile(d);
	rc = bgp_daemon_init(d, err, sizeof(err));
	if (rc < 0) {
		TLOG_ERR(&d->log, "%s", err);
		bgp_daemon_free(d);
		fail_free(d);
		return 1;
	}
	TLOG_INFO(&d->log, "started: AS %u, %d neighbors, %d instances%s", d->conf.as, d->n_peers,
		  d->n_vrf, d->api ? " (file and tern-api)" : "");
	rc = bgp_daemon_run(d);
	bgp_daemon_free(d);
	fail_free(d);
	return rc < 0 ? 1 : 0;
}
