/**
 * `--variant LABEL:capability=NAME|PATH[,capability=...]`: parsing a variant
 * set and resolving its choices (built-in names, or module / `.S` paths,
 * read only then) into profile overrides.
 *
 * @module
 */

import {
  type Capability,
  EARLY_ALLOCATOR,
  KVM_PGTABLE,
  loadPluginModule,
  PAGE_ALLOCATOR,
  type Plugin,
  RESERVED_MEM,
  SWITCH_SEQUENCE,
  TLB,
} from "../../core/mod.ts";
import { type ProfileName, type ProfileOverrides, PROFILES } from "../profiles/mod.ts";
import { resolveSwitchSequence, switchSequence } from "../switch_sequence/mod.ts";

/** The capability keys a variant may set, as written on the command line. */
export const VARIANT_KEYS: readonly string[] = [
  "profile",
  "allocator",
  "switch",
  "tlb",
  "pgtable",
  "reserved_mem",
  "early_allocator",
  "plugin",
];

/** A parsed, unresolved variant set. */
export interface VariantSpec {
  /** Column label. */
  label: string;
  /** `capability → NAME|PATH`, in the order given (`plugin` may repeat, comma-joined). */
  choices: Record<string, string>;
}

/** A variant set ready to run: a profile and its overrides. */
export interface Variant {
  /** Column label. */
  label: string;
  /** Profile the variant starts from. */
  profile: ProfileName;
  /** Capabilities swapped. */
  overrides: ProfileOverrides;
  /** The choices as given, for the report. */
  choices: Record<string, string>;
}

/**
 * Parses `LABEL:capability=VALUE[,capability=VALUE...]`.
 *
 * @param text The flag value.
 * @returns The spec.
 * @throws {SyntaxError} For a missing label, an unknown capability key, an
 *   empty value, or a capability given twice (only `plugin` may repeat).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseVariantSpec } from "./variant_spec.ts";
 * assertEquals(parseVariantSpec("v3:switch=v3,tlb=optimistic"), {
 *   label: "v3",
 *   choices: { switch: "v3", tlb: "optimistic" },
 * });
 * ```
 */
export function parseVariantSpec(text: string): VariantSpec {
  const colon = text.indexOf(":");
  if (colon <= 0) {
    throw new SyntaxError(
      `Cannot parse variant "${text}": expected LABEL:capability=NAME[,capability=NAME...]`,
    );
  }
  const label = text.slice(0, colon);
  const choices: Record<string, string> = {};
  for (const part of text.slice(colon + 1).split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (!VARIANT_KEYS.includes(key)) {
      throw new SyntaxError(
        `Cannot parse variant "${text}": unknown capability "${key}" (choose ${
          VARIANT_KEYS.join(", ")
        })`,
      );
    }
    if (value === "") throw new SyntaxError(`Cannot parse variant "${text}": ${key} has no value`);
    if (key !== "plugin" && choices[key] !== undefined) {
      throw new SyntaxError(
        `Cannot parse variant "${text}": ${key} is given twice (${key}=${
          choices[key]
        }, then ${key}=${value}); a variant takes one ${key}`,
      );
    }
    choices[key] = key === "plugin" && choices.plugin ? `${choices.plugin},${value}` : value;
  }
  return { label, choices };
}

/** Whether a choice names a file rather than a built-in variant. */
function isPath(value: string): boolean {
  return value.includes("/") || /\.(ts|js|mjs|S|s)$/.test(value);
}

/** Options of {@link resolveVariant}. */
export interface ResolveOptions {
  /**
   * How a choice is written where it came from, for messages: `tlb=optimistic`
   * by default (the `--variant` syntax); `examples/boot.ts` says `--tlb optimistic`.
   */
  spell?: (key: string, value: string) => string;
}

/** The capability each `--variant` key chooses the provider of. */
const KEY_CAPABILITY: readonly (readonly [string, Capability<unknown>])[] = [
  ["allocator", PAGE_ALLOCATOR],
  ["switch", SWITCH_SEQUENCE],
  ["tlb", TLB],
  ["pgtable", KVM_PGTABLE],
  ["reserved_mem", RESERVED_MEM],
  ["early_allocator", EARLY_ALLOCATOR],
];

