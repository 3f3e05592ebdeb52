import { assertEquals } from "@std/assert";
import { gitCommit } from "../lib/process.ts";

async function git(dir: string, ...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("git", {
    args: ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", ...args],
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim();
}

// Run folders record the commit that trained them: in a plain clone, in a subfolder, with packed
// refs, and in a `git worktree` (whose .git is a file), each as `git rev-parse HEAD` says.
Deno.test("gitCommit names the commit git itself names, in a clone and in a worktree", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await git(dir, "init", "-q", "repo");
    const repo = `${dir}/repo`;
    await Deno.mkdir(`${repo}/lib`);
    await Deno.writeTextFile(`${repo}/lib/a.txt`, "a");
    await git(repo, "add", ".");
    await git(repo, "commit", "-qm", "first");
    const head = await git(repo, "rev-parse", "HEAD");
    assertEquals(gitCommit(repo), head);
    assertEquals(gitCommit(`${repo}/lib`), head);
    await git(repo, "worktree", "add", "-q", "-b", "side", `${dir}/side`);
    await Deno.writeTextFile(`${dir}/side/lib/a.txt`, "b");
    await git(`${dir}/side`, "commit", "-qam", "second");
    const side = await git(`${dir}/side`, "rev-parse", "HEAD");
    assertEquals(gitCommit(`${dir}/side/lib`), side);
    await git(repo, "pack-refs", "--all");
    assertEquals(gitCommit(`${dir}/side`), side);
    assertEquals(gitCommit(repo), head);
    assertEquals(gitCommit(dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
