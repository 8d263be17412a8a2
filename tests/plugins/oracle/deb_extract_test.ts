import { assertEquals, assertRejects } from "@std/assert";
import { extractFirstFromTar, OracleError, type TarHeader } from "../../../plugins/oracle/mod.ts";

const enc = new TextEncoder();

/** One tar header block (ustar), with its checksum. */
function header(name: string, size: number, type: string, prefix = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, s: string) => h.set(enc.encode(s), off);
  put(0, name);
  put(100, "0000644\0");
  put(124, size.toString(8).padStart(11, "0") + "\0");
  put(156, type);
  put(257, "ustar\0");
  put(263, "00");
  put(345, prefix);
  put(148, "        ");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function member(name: string, data: Uint8Array | string, type = "0", prefix = ""): Uint8Array[] {
  const d = typeof data === "string" ? enc.encode(data) : data;
  const padded = new Uint8Array(Math.ceil(d.length / 512) * 512);
  padded.set(d);
  return [header(name, d.length, type, prefix), padded];
}

function tar(parts: Uint8Array[][]): Uint8Array {
  const all = [...parts.flat(), new Uint8Array(1024)];
  const out = new Uint8Array(all.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of all) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The bytes as a stream delivered in awkward chunk sizes. */
function stream(bytes: Uint8Array, chunk = 333): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= bytes.length) return c.close();
      c.enqueue(bytes.slice(off, off + chunk));
      off += chunk;
    },
  });
}

async function extract(bytes: Uint8Array, want: (h: TarHeader) => boolean) {
  const got: number[] = [];
  const h = await extractFirstFromTar(stream(bytes), want, (c) => {
    got.push(...c);
    return Promise.resolve();
  });
  return { h, text: new TextDecoder().decode(Uint8Array.from(got)) };
}

const longName = "./usr/lib/debug/lib/modules/7.2.13+deb14-arm64/" + "x".repeat(80) + "/System.map";
const big = new Uint8Array(5000).map((_, i) => 65 + (i % 26));
const ARCHIVE = tar([
  member("./", "", "5"),
  member("./usr/lib/debug/boot/System.map-6.1.0-50-arm64", "placeholder", "2"),
  member("././@LongLink", longName + "\0", "L"),
  member("ignored-short-name", "ffff800008000000 T _text\n"),
  member("vmlinuz-6.1.0-50-arm64", big, "0", "./boot"),
]);

Deno.test("tar: the first regular file that matches, through long names and prefixes", async () => {
  const a = await extract(ARCHIVE, (h) => /System\.map/.test(h.path));
  assertEquals(a.h, { path: longName, size: 25, type: "0" });
  assertEquals(a.text, "ffff800008000000 T _text\n");
  const b = await extract(ARCHIVE, (h) => /vmlinuz/.test(h.path));
  assertEquals(b.h?.path, "./boot/vmlinuz-6.1.0-50-arm64");
  assertEquals(b.text.length, 5000);
  assertEquals(b.text.slice(0, 3), "ABC");
  assertEquals((await extract(ARCHIVE, () => false)).h, null);
});

Deno.test("tar: a corrupt header or a truncated member is an error", async () => {
  const bad = ARCHIVE.slice();
  bad[0] = bad[0]! ^ 1;
  await assertRejects(() => extract(bad, () => true), OracleError, "tar header checksum mismatch");
  await assertRejects(
    () => extract(ARCHIVE.slice(0, ARCHIVE.length - 1024 - 4000), (h) => /vmlinuz/.test(h.path)),
    OracleError,
    "the tar stream ends inside a member",
  );
});
