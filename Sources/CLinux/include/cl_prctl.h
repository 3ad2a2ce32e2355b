#pragma once
// prctl wrappers: prctl is variadic, which Swift cannot call.
int cl_prctl_set_dumpable(int dumpable);
int cl_prctl_set_no_new_privs(void);
