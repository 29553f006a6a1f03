/*
 * fuzz_state.c: a libFuzzer target for the state file loader and a tree
 * started from a state (core/src/ino_state.c: ino_state_parse(),
 * ino_add_tree_since(), ino_state_encode()), against a REAL directory.
 *
 * meson builds it with -Dfuzz=true (clang, -fsanitize=fuzzer,address,
 * undefined) and .ci/fuzz runs it.  core/fuzz/replay.c gives it a main()
 * too (replay_state, built with -Dtests=true), so that the committed
 * corpus also runs under gcc and valgrind from tests/test_bad_input.py:
 *
 *     meson setup build -Dtests=true && ninja -C build replay_state
 *     build/replay_state core/fuzz/corpus/state
 *
 * An input is one mode byte, then the bytes of a state file
 * (docs/state-format.md):
 *
 *   bit 0  the trailing CRC-32 is recomputed over the bytes before it,
 *          so that mutations reach the checks of the records;
 *   bit 1  the header's payload length is set to what follows it;
 *   bit 2  the first tree's root record is given the device, inode and
 *          file handle (when its record has room for one that long) of
 *          the scratch tree, so that the state is this tree's;
 *   bit 3  every directory record's device, inode and handle (and every
 *          file record's inode) are replaced by those of a directory (a
 *          file) of the scratch tree, picked by the inode modulo their
 *          count:
 *          loaded directories are then adopted under any name, which is
 *          how a catch-up tells moves;
 *   bit 4  the tree follows symlinks (INO_TREE_FOLLOW).
 *
 * INOTIPY_FUZZ_TRACE=1 in the environment prints what the loader and
 * ino_add_tree_since() said.  Bits 2 and 3 walk the records as far as they are well-formed and stop
 * at the first that is not (the loader then refuses the file anyway).
 *
 * Once per process a scratch directory is made (mkdtemp, under /dev/shm
 * when it exists) holding "tree": a/, a/b/, c/, f, a/g, c/h and a symlink
 * l to f.  A catch-up reads the disk and never writes it, so the same
 * tree serves every input.  Checked on every input:
 *
 * 1. ino_state_parse() returns 0 or -EBADMSG (or -ENOMEM); -EBADMSG with
 *    a reason among NOT_STATE, TRUNCATED, CORRUPT, TOO_NEW and a
 *    sentence; 0 with at least one tree.
 * 2. A state that parses is given to ino_add_tree_since() on the scratch
 *    tree: it returns 1, or -EBADMSG with FOREIGN or OTHER_FS (and then
 *    nothing is watched), or another negative errno (a limit).
 * 3. When it returns 1, the events drained are all of the root's wd, with
 *    well-formed paths below the root (src only on IN_MOVED_TO); one
 *    INO_SYNCED comes, last of the catch-up; the tree's index then lists
 *    exactly what a walk of the tree finds, and the kernel's watches are
 *    the table's and the tree's directories.
 * 4. The index saved again (ino_state_encode()) parses, and a tree
 *    started from it on a second watcher tells nothing but INO_SYNCED:
 *    nothing changed in between.
 * 5. Everything is freed (LeakSanitizer, valgrind).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "check.h"
#include "common.h"
#include "support.h"

#define MODE_CRC 1u
#define MODE_LENGTH 2u
#define MODE_ROOT 4u
#define MODE_REMAP 8u
#define MODE_FOLLOW 16u

/* The format's fixed sizes (docs/state-format.md). */
#define HEADER_LEN 32u
#define TREE_LEN 32u
#define DIR_MIN 27u
#define FILE_MIN 32u
#define CRC_LEN 4u

#define MAX_IDS 8

/* The scratch tree, made once. */
static char base[256];
static char tree_dir[300];
static uint64_t tree_dev;
static uint64_t dir_inos[MAX_IDS]; /* the root's first */
/* Each directory's file handle (name_to_handle_at()), len 0 if none. */
static struct {
    int32_t type;
    unsigned len;
    unsigned char bytes[128];
} dir_handles[MAX_IDS];
static uint64_t file_inos[MAX_IDS];
static size_t ndirs;
static size_t nfiles;

static void
scratch_remove(void)
{
    if (base[0] != '\0') {
        (void)remove_tree(base, 0);
    }
}

