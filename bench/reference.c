// The C reference for `bench/run`: the same kernel work as `secretshim run --secret a`
// (private mount namespace, tmpfs, one file written through an fd, owner and mode, read-only
// remount, exec) without the store or crypto. Its time is the floor secretshim is measured
// against. Usage: reference COUNT SIZE EXTRA -- COMMAND [ARG...]: COUNT files of SIZE bytes,
// plus one of EXTRA bytes if EXTRA > 0.
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(125); }

int main(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: reference COUNT SIZE EXTRA -- COMMAND [ARG...]\n");
        return 125;
    }
    long count = atol(argv[1]), size = atol(argv[2]), extra = atol(argv[3]);
    long biggest = size > extra ? size : extra;
    char *data = malloc(biggest > 0 ? biggest : 1);
    memset(data, 'x', biggest);
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
    execvp(argv[5], argv + 5);
    die("exec");
}
