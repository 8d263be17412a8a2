/**
 * The rules the checker applies to code that turns the EL2 MMU off, points
 * TTBR0_EL2 at other tables and turns the MMU back on (nVHE: HCR_EL2.E2H =
 * 0, so no ASID or VMID tells EL2 translations apart). Each finding names
 * one of them. Citations are to the Arm Architecture Reference Manual for
 * A-profile (DDI 0487) by section title, and to Linux commits and
 * functions with the release they are in.
 *
 * Severity: a rule fails (exit 1) when its hazard is architectural. It warns
 * (exit 0) where the hazard depends on something the model assumes but the
 * architecture does not state (R6), on one PE's view only (R11), on an
 * erratum whose reach is uncertain (R14 with the MMU off), or where the
 * architecture gives the write no effect (R18). R13 and R14 apply only
 * with their erratum configured.
 *
 * ## R1 SCTLR-CSE
 * After `msr sctlr_el2`, nothing that depends on the new M, C or I value
 * may come before a context synchronisation event (an ISB, an exception
 * entry or an exception return): no load or store, no cache or TLB
 * maintenance, no instruction-cache invalidation meant for the new regime,
 * no branch to an address that is only valid in one of the two regimes,
 * and the text may not end or branch away with the write pending.
 *
 * Why: SCTLR_EL2 is not self-synchronising. The Arm ARM ("Synchronization
 * requirements for AArch64 System registers") guarantees a direct write to
 * affect only instructions after a context synchronisation event; until
 * then the PE may run any later instruction under either value, so where M
 * changes in the instruction stream is not known.
 *
 * Example: `msr sctlr_el2, x2; ic iallu; isb` (the tail of the v3 posting
 * of `__pkvm_init_switch_pgd`, March 2021) fails: the invalidation may run
 * before M=1 takes effect, and PoC-sourced fetches can refill the I-cache
 * afterwards. `set_sctlr_el2 x2` (`msr; isb; ic iallu; dsb nsh; isb`,
 * 8f4de66e247b, v5.13) passes.
 *
 * ## R2 IDMAP
 * Code that changes SCTLR_EL2.M runs from a page mapped VA == PA, and
 * mapped so in both the tables in use before and after the change.
 *
 * Why: the instruction after the one that makes the change is fetched from
 * the same PC value, now in the other regime; only an identity mapping
 * makes that the same memory. Linux keeps this code in `.hyp.idmap.text`
 * and maps it VA == PA in the hypervisor's tables (`hyp_create_idmap`,
 * arch/arm64/kvm/hyp/nvhe/mm.c).
 *
 * Example: any MMU enable fails with `--assume code-idmapped=false`; run on
 * a machine whose new tables map the code page elsewhere, the executor
 * stops at the fetch and reports R2.
 *
 * ## R3 TTBR-CSE
 * A TTBR0_EL2 write (and a TCR_EL2 or MAIR_EL2 write) is synchronised by an
 * ISB before the `msr` that sets M=1, and before anything relies on the
 * new tables (a branch to a new-table VA).
 *
 * Why: direct writes to different system registers are not ordered with
 * each other until a context synchronisation event. With the TTBR0_EL2 and
 * SCTLR_EL2 writes both pending, M=1 can take effect first, and the first
 * walks then use the old base and fill the TLB from the old tables.
 *
 * Example: `__pkvm_init_switch_pgd` of v6.1 writes TTBR0_EL2 and goes
 * straight into `set_sctlr_el2` (fails R3, and R4); 040113fa32f2 ("KVM:
 * arm64: Add missing memory barriers when switching to pKVM's hyp pgd",
 * v6.8) adds `dsb nsh; isb` before it, and v6.12 passes.
 *
 * ## R4 TLBI-DSB(-ISB)
 * A TLBI is complete only after a DSB, executed by the same PE, whose
 * shareability domain covers it; without FEAT_ETS, instructions fetched
 * before that completion need a context synchronisation event after it. So
 * before M=1 the TLBI is complete, and by the first translated access a
 * context synchronisation event follows the DSB. That event may be the ISB
 * that synchronises the MMU enable itself, when the MMU is off from the
 * DSB up to that ISB: nothing before it is translated, and everything after
 * it is fetched and translated after the invalidation completed.
 *
 * Why: the Arm ARM ("Ordering and completion of TLB maintenance
 * instructions") makes the DSB the only completion guarantee, and requires
 * the ISB so that instructions already fetched with the old translations
 * are fetched again; FEAT_ETS removes that second requirement. With M=0 no
 * instruction is fetched through a translation, so there is nothing stale
 * to discard before the enable's own ISB.
 *
 * Example: v6.1's `tlbi alle2; ...; set_sctlr_el2 x2` fails (no DSB before
 * M=1). The order `isb; dsb nsh; set_sctlr_el2` (the DSB after the ISB,
 * both before the MMU enable) passes, as does `___kvm_hyp_init`'s `tlbi
 * alle2; tlbi alle1; dsb sy; mov_q x0, ...; msr sctlr_el2, x0; isb`. With
 * the MMU on, `tlbi alle2; dsb nsh; ret` fails: the ISB is needed.
 *
 * ## R5 TLBI-AFTER-OFF
 * The EL2 TLB is invalidated after the last point at which the old tables
 * could be walked — after the M=0 write and its ISB — and before M=1.
 *
 * Why: at nVHE EL2 no ASID or VMID separates the old translations from the
 * new ones, so an entry filled from the old tables would hit after the
 * switch; while M may be 1, the PE may fill entries at any moment (see R7),
 * and a TLBI issued then does not cover later fills. TLB maintenance is
 * performed with the MMU off too (Arm ARM, "TLB maintenance").
 *
 * Example: mainline with its `tlbi alle2` moved before the MMU-off ISB
 * fails.
 *
 * ## R6 NO-ALLOC-OFF (warn)
 * An order that invalidates the TLB and then writes TTBR0_EL2, both with
 * M=0 (the order of `__pkvm_init_switch_pgd`), relies on the PE not
 * allocating EL2 stage 1 TLB entries while M is 0.
 *
 * Why: the checker assumes it (`alloc-when-off`, default false) because the
 * architecture describes no stage 1 walks with stage 1 translation
 * disabled, but states no rule that forbids such allocation outright. With
 * the assumption off, entries from the old tables filled between the TLBI
 * and the switch would survive. `___kvm_hyp_init` uses the other order
 * (TTBR; ISB; TLBI), which does not rely on it.
 *
 * Example: mainline warns with `--assume alloc-when-off=true`.
 *
 * ## R7 SPEC-MMU-ON
 * TTBR0_EL2 is not switched while the MMU may be on.
 *
 * Why: while M is 1 the PE may walk the tables and fill the TLB
 * speculatively at any time, from whichever base is in force; switching
 * the base under a running MMU mixes old and new translations for the code
 * that is running. Linux switches its own EL1 tables with the MMU on only
 * through a reserved empty table and a TLBI (break-before-make,
 * `__idmap_cpu_set_reserved_ttbr1`, arch/arm64/mm/proc.S).
 *
 * Example: `tlbi alle2; dsb nsh; isb; msr ttbr0_el2, x5; isb` with the MMU
 * on fails.
 *
 * ## R8 MMU-OFF-ATTRS
 * Data loaded with M=0 is clean to the point of coherency.
 *
 * Why: with stage 1 translation disabled, data accesses are Device-nGnRnE
 * (Arm ARM, "Behavior when stage 1 address translation is disabled") and
 * do not look up the data caches; a value written with the caches on may
 * still be only in a cache. Linux cleans the init params before EL2 reads
 * them with the MMU off (`kvm_flush_dcache_to_poc` in
 * `cpu_prepare_hyp_mode`, arch/arm64/kvm/arm.c). The checker assumes it
 * (`data-clean-to-poc`, default true).
 *
 * Example: v5.13's two loads at M=0 fail with `--assume
 * data-clean-to-poc=false`, and pass with a `dc civac` and `dsb` on the
 * address first.
 *
 * ## R9 IC-AFTER-ON
 * If code may have been patched at the point of unification without a
 * clean to the point of coherency, then after M=1 and its ISB the sequence
 * runs `ic iallu; dsb; isb` before it runs that code.
 *
 * Why: with the MMU off, instruction fetches go to the PoC and may still
 * be held in the instruction cache; a stale, unpatched copy fetched then
 * can hit once fetches are cacheable. An invalidation issued before the
 * MMU-on ISB can be undone by further PoC fetches. This is why
 * `set_sctlr_el2` carries its `ic iallu` (f32c7a8e4510, "arm64: kpti:
 * ensure patched kernel text is fetched from PoU"). The checker assumes
 * such patching (`code-patched-at-pou`, default true); the release models
 * turn it off for hyp-init.S, whose only patching is by alternatives, which
 * Linux cleans to the PoC (`clean_dcache_range_nopatch` in
 * `__apply_alternatives`, arch/arm64/kernel/alternative.c, v6.1 to v7.2).
 *
 * Example: an MMU enable of `msr sctlr_el2, x3; isb` followed by `ret`
 * fails; with `ic iallu; dsb nsh; isb` after the ISB it passes.
 *
 * ## R10 IC-DSB-ISB
 * An instruction-cache invalidation completes only at a following DSB,
 * and the instructions already fetched are discarded only by an ISB after
 * that DSB.
 *
 * Why: like a TLBI, an IC is only guaranteed complete by a DSB; an ISB
 * without it may refetch before the invalidation finishes, and without the
 * ISB, instructions already in the pipeline may be stale.
 *
 * Example: v3's `ic iallu; isb` fails (no DSB); `ic iallu; dsb nsh; isb`
 * passes.
 *
 * ## R11 DSB-SCOPE
 * The DSB that completes maintenance covers its scope: local operations
 * (`tlbi alle2`, `ic iallu`) complete for this PE under DSB NSH; broadcast
 * operations (`tlbi alle2is`, `ic ialluis`, `ic ivau`) need DSB ISH or
 * wider for the other PEs.
 *
 * Why: a DSB only waits for the maintenance it covers in its own
 * shareability domain. On the single-PE path the checker assumes by default,
 * a broadcast operation under DSB NSH warns (complete for this PE, not
 * for the others); with `--assume multi-pe=true` a local operation fails,
 * since the other PEs keep stale entries.
 *
 * Example: mainline with `tlbi alle2is` and `dsb nsh` warns; with `dsb
 * ish` it passes.
 *
 * ## R12 CNP
 * TTBR0_EL2.CnP is 1 only when every PE that may share TLB entries uses the
 * same tables.
 *
 * Why: with CnP the PEs of an inner shareable domain may share TLB entries;
 * different tables give TLB conflicts or CONSTRAINED UNPREDICTABLE
 * translation. On some CPUs a local TLBI misses entries another core
 * installed (NVIDIA Carmel, HiSilicon Hip09): Linux sets
 * ARM64_WORKAROUND_DISABLE_CNP there, so `alternative_if ARM64_HAS_CNP`
 * leaves CnP clear.
 *
 * Example: mainline with CnP set fails under `--assume
 * cnp-other-pes-diff-tables=true`; with `--feature cnp --assume
 * cnp-local-tlbi-broken=true` the alternative is not applied and it passes.
 *
 * ## R13 E1041
 * On Qualcomm Falkor (erratum E1041, `--erratum falkor-e1041`), an ISB
 * immediately precedes the `msr` that takes M from 1 to 0.
 *
 * Why: without it the CPU may fetch speculatively from an improper location
 * as the MMU goes off (Kconfig help of QCOM_FALKOR_ERRATUM_E1041). Linux's
 * `pre_disable_mmu_workaround` emits that ISB.
 *
 * Example: mainline without its leading `pre_disable_mmu_workaround` fails
 * with the erratum and passes without it.
 *
 * ## R14 TX2-219
 * On Cavium ThunderX2 (erratum 219, `--erratum tx2-219`), no load or store
 * comes between a TTBR write and its context synchronisation event.
 *
 * Why: such an access may take a spurious Data Abort (Kconfig help of
 * CAVIUM_TX2_ERRATUM_219). Whether it applies with the MMU off is not
 * documented: there it warns.
 *
 * Example: v5.13's second load, between the TTBR0_EL2 write and its ISB
 * at M=0, warns.
 *
 * ## R15 SP-ORDER
 * The stack is not used — no access through SP or a copy of it, no
 * exception taken — while SP holds an address of another address space than
 * the one in force (a new-table VA while the MMU is off, for instance).
 *
 * Why: `mov sp, x1` only moves a number; an access through it is
 * translated in the regime in force, so at M=0 a new-table VA is used as a
 * PA (Device memory): corruption or an alignment fault. An exception taken
 * in that window pushes to the same wrong place.
 *
 * Example: mainline with `stp x29, x30, [sp, #-16]!` right after `mov sp,
 * x1` fails; after the MMU enable it passes.
 *
 * ## R16 PT-VISIBLE
 * Stores to the translation tables are completed by a DSB before M=1.
 *
 * Why: the table walker is a separate observer; a store it must see has to
 * be complete first, which only a DSB guarantees.
 *
 * Example: a store between the TTBR synchronisation and the MMU enable with
 * no DSB after it fails.
 *
 * ## R17 LEAVE
 * The code leaves by a branch (`ret`, `br`, `eret`, or a branch out of the
 * text); it does not run off the end of its text.
 *
 * Why: the hand-over is where R1, R3, R4, R9 and R10 are checked; after
 * the last instruction, whatever follows it in memory executes, which is
 * not part of what was checked. A truncated file must not pass.
 *
 * Example: the built-in `set_sctlr` (the bare macro with its preparation)
 * fails R17 and nothing else; with `ret x2` added it passes.
 *
 * ## R18 SCTLR-RES1 (warn)
 * A value the code builds for SCTLR_EL2 keeps the bits that are RES1 while
 * HCR_EL2.E2H is 0 (4, 5, 11, 16, 18, 22, 23, 28, 29) set. A value read
 * from SCTLR_EL2 and modified answers only for the bits the code clears:
 * writing back what the register held is the concern of the code that put
 * it there.
 *
 * Why: every one of those bits has a function when E2H is 1, and the Arm
 * ARM's definition of a bit that is RES1 only in some contexts gives it no
 * effect on the PE while it is RES1, other than the value read back; so
 * clearing it is no hazard, but software is expected to write 1. Two of
 * them are more than that with FEAT_ExS: bit 22 (EIS) and bit 11 (EOS)
 * then decide whether taking an exception to EL2 and returning from it are
 * context synchronisation events, which the checker takes them to be.
 * The CPU model stores such a write as written, as QEMU does. v7.2's
 * INIT_SCTLR_EL2_MMU_OFF (0) and INIT_SCTLR_EL2_MMU_ON (which sets EIS and
 * EOS explicitly) leave the others clear: its SCTLR_EL2 is described in
 * arch/arm64/tools/sysreg with the E2H = 1 layout, so SCTLR_EL2_RES1 is 0.
 *
 * Example: `mov x3, #1; msr sctlr_el2, x3` warns; `mov_q x3,
 * INIT_SCTLR_EL2_MMU_ON` (v6.12's value) passes.
 *
 * @module
 */

