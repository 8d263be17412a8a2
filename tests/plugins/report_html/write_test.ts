/**
 * Writing a page: checked without changing anything, written whole or not
 * at all.
 */

import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { checkHtmlPath, HtmlPathError, writeHtmlFile } from "../../../mod.ts";

async function names(dir: string): Promise<string[]> {
  const out = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("checkHtmlPath: a missing directory, a directory, an empty name; nothing created", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-" });
  try {
    await checkHtmlPath(`${dir}/page.html`);
    assertEquals(await names(dir), [], "the check leaves nothing behind");
    const e = await assertRejects(() => checkHtmlPath(`${dir}/nope/page.html`), HtmlPathError);
    assertEquals(e.message, `${dir}/nope/page.html: cannot write: no such directory ${dir}/nope`);
    await Deno.mkdir(`${dir}/sub`);
    await assertRejects(() => checkHtmlPath(`${dir}/sub`), HtmlPathError, "it is a directory");
    await assertRejects(() => checkHtmlPath(`${dir}/`), HtmlPathError, "not a file name");
    assertEquals(await names(dir), ["sub"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeHtmlFile: the page whole, readable, no temporary file left; over an old page too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-" });
  try {
    const path = `${dir}/page.html`;
    assertEquals(await writeHtmlFile(path, "<p>é</p>"), 9);
    assertEquals(await Deno.readTextFile(path), "<p>é</p>");
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o644);
    await writeHtmlFile(path, "<p>two</p>");
    assertEquals(await Deno.readTextFile(path), "<p>two</p>");
    assertEquals(await names(dir), ["page.html"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeHtmlFile: a rename that fails leaves no partial file and no temporary file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hyplab-html-" });
  try {
    // A non-empty directory where the page should go: the rename fails.
    await Deno.mkdir(`${dir}/page.html`);
    await Deno.writeTextFile(`${dir}/page.html/keep`, "x");
    const e = await assertRejects(
      () => writeHtmlFile(`${dir}/page.html`, "<p>x</p>"),
      HtmlPathError,
    );
    assertStringIncludes(e.message, `${dir}/page.html: cannot write`);
    assertEquals(await names(dir), ["page.html"]);
    assertEquals(await names(`${dir}/page.html`), ["keep"]);
    await assertRejects(
      () => writeHtmlFile(`${dir}/gone/page.html`, "x"),
      HtmlPathError,
      "no such directory",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
