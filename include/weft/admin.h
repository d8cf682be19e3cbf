/* weft — admin HTTP/1.1 server with a route table. */
#ifndef WEFT_ADMIN_H
#define WEFT_ADMIN_H
#include "weft/admin-t.h"
#include "weft/rc.h"

void weft_admin_init(weft_admin_t *a, weft_loop_t *loop);

/* Adds a route for an exact path (the query string is not part of it).
 * Returns WEFT_OK or WEFT_ELIMIT (table full or path too long). */
int weft_admin_route(weft_admin_t *a, const char *path, weft_admin_handler fn, void *ctx);

/* Listens on addr. Returns WEFT_OK or WEFT_EFAIL (errno set). */
int weft_admin_listen(weft_admin_t *a, const char *addr);

/* Closes the listener and every connection. */
void weft_admin_destroy(weft_admin_t *a);

/* Serves an accepted fd (used by the listener; exposed for tests). */
void weft_admin_adopt(weft_admin_t *a, int fd, const char *peer);

/* True when query (a=b&c=d) holds key=value. */
bool weft_admin_query_has(weft_str_t query, const char *key, const char *value);

#endif
