/*
 * fuzz_fan.c: a libFuzzer target for the fanotify record parser
 * (ino_fan_read() in core/src/ino_fan.c) and what the trees make of its
 * records: a fanotify watcher's tree on a real scratch directory, with a
 * pipe swapped in for the fanotify group, so that the records the trees
 * read are the input's.
 *
 * meson builds it with -Dfuzz=true (clang, libFuzzer, ASan, UBSan) and
 * .ci/fuzz runs it; core/fuzz/replay.c gives it a main() too, built with
 * -Dtests=true by any compiler (tests/test_bad_input.py replays the
 * corpus with it, natively and under valgrind).  It needs root (a
 * fanotify group with a file system mark): without it, or where the
 * scratch directory's file system takes no mark, every input is skipped.
 *
 * Once per process a scratch directory is made (under /dev/shm when it
 * exists, else $TMPDIR or /tmp).  Before every input it holds:
 *
 *     tree/  tree/a/  tree/b/  tree/a/c/  tree/f  tree/a/g  out/  out/d/
 *
 * and a watcher becomes a fanotify watcher, adds one tree on "tree" and
 * has its descriptor replaced by a pipe's read end.  The handles of those
 * eight objects, of the scratch directory (tree's parent) and of its own
 * parent are what the records can name.  The first byte of the input picks
 * the mode:
 *
 *   even  raw: the rest is written to the pipe as it is, in pieces of up
 *         to 4 KB, each read and taken before the next (framing, lengths,
 *         versions, info records of any type and length);
 *   odd   records: the rest is operations of four bytes, each one kernel
 *         record built well-formed, then spoiled as byte 3 says:
 *
 *   byte 0  bits 0-3 the kind, modulo 10: CREATE, DELETE, MODIFY, ATTRIB,
 *           CLOSE_WRITE, RENAME (old and new directory and name), CREATE
 *           and DELETE merged, Q_OVERFLOW, an event of a directory itself
 *           (DFID with no name), a half rename (one end only); bit 4
 *           FAN_ONDIR; bit 5 the entry's own handle too (an info record
 *           of type FID: FAN_REPORT_TARGET_FID); bit 6 read and take what
 *           the pipe holds after it; bit 7 also drain fully
 *   byte 1  bits 0-3 the directory (one of the ten, modulo), bits 4-7 the
 *           other one (a rename's new directory, or the entry's handle)
 *   byte 2  bits 0-3 the name, bits 4-7 a rename's new name, from names[]
 *           (real names, ".", "", "..", "a/b", one of NAME_MAX + 1 bytes)
 *   byte 3  0: well-formed; else bit 0 cut the last info record short,
 *           bit 1 a handle longer than MAX_HANDLE_SZ, bit 2 another
 *           metadata version, bit 3 an event_len past the record, bit 4
 *           a name without its NUL, bit 5 a metadata_len past event_len,
 *           bit 6 an unknown info type, bit 7 a pid of -1
 *
 * Checked: nothing crashes or leaks (the sanitizers, LeakSanitizer and
 * valgrind); ino_read() returns records or -EBADMSG, never another error;
 * every event is of the root, with a name that is a path below it (no
 * leading '/', no empty, "." or ".." component), src only on a paired
 * MOVED_TO; the queue is empty once drained; no descriptor is left open
 * beyond those the target holds; ino_close() returns 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ino.h"
#include "common.h"
#include "check.h"
#include "support.h"

#define FUZZ_MAX_OPS 128
#define FUZZ_MASK                                                             \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |        \
     IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF)
/* The most bytes written to the pipe before they are read: less than one
 * read of the parser (32 KB), so that no record is split between two. */
#define FUZZ_BATCH 16384u
#define FUZZ_RECORD_MAX 2048u

#define NOBJ 10
static const char *const objects[NOBJ] = {
    "tree",     "tree/a", "tree/b", "tree/a/c", "tree/f",
    "tree/a/g", "out",    "out/d",  ".",        "..",
};

static char long_name[NAME_MAX + 2];
#define NNAMES 16
static const char *names[NNAMES] = {
    "a", "b", "c",  "d",   "f", "g", "x", "y",
    ".", "",  "..", "a/b", "c", "n", "f", NULL, /* long_name */
};

