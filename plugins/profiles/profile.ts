/**
 * Profiles: a named set of variants, one per capability, that boots as a
 * given kernel release does — `v5.13` (the default, reconstructed from its
 * sources), `v6.1`, `v6.12` and `v7.2` (each checked against Debian's build
 * of that release booting under QEMU), and `mainline`, the newest checked
 * release — with any single capability overridable by variant name or by a
 * plugin of one's own. What each release does is data: its descriptor in
 * `plugins/releases/`.
 *
 * @module
 */

import { type Plugin, withPlugin } from "../../core/mod.ts";
import { a64Executor } from "../a64/plugin.ts";
import { bitmapAllocator } from "../bitmap_allocator/mod.ts";
import { buddyAllocator } from "../buddy_allocator/mod.ts";
import { earlyAllocator } from "../early_alloc/mod.ts";
import { kvmPgtable } from "../kvm_pgtable/mod.ts";
import { mmu } from "../mmu/mod.ts";
import { pkvm, type PkvmOptions } from "../pkvm/mod.ts";
import { reservedMem } from "../reserved_mem/mod.ts";
import { type KernelRelease, release, RELEASE_NAMES } from "../releases/mod.ts";
import { BUILTIN_VARIANTS, isBuiltinVariant, switchSequence } from "../switch_sequence/mod.ts";
import { tlb } from "../tlb/mod.ts";

/** A profile name: a release name (`v5.13`, `v6.1`, `v6.12`, `v7.2`) or `mainline`. */
export type ProfileName = string;

/** Every profile name. */
export const PROFILES: readonly ProfileName[] = RELEASE_NAMES;

/** A variant by name, or a plugin providing the capability. */
export type VariantChoice = string | Plugin;

/** Per-capability overrides of a profile. */
export interface ProfileOverrides {
  /** Page allocator: `buddy` (the profile's), `buddy-<release>` (e.g. `buddy-v6.1`), `bitmap`. */
  allocator?: VariantChoice;
  /** Switch sequence: a built-in (`v3`, `v5.13`, `v6.1`, ... , `mainline`, `set_sctlr`). */
  switch?: VariantChoice;
  /** TLB policy: `adversarial` (default) or `optimistic`. */
  tlb?: VariantChoice;
  /** kvm_pgtable semantics: a release name. */
  pgtable?: VariantChoice;
  /** kvm_hyp_reserve formulas: a release name. */
  reservedMem?: VariantChoice;
  /** Early allocator mm_ops: a release name. */
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
 * assertEquals(profileDefaults("mainline").switch, "v7.2"); // the release's own text
 * assertEquals(profileDefaults("v5.13").allocator, "buddy-v5.13");
 * ```
 */
export function profileDefaults(name: ProfileName): ProfileDefaults {
  const rel = checkName(name);
  return {
    allocator: `buddy-${name}`,
    switch: switchFor(rel.switchSequence),
    tlb: "adversarial",
    pgtable: name,
    reservedMem: name,
    earlyAllocator: name,
  };
}

/**
 * The built-in switch sequence that carries a release's own text, or the
 * nearest one while a release's text is not built in yet: 6.1's routine is
 * the v5.13 merge's (params ABI, no `dsb nsh; isb` before `set_sctlr_el2`),
 * and 6.12's and 7.2's are the registers-ABI routine with the pair
 * (040113fa32f2, ea9d7c83d14e).
 */
function switchFor(name: string): string {
  if (isBuiltinVariant(name)) return name;
  return name === "v6.1" ? "v5.13" : "mainline";
}

function checkName(name: string): KernelRelease {
  try {
    return release(name);
  } catch {
    throw new RangeError(`Cannot use profile "${name}": profiles are ${PROFILES.join(", ")}`);
  }
}

function version(key: string, v: string): string {
  try {
    release(v);
    return v;
  } catch {
    throw new RangeError(`Cannot use ${key} "${v}": choose ${RELEASE_NAMES.join(", ")}`);
  }
}

function allocatorPlugin(name: string, profileName: ProfileName): Plugin {
  if (name === "buddy") return buddyAllocator({ version: profileName });
  if (name === "bitmap") return bitmapAllocator();
  const m = /^buddy-(.+)$/.exec(name);
  if (m !== null && RELEASE_NAMES.includes(m[1]!)) return buddyAllocator({ version: m[1]! });
  throw new RangeError(
    `Cannot use allocator "${name}": choose buddy, ${
      RELEASE_NAMES.map((r) => `buddy-${r}`).join(", ")
    }, bitmap (or pass a plugin)`,
  );
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
 * @param name A release (`v5.13`, `v6.1`, `v6.12`, `v7.2`) or `mainline` (= `v7.2`).
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
      if (!isBuiltinVariant(v)) {
        throw new RangeError(
          `Cannot use switch sequence "${v}": choose ${BUILTIN_VARIANTS.join(", ")}`,
        );
      }
      return switchSequence({ variant: v });
    }),
    pkvm({ ...(overrides.pkvm ?? {}), version: name, profile: name }),
  ];
  for (const p of overrides.plugins ?? []) list = withPlugin(list, p);
  return list;
}
