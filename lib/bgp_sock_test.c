/* DOC: bgp_sock_test.c — addresses, the write queue over a socketpair, the
 * MD5 key's argument checks. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "bgp_msg.h"
#include "bgp_sock.h"

static void test_addr(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[80];
	assert_int_equal(bgp_sock_addr("10.0.0.2", 179, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_string_equal(bgp_sockaddr_str(&ss, buf, sizeof(buf)), "10.0.0.2:179");
	assert_int_equal(bgp_sock_addr("fd00::2", 1790, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_string_equal(bgp_sockaddr_str(&ss, buf, sizeof(buf)), "[fd00::2]:1790");
	assert_int_equal(bgp_sock_addr("controller", 179, &ss, &len), -EINVAL);
	assert_int_equal(bgp_sock_addr("[fd00::2]", 179, &ss, &len), -EINVAL);
}

/* More than a socket buffer queued: it all arrives, in order. */
static void test_wq(void **state)
{
	(void)state;
	int sv[2];
	struct bgp_wq q = { 0 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	for (int i = 0; i < 200; i++) {
		struct tern_wbuf w;
		assert_int_equal(bgp_wq_reserve(&q, &w), 0);
		assert_true(bgp_wq_commit(&q, bgp_keepalive_encode(&w)));
	}
	assert_false(bgp_wq_commit(&q, -ENOSPC));
	assert_true(bgp_wq_pending(&q));
	size_t got = 0;
	uint8_t buf[8192];
	while (bgp_wq_pending(&q) || got < 200u * BGP_HDR_LEN) {
		assert_int_equal(bgp_wq_flush(&q, sv[0]), 0);
		ssize_t n = read(sv[1], buf, sizeof(buf));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				if ((got + (size_t)i) % BGP_HDR_LEN == 18)
					assert_int_equal(buf[i], BGP_KEEPALIVE);
			got += (size_t)n;
		}
	}
	assert_int_equal(got, 200u * BGP_HDR_LEN);
	close(sv[1]);
	struct tern_wbuf w;
	assert_int_equal(bgp_wq_reserve(&q, &w), 0);
	bgp_wq_commit(&q, bgp_keepalive_encode(&w));
	assert_true(bgp_wq_flush(&q, sv[0]) < 0); /* EPIPE */
	bgp_wq_clear(&q);
	assert_false(bgp_wq_pending(&q));
	bgp_wq_free(&q);
	close(sv[0]);
}

static void test_md5(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	char key[100];
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = 0;
	assert_int_equal(bgp_sock_addr("127.0.0.1", 179, &ss, &len), 0);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bgp_sock_md5(fd, &ss, key), -EINVAL);   /* over 80 bytes */
	int rc = bgp_sock_md5(fd, &ss, "secret");
	/* 0, or the kernel has no TCP MD5 at all */
	assert_true(rc == 0 || rc == -ENOPROTOOPT || rc == -ENOENT);
	close(fd);
	assert_true(bgp_sock_md5(-1, &ss, "secret") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_wq),
		cmocka_unit_test(test_md5),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
