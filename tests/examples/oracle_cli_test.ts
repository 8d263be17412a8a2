import { assertEquals, assertStringIncludes } from "@std/assert";

// The oracle CLI as a user runs it, without QEMU or network: bad input,
// a cache without the kernel, QEMU missing, and — with a stand-in for
// qemu-system-aarch64 (tests/fixtures/oracle/fake_qemu) — a kernel that
// panics before pKVM and a gdb stub that hangs up. Every failure is one line
// on stderr (plus { "error" } on stdout with --json), exit 2, no stack trace,
// and no process left behind.

const ROOT = new URL("../../", import.meta.url).pathname;
const FIX = `${ROOT}tests/fixtures/oracle`;
const DENO_DIR = Deno.execPath().replace(/\/[^/]+$/, "");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/oracle.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", HYPLAB_CACHE: `${FIX}/cache`, ...env },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** One line on stderr, exit 2, no stack trace. */
function oneLine(r: Result, message: string | RegExp): void {
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  if (typeof message === "string") assertEquals(lines[0], `oracle: ${message}`);
  else if (!message.test(lines[0]!)) throw new Error(`${lines[0]} !~ ${message}`);
  assertEquals(/\bat .*\.ts:\d+/.test(r.stderr + r.stdout), false, "a stack trace");
}

/**
 * The stand-in QEMU's pid from its console (written to stdout with
 * `--console /dev/stdout`), and whether that process still runs.
 */
async function fakeQemuAlive(stdout: string): Promise<boolean> {
  const pid = /fake-qemu pid (\d+)/.exec(stdout)?.[1];
  if (!pid) throw new Error(`no fake-qemu pid in the console: ${stdout.slice(0, 200)}`);
  const r = await new Deno.Command("sh", { args: ["-c", `kill -0 ${pid} 2>/dev/null`] }).output();
  return r.success;
}

Deno.test("oracle CLI: --help prints usage; no command or a bad one is one line", async () => {
  const help = await cli(["--help"]);
  assertEquals(help.code, 0);
  for (const command of ["setup", "observe", "predict", "diff", "refresh"]) {
    assertStringIncludes(help.stdout, `  ${command} `);
  }
  const sub = await cli(["observe", "--help"]);
  assertEquals(sub.code, 0);
  assertStringIncludes(sub.stdout, "--system-map PATH");
  oneLine(
    await cli([]),
    "a command is needed: refresh, predict, diff, setup, observe (--help for usage)",
  );
  oneLine(
    await cli(["bogus"]),
    "unknown command bogus: choose refresh, predict, diff, setup, observe (--help for usage)",
  );
});

Deno.test("oracle CLI: bad observe flags", async (t) => {
  const cases: [string[], string][] = [
    [["observe"], "--kernel: required (6.1, 6.12, 7.2 or a PATH)"],
    [
      ["observe", "--kernel", "5.10"],
      "--kernel 5.10: neither a cached kernel (6.1, 6.12, 7.2) nor a file",
    ],
    [
      ["observe", "--kernel", "6.1", "--cpu", "cortex-a53"],
      "--cpu cortex-a53: choose cortex-a57, neoverse-n1, max",
    ],
    [["observe", "--kernel", "6.1", "--cpus", "9"], "--cpus 9: expected an integer 1..8"],
    [["observe", "--kernel", "6.1", "--cpus", "-1"], "unknown flag -1"],
    [["observe", "--kernel", "6.1", "--ram", "4X"], "--ram 4X: expected a size such as 2G or 512M"],
    [
      ["observe", "--kernel", "6.1", "--ram", "100M"],
      "--ram 100M: expected a whole number of MiB in 256M..255G",
    ],
    [["observe", "--kernel", "6.1", "--timeout", "0"], "--timeout 0: expected an integer 1..86400"],
    [
      ["observe", "--kernel", "6.1", "--profile", "v6.1"],
      "--system-map and --profile go with --kernel PATH, not a cached kernel",
    ],
    [
      ["observe", "--kernel", "README.md"],
      "--kernel README.md: a kernel file needs --system-map PATH",
    ],
    [
      ["observe", "--kernel", "6.1", "--out", "/nonexistent/dir/obs.json"],
      "--out /nonexistent/dir/obs.json: cannot write: No such file or directory (os error 2): open '/nonexistent/dir/obs.json'",
    ],
    [["observe", "--kernel", "6.1", "extra"], "unexpected argument extra"],
    [["observe", "--frob"], "unknown flag --frob"],
    [["setup", "--kernel", "5.10"], "--kernel 5.10: choose 6.1, 6.12, 7.2"],
  ];
  for (const [args, msg] of cases) {
    await t.step(args.join(" "), async () => {
      const r = await cli(args);
      oneLine(r, msg);
      assertEquals(r.stdout, "");
    });
  }
});

