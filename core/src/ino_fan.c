/*
 * ino_fan.c: trees watched by fanotify instead of inotify.  A watcher
 * switched to fanotify (ino_use_fanotify()) holds no inotify watch: one
 * mark per file system (FAN_MARK_FILESYSTEM) hears every change there,
 * whatever the size of the trees, and each record names its directory by
 * a file handle and the entry by name (FAN_REPORT_DFID_NAME).
 *
 * The trees keep their nodes and index as with inotify, and the whole
 * tree machinery runs unchanged: where it would watch a directory
 * (ino_kwatch_add()), a fanotify watcher gives the directory a watch
 * number of its own, keyed by the directory's file handle, so that, as
 * with inotify, the same directory gets the same number whatever path
 * reaches it.  That map from handle to number is the cache records are
 * resolved by: a record whose directory has no number is outside every
 * tree and is dropped.  ino_fan_read() turns the kernel's records into
 * inotify's layout, which the trees rewrite as they rewrite inotify's:
 * FAN_RENAME's two records become a MOVED_FROM and MOVED_TO of one
 * cookie, a directory's removal its IN_IGNORED then its parent's DELETE,
 * FAN_Q_OVERFLOW an IN_Q_OVERFLOW (which heals the trees).
 *
 * Kernel versions: FAN_REPORT_DFID_NAME and directory events on a
 * FAN_MARK_FILESYSTEM mark 5.9, FAN_RENAME 5.17 (ino_use_fanotify() and
 * the first mark fail with EINVAL before them).  FAN_REPORT_TARGET_FID
 * (5.17 too) adds the handle of the entry itself: a directory's CREATE or
 * MOVED_TO then comes with its key (an INO_PRIV_KEY record before it),
 * and the directory watched for it must be that one (ino_fan_expect()),
 * not another made at its name after it left.  It came with FAN_RENAME,
 * so a kernel that takes the mark has it; where the group cannot be made
 * with it (EINVAL, or built against older headers), it is made without,
 * and the name is trusted, as with inotify.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ino_trees.h"

/* name_to_handle_at()'s flag for a handle that identifies without being
 * meant to open (Linux 6.5; older headers lack it). */
#ifdef AT_HANDLE_FID
#define FAN_AT_HANDLE_FID AT_HANDLE_FID
#else
#define FAN_AT_HANDLE_FID 0x200
#endif

/* A directory's key: its file system's id, then its file handle. */
#define FAN_KEY_MAX (8u + 4u + MAX_HANDLE_SZ)

/* The events every mark asks for: what the trees need to follow their
 * directories and index.  A tree's mask adds the rest. */
#define FAN_BASE_MASK                                                         \
    (FAN_CREATE | FAN_DELETE | FAN_RENAME | FAN_MODIFY | FAN_CLOSE_WRITE |    \
     FAN_ATTRIB | FAN_ONDIR)

/* The tree bits fanotify reports under the same values as inotify. */
#define FAN_TREE_BITS                                                         \
    (IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE |  \
     IN_OPEN | IN_CREATE | IN_DELETE)

/* The raw read buffer: whole kernel records, converted a few at a time. */
#define FAN_IN_SIZE (32u * 1024u)
/* The longest record read: the metadata and, for a rename, two records
 * of a directory's handle and a name each (about 900 bytes at most). */
#define FAN_RECORD_MAX 4096u

/* The most one kernel record becomes: a record of each tree bit, and the
 * IN_DELETE_SELF and IN_IGNORED of a directory and of a root. */
#define FAN_OUT_MAX (12u * (INO_RECORD_HEADER + NAME_MAX + 4u))

/* The report flags: with the entry's own handle where the kernel has it
 * (FAN_REPORT_DFID_NAME_TARGET, Linux 5.17), else without. */
#ifdef FAN_REPORT_TARGET_FID
#define FAN_REPORT_WITH_TARGET                                                \
    (FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_REPORT_TARGET_FID)
#else
#define FAN_REPORT_WITH_TARGET 0
#endif

