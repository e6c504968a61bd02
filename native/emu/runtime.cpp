// The CPU emulator's scheduler, memory and errors (see runtime.h).
#include "runtime.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace kp_emu {
namespace {

std::unordered_map<const void*, const char*>& collective_names() {
  static auto* names = new std::unordered_map<const void*, const char*>;  // never freed: read by ~Stats at exit
  return *names;
}
const char* collective_name(const void* fn) {
  auto it = collective_names().find(fn);
  return it == collective_names().end() ? (fn ? "collective" : "syncwarp") : it->second;
}

// ---- fibers ----------------------------------------------------------------------------------------
// x86-64: a six-register switch (the System V callee-saved set), a few nanoseconds; elsewhere ucontext.
#if defined(__x86_64__)
extern "C" void kp_emu_switch(void** save_sp, void* to_sp);
asm(R"(
  .text
  .p2align 4
  .type kp_emu_switch,@function
kp_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size kp_emu_switch,.-kp_emu_switch
)");
struct Context {
  void* sp = nullptr;
};
#else
struct Context {
  ucontext_t uc;
};
#endif

constexpr size_t kStackBytes = 256 << 10;
constexpr size_t kGuardBytes = 4096;

struct Barrier {
  unsigned arrived = 0;
  uint64_t generation = 0;
};

struct Fiber {
  Context ctx;
  char* stack = nullptr;  // mmap'ed, a guard page below
  Dim3 tid;
  unsigned warp = 0, lane = 0, group = 0, cta = 0;  // cta: its block's rank in the cluster
  bool done = false;
  int waiting = 0;  // 0 runnable, 1 block barrier, 2 warp barrier, 3 warpgroup barrier, 4 named barrier, 5 cluster barrier
  unsigned named = 0;  // the named barrier waited at
  uint64_t wait_generation = 0;
};

struct Warp {
  Barrier bar;
  unsigned alive = 0, lanes = 0;
  Combine combine = nullptr;
  const void* ctx = nullptr;
  bool mismatch = false;
  std::vector<uint32_t> in, out;
};

struct Group {
  Barrier bar;
  unsigned alive = 0, members = 0;
  GroupCombine combine = nullptr;
  bool mismatch = false;
  std::vector<void*> mine;
};

struct Block {
  Dim3 idx;
  Barrier bar;
  unsigned alive = 0;
  int or_acc = 0, or_result = 0;
  std::vector<Warp> warps;
  std::vector<Group> groups;
  Barrier named[16];
  uint64_t serial = 0;
};

// One launch at a time in the process: blocks run one after another, which is also what lets a kernel's
// static __shared__ arrays be plain statics.
std::mutex g_launch_mutex;
Context g_scheduler;
Fiber* g_cur = nullptr;
// The blocks of the cluster running now (one unless the launch asked for clusters), each with its
// shared memory; the cluster barrier.
Block g_blocks[kMaxCluster];
unsigned g_cluster = 1;
Barrier g_cluster_bar;
unsigned g_cluster_alive = 0;
Dim3 g_grid, g_block_dim;
unsigned g_warp = 32;
const std::function<void()>* g_body = nullptr;
std::vector<Fiber> g_fibers;
alignas(1024) unsigned char g_arena[kMaxCluster][232448 + 1024];
std::string g_launch_error;
std::string g_fault_text;  // the sticky fault's own words (raise_fault)
int g_launch_status = kSuccess;
uint64_t g_block_serial = 0;

// KERNELPORT_EMU_STATS=1: at exit, what ran (launches, and warp-collective operations by kind), so a
// test can tell that a forced kernel path really took the tensor-core instructions, and the device
// allocations and frees (what a caching allocator saved).
struct Stats {
  unsigned long long launches = 0, blocks = 0, mallocs = 0, frees = 0;
  std::unordered_map<const void*, unsigned long long> collectives;
  ~Stats() {
    const char* s = std::getenv("KERNELPORT_EMU_STATS");
    if (!s || !*s || *s == '0') return;
    std::fprintf(stderr, "kernelport-emu: %llu launches, %llu blocks", launches, blocks);
    std::map<std::string, unsigned long long> by_name;  // each translation unit has its own combine functions
    for (const auto& [fn, n] : collectives) by_name[collective_name(fn)] += n;
    for (const auto& [name, n] : by_name) std::fprintf(stderr, ", %s %llu", name.c_str(), n);
    std::fprintf(stderr, ", mallocs %llu, frees %llu", mallocs, frees);
    std::fprintf(stderr, "\n");
  }
};
Stats g_stats;

void switch_to(Context& from, Context& to) {
#if defined(__x86_64__)
  kp_emu_switch(&from.sp, to.sp);
#else
  swapcontext(&from.uc, &to.uc);
#endif
}

void fail_launch(int code, const std::string& why) {
  if (g_launch_status == kSuccess) {
    g_launch_status = code;
    g_launch_error = why;
  }
}

Block& block_of(const Fiber* f) { return g_blocks[f->cta]; }

void release_block(Block& b) {
  b.bar.arrived = 0;
  b.bar.generation++;
  b.or_result = b.or_acc;
  b.or_acc = 0;
}

void release_cluster() {
  g_cluster_bar.arrived = 0;
  g_cluster_bar.generation++;
}

void release_warp(Warp& w) {
  if (w.mismatch) fail_launch(kLaunchFailure, "lanes of a warp met at different collective operations");
  if (w.alive != w.lanes) fail_launch(kLaunchFailure, "a warp-collective operation after some lanes of the warp had exited");
  if (w.combine) w.combine(w.in.data(), w.out.data(), w.lanes, w.ctx);
  w.combine = nullptr;
  w.ctx = nullptr;
  w.mismatch = false;
  w.bar.arrived = 0;
  w.bar.generation++;
}

void release_group(Group& gr) {
  if (gr.mismatch) fail_launch(kLaunchFailure, "threads of a warpgroup met at different warpgroup operations");
  if (gr.alive != gr.members) fail_launch(kLaunchFailure, "a warpgroup operation after some threads of the warpgroup had exited");
  if (gr.combine && g_launch_status == kSuccess) gr.combine(gr.mine.data(), gr.members);
  gr.combine = nullptr;
  gr.mismatch = false;
  gr.bar.arrived = 0;
  gr.bar.generation++;
}

[[noreturn]] void fiber_main() {
  Fiber* f = g_cur;
  (*g_body)();
  f->done = true;
  Block& blk = block_of(f);
  Warp& w = blk.warps[f->warp];
  Group& gr = blk.groups[f->group];
  blk.alive--;
  w.alive--;
  gr.alive--;
  g_cluster_alive--;
  // Exited threads no longer count at a barrier (as on the GPU since Volta); a warp collective still
  // waiting for them is a kernel bug, reported by release_warp.
  if (blk.bar.arrived > 0 && blk.bar.arrived == blk.alive) release_block(blk);
  if (g_cluster_bar.arrived > 0 && g_cluster_bar.arrived == g_cluster_alive) release_cluster();
  if (w.bar.arrived > 0 && w.bar.arrived == w.alive) release_warp(w);
  if (gr.bar.arrived > 0 && gr.bar.arrived == gr.alive) release_group(gr);
  switch_to(f->ctx, g_scheduler);
  std::abort();  // never resumed
}

#if defined(__x86_64__)
void trampoline() { fiber_main(); }
#else
void trampoline_uc() { fiber_main(); }
#endif

void start_fiber(Fiber& f) {
  if (!f.stack) {
    void* m = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    mprotect(m, kGuardBytes, PROT_NONE);  // an overflowing fiber faults instead of corrupting its neighbour
    f.stack = static_cast<char*>(m) + kGuardBytes;
  }
#if defined(__x86_64__)
  // The switch pops six registers and returns into trampoline, which then sees the stack as a called
  // function does (rsp + 8 a multiple of 16).
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack + kStackBytes) & ~uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                      // trampoline's would-be return address
  *--sp = reinterpret_cast<void*>(&trampoline);
  for (int i = 0; i < 6; ++i) *--sp = nullptr;          // rbp, rbx, r12-r15
  f.ctx.sp = sp;
#else
  getcontext(&f.ctx.uc);
  f.ctx.uc.uc_stack.ss_sp = f.stack;
  f.ctx.uc.uc_stack.ss_size = kStackBytes;
  f.ctx.uc.uc_link = nullptr;
  makecontext(&f.ctx.uc, trampoline_uc, 0);
#endif
}

