/* weft — logging. Lines go to stderr: "LEVEL [ctx] message". */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

enum weft_log_level { WEFT_LOG_DEBUG, WEFT_LOG_INFO, WEFT_LOG_WARN, WEFT_LOG_ERR };

/* Sets the lowest level that is printed (process-wide setting read at each
 * call; set once at start-up from the command line). */
void weft_log_set_level(enum weft_log_level lvl);
enum weft_log_level weft_log_get_level(void);

/* Logs one line. ctx names the connection, stream or subsystem ("xds c12"). */
void weft_log(enum weft_log_level lvl, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Logs msg followed by every entry of the OpenSSL error queue, draining it. */
void weft_log_ssl(enum weft_log_level lvl, const char *ctx, const char *msg);

#define weft_debug(ctx, ...) do { if (weft_log_get_level() <= WEFT_LOG_DEBUG) weft_log(WEFT_LOG_DEBUG, ctx, __VA_ARGS__); } while (0)
#define weft_info(ctx, ...) weft_log(WEFT_LOG_INFO, ctx, __VA_ARGS__)
#define weft_warn(ctx, ...) weft_log(WEFT_LOG_WARN, ctx, __VA_ARGS__)
#define weft_err(ctx, ...) weft_log(WEFT_LOG_ERR, ctx, __VA_ARGS__)

#endif
