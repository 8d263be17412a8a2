/**
 * Running `qemu-system-aarch64` for the oracle: the QEMU virt machine with
 * EL2 (`virtualization=on`) and GICv3, RAM at 0x40000000 (the virt
 * machine's default), the kernel in pKVM protected mode with `nokaslr` and
 * `memblock=debug`, the console on stdout and a gdb stub on a loopback port.
 * `panic=0` makes the kernel hang after its final panic (no root file
 * system), so QEMU never exits by itself: {@link QemuRun.stop} always ends it.
 *
 * @module
 */

import { OracleError } from "./errors.ts";
import type { CpuModelName as CpuModel } from "../../core/mod.ts";

/** QEMU's binary name. */
export const QEMU_BINARY = "qemu-system-aarch64";

/** The kernel command line: pKVM on, fixed layout, every memblock event logged. */
export const KERNEL_APPEND =
  "console=ttyAMA0 earlycon=pl011,mmio,0x9000000 kvm-arm.mode=protected nokaslr memblock=debug panic=0";

/** What to boot. */
export interface QemuMachine {
  /** Kernel Image path. */
  kernel: string;
  /** CPU model. */
  cpu: CpuModel;
  /** RAM in bytes (one bank at 0x40000000). */
  ramBytes: number;
  /** CPUs. */
  cpus: number;
  /** Loopback port of the gdb stub. */
  gdbPort: number;
}

/**
 * The QEMU arguments for a machine (after the binary name).
 *
 * @param m The machine.
 * @returns Arguments.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { qemuArgs } from "./qemu.ts";
 * const a = qemuArgs({ kernel: "Image", cpu: "max", ramBytes: 2 ** 31, cpus: 2, gdbPort: 1234 });
 * assertEquals(a.slice(0, 6), ["-M", "virt,virtualization=on,gic-version=3", "-cpu", "max", "-m", "2048M"]);
 * assertEquals(a.at(-1), "tcp:127.0.0.1:1234");
 * ```
 */
export function qemuArgs(m: QemuMachine): string[] {
  if (m.ramBytes % 2 ** 20 !== 0) throw new RangeError("RAM must be a whole number of MiB");
  return [
    "-M",
    "virt,virtualization=on,gic-version=3",
    "-cpu",
    m.cpu,
    "-m",
    `${m.ramBytes / 2 ** 20}M`,
    "-smp",
    String(m.cpus),
    "-nographic",
    "-monitor",
    "none",
    "-serial",
    "stdio",
    "-kernel",
    m.kernel,
    "-append",
    KERNEL_APPEND,
    "-gdb",
    `tcp:127.0.0.1:${m.gdbPort}`,
  ];
}

/**
 * A shell-quoted command line (for provenance).
 *
 * @param argv Program and arguments.
 * @returns One line.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { shellQuote } from "./qemu.ts";
 * assertEquals(shellQuote(["qemu", "-append", "a b"]), "qemu -append 'a b'");
 * ```
 */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

function missing(e: unknown): boolean {
  return e instanceof Deno.errors.NotFound;
}

/**
 * The first line of `qemu-system-aarch64 --version`.
 *
 * @param binary QEMU binary (default {@link QEMU_BINARY}).
 * @returns E.g. `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`.
 * @throws {OracleError} When QEMU is not installed.
 */
