// Seeded property tests over the host hypercall ABI after (and before) the
// boot, for v5.13, 6.12 and mainline (7.2): thousands of random hypercalls,
// each checked against a model of the kernel (_hypercall_model.ts) and what the
// kernel guarantees: an unaligned __pkvm_init phys or size is -EINVAL; every
// recorded mapping translates with its PA and attributes; __io_map_base only
// grows and private ranges stay disjoint (nvhe/mm.c); pkvm_create_mappings
// maps level-3 pages only; the host reads x0 = SUCCESS with x1 = 0 or -errno,
// or NOT_SUPPORTED for an id it may not call (handle_host_hcall,
// nvhe/hyp-main.c); and bad input changes nothing.

import { assert, assertEquals, assertNotEquals } from "@std/assert";
import {
  hex,
  KVM_PGTABLE_PROT,
  MMU,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_EXEC,
  PAGE_HYP_RO,
  Prng,
} from "../../../core/mod.ts";
import { bootMachine } from "./_boot.ts";
import {
  type Call,
  comparable,
  executableAtEl2,
  type Expectation,
  gaps,
  genPhys,
  genProt,
  genSize,
  genU64,
  HypercallModel,
  isErrValue,
  KERNEL_PROT,
  type ModelVersion,
  NOT_SUPPORTED,
  pageHyp,
  type Snapshot,
  StateTracker,
  U64,
} from "./_hypercall_model.ts";

const PAGE = 4096;
const PMD = 2 * 1024 * 1024;
const RAM = { base: 0x4000_0000, size: 2 ** 30 };
const { R, W, X, DEVICE } = KVM_PGTABLE_PROT;

// Hyp VA windows for v5.13 __pkvm_create_mappings, in the lower quarter that
// only the idmap (at ~1 GiB) uses: 64 MiB of page mappings, then 1 GiB of
// 2 MiB blocks (PMD-aligned VA, PA and size only, so a block never has to
// give way to a table).
const PAGE_WINDOW = 0x1000_0000_0000;
const PAGE_WINDOW_PAGES = (64 * 1024 * 1024) / PAGE;
const BLOCK_WINDOW = 0x1000_4000_0000;

type Version = ModelVersion;
type Booted = ReturnType<typeof bootMachine>;

/** One machine under test and everything the checks need. */
interface Ctx {
  version: Version;
  b: Booted;
  model: HypercallModel;
  tracker: StateTracker;
  prng: Prng;
  /** CPUs the host may issue from (secondaries are on the host vector only after boot). */
  cpus: number;
  counts: Map<string, number>;
  /** Linear-map maplets after the boot (`pkvm_create_mappings`). */
  linear: { va: number; pa: number; size: number; prot: number }[];
  /** End of the last private range handed out. */
  privateEnd: number;
  /** Private ranges handed out, in order. */
  privateRanges: [number, number][];
  /** Calls issued. */
  n: number;
}

function setup(version: Version, seed: number, afterBoot = true): Ctx {
  // neoverse-n1: a 48-bit PA range, so the random PAs the generators map
  // (up to 2^47, genPhys) translate; on the default cortex-a57 (44 bits) an
  // access through such a mapping is an address size fault, as on hardware.
  const b = bootMachine(version, {
    ram: [RAM],
    cpus: 2,
    cpu: "neoverse-n1",
    overrides: { pkvm: { afterBoot } },
  });
  const rep = b.pkvm.boot();
  assertEquals(rep.ok, true, JSON.stringify(rep.failure));
  const cpus = afterBoot ? 2 : 1;
  const model = new HypercallModel({
    version,
    // 6.12 and 7.2 run pKVM in hVHE on neoverse-n1 (it has FEAT_VHE).
    hvhe: version !== "v5.13",
    ram: rep.machine.ram.map((r) => ({ base: Number(r.base), size: Number(r.size) })),
    ioMapBase: Number(rep.layout.io_map_base),
    hypVmemmap: Number(rep.layout.hyp_vmemmap),
    iaBits: rep.layout.hyp_va_bits,
    initialised: true,
    gate: version !== "v5.13" && afterBoot,
    finalized: version !== "v5.13" && afterBoot ? [0, 1] : [],
    // QEMU 7.2's neoverse-n1: PMUv3 (ID_AA64DFR0_EL1.PMUVer = 4) with
    // reset_pmcr_el0 = 0x410c3000, so __init_el2_debug sets HPMN = N = 6.
    mdcrEl2: 6n,
    // Its GICv3 CPU interface (gic_num_lrs 4, gic_vpribits 5, gic_vprebits 5)
    // on gic-version=3: ListRegs 3 | TDS | NV4 | A3V | IDbits 1 | PREbits 4 |
    // PRIbits 4; ICC_SRE_EL1.SRE is RAO/WI, so bit 63 stays clear.
    gicConfig: 3n | (1n << 19n) | (1n << 20n) | (1n << 21n) | (1n << 23n) | (4n << 26n) |
      (4n << 29n),
  });
  const [lo, hi] = linearWindow(rep.layout.hyp_physvirt_offset);
  const linear = rep.pgtable.mappings
    .map((m) => ({
      va: Number(m.va),
      pa: Number(m.pa),
      size: Number(m.size),
      prot: protBits(m.prot, version),
    }))
    .filter((m) => m.va >= lo && m.va < hi);
  assert(linear.length > 0, "the boot made linear mappings");
  return {
    version,
    b,
    model,
    tracker: new StateTracker(b.m, b.pkvm),
    prng: new Prng(seed),
    cpus,
    counts: new Map(),
    linear,
    privateEnd: model.ioMapBase,
    privateRanges: [],
    n: 0,
  };
}

