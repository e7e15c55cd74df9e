/*
 * DOC: vr_client_test.c — the control socket client against a fake vrouter in
 * a child process: short reads, vrouter errors, timeouts, oversized replies,
 * wrong sequence numbers, a connection closed mid-reply, a missing socket.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "vr_client.h"

struct fixture {
	char dir[64];
	char path[96];
	pid_t pid;
};

/* The fake vrouter's answer depends on the request's object type:
 *   INFO: the info object, one byte per write (short reads)
 *   VIF:  error -ENOENT with a message
 *   VNI:  no answer at all (timeout)
 *   NH:   a reply of ~2 KiB (too big for a small buffer)
 *   MPLS: a reply with the wrong seq
 *   VRF:  half a reply, then close
 *   ROUTE (DUMP): one route per page, cursor + 1 until 3 */
static int fake_reply(const struct vr_msg_view *v, uint8_t *out, size_t cap)
{
	struct tern_wbuf w;
	struct vr_object o = { .obj = v->obj };
	tern_wbuf_init(&w, out, cap);
	vr_msg_begin(&w, VR_OP_REPLY, v->obj == VR_OBJ_MPLS ? v->seq + 1 : v->seq, v->obj);
	switch (v->obj) {
	case VR_OBJ_VIF:
		vr_msg_put_error(&w, -ENOENT, "vif 9 does not exist");
		break;
	case VR_OBJ_NH:
		vr_msg_put_error(&w, 0, NULL);
		o.u.nh.n_members = VR_MAX_ECMP;
		VR_SET(&o, VR_AT_MEMBERS);
		for (int i = 0; i < 8; i++)
			vr_msg_put_object(&w, &o);
		break;
	case VR_OBJ_ROUTE:
		vr_msg_put_error(&w, 0, NULL);
		o.u.route.plen = (uint8_t)v->cursor;
		VR_SET(&o, VR_AT_PLEN);
		vr_msg_put_object(&w, &o);
		vr_msg_put_cursor(&w, v->cursor < 2 ? v->cursor + 1 : 0);
		break;
	default:
		vr_msg_put_error(&w, 0, NULL);
		strcpy(o.u.info.name, "fake");
		VR_SET(&o, VR_AT_NAME);
		vr_msg_put_object(&w, &o);
	}
	return vr_msg_finish(&w);
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = read(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void serve(int fd)
{
	static uint8_t in[VR_MSG_MAX], out[VR_MSG_MAX];
	for (;;) {
		uint32_t len;
		struct vr_msg_view v;
		char err[256];
		if (read_full(fd, in, VR_MSG_HDR_LEN) < 0 || vr_msg_frame(in, VR_MSG_HDR_LEN, &len) < 0 ||
		    read_full(fd, in + VR_MSG_HDR_LEN, len - VR_MSG_HDR_LEN) < 0 ||
		    vr_msg_parse(in, len, &v, err, sizeof(err)) < 0)
			return;
		if (v.obj == VR_OBJ_VNI)
			continue;
		int n = fake_reply(&v, out, sizeof(out));
		if (n < 0)
			return;
		if (v.obj == VR_OBJ_VRF) {
			(void)!write(fd, out, (size_t)n / 2);
			return;
		}
		/* INFO byte by byte: the client must reassemble short reads */
		size_t step = v.obj == VR_OBJ_INFO ? 1 : (size_t)n;
		for (size_t off = 0; off < (size_t)n; off += step)
			if (write(fd, out + off, step) != (ssize_t)step)
				return;
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/vr_client_test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		return -1;
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) { /* one client per test */
		int fd = accept(l, NULL, NULL);
		if (fd >= 0)
			serve(fd);
		_exit(0);
	}
	close(l);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, NULL, 0);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct vr_client *connect_fake(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct vr_client *c = vr_client_open(f->path, "t", err, sizeof(err));
	if (!c)
		fail_msg("open: %s", err);
	return c;
}

static void test_open_missing(void **state)
{
	(void)state;
	char err[512];
	errno = 0;
	struct vr_client *c = vr_client_open("/tmp/no-such-dir-tern/ctl.sock", "lab1", err, sizeof(err));
	assert_null(c);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "cannot connect to vrouter control socket /tmp/no-such-dir-tern/ctl.sock"));
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "--name lab1"));

	char longp[200];
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_null(vr_client_open(longp, NULL, err, sizeof(err)));
	assert_int_equal(errno, ENAMETOOLONG);
	vr_client_close(NULL);
}

static void test_short_reads(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	struct vr_object o;
	char err[256];
	for (int i = 0; i < 3; i++) { /* several requests on one connection */
		assert_int_equal(vr_client_request(c, VR_OP_GET, VR_OBJ_INFO, NULL, 0, reply, sizeof(reply),
						   &v, err, sizeof(err)), 0);
		assert_int_equal(vr_msg_next_object(&v, &o, err, sizeof(err)), 1);
		assert_string_equal(o.u.info.name, "fake");
	}
	vr_client_close(c);
}

