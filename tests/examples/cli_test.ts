// The shared CLI plumbing of examples/_cli.ts, unit by unit.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  BadInput,
  integerFlag,
  parseFlags,
  progressLine,
  runCli,
  wantsJson,
} from "../../examples/_cli.ts";

const SPEC = {
  boolean: ["json", "help"],
  string: ["cpus", "switch"],
  collect: ["ram"],
  alias: { h: "help" },
} as const;

Deno.test("parseFlags reads --flag value, --flag=value, aliases, repeats of a list flag, and --", () => {
  const a = parseFlags(
    ["--json", "--cpus", "4", "--switch=v3", "-h", "--ram", "A", "--ram=B", "x", "--", "--cpus"],
    SPEC,
  );
  assertEquals([a.json, a.help, a.cpus, a.switch, a.ram, a._], [
    true,
    true,
    "4",
    "v3",
    ["A", "B"],
    ["x", "--cpus"],
  ]);
  const none = parseFlags([], SPEC);
  assertEquals([none.json, none.cpus, none.ram, none._], [false, undefined, [], []]);
});

Deno.test("parseFlags refuses what it cannot read one way, naming the flag", () => {
  for (
    const [argv, msg, flag] of [
      [["--bogus"], "unknown flag --bogus (--help lists the flags)", "--bogus"],
      [["-x"], "unknown flag -x (--help lists the flags)", "-x"],
      [
        ["--cpus", "2", "--cpus=4"],
        '--cpus given twice ("2", then "4"): it takes one value',
        "--cpus",
      ],
      [["--switch", ""], '--switch "": the value is empty', "--switch"],
      [["--switch="], '--switch "": the value is empty', "--switch"],
      [["--cpus"], "--cpus needs a value", "--cpus"],
      [["--cpus", "--json"], "--cpus needs a value (--json is a flag)", "--cpus"],
      [["--json=yes"], '--json takes no value (got "yes")', "--json"],
    ] as const
  ) {
    const e = assertThrows(() => parseFlags(argv, SPEC), BadInput, msg);
    assertEquals(e.details, { flag }, argv.join(" "));
  }
});

Deno.test("parseFlags: the word after a value flag is its value even with a dash; a lone negative number is an argument", () => {
  assertEquals(parseFlags(["--cpus", "-1"], SPEC).cpus, "-1");
  assertEquals(parseFlags(["--switch", "-weird-name.S"], SPEC).switch, "-weird-name.S");
  assertEquals(parseFlags(["-1", "-"], SPEC)._, ["-1", "-"]);
});

Deno.test("integerFlag takes decimal and hex within the range, and says the value is invalid otherwise", () => {
  assertEquals(integerFlag("--cpus", "8", 1, 256), 8);
  assertEquals(integerFlag("--seed", "0x10", 0, 100), 16);
  for (const v of ["-1", "0", "257", "1.5", "four", "0x"]) {
    assertThrows(
      () => integerFlag("--cpus", v, 1, 256),
      BadInput,
      `--cpus ${v}: invalid value; expected an integer in 1..256`,
    );
  }
});

Deno.test("runCli: bad input is one stderr line and exit 2, plus the JSON object with --json", async () => {
  const lines = { out: [] as string[], err: [] as string[] };
  const output = { out: (l: string) => lines.out.push(l), err: (l: string) => lines.err.push(l) };
  const bad = () => {
    throw new BadInput("--cpus 0: invalid value\nsecond line", { flag: "--cpus" });
  };
  assertEquals(await runCli("boot.ts", ["--cpus", "0"], bad, output), 2);
  assertEquals(lines, { out: [], err: ["boot: --cpus 0: invalid value"] });
  lines.err.length = 0;
  assertEquals(await runCli("boot.ts", ["--json", "--cpus", "0"], bad, output), 2);
  assertEquals(lines.err, ["boot: --cpus 0: invalid value"]);
  assertEquals(JSON.parse(lines.out[0]!), { error: "--cpus 0: invalid value", flag: "--cpus" });
  // A success passes the status through; anything else is a bug and propagates.
  assertEquals(await runCli("boot.ts", [], () => 1, output), 1);
  await assertRejects(
    () =>
      runCli("boot.ts", [], () => {
        throw new TypeError("a bug");
      }, output),
    TypeError,
    "a bug",
  );
});

Deno.test("wantsJson looks before any --", () => {
  assertEquals(wantsJson(["--json"]), true);
  assertEquals(wantsJson(["--", "--json"]), false);
  assertEquals(wantsJson(["x"]), false);
});

Deno.test("progressLine: silent when disabled and at first, throttled, erased at the end", () => {
  let t = 0;
  const written: string[] = [];
  const make = (enabled: boolean) =>
    progressLine({
      enabled,
      write: (s) => written.push(s),
      now: () => t,
      delayMs: 500,
      everyMs: 100,
    });
  const off = make(false);
  t = 1000;
  off("a", 1, 10);
  off("a", 10, 10);
  assertEquals(written, []);
  t = 0;
  const p = make(true);
  p("a", 1, 1000); // too early
  t = 600;
  p("a", 500, 1000);
  t = 650;
  p("a", 600, 1000); // throttled
  t = 700;
  p("a", 700, 1000);
  p("a", 1000, 1000);
  assertEquals(written, [
    "\r\x1b[Ka: 50% (500 of 1,000 operations)",
    "\r\x1b[Ka: 70% (700 of 1,000 operations)",
    "\r\x1b[K",
  ]);
  // A short run that never showed anything erases nothing.
  written.length = 0;
  t = 0;
  const q = make(true);
  q("b", 10, 10);
  assertEquals(written, []);
});