/** The hyp VAs of RAM's linear alias: `hyp_phys_to_virt(pa) = pa - hyp_physvirt_offset`. */
function linearWindow(offsetHex: string): [number, number] {
  const off = BigInt(offsetHex);
  const va = (pa: number) => Number(BigInt.asUintN(64, BigInt(pa) - off));
  return [va(RAM.base), va(RAM.base + RAM.size)];
}

/**
 * A report's prot back to hyplab flags: a `PAGE_HYP*` name (with the page
 * state a host asked for in the software bits, `|SHARED_OWNED`, which
 * hyp_set_prot_attr copies into the PTE and the MMU does not read), or the
 * hex of the profile's own kernel encoding (mainline's enum since v6.19).
 */
function protBits(name: string, version: Version): number {
  const known: Record<string, number> = {
    PAGE_HYP,
    PAGE_HYP_EXEC,
    PAGE_HYP_RO,
    PAGE_HYP_DEVICE,
  };
  const [base, state] = name.split("|");
  if (known[base!] !== undefined) {
    assert(state === undefined || ["SHARED_OWNED", "SHARED_BORROWED"].includes(state), name);
    return known[base!]!;
  }
  const k = KERNEL_PROT[version];
  const v = Number(BigInt(name) & 0xffn);
  return (v & k.R ? R : 0) | (v & k.W ? W : 0) | (v & k.X ? X : 0) |
    (v & k.DEVICE ? DEVICE : 0);
}

const hx = (v: bigint | number) => hex(BigInt(v));

// ---------------------------------------------------------------------------
// Generators

function randomArgs(p: Prng): bigint[] {
  const n = p.int(6);
  return Array.from({ length: n }, () => p.int(2) === 0 ? genU64(p) : BigInt(p.int(64)));
}

