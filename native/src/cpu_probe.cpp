// CPU probing: features from cpuid *and* XCR0 (an instruction set is usable only when the OS saves
// its registers on context switch), the cores this process may actually use (affinity mask and
// cgroup quota), caches and memory.
#include "cpu_probe.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "cpu/cpu_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace kp {
namespace {

void copy_str(char* dst, size_t cap, const std::string& s) {
  std::snprintf(dst, cap, "%s", s.c_str());
}

#if defined(__x86_64__) || defined(__i386__)
uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

void probe_isa(kp_cpu_info& info) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  char vendor[13] = {0};
  __get_cpuid(0, &a, &b, &c, &d);
  const unsigned max_leaf = a;
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  copy_str(info.vendor, sizeof info.vendor, vendor);

  char brand[49] = {0};
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000004) {
    for (unsigned i = 0; i < 3; i++) {
      __get_cpuid(0x80000002 + i, &a, &b, &c, &d);
      std::memcpy(brand + 16 * i, &a, 4);
      std::memcpy(brand + 16 * i + 4, &b, 4);
      std::memcpy(brand + 16 * i + 8, &c, 4);
      std::memcpy(brand + 16 * i + 12, &d, 4);
    }
  }
  std::string model(brand);
  model.erase(0, model.find_first_not_of(' '));
  model.erase(model.find_last_not_of(' ') + 1);
  copy_str(info.model, sizeof info.model, model);
  copy_str(info.arch, sizeof info.arch, "x86_64");

  uint32_t f = KP_CPU_SSE2;
  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = c & (1u << 27);
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;               // XMM and YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;         // XTILECFG, XTILEDATA
  if (os_avx && (c & (1u << 28))) f |= KP_CPU_AVX;
  if (os_avx && (c & (1u << 12))) f |= KP_CPU_FMA;
  if (os_avx && (c & (1u << 29))) f |= KP_CPU_F16C;
  if (max_leaf >= 7) {
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    if (os_avx && (b & (1u << 5))) f |= KP_CPU_AVX2;
    if (os_avx512 && (b & (1u << 16))) f |= KP_CPU_AVX512F;
    if (os_avx512 && (b & (1u << 30))) f |= KP_CPU_AVX512BW;
    if (os_avx512 && (b & (1u << 31))) f |= KP_CPU_AVX512VL;
    if (os_avx512 && (d & (1u << 23))) f |= KP_CPU_AVX512FP16;
    if (os_amx && (d & (1u << 24))) f |= KP_CPU_AMX;
    unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
    if (os_avx512 && (a1 & (1u << 5))) f |= KP_CPU_AVX512BF16;
  }
  info.features = f;
}
#elif defined(__aarch64__)
void probe_isa(kp_cpu_info& info) {
  copy_str(info.vendor, sizeof info.vendor, "arm");
  copy_str(info.arch, sizeof info.arch, "aarch64");
  const unsigned long hw = getauxval(AT_HWCAP);
  uint32_t f = 0;
  if (hw & HWCAP_ASIMD) f |= KP_CPU_NEON;
  if (hw & HWCAP_ASIMDHP) f |= KP_CPU_ASIMDHP;
  if (hw & HWCAP_SVE) f |= KP_CPU_SVE;
  info.features = f;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CPU part", 0) == 0 || line.rfind("model name", 0) == 0) {
      copy_str(info.model, sizeof info.model, line.substr(line.find(':') + 2));
      break;
    }
  }
}
#else
void probe_isa(kp_cpu_info& info) { copy_str(info.arch, sizeof info.arch, "unknown"); }
#endif

// cgroup v2 "cpu.max" ("max 100000" or "200000 100000"), else v1 cfs quota; 0 = no limit.
int cgroup_cpu_limit() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (v2 >> quota >> period) {
    if (quota == "max" || period <= 0) return 0;
    return static_cast<int>(std::ceil(std::stod(quota) / period));
  }
  long q = -1, p = 0;
  std::ifstream q1("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p1("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if ((q1 >> q) && (p1 >> p) && q > 0 && p > 0) return static_cast<int>(std::ceil(static_cast<double>(q) / p));
  return 0;
}

// cgroup v2 "memory.max" (bytes or "max"), else v1 memory.limit_in_bytes; 0 = no limit. A container's
// limit, not the host's RAM, is what the OOM killer enforces.
int64_t cgroup_memory_limit() {
  std::ifstream v2("/sys/fs/cgroup/memory.max");
  std::string s;
  if (v2 >> s) {
    char* end = nullptr;
    const long long b = std::strtoll(s.c_str(), &end, 10);
    return *end == '\0' && b > 0 ? static_cast<int64_t>(b) : 0;  // "max" (or anything else): no limit
  }
  std::ifstream v1("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  long long b = 0;
  // v1 reports "no limit" as a huge page-rounded number; anything above physical memory is no limit.
  return (v1 >> b) && b > 0 ? static_cast<int64_t>(b) : 0;
}

int64_t cache_size(int level, const char* type) {
  for (int i = 0; i < 8; i++) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream lv(dir + "level"), ty(dir + "type"), sz(dir + "size");
    int l = 0;
    std::string t, s;
    if (!(lv >> l) || !(ty >> t) || !(sz >> s)) continue;
    if (l != level || (t != type && t != "Unified")) continue;
    int64_t n = std::stoll(s);
    if (s.back() == 'K') n <<= 10;
    if (s.back() == 'M') n <<= 20;
    return n;
  }
  return 0;
}

kp_cpu_info probe() {
  kp_cpu_info info;
  std::memset(&info, 0, sizeof info);
  probe_isa(info);
  info.logical_cores = static_cast<int32_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  int usable = info.logical_cores;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) usable = std::max(1, CPU_COUNT(&set));
  const int quota = cgroup_cpu_limit();
  if (quota > 0) usable = std::min(usable, quota);
  info.usable_cores = usable;
  info.l1d_bytes = cache_size(1, "Data");
  info.l2_bytes = cache_size(2, "Unified");
  info.l3_bytes = cache_size(3, "Unified");
  info.memory_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  const int64_t limit = cgroup_memory_limit();
  if (limit > 0 && limit < info.memory_bytes) info.memory_bytes = limit;
  const char* err = nullptr;
  const char* isa = cpu::select_isa(info.features, &err);
  copy_str(info.isa, sizeof info.isa, err ? "unavailable" : isa);
  return info;
}

}  // namespace

const kp_cpu_info& cached_cpu_info() {
  static const kp_cpu_info info = probe();
  return info;
}

}  // namespace kp
