/**
 * Reading a file's `#include`s from an extracted kernel source tree
 * (`--kernel-src DIR`) instead of the models: the headers of
 * `arch/arm64/include`, `include` and their `uapi` halves, `asm-generic`
 * for the wrappers arm64 takes from there, and the headers the kernel
 * build generates, made here from the same inputs the build uses:
 *
 * - `asm/sysreg-defs.h` from `arch/arm64/tools/sysreg` (as
 *   `arch/arm64/tools/gen-sysreg.awk` makes it);
 * - `asm/cpucap-defs.h` from `arch/arm64/tools/cpucaps` (gen-cpucaps.awk);
 * - `generated/asm-offsets.h`: the `NVHE_INIT_*` offsets of
 *   `arch/arm64/kernel/asm-offsets.c`, from the layout of `struct
 *   kvm_nvhe_init_params` in `asm/kvm_asm.h` (every member is 8 bytes);
 * - `generated/autoconf.h`: empty (the configuration comes from the
 *   release profile and `--config`).
 *
 * Reading needs `--allow-read` for DIR, and happens only when called.
 *
 * @module
 */

import type { CppHeader, IncludeResolver } from "../cpp.ts";

/** An extracted kernel tree. */
export interface KernelTree {
  /** Its directory. */
  readonly dir: string;
  /** `VERSION.PATCHLEVEL.SUBLEVEL` from its Makefile. */
  readonly version: string;
  /** The release models that match (`v` + `VERSION.PATCHLEVEL`). */
  readonly release: string;
}

const join = (...p: string[]) => p.join("/").replace(/\/+/g, "/");

function readIf(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.IsADirectory) {
      return undefined;
    }
    throw e;
  }
}

/**
 * Opens a kernel tree: reads its version from the top-level Makefile.
 * @param dir The tree's directory (e.g. `/tmp/src/6.12/linux-source-6.12`).
 * @returns The tree.
 * @throws {Error} When DIR has no kernel Makefile (naming DIR).
 * @example
 * ```ts ignore
 * import { openKernelTree } from "./source_tree.ts";
 * console.log(openKernelTree("/tmp/src/6.12/linux-source-6.12").release); // v6.12
 * ```
 */
export function openKernelTree(dir: string): KernelTree {
  const mk = readIf(join(dir, "Makefile"));
  const field = (name: string) => new RegExp(`^${name}\\s*=\\s*(\\d+)`, "m").exec(mk ?? "")?.[1];
  const [v, p, s] = [field("VERSION"), field("PATCHLEVEL"), field("SUBLEVEL")];
  if (mk === undefined || v === undefined || p === undefined) {
    throw new Error(`${dir} is not a kernel source tree (no Makefile with VERSION and PATCHLEVEL)`);
  }
  if (readIf(join(dir, "arch/arm64/kvm/hyp/nvhe/hyp-init.S")) === undefined) {
    throw new Error(`${dir} has no arch/arm64/kvm/hyp/nvhe/hyp-init.S (not an arm64 kernel tree)`);
  }
  return { dir, version: `${v}.${p}.${s ?? 0}`, release: `v${v}.${p}` };
}

/**
 * `asm/sysreg-defs.h` as gen-sysreg.awk writes it from `arch/arm64/tools/sysreg`.
 * @param text The sysreg description.
 * @param options `unkn`: emit the `_UNKN` masks, as the gen-sysreg.awk of trees whose format has `Unkn` does (v6.1 has not; default true).
 * @returns The header text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { generateSysregDefs } from "./source_tree.ts";
 * const h = generateSysregDefs("Sysreg\tFOO_EL2\t3\t4\t1\t2\t3\nRes0\t63:4\nField\t3:0\tBAR\nEndSysreg\n");
 * assertStringIncludes(h, "#define SYS_FOO_EL2 sys_reg(3, 4, 1, 2, 3)");
 * assertStringIncludes(h, "#define FOO_EL2_BAR_SHIFT 0");
 * ```
 */
