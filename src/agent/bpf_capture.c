/* weft — the eBPF capture backend: loading bpf/capture.bpf.c through its
 * skeleton, pinning, per-workload links and map entries, and the original
 * destination lookup. See weft/bpfcap.h (the contract) and the comment at
 * the top of bpf/capture.bpf.c (what the programs do).
 *
 * Pinned in the agent's pin directory (default /sys/fs/bpf/weft/<node>):
 *   map_<name>           every map (reused by the next agent: same state)
 *   prog_<name>          every program
 *   wl/<ns>_<name>/      one directory per captured workload, holding its
 *                        links: connect4, connect6, sockops (its cgroup),
 *                        sk_lookup (its netns)
 * A link pinned there keeps its program attached while no agent runs; a
 * restarted agent loads its programs, reuses the pinned maps (libbpf's pin
 * reuse), adopts each pinned link and switches it to the new program
 * (BPF_LINK_UPDATE). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "weft/bpfcap.h"
#include "weft/log.h"
#include "weft/rc.h"
#include "capture.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif
#define BPF_FS_MAGIC_ 0xcafe4a11
#define NLINK 4

static const char *const link_names[NLINK] = { "connect4", "connect6", "sockops", "sk_lookup" };

typedef struct bwl {
	struct bwl *next;
	char *key;
	uint32_t id;
	uint64_t cgid;               /* 0: none */
	size_t naddrs, nin;
	struct weft_bpf_addr *addrs;
	struct weft_bpf_inkey *in;
	struct bpf_link *links[NLINK];
} bwl_t;

struct weft_bpfcap {
	struct weft_capture_bpf *skel;
	char dir[256];               /* <root>/<node> */
	struct weft_bpf_cfg cfg;
	uint32_t next_id;
	bwl_t *wls;
	size_t nnode;
	struct weft_bpf_addr node[8];  /* the node's addresses (WEFT_BPF_ADDR_NODE) */
};

static int libbpf_log(enum libbpf_print_level lvl, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (lvl == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = 0;
	weft_debug("bpf", "libbpf: %s", line);
	return 0;
}

int weft_bpfcap_key(char *out, size_t outlen, const char *ns, const char *name)
{
	int n = snprintf(out, outlen, "%s_%s", ns, name);

	if (n < 0 || (size_t)n >= outlen)
		return WEFT_ELIMIT;
	for (int i = 0; i < n; i++) {
		char c = out[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			out[i] = '-';
	}
	if (!strcmp(out, ".") || !strcmp(out, ".."))
		out[0] = '-';
	return WEFT_OK;
}

uint64_t weft_bpfcap_cgroup_id(const char *path)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	int mnt;
	struct stat st;

	h.fh.handle_bytes = sizeof(uint64_t);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mnt, 0) == 0 && h.fh.handle_bytes == 8) {
		uint64_t id;
		memcpy(&id, h.fh.f_handle, 8);
		return id;
	}
	if (stat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return 0;
	}
	return (uint64_t)st.st_ino;
}

static int mkdir_p(const char *path)
{
	char tmp[300];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == 0) {
			char c = tmp[i];
			tmp[i] = 0;
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return -1;
			tmp[i] = c;
		}
	}
	return 0;
}

/* bpffs at /sys/fs/bpf: mounted when nothing of type bpf is there. */
static int ensure_bpffs(const char *root, char *err, size_t errlen)
{
	struct statfs sf;

	if (strncmp(root, "/sys/fs/bpf", 11))
		return WEFT_OK;   /* a custom root: the caller's business */
	if (statfs("/sys/fs/bpf", &sf) == 0 && (unsigned long)sf.f_type == BPF_FS_MAGIC_)
		return WEFT_OK;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0) {
		snprintf(err, errlen, "mount bpffs at /sys/fs/bpf: %s", strerror(errno));
		return WEFT_EFAIL;
	}
	weft_info("capture", "mounted bpffs at /sys/fs/bpf");
	return WEFT_OK;
}