static void
note_inode(const char *rel)
{
    char path[600];
    struct stat sb;

    snprintf(path, sizeof path, "%s%s%s", tree_dir, *rel ? "/" : "", rel);
    FUZZ_CHECK(lstat(path, &sb) == 0);
    if (S_ISDIR(sb.st_mode)) {
        union {
            struct file_handle fh;
            unsigned char bytes[sizeof(struct file_handle) + 128];
        } h;
        int mount_id;
        h.fh.handle_bytes = 128;
        if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) == 0) {
            dir_handles[ndirs].type = h.fh.handle_type;
            dir_handles[ndirs].len = h.fh.handle_bytes;
            memcpy(dir_handles[ndirs].bytes, h.fh.f_handle, h.fh.handle_bytes);
        }
        dir_inos[ndirs++] = (uint64_t)sb.st_ino;
    }
    else {
        file_inos[nfiles++] = (uint64_t)sb.st_ino;
    }
    tree_dev = (uint64_t)sb.st_dev;
}

static void
scratch_make(void)
{
    static const char *const dirs[] = {"a", "a/b", "c"};
    static const char *const files[] = {"f", "a/g", "c/h"};
    const char *parent = getenv("TMPDIR");
    char path[600];
    struct stat st;
    size_t i;

    if (base[0] != '\0') {
        return;
    }
    check_abort = 1; /* a failed CHECK in support.c is a crash too */
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0) {
        parent = "/dev/shm";
    }
    else if (parent == NULL || parent[0] == '\0') {
        parent = "/tmp";
    }
    snprintf(base, sizeof base, "%s/inotipy-fuzz-state-XXXXXX", parent);
    FUZZ_CHECK(mkdtemp(base) != NULL);
    atexit(scratch_remove);
    snprintf(tree_dir, sizeof tree_dir, "%s/tree", base);
    FUZZ_CHECK(mkdir(tree_dir, 0755) == 0);
    note_inode("");
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tree_dir, dirs[i]);
        FUZZ_CHECK(mkdir(path, 0755) == 0);
        note_inode(dirs[i]);
    }
    for (i = 0; i < 3; i++) {
        FILE *f;
        snprintf(path, sizeof path, "%s/%s", tree_dir, files[i]);
        FUZZ_CHECK((f = fopen(path, "w")) != NULL);
        fputs(files[i], f);
        fclose(f);
        note_inode(files[i]);
    }
    snprintf(path, sizeof path, "%s/l", tree_dir);
    FUZZ_CHECK(symlink("f", path) == 0);
    note_inode("l");
}

/* ---- rewriting the input ------------------------------------------------ */

static uint64_t
get_le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;

    while (bytes-- > 0) {
        v = (v << 8) | p[bytes];
    }
    return v;
}

