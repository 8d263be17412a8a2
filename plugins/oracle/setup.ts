/**
 * `setup`: installs QEMU when it is missing and fetches the oracle's kernels
 * into the cache, idempotently.
 *
 * Each kernel is what a Debian suite's `linux-image-arm64` depends on
 * (bookworm → 6.1, trixie → 6.12, sid → 7.2): the Image from the
 * `-unsigned` image package (or `linux-binary-<abi>` where the image
 * package became a metapackage, as in sid), and the System.map from the
 * `-dbg` package (the image packages ship an 83-byte placeholder). The
 * packages come from the machine's own Debian mirror through a private apt
 * state under the cache; the `.deb` files are deleted once the two files are
 * out. A kernel whose suite still has the version in `manifest.json` is left
 * alone.
 *
 * @module
 */

import { formatSize } from "../../core/mod.ts";
import { chooseDebianArchive, systemAptSources } from "./apt_source.ts";
import { extractFromDeb } from "./deb_extract.ts";
import { OracleError } from "./errors.ts";
import {
  findCachedKernel,
  KERNEL_NAMES,
  kernelDir,
  type KernelManifest,
  type KernelName,
  KERNELS,
} from "./kernel_cache.ts";
import { PrivateApt } from "./private_apt.ts";
import { QEMU_BINARY, qemuVersion } from "./qemu.ts";
import { parseSystemMap } from "./system_map.ts";

/** Options of {@link setup}. */
export interface SetupOptions {
  /** Cache root. */
  cache: string;
  /** Kernels to fetch (default all). */
  kernels?: readonly KernelName[];
  /** Progress lines. */
  log: (line: string) => void;
  /** Debian archive URI (default: `$HYPLAB_DEBIAN_MIRROR`, else the machine's apt sources). */
  mirror?: string;
}

/** What setup did. */
export interface SetupResult {
  /** QEMU's version line, and whether setup installed it. */
  qemu: { version: string; installed: boolean };
  /** Per kernel: fetched, or already up to date. */
  kernels: { name: KernelName; status: "fetched" | "up to date"; manifest: KernelManifest }[];
}

/** The package that provides qemu-system-aarch64 on Debian. */
export const QEMU_PACKAGE = "qemu-system-arm";

