/*
 * gen.c: the event generator every contender is measured against.
 *
 * It makes the same stream for everyone: in the watched directory, a
 * symlink named s0000000, s0000001, ... is made and removed again, so each
 * pair of system calls gives exactly two events (IN_CREATE, IN_DELETE),
 * each with a unique 8-byte name (32-byte kernel records) that the kernel
 * never coalesces.  Symlinks are cheap to make, have no inode data, and
 * every peer (watchdog and watchfiles included) reports them.
 *
 *   gen stream DIR RATE SECONDS MAX_EVENTS END CPU
 *       Makes events at RATE events/s (0: as fast as it can) for SECONDS or
 *       until MAX_EVENTS, whichever comes first.  With END=1 it then marks
 *       the end of the stream with chmod(DIR) (an IN_ATTRIB on the
 *       directory itself, empty name), repeated every 10 ms until its
 *       standard input reaches end-of-file, so that a marker lost to an
 *       overflowed queue is sent again.  Prints one JSON line when the
 *       stream is done (before the end markers).
 *
 *   gen stream DIR RATE SECONDS MAX_EVENTS END CPU single
 *       The same, one event per tick of the pace (the symlink at one tick,
 *       its unlink at the next, RATE events/s at most, sleeping between),
 *       so that a reader that keeps up wakes once per event: what the
 *       instruction counts of the live phase measure.
 *
 *   gen latency FILE SAMPLES MAX_SECONDS ACK_FD CPU
 *       Opens FILE, prints "OPEN", waits for a line on standard input, then
 *       SAMPLES times: sleeps 200-1000 us, takes the time and writes one
 *       byte to FILE (one IN_MODIFY), then waits for the consumer to write
 *       its receive time (8 bytes, CLOCK_MONOTONIC ns) to ACK_FD.  Prints
 *       the latencies in ns as JSON.
 *
 * CPU >= 0 pins the process to that CPU.  Times are CLOCK_MONOTONIC, the
 * clock of Python's time.monotonic_ns().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sched_setaffinity; meson defines it already */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
pin(int cpu)
{
    cpu_set_t set;

    if (cpu < 0) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) {
        perror("gen: sched_setaffinity");
    }
}

static void
die(const char *what)
{
    perror(what);
    exit(2);
}

/* 1 when standard input has reached end-of-file (or has data). */
static int
stdin_ready(int timeout_ms)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};

    return poll(&p, 1, timeout_ms) > 0;
}

/* One paced event per call: the symlink of pair i / 2, or its unlink. */
static void
make_single(long i)
{
    char name[16];

    snprintf(name, sizeof name, "s%07ld", (i / 2) % 10000000);
    if ((i & 1) == 0 ? symlink("x", name) < 0 : unlink(name) < 0) {
        die("gen: symlink/unlink");
    }
}

static int
run_stream(const char *dir, double rate, double seconds, long max_events,
           int end_marker, int single)
{
    char name[16];
    long pairs = 0, max_pairs = max_events / 2;
    int64_t start, deadline, end, period;
    mode_t mode = 0755;

    /* Work relative to the directory without opening it: an open(2) of
     * the watched directory would itself be an event (IN_OPEN). */
    if (chdir(dir) < 0) {
        die("gen: chdir");
    }
    period = rate > 0 ? (int64_t)(2e9 / rate) : 0;   /* ns per pair */
    start = now_ns();
    deadline = start + (int64_t)(seconds * 1e9);
    /* Single events: one per tick, each a tick after the one before (not
     * on a fixed schedule, which after a delay of this process would make
     * the events it owes back to back), sleeping meanwhile so as to leave
     * the CPUs to the reader; a pair counts when both events are made. */
    for (long i = 0; single && period > 0 && i < max_pairs * 2; i++) {
        struct timespec gap = {.tv_sec = (period / 2) / 1000000000,
                               .tv_nsec = (period / 2) % 1000000000};

        if (i > 0) {
            nanosleep(&gap, NULL);
        }
        make_single(i);
        pairs = (i + 1) / 2;
    }
    while (!single && pairs < max_pairs) {
        if (period > 0) {
            int64_t due = start + pairs * period;
            int64_t t;
            while ((t = now_ns()) < due) {
                /* spin: this process has a CPU of its own */
            }
            if (t >= deadline) {
                break;
            }
        }
        else if ((pairs & 255) == 0 && now_ns() >= deadline) {
            break;
        }
        snprintf(name, sizeof name, "s%07ld", pairs % 10000000);
        if (symlink("x", name) < 0) {
            die("gen: symlinkat");
        }
        if (unlink(name) < 0) {
            die("gen: unlinkat");
        }
        pairs++;
    }
    end = now_ns();
    printf("{\"start_ns\": %lld, \"end_ns\": %lld, \"events\": %ld}\n",
           (long long)start, (long long)end, pairs * 2);
    fflush(stdout);
    if (end_marker) {
        for (int i = 0; i < 3000; i++) {       /* at most 30 s */
            mode ^= 020;
            if (chmod(".", mode) < 0) {
                die("gen: chmod");
            }
            if (stdin_ready(10)) {
                break;
            }
        }
    }
    return 0;
}