bool runnable(const Fiber& f) {
  if (f.done) return false;
  const Block& b = g_blocks[f.cta];
  if (f.waiting == 1) return b.bar.generation != f.wait_generation;
  if (f.waiting == 2) return b.warps[f.warp].bar.generation != f.wait_generation;
  if (f.waiting == 3) return b.groups[f.group].bar.generation != f.wait_generation;
  if (f.waiting == 4) return b.named[f.named].generation != f.wait_generation;
  if (f.waiting == 5) return g_cluster_bar.generation != f.wait_generation;
  return true;
}

void wait_here(int kind, uint64_t generation) {
  g_cur->waiting = kind;
  g_cur->wait_generation = generation;
  switch_to(g_cur->ctx, g_scheduler);
  g_cur->waiting = 0;
}

// KERNELPORT_EMU_ORDER=reverse: threads take their turns from the last to the first, and blocks run from
// the last to the first, so that a kernel whose correctness leans on the order threads run between
// barriers (a missing __syncthreads between a write and another warp's read) or on blocks running in
// launch order fails one of the two orders.
bool env_reverse() {
  static const bool r = [] {
    const char* s = std::getenv("KERNELPORT_EMU_ORDER");
    return s && !std::strcmp(s, "reverse");
  }();
  return r;
}

