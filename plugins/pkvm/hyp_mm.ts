/**
 * EL2 memory management (`arch/arm64/kvm/hyp/nvhe/mm.c`): the mapping
 * helpers `recreate_hyp_mappings` and the hypercalls use.
 *
 * @module
 */

import {
  type Cpu,
  ERRNO,
  type KvmPgtable,
  type MapPagesResult,
  type MemblockRegion,
  PAGE_HYP,
  PAGE_HYP_EXEC,
  WALK,
} from "../../core/mod.ts";
import { asU64 } from "./hypercall_ids.ts";
import { getOrder } from "./kernel_image.ts";
import type { FixmapSlot, Hyp } from "./hyp_state.ts";

const PAGE = 4096;
/** `__BP_HARDEN_HYP_VECS_SZ`: three 2 KiB vector slots. */
export const BP_HARDEN_HYP_VECS_SZ = 3 * 0x800;
/**
 * `NVHE_STACK_SIZE`: one page (`NVHE_STACK_SHIFT` = `PAGE_SHIFT` in
 * asm/memory.h of the ≈ v6.16 tree; other releases not checked).
 */
export const NVHE_STACK_SIZE = PAGE;

const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;
const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;

function record(
  hyp: Hyp,
  va: number,
  pa: number,
  size: number,
  prot: number,
  what: string,
  pages = false,
): void {
  if (size === 0) return;
  const e = { va, pa, size, prot, what, step: hyp.step };
  hyp.expected.push(pages ? { ...e, pages } : e);
}

/**
 * `__pkvm_create_mappings(start, size, phys, prot)`: one `kvm_pgtable_hyp_map`
 * under `pkvm_pgd_lock`; may use blocks.
 *
 * @param hyp The hypervisor.
 * @param start Hyp VA.
 * @param size Bytes.
 * @param phys PA.
 * @param prot Kernel prot.
 * @param what Label for the expected-mapping record (none: not recorded).
 * @returns 0 or a negative errno.
 */
export function pkvmCreateMappingsRaw(
  hyp: Hyp,
  start: number,
  size: number,
  phys: number,
  prot: number,
  what?: string,
): number {
  const err = hyp.pgt!.map(start, size, phys, prot);
  if (err === 0 && what !== undefined) {
    const va = alignDown(start, PAGE);
    const end = alignUp(start + size, PAGE);
    record(hyp, va, alignDown(phys, PAGE), end - va, prot, what);
  }
  return err;
}

/**
 * `pkvm_create_mappings(from, to, prot)`: the linear alias of
 * `[from, to)`, one page per `kvm_pgtable_hyp_map` call (so always level 3),
 * phys = `hyp_virt_to_phys(va)`.
 *
 * @param hyp The hypervisor.
 * @param from First hyp VA.
 * @param to End hyp VA.
 * @param prot Kernel prot.
 * @param what Label.
 * @returns 0 or the first error.
 */
export function pkvmCreateMappings(
  hyp: Hyp,
  from: number,
  to: number,
  prot: number,
  what: string,
): number {
  const start = alignDown(from, PAGE);
  const end = alignUp(to, PAGE);
  const pgt = hyp.pgt!;
  const pages = (end - start) / PAGE;
  // hyp_virt_to_phys is one offset over the linear map: the loop's calls
  // are map(start + i * PAGE, PAGE, pa(start) + i * PAGE), which mapPages
  // makes as one walk where the table offers it.
  const pa0 = hyp.pa(start);
  if (pgt.mapPages !== undefined && pages > 0 && hyp.pa(end - PAGE) === pa0 + (pages - 1) * PAGE) {
    const err = pgt.mapPages(start, pages, pa0, prot).err;
    if (err !== 0) return err;
  } else {
    for (let va = start; va < end; va += PAGE) {
      const err = pgt.map(va, PAGE, hyp.pa(va), prot);
      if (err !== 0) return err;
    }
  }
  record(hyp, start, hyp.pa(start), end - start, prot, what, true);
  return 0;
}

/**
 * `pages` one-page `kvm_pgtable_hyp_map` calls in order, stopping at the
 * first error (a table without {@link KvmPgtable.mapPages}).
 *
 * @param pgt The table.
 * @param va First VA.
 * @param pages Pages.
 * @param pa First PA.
 * @param prot Kernel prot.
 * @returns Pages mapped, and 0 or the failing page's errno.
 */
