// The C reference for `bench/run`: the kernel work of `secretshim run --secret a`, without the
// store or crypto. Its time is the floor secretshim is measured against.
//
// Usage: reference [--tmpfs-only] COUNT SIZE EXTRA -- COMMAND [ARG...]
// writes COUNT files of SIZE bytes, plus one of EXTRA bytes if EXTRA > 0.
//
// By default it does all that `run` does by default, in the same order: non-dumpable; the
// store, key and state paths resolved and their directories checked (root's own); private
// mount namespace; the state dir opened and checked, a first lease written under a shared
// lock, a few finished leases set aside (renamed into ended/), the lease rewritten (aside, then
// renamed); the audit log's grant line appended to <root>/events.log; a detached
// tmpfs (fsopen/fsmount), each file written through its descriptor, then owner and mode,
// sealed read-only (mount_setattr) and attached (move_mount) on /run/secrets resolved once
// (openat2); the key file, the store and the state dir masked; /proc/sys, /proc/sysrq-trigger
// and /sys made read-only; a Landlock domain; then the
// default hardening: the bounding set cut to Docker's 14 capabilities, secretshim's own
// default seccomp filter (CLinux's default_filter.c, compiled in), the same 14 as the
// permitted and effective sets, inheritable and ambient empty; exec. `--tmpfs-only` does the
// old tmpfs work (mount, write, superblock remount) and execs: the reference as it stood
// before `run` hardened by default.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/file.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cl_default_filter.h"

static void die(const char *what) { perror(what); exit(125); }

// Docker's default capabilities, as `run` keeps them.
static const int kept[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID,
    CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

static int is_kept(int cap) {
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (kept[i] == cap) return 1;
    return 0;
}

static const char *state_dir(void) {
    const char *state = getenv("SECRETSHIM_STATE_DIR");
    return state ? state : "/run/secretshim";
}

static const char *store_root(void) {
    const char *root = getenv("SECRETSHIM_ROOT");
    return root ? root : "/var/lib/secretshim";
}

// As root: the real path, every directory on it root's and not writable by others.
static void check_trusted(const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        if (errno == ENOENT) return;  // made later (the first run only)
        die("realpath");
    }
    char prefix[PATH_MAX] = "";
    struct stat st;
    if (lstat("/", &st) != 0) die("lstat");
    for (char *p = real + 1;; p++) {
        if (*p == '/' || *p == 0) {
            memcpy(prefix, real, (size_t)(p - real));
            prefix[p - real] = 0;
            if (lstat(prefix, &st) != 0 || st.st_uid != 0) die("untrusted");
            if (*p == 0) break;
        }
    }
}

static unsigned long long own_start_time(void) {
    char stat[4096];
    int fd = open("/proc/self/stat", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) die("open stat");
    ssize_t got = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (got <= 0) die("read stat");
    stat[got] = 0;
    char *field = strrchr(stat, ')');
    for (int i = 2; field && i < 22; i++) field = strchr(field + 1, ' ');
    return field ? strtoull(field + 1, NULL, 10) : 0;
}

static int lease_length(char *text, size_t size, unsigned long long start, int exact) {
    unsigned char id[6];
    if (getrandom(id, sizeof id, 0) != sizeof id) die("getrandom");
    return snprintf(text, size,
                    "secretshim-lease 1\nid %02x%02x%02x%02x%02x%02x\nname true\npid %d\nstart %llu\n"
                    "started 0\n%s\n",
                    id[0], id[1], id[2], id[3], id[4], id[5], getpid(), start,
                    exact ? "secret aaaaaaaaaaaaaaaaaaaaaaaaa a" : "wants a");
}

