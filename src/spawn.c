/* Starting and stopping job processes. Each job leads its own process
 * group, so one signal reaches every process it forked, and holds only
 * its three pipes and an allowlisted environment: nothing it inherits
 * lets it reach Redis, the database or another run. Under a root worker
 * each job runs as a uid of its own, so that no job can signal, trace or
 * read the /proc of another run's job: the kernel's own checks between
 * users keep them apart. */
#define _GNU_SOURCE /* close_range */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <pwd.h>

#include "jobtypes.h"

/* "HOME=" and the job user's home directory. */
#define HOME_SIZE 512

static int cloexec_pipe(int p[2])
{
    if (pipe(p) != 0)
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

static void close_pair(int p[2])
{
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
}

/* What a job inherits of the worker's environment; everything else it
 * gets is named in its type file or is its run's OPSTREAM_*. */
static const char *const passed_env[] = {"PATH", "HOME", "LANG", "TZ"};
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

extern char **environ;

/* The worker's "NAME=value" for name, or NULL. */
static char *inherited(const char *name)
{
    size_t n = strlen(name);
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e;
    return NULL;
}

/* True when env already sets name. */
static int sets(char *const env[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return 1;
    return 0;
}

/* The job's whole environment, in out (room for SPAWN_ENV_MAX + 1):
 * env first, then the allowlist where env does not set it; home, when
 * given, is the job user's HOME. Pointers only: the child execs at once. */
static void job_environment(char *const env[], char *home, char *out[])
{
    size_t n = 0;
    for (size_t i = 0; env != NULL && env[i] != NULL && n < SPAWN_ENV_MAX; i++)
        out[n++] = env[i];
    if (home != NULL && !sets(env, "HOME"))
        out[n++] = home;
    for (size_t i = 0; i < sizeof passed_env / sizeof passed_env[0] && n < SPAWN_ENV_MAX; i++) {
        if (home != NULL && strcmp(passed_env[i], "HOME") == 0)
            continue;
        char *v = sets(env, passed_env[i]) ? NULL : inherited(passed_env[i]);
        if (v != NULL)
            out[n++] = v;
        else if (strcmp(passed_env[i], "PATH") == 0 && !sets(env, "PATH"))
            out[n++] = DEFAULT_PATH;
    }
    out[n] = NULL;
}

/* Every descriptor but 0, 1 and 2 goes: Redis and SQLite connections,
 * other runs' pipes, the FastCGI socket, whatever a library opened. */
static void close_others(void)
{
    if (close_range(3, ~0U, 0) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 65536); fd++)
        close((int)fd);
}

static void set_limit(int resource, long value)
{
    if (value > 0) {
        struct rlimit rl = {(rlim_t)value, (rlim_t)value};
        setrlimit(resource, &rl);
    }
}

/* A uid of [min, max] that no running job of this host holds, claimed by
 * binding an abstract unix socket named for it: the kernel gives the name
 * back when its holder closes it or dies, even by SIGKILL, and no file is
 * left to clean. The descriptor, or -1 when every uid is taken. */
#define UID_TRIES_MAX 65536
static int uid_claim(long min, long max, uid_t *uid)
{
    long n = max - min + 1, start = (long)((unsigned long)time(NULL) ^ (unsigned long)getpid());
    for (long k = 0; k < n && k < UID_TRIES_MAX; k++) {
        long u = min + (start + k) % n;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int len = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "opstream-job-uid-%ld", u);
        if (bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)) == 0) {
            *uid = (uid_t)u;
            return fd;
        }
        int e = errno;
        close(fd);
        if (e != EADDRINUSE)
            return -1;
    }
    return -1;
}

/* Who the job runs as: nobody changes when the worker is not root. 0, or
 * -1 for a user that does not exist or is root, or a range with no uid
 * left. */