function genCreateMappings(ctx: Ctx, cpu: number): Call {
  const p = ctx.prng;
  const id = ctx.model.ids.__pkvm_create_mappings!;
  const prot = genProt(p, ctx.version);
  const r = p.int(100);
  if (r < 45) {
    const start = PAGE_WINDOW + p.int(PAGE_WINDOW_PAGES) * PAGE +
      (p.int(4) === 0 ? p.int(PAGE) : 0);
    let size = genSize(p);
    if (size >= 1n << 47n && size < U64 - (1n << 20n)) size = BigInt(p.range(1, 9) * PAGE);
    return { id, args: [BigInt(start), size, genPhys(p, RAM), prot], cpu, how: "page window" };
  }
  if (r < 60) {
    const start = BLOCK_WINDOW + p.int(512) * PMD;
    const phys = p.int(3) === 0
      ? 0x10_0000_0000 + p.int(512) * PMD
      : RAM.base + p.int(RAM.size / PMD) * PMD;
    const size = p.range(1, 5) * PMD;
    return {
      id,
      args: [BigInt(start), BigInt(size), BigInt(phys), prot],
      cpu,
      how: "block window",
    };
  }
  if (r < 72) {
    // An already-mapped linear range: the same mapping again, or a different
    // PA or prot (v5.13 keeps the valid entry, with a WARN). Nothing changes.
    const m = p.pick(ctx.linear);
    const pages = m.size / PAGE;
    const first = p.int(pages);
    const n = p.range(1, Math.min(8, pages - first) + 1);
    const va = m.va + first * PAGE;
    const same = p.int(2) === 0;
    const pa = same ? m.pa + first * PAGE : RAM.base + p.int(RAM.size / PAGE) * PAGE;
    const pr = same && p.int(2) === 0 ? BigInt(m.prot) : prot;
    return {
      id,
      args: [BigInt(va), BigInt(n * PAGE), BigInt(pa), pr],
      cpu,
      how: same ? "linear remap (same PA)" : "linear remap (other PA)",
      remapExisting: true,
    };
  }
  if (r < 84) {
    // Past 2^ia_bits: a start beyond it, a range crossing it, or exactly at it.
    const limit = 2n ** 48n;
    const k = BigInt(p.range(1, 8));
    const args = p.pick<[bigint, bigint]>([
      [limit + BigInt(p.int(2 ** 30)) * 4096n, BigInt(p.range(0, 4) * PAGE)],
      [limit - k * 4096n, (k + BigInt(p.range(1, 4))) * 4096n],
      [genU64(p) | limit, genSize(p)],
      [limit, 0n],
      [limit - 4096n, 4096n],
    ]);
    return { id, args: [args[0], args[1], genPhys(p, RAM), prot], cpu, how: "near 2^ia_bits" };
  }
  // A size that wraps 2^64 once the page rounding is added: maps nothing.
  const start = PAGE_WINDOW + p.int(PAGE_WINDOW_PAGES) * PAGE + p.int(PAGE);
  const size = U64 - BigInt(p.int(PAGE_WINDOW_PAGES) * PAGE + p.int(PAGE)) - 1n;
  return { id, args: [BigInt(start), size, genPhys(p, RAM), prot], cpu, how: "wrapping size" };
}

function genPrivate(ctx: Ctx, cpu: number): Call {
  const p = ctx.prng;
  const phys = genPhys(p, RAM);
  let size = genSize(p);
  // A size whose page-rounded sum with __io_map_base wraps 2^64 moves the
  // base backwards (kernel behaviour): that has its own test below.
  const sz = BigInt.asUintN(64, size + (phys & 0xfffn) + 0xfffn) & ~0xfffn;
  if (BigInt(ctx.model.ioMapBase) + sz >= U64) size = 1n << BigInt(p.range(46, 63));
  return {
    id: ctx.model.ids.__pkvm_create_private_mapping!,
    args: [phys, size, genProt(p, ctx.version)],
    cpu,
    how: "private mapping",
  };
}

function genSetVector(ctx: Ctx, cpu: number): Call {
  const p = ctx.prng;
  const slot = p.pick([
    () => BigInt.asUintN(64, BigInt(p.range(-1, 6))),
    () => (1n << 32n) + BigInt(p.int(6)), // the enum is 32 bits wide
    () => genU64(p),
  ])();
  return { id: ctx.model.ids.__pkvm_cpu_set_vector!, args: [slot], cpu, how: "vector slot" };
}

function genMarkHyp(ctx: Ctx, cpu: number): Call {
  const p = ctx.prng;
  const end0 = RAM.base + RAM.size;
  const start = p.pick([
    RAM.base + p.int(RAM.size / PAGE) * PAGE,
    RAM.base,
    RAM.base + p.int(RAM.size),
    p.int(RAM.base),
    end0 + p.int(2 ** 20) * PAGE,
    0,
  ]);
  const end = p.pick([
    BigInt(start + p.range(1, 64) * PAGE),
    BigInt(end0),
    BigInt(start),
    BigInt(start) - 4096n,
    0n,
    BigInt(end0 + PAGE),
    genU64(p),
    BigInt(RAM.base),
  ]);
  return {
    id: ctx.model.ids.__pkvm_mark_hyp!,
    args: [BigInt(start), BigInt.asUintN(64, end)],
    cpu,
    how: "mark hyp",
  };
}

function genInit(ctx: Ctx, cpu: number): Call {
  const p = ctx.prng;
  const aligned = () => BigInt(RAM.base + p.int(RAM.size / PAGE) * PAGE);
  const unaligned = () => aligned() + BigInt(p.range(1, PAGE));
  const phys = p.int(2) === 0 ? aligned() : unaligned();
  const size = p.pick([
    () => BigInt(p.int(4096) * PAGE),
    () => BigInt(p.range(1, PAGE)),
    () => genU64(p),
  ])();
  return {
    id: ctx.model.ids.__pkvm_init!,
    args: [phys, size, BigInt(p.int(8)), genU64(p), BigInt(p.pick([39, 48, 52, 0]))],
    cpu,
    how: "__pkvm_init again",
  };
}

