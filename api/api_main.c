/*
 * DOC: api_main.c — the tern-api daemon: options, store, tokens, HTTP; then
 * it waits for SIGTERM/SIGINT with sigwait (no handler runs at all), and
 * stops in order: watches end, HTTP threads join, the store closes.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_auth.h"
#include "api_core.h"
#include "api_http.h"
#include "api_store.h"
#include "tern_log.h"

struct opts {
	const char *db, *listen, *tokens, *cert, *key, *port_file, *log_level;
	const char *store, *etcd_endpoints, *etcd_prefix;
	int no_auth;
	uint32_t asn;
	long long history;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tern-api [options]\n"
		"  --store sqlite|etcd   where objects live (default sqlite)\n"
		"  --db PATH             SQLite store file (default /var/lib/tern/api.db)\n"
		"  --etcd-endpoints URLS etcd v3 endpoints, http://HOST:PORT[,...] (default\n"
		"                        http://127.0.0.1:2379); several tern-api may share one\n"
		"  --etcd-prefix P       key prefix in etcd (default tern/)\n"
		"  --listen ADDR[:PORT]  address to serve on (default 127.0.0.1:8082; port 0: any\n"
		"                        free port, see --port-file); IPv6 as [::1]:8082\n"
		"  --tokens FILE         bearer tokens: TOKEN admin|read-only [project=P] [name=L]\n"
		"  --no-auth             serve without tokens (development only; every request\n"
		"                        is admin)\n"
		"  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
		"  --asn N               AS number of auto-assigned route targets (default 64512)\n"
		"  --event-history N     keep the newest N events for watches (default 100000;\n"
		"                        0: all); a watch from an older revision gets 410\n"
		"  --port-file FILE      write the bound port there once listening\n"
		"  --log-level L         error, warn, info (default), debug\n");
}

static char *slurp(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t cap = 0;
	if (getdelim(&buf, &cap, 0, f) < 0) {
		snprintf(err, errlen, "%s: empty or unreadable", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* "127.0.0.1:8082", "[::1]:8082", "127.0.0.1" -> addr (in buf) and port. */
