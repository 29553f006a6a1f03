/*
 * ino_state.c: a tree's index saved to a file, and a tree started from
 * one, so that a program that was not running hears what changed
 * meanwhile.  docs/state-format.md describes the file.
 *
 * Saving writes every directory of the tree, with the device and inode
 * the kernel watches (read from /proc/self/fdinfo, so a path that a
 * rename not read yet made stale cannot mislead), and every entry of the
 * nodes' file tables, to a temporary file in the target's directory;
 * syncs it, renames it over the target and syncs the directory: a reader
 * finds the old file or the new one, whole, never a part.
 *
 * Loading checks the whole file before anything is built from it: magic,
 * version, length, CRC-32, then each record (bounds, names, parents
 * before children, no name twice in a directory), so that a file that is
 * corrupt, cut short or made by hand is an error and never a wrong diff.
 * A tree started from it (ino_add_tree_since()) watches its root, builds
 * its nodes and file tables from the file instead of a scan, and is then
 * healed (ino_heal.c): what differs from the disk is what changed while
 * nobody watched, told as the heal after an overflow tells it.  The
 * loaded directories are not watched: each holds a negative wd, its place
 * among the tree's loaded directories, until the heal watches a directory
 * of the same device and inode (ino_since_adopt(), where a watch returns
 * a wd the table lacks) and gives that node the watch, so that one met
 * under another name is a move, as a directory whose wd the heal meets
 * elsewhere is after an overflow.  Loaded directories the heal does not
 * meet are gone, with all they held.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "ino_trees.h"

/* ---- the format (docs/state-format.md) --------------------------------- */

#define MAGIC "INOSTATE"
#define MAGIC_LEN 8u
/* The header: magic, version, header length, trees, flags, payload
 * length. */
#define HEADER_LEN 32u
#define TREE_LEN 32u     /* a tree's fixed part, before its root path */
#define DIR_MIN 27u      /* a directory record without handle and name */
#define HANDLE_MAX 128u  /* the longest file handle (MAX_HANDLE_SZ) */
#define FILE_MIN 32u     /* a file record without its name */
#define CRC_LEN 4u
#define NO_PARENT 0xFFFFFFFFu
#define FLAG_STALE 1u    /* a file record: changed since it was read */
#define TREE_FOLLOW 1u   /* a tree: it followed links to directories */
#define ROOT_MAX 4096u   /* the longest root path a file holds */

/* CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320), four bits
 * at a time: a table of 16 constants. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

static uint32_t
crc32_of(const unsigned char *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;

    for (i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return crc ^ 0xFFFFFFFFu;
}

/* Little-endian fields, whatever the machine. */
static uint64_t
get_le(const unsigned char *p, unsigned bytes)
{
    uint64_t v = 0;
    unsigned i;

    for (i = bytes; i > 0; i--) {
        v = (v << 8) | p[i - 1];
    }
    return v;
}