const GENERATORS: Record<string, (ctx: Ctx, cpu: number) => Call> = {
  __pkvm_init: genInit,
  __pkvm_create_mappings: genCreateMappings,
  __pkvm_create_private_mapping: genPrivate,
  __pkvm_cpu_set_vector: genSetVector,
  __pkvm_prot_finalize: (ctx, cpu) => ({
    id: ctx.model.ids.__pkvm_prot_finalize!,
    args: ctx.prng.int(2) === 0 ? [] : randomArgs(ctx.prng),
    cpu,
    how: "prot finalize",
  }),
  __pkvm_mark_hyp: genMarkHyp,
};

const WEIGHTS: Record<Version, [string, number][]> = {
  "v5.13": [
    ["__pkvm_create_mappings", 36],
    ["__pkvm_create_private_mapping", 26],
    ["__pkvm_cpu_set_vector", 8],
    ["__pkvm_mark_hyp", 8],
    ["__pkvm_init", 4],
    ["__pkvm_prot_finalize", 3],
  ],
  "v6.12": [
    ["__pkvm_create_private_mapping", 60],
    ["__pkvm_cpu_set_vector", 12],
    ["__pkvm_init", 8],
    ["__pkvm_prot_finalize", 4],
  ],
  "mainline": [
    ["__pkvm_create_private_mapping", 60],
    ["__pkvm_cpu_set_vector", 12],
    ["__pkvm_init", 8],
    ["__pkvm_prot_finalize", 4],
  ],
};

function genCall(ctx: Ctx): Call {
  const p = ctx.prng;
  const cpu = p.int(ctx.cpus);
  const r = p.int(100);
  if (r < 14) {
    // Any id 0..40: those with a handler get their own arguments.
    const id = p.int(41);
    const name = ctx.model.names.get(id);
    const gen = name === undefined ? undefined : GENERATORS[name];
    if (gen !== undefined && (name !== "__pkvm_create_mappings" || ctx.version === "v5.13")) {
      return gen(ctx, cpu);
    }
    return { id, args: randomArgs(p), cpu, how: "random id" };
  }
  if (r < 18) return { id: p.range(41, 0x1_0000), args: randomArgs(p), cpu, how: "large id" };
  const weights = WEIGHTS[ctx.version];
  let w = p.int(weights.reduce((s, [, n]) => s + n, 0));
  for (const [name, n] of weights) {
    if (w < n) return GENERATORS[name]!(ctx, cpu);
    w -= n;
  }
  throw new Error("unreachable");
}

// ---------------------------------------------------------------------------
// Checks

