/**
 * A small Chrome DevTools Protocol client for tests: launches the system's
 * headless Chromium (Debian's `chromium` package), talks to it over Deno's
 * own WebSocket, and opens pages, evaluates script, collects console errors
 * and exceptions, and takes screenshots. No npm browser download.
 *
 * @module
 */

/** Where Chromium is: `$HYPLAB_CHROMIUM`, else the first of these on PATH. */
const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/**
 * Finds a Chromium binary that runs.
 *
 * @returns Its command, or undefined when none runs.
 */
export function findChromium(): string | undefined {
  const env = Deno.env.get("HYPLAB_CHROMIUM");
  for (const cmd of env ? [env] : CANDIDATES) {
    try {
      const out = new Deno.Command(cmd, {
        args: ["--version"],
        stdout: "piped",
        stderr: "null",
      }).outputSync();
      if (out.success) return cmd;
    } catch {
      // not installed: try the next
    }
  }
  return undefined;
}

/** A console message or exception seen on a page. */
export interface PageProblem {
  /** `console.error`, `exception`, `log` (a browser log entry at error level). */
  kind: string;
  /** Its text. */
  text: string;
}

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
}

type Listener = (params: Record<string, unknown>, sessionId?: string) => void;

/** The browser process and its DevTools connection. */
export class Browser {
  readonly #proc: Deno.ChildProcess;
  readonly #ws: WebSocket;
  readonly #dir: string;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Listener[]>();
  readonly #closed: Promise<void>;
  readonly #drain: Promise<void>;
  #id = 0;

