/*
 * DOC: tern_log.h — one line per event, with a level, for every daemon.
 *
 *   2026-11-22T19:48:07.123Z INFO tern-vrouter[a] vif 3 added: kernel veth-p1 vrf 2
 *
 * The logger is a plain struct owned by the module's context; no global state.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <stdio.h>

enum tern_log_level { TERN_LOG_ERR, TERN_LOG_WARN, TERN_LOG_INFO, TERN_LOG_DEBUG };

struct tern_log {
	const char *prog;       /* "tern-vrouter" */
	const char *instance;   /* instance name, may be NULL */
	enum tern_log_level level;
	FILE *out;              /* NULL: stderr */
};

void tern_log_init(struct tern_log *lg, const char *prog, const char *instance,
		   enum tern_log_level level);
/* Parse "error", "warn", "info", "debug". Returns 0 or -EINVAL. */
int tern_log_level_parse(const char *s, enum tern_log_level *out);
void tern_logf(const struct tern_log *lg, enum tern_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TLOG_ERR(lg, ...)   tern_logf((lg), TERN_LOG_ERR, __VA_ARGS__)
#define TLOG_WARN(lg, ...)  tern_logf((lg), TERN_LOG_WARN, __VA_ARGS__)
#define TLOG_INFO(lg, ...)  tern_logf((lg), TERN_LOG_INFO, __VA_ARGS__)
#define TLOG_DEBUG(lg, ...) tern_logf((lg), TERN_LOG_DEBUG, __VA_ARGS__)

#endif
