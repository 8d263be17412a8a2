/**
 * Writing a page: checked before the work starts, written whole or not at
 * all (a temporary file in the same directory, renamed over the target).
 *
 * @module
 */

import { HyplabError } from "../../core/mod.ts";

/**
 * A page cannot be written where asked: the directory is missing or not
 * writable, the path is a directory, or Deno was not given `--allow-read`
 * and `--allow-write` for the directory (a temporary file there is renamed
 * over the page, and Deno's rename needs both).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { HtmlPathError } from "./write.ts";
 * const e = new HtmlPathError("/nope/page.html", "no such directory /nope");
 * assertEquals(e.message, "/nope/page.html: cannot write: no such directory /nope");
 * ```
 */
export class HtmlPathError extends HyplabError {
  /** The path asked for. */
  readonly path: string;
  /** Whether the cause is a missing `--allow-read` or `--allow-write`. */
  readonly permission: boolean;
  /**
   * Creates the error.
   * @param path The path.
   * @param reason Why (one line).
   * @param permission The cause is a missing `--allow-read` or `--allow-write`.
   */
  constructor(path: string, reason: string, permission = false) {
    super(`${path}: cannot write: ${reason}`);
    this.name = "HtmlPathError";
    this.path = path;
    this.permission = permission;
  }
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

const NEEDS = "writing the page needs --allow-read and --allow-write for its directory";

function why(path: string, e: unknown): HtmlPathError {
  const err = e as Error;
  if (
    err?.name === "NotCapable" ||
    (err?.name === "PermissionDenied" &&
      /--allow-(read|write)|(read|write) access/.test(err.message))
  ) {
    return new HtmlPathError(path, NEEDS, true);
  }
  if (err?.name === "PermissionDenied") return new HtmlPathError(path, "permission denied");
  if (err?.name === "IsADirectory") return new HtmlPathError(path, "it is a directory");
  if (err?.name === "NotFound") return new HtmlPathError(path, `no such directory ${dirOf(path)}`);
  return new HtmlPathError(path, (err?.message ?? String(e)).split("\n")[0]!);
}

/**
 * Checks that a page can be written at `path`, changing nothing: Deno may
 * read and write its directory, the path is not a directory, an existing
 * file opens for writing, and the directory takes a new file (a temporary
 * one, created and removed).
 *
 * @param path Where the page goes.
 * @throws {HtmlPathError} Naming the path and the reason.
 * @example
 * ```ts ignore
 * import { checkHtmlPath } from "./write.ts";
 * await checkHtmlPath("boot.html");
 * ```
 */
export async function checkHtmlPath(path: string): Promise<void> {
  if (path === "" || path.endsWith("/")) throw new HtmlPathError(path, "not a file name");
  // Asked up front, so that on a terminal Deno prompts now, before the work.
  for (const name of ["read", "write"] as const) {
    const s = await Deno.permissions.request({ name, path: dirOf(path) });
    if (s.state !== "granted") throw new HtmlPathError(path, NEEDS, true);
  }
  try {
    // An existing page must open for writing (a directory does not);
    // a missing one is fine.
    (await Deno.open(path, { write: true })).close();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw why(path, e);
  }
  try {
    const tmp = await Deno.makeTempFile({
      dir: dirOf(path),
      prefix: `.${baseOf(path)}.`,
      suffix: ".tmp",
    });
    await Deno.remove(tmp);
  } catch (e) {
    throw why(path, e);
  }
}

/**
 * Writes a page whole: into a temporary file beside `path`, then renamed
 * over it, so a failure leaves no partial file (and any old page as it was).
 *
 * @param path Where the page goes.
 * @param html The page.
 * @returns Bytes written.
 * @throws {HtmlPathError} When it cannot be written (the temporary file removed).
 * @example
 * ```ts ignore
 * import { writeHtmlFile } from "./write.ts";
 * await writeHtmlFile("boot.html", "<!DOCTYPE html>...");
 * ```
 */
export async function writeHtmlFile(path: string, html: string): Promise<number> {
  const bytes = new TextEncoder().encode(html);
  let tmp: string | undefined;
  try {
    tmp = await Deno.makeTempFile({
      dir: dirOf(path),
      prefix: `.${baseOf(path)}.`,
      suffix: ".tmp",
    });
    await Deno.writeFile(tmp, bytes);
    // Readable like any other file the user writes (makeTempFile gives 0600).
    await Deno.chmod(tmp, 0o644).catch(() => {});
    await Deno.rename(tmp, path);
    tmp = undefined;
    return bytes.length;
  } catch (e) {
    throw why(path, e);
  } finally {
    if (tmp !== undefined) await Deno.remove(tmp).catch(() => {});
  }
}
