/*
 * DOC: api_etcd_map_test.c — the ordered map against a plain sorted array:
 * random inserts, replacements and removals keep every key, its value and
 * the key order; seek finds the first key at or after any key (prefix
 * scans), and clear leaves a usable map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api_etcd_map.h"

#define N 3000

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_against_sorted(void **state)
{
	(void)state;
	struct api_emap m;
	assert_int_equal(api_emap_init(&m), 0);
	static char keys[N][32];
	static int present[N], value[N];
	uint32_t r = 12345;
	for (int round = 0; round < 4 * N; round++) {
		r = r * 1103515245u + 12345u;
		int i = (int)(r >> 8) % N;
		snprintf(keys[i], sizeof(keys[i]), "k/%05d/%d", i * 7 % N, i);
		if ((r & 3) == 0) {
			api_emap_del(&m, keys[i]);
			present[i] = 0;
		} else {
			char v[16];
			snprintf(v, sizeof(v), "%d", round);
			assert_int_equal(api_emap_set(&m, keys[i], v), 0);
			present[i] = 1;
			value[i] = round;
		}
	}
	/* every key present with its last value, the rest absent */
	char *sorted[N];
	int n = 0;
	for (int i = 0; i < N; i++) {
		if (!keys[i][0])
			continue;
		const char *v = api_emap_get(&m, keys[i]);
		if (present[i]) {
			assert_non_null(v);
			assert_int_equal(atoi(v), value[i]);
			sorted[n++] = keys[i];
		} else {
			assert_null(v);
		}
	}
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_str);
	/* a walk from the start visits them in order, once each */
	int j = 0;
	for (const struct api_emap_node *x = api_emap_seek(&m, ""); x; x = api_emap_next(x))
		assert_string_equal(x->key, sorted[j++]);
	assert_int_equal(j, n);
	/* seek: the first key >= a prefix */
	const struct api_emap_node *x = api_emap_seek(&m, "k/01000/");
	for (j = 0; j < n && strcmp(sorted[j], "k/01000/") < 0; j++)
		;
	if (j < n)
		assert_string_equal(x->key, sorted[j]);
	else
		assert_null(x);
	assert_null(api_emap_seek(&m, "l"));
	api_emap_clear(&m);
	assert_null(api_emap_seek(&m, ""));
	assert_int_equal(api_emap_set(&m, "a", "1"), 0);
	assert_string_equal(api_emap_get(&m, "a"), "1");
	api_emap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
