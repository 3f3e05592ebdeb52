// The blas backend recycles large outputs; no tensor and no value read out may change because of it.
import { assert, assertEquals } from "@std/assert";
import { registerBlasBackend } from "../lib/backends/blas.ts";
import { setBackend, tf } from "../lib/mod.ts";
import type { MathBackendCPU } from "../lib/deps.ts";
import { ignoreUnless } from "./shared.ts";

const blas = registerBlasBackend();

Deno.test({
  name: "recycled buffers never change a live view or a value already read",
  ignore: ignoreUnless(blas.ok, `OpenBLAS (${blas.ok ? "" : blas.reason})`),
  async fn() {
    await setBackend("blas");
    const a = tf.randomNormal([600, 400], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([400, 500], 0, 1, "float32", 2) as tf.Tensor2D;
    // 600x500 floats = 1.2 MB: big enough for the pool.
    const product = tf.matMul(a, b);
    const top = tf.slice(product, [0, 0], [300, 500]); // a view into product's buffer
    const read = await product.data(); // a copy, not the pooled buffer
    const expectedTop = Array.from(await top.data());
    product.dispose();
    const other = tf.matMul(tf.neg(a), b); // would reuse product's buffer if it were free
    assertEquals(Array.from(await top.data()), expectedTop, "the view survived");
    assertEquals(Array.from(read.slice(0, 5)), expectedTop.slice(0, 5), "read values survived");
    top.dispose();
    const again = tf.matMul(a, b); // now product's buffer is free and may come back
    const differs = tf.tidy(() => tf.max(tf.abs(tf.add(again, other))).dataSync()[0]);
    assert(differs < 1e-3, `a·b and (-a)·b should cancel, got ${differs}`);
    tf.dispose([a, b, other, again]);
  },
});

Deno.test({
  name: "sizes that take turns stay pooled; a phase's sizes are let go when another's begin",
  ignore: ignoreUnless(blas.ok, `OpenBLAS (${blas.ok ? "" : blas.reason})`),
  async fn() {
    await setBackend("blas");
    const buffer = (t: tf.Tensor) =>
      ((tf.backend() as MathBackendCPU).data.get(t.dataId)!.values as Float32Array).buffer;
    // 600x500 and 500x700 floats: both big enough for the pool.
    const [a, b] = [tf.randomNormal([600, 400]), tf.randomNormal([400, 500])] as tf.Tensor2D[];
    const [c, d] = [tf.randomNormal([500, 300]), tf.randomNormal([300, 700])] as tf.Tensor2D[];
    const first = tf.matMul(a, b);
    const firstBuffer = buffer(first);
    first.dispose();
    // Two sizes taking turns, as each layer's weights do in mini-batch training.
    for (let i = 0; i < 50; i++) {
      tf.matMul(c, d).dispose();
      const again = tf.matMul(a, b);
      assert(buffer(again) === firstBuffer, `turn ${i}: the pool recycles the freed output`);
      again.dispose();
    }
    // Then a phase of other sizes only: the old size goes stale and is let go.
    for (let i = 0; i < 40; i++) tf.matMul(c, d).dispose();
    tf.matMul(tf.randomNormal([900, 300]) as tf.Tensor2D, d).dispose(); // a size never seen
    const after = tf.matMul(a, b);
    assert(buffer(after) !== firstBuffer, "the stale size's free buffer was let go");
    tf.dispose([a, b, c, d, after]);
  },
});
