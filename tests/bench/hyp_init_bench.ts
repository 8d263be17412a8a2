/**
 * Checking a whole hyp-init.S, every routine from every state it is entered
 * in, with the release models (target: ≤ 50 ms warm, parse included):
 *
 *   deno bench --allow-read tests/bench/hyp_init_bench.ts
 */
import { check, checkProgram, parseA64 } from "../plugins/a64/deps.ts";

const DIR = new URL("../fixtures/hyp_init/", import.meta.url);

for (const release of ["v6.1", "v6.12", "v7.2"]) {
  const text = Deno.readTextFileSync(new URL(`${release}/hyp-init.S`, DIR));
  Deno.bench({
    group: "hyp-init.S, whole file",
    name: `${release}: parse + check every routine`,
    baseline: release === "v6.1",
    fn() {
      const r = check(text, {}, { release });
      if (r.routines.length < 7) throw new Error(`${release}: ${r.routines.length} routines`);
    },
  });
  const program = parseA64(text, { release });
  Deno.bench({
    group: "hyp-init.S, check only",
    name: `${release}: check every routine (already parsed)`,
    fn() {
      checkProgram(program);
    },
  });
}