export function mapEach(
  pgt: KvmPgtable,
  va: number,
  pages: number,
  pa: number,
  prot: number,
): MapPagesResult {
  for (let i = 0; i < pages; i++) {
    const err = pgt.map(va + i * PAGE, PAGE, pa + i * PAGE, prot);
    if (err !== 0) return { mapped: i, err };
  }
  return { mapped: pages, err: 0 };
}

/**
 * `__pkvm_create_private_mapping(phys, size, prot)`, v5.13: takes VA from
 * `__io_map_base` upward; past `__hyp_vmemmap` the add is undone and
 * ERR_PTR(-ENOMEM) returned; a map error returns ERR_PTR(err) *without*
 * undoing the base; success returns addr + offset_in_page(phys).
 * Mainline (`pkvm_alloc_private_va_range` + `__pkvm_create_mappings`) has the
 * same VA policy but returns the errno, leaves the base on a map error too,
 * and the hypercall turns an error into ERR_PTR.
 *
 * @param hyp The hypervisor.
 * @param phys PA.
 * @param size Bytes.
 * @param prot Kernel prot.
 * @param what Label.
 * @returns The hyp VA, or an ERR_PTR value, as the 64-bit value x1 carries.
 */
export function pkvmCreatePrivateMapping(
  hyp: Hyp,
  phys: number,
  size: number,
  prot: number,
  what = "private",
): bigint {
  const offset = phys % PAGE;
  const sz = alignUp(size + offset, PAGE);
  // 6.1's pkvm_alloc_private_va_range() aligns the range to the order of its
  // size; v5.13 and 6.2+ take __io_map_base as it is.
  const addr = hyp.release.setup.privateVaAligned
    ? alignUp(hyp.ioMapBase, PAGE * 2 ** getOrder(sz))
    : hyp.ioMapBase;
  if (addr + sz > hyp.hypVmemmap) return asU64(ERRNO.ENOMEM);
  hyp.ioMapBase = addr + sz;
  const err = pkvmCreateMappingsRaw(hyp, addr, sz, phys, prot, what);
  if (err !== 0) return asU64(err);
  return BigInt(addr + offset);
}

/**
 * `hyp_vmemmap_range(phys, size)`: the page-aligned vmemmap VA range
 * describing `[phys, phys + size)`, with `sizeof(struct hyp_page)` taken
 * from the page allocator in use (its metadata bytes per page).
 *
 * @param hyp The hypervisor.
 * @param phys First PA.
 * @param size Bytes.
 * @returns `[start, end)` hyp VAs.
 */
export function hypVmemmapRange(hyp: Hyp, phys: number, size: number): [number, number] {
  const bytes = hyp.caps.pages.metadataBytesPerPage;
  const s = hyp.hypVmemmap + Math.floor(phys / PAGE) * bytes;
  const e = s + Math.floor(size / PAGE) * bytes;
  return [alignDown(s, PAGE), alignUp(e, PAGE)];
}

/**
 * The vmemmap pages `divide_memory_pool` carves: v5.13 the range of the pool
 * itself, mainline the sum over `hyp_memory[]` (`hyp_vmemmap_pages`, a shared
 * boundary page counted twice).
 *
 * @param hyp The hypervisor.
 * @param pool The pool.
 * @returns Pages.
 */
export function hypVmemmapPages(hyp: Hyp, pool: { base: number; size: number }): number {
  return vmemmapPagesFor(
    hyp.release.setup.backVmemmap,
    hyp.caps.pages.metadataBytesPerPage,
    hyp.hypMemory,
    pool,
  );
}

/**
 * {@link hypVmemmapPages} without a hypervisor, for the host's forecast at
 * step 1: the count does not depend on where the vmemmap sits, as
 * `__hyp_vmemmap` is page aligned.
 *
 * @param backVmemmap What the release backs: the pool's range or all of `hyp_memory[]`.
 * @param bytesPerPage `sizeof(struct hyp_page)` of the allocator in use.
 * @param regions `hyp_memory[]`.
 * @param pool The pool.
 * @returns Pages.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { vmemmapPagesFor } from "./hyp_mm.ts";
 * const ram = [{ base: 0x4000_0000, size: 2 ** 32 }];
 * assertEquals(vmemmapPagesFor("memory", 4, ram, { base: 0x1_3ea0_0000, size: 0x160_0000 }), 1024);
 * assertEquals(vmemmapPagesFor("pool", 32, ram, { base: 0x1_3ea0_0000, size: 0x160_0000 }), 44);
 * ```
 */
