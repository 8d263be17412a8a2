import { assertEquals, assertThrows } from "@std/assert";
import { ExternalAbortError, PAGE_SIZE, PhysicalMemory, Prng } from "../../mod.ts";

const GiB = 2 ** 30;

Deno.test("PhysicalMemory rejects bad banks", async (t) => {
  await t.step("no bank", () => {
    assertThrows(() => new PhysicalMemory([]), RangeError, "no RAM bank");
  });
  await t.step("zero-sized bank", () => {
    assertThrows(() => new PhysicalMemory([{ base: 0, size: 0 }]), RangeError, "size is zero");
  });
  await t.step("unaligned bank", () => {
    assertThrows(
      () => new PhysicalMemory([{ base: 0x1000_0800, size: 0x1000 }]),
      RangeError,
      "4 KiB aligned",
    );
    assertThrows(
      () => new PhysicalMemory([{ base: 0x1000_0000, size: 0x1800 }]),
      RangeError,
      "4 KiB aligned",
    );
  });
  await t.step("overlapping banks", () => {
    assertThrows(
      () =>
        new PhysicalMemory([
          { base: 0x4000_0000, size: GiB },
          { base: 0x7fff_f000, size: 0x2000 },
        ]),
      RangeError,
      "overlaps bank [0x40000000, 0x80000000)",
    );
  });
  await t.step("bank above 52 bits", () => {
    assertThrows(() => new PhysicalMemory([{ base: 2 ** 52, size: 4096 }]), RangeError, "52-bit");
  });
  await t.step("adjacent banks are fine and sorted", () => {
    const m = new PhysicalMemory([{ base: 0x8000_0000, size: GiB }, {
      base: 0x4000_0000,
      size: GiB,
    }]);
    assertEquals(m.banks.map((b) => b.base), [0x4000_0000, 0x8000_0000]);
    assertEquals(m.end, 0xc000_0000);
    assertEquals(m.totalBytes, 2 * GiB);
  });
});

Deno.test("PhysicalMemory backs only touched pages", () => {
  const m = new PhysicalMemory([{ base: 0x4000_0000, size: 64 * GiB }]);
  assertEquals(m.read64(0x4000_0000 + 32 * GiB), 0n);
  assertEquals(m.residentBytes, 0, "reads allocate nothing");
  m.write8(0x4000_0000 + 63 * GiB + 5, 0xaa);
  assertEquals(m.residentBytes, PAGE_SIZE);
  assertEquals(m.isBacked(0x4000_0000 + 63 * GiB), true);
  assertEquals(m.backedPfns(), [(0x4000_0000 + 63 * GiB) / PAGE_SIZE]);
});

Deno.test("PhysicalMemory is little-endian at every width", () => {
  const m = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  m.write64(0x100, 0x0102030405060708n);
  assertEquals([...m.readBytes(0x100, 8)], [8, 7, 6, 5, 4, 3, 2, 1]);
  assertEquals(m.read8(0x100), 0x08);
  assertEquals(m.read16(0x100), 0x0708);
  assertEquals(m.read32(0x100), 0x05060708);
  assertEquals(m.read32(0x104), 0x01020304);
  m.write16(0x200, 0xbeef);
  m.write32(0x204, 0xdeadbeef);
  assertEquals(m.read16(0x200), 0xbeef);
  assertEquals(m.read32(0x204), 0xdeadbeef);
  m.write8(0x300, 0x1ff);
  assertEquals(m.read8(0x300), 0xff, "masked to 8 bits");
  m.write64(0x308, -1n);
  assertEquals(m.read64(0x308), 0xffff_ffff_ffff_ffffn, "taken modulo 2^64");
});