/* A file system marked, with the events asked of it. */
typedef struct fan_fs {
    uint64_t fsid; /* its f_fsid */
    uint32_t mask; /* the mark's events */
} fan_fs;

/* A tree's root as its parent directory names it: how the root's own
 * removal or rename is heard (records name the directory that held it). */
typedef struct fan_root {
    int32_t wd;                   /* the root's number */
    uint32_t key_len;             /* bytes in key */
    unsigned char key[FAN_KEY_MAX]; /* the parent directory's key */
    uint32_t name_len;            /* bytes in name */
    char name[NAME_MAX + 1];      /* the root's name in it */
} fan_root;

struct ino_fan {
    int32_t next_wd;  /* the last number handed out */
    uint32_t cookie;  /* counts the renames paired */
    ino_nmap by_key;  /* (1, key) -> number; the key is by_wd's copy */
    ino_nmap by_wd;   /* (number, "") -> the key, malloc'd: a uint32_t
                         length, then the bytes (one allocation a
                         directory, both maps' keys) */
    fan_fs *fs;       /* the file systems marked */
    size_t nfs;       /* entries in fs */
    fan_root *roots;  /* the trees' roots */
    size_t nroots;    /* entries in roots */
    unsigned char expect[FAN_KEY_MAX]; /* ino_fan_expect()'s key */
    uint32_t expect_len; /* bytes in expect; 0: nothing expected */
    char *in;         /* kernel records read, not all converted */
    size_t in_len;    /* bytes in in */
    size_t in_pos;    /* offset of the first not converted */
};

/* ---- keys -------------------------------------------------------------- */

/* The key of the directory open at fd (an O_PATH descriptor) into key;
 * its length, or -1 with errno set. */
static long
key_of_fd(int fd, unsigned char *key, uint64_t *fsid)
{
    struct {
        struct file_handle fh;
        unsigned char bytes[MAX_HANDLE_SZ];
    } h;
    struct statfs sfs;
    int mount_id;

    if (fstatfs(fd, &sfs) < 0) {
        return -1;
    }
    /* AT_HANDLE_FID (Linux 6.5) asks for the handle as fanotify encodes
     * it, also on file systems that can encode but not open by handle;
     * before 6.5 it is EINVAL, and the two encodings are the same. */
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    if (name_to_handle_at(fd, "", &h.fh, &mount_id,
                          AT_EMPTY_PATH | FAN_AT_HANDLE_FID) < 0) {
        h.fh.handle_bytes = MAX_HANDLE_SZ;
        if (errno != EINVAL ||
            name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0) {
            return -1;
        }
    }
    memcpy(fsid, &sfs.f_fsid, 8);
    memcpy(key, &sfs.f_fsid, 8);
    memcpy(key + 8, &h.fh.handle_type, 4);
    memcpy(key + 12, h.fh.f_handle, h.fh.handle_bytes);
    return 12 + (long)h.fh.handle_bytes;
}

/* The key of a record's directory: the file system's id, then its
 * handle; its length, or 0 when the record is malformed. */
static size_t
key_of_info(const struct fanotify_event_info_fid *fid, size_t room,
            unsigned char *key, const char **name)
{
    const struct file_handle *fh = (const void *)fid->handle;
    size_t head = sizeof *fid + sizeof *fh;

    if (room < head || fh->handle_bytes > MAX_HANDLE_SZ ||
        room < head + fh->handle_bytes) {
        return 0;
    }
    memcpy(key, &fid->fsid, 8);
    memcpy(key + 8, &fh->handle_type, 4);
    memcpy(key + 12, fh->f_handle, fh->handle_bytes);
    *name = (const char *)fid->handle + sizeof *fh + fh->handle_bytes;
    return 12 + fh->handle_bytes;
}

static int32_t
wd_of_key(const ino_fan *f, const unsigned char *key, size_t len)
{
    return (int32_t)(intptr_t)ino_nmap_get(&f->by_key, 1, (const char *)key,
                                           len);
}

/* ---- the watcher's switch and the marks -------------------------------- */

