/*
 * test_decode.c: ino_decode() and ino_validate() on hand-made buffers.
 *
 * Every buffer under test is copied into a heap block of exactly its own
 * size, so that a read one byte past the end shows up under valgrind or
 * AddressSanitizer instead of silently reading the next test's bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ino.h"
#include "check.h"

/* Large enough for a few records with the biggest name field. */
#define SCRATCH_SIZE 4096u

/* Appends one record at buf[*len], laid out as the kernel's struct
 * inotify_event: four native-endian 32-bit words, then `field` bytes of
 * name.  The name is copied as is (no NUL added) and the rest of the field
 * is NUL padding, so a caller can build both padded and unterminated
 * names.  Returns the offset the record starts at. */
static size_t
put_record(char *buf, size_t *len, int32_t wd, uint32_t mask, uint32_t cookie,
           const char *name, uint32_t field)
{
    size_t start = *len;
    size_t name_len = strlen(name);
    uint32_t words[4];

    CHECK(name_len <= field);
    CHECK(start + INO_RECORD_HEADER + field <= SCRATCH_SIZE);
    words[0] = (uint32_t)wd;
    words[1] = mask;
    words[2] = cookie;
    words[3] = field;
    memcpy(buf + start, words, sizeof words);
    memset(buf + start + INO_RECORD_HEADER, 0, field);
    memcpy(buf + start + INO_RECORD_HEADER, name, name_len);
    *len = start + INO_RECORD_HEADER + field;
    return start;
}

/* Writes a bare header whose len field may claim any size. */
static void
put_header(char *buf, size_t *len, uint32_t field)
{
    uint32_t words[4] = {1, 0x100, 0, field};

    CHECK(*len + sizeof words <= SCRATCH_SIZE);
    memcpy(buf + *len, words, sizeof words);
    *len += sizeof words;
}

/* An exactly sized heap copy; at least one (zeroed) byte is allocated so
 * that an empty buffer is still a valid, initialised pointer. */
static char *
exact_copy(const char *src, size_t len)
{
    char *p = calloc(len ? len : 1, 1);

    CHECK(p != NULL);
    memcpy(p, src, len);
    return p;
}

/* Fills an event with junk, to show that decode sets every field. */
static void
poison(ino_event *ev)
{
    memset(ev, 0xA5, sizeof *ev);
}

/* Decodes the record at *off and checks every field of it. */
static void
expect_record(const char *buf, size_t len, size_t *off, int32_t wd,
              uint32_t mask, uint32_t cookie, const char *name, uint32_t field)
{
    size_t start = *off;
    ino_event ev;

    poison(&ev);
    CHECK_EQ(ino_decode(buf, len, off, &ev), 1);
    CHECK_EQ(ev.wd, wd);
    CHECK_EQ(ev.mask, mask);
    CHECK_EQ(ev.cookie, cookie);
    CHECK_EQ(ev.name_len, strlen(name));
    CHECK(ev.name == buf + start + INO_RECORD_HEADER);
    CHECK(memcmp(ev.name, name, ev.name_len) == 0);
    CHECK(ev.udata == NULL);
    CHECK_EQ(ev.released, 0);
    CHECK_EQ(*off, start + INO_RECORD_HEADER + field);
}

/* Checks that decoding at *off fails and leaves *off where it was. */
static void
expect_bad(const char *buf, size_t len, size_t *off)
{
    size_t before = *off;
    ino_event ev;

    CHECK_EQ(ino_decode(buf, len, off, &ev), -EBADMSG);
    CHECK_EQ(*off, before);
}

static void
test_empty_buffer(void)
{
    char *buf = exact_copy("", 0);
    size_t off = 0, valid = 99;
    ino_event ev;

    CHECK_EQ(ino_decode(buf, 0, &off, &ev), 0);
    CHECK_EQ(off, 0);
    CHECK_EQ(ino_validate(buf, 0, &valid), 0);
    CHECK_EQ(valid, 0);
    free(buf);
}

static void
test_record_without_name(void)
{
    char scratch[SCRATCH_SIZE];
    size_t len = 0, off = 0, valid = 0;
    char *buf;
    ino_event ev;

    put_record(scratch, &len, 7, 0x00000004u, 0, "", 0);
    CHECK_EQ(len, INO_RECORD_HEADER);
    buf = exact_copy(scratch, len);
    expect_record(buf, len, &off, 7, 0x00000004u, 0, "", 0);
    /* At the end a further call reports "no more", not an error. */
    CHECK_EQ(ino_decode(buf, len, &off, &ev), 0);
    CHECK_EQ(off, len);
    CHECK_EQ(ino_validate(buf, len, &valid), 1);
    CHECK_EQ(valid, len);
    free(buf);
}

/* The kernel rounds name + NUL up to a multiple of 16; name_len must count
 * only the name, for short names, a 15-byte name (one NUL fills the field)
 * and a 16-byte name (which needs a second 16-byte block). */
