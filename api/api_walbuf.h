/*
 * DOC: api_walbuf.h — a SQLite VFS that writes a COMMIT's WAL frames at once.
 *
 * SQLite writes every WAL frame with two pwrite calls (its 24-byte header,
 * then the page): a group of the SQLite store is ~57 frames, 114 system
 * calls under the store's lock on a kernel where each costs microseconds.
 * This VFS wraps the default one; for a WAL file it gathers consecutive
 * writes in memory and hands them to the file at once (64 KiB a write)
 * when SQLite writes the page of a commit frame (a frame header whose "database size"
 * field is set), so a failed write still fails that COMMIT inside SQLite
 * and nothing is acknowledged that is not in the file. Anything else that
 * touches the file (read, sync, size, truncate, lock, close) writes what
 * is gathered first. Other files go straight to the default VFS.
 *
 * One api_walbuf per store (its name is its own), registered before the
 * connection is opened and unregistered after it is closed.
 */
#ifndef TERN_API_WALBUF_H
#define TERN_API_WALBUF_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct api_walbuf {
	sqlite3_vfs vfs;    /* first: SQLite hands it back to xOpen */
	sqlite3_vfs *real;  /* the default VFS everything goes to */
	char name[48];
	int registered;
	/* counts over every WAL file of this VFS (atomic) */
	uint64_t writes_in;  /* writes SQLite made to a WAL */
	uint64_t writes_out; /* writes the WAL file got */
};

/* Register w under a name of its own (w->name, for sqlite3_open_v2).
 * 0, or -1 with a message in err. */
int api_walbuf_register(struct api_walbuf *w, char *err, size_t errlen);
/* Unregister (after the last connection using it is closed). */
void api_walbuf_unregister(struct api_walbuf *w);

#endif
