/* weft — one-time join tokens. A token is "<id>.<secret>": id is 16 hex
 * digits naming the file <ca-dir>/tokens/<id>, secret is 64 hex digits of
 * which only the SHA-256 is stored. The file (mode 0600) holds three lines:
 *   node <name>
 *   sha256 <hex of SHA-256(secret)>
 *   expires <unix seconds>
 * Consuming claims the file with rename(<id>, <id>.used) — atomic, so two
 * attempts can never both succeed, even across restarts — then unlinks it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "weft/ca.h"
#include "weft/tls.h"

#define ID_HEX     16
#define SECRET_HEX 64

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static int sha256_hex(const char *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned int ml = 0;

	if (EVP_Digest(p, n, md, &ml, EVP_sha256(), NULL) != 1 || ml != 32)
		return -1;
	hex(md, 32, out);
	return 0;
}

int weft_ca_token_create(const char *ca_dir, const char *node, uint32_t ttl_s, time_t now,
			 char *out, size_t outlen, char *err, size_t errlen)
{
	uint8_t rid[ID_HEX / 2], rsec[SECRET_HEX / 2];
	char id[ID_HEX + 1], secret[SECRET_HEX + 1], h[65], dir[1200], path[1300], body[400];
	weft_spiffe_id_t chk;
	char uri[WEFT_SPIFFE_MAX];
	int n;

	/* a node name must make a valid node identity */
	if (!node || weft_spiffe_node(uri, sizeof(uri), "x", node) < 0 ||
	    weft_spiffe_parse(uri, strlen(uri), &chk) < 0) {
		snprintf(err, errlen, "'%s' is not a valid node name ([a-z0-9.-_], 1..253)", node ? node : "");
		return WEFT_EFAIL;
	}
	if (outlen < ID_HEX + 1 + SECRET_HEX + 1) {
		snprintf(err, errlen, "output too small");
		return WEFT_EFAIL;
	}
	if (RAND_bytes(rid, sizeof(rid)) != 1 || RAND_bytes(rsec, sizeof(rsec)) != 1) {
		snprintf(err, errlen, "no randomness");
		return WEFT_EFAIL;
	}
	hex(rid, sizeof(rid), id);
	hex(rsec, sizeof(rsec), secret);
	OPENSSL_cleanse(rsec, sizeof(rsec));
	if (sha256_hex(secret, SECRET_HEX, h) < 0) {
		snprintf(err, errlen, "SHA-256 failed");
		return WEFT_EFAIL;
	}
	snprintf(dir, sizeof(dir), "%s/%s", ca_dir, WEFT_CA_TOKENS);
	if ((mkdir(ca_dir, 0700) < 0 && errno != EEXIST) || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return WEFT_EFAIL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, id);
	n = snprintf(body, sizeof(body), "node %s\nsha256 %s\nexpires %lld\n", node, h,
		     (long long)now + ttl_s);
	if (n < 0 || (size_t)n >= sizeof(body) || weft_write_file_atomic(path, body, (size_t)n, 0600) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return WEFT_EFAIL;
	}
	snprintf(out, outlen, "%s.%s", id, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return WEFT_OK;
}

/* Reads and parses a token file. Returns 0 or -1. */
static int read_token(const char *path, char *node, size_t nodelen, char h[65], long long *expires)
{
	size_t len;
	char *buf = weft_read_file(path, 4096, &len), *line, *save = NULL;
	int got = 0;

	if (!buf)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "node ", 5) && strlen(line + 5) < nodelen) {
			snprintf(node, nodelen, "%s", line + 5);
			got |= 1;
		} else if (!strncmp(line, "sha256 ", 7) && strlen(line + 7) == 64) {
			memcpy(h, line + 7, 65);
			got |= 2;
		} else if (!strncmp(line, "expires ", 8)) {
			char *end;
			*expires = strtoll(line + 8, &end, 10);
			if (*end == '\0')
				got |= 4;
		}
	}
	free(buf);
	return got == 7 ? 0 : -1;
}

int weft_ca_token_consume(const char *ca_dir, const char *p, size_t len, const char *node,
			  time_t now, const char **why)
{
	char id[ID_HEX + 1], secret[SECRET_HEX + 1], path[1300], used[1320], fnode[WEFT_NAME_MAX];
	char want[65], got[65];
	long long expires = 0;
	int rc = WEFT_EFAIL;

	*why = "malformed_token";
	/* "<id>.<secret>" optionally followed by ".<pin-hex>" */
	if (!p || len < ID_HEX + 1 + SECRET_HEX || p[ID_HEX] != '.' || !all_hex(p, ID_HEX) ||
	    !all_hex(p + ID_HEX + 1, SECRET_HEX) ||
	    (len > ID_HEX + 1 + SECRET_HEX && p[ID_HEX + 1 + SECRET_HEX] != '.'))
		return WEFT_EPROTO;
	memcpy(id, p, ID_HEX);
	id[ID_HEX] = '\0';
	memcpy(secret, p + ID_HEX + 1, SECRET_HEX);
	secret[SECRET_HEX] = '\0';
	snprintf(path, sizeof(path), "%s/%s/%s", ca_dir, WEFT_CA_TOKENS, id);
	snprintf(used, sizeof(used), "%s.used", path);
	*why = "unknown_token";
	if (read_token(path, fnode, sizeof(fnode), want, &expires) < 0)
		goto out;
	if (expires <= (long long)now) {
		*why = "token_expired";
		unlink(path);
		goto out;
	}
	*why = "bad_secret";
	if (sha256_hex(secret, SECRET_HEX, got) < 0 || CRYPTO_memcmp(got, want, 64))
		goto out;
	*why = "token_wrong_node";
	if (!node || strcmp(node, fnode))
		goto out;
	/* the claim: only one rename of the file can succeed */
	*why = "unknown_token";
	if (rename(path, used) < 0)
		goto out;
	unlink(used);
	*why = "ok";
	rc = WEFT_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}