static void
test_padded_names(void)
{
    static const struct {
        const char *name;
        uint32_t field;
    } cases[] = {
        {"a", 16},
        {"foo.txt", 16},
        {"fifteen_bytes__", 16},
        {"sixteen_bytes___", 32},
        {"x", 48},
    };
    char scratch[SCRATCH_SIZE];
    size_t i;

    for (i = 0; i < CHECK_COUNT(cases); i++) {
        size_t len = 0, off = 0;
        char *buf;

        put_record(scratch, &len, 3, 0x100, 0, cases[i].name, cases[i].field);
        buf = exact_copy(scratch, len);
        expect_record(buf, len, &off, 3, 0x100, 0, cases[i].name,
                      cases[i].field);
        free(buf);
    }
}

static void
test_records_back_to_back(void)
{
    char scratch[SCRATCH_SIZE];
    char long_name[256];
    size_t len = 0, off = 0, valid = 0;
    char *buf;
    ino_event ev;

    /* NAME_MAX (255) bytes: the largest name, in the largest field. */
    memset(long_name, 'n', 255);
    long_name[255] = '\0';
    put_record(scratch, &len, 1, 0x100, 0, "", 0);
    put_record(scratch, &len, 2, 0x40, 77, "old", 16);
    put_record(scratch, &len, 2, 0x80, 77, "new_name_of_it", 16);
    put_record(scratch, &len, 3, 0x200, 0, long_name, 256);
    put_record(scratch, &len, -1, 0x4000, 0, "", 0);
    buf = exact_copy(scratch, len);
    expect_record(buf, len, &off, 1, 0x100, 0, "", 0);
    expect_record(buf, len, &off, 2, 0x40, 77, "old", 16);
    expect_record(buf, len, &off, 2, 0x80, 77, "new_name_of_it", 16);
    expect_record(buf, len, &off, 3, 0x200, 0, long_name, 256);
    expect_record(buf, len, &off, -1, 0x4000, 0, "", 0);
    CHECK_EQ(ino_decode(buf, len, &off, &ev), 0);
    CHECK_EQ(ino_validate(buf, len, &valid), 5);
    CHECK_EQ(valid, len);
    free(buf);
}

/* A record followed by 1..15 stray bytes: too few for a header. */
static void
test_truncated_header(void)
{
    char scratch[SCRATCH_SIZE];
    size_t extra;

    for (extra = 1; extra < INO_RECORD_HEADER; extra++) {
        size_t len = 0, off = 0, valid = 0;
        char *buf;

        put_record(scratch, &len, 5, 0x2, 0, "f", 16);
        memset(scratch + len, 0x11, extra);
        buf = exact_copy(scratch, len + extra);
        expect_record(buf, len + extra, &off, 5, 0x2, 0, "f", 16);
        expect_bad(buf, len + extra, &off);
        CHECK_EQ(ino_validate(buf, len + extra, &valid), -EBADMSG);
        CHECK_EQ(valid, len);
        free(buf);

        /* The same stray bytes alone: nothing valid at all. */
        buf = exact_copy(scratch + len, extra);
        off = 0;
        expect_bad(buf, extra, &off);
        CHECK_EQ(ino_validate(buf, extra, &valid), -EBADMSG);
        CHECK_EQ(valid, 0);
        free(buf);
    }
}

/* len claims one byte more than the buffer holds; one byte fewer than
 * claimed must fail and the exact size must pass. */
static void
test_name_past_end(void)
{
    static const uint32_t fields[] = {16, 32, 256};
    char scratch[SCRATCH_SIZE];
    size_t i;

    for (i = 0; i < CHECK_COUNT(fields); i++) {
        size_t len = 0, off = 0, valid = 0;
        char *buf;

        put_record(scratch, &len, 9, 0x100, 0, "name", fields[i]);
        buf = exact_copy(scratch, len - 1);
        expect_bad(buf, len - 1, &off);
        CHECK_EQ(ino_validate(buf, len - 1, &valid), -EBADMSG);
        CHECK_EQ(valid, 0);
        free(buf);

        buf = exact_copy(scratch, len);
        expect_record(buf, len, &off, 9, 0x100, 0, "name", fields[i]);
        free(buf);
    }
}

/* A name field over INO_NAME_FIELD_MAX is malformed even when the buffer
 * really holds that many bytes; a huge one must not wrap any arithmetic. */
static void
test_oversized_name_field(void)
{
    static const uint32_t fields[] = {
        INO_NAME_FIELD_MAX + 1,
        272,
        4096,
        0x7FFFFFFFu,
        0xFFFFFFF0u,
        0xFFFFFFFFu,
    };
    char scratch[SCRATCH_SIZE];
    size_t i;

    for (i = 0; i < CHECK_COUNT(fields); i++) {
        size_t len = 0, off = 0, valid = 0, body;
        char *buf;

        put_header(scratch, &len, fields[i]);
        /* Back the claim with real bytes where it is small enough. */
        body = fields[i] <= 272 ? fields[i] : 272;
        memset(scratch + len, 'z', body);
        len += body;
        buf = exact_copy(scratch, len);
        expect_bad(buf, len, &off);
        CHECK_EQ(ino_validate(buf, len, &valid), -EBADMSG);
        CHECK_EQ(valid, 0);
        free(buf);
    }
}

