/**
 * A kernel `System.map`: one `<hex address> <type letter> <name>` line per
 * symbol, as `scripts/mksysmap` writes it.
 *
 * @module
 */

import { OracleError } from "./errors.ts";

/** One symbol. */
export interface SystemMapSymbol {
  /** Address (a kernel VA for image symbols). */
  address: bigint;
  /** nm type letter (`T`, `D`, `B`, `r`, ...). */
  type: string;
}

/**
 * Symbols by name. A name that appears more than once (static symbols of
 * different files) keeps every address; {@link SystemMap.address} refuses
 * such a name when the addresses differ.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseSystemMap } from "./system_map.ts";
 * const m = parseSystemMap("ffff800008000000 T _text\nffff80000911b600 D kimage_voffset\n", "System.map");
 * assertEquals(m.address("kimage_voffset"), 0xffff80000911b600n);
 * assertEquals(m.has("nope"), false);
 * ```
 */
export class SystemMap {
  readonly #symbols: Map<string, SystemMapSymbol[]>;
  /** Where the map came from, for messages. */
  readonly source: string;

  /**
   * Wraps parsed symbols.
   * @param symbols Name → every occurrence.
   * @param source File name for messages.
   */
  constructor(symbols: Map<string, SystemMapSymbol[]>, source: string) {
    this.#symbols = symbols;
    this.source = source;
  }

  /** Number of distinct names. */
  get size(): number {
    return this.#symbols.size;
  }

  /**
   * Whether the name is present.
   * @param name Symbol name.
   * @returns True when present.
   */
  has(name: string): boolean {
    return this.#symbols.has(name);
  }

  /**
   * Every occurrence of a name.
   * @param name Symbol name.
   * @returns Occurrences in file order (empty when absent).
   */
  lookup(name: string): readonly SystemMapSymbol[] {
    return this.#symbols.get(name) ?? [];
  }

  /**
   * The address of a name.
   * @param name Symbol name.
   * @returns The address, or undefined when absent.
   * @throws {OracleError} When the name has several different addresses.
   */
  address(name: string): bigint | undefined {
    const all = this.#symbols.get(name);
    if (!all) return undefined;
    if (all.some((s) => s.address !== all[0]!.address)) {
      throw new OracleError(`${this.source}: ${name} has ${all.length} different addresses`);
    }
    return all[0]!.address;
  }

  /**
   * The address of a name that must exist.
   * @param name Symbol name.
   * @returns The address.
   * @throws {OracleError} When absent or ambiguous.
   */
  require(name: string): bigint {
    const a = this.address(name);
    if (a === undefined) throw new OracleError(`${this.source}: no symbol ${name}`);
    return a;
  }
}

/**
 * Parses System.map text.
 *
 * @param text The file's contents.
 * @param source File name, used in errors as `file:line`.
 * @returns The map.
 * @throws {OracleError} On a malformed line (`System.map:12: expected ...`)
 *   or an empty map (Debian's `-unsigned` packages ship an 83-byte
 *   placeholder that points at the `-dbg` package).
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseSystemMap } from "./system_map.ts";
 * assertThrows(() => parseSystemMap("ffff8000 T _text\nnonsense\n", "map"), Error, "map:2:");
 * ```
 */
export function parseSystemMap(text: string, source: string): SystemMap {
  const symbols = new Map<string, SystemMapSymbol[]>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "");
    if (line === "" && i === lines.length - 1) break;
    const m = /^([0-9a-fA-F]{1,16}) ([a-zA-Z?-]) (\S+)$/.exec(line);
    if (!m && /System\.map is in the .*-dbg package/.test(line)) {
      throw new OracleError(
        `${source}:${i + 1}: this is Debian's placeholder; the real System.map is in the ${
          /(\S+-dbg)/.exec(line)?.[1] ?? "-dbg"
        } package`,
      );
    }
    if (!m) {
      throw new OracleError(
        `${source}:${i + 1}: expected "<hex address> <type> <name>", got "${line.slice(0, 60)}"`,
      );
    }
    const sym = { address: BigInt("0x" + m[1]!), type: m[2]! };
    const list = symbols.get(m[3]!);
    if (list) list.push(sym);
    else symbols.set(m[3]!, [sym]);
  }
  if (symbols.size === 0) throw new OracleError(`${source}: no symbols (a placeholder file?)`);
  return new SystemMap(symbols, source);
}
