/**
 * `observe`: boots a real kernel in pKVM protected mode under QEMU, waits
 * for it to reach its final panic (there is no root file system), halts it
 * through the gdb stub and records one {@link Observation}: the memblock
 * state `kvm_hyp_reserve()` saw (from the console), kernel-image symbols
 * (System.map), host facts (kernel memory, read in virtual mode through a
 * CPU at EL1), the pool, the EL2 registers of every CPU (`OBSERVED_SYSREGS`,
 * each checked against the stub's target description first), each CPU's
 * `kvm_hyp_vector` (hyp per-CPU memory), and the EL2 stage-1 tables walked
 * in physical memory from TTBR0_EL2. QEMU is stopped
 * on every path out, Ctrl-C included.
 *
 * @module
 */

import type { CpuModelName as CpuModel } from "../../core/mod.ts";
import { hex } from "../../core/mod.ts";
import {
  consoleLines,
  PANIC_END_LINE,
  PANIC_LINE,
  PKVM_MODE_LINE,
  pkvmMode,
} from "./console_log.ts";
import { walkEl2Stage1 } from "./el2_walk.ts";
import { hostStage2Observed, walkHostStage2 } from "./s2_walk.ts";
import { OracleError } from "./errors.ts";
import { type KernelRelease, release } from "../releases/mod.ts";
import {
  HOST_FACTS,
  type HostFactEnv,
  HYP_STATE_FACTS,
  IMAGE_SYMBOLS,
  imageSymbols,
  readHostFacts,
  RESERVE_FACTS,
} from "./host_facts.ts";
import { cacheDir, cachedKernel, type KernelName, KERNELS } from "./kernel_cache.ts";
import { memblockAtKvmReserve } from "./memblock_log.ts";
import {
  type HexMapping,
  type Observation,
  OBSERVED_SYSREGS,
  type ObservedSysregs,
} from "./observation.ts";
import { freeLoopbackPort, type QemuMachine, QemuRun, qemuVersion, shellQuote } from "./qemu.ts";
import { RspClient } from "./rsp.ts";
import { readKernelVa } from "./el1_translate.ts";
import { parseSystemMap, type SystemMap } from "./system_map.ts";

/** Where QEMU's virt machine puts RAM. */
export const VIRT_RAM_BASE = 0x4000_0000;

/** A kernel given by paths instead of from the cache. */
export interface KernelFiles {
  /** Image path. */
  image: string;
  /** System.map path. */
  systemMap: string;
  /** hyplab profile to record as `inputs.profile`. */
  profile: string;
}

/** Options of {@link observe}. */
export interface ObserveOptions {
  /** A cached kernel (`6.1`, `6.12`, `7.2`) or files. */
  kernel: KernelName | KernelFiles;
  /** Cache root (default from the environment). */
  cache?: string;
  /** CPU model. */
  cpu: CpuModel;
  /** RAM bytes, one bank at 0x40000000 (a whole number of MiB). */
  ramBytes: number;
  /** CPUs, 1..8. */
  cpus: number;
  /** Longest wait for the boot, in ms (default 900 s). */
  timeoutMs?: number;
  /** Deadline of each gdb stub exchange, in ms (default 10 s). */
  stubTimeoutMs?: number;
  /** Called about once a second while waiting on the console. */
  progress?: (what: string, elapsedMs: number) => void;
  /** Called with the whole console text when QEMU is stopped (also on failure). */
  onConsole?: (text: string) => void;
  /** Called with each step (`booting`, `reading registers`, ...). */
  step?: (what: string) => void;
}

/** The run was interrupted (SIGINT/SIGTERM); QEMU has been stopped. */
export class ObserveInterrupted extends OracleError {
  /**
   * Creates the value.
   * @param signal The signal.
   */
  constructor(signal: string) {
    super(`interrupted by ${signal}: QEMU stopped`);
    this.name = "ObserveInterrupted";
  }
}

/**
 * The release facts the host-fact reader needs: the struct field offsets
 * (from the release's DWARF) and the build's `PAGE_OFFSET`.
 */
function hostFactEnv(profile: string): HostFactEnv {
  let rel: KernelRelease;
  try {
    rel = release(profile);
  } catch {
    return {};
  }
  const sve = rel.host.sveState;
  return {
    fields: sve === null ? {} : { "kvm_host_data.sve_state": sve.field },
    pageOffset: BigInt.asUintN(64, -(1n << BigInt(rel.config.vaBits))),
  };
}

