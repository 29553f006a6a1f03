/*
 * ino_table.c: the wd -> watch table.  The kernel hands out small positive
 * wds, mostly in increasing order, so a multiplicative hash with linear
 * probing and backward-shift deletion (no tombstones) stays short.
 *
 * The name maps (ino_nmap.c) are deliberately built the same way, with
 * their own keys and hashes (and at most three quarters full, their hashes
 * spreading names at random); keep them in step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ino_internal.h"

#define INO_TABLE_MIN 16u

static size_t
table_slot(const ino_table *t, int32_t wd)
{
    return ino_table_slot(t, wd);
}

void
ino_table_init(ino_table *t)
{
    t->slots = NULL;
    t->capacity = 0;
    t->count = 0;
    t->hint = 0;
}

void
ino_table_free(ino_table *t)
{
    free(t->slots);
    ino_table_init(t);
}

ino_entry *
ino_table_find(const ino_table *t, int32_t wd)
{
    return ino_table_lookup(t, wd);
}

/* Places an entry known to be absent; the table must have a free slot. */
static ino_entry *
table_place(ino_table *t, const ino_entry *e)
{
    size_t i = table_slot(t, e->wd);

    while (t->slots[i].wd != 0) {
        i = (i + 1) & (t->capacity - 1);
    }
    t->slots[i] = *e;
    t->count++;
    return &t->slots[i];
}

static int
table_grow(ino_table *t)
{
    size_t newcap = t->capacity ? t->capacity * 2 : INO_TABLE_MIN;
    ino_table bigger;
    size_t i;

    if (newcap > SIZE_MAX / sizeof(ino_entry)) {
        return -ENOMEM;
    }
    bigger.slots = calloc(newcap, sizeof(ino_entry));
    if (bigger.slots == NULL) {
        return -ENOMEM;
    }
    bigger.capacity = newcap;
    bigger.count = 0;
    bigger.hint = 0;
    for (i = 0; i < t->capacity; i++) {
        if (t->slots[i].wd != 0) {
            table_place(&bigger, &t->slots[i]);
        }
    }
    free(t->slots);
    *t = bigger;
    return 0;
}

int
ino_table_insert(ino_table *t, int32_t wd, ino_entry **out)
{
    ino_entry fresh = {wd, 0, 0, NULL, NULL};
    int rc;

    if (wd <= 0) {
        return -EINVAL;
    }
    /* Keep the load at or under seven eighths.  The kernel hands out wds
     * one after the other, and the multiplicative hash puts consecutive
     * wds in distinct slots, so probes stay short even that full; and a
     * watch costs fewer empty slots (a tree's directory at most 73 bytes
     * of table, 32 / (7/16), where three quarters would be 85). */
    if ((t->count + 1) * 8 > t->capacity * 7) {
        rc = table_grow(t);
        if (rc < 0) {
            return rc;
        }
    }
    *out = table_place(t, &fresh);
    return 0;
}

int
ino_table_remove(ino_table *t, int32_t wd, ino_entry *old)
{
    ino_entry *e = ino_table_find(t, wd);
    size_t hole, i, home, mask;

    if (e == NULL) {
        return -ENOENT;
    }
    if (old != NULL) {
        *old = *e;
    }
    mask = t->capacity - 1;
    hole = (size_t)(e - t->slots);
    /* Backward-shift deletion: move later members of the probe run into
     * the hole when their home slot does not lie after the hole. */
    for (i = (hole + 1) & mask; t->slots[i].wd != 0; i = (i + 1) & mask) {
        home = table_slot(t, t->slots[i].wd);
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            t->slots[hole] = t->slots[i];
            hole = i;
        }
    }
    memset(&t->slots[hole], 0, sizeof(ino_entry));
    t->count--;
    return 0;
}

ino_entry *
ino_table_next(const ino_table *t, size_t *pos)
{
    while (*pos < t->capacity) {
        ino_entry *e = &t->slots[(*pos)++];
        if (e->wd != 0) {
            return e;
        }
    }
    return NULL;
}