static int split_listen(const char *s, char *buf, size_t len, uint16_t *port)
{
	const char *p = NULL;
	*port = 8082;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (size_t)(close - s - 1) >= len)
			return -EINVAL;
		snprintf(buf, len, "%.*s", (int)(close - s - 1), s + 1);
		if (close[1] == ':')
			p = close + 2;
		else if (close[1])
			return -EINVAL;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') == colon) {
			snprintf(buf, len, "%.*s", (int)(colon - s), s);
			p = colon + 1;
		} else {
			snprintf(buf, len, "%s", s);
		}
	}
	if (p) {
		char *end;
		long v = strtol(p, &end, 10);
		if (!*p || *end || v < 0 || v > 65535)
			return -EINVAL;
		*port = (uint16_t)v;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "store", required_argument, NULL, 's' },
		{ "etcd-endpoints", required_argument, NULL, 'e' },
		{ "etcd-prefix", required_argument, NULL, 'P' },
		{ "listen", required_argument, NULL, 'l' },
		{ "tokens", required_argument, NULL, 't' },
		{ "no-auth", no_argument, NULL, 'N' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "asn", required_argument, NULL, 'a' },
		{ "event-history", required_argument, NULL, 'H' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'd': o->db = optarg; break;
		case 's': o->store = optarg; break;
		case 'e': o->etcd_endpoints = optarg; break;
		case 'P': o->etcd_prefix = optarg; break;
		case 'l': o->listen = optarg; break;
		case 't': o->tokens = optarg; break;
		case 'N': o->no_auth = 1; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'p': o->port_file = optarg; break;
		case 'L': o->log_level = optarg; break;
		case 'a': {
			unsigned long v = strtoul(optarg, &end, 10);
			/* a 2-octet ASN leaves 32 bits for the auto-assigned numbers */
			if (*end || v < 1 || v > 65535) {
				fprintf(stderr, "tern-api: --asn %s: use a 2-octet AS number 1..65535\n",
					optarg);
				return 2;
			}
			o->asn = (uint32_t)v;
			break;
		}
		case 'H':
			errno = 0;
			o->history = strtoll(optarg, &end, 10);
			if (errno || *end || !*optarg || o->history < 0) {
				fprintf(stderr, "tern-api: --event-history %s: give a number of events "
					"(0 keeps them all)\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 1;
		case 'V': printf("tern-api %s\n", TERN_VERSION); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tern-api: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (strcmp(o->store, "sqlite") != 0 && strcmp(o->store, "etcd") != 0) {
		fprintf(stderr, "tern-api: --store %s: use sqlite or etcd\n", o->store);
		return 2;
	}
	if (!o->tokens && !o->no_auth) {
		fprintf(stderr, "tern-api: give --tokens FILE (or --no-auth for development)\n");
		return 2;
	}
	if (!!o->cert != !!o->key) {
		fprintf(stderr, "tern-api: --tls-cert and --tls-key go together\n");
		return 2;
	}
	return 0;
}

static int write_port(const char *path, uint16_t port)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -errno;
	return 0;
}

static int serve(const struct opts *o, struct tern_log *lg)
{
	char err[512];
	int rc = 1;
	struct api_auth *auth = NULL;
	struct api_http *http = NULL;
	char *cert = NULL, *key = NULL;
	struct api_core core;
	struct api_err e;
	if (o->tokens) {
		struct stat st;
		if (!(auth = api_auth_load(o->tokens, err, sizeof(err)))) {
			TLOG_ERR(lg, "%s", err);
			return 1;
		}
		if (stat(o->tokens, &st) == 0 && (st.st_mode & 077))
			TLOG_WARN(lg, "%s is readable by others: chmod 600 it", o->tokens);
	}
	if (o->cert && (!(cert = slurp(o->cert, err, sizeof(err))) ||
			!(key = slurp(o->key, err, sizeof(err))))) {
		TLOG_ERR(lg, "TLS: %s", err);
		goto out_auth;
	}
	bool etcd = strcmp(o->store, "etcd") == 0;
	const char *where = etcd ? o->etcd_endpoints : o->db;
	struct api_store *st = etcd ? api_store_etcd_open(o->etcd_endpoints, o->etcd_prefix, err,
							  sizeof(err))
				    : api_store_sqlite_open(o->db, err, sizeof(err));
	if (!st) {
		TLOG_ERR(lg, "%s", err);
		goto out_auth;
	}
	if (api_core_init(&core, st, lg, o->asn, &e) < 0) {
		TLOG_ERR(lg, "%s: %s", where, e.msg);
		goto out_store;
	}
	if (api_core_history(&core, o->history, &e) < 0) {
		TLOG_ERR(lg, "%s", e.msg);
		goto out_core;
	}
	char addr[64];
	struct api_http_cfg cfg = { .addr = addr, .tls_cert = cert, .tls_key = key };
	if (split_listen(o->listen, addr, sizeof(addr), &cfg.port) < 0) {
		TLOG_ERR(lg, "--listen %s: use ADDR:PORT, e.g. 127.0.0.1:8082 or [::1]:8082",
			 o->listen);
		goto out_core;
	}
	if (!(http = api_http_start(&cfg, &core, auth, lg, err, sizeof(err)))) {
		TLOG_ERR(lg, "%s", err);
		goto out_core;
	}
	TLOG_INFO(lg, "serving %s://%s:%u, store %s %s at revision %lld, %s",
		  cert ? "https" : "http", addr, api_http_port(http), o->store, where,
		  (long long)api_revision(&core),
		  auth ? "tokens required" : "NO AUTHENTICATION (--no-auth)");
	if (o->port_file && (rc = write_port(o->port_file, api_http_port(http))) < 0) {
		TLOG_ERR(lg, "--port-file %s: %s", o->port_file, strerror(-rc));
		rc = 1;
		goto out_http;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sig = 0;
	sigwait(&set, &sig);
	TLOG_INFO(lg, "signal %d: stopping at revision %lld", sig, (long long)api_revision(&core));
	rc = 0;
out_http:
	api_http_stop(http);
out_core:
	api_core_fini(&core);
out_store:
	api_store_close(st);
out_auth:
	free(cert);
	free(key);
	api_auth_free(auth);
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { .db = "/var/lib/tern/api.db", .store = "sqlite",
			  .etcd_endpoints = "http://127.0.0.1:2379", .listen = "127.0.0.1:8082",
			  .log_level = "info", .asn = 64512,
			  .history = API_HISTORY_DEFAULT };
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : rc;
	struct tern_log lg;
	enum tern_log_level lvl;
	if (tern_log_level_parse(o.log_level, &lvl) < 0) {
		fprintf(stderr, "tern-api: --log-level %s: use error, warn, info or debug\n",
			o.log_level);
		return 2;
	}
	tern_log_init(&lg, "tern-api", NULL, lvl);
	/* Block the stop signals before any thread starts: every thread inherits
	 * the mask, and only sigwait in main sees them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return serve(&o, &lg);
}