/**
 * Fails with one line naming every register the gdb stub's target
 * description lacks (QEMU lists a system register only when its emulation
 * of the CPU model has it).
 *
 * @param rsp A connected client.
 * @param names Registers to be read.
 * @param qemu QEMU's version line, for the message.
 * @throws {OracleError} When some register is missing.
 * @example
 * ```ts
 * import { assertRejects } from "@std/assert";
 * import { OracleError, requireRegisters } from "./mod.ts";
 * const feature = "org.qemu.gdb.arm.sys.regs";
 * const rsp = {
 *   registers: () => Promise.resolve([{ name: "TTBR0_EL2", regnum: 90, bitsize: 64, feature }]),
 * };
 * await requireRegisters(rsp, ["ttbr0_el2"], "QEMU 7.2");
 * await assertRejects(
 *   () => requireRegisters(rsp, ["TTBR0_EL2", "MDCR_EL2"], "QEMU 7.2"),
 *   OracleError,
 *   "has no register MDCR_EL2",
 * );
 * ```
 */
export async function requireRegisters(
  rsp: Pick<RspClient, "registers">,
  names: readonly string[],
  qemu: string,
): Promise<void> {
  const have = new Set((await rsp.registers()).map((r) => r.name.toLowerCase()));
  const missing = names.filter((n) => !have.has(n.toLowerCase()));
  if (missing.length > 0) {
    throw new OracleError(
      `the gdb stub's target description (${qemu}) has no register ${
        missing.join(", ")
      }: this QEMU cannot be observed`,
    );
  }
}

