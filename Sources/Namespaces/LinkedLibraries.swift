// CLinux's C code calls libcap and libseccomp (security.c). A system library's link lines
// reach the linker only through a Swift module that imports it: importing them here gives
// every binary that links this layer (and so CLinux) what CLinux needs.
import CCap
import CSeccomp