static void
put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
    unsigned i;

    for (i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t
crc32_of(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    int k;

    while (len-- > 0) {
        crc ^= *p++;
        for (k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* Bits 2 and 3: walks the trees' records, rewriting ids, as far as they
 * are well-formed. */
static void
rewrite_ids(uint8_t *b, size_t len, unsigned mode)
{
    size_t at = HEADER_LEN, end = len >= CRC_LEN ? len - CRC_LEN : 0;
    uint64_t ntrees, t, i, nd, nf;

    if (end < HEADER_LEN) {
        return;
    }
    ntrees = get_le(b + 16, 4);
    for (t = 0; t < ntrees && at + TREE_LEN <= end; t++) {
        nd = get_le(b + at + 4, 4);
        nf = get_le(b + at + 8, 8);
        at += TREE_LEN + get_le(b + at, 4);
        for (i = 0; i < nd && at + DIR_MIN <= end; i++) {
            uint8_t *d = b + at;
            uint64_t ino = get_le(d + 12, 8);
            if ((mode & MODE_ROOT && t == 0 && i == 0) ||
                (mode & MODE_REMAP && ino != 0)) {
                size_t k = t == 0 && i == 0 ? 0 : ino % ndirs;
                put_le(d + 4, tree_dev, 8);
                put_le(d + 12, dir_inos[k], 8);
                /* The handle too, when the record has room for it. */
                if (d[24] == dir_handles[k].len && dir_handles[k].len > 0 &&
                    at + DIR_MIN + d[24] <= end) {
                    put_le(d + 20, (uint32_t)dir_handles[k].type, 4);
                    memcpy(d + DIR_MIN, dir_handles[k].bytes, d[24]);
                }
            }
            at += DIR_MIN + d[24] + get_le(d + 25, 2);
        }
        for (i = 0; i < nf && at + FILE_MIN <= end; i++) {
            uint8_t *f = b + at;
            uint64_t ino = get_le(f + 4, 8);
            if (mode & MODE_REMAP && ino != 0) {
                put_le(f + 4, file_inos[ino % nfiles], 8);
            }
            at += FILE_MIN + get_le(f + 30, 2);
        }
        if (!(mode & MODE_REMAP)) {
            return; /* the root is the first tree's first record */
        }
    }
}

/* ---- the disk and the index --------------------------------------------- */

typedef struct listing {
    char **v;
    size_t n;
} listing;

static void
listing_add(listing *l, int is_dir, const char *rel)
{
    char **grown = realloc(l->v, (l->n + 1) * sizeof *grown);
    size_t len = strlen(rel);

    FUZZ_CHECK(grown != NULL);
    l->v = grown;
    FUZZ_CHECK((l->v[l->n] = malloc(len + 3)) != NULL);
    snprintf(l->v[l->n++], len + 3, "%c %s", is_dir ? 'd' : 'f', rel);
}

static void
listing_free(listing *l)
{
    while (l->n > 0) {
        free(l->v[--l->n]);
    }
    free(l->v);
}

static int
by_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What a walk finds below dir (links followed when follow). */
static void
walk_list(const char *dir, const char *rel, int follow, listing *l)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    FUZZ_CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        char sub[1024], subrel[1024];
        struct stat st;
        int is_dir;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        snprintf(subrel, sizeof subrel, "%s%s%s", rel, *rel ? "/" : "",
                 de->d_name);
        FUZZ_CHECK((follow ? stat(sub, &st) : lstat(sub, &st)) == 0);
        is_dir = S_ISDIR(st.st_mode);
        listing_add(l, is_dir, subrel);
        if (is_dir) {
            walk_list(sub, subrel, follow, l);
        }
    }
    closedir(d);
}

static int
index_add(void *arg, const ino_tree_entry *ent)
{
    listing_add(arg, ent->type == INO_FT_DIR, ent->path);
    return 0;
}

static void
check_index(ino_watcher *w, int32_t wd, int follow)
{
    listing disk = {0}, index = {0};
    size_t i;

    walk_list(tree_dir, "", follow, &disk);
    FUZZ_CHECK(ino_tree_entries(w, wd, index_add, &index) == 0);
    qsort(disk.v, disk.n, sizeof *disk.v, by_line);
    if (index.n > 1) {
        qsort(index.v, index.n, sizeof *index.v, by_line);
    }
    for (i = 0; i < disk.n || i < index.n; i++) {
        const char *a = i < disk.n ? disk.v[i] : "(none)";
        const char *b = i < index.n ? index.v[i] : "(none)";
        if (strcmp(a, b) != 0) {
            fprintf(stderr, "fuzz_state: disk has %s, index has %s\n", a, b);
            FUZZ_CHECK(!"the index differs from the disk");
        }
    }
    listing_free(&disk);
    listing_free(&index);
}

/* ---- events ------------------------------------------------------------- */

/* A path below the root: no empty, "." or ".." component, not absolute. */
static void
check_rel(const char *p, size_t len)
{
    size_t start = 0, i;

    FUZZ_CHECK(memchr(p, '\0', len) == NULL);
    for (i = 0; len > 0 && i <= len; i++) {
        size_t clen;
        if (i < len && p[i] != '/') {
            continue;
        }
        clen = i - start;
        FUZZ_CHECK(clen > 0);
        FUZZ_CHECK(!(clen == 1 && p[start] == '.'));
        FUZZ_CHECK(!(clen == 2 && p[start] == '.' && p[start + 1] == '.'));
        start = i + 1;
    }
}

/* Drains w; returns the number of events other than INO_SYNCED, and
 * checks that one INO_SYNCED came, after them all (unless an error
 * record came: a directory that could not be read, say). */
static size_t
drain(ino_watcher *w, int32_t wd)
{
    size_t told = 0, synced = 0, errors = 0, rounds;
    ino_event ev;

    for (rounds = 0; rounds < 64; rounds++) {
        long got = ino_read(w);
        FUZZ_CHECK(got >= 0);
        while (ino_next(w, &ev)) {
            FUZZ_CHECK(ev.wd == wd);
            FUZZ_CHECK(ev.error >= 0);
            check_rel(ev.name, ev.name_len);
            if (ev.error > 0) {
                errors++;
                continue;
            }
            if (ev.src != NULL) {
                FUZZ_CHECK(ev.mask & IN_MOVED_TO);
                check_rel(ev.src, ev.src_len);
                FUZZ_CHECK(ev.src_len > 0);
            }
            if (ev.mask & INO_SYNCED) {
                synced++;
            }
            else {
                FUZZ_CHECK(synced == 0);
                FUZZ_CHECK(ev.mask & INO_RESCAN);
                told++;
            }
        }
        if (got == 0 && !ino_pending(w)) {
            break;
        }
    }
    FUZZ_CHECK(ino_queued(w) == 0);
    FUZZ_CHECK(errors > 0 || synced == 1);
    return told;
}

/* ---- the target ---------------------------------------------------------- */

/* 4: the index saved again parses, and a start from it tells nothing. */
static void
check_again(ino_watcher *w, int32_t wd, int flags)
{
    ino_state_error err;
    ino_state *st = NULL;
    ino_watcher w2;
    ino_entry *e = NULL;
    void *buf = NULL;
    size_t len = 0;
    int rc = ino_state_encode(w, &wd, 1, &buf, &len);

    if (rc == -ENOMEM) {
        return;
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(ino_state_parse(buf, len, &st, &err) == 0);
    free(buf);
    if (ino_open(&w2, 0) == 0) {
        rc = ino_add_tree_since(&w2, tree_dir, IN_ALL_EVENTS, NULL, 0, flags,
                                st, &err, &e, NULL);
        FUZZ_CHECK(rc == 1 || (rc < 0 && rc != -EBADMSG));
        if (rc == 1) {
            FUZZ_CHECK(drain(&w2, e->wd) == 0);
        }
        FUZZ_CHECK(ino_close(&w2) == 0);
    }
    ino_state_free(st);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ino_state_error err;
    ino_state *st = NULL;
    ino_watcher w;
    ino_entry *e = NULL;
    unsigned mode;
    uint8_t *b;
    size_t len;
    int rc, flags;

    scratch_make();
    if (size < 1) {
        return 0;
    }
    mode = data[0];
    len = size - 1;
    b = malloc(len ? len : 1);
    FUZZ_CHECK(b != NULL);
    memcpy(b, data + 1, len);
    if (mode & MODE_LENGTH && len >= HEADER_LEN) {
        put_le(b + 24, len - HEADER_LEN - (len >= HEADER_LEN + 4 ? 4 : 0), 8);
    }
    if (mode & (MODE_ROOT | MODE_REMAP)) {
        rewrite_ids(b, len, mode);
    }
    if (mode & MODE_CRC && len >= CRC_LEN) {
        put_le(b + len - CRC_LEN, crc32_of(b, len - CRC_LEN), 4);
    }
    /* 1 */
    rc = ino_state_parse(b, len, &st, &err);
    free(b);
    if (rc == -ENOMEM) {
        return 0;
    }
    if (rc < 0 && getenv("INOTIPY_FUZZ_TRACE") != NULL) {
        fprintf(stderr, "fuzz_state: ino_state_parse() %d %s\n", rc,
                err.detail);
    }
    if (rc < 0) {
        FUZZ_CHECK(rc == -EBADMSG && st == NULL);
        FUZZ_CHECK(err.reason >= INO_STATE_NOT_STATE &&
                   err.reason <= INO_STATE_TOO_NEW);
        FUZZ_CHECK(err.detail[0] != '\0' &&
                   memchr(err.detail, '\0', sizeof err.detail) != NULL);
        return 0;
    }
    FUZZ_CHECK(ino_state_trees(st) >= 1);
    /* 2 */
    flags = mode & MODE_FOLLOW ? INO_TREE_FOLLOW : 0;
    if (ino_open(&w, 0) < 0) {
        ino_state_free(st);
        return 0;
    }
    rc = ino_add_tree_since(&w, tree_dir, IN_ALL_EVENTS, NULL, 0, flags, st,
                            &err, &e, NULL);
    ino_state_free(st);
    if (getenv("INOTIPY_FUZZ_TRACE") != NULL) {
        fprintf(stderr, "fuzz_state: ino_add_tree_since() %d %s\n", rc,
                rc == -EBADMSG ? err.detail : "");
    }
    if (rc == -EBADMSG) {
        FUZZ_CHECK(err.reason == INO_STATE_FOREIGN ||
                   err.reason == INO_STATE_OTHER_FS);
        FUZZ_CHECK(ino_watch_count(&w) == 0);
    }
    else if (rc == 1) {
        /* 3 */
        int32_t wd = e->wd;
        (void)drain(&w, wd);
        check_index(&w, wd, flags != 0);
        FUZZ_CHECK(ino_watch_count(&w) == kernel_watches(w.fd));
        FUZZ_CHECK(ino_tree_size(&w, wd) == ino_watch_count(&w));
        check_again(&w, wd, flags);
    }
    else {
        FUZZ_CHECK(rc < 0);
    }
    FUZZ_CHECK(ino_close(&w) == 0);
    return 0;
}
