/* weft — HBONE request parsing: the CONNECT :authority (an IP literal and a
 * port, nothing else) and the Forwarded header's for= (RFC 7239). Pure
 * functions over (ptr,len) strings; fuzzed by tests/fuzz/fuzz_authority.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include "weft/hbone.h"

/* Decimal port 1..65535, no sign, no leading zero. Returns the port or -1. */
static int parse_port(const char *p, size_t len)
{
	unsigned v = 0;

	if (len == 0 || len > 5 || p[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* An IPv4 (v6 false) or IPv6 literal (without brackets) into ss with port.
 * Returns WEFT_OK or WEFT_EPROTO. */
static int parse_ip(const char *p, size_t len, bool v6, int port, struct sockaddr_storage *ss,
		    socklen_t *sslen)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(tmp) || memchr(p, '\0', len))
		return WEFT_EPROTO;
	memcpy(tmp, p, len);
	tmp[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) != 1)
			return WEFT_EPROTO;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		/* inet_pton takes only dotted-quad decimal, no leading zeros */
		if (inet_pton(AF_INET, tmp, &s4->sin_addr) != 1)
			return WEFT_EPROTO;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*s4);
	}
	return WEFT_OK;
}

int weft_hbone_parse_authority(const char *p, size_t len, struct sockaddr_storage *ss,
			       socklen_t *sslen)
{
	const char *colon;
	int port;

	if (!p || len == 0 || len >= sizeof(((weft_hbone_req_t *)0)->authority))
		return WEFT_EPROTO;
	if (p[0] == '[') {
		const char *rb = memchr(p, ']', len);
		if (!rb || (size_t)(rb - p) + 1 >= len || rb[1] != ':')
			return WEFT_EPROTO;
		port = parse_port(rb + 2, len - (size_t)(rb - p) - 2);
		if (port < 0)
			return WEFT_EPROTO;
		return parse_ip(p + 1, (size_t)(rb - p) - 1, true, port, ss, sslen);
	}
	colon = memchr(p, ':', len);
	if (!colon)
		return WEFT_EPROTO;
	port = parse_port(colon + 1, len - (size_t)(colon - p) - 1);
	if (port < 0)
		return WEFT_EPROTO;
	return parse_ip(p, (size_t)(colon - p), false, port, ss, sslen);
}

/* ---- Forwarded (RFC 7239) ---- */

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* A node (the value of for=, unquoted): "1.2.3.4", "1.2.3.4:port",
 * "[v6]", "[v6]:port". port is digits (0..65535) or an obfuscated
 * "_name" and is ignored. Returns WEFT_OK with ss set, or WEFT_EPROTO
 * ("unknown", "_obfuscated", anything else). */
static int parse_node(const char *p, size_t len, struct sockaddr_storage *ss, socklen_t *sslen)
{
	const char *host = p, *port = NULL;
	size_t hlen = len, plen = 0;
	bool v6 = false;

	if (len && p[0] == '[') {
		const char *rb = memchr(p, ']', len);
		if (!rb)
			return WEFT_EPROTO;
		host = p + 1;
		hlen = (size_t)(rb - p) - 1;
		v6 = true;
		if ((size_t)(rb - p) + 1 < len) {
			if (rb[1] != ':')
				return WEFT_EPROTO;
			port = rb + 2;
			plen = len - (size_t)(rb - p) - 2;
		}
	} else {
		const char *colon = memchr(p, ':', len);
		if (colon) {
			hlen = (size_t)(colon - p);
			port = colon + 1;
			plen = len - hlen - 1;
		}
	}
	if (port) {
		if (plen == 0)
			return WEFT_EPROTO;
		if (port[0] == '_') {
			for (size_t i = 1; i < plen; i++) {
				char c = port[i];
				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
					return WEFT_EPROTO;
			}
			if (plen == 1)
				return WEFT_EPROTO;
		} else {
			unsigned v = 0;
			if (plen > 5)
				return WEFT_EPROTO;
			for (size_t i = 0; i < plen; i++) {
				if (port[i] < '0' || port[i] > '9')
					return WEFT_EPROTO;
				v = v * 10 + (unsigned)(port[i] - '0');
			}
			if (v > 65535)
				return WEFT_EPROTO;
		}
	}
	return parse_ip(host, hlen, v6, 0, ss, sslen);
}

int weft_hbone_parse_forwarded(const char *p, size_t len, struct sockaddr_storage *ss,
			       socklen_t *sslen)
{
	size_t i = 0;
	int elem = 0;
	bool have_for = false, for_ok = false;
	char val[128];

	if (!p)
		return WEFT_EPROTO;
	for (;;) {
		/* one element: [pair] *( ";" [pair] ), then "," or the end */
		bool seen_for = false;
		while (i < len && is_ows(p[i]))
			i++;
		for (;;) {
			size_t ns, nl, vl = 0;
			bool quoted = false;
			while (i < len && is_ows(p[i]))
				i++;
			if (i < len && p[i] != ';' && p[i] != ',') {
				ns = i;
				while (i < len && is_tchar((unsigned char)p[i]))
					i++;
				nl = i - ns;
				if (nl == 0 || i >= len || p[i] != '=')
					return WEFT_EPROTO;
				i++;
				if (i < len && p[i] == '"') {
					quoted = true;
					i++;
					for (;;) {
						unsigned char c;
						if (i >= len)
							return WEFT_EPROTO;   /* unterminated */
						c = (unsigned char)p[i];
						if (c == '"')
							break;
						if (c == '\\') {
							if (++i >= len)
								return WEFT_EPROTO;
							c = (unsigned char)p[i];
						}
						if ((c < 0x20 && c != '\t') || c == 0x7f)
							return WEFT_EPROTO;
						if (vl < sizeof(val))
							val[vl] = (char)c;
						vl++;
						i++;
					}
					i++;   /* closing quote */
				} else {
					while (i < len && is_tchar((unsigned char)p[i])) {
						if (vl < sizeof(val))
							val[vl] = p[i];
						vl++;
						i++;
					}
					if (vl == 0)
						return WEFT_EPROTO;
				}
				if (nl == 3 && strncasecmp(p + ns, "for", 3) == 0) {
					if (seen_for)
						return WEFT_EPROTO;   /* a parameter at most once per element */
					seen_for = true;
					if (elem == 0) {
						have_for = true;
						for_ok = vl < sizeof(val) &&
							 parse_node(val, vl, ss, sslen) == WEFT_OK;
					}
				}
				(void)quoted;
			}
			while (i < len && is_ows(p[i]))
				i++;
			if (i < len && p[i] == ';') {
				i++;
				continue;
			}
			break;
		}
		if (i >= len)
			break;
		if (p[i] != ',')
			return WEFT_EPROTO;   /* trailing garbage */
		i++;
		elem++;
	}
	return have_for && for_ok ? WEFT_OK : WEFT_EPROTO;
}