export function generateSysregDefs(text: string, options: { unkn?: boolean } = {}): string {
  const out: string[] = ["#ifndef __ASM_SYSREG_DEFS_H", "#define __ASM_SYSREG_DEFS_H"];
  const def = (name: string, val: string | number) => out.push(`#define ${name} ${val}`);
  let reg = "";
  let prefix = "";
  let field = "";
  let res0: string[] = [];
  let res1: string[] = [];
  let unkn: string[] = [];
  const stack: string[] = [];
  const bits = (b: string): [string, string] => {
    const m = /^(\d+)(?::(\d+))?$/.exec(b);
    if (!m) throw new Error(`tools/sysreg: bad bit range "${b}"`);
    return [m[1]!, m[2] ?? m[1]!];
  };
  const fieldDefs = (name: string, msb: string, lsb: string) => {
    const base = `${prefix}${reg}_${name}`;
    def(base, `GENMASK(${msb}, ${lsb})`);
    def(`${base}_MASK`, `GENMASK(${msb}, ${lsb})`);
    def(`${base}_SHIFT`, lsb);
    def(`${base}_WIDTH`, Number(msb) - Number(lsb) + 1);
  };
  const resx = () => {
    const m = (l: string[]) => `(UL(0)${l.map((x) => ` | ${x}`).join("")})`;
    def(`${prefix}${reg}_RES0`, m(res0));
    def(`${prefix}${reg}_RES1`, m(res1));
    if (options.unkn !== false) def(`${prefix}${reg}_UNKN`, m(unkn));
  };
  let resOn = false;
  const open = (kind: string) => {
    stack.push(kind);
    res0 = [];
    res1 = [];
    unkn = [];
    resOn = true;
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(/\s+/);
    switch (f[0]) {
      case "Sysreg":
        open("Sysreg");
        reg = f[1]!;
        prefix = "";
        def(`REG_${reg}`, `S${f[2]}_${f[3]}_C${f[4]}_C${f[5]}_${f[6]}`);
        def(`SYS_${reg}`, `sys_reg(${f[2]}, ${f[3]}, ${f[4]}, ${f[5]}, ${f[6]})`);
        def(`SYS_${reg}_Op0`, f[2]!);
        def(`SYS_${reg}_Op1`, f[3]!);
        def(`SYS_${reg}_CRn`, f[4]!);
        def(`SYS_${reg}_CRm`, f[5]!);
        def(`SYS_${reg}_Op2`, f[6]!);
        break;
      case "SysregFields":
        open("SysregFields");
        reg = f[1]!;
        prefix = "";
        break;
      case "Prefix":
        open("Prefix");
        prefix = `${f[1]}_`;
        break;
      case "EndSysreg":
      case "EndSysregFields":
      case "EndPrefix":
        stack.pop();
        if (resOn) resx();
        if (f[0] === "EndPrefix") {
          prefix = "";
          res0 = [];
          res1 = [];
          unkn = [];
          resOn = true;
        } else {
          reg = "";
          resOn = false;
        }
        break;
      case "Fields":
      case "Mapping":
        resOn = false;
        break;
      case "Res0":
      case "Res1":
      case "Unkn": {
        const [msb, lsb] = bits(f[1]!);
        (f[0] === "Res0" ? res0 : f[0] === "Res1" ? res1 : unkn).push(
          `GENMASK_ULL(${msb}, ${lsb})`,
        );
        break;
      }
      case "Raz":
        break;
      case "Field": {
        const [msb, lsb] = bits(f[1]!);
        fieldDefs(f[2]!, msb, lsb);
        break;
      }
      case "Enum":
      case "SignedEnum":
      case "UnsignedEnum": {
        stack.push("Enum");
        const [msb, lsb] = bits(f[1]!);
        field = f[2]!;
        fieldDefs(field, msb, lsb);
        if (f[0] !== "Enum") {
          def(`${prefix}${reg}_${field}_SIGNED`, f[0] === "SignedEnum" ? "true" : "false");
        }
        break;
      }
      case "EndEnum":
        stack.pop();
        field = "";
        break;
      default:
        if (stack[stack.length - 1] === "Enum" && /^0b[01]+$/.test(f[0]!)) {
          def(`${prefix}${reg}_${field}_${f[1]}`, `UL(${f[0]})`);
          break;
        }
        throw new Error(`tools/sysreg: unhandled statement "${line}"`);
    }
  }
  out.push("#endif");
  return out.join("\n");
}

/**
 * `asm/cpucap-defs.h` as gen-cpucaps.awk writes it from `arch/arm64/tools/cpucaps`.
 * @param text The cpucaps list.
 * @returns The header text.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { generateCpucapDefs } from "../mod.ts";
 * const h = generateCpucapDefs("# comment\nALWAYS_BOOT\nHAS_CNP\n");
 * assertStringIncludes(h, "#define ARM64_HAS_CNP 1");
 * ```
 */
export function generateCpucapDefs(text: string): string {
  const names = text.split("\n").map((l) => l.trim()).filter((l) => /^[vA-Z0-9_]+$/.test(l));
  return [
    ...names.map((n, i) => `#define ARM64_${n} ${i}`),
    `#define ARM64_NCAPS ${names.length}`,
  ].join("\n");
}

