/*
 * DOC: tern_tlv.h — bounds-checked writer and reader for binary messages.
 *
 * Every parser of outside input in tern reads through struct tern_rbuf, never
 * through raw pointer arithmetic; every encoder writes through struct
 * tern_wbuf. Both accumulate the first error in ->err so that a sequence of
 * reads or writes is checked once at the end (OpenBGPD's ibuf habit).
 * Integers are in network byte order.
 *
 * TLV: u16 type | u16 value length | value | zero padding to a 4-byte boundary.
 */
#ifndef TERN_TLV_H
#define TERN_TLV_H

#include <stdint.h>
#include <stddef.h>

struct tern_wbuf {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;          /* 0, or -ENOSPC once anything did not fit */
};

struct tern_rbuf {
	const uint8_t *buf;
	size_t len;
	size_t off;
	int err;          /* 0, or -EBADMSG once a read ran past the end */
};

#define TERN_TLV_HDR 4
#define TERN_TLV_ALIGN(n) (((n) + 3u) & ~(size_t)3u)

void tern_wbuf_init(struct tern_wbuf *w, uint8_t *buf, size_t cap);
void tern_put_u8(struct tern_wbuf *w, uint8_t v);
void tern_put_u16(struct tern_wbuf *w, uint16_t v);
void tern_put_u32(struct tern_wbuf *w, uint32_t v);
void tern_put_u64(struct tern_wbuf *w, uint64_t v);
void tern_put_bytes(struct tern_wbuf *w, const void *p, size_t n);
/* Overwrite 4 bytes at off (already written) with v: for length fields. */
void tern_patch_u32(struct tern_wbuf *w, size_t off, uint32_t v);

/* TLV writers. tern_tlv_begin returns the offset to pass to tern_tlv_end,
 * which fills in the length of a nested TLV. */
size_t tern_tlv_begin(struct tern_wbuf *w, uint16_t type);
void tern_tlv_end(struct tern_wbuf *w, size_t start);
void tern_tlv_put(struct tern_wbuf *w, uint16_t type, const void *v, size_t n);
void tern_tlv_u8(struct tern_wbuf *w, uint16_t type, uint8_t v);
void tern_tlv_u16(struct tern_wbuf *w, uint16_t type, uint16_t v);
void tern_tlv_u32(struct tern_wbuf *w, uint16_t type, uint32_t v);
void tern_tlv_u64(struct tern_wbuf *w, uint16_t type, uint64_t v);
void tern_tlv_str(struct tern_wbuf *w, uint16_t type, const char *s); /* without the NUL */

void tern_rbuf_init(struct tern_rbuf *r, const void *buf, size_t len);
uint8_t tern_get_u8(struct tern_rbuf *r);
uint16_t tern_get_u16(struct tern_rbuf *r);
uint32_t tern_get_u32(struct tern_rbuf *r);
uint64_t tern_get_u64(struct tern_rbuf *r);
/* Copy n bytes out; on a short buffer copies nothing and sets r->err. */
void tern_get_bytes(struct tern_rbuf *r, void *out, size_t n);
size_t tern_rbuf_left(const struct tern_rbuf *r);

/*
 * Read the next TLV: its type and a reader over its value. Returns 1 when one
 * was read, 0 at the clean end of the buffer, -EBADMSG when a header or value
 * runs past the end (r->err is set too). Padding after the last TLV may be
 * absent.
 */
int tern_tlv_next(struct tern_rbuf *r, uint16_t *type, struct tern_rbuf *val);

#endif /* TERN_TLV_H */
