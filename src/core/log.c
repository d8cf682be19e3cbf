/* weft — logging to stderr with a context prefix. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <openssl/err.h>
#include "weft/log.h"

/* The one process-wide logging threshold: a plain setting, written once at
 * start-up, not shared state between subsystems. */
static enum weft_log_level log_level = WEFT_LOG_INFO;

void weft_log_set_level(enum weft_log_level lvl) { log_level = lvl; }
enum weft_log_level weft_log_get_level(void) { return log_level; }

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void weft_log(enum weft_log_level lvl, const char *ctx, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (lvl < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl], ctx ? ctx : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

void weft_log_ssl(enum weft_log_level lvl, const char *ctx, const char *msg)
{
	unsigned long e;
	char buf[256];

	weft_log(lvl, ctx, "%s", msg);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		weft_log(lvl, ctx, "  openssl: %s", buf);
	}
}
