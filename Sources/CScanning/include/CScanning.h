#pragma once
// `scan`'s C: tar archives through libarchive (archive.c) and the multi-pattern matcher
// (matcher.c). Kept out of CLinux, the kernel layer: neither is kernel work.
#include "cs_archive.h"
#include "cs_matcher.h"
