/*
 * DOC: api_walbuf_test.c — the WAL-gathering VFS: a transaction's frames
 * reach the file in a few writes; a COMMIT is in the file when it returns
 * (a process that dies right after, without closing, loses nothing); a
 * write the file refuses fails that COMMIT and nothing before it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "api_testetcd.h"
#include "api_walbuf.h"

struct fx {
	char dir[64], path[128];
	struct api_walbuf w;
	sqlite3 *db;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/tern-walbuf-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	test_store_remove_sqlite(f->dir, f->path);
	free(f);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
}

/* The store's settings: WAL, COMMIT without its own sync. */
static void open_walbuf(struct fx *f)
{
	char err[256];
	assert_int_equal(api_walbuf_register(&f->w, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open_v2(f->path, &f->db, SQLITE_OPEN_READWRITE |
					 SQLITE_OPEN_CREATE, f->w.name), SQLITE_OK);
	exec_ok(f->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		"CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)");
}

static void close_walbuf(struct fx *f)
{
	assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
	api_walbuf_unregister(&f->w);
}

/* Rows in t, read with SQLite's own VFS (what a later tern-api would see). */
static int rows_plain(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* n rows of 1 KiB in one transaction. */
static int insert_rows(sqlite3 *db, int from, int n)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i+1 FROM c "
		 "WHERE i < %d) INSERT INTO t SELECT i, randomblob(1024) FROM c", from,
		 from + n - 1);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static void test_gathers(void **state)
{
	struct fx *f = *state;
	open_walbuf(f);
	uint64_t in0 = f->w.writes_in, out0 = f->w.writes_out;
	assert_int_equal(insert_rows(f->db, 1, 100), SQLITE_OK); /* ~30 pages */
	uint64_t in = f->w.writes_in - in0, out = f->w.writes_out - out0;
	/* two writes a frame in, one a 64 KiB chunk out */
	assert_true(in >= 60);
	assert_true(out >= 1 && out <= 4);
	close_walbuf(f);
	assert_int_equal(rows_plain(f->path), 100);
}

/* Run fn in a child that ends with _exit (no sqlite3_close: no checkpoint,
 * nothing written at close, as when the process dies); its exit code, 0
 * when every step of fn held. */
static void in_child(struct fx *f, int (*fn)(struct fx *))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(f));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int commit_20(struct fx *f)
{
	open_walbuf(f);
	for (int i = 0; i < 20; i++)
		if (insert_rows(f->db, 1 + i * 10, 10) != SQLITE_OK)
			return 1;
	return 0;
}

/* A process that commits and dies: what its COMMITs returned must be in
 * the WAL. */
static void test_commit_in_file(void **state)
{
	struct fx *f = *state;
	in_child(f, commit_20);
	assert_int_equal(rows_plain(f->path), 200);
}

/* The file refuses a write (a size limit, as a full disk would): that COMMIT
 * fails, the ones before stay, and the connection goes on once there is
 * room. Run in a child: the limit is per process. */
static int refused_write(struct fx *f)
{
	signal(SIGXFSZ, SIG_IGN);
	open_walbuf(f);
	if (insert_rows(f->db, 1, 20) != SQLITE_OK)
		return 2;
	char wal[160];
	struct stat sb;
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	if (stat(wal, &sb) != 0)
		return 3;
	struct rlimit rl;
	getrlimit(RLIMIT_FSIZE, &rl);
	struct rlimit small = { .rlim_cur = (rlim_t)sb.st_size + 8192, .rlim_max = rl.rlim_max };
	setrlimit(RLIMIT_FSIZE, &small);
	if (insert_rows(f->db, 100, 200) == SQLITE_OK) /* ~60 pages: past the limit */
		return 4;
	sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL);
	setrlimit(RLIMIT_FSIZE, &rl);
	return insert_rows(f->db, 1000, 5) == SQLITE_OK ? 0 : 5;
}

static void test_refused_write(void **state)
{
	struct fx *f = *state;
	in_child(f, refused_write);
	assert_int_equal(rows_plain(f->path), 25);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gathers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_in_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_write, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
