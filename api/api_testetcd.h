/*
 * DOC: api_testetcd.h — for the unit tests: a private etcd on loopback, on
 * free ports, with its own data directory, stopped by its PID.
 */
#ifndef TERN_API_TESTETCD_H
#define TERN_API_TESTETCD_H

#include <sys/types.h>

struct test_etcd {
	pid_t pid;
	char dir[64];       /* data directory (removed by stop) */
	char endpoint[64];  /* http://127.0.0.1:PORT */
};

/* 0 when etcd answers; -ENOENT when no etcd binary is installed (the caller
 * skips, naming etcd); other negative errno when it would not start. */
int test_etcd_start(struct test_etcd *e);
void test_etcd_stop(struct test_etcd *e);

/* The store a parameterised test runs on. */
struct test_store_param {
	const char *store;       /* "sqlite" or "etcd" */
	struct test_etcd *etcd;  /* etcd: the running server (pid 0: none) */
	int *seq;                /* etcd: numbers a fresh key prefix per test */
};

struct api_store;
/* A fresh place for one test's store: an etcd key prefix "<name><n>/", or
 * an SQLite file in a new temporary directory (dir; the caller removes it).
 * Returns 1 when the test skips (etcd case without etcd), 0, or -1. */
int test_store_place(const struct test_store_param *p, const char *name, char *dir,
		     size_t dlen, char *path, size_t plen);
/* Remove an SQLite store test_store_place made: the file, its -wal and
 * -shm, then dir. */
void test_store_remove_sqlite(const char *dir, const char *path);
/* Open the store at path (printing why not). */
struct api_store *test_store_open(const struct test_store_param *p, const char *path);

#endif
