/**
 * The shape of one OpenBLAS product, shared by ./blas.ts, which makes it, and
 * ./local_kernels.ts, which calls it: here, so that neither imports the other for it.
 *
 * @module
 */

/** One row-major float32 product for `Sgemm`. */
export interface SgemmArgs {
  /** m×k, stored k×m when `transposeA`. */
  a: Float32Array;
  /** k×n, stored n×k when `transposeB`. */
  b: Float32Array;
  /** m×n; read only when `beta` is 1. */
  c: Float32Array;
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
  beta: 0 | 1;
  /**
   * Row strides of a, b and c as stored, where a matrix is a block of a wider one (the local
   * layers' products, ./local_kernels.ts); default their stored widths.
   */
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/**
 * `c = a·b + beta·c` by `cblas_sgemm`. Sizes must be positive; views (`subarray`) are passed
 * without copying.
 */
export type Sgemm = (args: SgemmArgs) => void;
