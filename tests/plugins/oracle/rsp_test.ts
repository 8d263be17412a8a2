import { assertEquals, assertRejects } from "@std/assert";
import { OracleError, RspClient } from "../../../plugins/oracle/mod.ts";
import { leHex, withFakeStub } from "./_fake_stub.ts";

// QEMU's layout: an unnumbered core feature, then explicitly numbered system registers.
const TARGET_XML =
  '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>aarch64</architecture>' +
  '<xi:include href="core.xml"/><xi:include href="sys.xml"/></target>';
const CORE_XML = '<feature name="org.gnu.gdb.aarch64.core">' +
  Array.from({ length: 31 }, (_, i) => `<reg name="x${i}" bitsize="64"/>`).join("") +
  '<reg name="sp" bitsize="64"/><reg name="pc" bitsize="64"/><reg name="cpsr" bitsize="32"/></feature>';
// A '#' and a '*' in a comment: the stub must escape them on the wire.
const SYS_XML = '<!-- a#b*c --><feature name="org.qemu.gdb.arm.sys.regs">' +
  '<reg name="TCR_EL2" bitsize="64" regnum="140" group="cp_regs"/>' +
  '<reg name="TTBR0_EL2" bitsize="64" regnum="141" group="cp_regs"/></feature>';
const DOCS: Record<string, string> = {
  "target.xml": TARGET_XML,
  "core.xml": CORE_XML,
  "sys.xml": SYS_XML,
};

