/*
 * DOC: api_testetcd.c — starts etcd for a unit test (see api_testetcd.h).
 * Ports come from binding port 0 and closing again: a small race with other
 * programs, which etcd reports by exiting, and then we try other ports.
 */
#include "api_testetcd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api_store.h"

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static const char *etcd_bin(void)
{
	static const char *const cands[] = { "/usr/bin/etcd", "/usr/local/bin/etcd" };
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0)
			return cands[i];
	return NULL;
}

static int try_start(struct test_etcd *e, const char *bin)
{
	int cp = free_port(), pp = free_port();
	if (cp < 0 || pp < 0 || cp == pp)
		return -EAGAIN;
	char client[64], peer[64], cluster[80], data[96], log[96];
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", cp);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pp);
	snprintf(cluster, sizeof(cluster), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", e->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* a test killed midway (a signal, a closed pipe) takes etcd along */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, bin, "--name", "t", "--data-dir", data, "--listen-client-urls", client,
		      "--advertise-client-urls", client, "--listen-peer-urls", peer,
		      "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster,
		      "--max-txn-ops", "4096", (char *)NULL);
		_exit(127);
	}
	e->pid = pid;
	snprintf(e->endpoint, sizeof(e->endpoint), "%s", client);
	/* up to 15 s: etcd's first start writes its WAL */
	for (int i = 0; i < 300; i++) {
		char err[256];
		struct api_store *s = api_store_etcd_open(client, "probe/", err, sizeof(err));
		if (s) {
			api_store_close(s);
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			e->pid = 0;
			return -EAGAIN; /* a port was taken meanwhile: try others */
		}
		struct timespec d = { 0, 50000000L };
		nanosleep(&d, NULL);
	}
	test_etcd_stop(e);
	return -ETIMEDOUT;
}

int test_etcd_start(struct test_etcd *e)
{
	memset(e, 0, sizeof(*e));
	const char *bin = etcd_bin();
	if (!bin)
		return -ENOENT;
	snprintf(e->dir, sizeof(e->dir), "/tmp/tern-etcd-test.XXXXXX");
	if (!mkdtemp(e->dir))
		return -errno;
	int rc = -EAGAIN;
	for (int i = 0; i < 5 && rc == -EAGAIN; i++)
		rc = try_start(e, bin);
	if (rc < 0) {
		fprintf(stderr, "# etcd did not start: see %s/etcd.log\n", e->dir);
		e->pid = 0;
	}
	return rc;
}

void test_etcd_stop(struct test_etcd *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
	}
	if (e->dir[0]) {
		/* only our own mkdtemp directory */
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", e->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", e->dir);
		e->dir[0] = 0;
	}
}

int test_store_place(const struct test_store_param *p, const char *name, char *dir,
		     size_t dlen, char *path, size_t plen)
{
	if (strcmp(p->store, "etcd") == 0) {
		if (!p->etcd->pid)
			return 1;
		snprintf(path, plen, "%s%d/", name, ++*p->seq);
		return 0;
	}
	snprintf(dir, dlen, "/tmp/api_%s_test.XXXXXX", name);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, plen, "%s/api.db", dir);
	return 0;
}

struct api_store *test_store_open(const struct test_store_param *p, const char *path)
{
	char err[256];
	struct api_store *s = strcmp(p->store, "etcd") == 0
		? api_store_etcd_open(p->etcd->endpoint, path, err, sizeof(err))
		: api_store_open(path, err, sizeof(err));
	if (!s)
		fprintf(stderr, "# %s\n", err);
	return s;
}

void test_store_remove_sqlite(const char *dir, const char *path)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char p[512];
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}
	rmdir(dir);
}
