/* weft — network namespaces, in-pod nftables rules and the byte relay.
 * See weft/capture-t.h. */
#ifndef WEFT_CAPTURE_H
#define WEFT_CAPTURE_H
#include <sys/socket.h>
#include "weft/capture-t.h"
#include "weft/rc.h"

/* ---- network namespaces (src/agent/netns.c) ---- */

/* Opens the process's own netns (/proc/thread-self/ns/net) as the way back.
 * Returns WEFT_OK or WEFT_EFAIL (errno set). */
int weft_netns_set_init(weft_netns_set_t *s);
/* Closes every namespace fd and the way back. */
void weft_netns_set_destroy(weft_netns_set_t *s);

/* The namespace at path, opened once and shared (refcount). NULL or ""
 * path: returns NULL with errno 0 (= the process's own namespace; every
 * function below takes NULL for that). On failure returns NULL with
 * errno set (ENOENT: no such namespace, EINVAL: not a netns). */
weft_netns_t *weft_netns_open(weft_netns_set_t *s, const char *path);
/* Drops a reference from weft_netns_open (NULL is ignored). */
void weft_netns_release(weft_netns_set_t *s, weft_netns_t *ns);

/* A socket created inside namespace nsfd (< 0: our own): setns(nsfd) ->
 * socket() -> setns(self_fd). A socket keeps the namespace it was created
 * in for its whole life, so everything after socket() (bind, connect,
 * listen, accept) happens in the target namespace without switching.
 * Returns the fd or -1 (errno set). When switching back fails the process
 * aborts: carrying on in a pod's namespace would be a security bug.
 *
 * Cost: one socket in another namespace = two setns(CLONE_NEWNET) calls.
 * Measured on the 2-core dev VM (kernel 6.18, 100k iterations): ~3 us per
 * setns pair, against ~6.5 us for socket()+close() alone, so switching
 * adds about half again to creating the socket. It is paid once per
 * listener and per passthrough / delivery connection, never per byte;
 * accepted sockets inherit the listener's namespace for free. */
int weft_netns_socket(int self_fd, int nsfd, int domain, int type, int proto);

/* A non-blocking, close-on-exec TCP listener on sa inside ns (NULL: ours),
 * with SO_REUSEADDR. Returns the fd or -1 (errno set). */
int weft_netns_listen(weft_netns_set_t *s, const weft_netns_t *ns, const struct sockaddr *sa,
		      socklen_t salen, int backlog);

/* Starts a non-blocking TCP connect to dst from inside ns (NULL: ours).
 * mark != 0 sets SO_MARK (sockets the agent opens in pods, so the capture
 * rules let them through). src (may be NULL) binds the local address first.
 * Returns the fd (connected or connecting: wait for writability, then
 * weft_sock_connect_result) or -1 (errno set). */
int weft_netns_connect(weft_netns_set_t *s, const weft_netns_t *ns, const struct sockaddr *dst,
		       socklen_t dstlen, uint32_t mark);

/* The outcome of a non-blocking connect once the fd is writable: 0, or the
 * errno of the failure (ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT...). */
int weft_sock_connect_result(int fd);

/* The destination a redirected connection was headed to (SO_ORIGINAL_DST
 * for IPv4, IP6T_SO_ORIGINAL_DST for IPv6). Returns WEFT_OK or WEFT_EFAIL
 * (not redirected / no conntrack entry). */
int weft_sock_original_dst(int fd, struct sockaddr_storage *ss, socklen_t *sslen);

/* Makes the next close() of fd send RST instead of FIN (SO_LINGER 0). */
void weft_sock_set_rst(int fd);

/* True when the namespace has a usable IPv6 loopback (::1 can be bound). */
bool weft_netns_has_ipv6(weft_netns_set_t *s, const weft_netns_t *ns);

/* ---- nftables (src/agent/nft.c) ---- */

void weft_nft_opts_default(weft_nft_opts_t *o, uint32_t mark);

