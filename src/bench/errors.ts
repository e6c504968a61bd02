/** Bad bench input (unknown op/suite/backend, malformed shapes, a baseline of the wrong schema). The CLI exits 2. */
export class BenchInputError extends Error {
  override name = 'BenchInputError';
}
