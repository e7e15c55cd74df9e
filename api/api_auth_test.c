/* DOC: api_auth_test.c — the tokens file: roles, project scope, errors that
 * name the line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api_auth.h"

static void test_parse(void **state)
{
	(void)state;
	char err[256];
	struct api_auth *a = api_auth_parse("# comment\n\n"
					    "admin-token-0123456789 admin name=op\n"
					    "reader-token-0123456789 read-only\r\n"
					    "demo-token-0123456789 admin project=demo\n",
					    "tokens", err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(api_auth_count(a), 3);
	struct api_ident id;
	assert_int_equal(api_auth_check(a, "admin-token-0123456789", &id), 0);
	assert_int_equal(id.role, API_ROLE_ADMIN);
	assert_string_equal(id.name, "op");
	assert_string_equal(id.project, "");
	assert_int_equal(api_auth_check(a, "reader-token-0123456789", &id), 0);
	assert_int_equal(id.role, API_ROLE_READ);
	assert_string_equal(id.name, "token@tokens:4");
	assert_int_equal(api_auth_check(a, "demo-token-0123456789", &id), 0);
	assert_string_equal(id.project, "demo");
	assert_int_equal(api_auth_check(a, "demo-token-012345678", &id), -ENOENT);
	assert_int_equal(api_auth_check(a, "", &id), -ENOENT);
	api_auth_free(a);
}

static void test_errors(void **state)
{
	(void)state;
	char err[256];
	assert_null(api_auth_parse("\nshort admin\n", "f", err, sizeof(err)));
	assert_non_null(strstr(err, "f:2: a token is 16"));
	assert_null(api_auth_parse("0123456789abcdef0 root\n", "f", err, sizeof(err)));
	assert_non_null(strstr(err, "admin or read-only"));
	assert_null(api_auth_parse("0123456789abcdef0 admin tenant=x\n", "f", err, sizeof(err)));
	assert_non_null(strstr(err, "project=NAME"));
	assert_null(api_auth_parse("0123456789abcdef0 admin\n0123456789abcdef0 read-only\n", "f",
				   err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
	assert_null(api_auth_parse("# nothing\n", "f", err, sizeof(err)));
	assert_non_null(strstr(err, "no token"));
	assert_null(api_auth_load("/nonexistent/tokens", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/tokens"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
