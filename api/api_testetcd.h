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

#endif
