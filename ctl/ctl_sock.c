/*
 * DOC: ctl_sock.c — one JSON request over a daemon's UNIX control socket
 * (tern-control's, tern-agent's): connect, write, read the reply to the end,
 * parse. Every failure is printed with what to check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

json_t *ctl_unix_json(const char *path, const char *req, bool half_close, const char *daemon,
		      const char *hint)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		ctl_err("--socket %s: path too long", path);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ctl_err("cannot connect to %s socket %s: %s (%s)", daemon, path, strerror(errno), hint);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size_t rl = strlen(req);
	/* A line for tern-control; the end of the stream for tern-agent. */
	if (write(fd, req, rl) != (ssize_t)rl || write(fd, "\n", 1) != 1 ||
	    (half_close && shutdown(fd, SHUT_WR) < 0)) {
		ctl_err("writing to %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			char *b = realloc(buf, cap);
			if (!b) {
				ctl_err("out of memory reading the reply");
				free(buf);
				close(fd);
				return NULL;
			}
			buf = b;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			ctl_err("reading from %s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	json_error_t je;
	json_t *j = json_loadb(buf ? buf : "", len, 0, &je);
	free(buf);
	if (!j)
		ctl_err("%s sent a reply that is not JSON: %s", daemon, je.text);
	return j;
}