void setup_block(Block& blk, unsigned nthreads) {
  blk.bar = Barrier{};
  blk.alive = nthreads;
  blk.or_acc = blk.or_result = 0;
  for (Barrier& b : blk.named) b = Barrier{};
  const unsigned nwarps = (nthreads + g_warp - 1) / g_warp;
  blk.warps.resize(nwarps);
  for (unsigned w = 0; w < nwarps; ++w) {
    Warp& wp = blk.warps[w];
    wp = Warp{};
    wp.lanes = wp.alive = std::min(g_warp, nthreads - w * g_warp);
    wp.in.assign(static_cast<size_t>(g_warp) * kWords, 0);
    wp.out.assign(static_cast<size_t>(g_warp) * kWords, 0);
  }
  const unsigned ngroups = (nthreads + kGroupThreads - 1) / kGroupThreads;
  blk.groups.resize(ngroups);
  for (unsigned i = 0; i < ngroups; ++i) {
    Group& gr = blk.groups[i];
    gr = Group{};
    gr.members = gr.alive = std::min(kGroupThreads, nthreads - i * kGroupThreads);
    gr.mine.assign(kGroupThreads, nullptr);
  }
  blk.serial = ++g_block_serial;
}

// Runs the g_cluster blocks of one cluster (their indices set in g_blocks) to completion, each
// block's threads as fibers, all of them taking turns.
void run_cluster(unsigned nthreads) {
  const unsigned total = nthreads * g_cluster;
  g_cluster_bar = Barrier{};
  g_cluster_alive = total;
  for (unsigned c = 0; c < g_cluster; ++c) setup_block(g_blocks[c], nthreads);
  for (unsigned i = 0; i < total; ++i) {
    Fiber& f = g_fibers[i];
    const unsigned t = i % nthreads;
    f.tid = Dim3{t % g_block_dim.x, (t / g_block_dim.x) % g_block_dim.y, t / (g_block_dim.x * g_block_dim.y)};
    f.cta = i / nthreads;
    f.warp = t / g_warp;
    f.lane = t % g_warp;
    f.group = t / kGroupThreads;
    f.done = false;
    f.waiting = 0;
    start_fiber(f);
  }
  const bool reverse = env_reverse();
  for (;;) {
    bool ran = false, left = false;
    for (unsigned i = 0; i < total; ++i) {
      Fiber& f = g_fibers[reverse ? total - 1 - i : i];
      if (f.done) continue;
      left = true;
      if (!runnable(f)) continue;
      g_cur = &f;
      switch_to(g_scheduler, f.ctx);
      g_cur = nullptr;
      ran = true;
    }
    if (!left) return;
    if (!ran) {
      // Every live thread waits for one that never arrives: on a GPU, a hang.
      fail_launch(kLaunchFailure, "deadlock: threads wait at a barrier others never reach");
      return;  // the fibers are abandoned; their stacks are reset by the next launch
    }
  }
}

