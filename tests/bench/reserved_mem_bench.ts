import type { Memblock } from "../../core/mod.ts";
import {
  cloneMemblock,
  kvmHypReserve,
  memblockAddRange,
  memblockFromRam,
  sizingProfile,
} from "../../plugins/reserved_mem/mod.ts";

const MiB = 2 ** 20;

// 128 memory regions (the most hyp_memory[] takes), 256 MiB each with 2 MiB
// holes, plus a kernel image and 64 scattered reservations the top-down
// search has to step around.
const MANY: Memblock = { memory: [], reserved: [] };
for (let i = 0; i < 128; i++) {
  memblockAddRange(MANY.memory, 0x4000_0000 + i * 258 * MiB, 256 * MiB);
}
memblockAddRange(MANY.reserved, 0x4020_0000, 32 * MiB);
for (let i = 0; i < 64; i++) {
  memblockAddRange(MANY.reserved, 0x4000_0000 + (127 - i) * 258 * MiB + 100 * MiB, 160 * MiB);
}
const ONE = memblockFromRam([{ base: 0x4000_0000, size: 2 ** 32 }]);
// Worst case: 128 regions of 16 MiB, none big enough, so both tries scan
// every free range and fail.
const NO_ROOM: Memblock = { memory: [], reserved: [] };
for (let i = 0; i < 128; i++) {
  memblockAddRange(NO_ROOM.memory, 0x4000_0000 + i * 18 * MiB, 16 * MiB);
  memblockAddRange(NO_ROOM.reserved, 0x4000_0000 + i * 18 * MiB + 8 * MiB, 4096);
}

for (const version of ["v5.13", "mainline"] as const) {
  const profile = sizingProfile(version);
  // Each run reserves, so it works on a fresh copy (the copy is part of the figure).
  Deno.bench({
    group: `kvm_hyp_reserve ${version}`,
    name: `kvm_hyp_reserve, 128 regions + 65 reservations (${version})`,
    baseline: true,
    fn: () => {
      const r = kvmHypReserve(cloneMemblock(MANY), profile);
      if (!r.ok) throw new Error("bench layout must reserve");
    },
  });
  Deno.bench({
    group: `kvm_hyp_reserve ${version}`,
    name: `kvm_hyp_reserve, 128 regions, no room: full scans (${version})`,
    fn: () => {
      const r = kvmHypReserve(cloneMemblock(NO_ROOM), profile);
      if (r.ok) throw new Error("bench layout must not fit");
    },
  });
  Deno.bench({
    group: `kvm_hyp_reserve ${version}`,
    name: `kvm_hyp_reserve, one 4 GiB bank (${version})`,
    fn: () => {
      kvmHypReserve(cloneMemblock(ONE), profile);
    },
  });
}
