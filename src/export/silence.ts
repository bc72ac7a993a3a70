export interface SilenceWatch {
  /** Stops watching: the awaited input or write came in time. */
  cancel(): void;
}

/** Later than this, a timer says this process was held up, not merely busy. */
const LATE_MS = 20;

/**
 * Calls `onSilence` when `ms` pass without `cancel()`, unless this process
 * itself was held up meanwhile (a long pause, a starved CPU): then what
 * looks like the client's silence may be the server's own stall.
 * - A timer that runs late (by more than LATE_MS, or half of `ms`) is
 *   armed once more, for a full `ms`: the rest of a message may still be
 *   waiting on the flow-control window the server could not open while it
 *   was held up. Once only, so a silent client is given up on after at
 *   most twice `ms`, plus however long the server itself was held up.
 * - Silence is declared only once the event loop has polled for I/O after
 *   the timer ran, since timers run before the input that reached the
 *   socket meanwhile is read, and that input must win.
 */
export function watchForSilence(ms: number, onSilence: () => void): SilenceWatch {
  let confirming: NodeJS.Immediate | undefined;
  let timer: NodeJS.Timeout;
  const arm = (rearmIfLate: boolean) => {
    const due = performance.now() + ms;
    timer = setTimeout(() => {
      if (rearmIfLate && performance.now() - due > Math.min(LATE_MS, ms / 2)) arm(false);
      else confirming = setImmediate(onSilence);
    }, ms);
  };
  arm(true);
  return {
    cancel() {
      clearTimeout(timer);
      clearImmediate(confirming);
    },
  };
}