  private constructor(proc: Deno.ChildProcess, ws: WebSocket, dir: string, drain: Promise<void>) {
    this.#proc = proc;
    this.#ws = ws;
    this.#dir = dir;
    this.#drain = drain;
    this.#closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
        method?: string;
        params?: Record<string, unknown>;
        sessionId?: string;
      };
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
        else p?.resolve(msg.result ?? {});
        return;
      }
      for (const l of this.#listeners.get(msg.method ?? "") ?? []) {
        l(
          msg.params ?? {},
          msg.sessionId,
        );
      }
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error("CDP: the connection closed"));
      this.#pending.clear();
    });
  }

  /**
   * Launches headless Chromium with a fresh profile and connects to it.
   *
   * @param command The Chromium command ({@link findChromium}).
   * @returns The browser.
   */
  static async launch(command: string): Promise<Browser> {
    const dir = await Deno.makeTempDir({ prefix: "hyplab-chromium-" });
    const proc = new Deno.Command(command, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        `--user-data-dir=${dir}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // The DevTools URL is on stderr: "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let url: string | undefined;
    const deadline = Date.now() + 30_000;
    while (url === undefined && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
      url = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1];
    }
    // Keep draining stderr so the browser never blocks on a full pipe.
    const drain = (async () => {
      try {
        while (!(await reader.read()).done) { /* drain */ }
      } catch { /* closed */ }
    })();
    if (url === undefined) {
      proc.kill("SIGKILL");
      await proc.status;
      await drain;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`Chromium did not print its DevTools URL: ${seen.slice(-400)}`);
    }
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error(`CDP: cannot connect to ${url}`)), {
        once: true,
      });
    });
    return new Browser(proc, ws, dir, drain);
  }

  /**
   * Sends one command and waits for its result.
   *
   * @param method CDP method (`Page.navigate`).
   * @param params Its parameters.
   * @param sessionId The page session, for page domains.
   * @returns The result.
   */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  /**
   * Listens to an event.
   *
   * @param method Event (`Runtime.exceptionThrown`).
   * @param fn Listener.
   */
  on(method: string, fn: Listener): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), fn]);
  }

  /**
   * Opens a page (a new target) of a given size.
   *
   * @param width CSS pixels.
   * @param height CSS pixels.
   * @returns The page.
   */
  async newPage(width = 1280, height = 900): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, String(sessionId));
    await page.init(width, height);
    return page;
  }

  /** Closes the browser, waits for it to exit and removes its profile. */
  async close(): Promise<void> {
    try {
      await Promise.race([this.send("Browser.close"), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      // already gone
    }
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
    await Promise.race([this.#closed, new Promise((r) => setTimeout(r, 3000))]);
    const timer = setTimeout(() => {
      try {
        this.#proc.kill("SIGKILL");
      } catch { /* exited */ }
    }, 5000);
    await this.#proc.status;
    clearTimeout(timer);
    await this.#drain;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** One page (tab) of the browser. */
export class Page {
  readonly #b: Browser;
  /** The CDP session. */
  readonly session: string;
  /** Console errors, exceptions and error-level log entries since the page opened. */
  readonly problems: PageProblem[] = [];
  #loaded: (() => void) | undefined;

  /**
   * @param browser The browser.
   * @param session Its session id.
   */
  constructor(browser: Browser, session: string) {
    this.#b = browser;
    this.session = session;
    browser.on("Runtime.consoleAPICalled", (p, s) => {
      if (s !== session) return;
      const type = String(p.type);
      if (type === "error" || type === "assert" || type === "warning") {
        const args = (p.args as { value?: unknown; description?: string }[] | undefined) ?? [];
        this.problems.push({
          kind: `console.${type}`,
          text: args.map((a) => String(a.value ?? a.description ?? "")).join(" "),
        });
      }
    });
    browser.on("Runtime.exceptionThrown", (p, s) => {
      if (s !== session) return;
      const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
      this.problems.push({ kind: "exception", text: d.exception?.description ?? d.text ?? "" });
    });
    browser.on("Log.entryAdded", (p, s) => {
      if (s !== session) return;
      const e = p.entry as { level?: string; text?: string; url?: string };
      if (e.level === "error" || e.level === "warning") {
        this.problems.push({
          kind: `log.${e.level}`,
          text: `${e.text ?? ""} ${e.url ?? ""}`.trim(),
        });
      }
    });
    browser.on("Page.loadEventFired", (_p, s) => {
      if (s === session) this.#loaded?.();
    });
  }

  /** Enables the domains and sets the viewport. */
  async init(width: number, height: number): Promise<void> {
    const s = this.session;
    await this.#b.send("Page.enable", {}, s);
    await this.#b.send("Runtime.enable", {}, s);
    await this.#b.send("Log.enable", {}, s);
    await this.#b.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    }, s);
  }

  /**
   * Navigates and waits for the load event.
   *
   * @param url A `file://` URL.
   */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => (this.#loaded = resolve));
    const r = await this.#b.send("Page.navigate", { url }, this.session);
    if (r.errorText) throw new Error(`Cannot open ${url}: ${r.errorText}`);
    await Promise.race([
      loaded,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`${url}: no load event in 30 s`)), 30_000)
      ),
    ]);
  }

  /**
   * Evaluates an expression in the page and returns its value (JSON).
   *
   * @param expression JavaScript.
   * @returns Its value.
   */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.#b.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    }, this.session);
    const ex = r.exceptionDetails as
      | { text?: string; exception?: { description?: string } }
      | undefined;
    if (ex) throw new Error(`evaluate: ${ex.exception?.description ?? ex.text}`);
    return (r.result as { value: T }).value;
  }

  /**
   * Lays the page out for `print` (or back for `screen`) media.
   *
   * @param media `print` or `screen`.
   */
  async media(media: "print" | "screen"): Promise<void> {
    await this.#b.send("Emulation.setEmulatedMedia", { media }, this.session);
  }

  /**
   * A PNG of the page: the whole page, or `maxHeight` pixels from `top`.
   *
   * @param maxHeight Crop height (CSS pixels).
   * @param top First row (CSS pixels).
   * @returns PNG bytes.
   */
  async screenshot(maxHeight?: number, top = 0): Promise<Uint8Array> {
    const size = await this.eval<{ w: number; h: number }>(
      "({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight })",
    );
    const height = maxHeight === undefined ? size.h - top : Math.min(size.h - top, maxHeight);
    const r = await this.#b.send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
      clip: { x: 0, y: top, width: size.w, height, scale: 1 },
    }, this.session);
    return decode64(String(r.data));
  }
}

function decode64(data: string): Uint8Array {
  const bin = atob(data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
