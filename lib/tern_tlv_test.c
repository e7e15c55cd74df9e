/* DOC: tern_tlv_test.c — the bounds-checked writer and reader of tern_tlv.h. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tern_tlv.h"

/* Integers go out in network byte order. */
static void test_put_ints(void **state)
{
	(void)state;
	uint8_t b[32];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	tern_put_u8(&w, 0x01);
	tern_put_u16(&w, 0x0203);
	tern_put_u32(&w, 0x04050607);
	tern_put_u64(&w, 0x08090a0b0c0d0e0fULL);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 15);
	for (unsigned i = 0; i < 15; i++)
		assert_int_equal(b[i], i + 1);
}

/* The first write that does not fit sets -ENOSPC, writes nothing, and every
 * later write is refused too, even one that would fit. */
static void test_wbuf_enospc_sticks(void **state)
{
	(void)state;
	uint8_t b[6] = { 0 };
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	tern_put_u32(&w, 0xffffffffu);
	tern_put_u32(&w, 0x11111111u);
	assert_int_equal(w.err, -ENOSPC);
	assert_int_equal(w.len, 4);
	tern_put_u8(&w, 0x22);
	assert_int_equal(w.len, 4);
	assert_int_equal(b[4], 0);
	tern_patch_u32(&w, 0, 1);
	assert_int_equal(b[3], 0xff); /* no patch after an error */
}

static void test_patch_u32(void **state)
{
	(void)state;
	uint8_t b[8];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	tern_put_u32(&w, 0);
	tern_put_u16(&w, 0);
	tern_patch_u32(&w, 1, 0xa1b2c3d4u);
	assert_int_equal(w.err, 0);
	assert_int_equal(b[1], 0xa1);
	assert_int_equal(b[4], 0xd4);
	tern_patch_u32(&w, 3, 0); /* bytes 3..6: 6 not written yet */
	assert_int_equal(w.err, -ENOSPC);
}

/* A TLV is type, length, value and zero padding to 4 bytes. */
static void test_tlv_layout(void **state)
{
	(void)state;
	uint8_t b[64];
	memset(b, 0xee, sizeof(b));
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	tern_tlv_u8(&w, 7, 0x42);
	tern_tlv_str(&w, 9, "abcde");
	tern_tlv_u16(&w, 0x1234, 0xbeef);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 8 + 12 + 8);
	static const uint8_t want[] = {
		0, 7, 0, 1, 0x42, 0, 0, 0,
		0, 9, 0, 5, 'a', 'b', 'c', 'd', 'e', 0, 0, 0,
		0x12, 0x34, 0, 2, 0xbe, 0xef, 0, 0,
	};
	assert_memory_equal(b, want, sizeof(want));
}

