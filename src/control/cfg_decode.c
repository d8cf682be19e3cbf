/* weft — the schema-driven decoder: field tables and value parsers shared
 * by every kind (src/control/kind_*.c). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/arena.h"
#include "weft/cfgdec.h"
#include "weft/config.h"
#include "weft/str.h"
#include "weft/yaml.h"

void weft_dec_err(weft_dec_t *d, unsigned line, const char *path, const char *fmt, ...)
{
	char buf[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	weft_cfg_error_add(d->errs, d->file, line, path, "%s", buf);
}

const char *weft_dec_path(weft_dec_t *d, const char *parent, const char *field)
{
	const char *p;

	if (!parent || !parent[0])
		return field;
	p = weft_arena_printf(d->ta, "%s.%s", parent, field);
	return p ? p : field;
}

const char *weft_dec_idx(weft_dec_t *d, const char *parent, size_t i)
{
	const char *p = weft_arena_printf(d->ta, "%s[%zu]", parent ? parent : "", i);

	return p ? p : parent;
}

weft_loc_t weft_dec_loc(const weft_dec_t *d, const weft_yaml_node_t *n)
{
	return (weft_loc_t){ d->file, n ? n->line : 0 };
}

void *weft_dec_array(weft_dec_t *d, size_t n, size_t size, bool *failed)
{
	void *p;

	if (!n)
		return NULL;
	p = weft_arena_calloc(d->ma, n, size);
	if (!p) {
		weft_cfg_error_add(d->errs, d->file, 0, "", "out of memory");
		*failed = true;
	}
	return p;
}

/* ---- value parsers ---- */

int weft_parse_duration(weft_str_t s, uint64_t *ms)
{
	/* unit ranks: h=0, m=1, s=2, ms=3; each must be larger than the last */
	static const uint64_t mult[] = { 3600000, 60000, 1000, 1 };
	uint64_t total = 0;
	int last = -1, parts = 0;
	size_t i = 0;

	if (s.len == 0)
		return -1;
	while (i < s.len) {
		uint64_t v = 0;
		size_t digits = 0;
		int rank;

		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && digits < 6) {
			v = v * 10 + (uint64_t)(s.p[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || digits > 5 || i >= s.len)
			return -1;
		if (s.p[i] == 'h') {
			rank = 0;
			i++;
		} else if (s.p[i] == 'm' && i + 1 < s.len && s.p[i + 1] == 's') {
			rank = 3;
			i += 2;
		} else if (s.p[i] == 'm') {
			rank = 1;
			i++;
		} else if (s.p[i] == 's') {
			rank = 2;
			i++;
		} else {
			return -1;
		}
		if (rank <= last || ++parts > 4)
			return -1;
		last = rank;
		total += v * mult[rank];
	}
	*ms = total;
	return 0;
}

int weft_parse_percent(weft_str_t s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0;
	size_t i = 0, nd = 0, nf = 0;

	while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && nd < 4) {
		whole = whole * 10 + (uint64_t)(s.p[i] - '0');
		i++;
		nd++;
	}
	if (nd == 0)
		return -1;
	if (i < s.len && s.p[i] == '.') {
		i++;
		while (i < s.len && s.p[i] >= '0' && s.p[i] <= '9' && nf < 5) {
			frac = frac * 10 + (uint64_t)(s.p[i] - '0');
			i++;
			nf++;
		}
		if (nf == 0 || nf > 4)
			return -1;
	}
	if (i != s.len)
		return -1;
	for (; nf < 4; nf++)
		frac *= 10;
	/* 1% = 10000 ppm; 4 decimals = 1 ppm */
	whole = whole * 10000 + frac;
	if (whole > 1000000)
		return -1;
	*ppm = (uint32_t)whole;
	return 0;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool weft_is_dns_label(weft_str_t s)
{
	if (s.len == 0 || s.len > 63 || !is_lower_alnum(s.p[0]) || !is_lower_alnum(s.p[s.len - 1]))
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_lower_alnum(s.p[i]) && s.p[i] != '-')
			return false;
	return true;
}

bool weft_is_hostname(weft_str_t s)
{
	size_t start = 0;

	if (s.len >= 2 && s.p[0] == '*' && s.p[1] == '.') {
		s.p += 2;
		s.len -= 2;
	}
	if (s.len == 0 || s.len > 253)
		return false;
	for (size_t i = 0; i <= s.len; i++) {
		if (i == s.len || s.p[i] == '.') {
			if (!weft_is_dns_label(weft_str(s.p + start, i - start)))
				return false;
			start = i + 1;
		}
	}
	return true;
}

