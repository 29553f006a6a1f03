/*
 * test_table.c: the wd -> entry table, checked against a shadow model.
 *
 * The model is a plain array of distinct wds with a "present" flag each;
 * after every operation the table must agree with it.  The checks use only
 * the public interface plus one structural fact that holds for any linear
 * probing table: ino_table_find() on the wd in an occupied slot returns
 * that very slot.  That is what backward-shift deletion can break (an
 * entry left behind a new hole becomes unreachable), and it does not
 * depend on which hash function the table uses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ino.h"
#include "check.h"

/* ---- a small deterministic PRNG (xorshift64*) -------------------------- */

static uint64_t
rng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}

/* Uniform enough in [0, n) for test shuffling; n > 0. */
static size_t
rng_below(uint64_t *state, size_t n)
{
    return (size_t)(rng_next(state) % n);
}

static void
shuffle(size_t *v, size_t n, uint64_t *state)
{
    size_t i;

    for (i = n; i > 1; i--) {
        size_t j = rng_below(state, i);
        size_t tmp = v[i - 1];

        v[i - 1] = v[j];
        v[j] = tmp;
    }
}

/* ---- the shadow model -------------------------------------------------- */

typedef struct model {
    int32_t *wd;            /* n distinct wds, all > 0 */
    unsigned char *present; /* present[i]: wd[i] is in the table */
    size_t n;
    size_t count;           /* how many are present */
} model;

static void
model_init(model *m, size_t n)
{
    m->wd = calloc(n, sizeof *m->wd);
    m->present = calloc(n, 1);
    CHECK(m->wd != NULL && m->present != NULL);
    m->n = n;
    m->count = 0;
}

static void
model_free(model *m)
{
    free(m->wd);
    free(m->present);
}

/* The entry for model index i carries a pointer unique to it, so that a
 * slot moved by deletion or growth is seen to keep its payload. */
static void *
model_udata(const model *m, size_t i)
{
    return &m->wd[i];
}