static void test_tlv_nested(void **state)
{
	(void)state;
	uint8_t b[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	size_t outer = tern_tlv_begin(&w, 1);
	tern_tlv_u32(&w, 2, 0xdeadbeef);
	tern_tlv_u64(&w, 3, 0x0102030405060708ULL);
	tern_put_u8(&w, 0x99); /* odd length: the end pads */
	tern_tlv_end(&w, outer);
	assert_int_equal(w.err, 0);
	assert_int_equal(b[3], 8 + 12 + 1);
	assert_int_equal(w.len, 4 + 24);

	struct tern_rbuf r, v, v2;
	uint16_t t;
	tern_rbuf_init(&r, b, w.len);
	assert_int_equal(tern_tlv_next(&r, &t, &v), 1);
	assert_int_equal(t, 1);
	assert_int_equal(tern_rbuf_left(&v), 21);
	assert_int_equal(tern_tlv_next(&v, &t, &v2), 1);
	assert_int_equal(t, 2);
	assert_int_equal(tern_get_u32(&v2), 0xdeadbeef);
	assert_int_equal(tern_tlv_next(&v, &t, &v2), 1);
	assert_int_equal(t, 3);
	assert_true(tern_get_u64(&v2) == 0x0102030405060708ULL);
	assert_int_equal(tern_get_u8(&v), 0x99);
	assert_int_equal(tern_tlv_next(&v, &t, &v2), 0);
	assert_int_equal(tern_tlv_next(&r, &t, &v), 0);
	assert_int_equal(r.err, 0);
}

/* A value longer than a u16 can say is an error, never a wrapped length. */
static void test_tlv_too_long(void **state)
{
	(void)state;
	static uint8_t b[70000];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	size_t s = tern_tlv_begin(&w, 1);
	static const uint8_t big[65536];
	tern_put_bytes(&w, big, sizeof(big));
	tern_tlv_end(&w, s);
	assert_int_equal(w.err, -ENOSPC);

	tern_wbuf_init(&w, b, sizeof(b));
	tern_tlv_put(&w, 1, big, sizeof(big));
	assert_int_equal(w.err, -ENOSPC);
	assert_int_equal(w.len, 0);
}

static void test_tlv_enospc(void **state)
{
	(void)state;
	uint8_t b[10];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	tern_tlv_u32(&w, 1, 5);
	assert_int_equal(w.err, 0);
	tern_tlv_u8(&w, 1, 5); /* needs 8, 2 left */
	assert_int_equal(w.err, -ENOSPC);
}

static void test_get_ints_and_short(void **state)
{
	(void)state;
	static const uint8_t b[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	struct tern_rbuf r;
	tern_rbuf_init(&r, b, sizeof(b));
	assert_int_equal(tern_get_u8(&r), 1);
	assert_int_equal(tern_get_u16(&r), 0x0203);
	assert_true(tern_get_u64(&r) == 0x0405060708090a0bULL);
	assert_int_equal(r.err, 0);
	assert_int_equal(tern_rbuf_left(&r), 0);
	assert_int_equal(tern_get_u32(&r), 0);
	assert_int_equal(r.err, -EBADMSG);

	uint8_t out[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	tern_rbuf_init(&r, b, 3);
	tern_get_bytes(&r, out, 4);
	assert_int_equal(r.err, -EBADMSG);
	assert_int_equal(out[0], 0xaa); /* nothing copied */
	/* A u64 that is half there reads as 0 and leaves the error. */
	tern_rbuf_init(&r, b, 6);
	assert_true(tern_get_u64(&r) == 0);
	assert_int_equal(r.err, -EBADMSG);
}

static void test_tlv_next_errors(void **state)
{
	(void)state;
	struct tern_rbuf r, v;
	uint16_t t;
	static const uint8_t hdr_short[] = { 0, 1, 0 };
	tern_rbuf_init(&r, hdr_short, sizeof(hdr_short));
	assert_int_equal(tern_tlv_next(&r, &t, &v), -EBADMSG);
	assert_int_equal(r.err, -EBADMSG);
	assert_int_equal(tern_tlv_next(&r, &t, &v), -EBADMSG); /* sticks */

	static const uint8_t val_short[] = { 0, 1, 0, 5, 1, 2, 3, 4 };
	tern_rbuf_init(&r, val_short, sizeof(val_short));
	assert_int_equal(tern_tlv_next(&r, &t, &v), -EBADMSG);

	/* Missing padding after the last TLV is fine; a zero-length value too. */
	static const uint8_t nopad[] = { 0, 1, 0, 0, 0, 2, 0, 1, 0x77 };
	tern_rbuf_init(&r, nopad, sizeof(nopad));
	assert_int_equal(tern_tlv_next(&r, &t, &v), 1);
	assert_int_equal(t, 1);
	assert_int_equal(tern_rbuf_left(&v), 0);
	assert_int_equal(tern_tlv_next(&r, &t, &v), 1);
	assert_int_equal(t, 2);
	assert_int_equal(tern_get_u8(&v), 0x77);
	assert_int_equal(tern_tlv_next(&r, &t, &v), 0);
	assert_int_equal(r.err, 0);

	/* Leftover bytes after padding that cannot hold a header. */
	static const uint8_t tail[] = { 0, 1, 0, 1, 9, 0, 0, 0, 0, 3 };
	tern_rbuf_init(&r, tail, sizeof(tail));
	assert_int_equal(tern_tlv_next(&r, &t, &v), 1);
	assert_int_equal(tern_tlv_next(&r, &t, &v), -EBADMSG);
}

/* Cutting a valid buffer anywhere never reads past the cut. */
static void test_tlv_truncation(void **state)
{
	(void)state;
	uint8_t b[64];
	struct tern_wbuf w;
	tern_wbuf_init(&w, b, sizeof(b));
	size_t s = tern_tlv_begin(&w, 1);
	tern_tlv_u32(&w, 2, 1);
	tern_tlv_str(&w, 3, "xyz");
	tern_tlv_end(&w, s);
	assert_int_equal(w.err, 0);
	for (size_t cut = 1; cut < w.len; cut++) {
		struct tern_rbuf r, v;
		uint16_t t;
		tern_rbuf_init(&r, b, cut);
		assert_int_equal(tern_tlv_next(&r, &t, &v), -EBADMSG);
	}
}

static void test_null_buffers(void **state)
{
	(void)state;
	struct tern_wbuf w;
	tern_wbuf_init(&w, NULL, 100);
	tern_put_u8(&w, 1);
	assert_int_equal(w.err, -ENOSPC);
	struct tern_rbuf r, v;
	uint16_t t;
	tern_rbuf_init(&r, NULL, 100);
	assert_int_equal(tern_tlv_next(&r, &t, &v), 0);
	assert_int_equal(tern_get_u8(&r), 0);
	assert_int_equal(r.err, -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_ints),
		cmocka_unit_test(test_wbuf_enospc_sticks),
		cmocka_unit_test(test_patch_u32),
		cmocka_unit_test(test_tlv_layout),
		cmocka_unit_test(test_tlv_nested),
		cmocka_unit_test(test_tlv_too_long),
		cmocka_unit_test(test_tlv_enospc),
		cmocka_unit_test(test_get_ints_and_short),
		cmocka_unit_test(test_tlv_next_errors),
		cmocka_unit_test(test_tlv_truncation),
		cmocka_unit_test(test_null_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
