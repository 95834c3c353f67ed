import { useCallback, useEffect, useRef, useState } from "react";

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now, when `deps` change, on reload(), and every `everyMs` when given. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const current = useRef(load);
  current.current = load;
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    let live = true;
    const run = () =>
      current.current().then(
        (d) => {
          if (!live) return;
          setData(d);
          setError(null);
          setLoading(false);
        },
        (e: unknown) => {
          if (!live) return;
          setError(e instanceof Error ? e.message : String(e));
          setLoading(false);
        },
      );
    void run();
    const timer = everyMs ? window.setInterval(() => void run(), everyMs) : undefined;
    return () => {
      live = false;
      if (timer !== undefined) window.clearInterval(timer);
    };
  }, [...deps, tick, everyMs]);
  return { data, error, loading, reload };
}
