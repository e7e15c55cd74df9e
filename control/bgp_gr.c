/*
 * DOC: bgp_gr.c — see bgp_gr.h. The marker is one text line, written through
 * a temporary file, fsync and rename so that a start never reads half of it.
 */
#include "bgp_gr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int bgp_gr_marker_path(const char *state_dir, const char *ctl_sock, char *out, size_t len)
{
	int n;
	if (state_dir[0]) {
		n = snprintf(out, len, "%s/%s", state_dir, BGP_GR_MARKER);
	} else {
		const char *slash = strrchr(ctl_sock, '/');
		if (!slash)
			n = snprintf(out, len, "%s", BGP_GR_MARKER);
		else
			n = snprintf(out, len, "%.*s/%s", (int)(slash - ctl_sock), ctl_sock,
				     BGP_GR_MARKER);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int bgp_gr_marker_write(const char *path, int64_t now, uint16_t restart_time)
{
	char tmp[4096 + 8], line[64];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	int n = snprintf(line, sizeof(line), "stopped %" PRId64 " restart-time %u\n", now,
			 restart_time);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		int e = errno ? errno : EIO;
		close(fd);
		unlink(tmp);
		return -e;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

int bgp_gr_marker_take(const char *path, int64_t now, uint16_t restart_time, int64_t *age,
		       const char **why)
{
	char buf[128];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		*why = "no marker";
		return 0;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = n < 0 ? errno : 0;
	close(fd);
	if (n < 0)
		return -e;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	buf[n] = 0;
	int64_t stopped;
	unsigned rt;
	if (sscanf(buf, "stopped %" SCNd64 " restart-time %u", &stopped, &rt) != 2) {
		*why = "malformed marker";
		return 0;
	}
	*age = now - stopped;
	if (!restart_time) {
		*why = "graceful restart off";
		return 0;
	}
	if (*age < 0 || *age > restart_time) {
		*why = "marker too old";
		return 0;
	}
	return 1;
}
