/* loadbench's native launcher: the measuring instrument on Linux.
 *
 * Why a C program: on Linux a child's ru_maxrss is the high-water mark of every address space the
 * process had, including the launcher's own before execve (with vfork the parent's memory *is*
 * the child's until exec). Spawned from a Python process of ~100 MB, every
 * target would report ~100 MB. Spawned from this small static program, the pre-exec part is a
 * few hundred KiB, which loadbench measures (the floor binary's figure) and stores.
 *
 * Usage: launcher SCHEDULE RESULTS. SCHEDULE is a file of NUL-terminated tokens:
 *   "LB1" timeout_ms show_output ntargets
 *   per target: argc arg0 .. argN-1 nevict evictpath..
 *   nenv "K=V"..
 *   norder target-index..
 * RESULTS is a file that gets one tab-separated line per launch, buffered until the batch ends
 * (its own file, so a target allowed to print cannot mix into it), fields as in launch.py's
 * FIELDS:
 *   target status wall_ns user_ns sys_ns minflt majflt maxrss_bytes exit_code signal start_ns pid
 * SIGINT/SIGTERM end the loop after the launch in flight. Exit code 0, or 2 on bad input. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ST_OK, ST_EXIT_NONZERO, ST_SIGNALED, ST_TIMEOUT, ST_SPAWN_FAILED };

struct target {
    char **argv;
    char **evict;
    long nevict;
};

/* The launcher's own messages; a file of loadbench's choosing (argv[3]) so that stderr can be
 * left to targets allowed to print (--show-output). */
static FILE *err;

static volatile sig_atomic_t stop_requested;
static volatile pid_t current_pid;
static volatile sig_atomic_t timed_out;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }

static void on_alarm(int sig) {
    (void)sig;
    if (current_pid > 0) {
        timed_out = 1;
        /* The target leads its own process group (setpgid in child_exec, done before the
         * vfork parent resumes): kill the group, so a script's children die with it. */
        if (kill(-current_pid, SIGKILL) != 0)
            kill(current_pid, SIGKILL);
    }
}

static char **tok;
static long ntok, pos;

static const char *next_tok(void) {
    if (pos >= ntok) {
        fprintf(err, "launcher: schedule file ends early\n");
        exit(2);
    }
    return tok[pos++];
}