// ---- device memory -----------------------------------------------------------------------------------
std::mutex g_mem_mutex;
std::unordered_map<void*, size_t> g_allocs;
size_t g_used = 0;
std::atomic<int> g_sticky{kSuccess};  // set where a stream runs, read by every thread
int g_last = kSuccess;

size_t budget() {
  static const size_t b = [] {
    const char* s = std::getenv("KERNELPORT_EMU_MEMORY_MB");
    const long mb = s && *s ? std::atol(s) : 4096;
    return static_cast<size_t>(mb > 0 ? mb : 4096) << 20;
  }();
  return b;
}

unsigned env_warp() {
  static const unsigned w = [] {
    const char* s = std::getenv("KERNELPORT_EMU_WARP_SIZE");
    const long v = s && *s ? std::atol(s) : 32;
    return v == 32 || v == 64 || v == 128 ? static_cast<unsigned>(v) : 32u;
  }();
  return w;
}

// KERNELPORT_EMU_L2_KB: the L2 size the device reports (default an H20's 60 MiB), which sizes the
// attention kernels' launch order: a small one runs them in many head groups.
int env_l2_bytes() {
  static const int b = [] {
    const char* s = std::getenv("KERNELPORT_EMU_L2_KB");
    const long kb = s && *s ? std::atol(s) : 0;
    return kb > 0 && kb < (1l << 21) ? static_cast<int>(kb << 10) : 60 << 20;
  }();
  return b;
}

}  // namespace

const char* error_name(int e) {
  switch (e) {
    case kSuccess: return "emuSuccess";
    case kInvalidValue: return "emuErrorInvalidValue";
    case kMemoryAllocation: return "emuErrorMemoryAllocation";
    case kInvalidConfiguration: return "emuErrorInvalidConfiguration";
    case kNotReady: return "emuErrorNotReady";
    case kIllegalAddress: return "emuErrorIllegalAddress";
    case kLaunchFailure: return "emuErrorLaunchFailure";
    default: return "emuErrorUnknown";
  }
}

const char* error_string(int e) {
  switch (e) {
    case kSuccess: return "no error";
    case kInvalidValue: return "invalid argument";
    case kMemoryAllocation: return "out of memory (the emulated device's budget, KERNELPORT_EMU_MEMORY_MB)";
    case kInvalidConfiguration: return "invalid configuration argument";
    case kNotReady: return "device not ready";
    case kIllegalAddress:
      // A fault the emulated kernel raised names itself (raise_fault), after the GPU's words.
      return g_fault_text.empty() ? "an illegal memory access was encountered" : g_fault_text.c_str();
    case kLaunchFailure: return g_launch_error.empty() ? "unspecified launch failure" : g_launch_error.c_str();
    default: return "unknown error";
  }
}

bool error_is_sticky(int e) { return e == kIllegalAddress || e == kLaunchFailure; }

// KERNELPORT_EMU_SM: the part whose compute capability and per-block shared memory the device reports
// (80 A100/A800, 86 RTX 30xx/A10, 89 L20/L40/RTX 4090D, 90 H20/H100, 120 RTX 5090D), so the kernel
// choices and tile plans of each architecture run. Default 90.
struct Arch {
  int sm, smem_optin;
};
Arch env_arch() {
  static const Arch a = [] {
    const char* s = std::getenv("KERNELPORT_EMU_SM");
    const int sm = s && *s ? std::atoi(s) : 90;
    switch (sm) {
      case 80: return Arch{80, 166912};
      case 86: case 89: case 120: return Arch{sm, 101376};
      default: return Arch{90, 232448};
    }
  }();
  return a;
}

int device_attribute(int which) {
  switch (which) {
    case 0: return static_cast<int>(env_warp());
    case 1: return 78;
    case 2: return env_arch().sm / 10;
    case 3: return env_arch().sm % 10;
    case 4: return env_arch().smem_optin;
    case 5: return env_l2_bytes();
    default: return 0;
  }
}

