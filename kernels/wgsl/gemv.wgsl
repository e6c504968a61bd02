// matmul for M <= 4 (GEMV-like: decoding, a single row of activations). One workgroup of WG
// invocations owns one output column j of every row: invocation t sums the products p = t, t+WG, ...
// in order, then a fixed tree in workgroup memory adds the WG partial sums, so the result is the
// same on every run and every device. Workgroups: x linearises the column (gridX per dispatch row),
// z is the batch.

const MR: u32 = {{MR}}u; // rows of the chunk (1..4), from row I0()
const WG: u32 = {{WG}}u;

var<workgroup> red: array<f32, {{MR}} * {{WG}}>;

// SUBGROUPS: the WG partial sums of a row are added by subgroupAdd within each subgroup; the lowest
// active invocation of each subgroup (subgroupBroadcastFirst) writes that sum to its own slot and the
// others write 0, and invocation 0 adds the WG slots in order: fewer barriers than the tree, and the
// same result on every run (the subgroup layout of a device does not change between runs).

@compute @workgroup_size({{WG}}, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n = J_END();
  let k = K();
  let i0 = I0();
  let j = J0() + wg.y * prm(4u) + wg.x;
  let z = wg.z + prm(5u);
  let off = batch_offsets(z);
  let aRow = prm(6u);
  let aCol = prm(7u);
  let bRow = prm(8u);
  let bCol = prm(9u);
  let t = lid.x;
  let live = j < n;

  var acc: array<f32, {{MR}}>;
  for (var r = 0u; r < MR; r = r + 1u) { acc[r] = 0.0; }
  if (live) {
    for (var p = t; p < k; p = p + WG) {
      let bv = load_b(off.b + p * bRow + j * bCol);
      for (var r = 0u; r < MR; r = r + 1u) { acc[r] = acc[r] + load_a(off.a + (i0 + r) * aRow + p * aCol) * bv; }
    }
  }
#if SUBGROUPS
  let lead = subgroupBroadcastFirst(t) == t;
  for (var r = 0u; r < MR; r = r + 1u) {
    let sum = subgroupAdd(acc[r]);
    red[r * WG + t] = select(0.0, sum, lead);
  }
  workgroupBarrier();
  if (live && t == 0u) {
    for (var r = 0u; r < MR; r = r + 1u) {
      var total = 0.0;
      for (var u = 0u; u < WG; u = u + 1u) { total = total + red[r * WG + u]; }
      store_out((z * M() + i0 + r) * N() + j, epilogue(total, i0 + r, j, off.r));
    }
  }
#else
  for (var r = 0u; r < MR; r = r + 1u) { red[r * WG + t] = acc[r]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) {
      for (var r = 0u; r < MR; r = r + 1u) { red[r * WG + t] = red[r * WG + t] + red[r * WG + t + s]; }
    }
    workgroupBarrier();
  }
  if (live && t < MR) {
    store_out((z * M() + i0 + t) * N() + j, epilogue(red[t * WG], i0 + t, j, off.r));
  }
#endif
}
