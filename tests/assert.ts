/**
 * The `@std/assert` functions this suite uses, written on Deno's built-in `node:assert`.
 *
 * Why: JSR (where `@std/assert` lives) is unreachable from our machines and CI, and the npm
 * registry is. Where JSR is reachable, delete this file and point the import map back at it:
 * in deno.json, `"@std/assert": "jsr:@std/assert@^1"`. The tests import `@std/assert` only.
 *
 * @module
 */
import nodeAssert from "node:assert";

/** Throws when `expr` is falsy. */
export function assert(expr: unknown, msg = "expected a truthy value"): asserts expr {
  nodeAssert.ok(expr, msg);
}

/** Deep equality, as `@std/assert`'s assertEquals. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Deep inequality. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Strict (===) equality. */
export function assertStrictEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.strictEqual(actual, expected, msg);
}

/** `actual` is within `tolerance` of `expected` (default: 1e-7 of `expected`, as @std/assert). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance?: number,
  msg?: string,
): void {
  const tol = tolerance ?? Math.abs(expected) * 1e-7;
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (!(delta <= tol)) {
    throw new nodeAssert.AssertionError({
      message: msg ??
        `Expected actual: "${actual}" to be close to "${expected}": delta "${delta}" is greater than "${tol}"`,
      actual,
      expected,
    });
  }
}

/** `actual` is not null or undefined. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  nodeAssert.ok(actual !== null && actual !== undefined, msg ?? "expected a value");
}

/** `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual < expected, msg ?? `Expect ${actual} < ${expected}`);
}

/** `actual > expected`. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual > expected, msg ?? `Expect ${actual} > ${expected}`);
}

/** `actual >= expected`. */
export function assertGreaterOrEqual<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.ok(actual >= expected, msg ?? `Expect ${actual} >= ${expected}`);
}

/** `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    msg ?? `Expected actual: "${actual}" to contain: "${expected}"`,
  );
}

/** `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

// deno-lint-ignore no-explicit-any
type ErrorClass = new (...args: any[]) => Error;

function checkError(e: unknown, ErrorClass?: ErrorClass, msgIncludes?: string): Error {
  if (!(e instanceof Error)) {
    throw new nodeAssert.AssertionError({ message: `A non-Error was thrown: ${e}` });
  }
  const err: Error = e;
  const { name, message } = err;
  const isExpectedClass = ErrorClass === undefined || err instanceof ErrorClass;
  if (!isExpectedClass) {
    throw new nodeAssert.AssertionError({
      message: `Expected a "${ErrorClass?.name}", got "${name}": ${message}`,
    });
  }
  if (msgIncludes !== undefined && !err.message.includes(msgIncludes)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error message to include "${msgIncludes}", but got "${err.message}"`,
    });
  }
  return err;
}

/** `fn` throws (optionally an instance of `ErrorClass` whose message includes `msgIncludes`). */
export function assertThrows(
  fn: () => unknown,
  ErrorClass?: ErrorClass,
  msgIncludes?: string,
): Error {
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes);
  }
  throw new nodeAssert.AssertionError({ message: "Expected function to throw." });
}

/** `fn`'s promise rejects (optionally an instance of `ErrorClass` whose message includes `msgIncludes`). */
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass,
  msgIncludes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes);
  }
  throw new nodeAssert.AssertionError({ message: "Expected function to reject." });
}