export async function qemuVersion(binary = QEMU_BINARY): Promise<string> {
  try {
    const out = await new Deno.Command(binary, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return new TextDecoder().decode(out.stdout).split("\n")[0]!.trim();
  } catch (e) {
    if (missing(e)) throw qemuMissing(binary);
    throw e;
  }
}

function qemuMissing(binary: string): OracleError {
  return new OracleError(
    `${binary} is not installed: run \`deno run -A examples/oracle.ts setup\` (it installs qemu-system-arm)`,
  );
}

/**
 * A free TCP port on 127.0.0.1 (bound, read, released).
 * @returns The port.
 */
export function freeLoopbackPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** How long and what to wait for. */
export interface WaitOptions {
  /** What is awaited, for progress and errors (`the pKVM line`). */
  what: string;
  /** Give up at this `Date.now()` value. */
  deadline: number;
  /** Patterns that end the wait with an error when seen first. */
  failOn?: { pattern: RegExp; message: string }[];
  /** Called about once a second while waiting. */
  progress?: (what: string, elapsedMs: number) => void;
}

/**
 * A running QEMU with its console captured.
 */
export class QemuRun {
  readonly #child: Deno.ChildProcess;
  readonly #started = Date.now();
  #console = "";
  #stderr = "";
  #status: Deno.CommandStatus | null = null;
  #stopping = false;
  #pumps: Promise<void>;
  #wake: (() => void) | null = null;
  /** The full command line. */
  readonly argv: readonly string[];

  private constructor(child: Deno.ChildProcess, argv: string[]) {
    this.#child = child;
    this.argv = argv;
    const dec = new TextDecoder();
    const pump = async (s: ReadableStream<Uint8Array>, into: "out" | "err") => {
      const sdec = new TextDecoder();
      for await (const chunk of s) {
        if (into === "out") this.#console += sdec.decode(chunk, { stream: true });
        else this.#stderr += dec.decode(chunk, { stream: true });
      }
    };
    this.#pumps = Promise.all([pump(child.stdout, "out"), pump(child.stderr, "err")]).then(
      () => {},
    );
    void child.status.then((s) => {
      this.#status = s;
      this.#wake?.();
    });
  }

  /**
   * Starts QEMU.
   * @param m The machine.
   * @param binary QEMU binary.
   * @returns The run.
   * @throws {OracleError} When QEMU is missing.
   */
  static start(m: QemuMachine, binary = QEMU_BINARY): QemuRun {
    const args = qemuArgs(m);
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(binary, { args, stdin: "null", stdout: "piped", stderr: "piped" })
        .spawn();
    } catch (e) {
      if (missing(e)) throw qemuMissing(binary);
      throw e;
    }
    return new QemuRun(child, [binary, ...args]);
  }

  /** The console text so far. */
  get console(): string {
    return this.#console;
  }

  /** QEMU's own stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Milliseconds since the start. */
  get elapsedMs(): number {
    return Date.now() - this.#started;
  }

  /** Whether QEMU has exited. */
  get exited(): boolean {
    return this.#status !== null;
  }

  /**
   * The last console lines, for error messages.
   * @param n How many.
   * @returns Non-empty lines without timestamps, joined with ` | `.
   */
  tail(n = 3): string {
    return this.#console.split("\n").map((l) =>
      l.replace(/\r$/, "").replace(/^\[\s*\d+\.\d+\]\s?/, "")
    )
      .filter((l) => l.trim()).slice(-n).join(" | ");
  }

  /**
   * Waits until the console matches `pattern` (searching the whole console).
   * @param pattern What to wait for.
   * @param opts Deadline, failure patterns, progress.
   * @returns The match.
   * @throws {OracleError} On a failure pattern, QEMU exiting, or the deadline.
   */
  async waitFor(pattern: RegExp, opts: WaitOptions): Promise<RegExpExecArray> {
    let lastProgress = 0;
    // The console grows to ~1 MB in small chunks: scan only what is new (with
    // an overlap for a line split across chunks), ten times a second.
    let from = 0;
    while (true) {
      const start = Math.max(0, from - 4096);
      const text = this.#console.slice(start);
      from = this.#console.length;
      const m = pattern.exec(text);
      const failure = (opts.failOn ?? [])
        .map((f) => ({ f, at: f.pattern.exec(text)?.index ?? -1 }))
        .filter((x) => x.at >= 0 && (!m || x.at < m.index))
        .sort((a, b) => a.at - b.at)[0];
      if (failure) {
        throw new OracleError(`${failure.f.message} (last console lines: ${this.tail()})`);
      }
      if (m) return m;
      if (this.#status) {
        const why = this.#stopping ? "was stopped" : `exited with status ${this.#status.code}`;
        const err = this.#stderr.trim().split("\n").slice(-2).join(" | ");
        throw new OracleError(
          `QEMU ${why} while waiting for ${opts.what}${err ? `: ${err}` : ""}${
            this.#console ? ` (last console lines: ${this.tail()})` : ""
          }`,
        );
      }
      const now = Date.now();
      if (now >= opts.deadline) {
        throw new OracleError(
          `timed out after ${
            Math.round(this.elapsedMs / 1000)
          } s waiting for ${opts.what} (last console lines: ${this.tail()})`,
        );
      }
      if (opts.progress && now - lastProgress >= 1000) {
        lastProgress = now;
        opts.progress(opts.what, this.elapsedMs);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, Math.min(100, Math.max(0, opts.deadline - now)));
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }

  /**
   * Kills QEMU at once (SIGKILL) without waiting; safe to call from a signal
   * handler and more than once.
   */
  kill(): void {
    this.#stopping = true;
    if (this.#status) return;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }

  /**
   * Stops QEMU (SIGTERM, then SIGKILL after 2 s) and waits for it and its
   * output streams to end. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (!this.#status) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => this.kill(), 2000);
      await this.#child.status;
      clearTimeout(timer);
    }
    await this.#pumps;
  }
}