/**
 * Resolves a spec's choices: names stay names (the profile checks them),
 * paths are loaded — a module must export a plugin for that capability, a
 * `.S` file is a switch sequence. Two choices of one capability's provider
 * (`tlb=optimistic` and a `plugin=` module providing the TLB, or two such
 * modules) are refused rather than settled by order.
 *
 * @param spec The parsed spec.
 * @param defaultProfile Profile when the spec names none.
 * @param options How choices are spelled in messages.
 * @returns The variant.
 * @throws {RangeError} An unknown profile, or two choices of one provider.
 * @throws {PluginLoadError} A module that does not follow the plugin convention.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseVariantSpec, resolveVariant } from "./variant_spec.ts";
 * const v = await resolveVariant(parseVariantSpec("bitmap:allocator=bitmap"), "v5.13");
 * assertEquals([v.profile, v.overrides.allocator], ["v5.13", "bitmap"]);
 * ```
 */
export async function resolveVariant(
  spec: VariantSpec,
  defaultProfile: ProfileName = "v5.13",
  options: ResolveOptions = {},
): Promise<Variant> {
  const c = spec.choices;
  const prof = (c.profile ?? defaultProfile) as ProfileName;
  if (!PROFILES.includes(prof)) {
    throw new RangeError(`Cannot use profile "${prof}": profiles are ${PROFILES.join(", ")}`);
  }
  const o: ProfileOverrides = {};
  const plugins: Plugin[] = [];
  if (c.allocator !== undefined) {
    o.allocator = isPath(c.allocator)
      ? pluginFor(await loadPluginModule(c.allocator, PAGE_ALLOCATOR), PAGE_ALLOCATOR)
      : c.allocator;
  }
  if (c.switch !== undefined) {
    const v = c.switch;
    if (/\.(ts|js|mjs)$/.test(v)) {
      o.switch = pluginFor(await loadPluginModule(v, SWITCH_SEQUENCE), SWITCH_SEQUENCE);
    } else if (isPath(v)) {
      const seq = await resolveSwitchSequence(v);
      o.switch = switchSequence({ name: seq.name, source: seq.source, abi: seq.abi });
    } else o.switch = v;
  }
  if (c.tlb !== undefined) {
    o.tlb = isPath(c.tlb) ? pluginFor(await loadPluginModule(c.tlb, TLB), TLB) : c.tlb;
  }
  for (
    const [key, field, cap] of [
      ["pgtable", "pgtable", KVM_PGTABLE],
      ["reserved_mem", "reservedMem", RESERVED_MEM],
      ["early_allocator", "earlyAllocator", EARLY_ALLOCATOR],
    ] as const satisfies readonly (readonly [string, string, Capability<unknown>])[]
  ) {
    const v = c[key];
    if (v === undefined) continue;
    o[field] = isPath(v) ? pluginFor(await loadPluginModule(v, cap), cap) : v;
  }
  const spell = options.spell ?? ((k: string, v: string) => `${k}=${v}`);
  const chosenBy = new Map<Capability<unknown>, string>();
  for (const [key, cap] of KEY_CAPABILITY) {
    if (c[key] !== undefined) chosenBy.set(cap, spell(key, c[key]!));
  }
  for (const path of c.plugin?.split(",") ?? []) {
    for (const p of await loadPluginModule(path)) {
      const by = `${spell("plugin", path)} (plugin "${p.name}")`;
      for (const cap of p.provides) {
        const other = chosenBy.get(cap);
        if (other !== undefined) {
          throw new RangeError(
            `${other} and ${by} both choose the provider of "${cap.name}": give one`,
          );
        }
        chosenBy.set(cap, by);
      }
      plugins.push(p);
    }
  }
  if (plugins.length) o.plugins = plugins;
  return { label: spec.label, profile: prof, overrides: o, choices: { ...c } };
}

function pluginFor(plugins: Plugin[], cap: { name: string }): Plugin {
  return plugins.find((p) => p.provides.some((c) => c.name === cap.name))!;
}