/* Unpins (and detaches) every link in a workload directory, removes it. */
static int remove_wl_dir(const char *dir)
{
	int rc = WEFT_OK;
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[600];

	if (!d)
		return errno == ENOENT ? WEFT_OK : WEFT_EFAIL;
	while ((de = readdir(d))) {
		int fd;
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(p);
		if (fd >= 0) {
			bpf_link_detach(fd);   /* cuts it even if someone else holds it */
			close(fd);
		}
		if (unlink(p) < 0)
			rc = WEFT_EFAIL;
	}
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		rc = WEFT_EFAIL;
	return rc;
}

int weft_bpfcap_remove_all(const char *top)
{
	char dir[300], p[600];
	DIR *d;
	struct dirent *de;
	int rc = WEFT_OK;

	snprintf(dir, sizeof(dir), "%s/wl", top);
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (remove_wl_dir(p) < 0)
				rc = WEFT_EFAIL;
		}
		closedir(d);
		rmdir(dir);
	}
	snprintf(dir, sizeof(dir), "%s", top);
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (unlink(p) < 0)
				rc = WEFT_EFAIL;
		}
		closedir(d);
		if (rmdir(dir) < 0)
			rc = WEFT_EFAIL;
	} else if (errno != ENOENT) {
		rc = WEFT_EFAIL;
	}
	return rc;
}

static struct bpf_program *prog_of(struct weft_bpfcap *b, int i)
{
	switch (i) {
	case 0: return b->skel->progs.weft_connect4;
	case 1: return b->skel->progs.weft_connect6;
	case 2: return b->skel->progs.weft_sockops;
	default: return b->skel->progs.weft_sk_lookup;
	}
}

static void write_cfg(struct weft_bpfcap *b)
{
	uint32_t k = 0;

	bpf_map__update_elem(b->skel->maps.cfg, &k, sizeof(k), &b->cfg, sizeof(b->cfg), BPF_ANY);
}

/* open + set pin paths + load. */
static int load(struct weft_bpfcap *b, char *err, size_t errlen)
{
	struct bpf_map *m;
	char p[400];
	int e;

	b->skel = weft_capture_bpf__open();
	if (!b->skel) {
		snprintf(err, errlen, "open programs: %s", strerror(errno));
		return WEFT_EFAIL;
	}
	bpf_object__for_each_map(m, b->skel->obj) {
		snprintf(p, sizeof(p), "%s/map_%s", b->dir, bpf_map__name(m));
		bpf_map__set_pin_path(m, p);
	}
	if ((e = weft_capture_bpf__load(b->skel)) < 0) {
		snprintf(err, errlen, "load programs: %s", strerror(-e));
		weft_capture_bpf__destroy(b->skel);
		b->skel = NULL;
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

struct weft_bpfcap *weft_bpfcap_open(const weft_bpfcap_opts_t *o, char *err, size_t errlen)
{
	struct weft_bpfcap *b;
	struct bpf_program *pg;
	char p[400];

	if (!o->dir || o->dir[0] != '/' || strlen(o->dir) > 200) {
		snprintf(err, errlen, "bad pin directory (an absolute path of at most 200 bytes)");
		return NULL;
	}
	libbpf_set_print(libbpf_log);
	if (ensure_bpffs(o->dir, err, errlen) < 0)
		return NULL;
	if (!(b = calloc(1, sizeof(*b)))) {
		snprintf(err, errlen, "no memory");
		return NULL;
	}
	snprintf(b->dir, sizeof(b->dir), "%s", o->dir);
	if (mkdir_p(b->dir) < 0) {
		snprintf(err, errlen, "mkdir %s: %s", b->dir, strerror(errno));
		free(b);
		return NULL;
	}
	if (load(b, err, errlen) < 0) {
		/* pinned maps of an incompatible (older) layout: start over */
		weft_warn("capture", "ebpf: %s; removing what is pinned under %s and retrying", err, b->dir);
		weft_bpfcap_remove_all(b->dir);
		if (mkdir_p(b->dir) < 0 || load(b, err, errlen) < 0) {
			weft_bpfcap_remove_all(b->dir);
			free(b);
			return NULL;
		}
	}
	bpf_object__for_each_program(pg, b->skel->obj) {
		snprintf(p, sizeof(p), "%s/prog_%s", b->dir, bpf_program__name(pg));
		unlink(p);
		if (bpf_program__pin(pg, p) < 0)
			weft_warn("capture", "ebpf: pin %s: %s", p, strerror(errno));
	}
	b->cfg.fail_open = o->fail_open ? 1 : 0;
	b->cfg.hbone_port = o->hbone_port;
	for (size_t i = 0; i < o->nports && i < WEFT_BPF_MAX_AGENT_PORTS; i++)
		b->cfg.agent_ports[b->cfg.nports++] = o->agent_ports[i];
	b->next_id = 1;
	weft_bpfcap_heartbeat(b);
	return b;
}

static void bwl_free(bwl_t *w)
{
	for (int i = 0; i < NLINK; i++)
		if (w->links[i])
			bpf_link__destroy(w->links[i]);   /* our fd only: the pin keeps it */
	free(w->key);
	free(w->addrs);
	free(w->in);
	free(w);
}

void weft_bpfcap_close(struct weft_bpfcap *b)
{
	if (!b)
		return;
	while (b->wls) {
		bwl_t *w = b->wls;
		b->wls = w->next;
		bwl_free(w);
	}
	if (b->skel)
		weft_capture_bpf__destroy(b->skel);
	free(b);
}

void weft_bpfcap_heartbeat(struct weft_bpfcap *b)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	b->cfg.heartbeat_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	write_cfg(b);
}

static bwl_t *find_wl(struct weft_bpfcap *b, const char *key)
{
	for (bwl_t *w = b->wls; w; w = w->next)
		if (!strcmp(w->key, key))
			return w;
	return NULL;
}

/* Deletes w's map entries. */
static void del_entries(struct weft_bpfcap *b, bwl_t *w)
{
	if (w->cgid)
		bpf_map__delete_elem(b->skel->maps.wl_cgroups, &w->cgid, sizeof(w->cgid), 0);
	for (size_t i = 0; i < w->naddrs; i++)
		bpf_map__delete_elem(b->skel->maps.local_addrs, &w->addrs[i], sizeof(w->addrs[i]), 0);
	for (size_t i = 0; i < w->nin; i++)
		bpf_map__delete_elem(b->skel->maps.in_match, &w->in[i], sizeof(w->in[i]), 0);
	for (uint32_t s = w->id * 2; s <= w->id * 2 + 1; s++)
		bpf_map__delete_elem(b->skel->maps.in_socks, &s, sizeof(s), 0);
}

/* Whether the pinned link fd still points at target (a cgroup id or a
 * netns inode). */
static bool link_matches(int fd, int i, uint64_t cgid, uint64_t ns_ino)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return false;
	if (i < 3)
		return info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cgid;
	return info.type == BPF_LINK_TYPE_NETNS && info.netns.netns_ino == ns_ino;
}

