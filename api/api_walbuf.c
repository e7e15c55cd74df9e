/*
 * DOC: api_walbuf.c — a SQLite VFS that writes a COMMIT's WAL frames at once
 * (see api_walbuf.h for why).
 *
 * The WAL format (sqlite.org/fileformat2.html#walformat): a 32-byte header,
 * then frames of a 24-byte header and one page; bytes 4..7 of a frame header
 * hold the database size in pages for the frame that commits a transaction,
 * zero otherwise. SQLite writes a frame header and its page as two writes,
 * and nothing else it writes to a WAL is 24 bytes long.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_walbuf.h"

/* Gathered bytes written at once even without a commit (a transaction too
 * big for SQLite's cache spills frames before its commit). */
#define WB_MAX (4u << 20)
#define WB_FRAME_HDR 24
/* The unix VFS writes at most 128 KiB - 1 in one call (it masks larger
 * counts: a bigger xWrite comes back short, as SQLITE_FULL). */
#define WB_CHUNK (64u << 10)

struct wb_file {
	sqlite3_file base;      /* pMethods: wb_methods */
	sqlite3_file *real;     /* the default VFS's file, after this struct */
	struct api_walbuf *w;
	unsigned char *buf;     /* gathered writes: file bytes [at, at + len) */
	size_t len, cap;
	sqlite3_int64 at;
	bool commit_page;       /* the last write was a commit frame's header */
};

static struct wb_file *wb(sqlite3_file *f)
{
	return (struct wb_file *)f;
}

static const struct sqlite3_io_methods *rm(const struct wb_file *f)
{
	return f->real->pMethods;
}

/* Hand what is gathered to the file: one write a chunk. On failure it is dropped:
 * SQLite fails the transaction and writes its frames again. */
static int wb_flush(struct wb_file *f)
{
	int rc = SQLITE_OK;
	for (size_t done = 0; done < f->len && rc == SQLITE_OK; done += WB_CHUNK) {
		size_t n = f->len - done < WB_CHUNK ? f->len - done : WB_CHUNK;
		rc = rm(f)->xWrite(f->real, f->buf + done, (int)n, f->at + (sqlite3_int64)done);
		__atomic_add_fetch(&f->w->writes_out, 1, __ATOMIC_RELAXED);
	}
	f->len = 0;
	f->commit_page = false;
	return rc;
}

/* Write what is gathered, then do what SQLite asked of the file: every method
 * that reads, syncs, sizes, truncates, locks or controls a WAL. */
#define FLUSH_THEN(pf, method, ...)                                            \
	do {                                                                   \
		struct wb_file *f_ = wb(pf);                                   \
		int rc_ = wb_flush(f_);                                        \
		return rc_ != SQLITE_OK ? rc_ : rm(f_)->method(f_->real, __VA_ARGS__); \
	} while (0)

static int wb_close(sqlite3_file *pf)
{
	struct wb_file *f = wb(pf);
	int rc = wb_flush(f);
	int rc2 = rm(f)->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *pf, void *out, int n, sqlite3_int64 off)
{
	FLUSH_THEN(pf, xRead, out, n, off);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int wb_write(sqlite3_file *pf, const void *data, int n, sqlite3_int64 off)
{
	struct wb_file *f = wb(pf);
	__atomic_add_fetch(&f->w->writes_in, 1, __ATOMIC_RELAXED);
	if (f->len && off != f->at + (sqlite3_int64)f->len) {
		int rc = wb_flush(f); /* not an append: in order, as SQLite wrote */
		if (rc != SQLITE_OK)
			return rc;
	}
	size_t need = f->len + (size_t)n;
	if (need > f->cap) {
		size_t cap = f->cap ? f->cap : 256u << 10;
		while (cap < need)
			cap *= 2;
		unsigned char *nb = cap <= WB_MAX ? realloc(f->buf, cap) : NULL;
		if (!nb) { /* too much, or no memory: this one goes straight through */
			int rc = wb_flush(f);
			if (rc == SQLITE_OK) {
				rc = rm(f)->xWrite(f->real, data, n, off);
				__atomic_add_fetch(&f->w->writes_out, 1, __ATOMIC_RELAXED);
			}
			f->commit_page = false;
			return rc;
		}
		f->buf = nb;
		f->cap = cap;
	}
	if (!f->len)
		f->at = off;
	memcpy(f->buf + f->len, data, (size_t)n);
	f->len = need;
	if (n == WB_FRAME_HDR) {
		f->commit_page = be32((const unsigned char *)data + 4) != 0;
		return SQLITE_OK;
	}
	/* the page of a commit frame: the transaction is all here */
	return f->commit_page ? wb_flush(f) : SQLITE_OK;
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	FLUSH_THEN(pf, xTruncate, size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
	FLUSH_THEN(pf, xSync, flags);
}

static int wb_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	FLUSH_THEN(pf, xFileSize, size);
}

static int wb_lock(sqlite3_file *pf, int lock)
{
	FLUSH_THEN(pf, xLock, lock);
}

static int wb_unlock(sqlite3_file *pf, int lock)
{
	FLUSH_THEN(pf, xUnlock, lock);
}

static int wb_reserved(sqlite3_file *pf, int *out)
{
	return rm(wb(pf))->xCheckReservedLock(wb(pf)->real, out);
}

static int wb_fcntl(sqlite3_file *pf, int op, void *arg)
{
	FLUSH_THEN(pf, xFileControl, op, arg);
}

static int wb_sector(sqlite3_file *pf)
{
	return rm(wb(pf))->xSectorSize(wb(pf)->real);
}

static int wb_devchar(sqlite3_file *pf)
{
	return rm(wb(pf))->xDeviceCharacteristics(wb(pf)->real);
}

/* A WAL file has no shared memory of its own and is never memory-mapped
 * (SQLite maps only the database), but the methods are forwarded as they are. */
static int wb_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
	const struct sqlite3_io_methods *m = rm(wb(pf));
	return m->iVersion >= 2 && m->xShmMap ? m->xShmMap(wb(pf)->real, pg, pgsz, extend, pp)
					       : SQLITE_IOERR_SHMMAP;
}

