import { assertEquals, assertRejects } from "@std/assert";
import {
  cacheDir,
  cachedKernel,
  findCachedKernel,
  OracleError,
} from "../../../plugins/oracle/mod.ts";

const CACHE = new URL("../../fixtures/oracle/cache", import.meta.url).pathname;

Deno.test("kernel cache: HYPLAB_CACHE, then XDG_CACHE_HOME, then ~/.cache", () => {
  const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });
  assertEquals(cacheDir(env({ HYPLAB_CACHE: "/c", XDG_CACHE_HOME: "/x", HOME: "/h" })), "/c");
  assertEquals(cacheDir(env({ XDG_CACHE_HOME: "/x", HOME: "/h" })), "/x/hyplab");
  assertEquals(cacheDir(env({ HOME: "/h" })), "/h/.cache/hyplab");
  try {
    cacheDir(env({}));
    throw new Error("unreachable");
  } catch (e) {
    assertEquals(
      (e as Error).message,
      "no cache directory: set HYPLAB_CACHE (or XDG_CACHE_HOME or HOME)",
    );
  }
});

Deno.test("kernel cache: a cached kernel's files and manifest; a missing one says to run setup", async () => {
  const k = await findCachedKernel(CACHE, "6.1");
  assertEquals(k?.image, `${CACHE}/kernels/6.1/Image`);
  assertEquals(k?.manifest.kernel_release, "6.1.0-50-arm64");
  assertEquals(await findCachedKernel(CACHE, "7.2"), null);
  await assertRejects(
    () => cachedKernel(CACHE, "7.2"),
    OracleError,
    `kernel 7.2 is not in the cache (${CACHE}/kernels/7.2): run \`deno run -A examples/oracle.ts setup\``,
  );
});
