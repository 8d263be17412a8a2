/**
 * EL2 exception entry for host hypercalls: the hyp stub (`__hyp_stub_vectors`),
 * the idmap init vector (`__kvm_hyp_init` → `___kvm_hyp_init`) and the host
 * vector (`__kvm_hyp_host_vector` → `handle_host_hcall` in `hyp-main.c`),
 * chosen by VBAR_EL2 as the hardware would.
 *
 * @module
 */

import {
  type Cpu,
  eret,
  ERRNO,
  type ExceptionInfo,
  hex,
  ichVtrEl2,
  KVM_PGTABLE_PROT,
  VECTOR,
} from "../../core/mod.ts";
import { ARM_SMCCC_CALL_HINTS, asU64, hypercallIds, KVM_HOST_SMCCC_BASE } from "./hypercall_ids.ts";
import { pkvmCpuSetVector } from "./hyp_mm.ts";
import { guarded, hypPerCpuBase, pkvmInit } from "./hyp_setup.ts";
import { type Hyp, HypPanicError } from "./hyp_state.ts";
import { hasCnp } from "./hyp_switch.ts";
import { initParamsOffset } from "./init_params.ts";

/** `HVC_SET_VECTORS` (asm/virt.h). */
export const HVC_SET_VECTORS = 0n;
/** `HVC_SOFT_RESTART`. */
export const HVC_SOFT_RESTART = 1n;
/** `HVC_RESET_VECTORS`. */
export const HVC_RESET_VECTORS = 2n;
/** `HVC_STUB_ERR`. */
export const HVC_STUB_ERR = 0xbadca11n;
/** `HCR_VM`. */
export const HCR_VM = 1n;
/** `HCR_FWB`, bit 46. */
export const HCR_FWB = 1n << 46n;

/** What a hypercall handler returns. */
interface HcallOutcome {
  /** x1. */
  x1: bigint;
  /** Why, where the simulator or the kernel has something to say. */
  note?: string;
}

/** A modelled handler: `(cpu, x1..x5) → x1`. */
type Handler = (cpu: Cpu, a: readonly bigint[]) => HcallOutcome;

/** A note recorded for the last hypercall (read by the host side). */
export interface DispatchNote {
  /** Note text. */
  note?: string;
}

/**
 * Installs the EL2 vector handlers on the machine.
 *
 * @param hyp The hypervisor.
 * @param last Receives the note of each host hypercall.
 */
export function installVectors(hyp: Hyp, last: DispatchNote): void {
  const stub = hyp.image.symbols.__hyp_stub_vectors!;
  const init = hyp.image.symbols.__kvm_hyp_init!;
  const host = hyp.sym("__kvm_hyp_host_vector");
  const handlers = hostHandlers(hyp);
  hyp.machine.vectors.on(VECTOR.LOWER_A64_SYNC, (cpu: Cpu, _info: ExceptionInfo) => {
    if (hyp.panic) throw hyp.panic;
    const vbar = Number(cpu.sysreg("VBAR_EL2"));
    if (vbar === stub) stubHvc(hyp, cpu);
    else if (vbar === init) initHvc(hyp, cpu);
    else if (vbar === host) hostHvc(hyp, cpu, handlers, last);
    else {
      throw new HypPanicError("el2 vectors", `VBAR_EL2 = ${hex(vbar)} is not a vector table`);
    }
    eret(cpu, hyp.trace);
  });
}

/** `__hyp_stub_vectors`: set or reset VBAR_EL2 (the kernel's EL2 stub, MMU off). */
function stubHvc(hyp: Hyp, cpu: Cpu): void {
  const x0 = cpu.x(0);
  if (x0 === HVC_SET_VECTORS) {
    cpu.sysregs.write("VBAR_EL2", cpu.x(1));
    cpu.setX(0, 0n);
  } else if (x0 === HVC_RESET_VECTORS) {
    cpu.sysregs.write("VBAR_EL2", BigInt(hyp.image.symbols.__hyp_stub_vectors!));
    cpu.setX(0, 0n);
  } else {
    cpu.setX(0, HVC_STUB_ERR);
  }
}

/**
 * `__kvm_hyp_init` in the idmap page: stub calls below HVC_STUB_HCALL_NR,
 * `KVM_HOST_SMCCC_FUNC(__kvm_hyp_init)` runs `___kvm_hyp_init` with x1 = PA
 * of the params (read with the MMU off), anything else is NOT_SUPPORTED.
 */
