// The C reference for `bench/run`: the kernel work of `secretshim run --secret a`, without the
// store or crypto. Its time is the floor secretshim is measured against.
//
// Usage: reference [--tmpfs-only] COUNT SIZE EXTRA -- COMMAND [ARG...]
// writes COUNT files of SIZE bytes, plus one of EXTRA bytes if EXTRA > 0.
//
// By default it does all that `run` does by default, in the same order: non-dumpable; private
// mount namespace; tmpfs; each file written through a descriptor, then owner and mode;
// read-only remount; a lease file in the state dir ($SECRETSHIM_STATE_DIR, else
// /run/secretshim) naming the process and its start time; then the default hardening: the
// bounding set cut to Docker's 14 capabilities, secretshim's own default seccomp filter
// (CLinux's default_filter.c, compiled in), the same 14 as the capability sets, no ambient
// capabilities; exec. `--tmpfs-only` stops at the read-only remount, then execs: the
// reference as it stood before `run` hardened by default.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
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

static void record_lease(void) {
    const char *state = getenv("SECRETSHIM_STATE_DIR");
    if (!state) state = "/run/secretshim";
    char stat_path[64], stat[4096];
    snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", getpid());
    int fd = open(stat_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open stat");
    ssize_t got = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (got <= 0) die("read stat");
    stat[got] = 0;
    unsigned long long start = 0;
    char *field = strrchr(stat, ')');
    for (int i = 2; field && i < 22; i++) field = strchr(field + 1, ' ');
    if (field) start = strtoull(field + 1, NULL, 10);
    unsigned char id[6];
    if (getrandom(id, sizeof id, 0) != sizeof id) die("getrandom");
    mkdir(state, 0700);
    char path[4096], text[512];
    snprintf(path, sizeof path, "%s/%d.lease", state, getpid());
    int length = snprintf(text, sizeof text,
                          "secretshim-lease 1\nid %02x%02x%02x%02x%02x%02x\nname true\npid %d\nstart %llu\n"
                          "started 0\nsecret aaaaaaaaaaaaaaaaaaaaaaaaa a\n",
                          id[0], id[1], id[2], id[3], id[4], id[5], getpid(), start);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die("open lease");
    if (write(fd, text, length) != length) die("write lease");
    close(fd);
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
        data[kept[i] / 32].inheritable |= 1u << (kept[i] % 32);
    }
    if (syscall(SYS_capset, &header, data) != 0) die("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) die("ambient");
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
    if (!tmpfs_only) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (unshare(CLONE_NEWNS) != 0) die("unshare");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("make-rprivate");
    mkdir("/run/secrets", 0755);
    char options[64];
    unsigned long long bytes = (unsigned long long)(count + 1) * ((size + 8191) / 4096 * 4096) + extra + (1 << 20);
    snprintf(options, sizeof options, "size=%llu,mode=755,noswap", bytes);
    if (mount("tmpfs", "/run/secrets", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) != 0) die("mount");
    int dir = open("/run/secrets", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) die("open dir");
    for (long i = 0; i < count + (extra > 0); i++) {
        char name[32];
        long length = i < count ? size : extra;
        snprintf(name, sizeof name, "s%ld", i);
        int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) die("openat");
        if (write(fd, data, length) != length) die("write");
        if (fchown(fd, 0, 0) != 0 || fchmod(fd, 0444) != 0) die("chown/chmod");
        close(fd);
    }
    close(dir);
    if (mount(NULL, "/run/secrets", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        die("remount");
    if (!tmpfs_only) {
        record_lease();
        harden();
    }
    execvp(argv[5], argv + 5);
    die("exec");
}