/** Issues one call and checks it against the model and the invariants. */
function issue(ctx: Ctx, call: Call): { exp: Expectation; before: Snapshot; after: Snapshot } {
  const hyp = ctx.b.pkvm.host!.hyp!;
  const before = ctx.tracker.take();
  const baseBefore = hyp.ioMapBase;
  const exp = ctx.model.step(call);
  const r = ctx.b.pkvm.hypercall(call.id, call.args, call.cpu);
  ctx.n++;
  const what = `${ctx.version} #${ctx.n} (${call.how}): id ${call.id}(${
    call.args.map(hx).join(", ")
  }) on CPU ${call.cpu}`;
  // The SMCCC return (handle_host_hcall): x0 is SUCCESS or NOT_SUPPORTED, and
  // x1 what the kernel returns.
  assert(r.x0 === 0n || r.x0 === NOT_SUPPORTED, `${what}: x0 = ${hx(r.x0)}`);
  assertEquals([hx(r.x0), hx(r.x1)], [hx(exp.x0), hx(exp.x1)], `${what}: x0/x1 (${exp.label})`);
  if (r.x0 === 0n && !exp.value) {
    const isAddress = exp.label.includes("address");
    const ok = isAddress ? !isErrValue(r.x1) : r.x1 === 0n || isErrValue(r.x1);
    assert(ok, `${what}: x1 = ${hx(r.x1)} is not ${isAddress ? "an address" : "0 or -errno"}`);
  }
  if (exp.label.includes("unmodelled")) assert(r.record.note !== undefined, `${what}: no note`);
  ctx.counts.set(exp.label, (ctx.counts.get(exp.label) ?? 0) + 1);

  const after = ctx.tracker.take();
  // Errors (and calls that only re-state an existing mapping) leave memory,
  // pools and tables exactly as they were.
  if (exp.change === "none") {
    assertEquals(comparable(after), comparable(before), `${what} (${exp.label}) changed the state`);
  } else if (call.remapExisting) {
    assertEquals(
      comparable(after, false),
      comparable(before, false),
      `${what} (${exp.label}): a remap changed the state`,
    );
  }

  // The private VA range (nvhe/mm.c): __io_map_base follows the kernel, only
  // increases, stays below __hyp_vmemmap; private ranges are disjoint.
  assertEquals(hyp.ioMapBase, ctx.model.ioMapBase, `${what}: __io_map_base`);
  assert(hyp.ioMapBase <= ctx.model.hypVmemmap, `${what}: __io_map_base past __hyp_vmemmap`);
  if (!exp.wrapped) assert(hyp.ioMapBase >= baseBefore, `${what}: __io_map_base went down`);
  // The documented exception (its own test): ranges start over from the new base.
  else ctx.privateEnd = ctx.model.ioMapBase;
  if (exp.privateRange !== undefined && exp.privateRange[1] > exp.privateRange[0]) {
    const [s, e] = exp.privateRange;
    assert(s >= ctx.privateEnd, `${what}: private range ${hx(s)} overlaps one before`);
    ctx.privateEnd = e;
    ctx.privateRanges.push([s, e]);
  }

  // A success that maps: private VA was free before; whatever was free is now
  // mapped as asked (so the state hash did change), checked through the MMU.
  if (exp.maps !== undefined && exp.change === "may") {
    const m = exp.maps;
    const free = gaps(before.maplets, m.va, m.size);
    if (exp.privateRange !== undefined) {
      assertEquals(free, [[m.va, m.va + m.size]], `${what}: private VA already mapped`);
    }
    if (free.length > 0) {
      assertNotEquals(after.mapletsJson, before.mapletsJson, `${what}: mapped nothing new`);
      assertNotEquals(after.memory, before.memory, `${what}: the memory digest did not move`);
    }
    const mmu = ctx.b.m.get(MMU);
    const cpu0 = ctx.b.m.cpu(0);
    for (const [s, e] of free.slice(0, 3)) {
      for (const page of new Set([s, e - PAGE, s + ctx.prng.int((e - s) / PAGE) * PAGE])) {
        const off = ctx.prng.int(PAGE / 8) * 8;
        const t = mmu.translate(cpu0, page + off, "read", { debug: true });
        if (t.kind !== "ok") throw new Error(`${what}: ${hx(page)}: ${t.message}`);
        assertEquals(
          [hx(t.pa), t.writable, t.executable, t.memType],
          [
            hx(m.pa + (page - m.va) + off),
            (m.prot & W) !== 0,
            executableAtEl2(ctx.version, m.prot, ctx.model.hvhe),
            (m.prot & DEVICE) !== 0 ? "device" : "normal",
          ],
          `${what}: ${hx(page + off)}`,
        );
      }
    }
  }
  return { exp, before, after };
}

/**
 * Over the whole table: every maplet of the report
 * (every page, or 258 of a large one) translates through the MMU (CPU 0, debug) to its PA with its
 * permissions,
 * nothing is writable and executable, the idmap is VA == PA, and every page
 * of RAM's linear alias is a level-3 leaf at VA = PA − hyp_physvirt_offset.
 */