function initHvc(hyp: Hyp, cpu: Cpu): void {
  const x0 = cpu.x(0);
  if (x0 < BigInt(hyp.release.hypercalls.stubHcallNr)) {
    handleStubHvc(hyp, cpu);
    return;
  }
  if (x0 !== BigInt(KVM_HOST_SMCCC_BASE)) {
    cpu.setX(0, asU64(-1));
    return;
  }
  kvmHypInit(hyp, cpu, Number(cpu.x(1)));
  cpu.setX(0, 0n);
}

/**
 * `__kvm_handle_stub_hvc` (hyp-init.S): HVC_SOFT_RESTART and
 * HVC_RESET_VECTORS turn the EL2 MMU off (`INIT_SCTLR_EL2_MMU_OFF`) and put
 * the hyp stub's vectors back (x0 = 0 for a reset); any other stub call is
 * HVC_STUB_ERR.
 *
 * @param hyp The hypervisor.
 * @param cpu The CPU.
 */
function handleStubHvc(hyp: Hyp, cpu: Cpu): void {
  const x0 = cpu.x(0);
  if (x0 === HVC_RESET_VECTORS || x0 === HVC_SOFT_RESTART) {
    cpu.msr("SCTLR_EL2", hyp.release.sysregs.sctlrMmuOff);
    hyp.caps.tlb.onSysregWrite(cpu, "SCTLR_EL2", cpu.sysreg("SCTLR_EL2"));
    // alternative_if ARM64_KVM_PROTECTED_MODE: back to HCR_HOST_NVHE_FLAGS
    // (up to 6.12), so the stub does not trap the host's SMCs.
    const hcr = hyp.release.hypercalls.stubResetHcr;
    if (hcr !== null) hyp.caps.tlb.onSysregWrite(cpu, "HCR_EL2", cpu.msr("HCR_EL2", hcr));
    cpu.sysregs.write("VBAR_EL2", BigInt(hyp.image.symbols.__hyp_stub_vectors!));
    cpu.setX(0, 0n);
  } else cpu.setX(0, HVC_STUB_ERR);
}

/**
 * `___kvm_hyp_init`: loads SP, MAIR, HCR — and with HCR_EL2.E2H (hVHE)
 * replays the EL2 setup for the E2H layouts ({@link kvmInitEl2StateHvhe}) —
 * then TPIDR, VTTBR, VTCR, TTBR0 (the params' pgd) and TCR (the params',
 * whose PS/IPS the host computed), `isb`, `tlbi alle2`, `dsb sy`, SCTLR_EL2
 * = INIT_SCTLR_EL2_MMU_ON, `isb`, and VBAR_EL2 = `__kvm_hyp_host_vector`.
 *
 * @param hyp The hypervisor.
 * @param cpu The CPU.
 * @param paramsPa PA of its `kvm_nvhe_init_params`.
 */
export function kvmHypInit(hyp: Hyp, cpu: Cpu, paramsPa: number): void {
  const mem = hyp.machine.memory;
  const field = (f: Parameters<typeof initParamsOffset>[1]) =>
    mem.read64(paramsPa + initParamsOffset(hyp.version, f)!);
  const tlb = hyp.caps.tlb;
  // MSRs as the CPU model executes them: bits of absent features read back as 0.
  const write = (reg: string, v: bigint) => {
    const stored = cpu.msr(reg, v);
    tlb.onSysregWrite(cpu, reg, stored);
  };
  cpu.spEl[2] = field("stack_hyp_va");
  write("MAIR_EL2", field("mair_el2"));
  write("HCR_EL2", field("hcr_el2"));
  // `cbz` on HCR_E2H in the value loaded (not in what the CPU kept).
  if ((field("hcr_el2") & HCR_E2H) !== 0n) kvmInitEl2StateHvhe(hyp, cpu, write);
  write("TPIDR_EL2", field("tpidr_el2"));
  write("VTTBR_EL2", field("vttbr"));
  // The params' 0 (no host stage-2 yet) reads back with bit 31 (RAO) set.
  write("VTCR_EL2", field("vtcr"));
  // phys_to_ttbr, then `orr x2, x2, #TTBR_CNP_BIT` under ARM64_HAS_CNP.
  write("TTBR0_EL2", field("pgd_pa") | (hasCnp(hyp) ? 1n : 0n));
  // PS is in the params already (the host caps PARange as tcr_compute_pa_size does).
  write("TCR_EL2", field("tcr_el2"));
  tlb.invalidate(cpu, "alle2");
  write("SCTLR_EL2", initSctlrEl2(hyp, cpu));
  write("VBAR_EL2", BigInt(hyp.sym("__kvm_hyp_host_vector")));
}

