#pragma once
// secretshim's default seccomp filter, as a fixed BPF program built without libseccomp
// (libseccomp's probing and compiling cost about 0.5 ms on every `run`).

/// Loads the default filter into this process: the mount, namespace, kernel-code and keyring
/// syscalls get EPERM, clone with a namespace flag gets EPERM, clone3 gets ENOSYS (so libc
/// falls back to clone, whose flags a filter can see), a foreign architecture or ABI is killed,
/// everything else is allowed. 0, or -1 with errno.
int cl_default_filter_load(void);
/// The syscall numbers the filter refuses with EPERM on this architecture, for tests and docs.
int cl_default_filter_denied(const int **numbers);
/// A small filter for under a user's own profile: open_by_handle_at and fanotify_init refused
/// (EPERM) in the native, x32 and i386 ABIs; everything else left to the profile. 0, or -1
/// with errno.
int cl_guard_filter_load(void);
