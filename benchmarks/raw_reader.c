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
 */
#define _GNU_SOURCE
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

static char buf[BUF_SIZE] __attribute__((aligned(8)));

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

static ssize_t
read_some(int fd)
{
    ssize_t n;

    do {
        n = read(fd, buf, sizeof buf);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        perror("raw_reader: read");
        exit(2);
    }
    return n;
}

int
main(int argc, char **argv)
{
    const char *mode, *dir;
    long target;
    int ack_fd, cpu, fd;
    uint32_t mask_sum = 0;

    if (argc != 6) {
        fprintf(stderr, "usage: raw_reader MODE DIR N ACK_FD CPU\n");
        return 2;
    }
    mode = argv[1];
    dir = argv[2];
    target = atol(argv[3]);
    ack_fd = atoi(argv[4]);
    cpu = atoi(argv[5]);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_ALL_EVENTS) < 0) {
        perror("raw_reader: inotify");
        return 2;
    }
    printf("READY\n");
    fflush(stdout);

    if (strcmp(mode, "drain") == 0) {
        char line[64];
        long count = 0;
        int overflow = 0;
        int64_t t0, t1;

        if (fgets(line, sizeof line, stdin) == NULL) {
            return 2;
        }
        t0 = now_ns();
        while (count < target) {
            ssize_t n = read_some(fd), off = 0;
            while (off < n) {
                const struct inotify_event *ev =
                    (const struct inotify_event *)(buf + off);
                mask_sum += ev->mask;
                overflow |= (ev->mask & IN_Q_OVERFLOW) != 0;
                off += (ssize_t)sizeof *ev + ev->len;
                count++;
            }
        }
        t1 = now_ns();
        printf("{\"seconds\": %.9f, \"events\": %ld, \"overflow\": %s, "
               "\"check\": %u}\n",
               (t1 - t0) / 1e9, count, overflow ? "true" : "false",
               mask_sum);
    }
    else if (strcmp(mode, "live") == 0) {
        long count = 0;
        int overflow = 0, done = 0;
        double cpu0 = cpu_seconds();

        while (!done) {
            ssize_t n = read_some(fd), off = 0;
            while (off < n) {
                const struct inotify_event *ev =
                    (const struct inotify_event *)(buf + off);
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
    }
    else if (strcmp(mode, "latency") == 0) {
        for (;;) {
            ssize_t n = read_some(fd), off = 0;
            int64_t t = now_ns();
            while (off < n) {
                const struct inotify_event *ev =
                    (const struct inotify_event *)(buf + off);
                off += (ssize_t)sizeof *ev + ev->len;
                if (write(ack_fd, &t, sizeof t) != sizeof t) {
                    return 0;
                }
            }
        }
    }
    else if (strcmp(mode, "idle") == 0) {
        for (;;) {
            read_some(fd);
        }
    }
    else {
        fprintf(stderr, "raw_reader: unknown mode %s\n", mode);
        return 2;
    }
    fflush(stdout);
    return 0;
}
