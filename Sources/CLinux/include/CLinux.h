// Umbrella header: one header per kernel concern.
#pragma once
#include "cl_mount.h"
#include "cl_mount_api.h"
#include "cl_landlock.h"
#include "cl_prctl.h"
#include "cl_process.h"
#include "cl_security.h"
#include "cl_default_filter.h"
#include "cl_root.h"
#include "cl_files.h"
#include "cl_socket.h"