static long next_long(void) {
    const char *s = next_tok();
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0') {
        fprintf(err, "launcher: expected a number, got '%s'\n", s);
        exit(2);
    }
    return v;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void evict(char **paths, long n) {
    for (long i = 0; i < n; i++) {
        int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static char *read_all(const char *path, long *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(err, "launcher: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        fprintf(err, "launcher: cannot stat %s\n", path);
        exit(2);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    long got = 0;
    while (buf && got < st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)(st.st_size - got));
        if (r <= 0)
            break;
        got += r;
    }
    close(fd);
    if (!buf || got != st.st_size) {
        fprintf(err, "launcher: cannot read %s\n", path);
        exit(2);
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Set by a vfork child whose execve failed (the child shares our memory until it exits). */
static volatile int spawn_errno;

/* The vfork child: only async-signal-safe calls on our own stack, then execve or _exit. It has
 * its own copy of the signal dispositions, so resetting them here leaves ours alone. */
static void child_exec(char **argv, char **envp, int devnull, const sigset_t *mask) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGALRM, &dfl, NULL);
    sigaction(SIGPIPE, &dfl, NULL);
    /* Own process group: a terminal's Ctrl-C reaches loadbench, not the target mid-launch. */
    setpgid(0, 0);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    sigprocmask(SIG_SETMASK, mask, NULL);
    execve(argv[0], argv, envp);
    spawn_errno = errno ? errno : ENOEXEC;
    _exit(127);
}

int main(int argc, char **argv) {
    err = stderr;
    if (argc != 3 && argc != 4) {
        fprintf(err, "usage: launcher SCHEDULE RESULTS [ERRORS]\n");
        return 2;
    }
    if (argc == 4) {
        FILE *e = fopen(argv[3], "we");
        if (!e) {
            fprintf(stderr, "launcher: cannot open %s: %s\n", argv[3], strerror(errno));
            return 2;
        }
        setvbuf(e, NULL, _IONBF, 0);
        err = e;
    }
    FILE *out = fopen(argv[2], "we");
    if (!out) {
        fprintf(err, "launcher: cannot open %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    long len;
    char *buf = read_all(argv[1], &len);
    for (long i = 0; i < len; i++)
        if (buf[i] == '\0')
            ntok++;
    tok = malloc(sizeof(char *) * (size_t)(ntok + 1));
    for (long i = 0, start = 0, k = 0; i < len; i++)
        if (buf[i] == '\0') {
            tok[k++] = buf + start;
            start = i + 1;
        }
    if (ntok < 1 || strcmp(next_tok(), "LB1") != 0) {
        fprintf(err, "launcher: not a loadbench schedule\n");
        return 2;
    }
    long timeout_ms = next_long();
    long show_output = next_long();
    long ntargets = next_long();
    struct target *targets = calloc((size_t)ntargets, sizeof(struct target));
    for (long t = 0; t < ntargets; t++) {
        long n = next_long();
        targets[t].argv = calloc((size_t)n + 1, sizeof(char *));
        for (long i = 0; i < n; i++)
            targets[t].argv[i] = (char *)next_tok();
        targets[t].nevict = next_long();
        targets[t].evict = calloc((size_t)targets[t].nevict + 1, sizeof(char *));
        for (long i = 0; i < targets[t].nevict; i++)
            targets[t].evict[i] = (char *)next_tok();
    }
    long nenv = next_long();
    char **envp = calloc((size_t)nenv + 1, sizeof(char *));
    for (long i = 0; i < nenv; i++)
        envp[i] = (char *)next_tok();
    long norder = next_long();
    long *order = calloc((size_t)norder + 1, sizeof(long));
    for (long i = 0; i < norder; i++) {
        order[i] = next_long();
        if (order[i] < 0 || order[i] >= ntargets) {
            fprintf(err, "launcher: target index %ld out of range\n", order[i]);
            return 2;
        }
    }

    /* Results are buffered and written when the batch ends (or is stopped): a write and the
     * reader's wake-up per launch would be work between launches that is not measurement. */
    static char outbuf[1 << 20];
    setvbuf(out, outbuf, _IOFBF, sizeof outbuf);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
#ifdef __linux__
    /* If whoever started us dies (loadbench killed with SIGKILL), stop after the launch in
     * flight instead of running the rest of the batch unobserved. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        stop_requested = 1;
#endif
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    /* Everything the spawn needs is prepared once, outside the timed span. */
    int devnull = show_output ? -1 : open("/dev/null", O_RDWR | O_CLOEXEC);
    sigset_t all, empty, saved;
    sigfillset(&all);
    sigemptyset(&empty);
    struct itimerval arm, disarm;
    memset(&arm, 0, sizeof arm);
    memset(&disarm, 0, sizeof disarm);
    arm.it_value.tv_sec = timeout_ms / 1000;
    arm.it_value.tv_usec = (timeout_ms % 1000) * 1000;

    for (long i = 0; i < norder && !stop_requested; i++) {
        struct target *tg = &targets[order[i]];
        if (tg->nevict)
            evict(tg->evict, tg->nevict);
        timed_out = 0;
        current_pid = 0;
        setitimer(ITIMER_REAL, &arm, NULL);
        long long t0 = now_ns();
        /* vfork, not posix_spawn: the child runs on this process's stack, already mapped, so it
         * takes no page fault before execve. glibc's posix_spawn gives its child a freshly
         * mmapped stack whose first touches are 1-2 faults the target never caused. Signals stay
         * blocked until the child has exec'd so that none of our handlers runs in it. */
        sigprocmask(SIG_SETMASK, &all, &saved);
        spawn_errno = 0;
        pid_t pid = vfork();
        if (pid == 0)
            child_exec(tg->argv, envp, devnull, &empty);
        int err = pid < 0 ? errno : spawn_errno;
        if (err == 0)
            current_pid = pid; /* before unblocking: a pending SIGALRM must find the target */
        sigprocmask(SIG_SETMASK, &saved, NULL);
        if (err != 0) {
            if (pid > 0) {
                int ignored;
                while (waitpid(pid, &ignored, 0) < 0 && errno == EINTR)
                    ;
            }
            long long t1 = now_ns();
            setitimer(ITIMER_REAL, &disarm, NULL);
            fprintf(out, "%ld\t%d\t%lld\t0\t0\t0\t0\t0\t%d\t\t%lld\t0\n", order[i],
                    ST_SPAWN_FAILED, t1 - t0, err, t0);
            continue;
        }
        int status = 0;
        struct rusage ru;
        pid_t r;
        do {
            r = wait4(pid, &status, 0, &ru);
        } while (r < 0 && errno == EINTR);
        long long t1 = now_ns();
        setitimer(ITIMER_REAL, &disarm, NULL);
        current_pid = 0;
        int st;
        char code[16] = "", sig[16] = "";
        if (timed_out) {
            st = ST_TIMEOUT;
            snprintf(sig, sizeof sig, "%d", SIGKILL);
        } else if (WIFSIGNALED(status)) {
            st = ST_SIGNALED;
            snprintf(sig, sizeof sig, "%d", WTERMSIG(status));
        } else {
            int c = WEXITSTATUS(status);
            st = c == 0 ? ST_OK : ST_EXIT_NONZERO;
            snprintf(code, sizeof code, "%d", c);
        }
        long long user_ns = (long long)ru.ru_utime.tv_sec * 1000000000LL +
                            (long long)ru.ru_utime.tv_usec * 1000LL;
        long long sys_ns = (long long)ru.ru_stime.tv_sec * 1000000000LL +
                           (long long)ru.ru_stime.tv_usec * 1000LL;
        fprintf(out, "%ld\t%d\t%lld\t%lld\t%lld\t%ld\t%ld\t%lld\t%s\t%s\t%lld\t%d\n", order[i], st,
               t1 - t0, user_ns, sys_ns, ru.ru_minflt, ru.ru_majflt,
               (long long)ru.ru_maxrss * 1024LL, code, sig, t0, (int)pid);
    }
    if (fclose(out) != 0) {
        fprintf(err, "launcher: cannot write results: %s\n", strerror(errno));
        return 2;
    }
    return 0;
}
