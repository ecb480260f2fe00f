// What the browser tests share: Debian's Chromium as they launch it, and
// the pids of the stack's processes they kill.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
}

// The pids of the processes named role whose command line holds mark (a
// test's directory).
export function pidsOf(role, mark) {
  let out = "";
  try { out = execFileSync("pgrep", ["-x", role]).toString(); } catch { return []; }
  return out.trim().split("\n").filter(Boolean).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/cmdline`).toString().includes(mark); } catch { return false; }
  });
}