/* The scratch directory, made once per process. */
static char base[256];

/* The objects' handles, as records carry them. */
typedef struct {
    int32_t fsid[2];
    int handle_type;
    unsigned handle_bytes;
    unsigned char handle[MAX_HANDLE_SZ];
} obj_handle;
static obj_handle handles[NOBJ];

typedef struct {
    ino_watcher w;
    int32_t root;
    char marker;
    int pipe_w;
    char batch[FUZZ_BATCH + FUZZ_RECORD_MAX];
    size_t batch_len;
} fuzz_fan;

static const char *
at(const char *rel)
{
    static char path[2][512];
    static int k;

    k ^= 1;
    snprintf(path[k], sizeof path[k], "%s/%s", base, rel);
    return path[k];
}

static void
scratch_remove(void)
{
    if (base[0] != '\0') {
        (void)remove_tree(base, 0);
    }
}

static void
scratch_make(void)
{
    const char *parent;
    struct stat st;

    if (base[0] != '\0') {
        return;
    }
    check_abort = 1; /* a failed CHECK in support.c is a crash too */
    parent = getenv("TMPDIR");
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0) {
        parent = "/dev/shm";
    }
    else if (parent == NULL || parent[0] == '\0') {
        parent = "/tmp";
    }
    snprintf(base, sizeof base, "%s/inotipy-fuzz-fan-XXXXXX", parent);
    FUZZ_CHECK(mkdtemp(base) != NULL);
    atexit(scratch_remove);
    memset(long_name, 'n', NAME_MAX + 1);
    names[NNAMES - 1] = long_name;
}