Deno.test("PhysicalMemory accesses straddling a page boundary", () => {
  const m = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  for (const w of [2, 4, 8]) {
    const pa = 0x1000 - w / 2;
    if (w === 2) m.write16(pa, 0xa1b2);
    if (w === 4) m.write32(pa, 0xa1b2c3d4);
    if (w === 8) m.write64(pa, 0xa1b2c3d4e5f60718n);
    if (w === 2) assertEquals(m.read16(pa), 0xa1b2);
    if (w === 4) assertEquals(m.read32(pa), 0xa1b2c3d4);
    if (w === 8) assertEquals(m.read64(pa), 0xa1b2c3d4e5f60718n);
  }
  const parts = new Uint32Array(2);
  m.write64Parts(0x2000, 0x11223344, 0x55667788);
  m.read64Parts(0x2000, parts);
  assertEquals([...parts], [0x11223344, 0x55667788]);
  assertEquals(m.read64(0x2000), 0x5566778811223344n);
});

Deno.test("PhysicalMemory outside every bank is an external abort and changes nothing", () => {
  const m = new PhysicalMemory([{ base: 0x4000_0000, size: 0x10000 }]);
  const before = m.digest();
  const e = assertThrows(() => m.write64(0x3fff_fffc, 1n), ExternalAbortError);
  assertEquals(e.abort, { kind: "external_abort", address: 0x3fff_fffc, size: 8, write: true });
  assertThrows(() => m.read32(0x4001_0000), ExternalAbortError, "outside every RAM bank");
  assertThrows(() => m.fill(0x4000_f000, 0x2000, 1), ExternalAbortError);
  assertThrows(() => m.writeBytes(0x4000_ffff, new Uint8Array(2)), ExternalAbortError);
  assertEquals(m.digest(), before);
  assertEquals(m.residentBytes, 0);
  assertEquals(m.probe(0x4001_0000, 1), {
    kind: "external_abort",
    address: 0x4001_0000,
    size: 1,
    write: false,
  });
  assertEquals(m.probe(0x4000_0000, 8), undefined);
});

Deno.test("PhysicalMemory bulk fill, zero and copy across page boundaries", () => {
  const m = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  m.fill(0xff0, 0x2020, 0x5a);
  assertEquals(m.read8(0xfef), 0);
  assertEquals(m.read8(0xff0), 0x5a);
  assertEquals(m.read8(0x300f), 0x5a);
  assertEquals(m.read8(0x3010), 0);
  assertEquals(m.residentBytes, 4 * PAGE_SIZE);
  m.zero(0x1000, 0x1000);
  assertEquals(m.residentBytes, 3 * PAGE_SIZE, "a fully zeroed page returns to sparse");
  assertEquals(m.read8(0x1800), 0);
  m.copy(0x8ff8, 0x2ff8, 0x10);
  assertEquals([...m.readBytes(0x8ff8, 0x10)], [...m.readBytes(0x2ff8, 0x10)]);
  // overlapping copy behaves like memmove
  m.writeBytes(0x9000, new Uint8Array([1, 2, 3, 4, 5]));
  m.copy(0x9001, 0x9000, 4);
  assertEquals([...m.readBytes(0x9000, 5)], [1, 1, 2, 3, 4]);
});

Deno.test("PhysicalMemory.digest() tracks content, not backing", () => {
  const a = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  const b = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  b.write8(0x10, 1);
  b.write8(0x10, 0);
  assertEquals(a.digest(), b.digest(), "an all-zero backed page hashes like an untouched one");
  b.write8(0x10, 1);
  assertEquals(a.digest() === b.digest(), false);
});

Deno.test("PhysicalMemory keeps at most one page a small zeroing emptied", () => {
  const m = new PhysicalMemory([{ base: 0, size: 0x10000 }]);
  m.write64Parts(0x1000, 1, 2);
  m.write64Parts(0x2000, 3, 4);
  m.zero(0x1000, 16);
  assertEquals(m.residentBytes, 2 * PAGE_SIZE, "the emptied page stays backed for now");
  assertEquals(m.read32(0x1000), 0);
  m.write32(0x1008, 9);
  m.zero(0x1008, 4);
  assertEquals(m.residentBytes, 2 * PAGE_SIZE);
  m.zero(0x2000, 8);
  assertEquals(m.backedPfns(), [2], "emptying another page releases the first");
  m.zero(0x2000, 0x1000);
  assertEquals(m.residentBytes, 0, "a whole-page zeroing releases at once");
  m.write8(0x1ff0, 5);
  assertEquals(m.read8(0x1ff0), 5, "a released page comes back clean");
  assertEquals(m.read32(0x1000), 0);
});