int mem_info(size_t* free_bytes, size_t* total) {
  std::lock_guard<std::mutex> g(g_mem_mutex);
  *total = budget();
  *free_bytes = budget() - g_used;
  return g_sticky;
}

int malloc_device(void** p, size_t bytes) {
  if (g_sticky) return g_sticky;
  std::lock_guard<std::mutex> g(g_mem_mutex);
  if (bytes > budget() - g_used) return kMemoryAllocation;
  // 256-byte alignment, as cudaMalloc's (the kernels' vector loads rely on 16); exactly `bytes` long, so
  // that an AddressSanitizer build sees a kernel reading past its buffer.
  void* m = nullptr;
  if (posix_memalign(&m, 256, std::max<size_t>(bytes, 1)) != 0) return kMemoryAllocation;
  g_allocs[m] = bytes;
  g_used += bytes;
  g_stats.mallocs++;
  *p = m;
  return kSuccess;
}

int free_device(void* p) {
  if (!p) return kSuccess;
  std::lock_guard<std::mutex> g(g_mem_mutex);
  auto it = g_allocs.find(p);
  if (it == g_allocs.end()) return kInvalidValue;
  g_used -= it->second;
  g_allocs.erase(it);
  g_stats.frees++;
  std::free(p);
  return kSuccess;
}

int check_sticky() { return g_sticky; }

int take_last_error() {
  if (g_sticky) return g_sticky;
  const int e = g_last;
  g_last = kSuccess;
  return e;
}

int set_max_dynamic_smem(int bytes) { return bytes >= 0 && bytes <= device_attribute(4) ? kSuccess : kInvalidValue; }

namespace {
// Runs one launch (on the thread that waits for its stream).
void run_launch(Dim3 grid, Dim3 block, size_t smem, Dim3 cluster, const std::function<void()>& body) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  if (g_sticky) return;  // a fault before it: the context is gone
  const unsigned threads = block.x * block.y * block.z;
  g_warp = env_warp();
  g_grid = grid;
  g_block_dim = block;
  g_body = &body;
  g_cluster = cluster.x * cluster.y;
  g_launch_status = kSuccess;
  g_launch_error.clear();
  g_stats.launches++;
  if (g_fibers.size() < threads * g_cluster) g_fibers.resize(threads * g_cluster);
  // Clusters in launch order, or from the last to the first (KERNELPORT_EMU_ORDER=reverse): a GPU
  // promises no order between blocks either.
  const bool reverse = env_reverse();
  const unsigned nz = grid.z, ny = grid.y / cluster.y, nx = grid.x / cluster.x;
  for (unsigned zi = 0; zi < nz && g_launch_status == kSuccess; ++zi)
    for (unsigned yi = 0; yi < ny && g_launch_status == kSuccess; ++yi)
      for (unsigned xi = 0; xi < nx && g_launch_status == kSuccess; ++xi) {
        const unsigned z = reverse ? nz - 1 - zi : zi, y = (reverse ? ny - 1 - yi : yi) * cluster.y,
                       x = (reverse ? nx - 1 - xi : xi) * cluster.x;
        for (unsigned c = 0; c < g_cluster; ++c) {
          g_blocks[c].idx = Dim3{x + c % cluster.x, y + c / cluster.x, z};
          g_stats.blocks++;
          std::memset(g_arena[c], 0xcd, smem);  // shared memory starts as garbage, as on a GPU
        }
        run_cluster(threads);
      }
  g_body = nullptr;
  // Every failure while a kernel runs ends the context on a GPU (each code the emulator raises is sticky).
  if (g_launch_status != kSuccess) g_sticky = error_is_sticky(g_launch_status) ? g_launch_status : kLaunchFailure;
}
}  // namespace

void launch_cluster(Dim3 grid, Dim3 block, size_t smem, Dim3 cluster, std::function<void()> body, Stream* stream) {
  if (g_sticky) return;
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 ||
      smem > static_cast<size_t>(device_attribute(4)) || cluster.x == 0 || cluster.y == 0 || cluster.z != 1 ||
      cluster.x * cluster.y > kMaxCluster || grid.x % cluster.x != 0 || grid.y % cluster.y != 0) {
    std::lock_guard<std::mutex> lock(g_launch_mutex);
    g_last = kInvalidConfiguration;
    return;
  }
  stream_enqueue(stream, [=, body = std::move(body)] { run_launch(grid, block, smem, cluster, body); });
}

