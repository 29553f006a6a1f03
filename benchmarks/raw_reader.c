/*
 * raw_reader.c: the limit every contender is compared with.  A plain C
 * program that reads the inotify descriptor with a 64 KiB buffer, walks
 * the records (wd, mask, name length) and counts them.  Nothing is copied,
 * allocated or handed anywhere: this is what the kernel lets a reader do.
 *
 * It speaks the same protocol as consumer.py:
 *
 *   raw_reader MODE DIR N ACK_FD CPU
 *
 * sets up one watch on DIR (IN_ALL_EVENTS), prints READY, then
 *   drain    waits for a line on standard input, reads N events, prints
 *            {"seconds": ...}
 *   live     reads until a record with an empty name (the generator's
 *            chmod of DIR, or IN_Q_OVERFLOW), prints events, overflow,
 *            the end time and the CPU time used
 *   latency  writes the receive time (8 bytes) to ACK_FD per event
 *   idle     blocks in read() until killed
 *
 * Each mode is one function below; main() only parses, watches and picks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* sched_setaffinity; meson defines it already */
#endif
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

/* The reader: the descriptor and the one buffer every read() fills. */
struct reader {
    int fd;                     /* inotify, one watch on DIR */
    long target;                /* drain: how many events to take */
    int ack_fd;                 /* latency: where receive times go */
    _Alignas(struct inotify_event) char buf[BUF_SIZE];
};

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One read(), retried on EINTR.  Returns the bytes read (> 0); a read
 * error or end of file ends the program, as nothing can follow it. */
static ssize_t
read_some(struct reader *r)
{
    ssize_t n;

    do {
        n = read(r->fd, r->buf, sizeof r->buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        perror("raw_reader: read");
        exit(2);
    }
    return n;
}

/* The record at OFF in the buffer.  The kernel hands out whole records
 * only, so a walk by sizeof(struct inotify_event) + len stays inside. */
static const struct inotify_event *
record_at(const struct reader *r, ssize_t off)
{
    return (const struct inotify_event *)(r->buf + off);
}

/* drain: after GO, take TARGET records as fast as read() gives them. */
static int
mode_drain(struct reader *r)
{
    char line[64];
    long count = 0;
    int overflow = 0;
    uint32_t mask_sum = 0;      /* printed, so the walk is not optimized out */
    int64_t t0, t1;

    if (fgets(line, sizeof line, stdin) == NULL) {
        return 2;
    }
    t0 = now_ns();
    while (count < r->target) {
        ssize_t n = read_some(r), off = 0;
        while (off < n) {
            const struct inotify_event *ev = record_at(r, off);
            mask_sum += ev->mask;
            overflow |= (ev->mask & IN_Q_OVERFLOW) != 0;
            off += (ssize_t)sizeof *ev + ev->len;
            count++;
        }
    }
    t1 = now_ns();
    printf("{\"seconds\": %.9f, \"events\": %ld, \"overflow\": %s, "
           "\"check\": %u}\n",
           (t1 - t0) / 1e9, count, overflow ? "true" : "false", mask_sum);
    return 0;
}

/* live: count records until the end marker, a record with no name. */
static int
mode_live(struct reader *r)
{
    long count = 0;
    int overflow = 0, done = 0;
    uint32_t mask_sum = 0;
    double cpu0 = cpu_seconds();

    while (!done) {
        ssize_t n = read_some(r), off = 0;
        while (off < n) {
            const struct inotify_event *ev = record_at(r, off);
            off += (ssize_t)sizeof *ev + ev->len;
            if (ev->len == 0) {
                overflow = (ev->mask & IN_Q_OVERFLOW) != 0;
                done = 1;
                break;
            }
            mask_sum += ev->mask;
            count++;
        }
    }
    printf("{\"events\": %ld, \"overflow\": %s, \"t_end_ns\": %lld, "
           "\"cpu_s\": %.6f, \"check\": %u}\n",
           count, overflow ? "true" : "false", (long long)now_ns(),
           cpu_seconds() - cpu0, mask_sum);
    return 0;
}

/* latency: per record, the time its read() returned, to ACK_FD; ends
 * when the generator stops listening. */
static int
mode_latency(struct reader *r)
{
    for (;;) {
        ssize_t n = read_some(r), off = 0;
        int64_t t = now_ns();
        while (off < n) {
            const struct inotify_event *ev = record_at(r, off);
            off += (ssize_t)sizeof *ev + ev->len;
            if (write(r->ack_fd, &t, sizeof t) != sizeof t) {
                return 0;
            }
        }
    }
}

/* idle: block in read() until killed (read_some() never returns 0). */
static int
mode_idle(struct reader *r)
{
    while (read_some(r) > 0) {
    }
    return 0;
}

static const struct {
    const char *name;
    int (*run)(struct reader *);
} MODES[] = {
    {"drain", mode_drain},
    {"live", mode_live},
    {"latency", mode_latency},
    {"idle", mode_idle},
};

static void
pin(int cpu)
{
    cpu_set_t set;

    if (cpu < 0) {
        return;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

int
main(int argc, char **argv)
{
    struct reader r;
    int (*run)(struct reader *) = NULL;
    int status;

    if (argc != 6) {
        fprintf(stderr, "usage: raw_reader MODE DIR N ACK_FD CPU\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof MODES / sizeof MODES[0]; i++) {
        if (strcmp(argv[1], MODES[i].name) == 0) {
            run = MODES[i].run;
        }
    }
    r.target = atol(argv[3]);
    r.ack_fd = atoi(argv[4]);
    pin(atoi(argv[5]));
    r.fd = inotify_init1(IN_CLOEXEC);
    if (r.fd < 0 || inotify_add_watch(r.fd, argv[2], IN_ALL_EVENTS) < 0) {
        perror("raw_reader: inotify");
        return 2;
    }
    printf("READY\n");
    fflush(stdout);
    if (run == NULL) {
        fprintf(stderr, "raw_reader: unknown mode %s\n", argv[1]);
        return 2;
    }
    status = run(&r);
    fflush(stdout);
    return status;
}
