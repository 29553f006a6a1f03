/*
 * ino_follow.c: whether a tree that follows symbolic links (the
 * follow_symlinks of ino_add_tree()) follows one it met in a scan.
 *
 * Following every link can carry a tree out of its root into the whole
 * file system: /proc/self/root leads to "/", and from there everything is
 * below.  So a link to a directory is not followed when
 *
 * - it lies in a pseudo file system (proc, sysfs, cgroup, debugfs, ...):
 *   the kernel's own links there (a process's cwd, root, fd/N) lead
 *   anywhere, and none of them is part of a tree someone laid out;
 * - it leads into a pseudo file system: no event is made there for what
 *   changes, and such trees are vast (every process, every device);
 * - it leads to the root or a directory above it: the whole tree again,
 *   and everything beside it;
 * - it leads to the directory that holds it or one above that (a loop,
 *   and all that is beside it, also in the part of a tree reached through
 *   another link).
 *
 * A link to a directory elsewhere is followed, as watchfiles follows
 * links.  This is checked once, when a scan meets the link; the kernel
 * does not say when a link is changed to lead elsewhere.
 */
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ino_trees.h"

/* Not all of them are in <linux/magic.h>: these are fs/configfs,
 * fs/fuse/control.c and ipc/mqueue.c's. */
#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570
#endif
#ifndef FUSE_CTL_SUPER_MAGIC
#define FUSE_CTL_SUPER_MAGIC 0x65735543
#endif
#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif

/* How far a walk up through ".." goes before it gives up (and the link is
 * not followed): deeper than any path PATH_MAX allows. */
#define FOLLOW_MAX_DEPTH 4096

/* 1 for the f_type of a file system the kernel makes up. */
static int
magic_is_pseudo(unsigned long f_type)
{
    switch (f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case SELINUX_MAGIC:
    case SMACK_MAGIC:
    case PSTOREFS_MAGIC:
    case EFIVARFS_MAGIC:
    case BPF_FS_MAGIC:
    case BINFMTFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case NSFS_MAGIC:
    case USBDEVICE_SUPER_MAGIC:
    case CONFIGFS_MAGIC:
    case FUSE_CTL_SUPER_MAGIC:
    case MQUEUE_MAGIC:
        return 1;
    default:
        return 0;
    }
}

/* 1 when /proc/self/mountinfo says the file system of dev is devtmpfs.
 * statfs() cannot tell: devtmpfs reports tmpfs's (or ramfs's) f_type.
 * Without mountinfo (no /proc), 0. */
static int
mount_is_devtmpfs(dev_t dev)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL, *fstype;
    size_t cap = 0;
    unsigned major_no, minor_no;
    int found = 0;

    if (f == NULL) {
        return 0;
    }
    /* A line: ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [TAGS...] - TYPE
     * SOURCE OPTIONS. */
    while (!found && getline(&line, &cap, f) > 0) {
        if (sscanf(line, "%*s %*s %u:%u", &major_no, &minor_no) != 2 ||
            makedev(major_no, minor_no) != dev) {
            continue;
        }
        fstype = strstr(line, " - ");
        found = fstype != NULL && strncmp(fstype + 3, "devtmpfs ", 9) == 0;
        break;
    }
    free(line);
    fclose(f);
    return found;
}

/* 1 when the file system of the open descriptor fd is a pseudo one. */
static int
fd_is_pseudo(int fd)
{
    struct statfs sf;
    struct stat st;

    if (fstatfs(fd, &sf) < 0) {
        return 1; /* cannot tell: do not follow */
    }
    if (magic_is_pseudo((unsigned long)sf.f_type)) {
        return 1;
    }
    if ((unsigned long)sf.f_type == TMPFS_MAGIC ||
        (unsigned long)sf.f_type == RAMFS_MAGIC) {
        return fstat(fd, &st) < 0 || mount_is_devtmpfs(st.st_dev);
    }
    return 0;
}

/* 1 when the directory target is the directory open as from or one above
 * it, found by walking up through ".." (which leaves a mount for the
 * directory it is mounted on) until "/" is its own parent; 0 when it is
 * not.  from stays open. */
static int
is_at_or_above(int from, const struct stat *target)
{
    struct stat st, up_st;
    int fd = openat(from, ".", O_PATH | O_DIRECTORY | O_CLOEXEC), up;
    int depth, found = 1;

    if (fd < 0 || fstat(fd, &st) < 0) {
        goto done; /* cannot tell: found, so not followed */
    }
    for (depth = 0; depth < FOLLOW_MAX_DEPTH; depth++) {
        if (st.st_dev == target->st_dev && st.st_ino == target->st_ino) {
            goto done;
        }
        up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up < 0 || fstat(up, &up_st) < 0) {
            if (up >= 0) {
                close(up);
            }
            goto done;
        }
        close(fd);
        fd = up;
        if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino) {
            found = 0; /* "/" (of this process's root) */
            goto done;
        }
        st = up_st;
    }
done:
    if (fd >= 0) {
        close(fd);
    }
    return found;
}

/* 1 when the directory open as target is the tree's root or above it. */
static int
is_root_or_above(const ino_tree *t, const struct stat *target)
{
    /* By the path, as the tree's scans go (the root is followed when it
     * is a link, see ino_add_tree()). */
    int root = open(t->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int found;

    if (root < 0) {
        return 1;
    }
    found = is_at_or_above(root, target);
    close(root);
    return found;
}

int
ino_follow_allowed(const ino_tree *t, int dirfd, const char *name)
{
    struct stat st;
    int fd, allowed;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return 0;
    }
    if (!S_ISLNK(st.st_mode)) {
        return 1; /* a directory (d_type was DT_UNKNOWN): no link to follow */
    }
    if (fd_is_pseudo(dirfd)) {
        return 0;
    }
    fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    allowed = fstat(fd, &st) == 0 && !fd_is_pseudo(fd) &&
              !is_at_or_above(dirfd, &st) && !is_root_or_above(t, &st);
    close(fd);
    return allowed;
}