Deno.test("oracle CLI: --json adds { error } on stdout", async () => {
  const r = await cli(["observe", "--kernel", "6.1", "--cpus", "0", "--json"]);
  oneLine(r, "--cpus 0: expected an integer 1..8");
  assertEquals(JSON.parse(r.stdout), { error: "--cpus 0: expected an integer 1..8" });
});

Deno.test("oracle CLI: a kernel missing from the cache says to run setup", async () => {
  const r = await cli(["observe", "--kernel", "7.2", "--json"], {
    HYPLAB_CACHE: `${FIX}/no-cache`,
  });
  const msg =
    `kernel 7.2 is not in the cache (${FIX}/no-cache/kernels/7.2): run \`deno run -A examples/oracle.ts setup\``;
  oneLine(r, msg);
  assertEquals(JSON.parse(r.stdout).error, msg);
});

Deno.test("oracle CLI: QEMU missing says to run setup", async () => {
  const r = await cli(["observe", "--kernel", "6.1"], { PATH: "/nonexistent" });
  oneLine(
    r,
    "qemu-system-aarch64 is not installed: run `deno run -A examples/oracle.ts setup` (it installs qemu-system-arm)",
  );
});

const FAKE_PATH = `${FIX}/fake_qemu:${DENO_DIR}:/usr/bin:/bin`;

Deno.test("oracle CLI: a kernel that panics before pKVM is one line, and QEMU is stopped", async () => {
  const r = await cli([
    "observe",
    "--kernel",
    "6.12",
    "--timeout",
    "60",
    "--console",
    "/dev/stdout",
  ], {
    PATH: FAKE_PATH,
  });
  oneLine(
    r,
    /^oracle: the kernel panicked before pKVM initialised \(last console lines: .*Kernel panic - not syncing: Attempted to kill init!/,
  );
  assertEquals(await fakeQemuAlive(r.stdout), false);
});

Deno.test("oracle CLI: a gdb stub that hangs up is one line, and QEMU is stopped", async () => {
  const r = await cli(
    ["observe", "--kernel", "6.1", "--timeout", "60", "--json", "--console", "/dev/stdout"],
    { PATH: FAKE_PATH },
  );
  oneLine(
    r,
    /^oracle: gdb stub at 127\.0\.0\.1:\d+: no reply to "qXfer:features:read:target\.xml:0,ffb": the stub closed the connection$/,
  );
  // stdout: the console (--console /dev/stdout), then the JSON error.
  const json = r.stdout.slice(r.stdout.lastIndexOf("\n{\n") + 1);
  assertStringIncludes(JSON.parse(json).error, "the stub closed the connection");
  assertEquals(await fakeQemuAlive(r.stdout), false);
});

Deno.test("oracle CLI: diff of a recording without the later EL2 registers names them", async () => {
  const src = `${FIX}/observations/v6.12-neoverse-n1-1G-1cpu.json`;
  const obs = JSON.parse(await Deno.readTextFile(src));
  for (
    const r of [
      "VBAR_EL2",
      "TPIDR_EL2",
      "MDCR_EL2",
      "CPTR_EL2",
      "CNTHCTL_EL2",
      "VPIDR_EL2",
      "VMPIDR_EL2",
    ]
  ) delete obs.observed.sysregs[r];
  delete obs.observed.kvm_hyp_vector;
  const dir = await Deno.makeTempDir();
  try {
    const old = `${dir}/old.json`;
    await Deno.writeTextFile(old, JSON.stringify(obs));
    const r = await cli(["diff", old]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(
      r.stdout,
      "compared fields agree; VBAR_EL2, TPIDR_EL2, MDCR_EL2, CPTR_EL2, CNTHCTL_EL2, VPIDR_EL2, VMPIDR_EL2, kvm_hyp_vector not in this recording",
    );
    const j = await cli(["diff", old, src, "--json"]);
    assertEquals(j.code, 0, j.stderr);
    const files = JSON.parse(j.stdout).files;
    assertEquals(files[0].notRecorded.length, 8);
    assertEquals(files[1].notRecorded, []);
    assertEquals(files[1].compared > files[0].compared, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