const Dim3& thread_idx() { return g_cur->tid; }
const Dim3& block_idx() { return block_of(g_cur).idx; }
const Dim3& block_dim() { return g_block_dim; }
const Dim3& grid_dim() { return g_grid; }
unsigned warp_size() { return g_warp; }
unsigned char* shared_arena() { return g_arena[g_cur->cta]; }
unsigned char* shared_arena_of(unsigned rank) { return g_arena[rank]; }
unsigned cluster_rank() { return g_cur->cta; }
unsigned cluster_size() { return g_cluster; }

void sync_cluster() {
  if (++g_cluster_bar.arrived == g_cluster_alive) return release_cluster();
  wait_here(5, g_cluster_bar.generation);
}

void sync_block() {
  Block& b = block_of(g_cur);
  if (++b.bar.arrived == b.alive) return release_block(b);
  wait_here(1, b.bar.generation);
}

int sync_block_or(int predicate) {
  block_of(g_cur).or_acc |= predicate != 0;
  sync_block();
  return block_of(g_cur).or_result;
}

void sync_warp() { warp_collective(nullptr, nullptr, nullptr, nullptr); }

void name_collective(Combine combine, const char* name) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  collective_names()[reinterpret_cast<const void*>(combine)] = name;
}

void raise_fault(const char* what) {
  if (g_launch_status == kSuccess) g_fault_text = std::string("an illegal memory access was encountered (emulator: ") + what + ")";
  fail_launch(kIllegalAddress, what);
}

void warp_collective(const uint32_t* in, uint32_t* out, Combine combine, const void* ctx) {
  Fiber* f = g_cur;
  Warp& w = block_of(f).warps[f->warp];
  if (in) std::memcpy(&w.in[static_cast<size_t>(f->lane) * kWords], in, kWords * sizeof(uint32_t));
  if (w.bar.arrived == 0) w.combine = combine;
  else if (w.combine != combine) w.mismatch = true;
  w.ctx = ctx;  // the last lane's: it is running while combine runs
  if (f->lane == 0) g_stats.collectives[reinterpret_cast<const void*>(combine)]++;
  if (++w.bar.arrived == w.alive) release_warp(w);
  else wait_here(2, w.bar.generation);
  if (out) std::memcpy(out, &w.out[static_cast<size_t>(f->lane) * kWords], kWords * sizeof(uint32_t));
}

void name_group_collective(GroupCombine combine, const char* name) {
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  collective_names()[reinterpret_cast<const void*>(combine)] = name;
}

void group_collective(void* mine, GroupCombine combine) {
  Fiber* f = g_cur;
  Group& gr = block_of(f).groups[f->group];
  const unsigned t = static_cast<unsigned>(f - g_fibers.data()) % (g_block_dim.x * g_block_dim.y * g_block_dim.z);
  gr.mine[t % kGroupThreads] = mine;
  if (gr.bar.arrived == 0) gr.combine = combine;
  else if (gr.combine != combine) gr.mismatch = true;
  if (t % kGroupThreads == 0) g_stats.collectives[reinterpret_cast<const void*>(combine)]++;
  if (++gr.bar.arrived == gr.alive) release_group(gr);
  else wait_here(3, gr.bar.generation);
}

uint64_t block_serial() { return block_of(g_cur).serial; }
uint64_t block_serial_of(unsigned rank) { return g_blocks[rank < kMaxCluster ? rank : 0].serial; }

void yield_thread() { switch_to(g_cur->ctx, g_scheduler); }

void sync_named(unsigned id, unsigned count) {
  if (id == 0 || id >= 16 || count == 0 || count > g_block_dim.x * g_block_dim.y * g_block_dim.z) {
    fail_launch(kLaunchFailure, "bar.sync with an invalid barrier id or thread count");
    return;
  }
  Barrier& b = block_of(g_cur).named[id];
  if (++b.arrived == count) {
    b.arrived = 0;
    b.generation++;
    return;
  }
  g_cur->named = id;
  wait_here(4, b.generation);
}

}  // namespace kp_emu