/* Link i of w: adopt the pinned one (switched to our program) or attach
 * and pin a new one. target_fd: the cgroup or netns fd. */
static int ensure_link(struct weft_bpfcap *b, bwl_t *w, const char *dir, int i, int target_fd,
		       uint64_t cgid, uint64_t ns_ino, char *err, size_t errlen)
{
	char p[600];
	struct bpf_link *l;

	snprintf(p, sizeof(p), "%s/%s", dir, link_names[i]);
	if (w->links[i])
		return WEFT_OK;
	if ((l = bpf_link__open(p)) != NULL) {
		if (link_matches(bpf_link__fd(l), i, cgid, ns_ino) &&
		    bpf_link__update_program(l, prog_of(b, i)) == 0) {
			w->links[i] = l;
			return WEFT_OK;
		}
		/* stale (another cgroup/netns, or not updatable): replace */
		bpf_link__detach(l);
		bpf_link__destroy(l);
		unlink(p);
	}
	if (i < 3)
		l = bpf_program__attach_cgroup(prog_of(b, i), target_fd);
	else
		l = bpf_program__attach_netns(prog_of(b, i), target_fd);
	if (!l) {
		snprintf(err, errlen, "attach %s: %s", link_names[i], strerror(errno));
		return WEFT_EFAIL;
	}
	if (bpf_link__pin(l, p) < 0) {
		snprintf(err, errlen, "pin %s: %s", p, strerror(errno));
		bpf_link__destroy(l);
		return WEFT_EFAIL;
	}
	w->links[i] = l;
	return WEFT_OK;
}