int
ino_use_fanotify(ino_watcher *w)
{
    ino_fan *f;
    int fd;

    if (w->fd < 0) {
        return -EBADF;
    }
    if (w->fan != NULL) {
        return 0;
    }
    if (w->table.count > 0 || ino_trees_active(w)) {
        return -EBUSY;
    }
    fd = -1;
    errno = EINVAL;
    if (FAN_REPORT_WITH_TARGET != 0) {
        fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_WITH_TARGET |
                               FAN_NONBLOCK | FAN_CLOEXEC,
                           O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 && errno == EINVAL) {
        /* Before 5.17: no entry's handle, names only. */
        fd = fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME |
                               FAN_NONBLOCK | FAN_CLOEXEC,
                           O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        return -errno;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->in = malloc(FAN_IN_SIZE)) == NULL) {
        free(f);
        close(fd);
        return -ENOMEM;
    }
    /* The descriptor keeps its number (a caller may have handed it out):
     * the fanotify group takes the inotify one's place. */
    if (dup3(fd, w->fd, O_CLOEXEC) < 0) {
        int rc = -errno;
        free(f->in);
        free(f);
        close(fd);
        return rc;
    }
    close(fd);
    ino_nmap_init(&f->by_key);
    ino_nmap_init(&f->by_wd);
    w->fan = f;
    return 0;
}

int
ino_use_inotify(ino_watcher *w)
{
    int fd;

    if (w->fd < 0) {
        return -EBADF;
    }
    if (w->fan == NULL) {
        return 0;
    }
    if (w->table.count > 0 || ino_trees_active(w)) {
        return -EBUSY;
    }
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (dup3(fd, w->fd, O_CLOEXEC) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    close(fd);
    ino_fan_free(w);
    return 0;
}

void
ino_fan_free(ino_watcher *w)
{
    ino_fan *f = w->fan;

    if (f == NULL) {
        return;
    }
    ino_nmap_free_values(&f->by_wd);
    ino_nmap_free(&f->by_wd, 0);
    ino_nmap_free(&f->by_key, 0);
    free(f->fs);
    free(f->roots);
    free(f->in);
    free(f);
    w->fan = NULL;
}

/* The fanotify events a tree mask asks for. */
static uint32_t
fan_mask_of(uint32_t mask)
{
    return FAN_BASE_MASK | (mask & FAN_TREE_BITS);
}

/* Marks the file system of path (its id fsid) for the events of a tree
 * mask, unless its mark has them already; 0, or -1 with errno set. */
static int
mark_fs(ino_watcher *w, const char *path, uint64_t fsid, uint32_t mask)
{
    ino_fan *f = w->fan;
    uint32_t want = fan_mask_of(mask);
    fan_fs *grown;
    size_t i;

    for (i = 0; i < f->nfs; i++) {
        if (f->fs[i].fsid == fsid) {
            if ((f->fs[i].mask & want) == want) {
                return 0;
            }
            break;
        }
    }
    if (fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, want,
                      AT_FDCWD, path) < 0) {
        return -1;
    }
    if (i < f->nfs) {
        f->fs[i].mask |= want;
        return 0;
    }
    grown = realloc(f->fs, (f->nfs + 1) * sizeof *grown);
    if (grown == NULL) {
        errno = ENOMEM;
        return -1;
    }
    f->fs = grown;
    f->fs[f->nfs].fsid = fsid;
    f->fs[f->nfs++].mask = want;
    return 0;
}

/* Remembers where the root open at fd is in its parent, to hear of its
 * removal or rename.  Best effort: a root whose parent cannot be named
 * ends only with its watcher. */