static void
put_le(unsigned char *p, uint64_t v, unsigned bytes)
{
    unsigned i;

    for (i = 0; i < bytes; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* ---- what a loaded file holds ------------------------------------------ */

/* Who a directory is: a new directory may get the inode number of one
 * removed, but not its file handle, whose generation tells them apart
 * (where the file system gives handles). */
typedef struct dir_id {
    uint64_t dev;      /* st_dev, as stat() gives it */
    uint64_t ino;      /* st_ino, 0 when not known */
    int32_t handle_type;
    uint8_t handle_len; /* 0: no handle known */
    unsigned char handle[HANDLE_MAX];
} dir_id;

typedef struct state_dir {
    uint32_t parent;  /* index of its parent record, NO_PARENT: the root */
    uint16_t name_len;
    dir_id id;
    const char *name; /* into the state's buffer, not NUL-terminated */
} state_dir;

typedef struct state_file {
    uint32_t dir;     /* index of its directory record */
    uint16_t name_len;
    ino_fattr attr;
    const char *name; /* into the state's buffer */
} state_file;

typedef struct state_tree {
    const char *root; /* the root's path when saved (for messages) */
    uint32_t root_len;
    uint32_t ndirs;   /* records in dirs, the root's first */
    uint64_t nfiles;  /* records in files */
    state_dir *dirs;
    state_file *files;
} state_tree;

struct ino_state {
    unsigned char *buf; /* the file's bytes, which names point into */
    size_t len;
    uint32_t ntrees;
    state_tree *trees;
};

static int fail(ino_state_error *err, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(ino_state_error *err, int reason, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL) {
        err->reason = reason;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

void
ino_state_free(ino_state *st)
{
    uint32_t i;

    if (st == NULL) {
        return;
    }
    for (i = 0; i < st->ntrees; i++) {
        free(st->trees[i].dirs);
        free(st->trees[i].files);
    }
    free(st->trees);
    free(st->buf);
    free(st);
}

size_t
ino_state_trees(const ino_state *st)
{
    return st->ntrees;
}

/* ---- parsing ------------------------------------------------------------ */

/* A cursor over the payload; every read is bounds-checked. */
typedef struct reader {
    const unsigned char *p;
    size_t left;
} reader;

static int
take(reader *r, size_t n, const unsigned char **out)
{
    if (r->left < n) {
        return -1;
    }
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

/* A name as a directory may hold it: 1 to 255 bytes, no '/' nor NUL, not
 * "." nor "..". */
static int
name_ok(const char *name, size_t len)
{
    if (len == 0 || len > NAME_MAX || memchr(name, '/', len) != NULL ||
        memchr(name, '\0', len) != NULL) {
        return 0;
    }
    return !(len == 1 && name[0] == '.') &&
           !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* Checks that no directory holds a name twice (a directory and a file
 * included), with each directory's path length: what a tree built from it
 * could not hold otherwise. */
static int
check_names(const state_tree *t, size_t tree_no, ino_state_error *err)
{
    ino_nmap names;
    size_t *plen = malloc(t->ndirs * sizeof *plen);
    uint64_t i;
    int rc = 0;

    if (plen == NULL) {
        return -ENOMEM;
    }
    ino_nmap_init(&names);
    plen[0] = 0;
    for (i = 1; rc == 0 && i < t->ndirs; i++) {
        const state_dir *d = &t->dirs[i];
        plen[i] = plen[d->parent] + (plen[d->parent] ? 1 : 0) + d->name_len;
        if (plen[i] >= INO_PATH_CAP) {
            rc = fail(err, INO_STATE_CORRUPT,
                      "tree %zu: directory %" PRIu64 " has a path too long",
                      tree_no, i);
        }
        else if (ino_nmap_get(&names, d->parent + 1u, d->name, d->name_len)) {
            rc = fail(err, INO_STATE_CORRUPT,
                      "tree %zu: a directory holds the name of directory "
                      "%" PRIu64 " twice",
                      tree_no, i);
        }
        else if (ino_nmap_put(&names, d->parent + 1u, d->name, d->name_len,
                              (void *)1, 0) < 0) {
            rc = -ENOMEM;
        }
    }
    for (i = 0; rc == 0 && i < t->nfiles; i++) {
        const state_file *f = &t->files[i];
        if (plen[f->dir] + 1 + f->name_len >= INO_PATH_CAP) {
            rc = fail(err, INO_STATE_CORRUPT,
                      "tree %zu: entry %" PRIu64 " has a path too long",
                      tree_no, i);
        }
        else if (ino_nmap_get(&names, f->dir + 1u, f->name, f->name_len)) {
            rc = fail(err, INO_STATE_CORRUPT,
                      "tree %zu: a directory holds the name of entry "
                      "%" PRIu64 " twice",
                      tree_no, i);
        }
        else if (ino_nmap_put(&names, f->dir + 1u, f->name, f->name_len,
                              (void *)1, 0) < 0) {
            rc = -ENOMEM;
        }
    }
    ino_nmap_free(&names, 0);
    free(plen);
    return rc;
}

static int
parse_dirs(reader *r, state_tree *t, size_t tree_no, ino_state_error *err)
{
    const unsigned char *p;
    uint32_t i;

    for (i = 0; i < t->ndirs; i++) {
        state_dir *d = &t->dirs[i];
        if (take(r, DIR_MIN, &p) < 0) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: directory %u runs past the end", tree_no,
                        i);
        }
        d->parent = (uint32_t)get_le(p, 4);
        d->id.dev = get_le(p + 4, 8);
        d->id.ino = get_le(p + 12, 8);
        d->id.handle_type = (int32_t)get_le(p + 20, 4);
        d->id.handle_len = p[24];
        d->name_len = (uint16_t)get_le(p + 25, 2);
        if (d->id.handle_len > HANDLE_MAX ||
            take(r, d->id.handle_len, &p) < 0) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: directory %u has a bad handle", tree_no, i);
        }
        memcpy(d->id.handle, p, d->id.handle_len);
        if (take(r, d->name_len, &p) < 0) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: directory %u runs past the end", tree_no,
                        i);
        }
        d->name = (const char *)p;
        if (i == 0 ? (d->parent != NO_PARENT || d->name_len != 0)
                   : (d->parent >= i || !name_ok(d->name, d->name_len))) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: directory %u is malformed (its parent or "
                        "its name)",
                        tree_no, i);
        }
    }
    return 0;
}

static int
parse_files(reader *r, state_tree *t, size_t tree_no, ino_state_error *err)
{
    const unsigned char *p;
    uint64_t i;
    unsigned flags;

    for (i = 0; i < t->nfiles; i++) {
        state_file *f = &t->files[i];
        if (take(r, FILE_MIN, &p) < 0) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: entry %" PRIu64 " runs past the end",
                        tree_no, i);
        }
        f->dir = (uint32_t)get_le(p, 4);
        f->attr.ino = get_le(p + 4, 8);
        f->attr.size = (int64_t)get_le(p + 12, 8);
        f->attr.mtime_ns = (int64_t)get_le(p + 20, 8);
        f->attr.type = p[28];
        flags = p[29];
        f->attr.stale = (flags & FLAG_STALE) != 0;
        f->name_len = (uint16_t)get_le(p + 30, 2);
        if (take(r, f->name_len, &p) < 0) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: entry %" PRIu64 " runs past the end",
                        tree_no, i);
        }
        f->name = (const char *)p;
        if (f->dir >= t->ndirs || f->attr.type > INO_FT_OTHER ||
            (flags & ~FLAG_STALE) != 0 || f->attr.size < -1 ||
            !name_ok(f->name, f->name_len)) {
            return fail(err, INO_STATE_CORRUPT,
                        "tree %zu: entry %" PRIu64
                        " is malformed (its directory, type, flags, size or "
                        "name)",
                        tree_no, i);
        }
    }
    return 0;
}