/**
 * `handle_host_hcall`: id = x0 − KVM_HOST_SMCCC_ID(0) (mainline first clears
 * the SMCCC hint bit, `ARM_SMCCC_CALL_HINTS`); out of range or an empty slot
 * gives x0 = SMCCC_RET_NOT_SUPPORTED; otherwise x0 = 0 and the handler's
 * result in x1. The host context (x0–x30) is restored on the way out
 * (`__host_enter`), with x0/x1 as set.
 */
function hostHvc(
  hyp: Hyp,
  cpu: Cpu,
  handlers: Map<number, Handler | "unmodelled">,
  last: DispatchNote,
): void {
  // The vector is fetched through the tables in use: it must be mapped executable.
  const entry = Number(cpu.sysreg("VBAR_EL2")) + VECTOR.LOWER_A64_SYNC;
  const fetch = hyp.caps.mmu.translate(cpu, entry, "exec");
  if (fetch.kind === "fault") {
    const p = new HypPanicError(
      "__kvm_hyp_host_vector",
      `fetching ${hex(entry)}: ${fetch.message}`,
    );
    hyp.panic = p;
    throw p;
  }
  // handle_trap() and its callees are C: their first frame goes below SP_EL2.
  const sp = Number(cpu.spEl[2]!);
  const frame = hyp.caps.mmu.translate(cpu, sp - 16, "write");
  if (frame.kind === "fault") {
    const p = new HypPanicError("handle_trap", `stack frame at ${hex(sp - 16)}: ${frame.message}`);
    hyp.panic = p;
    throw p;
  }
  delete last.note;
  // A stub call on the host vector: v5.13's __host_hvc hands it to
  // __kvm_handle_stub_hvc even in protected mode (tearing EL2 down on this
  // CPU); from 5.16 ("KVM: arm64: Reject stub hypercalls after pKVM has been
  // initialised") protected mode goes to handle_host_hcall, where the id is
  // out of range: NOT_SUPPORTED (below).
  if (
    cpu.x(0) < BigInt(hyp.release.hypercalls.stubHcallNr) &&
    hyp.release.hypercalls.stubAfterInit === "forward"
  ) {
    handleStubHvc(hyp, cpu);
    last.note = "forwarded to __kvm_handle_stub_hvc (v5.13 has no protected-mode check)";
    return;
  }
  const saved = cpu.xregs.slice();
  const hc = hyp.release.hypercalls;
  // 7.x hyp-main.c: `id &= ~ARM_SMCCC_CALL_HINTS` before the decode.
  const fn = hc.masksHint ? cpu.x(0) & ~ARM_SMCCC_CALL_HINTS : cpu.x(0);
  const id = BigInt.asUintN(64, fn - BigInt(KVM_HOST_SMCCC_BASE));
  let h = handlers.get(Number(BigInt.asUintN(32, id)));
  if (id > 0xffffn) h = undefined;
  // Once pKVM is initialised, the early ids below __pkvm_prot_finalize are
  // refused (5.16 on); 7.x also refuses pKVM-only ids before that.
  if (h !== undefined && hyp.protectedModeInitialized && hc.minAfterInit !== null) {
    if (id < BigInt(hc.ids[hc.minAfterInit]!)) {
      h = undefined;
      last.note = "refused: pKVM is finalised (kvm_protected_mode_initialized)";
    }
  }
  if (h !== undefined && !hyp.protectedModeInitialized && hc.maxBeforeInit !== null) {
    if (id >= BigInt(hc.ids[hc.maxBeforeInit]!)) {
      h = undefined;
      last.note = "refused: a pKVM-only hypercall before pKVM is finalised";
    }
  }
  let x0 = 0n;
  let x1 = saved[1]!;
  if (h === undefined) x0 = asU64(-1);
  else if (h === "unmodelled") {
    x0 = asU64(-1);
    last.note = "the kernel has this hypercall; hyplab does not model it";
  } else {
    const args = [1, 2, 3, 4, 5].map((i) => saved[i]!);
    const out = guarded(hyp, "handle_host_hcall", () => h(cpu, args));
    x1 = out.x1;
    if (out.note !== undefined) last.note = out.note;
  }
  // __host_enter: restore the host context with the results.
  cpu.xregs.set(saved);
  cpu.setX(0, x0);
  cpu.setX(1, x1);
}

const MASK48 = (1n << 48n) - 1n;

/** `HCR_E2H`, bit 34. */
const HCR_E2H = 1n << 34n;