/* Writes the `nft -f` script that (re)installs table inet weft into out:
 * creates it, flushes it, then adds both chains (one transaction).
 * Returns the length, or WEFT_ELIMIT when outlen is too small. */
int weft_nft_script(const weft_nft_opts_t *o, char *out, size_t outlen);

/* Installs (or replaces: idempotent) the capture rules inside namespace
 * nsfd by running `nft -f -` in a child process that entered it. Returns
 * WEFT_OK, or WEFT_EFAIL with err holding nft's exit status and stderr
 * (or why it could not run). */
int weft_nft_install(int nsfd, const weft_nft_opts_t *o, char *err, size_t errlen);

/* Deletes table inet weft inside nsfd (no error when it is absent).
 * Returns WEFT_OK or WEFT_EFAIL with err as above. */
int weft_nft_remove(int nsfd, const weft_nft_opts_t *o, char *err, size_t errlen);

/* ---- capture (src/agent/capture.c; the rest of its API is in
 * weft/agent.h) ---- */

struct weft_capture;

typedef enum weft_capture_mode {
	WEFT_CAPTURE_NONE = 0,
	WEFT_CAPTURE_NFT,
	WEFT_CAPTURE_EBPF,
} weft_capture_mode_t;

/* The backend --capture want selects: "auto" (or NULL): ebpf when
 * ebpf_err is NULL (the programs loaded), else nft; "ebpf": ebpf, or -1
 * when ebpf_err says it is unavailable; "nft", "none": those. Returns a
 * weft_capture_mode_t, or -1 (unavailable or an unknown word). */
int weft_capture_choose(const char *want, const char *ebpf_err);
/* The backend in use (NONE for NULL). */
weft_capture_mode_t weft_capture_mode(const struct weft_capture *c);

/* Agent shutdown: closes every listener but leaves the rules in place, so
 * captured traffic is refused while no agent runs (fail closed); a later
 * weft_capture_free() then removes no rules. In ebpf mode the pinned
 * links and maps stay, and the heartbeat stops (--capture-failure=open
 * lets connections through 2 s later). */
void weft_capture_stop(struct weft_capture *c);

/* ---- relay (src/agent/relay.c) ---- */

#define WEFT_RELAY_BUF (64u * 1024u)

/* Initialises r (nothing runs yet). bufmax 0 = WEFT_RELAY_BUF. */
void weft_relay_init(weft_relay_t *r, weft_loop_t *loop, size_t bufmax,
		     void (*on_done)(weft_relay_t *r), void *ud);
/* Side i is the non-blocking socket fd (connected or still connecting: a
 * failed connect ends the relay as a reset). The relay owns fd from now
 * on. Returns WEFT_OK or WEFT_EFAIL (fd closed, the relay is reset). */
int weft_relay_set_sock(weft_relay_t *r, int i, int fd);
/* Side i is an external end (an HBONE stream). */
void weft_relay_set_ext(weft_relay_t *r, int i, const weft_relay_end_ops_t *ops, void *ctx);
/* Starts moving bytes (call once both sides are set). Bytes and EOF an
 * external end reports before this are kept and passed on then. */
void weft_relay_start(weft_relay_t *r);

/* Calls from an external end i: bytes arrived (always taken; the end's
 * own flow control bounds them: they are acknowledged through ops->consumed
 * as they are written on); the peer half-closed; the end can take more;
 * the end is gone (reset: by error/RST rather than after both EOFs). */
void weft_relay_push(weft_relay_t *r, int i, const void *p, size_t n);
void weft_relay_eof(weft_relay_t *r, int i);
void weft_relay_writable(weft_relay_t *r, int i);
void weft_relay_closed(weft_relay_t *r, int i, bool reset);

/* Ends the relay now: both sides reset (sockets with RST). on_done still
 * runs (how = WEFT_RELAY_ABORTED). */
void weft_relay_abort(weft_relay_t *r);

/* Releases what the relay still holds (sockets closed with FIN or RST as
 * decided, buffers). Call from on_done or to drop a relay that never
 * started. Safe to call twice. */
void weft_relay_release(weft_relay_t *r);

#endif
