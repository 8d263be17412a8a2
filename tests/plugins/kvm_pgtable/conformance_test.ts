import { kvmPgtableConformance } from "../../../core/conformance/kvm_pgtable.ts";
import { kvmPgtableFactory } from "../../../plugins/kvm_pgtable/mod.ts";

Deno.test("kvm_pgtable v5.13 passes the KVM_PGTABLE conformance suite", (t) =>
  kvmPgtableConformance(kvmPgtableFactory({ version: "v5.13" }), t));

Deno.test("kvm_pgtable mainline passes the KVM_PGTABLE conformance suite", (t) =>
  kvmPgtableConformance(kvmPgtableFactory({ version: "mainline" }), t));
