/**
 * The shape of a kernel release model (see `releases.ts`).
 *
 * @module
 */

/** How the kernel enters a routine. */
export interface KernelEntry {
  /** SCTLR_EL2.M at entry. */
  readonly mmu: "on" | "off";
  /** One sentence: who calls it, and why the MMU is as stated (kernel function and release). */
  readonly how: string;
  /** What each argument register holds. */
  readonly args?: Readonly<Record<number, EntryArg>>;
  /** Reached by an exception from EL1 (an HVC): SPSR_EL2/ELR_EL2 describe the caller. */
  readonly fromEl1?: boolean;
  /** Byte offset into the routine (a vector table's entry). */
  readonly offset?: number;
}

/**
 * What an argument register holds at entry: `pgd` (PA of the new tables),
 * `params` (PA of `struct kvm_nvhe_init_params`), `stack` (new-table stack
 * VA), `fn` (new-table continuation VA), `pa` (another physical address),
 * `value` (a number).
 */
export type EntryArg = "pgd" | "params" | "stack" | "fn" | "pa" | "value";

/**
 * What the A64 checker knows of one release: its header models, Kconfig
 * values and how the kernel enters each routine of hyp-init.S (the
 * release's other facts are `KernelRelease` of the releases plugin).
 */
export interface A64ReleaseModels {
  /** `v6.1`, `v6.12`, `v7.2`. */
  readonly name: string;
  /** Which sources the models follow. */
  readonly description: string;
  /** `CONFIG_*` values (`y`, `n`, or a value). */
  readonly config: Readonly<Record<string, string>>;
  /** Predefined preprocessor macros. */
  readonly defines: Readonly<Record<string, string>>;
  /** Constants for `#NAME` operands and gas expressions. */
  readonly symbols: Readonly<Record<string, bigint>>;
  /** Header name (as in `#include <...>`) → model text. */
  readonly headers: Readonly<Record<string, string>>;
  /** External entry points of hyp-init.S → how the kernel enters them. */
  readonly entries: Readonly<Record<string, readonly KernelEntry[]>>;
  /** Assumptions that hold for this kernel's code (overridable). */
  readonly assume: Readonly<Record<string, boolean>>;
}
