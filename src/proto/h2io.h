/* weft — internal: moving bytes between a weft_conn_t and an nghttp2
 * session, shared by the HTTP/2 muxes (h2c.c, hbone.c, grpc_client.c).
 * Not a public header. */
#ifndef WEFT_PROTO_H2IO_H
#define WEFT_PROTO_H2IO_H
#include <stdbool.h>
#include <nghttp2/nghttp2.h>
#include "weft/buf-t.h"
#include "weft/loop-t.h"
#include "weft/net-t.h"

/* Reads what the transport has (at most max_reads chunks) and feeds it to
 * sess, with *in_recv true around nghttp2_session_mem_recv. Stops early
 * when *dead becomes true (a callback killed the connection). Returns
 * WEFT_OK (read everything available: the transport said WEFT_EAGAIN),
 * WEFT_EAGAIN (stopped at max_reads: more may be waiting, call again),
 * WEFT_ECLOSED (peer EOF, or *dead), WEFT_EFAIL (transport error) or
 * WEFT_EPROTO (nghttp2 refused the input). With ngerr NULL the refusal is
 * logged with c->name; otherwise *ngerr gets nghttp2's error code (its
 * flood guards: NGHTTP2_ERR_FLOODED, _TOO_MANY_CONTINUATIONS, ...) and the
 * caller decides what to say. */
int weft_h2io_read(weft_conn_t *c, nghttp2_session *sess, bool *in_recv, const bool *dead,
		   int max_reads, int *ngerr);

/* Pulls frames from sess into c->out while it holds less than high bytes,
 * then writes through the transport (write interest follows what is left;
 * read interest is kept). Returns WEFT_OK (nothing pending), WEFT_EAGAIN
 * (bytes remain: write interest is on), WEFT_EFAIL (transport or nghttp2
 * failure), WEFT_ELIMIT (c->out bound) or WEFT_ECLOSED (the session wants
 * neither to read nor to write and all output left: close now). */
int weft_h2io_write(weft_conn_t *c, nghttp2_session *sess, size_t high);

/* Arms kick (the mux's 0 ms flush timer on c's loop) unless in_recv (the
 * pump writes once nghttp2_session_mem_recv returns), dead, or already
 * armed. Never calls into nghttp2: safe from its callbacks. */
void weft_h2io_kick(weft_conn_t *c, weft_timer_t *kick, bool in_recv, bool dead);

/* Marks a mux connection dead: *dead set, reading stops, and reap (the
 * mux's 0 ms close timer) closes it on the next loop turn, so callers on
 * the stack never see it freed. Returns false (nothing done) when *dead
 * already was, true otherwise. */
bool weft_h2io_kill(weft_conn_t *c, weft_timer_t *reap, bool *dead);

/* The body of a stream's data provider over a send buffer: moves up to len
 * bytes from out into buf. When out is then empty it sets
 * NGHTTP2_DATA_FLAG_EOF in *flags if eof (the sender is done), or, when
 * nothing moved and more is to come, sets *deferred and pauses the stream
 * (the owner resumes it with nghttp2_session_resume_data once out grows).
 * Returns the bytes moved (0 with EOF set: an empty last DATA frame) or
 * NGHTTP2_ERR_DEFERRED. */
ssize_t weft_h2io_pull(weft_buf_t *out, uint8_t *buf, size_t len, bool eof, uint32_t *flags,
		       bool *deferred);

/* As weft_h2io_pull, without the copy: says how many bytes of out the
 * next DATA frame carries and sets NGHTTP2_DATA_FLAG_NO_COPY (when there
 * are any), so nghttp2 calls the session's send_data callback, which ends
 * in weft_h2io_send_data. out must not shrink in between. */
ssize_t weft_h2io_pull_nocopy(const weft_buf_t *out, size_t len, bool eof, uint32_t *flags,
			      bool *deferred);

/* The body of a send_data callback: queues the frame header and length
 * bytes from out's head into c->out (one copy, none through nghttp2's
 * frame buffer) and drops them from out. Returns 0,
 * NGHTTP2_ERR_WOULDBLOCK when c->out already holds high bytes or more
 * (nghttp2 offers the same frame again on the next send), or
 * NGHTTP2_ERR_CALLBACK_FAILURE (out lost the bytes, or c->out's bound). */
int weft_h2io_send_data(weft_conn_t *c, const uint8_t *framehd, weft_buf_t *out, size_t length,
			size_t high);

/* What weft_h2io_session_new builds: the callbacks (NULL: not set), the
 * session options, and the SETTINGS of our preface. */
typedef struct weft_h2io_session_opts {
	bool server;
	nghttp2_on_begin_headers_callback on_begin_headers;
	nghttp2_on_header_callback on_header;
	nghttp2_on_frame_recv_callback on_frame_recv;
	nghttp2_on_data_chunk_recv_callback on_data_chunk_recv;
	nghttp2_on_stream_close_callback on_stream_close;
	nghttp2_on_frame_not_send_callback on_frame_not_send;
	nghttp2_on_frame_send_callback on_frame_send;
	nghttp2_send_data_callback on_send_data;   /* for NGHTTP2_DATA_FLAG_NO_COPY */
	bool no_auto_window_update;       /* the owner calls nghttp2_session_consume */
	size_t max_send_header_block;     /* 0: nghttp2's default */
	uint32_t peer_max_streams;        /* client: assumed until the peer's SETTINGS; 0: default */
	const nghttp2_settings_entry *settings;
	size_t nsettings;
	int32_t conn_window;              /* > 65535: our connection receive window; else default */
	bool big_frames;                  /* DATA frames up to the peer's SETTINGS_MAX_FRAME_SIZE
					   * (nghttp2 stops at 16 KiB otherwise) */
} weft_h2io_session_opts_t;

/* Creates a client or server session with user data ud as o describes and
 * submits our SETTINGS (and the connection window) so the preface leaves
 * on the first write. Returns WEFT_OK with *out set, WEFT_ENOMEM (no
 * memory for the callbacks or options) or WEFT_EFAIL (nghttp2 refused the
 * session, the settings or the window); on failure *out is NULL. */
int weft_h2io_session_new(nghttp2_session **out, const weft_h2io_session_opts_t *o, void *ud);

#endif