static int
parse_tree(reader *r, state_tree *t, size_t tree_no, ino_state_error *err)
{
    const unsigned char *p;
    int rc;

    if (take(r, TREE_LEN, &p) < 0) {
        return fail(err, INO_STATE_CORRUPT, "tree %zu runs past the end",
                    tree_no);
    }
    t->root_len = (uint32_t)get_le(p, 4);
    t->ndirs = (uint32_t)get_le(p + 4, 4);
    t->nfiles = get_le(p + 8, 8);
    /* Counts no longer than the rest of the payload could hold: nothing
     * is allocated for records that are not there. */
    if (t->root_len == 0 || t->root_len > ROOT_MAX || t->ndirs == 0 ||
        t->ndirs > r->left / DIR_MIN ||
        t->nfiles > (r->left - (uint64_t)t->ndirs * DIR_MIN) / FILE_MIN ||
        (get_le(p + 24, 4) & ~(uint64_t)TREE_FOLLOW) != 0 ||
        get_le(p + 28, 4) != 0 || take(r, t->root_len, &p) < 0) {
        return fail(err, INO_STATE_CORRUPT,
                    "tree %zu: its counts or its root path are wrong",
                    tree_no);
    }
    t->root = (const char *)p;
    if (memchr(t->root, '\0', t->root_len) != NULL) {
        return fail(err, INO_STATE_CORRUPT,
                    "tree %zu: its root path holds a NUL", tree_no);
    }
    t->dirs = calloc(t->ndirs, sizeof *t->dirs);
    t->files = calloc(t->nfiles ? (size_t)t->nfiles : 1, sizeof *t->files);
    if (t->dirs == NULL || t->files == NULL) {
        return -ENOMEM;
    }
    if ((rc = parse_dirs(r, t, tree_no, err)) < 0 ||
        (rc = parse_files(r, t, tree_no, err)) < 0) {
        return rc;
    }
    return check_names(t, tree_no, err);
}

/* The header and the checksum; the payload's bounds into *r. */
static int
parse_header(const unsigned char *b, size_t len, uint32_t *ntrees, reader *r,
             ino_state_error *err)
{
    uint64_t version, header_len, payload;

    if (len < MAGIC_LEN || memcmp(b, MAGIC, MAGIC_LEN) != 0) {
        return fail(err, INO_STATE_NOT_STATE,
                    "not an inotipy state file (no INOSTATE magic)");
    }
    if (len < MAGIC_LEN + 4) {
        return fail(err, INO_STATE_TRUNCATED,
                    "cut short: %zu bytes, not even a header", len);
    }
    version = get_le(b + 8, 4);
    if (version > INO_STATE_VERSION) {
        return fail(err, INO_STATE_TOO_NEW,
                    "version %" PRIu64
                    ", newer than this inotipy reads (up "
                    "to %u)",
                    version, INO_STATE_VERSION);
    }
    if (version == 0) {
        return fail(err, INO_STATE_CORRUPT, "version 0 does not exist");
    }
    if (len < HEADER_LEN + CRC_LEN) {
        return fail(err, INO_STATE_TRUNCATED,
                    "cut short: %zu bytes, not even a header", len);
    }
    header_len = get_le(b + 12, 4);
    payload = get_le(b + 24, 8);
    if (header_len != HEADER_LEN || get_le(b + 20, 4) != 0) {
        return fail(err, INO_STATE_CORRUPT, "the header is malformed");
    }
    if (payload > len - HEADER_LEN - CRC_LEN) {
        return fail(err, INO_STATE_TRUNCATED,
                    "cut short: %zu bytes, the header says %" PRIu64, len,
                    payload + HEADER_LEN + CRC_LEN);
    }
    if (payload < len - HEADER_LEN - CRC_LEN) {
        return fail(err, INO_STATE_CORRUPT,
                    "%zu bytes, longer than the header says (%" PRIu64 ")",
                    len, payload + HEADER_LEN + CRC_LEN);
    }
    if (crc32_of(b, len - CRC_LEN) != (uint32_t)get_le(b + len - CRC_LEN, 4)) {
        return fail(err, INO_STATE_CORRUPT,
                    "the checksum does not match: the file was changed or "
                    "damaged");
    }
    *ntrees = (uint32_t)get_le(b + 16, 4);
    r->p = b + HEADER_LEN;
    r->left = (size_t)payload;
    if (*ntrees == 0 || *ntrees > r->left / (TREE_LEN + DIR_MIN)) {
        return fail(err, INO_STATE_CORRUPT, "the count of trees is wrong");
    }
    return 0;
}

