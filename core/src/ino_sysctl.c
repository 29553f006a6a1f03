/*
 * ino_sysctl.c: reading the kernel's inotify limits, the numbers in
 * /proc/sys/fs/inotify/, so that callers can tell a user which limit a
 * failure hit and how far it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "ino_internal.h"

#define INO_SYSCTL_DIR "/proc/sys/fs/inotify/"

/* Parses the decimal number a sysctl file holds (with its newline). */
static long
parse_number(const char *text)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (end == text || (*end != '\0' && *end != '\n')) {
        return -EINVAL;
    }
    if (errno == ERANGE || value < 0) {
        return -ERANGE;
    }
    return value;
}

long
ino_sysctl(const char *name)
{
    char path[sizeof INO_SYSCTL_DIR + 64], text[32];
    size_t len = strlen(name);
    long n;
    int fd;

    /* A plain name only: nothing outside the inotify directory. */
    if (len == 0 || len >= 64 || strchr(name, '/') != NULL ||
        strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return -EINVAL;
    }
    memcpy(path, INO_SYSCTL_DIR, sizeof INO_SYSCTL_DIR - 1);
    memcpy(path + sizeof INO_SYSCTL_DIR - 1, name, len + 1);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    n = ino_read_fd(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0) {
        return n;
    }
    text[n] = '\0';
    return parse_number(text);
}