async function ensureQemu(log: (l: string) => void): Promise<SetupResult["qemu"]> {
  try {
    return { version: await qemuVersion(), installed: false };
  } catch (e) {
    if (!(e instanceof OracleError)) throw e;
  }
  if (Deno.uid?.() !== 0) {
    throw new OracleError(
      `${QEMU_BINARY} is missing: install it as root with \`apt-get install ${QEMU_PACKAGE}\`, then run setup again`,
    );
  }
  log(`installing ${QEMU_PACKAGE} (apt-get install)`);
  const out = await new Deno.Command("apt-get", {
    args: ["install", "-y", "-q", QEMU_PACKAGE],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    throw new OracleError(`apt-get install ${QEMU_PACKAGE} failed: ${err}`);
  }
  return { version: await qemuVersion(), installed: true };
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

const IMAGE_MEMBER = /(^|\/)(boot\/vmlinuz-[^/]+|lib\/modules\/[^/]+\/vmlinuz)$/;
const SYSTEM_MAP_MEMBER = /(^|\/)System\.map[^/]*$/;

/** The packages one kernel comes from. */
interface KernelPackages {
  abi: string;
  image: string;
  dbg: string;
  version: string;
}

async function resolvePackages(
  apt: PrivateApt,
  name: KernelName,
  version: string,
): Promise<KernelPackages> {
  const suite = KERNELS[name].suite;
  const meta = await apt.show("linux-image-arm64", version);
  const deps = meta?.get("Depends") ?? "";
  const dep = [...deps.matchAll(/\blinux-image-([\w.+~-]+) \(= ([^)]+)\)/g)].find((m) =>
    m[1] !== "arm64"
  );
  if (!dep) {
    throw new OracleError(
      `${suite}: linux-image-arm64 ${version} depends on no linux-image-<release> package ("${deps}")`,
    );
  }
  const abi = dep[1]!.replace(/-unsigned$/, "");
  let image: string | null = null;
  for (const p of [`linux-image-${abi}-unsigned`, `linux-binary-${abi}`, `linux-image-${abi}`]) {
    if (await apt.show(p, version)) {
      image = p;
      break;
    }
  }
  if (!image) throw new OracleError(`${suite}: no image package for ${abi} ${version}`);
  const dbg = `linux-image-${abi}-dbg`;
  if (!(await apt.show(dbg, version))) {
    throw new OracleError(
      `${suite}: ${dbg} ${version} is not in the archive (System.map comes from it)`,
    );
  }
  return { abi, image, dbg, version };
}

async function fetchKernel(
  apt: PrivateApt,
  cache: string,
  name: KernelName,
  version: string,
  log: (l: string) => void,
): Promise<KernelManifest> {
  const pk = await resolvePackages(apt, name, version);
  const dir = kernelDir(cache, name);
  const tmp = `${dir}/.fetch`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  try {
    const size = async (p: string) => {
      const s = Number((await apt.show(p, version))?.get("Size") ?? NaN);
      return Number.isFinite(s) ? ` (${formatSize(s)})` : "";
    };
    log(`${name}: downloading ${pk.image} ${version}${await size(pk.image)}`);
    const imageDeb = await apt.download(pk.image, version, tmp);
    const imageMember = await extractFromDeb(
      imageDeb,
      (h) => IMAGE_MEMBER.test(h.path) && h.size > 2 ** 20,
      `${tmp}/Image`,
    );
    await Deno.remove(imageDeb);
    const head = (await Deno.readFile(`${tmp}/Image`)).subarray(0x38, 0x3c);
    if (new TextDecoder().decode(head) !== "ARM\x64") {
      throw new OracleError(
        `${pk.image}: ${imageMember} is not an arm64 Image (no ARM\\x64 magic)`,
      );
    }
    log(`${name}: downloading ${pk.dbg} ${version}${await size(pk.dbg)} for its System.map`);
    const dbgDeb = await apt.download(pk.dbg, version, tmp);
    const mapMember = await extractFromDeb(
      dbgDeb,
      (h) => SYSTEM_MAP_MEMBER.test(h.path) && h.size > 4096,
      `${tmp}/System.map`,
    );
    await Deno.remove(dbgDeb);
    parseSystemMap(await Deno.readTextFile(`${tmp}/System.map`), `${pk.dbg}:${mapMember}`);
    const manifest: KernelManifest = {
      kernel: name,
      suite: KERNELS[name].suite,
      meta_version: version,
      image_package: pk.image,
      image_version: version,
      image_member: imageMember.replace(/^\.\//, ""),
      dbg_package: pk.dbg,
      dbg_version: version,
      system_map_member: mapMember.replace(/^\.\//, ""),
      kernel_release: pk.abi,
      mirror: apt.mirror,
      fetched: today(),
    };
    // Replace the manifest last: a fetch cut short leaves the old kernel or none.
    await Deno.remove(`${dir}/manifest.json`).catch(() => {});
    await Deno.rename(`${tmp}/Image`, `${dir}/Image`);
    await Deno.rename(`${tmp}/System.map`, `${dir}/System.map`);
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
    return manifest;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Installs QEMU if needed (as root; otherwise says what to run) and fetches
 * the kernels.
 *
 * @param opts Cache, kernels, progress.
 * @returns What was done.
 * @throws {OracleError} QEMU missing without root, no Debian mirror, apt
 *   failures, a suite whose `linux-image-arm64` moved to another major.minor.
 */
export async function setup(opts: SetupOptions): Promise<SetupResult> {
  const qemu = await ensureQemu(opts.log);
  opts.log(`qemu: ${qemu.version}${qemu.installed ? " (installed)" : ""}`);
  const names = opts.kernels ?? KERNEL_NAMES;
  const mirror = opts.mirror ?? Deno.env.get("HYPLAB_DEBIAN_MIRROR") ??
    chooseDebianArchive(await systemAptSources());
  const apt = new PrivateApt(
    `${opts.cache}/apt`,
    mirror.replace(/\/+$/, ""),
    names.map((n) => KERNELS[n].suite),
  );
  await apt.init();
  const cached = new Map<KernelName, Awaited<ReturnType<typeof findCachedKernel>>>();
  for (const n of names) cached.set(n, await findCachedKernel(opts.cache, n));
  try {
    await apt.update();
  } catch (e) {
    if (!(e instanceof OracleError) || names.some((n) => !cached.get(n))) throw e;
    opts.log(`could not look for new kernel versions (${e.message}); keeping the cached kernels`);
    return {
      qemu,
      kernels: names.map((n) => ({
        name: n,
        status: "up to date",
        manifest: cached.get(n)!.manifest,
      })),
    };
  }
  const rows = await apt.madison("linux-image-arm64");
  const result: SetupResult = { qemu, kernels: [] };
  for (const name of names) {
    const suite = KERNELS[name].suite;
    const row = rows.find((r) => r.suite === suite);
    if (!row) throw new OracleError(`${suite} has no linux-image-arm64 for arm64 at ${mirror}`);
    if (!row.version.startsWith(`${name}.`)) {
      throw new OracleError(
        `${suite}'s linux-image-arm64 is now ${row.version}, no longer ${name}.x: the ${name} kernel cannot be fetched from ${suite}`,
      );
    }
    await Deno.mkdir(kernelDir(opts.cache, name), { recursive: true });
    const have = cached.get(name);
    if (have && have.manifest.meta_version === row.version) {
      opts.log(
        `${name}: up to date (${have.manifest.image_package} ${have.manifest.image_version}, in ${
          kernelDir(opts.cache, name)
        })`,
      );
      result.kernels.push({ name, status: "up to date", manifest: have.manifest });
      continue;
    }
    const manifest = await fetchKernel(apt, opts.cache, name, row.version, opts.log);
    opts.log(
      `${name}: fetched ${manifest.kernel_release} (${manifest.image_package} ${manifest.image_version}) into ${
        kernelDir(opts.cache, name)
      }`,
    );
    result.kernels.push({ name, status: "fetched", manifest });
  }
  return result;
}
