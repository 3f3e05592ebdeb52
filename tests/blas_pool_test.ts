// The blas backend recycles large outputs; no tensor and no value read out may change because of it.
import { assert, assertEquals } from "@std/assert";
import { registerBlasBackend } from "../lib/blas.ts";
import { Layer, setBackend, tf } from "../lib/mod.ts";
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
  name: "a layer that finishes training gives its recycled buffers back",
  ignore: ignoreUnless(blas.ok, `OpenBLAS (${blas.ok ? "" : blas.reason})`),
  async fn() {
    await setBackend("blas");
    const buffer = (t: tf.Tensor) =>
      (tf.backend() as MathBackendCPU).data.get(t.dataId).values as Float32Array;
    const a = tf.randomNormal([600, 400], 0, 1, "float32", 1) as tf.Tensor2D;
    const b = tf.randomNormal([400, 500], 0, 1, "float32", 2) as tf.Tensor2D;
    const first = tf.matMul(a, b);
    const firstBuffer = buffer(first).buffer;
    first.dispose();
    const reused = tf.matMul(a, b);
    assert(buffer(reused).buffer === firstBuffer, "the pool recycles a freed output");
    reused.dispose();

    const layer = new Layer(4, 3, { epochs: 1, seed: 1 });
    const x = tf.ones([2, 4]) as tf.Tensor2D;
    tf.dispose(await layer.train(x, x));
    const after = tf.matMul(a, b);
    assert(buffer(after).buffer !== firstBuffer, "training released the pool's free buffers");
    tf.dispose([a, b, x, after]);
    layer.dispose();
  },
});