/**
 * `__kvm_init_el2_state` as `___kvm_hyp_init` replays it under hVHE
 * (hyp-init.S, 6.12 and 7.2: `init_el2_state` then `finalise_el2_state`,
 * now that HCR_EL2.E2H = 1 gives CPTR_EL2 CPACR_EL1's layout and CNTHCTL_EL2
 * the VHE one), for the registers hyplab keeps: SCTLR_EL2 =
 * `INIT_SCTLR_EL2_MMU_OFF` (`__init_el2_sctlr`); CNTHCTL_EL2 = EL1PCTEN |
 * EL1PCEN, shifted by 10 for the E2H layout (`__init_el2_timers`);
 * VTTBR_EL2 = 0 (`__init_el2_stage2`); CPTR_EL2 = FPEN (`__init_el2_cptr`,
 * written as `cpacr_el1`), then ZEN with SVE and SMEN with SME
 * (`finalise_el2_state`, no ID override on these machines). SCTLR_EL2's
 * ENTP2 (SME) is set too, and overwritten by the MMU-on value right after.
 * The rest of the macros (HCRX, MDCR, GIC, HSTR, FGT, ZCR/SMCR) writes
 * registers hyplab does not keep.
 */
function kvmInitEl2StateHvhe(
  hyp: Hyp,
  cpu: Cpu,
  write: (reg: string, v: bigint) => void,
): void {
  const f = cpu.model.features;
  write("SCTLR_EL2", hyp.release.sysregs.sctlrMmuOff);
  cpu.sysregs.write("CNTHCTL_EL2", 3n << 10n);
  write("VTTBR_EL2", 0n);
  const FPEN = 3n << 20n;
  const ZEN = 3n << 16n;
  const SMEN = 3n << 24n;
  let cpacr = FPEN;
  write("CPTR_EL2", cpacr);
  if (f.sve) write("CPTR_EL2", cpacr |= ZEN);
  if (f.sme) {
    write("CPTR_EL2", cpacr |= SMEN);
    write("SCTLR_EL2", cpu.sysreg("SCTLR_EL2") | (1n << 60n)); // SCTLR_ELx_ENTP2
  }
}

/**
 * The `enum kvm_pgtable_prot` a handler's `DECLARE_REG` reads from a register,
 * reduced to what `hyp_set_prot_attr` acts on, as a hyplab prot number
 * (`KVM_PGTABLE_PROT` flags, SW0..3 at bits 23..26). Each profile reads its
 * own kernel's encoding:
 *
 * - v5.13: a 32-bit enum, X = 1, W = 2, R = 4, DEVICE = 8. Every other bit is
 *   ignored by the kernel, so it is dropped here rather than rejected.
 * - mainline: the 64-bit enum renumbered by 2608563b466b (v6.19): PX = 1,
 *   UX = 2, X = PX|UX, W = 4, R = 8, DEVICE = 16, NORMAL_NC = 32, SW0..3 =
 *   bits 55..58. Without hVHE (hyplab models nVHE only) `hyp_set_prot_attr`
 *   first clears UX (80cbfd7174f3, in the KVM pull for Linux 7.0; release
 *   UNVERIFIED), so only PX makes the mapping executable: R|UX maps
 *   read-only and XN, R|W|UX maps RW. NORMAL_NC and
 *   the other bits are ignored; SW0..3 go into the PTE. v5.13's numbers mean
 *   something else here: its PAGE_HYP_EXEC (0x5) is PX|W and its PAGE_HYP
 *   (0x6) UX|W, both without R (-EINVAL), and its PAGE_HYP_DEVICE (0xe) is
 *   R|W|UX, a Normal RW mapping.
 */
function hypProt(hyp: Hyp, prot: bigint): number {
  const { R, W, X, DEVICE } = KVM_PGTABLE_PROT;
  const rel = hyp.release.pgtable;
  const M = rel.prot;
  // hyp_set_prot_attr without ARM64_KVM_HVHE (7.x): `prot &= ~KVM_PGTABLE_PROT_UX`,
  // then `prot & KVM_PGTABLE_PROT_X` (PX|UX) is the execute test; before the
  // split X is one bit. Under hVHE UX stays; hyplab's X is EL2 execution,
  // i.e. PX (a UX-only prot maps non-executable at EL2 with UXN set too,
  // where 7.x would leave UXN clear: EL0 never runs in this regime here).
  const px = M.X & -M.X;
  const ux = M.X & ~px;
  const low = Number(prot & 0xffffn) & (hyp.config.hvhe ? ~0 : ~ux);
  let p = 0;
  if (low & M.R) p |= R;
  if (low & M.W) p |= W;
  if (low & (hyp.config.hvhe ? px : M.X)) p |= X;
  if (low & M.DEVICE) p |= DEVICE;
  // hyplab keeps SW0..3 at bits 23..26 (the descriptor's high half, shifted
  // down by 32); v5.13 has no software bits.
  return rel.swBits ? p | Number((prot >> 32n) & (0xfn << 23n)) : p;
}

