import { assertEquals, assertThrows } from "@std/assert";
import { DEBIAN_KERNEL_SOURCES, kernelSourceApt } from "../../../examples/kernel_sources.ts";
import { cacheDir } from "../../../plugins/oracle/mod.ts";
import {
  generateAsmOffsets,
  generateCpucapDefs,
  generateSysregDefs,
  openKernelTree,
} from "./deps.ts";

// Where the archive address and the cache come from is the oracle's
// (apt_source.ts, kernel_cache.ts); here, what the sources use.
Deno.test("apt runs with its own sources, lists, cache and status, never the system's", () => {
  const apt = kernelSourceApt("/c", "http://mirror.example/debian/");
  assertEquals([apt.root, apt.mirror, apt.suites], [
    "/c/apt",
    "http://mirror.example/debian",
    ["bookworm", "trixie", "sid"],
  ]);
  // Its -o options (own sources list, SourceParts=/dev/null, own lists,
  // cache and status, no locking) are the oracle's PrivateApt's; options()
  // reads the uid, which these tests are not allowed to.
  assertEquals(DEBIAN_KERNEL_SOURCES.map((s) => `${s.package}=${s.version}`), [
    "linux-source-6.1=6.1.176-1",
    "linux-source-6.12=6.12.117-1",
    "linux-source-7.2=7.2.13-1",
  ]);
});

Deno.test("the generated headers are made as the kernel build makes them", () => {
  const sysreg = [
    "Sysreg\tFOO_EL2\t3\t4\t1\t2\t3",
    "Res0\t63:8",
    "UnsignedEnum\t7:4\tMODE",
    "\t0b0000\tOFF",
    "\t0b0010\tON",
    "EndEnum",
    "Res1\t3",
    "Field\t2:0\tLVL",
    "EndSysreg",
  ].join("\n");
  const defs = new Map<string, string>();
  for (const l of generateSysregDefs(sysreg).split("\n")) {
    const m = /^#define (\S+) (.*)$/.exec(l);
    if (m) defs.set(m[1]!, m[2]!);
  }
  assertEquals(defs.get("SYS_FOO_EL2"), "sys_reg(3, 4, 1, 2, 3)");
  assertEquals(defs.get("FOO_EL2_MODE_SHIFT"), "4");
  assertEquals(defs.get("FOO_EL2_MODE_ON"), "UL(0b0010)");
  assertEquals(defs.get("FOO_EL2_RES1"), "(UL(0) | GENMASK_ULL(3, 3))");
  assertEquals(defs.get("FOO_EL2_MODE_SIGNED"), "false");
  assertEquals(
    generateCpucapDefs("# comment\nHAS_CNP\nHAS_VA52\n"),
    "#define ARM64_HAS_CNP 0\n#define ARM64_HAS_VA52 1\n#define ARM64_NCAPS 2",
  );
  const c = "DEFINE(NVHE_INIT_TMP, offsetof(struct kvm_nvhe_init_params, tmp));";
  const h =
    "struct kvm_nvhe_init_params {\n\tunsigned long a;\n\tphys_addr_t b;\n\tunsigned long tmp;\n};";
  assertEquals(generateAsmOffsets(c, h), "#define NVHE_INIT_TMP 16");
  assertThrows(
    () =>
      generateAsmOffsets("DEFINE(NVHE_INIT_X, offsetof(struct kvm_nvhe_init_params, nope));", h),
    Error,
    "no member nope",
  );
});

Deno.test("a directory that is not a kernel tree is named", () => {
  assertThrows(
    () => openKernelTree("/nonexistent/tree"),
    Error,
    "/nonexistent/tree is not a kernel source tree",
  );
});

/** The cached extracted tree of a release, if there is one. */
function cachedTree(version: string): string | undefined {
  try {
    const dir = `${cacheDir()}/sources/${version}/linux-source-${version}`;
    Deno.statSync(`${dir}/arch/arm64/tools/gen-sysreg.awk`);
    return dir;
  } catch {
    return undefined;
  }
}

for (const v of ["6.1", "6.12", "7.2"]) {
  Deno.test({
    name: `v${v}: generateSysregDefs gives the defines gen-sysreg.awk gives (cached sources)`,
    ignore: cachedTree(v) === undefined,
    async fn() {
      const dir = cachedTree(v)!;
      const out = await new Deno.Command("awk", {
        args: ["-f", `${dir}/arch/arm64/tools/gen-sysreg.awk`, `${dir}/arch/arm64/tools/sysreg`],
        stdout: "piped",
        stderr: "null",
      }).output();
      assertEquals(out.success, true, "awk -f gen-sysreg.awk failed");
      const norm = (t: string) =>
        t.split("\n").map((l) => /^#define\s+(\S+)\s+(.*)$/.exec(l)).filter((m) => m !== null)
          .map((m) => `${m![1]} ${m![2]!.replace(/\s+/g, " ").trim()}`).sort();
      const awk = Deno.readTextFileSync(`${dir}/arch/arm64/tools/gen-sysreg.awk`);
      const ours = norm(
        generateSysregDefs(Deno.readTextFileSync(`${dir}/arch/arm64/tools/sysreg`), {
          unkn: awk.includes("Unkn"),
        }),
      );
      assertEquals(
        ours,
        norm(new TextDecoder().decode(out.stdout)).filter((l) =>
          !l.startsWith("__ASM_SYSREG_DEFS_H")
        ),
      );
    },
  });
}