Deno.test("PhysicalMemory matches a flat byte model over random stores, zeroes and reads", () => {
  // Four pages, so the two-page cache, the kept empty page and the spare
  // list are all exercised by alternating accesses.
  const size = 4 * PAGE_SIZE;
  const m = new PhysicalMemory([{ base: 0x4000_0000, size }]);
  const model = new Uint8Array(size);
  const rng = new Prng(11);
  // Page 2 pinned: its view takes stores too, and it is never released.
  const pinned = m.pin(0x4000_0000 + 2 * PAGE_SIZE);
  for (let step = 0; step < 20_000; step++) {
    const op = rng.int(9);
    if (op === 7 || op === 8) {
      // Whole pages, as a freed block is zeroed: the page-at-a-time path
      // (pinned page and kept empty page included).
      const first = rng.int(4);
      const pages = 1 + rng.int(4 - first);
      const off = first * PAGE_SIZE;
      if (op === 7) {
        m.zero(0x4000_0000 + off, pages * PAGE_SIZE);
        model.fill(0, off, off + pages * PAGE_SIZE);
      } else {
        const head = Uint8Array.of(rng.int(256), 0, 0, 0, rng.int(256), 0, 0, 0);
        m.zeroThenWrite(0x4000_0000 + off, pages * PAGE_SIZE, head);
        model.fill(0, off, off + pages * PAGE_SIZE);
        model.set(head, off);
      }
      continue;
    }
    if (op === 6) {
      // A freed block with a node: zero a range, then a head at its start.
      const off = rng.int(size - 8);
      const n = 1 + rng.int(Math.min(3 * PAGE_SIZE, size - off) - 1);
      const head = new Uint8Array(Math.min(n, 1 + rng.int(24)));
      for (let i = 0; i < head.length; i++) head[i] = rng.int(256);
      m.zeroThenWrite(0x4000_0000 + off, n, head);
      model.fill(0, off, off + n);
      model.set(head, off);
      continue;
    }
    if (op === 5) {
      const i = rng.int(PAGE_SIZE);
      const v = rng.int(256);
      pinned[i] = v;
      model[2 * PAGE_SIZE + i] = v;
      continue;
    }
    const off = rng.int(size - 8) & ~7;
    const pa = 0x4000_0000 + off;
    if (op === 0) {
      const v = rng.nextU32();
      m.write32(pa, v);
      for (let k = 0; k < 4; k++) model[off + k] = (v >>> (8 * k)) & 0xff;
    } else if (op === 1) {
      const v = rng.int(0x10000);
      m.write16(pa, v);
      model[off] = v & 0xff;
      model[off + 1] = v >>> 8;
    } else if (op === 2) {
      const n = 1 + rng.int(Math.min(PAGE_SIZE, size - off) - 1);
      m.zero(pa, n);
      model.fill(0, off, off + n);
    } else if (op === 3) {
      const lo = rng.nextU32();
      const hi = rng.nextU32();
      m.write64Parts(pa, lo, hi);
      for (let k = 0; k < 4; k++) model[off + k] = (lo >>> (8 * k)) & 0xff;
      for (let k = 0; k < 4; k++) model[off + 4 + k] = (hi >>> (8 * k)) & 0xff;
    } else {
      const want = model[off]! | (model[off + 1]! << 8) | (model[off + 2]! << 16) |
        (model[off + 3]! << 24);
      assertEquals(m.read32(pa), want >>> 0, `step ${step}: read32 at ${pa.toString(16)}`);
    }
    if (step % 500 === 0) {
      assertEquals([...m.readBytes(0x4000_0000, size)], [...model], `step ${step}: contents`);
      let nonZeroPages = 0;
      for (let p = 0; p < 4; p++) {
        if (model.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE).some((b) => b !== 0)) nonZeroPages++;
      }
      // Every page with a non-zero byte is backed (an all-zero page may be
      // too: backing follows the written extent, not the content).
      assertEquals(m.residentBytes / PAGE_SIZE >= nonZeroPages, true, `step ${step}: resident`);
      assertEquals(m.isBacked(0x4000_0000 + 2 * PAGE_SIZE), true, `step ${step}: pinned page`);
    }
  }
});

