// Times short commands in turn, round after round, and prints each one's median, p10 and p99
// in milliseconds, and the median of its minor page faults (the process's own, exec included),
// as JSON: {"name": {"median": ..., "p10": ..., "p99": ..., "faults": ...}, ...}.
//
// Why not hyperfine: it runs all of one command's rounds before the next command's, so a VM
// whose speed drifts by 20% over a minute charges the drift to whichever command ran then.
// Taking turns, in a new random order each round, puts every command through the same moments
// and after the same neighbours.
//
// Usage: interleave ROUNDS WARMUP NAME COMMAND [ARG...] ';' NAME COMMAND [ARG...] ...
// A command is run directly (no shell), with stdout and stdin on /dev/null; any exit status
// other than 0 stops the benchmark.
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

enum { MAX_COMMANDS = 32 };

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double run_once(char **command, const posix_spawn_file_actions_t *actions, double *faults) {
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pid_t pid;
    if (posix_spawnp(&pid, command[0], actions, NULL, command, environ) != 0) {
        fprintf(stderr, "interleave: cannot start %s\n", command[0]);
        exit(1);
    }
    int status;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "interleave: %s failed (status %d)\n", command[0], status);
        exit(1);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    *faults = (double)usage.ru_minflt;
    return (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: interleave ROUNDS WARMUP NAME COMMAND [ARG...] ';' NAME COMMAND ...\n");
        return 2;
    }
    int rounds = atoi(argv[1]), warmup = atoi(argv[2]);
    char *names[MAX_COMMANDS];
    char **commands[MAX_COMMANDS];
    int count = 0;
    for (int i = 3; i < argc && count < MAX_COMMANDS;) {
        names[count] = argv[i];
        commands[count] = argv + i + 1;
        int end = i + 1;
        while (end < argc && strcmp(argv[end], ";") != 0) end++;
        if (end == i + 1) {
            fprintf(stderr, "interleave: %s has no command\n", names[count]);
            return 2;
        }
        argv[end < argc ? end : argc] = NULL;
        count++;
        i = end + 1;
    }
    if (rounds < 1 || count == 0) return 2;

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);

    // Each round takes the commands in a fresh random order. In a fixed order every command
    // would follow the same one each round, and what runs just before matters: a command run
    // right after bwrap starts on CPU caches and TLBs full of bwrap's pages, and measured
    // 0.15 ms slower here than the same command run after the C reference.
    double *times = calloc((size_t)count * rounds, sizeof *times);
    double *faults = calloc((size_t)count * rounds, sizeof *faults);
    int order[MAX_COMMANDS];
    for (int c = 0; c < count; c++) order[c] = c;
    srand48(1);
    for (int round = -warmup; round < rounds; round++) {
        for (int c = count - 1; c > 0; c--) {
            int other = (int)(drand48() * (c + 1)), kept = order[c];
            order[c] = order[other];
            order[other] = kept;
        }
        for (int i = 0; i < count; i++) {
            int c = order[i];
            double minor;
            double ms = run_once(commands[c], &actions, &minor);
            if (round >= 0) {
                times[c * rounds + round] = ms;
                faults[c * rounds + round] = minor;
            }
        }
    }

    printf("{");
    for (int c = 0; c < count; c++) {
        double *t = times + c * rounds;
        double *f = faults + c * rounds;
        qsort(t, rounds, sizeof *t, by_value);
        qsort(f, rounds, sizeof *f, by_value);
        int p99 = (int)(rounds * 0.99);
        printf("%s\"%s\": {\"median\": %.4f, \"p10\": %.4f, \"p99\": %.4f, \"faults\": %.0f}", c ? ", " : "", names[c],
               t[rounds / 2], t[rounds / 10], t[p99 < rounds ? p99 : rounds - 1], f[rounds / 2]);
    }
    printf("}\n");
    return 0;
}
