/**
 * Regenerates plugins/switch_sequence/builtin_sources.ts from the .S files in
 * plugins/switch_sequence/sequences/ (runtime code must not need --allow-read,
 * so the text ships as TS string modules; builtins_test.ts checks they match).
 *
 *   deno run --allow-read --allow-write tests/plugins/switch_sequence/generate_sources.ts
 *
 * @module
 */

const DIR = new URL("../../../plugins/switch_sequence/", import.meta.url);

/** The files and the constant each becomes. */
export const FILES: readonly (readonly [string, string])[] = [
  ["v3.S", "V3_S"],
  ["v5_13.S", "V5_13_S"],
  ["mainline.S", "MAINLINE_S"],
  ["set_sctlr.S", "SET_SCTLR_S"],
  ["v6_1.S", "V6_1_S"],
  ["v6_12.S", "V6_12_S"],
  ["v7_2.S", "V7_2_S"],
];

/**
 * The module text for the given .S contents.
 * @param texts File name → contents.
 * @returns The TypeScript module.
 */
export function render(texts: ReadonlyMap<string, string>): string {
  const parts = [
    "/**",
    " * The built-in switch sequences as text. GENERATED from sequences/*.S by",
    " * tests/plugins/switch_sequence/generate_sources.ts — edit the .S files and",
    " * regenerate; a test checks that both agree.",
    " *",
    " * @module",
    " */",
    "",
  ];
  for (const [file, name] of FILES) {
    const text = texts.get(file)!;
    if (text.includes("`") || text.includes("${") || text.includes("\\")) {
      throw new Error(`Cannot embed ${file}: it contains a backtick, "\${" or a backslash`);
    }
    parts.push(
      `/** Text of sequences/${file}. */`,
      `export const ${name}: string =\n  \`${text}\`;`,
      "",
    );
  }
  return parts.join("\n");
}

if (import.meta.main) {
  const texts = new Map<string, string>();
  for (const [file] of FILES) {
    texts.set(file, await Deno.readTextFile(new URL(`sequences/${file}`, DIR)));
  }
  await Deno.writeTextFile(new URL("builtin_sources.ts", DIR), render(texts));
  console.log("wrote plugins/switch_sequence/builtin_sources.ts");
}