static void
remember_root(ino_fan *f, int fd, int32_t wd)
{
    char link[64], real[PATH_MAX];
    const char *base;
    fan_root *grown, *r;
    uint64_t fsid;
    ssize_t n;
    long kl;
    int pfd;

    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, real, sizeof real - 1);
    if (n <= 1) {
        return; /* "/" has no parent */
    }
    real[n] = '\0';
    base = strrchr(real, '/') + 1;
    if (strlen(base) > NAME_MAX ||
        (grown = realloc(f->roots, (f->nroots + 1) * sizeof *grown)) == NULL) {
        return;
    }
    f->roots = grown;
    r = &f->roots[f->nroots];
    pfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        return;
    }
    kl = key_of_fd(pfd, r->key, &fsid);
    close(pfd);
    if (kl < 0) {
        return;
    }
    r->wd = wd;
    r->key_len = (uint32_t)kl;
    r->name_len = (uint32_t)strlen(base);
    memcpy(r->name, base, r->name_len + 1);
    f->nroots++;
}

static void
forget_root(ino_fan *f, int32_t wd)
{
    size_t i;

    for (i = 0; i < f->nroots; i++) {
        if (f->roots[i].wd == wd) {
            f->roots[i] = f->roots[--f->nroots];
            return;
        }
    }
}

/* A number no directory has. */
static int32_t
new_wd(ino_watcher *w)
{
    ino_fan *f = w->fan;

    do {
        f->next_wd = f->next_wd == INT32_MAX ? 1 : f->next_wd + 1;
    } while (ino_table_find(&w->table, f->next_wd) != NULL ||
             ino_nmap_get(&f->by_wd, (uintptr_t)f->next_wd, "", 0) != NULL);
    return f->next_wd;
}

