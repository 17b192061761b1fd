// A stand-in disk for the durable cases of benches/threads.rs: loaded with LD_PRELOAD, it
// replaces fdatasync with the real call followed by a sleep, so that every call takes at least
// SLOW_SYNC_US microseconds (default 45). Put the store on tmpfs, where the real call has
// nothing to write to a device. The durable figures then depend on the CPU work per call and
// on a fixed sync time, whatever else uses the disk. Set SLOW_SYNC_COUNT to print the number
// of calls at exit.
//
//   gcc -O2 -shared -fPIC -o /tmp/slow_fdatasync.so benches/slow_fdatasync.c -ldl
//   export MM_BENCH_DIR=/dev/shm MM_BENCH_MODE=durable
//   LD_PRELOAD=/tmp/slow_fdatasync.so cargo bench --bench threads
//
// The sleep sets the thread's timer slack to 1 ns first, because with the default slack of
// 50 µs a 45 µs sleep may last up to 95 µs.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static unsigned long calls;

__attribute__((destructor)) static void report(void) {
    if (getenv("SLOW_SYNC_COUNT")) fprintf(stderr, "fdatasync calls: %lu\n", calls);
}

static long delay_ns(void) {
    const char *text = getenv("SLOW_SYNC_US");
    return (text ? atol(text) : 45) * 1000;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    __atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct timespec start, until;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int result = real(fd);
    long ns = start.tv_nsec + delay_ns();
    until.tv_sec = start.tv_sec + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {
    }
    return result;
}