static void unlink_wl(struct weft_bpfcap *b, bwl_t *w)
{
	for (bwl_t **pp = &b->wls; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

int weft_bpfcap_attach(struct weft_bpfcap *b, const weft_bpfcap_wl_t *wl, char *err, size_t errlen)
{
	bwl_t *w = find_wl(b, wl->key);
	bool fresh = !w;
	char dir[400];
	struct weft_bpf_wl v;
	uint64_t cgid = 0, ns_ino = 0;
	struct stat st;
	int cgfd = -1, nsfd = wl->netns_fd, ownns = -1;
	int rc = WEFT_EFAIL;

	if (!wl->key[0] || strchr(wl->key, '/')) {
		snprintf(err, errlen, "bad workload key '%s'", wl->key);
		return WEFT_EFAIL;
	}
	if (wl->cgroup && wl->cgroup[0]) {
		if (!(cgid = weft_bpfcap_cgroup_id(wl->cgroup)) ||
		    (cgfd = open(wl->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "cgroup %s: %s", wl->cgroup, strerror(errno));
			return WEFT_EFAIL;
		}
	}
	if (nsfd < 0) {
		if ((ownns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(err, errlen, "own netns: %s", strerror(errno));
			goto out;
		}
		nsfd = ownns;
	}
	if (fstat(nsfd, &st) == 0)
		ns_ino = st.st_ino;
	if (fresh) {
		if (!(w = calloc(1, sizeof(*w))) || !(w->key = strdup(wl->key))) {
			free(w);
			w = NULL;
			snprintf(err, errlen, "no memory");
			goto out;
		}
		w->id = b->next_id++;
		w->next = b->wls;
		b->wls = w;
	}
	/* map entries first (a fresh link must find its workload) */
	if (w->cgid && w->cgid != cgid)
		bpf_map__delete_elem(b->skel->maps.wl_cgroups, &w->cgid, sizeof(w->cgid), 0);
	for (size_t i = 0; i < w->nin; i++)
		bpf_map__delete_elem(b->skel->maps.in_match, &w->in[i], sizeof(w->in[i]), 0);
	for (size_t i = 0; i < w->naddrs; i++)
		bpf_map__delete_elem(b->skel->maps.local_addrs, &w->addrs[i], sizeof(w->addrs[i]), 0);
	free(w->addrs);
	free(w->in);
	w->naddrs = w->nin = 0;
	w->cgid = cgid;
	w->addrs = calloc(wl->naddrs ? wl->naddrs : 1, sizeof(*w->addrs));
	w->in = calloc((wl->naddrs ? wl->naddrs : 1) * (wl->nports ? wl->nports : 1), sizeof(*w->in));
	if (!w->addrs || !w->in) {
		snprintf(err, errlen, "no memory");
		goto out;
	}
	for (size_t i = 0; i < wl->naddrs; i++) {
		struct weft_bpf_addrval av = { .id = w->id, .flags = WEFT_BPF_ADDR_WL };
		if (!wl->host) {
			/* a host workload's addresses are the node's (set_node_addrs) */
			memcpy(w->addrs[w->naddrs].ip, wl->addrs[i], 16);
			bpf_map__update_elem(b->skel->maps.local_addrs, &w->addrs[w->naddrs],
					     sizeof(w->addrs[0]), &av, sizeof(av), BPF_ANY);
			w->naddrs++;
		}
		for (size_t j = 0; j < (wl->nports ? wl->nports : 1) && (wl->nports || !wl->host); j++) {
			struct weft_bpf_inkey *k = &w->in[w->nin];
			struct weft_bpf_inval iv = { .id = w->id, .flags = wl->host ? WEFT_BPF_WL_HOST : 0 };
			memset(k, 0, sizeof(*k));
			memcpy(k->ip, wl->addrs[i], 16);
			k->port = wl->nports ? wl->ports[j] : 0;
			if (bpf_map__update_elem(b->skel->maps.in_match, k, sizeof(*k), &iv, sizeof(iv),
						 BPF_ANY) < 0) {
				snprintf(err, errlen, "in_match: %s", strerror(errno));
				goto out;
			}
			w->nin++;
		}
	}
	for (int f = 0; f < 2; f++) {
		int lfd = f ? wl->in6_fd : wl->in4_fd;
		uint32_t s = w->id * 2 + (uint32_t)f;
		uint64_t fdv = (uint64_t)lfd;
		if (lfd < 0) {
			bpf_map__delete_elem(b->skel->maps.in_socks, &s, sizeof(s), 0);
			continue;
		}
		if (bpf_map__update_elem(b->skel->maps.in_socks, &s, sizeof(s), &fdv, sizeof(fdv), BPF_ANY) < 0) {
			snprintf(err, errlen, "in_socks: %s", strerror(errno));
			goto out;
		}
	}
	if (cgid) {
		memset(&v, 0, sizeof(v));
		v.id = w->id;
		v.flags = wl->host ? WEFT_BPF_WL_HOST : 0;
		memcpy(v.out_ip, wl->out_ip, 16);
		memcpy(v.out_ip6, wl->out_ip6, 16);
		v.out_port = wl->out_port;
		if (bpf_map__update_elem(b->skel->maps.wl_cgroups, &cgid, sizeof(cgid), &v, sizeof(v), BPF_ANY) < 0) {
			snprintf(err, errlen, "wl_cgroups: %s", strerror(errno));
			goto out;
		}
	}
	snprintf(dir, sizeof(dir), "%s/wl/%s", b->dir, wl->key);
	if (mkdir_p(dir) < 0) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < NLINK; i++) {
		if (i < 3 && cgfd < 0)
			continue;
		if (i == 3 && !w->nin)
			continue;
		if (ensure_link(b, w, dir, i, i < 3 ? cgfd : nsfd, cgid, ns_ino, err, errlen) < 0)
			goto out;
	}
	rc = WEFT_OK;
out:
	if (rc != WEFT_OK && w && fresh) {
		/* leave nothing half-attached behind */
		unlink_wl(b, w);
		del_entries(b, w);
		snprintf(dir, sizeof(dir), "%s/wl/%s", b->dir, wl->key);
		for (int i = 0; i < NLINK; i++)
			if (w->links[i])
				bpf_link__detach(w->links[i]);
		remove_wl_dir(dir);
		bwl_free(w);
	}
	if (cgfd >= 0)
		close(cgfd);
	if (ownns >= 0)
		close(ownns);
	return rc;
}

int weft_bpfcap_detach(struct weft_bpfcap *b, const char *key, char *err, size_t errlen)
{
	bwl_t *w = find_wl(b, key);
	char dir[400];

	if (w) {
		unlink_wl(b, w);
		del_entries(b, w);
		for (int i = 0; i < NLINK; i++)
			if (w->links[i])
				bpf_link__detach(w->links[i]);
		bwl_free(w);
	}
	snprintf(dir, sizeof(dir), "%s/wl/%s", b->dir, key);
	if (remove_wl_dir(dir) < 0) {
		snprintf(err, errlen, "remove %s: %s", dir, strerror(errno));
		return WEFT_EFAIL;
	}
	return WEFT_OK;
}

static bool id_live(struct weft_bpfcap *b, uint32_t id)
{
	for (bwl_t *w = b->wls; w; w = w->next)
		if (w->id == id)
			return true;
	return false;
}

static bool addr_live(struct weft_bpfcap *b, const struct weft_bpf_addr *a)
{
	for (size_t i = 0; i < b->nnode; i++)
		if (!memcmp(&b->node[i], a, sizeof(*a)))
			return true;
	for (bwl_t *w = b->wls; w; w = w->next)
		for (size_t i = 0; i < w->naddrs; i++)
			if (!memcmp(&w->addrs[i], a, sizeof(*a)))
				return true;
	return false;
}

int weft_bpfcap_prune(struct weft_bpfcap *b, bool (*keep)(void *ud, const char *key), void *ud)
{
	char dir[400], p[700], err[256];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/wl", b->dir);
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || keep(ud, de->d_name))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			if (find_wl(b, de->d_name))
				weft_bpfcap_detach(b, de->d_name, err, sizeof(err));
			else
				remove_wl_dir(p);
			weft_info("capture", "ebpf: %s: links detached and unpinned", de->d_name);
			n++;
		}
		closedir(d);
	}
	/* map entries no attached workload owns (an earlier agent's) */
	{
		uint64_t k, nk;
		struct weft_bpf_wl v;
		void *prev = NULL;
		while (bpf_map__get_next_key(b->skel->maps.wl_cgroups, prev, &nk, sizeof(nk)) == 0) {
			k = nk;
			prev = &k;
			if (bpf_map__lookup_elem(b->skel->maps.wl_cgroups, &k, sizeof(k), &v, sizeof(v), 0) == 0 &&
			    !id_live(b, v.id)) {
				bpf_map__delete_elem(b->skel->maps.wl_cgroups, &k, sizeof(k), 0);
				prev = NULL;   /* restart: the key is gone */
			}
		}
	}
	{
		struct weft_bpf_inkey k, nk;
		struct weft_bpf_inval v;
		void *prev = NULL;
		while (bpf_map__get_next_key(b->skel->maps.in_match, prev, &nk, sizeof(nk)) == 0) {
			k = nk;
			prev = &k;
			if (bpf_map__lookup_elem(b->skel->maps.in_match, &k, sizeof(k), &v, sizeof(v), 0) == 0 &&
			    !id_live(b, v.id)) {
				bpf_map__delete_elem(b->skel->maps.in_match, &k, sizeof(k), 0);
				prev = NULL;
			}
		}
	}
	{
		struct weft_bpf_addr k, nk;
		void *prev = NULL;
		while (bpf_map__get_next_key(b->skel->maps.local_addrs, prev, &nk, sizeof(nk)) == 0) {
			k = nk;
			prev = &k;
			if (!addr_live(b, &k)) {
				bpf_map__delete_elem(b->skel->maps.local_addrs, &k, sizeof(k), 0);
				prev = NULL;
			}
		}
	}
	return n;
}

