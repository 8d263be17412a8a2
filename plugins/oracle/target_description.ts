/**
 * The gdb target description (`qXfer:features:read:target.xml` and the
 * files it `xi:include`s): which register has which number, so a system
 * register such as TTBR0_EL2 can be read with the `p` packet.
 *
 * Numbering follows gdb's rule (gdb/target-descriptions.c): a `<reg>` with a
 * `regnum` attribute takes that number, one without takes the previous
 * register's number plus one, counting from 0 across the documents in
 * include order. QEMU's aarch64 description leaves the core and FPU
 * registers unnumbered (x0..x30, sp, pc, cpsr = 0..33, then v0..v31, fpsr,
 * fpcr) and numbers its `org.qemu.gdb.arm.sys.regs` feature explicitly.
 *
 * @module
 */

/** One register of the target description. */
export interface TargetRegister {
  /** Name as the stub spells it (`TTBR0_EL2`, `cpsr`). */
  name: string;
  /** Number for the `p` packet. */
  regnum: number;
  /** Width in bits. */
  bitsize: number;
  /** Name of the `<feature>` it belongs to (`org.qemu.gdb.arm.sys.regs`). */
  feature: string;
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out.set(m[1]!, m[2] ?? m[3] ?? "");
  }
  return out;
}

/**
 * The `href`s a document includes with `<xi:include>`, in order.
 *
 * @param xml One document.
 * @returns Annex names, e.g. `["aarch64-core.xml", "system-registers.xml"]`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { xmlIncludes } from "./target_description.ts";
 * assertEquals(xmlIncludes('<target><xi:include href="a.xml"/></target>'), ["a.xml"]);
 * ```
 */
export function xmlIncludes(xml: string): string[] {
  return [...xml.matchAll(/<xi:include\b[^>]*>/g)].map((m) => {
    const href = attributes(m[0]).get("href");
    if (!href) throw new SyntaxError(`xi:include without href: ${m[0]}`);
    return href;
  });
}

/**
 * Registers of a target description, numbered as gdb numbers them.
 *
 * @param annex Name of the top document (`target.xml`).
 * @param documents Every document by annex name.
 * @returns Registers in description order.
 * @throws {SyntaxError} On an include of a missing document, an include
 *   cycle, or a `<reg>` without a name.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { targetRegisters } from "./target_description.ts";
 * const docs = new Map([
 *   ["target.xml", '<target><xi:include href="core.xml"/><xi:include href="sys.xml"/></target>'],
 *   ["core.xml", '<feature name="core"><reg name="x0" bitsize="64"/><reg name="x1" bitsize="64"/></feature>'],
 *   ["sys.xml", '<feature name="sys"><reg name="TTBR0_EL2" bitsize="64" regnum="120"/></feature>'],
 * ]);
 * const regs = targetRegisters("target.xml", docs);
 * assertEquals(regs.map((r) => [r.name, r.regnum]), [["x0", 0], ["x1", 1], ["TTBR0_EL2", 120]]);
 * ```
 */
export function targetRegisters(
  annex: string,
  documents: ReadonlyMap<string, string>,
): TargetRegister[] {
  const out: TargetRegister[] = [];
  let next = 0;
  const visit = (name: string, stack: string[]) => {
    if (stack.includes(name)) {
      throw new SyntaxError(`target description: include cycle ${[...stack, name].join(" -> ")}`);
    }
    const xml = documents.get(name);
    if (xml === undefined) throw new SyntaxError(`target description: ${name} is missing`);
    let feature = "";
    for (const m of xml.matchAll(/<(feature|reg|xi:include)\b[^>]*>/g)) {
      const attrs = attributes(m[0]);
      if (m[1] === "feature") feature = attrs.get("name") ?? "";
      else if (m[1] === "xi:include") visit(attrs.get("href") ?? "", [...stack, name]);
      else {
        const regName = attrs.get("name");
        if (!regName) throw new SyntaxError(`${name}: <reg> without a name: ${m[0]}`);
        const numText = attrs.get("regnum");
        const regnum = numText === undefined ? next : Number(numText);
        if (!Number.isSafeInteger(regnum) || regnum < 0) {
          throw new SyntaxError(`${name}: register ${regName} has regnum "${numText}"`);
        }
        out.push({ name: regName, regnum, bitsize: Number(attrs.get("bitsize") ?? 0), feature });
        next = regnum + 1;
      }
    }
  };
  visit(annex, []);
  return out;
}
