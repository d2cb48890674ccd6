// One SVG chart per scenario: traffic per backend over time, one panel per stack, the fault shaded.
import type { BenchResults, ScenarioRun } from './results.js';
import type { ScenarioName } from './scenarios.js';
import { STACKS } from './summary.js';

/** Traffic per backend over time, one panel per stack, the fault shaded. */
export function chart(results: BenchResults, scenario: ScenarioName): string {
  const width = 760;
  const panel = 170;
  const left = 50;
  const plotWidth = width - left - 20;
  const runs = STACKS.map((stack) => results.runs.find((r) => r.scenario === scenario && r.stack === stack && r.round === 1)).filter(
    (r): r is ScenarioRun => r !== undefined,
  );
  const peak = Math.max(1, ...runs.flatMap((r) => Object.values(r.timeline).flat()));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${40 + runs.length * (panel + 40)}" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${scenario}: calls completed per 100 ms (round 1)</text>`);
  runs.forEach((run, index) => {
    const top = 40 + index * (panel + 40);
    const buckets = run.timeline.ServiceA.length;
    const x = (bucket: number) => left + (bucket / Math.max(1, buckets - 1)) * plotWidth;
    const y = (value: number) => top + panel - (value / peak) * panel;
    const at = (ms: number) => left + ((ms - run.times.start) / (run.times.end - run.times.start)) * plotWidth;
    parts.push(`<text x="${left}" y="${top - 6}" font-weight="bold">${run.stack}</text>`);
    parts.push(
      `<rect x="${at(run.times.fault).toFixed(1)}" y="${top}" width="${(at(run.times.heal) - at(run.times.fault)).toFixed(1)}" height="${panel}" fill="#f5d0d0"/>`,
    );
    parts.push(`<text x="${(at(run.times.fault) + 4).toFixed(1)}" y="${top + 14}" fill="#a33">fault</text>`);
    parts.push(`<line x1="${left}" y1="${top + panel}" x2="${left + plotWidth}" y2="${top + panel}" stroke="#333"/>`);
    parts.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + panel}" stroke="#333"/>`);
    parts.push(
      `<text x="${left - 6}" y="${top + 10}" text-anchor="end">${peak}</text><text x="${left - 6}" y="${top + panel}" text-anchor="end">0</text>`,
    );
    for (let s = 0; s * 1000 <= run.times.end - run.times.start; s += 1) {
      parts.push(
        `<text x="${at(run.times.start + s * 1000).toFixed(1)}" y="${top + panel + 14}" text-anchor="middle" fill="#555">${s}s</text>`,
      );
    }
    const series: Array<[string, string]> = [
      ['ServiceA', '#1f77b4'],
      ['ServiceB', '#ff7f0e'],
      // The standby tier's backend, in the scenarios that have one.
      ...(run.timeline['ServiceC'] ? [['ServiceC', '#2ca02c'] as [string, string]] : []),
      ['failed', '#d62728'],
    ];
    for (const [name, colour] of series) {
      const points = (run.timeline[name] ?? []).map((value, bucket) => `${x(bucket).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    }
    const legend = left + plotWidth + 10 - series.length * 80;
    series.forEach(([name, colour], i) => {
      parts.push(`<rect x="${legend + i * 80}" y="${top + 4}" width="10" height="10" fill="${colour}"/>`);
      parts.push(`<text x="${legend + 14 + i * 80}" y="${top + 13}">${name}</text>`);
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
