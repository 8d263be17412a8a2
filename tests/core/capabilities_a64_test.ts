import { assertEquals } from "@std/assert";
import { inferSequenceAbi } from "../../mod.ts";

Deno.test("inferSequenceAbi() reads the code, not the comments", () => {
  // A registers-ABI text that mentions the old params offsets in comments.
  const commented = [
    "// v5.13 loaded the pgd with ldr x3, [x0, #NVHE_INIT_PGD_PA]",
    "/* and the stack from",
    "   NVHE_INIT_STACK_HYP_VA */ phys_to_ttbr x5, x0",
    "mov sp, x1 // not NVHE_INIT_STACK_HYP_VA any more",
  ].join("\n");
  assertEquals(inferSequenceAbi(commented), "registers");
  assertEquals(inferSequenceAbi("ldr x3, [x0, #NVHE_INIT_PGD_PA] // the pgd"), "params");
  assertEquals(
    inferSequenceAbi("/* x0: params */ ldr x0, [x0, #NVHE_INIT_STACK_HYP_VA]"),
    "params",
  );
});