/**
 * `kvm_pgtable_hyp_map` with the kernel's u64 arithmetic: prot read in the
 * profile's encoding ({@link hypProt}) and checked first (-EINVAL: no R, W
 * with X, X with DEVICE), then the walk range
 * `[ALIGN_DOWN(addr), PAGE_ALIGN(addr + size))` against 2^ia_bits (-ERANGE),
 * then the pgd (-EINVAL); an empty or wrapped range maps nothing and returns 0.
 */
function hypMapU64(hyp: Hyp, addr: bigint, size: bigint, phys: bigint, prot: bigint): number {
  const p = hypProt(hyp, prot);
  const { R, W, X, DEVICE } = KVM_PGTABLE_PROT;
  if (!(p & R) || ((p & X) && (p & W)) || ((p & X) && (p & DEVICE))) return ERRNO.EINVAL;
  // Under hVHE the kernel tests `prot & KVM_PGTABLE_PROT_X`, UX included.
  const M = hyp.release.pgtable.prot;
  const low = Number(prot & 0xffffn);
  if (hyp.config.hvhe && (low & M.X) && (low & (M.W | M.DEVICE))) return ERRNO.EINVAL;
  const a = addr & ~0xfffn;
  const end = BigInt.asUintN(64, a + size + 0xfffn) & ~0xfffn;
  const limit = 1n << BigInt(hyp.pgt?.iaBits ?? 0);
  if (a > limit || end > limit) return ERRNO.ERANGE;
  if (hyp.pgt === undefined) return ERRNO.EINVAL;
  if (end <= a) return 0;
  return hyp.pgt.map(Number(a), Number(end - a), Number(phys & MASK48), p);
}

/**
 * The hypercalls of the hyp's release that hyplab models (answered as the
 * release's `handle___*` would, `__kvm_hyp_init` by the init vector); the
 * release's other ids answer NOT_SUPPORTED with a note.
 *
 * @param hyp The hypervisor.
 * @returns Their names.
 */
export function modelledHypercalls(hyp: Hyp): string[] {
  const handlers = hostHandlers(hyp);
  return Object.entries(hypercallIds(hyp.version))
    .filter(([name, id]) => name === "__kvm_hyp_init" || typeof handlers.get(id) === "function")
    .map(([name]) => name);
}

function hostHandlers(hyp: Hyp): Map<number, Handler | "unmodelled"> {
  const ids = hypercallIds(hyp.version);
  const m = new Map<number, Handler | "unmodelled">();
  for (const id of Object.values(ids)) m.set(id, "unmodelled");
  // __kvm_hyp_init is served by the init vector only: its slot is empty here.
  m.delete(ids.__kvm_hyp_init!);
  const perCpu = (cpu: Cpu) => hypPerCpuBase(hyp, cpu, hyp.sym("kvm_arm_hyp_percpu_base"), cpu.id);

  m.set(ids.__pkvm_init!, (cpu, a) => {
    // 7.x dropped nr_cpus (the host sets hyp_nr_cpus itself): 4 arguments.
    const withNr = hyp.release.setup.initTakesNrCpus;
    const r = pkvmInit(hyp, cpu, {
      phys: a[0]!,
      size: a[1]!,
      nrCpus: withNr ? a[2]! : BigInt(hyp.nrCpus),
      perCpuBase: withNr ? a[3]! : a[2]!,
      hypVaBits: withNr ? a[4]! : a[3]!,
    });
    return r.note === undefined ? { x1: asU64(r.ret) } : { x1: asU64(r.ret), note: r.note };
  });

  if (ids.__pkvm_create_mappings !== undefined) {
    m.set(ids.__pkvm_create_mappings, (_cpu, a) => {
      const warns = hyp.pgt?.warnCount ?? 0;
      const err = hypMapU64(hyp, a[0]!, a[1]!, a[2]!, a[3]!);
      if (err === 0) recordMapping(hyp, a[0]!, a[1]!, a[2]!, a[3]!, "__pkvm_create_mappings");
      const warned = (hyp.pgt?.warnCount ?? 0) > warns;
      return warned
        ? { x1: asU64(err), note: "WARN: a different valid entry was kept (v5.13 remap)" }
        : { x1: asU64(err) };
    });
  }

  m.set(ids.__pkvm_create_private_mapping!, (_cpu, a) => privateMapping(hyp, a));

  m.set(ids.__pkvm_cpu_set_vector!, (cpu, a) => {
    // pkvm_cpu_set_vector (nvhe/mm.c) only stores to this CPU's kvm_hyp_vector
    // (this_cpu_ptr): once __kvm_hyp_init has run on the CPU that works on the
    // host-built tables too, so it needs no __pkvm_init. Before __pkvm_init,
    // __hyp_bp_vect_base is still NULL (slots 2 and 3 store an offset from 0).
    // DECLARE_REG(enum arm64_hyp_spectre_vector, slot, ...): a 32-bit enum, so
    // only the low word of x1 is the slot.
    const slot = BigInt.asUintN(32, a[0]!);
    return { x1: asU64(pkvmCpuSetVector(hyp, cpu, slot, perCpu(cpu))) };
  });

  m.set(ids.__pkvm_prot_finalize!, (cpu) => protFinalize(hyp, cpu, perCpu(cpu)));

  // handle___kvm_get_mdcr_el2 → __kvm_get_mdcr_el2() (nvhe/debug-sr.c):
  // read_sysreg(mdcr_el2), as init_el2_state left it. Gone in 7.x.
  if (ids.__kvm_get_mdcr_el2 !== undefined) {
    m.set(ids.__kvm_get_mdcr_el2, (cpu) => ({ x1: cpu.sysreg("MDCR_EL2") }));
  }

  m.set(ids.__vgic_v3_get_gic_config!, (cpu) => vgicV3GetGicConfig(hyp, cpu));

  // handle___kvm_enable_ssbs: SCTLR_EL2.DSSBS (bit 44) set; x1 is left alone.
  m.set(ids.__kvm_enable_ssbs!, (cpu, a) => {
    const v = cpu.msr("SCTLR_EL2", cpu.sysreg("SCTLR_EL2") | SCTLR_ELX_DSSBS);
    hyp.caps.tlb.onSysregWrite(cpu, "SCTLR_EL2", v);
    return { x1: a[0]! };
  });

  if (ids.__pkvm_mark_hyp !== undefined) {
    m.set(ids.__pkvm_mark_hyp, (_cpu, a) => markHyp(hyp, a[0]!, a[1]!));
  }
  return m;
}

