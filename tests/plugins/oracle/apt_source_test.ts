import { assertEquals, assertThrows } from "@std/assert";
import {
  chooseDebianArchive,
  OracleError,
  parseDeb822Sources,
  parseMadison,
  parseOneLineSources,
  parseStanza,
  systemAptSources,
} from "../../../plugins/oracle/mod.ts";

// This machine's /etc/apt/sources.list.d/debian.sources, as Debian's installer writes it.
const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

Deno.test("apt sources: deb822 stanzas, comments, continuation lines, Enabled", () => {
  const e = parseDeb822Sources(DEBIAN_SOURCES, "debian.sources");
  assertEquals(e.length, 2);
  assertEquals(e[0], {
    types: ["deb"],
    uris: ["http://deb.debian.org/debian"],
    suites: ["bookworm", "bookworm-updates"],
    components: ["main"],
    enabled: true,
    file: "debian.sources",
    line: 1,
    signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg",
  });
  assertEquals(e[1]!.line, 8);
  const inline = parseDeb822Sources(
    "Types: deb\nURIs: https://example.org/debian\nSuites: trixie\nComponents: main\nEnabled: no\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n xyz\n",
    "x.sources",
  );
  assertEquals(inline[0]!.enabled, false);
  assertEquals(inline[0]!.signedBy!.split("\n")[0], "-----BEGIN PGP PUBLIC KEY BLOCK-----");
  assertThrows(
    () => parseDeb822Sources("Types deb\n", "bad.sources"),
    OracleError,
    "bad.sources:1:",
  );
  assertThrows(
    () => parseDeb822Sources(" x\n", "bad.sources"),
    OracleError,
    "bad.sources:1: continuation",
  );
});

Deno.test("apt sources: one-line entries with options and comments", () => {
  const e = parseOneLineSources(
    [
      "# the main archive",
      "deb http://ftp.de.debian.org/debian/ bookworm main contrib non-free-firmware",
      "deb-src http://ftp.de.debian.org/debian/ bookworm main",
      "deb [ arch=amd64 signed-by=/etc/apt/keyrings/docker.asc ] https://download.docker.com/linux/debian bookworm stable # docker",
      "",
    ].join("\n"),
    "sources.list",
  );
  assertEquals(
    e.map((x) => [x.types[0], x.uris[0], x.suites[0], x.components, x.signedBy, x.line]),
    [
      [
        "deb",
        "http://ftp.de.debian.org/debian/",
        "bookworm",
        ["main", "contrib", "non-free-firmware"],
        undefined,
        2,
      ],
      ["deb-src", "http://ftp.de.debian.org/debian/", "bookworm", ["main"], undefined, 3],
      [
        "deb",
        "https://download.docker.com/linux/debian",
        "bookworm",
        ["stable"],
        "/etc/apt/keyrings/docker.asc",
        4,
      ],
    ],
  );
  assertThrows(() => parseOneLineSources("deb\n", "s.list"), OracleError, "s.list:1:");
});

Deno.test("apt sources: choosing the Debian archive among mirrors, security and third parties", () => {
  const third = parseOneLineSources(
    [
      "deb [signed-by=/usr/share/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main",
      "deb [signed-by=/etc/apt/keyrings/sury.gpg] https://packages.sury.org/php/ bookworm main",
      "deb https://download.docker.com/linux/debian bookworm stable",
    ].join("\n"),
    "third.list",
  );
  const debian = parseDeb822Sources(DEBIAN_SOURCES, "debian.sources");
  // Security first in file order: still the archive wins.
  assertEquals(
    chooseDebianArchive([...third, ...debian.slice().reverse()]),
    "http://deb.debian.org/debian",
  );
  // A mirror whose path is not /debian is taken when it is the only candidate.
  const odd = parseOneLineSources("deb http://mirror.example.net/pub/ trixie main\n", "a.list");
  assertEquals(chooseDebianArchive(odd), "http://mirror.example.net/pub");
  // ... but a /debian path wins over it.
  assertEquals(chooseDebianArchive([...odd, ...debian]), "http://deb.debian.org/debian");
  assertThrows(
    () => chooseDebianArchive([...third, debian[1]!]),
    OracleError,
    "no Debian archive entry in the apt sources",
  );
  const disabled = parseDeb822Sources(
    DEBIAN_SOURCES.replace("Components: main\n", "Components: main\nEnabled: no\n"),
    "d",
  );
  assertThrows(() => chooseDebianArchive(disabled), OracleError, "HYPLAB_DEBIAN_MIRROR");
});

Deno.test("apt sources: reading a directory tree like /etc/apt", async () => {
  // sources.list, then sources.list.d/*.list and *.sources by name; other files are ignored.
  const dir = new URL("../../fixtures/oracle/etc_apt", import.meta.url).pathname;
  const e = await systemAptSources(dir);
  assertEquals(e.map((x) => [x.uris[0], x.file.replace(dir, "")]), [
    ["http://a.example/debian", "/sources.list"],
    ["http://deb.debian.org/debian", "/sources.list.d/debian.sources"],
    ["http://deb.debian.org/debian-security", "/sources.list.d/debian.sources"],
  ]);
  assertEquals(chooseDebianArchive(e), "http://a.example/debian");
  assertEquals(await systemAptSources(`${dir}/none`), []);
});

Deno.test("apt-cache output: madison rows and a package stanza", () => {
  assertEquals(
    parseMadison(
      [
        "linux-image-arm64 |   7.2.13-1 | http://deb.debian.org/debian sid/main arm64 Packages",
        "linux-image-arm64 | 6.12.117-1 | http://deb.debian.org/debian trixie/main arm64 Packages",
        "linux-image-arm64 |  6.1.176-1 | http://deb.debian.org/debian bookworm/main arm64 Packages",
      ].join("\n"),
    ),
    [
      { version: "7.2.13-1", suite: "sid" },
      { version: "6.12.117-1", suite: "trixie" },
      { version: "6.1.176-1", suite: "bookworm" },
    ],
  );
  const f = parseStanza(
    "Package: linux-image-arm64\nVersion: 7.2.13-1\nDepends: linux-base-arm64 (= 7.2.13-1), linux-image-7.2.13+deb14-arm64 (= 7.2.13-1)\nDescription: x\n more\n\nPackage: other\n",
  );
  assertEquals(
    f.get("Depends"),
    "linux-base-arm64 (= 7.2.13-1), linux-image-7.2.13+deb14-arm64 (= 7.2.13-1)",
  );
  assertEquals(f.get("Description"), "x\nmore");
  assertEquals(f.get("Package"), "linux-image-arm64");
});
