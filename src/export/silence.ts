export interface SilenceWatch {
  /** Stops watching: the awaited input or write came in time. */
  cancel(): void;
}

/**
 * Calls `onSilence` when `ms` pass without `cancel()`, but only once the
 * event loop has polled for I/O after the timer ran out. When this process
 * itself was held up (a long pause, a starved CPU), timers run before the
 * input that arrived meanwhile is read; that input must win, or an overloaded
 * server would blame its own stall on clients that kept sending or reading.
 */
export function watchForSilence(ms: number, onSilence: () => void): SilenceWatch {
  let confirming: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    confirming = setImmediate(onSilence);
  }, ms);
  return {
    cancel() {
      clearTimeout(timer);
      clearImmediate(confirming);
    },
  };
}