bool weft_is_ip(weft_str_t s)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];

	if (s.len == 0 || s.len >= sizeof(buf))
		return false;
	memcpy(buf, s.p, s.len);
	buf[s.len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1 || inet_pton(AF_INET6, buf, addr) == 1;
}

/* ---- field tables ---- */

static void store_uint(void *p, size_t size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: *(uint16_t *)p = (uint16_t)v; break;
	case 4: *(uint32_t *)p = (uint32_t)v; break;
	case 8: *(uint64_t *)p = v; break;
	default: break;
	}
}

static const char *expected_name(weft_ftype_t t)
{
	switch (t) {
	case WEFT_F_UINT: return "an integer";
	case WEFT_F_BOOL: return "true or false";
	case WEFT_F_DURATION: return "a duration such as 10s, 1m30s or 250ms";
	case WEFT_F_PERCENT: return "a percentage (0..100, up to 4 decimals)";
	case WEFT_F_MAP: return "a mapping";
	case WEFT_F_SEQ: return "a list";
	default: return "a string";
	}
}

/* Lists the field names of a table, for "unknown field" messages. */
static const char *field_names(weft_dec_t *d, const weft_field_t *f, size_t nf)
{
	size_t len = 1;
	char *s, *w;

	for (size_t i = 0; i < nf; i++)
		len += strlen(f[i].name) + 2;
	s = weft_arena_alloc(d->ta, len);
	if (!s)
		return "";
	w = s;
	for (size_t i = 0; i < nf; i++)
		w += sprintf(w, "%s%s", i ? ", " : "", f[i].name);
	return s;
}

static const char *enum_names(weft_dec_t *d, const weft_enum_t *e)
{
	size_t len = 1;
	char *s, *w;

	for (size_t i = 0; e[i].name; i++)
		len += strlen(e[i].name) + 2;
	s = weft_arena_alloc(d->ta, len);
	if (!s)
		return "";
	w = s;
	for (size_t i = 0; e[i].name; i++)
		w += sprintf(w, "%s%s", i ? ", " : "", e[i].name);
	return s;
}

