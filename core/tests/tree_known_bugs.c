/*
 * tree_known_bugs.c: reproducers of tree bugs found in review and not
 * fixed yet.  Each case FAILS until its bug is fixed, so this is no test
 * program of the suite (meson builds it with -Dtests=true; `meson test`
 * and pytest do not run it).  `./tree_known_bugs` runs every case in a
 * child process (a hang or a crash stays there) and prints FAIL or ok per
 * case; `./tree_known_bugs NAME` runs one; `--list` names them.  Once a
 * bug is fixed, move its case to the test_tree_*.c file of its topic,
 * named after the behaviour it pins down.
 */
#include <fcntl.h>
#include <sys/wait.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ino.h"
#include "ino_internal.h" /* white-box views of the trees */
#include "check.h"
#include "support.h"

/* Known bug (read_cooked()): with trees, ino_read() reads
 * a whole 64 KiB scratch buffer whatever room the bound leaves, so the
 * queue grows past max_queued (ino_read() of plain watches caps the read;
 * the header promises it stops at max_queued). */
static void
bug_bound_ignored(void)
{
    ino_watcher w;
    long n;
    int i;

    tmp_make_tree();
    open_watcher(&w, 4);
    add_tree(&w, tmp_path("tree"), IN_CREATE, NULL, 0, 0, NULL);
    for (i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        touch_at(tree_path(name));
    }
    n = ino_read(&w);
    CHECK(n > 0);
    CHECK(ino_queued(&w) <= 4 + 1);                   /* fails: 40 */
    CHECK_EQ(ino_close(&w), 0);
    tmp_remove();
}

/* ---- running ------------------------------------------------------------ */

static const check_case cases[] = {
    {"bug_bound_ignored", bug_bound_ignored},
};

/* Runs each known-bug case in a child (a hang or crash stays there);
 * returns 1 if any failed. */
static int
run_bugs(const char *only)
{
    size_t i;
    int failed = 0;

    for (i = 0; i < CHECK_COUNT(cases); i++) {
        pid_t pid;
        int status;

        if (only != NULL && strcmp(only, cases[i].name) != 0) {
            continue;
        }
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            check_current = cases[i].name;
            cases[i].fn();
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid) {
            return 1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok %s (fixed? move it to its test_tree_*.c)\n",
                   cases[i].name);
        }
        else {
            printf("FAIL %s (%s %d)\n", cases[i].name,
                   WIFEXITED(status) ? "exit" : "signal",
                   WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            failed = 1;
        }
    }
    return failed;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        return check_main(argc, argv, cases, CHECK_COUNT(cases));
    }
    return run_bugs(argc > 1 ? argv[1] : NULL);
}
