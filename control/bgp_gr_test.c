/* DOC: bgp_gr_test.c — the graceful-restart marker: path, write, take (in
 * time, too old, malformed, absent, off). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bgp_gr.h"

static void test_path(void **state)
{
	(void)state;
	char p[64];
	assert_int_equal(bgp_gr_marker_path("", "/run/tern/control/ctl.sock", p, sizeof(p)), 0);
	assert_string_equal(p, "/run/tern/control/graceful-restart");
	assert_int_equal(bgp_gr_marker_path("/var/lib/tern", "/x/ctl.sock", p, sizeof(p)), 0);
	assert_string_equal(p, "/var/lib/tern/graceful-restart");
	assert_int_equal(bgp_gr_marker_path("", "ctl.sock", p, sizeof(p)), 0);
	assert_string_equal(p, "graceful-restart");
	assert_int_equal(bgp_gr_marker_path("/a/very/long/directory/name/for/eight", "", p, 32),
			 -ENAMETOOLONG);
}

static void test_take(void **state)
{
	(void)state;
	char dir[] = "/tmp/bgp_gr_test.XXXXXX", path[128];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(bgp_gr_marker_path(dir, "", path, sizeof(path)), 0);
	int64_t age = -1;
	const char *why = NULL;
	assert_int_equal(bgp_gr_marker_take(path, 1000, 120, &age, &why), 0);
	assert_string_equal(why, "no marker");

	assert_int_equal(bgp_gr_marker_write(path, 1000, 120), 0);
	assert_int_equal(bgp_gr_marker_take(path, 1030, 120, &age, &why), 1);
	assert_int_equal(age, 30);
	/* taken: gone */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(bgp_gr_marker_take(path, 1030, 120, &age, &why), 0);

	assert_int_equal(bgp_gr_marker_write(path, 1000, 120), 0);
	assert_int_equal(bgp_gr_marker_take(path, 1121, 120, &age, &why), 0);
	assert_string_equal(why, "marker too old");
	assert_int_equal(age, 121);

	assert_int_equal(bgp_gr_marker_write(path, 1000, 120), 0);
	assert_int_equal(bgp_gr_marker_take(path, 999, 120, &age, &why), 0);
	assert_string_equal(why, "marker too old");   /* clock went back */

	assert_int_equal(bgp_gr_marker_write(path, 1000, 120), 0);
	assert_int_equal(bgp_gr_marker_take(path, 1001, 0, &age, &why), 0);
	assert_string_equal(why, "graceful restart off");

	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);
	assert_int_equal(bgp_gr_marker_take(path, 1001, 120, &age, &why), 0);
	assert_string_equal(why, "malformed marker");
	assert_int_equal(access(path, F_OK), -1);

	/* a directory that does not exist: the write says so */
	char bad[160];
	snprintf(bad, sizeof(bad), "%s/nodir/graceful-restart", dir);
	assert_int_equal(bgp_gr_marker_write(bad, 1000, 120), -ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_take),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