/** One rule. */
export interface BarrierRule {
  /** `R1` ... `R18`. */
  readonly id: string;
  /** Short name. */
  readonly name: string;
  /** What it requires, in one sentence. */
  readonly requirement: string;
  /** `fail`, `warn`, or `erratum` (fails or warns only with the erratum configured). */
  readonly severity: "fail" | "warn" | "erratum";
}

/**
 * Every rule, by id (the module documentation has each one's statement,
 * reason and example).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BARRIER_RULES } from "./mod.ts";
 * assertEquals(BARRIER_RULES.R3!.name, "TTBR-CSE");
 * assertEquals(Object.keys(BARRIER_RULES).length, 18);
 * ```
 */
export const BARRIER_RULES: Readonly<Record<string, BarrierRule>> = Object.fromEntries(
  ([
    [
      "R1",
      "SCTLR-CSE",
      "Anything that depends on a new SCTLR_EL2.M/C/I value follows a CSE.",
      "fail",
    ],
    [
      "R2",
      "IDMAP",
      "Code that toggles M runs at VA == PA, mapped that way in old and new tables.",
      "fail",
    ],
    [
      "R3",
      "TTBR-CSE",
      "The TTBR0_EL2 (and TCR/MAIR) write is synchronised by an ISB before M=1.",
      "fail",
    ],
    [
      "R4",
      "TLBI-DSB(-ISB)",
      "A TLBI completes with a DSB, and without FEAT_ETS a CSE follows it before translation (the MMU enable's own ISB when the MMU is off).",
      "fail",
    ],
    [
      "R5",
      "TLBI-AFTER-OFF",
      "The EL2 TLB is invalidated after the MMU-off ISB and before M=1.",
      "fail",
    ],
    [
      "R6",
      "NO-ALLOC-OFF",
      "The TLBI-then-TTBR order assumes no EL2 TLB allocation at M=0.",
      "warn",
    ],
    ["R7", "SPEC-MMU-ON", "TTBR0_EL2 is not switched while the MMU may be on.", "fail"],
    ["R8", "MMU-OFF-ATTRS", "Data loaded at M=0 (Device, uncached) is clean to the PoC.", "fail"],
    [
      "R9",
      "IC-AFTER-ON",
      "After M=1 and its ISB, ic iallu; dsb; isb before running patched code.",
      "fail",
    ],
    [
      "R10",
      "IC-DSB-ISB",
      "An IC completes at a DSB and is seen by fetch after a later ISB.",
      "fail",
    ],
    [
      "R11",
      "DSB-SCOPE",
      "The DSB domain covers the maintenance scope (NSH for local ops).",
      "warn",
    ],
    ["R12", "CNP", "CnP=1 only when every PE sharing the TLB uses the same tables.", "fail"],
    [
      "R13",
      "E1041",
      "Falkor: an ISB immediately before the msr that takes M from 1 to 0.",
      "erratum",
    ],
    ["R14", "TX2-219", "ThunderX2: no load/store between a TTBR write and its CSE.", "erratum"],
    [
      "R15",
      "SP-ORDER",
      "No stack use until the stack's address space is the one in force.",
      "fail",
    ],
    [
      "R16",
      "PT-VISIBLE",
      "Table writes are made visible to the walker by a DSB before M=1.",
      "fail",
    ],
    [
      "R17",
      "LEAVE",
      "The code leaves by a branch; it does not run off the end of its text.",
      "fail",
    ],
    [
      "R18",
      "SCTLR-RES1",
      "SCTLR_EL2 values keep the bits that are RES1 while HCR_EL2.E2H = 0 set.",
      "warn",
    ],
  ] as const).map(([id, name, requirement, severity]) => [id, { id, name, requirement, severity }]),
);