/* Converts one present value v of field f and stores it. Returns 0 or -1. */
static int dec_value(weft_dec_t *d, const weft_field_t *f, const weft_yaml_node_t *v,
		     const char *path, void *dst)
{
	void *at = dst && f->size ? (char *)dst + f->off : NULL;
	bool scalar = f->type != WEFT_F_MAP && f->type != WEFT_F_SEQ;

	if (f->type == WEFT_F_MAP && v->type != WEFT_YAML_MAP)
		goto wrong_type;
	if (f->type == WEFT_F_SEQ && v->type != WEFT_YAML_SEQ)
		goto wrong_type;
	if (!scalar)
		return 0;
	if (v->type != WEFT_YAML_SCALAR)
		goto wrong_type;

	switch (f->type) {
	case WEFT_F_STR:
	case WEFT_F_NAME:
	case WEFT_F_HOST:
	case WEFT_F_IP:
	case WEFT_F_PATH: {
		weft_str_t s = v->str;
		if ((f->flags & WEFT_FF_REQUIRED) && s.len == 0) {
			weft_dec_err(d, v->line, path, "must not be empty");
			return -1;
		}
		if (s.len && f->type == WEFT_F_NAME && !weft_is_dns_label(s)) {
			weft_dec_err(d, v->line, path, "\"%s\" is not a valid name (lowercase letters, digits and '-', "
				     "starting and ending with a letter or digit, at most 63 characters)", s.p);
			return -1;
		}
		if (s.len && f->type == WEFT_F_HOST && !weft_is_hostname(s)) {
			weft_dec_err(d, v->line, path, "\"%s\" is not a valid host name", s.p);
			return -1;
		}
		if (s.len && f->type == WEFT_F_IP && !weft_is_ip(s)) {
			weft_dec_err(d, v->line, path, "\"%s\" is not an IPv4 or IPv6 address", s.p);
			return -1;
		}
		if (s.len && f->type == WEFT_F_PATH && s.p[0] != '/') {
			weft_dec_err(d, v->line, path, "\"%s\" is not an absolute path", s.p);
			return -1;
		}
		if (at) {
			weft_str_t c = weft_arena_strdup(d->ma, s);
			if (!c.p) {
				weft_dec_err(d, v->line, path, "out of memory");
				return -1;
			}
			*(weft_str_t *)at = c;
		}
		return 0;
	}
	case WEFT_F_UINT: {
		unsigned long long x;
		if (!v->plain)
			goto wrong_type;
		if (v->str.len > 1 && v->str.p[0] == '-' && weft_str_to_u64(weft_str(v->str.p + 1, v->str.len - 1),
									       ~0ULL, &x) == 0) {
			weft_dec_err(d, v->line, path, "%s is out of range (%llu..%llu)", v->str.p,
				     (unsigned long long)f->min, (unsigned long long)f->max);
			return -1;
		}
		if (weft_str_to_u64(v->str, ~0ULL, &x) < 0) {
			bool digits = v->str.len > 0;
			for (size_t i = 0; i < v->str.len; i++)
				if (v->str.p[i] < '0' || v->str.p[i] > '9')
					digits = false;
			if (!digits)
				goto wrong_type;
			x = ~0ULL;   /* overflowed: out of range below */
		}
		if (x < f->min || x > f->max) {
			weft_dec_err(d, v->line, path, "%s is out of range (%llu..%llu)", v->str.p,
				     (unsigned long long)f->min, (unsigned long long)f->max);
			return -1;
		}
		if (at)
			store_uint(at, f->size, x);
		return 0;
	}
	case WEFT_F_BOOL: {
		bool b;
		if (!v->plain)
			goto wrong_type;
		if (weft_str_eq_c(v->str, "true") || weft_str_eq_c(v->str, "True") || weft_str_eq_c(v->str, "TRUE"))
			b = true;
		else if (weft_str_eq_c(v->str, "false") || weft_str_eq_c(v->str, "False") ||
			 weft_str_eq_c(v->str, "FALSE"))
			b = false;
		else
			goto wrong_type;
		if (at)
			*(bool *)at = b;
		return 0;
	}
	case WEFT_F_DURATION: {
		uint64_t ms;
		if (weft_parse_duration(v->str, &ms) < 0) {
			weft_dec_err(d, v->line, path, "invalid duration \"%s\": expected %s", v->str.p,
				     expected_name(f->type));
			return -1;
		}
		if (at)
			store_uint(at, f->size, ms);
		return 0;
	}
	case WEFT_F_PERCENT: {
		uint32_t ppm;
		if (!v->plain || weft_parse_percent(v->str, &ppm) < 0) {
			weft_dec_err(d, v->line, path, "invalid percentage \"%s\": expected %s", v->str.p,
				     expected_name(f->type));
			return -1;
		}
		if (at)
			store_uint(at, f->size, ppm);
		return 0;
	}
	case WEFT_F_ENUM:
		for (size_t i = 0; f->enums[i].name; i++) {
			if (weft_str_eq_c(v->str, f->enums[i].name)) {
				if (at)
					store_uint(at, f->size, (uint64_t)(unsigned)f->enums[i].value);
				return 0;
			}
		}
		weft_dec_err(d, v->line, path, "\"%s\" is not one of: %s", v->str.p, enum_names(d, f->enums));
		return -1;
	default:
		return 0;
	}

wrong_type:
	if (v->type == WEFT_YAML_SCALAR)
		weft_dec_err(d, v->line, path, "expected %s, got %s\"%s\"", expected_name(f->type),
			     v->plain ? "" : "the quoted string ", v->str.p);
	else
		weft_dec_err(d, v->line, path, "expected %s, got %s", expected_name(f->type),
			     weft_yaml_type_name(v));
	return -1;
}

