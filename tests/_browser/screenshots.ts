/**
 * `deno task screenshots`: regenerates the README's two pictures from the
 * CLIs, in headless Chromium at 1280 px:
 *
 * - docs/boot.png: `examples/boot.ts --html` (the default machine, v7.2), from the
 *   physical memory map to the table tree;
 * - docs/oracle_diff.png: `examples/oracle.ts diff --html` of a recorded
 *   observation edited by hand (tests/_browser/fixtures.ts), from the top to
 *   the EL2 mappings.
 *
 * @module
 */

import { Browser, findChromium, type Page } from "./cdp.ts";
import { editedObservation, OBSERVATION } from "./fixtures.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DOCS = `${ROOT}docs/`;

/** Runs an example in `cwd`, so the page names its files as given there. */
async function run(
  cwd: string,
  script: string,
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", `${ROOT}examples/${script}`, ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** The page's vertical extent from the top of one element to the bottom of another. */
function extent(page: Page, from: string, to: string): Promise<{ top: number; height: number }> {
  return page.eval(`(() => {
    const a = document.querySelector(${JSON.stringify(from)}).getBoundingClientRect();
    const b = document.querySelector(${JSON.stringify(to)}).getBoundingClientRect();
    const top = Math.max(0, Math.floor(a.top + window.scrollY) - 8);
    return { top, height: Math.ceil(b.bottom + window.scrollY) - top + 8 };
  })()`);
}

async function main(): Promise<number> {
  const chromium = findChromium();
  if (chromium === undefined) {
    console.error("screenshots: no chromium (apt-get install -y chromium, or set HYPLAB_CHROMIUM)");
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "hyplab-screenshots-" });
  await Deno.mkdir(DOCS, { recursive: true });
  const browser = await Browser.launch(chromium);
  try {
    const boot = `${dir}/boot.html`;
    const b = await run(dir, "boot.ts", ["--html", "boot.html"]);
    if (b.code !== 0) throw new Error(`boot.ts failed: ${b.stderr}`);
    const edited = "v6.1-neoverse-n1-3G-2cpu.edited.json";
    await Deno.writeTextFile(
      `${dir}/${edited}`,
      editedObservation(await Deno.readTextFile(OBSERVATION)),
    );
    const oracle = `${dir}/oracle_diff.html`;
    const o = await run(dir, "oracle.ts", ["diff", edited, "--html", "oracle_diff.html"]);
    if (o.code !== 1) throw new Error(`oracle.ts diff: expected differences: ${o.stderr}`);

    const shots: [string, string, string, string][] = [
      [boot, "boot.png", "#memory", "#tree table"],
      [oracle, "oracle_diff.png", "h1", "section.oracle .scroll"],
    ];
    for (const [file, png, from, to] of shots) {
      const page = await browser.newPage(1280, 900);
      await page.goto(`file://${file}`);
      const { top, height } = await extent(page, from, to);
      const bytes = await page.screenshot(height, top);
      await Deno.writeFile(`${DOCS}${png}`, bytes);
      console.log(`docs/${png}: 1280 × ${height} px, ${Math.round(bytes.length / 1024)} KiB`);
    }
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
