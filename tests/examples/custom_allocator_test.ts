import { assertEquals } from "@std/assert";
import { createMachine, PAGE_ALLOCATOR, pageAllocatorConformance } from "../../mod.ts";
import { extentAllocator, plugin } from "../../examples/custom_allocator.ts";

Deno.test("examples/custom_allocator.ts passes the page-allocator conformance suite", (t) =>
  pageAllocatorConformance(extentAllocator, t));

Deno.test("examples/custom_allocator.ts is a plugin providing PAGE_ALLOCATOR", () => {
  const m = createMachine({ plugins: [plugin] });
  assertEquals(m.get(PAGE_ALLOCATOR).name, "extent");
});