Deno.test("PhysicalMemory.zeroThenWrite() checks first and writes nothing on bad input", () => {
  const m = new PhysicalMemory([{ base: 0, size: 0x4000 }]);
  m.fill(0x1000, 0x3000, 0x5a);
  const before = m.digest();
  assertThrows(() => m.zeroThenWrite(0x3000, 0x2000, new Uint8Array(4)), ExternalAbortError);
  assertThrows(() => m.zeroThenWrite(0x1000, 8, new Uint8Array(16)), RangeError, "head is longer");
  assertEquals(m.digest(), before);
  m.zeroThenWrite(0x1ff8, 0x1010, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9));
  assertEquals([...m.readBytes(0x1ff6, 12)], [0x5a, 0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
  assertEquals(m.read8(0x3007), 0);
  assertEquals(m.read8(0x3008), 0x5a);
});

Deno.test("PhysicalMemory matches a flat model across two banks (page cache, pins, fused stores)", () => {
  // Alternating banks exercises the two-page cache across banks; one page
  // of the second bank is pinned and written through its view too.
  const banks = [{ base: 0x4000_0000, size: 4 * PAGE_SIZE }, {
    base: 0x1_0000_0000,
    size: 4 * PAGE_SIZE,
  }];
  const m = new PhysicalMemory(banks);
  const models = banks.map((b) => new Uint8Array(b.size));
  const rng = new Prng(3);
  const pinned = m.pin(0x1_0000_2000);
  for (let step = 0; step < 20_000; step++) {
    const bi = rng.int(2);
    const b = banks[bi]!;
    const model = models[bi]!;
    const off = rng.int(b.size - 8) & ~3;
    const pa = b.base + off;
    const op = rng.int(6);
    if (op === 5) {
      // Whole pages of this bank, zeroed or zeroed with a head.
      const first = rng.int(4);
      const n = (1 + rng.int(4 - first)) * PAGE_SIZE;
      const at = first * PAGE_SIZE;
      const head = Uint8Array.of(rng.int(256), rng.int(256), 0, 0);
      const withHead = rng.int(2) === 1;
      if (withHead) m.zeroThenWrite(b.base + at, n, head);
      else m.zero(b.base + at, n);
      model.fill(0, at, at + n);
      if (withHead) model.set(head, at);
    } else if (op === 0) {
      const v = rng.nextU32();
      m.write32(pa, v);
      for (let k = 0; k < 4; k++) model[off + k] = (v >>> (8 * k)) & 0xff;
    } else if (op === 1) {
      const n = 1 + rng.int(Math.min(2 * PAGE_SIZE, b.size - off) - 1);
      m.zero(pa, n);
      model.fill(0, off, off + n);
    } else if (op === 2) {
      const n = 1 + rng.int(Math.min(2 * PAGE_SIZE, b.size - off) - 1);
      const head = new Uint8Array(Math.min(n, 1 + rng.int(20)));
      for (let i = 0; i < head.length; i++) head[i] = rng.int(256);
      m.zeroThenWrite(pa, n, head);
      model.fill(0, off, off + n);
      model.set(head, off);
    } else if (op === 3 && bi === 1) {
      const i = rng.int(PAGE_SIZE);
      const v = rng.int(256);
      pinned[i] = v;
      model[2 * PAGE_SIZE + i] = v;
    } else {
      const want = model[off]! | (model[off + 1]! << 8) | (model[off + 2]! << 16) |
        (model[off + 3]! << 24);
      assertEquals(m.read32(pa), want >>> 0, `step ${step}: read32 at ${pa.toString(16)}`);
    }
    if (step % 1000 === 999) {
      for (let k = 0; k < 2; k++) {
        assertEquals(
          [...m.readBytes(banks[k]!.base, banks[k]!.size)],
          [...models[k]!],
          `step ${step}`,
        );
      }
    }
  }
});

Deno.test("PhysicalMemory recycles dropped pages through their slabs without mixing frames", () => {
  // More pages than the spare list keeps (1024), backed and dropped in
  // random order, so dropped pages go back to their 16-page slabs, slabs
  // empty out and are let go, and recycled pages back other frames; a range
  // pinned whole takes over pages that were backed one by one.
  const pages = 4096;
  const size = pages * PAGE_SIZE;
  const base = 0x4000_0000;
  const m = new PhysicalMemory([{ base, size }]);
  const model = new Uint8Array(size);
  const rng = new Prng(23);
  let pinnedView: Uint8Array | undefined;
  let pinnedAt = 0;
  const view = new DataView(model.buffer);
  for (let step = 0; step < 40_000; step++) {
    if (step % 10_000 === 0) {
      // Every frame backed, in a shuffled order so frames and slots do not line up.
      for (let k = 0; k < pages; k++) {
        const off = ((k * 1597) % pages) * PAGE_SIZE + rng.int(PAGE_SIZE / 4) * 4;
        const v = 1 + rng.int(2 ** 32 - 1);
        m.write32(base + off, v);
        view.setUint32(off, v, true);
      }
    } else if (step % 10_000 === 5_000) {
      // Most frames dropped: far more than the spare list keeps.
      const keep = rng.int(pages);
      m.zero(base, keep * PAGE_SIZE);
      model.fill(0, 0, keep * PAGE_SIZE);
      m.zero(base + (keep + 1) * PAGE_SIZE, (pages - keep - 1) * PAGE_SIZE);
      model.fill(0, (keep + 1) * PAGE_SIZE);
    }
    const op = rng.int(10);
    const pfn = rng.int(pages);
    if (op < 4) {
      const off = pfn * PAGE_SIZE + rng.int(PAGE_SIZE / 4) * 4;
      const v = rng.int(2 ** 32);
      m.write32(base + off, v);
      view.setUint32(off, v, true);
    } else if (op < 8) {
      // Zero a run of whole pages: what was backed there is dropped.
      const n = 1 + rng.int(Math.min(64, pages - pfn));
      m.zero(base + pfn * PAGE_SIZE, n * PAGE_SIZE);
      model.fill(0, pfn * PAGE_SIZE, (pfn + n) * PAGE_SIZE);
    } else if (op === 8 && pinnedView === undefined && step > 20_000) {
      pinnedAt = pfn - (pfn % 8);
      pinnedView = m.pinRange(base + pinnedAt * PAGE_SIZE, 8 * PAGE_SIZE);
      assertEquals(
        pinnedView,
        model.subarray(pinnedAt * PAGE_SIZE, (pinnedAt + 8) * PAGE_SIZE),
        `step ${step}`,
      );
    } else {
      const off = pfn * PAGE_SIZE + rng.int(PAGE_SIZE / 4) * 4;
      assertEquals(m.read32(base + off), view.getUint32(off, true), `step ${step}`);
    }
  }
  assertEquals(m.readBytes(base, size), model);
  if (pinnedView !== undefined) {
    assertEquals(pinnedView, model.subarray(pinnedAt * PAGE_SIZE, (pinnedAt + 8) * PAGE_SIZE));
  }
});
