// The CPU emulator of the GPU layer (tests only; native/vendors/emu.h maps the vendor-neutral names onto
// it). The kernels of kernels/gpu/ are compiled by g++ as ordinary C++; a launch runs the grid's blocks
// one after another, and each block's threads as cooperative fibers on the calling thread, switching only
// where a GPU thread could wait: block barriers and warp-collective operations (shuffles, ldmatrix,
// mma.sync), which combine every lane's operands once all lanes of the warp have arrived. So the kernels
// run unchanged, SIMT semantics included, at a speed that suits small validation problems.
//
// Asynchronous results arrive when the kernel waits for them, not before (cp.async at wait_group, wgmma
// at wgmma.wait_group), so a missing or too weak wait shows as wrong results.
//
// What it cannot show: timing, races between threads (the interleaving is one cooperative order,
// first thread to last or, with KERNELPORT_EMU_ORDER=reverse, last to first; blocks never overlap), the tensor cores' own rounding (mma sums its exact products in double, then
// rounds once), and faults (an out-of-bounds access is a host access: run the tests under
// AddressSanitizer to see one).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

namespace kp_emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

// Error codes, numbered as the CUDA runtime's so that messages read alike.
enum Error : int {
  kSuccess = 0,
  kInvalidValue = 1,
  kMemoryAllocation = 2,
  kInvalidConfiguration = 9,
  kNotReady = 600,
  kIllegalAddress = 700,
  kLaunchFailure = 719,
};
const char* error_name(int e);
const char* error_string(int e);
bool error_is_sticky(int e);

// ---- host side -----------------------------------------------------------------------------------
// The emulated device: one, with a memory budget (KERNELPORT_EMU_MEMORY_MB, default 4096) so that an
// allocation beyond it is refused as a GPU's would be. Attributes: warp size KERNELPORT_EMU_WARP_SIZE
// (default 32), 78 multiprocessors, compute capability and per-block shared memory of KERNELPORT_EMU_SM
// (80, 86, 89, 90 or 120; default 90: 227 KiB, an H20's).
int device_attribute(int which);  // enum kp_gpu_attr (native/gpu/runtime.h)
int mem_info(size_t* free_bytes, size_t* total);
int malloc_device(void** p, size_t bytes);
int free_device(void* p);
int check_sticky();                 // the sticky error, if one happened (then every call returns it)
int take_last_error();              // the last launch error, cleared
int set_max_dynamic_smem(int bytes);
// Streams and events (streams.cpp). The emulated device is infinitely slow next to the host: what is
// queued on a stream (launches, copies) runs, in order, only when a thread waits for that stream
// (stream_sync), never before. So a host access that does not wait for the kernels using its memory
// lands before they run, every time, and shows as wrong results: the race that a fast host beside a
// busy GPU loses only sometimes. A null stream runs its work at once.
struct Stream;
struct Event;
Stream* stream_create();
void stream_destroy(Stream* s);  // runs what is queued first
void stream_enqueue(Stream* s, std::function<void()> work);
int stream_sync(Stream* s);  // runs what is queued; returns the sticky error, if any
Event* event_create();
void event_destroy(Event* e);
void event_record(Event* e, Stream* s);  // marks what `s` has queued so far
bool event_done(const Event* e);         // whether `s` has run it (without running anything)

// Queues the kernel body on `stream`, to run on every thread of every block, in thread-block clusters
// of cluster.x × cluster.y blocks (at most kMaxCluster; the grid a multiple; rank = x + cluster.x · y
// within the cluster, as %cluster_ctarank): a cluster's blocks run together, each with its own shared
// memory, and may reach each other's. An invalid configuration is refused now (take_last_error); a
// fault while it runs is sticky, seen by the next call, as on a GPU.
constexpr unsigned kMaxCluster = 4;
void launch_cluster(Dim3 grid, Dim3 block, size_t smem, Dim3 cluster, std::function<void()> body, Stream* stream);

// ---- device side (valid inside a kernel) -----------------------------------------------------------
const Dim3& thread_idx();
const Dim3& block_idx();
const Dim3& block_dim();
const Dim3& grid_dim();
unsigned warp_size();
unsigned char* shared_arena();  // the block's dynamic shared memory (and the base of shared addresses)
unsigned char* shared_arena_of(unsigned rank);  // that of the cluster's block `rank`
unsigned cluster_rank();        // the block's rank in its cluster (0 without clusters)
unsigned cluster_size();
void sync_cluster();            // barrier.cluster.arrive + wait: every thread of the cluster
void sync_block();
int sync_block_or(int predicate);
void sync_warp();
// A fault the emulated kernel raises itself (kernels/gpu/fault.cu): sticky, as on a GPU.
void raise_fault(const char* what);

// Warp-collective operation: each lane gives kWords words, and when every lane of the warp has arrived,
// `combine` runs once over all lanes' words (in[lane * kWords + i]) and writes each lane's result words
// (out[lane * kWords + i]); the call returns this lane's. Every lane must pass the same combine and ctx
// values (what the instruction's uniform operands are).
constexpr unsigned kWords = 16;
using Combine = void (*)(const uint32_t* in, uint32_t* out, unsigned lanes, const void* ctx);
void warp_collective(const uint32_t* in, uint32_t* out, Combine combine, const void* ctx);
// The name KERNELPORT_EMU_STATS gives a combine function's operations.
void name_collective(Combine combine, const char* name);

// Warpgroup-collective operation (wgmma: the 128 threads of four consecutive 32-lane warps): each thread
// passes a pointer to its own operands, and when every thread of the group has arrived, `combine` runs
// once over them (mine[thread % 128]). Every thread must pass the same combine.
constexpr unsigned kGroupThreads = 128;
using GroupCombine = void (*)(void* const* mine, unsigned threads);
void group_collective(void* mine, GroupCombine combine);
void name_group_collective(GroupCombine combine, const char* name);
// Lets the block's other threads run before this one goes on: what a thread spinning on shared state
// (an mbarrier's phase) must do, since threads switch only where they wait.
void yield_thread();
// bar.sync id, count: a named barrier among `count` threads of the block (id 1-15; 0 is __syncthreads).
void sync_named(unsigned id, unsigned count);
// Changes with every block run: lets an emulated instruction keep per-thread state across calls and
// tell a new block's thread from the last one's.
uint64_t block_serial();
uint64_t block_serial_of(unsigned rank);  // that of the cluster's block `rank`

}  // namespace kp_emu
