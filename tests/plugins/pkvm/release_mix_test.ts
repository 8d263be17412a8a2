import { assertEquals, assertThrows } from "@std/assert";
import { createMachine, PKVM, PluginError, profile, RESERVED_MEM } from "../../../mod.ts";

const RELEASES = ["v5.13", "v6.1", "v6.12", "v7.2"] as const;

Deno.test("a reserved_mem of another release than the pKVM is refused at setup, naming both", () => {
  for (const prof of RELEASES) {
    for (const other of RELEASES) {
      if (other === prof) continue;
      assertThrows(
        () => createMachine({ cpus: 1, plugins: profile(prof, { reservedMem: other }) }),
        PluginError,
        `reserved_mem "reserved_mem_${
          other.replaceAll(".", "_")
        }" follows ${other}'s kvm_hyp_reserve, but this pKVM boots as ${prof}: `,
      );
    }
  }
  // mainline is the alias of v7.2: the message says which release it is.
  assertThrows(
    () => createMachine({ cpus: 1, plugins: profile("mainline", { reservedMem: "v6.12" }) }),
    PluginError,
    `follows v6.12's kvm_hyp_reserve, but this pKVM boots as mainline (v7.2): ` +
      `the host and the hypervisor size and divide the pool with one release's terms, ` +
      `so choose a v7.2 reserved_mem`,
  );
});

Deno.test("mainline and v7.2 name one release: either reserved_mem fits either pKVM", () => {
  for (
    const [prof, other] of [["mainline", "v7.2"], ["v7.2", "mainline"], [
      "mainline",
      "mainline",
    ]] as const
  ) {
    const m = createMachine({ cpus: 1, plugins: profile(prof, { reservedMem: other }) });
    assertEquals(m.get(RESERVED_MEM).version, "v7.2", `${prof} with ${other}`);
    assertEquals(m.get(PKVM).version, prof);
  }
});