function recordMapping(
  hyp: Hyp,
  start: bigint,
  size: bigint,
  phys: bigint,
  prot: bigint,
  what: string,
): void {
  const a = start & ~0xfffn;
  const end = BigInt.asUintN(64, a + size + 0xfffn) & ~0xfffn;
  if (end <= a) return;
  hyp.expected.push({
    va: Number(a),
    pa: Number(phys & MASK48 & ~0xfffn),
    size: Number(end - a),
    prot: hypProt(hyp, prot),
    what,
    step: 7,
  });
}

/**
 * `__pkvm_create_private_mapping` with u64 arithmetic. v5.13: x1 = address
 * or ERR_PTR; -ENOMEM past `__hyp_vmemmap` undoes the base, a map error does
 * not. Mainline: the same policy through `pkvm_alloc_private_va_range`.
 *
 * Before `__pkvm_init` (hyp_create_idmap) both `__io_map_base` and
 * `__hyp_vmemmap` are 0 (bss), and the same code gives the kernel's answers:
 * v5.13 (nvhe/mm.c) returns ERR_PTR(-ENOMEM) for any size that page-rounds
 * above 0 (the base passes `__hyp_vmemmap` and is restored), and for an
 * empty one reaches `kvm_pgtable_hyp_map` on the zeroed `pkvm_pgtable`
 * (-EINVAL: a bad prot, or the NULL pgd); mainline's
 * `__pkvm_alloc_private_va_range` refuses the 0 start with -EINVAL.
 */
function privateMapping(hyp: Hyp, a: readonly bigint[]): HcallOutcome {
  const [phys, size, prot] = [a[0]!, a[1]!, a[2]!];
  // A zero base (before __pkvm_init, or one a wrapped size brought back to
  // 0): 6.1's pkvm_alloc_private_va_range() says -ENOMEM, 6.2+'s
  // __pkvm_alloc_private_va_range() -EINVAL; v5.13 does not check.
  const zero = hyp.release.setup.privateVaAtZero;
  if (zero !== "allowed" && hyp.ioMapBase === 0) {
    return { x1: asU64(zero === "einval" ? ERRNO.EINVAL : ERRNO.ENOMEM) };
  }
  const off = phys & 0xfffn;
  const sz = BigInt.asUintN(64, size + off + 0xfffn) & ~0xfffn;
  const addr = BigInt(hyp.ioMapBase);
  const next = BigInt.asUintN(64, addr + sz);
  if (next > BigInt(hyp.hypVmemmap)) return { x1: asU64(ERRNO.ENOMEM) };
  hyp.ioMapBase = Number(next);
  const wrapped = next < addr
    ? "kernel behaviour: the size wrapped and __io_map_base moved backwards"
    : undefined;
  const err = hypMapU64(hyp, addr, sz, phys, prot);
  if (err !== 0) {
    // An empty range moved nothing (before __pkvm_init only: the NULL pgd).
    if (sz === 0n) return { x1: asU64(err) };
    // sz may be close to 2^64 here (a wrapped size): format it as the u64 it is.
    return {
      x1: asU64(err),
      note: wrapped !== undefined
        ? `${wrapped}, and stays there after the map error`
        : `kernel behaviour: __io_map_base stays advanced by ${hex(sz)} after the map error`,
    };
  }
  recordMapping(hyp, addr, sz, phys, prot, "__pkvm_create_private_mapping");
  return wrapped !== undefined ? { x1: addr + off, note: wrapped } : { x1: addr + off };
}

