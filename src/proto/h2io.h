/* weft — internal: moving bytes between a weft_conn_t and an nghttp2
 * session, shared by the HTTP/2 muxes (h2c.c, hbone.c, grpc_client.c).
 * Not a public header. */
#ifndef WEFT_PROTO_H2IO_H
#define WEFT_PROTO_H2IO_H
#include <stdbool.h>
#include <nghttp2/nghttp2.h>
#include "weft/net-t.h"

/* Reads what the transport has (at most max_reads chunks) and feeds it to
 * sess, with *in_recv true around nghttp2_session_mem_recv. Stops early
 * when *dead becomes true (a callback killed the connection). Returns
 * WEFT_OK (read everything available: the transport said WEFT_EAGAIN),
 * WEFT_EAGAIN (stopped at max_reads: more may be waiting, call again),
 * WEFT_ECLOSED (peer EOF, or *dead), WEFT_EFAIL (transport error) or
 * WEFT_EPROTO (nghttp2 refused the input; logged with c->name). */
int weft_h2io_read(weft_conn_t *c, nghttp2_session *sess, bool *in_recv, const bool *dead,
		   int max_reads);

/* Pulls frames from sess into c->out while it holds less than high bytes,
 * then writes through the transport (write interest follows what is left;
 * read interest is kept). Returns WEFT_OK (nothing pending), WEFT_EAGAIN
 * (bytes remain: write interest is on), WEFT_EFAIL (transport or nghttp2
 * failure), WEFT_ELIMIT (c->out bound) or WEFT_ECLOSED (the session wants
 * neither to read nor to write and all output left: close now). */
int weft_h2io_write(weft_conn_t *c, nghttp2_session *sess, size_t high);

#endif