/* ino_kwatch_add() of a fanotify watcher. */
static int
fan_add(ino_watcher *w, const char *path, uint32_t mask)
{
    ino_fan *f = w->fan;
    unsigned char key[FAN_KEY_MAX];
    uint32_t *copy;
    uint64_t fsid;
    long kl;
    int32_t wd;
    int fd, rc = 0, err;

    fd = open(path, O_PATH | O_CLOEXEC |
                        ((mask & IN_ONLYDIR) ? O_DIRECTORY : 0) |
                        ((mask & IN_DONT_FOLLOW) ? O_NOFOLLOW : 0));
    if (fd < 0) {
        return -1;
    }
    if ((kl = key_of_fd(fd, key, &fsid)) < 0) {
        goto fail;
    }
    /* A tree asks for its read bits once its first scan is done
     * (add_read_bits()): the mark gains them then. */
    if (mark_fs(w, path, fsid, mask & INO_EVENT_BITS) < 0) {
        goto fail;
    }
    wd = wd_of_key(f, key, (size_t)kl);
    if (f->expect_len > 0 && !(mask & IN_MASK_ADD)) {
        if (f->expect_len == (uint32_t)kl &&
            memcmp(f->expect, key, (size_t)kl) == 0) {
            f->expect_len = 0; /* that very directory */
        }
        else if (wd <= 0) {
            /* Another directory, made at the name after the one the
             * record tells of left it. */
            close(fd);
            errno = EIDRM;
            return -1;
        }
    }
    if (wd > 0) {
        close(fd);
        if (mask & IN_MASK_CREATE) {
            errno = EEXIST;
            return -1;
        }
        return wd;
    }
    wd = new_wd(w);
    copy = malloc(sizeof *copy + (size_t)kl);
    if (copy == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    *copy = (uint32_t)kl;
    memcpy(copy + 1, key, (size_t)kl);
    if ((rc = ino_nmap_put(&f->by_key, 1, (const char *)(copy + 1), (size_t)kl,
                           (void *)(intptr_t)wd, 0)) < 0 ||
        (rc = ino_nmap_put(&f->by_wd, (uintptr_t)wd, "", 0, copy, 0)) < 0) {
        ino_nmap_del(&f->by_key, 1, (const char *)key, (size_t)kl, 0);
        free(copy);
        errno = -rc;
        goto fail;
    }
    if (mask & IN_MASK_CREATE) {
        remember_root(f, fd, wd); /* a tree's root (tree_add_root()) */
    }
    close(fd);
    return wd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

int
ino_kwatch_add(ino_watcher *w, const char *path, uint32_t mask)
{
    if (w->fan == NULL) {
        return inotify_add_watch(w->fd, path, mask);
    }
    return fan_add(w, path, mask);
}

void
ino_fan_expect(ino_watcher *w, const char *key, size_t len)
{
    ino_fan *f = w->fan;

    if (f == NULL) {
        return;
    }
    if (len > sizeof f->expect) {
        len = 0; /* not a key of ours: nothing to check */
    }
    if (len > 0) {
        memcpy(f->expect, key, len);
    }
    f->expect_len = (uint32_t)len;
}

int
ino_kwatch_rm(ino_watcher *w, int32_t wd)
{
    ino_fan *f = w->fan;
    uint32_t *key;

    if (f == NULL) {
        return inotify_rm_watch(w->fd, wd);
    }
    key = ino_nmap_del(&f->by_wd, (uintptr_t)wd, "", 0, 0);
    if (key == NULL) {
        errno = EINVAL;
        return -1;
    }
    ino_nmap_del(&f->by_key, 1, (const char *)(key + 1), *key, 0);
    free(key);
    forget_root(f, wd);
    return 0;
}

int
ino_kwatch_ignored(ino_watcher *w, int32_t wd)
{
    if (w->fan == NULL) {
        return 0; /* the kernel queues it */
    }
    return ino_queue_push(&w->queue, wd, IN_IGNORED, 0, "", 0, NULL, 0);
}

/* ---- converting records ------------------------------------------------ */

/* Appends one record in inotify's layout at out + *len. */
static void
put(char *out, size_t *len, int32_t wd, uint32_t mask, uint32_t cookie,
    const char *name, size_t name_len)
{
    uint32_t field = name_len == 0 ? 0 : (uint32_t)((name_len + 4) & ~3u);
    uint32_t head[4] = {(uint32_t)wd, mask, cookie, field};

    memcpy(out + *len, head, sizeof head);
    *len += sizeof head;
    if (field > 0) {
        memset(out + *len, 0, field);
        memcpy(out + *len, name, name_len);
        *len += field;
    }
}

/* The key record of the directory the next record tells of. */
static void
put_key(char *out, size_t *len, int32_t wd, const unsigned char *key,
        size_t kl)
{
    if (kl > 0) {
        put(out, len, wd, INO_PRIV_KEY, (uint32_t)kl, (const char *)key, kl);
    }
}

/* 1 when the entry wd/name is on disk now.  fanotify merges a record into
 * an earlier one of the same directory and name still queued, losing
 * their order: what is there now says whether a CREATE came last. */
static int
exists_now(ino_watcher *w, int32_t wd, const char *name)
{
    const ino_entry *e = ino_table_find(&w->table, wd);
    char rel[INO_PATH_CAP], path[INO_PATH_CAP];
    struct stat st;
    long rl;

    if (e == NULL || e->node == NULL) {
        return 0;
    }
    rl = ino_node_path(e->node, name, strlen(name), rel);
    if (rl < 0 || ino_full_path(e->node->tree, rel, (size_t)rl, path) < 0) {
        return 0;
    }
    return lstat(path, &st) == 0;
}

/* The root whose parent has key and that has name, or NULL. */
static const fan_root *
root_at(const ino_fan *f, const unsigned char *key, size_t kl,
        const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < f->nroots; i++) {
        const fan_root *r = &f->roots[i];
        if (r->key_len == kl && memcmp(r->key, key, kl) == 0 &&
            r->name_len == len && memcmp(r->name, name, len) == 0) {
            return &f->roots[i];
        }
    }
    return NULL;
}

/* The number of the directory of the trees at parent/name, or 0. */
static int32_t
child_wd(ino_watcher *w, int32_t parent, const char *name, size_t len)
{
    const ino_entry *e = ino_table_find(&w->table, parent);
    ino_node *child;

    if (e == NULL || e->node == NULL || w->trees == NULL) {
        return 0;
    }
    child = ino_cmap_get(&w->trees->children, (uintptr_t)e->node, name, len);
    return child != NULL ? child->wd : 0;
}

/* 1 when an info record's header at p (4-byte aligned) frames a whole
 * record before end.  The kernel makes every info record's length a
 * multiple of 4 (FANOTIFY_EVENT_ALIGN): one that is not cannot be read
 * in place, and nothing after it is framed. */
static int
info_framed(const char *p, const char *end)
{
    struct fanotify_event_info_header h;

    memcpy(&h, p, sizeof h);
    return h.len >= sizeof h && h.len % 4u == 0 && h.len <= (size_t)(end - p);
}

/* The entry's own handle (FAN_EVENT_INFO_TYPE_FID, with
 * FAN_REPORT_TARGET_FID) of a record, as a key in key; its length, or 0
 * when the record has none. */
static size_t
target_of(const struct fanotify_event_metadata *m, unsigned char *key)
{
    const char *p = (const char *)m + m->metadata_len;
    const char *end = (const char *)m + m->event_len;
    const char *name;

    while (p + sizeof(struct fanotify_event_info_header) <= end) {
        const struct fanotify_event_info_header *h = (const void *)p;
        if (!info_framed(p, end)) {
            return 0;
        }
        if (h->info_type == FAN_EVENT_INFO_TYPE_FID) {
            return key_of_info((const void *)p, h->len, key, &name);
        }
        p += h->len;
    }
    return 0;
}

/* The number of the directory parent/name a record tells of: by its own
 * handle when the record has it and it is a directory of the trees (not
 * a root: those are heard by name, root_at()), else by the name. */
static int32_t
target_wd(ino_watcher *w, int32_t parent, const char *name, size_t len,
          const unsigned char *tkey, size_t tkl)
{
    if (tkl > 0) {
        int32_t wd = wd_of_key(w->fan, tkey, tkl);
        const ino_entry *e = wd > 0 ? ino_table_find(&w->table, wd) : NULL;
        if (e != NULL && e->node != NULL && e->node->parent != NULL) {
            return wd;
        }
    }
    return child_wd(w, parent, name, len);
}

/* 1 when the trees hold another directory at parent/name than the one a
 * record tells of by its handle (tkey): one that a scan found there after
 * this one had left (by the rename the record tells). */
static int
other_dir_there(ino_watcher *w, int32_t parent, const char *name, size_t len,
                const unsigned char *tkey, size_t tkl)
{
    int32_t there = tkl > 0 ? child_wd(w, parent, name, len) : 0;
    const uint32_t *key;

    if (there <= 0) {
        return 0;
    }
    key = ino_nmap_get(&w->fan->by_wd, (uintptr_t)there, "", 0);
    return key != NULL && (*key != tkl || memcmp(key + 1, tkey, tkl) != 0);
}

/* A directory's removal: inotify tells its IN_IGNORED before its parent's
 * DELETE, and the trees free its node at it (ino_rewrite.c). */
static void
put_dir_gone(ino_watcher *w, char *out, size_t *len, int32_t parent,
             const char *name, size_t name_len, const unsigned char *tkey,
             size_t tkl)
{
    int32_t child = target_wd(w, parent, name, name_len, tkey, tkl);

    if (child > 0) {
        put(out, len, child, IN_DELETE_SELF, 0, "", 0);
        put(out, len, child, IN_IGNORED, 0, "", 0);
    }
}

/* A record of one directory and name (FAN_REPORT_DFID_NAME). */
static void
convert_named(ino_watcher *w, uint32_t mask, int32_t wd, const char *name,
              size_t nl, const unsigned char *tkey, size_t tkl, char *out,
              size_t *len)
{
    uint32_t isdir = mask & FAN_ONDIR ? IN_ISDIR : 0;
    int created_last = 0;

    if (nl == 1 && name[0] == '.') {
        nl = 0; /* an event of the directory itself */
    }
    if ((mask & FAN_CREATE) && (mask & FAN_DELETE)) {
        created_last = nl > 0 && exists_now(w, wd, name);
    }
    if ((mask & FAN_CREATE) && !created_last) {
        if (isdir && !(mask & FAN_DELETE)) {
            /* (Merged with a DELETE, the handle is of one of the two.) */
            put_key(out, len, wd, tkey, tkl);
        }
        put(out, len, wd, IN_CREATE | isdir, 0, name, nl);
    }
    if (mask & FAN_DELETE) {
        if (isdir) {
            put_dir_gone(w, out, len, wd, name, nl,
                         (mask & FAN_CREATE) ? NULL : tkey,
                         (mask & FAN_CREATE) ? 0 : tkl);
        }
        put(out, len, wd, IN_DELETE | isdir, 0, name, nl);
    }
    if ((mask & FAN_CREATE) && created_last) {
        put(out, len, wd, IN_CREATE | isdir, 0, name, nl);
    }
    mask &= FAN_TREE_BITS & ~(uint32_t)(IN_CREATE | IN_DELETE);
    for (uint32_t bit = 1; mask != 0; bit <<= 1) {
        if (mask & bit) {
            put(out, len, wd, bit | isdir, 0, name, nl);
            mask &= ~bit;
        }
    }
}

/* The root's own removal or rename, heard in the directory that held it:
 * inotify's IN_DELETE_SELF (then IN_IGNORED), or IN_MOVE_SELF. */
static void
convert_root(const fan_root *r, uint32_t mask, char *out, size_t *len)
{
    if (mask & FAN_RENAME) {
        put(out, len, r->wd, IN_MOVE_SELF, 0, "", 0);
    }
    else {
        put(out, len, r->wd, IN_DELETE_SELF, 0, "", 0);
        put(out, len, r->wd, IN_IGNORED, 0, "", 0);
    }
}

/* 1 when name[0..len) can be an entry's name: a single path component,
 * neither empty nor "..", within NAME_MAX. */
static int
one_name(const char *name, size_t len)
{
    return len > 0 && len <= NAME_MAX && memchr(name, '/', len) == NULL &&
           !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* One kernel record into out + *len (room for FAN_OUT_MAX bytes). */
static void
convert(ino_watcher *w, const struct fanotify_event_metadata *m, char *out,
        size_t *len)
{
    ino_fan *f = w->fan;
    const char *p = (const char *)m + m->metadata_len;
    const char *end = (const char *)m + m->event_len;
    uint32_t isdir = m->mask & FAN_ONDIR ? IN_ISDIR : 0, cookie = 0;
    unsigned char tkey[FAN_KEY_MAX];
    size_t tkl;
    int32_t moved = 0;

    if (m->mask & FAN_Q_OVERFLOW) {
        put(out, len, -1, IN_Q_OVERFLOW, 0, "", 0);
        return;
    }
    if (m->metadata_len < sizeof *m || m->metadata_len % 4u != 0) {
        return; /* another layout than FANOTIFY_METADATA_VERSION's */
    }
    tkl = isdir ? target_of(m, tkey) : 0;
    while (p + sizeof(struct fanotify_event_info_header) <= end) {
        const struct fanotify_event_info_header *h = (const void *)p;
        unsigned char key[FAN_KEY_MAX];
        const char *name = "";
        size_t kl, nl;
        int32_t wd;

        if (!info_framed(p, end)) {
            return; /* malformed: nothing more is framed */
        }
        if (h->info_type == FAN_EVENT_INFO_TYPE_FID) {
            p += h->len; /* the entry's own handle: tkey; no name */
            continue;
        }
        kl = key_of_info((const void *)p, h->len, key, &name);
        p += h->len;
        if (kl == 0) {
            continue;
        }
        if (h->info_type == FAN_EVENT_INFO_TYPE_DFID) {
            name = ".";
            nl = 1;
        }
        else if ((nl = strnlen(name, (size_t)(p - name))) ==
                     (size_t)(p - name) ||
                 !one_name(name, nl)) {
            continue; /* no NUL inside the record, or not a name */
        }
        if ((m->mask & (FAN_DELETE | FAN_RENAME)) && isdir &&
            h->info_type != FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
            const fan_root *r = root_at(f, key, kl, name, nl);
            if (r != NULL) {
                convert_root(r, m->mask, out, len);
            }
        }
        if ((wd = wd_of_key(f, key, kl)) <= 0) {
            continue; /* outside every tree */
        }
        if (h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
            h->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
            int from = h->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME;
            if (nl == 1 && name[0] == '.') {
                continue; /* a rename names entries, never "." */
            }
            if (cookie == 0) {
                f->cookie = (f->cookie + 1) & 0x7fffffffu;
                cookie = f->cookie == 0 ? (f->cookie = 1) : f->cookie;
            }
            if (from && isdir && other_dir_there(w, wd, name, nl, tkey, tkl)) {
                /* What the trees hold there stays: the rename took one
                 * they never held, and its MOVED_TO alone brings it. */
                continue;
            }
            if (from && isdir) {
                moved = target_wd(w, wd, name, nl, tkey, tkl);
            }
            if (!from) {
                put_key(out, len, wd, tkey, tkl);
            }
            put(out, len, wd, (from ? IN_MOVED_FROM : IN_MOVED_TO) | isdir,
                cookie, name, nl);
            continue;
        }
        if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
            h->info_type == FAN_EVENT_INFO_TYPE_DFID) {
            convert_named(w, m->mask & ~(uint32_t)FAN_RENAME, wd, name, nl,
                          tkey, tkl, out, len);
        }
    }
    /* inotify queues a renamed directory's IN_MOVE_SELF after the pair:
     * without its MOVED_TO, the trees unwatch it at once (it left them),
     * so that what it does next is not reported. */
    if (moved > 0) {
        put(out, len, moved, IN_MOVE_SELF, 0, "", 0);
    }
}

long
ino_fan_read(ino_watcher *w, char *out, size_t room)
{
    ino_fan *f = w->fan;
    size_t len = 0;
    long n;

    for (;;) {
        if (f->in_pos == f->in_len) {
            if (len > 0) {
                return (long)len;
            }
            /* Every record read so far was outside the trees: read on. */
            f->in_pos = f->in_len = 0;
            if ((n = ino_read_fd(w->fd, f->in, FAN_IN_SIZE)) <= 0) {
                return n < 0 ? n : -EAGAIN;
            }
            f->in_len = (size_t)n;
        }
        /* One kernel record at a time, rewritten before the next is
         * converted: converting looks at the trees (the directory a
         * rename or removal names), which the records before it change.
         * room is not looked at: the callers' buffers hold
         * INO_READ_BUF_SIZE bytes, more than one record ever makes. */
        (void)room;
        while (f->in_pos < f->in_len && len == 0) {
            /* The kernel aligns its records to 4 bytes, and the metadata
             * holds a 64-bit mask: each record is copied to an aligned
             * place before it is read. */
            union {
                struct fanotify_event_metadata m;
                char bytes[FAN_RECORD_MAX];
            } rec;
            const struct fanotify_event_metadata *m = &rec.m;
            size_t left = f->in_len - f->in_pos;
            if (left >= sizeof *m) {
                memcpy(&rec.m, f->in + f->in_pos, sizeof *m);
            }
            if (left < sizeof *m || m->event_len < sizeof *m ||
                m->event_len > left || m->event_len > sizeof rec ||
                m->metadata_len > m->event_len) {
                f->in_pos = f->in_len = 0; /* cannot be framed: dropped */
                return len > 0 ? (long)len : -EBADMSG;
            }
            memcpy(rec.bytes, f->in + f->in_pos, m->event_len);
            /* In FID mode the kernel opens no descriptor for a record
             * (fd is FAN_NOFD): a record with one is not of this group,
             * and its number is not closed (it may be another's). */
            if (m->vers == FANOTIFY_METADATA_VERSION && m->fd == FAN_NOFD) {
                convert(w, m, out, &len);
            }
            f->in_pos += m->event_len;
        }
        if (len > 0 && f->in_pos < f->in_len) {
            return (long)len;
        }
    }
}

long
ino_kernel_read(ino_watcher *w, char *buf, size_t room)
{
    if (w->fan != NULL) {
        return ino_fan_read(w, buf, room);
    }
    return ino_read_fd(w->fd, buf, room);
}