/**
 * `__pkvm_prot_finalize` (nvhe/mem_protect.c): this CPU's params get the host
 * stage-2 VTTBR and VTCR and HCR_EL2.VM, which are then loaded. Mainline
 * refuses a second call with -EPERM. The host stage-2 table itself (its
 * contents, host aborts) is not modelled.
 *
 * Before `__pkvm_init` the kernel has no check: `host_kvm` (v5.13) /
 * `host_mmu` (mainline) is still zero, so it loads VTTBR 0 (a stage-2 at PA
 * 0, VMID 0) and VTCR 0 and sets HCR_EL2.VM. With `config.guards` (as for
 * `__pkvm_init`) the simulator refuses that call with -EPERM instead.
 */
function protFinalize(hyp: Hyp, cpu: Cpu, perCpu: number): HcallOutcome {
  if (hyp.hostStage2 === undefined && hyp.config.guards) {
    return {
      x1: asU64(ERRNO.EPERM),
      note:
        "simulator guard: before __pkvm_init the kernel would enable a stage-2 at PA 0 (host_kvm is still zero)",
    };
  }
  const mem = hyp.mem(cpu);
  const params = perCpu + hyp.image.percpuOffsets.kvm_init_params!;
  const hcrAt = params + initParamsOffset(hyp.version, "hcr_el2")!;
  const hcr = mem.read64(hcrAt);
  // From 5.16 a second __pkvm_prot_finalize on a CPU is -EPERM.
  if (hyp.release.hypercalls.minAfterInit !== null && (hcr & HCR_VM) !== 0n) {
    return { x1: asU64(ERRNO.EPERM) };
  }
  // kvm_get_vttbr(): pgd | VMID 0 | CnP under ARM64_HAS_CNP
  // (kvm_phys_to_vttbr(): under LPA2 BADDR[51:48] go to bits 5:2).
  const pgd = BigInt(hyp.hostStage2?.pgd ?? 0);
  const baddr = hyp.config.lpa2 ? (pgd & MASK48) | ((pgd >> 48n) << 2n) : pgd;
  const vttbr = baddr | (hasCnp(hyp) ? 1n : 0n);
  const vtcr = hyp.hostStage2?.vtcr ?? 0n;
  // 7.x: HCR_FWB with ARM64_HAS_STAGE2_FWB.
  const fwb = hyp.release.setup.protFinalizeFwb && cpu.model.features.s2fwb ? HCR_FWB : 0n;
  mem.write64(params + initParamsOffset(hyp.version, "vttbr")!, vttbr);
  mem.write64(params + initParamsOffset(hyp.version, "vtcr")!, vtcr);
  mem.write64(hcrAt, hcr | HCR_VM | fwb);
  cpu.msr("HCR_EL2", hcr | HCR_VM | fwb);
  cpu.msr("VTTBR_EL2", vttbr);
  cpu.msr("VTCR_EL2", vtcr);
  hyp.protFinalized.add(cpu.id);
  return { x1: 0n };
}

/** `SCTLR_ELx_DSSBS`: the SSBS value taken on an exception to EL2. */
const SCTLR_ELX_DSSBS = 1n << 44n;

/** HCR_EL2.AMO | FMO | IMO: the interrupt overrides ICC_SRE_EL1.SRE = 0 needs. */
const HCR_XMO = (1n << 5n) | (1n << 4n) | (1n << 3n);

/** QEMU 7.2's ICC_SRE_EL1: SRE, DFB, DIB RAO/WI (`ARM_CP_CONST` 0x7, arm_gicv3_cpuif.c). */
const QEMU_ICC_SRE_EL1 = 0x7n;