export function vmemmapPagesFor(
  backVmemmap: "pool" | "memory",
  bytesPerPage: number,
  regions: readonly { base: number; size: number }[],
  pool: { base: number; size: number },
): number {
  const pages = (phys: number, size: number) => {
    const s = Math.floor(phys / PAGE) * bytesPerPage;
    const e = s + Math.floor(size / PAGE) * bytesPerPage;
    return (alignUp(e, PAGE) - alignDown(s, PAGE)) / PAGE;
  };
  if (backVmemmap === "pool") return pages(pool.base, pool.size);
  let n = 0;
  for (const r of regions) n += pages(r.base, r.size);
  return n;
}

/**
 * `hyp_back_vmemmap`: v5.13 `(phys, size, back)` maps the pool's vmemmap VA
 * range onto `back`; mainline `(back)` does it for every `hyp_memory[]`
 * region, skips a page the previous region already backed, and zeroes each
 * range.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code (for the zeroing stores).
 * @param phys Pool PA (v5.13).
 * @param size Pool size (v5.13).
 * @param back PA of the vmemmap pages (`hyp_virt_to_phys(vmemmap_base)`).
 * @returns 0 or a negative errno.
 */
export function hypBackVmemmap(
  hyp: Hyp,
  cpu: Cpu,
  phys: number,
  size: number,
  back: number,
): number {
  if (hyp.release.setup.backVmemmap === "pool") {
    const [s, e] = hypVmemmapRange(hyp, phys, size);
    return pkvmCreateMappingsRaw(hyp, s, e - s, back, PAGE_HYP, "vmemmap");
  }
  let end = 0;
  let b = back;
  for (const r of hyp.hypMemory) {
    const [s0, e] = hypVmemmapRange(hyp, r.base, r.size);
    const s = Math.max(s0, end);
    end = e;
    if (s >= e) continue;
    const err = pkvmCreateMappingsRaw(hyp, s, e - s, b, PAGE_HYP, "vmemmap");
    if (err !== 0) return err;
    hyp.mem(cpu).zero(hyp.va(b), e - s);
    b += e - s;
  }
  return 0;
}

/**
 * `hyp_create_idmap(hyp_va_bits)`: the idmap page(s) VA == PA, EXEC, and
 * `__io_map_base` / `__hyp_vmemmap` in the quarter of the VA space the idmap
 * does not use.
 *
 * @param hyp The hypervisor.
 * @param hypVaBits `hyp_va_bits`.
 * @returns 0 or a negative errno.
 */
export function hypCreateIdmap(hyp: Hyp, hypVaBits: number): number {
  const start = alignDown(hyp.image.symbols.__hyp_idmap_text_start!, PAGE);
  const end = alignUp(hyp.image.symbols.__hyp_idmap_text_end!, PAGE);
  const q = 2 ** (hypVaBits - 2);
  hyp.ioMapBase = Math.floor(start / q) % 2 === 1 ? 0 : q;
  hyp.hypVmemmap = hyp.ioMapBase + 2 ** (hypVaBits - 3);
  return pkvmCreateMappingsRaw(hyp, start, end - start, start, PAGE_HYP_EXEC, "idmap");
}

/**
 * `hyp_map_vectors`: v5.13 maps `__bp_harden_hyp_vecs` privately (EXEC)
 * only with ARM64_SPECTRE_V3A; mainline uses the vectors in place unless
 * idmapped vectors are needed (the same condition here).
 *
 * @param hyp The hypervisor.
 * @returns 0 or a negative errno.
 */
export function hypMapVectors(hyp: Hyp): number {
  if (!hyp.config.spectreV3a) {
    // v5.13 leaves __hyp_bp_vect_base NULL; from 5.16 it is the vectors themselves.
    if (hyp.release.setup.bpVectBaseDefault) hyp.bpVectBase = hyp.sym("__bp_harden_hyp_vecs");
    return 0;
  }
  const phys = hyp.image.symbols.__bp_harden_hyp_vecs!;
  const r = pkvmCreatePrivateMapping(hyp, phys, BP_HARDEN_HYP_VECS_SZ, PAGE_HYP_EXEC, "vectors");
  const signed = BigInt.asIntN(64, r);
  if (signed < 0n && signed >= -4095n) return Number(signed);
  hyp.bpVectBase = Number(r);
  return 0;
}

/**
 * `pkvm_cpu_set_vector(slot)`: slot 0 `__kvm_hyp_vector`, 1
 * `__bp_harden_hyp_vecs`, 2 and 3 `__hyp_bp_vect_base`, else -EINVAL; the
 * address (base + 2 KiB × (slot − 1) for slots ≠ 0) goes in the per-CPU
 * `kvm_hyp_vector`.
 *
 * @param hyp The hypervisor.
 * @param cpu The calling CPU.
 * @param slot `enum arm64_hyp_spectre_vector`.
 * @param perCpuBase This CPU's per-CPU region (hyp VA).
 * @returns 0 or -EINVAL.
 */
