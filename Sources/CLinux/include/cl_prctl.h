#pragma once
// prctl wrappers: prctl is variadic, which Swift cannot call.
int cl_prctl_set_dumpable(int dumpable);
int cl_prctl_set_no_new_privs(void);
int cl_prctl_get_no_new_privs(void);
int cl_prctl_set_pdeathsig(int sig);
int cl_prctl_drop_bounding_cap(int cap);
int cl_prctl_clear_ambient_caps(void);
int cl_prctl_raise_ambient_cap(int cap);
int cl_prctl_set_keepcaps(int keep);