/* Pipelined: three requests sent before any reply is read; the replies come
 * back in order, a refusal in the middle does not disturb the others, and a
 * reply read for the wrong request is refused. */
static void test_pipelined(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	struct vr_object o, k = { .obj = VR_OBJ_VIF };
	char err[256];
	uint32_t seq[3];
	VR_SET(&k, VR_AT_ID);
	assert_int_equal(vr_client_send(c, VR_OP_GET, VR_OBJ_INFO, NULL, 0, &seq[0], err,
					sizeof(err)), 0);
	assert_int_equal(vr_client_send(c, VR_OP_GET, VR_OBJ_VIF, &k, 0, &seq[1], err, sizeof(err)),
			 0);
	assert_int_equal(vr_client_send(c, VR_OP_GET, VR_OBJ_INFO, NULL, 0, &seq[2], err,
					sizeof(err)), 0);
	assert_int_equal(seq[1], seq[0] + 1);
	assert_int_equal(vr_client_recv(c, seq[0], reply, sizeof(reply), &v, err, sizeof(err)), 0);
	assert_int_equal(vr_msg_next_object(&v, &o, err, sizeof(err)), 1);
	assert_string_equal(o.u.info.name, "fake");
	assert_int_equal(vr_client_recv(c, seq[1], reply, sizeof(reply), &v, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "vif 9 does not exist (No such file or directory)");
	assert_int_equal(vr_client_recv(c, seq[1], reply, sizeof(reply), &v, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "expected a reply to seq"));
	vr_client_close(c);
}

static void test_vrouter_error(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	char err[256];
	struct vr_object k = { .obj = VR_OBJ_VIF };
	VR_SET(&k, VR_AT_ID);
	k.u.vif.id = 9;
	assert_int_equal(vr_client_request(c, VR_OP_GET, VR_OBJ_VIF, &k, 0, reply, sizeof(reply), &v,
					   err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "vif 9 does not exist (No such file or directory)");
	assert_string_equal(v.errmsg, "vif 9 does not exist");
	vr_client_close(c);
}

static void test_timeout(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	char err[256];
	assert_int_equal(vr_client_set_timeout(c, 200), 0);
	assert_int_equal(vr_client_request(c, VR_OP_GET, VR_OBJ_VNI, NULL, 0, reply, sizeof(reply), &v,
					   err, sizeof(err)), -ETIMEDOUT);
	assert_non_null(strstr(err, "did not answer within 200 ms"));
	vr_client_close(c);
}

/* A reply larger than the buffer is read and dropped; the next call works. */
static void test_reply_too_big(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	char err[256];
	assert_int_equal(vr_client_request(c, VR_OP_DUMP, VR_OBJ_NH, NULL, 0, reply, 256, &v, err,
					   sizeof(err)), -ENOBUFS);
	assert_non_null(strstr(err, "does not fit a 256-byte buffer"));
	assert_int_equal(vr_client_request(c, VR_OP_GET, VR_OBJ_INFO, NULL, 0, reply, sizeof(reply),
					   &v, err, sizeof(err)), 0);
	vr_client_close(c);
}

static void test_wrong_seq(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	char err[256];
	assert_int_equal(vr_client_request(c, VR_OP_GET, VR_OBJ_MPLS, NULL, 0, reply, sizeof(reply), &v,
					   err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "expected a reply to seq"));
	vr_client_close(c);
}

static void test_closed_mid_reply(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	char err[256];
	assert_int_equal(vr_client_request(c, VR_OP_GET, VR_OBJ_VRF, NULL, 0, reply, sizeof(reply), &v,
					   err, sizeof(err)), -ECONNRESET);
	assert_non_null(strstr(err, "closed"));
	vr_client_close(c);
}

/* The cursor goes out with DUMP and comes back; 0 ends the dump. */
static void test_dump_pages(void **state)
{
	struct vr_client *c = connect_fake(state);
	static uint8_t reply[VR_MSG_MAX];
	struct vr_msg_view v;
	struct vr_object o;
	char err[256];
	uint64_t cursor = 0;
	unsigned pages = 0;
	do {
		assert_int_equal(vr_client_request(c, VR_OP_DUMP, VR_OBJ_ROUTE, NULL, cursor, reply,
						   sizeof(reply), &v, err, sizeof(err)), 0);
		assert_int_equal(vr_msg_next_object(&v, &o, err, sizeof(err)), 1);
		assert_int_equal(o.u.route.plen, cursor); /* the server saw our cursor */
		assert_true(v.has_cursor);
		cursor = v.cursor;
		pages++;
	} while (cursor);
	assert_int_equal(pages, 3);
	vr_client_close(c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test_setup_teardown(test_short_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vrouter_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_mid_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_pages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