/* The boundary itself: a 256-byte field is the kernel's largest. */
static void
test_largest_name_field(void)
{
    char scratch[SCRATCH_SIZE];
    size_t len = 0, off = 0;
    char *buf;

    put_record(scratch, &len, 4, 0x100, 0, "edge", INO_NAME_FIELD_MAX);
    buf = exact_copy(scratch, len);
    expect_record(buf, len, &off, 4, 0x100, 0, "edge", INO_NAME_FIELD_MAX);
    free(buf);
}

/* Callers may hand in any byte address (a slice of a Python bytes
 * object, a fuzzer's input); decode must not assume 4-byte alignment.
 * UBSan's alignment check catches a cast through struct inotify_event. */
static void
test_unaligned_buffers(void)
{
    char scratch[SCRATCH_SIZE];
    size_t len = 0, shift;

    put_record(scratch, &len, 11, 0x100, 0, "odd", 16);
    put_record(scratch, &len, 12, 0x200, 0, "", 0);
    put_record(scratch, &len, 13, 0x8, 0, "even", 32);
    for (shift = 1; shift < 8; shift++) {
        char *block = malloc(len + shift);
        char *buf = block + shift;
        size_t off = 0, valid = 0;

        CHECK(block != NULL);
        memcpy(buf, scratch, len);
        expect_record(buf, len, &off, 11, 0x100, 0, "odd", 16);
        expect_record(buf, len, &off, 12, 0x200, 0, "", 0);
        expect_record(buf, len, &off, 13, 0x8, 0, "even", 32);
        CHECK_EQ(ino_validate(buf, len, &valid), 3);
        CHECK_EQ(valid, len);
        free(block);
    }
}

/* A name with no NUL in its field (not what the kernel writes, but
 * possible in a crafted buffer): name_len is the whole field, and the
 * record sits at the very end of the block so strlen() would overrun. */
static void
test_name_fills_field(void)
{
    char scratch[SCRATCH_SIZE];
    char full[INO_NAME_FIELD_MAX + 1];
    size_t len = 0, off = 0;
    char *buf;

    put_record(scratch, &len, 1, 0x100, 0, "0123456789abcdef", 16);
    memset(full, 'q', INO_NAME_FIELD_MAX);
    full[INO_NAME_FIELD_MAX] = '\0';
    put_record(scratch, &len, 2, 0x100, 0, full, INO_NAME_FIELD_MAX);
    buf = exact_copy(scratch, len);
    expect_record(buf, len, &off, 1, 0x100, 0, "0123456789abcdef", 16);
    expect_record(buf, len, &off, 2, 0x100, 0, full, INO_NAME_FIELD_MAX);
    CHECK_EQ(off, len);
    free(buf);
}

/* ino_validate() reports how far the buffer is good, whatever the fault
 * after that prefix is. */
static void
test_validate_prefix(void)
{
    char scratch[SCRATCH_SIZE];
    size_t good = 0, len, valid, fault;

    put_record(scratch, &good, 1, 0x100, 0, "one", 16);
    put_record(scratch, &good, 1, 0x100, 0, "", 0);
    put_record(scratch, &good, 2, 0x200, 0, "three", 32);
    for (fault = 0; fault < 3; fault++) {
        char *buf;

        len = good;
        if (fault == 0) {
            put_header(scratch, &len, 0xFFFFFFFFu);     /* oversized */
        }
        else if (fault == 1) {
            put_header(scratch, &len, 16);              /* name missing */
        }
        else {
            memset(scratch + len, 0, 5);                /* short header */
            len += 5;
        }
        buf = exact_copy(scratch, len);
        valid = 0;
        CHECK_EQ(ino_validate(buf, len, &valid), -EBADMSG);
        CHECK_EQ(valid, good);
        free(buf);
    }
    /* The prefix on its own validates cleanly. */
    valid = 0;
    CHECK_EQ(ino_validate(scratch, good, &valid), 3);
    CHECK_EQ(valid, good);
}

/* Decoding may start at any record boundary, as ino_next() does. */
static void
test_decode_from_offset(void)
{
    char scratch[SCRATCH_SIZE];
    size_t len = 0, second, off;
    char *buf;

    put_record(scratch, &len, 1, 0x100, 0, "first", 16);
    second = put_record(scratch, &len, 2, 0x200, 0, "second", 16);
    buf = exact_copy(scratch, len);
    off = second;
    expect_record(buf, len, &off, 2, 0x200, 0, "second", 16);
    free(buf);
}

static const check_case cases[] = {
    {"empty_buffer", test_empty_buffer},
    {"record_without_name", test_record_without_name},
    {"padded_names", test_padded_names},
    {"records_back_to_back", test_records_back_to_back},
    {"truncated_header", test_truncated_header},
    {"name_past_end", test_name_past_end},
    {"oversized_name_field", test_oversized_name_field},
    {"largest_name_field", test_largest_name_field},
    {"unaligned_buffers", test_unaligned_buffers},
    {"name_fills_field", test_name_fills_field},
    {"validate_prefix", test_validate_prefix},
    {"decode_from_offset", test_decode_from_offset},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
