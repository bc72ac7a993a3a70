/** Wall and CPU time of this process over one job. */
export interface Clock {
  /** ms since the epoch, comparable across processes. */
  readonly startedAt: number;
  elapsedMs(): number;
  stop(): { readonly seconds: number; readonly cpuUs: number };
}

export function startClock(): Clock {
  const cpu = process.cpuUsage();
  const started = performance.now();
  return {
    startedAt: performance.timeOrigin + started,
    elapsedMs: () => performance.now() - started,
    stop() {
      const used = process.cpuUsage(cpu);
      return { seconds: (performance.now() - started) / 1000, cpuUs: used.user + used.system };
    },
  };
}
