/* weft — gRPC message framing: the 5-byte prefix (compressed flag, 32-bit
 * big-endian length) and the grpc-message encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "weft/buf.h"
#include "weft/grpc.h"

int weft_grpc_frame_prefix(uint8_t out[5], size_t len)
{
	if (len > 0xffffffffu)
		return WEFT_ELIMIT;
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	return WEFT_OK;
}

void weft_grpc_deframer_init(weft_grpc_deframer_t *d, size_t max_msg)
{
	weft_buf_init(&d->in, 0);
	d->max_msg = max_msg;
}

void weft_grpc_deframer_free(weft_grpc_deframer_t *d)
{
	weft_buf_free(&d->in);
}

/* Checks a complete 5-byte prefix. Returns the message length or a
 * negative code (WEFT_EPROTO compressed, WEFT_ELIMIT too long). */
static long long check_prefix(const weft_grpc_deframer_t *d, const uint8_t *p)
{
	size_t len = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];

	if (p[0] & 1)
		return WEFT_EPROTO;
	if (p[0] & 0xfe)
		return WEFT_EPROTO;   /* reserved flag bits */
	if (len > d->max_msg)
		return WEFT_ELIMIT;
	return (long long)len;
}

int weft_grpc_deframe(weft_grpc_deframer_t *d, const uint8_t *p, size_t n,
		      int (*on_msg)(void *ctx, const uint8_t *msg, size_t len), void *ctx)
{
	while (n > 0 || weft_buf_len(&d->in) >= 5) {
		size_t have = weft_buf_len(&d->in);
		long long mlen;
		int rc;

		/* fast path: whole messages straight from the input */
		if (have == 0 && n >= 5) {
			mlen = check_prefix(d, p);
			if (mlen < 0)
				return (int)mlen;
			if (n - 5 >= (size_t)mlen) {
				rc = on_msg(ctx, p + 5, (size_t)mlen);
				if (rc)
					return rc;
				p += 5 + (size_t)mlen;
				n -= 5 + (size_t)mlen;
				continue;
			}
		}
		/* assemble in the buffer: first the prefix, then the body */
		if (have < 5) {
			size_t take = 5 - have < n ? 5 - have : n;
			if (weft_buf_append(&d->in, p, take) < 0)
				return WEFT_ENOMEM;
			p += take;
			n -= take;
			if (weft_buf_len(&d->in) < 5)
				return WEFT_OK;
			have = 5;
		}
		mlen = check_prefix(d, weft_buf_head(&d->in));
		if (mlen < 0)
			return (int)mlen;
		if (have - 5 < (size_t)mlen) {
			size_t need = (size_t)mlen - (have - 5);
			size_t take = need < n ? need : n;
			if (weft_buf_append(&d->in, p, take) < 0)
				return WEFT_ENOMEM;
			p += take;
			n -= take;
			if (take < need)
				return WEFT_OK;
		}
		rc = on_msg(ctx, weft_buf_head(&d->in) + 5, (size_t)mlen);
		weft_buf_reset(&d->in);
		if (rc)
			return rc;
	}
	return WEFT_OK;
}

void weft_grpc_encode_message(const char *msg, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return;
	for (const unsigned char *p = (const unsigned char *)msg; p && *p; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)*p;
		} else {
			if (o + 3 >= outlen)
				break;
			snprintf(out + o, 4, "%%%02X", *p);
			o += 3;
		}
	}
	out[o] = '\0';
}

int weft_grpc_pack_send(const ProtobufCMessage *m,
			int (*send)(void *ctx, const void *p, size_t len), void *ctx)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t stackbuf[4096], *p = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
	int rc;

	if (!p)
		return WEFT_ENOMEM;
	protobuf_c_message_pack(m, p);
	rc = send(ctx, p, len);
	if (p != stackbuf)
		free(p);
	return rc;
}
