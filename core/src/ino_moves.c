/*
 * ino_moves.c: the trees' pending list, what the stream of a watcher's
 * trees still waits for: MOVED_FROMs held for their MOVED_TO, moves a
 * scan reported before their records came, and directories to watch again
 * once the renames before them have been read (enum ino_move_kind).  A
 * plain list: it holds a handful of entries between two drains of the
 * kernel's queue.  It calls nothing; the node, scan and rewrite files use
 * it, and node_free() tells it when a node goes.
 */
#include <stdlib.h>
#include <string.h>

#include "ino_trees.h"

static char *
dup_bytes(const char *p, size_t len)
{
    char *d = malloc(len + 1);

    if (d != NULL) {
        memcpy(d, p, len);
        d[len] = '\0';
    }
    return d;
}

ino_move *
ino_moves_add(ino_trees *ts, enum ino_move_kind kind, uint32_t cookie,
              ino_tree *t, ino_node *node, ino_node *parent, const char *src,
              size_t len, const char *name, size_t name_len)
{
    ino_move *m;

    if (ts->nmoves == ts->moves_cap) {
        size_t cap = ts->moves_cap ? ts->moves_cap * 2 : 8;
        ino_move *moves = realloc(ts->moves, cap * sizeof *moves);
        if (moves == NULL) {
            return NULL;
        }
        ts->moves = moves;
        ts->moves_cap = cap;
    }
    m = &ts->moves[ts->nmoves];
    memset(m, 0, sizeof *m);
    if ((m->src = dup_bytes(src, len)) == NULL) {
        return NULL;
    }
    if (name != NULL && (m->name = dup_bytes(name, name_len)) == NULL) {
        free(m->src);
        return NULL;
    }
    m->kind = kind;
    m->cookie = cookie;
    m->tree = t;
    m->node = node;
    m->parent = parent;
    m->src_len = len;
    m->name_len = name_len;
    ts->nmoves++;
    return m;
}

int
ino_moves_take(ino_trees *ts, enum ino_move_kind kind, uint32_t cookie,
               ino_move *out)
{
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        if (ts->moves[i].kind == kind && ts->moves[i].cookie == cookie) {
            *out = ts->moves[i];
            ts->moves[i] = ts->moves[--ts->nmoves];
            return 1;
        }
    }
    return 0;
}

ino_move *
ino_moves_find(ino_trees *ts, enum ino_move_kind kind, const ino_node *parent,
               const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        ino_move *m = &ts->moves[i];
        const char *s = kind == MOVE_RETRY ? m->src : m->name;
        size_t n = kind == MOVE_RETRY ? m->src_len : m->name_len;
        if (m->kind == kind && m->parent == parent && s != NULL && n == len &&
            memcmp(s, name, len) == 0) {
            return m;
        }
    }
    return NULL;
}

ino_move *
ino_moves_relist(ino_trees *ts, const ino_node *n)
{
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        if (ts->moves[i].kind == MOVE_RELIST && ts->moves[i].node == n) {
            return &ts->moves[i];
        }
    }
    return NULL;
}

size_t
ino_moves_stale(const ino_trees *ts)
{
    size_t i, n = 0;

    for (i = 0; i < ts->nmoves; i++) {
        n += ts->moves[i].kind == MOVE_RETRY ||
             ts->moves[i].kind == MOVE_RELIST;
    }
    return n;
}

void
ino_move_clear(ino_move *m)
{
    free(m->src);
    free(m->name);
    m->src = m->name = NULL;
}

void
ino_moves_keep(ino_trees *ts, const ino_node *n)
{
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        if (ts->moves[i].kind == MOVE_PENDING && ts->moves[i].node == n) {
            ts->moves[i].node = NULL;
        }
    }
}

void
ino_moves_node_gone(ino_trees *ts, const ino_node *n)
{
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        ino_move *m = &ts->moves[i];
        if (m->node == n) {
            m->node = NULL;
        }
        if (m->parent == n) {
            /* A held MOVED_FROM keeps the path it was read with. */
            m->parent = NULL;
            if (m->kind != MOVE_PENDING) {
                m->kind = MOVE_DEAD;
            }
        }
    }
}

void
ino_moves_tree_gone(ino_trees *ts, const ino_tree *t)
{
    size_t i = 0;

    while (i < ts->nmoves) {
        ino_move *m = &ts->moves[i];
        if (m->tree != t) {
            i++;
        }
        else if (m->kind == MOVE_PENDING) {
            /* A pending move from it can no longer pair with anything. */
            m->tree = NULL;
            m->node = m->parent = NULL;
            i++;
        }
        else {
            ino_move_clear(m);
            ts->moves[i] = ts->moves[--ts->nmoves];
        }
    }
}

void
ino_moves_clear(ino_trees *ts)
{
    while (ts->nmoves > 0) {
        ino_move_clear(&ts->moves[--ts->nmoves]);
    }
}

int
ino_moves_left_tree(const ino_trees *ts, const ino_node *n)
{
    size_t i;

    for (i = 0; i < ts->nmoves; i++) {
        const ino_move *m = &ts->moves[i];
        if (m->kind == MOVE_PENDING && !m->held && m->node != NULL &&
            ino_node_is_ancestor(m->node, n)) {
            return 1;
        }
    }
    return 0;
}
