import { assertThrows } from "@std/assert";
import { createMachine, PluginError, profile } from "../../../mod.ts";

Deno.test("a reserved_mem of another release than the pKVM is refused at setup, naming both", () => {
  for (
    const [prof, other] of [["v5.13", "mainline"], ["mainline", "v5.13"]] as const
  ) {
    assertThrows(
      () => createMachine({ cpus: 1, plugins: profile(prof, { reservedMem: other }) }),
      PluginError,
      `reserved_mem "reserved_mem_${
        other.replace(".", "_")
      }" follows ${other}'s kvm_hyp_reserve, but this pKVM boots as ${prof}`,
    );
  }
});
