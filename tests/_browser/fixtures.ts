/**
 * Inputs of the browser test and of `deno task screenshots`: a recorded
 * real-kernel observation, and a copy of it edited by hand so that hyplab's
 * prediction disagrees in a register field, a reserve figure, the table page
 * count, one mapping's attributes and one mapping's presence — what an
 * oracle diff page with differences looks like.
 *
 * @module
 */

/** The recorded observation the pages start from. */
export const OBSERVATION = new URL(
  "../fixtures/oracle/observations/v6.1-neoverse-n1-3G-2cpu.json",
  import.meta.url,
).pathname;

/**
 * The recorded observation with five fields changed by hand.
 *
 * @param text The recorded observation's JSON.
 * @returns The edited observation's JSON.
 */
export function editedObservation(text: string): string {
  const o = JSON.parse(text);
  const obs = o.observed;
  // TCR_EL2.PS (bits 18:16) one step up.
  obs.sysregs.TCR_EL2 = `0x${(BigInt(obs.sysregs.TCR_EL2) + (1n << 16n)).toString(16)}`;
  // The pool 2 MiB higher.
  obs.reserve.base = `0x${(BigInt(obs.reserve.base) + 0x20_0000n).toString(16)}`;
  obs.el2.table_pages += 1;
  // A stack page with PXN set (bit 53), and the vmemmap mapping gone.
  const stack = obs.el2.mappings.find((m: { va: string }) => m.va.startsWith("0x4000000"));
  const i = obs.el2.mappings.indexOf(stack);
  const m = obs.el2.mappings[i + 1];
  m.attr = `0x${(BigInt(m.attr) | (1n << 53n)).toString(16)}`;
  const vmemmap = obs.el2.mappings.findIndex((x: { va: string }) => x.va.startsWith("0x6000"));
  obs.el2.mappings.splice(vmemmap, 1);
  o.provenance.kernel_package +=
    " (edited by hand: TCR_EL2.PS, reserve.base, table_pages, one attr, vmemmap removed)";
  return JSON.stringify(o, null, 2) + "\n";
}