/* The layout above, made afresh, and its objects' handles. */
static void
layout(void)
{
    static const char *const dirs[] = {"tree",     "tree/a", "tree/b",
                                       "tree/a/c", "out",    "out/d"};
    static const char *const files[] = {"tree/f", "tree/a/g"};
    size_t i;

    (void)remove_tree(base, 1);
    for (i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        FUZZ_CHECK(mkdir(at(dirs[i]), 0755) == 0);
    }
    for (i = 0; i < sizeof files / sizeof *files; i++) {
        int fd = open(at(files[i]), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        FUZZ_CHECK(fd >= 0);
        close(fd);
    }
    for (i = 0; i < NOBJ; i++) {
        struct {
            struct file_handle fh;
            unsigned char bytes[MAX_HANDLE_SZ];
        } h;
        struct statfs sfs;
        int mount_id;

        h.fh.handle_bytes = MAX_HANDLE_SZ;
        memset(&handles[i], 0, sizeof handles[i]);
        if (statfs(at(objects[i]), &sfs) < 0 ||
            name_to_handle_at(AT_FDCWD, at(objects[i]), &h.fh, &mount_id, 0) <
                0) {
            continue;
        }
        memcpy(handles[i].fsid, &sfs.f_fsid, sizeof handles[i].fsid);
        handles[i].handle_type = h.fh.handle_type;
        handles[i].handle_bytes = h.fh.handle_bytes;
        memcpy(handles[i].handle, h.fh.f_handle, h.fh.handle_bytes);
    }
}

/* ---- checks ------------------------------------------------------------- */

static void
check_rel(const char *p, size_t len)
{
    size_t start = 0, i;

    FUZZ_CHECK(memchr(p, '\0', len) == NULL);
    if (len == 0) {
        return;
    }
    FUZZ_CHECK(p[0] != '/');
    for (i = 0; i <= len; i++) {
        size_t clen;

        if (i < len && p[i] != '/') {
            continue;
        }
        clen = i - start;
        FUZZ_CHECK(clen > 0 && clen <= NAME_MAX);
        FUZZ_CHECK(!(clen == 1 && p[start] == '.'));
        FUZZ_CHECK(!(clen == 2 && p[start] == '.' && p[start + 1] == '.'));
        start = i + 1;
    }
}

static void
take(fuzz_fan *f)
{
    ino_event ev;

    while (ino_next(&f->w, &ev)) {
        if (ev.wd == -1) {
            /* An overflow: the kernel's (the input's) or the trees'. */
            FUZZ_CHECK(ev.mask == IN_Q_OVERFLOW && ev.name_len == 0);
            continue;
        }
        if (getenv("INOTIPY_FUZZ_VERBOSE") != NULL) {
            fprintf(stderr, "  event %#x '%.*s'\n", (unsigned)ev.mask,
                    (int)ev.name_len, ev.name);
        }
        FUZZ_CHECK(ev.wd == f->root);
        FUZZ_CHECK(ev.udata == &f->marker);
        check_rel(ev.name, ev.name_len);
        if (ev.src != NULL) {
            FUZZ_CHECK((ev.mask & IN_MOVED_TO) && ev.error == 0);
            check_rel(ev.src, ev.src_len);
        }
    }
    FUZZ_CHECK(ino_queued(&f->w) == 0);
}

/* Writes what the batch holds to the pipe, and reads and takes it (all
 * that the trees still owe too, with full). */
static void
flush(fuzz_fan *f, int full)
{
    int rounds;

    if (f->batch_len > 0) {
        FUZZ_CHECK(write(f->pipe_w, f->batch, f->batch_len) ==
                   (ssize_t)f->batch_len);
        f->batch_len = 0;
    }
    for (rounds = 0; rounds < 64; rounds++) {
        long rc = ino_read(&f->w);
        FUZZ_CHECK(rc >= 0 || rc == -EBADMSG);
        take(f);
        if (rc == 0 && (!full || !ino_pending(&f->w))) {
            break;
        }
    }
}

/* ---- records ------------------------------------------------------------ */

static size_t
put_info(char *p, uint8_t type, const obj_handle *h, const char *name,
         int no_nul)
{
    struct fanotify_event_info_fid info;
    struct file_handle fh;
    size_t n = sizeof info + sizeof fh + h->handle_bytes, len;

    memset(&info, 0, sizeof info);
    info.hdr.info_type = type;
    memcpy(&info.fsid, h->fsid, sizeof info.fsid);
    fh.handle_bytes = h->handle_bytes;
    fh.handle_type = h->handle_type;
    memcpy(p + sizeof info, &fh, sizeof fh);
    memcpy(p + sizeof info + sizeof fh, h->handle, h->handle_bytes);
    if (name != NULL) {
        size_t nl = strlen(name);
        memcpy(p + n, name, nl);
        n += nl;
        if (!no_nul) {
            p[n++] = '\0';
        }
    }
    len = (n + 3) & ~(size_t)3; /* the kernel aligns info records to 4 */
    memset(p + n, 0, len - n);
    info.hdr.len = (uint16_t)len;
    memcpy(p, &info, sizeof info);
    return len;
}

/* One record from an operation's four bytes into the batch. */
static void
add_record(fuzz_fan *f, const uint8_t *op)
{
    static const uint64_t masks[] = {FAN_CREATE,
                                     FAN_DELETE,
                                     FAN_MODIFY,
                                     FAN_ATTRIB,
                                     FAN_CLOSE_WRITE,
                                     FAN_RENAME,
                                     FAN_CREATE | FAN_DELETE,
                                     FAN_Q_OVERFLOW,
                                     FAN_ATTRIB,
                                     FAN_RENAME};
    unsigned kind = (op[0] & 15u) % 10u, spoil = op[3];
    const obj_handle *dir = &handles[(op[1] & 15u) % NOBJ];
    const obj_handle *other = &handles[(op[1] >> 4) % NOBJ];
    const char *name = names[op[2] & 15u], *name2 = names[op[2] >> 4];
    struct fanotify_event_metadata m;
    char *rec = f->batch + f->batch_len;
    size_t len = sizeof m, last = 0;
    int no_nul = (spoil & 16u) != 0;

    memset(&m, 0, sizeof m);
    m.vers = (spoil & 4u) ? FANOTIFY_METADATA_VERSION + 1
                          : FANOTIFY_METADATA_VERSION;
    m.metadata_len = sizeof m;
    m.mask = masks[kind] | ((op[0] & 16u) ? FAN_ONDIR : 0);
    m.fd = FAN_NOFD;
    m.pid = 1;
    if (kind == 5 || (kind == 9 && !(op[2] & 1u))) {
        last = len;
        len += put_info(rec + len, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, dir,
                        name, no_nul);
    }
    if (kind == 5 || (kind == 9 && (op[2] & 1u))) {
        last = len;
        len += put_info(rec + len, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, other,
                        name2, no_nul);
    }
    if (kind == 8) {
        last = len;
        len += put_info(rec + len, FAN_EVENT_INFO_TYPE_DFID, dir, NULL, 0);
    }
    else if (kind != 7 && kind != 5 && kind != 9) {
        last = len;
        len += put_info(rec + len, FAN_EVENT_INFO_TYPE_DFID_NAME, dir, name,
                        no_nul);
    }
    if ((op[0] & 32u) && kind != 7) {
        last = len;
        len += put_info(rec + len, FAN_EVENT_INFO_TYPE_FID,
                        kind == 5
                            ? &handles[((op[1] & 15u) + (op[1] >> 4)) % NOBJ]
                            : other,
                        NULL, 0);
    }
    if (last > 0 && (spoil & 1u)) {
        uint16_t cut = (uint16_t)(1u + (op[2] & 3u));
        struct fanotify_event_info_header h;
        memcpy(&h, rec + last, sizeof h);
        h.len = h.len > cut ? (uint16_t)(h.len - cut) : 0;
        memcpy(rec + last, &h, sizeof h);
    }
    if (last > 0 && (spoil & 2u)) {
        uint32_t big = MAX_HANDLE_SZ + 1u + op[2];
        memcpy(rec + last + sizeof(struct fanotify_event_info_fid), &big,
               sizeof big);
    }
    if (last > 0 && (spoil & 64u)) {
        rec[last] = (char)(op[2] | 0x80);
    }
    m.event_len = (uint32_t)len + ((spoil & 8u) ? 4u + (op[2] & 7u) : 0);
    if (spoil & 32u) {
        m.metadata_len = (uint16_t)(m.event_len + 1u);
    }
    if (spoil & 128u) {
        m.pid = -1; /* (nothing reads it) */
    }
    memcpy(rec, &m, sizeof m);
    f->batch_len += len;
}

/* ---- the target ----------------------------------------------------------- */

/* The open descriptors of this process. */
static int
open_fds(void)
{
    int n = 0, fd;

    for (fd = 0; fd < 1024; fd++) {
        n += fcntl(fd, F_GETFD) >= 0;
    }
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fuzz_fan f;
    ino_entry *e = NULL;
    int p[2], rc, fds;
    size_t i;

    if (size == 0) {
        return 0;
    }
    scratch_make();
    layout();
    memset(&f, 0, sizeof f);
    if (ino_open(&f.w, 0) != 0) {
        return 0;
    }
    if (ino_use_fanotify(&f.w) != 0 ||
        ino_add_tree(&f.w, at("tree"), FUZZ_MASK, NULL, 0, 0, &e, NULL) != 1) {
        ino_close(&f.w); /* no root, no mark here: nothing to fuzz */
        return 0;
    }
    e->udata = &f.marker;
    f.root = e->wd;
    flush(&f, 1); /* what the kernel queued before the swap */
    FUZZ_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    FUZZ_CHECK(dup3(p[0], ino_fd(&f.w), O_CLOEXEC) >= 0);
    close(p[0]);
    f.pipe_w = p[1];
    fds = open_fds();

    if (!(data[0] & 1u)) {
        for (i = 1; i < size; i += 4096) {
            size_t n = size - i < 4096 ? size - i : 4096;
            memcpy(f.batch, data + i, n);
            f.batch_len = n;
            flush(&f, 0);
        }
    }
    else {
        size_t nops = (size - 1) / 4;
        if (nops > FUZZ_MAX_OPS) {
            nops = FUZZ_MAX_OPS;
        }
        for (i = 0; i < nops; i++) {
            const uint8_t *op = data + 1 + 4 * i;
            add_record(&f, op);
            if ((op[0] & 64u) || f.batch_len >= FUZZ_BATCH) {
                flush(&f, (op[0] & 128u) != 0);
            }
        }
    }
    flush(&f, 1);
    FUZZ_CHECK(open_fds() == fds);
    close(f.pipe_w);
    rc = ino_close(&f.w);
    FUZZ_CHECK(rc == 0);
    return 0;
}
