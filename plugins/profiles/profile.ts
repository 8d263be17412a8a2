/**
 * Profiles: a named set of variants, one per capability, that boots as a
 * given kernel did — `v5.13` (the default) and `mainline` — with any single
 * capability overridable by variant name or by a plugin of one's own.
 *
 * What `mainline` follows: the kernel around v6.16/6.17 (pkvm-facts'
 * "current"; kvm_pgtable read in Kingxukai/linux at v6.17-rc3) — hypercall
 * ids, setup.c/mm.c, refcounted hyp stage-1 tables, the buddy allocator,
 * `kvm_hyp_reserve` and the switch sequence — with one exception: the
 * numbers of `enum kvm_pgtable_prot`, i.e. the prot a host passes in a
 * hypercall register and what `kvm_pgtable_hyp_pte_prot` returns in the
 * kernel's own encoding. Those follow the renumbering of 2608563b466b
 * ("KVM: arm64: Add support for FEAT_XNX stage-2 permissions", v6.19):
 * PX = 1, UX = 2, X = PX|UX, W = 4, R = 8, DEVICE = 16, NORMAL_NC = 32, so
 * PAGE_HYP is 0xc, where v6.16/6.17 have X = 1, W = 2, R = 4, DEVICE = 8,
 * NORMAL_NC = 16 and PAGE_HYP 0x6. The UX handling at hyp (cleared without
 * hVHE; the decoder returns PX alone) follows 80cbfd7174f3 ("KVM: arm64:
 * Honor UX/PX attributes for EL2 S1 mappings"); it is in the "KVM changes
 * for Linux 7.0" pull request, but a v7.0 tree was not read, so "v7.0" is
 * UNVERIFIED. A host written against v6.16/6.17 that passes its own prot
 * numbers is therefore misread by this profile (its PAGE_HYP_DEVICE 0xe
 * reads as R|W|UX: Normal memory). Descriptors, MT_DEVICE_nGnRE = 4 and
 * hyplab's own prot numbering are the same either way.
 *
 * @module
 */

import { type Plugin, withPlugin } from "../../core/mod.ts";
import { a64Executor } from "../a64/mod.ts";
import { bitmapAllocator } from "../bitmap_allocator/mod.ts";
import { buddyAllocator } from "../buddy_allocator/mod.ts";
import { earlyAllocator } from "../early_alloc/mod.ts";
import { kvmPgtable } from "../kvm_pgtable/mod.ts";
import { mmu } from "../mmu/mod.ts";
import { pkvm, type PkvmOptions } from "../pkvm/mod.ts";
import { reservedMem } from "../reserved_mem/mod.ts";
import { switchSequence } from "../switch_sequence/mod.ts";
import { tlb } from "../tlb/mod.ts";

/** A profile name. */
export type ProfileName = "v5.13" | "mainline";

/** Every profile name. */
export const PROFILES: readonly ProfileName[] = ["v5.13", "mainline"];

/** A variant by name, or a plugin providing the capability. */
export type VariantChoice = string | Plugin;

/** Per-capability overrides of a profile. */
export interface ProfileOverrides {
  /** Page allocator: `buddy` (the profile's), `buddy-v5.13`, `buddy-mainline`, `bitmap`. */
  allocator?: VariantChoice;
  /** Switch sequence: `v3`, `v5.13`, `mainline`, `set_sctlr`. */
  switch?: VariantChoice;
  /** TLB policy: `adversarial` (default) or `optimistic`. */
  tlb?: VariantChoice;
  /** kvm_pgtable semantics: `v5.13` or `mainline`. */
  pgtable?: VariantChoice;
  /** kvm_hyp_reserve formulas: `v5.13` or `mainline`. */
  reservedMem?: VariantChoice;
  /** Early allocator mm_ops: `v5.13` or `mainline`. */
  earlyAllocator?: VariantChoice;
  /** Another MMU plugin. */
  mmu?: Plugin;
  /** Another A64 executor plugin. */
  a64?: Plugin;
  /** Options of the pKVM plugin (VA bits, image, guards, ...); `version` is the profile's. */
  pkvm?: Omit<PkvmOptions, "version" | "profile">;
  /** More plugins; each replaces the provider of the capabilities it provides. */
  plugins?: readonly Plugin[];
}

/** The variant names a profile uses by default, per override key. */
export interface ProfileDefaults {
  /** Page allocator. */
  allocator: string;
  /** Switch sequence. */
  switch: string;
  /** TLB policy. */
  tlb: string;
  /** kvm_pgtable. */
  pgtable: string;
  /** kvm_hyp_reserve. */
  reservedMem: string;
  /** Early allocator. */
  earlyAllocator: string;
}