/**
 * `__vgic_v3_get_gic_config()` (vgic-v3-sr.c): with the interrupt overrides
 * set, try to clear ICC_SRE_EL1.SRE; if it stays set there is no
 * GICv2-compatible MMIO CPU interface (bit 63 clear), else bit 63 is set.
 * The low 32 bits are ICH_VTR_EL2. QEMU's SRE bits are RAO/WI, so bit 63
 * is always clear there. 7.2 first returns ICH_VTR_EL2 alone on a GICv5
 * (ARM64_HAS_GICV5_CPUIF), which QEMU 7.2 does not emulate.
 *
 * Without a GICv3 CPU interface (`gic-version=2`) the first `mrs` of
 * ICC_SRE_EL1 is UNDEFINED at EL2: the hyp panics.
 */
function vgicV3GetGicConfig(hyp: Hyp, cpu: Cpu): HcallOutcome {
  if (cpu.model.gicVersion < 3) {
    const p = new HypPanicError(
      "__vgic_v3_get_gic_config",
      `mrs ICC_SRE_EL1 on CPU ${cpu.id}: UNDEFINED, the machine has a GICv2 (no GICv3 CPU interface)`,
    );
    hyp.panic = p;
    throw p;
  }
  const tlb = hyp.caps.tlb;
  const hcr = cpu.sysreg("HCR_EL2");
  // sysreg_clear_set(hcr_el2, 0, HCR_AMO | HCR_FMO | HCR_IMO); isb
  tlb.onSysregWrite(cpu, "HCR_EL2", cpu.msr("HCR_EL2", hcr | HCR_XMO));
  // write_gicreg(0, ICC_SRE_EL1); isb; val = read_gicreg(ICC_SRE_EL1): RAO/WI.
  const sre = QEMU_ICC_SRE_EL1;
  // write_gicreg(sre, ICC_SRE_EL1); sysreg_clear_set(hcr_el2, xMO, 0); isb
  tlb.onSysregWrite(cpu, "HCR_EL2", cpu.msr("HCR_EL2", cpu.sysreg("HCR_EL2") & ~HCR_XMO));
  const vtr = ichVtrEl2(cpu.model);
  const val = ((sre & 1n) !== 0n ? 0n : 1n << 63n) | vtr;
  return {
    x1: val,
    note: `ICH_VTR_EL2 = ${hex(vtr)}: ${Number(vtr & 0x1fn) + 1} list registers (nr_lr); ` +
      `ICC_SRE_EL1.SRE stays set, so no GICv2-compatible CPU interface (bit 63 clear)`,
  };
}

/**
 * v5.13 `__pkvm_mark_hyp(start, end)`: -EINVAL unless `range_is_memory`:
 * `start` and `end - 1` (u64) fall in the same `hyp_memory[]` region. This is
 * the v5.13.12 stable fix facee1be7689 ("Fix off-by-one in range_is_memory");
 * v5.13 itself tested `end`, refusing every range that ends where its region
 * does (the hyp pool, carved at the top of memory). `end <= start` inside a
 * region passes the check and changes nothing (the walk range is empty). The
 * ownership change in the host stage-2 is recorded, not built.
 */
function markHyp(hyp: Hyp, start: bigint, end: bigint): HcallOutcome {
  const last = BigInt.asUintN(64, end - 1n);
  const inside = hyp.hypMemory.some((r) => {
    const [lo, hi] = [BigInt(r.base), BigInt(r.base + r.size)];
    return start >= lo && start < hi && last >= lo && last < hi;
  });
  if (!inside) return { x1: asU64(ERRNO.EINVAL) };
  if (end > start) hyp.markedHyp.push({ base: Number(start), size: Number(end - start) });
  return { x1: 0n };
}

/**
 * `INIT_SCTLR_EL2_MMU_ON` as `___kvm_hyp_init` writes it: the release's value,
 * plus EnIA|EnIB|EnDA|EnDB (bits 31, 30, 27, 13) when the CPU has address
 * authentication and the kernel uses it (`ARM64_HAS_ADDRESS_AUTH`), and BT
 * (bit 36) with `CONFIG_ARM64_BTI_KERNEL` on a BTI CPU.
 *
 * @param hyp The hypervisor.
 * @param cpu The CPU.
 * @returns The value written (the CPU keeps the bits it implements).
 */
function initSctlrEl2(hyp: Hyp, cpu: Cpu): bigint {
  const rel = hyp.release;
  let v = rel.sysregs.sctlrMmuOn;
  const pa = cpu.model.features.pauth;
  if (rel.config.ptrAuthKernel && pa.address) {
    v |= (1n << 31n) | (1n << 30n) | (1n << 27n) | (1n << 13n);
  }
  if (rel.config.btiKernel && cpu.model.features.bti) v |= 1n << 36n;
  return v;
}
