/**
 * Boots the default machine and prints it (placeholder until the pKVM boot lands).
 *
 * @module
 */
import { createMachine, formatSize, hex } from "../mod.ts";

const m = createMachine();
for (const b of m.memory.banks) {
  console.log(`RAM bank ${hex(b.base)} + ${formatSize(b.size)}`);
}
console.log(
  `${m.cpus.length} CPUs at EL${m.cpus[0]!.pstate.el}, SCTLR_EL2 ${
    hex(m.cpus[0]!.sysreg("SCTLR_EL2"))
  }`,
);
