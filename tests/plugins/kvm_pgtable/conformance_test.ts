import { assertRejects } from "@std/assert";
import {
  type KvmPgtableFactory,
  PAGE_HYP,
  PAGE_HYP_DEVICE,
  PAGE_HYP_RO,
} from "../../../core/mod.ts";
import { ConformanceError } from "../../../core/conformance/mod.ts";
import { kvmPgtableConformance } from "../../../core/conformance/kvm_pgtable.ts";
import { kvmPgtableFactory } from "../../../plugins/kvm_pgtable/mod.ts";

Deno.test("kvm_pgtable v5.13 passes the KVM_PGTABLE conformance suite", (t) =>
  kvmPgtableConformance(kvmPgtableFactory({ version: "v5.13" }), t));

Deno.test("kvm_pgtable mainline passes the KVM_PGTABLE conformance suite", (t) =>
  kvmPgtableConformance(kvmPgtableFactory({ version: "mainline" }), t));

/** The v5.13 factory with `map` seeing another prot than it was given. */
function remapping(name: string, prot: (p: number) => number): KvmPgtableFactory {
  const inner = kvmPgtableFactory({ version: "v5.13" });
  return {
    name,
    version: inner.version,
    hypInit(o) {
      const t = inner.hypInit(o);
      if (typeof t === "number") return t;
      return new Proxy(t, {
        get(target, key) {
          if (key === "map") {
            return (a: number, s: number, p: number, pr: number) => target.map(a, s, p, prot(pr));
          }
          const v = Reflect.get(target, key, target);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
    },
  };
}

Deno.test("the suite fails tables that map PAGE_HYP_RO writable or PAGE_HYP_DEVICE as Normal", async () => {
  await assertRejects(
    () => kvmPgtableConformance(remapping("ro_as_rw", (p) => p === PAGE_HYP_RO ? PAGE_HYP : p)),
    ConformanceError,
    "AP[2] (read-only) of the PAGE_HYP_RO block",
  );
  await assertRejects(
    () =>
      kvmPgtableConformance(
        remapping("device_as_normal", (p) => p === PAGE_HYP_DEVICE ? PAGE_HYP : p),
      ),
    ConformanceError,
    "AttrIndx of a PAGE_HYP_DEVICE page (MT_DEVICE_nGnRE in v5.13)",
  );
});