function checkTables(ctx: Ctx): void {
  const rep = ctx.b.pkvm.report();
  const mmu = ctx.b.m.get(MMU);
  const cpu0 = ctx.b.m.cpu(0);
  const pgt = ctx.b.pkvm.host!.hyp!.pgt!;
  const p = ctx.prng;
  let checked = 0;
  for (const m of rep.pgtable.mappings) {
    const [va, pa, size, prot] = [
      Number(m.va),
      Number(m.pa),
      Number(m.size),
      protBits(m.prot, ctx.version),
    ];
    const where = `${ctx.version}: maplet ${m.va} -> ${m.pa} +${m.size} ${m.prot}`;
    assert((prot & R) !== 0, `${where}: no R`);
    assert(!((prot & W) && (prot & X)), `${where}: writable and executable`);
    if (m.what?.includes("idmap")) assertEquals(va, pa, `${where}: idmap VA != PA`);
    // Every page; past 256 pages (blocks, the pool), the ends and 256 at random.
    const pages = size / PAGE;
    const picks = pages <= 256
      ? Array.from({ length: pages }, (_, i) => i)
      : [0, pages - 1, ...Array.from({ length: 256 }, () => p.int(pages))];
    for (const i of picks) {
      const off = p.int(PAGE / 8) * 8;
      const t = mmu.translate(cpu0, va + i * PAGE + off, "read", { debug: true });
      if (t.kind !== "ok") throw new Error(`${where}: page ${i}: ${t.message}`);
      assertEquals(
        [hx(t.pa), t.writable, t.executable, t.memType],
        [
          hx(pa + i * PAGE + off),
          (prot & W) !== 0,
          executableAtEl2(ctx.version, prot, ctx.model.hvhe),
          (prot & DEVICE) !== 0 ? "device" : "normal",
        ],
        `${where}: page ${i}`,
      );
      assert(!(t.writable && t.executable), `${where}: page ${i} is W and X`);
      checked++;
    }
  }
  assert(checked > 500, `only ${checked} pages translated`);

  const offset = BigInt(rep.layout.hyp_physvirt_offset);
  const [lo, hi] = linearWindow(rep.layout.hyp_physvirt_offset);
  let linearPages = 0;
  for (const m of rep.pgtable.mappings) {
    const [va, pa, size] = [Number(m.va), Number(m.pa), Number(m.size)];
    if (va < lo || va >= hi) continue;
    assertEquals(
      hx(pa),
      hx(BigInt.asUintN(64, BigInt(va) + offset)),
      `${ctx.version}: linear ${m.va}`,
    );
    for (let v = va; v < va + size; v += PAGE) {
      const leaf = pgt.getLeaf(v);
      assert((leaf.pte & 1n) === 1n, `${ctx.version}: linear ${hx(v)} invalid`);
      assertEquals(leaf.level, 3, `${ctx.version}: linear ${hx(v)} is a level-${leaf.level} leaf`);
      linearPages++;
    }
    const t = mmu.translate(cpu0, va, "read", { debug: true });
    assertEquals(t.kind === "ok" && t.level, 3, `${ctx.version}: MMU level at ${m.va}`);
  }
  assert(linearPages > 1000, `${ctx.version}: only ${linearPages} linear pages checked`);
}

/** Every outcome listed happened at least `min` times. */
function assertCovered(ctx: Ctx, labels: string[], min = 3): void {
  const missing = labels.filter((l) => (ctx.counts.get(l) ?? 0) < min);
  assertEquals(missing, [], `outcomes not reached: ${JSON.stringify([...ctx.counts])}`);
}

/**
 * Fills the private VA space: one request up to a few pages short of
 * __hyp_vmemmap with a prot the table refuses (so nothing is mapped, but the
 * kernel keeps the base advanced), then small requests until -ENOMEM.
 */
function exhaustPrivateVa(ctx: Ctx): void {
  const p = ctx.prng;
  const id = ctx.model.ids.__pkvm_create_private_mapping!;
  const k = KERNEL_PROT[ctx.version];
  const own = pageHyp(ctx.version);
  const left = p.range(2, 12);
  const size = BigInt(ctx.model.hypVmemmap - ctx.model.ioMapBase - left * PAGE);
  const fill = issue(ctx, {
    id,
    // R|W|X in the profile's own enum kvm_pgtable_prot.
    args: [0x8000_0000n, size, BigInt(k.R | k.W | k.X)],
    cpu: 0,
    how: "fill",
  });
  assertEquals(fill.exp.label, "__pkvm_create_private_mapping:-EINVAL");
  let enomem = 0;
  for (let i = 0; i < 40; i++) {
    const phys = genPhys(p, RAM);
    const sz = BigInt(p.int(3) * PAGE + p.int(PAGE));
    const prot = BigInt(p.pick([own.PAGE_HYP, own.PAGE_HYP_RO, own.PAGE_HYP_DEVICE]));
    const { exp } = issue(ctx, { id, args: [phys, sz, prot], cpu: 0, how: "top of the IO space" });
    if (exp.label.endsWith("-ENOMEM")) enomem++;
  }
  assert(enomem > 0, "the private VA space never ran out");
}

// ---------------------------------------------------------------------------
// Tests

