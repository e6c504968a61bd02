// Scaled dot-product attention, instantiated once per ISA: the plan and the task entry point that
// dispatch.cpp runs on the thread pool.
//
// Include from exactly one translation unit per ISA after defining KP_ISA (the namespace and the
// variant's name) and the unit's vector flavour (attention_simd.h). Two paths:
//   - prefill (Sq > kDecodeMaxSq): flash attention on register-tiled microkernels, one phase
//     (attention_prefill.h);
//   - decode (Sq <= kDecodeMaxSq): split-KV with a fixed split size, partials then a combine in a
//     fixed order (attention_decode.h).
// Both depend only on the descriptor, never on the thread count: results are bitwise identical.
#pragma once
#include <cstdint>

#include "attention_decode.h"
#include "attention_prefill.h"
#include "isa_kernels.h"

#ifndef KP_ISA
#error "attention_impl.h needs KP_ISA defined first"
#endif

#define KP_STR2(x) #x
#define KP_STR(x) KP_STR2(x)

namespace kp::cpu::KP_ISA {
namespace {

AttentionPlan attention_plan(const kp_attention_desc& d) {
  if (d.batch <= 0 || d.hq <= 0 || d.sq <= 0 || (d.dv <= 0 && !d.return_lse)) return AttentionPlan{};  // Dv = 0 still has an lse
  if (d.sq <= kDecodeMaxSq) return decode_plan(d);
  AttentionPlan p{};
  p.rounds = 1;
  p.tasks[0] = prefill_tasks(d);
  return p;
}

void attention_run(const kp_attention_desc& d, const AttentionArgs& args, int64_t round, int phase, int64_t task) {
  if (d.sq > kDecodeMaxSq) prefill_task(d, args, task);
  else if (phase == 0) decode_task(d, args, round, task);
  else decode_combine(d, args, round, task);
}

}  // namespace

extern const AttentionKernels attention_kernels = {KP_STR(KP_ISA), &attention_plan, &attention_run};

}  // namespace kp::cpu::KP_ISA
