/**
 * The A64 executor plugin: a parser for the EL2 system subset of A64 in the
 * kernel's own spelling, an executor that runs it on a CPU through the MMU
 * and TLB with pending system-register writes and maintenance, the barrier
 * hazard checker (rules R1–R18, documented in `rules.ts`) and mutation mode.
 *
 * @example Check the v3 tail Will Deacon reviewed
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { check } from "./mod.ts";
 * const r = check("msr sctlr_el2, x2\nic iallu\nisb\nret x1", { abi: "params" });
 * assertEquals(r.verdict, "fail");
 * ```
 *
 * @module
 */

export * from "./assembler.ts";
export * from "./checker.ts";
export * from "./config.ts";
export * from "./cpp.ts";
export * from "./decode.ts";
export * from "./e2h.ts";
export * from "./errors.ts";
export * from "./executor.ts";
export * from "./gas.ts";
export * from "./kernel/entries.ts";
export * from "./kernel/releases.ts";
export * from "./kernel/source_tree.ts";
export * from "./liveness.ts";
export * from "./macros.ts";
export * from "./parse.ts";
export * from "./program.ts";
export * from "./routines.ts";
export * from "./rules.ts";
export * from "./run.ts";
export * from "./symbols.ts";
export * from "./sysregs.ts";
export * from "./tlb_account.ts";
export * from "./listing.ts";
export * from "./mutation.ts";
export * from "./plugin.ts";