static int wb_shm_lock(sqlite3_file *pf, int off, int n, int flags)
{
	const struct sqlite3_io_methods *m = rm(wb(pf));
	return m->iVersion >= 2 && m->xShmLock ? m->xShmLock(wb(pf)->real, off, n, flags)
						: SQLITE_IOERR_SHMLOCK;
}

static void wb_shm_barrier(sqlite3_file *pf)
{
	const struct sqlite3_io_methods *m = rm(wb(pf));
	if (m->iVersion >= 2 && m->xShmBarrier)
		m->xShmBarrier(wb(pf)->real);
}

static int wb_shm_unmap(sqlite3_file *pf, int del)
{
	const struct sqlite3_io_methods *m = rm(wb(pf));
	return m->iVersion >= 2 && m->xShmUnmap ? m->xShmUnmap(wb(pf)->real, del) : SQLITE_OK;
}

static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
	struct wb_file *f = wb(pf);
	const struct sqlite3_io_methods *m = rm(f);
	*pp = NULL;
	int rc = wb_flush(f);
	if (rc != SQLITE_OK || m->iVersion < 3 || !m->xFetch)
		return rc;
	return m->xFetch(f->real, off, n, pp);
}

static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	const struct sqlite3_io_methods *m = rm(wb(pf));
	return m->iVersion >= 3 && m->xUnfetch ? m->xUnfetch(wb(pf)->real, off, p) : SQLITE_OK;
}

static const struct sqlite3_io_methods wb_methods = {
	.iVersion = 3,
	.xClose = wb_close,
	.xRead = wb_read,
	.xWrite = wb_write,
	.xTruncate = wb_truncate,
	.xSync = wb_sync,
	.xFileSize = wb_size,
	.xLock = wb_lock,
	.xUnlock = wb_unlock,
	.xCheckReservedLock = wb_reserved,
	.xFileControl = wb_fcntl,
	.xSectorSize = wb_sector,
	.xDeviceCharacteristics = wb_devchar,
	.xShmMap = wb_shm_map,
	.xShmLock = wb_shm_lock,
	.xShmBarrier = wb_shm_barrier,
	.xShmUnmap = wb_shm_unmap,
	.xFetch = wb_fetch,
	.xUnfetch = wb_unfetch,
};

/* The real file sits after ours, aligned as SQLite aligns its own. */
static size_t real_off(void)
{
	return (sizeof(struct wb_file) + 15) & ~(size_t)15;
}

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags,
		   int *out_flags)
{
	struct api_walbuf *w = (struct api_walbuf *)vfs;
	if (!(flags & SQLITE_OPEN_WAL)) /* the real file takes our place */
		return w->real->xOpen(w->real, name, pf, flags, out_flags);
	struct wb_file *f = wb(pf);
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(void *)((unsigned char *)pf + real_off());
	f->w = w;
	int rc = w->real->xOpen(w->real, name, f->real, flags, out_flags);
	f->base.pMethods = rc == SQLITE_OK ? &wb_methods : NULL;
	return rc;
}

int api_walbuf_register(struct api_walbuf *w, char *err, size_t errlen)
{
	memset(w, 0, sizeof(*w));
	w->real = sqlite3_vfs_find(NULL);
	if (!w->real) {
		snprintf(err, errlen, "SQLite has no default VFS");
		return -1;
	}
	/* Every other method is the default VFS's own: they read only fields
	 * copied here (pAppData, mxPathname). */
	w->vfs = *w->real;
	w->vfs.pNext = NULL;
	w->vfs.szOsFile = (int)(real_off() + (size_t)w->real->szOsFile);
	snprintf(w->name, sizeof(w->name), "tern-walbuf-%p", (void *)w);
	w->vfs.zName = w->name;
	w->vfs.xOpen = wb_open;
	int rc = sqlite3_vfs_register(&w->vfs, 0);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot register SQLite VFS %s: %s", w->name,
			 sqlite3_errstr(rc));
		return -1;
	}
	w->registered = 1;
	return 0;
}

void api_walbuf_unregister(struct api_walbuf *w)
{
	if (w->registered)
		sqlite3_vfs_unregister(&w->vfs);
	w->registered = 0;
}