Deno.test("__pkvm_init before the boot: an unaligned phys or size is -EINVAL and changes nothing", () => {
  for (
    const [version, seed] of [["v5.13", 0x2001], ["v6.12", 0x2003], ["mainline", 0x2002]] as const
  ) {
    const b = bootMachine(version, { ram: [RAM], cpus: 2 });
    const args = b.pkvm.prepare()!;
    const [phys, size] = [args[0]!, args[1]!];
    const tracker = new StateTracker(b.m, b.pkvm);
    const hyp = b.pkvm.host!.hyp!;
    const p = new Prng(seed);
    for (let i = 0; i < 250; i++) {
      const badOff = () => BigInt(p.range(1, PAGE));
      const pair = p.pick<() => [bigint, bigint]>([
        () => [phys + badOff(), size],
        () => [phys, size + badOff()],
        () => [phys, size - badOff()],
        () => [genU64(p) | 1n, genU64(p)],
        () => [BigInt(p.int(2 ** 30) * PAGE), BigInt(p.range(1, PAGE))],
        () => [phys + badOff(), 0n],
        () => [(1n << 63n) + badOff(), size],
      ])();
      const rest = p.int(2) === 0 ? args.slice(2) : [genU64(p), genU64(p), genU64(p)];
      const call = [pair[0], pair[1], ...rest];
      const before = tracker.take();
      const r = b.pkvm.hypercall("__pkvm_init", call);
      const what = `${version} #${i}: __pkvm_init(${call.map(hx).join(", ")})`;
      assertEquals([r.x0, r.x1], [0n, BigInt.asUintN(64, -22n)], what);
      assertEquals(comparable(tracker.take()), comparable(before), `${what} changed the state`);
      assertEquals([hyp.initCalls, hyp.phase, hyp.pgt], [0, "idle", undefined], what);
    }
    // Nothing was left behind: the real call still boots.
    const rep = b.pkvm.boot();
    assertEquals(rep.ok, true, JSON.stringify(rep.failure));
    assertEquals(rep.hypercalls.filter((h) => h.name === "__pkvm_init").length, 251);
  }
});

Deno.test("v5.13 after the boot: 1600 random hypercalls follow the kernel; errors change nothing; tables stay sound", () => {
  const ctx = setup("v5.13", 0x513);
  for (let i = 0; i < 1600; i++) issue(ctx, genCall(ctx));
  assertCovered(ctx, [
    "__pkvm_create_mappings:0",
    "__pkvm_create_mappings:0 (empty)",
    "__pkvm_create_mappings:-EINVAL",
    "__pkvm_create_mappings:-ERANGE",
    "__pkvm_create_private_mapping:address",
    "__pkvm_create_private_mapping:address (empty)",
    "__pkvm_create_private_mapping:-EINVAL",
    "__pkvm_create_private_mapping:-ENOMEM",
    "__pkvm_cpu_set_vector:0",
    "__pkvm_cpu_set_vector:-EINVAL",
    "__pkvm_mark_hyp:0",
    "__pkvm_mark_hyp:-EINVAL",
    "__pkvm_init:-EINVAL",
    "__pkvm_init:-EPERM",
    "__pkvm_prot_finalize:0",
    "NOT_SUPPORTED:unknown",
    "NOT_SUPPORTED:empty",
    "NOT_SUPPORTED:unmodelled",
  ]);
  const warned = ctx.b.pkvm.report().hypercalls.filter((h) => h.note?.startsWith("WARN")).length;
  assert(warned > 0, "no remap of a different valid entry was tried");
  checkTables(ctx);
  exhaustPrivateVa(ctx);
  checkTables(ctx);
  assert(ctx.privateRanges.length > 100, `${ctx.privateRanges.length} private ranges`);
});