export function pkvmCpuSetVector(hyp: Hyp, cpu: Cpu, slot: bigint, perCpuBase: number): number {
  let base: number | undefined;
  if (slot === 0n) base = hyp.sym("__kvm_hyp_vector");
  else if (slot === 1n) base = hyp.sym("__bp_harden_hyp_vecs");
  else if (slot === 2n || slot === 3n) base = hyp.bpVectBase;
  else return ERRNO.EINVAL;
  // A NULL __hyp_bp_vect_base (no Spectre-v3a) is stored as computed, as the kernel does.
  const b = base ?? 0;
  const addr = slot === 0n ? b : b + 0x800 * (Number(slot) - 1);
  hyp.mem(cpu).write64(perCpuBase + hyp.image.percpuOffsets.kvm_hyp_vector!, BigInt(addr));
  return 0;
}

/**
 * Mainline `pkvm_alloc_private_va_range(size, &haddr)` on an aligned start
 * (`__pkvm_alloc_private_va_range`): -EINVAL for 0 or a start below the
 * base, -ENOMEM past `__hyp_vmemmap`.
 *
 * @param hyp The hypervisor.
 * @param start First VA wanted.
 * @param size Bytes.
 * @returns 0 or a negative errno.
 */
export function allocPrivateVaRangeAt(hyp: Hyp, start: number, size: number): number {
  if (start === 0 || start < hyp.ioMapBase) return ERRNO.EINVAL;
  const cur = start + alignUp(size, PAGE);
  if (cur > hyp.hypVmemmap) return ERRNO.ENOMEM;
  hyp.ioMapBase = cur;
  return 0;
}

/**
 * Mainline `pkvm_create_stack(phys, &haddr)`: a 2 × NVHE_STACK_SIZE private
 * range aligned to its size; the upper half maps the stack, the lower half
 * stays an unmapped guard; the stack top is the range's end.
 *
 * @param hyp The hypervisor.
 * @param phys Stack page PA.
 * @param what Label.
 * @returns The error (0 on success) and the stack top.
 */
export function pkvmCreateStack(
  hyp: Hyp,
  phys: number,
  what: string,
): { err: number; top: number } {
  const prev = hyp.ioMapBase;
  const size = NVHE_STACK_SIZE * 2;
  const addr = alignUp(hyp.ioMapBase, size);
  let err = allocPrivateVaRangeAt(hyp, addr, size);
  if (err === 0) {
    err = pkvmCreateMappingsRaw(hyp, addr + NVHE_STACK_SIZE, NVHE_STACK_SIZE, phys, PAGE_HYP, what);
    if (err !== 0) hyp.ioMapBase = prev;
  }
  return { err, top: addr + size };
}

/** `PMD_SIZE` with 4 KiB pages. */
export const PMD_SIZE = 2 * 1024 * 1024;

/** `kvm_granule_size(level)` with 4 KiB pages. */
function granuleSize(level: number): number {
  return 2 ** (12 + 9 * (3 - level));
}

/**
 * Mainline `create_fixmap_slot` / `create_fixblock`'s walk with
 * `__create_fixmap_slot_cb` (nvhe/mm.c, ≈ v6.16): the one leaf covering
 * `[addr, addr + size)` must be valid and exactly one granule of its level
 * (else -EINVAL); the slot remembers its VA and PTE, then
 * `fixmap_clear_slot` clears the PTE's valid bit, keeping the output address
 * and attributes and the table page's reference (so the page is never freed
 * and the PTE can be rewritten without allocating), and invalidates the VA
 * (`tlbi vale2is`, `dsb ish`, `isb`).
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param addr Slot VA.
 * @param size `PAGE_SIZE` (fixmap) or `PMD_SIZE` (fixblock).
 * @returns The slot, or -EINVAL (or a walk error).
 */