int weft_dec_map(weft_dec_t *d, const weft_yaml_node_t *n, const char *path,
		 const weft_field_t *f, size_t nf, void *dst, const weft_yaml_node_t **got)
{
	bool seen[64] = { false };
	int rc = 0;

	if (got)
		for (size_t i = 0; i < nf; i++)
			got[i] = NULL;
	if (nf > 64)
		return -1;   /* programming error: tables are small */
	if (!n || n->type != WEFT_YAML_MAP) {
		weft_dec_err(d, n ? n->line : 0, path, "expected a mapping, got %s", weft_yaml_type_name(n));
		return -1;
	}
	for (size_t k = 0; k < n->n; k++) {
		const weft_yaml_node_t *key = n->keys[k], *v = n->vals[k];
		const char *fp = weft_dec_path(d, path, key->str.p);
		size_t i;

		for (i = 0; i < nf; i++)
			if (weft_str_eq_c(key->str, f[i].name))
				break;
		if (i == nf) {
			weft_dec_err(d, key->line, fp, "unknown field \"%s\" (expected one of: %s)", key->str.p,
				     field_names(d, f, nf));
			rc = -1;
			continue;
		}
		if (v->type == WEFT_YAML_NULL)
			continue;
		seen[i] = true;
		if (dec_value(d, &f[i], v, fp, dst) < 0) {
			rc = -1;
			continue;
		}
		if (got)
			got[i] = v;
	}
	for (size_t i = 0; i < nf; i++) {
		if ((f[i].flags & WEFT_FF_REQUIRED) && !seen[i]) {
			weft_dec_err(d, n->line, weft_dec_path(d, path, f[i].name), "required field is missing");
			rc = -1;
		}
	}
	return rc;
}

int weft_dec_value(weft_dec_t *d, const weft_field_t *f, const weft_yaml_node_t *v, const char *path, void *dst)
{
	if (!v || v->type == WEFT_YAML_NULL) {
		if (!(f->flags & WEFT_FF_REQUIRED))
			return 0;
		weft_dec_err(d, v ? v->line : 0, path, "expected %s, got null", expected_name(f->type));
		return -1;
	}
	return dec_value(d, f, v, path, dst);
}

int weft_dec_str(weft_dec_t *d, const weft_yaml_node_t *n, const char *path,
		 bool required, weft_str_t *out)
{
	weft_field_t f = { "", WEFT_F_STR, required ? WEFT_FF_REQUIRED : 0, 0, 0, NULL, 0, sizeof(weft_str_t) };

	if (!n || n->type == WEFT_YAML_NULL) {
		if (!required)
			return 0;
		weft_dec_err(d, n ? n->line : 0, path, "must not be empty");
		return -1;
	}
	return dec_value(d, &f, n, path, out);
}

static bool label_char(char c, bool key)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || (key && c == '/');
}

static int cmp_kv(const void *a, const void *b)
{
	const weft_kv_t *x = a, *y = b;
	size_t l = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = l ? memcmp(x->key.p, y->key.p, l) : 0;

	return c ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

int weft_dec_labels(weft_dec_t *d, const weft_yaml_node_t *n, const char *path, weft_labels_t *out)
{
	bool failed = false;
	int rc = 0;

	out->n = 0;
	out->kv = NULL;
	if (!n || n->type == WEFT_YAML_NULL)
		return 0;
	if (n->type != WEFT_YAML_MAP) {
		weft_dec_err(d, n->line, path, "expected a mapping, got %s", weft_yaml_type_name(n));
		return -1;
	}
	out->kv = weft_dec_array(d, n->n, sizeof(*out->kv), &failed);
	if (failed)
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const weft_yaml_node_t *k = n->keys[i], *v = n->vals[i];
		const char *fp = weft_dec_path(d, path, k->str.p);
		bool ok = k->str.len > 0 && k->str.len <= 253;
		weft_kv_t kv;

		for (size_t j = 0; ok && j < k->str.len; j++)
			ok = label_char(k->str.p[j], true);
		if (!ok) {
			weft_dec_err(d, k->line, fp, "invalid label key \"%s\"", k->str.p);
			rc = -1;
			continue;
		}
		if (v->type == WEFT_YAML_NULL) {
			kv.value = WEFT_STR_LIT("");
		} else if (v->type != WEFT_YAML_SCALAR) {
			weft_dec_err(d, v->line, fp, "expected a string, got %s", weft_yaml_type_name(v));
			rc = -1;
			continue;
		} else {
			ok = v->str.len <= 63;
			for (size_t j = 0; ok && j < v->str.len; j++)
				ok = label_char(v->str.p[j], false);
			if (!ok) {
				weft_dec_err(d, v->line, fp, "invalid label value \"%s\" (letters, digits, '-', '_', "
					     "'.', at most 63 characters)", v->str.p);
				rc = -1;
				continue;
			}
			kv.value = weft_arena_strdup(d->ma, v->str);
		}
		kv.key = weft_arena_strdup(d->ma, k->str);
		out->kv[out->n++] = kv;
	}
	if (out->n > 1)
		qsort(out->kv, out->n, sizeof(*out->kv), cmp_kv);
	return rc;
}