static int job_identity(const struct spawn_as *as, struct passwd *who, char *home, size_t homesize,
                        int *switch_user, int *uid_fd, char *err, size_t errsize)
{
    *uid_fd = -1;
    *switch_user = geteuid() == 0 && as != NULL &&
                   (as->uid_min > 0 || (as->user != NULL && as->user[0] != '\0'));
    if (!*switch_user)
        return 0;
    if (as->uid_min > 0) {
        uid_t uid;
        if ((*uid_fd = uid_claim(as->uid_min, as->uid_max, &uid)) < 0) {
            snprintf(err, errsize, "job_uid_range: no uid is free");
            return -1;
        }
        memset(who, 0, sizeof *who);
        who->pw_uid = uid;
        who->pw_gid = (gid_t)uid;
        snprintf(home, homesize, "HOME=/");
        return 0;
    }
    struct passwd *pw = getpwnam(as->user);
    if (pw == NULL || pw->pw_uid == 0) {
        snprintf(err, errsize, "job_user %s: %s", as->user, pw ? "must not be root" : "no such user");
        return -1;
    }
    *who = *pw;
    snprintf(home, homesize, "HOME=%s", pw->pw_dir ? pw->pw_dir : "/");
    return 0;
}

/* Drops to the job's user for good: groups, group, then user. */
static int become(const struct passwd *who)
{
    return setgroups(0, NULL) == 0 && setgid(who->pw_gid) == 0 && setuid(who->pw_uid) == 0 &&
           setuid(0) != 0 ? 0 : -1;
}

int spawn_job(const char *const argv[], const char *dir, char *const env[],
              const char *cwd, const struct job_limits *limits, const struct spawn_as *as,
              struct child *out, char *err, size_t errsize)
{
    struct passwd who = {0};
    char home[HOME_SIZE];
    int switch_user, held;
    if (job_identity(as, &who, home, sizeof home, &switch_user, &held, err, errsize) != 0)
        return -1;
    volatile int uid_fd = held; /* (read again after vfork: not kept in a register) */
    char path[1024];
    if (strchr(argv[0], '/') != NULL)
        snprintf(path, sizeof path, "%s", argv[0]);
    else
        snprintf(path, sizeof path, "%s/%s", dir, argv[0]);
    int in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1};
    if (access(path, X_OK) != 0) {
        snprintf(err, errsize, "%s: not executable: %s", path, strerror(errno));
        goto fail;
    }
    if (cloexec_pipe(in) != 0 || cloexec_pipe(o) != 0 || cloexec_pipe(e) != 0) {
        snprintf(err, errsize, "pipe: %s", strerror(errno));
        goto fail;
    }
    /* vfork: the child borrows the worker's memory until it execs, so a
     * job's start costs no copy of the worker's page tables, however many
     * jobs it supervises (a fork here was a quarter of a trivial run's
     * cost). The child only makes system calls on its own stack and
     * descriptor table until execve or _exit. */
    pid_t pid = vfork();
    if (pid < 0) {
        snprintf(err, errsize, "vfork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        if (dup2(in[0], 0) < 0 || dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0)
            _exit(126);
        close_others();
        if (switch_user && become(&who) != 0)
            _exit(126);
        /* The uid is this job's alone from now on: whatever still runs
         * under it escaped an earlier job's end, and goes. */
        if (uid_fd >= 0)
            kill(-1, SIGKILL);
        char *envp[SPAWN_ENV_MAX + 2];
        job_environment(env, switch_user ? home : NULL, envp);
        if (cwd != NULL && chdir(cwd) != 0)
            _exit(126);
        if (limits != NULL) {
            set_limit(RLIMIT_CPU, limits->cpu_s);
            set_limit(RLIMIT_AS, limits->address_space_mb * 1024L * 1024L);
            set_limit(RLIMIT_NOFILE, limits->open_files);
        }
        execve(path, (char *const *)argv, envp);
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so the group exists before we signal it */
    close(in[0]), close(o[1]), close(e[1]);
    out->pid = pid;
    out->in_fd = in[1];
    out->out_fd = o[0];
    out->err_fd = e[0];
    out->uid_fd = uid_fd;
    return 0;
fail:
    close_pair(in), close_pair(o), close_pair(e);
    if (uid_fd >= 0)
        close(uid_fd);
    return -1;
}

int spawn_signal(const struct child *c, int sig)
{
    return kill(-c->pid, sig) == 0 || errno == ESRCH ? 0 : -1;
}

void spawn_close(struct child *c)
{
    int *fds[] = {&c->in_fd, &c->out_fd, &c->err_fd, &c->uid_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}