void weft_bpfcap_set_node_addrs(struct weft_bpfcap *b, const uint8_t (*addrs)[16], size_t n)
{
	struct weft_bpf_addrval av = { .id = 0, .flags = WEFT_BPF_ADDR_NODE };
	bool same = n == b->nnode;

	for (size_t i = 0; same && i < n; i++)
		same = !memcmp(b->node[i].ip, addrs[i], 16);
	if (same)
		return;
	for (size_t i = 0; i < b->nnode; i++)
		bpf_map__delete_elem(b->skel->maps.local_addrs, &b->node[i], sizeof(b->node[i]), 0);
	b->nnode = 0;
	for (size_t i = 0; i < n && b->nnode < sizeof(b->node) / sizeof(b->node[0]); i++) {
		memcpy(b->node[b->nnode].ip, addrs[i], 16);
		bpf_map__update_elem(b->skel->maps.local_addrs, &b->node[b->nnode], sizeof(b->node[0]), &av,
				     sizeof(av), BPF_ANY);
		b->nnode++;
	}
}

int weft_bpfcap_original_dst(struct weft_bpfcap *b, int fd, struct sockaddr_storage *ss,
			     socklen_t *sslen, uint64_t *cgroup_id)
{
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	struct weft_bpf_tuple t;
	struct weft_bpf_orig o;
	socklen_t cl = sizeof(t.netns);
	static const uint8_t v4m[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(&t, 0, sizeof(t));
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &t.netns, &cl) < 0)
		return WEFT_EFAIL;
	if (peer.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&peer;
		memcpy(t.ip, v4m, 12);
		memcpy(t.ip + 12, &s4->sin_addr, 4);
		t.port = ntohs(s4->sin_port);
	} else if (peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&peer;
		memcpy(t.ip, &s6->sin6_addr, 16);
		t.port = ntohs(s6->sin6_port);
	} else {
		return WEFT_EFAIL;
	}
	if (bpf_map__lookup_and_delete_elem(b->skel->maps.orig_by_tuple, &t, sizeof(t), &o, sizeof(o), 0) < 0 &&
	    (bpf_map__lookup_elem(b->skel->maps.orig_by_tuple, &t, sizeof(t), &o, sizeof(o), 0) < 0 ||
	     bpf_map__delete_elem(b->skel->maps.orig_by_tuple, &t, sizeof(t), 0) < 0))
		return WEFT_EFAIL;
	memset(ss, 0, sizeof(*ss));
	if (!memcmp(o.ip, v4m, 12)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, o.ip + 12, 4);
		s4->sin_port = htons(o.port);
		*sslen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, o.ip, 16);
		s6->sin6_port = htons(o.port);
		*sslen = sizeof(*s6);
	}
	if (cgroup_id)
		*cgroup_id = o.cgroup_id;
	return WEFT_OK;
}
