#define _GNU_SOURCE
#include "cl_security.h"
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int cl_cap_from_name(const char *name) {
    cap_value_t value;
    const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    char lowered[64];
    size_t i;
    for (i = 0; bare[i] && i < sizeof lowered - 5; i++) lowered[i] = (char)((bare[i] >= 'A' && bare[i] <= 'Z') ? bare[i] + 32 : bare[i]);
    lowered[i] = 0;
    char full[72] = "cap_";
    strcat(full, lowered);
    if (cap_from_name(full, &value) != 0) {
        errno = EINVAL;
        return -1;
    }
    return (int)value;
}

int cl_cap_last(void) { return (int)cap_max_bits() - 1; }

int cl_cap_name(int cap, char *buffer, int size) {
    char *name = cap_to_name((cap_value_t)cap);
    if (!name) {
        errno = EINVAL;
        return -1;
    }
    int i = 0;
    for (; name[i] && i < size - 1; i++) buffer[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
    buffer[i] = 0;
    cap_free(name);
    return 0;
}

int cl_caps_effective(uint64_t *mask) {
    cap_t state = cap_get_proc();
    if (!state) return -1;
    uint64_t effective = 0;
    int last = cl_cap_last();
    for (int cap = 0; cap <= last && cap < 64; cap++) {
        cap_flag_value_t value = CAP_CLEAR;
        // A number libcap does not know is not held.
        if (cap_get_flag(state, (cap_value_t)cap, CAP_EFFECTIVE, &value) == 0 && value == CAP_SET) effective |= 1ull << cap;
    }
    cap_free(state);
    *mask = effective;
    return 0;
}

int cl_cap_in_bounding_set(int cap) { return prctl(PR_CAPBSET_READ, cap, 0, 0, 0); }

static int contains(const int *caps, int count, int cap) {
    for (int i = 0; i < count; i++)
        if (caps[i] == cap) return 1;
    return 0;
}

int cl_caps_limit_bounding(const int *keep, int count) {
    int last = cl_cap_last();
    for (int cap = 0; cap <= last; cap++) {
        if (contains(keep, count, cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    }
    return 0;
}

int cl_caps_set(const int *caps, int count) {
    cap_t state = cap_init();
    if (!state) return -1;
    if (count > 0) {
        cap_value_t *values = calloc((size_t)count, sizeof *values);
        if (!values) {
            cap_free(state);
            errno = ENOMEM;
            return -1;
        }
        for (int i = 0; i < count; i++) values[i] = caps[i];
        cap_set_flag(state, CAP_PERMITTED, count, values, CAP_SET);
        cap_set_flag(state, CAP_EFFECTIVE, count, values, CAP_SET);
        free(values);
    }
    int result = cap_set_proc(state);
    int saved = errno;
    cap_free(state);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    errno = saved;
    return result;
}

struct cl_seccomp { scmp_filter_ctx ctx; };

static uint32_t action(int kind, int errno_value) {
    switch (kind) {
    case CL_SECCOMP_ALLOW: return SCMP_ACT_ALLOW;
    case CL_SECCOMP_ERRNO: return SCMP_ACT_ERRNO((uint16_t)errno_value);
    case CL_SECCOMP_KILL: return SCMP_ACT_KILL_PROCESS;
    case CL_SECCOMP_TRAP: return SCMP_ACT_TRAP;
    case CL_SECCOMP_LOG: return SCMP_ACT_LOG;
    default: return SCMP_ACT_KILL_PROCESS;
    }
}

cl_seccomp *cl_seccomp_new(int default_action_kind, int default_errno) {
    scmp_filter_ctx ctx = seccomp_init(action(default_action_kind, default_errno));
    if (!ctx) {
        errno = ENOMEM;
        return NULL;
    }
    // The filter must not make the shim's own exec fail on no_new_privs: it is set by us.
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    cl_seccomp *filter = malloc(sizeof *filter);
    if (!filter) {
        seccomp_release(ctx);
        errno = ENOMEM;
        return NULL;
    }
    filter->ctx = ctx;
    return filter;
}

int cl_seccomp_add_arch(cl_seccomp *filter, const char *name) {
    const char *bare = strncasecmp(name, "SCMP_ARCH_", 10) == 0 ? name + 10 : name;
    char lowered[32];
    size_t i;
    for (i = 0; bare[i] && i < sizeof lowered - 1; i++) lowered[i] = (char)((bare[i] >= 'A' && bare[i] <= 'Z') ? bare[i] + 32 : bare[i]);
    lowered[i] = 0;
    uint32_t arch = seccomp_arch_resolve_name(lowered);
    if (arch == 0) {
        errno = EINVAL;
        return -1;
    }
    int rc = seccomp_arch_add(filter->ctx, arch);
    if (rc == 0 || rc == -EEXIST) return 0;
    errno = -rc;
    return -1;
}

int cl_seccomp_syscall(const char *name) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) errno = ENOENT;
    return nr;
}

int cl_seccomp_add_rule(cl_seccomp *filter, int nr, int action_kind, int errno_value,
                        int arg_count, const unsigned *arg_index, const int *arg_op,
                        const uint64_t *arg_value, const uint64_t *arg_value_two) {
    struct scmp_arg_cmp cmps[6];
    if (arg_count > 6) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < arg_count; i++) {
        cmps[i].arg = arg_index[i];
        cmps[i].op = (enum scmp_compare)arg_op[i];
        cmps[i].datum_a = arg_value[i];
        cmps[i].datum_b = arg_value_two[i];
    }
    int rc = seccomp_rule_add_array(filter->ctx, action(action_kind, errno_value), nr, (unsigned)arg_count, cmps);
    // A rule whose action equals the default is redundant, not an error.
    if (rc == 0 || rc == -EACCES) return 0;
    errno = -rc;
    return -1;
}

int cl_seccomp_load(cl_seccomp *filter) {
    int rc = seccomp_load(filter->ctx);
    if (rc == 0) return 0;
    errno = -rc;
    return -1;
}

void cl_seccomp_free(cl_seccomp *filter) {
    if (!filter) return;
    seccomp_release(filter->ctx);
    free(filter);
}

int cl_caps_clear_inheritable(void) {
    cap_t state = cap_get_proc();
    if (!state) return -1;
    cap_clear_flag(state, CAP_INHERITABLE);
    int result = cap_set_proc(state);
    int saved = errno;
    cap_free(state);
    if (result != 0) {
        errno = saved;
        return -1;
    }
    // EINVAL: a kernel without ambient capabilities (before 4.3) has none to clear.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    return 0;
}
