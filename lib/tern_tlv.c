/*
 * DOC: tern_tlv.c — see tern_tlv.h. Every access checks the remaining room
 * first and records the first failure in ->err, so callers check once.
 */
#include "tern_tlv.h"

#include <errno.h>
#include <string.h>

void tern_wbuf_init(struct tern_wbuf *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->err = 0;
}

/* Reserve n bytes; NULL (and w->err set) when they do not fit. */
static uint8_t *wbuf_reserve(struct tern_wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > w->cap - w->len) {
		w->err = -ENOSPC;
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

void tern_put_bytes(struct tern_wbuf *w, const void *p, size_t n)
{
	uint8_t *d = wbuf_reserve(w, n);
	if (d && n)
		memcpy(d, p, n);
}

void tern_put_u8(struct tern_wbuf *w, uint8_t v)
{
	tern_put_bytes(w, &v, 1);
}

void tern_put_u16(struct tern_wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	tern_put_bytes(w, b, sizeof(b));
}

void tern_put_u32(struct tern_wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	tern_put_bytes(w, b, sizeof(b));
}

void tern_put_u64(struct tern_wbuf *w, uint64_t v)
{
	tern_put_u32(w, (uint32_t)(v >> 32));
	tern_put_u32(w, (uint32_t)v);
}

void tern_patch_u32(struct tern_wbuf *w, size_t off, uint32_t v)
{
	if (w->err)
		return;
	if (off > w->len || w->len - off < 4) {
		w->err = -ENOSPC;
		return;
	}
	w->buf[off] = (uint8_t)(v >> 24);
	w->buf[off + 1] = (uint8_t)(v >> 16);
	w->buf[off + 2] = (uint8_t)(v >> 8);
	w->buf[off + 3] = (uint8_t)v;
}

static void put_pad(struct tern_wbuf *w, size_t vlen)
{
	static const uint8_t zero[3];
	tern_put_bytes(w, zero, TERN_TLV_ALIGN(vlen) - vlen);
}

size_t tern_tlv_begin(struct tern_wbuf *w, uint16_t type)
{
	size_t start = w->len;
	tern_put_u16(w, type);
	tern_put_u16(w, 0); /* patched by tern_tlv_end */
	return start;
}

void tern_tlv_end(struct tern_wbuf *w, size_t start)
{
	if (w->err)
		return;
	if (start > w->len || w->len - start < TERN_TLV_HDR) {
		w->err = -ENOSPC;
		return;
	}
	size_t vlen = w->len - start - TERN_TLV_HDR;
	if (vlen > UINT16_MAX) { /* the length field cannot say it */
		w->err = -ENOSPC;
		return;
	}
	w->buf[start + 2] = (uint8_t)(vlen >> 8);
	w->buf[start + 3] = (uint8_t)vlen;
	put_pad(w, vlen);
}

void tern_tlv_put(struct tern_wbuf *w, uint16_t type, const void *v, size_t n)
{
	if (n > UINT16_MAX) {
		if (!w->err)
			w->err = -ENOSPC;
		return;
	}
	tern_put_u16(w, type);
	tern_put_u16(w, (uint16_t)n);
	tern_put_bytes(w, v, n);
	put_pad(w, n);
}

void tern_tlv_u8(struct tern_wbuf *w, uint16_t type, uint8_t v)
{
	tern_tlv_put(w, type, &v, 1);
}

void tern_tlv_u16(struct tern_wbuf *w, uint16_t type, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	tern_tlv_put(w, type, b, sizeof(b));
}

void tern_tlv_u32(struct tern_wbuf *w, uint16_t type, uint32_t v)
{
	size_t start = tern_tlv_begin(w, type);
	tern_put_u32(w, v);
	tern_tlv_end(w, start);
}

void tern_tlv_u64(struct tern_wbuf *w, uint16_t type, uint64_t v)
{
	size_t start = tern_tlv_begin(w, type);
	tern_put_u64(w, v);
	tern_tlv_end(w, start);
}

void tern_tlv_str(struct tern_wbuf *w, uint16_t type, const char *s)
{
	tern_tlv_put(w, type, s, strlen(s));
}

void tern_rbuf_init(struct tern_rbuf *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->off = 0;
	r->err = 0;
}

size_t tern_rbuf_left(const struct tern_rbuf *r)
{
	return r->off <= r->len ? r->len - r->off : 0;
}

/* Pointer to the next n bytes, consumed; NULL (and r->err set) when short. */
static const uint8_t *rbuf_take(struct tern_rbuf *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > tern_rbuf_left(r)) {
		r->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = r->buf + r->off;
	r->off += n;
	return p;
}

void tern_get_bytes(struct tern_rbuf *r, void *out, size_t n)
{
	const uint8_t *p = rbuf_take(r, n);
	if (p && n)
		memcpy(out, p, n);
}

uint8_t tern_get_u8(struct tern_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 1);
	return p ? p[0] : 0;
}

uint16_t tern_get_u16(struct tern_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t tern_get_u32(struct tern_rbuf *r)
{
	const uint8_t *p = rbuf_take(r, 4);
	if (!p)
		return 0;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t tern_get_u64(struct tern_rbuf *r)
{
	uint64_t hi = tern_get_u32(r);
	uint64_t lo = tern_get_u32(r);
	return r->err ? 0 : hi << 32 | lo;
}

int tern_tlv_next(struct tern_rbuf *r, uint16_t *type, struct tern_rbuf *val)
{
	if (r->err)
		return r->err;
	size_t left = tern_rbuf_left(r);
	if (left == 0)
		return 0;
	if (left < TERN_TLV_HDR) {
		r->err = -EBADMSG;
		return r->err;
	}
	uint16_t t = tern_get_u16(r);
	uint16_t vlen = tern_get_u16(r);
	const uint8_t *v = rbuf_take(r, vlen);
	if (!v)
		return r->err;
	*type = t;
	tern_rbuf_init(val, v, vlen);
	/* Padding may be cut short only at the very end of the buffer. */
	size_t pad = TERN_TLV_ALIGN(vlen) - vlen;
	left = tern_rbuf_left(r);
	r->off += pad < left ? pad : left;
	return 1;
}