int
ino_state_parse(const void *buf, size_t len, ino_state **out,
                ino_state_error *err)
{
    ino_state *st = calloc(1, sizeof *st);
    uint32_t ntrees = 0, i;
    reader r = {NULL, 0};
    int rc;

    *out = NULL;
    if (err != NULL) {
        err->reason = INO_STATE_OK;
        err->detail[0] = '\0';
    }
    if (st == NULL || (st->buf = malloc(len ? len : 1)) == NULL) {
        free(st);
        return -ENOMEM;
    }
    if (len > 0) {
        memcpy(st->buf, buf, len);
    }
    st->len = len;
    rc = parse_header(st->buf, len, &ntrees, &r, err);
    if (rc == 0 && (st->trees = calloc(ntrees, sizeof *st->trees)) == NULL) {
        rc = -ENOMEM;
    }
    for (i = 0; rc == 0 && i < ntrees; i++) {
        st->ntrees = i + 1;
        rc = parse_tree(&r, &st->trees[i], i, err);
    }
    if (rc == 0 && r.left != 0) {
        rc = fail(err, INO_STATE_CORRUPT, "%zu bytes after the last tree",
                  r.left);
    }
    if (rc < 0) {
        ino_state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int
ino_state_load(const char *path, ino_state **out, ino_state_error *err)
{
    /* O_NONBLOCK: a fifo given as the file must not block the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc;
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    struct stat sb;
    ssize_t n;

    *out = NULL;
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &sb) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        if (S_ISDIR(sb.st_mode)) {
            return -EISDIR;
        }
        return fail(err, INO_STATE_NOT_STATE,
                    "not a state file: not a regular file (a fifo, a socket "
                    "or a device)");
    }
    for (;;) {
        if (len == cap) {
            size_t grown_cap = cap ? cap * 2 : 65536;
            unsigned char *grown = realloc(buf, grown_cap);
            if (grown == NULL) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = grown;
            cap = grown_cap;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc == 0) {
        rc = ino_state_parse(buf, len, out, err);
    }
    free(buf);
    return rc;
}

/* ---- loaded directories and the heal ------------------------------------ */

typedef struct since_item {
    dir_id id; /* what the file said of it */
    ino_node *node; /* NULL once watched or freed */
} since_item;

struct ino_since {
    since_item *items; /* item i is the node of wd -(i + 1) */
    size_t nitems;
    size_t left; /* items whose node is not watched yet */
    uint32_t *by_ino; /* open addressing: item index + 1, 0 free */
    size_t cap; /* slots in by_ino, a power of two */
};

static size_t
ino_home(const ino_since *s, uint64_t dev, uint64_t ino)
{
    uint64_t h = (ino ^ (dev * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;

    return (size_t)(h >> 20) & (s->cap - 1);
}

static since_item *
since_find(const ino_since *s, uint64_t dev, uint64_t ino)
{
    size_t i;

    for (i = ino_home(s, dev, ino); s->by_ino[i] != 0;
         i = (i + 1) & (s->cap - 1)) {
        since_item *it = &s->items[s->by_ino[i] - 1];
        if (it->node != NULL && it->id.ino == ino && it->id.dev == dev) {
            return it;
        }
    }
    return NULL;
}

/* 0 when path's file handle shows another directory than id's (the same
 * inode number used again); 1 when it is the same, or cannot tell. */
static int
same_handle(const dir_id *id, const char *path, int follow)
{
    union {
        struct file_handle fh;
        unsigned char bytes[sizeof(struct file_handle) + HANDLE_MAX];
    } h;
    int mount_id;

    if (id->handle_len == 0) {
        return 1;
    }
    h.fh.handle_bytes = HANDLE_MAX;
    if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id,
                          follow ? AT_SYMLINK_FOLLOW : 0) < 0) {
        return 1;
    }
    return h.fh.handle_type == id->handle_type &&
           h.fh.handle_bytes == id->handle_len &&
           memcmp(h.fh.f_handle, id->handle, id->handle_len) == 0;
}

static size_t
item_of(int32_t wd)
{
    return (size_t)(-(int64_t)wd) - 1;
}

int
ino_since_adopt(ino_watcher *w, ino_tree *t, const char *path, int32_t wd,
                ino_entry **out)
{
    ino_since *s = t->since;
    since_item *it;
    struct stat sb;
    ino_node *n;
    int rc;

    *out = NULL;
    /* Only a heal adopts: it is the one diff, and tells a move. */
    if (s == NULL || s->left == 0 || !w->trees->healing ||
        stat(path, &sb) < 0 ||
        (it = since_find(s, (uint64_t)sb.st_dev, (uint64_t)sb.st_ino)) ==
            NULL) {
        return 0;
    }
    if (!same_handle(&it->id, path, t->follow)) {
        return 0; /* its inode number, taken again by a new directory */
    }
    n = it->node;
    if ((rc = ino_table_insert(&w->table, wd, out)) < 0) {
        return rc;
    }
    (*out)->mask = t->watch_mask;
    (*out)->node = n;
    n->wd = wd;
    it->node = NULL;
    s->left--;
    return 1;
}

int
ino_since_holds(const ino_watcher *w, int32_t wd, const ino_node *n)
{
    const ino_tree *t;
    size_t i = item_of(wd);

    for (t = w->trees->list; t != NULL; t = t->next) {
        if (t->since != NULL && i < t->since->nitems &&
            t->since->items[i].node == n) {
            return 1;
        }
    }
    return 0;
}

void
ino_since_node_gone(ino_node *n)
{
    ino_since *s = n->tree->since;
    size_t i = item_of(n->wd);

    if (s != NULL && i < s->nitems && s->items[i].node == n) {
        s->items[i].node = NULL;
        s->left--;
    }
}

void
ino_since_unsee(ino_tree *t)
{
    size_t i;

    for (i = 0; i < t->since->nitems; i++) {
        if (t->since->items[i].node != NULL) {
            t->since->items[i].node->seen = 0;
        }
    }
}

void
ino_since_free(ino_tree *t)
{
    ino_since *s = t->since;

    if (s == NULL) {
        return;
    }
    free(s->items);
    free(s->by_ino);
    free(s);
    t->since = NULL;
}

/* What fill_from_state() works from. */
typedef struct since_arg {
    const ino_state *st;
    ino_state_error *err;
} since_arg;

/* The tree of the state whose root is (dev, ino), or NULL with *err
 * saying what the state holds instead. */
static const state_tree *
pick_tree(const ino_state *st, const ino_tree *t, ino_state_error *err)
{
    struct stat sb;
    uint32_t i;

    if (stat(t->root_path, &sb) < 0) {
        fail(err, INO_STATE_FOREIGN, "the root cannot be read: %s",
             strerror(errno));
        return NULL;
    }
    for (i = 0; i < st->ntrees; i++) {
        const dir_id *root = &st->trees[i].dirs[0].id;
        if (root->dev == (uint64_t)sb.st_dev &&
            root->ino == (uint64_t)sb.st_ino &&
            same_handle(root, t->root_path, 1)) {
            return &st->trees[i];
        }
    }
    for (i = 0; i < st->ntrees; i++) {
        const state_tree *s = &st->trees[i];
        if (s->dirs[0].id.ino == (uint64_t)sb.st_ino ||
            (s->root_len == t->root_len &&
             memcmp(s->root, t->root_path, s->root_len) == 0)) {
            if (s->dirs[0].id.dev != (uint64_t)sb.st_dev) {
                fail(err, INO_STATE_OTHER_FS,
                     "its tree %.*s was on device %u:%u, this root is on "
                     "%u:%u (another file system, or the same mounted "
                     "again)",
                     (int)s->root_len, s->root,
                     major((dev_t)s->dirs[0].id.dev),
                     minor((dev_t)s->dirs[0].id.dev), major(sb.st_dev),
                     minor(sb.st_dev));
                return NULL;
            }
            fail(err, INO_STATE_FOREIGN,
                 "its tree %.*s had root inode %" PRIu64
                 ", this root is inode %" PRIu64
                 " (or the same number, of a directory made again): "
                 "another directory",
                 (int)s->root_len, s->root, s->dirs[0].id.ino,
                 (uint64_t)sb.st_ino);
            return NULL;
        }
    }
    fail(err, INO_STATE_FOREIGN,
         "it holds no tree of this root (device %u:%u, inode %" PRIu64
         "); its first is %.*s",
         major(sb.st_dev), minor(sb.st_dev), (uint64_t)sb.st_ino,
         (int)st->trees[0].root_len, st->trees[0].root);
    return NULL;
}

static int
since_new(ino_tree *t, uint32_t ndirs)
{
    ino_since *s = calloc(1, sizeof *s);

    if (s == NULL) {
        return -ENOMEM;
    }
    t->since = s;
    for (s->cap = 16; s->cap < (size_t)ndirs * 2; s->cap *= 2) {
    }
    s->items = calloc(ndirs, sizeof *s->items);
    s->by_ino = calloc(s->cap, sizeof *s->by_ino);
    return s->items == NULL || s->by_ino == NULL ? -ENOMEM : 0;
}

/* Makes the loaded directory d (record i) a node under parent, not
 * watched: wd -(item + 1). */
static int
load_dir(ino_watcher *w, ino_tree *t, const state_dir *d, ino_node *parent,
         ino_node **out)
{
    ino_since *s = t->since;
    size_t item = s->nitems, h;
    ino_node *n = ino_node_new(t, d->name, d->name_len, -(int32_t)item - 1);

    if (n == NULL || ino_node_reserve(w) < 0) {
        free(n);
        return -ENOMEM;
    }
    ino_node_link(w, n, parent);
    t->ndirs++;
    s->items[item].id = d->id;
    s->items[item].node = n;
    s->nitems++;
    s->left++;
    if (d->id.ino != 0) {
        for (h = ino_home(s, d->id.dev, d->id.ino); s->by_ino[h] != 0;
             h = (h + 1) & (s->cap - 1)) {
        }
        s->by_ino[h] = (uint32_t)item + 1;
    }
    *out = n;
    return 0;
}

/* 1 when the tree now excludes name (len bytes, not NUL-terminated). */
static int
excluded_now(const ino_tree *t, const char *name, size_t len)
{
    char buf[NAME_MAX + 1];

    if (t->nexclude == 0) {
        return 0;
    }
    memcpy(buf, name, len); /* len <= NAME_MAX: parse checked it */
    buf[len] = '\0';
    return ino_excluded(t, buf);
}

/* Builds the tree's nodes and file tables from the state.  What the tree
 * now excludes (its excludes may differ from the saved tree's) is left
 * out with all below it, as a scan leaves it out: never reported. */
static int
load_tree(ino_watcher *w, ino_tree *t, const state_tree *s)
{
    ino_node **nodes = malloc(s->ndirs * sizeof *nodes);
    uint64_t i;
    int rc = nodes == NULL ? -ENOMEM : since_new(t, s->ndirs);

    if (rc == 0) {
        nodes[0] = t->root;
    }
    for (i = 1; rc == 0 && i < s->ndirs; i++) {
        const state_dir *d = &s->dirs[i];
        nodes[i] = NULL;
        if (nodes[d->parent] != NULL &&
            !excluded_now(t, d->name, d->name_len)) {
            rc = load_dir(w, t, d, nodes[d->parent], &nodes[i]);
        }
    }
    for (i = 0; rc == 0 && i < s->nfiles; i++) {
        const state_file *f = &s->files[i];
        if (nodes[f->dir] == NULL || excluded_now(t, f->name, f->name_len)) {
            continue;
        }
        if (ino_node_file_put(nodes[f->dir], f->name, f->name_len, &f->attr) <
            0) {
            rc = -ENOMEM;
        }
    }
    free(nodes);
    return rc;
}

/* ino_tree_add_with()'s fill: the index from the state, then a heal. */
static int
fill_from_state(ino_watcher *w, ino_tree *t, void *arg)
{
    since_arg *a = arg;
    const state_tree *s = pick_tree(a->st, t, a->err);
    int rc;

    if (s == NULL) {
        return -EBADMSG;
    }
    if ((rc = load_tree(w, t, s)) < 0 || (rc = ino_heal_tree(w, t)) < 0) {
        return rc;
    }
    if (t->since->left == 0) {
        ino_since_free(t);
    }
    return 0;
}

int
ino_add_tree_since(ino_watcher *w, const char *path, uint32_t mask,
                   const char *const *exclude, size_t nexclude, int flags,
                   const ino_state *st, ino_state_error *err, ino_entry **out,
                   size_t *in_use)
{
    since_arg a = {st, err};

    if (err != NULL) {
        err->reason = INO_STATE_OK;
        err->detail[0] = '\0';
    }
    if (flags & INO_TREE_NO_FILES) {
        return -EINVAL;
    }
    return ino_tree_add_with(w, path, mask, exclude, nexclude, flags,
                             fill_from_state, &a, out, in_use);
}

/* ---- saving ------------------------------------------------------------- */

/* A growing buffer; err is set once it could not grow. */
typedef struct sbuf {
    unsigned char *p;
    size_t len;
    size_t cap;
    int err;
} sbuf;

static unsigned char *
room(sbuf *b, size_t n)
{
    if (b->err) {
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        unsigned char *grown;
        while (cap < b->len + n) {
            cap *= 2;
        }
        if ((grown = realloc(b->p, cap)) == NULL) {
            b->err = -ENOMEM;
            return NULL;
        }
        b->p = grown;
        b->cap = cap;
    }
    b->len += n;
    return b->p + b->len - n;
}

static void
put_bytes(sbuf *b, const void *src, size_t n)
{
    unsigned char *p = room(b, n);

    if (p != NULL && n > 0) {
        memcpy(p, src, n);
    }
}

/* Who each watch's directory is, from the kernel's own list. */
typedef struct watch_id {
    int32_t wd;
    dir_id id;
} watch_id;

typedef struct watch_ids {
    watch_id *v;
    size_t n;
} watch_ids;

static int
by_wd(const void *a, const void *b)
{
    int32_t x = ((const watch_id *)a)->wd, y = ((const watch_id *)b)->wd;

    return x < y ? -1 : x > y;
}

/* The file handle of an fdinfo line ("fhandle-bytes:%x fhandle-type:%x
 * f_handle:HEX"), if it has one. */
static void
parse_handle(const char *line, dir_id *id)
{
    const char *at = strstr(line, "fhandle-bytes:");
    unsigned bytes, type, i, byte;

    id->handle_len = 0;
    if (at == NULL ||
        sscanf(at, "fhandle-bytes:%x fhandle-type:%x", &bytes, &type) != 2 ||
        bytes == 0 || bytes > HANDLE_MAX ||
        (at = strstr(at, "f_handle:")) == NULL) {
        return;
    }
    at += strlen("f_handle:");
    for (i = 0; i < bytes; i++) {
        if (sscanf(at + 2 * i, "%2x", &byte) != 1) {
            return;
        }
        id->handle[i] = (unsigned char)byte;
    }
    id->handle_type = (int32_t)type;
    id->handle_len = (uint8_t)bytes;
}

/* Reads /proc/self/fdinfo/FD: "inotify wd:%x ino:%lx sdev:%x ..." a line
 * per watch, sdev being the kernel's dev_t (major << 20 | minor), then
 * the file handle. */
static int
read_watch_ids(int fd, watch_ids *ids)
{
    char path[64];
    sbuf b = {NULL, 0, 0, 0};
    size_t cap = 0;
    char *line, *next;
    int in;

    ids->v = NULL;
    ids->n = 0;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        return -errno;
    }
    for (;;) {
        unsigned char *p = room(&b, 65536);
        ssize_t n;
        if (p == NULL) {
            break;
        }
        n = read(in, p, 65536);
        if (n < 0 && errno == EINTR) {
            n = 0;
        }
        b.len -= 65536 - (size_t)(n > 0 ? n : 0);
        if (n <= 0) {
            break;
        }
    }
    close(in);
    put_bytes(&b, "", 1);
    if (b.err) {
        free(b.p);
        return b.err;
    }
    for (line = (char *)b.p; line != NULL; line = next) {
        unsigned wd, sdev;
        unsigned long long ino;
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (sscanf(line, "inotify wd:%x ino:%llx sdev:%x", &wd, &ino, &sdev) !=
            3) {
            continue;
        }
        if (ids->n == cap) {
            size_t grown_cap = cap ? cap * 2 : 256;
            watch_id *grown = realloc(ids->v, grown_cap * sizeof *grown);
            if (grown == NULL) {
                free(b.p);
                return -ENOMEM;
            }
            ids->v = grown;
            cap = grown_cap;
        }
        ids->v[ids->n].wd = (int32_t)wd;
        ids->v[ids->n].id.dev = (uint64_t)makedev(sdev >> 20, sdev & 0xFFFFFu);
        ids->v[ids->n].id.ino = ino;
        parse_handle(line, &ids->v[ids->n].id);
        ids->n++;
    }
    free(b.p);
    qsort(ids->v, ids->n, sizeof *ids->v, by_wd);
    return 0;
}

/* Saving one tree. */
typedef struct saver {
    ino_watcher *w;
    const ino_tree *t;
    sbuf *b;
    const watch_ids *ids;
    int refresh; /* stat() the entries whose attributes are stale */
    int refreshed; /* some were */
    uint32_t ndirs; /* directory records written */
    uint64_t nfiles; /* file records written */
    char rel[INO_PATH_CAP];
    char full[INO_PATH_CAP];
} saver;

/* Who node n is: the kernel's word for its watch, the file's for a
 * loaded node still unwatched, else what stat() says (inode 0 when it
 * cannot). */
static void
node_id(saver *sv, const ino_node *n, dir_id *id)
{
    watch_id key, *found;
    struct stat sb;
    long rl;

    memset(id, 0, sizeof *id);
    if (n->wd < 0) {
        const ino_since *s = n->tree->since;
        size_t i = item_of(n->wd);
        if (s != NULL && i < s->nitems && s->items[i].node == n) {
            *id = s->items[i].id;
        }
        return;
    }
    key.wd = n->wd;
    found = sv->ids->n ? bsearch(&key, sv->ids->v, sv->ids->n,
                                 sizeof *sv->ids->v, by_wd)
                       : NULL;
    if (found != NULL) {
        *id = found->id;
        return;
    }
    rl = ino_node_path(n, NULL, 0, sv->rel);
    if (rl >= 0 && ino_full_path(sv->t, sv->rel, (size_t)rl, sv->full) >= 0 &&
        stat(sv->full, &sb) == 0) {
        id->dev = (uint64_t)sb.st_dev;
        id->ino = (uint64_t)sb.st_ino;
    }
}

static void
put_dir(saver *sv, const ino_node *n, uint32_t parent)
{
    unsigned char *p = room(sv->b, DIR_MIN);
    dir_id id;

    if (p == NULL) {
        return;
    }
    node_id(sv, n, &id);
    put_le(p, parent, 4);
    put_le(p + 4, id.dev, 8);
    put_le(p + 12, id.ino, 8);
    put_le(p + 20, (uint32_t)id.handle_type, 4);
    p[24] = id.handle_len;
    put_le(p + 25, parent == NO_PARENT ? 0 : n->name_len, 2);
    put_bytes(sv->b, id.handle, id.handle_len);
    if (parent != NO_PARENT) {
        put_bytes(sv->b, n->name, n->name_len);
    }
    sv->ndirs++;
}

/* The attributes to save of entry f of node n: when they are stale and
 * refreshing, what lstat() says now. */
static void
file_attr(saver *sv, const ino_node *n, const ino_file *f, ino_fattr *a)
{
    struct stat sb;
    long rl;

    a->ino = f->ino;
    a->size = f->size;
    a->mtime_ns = f->mtime_ns;
    a->type = f->type;
    a->stale = (f->flags & INO_FF_STALE) != 0;
    if (!sv->refresh || f->type == INO_FT_DIR ||
        (!a->stale && f->ino != 0 && f->type != INO_FT_UNKNOWN)) {
        return;
    }
    rl = ino_node_path(n, f->name, f->name_len, sv->rel);
    if (rl >= 0 && ino_full_path(sv->t, sv->rel, (size_t)rl, sv->full) >= 0 &&
        lstat(sv->full, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        ino_fattr_of_stat(a, &sb);
        sv->refreshed = 1;
    }
}

static void
put_files(saver *sv, const ino_node *n, uint32_t index)
{
    size_t pos = 0;
    ino_file *f;
    ino_fattr a;

    while ((f = ino_files_next(&n->files, &pos)) != NULL) {
        unsigned char *p = room(sv->b, FILE_MIN);
        if (p == NULL) {
            return;
        }
        file_attr(sv, n, f, &a);
        put_le(p, index, 4);
        put_le(p + 4, a.ino, 8);
        put_le(p + 12, (uint64_t)a.size, 8);
        put_le(p + 20, (uint64_t)a.mtime_ns, 8);
        p[28] = a.type;
        p[29] = a.stale ? FLAG_STALE : 0;
        put_le(p + 30, f->name_len, 2);
        put_bytes(sv->b, f->name, f->name_len);
        sv->nfiles++;
    }
}

/* Writes one tree: its fixed part, its directories (each after its
 * parent), then the entries of each.  A directory whose DELETE was read
 * is left out with all it held: the stream told it gone. */
static int
put_tree(saver *sv)
{
    const ino_tree *t = sv->t;
    size_t cap = t->ndirs + 1, top = 0, count = 0, i;
    const ino_node **order = malloc(cap * sizeof *order);
    const ino_node **stack = malloc(cap * sizeof *stack);
    uint32_t *parent = malloc(cap * sizeof *parent);
    uint32_t *stack_parent = malloc(cap * sizeof *stack_parent);
    struct timespec now;
    unsigned char *p;
    size_t fixed;
    int rc = 0;

    if (order == NULL || stack == NULL || parent == NULL ||
        stack_parent == NULL) {
        rc = -ENOMEM;
        goto done;
    }
    /* Depth first, by a stack: a node gets its index before its children
     * are pushed, so a parent's index is always below its children's. */
    stack[top] = t->root;
    stack_parent[top++] = NO_PARENT;
    while (top > 0 && count < cap) {
        const ino_node *n = stack[--top], *c;
        order[count] = n;
        parent[count] = stack_parent[top];
        for (c = n->child; c != NULL && top < cap; c = c->next) {
            if (!c->gone_told) {
                stack[top] = c;
                stack_parent[top++] = (uint32_t)count;
            }
        }
        count++;
    }
    fixed = sv->b->len;
    if ((p = room(sv->b, TREE_LEN)) == NULL) {
        rc = sv->b->err;
        goto done;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    memset(p, 0, TREE_LEN);
    put_le(p, t->root_len, 4);
    put_le(p + 4, count, 4);
    put_le(p + 16, (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec,
           8);
    put_le(p + 24, t->follow ? TREE_FOLLOW : 0, 4);
    put_bytes(sv->b, t->root_path, t->root_len);
    for (i = 0; i < count; i++) {
        put_dir(sv, order[i], parent[i]);
    }
    sv->nfiles = 0;
    for (i = 0; i < count; i++) {
        put_files(sv, order[i], (uint32_t)i);
    }
    if (sv->b->err) {
        rc = sv->b->err;
        goto done;
    }
    put_le(sv->b->p + fixed + 8, sv->nfiles, 8);
done:
    free(order);
    free(stack);
    free(parent);
    free(stack_parent);
    return rc;
}

/* The whole file in memory: header, trees, checksum. */
static int
serialize(ino_watcher *w, ino_tree *const *trees, size_t n,
          const watch_ids *ids, int refresh, sbuf *b, int *refreshed)
{
    saver *sv = malloc(sizeof *sv);
    unsigned char *p;
    size_t i;
    int rc = 0;

    if (sv == NULL) {
        return -ENOMEM;
    }
    b->len = 0;
    *refreshed = 0;
    if ((p = room(b, HEADER_LEN)) != NULL) {
        memcpy(p, MAGIC, MAGIC_LEN);
        put_le(p + 8, INO_STATE_VERSION, 4);
        put_le(p + 12, HEADER_LEN, 4);
        put_le(p + 16, n, 4);
        put_le(p + 20, 0, 4);
    }
    for (i = 0; rc == 0 && i < n; i++) {
        memset(sv, 0, offsetof(saver, rel));
        sv->w = w;
        sv->t = trees[i];
        sv->b = b;
        sv->ids = ids;
        sv->refresh = refresh;
        rc = put_tree(sv);
        *refreshed |= sv->refreshed;
    }
    free(sv);
    if (rc == 0 && b->err) {
        rc = b->err;
    }
    if (rc < 0) {
        return rc;
    }
    put_le(b->p + 24, b->len - HEADER_LEN, 8);
    if ((p = room(b, CRC_LEN)) == NULL) {
        return b->err;
    }
    put_le(p, crc32_of(b->p, b->len - CRC_LEN), 4);
    return 0;
}

/* Records the kernel holds for the descriptor, not read yet; -1 when it
 * cannot tell. */
static int
kernel_pending(const ino_watcher *w)
{
    int n = 0;

    return ioctl(w->fd, FIONREAD, &n) < 0 ? -1 : n;
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes buf to path by a temporary file in its directory, renamed over
 * it once synced; then syncs the directory. */
static int
write_atomic(const char *path, const unsigned char *buf, size_t len)
{
    size_t plen = strlen(path), dlen;
    const char *slash = strrchr(path, '/');
    char *tmp = malloc(plen + 16), *dir;
    int fd, rc, dfd;

    if (tmp == NULL) {
        return -ENOMEM;
    }
    if (plen == 0 || path[plen - 1] == '/') {
        free(tmp);
        return plen == 0 ? -ENOENT : -EISDIR;
    }
    dlen = slash != NULL ? (size_t)(slash - path) : 0;
    /* dir/.name.XXXXXX: hidden, and in the same file system as path. */
    memcpy(tmp, path, dlen + (slash != NULL));
    tmp[dlen + (slash != NULL)] = '.';
    strcpy(tmp + dlen + (slash != NULL) + 1, path + dlen + (slash != NULL));
    strcat(tmp, ".XXXXXX");
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        rc = -errno;
        free(tmp);
        return rc;
    }
    rc = write_all(fd, buf, len);
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
    }
    if (close(fd) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
    }
    if (rc < 0) {
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    /* The rename itself lasts once the directory is synced. */
    dir = slash == NULL ? strdup(".") : strndup(path, dlen ? dlen : 1);
    if (dir == NULL) {
        return -ENOMEM;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dfd < 0) {
        return -errno;
    }
    rc = fsync(dfd) < 0 && errno != EINVAL ? -errno : 0;
    close(dfd);
    return rc;
}

/* The tree whose root has watch wd, or NULL. */
static ino_tree *
tree_of_root(ino_watcher *w, int32_t wd)
{
    const ino_entry *e = ino_table_find(&w->table, wd);

    if (e == NULL || e->node == NULL || e->node->parent != NULL ||
        e->node->tree->root != e->node) {
        return NULL;
    }
    return e->node->tree;
}

int
ino_state_encode(ino_watcher *w, const int32_t *wds, size_t n, void **out,
                 size_t *out_len)
{
    ino_tree **trees;
    watch_ids ids = {NULL, 0};
    sbuf b = {NULL, 0, 0, 0};
    int rc = 0, refreshed = 0, refresh;
    size_t i;

    *out = NULL;
    *out_len = 0;
    if (w->fd < 0) {
        return -EBADF;
    }
    if (n == 0 || n > UINT32_MAX) {
        return -EINVAL;
    }
    if ((trees = malloc(n * sizeof *trees)) == NULL) {
        return -ENOMEM;
    }
    for (i = 0; rc == 0 && i < n; i++) {
        trees[i] = tree_of_root(w, wds[i]);
        if (trees[i] == NULL) {
            rc = -ENOENT;
        }
        else if (!trees[i]->index_files || trees[i]->ended) {
            rc = -EINVAL;
        }
    }
    if (rc == 0) {
        /* Without it, every directory's inode is stat()ed by its path. */
        read_watch_ids(w->fd, &ids);
        /* Stale entries are read now only while the kernel holds nothing:
         * a change not read yet could hide in what stat() says. */
        refresh = kernel_pending(w) == 0;
        rc = serialize(w, trees, n, &ids, refresh, &b, &refreshed);
        if (rc == 0 && refreshed && kernel_pending(w) != 0) {
            rc = serialize(w, trees, n, &ids, 0, &b, &refreshed);
        }
    }
    free(ids.v);
    free(trees);
    if (rc < 0) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}

int
ino_state_write(const char *path, const void *buf, size_t len)
{
    return write_atomic(path, buf, len);
}

int
ino_state_save(ino_watcher *w, const int32_t *wds, size_t n, const char *path)
{
    void *buf;
    size_t len;
    int rc = ino_state_encode(w, wds, n, &buf, &len);

    if (rc == 0) {
        rc = ino_state_write(path, buf, len);
        free(buf);
    }
    return rc;
}