/** CPSR.M[3:2]: the exception level a halted CPU was at. */
function exceptionLevel(cpsr: bigint): number {
  return Number((cpsr >> 2n) & 3n);
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** A kernel to boot and what the observation says about where it came from. */
export interface KernelSource {
  /** Image path. */
  image: string;
  /** System.map path. */
  systemMapPath: string;
  /** `inputs.profile`. */
  profile: string;
  /** `provenance.kernel_package`. */
  kernelPackage: string;
  /** `provenance.system_map_package`. */
  systemMapPackage: string;
  /** The release the console must report, when known in advance. */
  release: string | null;
}

/**
 * Finds a kernel's files: a cached kernel's through its manifest, or the
 * given paths.
 *
 * @param kernel A cached kernel name or files.
 * @param cache Cache root (default from the environment).
 * @returns The source.
 * @throws {OracleError} When the kernel is not cached or a path is not a file.
 */
export async function resolveKernelSource(
  kernel: KernelName | KernelFiles,
  cache?: string,
): Promise<KernelSource> {
  if (typeof kernel === "string") {
    const k = await cachedKernel(cache ?? cacheDir(), kernel);
    return {
      image: k.image,
      systemMapPath: k.systemMap,
      profile: KERNELS[kernel].profile,
      kernelPackage: `${k.manifest.image_package} ${k.manifest.image_version}`,
      systemMapPackage: `${k.manifest.dbg_package} ${k.manifest.dbg_version}`,
      release: k.manifest.kernel_release,
    };
  }
  const f = kernel;
  for (const [flag, p] of [["--kernel", f.image], ["--system-map", f.systemMap]]) {
    try {
      if (!(await Deno.stat(p!)).isFile) throw new OracleError(`${flag} ${p}: not a file`);
    } catch (e) {
      if (e instanceof OracleError) throw e;
      throw new OracleError(`${flag} ${p}: ${(e as Error).message}`);
    }
  }
  return {
    image: f.image,
    systemMapPath: f.systemMap,
    profile: f.profile,
    kernelPackage: `file ${await Deno.realPath(f.image)}`,
    systemMapPackage: `file ${await Deno.realPath(f.systemMap)}`,
    release: null,
  };
}

/**
 * Loads and parses a kernel's System.map.
 * @param k The kernel.
 * @returns The map.
 */
export async function loadSystemMap(k: KernelSource): Promise<SystemMap> {
  let mapText: string;
  try {
    mapText = await Deno.readTextFile(k.systemMapPath);
  } catch (e) {
    throw new OracleError(`${k.systemMapPath}: ${(e as Error).message}`);
  }
  return parseSystemMap(mapText, k.systemMapPath);
}

/**
 * Boots the kernel and records one observation.
 *
 * @param opts Kernel, machine, limits, progress.
 * @returns The observation.
 * @throws {OracleError} On a missing kernel or QEMU, a kernel that panics
 *   before pKVM is up, a timeout, a stub that stops answering, facts that
 *   disagree; {@link ObserveInterrupted} on Ctrl-C.
 * @example
 * ```ts ignore
 * import { observe } from "./observe.ts";
 * const obs = await observe({ kernel: "6.1", cpu: "cortex-a57", ramBytes: 2 ** 32, cpus: 4 });
 * console.log(obs.observed.el2.table_pages);
 * ```
 */
export async function observe(opts: ObserveOptions): Promise<Observation> {
  if (!Number.isInteger(opts.cpus) || opts.cpus < 1 || opts.cpus > 8) {
    throw new OracleError(`cpus ${opts.cpus}: expected an integer 1..8`);
  }
  if (!Number.isSafeInteger(opts.ramBytes) || opts.ramBytes < 2 ** 28 || opts.ramBytes % 2 ** 20) {
    throw new OracleError(`ram ${opts.ramBytes}: expected a whole number of MiB, at least 256M`);
  }
  const k = await resolveKernelSource(opts.kernel, opts.cache);
  const map = await loadSystemMap(k);
  const qemu = await qemuVersion();
  const machine = {
    kernel: k.image,
    cpu: opts.cpu,
    ramBytes: opts.ramBytes,
    cpus: opts.cpus,
    gdbPort: freeLoopbackPort(),
  };
  opts.step?.("booting");
  const run = QemuRun.start(machine);
  let interrupted: string | null = null;
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((sig) => {
    const h = () => {
      interrupted = sig;
      run.kill();
    };
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  try {
    return await observeBooted(run, machine, k, map, { ...opts, qemu });
  } catch (e) {
    if (interrupted) throw new ObserveInterrupted(interrupted);
    throw e;
  } finally {
    await run.stop();
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    opts.onConsole?.(run.console);
  }
}

/** Limits and hooks of {@link observeBooted}. */
export interface ObserveBootedOptions {
  /** First line of `qemu-system-aarch64 --version`. */
  qemu: string;
  /** Longest wait for the boot, in ms, counted from now (default 900 s). */
  timeoutMs?: number;
  /** Deadline of each gdb stub exchange, in ms (default 10 s). */
  stubTimeoutMs?: number;
  /** Called about once a second while waiting on the console. */
  progress?: (what: string, elapsedMs: number) => void;
  /** Called with each step. */
  step?: (what: string) => void;
  /** How often to ask the gdb stub whether pKVM is finalised, in ms (default 8 s). */
  pollMs?: number;
}

/**
 * Whether pKVM is finalised: every CPU has run `__pkvm_prot_finalize`
 * (HCR_EL2.VM set, VTTBR_EL2 loaded). pkvm_drop_host_privileges() (6.1
 * arch/arm64/kvm/arm.c, 7.2 pkvm.c) flips `kvm_protected_mode_initialized`
 * before the first CPU's, so the static key needs no separate read. Leaves the client connected, the VM halted, and the target
 * description read (QEMU then answers `p` for system registers).
 *
 * @param rsp A fresh connection to the stub.
 * @param cpus CPUs in the machine.
 * @returns Whether the EL2 state is final.
 */
async function finalised(rsp: RspClient, cpus: number): Promise<boolean> {
  await rsp.stopReason();
  await rsp.registers();
  const threads = await rsp.threads();
  if (threads.length !== cpus) return false;
  for (const t of threads) {
    await rsp.selectThread(t);
    const hcr = await rsp.readRegister("HCR_EL2");
    const vttbr = await rsp.readRegister("VTTBR_EL2");
    if ((hcr & 1n) === 0n || vttbr === 0n) return false;
  }
  return true;
}

/**
 * Records an observation of a QEMU that {@link QemuRun.start} booted:
 * waits for the pKVM line and the final panic, reads everything through the
 * gdb stub and detaches, leaving QEMU running (the caller stops it).
 *
 * @param run The running QEMU.
 * @param machine What it was started with.
 * @param k The kernel it runs.
 * @param map That kernel's System.map.
 * @param opts Limits and hooks.
 * @returns The observation.
 */
export async function observeBooted(
  run: QemuRun,
  machine: QemuMachine,
  k: KernelSource,
  map: SystemMap,
  opts: ObserveBootedOptions,
): Promise<Observation> {
  const step = opts.step ?? (() => {});
  const qemu = opts.qemu;
  const port = machine.gdbPort;
  let rsp: RspClient | null = null;
  try {
    const deadline = Date.now() + (opts.timeoutMs ?? 900_000);
    const wait = { deadline, ...(opts.progress ? { progress: opts.progress } : {}) };
    await run.waitFor(PKVM_MODE_LINE, {
      ...wait,
      what: 'the pKVM line ("Protected ... mode initialized successfully")',
      failOn: [
        { pattern: PANIC_LINE, message: "the kernel panicked before pKVM initialised" },
        {
          pattern: /kvm \[\d+\]: (?!Protected )[^\n]*mode initialized successfully/,
          message: "KVM started without protected mode (no pKVM)",
        },
      ],
    });
    // The EL2 state is final once finalize_pkvm() has run __pkvm_prot_finalize
    // on every CPU (the host stage-2 on: HCR_EL2.VM and VTTBR_EL2 set). The
    // final panic (no root file system) comes after that, sometimes minutes
    // later (7.2 in nVHE idles for minutes after its last initcall), so the
    // stub is asked every few seconds too, and the first of the two wins.
    const what = "pKVM's finalisation (every CPU's host stage-2 on) or the final panic";
    const pollMs = opts.pollMs ?? 8_000;
    while (rsp === null) {
      const until = Date.now() + pollMs;
      let panicked = false;
      try {
        await run.waitFor(PANIC_END_LINE, { ...wait, deadline: Math.min(deadline, until), what });
        panicked = true;
      } catch (e) {
        if (Date.now() >= deadline || Date.now() < until) throw e;
      }
      step("asking the gdb stub whether pKVM is finalised");
      const client = await RspClient.connect({ port, timeoutMs: opts.stubTimeoutMs ?? 10_000 });
      if (panicked) {
        await client.stopReason();
        // Reading the target description makes QEMU answer `p` for system registers.
        await client.registers();
        rsp = client;
        break;
      }
      if (await finalised(client, machine.cpus)) {
        rsp = client;
        break;
      }
      await client.detach(); // the VM runs on
      await client.close();
    }

    const log = run.console;
    const mode = pkvmMode(log);
    const memblock = memblockAtKvmReserve(log);
    const banner = consoleLines(log).find((l) => /^Linux version \S+/.test(l.text))?.text;
    if (!banner) throw new OracleError('console log: no "Linux version" line');
    const release = /^Linux version (\S+)/.exec(banner)![1]!;
    if (k.release && k.release !== release) {
      throw new OracleError(
        `the cache says kernel release ${k.release} but the console says ${release}`,
      );
    }

    const threads = await rsp.threads();
    if (threads.length !== machine.cpus) {
      throw new OracleError(`the gdb stub lists ${threads.length} CPUs, expected ${machine.cpus}`);
    }
    step("reading registers");
    await requireRegisters(rsp, OBSERVED_SYSREGS, qemu);
    const perCpu: ObservedSysregs[] = [];
    const els: number[] = [];
    for (const t of threads) {
      await rsp.selectThread(t);
      els.push(exceptionLevel(await rsp.readRegister("cpsr")));
      const r = {} as ObservedSysregs;
      for (const name of OBSERVED_SYSREGS) r[name] = hex(await rsp.readRegister(name));
      perCpu.push(r);
    }
    const differ = perCpu.some((r) => OBSERVED_SYSREGS.some((n) => r[n] !== perCpu[0]![n]));

    // Kernel VAs mean something only through a CPU in the kernel's regime.
    // When every CPU is at EL2 (7.2 idles in PSCI CPU_SUSPEND, which pKVM
    // handles at EL2), the host's stage 1 is walked from its EL1 registers,
    // which keep the host's values while the hyp runs.
    const el1 = els.indexOf(1);
    await rsp.selectThread(threads[Math.max(0, el1)]!);
    await rsp.setPhysicalMemoryMode(false);
    const client = rsp;
    // The stub translates a VA through the host's stage 2 too, which pKVM
    // fills on the host's faults: a page the host has not touched since
    // finalisation reads as E14. Then the host's stage 1 is walked instead.
    const el1Regs = {
      ttbr1: await rsp.readRegister("TTBR1_EL1"),
      tcr: await rsp.readRegister("TCR_EL1"),
    };
    const readPhys = async (pa: bigint, n: number) => {
      await client.setPhysicalMemoryMode(true);
      try {
        return await client.readMemory(pa, n);
      } finally {
        await client.setPhysicalMemoryMode(false);
      }
    };
    const readVirt = async (va: bigint, n: number) => {
      if (el1 < 0) return await readKernelVa(va, n, el1Regs, readPhys);
      try {
        return await client.readMemory(va, n);
      } catch (e) {
        if (!(e instanceof OracleError)) throw e;
        return await readKernelVa(va, n, el1Regs, readPhys);
      }
    };
    const mem = {
      readVirtual: readVirt,
      readPhysical: readPhys,
    };
    const bannerVa = map.require("linux_banner");
    const want = `Linux version ${release} `;
    const got = new TextDecoder().decode(await readVirt(bannerVa, want.length));
    if (got !== want) {
      throw new OracleError(
        `${k.systemMapPath} does not match the running kernel: linux_banner at ${
          hex(bannerVa)
        } reads "${got}"`,
      );
    }
    step("reading host facts");
    const env = hostFactEnv(k.profile);
    const host = await readHostFacts(HOST_FACTS, map, mem, machine.cpus, env);
    const pool = await readHostFacts(RESERVE_FACTS, map, mem, machine.cpus);
    const hypState = await readHostFacts(HYP_STATE_FACTS, map, mem, machine.cpus, {
      ...env,
      known: host,
    });
    const base = BigInt(pool.hyp_mem_base as string);
    const size = BigInt(pool.hyp_mem_size as string);
    if (base !== memblock.kvm.reserved.base) {
      throw new OracleError(
        `hyp_mem_base is ${hex(base)} in memory but the console says ${
          hex(memblock.kvm.reserved.base)
        }`,
      );
    }
    if (Number(size >> 20n) !== memblock.kvm.announced.mib || size > memblock.kvm.request.size) {
      throw new OracleError(
        `hyp_mem_size ${
          hex(size)
        } does not fit the console's "Reserved ${memblock.kvm.announced.mib} MiB" and request of ${
          hex(memblock.kvm.request.size)
        }`,
      );
    }

    step("walking the EL2 stage-1 tables");
    await rsp.setPhysicalMemoryMode(true);
    const cpu0 = perCpu[0]!;
    const walk = await walkEl2Stage1(
      {
        ttbr0: BigInt(cpu0.TTBR0_EL2),
        tcr: BigInt(cpu0.TCR_EL2),
        hcr: BigInt(cpu0.HCR_EL2),
      },
      (pa, n) => client.readMemory(pa, n),
      { ram: [{ base: BigInt(VIRT_RAM_BASE), size: BigInt(machine.ramBytes) }] },
    );
    // The host stage-2, once __pkvm_prot_finalize turned it on (HCR_EL2.VM).
    let hostS2: Observation["observed"]["host_s2"];
    if ((BigInt(cpu0.HCR_EL2) & 1n) === 1n) {
      step("walking the host stage-2 tables");
      const s2 = await walkHostStage2(
        { vttbr: BigInt(cpu0.VTTBR_EL2), vtcr: BigInt(cpu0.VTCR_EL2) },
        (pa, n) => client.readMemory(pa, n),
        { ram: [{ base: BigInt(VIRT_RAM_BASE), size: BigInt(machine.ramBytes) }] },
      );
      hostS2 = hostStage2Observed(s2);
    }
    await rsp.setPhysicalMemoryMode(false);
    await rsp.detach();
    step("detached");

    const mappings: HexMapping[] = walk.mappings.map((m) => ({
      va: hex(m.va),
      pa: hex(m.pa),
      size: hex(m.size),
      attr: hex(m.attr),
    }));
    const observed: Observation["observed"] = {
      mode,
      reserve: {
        base: hex(base),
        size: hex(size),
        request: { size: hex(memblock.kvm.request.size), align: hex(memblock.kvm.request.align) },
      },
      sysregs: cpu0,
      el2: {
        va_bits: walk.vaBits,
        start_level: walk.startLevel,
        table_pages: walk.tablePages,
        mappings,
      },
    };
    if (differ) observed.sysregs_per_cpu = perCpu;
    if (hostS2 !== undefined) observed.host_s2 = hostS2;
    const vectors = hypState.kvm_hyp_vector;
    if (Array.isArray(vectors)) observed.kvm_hyp_vector = vectors;
    return {
      provenance: {
        kernel_package: k.kernelPackage,
        system_map_package: k.systemMapPackage,
        kernel_release: release,
        qemu,
        cmdline: shellQuote(run.argv),
        recorded: today(),
      },
      inputs: {
        profile: k.profile,
        machine: {
          cpu: machine.cpu,
          ram: [{ base: hex(VIRT_RAM_BASE), size: hex(machine.ramBytes) }],
          cpus: machine.cpus,
        },
        memblock: {
          memory: memblock.memory.map((r) =>
            r.flags ? { base: hex(r.base), size: hex(r.size), flags: r.flags } : {
              base: hex(r.base),
              size: hex(r.size),
            }
          ),
          reserved: memblock.reserved.map((r) => ({ base: hex(r.base), size: hex(r.size) })),
        },
        symbols: imageSymbols(map, IMAGE_SYMBOLS),
        host,
      },
      observed,
    };
  } finally {
    await rsp?.close();
  }
}
