/**
 * Runs the benches that carry a target and prints, per figure, the target
 * and whether it was met; with `--process`, also the whole-process goals:
 * `examples/boot.ts` under `/usr/bin/time` per profile at the default
 * machine, 64 GiB / 8 CPUs, 256 GiB and 1 TiB (wall time, CPU time and
 * max RSS, medians of 5). A time goal is judged on CPU time (user + system):
 * on a shared machine the wall time carries the waits for a core, and on a
 * quiet one it is at most the CPU time (V8's helper threads add CPU time,
 * not wall time), so a CPU time within the goal is a wall time within it.
 *
 *     deno task bench:targets               # the deno bench goals
 *     deno task bench:targets --process     # and the whole-process goals
 *
 * A bench figure is judged by its p75 (the machine may be shared: the
 * average carries the pauses of other processes; p75 is what a quiet run
 * shows). A target reads `[target ≤ N unit: K× C M unit]`: the same work in
 * C took M on the machine where the README's table was taken; a figure
 * within N there is within K× of C. On another machine, compare ratios.
 *
 * @module
 */

const BENCHES = [
  "page_allocator_init_bench.ts",
  "page_allocator_pair_bench.ts",
  "page_allocator_fresh_bench.ts",
  "page_allocator_churn_bench.ts",
  "kvm_pgtable_bench.ts",
  "mmu_bench.ts",
  "compare_bench.ts",
];

const UNIT_NS: Record<string, number> = { ns: 1, "µs": 1e3, ms: 1e6, s: 1e9 };
const TARGET = /\[target ≤ ([\d.]+) (ns|µs|ms|s)(?:: ([\d.]+)× C ([\d.]+) (?:ns|µs|ms|s))?\]/;

interface Row {
  name: string;
  figure: string;
  /** The fastest iteration (what a quiet machine approaches). */
  min?: string;
  target: string;
  ratio: string;
  met: boolean;
}

function fmtNs(ns: number, unit: string): string {
  const v = ns / UNIT_NS[unit]!;
  return `${Number(v.toPrecision(3))} ${unit}`;
}

function benchRows(dir: string): Row[] {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["bench", "--json", "--allow-read", ...BENCHES.map((b) => `${dir}/${b}`)],
    stdout: "piped",
    stderr: "inherit",
  }).outputSync();
  const text = new TextDecoder().decode(out.stdout);
  const json = JSON.parse(text.slice(text.indexOf("{")));
  const rows: Row[] = [];
  for (const b of json.benches) {
    const m = TARGET.exec(b.name);
    if (m === null) continue;
    const ok = b.results[0]?.ok;
    const name = `${b.group ? b.group + ": " : ""}${b.name.replace(TARGET, "").trim()}`;
    const unit = m[2]!;
    const limit = Number(m[1]) * UNIT_NS[unit]!;
    if (ok === undefined) {
      rows.push({ name, figure: "failed", target: `≤ ${m[1]} ${unit}`, ratio: "", met: false });
      continue;
    }
    const ns = ok.p75 as number;
    const ratio = m[4] === undefined ? "" : `${(ns / (Number(m[4]) * UNIT_NS[unit]!)).toFixed(1)}×`;
    rows.push({
      name,
      figure: fmtNs(ns, unit),
      min: fmtNs(ok.min as number, unit),
      target: `≤ ${m[1]} ${unit}${m[3] ? ` (${m[3]}× C)` : ""}`,
      ratio,
      met: ns <= limit,
    });
  }
  return rows;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** CPU (user + system) seconds, wall seconds and max RSS (MiB) of one process, medians of `runs`. */
function timeProcess(args: string[], runs: number): { cpu: number; wall: number; rss: number } {
  const times: number[] = [];
  const walls: number[] = [];
  const rsss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = new Deno.Command("/usr/bin/time", {
      args: ["-f", "%e %U %S %M", Deno.execPath(), ...args],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    const last = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)!;
    const [wall, user, sys, kb] = last.split(" ").map(Number);
    walls.push(wall!);
    times.push(user! + sys!);
    rsss.push(kb! / 1024);
  }
  return { cpu: median(times), wall: median(walls), rss: median(rsss) };
}

/** A process figure as the table prints it. */
function processFigure(p: { cpu: number; wall: number; rss: number }): string {
  return `CPU ${Math.round(p.cpu * 1000)} ms (wall ${Math.round(p.wall * 1000)} ms), ${
    Math.round(p.rss)
  } MiB`;
}

/** The whole-process goals: wall time and max RSS of examples/boot.ts. */
function processRows(root: string, runs: number): Row[] {
  const machines: { label: string; args: string[]; time?: number; rss?: number }[] = [
    { label: "default machine (4 GiB, 4 CPUs)", args: [], time: 0.12 },
    { label: "64 GiB, 8 CPUs", args: ["--ram", "0x40000000:64G", "--cpus", "8"] },
    { label: "256 GiB", args: ["--ram", "0x40000000:256G"], time: 1, rss: 128 },
    { label: "1 TiB", args: ["--ram", "0x40000000:1024G"], time: 3, rss: 256 },
  ];
  // The floor under every boot figure: starting deno and loading boot.ts's
  // modules, with no machine built (--help returns before the boot).
  const rows: Row[] = [{
    // Deno's own start-up, which no change to hyplab can take away.
    name: "deno run /dev/null (deno start-up alone)",
    figure: processFigure(timeProcess(["run", "/dev/null"], runs)),
    target: "(none)",
    ratio: "",
    met: true,
  }, {
    name: "boot.ts --help (deno start-up and module load, no boot)",
    figure: processFigure(timeProcess(["run", `${root}/examples/boot.ts`, "--help"], runs)),
    target: "(none)",
    ratio: "",
    met: true,
  }];
  for (const profile of ["v7.2", "v6.1", "v6.12", "v5.13"]) {
    for (const m of machines) {
      const p = timeProcess(
        ["run", `${root}/examples/boot.ts`, "--profile", profile, ...m.args],
        runs,
      );
      const goals: string[] = [];
      let met = true;
      if (m.time !== undefined) {
        goals.push(`≤ ${m.time * 1000} ms`);
        met &&= p.cpu <= m.time;
      }
      if (m.rss !== undefined) {
        goals.push(`≤ ${m.rss} MiB`);
        met &&= p.rss <= m.rss;
      }
      rows.push({
        name: `boot.ts --profile ${profile}, ${m.label}`,
        figure: processFigure(p),
        target: goals.join(", ") || "(none)",
        ratio: "",
        met: goals.length === 0 || met,
      });
    }
  }
  return rows;
}

if (import.meta.main) {
  const here = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
  const root = `${here}/../..`;
  const rows = Deno.args.includes("--only-process") ? [] : benchRows(here);
  if (Deno.args.includes("--process") || Deno.args.includes("--only-process")) {
    rows.push(...processRows(root, 5));
  }
  console.log("| figure | p75 (benches) / median (boots) | min | ratio to C (p75) | target | |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.figure} | ${r.min ?? ""} | ${r.ratio} | ${r.target} | ${
        r.met ? "met" : "MISSED"
      } |`,
    );
  }
  const missed = rows.filter((r) => !r.met).length;
  console.log(missed === 0 ? "every target met" : `${missed} of ${rows.length} targets missed`);
}
