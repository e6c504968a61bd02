#pragma once
#include "kernelport.h"

namespace kp {
// Probed once per process; compiled without ISA flags so it runs on any CPU of the architecture.
const kp_cpu_info& cached_cpu_info();
}  // namespace kp
