/*
 * DOC: vr_dpdk_guard.c — a memif peer that goes away must never crash the
 * vrouter.
 *
 * DPDK 22.11's memif PMD handles a peer's disconnect in the EAL interrupt
 * thread (memif_disconnect): it clears the port's CONNECTED flag and then,
 * at once, unmaps the shared regions, while the forwarding core may be in
 * the middle of eth_memif_rx / eth_memif_tx reading those rings. Nothing in
 * the PMD orders the two, so a pod (or a benchmark's generator) closing its
 * memif socket crashed the vrouter about once in ten disconnects.
 *
 * The PMD's munmap goes through the dynamic linker, so tern-vrouter defines
 * munmap itself (exported: see meson.build): when another thread unmaps while
 * the forwarding loop runs, it first waits until the loop has started a new
 * round. A round that starts after the flag was cleared sees it and does not
 * touch the rings, so the memory goes only once nobody reads it. The wait is
 * at most one round (the loop is woken if it sleeps), microseconds; the
 * forwarding core's own unmaps do not wait. munmaps inside glibc (malloc, thread
 * stacks) do not go through this symbol and are not delayed.
 *
 * The fences are asymmetric: a locked instruction at the start of every round
 * drains the store buffer the last transmit filled and cost ~10 cycles a
 * packet; so the loop only stores its round count, and the rare unmapping side
 * calls membarrier(2), which runs a full barrier on the loop's CPU for it.
 * Where membarrier is not available the loop falls back to the locked add.
 *
 * munmap has no context argument: the guard's state is this one struct.
 */
#include "vr_dpdk.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct {
	_Atomic uint64_t round;       /* forwarding rounds started */
	bool membarrier;              /* the unmapping side fences for the loop */
	_Atomic int running;          /* the loop is running on `loop` */
	_Atomic int wake_fd;          /* eventfd that wakes a sleeping loop, -1 */
	pthread_t loop;
	_Atomic uint64_t waits;       /* unmaps that waited (for the log at exit) */
} guard = { .wake_fd = -1 };

void vrd_guard_start(int wake_fd)
{
	guard.loop = pthread_self();
	guard.membarrier = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
	atomic_store(&guard.wake_fd, wake_fd);
	atomic_store(&guard.running, 1);
}

void vrd_guard_stop(void)
{
	atomic_store(&guard.running, 0);
}

uint64_t vrd_guard_waits(void)
{
	return atomic_load(&guard.waits);
}

/* The flag reads of the round must come after the count, as the unmapping
 * side's flag store comes before its read of the count: a full barrier here,
 * unless the unmapping side forces one on this CPU (membarrier). The release
 * store keeps the last round's ring accesses before the new count. */
void vrd_guard_round(void)
{
	if (guard.membarrier) {
		uint64_t r = atomic_load_explicit(&guard.round, memory_order_relaxed);
		atomic_store_explicit(&guard.round, r + 1, memory_order_release);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		atomic_fetch_add(&guard.round, 1);
	}
}

/* Wait until the loop starts a new round (at most ~100 ms: a loop stuck for
 * longer is not in a burst, and the unmap goes ahead). */
static void wait_round(void)
{
	atomic_thread_fence(memory_order_seq_cst); /* the PMD's flag store first */
	/* Cannot fail once registered; if it did, no fence ordered the loop's
	 * reads: wait two rounds and a millisecond more (a round is microseconds). */
	bool fenced = !guard.membarrier ||
		      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
	uint64_t r = atomic_load(&guard.round);
	int fd = atomic_load(&guard.wake_fd);
	if (fd >= 0) {
		uint64_t one = 1;
		if (write(fd, &one, sizeof(one)) < 0) {
			/* full eventfd: the loop is being woken anyway */
		}
	}
	uint64_t need = fenced ? 1 : 2;
	struct timespec ts = { 0, 20 * 1000 };
	for (unsigned i = 0; i < 5000; i++) {
		if (atomic_load_explicit(&guard.round, memory_order_acquire) - r >= need)
			break;
		nanosleep(&ts, NULL);
	}
	if (!fenced) {
		struct timespec ms = { 0, 1000 * 1000 };
		nanosleep(&ms, NULL);
	}
}

void vrd_guard_wait(void)
{
	if (atomic_load(&guard.running) && !pthread_equal(pthread_self(), guard.loop))
		wait_round();
}

int munmap(void *addr, size_t len)
{
	if (atomic_load(&guard.running) && !pthread_equal(pthread_self(), guard.loop)) {
		atomic_fetch_add(&guard.waits, 1);
		wait_round();
	}
	return (int)syscall(SYS_munmap, addr, len);
}