function createFixmapSlot(hyp: Hyp, cpu: Cpu, addr: number, size: number): FixmapSlot | number {
  let slot: FixmapSlot | undefined;
  const ret = hyp.pgt!.walk(addr, size, {
    flags: WALK.LEAF,
    cb: (v) => {
      if ((v.pte & 1n) === 0n || size !== granuleSize(v.level)) return ERRNO.EINVAL;
      slot = { addr: v.addr, ptep: v.ptep, level: v.level };
      hyp.mem(cpu).write64(hyp.va(v.ptep), v.pte & ~1n);
      // fixmap_clear_slot: __tlbi_level(vale2is, addr, slot->level).
      hyp.caps.tlb.invalidate(cpu, "vale2is", v.addr, v.level as 1 | 2 | 3);
      return 0;
    },
  });
  if (ret !== 0) return ret;
  return slot ?? ERRNO.EINVAL;
}

/**
 * Mainline `create_fixblock`'s search (nvhe/mm.c, ≈ v6.16): the first
 * `hyp_memory[]` region whose PMD-aligned base plus `PMD_SIZE` lies strictly
 * below its end (`phys + PMD_SIZE < base + size`: a region that ends exactly
 * at the chunk's end does not qualify).
 *
 * @param regions `hyp_memory[]`.
 * @returns The chunk's PA, or undefined (the kernel's -EINVAL).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fixblockPhys } from "./hyp_mm.ts";
 * assertEquals(fixblockPhys([{ base: 0x4010_0000, size: 0x40_0000 }]), 0x4020_0000);
 * assertEquals(fixblockPhys([{ base: 0x4000_0000, size: 0x20_0000 }]), undefined);
 * ```
 */
export function fixblockPhys(regions: readonly MemblockRegion[]): number | undefined {
  for (const r of regions) {
    const phys = alignUp(r.base, PMD_SIZE);
    if (phys + PMD_SIZE < r.base + r.size) return phys;
  }
  return undefined;
}

/**
 * Mainline `create_fixblock` (nvhe/mm.c, ≈ v6.16): a PMD-aligned 2 MiB
 * private VA range mapped PAGE_HYP onto the first PMD-aligned RAM chunk
 * ({@link fixblockPhys}; none: -EINVAL), then made a slot: a level-2 block
 * PTE with its valid bit clear.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param regions `hyp_memory[]` (default: the hypervisor's).
 * @returns 0 or a negative errno.
 */
export function createFixblock(
  hyp: Hyp,
  cpu: Cpu,
  regions: readonly MemblockRegion[] = hyp.hypMemory,
): number {
  const phys = fixblockPhys(regions);
  if (phys === undefined) return ERRNO.EINVAL;
  const addr = alignUp(hyp.ioMapBase, PMD_SIZE);
  let ret = allocPrivateVaRangeAt(hyp, addr, PMD_SIZE);
  if (ret !== 0) return ret;
  ret = hyp.pgt!.map(addr, PMD_SIZE, phys, PAGE_HYP);
  if (ret !== 0) return ret;
  const slot = createFixmapSlot(hyp, cpu, addr, PMD_SIZE);
  if (typeof slot === "number") return slot;
  hyp.fixblockSlot = slot;
  return 0;
}

/**
 * `hyp_create_fixmap` (nvhe/mm.c, 7.x; 6.12's `hyp_create_pcpu_fixmap` is
 * the same without the fixblock), run by `__pkvm_init_finalise` after
 * `fix_hyp_pgtable_refcnt`: for each of
 * `hyp_nr_cpus` CPUs, one private page (`pkvm_alloc_private_va_range`, no
 * alignment) mapped PAGE_HYP onto `__hyp_pa(__hyp_bss_start)` and made that
 * CPU's fixmap slot (a level-3 PTE with its valid bit clear, the table
 * page's reference kept); then {@link createFixblock}.
 *
 * @param hyp The hypervisor.
 * @param cpu CPU running the code.
 * @param fixblock Also create the PMD fixblock (`create_fixblock()`, 7.x).
 * @returns 0 or the first error.
 */
export function hypCreateFixmap(hyp: Hyp, cpu: Cpu, fixblock = true): number {
  const bss = hyp.image.symbols.__hyp_bss_start!;
  for (let i = 0; i < hyp.nrCpus; i++) {
    const addr = hyp.ioMapBase;
    let ret = allocPrivateVaRangeAt(hyp, addr, PAGE);
    if (ret !== 0) return ret;
    ret = hyp.pgt!.map(addr, PAGE, bss, PAGE_HYP);
    if (ret !== 0) return ret;
    const slot = createFixmapSlot(hyp, cpu, addr, PAGE);
    if (typeof slot === "number") return slot;
    hyp.fixmapSlots[i] = slot;
  }
  // 6.12's hyp_create_pcpu_fixmap() stops here; 7.x adds the fixblock.
  return fixblock ? createFixblock(hyp, cpu) : 0;
}
