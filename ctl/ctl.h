/*
 * DOC: ctl.h — what the ternctl command families share: the global options,
 * the lazily opened vrouter connection, the output context and exit codes.
 */
#ifndef TERN_CTL_H
#define TERN_CTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "ctl_out.h"
#include "vr_client.h"
#include "vr_msg.h"

/* Exit codes: what a script can rely on. */
#define CTL_OK    0
#define CTL_ERR   1  /* the request failed (vrouter refused, not reachable, ...) */
#define CTL_USAGE 2  /* the command line is wrong */

struct ctl {
	const char *vrouter;          /* --vrouter NAME */
	const char *socket;           /* --socket PATH, NULL: from the name */
	char sock_path[VR_PATH_LEN];
	struct out out;               /* -o */
	struct vr_client *vr;         /* opened by the first request */
	uint8_t *reply;               /* VR_MSG_MAX bytes */
};

/* One family of commands ("vr"): argv[0] is the family's name. Returns an
 * exit code. */
int ctl_vr_main(struct ctl *c, int argc, char **argv);
void ctl_vr_usage(FILE *f);
int ctl_bgp_main(struct ctl *c, int argc, char **argv);
void ctl_bgp_usage(FILE *f);

int ctl_agent_main(struct ctl *c, int argc, char **argv);
void ctl_agent_usage(FILE *f);

/* One JSON request over a UNIX socket and its parsed reply (ctl_sock.c);
 * half_close: end the request with shutdown(SHUT_WR) (tern-agent reads to the
 * end). NULL after printing what failed, naming daemon and hint. */
json_t *ctl_unix_json(const char *path, const char *req, bool half_close, const char *daemon,
		      const char *hint);

/* Print "ternctl: <message>" to stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* TERN_CTL_H */