static int
read_full(int fd, void *buf, size_t len, int timeout_ms)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int r = poll(&p, 1, timeout_ms);

        if (r == 0) {
            return -1;      /* timed out */
        }
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        n = read(fd, (char *)buf + got, len - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Drops any acknowledgement still in the pipe (one that came late), so
 * that the next read is the next sample's. */
static void
drop_stray_acks(int ack_fd)
{
    char junk[256];

    while (1) {
        struct pollfd p = {.fd = ack_fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0 || read(ack_fd, junk, sizeof junk) <= 0) {
            break;
        }
    }
}

static void
print_latencies(const int64_t *lat, long n)
{
    printf("{\"latency_ns\": [");
    for (long i = 0; i < n; i++) {
        printf("%s%lld", i ? ", " : "", (long long)lat[i]);
    }
    printf("]}\n");
    fflush(stdout);
}

static int
run_latency(const char *file, long samples, double max_seconds, int ack_fd)
{
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    int64_t *lat = calloc((size_t)samples, sizeof *lat);
    long done = 0;
    int64_t start;
    char line[64];
    unsigned seed = 12345;

    if (fd < 0 || lat == NULL) {
        die("gen: open file");
    }
    printf("OPEN\n");
    fflush(stdout);
    if (fgets(line, sizeof line, stdin) == NULL) {
        return 1;
    }
    start = now_ns();
    while (done < samples && now_ns() - start < (int64_t)(max_seconds * 1e9)) {
        struct timespec gap;
        int64_t sent, recv;

        seed = seed * 1103515245u + 12345u;
        gap.tv_sec = 0;
        gap.tv_nsec = 200000 + (long)((seed >> 8) % 800000);
        nanosleep(&gap, NULL);
        drop_stray_acks(ack_fd);
        sent = now_ns();
        if (pwrite(fd, "x", 1, 0) != 1) {
            die("gen: pwrite");
        }
        if (read_full(ack_fd, &recv, sizeof recv, 5000) < 0) {
            fprintf(stderr, "gen: no acknowledgement for sample %ld\n", done);
            break;
        }
        lat[done++] = recv - sent;
    }
    print_latencies(lat, done);
    close(fd);
    free(lat);
    return 0;
}

int
main(int argc, char **argv)
{
    if ((argc == 8 || (argc == 9 && strcmp(argv[8], "single") == 0)) &&
        strcmp(argv[1], "stream") == 0) {
        pin(atoi(argv[7]));
        return run_stream(argv[2], atof(argv[3]), atof(argv[4]), atol(argv[5]),
                          atoi(argv[6]), argc == 9);
    }
    if (argc == 7 && strcmp(argv[1], "latency") == 0) {
        pin(atoi(argv[6]));
        return run_latency(argv[2], atol(argv[3]), atof(argv[4]),
                           atoi(argv[5]));
    }
    fprintf(stderr,
            "usage: gen stream DIR RATE SECONDS MAX_EVENTS END CPU [single]\n"
            "       gen latency FILE SAMPLES MAX_SECONDS ACK_FD CPU\n");
    return 2;
}
