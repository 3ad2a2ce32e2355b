// argc and argv for Swift's CommandLine, kept from glibc instead of searched for.
//
// The standard library asks the runtime for them through _swift_stdlib_getUnsafeArgvArgc. The
// runtime's own version (CommandLine.cpp), linked into a static executable, finds argv on every
// start by reading /proc/self/maps with stdio and sscanf and scanning the stack below environ:
// about 0.05 ms, and a dozen page faults, of every `run`. glibc hands argc, argv and envp to each
// .init_array function, so this keeps them from there. Defined here, these two symbols are
// already resolved when the linker reaches libswiftCore.a, which then leaves its CommandLine.cpp
// member (and its constructor) out.
#include <stddef.h>

static int saved_argc;
static char **saved_argv;
static int override_argc = -1;
static char **override_argv;
static char *empty_argv[] = {NULL};

__attribute__((constructor)) static void cl_keep_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

char **_swift_stdlib_getUnsafeArgvArgc(int *outArgLen) {
    if (override_argc >= 0) {
        *outArgLen = override_argc;
        return override_argv;
    }
    if (saved_argv == NULL) {
        *outArgLen = 0;
        return empty_argv;
    }
    *outArgLen = saved_argc;
    return saved_argv;
}

void _swift_stdlib_overrideUnsafeArgvArgc(char **argv, int argc) {
    override_argv = argv;
    override_argc = argc;
}
