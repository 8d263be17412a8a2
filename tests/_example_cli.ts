/** Running an example as a user would: `deno run [flags] examples/NAME.ts [args]` from the repo root. */

const ROOT = new URL("../", import.meta.url).pathname;

/** What the subprocess did. */
export interface CliResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs an example script in a subprocess with NO_COLOR set.
 * @param script Path from the repo root, e.g. `examples/boot.ts`.
 * @param args Arguments after the script.
 * @param flags Deno flags before the script (permissions, `--quiet`).
 * @returns Exit code and decoded output.
 */
export async function runExample(
  script: string,
  args: readonly string[],
  flags: readonly string[] = [],
): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
