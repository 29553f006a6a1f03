/*
 * ino_index.c: the index of a tree's entries that are not directories.
 * Directories are the tree's nodes (ino_node.c); each node holds a table
 * of the files, symbolic links and other entries in it, by name: what
 * the stream has told of them, with what is needed to tell later whether
 * one changed (inode, size, mtime).  A table is an open-addressing hash
 * of entry pointers with linear probing and backward-shift deletion, at
 * most three quarters full; an entry is one allocation, its name inline.
 *
 * It calls nothing of the trees: nodes own their tables, and the scan and
 * rewrite files keep them in step with the stream.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ino_trees.h"

#define FILES_MIN 8u

static uint32_t
name_hash(const char *name, size_t len)
{
    /* FNV-1a. */
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    }
    return h;
}

static size_t
files_find(const ino_files *fs, const char *name, size_t len)
{
    size_t mask = fs->capacity - 1, i;

    for (i = name_hash(name, len) & mask; fs->slots[i] != NULL;
         i = (i + 1) & mask) {
        const ino_file *f = fs->slots[i];
        if (f->name_len == len && memcmp(f->name, name, len) == 0) {
            return i;
        }
    }
    return (size_t)-1;
}

_Static_assert(offsetof(ino_file, name) == 26,
               "an entry's header is 26 bytes (ino_trees.h)");

ino_file *
ino_files_get(const ino_files *fs, const char *name, size_t len)
{
    size_t i;

    if (fs->count == 0) {
        return NULL;
    }
    i = files_find(fs, name, len);
    return i == (size_t)-1 ? NULL : fs->slots[i];
}

static void
files_place(ino_file **slots, uint32_t capacity, ino_file *f)
{
    size_t mask = capacity - 1, i = name_hash(f->name, f->name_len) & mask;

    while (slots[i] != NULL) {
        i = (i + 1) & mask;
    }
    slots[i] = f;
}

/* Makes room for one more entry; returns 0 or -ENOMEM. */
static int
files_room(ino_files *fs)
{
    uint32_t cap, i;
    ino_file **slots;

    /* Linear probing stays short up to 7/8 full (names hash well), and
     * the table is a file's largest share after its own entry. */
    if ((fs->count + 1) * 8 <= fs->capacity * 7) {
        return 0;
    }
    cap = fs->capacity ? fs->capacity * 2 : FILES_MIN;
    slots = calloc(cap, sizeof *slots);
    if (slots == NULL) {
        return -ENOMEM;
    }
    for (i = 0; i < fs->capacity; i++) {
        if (fs->slots[i] != NULL) {
            files_place(slots, cap, fs->slots[i]);
        }
    }
    free(fs->slots);
    fs->slots = slots;
    fs->capacity = cap;
    return 0;
}

ino_file *
ino_file_new(const char *name, size_t len, const ino_fattr *a)
{
    ino_file *f;

    if (len > UINT8_MAX) {
        return NULL;
    }
    f = malloc(offsetof(ino_file, name) + len + 1);
    if (f == NULL) {
        return NULL;
    }
    f->ino = a->ino;
    f->size = a->size;
    f->mtime_ns = a->mtime_ns;
    f->type = a->type;
    f->flags = a->stale ? INO_FF_STALE : 0;
    f->name_len = (uint8_t)len;
    memcpy(f->name, name, len);
    f->name[len] = '\0';
    return f;
}

void
ino_file_set(ino_file *f, const ino_fattr *a)
{
    f->ino = a->ino;
    f->size = a->size;
    f->mtime_ns = a->mtime_ns;
    f->type = a->type;
    f->flags =
        (uint8_t)((f->flags & ~INO_FF_STALE) | (a->stale ? INO_FF_STALE : 0));
}

int
ino_files_insert(ino_files *fs, ino_file *f)
{
    size_t i;

    if (fs->count > 0 &&
        (i = files_find(fs, f->name, f->name_len)) != (size_t)-1) {
        free(fs->slots[i]);
        fs->slots[i] = f;
        return 0;
    }
    if (files_room(fs) < 0) {
        return -ENOMEM;
    }
    files_place(fs->slots, fs->capacity, f);
    fs->count++;
    return 1;
}

int
ino_files_put(ino_files *fs, const char *name, size_t len, const ino_fattr *a)
{
    ino_file *f = ino_files_get(fs, name, len);
    int rc;

    if (f != NULL) {
        ino_file_set(f, a);
        return 0;
    }
    if ((f = ino_file_new(name, len, a)) == NULL) {
        return -ENOMEM;
    }
    if ((rc = ino_files_insert(fs, f)) < 0) {
        free(f);
    }
    return rc;
}

ino_file *
ino_files_take(ino_files *fs, const char *name, size_t len)
{
    size_t mask, hole, i, home;
    ino_file *f;

    if (fs->count == 0 || (hole = files_find(fs, name, len)) == (size_t)-1) {
        return NULL;
    }
    f = fs->slots[hole];
    mask = fs->capacity - 1;
    for (i = (hole + 1) & mask; fs->slots[i] != NULL; i = (i + 1) & mask) {
        const ino_file *g = fs->slots[i];
        home = name_hash(g->name, g->name_len) & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            fs->slots[hole] = fs->slots[i];
            hole = i;
        }
    }
    fs->slots[hole] = NULL;
    fs->count--;
    return f;
}

int
ino_files_del(ino_files *fs, const char *name, size_t len)
{
    ino_file *f = ino_files_take(fs, name, len);

    free(f);
    return f != NULL;
}

ino_file *
ino_files_rename(ino_file *f, const char *name, size_t len)
{
    ino_file *g = f;

    if (len > f->name_len) {
        if (len > UINT8_MAX) {
            return NULL;
        }
        g = realloc(f, offsetof(ino_file, name) + len + 1);
        if (g == NULL) {
            return NULL;
        }
    }
    memcpy(g->name, name, len);
    g->name[len] = '\0';
    g->name_len = (uint8_t)len;
    return g;
}

ino_file *
ino_files_next(const ino_files *fs, size_t *pos)
{
    while (*pos < fs->capacity) {
        ino_file *f = fs->slots[(*pos)++];
        if (f != NULL) {
            return f;
        }
    }
    return NULL;
}

void
ino_files_free(ino_files *fs)
{
    uint32_t i;

    for (i = 0; i < fs->capacity; i++) {
        free(fs->slots[i]);
    }
    free(fs->slots);
    fs->slots = NULL;
    fs->capacity = fs->count = 0;
}

uint8_t
ino_ftype_of_mode(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return INO_FT_FILE;
    case S_IFLNK:
        return INO_FT_LINK;
    case S_IFDIR:
        return INO_FT_DIR;
    default:
        return INO_FT_OTHER;
    }
}

void
ino_fattr_of_stat(ino_fattr *a, const struct stat *st)
{
    a->ino = (uint64_t)st->st_ino;
    a->size = (int64_t)st->st_size;
    a->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
                  (int64_t)st->st_mtim.tv_nsec;
    a->type = ino_ftype_of_mode((unsigned)st->st_mode);
    a->stale = 0;
}
