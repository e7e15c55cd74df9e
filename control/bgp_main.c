/*
 * DOC: bgp_main.c — tern-control: command line, signals, then the loop.
 *
 *   tern-control -c /etc/tern/control.conf [--socket PATH] [--log-level L]
 *
 * SIGINT/SIGTERM set a flag (the only thing a handler does); the loop then
 * sends Cease to every peer and exits 0. The handler reaches the flag through
 * a pointer set once before any signal can arrive: the one piece of static
 * state, because a signal handler gets no argument.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgp_daemon.h"

static volatile sig_atomic_t *stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	if (stop_flag)
		*stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tern-control -c FILE [--socket PATH] [--log-level error|warn|info|debug]\n"
		   "  -c, --config FILE   configuration (format: docs/ARCHITECTURE.md, tern-control)\n"
		   "  --socket PATH       control socket (default: the file's control-socket,\n"
		   "                      else " BGP_DEFAULT_CTL_SOCK ")\n"
		   "  --log-level LEVEL   overrides the file's log-level\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg = NULL, *sock = NULL, *level = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cfg = optarg; break;
		case 's': sock = optarg; break;
		case 'l': level = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg || optind != argc) {
		usage(stderr);
		return 2;
	}
	struct bgp_daemon *d = calloc(1, sizeof(*d));
	if (!d) {
		fprintf(stderr, "tern-control: out of memory\n");
		return 1;
	}
	char err[512];
	if (bgp_conf_load(&d->conf, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "tern-control: %s\n", err);
		free(d);
		return 2;
	}
	if (sock) {
		if (strlen(sock) >= sizeof(d->conf.ctl_sock)) {
			fprintf(stderr, "tern-control: --socket %s: path too long\n", sock);
			free(d);
			return 2;
		}
		snprintf(d->conf.ctl_sock, sizeof(d->conf.ctl_sock), "%s", sock);
	}
	enum tern_log_level lv;
	if (tern_log_level_parse(level ? level : d->conf.log_level, &lv) < 0) {
		fprintf(stderr, "tern-control: --log-level %s: use error, warn, info or debug\n",
			level);
		free(d);
		return 2;
	}
	tern_log_init(&d->log, "tern-control", NULL, lv);
	stop_flag = &d->stop;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	int rc = bgp_daemon_init(d, err, sizeof(err));
	if (rc < 0) {
		TLOG_ERR(&d->log, "%s", err);
		bgp_daemon_free(d);
		free(d);
		return 1;
	}
	TLOG_INFO(&d->log, "started: AS %u, %d neighbors", d->conf.as, d->n_peers);
	rc = bgp_daemon_run(d);
	bgp_daemon_free(d);
	free(d);
	return rc < 0 ? 1 : 0;
}
