/* DOC: tern_log.c — see tern_log.h. */
#include "tern_log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void tern_log_init(struct tern_log *lg, const char *prog, const char *instance,
		   enum tern_log_level level)
{
	lg->prog = prog;
	lg->instance = instance;
	lg->level = level;
	lg->out = NULL;
}

int tern_log_level_parse(const char *s, enum tern_log_level *out)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum tern_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void tern_logf(const struct tern_log *lg, enum tern_log_level level, const char *fmt, ...)
{
	if (level > lg->level)
		return;
	char line[1024];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level], lg->prog);
	if (lg->instance && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s]", lg->instance);
	if (n > 0 && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* One write per line so that lines of several processes do not interleave. */
	FILE *out = lg->out ? lg->out : stderr;
	fprintf(out, "%s\n", line);
	fflush(out);
}