static int
cmp_wd(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/* Draws n distinct wds in [1, INT32_MAX]; duplicates are redrawn. */
static void
model_random_wds(model *m, uint64_t *state)
{
    size_t i;
    int dup = 1;

    for (i = 0; i < m->n; i++) {
        m->wd[i] = 0;
    }
    while (dup) {
        dup = 0;
        for (i = 0; i < m->n; i++) {
            if (m->wd[i] == 0) {
                m->wd[i] = (int32_t)(rng_next(state) % INT32_MAX) + 1;
            }
        }
        qsort(m->wd, m->n, sizeof *m->wd, cmp_wd);
        for (i = 1; i < m->n; i++) {
            if (m->wd[i] == m->wd[i - 1]) {
                m->wd[i] = 0;
                dup = 1;
            }
        }
    }
}

/* ---- checks ------------------------------------------------------------ */

/* The structural fact above, for one slot. */
static void
check_slot(const ino_table *t, size_t i)
{
    const ino_entry *e = &t->slots[i];

    if (e->wd != 0) {
        CHECK(e->wd > 0);
        CHECK(ino_table_find(t, e->wd) == e);
    }
}

/* Occupied slots from i onwards, up to the first free one. */
static size_t
run_length(const ino_table *t, size_t i)
{
    size_t k = 0;

    while (k < t->capacity && t->slots[(i + k) % t->capacity].wd != 0) {
        k++;
    }
    return k;
}

/* Everything, slot by slot and wd by wd; O(capacity + n). */
static void
check_full(const ino_table *t, const model *m)
{
    size_t i, used = 0;

    CHECK_EQ(t->count, m->count);
    CHECK(t->capacity == 0 || (t->capacity & (t->capacity - 1)) == 0);
    CHECK(t->count * 8 <= t->capacity * 7 || t->capacity == 0);
    for (i = 0; i < t->capacity; i++) {
        check_slot(t, i);
        used += t->slots[i].wd != 0;
    }
    CHECK_EQ(used, t->count);
    for (i = 0; i < m->n; i++) {
        const ino_entry *e = ino_table_find(t, m->wd[i]);

        if (m->present[i]) {
            CHECK(e != NULL);
            CHECK_EQ(e->wd, m->wd[i]);
            CHECK(e->udata == model_udata(m, i));
        }
        else {
            CHECK(e == NULL);
        }
    }
}

static void
model_insert(ino_table *t, model *m, size_t i)
{
    size_t cap = t->capacity;
    ino_entry *e = NULL;

    CHECK_EQ(ino_table_insert(t, m->wd[i], &e), 0);
    CHECK(e != NULL);
    CHECK_EQ(e->wd, m->wd[i]);
    CHECK(e->udata == NULL && e->removed == 0 && e->mask == 0);
    e->udata = model_udata(m, i);
    e->mask = (uint32_t)i;
    m->present[i] = 1;
    m->count++;
    CHECK_EQ(t->count, m->count);
    CHECK(ino_table_find(t, m->wd[i]) == e);
    if (t->capacity != cap) {
        check_full(t, m);       /* growth rehashed everything */
    }
}

/* Removes and then re-checks every slot of the run the entry sat in: those
 * are the only slots backward-shift deletion may have moved. */
static void
model_remove(ino_table *t, model *m, size_t i)
{
    ino_entry *e = ino_table_find(t, m->wd[i]);
    ino_entry old;
    size_t start, run, k, used = 0;

    CHECK(e != NULL);
    start = (size_t)(e - t->slots);
    run = run_length(t, start);
    memset(&old, 0, sizeof old);
    CHECK_EQ(ino_table_remove(t, m->wd[i], &old), 0);
    CHECK_EQ(old.wd, m->wd[i]);
    CHECK(old.udata == model_udata(m, i));
    CHECK_EQ(old.mask, (uint32_t)i);
    m->present[i] = 0;
    m->count--;
    CHECK_EQ(t->count, m->count);
    CHECK(ino_table_find(t, m->wd[i]) == NULL);
    /* Shifting only moves entries within the old run: it now holds one
     * entry fewer, and the free slot that ended it is still free. */
    for (k = 0; k <= run; k++) {
        check_slot(t, (start + k) % t->capacity);
        used += t->slots[(start + k) % t->capacity].wd != 0;
    }
    CHECK_EQ(used, run - 1);
}

/* Inserts each wd once and removes it once, the 2n operations in random
 * order, so the table grows, shrinks and regrows with mixed contents.
 * Missing wds are probed along the way; a full check runs every
 * `full_every` operations and at the end. */
static void
run_model(model *m, uint64_t *state, size_t full_every)
{
    size_t *ops = calloc(2 * m->n, sizeof *ops);
    ino_table t;
    size_t k;

    CHECK(ops != NULL);
    for (k = 0; k < 2 * m->n; k++) {
        ops[k] = k % m->n;
    }
    shuffle(ops, 2 * m->n, state);
    ino_table_init(&t);
    for (k = 0; k < 2 * m->n; k++) {
        size_t i = ops[k], j = rng_below(state, m->n);

        if (m->present[i]) {
            model_remove(&t, m, i);
        }
        else {
            model_insert(&t, m, i);
        }
        if (!m->present[j]) {
            CHECK_EQ(ino_table_remove(&t, m->wd[j], NULL), -ENOENT);
            CHECK(ino_table_find(&t, m->wd[j]) == NULL);
        }
        if (k % full_every == 0) {
            check_full(&t, m);
        }
    }
    check_full(&t, m);
    CHECK_EQ(t.count, 0);
    ino_table_free(&t);
    free(ops);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_insert_find_remove(void)
{
    ino_table t;
    ino_entry *e = NULL, *f = NULL, old;
    int marker;

    ino_table_init(&t);
    CHECK(ino_table_find(&t, 1) == NULL);   /* no storage yet */
    CHECK_EQ(ino_table_insert(&t, 1, &e), 0);
    e->udata = &marker;
    e->mask = 0x100;
    CHECK_EQ(ino_table_insert(&t, 2, &f), 0);
    CHECK_EQ(t.count, 2);
    /* Pointers are stale after an insertion: look up afresh. */
    e = ino_table_find(&t, 1);
    CHECK(e != NULL && e->udata == &marker && e->mask == 0x100);
    CHECK(ino_table_find(&t, 3) == NULL);
    memset(&old, 0, sizeof old);
    CHECK_EQ(ino_table_remove(&t, 1, &old), 0);
    CHECK(old.wd == 1 && old.udata == &marker && old.mask == 0x100);
    CHECK(ino_table_find(&t, 1) == NULL);
    CHECK(ino_table_find(&t, 2) != NULL);
    CHECK_EQ(ino_table_remove(&t, 2, NULL), 0);    /* NULL old is fine */
    CHECK_EQ(t.count, 0);
    ino_table_free(&t);
}

static void
test_rejects_nonpositive_wd(void)
{
    static const int32_t bad[] = {0, -1, -2, INT32_MIN};
    ino_table t;
    ino_entry *e;
    size_t i;

    ino_table_init(&t);
    for (i = 0; i < CHECK_COUNT(bad); i++) {
        e = NULL;
        CHECK_EQ(ino_table_insert(&t, bad[i], &e), -EINVAL);
        CHECK(e == NULL);
        CHECK_EQ(t.count, 0);
    }
    CHECK_EQ(ino_table_insert(&t, 5, &e), 0);
    for (i = 0; i < CHECK_COUNT(bad); i++) {
        CHECK_EQ(ino_table_insert(&t, bad[i], &e), -EINVAL);
        /* wd 0 marks a free slot: it must never be "found". */
        CHECK(ino_table_find(&t, bad[i]) == NULL);
        CHECK_EQ(ino_table_remove(&t, bad[i], NULL), -ENOENT);
    }
    CHECK_EQ(t.count, 1);
    ino_table_free(&t);
}

static void
test_remove_missing(void)
{
    ino_table t;
    ino_entry *e, old;

    ino_table_init(&t);
    CHECK_EQ(ino_table_remove(&t, 1, NULL), -ENOENT);  /* no storage */
    CHECK_EQ(ino_table_insert(&t, 1, &e), 0);
    CHECK_EQ(ino_table_remove(&t, 2, NULL), -ENOENT);
    CHECK_EQ(ino_table_remove(&t, INT32_MAX, &old), -ENOENT);
    CHECK_EQ(ino_table_remove(&t, 1, NULL), 0);
    CHECK_EQ(ino_table_remove(&t, 1, NULL), -ENOENT);  /* already gone */
    CHECK_EQ(t.count, 0);
    ino_table_free(&t);
}

/* 10,000 random wds over the whole positive range. */
static void
test_random_model(void)
{
    uint64_t state = 0x9E3779B97F4A7C15ull;
    model m;

    model_init(&m, 10000);
    model_random_wds(&m, &state);
    run_model(&m, &state, 64);
    model_free(&m);
}

/* Small, dense wds as the kernel hands them out. */
static void
test_sequential_model(void)
{
    uint64_t state = 0xD1B54A32D192ED03ull;
    model m;
    size_t i;

    model_init(&m, 3000);
    for (i = 0; i < m.n; i++) {
        m.wd[i] = (int32_t)i + 1;
    }
    run_model(&m, &state, 256);
    model_free(&m);
}

/* wds that differ only above bit 16.  A multiplicative hash masked down to
 * the low bits gives them all one home slot, which makes a single long
 * run that wraps around the end of the array: the hardest case for
 * backward shifting.  The checks hold whatever the hash is. */
static void
test_clustered_model(void)
{
    uint64_t state = 0x94D049BB133111EBull;
    model m;
    size_t i;

    model_init(&m, 200);
    for (i = 0; i < m.n; i++) {
        m.wd[i] = (int32_t)((i + 1) << 16);
    }
    run_model(&m, &state, 16);
    model_free(&m);
}

/* The home slot of wd in a table holding only it, and that table's
 * capacity: found by trying, so the test does not copy the hash. */
static size_t
probe_home(int32_t wd, size_t *capacity)
{
    ino_table t;
    ino_entry *e;
    size_t home;

    ino_table_init(&t);
    CHECK_EQ(ino_table_insert(&t, wd, &e), 0);
    home = (size_t)(e - t.slots);
    *capacity = t.capacity;
    ino_table_free(&t);
    return home;
}

/* Runs that wrap past the last slot, where "does the home lie after the
 * hole" must be computed modulo the capacity.  Entries are picked to home
 * at the last two slots and the first two, so the run spans the end; each
 * of many insertion and removal orders is then checked after every step.
 * The table is kept at its smallest size, where these homes were found. */
static void
test_wraparound_runs(void)
{
    static const size_t want[] = {3, 2, 2, 1};  /* homes C-1, C-2, 0, 1 */
    uint64_t state = 0xBF58476D1CE4E5B9ull;
    size_t cap = 0, c, have[4] = {0, 0, 0, 0}, order[8], round, k;
    model m;
    int32_t wd;

    model_init(&m, 8);
    probe_home(1, &cap);
    CHECK(cap >= 2 * m.n);
    for (wd = 1; m.count < m.n && wd < 1000000; wd++) {
        size_t home = probe_home(wd, &c);
        size_t which = home == cap - 1   ? 0
                       : home == cap - 2 ? 1
                       : home == 0       ? 2
                       : home == 1       ? 3
                                         : 4;

        if (which < 4 && have[which] < want[which]) {
            have[which]++;
            m.wd[m.count++] = wd;
        }
    }
    CHECK_EQ(m.count, m.n);
    m.count = 0;
    for (round = 0; round < 500; round++) {
        ino_table t;

        ino_table_init(&t);
        for (k = 0; k < m.n; k++) {
            order[k] = k;
        }
        shuffle(order, m.n, &state);
        for (k = 0; k < m.n; k++) {
            model_insert(&t, &m, order[k]);
        }
        CHECK_EQ(t.capacity, cap);
        check_full(&t, &m);
        shuffle(order, m.n, &state);
        for (k = 0; k < m.n; k++) {
            model_remove(&t, &m, order[k]);
            check_full(&t, &m);
        }
        ino_table_free(&t);
    }
    model_free(&m);
}

static void
test_iteration(void)
{
    ino_table t;
    ino_entry *e;
    size_t pos = 0, seen_count = 0, i;
    unsigned char seen[1001];

    ino_table_init(&t);
    CHECK(ino_table_next(&t, &pos) == NULL);       /* never allocated */
    for (i = 1; i <= 1000; i++) {
        CHECK_EQ(ino_table_insert(&t, (int32_t)i, &e), 0);
    }
    /* Remove every third one so iteration has holes to step over. */
    for (i = 3; i <= 1000; i += 3) {
        CHECK_EQ(ino_table_remove(&t, (int32_t)i, NULL), 0);
    }
    memset(seen, 0, sizeof seen);
    pos = 0;
    while ((e = ino_table_next(&t, &pos)) != NULL) {
        CHECK(e->wd >= 1 && e->wd <= 1000);
        CHECK(e->wd % 3 != 0);
        CHECK_EQ(seen[e->wd], 0);
        seen[e->wd] = 1;
        seen_count++;
    }
    CHECK_EQ(seen_count, t.count);
    CHECK_EQ(seen_count, 1000 - 333);
    /* An exhausted iterator stays exhausted. */
    CHECK(ino_table_next(&t, &pos) == NULL);
    ino_table_free(&t);
}

static void
test_free_then_reuse(void)
{
    ino_table t;
    ino_entry *e;
    int32_t wd;

    ino_table_init(&t);
    ino_table_free(&t);                 /* freeing an empty table is fine */
    for (wd = 1; wd <= 100; wd++) {
        CHECK_EQ(ino_table_insert(&t, wd, &e), 0);
    }
    ino_table_free(&t);
    CHECK(t.slots == NULL && t.capacity == 0 && t.count == 0);
    CHECK(ino_table_find(&t, 1) == NULL);
    ino_table_free(&t);                 /* and so is freeing twice */
    CHECK_EQ(ino_table_insert(&t, 42, &e), 0);
    CHECK(ino_table_find(&t, 42) == e);
    CHECK(ino_table_find(&t, 1) == NULL);
    CHECK_EQ(t.count, 1);
    ino_table_free(&t);
}

static const check_case cases[] = {
    {"insert_find_remove", test_insert_find_remove},
    {"rejects_nonpositive_wd", test_rejects_nonpositive_wd},
    {"remove_missing", test_remove_missing},
    {"random_model", test_random_model},
    {"sequential_model", test_sequential_model},
    {"clustered_model", test_clustered_model},
    {"wraparound_runs", test_wraparound_runs},
    {"iteration", test_iteration},
    {"free_then_reuse", test_free_then_reuse},
};

int
main(int argc, char **argv)
{
    return check_main(argc, argv, cases, CHECK_COUNT(cases));
}