/**
 * The default variants of a profile.
 *
 * @param name Profile name.
 * @returns Variant names.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { profileDefaults } from "./profile.ts";
 * assertEquals(profileDefaults("mainline").switch, "mainline");
 * assertEquals(profileDefaults("v5.13").allocator, "buddy-v5.13");
 * ```
 */
export function profileDefaults(name: ProfileName): ProfileDefaults {
  checkName(name);
  return {
    allocator: `buddy-${name}`,
    switch: name,
    tlb: "adversarial",
    pgtable: name,
    reservedMem: name,
    earlyAllocator: name,
  };
}

function checkName(name: string): asserts name is ProfileName {
  if (name !== "v5.13" && name !== "mainline") {
    throw new RangeError(`Cannot use profile "${name}": profiles are ${PROFILES.join(", ")}`);
  }
}

const VERSIONS = ["v5.13", "mainline"] as const;

function version(key: string, v: string): "v5.13" | "mainline" {
  if (v === "v5.13" || v === "mainline") return v;
  throw new RangeError(`Cannot use ${key} "${v}": choose ${VERSIONS.join(" or ")}`);
}

function allocatorPlugin(name: string, profileName: ProfileName): Plugin {
  switch (name) {
    case "buddy":
      return buddyAllocator({ version: profileName });
    case "buddy-v5.13":
      return buddyAllocator({ version: "v5.13" });
    case "buddy-mainline":
      return buddyAllocator({ version: "mainline" });
    case "bitmap":
      return bitmapAllocator();
    default:
      throw new RangeError(
        `Cannot use allocator "${name}": choose buddy, buddy-v5.13, buddy-mainline, bitmap (or pass a plugin)`,
      );
  }
}

function pick(
  choice: VariantChoice | undefined,
  dflt: string,
  make: (n: string) => Plugin,
): Plugin {
  if (choice === undefined) return make(dflt);
  return typeof choice === "string" ? make(choice) : choice;
}

/**
 * The plugin list of a profile: one provider per capability, the pKVM plugin
 * last. Overrides swap single capabilities, by variant name or plugin.
 *
 * @param name `v5.13` (default) or `mainline`.
 * @param overrides Per-capability choices.
 * @returns Plugins for `createMachine`.
 * @throws {RangeError} An unknown profile or variant name.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createMachine, PKVM, SWITCH_SEQUENCE, TLB } from "../../core/mod.ts";
 * import { profile } from "./profile.ts";
 * const m = createMachine({ cpus: 1, plugins: profile("v5.13", { switch: "v3", tlb: "optimistic" }) });
 * assertEquals(m.get(SWITCH_SEQUENCE).name, "v3");
 * assertEquals(m.get(TLB).policy, "optimistic");
 * assertEquals(m.get(PKVM).version, "v5.13");
 * ```
 */
export function profile(name: ProfileName = "v5.13", overrides: ProfileOverrides = {}): Plugin[] {
  checkName(name);
  const d = profileDefaults(name);
  let list: Plugin[] = [
    pick(
      overrides.reservedMem,
      d.reservedMem,
      (v) => reservedMem({ version: version("reserved_mem", v) }),
    ),
    pick(
      overrides.earlyAllocator,
      d.earlyAllocator,
      (v) => earlyAllocator({ version: version("early_allocator", v) }),
    ),
    pick(overrides.allocator, d.allocator, (v) => allocatorPlugin(v, name)),
    pick(overrides.pgtable, d.pgtable, (v) => kvmPgtable({ version: version("kvm_pgtable", v) })),
    pick(overrides.tlb, d.tlb, (v) => {
      if (v !== "adversarial" && v !== "optimistic") {
        throw new RangeError(`Cannot use tlb "${v}": choose adversarial or optimistic`);
      }
      return tlb({ policy: v });
    }),
    overrides.mmu ?? mmu(),
    overrides.a64 ?? a64Executor(),
    pick(overrides.switch, d.switch, (v) => {
      if (v !== "v3" && v !== "v5.13" && v !== "mainline" && v !== "set_sctlr") {
        throw new RangeError(
          `Cannot use switch sequence "${v}": choose v3, v5.13, mainline, set_sctlr`,
        );
      }
      return switchSequence({ variant: v });
    }),
    pkvm({ ...(overrides.pkvm ?? {}), version: name, profile: name }),
  ];
  for (const p of overrides.plugins ?? []) list = withPlugin(list, p);
  return list;
}
