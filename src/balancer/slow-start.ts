/**
 * Slow start (Envoy): an endpoint that comes back takes weight × max(min, t / window) of its
 * share, so a cold backend is not handed its full load the moment it is re-admitted.
 */
export function slowStartFactor(sinceMs: number | undefined, now: number, windowMs: number, minWeightPercent: number): number {
  if (sinceMs === undefined || windowMs <= 0) return 1;
  const elapsed = now - sinceMs;
  if (elapsed >= windowMs) return 1;
  return Math.max(minWeightPercent / 100, elapsed / windowMs);
}
