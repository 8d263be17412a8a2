/**
 * Takes one file out of a `.deb` without unpacking the rest:
 * `dpkg-deb --fsys-tarfile` streams the data archive as tar, and the first
 * regular file whose path matches is copied out, then the stream is dropped.
 * A `-dbg` package's System.map is its first regular file, so taking it
 * from a 1 GB package costs a fraction of a second.
 *
 * @module
 */

import { OracleError } from "./errors.ts";

/** A tar member header. */
export interface TarHeader {
  /** Path as stored (`./usr/lib/debug/boot/System.map-6.1.0-50-arm64`). */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Type flag (`0` regular, `5` directory, `2` symlink, ...). */
  type: string;
}

class ByteStream {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf = new Uint8Array(0);
  #off = 0;
  constructor(s: ReadableStream<Uint8Array>) {
    this.#reader = s.getReader();
  }
  async #fill(): Promise<boolean> {
    const r = await this.#reader.read();
    if (r.done) return false;
    const rest = this.#buf.subarray(this.#off);
    const merged = new Uint8Array(rest.length + r.value.length);
    merged.set(rest);
    merged.set(r.value, rest.length);
    this.#buf = merged;
    this.#off = 0;
    return true;
  }
  /** Exactly n bytes, or null at a clean end of stream. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.#buf.length - this.#off < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length - this.#off === 0) return null;
        throw new OracleError("the tar stream ends inside a member");
      }
    }
    const out = this.#buf.slice(this.#off, this.#off + n);
    this.#off += n;
    return out;
  }
  /** Hands n bytes to `sink` chunk by chunk. */
  async pipe(n: number, sink: (chunk: Uint8Array) => Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length - this.#off === 0 && !(await this.#fill())) {
        throw new OracleError("the tar stream ends inside a member");
      }
      const take = Math.min(left, this.#buf.length - this.#off);
      await sink(this.#buf.subarray(this.#off, this.#off + take));
      this.#off += take;
      left -= take;
    }
  }
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

function text(b: Uint8Array, from: number, len: number): string {
  const s = b.subarray(from, from + len);
  const end = s.indexOf(0);
  return new TextDecoder().decode(end < 0 ? s : s.subarray(0, end));
}

function octal(b: Uint8Array, from: number, len: number): number {
  if ((b[from]! & 0x80) !== 0) {
    // GNU base-256 for sizes of 8 GiB and more.
    let v = 0;
    for (let i = from + 1; i < from + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = text(b, from, len).trim();
  return s ? parseInt(s, 8) : 0;
}

/**
 * Walks a tar stream and hands the contents of the first regular file `want`
 * accepts to `sink`, chunk by chunk; the rest of the stream is not read.
 * Handles ustar prefixes, GNU long names (`L`) and pax `path=` records.
 *
 * @param stream The tar bytes.
 * @param want Predicate on a member (path, size).
 * @param sink Receives the member's bytes.
 * @returns The member's header, or null when none matched.
 * @throws {OracleError} On a malformed tar.
 */
export async function extractFirstFromTar(
  stream: ReadableStream<Uint8Array>,
  want: (h: TarHeader) => boolean,
  sink: (chunk: Uint8Array) => Promise<void>,
): Promise<TarHeader | null> {
  const s = new ByteStream(stream);
  let longName: string | null = null;
  try {
    while (true) {
      const h = await s.read(512);
      if (!h || h.every((x) => x === 0)) return null;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
      if (sum !== octal(h, 148, 8)) throw new OracleError("tar header checksum mismatch");
      const size = octal(h, 124, 12);
      const type = String.fromCharCode(h[156]!) === "\0" ? "0" : String.fromCharCode(h[156]!);
      const prefix = text(h, 257, 6).startsWith("ustar") ? text(h, 345, 155) : "";
      const path = longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
      longName = null;
      const padded = Math.ceil(size / 512) * 512;
      if (type === "L" || type === "x") {
        const data = new TextDecoder().decode((await s.read(padded)) ?? new Uint8Array(0))
          .slice(0, size);
        if (type === "L") longName = data.replace(/\0+$/, "");
        else {
          const m = /\d+ path=([^\n]*)\n/.exec(data);
          if (m) longName = m[1]!;
        }
        continue;
      }
      const header = { path, size, type };
      if (type === "0" && want(header)) {
        await s.pipe(size, sink);
        return header;
      }
      await s.pipe(padded, () => Promise.resolve());
    }
  } finally {
    await s.cancel();
  }
}

/**
 * Copies the first regular file of a `.deb`'s data archive that `want`
 * accepts to `dest`, using `dpkg-deb --fsys-tarfile`.
 *
 * @param deb The package file.
 * @param want Predicate on a member.
 * @param dest Destination path.
 * @returns The member's path in the package.
 * @throws {OracleError} When dpkg-deb is missing or fails, or nothing matches.
 */
export async function extractFromDeb(
  deb: string,
  want: (h: TarHeader) => boolean,
  dest: string,
): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("dpkg-deb", {
      args: ["--fsys-tarfile", deb],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new OracleError("dpkg-deb is not installed (it comes with dpkg on Debian and Ubuntu)");
    }
    throw e;
  }
  const errText = new Response(child.stderr).text();
  let found: TarHeader | null;
  const f = await Deno.open(dest, { write: true, create: true, truncate: true });
  try {
    found = await extractFirstFromTar(child.stdout, want, async (chunk) => {
      let off = 0;
      while (off < chunk.length) off += await f.write(chunk.subarray(off));
    });
  } finally {
    f.close();
    // Dropping the stream early makes dpkg-deb die of SIGPIPE: expected.
    try {
      child.kill("SIGTERM");
    } catch {
      // already exited
    }
  }
  const status = await child.status;
  const err = (await errText).trim();
  if (!found) {
    throw new OracleError(
      `${deb}: no matching file in the package${
        !status.success && err ? ` (dpkg-deb: ${err.split("\n").at(-1)})` : ""
      }`,
    );
  }
  return found.path;
}