// The first lease, under a shared lock, then a sweep of up to 4 others.
static int record_lease(unsigned long long start) {
    mkdir(state_dir(), 0700);
    int dir = open(state_dir(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) die("open state");
    struct stat st;
    if (fstat(dir, &st) != 0 || (st.st_mode & 022)) die("state dir");
    char name[64], text[512];
    snprintf(name, sizeof name, "%d.lease", getpid());
    int length = lease_length(text, sizeof text, start, 0);
    if (flock(dir, LOCK_SH) != 0) die("flock");
    int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0 || fstat(fd, &st) != 0) die("open lease");
    if (write(fd, text, length) != length) die("write lease");
    close(fd);
    flock(dir, LOCK_UN);
    int again = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *listing = fdopendir(again);
    int looked = 0;
    unsigned short skip;
    if (getrandom(&skip, sizeof skip, 0) != sizeof skip) die("getrandom");
    struct dirent *entry;
    while (listing && (entry = readdir(listing)) && looked < 4) {
        if (entry->d_name[0] == '.' || strcmp(entry->d_name, name) == 0) continue;
        looked++;
        int pid = atoi(entry->d_name);
        if (pid > 0 && kill(pid, 0) != 0) {
            // Set aside for the audit log's revoke, as `run` does (renamed, not read).
            char aside[PATH_MAX];
            snprintf(aside, sizeof aside, "ended/%s.%llu", entry->d_name, (unsigned long long)time(NULL) * 1000000000ULL);
            if (renameat(dir, entry->d_name, dir, aside) != 0 && errno == ENOENT) {
                mkdirat(dir, "ended", 0700);
                if (renameat(dir, entry->d_name, dir, aside) != 0) unlinkat(dir, entry->d_name, 0);
            }
        }
    }
    if (listing) closedir(listing);
    return dir;
}

static void replace_lease(int dir, unsigned long long start) {
    char name[64], temporary[80], text[512];
    snprintf(name, sizeof name, "%d.lease", getpid());
    snprintf(temporary, sizeof temporary, ".%s.new", name);
    int length = lease_length(text, sizeof text, start, 1);
    unlinkat(dir, temporary, 0);
    int fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die("open lease");
    if (write(fd, text, length) != length) die("write lease");
    close(fd);
    if (renameat(dir, temporary, dir, name) != 0) die("rename lease");
}

// The audit log's grant line, appended to <root>/events.log as `run` appends it: the folder
// opened, the log opened for appending, its size and last byte looked at, one write.
static void append_grant_event(unsigned long long start) {
    int folder = open(store_root(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (folder < 0) die("open root");
    int fd = openat(folder, "events.log", O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) die("open events.log");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) die("events.log");
    if (fstat(fd, &st) != 0) die("events.log");
    char last = '\n';
    if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1) die("pread events.log");
    char line[512];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned long long nano = (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec;
    int length = snprintf(line, sizeof line,
                          "%s{\"Type\":\"workload\",\"Action\":\"grant\",\"Actor\":{\"ID\":\"000000000000\",\"Attributes\":{\"name\":\"true\","
                          "\"pid\":\"%d\",\"secretIDs\":\"aaaaaaaaaaaaaaaaaaaaaaaaa\",\"secrets\":\"a\",\"uid\":\"0\"}},\"scope\":\"local\","
                          "\"time\":%llu,\"timeNano\":%llu}\n",
                          last == '\n' ? "" : "\n", getpid(), nano / 1000000000ULL, nano);
    (void)start;
    if (write(fd, line, length) != length) die("write events.log");
    close(fd);
    close(folder);
}

static int open_in_root(int root, const char *path) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

// `noswap` for the secrets' tmpfs; the masks (empty, read-only) are mounted without it.
static int tmpfs_detached(unsigned long long bytes, int noswap) {
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0) die("fsopen");
    char size[32];
    snprintf(size, sizeof size, "%llu", bytes);
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", "tmpfs", 0) != 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", size, 0) != 0 ||
        syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "755", 0) != 0 ||
        (noswap && syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "noswap", NULL, 0) != 0) ||
        syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0)
        die("fsconfig");
    int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    if (mnt < 0) die("fsmount");
    close(fs);
    return mnt;
}

static void seal(int mnt) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, mnt, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) die("mount_setattr");
}

static void attach(int mnt, int target) {
    if (syscall(SYS_move_mount, mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
        die("move_mount");
}

static void mask(const char *path) {
    int target = open(path, O_PATH | O_CLOEXEC);
    if (target < 0) return;
    struct stat st;
    if (fstat(target, &st) != 0) die("fstat");
    int cover;
    if (S_ISDIR(st.st_mode)) {
        cover = tmpfs_detached(4096, 0);
        seal(cover);
    } else {
        cover = (int)syscall(SYS_open_tree, AT_FDCWD, "/dev/null", OPEN_TREE_CLONE | O_CLOEXEC);
        if (cover < 0) die("open_tree");
    }
    attach(cover, target);
    close(cover);
    close(target);
}

// A read-only recursive copy of the tree at `path` attached over it (run's KernelInterfaces).
static void read_only(const char *path) {
    int target = open(path, O_PATH | O_CLOEXEC);
    if (target < 0) return;
    int tree = (int)syscall(SYS_open_tree, target, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (tree < 0) die("open_tree");
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) die("mount_setattr");
    attach(tree, target);
    close(tree);
    close(target);
}

static void landlock(void) {
    struct { unsigned long long handled_access_fs; } attr = {1ULL << 11};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) die("landlock");
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) die("landlock_restrict_self");
    close(ruleset);
}

