/**
 * Adam, computed as torch.optim.Adam computes it, so that the post's recipe reproduces:
 *
 *   m ← β₁m + (1-β₁)g,   v ← β₂v + (1-β₂)g²,
 *   p ← p - (lr / (1-β₁ᵗ)) · m / (√v / √(1-β₂ᵗ) + ε)
 *
 * with torch's defaults β = (0.9, 0.999), ε = 1e-8 (tfjs's own Adam puts ε elsewhere and
 * defaults it to 1e-7). On the JavaScript backends the update is one fused pass per
 * parameter (./fused.ts); tfjs's optimiser takes a dozen passes, more than the rest of a
 * small layer's epoch.
 *
 * @module
 */
import { tf } from "./deps.ts";

/** Name of the fused update that backends may register. */
export const ADAM_UPDATE = "FFAdamUpdate";

/** Adam's hyper-parameters; the defaults are torch's. */
export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/**
 * Adam over a fixed list of variables.
 *
 * @example
 * ```ts
 * const w = tf.variable(tf.zeros([2, 2]));
 * const adam = new Adam([w], { learningRate: 0.03 });
 * tf.tidy(() => adam.step([tf.ones([2, 2])])); // w is now -0.03 everywhere
 * ```
 */
export class Adam {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** Steps taken so far (t). */
  steps = 0;
  private readonly params: tf.Variable[];
  private readonly moments: { m: tf.Variable; v: tf.Variable }[];

  constructor(params: tf.Variable[], options: AdamOptions) {
    const { learningRate, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8 } = options;
    this.learningRate = learningRate;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.params = params;
    this.moments = tf.tidy(() =>
      params.map((p) => ({
        m: tf.variable(tf.zerosLike(p), false),
        v: tf.variable(tf.zerosLike(p), false),
      }))
    );
  }

  /** One update with these gradients, one per variable, in order. */
  step(gradients: tf.Tensor[]): void {
    if (gradients.length !== this.params.length) {
      throw new Error(`Adam got ${gradients.length} gradients for ${this.params.length} variables`);
    }
    this.steps++;
    const attrs = {
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      step: this.steps,
    };
    const fused = tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const { m, v } = this.moments[i];
        const g = gradients[i];
        const [p1, m1, v1] = fused
          ? tf.engine().runKernel(ADAM_UPDATE, { p, m, v, g }, attrs) as tf.Tensor[]
          : adamUpdate(p, m, v, g, attrs);
        p.assign(p1);
        m.assign(m1);
        v.assign(v1);
      });
    });
  }

  /** Frees the moments (not the variables, which belong to the caller). */
  dispose(): void {
    tf.dispose(this.moments.flatMap(({ m, v }) => [m, v]));
  }
}

/** The update in tfjs ops, for backends without the fused kernel. */
function adamUpdate(
  p: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  g: tf.Tensor,
  { learningRate, beta1, beta2, epsilon, step }: Required<AdamOptions> & { step: number },
): tf.Tensor[] {
  const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
  const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
  const denominator = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(1 - beta2 ** step)), epsilon);
  const p1 = tf.sub(p, tf.mul(tf.div(m1, denominator), learningRate / (1 - beta1 ** step)));
  return [p1, m1, v1];
}
