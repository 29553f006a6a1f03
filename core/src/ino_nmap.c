/*
 * ino_nmap.c: a hash map from (owner, name) to a pointer, with linear
 * probing and backward-shift deletion, used to remember the names a scan
 * reported; and the trees' children map (ino_cmap), the same map keyed by
 * the nodes' own parent and name, which finds a directory's child by name
 * in O(1) in 12 bytes a slot.
 *
 * Both are deliberately built like the watch table (ino_table.c): the same
 * probing, growth and backward-shift deletion.  Keep the three in step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ino_trees.h"

struct ino_nmap_slot {
    uintptr_t owner;     /* what the name belongs to; 0 marks a free slot */
    uint32_t hash;       /* of owner and name */
    uint32_t len;        /* bytes in name */
    const char *name;    /* owned copy, or the caller's, per the map */
    void *value;         /* what the key maps to */
};

#define NMAP_MIN 16u

static uint32_t
nmap_hash(uintptr_t owner, const char *name, size_t len)
{
    /* FNV-1a over the name, seeded with the owner. */
    uint64_t h = 1469598103934665603ull ^ (uint64_t)owner;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)name[i]) * 1099511628211ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

void
ino_nmap_init(ino_nmap *m)
{
    m->slots = NULL;
    m->capacity = m->count = 0;
}

void
ino_nmap_free(ino_nmap *m, int owns)
{
    size_t i;

    for (i = 0; owns && i < m->capacity; i++) {
        if (m->slots[i].owner != 0) {
            free((char *)m->slots[i].name);
        }
    }
    free(m->slots);
    ino_nmap_init(m);
}

void
ino_nmap_free_values(ino_nmap *m)
{
    size_t i;

    for (i = 0; i < m->capacity; i++) {
        if (m->slots[i].owner != 0) {
            free(m->slots[i].value);
        }
    }
}

static ino_nmap_slot *
nmap_find(const ino_nmap *m, uintptr_t owner, const char *name, size_t len,
          uint32_t hash)
{
    size_t mask = m->capacity - 1, i;

    if (m->capacity == 0) {
        return NULL;
    }
    for (i = hash & mask; m->slots[i].owner != 0; i = (i + 1) & mask) {
        ino_nmap_slot *s = &m->slots[i];
        if (s->hash == hash && s->owner == owner && s->len == len &&
            memcmp(s->name, name, len) == 0) {
            return s;
        }
    }
    return NULL;
}

void *
ino_nmap_get(const ino_nmap *m, uintptr_t owner, const char *name, size_t len)
{
    ino_nmap_slot *s =
        nmap_find(m, owner, name, len, nmap_hash(owner, name, len));

    return s ? s->value : NULL;
}

static void
nmap_place(ino_nmap *m, const ino_nmap_slot *slot)
{
    size_t mask = m->capacity - 1, i = slot->hash & mask;

    while (m->slots[i].owner != 0) {
        i = (i + 1) & mask;
    }
    m->slots[i] = *slot;
    m->count++;
}

static int
nmap_grow(ino_nmap *m)
{
    size_t cap = m->capacity ? m->capacity * 2 : NMAP_MIN, i;
    ino_nmap bigger;

    bigger.slots = calloc(cap, sizeof(ino_nmap_slot));
    if (bigger.slots == NULL) {
        return -ENOMEM;
    }
    bigger.capacity = cap;
    bigger.count = 0;
    for (i = 0; i < m->capacity; i++) {
        if (m->slots[i].owner != 0) {
            nmap_place(&bigger, &m->slots[i]);
        }
    }
    free(m->slots);
    *m = bigger;
    return 0;
}

/* 1 when n keys fit at the map's load bound, at most three quarters full
 * (as the watch table): FNV-1a spreads the keys well enough that probes
 * stay short, and a key costs fewer empty slots. */
static int
nmap_fits(const ino_nmap *m, size_t n)
{
    return n * 4 <= m->capacity * 3;
}

