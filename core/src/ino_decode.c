/*
 * ino_decode.c: walking the records that read(2) returns on an inotify
 * descriptor.  Every record is checked to lie wholly inside the buffer
 * before any of it is used, so a truncated or crafted buffer is rejected,
 * never read past.
 */
#include <errno.h>
#include <string.h>

#include "ino_internal.h"

int
ino_decode(const char *buf, size_t len, size_t *offset, ino_event *ev)
{
    return ino_decode_field(buf, len, offset, ev, INO_NAME_FIELD_MAX);
}

int
ino_decode_field(const char *buf, size_t len, size_t *offset, ino_event *ev,
                 size_t max_field)
{
    size_t off = *offset;
    uint32_t field[4];          /* wd, mask, cookie, len, as the kernel
                                   lays out struct inotify_event */
    size_t name_field;

    if (off >= len) {
        return 0;
    }
    if (len - off < INO_RECORD_HEADER) {
        return -EBADMSG;
    }
    /* memcpy, not a cast: a buffer handed in by a caller (or a fuzzer) need
     * not be aligned for struct inotify_event. */
    memcpy(field, buf + off, sizeof field);
    name_field = field[3];
    if (name_field > max_field || name_field > len - off - INO_RECORD_HEADER) {
        return -EBADMSG;
    }
    ev->wd = (int32_t)field[0];
    ev->mask = field[1];
    ev->cookie = field[2];
    ev->name = buf + off + INO_RECORD_HEADER;
    /* The kernel pads the name with NULs up to the record size. */
    ev->name_len = (uint32_t)strnlen(ev->name, name_field);
    ev->src = NULL;
    ev->src_len = 0;
    ev->error = 0;
    ev->udata = NULL;
    ev->released = 0;
    *offset = off + INO_RECORD_HEADER + name_field;
    return 1;
}

/* The length of the well-formed record at buf[off..len), header and name
 * field, or 0 when what is there is truncated or has a name field over
 * INO_NAME_FIELD_MAX.  *mask is its mask. */
static size_t
record_at(const char *buf, size_t len, size_t off, uint32_t *mask)
{
    uint32_t field[4];

    if (len - off < INO_RECORD_HEADER) {
        return 0;
    }
    memcpy(field, buf + off, sizeof field);
    if (field[3] > INO_NAME_FIELD_MAX ||
        field[3] > len - off - INO_RECORD_HEADER) {
        return 0;
    }
    *mask = field[1];
    return INO_RECORD_HEADER + field[3];
}

int
ino_frame(const char *buf, size_t len, size_t *valid, size_t *count)
{
    size_t off = 0, n = 0, step;
    uint32_t mask;

    while (off < len && (step = record_at(buf, len, off, &mask)) > 0) {
        off += step;
        n++;
    }
    *valid = off;
    *count = n;
    return off < len ? -EBADMSG : 0;
}

int
ino_frame_strip(char *buf, size_t len, size_t *valid, size_t *count)
{
    size_t off = 0, n = 0, step;
    uint32_t mask;

    /* One walk frames and strips: this runs on every plain read. */
    while (off < len && (step = record_at(buf, len, off, &mask)) > 0) {
        if (mask & INO_PRIV_BITS) {
            mask &= ~INO_PRIV_BITS;
            memcpy(buf + off + sizeof(uint32_t), &mask, sizeof mask);
        }
        off += step;
        n++;
    }
    *valid = off;
    *count = n;
    return off < len ? -EBADMSG : 0;
}

long
ino_validate(const char *buf, size_t len, size_t *valid_len)
{
    size_t count;

    if (ino_frame(buf, len, valid_len, &count) < 0) {
        return -EBADMSG;
    }
    return (long)count;
}