static void harden(void) {
    int last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last) != 1) last = 40;
        fclose(f);
    }
    for (int cap = 0; cap <= last; cap++)
        if (!is_kept(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) die("capbset drop");
    if (cl_default_filter_load() != 0) die("seccomp");
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        data[kept[i] / 32].effective |= 1u << (kept[i] % 32);
        data[kept[i] / 32].permitted |= 1u << (kept[i] % 32);
    }
    if (syscall(SYS_capset, &header, data) != 0) die("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die("ambient");
}

static void write_files(int dir, long count, long size, long extra, const char *data) {
    for (long i = 0; i < count + (extra > 0); i++) {
        char name[32];
        long length = i < count ? size : extra;
        snprintf(name, sizeof name, "s%ld", i);
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) die("openat");
        if (write(fd, data, length) != length) die("write");
        if (fchownat(fd, "", 0, 0, AT_EMPTY_PATH) != 0 || fchmod(fd, 0444) != 0) die("chown/chmod");
        close(fd);
    }
}

int main(int argc, char **argv) {
    int tmpfs_only = argc > 1 && strcmp(argv[1], "--tmpfs-only") == 0;
    argv += tmpfs_only;
    argc -= tmpfs_only;
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: reference [--tmpfs-only] COUNT SIZE EXTRA -- COMMAND [ARG...]\n");
        return 125;
    }
    long count = atol(argv[1]), size = atol(argv[2]), extra = atol(argv[3]);
    long biggest = size > extra ? size : extra;
    char *data = malloc(biggest > 0 ? biggest : 1);
    memset(data, 'x', biggest);
    if (tmpfs_only) {
        if (unshare(CLONE_NEWNS) != 0) die("unshare");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make-rprivate");
        mkdir("/run/secrets", 0755);
        char options[64];
        unsigned long long bytes = (unsigned long long)(count + 1) * ((size + 8191) / 4096 * 4096) + extra + (1 << 20);
        snprintf(options, sizeof options, "size=%llu,mode=755,noswap", bytes);
        if (mount("tmpfs", "/run/secrets", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0) die("mount");
        int dir = open("/run/secrets", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0) die("open dir");
        write_files(dir, count, size, extra, data);
        close(dir);
        if (mount(NULL, "/run/secrets", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
            die("remount");
        execvp(argv[5], argv + 5);
        die("exec");
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    char key[PATH_MAX];
    snprintf(key, sizeof key, "%s/master.key", store_root());
    check_trusted(store_root());  // and the key file's folder: the root itself by default, resolved once
    check_trusted(state_dir());
    if (unshare(CLONE_NEWNS) != 0) die("unshare");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make-rprivate");
    unsigned long long start = own_start_time();
    int leases = record_lease(start);
    replace_lease(leases, start);
    append_grant_event(start);
    unsigned long long bytes = (unsigned long long)(count + 1) * ((size + 8191) / 4096 * 4096) + extra + (1 << 20);
    int mnt = tmpfs_detached(bytes, 1);
    write_files(mnt, count, size, extra, data);
    seal(mnt);
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int top = open_in_root(root, "/");
    int run = open_in_root(root, "/run");
    int target = open_in_root(root, "/run/secrets");
    if (target < 0) {
        mkdirat(run, "secrets", 0755);
        target = open_in_root(root, "/run/secrets");
    }
    if (root < 0 || top < 0 || run < 0 || target < 0) die("openat2");
    struct stat a, b;
    if (fstat(target, &a) != 0 || fstat(root, &b) != 0) die("fstat");
    attach(mnt, target);
    close(top);
    close(run);
    close(target);
    close(root);
    close(mnt);
    mask(key);
    mask(store_root());
    mask(state_dir());
    read_only("/proc/sys");
    read_only("/proc/sysrq-trigger");
    read_only("/sys");
    close(leases);
    landlock();
    harden();
    execvp(argv[5], argv + 5);
    die("exec");
}