/**
 * `generated/asm-offsets.h`: the `NVHE_INIT_*` offsets asm-offsets.c
 * defines, from `struct kvm_nvhe_init_params` in asm/kvm_asm.h.
 * @param asmOffsetsC arch/arm64/kernel/asm-offsets.c.
 * @param kvmAsmH arch/arm64/include/asm/kvm_asm.h.
 * @returns The header text.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { generateAsmOffsets } from "./source_tree.ts";
 * const c = "DEFINE(NVHE_INIT_PGD_PA, offsetof(struct kvm_nvhe_init_params, pgd_pa));";
 * const h = "struct kvm_nvhe_init_params {\n\tunsigned long a;\n\tphys_addr_t pgd_pa;\n};";
 * assertEquals(generateAsmOffsets(c, h), "#define NVHE_INIT_PGD_PA 8");
 * ```
 */
export function generateAsmOffsets(asmOffsetsC: string, kvmAsmH: string): string {
  const struct = /struct kvm_nvhe_init_params\s*\{([^}]*)\}/.exec(kvmAsmH)?.[1];
  if (struct === undefined) throw new Error("asm/kvm_asm.h has no struct kvm_nvhe_init_params");
  const fields = struct.split(";").map((f) => /(\w+)\s*$/.exec(f.trim())?.[1]).filter((f) =>
    f !== undefined
  ) as string[];
  const out: string[] = [];
  for (
    const m of asmOffsetsC.matchAll(
      /DEFINE\((NVHE_INIT_\w+),\s*offsetof\(struct kvm_nvhe_init_params,\s*(\w+)\)\)/g,
    )
  ) {
    const k = fields.indexOf(m[2]!);
    if (k < 0) throw new Error(`struct kvm_nvhe_init_params has no member ${m[2]}`);
    out.push(`#define ${m[1]} ${8 * k}`);
  }
  return out.join("\n");
}

/**
 * An `#include` resolver reading from a kernel tree, with the generated
 * headers made from the tree's own inputs.
 * @param tree The tree.
 * @returns The resolver.
 * @example
 * ```ts ignore
 * import { kernelTreeResolver, openKernelTree } from "./source_tree.ts";
 * import { parseA64 } from "../mod.ts";
 * const tree = openKernelTree("/tmp/src/6.12/linux-source-6.12");
 * const path = `${tree.dir}/arch/arm64/kvm/hyp/nvhe/hyp-init.S`;
 * parseA64(Deno.readTextFileSync(path), { release: tree.release, include: kernelTreeResolver(tree) });
 * ```
 */
export function kernelTreeResolver(tree: KernelTree): IncludeResolver {
  const dir = tree.dir;
  const generated: Record<string, () => string> = {
    "asm/sysreg-defs.h": () =>
      generateSysregDefs(Deno.readTextFileSync(join(dir, "arch/arm64/tools/sysreg")), {
        // The tree's own generator decides whether the _UNKN masks exist.
        unkn: readIf(join(dir, "arch/arm64/tools/gen-sysreg.awk"))?.includes("Unkn") ?? true,
      }),
    "asm/cpucap-defs.h": () =>
      generateCpucapDefs(Deno.readTextFileSync(join(dir, "arch/arm64/tools/cpucaps"))),
    "generated/asm-offsets.h": () =>
      generateAsmOffsets(
        Deno.readTextFileSync(join(dir, "arch/arm64/kernel/asm-offsets.c")),
        Deno.readTextFileSync(join(dir, "arch/arm64/include/asm/kvm_asm.h")),
      ),
    "generated/autoconf.h": () => "",
  };
  // Until v6.3 the whole of asm/cpucaps.h was generated from tools/cpucaps.
  const cpucaps = () =>
    generateCpucapDefs(Deno.readTextFileSync(join(dir, "arch/arm64/tools/cpucaps")));
  const paths = ["arch/arm64/include", "arch/arm64/include/uapi", "include", "include/uapi"];
  return (name: string): CppHeader => {
    const gen = generated[name];
    if (gen !== undefined) return { name: `${name} (generated from ${tree.dir})`, text: gen() };
    for (const p of paths) {
      const text = readIf(join(dir, p, name));
      if (text !== undefined) return { name: join(p, name), text };
    }
    if (name === "asm/cpucaps.h") {
      return { name: `${name} (generated from ${tree.dir})`, text: cpucaps() };
    }
    if (name.startsWith("asm/")) {
      // arm64's generic-y and the uapi wrappers come from asm-generic.
      for (const g of ["include/asm-generic", "include/uapi/asm-generic"]) {
        const text = readIf(join(dir, g, name.slice(4)));
        if (text !== undefined) return { name: join(g, name.slice(4)), text };
      }
    }
    throw new Error(`no <${name}> in ${dir} (${paths.join(", ")}, asm-generic)`);
  };
}