int
ino_nmap_reserve(ino_nmap *m, size_t more)
{
    while (!nmap_fits(m, m->count + more)) {
        if (nmap_grow(m) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

int
ino_nmap_put(ino_nmap *m, uintptr_t owner, const char *name, size_t len,
             void *value, int owns)
{
    uint32_t hash = nmap_hash(owner, name, len);
    ino_nmap_slot *s = nmap_find(m, owner, name, len, hash);
    ino_nmap_slot fresh = {owner, hash, (uint32_t)len, name, value};

    if (s != NULL) {
        /* A map that does not own its names points at the new value's
         * copy: the old one may be freed with its owner. */
        if (!owns) {
            s->name = name;
        }
        s->value = value;
        return 0;
    }
    if (!nmap_fits(m, m->count + 1) && nmap_grow(m) < 0) {
        return -ENOMEM;
    }
    if (owns) {
        char *copy = malloc(len + 1);
        if (copy == NULL) {
            return -ENOMEM;
        }
        memcpy(copy, name, len);
        copy[len] = '\0';
        fresh.name = copy;
    }
    nmap_place(m, &fresh);
    return 0;
}

void *
ino_nmap_del(ino_nmap *m, uintptr_t owner, const char *name, size_t len,
             int owns)
{
    ino_nmap_slot *s =
        nmap_find(m, owner, name, len, nmap_hash(owner, name, len));
    size_t mask, hole, i, home;
    void *value;

    if (s == NULL) {
        return NULL;
    }
    value = s->value;
    if (owns) {
        free((char *)s->name);
    }
    mask = m->capacity - 1;
    hole = (size_t)(s - m->slots);
    for (i = (hole + 1) & mask; m->slots[i].owner != 0; i = (i + 1) & mask) {
        home = m->slots[i].hash & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    memset(&m->slots[hole], 0, sizeof(ino_nmap_slot));
    m->count--;
    return value;
}

/* ---- the children map -------------------------------------------------- */

void
ino_cmap_init(ino_cmap *m)
{
    m->nodes = NULL;
    m->hashes = NULL;
    m->capacity = m->count = 0;
}

void
ino_cmap_free(ino_cmap *m)
{
    free(m->nodes); /* the hashes are in the same block */
    ino_cmap_init(m);
}

static size_t
cmap_find(const ino_cmap *m, uintptr_t parent, const char *name, size_t len,
          uint32_t hash)
{
    size_t mask = m->capacity - 1, i;

    for (i = hash & mask; m->nodes[i] != NULL; i = (i + 1) & mask) {
        const ino_node *n = m->nodes[i];
        if (m->hashes[i] == hash && (uintptr_t)n->parent == parent &&
            n->name_len == len && memcmp(n->name, name, len) == 0) {
            return i;
        }
    }
    return i; /* the free slot that ends the run */
}

ino_node *
ino_cmap_get(const ino_cmap *m, uintptr_t parent, const char *name, size_t len)
{
    if (m->count == 0) {
        return NULL;
    }
    return m
        ->nodes[cmap_find(m, parent, name, len, nmap_hash(parent, name, len))];
}

static int
cmap_grow(ino_cmap *m)
{
    size_t cap = m->capacity ? m->capacity * 2 : NMAP_MIN, i, j, mask;
    ino_node **nodes;
    uint32_t *hashes;

    if (cap > SIZE_MAX / (sizeof *nodes + sizeof *hashes)) {
        return -ENOMEM;
    }
    nodes = calloc(cap, sizeof *nodes + sizeof *hashes);
    if (nodes == NULL) {
        return -ENOMEM;
    }
    hashes = (uint32_t *)(nodes + cap);
    mask = cap - 1;
    for (i = 0; i < m->capacity; i++) {
        if (m->nodes[i] != NULL) {
            for (j = m->hashes[i] & mask; nodes[j] != NULL;
                 j = (j + 1) & mask) {
            }
            nodes[j] = m->nodes[i];
            hashes[j] = m->hashes[i];
        }
    }
    free(m->nodes);
    m->nodes = nodes;
    m->hashes = hashes;
    m->capacity = cap;
    return 0;
}

int
ino_cmap_reserve(ino_cmap *m, size_t more)
{
    while ((m->count + more) * 4 > m->capacity * 3) {
        if (cmap_grow(m) < 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

ino_node *
ino_cmap_put(ino_cmap *m, ino_node *n)
{
    uintptr_t parent = (uintptr_t)n->parent;
    uint32_t hash = nmap_hash(parent, n->name, n->name_len);
    size_t i;
    ino_node *old;

    assert(m->capacity > 0);
    i = cmap_find(m, parent, n->name, n->name_len, hash);
    old = m->nodes[i];
    m->nodes[i] = n;
    m->hashes[i] = hash;
    m->count += old == NULL;
    return old;
}

int
ino_cmap_del(ino_cmap *m, const ino_node *n)
{
    size_t mask, hole, i, home;

    if (m->count == 0) {
        return 0;
    }
    hole = cmap_find(m, (uintptr_t)n->parent, n->name, n->name_len,
                     nmap_hash((uintptr_t)n->parent, n->name, n->name_len));
    if (m->nodes[hole] != n) {
        return 0;
    }
    mask = m->capacity - 1;
    for (i = (hole + 1) & mask; m->nodes[i] != NULL; i = (i + 1) & mask) {
        home = m->hashes[i] & mask;
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            m->nodes[hole] = m->nodes[i];
            m->hashes[hole] = m->hashes[i];
            hole = i;
        }
    }
    m->nodes[hole] = NULL;
    m->count--;
    return 1;
}

void
ino_cmap_prefetch(const ino_cmap *m, uintptr_t parent, const char *name,
                  size_t len)
{
    size_t i;

    if (m->capacity == 0) {
        return;
    }
    i = nmap_hash(parent, name, len) & (m->capacity - 1);
    __builtin_prefetch(&m->nodes[i], 1);
    __builtin_prefetch(&m->hashes[i], 1);
}
