#include "cl_prctl.h"
#include <sys/prctl.h>

int cl_prctl_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
int cl_prctl_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int cl_prctl_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }
int cl_prctl_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int cl_prctl_drop_bounding_cap(int cap) { return prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); }
int cl_prctl_clear_ambient_caps(void) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}
int cl_prctl_raise_ambient_cap(int cap) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}
int cl_prctl_set_keepcaps(int keep) { return prctl(PR_SET_KEEPCAPS, keep, 0, 0, 0); }