/** Escapes a binary reply the way a stub must ($ # } * → } and XOR 0x20). */
function escape(s: string): string {
  return s.replace(/[$#}*]/g, (c) => "}" + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
}

/** qXfer:features:read with chunking by the requested length. */
function qxfer(payload: string): string | null {
  const m = /^qXfer:features:read:([^:]+):([0-9a-f]+),([0-9a-f]+)$/.exec(payload);
  if (!m) return null;
  const doc = DOCS[m[1]!];
  if (doc === undefined) return "E00";
  const off = parseInt(m[2]!, 16);
  const len = parseInt(m[3]!, 16);
  const part = doc.slice(off, off + len);
  return (off + len >= doc.length ? "l" : "m") + escape(part);
}

const MEMORY = new Map<number, number>(); // sparse bytes, zero elsewhere
for (let i = 0; i < 8; i++) MEMORY.set(0x1000 + i, [0x03, 0x70, 0x00, 0x3e, 0x01, 0, 0, 0][i]!);

/** Hex of memory, run-length encoded where a byte value repeats. */
function memoryReply(addr: number, len: number): string {
  let hex = "";
  for (let i = 0; i < len; i++) hex += (MEMORY.get(addr + i) ?? 0).toString(16).padStart(2, "0");
  // RLE: a run of n+1 equal characters becomes "c*" + chr(n + 29), n in 3..97, never '#'/'$'.
  return hex.replace(/(.)\1{3,}/g, (run, c: string) => {
    let out = "";
    let left = run.length;
    while (left > 0) {
      let n = Math.min(left - 1, 97);
      if (n === 6 || n === 7) n = 5; // 35 '#' and 36 '$' are not allowed as counts
      if (n < 3) {
        out += c.repeat(left);
        break;
      }
      out += c + "*" + String.fromCharCode(n + 29);
      left -= n + 1;
    }
    return out;
  });
}

function standard(payload: string): string | null {
  const x = qxfer(payload);
  if (x !== null) return x;
  let m = /^m([0-9a-f]+),([0-9a-f]+)$/.exec(payload);
  if (m) {
    const addr = parseInt(m[1]!, 16);
    if (addr >= 0xdead0000) return "E14";
    return memoryReply(addr, parseInt(m[2]!, 16));
  }
  m = /^p([0-9a-f]+)$/.exec(payload);
  if (m) {
    const n = parseInt(m[1]!, 16);
    if (n === 0x8d) return leHex(0x13e006000n, 8);
    if (n === 0x8c) return leHex(0x80843510n, 8);
    if (n === 33) return leHex(0x600003c5n, 4);
    return "E00";
  }
  if (payload === "qfThreadInfo") return "m1,2";
  if (payload === "qsThreadInfo") return "l";
  if (/^Hg\d+$/.test(payload)) return "OK";
  if (/^Qqemu\.PhyMemMode:[01]$/.test(payload)) return "OK";
  if (payload === "?") return "T05thread:01;";
  if (payload === "D") return "OK";
  if (payload === "\x03") return "T02thread:01;";
  return "";
}

Deno.test("rsp: qSupported, the target description with includes and escapes, p reads", async () => {
  const log = await withFakeStub({
    handle: standard,
    features: "PacketSize=40;qXfer:features:read+",
  }, async (port) => {
    const c = await RspClient.connect({ port, timeoutMs: 2000 });
    assertEquals([c.packetSize, c.maxReadBytes, c.noAckMode], [0x40, 0x20, false]);
    const regs = await c.registers();
    assertEquals(regs.length, 36);
    assertEquals(await c.readFeatureAnnex("sys.xml"), SYS_XML);
    assertEquals(regs.find((r) => r.name === "cpsr")!.regnum, 33);
    assertEquals((await c.register("ttbr0_el2")).regnum, 141);
    assertEquals(await c.readRegister("TTBR0_EL2"), 0x13e006000n);
    assertEquals(await c.readRegister("Tcr_El2"), 0x80843510n);
    assertEquals(await c.readRegister("cpsr"), 0x600003c5n);
    assertEquals(await c.stopReason(), "T05thread:01;");
    await assertRejects(() => c.register("VTTBR_EL2"), OracleError, "has no register VTTBR_EL2");
    await assertRejects(() => c.readRegister(7), OracleError, "cannot read register 7: E00");
    await c.detach();
    await c.close();
  });
  // The XML came in chunks no larger than the packet size allows.
  const xfers = log.packets.filter((p) => p.startsWith("qXfer"));
  assertEquals(xfers.every((p) => p.endsWith(",3b")), true);
  assertEquals(xfers.length > 3, true);
  // Every reply was acknowledged.
  assertEquals(log.acks.every((a) => a === "+"), true);
});

Deno.test("rsp: m reads are chunked to the packet size and decode run-length encoding", async () => {
  const log = await withFakeStub({
    handle: standard,
    features: "PacketSize=20;qXfer:features:read+",
  }, async (port) => {
    const c = await RspClient.connect({ port, timeoutMs: 2000 });
    const bytes = await c.readMemory(0x1000n, 40);
    assertEquals([...bytes.subarray(0, 8)], [0x03, 0x70, 0x00, 0x3e, 0x01, 0, 0, 0]);
    assertEquals(bytes.subarray(8).every((b) => b === 0), true);
    assertEquals(bytes.length, 40);
    await assertRejects(
      () => c.readMemory(0xdead0000n, 8),
      OracleError,
      "cannot read 8 bytes at 0xdead0000: E14",
    );
    await c.close();
  });
  assertEquals(log.packets.filter((p) => p.startsWith("m")), [
    "m1000,10",
    "m1010,10",
    "m1020,8",
    "mdead0000,8",
  ]);
});

Deno.test("rsp: a whole 4 KiB page is one m request when the packet size allows", async () => {
  const log = await withFakeStub({
    handle: standard,
    features: "PacketSize=2000;qXfer:features:read+",
  }, async (port) => {
    const c = await RspClient.connect({ port });
    assertEquals((await c.readMemory(0x4000_0000n, 4096)).length, 4096);
    await c.close();
  });
  assertEquals(log.packets.filter((p) => p.startsWith("m")), ["m40000000,1000"]);
});

Deno.test("rsp: threads, Hg selection, QEMU's physical memory mode, interrupt", async () => {
  let seenS = 0;
  const log = await withFakeStub({
    handle: (p) => p === "qsThreadInfo" && !seenS++ ? "m3" : standard(p),
  }, async (port) => {
    const c = await RspClient.connect({ port });
    assertEquals(await c.threads(), ["1", "2", "3"]);
    await c.selectThread("2");
    await c.setPhysicalMemoryMode(true);
    await c.setPhysicalMemoryMode(false);
    assertEquals(await c.interrupt(), "T02thread:01;");
    await c.close();
  });
  assertEquals(log.packets.includes("Hg2"), true);
  assertEquals(log.packets.filter((p) => p.startsWith("Qqemu")), [
    "Qqemu.PhyMemMode:1",
    "Qqemu.PhyMemMode:0",
  ]);
  assertEquals(log.interrupted, true);
});

Deno.test("rsp: QStartNoAckMode when offered: no acks afterwards", async () => {
  const log = await withFakeStub({
    handle: standard,
    features: "PacketSize=1000;QStartNoAckMode+;qXfer:features:read+",
  }, async (port) => {
    const c = await RspClient.connect({ port });
    assertEquals(c.noAckMode, true);
    assertEquals(await c.readRegister("TTBR0_EL2"), 0x13e006000n);
    await c.close();
  });
  // Acks only for the two replies before the mode switched.
  assertEquals(log.acks, ["+", "+"]);
});

Deno.test("rsp: a reply with a bad checksum is NAKed and the retransmission accepted", async () => {
  const log = await withFakeStub({
    handle: standard,
    corrupt: (p, n) => p === "m1000,8" && n === 1,
  }, async (port) => {
    const c = await RspClient.connect({ port });
    assertEquals((await c.readMemory(0x1000n, 8))[0], 0x03);
    await c.close();
  });
  assertEquals(log.acks.includes("-"), true);
});

Deno.test("rsp: a stub that keeps sending bad checksums is one clear error", async () => {
  await withFakeStub({ handle: standard, corrupt: (p) => p === "m1000,8" }, async (port) => {
    const c = await RspClient.connect({ port });
    await assertRejects(
      () => c.readMemory(0x1000n, 8),
      OracleError,
      `reply to "m1000,8" has a bad checksum`,
    );
    await c.close();
  });
});

Deno.test("rsp: a packet the stub NAKs is sent again", async () => {
  const log = await withFakeStub(
    { handle: standard, nak: (p, n) => p === "p8d" && n === 1 },
    async (port) => {
      const c = await RspClient.connect({ port });
      await c.registers();
      assertEquals(await c.readRegister("TTBR0_EL2"), 0x13e006000n);
      await c.close();
    },
  );
  assertEquals(log.packets.filter((p) => p === "p8d").length, 2);
});

Deno.test("rsp: a stub that stops answering is one clear error, and the client stays failed", async () => {
  await withFakeStub({ handle: (p) => (p.startsWith("m") ? null : standard(p)) }, async (port) => {
    const c = await RspClient.connect({ port, timeoutMs: 300 });
    const t0 = Date.now();
    await assertRejects(
      () => c.readMemory(0x1000n, 8),
      OracleError,
      `gdb stub at 127.0.0.1:${port} stopped answering: no reply to "m1000,8" within 0.3 s`,
    );
    assertEquals(Date.now() - t0 < 2000, true);
    await assertRejects(() => c.stopReason(), OracleError, "stopped answering");
    await c.close();
  });
});

Deno.test("rsp: a stub that hangs up, and a port nobody listens on", async () => {
  await withFakeStub({ handle: standard, hangUpOn: (p) => p === "?" }, async (port) => {
    const c = await RspClient.connect({ port, timeoutMs: 2000 });
    await assertRejects(() => c.stopReason(), OracleError, 'no reply to "?"');
    await c.close();
  });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assertRejects(
    () => RspClient.connect({ port }),
    OracleError,
    "cannot connect to the gdb stub",
  );
});