// The gate of handle_host_hcall (v5.16 on): 6.12 and mainline (7.2).
for (const [version, seed] of [["v6.12", 0x6c11], ["mainline", 0x6a11]] as const) {
  Deno.test(`${version} before finalize_pkvm: 1200 random hypercalls, then the gate refuses the early ids`, () => {
    const ctx = setup(version, seed, false);
    const hyp = ctx.b.pkvm.host!.hyp!;
    for (let i = 0; i < 1200; i++) issue(ctx, genCall(ctx));
    assertCovered(ctx, [
      "__pkvm_create_private_mapping:address",
      "__pkvm_create_private_mapping:address (empty)",
      "__pkvm_create_private_mapping:-EINVAL",
      "__pkvm_create_private_mapping:-ENOMEM",
      "__pkvm_cpu_set_vector:0",
      "__pkvm_cpu_set_vector:-EINVAL",
      "__pkvm_init:-EINVAL",
      "__pkvm_init:-EPERM",
      "__pkvm_prot_finalize:-EPERM",
      "NOT_SUPPORTED:unknown",
      "NOT_SUPPORTED:unmodelled",
    ]);
    assertEquals(ctx.counts.get("__pkvm_prot_finalize:0"), 1, "CPU 0 finalised exactly once");
    checkTables(ctx);
    exhaustPrivateVa(ctx);
    // finalize_pkvm(): the static key flips; the early ids are refused from now on.
    hyp.protectedModeInitialized = true;
    ctx.model.gate = true;
    ctx.counts.clear();
    for (let i = 0; i < 300; i++) {
      const call = genCall(ctx);
      const { exp } = issue(ctx, call);
      assertEquals(exp.change, "none", `${call.how} after finalisation`);
    }
    assertCovered(ctx, ["NOT_SUPPORTED:gate", "__pkvm_prot_finalize:-EPERM"]);
    checkTables(ctx);
  });

  Deno.test(`${version} after a full boot: 500 random hypercalls on both CPUs change nothing (the gate)`, () => {
    const ctx = setup(version, seed + 1);
    const start = ctx.tracker.take();
    for (let i = 0; i < 500; i++) {
      const call = genCall(ctx);
      assertEquals(issue(ctx, call).exp.change, "none", call.how);
    }
    assertCovered(ctx, [
      "NOT_SUPPORTED:gate",
      "NOT_SUPPORTED:unknown",
      "__pkvm_prot_finalize:-EPERM",
    ]);
    assertCovered(ctx, ["NOT_SUPPORTED:unmodelled"], 1);
    assertEquals(comparable(ctx.tracker.take()), comparable(start));
    checkTables(ctx);
  });
}

Deno.test("__pkvm_create_private_mapping: a size that wraps 2^64 moves __io_map_base backwards and maps nothing (kernel behaviour)", () => {
  // mm.c adds the page-rounded size to __io_map_base in u64 and only checks
  // the sum against __hyp_vmemmap; the map walk of a wrapped range is empty.
  // So __io_map_base grows only for a host that sends no such size. 6.12 and
  // mainline then refuse a base of 0 (`!start` in __pkvm_alloc_private_va_range).
  for (
    const [version, seed] of [["v5.13", 0x3001], ["v6.12", 0x3003], ["mainline", 0x3002]] as const
  ) {
    const ctx = setup(version, seed, false);
    const id = ctx.model.ids.__pkvm_create_private_mapping!;
    const p = ctx.prng;
    const wrap = (d: bigint) => {
      // The page-rounded size 2^64 - base + d brings the base back to d.
      const base = BigInt(ctx.model.ioMapBase);
      const phys = genPhys(p, RAM);
      const size = U64 - base + d - (phys & 0xfffn) - BigInt(p.int(PAGE));
      const prot = genProt(p, version);
      const { exp } = issue(ctx, { id, args: [phys, size, prot], cpu: 0, how: "wrap" });
      assertEquals(exp.wrapped, true, exp.label);
      assertEquals(ctx.model.ioMapBase, Number(d));
      const rec = ctx.b.pkvm.report().hypercalls.at(-1)!;
      if (exp.label.includes("address")) assert(rec.note?.includes("moved backwards"), rec.note);
    };
    for (let i = 0; i < 100; i++) {
      wrap(BigInt(ctx.model.ioMapBase - p.range(1, 64) * PAGE));
    }
    assertCovered(ctx, ["__pkvm_create_private_mapping:address (wrapped)"], 30);
    if (version !== "v5.13") {
      wrap(0n);
      for (let i = 0; i < 5; i++) {
        const { exp } = issue(ctx, genPrivate(ctx, 0));
        assertEquals(exp.label, "__pkvm_create_private_mapping:-EINVAL");
      }
    }
  }
});

Deno.test("the snapshot sees what a successful hypercall changes (the unchanged checks can fail)", () => {
  const ctx = setup("v5.13", 0x4001);
  const id = ctx.model.ids.__pkvm_create_mappings!;
  const before = ctx.tracker.take();
  const { exp, after } = issue(ctx, {
    id,
    args: [BigInt(PAGE_WINDOW), 0x3000n, 0x4800_0000n, BigInt(PAGE_HYP_RO)],
    cpu: 0,
    how: "one mapping",
  });
  assertEquals(exp.label, "__pkvm_create_mappings:0");
  assertNotEquals(comparable(after), comparable(before));
  // A store of a single byte anywhere shows too.
  const again = ctx.tracker.take();
  ctx.b.m.memory.write8(RAM.base + 0x1234, 0x5a);
  assertNotEquals(comparable(ctx.tracker.take()).memory, comparable(again).memory);
});
