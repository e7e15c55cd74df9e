/*
 * DOC: bgp_gr.h — tern-control as a restarting speaker (RFC 4724 §4.1): the
 * marker that a graceful stop leaves in the state directory, and what a start
 * makes of it. With `graceful-restart restart-time N`, SIGTERM closes every
 * session without a NOTIFICATION (the peers keep tern's routes as stale) and
 * writes the marker; a start that finds a marker younger than N seconds is a
 * graceful restart (R bit, routes deferred until the peers' End-of-RIB).
 * The marker is removed by the start that reads it, whatever it says.
 */
#ifndef TERN_BGP_GR_H
#define TERN_BGP_GR_H

#include <stddef.h>
#include <stdint.h>

#define BGP_GR_MARKER "graceful-restart"

/* The marker's path: state_dir/graceful-restart, or, when state_dir is "",
 * the directory of ctl_sock. Returns 0, or -ENAMETOOLONG. */
int bgp_gr_marker_path(const char *state_dir, const char *ctl_sock, char *out, size_t len);

/* Write "stopped SECONDS restart-time N" (now in seconds since the epoch)
 * through a temporary file and rename. Returns 0 or -errno. */
int bgp_gr_marker_write(const char *path, int64_t now, uint16_t restart_time);

/*
 * Read and remove the marker. Returns 1 when this start is a graceful
 * restart: the marker is there, well formed, and at most restart_time
 * seconds old (*age set). Returns 0 when it is not, with *why saying why
 * ("no marker", "marker too old", "malformed marker", "graceful restart
 * off"); -errno when the marker exists but cannot be read or removed.
 */
int bgp_gr_marker_take(const char *path, int64_t now, uint16_t restart_time, int64_t *age,
		       const char **why);

#endif /* TERN_BGP_GR_H */
