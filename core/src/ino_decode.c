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
ino_decode_field(const char *buf, size_t len, size_t *offset,
                 ino_event *ev, size_t max_field)
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
    if (name_field > max_field ||
        name_field > len - off - INO_RECORD_HEADER) {
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

int
ino_frame(char *buf, size_t len, int strip, size_t *valid, size_t *count)
{
    size_t off = 0, n = 0;
    uint32_t field[4];

    while (len - off >= INO_RECORD_HEADER) {
        memcpy(field, buf + off, sizeof field);
        if (field[3] > INO_NAME_FIELD_MAX ||
            field[3] > len - off - INO_RECORD_HEADER) {
            break;
        }
        if (strip && (field[1] & INO_PRIV_BITS)) {
            field[1] &= ~INO_PRIV_BITS;
            memcpy(buf + off, field, sizeof field);
        }
        off += INO_RECORD_HEADER + field[3];
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

    /* Without strip, ino_frame() only reads. */
    if (ino_frame((char *)buf, len, 0, valid_len, &count) < 0) {
        return -EBADMSG;
    }
    return (long)count;
}
