// Reading a server's CPU time and memory from /proc (Linux), by process id.
import { readFileSync, readdirSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Ids of the processes whose parent is `ppid` and whose command name is `name` (if given). */
export function childPids(ppid, name) {
  const found = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === ppid && (!name || comm === name)) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** CPU seconds (user + system) used so far by the processes. */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks / TICKS_PER_SECOND;
}

function statusKb(pid, key) {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${key}:`));
  return line ? Number(line.split(/\s+/)[1]) : 0;
}

/** Resident memory now, in KiB, summed over the processes. */
export function rssKb(pids) {
  return pids.reduce((sum, pid) => sum + statusKb(pid, "VmRSS"), 0);
}

/** Peak resident memory since each process started, in KiB, summed. */
export function peakRssKb(pids) {
  return pids.reduce((sum, pid) => sum + statusKb(pid, "VmHWM"), 0);
}
